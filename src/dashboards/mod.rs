//! Dashboards: the document (`model.rs`), its checks (`validate.rs`),
//! template variables (`variables.rs`), a panel's data through the read
//! side (`data.rs`), Grafana import (`grafana.rs`) and the built-in
//! dashboards computed from what lookout has seen.
//!
//! Saved dashboards are writer commands (`DashboardChange`); reads go
//! through `query::ReadSide`. Nothing here touches SQLite.

pub mod data;
pub mod grafana;
pub mod model;
pub mod validate;
pub mod variables;

use std::collections::HashMap;

use model::{
    Dashboard, Grid, Panel, PanelKind, PanelQuery, RedMetric, RedQuery, TimeSetting, TraceQuery,
    Variable, VariableKind,
};
use variables::{Bindings, Selection};

use crate::model::dashboard::StoredDashboard;
use crate::model::{format_rfc3339, FieldError};
use crate::query::{metrics::parse_selector, QueryError, ReadSide};

/// The id prefix of the built-in dashboard of a service.
pub const SERVICE_PREFIX: &str = "service:";
/// The id of the built-in dashboard of lookout itself.
pub const LOOKOUT_ID: &str = "lookout";

/// Whether `id` names a built-in dashboard (which cannot be changed).
pub fn is_builtin(id: &str) -> bool {
    id == LOOKOUT_ID || id.starts_with(SERVICE_PREFIX)
}

/// A saved dashboard's document with its id and times.
pub fn from_stored(stored: &StoredDashboard) -> Result<Dashboard, QueryError> {
    let mut dashboard: Dashboard = serde_json::from_str(&stored.body).map_err(|error| {
        QueryError::Store(crate::store::StoreError::Corrupt(format!(
            "dashboard {}: {error}",
            stored.id
        )))
    })?;
    dashboard.id = stored.id.clone();
    dashboard.builtin = false;
    dashboard.created_at = Some(format_rfc3339(stored.created_at));
    dashboard.updated_at = Some(format_rfc3339(stored.updated_at));
    Ok(dashboard)
}

/// The stored form of a checked dashboard (without id and times).
pub fn to_body(dashboard: &Dashboard) -> String {
    let mut body = dashboard.clone();
    body.id = String::new();
    body.created_at = None;
    body.updated_at = None;
    serde_json::to_string(&body).unwrap_or_default()
}

fn panel(
    title: &str,
    kind: PanelKind,
    grid: (u32, u32, u32, u32),
    unit: &str,
    queries: Vec<PanelQuery>,
) -> Panel {
    Panel {
        id: String::new(),
        title: title.into(),
        kind,
        grid: Grid {
            x: grid.0,
            y: grid.1,
            w: grid.2,
            h: grid.3,
        },
        unit: unit.into(),
        decimals: None,
        thresholds: Vec::new(),
        queries,
        options: serde_json::Map::new(),
    }
}

fn red(service: &str, metric: RedMetric) -> PanelQuery {
    PanelQuery {
        red: Some(RedQuery {
            service: service.into(),
            operation: None,
            metric,
        }),
        ..PanelQuery::default()
    }
}

fn promql(text: &str, legend: &str) -> PanelQuery {
    PanelQuery {
        promql: Some(text.into()),
        legend: Some(legend.into()).filter(|l: &String| !l.is_empty()),
        ..PanelQuery::default()
    }
}

/// A built-in dashboard: its panels numbered `p1`, `p2`, … in order, the
/// range and refresh given as (lookback, refresh).
fn builtin(
    id: String,
    title: String,
    description: String,
    (lookback, refresh): (&str, &str),
    mut panels: Vec<Panel>,
) -> Dashboard {
    for (index, panel) in panels.iter_mut().enumerate() {
        panel.id = format!("p{}", index + 1);
    }
    Dashboard {
        id,
        title,
        description,
        builtin: true,
        time: TimeSetting {
            lookback: lookback.into(),
        },
        refresh: refresh.into(),
        variables: Vec::new(),
        panels,
        created_at: None,
        updated_at: None,
    }
}

