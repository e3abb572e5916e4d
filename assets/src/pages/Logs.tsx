// Log search: query language, filters, a severity histogram whose drag
// selection zooms the time range, results with infinite scroll, and live
// tail.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, getJson, useResource, type HistogramBucket, type LogPage, type LogRecord, type Service } from '../lib/api';
import { SEVERITY_COLORS, SEVERITY_ORDER, severityClass, type SeverityClass } from '../lib/colors';
import { formatCount, formatLocal, parseTime, plural } from '../lib/format';
import { rangeFromQuery, rangeParams, rangeQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { href, navigate } from '../lib/router';
import { refreshSearch, searchAnchor, useAutoRefresh, usePagedSearch } from '../lib/search';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, SendDataHelp } from '../components/common';
import { LogTable } from '../components/LogTable';
import { QueryError } from '../components/QueryError';
import { RefreshControls } from '../components/Refresh';
import { TimeRangePicker } from '../components/TimeRangePicker';
import { useLiveTail } from '../lib/tail';
import { highlightTerms, rememberQuery, withClause } from '../lib/logquery';
import { QueryInput } from '../components/QueryInput';
import { ZoomOutButton } from '../components/ZoomOut';

const PAGE_SIZE = 200;
const LEVELS = ['', 'debug', 'info', 'warn', 'error', 'fatal'];

interface LogFilters {
  q: string;
  service: string;
  level: string;
  range: TimeRange;
  live: boolean;
  limit: number;
  /** Auto-refresh interval ('' is off). */
  refresh: string;
}

function filtersFromQuery(query: URLSearchParams): LogFilters {
  const limit = Number(query.get('limit'));
  return {
    q: query.get('q') ?? '',
    service: query.get('service') ?? '',
    level: query.get('level') ?? '',
    range: rangeFromQuery(query),
    live: query.get('live') === '1',
    limit: Number.isInteger(limit) && limit > 0 && limit <= 1000 ? limit : PAGE_SIZE,
    refresh: query.get('refresh') ?? '',
  };
}

function logsUrl(filters: LogFilters): string {
  return href('/logs', {
    q: filters.q,
    service: filters.service,
    level: filters.level,
    ...rangeQuery(filters.range),
    live: filters.live ? '1' : undefined,
    limit: filters.limit !== PAGE_SIZE ? String(filters.limit) : undefined,
    refresh: filters.refresh,
  });
}

function searchParams(filters: LogFilters, anchor: number) {
  return { q: filters.q, service: filters.service, level: filters.level, ...rangeParams(filters.range, anchor) };
}

