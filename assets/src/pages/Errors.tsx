// Errors: exceptions grouped by service and fingerprint (docs/API.md,
// "Errors"). The list filters by service, release, environment, status and
// time range (all in the URL), sorts by last seen or count, and resolves,
// ignores or reopens a group in place. A group's page (/errors/ID) charts
// its occurrences over the range, lists its releases and shows the newest
// occurrence: its message, its stack trace and the way to its trace and
// logs.
import { useEffect, useMemo, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { getJson, useResource, type Service } from '../lib/api';
import {
  ACTION_LABEL,
  actionsFor,
  changeStatus,
  ERRORS_LOOKBACK,
  errorFilters,
  errorsUrl,
  getErrorGroup,
  groupUrl,
  listErrors,
  rangeOr,
  rangeUrl,
  STATUSES,
  statusTone,
  type ErrorAction,
  type ErrorFilters,
  type ErrorGroup,
  type ErrorGroupDetail,
  type ErrorSort,
  type ErrorStatus,
} from '../lib/errors';
import { formatAge, formatCount, formatLocal, parseTime, plural, utcTitle } from '../lib/format';
import { fieldClause, queryValue } from '../lib/logquery';
import { rangeParams, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { backLink, href, navigate } from '../lib/router';
import { searchAnchor, useAutoRefresh, usePagedSearch } from '../lib/search';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, Time } from '../components/common';
import { RangeControls } from '../components/RangeControls';
import { RefreshControls } from '../components/Refresh';
import { CountSparkline } from '../components/Sparkline';
import { TimeRangePicker } from '../components/TimeRangePicker';
import { ZoomOutButton } from '../components/ZoomOut';

const PAGE_SIZE = 50;

export function ErrorsPage({ id, query }: { id?: string; query: URLSearchParams }) {
  if (id) return <GroupPage key={id} id={id} query={query} />;
  return <ErrorList query={query} />;
}

// ---------------------------------------------------------------------------
// Status changes, shared by the list and a group's page

/** Status changes made in this tab, by group: a list fetched before the
 * change shows it (Back to a cached list, say) without asking again. */
const changes = new Map<string, { group: ErrorGroup; at: number }>();

function withChange(group: ErrorGroup, fetchedAt: number): ErrorGroup {
  const change = changes.get(group.id);
  if (!change || change.at < fetchedAt) return group;
  return { ...group, status: change.group.status, resolved_at: change.group.resolved_at };
}

function useStatusChange(onChanged: (group: ErrorGroup) => void) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const act = async (group: ErrorGroup, action: ErrorAction) => {
    setBusy(`${group.id}:${action}`);
    setError(null);
    try {
      const changed = await changeStatus(group.id, action);
      changes.set(group.id, { group: changed, at: Date.now() });
      onChanged(changed);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, act };
}

export function StatusPill({ status }: { status: ErrorStatus }) {
  return (
    <span class={`pill pill-${statusTone(status)}`} data-testid="error-status" data-status={status}>
      {status}
    </span>
  );
}

function StatusActions({ group, busy, onAct, small = true }: { group: ErrorGroup; busy: string | null; onAct: (group: ErrorGroup, action: ErrorAction) => void; small?: boolean }) {
  return (
    <>
      {actionsFor(group.status).map((action, index) => (
        <button
          key={action}
          type="button"
          class={`btn${small ? ' btn-small' : ''}${!small && index === 0 ? ' btn-primary' : ''}`}
          data-action={action}
          disabled={busy !== null}
          aria-busy={busy === `${group.id}:${action}` ? 'true' : undefined}
          onClick={() => onAct(group, action)}
        >
          {ACTION_LABEL[action]}
        </button>
      ))}
    </>
  );
}

/** "3m ago", the exact time on hover. */
function Ago({ iso }: { iso: string }) {
  const ms = parseTime(iso);
  return (
    <time dateTime={iso} title={`${formatLocal(ms, false)} (${utcTitle(iso)})`}>
      {formatAge(ms)}
    </time>
  );
}

function ReleaseMarks({ group }: { group: ErrorGroup }) {
  return (
    <>
      {group.status === 'regressed' && (
        <span class="pill pill-bad err-badge" data-testid="regressed" title={group.resolved_at ? `resolved ${formatLocal(parseTime(group.resolved_at), false)}, then seen again` : 'seen again after it was resolved'}>
          regressed
        </span>
      )}
      {group.new_in_release && (
        <span class="pill pill-info err-badge" data-testid="new-in-release" title="First seen in the newest release with errors">
          new in {group.first_release ?? 'this release'}
        </span>
      )}
    </>
  );
}

// ---------------------------------------------------------------------------
// The list

function FilterForm({ applied, services, releases, environments, loading }: { applied: ErrorFilters; services: string[]; releases: string[]; environments: string[]; loading: boolean }) {
  const [form, setForm] = useState(applied);
  const appliedUrl = errorsUrl(applied);
  useEffect(() => setForm(applied), [appliedUrl]);
  const update = (patch: Partial<ErrorFilters>) => setForm((f) => ({ ...f, ...patch }));
  const go = (next: ErrorFilters) => navigate(errorsUrl(next));
  const toggle = (status: ErrorStatus) => {
    const on = form.statuses.includes(status);
    const statuses = on ? form.statuses.filter((s) => s !== status) : STATUSES.map((s) => s.status).filter((s) => s === status || form.statuses.includes(s));
    if (statuses.length === 0) return;
    go({ ...form, statuses });
  };
  return (
    <form
      class="filters"
      aria-label="Error filters"
      onSubmit={(event) => {
        event.preventDefault();
        go(form);
      }}
    >
      <div class="field">
        <label for="e-service">Service</label>
        <select id="e-service" value={form.service} onChange={(e) => go({ ...form, service: (e.target as HTMLSelectElement).value })}>
          <option value="">All services</option>
          {services.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
          {form.service && !services.includes(form.service) && <option value={form.service}>{form.service}</option>}
        </select>
      </div>
      <div class="field field-narrow">
        <label for="e-release">Release</label>
        <input id="e-release" type="text" list="e-releases" value={form.release} placeholder="any" autoComplete="off" onInput={(e) => update({ release: (e.target as HTMLInputElement).value })} />
        <datalist id="e-releases">
          {releases.map((r) => (
            <option key={r} value={r} />
          ))}
        </datalist>
      </div>
      <div class="field field-narrow">
        <label for="e-environment">Environment</label>
        <input
          id="e-environment"
          type="text"
          list="e-environments"
          value={form.environment}
          placeholder="any"
          autoComplete="off"
          onInput={(e) => update({ environment: (e.target as HTMLInputElement).value })}
        />
        <datalist id="e-environments">
          {environments.map((r) => (
            <option key={r} value={r} />
          ))}
        </datalist>
      </div>
      <div class="field">
        <span class="field-label" id="e-status-label">
          Status
        </span>
        <div class="segmented" role="group" aria-labelledby="e-status-label">
          {STATUSES.map(({ status, label }) => (
            <button
              key={status}
              type="button"
              class={`btn btn-small${form.statuses.includes(status) ? ' on' : ''}`}
              aria-pressed={form.statuses.includes(status) ? 'true' : 'false'}
              data-status-filter={status}
              onClick={() => toggle(status)}
            >
              {label}
            </button>
          ))}
        </div>
      </div>
      <div class="field field-narrow">
        <label for="e-sort">Sort by</label>
        <select id="e-sort" value={form.sort} onChange={(e) => go({ ...form, sort: (e.target as HTMLSelectElement).value as ErrorSort })}>
          <option value="last_seen">Last seen</option>
          <option value="count">Count</option>
        </select>
      </div>
      <div class="field">
        <label for="e-range">Time range</label>
        <TimeRangePicker id="e-range" value={form.range} onChange={(range) => go({ ...form, range })} />
      </div>
      <div class="field">
        <label for="e-refresh">Refresh</label>
        <RefreshControls id="e-refresh" interval={applied.refresh} loading={loading} onInterval={(refresh) => navigate(errorsUrl({ ...applied, refresh }), { replace: true })} />
      </div>
      <div class="field field-actions">
        <button type="submit" class="btn btn-primary">
          Apply
        </button>
        <a class="btn btn-ghost" href="/errors">
          Reset
        </a>
      </div>
    </form>
  );
}

function ErrorList({ query }: { query: URLSearchParams }) {
  const filters = errorFilters(query);
  const anchor = searchAnchor();
  const key = `${errorsUrl({ ...filters, refresh: '' })}@${anchor}`;
  const services = useResource((signal) => getJson<{ services: Service[] }>('/api/services', {}, signal), []);
  const search = usePagedSearch<ErrorGroup>(key, async (cursor, signal) => {
    const page = await listErrors(
      {
        service: filters.service,
        release: filters.release,
        environment: filters.environment,
        status: filters.statuses.join(','),
        sort: filters.sort,
        ...rangeParams(filters.range, anchor),
        limit: PAGE_SIZE,
        cursor,
      },
      signal,
    );
    return { items: page.groups, next_cursor: page.next_cursor };
  });
  useAutoRefresh(refreshMs(filters.refresh));
  const [, setVersion] = useState(0);
  const status = useStatusChange(() => setVersion((v) => v + 1));
  const groups = search.items.map((group) => withChange(group, anchor));

  const serviceNames = [...new Set([...(services.data?.services.map((s) => s.name) ?? []), ...groups.map((g) => g.service)])].sort();
  const releases = [...new Set(groups.flatMap((g) => g.releases))].sort();
  const environments = [...new Set(groups.flatMap((g) => g.environments))].sort();
  const settled = search.current || search.error;
  const filtered = filters.service || filters.release || filters.environment;

  return (
    <div class="page errors-page">
      <div class="page-head">
        <h1>Errors</h1>
        <span class="muted small">exceptions from span events and log records, grouped by service and fingerprint</span>
      </div>
      <FilterForm applied={filters} services={serviceNames} releases={releases} environments={environments} loading={search.loading} />
      {status.error && <ErrorBox error={status.error} title="The change failed" />}
      {search.error ? (
        <ErrorBox error={search.error} title="Could not load the errors" onRetry={search.retry} />
      ) : !settled && groups.length === 0 ? (
        <Loading label="Loading errors…" />
      ) : groups.length === 0 ? (
        <div class="empty-state" data-testid="errors-empty">
          <h2>No errors {filtered ? 'match these filters' : `${filters.statuses.map((s) => s).join(' or ')}`} in this time range</h2>
          <p>
            lookout groups the exceptions it is sent: span events named <code>exception</code> and log records with <code>exception.type</code> or{' '}
            <code>exception.message</code> (and <code>exception.stacktrace</code>), as the OpenTelemetry conventions name them. Occurrences with the same type,
            message (numbers and ids aside) and top stack frames are one group.
          </p>
          <p class="muted">Try a longer time range, or include resolved and ignored groups.</p>
        </div>
      ) : (
        <section class="card" aria-label="Error groups" data-testid="error-groups">
          <div class="card-head">
            <h2 data-testid="error-count">
              {search.cursor ? `${formatCount(groups.length)}+ groups` : plural(groups.length, 'group')} {search.loading && <span class="spinner small" aria-label="refreshing" />}
            </h2>
            <span class="muted small">{filters.sort === 'count' ? 'most occurrences in the range first' : 'most recently seen first'}</span>
          </div>
          <div class="table-scroll">
            <table class="red-table error-table">
              <thead>
                <tr>
                  <th>Error</th>
                  <th class="col-trend">Occurrences</th>
                  <th class="num">Count</th>
                  <th class="col-first">First seen</th>
                  <th>Last seen</th>
                  <th>Status</th>
                  <th aria-label="Actions" />
                </tr>
              </thead>
              <tbody>
                {groups.map((group) => (
                  <ErrorRow key={group.id} group={group} range={filters.range} busy={status.busy} onAct={status.act} />
                ))}
              </tbody>
            </table>
          </div>
          {search.moreError && <ErrorBox error={search.moreError} title="Could not load more groups" onRetry={search.loadMore} />}
          {search.cursor && (
            <div class="load-more">
              <button type="button" class="btn" onClick={search.loadMore} disabled={search.loadingMore}>
                {search.loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </div>
          )}
        </section>
      )}
    </div>
  );
}

function ErrorRow({ group, range, busy, onAct }: { group: ErrorGroup; range: TimeRange; busy: string | null; onAct: (group: ErrorGroup, action: ErrorAction) => void }) {
  const link = groupUrl(group.id, range);
  return (
    <tr
      data-group-id={group.id}
      data-status={group.status}
      class="clickable"
      onClick={(event) => {
        if ((event.target as Element).closest('a, button')) return;
        navigate(link);
      }}
    >
      <td class="wrap err-cell">
        <a href={link} class="err-title" data-testid="error-title">
          <span class="err-type">{group.type || 'Error'}</span>
          {group.message && <span class="err-message">{group.message}</span>}
        </a>
        <div class="err-meta small">
          <span class="muted">{group.service}</span>
          {group.releases.length > 0 && (
            <span class="muted err-releases" title={group.releases.join(', ')}>
              {' '}
              · {group.releases.length === 1 ? group.releases[0] : `${group.releases.slice(-2).join(', ')}${group.releases.length > 2 ? ` +${group.releases.length - 2}` : ''}`}
            </span>
          )}{' '}
          <ReleaseMarks group={group} />
        </div>
      </td>
      <td class="col-trend">
        <CountSparkline counts={group.sparkline ?? []} label={`${plural(group.count, 'occurrence')} in the range`} />
      </td>
      <td class="num" data-col="count">
        <strong data-testid="error-range-count">{formatCount(group.count)}</strong>
        <div class="muted small" data-testid="error-total-count">
          {formatCount(group.total_count)} total
        </div>
      </td>
      <td class="col-first small">
        <Ago iso={group.first_seen} />
      </td>
      <td class="small">
        <Ago iso={group.last_seen} />
      </td>
      <td>
        <StatusPill status={group.status} />
      </td>
      <td class="actions">
        <StatusActions group={group} busy={busy} onAct={onAct} />
      </td>
    </tr>
  );
}

// ---------------------------------------------------------------------------
// One group

function groupStateUrl(id: string, range: TimeRange, refresh: string): string {
  return href(`/errors/${encodeURIComponent(id)}`, { ...rangeUrl(range, ERRORS_LOOKBACK), refresh });
}

function GroupPage({ id, query }: { id: string; query: URLSearchParams }) {
  const range = rangeOr(query, ERRORS_LOOKBACK);
  const refresh = query.get('refresh') ?? '';
  const anchor = searchAnchor();
  const params = rangeParams(range, anchor);
  const detail = useResource((signal) => getErrorGroup(id, params, signal), [id, params.start, params.end]);
  useAutoRefresh(refreshMs(refresh));
  const [changed, setChanged] = useState<ErrorGroup | null>(null);
  const status = useStatusChange(setChanged);
  useEffect(() => setChanged(null), [detail.data]);

  const crumbs = (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a {...backLink('/errors')}>Errors</a> / <span>group {id}</span>
    </nav>
  );
  if (detail.error && !detail.data) {
    return (
      <div class="page">
        {crumbs}
        <ErrorBox error={detail.error} title="Could not load the error group" onRetry={detail.reload} />
      </div>
    );
  }
  if (!detail.data || detail.data.id !== id) {
    return (
      <div class="page">
        {crumbs}
        <Loading label="Loading the error group…" />
      </div>
    );
  }
  const group: ErrorGroupDetail = changed ? { ...detail.data, status: changed.status, resolved_at: changed.resolved_at } : detail.data;
  const bounds = resolveRange(range, anchor);
  const sample = group.sample;

  return (
    <div class="page error-group" data-testid="error-group" data-group-id={group.id} data-status={group.status}>
      {crumbs}
      <div class="page-head">
        <div class="err-head">
          <h1 class="err-heading">
            <span class="err-type" data-testid="group-type">
              {group.type || 'Error'}
            </span>
            {group.message && (
              <span class="err-message" data-testid="group-message">
                {group.message}
              </span>
            )}
          </h1>
          <div class="err-meta">
            <a href={`/services/${encodeURIComponent(group.service)}`}>{group.service}</a> <StatusPill status={group.status} /> <ReleaseMarks group={group} />
          </div>
        </div>
        <div class="toolbar">
          <StatusActions group={group} busy={status.busy} onAct={status.act} small={false} />
        </div>
      </div>
      {status.error && <ErrorBox error={status.error} title="The change failed" />}
      <RangeControls
        range={range}
        refresh={refresh}
        loading={detail.loading}
        onRange={(next) => navigate(groupStateUrl(id, next, refresh))}
        onRefresh={(next) => navigate(groupStateUrl(id, range, next), { replace: true })}
      />
      <section class="card" aria-label="Occurrences over time">
        <div class="card-head">
          <h2>
            <span data-testid="group-count">{plural(group.count, 'occurrence')}</span> in the range <span class="muted small">· {formatCount(group.total_count)} kept in all</span>
          </h2>
          <ZoomOutButton range={range} anchor={anchor} onRange={(next) => navigate(groupStateUrl(id, next, refresh))} />
        </div>
        <OccurrenceChart series={group.series ?? []} bounds={bounds} />
        <dl class="facts err-facts">
          <dt>First seen</dt>
          <dd>
            <Time iso={group.first_seen} millis={false} /> <span class="muted">({formatAge(parseTime(group.first_seen))})</span>
          </dd>
          <dt>Last seen</dt>
          <dd>
            <Time iso={group.last_seen} millis={false} /> <span class="muted">({formatAge(parseTime(group.last_seen))})</span>
          </dd>
          <dt>Releases</dt>
          <dd>{group.releases.length ? group.releases.join(', ') : <span class="muted">none recorded</span>}</dd>
          {group.first_release && (
            <>
              <dt>First release</dt>
              <dd>{group.first_release}</dd>
            </>
          )}
          <dt>Environments</dt>
          <dd>{group.environments.length ? group.environments.join(', ') : <span class="muted">none recorded</span>}</dd>
          {servicesText(group.services) && (
            <>
              <dt>Services</dt>
              <dd>{servicesText(group.services)}</dd>
            </>
          )}
          {group.resolved_at && (
            <>
              <dt>Resolved</dt>
              <dd>
                <Time iso={group.resolved_at} millis={false} />
              </dd>
            </>
          )}
          <dt>Fingerprint</dt>
          <dd class="mono small">{group.fingerprint}</dd>
        </dl>
      </section>

      {sample && <SampleCard group={group} range={range} />}

      <section class="card" aria-label="Releases" data-testid="releases">
        <div class="card-head">
          <h2>Releases</h2>
          <span class="muted small">occurrences by release and environment</span>
        </div>
        {(group.releases_detail ?? []).length === 0 ? (
          <p class="muted empty-list">No release or environment recorded on its occurrences.</p>
        ) : (
          <div class="table-scroll">
            <table class="red-table release-table">
              <thead>
                <tr>
                  <th>Release</th>
                  <th>Environment</th>
                  <th class="num">Occurrences</th>
                  <th>First seen</th>
                  <th>Last seen</th>
                </tr>
              </thead>
              <tbody>
                {group.releases_detail.map((row, index) => (
                  <tr key={index} data-release={row.release ?? ''}>
                    <td>{row.release || <span class="muted">–</span>}</td>
                    <td>{row.environment || <span class="muted">–</span>}</td>
                    <td class="num">{formatCount(row.count)}</td>
                    <td class="small">
                      <Time iso={row.first_seen} millis={false} />
                    </td>
                    <td class="small">
                      <Time iso={row.last_seen} millis={false} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

/** The detail's `services`, whatever shape it has, as one line. */
function servicesText(services: unknown): string {
  if (!Array.isArray(services) || services.length === 0) return '';
  return services
    .map((s) => {
      if (typeof s === 'string') return s;
      if (s && typeof s === 'object') {
        const o = s as Record<string, unknown>;
        const name = o.service ?? o.name;
        return o.count !== undefined ? `${String(name)} (${formatCount(Number(o.count))})` : String(name);
      }
      return String(s);
    })
    .join(', ');
}

function SampleCard({ group, range }: { group: ErrorGroupDetail; range: TimeRange }) {
  const sample = group.sample!;
  const traceId = sample.trace_id;
  const messageQuery = `${fieldClause('service', group.service)} ${queryValue(sample.message || group.message)}`;
  return (
    <section class="card sample" aria-label="Newest occurrence" data-testid="sample">
      <div class="card-head">
        <h2>Newest occurrence</h2>
        <span class="muted small">
          <Time iso={sample.time} /> · from a {sample.source === 'log' ? 'log record' : 'span event'}
        </span>
      </div>
      <p class="sample-message" data-testid="sample-message">
        <span class="err-type tight">{group.type}</span>
        {sample.message && `: ${sample.message}`}
      </p>
      {sample.stacktrace ? (
        <pre class="stacktrace" data-testid="stacktrace" tabIndex={0} aria-label="Stack trace">
          {sample.stacktrace}
        </pre>
      ) : (
        <p class="muted small">No stack trace was recorded.</p>
      )}
      <div class="detail-actions">
        {traceId && (
          <a class="btn btn-small btn-primary" data-testid="sample-trace" href={href(`/traces/${traceId}`, { span: sample.span_id ?? undefined })}>
            Open its trace
          </a>
        )}
        {traceId && (
          <a class="btn btn-small" data-testid="sample-trace-logs" href={href('/logs', { q: `trace_id:${traceId}`, lookback: '7d' })}>
            Logs of the trace
          </a>
        )}
        <a class="btn btn-small" data-testid="service-message-logs" href={href('/logs', { q: messageQuery, ...rangeUrl(range, '1h') })}>
          Logs of {group.service} with this message
        </a>
        <a class="btn btn-small" href={href('/traces', { service: group.service, status: 'error', ...rangeUrl(range, '1h') })}>
          Failed traces of {group.service}
        </a>
      </div>
    </section>
  );
}

function OccurrenceChart({ series, bounds }: { series: { time: string; count: number }[]; bounds: [number, number] }) {
  const data = useMemo<uPlot.AlignedData>(() => [series.map((p) => parseTime(p.time) / 1000), series.map((p) => p.count)], [series]);
  const step = series.length > 1 ? parseTime(series[1].time) - parseTime(series[0].time) : 60_000;
  const first = series.length ? parseTime(series[0].time) : bounds[0];
  const last = series.length ? parseTime(series[series.length - 1].time) + step : bounds[1];
  if (series.length === 0) return <div class="empty-inline">No occurrences in the range.</div>;
  return (
    <Chart
      label="Occurrences per step over the range"
      height={170}
      class="occurrence-chart"
      data={data}
      options={(theme) => ({
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: { x: { time: true, range: () => [Math.min(first, bounds[0]) / 1000, Math.max(last, bounds[1]) / 1000] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [timeAxis(theme), axis(theme, { size: 48, values: (_u, values) => values.map((v) => (v == null || !Number.isInteger(v) ? '' : formatCount(v))) })],
        series: [{}, { label: 'occurrences', stroke: '#e5484d', fill: '#e5484d66', width: 1, paths: uPlot.paths.bars!({ size: [0.8, 40], align: 1 }), points: { show: false } }],
      })}
    />
  );
}
