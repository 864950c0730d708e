//! SSE-C: the customer's key as a request's `x-amz-server-side-encryption-customer-*` headers carry it, checked
//! as S3 checks it, and the salted HMAC that is all S3 keeps of it to recognise the key on later requests. The key
//! itself is zeroized when dropped and never stored, logged or put in an error.
//!
//! Error codes and messages were recorded from AWS (`aws-errors-observed.tsv`, snapshot keys `put-obj-sse-c-*` and
//! `get-obj-sse-c-*`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha256, md5};

use crate::S3Error;

/// The one algorithm SSE-C takes.
pub const ALGORITHM: &str = "AES256";
const KEY_LEN: usize = 32;
/// Length of the salt each object version's key fingerprint is computed with.
pub const FINGERPRINT_SALT_LEN: usize = 32;

const INCOMPATIBLE: &str =
    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified";
const NO_ALGORITHM: &str =
    "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.";
const BAD_ALGORITHM: &str = "The Encryption request you specified is not valid. Supported value: AES256.";
const NO_KEY: &str =
    "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.";
const BAD_KEY: &str = "The secret key was invalid for the specified algorithm.";
const BAD_MD5: &str = "The calculated MD5 hash of the key did not match the hash that was provided.";
const WRONG_KEY: &str =
    "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.";

/// The SSE-C headers of a request (or the `x-amz-copy-source-…` ones of a copy's source), as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerKeyHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
    /// `x-amz-server-side-encryption`, which SSE-C excludes.
    pub server_side_encryption: Option<&'a str>,
}

/// A customer key that passed S3's checks.
#[derive(Debug)]
pub struct CustomerKey {
    key: SecretBytes,
    /// The key's MD5 as the client sent it, which responses echo.
    key_md5: String,
}

impl CustomerKey {
    /// The customer key a request carries, or `None` when it asks for no SSE-C.
    pub fn from_headers(headers: CustomerKeyHeaders<'_>) -> Result<Option<Self>, S3Error> {
        if headers.algorithm.is_none() && headers.key.is_none() && headers.key_md5.is_none() {
            return Ok(None);
        }
        if headers.server_side_encryption.is_some() {
            return Err(S3Error::InvalidArgument(INCOMPATIBLE.into()));
        }
        match headers.algorithm {
            None => return Err(S3Error::InvalidArgument(NO_ALGORITHM.into())),
            Some(ALGORITHM) => {}
            Some(_) => return Err(S3Error::InvalidEncryptionAlgorithm(BAD_ALGORITHM.into())),
        }
        let encoded = headers.key.ok_or_else(|| S3Error::InvalidArgument(NO_KEY.into()))?;
        // Held as a secret from the moment it is decoded, so that a key refused for its length is wiped too.
        let key = STANDARD
            .decode(encoded)
            .map(SecretBytes::new)
            .ok()
            .filter(|key| key.expose().len() == KEY_LEN)
            .ok_or_else(|| S3Error::InvalidArgument(BAD_KEY.into()))?;
        // A missing MD5 is taken as one that does not match (S3's answer to it is not recorded).
        let key_md5 = headers.key_md5.unwrap_or_default();
        let matches = STANDARD
            .decode(key_md5)
            .is_ok_and(|sent| constant_time_eq(&sent, &md5(key.expose())));
        if !matches {
            return Err(S3Error::InvalidArgument(BAD_MD5.into()));
        }
        Ok(Some(Self {
            key,
            key_md5: key_md5.to_string(),
        }))
    }

    /// The raw 256-bit key, to seal or open the object's data key with.
    pub fn expose(&self) -> &[u8] {
        self.key.expose()
    }

    /// The key's MD5 in base64, as responses echo it.
    pub fn key_md5(&self) -> &str {
        &self.key_md5
    }

    /// What an object version keeps to recognise its key: HMAC-SHA256 of the key under a salt of its own.
    pub fn fingerprint(&self, salt: &[u8; FINGERPRINT_SALT_LEN]) -> [u8; 32] {
        hmac_sha256(salt, self.key.expose())
    }

