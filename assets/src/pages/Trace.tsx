// One trace: header, waterfall (collapsible span tree on a time axis),
// span details and the trace's logs.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getJson, useResource, type LogPage, type Span, type SummaryGroup, type Trace } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { formatCount, formatDuration, parseTime, plural } from '../lib/format';
import { operationBaselines } from '../lib/metrics';
import { backLink, href, navigate } from '../lib/router';
import { criticalPath, type CriticalPath } from '../lib/critical';
import { toOtlp } from '../lib/otlp';
import { AttributeTable } from '../components/tree';
import { CopyButton, DownloadButton, ErrorBox, Loading, StatusPill, Time } from '../components/common';
import { LogTable } from '../components/LogTable';

const ROW_HEIGHT = 28;
const OVERSCAN = 12;

interface Node {
  span: Span;
  depth: number;
  /** Number of descendants; the subtree occupies the next `size` entries. */
  size: number;
  start: number;
  end: number;
}

interface Model {
  nodes: Node[];
  byId: Map<string, number>;
  start: number;
  end: number;
  services: string[];
  errors: number;
  root: Span | undefined;
}

/** Depth-first order of the span tree, children by start time. Spans whose
 * parent is missing become roots. Iterative, so deep traces cannot overflow
 * the stack. */
export function buildModel(spans: Span[]): Model {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  const startOf = new Map<Span, number>();
  for (const span of spans) startOf.set(span, parseTime(span.start_time));
  const sorted = [...spans].sort((a, b) => startOf.get(a)! - startOf.get(b)!);
  for (const span of sorted) {
    const parent = span.parent_span_id;
    if (parent && ids.has(parent) && parent !== span.span_id) {
      let list = children.get(parent);
      if (!list) children.set(parent, (list = []));
      list.push(span);
    } else {
      roots.push(span);
    }
  }
  const nodes: Node[] = [];
  const byId = new Map<string, number>();
  const stack: { span: Span; depth: number }[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push({ span: roots[i], depth: 0 });
  const open: number[] = [];
  const depthOf: number[] = [];
  while (stack.length) {
    const { span, depth } = stack.pop()!;
    if (byId.has(span.span_id)) continue; // a cycle in bad data
    while (open.length && depthOf[open[open.length - 1]] >= depth) open.pop();
    const index = nodes.length;
    byId.set(span.span_id, index);
    const start = startOf.get(span)!;
    nodes.push({ span, depth, size: 0, start, end: parseTime(span.end_time) });
    for (const ancestor of open) nodes[ancestor].size += 1;
    open.push(index);
    depthOf[index] = depth;
    const kids = children.get(span.span_id) ?? [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i], depth: depth + 1 });
  }
  let start = Infinity;
  let end = -Infinity;
  const services = new Set<string>();
  let errors = 0;
  for (const node of nodes) {
    start = Math.min(start, node.start);
    end = Math.max(end, node.end);
    services.add(node.span.service);
    if (node.span.status.code === 'error') errors += 1;
  }
  const root = roots.find((s) => !s.parent_span_id) ?? roots[0];
  return { nodes, byId, start, end, services: [...services].sort(), errors, root };
}

function visibleIndexes(model: Model, collapsed: Set<string>): number[] {
  const out: number[] = [];
  for (let i = 0; i < model.nodes.length; i++) {
    out.push(i);
    if (collapsed.has(model.nodes[i].span.span_id)) i += model.nodes[i].size;
  }
  return out;
}

/** The text find-in-trace looks through: name, service, ids, status
 * message, attribute keys and values, event names and their attributes. */
function searchText(span: Span): string {
  const parts = [span.name, span.service, span.span_id, span.kind, span.status.message];
  const values = (attributes: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(attributes ?? {})) parts.push(key, typeof value === 'string' ? value : JSON.stringify(value));
  };
  values(span.attributes);
  values(span.resource);
  for (const event of span.events) {
    parts.push(event.name);
    values(event.attributes);
  }
  return parts.join('\u0000').toLowerCase();
}

/** Indexes (tree order) of the spans whose text holds every word of `query`. */
export function findSpans(model: Model, texts: string[], query: string): number[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const out: number[] = [];
  for (let i = 0; i < model.nodes.length; i++) if (words.every((w) => texts[i].includes(w))) out.push(i);
  return out;
}

