// A uPlot chart that follows its container's width and the colour theme.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useAppState } from '../lib/store';

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

const pad = (n: number) => String(n).padStart(2, '0');

/** A time x axis in the browser's zone, 24-hour clock, the date where the
 * day changes. */
export function timeAxis(theme: ChartTheme): uPlot.Axis {
  return axis(theme, {
    space: 80,
    values: (_u, splits) => {
      let previousDay = '';
      return splits.map((seconds, i) => {
        const date = new Date(seconds * 1000);
        const day = `${date.getMonth() + 1}/${date.getDate()}`;
        const step = i > 0 ? seconds - splits[i - 1] : splits.length > 1 ? splits[1] - seconds : 60;
        const clock = step < 60 ? `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` : `${pad(date.getHours())}:${pad(date.getMinutes())}`;
        const label = day !== previousDay && (i === 0 || step >= 3600 || date.getHours() + date.getMinutes() === 0) ? `${clock}\n${day}` : clock;
        previousDay = day;
        return label;
      });
    },
  });
}

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
  const plot = useRef<uPlot | null>(null);
  const { effective } = useAppState();
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const width = Math.max(element.clientWidth, 200);
    const chart = new uPlot({ ...optionsRef.current(readTheme()), width, height }, data, element);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      const next = Math.max(element.clientWidth, 200);
      if (next !== chart.width) chart.setSize({ width: next, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt when the theme or the series layout changes; data updates below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [effective, height, data.length]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div ref={container} class={`chart ${className ?? ''}`} role="img" aria-label={label} />;
}
