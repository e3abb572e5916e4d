// Live tail of the log search: records streamed as they are indexed,
// newest first. While the user reads (hovers over the table, or has
// scrolled into it) new records wait in `pending` instead of pushing the
// rows away; `resume` shows them.
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { openTail, type LogRecord } from './api';

/** Streamed records kept at most (the oldest go). */
const LIVE_CAP = 2000;

export interface LiveTail {
  /** Streamed records shown, newest first; kept when the tail is turned off. */
  rows: LogRecord[];
  /** Records received while paused, not shown yet. */
  pending: number;
  received: number;
  state: 'off' | 'connecting' | 'open' | 'error';
  message?: string;
  paused: boolean;
  resume: () => void;
}

export function useLiveTail(enabled: boolean, params: { q: string; service: string; level: string }, table: RefObject<HTMLElement | null>): LiveTail {
  const paramsKey = JSON.stringify(params);
  const [rows, setRows] = useState<LogRecord[]>([]);
  const [pending, setPending] = useState<LogRecord[]>([]);
  const [received, setReceived] = useState(0);
  const [connection, setConnection] = useState<{ state: LiveTail['state']; message?: string }>({ state: 'off' });
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  // Other filters stream other records: start over.
  useEffect(() => {
    setRows([]);
    setPending([]);
    setReceived(0);
  }, [paramsKey]);

  useEffect(() => {
    if (!enabled) {
      setConnection({ state: 'off' });
      return;
    }
    setConnection({ state: 'connecting' });
    // Records are batched per 100 ms so a burst renders once.
    let buffer: LogRecord[] = [];
    let scheduled = 0;
    const flush = () => {
      scheduled = 0;
      const batch = buffer.reverse();
      buffer = [];
      setReceived((n) => n + batch.length);
      if (pausedRef.current) setPending((previous) => [...batch, ...previous].slice(0, LIVE_CAP));
      else setRows((previous) => [...batch, ...previous].slice(0, LIVE_CAP));
    };
    const close = openTail(
      params,
      (record) => {
        buffer.push(record);
        if (!scheduled) scheduled = window.setTimeout(flush, 100);
      },
      (state, message) => setConnection({ state, message }),
    );
    return () => {
      close();
      if (scheduled) clearTimeout(scheduled);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, paramsKey]);

  // Reading: the pointer over the table, or the table scrolled up past
  // the top of the window.
  useEffect(() => {
    if (!enabled) return;
    const onOver = (event: Event) => {
      if (table.current?.contains(event.target as Node)) setPaused(true);
    };
    const onScroll = () => {
      const top = table.current?.getBoundingClientRect().top;
      if (top !== undefined && top < 0) setPaused(true);
    };
    document.addEventListener('mouseover', onOver);
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => {
      document.removeEventListener('mouseover', onOver);
      window.removeEventListener('scroll', onScroll);
    };
  }, [enabled, table]);

  const resume = () => {
    setPaused(false);
    setRows((previous) => [...pending, ...previous].slice(0, LIVE_CAP));
    setPending([]);
    const element = table.current;
    if (element && element.getBoundingClientRect().top < 0) element.scrollIntoView({ block: 'start' });
  };

  return { rows, pending: pending.length, received, ...connection, paused, resume };
}
