//! The Prometheus text exposition format (what `/metrics` answers) read
//! into a [`MetricBatch`]: how lookout records its own metrics into its
//! metric store, so dashboards and alerts can use them like any other
//! series.

use crate::model::metric::Labels;
use crate::model::metric_batch::{
    MetricBatch, MetricFamily, MetricPoint, MetricType, PointLocation, Temporality,
};

/// A sample line's name, labels and value.
type SampleLine = (String, Vec<(String, String)>, f64);

/// One sample line: its name, labels and value.
fn sample_line(line: &str) -> Result<SampleLine, String> {
    let (series, value) = line
        .rsplit_once(' ')
        .ok_or_else(|| format!("no value in {line:?}"))?;
    let value: f64 = match value.trim() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text
            .parse()
            .map_err(|_| format!("{text:?} is not a number in {line:?}"))?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Ok((series.trim().to_string(), Vec::new(), value));
    };
    let body = rest
        .strip_suffix('}')
        .ok_or_else(|| format!("unclosed labels in {line:?}"))?;
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return Err(format!("label {label:?} has no quoted value in {line:?}"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("unterminated label value in {line:?}")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => return Err(format!("unterminated label value in {line:?}")),
                },
                Some(c) => value.push(c),
            }
        }
        labels.push((label.trim().to_string(), value));
    }
    Ok((name.trim().to_string(), labels, value))
}

/// The family a sample belongs to: its name, or a histogram's or
/// summary's base name for `_bucket`, `_sum` and `_count`.
fn family_of<'a>(name: &'a str, types: &[(String, MetricType)]) -> (&'a str, MetricType) {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some((_, kind)) = types.iter().find(|(family, kind)| {
                family == base && matches!(kind, MetricType::Histogram | MetricType::Summary)
            }) {
                return (base, *kind);
            }
        }
    }
    let kind = types
        .iter()
        .find(|(family, _)| family == name)
        .map_or(MetricType::Gauge, |(_, kind)| *kind);
    (name, kind)
}

/// Reads `text` as samples at `t_ms` with `extra` labels added to every
/// series. Counters and histograms count from `start_ms` (the process
/// start), so a restart is a counter reset.
pub fn parse_exposition(
    text: &str,
    t_ms: i64,
    start_ms: i64,
    extra: &[(&str, &str)],
) -> Result<MetricBatch, String> {
    let mut types: Vec<(String, MetricType)> = Vec::new();
    let mut helps: Vec<(String, String)> = Vec::new();
    let mut batch = MetricBatch::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                let kind = MetricType::parse(kind.trim()).unwrap_or(MetricType::Gauge);
                types.push((name.to_string(), kind));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, help)) = rest.split_once(' ') {
                helps.push((name.to_string(), help.to_string()));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = sample_line(line)?;
        let (family_name, metric_type) = family_of(&name, &types);
        let family = match batch.families.iter().position(|f| f.name == family_name) {
            Some(index) => index,
            None => {
                batch.families.push(MetricFamily {
                    name: family_name.to_string(),
                    metric_type,
                    unit: String::new(),
                    help: helps
                        .iter()
                        .find(|(n, _)| n == family_name)
                        .map_or(String::new(), |(_, h)| h.clone()),
                });
                batch.families.len() - 1
            }
        };
        let temporality = match metric_type {
            MetricType::Counter | MetricType::Histogram => Temporality::Cumulative,
            MetricType::Gauge | MetricType::Summary => Temporality::Gauge,
        };
        let labels = Labels::from_pairs(
            labels
                .into_iter()
                .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .chain(std::iter::once(("__name__".to_string(), name))),
        );
        batch.points.push(MetricPoint {
            family,
            temporality,
            start_ms: if temporality == Temporality::Cumulative {
                start_ms
            } else {
                0
            },
            t_ms,
            samples: vec![(labels, value)],
            exemplars: Vec::new(),
            location: PointLocation::default(),
        });
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_histograms_are_read_with_extra_labels() {
        let text = "# HELP a_total Things.\n# TYPE a_total counter\na_total 5\n\
            # TYPE q gauge\nq{queue=\"m\\\"x\"} 2.5\n\
            # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.7\nh_count 3\n";
        let batch = parse_exposition(text, 1_000, 10, &[("job", "lookout")]).expect("parses");
        let names: Vec<(&str, MetricType)> = batch
            .families
            .iter()
            .map(|f| (f.name.as_str(), f.metric_type))
            .collect();
        assert_eq!(
            names,
            [
                ("a_total", MetricType::Counter),
                ("q", MetricType::Gauge),
                ("h", MetricType::Histogram)
            ]
        );
        assert_eq!(batch.families[0].help, "Things.");
        assert_eq!(batch.points.len(), 6);
        let (labels, value) = &batch.points[1].samples[0];
        assert_eq!(labels.get("queue"), Some("m\"x"));
        assert_eq!(labels.get("job"), Some("lookout"));
        assert_eq!(*value, 2.5);
        assert_eq!(batch.points[0].temporality, Temporality::Cumulative);
        assert_eq!(batch.points[0].start_ms, 10);
        assert_eq!(batch.points[1].temporality, Temporality::Gauge);
        assert_eq!(batch.points[3].samples[0].0.get("le"), Some("+Inf"));
        assert!(parse_exposition("x{a=1} 2", 0, 0, &[]).is_err());
    }
}
