// Dashboards (docs/API.md, "Dashboards"): the list (built-in ones first),
// imports of Grafana and lookout JSON, and a dashboard: its variables as
// selectors, its panels on a 24-column grid, each fetching its own data
// for the range and the selected values. The URL holds the view: the range
// and refresh (the dashboard's own by default), `var-NAME` (repeated for
// several values, as the panel-data endpoint takes them) and `view=` (a
// panel full screen). Edit mode moves and resizes panels on the grid,
// edits, adds and removes them, edits the variables and the dashboard's
// settings, and saves (or saves a copy, which built-in dashboards need).
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, useResource } from '../lib/api';
import {
  ALL,
  COLUMNS,
  createDashboard,
  deleteDashboard,
  fileName,
  GAP,
  getDashboard,
  importGrafana,
  listDashboards,
  newPanelId,
  nextGrid,
  panelData,
  placePanel,
  DASHBOARD_REFRESHES,
  refreshOf,
  refreshPeriod,
  queryKind,
  readingOrder,
  ROW_HEIGHT,
  specOf,
  substitute,
  updateDashboard,
  variableStates,
  varParams,
  viewState,
  viewUrl,
  type Dashboard,
  type Grid,
  type Panel,
  type PanelData,
  type Variable,
  type VariableState,
  type ViewState,
} from '../lib/dashboards';
import { formatAge, parseTime, plural } from '../lib/format';
import { exploreUrl } from '../lib/promql';
import { PRESETS, rangeParams, rangeUrl, type TimeRange } from '../lib/range';
import { entryState, href, navigate } from '../lib/router';
import { searchAnchor, useAutoRefresh } from '../lib/search';
import { ErrorBox, Loading } from '../components/common';
import { RangeControls } from '../components/RangeControls';
import { Dialog, fieldId, fieldMessage, PanelEditor, VariablesEditor, type FieldErrors } from './dashboard/editor';
import { PanelContent } from './dashboard/panels';

/** Below this width the panels stack in reading order. */
const STACK_BELOW = 640;

/** A message for the next page shown (a dashboard created, imported, deleted). */
let flash: { message: string; unmapped?: string[] } | null = null;

function takeFlash() {
  const text = flash;
  flash = null;
  return text;
}

export function DashboardsPage({ id, query }: { id?: string; query: URLSearchParams }) {
  if (!id) return <DashboardList />;
  if (id === 'new') return <NewDashboard query={query} />;
  return <DashboardView key={id} id={id} query={query} />;
}

const dashboardPath = (id: string) => `/dashboards/${encodeURIComponent(id)}`;

// ---------------------------------------------------------------------------
// The list and the imports

function DashboardList() {
  const list = useResource((signal) => listDashboards(signal), []);
  const [importing, setImporting] = useState<'grafana' | 'lookout' | null>(null);
  const [notice] = useState(takeFlash);
  const builtin = list.data?.filter((d) => d.builtin) ?? [];
  const saved = list.data?.filter((d) => !d.builtin) ?? [];
  return (
    <div class="page">
      <div class="page-head">
        <h1>Dashboards</h1>
        <div class="toolbar">
          <a class="btn btn-primary" href="/dashboards/new" data-testid="new-dashboard">
            New dashboard
          </a>
          <button type="button" class="btn" data-testid="import-grafana" onClick={() => setImporting('grafana')}>
            Import Grafana JSON
          </button>
          <button type="button" class="btn" data-testid="import-lookout" onClick={() => setImporting('lookout')}>
            Import lookout JSON
          </button>
        </div>
      </div>
      {notice && (
        <div class="notice" role="status" data-testid="notice">
          {notice.message}
        </div>
      )}
      {list.error ? (
        <ErrorBox error={list.error} title="Could not load the dashboards" onRetry={list.reload} />
      ) : !list.data ? (
        <Loading label="Loading dashboards…" />
      ) : (
        <>
          <DashboardTable title="Built in" note="computed from what lookout receives; save a copy to change one" rows={builtin} testid="builtin-dashboards" />
          {saved.length ? (
            <DashboardTable title={plural(saved.length, 'saved dashboard')} rows={saved} testid="saved-dashboards" />
          ) : (
            <div class="empty-state" data-testid="dashboards-empty">
              <h2>No saved dashboards yet</h2>
              <p>
                A dashboard is a grid of panels — time series, stats, gauges, tables, logs, traces, text — over PromQL queries, log queries and the services'
                request, error and latency numbers. Variables at the top change what every query shows.
              </p>
              <p>
                <a class="btn btn-primary" href="/dashboards/new">
                  Create one
                </a>{' '}
                or bring one from Grafana: its JSON model imports, and what lookout cannot show is listed.
              </p>
            </div>
          )}
        </>
      )}
      {importing && <ImportDialog mode={importing} onClose={() => setImporting(null)} />}
    </div>
  );
}

