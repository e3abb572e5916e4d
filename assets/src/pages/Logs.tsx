// Log search: query language, filters, a severity histogram whose drag
// selection zooms the time range, results with infinite scroll, and live
// tail.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, getJson, openTail, useResource, type HistogramBucket, type LogPage, type LogRecord, type Service } from '../lib/api';
import { SEVERITY_COLORS, SEVERITY_ORDER, severityClass, type SeverityClass } from '../lib/colors';
import { formatCount, formatLocal, parseTime } from '../lib/format';
import { rangeFromQuery, rangeParams, rangeQuery, type TimeRange } from '../lib/range';
import { href, navigate } from '../lib/router';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, SendDataHelp } from '../components/common';
import { LogTable } from '../components/LogTable';
import { TimeRangePicker } from '../components/TimeRangePicker';

const PAGE_SIZE = 200;
const LIVE_CAP = 2000;
const LEVELS = ['', 'debug', 'info', 'warn', 'error', 'fatal'];

interface LogFilters {
  q: string;
  service: string;
  level: string;
  range: TimeRange;
  live: boolean;
  limit: number;
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
  });
}

function searchParams(filters: LogFilters) {
  return { q: filters.q, service: filters.service, level: filters.level, ...rangeParams(filters.range) };
}

/** Stacked bars by severity; dragging across selects a new time range. */
function Histogram({ buckets, onZoom }: { buckets: HistogramBucket[]; onZoom: (start: number, end: number) => void }) {
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
  }, [buckets, classes]);
  const width = buckets.length > 1 ? parseTime(buckets[1].start) - parseTime(buckets[0].start) : 60_000;
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
            x: {
              time: true,
              range: (_u, min, max) => [min, max + width / 1000],
            },
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
  const key = logsUrl({ ...filters, live: false });
  const [draft, setDraft] = useState(filters.q);
  useEffect(() => setDraft(filters.q), [filters.q]);

  const services = useResource((signal) => getJson<{ services: Service[] }>('/api/services', {}, signal), []);
  const first = useResource(
    async (signal) => {
      performance.clearMarks('lookout:logs-data');
      const page = await getJson<LogPage>('/api/logs', { ...searchParams(filters), limit: filters.limit }, signal);
      performance.mark('lookout:logs-data');
      return page;
    },
    [key],
  );
  const histogram = useResource(
    (signal) => getJson<{ buckets: HistogramBucket[] }>('/api/logs/histogram', { ...searchParams(filters), buckets: 60 }, signal),
    [key],
  );

  // Further pages, appended as the end of the list scrolls into view.
  const [pages, setPages] = useState<{ key: string; logs: LogRecord[]; cursor: string | null; loading: boolean; error?: Error }>({
    key: '',
    logs: [],
    cursor: null,
    loading: false,
  });
  const more = pages.key === key ? pages : { key, logs: [], cursor: null, loading: false, error: undefined };
  const cursor = more.logs.length ? more.cursor : first.data?.next_cursor ?? null;
  const sentinel = useRef<HTMLDivElement>(null);
  const loadingMore = useRef(false);
  const loadMore = async () => {
    if (!cursor || loadingMore.current) return;
    loadingMore.current = true;
    setPages({ ...more, loading: true, error: undefined });
    try {
      const page = await getJson<LogPage>('/api/logs', { ...searchParams(filters), limit: filters.limit, cursor });
      setPages({ key, logs: [...more.logs, ...page.logs], cursor: page.next_cursor, loading: false });
    } catch (error) {
      setPages({ ...more, loading: false, error: error as Error });
    } finally {
      loadingMore.current = false;
    }
  };
  const loadMoreRef = useRef(loadMore);
  loadMoreRef.current = loadMore;
  useEffect(() => {
    const element = sentinel.current;
    if (!element) return;
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMoreRef.current(), {
      rootMargin: '400px',
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [cursor, key]);

  // Live tail: records arriving after the toggle, newest first, above the results.
  const [live, setLive] = useState<{ key: string; logs: LogRecord[]; state: string; message?: string }>({ key: '', logs: [], state: 'off' });
  const liveKey = logsUrl({ ...filters, range: {}, limit: PAGE_SIZE });
  useEffect(() => {
    if (!filters.live) {
      setLive({ key: '', logs: [], state: 'off' });
      return;
    }
    setLive({ key: liveKey, logs: [], state: 'connecting' });
    let buffer: LogRecord[] = [];
    let scheduled = 0;
    const flush = () => {
      scheduled = 0;
      const batch = buffer.reverse();
      buffer = [];
      setLive((previous) => ({ ...previous, logs: [...batch, ...previous.logs].slice(0, LIVE_CAP) }));
    };
    const close = openTail(
      { q: filters.q, service: filters.service, level: filters.level },
      (record) => {
        buffer.push(record);
        if (!scheduled) scheduled = window.setTimeout(flush, 100);
      },
      (state, message) => setLive((previous) => ({ ...previous, state, message })),
    );
    return () => {
      close();
      if (scheduled) clearTimeout(scheduled);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filters.live, liveKey]);

  const logs = useMemo(() => {
    const seen = new Set<string>();
    const out: LogRecord[] = [];
    for (const record of [...live.logs, ...(first.data?.logs ?? []), ...more.logs]) {
      if (seen.has(record.id)) continue;
      seen.add(record.id);
      out.push(record);
    }
    return out;
  }, [live.logs, first.data, more.logs]);
  const freshIds = useMemo(() => new Set(live.logs.map((r) => r.id)), [live.logs]);

  useEffect(() => {
    if (!first.data) return;
    requestAnimationFrame(() => {
      performance.mark('lookout:logs-rendered');
      try {
        performance.measure('lookout:logs-render', 'lookout:logs-data', 'lookout:logs-rendered');
      } catch {
        // no data mark
      }
    });
  }, [first.data]);

  const update = (patch: Partial<LogFilters>, replace = false) => navigate(logsUrl({ ...filters, ...patch }), { replace });
  const queryError = first.error instanceof ApiError && first.error.status === 400 ? first.error : null;
  const noServices = services.data && services.data.services.length === 0;

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
          update({ q: draft.trim() });
        }}
      >
        <div class="query-input">
          <input
            type="search"
            data-search-focus
            aria-label="Log query"
            aria-invalid={queryError ? 'true' : undefined}
            aria-describedby="query-help query-error"
            placeholder='timeout level:warn service:checkout attr.http.status_code:>=500 "disk full"'
            spellcheck={false}
            autoComplete="off"
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="btn btn-primary">
            Search
          </button>
        </div>
        {queryError ? (
          <p class="query-error" id="query-error" role="alert" data-testid="query-error">
            {queryError.message}
          </p>
        ) : (
          <p class="muted small" id="query-help">
            Words and <code>"phrases"</code>, <code>AND</code>/<code>OR</code>/<code>NOT</code>, <code>service:</code>,{' '}
            <code>level:</code>, <code>trace_id:</code>, <code>attr.key:value</code>, <code>attr.n:&gt;=500</code>,{' '}
            <code>attr.n:[1 TO 5]</code>. Press <kbd>/</kbd> to focus.
          </p>
        )}
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
          <div class="field field-actions">
            <button
              type="button"
              class={`btn live-toggle${filters.live ? ' on' : ''}`}
              aria-pressed={filters.live}
              data-testid="live-toggle"
              onClick={() => update({ live: !filters.live })}
            >
              <span class="live-dot" aria-hidden="true" />
              {filters.live ? 'Live tail on' : 'Live tail'}
            </button>
          </div>
        </div>
      </form>
      {filters.live && (
        <div class={`live-status ${live.state}`} role="status" data-testid="live-status">
          {live.state === 'open'
            ? `Streaming new records${live.logs.length ? ` · ${formatCount(live.logs.length)} received` : ''}`
            : live.state === 'connecting'
              ? 'Connecting to the live tail…'
              : live.message ?? 'Live tail interrupted'}
        </div>
      )}
      {!queryError && !(first.data && first.data.total === 0 && live.logs.length === 0) && (
        <section class="card chart-card" aria-label="Histogram">
          {histogram.error ? (
            <ErrorBox error={histogram.error} title="Histogram failed" onRetry={histogram.reload} />
          ) : histogram.data ? (
            <Histogram buckets={histogram.data.buckets} onZoom={(start, end) => update({ range: { start, end } })} />
          ) : (
            <Loading label="Counting…" />
          )}
        </section>
      )}
      {first.error && !queryError ? (
        <ErrorBox error={first.error} title="Log search failed" onRetry={first.reload} />
      ) : queryError ? null : first.loading && !first.data ? (
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
            <h2>
              <span data-testid="log-total">{formatCount(first.data?.total ?? logs.length)}</span> records
              {first.loading && <span class="spinner small" aria-label="refreshing" />}
            </h2>
            <span class="muted small">
              newest first · showing {formatCount(logs.length)}
            </span>
          </div>
          <LogTable logs={logs} freshIds={freshIds} />
          <div ref={sentinel} class="sentinel" aria-hidden="true" />
          {more.error && <ErrorBox error={more.error} title="Could not load more records" onRetry={loadMore} />}
          {cursor ? (
            <div class="load-more">
              <button type="button" class="btn" onClick={loadMore} disabled={more.loading}>
                {more.loading ? 'Loading…' : 'Load more'}
              </button>
            </div>
          ) : (
            <p class="end-of-list muted small">End of results</p>
          )}
        </section>
      )}
    </div>
  );
}
