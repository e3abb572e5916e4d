// Editing a dashboard: a panel's form (title, type, unit, thresholds, the
// queries by kind, options) and the variables' form, both dialogs over the
// dashboard. The server's 400 names the field it refused
// (`panels[2].queries[0].promql`): the message shows under that input.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  PANEL_TYPES,
  queryKind,
  RED_METRICS,
  UNITS,
  type Grid,
  type Panel,
  type PanelQuery,
  type PanelType,
  type QueryKind,
  type RedMetric,
  type Threshold,
  type Variable,
} from '../../lib/dashboards';

export type FieldErrors = Record<string, string>;

/** "field panels[0].title: must not be empty" → "Must not be empty" */
export function fieldMessage(field: string, message: string): string {
  let text = message;
  for (const prefix of [`field ${field}: `, `${field}: `]) if (text.startsWith(prefix)) text = text.slice(prefix.length);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** An element id for a field path. */
export const fieldId = (field: string) => `d-${field.replace(/[^a-zA-Z0-9_]+/g, '-')}`;

/** Fields a form shows, registered as it renders, so a message for a
 * field it does not show still appears (above its buttons). */
class Fields {
  readonly shown = new Set<string>();
  constructor(readonly errors: FieldErrors) {}
  props(field: string) {
    this.shown.add(field);
    const invalid = field in this.errors;
    return {
      id: fieldId(field),
      'data-field': field,
      'aria-invalid': invalid ? ('true' as const) : undefined,
      'aria-describedby': invalid ? `${fieldId(field)}-error` : undefined,
    };
  }
  error(field: string) {
    const message = this.errors[field];
    return message ? (
      <div class="field-error" id={`${fieldId(field)}-error`} data-error-for={field} role="alert">
        {message}
      </div>
    ) : null;
  }
  /** Errors under `prefix` that no input shows. */
  others(prefix: string): [string, string][] {
    return Object.entries(this.errors).filter(([field]) => (field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`)) && !this.shown.has(field));
  }
}

function FieldBox({ f, field, label, hint, children, class: className }: { f: Fields; field: string; label: string; hint?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <div class={`field ${className ?? ''}`}>
      <label for={fieldId(field)}>{label}</label>
      {children}
      {f.error(field) ?? (hint && <div class="field-hint muted small">{hint}</div>)}
    </div>
  );
}

/** A dialog over the page; Escape and a click outside cancel it. */
export function Dialog({ title, onClose, children, wide, testid }: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; testid?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const focusable = box.current?.querySelector<HTMLElement>('input, select, textarea, button');
    focusable?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        closeRef.current();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-label={title} onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div ref={box} class={`dialog dash-dialog${wide ? ' wide' : ''}`} data-testid={testid}>
        <div class="dialog-head">
          <h2>{title}</h2>
          <button type="button" class="btn btn-ghost btn-small" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------
// A panel

const KIND_LABEL: Record<QueryKind, string> = { promql: 'PromQL', logs: 'Log count', red: 'Service RED', traces: 'Trace search' };

function emptyQuery(kind: QueryKind, service = ''): PanelQuery {
  switch (kind) {
    case 'promql':
      return { promql: '', legend: '' };
    case 'logs':
      return { logs: '' };
    case 'red':
      return { red: { service, operation: null, metric: 'request_rate' } };
    case 'traces':
      return { traces: { service: service || null, operation: null, status: null, min_duration_ms: null } };
  }
}

/** The query kinds a panel type takes. */
export function kindsFor(type: PanelType): QueryKind[] {
  if (type === 'text') return [];
  if (type === 'logs') return ['logs'];
  if (type === 'traces') return ['traces'];
  return ['promql', 'logs', 'red'];
}

/** The queries kept when the type changes: those it takes, or a first one. */
function queriesFor(type: PanelType, queries: PanelQuery[]): PanelQuery[] {
  const kinds = kindsFor(type);
  if (kinds.length === 0) return [];
  const kept = queries.filter((q) => kinds.includes(queryKind(q)));
  if (type === 'logs' || type === 'traces') return [kept[0] ?? emptyQuery(kinds[0])];
  return kept.length ? kept.slice(0, 10) : [emptyQuery('promql')];
}

/** The options the form has inputs for, by panel type. */
const KNOWN_OPTIONS: Partial<Record<PanelType, string[]>> = { text: ['content'], gauge: ['min', 'max'], logs: ['limit'], traces: ['limit'] };

interface PanelDraft {
  panel: Panel;
  thresholds: { value: string; color: string }[];
  decimals: string;
  grid: { x: string; y: string; w: string; h: string };
  known: Record<string, string>;
  otherOptions: string;
}

function draftOf(panel: Panel): PanelDraft {
  const known = KNOWN_OPTIONS[panel.type] ?? [];
  const options = panel.options ?? {};
  const other = Object.fromEntries(Object.entries(options).filter(([key]) => !known.includes(key)));
  return {
    panel,
    thresholds: (panel.thresholds ?? []).map((t) => ({ value: t.value === null || t.value === undefined ? '' : String(t.value), color: t.color ?? '' })),
    decimals: panel.decimals === null || panel.decimals === undefined ? '' : String(panel.decimals),
    grid: { x: String(panel.grid.x), y: String(panel.grid.y), w: String(panel.grid.w), h: String(panel.grid.h) },
    known: Object.fromEntries(known.map((key) => [key, options[key] === undefined || options[key] === null ? '' : String(options[key])])),
    otherOptions: Object.keys(other).length ? JSON.stringify(other, null, 2) : '',
  };
}

/** The panel as the API takes it, or what in the form is not valid. */
function panelOf(draft: PanelDraft, prefix: string): { panel: Panel; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const number = (field: string, text: string, whole = false): number | null => {
    if (text.trim() === '') return null;
    const value = Number(text);
    if (!Number.isFinite(value) || (whole && !Number.isInteger(value))) {
      errors[field] = whole ? 'Must be a whole number' : 'Must be a number';
      return null;
    }
    return value;
  };
  const grid: Grid = {
    x: number(`${prefix}.grid.x`, draft.grid.x, true) ?? 0,
    y: number(`${prefix}.grid.y`, draft.grid.y, true) ?? 0,
    w: number(`${prefix}.grid.w`, draft.grid.w, true) ?? 12,
    h: number(`${prefix}.grid.h`, draft.grid.h, true) ?? 8,
  };
  const thresholds: Threshold[] = draft.thresholds.map((t, i) => {
    const field = `${prefix}.thresholds[${i}].value`;
    const value = number(field, t.value);
    if (value === null && !errors[field]) errors[field] = 'Is required';
    if (!t.color.trim()) errors[`${prefix}.thresholds[${i}].color`] = 'Is required';
    return { value: value ?? 0, color: t.color.trim() };
  });
  thresholds.forEach((t, i) => {
    if (i > 0 && t.value < thresholds[i - 1].value && !errors[`${prefix}.thresholds[${i}].value`]) errors[`${prefix}.thresholds[${i}].value`] = 'Thresholds ascend: at least the one before';
  });
  let options: Record<string, unknown> = {};
  if (draft.otherOptions.trim()) {
    try {
      const parsed = JSON.parse(draft.otherOptions);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) options = parsed;
      else errors[`${prefix}.options`] = 'Must be a JSON object';
    } catch (e) {
      errors[`${prefix}.options`] = `Not JSON: ${(e as Error).message}`;
    }
  }
  const type = draft.panel.type;
  for (const key of KNOWN_OPTIONS[type] ?? []) {
    const text = draft.known[key] ?? '';
    if (key === 'content') {
      if (text !== '') options.content = text;
    } else {
      const value = number(`${prefix}.options.${key}`, text, key === 'limit');
      if (value !== null) options[key] = value;
    }
  }
  const panel: Panel = {
    ...draft.panel,
    grid,
    decimals: number(`${prefix}.decimals`, draft.decimals, true),
    thresholds,
    options,
  };
  return { panel, errors };
}

function QueryFields({ f, prefix, query, onChange, kinds }: { f: Fields; prefix: string; query: PanelQuery; onChange: (query: PanelQuery) => void; kinds: QueryKind[] }) {
  const kind = queryKind(query);
  const text = (value: string | null | undefined) => value ?? '';
  const orNull = (value: string) => (value.trim() === '' ? null : value);
  return (
    <>
      {kinds.length > 1 && (
        <FieldBox f={f} field={`${prefix}.kind`} label="Kind" class="field-narrow">
          <select {...f.props(`${prefix}.kind`)} value={kind} onChange={(e) => onChange(emptyQuery((e.target as HTMLSelectElement).value as QueryKind))}>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {KIND_LABEL[k]}
              </option>
            ))}
          </select>
        </FieldBox>
      )}
      {'promql' in query && (
        <>
          <FieldBox f={f} field={`${prefix}.promql`} label="PromQL" class="field-wide" hint={<>Variables as <code>$name</code>; several values become <code>(a|b)</code>: match them with <code>=~</code>.</>}>
            <textarea {...f.props(`${prefix}.promql`)} class="mono" rows={2} spellcheck={false} value={query.promql} onInput={(e) => onChange({ ...query, promql: (e.target as HTMLTextAreaElement).value })} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.legend`} label="Legend" class="field-narrow" hint={<code>{'{{label}}'}</code>}>
            <input {...f.props(`${prefix}.legend`)} type="text" value={text(query.legend)} spellcheck={false} onInput={(e) => onChange({ ...query, legend: (e.target as HTMLInputElement).value })} />
          </FieldBox>
        </>
      )}
      {'logs' in query && (
        <FieldBox f={f} field={`${prefix}.logs`} label="Log query" class="field-wide" hint={<>As on the Logs page, e.g. <code>level:error service:$svc</code></>}>
          <input {...f.props(`${prefix}.logs`)} class="mono" type="text" spellcheck={false} value={query.logs} onInput={(e) => onChange({ logs: (e.target as HTMLInputElement).value })} />
        </FieldBox>
      )}
      {'red' in query && (
        <>
          <FieldBox f={f} field={`${prefix}.red.service`} label="Service">
            <input {...f.props(`${prefix}.red.service`)} type="text" value={query.red.service} placeholder="checkout or $svc" onInput={(e) => onChange({ red: { ...query.red, service: (e.target as HTMLInputElement).value } })} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.red.operation`} label="Operation (optional)">
            <input {...f.props(`${prefix}.red.operation`)} type="text" value={text(query.red.operation)} onInput={(e) => onChange({ red: { ...query.red, operation: orNull((e.target as HTMLInputElement).value) } })} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.red.metric`} label="Metric" class="field-narrow">
            <select {...f.props(`${prefix}.red.metric`)} value={query.red.metric} onChange={(e) => onChange({ red: { ...query.red, metric: (e.target as HTMLSelectElement).value as RedMetric } })}>
              {RED_METRICS.map((m) => (
                <option key={m.metric} value={m.metric}>
                  {m.label}
                </option>
              ))}
            </select>
          </FieldBox>
        </>
      )}
      {'traces' in query && (
        <>
          <FieldBox f={f} field={`${prefix}.traces.service`} label="Service (optional)">
            <input {...f.props(`${prefix}.traces.service`)} type="text" value={text(query.traces.service)} onInput={(e) => onChange({ traces: { ...query.traces, service: orNull((e.target as HTMLInputElement).value) } })} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.traces.operation`} label="Operation (optional)">
            <input {...f.props(`${prefix}.traces.operation`)} type="text" value={text(query.traces.operation)} onInput={(e) => onChange({ traces: { ...query.traces, operation: orNull((e.target as HTMLInputElement).value) } })} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.traces.status`} label="Status" class="field-narrow">
            <select
              {...f.props(`${prefix}.traces.status`)}
              value={query.traces.status ?? ''}
              onChange={(e) => {
                const value = (e.target as HTMLSelectElement).value;
                onChange({ traces: { ...query.traces, status: value === 'error' || value === 'ok' ? value : null } });
              }}
            >
              <option value="">any</option>
              <option value="error">error</option>
              <option value="ok">no errors</option>
            </select>
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.traces.min_duration_ms`} label="Min duration (ms)" class="field-narrow">
            <input
              {...f.props(`${prefix}.traces.min_duration_ms`)}
              type="number"
              min="0"
              step="any"
              value={query.traces.min_duration_ms ?? ''}
              onInput={(e) => {
                const value = (e.target as HTMLInputElement).value;
                onChange({ traces: { ...query.traces, min_duration_ms: value === '' || !Number.isFinite(Number(value)) ? null : Number(value) } });
              }}
            />
          </FieldBox>
        </>
      )}
    </>
  );
}

export function PanelEditor({
  panel,
  index,
  isNew,
  errors: serverErrors,
  variables,
  onApply,
  onCancel,
  onDelete,
}: {
  panel: Panel;
  index: number;
  isNew: boolean;
  errors: FieldErrors;
  variables: string[];
  onApply: (panel: Panel) => void;
  onCancel: () => void;
  onDelete?: () => void;
}) {
  const prefix = `panels[${index}]`;
  const [draft, setDraft] = useState<PanelDraft>(() => draftOf(panel));
  const [errors, setErrors] = useState<FieldErrors>(serverErrors);
  const f = new Fields(errors);
  const p = draft.panel;
  const kinds = kindsFor(p.type);
  const clear = (...fields: string[]) => {
    if (fields.some((field) => Object.keys(errors).some((e) => e === field || e.startsWith(`${field}.`) || e.startsWith(`${field}[`)))) {
      setErrors((all) => Object.fromEntries(Object.entries(all).filter(([e]) => !fields.some((field) => e === field || e.startsWith(`${field}.`) || e.startsWith(`${field}[`)))));
    }
  };
  const setPanel = (patch: Partial<Panel>, ...fields: string[]) => {
    setDraft((d) => ({ ...d, panel: { ...d.panel, ...patch } }));
    clear(...fields);
  };
  const setQuery = (i: number, query: PanelQuery) => setPanel({ queries: p.queries.map((q, n) => (n === i ? query : q)) }, `${prefix}.queries[${i}]`, `${prefix}.queries`);

  const apply = (event: Event) => {
    event.preventDefault();
    const { panel: next, errors: found } = panelOf(draft, prefix);
    if (Object.keys(found).length) {
      setErrors(found);
      return;
    }
    onApply(next);
  };

  const unclaimed = () => f.others(prefix);
  return (
    <Dialog title={isNew ? 'Add a panel' : `Edit panel: ${panel.title || 'untitled'}`} onClose={onCancel} wide testid="panel-editor">
      <form class="panel-form" onSubmit={apply} noValidate>
        <div class="form-grid">
          <FieldBox f={f} field={`${prefix}.title`} label="Title" class="field-span">
            <input {...f.props(`${prefix}.title`)} type="text" value={p.title} autoComplete="off" onInput={(e) => setPanel({ title: (e.target as HTMLInputElement).value }, `${prefix}.title`)} />
          </FieldBox>
          <FieldBox f={f} field={`${prefix}.type`} label="Type">
            <select
              {...f.props(`${prefix}.type`)}
              value={p.type}
              onChange={(e) => {
                const type = (e.target as HTMLSelectElement).value as PanelType;
                const known = KNOWN_OPTIONS[type] ?? [];
                const options = { ...(draft.panel.options ?? {}) };
                setDraft((d) => ({
                  ...d,
                  panel: { ...d.panel, type, queries: queriesFor(type, d.panel.queries) },
                  known: Object.fromEntries(known.map((key) => [key, d.known[key] ?? (options[key] === undefined ? '' : String(options[key]))])),
                }));
                clear(`${prefix}.type`, `${prefix}.queries`, `${prefix}.options`);
              }}
            >
              {PANEL_TYPES.map((t) => (
                <option key={t.type} value={t.type}>
                  {t.label}
                </option>
              ))}
            </select>
          </FieldBox>
          {p.type !== 'text' && p.type !== 'logs' && p.type !== 'traces' && (
            <>
              <FieldBox f={f} field={`${prefix}.unit`} label="Unit">
                <select {...f.props(`${prefix}.unit`)} value={p.unit ?? ''} onChange={(e) => setPanel({ unit: (e.target as HTMLSelectElement).value }, `${prefix}.unit`)}>
                  {UNITS.map((u) => (
                    <option key={u.unit} value={u.unit}>
                      {u.label}
                    </option>
                  ))}
                  {p.unit && !UNITS.some((u) => u.unit === p.unit) && <option value={p.unit}>{p.unit}</option>}
                </select>
              </FieldBox>
              <FieldBox f={f} field={`${prefix}.decimals`} label="Decimals" class="field-narrow" hint="empty: automatic">
                <input
                  {...f.props(`${prefix}.decimals`)}
                  type="number"
                  min="0"
                  max="10"
                  step="1"
                  value={draft.decimals}
                  onInput={(e) => {
                    setDraft((d) => ({ ...d, decimals: (e.target as HTMLInputElement).value }));
                    clear(`${prefix}.decimals`);
                  }}
                />
              </FieldBox>
            </>
          )}
          {(['x', 'y', 'w', 'h'] as const).map((key) => (
            <FieldBox key={key} f={f} field={`${prefix}.grid.${key}`} label={{ x: 'Column (0–23)', y: 'Row', w: 'Width (1–24)', h: 'Height (rows)' }[key]} class="field-narrow">
              <input
                {...f.props(`${prefix}.grid.${key}`)}
                type="number"
                min={key === 'w' || key === 'h' ? '1' : '0'}
                step="1"
                value={draft.grid[key]}
                onInput={(e) => {
                  setDraft((d) => ({ ...d, grid: { ...d.grid, [key]: (e.target as HTMLInputElement).value } }));
                  clear(`${prefix}.grid`);
                }}
              />
            </FieldBox>
          ))}
        </div>

        {kinds.length > 0 && (
          <fieldset class="form-section" data-testid="panel-queries">
            <legend>
              Queries {variables.length > 0 && <span class="muted small">· variables: {variables.map((v) => `$${v}`).join(' ')}</span>}
            </legend>
            {f.error(`${prefix}.queries`)}
            {p.queries.map((query, i) => (
              <div class="row-fields query-row" key={i} data-query-row={i}>
                {/* Called, not rendered as a component: its inputs register before the form lists the messages no input shows. */}
                {QueryFields({ f, prefix: `${prefix}.queries[${i}]`, query, kinds, onChange: (q) => setQuery(i, q) })}
                {p.queries.length > 1 && (
                  <button type="button" class="btn btn-ghost btn-small row-remove" aria-label={`Remove query ${i + 1}`} onClick={() => setPanel({ queries: p.queries.filter((_, n) => n !== i) }, `${prefix}.queries`)}>
                    ✕
                  </button>
                )}
                {f.error(`${prefix}.queries[${i}]`)}
              </div>
            ))}
            {kinds.length > 1 && p.queries.length < 10 && (
              <button type="button" class="btn btn-small" data-testid="add-query" onClick={() => setPanel({ queries: [...p.queries, emptyQuery('promql')] })}>
                Add query
              </button>
            )}
          </fieldset>
        )}

        {p.type !== 'text' && p.type !== 'logs' && p.type !== 'traces' && (
          <fieldset class="form-section" data-testid="panel-thresholds">
            <legend>Thresholds</legend>
            <p class="muted small">A value takes the colour of the highest threshold it reaches (below the first, the panel's own). Ascending values; colours by name or #rrggbb.</p>
            {f.error(`${prefix}.thresholds`)}
            {draft.thresholds.map((t, i) => (
              <div class="row-fields" key={i}>
                <FieldBox f={f} field={`${prefix}.thresholds[${i}].value`} label="From value" class="field-narrow">
                  <input
                    {...f.props(`${prefix}.thresholds[${i}].value`)}
                    type="number"
                    step="any"
                    value={t.value}
                    onInput={(e) => {
                      const value = (e.target as HTMLInputElement).value;
                      setDraft((d) => ({ ...d, thresholds: d.thresholds.map((x, n) => (n === i ? { ...x, value } : x)) }));
                      clear(`${prefix}.thresholds`);
                    }}
                  />
                </FieldBox>
                <FieldBox f={f} field={`${prefix}.thresholds[${i}].color`} label="Colour" class="field-narrow">
                  <input
                    {...f.props(`${prefix}.thresholds[${i}].color`)}
                    type="text"
                    placeholder="red or #e03131"
                    value={t.color}
                    onInput={(e) => {
                      const color = (e.target as HTMLInputElement).value;
                      setDraft((d) => ({ ...d, thresholds: d.thresholds.map((x, n) => (n === i ? { ...x, color } : x)) }));
                      clear(`${prefix}.thresholds`);
                    }}
                  />
                </FieldBox>
                <button
                  type="button"
                  class="btn btn-ghost btn-small row-remove"
                  aria-label={`Remove threshold ${i + 1}`}
                  onClick={() => {
                    setDraft((d) => ({ ...d, thresholds: d.thresholds.filter((_, n) => n !== i) }));
                    clear(`${prefix}.thresholds`);
                  }}
                >
                  ✕
                </button>
              </div>
            ))}
            <button
              type="button"
              class="btn btn-small"
              data-testid="add-threshold"
              onClick={() => setDraft((d) => ({ ...d, thresholds: [...d.thresholds, { value: '', color: d.thresholds.length ? 'red' : 'orange' }] }))}
            >
              Add threshold
            </button>
          </fieldset>
        )}

        <fieldset class="form-section">
          <legend>Options</legend>
          <div class="form-grid">
            {p.type === 'text' && (
              <FieldBox f={f} field={`${prefix}.options.content`} label="Text (Markdown)" class="field-span" hint="Paragraphs, # headings, **bold**, *italic*, `code`, [links](https://…) and - lists.">
                <textarea
                  {...f.props(`${prefix}.options.content`)}
                  rows={6}
                  value={draft.known.content ?? ''}
                  onInput={(e) => {
                    setDraft((d) => ({ ...d, known: { ...d.known, content: (e.target as HTMLTextAreaElement).value } }));
                    clear(`${prefix}.options`);
                  }}
                />
              </FieldBox>
            )}
            {(KNOWN_OPTIONS[p.type] ?? [])
              .filter((key) => key !== 'content')
              .map((key) => (
                <FieldBox
                  key={key}
                  f={f}
                  field={`${prefix}.options.${key}`}
                  label={key === 'limit' ? (p.type === 'logs' ? 'Rows (default 50)' : 'Traces (default 20)') : key === 'max' ? 'Maximum (default 100)' : 'Minimum (default 0)'}
                  class="field-narrow"
                >
                  <input
                    {...f.props(`${prefix}.options.${key}`)}
                    type="number"
                    step={key === 'limit' ? '1' : 'any'}
                    value={draft.known[key] ?? ''}
                    onInput={(e) => {
                      setDraft((d) => ({ ...d, known: { ...d.known, [key]: (e.target as HTMLInputElement).value } }));
                      clear(`${prefix}.options`);
                    }}
                  />
                </FieldBox>
              ))}
            <FieldBox f={f} field={`${prefix}.options`} label="Other options (JSON)" class="field-span" hint="Kept as given.">
              <textarea
                {...f.props(`${prefix}.options`)}
                class="mono"
                rows={2}
                spellcheck={false}
                placeholder="{}"
                value={draft.otherOptions}
                onInput={(e) => {
                  setDraft((d) => ({ ...d, otherOptions: (e.target as HTMLTextAreaElement).value }));
                  clear(`${prefix}.options`);
                }}
              />
            </FieldBox>
          </div>
        </fieldset>

        {unclaimed().map(([field, message]) => (
          <div class="field-error" key={field} data-error-for={field} role="alert">
            <code>{field}</code>: {message}
          </div>
        ))}
        <div class="dialog-actions">
          {onDelete && (
            <button type="button" class="btn btn-ghost danger-text push-left" data-testid="delete-panel" onClick={onDelete}>
              Remove panel
            </button>
          )}
          <button type="button" class="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" data-testid="apply-panel">
            {isNew ? 'Add panel' : 'Apply'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// ---------------------------------------------------------------------------
// Variables

interface VariableRow {
  name: string;
  type: 'query' | 'custom';
  query: string;
  values: string;
  multi: boolean;
  include_all: boolean;
  default: string;
}

const splitList = (text: string) =>
  text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');

export function VariablesEditor({ variables, errors: serverErrors, onApply, onCancel }: { variables: Variable[]; errors: FieldErrors; onApply: (variables: Variable[]) => void; onCancel: () => void }) {
  const [rows, setRows] = useState<VariableRow[]>(() =>
    variables.map((v) => ({
      name: v.name,
      type: v.type,
      query: v.query ?? '',
      values: v.type === 'custom' ? v.values.join(', ') : '',
      multi: v.multi,
      include_all: v.include_all,
      default: (v.default ?? []).join(', '),
    })),
  );
  const [errors, setErrors] = useState<FieldErrors>(serverErrors);
  const f = new Fields(errors);
  const change = (i: number, patch: Partial<VariableRow>) => {
    setRows((all) => all.map((row, n) => (n === i ? { ...row, ...patch } : row)));
    const prefix = `variables[${i}]`;
    if (Object.keys(errors).some((e) => e.startsWith(prefix) || e === 'variables')) setErrors((all) => Object.fromEntries(Object.entries(all).filter(([e]) => !e.startsWith(prefix) && e !== 'variables')));
  };
  const apply = (event: Event) => {
    event.preventDefault();
    const found: FieldErrors = {};
    const names = new Set<string>();
    rows.forEach((row, i) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(row.name.trim())) found[`variables[${i}].name`] = 'A name is letters, digits and _, not starting with a digit';
      else if (names.has(row.name.trim())) found[`variables[${i}].name`] = 'Is given twice';
      names.add(row.name.trim());
    });
    if (Object.keys(found).length) {
      setErrors(found);
      return;
    }
    onApply(
      rows.map((row) => {
        const defaults = splitList(row.default);
        const variable: Variable = {
          name: row.name.trim(),
          type: row.type,
          values: row.type === 'custom' ? splitList(row.values) : [],
          multi: row.multi,
          include_all: row.include_all,
          default: defaults,
        };
        if (row.type === 'query') variable.query = row.query.trim();
        return variable;
      }),
    );
  };
  return (
    <Dialog title="Variables" onClose={onCancel} wide testid="variables-editor">
      <form onSubmit={apply} noValidate>
        <p class="muted small">
          A variable is a selector at the top of the dashboard; queries use it as <code>$name</code>. <strong>Query</strong> variables take their values from{' '}
          <code>label_values(label)</code> or <code>label_values(metric, label)</code>, <strong>custom</strong> ones from a list.
        </p>
        {f.error('variables')}
        {rows.length === 0 && <p class="muted">No variables yet.</p>}
        {rows.map((row, i) => {
          const prefix = `variables[${i}]`;
          return (
            <fieldset class="form-section variable-row" key={i} data-variable-row={i}>
              <legend>${row.name || `variable ${i + 1}`}</legend>
              <div class="form-grid">
                <FieldBox f={f} field={`${prefix}.name`} label="Name" class="field-narrow">
                  <input {...f.props(`${prefix}.name`)} type="text" spellcheck={false} autoComplete="off" value={row.name} onInput={(e) => change(i, { name: (e.target as HTMLInputElement).value })} />
                </FieldBox>
                <FieldBox f={f} field={`${prefix}.type`} label="Type" class="field-narrow">
                  <select {...f.props(`${prefix}.type`)} value={row.type} onChange={(e) => change(i, { type: (e.target as HTMLSelectElement).value as VariableRow['type'] })}>
                    <option value="custom">custom</option>
                    <option value="query">query</option>
                  </select>
                </FieldBox>
                {row.type === 'query' ? (
                  <FieldBox f={f} field={`${prefix}.query`} label="Query" class="field-wide" hint={<code>label_values(http_server_requests_total, http_route)</code>}>
                    <input {...f.props(`${prefix}.query`)} class="mono" type="text" spellcheck={false} value={row.query} onInput={(e) => change(i, { query: (e.target as HTMLInputElement).value })} />
                  </FieldBox>
                ) : (
                  <FieldBox f={f} field={`${prefix}.values`} label="Values (comma-separated)" class="field-wide">
                    <input {...f.props(`${prefix}.values`)} type="text" spellcheck={false} value={row.values} onInput={(e) => change(i, { values: (e.target as HTMLInputElement).value })} />
                  </FieldBox>
                )}
                <FieldBox f={f} field={`${prefix}.default`} label="Default (comma-separated)" hint="empty: the first value">
                  <input {...f.props(`${prefix}.default`)} type="text" spellcheck={false} value={row.default} onInput={(e) => change(i, { default: (e.target as HTMLInputElement).value })} />
                </FieldBox>
                <div class="field field-narrow check-fields">
                  <label class="check-label">
                    <input {...f.props(`${prefix}.multi`)} type="checkbox" checked={row.multi} onChange={(e) => change(i, { multi: (e.target as HTMLInputElement).checked })} />
                    several values
                  </label>
                  <label class="check-label">
                    <input {...f.props(`${prefix}.include_all`)} type="checkbox" checked={row.include_all} onChange={(e) => change(i, { include_all: (e.target as HTMLInputElement).checked })} />
                    offer “All”
                  </label>
                  {f.error(`${prefix}.multi`)}
                  {f.error(`${prefix}.include_all`)}
                </div>
                <button
                  type="button"
                  class="btn btn-ghost btn-small row-remove"
                  aria-label={`Remove variable ${row.name}`}
                  onClick={() => {
                    setRows((all) => all.filter((_, n) => n !== i));
                    setErrors({});
                  }}
                >
                  ✕
                </button>
              </div>
            </fieldset>
          );
        })}
        {f.others('variables').map(([field, message]) => (
          <div class="field-error" key={field} data-error-for={field} role="alert">
            <code>{field}</code>: {message}
          </div>
        ))}
        <div class="dialog-actions">
          <button
            type="button"
            class="btn btn-small push-left"
            data-testid="add-variable"
            onClick={() => setRows((all) => [...all, { name: `var${all.length + 1}`, type: 'custom', query: '', values: '', multi: false, include_all: false, default: '' }])}
          >
            Add variable
          </button>
          <button type="button" class="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" data-testid="apply-variables">
            Apply
          </button>
        </div>
      </form>
    </Dialog>
  );
}
