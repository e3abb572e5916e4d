//! The JSON of error groups.

use serde::Serialize;

use super::time;
use crate::model::error_group::{ErrorGroup, ErrorGroupDetail};

#[derive(Serialize)]
pub struct ErrorSampleDto {
    pub time: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub message: String,
    pub stacktrace: Option<String>,
    pub source: &'static str,
}

#[derive(Serialize)]
pub struct ErrorGroupDto {
    pub id: String,
    pub fingerprint: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub message: String,
    pub service: String,
    pub count: u64,
    pub total_count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub releases: Vec<String>,
    pub environments: Vec<String>,
    pub first_release: Option<String>,
    pub new_in_release: bool,
    pub status: &'static str,
    pub resolved_at: Option<String>,
    pub sample: ErrorSampleDto,
    pub sparkline: Vec<u64>,
}

impl ErrorGroupDto {
    pub fn new(group: &ErrorGroup) -> ErrorGroupDto {
        ErrorGroupDto {
            id: group.id.to_string(),
            fingerprint: group.fingerprint.clone(),
            type_name: group.type_name.clone(),
            message: group.message.clone(),
            service: group.service.clone(),
            count: group.count,
            total_count: group.total_count,
            first_seen: time(group.first_seen),
            last_seen: time(group.last_seen),
            releases: group.releases.clone(),
            environments: group.environments.clone(),
            first_release: Some(group.first_release.clone()).filter(|release| !release.is_empty()),
            new_in_release: group.new_in_release,
            status: group.status.as_str(),
            resolved_at: group.resolved_at.map(time),
            sample: ErrorSampleDto {
                time: time(group.sample.time),
                trace_id: group.sample.trace_id.map(|id| id.to_hex()),
                span_id: group.sample.span_id.map(|id| id.to_hex()),
                message: group.sample.message.clone(),
                stacktrace: group.sample.stacktrace.clone(),
                source: group.sample.source.as_str(),
            },
            sparkline: group.sparkline.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ErrorListDto {
    pub groups: Vec<ErrorGroupDto>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct CountPointDto {
    pub time: String,
    pub count: u64,
}

#[derive(Serialize)]
pub struct ReleaseCountDto {
    pub release: String,
    pub environment: String,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// A group with what its page shows.
#[derive(Serialize)]
pub struct ErrorDetailDto {
    #[serde(flatten)]
    pub group: ErrorGroupDto,
    pub series: Vec<CountPointDto>,
    pub services: Vec<String>,
    pub releases_detail: Vec<ReleaseCountDto>,
}

impl ErrorDetailDto {
    pub fn new(detail: &ErrorGroupDetail) -> ErrorDetailDto {
        let (group, series, releases) = (&detail.group, &detail.series, &detail.releases);
        ErrorDetailDto {
            group: ErrorGroupDto::new(group),
            series: series
                .iter()
                .map(|(at, count)| CountPointDto {
                    time: time(*at),
                    count: *count,
                })
                .collect(),
            services: vec![group.service.clone()],
            releases_detail: releases
                .iter()
                .map(|row| ReleaseCountDto {
                    release: row.release.clone(),
                    environment: row.environment.clone(),
                    count: row.count,
                    first_seen: time(row.first_seen),
                    last_seen: time(row.last_seen),
                })
                .collect(),
        }
    }
}