/** The next (or previous) of `indexes` after tree position `from`, wrapping. */
function cycle(indexes: number[], from: number, backwards: boolean): number | undefined {
  if (indexes.length === 0) return undefined;
  if (backwards) {
    for (let i = indexes.length - 1; i >= 0; i--) if (indexes[i] < from) return indexes[i];
    return indexes[indexes.length - 1];
  }
  for (const index of indexes) if (index > from) return index;
  return indexes[0];
}

const NAME_WIDTH_KEY = 'lookout.trace-name-width';
const NAME_WIDTH_MIN = 160;

/** The width the user gave the name column, if any; without one the
 * column takes its share of the card (styles.css). */
function savedNameWidth(): number | null {
  try {
    const value = Number(localStorage.getItem(NAME_WIDTH_KEY));
    return Number.isFinite(value) && value >= NAME_WIDTH_MIN ? value : null;
  } catch {
    return null;
  }
}

/** The name column's width: dragged with the pointer or moved with the
 * arrow keys on the handle, remembered in the browser. */
function useNameWidth(): [number | null, (width: number, save?: boolean) => void] {
  const [width, setWidth] = useState(savedNameWidth);
  const set = useCallback((next: number, save = true) => {
    const clamped = Math.round(Math.max(NAME_WIDTH_MIN, Math.min(next, Math.max(NAME_WIDTH_MIN, window.innerWidth - 320))));
    setWidth(clamped);
    if (save) {
      try {
        localStorage.setItem(NAME_WIDTH_KEY, String(clamped));
      } catch {
        // Storage may be disabled: the width lasts for this page.
      }
    }
  }, []);
  return [width, set];
}

function ColumnHandle({ width, onWidth }: { width: number | null; onWidth: (width: number, save?: boolean) => void }) {
  const current = (handle: HTMLElement) => width ?? handle.parentElement?.getBoundingClientRect().width ?? 300;
  const onPointerDown = (event: PointerEvent) => {
    event.preventDefault();
    const handle = event.currentTarget as HTMLElement;
    handle.setPointerCapture(event.pointerId);
    const startX = event.clientX;
    const startWidth = current(handle);
    let last = startWidth;
    const move = (e: PointerEvent) => {
      last = startWidth + e.clientX - startX;
      onWidth(last, false);
    };
    const up = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
      handle.removeEventListener('pointercancel', up);
      onWidth(last, true);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
    handle.addEventListener('pointercancel', up);
  };
  return (
    <div
      class="wf-resize"
      role="separator"
      aria-orientation="vertical"
      aria-label="Resize the span name column"
      aria-valuenow={width ?? undefined}
      aria-valuemin={NAME_WIDTH_MIN}
      tabIndex={0}
      data-testid="name-column-handle"
      title="Drag to resize (← → with the keyboard)"
      onPointerDown={onPointerDown}
      onKeyDown={(event) => {
        if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
          event.preventDefault();
          onWidth(current(event.currentTarget as HTMLElement) + (event.key === 'ArrowLeft' ? -24 : 24));
        }
      }}
    />
  );
}

/** Round tick values (1, 2 or 5 times a power of ten) across `total` ms. */
export function ticks(total: number, target = 6): number[] {
  if (!(total > 0)) return [0];
  const rough = total / target;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? rough;
  const out: number[] = [];
  for (let t = 0; t <= total + step * 1e-9; t += step) out.push(t);
  return out;
}

