//! The JSON shapes of the Prometheus-compatible API: Prometheus's own
//! (`{"status": "success", "data": …}`, label sets as objects, samples as
//! `[unix seconds, "value"]`).

use serde::Serialize;

use crate::model::metric::{format_value, Labels};
use crate::query::promql::Value;
use crate::store::sqlite::metrics::read::{FamilyInfo, StoredExemplar};

#[derive(Serialize)]
pub struct Success<T: Serialize> {
    status: &'static str,
    data: T,
}

pub fn success<T: Serialize>(data: T) -> Success<T> {
    Success {
        status: "success",
        data,
    }
}

/// A label set as a JSON object.
pub fn labels(labels: &Labels) -> serde_json::Map<String, serde_json::Value> {
    labels
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::Value::String(value.to_string()),
            )
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub branch: &'static str,
    pub build_user: &'static str,
    pub build_date: &'static str,
    pub go_version: &'static str,
}

#[derive(Serialize)]
pub struct MetadataEntry {
    #[serde(rename = "type")]
    metric_type: &'static str,
    help: String,
    unit: String,
}

/// `/metadata`'s data: family name → its one metadata entry.
pub fn metadata(
    families: impl Iterator<Item = FamilyInfo>,
) -> std::collections::BTreeMap<String, Vec<MetadataEntry>> {
    families
        .map(|family| {
            (
                family.name,
                vec![MetadataEntry {
                    metric_type: family.metric_type.as_str(),
                    help: family.help,
                    unit: family.unit,
                }],
            )
        })
        .collect()
}

#[derive(Serialize)]
pub struct MetricNameDto {
    name: String,
    #[serde(rename = "type")]
    metric_type: &'static str,
    unit: String,
    description: String,
    series: u64,
}

/// `/api/metrics/names`.
#[derive(Serialize)]
pub struct MetricNamesDto {
    metrics: Vec<MetricNameDto>,
}

impl MetricNamesDto {
    pub fn new(families: Vec<FamilyInfo>) -> MetricNamesDto {
        MetricNamesDto {
            metrics: families
                .into_iter()
                .map(|family| MetricNameDto {
                    name: family.name,
                    metric_type: family.metric_type.as_str(),
                    unit: family.unit,
                    description: family.help,
                    series: family.series,
                })
                .collect(),
        }
    }
}

/// A sample as Prometheus writes it: `[unix seconds, "value"]`.
fn sample(t_ms: i64, value: f64) -> serde_json::Value {
    // Whole seconds as integers, else milliseconds as a fraction.
    let time = if t_ms % 1000 == 0 {
        serde_json::Value::from(t_ms / 1000)
    } else {
        serde_json::Number::from_f64(t_ms as f64 / 1000.0)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::Value::Array(vec![time, serde_json::Value::String(format_value(value))])
}

/// A query result: `{"resultType": …, "result": …}`.
pub fn query_result(value: Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        Value::Scalar(s) => json!({"resultType": "scalar", "result": sample(s.t, s.v)}),
        Value::String(text, t) => {
            let mut pair = sample(t, 0.0);
            pair[1] = serde_json::Value::String(text);
            json!({"resultType": "string", "result": pair})
        }
        Value::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples.iter().map(|s| json!({
                "metric": labels(&s.labels),
                "value": sample(s.sample.t, s.sample.v),
            })).collect::<Vec<_>>(),
        }),
        Value::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series.iter().map(|s| json!({
                "metric": labels(&s.labels),
                "values": s.samples.iter().map(|p| sample(p.t, p.v)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

/// `/query_exemplars`'s data: exemplars grouped by their series.
pub fn exemplars(found: Vec<StoredExemplar>) -> serde_json::Value {
    use serde_json::json;
    let mut groups: Vec<(Labels, Vec<serde_json::Value>)> = Vec::new();
    for exemplar in found {
        let mut exemplar_labels = labels(&exemplar.labels);
        if let Some(trace_id) = exemplar.trace_id {
            exemplar_labels.insert("trace_id".into(), trace_id.to_hex().into());
        }
        if let Some(span_id) = exemplar.span_id {
            exemplar_labels.insert("span_id".into(), span_id.to_hex().into());
        }
        let pair = sample(exemplar.t, exemplar.value);
        let entry = json!({
            "labels": exemplar_labels,
            "value": pair[1],
            "timestamp": pair[0],
        });
        match groups
            .iter_mut()
            .find(|(series, _)| *series == exemplar.series)
        {
            Some((_, list)) => list.push(entry),
            None => groups.push((exemplar.series, vec![entry])),
        }
    }
    serde_json::Value::Array(
        groups
            .into_iter()
            .map(|(series, list)| json!({"seriesLabels": labels(&series), "exemplars": list}))
            .collect(),
    )
}
