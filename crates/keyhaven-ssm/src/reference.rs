//! `/aws/reference/secretsmanager/<secret-id>[:<version-id or stage>]`: Secrets Manager secrets read
//! through GetParameter(s), a stateless pass-through under the caller's Secrets Manager permissions.

use serde_json::json;
use zeroize::Zeroizing;

use super::{ParameterView, SECURE_STRING, Ssm, SsmFault, fault};
use crate::error::SsmError;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::{SecretReadFailure, SecretValue};

pub const PREFIX: &str = "/aws/reference/secretsmanager/";

pub fn is_reference(name: &str) -> bool {
    name.trim().starts_with(PREFIX)
}

impl Ssm {
    pub(super) fn secret_reference(
        &self,
        ctx: &RequestContext,
        name: &str,
        with_decryption: bool,
        action: &str,
    ) -> Result<ParameterView, SsmError> {
        let name = name.trim();
        // The reference parameter is authorised like any parameter, before Secrets Manager
        // authorises the secret it names.
        let selector_at = name[PREFIX.len()..]
            .find(':')
            .map_or(name.len(), |at| PREFIX.len() + at);
        let arn = self.arn(ctx, &name[..selector_at]);
        self.authorize(ctx, action, &arn, None, Vec::new())?;
        if !with_decryption {
            return Err(fault(
                SsmFault::Validation,
                "WithDecryption flag must be True for retrieving a Secret Manager secret.",
            ));
        }
        let reference = &name[PREFIX.len()..];
        let (secret_id, selector) = match reference.split_once(':') {
            Some((id, selector)) => (id, Some(selector)),
            None => (reference, None),
        };
        let path = &name[..PREFIX.len() + secret_id.len()];
        let view = self
            .secrets
            .reference_value(ctx, secret_id, selector)
            .map_err(|e| match e {
                // AWS's text (measured by others against AWS): the path without its leading slash, then
                // the selector, or Java's "null" when there is none.
                SecretReadFailure::NotFound(_) => fault(
                    SsmFault::ParameterNotFound,
                    format!(
                        "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret {}{} not found.",
                        path.trim_start_matches('/'),
                        selector.map_or_else(|| "null".to_string(), |s| format!(":{s}"))
                    ),
                ),
                SecretReadFailure::Refused(message) => fault(SsmFault::Validation, message),
                SecretReadFailure::AccessDenied(message) => SsmError::AccessDenied(message),
                SecretReadFailure::Internal(detail) => SsmError::Internal(detail),
                SecretReadFailure::Unavailable => SsmError::Unavailable,
            })?;
        let value = match &view.value {
            SecretValue::String(text) => Zeroizing::new(text.to_string()),
            SecretValue::Binary(_) => {
                return Err(fault(
                    SsmFault::Validation,
                    "The secret has a binary value; Parameter Store returns string secrets only.",
                ));
            }
        };
        let source = Zeroizing::new(
            // Member names as AWS writes them (recorded: `name`, and `ARN` in capitals).
            json!({
                "ARN": view.arn,
                "name": view.name,
                "versionId": view.version_id,
                "secretString": value.as_str(),
                "versionStages": view.stages,
                "createdDate": view.created,
            })
            .to_string(),
        );
        Ok(ParameterView {
            name: path.to_string(),
            parameter_type: SECURE_STRING.to_string(),
            value,
            version: 0,
            selector: selector.map(|s| format!(":{s}")),
            last_modified: view.created,
            arn: view.arn,
            data_type: "text".to_string(),
            source_result: Some(source),
        })
    }
}
