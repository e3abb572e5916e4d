// The dashboards API (docs/API.md, "Dashboards"): dashboards with a
// 24-column grid of panels, variables substituted on the server, panel data
// per panel, and the import of Grafana dashboards.
import { getJson, sendJson, type LogRecord, type Params, type TraceSummary } from './api';
import { href, type QueryValue } from './router';
import { rangeFromQuery, type TimeRange } from './range';

export type PanelType = 'timeseries' | 'stat' | 'gauge' | 'bar' | 'pie' | 'table' | 'logs' | 'traces' | 'text';
export type Unit = '' | 'short' | 'percent' | 'percentunit' | 'ms' | 's' | 'bytes' | 'reqps' | 'ops';
export type RedMetric = 'request_rate' | 'error_rate' | 'p50' | 'p95' | 'p99';

export const PANEL_TYPES: { type: PanelType; label: string }[] = [
  { type: 'timeseries', label: 'Time series' },
  { type: 'bar', label: 'Bar chart' },
  { type: 'stat', label: 'Stat' },
  { type: 'gauge', label: 'Gauge' },
  { type: 'pie', label: 'Pie chart' },
  { type: 'table', label: 'Table' },
  { type: 'logs', label: 'Logs' },
  { type: 'traces', label: 'Traces' },
  { type: 'text', label: 'Text' },
];

export const UNITS: { unit: Unit; label: string }[] = [
  { unit: '', label: 'none' },
  { unit: 'short', label: 'short (1.2K)' },
  { unit: 'percent', label: 'percent (0–100)' },
  { unit: 'percentunit', label: 'percent (0–1)' },
  { unit: 'ms', label: 'milliseconds' },
  { unit: 's', label: 'seconds' },
  { unit: 'bytes', label: 'bytes' },
  { unit: 'reqps', label: 'requests/s' },
  { unit: 'ops', label: 'operations/s' },
];

export const RED_METRICS: { metric: RedMetric; label: string }[] = [
  { metric: 'request_rate', label: 'request rate' },
  { metric: 'error_rate', label: 'error rate' },
  { metric: 'p50', label: 'p50 latency' },
  { metric: 'p95', label: 'p95 latency' },
  { metric: 'p99', label: 'p99 latency' },
];

