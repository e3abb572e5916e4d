// System: deep health checks, ingest counters and rates, the write queue,
// log indexer lag and storage, refreshed every few seconds.
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { getJson, getText, type Check, type DeepHealth, type Stats } from '../lib/api';
import { formatAge, formatBytes, formatCount, formatDuration, formatRate, parseTime, plural } from '../lib/format';
import { axis, Chart, timeAxis } from '../components/Chart';
import { ErrorBox, Loading, StatusPill, Time } from '../components/common';
import { VERSION } from '../lib/version';

const REFRESH_MS = 5000;
const HISTORY = 120;

interface Sample {
  label: string;
  value: number;
  labels: Record<string, string>;
}

/** Prometheus text format → samples (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    if (match[3]) {
      for (const pair of match[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    }
    out.push({ label: match[1], value: Number(match[4]), labels });
  }
  return out;
}

function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.label === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

interface Snapshot {
  at: number;
  health?: DeepHealth;
  stats?: Stats;
  metrics?: Sample[];
  errors: { health?: Error; stats?: Error; metrics?: Error };
}

function useSnapshots() {
  const [history, setHistory] = useState<Snapshot[]>([]);
  const [tick, setTick] = useState(0);
  const timer = useRef(0);
  const samples = useRef(0);
  useEffect(() => {
    const controller = new AbortController();
    const settle = <T,>(promise: Promise<T>) => promise.then((value) => ({ value }), (error: Error) => ({ error }));
    (async () => {
      const [health, stats, metrics] = await Promise.all([
        settle(getJson<DeepHealth>('/health/deep', {}, controller.signal, [503])),
        settle(getJson<Stats>('/api/stats', {}, controller.signal)),
        settle(getText('/metrics', controller.signal).then(parseMetrics)),
      ]);
      if (controller.signal.aborted) return;
      const snapshot: Snapshot = {
        at: Date.now(),
        health: 'value' in health ? health.value : undefined,
        stats: 'value' in stats ? stats.value : undefined,
        metrics: 'value' in metrics ? metrics.value : undefined,
        errors: {
          health: 'error' in health ? health.error : undefined,
          stats: 'error' in stats ? stats.error : undefined,
          metrics: 'error' in metrics ? metrics.error : undefined,
        },
      };
      setHistory((previous) => [...previous, snapshot].slice(-HISTORY));
      // The second sample comes sooner, so rates show without a long wait.
      samples.current += 1;
      timer.current = window.setTimeout(() => setTick((t) => t + 1), samples.current === 1 ? 1500 : REFRESH_MS);
    })();
    return () => {
      controller.abort();
      clearTimeout(timer.current);
    };
  }, [tick]);
  return { history, refresh: () => (clearTimeout(timer.current), setTick((t) => t + 1)) };
}

function rate(history: Snapshot[], pick: (s: Snapshot) => number | undefined): number | undefined {
  if (history.length < 2) return undefined;
  const last = history[history.length - 1];
  const previous = history[history.length - 2];
  const a = pick(previous);
  const b = pick(last);
  if (a === undefined || b === undefined) return undefined;
  return Math.max(0, (b - a) / ((last.at - previous.at) / 1000));
}

const CHECK_LABELS: Record<string, string> = {
  writer: 'Writer thread',
  sqlite: 'SQLite',
  disk: 'Disk',
  queue: 'Write queue',
  log_index: 'Log indexer',
  threads: 'Background threads',
  alert_engine: 'Alert engine',
  notifier: 'Notifier',
  forwarding: 'Forwarding',
};

/** Human names of the detail keys the checks report (docs/API.md). */
const DETAIL_LABELS: Record<string, string> = {
  alive: 'Running',
  budget_bytes: 'Budget (--max-disk)',
  capacity: 'Capacity',
  capacity_records_per_second: 'Indexing capacity',
  commits: 'Commits',
  depth: 'Queued writes',
  free_bytes: 'Free space',
  indexed_through: 'Indexed through record',
  lag_records: 'Records waiting',
  lag_seconds: 'Oldest waiting',
  last_commit: 'Last commit',
  max_lag_seconds: 'Lag allowed',
  outbox_bytes: 'Outbox',
  upstreams: 'Upstreams',
  readable: 'Readable',
  used_bytes: 'Used of the budget',
  writable: 'Writable',
};

