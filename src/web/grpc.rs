//! OTLP/gRPC on `--grpc-listen` (4317, the SDKs' default): tonic's
//! generated trace, logs and metrics services, served on the tokio runtime
//! actix runs on. A call goes the way an OTLP/HTTP request goes after its
//! body is decoded (`web::otlp::accept_*`: the same limits, redaction,
//! writer and durable ack), so the two transports cannot drift apart; only
//! the envelope differs:
//!
//! - credentials come from the `authorization` (`Bearer KEY`) or
//!   `x-api-key` metadata, checked as for HTTP;
//! - an error is a gRPC status with the code OTLP/HTTP's `google.rpc.Status`
//!   carries; `UNAVAILABLE` (full queue, log indexing behind, storage
//!   unavailable) carries a `RetryInfo` detail, which OTLP exporters honour;
//! - gzip-compressed messages are accepted; a message (also once
//!   decompressed) is capped at `Limits::max_decompressed_bytes`.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web;
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{http, Service};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::error::{ApiError, RETRY_AFTER_SECONDS};
use super::otlp::{accept_logs, accept_metrics, accept_traces, admit_logs};
use super::AppState;
use crate::ingest::otlp;
use crate::ingest::otlp::grpc::{
    ExportLogsServiceRequest, ExportLogsServiceResponse, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse, ExportTraceServiceRequest, ExportTraceServiceResponse,
    LogsService, LogsServiceServer, MetricsService, MetricsServiceServer, TraceService,
    TraceServiceServer,
};
use crate::model::UnixNanos;
use crate::telemetry::Metrics;

/// The binary trailer with a `google.rpc.RetryInfo`.
const RETRY_INFO_TRAILER: &str = "google.rpc.retryinfo-bin";

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// The three OTLP services over one state.
#[derive(Clone)]
struct Otlp {
    state: web::Data<AppState>,
}

impl Otlp {
    /// Checks the caller's ingest credentials, then runs the call.
    async fn call<T, F>(
        &self,
        metadata: &MetadataMap,
        run: impl FnOnce() -> F,
    ) -> Result<Response<T>, Status>
    where
        F: Future<Output = Result<T, ApiError>>,
    {
        let outcome = match self.authorize(metadata) {
            Ok(()) => run().await,
            Err(error) => Err(error),
        };
        outcome.map(Response::new).map_err(|error| status(&error))
    }

    fn authorize(&self, metadata: &MetadataMap) -> Result<(), ApiError> {
        if self
            .state
            .security
            .check_ingest(presented_key(metadata), UnixNanos::now())
        {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "ingest needs an API key: send the metadata authorization: Bearer <key> or x-api-key"
                    .into(),
            ))
        }
    }
}

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, export) = request.into_parts();
        self.call(&metadata, || async {
            accept_traces(&self.state, export, None)
                .await
                .map(otlp::trace_response)
        })
        .await
    }
}

#[tonic::async_trait]
impl LogsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (metadata, _, export) = request.into_parts();
        self.call(&metadata, || async {
            admit_logs(&self.state)?;
            accept_logs(&self.state, export, None)
                .await
                .map(otlp::logs_response)
        })
        .await
    }
}

#[tonic::async_trait]
impl MetricsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (metadata, _, export) = request.into_parts();
        self.call(&metadata, || async {
            accept_metrics(&self.state, export, None)
                .await
                .map(otlp::metrics_response)
        })
        .await
    }
}

/// The key a call presents: `authorization: Bearer KEY`, else `x-api-key`.
fn presented_key(metadata: &MetadataMap) -> Option<&str> {
    let value = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    super::auth::presented_ingest_key(value("authorization"), value("x-api-key"))
}

