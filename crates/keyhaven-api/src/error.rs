//! The API layer's error: an AWS error code, message and HTTP status, and the mappings into it.
//!
//! This is the only place domain errors become AWS error codes.

use axum::http::StatusCode;
use keyhaven_core::CoreError;

use crate::sigv4::SigV4Error;

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// awsQuery: the error belongs to AWS's generic fault namespace, not the service's.
    pub aws_fault: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            aws_fault: false,
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
            status: StatusCode::BAD_REQUEST,
            code: failure.code,
            message: failure.message,
            aws_fault: failure.aws_fault,
        }
    }
}

impl From<&SigV4Error> for ApiError {
    fn from(e: &SigV4Error) -> Self {
        ApiError::bad_request(e.aws_code(), e.to_string())
    }
}

/// KMS's error codes for domain failures.
pub fn kms_error(e: CoreError) -> ApiError {
    let code = match &e {
        CoreError::NotFound(_) => "NotFoundException",
        CoreError::AlreadyExists(_) => "AlreadyExistsException",
        CoreError::Validation(_) => "ValidationException",
        CoreError::Disabled(_) => "DisabledException",
        CoreError::InvalidState(_) => "KMSInvalidStateException",
        CoreError::InvalidCiphertext => "InvalidCiphertextException",
        CoreError::IncorrectKey(_) => "IncorrectKeyException",
        CoreError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
        CoreError::Tag(_) => "TagException",
        CoreError::LimitExceeded(_) => "LimitExceededException",
        CoreError::UnsupportedOperation(_) => "UnsupportedOperationException",
        CoreError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
        CoreError::InvalidMarker(_) => "InvalidMarkerException",
        CoreError::NotAuthorized(_) => "NotAuthorizedException",
        CoreError::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
        CoreError::DeleteConflict(_) | CoreError::InvalidInput(_) => "ValidationException",
        CoreError::AccessDenied(_) => "AccessDeniedException",
        CoreError::InvalidAuthenticationCode(_) => "ValidationException",
        // Web identity failures belong to STS; KMS never produces them.
        CoreError::InvalidIdentityToken(_) | CoreError::ExpiredToken(_) | CoreError::IdpRejectedClaim(_) => {
            "ValidationException"
        }
        CoreError::DryRun => "DryRunOperationException",
        // Parameter Store and Secrets Manager failures never come out of KMS.
        CoreError::Ssm(..) | CoreError::Secrets(..) => "ValidationException",
        CoreError::Unavailable => return ApiError::unavailable(),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "An internal error occurred.",
            );
        }
    };
    ApiError::bad_request(code, e.to_string())
}

/// Parameter Store's error codes for domain failures.
pub fn ssm_error(e: CoreError) -> ApiError {
    use keyhaven_core::ssm::SsmFault as F;
    let code = match &e {
        CoreError::Ssm(fault, _) => match fault {
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
        CoreError::AccessDenied(_) => "AccessDeniedException",
        CoreError::Unavailable => return ApiError::unavailable(),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An internal error occurred.",
            );
        }
        _ => "ValidationException",
    };
    ApiError::bad_request(code, e.to_string())
}

/// Secrets Manager's error codes for domain failures (all HTTP 400, as AWS answers).
pub fn secrets_error(e: CoreError) -> ApiError {
    use keyhaven_core::secrets::SecretsFault as F;
    let code = match &e {
        CoreError::Secrets(fault, _) => match fault {
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
        CoreError::AccessDenied(_) => "AccessDeniedException",
        CoreError::Unavailable => return ApiError::unavailable(),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceError",
                "An error occurred on the server side.",
            );
        }
        _ => "InvalidParameterException",
    };
    ApiError::bad_request(code, e.to_string())
}

/// STS's error codes and statuses for domain failures.
pub fn sts_error(e: CoreError) -> ApiError {
    let (status, code) = match &e {
        CoreError::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        CoreError::MalformedPolicyDocument(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
        CoreError::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "PackedPolicyTooLarge"),
        CoreError::Validation(_) | CoreError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
        CoreError::NotFound(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        // The model's codes: InvalidIdentityTokenException(code=InvalidIdentityToken)/400,
        // ExpiredTokenException/400, IDPRejectedClaimException(code=IDPRejectedClaim)/403.
        CoreError::InvalidIdentityToken(_) => (StatusCode::BAD_REQUEST, "InvalidIdentityToken"),
        CoreError::ExpiredToken(_) => (StatusCode::BAD_REQUEST, "ExpiredTokenException"),
        CoreError::IdpRejectedClaim(_) => (StatusCode::FORBIDDEN, "IDPRejectedClaim"),
        CoreError::Unavailable => return ApiError::unavailable(),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "An internal error occurred.",
            );
        }
        _ => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
    };
    ApiError::new(status, code, e.to_string())
}

/// IAM's error codes and statuses (from the model's error traits) for domain failures.
pub fn iam_error(e: CoreError) -> ApiError {
    let (status, code) = match &e {
        CoreError::NotFound(_) => (StatusCode::NOT_FOUND, "NoSuchEntity"),
        CoreError::AlreadyExists(_) => (StatusCode::CONFLICT, "EntityAlreadyExists"),
        CoreError::DeleteConflict(_) => (StatusCode::CONFLICT, "DeleteConflict"),
        CoreError::LimitExceeded(_) => (StatusCode::CONFLICT, "LimitExceeded"),
        CoreError::MalformedPolicyDocument(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
        CoreError::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        CoreError::InvalidAuthenticationCode(_) => (StatusCode::FORBIDDEN, "InvalidAuthenticationCode"),
        CoreError::Unavailable => return ApiError::unavailable(),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                "Request processing has failed due to some unknown error, exception or failure.",
            );
        }
        _ => (StatusCode::BAD_REQUEST, "InvalidInput"),
    };
    ApiError::new(status, code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_error_mapping_table() {
        let cases = [
            (CoreError::NotFound("m".into()), "NotFoundException", 400, "m"),
            (CoreError::InvalidCiphertext, "InvalidCiphertextException", 400, ""),
            (CoreError::Disabled("d".into()), "DisabledException", 400, "d"),
            (
                CoreError::InvalidState("s".into()),
                "KMSInvalidStateException",
                400,
                "s",
            ),
            (CoreError::IncorrectKey("k".into()), "IncorrectKeyException", 400, "k"),
            (
                CoreError::DryRun,
                "DryRunOperationException",
                400,
                "The request would have succeeded, but the DryRun option is set.",
            ),
            (CoreError::Tag("t".into()), "TagException", 400, "t"),
            (
                CoreError::Internal("secret detail".into()),
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

    #[test]
    fn sts_error_maps_web_identity_failures() {
        let cases = [
            (CoreError::InvalidIdentityToken("i".into()), "InvalidIdentityToken", 400),
            (CoreError::ExpiredToken("e".into()), "ExpiredTokenException", 400),
            (CoreError::IdpRejectedClaim("r".into()), "IDPRejectedClaim", 403),
        ];
        for (error, code, status) in cases {
            let message = error.to_string();
            let api = sts_error(error);
            assert_eq!((api.code, api.status.as_u16(), api.message), (code, status, message));
        }
    }
}
