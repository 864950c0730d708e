//! Object bodies at rest: a body split into fixed-size chunks, each sealed on its own, so that a ranged read opens
//! only the chunks it touches, memory stays bounded whatever the object's size, and a chunk that was changed,
//! dropped, reordered or moved from another object fails to open.
//!
//! Format (version 1). An object version has a 32-byte data key (SSE-S3, SSE-KMS or derived from a bucket key), a
//! random 32-byte salt and an identity (its bucket, key and version id), the last two kept in its metadata:
//!
//! - chunk key = HKDF-SHA256(salt, ikm = data key, info = `keyhaven/s3/chunk/v1` || identity): one AES-256-GCM key
//!   per object version, so a chunk sealed for one object never opens as part of another;
//! - chunk `i` (from 0) holds plaintext bytes `i * CHUNK_SIZE ..`, `CHUNK_SIZE` of them except in the last chunk,
//!   which holds the rest (possibly none: an empty body is one empty last chunk);
//! - nonce = 4 zero bytes || `i` as u64 big-endian: unique under the chunk key, which no other object shares;
//! - associated data = `i` as u64 big-endian || 1 if the chunk is the last, else 0, so cutting a body short at a
//!   chunk boundary is detected as well;
//! - stored chunk = ciphertext || 16-byte tag.
//!
//! DSSE-KMS adds a second, independent layer: the stored chunk of the first layer (under the chunk key of the KMS
//! data key) is sealed again, with the same nonce and associated data, under the chunk key of a second data key that
//! S3 keeps; its stored chunk = ciphertext || first tag || second tag.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroize;

use crate::{CryptoError, random_array};

/// Plaintext bytes in every chunk but the last.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Bytes one layer of sealing adds to a chunk (the GCM tag).
pub const CHUNK_OVERHEAD: usize = 16;
/// Length of an object's derivation salt.
pub const SALT_LEN: usize = 32;
/// Length of an object's data key (AES-256).
pub const DATA_KEY_LEN: usize = 32;
const DERIVATION_LABEL: &[u8] = b"keyhaven/s3/chunk/v1";

/// The key that seals and opens one object version's chunks: one layer, or two for DSSE-KMS.
pub struct ChunkKey {
    first: LessSafeKey,
    second: Option<LessSafeKey>,
}

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkKey(..)")
    }
}

/// A fresh salt for a new object version.
pub fn new_salt() -> Result<[u8; SALT_LEN], CryptoError> {
    random_array()
}

