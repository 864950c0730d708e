//! STS on the wire: generated awsQuery request shapes → core calls → generated response shapes.

use keyhaven_core::Core;
use keyhaven_iam::sts::{AssumeRoleInput, IssuedCredentials};
use keyhaven_kernel::authz::Resource;
use keyhaven_kernel::context::RequestContext;

use crate::error::{ApiError, sts_error};
use crate::generated::sts::{self as wire, Request, Response};
use crate::shapes::{SensitiveString, Timestamp};

/// The session tags of a request, as (key, value).
fn session_tags(tags: Option<Vec<wire::Tag>>) -> Vec<(String, String)> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect()
}

/// `AssumedRoleUser` of a role session: `<role id>:<session name>` and the session's ARN.
pub(crate) fn assumed_role_user(issued: &IssuedCredentials) -> wire::AssumedRoleUser {
    wire::AssumedRoleUser {
        assumed_role_id: issued
            .principal
            .role
            .as_ref()
            .map(|r| format!("{}:{}", r.role_id, r.session_name)),
        arn: Some(issued.principal.arn.clone()),
    }
}

pub(crate) fn credentials_out(issued: &IssuedCredentials) -> wire::Credentials {
    wire::Credentials {
        access_key_id: Some(issued.access_key_id.clone()),
        secret_access_key: Some(SensitiveString::from(
            String::from_utf8_lossy(issued.secret_access_key.expose()).to_string(),
        )),
        session_token: Some(String::from_utf8_lossy(issued.session_token.expose()).to_string()),
        expiration: Some(Timestamp(issued.expiration as f64)),
    }
}

/// Runs one STS action for `ctx`.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Response, ApiError> {
    match request {
        Request::GetCallerIdentity(_) => Ok(Response::GetCallerIdentity(wire::GetCallerIdentityResponse {
            user_id: Some(ctx.principal.principal_id.clone()),
            account: Some(ctx.principal.account_id.clone()),
            arn: Some(ctx.principal.arn.clone()),
        })),
        Request::GetSessionToken(i) => {
            let issued = core
                .identity
                .session_token(
                    ctx,
                    i.duration_seconds,
                    i.serial_number.as_deref(),
                    i.token_code.as_deref(),
                )
                .map_err(sts_error)?;
            Ok(Response::GetSessionToken(wire::GetSessionTokenResponse {
                credentials: Some(credentials_out(&issued)),
            }))
        }
        Request::AssumeRole(i) => {
            let tags = session_tags(i.tags);
            let packed_policy_size =
                keyhaven_iam::sts::packed_policy_size(i.policy.as_deref(), &tags).map_err(sts_error)?;
            let input = AssumeRoleInput {
                service_keys: Vec::new(),
                role_arn: i.role_arn.unwrap_or_default(),
                session_name: i.role_session_name.unwrap_or_default(),
                duration_seconds: i.duration_seconds,
                external_id: i.external_id,
                policy: i.policy.clone(),
                policy_arns: i
                    .policy_arns
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.arn)
                    .collect(),
                tags,
                transitive_tag_keys: i.transitive_tag_keys.unwrap_or_default(),
                source_identity: i.source_identity.clone(),
                serial_number: i.serial_number,
                token_code: i.token_code,
            };
            let issued = core.identity.assume_role(ctx, input).map_err(sts_error)?;
            Ok(Response::AssumeRole(wire::AssumeRoleResponse {
                credentials: Some(credentials_out(&issued)),
                assumed_role_user: Some(assumed_role_user(&issued)),
                packed_policy_size,
                source_identity: issued
                    .principal
                    .session
                    .as_ref()
                    .and_then(|s| s.source_identity.clone()),
            }))
        }
        Request::GetFederationToken(i) => {
            let name = i.name.unwrap_or_default();
            let resource = format!("arn:aws:sts::{}:federated-user/{name}", ctx.account_id());
            let target = [Resource::new(&resource, ctx.account_id())];
            crate::authorize::check(core, ctx, "sts:GetFederationToken", &target, &[], sts_error)?;
            let policy_arns: Vec<String> = i
                .policy_arns
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.arn)
                .collect();
            let tags = session_tags(i.tags);
            keyhaven_iam::sts::check_session_tags(&tags, &[]).map_err(sts_error)?;
            let packed_policy_size =
                keyhaven_iam::sts::packed_policy_size(i.policy.as_deref(), &tags).map_err(sts_error)?;
            let issued = core
                .identity
                .federation_token(ctx, &name, i.policy.as_deref(), &policy_arns, i.duration_seconds, tags)
                .map_err(sts_error)?;
            Ok(Response::GetFederationToken(wire::GetFederationTokenResponse {
                credentials: Some(credentials_out(&issued)),
                federated_user: Some(wire::FederatedUser {
                    federated_user_id: Some(issued.principal.principal_id.clone()),
                    arn: Some(issued.principal.arn.clone()),
                }),
                packed_policy_size,
            }))
        }
        Request::GetAccessKeyInfo(i) => {
            crate::authorize::check(core, ctx, "sts:GetAccessKeyInfo", &[], &[], sts_error)?;
            let access_key_id = i.access_key_id.unwrap_or_default();
            let account = core.identity.access_key_account(&access_key_id).map_err(sts_error)?;
            Ok(Response::GetAccessKeyInfo(wire::GetAccessKeyInfoResponse {
                account: Some(account.unwrap_or_else(|| ctx.account_id().to_string())),
            }))
        }
        Request::DecodeAuthorizationMessage(_) => {
            crate::authorize::check(core, ctx, "sts:DecodeAuthorizationMessage", &[], &[], sts_error)?;
            Err(ApiError::bad_request(
                "InvalidAuthorizationMessageException",
                "The encoded authorization message is invalid: this server's denials are never encoded.",
            ))
        }
        other => Err(ApiError::unserved("InvalidAction", other.operation_name())),
    }
}
