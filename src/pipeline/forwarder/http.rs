//! OTLP/HTTP protobuf to an upstream (`--forward-protocol http/protobuf`,
//! the default): `POST {url}/v1/traces|logs|metrics`, gzip when asked.

use std::io::Write as _;

use super::{Sent, Transport, Upstream, CONNECT_TIMEOUT, MAX_RETRY_AFTER, REQUEST_TIMEOUT};
use crate::store::sqlite::forward::ForwardSignal;

/// Answers that mean the upstream will never take this request
/// (malformed, too large, of a type it does not take). Every other
/// non-2xx answer is retried, among them 401/403/404, which a corrected
/// header or URL fixes while the outbox keeps the data.
pub(super) const REFUSED: [u16; 4] = [400, 413, 415, 422];

/// The most of a success answer read (for its `partial_success`).
const MAX_ANSWER: u64 = 64 << 10;

pub(super) struct Http {
    url: String,
    headers: Vec<(String, String)>,
    gzip: bool,
    agent: ureq::Agent,
}

impl Http {
    pub(super) fn new(upstream: &Upstream) -> Http {
        Http {
            url: upstream.url.clone(),
            headers: upstream.headers.clone(),
            gzip: upstream.gzip,
            agent: crate::outbound::agent(Some(CONNECT_TIMEOUT), REQUEST_TIMEOUT),
        }
    }
}

/// `body` gzip-compressed at the fastest level.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

impl Transport for Http {
    fn send(&mut self, signal: ForwardSignal, body: Vec<u8>) -> Sent {
        let target = format!("{}{}", self.url, signal.path());
        let mut request = self
            .agent
            .post(&target)
            .header("content-type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = if self.gzip {
            request = request.header("content-encoding", "gzip");
            match gzip(&body) {
                Ok(compressed) => compressed,
                Err(error) => return Sent::Retry(format!("{target}: gzip: {error}"), None),
            }
        } else {
            body
        };
        match request.send(&body[..]) {
            Ok(mut response) => match crate::outbound::refusal(&mut response, MAX_RETRY_AFTER) {
                None => Sent::Delivered(
                    response
                        .body_mut()
                        .with_config()
                        .limit(MAX_ANSWER)
                        .read_to_vec()
                        .unwrap_or_default(),
                ),
                Some(refusal) if REFUSED.contains(&refusal.status) => {
                    Sent::Refused(format!("{target}: {}", refusal.error))
                }
                Some(refusal) => {
                    Sent::Retry(format!("{target}: {}", refusal.error), refusal.retry_after)
                }
            },
            Err(error) => Sent::Retry(format!("{target}: {error}"), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        let body: Vec<u8> = (0..50_000u32).map(|i| (i % 97) as u8).collect();
        let compressed = gzip(&body).expect("gzip");
        assert!(compressed.len() < body.len() / 4);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut out)
            .expect("gunzip");
        assert_eq!(out, body);
    }
}
