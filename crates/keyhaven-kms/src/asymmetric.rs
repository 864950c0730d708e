//! KMS's asymmetric and HMAC operations: Sign, Verify, GetPublicKey, RSA-OAEP Encrypt/Decrypt, GenerateMac,
//! VerifyMac, DeriveSharedSecret and the data key pairs, with AWS's rules for key usage, algorithms, message types
//! and key states.

use keyhaven_crypto::asymmetric::{self, Message, Role, Scheme};
use keyhaven_crypto::{CryptoError, EncryptionContext, SecretBytes};
use keyhaven_kernel::context::RequestContext;

use crate::key_spec::{self, Backing, GENERATE_VERIFY_MAC, KEY_AGREEMENT, SIGN_VERIFY};
use crate::{Encrypted, KeyRecord, Kms, KmsError, LiveKey, algorithm_key, check_usage, require_not_pending_deletion};

/// A signature and the key that made it.
#[derive(Debug)]
pub struct Signed {
    pub signature: Vec<u8>,
    pub key_arn: String,
}

/// GenerateDataKeyPair's answer: the pair, its private key sealed under the KMS key.
#[derive(Debug)]
pub struct DataKeyPair {
    /// PKCS#8.
    pub private_key: SecretBytes,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    pub sealed: Encrypted,
}

/// The public half of an asymmetric key and what it is for, as GetPublicKey answers.
#[derive(Debug)]
pub struct PublicKeyInfo {
    pub record: KeyRecord,
    pub public_key: Vec<u8>,
}

const ASYMMETRIC_CONTEXT: &str = "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.";

/// A message as the signing scheme takes it, with AWS's answers to message types a scheme does not take.
fn message<'a>(
    record: &KeyRecord,
    algorithm: &str,
    scheme: Scheme,
    message_type: &str,
    bytes: &'a [u8],
) -> Result<Message<'a>, KmsError> {
    let incompatible_with_spec = || {
        KmsError::Validation(format!(
            "Message type {message_type} is incompatible with key spec {}.",
            record.key_spec
        ))
    };
    let incompatible_with_algorithm = || {
        KmsError::Validation(format!(
            "Message type {message_type} is incompatible with algorithm {algorithm}."
        ))
    };
    match (message_type, scheme) {
        ("RAW", Scheme::Ed25519Ph) | ("DIGEST", Scheme::Ed25519) => Err(incompatible_with_algorithm()),
        ("DIGEST", Scheme::MlDsa) => Err(incompatible_with_spec()),
        ("EXTERNAL_MU", Scheme::MlDsa) if bytes.len() != 64 => Err(KmsError::Validation(format!(
            "External Mu is invalid length for algorithm {algorithm}."
        ))),
        ("EXTERNAL_MU", Scheme::MlDsa) => Ok(Message::ExternalMu(bytes)),
        ("EXTERNAL_MU", _) => Err(incompatible_with_spec()),
        ("DIGEST", _) => Ok(Message::Digest(bytes)),
        _ => Ok(Message::Raw(bytes)),
    }
}

fn digest_error(algorithm: &str) -> impl Fn(CryptoError) -> KmsError + '_ {
    move |e| match e {
        CryptoError::DigestLength => {
            KmsError::Validation(format!("Digest is invalid length for algorithm {algorithm}."))
        }
        other => KmsError::from(other),
    }
}

fn signing_keys(algorithm: &str, message_type: &str) -> [(String, Vec<String>); 2] {
    [
        ("kms:SigningAlgorithm".to_string(), vec![algorithm.to_string()]),
        ("kms:MessageType".to_string(), vec![message_type.to_string()]),
    ]
}

fn private_key(live: &LiveKey) -> Result<&asymmetric::PrivateKey, KmsError> {
    live.pair
        .as_ref()
        .map(|(private, _)| private)
        .ok_or_else(|| KmsError::Internal("an asymmetric key without a key pair".into()))
}

fn verifier(live: &LiveKey) -> Result<&asymmetric::Verifier, KmsError> {
    live.pair
        .as_ref()
        .map(|(_, verifier)| verifier)
        .ok_or_else(|| KmsError::Internal("an asymmetric key without a key pair".into()))
}

/// The HMAC key of an HMAC KMS key (its one material).
fn hmac_key(live: &LiveKey) -> Result<&SecretBytes, KmsError> {
    live.materials
        .values()
        .next()
        .ok_or_else(|| KmsError::Internal("an HMAC key without material".into()))
}

