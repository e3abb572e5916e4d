// One service: its RED numbers over time (requests, errors, latency
// percentiles of its entry spans) and its operations. A click on a step of
// the error or latency chart opens the trace search for that step.
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import { getJson, useResource, type RedPoint, type SummaryGroup } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { formatCount, formatDuration, formatLocal, formatPercent, plural } from '../lib/format';
import { formatRequestRate, mergeKinds, minDurationFilter, redSeries, stepFor, stepTracesUrl } from '../lib/metrics';
import { exploreMetricUrl, quoteLabel } from '../lib/promql';
import { rangeFromQuery, rangeParams, rangeQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { backLink, href, navigate } from '../lib/router';
import { searchAnchor, useAutoRefresh } from '../lib/search';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading } from '../components/common';
import { RangeControls } from '../components/RangeControls';
import { ZoomOutButton } from '../components/ZoomOut';
import { parseSort, redColumns, RedTable, sortText, type Column, type Sort } from '../components/RedTable';

/** Chart resolution: at most this many steps over the range. */
const CHART_POINTS = 120;
const DEFAULT_SORT: Sort = { key: 'request_count', descending: true };

interface State {
  range: TimeRange;
  refresh: string;
  sort: string;
}

function stateUrl(service: string, state: State): string {
  return href(`/services/${encodeURIComponent(service)}`, { ...rangeQuery(state.range), refresh: state.refresh, sort: state.sort });
}

interface Line {
  label: string;
  color: string;
  values: (number | null)[];
}

/** One RED chart over the steps of `points`. `onStep`, when given, makes
 * the steps it accepts clickable (it returns the URL to open or null). */
function RedChart({
  name,
  label,
  points,
  stepMs,
  bounds,
  lines,
  format,
  onStep,
}: {
  name: string;
  label: string;
  points: RedPoint[];
  stepMs: number;
  bounds: [number, number];
  lines: Line[];
  format: (value: number) => string;
  onStep?: (index: number) => string | null;
}) {
  const data = useMemo<uPlot.AlignedData>(
    () => [points.map((p) => Date.parse(p.time) / 1000), ...lines.map((line) => line.values)],
    // `lines` derive from `points`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [points],
  );
  const first = points.length ? Date.parse(points[0].time) : bounds[0];
  const last = points.length ? Date.parse(points[points.length - 1].time) + stepMs : bounds[1];
  return (
    <Chart
      label={label}
      height={170}
      class={`red-chart ${name}-chart`}
      data={data}
      options={(theme) => ({
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        scales: {
          // Steps may start before the range and end after it: they count
          // whole minutes.
          x: { time: true, range: () => [Math.min(first, bounds[0]) / 1000, Math.max(last, bounds[1]) / 1000] },
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [timeAxis(theme), axis(theme, { size: 62, values: (_u, values) => values.map((v) => (v == null ? '' : format(v))) })],
        series: [
          { value: (_u, v) => (v == null ? '–' : formatLocal(v * 1000, false)) },
          ...lines.map((line) => ({
            label: line.label,
            stroke: line.color,
            width: 1.5,
            fill: lines.length === 1 ? `${line.color}22` : undefined,
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : format(v)),
          })),
        ],
        hooks: onStep
          ? {
              ready: [
                (u: uPlot) =>
                  u.over.addEventListener('click', () => {
                    const index = u.cursor.idx;
                    const url = index == null ? null : onStep(index);
                    if (url) navigate(url);
                  }),
              ],
              setCursor: [
                (u: uPlot) => {
                  const index = u.cursor.idx;
                  u.over.style.cursor = index != null && onStep(index) ? 'pointer' : '';
                },
              ],
            }
          : {},
      })}
    />
  );
}

