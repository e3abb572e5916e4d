// The shell: the login gate, navigation, theme switch and the routes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { navigate, useLocation } from './lib/router';
import { setTheme, setZone, takeSessionStale, useAppState, type Session, type Theme } from './lib/store';
import { loadSession, logout } from './lib/session';
import { LoginPage } from './components/Login';
import { zoneLabel } from './lib/format';
import { TracesPage } from './pages/Traces';
import { TracePage } from './pages/Trace';
import { LogsPage } from './pages/Logs';
import { SystemPage } from './pages/System';
import { ServicesPage } from './pages/Services';
import { ServicePage } from './pages/Service';
import { VERSION } from './lib/version';
import { useFiringCount } from './lib/alertCount';
import { ErrorBox, Loading } from './components/common';
import type { ComponentType } from 'preact';

/** A page whose module is a chunk of its own, loaded when first opened:
 * the service map brings a graph layout library, the metrics explorer,
 * errors, dashboards and alerts are only needed by those who open them. */
function lazyPage<M, P extends object>(load: () => Promise<M>, pick: (module: M) => ComponentType<P>, what: string) {
  let loading: Promise<M> | null = null;
  return function LazyPage(props: P) {
    const [loaded, setLoaded] = useState<{ module: M } | null>(null);
    const [error, setError] = useState<Error | null>(null);
    useEffect(() => {
      (loading ??= load()).then(
        (module) => setLoaded({ module }),
        (e: Error) => {
          loading = null;
          setError(e);
        },
      );
    }, []);
    if (error) return <div class="page"><ErrorBox error={error} title={`Could not load ${what}`} onRetry={() => location.reload()} /></div>;
    if (!loaded) return <div class="page"><Loading label={`Loading ${what}…`} /></div>;
    const Page = pick(loaded.module);
    return <Page {...props} />;
  };
}

const LazyServiceMap = lazyPage(() => import('./pages/ServiceMap'), (m) => m.ServiceMapPage, 'the service map');
const LazyExplore = lazyPage(() => import('./pages/Explore'), (m) => m.ExplorePage, 'the metrics explorer');
const LazyAlerts = lazyPage(() => import('./pages/Alerts'), (m) => m.AlertsPage, 'alerts');
const LazyErrors = lazyPage(() => import('./pages/Errors'), (m) => m.ErrorsPage, 'errors');
const LazyDashboards = lazyPage(() => import('./pages/Dashboards'), (m) => m.DashboardsPage, 'dashboards');
const LazyKeys = lazyPage(() => import('./pages/Keys'), (m) => m.KeysPage, 'API keys');
const LazyAudit = lazyPage(() => import('./pages/Audit'), (m) => m.AuditPage, 'the audit log');

const NAV = [
  { path: '/traces', label: 'Traces', key: 't' },
  { path: '/services', label: 'Services', key: 'v' },
  { path: '/map', label: 'Map', key: 'm' },
  { path: '/explore', label: 'Metrics', key: 'x' },
  { path: '/logs', label: 'Logs', key: 'l' },
  { path: '/errors', label: 'Errors', key: 'e' },
  { path: '/dashboards', label: 'Dashboards', key: 'd' },
  { path: '/alerts', label: 'Alerts', key: 'a' },
  { path: '/system', label: 'System', key: 's' },
  { path: '/keys', label: 'Keys', key: 'k', title: 'API keys' },
  { path: '/audit', label: 'Audit', key: 'u', title: 'Audit log' },
];

