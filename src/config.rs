//! Configuration: defaults < `--config` TOML file < `LOOKOUT_*` environment
//! < command-line flags. Parsed and validated once at start; the resulting
//! [`Config`] is passed explicitly (there are no globals).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::ingest::Limits;
use crate::pipeline::PipelineOptions;
use crate::store::StoreOptions;
use crate::telemetry::LogFormat;

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
    #[error(
        "refusing to listen on {addr} without --admin-token: lookout would be open to the network. \
         Set --admin-token (LOOKOUT_ADMIN_TOKEN) or listen on a loopback address"
    )]
    OpenToNetwork { addr: SocketAddr },
}

/// lookout: traces, logs and alerts on one box. Point any OpenTelemetry SDK
/// at http://localhost:4318.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: CliOptions,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve OTLP ingest, the API and the dashboard (the default).
    Serve,
    /// Check the data directory: schema version and SQLite integrity.
    Check,
    /// Serve, and feed lookout live sample traffic (traces and logs of a
    /// small shop) so the API and dashboard have something to show.
    Demo,
}

/// Every option; each is also `LOOKOUT_<NAME>` in the environment and a key
/// of the `--config` TOML file (with underscores).
#[derive(Debug, Default, Args, Clone)]
pub struct CliOptions {
    /// HTTP address for OTLP, API and dashboard (port 0 picks a free port) [default: 127.0.0.1:4318]
    #[arg(long, env = "LOOKOUT_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite database [default: ./lookout-data]
    #[arg(long, env = "LOOKOUT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Delete traces older than this (e.g. 7d, 12h) [default: 7d]
    #[arg(long, env = "LOOKOUT_RETENTION", global = true)]
    pub retention: Option<String>,
    /// How soon ingested logs become searchable (e.g. 1s, 500ms) [default: 1s]
    #[arg(long, env = "LOOKOUT_LOG_REFRESH", global = true)]
    pub log_refresh: Option<String>,
    /// Refuse new log records (503 + Retry-After) while the log index is
    /// so far behind that they would not be searchable within this time;
    /// 0 = never refuse [default: 2s, or twice --log-refresh if longer]
    #[arg(long, env = "LOOKOUT_LOG_MAX_LAG", global = true)]
    pub log_max_lag: Option<String>,
    /// Bearer token required for the API (needed to listen beyond loopback)
    #[arg(
        long,
        env = "LOOKOUT_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Ingest key (repeatable, or comma-separated in the environment); none = ingest is open
    #[arg(
        long = "api-key",
        env = "LOOKOUT_API_KEY",
        global = true,
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// TOML file with the same keys as these options
    #[arg(long, env = "LOOKOUT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Format of lookout's own logs on stderr [default: text]
    #[arg(long, env = "LOOKOUT_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Level of lookout's own logs (error, warn, info, debug, trace) [default: info]
    #[arg(long, env = "LOOKOUT_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Origins allowed to send OTLP from a browser (repeatable; `*` for any) [default: none]
    #[arg(
        long = "cors-origin",
        env = "LOOKOUT_CORS_ORIGIN",
        global = true,
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Ingest requests queued for the writer before answering 503 [default: 256]
    #[arg(long, env = "LOOKOUT_QUEUE_CAPACITY", global = true)]
    pub queue_capacity: Option<usize>,
    /// Largest request body on the wire (e.g. 20MiB) [default: 20MiB]
    #[arg(long, env = "LOOKOUT_MAX_REQUEST_SIZE", global = true)]
    pub max_request_size: Option<String>,
    /// Largest request body after decompression [default: 20MiB]
    #[arg(long, env = "LOOKOUT_MAX_DECOMPRESSED_SIZE", global = true)]
    pub max_decompressed_size: Option<String>,
    /// Attributes kept per span, event, link and resource [default: 128]
    #[arg(long, env = "LOOKOUT_MAX_ATTRIBUTES", global = true)]
    pub max_attributes: Option<usize>,
    /// Longest attribute value in bytes; longer ones are truncated [default: 16384]
    #[arg(long, env = "LOOKOUT_MAX_ATTRIBUTE_LENGTH", global = true)]
    pub max_attribute_length: Option<usize>,
    /// fsync the WAL on every commit (survives power loss, not only crashes)
    #[arg(long, env = "LOOKOUT_SYNC_FULL", global = true)]
    pub sync_full: Option<bool>,
    /// Test hook: delay before each writer group, to exercise backpressure
    #[cfg(feature = "test-hooks")]
    #[arg(long, env = "LOOKOUT_TEST_WRITER_DELAY", global = true, hide = true)]
    pub test_writer_delay: Option<String>,
}

