// Trace search: filters in the URL, a duration-over-time scatter and the
// result list with duration bars.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { getJson, useResource, type Operation, type Service, type TraceSummary } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { formatCount, formatDuration, formatLocal, parseTime, plural } from '../lib/format';
import { rangeFromQuery, rangeParams, rangeQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { href, navigate } from '../lib/router';
import { refreshSearch, searchAnchor, useAutoRefresh, usePagedSearch } from '../lib/search';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, SendDataHelp, Time } from '../components/common';
import { RefreshControls } from '../components/Refresh';
import { TimeRangePicker } from '../components/TimeRangePicker';
import { TraceIdBox } from '../components/TraceIdBox';
import { ZoomOutButton } from '../components/ZoomOut';

/** `key=value`, or a numeric comparison `key>=500` (`>`, `<=`, `<`), as
 * the server's `attr=` takes them. */
const ATTR_FILTER = /^[^=<>]+(?:=.*|(?:>=|<=|>|<)\s*[-+]?(?:\d|\.\d).*)$/;

const PAGE_SIZE = 50;

interface Filters {
  service: string;
  operation: string;
  status: string;
  min: string;
  max: string;
  attrs: string[];
  range: TimeRange;
  /** Auto-refresh interval ('' is off). */
  refresh: string;
  /** Order of the loaded rows (`duration`, `-errors`, …); '' is newest first. */
  sort: string;
}

/** Columns the list sorts by, and what each compares. */
const SORTS: Record<string, { label: string; value: (t: TraceSummary) => number }> = {
  start: { label: 'start', value: (t) => parseTime(t.start_time) },
  duration: { label: 'duration', value: (t) => t.duration_ms },
  spans: { label: 'spans', value: (t) => t.span_count },
  errors: { label: 'errors', value: (t) => t.error_count },
};
const DEFAULT_SORT = { key: 'start', descending: true };

export function parseTraceSort(text: string): { key: string; descending: boolean } {
  const descending = text.startsWith('-');
  const key = descending ? text.slice(1) : text;
  return SORTS[key] ? { key, descending } : DEFAULT_SORT;
}

function sortText(sort: { key: string; descending: boolean }): string {
  return sort.key === DEFAULT_SORT.key && sort.descending ? '' : `${sort.descending ? '-' : ''}${sort.key}`;
}

/** The rows in the chosen order; ties keep the server's (newest first). */
function sortTraces(traces: TraceSummary[], sort: { key: string; descending: boolean }): TraceSummary[] {
  if (sort.key === 'start' && sort.descending) return traces;
  const value = SORTS[sort.key].value;
  const sign = sort.descending ? -1 : 1;
  return traces
    .map((trace, index) => ({ trace, index, v: value(trace) }))
    .sort((a, b) => sign * (a.v - b.v) || a.index - b.index)
    .map((entry) => entry.trace);
}

function SortHeader({ column, label, sort, onSort, class: className }: { column: string; label: string; sort: { key: string; descending: boolean }; onSort: (sort: string) => void; class: string }) {
  const active = sort.key === column;
  const next = active ? { key: column, descending: !sort.descending } : { key: column, descending: true };
  return (
    <span class={className} role="columnheader" aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}>
      <button type="button" class="sort-button" data-sort={column} onClick={() => onSort(sortText(next))} title={`Sort by ${SORTS[column].label}`}>
        {label}
        <span class="sort-mark" aria-hidden="true">
          {active ? (sort.descending ? '↓' : '↑') : ''}
        </span>
      </button>
    </span>
  );
}

function filtersFromQuery(query: URLSearchParams): Filters {
  return {
    service: query.get('service') ?? '',
    operation: query.get('operation') ?? '',
    status: query.get('status') ?? '',
    min: query.get('min_duration_ms') ?? '',
    max: query.get('max_duration_ms') ?? '',
    attrs: query.getAll('attr'),
    range: rangeFromQuery(query),
    refresh: query.get('refresh') ?? '',
    sort: query.get('sort') ?? '',
  };
}

