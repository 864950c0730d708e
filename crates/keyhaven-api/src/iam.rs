//! IAM on the wire: generated awsQuery request shapes → core calls → generated response shapes.

use keyhaven_core::Core;
use keyhaven_iam::iam::{self as core_iam, Entity, EntityKind, ManagedPolicy, NewEntity, RoleSettings, managed};
use keyhaven_kernel::context::RequestContext;
use keyhaven_kms::Page;

use crate::error::{ApiError, iam_error};
use crate::generated::iam::{self as wire, Request};
use crate::query::ToXml;
use crate::shapes::{Blob, SensitiveString, Timestamp};

const DEFAULT_MAX_ITEMS: usize = 100;

/// What executing an IAM action produced: the output to encode (none for actions without one).
pub type Output = Option<Box<dyn ToXml>>;

/// IAM returns policy documents URL-encoded; the SDKs decode them.
pub(crate) fn encode_document(document: &str) -> String {
    percent_encoding::utf8_percent_encode(document, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The user a self-service operation acts on: the one named, or else the caller's own (none for
/// callers that are not IAM users, so their keys are never found).
pub(crate) fn own_user(ctx: &RequestContext, named: Option<String>) -> String {
    named
        .or_else(|| crate::authorize::callers_user(ctx).map(str::to_string))
        .unwrap_or_default()
}

pub(crate) fn max_items(value: Option<i32>) -> usize {
    value
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(DEFAULT_MAX_ITEMS)
}

pub(crate) fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<core_iam::Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| core_iam::Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn tags_out(tags: &[core_iam::Tag]) -> Option<Vec<wire::Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|t| wire::Tag {
                key: Some(t.key.clone()),
                value: Some(t.value.clone()),
            })
            .collect()
    })
}

pub(crate) fn boundary_out(entity: &Entity) -> Option<wire::AttachedPermissionsBoundary> {
    entity
        .permissions_boundary
        .as_ref()
        .map(|arn| wire::AttachedPermissionsBoundary {
            // AWS answers `Policy`, whatever the model's enum says (awsdocs/iam-user-guide#82: "the incorrect info is
            // coming from the model").
            permissions_boundary_type: Some("Policy".into()),
            permissions_boundary_arn: Some(arn.clone()),
        })
}

pub(crate) fn user_out(e: &Entity) -> wire::User {
    wire::User {
        path: Some(e.path.clone()),
        user_name: Some(e.name.clone()),
        user_id: Some(e.id.clone()),
        arn: Some(e.arn()),
        create_date: Some(Timestamp(e.create_date)),
        permissions_boundary: boundary_out(e),
        tags: tags_out(&e.tags),
        ..Default::default()
    }
}

/// A user as ListUsers shows it: IAM's listings leave out the permissions boundary and tags (ListUsers reference).
fn listed_user_out(e: &Entity) -> wire::User {
    wire::User {
        permissions_boundary: None,
        tags: None,
        ..user_out(e)
    }
}

pub(crate) fn group_out(e: &Entity) -> wire::Group {
    wire::Group {
        path: Some(e.path.clone()),
        group_name: Some(e.name.clone()),
        group_id: Some(e.id.clone()),
        arn: Some(e.arn()),
        create_date: Some(Timestamp(e.create_date)),
    }
}

pub(crate) fn role_out(e: &Entity) -> wire::Role {
    wire::Role {
        path: Some(e.path.clone()),
        role_name: Some(e.name.clone()),
        role_id: Some(e.id.clone()),
        arn: Some(e.arn()),
        create_date: Some(Timestamp(e.create_date)),
        assume_role_policy_document: e.assume_role_policy.as_deref().map(encode_document),
        description: e.description.clone(),
        max_session_duration: e.max_session_duration,
        permissions_boundary: boundary_out(e),
        tags: tags_out(&e.tags),
        ..Default::default()
    }
}

/// A role as ListRoles shows it: without its permissions boundary, tags or last use (ListRoles reference).
pub(crate) fn listed_role_out(e: &Entity) -> wire::Role {
    wire::Role {
        permissions_boundary: None,
        tags: None,
        ..role_out(e)
    }
}