/// The built-in dashboard of one service, from its span metrics.
pub fn service_dashboard(service: &str) -> Dashboard {
    let quoted = service.replace('\\', "\\\\").replace('"', "\\\"");
    let log_service = if service
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        service.to_string()
    } else {
        format!("\"{quoted}\"")
    };
    let mut panels = vec![
        panel("Requests per second", PanelKind::Timeseries, (0, 0, 8, 8), "reqps", vec![red(service, RedMetric::RequestRate)]),
        panel("Error rate", PanelKind::Timeseries, (8, 0, 8, 8), "percentunit", vec![red(service, RedMetric::ErrorRate)]),
        panel(
            "Latency",
            PanelKind::Timeseries,
            (16, 0, 8, 8),
            "ms",
            vec![red(service, RedMetric::P50), red(service, RedMetric::P95), red(service, RedMetric::P99)],
        ),
        panel("Requests", PanelKind::Stat, (0, 8, 6, 4), "reqps", vec![red(service, RedMetric::RequestRate)]),
        panel("p95", PanelKind::Stat, (6, 8, 6, 4), "ms", vec![red(service, RedMetric::P95)]),
        panel(
            "Slowest operations (p95)",
            PanelKind::Table,
            (12, 8, 12, 8),
            "ms",
            vec![promql(
                &format!(
                    "topk(10, histogram_quantile(0.95, sum by (le, span_name) (rate(traces_span_metrics_duration_milliseconds_bucket{{service_name=\"{quoted}\"}}[5m]))))"
                ),
                "{{span_name}}",
            )],
        ),
        panel("Error logs", PanelKind::Logs, (0, 16, 12, 10), "", vec![PanelQuery {
            logs: Some(format!("service:{log_service} level:error")),
            ..PanelQuery::default()
        }]),
        panel("Failed traces", PanelKind::Traces, (12, 16, 12, 10), "", vec![PanelQuery {
            traces: Some(TraceQuery {
                service: Some(service.into()),
                status: Some("error".into()),
                ..TraceQuery::default()
            }),
            ..PanelQuery::default()
        }]),
    ];
    panels[1].thresholds = vec![model::Threshold {
        value: 0.05,
        color: "red".into(),
    }];
    builtin(
        format!("{SERVICE_PREFIX}{service}"),
        format!("Service {service}"),
        format!("Rate, errors and latency of {service} from its spans"),
        ("6h", "1m"),
        panels,
    )
}

/// lookout's own dashboard, over the series it records of itself
/// (`--self-metrics-interval`, `job="lookout"`).
pub fn lookout_dashboard() -> Dashboard {
    const SELF: &str = "{job=\"lookout\"}";
    let q = |text: &str| text.replace("{SELF}", SELF);
    let mut panels = vec![
        panel("Ingested per second", PanelKind::Timeseries, (0, 0, 12, 8), "ops", vec![
            promql(&q("sum(rate(lookout_ingested_spans_total{SELF}[$__rate_interval]))"), "spans"),
            promql(&q("sum(rate(lookout_ingested_logs_total{SELF}[$__rate_interval]))"), "log records"),
            promql(&q("sum(rate(lookout_ingested_metric_points_total{SELF}[$__rate_interval]))"), "metric points"),
        ]),
        panel("Rejected per second, by reason", PanelKind::Timeseries, (12, 0, 12, 8), "ops", vec![promql(
            &q("sum by (reason) (rate(lookout_ingest_rejected_total{SELF}[$__rate_interval]))"),
            "{{reason}}",
        )]),
        panel("Write queue", PanelKind::Timeseries, (0, 8, 8, 8), "short", vec![
            promql(&q("max(lookout_writer_queue_depth{SELF})"), "queued"),
            promql(&q("max(lookout_writer_queue_capacity{SELF})"), "capacity"),
        ]),
        panel("Group commit p99", PanelKind::Timeseries, (8, 8, 8, 8), "s", vec![promql(
            &q("histogram_quantile(0.99, sum by (le) (rate(lookout_writer_commit_seconds_bucket{SELF}[$__rate_interval])))"),
            "p99",
        )]),
        panel("Log indexer lag", PanelKind::Timeseries, (16, 8, 8, 8), "s", vec![promql(
            &q("max(lookout_log_index_lag_seconds{SELF})"),
            "seconds behind",
        )]),
        panel("Storage by store", PanelKind::Timeseries, (0, 16, 12, 8), "bytes", vec![promql(
            &q("max by (store) (lookout_storage_bytes{SELF})"),
            "{{store}}",
        )]),
        panel("Writer errors", PanelKind::Stat, (12, 16, 4, 4), "short", vec![promql(
            &q("sum(increase(lookout_writer_errors_total{SELF}[1h]))"),
            "",
        )]),
        panel("Threads up", PanelKind::Stat, (16, 16, 4, 4), "short", vec![promql(
            &q("sum(lookout_thread_up{SELF})"),
            "",
        )]),
        panel("Alerts firing", PanelKind::Stat, (20, 16, 4, 4), "short", vec![promql(
            &q("max(lookout_alerts_firing{SELF})"),
            "",
        )]),
        panel("Metric samples in memory", PanelKind::Stat, (12, 20, 12, 4), "short", vec![promql(
            &q("max(lookout_metric_head_samples{SELF})"),
            "",
        )]),
    ];
    panels[6].thresholds = vec![model::Threshold {
        value: 1.0,
        color: "red".into(),
    }];
    builtin(
        LOOKOUT_ID.into(),
        "lookout".into(),
        "lookout's own ingest, queue, indexing, storage and errors, from the series it records of itself".into(),
        ("1h", "30s"),
        panels,
    )
}

