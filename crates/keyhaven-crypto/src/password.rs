//! Console passwords as slow salted hashes (PBKDF2-HMAC-SHA256), verified in constant time.
//!
//! The stored form is `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>`, so the cost can
//! be raised later without losing the hashes already stored.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::CryptoError;

const SCHEME: &str = "pbkdf2-sha256";
/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
const ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// Hashes `password` under a fresh salt.
pub fn hash(password: &[u8]) -> Result<String, CryptoError> {
    hash_with(password, ITERATIONS)
}

fn hash_with(password: &[u8], iterations: u32) -> Result<String, CryptoError> {
    let salt = crate::random_bytes(SALT_BYTES)?;
    let rounds = NonZeroU32::new(iterations).ok_or(CryptoError::KeyLength)?;
    let mut out = [0u8; HASH_BYTES];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt.expose(), password, &mut out);
    Ok(format!(
        "{SCHEME}${iterations}${}${}",
        B64.encode(salt.expose()),
        B64.encode(out)
    ))
}

/// Whether `password` is the one `stored` was made from (constant time in the password).
pub fn verify(password: &[u8], stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(expected), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(rounds), Ok(salt), Ok(expected)) = (
        iterations.parse().ok().and_then(NonZeroU32::new),
        B64.decode(salt),
        B64.decode(expected),
    ) else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password, &expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let stored = hash_with(b"correct horse", 1_000).expect("hash");
        assert!(verify(b"correct horse", &stored));
        assert!(!verify(b"correct horsf", &stored));
        assert!(!verify(b"", &stored));
        assert!(!stored.contains("correct"));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        assert_ne!(
            hash_with(b"pw", 1_000).expect("hash"),
            hash_with(b"pw", 1_000).expect("hash")
        );
    }

    /// Made by Python's `hashlib.pbkdf2_hmac('sha256', b'password', b'saltsaltsaltsalt', 600000)`.
    #[test]
    fn matches_an_independent_implementation() {
        let stored = "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA$MlfPduVqnMTjr6Vhw/1NqmlSth6RxONllVEhBCz7lKI";
        assert!(verify(b"password", stored));
        assert!(!verify(b"Password", stored));
    }

    #[test]
    fn malformed_stored_forms_never_verify() {
        for stored in [
            "",
            "pbkdf2-sha256$0$AA$AA",
            "md5$1$AA$AA",
            "pbkdf2-sha256$10$!!$AA",
            "a$b$c$d$e",
        ] {
            assert!(!verify(b"pw", stored), "{stored}");
        }
    }
}
