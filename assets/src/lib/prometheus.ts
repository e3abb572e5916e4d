// The Prometheus-compatible API (`/prometheus/api/v1/…`, docs/API.md) as
// the metrics explorer reads it: metric names (stored and span-derived
// families), range queries with a step that keeps them under a thousand
// points, exemplars, series, in the shapes the chart draws.
import { getJson, type Params } from './api';
import { quoteLabel, type MetricInfo } from './promql';

export async function metricNames(signal?: AbortSignal): Promise<MetricInfo[]> {
  const answer = await getJson<{ metrics: MetricInfo[] }>('/api/metrics/names', {}, signal);
  return answer.metrics;
}

/** Nice steps in seconds. */
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** A step (seconds) that keeps `[start, end]` (ms) to at most `points` points. */
export function stepSeconds(start: number, end: number, points = 1000): number {
  const wanted = (end - start) / 1000 / points;
  return STEPS.find((step) => step >= wanted) ?? Math.ceil(wanted / 86400) * 86400;
}

export type Labels = Record<string, string>;

/** One series of a range query: its labels and `[unix seconds, value]` pairs. */
export interface RangeSeries {
  metric: Labels;
  values: [number, number][];
}

interface PromSuccess<T> {
  status: 'success';
  data: T;
  warnings?: string[];
}

function prom<T>(path: string, params: Params, signal?: AbortSignal): Promise<T> {
  return getJson<PromSuccess<T>>(`/prometheus/api/v1/${path}`, params, signal).then((answer) => answer.data);
}

/** Seconds as the Prometheus API takes them. */
const seconds = (ms: number) => (ms / 1000).toFixed(3).replace(/\.?0+$/, '');

export async function queryRange(query: string, start: number, end: number, step: number, signal?: AbortSignal): Promise<RangeSeries[]> {
  const data = await prom<{ resultType: string; result: { metric: Labels; values?: [number, string][]; value?: [number, string] }[] | [number, string] }>(
    'query_range',
    { query, start: seconds(start), end: seconds(end), step: String(step) },
    signal,
  );
  if (data.resultType !== 'matrix' || !Array.isArray(data.result)) return [];
  return (data.result as { metric: Labels; values?: [number, string][] }[]).map((series) => ({
    metric: series.metric ?? {},
    values: (series.values ?? []).map(([t, v]) => [Number(t), Number(v)] as [number, number]),
  }));
}

export interface Exemplar {
  series: Labels;
  labels: Labels;
  value: number;
  /** Unix seconds. */
  time: number;
  traceId?: string;
  spanId?: string;
}

export async function queryExemplars(query: string, start: number, end: number, signal?: AbortSignal): Promise<Exemplar[]> {
  const data = await prom<{ seriesLabels: Labels; exemplars: { labels: Labels; value: string; timestamp: number }[] }[]>(
    'query_exemplars',
    { query, start: seconds(start), end: seconds(end) },
    signal,
  );
  return (data ?? []).flatMap((group) =>
    group.exemplars.map((e) => ({
      series: group.seriesLabels,
      labels: e.labels,
      value: Number(e.value),
      time: Number(e.timestamp),
      traceId: e.labels.trace_id || e.labels.traceID || undefined,
      spanId: e.labels.span_id || e.labels.spanID || undefined,
    })),
  );
}

/** The label sets of the series `selector` matches over `[start, end]` (ms). */
export function seriesOf(selector: string, start: number, end: number, signal?: AbortSignal): Promise<Labels[]> {
  return prom<Labels[]>('series', { 'match[]': selector, start: seconds(start), end: seconds(end) }, signal);
}

/** `{a="1", b="2"}` without `__name__`; the metric name in front when it has one. */
export function seriesName(labels: Labels): string {
  const pairs = Object.entries(labels)
    .filter(([key]) => key !== '__name__')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${quoteLabel(value)}`);
  return `${labels.__name__ ?? ''}{${pairs.join(', ')}}`;
}
