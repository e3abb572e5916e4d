//! What lookout's own HTTP clients share (alert notifications, forwarding
//! to upstreams): an agent that returns answers of any status, and how a
//! refusing answer is read: its status, the `Retry-After` it asks for and
//! the start of its body for the log.

use std::time::Duration;

/// An agent with `connect` and `total` timeouts, answers of any status
/// returned rather than turned into errors.
pub fn agent(connect: Option<Duration>, total: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(connect)
        .timeout_global(Some(total))
        .http_status_as_error(false)
        .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A non-2xx answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `Retry-After` in seconds, capped by the caller.
    pub retry_after: Option<Duration>,
    /// "HTTP 503" and up to 200 characters of the body.
    pub error: String,
}

/// Reads `response`: `None` for a 2xx, else what it says, with a
/// `Retry-After` of at most `max_retry_after`.
pub fn refusal(
    response: &mut ureq::http::Response<ureq::Body>,
    max_retry_after: Duration,
) -> Option<Refusal> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return None;
    }
    let retry_after = retry_after(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        max_retry_after,
    );
    let text = response
        .body_mut()
        .with_config()
        .limit(512)
        .read_to_string()
        .unwrap_or_default();
    let text: String = text.trim().chars().take(200).collect();
    let error = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    Some(Refusal {
        status,
        retry_after,
        error,
    })
}

/// `Retry-After` in seconds (HTTP dates are read as "no advice").
fn retry_after(value: Option<&str>, max: Duration) -> Option<Duration> {
    let seconds: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let max = Duration::from_secs(600);
        assert_eq!(retry_after(Some("7"), max), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("999999"), max), Some(max));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), max),
            None
        );
        assert_eq!(retry_after(None, max), None);
    }
}
