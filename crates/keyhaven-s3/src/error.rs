//! S3's errors; the wire layer will name each one's AWS error code.

/// An S3 failure. The message is what the caller sees; it never contains object data or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum S3Error {
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidEncryptionAlgorithm(String),
    /// Refused by the authoriser.
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller (a stored body that fails to open is one).
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(S3Error);

impl From<keyhaven_crypto::CryptoError> for S3Error {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        S3Error::Internal(format!("object body: {e}"))
    }
}
