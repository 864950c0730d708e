//! The primitives of client-side envelope formats (the AWS Encryption SDK message, S3 client-side encryption):
//! AES-GCM under caller-chosen IVs, HKDF, ECDSA message signatures over streamed digests with compressed public
//! points, and RSA key wrapping (OAEP with SHA-1..SHA-512, PKCS #1 v1.5).

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyCompressedBin, Pkcs8V1Der};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    self, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, hkdf};

use crate::asymmetric::Hash;
use crate::{CryptoError, SecretBytes};

/// The length of every AES-GCM IV these formats use.
pub const GCM_IV_LEN: usize = 12;
/// The length of every AES-GCM tag these formats use.
pub const GCM_TAG_LEN: usize = 16;

/// An AES-GCM key of 128, 192 or 256 bits.
pub struct GcmKey(LessSafeKey);

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey")
    }
}

impl GcmKey {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let algorithm = match key.len() {
            16 => &AES_128_GCM,
            24 => &AES_192_GCM,
            32 => &AES_256_GCM,
            _ => return Err(CryptoError::KeyLength),
        };
        let key = UnboundKey::new(algorithm, key).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Encrypts `data` in place and returns the tag. The caller guarantees `iv` is never reused under this key.
    pub fn seal(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], CryptoError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), data)
            .map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut out = [0u8; GCM_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `sealed` (ciphertext followed by its tag) in place; returns the plaintext's length.
    pub fn open(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], sealed: &mut [u8]) -> Result<usize, CryptoError> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(*iv), Aad::from(aad), sealed)
            .map(|plaintext| plaintext.len())
            .map_err(|_| CryptoError::InvalidCiphertext)
    }
}

/// Decrypts AES-256-CTR from the 16-byte counter block `counter`: the unauthenticated reading of part of an AES-GCM
/// ciphertext (GCM's keystream for the block after J0 starts at inc32(J0)). The caller says it accepts that.
pub fn aes256_ctr_unauthenticated(key: &[u8], counter: [u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
    let key = UnboundCipherKey::new(&AES_256, key).map_err(|_| CryptoError::KeyLength)?;
    let key = DecryptingKey::ctr(key).map_err(|_| CryptoError::KeyLength)?;
    key.decrypt(data, DecryptionContext::Iv128(FixedLength::from(counter)))
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    Ok(())
}

struct HkdfLen(usize);

impl hkdf::KeyType for HkdfLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF (RFC 5869) of `ikm` into `len` bytes; no salt means HashLen zero bytes, as the RFC says.
pub fn hkdf(
    hash: Hash,
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let algorithm = match hash {
        Hash::Sha256 => hkdf::HKDF_SHA256,
        Hash::Sha384 => hkdf::HKDF_SHA384,
        Hash::Sha512 => hkdf::HKDF_SHA512,
    };
    let prk = hkdf::Salt::new(algorithm, salt.unwrap_or(&[])).extract(ikm);
    let okm = prk.expand(info, HkdfLen(len)).map_err(|_| CryptoError::KeyLength)?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).map_err(|_| CryptoError::KeyLength)?;
    Ok(SecretBytes::new(out))
}

/// The curve of a message signature, with the hash it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureCurve {
    P256,
    P384,
}

impl SignatureCurve {
    pub fn hash(self) -> Hash {
        match self {
            SignatureCurve::P256 => Hash::Sha256,
            SignatureCurve::P384 => Hash::Sha384,
        }
    }

    fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            SignatureCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            SignatureCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            SignatureCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            SignatureCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        }
    }

    /// A streamed digest of what is signed under this curve.
    pub fn digest(self) -> MessageDigest {
        MessageDigest(digest::Context::new(match self {
            SignatureCurve::P256 => &digest::SHA256,
            SignatureCurve::P384 => &digest::SHA384,
        }))
    }
}

/// The running digest of a signed message.
#[derive(Clone)]
pub struct MessageDigest(digest::Context);

impl std::fmt::Debug for MessageDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageDigest")
    }
}

impl MessageDigest {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> digest::Digest {
        self.0.finish()
    }
}

/// An ECDSA key that signs one message (or, cached, a few): made fresh, known to readers by its compressed point.
pub struct MessageSigner {
    curve: SignatureCurve,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for MessageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageSigner({:?})", self.curve)
    }
}

impl MessageSigner {
    pub fn generate(curve: SignatureCurve) -> Result<Self, CryptoError> {
        let key = EcdsaKeyPair::generate(curve.signing()).map_err(|_| CryptoError::Random)?;
        Ok(Self { curve, key })
    }

    /// A signer from its PKCS#8 form.
    pub fn from_pkcs8(curve: SignatureCurve, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let key = EcdsaKeyPair::from_pkcs8(curve.signing(), pkcs8).map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self { curve, key })
    }

    /// The private key as PKCS#8, for a caller that must keep it (a cache shared by several messages).
    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let der = self.key.to_pkcs8v1().map_err(|_| CryptoError::InvalidKey)?;
        Ok(SecretBytes::from_slice(der.as_ref()))
    }

    pub fn curve(&self) -> SignatureCurve {
        self.curve
    }

    /// The public key as a compressed SEC 1 point.
    pub fn compressed_public_key(&self) -> Result<Vec<u8>, CryptoError> {
        let point: EcPublicKeyCompressedBin<'static> = self
            .key
            .public_key()
            .as_be_bytes()
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(point.as_ref().to_vec())
    }

    /// A DER signature over the message whose digest is `digest`.
    pub fn sign(&self, digest: MessageDigest) -> Result<Vec<u8>, CryptoError> {
        let signature = self
            .key
            .sign_digest(&digest.finish())
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(signature.as_ref().to_vec())
    }
}

