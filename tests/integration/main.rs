//! lookout's integration tests: one binary that starts the real app
//! in-process (`TestServer`) or the real executable, and talks HTTP to it.

mod alertmanager;
mod alerts;
mod backup;
mod bad_input;
mod check;
mod dashboards;
mod disk_budget;
mod disk_full;
mod errors;
mod forwarding;
mod foundations;
mod grpc;
mod ingest;
mod jaeger;
mod logs;
mod metrics;
mod operations;
mod process;
mod promql_diff;
mod python_sdk;
mod query;
mod receiver;
mod security;
mod service_metrics;
mod support;
