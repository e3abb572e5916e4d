// "Zoom out ×2" on a time chart: the chart's range twice as long, around
// the same middle.
import { zoomOut, type TimeRange } from '../lib/range';

export function ZoomOutButton({ range, anchor, onRange }: { range: TimeRange; anchor: number; onRange: (range: TimeRange) => void }) {
  return (
    <button type="button" class="btn btn-small zoom-out" data-testid="zoom-out" title="Twice the time range, around the same middle" onClick={() => onRange(zoomOut(range, anchor))}>
      Zoom out ×2
    </button>
  );
}