/// The `--config` TOML file: the same keys, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOptions {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    retention: Option<String>,
    log_refresh: Option<String>,
    log_max_lag: Option<String>,
    admin_token: Option<String>,
    api_keys: Option<Vec<String>>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    cors_origins: Option<Vec<String>>,
    queue_capacity: Option<usize>,
    max_request_size: Option<String>,
    max_decompressed_size: Option<String>,
    max_attributes: Option<usize>,
    max_attribute_length: Option<usize>,
    sync_full: Option<bool>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub retention: Duration,
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
}

impl Config {
    /// Defaults suitable for tests: a free loopback port and `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            retention: Duration::from_secs(7 * 24 * 3600),
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
        }
    }

    /// Merges flags/env (already merged by clap), the config file and
    /// defaults, and validates the result.
    pub fn resolve(cli: &CliOptions) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileOptions::default(),
        };
        let listen_text = cli
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:4318".into());
        let listen = parse_listen(&listen_text)?;
        let data_dir = cli
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let retention_text = cli
            .retention
            .clone()
            .or(file.retention)
            .unwrap_or_else(|| "7d".into());
        let retention = parse_duration("--retention", &retention_text)?;
        if retention < Duration::from_secs(60) {
            return Err(invalid("--retention", "must be at least 1m".into()));
        }
        let log_refresh_text = cli
            .log_refresh
            .clone()
            .or(file.log_refresh)
            .unwrap_or_else(|| "1s".into());
        let log_refresh = parse_duration("--log-refresh", &log_refresh_text)?;
        if log_refresh < Duration::from_millis(10) || log_refresh > Duration::from_secs(60) {
            return Err(invalid(
                "--log-refresh",
                "must be between 10ms and 60s".into(),
            ));
        }
        let log_max_lag = match cli.log_max_lag.clone().or(file.log_max_lag) {
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
        let admin_token = cli
            .admin_token
            .clone()
            .or(file.admin_token)
            .filter(|t| !t.is_empty());
        if let Some(token) = &admin_token {
            if token.len() < 16 {
                return Err(invalid(
                    "--admin-token",
                    "must be at least 16 characters".into(),
                ));
            }
        }
        let api_keys = if cli.api_keys.is_empty() {
            file.api_keys.unwrap_or_default()
        } else {
            cli.api_keys.clone()
        };
        let api_keys: Vec<String> = api_keys.into_iter().filter(|k| !k.is_empty()).collect();
        if api_keys.iter().any(|key| key.len() < 16) {
            return Err(invalid(
                "--api-key",
                "each key must be at least 16 characters".into(),
            ));
        }
        let log_level = cli
            .log_level
            .clone()
            .or(file.log_level)
            .unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "--log-level",
                format!("{log_level:?} is not a log level or filter"),
            ));
        }
        let cors_origins = if cli.cors_origins.is_empty() {
            file.cors_origins.unwrap_or_default()
        } else {
            cli.cors_origins.clone()
        };
        let queue_capacity = cli.queue_capacity.or(file.queue_capacity).unwrap_or(256);
        if queue_capacity == 0 {
            return Err(invalid("--queue-capacity", "must be at least 1".into()));
        }
        let defaults = Limits::default();
        let max_request_bytes = match cli.max_request_size.clone().or(file.max_request_size) {
            Some(text) => parse_size("--max-request-size", &text)?,
            None => defaults.max_request_bytes,
        };
        let max_decompressed_bytes = match cli
            .max_decompressed_size
            .clone()
            .or(file.max_decompressed_size)
        {
            Some(text) => parse_size("--max-decompressed-size", &text)?,
            None => defaults.max_decompressed_bytes,
        };
        let max_attributes = cli
            .max_attributes
            .or(file.max_attributes)
            .unwrap_or(defaults.max_attributes);
        let max_attribute_value_bytes = cli
            .max_attribute_length
            .or(file.max_attribute_length)
            .unwrap_or(defaults.max_attribute_value_bytes);
        if max_attribute_value_bytes < 16 {
            return Err(invalid(
                "--max-attribute-length",
                "must be at least 16".into(),
            ));
        }
        #[cfg(feature = "test-hooks")]
        let writer_delay = match &cli.test_writer_delay {
            Some(text) => parse_duration("--test-writer-delay", text)?,
            None => Duration::ZERO,
        };
        let config = Config {
            listen,
            data_dir,
            retention,
            log_refresh,
            log_max_lag,
            admin_token,
            api_keys,
            log_format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
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
                #[cfg(feature = "test-hooks")]
                writer_delay,
                ..PipelineOptions::default()
            },
            store: StoreOptions {
                synchronous_full: cli.sync_full.or(file.sync_full).unwrap_or(false),
                ..StoreOptions::default()
            },
        };
        if !config.listen.ip().is_loopback() && config.admin_token.is_none() {
            return Err(ConfigError::OpenToNetwork {
                addr: config.listen,
            });
        }
        Ok(config)
    }
}

