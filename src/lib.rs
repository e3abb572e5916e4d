//! lookout: a single-binary observability appliance. OTLP/HTTP ingest into
//! SQLite through one writer thread, a query API and operations endpoints.
//! See ARCHITECTURE.md for the map of modules and their invariants.

pub mod admin;
pub mod alerts;
pub mod app;
pub mod backup;
pub mod check;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod ingest;
pub mod model;
pub mod outbound;
pub mod pipeline;
pub mod query;
pub mod security;
pub mod store;
pub mod telemetry;
pub mod web;
