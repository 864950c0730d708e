//! The narrow interface through which one service calls another on its caller's behalf: KMS for
//! Parameter Store and Secrets Manager (and S3 and CloudWatch Logs next), Secrets Manager for
//! Parameter Store's `/aws/reference/secretsmanager/` names. Calls are made through the service
//! (`kms:ViaService`), each noted by the called service for its own CloudTrail record; a service
//! never sees another's internals, only these traits.
//!
//! Envelope, the form both Parameter Store (Advanced tier) and Secrets Manager keep values in:
//! `0x02 | u16 length | wrapped data key | sealed value`, the value sealed with AES-256-GCM under a
//! `GenerateDataKey` data key, with caller-chosen associated data (the resource it belongs to).

use keyhaven_crypto::{EncryptionContext, RootKey, SecretBytes};
use zeroize::Zeroizing;

use crate::context::RequestContext;

const ENVELOPE_V1: u8 = 0x02;

/// Result of a successful decryption.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: SecretBytes,
    pub key_arn: String,
    pub material_id: String,
}

/// Result of a successful encryption or data-key generation.
#[derive(Debug)]
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub key_arn: String,
    pub material_id: String,
}

/// How a KMS call made on a caller's behalf failed, in the terms the calling services react to
/// (each words it in its own AWS errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsFailure {
    /// No such key or alias, or a malformed key reference.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    /// Pending deletion or import, or a key of the wrong usage or spec.
    #[error("{0}")]
    Unusable(String),
    #[error("")]
    InvalidCiphertext,
    #[error("{0}")]
    AccessDenied(String),
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

/// What KMS offers other services. Every call is authorised as the context's caller, seen
/// through the calling service, and noted in the context's `ServiceCalls` with KMS's own
/// parameters and error, for its own CloudTrail record.
pub trait KeyService: Send + Sync {
    fn encrypt(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Encrypted, KmsFailure>;

    fn decrypt(
        &self,
        ctx: &RequestContext,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Decrypted, KmsFailure>;

    /// A fresh AES-256 data key, in plaintext and wrapped under `key`.
    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
    ) -> Result<(SecretBytes, Encrypted), KmsFailure>;

    /// Makes sure the AWS managed key `alias/aws/<service>` of the caller's account and Region
    /// exists, creating it on first use.
    fn ensure_aws_managed_key(&self, ctx: &RequestContext, service: &str) -> Result<(), KmsFailure>;
}

/// One service's view of KMS for one request.
pub struct OnBehalf<'a> {
    pub kms: &'a dyn KeyService,
    pub ctx: &'a RequestContext,
    /// The service principal, such as `secretsmanager.amazonaws.com`.
    pub service: &'static str,
}

impl OnBehalf<'_> {
    pub fn encrypt(&self, key: &str, context: &EncryptionContext, plaintext: &[u8]) -> Result<Encrypted, KmsFailure> {
        self.kms
            .encrypt(&self.ctx.through(self.service), key, context, plaintext)
    }

    pub fn decrypt(&self, ciphertext: &[u8], context: &EncryptionContext) -> Result<Decrypted, KmsFailure> {
        self.kms.decrypt(&self.ctx.through(self.service), ciphertext, context)
    }

    /// Makes sure the calling service's AWS managed key exists (`alias/aws/<service>`).
    pub fn ensure_aws_managed_key(&self, service: &str) -> Result<(), KmsFailure> {
        self.kms.ensure_aws_managed_key(self.ctx, service)
    }

    /// Seals `plaintext` in an envelope under a fresh data key of `key`.
    pub fn seal(
        &self,
        key: &str,
        context: &EncryptionContext,
        associated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsFailure> {
        let (data_key, wrapped) = self
            .kms
            .generate_data_key(&self.ctx.through(self.service), key, context)?;
        let internal = |e: keyhaven_crypto::CryptoError| KmsFailure::Internal(e.to_string());
        let sealed = RootKey::from_bytes(data_key.expose())
            .map_err(internal)?
            .seal(associated_data, plaintext)
            .map_err(internal)?;
        let length =
            u16::try_from(wrapped.ciphertext.len()).map_err(|_| KmsFailure::Internal("wrapped key too long".into()))?;
        let mut envelope = vec![ENVELOPE_V1];
        envelope.extend_from_slice(&length.to_be_bytes());
        envelope.extend_from_slice(&wrapped.ciphertext);
        envelope.extend_from_slice(&sealed);
        Ok(envelope)
    }

    /// Opens what [`OnBehalf::seal`] made, or a bare KMS ciphertext (which `seal` never makes, but
    /// Parameter Store's Standard tier stores).
    pub fn open(
        &self,
        stored: &[u8],
        context: &EncryptionContext,
        associated_data: &[u8],
    ) -> Result<SecretBytes, KmsFailure> {
        let (wrapped, sealed) = match stored.split_first() {
            Some((&ENVELOPE_V1, rest)) if rest.len() >= 2 => {
                let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let body = &rest[2..];
                if body.len() < length {
                    return Err(KmsFailure::Internal("truncated envelope".into()));
                }
                (&body[..length], Some(&body[length..]))
            }
            _ => (stored, None),
        };
        let decrypted = self.decrypt(wrapped, context)?;
        match sealed {
            None => Ok(decrypted.plaintext),
            Some(sealed) => RootKey::from_bytes(decrypted.plaintext.expose())
                .and_then(|key| key.open(associated_data, sealed))
                .map_err(|e| match e {
                    keyhaven_crypto::CryptoError::InvalidCiphertext => KmsFailure::InvalidCiphertext,
                    other => KmsFailure::Internal(other.to_string()),
                }),
        }
    }
}

