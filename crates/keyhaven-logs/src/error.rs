//! CloudWatch Logs' errors: each [`LogsFault`] is one AWS error code (the wire layer names it), plus the failures
//! every service shares.

/// The kinds of CloudWatch Logs failure; the API layer names each one's AWS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsFault {
    InvalidParameter,
    /// CloudWatch Logs' ValidationException (a group named both by name and by ARN).
    Validation,
    ResourceNotFound,
    ResourceAlreadyExists,
    LimitExceeded,
    OperationAborted,
    TooManyTags,
    /// KMS refused the group's key (CloudWatch Logs answers AccessDeniedException for it).
    KeyAccessDenied,
}

/// A CloudWatch Logs failure. The message is what the caller sees; it never contains event data.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LogsError {
    #[error("{1}")]
    Fault(LogsFault, String),
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(LogsError);

impl From<keyhaven_crypto::CryptoError> for LogsError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        LogsError::Internal(e.to_string())
    }
}

pub(crate) fn fault(kind: LogsFault, message: impl Into<String>) -> LogsError {
    LogsError::Fault(kind, message.into())
}

pub(crate) fn invalid(message: impl Into<String>) -> LogsError {
    fault(LogsFault::InvalidParameter, message)
}
