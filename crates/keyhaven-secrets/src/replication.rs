//! Replicas of a secret in other Regions: created with the primary or later, kept in sync in the
//! same transaction as every change to the primary (each value sealed under the replica Region's
//! key), read-only, and promoted to standalone secrets by StopReplicationToReplica.

use keyhaven_store::Transaction;

use super::model::*;
use super::names::{self, account_of, arn_in_region};
use super::{Found, SecretValue, Secrets, SecretsFault, fault, replica_read_only};
use crate::error::SecretsError;
use crate::error::transact;
use keyhaven_kernel::context::{RequestContext, regional_scope};

const IN_SYNC: &str = "InSync";
const FAILED: &str = "Failed";

/// A Region to replicate to, and the key to use there (the Region's AWS managed key if none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSpec {
    pub region: String,
    pub kms_key_id: Option<String>,
}

/// A value sealed for one replica Region: (Region, value).
pub type ReplicaValue = (String, ValueRecord);

fn valid_region(region: &str) -> bool {
    // `^([a-z]+-)+\d+$`
    let Some((head, digits)) = region.rsplit_once('-') else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && head
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
}

pub fn validate_specs(specs: &[ReplicaSpec], own_region: &str) -> Result<(), SecretsError> {
    for spec in specs {
        if spec.region == own_region || !valid_region(&spec.region) {
            return Err(fault(SecretsFault::InvalidParameter, "Invalid replica region."));
        }
    }
    Ok(())
}

fn in_region(ctx: &RequestContext, region: &str) -> RequestContext {
    RequestContext {
        region: region.to_string(),
        ..ctx.clone()
    }
}

/// Seals `value` (version `version_id` of the secret `arn`) for each of `specs`' Regions.
pub fn seal_for(
    secrets: &Secrets,
    ctx: &RequestContext,
    arn: &str,
    specs: &[ReplicaSpec],
    version_id: &str,
    value: &SecretValue,
) -> Result<Vec<ReplicaValue>, SecretsError> {
    specs
        .iter()
        .map(|spec| {
            let regional = in_region(ctx, &spec.region);
            let sealed = secrets.seal(
                &regional,
                spec.kms_key_id.as_deref(),
                &arn_in_region(arn, &spec.region),
                version_id,
                value,
            )?;
            Ok((spec.region.clone(), sealed))
        })
        .collect()
}

fn specs_of(record: &SecretRecord) -> Vec<ReplicaSpec> {
    record
        .replicas
        .iter()
        .filter(|r| r.status == IN_SYNC)
        .map(|r| ReplicaSpec {
            region: r.region.clone(),
            kms_key_id: r.kms_key_id.clone(),
        })
        .collect()
}

/// Seals a new version's value for every replica of `record`.
pub fn seal_for_replicas(
    secrets: &Secrets,
    ctx: &RequestContext,
    record: &SecretRecord,
    version_id: &str,
    value: &SecretValue,
) -> Result<Vec<ReplicaValue>, SecretsError> {
    seal_for(secrets, ctx, &record.arn, &specs_of(record), version_id, value)
}

/// Stores the sealed values of one version for the replicas of `record` that are in sync.
pub fn store_values(
    tx: &mut dyn Transaction,
    record: &SecretRecord,
    version_id: &str,
    values: &[ReplicaValue],
) -> Result<(), SecretsError> {
    let account = account_of(&record.arn);
    let synced = |region: &str| {
        record
            .replicas
            .iter()
            .any(|r| r.region == region && r.status == IN_SYNC)
    };
    for (region, value) in values.iter().filter(|(region, _)| synced(region)) {
        save_value(tx, &regional_scope(account, region), &record.name, version_id, value)?;
    }
    Ok(())
}

/// The replica list of `record` with `specs` added; a Region that already has a secret of that
/// name fails unless `force` overwrites it.
pub fn create_replicas(
    tx: &mut dyn Transaction,
    record: &SecretRecord,
    specs: &[ReplicaSpec],
    force: bool,
) -> Result<Vec<ReplicaRecord>, SecretsError> {
    let account = account_of(&record.arn).to_string();
    let mut out = record.replicas.clone();
    for spec in specs {
        out.retain(|r| r.region != spec.region);
        let scope = regional_scope(&account, &spec.region);
        let (status, message) = match load_secret(tx, &scope, &record.name)? {
            Some(existing) if !force && existing.primary_region.is_none() => (
                FAILED,
                format!(
                    "Replication failed: Secret name {} already exists in region {}.",
                    record.name, spec.region
                ),
            ),
            existing => {
                if let Some(existing) = existing {
                    delete_secret_records(tx, &scope, &existing)?;
                }
                (IN_SYNC, "Replication succeeded".to_string())
            }
        };
        out.push(ReplicaRecord {
            region: spec.region.clone(),
            kms_key_id: spec.kms_key_id.clone(),
            status: status.to_string(),
            status_message: message,
            last_accessed: None,
        });
    }
    Ok(out)
}