pub(crate) fn policy_out(p: &ManagedPolicy) -> wire::Policy {
    wire::Policy {
        policy_name: Some(p.name.clone()),
        policy_id: Some(p.id.clone()),
        arn: Some(p.arn()),
        path: Some(p.path.clone()),
        default_version_id: Some(p.default_version.clone()),
        attachment_count: Some(p.attachment_count as i32),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: p.description.clone(),
        create_date: Some(Timestamp(p.create_date)),
        update_date: Some(Timestamp(p.update_date)),
        tags: tags_out(&p.tags),
    }
}

pub(crate) fn aws_policy_out(p: &managed::AwsManagedPolicy) -> wire::Policy {
    wire::Policy {
        policy_name: Some(p.name.clone()),
        policy_id: Some(p.id.clone()),
        arn: Some(p.arn()),
        path: Some(p.path.clone()),
        default_version_id: Some(p.default_version.clone()),
        attachment_count: Some(0),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: None,
        create_date: Some(Timestamp(p.create_date)),
        update_date: Some(Timestamp(p.update_date)),
        tags: None,
    }
}

fn version_out(version: &core_iam::PolicyVersion, default: &str, with_document: bool) -> wire::PolicyVersion {
    wire::PolicyVersion {
        document: with_document.then(|| encode_document(&version.document)),
        version_id: Some(version.version_id.clone()),
        is_default_version: Some(version.version_id == default),
        create_date: Some(Timestamp(version.create_date)),
    }
}

/// One page of a listing as IAM answers it.
pub(crate) struct Listed<T> {
    pub(crate) items: Vec<T>,
    pub(crate) is_truncated: Option<bool>,
    pub(crate) marker: Option<String>,
}

impl<T> From<Page<T>> for Listed<T> {
    fn from(page: Page<T>) -> Self {
        Self {
            is_truncated: Some(page.next_marker.is_some()),
            marker: page.next_marker,
            items: page.items,
        }
    }
}

/// One page of the account's users, groups or roles under a path prefix.
fn list_entities(
    core: &Core,
    ctx: &RequestContext,
    kind: EntityKind,
    path_prefix: &Option<String>,
    max: Option<i32>,
    marker: &Option<String>,
) -> Result<Listed<Entity>, ApiError> {
    let page = core
        .identity
        .iam
        .list_entities(ctx, kind, path_prefix.as_deref(), max_items(max), marker.as_deref())
        .map_err(iam_error)?;
    Ok(Listed::from(page))
}

pub(crate) fn listed<T: Clone>(items: Vec<T>, max: Option<i32>, marker: Option<&str>) -> Result<Listed<T>, ApiError> {
    paged(items, max, marker).map(Listed::from)
}

fn paged<T: Clone>(items: Vec<T>, max: Option<i32>, marker: Option<&str>) -> Result<Page<T>, ApiError> {
    keyhaven_kernel::paging::by_offset(&items, max_items(max), marker).map_err(|e| iam_error(e.into()))
}

pub(crate) fn some<T: ToXml + 'static>(output: T) -> Result<Output, ApiError> {
    Ok(Some(Box::new(output)))
}

pub(crate) fn name(value: Option<String>) -> String {
    value.unwrap_or_default()
}

fn inline_put(
    core: &Core,
    ctx: &RequestContext,
    kind: EntityKind,
    entity: Option<String>,
    policy: Option<String>,
    document: Option<String>,
) -> Result<Output, ApiError> {
    core.identity
        .iam
        .put_inline_policy(ctx, kind, &name(entity), &name(policy), &name(document))
        .map_err(iam_error)?;
    Ok(None)
}

/// An inline policy's document, URL-encoded as IAM returns it.
fn inline_document(
    core: &Core,
    ctx: &RequestContext,
    kind: EntityKind,
    entity: &Option<String>,
    policy: &Option<String>,
) -> Result<Option<String>, ApiError> {
    let document = core
        .identity
        .iam
        .inline_policy(ctx, kind, &name(entity.clone()), &name(policy.clone()))
        .map_err(iam_error)?;
    Ok(Some(encode_document(&document)))
}

fn inline_names(
    core: &Core,
    ctx: &RequestContext,
    kind: EntityKind,
    entity: Option<String>,
    max: Option<i32>,
    marker: Option<String>,
) -> Result<Listed<String>, ApiError> {
    let names: Vec<String> = core
        .identity
        .iam
        .entity(ctx, kind, &name(entity))
        .map_err(iam_error)?
        .inline_policies
        .into_keys()
        .collect();
    listed(names, max, marker.as_deref())
}

