//! A rule as a client sends it ([`RuleInput`]) checked field by field into
//! a [`RuleSpec`]: defaults filled in, ranges checked, queries parsed with
//! the same parsers that evaluate them. Every error names its field.

use crate::model::alert::{
    AlertLabels, AlertSeverity, Channel, ChannelKind, Condition, NoData, RuleKind, RuleSpec,
};

/// What a secret looks like in responses; sent back in a `PUT`, it keeps
/// the stored secret.
pub const MASKED_SECRET: &str = "********";

pub const MAX_CHANNELS: usize = 10;
const MAX_LABELS: usize = 32;
const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 4_000;
const MAX_URL: usize = 2_048;
const MAX_MINUTES: i64 = 1_440;
/// Cooldown and repeat may be up to a week.
const MAX_LONG_MINUTES: i64 = 10_080;

pub use crate::model::FieldError;

/// A rule's fields as given; `None` = not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub query: Option<String>,
    pub metric: Option<String>,
    pub percentile: Option<f64>,
    pub condition: Option<String>,
    pub threshold: Option<f64>,
    pub recovery_threshold: Option<f64>,
    pub window_minutes: Option<i64>,
    pub for_minutes: Option<i64>,
    pub keep_firing_minutes: Option<i64>,
    pub no_data: Option<String>,
    pub severity: Option<String>,
    pub cooldown_minutes: Option<i64>,
    pub repeat_minutes: Option<i64>,
    pub enabled: Option<bool>,
    pub labels: Option<Vec<(String, String)>>,
    pub channels: Option<Vec<ChannelInput>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelInput {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub secret: Option<String>,
}

fn named<T: Copy>(
    field: &str,
    value: Option<&str>,
    default: T,
    parse: fn(&str) -> Option<T>,
    names: fn() -> String,
) -> Result<T, FieldError> {
    match value {
        None => Ok(default),
        Some(text) => parse(text)
            .ok_or_else(|| FieldError::new(field, format!("{text:?} is not one of {}", names()))),
    }
}

fn minutes(field: &str, value: Option<i64>, default: u32, max: i64) -> Result<u32, FieldError> {
    let value = value.unwrap_or(i64::from(default));
    if !(0..=max).contains(&value) {
        return Err(FieldError::new(
            field,
            format!("must be between 0 and {max} minutes, got {value}"),
        ));
    }
    Ok(value as u32)
}

/// Trimmed text, `None` when missing or blank.
fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

fn finite(field: &str, value: Option<f64>) -> Result<Option<f64>, FieldError> {
    match value {
        Some(value) if !value.is_finite() => Err(FieldError::new(field, "must be a finite number")),
        other => Ok(other),
    }
}

