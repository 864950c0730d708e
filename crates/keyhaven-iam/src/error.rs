//! The IAM family's errors (IAM, STS, web identity, the simulator): one variant per AWS error;
//! the wire layer names the codes, IAM's and STS's each.

/// An IAM or STS failure. The message is what the caller sees; it never contains a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IamError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidAuthenticationCode(String),
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
    /// A password the account password policy (or, without one, AWS's default rules) refuses.
    #[error("{0}")]
    PasswordPolicyViolation(String),
    /// An operation only IAM users may call (ChangePassword), called by another kind of principal.
    #[error("{0}")]
    InvalidUserType(String),
    /// A service-linked role changed other than through its service.
    #[error("{0}")]
    UnmodifiableEntity(String),
    #[error("{0}")]
    MalformedCertificate(String),
    #[error("{0}")]
    KeyPairMismatch(String),
    #[error("{0}")]
    DuplicateCertificate(String),
    #[error("{0}")]
    DuplicateSshPublicKey(String),
    #[error("{0}")]
    UnrecognizedPublicKeyEncoding(String),
    #[error("{0}")]
    InvalidPublicKey(String),
    #[error("{0}")]
    ReportNotPresent(String),
    #[error("{0}")]
    ReportInProgress(String),
    /// STS's refusal of a request's values that are well-formed but inconsistent (session tags).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Session policies and tags that do not fit the packed space.
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    /// A service name IAM has no service-specific credentials for.
    #[error("{0}")]
    ServiceNotSupported(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(IamError);

impl From<keyhaven_crypto::CryptoError> for IamError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        IamError::Internal(e.to_string())
    }
}

impl From<keyhaven_kernel::paging::InvalidToken> for IamError {
    fn from(_: keyhaven_kernel::paging::InvalidToken) -> Self {
        IamError::InvalidInput("Invalid Marker.".into())
    }
}
