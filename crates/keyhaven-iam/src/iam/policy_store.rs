//! IAM as the authoriser's policy store: the stored policies of the user or role a caller's
//! credentials were issued to. The policy simulator reads them the same way, so it sees exactly
//! the policies authorisation enforces.

use keyhaven_kernel::authz::{LabelledDocument, PolicyStore, StoredPolicies};
use keyhaven_kernel::context::{Principal, PrincipalKind};
use keyhaven_kernel::error::KernelError;

use super::{Entity, EntityKind, Iam};
use crate::error::IamError;

/// An entity's stored documents: its identity policies (a user's include its groups') and its
/// permissions boundary.
pub fn entity_documents(
    iam: &Iam,
    account: &str,
    entity: &Entity,
) -> Result<(Vec<LabelledDocument>, Option<LabelledDocument>), IamError> {
    let identity = match entity.kind {
        EntityKind::User => iam.user_policies(account, entity)?,
        _ => iam.role_policies(account, entity)?,
    };
    let boundary = entity
        .permissions_boundary
        .clone()
        .zip(iam.boundary_document(account, entity)?);
    Ok((identity, boundary))
}

impl Iam {
    /// The user or role `principal`'s credentials belong to, by unique id.
    fn credential_owner(&self, principal: &Principal) -> Result<Option<Entity>, IamError> {
        let account = principal.account_id.as_str();
        Ok(match (&principal.kind, &principal.user_name, &principal.role) {
            (PrincipalKind::IamUser, Some(name), _) => self
                .find_entity(account, EntityKind::User, name)?
                .filter(|user| user.id == principal.principal_id),
            (PrincipalKind::FederatedUser, Some(name), _) => self.find_entity(account, EntityKind::User, name)?,
            (PrincipalKind::AssumedRole, _, Some(role)) => self
                .find_entity(account, EntityKind::Role, &role.role_name)?
                .filter(|entity| entity.id == role.role_id),
            _ => None,
        })
    }
}

impl PolicyStore for Iam {
    fn generation(&self) -> Option<u64> {
        Iam::generation(self)
    }

    fn caller_policies(&self, principal: &Principal) -> Result<Option<StoredPolicies>, KernelError> {
        let stored = || -> Result<Option<StoredPolicies>, IamError> {
            let Some(entity) = self.credential_owner(principal)? else {
                return Ok(None);
            };
            let (identity, boundary) = entity_documents(self, &principal.account_id, &entity)?;
            let tags = entity.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
            Ok(Some(StoredPolicies {
                identity,
                boundary,
                tags,
            }))
        };
        stored().map_err(|e| match e {
            IamError::Unavailable => KernelError::Unavailable,
            other => KernelError::Internal(format!("loading the caller's policies: {other:?}")),
        })
    }
}
