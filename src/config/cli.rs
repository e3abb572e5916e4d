//! The command line: subcommands with their own options, and how options
//! given before and after the subcommand, in the environment and in the
//! `--config` file combine (flag > environment > file > default).

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ConfigError;
use crate::telemetry::LogFormat;

/// lookout: traces, logs and alerts on one box. Point any OpenTelemetry SDK
/// at http://localhost:4318.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, which runs when no subcommand is given; they may
    /// also stand before `serve` or `demo`.
    #[command(flatten)]
    pub options: ServeOptions,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve OTLP ingest, the API and the dashboard (the default).
    Serve(ServeOptions),
    /// Check the data directory: schema version and SQLite integrity.
    Check(CheckOptions),
    /// Serve, and feed lookout live sample traffic (traces and logs of a
    /// small shop) so the API and dashboard have something to show.
    Demo(ServeOptions),
    /// Administration of a data directory no server is using.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Write a consistent backup of the data directory into DIR (new or
    /// empty), through the server when one is running on it.
    Backup(BackupArgs),
    /// Restore a backup into a data directory no server is using.
    Restore(RestoreArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BackupArgs {
    /// Where the backup goes: a new or empty directory
    pub dir: PathBuf,
    #[command(flatten)]
    pub data: CheckOptions,
}

#[derive(Debug, Args, Clone)]
pub struct RestoreArgs {
    /// The backup to restore: a directory `lookout backup` wrote
    pub dir: PathBuf,
    /// Replace the database and log indexes the data directory holds
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub data: CheckOptions,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set the admin password (read from stdin, or asked twice on a
    /// terminal); every login session ends.
    SetPassword(CheckOptions),
}

/// The options of `lookout check`: which data directory, directly or
/// through a config file. Nothing else of serve's applies to it.
#[derive(Debug, Default, Args, Clone)]
pub struct CheckOptions {
    /// Directory for the SQLite database [default: ./lookout-data]
    #[arg(long, env = "LOOKOUT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML file with lookout's options; check reads only its data_dir
    #[arg(long, env = "LOOKOUT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The options of `serve` and `demo`, the one list of lookout's settings:
/// each is a flag, `LOOKOUT_<NAME>` in the environment (clap's `env`) and a
/// key of the `--config` TOML file (the field name, through serde).
#[derive(Debug, Default, Args, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeOptions {
    /// HTTP address for OTLP, API and dashboard (port 0 picks a free port) [default: 127.0.0.1:4318]
    #[arg(long, env = "LOOKOUT_LISTEN")]
    pub listen: Option<String>,
    /// OTLP/gRPC address (traces, logs, metrics), or none [default: the --listen host on port 4317; a free port when --listen's port is 0]
    #[arg(long, env = "LOOKOUT_GRPC_LISTEN")]
    pub grpc_listen: Option<String>,
    /// Directory for the SQLite database [default: ./lookout-data]
    #[arg(long, env = "LOOKOUT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Delete traces older than this (e.g. 7d, 12h) [default: 7d]
    #[arg(long, env = "LOOKOUT_RETENTION")]
    pub retention: Option<String>,
    /// Keep the data directory within this size (e.g. 2GiB): the oldest
    /// data of every signal is deleted as needed, ingest goes on [default: none]
    #[arg(long, env = "LOOKOUT_MAX_DISK")]
    pub max_disk: Option<String>,
    /// How soon ingested logs become searchable (e.g. 1s, 500ms) [default: 1s]
    #[arg(long, env = "LOOKOUT_LOG_REFRESH")]
    pub log_refresh: Option<String>,
    /// Refuse new log records (503 + Retry-After) while the log index is
    /// so far behind that they would not be searchable within this time;
    /// 0 = never refuse [default: 2s, or twice --log-refresh if longer]
    #[arg(long, env = "LOOKOUT_LOG_MAX_LAG")]
    pub log_max_lag: Option<String>,
    /// Bearer token required for the API (needed to listen beyond loopback)
    #[arg(long, env = "LOOKOUT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Ingest key (repeatable, or comma-separated in the environment); none = ingest is open
    #[arg(
        long = "api-key",
        env = "LOOKOUT_API_KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// Forward every accepted batch to this OTLP/HTTP endpoint too (the
    /// base URL, as OTEL_EXPORTER_OTLP_ENDPOINT; repeatable, or
    /// comma-separated in the environment), through a durable outbox
    #[arg(
        long = "forward-otlp",
        env = "LOOKOUT_FORWARD_OTLP",
        value_delimiter = ','
    )]
    pub forward_otlp: Vec<String>,
    /// A header sent with every forwarded request, NAME=VALUE (repeatable,
    /// or comma-separated in the environment), e.g. authorization=Bearer KEY
    #[arg(
        long = "forward-header",
        env = "LOOKOUT_FORWARD_HEADER",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub forward_headers: Vec<String>,
    /// How forwarded batches are sent: http/protobuf (POSTs to
    /// URL/v1/traces, …) or grpc (the OTLP services at URL, e.g.
    /// http://collector:4317) [default: http/protobuf]
    #[arg(long, env = "LOOKOUT_FORWARD_PROTOCOL")]
    pub forward_protocol: Option<String>,
    /// Compression of forwarded requests: none or gzip [default: none]
    #[arg(long, env = "LOOKOUT_FORWARD_COMPRESSION")]
    pub forward_compression: Option<String>,
    /// Size limit of the forwarding outbox; past it the oldest unsent
    /// batches are dropped, counted [default: 256MiB]
    #[arg(long, env = "LOOKOUT_FORWARD_MAX_OUTBOX")]
    pub forward_max_outbox: Option<String>,
    /// TOML file with the same keys as these options
    #[arg(long, env = "LOOKOUT_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Format of lookout's own logs on stderr [default: text]
    #[arg(long, env = "LOOKOUT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Level of lookout's own logs (error, warn, info, debug, trace) [default: info]
    #[arg(long, env = "LOOKOUT_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Origins allowed to send OTLP from a browser (repeatable; `*` for any) [default: none]
    #[arg(
        long = "cors-origin",
        env = "LOOKOUT_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Ingest requests queued for the writer before answering 503 [default: 256]
    #[arg(long, env = "LOOKOUT_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Largest request body on the wire (e.g. 20MiB) [default: 20MiB]
    #[arg(long, env = "LOOKOUT_MAX_REQUEST_SIZE")]
    pub max_request_size: Option<String>,
    /// Largest request body after decompression [default: 20MiB]
    #[arg(long, env = "LOOKOUT_MAX_DECOMPRESSED_SIZE")]
    pub max_decompressed_size: Option<String>,
    /// Attributes kept per span, event, link and resource [default: 128]
    #[arg(long, env = "LOOKOUT_MAX_ATTRIBUTES")]
    pub max_attributes: Option<usize>,
    /// Longest attribute value in bytes; longer ones are truncated [default: 16384]
    #[arg(long, env = "LOOKOUT_MAX_ATTRIBUTE_LENGTH")]
    pub max_attribute_length: Option<usize>,
    /// Span metric series (operation × kind × status) per service; spans of
    /// further operations count as `__overflow__` [default: 1000]
    #[arg(long, env = "LOOKOUT_SPAN_SERIES_LIMIT")]
    pub span_series_limit: Option<usize>,
    /// OTLP metric series in total; data points that would create more are
    /// refused in `partial_success` [default: 200000]
    #[arg(long, env = "LOOKOUT_METRIC_SERIES_LIMIT")]
    pub metric_series_limit: Option<usize>,
    /// OTLP metric series per metric family (a histogram's buckets count)
    /// [default: 20000]
    #[arg(long, env = "LOOKOUT_METRIC_SERIES_PER_METRIC_LIMIT")]
    pub metric_series_per_metric_limit: Option<usize>,
    /// fsync the WAL on every commit (survives power loss, not only crashes)
    #[arg(long, env = "LOOKOUT_SYNC_FULL")]
    pub sync_full: Option<bool>,
    /// How often alert rules are evaluated (e.g. 30s, 1m) [default: 30s]
    #[arg(long, env = "LOOKOUT_ALERT_INTERVAL")]
    pub alert_interval: Option<String>,
    /// A notification not delivered by then is marked failed [default: 1h]
    #[arg(long, env = "LOOKOUT_NOTIFY_MAX_AGE")]
    pub notify_max_age: Option<String>,
    /// The address users reach lookout at, for links in notifications;
    /// https makes the session cookie Secure [default: the listen address]
    #[arg(long, env = "LOOKOUT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A login session ends after this long unused [default: 12h]
    #[arg(long, env = "LOOKOUT_SESSION_IDLE")]
    pub session_idle: Option<String>,
    /// A login session ends at the latest this long after login [default: 7d]
    #[arg(long, env = "LOOKOUT_SESSION_MAX_AGE")]
    pub session_max_age: Option<String>,
    /// How long audit rows are kept [default: 90d]
    #[arg(long, env = "LOOKOUT_AUDIT_RETENTION")]
    pub audit_retention: Option<String>,
    /// Attribute keys whose values are replaced by [REDACTED] before
    /// storage, comma-separated (matched case-insensitively on the last
    /// dotted part), or `none` [default: password, secret, token, … see
    /// docs/API.md]
    #[arg(long, env = "LOOKOUT_REDACT_KEYS")]
    pub redact_keys: Option<String>,
    /// Value patterns replaced by [REDACTED] before storage: `bearer`,
    /// `card`, `email` and `regex:<expr>`, comma-separated, or `none`
    /// [default: bearer,card,email]
    #[arg(long, env = "LOOKOUT_REDACT_PATTERNS")]
    pub redact_patterns: Option<String>,
    /// How often lookout records its own metrics (those of /metrics) into
    /// its metric store as job="lookout", or `off` [default: 15s]
    #[arg(long, env = "LOOKOUT_SELF_METRICS_INTERVAL")]
    pub self_metrics_interval: Option<String>,
    /// Test hook: delay before each writer group, to exercise backpressure
    #[cfg(feature = "test-hooks")]
    #[arg(long, env = "LOOKOUT_TEST_WRITER_DELAY", hide = true)]
    #[serde(skip)]
    pub test_writer_delay: Option<String>,
}

