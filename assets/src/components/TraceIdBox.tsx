// Opens a trace by id: what people paste from a log line or another tool.
// Ids are checked here (32 hex characters, any case) so a typo is an inline
// message rather than a "no such trace" page.
import { useState } from 'preact/hooks';
import { navigate } from '../lib/router';

const TRACE_ID = /^[0-9a-f]{32}$/i;

export function TraceIdBox() {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      class="trace-id-box"
      aria-label="Open a trace by id"
      onSubmit={(event) => {
        event.preventDefault();
        const id = text.trim();
        if (!TRACE_ID.test(id)) {
          setError('A trace id is 32 hex characters');
          return;
        }
        setError('');
        navigate(`/traces/${id.toLowerCase()}`);
      }}
    >
      <input
        type="search"
        aria-label="Trace id"
        placeholder="Open trace id…"
        spellcheck={false}
        value={text}
        onInput={(event) => setText((event.target as HTMLInputElement).value)}
      />
      <button type="submit" class="btn">
        Open
      </button>
      {error && (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
