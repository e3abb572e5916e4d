// Services: one row per service with entry spans (server and consumer) in
// the range, its request rate, error rate and latency percentiles from
// the span rollups, and a sparkline of its requests over the range.
import { getJson, useResource, type SummaryGroup } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { plural } from '../lib/format';
import { mergeKinds, redSeries, stepFor, type RedRow } from '../lib/metrics';
import { exploreMetricUrl } from '../lib/promql';
import { rangeFromQuery, rangeParams, rangeQuery, refreshMs, resolveRange, type TimeRange } from '../lib/range';
import { href, navigate } from '../lib/router';
import { searchAnchor, useAutoRefresh } from '../lib/search';
import { ErrorBox, Loading } from '../components/common';
import { parseSort, redColumns, RedTable, sortText, type Column, type Sort } from '../components/RedTable';
import { RangeControls } from '../components/RangeControls';
import { Sparkline } from '../components/Sparkline';

/** Sparkline resolution: 30 to 60 points for ranges of an hour or more. */
const SPARK_POINTS = 60;
const DEFAULT_SORT: Sort = { key: 'service', descending: false };

interface State {
  range: TimeRange;
  refresh: string;
  sort: string;
}

function stateUrl(state: State): string {
  return href('/services', { ...rangeQuery(state.range), refresh: state.refresh, sort: state.sort });
}

function ServiceSparkline({ service, start, end }: { service: string; start: number; end: number }) {
  const series = useResource(
    (signal) => redSeries({ service, start: String(start), end: String(end), step: stepFor(start, end, SPARK_POINTS) }, signal),
    [service, start, end],
  );
  if (series.error) return <span class="muted small" title={series.error.message}>unavailable</span>;
  if (!series.data) return <span class="spark-placeholder" aria-hidden="true" />;
  return <Sparkline series={series.data} />;
}

export function ServicesPage({ query }: { query: URLSearchParams }) {
  const state: State = { range: rangeFromQuery(query), refresh: query.get('refresh') ?? '', sort: query.get('sort') ?? '' };
  const anchor = searchAnchor();
  const params = rangeParams(state.range, anchor);
  const [start, end] = resolveRange(state.range, anchor).map(Math.round);
  const summary = useResource(
    (signal) => getJson<{ groups: SummaryGroup[] }>('/api/metrics/summary', { group_by: 'service', ...params }, signal),
    [params.start, params.end],
  );
  useAutoRefresh(refreshMs(state.refresh));
  const rows: RedRow[] = summary.data ? [...mergeKinds(summary.data.groups).values()] : [];

  const columns: Column<RedRow>[] = [
    {
      key: 'service',
      label: 'Service',
      value: (row) => row.service,
      render: (row) => (
        <span class="service-name">
          <span class="swatch" style={{ background: serviceColor(row.service) }} aria-hidden="true" />
          {row.service}
        </span>
      ),
    },
    ...redColumns<RedRow>((row) =>
      row.kinds.length > 1 ? `The larger of the ${row.kinds.join(' and ')} spans' percentiles (an upper bound)` : undefined,
    ),
    {
      key: 'trend',
      label: 'Requests and errors',
      render: (row) => <ServiceSparkline service={row.service} start={start} end={end} />,
    },
  ];

  return (
    <div class="page">
      <div class="page-head">
        <h1>Services</h1>
        <div class="toolbar">
          <a class="btn btn-small" href={exploreMetricUrl('traces_span_metrics_calls_total', 'counter', '', state.range)} data-testid="explore-services">
            Explore span metrics
          </a>
          <a class="btn btn-small" href={href('/map', rangeQuery(state.range))} data-testid="open-map">
            Service map
          </a>
        </div>
      </div>
      <RangeControls
        range={state.range}
        refresh={state.refresh}
        loading={summary.loading}
        onRange={(range) => navigate(stateUrl({ ...state, range }))}
        onRefresh={(refresh) => navigate(stateUrl({ ...state, refresh }), { replace: true })}
      />
      {summary.error ? (
        <ErrorBox error={summary.error} title="Could not load service metrics" onRetry={summary.reload} />
      ) : !summary.data ? (
        <Loading label="Loading services…" />
      ) : rows.length === 0 ? (
        <div class="empty-inline" role="status">
          No service received server or consumer spans in this time range.
        </div>
      ) : (
        <section class="card" aria-label="Services">
          <div class="card-head">
            <h2 data-testid="service-count">{plural(rows.length, 'service')}</h2>
            <span class="muted small">entry spans (server and consumer) in the range</span>
          </div>
          <RedTable
            label="Services"
            rows={rows}
            columns={columns}
            sort={parseSort(state.sort, DEFAULT_SORT)}
            onSort={(sort) => navigate(stateUrl({ ...state, sort: sortText(sort) }), { replace: true })}
            rowKey={(row) => row.service}
            rowLink={(row) => href(`/services/${encodeURIComponent(row.service)}`, rangeQuery(state.range))}
          />
        </section>
      )}
    </div>
  );
}