    /// Refuses a key other than the one an object version was written with, as S3 does.
    pub fn check(&self, salt: &[u8; FINGERPRINT_SALT_LEN], fingerprint: &[u8; 32]) -> Result<(), S3Error> {
        if constant_time_eq(&self.fingerprint(salt), fingerprint) {
            Ok(())
        } else {
            Err(S3Error::AccessDenied(WRONG_KEY.into()))
        }
    }
}

/// A customer key as a client sends `raw`, checked (for the tests of what uses one).
#[cfg(test)]
pub(crate) fn customer_key(raw: &[u8]) -> CustomerKey {
    use base64::Engine as _;
    let (key, key_md5) = (STANDARD.encode(raw), STANDARD.encode(md5(raw)));
    CustomerKey::from_headers(CustomerKeyHeaders {
        algorithm: Some(ALGORITHM),
        key: Some(&key),
        key_md5: Some(&key_md5),
        server_side_encryption: None,
    })
    .expect("valid")
    .expect("present")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [0x42; KEY_LEN];

    fn encoded(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn header_rules_table() {
        let key = encoded(&KEY);
        let key_md5 = encoded(&md5(&KEY));
        let short_key = encoded(&KEY[..16]);
        let short_md5 = encoded(&md5(&KEY[..16]));
        let other_md5 = encoded(&md5(b"another key"));
        let headers = |algorithm, key, key_md5, sse| CustomerKeyHeaders {
            algorithm,
            key,
            key_md5,
            server_side_encryption: sse,
        };
        let k = Some(key.as_str());
        let m = Some(key_md5.as_str());
        let invalid = |message: &str| Err(S3Error::InvalidArgument(message.into()));
        let cases: Vec<(&str, CustomerKeyHeaders<'_>, Result<(), S3Error>)> = vec![
            ("a valid key", headers(Some("AES256"), k, m, None), Ok(())),
            (
                "with SSE-S3 too",
                headers(Some("AES256"), k, m, Some("AES256")),
                invalid(INCOMPATIBLE),
            ),
            ("no algorithm", headers(None, k, m, None), invalid(NO_ALGORITHM)),
            (
                "another algorithm",
                headers(Some("aws:kms"), k, m, None),
                Err(S3Error::InvalidEncryptionAlgorithm(BAD_ALGORITHM.into())),
            ),
            ("no key", headers(Some("AES256"), None, m, None), invalid(NO_KEY)),
            (
                "a key that is not base64",
                headers(Some("AES256"), Some("not base64!"), m, None),
                invalid(BAD_KEY),
            ),
            (
                "a 128-bit key",
                headers(Some("AES256"), Some(short_key.as_str()), Some(short_md5.as_str()), None),
                invalid(BAD_KEY),
            ),
            (
                "another key's MD5",
                headers(Some("AES256"), k, Some(other_md5.as_str()), None),
                invalid(BAD_MD5),
            ),
            ("no MD5", headers(Some("AES256"), k, None, None), invalid(BAD_MD5)),
        ];
        for (name, headers, expected) in cases {
            let got = CustomerKey::from_headers(headers).map(|key| {
                assert_eq!(key.expect("a key").key_md5(), key_md5, "{name}");
            });
            assert_eq!(got, expected, "{name}");
        }
        assert!(
            CustomerKey::from_headers(CustomerKeyHeaders {
                server_side_encryption: Some("aws:kms"),
                ..Default::default()
            })
            .expect("no SSE-C")
            .is_none()
        );
    }

    #[test]
    fn only_the_key_an_object_was_written_with_is_recognised() {
        let parse = customer_key;
        let salt = [7; FINGERPRINT_SALT_LEN];
        let stored = parse(&KEY).fingerprint(&salt);
        assert_ne!(stored[..], KEY[..], "the fingerprint is not the key");
        assert_eq!(parse(&KEY).check(&salt, &stored), Ok(()));
        assert_eq!(
            parse(&[0x43; KEY_LEN]).check(&salt, &stored),
            Err(S3Error::AccessDenied(WRONG_KEY.into()))
        );
        assert_ne!(parse(&KEY).fingerprint(&[8; FINGERPRINT_SALT_LEN]), stored, "salted");
    }
}
