//! Authorisation at the wire: the IAM action and resource of IAM and STS operations, checked by the
//! core's authoriser before the operation runs. KMS checks happen in core, where the key and its
//! key policy are resolved.

use keyhaven_core::Core;
use keyhaven_core::authz::Access;
use keyhaven_core::context::RequestContext;
use keyhaven_core::iam::EntityKind;

use crate::error::ApiError;

/// Checks `action` on `resource` (an ARN or `*`) in the caller's account with identity policies.
pub fn check(
    core: &Core,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    keys: &[(String, Vec<String>)],
    map: fn(keyhaven_core::CoreError) -> ApiError,
) -> Result<(), ApiError> {
    core.authz
        .check(
            ctx,
            &Access {
                keys,
                ..Access::identity_only(action, resource, ctx.account_id())
            },
        )
        .map_err(map)
}

/// What an IAM operation is authorised against: the ARN it acts on (the named policy, provider,
/// user, group or role, with its path when it exists, or `*`) and its tag condition keys
/// (`aws:RequestTag/*` and `aws:TagKeys` for the tags it sets or removes, `aws:ResourceTag/*` of the
/// user or role it names). The named entity is read once.
pub fn iam_access(
    core: &Core,
    ctx: &RequestContext,
    params: &[(String, String)],
) -> (String, Vec<(String, Vec<String>)>) {
    let param = |name: &str| crate::query::first(params, name);
    let mut keys = request_tag_keys(params);
    if let Some(arn) = param("PolicyArn").or_else(|| param("OpenIDConnectProviderArn")) {
        return (arn.to_string(), keys);
    }
    let caller_key_operation = param("Action").is_some_and(|a| a.contains("AccessKey"));
    let named = [
        ("UserName", EntityKind::User),
        ("RoleName", EntityKind::Role),
        ("GroupName", EntityKind::Group),
    ]
    .into_iter()
    .find_map(|(name, kind)| param(name).map(|value| (kind, value)))
    .or_else(|| {
        ctx.principal
            .user_name
            .as_deref()
            .filter(|_| caller_key_operation)
            .map(|u| (EntityKind::User, u))
    });
    let Some((kind, name)) = named else {
        return ("*".to_string(), keys);
    };
    let account = ctx.account_id();
    match core.iam.entity_in(account, kind, name) {
        Ok(entity) => {
            if kind != EntityKind::Group {
                keys.extend(
                    entity
                        .tags
                        .iter()
                        .map(|t| (format!("aws:ResourceTag/{}", t.key), vec![t.value.clone()])),
                );
            }
            (entity.arn(), keys)
        }
        Err(_) => (format!("arn:aws:iam::{account}:{}/{name}", kind.arn_type()), keys),
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
