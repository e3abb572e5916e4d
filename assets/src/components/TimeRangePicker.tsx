// Preset lookbacks plus a custom absolute range, typed as
// `YYYY-MM-DD HH:MM:SS` (24-hour clock, seconds) in the zone times are
// shown in.
import { useEffect, useState } from 'preact/hooks';
import { formatDateTime, parseDateTime, zoneLabel } from '../lib/format';
import { PRESETS, type TimeRange } from '../lib/range';
import { useAppState } from '../lib/store';

const toInput = formatDateTime;
const fromInput = (text: string) => (text ? parseDateTime(text) : undefined);

export function TimeRangePicker({ value, onChange, id }: { value: TimeRange; onChange: (range: TimeRange) => void; id?: string }) {
  const { zone } = useAppState();
  const isCustom = value.start !== undefined;
  const [invalid, setInvalid] = useState('');
  const [custom, setCustom] = useState(isCustom);
  const [from, setFrom] = useState(isCustom ? toInput(value.start!) : toInput(Date.now() - 3_600_000));
  const [to, setTo] = useState(isCustom ? toInput(value.end!) : toInput(Date.now()));
  useEffect(() => {
    setCustom(value.start !== undefined);
    if (value.start !== undefined) {
      setFrom(toInput(value.start));
      setTo(toInput(value.end!));
    }
  }, [value.start, value.end, value.lookback, zone]);

  const selected = custom ? 'custom' : value.lookback ?? '1h';
  const known = PRESETS.some(([preset]) => preset === selected) || selected === 'custom';
  const apply = () => {
    const start = fromInput(from);
    const end = fromInput(to);
    if (start === undefined || end === undefined) setInvalid('Write times as YYYY-MM-DD HH:MM:SS');
    else if (end <= start) setInvalid('The end must be after the start');
    else {
      setInvalid('');
      onChange({ start, end });
    }
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
            type="text"
            class="datetime-input"
            aria-label="From"
            inputMode="numeric"
            placeholder="YYYY-MM-DD HH:MM:SS"
            spellcheck={false}
            value={from}
            aria-invalid={invalid ? 'true' : undefined}
            onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === 'Enter' && (e.preventDefault(), apply())}
          />
          <span class="muted">to</span>
          <input
            type="text"
            class="datetime-input"
            aria-label="To"
            inputMode="numeric"
            placeholder="YYYY-MM-DD HH:MM:SS"
            spellcheck={false}
            value={to}
            aria-invalid={invalid ? 'true' : undefined}
            onInput={(e) => setTo((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === 'Enter' && (e.preventDefault(), apply())}
          />
          <span class="muted small zone-hint" data-testid="range-zone">
            {zoneLabel()}
          </span>
          <button type="button" class="btn btn-small" onClick={apply}>
            Apply
          </button>
          {invalid && (
            <span class="field-error" role="alert">
              {invalid}
            </span>
          )}
        </span>
      )}
    </div>
  );
}
