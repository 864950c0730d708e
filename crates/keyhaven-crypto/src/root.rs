//! The root key: wraps every piece of key material before it reaches the store, in the sealed format of
//! [`crate::sealing`].

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use zeroize::Zeroize;

use crate::sealing::SealingKey;
use crate::{CryptoError, SecretBytes};

const DERIVATION_SALT: &[u8] = b"keyhaven/root-key/derive/v1";
pub const ROOT_KEY_LEN: usize = 32;

/// The 256-bit root key. Its bytes never leave this type except through [`RootKey::to_secret`].
pub struct RootKey {
    key: SealingKey,
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
        Ok(Self {
            key: SealingKey::new(bytes)?,
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
        self.key.seal(label, plaintext)
    }

    /// Decrypts a value sealed under the same `label`.
    pub fn open(&self, label: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        self.key.open(label, sealed)
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
