// Logging in and out (docs/API.md, "Auth and audit"): the login answers
// with an HttpOnly session cookie the browser keeps and sends; the app
// never sees it.
import { answerError, ApiError, getJson, sendJson } from './api';
import { endedSession, getSession, setSession, type LoginReason, type Session } from './store';

/** What the app assumes of a server without `/api/auth/session`: open. */
const OPEN: Session = { auth_required: false, authenticated: true, via: 'open', password_set: false, token_set: false, expires_at: null };

/** Asks the server for the session and makes it the app's. */
export async function loadSession(reason: LoginReason | null = null): Promise<Session> {
  let session: Session;
  try {
    session = await getJson<Session>('/api/auth/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) session = OPEN;
    else throw error;
  }
  setSession(session, reason);
  return session;
}

/** A refused login: 401, or 429 with the seconds to wait. */
export class LoginError extends ApiError {
  constructor(
    error: ApiError,
    /** From `Retry-After`, for a 429. */
    readonly retryAfter?: number,
  ) {
    super(error.status, error.code, error.message, undefined, error.field);
  }
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : undefined;
}

/** `POST /api/auth/login` with a password or the admin token. Not through
 * the app's `request`: a 401 here is a wrong credential, not an ended
 * session. */
export async function login(credentials: { password: string } | { token: string }): Promise<void> {
  let response: Response;
  try {
    response = await fetch('/api/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(credentials),
    });
  } catch (error) {
    throw new ApiError(0, 'network', `cannot reach lookout (${(error as Error).message})`);
  }
  if (!response.ok) {
    const error = await answerError(response);
    throw new LoginError(error, response.status === 429 ? retryAfterSeconds(response.headers.get('Retry-After')) : undefined);
  }
  await loadSession();
}

/** `POST /api/auth/logout`, then the login page. */
export async function logout(): Promise<void> {
  const before = getSession();
  try {
    await sendJson('POST', '/api/auth/logout');
  } finally {
    const reason: LoginReason = { tone: 'info', text: 'You have logged out.' };
    setSession(endedSession(before), reason);
    // What the server says now (the cookie is gone), quietly.
    loadSession(reason).catch(() => undefined);
  }
}

/** `POST /api/auth/password`: every session ends, this one too, so the
 * login page follows. */
export async function changePassword(password: string, currentPassword: string | undefined): Promise<void> {
  await sendJson('POST', '/api/auth/password', currentPassword === undefined ? { password } : { password, current_password: currentPassword });
  const reason: LoginReason = { tone: 'info', text: 'The password was changed and every session ended. Log in with the new password.' };
  setSession(endedSession({ ...(getSession() ?? OPEN), password_set: true }), reason);
  await loadSession(reason).catch(() => undefined);
}
