// A uPlot chart that follows its container's width and the colour theme.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatClock, timeParts } from '../lib/format';
import { getZone, useAppState } from '../lib/store';

export interface ChartTheme {
  text: string;
  grid: string;
  axis: string;
}

function readTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  return {
    text: style.getPropertyValue('--text-muted').trim() || '#666',
    grid: style.getPropertyValue('--grid').trim() || '#eee',
    axis: style.getPropertyValue('--border').trim() || '#ccc',
  };
}

export function axis(theme: ChartTheme, extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return {
    stroke: theme.text,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.axis, width: 1, size: 4 },
    font: '11px system-ui, sans-serif',
    ...extra,
  };
}

/** A time x axis in the chosen zone, 24-hour clock, the date where the
 * day changes. */
export function timeAxis(theme: ChartTheme): uPlot.Axis {
  return axis(theme, {
    space: 80,
    values: (_u, splits) => {
      let previousDay = '';
      return splits.map((seconds, i) => {
        const p = timeParts(seconds * 1000);
        const day = `${p.month}/${p.day}`;
        const step = i > 0 ? seconds - splits[i - 1] : splits.length > 1 ? splits[1] - seconds : 60;
        const clock = formatClock(seconds * 1000, step < 60);
        const label = day !== previousDay && (i === 0 || step >= 3600 || p.hour + p.minute === 0) ? `${clock}\n${day}` : clock;
        previousDay = day;
        return label;
      });
    },
  });
}

/** Where uPlot puts its time splits (whole minutes, hours, days): in UTC
 * when times are shown in UTC. */
const utcDate = (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC');

/** Describes what the chart draws on its element (`data-count`,
 * `data-series` (lines, the x series not counted), the x and
 * y scale bounds in the chart's units, `data-y-log`): read by the browser
 * tests and handy when debugging, as the canvas itself says nothing. */
function describe(u: uPlot) {
  const element = u.root.parentElement;
  if (!element) return;
  element.dataset.count = String(u.data[0]?.length ?? 0);
  element.dataset.series = String(u.series.length - 1);
  element.dataset.xMin = String(u.scales.x.min);
  element.dataset.xMax = String(u.scales.x.max);
  element.dataset.yMin = String(u.scales.y?.min);
  element.dataset.yMax = String(u.scales.y?.max);
  element.dataset.yLog = u.scales.y?.distr === 3 ? '1' : '0';
}

/** A uPlot chart, built anew whenever its data (or the theme) changes:
 * options close over what the caller shows (time range, rows for clicks
 * and tooltips), so a chart kept across data changes would draw or open
 * stale things. Callers memoise `data` on everything the options use. */
export function Chart({
  options,
  data,
  height,
  class: className,
  label,
}: {
  options: (theme: ChartTheme) => Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height: number;
  class?: string;
  label: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const { effective, zone } = useAppState();
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const width = Math.max(element.clientWidth, 200);
    const options = optionsRef.current(readTheme());
    const hooks = { ...options.hooks, draw: [...(options.hooks?.draw ?? []), describe] };
    const tzDate = getZone() === 'utc' ? { tzDate: utcDate } : {};
    const chart = new uPlot({ ...options, ...tzDate, hooks, width, height }, data, element);
    const observer = new ResizeObserver(() => {
      const next = Math.max(element.clientWidth, 200);
      if (next !== chart.width) chart.setSize({ width: next, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [effective, zone, height, data]);

  return <div ref={container} class={`chart ${className ?? ''}`} role="img" aria-label={label} />;
}
