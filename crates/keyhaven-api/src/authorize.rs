//! Authorisation at the wire for IAM and STS: the resources and condition keys of an IAM operation
//! computed from its request, for the resource types and keys the authorisation table gives its
//! action. KMS, Parameter Store and Secrets Manager authorise in core, where the resources are read.

use keyhaven_core::Core;
use keyhaven_iam::iam::EntityKind;
use keyhaven_kernel::authz::{Access, Resource, table};
use keyhaven_kernel::context::{PrincipalKind, RequestContext};

use crate::error::ApiError;
use crate::query::Params;

/// Checks an action with no resource type (or on `resources`), identity policies only.
pub fn check<E: From<keyhaven_kernel::KernelError>>(
    core: &Core,
    ctx: &RequestContext,
    action: &str,
    resources: &[Resource<'_>],
    keys: &[(String, Vec<String>)],
    map: fn(E) -> ApiError,
) -> Result<(), ApiError> {
    core.identity
        .authz
        .check(
            ctx,
            &Access {
                action,
                resources,
                keys,
            },
        )
        .map_err(|e| map(E::from(e)))
}

/// The IAM user the caller signs as; federated users, role sessions and the root user have none.
pub(crate) fn callers_user(ctx: &RequestContext) -> Option<&str> {
    match (&ctx.principal.kind, &ctx.principal.user_name) {
        (PrincipalKind::IamUser, Some(name)) => Some(name),
        _ => None,
    }
}

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
pub fn authorize_iam(core: &Core, ctx: &RequestContext, operation: &str, params: &Params) -> Result<(), ApiError> {
    let action_name = format!("iam:{operation}");
    let action = table::action(&action_name).ok_or_else(|| unsupported(operation))?;
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let caller_user = callers_user(ctx);
    let mut keys = request_tag_keys(params);
    if let Some(policy) = param("PolicyArn").filter(|_| operation.contains("Attach") || operation.contains("Detach")) {
        keys.push(("iam:PolicyARN".into(), vec![policy.to_string()]));
    }
    if let Some(boundary) = param("PermissionsBoundary") {
        keys.push(("iam:PermissionsBoundary".into(), vec![boundary.to_string()]));
    }
    let mut targets = Vec::new();
    // The access reports name one user, group, role or policy by `Arn`: the table lists each type, of
    // which the request's is the one.
    let by_arn = param("Arn").filter(|_| action.resources.len() > 1);
    if let Some(arn) = by_arn {
        targets.push(plain_target(arn.to_string(), ctx));
    }
    for resource_use in action.resources.iter().filter(|_| by_arn.is_none()) {
        let resource_type = resource_use.resource_type;
        let defaults_to_caller = resource_use.required || action.resources.len() == 1;
        let named = match resource_type {
            "user" if operation == "GetAccessKeyLastUsed" => {
                let owner = param("AccessKeyId").and_then(|id| core.identity.iam.access_key_last_used(id).ok());
                match owner {
                    Some(key) => Some(entity_target(
                        core,
                        &key.account_id,
                        EntityKind::User,
                        &key.user_name,
                        None,
                    )),
                    // An unknown key belongs to no user: authorised on any user of the caller's
                    // account (so a role or the root is not told InvalidAction), then NoSuchEntity.
                    None => Some(plain_target(format!("arn:aws:iam::{}:user/*", ctx.account_id()), ctx)),
                }
            }
            // AllUsers reads every user's credentials (whatever UserName says): authorised on all users.
            "user"
                if operation == "ListServiceSpecificCredentials"
                    && param("AllUsers").is_some_and(|all| all.eq_ignore_ascii_case("true")) =>
            {
                Some(plain_target(format!("arn:aws:iam::{}:user/*", ctx.account_id()), ctx))
            }
            // A user the operation requires but the request does not name is the caller's own (the
            // model makes UserName optional exactly where IAM defaults it to the caller); so is the user
            // of an action whose only resource is an optional user (ListMFADevices lists the caller's).
            "user" => match param("UserName").or_else(|| caller_user.filter(|_| defaults_to_caller)) {
                Some(user) => Some(entity_target(
                    core,
                    ctx.account_id(),
                    EntityKind::User,
                    user,
                    creation_path(operation, "CreateUser", params),
                )),
                None if defaults_to_caller => {
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
            "role" => match operation {
                // The role CreateServiceLinkedRole would make, and the one a deletion task names.
                "CreateServiceLinkedRole" => param("AWSServiceName").map(|service| {
                    let name = keyhaven_iam::iam::service_linked::spec_for(service)
                        .map(|spec| match param("CustomSuffix") {
                            Some(suffix) => format!("{}_{suffix}", spec.role_name),
                            None => spec.role_name,
                        })
                        .unwrap_or_default();
                    keys.push(("iam:AWSServiceName".into(), vec![service.to_string()]));
                    plain_target(
                        format!(
                            "arn:aws:iam::{}:role/aws-service-role/{service}/{name}",
                            ctx.account_id()
                        ),
                        ctx,
                    )
                }),
                "GetServiceLinkedRoleDeletionStatus" => param("DeletionTaskId")
                    .and_then(|task| task.strip_prefix("task/"))
                    .and_then(|rest| rest.rsplit_once('/'))
                    .map(|(path_and_name, _)| {
                        plain_target(format!("arn:aws:iam::{}:role/{path_and_name}", ctx.account_id()), ctx)
                    }),
                _ => param("RoleName").map(|role| {
                    entity_target(
                        core,
                        ctx.account_id(),
                        EntityKind::Role,
                        role,
                        creation_path(operation, "CreateRole", params),
                    )
                }),
            },
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
            // An existing profile or certificate with its path; one being created with the path it is given.
            "instance-profile" => param("InstanceProfileName")
                .map(|name| match core.identity.iam.instance_profile(ctx, name) {
                    Ok(profile) if operation != "CreateInstanceProfile" => profile.arn(),
                    _ => {
                        let path = param("Path").unwrap_or("/");
                        format!("arn:aws:iam::{}:instance-profile{path}{name}", ctx.account_id())
                    }
                })
                .map(|arn| plain_target(arn, ctx)),
            "server-certificate" => param("ServerCertificateName")
                .map(|name| match core.identity.iam.server_certificate(ctx, name) {
                    Ok(certificate) if operation != "UploadServerCertificate" => certificate.arn(),
                    _ => {
                        let path = param("Path").unwrap_or("/");
                        format!("arn:aws:iam::{}:server-certificate{path}{name}", ctx.account_id())
                    }
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
        keyhaven_iam::simulate::source_kind(source).map_err(crate::error::iam_error)?;
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
    check(core, ctx, &action_name, &resources, &keys, crate::error::iam_error)?;
    // Putting a role in an instance profile passes it to whatever runs with the profile (the
    // AddRoleToInstanceProfile reference: "must be granted the PassRole permission on the IAM role").
    if operation == "AddRoleToInstanceProfile"
        && let Some(role) = param("RoleName")
    {
        let target = entity_target(core, ctx.account_id(), EntityKind::Role, role, None);
        let resource = Resource {
            keys: &target.keys,
            ..Resource::new(&target.arn, &target.account)
        };
        check(core, ctx, "iam:PassRole", &[resource], &[], crate::error::iam_error)?;
    }
    Ok(())
}

fn unsupported(operation: &str) -> ApiError {
    ApiError::unserved("InvalidAction", operation)
}

/// The path of the entity a Create operation makes (its ARN includes it).
fn creation_path<'p>(operation: &str, create: &str, params: &'p Params) -> Option<&'p str> {
    (operation == create).then(|| params.get("Path").unwrap_or("/"))
}

fn plain_target(arn: String, ctx: &RequestContext) -> Target {
    let account = match keyhaven_secrets::names::account_of(&arn) {
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
    let arn = match core.identity.iam.entity_in(account, kind, name) {
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

/// `aws:RequestTag/*` and `aws:TagKeys` for the tags an IAM request sets (`Tags`) or removes (`TagKeys`),
/// numbered as decoding numbers them, so that every tag the operation acts on is a condition key.
fn request_tag_keys(params: &Params) -> Vec<(String, Vec<String>)> {
    let mut keys = Vec::new();
    let mut tag_keys = Vec::new();
    for n in params.indices("Tags.member") {
        let Some(key) = params.get(&format!("Tags.member.{n}.Key")) else {
            continue;
        };
        let value = params.get(&format!("Tags.member.{n}.Value")).unwrap_or_default();
        keys.push((format!("aws:RequestTag/{key}"), vec![value.to_string()]));
        tag_keys.push(key.to_string());
    }
    for n in params.indices("TagKeys.member") {
        if let Some(key) = params.get(&format!("TagKeys.member.{n}")) {
            tag_keys.push(key.to_string());
        }
    }
    if !tag_keys.is_empty() {
        keys.push(("aws:TagKeys".into(), tag_keys));
    }
    keys
}

#[cfg(test)]
mod tests {
    use keyhaven_kernel::authz::table;

    use super::{Params, request_tag_keys};

    /// Tags numbered with gaps are decoded and set, so they are condition keys too.
    #[test]
    fn request_tags_are_every_numbered_tag() {
        let params = Params::parse(
            b"Tags.member.3.Key=Team&Tags.member.3.Value=red&Tags.member.1.Key=Env&Tags.member.1.Value=prod\
              &Tags.member.1.Key=ignored&TagKeys.member.2=Old",
        );
        let keys = request_tag_keys(&params);
        assert_eq!(
            keys,
            [
                ("aws:RequestTag/Env".to_string(), vec!["prod".to_string()]),
                ("aws:RequestTag/Team".to_string(), vec!["red".to_string()]),
                (
                    "aws:TagKeys".to_string(),
                    vec!["Env".to_string(), "Team".to_string(), "Old".to_string()]
                ),
            ]
        );
    }

    /// Every operation of every served model names an action of the authorisation table, so no
    /// operation can be implemented without an entry that says what it is authorised on.
    #[test]
    fn every_operation_has_an_authorisation_table_entry() {
        let services: [(&str, &[&str]); 7] = [
            ("kms", crate::generated::kms::OPERATIONS),
            ("ssm", crate::generated::ssm::OPERATIONS),
            ("secretsmanager", crate::generated::secretsmanager::OPERATIONS),
            ("iam", crate::generated::iam::OPERATIONS),
            ("sts", crate::generated::sts::OPERATIONS),
            ("cloudtrail", crate::generated::cloudtrail::OPERATIONS),
            ("logs", crate::generated::logs::OPERATIONS),
        ];
        // Operations authorised as other actions, and actions AWS does not authorise (the token is
        // the credential) or that are newer than the vendored reference (answered InvalidAction).
        let actions_of: &[(&str, &[&str])] = &[("kms:ReEncrypt", &["kms:ReEncryptFrom", "kms:ReEncryptTo"])];
        let exempt = [
            "sts:AssumeRoleWithWebIdentity",
            "sts:AssumeRoleWithSAML",
            "sts:AssumeRoot",
            "iam:UpdateDelegationRequest",
        ];
        let missing: Vec<String> = services
            .iter()
            .flat_map(|(service, operations)| operations.iter().map(move |op| format!("{service}:{op}")))
            .filter(|operation| !exempt.contains(&operation.as_str()))
            .flat_map(|operation| match actions_of.iter().find(|(op, _)| *op == operation) {
                Some((_, actions)) => actions.iter().map(|a| a.to_string()).collect(),
                None => vec![operation],
            })
            .filter(|action| table::action(action).is_none())
            .collect();
        assert!(missing.is_empty(), "operations without a table entry: {missing:?}");
    }
}
