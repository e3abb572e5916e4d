// The alert API (docs/API.md, "Alerts"): rules, their dry runs and
// previews, instances and their notifications; and how a rule's values
// read (a ratio as a percentage, a latency in ms, …).
import { getJson, sendJson, type Params } from './api';
import { formatCount, formatDuration, plural } from './format';

export type RuleKind = 'error_rate' | 'latency' | 'request_rate' | 'log_count' | 'metric' | 'promql' | 'error_group';
export type Condition = '>' | '>=' | '<' | '<=';
export type RuleState = 'ok' | 'pending' | 'firing' | 'nodata' | 'error';
export type Severity = 'info' | 'warning' | 'critical';
export type NoData = 'ok' | 'keep' | 'firing';
export type ChannelType = 'webhook' | 'slack' | 'alertmanager';
export type InstanceState = 'firing' | 'acknowledged' | 'resolved';
export type Labels = Record<string, string>;

export interface Channel {
  type: ChannelType;
  url: string;
  /** Write-only: `********` in answers when one is stored. */
  secret?: string | null;
}

/** What a client sends: the rule's own fields. */
export interface RuleSpec {
  name: string;
  description: string;
  kind: RuleKind;
  service: string | null;
  operation: string | null;
  query: string | null;
  metric: string | null;
  percentile: number | null;
  condition: Condition;
  threshold: number | null;
  recovery_threshold: number | null;
  window_minutes: number | null;
  for_minutes: number | null;
  keep_firing_minutes: number | null;
  no_data: NoData;
  severity: Severity;
  cooldown_minutes: number | null;
  repeat_minutes: number | null;
  enabled: boolean;
  labels: Labels;
  channels: Channel[];
}

