// Metrics: an explorer for the OTLP metrics and the span-derived series.
// Pick a metric (its default queries: a counter's rate, a histogram's
// percentiles, a gauge as it is), narrow it with label filters, or write
// PromQL; the queries chart over the page's time range through the
// Prometheus API, with the exemplars as dots that open their traces. The
// URL holds the metric, the queries and the range.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { ApiError, useResource } from '../lib/api';
import { PALETTE } from '../lib/colors';
import { formatCount, formatLocal, plural } from '../lib/format';
import { matchersOf, setMatcher } from '../lib/matchers';
import { defaultQueries, exemplarsFit, exploreUrl, isSpanDerived, metricKind, queryLabel, selectorName, type MetricInfo } from '../lib/promql';
import {
  metricNames,
  queryExemplars,
  queryRange,
  seriesName,
  seriesOf,
  stepSeconds,
  type Exemplar,
  type RangeSeries,
} from '../lib/prometheus';
import { rangeFromQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { navigate } from '../lib/router';
import { refreshSearch, searchAnchor, useAutoRefresh } from '../lib/search';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading } from '../components/common';
import { QueryError } from '../components/QueryError';
import { RangeControls } from '../components/RangeControls';
import { ZoomOutButton } from '../components/ZoomOut';

/** Series drawn per query; the rest are counted, not drawn. */
const MAX_SERIES = 40;
/** Exemplar dots drawn; more are thinned out evenly. */
const MAX_EXEMPLARS = 400;
/** Labels offered as filters, and values per label. */
const MAX_FILTER_LABELS = 12;
const MAX_FILTER_VALUES = 200;
/** Labels that are not filters: the name, and the bucket and quantile bounds. */
const NOT_FILTERS = new Set(['__name__', 'le', 'quantile']);

interface State {
  metric: string;
  queries: string[];
  range: TimeRange;
  refresh: string;
}

function stateFrom(query: URLSearchParams): State {
  return {
    metric: query.get('metric') ?? '',
    queries: query.getAll('q').filter((q) => q.trim() !== ''),
    range: rangeFromQuery(query),
    refresh: query.get('refresh') ?? '',
  };
}

const go = (state: State, replace = false) => navigate(exploreUrl(state), { replace });

function MetricPicker({ metrics, selected, onPick }: { metrics: MetricInfo[]; selected: string; onPick: (metric: MetricInfo) => void }) {
  const [search, setSearch] = useState('');
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = metrics.filter((m) => words.every((w) => m.name.toLowerCase().includes(w) || m.description.toLowerCase().includes(w)));
  return (
    <section class="card metric-picker" aria-label="Metrics">
      <div class="card-head">
        <h2>{plural(metrics.length, 'metric')}</h2>
      </div>
      <input
        type="search"
        class="metric-search"
        placeholder="Search metrics"
        aria-label="Search metrics"
        data-search-focus
        value={search}
        onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && shown.length > 0) {
            e.preventDefault();
            onPick(shown[0]);
          }
        }}
      />
      <ul class="metric-list" role="list">
        {shown.map((m) => (
          <li key={m.name}>
            <button
              type="button"
              class="metric-item"
              data-metric={m.name}
              aria-pressed={m.name === selected ? 'true' : 'false'}
              title={m.description || m.name}
              onClick={() => onPick(m)}
            >
              <span class="metric-name">{m.name}</span>
              <span class="metric-meta">
                <span class={`pill pill-muted metric-type`}>{metricKind(m)}</span>
                {m.unit && <span class="muted small">{m.unit}</span>}
                {isSpanDerived(m.name) ? <span class="muted small">from spans</span> : m.series !== undefined && <span class="muted small">{plural(m.series, 'series', 'series')}</span>}
              </span>
              {m.description && <span class="metric-help muted small">{m.description}</span>}
            </button>
          </li>
        ))}
        {shown.length === 0 && <li class="muted small metric-none">No metric matches.</li>}
      </ul>
    </section>
  );
}