const THEMES: Theme[] = ['auto', 'light', 'dark'];
const THEME_LABEL: Record<Theme, string> = { auto: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' };

/** Every keyboard shortcut, by where it works. */
const SHORTCUTS: [string, [string, string][]][] = [
  [
    'Everywhere',
    [
      ['?', 'show or hide this list'],
      ['/', "focus the page's search field"],
      ['g t', 'go to Traces'],
      ['g v', 'go to Services'],
      ['g m', 'go to the service map'],
      ['g x', 'go to Metrics (the explorer)'],
      ['g l', 'go to Logs'],
      ['g e', 'go to Errors'],
      ['g d', 'go to Dashboards'],
      ['g a', 'go to Alerts'],
      ['g s', 'go to System'],
      ['g k', 'go to API keys'],
      ['g u', 'go to the audit log'],
      ['Esc', 'close a dialog or menu'],
    ],
  ],
  [
    'Trace view',
    [
      ['↑ ↓', 'previous / next span'],
      ['PgUp PgDn Home End', 'move by a page, to the first or last span'],
      ['← →', 'collapse / expand, or go to the parent'],
      ['Enter Space', 'collapse or expand the span'],
      ['e  E', 'next / previous error'],
      ['f', 'find in trace'],
      ['Enter  Shift+Enter', 'in find: next / previous match'],
      ['n  N', 'next / previous match'],
      ['c', 'show or hide the critical path'],
    ],
  ],
  [
    'Logs',
    [
      ['Tab', 'in the query: complete the field name'],
      ['↑ ↓ Enter', 'in the query: pick a suggestion or a recent query'],
    ],
  ],
];

function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    close.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="shortcuts-title" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="dialog shortcuts" data-testid="shortcuts">
        <div class="dialog-head">
          <h2 id="shortcuts-title">Keyboard shortcuts</h2>
          <button ref={close} type="button" class="btn btn-ghost btn-small" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </div>
        {SHORTCUTS.map(([group, keys]) => (
          <section key={group}>
            <h3>{group}</h3>
            <dl class="shortcut-list">
              {keys.map(([key, what]) => (
                <div key={key}>
                  <dt>
                    {key.split(/\s+/).map((k, i) => (
                      <kbd key={i}>{k}</kbd>
                    ))}
                  </dt>
                  <dd>{what}</dd>
                </div>
              ))}
            </dl>
          </section>
        ))}
      </div>
    </div>
  );
}

function Route({ path, query }: { path: string; query: URLSearchParams }) {
  // The router rewrites `/` to `/traces` before anything renders.
  if (path === '/' || path === '') return <TracesPage query={query} />;
  const trace = /^\/traces\/([^/]+)\/?$/.exec(path);
  if (trace) return <TracePage traceId={decodeURIComponent(trace[1])} query={query} />;
  if (path === '/traces' || path === '/traces/') return <TracesPage query={query} />;
  if (path === '/services' || path === '/services/') return <ServicesPage query={query} />;
  const service = /^\/services\/([^/]+)\/?$/.exec(path);
  if (service) return <ServicePage service={decodeURIComponent(service[1])} query={query} />;
  if (path === '/map' || path === '/map/') return <LazyServiceMap query={query} />;
  if (path === '/explore' || path === '/explore/') return <LazyExplore query={query} />;
  if (path === '/logs' || path === '/logs/') return <LogsPage query={query} />;
  if (path === '/alerts' || path === '/alerts/') return <LazyAlerts query={query} />;
  if (path === '/errors' || path === '/errors/') return <LazyErrors query={query} />;
  const errorGroup = /^\/errors\/([^/]+)\/?$/.exec(path);
  if (errorGroup) return <LazyErrors id={decodeURIComponent(errorGroup[1])} query={query} />;
  if (path === '/dashboards' || path === '/dashboards/') return <LazyDashboards query={query} />;
  const dashboard = /^\/dashboards\/([^/]+)\/?$/.exec(path);
  if (dashboard) return <LazyDashboards id={decodeURIComponent(dashboard[1])} query={query} />;
  if (path === '/system' || path === '/system/') return <SystemPage />;
  if (path === '/keys' || path === '/keys/') return <LazyKeys />;
  if (path === '/audit' || path === '/audit/') return <LazyAudit query={query} />;
  return (
    <div class="page">
      <div class="empty-state">
        <h2>Page not found</h2>
        <p>
          There is no page at <code>{path}</code>. Go to <a href="/traces">Traces</a>, <a href="/services">Services</a>, <a href="/explore">Metrics</a>, <a href="/logs">Logs</a>, <a href="/errors">Errors</a>, <a href="/dashboards">Dashboards</a>, <a href="/alerts">Alerts</a>, <a href="/system">System</a>, <a href="/keys">API keys</a> or{' '}
          <a href="/audit">Audit</a>.
        </p>
      </div>
    </div>
  );
}

/** Asks the server whether auth is on and this browser is logged in;
 * then the login page or the app. A 401 from any request later brings the
 * login page back (and the session is asked for again). */
export function App() {
  const { session, loginReason } = useAppState();
  const [error, setError] = useState<Error | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    setError(null);
    loadSession().catch((e: Error) => setError(e));
  }, [attempt]);
  useEffect(() => {
    if (takeSessionStale()) loadSession(loginReason).catch(() => undefined);
  });
  if (!session) {
    return (
      <main id="main" class="boot">
        {error ? <ErrorBox error={error} title="Could not reach lookout" onRetry={() => setAttempt((n) => n + 1)} /> : <Loading label="Loading…" />}
      </main>
    );
  }
  if (session.auth_required && !session.authenticated) return <LoginPage session={session} reason={loginReason} />;
  return <Shell session={session} />;
}

