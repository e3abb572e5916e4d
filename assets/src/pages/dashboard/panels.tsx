// What a dashboard panel draws from its data (docs/API.md, "Panel data"):
// time series and bars over the range, a stat, a gauge, a pie, a table of
// series, log records, traces, and Markdown text.
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import type { TraceSummary } from '../../lib/api';
import { PALETTE, serviceColor } from '../../lib/colors';
import { formatDuration, formatLocal, parseTime, plural } from '../../lib/format';
import type { Panel, PanelData, Series } from '../../lib/dashboards';
import { cssColor, formatUnit, thresholdColor } from '../../lib/units';
import { axis, Chart, timeAxis } from '../../components/Chart';
import { Time } from '../../components/common';
import { LogTable } from '../../components/LogTable';
import { Markdown } from '../../components/Markdown';

/** Lines drawn in one chart; the rest are counted. */
const MAX_LINES = 40;

export interface NamedSeries extends Series {
  name: string;
  color: string;
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels).filter(([name]) => name !== '__name__');
  const metric = labels.__name__ ?? '';
  if (entries.length === 0) return metric;
  return `${metric}{${entries.map(([name, value]) => `${name}="${value}"`).join(', ')}}`;
}

/** Every series of every query, named by its legend (or its labels, or
 * its query), coloured in turn. */
export function namedSeries(data: PanelData): NamedSeries[] {
  const out: NamedSeries[] = [];
  for (const result of data.queries) {
    for (const series of result.series ?? []) {
      const name = series.legend || labelText(series.labels) || result.query;
      out.push({ ...series, name, color: PALETTE[out.length % PALETTE.length] });
    }
  }
  return out;
}

/** The last value of a series that has one. */
export function lastValue(series: Series): number | null {
  for (let i = series.points.length - 1; i >= 0; i--) {
    const v = series.points[i][1];
    if (v !== null && Number.isFinite(v)) return v;
  }
  return null;
}

function NoData({ what = 'No data in the range.' }: { what?: string }) {
  return (
    <div class="panel-empty muted" data-testid="panel-no-data">
      {what}
    </div>
  );
}

export function PanelContent({ panel, data, width, height }: { panel: Panel; data: PanelData | undefined; width: number; height: number }) {
  if (panel.type === 'text') {
    const content = typeof panel.options?.content === 'string' ? panel.options.content : '';
    return content.trim() ? <Markdown source={content} class="panel-text" /> : <NoData what="No text yet: edit the panel to write some." />;
  }
  if (!data) return null;
  switch (panel.type) {
    case 'timeseries':
      return <TimeChart panel={panel} data={data} height={height} />;
    case 'bar':
      return <Bars panel={panel} data={data} />;
    case 'stat':
      return <Stat panel={panel} data={data} width={width} height={height} />;
    case 'gauge':
      return <Gauges panel={panel} data={data} width={width} height={height} />;
    case 'pie':
      return <Pie panel={panel} data={data} width={width} height={height} />;
    case 'table':
      return <SeriesTable panel={panel} data={data} />;
    case 'logs': {
      const records = data.queries.flatMap((q) => q.records ?? []);
      return records.length ? (
        <div class="panel-scroll" data-testid="panel-logs" data-count={records.length}>
          <LogTable logs={records} />
        </div>
      ) : (
        <NoData what="No log records match in the range." />
      );
    }
    case 'traces': {
      const traces = data.queries.flatMap((q) => q.traces ?? []);
      return traces.length ? <TraceList traces={traces} /> : <NoData what="No traces match in the range." />;
    }
  }
  return <NoData what={`Panels of type ${String(panel.type)} are not drawn.`} />;
}

// ---------------------------------------------------------------------------
// Time series