/** One select per label of the metric's series: choosing a value puts
 * `label="value"` on the metric's selectors in every query. */
function LabelFilters({ metric, state, bounds }: { metric: MetricInfo; state: State; bounds: [number, number] }) {
  const name = selectorName(metric);
  const series = useResource((signal) => seriesOf(name, bounds[0], bounds[1], signal), [name, bounds[0], bounds[1]]);
  const values = useMemo(() => {
    const out = new Map<string, Set<string>>();
    for (const labels of series.data ?? []) {
      for (const [label, value] of Object.entries(labels)) {
        if (NOT_FILTERS.has(label)) continue;
        if (!out.has(label)) out.set(label, new Set());
        out.get(label)!.add(value);
      }
    }
    return [...out.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, MAX_FILTER_LABELS)
      .map(([label, set]) => [label, [...set].sort().slice(0, MAX_FILTER_VALUES)] as const);
  }, [series.data]);
  const current = new Map(matchersOf(state.queries[0] ?? '', name).filter((m) => m.op === '=').map((m) => [m.label, m.value]));
  if (series.error) return <p class="muted small">Label values unavailable: {series.error.message}</p>;
  if (!series.data) return <Loading label="Loading labels…" />;
  if (values.length === 0) return <p class="muted small">No labels to filter by in this range.</p>;
  return (
    <div class="filters filters-inline label-filters" role="group" aria-label="Label filters">
      {values.map(([label, options]) => {
        const chosen = current.get(label) ?? '';
        return (
          <div class="field field-narrow" key={label}>
            <label for={`lf-${label}`} title={label}>
              {label}
            </label>
            <select
              id={`lf-${label}`}
              data-label={label}
              value={chosen}
              onChange={(e) => {
                const value = (e.target as HTMLSelectElement).value;
                go({ ...state, queries: state.queries.map((q) => setMatcher(q, name, label, value || null)) });
              }}
            >
              <option value="">any</option>
              {chosen && !options.includes(chosen) && <option value={chosen}>{chosen}</option>}
              {options.map((value) => (
                <option key={value} value={value}>
                  {value}
                </option>
              ))}
            </select>
          </div>
        );
      })}
    </div>
  );
}

type Outcome = { series: RangeSeries[] } | { error: Error };

function QueryEditor({ state, outcomes }: { state: State; outcomes: Outcome[] | undefined }) {
  const [drafts, setDrafts] = useState<string[]>(state.queries.length ? state.queries : ['']);
  const shown = state.queries.join('\n');
  // The URL changed (a metric picked, a filter, Back): show its queries.
  useEffect(() => setDrafts(state.queries.length ? state.queries : ['']), [shown]);
  const run = () => {
    const queries = drafts.map((q) => q.trim()).filter(Boolean);
    if (queries.join('\n') === shown) refreshSearch();
    else go({ ...state, queries });
  };
  return (
    <form
      class="query-bar promql-bar"
      role="search"
      aria-label="PromQL queries"
      onSubmit={(event) => {
        event.preventDefault();
        run();
      }}
    >
      {drafts.map((draft, index) => {
        const outcome = outcomes?.[index];
        const error = outcome && 'error' in outcome && draft.trim() === state.queries[index] ? outcome.error : null;
        const bad = error instanceof ApiError && error.status >= 400 && error.status < 500;
        const id = `promql-error-${index}`;
        return (
          <div class="promql-row" key={index} data-query-index={index}>
            <div class="query-input">
              {drafts.length > 1 && <span class="query-tag muted small">{queryLabel(draft, index)}</span>}
              <input
                type="text"
                class="promql-input"
                aria-label={drafts.length > 1 ? `PromQL query ${index + 1}` : 'PromQL query'}
                placeholder="PromQL, e.g. rate(http_server_requests_total[5m])"
                spellcheck={false}
                autoComplete="off"
                value={draft}
                aria-invalid={error ? 'true' : undefined}
                aria-describedby={error ? id : undefined}
                onInput={(e) => {
                  const text = (e.target as HTMLInputElement).value;
                  setDrafts((list) => list.map((q, i) => (i === index ? text : q)));
                }}
              />
              {drafts.length > 1 && (
                <button
                  type="button"
                  class="btn btn-ghost btn-small"
                  aria-label={`Remove query ${index + 1}`}
                  title="Remove this query"
                  onClick={() => {
                    const next = drafts.filter((_, i) => i !== index);
                    setDrafts(next);
                    go({ ...state, queries: next.map((q) => q.trim()).filter(Boolean) });
                  }}
                >
                  ✕
                </button>
              )}
            </div>
            {error &&
              (bad ? (
                <QueryError id={id} query={draft} error={error} />
              ) : (
                <ErrorBox error={error} title="The query failed" />
              ))}
          </div>
        );
      })}
      <div class="toolbar">
        <button type="submit" class="btn btn-primary" data-testid="run-query">
          Run
        </button>
        <button type="button" class="btn btn-small" onClick={() => setDrafts((list) => [...list, ''])}>
          Add query
        </button>
        <span class="muted small">
          Enter runs the queries. <code>rate(x[5m])</code>, <code>sum by (label) (…)</code>, <code>histogram_quantile(0.95, …)</code>.
        </span>
      </div>
    </form>
  );
}

