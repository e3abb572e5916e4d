//! Parsers for option values: addresses, durations and sizes, each error
//! naming the option it belongs to.

use std::net::SocketAddr;
use std::time::Duration;

use super::{invalid, ConfigError};

pub(super) fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        invalid(
            "--listen",
            format!("{text:?} is not an address like 127.0.0.1:4318 or [::1]:4318"),
        )
    })
}

/// `--grpc-listen`: an address, or `none` (no gRPC listener). Without
/// the option, gRPC listens on the HTTP address's host at port 4317, the
/// OTLP/gRPC default, or on a free port when the HTTP port is 0 (so two
/// servers on free ports never contend for 4317).
pub(super) fn parse_grpc_listen(
    text: Option<&str>,
    http: SocketAddr,
) -> Result<Option<SocketAddr>, ConfigError> {
    match text.map(str::trim) {
        None => {
            let port = if http.port() == 0 { 0 } else { 4317 };
            Ok(Some(SocketAddr::new(http.ip(), port)))
        }
        Some(text) if text.eq_ignore_ascii_case("none") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            invalid(
                "--grpc-listen",
                format!("{text:?} is not an address like 127.0.0.1:4317, or none"),
            )
        }),
    }
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