/// A secret value: SecretString or SecretBinary.
#[derive(PartialEq, Eq)]
pub enum SecretValue {
    String(Zeroizing<String>),
    Binary(SecretBytes),
}

/// The kind and length only.
impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretValue::String(value) => write!(f, "String({} bytes)", value.len()),
            SecretValue::Binary(value) => write!(f, "Binary({} bytes)", value.len()),
        }
    }
}

impl SecretValue {
    pub fn bytes(&self) -> &[u8] {
        match self {
            SecretValue::String(s) => s.as_bytes(),
            SecretValue::Binary(b) => b.expose(),
        }
    }

    pub fn is_binary(&self) -> bool {
        matches!(self, SecretValue::Binary(_))
    }

    /// Same kind and bytes, compared in constant time.
    pub fn same_as(&self, other: &SecretValue) -> bool {
        self.is_binary() == other.is_binary() && keyhaven_crypto::digest::constant_time_eq(self.bytes(), other.bytes())
    }
}

/// One version of a secret with its value, as GetSecretValue answers.
#[derive(Debug)]
pub struct ValueView {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub value: SecretValue,
    pub stages: Vec<String>,
    pub created: f64,
}

/// How reading a secret on a caller's behalf failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretReadFailure {
    #[error("{0}")]
    NotFound(String),
    /// The secret exists but cannot be read this way (deleted, no such version); the message says why.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

/// What Secrets Manager offers other services: GetSecretValue, authorised as the caller.
pub trait SecretService: Send + Sync {
    /// The value of `secret_id` at `selector`, a version id or a staging label (AWSCURRENT when none).
    fn reference_value(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        selector: Option<&str>,
    ) -> Result<ValueView, SecretReadFailure>;
}

/// How a service's write to S3 failed, in the words of S3's error codes (which a trail's status shows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectFailure {
    #[error("NoSuchBucket")]
    NoSuchBucket,
    #[error("AccessDenied")]
    AccessDenied,
    /// KMS refused the object's key: S3's code for it (`KMS.DisabledException`, ...).
    #[error("{0}")]
    Kms(String),
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

/// An object a service writes on its own (CloudTrail's log and digest files).
#[derive(Debug, Clone, Copy)]
pub struct ServiceObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub body: &'a [u8],
    pub content_type: &'a str,
    /// `x-amz-meta-*` entries, by the name after the prefix.
    pub metadata: &'a [(&'a str, &'a str)],
    /// SSE-KMS under this key with this encryption context added to S3's own; none: the bucket's default encryption.
    pub kms: Option<(&'a str, &'a [(&'a str, &'a str)])>,
}

/// What S3 offers services that write into their callers' buckets. The context's caller is the writing service's
/// principal (`Principal::service`), which only the bucket policy can allow; `keys` are the condition keys its
/// requests carry (`s3:x-amz-acl`, `aws:SourceArn`, `aws:SourceAccount`).
pub trait ObjectService: Send + Sync {
    /// Whether the service may read the bucket's ACL and write `key` there: what it checks before it agrees to
    /// deliver to the bucket. Nothing is written.
    fn check_service_access(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ObjectFailure>;

    /// Writes the object, authorised as a PutObject of the service.
    fn put_service_object(
        &self,
        ctx: &RequestContext,
        object: &ServiceObject<'_>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ObjectFailure>;
}

/// How a role could not be used, or a log group not written, by a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    /// No such role or log group.
    #[error("{0}")]
    NotFound(String),
    /// The role does not trust the service, or its policies do not allow the writes.
    #[error("{0}")]
    AccessDenied(String),
    /// The log group refused the events (its key, its rules).
    #[error("{0}")]
    Refused(String),
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

/// What IAM offers services that act through a role the customer gave them (CloudTrail writing to CloudWatch Logs):
/// a session of the role for the context's caller, a service principal, as STS's AssumeRole issues it (the role's
/// trust policy must allow the service; `keys` are the request's condition keys, such as `aws:SourceArn`).
pub trait RoleService: Send + Sync {
    fn service_session(
        &self,
        ctx: &RequestContext,
        role_arn: &str,
        session_name: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<crate::context::Principal, DeliveryFailure>;
}

/// What CloudWatch Logs offers services that deliver into a log group (CloudTrail): authorised as the context's
/// caller, usually a role session a [`RoleService`] issued.
pub trait LogService: Send + Sync {
    /// Whether the caller may create streams in and put events into the group (`arn`, with or without `:*`), which
    /// must exist in the caller's account and the context's Region. Nothing is written.
    fn check_delivery(&self, ctx: &RequestContext, group_arn: &str, stream: &str) -> Result<(), DeliveryFailure>;

    /// Puts the events (milliseconds, message), in any order, into `stream` of the group, creating the stream when
    /// it is missing.
    fn deliver(
        &self,
        ctx: &RequestContext,
        group_arn: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), DeliveryFailure>;
}
