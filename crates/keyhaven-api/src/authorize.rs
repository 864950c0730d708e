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

/// Tag condition keys of an IAM request: `aws:RequestTag/*` and `aws:TagKeys` for the tags it sets
/// or removes, and `aws:ResourceTag/*` of the user or role it names.
pub fn iam_tag_keys(core: &Core, ctx: &RequestContext, params: &[(String, String)]) -> Vec<(String, Vec<String>)> {
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
    let account = ctx.account_id();
    let named = [("UserName", EntityKind::User), ("RoleName", EntityKind::Role)]
        .into_iter()
        .find_map(|(param, kind)| crate::query::first(params, param).map(|name| (kind, name)));
    if let Some((kind, name)) = named
        && let Ok(entity) = core.iam.entity_in(account, kind, name)
    {
        keys.extend(
            entity
                .tags
                .iter()
                .map(|t| (format!("aws:ResourceTag/{}", t.key), vec![t.value.clone()])),
        );
    }
    keys
}

/// The ARN an IAM operation acts on, for authorisation: the named user, group, role or policy
/// (with its path when it exists), or `*`.
pub fn iam_resource(core: &Core, ctx: &RequestContext, params: &[(String, String)]) -> String {
    let account = ctx.account_id();
    let named = |kind: EntityKind, name: &str| match core.iam.entity_in(account, kind, name) {
        Ok(entity) => entity.arn(),
        Err(_) => format!("arn:aws:iam::{account}:{}/{name}", kind.arn_type()),
    };
    let param = |name: &str| crate::query::first(params, name).map(str::to_string);
    if let Some(arn) = param("PolicyArn") {
        return arn;
    }
    if let Some(arn) = param("OpenIDConnectProviderArn") {
        return arn;
    }
    if let Some(name) = param("UserName") {
        return named(EntityKind::User, &name);
    }
    if let Some(name) = param("RoleName") {
        return named(EntityKind::Role, &name);
    }
    if let Some(name) = param("GroupName") {
        return named(EntityKind::Group, &name);
    }
    match (&ctx.principal.user_name, crate::query::first(params, "Action")) {
        (Some(user), Some(action)) if action.contains("AccessKey") => named(EntityKind::User, user),
        _ => "*".to_string(),
    }
}
