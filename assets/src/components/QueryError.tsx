// A rejected query (logs, PromQL): the parser's reason, and the query with a caret
// under the place it failed.

/** The column (code points) at which the UTF-8 byte offset `position`
 * falls in `text`: the server counts bytes, the screen characters. */
export function columnOf(text: string, position: number): number {
  let bytes = 0;
  let column = 0;
  for (const char of text) {
    if (bytes >= position) break;
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    column += 1;
  }
  return column;
}

export function QueryError({ query, error, id = 'query-error' }: { query: string; error: { message: string; position?: number }; id?: string }) {
  // The caret says where, and the box sits under the query: the message
  // need not repeat either.
  const message = error.message.replace(/\s*\(at position \d+\)\s*$/, '').replace(/^parameter q: /, '');
  const position = error.position !== undefined && error.position <= new TextEncoder().encode(query).length ? error.position : undefined;
  const column = position === undefined ? undefined : columnOf(query, position);
  return (
    <div class="query-error" id={id} role="alert">
      <p data-testid="query-error">{message}</p>
      {column !== undefined && (
        <pre class="query-caret" data-testid="query-caret" aria-label={`at character ${column + 1} of the query`}>
          {query.replace(/\s/g, ' ')}
          {'\n'}
          {' '.repeat(column)}^
        </pre>
      )}
    </div>
  );
}
