// The HTTP API of lookout (docs/API.md): typed requests and errors that
// carry the server's message. Requests are authenticated by the session
// cookie the login sets (the browser sends it; scripts cannot read it); a
// 401 brings the login page back.
import { useEffect, useRef, useState } from 'preact/hooks';
import { authNeeded } from './store';

export interface Service {
  name: string;
  span_count: number;
  last_seen: string;
}
export interface Operation {
  name: string;
  span_kind: string;
  span_count: number;
}
export interface TraceSummary {
  trace_id: string;
  root_service: string | null;
  root_operation: string | null;
  start_time: string;
  duration_ms: number;
  span_count: number;
  error_count: number;
  services: string[];
}
export type Attributes = Record<string, unknown>;
export interface SpanEvent {
  name: string;
  time: string;
  attributes: Attributes;
}
export interface SpanLink {
  trace_id: string;
  span_id: string;
  trace_state: string;
  attributes: Attributes;
}
export interface Span {
  span_id: string;
  parent_span_id: string | null;
  name: string;
  service: string;
  kind: string;
  start_time: string;
  end_time: string;
  duration_ms: number;
  status: { code: 'unset' | 'ok' | 'error'; message: string };
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  resource: Attributes;
  scope: { name: string; version: string };
}
export interface Trace {
  trace_id: string;
  spans: Span[];
}
export interface LogRecord {
  id: string;
  timestamp: string;
  observed_timestamp: string;
  severity_text: string;
  severity_number: number;
  service: string;
  body: unknown;
  trace_id: string | null;
  span_id: string | null;
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version?: string };
}
export interface LogPage {
  logs: LogRecord[];
  total: number;
  next_cursor: string | null;
}
export interface HistogramBucket {
  start: string;
  end: string;
  counts: Record<string, number>;
}
/** Request, error and duration numbers of a set of spans (docs/API.md,
 * "Service metrics"): rates per second, `error_rate` errors per request,
 * percentiles null without requests. */
export interface Red {
  request_count: number;
  error_count: number;
  request_rate: number;
  error_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}
/** One step of `/api/metrics/red`; `time` is the step's start. */
export interface RedPoint extends Red {
  time: string;
}
/** One group of `/api/metrics/summary`: one per span kind. */
export interface SummaryGroup extends Red {
  service: string;
  operation: string | null;
  span_kind: string;
}
export interface Check {
  status: 'ok' | 'degraded' | 'critical';
  message?: string;
  [key: string]: unknown;
}
export interface DeepHealth {
  status: 'healthy' | 'degraded' | 'critical';
  checks: Record<string, Check>;
}
export interface Stats {
  counts: Record<string, number>;
  storage_bytes: Record<string, number>;
  ingested: { spans: number; logs: number };
  log_days?: string[];
  oldest_trace: string | null;
  newest_trace: string | null;
  /** The oldest record kept, by signal: the effective retention. */
  retention?: Record<'traces' | 'logs' | 'metrics', { oldest: string | null; age_seconds: number | null }>;
  /** Use against `--max-disk` (all null without a budget). */
  disk?: { budget_bytes: number | null; used_bytes: number | null; deleted_before: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** For a rejected log query: the byte offset into `q` it failed at. */
    readonly position?: number,
    /** For a rejected request body: the field the server names
     * (`threshold`, `labels.team`, `channels[0].url`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Where a bad query failed: the error's `position` field, or else the
 * "(at position N)" the parser's message ends with. */
function errorPosition(error: { position?: unknown; message: string }): number | undefined {
  if (typeof error.position === 'number' && Number.isInteger(error.position) && error.position >= 0) return error.position;
  const match = /\(at position (\d+)\)\s*$/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

export type Params = Record<string, string | string[] | number | undefined | null>;

export function apiUrl(path: string, params: Params = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

/** The error an answer that is not a success carries: the server's
 * `{"error": {"code", "message"}}` (or the Prometheus API's shape), else
 * the status line. */
export async function answerError(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${response.status} ${response.statusText}`;
  let position: number | undefined;
  let field: string | undefined;
  try {
    const body = await response.json();
    if (typeof body?.error?.message === 'string') {
      message = body.error.message;
      code = body.error.code ?? code;
      position = errorPosition(body.error);
      if (typeof body.error.field === 'string') field = body.error.field;
    } else if (body?.status === 'error' && typeof body.error === 'string') {
      // The Prometheus API's shape: `{"status": "error", "errorType": "bad_data", "error": "…"}`.
      message = body.error;
      code = typeof body.errorType === 'string' ? body.errorType : code;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, code, message, position, field);
}

async function request(path: string, params: Params, signal?: AbortSignal, ok: number[] = [], init: RequestInit = {}) {
  let response: Response;
  try {
    response = await fetch(apiUrl(path, params), { credentials: 'same-origin', ...init, signal });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'network', `cannot reach lookout (${(error as Error).message})`);
  }
  if (response.ok || ok.includes(response.status)) return response;
  const error = await answerError(response);
  if (response.status === 401) authNeeded(error.message);
  throw error;
}

/** GET a JSON document; statuses in `ok` count as success (e.g. 503 for
 * `/health/deep`, whose body still says what is wrong). */
export async function getJson<T>(path: string, params: Params = {}, signal?: AbortSignal, ok: number[] = []): Promise<T> {
  const response = await request(path, params, signal, ok);
  return (await response.json()) as T;
}

/** Sends `body` as JSON with `method`; the answer's JSON, or null for
 * an empty answer (204). Errors as `getJson`'s, with the field a 400
 * names.
 *
 * Every request that changes state says `Content-Type: application/json`
 * (a POST without a body sends `{}`, a DELETE sends the header alone):
 * the server refuses one authenticated by the session cookie without it,
 * which is what keeps other sites' forms out (CSRF). */
export async function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, params: Params = {}, signal?: AbortSignal): Promise<T | null> {
  const init: RequestInit = { method, headers: { 'Content-Type': 'application/json' } };
  if (body !== undefined) init.body = JSON.stringify(body);
  else if (method !== 'DELETE') init.body = '{}';
  const response = await request(path, params, signal, [], init);
  const text = await response.text();
  return text ? (JSON.parse(text) as T) : null;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const response = await request(path, {}, signal);
  return response.text();
}

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change, cancelling the previous request. Keeps
 * the last data while a reload runs so views do not flash. */
export function useResource<T>(load: ((signal: AbortSignal) => Promise<T>) | null, deps: unknown[]): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: load !== null });
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const current = loadRef.current;
    if (!current) {
      setState({ loading: false });
      return;
    }
    const controller = new AbortController();
    setState((previous) => ({ data: previous.data, loading: true }));
    current(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error: Error) => {
        if (controller.signal.aborted || error.name === 'AbortError') return;
        setState({ error, loading: false });
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, nonce]);
  return { ...state, reload: () => setNonce((n) => n + 1) } as Resource<T>;
}

/** Opens the live tail (an EventSource: the browser sends the session
 * cookie with it). */
export function openTail(
  params: Params,
  onRecord: (record: LogRecord) => void,
  onState: (state: 'open' | 'error', message?: string) => void,
): () => void {
  const source = new EventSource(apiUrl('/api/logs/tail', params));
  source.onopen = () => onState('open');
  source.onerror = () => onState('error', 'the live tail connection was interrupted; retrying');
  source.onmessage = (event) => {
    try {
      onRecord(JSON.parse(event.data) as LogRecord);
    } catch {
      // A malformed event is skipped, the stream goes on.
    }
  };
  return () => source.close();
}
