// A small request/error sparkline for a table row: requests as a filled
// area, errors in red on the same scale. SVG rather than uPlot: one per
// row, no axes, no interaction.
import type { RedPoint } from '../lib/api';
import { formatCount } from '../lib/format';

const WIDTH = 120;
const HEIGHT = 26;

function area(values: number[], max: number): string {
  if (values.length === 0) return '';
  const dx = values.length > 1 ? WIDTH / (values.length - 1) : WIDTH;
  const y = (v: number) => (HEIGHT - 1 - (v / max) * (HEIGHT - 2)).toFixed(1);
  const points = values.map((v, i) => `${(i * dx).toFixed(1)},${y(v)}`);
  if (values.length === 1) points.push(`${WIDTH},${y(values[0])}`);
  return `M0,${HEIGHT} L${points.join(' L')} L${WIDTH},${HEIGHT} Z`;
}

export function Sparkline({ series }: { series: RedPoint[] }) {
  const requests = series.map((p) => p.request_count);
  const errors = series.map((p) => p.error_count);
  const max = Math.max(1, ...requests);
  const total = requests.reduce((a, b) => a + b, 0);
  const failed = errors.reduce((a, b) => a + b, 0);
  return (
    <svg
      class="sparkline"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
      preserveAspectRatio="none"
      role="img"
      aria-label={`${formatCount(total)} requests, ${formatCount(failed)} errors over the range`}
      data-count={series.length}
      data-requests={total}
      data-errors={failed}
    >
      <path class="spark-requests" d={area(requests, max)} />
      {failed > 0 && <path class="spark-errors" d={area(errors, max)} />}
    </svg>
  );
}

/** Counts over the steps of a range as a filled area (an error group's
 * occurrences in its list row), in the errors' red. */
export function CountSparkline({ counts, label }: { counts: number[]; label: string }) {
  const max = Math.max(1, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  return (
    <svg
      class="sparkline count-sparkline"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-count={counts.length}
      data-total={total}
    >
      <path class="spark-errors" d={area(counts, max)} />
    </svg>
  );
}
