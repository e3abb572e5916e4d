// Log records as a table, newest first, each expandable to its full
// record: attributes as a tree, ids, and a copy-as-JSON button. Where the
// table belongs to a query (the Logs page), a click on a service, level or
// attribute value offers to add it to the query or exclude it, the words
// the query matched are marked, and a record can show its context: the
// records of its service just before and after it, whatever the query.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, useResource, type LogPage, type LogRecord } from '../lib/api';
import { serviceColor, severityClass } from '../lib/colors';
import { formatTime, parseTime, utcTitle, valueText } from '../lib/format';
import { fieldClause, markWords, type Highlight } from '../lib/logquery';
import { href } from '../lib/router';
import { AttributeTree } from './tree';
import { CopyButton, ErrorBox, Loading, Time } from './common';

/** What the table does with a clicked value: `clause` added to the
 * query, or excluded from it. */
export type OnFilter = (clause: string, exclude: boolean) => void;

interface Menu {
  clause: string;
  label: string;
  top: number;
  left: number;
}

type OpenMenu = (element: HTMLElement, clause: string, label: string) => void;

function ValueMenu({ menu, onFilter, onClose }: { menu: Menu; onFilter: OnFilter; onClose: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.querySelector<HTMLButtonElement>('button')?.focus();
    const away = (event: Event) => {
      if (!box.current?.contains(event.target as Node)) onClose();
    };
    const key = (event: KeyboardEvent) => event.key === 'Escape' && onClose();
    // After the click that opened the menu.
    const timer = setTimeout(() => document.addEventListener('pointerdown', away), 0);
    document.addEventListener('keydown', key);
    window.addEventListener('scroll', onClose, { passive: true });
    return () => {
      clearTimeout(timer);
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', key);
      window.removeEventListener('scroll', onClose);
    };
  }, [menu]);
  const pick = (exclude: boolean) => {
    onFilter(menu.clause, exclude);
    onClose();
  };
  return (
    <div class="value-menu" role="menu" aria-label={`Filter on ${menu.label}`} ref={box} style={{ top: `${menu.top}px`, left: `${menu.left}px` }} data-testid="value-menu">
      <div class="value-menu-head muted small">
        <code>{menu.clause}</code>
        {menu.clause.startsWith('level:') && <div>a minimum: this level and above</div>}
      </div>
      <button type="button" role="menuitem" onClick={() => pick(false)}>
        Add to query
      </button>
      <button type="button" role="menuitem" onClick={() => pick(true)}>
        Exclude
      </button>
    </div>
  );
}

const CONTEXT_SIZES = [5, 10, 25];

/** The records of `record`'s service around it: `size` before (up to and
 * including its own time) and `size` after, whatever the query. */
function LogContext({ record }: { record: LogRecord }) {
  const [size, setSize] = useState(CONTEXT_SIZES[0]);
  const context = useResource(
    async (signal) => {
      const around = { service: record.service, limit: size + 1 };
      const [before, after] = await Promise.all([
        getJson<LogPage>('/api/logs', { ...around, end: record.timestamp, lookback: '24h', order: 'desc' }, signal),
        getJson<LogPage>('/api/logs', { ...around, start: record.timestamp, order: 'asc' }, signal),
      ]);
      const earlier = before.logs.filter((r) => r.id !== record.id).slice(0, size).reverse();
      const seen = new Set(earlier.map((r) => r.id));
      const later = after.logs.filter((r) => r.id !== record.id && !seen.has(r.id)).slice(0, size);
      return { earlier, later };
    },
    [record.id, size],
  );
  const row = (r: LogRecord, current = false) => (
    <li key={r.id} class={`context-row${current ? ' current' : ''}`} data-log-id={r.id}>
      <time dateTime={r.timestamp} title={utcTitle(r.timestamp)}>
        {formatTime(parseTime(r.timestamp))}
      </time>
      <span class={`level level-${severityClass(r.severity_text, r.severity_number)}`}>{r.severity_text || '—'}</span>
      <span class="context-body">{valueText(r.body)}</span>
    </li>
  );
  const data = context.data;
  const window = data && [...data.earlier, record, ...data.later];
  return (
    <section class="log-context" aria-label="Records around this one" data-testid="log-context">
      <div class="log-context-head">
        <h4>
          Context <span class="muted small">records of {record.service || 'no service'} around this one, any query</span>
        </h4>
        <div class="segmented" role="group" aria-label="Records each side">
          {CONTEXT_SIZES.map((n) => (
            <button key={n} type="button" class={`btn btn-small${n === size ? ' on' : ''}`} aria-pressed={n === size} onClick={() => setSize(n)}>
              ±{n}
            </button>
          ))}
        </div>
        {window && window.length > 1 && (
          <a
            class="btn btn-small"
            href={href('/logs', {
              service: record.service,
              start: String(Math.floor(parseTime(window[0].timestamp))),
              end: String(Math.ceil(parseTime(window[window.length - 1].timestamp))),
            })}
          >
            Open in Logs
          </a>
        )}
      </div>
      {context.error ? (
        <ErrorBox error={context.error} title="Could not load the context" onRetry={context.reload} />
      ) : !data ? (
        <Loading label="Loading context…" />
      ) : (
        <ol class="context-list">
          {data.earlier.length === 0 && <li class="muted small">nothing earlier in the day before</li>}
          {data.earlier.map((r) => row(r))}
          {row(record, true)}
          {data.later.map((r) => row(r))}
          {data.later.length === 0 && <li class="muted small">nothing later</li>}
        </ol>
      )}
    </section>
  );
}

