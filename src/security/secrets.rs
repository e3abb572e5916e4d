//! Random secrets (session ids, ingest keys), their SHA-256 and constant
//! time comparison. A secret is shown once; only its hash is kept.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::security::SecretHash;

/// 32 random bytes as unpadded base64url (43 characters).
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether two byte strings are equal, in time that depends only on their
/// lengths.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `wanted` is among `hashes`. Every entry is compared (no early
/// exit), so the time does not tell which one matched. Returns the index
/// of the match.
pub fn find_hash<'a>(
    wanted: &SecretHash,
    hashes: impl Iterator<Item = &'a SecretHash>,
) -> Option<usize> {
    let mut found = None;
    for (index, hash) in hashes.enumerate() {
        let hit: bool = hash.ct_eq(wanted).into();
        if hit && found.is_none() {
            found = Some(index);
        }
    }
    found
}

/// The first 8 hex digits of a hash: enough to tell sessions apart in the
/// audit log, useless for using one.
pub fn short_hex(hash: &SecretHash) -> String {
    hex::encode(&hash[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_differ() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn find_hash_finds_the_match_among_all() {
        let hashes = [sha256("a"), sha256("b"), sha256("c")];
        assert_eq!(find_hash(&sha256("b"), hashes.iter()), Some(1));
        assert_eq!(find_hash(&sha256("d"), hashes.iter()), None);
        assert!(equal(b"same", b"same"));
        assert!(!equal(b"same", b"sane"));
        assert!(!equal(b"same", b"same!"));
    }
}
