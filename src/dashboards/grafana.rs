//! A Grafana dashboard JSON turned into a lookout dashboard: the common
//! panel types, Prometheus targets, the grid, units, thresholds and
//! `query`/`custom` variables map; everything else is listed as unmapped,
//! never dropped silently.

use serde_json::{Map, Value};

use super::model::{
    Dashboard, Grid, Panel, PanelKind, PanelQuery, Threshold, TimeSetting, Variable, VariableKind,
    GRID_COLUMNS,
};
use super::validate::{REFRESHES, UNITS};

/// The dashboard and what of the source could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub dashboard: Dashboard,
    pub unmapped: Vec<String>,
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn panel_name(panel: &Value) -> String {
    let id = panel.get("id").map_or("?".to_string(), |id| match id {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => "?".into(),
    });
    match text(panel, "title").filter(|t| !t.is_empty()) {
        Some(title) => format!("panel {id} {title:?}"),
        None => format!("panel {id}"),
    }
}

fn panel_kind(kind: &str) -> Option<PanelKind> {
    Some(match kind {
        "timeseries" | "graph" => PanelKind::Timeseries,
        "stat" | "singlestat" => PanelKind::Stat,
        "gauge" | "bargauge" => PanelKind::Gauge,
        "barchart" => PanelKind::Bar,
        "piechart" | "grafana-piechart-panel" => PanelKind::Pie,
        "table" | "table-old" => PanelKind::Table,
        "text" => PanelKind::Text,
        "logs" => PanelKind::Logs,
        _ => return None,
    })
}

/// Grafana units lookout knows under another name.
fn unit(grafana: &str) -> Option<&'static str> {
    let mapped = match grafana {
        "none" | "short" => "short",
        "percent" => "percent",
        "percentunit" => "percentunit",
        "ms" => "ms",
        "s" => "s",
        "bytes" | "decbytes" => "bytes",
        "reqps" => "reqps",
        "ops" | "opm" => "ops",
        _ => return None,
    };
    UNITS.iter().copied().find(|u| *u == mapped)
}

fn datasource_type(value: &Value) -> Option<&str> {
    match value.get("datasource") {
        Some(Value::Object(source)) => source.get("type").and_then(Value::as_str),
        Some(Value::String(name)) if name.to_lowercase().contains("loki") => Some("loki"),
        _ => None,
    }
}

fn grid(panel: &Value, fallback_y: u32) -> Grid {
    let number = |key: &str, default: u32| {
        panel
            .get("gridPos")
            .and_then(|pos| pos.get(key))
            .and_then(Value::as_u64)
            .map_or(default, |n| n.min(u64::from(u32::MAX)) as u32)
    };
    let w = number("w", 12).clamp(1, GRID_COLUMNS);
    let x = number("x", 0).min(GRID_COLUMNS - w);
    Grid {
        x,
        y: number("y", fallback_y),
        w,
        h: number("h", 8).clamp(1, 50),
    }
}

fn thresholds(defaults: &Value) -> Vec<Threshold> {
    let steps = defaults
        .get("thresholds")
        .and_then(|t| t.get("steps"))
        .and_then(Value::as_array);
    let mut out: Vec<Threshold> = steps
        .into_iter()
        .flatten()
        .filter_map(|step| {
            // The base step (value null) is the colour below the first.
            let value = step.get("value").and_then(Value::as_f64)?;
            let color = text(step, "color").unwrap_or("red");
            Some(Threshold {
                value,
                color: grafana_color(color),
            })
        })
        .collect();
    out.sort_by(|a, b| a.value.total_cmp(&b.value));
    out
}

/// Grafana's colour names (`dark-red`, `semi-dark-green`, `#EAB839`) as
/// CSS colours.
fn grafana_color(color: &str) -> String {
    if color.starts_with('#') {
        return color.to_lowercase();
    }
    let base = color.rsplit('-').next().unwrap_or(color);
    match base {
        "red" | "green" | "yellow" | "orange" | "blue" | "purple" => base.to_string(),
        _ => "red".to_string(),
    }
}

