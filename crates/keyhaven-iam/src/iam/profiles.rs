//! Instance profiles: containers for one role that EC2 instances (and other compute) assume.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use super::{EntityKind, Iam, RECORD_VERSION, Tag, all_of, require_entity, unique_id, validate_tags};
use crate::error::{IamError, read};

keyhaven_kernel::versioned_record!(InstanceProfile, "iam-instance-profile", RECORD_VERSION);

/// IAM's quota: an instance profile holds at most one role.
const MAX_ROLES: usize = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceProfile {
    pub v: u32,
    pub account_id: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub create_date: f64,
    /// Names of the roles in the profile (as created).
    pub roles: Vec<String>,
    pub tags: Vec<Tag>,
}

impl InstanceProfile {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:instance-profile{}{}",
            self.account_id, self.path, self.name
        )
    }
}

fn not_found(name: &str) -> IamError {
    IamError::NotFound(format!("Instance Profile {name} cannot be found."))
}

pub(super) fn require_profile(
    tx: &mut dyn Transaction,
    account: &str,
    name: &str,
) -> Result<InstanceProfile, IamError> {
    records::get(tx, account, &name.to_ascii_lowercase())?.ok_or_else(|| not_found(name))
}

pub(super) fn save_profile(tx: &mut dyn Transaction, profile: &InstanceProfile) -> Result<(), IamError> {
    Ok(records::put(
        tx,
        &profile.account_id,
        &profile.name.to_ascii_lowercase(),
        profile,
    )?)
}

/// The instance profiles of `account` that hold the role.
pub(super) fn profiles_with_role(
    tx: &mut dyn Transaction,
    account: &str,
    role: &str,
) -> Result<Vec<InstanceProfile>, IamError> {
    let mut all: Vec<InstanceProfile> = all_of(tx, account)?;
    all.retain(|p| p.roles.iter().any(|r| r.eq_ignore_ascii_case(role)));
    Ok(all)
}

impl Iam {
    pub fn create_instance_profile(
        &self,
        ctx: &RequestContext,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<InstanceProfile, IamError> {
        validate_tags(&tags)?;
        let profile = InstanceProfile {
            v: RECORD_VERSION,
            account_id: ctx.account_id().to_string(),
            name: name.to_string(),
            id: unique_id("AIPA", 17)?,
            path: path.unwrap_or("/").to_string(),
            create_date: self.now(),
            roles: Vec::new(),
            tags,
        };
        self.write(|tx| {
            if records::get::<InstanceProfile>(tx, &profile.account_id, &name.to_ascii_lowercase())?.is_some() {
                return Err(IamError::AlreadyExists(format!(
                    "Instance Profile {name} already exists."
                )));
            }
            save_profile(tx, &profile)
        })?;
        Ok(profile)
    }

    pub fn instance_profile(&self, ctx: &RequestContext, name: &str) -> Result<InstanceProfile, IamError> {
        read(&*self.store, |tx| require_profile(tx, ctx.account_id(), name))
    }

    /// The account's instance profiles under a path prefix, in name order.
    pub fn instance_profiles(
        &self,
        ctx: &RequestContext,
        path_prefix: Option<&str>,
    ) -> Result<Vec<InstanceProfile>, IamError> {
        let mut all: Vec<InstanceProfile> = read(&*self.store, |tx| all_of(tx, ctx.account_id()))?;
        if let Some(prefix) = path_prefix {
            all.retain(|p| p.path.starts_with(prefix));
        }
        Ok(all)
    }

    /// The instance profiles that hold the role (NoSuchEntity when the role does not exist).
    pub fn instance_profiles_for_role(
        &self,
        ctx: &RequestContext,
        role: &str,
    ) -> Result<Vec<InstanceProfile>, IamError> {
        let account = ctx.account_id();
        read(&*self.store, |tx| {
            require_entity(tx, account, EntityKind::Role, role)?;
            profiles_with_role(tx, account, role)
        })
    }

    pub fn delete_instance_profile(&self, ctx: &RequestContext, name: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let profile = require_profile(tx, &account, name)?;
            if !profile.roles.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must remove roles from instance profile first.".into(),
                ));
            }
            records::delete::<InstanceProfile>(tx, &account, &name.to_ascii_lowercase())?;
            Ok(())
        })
    }

    pub fn add_role_to_instance_profile(&self, ctx: &RequestContext, name: &str, role: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut profile = require_profile(tx, &account, name)?;
            let role = require_entity(tx, &account, EntityKind::Role, role)?;
            if super::service_linked::is_service_linked(&role) {
                return Err(super::service_linked::protected(&role.name));
            }
            if profile.roles.iter().any(|r| r.eq_ignore_ascii_case(&role.name)) {
                return Err(IamError::AlreadyExists(format!(
                    "Role {} already exists in instance profile {}.",
                    role.name, profile.name
                )));
            }
            if profile.roles.len() >= MAX_ROLES {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES}"
                )));
            }
            profile.roles.push(role.name);
            save_profile(tx, &profile)
        })
    }

    pub fn remove_role_from_instance_profile(
        &self,
        ctx: &RequestContext,
        name: &str,
        role: &str,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut profile = require_profile(tx, &account, name)?;
            require_entity(tx, &account, EntityKind::Role, role)?;
            let before = profile.roles.len();
            profile.roles.retain(|r| !r.eq_ignore_ascii_case(role));
            if profile.roles.len() == before {
                return Err(IamError::NotFound(format!(
                    "Role {role} in Instance Profile {name} cannot be found."
                )));
            }
            save_profile(tx, &profile)
        })
    }
}
