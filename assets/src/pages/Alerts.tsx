// Alerts: the open (and past) alert instances with Ack and Resolve, the
// rules with their state, last value and a sparkline of the last hours
// against the threshold; a form to create and edit rules, with per-field
// validation from the server, a dry run ("Test rule") and a preview chart
// of the rule's value over a range; an instance's detail with its
// notification deliveries. The URL holds the view: `?instance=ID` (what
// notifications link to), `?rule=new|ID` (the form, `preview=` its range),
// `?state=` (the instance filter).
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { ApiError, getJson, useResource, type Operation, type Service } from '../lib/api';
import { setFiringCount, refreshFiringCount } from '../lib/alertCount';
import {
  ackInstance,
  conditionText,
  createRule,
  deleteRule,
  evaluateSpec,
  formatAxisValue,
  formatRuleValue,
  getInstance,
  getRule,
  INSTANCE_FILTERS,
  KINDS,
  kindLabel,
  labelText,
  listInstances,
  listRules,
  previewRule,
  previewSpec,
  recoveryText,
  resolveInstance,
  retryNotification,
  ruleTarget,
  STATE_LABEL,
  stateTone,
  thresholdText,
  updateRule,
  usesService,
  type ChannelType,
  type Condition,
  type Evaluation,
  type Instance,
  type InstanceFilter,
  type Labels,
  type NoData,
  type Notification,
  type Preview,
  type Rule,
  type RuleKind,
  type RuleSpec,
  type Severity,
} from '../lib/alerts';
import { PALETTE } from '../lib/colors';
import { formatAge, formatDuration, formatLocal, parseTime, plural } from '../lib/format';
import { backLink, href, navigate } from '../lib/router';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, Time } from '../components/common';
import { ValueSparkline } from '../components/ValueSparkline';

/** How often the lists and an open instance are asked again. */
const REFRESH_MS = 5000;
/** After a change, the next refresh comes sooner: the engine evaluates
 * every `--alert-interval`. */
const SOON_MS = 1500;
/** The sparklines' range, and how many load at once. */
const SPARK_LOOKBACK = '6h';
const MAX_SPARKLINES = 3;
const PREVIEW_RANGES: [string, string][] = [
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
];
const DEFAULT_PREVIEW = '6h';
/** Lines drawn in the preview; more series are counted. */
const MAX_PREVIEW_LINES = 10;

/** A message for the list after a change elsewhere (a rule created). */
let flash: string | null = null;

export function AlertsPage({ query }: { query: URLSearchParams }) {
  const instance = query.get('instance');
  const rule = query.get('rule');
  if (instance) return <InstanceDetail id={instance} />;
  if (rule) return <RuleEditor key={rule} id={rule === 'new' ? null : rule} query={query} />;
  return <Overview query={query} />;
}

// ---------------------------------------------------------------------------
// Shared pieces

/** A counter that moves every `ms` while the tab is visible, and on demand
 * (`refresh`, or `soon` for a little later). */
function usePolling(ms: number): { tick: number; refresh: () => void; soon: () => void } {
  const [tick, setTick] = useState(0);
  const soonTimer = useRef(0);
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    }, ms);
    return () => clearInterval(timer);
  }, [ms, tick]);
  useEffect(() => () => clearTimeout(soonTimer.current), []);
  return {
    tick,
    refresh: () => setTick((t) => t + 1),
    soon: () => {
      clearTimeout(soonTimer.current);
      soonTimer.current = window.setTimeout(() => setTick((t) => t + 1), SOON_MS);
    },
  };
}

function StatePill({ state }: { state: string }) {
  return (
    <span class={`pill pill-${stateTone(state)}`} data-state={state}>
      {STATE_LABEL[state] ?? state}
    </span>
  );
}

function SeverityPill({ severity }: { severity: Severity }) {
  return <span class={`severity severity-${severity}`}>{severity}</span>;
}

function LabelChips({ labels, skip = [] }: { labels: Labels; skip?: string[] }) {
  const entries = Object.entries(labels).filter(([name]) => !skip.includes(name));
  if (entries.length === 0) return <span class="muted">–</span>;
  return (
    <span class="label-chips">
      {entries.map(([name, value]) => (
        <span key={name} class="label-chip" title={`${name}="${value}"`}>
          <span class="label-name">{name}=</span>
          {value}
        </span>
      ))}
    </span>
  );
}

function ConfirmDialog({
  title,
  children,
  confirm,
  onConfirm,
  onCancel,
  busy,
}: {
  title: string;
  children: ComponentChildren;
  confirm: string;
  onConfirm: () => void;
  onCancel: () => void;
  busy: boolean;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onCancel();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="confirm-title" onClick={(e) => e.target === e.currentTarget && onCancel()}>
      <div class="dialog" data-testid="confirm-dialog">
        <h2 id="confirm-title">{title}</h2>
        <div class="muted">{children}</div>
        <div class="dialog-actions">
          <button ref={cancel} type="button" class="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" class="btn btn-danger" data-testid="confirm" disabled={busy} onClick={onConfirm}>
            {confirm}
          </button>
        </div>
      </div>
    </div>
  );
}

