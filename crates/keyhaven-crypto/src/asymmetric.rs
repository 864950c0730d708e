//! Asymmetric keys and MACs as KMS uses them: key pairs (RSA, NIST and secp256k1 curves, Ed25519, ML-DSA) kept as
//! PKCS#8, their X.509 SubjectPublicKeyInfo, signatures over messages or digests, RSA-OAEP, ECDH and HMAC.
//!
//! Private keys exist outside this module only as PKCS#8 in [`SecretBytes`]; a parsed [`PrivateKey`] is held by
//! aws-lc, which clears a key's memory when it frees it.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, PqdsaKeyPair, UnparsedPublicKey};
use aws_lc_rs::{agreement, digest, hmac, rand::SystemRandom};

use crate::{CryptoError, SecretBytes};

/// The kind of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    Rsa(RsaBits),
    Ec(Curve),
    Ed25519,
    MlDsa(MlDsaLevel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaBits {
    B2048,
    B3072,
    B4096,
}

impl RsaBits {
    pub fn bytes(self) -> usize {
        match self {
            RsaBits::B2048 => 256,
            RsaBits::B3072 => 384,
            RsaBits::B4096 => 512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlDsaLevel {
    L44,
    L65,
    L87,
}

/// The hash of an RSA or ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }
}

/// A signature scheme. An ECDSA key signs with the hash of its curve (what `Ecdsa` names must match it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    RsaPss(Hash),
    RsaPkcs1(Hash),
    Ecdsa(Hash),
    Ed25519,
    /// HashEdDSA (RFC 8032 Ed25519ph) over SHA-512.
    Ed25519Ph,
    MlDsa,
}

/// What is signed: the message itself, its digest under the scheme's hash, or (ML-DSA) the message
/// representative μ of FIPS 204.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    Raw(&'a [u8]),
    Digest(&'a [u8]),
    ExternalMu(&'a [u8]),
}

/// The hash of RSA-OAEP (and of its mask generation function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oaep {
    Sha1,
    Sha256,
}

impl Oaep {
    fn algorithm(self) -> &'static OaepAlgorithm {
        match self {
            Oaep::Sha1 => &OAEP_SHA1_MGF1SHA1,
            Oaep::Sha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    /// The longest plaintext one RSA-OAEP block holds under a modulus of `bits` (RFC 8017: k − 2·hLen − 2).
    pub fn max_plaintext(self, bits: RsaBits) -> usize {
        let hash_len = match self {
            Oaep::Sha1 => 20,
            Oaep::Sha256 => 32,
        };
        bits.bytes() - 2 * hash_len - 2
    }
}

/// What a parsed private key is for: aws-lc keeps signing, decrypting and agreeing keys as different types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sign,
    Decrypt,
    Agree,
}

fn rejected<E>(_: E) -> CryptoError {
    CryptoError::InvalidKey
}

fn ecdsa_signing(curve: Curve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
    }
}

fn ecdsa_verification(curve: Curve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
    }
}

/// The hash an ECDSA key of `curve` signs with.
pub fn curve_hash(curve: Curve) -> Hash {
    match curve {
        Curve::P256 | Curve::Secp256k1 => Hash::Sha256,
        Curve::P384 => Hash::Sha384,
        Curve::P521 => Hash::Sha512,
    }
}

fn agreement_algorithm(curve: Curve) -> Result<&'static agreement::Algorithm, CryptoError> {
    match curve {
        Curve::P256 => Ok(&agreement::ECDH_P256),
        Curve::P384 => Ok(&agreement::ECDH_P384),
        Curve::P521 => Ok(&agreement::ECDH_P521),
        Curve::Secp256k1 => Err(CryptoError::InvalidKey),
    }
}

fn mldsa_signing(level: MlDsaLevel) -> &'static signature::PqdsaSigningAlgorithm {
    match level {
        MlDsaLevel::L44 => &signature::ML_DSA_44_SIGNING,
        MlDsaLevel::L65 => &signature::ML_DSA_65_SIGNING,
        MlDsaLevel::L87 => &signature::ML_DSA_87_SIGNING,
    }
}

fn mldsa_verification(level: MlDsaLevel) -> &'static signature::PqdsaVerificationAlgorithm {
    match level {
        MlDsaLevel::L44 => &signature::ML_DSA_44,
        MlDsaLevel::L65 => &signature::ML_DSA_65,
        MlDsaLevel::L87 => &signature::ML_DSA_87,
    }
}

