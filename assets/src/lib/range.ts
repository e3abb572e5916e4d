// Time ranges in URLs: a preset lookback (`lookback=15m`) or an absolute
// range (`start` and `end` in unix milliseconds), as the API takes them.
// A lookback stays relative in the URL (a shared link means "the last 15
// minutes" when opened) but is resolved to absolute times once per search
// (the history entry's anchor), so paging and Back see the same window.

export const PRESETS: [string, string][] = [
  ['5m', 'Last 5 minutes'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
];

export interface TimeRange {
  lookback?: string;
  start?: number;
  end?: number;
}

export const DEFAULT_LOOKBACK = '1h';

export function rangeFromQuery(query: URLSearchParams): TimeRange {
  const start = Number(query.get('start'));
  const end = Number(query.get('end'));
  if (query.get('start') && query.get('end') && Number.isFinite(start) && Number.isFinite(end) && end > start) {
    return { start, end };
  }
  return { lookback: query.get('lookback') || DEFAULT_LOOKBACK };
}

/** A range from the URL, `fallback` when it names none. */
export function rangeOr(query: URLSearchParams, fallback: string): TimeRange {
  if (query.get('lookback') || (query.get('start') && query.get('end'))) return rangeFromQuery(query);
  return { lookback: fallback };
}

/** The range as URL values, left out when it is `fallback`. */
export function rangeUrl(range: TimeRange, fallback: string): Record<string, string | undefined> {
  if (range.start !== undefined && range.end !== undefined) return { start: String(Math.round(range.start)), end: String(Math.round(range.end)) };
  return { lookback: range.lookback && range.lookback !== fallback ? range.lookback : undefined };
}

/** Query values for the URL and the API. */
export function rangeQuery(range: TimeRange): Record<string, string | undefined> {
  if (range.start !== undefined && range.end !== undefined) {
    return { start: String(Math.round(range.start)), end: String(Math.round(range.end)) };
  }
  return { lookback: range.lookback && range.lookback !== DEFAULT_LOOKBACK ? range.lookback : undefined };
}

/** API parameters: the range resolved at `anchor`, in unix milliseconds. */
export function rangeParams(range: TimeRange, anchor: number): Record<string, string> {
  const [start, end] = resolveRange(range, anchor);
  return { start: String(Math.floor(start)), end: String(Math.ceil(end)) };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function lookbackMs(lookback: string): number {
  const match = /^(\d+)([smhdw])$/.exec(lookback.trim());
  return match ? Number(match[1]) * UNIT_MS[match[2]] : 3_600_000;
}

/** Absolute bounds of a range in milliseconds, a lookback ending at `now`. */
export function resolveRange(range: TimeRange, now = Date.now()): [number, number] {
  if (range.start !== undefined && range.end !== undefined) return [range.start, range.end];
  return [now - lookbackMs(range.lookback ?? DEFAULT_LOOKBACK), now];
}

export function describeRange(range: TimeRange): string {
  if (range.start !== undefined && range.end !== undefined) return 'Custom range';
  return PRESETS.find(([value]) => value === range.lookback)?.[1] ?? `Last ${range.lookback}`;
}

/** Auto-refresh choices (`refresh=` in the URL); '' is off. */
export const REFRESH_INTERVALS: [string, string][] = [
  ['', 'Off'],
  ['5s', '5s'],
  ['30s', '30s'],
  ['1m', '1m'],
];

/** The auto-refresh period in ms, or 0 for off or an unknown value. */
export function refreshMs(value: string | null): number {
  return value && REFRESH_INTERVALS.some(([known]) => known === value) ? lookbackMs(value) : 0;
}

/** The range twice as long around the same middle, not past now: what
 * "zoom out" on a time chart opens. */
export function zoomOut(range: TimeRange, anchor: number, now = Date.now()): TimeRange {
  const [start, end] = resolveRange(range, anchor);
  const length = Math.max(end - start, 1000);
  const newEnd = Math.min(end + length / 2, Math.max(now, end));
  return { start: Math.round(newEnd - 2 * length), end: Math.round(newEnd) };
}
