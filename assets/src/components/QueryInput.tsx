// The log query field: completes field names (the built-in ones and
// `attr.<key>:` for the attribute keys of the records shown) as the user
// types, and offers the recent queries when it is empty.
import { useRef, useState } from 'preact/hooks';
import { completions, forgetQueries, recentQueries, tokenAt } from '../lib/logquery';

interface Suggestions {
  kind: 'fields' | 'recent';
  items: string[];
  /** Where the completed token starts (fields only). */
  start: number;
}

export function QueryInput({
  value,
  onValue,
  onRun,
  attributeKeys,
  invalid,
  describedBy,
}: {
  value: string;
  onValue: (text: string) => void;
  /** Runs a query picked from the recent list. */
  onRun: (query: string) => void;
  attributeKeys: string[];
  invalid: boolean;
  describedBy: string;
}) {
  const input = useRef<HTMLInputElement>(null);
  const [open, setOpen] = useState<Suggestions | null>(null);
  const [active, setActive] = useState(-1);

  const suggest = (text: string, caret: number, focused = true) => {
    if (!focused) return setOpen(null);
    if (!text.trim()) {
      const recent = recentQueries();
      setOpen(recent.length ? { kind: 'recent', items: recent, start: 0 } : null);
      setActive(-1);
      return;
    }
    const { start, token } = tokenAt(text, caret);
    const items = completions(token, attributeKeys);
    setOpen(items.length ? { kind: 'fields', items, start } : null);
    setActive(items.length ? 0 : -1);
  };

  const accept = (item: string) => {
    if (!open) return;
    if (open.kind === 'recent') {
      setOpen(null);
      onValue(item);
      onRun(item);
      return;
    }
    const caret = input.current?.selectionStart ?? value.length;
    const next = value.slice(0, open.start) + item + value.slice(caret);
    onValue(next);
    setOpen(null);
    const at = open.start + item.length;
    requestAnimationFrame(() => input.current?.setSelectionRange(at, at));
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (!open) {
      if (event.key === 'ArrowDown') {
        const target = event.target as HTMLInputElement;
        suggest(target.value, target.selectionStart ?? target.value.length);
        event.preventDefault();
      }
      return;
    }
    const count = open.items.length;
    switch (event.key) {
      case 'ArrowDown':
        setActive((i) => (i + 1) % count);
        break;
      case 'ArrowUp':
        setActive((i) => (i <= 0 ? count - 1 : i - 1));
        break;
      case 'Tab':
        if (open.kind !== 'fields') return;
        accept(open.items[Math.max(active, 0)]);
        break;
      case 'Enter':
        if (active < 0) {
          setOpen(null);
          return; // the form searches
        }
        accept(open.items[active]);
        break;
      case 'Escape':
        setOpen(null);
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  const listId = 'query-suggestions';
  return (
    <div class="query-field">
      <input
        ref={input}
        type="search"
        data-search-focus
        {...({ role: 'combobox' } as Record<string, string>)}
        aria-label="Log query"
        aria-autocomplete="list"
        aria-expanded={open ? 'true' : 'false'}
        aria-controls={listId}
        aria-activedescendant={open && active >= 0 ? `${listId}-${active}` : undefined}
        aria-invalid={invalid ? 'true' : undefined}
        aria-describedby={describedBy}
        placeholder='timeout level:warn service:checkout attr.http.response.status_code:>=400 "payment declined"'
        spellcheck={false}
        autoComplete="off"
        value={value}
        onInput={(e) => {
          const target = e.target as HTMLInputElement;
          onValue(target.value);
          suggest(target.value, target.selectionStart ?? target.value.length);
        }}
        onFocus={(e) => {
          const target = e.target as HTMLInputElement;
          if (!target.value.trim()) suggest('', 0);
        }}
        onBlur={() => setOpen(null)}
        onKeyDown={onKeyDown}
      />
      {open && (
        <ul class="suggestions" id={listId} role="listbox" aria-label={open.kind === 'recent' ? 'Recent queries' : 'Fields'} data-testid={`suggestions-${open.kind}`}>
          {open.kind === 'recent' && <li class="suggestions-head muted small">Recent queries</li>}
          {open.items.map((item, i) => (
            <li
              key={item}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
            >
              <code>{item}</code>
            </li>
          ))}
          {open.kind === 'recent' && (
            <li class="suggestions-foot">
              <button
                type="button"
                class="btn btn-ghost btn-small"
                onMouseDown={(e) => {
                  e.preventDefault();
                  forgetQueries();
                  setOpen(null);
                }}
              >
                Clear recent queries
              </button>
            </li>
          )}
        </ul>
      )}
    </div>
  );
}
