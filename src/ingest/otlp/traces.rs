//! OTLP traces: converting `ExportTraceServiceRequest` into model span
//! batches with per-span validation. Invalid spans are rejected one by one
//! into the report that becomes `partial_success`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::values::{convert_attributes, service_name, truncate};
use crate::ingest::{Limits, Report};
use crate::model::{
    Resource, Scope, Span, SpanBatch, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, TraceId,
    UnixNanos,
};

/// The result of converting one request: the valid spans and what was
/// rejected or cut, for the partial-success answer.
#[derive(Debug, Default)]
pub struct Converted {
    pub batch: SpanBatch,
    pub report: Report,
}

/// Converts and validates every span. Invalid spans are rejected one by one;
/// resources and scopes are only kept if one of their spans is.
pub fn convert_traces(request: ExportTraceServiceRequest, limits: &Limits) -> Converted {
    let mut out = Converted::default();
    for (resource_index, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource_attributes = resource_spans
            .resource
            .map(|resource| {
                convert_attributes(resource.attributes, limits, &mut out.report.trimmed)
            })
            .unwrap_or_default();
        let service = service_name(&resource_attributes);
        let mut resource = Some(Resource {
            service,
            attributes: resource_attributes,
        });
        let mut resource_slot = None;
        for (scope_index, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let mut scope = Some(
                scope_spans
                    .scope
                    .map(|scope| Scope {
                        name: scope.name,
                        version: scope.version,
                    })
                    .unwrap_or_default(),
            );
            let mut scope_slot = None;
            for (span_index, span) in scope_spans.spans.into_iter().enumerate() {
                let converted = convert_span(span, limits, &mut out.report.trimmed);
                match converted {
                    Ok(mut span) => {
                        span.resource = *resource_slot.get_or_insert_with(|| {
                            out.batch.resources.extend(resource.take());
                            out.batch.resources.len() - 1
                        });
                        span.scope = *scope_slot.get_or_insert_with(|| {
                            out.batch.scopes.extend(scope.take());
                            out.batch.scopes.len() - 1
                        });
                        out.batch.spans.push(span);
                    }
                    Err(reason) => {
                        out.report.reject(format!(
                            "resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]: {reason}"
                        ));
                    }
                }
            }
        }
    }
    out
}

