// Stable colours per service and per log severity, readable on light and
// dark backgrounds alike.

/** Distinct colours, in order: services hash into it, chart series take it in turn. */
export const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2',
  '#edc948', '#ff9da7', '#9c755f', '#7a8fd6', '#4fb39a',
  '#d37295', '#a0cbe8',
];

const assigned = new Map<string, string>();

export function serviceColor(service: string): string {
  let color = assigned.get(service);
  if (!color) {
    let hash = 2166136261;
    for (let i = 0; i < service.length; i++) {
      hash ^= service.charCodeAt(i);
      hash = Math.imul(hash, 16777619);
    }
    color = PALETTE[(hash >>> 0) % PALETTE.length];
    assigned.set(service, color);
  }
  return color;
}

export type SeverityClass = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'unset';

export function severityClass(text: string, number = 0): SeverityClass {
  const upper = text.toUpperCase();
  if (upper.startsWith('FATAL') || upper.startsWith('CRIT') || upper.startsWith('EMERG') || upper.startsWith('ALERT') || number >= 21) return 'fatal';
  if (upper.startsWith('ERR') || (number >= 17 && number < 21)) return 'error';
  if (upper.startsWith('WARN') || (number >= 13 && number < 17)) return 'warn';
  if (upper.startsWith('INFO') || upper.startsWith('NOTICE') || (number >= 9 && number < 13)) return 'info';
  if (upper.startsWith('DEBUG') || (number >= 5 && number < 9)) return 'debug';
  if (upper.startsWith('TRACE') || (number >= 1 && number < 5)) return 'trace';
  return 'unset';
}

export const SEVERITY_COLORS: Record<SeverityClass, string> = {
  fatal: '#a1122a',
  error: '#e5484d',
  warn: '#f5a524',
  info: '#3e8ed0',
  debug: '#8b96a5',
  trace: '#b8c0cc',
  unset: '#9d7fe0',
};

export const SEVERITY_ORDER: SeverityClass[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'unset'];