/// Checks a rule. `previous` is the stored rule a `PUT` replaces: a
/// masked secret sent back keeps its channel's stored secret.
pub fn validate(input: &RuleInput, previous: Option<&RuleSpec>) -> Result<RuleSpec, FieldError> {
    let name = text(&input.name).ok_or_else(|| FieldError::new("name", "is required"))?;
    if name.chars().count() > MAX_NAME {
        return Err(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    let description = input.description.clone().unwrap_or_default();
    if description.chars().count() > MAX_TEXT {
        return Err(FieldError::new(
            "description",
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    let kind = match input.kind.as_deref() {
        None => {
            return Err(FieldError::new(
                "kind",
                format!("is required: one of {}", RuleKind::names()),
            ))
        }
        Some(text) => RuleKind::parse(text).ok_or_else(|| {
            FieldError::new(
                "kind",
                format!("{text:?} is not one of {}", RuleKind::names()),
            )
        })?,
    };
    let condition = named(
        "condition",
        input.condition.as_deref(),
        Condition::Gt,
        Condition::parse,
        Condition::names,
    )?;
    let threshold = finite("threshold", input.threshold)?
        .ok_or_else(|| FieldError::new("threshold", "is required"))?;
    let recovery_threshold = finite("recovery_threshold", input.recovery_threshold)?;
    if let Some(recovery) = recovery_threshold {
        let wrong_side = if condition.is_upper() {
            recovery > threshold
        } else {
            recovery < threshold
        };
        if wrong_side {
            return Err(FieldError::new(
                "recovery_threshold",
                format!(
                    "must not be {} the threshold ({threshold}) for condition {}",
                    if condition.is_upper() {
                        "above"
                    } else {
                        "below"
                    },
                    condition.as_str()
                ),
            ));
        }
    }
    let window_minutes = minutes("window_minutes", input.window_minutes, 5, MAX_MINUTES)?;
    if window_minutes == 0 {
        return Err(FieldError::new(
            "window_minutes",
            "must be at least 1 minute",
        ));
    }
    let mut spec = RuleSpec {
        name,
        description,
        kind,
        service: text(&input.service),
        operation: text(&input.operation),
        query: text(&input.query),
        metric: text(&input.metric),
        percentile: finite("percentile", input.percentile)?,
        condition,
        threshold,
        recovery_threshold,
        window_minutes,
        for_minutes: minutes("for_minutes", input.for_minutes, 0, MAX_MINUTES)?,
        keep_firing_minutes: minutes(
            "keep_firing_minutes",
            input.keep_firing_minutes,
            0,
            MAX_MINUTES,
        )?,
        no_data: named(
            "no_data",
            input.no_data.as_deref(),
            NoData::Ok,
            NoData::parse,
            NoData::names,
        )?,
        severity: named(
            "severity",
            input.severity.as_deref(),
            AlertSeverity::Warning,
            AlertSeverity::parse,
            AlertSeverity::names,
        )?,
        cooldown_minutes: minutes(
            "cooldown_minutes",
            input.cooldown_minutes,
            0,
            MAX_LONG_MINUTES,
        )?,
        repeat_minutes: minutes(
            "repeat_minutes",
            input.repeat_minutes,
            240,
            MAX_LONG_MINUTES,
        )?,
        enabled: input.enabled.unwrap_or(true),
        labels: labels(input.labels.as_deref().unwrap_or_default())?,
        channels: channels(input.channels.as_deref().unwrap_or_default(), previous)?,
    };
    check_kind(&mut spec)?;
    Ok(spec)
}

/// The fields each kind needs, and the ones it must not have.
fn check_kind(spec: &mut RuleSpec) -> Result<(), FieldError> {
    let needs_service = matches!(
        spec.kind,
        RuleKind::ErrorRate | RuleKind::Latency | RuleKind::RequestRate
    );
    if needs_service && spec.service.is_none() {
        return Err(FieldError::new(
            "service",
            format!("is required for kind {}", spec.kind.as_str()),
        ));
    }
    if !needs_service && spec.operation.is_some() {
        return Err(FieldError::new(
            "operation",
            format!("applies to span kinds only, not {}", spec.kind.as_str()),
        ));
    }
    if matches!(spec.kind, RuleKind::Metric | RuleKind::Promql) && spec.service.is_some() {
        return Err(FieldError::new(
            "service",
            format!(
                "does not apply to kind {}: put it in the {}",
                spec.kind.as_str(),
                if spec.kind == RuleKind::Metric {
                    "metric's matchers"
                } else {
                    "query"
                }
            ),
        ));
    }
    match spec.kind {
        RuleKind::Latency => {
            let percentile = spec.percentile.ok_or_else(|| {
                FieldError::new("percentile", "is required for kind latency (50 to 99.9)")
            })?;
            if !(50.0..=99.9).contains(&percentile) {
                return Err(FieldError::new(
                    "percentile",
                    format!("must be between 50 and 99.9, got {percentile}"),
                ));
            }
        }
        _ if spec.percentile.is_some() => {
            return Err(FieldError::new(
                "percentile",
                format!("applies to kind latency only, not {}", spec.kind.as_str()),
            ))
        }
        _ => {}
    }
    match spec.kind {
        RuleKind::LogCount => {
            let query = spec.query.as_deref().unwrap_or("");
            // An empty query counts every record (of the service).
            crate::query::logql::parse(query)
                .map_err(|error| FieldError::new("query", error.to_string()))?;
        }
        RuleKind::ErrorGroup => {
            if let Some(query) = spec.query.as_deref() {
                if query != crate::alerts::evaluate::NEW_GROUPS {
                    return Err(FieldError::new(
                        "query",
                        format!("for kind error_group is empty or \"new\", got {query:?}"),
                    ));
                }
            }
        }
        RuleKind::Promql => {
            let query = spec
                .query
                .as_deref()
                .ok_or_else(|| FieldError::new("query", "is required for kind promql"))?;
            promql_parser::parser::parse(query)
                .map_err(|error| FieldError::new("query", error.to_string()))?;
        }
        _ if spec.query.is_some() => {
            return Err(FieldError::new(
                "query",
                format!(
                    "applies to kinds log_count, promql and error_group, not {}",
                    spec.kind.as_str()
                ),
            ))
        }
        _ => {}
    }
    match spec.kind {
        RuleKind::Metric => {
            let metric = spec
                .metric
                .as_deref()
                .ok_or_else(|| FieldError::new("metric", "is required for kind metric"))?;
            let selectors = crate::query::metrics::parse_selector(metric)
                .map_err(|error| FieldError::new("metric", error.to_string()))?;
            if selectors.is_empty() {
                return Err(FieldError::new("metric", "must select a metric"));
            }
        }
        _ if spec.metric.is_some() => {
            return Err(FieldError::new(
                "metric",
                format!("applies to kind metric only, not {}", spec.kind.as_str()),
            ))
        }
        _ => {}
    }
    Ok(())
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn labels(pairs: &[(String, String)]) -> Result<AlertLabels, FieldError> {
    if pairs.len() > MAX_LABELS {
        return Err(FieldError::new(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    let mut labels = AlertLabels::new();
    for (name, value) in pairs {
        if !valid_label_name(name) {
            return Err(FieldError::new(
                format!("labels.{name}"),
                "a label name must match [a-zA-Z_][a-zA-Z0-9_]*",
            ));
        }
        if value.chars().count() > MAX_TEXT {
            return Err(FieldError::new(
                format!("labels.{name}"),
                format!("must be at most {MAX_TEXT} characters"),
            ));
        }
        labels.insert(name.clone(), value.clone());
    }
    Ok(labels)
}

/// An absolute http(s) URL with a host.
fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    if url.len() > MAX_URL {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| FieldError::new(field, format!("{url:?} is not an http or https URL")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Err(FieldError::new(field, format!("{url:?} has no host")));
    }
    Ok(())
}

fn channels(
    inputs: &[ChannelInput],
    previous: Option<&RuleSpec>,
) -> Result<Vec<Channel>, FieldError> {
    if inputs.len() > MAX_CHANNELS {
        return Err(FieldError::new(
            "channels",
            format!("at most {MAX_CHANNELS} channels"),
        ));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let field = |name: &str| format!("channels[{index}].{name}");
            let kind = match input.kind.as_deref() {
                None => {
                    return Err(FieldError::new(
                        field("type"),
                        format!("is required: one of {}", ChannelKind::names()),
                    ))
                }
                Some(text) => ChannelKind::parse(text).ok_or_else(|| {
                    FieldError::new(
                        field("type"),
                        format!("{text:?} is not one of {}", ChannelKind::names()),
                    )
                })?,
            };
            let url = text(&input.url).ok_or_else(|| FieldError::new(field("url"), "is required"))?;
            check_url(&field("url"), &url)?;
            let secret = match input.secret.as_deref() {
                None | Some("") => None,
                Some(_) if kind != ChannelKind::Webhook => {
                    return Err(FieldError::new(
                        field("secret"),
                        "only webhook channels sign their requests",
                    ))
                }
                Some(MASKED_SECRET) => {
                    let stored = previous.and_then(|spec| {
                        spec.channels
                            .iter()
                            .find(|channel| channel.kind == kind && channel.url == url)
                            .and_then(|channel| channel.secret.clone())
                    });
                    Some(stored.ok_or_else(|| {
                        FieldError::new(
                            field("secret"),
                            "is masked but no stored channel with this URL has a secret: send the secret itself",
                        )
                    })?)
                }
                Some(secret) if secret.len() > 512 => {
                    return Err(FieldError::new(field("secret"), "must be at most 512 bytes"))
                }
                Some(secret) => Some(secret.to_string()),
            };
            Ok(Channel { kind, url, secret })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RuleInput {
        RuleInput {
            name: Some("checkout errors".into()),
            kind: Some("error_rate".into()),
            service: Some("checkout".into()),
            threshold: Some(0.05),
            ..RuleInput::default()
        }
    }

    fn field_of(input: RuleInput) -> String {
        validate(&input, None).expect_err("invalid").field
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let spec = validate(&input(), None).expect("valid");
        assert_eq!(spec.condition, Condition::Gt);
        assert_eq!(spec.window_minutes, 5);
        assert_eq!(spec.repeat_minutes, 240);
        assert_eq!(spec.no_data, NoData::Ok);
        assert_eq!(spec.severity, AlertSeverity::Warning);
        assert!(spec.enabled);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(RuleInput {
                name: Some("  ".into()),
                ..input()
            }),
            "name"
        );
        assert_eq!(
            field_of(RuleInput {
                kind: Some("cpu".into()),
                ..input()
            }),
            "kind"
        );
        assert_eq!(
            field_of(RuleInput {
                threshold: None,
                ..input()
            }),
            "threshold"
        );
        assert_eq!(
            field_of(RuleInput {
                threshold: Some(f64::NAN),
                ..input()
            }),
            "threshold"
        );
        assert_eq!(
            field_of(RuleInput {
                condition: Some("=>".into()),
                ..input()
            }),
            "condition"
        );
        assert_eq!(
            field_of(RuleInput {
                window_minutes: Some(0),
                ..input()
            }),
            "window_minutes"
        );
        assert_eq!(
            field_of(RuleInput {
                for_minutes: Some(-1),
                ..input()
            }),
            "for_minutes"
        );
        assert_eq!(
            field_of(RuleInput {
                service: None,
                ..input()
            }),
            "service"
        );
        assert_eq!(
            field_of(RuleInput {
                recovery_threshold: Some(0.1),
                ..input()
            }),
            "recovery_threshold"
        );
        assert_eq!(
            field_of(RuleInput {
                percentile: Some(95.0),
                ..input()
            }),
            "percentile"
        );
        assert_eq!(
            field_of(RuleInput {
                kind: Some("latency".into()),
                percentile: Some(99.95),
                ..input()
            }),
            "percentile"
        );
        assert_eq!(
            field_of(RuleInput {
                kind: Some("promql".into()),
                service: None,
                query: Some("sum(".into()),
                ..input()
            }),
            "query"
        );
        assert_eq!(
            field_of(RuleInput {
                kind: Some("log_count".into()),
                query: Some("level:verbose".into()),
                ..input()
            }),
            "query"
        );
        assert_eq!(
            field_of(RuleInput {
                kind: Some("metric".into()),
                service: None,
                metric: Some("up{".into()),
                ..input()
            }),
            "metric"
        );
        assert_eq!(
            field_of(RuleInput {
                labels: Some(vec![("1bad".into(), "x".into())]),
                ..input()
            }),
            "labels.1bad"
        );
    }

    #[test]
    fn channels_need_http_urls_and_only_webhooks_have_secrets() {
        let with = |channel: ChannelInput| RuleInput {
            channels: Some(vec![channel]),
            ..input()
        };
        let webhook = |url: &str| ChannelInput {
            kind: Some("webhook".into()),
            url: Some(url.into()),
            secret: None,
        };
        assert_eq!(
            field_of(with(webhook("ftp://example.com/"))),
            "channels[0].url"
        );
        assert_eq!(field_of(with(webhook("http:///path"))), "channels[0].url");
        assert_eq!(
            field_of(with(webhook("javascript:alert(1)"))),
            "channels[0].url"
        );
        assert_eq!(
            field_of(with(ChannelInput {
                kind: Some("email".into()),
                ..webhook("http://h/")
            })),
            "channels[0].type"
        );
        assert_eq!(
            field_of(with(ChannelInput {
                kind: Some("slack".into()),
                secret: Some("x".into()),
                ..webhook("https://hooks.slack.com/services/x")
            })),
            "channels[0].secret"
        );
        assert!(validate(&with(webhook("http://127.0.0.1:9000/hook?x=1")), None).is_ok());
    }

    #[test]
    fn a_masked_secret_keeps_the_stored_one_for_the_same_url() {
        let channel = |secret: &str| ChannelInput {
            kind: Some("webhook".into()),
            url: Some("http://127.0.0.1:9/hook".into()),
            secret: Some(secret.into()),
        };
        let stored = validate(
            &RuleInput {
                channels: Some(vec![channel("s3cret")]),
                ..input()
            },
            None,
        )
        .expect("valid");
        let masked = RuleInput {
            channels: Some(vec![channel(MASKED_SECRET)]),
            ..input()
        };
        let kept = validate(&masked, Some(&stored)).expect("kept");
        assert_eq!(kept.channels[0].secret.as_deref(), Some("s3cret"));
        assert_eq!(
            validate(&masked, None).expect_err("nothing stored").field,
            "channels[0].secret"
        );
    }
}
