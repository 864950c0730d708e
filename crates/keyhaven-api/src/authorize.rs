//! Authorisation at the wire for IAM and STS: the resources and condition keys of an IAM operation
//! computed from its request, for the resource types and keys the authorisation table gives its
//! action. KMS, Parameter Store and Secrets Manager authorise in core, where the resources are read.

use keyhaven_core::Core;
use keyhaven_core::authz::{Access, Resource, table};
use keyhaven_core::context::{PrincipalKind, RequestContext};
use keyhaven_core::iam::EntityKind;

use crate::error::ApiError;

/// Checks an action with no resource type (or on `resources`), identity policies only.
pub fn check(
    core: &Core,
    ctx: &RequestContext,
    action: &str,
    resources: &[Resource<'_>],
    keys: &[(String, Vec<String>)],
    map: fn(keyhaven_core::CoreError) -> ApiError,
) -> Result<(), ApiError> {
    core.authz
        .check(
            ctx,
            &Access {
                action,
                resources,
                keys,
            },
        )
        .map_err(map)
}

/// The IAM user the caller signs as; federated users, role sessions and the root user have none.
pub(crate) fn callers_user(ctx: &RequestContext) -> Option<&str> {
    match (&ctx.principal.kind, &ctx.principal.user_name) {
        (PrincipalKind::IamUser, Some(name)) => Some(name),
        _ => None,
    }
}

/// Operations whose user, when the request names none, is the caller's own.
fn acts_on_callers_user(operation: &str) -> bool {
    matches!(
        operation,
        "CreateAccessKey"
            | "UpdateAccessKey"
            | "DeleteAccessKey"
            | "ListAccessKeys"
            | "GetUser"
            | "ChangePassword"
            | "ListMFADevices"
            | "ListSigningCertificates"
            | "UploadSigningCertificate"
            | "UpdateSigningCertificate"
            | "DeleteSigningCertificate"
            | "ListSSHPublicKeys"
            | "ListServiceSpecificCredentials"
    )
}

/// Resource types of IAM that no operation keyhaven serves acts on.
const UNSERVED_TYPES: &[&str] = &["access-report", "delegation-request", "sms-mfa", "role-template"];

/// One resource of an IAM request: its ARN, owning account and the condition keys it supplies.
struct Target {
    arn: String,
    account: String,
    keys: Vec<(String, Vec<String>)>,
    boundary: Option<String>,
}

/// Authorises an IAM operation: on every resource type the table gives `iam:<operation>` (the
/// named user, group, role, policy, provider or device, with its path; the caller's own user for
/// the self-service operations), with `aws:RequestTag/*`, `aws:TagKeys`, `iam:PolicyARN`,
/// `iam:PermissionsBoundary` and the resource's tags as condition keys.
pub fn authorize_iam(
    core: &Core,
    ctx: &RequestContext,
    operation: &str,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let action_name = format!("iam:{operation}");
    let action = table::action(&action_name).ok_or_else(|| unsupported(operation))?;
    let param = |name: &str| crate::query::first(params, name).filter(|v| !v.is_empty());
    let caller_user = callers_user(ctx);
    let mut keys = request_tag_keys(params);
    if let Some(policy) = param("PolicyArn").filter(|_| operation.contains("Attach") || operation.contains("Detach")) {
        keys.push(("iam:PolicyARN".into(), vec![policy.to_string()]));
    }
    if let Some(boundary) = param("PermissionsBoundary") {
        keys.push(("iam:PermissionsBoundary".into(), vec![boundary.to_string()]));
    }
    let mut targets = Vec::new();
    for resource_use in action.resources {
        let resource_type = resource_use.resource_type;
        if UNSERVED_TYPES.contains(&resource_type) && resource_use.required {
            return Err(unsupported(operation));
        }
        let named = match resource_type {
            "user" if operation == "GetAccessKeyLastUsed" => {
                let owner = param("AccessKeyId").and_then(|id| core.iam.access_key_last_used(id).ok());
                match owner {
                    Some(key) => Some(entity_target(
                        core,
                        &key.account_id,
                        EntityKind::User,
                        &key.user_name,
                        None,
                    )),
                    // An unknown key: the caller's own account answers NoSuchEntity.
                    None => caller_user.map(|user| entity_target(core, ctx.account_id(), EntityKind::User, user, None)),
                }
            }
            "user" => match param("UserName").or_else(|| caller_user.filter(|_| acts_on_callers_user(operation))) {
                Some(user) => Some(entity_target(
                    core,
                    ctx.account_id(),
                    EntityKind::User,
                    user,
                    creation_path(operation, "CreateUser", params),
                )),
                None if acts_on_callers_user(operation) && resource_use.required => {
                    if ctx.principal.kind == PrincipalKind::Root {
                        // The root user's own credentials: no policy applies to the root user.
                        return Ok(());
                    }
                    return Err(ApiError::bad_request(
                        "ValidationError",
                        "Must specify userName when calling with non-User credentials",
                    ));
                }
                None => None,
            },
            "group" => param("GroupName").map(|group| {
                entity_target(
                    core,
                    ctx.account_id(),
                    EntityKind::Group,
                    group,
                    creation_path(operation, "CreateGroup", params),
                )
            }),
            "role" => param("RoleName").map(|role| {
                entity_target(
                    core,
                    ctx.account_id(),
                    EntityKind::Role,
                    role,
                    creation_path(operation, "CreateRole", params),
                )
            }),
            "policy" => param("PolicyArn")
                .filter(|_| !operation.contains("Attach") && !operation.contains("Detach"))
                .map(str::to_string)
                .or_else(|| {
                    (operation == "CreatePolicy").then(|| {
                        let path = param("Path").unwrap_or("/");
                        let name = param("PolicyName").unwrap_or_default();
                        format!("arn:aws:iam::{}:policy{path}{name}", ctx.account_id())
                    })
                })
                .map(|arn| plain_target(arn, ctx)),
            "oidc-provider" => param("OpenIDConnectProviderArn")
                .map(str::to_string)
                .or_else(|| {
                    param("Url").map(|url| {
                        let host = url.trim_start_matches("https://").trim_end_matches('/');
                        format!("arn:aws:iam::{}:oidc-provider/{host}", ctx.account_id())
                    })
                })
                .map(|arn| plain_target(arn, ctx)),
            "saml-provider" => param("SAMLProviderArn")
                .map(str::to_string)
                .or_else(|| param("Name").map(|n| format!("arn:aws:iam::{}:saml-provider/{n}", ctx.account_id())))
                .map(|arn| plain_target(arn, ctx)),
            "mfa" => param("SerialNumber")
                .filter(|s| s.starts_with("arn:"))
                .map(str::to_string)
                .or_else(|| {
                    param("VirtualMFADeviceName").map(|name| {
                        let path = param("Path").unwrap_or("/");
                        format!("arn:aws:iam::{}:mfa{path}{name}", ctx.account_id())
                    })
                })
                .map(|arn| plain_target(arn, ctx)),
            "instance-profile" => param("InstanceProfileName")
                .map(|name| {
                    let path = param("Path").unwrap_or("/");
                    format!("arn:aws:iam::{}:instance-profile{path}{name}", ctx.account_id())
                })
                .map(|arn| plain_target(arn, ctx)),
            "server-certificate" => param("ServerCertificateName")
                .map(|name| {
                    let path = param("Path").unwrap_or("/");
                    format!("arn:aws:iam::{}:server-certificate{path}{name}", ctx.account_id())
                })
                .map(|arn| plain_target(arn, ctx)),
            _ => None,
        };
        match named {
            Some(target) => targets.push(target),
            None if resource_use.required => return Err(unsupported(operation)),
            None => {}
        }
    }
    // The simulator's optional user, group or role is the one `PolicySourceArn` names.
    if targets.is_empty()
        && let Some(source) = param("PolicySourceArn")
    {
        targets.push(plain_target(source.to_string(), ctx));
    }
    // Without a boundary in the request, `iam:PermissionsBoundary` is the entity's current one.
    if param("PermissionsBoundary").is_none()
        && let Some(boundary) = targets.iter().find_map(|t| t.boundary.clone())
    {
        keys.push(("iam:PermissionsBoundary".into(), vec![boundary]));
    }
    let resources: Vec<Resource<'_>> = targets
        .iter()
        .map(|t| Resource {
            keys: &t.keys,
            ..Resource::new(&t.arn, &t.account)
        })
        .collect();
    check(core, ctx, &action_name, &resources, &keys, crate::error::iam_error)
}

fn unsupported(operation: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "InvalidAction",
        format!("{operation} is not supported by this server yet."),
    )
}

