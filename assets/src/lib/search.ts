// What the search pages (traces, logs) share: the anchor their relative
// time range is resolved at, refresh (by hand and on a timer), and paged
// results that Back restores as they were.
import { useEffect, useRef, useState } from 'preact/hooks';
import { entryState, notify, patchEntry } from './router';

/** The moment this history entry's search was resolved at; the first
 * render of a new entry (a new search) resolves it to now. */
export function searchAnchor(): number {
  const state = entryState();
  if (state.anchor !== undefined) return state.anchor;
  const anchor = Date.now();
  patchEntry({ anchor });
  return anchor;
}

/** Searches again, with relative ranges re-resolved to now. Also what the
 * Search button does when the filters did not change. */
export function refreshSearch() {
  patchEntry({ anchor: Date.now() });
  notify();
}

/** Calls `refreshSearch` every `ms` (0: never) while the tab is visible. */
export function useAutoRefresh(ms: number) {
  useEffect(() => {
    if (!ms) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') refreshSearch();
    }, ms);
    return () => clearInterval(timer);
  }, [ms]);
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total?: number;
}

interface Results<T> {
  /** The search these results belong to. */
  key: string;
  items: T[];
  cursor: string | null;
  total?: number;
}

// What each history entry showed, so Back restores the rows loaded with
// "Load more" without asking the server again. Bounded: old entries go.
const CACHE_SIZE = 30;
const cache = new Map<string, Results<unknown>>();
function remember(id: string, results: Results<unknown>) {
  cache.delete(id);
  cache.set(id, results);
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
}

export interface PagedSearch<T> {
  /** Rows shown: the current search's, or the previous one's while it loads. */
  items: T[];
  total: number | undefined;
  /** True once `items` belong to the current search. */
  current: boolean;
  loading: boolean;
  error: Error | undefined;
  /** The next page's cursor, when there is one (and the rows are current). */
  cursor: string | null;
  loadingMore: boolean;
  moreError: Error | undefined;
  loadMore: () => void;
  retry: () => void;
}

/** Paged results of the search `key` (which must change with every
 * parameter and the anchor). `fetchPage(null)` loads the first page. */
export function usePagedSearch<T>(
  key: string,
  fetchPage: (cursor: string | null, signal?: AbortSignal) => Promise<Page<T>>,
): PagedSearch<T> {
  const id = `${entryState().key}|${key}`;
  const [results, setResults] = useState<Results<T> | undefined>(() => cache.get(id) as Results<T> | undefined);
  const [status, setStatus] = useState<{ loading: boolean; error?: Error; loadingMore: boolean; moreError?: Error }>({
    loading: false,
    loadingMore: false,
  });
  const [attempt, setAttempt] = useState(0);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const idRef = useRef(id);
  idRef.current = id;

  const attemptSeen = useRef(attempt);
  useEffect(() => {
    // Retry asks the server again; anything else may show what was cached.
    const retrying = attempt !== attemptSeen.current;
    attemptSeen.current = attempt;
    const cached = retrying ? undefined : (cache.get(id) as Results<T> | undefined);
    if (cached) {
      setResults(cached);
      setStatus({ loading: false, loadingMore: false });
      return;
    }
    const controller = new AbortController();
    setStatus({ loading: true, loadingMore: false });
    fetchRef.current(null, controller.signal).then(
      (page) => {
        if (controller.signal.aborted) return;
        const next: Results<T> = { key, items: page.items, cursor: page.next_cursor, total: page.total };
        remember(id, next);
        setResults(next);
        setStatus({ loading: false, loadingMore: false });
      },
      (error: Error) => {
        if (controller.signal.aborted || error.name === 'AbortError') return;
        setResults(undefined);
        setStatus({ loading: false, loadingMore: false, error });
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, attempt]);

  const current = results?.key === key && !status.loading;
  const cursor = current ? (results?.cursor ?? null) : null;
  const loadMore = async () => {
    if (!results || !cursor || status.loadingMore) return;
    const owner = id;
    setStatus((s) => ({ ...s, loadingMore: true, moreError: undefined }));
    try {
      const page = await fetchRef.current(cursor);
      if (idRef.current !== owner) return;
      const next: Results<T> = { ...results, items: [...results.items, ...page.items], cursor: page.next_cursor };
      remember(owner, next);
      setResults(next);
      setStatus((s) => ({ ...s, loadingMore: false }));
    } catch (error) {
      if (idRef.current === owner) setStatus((s) => ({ ...s, loadingMore: false, moreError: error as Error }));
    }
  };

  return {
    items: results?.items ?? [],
    total: results?.total,
    current,
    loading: status.loading,
    error: status.error,
    cursor,
    loadingMore: status.loadingMore,
    moreError: status.moreError,
    loadMore,
    retry: () => setAttempt((n) => n + 1),
  };
}