function DashboardTable({ title, note, rows, testid }: { title: string; note?: string; rows: { id: string; title: string; description: string; builtin: boolean; panel_count: number; updated_at: string | null }[]; testid: string }) {
  if (rows.length === 0) return null;
  return (
    <section class="card" aria-label={title} data-testid={testid}>
      <div class="card-head">
        <h2>{title}</h2>
        {note && <span class="muted small">{note}</span>}
      </div>
      <div class="table-scroll">
        <table class="red-table dashboard-table">
          <thead>
            <tr>
              <th>Dashboard</th>
              <th class="num">Panels</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} data-dashboard-id={row.id} class="clickable" onClick={(e) => !(e.target as Element).closest('a') && navigate(dashboardPath(row.id))}>
                <td class="wrap">
                  <a href={dashboardPath(row.id)} class="dashboard-link">
                    {row.title}
                  </a>
                  {row.builtin && <span class="pill pill-muted builtin-pill">built-in</span>}
                  {row.description && <div class="muted small">{row.description}</div>}
                </td>
                <td class="num">{row.panel_count}</td>
                <td class="small muted">{row.updated_at ? formatAge(parseTime(row.updated_at)) : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function ImportDialog({ mode, onClose }: { mode: 'grafana' | 'lookout'; onClose: () => void }) {
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    let model: unknown;
    try {
      model = JSON.parse(text);
    } catch (e) {
      setError(new Error(`That is not JSON: ${(e as Error).message}`));
      return;
    }
    setBusy(true);
    try {
      if (mode === 'grafana') {
        const answer = await importGrafana(model);
        flash = { message: `Imported “${answer.dashboard.title}” from Grafana.`, unmapped: answer.unmapped ?? [] };
        navigate(dashboardPath(answer.dashboard.id));
      } else {
        const created = await createDashboard(model);
        flash = { message: `Imported “${created.title}”.` };
        navigate(dashboardPath(created.id));
      }
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={mode === 'grafana' ? 'Import a Grafana dashboard' : 'Import a lookout dashboard'} onClose={onClose} wide testid="import-dialog">
      <form onSubmit={submit} noValidate>
        <p class="muted small">
          {mode === 'grafana' ? (
            <>
              Grafana's JSON model (Dashboard settings → JSON Model, or Export → Save to file). Time series, stat, gauge, bar, pie, table, text and logs panels
              over Prometheus queries carry over, with their layout, units, thresholds and query and custom variables; everything else is listed after the import.
            </>
          ) : (
            <>A dashboard as lookout exports it (Export JSON on a dashboard).</>
          )}
        </p>
        <div class="field">
          <label for="import-file">File</label>
          <input
            id="import-file"
            type="file"
            accept=".json,application/json"
            data-testid="import-file"
            onChange={async (e) => {
              const file = (e.target as HTMLInputElement).files?.[0];
              if (!file) return;
              setFileName(file.name);
              setText(await file.text());
              setError(null);
            }}
          />
        </div>
        <div class="field">
          <label for="import-text">{fileName ? `JSON from ${fileName}` : 'or paste the JSON'}</label>
          <textarea id="import-text" class="mono import-text" rows={10} spellcheck={false} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </div>
        {error && <ErrorBox error={error} title={error instanceof ApiError && error.status === 400 ? 'Not imported' : 'The import failed'} />}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" data-testid="import-submit" disabled={busy || text.trim() === ''}>
            {busy ? 'Importing…' : 'Import'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// ---------------------------------------------------------------------------
// A dashboard

const BLANK: Dashboard = {
  id: 'new',
  title: 'New dashboard',
  description: '',
  builtin: false,
  time: { lookback: '6h' },
  variables: [],
  panels: [],
};

function NewDashboard({ query }: { query: URLSearchParams }) {
  return <Board dashboard={BLANK} query={query} isNew onSaved={() => undefined} />;
}

function DashboardView({ id, query }: { id: string; query: URLSearchParams }) {
  const loaded = useResource((signal) => getDashboard(id, signal), [id]);
  const [saved, setSaved] = useState<Dashboard | null>(null);
  const dashboard = saved ?? loaded.data;
  const crumbs = (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href="/dashboards">Dashboards</a> /
    </nav>
  );
  if (loaded.error && !dashboard) {
    return (
      <div class="page">
        {crumbs}
        <ErrorBox error={loaded.error} title="Could not load the dashboard" onRetry={loaded.reload} />
      </div>
    );
  }
  if (!dashboard) {
    return (
      <div class="page">
        {crumbs}
        <Loading label="Loading the dashboard…" />
      </div>
    );
  }
  return <Board dashboard={dashboard} query={query} isNew={false} onSaved={setSaved} />;
}

interface EditorState {
  index: number;
  panel: Panel;
  isNew: boolean;
}

interface Drag {
  id: string;
  mode: 'move' | 'resize';
  x: number;
  y: number;
  grid: Grid;
  panels: Panel[];
  cell: { width: number; height: number };
}

/** Settings fields shown on the edit bar, by the names the server uses. */
const SETTINGS_FIELDS = ['title', 'description', 'time', 'time.lookback', 'time.start', 'time.end', 'refresh'];

/** What a panel's data depends on: a panel changed in these since it was
 * saved shows its data only once saved. */
const dataKey = (panel: Panel) => JSON.stringify([panel.type, panel.queries, panel.options ?? {}]);

function Board({ dashboard, query, isNew, onSaved }: { dashboard: Dashboard; query: URLSearchParams; isNew: boolean; onSaved: (dashboard: Dashboard) => void }) {
  const state = viewState(query, dashboard);
  const anchor = searchAnchor();
  const params = rangeParams(state.range, anchor);
  useAutoRefresh(refreshPeriod(state.refresh));
  const go = (next: Partial<ViewState>, replace = false) => navigate(viewUrl(dashboard.id, dashboard, { ...state, ...next }), { replace });

  const [draft, setDraft] = useState<Dashboard | null>(isNew ? dashboard : null);
  const [version, setVersion] = useState(0);
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [varsOpen, setVarsOpen] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<Error | null>(null);
  const [saving, setSaving] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [notice, setNotice] = useState(takeFlash);
  const editing = draft !== null;
  const shown = draft ?? dashboard;

  const varsKey = JSON.stringify(state.vars);
  const variables = useResource(isNew ? null : (signal) => variableStates(dashboard.id, varParams(state.vars), signal), [dashboard.id, varsKey, version]);
  const current: Record<string, string[]> = {};
  for (const v of variables.data ?? []) current[v.name] = state.vars[v.name] ?? v.current;

  useEffect(() => {
    document.title = `${shown.title} · Dashboards · lookout`;
  });

  // The grid's width: the cells' size for dragging, and whether to stack.
  const gridRef = useRef<HTMLDivElement>(null);
  const [gridWidth, setGridWidth] = useState(1200);
  useEffect(() => {
    const element = gridRef.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setGridWidth(element.clientWidth));
    observer.observe(element);
    setGridWidth(element.clientWidth);
    return () => observer.disconnect();
  }, []);
  const stacked = gridWidth < STACK_BELOW;

  // Dragging a panel's header moves it, its corner resizes it, a cell at a time.
  const drag = useRef<Drag | null>(null);
  const [dragging, setDragging] = useState<string | null>(null);
  const startDrag = (panel: Panel, mode: Drag['mode'], event: PointerEvent) => {
    if (!draft || stacked || event.button !== 0) return;
    const element = gridRef.current;
    if (!element) return;
    event.preventDefault();
    const width = element.clientWidth;
    drag.current = { id: panel.id, mode, x: event.clientX, y: event.clientY, grid: panel.grid, panels: draft.panels, cell: { width: (width + GAP) / COLUMNS, height: ROW_HEIGHT + GAP } };
    setDragging(panel.id);
    const move = (e: PointerEvent) => {
      const d = drag.current;
      if (!d) return;
      const dx = Math.round((e.clientX - d.x) / d.cell.width);
      const dy = Math.round((e.clientY - d.y) / d.cell.height);
      const grid = d.mode === 'move' ? { ...d.grid, x: d.grid.x + dx, y: d.grid.y + dy } : { ...d.grid, w: d.grid.w + dx, h: d.grid.h + dy };
      if (d.mode === 'resize') grid.w = Math.min(grid.w, COLUMNS - grid.x);
      setDraft((current) => (current ? { ...current, panels: placePanel(d.panels, d.id, grid) } : current));
    };
    const up = () => {
      drag.current = null;
      setDragging(null);
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
  };

  const startEditing = () => {
    setDraft(structuredClone(dashboard));
    setErrors({});
    setGeneral(null);
  };
  const cancelEditing = () => {
    if (isNew) {
      navigate('/dashboards');
      return;
    }
    setDraft(null);
    setErrors({});
    setGeneral(null);
    setEditor(null);
  };
  const patch = (change: Partial<Dashboard>, ...fields: string[]) => {
    setDraft((d) => (d ? { ...d, ...change } : d));
    if (fields.some((f) => f in errors)) setErrors((all) => Object.fromEntries(Object.entries(all).filter(([f]) => !fields.includes(f))));
  };

  /** A 400 shows under the field it names: a panel's opens that panel's
   * form, a variable's the variables' form. */
  const failed = (error: unknown, panels: Panel[]) => {
    if (error instanceof ApiError && error.status === 400 && error.field) {
      const field = error.field;
      setErrors({ [field]: fieldMessage(field, error.message) });
      const panel = /^panels\[(\d+)\]/.exec(field);
      if (panel && panels[Number(panel[1])]) {
        setEditor({ index: Number(panel[1]), panel: panels[Number(panel[1])], isNew: false });
        return;
      }
      if (field.startsWith('variables')) {
        setVarsOpen(true);
        return;
      }
      if (SETTINGS_FIELDS.includes(field)) {
        requestAnimationFrame(() => document.getElementById(fieldId(field === 'time' ? 'time.lookback' : field))?.focus());
        return;
      }
    }
    if (error instanceof ApiError && error.status === 409) {
      setGeneral(new ApiError(409, error.code, `${error.message} — a built-in dashboard cannot be changed: use “Save as copy”.`));
      return;
    }
    setGeneral(error as Error);
  };

  const save = async (asCopy = false) => {
    if (!draft) return;
    setGeneral(null);
    setErrors({});
    setSaving(true);
    const spec = specOf(draft);
    try {
      if (isNew || asCopy) {
        const copy = asCopy && !isNew && spec.title === dashboard.title ? { ...spec, title: `${spec.title} (copy)` } : spec;
        const created = await createDashboard(copy);
        flash = { message: `Dashboard “${created.title}” ${isNew ? 'created' : 'saved as a copy'}.` };
        navigate(dashboardPath(created.id), { replace: isNew });
        return;
      }
      const answer = await updateDashboard(dashboard.id, spec);
      onSaved(answer);
      setDraft(null);
      setEditor(null);
      setVersion((v) => v + 1);
      setNotice({ message: `Dashboard “${answer.title}” saved.` });
    } catch (error) {
      failed(error, draft.panels);
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    setSaving(true);
    try {
      await deleteDashboard(dashboard.id);
      flash = { message: `Dashboard “${dashboard.title}” deleted.` };
      navigate('/dashboards');
    } catch (error) {
      setGeneral(error as Error);
      setConfirmDelete(false);
    } finally {
      setSaving(false);
    }
  };

  const exportJson = async () => {
    try {
      const stored = await getDashboard(dashboard.id);
      const url = URL.createObjectURL(new Blob([JSON.stringify(stored, null, 2)], { type: 'application/json' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = fileName(stored);
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setGeneral(error as Error);
    }
  };

  const addPanel = () => {
    if (!draft) return;
    const panel: Panel = { id: newPanelId(draft.panels), title: 'New panel', type: 'timeseries', grid: nextGrid(draft.panels), unit: '', decimals: null, thresholds: [], queries: [{ promql: '', legend: '' }], options: {} };
    setEditor({ index: draft.panels.length, panel, isNew: true });
  };

  const removePanel = (id: string) => {
    setDraft((d) => (d ? { ...d, panels: d.panels.filter((p) => p.id !== id) } : d));
    setErrors((all) => Object.fromEntries(Object.entries(all).filter(([f]) => !f.startsWith('panels'))));
  };

  const viewed = state.view ? shown.panels.find((p) => p.id === state.view) : undefined;
  const closeView = () => {
    const back = viewUrl(dashboard.id, dashboard, { ...state, view: null });
    if (entryState().from === back) history.back();
    else navigate(back, { replace: true });
  };
  const panelErrors = (index: number) => Object.entries(errors).filter(([f]) => f.startsWith(`panels[${index}]`));
  const savedPanels = new Map(dashboard.panels.map((p) => [p.id, p]));
  const ordered = stacked ? readingOrder(shown.panels) : shown.panels;

  return (
    <div class={`page dashboard${editing ? ' editing' : ''}`} data-testid="dashboard" data-dashboard-id={dashboard.id} data-editing={editing ? 'true' : 'false'}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/dashboards">Dashboards</a> /
      </nav>
      {editing ? (
        <EditBar
          draft={draft}
          builtin={dashboard.builtin}
          isNew={isNew}
          errors={errors}
          saving={saving}
          onChange={patch}
          onAddPanel={addPanel}
          onVariables={() => setVarsOpen(true)}
          onSave={() => save(false)}
          onSaveCopy={() => save(true)}
          onCancel={cancelEditing}
          onDelete={() => setConfirmDelete(true)}
        />
      ) : (
        <div class="page-head">
          <div>
            <h1 class="dashboard-title" data-testid="dashboard-title">
              {dashboard.title} {dashboard.builtin && <span class="pill pill-muted builtin-pill">built-in</span>}
            </h1>
            {dashboard.description && <p class="muted dashboard-description">{dashboard.description}</p>}
          </div>
          <div class="toolbar">
            <button type="button" class="btn" data-testid="edit-dashboard" onClick={startEditing} title={dashboard.builtin ? 'Change it and save a copy' : 'Move, resize, add and edit panels'}>
              Edit
            </button>
            <button type="button" class="btn" data-testid="export-dashboard" onClick={exportJson}>
              Export JSON
            </button>
          </div>
        </div>
      )}
      {notice && (
        <div class="notice" role="status" data-testid="notice">
          <div class="notice-row">
            <span>{notice.message}</span>
            <button type="button" class="btn btn-ghost btn-small" aria-label="Dismiss" onClick={() => setNotice(null)}>
              ✕
            </button>
          </div>
          {notice.unmapped && (
            <div class="unmapped" data-testid="import-unmapped">
              {notice.unmapped.length === 0 ? (
                <p>Everything in it was carried over.</p>
              ) : (
                <>
                  <p>
                    <strong>{plural(notice.unmapped.length, 'thing')} could not be carried over</strong> and {notice.unmapped.length === 1 ? 'is' : 'are'} not on this dashboard:
                  </p>
                  <ul>
                    {notice.unmapped.map((item, i) => (
                      <li key={i}>{item}</li>
                    ))}
                  </ul>
                </>
              )}
            </div>
          )}
        </div>
      )}
      {general && <ErrorBox error={general} title={general instanceof ApiError && general.status === 400 ? 'The dashboard was not saved' : 'The request failed'} />}
      {general instanceof ApiError && general.field && !SETTINGS_FIELDS.includes(general.field) && <p class="field-error">{general.field}</p>}

      <RangeControls
        range={state.range}
        refresh={state.refresh}
        loading={false}
        onRange={(range) => go({ range })}
        onRefresh={(refresh) => go({ refresh }, true)}
      />
      {!isNew && shown.variables.length > 0 && (
        <VariableBar definitions={dashboard.variables} states={variables.data} selected={state.vars} error={variables.error} onChange={(name, values) => go({ vars: { ...state.vars, [name]: values } })} />
      )}

      <div ref={gridRef} class={`dash-grid${stacked ? ' stacked' : ''}${dragging ? ' dragging' : ''}`} data-testid="dash-grid">
        {shown.panels.length === 0 && (
          <div class="empty-state dash-empty">
            <h2>No panels yet</h2>
            <p>{editing ? 'Add a panel: a chart, a number, a table, logs, traces or text.' : 'Edit the dashboard to add panels.'}</p>
            {editing && (
              <button type="button" class="btn btn-primary" onClick={addPanel}>
                Add panel
              </button>
            )}
          </div>
        )}
        {ordered.map((panel) => {
          const index = shown.panels.indexOf(panel);
          const stored = savedPanels.get(panel.id);
          return (
            <PanelFrame
              key={panel.id}
              dashboardId={dashboard.id}
              panel={panel}
              fetchable={!isNew && stored !== undefined && dataKey(stored) === dataKey(panel)}
              params={params}
              vars={state.vars}
              current={current}
              range={state.range}
              version={version}
              editing={editing}
              stacked={stacked}
              dragging={dragging === panel.id}
              problems={panelErrors(index)}
              onView={() => go({ view: panel.id })}
              onEdit={() => {
                if (!draft) startEditing();
                setEditor({ index, panel: structuredClone(panel), isNew: false });
              }}
              onRemove={() => removePanel(panel.id)}
              onDragStart={(mode, event) => startDrag(panel, mode, event)}
            />
          );
        })}
      </div>

      {viewed && (
        <FullScreen title={viewed.title} onClose={closeView}>
          <PanelFrame
            dashboardId={dashboard.id}
            panel={viewed}
            fetchable={!isNew && savedPanels.has(viewed.id) && dataKey(savedPanels.get(viewed.id)!) === dataKey(viewed)}
            params={params}
            vars={state.vars}
            current={current}
            range={state.range}
            version={version}
            editing={false}
            stacked={false}
            dragging={false}
            problems={[]}
            full
          />
        </FullScreen>
      )}

      {editor && draft && (
        <PanelEditor
          key={`${editor.index}:${editor.panel.id}`}
          panel={editor.panel}
          index={editor.index}
          isNew={editor.isNew}
          errors={Object.fromEntries(panelErrors(editor.index))}
          variables={draft.variables.map((v) => v.name)}
          onCancel={() => setEditor(null)}
          onDelete={
            editor.isNew
              ? undefined
              : () => {
                  removePanel(editor.panel.id);
                  setEditor(null);
                }
          }
          onApply={(panel) => {
            setDraft((d) => {
              if (!d) return d;
              const panels = editor.isNew ? [...d.panels, panel] : d.panels.map((p, i) => (i === editor.index ? panel : p));
              // A changed size or place pushes the panels it now covers down.
              return { ...d, panels: placePanel(panels, panel.id, panel.grid) };
            });
            setErrors((all) => Object.fromEntries(Object.entries(all).filter(([f]) => !f.startsWith(`panels[${editor.index}]`))));
            setEditor(null);
          }}
        />
      )}
      {varsOpen && draft && (
        <VariablesEditor
          variables={draft.variables}
          errors={Object.fromEntries(Object.entries(errors).filter(([f]) => f.startsWith('variables')))}
          onCancel={() => setVarsOpen(false)}
          onApply={(next: Variable[]) => {
            patch({ variables: next });
            setErrors((all) => Object.fromEntries(Object.entries(all).filter(([f]) => !f.startsWith('variables'))));
            setVarsOpen(false);
          }}
        />
      )}
      {confirmDelete && (
        <Dialog title={`Delete the dashboard “${dashboard.title}”?`} onClose={() => setConfirmDelete(false)} testid="confirm-dialog">
          <p class="muted">Its panels and variables go with it. This cannot be undone.</p>
          <div class="dialog-actions">
            <button type="button" class="btn" onClick={() => setConfirmDelete(false)}>
              Cancel
            </button>
            <button type="button" class="btn btn-danger" data-testid="confirm" disabled={saving} onClick={remove}>
              Delete dashboard
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}

const LOOKBACKS = PRESETS.map(([value, label]) => [value, label] as [string, string]);

function EditBar({
  draft,
  builtin,
  isNew,
  errors,
  saving,
  onChange,
  onAddPanel,
  onVariables,
  onSave,
  onSaveCopy,
  onCancel,
  onDelete,
}: {
  draft: Dashboard;
  builtin: boolean;
  isNew: boolean;
  errors: FieldErrors;
  saving: boolean;
  onChange: (change: Partial<Dashboard>, ...fields: string[]) => void;
  onAddPanel: () => void;
  onVariables: () => void;
  onSave: () => void;
  onSaveCopy: () => void;
  onCancel: () => void;
  onDelete: () => void;
}) {
  const error = (...fields: string[]) => {
    const field = fields.find((f) => errors[f]);
    return field ? (
      <div class="field-error" id={`${fieldId(field)}-error`} data-error-for={field} role="alert">
        {errors[field]}
      </div>
    ) : null;
  };
  const invalid = (...fields: string[]) => (fields.some((f) => errors[f]) ? ('true' as const) : undefined);
  const lookback = draft.time?.lookback ?? '6h';
  const refresh = refreshOf(draft.refresh) || 'off';
  return (
    <section class="card edit-bar" aria-label="Dashboard settings" data-testid="edit-bar">
      <div class="form-grid">
        <div class="field field-span-2">
          <label for={fieldId('title')}>Title</label>
          <input id={fieldId('title')} data-field="title" type="text" value={draft.title} aria-invalid={invalid('title')} onInput={(e) => onChange({ title: (e.target as HTMLInputElement).value }, 'title')} />
          {error('title')}
        </div>
        <div class="field field-span-2">
          <label for={fieldId('description')}>Description</label>
          <input
            id={fieldId('description')}
            data-field="description"
            type="text"
            value={draft.description}
            aria-invalid={invalid('description')}
            onInput={(e) => onChange({ description: (e.target as HTMLInputElement).value }, 'description')}
          />
          {error('description')}
        </div>
        <div class="field">
          <label for={fieldId('time.lookback')}>Default time range</label>
          <select
            id={fieldId('time.lookback')}
            data-field="time.lookback"
            value={lookback}
            aria-invalid={invalid('time', 'time.lookback')}
            onChange={(e) => onChange({ time: { lookback: (e.target as HTMLSelectElement).value } }, 'time', 'time.lookback')}
          >
            {LOOKBACKS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
            {!LOOKBACKS.some(([value]) => value === lookback) && <option value={lookback}>Last {lookback}</option>}
          </select>
          {error('time', 'time.lookback', 'time.start', 'time.end')}
        </div>
        <div class="field">
          <label for={fieldId('refresh')}>Default refresh</label>
          <select id={fieldId('refresh')} data-field="refresh" value={refresh} aria-invalid={invalid('refresh')} onChange={(e) => onChange({ refresh: (e.target as HTMLSelectElement).value }, 'refresh')}>
            {DASHBOARD_REFRESHES.map((value) => (
              <option key={value} value={value}>
                {value === 'off' ? 'off' : `every ${value}`}
              </option>
            ))}
            {!DASHBOARD_REFRESHES.includes(refresh) && <option value={refresh}>every {refresh}</option>}
          </select>
          {error('refresh')}
        </div>
      </div>
      <div class="toolbar edit-actions">
        <button type="button" class="btn" data-testid="add-panel" onClick={onAddPanel}>
          Add panel
        </button>
        <button type="button" class="btn" data-testid="edit-variables" onClick={onVariables}>
          Variables{draft.variables.length ? ` (${draft.variables.length})` : ''}…
        </button>
        <span class="muted small edit-hint">Drag a panel by its title to move it, by its corner to resize it.</span>
        <span class="push-right" />
        {!builtin && (
          <button type="button" class="btn btn-primary" data-testid="save-dashboard" disabled={saving} onClick={onSave}>
            {saving ? 'Saving…' : isNew ? 'Create dashboard' : 'Save'}
          </button>
        )}
        {!isNew && (
          <button type="button" class={`btn${builtin ? ' btn-primary' : ''}`} data-testid="save-copy" disabled={saving} onClick={onSaveCopy}>
            Save as copy
          </button>
        )}
        <button type="button" class="btn" data-testid="cancel-edit" onClick={onCancel}>
          Cancel
        </button>
        {!isNew && !builtin && (
          <button type="button" class="btn btn-ghost danger-text" data-testid="delete-dashboard" onClick={onDelete}>
            Delete
          </button>
        )}
      </div>
    </section>
  );
}

// ---------------------------------------------------------------------------
// Variables

function VariableBar({
  definitions,
  states,
  selected,
  error,
  onChange,
}: {
  definitions: Variable[];
  states: VariableState[] | undefined;
  selected: Record<string, string[]>;
  error: Error | undefined;
  onChange: (name: string, values: string[]) => void;
}) {
  return (
    <div class="variable-bar" role="group" aria-label="Variables" data-testid="variables">
      {definitions.map((definition) => {
        const state = states?.find((s) => s.name === definition.name);
        const values = state?.values ?? definition.values ?? [];
        const current = selected[definition.name] ?? state?.current ?? [];
        const id = `var-${definition.name}`;
        return (
          <div class="field variable" key={definition.name}>
            <label for={id}>{definition.label || definition.name}</label>
            {definition.multi ? (
              <MultiSelect id={id} name={definition.name} values={values} current={current} includeAll={definition.include_all} onChange={(next) => onChange(definition.name, next)} />
            ) : (
              <select id={id} data-variable={definition.name} value={current[0] ?? ''} onChange={(e) => onChange(definition.name, [(e.target as HTMLSelectElement).value])}>
                {!state && current.length === 0 && <option value="">…</option>}
                {definition.include_all && <option value={ALL}>All</option>}
                {values.map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
                {current[0] && current[0] !== ALL && !values.includes(current[0]) && <option value={current[0]}>{current[0]}</option>}
              </select>
            )}
          </div>
        );
      })}
      {error && <span class="field-error">Could not load the variables' values: {error.message}</span>}
    </div>
  );
}

function MultiSelect({ id, name, values, current, includeAll, onChange }: { id: string; name: string; values: string[]; current: string[]; includeAll: boolean; onChange: (values: string[]) => void }) {
  const [open, setOpen] = useState(false);
  const [picked, setPicked] = useState<string[]>(current);
  const box = useRef<HTMLDivElement>(null);
  const currentKey = current.join('\n');
  useEffect(() => setPicked(current), [currentKey]);
  const pickedRef = useRef(picked);
  pickedRef.current = picked;
  const close = (apply: boolean) => {
    setOpen(false);
    const next = pickedRef.current;
    if (apply && next.join('\n') !== currentKey && next.length > 0) onChange(next);
    else setPicked(current);
  };
  const closeRef = useRef(close);
  closeRef.current = close;
  useEffect(() => {
    if (!open) return;
    const away = (event: Event) => !box.current?.contains(event.target as Node) && closeRef.current(true);
    const key = (event: KeyboardEvent) => event.key === 'Escape' && closeRef.current(false);
    document.addEventListener('pointerdown', away);
    document.addEventListener('keydown', key);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', key);
    };
  }, [open]);
  const all = picked.includes(ALL);
  const text = current.includes(ALL) ? 'All' : current.length === 0 ? 'none' : current.join(', ');
  const toggle = (value: string) => {
    if (value === ALL) setPicked(all ? [] : [ALL]);
    else setPicked((p) => (p.includes(value) ? p.filter((v) => v !== value) : [...p.filter((v) => v !== ALL), value]));
  };
  return (
    <div class="multi-select" ref={box} data-variable={name}>
      <button type="button" id={id} class="multi-button" aria-haspopup="true" aria-expanded={open ? 'true' : 'false'} title={text} onClick={() => (open ? close(true) : setOpen(true))}>
        <span class="multi-text">{text}</span>
        <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div class="multi-menu" role="group" aria-label={`Values of ${name}`}>
          {includeAll && (
            <label class="check-label">
              <input type="checkbox" data-value={ALL} checked={all} onChange={() => toggle(ALL)} /> All
            </label>
          )}
          {values.map((value) => (
            <label class="check-label" key={value}>
              <input type="checkbox" data-value={value} checked={!all && picked.includes(value)} onChange={() => toggle(value)} /> {value}
            </label>
          ))}
          {values.length === 0 && <span class="muted small">no values</span>}
          <div class="multi-actions">
            <button type="button" class="btn btn-small btn-primary" data-testid="apply-variable" disabled={picked.length === 0} onClick={() => close(true)}>
              Apply
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------
// A panel

function useSize<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const measure = () => setSize((s) => (s.width === element.clientWidth && s.height === element.clientHeight ? s : { width: element.clientWidth, height: element.clientHeight }));
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    measure();
    return () => observer.disconnect();
  }, []);
  return { ref, ...size };
}

interface Link {
  label: string;
  href: string;
}

/** Where a panel's queries can be looked at further: the explorer for
 * PromQL, the Logs page, the trace search or a service's page. */
function panelLinks(panel: Panel, data: PanelData | undefined, current: Record<string, string[]>, range: TimeRange): Link[] {
  const links: Link[] = [];
  const promql: string[] = [];
  panel.queries.forEach((query, i) => {
    const answered = data?.queries[i]?.query;
    const kind = queryKind(query);
    if (kind === 'promql' && 'promql' in query) promql.push(answered ?? substitute(query.promql, current, '.*'));
    if (kind === 'logs' && 'logs' in query) links.push({ label: 'Open in Logs', href: href('/logs', { q: answered ?? substitute(query.logs, current), ...rangeUrl(range, '1h') }) });
    if (kind === 'traces' && 'traces' in query) {
      const t = query.traces;
      links.push({
        label: 'Open in Traces',
        href: href('/traces', {
          service: t.service ? substitute(t.service, current) : undefined,
          operation: t.operation ? substitute(t.operation, current) : undefined,
          status: t.status || undefined,
          min_duration_ms: t.min_duration_ms ?? undefined,
          ...rangeUrl(range, '1h'),
        }),
      });
    }
    if (kind === 'red' && 'red' in query) {
      const service = substitute(query.red.service, current);
      if (service) links.push({ label: `Open ${service} in Services`, href: href(`/services/${encodeURIComponent(service)}`, rangeUrl(range, '1h')) });
    }
  });
  if (promql.length) links.unshift({ label: 'Open in Metrics', href: exploreUrl({ queries: promql, range }) });
  const seen = new Set<string>();
  return links.filter((l) => !seen.has(l.href) && (seen.add(l.href), true));
}

function PanelMenu({ links, onView, onEdit }: { links: Link[]; onView?: () => void; onEdit?: () => void }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (event: Event) => !box.current?.contains(event.target as Node) && setOpen(false);
    const key = (event: KeyboardEvent) => event.key === 'Escape' && setOpen(false);
    document.addEventListener('pointerdown', away);
    document.addEventListener('keydown', key);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', key);
    };
  }, [open]);
  return (
    <div class="panel-menu-wrap" ref={box}>
      <button type="button" class="btn btn-ghost btn-small panel-menu-button" aria-label="Panel menu" aria-haspopup="menu" aria-expanded={open ? 'true' : 'false'} data-testid="panel-menu" onClick={() => setOpen(!open)}>
        ⋯
      </button>
      {open && (
        <div class="panel-menu" role="menu">
          {onView && (
            <button type="button" role="menuitem" data-testid="panel-view" onClick={() => (setOpen(false), onView())}>
              View full screen
            </button>
          )}
          {links.map((link) => (
            <a key={link.href} role="menuitem" href={link.href} data-testid="panel-link" onClick={() => setOpen(false)}>
              {link.label}
            </a>
          ))}
          {onEdit && (
            <button type="button" role="menuitem" data-testid="panel-edit" onClick={() => (setOpen(false), onEdit())}>
              Edit
            </button>
          )}
        </div>
      )}
    </div>
  );
}

function PanelFrame({
  dashboardId,
  panel,
  fetchable,
  params,
  vars,
  current,
  range,
  version,
  editing,
  stacked,
  dragging,
  problems,
  full,
  onView,
  onEdit,
  onRemove,
  onDragStart,
}: {
  dashboardId: string;
  panel: Panel;
  fetchable: boolean;
  params: Record<string, string>;
  vars: Record<string, string[]>;
  current: Record<string, string[]>;
  range: TimeRange;
  version: number;
  editing: boolean;
  stacked: boolean;
  dragging: boolean;
  problems: [string, string][];
  full?: boolean;
  onView?: () => void;
  onEdit?: () => void;
  onRemove?: () => void;
  onDragStart?: (mode: 'move' | 'resize', event: PointerEvent) => void;
}) {
  const needsData = panel.type !== 'text';
  const data = useResource(
    needsData && fetchable ? (signal) => panelData(dashboardId, panel.id, { ...params, ...varParams(vars) }, signal) : null,
    [dashboardId, panel.id, params.start, params.end, JSON.stringify(vars), version, fetchable, needsData],
  );
  const body = useSize<HTMLDivElement>();
  const grid = panel.grid;
  const height = grid.h * ROW_HEIGHT + (grid.h - 1) * GAP;
  const style = full
    ? undefined
    : stacked
      ? { height: `${Math.max(height, 160)}px` }
      : { gridColumn: `${grid.x + 1} / span ${grid.w}`, gridRow: `${grid.y + 1} / span ${grid.h}` };
  const state = !needsData ? 'ready' : !fetchable ? 'unsaved' : data.error && !data.data ? 'error' : data.loading ? 'loading' : data.data ? 'ready' : 'loading';
  const failures = data.data?.errors ?? [];
  const links = panelLinks(panel, data.data, current, range);
  let content: ComponentChildren;
  if (needsData && !fetchable) {
    content = <div class="panel-empty muted">{editing ? 'Changed: save the dashboard to see its data.' : 'No data.'}</div>;
  } else if (data.error && !data.data) {
    content = <ErrorBox error={data.error} title="Could not load the panel's data" onRetry={data.reload} />;
  } else if (needsData && !data.data) {
    content = <Loading label="Loading…" />;
  } else {
    content = body.width > 0 ? <PanelContent panel={panel} data={data.data} width={body.width} height={body.height} /> : null;
  }
  const header = (
    <div
      class="panel-head"
      onPointerDown={editing && onDragStart && !stacked ? (e) => !(e.target as Element).closest('button, a, input, select') && onDragStart('move', e as PointerEvent) : undefined}
    >
      <h3 class="panel-title" title={panel.description || panel.title}>
        {panel.title || <span class="muted">untitled</span>}
      </h3>
      {data.loading && needsData && fetchable && <span class="spinner small" aria-label="loading" />}
      <span class="panel-tools">
        {editing && onEdit && (
          <button type="button" class="btn btn-ghost btn-small" data-testid="panel-edit-button" aria-label={`Edit panel ${panel.title}`} onClick={onEdit}>
            Edit
          </button>
        )}
        {editing && onRemove && (
          <button type="button" class="btn btn-ghost btn-small danger-text" data-testid="panel-remove" aria-label={`Remove panel ${panel.title}`} onClick={onRemove}>
            ✕
          </button>
        )}
        {!editing && !full && <PanelMenu links={links} onView={onView} onEdit={onEdit} />}
        {full && links.map((link) => (
          <a key={link.href} class="btn btn-small" href={link.href}>
            {link.label}
          </a>
        ))}
      </span>
    </div>
  );
  return (
    <section
      class={`panel panel-type-${panel.type}${editing ? ' editable' : ''}${dragging ? ' dragging' : ''}${problems.length ? ' invalid' : ''}${full ? ' full' : ''}`}
      style={style}
      aria-label={panel.title || 'panel'}
      data-panel-id={panel.id}
      data-panel-type={panel.type}
      data-state={state}
      data-grid={`${grid.x},${grid.y},${grid.w},${grid.h}`}
    >
      {header}
      {problems.map(([field, message]) => (
        <div class="field-error panel-problem" key={field} data-error-for={field} role="alert">
          <code>{field.replace(/^panels\[\d+\]\.?/, '') || 'panel'}</code>: {message}
        </div>
      ))}
      <div class="panel-body" ref={body.ref}>
        {content}
      </div>
      {failures.length > 0 && (
        <ul class="panel-errors" data-testid="panel-errors">
          {failures.map((failure, i) => (
            <li key={i} title={failure.message}>
              query {failure.query + 1}: {failure.message}
            </li>
          ))}
        </ul>
      )}
      {editing && onDragStart && !stacked && (
        <span class="resize-handle" data-testid="resize-handle" aria-hidden="true" onPointerDown={(e) => (e.stopPropagation(), onDragStart('resize', e as PointerEvent))} />
      )}
    </section>
  );
}

function FullScreen({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const key = (event: KeyboardEvent) => event.key === 'Escape' && closeRef.current();
    document.addEventListener('keydown', key);
    return () => document.removeEventListener('keydown', key);
  }, []);
  return (
    <div class="overlay full-screen" role="dialog" aria-modal="true" aria-label={title} data-testid="panel-full-screen" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class="full-screen-box">
        <button type="button" class="btn btn-small full-screen-close" aria-label="Close full screen" onClick={onClose}>
          ✕ Close
        </button>
        {children}
      </div>
    </div>
  );
}
