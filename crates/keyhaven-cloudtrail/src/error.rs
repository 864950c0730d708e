//! CloudTrail's errors: each [`CloudTrailFault`] is one AWS error code (the wire layer names it), plus the failures
//! every service shares.

/// The kinds of CloudTrail failure; the API layer names each one's AWS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudTrailFault {
    TrailNotFound,
    TrailAlreadyExists,
    InvalidTrailName,
    CloudTrailArnInvalid,
    MaximumNumberOfTrailsExceeded,
    InvalidHomeRegion,
    S3BucketDoesNotExist,
    InsufficientS3BucketPolicy,
    InvalidS3BucketName,
    InvalidS3Prefix,
    InsufficientSnsTopicPolicy,
    InsufficientEncryptionPolicy,
    InvalidKmsKeyId,
    KmsKeyNotFound,
    KmsKeyDisabled,
    Kms,
    InvalidCloudWatchLogsLogGroupArn,
    InvalidCloudWatchLogsRoleArn,
    InvalidParameterCombination,
    InvalidParameter,
    InvalidEventSelectors,
    InvalidInsightSelectors,
    InsightNotEnabled,
    InvalidLookupAttributes,
    InvalidTimeRange,
    InvalidNextToken,
    InvalidEventCategory,
    TagsLimitExceeded,
    InvalidTagParameter,
    ResourceNotFound,
}

/// A CloudTrail failure. The message is what the caller sees.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CloudTrailError {
    #[error("{1}")]
    Fault(CloudTrailFault, String),
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller.
    #[error("internal error")]
    Internal(String),
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(CloudTrailError);

impl From<keyhaven_crypto::CryptoError> for CloudTrailError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        CloudTrailError::Internal(e.to_string())
    }
}

pub(crate) fn fault(kind: CloudTrailFault, message: impl Into<String>) -> CloudTrailError {
    CloudTrailError::Fault(kind, message.into())
}
