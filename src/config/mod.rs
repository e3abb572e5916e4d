//! Configuration: defaults < `--config` TOML file < `LOOKOUT_*` environment
//! < command-line flags. Parsed and validated once at start; the resulting
//! [`Config`] is passed explicitly (there are no globals).
//!
//! The options exist once, as [`ServeOptions`] (`cli.rs`): flags, variables
//! and file keys are all derived from it.

mod cli;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ingest::Limits;
use crate::pipeline::PipelineOptions;
use crate::store::StoreOptions;
use crate::telemetry::LogFormat;

pub use cli::{
    known_env_vars, parse_args, parse_from, unknown_env_vars, CheckOptions, Cli, Command,
    Invocation, ServeOptions,
};
pub use values::{parse_duration, parse_size};
use values::{parse_grpc_listen, parse_listen};

/// Default of `--data-dir`.
pub const DEFAULT_DATA_DIR: &str = "./lookout-data";

/// Default of `--log-max-lag`: ingested logs are searchable within 2 s,
/// or ingest says it is behind (twice `--log-refresh` when that is longer).
pub const DEFAULT_LOG_MAX_LAG: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid value for {option}: {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
    #[error("cannot read config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{flag} does not apply to `lookout {command}`")]
    NotFor { flag: String, command: &'static str },
    #[error("{0}")]
    Usage(String),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// OTLP/gRPC's address; `None`: no gRPC listener.
    pub grpc_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub retention: Duration,
    /// `--max-disk`: the data directory's size budget in bytes.
    pub max_disk: Option<u64>,
    pub log_refresh: Duration,
    /// Searchability bound of log ingest; `Duration::ZERO` turns it off.
    pub log_max_lag: Duration,
    pub admin_token: Option<String>,
    pub api_keys: Vec<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub cors_origins: Vec<String>,
    pub limits: Limits,
    pub pipeline: PipelineOptions,
    pub store: StoreOptions,
    pub alerts: crate::alerts::AlertOptions,
    /// How often lookout records its own metrics; `None`: never.
    pub self_metrics_interval: Option<Duration>,
    /// Sessions and the audit log.
    pub security: crate::security::SecurityOptions,
    /// What is redacted before storage.
    pub redaction: crate::ingest::redact::RedactionRules,
    /// `--forward-otlp` upstreams with their headers (their URLs are also
    /// `pipeline.forward_destinations`).
    pub forward: Vec<crate::pipeline::Upstream>,
}

impl Config {
    /// Defaults suitable for tests: a free loopback port and `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            // In-process tests speak HTTP; the gRPC tests turn it on.
            grpc_listen: None,
            data_dir: data_dir.to_path_buf(),
            retention: Duration::from_secs(7 * 24 * 3600),
            max_disk: None,
            log_refresh: Duration::from_secs(1),
            log_max_lag: DEFAULT_LOG_MAX_LAG,
            admin_token: None,
            api_keys: Vec::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            cors_origins: Vec::new(),
            limits: Limits::default(),
            pipeline: PipelineOptions::default(),
            store: StoreOptions::default(),
            alerts: crate::alerts::AlertOptions::default(),
            // Tests count series; the ones that want lookout's own turn
            // it on.
            self_metrics_interval: None,
            security: crate::security::SecurityOptions::default(),
            redaction: crate::ingest::redact::RedactionRules::default(),
            forward: Vec::new(),
        }
    }

    /// Merges flags/env (already merged by clap), the config file and
    /// defaults, and validates the result.
    pub fn resolve(given: &ServeOptions) -> Result<Config, ConfigError> {
        let cli = &with_file(given)?;
        let listen_text = cli
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:4318".into());
        let listen = parse_listen(&listen_text)?;
        let grpc_listen = parse_grpc_listen(cli.grpc_listen.as_deref(), listen)?;
        let data_dir = cli
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let retention_text = cli.retention.clone().unwrap_or_else(|| "7d".into());
        let retention = parse_duration("--retention", &retention_text)?;
        if retention < Duration::from_secs(60) {
            return Err(invalid("--retention", "must be at least 1m".into()));
        }
        let max_disk = match &cli.max_disk {
            None => None,
            Some(text) if text.trim().eq_ignore_ascii_case("none") => None,
            Some(text) => {
                let bytes = parse_size("--max-disk", text)? as u64;
                if bytes < crate::pipeline::disk_budget::MIN_BUDGET {
                    return Err(invalid(
                        "--max-disk",
                        format!(
                            "{text} is too small to work: the WAL, index merges and a margin for the next deletes need room too; the minimum is {} MiB",
                            crate::pipeline::disk_budget::MIN_BUDGET >> 20
                        ),
                    ));
                }
                Some(bytes)
            }
        };
        let log_refresh_text = cli.log_refresh.clone().unwrap_or_else(|| "1s".into());
        let log_refresh = parse_duration("--log-refresh", &log_refresh_text)?;
        if log_refresh < Duration::from_millis(10) || log_refresh > Duration::from_secs(60) {
            return Err(invalid(
                "--log-refresh",
                "must be between 10ms and 60s".into(),
            ));
        }
        let log_max_lag = match cli.log_max_lag.clone() {
            Some(text) if text.trim() == "0" => Duration::ZERO,
            Some(text) => parse_duration("--log-max-lag", &text)?,
            // A longer refresh alone must not make the default invalid.
            None => DEFAULT_LOG_MAX_LAG.max(log_refresh * 2),
        };
        if !log_max_lag.is_zero() && log_max_lag <= log_refresh {
            return Err(invalid(
                "--log-max-lag",
                format!(
                    "must be 0 (off) or longer than --log-refresh ({})",
                    humantime::format_duration(log_refresh)
                ),
            ));
        }
        let admin_token = cli.admin_token.clone().filter(|t| !t.is_empty());
        if let Some(token) = &admin_token {
            if token.len() < 16 {
                return Err(invalid(
                    "--admin-token",
                    "must be at least 16 characters".into(),
                ));
            }
        }
        let api_keys: Vec<String> = cli
            .api_keys
            .iter()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect();
        if api_keys.iter().any(|key| key.len() < 16) {
            return Err(invalid(
                "--api-key",
                "each key must be at least 16 characters".into(),
            ));
        }
        let log_level = cli.log_level.clone().unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "--log-level",
                format!("{log_level:?} is not a log level or filter"),
            ));
        }
        let cors_origins = cli.cors_origins.clone();
        let queue_capacity = cli.queue_capacity.unwrap_or(256);
        if queue_capacity == 0 {
            return Err(invalid("--queue-capacity", "must be at least 1".into()));
        }
        let defaults = Limits::default();
        let max_request_bytes = match cli.max_request_size.clone() {
            Some(text) => parse_size("--max-request-size", &text)?,
            None => defaults.max_request_bytes,
        };
        let max_decompressed_bytes = match cli.max_decompressed_size.clone() {
            Some(text) => parse_size("--max-decompressed-size", &text)?,
            None => defaults.max_decompressed_bytes,
        };
        let max_attributes = cli.max_attributes.unwrap_or(defaults.max_attributes);
        let max_attribute_value_bytes = cli
            .max_attribute_length
            .unwrap_or(defaults.max_attribute_value_bytes);
        if max_attribute_value_bytes < 16 {
            return Err(invalid(
                "--max-attribute-length",
                "must be at least 16".into(),
            ));
        }
        let span_series_limit = cli
            .span_series_limit
            .unwrap_or(crate::store::sqlite::DEFAULT_SPAN_SERIES_LIMIT);
        if span_series_limit == 0 {
            return Err(invalid("--span-series-limit", "must be at least 1".into()));
        }
        let metric_defaults = crate::store::sqlite::metrics::SeriesLimits::default();
        let metric_series_limits = crate::store::sqlite::metrics::SeriesLimits {
            total: cli.metric_series_limit.unwrap_or(metric_defaults.total),
            per_metric: cli
                .metric_series_per_metric_limit
                .unwrap_or(metric_defaults.per_metric),
        };
        if metric_series_limits.total == 0 {
            return Err(invalid(
                "--metric-series-limit",
                "must be at least 1".into(),
            ));
        }
        if metric_series_limits.per_metric == 0 {
            return Err(invalid(
                "--metric-series-per-metric-limit",
                "must be at least 1".into(),
            ));
        }
        let alert_interval = match &cli.alert_interval {
            Some(text) => parse_duration("--alert-interval", text)?,
            None => Duration::from_secs(30),
        };
        if alert_interval < Duration::from_secs(1) || alert_interval > Duration::from_secs(3_600) {
            return Err(invalid(
                "--alert-interval",
                "must be between 1s and 1h".into(),
            ));
        }
        let notify_max_age = match &cli.notify_max_age {
            Some(text) => parse_duration("--notify-max-age", text)?,
            None => Duration::from_secs(3_600),
        };
        if notify_max_age < Duration::from_secs(1) {
            return Err(invalid("--notify-max-age", "must be at least 1s".into()));
        }
        let public_url = cli
            .public_url
            .clone()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if !(public_url.is_empty()
            || public_url.starts_with("http://")
            || public_url.starts_with("https://"))
        {
            return Err(invalid(
                "--public-url",
                format!("{public_url:?} is not an http or https URL"),
            ));
        }
        let self_metrics_interval = match cli.self_metrics_interval.as_deref() {
            Some("off") => None,
            Some(text) => {
                let interval = parse_duration("--self-metrics-interval", text)?;
                if interval < Duration::from_secs(1) || interval > Duration::from_secs(3_600) {
                    return Err(invalid(
                        "--self-metrics-interval",
                        "must be between 1s and 1h, or off".into(),
                    ));
                }
                Some(interval)
            }
            None => Some(Duration::from_secs(15)),
        };
        let security = security_options(cli, public_url.starts_with("https://"))?;
        let redaction = redaction_rules(cli)?;
        #[cfg(feature = "test-hooks")]
        let writer_delay = match &cli.test_writer_delay {
            Some(text) => parse_duration("--test-writer-delay", text)?,
            None => Duration::ZERO,
        };
        let forward = forward_upstreams(cli)?;
        let forward_max_outbox_bytes = match &cli.forward_max_outbox {
            Some(text) => parse_size("--forward-max-outbox", text)? as u64,
            None => crate::pipeline::DEFAULT_FORWARD_MAX_OUTBOX,
        };
        let config = Config {
            listen,
            grpc_listen,
            data_dir,
            retention,
            max_disk,
            log_refresh,
            log_max_lag,
            admin_token,
            api_keys,
            log_format: cli.log_format.unwrap_or(LogFormat::Text),
            log_level,
            cors_origins,
            limits: Limits {
                max_request_bytes,
                max_decompressed_bytes,
                max_attributes,
                max_attribute_value_bytes,
            },
            pipeline: PipelineOptions {
                queue_capacity,
                forward_destinations: forward.iter().map(|u| u.url.clone()).collect(),
                forward_max_outbox_bytes,
                #[cfg(feature = "test-hooks")]
                writer_delay,
                ..PipelineOptions::default()
            },
            store: StoreOptions {
                synchronous_full: cli.sync_full.unwrap_or(false),
                span_series_limit,
                metric_series_limits,
                ..StoreOptions::default()
            },
            alerts: crate::alerts::AlertOptions {
                interval: alert_interval,
                notify_max_age,
                public_url,
                ..crate::alerts::AlertOptions::default()
            },
            self_metrics_interval,
            security,
            redaction,
            forward,
        };
        Ok(config)
    }
}