/// RSA-OAEP under an RSA key's public key; `algorithm` is one the key offers.
pub(crate) fn rsa_encrypt(
    live: &LiveKey,
    public_key: &[u8],
    plaintext: &[u8],
    context: &EncryptionContext,
    algorithm: &str,
) -> Result<Encrypted, KmsError> {
    if !context.is_empty() {
        return Err(KmsError::Validation(ASYMMETRIC_CONTEXT.into()));
    }
    let (oaep, bits) = live.spec.oaep(algorithm)?;
    let limit = oaep.max_plaintext(bits);
    if plaintext.len() > limit {
        return Err(KmsError::Validation(format!(
            "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {limit} bytes.",
            live.record.key_spec
        )));
    }
    Ok(Encrypted {
        ciphertext: asymmetric::encrypt(public_key, oaep, plaintext)?,
        key_arn: live.record.arn(),
        material_id: live.record.current_material().map(|m| m.id.clone()).unwrap_or_default(),
    })
}

impl Kms {
    /// Decrypt (or ReEncrypt's source) with an asymmetric algorithm: the key must be named.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rsa_decrypt(
        &self,
        ctx: &RequestContext,
        action: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key: Option<&str>,
        algorithm: &str,
        dry_run: bool,
    ) -> Result<keyhaven_kernel::on_behalf::Decrypted, KmsError> {
        let key = key.ok_or_else(|| KmsError::Validation("KeyId must not be null".into()))?;
        let live = self.live_checked(ctx, key, action, Some(context), &algorithm_key(Some(algorithm)))?;
        self.check_usable(&live, Some(algorithm), "Decrypt")?;
        if !context.is_empty() {
            return Err(KmsError::Validation(ASYMMETRIC_CONTEXT.into()));
        }
        let (oaep, _) = live.spec.oaep(algorithm)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = private_key(&live)?.decrypt(oaep, ciphertext)?;
        Ok(keyhaven_kernel::on_behalf::Decrypted {
            plaintext,
            key_arn: live.record.arn(),
            material_id: live.record.current_material().map(|m| m.id.clone()).unwrap_or_default(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        ctx: &RequestContext,
        key: &str,
        message_bytes: &[u8],
        message_type: Option<&str>,
        algorithm: &str,
        dry_run: bool,
    ) -> Result<Signed, KmsError> {
        let message_type = message_type.unwrap_or("RAW");
        let live = self.live_checked(ctx, key, "kms:Sign", None, &signing_keys(algorithm, message_type))?;
        check_usage(&live.record, SIGN_VERIFY, "Sign")?;
        let scheme = live.spec.signing_scheme(algorithm)?;
        let message = message(&live.record, algorithm, scheme, message_type, message_bytes)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let signature = private_key(&live)?
            .sign(scheme, message)
            .map_err(digest_error(algorithm))?;
        Ok(Signed {
            signature,
            key_arn: live.record.arn(),
        })
    }

    /// Verify: the key's ARN when the signature is valid; KMSInvalidSignatureException otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        ctx: &RequestContext,
        key: &str,
        message_bytes: &[u8],
        message_type: Option<&str>,
        signature: &[u8],
        algorithm: &str,
        dry_run: bool,
    ) -> Result<String, KmsError> {
        let message_type = message_type.unwrap_or("RAW");
        let live = self.live_checked(ctx, key, "kms:Verify", None, &signing_keys(algorithm, message_type))?;
        check_usage(&live.record, SIGN_VERIFY, "Verify")?;
        let scheme = live.spec.signing_scheme(algorithm)?;
        let message = message(&live.record, algorithm, scheme, message_type, message_bytes)?;
        let valid = verifier(&live)?
            .verify(scheme, message, signature)
            .map_err(digest_error(algorithm))?;
        // AWS answers a bad signature the same way with or without DryRun.
        if !valid {
            return Err(KmsError::InvalidSignature);
        }
        if dry_run {
            return Err(KmsError::DryRun);
        }
        Ok(live.record.arn())
    }

    /// GetPublicKey: any state but pending deletion; symmetric and HMAC keys have none.
    pub fn get_public_key(&self, ctx: &RequestContext, key: &str) -> Result<PublicKeyInfo, KmsError> {
        let live = self.live_by_ref(ctx, key, "kms:GetPublicKey", None)?;
        require_not_pending_deletion(&live.record)?;
        let public_key = match live.spec.backing {
            Backing::Pair(_) => verifier(&live)?.der().to_vec(),
            Backing::Symmetric | Backing::Hmac(_) => return Err(KmsError::UnsupportedOperation(String::new())),
        };
        Ok(PublicKeyInfo {
            record: live.record.clone(),
            public_key,
        })
    }

    pub fn generate_mac(
        &self,
        ctx: &RequestContext,
        key: &str,
        message: &[u8],
        algorithm: &str,
        dry_run: bool,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let live = self.live_checked(ctx, key, "kms:GenerateMac", None, &mac_keys(algorithm))?;
        check_usage(&live.record, GENERATE_VERIFY_MAC, "GenerateMac")?;
        let hash = live.spec.mac_hash(algorithm)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let mac = asymmetric::mac(hash, hmac_key(&live)?.expose(), message);
        Ok((mac, live.record.arn()))
    }

    /// VerifyMac: the key's ARN when the MAC is valid; KMSInvalidMacException otherwise.
    pub fn verify_mac(
        &self,
        ctx: &RequestContext,
        key: &str,
        message: &[u8],
        mac: &[u8],
        algorithm: &str,
        dry_run: bool,
    ) -> Result<String, KmsError> {
        let live = self.live_checked(ctx, key, "kms:VerifyMac", None, &mac_keys(algorithm))?;
        check_usage(&live.record, GENERATE_VERIFY_MAC, "VerifyMac")?;
        let hash = live.spec.mac_hash(algorithm)?;
        if !asymmetric::verify_mac(hash, hmac_key(&live)?.expose(), message, mac) {
            return Err(KmsError::InvalidMac);
        }
        if dry_run {
            return Err(KmsError::DryRun);
        }
        Ok(live.record.arn())
    }

    /// DeriveSharedSecret (ECDH): the raw shared secret with a peer's SubjectPublicKeyInfo.
    pub fn derive_shared_secret(
        &self,
        ctx: &RequestContext,
        key: &str,
        algorithm: &str,
        peer_public_key: &[u8],
        dry_run: bool,
    ) -> Result<(SecretBytes, KeyRecord), KmsError> {
        let request_keys = [("kms:KeyAgreementAlgorithm".to_string(), vec![algorithm.to_string()])];
        let live = self.live_checked(ctx, key, "kms:DeriveSharedSecret", None, &request_keys)?;
        check_usage(&live.record, KEY_AGREEMENT, "DeriveSharedSecret")?;
        // A peer key AWS cannot use is refused before DryRun is considered.
        let secret = private_key(&live)?.agree(peer_public_key)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        Ok((secret, live.record.clone()))
    }

    /// GenerateDataKeyPair(WithoutPlaintext): a new key pair whose private key is encrypted under a symmetric key.
    #[allow(clippy::too_many_arguments)]
    pub fn generate_data_key_pair(
        &self,
        ctx: &RequestContext,
        action: &str,
        operation: &str,
        key: &str,
        context: &EncryptionContext,
        pair_spec: &str,
        dry_run: bool,
    ) -> Result<DataKeyPair, KmsError> {
        let kind = key_spec::data_key_pair(pair_spec)?;
        if let Some(quota) = crate::quotas::key_pair_quota(pair_spec) {
            self.throttle(ctx, quota)?;
        }
        let request_keys = [("kms:DataKeyPairSpec".to_string(), vec![pair_spec.to_string()])];
        let live = self.live_checked(ctx, key, action, Some(context), &request_keys)?;
        if live.spec.backing != Backing::Symmetric {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for {operation}.",
                live.record.arn(),
                live.record.key_usage
            )));
        }
        self.check_usable(&live, None, operation)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let private_key = asymmetric::generate(kind)?;
        let public_key = asymmetric::PrivateKey::parse(kind, Role::Sign, private_key.expose())?.public_key()?;
        let sealed = self.seal_with(&live, private_key.expose(), context)?;
        Ok(DataKeyPair {
            private_key,
            public_key,
            sealed,
        })
    }
}

fn mac_keys(algorithm: &str) -> [(String, Vec<String>); 1] {
    [("kms:MacAlgorithm".to_string(), vec![algorithm.to_string()])]
}
