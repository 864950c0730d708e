//! The algorithm suites of the AWS Encryption SDK: data key length, key derivation, signature and key commitment.
//!
//! Source: the Encryption SDK specification, framework/algorithm-suites.md
//! (https://github.com/awslabs/aws-encryption-sdk-specification).

use keyhaven_crypto::asymmetric::Hash;
use keyhaven_crypto::envelope::SignatureCurve;

/// How the data key becomes the key that encrypts the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// The data key is the encryption key (legacy suites).
    Identity,
    /// HKDF with no salt and `suite id || message id` as info.
    Hkdf(Hash),
    /// HKDF-SHA512 salted with the message id, with a commitment key derived beside the encryption key.
    Committing,
}

/// An algorithm suite, identified on the wire by its two-byte id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmSuite {
    id: u16,
    name: &'static str,
    key_len: usize,
    kdf: Kdf,
    signature: Option<SignatureCurve>,
}

const fn suite(
    id: u16,
    name: &'static str,
    key_len: usize,
    kdf: Kdf,
    signature: Option<SignatureCurve>,
) -> AlgorithmSuite {
    AlgorithmSuite {
        id,
        name,
        key_len,
        kdf,
        signature,
    }
}

impl AlgorithmSuite {
    pub const AES_128_GCM_IV12_TAG16: Self = suite(0x0014, "AES_128_GCM_IV12_TAG16", 16, Kdf::Identity, None);
    pub const AES_192_GCM_IV12_TAG16: Self = suite(0x0046, "AES_192_GCM_IV12_TAG16", 24, Kdf::Identity, None);
    pub const AES_256_GCM_IV12_TAG16: Self = suite(0x0078, "AES_256_GCM_IV12_TAG16", 32, Kdf::Identity, None);
    pub const AES_128_GCM_IV12_TAG16_HKDF_SHA256: Self = suite(
        0x0114,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
        16,
        Kdf::Hkdf(Hash::Sha256),
        None,
    );
    pub const AES_192_GCM_IV12_TAG16_HKDF_SHA256: Self = suite(
        0x0146,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
        24,
        Kdf::Hkdf(Hash::Sha256),
        None,
    );
    pub const AES_256_GCM_IV12_TAG16_HKDF_SHA256: Self = suite(
        0x0178,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
        32,
        Kdf::Hkdf(Hash::Sha256),
        None,
    );
    pub const AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256: Self = suite(
        0x0214,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
        16,
        Kdf::Hkdf(Hash::Sha256),
        Some(SignatureCurve::P256),
    );
    pub const AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384: Self = suite(
        0x0346,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        24,
        Kdf::Hkdf(Hash::Sha384),
        Some(SignatureCurve::P384),
    );
    pub const AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384: Self = suite(
        0x0378,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        32,
        Kdf::Hkdf(Hash::Sha384),
        Some(SignatureCurve::P384),
    );
    pub const AES_256_GCM_HKDF_SHA512_COMMIT_KEY: Self =
        suite(0x0478, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", 32, Kdf::Committing, None);
    pub const AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: Self = suite(
        0x0578,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        32,
        Kdf::Committing,
        Some(SignatureCurve::P384),
    );

    /// Every suite, oldest first.
    pub const ALL: [Self; 11] = [
        Self::AES_128_GCM_IV12_TAG16,
        Self::AES_192_GCM_IV12_TAG16,
        Self::AES_256_GCM_IV12_TAG16,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ];

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id == id)
    }

    /// The suite of an SDK name (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`), as the CLI's `--algorithm` takes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name == name)
    }

    pub fn id(self) -> u16 {
        self.id
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The length of the data key and of the body's encryption key.
    pub fn key_len(self) -> usize {
        self.key_len
    }

    pub fn kdf(self) -> Kdf {
        self.kdf
    }

    pub fn signature(self) -> Option<SignatureCurve> {
        self.signature
    }

    pub fn is_committing(self) -> bool {
        self.kdf == Kdf::Committing
    }

    /// The message format version that carries this suite: 2 for committing suites, 1 for the rest.
    pub fn message_version(self) -> u8 {
        if self.is_committing() { 2 } else { 1 }
    }

    /// The length of the message id in this suite's message version.
    pub fn message_id_len(self) -> usize {
        if self.is_committing() { 32 } else { 16 }
    }

    /// Whether a data key of this suite may serve several messages (the caching materials manager's rule: only
    /// suites that derive a per-message key do).
    pub fn is_cacheable(self) -> bool {
        self.kdf != Kdf::Identity
    }
}
