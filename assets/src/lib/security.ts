// Managed ingest keys and the audit log (docs/API.md, "Auth and audit").
import { getJson, sendJson, type ApiError, type Params } from './api';

/** A 400's message for under its field: without the "field name: " the
 * server starts it with, capitalised. */
export function fieldMessage(error: ApiError): string {
  const prefix = `field ${error.field}: `;
  const message = error.field && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return message.charAt(0).toUpperCase() + message.slice(1);
}

export interface ApiKey {
  id: number;
  name: string;
  /** The key's first characters (`lk_AbCd1234`): all that is kept to show. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

/** The answer to a create: the only time the whole key is seen. */
export interface CreatedKey extends Omit<ApiKey, 'last_used_at'> {
  key: string;
  last_used_at?: string | null;
}

export const listKeys = (signal?: AbortSignal) => getJson<{ keys: ApiKey[] }>('/api/keys', {}, signal).then((answer) => answer.keys);
export const createKey = (name: string) => sendJson<CreatedKey>('POST', '/api/keys', { name }) as Promise<CreatedKey>;
export const revokeKey = (id: number) => sendJson<null>('DELETE', `/api/keys/${encodeURIComponent(String(id))}`).then(() => undefined);

/** What a sender needs, as OpenTelemetry SDK environment variables. */
export function exporterSnippet(key: string, origin = location.origin): string {
  return `OTEL_EXPORTER_OTLP_ENDPOINT=${origin}\nOTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20${key}`;
}

export interface AuditEvent {
  id: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  remote_addr: string | null;
  outcome: 'ok' | 'failed';
  details: Record<string, unknown> | null;
}

export interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

export const listAudit = (params: Params, signal?: AbortSignal) => getJson<AuditPage>('/api/audit', params, signal);

/** The action filters offered: a value ending in `.` matches by prefix. */
export const AUDIT_ACTIONS: [string, string][] = [
  ['', 'All actions'],
  ['auth.', 'Logins and passwords (auth.)'],
  ['key.', 'API keys (key.)'],
  ['alert_rule.', 'Alert rules (alert_rule.)'],
  ['alert.', 'Alerts (alert.)'],
  ['notification.', 'Notifications (notification.)'],
  ['dashboard.', 'Dashboards (dashboard.)'],
  ['error_group.', 'Error groups (error_group.)'],
  ['retention.', 'Retention (retention.)'],
];

/** Lookbacks offered; '' is everything kept (the API's default). */
export const AUDIT_LOOKBACKS: [string, string][] = [
  ['', 'Everything kept'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];

export interface AuditFilters {
  action: string;
  outcome: '' | 'ok' | 'failed';
  actor: string;
  lookback: string;
  /** Page size (1–1000); '' is the page's default. */
  limit: string;
}

export function auditFilters(query: URLSearchParams): AuditFilters {
  const outcome = query.get('outcome');
  const limit = query.get('limit') ?? '';
  return {
    action: query.get('action') ?? '',
    outcome: outcome === 'ok' || outcome === 'failed' ? outcome : '',
    actor: query.get('actor') ?? '',
    lookback: query.get('lookback') ?? '',
    limit: /^\d+$/.test(limit) && Number(limit) >= 1 && Number(limit) <= 1000 ? limit : '',
  };
}

/** Compact JSON of an event's details; '' when there are none. */
export function detailsText(details: AuditEvent['details']): string {
  if (!details || (typeof details === 'object' && Object.keys(details).length === 0)) return '';
  return JSON.stringify(details);
}