/// What the command line asks for, its options combined.
#[derive(Debug)]
pub enum Invocation {
    Serve {
        options: Box<ServeOptions>,
        demo: bool,
    },
    Check(CheckOptions),
    /// `lookout admin set-password`.
    SetPassword(CheckOptions),
    Backup {
        options: CheckOptions,
        dir: PathBuf,
    },
    Restore {
        options: CheckOptions,
        dir: PathBuf,
        force: bool,
    },
}

/// Parses the process's arguments (exiting with clap's usage error on a
/// malformed command line) and combines options given before and after the
/// subcommand.
pub fn parse_args() -> Result<Invocation, ConfigError> {
    invocation(&Cli::command().get_matches())
}

/// [`parse_args`] on given arguments, for tests.
pub fn parse_from<I, T>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(|error| ConfigError::Usage(error.to_string()))?;
    invocation(&matches)
}

fn invocation(matches: &ArgMatches) -> Result<Invocation, ConfigError> {
    let before = serve_options(matches)?;
    match matches.subcommand() {
        None => Ok(Invocation::Serve {
            options: Box::new(before),
            demo: false,
        }),
        Some((name @ ("serve" | "demo"), sub)) => Ok(Invocation::Serve {
            options: Box::new(combine(matches, before, sub, serve_options(sub)?)?),
            demo: name == "demo",
        }),
        Some(("check", sub)) => Ok(Invocation::Check(data_options(
            matches, before, sub, "check",
        )?)),
        Some(("admin", admin)) => match admin.subcommand() {
            Some(("set-password", sub)) => Ok(Invocation::SetPassword(data_options(
                matches, before, sub, "admin",
            )?)),
            _ => Err(ConfigError::Usage(
                "lookout admin needs a command: set-password".into(),
            )),
        },
        Some(("backup", sub)) => {
            let args = BackupArgs::from_arg_matches(sub).map_err(usage)?;
            Ok(Invocation::Backup {
                options: data_options(matches, before, sub, "backup")?,
                dir: args.dir,
            })
        }
        Some(("restore", sub)) => {
            let args = RestoreArgs::from_arg_matches(sub).map_err(usage)?;
            Ok(Invocation::Restore {
                options: data_options(matches, before, sub, "restore")?,
                dir: args.dir,
                force: args.force,
            })
        }
        Some((other, _)) => Err(ConfigError::Usage(format!("unknown command {other}"))),
    }
}