/** Stacked bars by severity; dragging across selects a new time range. */
function Histogram({
  buckets,
  range,
  onZoom,
  zoomOut,
}: {
  buckets: HistogramBucket[];
  range: [number, number];
  onZoom: (start: number, end: number) => void;
  zoomOut: preact.ComponentChildren;
}) {
  const classes = useMemo(() => {
    const present = new Set<SeverityClass>();
    for (const bucket of buckets) for (const text of Object.keys(bucket.counts)) present.add(severityClass(text));
    return SEVERITY_ORDER.filter((c) => present.has(c));
  }, [buckets]);
  const [hover, setHover] = useState<number | null>(null);
  // Bottom of the stack: most severe. Series are cumulative and drawn from
  // the top of the stack down so each covers the one above it.
  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = buckets.map((b) => parseTime(b.start) / 1000);
    const perClass = classes.map((cls) =>
      buckets.map((b) => Object.entries(b.counts).reduce((sum, [text, n]) => (severityClass(text) === cls ? sum + n : sum), 0)),
    );
    const cumulative: number[][] = [];
    perClass.forEach((series, i) => cumulative.push(series.map((n, j) => n + (i > 0 ? cumulative[i - 1][j] : 0))));
    return [xs, ...cumulative.slice().reverse()];
    // The range is drawn too: a new one rebuilds the chart.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [buckets, classes, range[0], range[1]]);
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  const reversed = classes.slice().reverse();
  const hoverBucket = hover !== null ? buckets[hover] : null;
  const totals = hoverBucket
    ? classes.map((cls) => Object.entries(hoverBucket.counts).reduce((sum, [text, n]) => (severityClass(text) === cls ? sum + n : sum), 0))
    : classes.map((cls) =>
        buckets.reduce((sum, b) => sum + Object.entries(b.counts).reduce((s, [text, n]) => (severityClass(text) === cls ? s + n : s), 0), 0),
      );
  return (
    <div class="histogram">
      <div class="histogram-legend" aria-live="off">
        <span class="muted small">{hoverBucket ? formatLocal(parseTime(hoverBucket.start), false) : 'whole range'}</span>
        {classes.map((cls, i) => (
          <span key={cls} class="legend-item">
            <span class="swatch" style={{ background: SEVERITY_COLORS[cls] }} aria-hidden="true" />
            {cls} <strong class="num">{formatCount(totals[i])}</strong>
          </span>
        ))}
        <span class="muted small hint">drag across the chart to zoom</span>
        {zoomOut}
      </div>
      <Chart
        label="Log records over time by severity"
        height={150}
        class="histogram-chart"
        data={data}
        options={(theme) => ({
          legend: { show: false },
          cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
          select: { show: true, left: 0, top: 0, width: 0, height: 0 },
          scales: {
            // The searched range, not the buckets' extent: the last bucket
            // may reach past the end, and empty edges still count.
            x: { time: true, range: () => [range[0] / 1000, range[1] / 1000] },
            y: { range: (_u, _min, max) => [0, Math.max(max * 1.1, 1)] },
          },
          axes: [timeAxis(theme), axis(theme, { size: 48, values: (_u, values) => values.map((v) => (v == null ? '' : Number.isInteger(v) ? formatCount(v) : '')) })],
          series: [
            {},
            ...reversed.map((cls) => ({
              label: cls,
              fill: SEVERITY_COLORS[cls],
              stroke: SEVERITY_COLORS[cls],
              width: 0,
              paths: barsPath,
              points: { show: false },
            })),
          ],
          hooks: {
            setSelect: [
              (u: uPlot) => {
                if (u.select.width < 3) return;
                const start = u.posToVal(u.select.left, 'x') * 1000;
                const end = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
                u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
                onZoomRef.current(start, end);
              },
            ],
            setCursor: [(u: uPlot) => setHover(u.cursor.idx ?? null)],
          },
        })}
      />
    </div>
  );
}

/** Bars that fill each bucket from its start. */
const barsPath = uPlot.paths.bars!({ size: [0.92, 80], align: 1 });

