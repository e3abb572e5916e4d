// The error-tracking API (docs/API.md, "Errors"): groups of exceptions
// read from span events and log records, their counts over a range, and
// the status changes (resolve, ignore, reopen).
import { getJson, sendJson, type Params } from './api';
import { href } from './router';
import { rangeOr, rangeUrl, type TimeRange } from './range';

export type ErrorStatus = 'open' | 'regressed' | 'resolved' | 'ignored';

export const STATUSES: { status: ErrorStatus; label: string }[] = [
  { status: 'open', label: 'Open' },
  { status: 'regressed', label: 'Regressed' },
  { status: 'resolved', label: 'Resolved' },
  { status: 'ignored', label: 'Ignored' },
];
/** What the list shows without a status filter in the URL. */
export const DEFAULT_STATUSES: ErrorStatus[] = ['open', 'regressed'];

export interface ErrorSample {
  time: string;
  trace_id: string | null;
  span_id: string | null;
  message: string;
  stacktrace: string | null;
  source: 'span' | 'log' | string;
}

export interface ErrorGroup {
  id: string;
  fingerprint: string;
  type: string;
  message: string;
  service: string;
  count: number;
  total_count: number;
  first_seen: string;
  last_seen: string;
  releases: string[];
  environments: string[];
  first_release: string | null;
  new_in_release: boolean;
  status: ErrorStatus;
  resolved_at: string | null;
  sample: ErrorSample | null;
  sparkline: number[];
}

export interface ReleaseDetail {
  release: string | null;
  environment: string | null;
  count: number;
  first_seen: string;
  last_seen: string;
}

export interface ErrorGroupDetail extends ErrorGroup {
  series: { time: string; count: number }[];
  services?: unknown;
  releases_detail: ReleaseDetail[];
}

export interface ErrorPage {
  groups: ErrorGroup[];
  next_cursor: string | null;
}

export type ErrorSort = 'last_seen' | 'count';

/** The list's filters, as the URL and the API name them. */
export interface ErrorFilters {
  service: string;
  release: string;
  environment: string;
  statuses: ErrorStatus[];
  sort: ErrorSort;
  range: TimeRange;
  refresh: string;
}

/** The errors pages' range without one in the URL: the API's default. */
export const ERRORS_LOOKBACK = '24h';

export { rangeOr, rangeUrl };

function parseStatuses(query: URLSearchParams): ErrorStatus[] {
  const given = query
    .getAll('status')
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value): value is ErrorStatus => STATUSES.some((s) => s.status === value));
  return given.length ? STATUSES.map((s) => s.status).filter((s) => given.includes(s)) : DEFAULT_STATUSES;
}

export function errorFilters(query: URLSearchParams): ErrorFilters {
  return {
    service: query.get('service') ?? '',
    release: query.get('release') ?? '',
    environment: query.get('environment') ?? '',
    statuses: parseStatuses(query),
    sort: query.get('sort') === 'count' ? 'count' : 'last_seen',
    range: rangeOr(query, ERRORS_LOOKBACK),
    refresh: query.get('refresh') ?? '',
  };
}

const sameStatuses = (a: ErrorStatus[], b: ErrorStatus[]) => a.length === b.length && a.every((s) => b.includes(s));

export function errorsUrl(filters: ErrorFilters): string {
  return href('/errors', {
    service: filters.service,
    release: filters.release,
    environment: filters.environment,
    status: sameStatuses(filters.statuses, DEFAULT_STATUSES) ? undefined : filters.statuses.join(','),
    sort: filters.sort === 'last_seen' ? undefined : filters.sort,
    ...rangeUrl(filters.range, ERRORS_LOOKBACK),
    refresh: filters.refresh,
  });
}

export function groupUrl(id: string, range?: TimeRange): string {
  return href(`/errors/${encodeURIComponent(id)}`, range ? rangeUrl(range, ERRORS_LOOKBACK) : {});
}

export const listErrors = (params: Params, signal?: AbortSignal) => getJson<ErrorPage>('/api/errors', params, signal);
export const getErrorGroup = (id: string, params: Params, signal?: AbortSignal) => getJson<ErrorGroupDetail>(`/api/errors/${encodeURIComponent(id)}`, params, signal);

export type ErrorAction = 'resolve' | 'ignore' | 'reopen';
export const changeStatus = (id: string, action: ErrorAction) => sendJson<ErrorGroup>('POST', `/api/errors/${encodeURIComponent(id)}/${action}`) as Promise<ErrorGroup>;

/** The actions a group in `status` offers. */
export function actionsFor(status: ErrorStatus): ErrorAction[] {
  switch (status) {
    case 'open':
    case 'regressed':
      return ['resolve', 'ignore'];
    case 'resolved':
      return ['reopen', 'ignore'];
    case 'ignored':
      return ['reopen', 'resolve'];
  }
  return ['resolve', 'ignore', 'reopen'];
}

export const ACTION_LABEL: Record<ErrorAction, string> = { resolve: 'Resolve', ignore: 'Ignore', reopen: 'Reopen' };

export function statusTone(status: ErrorStatus | string): 'ok' | 'warn' | 'bad' | 'muted' {
  switch (status) {
    case 'open':
      return 'warn';
    case 'regressed':
      return 'bad';
    case 'resolved':
      return 'ok';
    default:
      return 'muted';
  }
}