/// The built-in dashboards: lookout's own, then one per service seen in
/// spans.
pub fn builtin_dashboards(read: &ReadSide) -> Result<Vec<Dashboard>, QueryError> {
    Ok(std::iter::once(lookout_dashboard())
        .chain(
            read.services()?
                .iter()
                .map(|service| service_dashboard(&service.name)),
        )
        .collect())
}

/// The built-in dashboard with `id`, if there is one.
pub fn find_builtin(read: &ReadSide, id: &str) -> Result<Option<Dashboard>, QueryError> {
    if id == LOOKOUT_ID {
        return Ok(Some(lookout_dashboard()));
    }
    let Some(service) = id.strip_prefix(SERVICE_PREFIX) else {
        return Ok(None);
    };
    Ok(read
        .services()?
        .iter()
        .any(|known| known.name == service)
        .then(|| service_dashboard(service)))
}

/// A saved or built-in dashboard.
pub fn find(read: &ReadSide, id: &str) -> Result<Option<Dashboard>, QueryError> {
    if let Some(dashboard) = find_builtin(read, id)? {
        return Ok(Some(dashboard));
    }
    read.dashboard(id)?.as_ref().map(from_stored).transpose()
}

/// A Grafana dashboard converted and checked: a panel that does not pass
/// the checks is left out and listed with the reason.
pub fn import_grafana(source: &serde_json::Value) -> Result<grafana::Imported, FieldError> {
    let mut imported = grafana::import(source).map_err(|message| FieldError::new("", message))?;
    loop {
        let mut candidate = imported.dashboard.clone();
        match validate::check(&mut candidate) {
            Ok(()) => {
                imported.dashboard = candidate;
                return Ok(imported);
            }
            Err(error) => {
                let index = error
                    .field
                    .strip_prefix("panels[")
                    .and_then(|rest| rest.split_once(']'))
                    .and_then(|(index, _)| index.parse::<usize>().ok())
                    .filter(|index| *index < imported.dashboard.panels.len());
                let Some(index) = index else {
                    return Err(error);
                };
                let panel = imported.dashboard.panels.remove(index);
                imported
                    .unmapped
                    .push(format!("panel {:?}: {}", panel.title, error.message));
            }
        }
    }
}

