// Span-derived service metrics (`/api/metrics/red`, `/api/metrics/summary`):
// step choice, merging the per-kind groups of a summary, links into the
// trace search, and the per-operation baselines the trace view compares
// spans with.
import { getJson, type Red, type RedPoint, type SummaryGroup } from './api';
import { href } from './router';

const MINUTE_MS = 60_000;

/** A step for `[start, end]` (ms) that gives at most `points` steps: the
 * API takes whole minutes only. */
export function stepFor(start: number, end: number, points: number): number {
  return Math.max(1, Math.ceil((end - start) / MINUTE_MS / points)) * MINUTE_MS;
}

export function stepParam(stepMs: number): string {
  return `${stepMs / MINUTE_MS}m`;
}

export async function redSeries(
  params: { service: string; start: string; end: string; step: number },
  signal?: AbortSignal,
): Promise<RedPoint[]> {
  const { step, ...rest } = params;
  const answer = await getJson<{ series: RedPoint[] }>('/api/metrics/red', { ...rest, step: stepParam(step) }, signal);
  return answer.series;
}

/** A service's numbers over all its entry span kinds. */
export interface RedRow extends Red {
  service: string;
  /** Span kinds counted; more than one means the percentiles are bounds. */
  kinds: string[];
}

function pickRed(red: Red): Red {
  const { request_count, error_count, request_rate, error_rate, p50_ms, p95_ms, p99_ms } = red;
  return { request_count, error_count, request_rate, error_rate, p50_ms, p95_ms, p99_ms };
}

/** One row per service from a summary grouped by service, which answers
 * one group per span kind. Counts and rates add up; percentiles of
 * separate histograms cannot be merged, so a service with both server and
 * consumer spans shows the larger of each (an upper bound of the merged
 * percentile). */
export function mergeKinds(groups: SummaryGroup[]): Map<string, RedRow> {
  const out = new Map<string, RedRow>();
  const max = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  for (const group of groups) {
    const row = out.get(group.service);
    if (!row) {
      out.set(group.service, { ...pickRed(group), service: group.service, kinds: [group.span_kind] });
      continue;
    }
    row.request_count += group.request_count;
    row.error_count += group.error_count;
    row.request_rate += group.request_rate;
    row.error_rate = row.request_count ? row.error_count / row.request_count : 0;
    row.p50_ms = max(row.p50_ms, group.p50_ms);
    row.p95_ms = max(row.p95_ms, group.p95_ms);
    row.p99_ms = max(row.p99_ms, group.p99_ms);
    row.kinds.push(group.span_kind);
  }
  return out;
}

/** Requests per second, or per minute when below one a second (a quiet
 * service would read "0.00/s"). */
export function formatRequestRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  if (perSecond === 0) return '0/s';
  if (perSecond >= 1) return `${perSecond < 10 ? perSecond.toFixed(2) : Math.round(perSecond)}/s`;
  const perMinute = perSecond * 60;
  if (perMinute < 0.01) return '<0.01/min';
  return `${perMinute < 10 ? perMinute.toFixed(2) : Math.round(perMinute)}/min`;
}

/** The trace search for the spans of one step (`[time, time + step)`),
 * inclusive bounds in ms as the search takes them. */
export function stepTracesUrl(service: string, point: RedPoint, stepMs: number, filters: Record<string, string>): string {
  const start = Date.parse(point.time);
  return href('/traces', { service, ...filters, start, end: start + stepMs - 1 });
}

/** A duration filter value that the step's p95 itself passes: two
 * decimals, rounded down. */
export function minDurationFilter(ms: number): string {
  return String(Math.floor(ms * 100) / 100);
}

// The trace view compares each span with its operation over the last
// hour: one summary per service, kept for a minute so moving between the
// spans of a trace asks once.
const BASELINE_TTL_MS = 60_000;
const baselines = new Map<string, { at: number; groups: Promise<SummaryGroup[]> }>();

export function operationBaselines(service: string): Promise<SummaryGroup[]> {
  const cached = baselines.get(service);
  if (cached && Date.now() - cached.at < BASELINE_TTL_MS) return cached.groups;
  const groups = getJson<{ groups: SummaryGroup[] }>('/api/metrics/summary', {
    group_by: 'operation',
    service,
    span_kind: 'all',
    lookback: '1h',
  }).then((answer) => answer.groups);
  // A failed request is not kept: the next span asks again.
  groups.catch(() => baselines.delete(service));
  baselines.set(service, { at: Date.now(), groups });
  return groups;
}
