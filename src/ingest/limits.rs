//! Limits on what one request may carry.

/// Request and attribute limits, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes on the wire (compressed or not).
    pub max_request_bytes: usize,
    /// Bytes after decompression; a gzip bomb stops here.
    pub max_decompressed_bytes: usize,
    /// Attributes kept per span, event, link or resource; the rest are
    /// dropped and counted in the partial-success message.
    pub max_attributes: usize,
    /// String and bytes values are truncated to this many bytes.
    pub max_attribute_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 20 * 1024 * 1024,
            max_decompressed_bytes: 20 * 1024 * 1024,
            max_attributes: 128,
            max_attribute_value_bytes: 16 * 1024,
        }
    }
}
