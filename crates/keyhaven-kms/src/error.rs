//! KMS's errors: one variant per AWS error KMS answers with (the wire layer names the codes).

/// A KMS failure. The message is what the caller sees; it never contains key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    /// AWS answers ciphertext failures with an empty message: it reveals nothing about why.
    #[error("")]
    InvalidCiphertext,
    #[error("{0}")]
    IncorrectKey(String),
    /// Verify's answer to a signature that is not valid: AWS says nothing more.
    #[error("")]
    InvalidSignature,
    /// VerifyMac's answer to a MAC that is not valid.
    #[error("")]
    InvalidMac,
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidImportToken(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    CustomKeyStoreInvalidState(String),
    #[error("{0}")]
    CloudHsmClusterNotFound(String),
    #[error("{0}")]
    CloudHsmClusterInUse(String),
    #[error("{0}")]
    CustomKeyStoreNameInUse(String),
    #[error("{0}")]
    CustomKeyStoreHasCmks(String),
    /// A request quota is exhausted for now.
    #[error("{0}")]
    Throttling(String),
    /// The `alias/aws/` names are AWS's: KMS answers NotAuthorizedException, a code its model
    /// does not declare.
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(KmsError);

impl From<keyhaven_crypto::CryptoError> for KmsError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        match e {
            keyhaven_crypto::CryptoError::InvalidCiphertext => KmsError::InvalidCiphertext,
            // AWS answers a peer key it cannot use with an empty message.
            keyhaven_crypto::CryptoError::InvalidPublicKey => KmsError::Validation(String::new()),
            other => KmsError::Internal(other.to_string()),
        }
    }
}

impl From<keyhaven_kernel::paging::InvalidToken> for KmsError {
    fn from(_: keyhaven_kernel::paging::InvalidToken) -> Self {
        KmsError::InvalidMarker("Invalid marker".into())
    }
}

impl From<KmsError> for keyhaven_kernel::on_behalf::KmsFailure {
    /// How another service sees a KMS failure of a call made on its caller's behalf.
    fn from(e: KmsError) -> Self {
        use keyhaven_kernel::on_behalf::KmsFailure as F;
        match e {
            KmsError::NotFound(message) | KmsError::Validation(message) => F::NotFound(message),
            KmsError::Disabled(message) => F::Disabled(message),
            KmsError::InvalidState(message)
            | KmsError::InvalidKeyUsage(message)
            | KmsError::IncorrectKey(message)
            | KmsError::UnsupportedOperation(message) => F::Unusable(message),
            KmsError::InvalidCiphertext => F::InvalidCiphertext,
            KmsError::AccessDenied(message) => F::AccessDenied(message),
            // Retrying later may succeed, as after the service is unavailable.
            KmsError::Unavailable | KmsError::Throttling(_) => F::Unavailable,
            KmsError::Internal(detail) => F::Internal(detail),
            // Not answers to Encrypt, Decrypt or GenerateDataKey: reaching here is a bug.
            KmsError::AlreadyExists(message)
            | KmsError::Tag(message)
            | KmsError::LimitExceeded(message)
            | KmsError::MalformedPolicyDocument(message)
            | KmsError::InvalidMarker(message)
            | KmsError::CustomKeyStoreNotFound(message)
            | KmsError::InvalidGrantToken(message)
            | KmsError::InvalidArn(message)
            | KmsError::InvalidImportToken(message)
            | KmsError::ExpiredImportToken(message)
            | KmsError::IncorrectKeyMaterial(message)
            | KmsError::CustomKeyStoreInvalidState(message)
            | KmsError::CloudHsmClusterNotFound(message)
            | KmsError::CloudHsmClusterInUse(message)
            | KmsError::CustomKeyStoreNameInUse(message)
            | KmsError::CustomKeyStoreHasCmks(message)
            | KmsError::NotAuthorized(message) => F::Internal(format!("unexpected KMS failure: {message}")),
            KmsError::DryRun => F::Internal("unexpected KMS dry run".into()),
            KmsError::InvalidSignature | KmsError::InvalidMac => F::Internal("unexpected KMS verification".into()),
        }
    }
}
