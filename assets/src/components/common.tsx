// Small building blocks shared by the pages.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import { formatLocal, parseTime, utcTitle } from '../lib/format';

/** A time in the browser's zone; the exact UTC time on hover. */
export function Time({ iso, millis = true }: { iso: string; millis?: boolean }) {
  return (
    <time dateTime={iso} title={utcTitle(iso)}>
      {formatLocal(parseTime(iso), millis)}
    </time>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorBox({ error, onRetry, title }: { error: Error; onRetry?: () => void; title?: string }) {
  const status = error instanceof ApiError && error.status > 0 ? ` (${error.status})` : '';
  return (
    <div class="error-box" role="alert">
      <strong>{title ?? 'Request failed'}{status}</strong>
      <span class="error-message">{error.message}</span>
      {onRetry && (
        <button type="button" class="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** What to do when nothing has arrived yet. */
export function SendDataHelp({ what = 'traces' }: { what?: 'traces' | 'logs' }) {
  const origin = location.origin.includes('://') ? location.origin : 'http://localhost:4318';
  return (
    <div class="empty-state">
      <h2>No {what} here yet</h2>
      <p>
        Point any OpenTelemetry SDK or collector at lookout. OTLP over HTTP, protobuf or JSON, on the SDKs' default
        port:
      </p>
      <pre class="code-block">
        {`export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318
export OTEL_SERVICE_NAME=my-service`}
      </pre>
      <p>
        Exporters that speak gRPC use OTLP/gRPC on port 4317 (<code>OTEL_EXPORTER_OTLP_PROTOCOL=grpc</code>,{' '}
        <code>OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317</code>).
      </p>
      {what === 'logs' && (
        <>
          <p>Structured JSON lines work too:</p>
          <pre class="code-block">
            {`echo '{"level":"info","service":"my-service","msg":"hello"}' \\
  | curl -s -H 'Content-Type: application/x-ndjson' \\
      --data-binary @- ${origin}/api/ingest/logs`}
          </pre>
        </>
      )}
      <p class="muted">If data was sent already, try a longer time range or fewer filters.</p>
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty-inline">{children}</div>;
}

export function CopyButton({ text, label = 'Copy' }: { text: () => string; label?: string }) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text());
      setState('done');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState('idle'), 1500);
  };
  return (
    <button type="button" class="btn btn-small" onClick={copy}>
      {state === 'done' ? 'Copied' : state === 'failed' ? 'Copy failed' : label}
    </button>
  );
}

export function StatusPill({ status }: { status: string }) {
  const tone =
    status === 'ok' || status === 'healthy' ? 'ok' : status === 'degraded' ? 'warn' : status === 'unset' ? 'muted' : 'bad';
  return <span class={`pill pill-${tone}`}>{status}</span>;
}

/** Saves `text` as a file: the page already holds the data, so the download
 * needs no second request (and no credentials in a link). */
export function DownloadButton({ text, filename, label }: { text: () => string; filename: string; label: string }) {
  const download = () => {
    const url = URL.createObjectURL(new Blob([text()], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <button type="button" class="btn btn-small" onClick={download}>
      {label}
    </button>
  );
}