function TimeChart({ panel, data, height }: { panel: Panel; data: PanelData; height: number }) {
  const all = useMemo(() => namedSeries(data), [data]);
  const shown = all.slice(0, MAX_LINES);
  const aligned = useMemo<uPlot.AlignedData>(() => {
    const times = [...new Set(shown.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const lines = shown.map((s) => {
      const values: (number | null)[] = new Array(times.length).fill(null);
      for (const [t, v] of s.points) values[index.get(t)!] = v === null || !Number.isFinite(v) ? null : v;
      return values;
    });
    return [times, ...lines];
    // `shown` derives from `data`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data]);
  const withData = shown.some((s) => s.points.some((p) => p[1] !== null));
  if (!withData) return <NoData />;
  const start = parseTime(data.start) / 1000;
  const end = parseTime(data.end) / 1000;
  const unit = panel.unit ?? '';
  const legend = shown.length <= 12;
  // The legend sits under the plot, a line per few series.
  const legendHeight = legend ? Math.min(3, Math.ceil(shown.length / 3)) * 20 + 6 : 0;
  const steps = aligned[0].length;
  return (
    <div class="panel-chart" data-testid="panel-chart">
      <Chart
        label={`${panel.title}: ${plural(shown.length, 'series', 'series')} over the range`}
        height={Math.max(60, height - legendHeight)}
        class="panel-timeseries"
        data={aligned}
        options={(theme) => ({
          legend: { show: legend, live: true },
          cursor: { drag: { x: false, y: false }, points: { size: 5 } },
          scales: { x: { time: true, range: () => [start, end] } },
          axes: [
            timeAxis(theme),
            axis(theme, {
              // As wide as its longest label (11 px digits are about 6.6 px).
              size: (_u, values) => Math.max(36, Math.ceil(Math.max(0, ...(values ?? []).map((v) => String(v ?? '').length)) * 6.6) + 14),
              values: (_u, values) => values.map((v) => (v == null ? '' : formatUnit(v, unit, panel.decimals))),
            }),
          ],
          series: [
            { value: (_u, v) => (v == null ? '–' : formatLocal(v * 1000, false)) },
            ...shown.map((s) => ({
              label: s.name,
              stroke: s.color,
              width: 1.5,
              spanGaps: false,
              points: { show: steps < 60 },
              value: (_u: uPlot, v: number | null, _series: number, index: number | null) => (index == null ? '–' : formatUnit(v, unit, panel.decimals)),
            })),
          ],
        })}
      />
      {all.length > MAX_LINES && <div class="muted small">{all.length - MAX_LINES} more series not drawn</div>}
    </div>
  );
}

// ---------------------------------------------------------------------------
// Bars, stat, gauge, pie, table: the last value of each series

function Bars({ panel, data }: { panel: Panel; data: PanelData }) {
  const rows = namedSeries(data)
    .map((s) => ({ ...s, value: lastValue(s) }))
    .filter((s) => s.value !== null);
  if (rows.length === 0) return <NoData />;
  const max = Math.max(...rows.map((r) => Math.abs(r.value!)), 0) || 1;
  return (
    <div class="panel-bars panel-scroll" data-testid="panel-bars" data-count={rows.length}>
      {rows.map((row, index) => (
        <div class="bar-row" key={index} title={`${row.name}: ${formatUnit(row.value, panel.unit, panel.decimals)}`}>
          <span class="bar-label">{row.name}</span>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${(Math.abs(row.value!) / max) * 100}%`, background: cssColor(thresholdColor(row.value, panel.thresholds)) ?? row.color }} />
          </span>
          <span class="bar-value num">{formatUnit(row.value, panel.unit, panel.decimals)}</span>
        </div>
      ))}
    </div>
  );
}

function MiniLine({ series, color }: { series: Series; color: string }) {
  const values = series.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v));
  if (values.length < 2) return null;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const d = values.map((v, i) => `${i === 0 ? 'M' : 'L'}${((i / (values.length - 1)) * 100).toFixed(2)},${(28 - ((v - min) / span) * 26).toFixed(2)}`).join(' ');
  return (
    <svg class="stat-spark" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <path d={`${d} L100,30 L0,30 Z`} fill={color} opacity="0.15" />
      <path d={d} fill="none" stroke={color} stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}

function Stat({ panel, data, width, height }: { panel: Panel; data: PanelData; width: number; height: number }) {
  const series = namedSeries(data).slice(0, 12);
  if (series.length === 0 || series.every((s) => lastValue(s) === null)) return <NoData />;
  const many = series.length > 1;
  const columns = many ? Math.max(1, Math.min(series.length, Math.floor(width / 140))) : 1;
  const rows = Math.ceil(series.length / columns);
  // The number fills its cell: by its height, and by its width for the
  // characters it has (about 0.6 em each).
  const cellWidth = width / columns - 12;
  const cellHeight = height / rows;
  const sizeFor = (text: string) => Math.max(12, Math.min(56, cellHeight * 0.42, cellWidth / (Math.max(3, text.length) * 0.62)));
  return (
    <div class={`panel-stats${many ? ' many' : ''}`} style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` }}>
      {series.map((s, index) => {
        const value = lastValue(s);
        const color = cssColor(thresholdColor(value, panel.thresholds));
        const text = formatUnit(value, panel.unit, panel.decimals);
        return (
          <div class="stat-cell" key={index} data-testid="panel-stat" data-value={value ?? ''} data-color={color ?? ''}>
            <span class="stat-number num" style={{ fontSize: `${sizeFor(text)}px`, color }}>
              {text}
            </span>
            {(many || s.legend) && <span class="stat-name muted small">{s.name}</span>}
            <MiniLine series={s} color={color ?? s.color} />
          </div>
        );
      })}
    </div>
  );
}

/** A point on the gauge's circle, `angle` degrees from 12 o'clock. */
function polar(cx: number, cy: number, r: number, angle: number): [number, number] {
  const rad = ((angle - 90) * Math.PI) / 180;
  return [cx + r * Math.cos(rad), cy + r * Math.sin(rad)];
}

function arc(cx: number, cy: number, r: number, from: number, to: number): string {
  const [x0, y0] = polar(cx, cy, r, from);
  const [x1, y1] = polar(cx, cy, r, to);
  const large = to - from > 180 ? 1 : 0;
  return `M${x0.toFixed(2)},${y0.toFixed(2)} A${r},${r} 0 ${large} 1 ${x1.toFixed(2)},${y1.toFixed(2)}`;
}

const SWEEP = 240;

function Gauge({ value, min, max, panel, name }: { value: number | null; min: number; max: number; panel: Panel; name: string }) {
  const ratio = value === null ? 0 : Math.max(0, Math.min(1, (value - min) / (max - min || 1)));
  const start = -SWEEP / 2;
  const color = cssColor(thresholdColor(value, panel.thresholds)) ?? '#3e8ed0';
  // Threshold bands on the outer ring.
  const steps = (panel.thresholds ?? []).map((t, i, all) => {
    const from = t.value === null || t.value === undefined ? min : Math.max(min, t.value);
    const next = all[i + 1]?.value;
    const to = next === null || next === undefined ? max : Math.min(max, next);
    return { from, to, color: cssColor(t.color) ?? 'gray' };
  });
  const at = (v: number) => start + ((v - min) / (max - min || 1)) * SWEEP;
  return (
    <div class="gauge" data-testid="panel-gauge" data-value={value ?? ''} data-max={max} data-color={color}>
      <svg viewBox="0 0 120 100" role="img" aria-label={`${name ? `${name}: ` : ''}${formatUnit(value, panel.unit, panel.decimals)} of ${formatUnit(max, panel.unit, panel.decimals)}`}>
        <path class="gauge-track" d={arc(60, 60, 44, start, start + SWEEP)} />
        {ratio > 0 && <path d={arc(60, 60, 44, start, start + Math.max(ratio * SWEEP, 0.5))} stroke={color} class="gauge-value" />}
        {steps
          .filter((s) => s.to > s.from)
          .map((s, i) => (
            <path key={i} d={arc(60, 60, 53, at(s.from), at(s.to))} stroke={s.color} class="gauge-band" />
          ))}
        <text x="60" y="64" text-anchor="middle" class="gauge-text" fill={color}>
          {formatUnit(value, panel.unit, panel.decimals)}
        </text>
        {name && (
          <text x="60" y="96" text-anchor="middle" class="gauge-name">
            {name.length > 24 ? `${name.slice(0, 23)}…` : name}
          </text>
        )}
      </svg>
    </div>
  );
}

function Gauges({ panel, data, width, height }: { panel: Panel; data: PanelData; width: number; height: number }) {
  const series = namedSeries(data).slice(0, 8);
  if (series.length === 0 || series.every((s) => lastValue(s) === null)) return <NoData />;
  const option = (name: string) => (typeof panel.options?.[name] === 'number' ? (panel.options[name] as number) : undefined);
  const max = option('max') ?? (panel.unit === 'percentunit' ? 1 : 100);
  const min = option('min') ?? 0;
  const columns = Math.max(1, Math.min(series.length, Math.round(width / Math.max(120, height * 1.1))));
  return (
    <div class="panel-gauges" style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` }}>
      {series.map((s, i) => (
        <Gauge key={i} value={lastValue(s)} min={min} max={max} panel={panel} name={series.length > 1 ? s.name : ''} />
      ))}
    </div>
  );
}

function Pie({ panel, data, width, height }: { panel: Panel; data: PanelData; width: number; height: number }) {
  const slices = namedSeries(data)
    .map((s) => ({ name: s.name, color: s.color, value: lastValue(s) ?? 0 }))
    .filter((s) => s.value > 0);
  const total = slices.reduce((sum, s) => sum + s.value, 0);
  if (total <= 0) return <NoData />;
  let angle = 0;
  // Beside its legend when there is room, above it when narrow.
  const narrow = width < 320;
  const size = Math.max(60, Math.min(narrow ? height * 0.6 : height - 8, narrow ? width - 8 : width * 0.5, 220));
  return (
    <div class={`panel-pie${narrow ? ' narrow' : ''}`} data-testid="panel-pie" data-count={slices.length}>
      <svg viewBox="-1 -1 2 2" width={size} height={size} role="img" aria-label={`${panel.title}: ${plural(slices.length, 'slice')}`}>
        {slices.length === 1 ? (
          <circle r="1" fill={slices[0].color} />
        ) : (
          slices.map((s, i) => {
            const from = angle;
            angle += (s.value / total) * Math.PI * 2;
            const [x0, y0] = [Math.sin(from), -Math.cos(from)];
            const [x1, y1] = [Math.sin(angle), -Math.cos(angle)];
            const large = angle - from > Math.PI ? 1 : 0;
            return (
              <path key={i} d={`M0,0 L${x0.toFixed(4)},${y0.toFixed(4)} A1,1 0 ${large} 1 ${x1.toFixed(4)},${y1.toFixed(4)} Z`} fill={s.color} class="pie-slice">
                <title>{`${s.name}: ${formatUnit(s.value, panel.unit, panel.decimals)}`}</title>
              </path>
            );
          })
        )}
      </svg>
      <ul class="pie-legend">
        {slices.map((s, i) => (
          <li key={i}>
            <span class="swatch" style={{ background: s.color }} aria-hidden="true" />
            <span class="pie-name">{s.name}</span>
            <span class="num muted">
              {formatUnit(s.value, panel.unit, panel.decimals)} · {((s.value / total) * 100).toFixed(1)}%
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function SeriesTable({ panel, data }: { panel: Panel; data: PanelData }) {
  const series = namedSeries(data);
  if (series.length === 0) return <NoData />;
  const keys = [...new Set(series.flatMap((s) => Object.keys(s.labels).filter((k) => k !== '__name__')))];
  return (
    <div class="panel-scroll">
      <table class="red-table panel-table" data-testid="panel-table" data-count={series.length}>
        <thead>
          <tr>
            {keys.length === 0 && <th>Series</th>}
            {keys.map((key) => (
              <th key={key}>{key}</th>
            ))}
            <th class="num">Value</th>
          </tr>
        </thead>
        <tbody>
          {series.map((s, i) => {
            const value = lastValue(s);
            return (
              <tr key={i}>
                {keys.length === 0 && <td>{s.name}</td>}
                {keys.map((key) => (
                  <td key={key}>{s.labels[key] ?? <span class="muted">–</span>}</td>
                ))}
                <td class="num" style={{ color: cssColor(thresholdColor(value, panel.thresholds)) }}>
                  {formatUnit(value, panel.unit, panel.decimals)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function TraceList({ traces }: { traces: TraceSummary[] }) {
  return (
    <div class="panel-scroll">
      <ul class="panel-traces" data-testid="panel-traces" data-count={traces.length}>
        {traces.map((trace) => (
          <li key={trace.trace_id}>
            <a href={`/traces/${trace.trace_id}`} data-trace-id={trace.trace_id}>
              <span class="swatch" style={{ background: serviceColor(trace.root_service ?? '') }} aria-hidden="true" />
              <span class="panel-trace-name">
                {trace.root_service ?? '—'} · {trace.root_operation ?? 'root span not received'}
              </span>
            </a>
            <span class="muted small num">
              <Time iso={trace.start_time} millis={false} /> · {formatDuration(trace.duration_ms)} · {plural(trace.span_count, 'span')}
              {trace.error_count > 0 && <span class="tooltip-errors"> · {plural(trace.error_count, 'error')}</span>}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}
