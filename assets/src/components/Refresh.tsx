// Refresh now, and refresh on a timer: both search again with the time
// range re-resolved to end now.
import { REFRESH_INTERVALS } from '../lib/range';
import { refreshSearch } from '../lib/search';

export function RefreshControls({
  interval,
  onInterval,
  loading,
  id,
}: {
  interval: string;
  onInterval: (interval: string) => void;
  loading: boolean;
  id: string;
}) {
  return (
    <div class="refresh-controls">
      <button
        type="button"
        class="btn"
        data-testid="refresh"
        title="Search again; a relative time range then ends now"
        aria-busy={loading ? 'true' : undefined}
        onClick={refreshSearch}
      >
        <span class={loading ? 'refresh-icon spinning' : 'refresh-icon'} aria-hidden="true">
          ⟳
        </span>
        Refresh
      </button>
      <select id={id} aria-label="Auto-refresh" title="Auto-refresh" value={interval} onChange={(e) => onInterval((e.target as HTMLSelectElement).value)}>
        {REFRESH_INTERVALS.map(([value, label]) => (
          <option key={value} value={value}>
            {value ? `every ${label}` : `auto: ${label.toLowerCase()}`}
          </option>
        ))}
        {interval && !REFRESH_INTERVALS.some(([value]) => value === interval) && <option value={interval}>every {interval}</option>}
      </select>
    </div>
  );
}