/// The values a variable offers over [start_ms, end_ms].
pub fn variable_options(
    read: &ReadSide,
    variable: &Variable,
    (start_ms, end_ms): (i64, i64),
) -> Result<Vec<String>, QueryError> {
    match variable.kind {
        VariableKind::Custom => Ok(variable.values.clone()),
        VariableKind::Query => {
            let query = variable.query.as_deref().unwrap_or("");
            let wanted = variables::parse_label_values(query).map_err(QueryError::Invalid)?;
            let selector = wanted
                .selector
                .unwrap_or_else(|| "{__name__=~\".+\"}".to_string());
            let sets = parse_selector(&selector)?;
            let mut values: Vec<String> = read
                .metric_series(&sets, start_ms, end_ms)?
                .iter()
                .filter_map(|labels| labels.get(&wanted.label).map(str::to_string))
                .collect();
            values.sort();
            values.dedup();
            Ok(values)
        }
    }
}

/// A variable's name, the values it offers and those selected.
pub type ResolvedVariable = (String, Vec<String>, Vec<String>);

/// Each variable's options and selection, given the values a request
/// names (`var-NAME`).
pub fn resolve_variables(
    read: &ReadSide,
    dashboard: &Dashboard,
    requested: &HashMap<String, Vec<String>>,
    range_ms: (i64, i64),
) -> Result<Vec<ResolvedVariable>, QueryError> {
    dashboard
        .variables
        .iter()
        .map(|variable| {
            let options = variable_options(read, variable, range_ms)?;
            let current = variables::select(
                variable,
                requested.get(&variable.name).map(Vec::as_slice),
                &options,
            );
            Ok((variable.name.clone(), options, current))
        })
        .collect()
}

/// The substitutions of one panel-data request.
pub fn bindings(
    dashboard: &Dashboard,
    resolved: &[ResolvedVariable],
    step_seconds: i64,
    range_seconds: i64,
) -> Bindings {
    let mut bindings = Bindings {
        step_seconds,
        range_seconds,
        ..Bindings::default()
    };
    for (name, _, current) in resolved {
        let regex = dashboard
            .variables
            .iter()
            .find(|v| v.name == *name)
            .is_some_and(|v| v.multi || v.include_all);
        bindings.selections.insert(
            name.clone(),
            Selection {
                values: current.clone(),
                regex,
            },
        );
    }
    bindings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookout_dashboard_passes_its_own_checks() {
        let mut dashboard = lookout_dashboard();
        validate::check(&mut dashboard).expect("a valid dashboard");
    }

    #[test]
    fn a_service_dashboard_passes_its_own_checks() {
        let mut dashboard = service_dashboard("check\"out");
        validate::check(&mut dashboard).expect("a valid dashboard");
        assert_eq!(dashboard.panels.len(), 8);
    }

    #[test]
    fn the_grafana_fixture_imports_with_its_unmapped_parts_listed() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/grafana_dashboard.json"))
                .expect("JSON");
        let imported = import_grafana(&fixture).expect("imports");
        let kinds: Vec<PanelKind> = imported.dashboard.panels.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                PanelKind::Timeseries,
                PanelKind::Stat,
                PanelKind::Gauge,
                PanelKind::Pie,
                PanelKind::Table,
                PanelKind::Text,
                PanelKind::Logs
            ]
        );
        let unmapped = imported.unmapped.join("\n");
        for expected in [
            "heatmap",
            "interval variables",
            "LogQL",
            "rows are flattened",
            "transformations",
            "dashboard links",
        ] {
            assert!(unmapped.contains(expected), "{expected} in {unmapped}");
        }
        let d = &imported.dashboard;
        assert_eq!(d.title, "Shop overview");
        assert_eq!(d.refresh, "30s");
        assert_eq!(d.variables.len(), 2);
        assert!(d.variables[0].multi && d.variables[0].include_all);
        assert_eq!(d.variables[1].values, ["checkout", "refund"]);
        assert_eq!(d.panels[0].unit, "reqps");
        assert_eq!(d.panels[0].queries.len(), 2);
        assert_eq!(
            d.panels[0].queries[0].legend.as_deref(),
            Some("{{http_route}}")
        );
        assert_eq!(d.panels[2].thresholds.len(), 2);
        assert_eq!(
            d.panels[2].options.get("max"),
            Some(&serde_json::json!(1.0))
        );
    }
}
