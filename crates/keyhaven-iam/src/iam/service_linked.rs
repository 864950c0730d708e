//! Service-linked roles: roles AWS services create in a customer's account, with the names, paths,
//! trust policies and managed policies AWS gives them (data/service-linked-roles.tsv), changed only
//! through CreateServiceLinkedRole and DeleteServiceLinkedRole.

use std::collections::HashMap;
use std::sync::OnceLock;

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::ids::new_uuid;
use keyhaven_kernel::records;
use serde::{Deserialize, Serialize};

use super::{Entity, EntityKind, Iam, NewEntity, RECORD_VERSION, RoleSettings, profiles, require_entity};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(DeletionTask, "iam-slr-deletion", RECORD_VERSION);

const TABLE: &str = include_str!("../../data/service-linked-roles.tsv");
const PATH_PREFIX: &str = "/aws-service-role/";

/// What AWS creates for one service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedRoleSpec {
    pub role_name: String,
    pub suffix_allowed: bool,
    pub policy_arn: Option<String>,
}

fn table() -> &'static HashMap<&'static str, LinkedRoleSpec> {
    static TABLE_BY_SERVICE: OnceLock<HashMap<&'static str, LinkedRoleSpec>> = OnceLock::new();
    TABLE_BY_SERVICE.get_or_init(|| {
        TABLE
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (service, role, suffix, policy) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
                Some((
                    service,
                    LinkedRoleSpec {
                        role_name: role.to_string(),
                        suffix_allowed: suffix == "true",
                        policy_arn: Some(policy.to_string()),
                    },
                ))
            })
            .collect()
    })
}

/// The role AWS creates for `service`. Services missing from the table (AWS has hundreds) get the
/// name AWS's convention gives most of them, `AWSServiceRoleFor<First label>`, and no policy.
pub fn spec_for(service: &str) -> Result<LinkedRoleSpec, IamError> {
    if let Some(spec) = table().get(service) {
        return Ok(spec.clone());
    }
    let label = service
        .strip_suffix(".amazonaws.com")
        .and_then(|s| s.split('.').next())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| IamError::InvalidInput(format!("Unknown service name: {service}")))?;
    let mut chars = label.chars();
    let capitalised: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    Ok(LinkedRoleSpec {
        role_name: format!("AWSServiceRoleFor{capitalised}"),
        suffix_allowed: true,
        policy_arn: None,
    })
}

/// Whether a role is service-linked (its path is under `/aws-service-role/`).
pub fn is_service_linked(role: &Entity) -> bool {
    role.kind == EntityKind::Role && role.path.starts_with(PATH_PREFIX)
}

/// The refusal of any change to a service-linked role other than through its service.
pub fn protected(role: &str) -> IamError {
    IamError::UnmodifiableEntity(format!(
        "Cannot perform the operation on the protected role '{role}' - this role is only modifiable by AWS"
    ))
}

/// A DeleteServiceLinkedRole request, answered by GetServiceLinkedRoleDeletionStatus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionTask {
    pub v: u32,
    pub id: String,
    pub status: DeletionStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeletionStatus {
    Succeeded,
    Failed,
}

impl DeletionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStatus::Succeeded => "SUCCEEDED",
            DeletionStatus::Failed => "FAILED",
        }
    }
}

impl Iam {
    pub fn create_service_linked_role(
        &self,
        ctx: &RequestContext,
        service: &str,
        description: Option<String>,
        suffix: Option<&str>,
    ) -> Result<Entity, IamError> {
        let spec = spec_for(service)?;
        let name = match suffix {
            Some(_) if !spec.suffix_allowed => {
                return Err(IamError::InvalidInput(format!(
                    "Custom suffix is not allowed for {service}"
                )));
            }
            Some(suffix) => format!("{}_{suffix}", spec.role_name),
            None => spec.role_name.clone(),
        };
        if self.find_entity(ctx.account_id(), EntityKind::Role, &name)?.is_some() {
            return Err(IamError::InvalidInput(format!(
                "Service role name {name} has been taken in this account, please try a different suffix."
            )));
        }
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{{"Service":"{service}"}}}}]}}"#
        );
        let path = format!("{PATH_PREFIX}{service}/");
        let role = self.create_entity(
            ctx,
            NewEntity {
                path: Some(&path),
                role: Some(RoleSettings {
                    assume_role_policy: trust,
                    description,
                    max_session_duration: None,
                }),
                ..NewEntity::named(EntityKind::Role, &name)
            },
        )?;
        match spec.policy_arn {
            Some(arn) => self.update_entity(ctx, EntityKind::Role, &name, |role, _| {
                role.attached_policies.push(arn.clone());
                Ok(role.clone())
            }),
            None => Ok(role),
        }
    }

    /// DeleteServiceLinkedRole: deletes the role (no service here still uses it) and records the
    /// task GetServiceLinkedRoleDeletionStatus reports.
    pub fn delete_service_linked_role(&self, ctx: &RequestContext, name: &str) -> Result<String, IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let role = require_entity(tx, &account, EntityKind::Role, name)?;
            // NoSuchEntity is the only client error the model declares here.
            if !is_service_linked(&role) {
                return Err(IamError::NotFound(format!(
                    "The service-linked role with name {} cannot be found.",
                    role.name
                )));
            }
            let id = format!("task{}{}/{}", role.path, role.name, new_uuid()?);
            let in_profile = !profiles::profiles_with_role(tx, &account, &role.name)?.is_empty();
            let task = DeletionTask {
                v: RECORD_VERSION,
                id: id.clone(),
                status: if in_profile {
                    DeletionStatus::Failed
                } else {
                    DeletionStatus::Succeeded
                },
                reason: in_profile.then(|| "The role is used by an instance profile.".to_string()),
            };
            if !in_profile {
                super::delete_entity_record(tx, &account, EntityKind::Role, &role.name)?;
            }
            records::put(tx, &account, &id, &task)?;
            Ok(id)
        })
    }

    pub fn service_linked_role_deletion(&self, ctx: &RequestContext, task_id: &str) -> Result<DeletionTask, IamError> {
        read(&*self.store, |tx| {
            Ok(records::get::<DeletionTask>(tx, ctx.account_id(), task_id)?)
        })?
        .ok_or_else(|| IamError::NotFound(format!("Deletion task {task_id} cannot be found.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_roles_as_aws_does() {
        let cases = [
            ("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling", true),
            ("batch.amazonaws.com", "AWSServiceRoleForBatch", false),
            (
                "dynamodb.application-autoscaling.amazonaws.com",
                "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
                false,
            ),
            ("newthing.amazonaws.com", "AWSServiceRoleForNewthing", true),
        ];
        for (service, name, suffix) in cases {
            let spec = spec_for(service).expect(service);
            assert_eq!(
                (spec.role_name.as_str(), spec.suffix_allowed),
                (name, suffix),
                "{service}"
            );
        }
        assert!(table().len() >= 88);
        assert!(matches!(spec_for("not-a-service"), Err(IamError::InvalidInput(_))));
    }
}