function LogDetail({ record, openMenu }: { record: LogRecord; openMenu?: OpenMenu }) {
  const body = record.body;
  const [context, setContext] = useState(false);
  const level = severityClass(record.severity_text, record.severity_number);
  return (
    <div class="log-detail">
      <dl class="facts">
        <dt>Time</dt>
        <dd>
          <Time iso={record.timestamp} /> <span class="muted small">{record.timestamp}</span>
        </dd>
        <dt>Observed</dt>
        <dd>
          <Time iso={record.observed_timestamp} />
        </dd>
        <dt>Severity</dt>
        <dd>
          {openMenu && level !== 'unset' ? (
            <button type="button" class="value-button" onClick={(e) => openMenu(e.currentTarget as HTMLElement, fieldClause('level', level), `level ${level}`)}>
              {record.severity_text || '—'}
            </button>
          ) : (
            record.severity_text || '—'
          )}{' '}
          <span class="muted">({record.severity_number})</span>
        </dd>
        <dt>Service</dt>
        <dd>
          {openMenu ? (
            <button type="button" class="value-button" onClick={(e) => openMenu(e.currentTarget as HTMLElement, fieldClause('service', record.service), `service ${record.service}`)}>
              {record.service}
            </button>
          ) : (
            record.service
          )}
        </dd>
        {record.trace_id && (
          <>
            <dt>Trace</dt>
            <dd>
              <a href={href(`/traces/${record.trace_id}`, { span: record.span_id ?? undefined })}>
                <code>{record.trace_id}</code>
              </a>
            </dd>
          </>
        )}
        {record.span_id && (
          <>
            <dt>Span</dt>
            <dd>
              <code>{record.span_id}</code>
            </dd>
          </>
        )}
        {record.scope?.name && (
          <>
            <dt>Scope</dt>
            <dd>{record.scope.name}</dd>
          </>
        )}
      </dl>
      <div class="log-body-full">
        <h4>Body</h4>
        {typeof body === 'object' && body !== null ? <AttributeTree attributes={body as Record<string, unknown>} /> : <pre>{valueText(body)}</pre>}
      </div>
      <div class="log-trees">
        <div>
          <h4>Attributes</h4>
          <AttributeTree
            attributes={record.attributes}
            onValue={openMenu && ((key, value, element) => openMenu(element, fieldClause('attr', value, key), key))}
          />
        </div>
        <div>
          <h4>Resource</h4>
          <AttributeTree attributes={record.resource} />
        </div>
      </div>
      <div class="detail-actions">
        <CopyButton label="Copy as JSON" text={() => JSON.stringify(record, null, 2)} />
        <button type="button" class="btn btn-small" aria-expanded={context} onClick={() => setContext(!context)}>
          {context ? 'Hide context' : 'Show context'}
        </button>
      </div>
      {context && <LogContext record={record} />}
    </div>
  );
}

function Body({ text, highlight }: { text: string; highlight?: Highlight }) {
  if (!highlight) return <>{text}</>;
  return (
    <>
      {markWords(text, highlight).map((piece, i) => (piece.mark ? <mark key={i}>{piece.text}</mark> : piece.text))}
    </>
  );
}