/// Converts one Grafana panel, noting what did not carry over.
fn convert_panel(source: &Value, unmapped: &mut Vec<String>) -> Option<Panel> {
    let name = panel_name(source);
    let kind_text = text(source, "type").unwrap_or("");
    let Some(kind) = panel_kind(kind_text) else {
        unmapped.push(format!("{name}: {kind_text} panels are not supported"));
        return None;
    };
    let defaults = source
        .get("fieldConfig")
        .and_then(|c| c.get("defaults"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut options = Map::new();
    let mut queries = Vec::new();
    if kind == PanelKind::Text {
        let content = source
            .get("options")
            .and_then(|o| text(o, "content"))
            .or_else(|| text(source, "content"))
            .unwrap_or("");
        options.insert("content".into(), Value::String(content.to_string()));
    }
    for target in source
        .get("targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let reference = text(target, "refId").unwrap_or("?");
        let is_loki = datasource_type(target).or_else(|| datasource_type(source)) == Some("loki");
        let expr = text(target, "expr").filter(|e| !e.trim().is_empty());
        match (kind, expr, is_loki) {
            (PanelKind::Text, ..) => {}
            (PanelKind::Logs, Some(expr), true) => {
                unmapped.push(format!(
                    "{name}: target {reference} is LogQL ({expr:?}); the logs query is empty, write it in lookout's query language"
                ));
                queries.push(PanelQuery {
                    logs: Some(String::new()),
                    ..PanelQuery::default()
                });
            }
            (PanelKind::Logs, ..) => {
                unmapped.push(format!("{name}: target {reference} is not a log query"));
            }
            (_, Some(expr), false) => {
                if datasource_type(target).is_some_and(|t| t != "prometheus") {
                    unmapped.push(format!(
                        "{name}: target {reference} is not a Prometheus query"
                    ));
                    continue;
                }
                queries.push(PanelQuery {
                    promql: Some(expr.to_string()),
                    legend: text(target, "legendFormat")
                        .filter(|legend| !legend.is_empty() && *legend != "__auto")
                        .map(str::to_string),
                    ..PanelQuery::default()
                });
            }
            _ => unmapped.push(format!(
                "{name}: target {reference} is not a Prometheus query"
            )),
        }
    }
    if kind == PanelKind::Logs && queries.is_empty() {
        queries.push(PanelQuery {
            logs: Some(String::new()),
            ..PanelQuery::default()
        });
    }
    if !matches!(kind, PanelKind::Text | PanelKind::Logs) && queries.is_empty() {
        unmapped.push(format!("{name}: no Prometheus query to show"));
        return None;
    }
    queries.truncate(10);
    if let Some(max) = defaults.get("max").and_then(Value::as_f64) {
        options.insert("max".into(), serde_json::json!(max));
    }
    if let Some(min) = defaults.get("min").and_then(Value::as_f64) {
        options.insert("min".into(), serde_json::json!(min));
    }
    let unit_text = text(&defaults, "unit").unwrap_or("");
    let unit = match unit(unit_text) {
        Some(unit) => unit.to_string(),
        None if unit_text.is_empty() => String::new(),
        None => {
            unmapped.push(format!("{name}: unit {unit_text:?}"));
            String::new()
        }
    };
    if source
        .get("transformations")
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
    {
        unmapped.push(format!("{name}: transformations"));
    }
    if source
        .get("fieldConfig")
        .and_then(|c| c.get("overrides"))
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
    {
        unmapped.push(format!("{name}: field overrides"));
    }
    Some(Panel {
        id: String::new(),
        title: text(source, "title")
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
        kind,
        grid: grid(source, 0),
        unit,
        decimals: defaults
            .get("decimals")
            .and_then(Value::as_u64)
            .map(|d| d.min(10) as u8),
        thresholds: thresholds(&defaults),
        queries,
        options,
    })
}

fn convert_variable(source: &Value, unmapped: &mut Vec<String>) -> Option<Variable> {
    let name = text(source, "name").unwrap_or("").to_string();
    let kind = text(source, "type").unwrap_or("");
    let multi = source
        .get("multi")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let include_all = source
        .get("includeAll")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let current: Vec<String> = match source.get("current").and_then(|c| c.get("value")) {
        Some(Value::String(value)) => vec![value.clone()],
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let default: Vec<String> = current
        .into_iter()
        .filter(|v| v != "$__all" && v != "All")
        .collect();
    match kind {
        "query" => {
            let query = match source.get("query") {
                Some(Value::String(query)) => query.clone(),
                Some(Value::Object(query)) => query
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                _ => String::new(),
            };
            let query = if query.trim().is_empty() {
                text(source, "definition").unwrap_or("").to_string()
            } else {
                query
            };
            if super::variables::parse_label_values(&query).is_err() {
                unmapped.push(format!(
                    "variable {name}: query {query:?} is not label_values(…)"
                ));
                return None;
            }
            Some(Variable {
                name,
                kind: VariableKind::Query,
                query: Some(query.trim().to_string()),
                values: Vec::new(),
                multi,
                include_all,
                default,
            })
        }
        "custom" => {
            let values: Vec<String> = text(source, "query")
                .unwrap_or("")
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() {
                unmapped.push(format!("variable {name}: a custom variable without values"));
                return None;
            }
            Some(Variable {
                name,
                kind: VariableKind::Custom,
                query: None,
                values,
                multi,
                include_all,
                default,
            })
        }
        other => {
            unmapped.push(format!(
                "variable {name}: {other} variables are not supported"
            ));
            None
        }
    }
}

/// The lookout dashboard of a Grafana dashboard JSON (the model itself or
/// `{"dashboard": …}` as Grafana's API and exports wrap it).
pub fn import(source: &Value) -> Result<Imported, String> {
    let model = match source.get("dashboard") {
        Some(inner @ Value::Object(_)) => inner,
        _ => source,
    };
    if !model.is_object() || (model.get("panels").is_none() && model.get("rows").is_none()) {
        return Err("not a Grafana dashboard: it has no panels".into());
    }
    let mut unmapped = Vec::new();
    let mut variables = Vec::new();
    for variable in model
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(variable) = convert_variable(variable, &mut unmapped) {
            if !variables.iter().any(|v: &Variable| v.name == variable.name) {
                variables.push(variable);
            }
        }
    }
    let mut panels = Vec::new();
    let mut sources: Vec<&Value> = Vec::new();
    for panel in model
        .get("panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if text(panel, "type") == Some("row") {
            unmapped.push(format!(
                "{}: rows are flattened (its panels are kept)",
                panel_name(panel)
            ));
            sources.extend(
                panel
                    .get("panels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        } else {
            sources.push(panel);
        }
    }
    // Grafana's old layout: rows with their panels.
    for row in model
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        sources.extend(
            row.get("panels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    for source in sources {
        if let Some(panel) = convert_panel(source, &mut unmapped) {
            panels.push(panel);
        }
    }
    if model
        .get("annotations")
        .and_then(|a| a.get("list"))
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .any(|a| a.get("builtIn").and_then(Value::as_i64) != Some(1))
        })
    {
        unmapped.push("annotations".into());
    }
    if model
        .get("links")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty())
    {
        unmapped.push("dashboard links".into());
    }
    let lookback = model
        .get("time")
        .and_then(|t| text(t, "from"))
        .and_then(|from| from.strip_prefix("now-"))
        .filter(|lookback| humantime::parse_duration(lookback).is_ok())
        .unwrap_or("6h")
        .to_string();
    let refresh = text(model, "refresh")
        .filter(|r| REFRESHES.contains(r))
        .unwrap_or("off")
        .to_string();
    let title = text(model, "title").unwrap_or("Imported dashboard").trim();
    Ok(Imported {
        dashboard: Dashboard {
            id: String::new(),
            title: if title.is_empty() {
                "Imported dashboard".into()
            } else {
                title.chars().take(200).collect()
            },
            description: text(model, "description").unwrap_or("").to_string(),
            builtin: false,
            time: TimeSetting { lookback },
            refresh,
            variables,
            panels,
            created_at: None,
            updated_at: None,
        },
        unmapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_units_colours_and_thresholds_carry_over() {
        let defaults = serde_json::json!({"thresholds": {"steps": [
            {"color": "green", "value": null}, {"color": "dark-red", "value": 90}, {"color": "#EAB839", "value": 50}
        ]}});
        let converted = thresholds(&defaults);
        assert_eq!(converted.len(), 2);
        assert_eq!(
            (converted[0].value, converted[0].color.as_str()),
            (50.0, "#eab839")
        );
        assert_eq!(converted[1].color, "red");
        assert_eq!(unit("decbytes"), Some("bytes"));
        assert_eq!(unit("celsius"), None);
        assert!(import(&serde_json::json!({"title": "x"})).is_err());
    }
}
