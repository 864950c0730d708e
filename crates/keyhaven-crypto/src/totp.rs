//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): virtual MFA devices' codes.

use aws_lc_rs::hmac;

/// Seconds per TOTP step, as AWS virtual MFA devices use.
pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// The code for `step` (unix seconds / 30) under `secret`, as an integer below 10^6.
pub fn code_at_step(secret: &[u8], step: u64) -> u32 {
    // HMAC-SHA1 is what RFC 6238 authenticator apps implement; it is not used for anything else here.
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

/// The step a unix time falls in.
pub fn step_of(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds.div_euclid(STEP_SECONDS)).unwrap_or(0)
}

/// Parses a six-digit code as typed (leading zeros kept).
pub fn parse_code(text: &str) -> Option<u32> {
    (text.len() == DIGITS as usize && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Compares in constant time; `code` is six digits as typed.
pub fn matches(secret: &[u8], step: u64, code: &str) -> bool {
    match parse_code(code) {
        Some(expected) => {
            let actual = format!("{:06}", code_at_step(secret, step));
            crate::digest::constant_time_eq(actual.as_bytes(), format!("{expected:06}").as_bytes())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B (SHA-1 rows), truncated to six digits as authenticators show them.
    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        let cases = [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ];
        for (time, code) in cases {
            assert_eq!(code_at_step(secret, step_of(time)), code, "t={time}");
        }
    }

    #[test]
    fn codes_must_be_six_digits() {
        let secret = b"12345678901234567890";
        assert!(matches(secret, step_of(59), "287082"));
        assert!(!matches(secret, step_of(59), "287083"));
        assert!(!matches(secret, step_of(59), "28708"));
        assert!(!matches(secret, step_of(59), "2870822"));
        assert!(!matches(secret, step_of(59), "28708a"));
        assert!(matches(secret, step_of(1_234_567_890), "005924"), "leading zeros count");
    }
}
