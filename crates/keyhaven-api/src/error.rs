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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
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
        CoreError::DryRun => "DryRunOperationException",
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
}