/** A stored rule as the server answers it. */
export interface Rule extends RuleSpec {
  id: string;
  threshold: number;
  window_minutes: number;
  for_minutes: number;
  keep_firing_minutes: number;
  cooldown_minutes: number;
  repeat_minutes: number;
  state: RuleState;
  last_value: number | null;
  last_error: string | null;
  last_evaluated_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface Notification {
  id: string;
  instance_id: string;
  channel: ChannelType;
  url: string;
  event: 'firing' | 'resolved';
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_error: string | null;
  next_attempt_at: string;
  created_at: string;
  delivered_at: string | null;
}

export interface Instance {
  id: string;
  rule_id: string;
  rule_name: string;
  severity: Severity;
  labels: Labels;
  state: InstanceState;
  message: string;
  value: number | null;
  threshold: number;
  started_at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  notifications?: Notification[];
}

export interface InstanceList {
  instances: Instance[];
  counts: { firing: number; acknowledged: number };
}

export interface Evaluation {
  value: number | null;
  would_fire: boolean;
  series: { labels: Labels; value: number | null; would_fire: boolean }[];
}

export interface Preview {
  condition: Condition;
  threshold: number;
  recovery_threshold: number | null;
  series: { labels: Labels; points: [number, number | null][] }[];
}

export type InstanceFilter = 'active' | 'firing' | 'acknowledged' | 'resolved' | 'all';
export const INSTANCE_FILTERS: [InstanceFilter, string][] = [
  ['active', 'Active'],
  ['firing', 'Firing'],
  ['acknowledged', 'Acknowledged'],
  ['resolved', 'Resolved'],
  ['all', 'All'],
];

const rules = '/api/alerts/rules';

export const listRules = (signal?: AbortSignal) => getJson<{ rules: Rule[] }>(rules, {}, signal).then((answer) => answer.rules);
export const getRule = (id: string, signal?: AbortSignal) => getJson<Rule>(`${rules}/${encodeURIComponent(id)}`, {}, signal);
export const createRule = (spec: RuleSpec) => sendJson<Rule>('POST', rules, spec) as Promise<Rule>;
export const updateRule = (id: string, spec: RuleSpec | Rule) => sendJson<Rule>('PUT', `${rules}/${encodeURIComponent(id)}`, spec) as Promise<Rule>;
export const deleteRule = (id: string) => sendJson<null>('DELETE', `${rules}/${encodeURIComponent(id)}`).then(() => undefined);
export const evaluateSpec = (spec: RuleSpec, signal?: AbortSignal) => sendJson<Evaluation>('POST', `${rules}/evaluate`, spec, {}, signal) as Promise<Evaluation>;
export const previewSpec = (spec: RuleSpec, params: Params, signal?: AbortSignal) =>
  sendJson<Preview>('POST', `${rules}/preview`, spec, params, signal) as Promise<Preview>;
export const previewRule = (id: string, params: Params, signal?: AbortSignal) => getJson<Preview>(`${rules}/${encodeURIComponent(id)}/preview`, params, signal);

export const listInstances = (params: { state?: InstanceFilter; rule_id?: string; limit?: number }, signal?: AbortSignal) =>
  getJson<InstanceList>('/api/alerts/instances', { state: params.state, rule_id: params.rule_id, limit: params.limit }, signal);
export const getInstance = (id: string, signal?: AbortSignal) => getJson<Instance>(`/api/alerts/instances/${encodeURIComponent(id)}`, {}, signal);
export const ackInstance = (id: string) => sendJson<Instance>('POST', `/api/alerts/instances/${encodeURIComponent(id)}/ack`) as Promise<Instance>;
export const resolveInstance = (id: string) => sendJson<Instance>('POST', `/api/alerts/instances/${encodeURIComponent(id)}/resolve`) as Promise<Instance>;
export const retryNotification = (id: string) => sendJson<Notification>('POST', `/api/alerts/notifications/${encodeURIComponent(id)}/retry`) as Promise<Notification>;

export const KINDS: { kind: RuleKind; label: string; help: string }[] = [
  { kind: 'error_rate', label: 'Error rate', help: "Failed entry spans (server and consumer) of a service per request, 0 to 1, over the window. No spans is no data." },
  { kind: 'latency', label: 'Latency', help: "A percentile of the service's entry-span durations in ms over the window. No spans is no data." },
  { kind: 'request_rate', label: 'Request rate', help: 'Entry spans of the service per second over the window; 0 without spans, so "traffic stopped" can alert.' },
  { kind: 'log_count', label: 'Log count', help: 'Log records matching a query (the Logs page\'s query language), optionally of one service, in the window.' },
  { kind: 'metric', label: 'Metric', help: 'The latest sample in the window of each series of a metric; the worst series decides. No series is no data.' },
  { kind: 'promql', label: 'PromQL', help: 'A PromQL query evaluated now; each result series is an alert of its own, with its labels. An empty result is no data.' },
  {
    kind: 'error_group',
    label: 'Error group',
    help: 'Occurrences in the window of each open or regressed error group (of one service, if given); each group is an alert of its own. "Only new groups" counts just those first seen or regressed in the window.',
  },
];

export const kindLabel = (kind: RuleKind) => KINDS.find((k) => k.kind === kind)?.label ?? kind;

export const usesService = (kind: RuleKind) => kind === 'error_rate' || kind === 'latency' || kind === 'request_rate';

function trimNumber(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

function plainNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return formatCount(Math.round(value * 100) / 100);
  if (abs >= 1) return String(Number(value.toPrecision(4)));
  return String(Number(value.toPrecision(3)));
}

/** A rule's value as its kind reads: `error_rate` as a percentage,
 * `latency` in ms, `request_rate` per second, `log_count` in records. */
export function formatRuleValue(kind: RuleKind, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'no data';
  switch (kind) {
    case 'error_rate': {
      const percent = value * 100;
      return `${trimNumber(percent, Math.abs(percent) < 1 ? 3 : Math.abs(percent) < 10 ? 2 : 1)}%`;
    }
    case 'latency':
      return formatDuration(value);
    case 'request_rate':
      return `${plainNumber(value)}/s`;
    case 'log_count':
      return Number.isInteger(value) ? plural(value, 'record') : `${plainNumber(value)} records`;
    case 'error_group':
      return Number.isInteger(value) ? plural(value, 'occurrence') : `${plainNumber(value)} occurrences`;
    default:
      return plainNumber(value);
  }
}

/** The same, short, for chart axes. */
export function formatAxisValue(kind: RuleKind, value: number): string {
  if (kind === 'log_count' || kind === 'error_group') return formatCount(value);
  return formatRuleValue(kind, value);
}

const CONDITION_TEXT: Record<Condition, string> = { '>': '>', '>=': '≥', '<': '<', '<=': '≤' };
/** What a firing instance resolves at: the condition's negation. */
const RECOVERS: Record<Condition, string> = { '>': '≤', '>=': '<', '<': '≥', '<=': '>' };

export const conditionText = (condition: Condition) => CONDITION_TEXT[condition] ?? condition;

/** "> 5%" */
export function thresholdText(kind: RuleKind, condition: Condition, threshold: number): string {
  return `${conditionText(condition)} ${formatRuleValue(kind, threshold)}`;
}

/** "resolves at ≤ 3%" */
export function recoveryText(kind: RuleKind, condition: Condition, recovery: number): string {
  return `resolves at ${RECOVERS[condition] ?? ''} ${formatRuleValue(kind, recovery)}`;
}

/** What a rule watches, in a line: "error rate of payments over 30 min". */
export function ruleTarget(rule: Pick<RuleSpec, 'kind' | 'service' | 'operation' | 'query' | 'metric' | 'percentile' | 'window_minutes'>): string {
  const of = [rule.service, rule.operation].filter(Boolean).join(' · ');
  const window = rule.window_minutes ? ` over ${rule.window_minutes} min` : '';
  switch (rule.kind) {
    case 'error_rate':
      return `error rate of ${of}${window}`;
    case 'latency':
      return `p${rule.percentile ?? '?'} latency of ${of}${window}`;
    case 'request_rate':
      return `requests per second of ${of}${window}`;
    case 'log_count':
      return `log records${rule.query ? ` matching ${rule.query}` : ''}${rule.service ? ` of ${rule.service}` : ''}${window}`;
    case 'metric':
      return `${rule.metric ?? ''}, latest in${window || ' the window'}`;
    case 'promql':
      return rule.query ?? '';
    case 'error_group':
      return `${rule.query === 'new' ? 'new or regressed error groups' : 'occurrences of each open error group'}${rule.service ? ` of ${rule.service}` : ''}${window}`;
  }
}

/** Labels as `name="value"` pairs, for one line. */
export function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${value}"`)
    .join(', ');
}

/** The pill tone of a rule or instance state. */
export function stateTone(state: RuleState | InstanceState | string): 'ok' | 'warn' | 'bad' | 'muted' | 'info' {
  switch (state) {
    case 'ok':
    case 'resolved':
      return 'ok';
    case 'pending':
    case 'acknowledged':
      return 'warn';
    case 'firing':
    case 'error':
      return 'bad';
    case 'nodata':
      return 'info';
    default:
      return 'muted';
  }
}

export const STATE_LABEL: Record<string, string> = {
  ok: 'ok',
  pending: 'pending',
  firing: 'firing',
  nodata: 'no data',
  error: 'error',
  acknowledged: 'acknowledged',
  resolved: 'resolved',
};
