//! Cryptographic materials and the managers that assemble them: the commitment policy, the materials a message is
//! encrypted or decrypted with, and the default materials manager over a keyring (which adds the signing key).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::envelope::MessageSigner;

use crate::keyring::Keyring;
use crate::message::context::{EncryptionContext, PUBLIC_KEY};
use crate::message::header::EncryptedDataKey;
use crate::message::suite::AlgorithmSuite;
use crate::{BoxFuture, ClientError};

/// Whether messages must commit to their data key (the SDK's commitment policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    ForbidEncryptAllowDecrypt,
    RequireEncryptAllowDecrypt,
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// The policy of a CLI name (`require-encrypt-require-decrypt`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "forbid-encrypt-allow-decrypt" => Some(Self::ForbidEncryptAllowDecrypt),
            "require-encrypt-allow-decrypt" => Some(Self::RequireEncryptAllowDecrypt),
            "require-encrypt-require-decrypt" => Some(Self::RequireEncryptRequireDecrypt),
            _ => None,
        }
    }

    /// The suite messages are encrypted with when the caller names none.
    pub fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
            _ => AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        }
    }

    pub fn check_encrypt(self, suite: AlgorithmSuite) -> Result<(), ClientError> {
        match (self, suite.is_committing()) {
            (Self::ForbidEncryptAllowDecrypt, true) => Err(ClientError::Policy(format!(
                "the commitment policy forbid-encrypt-allow-decrypt does not allow the committing suite {}",
                suite.name()
            ))),
            (Self::RequireEncryptAllowDecrypt | Self::RequireEncryptRequireDecrypt, false) => {
                Err(ClientError::Policy(format!(
                    "the commitment policy requires a committing algorithm suite; {} does not commit",
                    suite.name()
                )))
            }
            _ => Ok(()),
        }
    }

    pub fn check_decrypt(self, suite: AlgorithmSuite) -> Result<(), ClientError> {
        if self == Self::RequireEncryptRequireDecrypt && !suite.is_committing() {
            return Err(ClientError::Policy(format!(
                "the commitment policy require-encrypt-require-decrypt does not allow decrypting a message \
                 encrypted with the non-committing suite {}",
                suite.name()
            )));
        }
        Ok(())
    }
}

/// What a message is encrypted with.
#[derive(Debug, Clone)]
pub struct EncryptionMaterials {
    pub suite: AlgorithmSuite,
    /// The caller's context plus what the materials manager adds (the public verification key).
    pub context: EncryptionContext,
    pub data_key: Option<SecretBytes>,
    pub data_keys: Vec<EncryptedDataKey>,
    pub signer: Option<Arc<MessageSigner>>,
}

/// What a message is decrypted with.
#[derive(Debug, Clone)]
pub struct DecryptionMaterials {
    pub suite: AlgorithmSuite,
    pub context: EncryptionContext,
    pub data_key: Option<SecretBytes>,
    /// A signed message's public key (compressed point).
    pub verification_key: Option<Vec<u8>>,
}

/// A request for encryption materials.
#[derive(Debug, Clone)]
pub struct EncryptionRequest {
    pub context: EncryptionContext,
    pub suite: Option<AlgorithmSuite>,
    /// The plaintext's length when it is known in advance (the caching manager counts bytes with it).
    pub plaintext_length: Option<u64>,
    pub commitment_policy: CommitmentPolicy,
}

/// A request for decryption materials, from a message's header.
#[derive(Debug, Clone)]
pub struct DecryptionRequest {
    pub suite: AlgorithmSuite,
    pub data_keys: Vec<EncryptedDataKey>,
    pub context: EncryptionContext,
    pub commitment_policy: CommitmentPolicy,
}

/// Assembles materials for messages (the SDK's cryptographic materials manager).
pub trait MaterialsManager: Send + Sync {
    fn encryption_materials<'a>(
        &'a self,
        request: &'a EncryptionRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>>;

    fn decryption_materials<'a>(
        &'a self,
        request: &'a DecryptionRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>>;
}

/// The default materials manager: a keyring provides and wraps the data key; signed suites get a fresh signing key
/// whose public half travels in the encryption context.
#[derive(Clone)]
pub struct DefaultMaterialsManager {
    keyring: Arc<dyn Keyring>,
}

impl std::fmt::Debug for DefaultMaterialsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DefaultMaterialsManager")
    }
}

impl DefaultMaterialsManager {
    pub fn new(keyring: Arc<dyn Keyring>) -> Self {
        Self { keyring }
    }
}

impl MaterialsManager for DefaultMaterialsManager {
    fn encryption_materials<'a>(
        &'a self,
        request: &'a EncryptionRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            request.context.check_not_reserved()?;
            let suite = request.suite.unwrap_or(request.commitment_policy.default_suite());
            request.commitment_policy.check_encrypt(suite)?;
            let mut context = request.context.clone();
            let signer = match suite.signature() {
                Some(curve) => {
                    let signer = MessageSigner::generate(curve)?;
                    context.insert(PUBLIC_KEY, B64.encode(signer.compressed_public_key()?));
                    Some(Arc::new(signer))
                }
                None => None,
            };
            let materials = EncryptionMaterials {
                suite,
                context,
                data_key: None,
                data_keys: Vec::new(),
                signer,
            };
            let materials = self.keyring.on_encrypt(materials).await?;
            match &materials.data_key {
                Some(key) if key.len() == suite.key_len() => {}
                _ => return Err(ClientError::Config("the keyring did not provide a data key".into())),
            }
            if materials.data_keys.is_empty() {
                return Err(ClientError::Config("the keyring did not encrypt the data key".into()));
            }
            Ok(materials)
        })
    }

    fn decryption_materials<'a>(
        &'a self,
        request: &'a DecryptionRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            request.commitment_policy.check_decrypt(request.suite)?;
            let verification_key = match (request.suite.signature(), request.context.get(PUBLIC_KEY)) {
                (Some(_), Some(encoded)) => Some(
                    B64.decode(encoded)
                        .map_err(|_| ClientError::Malformed("the public verification key is not base64".into()))?,
                ),
                (Some(_), None) => {
                    return Err(ClientError::Malformed(
                        "a signed message without its public verification key in the encryption context".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(ClientError::Malformed(
                        "an unsigned message with a public verification key in the encryption context".into(),
                    ));
                }
                (None, None) => None,
            };
            let materials = DecryptionMaterials {
                suite: request.suite,
                context: request.context.clone(),
                data_key: None,
                verification_key,
            };
            let materials = self.keyring.on_decrypt(materials, &request.data_keys).await?;
            match &materials.data_key {
                Some(key) if key.len() == request.suite.key_len() => Ok(materials),
                _ => Err(ClientError::NoDataKey("no keyring decrypted a data key".into())),
            }
        })
    }
}
