//! Parameter Store's errors: each [`SsmFault`] is one AWS error code (the wire layer names it),
//! plus the failures every service shares.

/// The kinds of Parameter Store failure; the API layer names each one's AWS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsmFault {
    Validation,
    AccessDenied,
    ParameterNotFound,
    ParameterAlreadyExists,
    ParameterVersionNotFound,
    HierarchyLevelLimitExceeded,
    HierarchyTypeMismatch,
    ParameterMaxVersionLimitExceeded,
    ParameterVersionLabelLimitExceeded,
    ParameterLimitExceeded,
    ParameterPatternMismatch,
    InvalidAllowedPattern,
    InvalidKeyId,
    InvalidPolicyType,
    InvalidPolicyAttribute,
    IncompatiblePolicy,
    PoliciesLimitExceeded,
    InvalidFilterKey,
    InvalidFilterOption,
    InvalidFilterValue,
    InvalidResourceId,
    InvalidResourceType,
    InvalidNextToken,
    ServiceSettingNotFound,
    TooManyTags,
}

/// A Parameter Store failure. The message is what the caller sees; it never contains a value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SsmError {
    #[error("{1}")]
    Fault(SsmFault, String),
    /// Refused by the authoriser.
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(SsmError);

pub(crate) fn fault(kind: SsmFault, message: impl Into<String>) -> SsmError {
    SsmError::Fault(kind, message.into())
}

impl From<keyhaven_kernel::paging::InvalidToken> for SsmError {
    fn from(_: keyhaven_kernel::paging::InvalidToken) -> Self {
        fault(SsmFault::InvalidNextToken, "The specified token isn't valid.")
    }
}
