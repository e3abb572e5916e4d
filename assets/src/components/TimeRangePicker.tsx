// Preset lookbacks plus a custom absolute range.
import { useEffect, useState } from 'preact/hooks';
import { PRESETS, type TimeRange } from '../lib/range';

function toInput(ms: number): string {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 16);
}

function fromInput(text: string): number | undefined {
  if (!text) return undefined;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export function TimeRangePicker({ value, onChange, id }: { value: TimeRange; onChange: (range: TimeRange) => void; id?: string }) {
  const isCustom = value.start !== undefined;
  const [custom, setCustom] = useState(isCustom);
  const [from, setFrom] = useState(isCustom ? toInput(value.start!) : toInput(Date.now() - 3_600_000));
  const [to, setTo] = useState(isCustom ? toInput(value.end!) : toInput(Date.now()));
  useEffect(() => {
    setCustom(value.start !== undefined);
    if (value.start !== undefined) {
      setFrom(toInput(value.start));
      setTo(toInput(value.end!));
    }
  }, [value.start, value.end, value.lookback]);

  const selected = custom ? 'custom' : value.lookback ?? '1h';
  const known = PRESETS.some(([preset]) => preset === selected) || selected === 'custom';
  const apply = () => {
    const start = fromInput(from);
    const end = fromInput(to);
    if (start !== undefined && end !== undefined && end > start) onChange({ start, end });
  };
  return (
    <div class="range-picker">
      <select
        id={id}
        aria-label="Time range"
        value={selected}
        onChange={(event) => {
          const next = (event.target as HTMLSelectElement).value;
          if (next === 'custom') {
            setCustom(true);
          } else {
            setCustom(false);
            onChange({ lookback: next });
          }
        }}
      >
        {PRESETS.map(([preset, label]) => (
          <option key={preset} value={preset}>
            {label}
          </option>
        ))}
        {!known && <option value={selected}>Last {selected}</option>}
        <option value="custom">Custom range…</option>
      </select>
      {custom && (
        <span class="custom-range">
          <input
            type="datetime-local"
            aria-label="From"
            value={from}
            onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === 'Enter' && (e.preventDefault(), apply())}
          />
          <span class="muted">to</span>
          <input
            type="datetime-local"
            aria-label="To"
            value={to}
            onInput={(e) => setTo((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === 'Enter' && (e.preventDefault(), apply())}
          />
          <button type="button" class="btn btn-small" onClick={apply}>
            Apply
          </button>
        </span>
      )}
    </div>
  );
}