/// The data directory options of a command that reads only those: given
/// after the command, or before it (`lookout --data-dir X check`). Serve's
/// other flags before it are refused.
fn data_options(
    matches: &ArgMatches,
    before: ServeOptions,
    sub: &ArgMatches,
    command: &'static str,
) -> Result<CheckOptions, ConfigError> {
    if let Some(flag) = serve_only_flag(matches) {
        return Err(ConfigError::NotFor { flag, command });
    }
    let mut options = CheckOptions::from_arg_matches(sub).map_err(usage)?;
    if from_command_line(matches, "data_dir") && !from_command_line(sub, "data_dir") {
        options.data_dir = before.data_dir;
    }
    if from_command_line(matches, "config") && !from_command_line(sub, "config") {
        options.config = before.config;
    }
    Ok(options)
}

fn usage(error: clap::Error) -> ConfigError {
    ConfigError::Usage(error.to_string())
}

fn serve_options(matches: &ArgMatches) -> Result<ServeOptions, ConfigError> {
    ServeOptions::from_arg_matches(matches).map_err(usage)
}

fn from_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// Where a value came from, as a precedence: flag over environment over
/// nothing.
fn precedence(matches: &ArgMatches, id: &str) -> u8 {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => 2,
        Some(ValueSource::EnvVariable) => 1,
        _ => 0,
    }
}

