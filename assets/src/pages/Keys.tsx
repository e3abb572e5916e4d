// API keys: managed ingest keys (docs/API.md, "Auth and audit"). A new
// key is shown once, with what an OpenTelemetry SDK needs to send with it;
// the list shows only prefixes. Keys are revoked after a confirmation.
// Below, the admin password (set or change; every session ends).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, useResource } from '../lib/api';
import { formatAge, formatLocal, parseTime, plural, utcTitle } from '../lib/format';
import { createKey, exporterSnippet, fieldMessage, listKeys, revokeKey, type ApiKey, type CreatedKey } from '../lib/security';
import { changePassword } from '../lib/session';
import { useAppState } from '../lib/store';
import { ErrorBox, Loading } from '../components/common';

const PASSWORD_MIN = 12;
const PASSWORD_MAX = 1024;

export function KeysPage() {
  const keys = useResource((signal) => listKeys(signal), []);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoked, setRevoked] = useState<string | null>(null);
  const list = keys.data ?? [];

  return (
    <div class="page keys-page">
      <div class="page-head">
        <h1>API keys</h1>
        <span class="muted small">keys that OpenTelemetry SDKs and collectors send to ingest</span>
      </div>
      <CreateForm
        first={keys.data !== undefined && list.length === 0}
        onCreated={(key) => {
          setCreated(key);
          setRevoked(null);
          keys.reload();
        }}
      />
      {created && <NewKey created={created} onDismiss={() => setCreated(null)} />}
      {revoked && (
        <div class="notice" role="status" data-testid="revoked-notice">
          The key <strong>{revoked}</strong> was revoked: senders that use it are refused from now on.
        </div>
      )}
      <section class="card" aria-label="Keys" data-testid="key-list">
        <div class="card-head">
          <h2>
            {keys.data ? plural(list.length, 'key') : 'Keys'} {keys.loading && keys.data && <span class="spinner small" aria-label="refreshing" />}
          </h2>
          <span class="muted small">newest first · last use is recorded every 30 s</span>
        </div>
        {keys.error && !keys.data ? (
          <ErrorBox error={keys.error} title="Could not load the keys" onRetry={keys.reload} />
        ) : !keys.data ? (
          <Loading label="Loading keys…" />
        ) : list.length === 0 ? (
          <p class="muted empty-list" data-testid="keys-empty">
            No managed keys. While there are none (and lookout was started without <code>--api-key</code>), ingest on a loopback address needs no key.
          </p>
        ) : (
          <KeyTable
            keys={list}
            onRevoked={(key) => {
              if (created?.id === key.id) setCreated(null);
              setRevoked(key.name);
              keys.reload();
            }}
          />
        )}
      </section>
      <PasswordForm />
    </div>
  );
}

function CreateForm({ first, onCreated }: { first: boolean; onCreated: (key: CreatedKey) => void }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const fieldError = error instanceof ApiError && error.status === 400 ? error : null;
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await createKey(name);
      setName('');
      onCreated(key);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="filters key-create" aria-label="Create a key" onSubmit={submit} data-testid="key-create">
      <div class="field field-wide">
        <label for="key-name">Name</label>
        <input
          id="key-name"
          type="text"
          required
          value={name}
          placeholder="e.g. edge-7 or checkout-service"
          autoComplete="off"
          aria-invalid={fieldError ? 'true' : undefined}
          aria-describedby={fieldError ? 'key-name-error' : 'key-name-help'}
          onInput={(e) => {
            setName((e.target as HTMLInputElement).value);
            if (fieldError) setError(null);
          }}
        />
        {fieldError ? (
          <div class="field-error" id="key-name-error" data-error-for={fieldError.field ?? 'name'} role="alert">
            {fieldMessage(fieldError)}
          </div>
        ) : (
          <div class="small muted field-help" id="key-name-help">
            {first ? 'Once a key exists, ingest (/v1/*, /api/ingest/*) needs one: senders without a key are refused.' : 'Who or what will send with it: 1 to 100 characters.'}
          </div>
        )}
      </div>
      <div class="field field-actions">
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
      {error && !fieldError && <ErrorBox error={error} title="Could not create the key" />}
    </form>
  );
}

