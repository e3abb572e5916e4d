//! Request bodies: content encodings and the decompressed-size limit.

use std::io::Read;

use super::{IngestError, Limits};

/// Returns the body with its content encoding undone. `gzip` is decoded
/// through a reader capped at the decompressed limit, so a gzip bomb costs
/// at most that much memory before it is refused.
pub fn decode_content_encoding(
    body: &[u8],
    content_encoding: Option<&str>,
    limits: &Limits,
) -> Result<Vec<u8>, IngestError> {
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() > limits.max_decompressed_bytes {
                return Err(too_large(limits));
            }
            Ok(body.to_vec())
        }
        Some("gzip") | Some("x-gzip") => {
            let cap = limits.max_decompressed_bytes as u64;
            let mut decoder = flate2::read::MultiGzDecoder::new(body).take(cap + 1);
            let mut out = Vec::with_capacity(
                body.len()
                    .saturating_mul(4)
                    .min(limits.max_decompressed_bytes),
            );
            decoder.read_to_end(&mut out).map_err(IngestError::Gzip)?;
            if out.len() as u64 > cap {
                return Err(too_large(limits));
            }
            Ok(out)
        }
        Some(other) => Err(IngestError::UnsupportedEncoding(other.to_string())),
    }
}

fn too_large(limits: &Limits) -> IngestError {
    IngestError::TooLarge {
        limit: limits.max_decompressed_bytes,
        decompressed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn gzip_is_decoded_and_identity_passes_through() {
        let limits = Limits::default();
        assert_eq!(
            decode_content_encoding(&gzip(b"hello"), Some("gzip"), &limits).expect("gzip"),
            b"hello".to_vec()
        );
        assert_eq!(
            decode_content_encoding(b"hi", None, &limits).expect("identity"),
            b"hi".to_vec()
        );
    }

    #[test]
    fn a_gzip_bomb_is_too_large() {
        let limits = Limits {
            max_decompressed_bytes: 1024,
            ..Limits::default()
        };
        let bomb = gzip(&vec![0u8; 1024 * 1024]);
        assert!(matches!(
            decode_content_encoding(&bomb, Some("gzip"), &limits),
            Err(IngestError::TooLarge { .. })
        ));
        assert!(decode_content_encoding(&gzip(&[0u8; 1024]), Some("gzip"), &limits).is_ok());
    }

    #[test]
    fn corrupt_gzip_and_unknown_encodings_are_refused() {
        let limits = Limits::default();
        assert!(matches!(
            decode_content_encoding(b"not gzip", Some("gzip"), &limits),
            Err(IngestError::Gzip(_))
        ));
        assert!(matches!(
            decode_content_encoding(b"x", Some("br"), &limits),
            Err(IngestError::UnsupportedEncoding(_))
        ));
    }
}
