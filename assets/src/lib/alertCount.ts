// How many alerts fire, for the badge in the header on every page: asked
// of the server every 20 s (while the tab is visible) and on navigation;
// the Alerts page also hands over the counts its own lists bring.
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api';

const POLL_MS = 20_000;

let firing: number | null = null;
const listeners = new Set<() => void>();

/** Records the firing count (from any answer of `/api/alerts/instances`). */
export function setFiringCount(count: number) {
  if (count === firing) return;
  firing = count;
  listeners.forEach((listener) => listener());
}

let inFlight: Promise<void> | null = null;

/** Asks the server for the firing count now (one request at a time). */
export function refreshFiringCount(): Promise<void> {
  inFlight ??= getJson<{ counts: { firing: number } }>('/api/alerts/instances', { state: 'firing', limit: 1 })
    .then(
      (answer) => setFiringCount(answer.counts.firing),
      () => {
        // Unreachable or refused: the badge keeps its last count; the
        // page itself shows what went wrong.
      },
    )
    .finally(() => {
      inFlight = null;
    });
  return inFlight;
}

/** The firing count (null until known), refreshed every `POLL_MS` and
 * whenever `navigation` (the current path) changes. */
export function useFiringCount(navigation: string): number | null {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') void refreshFiringCount();
    }, POLL_MS);
    return () => {
      listeners.delete(listener);
      clearInterval(timer);
    };
  }, []);
  useEffect(() => {
    void refreshFiringCount();
  }, [navigation]);
  return firing;
}