function filtersUrl(filters: Filters): string {
  return href('/traces', {
    service: filters.service,
    operation: filters.service ? filters.operation : '',
    status: filters.status,
    min_duration_ms: filters.min,
    max_duration_ms: filters.max,
    attr: filters.attrs,
    ...rangeQuery(filters.range),
    refresh: filters.refresh,
    sort: filters.sort,
  });
}

function apiParams(filters: Filters, anchor: number) {
  return {
    service: filters.service,
    operation: filters.service ? filters.operation : '',
    status: filters.status,
    min_duration_ms: filters.min,
    max_duration_ms: filters.max,
    attr: filters.attrs,
    ...rangeParams(filters.range, anchor),
  };
}

function SearchForm({ applied, services, loading }: { applied: Filters; services: Service[] | undefined; loading: boolean }) {
  const [form, setForm] = useState<Filters>(applied);
  const [attrDraft, setAttrDraft] = useState('');
  const [attrError, setAttrError] = useState('');
  const [numKey, setNumKey] = useState('');
  const [numOp, setNumOp] = useState('>=');
  const [numValue, setNumValue] = useState('');
  const appliedKey = filtersUrl(applied);
  useEffect(() => setForm(applied), [appliedKey]);

  const operations = useResource(
    form.service ? (signal) => getJson<{ operations: Operation[] }>(`/api/services/${encodeURIComponent(form.service)}/operations`, {}, signal) : null,
    [form.service],
  );

  const update = (patch: Partial<Filters>) => setForm((previous) => ({ ...previous, ...patch }));
  // The same filters again mean "search again", not "nothing changed".
  const submit = (next: Filters) => (filtersUrl(next) === appliedKey ? refreshSearch() : navigate(filtersUrl(next)));
  const addAttr = () => {
    const text = attrDraft.trim();
    if (!text) return true;
    if (!ATTR_FILTER.test(text)) {
      setAttrError('Write an attribute filter as key=value, or compare a number: key>=500');
      return false;
    }
    setAttrError('');
    update({ attrs: [...form.attrs.filter((a) => a !== text), text] });
    setAttrDraft('');
    return true;
  };

  return (
    <form
      class="filters"
      aria-label="Trace search"
      onSubmit={(event) => {
        event.preventDefault();
        const text = attrDraft.trim();
        if (text && !addAttr()) return;
        const attrs = text && ATTR_FILTER.test(text) ? [...form.attrs.filter((a) => a !== text), text] : form.attrs;
        submit({ ...form, attrs });
      }}
    >
      <div class="field">
        <label for="f-service">Service</label>
        <select id="f-service" value={form.service} onChange={(e) => update({ service: (e.target as HTMLSelectElement).value, operation: '' })}>
          <option value="">All services</option>
          {services?.map((service) => (
            <option key={service.name} value={service.name}>
              {service.name}
            </option>
          ))}
          {form.service && !services?.some((s) => s.name === form.service) && <option value={form.service}>{form.service}</option>}
        </select>
      </div>
      <div class="field">
        <label for="f-operation">Operation</label>
        <select
          id="f-operation"
          value={form.operation}
          disabled={!form.service}
          onChange={(e) => update({ operation: (e.target as HTMLSelectElement).value })}
        >
          <option value="">{form.service ? (operations.loading ? 'Loading…' : 'All operations') : 'Pick a service first'}</option>
          {operations.data?.operations.map((op) => (
            <option key={`${op.name}/${op.span_kind}`} value={op.name}>
              {op.name}
            </option>
          ))}
          {form.operation && !operations.data?.operations.some((op) => op.name === form.operation) && (
            <option value={form.operation}>{form.operation}</option>
          )}
        </select>
      </div>
      <div class="field field-narrow">
        <label for="f-status">Status</label>
        <select id="f-status" value={form.status} onChange={(e) => update({ status: (e.target as HTMLSelectElement).value })}>
          <option value="">Any</option>
          <option value="error">Error</option>
          <option value="ok">No errors</option>
        </select>
      </div>
      <div class="field field-narrow">
        <label for="f-min">Min duration (ms)</label>
        <input id="f-min" type="number" min="0" step="any" inputMode="decimal" placeholder="0" value={form.min} onInput={(e) => update({ min: (e.target as HTMLInputElement).value })} />
      </div>
      <div class="field field-narrow">
        <label for="f-max">Max duration (ms)</label>
        <input id="f-max" type="number" min="0" step="any" inputMode="decimal" placeholder="∞" value={form.max} onInput={(e) => update({ max: (e.target as HTMLInputElement).value })} />
      </div>
      <div class="field field-wide">
        <label for="f-attr">Attributes</label>
        <div class="chips-input">
          {form.attrs.map((attr) => (
            <span class="chip" key={attr}>
              <code>{attr}</code>
              <button type="button" aria-label={`Remove filter ${attr}`} onClick={() => update({ attrs: form.attrs.filter((a) => a !== attr) })}>
                ×
              </button>
            </span>
          ))}
          <input
            id="f-attr"
            placeholder="http.response.status_code=402"
            value={attrDraft}
            aria-invalid={attrError ? 'true' : undefined}
            aria-describedby={attrError ? 'f-attr-error' : undefined}
            onInput={(e) => setAttrDraft((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && attrDraft.trim()) {
                e.preventDefault();
                addAttr();
              } else if (e.key === 'Backspace' && !attrDraft && form.attrs.length) {
                update({ attrs: form.attrs.slice(0, -1) });
              }
            }}
          />
        </div>
        {attrError && (
          <span class="field-error" id="f-attr-error">
            {attrError}
          </span>
        )}
        <div class="numeric-filter" role="group" aria-label="Numeric attribute filter">
          <input
            id="f-num-key"
            aria-label="Numeric attribute"
            placeholder="http.response.status_code"
            value={numKey}
            onInput={(e) => setNumKey((e.target as HTMLInputElement).value)}
          />
          <select id="f-num-op" aria-label="Comparison" value={numOp} onChange={(e) => setNumOp((e.target as HTMLSelectElement).value)}>
            {['>=', '>', '<=', '<'].map((op) => (
              <option key={op} value={op}>
                {op}
              </option>
            ))}
          </select>
          <input
            id="f-num-value"
            aria-label="Number"
            type="number"
            step="any"
            inputMode="decimal"
            placeholder="500"
            value={numValue}
            onInput={(e) => setNumValue((e.target as HTMLInputElement).value)}
          />
          <button
            type="button"
            id="f-num-add"
            disabled={!numKey.trim() || numValue.trim() === '' || !Number.isFinite(Number(numValue))}
            onClick={() => {
              const text = `${numKey.trim()}${numOp}${numValue.trim()}`;
              const next = { ...form, attrs: [...form.attrs.filter((a) => a !== text), text] };
              setNumKey('');
              setNumValue('');
              submit(next);
            }}
          >
            Add
          </button>
        </div>
      </div>
      <div class="field">
        <label for="f-range">Time range</label>
        <TimeRangePicker id="f-range" value={form.range} onChange={(range) => submit({ ...form, range })} />
      </div>
      <div class="field">
        <label for="f-refresh">Refresh</label>
        <RefreshControls
          id="f-refresh"
          interval={applied.refresh}
          loading={loading}
          onInterval={(refresh) => navigate(filtersUrl({ ...applied, refresh }), { replace: true })}
        />
      </div>
      <div class="field field-actions">
        <button type="submit" class="btn btn-primary">
          Search
        </button>
        <a class="btn btn-ghost" href="/traces">
          Reset
        </a>
      </div>
    </form>
  );
}

