//! AWS Secrets Manager: secrets, versions and staging labels, deletion windows, resource policies,
//! replication and rotation.

pub mod error;
pub mod filters;
pub mod model;
pub mod names;
pub mod password;
mod replication;
pub mod rotation;
pub mod schedule;
mod services;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use keyhaven_crypto::{EncryptionContext, SecretBytes};
use keyhaven_policy::{PolicyDocument, PolicyKind, ResourceRules};
use keyhaven_store::{Backend, Job, Transaction};
use serde_json::json;
use zeroize::Zeroizing;

use crate::error::fault;
pub use crate::error::{SecretsError, SecretsFault};
use crate::error::{read, transact};
pub use filters::Filter;
use keyhaven_kernel::audit::ServiceEvent;
use keyhaven_kernel::authz::{Access, Authorizer, Resource, ResourcePolicy};
use keyhaven_kernel::clock::{Clock, epoch_seconds};
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::OnBehalf;
use keyhaven_kernel::on_behalf::{KeyService, KmsFailure};
pub use keyhaven_kernel::on_behalf::{SecretValue, ValueView};
use keyhaven_kernel::paging::{self, Page};
pub use keyhaven_kernel::tags::Tag;
use keyhaven_kernel::tags::{self, KeyCase, TagRules, TagViolation};
pub use model::*;
use names::Lookup;
pub use replication::ReplicaSpec;
pub use rotation::{RotationFunctions, RotationInput, StepEvent};

pub const SERVICE_PRINCIPAL: &str = "secretsmanager.amazonaws.com";
pub const JOB_DELETE: &str = "secrets.delete";
pub const JOB_ROTATE: &str = "secrets.rotate";
const MAX_VALUE_BYTES: usize = 65_536;
const MAX_VERSIONS: usize = 100;
const VERSION_GRACE_SECONDS: f64 = 86_400.0;
const DEFAULT_RECOVERY_DAYS: i64 = 30;
const DAY: f64 = 86_400.0;

fn not_found() -> SecretsError {
    fault(
        SecretsFault::ResourceNotFound,
        "Secrets Manager can't find the specified secret.",
    )
}

fn marked_for_deletion() -> SecretsError {
    fault(
        SecretsFault::InvalidRequest,
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

fn replica_read_only() -> SecretsError {
    fault(
        SecretsFault::InvalidParameter,
        "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
    )
}

fn token_in_use(token: &str, arn: &str) -> SecretsError {
    fault(
        SecretsFault::ResourceExists,
        format!(
            "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."
        ),
    )
}

/// Builds the one value a request may carry; both, or an empty one, is refused.
pub fn value_from_request(
    string: Option<Zeroizing<String>>,
    binary: Option<SecretBytes>,
) -> Result<Option<SecretValue>, SecretsError> {
    let value = match (string, binary) {
        (Some(_), Some(_)) => {
            return Err(fault(
                SecretsFault::InvalidParameter,
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            ));
        }
        (Some(s), None) => SecretValue::String(s),
        (None, Some(b)) => SecretValue::Binary(b),
        (None, None) => return Ok(None),
    };
    if value.bytes().len() > MAX_VALUE_BYTES {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "The secret value exceeds the maximum allowed size of 65536 bytes.",
        ));
    }
    Ok(Some(value))
}

/// CreateSecret's input, shape-validated by the wire layer.
#[derive(Debug, Default)]
pub struct CreateInput {
    pub name: String,
    pub token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub value: Option<SecretValue>,
    pub tags: Vec<Tag>,
    pub replicas: Vec<ReplicaSpec>,
    pub force_overwrite_replica: bool,
}

/// What a write answers: the secret, and the version it made (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub arn: String,
    pub name: String,
    pub version_id: Option<String>,
    pub stages: Vec<String>,
    pub replication: Vec<ReplicaRecord>,
}

/// A version as ListSecretVersionIds shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionView {
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: f64,
    pub last_accessed: Option<f64>,
}

/// BatchGetSecretValue's answer: the values read, the failures by secret id, the next page.
pub type BatchRead = (Vec<ValueView>, Vec<(String, SecretsError)>, Option<String>);

/// ListSecrets' input.
#[derive(Debug, Default)]
pub struct ListInput {
    pub include_planned_deletion: bool,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
    pub filters: Vec<Filter>,
    pub sort_order: Option<String>,
    pub sort_by: Option<String>,
}

/// A secret found by a `SecretId`, with the storage scope it lives in.
pub(crate) struct Found {
    pub scope: String,
    pub record: SecretRecord,
}

/// A secret under the default key (`kms_key_id` none) can be read or written only from its own
/// account: the key's policy admits no other, and AWS says so before trying (text recorded from AWS).
fn check_default_key_reach(ctx: &RequestContext, kms_key_id: Option<&str>, arn: &str) -> Result<(), SecretsError> {
    if kms_key_id.is_none() && names::account_of(arn) != ctx.account_id() {
        return Err(fault(
            SecretsFault::InvalidRequest,
            "You can't access a secret from a different AWS account if you encrypt the secret with the default KMS \
             service key.",
        ));
    }
    Ok(())
}

/// The Secrets Manager service of one server.
pub struct Secrets {
    store: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    authz: Arc<Authorizer>,
    kms: Arc<dyn KeyService>,
    functions: OnceLock<Arc<dyn RotationFunctions>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets")
    }
}

fn encryption_context(arn: &str, version_id: &str) -> EncryptionContext {
    let mut context = EncryptionContext::new();
    context.insert("SecretARN".to_string(), arn.to_string());
    context.insert("SecretVersionId".to_string(), version_id.to_string());
    context
}

fn associated_data(arn: &str, version_id: &str) -> Vec<u8> {
    format!("{arn}#{version_id}").into_bytes()
}

/// KMS failures as Secrets Manager reports them, when sealing a value.
fn encryption_fault(e: KmsFailure) -> SecretsError {
    match e {
        KmsFailure::AccessDenied(_) => SecretsError::AccessDenied("Access to KMS is not allowed".into()),
        KmsFailure::NotFound(_) | KmsFailure::Disabled(_) | KmsFailure::Unusable(_) | KmsFailure::InvalidCiphertext => {
            fault(
                SecretsFault::EncryptionFailure,
                "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.",
            )
        }
        KmsFailure::Internal(detail) => SecretsError::Internal(detail),
        KmsFailure::Unavailable => SecretsError::Unavailable,
    }
}