/// Every `LOOKOUT_*` variable an option reads, taken from the option
/// definitions themselves (so the list cannot drift from them).
pub fn known_env_vars() -> Vec<String> {
    use clap::CommandFactory as _;
    Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .filter_map(|name| name.to_str().map(str::to_string))
        .collect()
}

/// Environment variables that look like lookout's but are not, so a typo
/// does not go unnoticed.
pub fn unknown_env_vars() -> Vec<String> {
    let known = known_env_vars();
    std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("LOOKOUT_") && !known.contains(name))
        .collect()
}

/// The data directory `lookout check` inspects: the flag, environment or
/// config file value, or the default. Nothing else of serve's
/// configuration (listen address, auth) is read or validated.
pub fn resolve_data_dir(cli: &CliOptions) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = &cli.data_dir {
        return Ok(dir.clone());
    }
    let file = match &cli.config {
        Some(path) => read_file(path)?,
        None => FileOptions::default(),
    };
    Ok(file
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
}

fn invalid(option: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { option, message }
}

fn read_file(path: &Path) -> Result<FileOptions, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        invalid(
            "--listen",
            format!("{text:?} is not an address like 127.0.0.1:4318 or [::1]:4318"),
        )
    })
}

/// Durations like `500ms`, `1s`, `15m`, `7d`.
pub fn parse_duration(option: &'static str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        invalid(
            option,
            format!("{text:?} is not a duration like 30s, 15m or 7d ({error})"),
        )
    })
}

/// Sizes like `1048576`, `512KiB`, `20MiB`, `1GB`.
pub fn parse_size(option: &'static str, text: &str) -> Result<usize, ConfigError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(invalid(
                option,
                format!("{text:?} has an unknown unit (use B, KiB, MiB, GiB, KB, MB, GB)"),
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| invalid(option, format!("{text:?} is not a size like 20MiB")))?;
    let bytes = number
        .checked_mul(multiplier)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| invalid(option, format!("{text:?} is too large")))?;
    if bytes == 0 {
        return Err(invalid(option, "must be greater than zero".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CliOptions {
        CliOptions::default()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::resolve(&options()).expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:4318".parse().expect("addr"));
        assert_eq!(config.data_dir, PathBuf::from("./lookout-data"));
        assert_eq!(config.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.limits.max_decompressed_bytes, 20 << 20);
        assert_eq!(config.log_max_lag, Duration::from_secs(2));
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
    fn non_loopback_needs_an_admin_token() {
        let mut cli = options();
        cli.listen = Some("0.0.0.0:4318".into());
        assert!(matches!(
            Config::resolve(&cli),
            Err(ConfigError::OpenToNetwork { .. })
        ));
        cli.admin_token = Some("a-long-enough-admin-token".into());
        assert!(Config::resolve(&cli).is_ok());
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
        let readme = include_str!("../README.md");
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
        let mut cli = options();
        cli.listen = Some("0.0.0.0:4318".into());
        cli.admin_token = None;
        assert!(Config::resolve(&cli).is_err(), "serve refuses this");
        assert_eq!(
            resolve_data_dir(&cli).expect("check does not"),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
        cli.data_dir = Some(PathBuf::from("/somewhere"));
        assert_eq!(
            resolve_data_dir(&cli).expect("flag"),
            PathBuf::from("/somewhere")
        );
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("x", "20MiB"), Ok(20 << 20));
        assert_eq!(parse_size("x", "1000"), Ok(1000));
        assert_eq!(parse_size("x", "2 KB"), Ok(2000));
        assert!(parse_size("x", "0").is_err());
    }
}
