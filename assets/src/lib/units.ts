// Values of dashboard panels in their unit (docs/API.md, "Dashboards":
// `unit` and `decimals`), and the threshold colour a value falls in.
import { formatBytes, formatDuration } from './format';
import type { Threshold } from './dashboards';

function fixed(value: number, decimals: number | null | undefined, significant = 3): string {
  if (decimals !== null && decimals !== undefined && decimals >= 0) return value.toFixed(Math.min(decimals, 10));
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return String(Math.round(value));
  if (abs >= 1) return String(Number(value.toPrecision(Math.max(significant, String(Math.trunc(abs)).length))));
  return String(Number(value.toPrecision(significant)));
}

/** 1.23K, 4.5M, 0.012 */
export function shortNumber(value: number, decimals?: number | null): string {
  const abs = Math.abs(value);
  const steps: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of steps) if (abs >= size) return `${fixed(value / size, decimals)}${suffix}`;
  return fixed(value, decimals);
}

/** A value as its panel's unit reads. */
export function formatUnit(value: number | null | undefined, unit: string | null | undefined, decimals?: number | null): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const d = decimals ?? null;
  switch (unit ?? '') {
    case 'percent':
      return `${fixed(value, d)}%`;
    case 'percentunit':
      return `${fixed(value * 100, d)}%`;
    case 'ms':
      return d !== null ? `${value.toFixed(d)} ms` : formatDuration(value);
    case 's':
      return d !== null ? `${value.toFixed(d)} s` : formatDuration(value * 1000);
    case 'bytes':
      return formatBytes(value);
    case 'reqps':
      return `${shortNumber(value, d)} req/s`;
    case 'ops':
      return `${shortNumber(value, d)} ops/s`;
    case 'short':
      return shortNumber(value, d);
    default:
      return d !== null ? value.toFixed(d) : Math.abs(value) >= 1e6 ? shortNumber(value) : fixed(value, null, 4);
  }
}

/** The colour of the highest threshold at or below `value`, or undefined
 * below them all. */
export function thresholdColor(value: number | null | undefined, thresholds: Threshold[] | undefined): string | undefined {
  if (value === null || value === undefined || !Number.isFinite(value) || !thresholds?.length) return undefined;
  let color: string | undefined;
  for (const step of thresholds) {
    if (step.value === null || step.value === undefined || !Number.isFinite(step.value) || value >= step.value) color = step.color;
  }
  return color;
}

/** A threshold colour as CSS takes it: a colour name or `#rrggbb`;
 * Grafana's own names are mapped to the palette's. */
const NAMED: Record<string, string> = {
  green: '#2f9e44',
  red: '#e03131',
  orange: '#f08c00',
  yellow: '#f2c200',
  blue: '#1f6feb',
  purple: '#9c36b5',
  'dark-red': '#a61e1e',
  'semi-dark-red': '#c92a2a',
  'light-red': '#ff6b6b',
  'dark-green': '#237032',
  'semi-dark-green': '#2b8a3e',
  'light-green': '#69db7c',
  'dark-orange': '#d9480f',
  'semi-dark-orange': '#e8590c',
  'light-orange': '#ffa94d',
  'dark-yellow': '#e0a800',
  'light-yellow': '#ffe066',
  text: 'currentColor',
  transparent: 'transparent',
};

export function cssColor(color: string | undefined): string | undefined {
  if (!color) return undefined;
  const named = NAMED[color.toLowerCase()];
  if (named) return named;
  if (/^#[0-9a-fA-F]{3,8}$/.test(color) || /^[a-zA-Z]+$/.test(color)) return color;
  return undefined;
}