/** Log-scale axis splits at whole powers of ten only (no minor lines). */
function powersOfTen(u: uPlot): number[] {
  const min = u.scales.y.min ?? 0.001;
  const max = u.scales.y.max ?? 1;
  const out: number[] = [];
  for (let p = Math.floor(Math.log10(Math.max(min, 1e-6))); p <= Math.ceil(Math.log10(Math.max(max, 1e-6))); p++) {
    const value = 10 ** p;
    if (value >= min && value <= max) out.push(value);
  }
  return out;
}

/** Within this many CSS pixels of a point, hovering shows it and a click
 * opens it; farther away, nothing happens. */
const HIT_RADIUS = 9;

interface Hover {
  trace: TraceSummary;
  left: number;
  top: number;
}

/** The point of `traces` nearest to (x, y) in the plot area, if close enough. */
function hitTest(u: uPlot, traces: TraceSummary[], x: number, y: number): Hover | null {
  let best: Hover | null = null;
  let bestDistance = HIT_RADIUS * HIT_RADIUS;
  for (let i = 0; i < traces.length; i++) {
    const left = u.valToPos(u.data[0][i], 'x');
    const top = u.valToPos((u.data[1][i] ?? u.data[2][i]) as number, 'y');
    const distance = (left - x) ** 2 + (top - y) ** 2;
    if (distance <= bestDistance) {
      bestDistance = distance;
      best = { trace: traces[i], left, top };
    }
  }
  return best;
}

