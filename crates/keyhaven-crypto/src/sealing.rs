//! Sealing under a 256-bit key: the format every wrapped key and secret is stored in.
//!
//! Sealed format (version 1): `0x01 || nonce (12) || AES-256-GCM(ciphertext || tag (16))`, with the caller's label as
//! associated data, so a sealed value cannot be moved to another record (or object). The root key seals with it, and
//! so do the keys that wrap S3 objects' data keys (SSE-S3's service key, an SSE-C customer's key).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroize;

use crate::{CryptoError, SecretBytes, random_array};

const SEALED_VERSION: u8 = 1;
/// Length of a sealing key (AES-256).
pub const SEALING_KEY_LEN: usize = 32;

/// A key that seals and opens values in the sealed format.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SEALING_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `plaintext`, binding it to `label` (for example the record it belongs to).
    pub fn seal(&self, label: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce_bytes);
        let mut body = plaintext.to_vec();
        let sealed =
            self.0
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(label), &mut body);
        if sealed.is_err() {
            // Still the plaintext: wiped before it is freed.
            body.zeroize();
            return Err(CryptoError::InvalidCiphertext);
        }
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts a value sealed under the same `label`.
    pub fn open(&self, label: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (version, rest) = sealed.split_first().ok_or(CryptoError::InvalidCiphertext)?;
        if *version != SEALED_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut work = body.to_vec();
        match self.0.open_in_place(nonce, Aad::from(label), &mut work) {
            Ok(plain) => {
                let plain_len = plain.len();
                work.truncate(plain_len);
            }
            Err(_) => {
                work.zeroize();
                return Err(CryptoError::InvalidCiphertext);
            }
        }
        Ok(SecretBytes::new(work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format, opened by an independent implementation: Python `cryptography`'s
    /// `AESGCM(bytes([0x33] * 32)).encrypt(bytes(range(12)), b"data key", b"label")`, behind the version byte and
    /// the nonce.
    #[test]
    fn a_value_sealed_elsewhere_in_the_documented_format_opens() {
        let key = SealingKey::new(&[0x33; SEALING_KEY_LEN]).expect("key");
        let mut sealed = vec![SEALED_VERSION];
        sealed.extend(0..12u8);
        sealed.extend(hex::decode(EXPECTED).expect("hex"));
        assert_eq!(key.open(b"label", &sealed).expect("open").expose(), b"data key");
        assert_eq!(key.open(b"other label", &sealed), Err(CryptoError::InvalidCiphertext));
    }

    const EXPECTED: &str = "7cc67a5bcb0b6b8230cef861432e89817ebb55102156b301";
}