/// KMS failures as Secrets Manager reports them, when opening a value.
fn decryption_fault(e: KmsFailure) -> SecretsError {
    match e {
        KmsFailure::AccessDenied(_) => SecretsError::AccessDenied("Access to KMS is not allowed".into()),
        KmsFailure::NotFound(_) | KmsFailure::Disabled(_) | KmsFailure::Unusable(_) | KmsFailure::InvalidCiphertext => {
            fault(
                SecretsFault::DecryptionFailure,
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
            )
        }
        KmsFailure::Internal(detail) => SecretsError::Internal(detail),
        KmsFailure::Unavailable => SecretsError::Unavailable,
    }
}

pub fn validate_token(token: &str) -> Result<(), SecretsError> {
    if !(32..=64).contains(&token.len()) {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "ClientRequestToken must be 32-64 characters long.",
        ));
    }
    Ok(())
}

fn new_token() -> Result<String, SecretsError> {
    Ok(keyhaven_kernel::ids::new_uuid()?)
}

/// Secrets Manager's tag limits.
const TAG_RULES: TagRules = TagRules::at_most_50(false, KeyCase::Unchecked);

fn validate_tags(tags: &[Tag]) -> Result<(), SecretsError> {
    tags::check(tags, &TAG_RULES).map_err(tag_error)
}

fn tag_error(violation: TagViolation) -> SecretsError {
    match violation {
        TagViolation::TooMany => fault(
            SecretsFault::InvalidParameter,
            "Number of tags exceeds Secrets Manager's limit of 50.",
        ),
        // Secrets Manager's rules check neither.
        TagViolation::ReservedPrefix | TagViolation::DuplicateKey => {
            SecretsError::Internal(format!("tag rule outside Secrets Manager's: {violation:?}"))
        }
    }
}

impl Secrets {
    pub fn new(
        store: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        authz: Arc<Authorizer>,
        kms: Arc<dyn KeyService>,
    ) -> Self {
        Self {
            store,
            clock,
            authz,
            kms,
            functions: OnceLock::new(),
        }
    }

    /// Installs the rotation functions the server's configuration registers (once, at start-up).
    pub fn set_rotation_functions(&self, functions: Arc<dyn RotationFunctions>) {
        let _ = self.functions.set(functions);
    }

    fn now(&self) -> f64 {
        epoch_seconds(self.clock.now())
    }

    // ---- finding and authorising ----

    fn lookup(&self, ctx: &RequestContext, secret_id: &str) -> Result<(Lookup, Option<SecretRecord>), SecretsError> {
        if !secret_id.starts_with("arn:") {
            names::validate_name(secret_id)?;
        }
        let lookup = names::parse_secret_id(secret_id, ctx.account_id(), &ctx.region);
        if lookup.region != ctx.region {
            return Ok((lookup, None));
        }
        let scope = keyhaven_kernel::context::regional_scope(&lookup.account, &lookup.region);
        let record = read(&*self.store, |tx| {
            for (name, suffix) in &lookup.candidates {
                if let Some(record) = load_secret(tx, &scope, name)?
                    && suffix.as_deref().is_none_or(|s| s == names::suffix_of(&record.arn))
                {
                    return Ok(Some(record));
                }
            }
            Ok(None)
        })?;
        Ok((lookup, record))
    }

