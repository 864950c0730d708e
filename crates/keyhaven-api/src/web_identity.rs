//! Web identity federation on the wire: IAM's OpenID Connect provider actions and STS
//! AssumeRoleWithWebIdentity, generated shapes → core calls → generated shapes.
//!
//! AssumeRoleWithWebIdentity is unsigned (the model's `authtype: none`; botocore sends it without
//! SigV4): the token is the credential, so the server routes it here before authentication, with
//! only the connection's [`Origin`].

use keyhaven_core::Core;
use keyhaven_iam::iam::oidc::{NewOidcProvider, OidcProvider};
use keyhaven_iam::web_identity::{Origin, WebIdentityInput};
use keyhaven_kernel::context::{Principal, RequestContext};
use zeroize::Zeroizing;

use crate::error::{ApiError, iam_error, sts_error};
use crate::generated::iam::{self as iam_wire, Request};
use crate::generated::sts as sts_wire;
use crate::iam::Output;
use crate::shapes::Timestamp;

fn arn_of(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

fn output<T: crate::query::ToXml + 'static>(value: T) -> Result<Output, ApiError> {
    Ok(Some(Box::new(value)))
}

fn get_response(provider: &OidcProvider) -> iam_wire::GetOpenIDConnectProviderResponse {
    iam_wire::GetOpenIDConnectProviderResponse {
        // IAM answers the URL without its scheme.
        url: Some(provider.id.clone()),
        client_id_list: Some(provider.client_ids.clone()),
        thumbprint_list: Some(provider.thumbprints.clone()),
        create_date: Some(Timestamp(provider.create_date)),
        tags: crate::iam::tags_out(&provider.tags),
    }
}

/// Runs `request` if it is an OpenID Connect provider action; `None` for every other IAM action.
pub fn execute_iam(core: &Core, ctx: &RequestContext, request: &Request) -> Option<Result<Output, ApiError>> {
    let iam = &core.identity.iam;
    let done = |result: Result<(), keyhaven_iam::IamError>| result.map_err(iam_error).map(|()| None);
    Some(match request {
        Request::CreateOpenIDConnectProvider(i) => iam
            .create_oidc_provider(
                ctx,
                NewOidcProvider {
                    url: i.url.clone().unwrap_or_default(),
                    client_ids: i.client_id_list.clone().unwrap_or_default(),
                    thumbprints: i.thumbprint_list.clone().unwrap_or_default(),
                    tags: crate::iam::tags_in(i.tags.clone()),
                },
            )
            .map_err(iam_error)
            .and_then(|provider| {
                output(iam_wire::CreateOpenIDConnectProviderResponse {
                    open_id_connect_provider_arn: Some(provider.arn()),
                    tags: crate::iam::tags_out(&provider.tags),
                })
            }),
        Request::GetOpenIDConnectProvider(i) => iam
            .oidc_provider(ctx, arn_of(&i.open_id_connect_provider_arn))
            .map_err(iam_error)
            .and_then(|provider| output(get_response(&provider))),
        Request::ListOpenIDConnectProviders(_) => iam.list_oidc_providers(ctx).map_err(iam_error).and_then(|all| {
            output(iam_wire::ListOpenIDConnectProvidersResponse {
                open_id_connect_provider_list: Some(
                    all.iter()
                        .map(|p| iam_wire::OpenIDConnectProviderListEntry { arn: Some(p.arn()) })
                        .collect(),
                ),
            })
        }),
        Request::DeleteOpenIDConnectProvider(i) => {
            done(iam.delete_oidc_provider(ctx, arn_of(&i.open_id_connect_provider_arn)))
        }
        Request::AddClientIDToOpenIDConnectProvider(i) => done(iam.add_oidc_client_id(
            ctx,
            arn_of(&i.open_id_connect_provider_arn),
            i.client_id.as_deref().unwrap_or_default(),
        )),
        Request::RemoveClientIDFromOpenIDConnectProvider(i) => done(iam.remove_oidc_client_id(
            ctx,
            arn_of(&i.open_id_connect_provider_arn),
            i.client_id.as_deref().unwrap_or_default(),
        )),
        Request::UpdateOpenIDConnectProviderThumbprint(i) => done(iam.update_oidc_thumbprints(
            ctx,
            arn_of(&i.open_id_connect_provider_arn),
            i.thumbprint_list.as_deref().unwrap_or_default(),
        )),
        _ => return None,
    })
}

/// What AssumeRoleWithWebIdentity answered, and who asked, for the audit record.
#[derive(Debug)]
pub struct WebIdentityAnswer {
    pub response: sts_wire::Response,
    /// The web identity caller (CloudTrail `userIdentity.type` `WebIdentityUser`).
    pub caller: Principal,
}

/// AssumeRoleWithWebIdentity, unauthenticated.
pub fn assume_role_with_web_identity(
    core: &Core,
    origin: &Origin,
    request: sts_wire::AssumeRoleWithWebIdentityRequest,
) -> Result<WebIdentityAnswer, ApiError> {
    let input = WebIdentityInput {
        role_arn: request.role_arn.unwrap_or_default(),
        session_name: request.role_session_name.unwrap_or_default(),
        token: Zeroizing::new(
            request
                .web_identity_token
                .as_ref()
                .map(|t| t.expose().to_string())
                .unwrap_or_default(),
        ),
        provider_id: request.provider_id,
        duration_seconds: request.duration_seconds,
        policy: request.policy,
        policy_arns: request
            .policy_arns
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.arn)
            .collect(),
    };
    let granted = core
        .identity
        .assume_role_with_web_identity(origin, input)
        .map_err(sts_error)?;
    let issued = &granted.issued;
    let response = sts_wire::Response::AssumeRoleWithWebIdentity(sts_wire::AssumeRoleWithWebIdentityResponse {
        credentials: Some(crate::sts::credentials_out(issued)),
        subject_from_web_identity_token: Some(granted.subject.clone()),
        assumed_role_user: Some(crate::sts::assumed_role_user(issued)),
        packed_policy_size: None,
        provider: Some(granted.provider.clone()),
        audience: Some(granted.audience.clone()),
        source_identity: None,
    });
    Ok(WebIdentityAnswer {
        response,
        caller: granted.caller,
    })
}
