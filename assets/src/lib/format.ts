// Formatting of times, durations, sizes and counts for display.

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

function sameDay(a: Date, b: Date) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local time for tables: `14:03:21.123`, with the date when not today. */
export function formatLocal(ms: number, withMillis = true): string {
  const date = new Date(ms);
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const millis = withMillis ? `.${pad(date.getMilliseconds(), 3)}` : '';
  if (sameDay(date, new Date())) return time + millis;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}${millis}`;
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