/** Whether `value` meets `condition` against `threshold`. */
function holds(condition: Condition, value: number, threshold: number): boolean {
  switch (condition) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

// ---------------------------------------------------------------------------
// The lists

function parseFilter(text: string | null): InstanceFilter {
  return INSTANCE_FILTERS.some(([value]) => value === text) ? (text as InstanceFilter) : 'active';
}

function Overview({ query }: { query: URLSearchParams }) {
  const filter = parseFilter(query.get('state'));
  const poll = usePolling(REFRESH_MS);
  const rules = useResource((signal) => listRules(signal), [poll.tick]);
  const instances = useResource(
    (signal) =>
      listInstances({ state: filter }, signal).then((answer) => {
        setFiringCount(answer.counts.firing);
        return answer;
      }),
    [poll.tick, filter],
  );
  const [notice, setNotice] = useState(() => {
    const text = flash;
    flash = null;
    return text;
  });
  const [actionError, setActionError] = useState<Error | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Rule | null>(null);
  // Back from the form: the engine evaluates a new rule within its interval.
  useEffect(() => {
    if (notice) poll.soon();
  }, []);
  useEffect(() => {
    if (!notice) return;
    const timer = window.setTimeout(() => setNotice(null), 8000);
    return () => clearTimeout(timer);
  }, [notice]);

  /** Runs a change, then refreshes the lists (now and once the engine has
   * had a chance to evaluate). */
  const act = async (key: string, change: () => Promise<unknown>, done?: string) => {
    setBusy(key);
    setActionError(null);
    try {
      await change();
      if (done) setNotice(done);
    } catch (error) {
      setActionError(error as Error);
    } finally {
      setBusy(null);
      poll.refresh();
      poll.soon();
      void refreshFiringCount();
    }
  };

  const ruleList = rules.data ?? [];
  const byId = new Map(ruleList.map((rule) => [rule.id, rule]));
  const counts = instances.data?.counts;
  const loading = rules.loading || instances.loading;

  return (
    <div class="page">
      <div class="page-head">
        <h1>Alerts</h1>
        <div class="toolbar">
          <span class="muted small">refreshed every {REFRESH_MS / 1000} s</span>
          <button type="button" class="btn btn-small" onClick={poll.refresh} aria-busy={loading ? 'true' : undefined} data-testid="alerts-refresh">
            <span class={loading ? 'refresh-icon spinning' : 'refresh-icon'} aria-hidden="true">
              ⟳
            </span>
            Refresh
          </button>
          <a class="btn btn-primary" href="/alerts?rule=new" data-testid="new-rule">
            New rule
          </a>
        </div>
      </div>
      {notice && (
        <div class="notice" role="status" data-testid="notice">
          {notice}
        </div>
      )}
      {actionError && <ErrorBox error={actionError} title="The change failed" />}

      {rules.error && !rules.data ? (
        <ErrorBox error={rules.error} title="Could not load the alert rules" onRetry={poll.refresh} />
      ) : !rules.data ? (
        <Loading label="Loading alert rules…" />
      ) : ruleList.length === 0 ? (
        <NoRules />
      ) : null}

      {(ruleList.length > 0 || (instances.data?.instances.length ?? 0) > 0 || filter !== 'active') && (
        <section class="card" aria-label="Alerts" data-testid="instances">
          <div class="card-head">
            <h2>
              {counts ? (
                <>
                  {plural(counts.firing, 'alert')} firing
                  {counts.acknowledged > 0 && <span class="muted"> · {counts.acknowledged} acknowledged</span>}
                </>
              ) : (
                'Alerts'
              )}
            </h2>
            <div class="segmented" role="group" aria-label="Show alerts">
              {INSTANCE_FILTERS.map(([value, label]) => (
                <a
                  key={value}
                  class={`btn btn-small${filter === value ? ' on' : ''}`}
                  href={href('/alerts', { state: value === 'active' ? undefined : value })}
                  aria-pressed={filter === value ? 'true' : 'false'}
                  data-filter={value}
                >
                  {label}
                </a>
              ))}
            </div>
          </div>
          {instances.error && !instances.data ? (
            <ErrorBox error={instances.error} title="Could not load the alerts" onRetry={poll.refresh} />
          ) : !instances.data ? (
            <Loading label="Loading alerts…" />
          ) : instances.data.instances.length === 0 ? (
            <p class="muted empty-list" data-testid="no-instances">
              {filter === 'active'
                ? 'Nothing is firing: no rule meets its condition.'
                : filter === 'resolved'
                  ? 'No resolved alerts kept.'
                  : `No ${filter === 'all' ? '' : `${filter} `}alerts.`}
            </p>
          ) : (
            <InstanceTable
              instances={instances.data.instances}
              rules={byId}
              busy={busy}
              onAck={(instance) => act(`ack:${instance.id}`, () => ackInstance(instance.id))}
              onResolve={(instance) => act(`resolve:${instance.id}`, () => resolveInstance(instance.id))}
            />
          )}
        </section>
      )}

      {ruleList.length > 0 && (
        <section class="card" aria-label="Alert rules" data-testid="rules">
          <div class="card-head">
            <h2 data-testid="rule-count">{plural(ruleList.length, 'rule')}</h2>
            <span class="muted small">value and state as last evaluated · sparklines: the last {SPARK_LOOKBACK.replace('h', ' hours')}</span>
          </div>
          <RuleTable
            rules={ruleList}
            busy={busy}
            onToggle={(rule) =>
              act(`toggle:${rule.id}`, () => updateRule(rule.id, { ...rule, enabled: !rule.enabled }), `Rule “${rule.name}” ${rule.enabled ? 'disabled' : 'enabled'}.`)
            }
            onDelete={setDeleting}
          />
        </section>
      )}

      {deleting && (
        <ConfirmDialog
          title={`Delete the rule “${deleting.name}”?`}
          confirm="Delete rule"
          busy={busy === `delete:${deleting.id}`}
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const rule = deleting;
            void act(`delete:${rule.id}`, () => deleteRule(rule.id), `Rule “${rule.name}” deleted.`).then(() => setDeleting(null));
          }}
        >
          <p>Its open alerts resolve, and its channels are told so. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function NoRules() {
  return (
    <div class="empty-state" data-testid="alerts-empty">
      <h2>No alert rules yet</h2>
      <p>
        An alert rule watches one value and fires when it crosses a threshold: a service's <strong>error rate</strong>, <strong>latency</strong> or{' '}
        <strong>request rate</strong> (from its spans), a <strong>count of log records</strong> matching a query, the occurrences of an <strong>error group</strong>, an OTLP <strong>metric</strong>, or
        any <strong>PromQL</strong> query.
      </p>
      <p>
        lookout evaluates every rule on a timer. A rule that meets its condition (for as long as you ask) opens an alert: it shows here and in the
        header, and is sent to the rule's channels — webhooks, Slack or Prometheus Alertmanager — until you acknowledge or resolve it, or the value
        recovers.
      </p>
      <p>
        <a class="btn btn-primary" href="/alerts?rule=new" data-testid="create-first-rule">
          Create a rule
        </a>
      </p>
      <p class="muted small">The form shows the rule's value over the last hours against its threshold before you save it, and "Test rule" evaluates it now.</p>
    </div>
  );
}

function InstanceTable({
  instances,
  rules,
  busy,
  onAck,
  onResolve,
  showRule = true,
}: {
  instances: Instance[];
  rules: Map<string, Rule>;
  busy: string | null;
  onAck?: (instance: Instance) => void;
  onResolve?: (instance: Instance) => void;
  showRule?: boolean;
}) {
  const anyResolved = instances.some((instance) => instance.resolved_at);
  return (
    <div class="table-scroll">
      <table class="red-table alert-table instance-table">
        <thead>
          <tr>
            <th>State</th>
            <th>{showRule ? 'Alert' : 'Message'}</th>
            <th>Severity</th>
            <th class="col-labels">Labels</th>
            <th class="num">Value</th>
            <th>Started</th>
            {anyResolved && <th>Resolved</th>}
            {(onAck || onResolve) && <th aria-label="Actions" />}
          </tr>
        </thead>
        <tbody>
          {instances.map((instance) => {
            const rule = rules.get(instance.rule_id);
            const open = instance.state !== 'resolved';
            const link = href('/alerts', { instance: instance.id });
            return (
              <tr
                key={instance.id}
                data-instance-id={instance.id}
                data-state={instance.state}
                class="clickable"
                onClick={(event) => {
                  if ((event.target as Element).closest('a, button')) return;
                  navigate(link);
                }}
              >
                <td>
                  <StatePill state={instance.state} />
                </td>
                <td class="wrap">
                  {showRule && (
                    <a href={link} class="instance-link">
                      {instance.rule_name}
                    </a>
                  )}
                  <div class={showRule ? 'muted small' : ''}>{instance.message}</div>
                </td>
                <td>
                  <SeverityPill severity={instance.severity} />
                </td>
                <td class="wrap col-labels">
                  <LabelChips labels={instance.labels} skip={['severity']} />
                </td>
                <td class="num">{rule ? formatRuleValue(rule.kind, instance.value) : instance.value ?? <span class="muted">no data</span>}</td>
                <td>
                  <Time iso={instance.started_at} millis={false} />
                  <div class="muted small">{formatAge(parseTime(instance.started_at))}</div>
                </td>
                {anyResolved && (
                  <td>
                    {instance.resolved_at ? (
                      <>
                        <Time iso={instance.resolved_at} millis={false} />
                        {instance.resolved_by && <div class="muted small">by {instance.resolved_by}</div>}
                      </>
                    ) : (
                      <span class="muted">–</span>
                    )}
                  </td>
                )}
                {(onAck || onResolve) && (
                  <td class="actions">
                    {onAck && instance.state === 'firing' && (
                      <button type="button" class="btn btn-small" data-action="ack" disabled={busy !== null} onClick={() => onAck(instance)}>
                        Ack
                      </button>
                    )}
                    {onResolve && open && (
                      <button type="button" class="btn btn-small" data-action="resolve" disabled={busy !== null} onClick={() => onResolve(instance)}>
                        Resolve
                      </button>
                    )}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function RuleTable({ rules, busy, onToggle, onDelete }: { rules: Rule[]; busy: string | null; onToggle: (rule: Rule) => void; onDelete: (rule: Rule) => void }) {
  // The sparklines are asked again once a minute (the lists re-render on every refresh).
  const minute = Math.floor(Date.now() / 60_000);
  return (
    <div class="table-scroll">
      <table class="red-table alert-table rule-table">
        <thead>
          <tr>
            <th>State</th>
            <th>Rule</th>
            <th class="col-kind">Kind</th>
            <th class="num">Value</th>
            <th>Condition</th>
            <th>Last {SPARK_LOOKBACK}</th>
            <th>Enabled</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {rules.map((rule) => {
            const edit = href('/alerts', { rule: rule.id });
            return (
              <tr key={rule.id} data-rule-id={rule.id} data-state={rule.state} class={rule.enabled ? undefined : 'disabled'}>
                <td>
                  {rule.enabled ? <StatePill state={rule.state} /> : <span class="pill pill-muted">disabled</span>}
                </td>
                <td class="wrap rule-cell">
                  <a href={edit} class="rule-name">
                    {rule.name}
                  </a>
                  <div class="muted small rule-target">{ruleTarget(rule)}</div>
                  {rule.state === 'error' && rule.last_error && (
                    <div class="rule-error small" data-testid="rule-error">
                      {rule.last_error}
                    </div>
                  )}
                </td>
                <td class="col-kind">
                  <span class="pill pill-muted">{kindLabel(rule.kind)}</span>
                </td>
                <td class="num rule-value" title={rule.last_evaluated_at ? `evaluated ${formatLocal(parseTime(rule.last_evaluated_at), false)}` : 'not evaluated yet'}>
                  {rule.last_evaluated_at ? formatRuleValue(rule.kind, rule.last_value) : <span class="muted">not yet</span>}
                </td>
                <td class="rule-condition">
                  {thresholdText(rule.kind, rule.condition, rule.threshold)}
                  {rule.recovery_threshold !== null && <div class="muted small">{recoveryText(rule.kind, rule.condition, rule.recovery_threshold)}</div>}
                  {rule.for_minutes > 0 && <div class="muted small">for {rule.for_minutes} min</div>}
                </td>
                <td>
                  <RuleSparkline rule={rule} minute={minute} />
                </td>
                <td>
                  <label class="switch" title={rule.enabled ? 'Enabled: click to stop evaluating it' : 'Disabled: click to evaluate it again'}>
                    <input
                      type="checkbox"
                      role="switch"
                      checked={rule.enabled}
                      disabled={busy !== null}
                      aria-label={`Enabled: ${rule.name}`}
                      data-testid="rule-enabled"
                      onChange={(event) => {
                        (event.target as HTMLInputElement).checked = rule.enabled;
                        onToggle(rule);
                      }}
                    />
                    <span class="switch-track" aria-hidden="true" />
                  </label>
                </td>
                <td class="actions">
                  <a class="btn btn-small" href={edit} data-action="edit">
                    Edit
                  </a>
                  <button type="button" class="btn btn-small btn-ghost danger-text" data-action="delete" disabled={busy !== null} onClick={() => onDelete(rule)}>
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

// Sparklines load when their row scrolls into view, a few at a time.
let sparklinesRunning = 0;
const sparklineQueue: (() => void)[] = [];
function pumpSparklines() {
  while (sparklinesRunning < MAX_SPARKLINES && sparklineQueue.length > 0) sparklineQueue.shift()!();
}
function limited<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    sparklineQueue.push(() => {
      if (signal.aborted) {
        reject(new DOMException('The request was aborted', 'AbortError'));
        return;
      }
      sparklinesRunning += 1;
      task()
        .then(resolve, reject)
        .finally(() => {
          sparklinesRunning -= 1;
          pumpSparklines();
        });
    });
    pumpSparklines();
  });
}

function useVisible<T extends Element>() {
  const ref = useRef<T>(null);
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    const element = ref.current;
    if (!element || visible) return;
    if (typeof IntersectionObserver === 'undefined') {
      setVisible(true);
      return;
    }
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) {
          setVisible(true);
          observer.disconnect();
        }
      },
      { rootMargin: '200px' },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [visible]);
  return { ref, visible };
}

function RuleSparkline({ rule, minute }: { rule: Rule; minute: number }) {
  const { ref, visible } = useVisible<HTMLSpanElement>();
  const preview = useResource(
    visible ? (signal) => limited(signal, () => previewRule(rule.id, { lookback: SPARK_LOOKBACK }, signal)) : null,
    [rule.id, rule.updated_at, visible, minute],
  );
  let content;
  if (preview.error) {
    content = (
      <span class="muted small" title={preview.error.message}>
        unavailable
      </span>
    );
  } else if (!preview.data) {
    content = <span class="spark-placeholder" aria-hidden="true" />;
  } else {
    const points = preview.data.series.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
    content = (
      <ValueSparkline
        lines={preview.data.series.slice(0, 5)}
        threshold={rule.threshold}
        breached={(value) => holds(rule.condition, value, rule.threshold)}
        label={`${ruleTarget(rule)}, the last ${SPARK_LOOKBACK}: ${points ? plural(points, 'step') + ' with data' : 'no data'}; threshold ${thresholdText(rule.kind, rule.condition, rule.threshold)}`}
      />
    );
  }
  return (
    <span ref={ref} class="spark-cell" data-testid="rule-sparkline">
      {content}
    </span>
  );
}

// ---------------------------------------------------------------------------
// The rule form

interface LabelRow {
  key: string;
  value: string;
}
interface ChannelRow {
  type: ChannelType;
  url: string;
  secret: string;
}

/** The form's fields as typed: numbers stay text until sent. */
interface Draft {
  name: string;
  description: string;
  kind: RuleKind;
  service: string;
  operation: string;
  query: string;
  metric: string;
  percentile: string;
  condition: Condition;
  threshold: string;
  recovery_threshold: string;
  window_minutes: string;
  for_minutes: string;
  keep_firing_minutes: string;
  cooldown_minutes: string;
  repeat_minutes: string;
  no_data: NoData;
  severity: Severity;
  enabled: boolean;
  labels: LabelRow[];
  channels: ChannelRow[];
}

type Errors = Record<string, string>;

const text = (value: number | null | undefined) => (value === null || value === undefined ? '' : String(value));

function draftOf(rule: Rule | null): Draft {
  if (!rule) {
    return {
      name: '',
      description: '',
      kind: 'error_rate',
      service: '',
      operation: '',
      query: '',
      metric: '',
      percentile: '',
      condition: '>',
      threshold: '',
      recovery_threshold: '',
      window_minutes: '5',
      for_minutes: '0',
      keep_firing_minutes: '0',
      cooldown_minutes: '0',
      repeat_minutes: '240',
      no_data: 'ok',
      severity: 'warning',
      enabled: true,
      labels: [],
      channels: [],
    };
  }
  return {
    name: rule.name,
    description: rule.description,
    kind: rule.kind,
    service: rule.service ?? '',
    operation: rule.operation ?? '',
    query: rule.query ?? '',
    metric: rule.metric ?? '',
    percentile: text(rule.percentile),
    condition: rule.condition,
    threshold: text(rule.threshold),
    recovery_threshold: text(rule.recovery_threshold),
    window_minutes: text(rule.window_minutes),
    for_minutes: text(rule.for_minutes),
    keep_firing_minutes: text(rule.keep_firing_minutes),
    cooldown_minutes: text(rule.cooldown_minutes),
    repeat_minutes: text(rule.repeat_minutes),
    no_data: rule.no_data,
    severity: rule.severity,
    enabled: rule.enabled,
    labels: Object.entries(rule.labels).map(([key, value]) => ({ key, value })),
    channels: rule.channels.map((channel) => ({ type: channel.type, url: channel.url, secret: channel.secret ?? '' })),
  };
}

/** The draft as the API takes it, or the fields that are not numbers. */
function specOf(draft: Draft): { spec: RuleSpec; errors: Errors | null } {
  const errors: Errors = {};
  const number = (field: string, value: string, whole = false): number | null => {
    const trimmed = value.trim();
    if (trimmed === '') return null;
    const parsed = Number(trimmed);
    if (!Number.isFinite(parsed)) {
      errors[field] = 'Must be a number';
      return null;
    }
    if (whole && !Number.isInteger(parsed)) {
      errors[field] = 'Must be a whole number';
      return null;
    }
    return parsed;
  };
  const kind = draft.kind;
  const optional = (value: string) => (value.trim() === '' ? null : value.trim());
  const labels: Labels = {};
  for (const row of draft.labels) {
    if (row.key.trim() === '' && row.value === '') continue;
    const key = row.key.trim();
    if (key in labels) errors[`labels.${key}`] = 'Is given twice';
    labels[key] = row.value;
  }
  const spec: RuleSpec = {
    name: draft.name,
    description: draft.description,
    kind,
    service: usesService(kind) || kind === 'log_count' || kind === 'error_group' ? optional(draft.service) : null,
    operation: usesService(kind) ? optional(draft.operation) : null,
    query: kind === 'log_count' || kind === 'promql' || kind === 'error_group' ? optional(draft.query) : null,
    metric: kind === 'metric' ? optional(draft.metric) : null,
    percentile: kind === 'latency' ? number('percentile', draft.percentile) : null,
    condition: draft.condition,
    threshold: number('threshold', draft.threshold),
    recovery_threshold: number('recovery_threshold', draft.recovery_threshold),
    window_minutes: number('window_minutes', draft.window_minutes, true),
    for_minutes: number('for_minutes', draft.for_minutes, true),
    keep_firing_minutes: number('keep_firing_minutes', draft.keep_firing_minutes, true),
    cooldown_minutes: number('cooldown_minutes', draft.cooldown_minutes, true),
    repeat_minutes: number('repeat_minutes', draft.repeat_minutes, true),
    no_data: draft.no_data,
    severity: draft.severity,
    enabled: draft.enabled,
    labels,
    channels: draft.channels.map((channel) => ({
      type: channel.type,
      url: channel.url.trim(),
      ...(channel.type === 'webhook' && channel.secret !== '' ? { secret: channel.secret } : {}),
    })),
  };
  return { spec, errors: Object.keys(errors).length ? errors : null };
}

/** What a dry run (test, preview) sends: the channels play no part in a
 * value (and a stored secret comes back masked, which only a `PUT` of the
 * stored rule may send), nor does the name. */
function dryRun(spec: RuleSpec): RuleSpec {
  return { ...spec, name: spec.name.trim() || 'untitled rule', channels: [] };
}

/** Whether the fields the kind needs are filled in, so a preview can run
 * without asking the user for what they have not reached yet. */
function previewable(spec: RuleSpec): boolean {
  if (usesService(spec.kind) && !spec.service) return false;
  if (spec.kind === 'latency' && spec.percentile === null) return false;
  if (spec.kind === 'promql' && !spec.query) return false;
  if (spec.kind === 'metric' && !spec.metric) return false;
  return true;
}

/** The part of a spec a rule's value depends on. */
function valueKey(spec: RuleSpec): string {
  const { kind, service, operation, query, metric, percentile, window_minutes, condition } = spec;
  return JSON.stringify({ kind, service, operation, query, metric, percentile, window_minutes, condition });
}

/** "field threshold: is required" → "Is required" */
function fieldMessage(error: ApiError): string {
  const prefix = `field ${error.field}: `;
  const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** An input's id for a field the server may name. */
const fieldId = (field: string) => `rule-${field.replace(/[^a-zA-Z0-9_]+/g, '-')}`;

function RuleEditor({ id, query }: { id: string | null; query: URLSearchParams }) {
  const stored = useResource(id ? (signal) => getRule(id, signal) : null, [id]);
  if (id && stored.error) {
    return (
      <div class="page">
        <EditorCrumbs title="Rule" />
        <ErrorBox error={stored.error} title="Could not load the rule" onRetry={stored.reload} />
      </div>
    );
  }
  if (id && !stored.data) {
    return (
      <div class="page">
        <EditorCrumbs title="Rule" />
        <Loading label="Loading the rule…" />
      </div>
    );
  }
  return <RuleForm rule={stored.data ?? null} query={query} />;
}

function EditorCrumbs({ title }: { title: string }) {
  return (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a {...backLink('/alerts')}>Alerts</a> / <span>{title}</span>
    </nav>
  );
}

function Field({
  field,
  label,
  errors,
  hint,
  children,
  class: className,
}: {
  field: string;
  label: string;
  errors: Errors;
  hint?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
}) {
  const error = errors[field];
  return (
    <div class={`field ${className ?? ''}`} data-field={field}>
      <label for={fieldId(field)}>{label}</label>
      {children}
      {error ? (
        <div class="field-error" id={`${fieldId(field)}-error`} data-error-for={field} role="alert">
          {error}
        </div>
      ) : (
        hint && <div class="field-hint muted small">{hint}</div>
      )}
    </div>
  );
}

/** Props of an input for `field`: its id, its error's description. */
function inputProps(field: string, errors: Errors) {
  const invalid = field in errors;
  return {
    id: fieldId(field),
    name: field,
    'aria-invalid': invalid ? ('true' as const) : undefined,
    'aria-describedby': invalid ? `${fieldId(field)}-error` : undefined,
  };
}

function unitHint(kind: RuleKind, value: string): string | undefined {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    return {
      error_rate: 'a ratio: 0.05 is 5% of requests failing',
      latency: 'in milliseconds',
      request_rate: 'requests per second',
      log_count: 'records in the window',
      metric: "in the metric's unit",
      promql: "in the query's unit",
      error_group: 'occurrences in the window: > 0 fires on any',
    }[kind];
  }
  return `= ${formatRuleValue(kind, number)}`;
}

function RuleForm({ rule, query }: { rule: Rule | null; query: URLSearchParams }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(rule));
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<Error | null>(null);
  const [saving, setSaving] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<{ evaluation: Evaluation; key: string; at: number } | null>(null);
  const [previewNonce, setPreviewNonce] = useState(0);
  const range = PREVIEW_RANGES.some(([value]) => value === query.get('preview')) ? query.get('preview')! : DEFAULT_PREVIEW;
  const services = useResource((signal) => getJson<{ services: Service[] }>('/api/services', {}, signal), []);
  const spanKind = usesService(draft.kind);
  const serviceName = draft.service.trim();
  const operations = useResource(
    spanKind && serviceName && services.data?.services.some((s) => s.name === serviceName)
      ? (signal) => getJson<{ operations: Operation[] }>(`/api/services/${encodeURIComponent(serviceName)}/operations`, {}, signal)
      : null,
    [spanKind, serviceName, services.data],
  );
  const metrics = useResource(
    draft.kind === 'metric' ? (signal) => getJson<{ metrics: { name: string }[] }>('/api/metrics/names', {}, signal) : null,
    [draft.kind === 'metric'],
  );

  const { spec, errors: numberErrors } = specOf(draft);
  const key = JSON.stringify(dryRun(spec));

  // The preview follows the fields the value depends on, a moment after
  // the typing stops; Test asks at once.
  const previewKey = valueKey(spec);
  const [preview, setPreview] = useState<{ data?: Preview; error?: Error; loading: boolean }>({ loading: false });
  const specRef = useRef(spec);
  specRef.current = spec;
  useEffect(() => {
    const current = specRef.current;
    if (!previewable(current) || numberErrors) {
      setPreview({ loading: false });
      return;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(
      () => {
        setPreview((p) => ({ data: p.data, loading: true }));
        // The threshold plays no part in the values; the chart draws the form's own.
        previewSpec({ ...dryRun(current), threshold: current.threshold ?? 0, recovery_threshold: null }, { lookback: range }, controller.signal).then(
          (data) => !controller.signal.aborted && setPreview({ data, loading: false }),
          (error: Error) => {
            if (controller.signal.aborted || error.name === 'AbortError') return;
            setPreview({ error, loading: false });
          },
        );
      },
      previewNonce > 0 ? 0 : 600,
    );
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [previewKey, range, previewNonce, numberErrors === null]);

  /** Changes fields; their errors go. */
  const update = (patch: Partial<Draft>, clear: string[] = Object.keys(patch)) => {
    setDraft((d) => ({ ...d, ...patch }));
    if (clear.some((field) => field in errors)) {
      setErrors((e) => {
        const next = { ...e };
        for (const field of clear) delete next[field];
        return next;
      });
    }
  };
  const input = (field: keyof Draft) => (event: Event) => update({ [field]: (event.target as HTMLInputElement).value } as Partial<Draft>);

  const showErrors = (found: Errors) => {
    setErrors(found);
    const first = Object.keys(found)[0];
    requestAnimationFrame(() => {
      const element = document.getElementById(fieldId(first)) ?? document.querySelector(`[data-error-for="${CSS.escape(first)}"]`);
      if (element instanceof HTMLElement) {
        element.scrollIntoView({ block: 'center' });
        element.focus?.();
      }
    });
  };

  /** A 400 naming a field shows under that field (or, for a field the
   * form does not show, above the buttons); anything else in a box. */
  const failed = (error: unknown) => {
    if (error instanceof ApiError && error.status === 400 && error.field) {
      const field = error.field;
      if (shownFields(draft).has(field)) {
        showErrors({ [field]: fieldMessage(error) });
        return;
      }
    }
    setGeneral(error as Error);
  };

  const test = async () => {
    setGeneral(null);
    if (numberErrors) return showErrors(numberErrors);
    setTesting(true);
    setPreviewNonce((n) => n + 1);
    try {
      const evaluation = await evaluateSpec(dryRun(spec));
      setResult({ evaluation, key, at: Date.now() });
    } catch (error) {
      setResult(null);
      failed(error);
    } finally {
      setTesting(false);
    }
  };

  const save = async (event: Event) => {
    event.preventDefault();
    setGeneral(null);
    if (numberErrors) return showErrors(numberErrors);
    setSaving(true);
    try {
      const saved = rule ? await updateRule(rule.id, spec) : await createRule(spec);
      flash = `Rule “${saved.name}” ${rule ? 'saved' : 'created'}.`;
      navigate('/alerts');
    } catch (error) {
      failed(error);
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!rule) return;
    setSaving(true);
    try {
      await deleteRule(rule.id);
      flash = `Rule “${rule.name}” deleted.`;
      navigate('/alerts');
    } catch (error) {
      setGeneral(error as Error);
      setDeleting(false);
    } finally {
      setSaving(false);
    }
  };

  const kindInfo = KINDS.find((k) => k.kind === draft.kind);
  const serviceOptions = services.data?.services.map((s) => s.name) ?? [];
  const threshold = spec.threshold;

  return (
    <div class="page">
      <EditorCrumbs title={rule ? rule.name : 'New rule'} />
      <div class="page-head">
        <h1>{rule ? `Edit rule: ${rule.name}` : 'New alert rule'}</h1>
        {rule && (
          <div class="toolbar">
            {rule.enabled ? <StatePill state={rule.state} /> : <span class="pill pill-muted">disabled</span>}
            {rule.last_evaluated_at && (
              <span class="muted small">
                {formatRuleValue(rule.kind, rule.last_value)} at <Time iso={rule.last_evaluated_at} millis={false} />
              </span>
            )}
          </div>
        )}
      </div>
      {rule?.state === 'error' && rule.last_error && (
        <div class="error-box" role="alert">
          <strong>The last evaluation failed</strong>
          <span class="error-message">{rule.last_error}</span>
        </div>
      )}
      <form class="rule-editor" onSubmit={save} noValidate data-testid="rule-form">
        <section class="card editor-basics" aria-label="Rule">
          <div class="card-head">
            <h2>Rule</h2>
          </div>
          <div class="form-grid">
            <Field field="name" label="Name" errors={errors} class="field-span">
              <input {...inputProps('name', errors)} type="text" value={draft.name} onInput={input('name')} placeholder="e.g. checkout error rate" autoComplete="off" />
            </Field>
            <Field field="description" label="Description" errors={errors} class="field-span" hint="Sent with notifications (Alertmanager's description).">
              <textarea {...inputProps('description', errors)} rows={2} value={draft.description} onInput={input('description')} />
            </Field>
            <Field field="severity" label="Severity" errors={errors}>
              <select {...inputProps('severity', errors)} value={draft.severity} onChange={input('severity')}>
                <option value="info">info</option>
                <option value="warning">warning</option>
                <option value="critical">critical</option>
              </select>
            </Field>
            <Field field="enabled" label="Evaluation" errors={errors}>
              <label class="check-label">
                <input {...inputProps('enabled', errors)} type="checkbox" checked={draft.enabled} onChange={(e) => update({ enabled: (e.target as HTMLInputElement).checked })} />
                enabled
              </label>
            </Field>
          </div>
        </section>

        <section class="card editor-watch" aria-label="What to watch">
          <div class="card-head">
            <h2>What to watch</h2>
          </div>
          <div class="form-grid">
            <Field field="kind" label="Kind" errors={errors} class="field-span" hint={kindInfo?.help}>
              <select
                {...inputProps('kind', errors)}
                value={draft.kind}
                onChange={(e) => {
                  const kind = (e.target as HTMLSelectElement).value as RuleKind;
                  update(
                    { kind, percentile: kind === 'latency' && draft.percentile === '' ? '95' : draft.percentile },
                    ['kind', 'service', 'operation', 'query', 'metric', 'percentile'],
                  );
                }}
              >
                {KINDS.map((k) => (
                  <option key={k.kind} value={k.kind}>
                    {k.label}
                  </option>
                ))}
              </select>
            </Field>
            {(spanKind || draft.kind === 'log_count' || draft.kind === 'error_group') && (
              <Field
                field="service"
                label={spanKind ? 'Service' : 'Service (optional)'}
                errors={errors}
                hint={spanKind ? 'Its entry spans: server and consumer.' : draft.kind === 'error_group' ? "Only this service's error groups." : 'Only records of this service.'}
              >
                <input {...inputProps('service', errors)} type="text" list="rule-services" value={draft.service} onInput={input('service')} autoComplete="off" placeholder="service.name" />
                <datalist id="rule-services">
                  {serviceOptions.map((name) => (
                    <option key={name} value={name} />
                  ))}
                </datalist>
              </Field>
            )}
            {spanKind && (
              <Field field="operation" label="Operation (optional)" errors={errors} hint="A span name: that operation's spans of any kind.">
                <input {...inputProps('operation', errors)} type="text" list="rule-operations" value={draft.operation} onInput={input('operation')} autoComplete="off" placeholder="all entry spans" />
                <datalist id="rule-operations">
                  {operations.data?.operations.map((op) => (
                    <option key={`${op.name}|${op.span_kind}`} value={op.name}>
                      {op.span_kind}
                    </option>
                  ))}
                </datalist>
              </Field>
            )}
            {draft.kind === 'latency' && (
              <Field field="percentile" label="Percentile" errors={errors} hint="50 to 99.9">
                <input {...inputProps('percentile', errors)} type="number" step="any" min="50" max="99.9" value={draft.percentile} onInput={input('percentile')} />
              </Field>
            )}
            {(draft.kind === 'log_count' || draft.kind === 'promql') && (
              <Field
                field="query"
                label={draft.kind === 'promql' ? 'PromQL query' : 'Log query'}
                errors={errors}
                class="field-span"
                hint={
                  draft.kind === 'promql' ? (
                    <>
                      An instant vector or a scalar, e.g. <code>sum by (service) (rate(http_server_requests_total{'{'}status="500"{'}'}[5m]))</code>
                    </>
                  ) : (
                    <>
                      As on the Logs page, e.g. <code>level:error AND "timeout"</code>; empty counts every record.
                    </>
                  )
                }
              >
                <textarea {...inputProps('query', errors)} class="mono" rows={2} spellcheck={false} value={draft.query} onInput={input('query')} />
              </Field>
            )}
            {draft.kind === 'error_group' && (
              <Field field="query" label="Groups" errors={errors} hint="Only new groups: first seen, or regressed, within the window; so > 0 alerts on a new kind of error.">
                <select {...inputProps('query', errors)} value={draft.query === 'new' ? 'new' : ''} onChange={input('query')}>
                  <option value="">every open or regressed group</option>
                  <option value="new">only new groups</option>
                </select>
              </Field>
            )}
            {draft.kind === 'metric' && (
              <Field field="metric" label="Metric" errors={errors} class="field-span" hint={<>A metric name, optionally with matchers: <code>queue_depth{'{'}queue="mail"{'}'}</code></>}>
                <input {...inputProps('metric', errors)} class="mono" type="text" list="rule-metrics" value={draft.metric} onInput={input('metric')} autoComplete="off" spellcheck={false} />
                <datalist id="rule-metrics">
                  {metrics.data?.metrics.map((m) => (
                    <option key={m.name} value={m.name} />
                  ))}
                </datalist>
              </Field>
            )}
            {draft.kind !== 'promql' && (
              <Field field="window_minutes" label="Window (minutes)" errors={errors} hint="1 to 1440">
                <input {...inputProps('window_minutes', errors)} type="number" step="1" min="1" max="1440" value={draft.window_minutes} onInput={input('window_minutes')} />
              </Field>
            )}
          </div>
        </section>

        <section class="card editor-condition" aria-label="Condition">
          <div class="card-head">
            <h2>Condition</h2>
          </div>
          <div class="form-grid">
            <Field field="condition" label="Fires when the value is" errors={errors}>
              <select {...inputProps('condition', errors)} value={draft.condition} onChange={input('condition')}>
                <option value=">">above (&gt;)</option>
                <option value=">=">at or above (≥)</option>
                <option value="<">below (&lt;)</option>
                <option value="<=">at or below (≤)</option>
              </select>
            </Field>
            <Field field="threshold" label="Threshold" errors={errors} hint={unitHint(draft.kind, draft.threshold)}>
              <input {...inputProps('threshold', errors)} type="number" step="any" value={draft.threshold} onInput={input('threshold')} />
            </Field>
            <Field
              field="recovery_threshold"
              label="Recovery threshold (optional)"
              errors={errors}
              hint={draft.recovery_threshold.trim() ? unitHint(draft.kind, draft.recovery_threshold) : 'A firing alert resolves only past this value (hysteresis).'}
            >
              <input {...inputProps('recovery_threshold', errors)} type="number" step="any" value={draft.recovery_threshold} onInput={input('recovery_threshold')} />
            </Field>
            <Field field="for_minutes" label="Pending for (minutes)" errors={errors} hint="How long the condition must hold before it fires.">
              <input {...inputProps('for_minutes', errors)} type="number" step="1" min="0" value={draft.for_minutes} onInput={input('for_minutes')} />
            </Field>
            <Field field="keep_firing_minutes" label="Keep firing (minutes)" errors={errors} hint="Stays firing this long after the condition clears.">
              <input {...inputProps('keep_firing_minutes', errors)} type="number" step="1" min="0" value={draft.keep_firing_minutes} onInput={input('keep_firing_minutes')} />
            </Field>
            <Field field="no_data" label="Without data" errors={errors} hint="When the window has no value.">
              <select {...inputProps('no_data', errors)} value={draft.no_data} onChange={input('no_data')}>
                <option value="ok">counts as not firing</option>
                <option value="keep">keeps the state</option>
                <option value="firing">counts as firing</option>
              </select>
            </Field>
            <Field field="cooldown_minutes" label="Cooldown (minutes)" errors={errors} hint="No new alert for a series this soon after one resolved.">
              <input {...inputProps('cooldown_minutes', errors)} type="number" step="1" min="0" value={draft.cooldown_minutes} onInput={input('cooldown_minutes')} />
            </Field>
            <Field field="repeat_minutes" label="Repeat every (minutes)" errors={errors} hint="Re-notify an unacknowledged alert; 0 never.">
              <input {...inputProps('repeat_minutes', errors)} type="number" step="1" min="0" value={draft.repeat_minutes} onInput={input('repeat_minutes')} />
            </Field>
          </div>
        </section>

        <section class="card editor-preview" aria-label="Preview">
          <div class="card-head">
            <h2>
              Preview {preview.loading && <span class="spinner small" aria-hidden="true" />}
            </h2>
            <div class="toolbar">
              <select
                aria-label="Preview range"
                data-testid="preview-range"
                value={range}
                onChange={(e) =>
                  navigate(href('/alerts', { rule: rule?.id ?? 'new', preview: (e.target as HTMLSelectElement).value === DEFAULT_PREVIEW ? undefined : (e.target as HTMLSelectElement).value }), {
                    replace: true,
                  })
                }
              >
                {PREVIEW_RANGES.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
              <button type="button" class="btn" data-testid="test-rule" disabled={testing} onClick={test}>
                {testing ? 'Testing…' : 'Test rule'}
              </button>
            </div>
          </div>
          {result && <TestResult evaluation={result.evaluation} kind={draft.kind} noData={draft.no_data} stale={result.key !== key} at={result.at} />}
          {!previewable(spec) ? (
            <p class="muted small preview-help" data-testid="preview-help">
              {usesService(spec.kind)
                ? 'Pick a service to see its value over the last hours.'
                : spec.kind === 'promql'
                  ? 'Write a query to see its value over the last hours.'
                  : spec.kind === 'metric'
                    ? 'Name a metric to see its value over the last hours.'
                    : 'Set a percentile to see the value over the last hours.'}
            </p>
          ) : preview.error ? (
            <div class="preview-error" data-testid="preview-error">
              <ErrorBox error={preview.error} title="No preview" />
            </div>
          ) : preview.data ? (
            <PreviewChart preview={preview.data} kind={draft.kind} condition={draft.condition} threshold={threshold} recovery={spec.recovery_threshold} range={range} />
          ) : (
            <Loading label="Evaluating the rule over the range…" />
          )}
        </section>

        <section class="card editor-labels" aria-label="Labels">
          <div class="card-head">
            <h2>Labels</h2>
            <span class="muted small">on every alert of the rule, and in its notifications</span>
          </div>
          {errors.labels && (
            <div class="field-error" data-error-for="labels" role="alert">
              {errors.labels}
            </div>
          )}
          {draft.labels.length === 0 && <p class="muted small">No labels. Add e.g. team=payments to route notifications.</p>}
          {draft.labels.map((row, index) => {
            const field = `labels.${row.key.trim()}`;
            const mine = draft.labels.findIndex((r) => r.key.trim() === row.key.trim()) === index || errors[field] === 'Is given twice';
            const error = mine ? errors[field] : undefined;
            const change = (patch: Partial<LabelRow>) => {
              const next = draft.labels.map((r, i) => (i === index ? { ...r, ...patch } : r));
              update({ labels: next }, [field, `labels.${(patch.key ?? row.key).trim()}`, 'labels']);
            };
            return (
              <div class="row-fields" key={index} data-label-row={index}>
                <div class="field">
                  <label for={`rule-label-${index}-key`}>Name</label>
                  <input
                    id={`rule-label-${index}-key`}
                    type="text"
                    value={row.key}
                    autoComplete="off"
                    spellcheck={false}
                    aria-invalid={error ? 'true' : undefined}
                    aria-describedby={error ? `rule-label-${index}-error` : undefined}
                    onInput={(e) => change({ key: (e.target as HTMLInputElement).value })}
                  />
                </div>
                <div class="field field-wide">
                  <label for={`rule-label-${index}-value`}>Value</label>
                  <input id={`rule-label-${index}-value`} type="text" value={row.value} autoComplete="off" onInput={(e) => change({ value: (e.target as HTMLInputElement).value })} />
                </div>
                <button
                  type="button"
                  class="btn btn-ghost btn-small row-remove"
                  aria-label={`Remove label ${row.key}`}
                  onClick={() => update({ labels: draft.labels.filter((_, i) => i !== index) }, [field, 'labels'])}
                >
                  ✕
                </button>
                {error && (
                  <div class="field-error row-error" id={`rule-label-${index}-error`} data-error-for={field} role="alert">
                    {error}
                  </div>
                )}
              </div>
            );
          })}
          <button type="button" class="btn btn-small" data-testid="add-label" onClick={() => update({ labels: [...draft.labels, { key: '', value: '' }] }, [])}>
            Add label
          </button>
        </section>

        <section class="card editor-channels" aria-label="Notifications">
          <div class="card-head">
            <h2>Notifications</h2>
            <span class="muted small">where a firing or resolved alert is sent</span>
          </div>
          {errors.channels && (
            <div class="field-error" data-error-for="channels" role="alert">
              {errors.channels}
            </div>
          )}
          {draft.channels.length === 0 && <p class="muted small">No channels: alerts show here and in the header only.</p>}
          {draft.channels.map((channel, index) => {
            const prefix = `channels[${index}]`;
            const change = (patch: Partial<ChannelRow>) => {
              const next = draft.channels.map((c, i) => (i === index ? { ...c, ...patch } : c));
              update({ channels: next }, [...Object.keys(patch).map((k) => `${prefix}.${k}`), `${prefix}.secret`, 'channels']);
            };
            return (
              <div class="row-fields channel-row" key={index} data-channel-row={index}>
                <Field field={`${prefix}.type`} label="Type" errors={errors} class="field-narrow">
                  <select {...inputProps(`${prefix}.type`, errors)} value={channel.type} onChange={(e) => change({ type: (e.target as HTMLSelectElement).value as ChannelType })}>
                    <option value="webhook">Webhook</option>
                    <option value="slack">Slack</option>
                    <option value="alertmanager">Alertmanager</option>
                  </select>
                </Field>
                <Field
                  field={`${prefix}.url`}
                  label="URL"
                  errors={errors}
                  class="field-wide"
                  hint={
                    channel.type === 'webhook'
                      ? 'POSTs the alert as JSON.'
                      : channel.type === 'slack'
                        ? 'A Slack incoming-webhook URL.'
                        : "Alertmanager's address, e.g. http://alertmanager:9093"
                  }
                >
                  <input {...inputProps(`${prefix}.url`, errors)} type="url" value={channel.url} autoComplete="off" spellcheck={false} placeholder="https://…" onInput={(e) => change({ url: (e.target as HTMLInputElement).value })} />
                </Field>
                {channel.type === 'webhook' && (
                  <Field field={`${prefix}.secret`} label="Secret (optional)" errors={errors} hint={channel.secret === '********' ? 'Stored; kept unless you type a new one.' : 'Signs each request (HMAC-SHA256).'}>
                    <input {...inputProps(`${prefix}.secret`, errors)} type="password" autoComplete="new-password" value={channel.secret} onInput={(e) => change({ secret: (e.target as HTMLInputElement).value })} />
                  </Field>
                )}
                <button
                  type="button"
                  class="btn btn-ghost btn-small row-remove"
                  aria-label={`Remove channel ${index + 1}`}
                  onClick={() => {
                    const next = draft.channels.filter((_, i) => i !== index);
                    update({ channels: next }, Object.keys(errors).filter((field) => field.startsWith('channels')));
                  }}
                >
                  ✕
                </button>
              </div>
            );
          })}
          <button type="button" class="btn btn-small" data-testid="add-channel" onClick={() => update({ channels: [...draft.channels, { type: 'webhook', url: '', secret: '' }] }, [])}>
            Add channel
          </button>
        </section>

        <div class="editor-actions">
          {general && <ErrorBox error={general} title={general instanceof ApiError && general.status === 400 ? 'The rule was not accepted' : 'The request failed'} />}
          <div class="toolbar">
            <button type="submit" class="btn btn-primary" data-testid="save-rule" disabled={saving}>
              {saving ? 'Saving…' : rule ? 'Save changes' : 'Create rule'}
            </button>
            <a class="btn" {...backLink('/alerts')}>
              Cancel
            </a>
            {rule && (
              <button type="button" class="btn btn-ghost danger-text push-right" data-testid="delete-rule" onClick={() => setDeleting(true)}>
                Delete rule
              </button>
            )}
          </div>
        </div>
      </form>

      {rule && <RuleInstances rule={rule} />}

      {deleting && rule && (
        <ConfirmDialog title={`Delete the rule “${rule.name}”?`} confirm="Delete rule" busy={saving} onCancel={() => setDeleting(false)} onConfirm={remove}>
          <p>Its open alerts resolve, and its channels are told so. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

/** The fields the form shows now, by the names the server uses. */
function shownFields(draft: Draft): Set<string> {
  const fields = ['name', 'description', 'severity', 'enabled', 'kind', 'condition', 'threshold', 'recovery_threshold', 'for_minutes', 'keep_firing_minutes', 'no_data', 'cooldown_minutes', 'repeat_minutes', 'labels', 'channels'];
  if (usesService(draft.kind) || draft.kind === 'log_count' || draft.kind === 'error_group') fields.push('service');
  if (usesService(draft.kind)) fields.push('operation');
  if (draft.kind === 'latency') fields.push('percentile');
  if (draft.kind === 'log_count' || draft.kind === 'promql' || draft.kind === 'error_group') fields.push('query');
  if (draft.kind === 'metric') fields.push('metric');
  if (draft.kind !== 'promql') fields.push('window_minutes');
  for (const row of draft.labels) fields.push(`labels.${row.key.trim()}`);
  draft.channels.forEach((channel, index) => {
    fields.push(`channels[${index}].type`, `channels[${index}].url`);
    if (channel.type === 'webhook') fields.push(`channels[${index}].secret`);
  });
  return new Set(fields);
}

function TestResult({ evaluation, kind, noData, stale, at }: { evaluation: Evaluation; kind: RuleKind; noData: NoData; stale: boolean; at: number }) {
  const fires = evaluation.would_fire;
  return (
    <div class={`test-result${fires ? ' fires' : ''}${stale ? ' stale' : ''}`} data-testid="test-result" data-would-fire={fires ? 'true' : 'false'} role="status">
      <div class="test-value">
        <span class="muted small">Value now</span>
        <strong class="num" data-testid="test-value">
          {formatRuleValue(kind, evaluation.value)}
        </strong>
        <span class={`pill ${fires ? 'pill-bad' : 'pill-ok'}`} data-testid="would-fire">
          {fires ? 'would fire' : 'would not fire'}
        </span>
        <span class="muted small">
          tested {formatLocal(at, false)}
          {stale && ' · the rule has changed since: test again'}
        </span>
      </div>
      {evaluation.value === null && kind !== 'promql' && kind !== 'error_group' && (
        <p class="muted small">
          No data in the window: {noData === 'ok' ? 'counts as not firing' : noData === 'keep' ? 'the state stays as it is' : 'counts as firing'} (see "Without data").
        </p>
      )}
      {(kind === 'promql' || kind === 'error_group') && (
        evaluation.series.length === 0 ? (
          <p class="muted small">{kind === 'promql' ? 'The query returns no series now: no data.' : 'No open or regressed error group: no data.'}</p>
        ) : (
          <table class="red-table test-series" data-testid="test-series">
            <thead>
              <tr>
                <th>Series</th>
                <th class="num">Value</th>
                <th>Would fire</th>
              </tr>
            </thead>
            <tbody>
              {evaluation.series.map((series, index) => (
                <tr key={index} data-would-fire={series.would_fire ? 'true' : 'false'}>
                  <td class="mono wrap">{labelText(series.labels) || '{}'}</td>
                  <td class="num">{formatRuleValue(kind, series.value)}</td>
                  <td>{series.would_fire ? <span class="pill pill-bad">yes</span> : <span class="pill pill-ok">no</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
    </div>
  );
}

function PreviewChart({
  preview,
  kind,
  condition,
  threshold,
  recovery,
  range,
}: {
  preview: Preview;
  kind: RuleKind;
  condition: Condition;
  threshold: number | null;
  recovery: number | null;
  range: string;
}) {
  const shown = preview.series.slice(0, MAX_PREVIEW_LINES);
  const data = useMemo<uPlot.AlignedData>(() => {
    const times = shown[0]?.points.map((p) => p[0]) ?? [];
    const lines = shown.map((series) => series.points.map((p) => p[1]));
    const extra: (number | null)[][] = [];
    if (threshold !== null) extra.push(times.map(() => threshold));
    if (recovery !== null) extra.push(times.map(() => recovery));
    return [times, ...lines, ...extra];
  }, [preview, threshold, recovery]);
  const steps = shown[0]?.points.length ?? 0;
  const withData = shown.some((series) => series.points.some((p) => p[1] !== null));
  const met =
    threshold === null
      ? 0
      : (shown[0]?.points ?? []).filter((_, i) => shown.some((series) => series.points[i][1] !== null && holds(condition, series.points[i][1] as number, threshold))).length;
  if (shown.length === 0 || !withData) {
    return (
      <div class="empty-inline" role="status" data-testid="preview-empty">
        No value at any step of the range: the rule would have had no data{kind === 'promql' ? ' (the query returned no series)' : ''}.
      </div>
    );
  }
  const label = (series: Preview['series'][number]) => (Object.keys(series.labels).length ? labelText(series.labels) : kindLabel(kind).toLowerCase());
  return (
    <div data-testid="rule-preview" data-steps={steps} data-met={met}>
      <Chart
        label={`The rule's value over the ${PREVIEW_RANGES.find(([value]) => value === range)?.[1].toLowerCase() ?? range}, against its threshold`}
        height={220}
        class="preview-chart"
        data={data}
        options={(theme) => ({
          legend: { show: true, live: true },
          cursor: { drag: { x: false, y: false }, points: { size: 6 } },
          scales: {
            x: { time: true },
            y: {
              range: (_u, min, max) => {
                const marks = [threshold, recovery].filter((v): v is number => v !== null);
                const low = Math.min(kind === 'metric' || kind === 'promql' ? (min ?? 0) : 0, min ?? 0, ...marks);
                const high = Math.max(max ?? 0, ...marks);
                const span = high - low || Math.abs(high) || 1;
                return [low, high + span * 0.12];
              },
            },
          },
          axes: [timeAxis(theme), axis(theme, { size: 64, values: (_u, values) => values.map((v) => (v == null ? '' : formatAxisValue(kind, v))) })],
          series: [
            { value: (_u, v) => (v == null ? '–' : formatLocal(v * 1000, false)) },
            ...shown.map((series, i) => ({
              label: label(series),
              stroke: PALETTE[i % PALETTE.length],
              width: 1.5,
              spanGaps: false,
              points: { show: steps < 80 },
              // Without the cursor on the plot there is no step to show.
              value: (_u: uPlot, v: number | null, _series: number, index: number | null) => (index == null ? '–' : formatRuleValue(kind, v)),
            })),
            ...(threshold !== null
              ? [{ label: `threshold ${conditionText(condition)}`, stroke: '#e5484d', width: 1.5, dash: [6, 4], points: { show: false }, value: () => formatRuleValue(kind, threshold) }]
              : []),
            ...(recovery !== null ? [{ label: 'recovery', stroke: '#d29922', width: 1.2, dash: [3, 3], points: { show: false }, value: () => formatRuleValue(kind, recovery) }] : []),
          ],
        })}
      />
      <p class="muted small preview-foot">
        {threshold === null
          ? 'Set a threshold to see where it would fire.'
          : `The condition would have held at ${met} of ${plural(steps, 'step')}`}
        {preview.series.length > MAX_PREVIEW_LINES && ` · ${preview.series.length - MAX_PREVIEW_LINES} more series not drawn`}
        {threshold !== null && ' (ignoring "pending for" and cooldown).'}
      </p>
    </div>
  );
}

function RuleInstances({ rule }: { rule: Rule }) {
  const poll = usePolling(REFRESH_MS * 2);
  const instances = useResource((signal) => listInstances({ state: 'all', rule_id: rule.id, limit: 20 }, signal), [rule.id, poll.tick]);
  const rules = new Map([[rule.id, rule]]);
  return (
    <section class="card" aria-label="Recent alerts of this rule" data-testid="rule-instances">
      <div class="card-head">
        <h2>Recent alerts of this rule</h2>
        <span class="muted small">newest first, at most 20</span>
      </div>
      {instances.error && !instances.data ? (
        <ErrorBox error={instances.error} title="Could not load the alerts" onRetry={poll.refresh} />
      ) : !instances.data ? (
        <Loading label="Loading alerts…" />
      ) : instances.data.instances.length === 0 ? (
        <p class="muted empty-list">The rule has not fired.</p>
      ) : (
        <InstanceTable instances={instances.data.instances} rules={rules} busy={null} showRule={false} />
      )}
    </section>
  );
}

// ---------------------------------------------------------------------------
// One instance

function InstanceDetail({ id }: { id: string }) {
  const poll = usePolling(REFRESH_MS);
  const instance = useResource((signal) => getInstance(id, signal), [id, poll.tick]);
  const ruleId = instance.data?.rule_id;
  const rule = useResource(
    ruleId
      ? (signal) =>
          getRule(ruleId, signal).catch((error: Error) => {
            // A deleted rule: the instance stays, without its rule.
            if (error instanceof ApiError && error.status === 404) return null;
            throw error;
          })
      : null,
    [ruleId],
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);

  const act = async (key: string, change: () => Promise<unknown>) => {
    setBusy(key);
    setActionError(null);
    try {
      await change();
    } catch (error) {
      setActionError(error as Error);
    } finally {
      setBusy(null);
      poll.refresh();
      void refreshFiringCount();
    }
  };

  const crumbs = (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a {...backLink('/alerts')}>Alerts</a> / <span>alert {id}</span>
    </nav>
  );
  if (instance.error && !instance.data) {
    return (
      <div class="page">
        {crumbs}
        <ErrorBox error={instance.error} title="Could not load the alert" onRetry={poll.refresh} />
      </div>
    );
  }
  const data = instance.data;
  // The rule says how its values read (a ratio, ms, …): wait for it (or
  // for the news that it was deleted).
  if (!data || data.id !== id || (rule.data === undefined && !rule.error)) {
    return (
      <div class="page">
        {crumbs}
        <Loading label="Loading the alert…" />
      </div>
    );
  }
  const known = rule.data ?? undefined;
  const value = (v: number | null) => (known ? formatRuleValue(known.kind, v) : v === null ? 'no data' : String(v));
  const open = data.state !== 'resolved';
  const end = data.resolved_at ? parseTime(data.resolved_at) : Date.now();
  const notifications = data.notifications ?? [];
  const service = data.labels.service;

  return (
    <div class="page" data-testid="instance-detail" data-instance-id={data.id} data-state={data.state}>
      {crumbs}
      <div class="page-head">
        <h1 class="instance-title">
          {data.rule_name} <StatePill state={data.state} /> <SeverityPill severity={data.severity} />
        </h1>
        <div class="toolbar">
          {data.state === 'firing' && (
            <button type="button" class="btn btn-primary" data-testid="ack" disabled={busy !== null} onClick={() => act('ack', () => ackInstance(data.id))}>
              Acknowledge
            </button>
          )}
          {open && (
            <button type="button" class="btn" data-testid="resolve" disabled={busy !== null} onClick={() => act('resolve', () => resolveInstance(data.id))}>
              Resolve
            </button>
          )}
        </div>
      </div>
      {actionError && <ErrorBox error={actionError} title="The change failed" />}
      <section class="card" aria-label="Alert">
        <p class="instance-message" data-testid="instance-message">
          {data.message}
        </p>
        <dl class="facts">
          <dt>State</dt>
          <dd data-testid="instance-state">
            {data.state}
            {data.state === 'acknowledged' && ' — notifications stop repeating until it resolves'}
          </dd>
          <dt>{open ? 'Value' : 'Last value'}</dt>
          <dd class="num" data-testid="instance-value">
            {value(data.value)}
          </dd>
          <dt>Threshold</dt>
          <dd>{known ? thresholdText(known.kind, known.condition, data.threshold) : data.threshold}</dd>
          <dt>Started</dt>
          <dd>
            <Time iso={data.started_at} /> <span class="muted">({formatAge(parseTime(data.started_at))})</span>
          </dd>
          <dt>{open ? 'Open for' : 'Lasted'}</dt>
          <dd>{formatDuration(end - parseTime(data.started_at))}</dd>
          {data.acknowledged_at && (
            <>
              <dt>Acknowledged</dt>
              <dd data-testid="instance-acknowledged">
                <Time iso={data.acknowledged_at} />
                {data.acknowledged_by && <span class="muted"> by {data.acknowledged_by}</span>}
              </dd>
            </>
          )}
          {data.resolved_at && (
            <>
              <dt>Resolved</dt>
              <dd>
                <Time iso={data.resolved_at} />
                {data.resolved_by && <span class="muted"> by {data.resolved_by}</span>}
              </dd>
            </>
          )}
          <dt>Labels</dt>
          <dd>
            <LabelChips labels={data.labels} />
          </dd>
          <dt>Rule</dt>
          <dd>
            {rule.data === null ? (
              <span class="muted">deleted</span>
            ) : (
              <>
                <a href={href('/alerts', { rule: data.rule_id })} data-testid="instance-rule">
                  {data.rule_name}
                </a>
                {known && <span class="muted"> · {ruleTarget(known)}</span>}
              </>
            )}
          </dd>
        </dl>
        {service && (
          <div class="detail-actions">
            <a class="btn btn-small" href={`/services/${encodeURIComponent(service)}`}>
              Service {service}
            </a>
            <a class="btn btn-small" href={href('/traces', { service, status: known?.kind === 'error_rate' ? 'error' : undefined })}>
              Traces of {service}
            </a>
            <a class="btn btn-small" href={href('/logs', { q: `service:${JSON.stringify(service)}` })}>
              Logs of {service}
            </a>
          </div>
        )}
      </section>
      <section class="card" aria-label="Notifications" data-testid="notifications">
        <div class="card-head">
          <h2>{plural(notifications.length, 'notification')}</h2>
          <span class="muted small">deliveries to the rule's channels, newest last</span>
        </div>
        {notifications.length === 0 ? (
          <p class="muted empty-list">None: the rule has no channels.</p>
        ) : (
          <NotificationTable notifications={notifications} busy={busy} onRetry={(n) => act(`retry:${n.id}`, () => retryNotification(n.id))} />
        )}
      </section>
    </div>
  );
}

function NotificationTable({ notifications, busy, onRetry }: { notifications: Notification[]; busy: string | null; onRetry: (notification: Notification) => void }) {
  return (
    <div class="table-scroll">
      <table class="red-table alert-table notification-table">
        <thead>
          <tr>
            <th>Channel</th>
            <th>Event</th>
            <th>Status</th>
            <th>Last error</th>
            <th>Times</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {notifications.map((n) => (
            <tr key={n.id} data-notification-id={n.id} data-status={n.status}>
              <td class="wrap">
                {n.channel}
                <div class="mono small muted notification-url">{n.url}</div>
              </td>
              <td>
                <StatePill state={n.event} />
              </td>
              <td>
                <span class={`pill pill-${n.status === 'delivered' ? 'ok' : n.status === 'failed' ? 'bad' : 'warn'}`} data-testid="notification-status">
                  {n.status}
                </span>
                <div class="muted small">{plural(n.attempts, 'attempt')}</div>
              </td>
              <td class="wrap small">{n.last_error ?? <span class="muted">–</span>}</td>
              <td class="small">
                <div>
                  <span class="muted">created</span> <Time iso={n.created_at} millis={false} />
                </div>
                {n.delivered_at ? (
                  <div>
                    <span class="muted">delivered</span> <Time iso={n.delivered_at} millis={false} />
                  </div>
                ) : (
                  n.status === 'pending' && (
                    <div>
                      <span class="muted">next attempt</span> <Time iso={n.next_attempt_at} millis={false} />
                    </div>
                  )
                )}
              </td>
              <td class="actions">
                {n.status === 'failed' && (
                  <button type="button" class="btn btn-small" data-action="retry" disabled={busy !== null} onClick={() => onRetry(n)}>
                    Retry
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