interface Line {
  label: string;
  color: string;
  values: (number | null)[];
}

/** Aligns the series of every query on one time axis. */
function align(queries: string[], outcomes: Outcome[]): { times: number[]; lines: Line[]; hidden: number } {
  const times = new Set<number>();
  const picked: { label: string; series: RangeSeries }[] = [];
  let hidden = 0;
  outcomes.forEach((outcome, index) => {
    if (!('series' in outcome)) return;
    outcome.series.forEach((series, i) => {
      if (i >= MAX_SERIES) {
        hidden += 1;
        return;
      }
      const name = seriesName(series.metric);
      const prefix = queries.length > 1 ? queryLabel(queries[index], index) : '';
      const label = prefix ? (name === '{}' ? prefix : `${prefix} ${name}`) : name;
      picked.push({ label, series });
      for (const [t] of series.values) times.add(t);
    });
  });
  const sorted = [...times].sort((a, b) => a - b);
  const at = new Map(sorted.map((t, i) => [t, i]));
  const lines = picked.map(({ label, series }, i) => {
    const values: (number | null)[] = new Array(sorted.length).fill(null);
    for (const [t, v] of series.values) values[at.get(t)!] = Number.isFinite(v) ? v : null;
    return { label, color: PALETTE[i % PALETTE.length], values };
  });
  return { times: sorted, lines, hidden };
}

function formatValue(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return formatCount(Math.round(value));
  if (abs >= 1) return String(Number(value.toPrecision(4)));
  return String(Number(value.toPrecision(3)));
}

/** Every `k`-th exemplar, so at most `MAX_EXEMPLARS` are drawn. */
function thin(exemplars: Exemplar[]): Exemplar[] {
  if (exemplars.length <= MAX_EXEMPLARS) return exemplars;
  const k = exemplars.length / MAX_EXEMPLARS;
  return Array.from({ length: MAX_EXEMPLARS }, (_, i) => exemplars[Math.floor(i * k)]);
}

/** Puts the exemplars on the plot as links to their traces (DOM
 * elements over the canvas: focusable, and clickable without hit tests). */
