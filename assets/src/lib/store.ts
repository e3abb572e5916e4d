// Small pieces of app-wide state: the admin token and the colour theme.
import { useEffect, useState } from 'preact/hooks';

const TOKEN_KEY = 'lookout.token';
const THEME_KEY = 'lookout.theme';
const ZONE_KEY = 'lookout.time-zone';

type Listener = () => void;
const listeners = new Set<Listener>();
const emit = () => listeners.forEach((listener) => listener());

let authMessage: string | null = null;

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage may be disabled; the token then lasts until reload.
  }
  authMessage = null;
  emit();
}

/** Called when the API answers 401: the app asks for the admin token. */
export function authNeeded(message: string) {
  if (authMessage === message) return;
  authMessage = message;
  emit();
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

/** Re-renders on token, auth, theme or time zone changes. */
export function useAppState() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return { authMessage, theme: getTheme(), effective: effectiveTheme(), zone };
}
