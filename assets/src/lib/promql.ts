// PromQL as the metrics explorer writes it: metric types, the default
// queries per type, label values quoted, and links into the explorer.
// Matchers in a query's text are `matchers.ts`, the API `prometheus.ts`.
import { href } from './router';
import { rangeQuery, type TimeRange } from './range';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** A metric family as `/api/metrics/names` lists it. */
export interface MetricInfo {
  name: string;
  type: MetricType | string;
  unit: string;
  description: string;
  /** Series of the family (a histogram's buckets, sum and count). */
  series?: number;
}

/** Whether a metric is computed from the stored spans (the server lists
 * these families in `/api/metrics/names` beside the stored ones). */
export function isSpanDerived(name: string): boolean {
  return name.startsWith('traces_span_metrics_') || name.startsWith('traces_service_graph_');
}

/** What a metric is, by its declared type or else its name. */
export function metricKind(metric: Pick<MetricInfo, 'name' | 'type'>): MetricType {
  if (metric.type === 'counter' || metric.type === 'histogram' || metric.type === 'summary' || metric.type === 'gauge') return metric.type;
  if (metric.name.endsWith('_total')) return 'counter';
  if (/_(bucket)$/.test(metric.name)) return 'histogram';
  return 'gauge';
}

/** A histogram's family name without the `_bucket`, `_sum` or `_count` of its series. */
function histogramBase(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '');
}

/** The series name a metric's default query selects. */
export function selectorName(metric: Pick<MetricInfo, 'name' | 'type'>): string {
  return metricKind(metric) === 'histogram' ? `${histogramBase(metric.name)}_bucket` : metric.name;
}

export const QUANTILES = [0.5, 0.95, 0.99];

/** How many series a counter may have before its default sums them by a label. */
const RAW_RATE_SERIES = 8;

/** The label a counter with many series is summed by by default. */
function groupingFor(metric: Pick<MetricInfo, 'name' | 'series'>): string[] | null {
  if (metric.name.startsWith('traces_service_graph_')) return ['client', 'server'];
  if (metric.name.startsWith('traces_span_metrics_')) return ['service_name'];
  if (metric.series !== undefined && metric.series <= RAW_RATE_SERIES) return null;
  return ['job'];
}

/** The queries choosing a metric starts with: a counter's per-second
 * rate (summed by its service when it has many series), a histogram's
 * p50, p95 and p99, a gauge or summary as it is. `matchers` is the text
 * inside `{…}`, e.g. `service_name="shop"`. */
export function defaultQueries(metric: Pick<MetricInfo, 'name' | 'type' | 'series'>, matchers = ''): string[] {
  const selector = `${selectorName(metric)}${matchers ? `{${matchers}}` : ''}`;
  switch (metricKind(metric)) {
    case 'counter': {
      const by = groupingFor(metric);
      const rate = `rate(${selector}[5m])`;
      return [by ? `sum by (${by.join(', ')}) (${rate})` : rate];
    }
    case 'histogram':
      return QUANTILES.map((q) => `histogram_quantile(${q}, sum by (le) (rate(${selector}[5m])))`);
    default:
      return [selector];
  }
}

/** The explorer's URL. */
export function exploreUrl(state: { metric?: string; queries: string[]; range?: TimeRange; refresh?: string }): string {
  return href('/explore', {
    metric: state.metric,
    q: state.queries.filter((q) => q.trim() !== ''),
    ...(state.range ? rangeQuery(state.range) : {}),
    refresh: state.refresh,
  });
}

/** A link into the explorer with `metric`'s default queries. */
export function exploreMetricUrl(name: string, type: MetricType, matchers = '', range?: TimeRange): string {
  return exploreUrl({ metric: name, queries: defaultQueries({ name, type }, matchers), range });
}

/** A label value inside a PromQL string literal. */
export function quoteLabel(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** What a query is called in the legend next to its series' labels, when
 * there are several queries: `p95` for a `histogram_quantile(0.95, …)`,
 * else `#2`. */
export function queryLabel(query: string, index: number): string {
  const quantile = /^\s*histogram_quantile\s*\(\s*([\d.]+)\s*,/.exec(query);
  if (quantile) return `p${Number((Number(quantile[1]) * 100).toPrecision(4))}`;
  return `#${index + 1}`;
}

/** Whether a query answers in its exemplars' unit, so they can share its
 * axis: a histogram's quantiles (exemplars are observations) or a series
 * as it is, but not a rate (exemplars of a counter are counts). */
export function exemplarsFit(query: string): boolean {
  return /\bhistogram_quantile\s*\(/.test(query) || !/\b(rate|irate|increase|delta|idelta|deriv)\s*\(/.test(query);
}