function placeExemplars(u: uPlot, exemplars: Exemplar[]) {
  let layer = u.over.querySelector<HTMLDivElement>('.exemplar-layer');
  if (!layer) {
    layer = document.createElement('div');
    layer.className = 'exemplar-layer';
    u.over.appendChild(layer);
  }
  const width = u.over.clientWidth;
  const height = u.over.clientHeight;
  const dots: HTMLElement[] = [];
  for (const exemplar of exemplars) {
    const x = u.valToPos(exemplar.time, 'x');
    const y = u.valToPos(exemplar.value, 'y');
    if (!(x >= 0 && x <= width && y >= 0 && y <= height)) continue;
    const dot = document.createElement(exemplar.traceId ? 'a' : 'span');
    dot.className = 'exemplar';
    const what = `Exemplar ${formatValue(exemplar.value)} at ${formatLocal(exemplar.time * 1000, true)}`;
    if (exemplar.traceId) {
      (dot as HTMLAnchorElement).href = `/traces/${exemplar.traceId}${exemplar.spanId ? `?span=${exemplar.spanId}` : ''}`;
      dot.dataset.traceId = exemplar.traceId;
      dot.title = `${what}: open trace ${exemplar.traceId}`;
    } else {
      dot.title = what;
    }
    dot.setAttribute('aria-label', dot.title);
    dot.style.left = `${x}px`;
    dot.style.top = `${y}px`;
    dots.push(dot);
  }
  layer.replaceChildren(...dots);
  const element = u.root.parentElement;
  if (element) element.dataset.exemplars = String(dots.length);
}

function MetricsChart({
  queries,
  outcomes,
  exemplars,
  bounds,
  onZoom,
}: {
  queries: string[];
  outcomes: Outcome[];
  exemplars: Exemplar[];
  bounds: [number, number];
  onZoom: (range: TimeRange) => void;
}) {
  const aligned = useMemo(() => align(queries, outcomes), [outcomes]);
  const dots = useMemo(() => thin(exemplars.filter((e) => e.time * 1000 >= bounds[0] && e.time * 1000 <= bounds[1])), [exemplars, bounds[0], bounds[1]]);
  const data = useMemo<uPlot.AlignedData>(() => [aligned.times, ...aligned.lines.map((line) => line.values)], [aligned, dots]);
  const { lines, hidden } = aligned;
  // The chart keeps its options until its data changes: zoom with the page's latest state.
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  if (lines.length === 0) {
    return (
      <div class="empty-inline" role="status" data-testid="explore-empty">
        No data in this range. Try a longer time range, or another query.
      </div>
    );
  }
  const [low, high] = [bounds[0] / 1000, bounds[1] / 1000];
  return (
    <section class="card chart-card" aria-label="Chart">
      <div class="card-head">
        <h2>{plural(lines.length, 'series', 'series')}</h2>
        <span class="muted small">
          {hidden > 0 && `${hidden} more not drawn · `}
          drag to zoom{dots.length > 0 && ` · ${plural(dots.length, 'exemplar')}: click a dot to open its trace`}
        </span>
      </div>
      <Chart
        label="Query results over time"
        height={320}
        class="explore-chart"
        data={data}
        options={(theme) => ({
          legend: { show: true, live: true },
          cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
          scales: {
            x: { time: true, range: () => [low, high] },
            y: {
              range: (_u, min, max) => {
                const values = dots.map((e) => e.value);
                const lowest = Math.min(0, min ?? 0, ...values);
                const highest = Math.max(max ?? 0, ...values);
                return [lowest, highest > lowest ? highest + (highest - lowest) * 0.08 : lowest + 1];
              },
            },
          },
          axes: [timeAxis(theme), axis(theme, { size: 60, values: (_u, values) => values.map((v) => (v == null ? '' : formatValue(v))) })],
          series: [
            { value: (_u, v) => (v == null ? '–' : formatLocal(v * 1000, false)) },
            ...lines.map((line) => ({
              label: line.label,
              stroke: line.color,
              width: 1.5,
              spanGaps: false,
              value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatValue(v)),
            })),
          ],
          hooks: {
            draw: [(u: uPlot) => placeExemplars(u, dots)],
            // Dragging across the chart zooms the page's range to that span.
            setSelect: [
              (u: uPlot) => {
                if (u.select.width < 3) return;
                const from = u.posToVal(u.select.left, 'x') * 1000;
                const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
                u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
                onZoomRef.current({ start: Math.round(from), end: Math.round(to) });
              },
            ],
          },
        })}
      />
    </section>
  );
}

