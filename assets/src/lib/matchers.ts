// Label matchers in a PromQL query's text, as the explorer's label
// filters read and change them: the matchers of a metric's selector, and
// the query with one added, replaced or taken out.
import { quoteLabel } from './promql';

export interface Matcher {
  label: string;
  op: string;
  value: string;
}

const MATCHER = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

function unquote(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Where `name` is used as a selector in `query` (not as a function or
 * part of a longer name): the name's end and its `{…}`, if any. */
function selectorsOf(query: string, name: string): { end: number; braces: [number, number] | null }[] {
  const out: { end: number; braces: [number, number] | null }[] = [];
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(^|[^\\w:"])${escaped}(?![\\w:])`, 'g');
  for (let match = pattern.exec(query); match; match = pattern.exec(query)) {
    const end = match.index + match[0].length;
    let next = end;
    while (query[next] === ' ') next += 1;
    if (query[next] === '(') continue;
    if (query[next] === '{') {
      // The closing brace, skipping string literals.
      let i = next + 1;
      for (; i < query.length && query[i] !== '}'; i++) {
        if (query[i] === '"') for (i++; i < query.length && query[i] !== '"'; i++) if (query[i] === '\\') i++;
      }
      out.push({ end, braces: [next, i] });
    } else {
      out.push({ end, braces: null });
    }
  }
  return out;
}

/** The matchers of the first selector of `name` in `query`. */
export function matchersOf(query: string, name: string): Matcher[] {
  const first = selectorsOf(query, name)[0];
  if (!first?.braces) return [];
  const inside = query.slice(first.braces[0] + 1, first.braces[1]);
  return [...inside.matchAll(MATCHER)].map((m) => ({ label: m[1], op: m[2], value: unquote(m[3]) }));
}

/** `query` with `label="value"` on every selector of `name` (replacing a
 * matcher on the same label), or without any matcher on `label` when
 * `value` is null. */
export function setMatcher(query: string, name: string, label: string, value: string | null): string {
  const selectors = selectorsOf(query, name);
  let out = query;
  // From the last, so earlier offsets stay right.
  for (const selector of selectors.reverse()) {
    const inside = selector.braces ? out.slice(selector.braces[0] + 1, selector.braces[1]) : '';
    const kept = [...inside.matchAll(MATCHER)].filter((m) => m[1] !== label).map((m) => m[0]);
    if (value !== null) kept.push(`${label}=${quoteLabel(value)}`);
    const braces = kept.length ? `{${kept.join(', ')}}` : '';
    const [from, to] = selector.braces ? [selector.braces[0], selector.braces[1] + 1] : [selector.end, selector.end];
    out = out.slice(0, selector.braces ? from : selector.end) + braces + out.slice(to);
  }
  return out;
}
