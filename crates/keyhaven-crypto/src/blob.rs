//! The KMS symmetric ciphertext blob: versioned, self-describing, bound to its encryption context.
//!
//! Layout (version 1), all fixed-size before the ciphertext:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version (`0x01`) |
//! | 16 | KMS key id (the UUID's bytes) |
//! | 32 | key material id (which backing key, so rotated keys still decrypt) |
//! | 32 | derivation nonce |
//! | 12 | AES-GCM IV |
//! | n + 16 | AES-256-GCM ciphertext and tag |
//!
//! Each message gets its own AES key, HKDF-SHA256(salt = derivation nonce, ikm = backing key,
//! info = label || key id || material id), so the per-key GCM nonce limit never applies (as AWS KMS
//! does). The AEAD's associated data is the header followed by the canonical encryption context:
//! changing any byte, or the context, makes decryption fail.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroize;

use crate::{CryptoError, SecretBytes, random_array};

pub const BLOB_VERSION: u8 = 1;
pub const KEY_ID_LEN: usize = 16;
pub const MATERIAL_ID_LEN: usize = 32;
const DERIVATION_NONCE_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Bytes a blob adds to its plaintext.
pub const BLOB_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + MATERIAL_ID_LEN + DERIVATION_NONCE_LEN + NONCE_LEN;
const DERIVATION_LABEL: &[u8] = b"keyhaven/kms/blob/v1";
/// Length of a backing key (AES-256).
pub const BACKING_KEY_LEN: usize = 32;

/// Encryption context: sorted, so its canonical form does not depend on request order.
pub type EncryptionContext = BTreeMap<String, String>;

/// What a blob says about itself before decryption: which KMS key and which of its materials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_id: [u8; KEY_ID_LEN],
    pub material_id: [u8; MATERIAL_ID_LEN],
}

/// Reads the header of a blob without decrypting it.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, CryptoError> {
    if blob.len() < BLOB_OVERHEAD || blob[0] != BLOB_VERSION {
        return Err(CryptoError::InvalidCiphertext);
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&blob[1..1 + KEY_ID_LEN]);
    let mut material_id = [0u8; MATERIAL_ID_LEN];
    material_id.copy_from_slice(&blob[1 + KEY_ID_LEN..1 + KEY_ID_LEN + MATERIAL_ID_LEN]);
    Ok(BlobHeader { key_id, material_id })
}

/// Encrypts `plaintext` under `backing_key`, producing a blob that names `header`'s key and material.
pub fn seal(
    backing_key: &[u8],
    header: &BlobHeader,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, CryptoError> {
    let derivation_nonce: [u8; DERIVATION_NONCE_LEN] = random_array()?;
    let iv: [u8; NONCE_LEN] = random_array()?;
    let mut blob = Vec::with_capacity(BLOB_OVERHEAD + plaintext.len());
    blob.push(BLOB_VERSION);
    blob.extend_from_slice(&header.key_id);
    blob.extend_from_slice(&header.material_id);
    blob.extend_from_slice(&derivation_nonce);
    blob.extend_from_slice(&iv);
    let key = message_key(backing_key, header, &derivation_nonce)?;
    let aad = associated_data(&blob, context);
    let mut body = plaintext.to_vec();
    let sealed = key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(&aad), &mut body);
    if sealed.is_err() {
        body.zeroize();
        return Err(CryptoError::InvalidCiphertext);
    }
    blob.extend_from_slice(&body);
    Ok(blob)
}

/// Decrypts a blob whose header was read with [`parse_header`], given the matching backing key.
pub fn open(backing_key: &[u8], blob: &[u8], context: &EncryptionContext) -> Result<SecretBytes, CryptoError> {
    let header = parse_header(blob)?;
    let (head, body) = blob.split_at(HEADER_LEN);
    let nonce_start = 1 + KEY_ID_LEN + MATERIAL_ID_LEN;
    let mut derivation_nonce = [0u8; DERIVATION_NONCE_LEN];
    derivation_nonce.copy_from_slice(&head[nonce_start..nonce_start + DERIVATION_NONCE_LEN]);
    let iv = Nonce::try_assume_unique_for_key(&head[nonce_start + DERIVATION_NONCE_LEN..])
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    let key = message_key(backing_key, &header, &derivation_nonce)?;
    let aad = associated_data(head, context);
    let mut work = body.to_vec();
    match key.open_in_place(iv, Aad::from(&aad), &mut work) {
        Ok(plain) => {
            let len = plain.len();
            work.truncate(len);
            Ok(SecretBytes::new(work))
        }
        Err(_) => {
            work.zeroize();
            Err(CryptoError::InvalidCiphertext)
        }
    }
}