function ScatterTooltip({ hover, width }: { hover: Hover; width: number }) {
  const { trace } = hover;
  // Left of the point when it is in the right half, so it stays inside.
  const style = hover.left > width / 2 ? { right: `${width - hover.left + 14}px`, top: `${hover.top}px` } : { left: `${hover.left + 14}px`, top: `${hover.top}px` };
  return (
    <div class="chart-tooltip" role="tooltip" data-testid="scatter-tooltip" data-trace-id={trace.trace_id} style={style}>
      <strong>{trace.root_operation ?? 'root span not received'}</strong>
      <span class="muted">{trace.root_service ?? '—'}</span>
      <span>
        {formatDuration(trace.duration_ms)} · {plural(trace.span_count, 'span')}
        {trace.error_count > 0 && <span class="tooltip-errors"> · {plural(trace.error_count, 'error')}</span>}
      </span>
      <span class="muted">{formatLocal(parseTime(trace.start_time))}</span>
    </div>
  );
}

/** Duration over start time, one point per trace in the list, on the
 * searched time range. */
function Scatter({ traces, range }: { traces: TraceSummary[]; range: [number, number] }) {
  const [hover, setHover] = useState<Hover | null>(null);
  const wrapper = useRef<HTMLDivElement>(null);
  const sorted = useMemo(() => [...traces].sort((a, b) => parseTime(a.start_time) - parseTime(b.start_time)), [traces]);
  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = sorted.map((t) => parseTime(t.start_time) / 1000);
    const ok = sorted.map((t) => (t.error_count > 0 ? null : Math.max(t.duration_ms, 0.001)));
    const errors = sorted.map((t) => (t.error_count > 0 ? Math.max(t.duration_ms, 0.001) : null));
    return [xs, ok, errors];
    // The range is part of what is drawn: a new range rebuilds the chart.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sorted, range[0], range[1]]);
  useEffect(() => setHover(null), [data]);
  const durations = traces.map((t) => t.duration_ms).filter((d) => d > 0);
  const logScale = durations.length > 1 && Math.max(...durations) / Math.max(Math.min(...durations), 0.001) > 100;
  return (
    <div class="scatter-wrap" ref={wrapper}>
      <Chart
        label="Trace duration over time"
        height={170}
        class="scatter"
        data={data}
        options={(theme) => ({
          legend: { show: false },
          cursor: { points: { show: false }, drag: { x: false, y: false } },
          scales: {
            x: { time: true, range: () => [range[0] / 1000, range[1] / 1000] },
            y: logScale ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
          },
          axes: [
            timeAxis(theme),
            axis(theme, {
              size: 64,
              values: (_u, values) => values.map((v) => (v == null ? '' : formatDuration(v))),
              ...(logScale ? { splits: powersOfTen } : {}),
            }),
          ],
          series: [
            {},
            { label: 'ok', stroke: '#4e79a7', fill: '#4e79a7', paths: () => null, points: { show: true, size: 7, width: 1, fill: '#4e79a799' } },
            { label: 'error', stroke: '#e5484d', fill: '#e5484d', paths: () => null, points: { show: true, size: 8, width: 1, fill: '#e5484dcc' } },
          ],
          hooks: {
            ready: [
              (u: uPlot) => {
                u.over.addEventListener('click', (event) => {
                  const box = u.over.getBoundingClientRect();
                  const hit = hitTest(u, sorted, event.clientX - box.left, event.clientY - box.top);
                  if (hit) navigate(`/traces/${hit.trace.trace_id}`);
                });
                u.over.addEventListener('mouseleave', () => setHover(null));
              },
            ],
            setCursor: [
              (u: uPlot) => {
                const { left, top } = u.cursor;
                const hit = left != null && top != null && left >= 0 ? hitTest(u, sorted, left, top) : null;
                u.over.style.cursor = hit ? 'pointer' : '';
                // Tooltip coordinates are the wrapper's: the plot area sits inside the axes.
                const over = u.over.getBoundingClientRect();
                const outer = wrapper.current?.getBoundingClientRect() ?? over;
                setHover((previous) =>
                  previous?.trace === hit?.trace ? previous : hit && { ...hit, left: hit.left + over.left - outer.left, top: hit.top + over.top - outer.top },
                );
              },
            ],
          },
        })}
      />
      {hover && <ScatterTooltip hover={hover} width={wrapper.current?.clientWidth ?? 0} />}
    </div>
  );
}