const COUNT_LABELS: Record<string, string> = {
  traces: 'Traces stored',
  spans: 'Spans stored',
  services: 'Services',
  logs: 'Log records stored',
};

const STORE_LABELS: Record<string, string> = {
  sqlite: 'Traces (SQLite)',
  logs: 'Logs (journal and index)',
};

/** `some_key_name` → "Some key name", for keys without a label yet. */
export function humanize(key: string): string {
  const words = key.replace(/_(bytes|seconds|ms)$/, '').replace(/[_.]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function detailValue(key: string, value: unknown) {
  // Measured from the first indexer commits: zero means "not yet".
  if (key === 'capacity_records_per_second' && value === 0) return <span class="muted">not measured yet</span>;
  if (key === 'capacity_records_per_second' && typeof value === 'number') return `${formatCount(Math.round(value))} records/s`;
  if (key === 'last_commit' && value === null) return <span class="muted">none yet</span>;
  if (key === 'upstreams' && value && typeof value === 'object') return <Upstreams upstreams={value as Record<string, UpstreamState>} />;
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) {
    return (
      <>
        <Time iso={value} /> <span class="muted">({formatAge(parseTime(value))})</span>
      </>
    );
  }
  if (typeof value === 'number' && key.endsWith('bytes')) return formatBytes(value);
  if (typeof value === 'number' && key.endsWith('seconds')) return formatDuration(value * 1000);
  if (typeof value === 'number') return formatCount(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (value === null || value === undefined) return <span class="muted">—</span>;
  if (typeof value === 'object') {
    // e.g. threads.alive: {"writer": true, …}
    return Object.entries(value as Record<string, unknown>)
      .map(([name, inner]) => (typeof inner === 'boolean' ? `${name} ${inner ? '✓' : '✗'}` : `${name}: ${String(inner)}`))
      .join(', ');
  }
  return String(value);
}

interface UpstreamState {
  protocol: string;
  waiting: number;
  lag_seconds: number;
  last_error: string | null;
}

/** Forwarding's upstreams: what waits for each, and its last error. */
function Upstreams({ upstreams }: { upstreams: Record<string, UpstreamState> }) {
  return (
    <ul class="upstreams" data-testid="forward-upstreams">
      {Object.entries(upstreams).map(([url, upstream]) => (
        <li key={url}>
          <code>{url}</code> <span class="muted">({upstream.protocol})</span>: {plural(upstream.waiting, 'batch', 'batches')} waiting
          {upstream.waiting > 0 && <>, the oldest for {formatDuration(upstream.lag_seconds * 1000)}</>}
          {upstream.last_error && <span class="error-message"> — {upstream.last_error}</span>}
        </li>
      ))}
    </ul>
  );
}

function CheckCard({ name, check }: { name: string; check: Check }) {
  const details = Object.entries(check).filter(([key]) => key !== 'status' && key !== 'message');
  return (
    <div class={`check check-${check.status}`} data-check={name}>
      <div class="check-head">
        <h3>{CHECK_LABELS[name] ?? humanize(name)}</h3>
        <StatusPill status={check.status} />
      </div>
      {check.message && <p class="check-message">{check.message}</p>}
      <dl class="facts compact">
        {details.map(([key, value]) => (
          <Fragment key={key}>
            <dt data-key={key}>{DETAIL_LABELS[key] ?? humanize(key)}</dt>
            <dd>{detailValue(key, value)}</dd>
          </Fragment>
        ))}
      </dl>
    </div>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value num">{value}</div>
      {hint && <div class="stat-hint muted small">{hint}</div>}
    </div>
  );
}

/** A bar of `value` out of `max`; `status` colours it by fullness. */
function Meter({ value, max, label, status = false }: { value: number; max: number; label: string; status?: boolean }) {
  const percent = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  const tone = !status ? ' neutral' : percent >= 90 ? ' bad' : percent >= 50 ? ' warn' : '';
  return (
    <div class="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value}>
      <span class={`meter-fill${tone}`} style={{ width: `${percent}%` }} />
    </div>
  );
}

function RateChart({ history }: { history: Snapshot[] }) {
  const points = history.slice(1).map((snapshot, i) => {
    const previous = history[i];
    const seconds = (snapshot.at - previous.at) / 1000;
    const spans = (snapshot.stats?.ingested.spans ?? 0) - (previous.stats?.ingested.spans ?? 0);
    const logs = (snapshot.stats?.ingested.logs ?? 0) - (previous.stats?.ingested.logs ?? 0);
    return [snapshot.at / 1000, Math.max(0, spans / seconds), Math.max(0, logs / seconds)];
  });
  const data: uPlot.AlignedData = [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => p[2])];
  return (
    <Chart
      label="Ingest rate since this page opened"
      height={140}
      data={data}
      options={(theme) => ({
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
        axes: [timeAxis(theme), axis(theme, { size: 56, values: (_u, values) => values.map((v) => (v == null ? '' : formatRate(v))) })],
        series: [
          {},
          { label: 'spans/s', stroke: '#4e79a7', width: 2, points: { show: false } },
          { label: 'logs/s', stroke: '#59a14f', width: 2, points: { show: false } },
        ],
      })}
    />
  );
}

export function SystemPage() {
  const { history, refresh } = useSnapshots();
  const last = history[history.length - 1];
  if (!last) {
    return (
      <div class="page">
        <div class="page-head">
          <h1>System</h1>
        </div>
        <Loading label="Checking lookout…" />
      </div>
    );
  }
  const { health, stats, metrics, errors } = last;
  const m = metrics ?? [];
  const queueDepth = metric(m, 'lookout_writer_queue_depth') ?? (health?.checks.queue?.depth as number | undefined) ?? 0;
  const queueCapacity = metric(m, 'lookout_writer_queue_capacity') ?? (health?.checks.queue?.capacity as number | undefined) ?? 0;
  const lagRecords = metric(m, 'lookout_log_index_lag_records');
  const lagSeconds = metric(m, 'lookout_log_index_lag_seconds');
  const rejected = m.filter((s) => s.label === 'lookout_ingest_rejected_total' && s.value > 0);
  const commitCount = metric(m, 'lookout_writer_commit_seconds_count');
  const commitSum = metric(m, 'lookout_writer_commit_seconds_sum');
  const spansRate = rate(history, (s) => s.stats?.ingested.spans);
  const logsRate = rate(history, (s) => s.stats?.ingested.logs);
  const storage = stats?.storage_bytes ?? {};
  const storeEntries = Object.entries(storage).filter(([store]) => store !== 'total');
  const totalStorage = storage.total ?? storeEntries.reduce((sum, [, v]) => sum + v, 0);
  const requests = m.filter((s) => s.label === 'lookout_http_requests_total').reduce((sum, s) => sum + s.value, 0);
  const serverErrors = m
    .filter((s) => s.label === 'lookout_http_requests_total' && s.labels.status?.startsWith('5'))
    .reduce((sum, s) => sum + s.value, 0);

  return (
    <div class="page">
      <div class="page-head">
        <h1>System</h1>
        <div class="toolbar">
          <span class="muted small">
            lookout v{VERSION} · refreshed <Time iso={new Date(last.at).toISOString()} millis={false} /> · every {REFRESH_MS / 1000}s
          </span>
          <button type="button" class="btn btn-small" onClick={refresh}>
            Refresh now
          </button>
          <a class="btn btn-small" href="/explore" data-testid="explore-metrics">
            Explore metrics
          </a>
        </div>
      </div>

      <section class="card" aria-label="Health">
        <div class="card-head">
          <h2>
            Health {health && <span data-testid="health-status"><StatusPill status={health.status} /></span>}
          </h2>
        </div>
        {errors.health && <ErrorBox error={errors.health} title="Health check failed" />}
        {health && (
          <div class="checks">
            {Object.entries(health.checks).map(([name, check]) => (
              <CheckCard key={name} name={name} check={check} />
            ))}
          </div>
        )}
      </section>

      <div class="grid-2">
        <section class="card" aria-label="Ingest">
          <div class="card-head">
            <h2>Ingest</h2>
          </div>
          {errors.stats && <ErrorBox error={errors.stats} title="Stats failed" />}
          <div class="stats">
            <Stat label="Spans ingested" value={stats ? formatCount(stats.ingested.spans) : '–'} hint="since start" />
            <Stat label="Span rate" value={spansRate === undefined ? '…' : formatRate(spansRate)} />
            <Stat label="Logs ingested" value={stats ? formatCount(stats.ingested.logs) : '–'} hint="since start" />
            <Stat label="Log rate" value={logsRate === undefined ? '…' : formatRate(logsRate)} />
          </div>
          {history.length > 2 && <RateChart history={history} />}
          <h3 class="subhead">Rejected</h3>
          {rejected.length === 0 ? (
            <p class="muted small">Nothing rejected.</p>
          ) : (
            <table class="kv">
              <tbody>
                {rejected.map((s) => (
                  <tr key={s.labels.reason}>
                    <th scope="row">{humanize(s.labels.reason)}</th>
                    <td class="num">{formatCount(s.value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section class="card" aria-label="Pipeline">
          <div class="card-head">
            <h2>Pipeline</h2>
          </div>
          {errors.metrics && <ErrorBox error={errors.metrics} title="Metrics failed" />}
          <div class="pipeline-row">
            <div class="pipeline-label">
              <span>Write queue</span>
              <span class="num">
                {formatCount(queueDepth)} <span class="muted">of {plural(queueCapacity, 'request')}</span>
              </span>
            </div>
            <Meter value={queueDepth} max={queueCapacity} label="Write queue depth" status />
          </div>
          <div class="stats">
            <Stat label="Commits" value={commitCount !== undefined ? formatCount(commitCount) : '–'} />
            <Stat label="Mean commit" value={commitCount && commitSum !== undefined ? formatDuration((commitSum / commitCount) * 1000) : '–'} />
            <Stat label="Indexer lag" value={lagRecords !== undefined ? plural(lagRecords, 'record') : '–'} hint={lagSeconds !== undefined ? `oldest waits ${formatDuration(lagSeconds * 1000)}` : undefined} />
            <Stat label="HTTP requests" value={formatCount(requests)} hint={`${formatCount(serverErrors)} answered 5xx`} />
          </div>
        </section>
      </div>

      <section class="card" aria-label="Storage">
        <div class="card-head">
          <h2>Storage</h2>
          <span class="muted small">total {formatBytes(totalStorage)}</span>
        </div>
        {stats?.disk?.budget_bytes && (
          <div class="pipeline-row" data-testid="disk-budget">
            <div class="pipeline-label">
              <span>Disk budget (--max-disk)</span>
              <span class="num">
                {formatBytes(stats.disk.used_bytes ?? 0)} <span class="muted">of {formatBytes(stats.disk.budget_bytes)}</span>
              </span>
            </div>
            <Meter value={stats.disk.used_bytes ?? 0} max={stats.disk.budget_bytes} label="Disk budget used" />
            {stats.disk.deleted_before && (
              <p class="muted small">
                The oldest data is deleted to stay within the budget: nothing before <Time iso={stats.disk.deleted_before} millis={false} /> is kept.
              </p>
            )}
          </div>
        )}
        <div class="storage">
          {storeEntries.map(([store, bytes]) => (
            <div class="pipeline-row" key={store}>
              <div class="pipeline-label">
                <span>{STORE_LABELS[store] ?? humanize(store)}</span>
                <span class="num">{formatBytes(bytes)}</span>
              </div>
              <Meter value={bytes} max={totalStorage} label={`${STORE_LABELS[store] ?? humanize(store)} storage`} />
            </div>
          ))}
        </div>
        {stats && (
          <div class="stats">
            {Object.entries(stats.counts).map(([name, count]) => (
              <Stat key={name} label={COUNT_LABELS[name] ?? humanize(name)} value={formatCount(count)} />
            ))}
            <Stat label="Oldest trace" value={stats.oldest_trace ? formatAge(parseTime(stats.oldest_trace)) : '–'} />
            <Stat label="Newest trace" value={stats.newest_trace ? formatAge(parseTime(stats.newest_trace)) : '–'} />
            {stats.log_days && <Stat label="Log days" value={formatCount(stats.log_days.length)} />}
          </div>
        )}
        {stats?.retention && (
          <div class="stats" data-testid="retention">
            {(['traces', 'logs', 'metrics'] as const).map((signal) => {
              const kept = stats.retention?.[signal];
              return (
                <Stat
                  key={signal}
                  label={`${humanize(signal)} kept for`}
                  value={kept?.age_seconds != null ? formatDuration(kept.age_seconds * 1000) : '–'}
                  hint={kept?.oldest ? 'age of the oldest kept' : 'none kept'}
                />
              );
            })}
          </div>
        )}
      </section>
    </div>
  );
}
