// Client-side routing on the History API: the URL holds the page and its
// state, so links can be shared and the back button works.
//
// Each history entry also carries a small state object of its own
// (`EntryState`): a key naming the entry (pages cache what they showed
// under it, so Back shows the same rows), the moment relative time ranges
// were resolved at, and where the window was scrolled to.
import { useEffect, useState } from 'preact/hooks';

export interface EntryState {
  key: string;
  /** Unix ms at which "last 15 minutes" and the like were resolved. */
  anchor?: number;
  scrollY?: number;
  /** The app URL this entry was navigated to from. */
  from?: string;
}

const listeners = new Set<() => void>();

/** Re-renders everything that follows the location. */
export function notify() {
  for (const listener of listeners) listener();
}

let keys = 0;
function newKey(): string {
  keys += 1;
  return `${Date.now().toString(36)}.${keys}`;
}

/** The current entry's state, created on first use. */
export function entryState(): EntryState {
  const state = history.state as EntryState | null;
  if (state && typeof state.key === 'string') return state;
  const fresh: EntryState = { key: newKey() };
  history.replaceState(fresh, '');
  return fresh;
}

/** Changes the current entry's state without navigating. */
export function patchEntry(patch: Partial<EntryState>) {
  history.replaceState({ ...entryState(), ...patch }, '');
}

/** `/` is the traces page; the README and `lookout demo` print `/`. */
function canonical(pathname: string): string {
  return pathname === '/' || pathname === '' ? '/traces' : pathname;
}

// The app restores scroll positions itself: the browser's restoration runs
// before the page has re-rendered its rows, so it lands at the top.
history.scrollRestoration = 'manual';
if (canonical(location.pathname) !== location.pathname) {
  history.replaceState(history.state, '', canonical(location.pathname) + location.search + location.hash);
}

// Where the window is scrolled to is written into the entry as the user
// scrolls (throttled: browsers limit how often replaceState may run),
// because popstate fires only after the entry has already changed.
let scrollSave = 0;
window.addEventListener(
  'scroll',
  () => {
    if (scrollSave) return;
    scrollSave = window.setTimeout(() => {
      scrollSave = 0;
      patchEntry({ scrollY: window.scrollY });
    }, 250);
  },
  { passive: true },
);

let restoring = 0;
/** Scrolls back to `y` once the re-rendered page is tall enough (data
 * may still be arriving), for up to 3 s; the user scrolling first wins. */
function restoreScroll(y: number) {
  cancelAnimationFrame(restoring);
  const until = performance.now() + 3000;
  const stop = () => {
    cancelAnimationFrame(restoring);
    window.removeEventListener('wheel', stop);
    window.removeEventListener('keydown', stop);
    window.removeEventListener('touchstart', stop);
  };
  const step = () => {
    const max = document.documentElement.scrollHeight - window.innerHeight;
    if (max >= y - 1 || performance.now() > until) {
      window.scrollTo(0, y);
      stop();
    } else {
      restoring = requestAnimationFrame(step);
    }
  };
  window.addEventListener('wheel', stop, { passive: true });
  window.addEventListener('keydown', stop);
  window.addEventListener('touchstart', stop, { passive: true });
  restoring = requestAnimationFrame(step);
}

window.addEventListener('popstate', () => {
  clearTimeout(scrollSave);
  scrollSave = 0;
  const y = entryState().scrollY ?? 0;
  notify();
  restoreScroll(y);
});

/** Goes to an app URL (path plus query). `replace` changes the current
 * entry (keeping its state) for changes that are not worth a back-button
 * step. A new page starts at the top; a changed query keeps the scroll. */
export function navigate(to: string, options: { replace?: boolean } = {}) {
  const url = new URL(to, location.origin);
  const target = canonical(url.pathname) + url.search + url.hash;
  if (target === location.pathname + location.search + location.hash) return;
  const samePage = canonical(url.pathname) === location.pathname;
  if (options.replace) {
    history.replaceState(entryState(), '', target);
  } else {
    clearTimeout(scrollSave);
    scrollSave = 0;
    patchEntry({ scrollY: window.scrollY });
    history.pushState({ key: newKey(), from: location.pathname + location.search } satisfies EntryState, '', target);
    if (!samePage) window.scrollTo(0, 0);
  }
  notify();
}

/** A link back to the page `path` (with the query it had): when the
 * user came from there, a click goes Back, which restores its rows and
 * scroll position; otherwise it opens `path` afresh. */
export function backLink(path: string): { href: string; onClick: (event: MouseEvent) => void } {
  const from = entryState().from;
  const cameFrom = from !== undefined && new URL(from, location.origin).pathname === path;
  return {
    href: cameFrom ? from : path,
    onClick: (event) => {
      if (!cameFrom || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      history.back();
    },
  };
}

export type QueryValue = string | string[] | number | boolean | null | undefined;

/** Builds `path?query` from values; empty ones are left out. */
export function href(path: string, query: Record<string, QueryValue> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '' || value === false) continue;
    if (Array.isArray(value)) value.filter((v) => v !== '').forEach((v) => params.append(key, v));
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

/** The current location; re-renders the caller when it changes. */
export function useLocation(): Location {
  const [, setVersion] = useState(0);
  const rendered = location.href;
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    // A child's effect may have navigated before this one subscribed
    // (effects run children first): catch up.
    if (location.href !== rendered) listener();
    return () => void listeners.delete(listener);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Same-origin links navigate inside the app unless a modifier asks for a
 * new tab or window. */
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest?.('a');
  if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin) return;
  if (/^\/(api|v1|metrics|health)(\/|$)/.test(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
