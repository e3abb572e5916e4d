//! HTTP: actix-web routes per area, the DTOs, the error mapping, auth and
//! metrics middleware. The only module that knows HTTP and the API's JSON.
//! Handlers parse, hand writes to the pipeline or run reads of
//! [`ReadSide`] on the blocking pool, and map results to DTOs; they never
//! touch SQLite or tantivy themselves.

mod alerts;
pub mod auth;
pub mod backup;
mod body;
mod dashboards;
mod dto;
pub mod error;
mod errors;
pub mod grpc;
mod health;
mod jaeger;
mod logs;
mod metrics;
mod otlp;
mod prometheus;
mod security;
pub mod self_metrics;
mod service_metrics;
mod spa;
mod stats;
mod traces;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};

use crate::config::Config;
use crate::pipeline::tail::TailHub;
use crate::pipeline::{IndexerStatus, ThreadHealth, WriterHandle};
use crate::query::{QueryError, ReadSide};
use crate::store::usage::UsageCache;
use crate::telemetry::Metrics;

/// Everything a handler may use, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub writer: WriterHandle,
    pub read: Arc<ReadSide>,
    pub indexer: Arc<IndexerStatus>,
    pub tail: Arc<TailHub>,
    pub metrics: Arc<Metrics>,
    /// The data directory's size, measured off the request path.
    pub usage: Arc<UsageCache>,
    /// Every supervised background thread, for health and `/metrics`.
    pub threads: Vec<Arc<ThreadHealth>>,
    /// The alert engine's and notifier's state, and alerting's options.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// Sessions, keys and the login limiter.
    pub security: Arc<crate::security::Security>,
    /// Redaction applied to every record before it is written.
    pub redactor: Arc<crate::ingest::redact::Redactor>,
    /// With `--max-disk`: the budget and the use measured against it.
    pub disk_budget: Option<Arc<crate::pipeline::disk_budget::DiskBudgetStatus>>,
    /// With `--forward-otlp`: each upstream's progress.
    pub forward: Option<Arc<crate::pipeline::ForwardStatus>>,
}

impl AppState {
    /// Whether accepted batches are forwarded (`--forward-otlp`).
    pub fn forwarding(&self) -> bool {
        !self.config.pipeline.forward_destinations.is_empty()
    }
}