fn rsa_encoding(scheme: Scheme) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match scheme {
        Scheme::RsaPss(Hash::Sha256) => &signature::RSA_PSS_SHA256,
        Scheme::RsaPss(Hash::Sha384) => &signature::RSA_PSS_SHA384,
        Scheme::RsaPss(Hash::Sha512) => &signature::RSA_PSS_SHA512,
        Scheme::RsaPkcs1(Hash::Sha256) => &signature::RSA_PKCS1_SHA256,
        Scheme::RsaPkcs1(Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
        Scheme::RsaPkcs1(Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

fn rsa_verification(scheme: Scheme) -> Option<&'static signature::RsaParameters> {
    Some(match scheme {
        Scheme::RsaPss(Hash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        Scheme::RsaPss(Hash::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
        Scheme::RsaPss(Hash::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
        Scheme::RsaPkcs1(Hash::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        Scheme::RsaPkcs1(Hash::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        Scheme::RsaPkcs1(Hash::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

fn scheme_hash(scheme: Scheme) -> Option<Hash> {
    match scheme {
        Scheme::RsaPss(h) | Scheme::RsaPkcs1(h) | Scheme::Ecdsa(h) => Some(h),
        Scheme::Ed25519Ph => Some(Hash::Sha512),
        Scheme::Ed25519 | Scheme::MlDsa => None,
    }
}

/// A caller's digest as aws-lc's `Digest` of the scheme's hash; a wrong length is the caller's error.
fn imported_digest(scheme: Scheme, bytes: &[u8]) -> Result<digest::Digest, CryptoError> {
    let hash = scheme_hash(scheme).ok_or(CryptoError::UnsupportedMessage)?;
    if bytes.len() != hash.output_len() {
        return Err(CryptoError::DigestLength);
    }
    digest::Digest::import_less_safe(bytes, hash.algorithm()).map_err(|_| CryptoError::DigestLength)
}

fn pkcs8(der: Result<Pkcs8V1Der<'static>, aws_lc_rs::error::Unspecified>) -> Result<SecretBytes, CryptoError> {
    der.map(|d| SecretBytes::from_slice(d.as_ref()))
        .map_err(|_| CryptoError::InvalidKey)
}

fn document(
    doc: Result<aws_lc_rs::pkcs8::Document, aws_lc_rs::error::Unspecified>,
) -> Result<SecretBytes, CryptoError> {
    doc.map(|d| SecretBytes::from_slice(d.as_ref()))
        .map_err(|_| CryptoError::InvalidKey)
}

fn spki(der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>) -> Result<Vec<u8>, CryptoError> {
    der.map(|d| d.as_ref().to_vec()).map_err(|_| CryptoError::InvalidKey)
}

/// A new private key of `kind`, as PKCS#8 (v1).
pub fn generate(kind: PairKind) -> Result<SecretBytes, CryptoError> {
    match kind {
        PairKind::Rsa(bits) => {
            let size = match bits {
                RsaBits::B2048 => KeySize::Rsa2048,
                RsaBits::B3072 => KeySize::Rsa3072,
                RsaBits::B4096 => KeySize::Rsa4096,
            };
            pkcs8(rsa::KeyPair::generate(size).map_err(rejected)?.as_der())
        }
        PairKind::Ec(curve) => document(
            EcdsaKeyPair::generate(ecdsa_signing(curve))
                .map_err(rejected)?
                .to_pkcs8v1(),
        ),
        PairKind::Ed25519 => document(Ed25519KeyPair::generate().map_err(rejected)?.to_pkcs8v1()),
        PairKind::MlDsa(level) => document(
            PqdsaKeyPair::generate(mldsa_signing(level))
                .map_err(rejected)?
                .to_pkcs8v1(),
        ),
    }
}

enum Inner {
    RsaSign(rsa::KeyPair),
    /// With its SubjectPublicKeyInfo, which the OAEP wrapper does not hand back.
    RsaDecrypt(OaepPrivateDecryptingKey, Vec<u8>),
    Ecdsa(EcdsaKeyPair),
    Ecdh(agreement::PrivateKey),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
}

/// A private key parsed for one role.
pub struct PrivateKey {
    kind: PairKind,
    inner: Inner,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?})", self.kind)
    }
}

impl PrivateKey {
    /// Parses a PKCS#8 private key of `kind` for `role`; a key that cannot serve the role is refused.
    pub fn parse(kind: PairKind, role: Role, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let inner = match (kind, role) {
            (PairKind::Rsa(_), Role::Sign) => Inner::RsaSign(rsa::KeyPair::from_pkcs8(pkcs8).map_err(rejected)?),
            (PairKind::Rsa(_), Role::Decrypt) => {
                let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = spki(key.public_key().as_der())?;
                Inner::RsaDecrypt(OaepPrivateDecryptingKey::new(key).map_err(rejected)?, public)
            }
            (PairKind::Ec(curve), Role::Sign) => {
                Inner::Ecdsa(EcdsaKeyPair::from_pkcs8(ecdsa_signing(curve), pkcs8).map_err(rejected)?)
            }
            (PairKind::Ec(curve), Role::Agree) => Inner::Ecdh(
                agreement::PrivateKey::from_private_key_der(agreement_algorithm(curve)?, pkcs8).map_err(rejected)?,
            ),
            (PairKind::Ed25519, Role::Sign) => Inner::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?),
            (PairKind::MlDsa(level), Role::Sign) => {
                Inner::MlDsa(PqdsaKeyPair::from_pkcs8(mldsa_signing(level), pkcs8).map_err(rejected)?)
            }
            _ => return Err(CryptoError::InvalidKey),
        };
        let key = Self { kind, inner };
        if let (PairKind::Rsa(bits), Some(len)) = (kind, key.rsa_modulus_len())
            && len != bits.bytes()
        {
            return Err(CryptoError::InvalidKey);
        }
        Ok(key)
    }

    fn rsa_modulus_len(&self) -> Option<usize> {
        match &self.inner {
            Inner::RsaSign(k) => Some(k.public_modulus_len()),
            Inner::RsaDecrypt(k, _) => Some(k.key_size_bytes()),
            _ => None,
        }
    }

    pub fn kind(&self) -> PairKind {
        self.kind
    }

    /// The public key as DER X.509 SubjectPublicKeyInfo.
    pub fn public_key(&self) -> Result<Vec<u8>, CryptoError> {
        match &self.inner {
            Inner::RsaSign(k) => spki(k.public_key().as_der()),
            Inner::RsaDecrypt(_, public) => Ok(public.clone()),
            Inner::Ecdsa(k) => spki(k.public_key().as_der()),
            Inner::Ecdh(k) => spki(k.compute_public_key().map_err(rejected)?.as_der()),
            Inner::Ed25519(k) => spki(k.public_key().as_der()),
            Inner::MlDsa(k) => spki(k.public_key().as_der()),
        }
    }

    /// An RSA signing key's public key as DER PKCS#1 `RSAPublicKey` (RFC 8017), the form CloudTrail publishes its
    /// digest-signing keys in.
    pub fn rsa_public_key(&self) -> Result<Vec<u8>, CryptoError> {
        match &self.inner {
            Inner::RsaSign(k) => Ok(k.public_key().as_ref().to_vec()),
            _ => Err(CryptoError::InvalidKey),
        }
    }

    /// Signs `message` with `scheme`, which the caller has checked the key supports.
    pub fn sign(&self, scheme: Scheme, message: Message<'_>) -> Result<Vec<u8>, CryptoError> {
        let rng = SystemRandom::new();
        match (&self.inner, message) {
            (Inner::RsaSign(k), message) => {
                let encoding = rsa_encoding(scheme).ok_or(CryptoError::InvalidKey)?;
                let mut out = vec![0u8; k.public_modulus_len()];
                match message {
                    Message::Raw(m) => k.sign(encoding, &rng, m, &mut out).map_err(rejected)?,
                    Message::Digest(d) => k
                        .sign_digest(encoding, &imported_digest(scheme, d)?, &mut out)
                        .map_err(rejected)?,
                    Message::ExternalMu(_) => return Err(CryptoError::UnsupportedMessage),
                }
                Ok(out)
            }
            (Inner::Ecdsa(k), Message::Raw(m)) => Ok(k.sign(&rng, m).map_err(rejected)?.as_ref().to_vec()),
            (Inner::Ecdsa(k), Message::Digest(d)) => Ok(k
                .sign_digest(&imported_digest(scheme, d)?)
                .map_err(rejected)?
                .as_ref()
                .to_vec()),
            (Inner::Ed25519(k), Message::Raw(m)) if scheme == Scheme::Ed25519 => Ok(k.sign(m).as_ref().to_vec()),
            (Inner::Ed25519(k), message) if scheme == Scheme::Ed25519Ph => {
                let prehash = match message {
                    Message::Raw(m) => digest::digest(&digest::SHA512, m).as_ref().to_vec(),
                    Message::Digest(d) => imported_digest(scheme, d)?.as_ref().to_vec(),
                    Message::ExternalMu(_) => return Err(CryptoError::UnsupportedMessage),
                };
                let seed = k.seed().map_err(rejected)?;
                let seed = seed.as_be_bytes().map_err(rejected)?;
                aws_lc_ext::ed25519ph_sign(seed.as_ref(), &prehash)
            }
            (Inner::MlDsa(k), Message::Raw(m)) => {
                let mut out = vec![0u8; k.algorithm().signature_len()];
                let n = k.sign(m, &mut out).map_err(rejected)?;
                out.truncate(n);
                Ok(out)
            }
            (Inner::MlDsa(k), Message::ExternalMu(mu)) => {
                let pkcs8 = k.to_pkcs8v1().map_err(rejected)?;
                aws_lc_ext::mldsa_sign_mu(pkcs8.as_ref(), mu)
            }
            _ => Err(CryptoError::UnsupportedMessage),
        }
    }

    /// Decrypts one RSA-OAEP block.
    pub fn decrypt(&self, oaep: Oaep, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Inner::RsaDecrypt(k, _) = &self.inner else {
            return Err(CryptoError::InvalidKey);
        };
        let mut out = vec![0u8; k.min_output_size()];
        let len = k
            .decrypt(oaep.algorithm(), ciphertext, &mut out, None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(len);
        Ok(SecretBytes::new(out))
    }

    /// Unwraps key material wrapped as KMS's RSA_AES_KEY_WRAP algorithms wrap it: an RSA-OAEP block holding an
    /// ephemeral AES key, followed by that key's AES key wrap with padding (RFC 5649) of the material.
    pub fn unwrap_rsa_aes(&self, oaep: Oaep, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrapPadded};
        let split = self.rsa_modulus_len().ok_or(CryptoError::InvalidKey)?;
        if wrapped.len() <= split {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (block, body) = wrapped.split_at(split);
        let aes_key = self.decrypt(oaep, block)?;
        let cipher = match aes_key.len() {
            16 => &AES_128,
            32 => &AES_256,
            _ => return Err(CryptoError::InvalidCiphertext),
        };
        let kek = AesKek::new(cipher, aes_key.expose()).map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut out = vec![0u8; body.len()];
        let len = kek
            .unwrap_with_padding(body, &mut out)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(len);
        Ok(SecretBytes::new(out))
    }

    /// ECDH with a peer's SubjectPublicKeyInfo: the shared secret (the x-coordinate of the shared point).
    pub fn agree(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Inner::Ecdh(k) = &self.inner else {
            return Err(CryptoError::InvalidKey);
        };
        let peer = agreement::UnparsedPublicKey::new(k.algorithm(), peer_spki);
        agreement::agree(k, peer, CryptoError::InvalidPublicKey, |secret| {
            Ok(SecretBytes::from_slice(secret))
        })
    }
}

/// Checks `signature` over `message` with a DER SubjectPublicKeyInfo of `kind`. Malformed signatures are
/// simply not valid.
pub fn verify(
    kind: PairKind,
    public_key: &[u8],
    scheme: Scheme,
    message: Message<'_>,
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let algorithm: &'static dyn signature::VerificationAlgorithm = match (kind, scheme) {
        (PairKind::Rsa(_), scheme) => rsa_verification(scheme).ok_or(CryptoError::InvalidKey)?,
        (PairKind::Ec(curve), Scheme::Ecdsa(_)) => ecdsa_verification(curve),
        (PairKind::Ed25519, Scheme::Ed25519) => &signature::ED25519,
        (PairKind::Ed25519, Scheme::Ed25519Ph) => {
            let prehash = match message {
                Message::Raw(m) => digest::digest(&digest::SHA512, m).as_ref().to_vec(),
                Message::Digest(d) => imported_digest(scheme, d)?.as_ref().to_vec(),
                Message::ExternalMu(_) => return Err(CryptoError::UnsupportedMessage),
            };
            return aws_lc_ext::ed25519ph_verify(public_key, &prehash, signature);
        }
        (PairKind::MlDsa(level), Scheme::MlDsa) => {
            if let Message::ExternalMu(mu) = message {
                return aws_lc_ext::mldsa_verify_mu(public_key, mu, signature);
            }
            mldsa_verification(level)
        }
        _ => return Err(CryptoError::InvalidKey),
    };
    let key = UnparsedPublicKey::new(algorithm, public_key);
    Ok(match message {
        Message::Raw(m) => key.verify(m, signature).is_ok(),
        Message::Digest(d) => key.verify_digest(&imported_digest(scheme, d)?, signature).is_ok(),
        Message::ExternalMu(_) => return Err(CryptoError::UnsupportedMessage),
    })
}

/// A public key kept for verifying: parsed once for the one scheme family of ECDSA, Ed25519 and ML-DSA keys (which
/// saves parsing the key on every Verify); RSA keys, whose scheme varies per call, and the other message forms
/// verify from the DER.
pub struct Verifier {
    kind: PairKind,
    der: Vec<u8>,
    parsed: Option<signature::ParsedPublicKey>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({:?})", self.kind)
    }
}

impl Verifier {
    /// A verifier for a DER SubjectPublicKeyInfo of `kind`.
    pub fn new(kind: PairKind, der: Vec<u8>) -> Result<Self, CryptoError> {
        let algorithm: Option<&'static dyn signature::VerificationAlgorithm> = match kind {
            PairKind::Ec(curve) => Some(ecdsa_verification(curve)),
            PairKind::Ed25519 => Some(&signature::ED25519),
            PairKind::MlDsa(level) => Some(mldsa_verification(level)),
            PairKind::Rsa(_) => None,
        };
        let parsed = algorithm
            .map(|algorithm| signature::ParsedPublicKey::new(algorithm, &der))
            .transpose()
            .map_err(rejected)?;
        Ok(Self { kind, der, parsed })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// As [`verify`], with the parsed key where it serves.
    pub fn verify(&self, scheme: Scheme, message: Message<'_>, signature: &[u8]) -> Result<bool, CryptoError> {
        match (&self.parsed, scheme, message) {
            (Some(key), Scheme::Ecdsa(_) | Scheme::Ed25519 | Scheme::MlDsa, Message::Raw(m)) => {
                Ok(key.verify_sig(m, signature).is_ok())
            }
            (Some(key), Scheme::Ecdsa(_), Message::Digest(d)) => {
                Ok(key.verify_digest_sig(&imported_digest(scheme, d)?, signature).is_ok())
            }
            _ => verify(self.kind, &self.der, scheme, message, signature),
        }
    }
}

/// Encrypts one RSA-OAEP block to a DER SubjectPublicKeyInfo.
pub fn encrypt(public_key: &[u8], oaep: Oaep, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).map_err(rejected)?).map_err(rejected)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(oaep.algorithm(), plaintext, &mut out, None)
        .map_err(|_| CryptoError::InvalidKey)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// The hash of an HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl MacHash {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            MacHash::Sha224 => hmac::HMAC_SHA224,
            MacHash::Sha256 => hmac::HMAC_SHA256,
            MacHash::Sha384 => hmac::HMAC_SHA384,
            MacHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// The length of a key, which KMS makes that of the hash's output.
    pub fn key_len(self) -> usize {
        match self {
            MacHash::Sha224 => 28,
            MacHash::Sha256 => 32,
            MacHash::Sha384 => 48,
            MacHash::Sha512 => 64,
        }
    }
}

/// HMAC of `message` under `key`.
pub fn mac(hash: MacHash, key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hash.algorithm(), key), message)
        .as_ref()
        .to_vec()
}

/// Checks an HMAC in constant time.
pub fn verify_mac(hash: MacHash, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hash.algorithm(), key), message, tag).is_ok()
}

