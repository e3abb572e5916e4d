// Editing and reading log query text (the language of docs/API.md and
// src/query/logql): clauses for a clicked value, the words a query
// searches the body for (to highlight them), field-name completion and
// the recent queries kept in the browser.

/** A value as the query language writes it: bare when it is one plain
 * token, quoted otherwise. */
export function queryValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[\p{L}\p{N}_.\-/]+$/u.test(text) && !/^(AND|OR|NOT|TO)$/.test(text) && !text.startsWith('-')) return text;
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `service:x`, `level:warn`, `attr.key:value`. */
export function fieldClause(field: 'service' | 'level' | 'attr', value: unknown, key?: string): string {
  if (field === 'attr') return `attr.${key}:${queryValue(value)}`;
  return `${field}:${queryValue(value)}`;
}

/** Top-level clauses of `query` as written (quotes kept together). */
function clauses(query: string): string[] {
  return query.match(/-?[^\s"()]*"(?:[^"\\]|\\.)*"|[^\s]+/g) ?? [];
}

/** `query` with `clause` added (or, with `exclude`, its negation); the
 * opposite clause goes, and a clause already there is not repeated. */
export function withClause(query: string, clause: string, exclude: boolean): string {
  const wanted = exclude ? `-${clause}` : clause;
  const opposite = exclude ? clause : `-${clause}`;
  const parts = clauses(query);
  // OR binds looser than the implicit AND: `a OR b` becomes `(a OR b) x`.
  if (parts.includes('OR')) return `(${query.trim()}) ${wanted}`;
  const kept = parts.filter((c) => c !== opposite);
  if (!kept.includes(wanted)) kept.push(wanted);
  return kept.join(' ');
}

export interface Highlight {
  words: Set<string>;
  prefixes: string[];
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'TO']);

/** The body words a query looks for: bare words, the words of phrases and
 * `word*` prefixes; not fields, not negated terms. Lower case, as the
 * index compares them. */
export function highlightTerms(query: string): Highlight {
  const words = new Set<string>();
  const prefixes: string[] = [];
  const tokens = query.match(/-?[^\s"():]+:(?:"(?:[^"\\]|\\.)*"|\[[^\]]*\]|[^\s()]*)|-?"(?:[^"\\]|\\.)*"|[()]|[^\s"()]+/g) ?? [];
  let negateNext = false;
  for (const token of tokens) {
    if (token === 'NOT') {
      negateNext = true;
      continue;
    }
    const negated = negateNext || token.startsWith('-');
    negateNext = false;
    if (negated || KEYWORDS.has(token) || token === '(' || token === ')') continue;
    if (/^[^\s"]+:/.test(token)) continue; // a field
    const text = token.startsWith('"') ? token.slice(1, -1) : token;
    if (!token.startsWith('"') && text.endsWith('*')) {
      const prefix = text.slice(0, -1).toLowerCase();
      if (prefix) prefixes.push(prefix);
      continue;
    }
    for (const word of text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? []) words.add(word);
  }
  return { words, prefixes };
}

/** `text` cut into pieces, the matched words marked. */
export function markWords(text: string, terms: Highlight): { text: string; mark: boolean }[] {
  if (terms.words.size === 0 && terms.prefixes.length === 0) return [{ text, mark: false }];
  const out: { text: string; mark: boolean }[] = [];
  let last = 0;
  for (const match of text.matchAll(/[\p{L}\p{N}_]+/gu)) {
    const word = match[0].toLowerCase();
    if (!terms.words.has(word) && !terms.prefixes.some((p) => word.startsWith(p))) continue;
    const at = match.index!;
    if (at > last) out.push({ text: text.slice(last, at), mark: false });
    out.push({ text: match[0], mark: true });
    last = at + match[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), mark: false });
  return out;
}

/** Fields every record has. */
export const BUILT_IN_FIELDS = ['service:', 'level:', 'trace_id:', 'span_id:'];

/** The token the caret is in: from the last space or bracket before it. */
export function tokenAt(text: string, caret: number): { start: number; token: string } {
  let start = caret;
  while (start > 0 && !/[\s()]/.test(text[start - 1])) start -= 1;
  let token = text.slice(start, caret);
  if (token.startsWith('-')) {
    token = token.slice(1);
    start += 1;
  }
  return { start, token };
}

/** Field names that complete `token` (which has no `:` yet). */
export function completions(token: string, attributeKeys: string[], limit = 8): string[] {
  if (!token || token.includes(':') || token.includes('"')) return [];
  const lower = token.toLowerCase();
  const fields = [...BUILT_IN_FIELDS, ...attributeKeys.map((key) => `attr.${key}:`)];
  return fields.filter((f) => f.toLowerCase().startsWith(lower) && f.toLowerCase() !== lower).slice(0, limit);
}

const RECENT_KEY = 'lookout.recent-log-queries';
const RECENT_MAX = 10;

export function recentQueries(): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((q): q is string => typeof q === 'string').slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

/** Puts `query` first in the recent list. */
export function rememberQuery(query: string) {
  const text = query.trim();
  if (!text) return;
  const list = [text, ...recentQueries().filter((q) => q !== text)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // Storage may be disabled: nothing is remembered.
  }
}

export function forgetQueries() {
  try {
    localStorage.removeItem(RECENT_KEY);
  } catch {
    // ignore
  }
}
