//! OTLP/gRPC to an upstream (`--forward-protocol grpc`): unary
//! `Export` calls of the trace, logs and metrics services over one HTTP/2
//! connection (TLS for `https://`), the outbox's encoded requests sent as
//! they are, on a small runtime of the forwarder's own thread.

use bytes::{Buf as _, BufMut as _};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{Sent, Transport, Upstream, CONNECT_TIMEOUT, MAX_RETRY_AFTER, REQUEST_TIMEOUT};
use crate::store::sqlite::forward::ForwardSignal;

/// The largest message sent or taken: the outbox's merged requests are
/// capped below it (`MAX_MERGED_BYTES`), and one accepted request can be
/// as large as `--max-decompressed-size` allows.
const MAX_MESSAGE: usize = 256 << 20;

fn method(signal: ForwardSignal) -> &'static str {
    match signal {
        ForwardSignal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        ForwardSignal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        ForwardSignal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    }
}

/// How a non-OK status is handled. The OpenTelemetry specification's
/// retryable codes are retried; so are the ones a corrected key or URL
/// fixes (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, as 401, 403
/// and 404 are over HTTP), while the outbox keeps the data. What the
/// upstream will never take is refused: INVALID_ARGUMENT, OUT_OF_RANGE
/// (a message past its size limit) and RESOURCE_EXHAUSTED without
/// `RetryInfo` (the specification's "not retryable" case of that code).
fn outcome(status: &tonic::Status, target: &str) -> Sent {
    let retry_info = status.get_details_retry_info();
    let error = format!(
        "{target}: gRPC {:?} {}",
        status.code(),
        status.message().chars().take(200).collect::<String>()
    );
    let refused = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => true,
        Code::ResourceExhausted => retry_info.is_none(),
        _ => false,
    };
    if refused {
        return Sent::Refused(error);
    }
    let after = retry_info
        .and_then(|info| info.retry_delay)
        .map(|delay| delay.min(MAX_RETRY_AFTER));
    Sent::Retry(error, after)
}

pub(super) struct Grpc {
    url: String,
    runtime: tokio::runtime::Runtime,
    client: tonic::client::Grpc<Channel>,
    metadata: MetadataMap,
}

impl Grpc {
    pub(super) fn new(upstream: &Upstream) -> anyhow::Result<Grpc> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut endpoint = Endpoint::from_shared(upstream.url.clone())?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))?;
        if upstream.url.starts_with("https://") {
            endpoint = endpoint.tls_config(ClientTlsConfig::new().with_webpki_roots())?;
        }
        // A lazy channel connects on first use and reconnects after a
        // failure by itself; it needs the runtime it will run on.
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut client = tonic::client::Grpc::new(channel)
            .max_encoding_message_size(MAX_MESSAGE)
            .max_decoding_message_size(MAX_MESSAGE)
            .accept_compressed(CompressionEncoding::Gzip);
        if upstream.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        let mut metadata = MetadataMap::new();
        for (name, value) in &upstream.headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|error| anyhow::anyhow!("--forward-header {name}: {error}"))?;
            let value = AsciiMetadataValue::try_from(value.as_str())
                .map_err(|error| anyhow::anyhow!("--forward-header {name}: {error}"))?;
            metadata.append(key, value);
        }
        Ok(Grpc {
            url: upstream.url.clone(),
            runtime,
            client,
            metadata,
        })
    }
}

impl Transport for Grpc {
    fn send(&mut self, signal: ForwardSignal, body: Vec<u8>) -> Sent {
        let target = format!("{}{}", self.url, method(signal));
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        let client = &mut self.client;
        let answer = self.runtime.block_on(async move {
            client
                .ready()
                .await
                .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
            client
                .unary(request, PathAndQuery::from_static(method(signal)), Raw)
                .await
        });
        match answer {
            Ok(response) => Sent::Delivered(response.into_inner()),
            Err(status) => outcome(&status, &target),
        }
    }
}

/// A tonic codec of messages as encoded bytes: the outbox holds the
/// requests encoded, and the upstream's answer is read for its
/// `partial_success` only. (The gRPC benchmark's clients send with it.)
#[derive(Clone, Copy, Default)]
pub struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut item = vec![0; src.remaining()];
        src.copy_to_slice(&mut item);
        Ok(Some(item))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn statuses_are_retried_unless_the_upstream_will_never_take_the_batch() {
        let kind = |status: tonic::Status| match outcome(&status, "t") {
            Sent::Delivered(_) => "delivered",
            Sent::Retry(_, None) => "retry",
            Sent::Retry(_, Some(_)) => "retry-after",
            Sent::Refused(_) => "refused",
        };
        assert_eq!(kind(tonic::Status::unavailable("busy")), "retry");
        assert_eq!(kind(tonic::Status::unauthenticated("key")), "retry");
        assert_eq!(kind(tonic::Status::unimplemented("no logs")), "retry");
        assert_eq!(kind(tonic::Status::invalid_argument("bad")), "refused");
        assert_eq!(kind(tonic::Status::out_of_range("too big")), "refused");
        assert_eq!(kind(tonic::Status::resource_exhausted("quota")), "refused");
        let with_retry_info = |code: Code| {
            tonic::Status::with_error_details(
                code,
                "later",
                tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
            )
        };
        assert_eq!(
            kind(with_retry_info(Code::ResourceExhausted)),
            "retry-after"
        );
        match outcome(&with_retry_info(Code::Unavailable), "t") {
            Sent::Retry(_, after) => assert_eq!(after, Some(Duration::from_secs(3))),
            _ => panic!("retried"),
        }
    }
}
