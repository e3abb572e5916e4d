//! Trace and span id newtypes. On every API they are lowercase hex.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must be {len} bytes ({hex_len} hex characters), got {got} bytes")]
    WrongLength {
        kind: &'static str,
        len: usize,
        hex_len: usize,
        got: usize,
    },
    #[error("{kind} must not be all zeros")]
    AllZero { kind: &'static str },
    #[error("{kind} is not valid hex")]
    NotHex { kind: &'static str },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $kind:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Accepts exactly the id's length and rejects the all-zero id,
            /// which OTLP defines as invalid.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $kind,
                    len: $len,
                    hex_len: $len * 2,
                    got: bytes.len(),
                })?;
                if array.iter().all(|b| *b == 0) {
                    return Err(IdError::AllZero { kind: $kind });
                }
                Ok($name(array))
            }

            /// Parses hex in either case.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                if text.len() != $len * 2 {
                    return Err(IdError::WrongLength {
                        kind: $kind,
                        len: $len,
                        hex_len: $len * 2,
                        got: text.len() / 2,
                    });
                }
                let bytes = hex::decode(text).map_err(|_| IdError::NotHex { kind: $kind })?;
                Self::from_bytes(&bytes)
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

id_type!(TraceId, 16, "trace_id");
id_type!(SpanId, 8, "span_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_is_lowercase() {
        let id = TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C").expect("valid id");
        assert_eq!(id.to_hex(), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn wrong_lengths_zero_and_non_hex_are_rejected() {
        assert!(matches!(
            TraceId::from_bytes(&[1; 15]),
            Err(IdError::WrongLength { got: 15, .. })
        ));
        assert_eq!(
            SpanId::from_bytes(&[0; 8]),
            Err(IdError::AllZero { kind: "span_id" })
        );
        assert_eq!(
            SpanId::from_hex("zz00000000000000"),
            Err(IdError::NotHex { kind: "span_id" })
        );
    }
}