impl ChunkKey {
    pub fn derive(data_key: &[u8], salt: &[u8; SALT_LEN], identity: &[u8]) -> Result<Self, CryptoError> {
        if data_key.len() != DATA_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let info: [&[u8]; 2] = [DERIVATION_LABEL, identity];
        let prk = Salt::new(HKDF_SHA256, salt).extract(data_key);
        let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            first: LessSafeKey::new(UnboundKey::from(okm)),
            second: None,
        })
    }

    /// Two layers (DSSE-KMS): this key's, then `second`'s (a one-layer key) over it.
    pub fn with_second_layer(self, second: ChunkKey) -> Result<Self, CryptoError> {
        match (self.second, second.second) {
            (None, None) => Ok(Self {
                first: self.first,
                second: Some(second.first),
            }),
            _ => Err(CryptoError::KeyLength),
        }
    }

    /// Bytes sealing adds to each chunk.
    pub fn overhead(&self) -> usize {
        CHUNK_OVERHEAD * (1 + usize::from(self.second.is_some()))
    }

    /// The stored size of every chunk but the last.
    pub fn stored_chunk_len(&self) -> usize {
        CHUNK_SIZE + self.overhead()
    }

    /// The stored size of a body of `len` bytes.
    pub fn sealed_len(&self, len: u64) -> u64 {
        len + chunk_count(len) * self.overhead() as u64
    }

    /// Seals chunk `index` in place: `chunk` holds its plaintext (exactly `CHUNK_SIZE` bytes unless `last`, at most
    /// that if it is) and afterwards the stored chunk.
    pub fn seal(&self, index: u64, last: bool, chunk: &mut Vec<u8>) -> Result<(), CryptoError> {
        let fits = if last {
            chunk.len() <= CHUNK_SIZE
        } else {
            chunk.len() == CHUNK_SIZE
        };
        if !fits {
            return Err(CryptoError::ChunkLength);
        }
        for layer in std::iter::once(&self.first).chain(&self.second) {
            layer
                .seal_in_place_append_tag(nonce(index), Aad::from(associated_data(index, last)), chunk)
                .map_err(|_| CryptoError::ChunkLength)?;
        }
        Ok(())
    }

    /// Opens stored chunk `index` in place and answers its plaintext's length (the plaintext is the start of
    /// `chunk`); a chunk that does not open (changed, moved, or not the last when `last` says it is) is wiped and
    /// refused.
    pub fn open(&self, index: u64, last: bool, chunk: &mut [u8]) -> Result<usize, CryptoError> {
        let overhead = self.overhead();
        let fits = if last {
            (overhead..=CHUNK_SIZE + overhead).contains(&chunk.len())
        } else {
            chunk.len() == CHUNK_SIZE + overhead
        };
        let open = |layer: &LessSafeKey, sealed: &mut [u8]| {
            layer
                .open_in_place(nonce(index), Aad::from(associated_data(index, last)), sealed)
                .map(|opened| opened.len())
                .ok()
        };
        let opened = fits
            .then_some(chunk.len())
            .and_then(|len| match &self.second {
                Some(second) => open(second, &mut chunk[..len]),
                None => Some(len),
            })
            .and_then(|len| open(&self.first, &mut chunk[..len]));
        if let Some(len) = opened {
            Ok(len)
        } else {
            chunk.zeroize();
            Err(CryptoError::InvalidCiphertext)
        }
    }
}