function TraceRow({ trace, maxDuration }: { trace: TraceSummary; maxDuration: number }) {
  const width = maxDuration > 0 ? Math.max((trace.duration_ms / maxDuration) * 100, 0.5) : 0;
  return (
    <a class="trace-row" href={`/traces/${trace.trace_id}`} data-trace-id={trace.trace_id}>
      <span class="col-time">
        <Time iso={trace.start_time} />
      </span>
      <span class="col-root">
        <span class="root-op">{trace.root_operation ?? <em class="muted">root span not received</em>}</span>
        <span class="root-service">
          <span class="swatch" style={{ background: serviceColor(trace.root_service ?? '') }} aria-hidden="true" />
          {trace.root_service ?? '—'}
          <span class="trace-id muted">{trace.trace_id.slice(0, 12)}</span>
        </span>
      </span>
      <span class="col-services">
        {trace.services.slice(0, 5).map((service) => (
          <span key={service} class="service-tag">
            <span class="swatch" style={{ background: serviceColor(service) }} aria-hidden="true" />
            {service}
          </span>
        ))}
        {trace.services.length > 5 && <span class="muted small">+{trace.services.length - 5}</span>}
      </span>
      <span class="col-spans num">{formatCount(trace.span_count)}</span>
      <span class="col-errors num">{trace.error_count > 0 ? <span class="badge badge-error">{trace.error_count}</span> : <span class="muted">0</span>}</span>
      <span class="col-duration">
        <span class="duration-bar" aria-hidden="true">
          <span class={trace.error_count > 0 ? 'fill error' : 'fill'} style={{ width: `${width}%` }} />
        </span>
        <span class="num">{formatDuration(trace.duration_ms)}</span>
      </span>
    </a>
  );
}

