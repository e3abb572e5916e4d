// Log records as a table, newest first, each expandable to its full
// record: attributes as a tree, ids, and a copy-as-JSON button.
import { useState } from 'preact/hooks';
import type { LogRecord } from '../lib/api';
import { serviceColor, severityClass } from '../lib/colors';
import { formatLocal, parseTime, utcTitle, valueText } from '../lib/format';
import { href } from '../lib/router';
import { AttributeTree } from './tree';
import { CopyButton, Time } from './common';

function LogDetail({ record }: { record: LogRecord }) {
  const body = record.body;
  return (
    <div class="log-detail">
      <dl class="facts">
        <dt>Time</dt>
        <dd>
          <Time iso={record.timestamp} /> <span class="muted small">{record.timestamp}</span>
        </dd>
        <dt>Observed</dt>
        <dd>
          <Time iso={record.observed_timestamp} />
        </dd>
        <dt>Severity</dt>
        <dd>
          {record.severity_text || '—'} <span class="muted">({record.severity_number})</span>
        </dd>
        <dt>Service</dt>
        <dd>{record.service}</dd>
        {record.trace_id && (
          <>
            <dt>Trace</dt>
            <dd>
              <a href={href(`/traces/${record.trace_id}`, { span: record.span_id ?? undefined })}>
                <code>{record.trace_id}</code>
              </a>
            </dd>
          </>
        )}
        {record.span_id && (
          <>
            <dt>Span</dt>
            <dd>
              <code>{record.span_id}</code>
            </dd>
          </>
        )}
        {record.scope?.name && (
          <>
            <dt>Scope</dt>
            <dd>{record.scope.name}</dd>
          </>
        )}
      </dl>
      <div class="log-body-full">
        <h4>Body</h4>
        {typeof body === 'object' && body !== null ? <AttributeTree attributes={body as Record<string, unknown>} /> : <pre>{valueText(body)}</pre>}
      </div>
      <div class="log-trees">
        <div>
          <h4>Attributes</h4>
          <AttributeTree attributes={record.attributes} />
        </div>
        <div>
          <h4>Resource</h4>
          <AttributeTree attributes={record.resource} />
        </div>
      </div>
      <div class="detail-actions">
        <CopyButton label="Copy as JSON" text={() => JSON.stringify(record, null, 2)} />
      </div>
    </div>
  );
}

function LogRow({ record, showTraceLinks, fresh }: { record: LogRecord; showTraceLinks: boolean; fresh?: boolean }) {
  const [open, setOpen] = useState(false);
  const level = severityClass(record.severity_text, record.severity_number);
  // Kept to few elements per row: a page shows up to a thousand at once.
  return (
    <div class={`log-row${open ? ' open' : ''}${fresh ? ' fresh' : ''}`} role="row" data-log-id={record.id}>
      <button type="button" class="log-summary" aria-expanded={open} onClick={() => setOpen(!open)}>
        <time class="log-time" role="cell" dateTime={record.timestamp} title={utcTitle(record.timestamp)}>
          {formatLocal(parseTime(record.timestamp))}
        </time>
        <span class={`level level-${level}`} role="cell">
          {record.severity_text || level}
        </span>
        <span class="log-service" role="cell" style={{ '--service': serviceColor(record.service) }}>
          {record.service}
        </span>
        <span class="log-body" role="cell">
          {valueText(record.body)}
        </span>
      </button>
      {showTraceLinks && record.trace_id ? (
        <a
          class="log-trace"
          href={`/traces/${record.trace_id}${record.span_id ? `?span=${record.span_id}` : ''}`}
          title={`Trace ${record.trace_id}`}
        >
          {record.trace_id.slice(0, 8)}
        </a>
      ) : (
        <span class="log-trace" role="cell" />
      )}
      {open && <LogDetail record={record} />}
    </div>
  );
}

export function LogTable({ logs, showTraceLinks = true, freshIds }: { logs: LogRecord[]; showTraceLinks?: boolean; freshIds?: Set<string> }) {
  return (
    <div class="log-table" role="table" aria-label="Log records" data-testid="log-table">
      <div class="log-row log-head" role="row">
        <span class="log-summary">
          <span class="log-time" role="columnheader">
            Time
          </span>
          <span class="log-level" role="columnheader">
            Level
          </span>
          <span class="log-service" role="columnheader">
            Service
          </span>
          <span class="log-body" role="columnheader">
            Message
          </span>
        </span>
        <span class="log-trace" role="columnheader">
          {showTraceLinks ? 'Trace' : ''}
        </span>
      </div>
      {logs.map((record) => (
        <LogRow key={record.id} record={record} showTraceLinks={showTraceLinks} fresh={freshIds?.has(record.id)} />
      ))}
    </div>
  );
}
