// Formatting of times, durations, sizes and counts for display. Times
// are shown in the zone chosen in the header (the browser's, or UTC).
import { getZone } from './store';

/** Milliseconds since the epoch of an RFC 3339 time, keeping the
 * sub-millisecond digits as a fraction (spans can be microseconds long). */
export function parseTime(iso: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!match) return Date.parse(iso);
  const whole = Date.parse(match[1] + match[3]);
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return whole + fraction;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export interface TimeParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** The calendar and clock of `ms` in the chosen zone. */
export function timeParts(ms: number): TimeParts {
  const d = new Date(ms);
  if (getZone() === 'utc') {
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), millisecond: d.getUTCMilliseconds() };
  }
  return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds(), millisecond: d.getMilliseconds() };
}

/** Unix ms of a calendar time in the chosen zone. */
export function fromParts(p: Omit<TimeParts, 'millisecond'> & { millisecond?: number }): number {
  const ms = p.millisecond ?? 0;
  if (getZone() === 'utc') return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, ms);
  return new Date(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, ms).getTime();
}

export function formatDate(ms: number): string {
  const p = timeParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** `14:03:21` (24-hour clock) in the chosen zone. */
export function formatClock(ms: number, withSeconds = true): string {
  const p = timeParts(ms);
  return withSeconds ? `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}` : `${pad(p.hour)}:${pad(p.minute)}`;
}

// Today's date in the chosen zone, worked out at most once a second
// (tables format a thousand times at once).
let todayCache = { at: 0, zone: '', date: '' };
function today(): string {
  const now = Date.now();
  if (now - todayCache.at > 1000 || todayCache.zone !== getZone()) todayCache = { at: now, zone: getZone(), date: formatDate(now) };
  return todayCache.date;
}

/** A time for tables: `14:03:21.123`, with the date when not today, in
 * the chosen zone. */
export function formatTime(ms: number, withMillis = true): string {
  const p = timeParts(ms);
  const time = `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
  const millis = withMillis ? `.${pad(p.millisecond, 3)}` : '';
  const date = `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  if (date === today()) return time + millis;
  return `${date} ${time}${millis}`;
}

/** The name every page uses: times follow the chosen zone. */
export const formatLocal = formatTime;

/** `2026-12-02 14:03:21` in the chosen zone, what the range inputs take. */
export function formatDateTime(ms: number): string {
  return `${formatDate(ms)} ${formatClock(ms)}`;
}

/** Parses `2026-12-02 14:03` or `2026-12-02 14:03:21` (a `T` works as
 * the separator too) in the chosen zone. */
export function parseDateTime(text: string): number | undefined {
  const m = /^\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?\s*$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const millisecond = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const ms = fromParts({ year, month, day, hour, minute, second, millisecond });
  // 2026-02-31 and the like roll over: not a real date.
  const back = timeParts(ms);
  if (back.day !== day || back.month !== month) return undefined;
  return Number.isFinite(ms) ? ms : undefined;
}

/** The offset of the browser's zone at `ms`, as `UTC+01:00`. */
function offsetLabel(ms: number): string {
  const minutes = -new Date(ms).getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  return `UTC${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

/** The chosen zone as shown: `UTC`, or the browser's zone and offset. */
export function zoneLabel(): string {
  if (getZone() === 'utc') return 'UTC';
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const offset = offsetLabel(Date.now());
  return name && name !== 'UTC' && name !== 'Etc/UTC' ? `${name} (${offset})` : `local (${offset})`;
}

/** The full UTC time as the server sent it (nanoseconds kept). */
export function utcTitle(iso: string): string {
  return `${iso.replace('T', ' ').replace('Z', '')} UTC`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${(ms * 1000).toPrecision(3).replace(/\.?0+$/, '')} µs`;
  if (ms < 1000) return `${trim(ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0))} ms`;
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(2))} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes}m ${seconds}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

function trim(text: string) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

const numberFormat = new Intl.NumberFormat();
export function formatCount(n: number): string {
  return numberFormat.format(n);
}

/** "1 record", "2 records", "1,234 records"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  if (perSecond === 0) return '0/s';
  if (perSecond < 10) return `${perSecond.toFixed(2)}/s`;
  return `${numberFormat.format(Math.round(perSecond))}/s`;
}

/** A ratio (0..1) as a percentage: "0%", "<0.1%", "2.0%". */
export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return '–';
  if (ratio === 0) return '0%';
  if (ratio < 0.001) return '<0.1%';
  return `${(ratio * 100).toFixed(1)}%`;
}

/** "3 minutes ago" style age of a time. */
export function formatAge(ms: number, now = Date.now()): string {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** A log body or attribute value as one line of text. */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