#[allow(unsafe_code)]
mod aws_lc_ext {
    //! What aws-lc offers and aws-lc-rs does not expose: Ed25519ph (RFC 8032 HashEdDSA) and ML-DSA signing
    //! and verification of an external message representative μ (FIPS 204, Algorithm 7 line 6). Each call
    //! is one aws-lc function over buffers this module owns.

    use aws_lc_sys as ffi;

    use crate::CryptoError;

    const ED25519_SIGNATURE_LEN: usize = 64;

    /// Clears the thread's aws-lc error queue when a call into aws-lc returns, on every path, so that no failure
    /// here is left for a later aws-lc call to find.
    struct ClearErrors;

    impl Drop for ClearErrors {
        fn drop(&mut self) {
            // SAFETY: clears this thread's error queue; no pointers.
            unsafe { ffi::ERR_clear_error() }
        }
    }

    /// Ed25519ph over a SHA-512 digest, with an empty context.
    pub fn ed25519ph_sign(seed: &[u8], prehash: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let _clear = ClearErrors;
        if seed.len() != 32 || prehash.len() != 64 {
            return Err(CryptoError::InvalidKey);
        }
        let mut public = [0u8; 32];
        let mut private = zeroize::Zeroizing::new([0u8; 64]);
        let mut out = vec![0u8; ED25519_SIGNATURE_LEN];
        // SAFETY: every pointer is to a live buffer of the length aws-lc reads or writes (32-byte seed and
        // public key, 64-byte private key, signature and digest); the context is empty.
        let ok = unsafe {
            ffi::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr());
            ffi::ED25519ph_sign_digest(
                out.as_mut_ptr(),
                prehash.as_ptr(),
                private.as_ptr(),
                std::ptr::null(),
                0,
            )
        };
        if ok == 1 { Ok(out) } else { Err(CryptoError::InvalidKey) }
    }

    /// Ed25519ph verification against a SubjectPublicKeyInfo (or the raw 32-byte key).
    pub fn ed25519ph_verify(public_key: &[u8], prehash: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let _clear = ClearErrors;
        let raw = match public_key.len() {
            32 => public_key,
            44 => &public_key[12..],
            _ => return Err(CryptoError::InvalidKey),
        };
        if prehash.len() != 64 || signature.len() != ED25519_SIGNATURE_LEN {
            return Ok(false);
        }
        // SAFETY: a 64-byte digest, a 64-byte signature and a 32-byte public key, all live; empty context.
        let ok = unsafe {
            ffi::ED25519ph_verify_digest(prehash.as_ptr(), signature.as_ptr(), raw.as_ptr(), std::ptr::null(), 0)
        };
        Ok(ok == 1)
    }

    /// Owns an `EVP_PKEY`.
    struct Pkey(*mut ffi::EVP_PKEY);

    impl Drop for Pkey {
        fn drop(&mut self) {
            // SAFETY: the pointer came from aws-lc and is freed once.
            unsafe { ffi::EVP_PKEY_free(self.0) }
        }
    }

    /// Owns an `EVP_PKEY_CTX`.
    struct PkeyCtx(*mut ffi::EVP_PKEY_CTX);

    impl Drop for PkeyCtx {
        fn drop(&mut self) {
            // SAFETY: the pointer came from aws-lc and is freed once.
            unsafe { ffi::EVP_PKEY_CTX_free(self.0) }
        }
    }

    fn context_of(pkey: &Pkey) -> Result<PkeyCtx, CryptoError> {
        // SAFETY: `pkey` is a live key; a null engine is aws-lc's default.
        let ctx = unsafe { ffi::EVP_PKEY_CTX_new(pkey.0, std::ptr::null_mut()) };
        if ctx.is_null() {
            Err(CryptoError::InvalidKey)
        } else {
            Ok(PkeyCtx(ctx))
        }
    }

    fn parse_der(der: &[u8], private: bool) -> Result<Pkey, CryptoError> {
        let mut cbs = ffi::CBS {
            data: der.as_ptr(),
            len: der.len(),
        };
        // SAFETY: the CBS points into `der`, which outlives the call; aws-lc copies what it keeps.
        let pkey = unsafe {
            if private {
                ffi::EVP_parse_private_key(&mut cbs)
            } else {
                ffi::EVP_parse_public_key(&mut cbs)
            }
        };
        if pkey.is_null() || cbs.len != 0 {
            if !pkey.is_null() {
                drop(Pkey(pkey));
            }
            return Err(CryptoError::InvalidKey);
        }
        Ok(Pkey(pkey))
    }

    /// ML-DSA over μ: with `EVP_PKEY_sign` (not `EVP_DigestSign`) aws-lc takes its input as μ.
    pub fn mldsa_sign_mu(pkcs8: &[u8], mu: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let _clear = ClearErrors;
        if mu.len() != 64 {
            return Err(CryptoError::DigestLength);
        }
        let pkey = parse_der(pkcs8, true)?;
        let ctx = context_of(&pkey)?;
        let mut len: usize = 0;
        // SAFETY: a live context; the first call only reports the signature's length, the second writes at
        // most `len` bytes into a buffer of that length; μ is a live 64-byte buffer.
        unsafe {
            if ffi::EVP_PKEY_sign_init(ctx.0) != 1
                || ffi::EVP_PKEY_sign(ctx.0, std::ptr::null_mut(), &mut len, mu.as_ptr(), mu.len()) != 1
            {
                return Err(CryptoError::InvalidKey);
            }
            let mut out = vec![0u8; len];
            if ffi::EVP_PKEY_sign(ctx.0, out.as_mut_ptr(), &mut len, mu.as_ptr(), mu.len()) != 1 {
                return Err(CryptoError::InvalidKey);
            }
            out.truncate(len);
            Ok(out)
        }
    }

    /// Verifies an ML-DSA signature over μ against a SubjectPublicKeyInfo.
    pub fn mldsa_verify_mu(public_key: &[u8], mu: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let _clear = ClearErrors;
        if mu.len() != 64 {
            return Err(CryptoError::DigestLength);
        }
        let pkey = parse_der(public_key, false)?;
        let ctx = context_of(&pkey)?;
        // SAFETY: a live context and live buffers of the lengths passed.
        let ok = unsafe {
            ffi::EVP_PKEY_verify_init(ctx.0) == 1
                && ffi::EVP_PKEY_verify(ctx.0, signature.as_ptr(), signature.len(), mu.as_ptr(), mu.len()) == 1
        };
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_KINDS: [PairKind; 11] = [
        PairKind::Rsa(RsaBits::B2048),
        PairKind::Rsa(RsaBits::B3072),
        PairKind::Rsa(RsaBits::B4096),
        PairKind::Ec(Curve::P256),
        PairKind::Ec(Curve::P384),
        PairKind::Ec(Curve::P521),
        PairKind::Ec(Curve::Secp256k1),
        PairKind::Ed25519,
        PairKind::MlDsa(MlDsaLevel::L44),
        PairKind::MlDsa(MlDsaLevel::L65),
        PairKind::MlDsa(MlDsaLevel::L87),
    ];

    fn schemes(kind: PairKind) -> Vec<Scheme> {
        match kind {
            PairKind::Rsa(_) => [Hash::Sha256, Hash::Sha384, Hash::Sha512]
                .into_iter()
                .flat_map(|h| [Scheme::RsaPss(h), Scheme::RsaPkcs1(h)])
                .collect(),
            PairKind::Ec(curve) => vec![Scheme::Ecdsa(curve_hash(curve))],
            PairKind::Ed25519 => vec![Scheme::Ed25519, Scheme::Ed25519Ph],
            PairKind::MlDsa(_) => vec![Scheme::MlDsa],
        }
    }

    #[test]
    fn every_kind_signs_and_verifies_raw_messages_and_refuses_altered_ones() {
        for kind in ALL_KINDS {
            let pkcs8 = generate(kind).expect("must succeed");
            let key = PrivateKey::parse(kind, Role::Sign, pkcs8.expose()).expect("must succeed");
            let public = key.public_key().expect("must succeed");
            let verifier = Verifier::new(kind, public.clone()).expect("verifier");
            for scheme in schemes(kind) {
                let signature = key.sign(scheme, Message::Raw(b"message")).expect("must succeed");
                assert!(
                    verifier
                        .verify(scheme, Message::Raw(b"message"), &signature)
                        .expect("verifies")
                );
                assert!(
                    !verifier
                        .verify(scheme, Message::Raw(b"messagE"), &signature)
                        .expect("verifies")
                );
                assert!(
                    verify(kind, &public, scheme, Message::Raw(b"message"), &signature).expect("must succeed"),
                    "{kind:?} {scheme:?}"
                );
                assert!(
                    !verify(kind, &public, scheme, Message::Raw(b"messagE"), &signature).expect("must succeed"),
                    "{kind:?} {scheme:?}"
                );
            }
        }
    }

    #[test]
    fn a_digest_signature_verifies_as_the_raw_message_and_wrong_lengths_are_refused() {
        let kind = PairKind::Ec(Curve::P384);
        let key =
            PrivateKey::parse(kind, Role::Sign, generate(kind).expect("must succeed").expose()).expect("must succeed");
        let public = key.public_key().expect("must succeed");
        let digest = digest::digest(&digest::SHA384, b"message");
        let signature = key
            .sign(Scheme::Ecdsa(Hash::Sha384), Message::Digest(digest.as_ref()))
            .expect("must succeed");
        assert!(
            verify(
                kind,
                &public,
                Scheme::Ecdsa(Hash::Sha384),
                Message::Raw(b"message"),
                &signature
            )
            .expect("must succeed")
        );
        assert_eq!(
            key.sign(Scheme::Ecdsa(Hash::Sha384), Message::Digest(&[0; 32]))
                .expect_err("must fail"),
            CryptoError::DigestLength
        );
    }

    #[test]
    fn ed25519ph_over_a_digest_equals_over_the_message() {
        let key = PrivateKey::parse(
            PairKind::Ed25519,
            Role::Sign,
            generate(PairKind::Ed25519).expect("must succeed").expose(),
        )
        .expect("must succeed");
        let public = key.public_key().expect("must succeed");
        let digest = digest::digest(&digest::SHA512, b"message");
        let signature = key
            .sign(Scheme::Ed25519Ph, Message::Digest(digest.as_ref()))
            .expect("must succeed");
        // Ed25519 signatures are deterministic: the same prehash gives the same signature.
        assert_eq!(
            signature,
            key.sign(Scheme::Ed25519Ph, Message::Raw(b"message"))
                .expect("must succeed")
        );
        assert!(
            verify(
                PairKind::Ed25519,
                &public,
                Scheme::Ed25519Ph,
                Message::Raw(b"message"),
                &signature
            )
            .expect("must succeed")
        );
        assert!(
            !verify(
                PairKind::Ed25519,
                &public,
                Scheme::Ed25519,
                Message::Raw(b"message"),
                &signature
            )
            .expect("must succeed")
        );
    }

    /// RFC 8032, section 7.3: the Ed25519ph test vector ("abc").
    #[test]
    fn ed25519ph_matches_rfc_8032() {
        let seed =
            hex::decode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42").expect("must succeed");
        let public =
            hex::decode("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf").expect("must succeed");
        let expected = hex::decode(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        )
        .expect("must succeed");
        let prehash = digest::digest(&digest::SHA512, b"abc");
        assert_eq!(
            aws_lc_ext::ed25519ph_sign(&seed, prehash.as_ref()).expect("must succeed"),
            expected
        );
        assert!(aws_lc_ext::ed25519ph_verify(&public, prehash.as_ref(), &expected).expect("must succeed"));
        let other = digest::digest(&digest::SHA512, b"abd");
        assert!(!aws_lc_ext::ed25519ph_verify(&public, other.as_ref(), &expected).expect("must succeed"));
    }

    #[test]
    fn oaep_round_trips_and_a_wrong_hash_fails() {
        let kind = PairKind::Rsa(RsaBits::B2048);
        let key = PrivateKey::parse(kind, Role::Decrypt, generate(kind).expect("must succeed").expose())
            .expect("must succeed");
        let public = key.public_key().expect("must succeed");
        let longest = vec![7u8; Oaep::Sha256.max_plaintext(RsaBits::B2048)];
        let ciphertext = encrypt(&public, Oaep::Sha256, &longest).expect("must succeed");
        assert_eq!(
            key.decrypt(Oaep::Sha256, &ciphertext).expect("must succeed").expose(),
            &longest[..]
        );
        assert_eq!(
            key.decrypt(Oaep::Sha1, &ciphertext).expect_err("must fail"),
            CryptoError::InvalidCiphertext
        );
        assert!(encrypt(&public, Oaep::Sha256, &[longest.clone(), vec![1]].concat()).is_err());
    }

    #[test]
    fn ecdh_agrees_both_ways_and_refuses_a_point_of_another_curve() {
        let kind = PairKind::Ec(Curve::P256);
        let a =
            PrivateKey::parse(kind, Role::Agree, generate(kind).expect("must succeed").expose()).expect("must succeed");
        let b =
            PrivateKey::parse(kind, Role::Agree, generate(kind).expect("must succeed").expose()).expect("must succeed");
        let ab = a.agree(&b.public_key().expect("must succeed")).expect("must succeed");
        assert_eq!(
            ab,
            b.agree(&a.public_key().expect("must succeed")).expect("must succeed")
        );
        assert_eq!(ab.len(), 32);
        let other = PairKind::Ec(Curve::P384);
        let c = PrivateKey::parse(other, Role::Agree, generate(other).expect("must succeed").expose())
            .expect("must succeed");
        assert_eq!(
            a.agree(&c.public_key().expect("must succeed")).expect_err("must fail"),
            CryptoError::InvalidPublicKey
        );
        assert_eq!(
            a.agree(b"not a key").expect_err("must fail"),
            CryptoError::InvalidPublicKey
        );
    }

    #[test]
    fn a_key_of_another_kind_or_size_is_refused() {
        let rsa = generate(PairKind::Rsa(RsaBits::B2048)).expect("must succeed");
        assert!(PrivateKey::parse(PairKind::Rsa(RsaBits::B3072), Role::Sign, rsa.expose()).is_err());
        assert!(PrivateKey::parse(PairKind::Ec(Curve::P256), Role::Sign, rsa.expose()).is_err());
        assert!(PrivateKey::parse(PairKind::Ed25519, Role::Agree, rsa.expose()).is_err());
    }

    #[test]
    fn hmac_of_each_hash_verifies_only_its_own_message() {
        for hash in [MacHash::Sha224, MacHash::Sha256, MacHash::Sha384, MacHash::Sha512] {
            let key = vec![3u8; hash.key_len()];
            let tag = mac(hash, &key, b"message");
            assert!(verify_mac(hash, &key, b"message", &tag));
            assert!(!verify_mac(hash, &key, b"other", &tag));
        }
    }
}
