//! A dashboard as users write, store, export and import it: a JSON
//! document (like Grafana's), so its types are the document's shape.
//! `docs/API.md` ("Dashboards") is its contract.

use serde::{Deserialize, Serialize};

/// Columns of the layout grid.
pub const GRID_COLUMNS: u32 = 24;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Read-only: given by the server.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Read-only: computed dashboards cannot be changed.
    #[serde(default)]
    pub builtin: bool,
    #[serde(default)]
    pub time: TimeSetting,
    #[serde(default = "default_refresh")]
    pub refresh: String,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub panels: Vec<Panel>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn default_refresh() -> String {
    "off".into()
}

/// The range a dashboard opens with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSetting {
    pub lookback: String,
}

impl Default for TimeSetting {
    fn default() -> Self {
        TimeSetting {
            lookback: "6h".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableKind {
    /// Values are a label's values (`label_values(…)`).
    Query,
    /// Values are listed.
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VariableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub multi: bool,
    #[serde(default)]
    pub include_all: bool,
    /// Selected when the URL names no value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    Timeseries,
    Stat,
    Gauge,
    Bar,
    Pie,
    Table,
    Logs,
    Traces,
    Text,
}

impl PanelKind {
    /// Whether the panel shows values over time (a range query) rather
    /// than one value per series.
    pub fn is_range(self) -> bool {
        matches!(self, PanelKind::Timeseries | PanelKind::Bar)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    pub color: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(rename = "type")]
    pub kind: PanelKind,
    pub grid: Grid,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub decimals: Option<u8>,
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    #[serde(default)]
    pub queries: Vec<PanelQuery>,
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RedMetric {
    #[default]
    RequestRate,
    ErrorRate,
    P50,
    P95,
    P99,
}

impl RedMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            RedMetric::RequestRate => "request_rate",
            RedMetric::ErrorRate => "error_rate",
            RedMetric::P50 => "p50",
            RedMetric::P95 => "p95",
            RedMetric::P99 => "p99",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedQuery {
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default)]
    pub metric: RedMetric,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TraceQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `error` or `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration_ms: Option<f64>,
}

/// One query of a panel: exactly one of its kinds is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PanelQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<String>,
    /// The legend of each series: `{{label}}` is the label's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red: Option<RedQuery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceQuery>,
}

/// What a panel query asks for, once it is known to set exactly one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueryRef<'a> {
    Promql(&'a str),
    Logs(&'a str),
    Red(&'a RedQuery),
    Traces(&'a TraceQuery),
}

impl PanelQuery {
    /// The kinds set (one for a valid query).
    pub fn kinds(&self) -> Vec<QueryRef<'_>> {
        let mut out = Vec::new();
        if let Some(text) = &self.promql {
            out.push(QueryRef::Promql(text));
        }
        if let Some(text) = &self.logs {
            out.push(QueryRef::Logs(text));
        }
        if let Some(red) = &self.red {
            out.push(QueryRef::Red(red));
        }
        if let Some(traces) = &self.traces {
            out.push(QueryRef::Traces(traces));
        }
        out
    }

    /// The one kind set.
    pub fn kind(&self) -> Option<QueryRef<'_>> {
        match self.kinds().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// A dashboard in the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardSummary {
    pub id: String,
    pub title: String,
    pub description: String,
    pub builtin: bool,
    pub panel_count: usize,
    pub updated_at: Option<String>,
}

impl DashboardSummary {
    pub fn of(dashboard: &Dashboard) -> DashboardSummary {
        DashboardSummary {
            id: dashboard.id.clone(),
            title: dashboard.title.clone(),
            description: dashboard.description.clone(),
            builtin: dashboard.builtin,
            panel_count: dashboard.panels.len(),
            updated_at: dashboard.updated_at.clone(),
        }
    }
}
