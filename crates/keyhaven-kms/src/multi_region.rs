//! Multi-Region keys: one `mrk-` key id in several Regions of one account, a primary and its replicas, each its
//! own key record (policy, tags, aliases, description and state are each member's) sharing the key material and
//! rotation, which the primary decides and copies to every replica in the same transaction. Every member's record
//! carries the family (primary and replica Regions), rewritten in all of them when it changes.

use keyhaven_kernel::authz::Access;
use keyhaven_kernel::context::{RequestContext, regional_scope};
use keyhaven_kernel::tags::Tag;
use keyhaven_store::Transaction;

use crate::model::{KeyRecord, KeyState, MULTI_REGION_PREFIX, Material, MultiRegion, ORIGIN_EXTERNAL, RECORD_VERSION};
use crate::{
    JOB_ROTATE_KEY, KeyCheck, KeyRef, Kms, KmsError, default_key_policy, job_id, parse_key_policy, require_enabled,
    resolve, schedule_deletion, validate_tags,
};

/// A new multi-Region key id: `mrk-` and 32 lowercase hex digits.
pub(crate) fn new_key_id() -> Result<String, KmsError> {
    Ok(format!(
        "{MULTI_REGION_PREFIX}{}",
        hex::encode(keyhaven_crypto::random_array::<16>()?)
    ))
}

/// A primary key that still has replicas.
pub(crate) fn has_replicas(record: &KeyRecord) -> bool {
    !record.is_replica()
        && record
            .multi_region
            .as_ref()
            .is_some_and(|m| !m.replica_regions.is_empty())
}

/// Rotation is the primary's: a replica refuses `operation`.
pub(crate) fn require_primary(record: &KeyRecord, operation: &str) -> Result<(), KmsError> {
    if record.is_replica() {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} is a multi-region replica key which is not valid for {operation}.",
            record.arn()
        )));
    }
    Ok(())
}

fn member(tx: &mut dyn Transaction, record: &KeyRecord, region: &str) -> Result<Option<KeyRecord>, KmsError> {
    resolve::load_key(tx, &regional_scope(&record.account_id, region), &record.key_id)
}

/// The primary's materials as a replica keeps them: generated material as it is; imported material (each Region
/// imports its own copy) with the replica's own sealed copy, or none until the replica imports it.
fn replica_materials(primary: &KeyRecord, replica: &KeyRecord) -> Vec<Material> {
    primary
        .materials
        .iter()
        .map(|material| {
            let mut copy = material.clone();
            if primary.origin == ORIGIN_EXTERNAL {
                // The replica's own copy and its own expiry; the rotation state is the primary's.
                let own = replica.materials.iter().find(|own| own.id == material.id);
                copy.sealed = own.map(|own| own.sealed.clone()).unwrap_or_default();
                if let (Some(theirs), Some(mine)) = (copy.imported.as_mut(), own.and_then(|o| o.imported.as_ref())) {
                    theirs.expiration_model = mine.expiration_model.clone();
                    theirs.valid_to = mine.valid_to;
                }
            }
            copy
        })
        .collect()
}