fn message_key(
    backing_key: &[u8],
    header: &BlobHeader,
    derivation_nonce: &[u8; DERIVATION_NONCE_LEN],
) -> Result<LessSafeKey, CryptoError> {
    if backing_key.len() != BACKING_KEY_LEN {
        return Err(CryptoError::KeyLength);
    }
    let info: [&[u8]; 3] = [DERIVATION_LABEL, &header.key_id, &header.material_id];
    let prk = Salt::new(HKDF_SHA256, derivation_nonce).extract(backing_key);
    let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| CryptoError::KeyLength)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Header bytes followed by the canonical context: count, then length-prefixed keys and values.
fn associated_data(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + 4 + context.len() * 32);
    aad.extend_from_slice(&header[..HEADER_LEN]);
    aad.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        aad.extend_from_slice(&(k.len() as u32).to_be_bytes());
        aad.extend_from_slice(k.as_bytes());
        aad.extend_from_slice(&(v.len() as u32).to_be_bytes());
        aad.extend_from_slice(v.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (SecretBytes, BlobHeader) {
        let key = crate::random_bytes(BACKING_KEY_LEN).expect("rng");
        let header = BlobHeader {
            key_id: [7; KEY_ID_LEN],
            material_id: [9; MATERIAL_ID_LEN],
        };
        (key, header)
    }

    fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_trip_with_and_without_context() {
        let (key, header) = fixture();
        for ctx in [context(&[]), context(&[("purpose", "test"), ("a", "b")])] {
            let blob = seal(key.expose(), &header, b"secret", &ctx).expect("seal");
            assert_eq!(parse_header(&blob).expect("header"), header);
            assert_eq!(open(key.expose(), &blob, &ctx).expect("open").expose(), b"secret");
        }
    }

    #[test]
    fn two_encryptions_of_the_same_plaintext_differ() {
        let (key, header) = fixture();
        let a = seal(key.expose(), &header, b"same", &context(&[])).expect("seal");
        let b = seal(key.expose(), &header, b"same", &context(&[])).expect("seal");
        assert_ne!(a, b);
    }

    #[test]
    fn every_flipped_byte_fails() {
        let (key, header) = fixture();
        let ctx = context(&[("k", "v")]);
        let blob = seal(key.expose(), &header, b"0123456789", &ctx).expect("seal");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x80;
            assert!(open(key.expose(), &bad, &ctx).is_err(), "byte {i}");
        }
    }

    #[test]
    fn context_must_match_exactly() {
        let (key, header) = fixture();
        let blob = seal(key.expose(), &header, b"x", &context(&[("k", "v")])).expect("seal");
        for wrong in [
            context(&[]),
            context(&[("k", "V")]),
            context(&[("K", "v")]),
            context(&[("k", "v"), ("a", "b")]),
        ] {
            assert_eq!(open(key.expose(), &blob, &wrong), Err(CryptoError::InvalidCiphertext));
        }
    }

    #[test]
    fn canonical_context_is_unambiguous() {
        let (key, header) = fixture();
        let blob = seal(key.expose(), &header, b"x", &context(&[("ab", "c")])).expect("seal");
        assert!(open(key.expose(), &blob, &context(&[("a", "bc")])).is_err());
    }

    #[test]
    fn truncated_and_garbage_blobs_are_rejected() {
        let (key, header) = fixture();
        let blob = seal(key.expose(), &header, b"x", &context(&[])).expect("seal");
        for cut in [0, 1, 10, HEADER_LEN, blob.len() - 1] {
            assert!(open(key.expose(), &blob[..cut], &context(&[])).is_err(), "cut {cut}");
        }
        assert!(parse_header(&[0u8; 200]).is_err());
    }

    #[test]
    fn another_backing_key_cannot_open() {
        let (key, header) = fixture();
        let other = crate::random_bytes(BACKING_KEY_LEN).expect("rng");
        let blob = seal(key.expose(), &header, b"x", &context(&[])).expect("seal");
        assert!(open(other.expose(), &blob, &context(&[])).is_err());
    }
}
