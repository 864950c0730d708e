//! Secrets Manager's errors: each [`SecretsFault`] is one AWS error code (the wire layer names
//! it), plus the failures every service shares.

/// The kinds of Secrets Manager failure; the API layer names each one's AWS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsFault {
    Validation,
    InvalidParameter,
    InvalidRequest,
    ResourceNotFound,
    ResourceExists,
    LimitExceeded,
    MalformedPolicyDocument,
    PublicPolicy,
    EncryptionFailure,
    DecryptionFailure,
    InvalidNextToken,
}

/// A Secrets Manager failure. The message is what the caller sees; it never contains a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("{1}")]
    Fault(SecretsFault, String),
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(SecretsError);

impl From<keyhaven_crypto::CryptoError> for SecretsError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        SecretsError::Internal(e.to_string())
    }
}

pub(crate) fn fault(kind: SecretsFault, message: impl Into<String>) -> SecretsError {
    SecretsError::Fault(kind, message.into())
}

impl From<keyhaven_kernel::paging::InvalidToken> for SecretsError {
    fn from(_: keyhaven_kernel::paging::InvalidToken) -> Self {
        fault(SecretsFault::InvalidNextToken, "The NextToken value is invalid.")
    }
}