/** Copies `text`; where the clipboard is not available (plain http on
 * another host, say) it selects `select()` for the user to copy. */
function CopyButton({ text, select, label, testid }: { text: string; select: () => HTMLElement | null; label: string; testid?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'selected'>('idle');
  const timer = useRef(0);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = async () => {
    clearTimeout(timer.current);
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      const element = select();
      const selection = window.getSelection();
      if (element && selection) {
        selection.selectAllChildren(element);
        let copied = false;
        try {
          copied = document.execCommand('copy');
        } catch {
          copied = false;
        }
        setState(copied ? 'copied' : 'selected');
      } else setState('selected');
    }
    timer.current = window.setTimeout(() => setState('idle'), 2500);
  };
  return (
    <button type="button" class="btn btn-small" data-testid={testid} data-state={state} onClick={copy}>
      {state === 'copied' ? 'Copied' : state === 'selected' ? 'Selected: press Ctrl+C' : label}
    </button>
  );
}

function NewKey({ created, onDismiss }: { created: CreatedKey; onDismiss: () => void }) {
  const keyRef = useRef<HTMLElement>(null);
  const snippetRef = useRef<HTMLPreElement>(null);
  const panel = useRef<HTMLElement>(null);
  const snippet = exporterSnippet(created.key);
  useEffect(() => panel.current?.scrollIntoView({ block: 'nearest' }), [created.id]);
  return (
    <section class="card new-key" ref={panel} aria-labelledby="new-key-title" data-testid="new-key" data-key-id={created.id}>
      <div class="card-head">
        <h2 id="new-key-title">
          New key <span class="key-name">{created.name}</span>
        </h2>
        <button type="button" class="btn btn-small" data-testid="dismiss-key" onClick={onDismiss}>
          Done
        </button>
      </div>
      <p class="new-key-warning">
        <strong>Copy it now: it is shown only this once.</strong> lookout keeps only its hash; later this page shows its prefix <code>{created.prefix}</code>.
      </p>
      <div class="key-value-row">
        <code class="key-value" ref={keyRef} data-testid="new-key-value">
          {created.key}
        </code>
        <CopyButton text={created.key} select={() => keyRef.current} label="Copy key" testid="copy-key" />
      </div>
      <p class="small muted">For an OpenTelemetry SDK or collector (OTLP over HTTP), in its environment:</p>
      <div class="key-snippet">
        <pre class="code-block" ref={snippetRef} data-testid="key-snippet">
          {snippet}
        </pre>
        <CopyButton text={snippet} select={() => snippetRef.current} label="Copy" testid="copy-snippet" />
      </div>
      <p class="small muted">
        Other clients send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>x-api-key: &lt;key&gt;</code> to <code>/v1/traces</code>, <code>/v1/metrics</code>, <code>/v1/logs</code> and{' '}
        <code>/api/ingest/logs</code>, or as the same gRPC metadata to OTLP/gRPC (port 4317). It works at once; revoking it takes effect at once too.
      </p>
    </section>
  );
}

/** "3m ago", the exact time on hover; "never" for null. */
function When({ iso, never = 'never' }: { iso: string | null; never?: string }) {
  if (!iso) return <span class="muted">{never}</span>;
  const ms = parseTime(iso);
  return (
    <time dateTime={iso} title={`${formatLocal(ms, false)} (${utcTitle(iso)})`}>
      {formatAge(ms)}
    </time>
  );
}