/// Runs a read on the blocking pool.
pub async fn read<T: Send + 'static>(
    state: &web::Data<AppState>,
    work: impl FnOnce(&ReadSide) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, error::ApiError> {
    let read = Arc::clone(&state.read);
    Ok(web::block(move || work(&read)).await??)
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(auth::require_otlp_key))
            .route("/traces", web::post().to(otlp::post_traces))
            .route("/logs", web::post().to(otlp::post_logs))
            .route("/metrics", web::post().to(otlp::post_metrics)),
    )
    .service(
        web::scope("/api/ingest")
            .wrap(from_fn(auth::require_ingest_key))
            .route("/logs", web::post().to(logs::post_json_lines)),
    )
    .service(
        web::scope("/api/auth")
            .route("/session", web::get().to(security::session))
            .route("/login", web::post().to(security::login))
            .route("/logout", web::post().to(security::logout))
            .service(
                web::resource("/password")
                    .wrap(from_fn(auth::require_admin))
                    .route(web::post().to(security::change_password)),
            ),
    )
    .service(
        web::scope("/api/admin")
            .wrap(from_fn(auth::require_local_or_admin))
            .route("/backup", web::post().to(backup::create)),
    )
    .service(
        web::scope("/api")
            .wrap(from_fn(auth::require_admin))
            .route("/keys", web::get().to(security::list_keys))
            .route("/keys", web::post().to(security::create_key))
            .route("/keys/{id}", web::delete().to(security::revoke_key))
            .route("/audit", web::get().to(security::audit))
            .route("/logs", web::get().to(logs::search))
            .route("/logs/histogram", web::get().to(logs::histogram))
            .route("/logs/tail", web::get().to(logs::tail))
            .route("/stats", web::get().to(stats::stats))
            .route("/metrics/names", web::get().to(prometheus::metric_names))
            .route("/metrics/red", web::get().to(service_metrics::red))
            .route("/metrics/summary", web::get().to(service_metrics::summary))
            .route(
                "/dependencies",
                web::get().to(service_metrics::dependencies),
            )
            .route("/dashboards", web::get().to(dashboards::list))
            .route("/dashboards", web::post().to(dashboards::create))
            .route(
                "/dashboards/import/grafana",
                web::post().to(dashboards::import_grafana),
            )
            .route("/dashboards/{id}", web::get().to(dashboards::get))
            .route("/dashboards/{id}", web::put().to(dashboards::update))
            .route("/dashboards/{id}", web::delete().to(dashboards::delete))
            .route(
                "/dashboards/{id}/variables",
                web::get().to(dashboards::variables),
            )
            .route(
                "/dashboards/{id}/panels/{panel}/data",
                web::get().to(dashboards::panel),
            )
            .route("/errors", web::get().to(errors::list))
            .route("/errors/{id}", web::get().to(errors::get))
            .route("/errors/{id}/{action}", web::post().to(errors::act))
            .route("/alerts/rules", web::get().to(alerts::list_rules))
            .route("/alerts/rules", web::post().to(alerts::create_rule))
            .route(
                "/alerts/rules/evaluate",
                web::post().to(alerts::evaluate_spec),
            )
            .route(
                "/alerts/rules/preview",
                web::post().to(alerts::preview_spec),
            )
            .route("/alerts/rules/{id}", web::get().to(alerts::get_rule))
            .route("/alerts/rules/{id}", web::put().to(alerts::update_rule))
            .route("/alerts/rules/{id}", web::delete().to(alerts::delete_rule))
            .route(
                "/alerts/rules/{id}/evaluate",
                web::post().to(alerts::evaluate_rule),
            )
            .route(
                "/alerts/rules/{id}/preview",
                web::get().to(alerts::preview_rule),
            )
            .route("/alerts/instances", web::get().to(alerts::list_instances))
            .route(
                "/alerts/instances/{id}",
                web::get().to(alerts::get_instance),
            )
            .route(
                "/alerts/instances/{id}/ack",
                web::post().to(alerts::ack_instance),
            )
            .route(
                "/alerts/instances/{id}/resolve",
                web::post().to(alerts::resolve_instance),
            )
            .route(
                "/alerts/notifications/{id}/retry",
                web::post().to(alerts::retry_notification),
            )
            .route("/services", web::get().to(traces::services))
            .route(
                "/services/{service}/operations",
                web::get().to(traces::operations),
            )
            .route("/traces", web::get().to(traces::search))
            .route("/traces/{trace_id}", web::get().to(traces::get_trace))
            .route("/traces/{trace_id}/logs", web::get().to(logs::trace_logs)),
    )
    .service(
        web::scope("/prometheus/api/v1")
            .wrap(from_fn(auth::require_admin))
            .route("/query", web::get().to(prometheus::query))
            .route("/query", web::post().to(prometheus::query))
            .route("/query_range", web::get().to(prometheus::query_range))
            .route("/query_range", web::post().to(prometheus::query_range))
            .route(
                "/query_exemplars",
                web::get().to(prometheus::query_exemplars),
            )
            .route(
                "/query_exemplars",
                web::post().to(prometheus::query_exemplars),
            )
            .route("/labels", web::get().to(prometheus::labels))
            .route("/labels", web::post().to(prometheus::labels))
            .route(
                "/label/{name}/values",
                web::get().to(prometheus::label_values),
            )
            .route("/series", web::get().to(prometheus::series))
            .route("/series", web::post().to(prometheus::series))
            .route("/metadata", web::get().to(prometheus::metadata))
            .route("/status/buildinfo", web::get().to(prometheus::buildinfo))
            .default_service(web::to(prometheus::not_found)),
    )
    .service(
        web::scope("/jaeger/api")
            .wrap(from_fn(auth::require_admin))
            .route("/services", web::get().to(jaeger::services))
            .route(
                "/services/{service}/operations",
                web::get().to(jaeger::service_operations),
            )
            .route("/operations", web::get().to(jaeger::operations))
            .route("/traces", web::get().to(jaeger::search))
            .route("/traces/{trace_id}", web::get().to(jaeger::trace))
            .route("/dependencies", web::get().to(jaeger::dependencies))
            .default_service(web::to(jaeger::not_found)),
    )
    .route("/health", web::get().to(health::health))
    .route("/health/deep", web::get().to(health::deep))
    .route("/metrics", web::get().to(metrics::metrics))
    .default_service(web::to(spa::serve));
}

async fn not_found() -> Result<HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound("no such route".into()))
}

/// Builds the HTTP server on an already bound listener: CORS, request
/// metrics, auth and the routes, on every worker.
pub fn server(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                error::ApiError::BadRequest(format!("invalid query string: {error}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|error, _| {
                error::ApiError::BadRequest(format!("invalid path: {error}")).into()
            }))
            .configure(configure)
            .wrap(from_fn(record_request))
            .wrap(cors(&state.config.cors_origins))
    })
    .listen(listener)?
    // In-flight ingest requests wait for their commit; give them time.
    .shutdown_timeout(30);
    // Signals are handled by `app`, which ends live tails before stopping.
    Ok(server.disable_signals().run())
}

/// Counts every request by method, route pattern and status, and times it.
async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| Arc::clone(&state.metrics));
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let result = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        metrics.record_http(&method, &route, status, started.elapsed().as_secs_f64());
    }
    result
}

fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::CONTENT_ENCODING,
            actix_web::http::header::AUTHORIZATION,
        ])
        .allowed_header("x-api-key")
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
