// The service map: who calls whom in the range, from `/api/dependencies`.
// Services and virtual nodes (databases, queues, uninstrumented peers) are
// laid out left to right by dagre; edges carry their request rate and
// error rate, nodes are coloured by their error rate. A click on a service
// opens its page. Loaded on demand: the layout library stays out of the
// first page load.
import dagre from '@dagrejs/dagre';
import { useMemo, useState } from 'preact/hooks';
import { getJson, useResource, type SummaryGroup } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { formatCount, formatDuration, formatPercent, plural } from '../lib/format';
import { formatRequestRate, mergeKinds } from '../lib/metrics';
import { rangeFromQuery, rangeParams, rangeQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { href, navigate } from '../lib/router';
import { searchAnchor, useAutoRefresh } from '../lib/search';
import { ErrorBox, Loading } from '../components/common';
import { RangeControls } from '../components/RangeControls';

export interface Dependency {
  parent: string;
  child: string;
  call_count: number;
  error_count: number;
  p95_ms: number | null;
  virtual: boolean;
}

interface MapNode {
  id: string;
  name: string;
  virtual: boolean;
  /** Requests per second: a service's entry spans, a virtual node's calls. */
  rate: number | null;
  requests: number;
  errors: number;
  /** Errors per request, null without requests. */
  errorRate: number | null;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface MapEdge {
  id: string;
  from: MapNode;
  to: MapNode;
  dependency: Dependency;
  rate: number;
  errorRate: number;
  path: string;
  label: { x: number; y: number; width: number; text: string };
}

interface Layout {
  nodes: MapNode[];
  edges: MapEdge[];
  width: number;
  height: number;
}

const NODE_HEIGHT = 50;
const LABEL_HEIGHT = 18;
/** Rough text widths (px per character) for sizing boxes before drawing. */
const NAME_CHAR = 7.4;
const LABEL_CHAR = 6.4;

const nodeId = (name: string, virtual: boolean) => `${virtual ? 'v' : 's'}:${name}`;

/** Error-rate bands the nodes and edges are coloured by. */
export function errorBand(rate: number | null): 'none' | 'ok' | 'low' | 'mid' | 'high' {
  if (rate === null) return 'none';
  if (rate === 0) return 'ok';
  if (rate < 0.01) return 'low';
  if (rate < 0.05) return 'mid';
  return 'high';
}

function edgeText(rate: number, errorRate: number): string {
  return `${formatRequestRate(rate)} · ${formatPercent(errorRate)} err`;
}

/** A smooth path through dagre's edge points. */
function curve(points: { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${mid.x},${mid.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

/** Merges what the API answers per edge (one row per edge is expected;
 * rows for the same pair add up) and lays the graph out. */
export function layoutMap(dependencies: Dependency[], services: Map<string, { request_count: number; error_count: number; request_rate: number }>, seconds: number): Layout {
  const merged = new Map<string, Dependency>();
  for (const dep of dependencies) {
    const key = `${dep.parent}\u0000${nodeId(dep.child, dep.virtual)}`;
    const seen = merged.get(key);
    if (seen) {
      seen.call_count += dep.call_count;
      seen.error_count += dep.error_count;
      seen.p95_ms = Math.max(seen.p95_ms ?? 0, dep.p95_ms ?? 0) || null;
    } else {
      merged.set(key, { ...dep });
    }
  }
  const nodes = new Map<string, MapNode>();
  const node = (name: string, virtual: boolean) => {
    const id = nodeId(name, virtual);
    let found = nodes.get(id);
    if (!found) {
      const own = virtual ? undefined : services.get(name);
      found = {
        id,
        name,
        virtual,
        rate: own ? own.request_rate : null,
        requests: own?.request_count ?? 0,
        errors: own?.error_count ?? 0,
        errorRate: own && own.request_count > 0 ? own.error_count / own.request_count : null,
        x: 0,
        y: 0,
        width: Math.max(110, Math.min(260, name.length * NAME_CHAR + 34)),
        height: NODE_HEIGHT,
      };
      nodes.set(id, found);
    }
    return found;
  };
  // Every service with entry spans is on the map, called or not.
  for (const name of services.keys()) node(name, false);
  const deps = [...merged.values()];
  for (const dep of deps) {
    node(dep.parent, false);
    const target = node(dep.child, dep.virtual);
    // A virtual node has no spans of its own: its numbers are its callers'.
    if (dep.virtual) {
      target.requests += dep.call_count;
      target.errors += dep.error_count;
    }
  }
  for (const n of nodes.values()) {
    if (n.virtual) {
      n.rate = seconds > 0 ? n.requests / seconds : 0;
      n.errorRate = n.requests > 0 ? n.errors / n.requests : null;
    }
  }

  const graph = new dagre.graphlib.Graph<{ rankdir: string }, MapNode, { width: number; height: number; labelpos: 'c'; points?: { x: number; y: number }[]; x?: number; y?: number }>();
  graph.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 110, edgesep: 16, marginx: 16, marginy: 16 } as never);
  graph.setDefaultEdgeLabel(() => ({ width: 0, height: 0, labelpos: 'c' }));
  for (const n of [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id))) graph.setNode(n.id, n);
  const texts = new Map<string, string>();
  for (const dep of deps) {
    const rate = seconds > 0 ? dep.call_count / seconds : 0;
    const text = edgeText(rate, dep.call_count ? dep.error_count / dep.call_count : 0);
    const id = `${nodeId(dep.parent, false)}>${nodeId(dep.child, dep.virtual)}`;
    texts.set(id, text);
    graph.setEdge(nodeId(dep.parent, false), nodeId(dep.child, dep.virtual), { width: text.length * LABEL_CHAR + 10, height: LABEL_HEIGHT, labelpos: 'c' });
  }
  dagre.layout(graph as never);

  const laidOut = [...nodes.values()].map((n) => {
    const placed = graph.node(n.id);
    return { ...n, x: placed.x, y: placed.y };
  });
  const byId = new Map(laidOut.map((n) => [n.id, n]));
  const edges: MapEdge[] = deps.map((dep) => {
    const from = byId.get(nodeId(dep.parent, false))!;
    const to = byId.get(nodeId(dep.child, dep.virtual))!;
    const placed = graph.edge(from.id, to.id);
    const id = `${from.id}>${to.id}`;
    const text = texts.get(id)!;
    const rate = seconds > 0 ? dep.call_count / seconds : 0;
    return {
      id,
      from,
      to,
      dependency: dep,
      rate,
      errorRate: dep.call_count ? dep.error_count / dep.call_count : 0,
      path: curve(placed.points ?? []),
      label: { x: placed.x ?? 0, y: placed.y ?? 0, width: text.length * LABEL_CHAR + 10, text },
    };
  });
  const size = graph.graph() as unknown as { width?: number; height?: number };
  return { nodes: laidOut, edges, width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0) };
}

/** A database-like drum for virtual nodes; a rounded box for services. */
function NodeShape({ node }: { node: MapNode }) {
  const { width: w, height: h } = node;
  const x = -w / 2;
  const y = -h / 2;
  if (node.virtual) {
    const ry = 6;
    return (
      <>
        <path class="map-node-shape" d={`M${x},${y + ry} A${w / 2},${ry} 0 0 1 ${x + w},${y + ry} V${y + h - ry} A${w / 2},${ry} 0 0 1 ${x},${y + h - ry} Z`} />
        <path class="map-node-rim" d={`M${x},${y + ry} A${w / 2},${ry} 0 0 0 ${x + w},${y + ry}`} />
      </>
    );
  }
  return <rect class="map-node-shape" x={x} y={y} width={w} height={h} rx={8} />;
}

function nodeTitle(node: MapNode): string {
  const kind = node.virtual ? 'virtual node (called, sends no spans)' : 'service';
  const numbers =
    node.errorRate === null
      ? 'no entry spans in the range'
      : `${plural(node.requests, node.virtual ? 'call' : 'request')}, ${formatPercent(node.errorRate)} errors`;
  return `${node.name}: ${kind}; ${numbers}`;
}

function Graph({ layout, range }: { layout: Layout; range: TimeRange }) {
  const [focus, setFocus] = useState<string | null>(null);
  const open = (node: MapNode) => {
    if (!node.virtual) navigate(href(`/services/${encodeURIComponent(node.name)}`, rangeQuery(range)));
  };
  const near = (edge: MapEdge) => focus === null || edge.from.id === focus || edge.to.id === focus;
  return (
    <div class="map-scroll">
      <svg
        class="service-map"
        data-testid="service-map"
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        width={layout.width}
        height={layout.height}
        // Scaled to fit the card, but not below 70 %: past that the map
        // scrolls and its labels stay readable.
        style={{ minWidth: `${Math.round(layout.width * 0.7)}px` }}
        role="group"
        aria-label={`Service map: ${plural(layout.nodes.length, 'node')}, ${plural(layout.edges.length, 'edge')}`}
      >
        <defs>
          {(['none', 'ok', 'low', 'mid', 'high'] as const).map((band) => (
            <marker key={band} id={`arrow-${band}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class={`map-arrow band-${band}`} />
            </marker>
          ))}
        </defs>
        <g class="map-edges">
          {layout.edges.map((edge) => {
            const band = errorBand(edge.errorRate);
            return (
              <g
                key={edge.id}
                class={`map-edge band-${band}${near(edge) ? '' : ' faded'}${edge.dependency.virtual ? ' to-virtual' : ''}`}
                data-edge={`${edge.dependency.parent}→${edge.dependency.child}`}
                data-calls={edge.dependency.call_count}
                data-errors={edge.dependency.error_count}
                data-virtual={String(edge.dependency.virtual)}
              >
                <title>
                  {`${edge.dependency.parent} → ${edge.dependency.child}: ${plural(edge.dependency.call_count, 'call')}, ${plural(edge.dependency.error_count, 'error')}${
                    edge.dependency.p95_ms != null ? `, p95 ${formatDuration(edge.dependency.p95_ms)}` : ''
                  }`}
                </title>
                <path class="map-edge-line" d={edge.path} marker-end={`url(#arrow-${band})`} />
                <g class="map-edge-label" transform={`translate(${edge.label.x},${edge.label.y})`}>
                  <rect x={-edge.label.width / 2} y={-LABEL_HEIGHT / 2} width={edge.label.width} height={LABEL_HEIGHT} rx={4} />
                  <text text-anchor="middle" dominant-baseline="central">
                    {edge.label.text}
                  </text>
                </g>
              </g>
            );
          })}
        </g>
        <g class="map-nodes">
          {layout.nodes.map((node) => {
            const band = errorBand(node.errorRate);
            return (
              <g
                key={node.id}
                class={`map-node band-${band}${node.virtual ? ' virtual' : ' service'}`}
                transform={`translate(${node.x},${node.y})`}
                data-node={node.name}
                data-virtual={String(node.virtual)}
                data-error-rate={node.errorRate ?? ''}
                role={node.virtual ? 'img' : 'link'}
                tabIndex={node.virtual ? undefined : 0}
                aria-label={nodeTitle(node)}
                onClick={() => open(node)}
                onKeyDown={(event) => {
                  if (event.key === 'Enter' || event.key === ' ') {
                    event.preventDefault();
                    open(node);
                  }
                }}
                onMouseEnter={() => setFocus(node.id)}
                onMouseLeave={() => setFocus(null)}
                onFocus={() => setFocus(node.id)}
                onBlur={() => setFocus(null)}
              >
                <title>{nodeTitle(node)}</title>
                <NodeShape node={node} />
                {!node.virtual && <rect class="map-node-stripe" x={-node.width / 2} y={-node.height / 2} width={5} height={node.height} rx={2} style={{ fill: serviceColor(node.name) }} />}
                <text class="map-node-name" text-anchor="middle" y={-6}>
                  {node.name.length > 32 ? `${node.name.slice(0, 31)}…` : node.name}
                </text>
                <text class="map-node-stats" text-anchor="middle" y={12}>
                  {node.errorRate === null ? (node.virtual ? 'virtual' : 'no requests') : `${formatRequestRate(node.rate ?? 0)} · ${formatPercent(node.errorRate)}`}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}

function EdgeTable({ layout, range }: { layout: Layout; range: TimeRange }) {
  const rows = [...layout.edges].sort((a, b) => b.dependency.call_count - a.dependency.call_count || a.id.localeCompare(b.id));
  return (
    <table class="red-table edge-table" aria-label="Calls between services">
      <thead>
        <tr>
          <th scope="col">Caller</th>
          <th scope="col">Callee</th>
          <th scope="col" class="num">
            Calls
          </th>
          <th scope="col" class="num">
            Rate
          </th>
          <th scope="col" class="num">
            Errors
          </th>
          <th scope="col" class="num">
            p95 (caller side)
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((edge) => (
          <tr key={edge.id} data-edge={`${edge.dependency.parent}→${edge.dependency.child}`}>
            <td>
              <a href={href(`/services/${encodeURIComponent(edge.dependency.parent)}`, rangeQuery(range))}>{edge.dependency.parent}</a>
            </td>
            <td>
              {edge.dependency.virtual ? (
                <span>
                  {edge.dependency.child} <span class="muted small">virtual</span>
                </span>
              ) : (
                <a href={href(`/services/${encodeURIComponent(edge.dependency.child)}`, rangeQuery(range))}>{edge.dependency.child}</a>
              )}
            </td>
            <td class="num">{formatCount(edge.dependency.call_count)}</td>
            <td class="num">{formatRequestRate(edge.rate)}</td>
            <td class="num">
              <span class={edge.dependency.error_count > 0 ? 'error-rate has-errors' : 'error-rate'}>{formatPercent(edge.errorRate)}</span>
            </td>
            <td class="num">{edge.dependency.p95_ms == null ? '–' : formatDuration(edge.dependency.p95_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Legend() {
  return (
    <div class="map-legend muted small" aria-label="Legend">
      <span class="map-key">
        <svg width="22" height="14" aria-hidden="true">
          <rect x="1" y="1" width="20" height="12" rx="3" class="map-key-service" />
        </svg>
        service
      </span>
      <span class="map-key">
        <svg width="22" height="14" aria-hidden="true">
          <rect x="1" y="1" width="20" height="12" rx="6" class="map-key-virtual" />
        </svg>
        virtual node (database, queue, peer)
      </span>
      <span class="map-key">
        errors: <span class="map-band band-ok">0</span>
        <span class="map-band band-low">&lt;1%</span>
        <span class="map-band band-mid">&lt;5%</span>
        <span class="map-band band-high">≥5%</span>
      </span>
    </div>
  );
}

export function ServiceMapPage({ query }: { query: URLSearchParams }) {
  const range = rangeFromQuery(query);
  const refresh = query.get('refresh') ?? '';
  const anchor = searchAnchor();
  const params = rangeParams(range, anchor);
  const [start, end] = resolveRange(range, anchor);
  const data = useResource(
    (signal) =>
      Promise.all([
        getJson<{ edges: Dependency[] }>('/api/dependencies', params, signal),
        getJson<{ groups: SummaryGroup[] }>('/api/metrics/summary', { group_by: 'service', ...params }, signal),
      ]),
    [params.start, params.end],
  );
  useAutoRefresh(refreshMs(refresh));
  const seconds = (end - start) / 1000;
  const layout = useMemo(
    () => (data.data ? layoutMap(data.data[0].edges, mergeKinds(data.data[1].groups), seconds) : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [data.data],
  );
  const url = (patch: { range?: TimeRange; refresh?: string }) => href('/map', { ...rangeQuery(patch.range ?? range), refresh: patch.refresh ?? refresh });

  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href('/services', rangeQuery(range))}>Services</a> /
          </div>
          <h1>Service map</h1>
        </div>
        <Legend />
      </div>
      <RangeControls
        range={range}
        refresh={refresh}
        loading={data.loading}
        onRange={(next) => navigate(url({ range: next }))}
        onRefresh={(next) => navigate(url({ refresh: next }), { replace: true })}
      />
      {data.error ? (
        <ErrorBox error={data.error} title="Could not load the service graph" onRetry={data.reload} />
      ) : !layout ? (
        <Loading label="Loading the service graph…" />
      ) : layout.nodes.length === 0 ? (
        <div class="empty-inline" role="status">
          No calls between services in this time range.
        </div>
      ) : (
        <>
          <section class="card map-card" aria-label="Service map">
            <div class="card-head">
              <h2 data-testid="map-count">
                {plural(layout.nodes.filter((n) => !n.virtual).length, 'service')}, {plural(layout.edges.length, 'edge')}
              </h2>
              <span class="muted small">click a service for its page · rates over the range</span>
            </div>
            <Graph layout={layout} range={range} />
          </section>
          {layout.edges.length > 0 && (
            <section class="card" aria-label="Calls">
              <div class="card-head">
                <h2>Calls</h2>
              </div>
              <div class="table-scroll">
                <EdgeTable layout={layout} range={range} />
              </div>
            </section>
          )}
        </>
      )}
    </div>
  );
}
