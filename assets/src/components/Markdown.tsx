// A small, safe Markdown subset for text panels: paragraphs, headings,
// bold and italic, inline code and code blocks, links, and lists. The
// text becomes elements, never HTML: anything else shows as written.
import { createElement, type ComponentChildren } from 'preact';

/** Links may go to web pages, mail, or a place in the app. */
function safeHref(url: string): string | null {
  const trimmed = url.trim();
  if (/^(https?:\/\/|mailto:)/i.test(trimmed)) return trimmed;
  if (/^\/(?!\/)/.test(trimmed) || trimmed.startsWith('#') || trimmed.startsWith('?')) return trimmed;
  return null;
}

/** Inline spans: `code`, **bold**, *italic* or _italic_, [text](url). */
function inline(text: string, key = 'i'): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const pattern = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|(?<![\p{L}\p{N}])_([^_\s](?:[^_]*[^_\s])?)_(?![\p{L}\p{N}])|\[([^\]]+)\]\(([^)\s]+)\)/gu;
  let last = 0;
  let n = 0;
  for (const match of text.matchAll(pattern)) {
    const at = match.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const k = `${key}.${n++}`;
    const [whole, code, bold, bold2, italic, italic2, linkText, url] = match;
    if (code !== undefined) out.push(<code key={k}>{code}</code>);
    else if (bold !== undefined || bold2 !== undefined) out.push(<strong key={k}>{inline(bold ?? bold2, k)}</strong>);
    else if (italic !== undefined || italic2 !== undefined) out.push(<em key={k}>{inline(italic ?? italic2, k)}</em>);
    else if (linkText !== undefined) {
      const target = safeHref(url);
      if (target) {
        const external = /^(https?:|mailto:)/i.test(target);
        out.push(
          <a key={k} href={target} {...(external ? { target: '_blank', rel: 'noopener noreferrer' } : {})}>
            {inline(linkText, k)}
          </a>,
        );
      } else out.push(whole);
    }
    last = at + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

type Block =
  | { kind: 'heading'; level: number; text: string }
  | { kind: 'paragraph'; lines: string[] }
  | { kind: 'list'; ordered: boolean; items: string[] }
  | { kind: 'code'; text: string }
  | { kind: 'rule' };

export function parseBlocks(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      blocks.push({ kind: 'code', text: body.join('\n') });
      continue;
    }
    const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      blocks.push({ kind: 'heading', level: heading[1].length, text: heading[2] });
      i++;
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      blocks.push({ kind: 'rule' });
      i++;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (item) {
      const ordered = /\d/.test(item[1]);
      const items: string[] = [];
      while (i < lines.length) {
        const next = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]);
        if (next && /\d/.test(next[1]) === ordered) items.push(next[2]);
        else if (lines[i].trim() !== '' && /^\s{2,}/.test(lines[i]) && items.length) items[items.length - 1] += ` ${lines[i].trim()}`;
        else break;
        i++;
      }
      blocks.push({ kind: 'list', ordered, items });
      continue;
    }
    const paragraph: string[] = [];
    while (i < lines.length && lines[i].trim() !== '' && !/^\s*(```|~~~|#{1,6}\s)/.test(lines[i]) && !/^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) paragraph.push(lines[i++].trim());
    blocks.push({ kind: 'paragraph', lines: paragraph });
  }
  return blocks;
}

export function Markdown({ source, class: className }: { source: string; class?: string }) {
  const blocks = parseBlocks(source);
  return (
    <div class={`markdown ${className ?? ''}`}>
      {blocks.map((block, index) => {
        const key = String(index);
        switch (block.kind) {
          case 'heading':
            // A panel's headings sit under the page's and the panel's own.
            return createElement(`h${Math.min(block.level + 2, 6)}`, { key }, inline(block.text, key));
          case 'code':
            return (
              <pre key={key}>
                <code>{block.text}</code>
              </pre>
            );
          case 'rule':
            return <hr key={key} />;
          case 'list': {
            const items = block.items.map((item, n) => <li key={n}>{inline(item, `${key}.${n}`)}</li>);
            return block.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
          }
          case 'paragraph':
            return (
              <p key={key}>{inline(block.lines.join(' '), key)}</p>
            );
        }
      })}
    </div>
  );
}