function Waterfall({
  model,
  selected,
  onSelect,
  critical,
  matches,
  tools,
}: {
  model: Model;
  selected: string | null;
  onSelect: (spanId: string) => void;
  /** The critical path's stretches per span, when shown. */
  critical: CriticalPath | null;
  /** Tree indexes of the spans find-in-trace matched. */
  matches: Set<number>;
  tools: preact.ComponentChildren;
}) {
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [nameWidth, setNameWidth] = useNameWidth();
  const rows = useMemo(() => visibleIndexes(model, collapsed), [model, collapsed]);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const total = Math.max(model.end - model.start, 1e-6);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    setViewport(element.clientHeight);
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const selectedRow = selected ? rows.indexOf(model.byId.get(selected) ?? -1) : -1;

  // A span selected inside a collapsed subtree (find, next error, a deep
  // link) opens its ancestors.
  useEffect(() => {
    if (!selected || selectedRow >= 0 || !model.byId.has(selected)) return;
    const next = new Set(collapsed);
    let parent = model.nodes[model.byId.get(selected)!].span.parent_span_id;
    while (parent && model.byId.has(parent)) {
      next.delete(parent);
      parent = model.nodes[model.byId.get(parent)!].span.parent_span_id;
    }
    if (next.size !== collapsed.size) setCollapsed(next);
  }, [selected, selectedRow]);

  // Keep the selected row in view (keyboard navigation, deep links).
  useEffect(() => {
    const element = scroller.current;
    if (!element || selectedRow < 0) return;
    const top = selectedRow * ROW_HEIGHT;
    if (top < element.scrollTop) element.scrollTop = top;
    else if (top + ROW_HEIGHT > element.scrollTop + element.clientHeight) element.scrollTop = top + ROW_HEIGHT - element.clientHeight;
  }, [selectedRow]);

  const toggle = (spanId: string) => {
    const next = new Set(collapsed);
    if (next.has(spanId)) next.delete(spanId);
    else next.add(spanId);
    setCollapsed(next);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const current = selectedRow < 0 ? -1 : selectedRow;
    const node = current >= 0 ? model.nodes[rows[current]] : undefined;
    const move = (row: number) => {
      const clamped = Math.max(0, Math.min(rows.length - 1, row));
      if (rows[clamped] !== undefined) onSelect(model.nodes[rows[clamped]].span.span_id);
    };
    const page = Math.max(1, Math.floor(viewport / ROW_HEIGHT) - 1);
    switch (event.key) {
      case 'ArrowDown':
        move(current + 1);
        break;
      case 'ArrowUp':
        move(current - 1);
        break;
      case 'PageDown':
        move(current + page);
        break;
      case 'PageUp':
        move(current - page);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(rows.length - 1);
        break;
      case 'ArrowLeft':
        if (!node) return;
        if (node.size > 0 && !collapsed.has(node.span.span_id)) toggle(node.span.span_id);
        else if (node.span.parent_span_id && model.byId.has(node.span.parent_span_id)) onSelect(node.span.parent_span_id);
        break;
      case 'ArrowRight':
        if (!node) return;
        if (node.size > 0 && collapsed.has(node.span.span_id)) toggle(node.span.span_id);
        else if (node.size > 0) move(current + 1);
        break;
      case 'Enter':
      case ' ':
        if (node && node.size > 0) toggle(node.span.span_id);
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const slice = rows.slice(first, last);
  const allCollapsed = collapsed.size > 0;
  const axisTicks = useMemo(() => ticks(total), [total]);
  const gridStyle = useMemo(() => {
    const step = axisTicks.length > 1 ? (axisTicks[1] / total) * 100 : 100;
    return { backgroundSize: `${step}% 100%` };
  }, [axisTicks, total]);

  return (
    <section class="card waterfall-card" aria-label="Waterfall" style={nameWidth === null ? undefined : { '--wf-name': `${nameWidth}px` }}>
      <div class="card-head">
        <h2>Waterfall</h2>
        <div class="toolbar">
          {tools}
          <button
            type="button"
            class="btn btn-small"
            onClick={() =>
              setCollapsed(allCollapsed ? new Set() : new Set(model.nodes.filter((n) => n.size > 0 && n.depth >= 1).map((n) => n.span.span_id)))
            }
          >
            {allCollapsed ? 'Expand all' : 'Collapse all'}
          </button>
        </div>
      </div>
      <div class="wf-header">
        <div class="wf-name-col">
          Span
          <ColumnHandle width={nameWidth} onWidth={setNameWidth} />
        </div>
        <div class="wf-axis" aria-hidden="true">
          {axisTicks.map((t) => (
            <span key={t} class="wf-tick" style={{ left: `${(t / total) * 100}%` }}>
              {formatDuration(t)}
            </span>
          ))}
        </div>
      </div>
      <div
        class="wf-scroll"
        ref={scroller}
        tabIndex={0}
        role="tree"
        aria-label="Spans"
        aria-activedescendant={selected ? `span-${selected}` : undefined}
        data-testid="waterfall"
        onKeyDown={onKeyDown}
        onScroll={(event) => setScrollTop((event.target as HTMLDivElement).scrollTop)}
      >
        <div class="wf-inner" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
          <div class="wf-window" style={{ transform: `translateY(${first * ROW_HEIGHT}px)` }}>
            {slice.map((index) => {
              const node = model.nodes[index];
              const span = node.span;
              const left = ((node.start - model.start) / total) * 100;
              const width = Math.max(((node.end - node.start) / total) * 100, 0.15);
              const isError = span.status.code === 'error';
              const isCollapsed = collapsed.has(span.span_id);
              const color = serviceColor(span.service);
              const sections = critical?.get(span.span_id);
              const isMatch = matches.has(index);
              return (
                <div
                  key={span.span_id}
                  id={`span-${span.span_id}`}
                  class={`wf-row${span.span_id === selected ? ' selected' : ''}${isError ? ' is-error' : ''}${isMatch ? ' match' : ''}${sections ? ' critical' : ''}`}
                  data-critical={sections ? 'true' : undefined}
                  data-match={isMatch ? 'true' : undefined}
                  role="treeitem"
                  aria-level={node.depth + 1}
                  aria-expanded={node.size > 0 ? !isCollapsed : undefined}
                  aria-selected={span.span_id === selected}
                  data-span-id={span.span_id}
                  onClick={() => onSelect(span.span_id)}
                >
                  <div class="wf-name" style={{ paddingLeft: `${8 + Math.min(node.depth, 40) * 14}px` }}>
                    {node.size > 0 ? (
                      <span
                        class="wf-toggle"
                        aria-hidden="true"
                        title={isCollapsed ? `Expand (${plural(node.size, 'span')})` : 'Collapse'}
                        onClick={(event) => {
                          event.stopPropagation();
                          toggle(span.span_id);
                        }}
                      >
                        {isCollapsed ? '▸' : '▾'}
                      </span>
                    ) : (
                      <span class="wf-toggle-space" />
                    )}
                    <span class="swatch" style={{ background: color }} aria-hidden="true" />
                    <span class="wf-service">{span.service}</span>
                    <span class="wf-op">{span.name}</span>
                    {isError && (
                      <span class="error-mark" title={span.status.message || 'error'} aria-label="error">
                        !
                      </span>
                    )}
                    {isCollapsed && <span class="wf-hidden muted">+{node.size}</span>}
                  </div>
                  <div class="wf-timeline" style={gridStyle}>
                    <span class={`wf-bar${isError ? ' error' : ''}`} style={{ left: `${left}%`, width: `${width}%`, background: color }} />
                    {sections?.map(([from, to]) => (
                      <span
                        key={from}
                        class="wf-critical"
                        title="on the critical path"
                        style={{ left: `${((from - model.start) / total) * 100}%`, width: `${Math.max(((to - from) / total) * 100, 0.1)}%` }}
                      />
                    ))}
                    {span.events.map((event, i) => {
                      const at = parseTime(event.time);
                      return (
                        <span
                          key={i}
                          class="wf-event"
                          data-event={event.name}
                          title={`${event.name} · +${formatDuration(at - node.start)}`}
                          style={{ left: `${((at - model.start) / total) * 100}%` }}
                        />
                      );
                    })}
                    <span class="wf-duration" style={{ left: `calc(${left + width}% + 6px)` }}>
                      {formatDuration(span.duration_ms)}
                    </span>
                  </div>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}

function Section({ title, children, count }: { title: string; count?: number; children: preact.ComponentChildren }) {
  return (
    <section class="detail-section">
      <h3>
        {title}
        {count !== undefined && <span class="count">{count}</span>}
      </h3>
      {children}
    </section>
  );
}

/** "3.2× p50, above p95": where the span's duration falls among its
 * operation's spans of the last hour. */
export function compareWithBaseline(durationMs: number, group: SummaryGroup): { ratio: string; position: string; slow: boolean } | null {
  const { p50_ms: p50, p95_ms: p95 } = group;
  if (p50 === null || p95 === null || p50 <= 0) return null;
  const ratio = durationMs / p50;
  const position = durationMs > p95 ? 'above p95' : durationMs > p50 ? 'between p50 and p95' : 'at or below p50';
  return { ratio: `${ratio < 10 ? ratio.toFixed(1) : ratio.toFixed(0)}× p50`, position, slow: durationMs > p95 };
}

function SpanBaseline({ span }: { span: Span }) {
  const groups = useResource(() => operationBaselines(span.service), [span.service]);
  if (groups.error) return <span class="muted">unavailable ({groups.error.message})</span>;
  if (!groups.data) return <span class="muted">…</span>;
  const group = groups.data.find((g) => g.operation === span.name && g.span_kind === span.kind);
  const comparison = group && compareWithBaseline(span.duration_ms, group);
  if (!group || !comparison) return <span class="muted">no {span.kind} spans of this operation in the last hour</span>;
  // Compared with itself alone, a span is always "1.0× p50".
  if (group.request_count < 2) return <span class="muted">no other {span.kind} spans of this operation in the last hour</span>;
  return (
    <span data-testid="span-baseline">
      <strong class={comparison.slow ? 'baseline-slow' : undefined}>
        {comparison.ratio}, {comparison.position}
      </strong>{' '}
      <span class="muted">
        (p50 {formatDuration(group.p50_ms!)}, p95 {formatDuration(group.p95_ms!)} of{' '}
        <a href={href(`/services/${encodeURIComponent(span.service)}`)}>{plural(group.request_count, 'span')}</a> in the last hour)
      </span>
    </span>
  );
}

function SpanDetail({ span, model, onClose }: { span: Span; model: Model; onClose: () => void }) {
  const offset = parseTime(span.start_time) - model.start;
  return (
    <aside class="card span-detail" aria-label="Span details" data-testid="span-detail">
      <div class="detail-head">
        <div>
          <h2 class="span-title">{span.name}</h2>
          <div class="muted small">
            <span class="swatch" style={{ background: serviceColor(span.service) }} aria-hidden="true" /> {span.service} · {span.kind}
          </div>
        </div>
        <button type="button" class="btn btn-ghost btn-small" aria-label="Close span details" onClick={onClose}>
          ✕
        </button>
      </div>
      <dl class="facts">
        <dt>Duration</dt>
        <dd class="num">{formatDuration(span.duration_ms)}</dd>
        <dt>Usually</dt>
        <dd>
          <SpanBaseline span={span} />
        </dd>
        <dt>Start</dt>
        <dd>
          <Time iso={span.start_time} /> <span class="muted">(+{formatDuration(offset)})</span>
        </dd>
        <dt>Status</dt>
        <dd>
          <StatusPill status={span.status.code} /> {span.status.message && <span class="status-message">{span.status.message}</span>}
        </dd>
        <dt>Span id</dt>
        <dd>
          <code>{span.span_id}</code>
        </dd>
        <dt>Parent</dt>
        <dd>
          {span.parent_span_id ? (
            model.byId.has(span.parent_span_id) ? (
              <a href={href(location.pathname, { span: span.parent_span_id })}>
                <code>{span.parent_span_id}</code>
              </a>
            ) : (
              <code title="not received">{span.parent_span_id} (missing)</code>
            )
          ) : (
            <span class="muted">root span</span>
          )}
        </dd>
        {span.scope?.name && (
          <>
            <dt>Scope</dt>
            <dd>
              {span.scope.name} {span.scope.version && <span class="muted">{span.scope.version}</span>}
            </dd>
          </>
        )}
      </dl>
      <Section title="Attributes" count={Object.keys(span.attributes).length}>
        <AttributeTable attributes={span.attributes} />
      </Section>
      <Section title="Events" count={span.events.length}>
        {span.events.length === 0 ? (
          <p class="muted small">none</p>
        ) : (
          <ol class="events">
            {span.events.map((event, i) => (
              <li key={i}>
                <div class="event-head">
                  <strong>{event.name}</strong>
                  <span class="muted small">+{formatDuration(parseTime(event.time) - parseTime(span.start_time))}</span>
                </div>
                {Object.keys(event.attributes).length > 0 && <AttributeTable attributes={event.attributes} />}
              </li>
            ))}
          </ol>
        )}
      </Section>
      <Section title="Links" count={span.links.length}>
        {span.links.length === 0 ? (
          <p class="muted small">none</p>
        ) : (
          <ul class="links">
            {span.links.map((link, i) => (
              <li key={i}>
                <a href={href(`/traces/${link.trace_id}`, { span: link.span_id })}>
                  <code>
                    {link.trace_id.slice(0, 16)}… / {link.span_id}
                  </code>
                </a>
                {Object.keys(link.attributes).length > 0 && <AttributeTable attributes={link.attributes} />}
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Resource" count={Object.keys(span.resource).length}>
        <AttributeTable attributes={span.resource} />
      </Section>
      <div class="detail-actions">
        <CopyButton label="Copy span as JSON" text={() => JSON.stringify(span, null, 2)} />
        <a class="btn btn-small" href={href('/logs', { q: `span_id:${span.span_id}`, lookback: '7d' })}>
          Logs of this span
        </a>
      </div>
    </aside>
  );
}

function TraceLogs({ traceId }: { traceId: string }) {
  const logs = useResource((signal) => getJson<LogPage>(`/api/traces/${traceId}/logs`, { limit: 500 }, signal), [traceId]);
  return (
    <section class="card" aria-label="Logs of this trace" data-testid="trace-logs">
      <div class="card-head">
        <h2>
          Logs {logs.data && <span class="count">{formatCount(logs.data.total)}</span>}
        </h2>
        <a class="btn btn-small" href={href('/logs', { q: `trace_id:${traceId}`, lookback: '7d' })}>
          Open in Logs
        </a>
      </div>
      {logs.error ? (
        <ErrorBox error={logs.error} title="Could not load the trace's logs" onRetry={logs.reload} />
      ) : logs.loading && !logs.data ? (
        <Loading label="Loading logs…" />
      ) : logs.data && logs.data.logs.length > 0 ? (
        <LogTable logs={logs.data.logs} showTraceLinks={false} />
      ) : (
        <div class="empty-inline">No log records carry this trace id.</div>
      )}
    </section>
  );
}

export function TracePage({ traceId, query }: { traceId: string; query: URLSearchParams }) {
  const trace = useResource(
    async (signal) => {
      performance.clearMarks('lookout:trace-data');
      const data = await getJson<Trace>(`/api/traces/${encodeURIComponent(traceId)}`, {}, signal);
      performance.mark('lookout:trace-data');
      return data;
    },
    [traceId],
  );
  const model = useMemo(() => (trace.data ? buildModel(trace.data.spans) : null), [trace.data]);
  const selected = query.get('span');
  const select = (spanId: string | null) => navigate(href(location.pathname, { span: spanId ?? undefined }), { replace: true });
  const [showCritical, setShowCritical] = useState(true);
  const critical = useMemo(
    () => (model ? criticalPath(model.nodes.map((n) => ({ id: n.span.span_id, parent: n.span.parent_span_id, start: n.start, end: n.end }))) : null),
    [model],
  );
  const [find, setFind] = useState('');
  // Built on the first search, not with the waterfall's first paint.
  const searching = find.trim() !== '';
  const texts = useMemo(() => (model && searching ? model.nodes.map((n) => searchText(n.span)) : []), [model, searching]);
  const matchList = useMemo(() => (model ? findSpans(model, texts, find) : []), [model, texts, find]);
  const matchSet = useMemo(() => new Set(matchList), [matchList]);
  const errorList = useMemo(() => (model ? model.nodes.flatMap((n, i) => (n.span.status.code === 'error' ? [i] : [])) : []), [model]);
  const selectedIndex = model && selected && model.byId.has(selected) ? model.byId.get(selected)! : -1;
  const findInput = useRef<HTMLInputElement>(null);
  const step = (list: number[], backwards: boolean) => {
    const target = cycle(list, selectedIndex, backwards);
    if (model && target !== undefined) select(model.nodes[target].span.span_id);
  };
  const stepRef = useRef(step);
  stepRef.current = step;
  const lists = useRef({ errors: errorList, matches: matchList });
  lists.current = { errors: errorList, matches: matchList };

  // Keys of the trace view (listed in the ? overlay): e / E next and
  // previous error, n / N next and previous match, f find, c critical path.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if ((event.target as HTMLElement).closest('input, textarea, select, [contenteditable="true"]')) return;
      switch (event.key) {
        case 'e':
        case 'E':
          stepRef.current(lists.current.errors, event.key === 'E');
          break;
        case 'n':
        case 'N':
          stepRef.current(lists.current.matches, event.key === 'N');
          break;
        case 'f':
          findInput.current?.focus();
          findInput.current?.select();
          break;
        case 'c':
          setShowCritical((on) => !on);
          break;
        default:
          return;
      }
      event.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    if (!model) return;
    requestAnimationFrame(() => {
      performance.mark('lookout:trace-rendered');
      try {
        performance.measure('lookout:trace-render', 'lookout:trace-data', 'lookout:trace-rendered');
      } catch {
        // The data mark is missing when the page was restored from a cache.
      }
    });
  }, [model]);

  if (trace.error) {
    return (
      <div class="page">
        <div class="page-head">
          <h1>Trace</h1>
          <a {...backLink('/traces')}>← Back to search</a>
        </div>
        <ErrorBox error={trace.error} title={`Could not load trace ${traceId}`} onRetry={trace.reload} />
      </div>
    );
  }
  if (!model || !trace.data) {
    return (
      <div class="page">
        <Loading label="Loading trace…" />
      </div>
    );
  }
  const selectedSpan = selected && model.byId.has(selected) ? model.nodes[model.byId.get(selected)!].span : null;
  const duration = model.end - model.start;
  return (
    <div class="page">
      <div class="page-head trace-page-head">
        <div>
          <div class="crumbs">
            <a {...backLink('/traces')}>Traces</a>{' '}
            / <code>{trace.data.trace_id}</code> <CopyButton label="Copy id" text={() => trace.data!.trace_id} />{' '}
            <DownloadButton
              label="Download JSON"
              filename={`trace-${trace.data.trace_id}.json`}
              text={() => JSON.stringify(trace.data, null, 2)}
            />{' '}
            <DownloadButton
              label="Download OTLP"
              filename={`trace-${trace.data.trace_id}.otlp.json`}
              text={() => JSON.stringify(toOtlp(trace.data!), null, 2)}
            />
          </div>
          <h1>
            {model.root ? (
              <>
                <span class="muted">{model.root.service}:</span> {model.root.name}
              </>
            ) : (
              'Trace'
            )}
          </h1>
        </div>
        <dl class="trace-facts">
          <div>
            <dt>Start</dt>
            <dd>
              <Time iso={model.root?.start_time ?? trace.data.spans[0]?.start_time} />
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd class="num">{formatDuration(duration)}</dd>
          </div>
          <div>
            <dt>Spans</dt>
            <dd class="num">{formatCount(model.nodes.length)}</dd>
          </div>
          <div>
            <dt>Errors</dt>
            <dd class="num">{model.errors > 0 ? <span class="badge badge-error">{model.errors}</span> : '0'}</dd>
          </div>
        </dl>
      </div>
      <div class="service-legend" aria-label="Services">
        {model.services.map((service) => (
          <span key={service} class="service-tag">
            <span class="swatch" style={{ background: serviceColor(service) }} aria-hidden="true" />
            {service}
          </span>
        ))}
      </div>
      <div class={`trace-layout${selectedSpan ? ' with-detail' : ''}`}>
        <Waterfall
          model={model}
          selected={selectedSpan?.span_id ?? null}
          onSelect={select}
          critical={showCritical ? critical : null}
          matches={matchSet}
          tools={
            <>
              <div class="find-box" role="search" aria-label="Find in trace">
                <input
                  ref={findInput}
                  data-search-focus
                  type="search"
                  class="find-input"
                  aria-label="Find in trace"
                  placeholder="Find: name, attribute value…"
                  value={find}
                  spellcheck={false}
                  onInput={(event) => {
                    const text = (event.target as HTMLInputElement).value;
                    setFind(text);
                    const found = findSpans(model, texts.length ? texts : model.nodes.map((n) => searchText(n.span)), text);
                    if (found.length && !found.includes(selectedIndex)) select(model.nodes[found[0]].span.span_id);
                  }}
                  onKeyDown={(event) => {
                    if (event.key === 'Enter') {
                      event.preventDefault();
                      step(matchList, event.shiftKey);
                    } else if (event.key === 'Escape') {
                      setFind('');
                    }
                  }}
                />
                <span class="find-count muted small" data-testid="find-count" aria-live="polite">
                  {find.trim() ? (matchList.length ? `${matchSet.has(selectedIndex) ? matchList.indexOf(selectedIndex) + 1 : '–'} of ${matchList.length}` : 'no match') : ''}
                </span>
              </div>
              <button type="button" class="btn btn-small" title="Previous error (E)" disabled={errorList.length === 0} onClick={() => step(errorList, true)}>
                ‹ Error
              </button>
              <button type="button" class="btn btn-small" title="Next error (e)" disabled={errorList.length === 0} onClick={() => step(errorList, false)}>
                Error ›
              </button>
              <button
                type="button"
                class={`btn btn-small critical-toggle${showCritical ? ' on' : ''}`}
                aria-pressed={showCritical}
                title="The spans the trace's end waited on (c)"
                onClick={() => setShowCritical(!showCritical)}
              >
                Critical path
              </button>
            </>
          }
        />
        {selectedSpan && <SpanDetail span={selectedSpan} model={model} onClose={() => select(null)} />}
      </div>
      <TraceLogs traceId={trace.data.trace_id} />
    </div>
  );
}