fn convert_span(
    span: opentelemetry_proto::tonic::trace::v1::Span,
    limits: &Limits,
    trimmed: &mut u64,
) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&span.trace_id).map_err(|e| e.to_string())?;
    let span_id = SpanId::from_bytes(&span.span_id).map_err(|e| e.to_string())?;
    // An all-zero parent id means "no parent" too, as the OpenTelemetry
    // Collector reads it.
    let parent_span_id = if span.parent_span_id.iter().all(|byte| *byte == 0) {
        None
    } else {
        Some(SpanId::from_bytes(&span.parent_span_id).map_err(|e| format!("parent_{e}"))?)
    };
    if span.start_time_unix_nano == 0 {
        return Err("start_time_unix_nano is required".into());
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err("end_time_unix_nano is before start_time_unix_nano".into());
    }
    let mut links = Vec::with_capacity(span.links.len());
    for link in span.links {
        links.push(SpanLink {
            trace_id: TraceId::from_bytes(&link.trace_id).map_err(|e| format!("link {e}"))?,
            span_id: SpanId::from_bytes(&link.span_id).map_err(|e| format!("link {e}"))?,
            trace_state: link.trace_state,
            attributes: convert_attributes(link.attributes, limits, trimmed),
        });
    }
    let events = span
        .events
        .into_iter()
        .map(|event| SpanEvent {
            name: event.name,
            time: UnixNanos::from_u64(event.time_unix_nano),
            attributes: convert_attributes(event.attributes, limits, trimmed),
        })
        .collect();
    let (status_code, status_message) = span
        .status
        .map(|status| (StatusCode::from_i32(status.code), status.message))
        .unwrap_or((StatusCode::Unset, String::new()));
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: truncate(span.name, limits.max_attribute_value_bytes, trimmed),
        kind: SpanKind::from_i32(span.kind),
        start: UnixNanos::from_u64(span.start_time_unix_nano),
        end: UnixNanos::from_u64(span.end_time_unix_nano),
        status_code,
        status_message: truncate(status_message, limits.max_attribute_value_bytes, trimmed),
        attributes: convert_attributes(span.attributes, limits, trimmed),
        events,
        links,
        resource: 0,
        scope: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::{decode_traces, encode_trace_response, Accepted, Encoding};
    use crate::model::AttrValue;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
    use prost::Message;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn span(trace: u8, id: u8) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            name: "op".into(),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            ..Default::default()
        }
    }

    fn request(spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue("svc".into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn content_types_are_matched_without_parameters() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }

    #[test]
    fn invalid_spans_are_rejected_one_by_one() {
        let mut bad_trace = span(1, 2);
        bad_trace.trace_id = vec![1; 15];
        let mut zero_span = span(1, 3);
        zero_span.span_id = vec![0; 8];
        let converted = convert_traces(
            request(vec![span(1, 1), bad_trace, zero_span]),
            &Limits::default(),
        );
        assert_eq!(converted.batch.spans.len(), 1);
        assert_eq!(converted.report.rejected, 2);
        let message = converted.report.message("span(s)");
        assert!(
            message.contains("spans[1]: trace_id must be 16 bytes"),
            "{message}"
        );
        assert!(
            message.contains("spans[2]: span_id must not be all zeros"),
            "{message}"
        );
        assert_eq!(converted.batch.resources[0].service, "svc");
    }

    #[test]
    fn resources_of_fully_rejected_spans_are_not_kept() {
        let mut bad = span(1, 1);
        bad.span_id = vec![];
        let converted = convert_traces(request(vec![bad]), &Limits::default());
        assert!(converted.batch.resources.is_empty());
        assert!(converted.batch.scopes.is_empty());
    }

    #[test]
    fn limits_truncate_values_and_drop_extra_attributes() {
        let limits = Limits {
            max_attributes: 2,
            max_attribute_value_bytes: 4,
            ..Limits::default()
        };
        let mut long = span(1, 1);
        long.attributes = vec![
            kv("a", any_value::Value::StringValue("héllo".into())),
            kv("b", any_value::Value::IntValue(1)),
            kv("c", any_value::Value::IntValue(2)),
        ];
        let converted = convert_traces(request(vec![long]), &limits);
        let attributes = &converted.batch.spans[0].attributes;
        assert_eq!(attributes.len(), 2);
        assert_eq!(attributes[0].1, AttrValue::String("hél".into()));
        assert_eq!(converted.report.trimmed, 2);
        assert_eq!(converted.report.rejected, 0);
    }

    #[test]
    fn json_uses_hex_ids_and_string_integers() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
            "scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
            "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
            "attributes":[{"key":"n","value":{"intValue":"42"}}],"unknownField":true}]}]}]}"#;
        let request = decode_traces(body, Encoding::Json).expect("decodes");
        let converted = convert_traces(request, &Limits::default());
        let span = &converted.batch.spans[0];
        assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.start, UnixNanos(1_544_712_660_000_000_000));
        assert_eq!(span.attributes[0].1, AttrValue::Int(42));
    }

    #[test]
    fn responses_carry_partial_success_in_both_encodings() {
        let json = encode_trace_response(
            Accepted {
                rejected: 2,
                message: "bad".into(),
            },
            Encoding::Json,
        );
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            value["partialSuccess"]["rejectedSpans"],
            serde_json::json!(2)
        );
        let proto = encode_trace_response(Accepted::default(), Encoding::Protobuf);
        let decoded = ExportTraceServiceResponse::decode(proto.as_slice()).expect("proto");
        assert!(decoded.partial_success.is_none());
    }
}