fn attached(
    core: &Core,
    ctx: &RequestContext,
    kind: EntityKind,
    entity: Option<String>,
    max: Option<i32>,
    marker: Option<String>,
) -> Result<Listed<wire::AttachedPolicy>, ApiError> {
    let refs = core
        .identity
        .iam
        .attached_policies(ctx, kind, &name(entity))
        .map_err(iam_error)?;
    let out: Vec<wire::AttachedPolicy> = refs
        .into_iter()
        .map(|r| wire::AttachedPolicy {
            policy_name: Some(r.name),
            policy_arn: Some(r.arn),
        })
        .collect();
    listed(out, max, marker.as_deref())
}

pub(crate) fn done(result: Result<(), keyhaven_iam::IamError>) -> Result<Output, ApiError> {
    result.map_err(iam_error).map(|()| None)
}

/// Runs one IAM action for `ctx`.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Output, ApiError> {
    if let Some(output) = crate::iam_simulate::execute(core, ctx, &request) {
        return output;
    }
    if let Some(done) = crate::web_identity::execute_iam(core, ctx, &request) {
        return done;
    }
    let iam = &core.identity.iam;
    match request {
        Request::CreateUser(i) => {
            let user = iam
                .create_entity(
                    ctx,
                    NewEntity {
                        kind: EntityKind::User,
                        name: &name(i.user_name),
                        path: i.path.as_deref(),
                        tags: tags_in(i.tags),
                        boundary: i.permissions_boundary.as_deref(),
                        role: None,
                    },
                )
                .map_err(iam_error)?;
            some(wire::CreateUserResponse {
                user: Some(user_out(&user)),
            })
        }
        Request::GetUser(i) => {
            let user = match i.user_name {
                Some(n) => iam.entity(ctx, EntityKind::User, &n).map_err(iam_error)?,
                None => match &ctx.principal.user_name {
                    Some(n) => iam.entity(ctx, EntityKind::User, n).map_err(iam_error)?,
                    None => {
                        return some(wire::GetUserResponse {
                            user: Some(wire::User {
                                user_id: Some(ctx.principal.principal_id.clone()),
                                arn: Some(ctx.principal.arn.clone()),
                                ..Default::default()
                            }),
                        });
                    }
                },
            };
            some(wire::GetUserResponse {
                user: Some(user_out(&user)),
            })
        }
        Request::ListUsers(i) => {
            let page = list_entities(core, ctx, EntityKind::User, &i.path_prefix, i.max_items, &i.marker)?;
            some(wire::ListUsersResponse {
                users: Some(page.items.iter().map(listed_user_out).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeleteUser(i) => done(iam.delete_entity(ctx, EntityKind::User, &name(i.user_name))),
        Request::CreateGroup(i) => {
            let group = iam
                .create_entity(
                    ctx,
                    NewEntity {
                        path: i.path.as_deref(),
                        ..NewEntity::named(EntityKind::Group, &name(i.group_name))
                    },
                )
                .map_err(iam_error)?;
            some(wire::CreateGroupResponse {
                group: Some(group_out(&group)),
            })
        }
        Request::GetGroup(i) => {
            let (group, members) = iam.group_with_members(ctx, &name(i.group_name)).map_err(iam_error)?;
            let page = listed(members, i.max_items, i.marker.as_deref())?;
            some(wire::GetGroupResponse {
                group: Some(group_out(&group)),
                users: Some(page.items.iter().map(user_out).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListGroups(i) => {
            let page = list_entities(core, ctx, EntityKind::Group, &i.path_prefix, i.max_items, &i.marker)?;
            some(wire::ListGroupsResponse {
                groups: Some(page.items.iter().map(group_out).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListGroupsForUser(i) => {
            let groups = iam.groups_for_user(ctx, &name(i.user_name)).map_err(iam_error)?;
            let page = listed(groups, i.max_items, i.marker.as_deref())?;
            some(wire::ListGroupsForUserResponse {
                groups: Some(page.items.iter().map(group_out).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeleteGroup(i) => done(iam.delete_entity(ctx, EntityKind::Group, &name(i.group_name))),
        Request::AddUserToGroup(i) => done(iam.add_user_to_group(ctx, &name(i.group_name), &name(i.user_name))),
        Request::RemoveUserFromGroup(i) => {
            done(iam.remove_user_from_group(ctx, &name(i.group_name), &name(i.user_name)))
        }
        Request::CreateRole(i) => {
            let settings = RoleSettings {
                assume_role_policy: name(i.assume_role_policy_document),
                description: i.description,
                max_session_duration: i.max_session_duration,
            };
            let role = iam
                .create_entity(
                    ctx,
                    NewEntity {
                        kind: EntityKind::Role,
                        name: &name(i.role_name),
                        path: i.path.as_deref(),
                        tags: tags_in(i.tags),
                        boundary: i.permissions_boundary.as_deref(),
                        role: Some(settings),
                    },
                )
                .map_err(iam_error)?;
            // CreateRole answers without MaxSessionDuration, which GetRole answers (recorded AWS responses).
            some(wire::CreateRoleResponse {
                role: Some(wire::Role {
                    max_session_duration: None,
                    ..role_out(&role)
                }),
            })
        }
        Request::GetRole(i) => {
            let role = iam
                .entity(ctx, EntityKind::Role, &name(i.role_name))
                .map_err(iam_error)?;
            let last_used = iam.role_last_used(ctx.account_id(), &role.name).map_err(iam_error)?;
            some(wire::GetRoleResponse {
                role: Some(wire::Role {
                    // Present even when empty: AWS answers `RoleLastUsed: {}` for a role never used.
                    role_last_used: Some(wire::RoleLastUsed {
                        last_used_date: last_used.as_ref().map(|u| Timestamp(u.date)),
                        region: last_used.map(|u| u.region),
                    }),
                    ..role_out(&role)
                }),
            })
        }
        Request::ListRoles(i) => {
            let page = list_entities(core, ctx, EntityKind::Role, &i.path_prefix, i.max_items, &i.marker)?;
            some(wire::ListRolesResponse {
                roles: Some(page.items.iter().map(listed_role_out).collect()),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeleteRole(i) => done(iam.delete_entity(ctx, EntityKind::Role, &name(i.role_name))),
        Request::UpdateRole(i) => {
            iam.update_role(ctx, &name(i.role_name), i.description, i.max_session_duration)
                .map_err(iam_error)?;
            some(wire::UpdateRoleResponse {})
        }
        Request::UpdateAssumeRolePolicy(i) => {
            done(iam.update_assume_role_policy(ctx, &name(i.role_name), &name(i.policy_document)))
        }
        Request::CreatePolicy(i) => {
            let policy = iam
                .create_policy(
                    ctx,
                    &name(i.policy_name),
                    i.path.as_deref(),
                    &name(i.policy_document),
                    i.description,
                    tags_in(i.tags),
                )
                .map_err(iam_error)?;
            some(wire::CreatePolicyResponse {
                // CreatePolicy leaves out the description, and tags unless some were given (AWS-verified
                // in moto's test_iam_response_attributes).
                policy: Some(wire::Policy {
                    description: None,
                    ..policy_out(&policy)
                }),
            })
        }
        Request::GetPolicy(i) => {
            let arn = name(i.policy_arn);
            let policy = match managed::aws_managed(&arn) {
                Some(aws) => aws_policy_out(aws),
                // GetPolicy always carries the tag list, empty included.
                None => {
                    let policy = policy_out(&iam.policy(ctx, &arn).map_err(iam_error)?);
                    wire::Policy {
                        tags: policy.tags.clone().or(Some(Vec::new())),
                        ..policy
                    }
                }
            };
            some(wire::GetPolicyResponse { policy: Some(policy) })
        }
        Request::ListPolicies(i) => {
            let scope = i.scope.as_deref().unwrap_or("All");
            let mut policies: Vec<wire::Policy> = Vec::new();
            if scope != "Local" {
                policies.extend(managed::all().iter().map(aws_policy_out));
            }
            if scope != "AWS" {
                // Listings leave out descriptions and tags.
                policies.extend(iam.list_policies(ctx).map_err(iam_error)?.iter().map(|p| wire::Policy {
                    description: None,
                    tags: None,
                    ..policy_out(p)
                }));
            }
            if i.only_attached.unwrap_or(false) {
                policies.retain(|p| p.attachment_count.unwrap_or(0) > 0);
            }
            if let Some(prefix) = &i.path_prefix {
                policies.retain(|p| p.path.as_deref().is_some_and(|path| path.starts_with(prefix.as_str())));
            }
            let page = listed(policies, i.max_items, i.marker.as_deref())?;
            some(wire::ListPoliciesResponse {
                policies: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeletePolicy(i) => done(iam.delete_policy(ctx, &name(i.policy_arn))),
        Request::CreatePolicyVersion(i) => {
            let arn = name(i.policy_arn);
            let set_default = i.set_as_default.unwrap_or(false);
            let version = iam
                .create_policy_version(ctx, &arn, &name(i.policy_document), set_default)
                .map_err(iam_error)?;
            let default = if set_default {
                version.version_id.clone()
            } else {
                String::new()
            };
            some(wire::CreatePolicyVersionResponse {
                policy_version: Some(version_out(&version, &default, false)),
            })
        }
        Request::GetPolicyVersion(i) => {
            let arn = name(i.policy_arn);
            let version_id = name(i.version_id);
            // Of an AWS managed policy, only the default version is published.
            if let Some(aws) = managed::aws_managed(&arn).filter(|aws| aws.default_version == version_id) {
                let version = core_iam::PolicyVersion {
                    version_id: aws.default_version.clone(),
                    document: aws.document.clone(),
                    create_date: aws.update_date,
                };
                return some(wire::GetPolicyVersionResponse {
                    policy_version: Some(version_out(&version, &aws.default_version, true)),
                });
            }
            let policy = iam.policy(ctx, &arn).map_err(iam_error)?;
            let version = policy
                .versions
                .iter()
                .find(|v| v.version_id == version_id)
                .ok_or_else(|| {
                    iam_error(keyhaven_iam::IamError::NotFound(format!(
                        "Policy {arn} version {version_id} does not exist."
                    )))
                })?;
            some(wire::GetPolicyVersionResponse {
                policy_version: Some(version_out(version, &policy.default_version, true)),
            })
        }
        Request::ListPolicyVersions(i) => {
            let policy = iam.policy(ctx, &name(i.policy_arn)).map_err(iam_error)?;
            let versions: Vec<wire::PolicyVersion> = policy
                .versions
                .iter()
                .rev()
                .map(|v| version_out(v, &policy.default_version, false))
                .collect();
            let page = listed(versions, i.max_items, i.marker.as_deref())?;
            some(wire::ListPolicyVersionsResponse {
                versions: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeletePolicyVersion(i) => {
            done(iam.delete_policy_version(ctx, &name(i.policy_arn), &name(i.version_id)))
        }
        Request::SetDefaultPolicyVersion(i) => {
            done(iam.set_default_policy_version(ctx, &name(i.policy_arn), &name(i.version_id)))
        }
        Request::PutUserPolicy(i) => inline_put(
            core,
            ctx,
            EntityKind::User,
            i.user_name,
            i.policy_name,
            i.policy_document,
        ),
        Request::PutGroupPolicy(i) => inline_put(
            core,
            ctx,
            EntityKind::Group,
            i.group_name,
            i.policy_name,
            i.policy_document,
        ),
        Request::PutRolePolicy(i) => inline_put(
            core,
            ctx,
            EntityKind::Role,
            i.role_name,
            i.policy_name,
            i.policy_document,
        ),
        Request::GetUserPolicy(i) => {
            let policy_document = inline_document(core, ctx, EntityKind::User, &i.user_name, &i.policy_name)?;
            some(wire::GetUserPolicyResponse {
                user_name: i.user_name,
                policy_name: i.policy_name,
                policy_document,
            })
        }
        Request::GetGroupPolicy(i) => {
            let policy_document = inline_document(core, ctx, EntityKind::Group, &i.group_name, &i.policy_name)?;
            some(wire::GetGroupPolicyResponse {
                group_name: i.group_name,
                policy_name: i.policy_name,
                policy_document,
            })
        }
        Request::GetRolePolicy(i) => {
            let policy_document = inline_document(core, ctx, EntityKind::Role, &i.role_name, &i.policy_name)?;
            some(wire::GetRolePolicyResponse {
                role_name: i.role_name,
                policy_name: i.policy_name,
                policy_document,
            })
        }
        Request::DeleteUserPolicy(i) => {
            done(iam.delete_inline_policy(ctx, EntityKind::User, &name(i.user_name), &name(i.policy_name)))
        }
        Request::DeleteGroupPolicy(i) => {
            done(iam.delete_inline_policy(ctx, EntityKind::Group, &name(i.group_name), &name(i.policy_name)))
        }
        Request::DeleteRolePolicy(i) => {
            done(iam.delete_inline_policy(ctx, EntityKind::Role, &name(i.role_name), &name(i.policy_name)))
        }
        Request::ListUserPolicies(i) => {
            let page = inline_names(core, ctx, EntityKind::User, i.user_name, i.max_items, i.marker)?;
            some(wire::ListUserPoliciesResponse {
                policy_names: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListGroupPolicies(i) => {
            let page = inline_names(core, ctx, EntityKind::Group, i.group_name, i.max_items, i.marker)?;
            some(wire::ListGroupPoliciesResponse {
                policy_names: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListRolePolicies(i) => {
            let page = inline_names(core, ctx, EntityKind::Role, i.role_name, i.max_items, i.marker)?;
            some(wire::ListRolePoliciesResponse {
                policy_names: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::AttachUserPolicy(i) => {
            done(iam.attach_policy(ctx, EntityKind::User, &name(i.user_name), &name(i.policy_arn)))
        }
        Request::AttachGroupPolicy(i) => {
            done(iam.attach_policy(ctx, EntityKind::Group, &name(i.group_name), &name(i.policy_arn)))
        }
        Request::AttachRolePolicy(i) => {
            done(iam.attach_policy(ctx, EntityKind::Role, &name(i.role_name), &name(i.policy_arn)))
        }
        Request::DetachUserPolicy(i) => {
            done(iam.detach_policy(ctx, EntityKind::User, &name(i.user_name), &name(i.policy_arn)))
        }
        Request::DetachGroupPolicy(i) => {
            done(iam.detach_policy(ctx, EntityKind::Group, &name(i.group_name), &name(i.policy_arn)))
        }
        Request::DetachRolePolicy(i) => {
            done(iam.detach_policy(ctx, EntityKind::Role, &name(i.role_name), &name(i.policy_arn)))
        }
        Request::ListAttachedUserPolicies(i) => {
            let page = attached(core, ctx, EntityKind::User, i.user_name, i.max_items, i.marker)?;
            some(wire::ListAttachedUserPoliciesResponse {
                attached_policies: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListAttachedGroupPolicies(i) => {
            let page = attached(core, ctx, EntityKind::Group, i.group_name, i.max_items, i.marker)?;
            some(wire::ListAttachedGroupPoliciesResponse {
                attached_policies: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListAttachedRolePolicies(i) => {
            let page = attached(core, ctx, EntityKind::Role, i.role_name, i.max_items, i.marker)?;
            some(wire::ListAttachedRolePoliciesResponse {
                attached_policies: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::PutUserPermissionsBoundary(i) => {
            done(iam.put_permissions_boundary(ctx, EntityKind::User, &name(i.user_name), &name(i.permissions_boundary)))
        }
        Request::PutRolePermissionsBoundary(i) => {
            done(iam.put_permissions_boundary(ctx, EntityKind::Role, &name(i.role_name), &name(i.permissions_boundary)))
        }
        Request::DeleteUserPermissionsBoundary(i) => {
            done(iam.delete_permissions_boundary(ctx, EntityKind::User, &name(i.user_name)))
        }
        Request::DeleteRolePermissionsBoundary(i) => {
            done(iam.delete_permissions_boundary(ctx, EntityKind::Role, &name(i.role_name)))
        }
        Request::CreateAccessKey(i) => {
            let user = own_user(ctx, i.user_name);
            let created = iam.create_access_key(ctx, &user).map_err(iam_error)?;
            let secret = String::from_utf8_lossy(created.secret.expose()).to_string();
            some(wire::CreateAccessKeyResponse {
                access_key: Some(wire::AccessKey {
                    user_name: Some(created.record.user_name.clone()),
                    access_key_id: Some(created.record.access_key_id.clone()),
                    status: Some("Active".into()),
                    secret_access_key: Some(SensitiveString::from(secret)),
                    create_date: Some(Timestamp(created.record.create_date)),
                }),
            })
        }
        Request::ListAccessKeys(i) => {
            let user = own_user(ctx, i.user_name);
            let keys = iam.list_access_keys(ctx, &user).map_err(iam_error)?;
            let page = listed(keys, i.max_items, i.marker.as_deref())?;
            let metadata = page
                .items
                .iter()
                .map(|k| wire::AccessKeyMetadata {
                    user_name: Some(k.user_name.clone()),
                    access_key_id: Some(k.access_key_id.clone()),
                    status: Some(if k.active { "Active" } else { "Inactive" }.into()),
                    create_date: Some(Timestamp(k.create_date)),
                })
                .collect();
            some(wire::ListAccessKeysResponse {
                access_key_metadata: Some(metadata),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::UpdateAccessKey(i) => {
            let active = i.status.as_deref() == Some("Active");
            done(iam.update_access_key(ctx, &own_user(ctx, i.user_name), &name(i.access_key_id), active))
        }
        Request::DeleteAccessKey(i) => {
            done(iam.delete_access_key(ctx, &own_user(ctx, i.user_name), &name(i.access_key_id)))
        }
        Request::GetAccessKeyLastUsed(i) => {
            let record = iam.access_key_last_used(&name(i.access_key_id)).map_err(iam_error)?;
            let last_used = match &record.last_used {
                Some(used) => wire::AccessKeyLastUsed {
                    last_used_date: Some(Timestamp(used.date)),
                    service_name: Some(used.service.clone()),
                    region: Some(used.region.clone()),
                },
                None => wire::AccessKeyLastUsed {
                    last_used_date: None,
                    service_name: Some("N/A".into()),
                    region: Some("N/A".into()),
                },
            };
            some(wire::GetAccessKeyLastUsedResponse {
                user_name: Some(record.user_name),
                access_key_last_used: Some(last_used),
            })
        }
        Request::CreateVirtualMFADevice(i) => {
            let created = iam
                .create_virtual_mfa_device(
                    ctx,
                    &name(i.virtual_mfa_device_name),
                    i.path.as_deref(),
                    tags_in(i.tags),
                )
                .map_err(iam_error)?;
            some(wire::CreateVirtualMFADeviceResponse {
                virtual_mfa_device: Some(wire::VirtualMFADevice {
                    serial_number: Some(created.device.serial_number.clone()),
                    base32_string_seed: Some(Blob::from(created.base32_seed)),
                    qr_code_png: Some(Blob::from(created.qr_code_png)),
                    tags: tags_out(&created.device.tags),
                    ..Default::default()
                }),
            })
        }
        Request::EnableMFADevice(i) => done(iam.enable_mfa_device(
            ctx,
            &name(i.user_name),
            &name(i.serial_number),
            &name(i.authentication_code1),
            &name(i.authentication_code2),
        )),
        Request::DeactivateMFADevice(i) => {
            let user = i
                .user_name
                .or_else(|| ctx.principal.user_name.clone())
                .unwrap_or_default();
            done(iam.deactivate_mfa_device(ctx, &user, &name(i.serial_number)))
        }
        Request::DeleteVirtualMFADevice(i) => done(iam.delete_virtual_mfa_device(ctx, &name(i.serial_number))),
        Request::ListMFADevices(i) => {
            let user = i
                .user_name
                .or_else(|| ctx.principal.user_name.clone())
                .unwrap_or_default();
            let devices = iam.mfa_devices(ctx, Some(&user)).map_err(iam_error)?;
            let out: Vec<wire::MFADevice> = devices
                .iter()
                .map(|d| wire::MFADevice {
                    user_name: d.user_name.clone(),
                    serial_number: Some(d.serial_number.clone()),
                    enable_date: d.enable_date.map(Timestamp),
                })
                .collect();
            let page = listed(out, i.max_items, i.marker.as_deref())?;
            some(wire::ListMFADevicesResponse {
                mfa_devices: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListVirtualMFADevices(i) => {
            let mut devices = iam.mfa_devices(ctx, None).map_err(iam_error)?;
            match i.assignment_status.as_deref() {
                Some("Assigned") => devices.retain(|d| d.user_name.is_some()),
                Some("Unassigned") => devices.retain(|d| d.user_name.is_none()),
                _ => {}
            }
            let out: Vec<wire::VirtualMFADevice> = devices
                .iter()
                .map(|d| wire::VirtualMFADevice {
                    serial_number: Some(d.serial_number.clone()),
                    enable_date: d.enable_date.map(Timestamp),
                    user: d
                        .user_name
                        .as_ref()
                        .and_then(|u| iam.entity(ctx, EntityKind::User, u).ok())
                        .map(|u| user_out(&u)),
                    tags: tags_out(&d.tags),
                    ..Default::default()
                })
                .collect();
            let page = listed(out, i.max_items, i.marker.as_deref())?;
            some(wire::ListVirtualMFADevicesResponse {
                virtual_mfa_devices: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::GetAccountAuthorizationDetails(i) => {
            let filter = i.filter.unwrap_or_default();
            let wants = |kind: &str| filter.is_empty() || filter.iter().any(|f| f == kind);
            let inline = |e: &Entity| -> Option<Vec<wire::PolicyDetail>> {
                Some(
                    e.inline_policies
                        .iter()
                        .map(|(n, d)| wire::PolicyDetail {
                            policy_name: Some(n.clone()),
                            policy_document: Some(encode_document(d)),
                        })
                        .collect(),
                )
            };
            let attached_out = |e: &Entity| -> Option<Vec<wire::AttachedPolicy>> {
                Some(
                    e.attached_policies
                        .iter()
                        .map(|arn| wire::AttachedPolicy {
                            policy_name: arn.rsplit('/').next().map(str::to_string),
                            policy_arn: Some(arn.clone()),
                        })
                        .collect(),
                )
            };
            let all = |kind: EntityKind| {
                iam.list_entities(ctx, kind, None, usize::MAX, None)
                    .map(|p| p.items)
                    .map_err(iam_error)
            };
            let users = if wants("User") {
                all(EntityKind::User)?
            } else {
                Vec::new()
            };
            let groups = if wants("Group") {
                all(EntityKind::Group)?
            } else {
                Vec::new()
            };
            let roles = if wants("Role") {
                all(EntityKind::Role)?
            } else {
                Vec::new()
            };
            let policies = if wants("LocalManagedPolicy") {
                iam.list_policies(ctx).map_err(iam_error)?
            } else {
                Vec::new()
            };
            some(wire::GetAccountAuthorizationDetailsResponse {
                user_detail_list: Some(
                    users
                        .iter()
                        .map(|u| wire::UserDetail {
                            path: Some(u.path.clone()),
                            user_name: Some(u.name.clone()),
                            user_id: Some(u.id.clone()),
                            arn: Some(u.arn()),
                            create_date: Some(Timestamp(u.create_date)),
                            user_policy_list: inline(u),
                            group_list: Some(u.groups.clone()),
                            attached_managed_policies: attached_out(u),
                            permissions_boundary: boundary_out(u),
                            tags: tags_out(&u.tags),
                        })
                        .collect(),
                ),
                group_detail_list: Some(
                    groups
                        .iter()
                        .map(|g| wire::GroupDetail {
                            path: Some(g.path.clone()),
                            group_name: Some(g.name.clone()),
                            group_id: Some(g.id.clone()),
                            arn: Some(g.arn()),
                            create_date: Some(Timestamp(g.create_date)),
                            group_policy_list: inline(g),
                            attached_managed_policies: attached_out(g),
                        })
                        .collect(),
                ),
                role_detail_list: Some(
                    roles
                        .iter()
                        .map(|r| wire::RoleDetail {
                            path: Some(r.path.clone()),
                            role_name: Some(r.name.clone()),
                            role_id: Some(r.id.clone()),
                            arn: Some(r.arn()),
                            create_date: Some(Timestamp(r.create_date)),
                            assume_role_policy_document: r.assume_role_policy.as_deref().map(encode_document),
                            instance_profile_list: Some(Vec::new()),
                            role_policy_list: inline(r),
                            attached_managed_policies: attached_out(r),
                            permissions_boundary: boundary_out(r),
                            tags: tags_out(&r.tags),
                            ..Default::default()
                        })
                        .collect(),
                ),
                policies: Some(
                    policies
                        .iter()
                        .map(|p| {
                            let base = policy_out(p);
                            wire::ManagedPolicyDetail {
                                policy_name: base.policy_name,
                                policy_id: base.policy_id,
                                arn: base.arn,
                                path: base.path,
                                default_version_id: base.default_version_id,
                                attachment_count: base.attachment_count,
                                permissions_boundary_usage_count: base.permissions_boundary_usage_count,
                                is_attachable: base.is_attachable,
                                description: base.description,
                                create_date: base.create_date,
                                update_date: base.update_date,
                                policy_version_list: Some(
                                    p.versions
                                        .iter()
                                        .map(|v| version_out(v, &p.default_version, true))
                                        .collect(),
                                ),
                            }
                        })
                        .collect(),
                ),
                is_truncated: Some(false),
                marker: None,
            })
        }
        other => crate::iam_resources::execute(core, ctx, other),
    }
}