export function TracesPage({ query }: { query: URLSearchParams }) {
  const filters = filtersFromQuery(query);
  const anchor = searchAnchor();
  const bounds = resolveRange(filters.range, anchor);
  // The order of the rows is not part of the search.
  const key = `${filtersUrl({ ...filters, refresh: '', sort: '' })}@${anchor}`;
  const sort = parseTraceSort(filters.sort);
  const onSort = (next: string) => navigate(filtersUrl({ ...filters, sort: next }), { replace: true });
  const services = useResource((signal) => getJson<{ services: Service[] }>('/api/services', {}, signal), []);
  const search = usePagedSearch<TraceSummary>(key, async (cursor, signal) => {
    const page = await getJson<{ traces: TraceSummary[]; next_cursor: string | null }>(
      '/api/traces',
      { ...apiParams(filters, anchor), limit: PAGE_SIZE, cursor },
      signal,
    );
    return { items: page.traces, next_cursor: page.next_cursor };
  });
  useAutoRefresh(refreshMs(filters.refresh));
  // The chart's axis is the range of the rows it shows: while a new
  // search runs, the previous rows keep their own range.
  const shown = useRef(bounds);
  if (search.current) shown.current = bounds;
  const traces = search.items;
  const maxDuration = traces.reduce((max, t) => Math.max(max, t.duration_ms), 0);

  const noData = services.data && services.data.services.length === 0;
  const settled = search.current || search.error;
  return (
    <div class="page">
      <div class="page-head">
        <h1>Traces</h1>
        <TraceIdBox />
        {services.error && <ErrorBox error={services.error} title="Could not load services" onRetry={services.reload} />}
      </div>
      <SearchForm applied={filters} services={services.data?.services} loading={search.loading} />
      {search.error ? (
        <ErrorBox error={search.error} title="Trace search failed" onRetry={search.retry} />
      ) : !settled && traces.length === 0 ? (
        <Loading label="Searching traces…" />
      ) : noData ? (
        <SendDataHelp what="traces" />
      ) : traces.length === 0 ? (
        <div class="empty-inline" role="status">
          No traces match these filters in this time range.
        </div>
      ) : (
        <>
          <section class="card chart-card" aria-label="Duration over time">
            <div class="card-head">
              <h2>Duration over time</h2>
              <span class="legend">
                <span class="dot dot-ok" aria-hidden="true" /> ok <span class="dot dot-error" aria-hidden="true" /> with errors
                <ZoomOutButton range={filters.range} anchor={anchor} onRange={(range) => navigate(filtersUrl({ ...filters, range }))} />
              </span>
            </div>
            <Scatter traces={traces} range={shown.current} />
          </section>
          <section class="card" aria-label="Traces found">
            <div class="card-head">
              <h2 data-testid="trace-count">
                {search.cursor ? `${formatCount(traces.length)}+ traces` : plural(traces.length, 'trace')}{' '}
                {search.loading && <span class="spinner small" aria-label="refreshing" />}
              </h2>
              <span class="muted small" data-testid="trace-order">
                {sort.key === 'start' && sort.descending
                  ? 'newest first'
                  : `by ${SORTS[sort.key].label}, ${sort.descending ? (sort.key === 'start' ? 'newest' : 'most') : sort.key === 'start' ? 'oldest' : 'least'} first${search.cursor ? ` · among the ${formatCount(traces.length)} loaded` : ''}`}
              </span>
            </div>
            <div class="trace-list" role="list">
              <div class="trace-row trace-head" role="row">
                <SortHeader class="col-time" column="start" label="Start" sort={sort} onSort={onSort} />
                <span class="col-root" role="columnheader">Root span</span>
                <span class="col-services" role="columnheader">Services</span>
                <SortHeader class="col-spans num" column="spans" label="Spans" sort={sort} onSort={onSort} />
                <SortHeader class="col-errors num" column="errors" label="Errors" sort={sort} onSort={onSort} />
                <SortHeader class="col-duration" column="duration" label="Duration" sort={sort} onSort={onSort} />
              </div>
              {sortTraces(traces, sort).map((trace) => (
                <TraceRow key={trace.trace_id} trace={trace} maxDuration={maxDuration} />
              ))}
            </div>
            {search.moreError && <ErrorBox error={search.moreError} title="Could not load more traces" onRetry={search.loadMore} />}
            {search.cursor && (
              <div class="load-more">
                <button type="button" class="btn" onClick={search.loadMore} disabled={search.loadingMore}>
                  {search.loadingMore ? 'Loading…' : 'Load more'}
                </button>
              </div>
            )}
          </section>
        </>
      )}
    </div>
  );
}