/// The path of the entity a Create operation makes (its ARN includes it).
fn creation_path<'p>(operation: &str, create: &str, params: &'p [(String, String)]) -> Option<&'p str> {
    (operation == create).then(|| crate::query::first(params, "Path").unwrap_or("/"))
}

fn plain_target(arn: String, ctx: &RequestContext) -> Target {
    let account = match keyhaven_core::secrets::names::account_of(&arn) {
        "" => ctx.account_id().to_string(),
        account => account.to_string(),
    };
    Target {
        arn,
        account,
        keys: Vec::new(),
        boundary: None,
    }
}

/// A user, group or role: its ARN with its path when it exists (or `path` for one being created),
/// its tags as `aws:ResourceTag/*` and `iam:ResourceTag/*`, and its permissions boundary.
fn entity_target(core: &Core, account: &str, kind: EntityKind, name: &str, path: Option<&str>) -> Target {
    let mut keys = Vec::new();
    let mut boundary = None;
    let arn = match core.iam.entity_in(account, kind, name) {
        Ok(entity) if path.is_none() => {
            for tag in &entity.tags {
                keys.push((format!("aws:ResourceTag/{}", tag.key), vec![tag.value.clone()]));
                keys.push((format!("iam:ResourceTag/{}", tag.key), vec![tag.value.clone()]));
            }
            boundary.clone_from(&entity.permissions_boundary);
            entity.arn()
        }
        _ => format!(
            "arn:aws:iam::{account}:{}{}{name}",
            kind.arn_type(),
            path.unwrap_or("/")
        ),
    };
    Target {
        arn,
        account: account.to_string(),
        keys,
        boundary,
    }
}

/// `aws:RequestTag/*` and `aws:TagKeys` for the tags an IAM request sets (`Tags`) or removes (`TagKeys`).
fn request_tag_keys(params: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut keys = Vec::new();
    let mut tag_keys = Vec::new();
    for n in 1.. {
        let Some(key) = crate::query::first(params, &format!("Tags.member.{n}.Key")) else {
            break;
        };
        let value = crate::query::first(params, &format!("Tags.member.{n}.Value")).unwrap_or_default();
        keys.push((format!("aws:RequestTag/{key}"), vec![value.to_string()]));
        tag_keys.push(key.to_string());
    }
    for n in 1.. {
        let Some(key) = crate::query::first(params, &format!("TagKeys.member.{n}")) else {
            break;
        };
        tag_keys.push(key.to_string());
    }
    if !tag_keys.is_empty() {
        keys.push(("aws:TagKeys".into(), tag_keys));
    }
    keys
}