function RedCharts({
  service,
  points,
  stepMs,
  bounds,
  zoom,
}: {
  service: string;
  points: RedPoint[];
  stepMs: number;
  bounds: [number, number];
  zoom: preact.ComponentChildren;
}) {
  // A quiet service reads better per minute than in hundredths per second.
  const perMinute = Math.max(0, ...points.map((p) => p.request_rate)) < 1;
  const noRequests = (p: RedPoint) => p.request_count === 0;
  return (
    <div class="red-charts">
      <section class="card chart-card" aria-label="Requests">
        <div class="card-head">
          <h2>Requests {perMinute ? 'per minute' : 'per second'}</h2>
          {zoom}
        </div>
        <RedChart
          name="requests"
          label="Requests over time"
          points={points}
          stepMs={stepMs}
          bounds={bounds}
          lines={[{ label: 'requests', color: '#4e79a7', values: points.map((p) => p.request_rate * (perMinute ? 60 : 1)) }]}
          format={(v) => `${formatCount(Number(v.toPrecision(3)))}`}
        />
      </section>
      <section class="card chart-card" aria-label="Errors">
        <div class="card-head">
          <h2>Error rate</h2>
          <span class="muted small">click a step: its error traces</span>
          {zoom}
        </div>
        <RedChart
          name="errors"
          label="Error rate over time"
          points={points}
          stepMs={stepMs}
          bounds={bounds}
          lines={[{ label: 'errors', color: '#e5484d', values: points.map((p) => (noRequests(p) ? null : p.error_rate)) }]}
          format={formatPercent}
          onStep={(i) => (points[i]?.error_count > 0 ? stepTracesUrl(service, points[i], stepMs, { status: 'error' }) : null)}
        />
      </section>
      <section class="card chart-card" aria-label="Latency">
        <div class="card-head">
          <h2>Latency</h2>
          <span class="muted small">click a step: traces at or above its p95</span>
          {zoom}
        </div>
        <RedChart
          name="latency"
          label="Latency percentiles over time"
          points={points}
          stepMs={stepMs}
          bounds={bounds}
          lines={[
            { label: 'p50', color: '#59a14f', values: points.map((p) => p.p50_ms) },
            { label: 'p95', color: '#f28e2b', values: points.map((p) => p.p95_ms) },
            { label: 'p99', color: '#b07aa1', values: points.map((p) => p.p99_ms) },
          ]}
          format={formatDuration}
          onStep={(i) => {
            const p95 = points[i]?.p95_ms;
            return p95 == null ? null : stepTracesUrl(service, points[i], stepMs, { min_duration_ms: minDurationFilter(p95) });
          }}
        />
      </section>
    </div>
  );
}

function Totals({ groups }: { groups: SummaryGroup[] }) {
  const total = [...mergeKinds(groups).values()][0];
  if (!total) return <p class="muted">No server or consumer spans in this time range.</p>;
  const bound = total.kinds.length > 1 ? `The larger of the ${total.kinds.join(' and ')} spans' percentiles` : undefined;
  return (
    <dl class="trace-facts service-facts" data-testid="service-totals">
      <div>
        <dt>Requests</dt>
        <dd class="num">{formatCount(total.request_count)}</dd>
      </div>
      <div>
        <dt>Rate</dt>
        <dd class="num">{formatRequestRate(total.request_rate)}</dd>
      </div>
      <div>
        <dt>Errors</dt>
        <dd class="num">{formatPercent(total.error_rate)}</dd>
      </div>
      {(['p50_ms', 'p95_ms', 'p99_ms'] as const).map((key) => (
        <div key={key} title={bound}>
          <dt>{key.slice(0, 3)}</dt>
          <dd class="num">{total[key] == null ? '–' : formatDuration(total[key]!)}</dd>
        </div>
      ))}
    </dl>
  );
}

interface OperationRow extends SummaryGroup {
  operation: string;
}

