//! STS AssumeRoleWithSAML on the wire: generated shapes → core call → generated shapes.
//!
//! The call is unsigned (the model's `authtype: none`): the SAML response is the credential, so the
//! server routes it here before authentication, with only the connection's [`Origin`].

use keyhaven_core::Core;
use keyhaven_iam::saml_federation::SamlInput;
use keyhaven_iam::web_identity::Origin;
use zeroize::Zeroizing;

use crate::error::{ApiError, sts_error};
use crate::generated::sts as wire;
use crate::web_identity::WebIdentityAnswer;

/// AssumeRoleWithSAML, unauthenticated. The answer's caller is the SAML user, for the audit record.
pub fn assume_role_with_saml(
    core: &Core,
    origin: &Origin,
    request: wire::AssumeRoleWithSAMLRequest,
) -> Result<WebIdentityAnswer, ApiError> {
    let input = SamlInput {
        role_arn: request.role_arn.unwrap_or_default(),
        principal_arn: request.principal_arn.unwrap_or_default(),
        assertion: Zeroizing::new(
            request
                .saml_assertion
                .as_ref()
                .map(|a| a.expose().to_string())
                .unwrap_or_default(),
        ),
        duration_seconds: request.duration_seconds,
        policy: request.policy,
        policy_arns: request
            .policy_arns
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.arn)
            .collect(),
    };
    let granted = core.identity.assume_role_with_saml(origin, input).map_err(sts_error)?;
    let issued = &granted.issued;
    let response = wire::Response::AssumeRoleWithSAML(wire::AssumeRoleWithSAMLResponse {
        credentials: Some(crate::sts::credentials_out(issued)),
        assumed_role_user: Some(crate::sts::assumed_role_user(issued)),
        packed_policy_size: granted.packed_policy_size,
        subject: Some(granted.subject.clone()),
        subject_type: Some(granted.subject_type.clone()),
        issuer: Some(granted.issuer.clone()),
        audience: Some(granted.audience.clone()),
        name_qualifier: Some(granted.name_qualifier.clone()),
        source_identity: granted.source_identity.clone(),
    });
    Ok(WebIdentityAnswer {
        response,
        caller: granted.caller,
    })
}