/** Exemplars once each: the percentile queries of one histogram read the same ones. */
function unique(exemplars: Exemplar[]): Exemplar[] {
  const seen = new Set<string>();
  return exemplars.filter((e) => {
    const key = `${e.time}|${e.value}|${e.traceId ?? ''}|${e.spanId ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function ExplorePage({ query }: { query: URLSearchParams }) {
  const state = stateFrom(query);
  const anchor = searchAnchor();
  const bounds = resolveRange(state.range, anchor).map(Math.round) as [number, number];
  const step = stepSeconds(bounds[0], bounds[1]);
  // Whole steps, so a refresh moves the points rather than resampling them.
  const start = Math.floor(bounds[0] / 1000 / step) * step * 1000;
  const end = Math.ceil(bounds[1] / 1000 / step) * step * 1000;
  const names = useResource((signal) => metricNames(signal), []);
  const key = state.queries.join('\n');
  const results = useResource<Outcome[]>(
    state.queries.length
      ? (signal) =>
          Promise.all(
            state.queries.map((q) =>
              queryRange(q, start, end, step, signal).then(
                (series): Outcome => ({ series }),
                (error: Error): Outcome => {
                  if (error.name === 'AbortError') throw error;
                  return { error };
                },
              ),
            ),
          )
      : null,
    [key, start, end],
  );
  const exemplars = useResource<Exemplar[]>(
    state.queries.length
      ? (signal) =>
          Promise.all(
            state.queries.filter(exemplarsFit).map((q) => queryExemplars(q, bounds[0], bounds[1], signal).catch((): Exemplar[] => [])),
          ).then((all) =>
            unique(all.flat()),
          )
      : null,
    [key, bounds[0], bounds[1]],
  );
  useAutoRefresh(refreshMs(state.refresh));

  const metric = names.data?.find((m) => m.name === state.metric);
  const pick = (m: MetricInfo) => go({ ...state, metric: m.name, queries: defaultQueries(m) });
  const outcomes = results.data;
  const settled = outcomes && !results.loading;
  const loading = results.loading || exemplars.loading;

  return (
    <div class="page">
      <div class="page-head">
        <h1>Metrics</h1>
        <span class="muted small">OTLP metrics and the series derived from spans, in PromQL</span>
      </div>
      <RangeControls
        range={state.range}
        refresh={state.refresh}
        loading={loading}
        onRange={(range) => go({ ...state, range })}
        onRefresh={(refresh) => go({ ...state, refresh }, true)}
      />
      <div class="explore">
        {names.error ? (
          <ErrorBox error={names.error} title="Could not load the metric names" onRetry={names.reload} />
        ) : names.data ? (
          <MetricPicker metrics={names.data} selected={state.metric} onPick={pick} />
        ) : (
          <Loading label="Loading metrics…" />
        )}
        <div class="explore-main">
          {metric && (
            <section class="card" aria-label="Label filters">
              <div class="card-head">
                <h2>
                  <code>{selectorName(metric)}</code>
                </h2>
                <span class="muted small">{metric.description}</span>
              </div>
              <LabelFilters metric={metric} state={state} bounds={bounds} />
            </section>
          )}
          <QueryEditor state={state} outcomes={settled ? outcomes : undefined} />
          {state.queries.length === 0 ? (
            <div class="empty-inline" role="status">
              Pick a metric, or write a PromQL query and press Enter.
            </div>
          ) : results.error ? (
            <ErrorBox error={results.error} title="The queries failed" onRetry={results.reload} />
          ) : !outcomes ? (
            <Loading label="Running the queries…" />
          ) : outcomes.every((o) => 'error' in o) ? null : (
            <>
              <MetricsChart queries={state.queries} outcomes={outcomes} exemplars={exemplars.data ?? []} bounds={bounds} onZoom={(range) => go({ ...state, range })} />
              <p class="muted small explore-foot">
                Step {step} s over the range
                <ZoomOutButton range={state.range} anchor={anchor} onRange={(range) => go({ ...state, range })} />
              </p>
            </>
          )}
        </div>
      </div>
    </div>
  );
}