/// Imported material waiting for rotation that some replica has not imported yet: the primary cannot rotate.
pub(crate) fn require_replicas_imported(tx: &mut dyn Transaction, primary: &KeyRecord) -> Result<(), KmsError> {
    let Some(family) = primary.multi_region.as_ref().filter(|_| !primary.is_replica()) else {
        return Ok(());
    };
    let pending: Vec<&str> = primary
        .materials
        .iter()
        .filter(|m| m.pending_rotation())
        .map(|m| m.id.as_str())
        .collect();
    for region in &family.replica_regions {
        let replica = member(tx, primary, region)?;
        let missing = replica.is_some_and(|replica| {
            pending
                .iter()
                .any(|id| !replica.materials.iter().any(|m| m.id == *id && !m.sealed.is_empty()))
        });
        if missing {
            return Err(KmsError::InvalidState(
                "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key."
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Copies the primary's key material (see [`replica_materials`]) and rotation settings to each replica.
pub(crate) fn sync(tx: &mut dyn Transaction, primary: &KeyRecord) -> Result<(), KmsError> {
    let Some(family) = primary.multi_region.as_ref().filter(|_| !primary.is_replica()) else {
        return Ok(());
    };
    for region in &family.replica_regions {
        if let Some(mut replica) = member(tx, primary, region)? {
            replica.materials = replica_materials(primary, &replica);
            replica.rotation = primary.rotation.clone();
            replica.on_demand_rotations = primary.on_demand_rotations;
            replica.revision += 1;
            resolve::save_key(tx, &replica)?;
        }
    }
    Ok(())
}

/// Writes `family` into the record of every member but the one in `skip` (which its caller saves).
fn save_family(
    tx: &mut dyn Transaction,
    record: &KeyRecord,
    family: &MultiRegion,
    skip: Option<&str>,
) -> Result<(), KmsError> {
    for region in std::iter::once(&family.primary_region).chain(&family.replica_regions) {
        if Some(region.as_str()) == skip {
            continue;
        }
        if let Some(mut other) = member(tx, record, region)? {
            other.multi_region = Some(family.clone());
            other.revision += 1;
            resolve::save_key(tx, &other)?;
        }
    }
    Ok(())
}

/// A member's deletion job ran: its Region leaves the family, and a primary waiting for its replicas is scheduled
/// for deletion when the last one goes.
pub(crate) fn member_deleted(tx: &mut dyn Transaction, record: &KeyRecord, now: i64) -> Result<(), KmsError> {
    let Some(family) = record.multi_region.as_ref().filter(|_| record.is_replica()) else {
        return Ok(());
    };
    let mut family = family.clone();
    family.replica_regions.retain(|r| *r != record.region);
    save_family(tx, record, &family, None)?;
    if let Some(mut primary) = member(tx, record, &family.primary_region)?
        && primary.state == KeyState::PendingReplicaDeletion
        && family.replica_regions.is_empty()
    {
        schedule_deletion(tx, &mut primary, now)?;
        primary.revision += 1;
        resolve::save_key(tx, &primary)?;
    }
    Ok(())
}

/// A Region name as AWS spells them (`us-east-1`, `us-gov-west-1`, `ap-southeast-3`, ...).
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// ReplicateKey's request beyond the key and Region.
#[derive(Debug, Default)]
pub struct ReplicaSettings {
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

impl Kms {
    /// ReplicateKey: a replica of a primary key in another Region, with its own policy, description and tags.
    pub fn replicate_key(
        &self,
        ctx: &RequestContext,
        key: &str,
        replica_region: &str,
        settings: ReplicaSettings,
    ) -> Result<KeyRecord, KmsError> {
        if !is_region(replica_region) {
            return Err(KmsError::Validation(format!(
                "Region {replica_region} is not a valid Region or multi-Region keys are not supported in Region {replica_region}."
            )));
        }
        let key_ref = match KeyRef::parse(key, ctx)? {
            KeyRef::Alias { .. } => {
                return Err(KmsError::InvalidArn(
                    "Key Aliases are not supported for this operation.".into(),
                ));
            }
            key_ref => key_ref,
        };
        validate_tags(&settings.tags)?;
        let mut in_replica_region = ctx.clone();
        in_replica_region.region = replica_region.to_string();
        let request_keys = [("kms:ReplicaRegion".to_string(), vec![replica_region.to_string()])];
        let now = self.now();
        self.write(|tx| {
            let primary = resolve::resolve_in(tx, &key_ref)?;
            // A replica is made in the caller's own account: another account's key cannot be replicated into it.
            if primary.account_id != ctx.account_id() {
                return Err(key_ref.not_found());
            }
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(
                tx,
                ctx,
                "kms:ReplicateKey",
                &primary,
                &parse_key_policy(&primary)?,
                check,
            )?;
            let not_primary =
                || KmsError::UnsupportedOperation(format!("{} is not a multi-region primary key.", primary.arn()));
            let family = primary.multi_region.clone().ok_or_else(not_primary)?;
            if primary.is_replica() {
                return Err(not_primary());
            }
            require_enabled(&primary)?;
            if replica_region == primary.region {
                return Err(KmsError::Validation(format!(
                    "{replica_region} cannot have a replica because it contains the primary."
                )));
            }
            if family.replica_regions.iter().any(|r| r == replica_region) {
                return Err(KmsError::AlreadyExists(
                    "You can create only one replica of each primary key in each AWS Region.".into(),
                ));
            }
            // Creating the replica is a CreateKey in its Region, authorised there.
            let create_keys = [
                ("kms:MultiRegion".to_string(), vec!["true".to_string()]),
                ("kms:MultiRegionKeyType".to_string(), vec!["REPLICA".to_string()]),
                ("kms:KeySpec".to_string(), vec![primary.key_spec.clone()]),
                ("kms:KeyUsage".to_string(), vec![primary.key_usage.clone()]),
                ("kms:KeyOrigin".to_string(), vec![primary.origin.clone()]),
            ];
            self.authz.check(
                &in_replica_region,
                &Access {
                    keys: &create_keys,
                    ..Access::unscoped("kms:CreateKey")
                },
            )?;
            let mut family = family;
            family.replica_regions.push(replica_region.to_string());
            let explicit_policy = settings.policy.is_some();
            let external = primary.origin == ORIGIN_EXTERNAL;
            let mut replica = KeyRecord {
                v: RECORD_VERSION,
                revision: 1,
                key_id: primary.key_id.clone(),
                account_id: primary.account_id.clone(),
                region: replica_region.to_string(),
                creation_date: now,
                description: settings.description.clone().unwrap_or_default(),
                key_usage: primary.key_usage.clone(),
                key_spec: primary.key_spec.clone(),
                origin: primary.origin.clone(),
                key_manager: primary.key_manager.clone(),
                state: KeyState::Enabled,
                deletion_date: None,
                pending_window_days: None,
                policy: settings
                    .policy
                    .clone()
                    .unwrap_or_else(|| default_key_policy(&primary.account_id)),
                tags: settings.tags.clone(),
                rotation: primary.rotation.clone(),
                materials: primary.materials.clone(),
                on_demand_rotations: primary.on_demand_rotations,
                import_parameters: Vec::new(),
                multi_region: Some(family.clone()),
                custom_key_store: None,
            };
            // A replica of an imported key has the primary's material ids but imports the material itself.
            if external {
                replica.materials = replica_materials(&primary, &replica);
                replica.state = KeyState::PendingImport;
            }
            if explicit_policy {
                self.check_new_policy(
                    &in_replica_region,
                    &replica,
                    &[],
                    &replica.policy,
                    settings.bypass_policy_lockout_safety_check,
                )?;
            }
            if resolve::load_key(tx, &resolve::scope_of(&replica), &replica.key_id)?.is_some() {
                return Err(KmsError::AlreadyExists(
                    "You can create only one replica of each primary key in each AWS Region.".into(),
                ));
            }
            resolve::save_key(tx, &replica)?;
            save_family(tx, &primary, &family, Some(replica_region))?;
            Ok(replica)
        })
    }

    /// UpdatePrimaryRegion: a replica becomes the primary and the primary a replica.
    pub fn update_primary_region(&self, ctx: &RequestContext, key: &str, primary_region: &str) -> Result<(), KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        let request_keys = [("kms:PrimaryRegion".to_string(), vec![primary_region.to_string()])];
        let now = self.clock.now().unix_timestamp();
        self.write(|tx| {
            let primary = resolve::resolve_in(tx, &key_ref)?;
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(
                tx,
                ctx,
                "kms:UpdatePrimaryRegion",
                &primary,
                &parse_key_policy(&primary)?,
                check,
            )?;
            let family = primary
                .multi_region
                .clone()
                .filter(|_| !primary.is_replica())
                .ok_or_else(|| {
                    KmsError::InvalidState(format!("{} is not a multi-Region primary key.", primary.arn()))
                })?;
            require_enabled(&primary)?;
            if primary_region == primary.region {
                return Ok(());
            }
            let mut target = family
                .replica_regions
                .iter()
                .any(|r| r == primary_region)
                .then(|| member(tx, &primary, primary_region))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    KmsError::Validation(format!(
                        "{} does not have a replica key in the specified Region.",
                        primary.key_id
                    ))
                })?;
            let mut in_target_region = ctx.clone();
            in_target_region.region = primary_region.to_string();
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(
                tx,
                &in_target_region,
                "kms:UpdatePrimaryRegion",
                &target,
                &parse_key_policy(&target)?,
                check,
            )?;
            require_enabled(&target)?;
            let mut replicas: Vec<String> = family
                .replica_regions
                .iter()
                .filter(|r| *r != primary_region)
                .cloned()
                .collect();
            replicas.push(primary.region.clone());
            let family = MultiRegion {
                primary_region: primary_region.to_string(),
                replica_regions: replicas,
            };
            // Automatic rotation is scheduled for the primary: it moves with it.
            tx.cancel(&job_id(JOB_ROTATE_KEY, &primary))?;
            target.multi_region = Some(family.clone());
            if target.rotation.enabled {
                let due = target.rotation.next_rotation.map_or(now, |t| t as i64);
                self.schedule_rotation(tx, &target, due)?;
            }
            target.revision += 1;
            resolve::save_key(tx, &target)?;
            save_family(tx, &primary, &family, Some(primary_region))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for (name, valid) in [
            ("us-east-1", true),
            ("us-gov-west-1", true),
            ("ap-southeast-3", true),
            ("us-invalid", false),
            ("US-EAST-1", false),
            ("east-1", false),
        ] {
            assert_eq!(is_region(name), valid, "{name}");
        }
    }

    #[test]
    fn multi_region_key_ids() {
        let id = new_key_id().expect("id");
        assert!(id.starts_with("mrk-") && id.len() == 36 && id[4..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
