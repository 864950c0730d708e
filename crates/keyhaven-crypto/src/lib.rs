//! Keyhaven's cryptography: hashing, MACs, randomness, root-key sealing, the KMS ciphertext blob, the chunked
//! format of object bodies at rest and the primitives of client-side envelope formats.
//!
//! This is the only crate that calls aws-lc-rs. It is pure and synchronous: no IO, no clocks.

pub mod asymmetric;
pub mod blob;
pub mod chunked;
pub mod digest;
pub mod envelope;
pub mod jws;
pub mod password;
pub mod root;
pub mod sealing;
pub mod secret;
pub mod totp;
pub mod xmldsig;

pub use blob::{BlobHeader, EncryptionContext};
pub use root::RootKey;
pub use secret::SecretBytes;

/// Everything that can go wrong inside this crate. Messages never contain key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the system random number generator failed")]
    Random,
    #[error("ciphertext is malformed or was not produced by this key")]
    InvalidCiphertext,
    #[error("key material has the wrong length")]
    KeyLength,
    /// A chunk of an object body of a size its place in the body does not allow.
    #[error("an object chunk has the wrong length")]
    ChunkLength,
    /// A private or public key that does not parse, or is not of the kind it is used as.
    #[error("the key is malformed or of another kind")]
    InvalidKey,
    /// A peer's public key for key agreement that is malformed or on another curve.
    #[error("the public key is malformed or on another curve")]
    InvalidPublicKey,
    /// A digest to sign or verify whose length is not its hash's.
    #[error("the digest has the wrong length for its algorithm")]
    DigestLength,
    /// A message type the signing scheme does not take (a digest for pure Ed25519, μ for RSA, ...).
    #[error("the signing scheme does not take this message type")]
    UnsupportedMessage,
}

/// Fills a fresh buffer of `len` bytes from the system CSPRNG.
pub fn random_bytes(len: usize) -> Result<SecretBytes, CryptoError> {
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(SecretBytes::new(out))
}

/// Fills a fixed-size array from the system CSPRNG (identifiers, nonces).
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}