export interface Grid {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Threshold {
  value: number;
  color: string;
}

export interface PromQuery {
  promql: string;
  legend?: string | null;
}
export interface LogsQuery {
  logs: string;
}
export interface RedQuery {
  red: { service: string; operation: string | null; metric: RedMetric };
}
export interface TracesQuery {
  traces: { service: string | null; operation: string | null; status: 'error' | 'ok' | null | ''; min_duration_ms: number | null };
}
export type PanelQuery = PromQuery | LogsQuery | RedQuery | TracesQuery;
export type QueryKind = 'promql' | 'logs' | 'red' | 'traces';

export function queryKind(query: PanelQuery): QueryKind {
  if ('promql' in query) return 'promql';
  if ('logs' in query) return 'logs';
  if ('red' in query) return 'red';
  return 'traces';
}

export interface Panel {
  id: string;
  title: string;
  type: PanelType;
  grid: Grid;
  unit?: Unit | string | null;
  decimals?: number | null;
  thresholds?: Threshold[];
  queries: PanelQuery[];
  options?: Record<string, unknown>;
  description?: string;
}

export interface Variable {
  name: string;
  type: 'query' | 'custom';
  query?: string | null;
  values: string[];
  multi: boolean;
  include_all: boolean;
  default?: string[] | null;
  label?: string | null;
}

export interface DashboardSpec {
  title: string;
  description: string;
  time: { lookback?: string; start?: string; end?: string };
  refresh?: string | null;
  variables: Variable[];
  panels: Panel[];
}

export interface Dashboard extends DashboardSpec {
  id: string;
  builtin: boolean;
  created_at?: string;
  updated_at?: string;
}

export interface DashboardSummary {
  id: string;
  title: string;
  description: string;
  builtin: boolean;
  panel_count: number;
  updated_at: string | null;
}

export interface Series {
  labels: Record<string, string>;
  legend?: string | null;
  points: [number, number | null][];
}

export interface QueryResult {
  kind: QueryKind | string;
  query: string;
  series?: Series[];
  total?: number;
  records?: LogRecord[];
  traces?: TraceSummary[];
}

export interface PanelData {
  panel_id: string;
  start: string;
  end: string;
  step_seconds: number;
  queries: QueryResult[];
  errors: { query: number; message: string }[];
}

export interface VariableState {
  name: string;
  values: string[];
  current: string[];
}

/** "All" of a variable, as `var-NAME` takes it. */
export const ALL = '$__all';

const base = '/api/dashboards';
const one = (id: string) => `${base}/${encodeURIComponent(id)}`;

export const listDashboards = (signal?: AbortSignal) => getJson<{ dashboards: DashboardSummary[] }>(base, {}, signal).then((answer) => answer.dashboards);
export const getDashboard = (id: string, signal?: AbortSignal) => getJson<Dashboard>(one(id), {}, signal);
export const createDashboard = (spec: DashboardSpec | Dashboard | unknown) => sendJson<Dashboard>('POST', base, spec) as Promise<Dashboard>;
export const updateDashboard = (id: string, spec: DashboardSpec) => sendJson<Dashboard>('PUT', one(id), spec) as Promise<Dashboard>;
export const deleteDashboard = (id: string) => sendJson<null>('DELETE', one(id)).then(() => undefined);
export const importGrafana = (model: unknown) => sendJson<{ dashboard: Dashboard; unmapped: string[] }>('POST', `${base}/import/grafana`, model) as Promise<{ dashboard: Dashboard; unmapped: string[] }>;
export const panelData = (id: string, panel: string, params: Params, signal?: AbortSignal) => getJson<PanelData>(`${one(id)}/panels/${encodeURIComponent(panel)}/data`, params, signal);
export const variableStates = (id: string, params: Params, signal?: AbortSignal) =>
  getJson<{ variables: VariableState[] }>(`${one(id)}/variables`, params, signal).then((answer) => answer.variables);

/** The fields a client sends: read-only ones left out. */
export function specOf(dashboard: Dashboard | DashboardSpec): DashboardSpec {
  const { title, description, time, refresh, variables, panels } = dashboard;
  const spec: DashboardSpec = { title, description, time, variables, panels: panels.map(cleanPanel) };
  if (refresh !== undefined && refresh !== null) spec.refresh = refresh || 'off';
  return spec;
}

/** A panel without empty optional parts (an empty legend, a blank unit of
 * null): what the API stores. */
function cleanPanel(panel: Panel): Panel {
  const queries = panel.queries.map((query) => {
    if ('promql' in query && !query.legend) {
      const { legend: _legend, ...rest } = query;
      return rest;
    }
    return query;
  });
  const { description: _description, ...rest } = panel;
  return { ...rest, unit: panel.unit ?? '', thresholds: panel.thresholds ?? [], options: panel.options ?? {}, queries };
}

// ---------------------------------------------------------------------------
// The view's URL: range, refresh, variables (`var-NAME`, repeated), the
// panel shown full screen (`view`).

/** Selected values per variable, from `var-NAME` parameters. */
export function selectedVars(query: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of query) {
    if (!key.startsWith('var-')) continue;
    (out[key.slice(4)] ??= []).push(value);
  }
  return out;
}

/** `var-NAME` parameters for the API and the URL. */
export function varParams(vars: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(vars)) out[`var-${name}`] = values;
  return out;
}

export function dashboardRange(query: URLSearchParams, dashboard: Pick<Dashboard, 'time'>): TimeRange {
  if (query.get('lookback') || (query.get('start') && query.get('end'))) return rangeFromQuery(query);
  const time = dashboard.time ?? {};
  if (time.start && time.end) {
    const start = Date.parse(time.start);
    const end = Date.parse(time.end);
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) return { start, end };
  }
  return { lookback: time.lookback || '6h' };
}

export interface ViewState {
  range: TimeRange;
  /** '' is off; `refresh=off` in the URL when the dashboard has a default. */
  refresh: string;
  vars: Record<string, string[]>;
  view: string | null;
}

/** A dashboard's refresh as the view's ('' is off; the API says `off`). */
export const refreshOf = (refresh: string | null | undefined) => (!refresh || refresh === 'off' ? '' : refresh);

/** The refresh choices a dashboard may store, as the API takes them. */
export const DASHBOARD_REFRESHES = ['off', '5s', '10s', '30s', '1m', '5m', '15m', '1h'];