export function LogsPage({ query }: { query: URLSearchParams }) {
  const filters = filtersFromQuery(query);
  const anchor = searchAnchor();
  const bounds = resolveRange(filters.range, anchor);
  // Live tail and auto-refresh do not change what the search finds.
  const key = `${logsUrl({ ...filters, live: false, refresh: '' })}@${anchor}`;
  const [draft, setDraft] = useState(filters.q);
  useEffect(() => setDraft(filters.q), [filters.q]);

  const services = useResource((signal) => getJson<{ services: Service[] }>('/api/services', {}, signal), []);
  const search = usePagedSearch<LogRecord>(key, async (cursor, signal) => {
    if (!cursor) performance.clearMarks('lookout:logs-data');
    const page = await getJson<LogPage>('/api/logs', { ...searchParams(filters, anchor), limit: filters.limit, cursor }, signal);
    if (!cursor) performance.mark('lookout:logs-data');
    return { items: page.logs, next_cursor: page.next_cursor, total: page.total };
  });
  // Each answer keeps the range it was asked for: the chart's axis.
  const histogram = useResource(
    async (signal) => ({
      ...(await getJson<{ buckets: HistogramBucket[] }>('/api/logs/histogram', { ...searchParams(filters, anchor), buckets: 60 }, signal)),
      range: bounds,
    }),
    [key],
  );
  useAutoRefresh(refreshMs(filters.refresh));

  // Further pages, appended as the end of the list scrolls into view.
  const sentinel = useRef<HTMLDivElement>(null);
  const loadMoreRef = useRef(search.loadMore);
  loadMoreRef.current = search.loadMore;
  useEffect(() => {
    const element = sentinel.current;
    if (!element) return;
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMoreRef.current(), {
      rootMargin: '400px',
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [search.cursor, key]);

  // Streamed records sit above the results; they stay when the tail is
  // turned off and go when the filters change.
  const tableRef = useRef<HTMLDivElement>(null);
  const live = useLiveTail(filters.live, { q: filters.q, service: filters.service, level: filters.level }, tableRef);

  const { logs, streamedOnly } = useMemo(() => {
    const seen = new Set<string>();
    const out: LogRecord[] = [];
    for (const record of search.items) seen.add(record.id);
    let streamed = 0;
    for (const record of live.rows) {
      if (seen.has(record.id)) continue;
      seen.add(record.id);
      out.push(record);
      streamed += 1;
    }
    return { logs: [...out, ...search.items], streamedOnly: streamed };
  }, [live.rows, search.items]);
  const freshIds = useMemo(() => new Set(live.rows.map((r) => r.id)), [live.rows]);
  // Matches of the search plus streamed records it does not hold: never
  // fewer than the rows shown.
  const total = (search.total ?? 0) + streamedOnly;

  useEffect(() => {
    if (!search.current || search.items.length === 0) return;
    requestAnimationFrame(() => {
      performance.mark('lookout:logs-rendered');
      try {
        performance.measure('lookout:logs-render', 'lookout:logs-data', 'lookout:logs-rendered');
      } catch {
        // no data mark
      }
    });
  }, [search.current, search.items]);

  const update = (patch: Partial<LogFilters>, replace = false) => navigate(logsUrl({ ...filters, ...patch }), { replace });
  const highlight = useMemo(() => highlightTerms(filters.q), [filters.q]);
  // Field names to complete: the attribute keys of the records shown.
  const attributeKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const record of logs) for (const key of Object.keys(record.attributes ?? {})) keys.add(key);
    return [...keys].sort();
  }, [logs]);
  // A query that ran (the server took it) goes to the recent list, before
  // its rows are painted: a user who leaves at once keeps it.
  useLayoutEffect(() => {
    if (search.current && !search.error && filters.q) rememberQuery(filters.q);
  }, [search.current, search.error, filters.q]);
  const queryError = search.error instanceof ApiError && search.error.status === 400 ? search.error : null;
  const noServices = services.data && services.data.services.length === 0;
  const settled = search.current || search.error;

  return (
    <div class="page">
      <div class="page-head">
        <h1>Logs</h1>
      </div>
      <form
        class="query-bar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          // The same query again means "search again".
          if (draft.trim() === filters.q) refreshSearch();
          else update({ q: draft.trim() });
        }}
      >
        <div class="query-input">
          <QueryInput
            value={draft}
            onValue={setDraft}
            onRun={(q) => (q === filters.q ? refreshSearch() : update({ q }))}
            attributeKeys={attributeKeys}
            invalid={queryError !== null}
            describedBy={queryError ? 'query-error query-help' : 'query-help'}
          />
          <button type="submit" class="btn btn-primary">
            Search
          </button>
        </div>
        {queryError && <QueryError query={filters.q} error={queryError} />}
        <p class="muted small" id="query-help" data-testid="query-help">
          Words and <code>"phrases"</code>, <code>AND</code>/<code>OR</code>/<code>NOT</code>, <code>service:</code>,{' '}
          <code>level:</code>, <code>trace_id:</code>, <code>attr.key:value</code>, <code>attr.n:&gt;=500</code>,{' '}
          <code>attr.n:[1 TO 5]</code>. Press <kbd>/</kbd> to focus.
        </p>
        <div class="filters filters-inline">
          <div class="field">
            <label for="l-service">Service</label>
            <select id="l-service" value={filters.service} onChange={(e) => update({ service: (e.target as HTMLSelectElement).value })}>
              <option value="">All services</option>
              {services.data?.services.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
              {filters.service && !services.data?.services.some((s) => s.name === filters.service) && (
                <option value={filters.service}>{filters.service}</option>
              )}
            </select>
          </div>
          <div class="field field-narrow">
            <label for="l-level">Minimum level</label>
            <select id="l-level" value={filters.level} onChange={(e) => update({ level: (e.target as HTMLSelectElement).value })}>
              {LEVELS.map((level) => (
                <option key={level} value={level}>
                  {level || 'Any'}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="l-range">Time range</label>
            <TimeRangePicker id="l-range" value={filters.range} onChange={(range) => update({ range })} />
          </div>
          <div class="field">
            <label for="l-refresh">Refresh</label>
            <RefreshControls id="l-refresh" interval={filters.refresh} loading={search.loading} onInterval={(refresh) => update({ refresh }, true)} />
          </div>
          <div class="field field-actions">
            <button
              type="button"
              class={`btn live-toggle${filters.live ? ' on' : ''}`}
              aria-pressed={filters.live}
              data-testid="live-toggle"
              onClick={() => update({ live: !filters.live }, true)}
            >
              <span class="live-dot" aria-hidden="true" />
              {filters.live ? 'Live tail on' : 'Live tail'}
            </button>
          </div>
        </div>
      </form>
      {(filters.live || live.pending > 0) && (
        <div class={`live-status ${live.state}`} role="status" data-testid="live-status">
          <span>
            {!filters.live
              ? 'Live tail off'
              : live.state === 'open'
                ? `Streaming new records${live.received ? ` · ${formatCount(live.received)} received` : ''}`
                : live.state === 'connecting'
                  ? 'Connecting to the live tail…'
                  : (live.message ?? 'Live tail interrupted')}
            {live.paused && filters.live && ' · paused while you read'}
          </span>
          {live.pending > 0 && (
            <button type="button" class="btn btn-small" data-testid="live-new" onClick={live.resume}>
              {formatCount(live.pending)} new · show
            </button>
          )}
        </div>
      )}
      {!queryError && !(search.current && search.total === 0 && live.rows.length === 0) && (
        <section class="card chart-card" aria-label="Histogram">
          {histogram.error ? (
            <ErrorBox error={histogram.error} title="Histogram failed" onRetry={histogram.reload} />
          ) : histogram.data ? (
            <Histogram
              buckets={histogram.data.buckets}
              range={histogram.data.range}
              onZoom={(start, end) => update({ range: { start, end } })}
              zoomOut={<ZoomOutButton range={filters.range} anchor={anchor} onRange={(range) => update({ range })} />}
            />
          ) : (
            <Loading label="Counting…" />
          )}
        </section>
      )}
      {search.error && !queryError ? (
        <ErrorBox error={search.error} title="Log search failed" onRetry={search.retry} />
      ) : queryError ? null : !settled && logs.length === 0 ? (
        <Loading label="Searching logs…" />
      ) : logs.length === 0 ? (
        noServices && !filters.q ? (
          <SendDataHelp what="logs" />
        ) : (
          <div class="empty-inline" role="status">
            No log records match{filters.q ? <> <code>{filters.q}</code></> : ''} in this time range.
          </div>
        )
      ) : (
        <section class="card" aria-label="Log records">
          <div class="card-head">
            <h2 data-testid="log-count">
              <span data-testid="log-total">{formatCount(total)}</span> {total === 1 ? 'record' : 'records'}
              {search.loading && <span class="spinner small" aria-label="refreshing" />}
            </h2>
            <span class="muted small" data-testid="log-showing">
              newest first · showing {formatCount(logs.length)}
              {streamedOnly > 0 && ` (${plural(streamedOnly, 'streamed record')})`}
            </span>
          </div>
          <div ref={tableRef}>
            <LogTable logs={logs} freshIds={freshIds} onFilter={(clause, exclude) => update({ q: withClause(filters.q, clause, exclude) })} highlight={highlight} />
          </div>
          <div ref={sentinel} class="sentinel" aria-hidden="true" />
          {search.moreError && <ErrorBox error={search.moreError} title="Could not load more records" onRetry={search.loadMore} />}
          {search.cursor ? (
            <div class="load-more">
              <button type="button" class="btn" onClick={search.loadMore} disabled={search.loadingMore}>
                {search.loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </div>
          ) : search.current ? (
            <p class="end-of-list muted small">End of results</p>
          ) : null}
        </section>
      )}
    </div>
  );
}
