// Audit: who changed what and when (docs/API.md, "Auth and audit"):
// logins, keys, alert rules, dashboards, error groups, retention. Newest
// first, filtered by action (exact, or a prefix ending in "."), outcome,
// actor and time, all in the URL; "Load more" follows the cursor.
import { useEffect, useState } from 'preact/hooks';
import { formatCount, plural } from '../lib/format';
import { rangeParams } from '../lib/range';
import { href, navigate } from '../lib/router';
import { refreshSearch, searchAnchor, usePagedSearch } from '../lib/search';
import { AUDIT_ACTIONS, AUDIT_LOOKBACKS, auditFilters, detailsText, listAudit, type AuditEvent, type AuditFilters } from '../lib/security';
import { ErrorBox, Loading, Time } from '../components/common';

const PAGE_SIZE = 100;

const auditUrl = (filters: AuditFilters) => href('/audit', { ...filters });

/** Actors every server has; the ones seen on the page are offered too. */
const KNOWN_ACTORS = ['admin (token)', 'admin (password)', 'anonymous', 'lookout'];

function FilterForm({ applied, actors, loading }: { applied: AuditFilters; actors: string[]; loading: boolean }) {
  const [actor, setActor] = useState(applied.actor);
  useEffect(() => setActor(applied.actor), [applied.actor]);
  const go = (patch: Partial<AuditFilters>) => navigate(auditUrl({ ...applied, actor, ...patch }));
  const actions = AUDIT_ACTIONS.some(([value]) => value === applied.action) ? AUDIT_ACTIONS : [...AUDIT_ACTIONS, [applied.action, applied.action] as [string, string]];
  const lookbacks = AUDIT_LOOKBACKS.some(([value]) => value === applied.lookback) ? AUDIT_LOOKBACKS : [...AUDIT_LOOKBACKS, [applied.lookback, `Last ${applied.lookback}`] as [string, string]];
  return (
    <form
      class="filters"
      aria-label="Audit filters"
      onSubmit={(event) => {
        event.preventDefault();
        go({ actor: actor.trim() });
      }}
    >
      <div class="field">
        <label for="audit-action">Action</label>
        <select id="audit-action" value={applied.action} onChange={(e) => go({ action: (e.target as HTMLSelectElement).value })}>
          {actions.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <span class="field-label" id="audit-outcome-label">
          Outcome
        </span>
        <div class="segmented" role="group" aria-labelledby="audit-outcome-label">
          {(
            [
              ['', 'All'],
              ['ok', 'OK'],
              ['failed', 'Failed'],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              class={`btn btn-small${applied.outcome === value ? ' on' : ''}`}
              aria-pressed={applied.outcome === value ? 'true' : 'false'}
              data-outcome-filter={value || 'all'}
              onClick={() => go({ outcome: value })}
            >
              {label}
            </button>
          ))}
        </div>
      </div>
      <div class="field">
        <label for="audit-actor">Actor</label>
        <input
          id="audit-actor"
          type="text"
          list="audit-actors"
          value={actor}
          placeholder="anyone"
          autoComplete="off"
          data-search-focus
          onInput={(e) => setActor((e.target as HTMLInputElement).value)}
          onChange={(e) => go({ actor: (e.target as HTMLInputElement).value.trim() })}
        />
        <datalist id="audit-actors">
          {actors.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
      </div>
      <div class="field audit-time">
        <label for="audit-lookback">Time</label>
        <select id="audit-lookback" value={applied.lookback} onChange={(e) => go({ lookback: (e.target as HTMLSelectElement).value })}>
          {lookbacks.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div class="field field-actions">
        <button type="button" class="btn" data-testid="refresh" aria-busy={loading ? 'true' : undefined} onClick={refreshSearch} title="Ask again for the newest events">
          <span class={loading ? 'refresh-icon spinning' : 'refresh-icon'} aria-hidden="true">
            ⟳
          </span>
          Refresh
        </button>
        <a class="btn btn-ghost" href="/audit">
          Reset
        </a>
      </div>
    </form>
  );
}

export function AuditPage({ query }: { query: URLSearchParams }) {
  const filters = auditFilters(query);
  const anchor = searchAnchor();
  const key = `${auditUrl(filters)}@${anchor}`;
  const search = usePagedSearch<AuditEvent>(key, async (cursor, signal) => {
    const page = await listAudit(
      {
        action: filters.action,
        outcome: filters.outcome,
        actor: filters.actor,
        ...(filters.lookback ? rangeParams({ lookback: filters.lookback }, anchor) : {}),
        limit: filters.limit || PAGE_SIZE,
        cursor,
      },
      signal,
    );
    return { items: page.events, next_cursor: page.next_cursor };
  });
  const events = search.items;
  const actors = [...new Set([...KNOWN_ACTORS, ...events.map((e) => e.actor)])].sort();
  const settled = search.current || search.error;
  const filtered = filters.action || filters.outcome || filters.actor || filters.lookback;

  return (
    <div class="page audit-page">
      <div class="page-head">
        <h1>Audit log</h1>
        <span class="muted small">every change and login, with who made it and from where; passwords, tokens and keys never appear</span>
      </div>
      <FilterForm applied={filters} actors={actors} loading={search.loading} />
      {search.error ? (
        <ErrorBox error={search.error} title="Could not load the audit log" onRetry={search.retry} />
      ) : !settled && events.length === 0 ? (
        <Loading label="Loading the audit log…" />
      ) : events.length === 0 ? (
        <div class="empty-state" data-testid="audit-empty">
          <h2>{filtered ? 'No events match these filters' : 'Nothing audited yet'}</h2>
          <p>
            lookout writes an event for each login and logout, password change, API key created or revoked, alert rule, alert and notification change,
            dashboard change, error group status change and retention pass that deleted data, in the same transaction as the change.
          </p>
        </div>
      ) : (
        <section class="card" aria-label="Audit events" data-testid="audit-events">
          <div class="card-head">
            <h2 data-testid="audit-count">
              {search.cursor ? `${formatCount(events.length)}+ events` : plural(events.length, 'event')} {search.loading && <span class="spinner small" aria-label="refreshing" />}
            </h2>
            <span class="muted small">newest first</span>
          </div>
          <div class="table-scroll">
            <table class="red-table audit-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Remote address</th>
                  <th>Outcome</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {events.map((event) => (
                  <AuditRow key={event.id} event={event} filters={filters} />
                ))}
              </tbody>
            </table>
          </div>
          {search.moreError && <ErrorBox error={search.moreError} title="Could not load more events" onRetry={search.loadMore} />}
          {search.cursor && (
            <div class="load-more">
              <button type="button" class="btn" data-testid="audit-more" onClick={search.loadMore} disabled={search.loadingMore}>
                {search.loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </div>
          )}
        </section>
      )}
    </div>
  );
}

function AuditRow({ event, filters }: { event: AuditEvent; filters: AuditFilters }) {
  const details = detailsText(event.details);
  return (
    <tr data-audit-id={event.id} data-action={event.action} data-outcome={event.outcome} data-actor={event.actor}>
      <td class="small" data-col="time">
        <Time iso={event.time} millis={false} />
      </td>
      <td data-col="actor">
        <a href={auditUrl({ ...filters, actor: event.actor })} title={`Only events by ${event.actor}`}>
          {event.actor}
        </a>
      </td>
      <td data-col="action">
        <a href={auditUrl({ ...filters, action: event.action })} title={`Only ${event.action} events`}>
          <code>{event.action}</code>
        </a>
      </td>
      <td class="audit-target" data-col="target">
        {event.target ?? <span class="muted">—</span>}
      </td>
      <td class="small" data-col="remote">
        {event.remote_addr ?? <span class="muted">—</span>}
      </td>
      <td data-col="outcome">
        <span class={`pill pill-${event.outcome === 'ok' ? 'ok' : 'bad'}`} data-testid="audit-outcome">
          {event.outcome}
        </span>
      </td>
      <td class="audit-details" data-col="details" title={details ? JSON.stringify(event.details, null, 2) : undefined}>
        {details ? <code>{details}</code> : <span class="muted">—</span>}
      </td>
    </tr>
  );
}
