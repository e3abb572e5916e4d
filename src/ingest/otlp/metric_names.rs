//! OTLP metric and attribute names → Prometheus names, as Prometheus's own
//! OTLP receiver translates them (with metric suffixes): invalid characters
//! become `_`, the unit becomes a suffix (`s` → `_seconds`, `By/s` →
//! `_bytes_per_second`), monotonic sums end in `_total` and gauges with unit
//! `1` in `_ratio`.

use crate::model::metric_batch::MetricType;

/// The main units Prometheus spells out.
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => return None,
    })
}

/// The "per" units (`/s` → `per_second`).
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Replaces every character outside `[a-zA-Z0-9_:]` with `_`.
fn sanitize(name: &str, allow_colon: bool) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The unit as a name suffix: `{requests}` annotations dropped, `a/b` as
/// `a_per_b`, unknown units sanitized as they are.
fn unit_suffix(unit: &str) -> String {
    // Annotations in braces carry no unit ("{requests}", "{packets}/s").
    let mut cleaned = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => cleaned.push(c),
            _ => {}
        }
    }
    let (main, per) = match cleaned.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (cleaned.trim(), None),
    };
    let main_word = unit_word(main)
        .map(str::to_string)
        .unwrap_or_else(|| sanitize(main, false));
    let per_word = per.filter(|p| !p.is_empty()).map(|per| {
        per_unit_word(per)
            .map(str::to_string)
            .unwrap_or_else(|| sanitize(per, false))
    });
    match (main_word.is_empty(), per_word) {
        (_, None) => main_word,
        (true, Some(per)) => format!("per_{per}"),
        (false, Some(per)) => format!("{main_word}_per_{per}"),
    }
}

/// Appends `_suffix` unless the name already ends with it.
fn push_suffix(name: &mut String, suffix: &str) {
    if suffix.is_empty() {
        return;
    }
    let has = name
        .strip_suffix(suffix)
        .is_some_and(|rest| rest.ends_with('_'));
    if !has {
        if !name.ends_with('_') {
            name.push('_');
        }
        name.push_str(suffix);
    }
}

/// The Prometheus family name of an OTLP metric. `metric_type` is what the
/// metric is exposed as (a monotonic sum is a counter).
pub fn metric_name(name: &str, unit: &str, metric_type: MetricType) -> String {
    let mut out = sanitize(name, true);
    // Counters take `_total` after the unit, so a name that ends in it
    // gets the unit before it.
    let had_total = metric_type == MetricType::Counter && out.ends_with("_total");
    if had_total {
        out.truncate(out.len() - "_total".len());
    }
    push_suffix(&mut out, &unit_suffix(unit));
    if metric_type == MetricType::Counter {
        push_suffix(&mut out, "total");
    }
    if metric_type == MetricType::Gauge && unit.trim() == "1" {
        push_suffix(&mut out, "ratio");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name of an attribute key.
pub fn label_name(key: &str) -> String {
    let mut out = sanitize(key, false);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_otlp_translation() {
        let cases = [
            (
                "http.server.request.duration",
                "s",
                MetricType::Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "jobs.processed",
                "1",
                MetricType::Counter,
                "jobs_processed_total",
            ),
            (
                "jobs.processed",
                "{jobs}",
                MetricType::Counter,
                "jobs_processed_total",
            ),
            ("requests_total", "", MetricType::Counter, "requests_total"),
            ("queue.depth", "", MetricType::Gauge, "queue_depth"),
            (
                "cpu.utilization",
                "1",
                MetricType::Gauge,
                "cpu_utilization_ratio",
            ),
            (
                "net.io",
                "By/s",
                MetricType::Gauge,
                "net_io_bytes_per_second",
            ),
            ("latency_seconds", "s", MetricType::Gauge, "latency_seconds"),
            ("io", "By", MetricType::Counter, "io_bytes_total"),
            ("io_total", "By", MetricType::Counter, "io_bytes_total"),
            ("2xx", "", MetricType::Gauge, "_2xx"),
            ("ns:metric", "", MetricType::Gauge, "ns:metric"),
            ("weird", "furlongs", MetricType::Gauge, "weird_furlongs"),
        ];
        for (name, unit, metric_type, expected) in cases {
            assert_eq!(
                metric_name(name, unit, metric_type),
                expected,
                "{name} {unit}"
            );
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("2fa"), "key_2fa");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
    }
}