/// The first serve option given as a flag before a subcommand it does not
/// apply to, as the user spelled it (`--listen`).
fn serve_only_flag(matches: &ArgMatches) -> Option<String> {
    let command = Cli::command();
    let flag = command
        .get_arguments()
        .filter(|arg| !matches!(arg.get_id().as_str(), "data_dir" | "config"))
        .find(|arg| from_command_line(matches, arg.get_id().as_str()))
        .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())));
    flag
}

/// Serve options given before the subcommand (`lookout --data-dir X demo`)
/// and after it (`lookout demo --listen …`): per option, the one with the
/// higher precedence, the subcommand's on a tie.
fn combine(
    top: &ArgMatches,
    before: ServeOptions,
    sub: &ArgMatches,
    after: ServeOptions,
) -> Result<ServeOptions, ConfigError> {
    let before_fields = fields(&before)?;
    let mut merged = fields(&after)?;
    for (key, value) in before_fields {
        if precedence(top, &key) > precedence(sub, &key) {
            merged.insert(key, value);
        }
    }
    let mut options = from_fields(merged)?;
    // Not file keys (serde skips them): carried over by hand.
    options.config = if precedence(top, "config") > precedence(sub, "config") {
        before.config
    } else {
        after.config
    };
    #[cfg(feature = "test-hooks")]
    {
        options.test_writer_delay = after.test_writer_delay.or(before.test_writer_delay);
    }
    Ok(options)
}

/// The options as a map from their file keys to values.
pub(super) fn fields(options: &ServeOptions) -> Result<Map<String, Value>, ConfigError> {
    match serde_json::to_value(options) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::Usage("options are not a map".into())),
        Err(error) => Err(ConfigError::Usage(error.to_string())),
    }
}

pub(super) fn from_fields(map: Map<String, Value>) -> Result<ServeOptions, ConfigError> {
    serde_json::from_value(Value::Object(map))
        .map_err(|error| ConfigError::Usage(error.to_string()))
}

/// Every `LOOKOUT_*` variable an option reads, taken from the option
/// definitions themselves (so the list cannot drift from them).
pub fn known_env_vars() -> Vec<String> {
    let command = Cli::command();
    let mut names: Vec<String> = command
        .get_arguments()
        .chain(
            command
                .get_subcommands()
                .flat_map(|sub| sub.get_arguments()),
        )
        .filter_map(|arg| arg.get_env())
        .filter_map(|name| name.to_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
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