/// Checks a DER signature over the message whose digest is `digest` with a SEC 1 point (compressed or not).
pub fn verify_message(curve: SignatureCurve, point: &[u8], digest: MessageDigest, signature: &[u8]) -> bool {
    let key = UnparsedPublicKey::new(curve.verification(), point);
    key.verify_digest(&digest.finish(), signature).is_ok()
}

/// The padding of an RSA-wrapped data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    Pkcs1,
    /// OAEP with MGF1 over the same hash.
    OaepSha1,
    OaepSha256,
    OaepSha384,
    OaepSha512,
}

impl RsaPadding {
    fn oaep(self) -> Option<&'static rsa::OaepAlgorithm> {
        match self {
            RsaPadding::Pkcs1 => None,
            RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
            RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

/// Encrypts a data key to an RSA public key (DER SubjectPublicKeyInfo).
pub fn rsa_wrap(public_key: &[u8], padding: RsaPadding, data_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = PublicEncryptingKey::from_der(public_key).map_err(|_| CryptoError::InvalidKey)?;
    let mut out = vec![0u8; key.key_size_bytes()];
    let len = match padding.oaep() {
        Some(oaep) => {
            let key = OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError::InvalidKey)?;
            key.encrypt(oaep, data_key, &mut out, None)
                .map_err(|_| CryptoError::InvalidKey)?
                .len()
        }
        None => {
            let key = Pkcs1PublicEncryptingKey::new(key).map_err(|_| CryptoError::InvalidKey)?;
            key.encrypt(data_key, &mut out)
                .map_err(|_| CryptoError::InvalidKey)?
                .len()
        }
    };
    out.truncate(len);
    Ok(out)
}

/// The DER SubjectPublicKeyInfo of a private key in PKCS #8 (RSA, ECDSA P-256/P-384) or PKCS #1 (RSA)
/// DER: what a certificate's public key must equal for the key to be the certificate's.
pub fn public_key_of(private_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if let Ok(rsa) = RsaUnwrappingKey::from_der(private_der) {
        return rsa.public_key();
    }
    for algorithm in [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(algorithm, private_der) {
            let der = pair.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
            return Ok(der.as_ref().to_vec());
        }
    }
    Err(CryptoError::InvalidKey)
}

/// The DER SubjectPublicKeyInfo of the RSA public key with modulus `n` and exponent `e` (big-endian,
/// as an OpenSSH `ssh-rsa` key holds them), refused unless it is a usable RSA key.
pub fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // aws-lc refuses a modulus with a leading zero byte, which DER and SSH integers carry when the
    // top bit is set.
    let unsigned = |value: &[u8]| -> Vec<u8> { value.iter().skip_while(|b| **b == 0).copied().collect() };
    let (n, e) = (unsigned(n), unsigned(e));
    let components = rsa::PublicKeyComponents { n: &n, e: &e };
    let der = components.as_der().map_err(|_| CryptoError::InvalidKey)?;
    PublicEncryptingKey::from_der(der.as_ref()).map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

/// An RSA private key for unwrapping data keys, from PKCS #8 or PKCS #1 DER.
pub struct RsaUnwrappingKey(PrivateDecryptingKey);

impl std::fmt::Debug for RsaUnwrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaUnwrappingKey")
    }
}

impl RsaUnwrappingKey {
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(key) = PrivateDecryptingKey::from_pkcs8(der) {
            return Ok(Self(key));
        }
        let pair = rsa::KeyPair::from_der(der).map_err(|_| CryptoError::InvalidKey)?;
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| CryptoError::InvalidKey)?;
        PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .map(Self)
            .map_err(|_| CryptoError::InvalidKey)
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> Result<Vec<u8>, CryptoError> {
        let der = self.0.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
        Ok(der.as_ref().to_vec())
    }

    pub fn unwrap(&self, padding: RsaPadding, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        let mut out = vec![0u8; self.0.key_size_bytes()];
        let len = match padding.oaep() {
            Some(oaep) => OaepPrivateDecryptingKey::new(self.0.clone())
                .map_err(|_| CryptoError::InvalidKey)?
                .decrypt(oaep, wrapped, &mut out, None)
                .map_err(|_| CryptoError::InvalidCiphertext)?
                .len(),
            None => Pkcs1PrivateDecryptingKey::new(self.0.clone())
                .map_err(|_| CryptoError::InvalidKey)?
                .decrypt(wrapped, &mut out)
                .map_err(|_| CryptoError::InvalidCiphertext)?
                .len(),
        };
        out.truncate(len);
        Ok(SecretBytes::new(out))
    }
}
