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

/// Cuts `text` to at most `max` bytes on a character boundary; true if it
/// was cut.
pub fn truncate_utf8(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        let mut text = "héllo".to_string();
        assert!(truncate_utf8(&mut text, 2));
        assert_eq!(text, "h");
        let mut short = "ok".to_string();
        assert!(!truncate_utf8(&mut short, 2));
    }
}
