//! JWS signature verification (RFC 7515, algorithms of RFC 7518 §3): RS256 and ES256.
//!
//! Only the cryptographic step lives here: the caller splits the compact serialisation, decodes
//! base64url and picks the key; this module checks `signature` over `signing_input` (the ASCII
//! `header.payload`). Keys are the members of a JWK, already base64url-decoded: `n`/`e` for RSA,
//! `x`/`y` for P-256. RSA keys below 2048 bits are refused (RFC 7518 §3.3 requires at least 2048).

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// A JWS `alg` this server verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256; the signature is `r || s`, 32 bytes each (RFC 7518 §3.4).
    Es256,
}

impl Algorithm {
    /// The algorithm a JOSE header's `alg` names, if this module supports it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// A public key from a JWK, its members base64url-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// `kty: RSA`: modulus `n` and exponent `e`, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC, crv: P-256`: the affine coordinates, big-endian.
    P256 { x: Vec<u8>, y: Vec<u8> },
}

impl PublicKey {
    /// Whether this key can check signatures made with `alg`.
    pub fn suits(&self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa { .. }, Algorithm::Rs256) | (PublicKey::P256 { .. }, Algorithm::Es256)
        )
    }
}

/// Why a signature was not accepted. Deliberately coarse: callers answer one error either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the key does not suit the signature algorithm")]
    KeyMismatch,
    #[error("the public key is malformed")]
    InvalidKey,
    #[error("the signature does not verify")]
    BadSignature,
}

const P256_COORDINATE: usize = 32;

/// Checks `signature` over `signing_input` with `key` under `alg`.
pub fn verify(alg: Algorithm, key: &PublicKey, signing_input: &[u8], signature: &[u8]) -> Result<(), JwsError> {
    match (alg, key) {
        (Algorithm::Rs256, PublicKey::Rsa { n, e }) => {
            // RFC 7518 asks for the shortest encoding, but some issuers keep a sign byte (a
            // leading zero); aws-lc-rs refuses that, and the number is the same without it.
            let components = RsaPublicKeyComponents {
                n: strip_leading_zeros(n),
                e: strip_leading_zeros(e),
            };
            components
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signing_input, signature)
                .map_err(|_| JwsError::BadSignature)
        }
        (Algorithm::Es256, PublicKey::P256 { x, y }) => {
            let point = uncompressed_point(x, y)?;
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signing_input, signature)
                .map_err(|_| JwsError::BadSignature)
        }
        _ => Err(JwsError::KeyMismatch),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// SEC 1 uncompressed form `0x04 || x || y`. Short coordinates are left-padded: an encoder that
/// dropped leading zeros still names the same point. Whether the point is on the curve is left
/// to aws-lc-rs, which refuses it at verification.
fn uncompressed_point(x: &[u8], y: &[u8]) -> Result<Vec<u8>, JwsError> {
    let mut point = Vec::with_capacity(1 + 2 * P256_COORDINATE);
    point.push(0x04);
    for coordinate in [x, y] {
        let coordinate = strip_leading_zeros(coordinate);
        if coordinate.len() > P256_COORDINATE {
            return Err(JwsError::InvalidKey);
        }
        point.resize(point.len() + P256_COORDINATE - coordinate.len(), 0);
        point.extend_from_slice(coordinate);
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    //! Vectors made independently with Python's `cryptography` package by
    //! `tests/data/jws/generate.py` (see `tests/data/jws/README.md`).

    use super::*;

    /// One vector of `vectors.txt`.
    #[derive(Debug, Default)]
    struct Vector {
        name: String,
        alg: String,
        key: Option<PublicKey>,
        input: String,
        signature: Vec<u8>,
        expect: String,
    }

    fn hex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2), "odd hex length");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    /// Blocks of `field: value` lines separated by blank lines; `#` starts a comment line.
    fn vectors() -> Vec<Vector> {
        let text = include_str!("../tests/data/jws/vectors.txt");
        let mut out = Vec::new();
        for block in text.split("\n\n") {
            let mut v = Vector::default();
            let (mut n, mut e, mut x, mut y) = (None, None, None, None);
            for line in block.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
                let (field, value) = line.split_once(": ").expect("field: value");
                match field {
                    "name" => v.name = value.into(),
                    "alg" => v.alg = value.into(),
                    "n" => n = Some(hex(value)),
                    "e" => e = Some(hex(value)),
                    "x" => x = Some(hex(value)),
                    "y" => y = Some(hex(value)),
                    "input" => v.input = value.into(),
                    "signature" => v.signature = hex(value),
                    "expect" => v.expect = value.into(),
                    other => panic!("unknown field {other}"),
                }
            }
            if v.name.is_empty() {
                continue;
            }
            v.key = match (n, e, x, y) {
                (Some(n), Some(e), None, None) => Some(PublicKey::Rsa { n, e }),
                (None, None, Some(x), Some(y)) => Some(PublicKey::P256 { x, y }),
                _ => panic!("{}: a vector needs n and e, or x and y", v.name),
            };
            out.push(v);
        }
        out
    }

    #[test]
    fn independently_made_vectors() {
        let vectors = vectors();
        assert!(vectors.len() >= 10, "vectors file is incomplete");
        for v in vectors {
            let alg = Algorithm::from_name(&v.alg).expect("supported alg");
            let key = v.key.as_ref().expect("key");
            let got = match verify(alg, key, v.input.as_bytes(), &v.signature) {
                Ok(()) => "valid",
                Err(JwsError::BadSignature) => "bad-signature",
                Err(JwsError::KeyMismatch) => "key-mismatch",
                Err(JwsError::InvalidKey) => "invalid-key",
            };
            assert_eq!(got, v.expect, "{}", v.name);
        }
    }

    #[test]
    fn algorithms_by_name() {
        assert_eq!(Algorithm::from_name("RS256"), Some(Algorithm::Rs256));
        assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::Es256));
        for unsupported in ["none", "HS256", "rs256", "PS256", ""] {
            assert_eq!(Algorithm::from_name(unsupported), None, "{unsupported}");
        }
        assert_eq!(Algorithm::Es256.name(), "ES256");
    }

    #[test]
    fn keys_suit_only_their_algorithm() {
        let rsa = PublicKey::Rsa { n: vec![1], e: vec![3] };
        let ec = PublicKey::P256 { x: vec![1], y: vec![2] };
        assert!(rsa.suits(Algorithm::Rs256) && !rsa.suits(Algorithm::Es256));
        assert!(ec.suits(Algorithm::Es256) && !ec.suits(Algorithm::Rs256));
        assert_eq!(
            verify(Algorithm::Es256, &rsa, b"a.b", &[0; 64]),
            Err(JwsError::KeyMismatch)
        );
    }

    #[test]
    fn oversized_coordinates_are_refused() {
        let key = PublicKey::P256 {
            x: vec![1; 33],
            y: vec![1; 32],
        };
        assert_eq!(
            verify(Algorithm::Es256, &key, b"a.b", &[0; 64]),
            Err(JwsError::InvalidKey)
        );
    }
}
