//! The API layer's error: an AWS error code, message and HTTP status, and the mappings into it.
//!
//! This is the only place domain errors become AWS error codes.

use axum::http::StatusCode;
use keyhaven_cloudtrail::CloudTrailError;
use keyhaven_iam::IamError;
use keyhaven_kms::KmsError;
use keyhaven_logs::LogsError;
use keyhaven_s3::S3Error;
use keyhaven_secrets::SecretsError;
use keyhaven_ssm::SsmError;

use crate::sigv4::SigV4Error;

/// Codes any operation may answer beyond those its model declares: the common errors of AWS's API references
/// (for example <https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html>), in the spelling of each
/// protocol (awsQuery `AccessDenied`, awsJson `AccessDeniedException`), and the awsJson protocol's request-level
/// failures (signature, session token, unknown operation, malformed or oversized body).
pub const COMMON_ERRORS: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "InvalidSignatureException",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "MissingParameter",
    "NotAuthorized",
    "OptInRequired",
    "RequestEntityTooLargeException",
    "RequestExpired",
    "SerializationException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "SignatureDoesNotMatch",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "ValidationError",
    "ValidationException",
];

/// Codes AWS answers for an operation though its model does not declare them, as `(service, operation, code)`,
/// each with where it was seen.
const ANSWERED_BUT_UNDECLARED: &[(&str, &str, &str)] = &[
    // The reserved `alias/aws/` names, answered with an empty message: moto 5.2.1's
    // tests/test_kms/test_kms.py `test__create_alias__raises_if_reserved_alias`, recorded from AWS.
    ("kms", "CreateAlias", "NotAuthorizedException"),
    ("kms", "UpdateAlias", "NotAuthorizedException"),
    ("kms", "DeleteAlias", "NotAuthorizedException"),
];

