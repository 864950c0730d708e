//! The core layer's error type: domain failures, each mapped to an AWS error code at the API boundary.

use keyhaven_store::StoreError;

/// A domain failure. The message is what the caller sees; it never contains secrets or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
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
    NotAuthorized(String),
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidAuthenticationCode(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// A web identity token that is malformed, wrongly signed, or for an unknown issuer or
    /// audience. The message never quotes the token.
    #[error("{0}")]
    InvalidIdentityToken(String),
    /// A web identity token past its `exp`.
    #[error("{0}")]
    ExpiredToken(String),
    /// A web identity token whose claims are well formed but refused (not yet valid).
    #[error("{0}")]
    IdpRejectedClaim(String),
    /// A Parameter Store failure; the API layer names its AWS error code.
    #[error("{1}")]
    Ssm(crate::ssm::SsmFault, String),
    /// A Secrets Manager failure; the API layer names its AWS error code.
    #[error("{1}")]
    Secrets(crate::secrets::SecretsFault, String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full => CoreError::Unavailable,
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<keyhaven_crypto::CryptoError> for CoreError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        match e {
            keyhaven_crypto::CryptoError::InvalidCiphertext => CoreError::InvalidCiphertext,
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for CoreError {
    fn from(e: serde_json::Error) -> Self {
        CoreError::Internal(format!("stored record does not decode: {e}"))
    }
}