/// The gRPC status of an error: the code OTLP/HTTP bodies carry, the
/// public message, and for `UNAVAILABLE` when to retry.
fn status(error: &ApiError) -> Status {
    error.log();
    let code = Code::from_i32(error.grpc_code());
    let message = error.public_message();
    if code != Code::Unavailable {
        return Status::new(code, message);
    }
    let delay = Duration::from_secs(u64::from(RETRY_AFTER_SECONDS));
    let mut status =
        Status::with_error_details(code, message, ErrorDetails::with_retry_info(Some(delay)));
    // OpenTelemetry's Python exporter reads the delay from a trailer of
    // its own rather than from the status details.
    let retry_info = tonic_types::pb::RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: i64::from(RETRY_AFTER_SECONDS),
            nanos: 0,
        }),
    };
    status.metadata_mut().insert_bin(
        RETRY_INFO_TRAILER,
        MetadataValue::from_bytes(&retry_info.encode_to_vec()),
    );
    status
}

/// Counts every call by method and the status it ended with, including
/// the ones tonic refuses before a service runs (a message past the size
/// limit, one that does not decode, an unknown method). A refusal is a
/// trailers-only answer, its `grpc-status` in the headers; an answer
/// without one there is a success.
#[derive(Clone)]
struct CountCalls<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> Service<http::Request<B>> for CountCalls<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = match request.uri().path() {
            TRACES => TRACES,
            LOGS => LOGS,
            METRICS => METRICS,
            _ => "other",
        };
        let metrics = Arc::clone(&self.metrics);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<i32>().ok())
                .map_or(Code::Ok, Code::from_i32);
            metrics.record_grpc(method, code_name(code));
            Ok(response)
        })
    }
}

/// The canonical name of a status code, as `/metrics` labels it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Binds the gRPC listener (so a taken port fails the start, before
/// anything serves).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then lets
/// calls in flight finish (their writes are acknowledged only once
/// durable). Must run inside a tokio runtime.
pub async fn serve(
    state: web::Data<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max_message = state.config.limits.max_decompressed_bytes;
    let metrics = Arc::clone(&state.metrics);
    let service = Otlp { state };
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot serve OTLP/gRPC on its listener");
            return Ok(());
        }
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .layer(tower::layer::layer_fn(move |inner| CountCalls {
            inner,
            metrics: Arc::clone(&metrics),
        }))
        .add_service(
            TraceServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
        )
        .add_service(
            LogsServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
        )
        .add_service(
            MetricsServiceServer::new(service)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::Accepted;

    #[test]
    fn keys_come_from_authorization_or_x_api_key() {
        let mut metadata = MetadataMap::new();
        assert_eq!(presented_key(&metadata), None);
        metadata.insert("x-api-key", "k2".parse().expect("value"));
        assert_eq!(presented_key(&metadata), Some("k2"));
        metadata.insert("authorization", "Bearer k1".parse().expect("value"));
        assert_eq!(presented_key(&metadata), Some("k1"));
    }

    #[test]
    fn unavailable_carries_when_to_retry() {
        let busy = status(&ApiError::Busy);
        assert_eq!(busy.code(), Code::Unavailable);
        let retry = busy.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
        let trailer = busy
            .metadata()
            .get_bin(RETRY_INFO_TRAILER)
            .and_then(|value| value.to_bytes().ok())
            .expect("the retry-info trailer");
        let decoded = tonic_types::pb::RetryInfo::decode(trailer.as_ref()).expect("a RetryInfo");
        assert_eq!(decoded.retry_delay.map(|delay| delay.seconds), Some(1));
        let bad = status(&ApiError::BadRequest("no".into()));
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(bad.get_details_retry_info().is_none());
        assert_eq!(
            status(&ApiError::Unauthorized("key".into())).code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn accepted_answers_carry_partial_success() {
        let answer = otlp::trace_response(Accepted {
            rejected: 3,
            message: "3 span(s) rejected".into(),
        });
        let partial = answer.partial_success.expect("partial success");
        assert_eq!(partial.rejected_spans, 3);
        assert!(otlp::trace_response(Accepted::default())
            .partial_success
            .is_none());
    }
}
