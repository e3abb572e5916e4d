//! The admin password: argon2id (the `argon2` crate's defaults, OWASP's
//! recommended m = 19 MiB, t = 2), stored as a PHC string.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// Shortest and longest password accepted.
pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must be {MIN_LENGTH} to {MAX_LENGTH} characters")]
    Length,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Checks a new password's length.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if (MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// Hashes a new password with a random salt. Takes tens of milliseconds of
/// CPU: call it off the async runtime.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_new(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hash(error.to_string()))
}

/// Whether `password` matches the stored hash. A hash that does not parse
/// matches nothing. Slow on purpose: call it off the async runtime.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LENGTH * 4 {
        return false;
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::Length));
        assert!(check_new(&"x".repeat(12)).is_ok());
        assert_eq!(check_new(&"x".repeat(1025)), Err(PasswordError::Length));
    }
}
