//! The root key: wraps every piece of key material before it reaches the store.
//!
//! Sealed format (version 1): `0x01 || nonce (12) || AES-256-GCM(ciphertext || tag (16))`, with
//! the caller's label as associated data so a sealed value cannot be moved to another record.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use zeroize::Zeroize;

use crate::{CryptoError, SecretBytes, random_array};

const SEALED_VERSION: u8 = 1;
const DERIVATION_SALT: &[u8] = b"keyhaven/root-key/derive/v1";
pub const ROOT_KEY_LEN: usize = 32;

/// The 256-bit root key. Its bytes never leave this type except through [`RootKey::to_secret`].
pub struct RootKey {
    key: LessSafeKey,
    material: SecretBytes,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
    }
}

impl RootKey {
    /// A fresh random root key.
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_bytes(crate::random_bytes(ROOT_KEY_LEN)?.expose())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != ROOT_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            material: SecretBytes::from_slice(bytes),
        })
    }

    /// A 32-byte key for `purpose` (HKDF-SHA256 of the root key), so that the root key itself is
    /// only ever used to seal.
    pub fn derive(&self, purpose: &[u8]) -> Result<SecretBytes, CryptoError> {
        let prk = Salt::new(HKDF_SHA256, DERIVATION_SALT).extract(self.material.expose());
        let info = [purpose];
        let okm = prk.expand(&info, HKDF_SHA256).map_err(|_| CryptoError::KeyLength)?;
        let mut out = [0u8; 32];
        okm.fill(&mut out).map_err(|_| CryptoError::KeyLength)?;
        let derived = SecretBytes::from_slice(&out);
        out.zeroize();
        Ok(derived)
    }

    /// The raw key, for writing the root key file.
    pub fn to_secret(&self) -> SecretBytes {
        self.material.clone()
    }

    /// Encrypts `plaintext`, binding it to `label` (for example the record it belongs to).
    pub fn seal(&self, label: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce_bytes);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(label), &mut body)
            .map_err(|_| CryptoError::InvalidCiphertext)?;
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
        match self.key.open_in_place(nonce, Aad::from(label), &mut work) {
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

    #[test]
    fn derived_keys_match_an_independent_hkdf() {
        // Python `cryptography`: HKDF(SHA256, length=32, salt=b"keyhaven/root-key/derive/v1",
        // info=b"keyhaven/audit-chain/v1").derive(bytes([0x11] * 32)).hex()
        let root = RootKey::from_bytes(&[0x11; 32]).expect("root");
        let derived = root.derive(b"keyhaven/audit-chain/v1").expect("derive");
        assert_eq!(
            hex::encode(derived.expose()),
            "648541715fc0ce2139286593afc635d7f9815726078b143e0e90bec68131e375"
        );
        assert_ne!(root.derive(b"other").expect("derive").expose(), derived.expose());
    }

    #[test]
    fn sealed_values_open_under_the_same_label_only() {
        let root = RootKey::generate().expect("rng");
        let sealed = root.seal(b"record-1", b"key material").expect("seal");
        assert_eq!(root.open(b"record-1", &sealed).expect("open").expose(), b"key material");
        assert_eq!(root.open(b"record-2", &sealed), Err(CryptoError::InvalidCiphertext));
    }

    #[test]
    fn any_flipped_byte_is_rejected() {
        let root = RootKey::generate().expect("rng");
        let sealed = root.seal(b"l", b"payload").expect("seal");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(root.open(b"l", &bad).is_err(), "byte {i}");
        }
        assert!(root.open(b"l", &sealed[..5]).is_err());
        assert!(root.open(b"l", &[]).is_err());
    }

    #[test]
    fn another_root_key_cannot_open() {
        let a = RootKey::generate().expect("rng");
        let b = RootKey::generate().expect("rng");
        let sealed = a.seal(b"l", b"payload").expect("seal");
        assert!(b.open(b"l", &sealed).is_err());
    }

    #[test]
    fn root_key_requires_32_bytes() {
        assert_eq!(RootKey::from_bytes(&[0; 16]).err(), Some(CryptoError::KeyLength));
    }
}
