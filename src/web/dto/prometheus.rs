//! The JSON shapes of the Prometheus-compatible API: Prometheus's own
//! (`{"status": "success", "data": …}`, label sets as objects, samples as
//! `[unix seconds, "value"]`).

use serde::Serialize;

use crate::model::metric::Labels;
use crate::store::sqlite::metrics::read::FamilyInfo;

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