function LogoutButton() {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      class="btn btn-ghost btn-small logout"
      data-testid="logout"
      disabled={busy}
      title="Log out: end this browser's session"
      aria-label="Log out"
      onClick={async () => {
        setBusy(true);
        try {
          await logout();
        } catch {
          // The login page shows either way.
        }
      }}
    >
      <svg class="logout-icon" viewBox="0 0 16 16" width="15" height="15" aria-hidden="true">
        <path d="M6 2.5H3.5v11H6M10 4.5 13.5 8 10 11.5M13.5 8H6.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" />
      </svg>
      <span class="logout-text">Log out</span>
    </button>
  );
}

function Shell({ session }: { session: Session }) {
  const { path, query } = useLocation();
  const { theme, zone } = useAppState();
  const [help, setHelp] = useState(false);
  const firing = useFiringCount(path);

  useEffect(() => {
    const section = NAV.find((item) => path.startsWith(item.path));
    document.title = section ? `${section.title ?? section.label} · lookout` : 'lookout';
  }, [path]);

  // Keyboard: "/" focuses the page's search field, "g" then t/v/m/x/l/e/d/a/s/k/u switches page.
  useEffect(() => {
    let pendingG = 0;
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (target.closest('input, textarea, select, [contenteditable="true"]')) return;
      if (event.key === '?') {
        event.preventDefault();
        setHelp((open) => !open);
        return;
      }
      if (event.key === '/') {
        const search = document.querySelector<HTMLElement>('[data-search-focus]');
        if (search) {
          event.preventDefault();
          search.focus();
        }
        return;
      }
      if (event.key === 'g') {
        pendingG = Date.now();
        return;
      }
      if (Date.now() - pendingG < 1000) {
        const item = NAV.find((nav) => nav.key === event.key);
        if (item) navigate(item.path);
        pendingG = 0;
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/traces" aria-label="lookout home">
          <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
            <rect width="32" height="32" rx="7" class="brand-bg" />
            <circle cx="14" cy="14" r="7" fill="none" stroke="#fff" stroke-width="3" />
            <path d="M19 19l6 6" stroke="#fff" stroke-width="3" stroke-linecap="round" />
          </svg>
          <span class="brand-name">lookout</span>
        </a>
        <nav aria-label="Sections">
          {NAV.map((item) => (
            <a key={item.path} href={item.path} class="nav-link" aria-current={path.startsWith(item.path) ? 'page' : undefined} title={`${item.title ? `${item.title}: ` : ''}g then ${item.key}`}>
              {item.label}
              {item.path === '/alerts' && firing !== null && firing > 0 && (
                <span class="nav-badge" data-testid="firing-count" title={`${firing} ${firing === 1 ? 'alert' : 'alerts'} firing`}>
                  {firing}
                  <span class="visually-hidden"> firing</span>
                </span>
              )}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          <span class="version muted" title="lookout version">
            v{VERSION}
          </span>
          <button
            type="button"
            class="btn btn-ghost btn-small zone-toggle"
            data-testid="zone-toggle"
            aria-label={`Times in ${zoneLabel()}; switch to ${zone === 'utc' ? 'local time' : 'UTC'}`}
            title={`Times in ${zoneLabel()}: click for ${zone === 'utc' ? 'local time' : 'UTC'}`}
            onClick={() => setZone(zone === 'utc' ? 'local' : 'utc')}
          >
            <span class="zone-long">{zone === 'utc' ? 'UTC' : zoneLabel()}</span>
            <span class="zone-short" aria-hidden="true">
              {zone === 'utc' ? 'UTC' : 'local'}
            </span>
          </button>
          <button type="button" class="btn btn-ghost btn-small" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
            ?
          </button>
          <button
            type="button"
            class="btn btn-ghost theme-toggle"
            aria-label={THEME_LABEL[theme]}
            title={THEME_LABEL[theme]}
            onClick={() => setTheme(THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length])}
          >
            {theme === 'auto' ? '◐' : theme === 'light' ? '☀' : '☾'}
          </button>
          {session.via === 'session' && <LogoutButton />}
        </div>
      </header>
      <main id="main">
        <Route path={path} query={query} />
      </main>
      {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
    </>
  );
}
