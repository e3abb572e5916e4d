// The time range and refresh controls of pages without other filters
// (Services, a service): the same picker and refresh conventions as the
// search pages.
import type { TimeRange } from '../lib/range';
import { RefreshControls } from './Refresh';
import { TimeRangePicker } from './TimeRangePicker';

export function RangeControls({
  range,
  refresh,
  loading,
  onRange,
  onRefresh,
}: {
  range: TimeRange;
  refresh: string;
  loading: boolean;
  onRange: (range: TimeRange) => void;
  onRefresh: (refresh: string) => void;
}) {
  return (
    <div class="filters" role="group" aria-label="Time range">
      <div class="field">
        <label for="m-range">Time range</label>
        <TimeRangePicker id="m-range" value={range} onChange={onRange} />
      </div>
      <div class="field">
        <label for="m-refresh">Refresh</label>
        <RefreshControls id="m-refresh" interval={refresh} loading={loading} onInterval={onRefresh} />
      </div>
    </div>
  );
}