/// `--forward-otlp`, `--forward-header`, `--forward-protocol` and
/// `--forward-compression`: http(s) base URLs (a trailing `/` dropped),
/// each with every header, the protocol and the compression.
fn forward_upstreams(cli: &ServeOptions) -> Result<Vec<crate::pipeline::Upstream>, ConfigError> {
    use crate::pipeline::Protocol;
    let protocol = match cli.forward_protocol.as_deref().map(str::trim) {
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some("grpc") => Protocol::Grpc,
        Some(other) => {
            return Err(invalid(
                "--forward-protocol",
                format!("{other:?} is not http/protobuf or grpc"),
            ))
        }
    };
    let gzip = match cli.forward_compression.as_deref().map(str::trim) {
        None | Some("none") => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(invalid(
                "--forward-compression",
                format!("{other:?} is not none or gzip"),
            ))
        }
    };
    let mut headers = Vec::new();
    for header in &cli.forward_headers {
        let (name, value) = header
            .split_once('=')
            .or_else(|| header.split_once(':'))
            .filter(|(name, _)| {
                !name.trim().is_empty()
                    && name
                        .trim()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .ok_or_else(|| invalid("--forward-header", format!("{header:?} is not NAME=VALUE")))?;
        // What an HTTP header and a gRPC ASCII metadata value can hold.
        if !value.trim().bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(invalid(
                "--forward-header",
                format!("the value of {:?} is not printable ASCII", name.trim()),
            ));
        }
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut upstreams: Vec<crate::pipeline::Upstream> = Vec::new();
    for url in &cli.forward_otlp {
        let url = url.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(str::is_empty) {
            return Err(invalid(
                "--forward-otlp",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        if upstreams.iter().any(|u| u.url == url) {
            continue;
        }
        upstreams.push(crate::pipeline::Upstream {
            url,
            protocol,
            gzip,
            headers: headers.clone(),
        });
    }
    if upstreams.is_empty()
        && (!headers.is_empty()
            || cli.forward_protocol.is_some()
            || cli.forward_compression.is_some())
    {
        return Err(invalid(
            "--forward-header",
            "forwarding options need an upstream: add --forward-otlp URL".into(),
        ));
    }
    Ok(upstreams)
}

/// `--session-idle`, `--session-max-age`, `--audit-retention`.
fn security_options(
    cli: &ServeOptions,
    secure_cookie: bool,
) -> Result<crate::security::SecurityOptions, ConfigError> {
    let defaults = crate::security::SecurityOptions::default();
    let duration = |option: &'static str, given: &Option<String>, default: Duration| {
        let value = match given {
            Some(text) => parse_duration(option, text)?,
            None => default,
        };
        if value < Duration::from_secs(60) {
            return Err(invalid(option, "must be at least 1m".into()));
        }
        Ok(value)
    };
    let session_idle = duration("--session-idle", &cli.session_idle, defaults.session_idle)?;
    let session_max_age = duration(
        "--session-max-age",
        &cli.session_max_age,
        defaults.session_max_age,
    )?;
    let audit_retention = duration(
        "--audit-retention",
        &cli.audit_retention,
        defaults.audit_retention,
    )?;
    Ok(crate::security::SecurityOptions {
        session_idle,
        session_max_age,
        audit_retention,
        secure_cookie,
    })
}

/// `--redact-keys` and `--redact-patterns`, checked by compiling them.
fn redaction_rules(
    cli: &ServeOptions,
) -> Result<crate::ingest::redact::RedactionRules, ConfigError> {
    use crate::ingest::redact::{parse_keys, parse_patterns, RedactionRules, Redactor};
    let mut rules = RedactionRules::default();
    if let Some(text) = &cli.redact_keys {
        rules.keys = parse_keys(text);
    }
    if let Some(text) = &cli.redact_patterns {
        rules.patterns =
            parse_patterns(text).map_err(|message| invalid("--redact-patterns", message))?;
    }
    Redactor::new(&rules).map_err(|message| invalid("--redact-patterns", message))?;
    Ok(rules)
}

/// The data directory `lookout check` inspects: the flag, environment or
/// config file value, or the default. Nothing else of serve's
/// configuration (listen address, auth) is read or validated.
pub fn resolve_data_dir(check: &CheckOptions) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = &check.data_dir {
        return Ok(dir.clone());
    }
    let file = match &check.config {
        Some(path) => read_file(path)?,
        None => ServeOptions::default(),
    };
    Ok(file
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
}

fn invalid(option: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { option, message }
}

/// `given` with the `--config` file's values for the options not given as
/// a flag or variable (an unset option is null or an empty list).
fn with_file(given: &ServeOptions) -> Result<ServeOptions, ConfigError> {
    let Some(path) = &given.config else {
        return Ok(given.clone());
    };
    let file = cli::fields(&read_file(path)?)?;
    let mut merged = cli::fields(given)?;
    for (key, value) in file {
        let unset = match merged.get(&key) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::Array(items)) => items.is_empty(),
            Some(_) => false,
        };
        if unset {
            merged.insert(key, value);
        }
    }
    let mut options = cli::from_fields(merged)?;
    options.config.clone_from(&given.config);
    #[cfg(feature = "test-hooks")]
    options
        .test_writer_delay
        .clone_from(&given.test_writer_delay);
    Ok(options)
}

/// The `--config` TOML file: the keys of [`ServeOptions`], unknown ones
/// refused.
fn read_file(path: &Path) -> Result<ServeOptions, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ServeOptions {
        ServeOptions::default()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::resolve(&options()).expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:4318".parse().expect("addr"));
        assert_eq!(config.data_dir, PathBuf::from("./lookout-data"));
        assert_eq!(config.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.limits.max_decompressed_bytes, 20 << 20);
        assert_eq!(config.log_max_lag, Duration::from_secs(2));
        assert_eq!(
            config.grpc_listen,
            Some("127.0.0.1:4317".parse().expect("addr"))
        );
    }

    #[test]
    fn forwarding_options_are_read_and_checked() {
        let mut cli = options();
        cli.forward_otlp = vec![
            "http://central:4318/".into(),
            "https://backend.example/otlp".into(),
            "http://central:4318".into(),
        ];
        cli.forward_headers = vec!["authorization=Bearer a=b".into(), "x-tenant: edge-7".into()];
        cli.forward_max_outbox = Some("64MiB".into());
        let config = Config::resolve(&cli).expect("valid");
        let urls: Vec<&str> = config.forward.iter().map(|u| u.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://central:4318", "https://backend.example/otlp"]
        );
        assert_eq!(
            config.forward[0].headers,
            [
                ("authorization".to_string(), "Bearer a=b".to_string()),
                ("x-tenant".to_string(), "edge-7".to_string())
            ]
        );
        assert_eq!(config.pipeline.forward_destinations, urls);
        assert_eq!(config.pipeline.forward_max_outbox_bytes, 64 << 20);
        assert_eq!(
            config.forward[0].protocol,
            crate::pipeline::Protocol::HttpProtobuf
        );
        assert!(!config.forward[0].gzip);
        cli.forward_protocol = Some("grpc".into());
        cli.forward_compression = Some("gzip".into());
        let config = Config::resolve(&cli).expect("valid");
        assert!(config
            .forward
            .iter()
            .all(|u| u.protocol == crate::pipeline::Protocol::Grpc && u.gzip));
        let error = |change: fn(&mut ServeOptions)| {
            let mut cli = options();
            change(&mut cli);
            Config::resolve(&cli).expect_err("invalid").to_string()
        };
        assert!(
            error(|cli| cli.forward_otlp = vec!["central:4318".into()]).contains("--forward-otlp")
        );
        assert!(error(|cli| {
            cli.forward_otlp = vec!["http://central".into()];
            cli.forward_headers = vec!["no value".into()];
        })
        .contains("--forward-header"));
        assert!(error(|cli| cli.forward_headers = vec!["a=b".into()]).contains("need an upstream"));
        assert!(
            error(|cli| cli.forward_protocol = Some("grpc".into())).contains("need an upstream")
        );
        assert!(error(|cli| {
            cli.forward_otlp = vec!["http://central".into()];
            cli.forward_protocol = Some("http/json".into());
        })
        .contains("--forward-protocol"));
        assert!(error(|cli| {
            cli.forward_otlp = vec!["http://central".into()];
            cli.forward_compression = Some("zstd".into());
        })
        .contains("--forward-compression"));
        assert!(error(|cli| {
            cli.forward_otlp = vec!["http://central".into()];
            cli.forward_headers = vec!["x-key=caf\u{e9}".into()];
        })
        .contains("printable ASCII"));
        // Off by default: nothing goes into the outbox.
        assert!(Config::resolve(&options())
            .expect("defaults")
            .forward
            .is_empty());
    }

    #[test]
    fn grpc_follows_the_http_host_unless_given() {
        let grpc = |listen: Option<&str>, grpc: Option<&str>| {
            let mut cli = options();
            cli.listen = listen.map(str::to_string);
            cli.grpc_listen = grpc.map(str::to_string);
            Config::resolve(&cli).map(|config| config.grpc_listen)
        };
        let addr = |text: &str| Some(text.parse::<SocketAddr>().expect("addr"));
        assert_eq!(grpc(Some("0.0.0.0:8080"), None), Ok(addr("0.0.0.0:4317")));
        // A free HTTP port: a free gRPC port, never a fight over 4317.
        assert_eq!(grpc(Some("127.0.0.1:0"), None), Ok(addr("127.0.0.1:0")));
        assert_eq!(grpc(None, Some("none")), Ok(None));
        assert_eq!(grpc(None, Some(" NONE ")), Ok(None));
        assert_eq!(grpc(None, Some("[::1]:5317")), Ok(addr("[::1]:5317")));
        let error = grpc(None, Some("4317")).expect_err("not an address");
        assert!(error.to_string().contains("--grpc-listen"), "{error}");
    }

    #[test]
    fn the_log_lag_bound_is_off_or_longer_than_the_refresh() {
        let mut cli = options();
        cli.log_max_lag = Some("0".into());
        let config = Config::resolve(&cli).expect("0 turns it off");
        assert_eq!(config.log_max_lag, Duration::ZERO);

        cli.log_max_lag = Some("500ms".into());
        let error = Config::resolve(&cli).expect_err("shorter than the refresh");
        assert!(error.to_string().contains("--log-max-lag"), "{error}");

        cli.log_refresh = Some("100ms".into());
        let config = Config::resolve(&cli).expect("longer than the refresh");
        assert_eq!(config.log_max_lag, Duration::from_millis(500));

        // Without --log-max-lag, a long refresh moves the default along.
        let mut cli = options();
        cli.log_refresh = Some("5s".into());
        let config = Config::resolve(&cli).expect("the default adapts");
        assert_eq!(config.log_max_lag, Duration::from_secs(10));
    }

    #[test]
    fn invalid_values_name_the_option() {
        let mut cli = options();
        cli.listen = Some("nowhere".into());
        let error = Config::resolve(&cli).expect_err("bad listen").to_string();
        assert!(error.contains("--listen"), "{error}");

        let mut cli = options();
        cli.retention = Some("forever".into());
        assert!(Config::resolve(&cli)
            .expect_err("bad retention")
            .to_string()
            .contains("--retention"));

        let mut cli = options();
        cli.max_request_size = Some("20 parsecs".into());
        assert!(Config::resolve(&cli)
            .expect_err("bad size")
            .to_string()
            .contains("--max-request-size"));
    }

    #[test]
    fn security_and_redaction_options_are_checked() {
        let mut cli = options();
        cli.session_idle = Some("30s".into());
        assert!(Config::resolve(&cli)
            .expect_err("too short")
            .to_string()
            .contains("--session-idle"));
        let mut cli = options();
        cli.redact_patterns = Some("email,phone".into());
        assert!(Config::resolve(&cli)
            .expect_err("unknown pattern")
            .to_string()
            .contains("--redact-patterns"));
        let mut cli = options();
        cli.redact_keys = Some("none".into());
        cli.redact_patterns = Some("card".into());
        cli.public_url = Some("https://lookout.example".into());
        let config = Config::resolve(&cli).expect("valid");
        assert!(config.redaction.keys.is_empty());
        assert_eq!(config.redaction.patterns.len(), 1);
        assert!(config.security.secure_cookie);
        // Over plain HTTP, or with no public URL, a Secure cookie would
        // never come back: it is left off.
        for public_url in [Some("http://lookout.example"), None] {
            let mut cli = options();
            cli.public_url = public_url.map(str::to_string);
            let config = Config::resolve(&cli).expect("valid");
            assert!(!config.security.secure_cookie, "{public_url:?}");
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nretention = \"2d\"\nqueue_capacity = 8\n",
        )
        .expect("write");
        let mut cli = options();
        cli.config = Some(path.clone());
        cli.listen = Some("127.0.0.1:9001".into());
        let config = Config::resolve(&cli).expect("valid");
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.retention, Duration::from_secs(2 * 86_400));
        assert_eq!(config.pipeline.queue_capacity, 8);

        std::fs::write(&path, "listen_on = \"x\"\n").expect("write");
        let error = Config::resolve(&cli).expect_err("unknown key").to_string();
        assert!(error.contains("listen_on"), "{error}");
    }

    #[test]
    fn every_option_in_the_readme_is_a_known_variable() {
        let known = known_env_vars();
        assert!(
            known.contains(&"LOOKOUT_LOG_MAX_LAG".to_string()),
            "{known:?}"
        );
        let readme = include_str!("../../README.md");
        let documented: Vec<&str> = readme
            .split('`')
            .filter(|word| {
                word.starts_with("LOOKOUT_")
                    && word[8..]
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        assert!(documented.len() >= 15, "{documented:?}");
        for name in documented {
            assert!(
                known.iter().any(|k| k == name),
                "{name} is documented but unknown"
            );
        }
    }

    #[test]
    fn check_reads_only_the_data_directory() {
        let check = |args: &[&str]| match parse_from(args.iter().copied()) {
            Ok(Invocation::Check(options)) => resolve_data_dir(&options),
            other => panic!("{args:?} gave {other:?}"),
        };
        assert_eq!(
            check(&["lookout", "check"]).expect("default"),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
        for args in [
            &["lookout", "check", "--data-dir", "/somewhere"][..],
            &["lookout", "--data-dir", "/somewhere", "check"][..],
        ] {
            assert_eq!(check(args).expect("flag"), PathBuf::from("/somewhere"));
        }
    }

    #[test]
    fn check_refuses_serve_options() {
        let error = parse_from(["lookout", "--listen", "0.0.0.0:4318", "check"])
            .expect_err("listen does not apply");
        assert_eq!(
            error.to_string(),
            "--listen does not apply to `lookout check`"
        );
        let error = parse_from(["lookout", "check", "--retention", "1d"])
            .expect_err("check has no --retention");
        assert!(error.to_string().contains("--retention"), "{error}");
    }

    #[test]
    fn options_before_and_after_the_subcommand_combine() {
        let invocation = parse_from([
            "lookout",
            "--data-dir",
            "/d",
            "--retention",
            "2d",
            "demo",
            "--retention",
            "3d",
            "--log-refresh",
            "100ms",
        ])
        .expect("valid");
        let Invocation::Serve { options, demo } = invocation else {
            panic!("{invocation:?}");
        };
        assert!(demo);
        assert_eq!(options.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(
            options.retention.as_deref(),
            Some("3d"),
            "the later flag wins"
        );
        assert_eq!(options.log_refresh.as_deref(), Some("100ms"));
    }

    #[test]
    fn the_file_takes_the_option_names_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lookout.toml");
        let mut cli = options();
        cli.config = Some(path.clone());
        std::fs::write(
            &path,
            "api_keys = [\"0123456789abcdef0\"]\nsync_full = true\n",
        )
        .expect("write");
        let config = Config::resolve(&cli).expect("valid");
        assert_eq!(config.api_keys, ["0123456789abcdef0"]);
        assert!(config.store.synchronous_full);
        for key in ["config = \"other.toml\"", "test_writer_delay = \"1s\""] {
            std::fs::write(&path, key).expect("write");
            let error = Config::resolve(&cli).expect_err(key).to_string();
            assert!(error.contains("unknown field"), "{key}: {error}");
        }
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("x", "20MiB"), Ok(20 << 20));
        assert_eq!(parse_size("x", "1000"), Ok(1000));
        assert_eq!(parse_size("x", "2 KB"), Ok(2000));
        assert!(parse_size("x", "0").is_err());
    }
}
