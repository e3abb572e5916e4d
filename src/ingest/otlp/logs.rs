//! OTLP logs: decoding `ExportLogsServiceRequest` and converting it into
//! model log records, rejecting invalid records one by one.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;

use super::values::{convert_attributes, convert_value, service_name, truncate};
use crate::ingest::{Limits, Report};
use crate::model::{AttrValue, LogBody, LogRecord, Scope, SpanId, TimeWindow, TraceId, UnixNanos};

/// The valid records of one request, and what was rejected or cut.
#[derive(Debug, Default)]
pub struct ConvertedLogs {
    pub records: Vec<LogRecord>,
    pub report: Report,
}

pub fn convert_logs(
    request: ExportLogsServiceRequest,
    limits: &Limits,
    window: TimeWindow,
    now: UnixNanos,
) -> ConvertedLogs {
    let mut out = ConvertedLogs::default();
    for (resource_index, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let resource = resource_logs
            .resource
            .map(|resource| {
                convert_attributes(resource.attributes, limits, &mut out.report.trimmed)
            })
            .unwrap_or_default();
        let service = service_name(&resource);
        for (scope_index, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let scope = scope_logs
                .scope
                .map(|scope| Scope {
                    name: scope.name,
                    version: scope.version,
                })
                .unwrap_or_default();
            for (record_index, record) in scope_logs.log_records.into_iter().enumerate() {
                let converted = convert_record(record, limits, &mut out.report.trimmed, now)
                    .and_then(|mut record| {
                        window.check(record.timestamp)?;
                        record.service = service.clone();
                        record.resource = resource.clone();
                        record.scope = scope.clone();
                        Ok(record)
                    });
                match converted {
                    Ok(record) => out.records.push(record),
                    Err(reason) => {
                        out.report.reject(format!(
                            "resourceLogs[{resource_index}].scopeLogs[{scope_index}].logRecords[{record_index}]: {reason}"
                        ));
                    }
                }
            }
        }
    }
    out
}

fn convert_record(
    record: opentelemetry_proto::tonic::logs::v1::LogRecord,
    limits: &Limits,
    trimmed: &mut u64,
    now: UnixNanos,
) -> Result<LogRecord, String> {
    // Logs outside a trace may carry all-zero ids: those mean "none".
    let trace_id = if record.trace_id.iter().all(|byte| *byte == 0) {
        None
    } else {
        Some(TraceId::from_bytes(&record.trace_id).map_err(|e| e.to_string())?)
    };
    let span_id = if record.span_id.iter().all(|byte| *byte == 0) {
        None
    } else {
        Some(SpanId::from_bytes(&record.span_id).map_err(|e| e.to_string())?)
    };
    let body = match record.body.and_then(|body| body.value) {
        None => LogBody::Text(String::new()),
        Some(any_value::Value::StringValue(text)) => LogBody::Text(truncate(
            text,
            limits.max_attribute_value_bytes.max(64 * 1024),
            trimmed,
        )),
        Some(other) => LogBody::Json(
            convert_value(
                Some(opentelemetry_proto::tonic::common::v1::AnyValue { value: Some(other) }),
                limits,
                trimmed,
                0,
            )
            .to_json(),
        ),
    };
    let mut attributes = convert_attributes(record.attributes, limits, trimmed);
    if !record.event_name.is_empty() {
        attributes.push(("event.name".into(), AttrValue::String(record.event_name)));
    }
    let observed = if record.observed_time_unix_nano == 0 {
        now
    } else {
        UnixNanos::from_u64(record.observed_time_unix_nano)
    };
    let mut converted = LogRecord {
        timestamp: UnixNanos::from_u64(record.time_unix_nano),
        observed_timestamp: observed,
        severity_number: record.severity_number,
        severity_text: truncate(record.severity_text, 64, trimmed),
        service: String::new(),
        body,
        trace_id,
        span_id,
        attributes,
        resource: Vec::new(),
        scope: Scope::default(),
    };
    converted.normalize();
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    const NOW: UnixNanos = UnixNanos(1_763_719_200_000_000_000);

    fn window() -> TimeWindow {
        TimeWindow {
            earliest: UnixNanos(NOW.0 - 86_400_000_000_000),
            latest: UnixNanos(NOW.0 + 86_400_000_000_000),
        }
    }

    fn request(records: Vec<OtlpRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("checkout".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn text_record(body: &str) -> OtlpRecord {
        OtlpRecord {
            time_unix_nano: NOW.0 as u64,
            severity_number: 17,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body.into())),
            }),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        }
    }

    #[test]
    fn records_get_service_severity_text_and_ids() {
        let converted = convert_logs(
            request(vec![text_record("payment declined")]),
            &Limits::default(),
            window(),
            NOW,
        );
        assert_eq!(converted.report.rejected, 0);
        let record = &converted.records[0];
        assert_eq!(record.service, "checkout");
        assert_eq!(record.severity_text, "ERROR");
        assert_eq!(record.body, LogBody::Text("payment declined".into()));
        assert_eq!(record.trace_id, Some(TraceId([1; 16])));
        assert_eq!(record.observed_timestamp, NOW);
    }

    #[test]
    fn structured_bodies_stay_json() {
        let mut record = text_record("");
        record.body = Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "order".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(7)),
                    }),
                    ..Default::default()
                }],
            })),
        });
        let converted = convert_logs(request(vec![record]), &Limits::default(), window(), NOW);
        assert_eq!(
            converted.records[0].body,
            LogBody::Json(serde_json::json!({"order": 7}))
        );
    }

    #[test]
    fn bad_ids_and_out_of_window_times_are_rejected_individually() {
        let mut bad_id = text_record("x");
        bad_id.trace_id = vec![1; 3];
        let mut ancient = text_record("y");
        ancient.time_unix_nano = 1_000;
        let converted = convert_logs(
            request(vec![text_record("ok"), bad_id, ancient]),
            &Limits::default(),
            window(),
            NOW,
        );
        assert_eq!(converted.records.len(), 1);
        assert_eq!(converted.report.rejected, 2);
        let message = converted.report.message("log record(s)");
        assert!(message.contains("logRecords[1]: trace_id"), "{message}");
        assert!(message.contains("logRecords[2]: timestamp"), "{message}");
    }

    #[test]
    fn missing_time_falls_back_to_observed_time() {
        let mut record = text_record("x");
        record.time_unix_nano = 0;
        record.observed_time_unix_nano = (NOW.0 - 5) as u64;
        let converted = convert_logs(request(vec![record]), &Limits::default(), window(), NOW);
        assert_eq!(converted.records[0].timestamp, UnixNanos(NOW.0 - 5));
    }
}
