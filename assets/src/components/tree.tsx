// Attribute maps and JSON values as an expandable tree. Dotted keys
// (`http.request.method`) are grouped under their common prefixes.
import { useState } from 'preact/hooks';

type Node = { key: string; value?: unknown; children?: Map<string, Node>; leaf: boolean };

function groupDotted(attributes: Record<string, unknown>): Map<string, Node> {
  const root = new Map<string, Node>();
  for (const [fullKey, value] of Object.entries(attributes)) {
    const parts = fullKey.split('.');
    let level = root;
    for (let i = 0; i < parts.length - 1; i++) {
      let node = level.get(parts[i]);
      if (!node || node.leaf) {
        // A leaf with the same name as a group: keep both, the group gets a distinct key.
        const groupKey = node?.leaf ? `${parts[i]}.` : parts[i];
        node = level.get(groupKey) ?? { key: parts[i], children: new Map(), leaf: false };
        level.set(groupKey, node);
      }
      level = node.children!;
    }
    const last = parts[parts.length - 1];
    level.set(level.has(last) ? `${last}\u0000` : last, { key: last, value, leaf: true });
  }
  return collapseSingles(root);
}

/** `a` → `b` → leaf becomes `a.b` → leaf when a group has one child. */
function collapseSingles(level: Map<string, Node>): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const [mapKey, node] of level) {
    if (node.leaf) {
      out.set(mapKey, node);
      continue;
    }
    let current = node;
    let key = node.key;
    while (!current.leaf && current.children!.size === 1) {
      const only = [...current.children!.values()][0];
      key = `${key}.${only.key}`;
      current = only;
    }
    if (current.leaf) out.set(key, { ...current, key });
    else out.set(key, { key, children: collapseSingles(current.children!), leaf: false });
  }
  return out;
}

function Scalar({ value }: { value: unknown }) {
  if (value === null) return <span class="v-null">null</span>;
  switch (typeof value) {
    case 'string':
      return <span class="v-string">{value}</span>;
    case 'number':
      return <span class="v-number">{String(value)}</span>;
    case 'boolean':
      return <span class="v-bool">{String(value)}</span>;
    default:
      return <span>{JSON.stringify(value)}</span>;
  }
}

function isComposite(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null && (Array.isArray(value) ? value.length > 0 : Object.keys(value).length > 0);
}

/** Called with an attribute's full key, its value and the clicked element. */
export type OnValue = (key: string, value: unknown, element: HTMLElement) => void;

function ValueRow({ name, value, depth, path, onValue }: { name: string; value: unknown; depth: number; path?: string; onValue?: OnValue }) {
  const [open, setOpen] = useState(depth < 2);
  if (!isComposite(value)) {
    const key = path ? `${path}.${name}` : name;
    return (
      <li class="tree-leaf">
        <span class="tree-key">{name}</span>
        {onValue ? (
          <button type="button" class="value-button" data-attr-key={key} title={`Filter on ${key}`} onClick={(e) => onValue(key, value, e.currentTarget as HTMLElement)}>
            <Scalar value={value} />
          </button>
        ) : (
          <Scalar value={value} />
        )}
      </li>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return (
    <li class="tree-branch">
      <button type="button" class="tree-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="caret" aria-hidden="true">{open ? '▾' : '▸'}</span>
        <span class="tree-key">{name}</span>
        <span class="muted">{Array.isArray(value) ? `[${value.length}]` : `{${entries.length}}`}</span>
      </button>
      {open && (
        <ul class="tree">
          {entries.map(([k, v]) => (
            <ValueRow key={k} name={k} value={v} depth={depth + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}

function GroupRow({ node, depth, path, onValue }: { node: Node; depth: number; path?: string; onValue?: OnValue }) {
  const [open, setOpen] = useState(true);
  if (node.leaf) return <ValueRow name={node.key} value={node.value} depth={depth} path={path} onValue={onValue} />;
  return (
    <li class="tree-branch">
      <button type="button" class="tree-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="caret" aria-hidden="true">{open ? '▾' : '▸'}</span>
        <span class="tree-key">{node.key}</span>
        <span class="muted">{node.children!.size}</span>
      </button>
      {open && (
        <ul class="tree">
          {[...node.children!.entries()].map(([k, child]) => (
            <GroupRow key={k} node={child} depth={depth + 1} path={path ? `${path}.${node.key}` : node.key} onValue={onValue} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function AttributeTree({ attributes, empty = 'none', onValue }: { attributes: Record<string, unknown>; empty?: string; onValue?: OnValue }) {
  const grouped = groupDotted(attributes ?? {});
  if (grouped.size === 0) return <p class="muted small">{empty}</p>;
  return (
    <ul class="tree tree-root">
      {[...grouped.entries()].map(([k, node]) => (
        <GroupRow key={k} node={node} depth={0} onValue={onValue} />
      ))}
    </ul>
  );
}

/** Flat key/value table for short attribute maps (span details). */
export function AttributeTable({ attributes }: { attributes: Record<string, unknown> }) {
  const entries = Object.entries(attributes ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p class="muted small">none</p>;
  return (
    <table class="kv">
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>
              {isComposite(value) ? <code class="json">{JSON.stringify(value)}</code> : <Scalar value={value} />}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