export function ServicePage({ service, query }: { service: string; query: URLSearchParams }) {
  const state: State = { range: rangeFromQuery(query), refresh: query.get('refresh') ?? '', sort: query.get('sort') ?? '' };
  const anchor = searchAnchor();
  const params = rangeParams(state.range, anchor);
  const bounds = resolveRange(state.range, anchor) as [number, number];
  const stepMs = stepFor(bounds[0], bounds[1], CHART_POINTS);
  const series = useResource((signal) => redSeries({ service, start: params.start, end: params.end, step: stepMs }, signal), [service, params.start, params.end]);
  const summary = useResource(
    (signal) =>
      Promise.all([
        getJson<{ groups: SummaryGroup[] }>('/api/metrics/summary', { group_by: 'service', service, ...params }, signal),
        // Every kind: a service's outgoing calls are its operations too.
        getJson<{ groups: SummaryGroup[] }>('/api/metrics/summary', { group_by: 'operation', service, span_kind: 'all', ...params }, signal),
      ]),
    [service, params.start, params.end],
  );
  useAutoRefresh(refreshMs(state.refresh));

  const operationColumns: Column<OperationRow>[] = [
    { key: 'operation', label: 'Operation', value: (row) => row.operation, render: (row) => row.operation },
    { key: 'span_kind', label: 'Kind', value: (row) => row.span_kind, render: (row) => <span class="muted">{row.span_kind}</span> },
    ...redColumns<OperationRow>(),
  ];
  const operations = (summary.data?.[1].groups ?? []).filter((g): g is OperationRow => g.operation !== null);
  const loading = series.loading || summary.loading;

  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a {...backLink('/services')}>Services</a> /
          </div>
          <h1>
            <span class="swatch swatch-large" style={{ background: serviceColor(service) }} aria-hidden="true" /> {service}
          </h1>
        </div>
        {summary.data && <Totals groups={summary.data[0].groups} />}
      </div>
      <div class="toolbar explore-links">
        <span class="muted small">Explore in Metrics:</span>
        <a class="btn btn-small" data-testid="explore-calls" href={exploreMetricUrl('traces_span_metrics_calls_total', 'counter', `service_name=${quoteLabel(service)}`, state.range)}>
          Call rate
        </a>
        <a
          class="btn btn-small"
          data-testid="explore-durations"
          href={exploreMetricUrl('traces_span_metrics_duration_milliseconds', 'histogram', `service_name=${quoteLabel(service)}`, state.range)}
        >
          Duration percentiles
        </a>
      </div>
      <RangeControls
        range={state.range}
        refresh={state.refresh}
        loading={loading}
        onRange={(range) => navigate(stateUrl(service, { ...state, range }))}
        onRefresh={(refresh) => navigate(stateUrl(service, { ...state, refresh }), { replace: true })}
      />
      {series.error ? (
        <ErrorBox error={series.error} title="Could not load the service's metrics" onRetry={series.reload} />
      ) : series.data ? (
        <RedCharts
          service={service}
          points={series.data}
          stepMs={stepMs}
          bounds={bounds}
          zoom={<ZoomOutButton range={state.range} anchor={anchor} onRange={(range) => navigate(stateUrl(service, { ...state, range }))} />}
        />
      ) : (
        <Loading label="Loading metrics…" />
      )}
      <section class="card" aria-label="Operations">
        <div class="card-head">
          <h2 data-testid="operation-count">{summary.data ? plural(operations.length, 'operation') : 'Operations'}</h2>
          <a class="btn btn-small" href={href('/traces', { service, ...rangeQuery(state.range) })}>
            Traces of {service}
          </a>
        </div>
        {summary.error ? (
          <ErrorBox error={summary.error} title="Could not load the operations" onRetry={summary.reload} />
        ) : !summary.data ? (
          <Loading label="Loading operations…" />
        ) : operations.length === 0 ? (
          <div class="empty-inline">No spans of {service} in this time range.</div>
        ) : (
          <RedTable
            label="Operations"
            rows={operations}
            columns={operationColumns}
            sort={parseSort(state.sort, DEFAULT_SORT)}
            onSort={(sort) => navigate(stateUrl(service, { ...state, sort: sortText(sort) }), { replace: true })}
            rowKey={(row) => `${row.operation} (${row.span_kind})`}
            rowLink={(row) => href('/traces', { service, operation: row.operation, ...rangeQuery(state.range) })}
          />
        )}
      </section>
    </div>
  );
}
