// Small pieces of app-wide state: the login session, the colour theme and
// the time zone.
import { useEffect, useState } from 'preact/hooks';

const THEME_KEY = 'lookout.theme';
const ZONE_KEY = 'lookout.time-zone';

type Listener = () => void;
const listeners = new Set<Listener>();
const emit = () => listeners.forEach((listener) => listener());

// Before logins came, the admin token was kept in the tab's storage and
// sent as a bearer token; the session cookie replaces it.
try {
  sessionStorage.removeItem('lookout.token');
} catch {
  // Storage may be disabled.
}

/** `GET /api/auth/session` (docs/API.md, "Auth and audit"). */
export interface Session {
  auth_required: boolean;
  authenticated: boolean;
  via: null | 'session' | 'token' | 'open';
  password_set: boolean;
  token_set: boolean;
  expires_at: string | null;
}

/** Why the login page shows: `null` on a first visit. */
export interface LoginReason {
  tone: 'info' | 'warn';
  text: string;
}

let session: Session | null = null;
let loginReason: LoginReason | null = null;
/** Set when an answer said 401: the session is asked for again. */
let sessionStale = false;

/** The session as the server last described it (null until known). */
export function getSession(): Session | null {
  return session;
}

export function setSession(next: Session, reason: LoginReason | null = null) {
  session = next;
  loginReason = next.auth_required && !next.authenticated ? reason : null;
  sessionStale = false;
  emit();
}

/** The session as it is once it ended (logged out, expired, revoked). */
export function endedSession(previous: Session | null): Session {
  return {
    auth_required: true,
    authenticated: false,
    via: null,
    password_set: previous?.password_set ?? false,
    token_set: previous?.token_set ?? !previous?.password_set,
    expires_at: null,
  };
}

/** Called when the API answers 401: the session expired or was revoked,
 * so the app shows the login page (and asks the server again which
 * credentials it takes). */
export function authNeeded(_message: string) {
  if (session && !session.authenticated && session.auth_required) return;
  session = endedSession(session);
  loginReason = { tone: 'warn', text: 'Your session has ended or was revoked. Log in again to continue.' };
  sessionStale = true;
  emit();
}

/** Whether the session should be asked for again; clears the flag. */
export function takeSessionStale(): boolean {
  const stale = sessionStale;
  sessionStale = false;
  return stale;
}

export type Theme = 'auto' | 'light' | 'dark';

export function getTheme(): Theme {
  try {
    const value = localStorage.getItem(THEME_KEY);
    return value === 'light' || value === 'dark' ? value : 'auto';
  } catch {
    return 'auto';
  }
}

const media = window.matchMedia('(prefers-color-scheme: dark)');

/** The theme in effect: the chosen one, or the system's. */
export function effectiveTheme(): 'light' | 'dark' {
  const theme = getTheme();
  if (theme !== 'auto') return theme;
  return media.matches ? 'dark' : 'light';
}

export function applyTheme() {
  document.documentElement.dataset.theme = effectiveTheme();
}

export function setTheme(theme: Theme) {
  try {
    if (theme === 'auto') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, theme);
  } catch {
    // ignore
  }
  applyTheme();
  emit();
}

media.addEventListener('change', () => {
  applyTheme();
  emit();
});

/** The zone times are shown in: the browser's, or UTC. */
export type Zone = 'local' | 'utc';

let zone: Zone = (() => {
  try {
    return localStorage.getItem(ZONE_KEY) === 'utc' ? 'utc' : 'local';
  } catch {
    return 'local';
  }
})();

export function getZone(): Zone {
  return zone;
}

export function setZone(next: Zone) {
  zone = next;
  try {
    if (next === 'local') localStorage.removeItem(ZONE_KEY);
    else localStorage.setItem(ZONE_KEY, next);
  } catch {
    // ignore
  }
  emit();
}

/** Re-renders on session, theme or time zone changes. */
export function useAppState() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return { session, loginReason, theme: getTheme(), effective: effectiveTheme(), zone };
}