/** Milliseconds between refreshes ('' and unknown: never). */
export function refreshPeriod(refresh: string): number {
  const match = /^(\d+)([smh])$/.exec(refresh);
  return match ? Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'] : 0;
}

export function viewState(query: URLSearchParams, dashboard: Pick<Dashboard, 'time' | 'refresh'>): ViewState {
  const given = query.get('refresh');
  return {
    range: dashboardRange(query, dashboard),
    refresh: given === null ? refreshOf(dashboard.refresh) : refreshOf(given),
    vars: selectedVars(query),
    view: query.get('view'),
  };
}

export function viewUrl(id: string, dashboard: Pick<Dashboard, 'time' | 'refresh'>, state: ViewState): string {
  const range: Record<string, QueryValue> =
    state.range.start !== undefined && state.range.end !== undefined
      ? { start: String(Math.round(state.range.start)), end: String(Math.round(state.range.end)) }
      : { lookback: state.range.lookback !== (dashboard.time?.lookback || '6h') || dashboard.time?.start ? state.range.lookback : undefined };
  const defaultRefresh = refreshOf(dashboard.refresh);
  const refresh = state.refresh === defaultRefresh ? undefined : state.refresh === '' ? 'off' : state.refresh;
  return href(`/dashboards/${encodeURIComponent(id)}`, { ...range, refresh, ...varParams(state.vars), view: state.view ?? undefined });
}

// ---------------------------------------------------------------------------
// Variables in queries, for the links out of a panel (the server
// substitutes them for the data).

/** `text` with `$name` and `${name}` replaced by the first selected value
 * ("All" and unknown names become `fallback`). */
export function substitute(text: string, current: Record<string, string[]>, fallback = ''): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const values = current[name];
    if (!values) return whole;
    const first = values[0];
    return first === undefined || first === ALL ? fallback : first;
  });
}

/** The `$names` a text uses. */
export function variablesIn(text: string): string[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? m[2]);
}

// ---------------------------------------------------------------------------
// The grid

export const COLUMNS = 24;
export const ROW_HEIGHT = 30;
export const GAP = 8;

export const overlaps = (a: Grid, b: Grid) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** A grid inside the 24 columns. */
export function clampGrid(grid: Grid): Grid {
  const w = Math.max(1, Math.min(COLUMNS, Math.round(grid.w)));
  const h = Math.max(1, Math.min(50, Math.round(grid.h)));
  const x = Math.max(0, Math.min(COLUMNS - w, Math.round(grid.x)));
  const y = Math.max(0, Math.round(grid.y));
  return { x, y, w, h };
}

/** The panels with `moved` where it was put and the panels it lands on
 * pushed down below it (and those they land on, in turn). */
export function placePanel(panels: Panel[], movedId: string, grid: Grid): Panel[] {
  const out = panels.map((p) => (p.id === movedId ? { ...p, grid: clampGrid(grid) } : p));
  const settled = new Set([movedId]);
  const queue = [movedId];
  while (queue.length) {
    const id = queue.shift()!;
    const anchor = out.find((p) => p.id === id)!;
    for (let i = 0; i < out.length; i++) {
      const other = out[i];
      if (other.id === id || settled.has(other.id) || !overlaps(anchor.grid, other.grid)) continue;
      out[i] = { ...other, grid: { ...other.grid, y: anchor.grid.y + anchor.grid.h } };
      settled.add(other.id);
      queue.push(other.id);
    }
  }
  return out;
}

/** Where a new panel goes: below everything, full left. */
export function nextGrid(panels: Panel[], w = 12, h = 8): Grid {
  const bottom = panels.reduce((max, p) => Math.max(max, p.grid.y + p.grid.h), 0);
  return { x: 0, y: bottom, w, h };
}

export function newPanelId(panels: Panel[]): string {
  const taken = new Set(panels.map((p) => p.id));
  for (let n = panels.length + 1; ; n++) if (!taken.has(`p${n}`)) return `p${n}`;
}

/** Panels in reading order: by row, then column. */
export const readingOrder = (panels: Panel[]) => [...panels].sort((a, b) => a.grid.y - b.grid.y || a.grid.x - b.grid.x);

/** A file name for a downloaded dashboard. */
export function fileName(dashboard: Pick<Dashboard, 'id' | 'title'>): string {
  const slug = dashboard.title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return `${slug || dashboard.id.replace(/[^a-zA-Z0-9_-]+/g, '-')}.dashboard.json`;
}
