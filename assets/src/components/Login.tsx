// The login page: shown instead of the app, whatever the URL, while auth
// is on and this browser has no session. It stays on the URL that was
// asked for, so the app opens there once logged in.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';
import { login, LoginError } from '../lib/session';
import type { LoginReason, Session } from '../lib/store';

type Method = 'password' | 'token';

export function LoginPage({ session, reason }: { session: Session; reason: LoginReason | null }) {
  const methods: Method[] = [...(session.password_set ? (['password'] as const) : []), ...(session.token_set ? (['token'] as const) : [])];
  const [method, setMethod] = useState<Method>(methods[0] ?? 'password');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** Until when (unix ms) the server refuses attempts from here. */
  const [blockedUntil, setBlockedUntil] = useState(0);
  const [, setTick] = useState(0);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Log in · lookout';
  }, []);
  useEffect(() => input.current?.focus(), [method]);
  useEffect(() => {
    if (!methods.includes(method) && methods.length > 0) setMethod(methods[0]);
  }, [session.password_set, session.token_set]);

  // The wait after too many failed logins counts down, a second at a time.
  const waitSeconds = Math.max(0, Math.ceil((blockedUntil - Date.now()) / 1000));
  useEffect(() => {
    if (waitSeconds <= 0) return;
    const timer = window.setTimeout(() => setTick((t) => t + 1), 250);
    return () => clearTimeout(timer);
  });
  useEffect(() => {
    if (blockedUntil && waitSeconds === 0) {
      setError(null);
      setBlockedUntil(0);
      input.current?.focus();
    }
  }, [waitSeconds === 0]);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!value || busy || waitSeconds > 0) return;
    setBusy(true);
    setError(null);
    try {
      await login(method === 'password' ? { password: value } : { token: value.trim() });
      // The app replaces this page once the session is in.
    } catch (e) {
      const failure = e as ApiError;
      if (failure instanceof LoginError && failure.status === 429) {
        const seconds = failure.retryAfter ?? 1;
        setBlockedUntil(Date.now() + seconds * 1000);
        setError(`Too many failed logins from this address. Try again in ${seconds} s.`);
      } else if (failure.status === 401) {
        setError(method === 'password' ? 'Invalid credentials: that is not the admin password.' : 'Invalid credentials: that is not the admin token.');
        setValue('');
        input.current?.focus();
      } else {
        setError(failure.message);
      }
    } finally {
      setBusy(false);
    }
  };

  const label = method === 'password' ? 'Password' : 'Admin token';
  return (
    <main class="login-page" id="main" data-testid="login-page">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title">
        <div class="login-brand">
          <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
            <rect width="32" height="32" rx="7" class="brand-bg" />
            <circle cx="14" cy="14" r="7" fill="none" stroke="#fff" stroke-width="3" />
            <path d="M19 19l6 6" stroke="#fff" stroke-width="3" stroke-linecap="round" />
          </svg>
          <span class="brand-name">lookout</span>
        </div>
        <h1 id="login-title">Log in</h1>
        {reason && (
          <p class={`login-reason ${reason.tone}`} data-testid="login-reason" role="status">
            {reason.text}
          </p>
        )}
        {methods.length > 1 && (
          <div class="segmented login-methods" role="group" aria-label="Log in with">
            {methods.map((m) => (
              <button
                key={m}
                type="button"
                class={`btn btn-small${method === m ? ' on' : ''}`}
                aria-pressed={method === m ? 'true' : 'false'}
                data-login-method={m}
                onClick={() => {
                  setMethod(m);
                  setValue('');
                  if (!waitSeconds) setError(null);
                }}
              >
                {m === 'password' ? 'Password' : 'Admin token'}
              </button>
            ))}
          </div>
        )}
        <label for="login-secret">{label}</label>
        <input
          id="login-secret"
          ref={input}
          name={method}
          type="password"
          autoComplete={method === 'password' ? 'current-password' : 'off'}
          spellcheck={false}
          value={value}
          aria-invalid={error && waitSeconds === 0 ? 'true' : undefined}
          aria-describedby={error ? 'login-error' : undefined}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        {error && (
          <div class="field-error login-error" id="login-error" data-testid="login-error" role="alert">
            {waitSeconds > 0 ? `Too many failed logins from this address. Try again in ${waitSeconds} s.` : error}
          </div>
        )}
        <button class="btn btn-primary login-submit" type="submit" disabled={busy || waitSeconds > 0 || !value}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="small muted">
          {method === 'password' ? (
            <>
              The admin password is set with <code>lookout admin set-password</code> or on the API keys page.
            </>
          ) : (
            <>
              The token lookout was started with (<code>--admin-token</code>).
            </>
          )}{' '}
          The browser keeps a session cookie; this page asks again when it ends.
        </p>
      </form>
    </main>
  );
}