/// Writes every in-sync replica of a primary from the primary's current state.
pub fn mirror(tx: &mut dyn Transaction, primary: &SecretRecord) -> Result<(), SecretsError> {
    if primary.primary_region.is_some() {
        return Ok(());
    }
    let account = account_of(&primary.arn);
    let primary_region = names::region_of(&primary.arn).to_string();
    for replica in primary.replicas.iter().filter(|r| r.status == IN_SYNC) {
        let scope = regional_scope(account, &replica.region);
        let previous = load_secret(tx, &scope, &primary.name)?;
        if let Some(previous) = &previous {
            for gone in previous.versions.keys().filter(|v| !primary.versions.contains_key(*v)) {
                delete_value(tx, &scope, &primary.name, gone)?;
            }
        }
        let copy = SecretRecord {
            arn: arn_in_region(&primary.arn, &replica.region),
            kms_key_id: replica.kms_key_id.clone(),
            last_accessed: previous.as_ref().and_then(|p| p.last_accessed),
            primary_region: Some(primary_region.clone()),
            replicas: Vec::new(),
            rotation: None,
            ..primary.clone()
        };
        save_secret(tx, &scope, &copy)?;
    }
    Ok(())
}

impl Secrets {
    /// Seals every version that has a value for the new replica Regions.
    fn seal_existing(
        &self,
        ctx: &RequestContext,
        found: &Found,
        specs: &[ReplicaSpec],
    ) -> Result<Vec<(String, Vec<ReplicaValue>)>, SecretsError> {
        let record = &found.record;
        let mut out = Vec::new();
        for (version, meta) in &record.versions {
            if !meta.has_value {
                continue;
            }
            if let Some(value) = self.value_of(ctx, &found.scope, record, version)? {
                out.push((
                    version.clone(),
                    seal_for(self, ctx, &record.arn, specs, version, &value)?,
                ));
            }
        }
        Ok(out)
    }

    pub fn replicate_secret_to_regions(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        specs: Vec<ReplicaSpec>,
        force: bool,
    ) -> Result<SecretRecord, SecretsError> {
        let regions: Vec<String> = specs.iter().map(|s| s.region.clone()).collect();
        let keys = vec![
            ("secretsmanager:AddReplicaRegions".into(), regions),
            (
                "secretsmanager:ForceOverwriteReplicaSecret".into(),
                vec![force.to_string()],
            ),
        ];
        let found = self.find_writable(ctx, secret_id, "secretsmanager:ReplicateSecretToRegions", keys)?;
        validate_specs(&specs, &ctx.region)?;
        let sealed = self.seal_existing(ctx, &found, &specs)?;
        let (_, record) = self.update(&found, |tx, record| {
            record.replicas = create_replicas(tx, record, &specs, force)?;
            for (version, values) in &sealed {
                store_values(tx, record, version, values)?;
            }
            Ok(())
        })?;
        Ok(record)
    }

    pub fn remove_regions_from_replication(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        regions: Vec<String>,
    ) -> Result<SecretRecord, SecretsError> {
        let found = self.find_writable(
            ctx,
            secret_id,
            "secretsmanager:RemoveRegionsFromReplication",
            Vec::new(),
        )?;
        let account = account_of(&found.record.arn).to_string();
        let (_, record) = self.update(&found, |tx, record| {
            for region in &regions {
                let scope = regional_scope(&account, region);
                if record
                    .replicas
                    .iter()
                    .any(|r| r.region == *region && r.status == IN_SYNC)
                    && let Some(replica) = load_secret(tx, &scope, &record.name)?
                    && replica.primary_region.is_some()
                {
                    delete_secret_records(tx, &scope, &replica)?;
                }
                record.replicas.retain(|r| r.region != *region);
            }
            Ok(())
        })?;
        Ok(record)
    }

    /// Promotes a replica (named in its own Region) to a standalone secret.
    pub fn stop_replication_to_replica(&self, ctx: &RequestContext, secret_id: &str) -> Result<String, SecretsError> {
        let found = self.find(ctx, secret_id, "secretsmanager:StopReplicationToReplica", Vec::new())?;
        let Some(primary_region) = found.record.primary_region.clone() else {
            return Err(fault(
                SecretsFault::InvalidRequest,
                "StopReplicationToReplica can only be called on a replica secret.",
            ));
        };
        let account = account_of(&found.record.arn).to_string();
        let primary_scope = regional_scope(&account, &primary_region);
        transact(&*self.store, |tx| {
            let mut replica = load_secret(tx, &found.scope, &found.record.name)?
                .filter(|r| r.primary_region.is_some())
                .ok_or_else(replica_read_only)?;
            replica.primary_region = None;
            save_secret(tx, &found.scope, &replica)?;
            if let Some(mut primary) = load_secret(tx, &primary_scope, &replica.name)? {
                primary.replicas.retain(|r| r.region != ctx.region);
                save_secret(tx, &primary_scope, &primary)?;
            }
            Ok(())
        })?;
        Ok(found.record.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_have_aws_shape() {
        for good in ["us-east-1", "eu-west-2", "ap-southeast-10", "us-gov-west-1"] {
            assert!(valid_region(good), "{good}");
        }
        for bad in ["", "us-east", "US-EAST-1", "us--1", "-1", "useast1", "us-east-1a"] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