function KeyTable({ keys, onRevoked }: { keys: ApiKey[]; onRevoked: (key: ApiKey) => void }) {
  const [confirming, setConfirming] = useState<number | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<{ id: number; error: Error } | null>(null);
  const revoke = async (key: ApiKey) => {
    setBusy(key.id);
    setError(null);
    try {
      await revokeKey(key.id);
      setConfirming(null);
      onRevoked(key);
    } catch (e) {
      const failure = e as Error;
      // Already revoked (elsewhere): the list is out of date.
      if (failure instanceof ApiError && failure.status === 404) {
        setConfirming(null);
        onRevoked(key);
      } else setError({ id: key.id, error: failure });
    } finally {
      setBusy(null);
    }
  };
  return (
    <div class="table-scroll">
      <table class="red-table key-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Created</th>
            <th>Last used</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <tr key={key.id} data-key-id={key.id} data-key-prefix={key.prefix}>
              <td class="key-name" data-col="name">
                {key.name}
              </td>
              <td data-col="prefix">
                <code>{key.prefix}…</code>
              </td>
              <td class="small" data-col="created">
                <When iso={key.created_at} />
              </td>
              <td class="small" data-col="last-used">
                <When iso={key.last_used_at} />
              </td>
              <td class="actions">
                {confirming === key.id ? (
                  <span class="confirm-inline" role="group" aria-label={`Revoke ${key.name}?`}>
                    <span class="small">Senders using it are refused at once.</span>
                    <button type="button" class="btn btn-small btn-danger" data-testid="confirm-revoke" disabled={busy === key.id} onClick={() => revoke(key)}>
                      {busy === key.id ? 'Revoking…' : 'Revoke'}
                    </button>
                    <button type="button" class="btn btn-small" onClick={() => setConfirming(null)}>
                      Cancel
                    </button>
                  </span>
                ) : (
                  <button type="button" class="btn btn-small" data-testid="revoke" onClick={() => setConfirming(key.id)}>
                    Revoke…
                  </button>
                )}
                {error?.id === key.id && <div class="field-error" role="alert">{error.error.message}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Sets or changes the admin password; on success every session ends and
 * the login page follows. */
function PasswordForm() {
  const { session } = useAppState();
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: string; message: string } | null>(null);
  if (!session) return null;
  const isSet = session.password_set;
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const length = [...password].length;
    if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
      setError({ field: 'password', message: `Must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters` });
      return;
    }
    if (password !== repeat) {
      setError({ field: 'repeat', message: 'Does not match the new password' });
      return;
    }
    setBusy(true);
    try {
      await changePassword(password, isSet ? current : undefined);
    } catch (e) {
      const failure = e as ApiError;
      const field = failure instanceof ApiError && failure.status === 400 && failure.field ? failure.field : 'form';
      setError({ field: field === 'password' || field === 'current_password' ? field : 'form', message: field === 'form' ? failure.message : fieldMessage(failure) });
      setBusy(false);
    }
  };
  const errorFor = (field: string) =>
    error?.field === field ? (
      <div class="field-error" id={`pw-${field}-error`} data-error-for={field} role="alert">
        {error.message}
      </div>
    ) : null;
  const invalid = (field: string) => (error?.field === field ? { 'aria-invalid': 'true' as const, 'aria-describedby': `pw-${field}-error` } : {});
  return (
    <section class="card account" aria-labelledby="password-title" data-testid="password-form">
      <div class="card-head">
        <h2 id="password-title">{isSet ? 'Change the admin password' : 'Set an admin password'}</h2>
      </div>
      <p class="small muted">
        {isSet
          ? 'Every session ends when it changes, this one too: you log in again with the new password.'
          : session.auth_required
            ? 'Log in with a password instead of the admin token. Every session ends when it is set: you log in again with it.'
            : 'Auth is off (lookout listens on a loopback address without a token). Setting a password turns it on: from then on this app and the API ask for it.'}
      </p>
      <form class="form-grid password-grid" onSubmit={submit}>
        {isSet && (
          <div class="field">
            <label for="pw-current">Current password</label>
            <input id="pw-current" type="password" autoComplete="current-password" required value={current} {...invalid('current_password')} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} />
            {errorFor('current_password')}
          </div>
        )}
        <div class="field">
          <label for="pw-new">New password</label>
          <input id="pw-new" type="password" autoComplete="new-password" required value={password} {...invalid('password')} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
          {errorFor('password') ?? <div class="small muted field-help">{PASSWORD_MIN} to {PASSWORD_MAX} characters</div>}
        </div>
        <div class="field">
          <label for="pw-repeat">New password again</label>
          <input id="pw-repeat" type="password" autoComplete="new-password" required value={repeat} {...invalid('repeat')} onInput={(e) => setRepeat((e.target as HTMLInputElement).value)} />
          {errorFor('repeat')}
        </div>
        <div class="field field-actions">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? 'Saving…' : isSet ? 'Change password' : 'Set password'}
          </button>
        </div>
      </form>
      {errorFor('form')}
    </section>
  );
}
