// The critical path of a trace, as Jaeger computes it: starting from the
// root's end, walk back through the last-finishing child that ends before
// the point reached, recursively; the stretches of a span not covered by
// the children on the path are its own. Children are first clipped to
// their parent's time (a child running past its parent's end does not
// make the parent wait), and children wholly outside it are left out.

export interface PathSpan {
  id: string;
  parent: string | null;
  start: number;
  end: number;
}

/** Per span on the path, the [start, end] stretches (ms) it is critical for. */
export type CriticalPath = Map<string, [number, number][]>;

export function criticalPath(spans: PathSpan[]): CriticalPath {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const children = new Map<string, PathSpan[]>();
  for (const span of spans) {
    if (!span.parent || !byId.has(span.parent) || span.parent === span.id) continue;
    let list = children.get(span.parent);
    if (!list) children.set(span.parent, (list = []));
    list.push(span);
  }
  const out: CriticalPath = new Map();
  const add = (id: string, from: number, to: number) => {
    if (!(to > from)) return;
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push([from, to]);
  };
  // A trace may have several roots (missing parents): the path runs
  // through the one that ends last.
  const roots = spans.filter((s) => !s.parent || !byId.has(s.parent) || s.parent === s.id);
  if (roots.length === 0) return out;
  const root = roots.reduce((a, b) => (b.end > a.end ? b : a));

  // Children clipped to the parent's interval.
  const clipped = new Map<string, PathSpan[]>();
  const kidsOf = (span: PathSpan): PathSpan[] => {
    let list = clipped.get(span.id);
    if (!list) {
      list = (children.get(span.id) ?? [])
        .filter((c) => c.start <= span.end && c.end >= span.start)
        .map((c) => ({ ...c, start: Math.max(c.start, span.start), end: Math.min(c.end, span.end) }));
      clipped.set(span.id, list);
    }
    return list;
  };
  const clippedById = new Map<string, PathSpan>([[root.id, root]]);

  // Iterative form of the recursion: (span, point walked back to).
  // Entering a span, any child may finish last; coming back up from a
  // child, only those that end before that child started count.
  let current: PathSpan | undefined = root;
  let point = root.end;
  let returning = false;
  let guard = spans.length * 4 + 10;
  while (current && guard-- > 0) {
    let last: PathSpan | undefined;
    for (const c of kidsOf(current)) {
      if (returning && !(c.end < point)) continue;
      if (!last || c.end > last.end) last = c;
    }
    if (last) {
      add(current.id, last.end, point);
      clippedById.set(last.id, last);
      current = last;
      point = last.end;
      returning = false;
    } else {
      add(current.id, current.start, point);
      if (current.id === root.id) break;
      point = current.start;
      current = clippedById.get(current.parent!);
      returning = true;
    }
  }
  return out;
}