function LogRow({
  record,
  showTraceLinks,
  fresh,
  openMenu,
  highlight,
}: {
  record: LogRecord;
  showTraceLinks: boolean;
  fresh?: boolean;
  openMenu?: OpenMenu;
  highlight?: Highlight;
}) {
  const [open, setOpen] = useState(false);
  const level = severityClass(record.severity_text, record.severity_number);
  const filterable = openMenu !== undefined;
  // Kept to few elements and no handlers of their own per row: a page
  // shows up to a thousand at once. A click on a value in the summary
  // (marked with data-clause) opens the filter menu instead of the record.
  return (
    <div class={`log-row${open ? ' open' : ''}${fresh ? ' fresh' : ''}`} role="row" data-log-id={record.id}>
      <button
        type="button"
        class="log-summary"
        aria-expanded={open}
        onClick={(event) => {
          const value = (event.target as HTMLElement).closest<HTMLElement>('[data-clause]');
          if (value && openMenu) {
            openMenu(value, value.dataset.clause!, value.dataset.label!);
            return;
          }
          setOpen(!open);
        }}
      >
        <time class="log-time" role="cell" dateTime={record.timestamp} title={utcTitle(record.timestamp)}>
          {formatTime(parseTime(record.timestamp))}
        </time>
        <span
          class={`level level-${level}${filterable && level !== 'unset' ? ' filterable' : ''}`}
          role="cell"
          data-clause={filterable && level !== 'unset' ? fieldClause('level', level) : undefined}
          data-label={filterable ? `level ${level}` : undefined}
        >
          {record.severity_text || level}
        </span>
        <span
          class={`log-service${filterable ? ' filterable' : ''}`}
          role="cell"
          style={{ '--service': serviceColor(record.service) }}
          data-clause={filterable ? fieldClause('service', record.service) : undefined}
          data-label={filterable ? `service ${record.service}` : undefined}
        >
          {record.service}
        </span>
        <span class="log-body" role="cell">
          {highlight ? <Body text={valueText(record.body)} highlight={highlight} /> : valueText(record.body)}
        </span>
      </button>
      {showTraceLinks && record.trace_id ? (
        <a
          class="log-trace"
          href={`/traces/${record.trace_id}${record.span_id ? `?span=${record.span_id}` : ''}`}
          title={`Trace ${record.trace_id}`}
        >
          {record.trace_id.slice(0, 8)}
        </a>
      ) : (
        <span class="log-trace" role="cell" />
      )}
      {open && <LogDetail record={record} openMenu={openMenu} />}
    </div>
  );
}

export function LogTable({
  logs,
  showTraceLinks = true,
  freshIds,
  onFilter,
  highlight,
}: {
  logs: LogRecord[];
  showTraceLinks?: boolean;
  freshIds?: Set<string>;
  onFilter?: OnFilter;
  highlight?: Highlight;
}) {
  const [menu, setMenu] = useState<Menu | null>(null);
  const openMenu: OpenMenu | undefined = onFilter
    ? (element, clause, label) => {
        const box = element.getBoundingClientRect();
        // Below the value, or above it when that would leave the window.
        const height = 110;
        const top = box.bottom + 4 + height > window.innerHeight ? Math.max(4, box.top - 4 - height) : box.bottom + 4;
        setMenu({ clause, label, top, left: Math.max(4, Math.min(box.left, window.innerWidth - 240)) });
      }
    : undefined;
  const marks = highlight && (highlight.words.size > 0 || highlight.prefixes.length > 0) ? highlight : undefined;
  return (
    <div class="log-table" role="table" aria-label="Log records" data-testid="log-table">
      <div class="log-row log-head" role="row">
        <span class="log-summary">
          <span class="log-time" role="columnheader">
            Time
          </span>
          <span class="log-level" role="columnheader">
            Level
          </span>
          <span class="log-service" role="columnheader">
            Service
          </span>
          <span class="log-body" role="columnheader">
            Message
          </span>
        </span>
        <span class="log-trace" role="columnheader">
          {showTraceLinks ? 'Trace' : ''}
        </span>
      </div>
      {logs.map((record) => (
        <LogRow key={record.id} record={record} showTraceLinks={showTraceLinks} fresh={freshIds?.has(record.id)} openMenu={openMenu} highlight={marks} />
      ))}
      {menu && onFilter && <ValueMenu menu={menu} onFilter={onFilter} onClose={() => setMenu(null)} />}
    </div>
  );
}