    /// Authorises `action` on a secret (or, when it does not exist, on the ARN it would have),
    /// with its resource policy and tags.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        account: &str,
        resource: &str,
        record: Option<&SecretRecord>,
        mut keys: Vec<(String, Vec<String>)>,
    ) -> Result<(), SecretsError> {
        if let Some(record) = record {
            for (k, v) in &record.tags {
                keys.push((format!("aws:ResourceTag/{k}"), vec![v.clone()]));
                keys.push((format!("secretsmanager:ResourceTag/{k}"), vec![v.clone()]));
            }
            keys.push(("secretsmanager:SecretId".into(), vec![record.arn.clone()]));
            if let Some(region) = &record.primary_region {
                keys.push(("secretsmanager:SecretPrimaryRegion".into(), vec![region.clone()]));
            }
        }
        let document = match record.and_then(|r| r.policy.as_deref()) {
            Some(text) => Some(
                PolicyDocument::parse_as(text, PolicyKind::Resource)
                    .map_err(|e| SecretsError::Internal(format!("stored secret policy does not parse: {e}")))?,
            ),
            None => None,
        };
        let resource_policy = document.as_ref().map(|document| ResourcePolicy {
            id: resource,
            document,
            rules: ResourceRules::Standard,
        });
        let target = [Resource {
            policy: resource_policy,
            keys: &keys,
            ..Resource::new(resource, account)
        }];
        Ok(self.authz.check(ctx, &Access::on(action, &target))?)
    }

    /// Finds the secret `secret_id` names and authorises `action` on it: AccessDenied before
    /// ResourceNotFound, so a caller learns nothing of secrets it may not touch.
    pub(crate) fn find(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        action: &str,
        keys: Vec<(String, Vec<String>)>,
    ) -> Result<Found, SecretsError> {
        let (lookup, record) = self.lookup(ctx, secret_id)?;
        let resource = match &record {
            Some(record) => record.arn.clone(),
            None => format!(
                "arn:aws:secretsmanager:{}:{}:secret:{}",
                lookup.region,
                lookup.account,
                lookup.candidates.last().map(|(n, _)| n.as_str()).unwrap_or_default()
            ),
        };
        self.authorize(ctx, action, &lookup.account, &resource, record.as_ref(), keys)?;
        let record = record.ok_or_else(not_found)?;
        Ok(Found {
            scope: keyhaven_kernel::context::regional_scope(&lookup.account, &lookup.region),
            record,
        })
    }

    /// [`Secrets::find`] for changes: refused on secrets scheduled for deletion and on replicas.
    fn find_writable(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        action: &str,
        keys: Vec<(String, Vec<String>)>,
    ) -> Result<Found, SecretsError> {
        let found = self.find(ctx, secret_id, action, keys)?;
        if found.record.primary_region.is_some() {
            return Err(replica_read_only());
        }
        if found.record.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        Ok(found)
    }

    /// Runs `change` on the freshly read record in one transaction, then saves it and mirrors it
    /// to its replicas. `change` re-checks what it relies on: another writer may have been first.
    fn update<T>(
        &self,
        found: &Found,
        mut change: impl FnMut(&mut dyn Transaction, &mut SecretRecord) -> Result<T, SecretsError>,
    ) -> Result<(T, SecretRecord), SecretsError> {
        transact(&*self.store, |tx| {
            let mut record = load_secret(tx, &found.scope, &found.record.name)?
                .filter(|r| r.arn == found.record.arn)
                .ok_or_else(not_found)?;
            let out = change(tx, &mut record)?;
            save_secret(tx, &found.scope, &record)?;
            replication::mirror(tx, &record)?;
            Ok((out, record))
        })
    }

    // ---- values through KMS ----

    fn on_behalf<'a>(&'a self, ctx: &'a RequestContext) -> OnBehalf<'a> {
        OnBehalf {
            kms: &*self.kms,
            ctx,
            service: SERVICE_PRINCIPAL,
        }
    }

    /// The key reference a secret's values are sealed under, creating the AWS managed key on
    /// first use (only its own account may: AWS refuses the default key across accounts).
    fn key_for(&self, ctx: &RequestContext, kms_key_id: Option<&str>, arn: &str) -> Result<String, SecretsError> {
        if let Some(key) = kms_key_id {
            return Ok(key.to_string());
        }
        check_default_key_reach(ctx, None, arn)?;
        let account = names::account_of(arn);
        let region = names::region_of(arn);
        if region == ctx.region {
            self.kms
                .ensure_aws_managed_key(ctx, "secretsmanager")
                .map_err(encryption_fault)?;
        }
        Ok(format!("arn:aws:kms:{region}:{account}:{DEFAULT_KEY_ALIAS}"))
    }

    /// Seals a version's value for the secret `arn` under `kms_key_id` (or the default key).
    fn seal(
        &self,
        ctx: &RequestContext,
        kms_key_id: Option<&str>,
        arn: &str,
        version_id: &str,
        value: &SecretValue,
    ) -> Result<ValueRecord, SecretsError> {
        let key = self.key_for(ctx, kms_key_id, arn)?;
        let envelope = self
            .on_behalf(ctx)
            .seal(
                &key,
                &encryption_context(arn, version_id),
                &associated_data(arn, version_id),
                value.bytes(),
            )
            .map_err(encryption_fault)?;
        Ok(ValueRecord {
            binary: value.is_binary(),
            envelope,
        })
    }

    fn open(
        &self,
        ctx: &RequestContext,
        arn: &str,
        version_id: &str,
        stored: &ValueRecord,
    ) -> Result<SecretValue, SecretsError> {
        let plaintext = self
            .on_behalf(ctx)
            .open(
                &stored.envelope,
                &encryption_context(arn, version_id),
                &associated_data(arn, version_id),
            )
            .map_err(decryption_fault)?;
        if stored.binary {
            return Ok(SecretValue::Binary(plaintext));
        }
        // Checked in place, so a failure leaves no unzeroized copy behind.
        std::str::from_utf8(plaintext.expose())
            .map(|text| SecretValue::String(Zeroizing::new(text.to_string())))
            .map_err(|_| SecretsError::Internal("secret string is not UTF-8".into()))
    }

    /// Decrypts the stored value of `version_id` of a secret.
    fn value_of(
        &self,
        ctx: &RequestContext,
        scope: &str,
        record: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<SecretValue>, SecretsError> {
        check_default_key_reach(ctx, record.kms_key_id.as_deref(), &record.arn)?;
        let stored = read(&*self.store, |tx| load_value(tx, scope, &record.name, version_id))?;
        stored
            .map(|stored| self.open(ctx, &record.arn, version_id, &stored))
            .transpose()
    }

    // ---- CreateSecret ----

    pub fn create_secret(&self, ctx: &RequestContext, input: CreateInput) -> Result<Written, SecretsError> {
        names::validate_name(&input.name)?;
        let token = match &input.token {
            Some(token) => token.clone(),
            None => new_token()?,
        };
        validate_token(&token)?;
        validate_tags(&input.tags)?;
        replication::validate_specs(&input.replicas, &ctx.region)?;
        let scope = ctx.regional_scope();
        let existing = read(&*self.store, |tx| load_secret(tx, &scope, &input.name))?;
        let mut keys = tags::request_keys(&input.tags, &[]);
        keys.push(("secretsmanager:Name".into(), vec![input.name.clone()]));
        if let Some(key) = &input.kms_key_id {
            keys.push(("secretsmanager:KmsKeyId".into(), vec![key.clone()]));
        }
        if let Some(description) = &input.description {
            keys.push(("secretsmanager:Description".into(), vec![description.clone()]));
        }
        let regions: Vec<String> = input.replicas.iter().map(|r| r.region.clone()).collect();
        if !regions.is_empty() {
            keys.push(("secretsmanager:AddReplicaRegions".into(), regions));
        }
        let resource = match &existing {
            Some(record) => record.arn.clone(),
            None => format!(
                "arn:aws:secretsmanager:{}:{}:secret:{}",
                ctx.region,
                ctx.account_id(),
                input.name
            ),
        };
        self.authorize(
            ctx,
            "secretsmanager:CreateSecret",
            ctx.account_id(),
            &resource,
            existing.as_ref(),
            keys,
        )?;
        if let Some(record) = existing {
            return self.repeated_create(ctx, &scope, record, &token, input.value.as_ref());
        }

        let arn = names::secret_arn(&ctx.region, ctx.account_id(), &input.name, &names::random_suffix()?);
        let sealed = match &input.value {
            Some(value) => Some(self.seal(ctx, input.kms_key_id.as_deref(), &arn, &token, value)?),
            None => None,
        };
        let replica_values = match &input.value {
            Some(value) => replication::seal_for(self, ctx, &arn, &input.replicas, &token, value)?,
            None => Vec::new(),
        };
        let now = self.now();
        let mut record = SecretRecord {
            v: RECORD_VERSION,
            name: input.name.clone(),
            arn: arn.clone(),
            description: input.description.clone(),
            kms_key_id: input.kms_key_id.clone(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted: None,
            deletion_due: None,
            versions: Default::default(),
            tags: input.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            ever_tagged: !input.tags.is_empty(),
            policy: None,
            rotation_enabled: false,
            rotation_lambda_arn: None,
            rotation_rules: None,
            last_rotated: None,
            next_rotation: None,
            rotation: None,
            primary_region: None,
            replicas: Vec::new(),
        };
        if sealed.is_some() {
            record.versions.insert(
                token.clone(),
                VersionMeta {
                    created: now,
                    stages: vec![AWSCURRENT.to_string()],
                    has_value: true,
                    last_accessed: None,
                },
            );
        }
        let record = transact(&*self.store, |tx| {
            if let Some(other) = load_secret(tx, &scope, &input.name)? {
                return Err(fault(
                    SecretsFault::ResourceExists,
                    format!("The operation failed because the secret {} already exists.", other.name),
                ));
            }
            let mut record = record.clone();
            if let Some(value) = &sealed {
                save_value(tx, &scope, &record.name, &token, value)?;
            }
            record.replicas =
                replication::create_replicas(tx, &record, &input.replicas, input.force_overwrite_replica)?;
            replication::store_values(tx, &record, &token, &replica_values)?;
            save_secret(tx, &scope, &record)?;
            replication::mirror(tx, &record)?;
            Ok(record)
        })?;
        Ok(Written {
            arn: record.arn.clone(),
            name: record.name.clone(),
            version_id: sealed.is_some().then_some(token),
            stages: Vec::new(),
            replication: record.replicas.clone(),
        })
    }

    /// CreateSecret for a name that exists: the same token with the same value is a retry of a
    /// create that succeeded; anything else is refused.
    fn repeated_create(
        &self,
        ctx: &RequestContext,
        scope: &str,
        record: SecretRecord,
        token: &str,
        value: Option<&SecretValue>,
    ) -> Result<Written, SecretsError> {
        if record.deleted.is_some() {
            return Err(fault(
                SecretsFault::InvalidRequest,
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        let Some(meta) = record.versions.get(token) else {
            return Err(fault(
                SecretsFault::ResourceExists,
                format!(
                    "The operation failed because the secret {} already exists.",
                    record.name
                ),
            ));
        };
        let stored = self.value_of(ctx, scope, &record, token)?;
        match (stored, value) {
            (Some(stored), Some(value)) if stored.same_as(value) => Ok(Written {
                arn: record.arn.clone(),
                name: record.name.clone(),
                version_id: Some(token.to_string()),
                stages: meta.stages.clone(),
                replication: record.replicas.clone(),
            }),
            _ => Err(token_in_use(token, &record.arn)),
        }
    }

    // ---- PutSecretValue / UpdateSecret ----

    /// Adds a version with `value` under `token` and moves `stages` onto it. A token already used
    /// with the same value is a successful retry; with another value it is refused. The AWSPENDING
    /// placeholder a rotation registered takes its value here.
    fn add_version(
        &self,
        ctx: &RequestContext,
        found: &Found,
        token: &str,
        value: &SecretValue,
        stages: &[String],
    ) -> Result<Written, SecretsError> {
        let record = &found.record;
        if let Some(meta) = record.versions.get(token)
            && meta.has_value
        {
            let stored = self.value_of(ctx, &found.scope, record, token)?;
            return match stored {
                Some(stored) if stored.same_as(value) => Ok(Written {
                    arn: record.arn.clone(),
                    name: record.name.clone(),
                    version_id: Some(token.to_string()),
                    stages: meta.stages.clone(),
                    replication: record.replicas.clone(),
                }),
                _ => Err(token_in_use(token, &record.arn)),
            };
        }
        let sealed = self.seal(ctx, record.kms_key_id.as_deref(), &record.arn, token, value)?;
        let replica_values = replication::seal_for_replicas(self, ctx, record, token, value)?;
        let now = self.now();
        let ((), record) = self.update(found, |tx, record| {
            if record.deleted.is_some() {
                return Err(marked_for_deletion());
            }
            if record.versions.get(token).is_some_and(|m| m.has_value) {
                return Err(token_in_use(token, &record.arn));
            }
            let first = record.version_with(AWSCURRENT).is_none();
            let meta = record.versions.entry(token.to_string()).or_insert(VersionMeta {
                created: now,
                stages: Vec::new(),
                has_value: true,
                last_accessed: None,
            });
            meta.has_value = true;
            save_value(tx, &found.scope, &record.name, token, &sealed)?;
            // The version losing AWSCURRENT to a new value loses AWSPENDING with it (recorded from AWS:
            // a [AWSCURRENT, AWSPENDING] version becomes [AWSPREVIOUS]).
            if stages.iter().any(|s| s == AWSCURRENT)
                && let Some(old) = record.version_with(AWSCURRENT).map(str::to_string)
                && old != token
                && record.version_with(AWSPENDING) == Some(old.as_str())
            {
                record.remove_stage(AWSPENDING, &old);
            }
            for stage in stages {
                record.move_stage(stage, token);
            }
            if first {
                record.move_stage(AWSCURRENT, token);
            }
            record.last_changed = now;
            replication::store_values(tx, record, token, &replica_values)?;
            prune_versions(tx, &found.scope, record, now)?;
            Ok(())
        })?;
        let stages = record.versions.get(token).map(|m| m.stages.clone()).unwrap_or_default();
        Ok(Written {
            arn: record.arn.clone(),
            name: record.name.clone(),
            version_id: Some(token.to_string()),
            stages,
            replication: record.replicas.clone(),
        })
    }

    pub fn put_secret_value(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        token: Option<String>,
        value: Option<SecretValue>,
        stages: Option<Vec<String>>,
    ) -> Result<Written, SecretsError> {
        let token = match token {
            Some(token) => token,
            None => new_token()?,
        };
        validate_token(&token)?;
        let Some(value) = value else {
            return Err(fault(
                SecretsFault::InvalidRequest,
                "You must provide either SecretString or SecretBinary.",
            ));
        };
        let stages = stages.unwrap_or_else(|| vec![AWSCURRENT.to_string()]);
        let keys = vec![("secretsmanager:VersionStage".into(), stages.clone())];
        let found = self.find_writable(ctx, secret_id, "secretsmanager:PutSecretValue", keys)?;
        self.add_version(ctx, &found, &token, &value, &stages)
    }

    pub fn update_secret(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        token: Option<String>,
        description: Option<String>,
        kms_key_id: Option<String>,
        value: Option<SecretValue>,
    ) -> Result<Written, SecretsError> {
        let token = match token {
            Some(token) => token,
            None => new_token()?,
        };
        validate_token(&token)?;
        let mut keys = Vec::new();
        if let Some(key) = &kms_key_id {
            keys.push(("secretsmanager:KmsKeyId".into(), vec![key.clone()]));
        }
        if let Some(description) = &description {
            keys.push(("secretsmanager:Description".into(), vec![description.clone()]));
        }
        let found = self.find_writable(ctx, secret_id, "secretsmanager:UpdateSecret", keys)?;
        let key_changed = kms_key_id.is_some() && kms_key_id != found.record.kms_key_id;
        let reencrypted = if key_changed {
            self.reencrypt(ctx, &found, kms_key_id.as_deref())?
        } else {
            Vec::new()
        };
        let now = self.now();
        let (_, record) = self.update(&found, |tx, record| {
            if let Some(description) = &description {
                record.description = Some(description.clone());
            }
            if key_changed {
                record.kms_key_id = kms_key_id.clone();
                for (version, value) in &reencrypted {
                    if record.versions.contains_key(version) {
                        save_value(tx, &found.scope, &record.name, version, value)?;
                    }
                }
            }
            record.last_changed = now;
            Ok(())
        })?;
        match value {
            Some(value) => {
                let found = Found {
                    scope: found.scope,
                    record,
                };
                self.add_version(ctx, &found, &token, &value, &[AWSCURRENT.to_string()])
            }
            None => Ok(Written {
                arn: record.arn.clone(),
                name: record.name.clone(),
                version_id: None,
                stages: Vec::new(),
                replication: record.replicas.clone(),
            }),
        }
    }

    /// Seals the AWSCURRENT, AWSPENDING and AWSPREVIOUS versions again under a new key, as AWS
    /// does when a secret's KmsKeyId changes.
    fn reencrypt(
        &self,
        ctx: &RequestContext,
        found: &Found,
        new_key: Option<&str>,
    ) -> Result<Vec<(String, ValueRecord)>, SecretsError> {
        let record = &found.record;
        let mut out = Vec::new();
        for (version, meta) in &record.versions {
            let labelled = meta
                .stages
                .iter()
                .any(|s| [AWSCURRENT, AWSPENDING, AWSPREVIOUS].contains(&s.as_str()));
            if !labelled || !meta.has_value {
                continue;
            }
            if let Some(value) = self.value_of(ctx, &found.scope, record, version)? {
                out.push((version.clone(), self.seal(ctx, new_key, &record.arn, version, &value)?));
            }
        }
        Ok(out)
    }

    // ---- reading ----

    pub fn get_secret_value(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        version_id: Option<&str>,
        version_stage: Option<&str>,
    ) -> Result<ValueView, SecretsError> {
        let mut keys = Vec::new();
        if let Some(stage) = version_stage {
            keys.push(("secretsmanager:VersionStage".into(), vec![stage.to_string()]));
        }
        if let Some(version) = version_id {
            keys.push(("secretsmanager:VersionId".into(), vec![version.to_string()]));
        }
        let found = self.find(ctx, secret_id, "secretsmanager:GetSecretValue", keys)?;
        self.read_value(ctx, &found, version_id, version_stage)
    }

    pub(crate) fn read_value(
        &self,
        ctx: &RequestContext,
        found: &Found,
        version_id: Option<&str>,
        version_stage: Option<&str>,
    ) -> Result<ValueView, SecretsError> {
        let record = &found.record;
        if record.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        let version = match (version_id, version_stage) {
            (Some(id), stage) => {
                let meta = record.versions.get(id).filter(|m| m.has_value).ok_or_else(|| {
                    fault(
                        SecretsFault::ResourceNotFound,
                        format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
                    )
                })?;
                if let Some(stage) = stage
                    && !meta.stages.iter().any(|s| s == stage)
                {
                    return Err(fault(
                        SecretsFault::InvalidRequest,
                        "You provided a VersionStage that is not associated to the provided VersionId.",
                    ));
                }
                id.to_string()
            }
            (None, stage) => {
                let stage = stage.unwrap_or(AWSCURRENT);
                record
                    .version_with(stage)
                    .filter(|id| record.versions.get(*id).is_some_and(|m| m.has_value))
                    .ok_or_else(|| {
                        fault(
                            SecretsFault::ResourceNotFound,
                            format!("Secrets Manager can't find the specified secret value for staging label: {stage}"),
                        )
                    })?
                    .to_string()
            }
        };
        let meta = &record.versions[&version];
        let value = self
            .value_of(ctx, &found.scope, record, &version)?
            .ok_or_else(|| SecretsError::Internal("a version with a value has no value record".into()))?;
        self.note_access(found, &version)?;
        Ok(ValueView {
            arn: record.arn.clone(),
            name: record.name.clone(),
            version_id: version.clone(),
            value,
            stages: meta.stages.clone(),
            created: meta.created,
        })
    }

    /// LastAccessedDate is a day: written at most once a day per version, not on every read.
    fn note_access(&self, found: &Found, version: &str) -> Result<(), SecretsError> {
        let today = (self.now() / DAY).floor() * DAY;
        let seen = found.record.versions.get(version).and_then(|m| m.last_accessed);
        if seen == Some(today) && found.record.last_accessed == Some(today) {
            return Ok(());
        }
        transact(&*self.store, |tx| {
            if let Some(mut record) = load_secret(tx, &found.scope, &found.record.name)? {
                record.last_accessed = Some(today);
                if let Some(meta) = record.versions.get_mut(version) {
                    meta.last_accessed = Some(today);
                }
                save_secret(tx, &found.scope, &record)?;
            }
            Ok(())
        })
    }

    pub fn describe_secret(&self, ctx: &RequestContext, secret_id: &str) -> Result<SecretRecord, SecretsError> {
        Ok(self
            .find(ctx, secret_id, "secretsmanager:DescribeSecret", Vec::new())?
            .record)
    }

    pub fn list_secret_version_ids(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        include_deprecated: bool,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(SecretRecord, Page<VersionView>), SecretsError> {
        let found = self.find(ctx, secret_id, "secretsmanager:ListSecretVersionIds", Vec::new())?;
        let mut versions: Vec<(String, VersionView)> = found
            .record
            .versions
            .iter()
            .filter(|(_, m)| include_deprecated || !m.stages.is_empty())
            .map(|(id, m)| {
                (
                    id.clone(),
                    VersionView {
                        version_id: id.clone(),
                        stages: m.stages.clone(),
                        created: m.created,
                        last_accessed: m.last_accessed,
                    },
                )
            })
            .collect();
        versions.sort_by(|a, b| a.1.created.total_cmp(&b.1.created).then_with(|| a.0.cmp(&b.0)));
        let listed = paging::by_key(&versions, max_results.unwrap_or(100), next_token)?;
        Ok((found.record, listed))
    }

    pub fn list_secrets(&self, ctx: &RequestContext, input: &ListInput) -> Result<Page<SecretRecord>, SecretsError> {
        filters::validate(&input.filters)?;
        self.authz.check(ctx, &Access::unscoped("secretsmanager:ListSecrets"))?;
        let scope = ctx.regional_scope();
        let mut secrets: Vec<SecretRecord> = self
            .all_secrets(&scope)?
            .into_iter()
            .filter(|r| input.include_planned_deletion || r.deleted.is_none())
            .filter(|r| filters::matches(&input.filters, r))
            .collect();
        match input.sort_by.as_deref() {
            Some("name") => secrets.sort_by(|a, b| a.name.cmp(&b.name)),
            Some("last-changed-date") => secrets.sort_by(|a, b| a.last_changed.total_cmp(&b.last_changed)),
            Some("last-accessed-date") => secrets.sort_by(|a, b| {
                a.last_accessed
                    .unwrap_or(0.0)
                    .total_cmp(&b.last_accessed.unwrap_or(0.0))
            }),
            _ => secrets.sort_by(|a, b| a.created.total_cmp(&b.created).then_with(|| a.name.cmp(&b.name))),
        }
        if input.sort_order.as_deref() == Some("desc") {
            secrets.reverse();
        }
        let keyed: Vec<(String, SecretRecord)> = secrets.into_iter().map(|r| (r.arn.clone(), r)).collect();
        Ok(paging::by_key(
            &keyed,
            input.max_results.unwrap_or(100),
            input.next_token.as_deref(),
        )?)
    }

    fn all_secrets(&self, scope: &str) -> Result<Vec<SecretRecord>, SecretsError> {
        read(&*self.store, |tx| model::all_secrets(tx, scope))
    }

    /// BatchGetSecretValue: each secret read (and authorised) on its own; failures per secret.
    pub fn batch_get_secret_value(
        &self,
        ctx: &RequestContext,
        secret_ids: Option<Vec<String>>,
        filters: Option<Vec<Filter>>,
        max_results: Option<usize>,
        next_token: Option<String>,
    ) -> Result<BatchRead, SecretsError> {
        if secret_ids.is_some() == filters.is_some() {
            return Err(fault(
                SecretsFault::InvalidParameter,
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
            ));
        }
        if secret_ids.is_some() && max_results.is_some() {
            return Err(fault(
                SecretsFault::InvalidParameter,
                "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.",
            ));
        }
        self.authz
            .check(ctx, &Access::unscoped("secretsmanager:BatchGetSecretValue"))?;
        let ids = match (secret_ids, filters) {
            (Some(ids), _) => (ids, None),
            (None, filters) => {
                let listed = self.list_secrets(
                    ctx,
                    &ListInput {
                        filters: filters.unwrap_or_default(),
                        max_results: Some(max_results.unwrap_or(20)),
                        next_token,
                        ..Default::default()
                    },
                )?;
                (listed.items.into_iter().map(|r| r.arn).collect(), listed.next_marker)
            }
        };
        let (ids, next) = ids;
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            match self.get_secret_value(ctx, &id, None, None) {
                Ok(view) => values.push(view),
                Err(e @ SecretsError::Internal(_)) => return Err(e),
                Err(e) => errors.push((id, e)),
            }
        }
        Ok((values, errors, next))
    }

    // ---- stages ----

    pub fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        stage: &str,
        remove_from: Option<&str>,
        move_to: Option<&str>,
    ) -> Result<SecretRecord, SecretsError> {
        let keys = vec![("secretsmanager:VersionStage".into(), vec![stage.to_string()])];
        let found = self.find_writable(ctx, secret_id, "secretsmanager:UpdateSecretVersionStage", keys)?;
        let now = self.now();
        let (_, record) = self.update(&found, |tx, record| {
            let not_a_version = |id: &str| fault(SecretsFault::InvalidParameter, format!("Not a valid version: {id}"));
            if let Some(id) = remove_from {
                let meta = record.versions.get(id).ok_or_else(|| not_a_version(id))?;
                if !meta.stages.iter().any(|s| s == stage) {
                    return Err(fault(
                        SecretsFault::InvalidParameter,
                        format!("Version stage {stage} not found in version {id}"),
                    ));
                }
            }
            match move_to {
                Some(target) => {
                    if !record.versions.contains_key(target) {
                        return Err(not_a_version(target));
                    }
                    if let Some(holder) = record.version_with(stage)
                        && holder != target
                        && remove_from != Some(holder)
                    {
                        return Err(fault(
                            SecretsFault::InvalidParameter,
                            format!(
                                "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {holder}, so you must explicitly reference that version in RemoveFromVersionId."
                            ),
                        ));
                    }
                    record.move_stage(stage, target);
                }
                None => match remove_from {
                    Some(id) => record.remove_stage(stage, id),
                    None => {
                        return Err(fault(
                            SecretsFault::InvalidParameter,
                            "You must specify either MoveToVersionId or RemoveFromVersionId.",
                        ));
                    }
                },
            }
            record.last_changed = now;
            prune_versions(tx, &found.scope, record, now)
        })?;
        Ok(record)
    }

    // ---- deletion ----

    pub fn delete_secret(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        recovery_window_days: Option<i64>,
        force: bool,
    ) -> Result<(String, String, f64), SecretsError> {
        if let Some(days) = recovery_window_days {
            if !(7..=30).contains(&days) {
                return Err(fault(
                    SecretsFault::InvalidParameter,
                    "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
                ));
            }
            if force {
                return Err(fault(
                    SecretsFault::InvalidParameter,
                    "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
                ));
            }
        }
        let mut keys = vec![(
            "secretsmanager:ForceDeleteWithoutRecovery".into(),
            vec![force.to_string()],
        )];
        if let Some(days) = recovery_window_days {
            keys.push(("secretsmanager:RecoveryWindowInDays".into(), vec![days.to_string()]));
        }
        let now = self.now();
        let found = match self.find(ctx, secret_id, "secretsmanager:DeleteSecret", keys) {
            Ok(found) => found,
            // Forcing the deletion of a secret that is not there succeeds, as in AWS.
            Err(SecretsError::Fault(SecretsFault::ResourceNotFound, _)) if force => {
                let name = names::parse_secret_id(secret_id, ctx.account_id(), &ctx.region)
                    .candidates
                    .last()
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                let arn = names::secret_arn(&ctx.region, ctx.account_id(), &name, &names::random_suffix()?);
                return Ok((arn, name, now));
            }
            Err(e) => return Err(e),
        };
        let record = &found.record;
        if record.primary_region.is_some() {
            return Err(replica_read_only());
        }
        if !record.replicas.is_empty() {
            let regions: Vec<&str> = record.replicas.iter().map(|r| r.region.as_str()).collect();
            return Err(fault(
                SecretsFault::InvalidParameter,
                format!(
                    "You can't delete secret {} that still has replica regions [{}].",
                    record.arn,
                    regions.join(", ")
                ),
            ));
        }
        if force {
            transact(&*self.store, |tx| {
                if let Some(current) = load_secret(tx, &found.scope, &record.name)? {
                    delete_secret_records(tx, &found.scope, &current)?;
                    tx.cancel(&job_id(JOB_DELETE, &found.scope, &record.name))?;
                    tx.cancel(&job_id(JOB_ROTATE, &found.scope, &record.name))?;
                }
                Ok(())
            })?;
            return Ok((record.arn.clone(), record.name.clone(), now));
        }
        if record.deleted.is_some() {
            return Err(fault(
                SecretsFault::InvalidRequest,
                "You can't perform this operation on the secret because it was already scheduled for deletion.",
            ));
        }
        let days = recovery_window_days.unwrap_or(DEFAULT_RECOVERY_DAYS);
        let due = now + days as f64 * DAY;
        let (_, record) = self.update(&found, |tx, record| {
            if record.deleted.is_some() {
                return Err(marked_for_deletion());
            }
            record.deleted = Some(now);
            record.deletion_due = Some(due);
            tx.schedule(&Job {
                id: job_id(JOB_DELETE, &found.scope, &record.name),
                due_at: due.ceil() as i64,
                kind: JOB_DELETE.into(),
                payload: serde_json::to_vec(&json!({ "scope": found.scope, "name": record.name, "arn": record.arn }))?,
            })?;
            Ok(())
        })?;
        Ok((record.arn, record.name, due))
    }

    pub fn restore_secret(&self, ctx: &RequestContext, secret_id: &str) -> Result<SecretRecord, SecretsError> {
        let found = self.find(ctx, secret_id, "secretsmanager:RestoreSecret", Vec::new())?;
        if found.record.primary_region.is_some() {
            return Err(replica_read_only());
        }
        let (_, record) = self.update(&found, |tx, record| {
            record.deleted = None;
            record.deletion_due = None;
            tx.cancel(&job_id(JOB_DELETE, &found.scope, &record.name))?;
            Ok(())
        })?;
        Ok(record)
    }

    /// The deletion job: removes the secret for good if it is still scheduled for deletion.
    /// Deletes a secret whose recovery window ended: the CloudTrail service event `DeleteSecret`.
    fn run_delete_job(&self, job: &Job, audit: &keyhaven_kernel::audit::AuditLog) -> Result<(), SecretsError> {
        let payload: serde_json::Value = serde_json::from_slice(&job.payload)?;
        let (Some(scope), Some(name), Some(arn)) = (
            payload["scope"].as_str(),
            payload["name"].as_str(),
            payload["arn"].as_str(),
        ) else {
            return Err(SecretsError::Internal("bad secret deletion job payload".into()));
        };
        let now = self.now();
        let mut deleted = false;
        transact(&*self.store, |tx| {
            deleted = false;
            if let Some(record) = load_secret(tx, scope, name)?
                && record.arn == arn
                && record.deletion_due.is_some_and(|due| due <= now + 1.0)
            {
                delete_secret_records(tx, scope, &record)?;
                tx.cancel(&job_id(JOB_ROTATE, scope, name))?;
                deleted = true;
            }
            tx.cancel(&job.id)?;
            Ok(())
        })?;
        if !deleted {
            return Ok(());
        }
        let secret = keyhaven_kernel::audit::AuditResource {
            arn: arn.to_string(),
            resource_type: "AWS::SecretsManager::Secret",
            account_id: names::account_of(arn).to_string(),
        };
        let data = serde_json::json!({ "SecretId": arn });
        Ok(audit.record_service_event(&ServiceEvent::about(
            SERVICE_PRINCIPAL,
            "DeleteSecret",
            self.clock.now(),
            secret,
            data,
        )?)?)
    }

    pub fn run_job(&self, job: &Job, audit: &keyhaven_kernel::audit::AuditLog) -> Result<(), SecretsError> {
        match job.kind.as_str() {
            JOB_DELETE => self.run_delete_job(job, audit),
            JOB_ROTATE => rotation::run_job(self, job, audit),
            other => Err(SecretsError::Internal(format!("unknown secrets job {other}"))),
        }
    }

    // ---- tags ----

    pub fn tag_resource(&self, ctx: &RequestContext, secret_id: &str, tags: Vec<Tag>) -> Result<(), SecretsError> {
        let keys = tags::request_keys(&tags, &[]);
        let found = self.find_writable(ctx, secret_id, "secretsmanager:TagResource", keys)?;
        self.update(&found, |_, record| {
            record.ever_tagged = true;
            let mut current: Vec<Tag> = record.tags.drain(..).map(Tag::from).collect();
            let merged = tags::upsert(&mut current, &tags, &TAG_RULES).map_err(tag_error);
            record.tags = current.into_iter().map(Tag::into_pair).collect();
            merged
        })?;
        Ok(())
    }

    pub fn untag_resource(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        tag_keys: Vec<String>,
    ) -> Result<(), SecretsError> {
        let keys = vec![("aws:TagKeys".into(), tag_keys.clone())];
        let found = self.find_writable(ctx, secret_id, "secretsmanager:UntagResource", keys)?;
        self.update(&found, |_, record| {
            record.tags.retain(|(k, _)| !tag_keys.contains(k));
            Ok(())
        })?;
        Ok(())
    }

    // ---- resource policies ----

    pub fn get_resource_policy(&self, ctx: &RequestContext, secret_id: &str) -> Result<SecretRecord, SecretsError> {
        let found = self.find(ctx, secret_id, "secretsmanager:GetResourcePolicy", Vec::new())?;
        if found.record.primary_region.is_some() {
            return Err(replica_read_only());
        }
        Ok(found.record)
    }

    pub fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        policy: &str,
        block_public: bool,
    ) -> Result<SecretRecord, SecretsError> {
        let keys = vec![(
            "secretsmanager:BlockPublicPolicy".into(),
            vec![block_public.to_string()],
        )];
        let found = self.find_writable(ctx, secret_id, "secretsmanager:PutResourcePolicy", keys)?;
        let document = parse_policy(policy)?;
        if block_public && document.grants_public_access() {
            return Err(fault(
                SecretsFault::PublicPolicy,
                "You can't attach a resource-based policy that allows broad access to the secret.",
            ));
        }
        let (_, record) = self.update(&found, |_, record| {
            record.policy = Some(policy.to_string());
            Ok(())
        })?;
        Ok(record)
    }

    pub fn delete_resource_policy(&self, ctx: &RequestContext, secret_id: &str) -> Result<SecretRecord, SecretsError> {
        let found = self.find_writable(ctx, secret_id, "secretsmanager:DeleteResourcePolicy", Vec::new())?;
        let (_, record) = self.update(&found, |_, record| {
            record.policy = None;
            Ok(())
        })?;
        Ok(record)
    }

    /// ValidateResourcePolicy: whether the policy parses and does not grant broad access, with
    /// the failed checks.
    pub fn validate_resource_policy(
        &self,
        ctx: &RequestContext,
        secret_id: Option<&str>,
        policy: &str,
    ) -> Result<Vec<(&'static str, String)>, SecretsError> {
        match secret_id {
            Some(id) => {
                self.find(ctx, id, "secretsmanager:ValidateResourcePolicy", Vec::new())?;
            }
            None => self
                .authz
                .check(ctx, &Access::unscoped("secretsmanager:ValidateResourcePolicy"))?,
        }
        Ok(match parse_policy(policy) {
            Err(SecretsError::Fault(_, message)) => vec![("SYNTAX_CHECK", message)],
            Err(e) => return Err(e),
            Ok(document) if document.grants_public_access() => vec![(
                "BROAD_ACCESS_CHECK",
                "This resource policy grants broad access to your secret.".to_string(),
            )],
            Ok(_) => Vec::new(),
        })
    }

    // ---- random passwords ----

    pub fn get_random_password(
        &self,
        ctx: &RequestContext,
        options: &password::PasswordOptions,
    ) -> Result<Zeroizing<String>, SecretsError> {
        self.authz
            .check(ctx, &Access::unscoped("secretsmanager:GetRandomPassword"))?;
        password::generate(options)
    }
}

fn parse_policy(text: &str) -> Result<PolicyDocument, SecretsError> {
    PolicyDocument::parse_as(text, PolicyKind::Resource).map_err(|_| {
        fault(
            SecretsFault::MalformedPolicyDocument,
            "This resource policy contains a syntax error.",
        )
    })
}

/// One job per secret and purpose, so rescheduling replaces it.
fn job_id(kind: &str, scope: &str, name: &str) -> String {
    format!("{kind}:{scope}:{name}")
}

/// Drops versions with no staging label beyond the newest 100, keeping any made in the last day.
fn prune_versions(
    tx: &mut dyn Transaction,
    scope: &str,
    record: &mut SecretRecord,
    now: f64,
) -> Result<(), SecretsError> {
    if record.versions.len() <= MAX_VERSIONS {
        return Ok(());
    }
    let mut unlabelled: Vec<(String, f64)> = record
        .versions
        .iter()
        .filter(|(_, m)| m.stages.is_empty() && now - m.created > VERSION_GRACE_SECONDS)
        .map(|(id, m)| (id.clone(), m.created))
        .collect();
    unlabelled.sort_by(|a, b| a.1.total_cmp(&b.1));
    let excess = record.versions.len() - MAX_VERSIONS;
    for (id, _) in unlabelled.into_iter().take(excess) {
        record.versions.remove(&id);
        model::delete_value(tx, scope, &record.name, &id)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use keyhaven_kernel::testing::Harness;
    pub use keyhaven_kernel::testing::{ACCOUNT, ctx};
    use keyhaven_store::testing::TempDir;

    use crate::Secrets;

    /// Secrets Manager with KMS behind it on a test harness, its jobs registered.
    pub struct Fixture {
        pub harness: Harness,
        pub kms: Arc<keyhaven_kms::Kms>,
        pub secrets: Arc<Secrets>,
    }

    impl std::ops::Deref for Fixture {
        type Target = Harness;
        fn deref(&self) -> &Harness {
            &self.harness
        }
    }

    pub fn core() -> (TempDir, Fixture) {
        let (dir, h) = Harness::new();
        let kms = keyhaven_kms::testing::kms_on(&h);
        let secrets = Arc::new(Secrets::new(
            h.store.clone(),
            h.clock.clone(),
            h.authz.clone(),
            kms.clone(),
        ));
        h.scheduler.register("secrets", secrets.clone());
        (
            dir,
            Fixture {
                harness: h,
                kms,
                secrets,
            },
        )
    }

    pub fn service_events(core: &Fixture) -> Vec<(String, String, String)> {
        core.harness.service_events()
    }
}
