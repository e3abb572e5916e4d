// A table of request/error/duration numbers whose columns sort by a click
// on their header. The sort lives in the URL (`sort=p95_ms`, a leading
// `-` for descending) so a shared link shows the same order.
import type { ComponentChildren } from 'preact';
import type { Red } from '../lib/api';
import { formatCount, formatDuration, formatPercent } from '../lib/format';
import { formatRequestRate } from '../lib/metrics';
import { navigate } from '../lib/router';

export interface Column<T> {
  key: string;
  label: string;
  /** What the column sorts by (null, no data, sorts last either way);
   * without it the column does not sort. */
  value?: (row: T) => number | string | null;
  render: (row: T) => ComponentChildren;
  numeric?: boolean;
  title?: string;
}

export interface Sort {
  key: string;
  descending: boolean;
}

export function parseSort(text: string | null, fallback: Sort): Sort {
  if (!text) return fallback;
  return text.startsWith('-') ? { key: text.slice(1), descending: true } : { key: text, descending: false };
}

export function sortText(sort: Sort): string {
  return `${sort.descending ? '-' : ''}${sort.key}`;
}

function sortRows<T>(rows: T[], column: Column<T> | undefined, descending: boolean): T[] {
  const value = column?.value;
  if (!value) return rows;
  const sign = descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    if (typeof x === 'string' || typeof y === 'string') return sign * String(x).localeCompare(String(y));
    return sign * (x - y);
  });
}

const dash = <span class="muted">–</span>;
const duration = (ms: number | null) => (ms === null ? dash : formatDuration(ms));

/** The RED columns every metrics table has, after its own name columns. */
export function redColumns<T extends Red>(boundTitle?: (row: T) => string | undefined): Column<T>[] {
  const percentile = (key: 'p50_ms' | 'p95_ms' | 'p99_ms', label: string): Column<T> => ({
    key,
    label,
    numeric: true,
    value: (row) => row[key],
    render: (row) => <span title={boundTitle?.(row)}>{duration(row[key])}</span>,
  });
  return [
    { key: 'request_count', label: 'Requests', numeric: true, value: (r) => r.request_count, render: (r) => formatCount(r.request_count) },
    { key: 'request_rate', label: 'Rate', numeric: true, value: (r) => r.request_rate, render: (r) => formatRequestRate(r.request_rate) },
    {
      key: 'error_rate',
      label: 'Errors',
      numeric: true,
      title: 'Errors per request',
      value: (r) => (r.request_count ? r.error_rate : null),
      render: (r) => <span class={r.error_count > 0 ? 'error-rate has-errors' : 'error-rate'}>{r.request_count ? formatPercent(r.error_rate) : dash}</span>,
    },
    percentile('p50_ms', 'p50'),
    percentile('p95_ms', 'p95'),
    percentile('p99_ms', 'p99'),
  ];
}

export function RedTable<T>({
  label,
  rows,
  columns,
  sort,
  onSort,
  rowKey,
  rowLink,
}: {
  label: string;
  rows: T[];
  columns: Column<T>[];
  sort: Sort;
  onSort: (sort: Sort) => void;
  rowKey: (row: T) => string;
  /** Where a row leads; its first cell links there, the whole row is clickable. */
  rowLink: (row: T) => string;
}) {
  const sorted = sortRows(rows, columns.find((c) => c.key === sort.key), sort.descending);
  return (
    <div class="table-scroll">
      <table class="red-table" aria-label={label}>
        <thead>
          <tr>
            {columns.map((column) => {
              const active = column.key === sort.key;
              // Numbers are most useful largest first; names A to Z.
              const next = active ? !sort.descending : Boolean(column.numeric);
              return (
                <th
                  key={column.key}
                  class={column.numeric ? 'num' : undefined}
                  title={column.title}
                  aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
                >
                  {column.value ? (
                    <button type="button" class="sort-button" data-sort={column.key} onClick={() => onSort({ key: column.key, descending: next })}>
                      {column.label}
                      <span class="sort-mark" aria-hidden="true">
                        {active ? (sort.descending ? '▾' : '▴') : ''}
                      </span>
                    </button>
                  ) : (
                    column.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row) => {
            const link = rowLink(row);
            return (
              <tr
                key={rowKey(row)}
                data-row={rowKey(row)}
                class="clickable"
                onClick={(event) => {
                  // The link in the first cell navigates by itself (and
                  // opens a new tab with a modifier).
                  if (!(event.target as Element).closest('a')) navigate(link);
                }}
              >
                {columns.map((column, i) => (
                  <td key={column.key} class={column.numeric ? 'num' : undefined} data-col={column.key}>
                    {i === 0 ? <a href={link}>{column.render(row)}</a> : column.render(row)}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