/// How many chunks a body of `len` bytes is stored in (an empty body is one empty chunk).
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// The chunks holding bytes `start..end` of a body (`start < end`), as an inclusive range of indexes, and the offset
/// of `start` within the first of them.
pub fn chunks_for_range(start: u64, end: u64) -> (std::ops::RangeInclusive<u64>, usize) {
    let size = CHUNK_SIZE as u64;
    let first = start / size;
    let last = end.saturating_sub(1).max(start) / size;
    // The remainder of a division by CHUNK_SIZE fits a usize.
    (first..=last, (start % size) as usize)
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn associated_data(index: u64, last: bool) -> [u8; 9] {
    let mut aad = [0u8; 9];
    aad[..8].copy_from_slice(&index.to_be_bytes());
    aad[8] = u8::from(last);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &[u8] = b"bucket\0photos/cat.jpg\0version-1";

    fn key(data_key: &[u8; DATA_KEY_LEN], salt: &[u8; SALT_LEN], identity: &[u8]) -> ChunkKey {
        ChunkKey::derive(data_key, salt, identity).expect("derive")
    }

    /// The stored chunks of `body`.
    fn seal_body(key: &ChunkKey, body: &[u8]) -> Vec<Vec<u8>> {
        let count = chunk_count(body.len() as u64);
        let mut pieces: Vec<Vec<u8>> = body.chunks(CHUNK_SIZE).map(<[u8]>::to_vec).collect();
        if pieces.is_empty() {
            pieces.push(Vec::new());
        }
        assert_eq!(pieces.len() as u64, count);
        for (index, piece) in pieces.iter_mut().enumerate() {
            key.seal(index as u64, index as u64 + 1 == count, piece).expect("seal");
        }
        pieces
    }

    /// Opens stored chunks as a reader would: each at its position, the last one flagged as last.
    fn open_body(key: &ChunkKey, stored: &[Vec<u8>]) -> Result<Vec<u8>, CryptoError> {
        let mut body = Vec::new();
        for (index, chunk) in stored.iter().enumerate() {
            let mut chunk = chunk.clone();
            let len = key.open(index as u64, index + 1 == stored.len(), &mut chunk)?;
            body.extend_from_slice(&chunk[..len]);
        }
        Ok(body)
    }

    /// The two-layer key of DSSE-KMS: data key `first`, then data key `second` over it.
    fn dual(first: u8, second: u8, salt: &[u8; SALT_LEN], identity: &[u8]) -> ChunkKey {
        key(&[first; DATA_KEY_LEN], salt, identity)
            .with_second_layer(key(&[second; DATA_KEY_LEN], salt, identity))
            .expect("two layers")
    }

    #[test]
    fn bodies_of_every_shape_round_trip_and_take_their_documented_size() {
        let keys = [
            (key(&[1; DATA_KEY_LEN], &[2; SALT_LEN], IDENTITY), CHUNK_OVERHEAD),
            (dual(1, 3, &[2; SALT_LEN], IDENTITY), 2 * CHUNK_OVERHEAD),
        ];
        for (key, overhead) in keys {
            assert_eq!(key.overhead(), overhead);
            assert_eq!(key.stored_chunk_len(), CHUNK_SIZE + overhead);
            for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5] {
                let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let stored = seal_body(&key, &body);
                let total: usize = stored.iter().map(Vec::len).sum();
                assert_eq!(total as u64, key.sealed_len(len as u64), "{len}");
                assert_eq!(total, len + chunk_count(len as u64) as usize * overhead, "{len}");
                assert_eq!(open_body(&key, &stored).expect("open"), body, "{len}");
            }
        }
    }

    /// A DSSE-KMS body opens only with both of its layers' keys, in their order; each layer alone, or either
    /// layer's key changed, is refused.
    #[test]
    fn a_two_layer_body_opens_only_with_both_keys_in_order() {
        let salt = [2; SALT_LEN];
        let body: Vec<u8> = (0..CHUNK_SIZE + 77).map(|i| (i % 241) as u8).collect();
        let stored = seal_body(&dual(1, 3, &salt, IDENTITY), &body);
        let wrong = [
            ("the first layer alone", key(&[1; DATA_KEY_LEN], &salt, IDENTITY)),
            ("the second layer alone", key(&[3; DATA_KEY_LEN], &salt, IDENTITY)),
            ("the layers swapped", dual(3, 1, &salt, IDENTITY)),
            ("another first key", dual(9, 3, &salt, IDENTITY)),
            ("another second key", dual(1, 9, &salt, IDENTITY)),
        ];
        for (name, wrong) in wrong {
            assert_eq!(
                open_body(&wrong, &stored),
                Err(CryptoError::InvalidCiphertext),
                "{name}"
            );
        }
        let mut changed = stored.clone();
        changed[0][3] ^= 1;
        assert_eq!(
            open_body(&dual(1, 3, &salt, IDENTITY), &changed),
            Err(CryptoError::InvalidCiphertext)
        );
        assert_eq!(
            dual(1, 3, &salt, IDENTITY)
                .with_second_layer(key(&[4; DATA_KEY_LEN], &salt, IDENTITY))
                .err(),
            Some(CryptoError::KeyLength),
            "at most two layers"
        );
    }

    /// Every way of presenting stored chunks other than as they were written fails to open.
    #[test]
    fn changed_dropped_reordered_and_foreign_chunks_are_refused() {
        let data_key = [1; DATA_KEY_LEN];
        let salt = [2; SALT_LEN];
        let key = key(&data_key, &salt, IDENTITY);
        let body: Vec<u8> = (0..3 * CHUNK_SIZE + 100).map(|i| (i % 253) as u8).collect();
        let stored = seal_body(&key, &body);
        let other_object = seal_body(&self::key(&data_key, &salt, b"bucket\0other\0version-1"), &body);
        type Change = fn(&mut Vec<Vec<u8>>, &[Vec<u8>]);
        let cases: [(&str, Change); 6] = [
            ("a byte changed", |s, _| s[1][7] ^= 1),
            ("a tag changed", |s, _| {
                let last = s[2].len() - 1;
                s[2][last] ^= 1;
            }),
            ("two chunks swapped", |s, _| s.swap(0, 1)),
            ("the last chunk dropped", |s, _| {
                s.pop();
            }),
            ("a chunk from another object", |s, other| s[1] = other[1].clone()),
            ("a chunk cut short", |s, _| s[0].truncate(CHUNK_SIZE)),
        ];
        for (name, change) in cases {
            let mut presented = stored.clone();
            change(&mut presented, &other_object);
            assert_eq!(
                open_body(&key, &presented),
                Err(CryptoError::InvalidCiphertext),
                "{name}"
            );
        }
        let wrong_keys = [
            ("another data key", self::key(&[9; DATA_KEY_LEN], &salt, IDENTITY)),
            ("another salt", self::key(&data_key, &[9; SALT_LEN], IDENTITY)),
            (
                "another identity",
                self::key(&data_key, &salt, b"bucket\0photos/dog.jpg\0version-1"),
            ),
        ];
        for (name, wrong) in wrong_keys {
            assert_eq!(
                open_body(&wrong, &stored),
                Err(CryptoError::InvalidCiphertext),
                "{name}"
            );
        }
        let mut refused = stored[0].clone();
        assert!(key.open(0, true, &mut refused).is_err());
        assert!(refused.iter().all(|&b| b == 0), "a refused chunk is wiped");
    }

    #[test]
    fn only_whole_chunks_are_sealed_before_the_last() {
        let key = key(&[1; DATA_KEY_LEN], &[2; SALT_LEN], IDENTITY);
        let cases = [
            (CHUNK_SIZE - 1, false, Err(CryptoError::ChunkLength)),
            (CHUNK_SIZE + 1, false, Err(CryptoError::ChunkLength)),
            (CHUNK_SIZE + 1, true, Err(CryptoError::ChunkLength)),
            (CHUNK_SIZE, false, Ok(())),
            (CHUNK_SIZE, true, Ok(())),
            (0, true, Ok(())),
        ];
        for (len, last, expected) in cases {
            assert_eq!(key.seal(0, last, &mut vec![0; len]), expected, "{len} last={last}");
        }
        assert_eq!(
            ChunkKey::derive(&[1; 16], &[2; SALT_LEN], IDENTITY).err(),
            Some(CryptoError::KeyLength)
        );
    }

    #[test]
    fn ranges_map_to_the_chunks_that_hold_them() {
        let size = CHUNK_SIZE as u64;
        let cases = [
            ((0, 1), (0..=0, 0)),
            ((0, size), (0..=0, 0)),
            ((size - 1, size + 1), (0..=1, CHUNK_SIZE - 1)),
            ((size, 2 * size), (1..=1, 0)),
            ((size + 10, 3 * size + 1), (1..=3, 10)),
        ];
        for ((start, end), expected) in cases {
            assert_eq!(chunks_for_range(start, end), expected, "{start}..{end}");
        }
        assert_eq!(
            [chunk_count(0), chunk_count(1), chunk_count(size), chunk_count(size + 1)],
            [1, 1, 1, 2]
        );
    }

    /// The format, computed from its description alone by an independent implementation: Python's `cryptography`
    /// 48 (`HKDF(SHA256(), 32, salt, info)` then `AESGCM(key).encrypt(nonce, plaintext, aad)`), for data key
    /// `0x11`×32, salt `0x22`×32, identity `bucket/key/v1`, and the last chunk 0 holding `hello`.
    #[test]
    fn a_chunk_matches_an_independent_implementation() {
        let key = key(&[0x11; DATA_KEY_LEN], &[0x22; SALT_LEN], b"bucket/key/v1");
        let mut chunk = b"hello".to_vec();
        key.seal(0, true, &mut chunk).expect("seal");
        assert_eq!(hex::encode(&chunk), EXPECTED_HELLO_CHUNK);

        // DSSE-KMS: that stored chunk sealed again under the chunk key of data key `0x33`×32.
        let mut chunk = b"hello".to_vec();
        dual(0x11, 0x33, &[0x22; SALT_LEN], b"bucket/key/v1")
            .seal(0, true, &mut chunk)
            .expect("seal");
        assert_eq!(hex::encode(&chunk), EXPECTED_HELLO_CHUNK_TWO_LAYERS);
    }

    const EXPECTED_HELLO_CHUNK: &str = "774afad88f4e9f95e5db714276d046571843573cf7";
    const EXPECTED_HELLO_CHUNK_TWO_LAYERS: &str =
        "de9a4b51718a80490bd66ecb493c40e83aa520f8b7a2a3919891ab5ea53a8f863b8a674fd5";
}
