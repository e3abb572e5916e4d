// A small line of values over time with a threshold across it (an alert
// rule's value in its table row). SVG like the requests sparkline: one per
// row, no axes, no interaction. Gaps (no data) break the line.

const WIDTH = 120;
const HEIGHT = 26;

export interface SparkLine {
  /** [unix seconds, value or null] */
  points: [number, number | null][];
}

export function ValueSparkline({
  lines,
  threshold,
  label,
  breached,
}: {
  lines: SparkLine[];
  threshold: number;
  label: string;
  /** Whether a value meets the rule's condition (drawn in red there). */
  breached: (value: number) => boolean;
}) {
  const values = lines.flatMap((line) => line.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v)));
  const times = lines.flatMap((line) => line.points.map((p) => p[0]));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const low = Math.min(0, threshold, ...values);
  const high = Math.max(threshold, ...values);
  const span = high > low ? high - low : Math.abs(high) || 1;
  const top = high + span * 0.1;
  const x = (t: number) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * WIDTH : WIDTH / 2);
  const y = (v: number) => HEIGHT - 1 - ((v - low) / (top - low)) * (HEIGHT - 2);
  const paths = lines.map((line) => {
    let d = '';
    let open = false;
    for (const [t, v] of line.points) {
      if (v === null || !Number.isFinite(v)) {
        open = false;
        continue;
      }
      d += `${open ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
      open = true;
    }
    return d.trim();
  });
  // A lone point (gaps on both sides) gets a dot, or it would not show.
  const dots = lines.flatMap((line) =>
    line.points.filter(([, v], i) => v !== null && Number.isFinite(v) && (line.points[i - 1]?.[1] ?? null) === null && (line.points[i + 1]?.[1] ?? null) === null),
  );
  const ty = y(threshold).toFixed(1);
  const over = values.filter(breached).length;
  return (
    <svg
      class="sparkline value-sparkline"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-points={values.length}
      data-breached={over}
    >
      <line class="spark-threshold" x1="0" x2={WIDTH} y1={ty} y2={ty} />
      {paths.map((d, i) => d && <path key={i} class="spark-value" d={d} />)}
      {dots.map(([t, v], i) => (
        <circle key={`d${i}`} class="spark-dot" cx={x(t).toFixed(1)} cy={y(v as number).toFixed(1)} r="2" />
      ))}
      {values.length === 0 && (
        <text class="spark-empty" x={WIDTH / 2} y={HEIGHT / 2 + 4} text-anchor="middle">
          no data
        </text>
      )}
    </svg>
  );
}
