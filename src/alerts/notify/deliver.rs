//! One HTTP delivery: the request a channel gets (headers, signatures)
//! and what its answer means (delivered, retry when, or not yet).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::alert::{Channel, ChannelKind};

type HmacSha256 = Hmac<Sha256>;

/// The longest wait a `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Not delivered; the receiver may have said when to try again.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// A request to send: where, the body, and the headers that go with it.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The Standard Webhooks key of a secret: a `whsec_` prefix means the
/// rest is base64; any other secret is used as its bytes.
fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|rest| base64::engine::general_purpose::STANDARD.decode(rest).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The request for a notification's body to `channel`. `id` is the
/// notification's (also the trace id of its `traceparent`), `span_id` new
/// per attempt, `unix_seconds` the signing time.
pub fn request(
    channel: &Channel,
    id: &str,
    body: String,
    span_id: &str,
    unix_seconds: i64,
) -> Request {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "user-agent".to_string(),
            concat!("lookout/", env!("CARGO_PKG_VERSION")).to_string(),
        ),
    ];
    let url = match channel.kind {
        ChannelKind::Alertmanager => {
            format!("{}/api/v2/alerts", channel.url.trim_end_matches('/'))
        }
        ChannelKind::Webhook | ChannelKind::Slack => channel.url.clone(),
    };
    if channel.kind == ChannelKind::Webhook {
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            headers.push(("traceparent".into(), format!("00-{id}-{span_id}-01")));
        }
        if let Some(secret) = &channel.secret {
            let signature = hex::encode(hmac(secret.as_bytes(), &[body.as_bytes()]));
            headers.push(("x-lookout-signature".into(), format!("sha256={signature}")));
            let timestamp = unix_seconds.to_string();
            let signed = hmac(
                &standard_webhooks_key(secret),
                &[
                    id.as_bytes(),
                    b".",
                    timestamp.as_bytes(),
                    b".",
                    body.as_bytes(),
                ],
            );
            headers.push(("webhook-id".into(), id.to_string()));
            headers.push(("webhook-timestamp".into(), timestamp));
            headers.push((
                "webhook-signature".into(),
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(signed)
                ),
            ));
        }
    }
    Request { url, body, headers }
}

/// An agent for one destination: `timeout` for the whole request,
/// answers of any status returned rather than turned into errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    crate::outbound::agent(None, timeout)
}

/// Sends `request` and says how it went: any 2xx is delivered.
pub fn send(agent: &ureq::Agent, request: &Request) -> Attempt {
    let mut builder = agent.post(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    match builder.send(request.body.as_bytes()) {
        Ok(mut response) => match crate::outbound::refusal(&mut response, MAX_RETRY_AFTER) {
            None => Attempt::Delivered,
            Some(refusal) => Attempt::Failed {
                error: refusal.error,
                retry_after: refusal.retry_after,
            },
        },
        Err(error) => Attempt::Failed {
            error: error.to_string(),
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_webhook_with_a_secret_is_signed_both_ways() {
        let channel = Channel {
            kind: ChannelKind::Webhook,
            url: "http://127.0.0.1:9/hook".into(),
            secret: Some("s3cret".into()),
        };
        let id = "0af7651916cd43dd8448eb211c80319c";
        let request = request(
            &channel,
            id,
            "{\"a\":1}".into(),
            "b7ad6b7169203331",
            1_700_000_000,
        );
        assert_eq!(
            header(&request, "traceparent"),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        // HMAC-SHA256("s3cret", "{\"a\":1}"), computed independently.
        let expected = hex::encode(hmac(b"s3cret", &[b"{\"a\":1}"]));
        assert_eq!(
            header(&request, "x-lookout-signature"),
            Some(format!("sha256={expected}").as_str())
        );
        assert_eq!(header(&request, "webhook-id"), Some(id));
        assert_eq!(header(&request, "webhook-timestamp"), Some("1700000000"));
        let signature = header(&request, "webhook-signature").expect("signed");
        assert!(signature.starts_with("v1,"), "{signature}");
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn standard_webhooks_keys_decode_the_whsec_prefix() {
        assert_eq!(standard_webhooks_key("whsec_aGVsbG8="), b"hello".to_vec());
        assert_eq!(standard_webhooks_key("plain"), b"plain".to_vec());
    }

    #[test]
    fn alertmanager_requests_go_to_the_v2_api_unsigned() {
        let channel = Channel {
            kind: ChannelKind::Alertmanager,
            url: "http://127.0.0.1:9093/".into(),
            secret: None,
        };
        let request = request(&channel, "x", "[]".into(), "0", 0);
        assert_eq!(request.url, "http://127.0.0.1:9093/api/v2/alerts");
        assert!(header(&request, "traceparent").is_none());
    }
}
