//! A dashboard as sent, checked field by field: the JSON shape (the path
//! of a field that does not fit), then what each field means (grid
//! bounds, the queries each panel type takes, queries that parse with
//! every variable replaced by a sample value).

use std::collections::HashSet;

use super::model::{Dashboard, PanelKind, VariableKind, GRID_COLUMNS};
use super::variables::{self, Bindings, Format, Selection};
use crate::model::FieldError;

const MAX_TITLE: usize = 200;
const MAX_PANELS: usize = 100;
const MAX_QUERIES: usize = 10;
const MAX_VARIABLES: usize = 20;
const MAX_GRID_HEIGHT: u32 = 50;
pub const UNITS: &[&str] = &[
    "",
    "short",
    "percent",
    "percentunit",
    "ms",
    "s",
    "bytes",
    "reqps",
    "ops",
];
pub const REFRESHES: &[&str] = &["off", "5s", "10s", "30s", "1m", "5m", "15m", "1h"];

/// Reads a dashboard from a JSON document; a field that does not fit is
/// named by its path (`panels[2].grid.w`).
pub fn parse(body: &[u8]) -> Result<Dashboard, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = error.into_inner();
        let message = inner.to_string();
        // serde_json ends its messages with " at line L column C".
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(text, _)| text)
            .to_string();
        FieldError::new(field, message)
    })
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_color(color: &str) -> bool {
    let hex = color.strip_prefix('#').is_some_and(|digits| {
        matches!(digits.len(), 3 | 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit())
    });
    hex || (!color.is_empty()
        && color.len() <= 30
        && color.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Sample values for checking queries: each variable as one value.
fn sample_bindings(dashboard: &Dashboard) -> Bindings {
    let mut bindings = Bindings {
        step_seconds: 60,
        range_seconds: 3600,
        ..Bindings::default()
    };
    for variable in &dashboard.variables {
        bindings.selections.insert(
            variable.name.clone(),
            Selection {
                values: vec!["x".into()],
                regex: variable.multi || variable.include_all,
            },
        );
    }
    bindings
}

/// Checks what the fields mean, gives panels without an id one, and
/// clears the read-only fields.
pub fn check(dashboard: &mut Dashboard) -> Result<(), FieldError> {
    dashboard.builtin = false;
    let title = dashboard.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(FieldError::new(
            "title",
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    dashboard.title = title.to_string();
    humantime::parse_duration(&dashboard.time.lookback).map_err(|_| {
        FieldError::new(
            "time.lookback",
            format!(
                "{:?} is not a duration like 6h or 7d",
                dashboard.time.lookback
            ),
        )
    })?;
    if !REFRESHES.contains(&dashboard.refresh.as_str()) {
        return Err(FieldError::new(
            "refresh",
            format!(
                "{:?} is not one of {}",
                dashboard.refresh,
                REFRESHES.join(", ")
            ),
        ));
    }
    check_variables(dashboard)?;
    if dashboard.panels.len() > MAX_PANELS {
        return Err(FieldError::new(
            "panels",
            format!("at most {MAX_PANELS} panels"),
        ));
    }
    let bindings = sample_bindings(dashboard);
    let mut ids: HashSet<String> = dashboard
        .panels
        .iter()
        .map(|panel| panel.id.clone())
        .filter(|id| !id.is_empty())
        .collect();
    let mut seen = HashSet::new();
    let mut next = 1;
    for index in 0..dashboard.panels.len() {
        let field = |name: &str| format!("panels[{index}].{name}");
        let panel = &mut dashboard.panels[index];
        if panel.id.is_empty() {
            while ids.contains(&format!("p{next}")) {
                next += 1;
            }
            panel.id = format!("p{next}");
            ids.insert(panel.id.clone());
        }
        if !seen.insert(panel.id.clone()) {
            return Err(FieldError::new(
                field("id"),
                format!("{:?} is the id of another panel", panel.id),
            ));
        }
        if panel.title.chars().count() > MAX_TITLE {
            return Err(FieldError::new(
                field("title"),
                format!("at most {MAX_TITLE} characters"),
            ));
        }
        let grid = panel.grid;
        if !(1..=GRID_COLUMNS).contains(&grid.w)
            || grid.x >= GRID_COLUMNS
            || grid.x + grid.w > GRID_COLUMNS
        {
            return Err(FieldError::new(
                field("grid"),
                format!(
                    "x is 0 to 23 and w 1 to 24 with x + w at most {GRID_COLUMNS}, got x {} w {}",
                    grid.x, grid.w
                ),
            ));
        }
        if !(1..=MAX_GRID_HEIGHT).contains(&grid.h) {
            return Err(FieldError::new(
                field("grid.h"),
                format!("must be 1 to {MAX_GRID_HEIGHT}, got {}", grid.h),
            ));
        }
        if !UNITS.contains(&panel.unit.as_str()) {
            return Err(FieldError::new(
                field("unit"),
                format!("{:?} is not one of {}", panel.unit, UNITS.join(", ")),
            ));
        }
        for (t, threshold) in panel.thresholds.iter().enumerate() {
            if !threshold.value.is_finite() {
                return Err(FieldError::new(
                    field(&format!("thresholds[{t}].value")),
                    "must be a number",
                ));
            }
            if !valid_color(&threshold.color) {
                return Err(FieldError::new(
                    field(&format!("thresholds[{t}].color")),
                    format!("{:?} is not a colour name or #rrggbb", threshold.color),
                ));
            }
            if t > 0 && threshold.value < panel.thresholds[t - 1].value {
                return Err(FieldError::new(
                    field(&format!("thresholds[{t}].value")),
                    "thresholds ascend by value",
                ));
            }
        }
        check_queries(panel, index, &dashboard.variables, &bindings)?;
    }
    dashboard.created_at = None;
    dashboard.updated_at = None;
    Ok(())
}

fn check_variables(dashboard: &Dashboard) -> Result<(), FieldError> {
    if dashboard.variables.len() > MAX_VARIABLES {
        return Err(FieldError::new(
            "variables",
            format!("at most {MAX_VARIABLES} variables"),
        ));
    }
    let mut names = HashSet::new();
    for (index, variable) in dashboard.variables.iter().enumerate() {
        let field = |name: &str| format!("variables[{index}].{name}");
        if !valid_name(&variable.name) || variable.name.starts_with("__") {
            return Err(FieldError::new(
                field("name"),
                format!(
                    "{:?} is not a name like [A-Za-z_][A-Za-z0-9_]* (not starting with __)",
                    variable.name
                ),
            ));
        }
        if !names.insert(variable.name.as_str()) {
            return Err(FieldError::new(
                field("name"),
                format!("{:?} is the name of another variable", variable.name),
            ));
        }
        match variable.kind {
            VariableKind::Query => {
                let query = variable.query.as_deref().ok_or_else(|| {
                    FieldError::new(field("query"), "is required for a query variable")
                })?;
                variables::parse_label_values(query)
                    .map_err(|message| FieldError::new(field("query"), message))?;
            }
            VariableKind::Custom => {
                if variable.values.is_empty() {
                    return Err(FieldError::new(
                        field("values"),
                        "a custom variable lists at least one value",
                    ));
                }
                if variable.query.is_some() {
                    return Err(FieldError::new(
                        field("query"),
                        "applies to query variables only",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_queries(
    panel: &super::model::Panel,
    index: usize,
    variables: &[super::model::Variable],
    bindings: &Bindings,
) -> Result<(), FieldError> {
    use super::model::QueryRef;
    let field = |name: &str| format!("panels[{index}].{name}");
    let count = panel.queries.len();
    let kind_name = serde_json::to_value(panel.kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    match panel.kind {
        PanelKind::Text => {
            if count > 0 {
                return Err(FieldError::new(
                    field("queries"),
                    "a text panel has no queries",
                ));
            }
            if !panel
                .options
                .get("content")
                .is_some_and(serde_json::Value::is_string)
            {
                return Err(FieldError::new(
                    field("options.content"),
                    "a text panel's Markdown is required",
                ));
            }
            return Ok(());
        }
        PanelKind::Logs | PanelKind::Traces if count != 1 => {
            return Err(FieldError::new(
                field("queries"),
                format!("a {kind_name} panel has exactly one query"),
            ));
        }
        _ if count == 0 || count > MAX_QUERIES => {
            return Err(FieldError::new(
                field("queries"),
                format!("a {kind_name} panel has 1 to {MAX_QUERIES} queries"),
            ));
        }
        _ => {}
    }
    for (q, query) in panel.queries.iter().enumerate() {
        let at = |name: &str| field(&format!("queries[{q}].{name}"));
        let Some(kind) = query.kind() else {
            return Err(FieldError::new(
                field(&format!("queries[{q}]")),
                "sets exactly one of promql, logs, red and traces",
            ));
        };
        let allowed = match panel.kind {
            PanelKind::Logs => matches!(kind, QueryRef::Logs(_)),
            PanelKind::Traces => matches!(kind, QueryRef::Traces(_)),
            _ => !matches!(kind, QueryRef::Traces(_)),
        };
        if !allowed {
            return Err(FieldError::new(
                field(&format!("queries[{q}]")),
                format!("a {kind_name} panel does not take this kind of query"),
            ));
        }
        if query.legend.is_some() && !matches!(kind, QueryRef::Promql(_)) {
            return Err(FieldError::new(
                at("legend"),
                "applies to promql queries only",
            ));
        }
        let texts: Vec<(String, &str)> = match kind {
            QueryRef::Promql(text) => vec![(at("promql"), text)],
            QueryRef::Logs(text) => vec![(at("logs"), text)],
            QueryRef::Red(red) => {
                if red.service.trim().is_empty() {
                    return Err(FieldError::new(at("red.service"), "is required"));
                }
                vec![(at("red.service"), red.service.as_str())]
                    .into_iter()
                    .chain(red.operation.as_deref().map(|op| (at("red.operation"), op)))
                    .collect()
            }
            QueryRef::Traces(traces) => {
                if let Some(status) = traces.status.as_deref() {
                    if !matches!(status, "error" | "ok") {
                        return Err(FieldError::new(
                            at("traces.status"),
                            format!("{status:?} is not error or ok"),
                        ));
                    }
                }
                if traces
                    .min_duration_ms
                    .is_some_and(|ms| !ms.is_finite() || ms < 0.0)
                {
                    return Err(FieldError::new(
                        at("traces.min_duration_ms"),
                        "must be a non-negative number",
                    ));
                }
                traces
                    .service
                    .iter()
                    .map(|s| (at("traces.service"), s.as_str()))
                    .chain(
                        traces
                            .operation
                            .iter()
                            .map(|op| (at("traces.operation"), op.as_str())),
                    )
                    .collect()
            }
        };
        for (name, text) in &texts {
            if let Some(unknown) = variables::unknown_references(text, variables).first() {
                return Err(FieldError::new(
                    name.clone(),
                    format!("${unknown} is not a variable of this dashboard"),
                ));
            }
        }
        match kind {
            QueryRef::Promql(text) => {
                let expanded = variables::substitute(text, bindings, Format::Regex);
                promql_parser::parser::parse(&expanded)
                    .map_err(|error| FieldError::new(at("promql"), error.to_string()))?;
            }
            QueryRef::Logs(text) => {
                let expanded = variables::substitute(text, bindings, Format::First);
                crate::query::logql::parse(&expanded)
                    .map_err(|error| FieldError::new(at("logs"), error.to_string()))?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(panels: serde_json::Value) -> Result<Dashboard, FieldError> {
        let body = serde_json::json!({
            "title": "Shop",
            "variables": [{"name": "svc", "type": "custom", "values": ["a", "b"], "multi": true}],
            "panels": panels,
        });
        let mut dashboard = parse(body.to_string().as_bytes())?;
        check(&mut dashboard)?;
        Ok(dashboard)
    }

    fn field_of(result: Result<Dashboard, FieldError>) -> String {
        result.map(|_| ()).expect_err("invalid").field
    }

    #[test]
    fn panels_get_ids_and_their_queries_are_checked_with_variables_replaced() {
        let ok = dashboard(serde_json::json!([
            {"type": "timeseries", "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
             "queries": [{"promql": "sum(rate(x{svc=~\"$svc\"}[$__rate_interval]))", "legend": "{{svc}}"}]},
            {"id": "p1", "type": "logs", "grid": {"x": 12, "y": 0, "w": 12, "h": 8}, "queries": [{"logs": "service:$svc level:error"}]},
            {"type": "text", "grid": {"x": 0, "y": 8, "w": 24, "h": 2}, "options": {"content": "# Hi"}},
        ]))
        .expect("valid");
        let ids: Vec<&str> = ok.panels.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p2", "p1", "p3"]);

        let grid = |x: u32, w: u32| serde_json::json!([{"type": "stat", "grid": {"x": x, "y": 0, "w": w, "h": 4}, "queries": [{"promql": "up"}]}]);
        assert_eq!(field_of(dashboard(grid(20, 6))), "panels[0].grid");
        assert_eq!(field_of(dashboard(grid(0, 0))), "panels[0].grid");
        for (panels, field) in [
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "rate(x[5m]"}]}]),
                "panels[0].queries[0].promql",
            ),
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "x{a=\"$nope\"}"}]}]),
                "panels[0].queries[0].promql",
            ),
            (
                serde_json::json!([{"type": "logs", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"logs": "a AND"}]}]),
                "panels[0].queries[0].logs",
            ),
            (
                serde_json::json!([{"type": "logs", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "up"}]}]),
                "panels[0].queries[0]",
            ),
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "up", "logs": "x"}]}]),
                "panels[0].queries[0]",
            ),
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": []}]),
                "panels[0].queries",
            ),
            (
                serde_json::json!([{"type": "text", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}}]),
                "panels[0].options.content",
            ),
            (
                serde_json::json!([{"type": "stat", "unit": "furlongs", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "up"}]}]),
                "panels[0].unit",
            ),
            (
                serde_json::json!([{"type": "gauge", "thresholds": [{"value": 5, "color": "red"}, {"value": 1, "color": "green"}], "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "queries": [{"promql": "up"}]}]),
                "panels[0].thresholds[1].value",
            ),
            (
                serde_json::json!([{"type": "heatmap", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}}]),
                "panels[0].type",
            ),
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": 4, "h": 4}, "colour": "red"}]),
                "panels[0].colour",
            ),
            (
                serde_json::json!([{"type": "stat", "grid": {"x": 0, "y": 0, "w": "wide", "h": 4}}]),
                "panels[0].grid.w",
            ),
        ] {
            assert_eq!(field_of(dashboard(panels.clone())), field, "{panels}");
        }
    }

    #[test]
    fn variables_and_top_level_fields_are_checked() {
        let check_body = |body: serde_json::Value| {
            let mut dashboard = parse(body.to_string().as_bytes())?;
            check(&mut dashboard).map(|_| dashboard)
        };
        assert_eq!(
            field_of(check_body(serde_json::json!({"title": " "}))),
            "title"
        );
        assert_eq!(
            field_of(check_body(
                serde_json::json!({"title": "a", "refresh": "2s"})
            )),
            "refresh"
        );
        assert_eq!(
            field_of(check_body(
                serde_json::json!({"title": "a", "time": {"lookback": "soon"}})
            )),
            "time.lookback"
        );
        assert_eq!(
            field_of(check_body(
                serde_json::json!({"title": "a", "variables": [{"name": "1x", "type": "custom", "values": ["a"]}]})
            )),
            "variables[0].name"
        );
        assert_eq!(
            field_of(check_body(
                serde_json::json!({"title": "a", "variables": [{"name": "v", "type": "query", "query": "up"}]})
            )),
            "variables[0].query"
        );
        assert_eq!(
            field_of(check_body(
                serde_json::json!({"title": "a", "variables": [{"name": "v", "type": "custom"}]})
            )),
            "variables[0].values"
        );
        // Read-only fields are accepted and ignored.
        let kept = check_body(
            serde_json::json!({"title": "a", "id": "x", "builtin": true, "created_at": "t"}),
        )
        .expect("valid");
        assert!(!kept.builtin);
        assert_eq!(kept.created_at, None);
    }
}