/// Whether `code` is one the model of `service` does not declare for `operation`, nor a common error, nor one AWS
/// is known to answer anyway. Unknown services and operations are not judged (their requests never reached an
/// operation).
pub fn is_undeclared(service: &str, operation: &str, code: &str) -> bool {
    let declared = match service {
        "kms" => crate::generated::kms::DECLARED_ERRORS,
        "ssm" => crate::generated::ssm::DECLARED_ERRORS,
        "secretsmanager" => crate::generated::secretsmanager::DECLARED_ERRORS,
        "iam" => crate::generated::iam::DECLARED_ERRORS,
        "sts" => crate::generated::sts::DECLARED_ERRORS,
        "cloudtrail" => crate::generated::cloudtrail::DECLARED_ERRORS,
        "logs" => crate::generated::logs::DECLARED_ERRORS,
        _ => return false,
    };
    match declared.binary_search_by(|(name, _)| (*name).cmp(operation)) {
        Ok(i) => {
            !declared[i].1.contains(&code)
                && !COMMON_ERRORS.contains(&code)
                && !ANSWERED_BUT_UNDECLARED.contains(&(service, operation, code))
        }
        Err(_) => false,
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// awsQuery: the error belongs to AWS's generic fault namespace, not the service's.
    pub aws_fault: bool,
    /// An operation, or a feature of one, that keyhaven does not serve yet: AWS would answer the request, so the
    /// code is not judged against what the operation declares.
    pub unserved: bool,
    /// S3: the further elements of its `<Error>` document (`BucketName`, `Key`), after `Code` and `Message`.
    pub fields: Vec<(&'static str, String)>,
    /// S3: headers the error answer carries (`x-amz-delete-marker`, `x-amz-version-id`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            aws_fault: false,
            unserved: false,
            fields: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A request for what keyhaven does not serve yet, answered with the service's `code` for that.
    pub fn unserved(code: &'static str, what: &str) -> Self {
        Self {
            unserved: true,
            ..Self::bad_request(code, format!("{what} is not supported by this server yet."))
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    pub fn unknown_operation() -> Self {
        Self::bad_request("UnknownOperationException", "")
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::bad_request("SerializationException", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationException", message)
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            "Request entity too large",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "The service is unavailable. Try again later.",
        )
    }
}

impl From<crate::query::DecodeFailure> for ApiError {
    fn from(failure: crate::query::DecodeFailure) -> Self {
        Self {
            aws_fault: failure.aws_fault,
            ..Self::bad_request(failure.code, failure.message)
        }
    }
}

impl From<&SigV4Error> for ApiError {
    fn from(e: &SigV4Error) -> Self {
        ApiError::bad_request(e.aws_code(), e.to_string())
    }
}

/// The error an internal failure answers with: the service's own code and a fixed message; the
/// detail goes to the log only.
fn internal(detail: &str, code: &'static str, message: &str) -> ApiError {
    tracing::error!(%detail, "internal error");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
}

/// The error of a call one service made to another on a caller's behalf, as the called service
/// answers it (for that call's own CloudTrail record).
pub fn call_error(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ApiError {
    if let Some(kms) = e.downcast_ref::<KmsError>() {
        kms_error(kms.clone())
    } else if let Some(sts) = e.downcast_ref::<IamError>() {
        sts_error(sts.clone())
    } else {
        internal(&e.to_string(), "InternalFailure", "An internal error occurred.")
    }
}

/// KMS's error codes for its failures.
pub fn kms_error(e: KmsError) -> ApiError {
    let code = match &e {
        KmsError::NotFound(_) => "NotFoundException",
        KmsError::AlreadyExists(_) => "AlreadyExistsException",
        KmsError::Validation(_) => "ValidationException",
        KmsError::Disabled(_) => "DisabledException",
        KmsError::InvalidState(_) => "KMSInvalidStateException",
        KmsError::InvalidCiphertext => "InvalidCiphertextException",
        KmsError::IncorrectKey(_) => "IncorrectKeyException",
        KmsError::InvalidSignature => "KMSInvalidSignatureException",
        KmsError::InvalidMac => "KMSInvalidMacException",
        KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
        KmsError::Tag(_) => "TagException",
        KmsError::LimitExceeded(_) => "LimitExceededException",
        KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
        KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
        KmsError::InvalidMarker(_) => "InvalidMarkerException",
        KmsError::NotAuthorized(_) => "NotAuthorizedException",
        KmsError::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
        KmsError::InvalidGrantToken(_) => "InvalidGrantTokenException",
        KmsError::InvalidArn(_) => "InvalidArnException",
        KmsError::InvalidImportToken(_) => "InvalidImportTokenException",
        KmsError::ExpiredImportToken(_) => "ExpiredImportTokenException",
        KmsError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
        KmsError::Throttling(_) => "ThrottlingException",
        KmsError::CustomKeyStoreInvalidState(_) => "CustomKeyStoreInvalidStateException",
        KmsError::CloudHsmClusterNotFound(_) => "CloudHsmClusterNotFoundException",
        KmsError::CloudHsmClusterInUse(_) => "CloudHsmClusterInUseException",
        KmsError::CustomKeyStoreNameInUse(_) => "CustomKeyStoreNameInUseException",
        KmsError::CustomKeyStoreHasCmks(_) => "CustomKeyStoreHasCMKsException",
        KmsError::AccessDenied(_) => "AccessDeniedException",
        KmsError::DryRun => "DryRunOperationException",
        KmsError::Unavailable => return ApiError::unavailable(),
        KmsError::Internal(detail) => return internal(detail, "KMSInternalException", "An internal error occurred."),
    };
    ApiError::bad_request(code, e.to_string())
}

/// Parameter Store's error codes for its failures.
pub fn ssm_error(e: SsmError) -> ApiError {
    use keyhaven_ssm::SsmFault as F;
    let code = match &e {
        SsmError::Fault(fault, _) => match fault {
            F::Validation => "ValidationException",
            F::AccessDenied => "AccessDeniedException",
            F::ParameterNotFound => "ParameterNotFound",
            F::ParameterAlreadyExists => "ParameterAlreadyExists",
            F::ParameterVersionNotFound => "ParameterVersionNotFound",
            F::HierarchyLevelLimitExceeded => "HierarchyLevelLimitExceededException",
            F::HierarchyTypeMismatch => "HierarchyTypeMismatchException",
            F::ParameterMaxVersionLimitExceeded => "ParameterMaxVersionLimitExceeded",
            F::ParameterVersionLabelLimitExceeded => "ParameterVersionLabelLimitExceeded",
            F::ParameterLimitExceeded => "ParameterLimitExceeded",
            F::ParameterPatternMismatch => "ParameterPatternMismatchException",
            F::InvalidAllowedPattern => "InvalidAllowedPatternException",
            F::InvalidKeyId => "InvalidKeyId",
            F::InvalidPolicyType => "InvalidPolicyTypeException",
            F::InvalidPolicyAttribute => "InvalidPolicyAttributeException",
            F::IncompatiblePolicy => "IncompatiblePolicyException",
            F::PoliciesLimitExceeded => "PoliciesLimitExceededException",
            F::InvalidFilterKey => "InvalidFilterKey",
            F::InvalidFilterOption => "InvalidFilterOption",
            F::InvalidFilterValue => "InvalidFilterValue",
            F::InvalidResourceId => "InvalidResourceId",
            F::InvalidResourceType => "InvalidResourceType",
            F::InvalidNextToken => "InvalidNextToken",
            F::ServiceSettingNotFound => "ServiceSettingNotFound",
            F::TooManyTags => "TooManyTagsError",
        },
        SsmError::AccessDenied(_) => "AccessDeniedException",
        SsmError::Unavailable => return ApiError::unavailable(),
        SsmError::Internal(detail) => return internal(detail, "InternalServerError", "An internal error occurred."),
    };
    ApiError::bad_request(code, e.to_string())
}

/// Secrets Manager's error codes for its failures (all HTTP 400, as AWS answers).
pub fn secrets_error(e: SecretsError) -> ApiError {
    use keyhaven_secrets::SecretsFault as F;
    let code = match &e {
        SecretsError::Fault(fault, _) => match fault {
            F::Validation => "ValidationException",
            F::InvalidParameter => "InvalidParameterException",
            F::InvalidRequest => "InvalidRequestException",
            F::ResourceNotFound => "ResourceNotFoundException",
            F::ResourceExists => "ResourceExistsException",
            F::LimitExceeded => "LimitExceededException",
            F::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            F::PublicPolicy => "PublicPolicyException",
            F::EncryptionFailure => "EncryptionFailure",
            F::DecryptionFailure => "DecryptionFailure",
            F::InvalidNextToken => "InvalidNextTokenException",
        },
        SecretsError::AccessDenied(_) => "AccessDeniedException",
        SecretsError::Unavailable => return ApiError::unavailable(),
        SecretsError::Internal(detail) => {
            return internal(detail, "InternalServiceError", "An error occurred on the server side.");
        }
    };
    ApiError::bad_request(code, e.to_string())
}

pub fn cloudtrail_error(e: CloudTrailError) -> ApiError {
    use keyhaven_cloudtrail::CloudTrailFault as F;
    let code = match &e {
        CloudTrailError::Fault(fault, _) => match fault {
            F::TrailNotFound => "TrailNotFoundException",
            F::TrailAlreadyExists => "TrailAlreadyExistsException",
            F::InvalidTrailName => "InvalidTrailNameException",
            F::CloudTrailArnInvalid => "CloudTrailARNInvalidException",
            F::MaximumNumberOfTrailsExceeded => "MaximumNumberOfTrailsExceededException",
            F::InvalidHomeRegion => "InvalidHomeRegionException",
            F::S3BucketDoesNotExist => "S3BucketDoesNotExistException",
            F::InsufficientS3BucketPolicy => "InsufficientS3BucketPolicyException",
            F::InvalidS3BucketName => "InvalidS3BucketNameException",
            F::InvalidS3Prefix => "InvalidS3PrefixException",
            F::InsufficientSnsTopicPolicy => "InsufficientSnsTopicPolicyException",
            F::InsufficientEncryptionPolicy => "InsufficientEncryptionPolicyException",
            F::InvalidKmsKeyId => "InvalidKmsKeyIdException",
            F::KmsKeyNotFound => "KmsKeyNotFoundException",
            F::KmsKeyDisabled => "KmsKeyDisabledException",
            F::Kms => "KmsException",
            F::InvalidCloudWatchLogsLogGroupArn => "InvalidCloudWatchLogsLogGroupArnException",
            F::InvalidCloudWatchLogsRoleArn => "InvalidCloudWatchLogsRoleArnException",
            F::InvalidParameterCombination => "InvalidParameterCombinationException",
            F::InvalidParameter => "InvalidParameterException",
            F::InvalidEventSelectors => "InvalidEventSelectorsException",
            F::InvalidInsightSelectors => "InvalidInsightSelectorsException",
            F::InsightNotEnabled => "InsightNotEnabledException",
            F::InvalidLookupAttributes => "InvalidLookupAttributesException",
            F::InvalidTimeRange => "InvalidTimeRangeException",
            F::InvalidNextToken => "InvalidNextTokenException",
            F::InvalidEventCategory => "InvalidEventCategoryException",
            F::TagsLimitExceeded => "TagsLimitExceededException",
            F::InvalidTagParameter => "InvalidTagParameterException",
            F::ResourceNotFound => "ResourceNotFoundException",
        },
        CloudTrailError::AccessDenied(_) => "AccessDeniedException",
        CloudTrailError::Unavailable => return ApiError::unavailable(),
        CloudTrailError::Internal(detail) => {
            return internal(detail, "InternalFailure", "An internal error occurred.");
        }
    };
    ApiError::bad_request(code, e.to_string())
}

pub fn logs_error(e: LogsError) -> ApiError {
    use keyhaven_logs::LogsFault as F;
    let code = match &e {
        LogsError::Fault(fault, _) => match fault {
            F::InvalidParameter => "InvalidParameterException",
            F::Validation => "ValidationException",
            F::ResourceNotFound => "ResourceNotFoundException",
            F::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            F::LimitExceeded => "LimitExceededException",
            F::OperationAborted => "OperationAbortedException",
            F::TooManyTags => "TooManyTagsException",
            F::KeyAccessDenied => "AccessDeniedException",
        },
        LogsError::AccessDenied(_) => "AccessDeniedException",
        LogsError::Unavailable => return ApiError::unavailable(),
        LogsError::Internal(detail) => {
            return internal(
                detail,
                "ServiceUnavailableException",
                "The service cannot complete the request.",
            );
        }
    };
    ApiError::bad_request(code, e.to_string())
}

/// STS's error codes and statuses for the IAM family's failures.
pub fn sts_error(e: IamError) -> ApiError {
    let (status, code) = match &e {
        IamError::AccessDenied(_) | IamError::NotFound(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        IamError::MalformedPolicyDocument(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
        IamError::LimitExceeded(_) | IamError::PackedPolicyTooLarge(_) => {
            (StatusCode::BAD_REQUEST, "PackedPolicyTooLarge")
        }
        IamError::InvalidParameterValue(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
        IamError::Validation(_) | IamError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
        // The model's codes: InvalidIdentityTokenException(code=InvalidIdentityToken)/400,
        // ExpiredTokenException/400, IDPRejectedClaimException(code=IDPRejectedClaim)/403.
        IamError::InvalidIdentityToken(_) => (StatusCode::BAD_REQUEST, "InvalidIdentityToken"),
        IamError::ExpiredToken(_) => (StatusCode::BAD_REQUEST, "ExpiredTokenException"),
        IamError::IdpRejectedClaim(_) => (StatusCode::FORBIDDEN, "IDPRejectedClaim"),
        // An MFA code that does not verify: STS answers AccessDenied.
        IamError::InvalidAuthenticationCode(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        // IAM's own failures never come from an STS operation.
        IamError::AlreadyExists(_)
        | IamError::DeleteConflict(_)
        | IamError::PasswordPolicyViolation(_)
        | IamError::InvalidUserType(_)
        | IamError::UnmodifiableEntity(_)
        | IamError::MalformedCertificate(_)
        | IamError::KeyPairMismatch(_)
        | IamError::DuplicateCertificate(_)
        | IamError::DuplicateSshPublicKey(_)
        | IamError::UnrecognizedPublicKeyEncoding(_)
        | IamError::InvalidPublicKey(_)
        | IamError::ReportNotPresent(_)
        | IamError::ReportInProgress(_)
        | IamError::ServiceNotSupported(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
        IamError::Unavailable => return ApiError::unavailable(),
        IamError::Internal(detail) => return internal(detail, "InternalFailure", "An internal error occurred."),
    };
    ApiError::new(status, code, e.to_string())
}

/// IAM's error codes for the IAM family's failures; the statuses are the model's.
pub fn iam_error(e: IamError) -> ApiError {
    let code = match &e {
        IamError::NotFound(_) => "NoSuchEntity",
        IamError::AlreadyExists(_) => "EntityAlreadyExists",
        IamError::DeleteConflict(_) => "DeleteConflict",
        IamError::LimitExceeded(_) => "LimitExceeded",
        IamError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
        IamError::InvalidAuthenticationCode(_) => "InvalidAuthenticationCode",
        IamError::InvalidInput(_) | IamError::InvalidParameterValue(_) | IamError::PackedPolicyTooLarge(_) => {
            "InvalidInput"
        }
        IamError::PasswordPolicyViolation(_) => "PasswordPolicyViolation",
        IamError::InvalidUserType(_) => "InvalidUserType",
        IamError::UnmodifiableEntity(_) => "UnmodifiableEntity",
        IamError::MalformedCertificate(_) => "MalformedCertificate",
        IamError::KeyPairMismatch(_) => "KeyPairMismatch",
        IamError::DuplicateCertificate(_) => "DuplicateCertificate",
        IamError::DuplicateSshPublicKey(_) => "DuplicateSSHPublicKey",
        IamError::UnrecognizedPublicKeyEncoding(_) => "UnrecognizedPublicKeyEncoding",
        IamError::InvalidPublicKey(_) => "InvalidPublicKey",
        IamError::ReportNotPresent(_) => "ReportNotPresent",
        IamError::ReportInProgress(_) => "ReportInProgress",
        IamError::ServiceNotSupported(_) => "NotSupportedService",
        // Not modeled errors: the common errors' codes and statuses.
        IamError::AccessDenied(_) => return ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", e.to_string()),
        IamError::Validation(_) => return ApiError::new(StatusCode::BAD_REQUEST, "ValidationError", e.to_string()),
        // Web identity failures are STS's; IAM operations never produce them.
        IamError::InvalidIdentityToken(_) | IamError::ExpiredToken(_) | IamError::IdpRejectedClaim(_) => "InvalidInput",
        IamError::Unavailable => return ApiError::unavailable(),
        IamError::Internal(detail) => {
            return internal(
                detail,
                "ServiceFailure",
                "Request processing has failed due to some unknown error, exception or failure.",
            );
        }
    };
    let status = crate::generated::iam::error_status(code)
        .and_then(|(status, _)| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, code, e.to_string())
}

/// An aws-chunked body refused as it streamed, in S3's codes.
impl From<crate::aws_chunked::ChunkedError> for ApiError {
    fn from(e: crate::aws_chunked::ChunkedError) -> Self {
        use crate::aws_chunked::ChunkedError;
        match e {
            ChunkedError::Signature(e) => ApiError::from(&e),
            ChunkedError::Incomplete => ApiError::bad_request(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ),
            ChunkedError::Malformed => ApiError::bad_request("InvalidRequest", "The chunked body is malformed."),
        }
    }
}

/// S3's error codes and statuses for its failures (S3 API Reference, "List of error codes").
pub fn s3_error(e: S3Error) -> ApiError {
    use StatusCode as S;
    let (status, code) = match &e {
        S3Error::InvalidBucketName(_) => (S::BAD_REQUEST, "InvalidBucketName"),
        S3Error::InvalidArgument(_) | S3Error::InvalidArgumentValue { .. } => (S::BAD_REQUEST, "InvalidArgument"),
        S3Error::InvalidEncryptionAlgorithm(_) => (S::BAD_REQUEST, "InvalidEncryptionAlgorithmError"),
        S3Error::InvalidRequest(_) => (S::BAD_REQUEST, "InvalidRequest"),
        S3Error::AccessDenied(_) => (S::FORBIDDEN, "AccessDenied"),
        S3Error::NoSuchBucket { .. } => (S::NOT_FOUND, "NoSuchBucket"),
        S3Error::NoSuchKey { .. } => (S::NOT_FOUND, "NoSuchKey"),
        S3Error::BucketAlreadyOwnedByYou { .. } => (S::CONFLICT, "BucketAlreadyOwnedByYou"),
        S3Error::BucketAlreadyExists { .. } => (S::CONFLICT, "BucketAlreadyExists"),
        S3Error::BucketNotEmpty { .. } => (S::CONFLICT, "BucketNotEmpty"),
        S3Error::InvalidLocationConstraint => (S::BAD_REQUEST, "InvalidLocationConstraint"),
        S3Error::IllegalLocationConstraint(_) => (S::BAD_REQUEST, "IllegalLocationConstraintException"),
        S3Error::BadDigest => (S::BAD_REQUEST, "BadDigest"),
        S3Error::InvalidDigest => (S::BAD_REQUEST, "InvalidDigest"),
        S3Error::ChecksumMismatch(_) => (S::BAD_REQUEST, "BadDigest"),
        S3Error::NoSuchUpload { .. } => (S::NOT_FOUND, "NoSuchUpload"),
        S3Error::InvalidPart => (S::BAD_REQUEST, "InvalidPart"),
        S3Error::InvalidPartOrder => (S::BAD_REQUEST, "InvalidPartOrder"),
        S3Error::EntityTooSmall => (S::BAD_REQUEST, "EntityTooSmall"),
        S3Error::PreconditionFailed(_) => (S::PRECONDITION_FAILED, "PreconditionFailed"),
        S3Error::NotModified { .. } => (S::NOT_MODIFIED, "NotModified"),
        S3Error::InvalidRange { .. } => (S::RANGE_NOT_SATISFIABLE, "InvalidRange"),
        S3Error::MalformedXml => (S::BAD_REQUEST, "MalformedXML"),
        S3Error::NoSuchTagSet { .. } => (S::NOT_FOUND, "NoSuchTagSet"),
        S3Error::NoEncryptionConfiguration => (S::NOT_FOUND, "ServerSideEncryptionConfigurationNotFoundError"),
        S3Error::KeyTooLong => (S::BAD_REQUEST, "KeyTooLongError"),
        S3Error::InvalidStorageClass => (S::BAD_REQUEST, "InvalidStorageClass"),
        S3Error::MissingRequestBody => (S::BAD_REQUEST, "MissingRequestBodyError"),
        S3Error::IllegalVersioningConfiguration => (S::BAD_REQUEST, "IllegalVersioningConfigurationException"),
        S3Error::HeaderNotImplemented { .. } => (S::NOT_IMPLEMENTED, "NotImplemented"),
        S3Error::InvalidPolicyDocument(_) => (S::BAD_REQUEST, "InvalidPolicyDocument"),
        S3Error::NoSuchCorsConfiguration { .. } => (S::NOT_FOUND, "NoSuchCORSConfiguration"),
        S3Error::CorsForbidden(_) => (S::FORBIDDEN, "AccessForbidden"),
        S3Error::InvalidNamespaceHeader => (S::BAD_REQUEST, "InvalidNamespaceHeader"),
        S3Error::NoSuchLifecycleConfiguration { .. } => (S::NOT_FOUND, "NoSuchLifecycleConfiguration"),
        S3Error::ReplicationConfigurationNotFound { .. } => (S::NOT_FOUND, "ReplicationConfigurationNotFoundError"),
        S3Error::NoSuchWebsiteConfiguration { .. } => (S::NOT_FOUND, "NoSuchWebsiteConfiguration"),
        S3Error::NoSuchConfiguration => (S::NOT_FOUND, "NoSuchConfiguration"),
        S3Error::TooManyConfigurations => (S::BAD_REQUEST, "TooManyConfigurations"),
        S3Error::IdMismatch => (S::BAD_REQUEST, "IdMismatch"),
        S3Error::InvalidS3DestinationBucket(_) => (S::BAD_REQUEST, "InvalidS3DestinationBucket"),
        S3Error::InvalidTargetBucketForLogging(_) => (S::BAD_REQUEST, "InvalidTargetBucketForLogging"),
        // (S3's code is spelt so.)
        S3Error::CrossLocationLoggingProhibited => (S::FORBIDDEN, "CrossLocationLoggingProhibitted"),
        S3Error::InvalidBucketState(_) => (S::CONFLICT, "InvalidBucketState"),
        S3Error::ObjectLockConfigurationNotFound => (S::NOT_FOUND, "ObjectLockConfigurationNotFoundError"),
        S3Error::NoSuchObjectLockConfiguration => (S::NOT_FOUND, "NoSuchObjectLockConfiguration"),
        S3Error::LockNeedsDigest => (S::BAD_REQUEST, "InvalidRequest"),
        S3Error::InvalidObjectState { .. } => (S::FORBIDDEN, "InvalidObjectState"),
        S3Error::ObjectNotInActiveTier => (S::FORBIDDEN, "ObjectNotInActiveTierError"),
        S3Error::InvalidRedirectLocation => (S::BAD_REQUEST, "InvalidRedirectLocation"),
        S3Error::MissingContentLength => (S::LENGTH_REQUIRED, "MissingContentLength"),
        S3Error::EntityTooLarge => (S::BAD_REQUEST, "EntityTooLarge"),
        S3Error::Internal(detail) => {
            return internal(
                detail,
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
        S3Error::Unavailable => (S::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        S3Error::Kms { code, .. } => (S::BAD_REQUEST, *code),
        S3Error::MalformedPolicy(_) => (S::BAD_REQUEST, "MalformedPolicy"),
        S3Error::NoSuchVersion { .. } => (S::NOT_FOUND, "NoSuchVersion"),
        S3Error::InvalidTag(_) => (S::BAD_REQUEST, "InvalidTag"),
        S3Error::BadRequest(_) => (S::BAD_REQUEST, "BadRequest"),
        S3Error::InvalidPartNumber => (S::RANGE_NOT_SATISFIABLE, "InvalidPartNumber"),
        S3Error::AccessControlListNotSupported => (S::BAD_REQUEST, "AccessControlListNotSupported"),
        S3Error::NoSuchBucketPolicy { .. } => (S::NOT_FOUND, "NoSuchBucketPolicy"),
        S3Error::NoSuchPublicAccessBlockConfiguration => (S::NOT_FOUND, "NoSuchPublicAccessBlockConfiguration"),
        S3Error::OwnershipControlsNotFound { .. } => (S::NOT_FOUND, "OwnershipControlsNotFoundError"),
        S3Error::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        S3Error::DeleteMarker { named: false, .. } => (S::NOT_FOUND, "NoSuchKey"),
        S3Error::DeleteMarker { named: true, .. } => (S::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
    };
    let mut error = ApiError::new(status, code, e.to_string());
    match e {
        S3Error::NoSuchKey { key } => error.fields.push(("Key", key)),
        S3Error::NoSuchUpload { upload_id } => error.fields.push(("UploadId", upload_id)),
        S3Error::InvalidObjectState { storage_class } => error.fields.push(("StorageClass", storage_class)),
        S3Error::HeaderNotImplemented { header } => error.fields.push(("Header", header.to_string())),
        S3Error::InvalidArgumentValue { name, value, .. } => {
            error.fields.push(("ArgumentName", name.to_string()));
            error.fields.push(("ArgumentValue", value));
        }
        S3Error::PreconditionFailed(condition) => error.fields.push(("Condition", condition.to_string())),
        S3Error::NoSuchBucket { bucket }
        | S3Error::BucketAlreadyExists { bucket }
        | S3Error::BucketAlreadyOwnedByYou { bucket }
        | S3Error::BucketNotEmpty { bucket, .. }
        | S3Error::NoSuchBucketPolicy { bucket }
        | S3Error::NoSuchTagSet { bucket }
        | S3Error::NoSuchLifecycleConfiguration { bucket }
        | S3Error::NoSuchCorsConfiguration { bucket }
        | S3Error::ReplicationConfigurationNotFound { bucket }
        | S3Error::NoSuchWebsiteConfiguration { bucket }
        | S3Error::OwnershipControlsNotFound { bucket } => error.fields.push(("BucketName", bucket)),
        S3Error::NoSuchVersion { key, version_id } => {
            error.fields.push(("Key", key));
            error.fields.push(("VersionId", version_id));
        }
        S3Error::InvalidRange { size, requested } => {
            error.fields.push(("RangeRequested", requested));
            error.fields.push(("ActualObjectSize", size.to_string()));
        }
        // A 304 still names the version it stands for, as HTTP asks.
        S3Error::NotModified {
            etag, last_modified, ..
        } => {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(last_modified) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            error.headers.push(("etag", etag));
            let modified = crate::rest_xml::Timestamp(at).format(crate::rest_xml::TimeFormat::HttpDate);
            error.headers.push(("last-modified", modified));
        }
        S3Error::DeleteMarker { key, version_id, named } => {
            if !named {
                error.fields.push(("Key", key));
            }
            error.headers.push(("x-amz-delete-marker", "true".into()));
            error.headers.push(("x-amz-version-id", version_id));
        }
        _ => {}
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_error_mapping_table() {
        let cases = [
            (KmsError::NotFound("m".into()), "NotFoundException", 400, "m"),
            (KmsError::InvalidCiphertext, "InvalidCiphertextException", 400, ""),
            (KmsError::InvalidSignature, "KMSInvalidSignatureException", 400, ""),
            (KmsError::InvalidMac, "KMSInvalidMacException", 400, ""),
            (KmsError::Disabled("d".into()), "DisabledException", 400, "d"),
            (KmsError::InvalidState("s".into()), "KMSInvalidStateException", 400, "s"),
            (KmsError::IncorrectKey("k".into()), "IncorrectKeyException", 400, "k"),
            (
                KmsError::DryRun,
                "DryRunOperationException",
                400,
                "The request would have succeeded, but the DryRun option is set.",
            ),
            (KmsError::Tag("t".into()), "TagException", 400, "t"),
            (
                KmsError::Internal("secret detail".into()),
                "KMSInternalException",
                500,
                "An internal error occurred.",
            ),
        ];
        for (error, code, status, message) in cases {
            let api = kms_error(error);
            assert_eq!(
                (api.code, api.status.as_u16(), api.message.as_str()),
                (code, status, message)
            );
        }
    }

    /// A nested call's record names the called service's exact code, whatever the caller made of it.
    #[test]
    fn call_errors_are_named_by_the_called_service() {
        let kms: std::sync::Arc<dyn std::error::Error + Send + Sync> =
            std::sync::Arc::new(KmsError::InvalidKeyUsage("wrong usage".into()));
        let sts: std::sync::Arc<dyn std::error::Error + Send + Sync> =
            std::sync::Arc::new(IamError::AccessDenied("no".into()));
        let other: std::sync::Arc<dyn std::error::Error + Send + Sync> =
            std::sync::Arc::new(std::io::Error::other("secret detail"));
        let named: Vec<(&str, u16, String)> = [kms, sts, other]
            .iter()
            .map(|e| call_error(&**e))
            .map(|a| (a.code, a.status.as_u16(), a.message))
            .collect();
        assert_eq!(
            named,
            vec![
                ("InvalidKeyUsageException", 400, "wrong usage".to_string()),
                ("AccessDenied", 403, "no".to_string()),
                ("InternalFailure", 500, "An internal error occurred.".to_string()),
            ]
        );
    }

    #[test]
    fn sts_error_maps_web_identity_failures() {
        let cases = [
            (IamError::InvalidIdentityToken("i".into()), "InvalidIdentityToken", 400),
            (IamError::ExpiredToken("e".into()), "ExpiredTokenException", 400),
            (IamError::IdpRejectedClaim("r".into()), "IDPRejectedClaim", 403),
        ];
        for (error, code, status) in cases {
            let message = error.to_string();
            let api = sts_error(error);
            assert_eq!((api.code, api.status.as_u16(), api.message), (code, status, message));
        }
    }

    /// The error codes a botocore model declares: its exception shapes' names, or their `code`.
    fn declared_codes(service: &str) -> std::collections::BTreeSet<String> {
        let root = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        );
        let dir = root.join("../../models").join(service);
        let version = std::fs::read_dir(&dir)
            .expect("model dir")
            .next()
            .expect("a version")
            .expect("entry");
        let text = std::fs::read_to_string(version.path().join("service-2.json")).expect("model");
        let model: serde_json::Value = serde_json::from_str(&text).expect("json");
        model["shapes"]
            .as_object()
            .expect("shapes")
            .iter()
            .filter(|(_, shape)| shape["exception"] == true)
            .map(|(name, shape)| shape["error"]["code"].as_str().unwrap_or(name).to_string())
            .collect()
    }

    #[test]
    fn undeclared_answers_table() {
        let cases = [
            ("kms", "Encrypt", "NotFoundException", false),
            ("kms", "Encrypt", "AlreadyExistsException", true),
            ("kms", "Encrypt", "AccessDeniedException", false),
            ("kms", "CreateAlias", "NotAuthorizedException", false),
            ("kms", "Encrypt", "NotAuthorizedException", true),
            ("iam", "GetUser", "NoSuchEntity", false),
            ("iam", "GetUser", "EntityAlreadyExists", true),
            ("iam", "GetUser", "AccessDenied", false),
            ("sts", "AssumeRole", "MalformedPolicyDocument", false),
            ("sts", "GetCallerIdentity", "MalformedPolicyDocument", true),
            ("ssm", "GetParameter", "ParameterNotFound", false),
            ("ssm", "GetParameter", "ParameterAlreadyExists", true),
            ("secretsmanager", "GetSecretValue", "DecryptionFailure", false),
            (
                "secretsmanager",
                "GetSecretValue",
                "MalformedPolicyDocumentException",
                true,
            ),
            // Requests that never reached an operation are not judged.
            ("kms", "NoSuchOperation", "UnknownOperationException", false),
            ("unknown", "", "UnknownOperationException", false),
        ];
        for (service, operation, code, undeclared) in cases {
            assert_eq!(
                is_undeclared(service, operation, code),
                undeclared,
                "{service} {operation} {code}"
            );
        }
    }

    fn assert_declared(service: &str, answers: Vec<ApiError>) {
        let declared = declared_codes(service);
        for answer in answers {
            assert!(
                declared.contains(answer.code)
                    || COMMON_ERRORS.contains(&answer.code)
                    || ANSWERED_BUT_UNDECLARED
                        .iter()
                        .any(|(s, _, code)| *s == service && *code == answer.code),
                "{service} answers {}, which its model does not declare",
                answer.code
            );
        }
    }

    /// One of every variant of each service's error (the mappings' exhaustive matches make a new
    /// variant be mapped; it belongs in these lists too).
    #[test]
    fn every_service_error_maps_to_a_code_its_model_declares() {
        let m = || "m".to_string();
        let kms = vec![
            KmsError::NotFound(m()),
            KmsError::AlreadyExists(m()),
            KmsError::Validation(m()),
            KmsError::Disabled(m()),
            KmsError::InvalidState(m()),
            KmsError::InvalidCiphertext,
            KmsError::IncorrectKey(m()),
            KmsError::InvalidSignature,
            KmsError::InvalidMac,
            KmsError::InvalidKeyUsage(m()),
            KmsError::Tag(m()),
            KmsError::LimitExceeded(m()),
            KmsError::UnsupportedOperation(m()),
            KmsError::MalformedPolicyDocument(m()),
            KmsError::InvalidMarker(m()),
            KmsError::CustomKeyStoreNotFound(m()),
            KmsError::InvalidGrantToken(m()),
            KmsError::InvalidArn(m()),
            KmsError::InvalidImportToken(m()),
            KmsError::ExpiredImportToken(m()),
            KmsError::IncorrectKeyMaterial(m()),
            KmsError::Throttling(m()),
            KmsError::CustomKeyStoreInvalidState(m()),
            KmsError::CloudHsmClusterNotFound(m()),
            KmsError::CloudHsmClusterInUse(m()),
            KmsError::CustomKeyStoreNameInUse(m()),
            KmsError::CustomKeyStoreHasCmks(m()),
            KmsError::NotAuthorized(m()),
            KmsError::AccessDenied(m()),
            KmsError::DryRun,
            KmsError::Internal(m()),
            KmsError::Unavailable,
        ];
        assert_declared("kms", kms.into_iter().map(kms_error).collect());

        let iam = || {
            vec![
                IamError::NotFound(m()),
                IamError::AlreadyExists(m()),
                IamError::Validation(m()),
                IamError::LimitExceeded(m()),
                IamError::DeleteConflict(m()),
                IamError::InvalidInput(m()),
                IamError::MalformedPolicyDocument(m()),
                IamError::AccessDenied(m()),
                IamError::InvalidAuthenticationCode(m()),
                IamError::InvalidIdentityToken(m()),
                IamError::ExpiredToken(m()),
                IamError::IdpRejectedClaim(m()),
                IamError::Internal(m()),
                IamError::Unavailable,
            ]
        };
        assert_declared("iam", iam().into_iter().map(iam_error).collect());
        assert_declared("sts", iam().into_iter().map(sts_error).collect());

        use keyhaven_ssm::SsmFault as S;
        let ssm_faults = [
            S::Validation,
            S::AccessDenied,
            S::ParameterNotFound,
            S::ParameterAlreadyExists,
            S::ParameterVersionNotFound,
            S::HierarchyLevelLimitExceeded,
            S::HierarchyTypeMismatch,
            S::ParameterMaxVersionLimitExceeded,
            S::ParameterVersionLabelLimitExceeded,
            S::ParameterLimitExceeded,
            S::ParameterPatternMismatch,
            S::InvalidAllowedPattern,
            S::InvalidKeyId,
            S::InvalidPolicyType,
            S::InvalidPolicyAttribute,
            S::IncompatiblePolicy,
            S::PoliciesLimitExceeded,
            S::InvalidFilterKey,
            S::InvalidFilterOption,
            S::InvalidFilterValue,
            S::InvalidResourceId,
            S::InvalidResourceType,
            S::InvalidNextToken,
            S::ServiceSettingNotFound,
            S::TooManyTags,
        ];
        let mut ssm: Vec<SsmError> = ssm_faults.iter().map(|f| SsmError::Fault(*f, m())).collect();
        ssm.extend([
            SsmError::AccessDenied(m()),
            SsmError::Internal(m()),
            SsmError::Unavailable,
        ]);
        assert_declared("ssm", ssm.into_iter().map(ssm_error).collect());

        use keyhaven_secrets::SecretsFault as F;
        let secrets_faults = [
            F::Validation,
            F::InvalidParameter,
            F::InvalidRequest,
            F::ResourceNotFound,
            F::ResourceExists,
            F::LimitExceeded,
            F::MalformedPolicyDocument,
            F::PublicPolicy,
            F::EncryptionFailure,
            F::DecryptionFailure,
            F::InvalidNextToken,
        ];
        let mut secrets: Vec<SecretsError> = secrets_faults.iter().map(|f| SecretsError::Fault(*f, m())).collect();
        secrets.extend([
            SecretsError::AccessDenied(m()),
            SecretsError::Internal(m()),
            SecretsError::Unavailable,
        ]);
        assert_declared("secretsmanager", secrets.into_iter().map(secrets_error).collect());
        use keyhaven_cloudtrail::CloudTrailFault as T;
        let trail_faults = [
            T::TrailNotFound,
            T::TrailAlreadyExists,
            T::InvalidTrailName,
            T::CloudTrailArnInvalid,
            T::MaximumNumberOfTrailsExceeded,
            T::InvalidHomeRegion,
            T::S3BucketDoesNotExist,
            T::InsufficientS3BucketPolicy,
            T::InvalidS3BucketName,
            T::InvalidS3Prefix,
            T::InsufficientSnsTopicPolicy,
            T::InsufficientEncryptionPolicy,
            T::InvalidKmsKeyId,
            T::KmsKeyNotFound,
            T::KmsKeyDisabled,
            T::Kms,
            T::InvalidCloudWatchLogsLogGroupArn,
            T::InvalidCloudWatchLogsRoleArn,
            T::InvalidParameterCombination,
            T::InvalidParameter,
            T::InvalidEventSelectors,
            T::InvalidInsightSelectors,
            T::InsightNotEnabled,
            T::InvalidLookupAttributes,
            T::InvalidTimeRange,
            T::InvalidNextToken,
            T::InvalidEventCategory,
            T::TagsLimitExceeded,
            T::InvalidTagParameter,
            T::ResourceNotFound,
        ];
        let mut trails: Vec<CloudTrailError> = trail_faults.iter().map(|f| CloudTrailError::Fault(*f, m())).collect();
        trails.extend([
            CloudTrailError::AccessDenied(m()),
            CloudTrailError::Internal(m()),
            CloudTrailError::Unavailable,
        ]);
        assert_declared("cloudtrail", trails.into_iter().map(cloudtrail_error).collect());
        use keyhaven_logs::LogsFault as L;
        let logs_faults = [
            L::InvalidParameter,
            L::Validation,
            L::ResourceNotFound,
            L::ResourceAlreadyExists,
            L::LimitExceeded,
            L::OperationAborted,
            L::TooManyTags,
            L::KeyAccessDenied,
        ];
        let mut logs: Vec<LogsError> = logs_faults.iter().map(|f| LogsError::Fault(*f, m())).collect();
        logs.extend([
            LogsError::AccessDenied(m()),
            LogsError::Internal(m()),
            LogsError::Unavailable,
        ]);
        assert_declared("logs", logs.into_iter().map(logs_error).collect());
    }
}
