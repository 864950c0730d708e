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
//! Version 2 is the form of keys kept in an HSM, whose AES-GCM runs in the device with the key itself (an HSM
//! derives no per-message keys): version (`0x02`), key id, material id, 12-byte IV, then the device's ciphertext
//! and tag; the associated data is built the same way. [`HsmBlob`] builds and reads it; the device seals.
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

/// Reads the header of a blob (of either version) without decrypting it.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, CryptoError> {
    let enough = match blob.first() {
        Some(&BLOB_VERSION) => blob.len() >= BLOB_OVERHEAD,
        Some(&HSM_BLOB_VERSION) => blob.len() >= HSM_HEADER_LEN + TAG_LEN,
        _ => false,
    };
    if !enough {
        return Err(CryptoError::InvalidCiphertext);
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&blob[1..1 + KEY_ID_LEN]);
    let mut material_id = [0u8; MATERIAL_ID_LEN];
    material_id.copy_from_slice(&blob[1 + KEY_ID_LEN..1 + KEY_ID_LEN + MATERIAL_ID_LEN]);
    Ok(BlobHeader { key_id, material_id })
}

pub const HSM_BLOB_VERSION: u8 = 2;
const HSM_HEADER_LEN: usize = 1 + KEY_ID_LEN + MATERIAL_ID_LEN + NONCE_LEN;

/// A version 2 blob: what an HSM's AES-GCM needs (IV and associated data) and where its output goes.
#[derive(Debug, Clone)]
pub struct HsmBlob {
    header: Vec<u8>,
    pub iv: [u8; NONCE_LEN],
    pub aad: Vec<u8>,
}

impl HsmBlob {
    /// A new blob for `header`'s key and material with a fresh IV, bound to `context`.
    pub fn new(header: &BlobHeader, context: &EncryptionContext) -> Result<Self, CryptoError> {
        let iv: [u8; NONCE_LEN] = random_array()?;
        let mut bytes = Vec::with_capacity(HSM_HEADER_LEN);
        bytes.push(HSM_BLOB_VERSION);
        bytes.extend_from_slice(&header.key_id);
        bytes.extend_from_slice(&header.material_id);
        bytes.extend_from_slice(&iv);
        let aad = associated_data(&bytes, context);
        Ok(Self { header: bytes, iv, aad })
    }

    /// The blob: this header followed by the device's ciphertext and tag.
    pub fn finish(self, sealed: &[u8]) -> Vec<u8> {
        [self.header, sealed.to_vec()].concat()
    }

    /// Reads a version 2 blob bound to `context`: the IV and associated data to open it with, and the
    /// ciphertext and tag.
    pub fn parse<'a>(blob: &'a [u8], context: &EncryptionContext) -> Result<(Self, &'a [u8]), CryptoError> {
        if blob.first() != Some(&HSM_BLOB_VERSION) || blob.len() < HSM_HEADER_LEN + TAG_LEN {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (header, sealed) = blob.split_at(HSM_HEADER_LEN);
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(&header[HSM_HEADER_LEN - NONCE_LEN..]);
        let aad = associated_data(header, context);
        Ok((
            Self {
                header: header.to_vec(),
                iv,
                aad,
            },
            sealed,
        ))
    }
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
    if blob[0] != BLOB_VERSION {
        return Err(CryptoError::InvalidCiphertext);
    }
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
    aad.extend_from_slice(header);
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
    fn an_hsm_blob_reads_back_its_iv_and_associated_data_and_only_with_its_context() {
        let (_, header) = fixture();
        let blob = HsmBlob::new(&header, &context(&[("a", "b")])).expect("blob");
        let (iv, aad) = (blob.iv, blob.aad.clone());
        let bytes = blob.finish(&[9u8; 20]);
        assert_eq!(parse_header(&bytes).expect("header"), header);
        let (read, sealed) = HsmBlob::parse(&bytes, &context(&[("a", "b")])).expect("parse");
        assert_eq!((read.iv, read.aad.clone(), sealed), (iv, aad.clone(), &[9u8; 20][..]));
        let (other, _) = HsmBlob::parse(&bytes, &context(&[("a", "c")])).expect("parse");
        assert_ne!(other.aad, aad);
        // The software form does not open it, nor the HSM form a software blob.
        assert!(open(&[0u8; 32], &bytes, &context(&[("a", "b")])).is_err());
        let software = seal(&[0u8; 32], &header, b"x", &context(&[])).expect("seal");
        assert!(HsmBlob::parse(&software, &context(&[])).is_err());
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
