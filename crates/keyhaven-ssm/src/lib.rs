//! AWS Systems Manager Parameter Store: parameters, versions, labels, tiers, policies and change events.

pub mod error;
mod filters;
pub mod model;
pub mod names;
pub mod policies;
mod reference;
mod secure;
mod services;

use std::sync::Arc;

use keyhaven_store::{Backend, Job, Transaction};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::fault;
pub use crate::error::{SsmError, SsmFault};
use crate::error::{read, transact};
pub use filters::Filter;
use filters::{FilterSet, ListingKind};
use keyhaven_kernel::audit::{AuditResource, ServiceEvent};
use keyhaven_kernel::authz::{Access, Authorizer, Resource};
use keyhaven_kernel::clock::{Clock, epoch_seconds};
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::events::{Event, Events};
use keyhaven_kernel::on_behalf::{KeyService, SecretService};
use keyhaven_kernel::paging::{self, Page};
use keyhaven_kernel::records;
pub use keyhaven_kernel::tags::Tag;
use keyhaven_kernel::tags::{self, KeyCase, TagRules, TagViolation};
pub use model::*;
use names::{Reference, Selector, parameter_arn};

const MAX_VERSIONS: i64 = 100;
const MAX_LABELS_PER_VERSION: usize = 10;
const STANDARD_VALUE_LIMIT: usize = 4_096;
const ADVANCED_VALUE_LIMIT: usize = 8_192;
/// Records looked at per listing page at most: paging is best effort, as in AWS.
const SCAN_BUDGET: usize = 2_000;
pub const JOB_POLICIES: &str = "ssm.policies";
pub const SETTING_DEFAULT_TIER: &str = "/ssm/parameter-store/default-parameter-tier";
pub const SETTING_HIGH_THROUGHPUT: &str = "/ssm/parameter-store/high-throughput-enabled";
const SERVICE_PRINCIPAL: &str = "ssm.amazonaws.com";
const CHANGE: &str = "Parameter Store Change";
const POLICY_ACTION: &str = "Parameter Store Policy Action";

fn not_found(name: &str) -> SsmError {
    fault(SsmFault::ParameterNotFound, format!("Parameter {name} not found."))
}

fn version_not_found(name: &str, version: i64) -> SsmError {
    fault(
        SsmFault::ParameterVersionNotFound,
        format!("Systems Manager could not find version {version} of {name}. Verify the version and try again."),
    )
}

/// How close to a tier's quota the count must come before creations check it inside their transaction.
const QUOTA_MARGIN: i64 = 256;

/// Parameter limits per account and Region. AWS's are 10,000 Standard and 100,000 Advanced; a
/// self-hosted operator may raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterQuotas {
    pub standard: u64,
    pub advanced: u64,
}

impl Default for ParameterQuotas {
    fn default() -> Self {
        Self {
            standard: 10_000,
            advanced: 100_000,
        }
    }
}

/// Everything PutParameter takes, already shape-validated by the wire layer.
#[derive(Default)]
pub struct PutInput {
    pub name: String,
    pub description: Option<String>,
    pub value: Zeroizing<String>,
    pub parameter_type: Option<String>,
    pub key_id: Option<String>,
    pub overwrite: bool,
    pub allowed_pattern: Option<String>,
    pub tags: Vec<Tag>,
    pub tier: Option<String>,
    pub policies: Option<String>,
    pub data_type: Option<String>,
}

/// A parameter value as GetParameter and friends return it.
pub struct ParameterView {
    pub name: String,
    pub parameter_type: String,
    /// Decrypted only when asked for; otherwise a SecureString's is its base64 ciphertext.
    pub value: Zeroizing<String>,
    pub version: i64,
    pub selector: Option<String>,
    pub last_modified: f64,
    pub arn: String,
    pub data_type: String,
    /// `/aws/reference/secretsmanager/…` reads: the GetSecretValue output as a JSON string.
    pub source_result: Option<Zeroizing<String>>,
}

/// GetParameter and GetParameters answer with the name as the caller wrote it (`/x` for `x`, which
/// names the same parameter), as AWS does; an ARN answers with the stored name.
fn as_requested(mut view: ParameterView, reference: &names::Reference, requested: &str) -> ParameterView {
    if !requested.trim_matches(' ').starts_with("arn:") {
        view.name.clone_from(&reference.name);
    }
    view
}

/// A version's metadata (DescribeParameters, GetParameterHistory).
pub struct MetadataView {
    pub name: String,
    pub arn: String,
    pub version: VersionRecord,
    pub labels: Vec<String>,
    /// Set by GetParameterHistory: the value, decrypted if asked for.
    pub value: Option<Zeroizing<String>>,
}

/// What `Debug` shows of a value that may be a decrypted SecureString.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for PutInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutInput")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("value", &REDACTED)
            .field("parameter_type", &self.parameter_type)
            .field("key_id", &self.key_id)
            .field("overwrite", &self.overwrite)
            .field("allowed_pattern", &self.allowed_pattern)
            .field("tags", &self.tags)
            .field("tier", &self.tier)
            .field("policies", &self.policies)
            .field("data_type", &self.data_type)
            .finish()
    }
}

impl std::fmt::Debug for ParameterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterView")
            .field("name", &self.name)
            .field("parameter_type", &self.parameter_type)
            .field("value", &REDACTED)
            .field("version", &self.version)
            .field("selector", &self.selector)
            .field("last_modified", &self.last_modified)
            .field("arn", &self.arn)
            .field("data_type", &self.data_type)
            .field("source_result", &self.source_result.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl std::fmt::Debug for MetadataView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataView")
            .field("name", &self.name)
            .field("arn", &self.arn)
            .field("version", &self.version)
            .field("labels", &self.labels)
            .field("value", &self.value.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// A service setting as the Get/Update/ResetServiceSetting operations show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSetting {
    pub setting_id: String,
    pub value: String,
    pub last_modified: f64,
    pub last_modified_user: String,
    pub arn: String,
    pub status: &'static str,
}

/// The Parameter Store service of one server.
pub struct Ssm {
    store: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    authz: Arc<Authorizer>,
    kms: Arc<dyn KeyService>,
    secrets: Arc<dyn SecretService>,
    events: Events,
    quotas: ParameterQuotas,
}

impl std::fmt::Debug for Ssm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssm").field("quotas", &self.quotas).finish()
    }
}

impl Ssm {
    pub fn new(
        store: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        authz: Arc<Authorizer>,
        kms: Arc<dyn KeyService>,
        secrets: Arc<dyn SecretService>,
        events: Events,
        quotas: ParameterQuotas,
    ) -> Self {
        Self {
            store,
            clock,
            authz,
            kms,
            secrets,
            events,
            quotas,
        }
    }

    fn now(&self) -> f64 {
        epoch_seconds(self.clock.now())
    }

    /// Authorises `action` on `resource`; `parameter`, when it exists, contributes its tags.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: &str,
        parameter: Option<&ParameterRecord>,
        mut keys: Vec<(String, Vec<String>)>,
    ) -> Result<(), SsmError> {
        let tags = parameter.map(|p| p.tags.as_slice()).unwrap_or_default();
        keys.extend(
            tags.iter()
                .map(|(k, v)| (format!("aws:ResourceTag/{k}"), vec![v.clone()])),
        );
        let target = [Resource {
            keys: &keys,
            ..Resource::new(resource, ctx.account_id())
        }];
        let targets: &[Resource<'_>] = if resource == "*" { &[] } else { &target };
        self.authz.check(
            ctx,
            &Access {
                action,
                resources: targets,
                keys: &[],
            },
        )?;
        Ok(())
    }

    fn arn(&self, ctx: &RequestContext, name: &str) -> String {
        parameter_arn(&ctx.region, ctx.account_id(), name)
    }

    fn publish(&self, tx: &mut dyn Transaction, event: Event) -> Result<(), SsmError> {
        self.events.publish(tx, &event)?;
        Ok(())
    }

    fn change_event(
        &self,
        ctx: &RequestContext,
        name: &str,
        operation: &str,
        version: &VersionRecord,
    ) -> Result<Event, SsmError> {
        let mut detail = json!({
            "operation": operation,
            "name": name,
            "type": version.parameter_type,
        });
        if let Some(description) = &version.description {
            detail["description"] = json!(description);
        }
        Ok(Event::new(
            CHANGE,
            "aws.ssm",
            ctx.account_id(),
            &ctx.region,
            self.clock.now(),
            vec![self.arn(ctx, name)],
            detail,
        )?)
    }

    // ---- PutParameter ----

    pub fn put_parameter(&self, ctx: &RequestContext, input: PutInput) -> Result<(i64, String), SsmError> {
        let name = names::validate_new_name(&input.name, &ctx.region, ctx.account_id())?;
        let key = parameter_key(&name);
        let arn = self.arn(ctx, &name);
        let scope = ctx.regional_scope();
        if input.value.is_empty() {
            return Err(fault(
                SsmFault::Validation,
                "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.",
            ));
        }
        if input.overwrite && !input.tags.is_empty() {
            return Err(fault(
                SsmFault::Validation,
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        if input.value.contains("{{") && input.value.contains("}}") {
            return Err(fault(
                SsmFault::Validation,
                "Parameter value can't nest another parameter. Do not use \"{{}}\" in the value.",
            ));
        }
        validate_tags(&input.tags)?;
        let (existing, counts_if_new) = read(&*self.store, |tx| {
            let existing = load_parameter(tx, &scope, &key)?;
            let counts = match existing {
                None => Some(load_counts(tx, &scope)?),
                Some(_) => None,
            };
            Ok((existing, counts))
        })?;
        let mut keys = vec![("ssm:Overwrite".to_string(), vec![input.overwrite.to_string()])];
        if let Some(policies) = &input.policies {
            keys.push(("ssm:Policies".into(), vec![policies.clone()]));
        }
        keys.extend(tags::request_keys(&input.tags, &[]));
        self.authorize(ctx, "ssm:PutParameter", &arn, existing.as_ref(), keys)?;

        let now = self.now();
        let plan = self.plan_version(ctx, &input, existing.as_ref(), now)?;
        let stored_value = match plan.parameter_type.as_str() {
            SECURE_STRING => {
                let key_ref = plan.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ALIAS.to_string());
                secure::encrypt(self, ctx, &key_ref, &arn, input.value.as_bytes(), plan.tier == ADVANCED)?
            }
            _ => input.value.to_string(),
        };
        let policies_given = input.policies.is_some();
        let tags: Vec<(String, String)> = input.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
        // Only a new parameter, or one changing tier, counts against a tier's quota.
        let counts_before = match &existing {
            None => counts_if_new,
            Some(record) if record.current.tier == plan.tier => None,
            Some(_) => Some(read(&*self.store, |tx| load_counts(tx, &scope))?),
        };
        let (version, tier) = transact(&*self.store, |tx| {
            // Read again inside the write transaction: another writer may have won the race.
            let current = load_parameter(tx, &scope, &key)?;
            if current.as_ref().map(|r| r.current.version) != existing.as_ref().map(|r| r.current.version) {
                return Err(fault(
                    SsmFault::Validation,
                    "There are concurrent updates to this parameter. Try again.",
                ));
            }
            let version = VersionRecord {
                version: current.as_ref().map_or(1, |r| r.current.version + 1),
                parameter_type: plan.parameter_type.clone(),
                value: stored_value.clone(),
                key_id: plan.key_id.clone(),
                description: plan.description.clone(),
                allowed_pattern: plan.allowed_pattern.clone(),
                tier: plan.tier.clone(),
                data_type: plan.data_type.clone(),
                policies: plan.policies.clone(),
                last_modified: now,
                last_modified_user: ctx.principal.arn.clone(),
            };
            let record = match current {
                None => {
                    self.check_quota(tx, &scope, counts_before, &plan.tier)?;
                    change_count(tx, &scope, &plan.tier, 1)?;
                    ParameterRecord {
                        v: RECORD_VERSION,
                        name: name.clone(),
                        current: version.clone(),
                        oldest_version: 1,
                        labels: Default::default(),
                        tags: tags.clone(),
                        policies_set_at: now,
                    }
                }
                Some(mut record) => {
                    if record.current.tier != plan.tier {
                        self.check_quota(tx, &scope, counts_before, &plan.tier)?;
                        change_count(tx, &scope, &record.current.tier, -1)?;
                        change_count(tx, &scope, &plan.tier, 1)?;
                    }
                    if version.version - record.oldest_version >= MAX_VERSIONS {
                        let oldest = record.oldest_version;
                        if record.labels.values().any(|v| *v == oldest) {
                            return Err(fault(
                                SsmFault::ParameterMaxVersionLimitExceeded,
                                format!(
                                    "You attempted to create a new version of {name} by calling the PutParameter API with the overwrite flag. Version {oldest}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again."
                                ),
                            ));
                        }
                        model::delete_version(tx, &scope, &key, oldest)?;
                        record.oldest_version += 1;
                    }
                    if policies_given {
                        record.policies_set_at = now;
                    }
                    record.current = version.clone();
                    record
                }
            };
            save_version(tx, &scope, &key, &version)?;
            save_parameter(tx, &scope, &record)?;
            self.schedule_policies(tx, &scope, &record)?;
            let operation = if version.version == 1 { "Create" } else { "Update" };
            self.publish(tx, self.change_event(ctx, &record.name, operation, &version)?)?;
            Ok((version.version, version.tier.clone()))
        })?;
        Ok((version, tier))
    }

    fn quota(&self, tier: &str) -> i64 {
        let quota = if tier == ADVANCED {
            self.quotas.advanced
        } else {
            self.quotas.standard
        };
        i64::try_from(quota).unwrap_or(i64::MAX)
    }

    /// Refuses one more parameter of `tier` when its quota is used up. Far from the quota, the counts read before the
    /// transaction decide (reading them inside would make every two creations conflict); within `QUOTA_MARGIN` of
    /// it, the counts read in the transaction do, exactly, whatever is being created at the same time.
    fn check_quota(
        &self,
        tx: &mut dyn Transaction,
        scope: &str,
        counts_before: Option<TierCounts>,
        tier: &str,
    ) -> Result<(), SsmError> {
        let limit = self.quota(tier);
        let used = match counts_before {
            Some(counts) if counts.of(tier).saturating_add(QUOTA_MARGIN) < limit => counts.of(tier),
            _ => load_counts(tx, scope)?.of(tier),
        };
        if used >= limit {
            return Err(fault(
                SsmFault::ParameterLimitExceeded,
                "You have exceeded the number of parameters for this AWS account. Delete one or more parameters and try again.",
            ));
        }
        Ok(())
    }

    /// Works out the new version's attributes from the request, the previous version and the
    /// account's default tier, refusing what AWS refuses.
    fn plan_version(
        &self,
        ctx: &RequestContext,
        input: &PutInput,
        existing: Option<&ParameterRecord>,
        now: f64,
    ) -> Result<VersionRecord, SsmError> {
        let previous = existing.map(|r| &r.current);
        if previous.is_some() && !input.overwrite {
            return Err(fault(
                SsmFault::ParameterAlreadyExists,
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        let parameter_type = match (&input.parameter_type, previous) {
            (Some(t), _) => t.clone(),
            (None, Some(p)) => p.parameter_type.clone(),
            (None, None) => {
                return Err(fault(
                    SsmFault::Validation,
                    "A parameter type is required when you create a parameter.",
                ));
            }
        };
        if let Some(p) = previous
            && p.parameter_type != parameter_type
            && (p.parameter_type == SECURE_STRING || parameter_type == SECURE_STRING)
        {
            return Err(fault(
                SsmFault::HierarchyTypeMismatch,
                format!(
                    "The parameter type can't be changed from {} to {parameter_type}. Parameter Store doesn't support changing a parameter type in a hierarchy. You must create a new, unique parameter.",
                    p.parameter_type
                ),
            ));
        }
        let data_type = match (&input.data_type, previous) {
            (Some(d), _) => d.clone(),
            (None, Some(p)) => p.data_type.clone(),
            (None, None) => "text".to_string(),
        };
        validate_data_type(&data_type, &parameter_type, &input.value)?;
        let allowed_pattern = input
            .allowed_pattern
            .clone()
            .or_else(|| previous.and_then(|p| p.allowed_pattern.clone()));
        if let Some(pattern) = &allowed_pattern {
            check_allowed_pattern(pattern, &input.value)?;
        }
        let key_id = if parameter_type == SECURE_STRING {
            Some(
                input
                    .key_id
                    .clone()
                    .or_else(|| previous.and_then(|p| p.key_id.clone()))
                    .unwrap_or_else(|| DEFAULT_KEY_ALIAS.to_string()),
            )
        } else {
            None
        };
        let policies = match &input.policies {
            Some(text) => policies::parse(text, now as i64)?.into_iter().map(|(_, s)| s).collect(),
            None => previous.map(|p| p.policies.clone()).unwrap_or_default(),
        };
        let tier = self.choose_tier(ctx, input, previous, input.value.len(), !policies.is_empty())?;
        Ok(VersionRecord {
            version: 0,
            parameter_type,
            value: String::new(),
            key_id,
            description: input
                .description
                .clone()
                .or_else(|| previous.and_then(|p| p.description.clone())),
            allowed_pattern,
            tier,
            data_type,
            policies,
            last_modified: now,
            last_modified_user: ctx.principal.arn.clone(),
        })
    }

    fn choose_tier(
        &self,
        ctx: &RequestContext,
        input: &PutInput,
        previous: Option<&VersionRecord>,
        value_len: usize,
        has_policies: bool,
    ) -> Result<String, SsmError> {
        let requested = match &input.tier {
            Some(t) => t.clone(),
            None => self.setting_value(ctx, SETTING_DEFAULT_TIER)?,
        };
        let was_advanced = previous.is_some_and(|p| p.tier == ADVANCED);
        let tier = match requested.as_str() {
            ADVANCED => ADVANCED,
            INTELLIGENT_TIERING => {
                let standard_full = || -> Result<bool, SsmError> {
                    let counts = read(&*self.store, |tx| load_counts(tx, &ctx.regional_scope()))?;
                    Ok(counts.of(STANDARD) >= self.quota(STANDARD))
                };
                if was_advanced || value_len > STANDARD_VALUE_LIMIT || has_policies || standard_full()? {
                    ADVANCED
                } else {
                    STANDARD
                }
            }
            _ if was_advanced && input.tier.is_none() => ADVANCED,
            _ if was_advanced => {
                return Err(fault(
                    SsmFault::Validation,
                    "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.",
                ));
            }
            _ => STANDARD,
        };
        if tier == STANDARD && value_len > STANDARD_VALUE_LIMIT {
            return Err(fault(
                SsmFault::Validation,
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
            ));
        }
        if value_len > ADVANCED_VALUE_LIMIT {
            return Err(fault(
                SsmFault::Validation,
                "Advanced tier parameters support a maximum parameter value of 8192 characters.",
            ));
        }
        if tier == STANDARD && has_policies {
            return Err(fault(
                SsmFault::Validation,
                "Parameter policies are supported only for the advanced-parameter tier. Use the Advanced or Intelligent-Tiering tier.",
            ));
        }
        Ok(tier.to_string())
    }

    // ---- reads ----

    /// Loads the version a reference selects, with its parameter.
    fn resolve(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        reference: &Reference,
    ) -> Result<Option<(ParameterRecord, VersionRecord)>, SsmError> {
        let key = parameter_key(&reference.name);
        let Some(record) = load_parameter(tx, &ctx.regional_scope(), &key)? else {
            return Ok(None);
        };
        let version = select_version(tx, &ctx.regional_scope(), &record, reference)?;
        Ok(Some((record, version)))
    }

    fn view(
        &self,
        ctx: &RequestContext,
        record: &ParameterRecord,
        version: &VersionRecord,
        selector: Option<String>,
        with_decryption: bool,
    ) -> Result<ParameterView, SsmError> {
        let arn = self.arn(ctx, &record.name);
        Ok(ParameterView {
            name: record.name.clone(),
            parameter_type: version.parameter_type.clone(),
            value: self.value_of(ctx, version, &arn, with_decryption)?,
            version: version.version,
            selector,
            last_modified: version.last_modified,
            arn,
            data_type: version.data_type.clone(),
            source_result: None,
        })
    }

    fn value_of(
        &self,
        ctx: &RequestContext,
        version: &VersionRecord,
        arn: &str,
        with_decryption: bool,
    ) -> Result<Zeroizing<String>, SsmError> {
        if version.parameter_type == SECURE_STRING && with_decryption {
            secure::decrypt(self, ctx, &version.value, arn)
        } else {
            Ok(Zeroizing::new(version.value.clone()))
        }
    }

    pub fn get_parameter(
        &self,
        ctx: &RequestContext,
        name: &str,
        with_decryption: bool,
    ) -> Result<ParameterView, SsmError> {
        if reference::is_reference(name) {
            return self.secret_reference(ctx, name, with_decryption, "ssm:GetParameter");
        }
        names::reject_unreadable_name(name)?;
        let reference =
            names::parse_reference(name, &ctx.region, ctx.account_id()).ok_or_else(|| not_found(name.trim()))?;
        let arn = self.arn(ctx, &reference.name);
        let scope = ctx.regional_scope();
        // One snapshot read; a missing version is only reported once the caller may know of it.
        let (record, version) = read(&*self.store, |tx| {
            let record = load_parameter(tx, &scope, &parameter_key(&reference.name))?;
            let version = record.as_ref().map(|r| select_version(tx, &scope, r, &reference));
            Ok((record, version))
        })?;
        self.authorize(ctx, "ssm:GetParameter", &arn, record.as_ref(), Vec::new())?;
        let (Some(record), Some(version)) = (record, version) else {
            return Err(not_found(name.trim()));
        };
        let view = self.view(
            ctx,
            &record,
            &version?,
            reference.selector_text.clone(),
            with_decryption,
        )?;
        Ok(as_requested(view, &reference, name))
    }

    /// GetParameters: found parameters in name order, and the names that matched nothing.
    pub fn get_parameters(
        &self,
        ctx: &RequestContext,
        requested: &[String],
        with_decryption: bool,
    ) -> Result<(Vec<ParameterView>, Vec<String>), SsmError> {
        let mut unique: Vec<&String> = Vec::new();
        for name in requested {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        for name in unique {
            if reference::is_reference(name) {
                match self.secret_reference(ctx, name, with_decryption, "ssm:GetParameters") {
                    Ok(view) => found.push(view),
                    Err(SsmError::Fault(SsmFault::ParameterNotFound, _)) => invalid.push(name.clone()),
                    Err(e) => return Err(e),
                }
                continue;
            }
            names::reject_unreadable_name(name)?;
            let Some(reference) = names::parse_reference(name, &ctx.region, ctx.account_id()) else {
                invalid.push(name.clone());
                continue;
            };
            let resolved = read(&*self.store, |tx| match self.resolve(tx, ctx, &reference) {
                Err(SsmError::Fault(SsmFault::ParameterNotFound | SsmFault::ParameterVersionNotFound, _)) => Ok(None),
                other => other,
            })?;
            let arn = self.arn(ctx, &reference.name);
            self.authorize(
                ctx,
                "ssm:GetParameters",
                &arn,
                resolved.as_ref().map(|(r, _)| r),
                Vec::new(),
            )?;
            match resolved {
                Some((record, version)) => {
                    let view = self.view(ctx, &record, &version, reference.selector_text.clone(), with_decryption)?;
                    found.push(as_requested(view, &reference, name));
                }
                None => invalid.push(name.clone()),
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((found, invalid))
    }

    /// GetParametersByPath. Authorised on the path alone: a deny on something below it does not
    /// stop a recursive read, as AWS documents.
    #[allow(clippy::too_many_arguments)]
    pub fn get_parameters_by_path(
        &self,
        ctx: &RequestContext,
        path: &str,
        recursive: bool,
        filters: &[Filter],
        with_decryption: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<Page<ParameterView>, SsmError> {
        let path = names::validate_path(path)?;
        let filters = FilterSet::parse(filters, ListingKind::ByPath)?;
        let arn = parameter_arn(&ctx.region, ctx.account_id(), &path);
        self.authorize(
            ctx,
            "ssm:GetParametersByPath",
            &arn,
            None,
            vec![("ssm:Recursive".into(), vec![recursive.to_string()])],
        )?;
        let prefix = names::subtree_prefix(&path);
        let depth = if recursive { None } else { Some(prefix.len()) };
        let page = self.scan(ctx, &prefix, depth, next_token, max_results, |record| {
            filters.matches(record)
        })?;
        let mut items = Vec::new();
        for record in &page.items {
            let version = match filters.label() {
                Some(label) => match record.labels.get(label) {
                    Some(v) if *v != record.current.version => read(&*self.store, |tx| {
                        load_version(tx, &ctx.regional_scope(), &parameter_key(&record.name), *v)
                    })?
                    .unwrap_or_else(|| record.current.clone()),
                    _ => record.current.clone(),
                },
                None => record.current.clone(),
            };
            items.push(self.view(ctx, record, &version, None, with_decryption)?);
        }
        Ok(Page {
            items,
            next_marker: page.next_marker,
        })
    }

    /// Walks parameters under `prefix` in name order from `after`, keeping those `keep` accepts,
    /// until `limit` are found or the scan budget is spent (then the marker says where to go on).
    fn scan(
        &self,
        ctx: &RequestContext,
        prefix: &str,
        one_level_at: Option<usize>,
        next_token: Option<&str>,
        limit: usize,
        keep: impl Fn(&ParameterRecord) -> bool,
    ) -> Result<Page<ParameterRecord>, SsmError> {
        let after = match next_token {
            Some(token) => {
                let decoded = paging::decode_token(token)?;
                if !decoded.starts_with(prefix) {
                    return Err(fault(SsmFault::InvalidNextToken, "The specified token isn't valid."));
                }
                decoded
            }
            None => prefix.to_string(),
        };
        let scope = ctx.regional_scope();
        let done = |items, more: bool, cursor: &str| Page {
            items,
            next_marker: more.then(|| paging::encode_token(cursor)),
        };
        read(&*self.store, |tx| {
            let mut items = Vec::new();
            let mut cursor = after.clone();
            let mut scanned = 0;
            // Start with one row more than a full page (enough to know whether another page
            // exists), then widen when filters skip rows.
            let mut batch_size = limit + 1;
            loop {
                let batch = records::scan::<ParameterRecord>(tx, &scope, Some(&cursor), batch_size)?;
                if batch.is_empty() {
                    return Ok(done(items, false, &cursor));
                }
                for entry in batch {
                    if !entry.id.starts_with(prefix) {
                        return Ok(done(items, false, &cursor));
                    }
                    if items.len() == limit || scanned >= SCAN_BUDGET {
                        // Another row is under the prefix: there is more to page through.
                        return Ok(done(items, true, &cursor));
                    }
                    scanned += 1;
                    cursor = entry.id.clone();
                    if one_level_at.is_some_and(|at| entry.id[at..].contains('/')) {
                        continue;
                    }
                    let record = entry.decode()?;
                    if keep(&record) {
                        items.push(record);
                    }
                }
                batch_size = (batch_size * 4).min(256);
            }
        })
    }

    pub fn describe_parameters(
        &self,
        ctx: &RequestContext,
        legacy_filters: &[Filter],
        parameter_filters: &[Filter],
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<Page<MetadataView>, SsmError> {
        if !legacy_filters.is_empty() && !parameter_filters.is_empty() {
            return Err(fault(
                SsmFault::Validation,
                "You can use either Filters or ParameterFilters in a single request.",
            ));
        }
        let filters = if legacy_filters.is_empty() {
            FilterSet::parse(parameter_filters, ListingKind::Describe)?
        } else {
            FilterSet::legacy(legacy_filters)
        };
        self.authorize(ctx, "ssm:DescribeParameters", "*", None, Vec::new())?;
        let (prefix, depth) = filters.scan_range();
        let page = self.scan(ctx, &prefix, depth, next_token, max_results, |r| filters.matches(r))?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|record| MetadataView {
                    arn: self.arn(ctx, &record.name),
                    labels: Vec::new(),
                    name: record.name,
                    version: record.current,
                    value: None,
                })
                .collect(),
            next_marker: page.next_marker,
        })
    }

    pub fn parameter_history(
        &self,
        ctx: &RequestContext,
        name: &str,
        with_decryption: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<Page<MetadataView>, SsmError> {
        names::reject_unreadable_name(name)?;
        let reference =
            names::parse_parameter(name, &ctx.region, ctx.account_id()).ok_or_else(|| not_found(name.trim()))?;
        let key = parameter_key(&reference.name);
        let scope = ctx.regional_scope();
        let arn = self.arn(ctx, &reference.name);
        let (record, versions) = read(&*self.store, |tx| {
            let Some(record) = load_parameter(tx, &scope, &key)? else {
                return Ok((None, Vec::new()));
            };
            let versions = all_versions(tx, &scope, &key)?;
            Ok((Some(record), versions))
        })?;
        self.authorize(ctx, "ssm:GetParameterHistory", &arn, record.as_ref(), Vec::new())?;
        let record = record.ok_or_else(|| not_found(name.trim()))?;
        let page = paging::by_offset(&versions, max_results, next_token)?;
        let mut items = Vec::new();
        for version in page.items {
            items.push(MetadataView {
                name: record.name.clone(),
                arn: arn.clone(),
                labels: record.labels_of(version.version),
                value: Some(self.value_of(ctx, &version, &arn, with_decryption)?),
                version,
            });
        }
        Ok(Page {
            items,
            next_marker: page.next_marker,
        })
    }

    // ---- deletion ----

    pub fn delete_parameter(&self, ctx: &RequestContext, name: &str) -> Result<(), SsmError> {
        match self.delete_one(ctx, name, "ssm:DeleteParameter")? {
            true => Ok(()),
            false => Err(not_found(name.trim())),
        }
    }

    pub fn delete_parameters(
        &self,
        ctx: &RequestContext,
        requested: &[String],
    ) -> Result<(Vec<String>, Vec<String>), SsmError> {
        let mut deleted = Vec::new();
        let mut invalid = Vec::new();
        for name in requested {
            if self.delete_one(ctx, name, "ssm:DeleteParameters")? {
                deleted.push(name.clone());
            } else {
                invalid.push(name.clone());
            }
        }
        Ok((deleted, invalid))
    }

    fn delete_one(&self, ctx: &RequestContext, name: &str, action: &str) -> Result<bool, SsmError> {
        names::reject_unreadable_name(name)?;
        let Some(reference) = names::parse_parameter(name, &ctx.region, ctx.account_id()) else {
            return Ok(false);
        };
        let key = parameter_key(&reference.name);
        let scope = ctx.regional_scope();
        let arn = self.arn(ctx, &reference.name);
        transact(&*self.store, |tx| {
            let record = load_parameter(tx, &scope, &key)?;
            self.authorize(ctx, action, &arn, record.as_ref(), Vec::new())?;
            let Some(record) = record else {
                return Ok(false);
            };
            self.remove(tx, &scope, &record)?;
            self.publish(tx, self.change_event(ctx, &record.name, "Delete", &record.current)?)?;
            Ok(true)
        })
    }

    fn remove(&self, tx: &mut dyn Transaction, scope: &str, record: &ParameterRecord) -> Result<(), SsmError> {
        change_count(tx, scope, &record.current.tier, -1)?;
        delete_parameter_records(tx, scope, record)?;
        tx.cancel(&policy_job_id(scope, &parameter_key(&record.name)))?;
        Ok(())
    }

    // ---- labels ----

    /// LabelParameterVersion: the labels that could not be attached, and the version labelled.
    pub fn label_parameter_version(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: Option<i64>,
        labels: &[String],
    ) -> Result<(Vec<String>, i64), SsmError> {
        self.change_labels(ctx, name, "ssm:LabelParameterVersion", |record, tx, scope| {
            let target = version.unwrap_or(record.current.version);
            ensure_version(tx, scope, record, target, &record.name)?;
            let (valid, invalid): (Vec<&String>, Vec<&String>) = labels.iter().partition(|l| names::valid_label(l));
            let on_target = record.labels_of(target);
            let added = valid.iter().filter(|l| !on_target.contains(l)).count();
            if on_target.len() + added > MAX_LABELS_PER_VERSION {
                return Err(fault(
                    SsmFault::ParameterVersionLabelLimitExceeded,
                    "An error occurred (ParameterVersionLabelLimitExceeded) when calling the LabelParameterVersion operation: A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.",
                ));
            }
            for label in &valid {
                record.labels.insert((*label).clone(), target);
            }
            let changed = !valid.is_empty();
            Ok(((invalid.into_iter().cloned().collect(), target), changed))
        })
    }

    /// UnlabelParameterVersion: the labels removed, and those that were not on the version.
    pub fn unlabel_parameter_version(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: i64,
        labels: &[String],
    ) -> Result<(Vec<String>, Vec<String>), SsmError> {
        self.change_labels(ctx, name, "ssm:UnlabelParameterVersion", |record, tx, scope| {
            ensure_version(tx, scope, record, version, &record.name)?;
            let mut removed = Vec::new();
            let mut invalid = Vec::new();
            for label in labels {
                if record.labels.get(label) == Some(&version) {
                    record.labels.remove(label);
                    removed.push(label.clone());
                } else {
                    invalid.push(label.clone());
                }
            }
            let changed = !removed.is_empty();
            Ok(((removed, invalid), changed))
        })
    }

    fn change_labels<T>(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        mut change: impl FnMut(&mut ParameterRecord, &mut dyn Transaction, &str) -> Result<(T, bool), SsmError>,
    ) -> Result<T, SsmError> {
        names::reject_unreadable_name(name)?;
        let reference =
            names::parse_parameter(name, &ctx.region, ctx.account_id()).ok_or_else(|| not_found(name.trim()))?;
        let key = parameter_key(&reference.name);
        let scope = ctx.regional_scope();
        let arn = self.arn(ctx, &reference.name);
        let operation = action.trim_start_matches("ssm:");
        transact(&*self.store, |tx| {
            let record = load_parameter(tx, &scope, &key)?;
            self.authorize(ctx, action, &arn, record.as_ref(), Vec::new())?;
            let mut record = record.ok_or_else(|| not_found(name.trim()))?;
            let (out, changed) = change(&mut record, tx, &scope)?;
            if changed {
                save_parameter(tx, &scope, &record)?;
                self.publish(tx, self.change_event(ctx, &record.name, operation, &record.current)?)?;
            }
            Ok(out)
        })
    }

    // ---- tags ----

    fn tagged_parameter(
        &self,
        ctx: &RequestContext,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<(String, String), SsmError> {
        if resource_type != "Parameter" {
            return Err(fault(SsmFault::InvalidResourceType, "Invalid Resource Type"));
        }
        let reference = names::parse_parameter(resource_id, &ctx.region, ctx.account_id())
            .ok_or_else(|| fault(SsmFault::InvalidResourceId, "Invalid Resource Id"))?;
        Ok((parameter_key(&reference.name), self.arn(ctx, &reference.name)))
    }

    fn change_tags(
        &self,
        ctx: &RequestContext,
        resource_type: &str,
        resource_id: &str,
        action: &str,
        keys: Vec<(String, Vec<String>)>,
        change: impl Fn(&mut Vec<(String, String)>) -> Result<(), SsmError>,
    ) -> Result<(), SsmError> {
        let (key, arn) = self.tagged_parameter(ctx, resource_type, resource_id)?;
        let scope = ctx.regional_scope();
        transact(&*self.store, |tx| {
            let record = load_parameter(tx, &scope, &key)?;
            self.authorize(ctx, action, &arn, record.as_ref(), keys.clone())?;
            let mut record = record.ok_or_else(|| fault(SsmFault::InvalidResourceId, "Invalid Resource Id"))?;
            change(&mut record.tags)?;
            save_parameter(tx, &scope, &record)
        })
    }

    pub fn add_tags(
        &self,
        ctx: &RequestContext,
        resource_type: &str,
        resource_id: &str,
        tags: &[Tag],
    ) -> Result<(), SsmError> {
        validate_tags(tags)?;
        self.change_tags(
            ctx,
            resource_type,
            resource_id,
            "ssm:AddTagsToResource",
            tags::request_keys(tags, &[]),
            |existing| {
                let mut current: Vec<Tag> = existing.drain(..).map(Tag::from).collect();
                let merged = tags::upsert(&mut current, tags, &TAG_RULES).map_err(tag_error);
                *existing = current.into_iter().map(Tag::into_pair).collect();
                merged
            },
        )
    }

    pub fn remove_tags(
        &self,
        ctx: &RequestContext,
        resource_type: &str,
        resource_id: &str,
        tag_keys: &[String],
    ) -> Result<(), SsmError> {
        self.change_tags(
            ctx,
            resource_type,
            resource_id,
            "ssm:RemoveTagsFromResource",
            tags::request_keys(&[], tag_keys),
            |existing| {
                existing.retain(|(k, _)| !tag_keys.contains(k));
                Ok(())
            },
        )
    }

    pub fn list_tags(
        &self,
        ctx: &RequestContext,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Vec<Tag>, SsmError> {
        let (key, arn) = self.tagged_parameter(ctx, resource_type, resource_id)?;
        let record = read(&*self.store, |tx| load_parameter(tx, &ctx.regional_scope(), &key))?;
        self.authorize(ctx, "ssm:ListTagsForResource", &arn, record.as_ref(), Vec::new())?;
        let record = record.ok_or_else(|| fault(SsmFault::InvalidResourceId, "Invalid Resource Id"))?;
        Ok(record.tags.into_iter().map(|(key, value)| Tag { key, value }).collect())
    }

    // ---- service settings ----

    fn setting_id(&self, ctx: &RequestContext, raw: &str) -> Result<(String, String), SsmError> {
        let prefix = format!("arn:aws:ssm:{}:{}:servicesetting", ctx.region, ctx.account_id());
        let id = raw.strip_prefix(&prefix).unwrap_or(raw);
        if id != SETTING_DEFAULT_TIER && id != SETTING_HIGH_THROUGHPUT {
            return Err(fault(
                SsmFault::ServiceSettingNotFound,
                format!("No setting found for SettingId: {raw}"),
            ));
        }
        Ok((id.to_string(), format!("{prefix}{id}")))
    }

    fn setting_value(&self, ctx: &RequestContext, id: &str) -> Result<String, SsmError> {
        let stored = read(&*self.store, |tx| load_setting(tx, &ctx.regional_scope(), id))?;
        Ok(stored.map_or_else(|| default_setting(id).to_string(), |s| s.value))
    }

    fn setting_view(&self, ctx: &RequestContext, raw: &str) -> Result<ServiceSetting, SsmError> {
        let (id, arn) = self.setting_id(ctx, raw)?;
        let stored = read(&*self.store, |tx| load_setting(tx, &ctx.regional_scope(), &id))?;
        Ok(match stored {
            Some(s) => ServiceSetting {
                setting_id: id,
                value: s.value,
                last_modified: s.last_modified,
                last_modified_user: s.last_modified_user,
                arn,
                status: "Customized",
            },
            None => ServiceSetting {
                value: default_setting(&id).to_string(),
                setting_id: id,
                last_modified: 0.0,
                last_modified_user: "System".into(),
                arn,
                status: "Default",
            },
        })
    }

    pub fn service_setting(&self, ctx: &RequestContext, raw: &str) -> Result<ServiceSetting, SsmError> {
        let (_, arn) = self.setting_id(ctx, raw)?;
        self.authorize(ctx, "ssm:GetServiceSetting", &arn, None, Vec::new())?;
        self.setting_view(ctx, raw)
    }

    pub fn update_service_setting(&self, ctx: &RequestContext, raw: &str, value: &str) -> Result<(), SsmError> {
        let (id, arn) = self.setting_id(ctx, raw)?;
        self.authorize(ctx, "ssm:UpdateServiceSetting", &arn, None, Vec::new())?;
        let allowed: &[&str] = if id == SETTING_DEFAULT_TIER {
            &[STANDARD, ADVANCED, INTELLIGENT_TIERING]
        } else {
            &["true", "false"]
        };
        if !allowed.contains(&value) {
            return Err(fault(
                SsmFault::Validation,
                format!(
                    "The value {value} is not valid for the setting {id}. Valid values: [{}].",
                    allowed.join(", ")
                ),
            ));
        }
        let record = SettingRecord {
            value: value.to_string(),
            last_modified: self.now(),
            last_modified_user: ctx.principal.arn.clone(),
        };
        transact(&*self.store, |tx| {
            Ok(records::put(tx, &ctx.regional_scope(), &id, &record)?)
        })
    }

    pub fn reset_service_setting(&self, ctx: &RequestContext, raw: &str) -> Result<ServiceSetting, SsmError> {
        let (id, arn) = self.setting_id(ctx, raw)?;
        self.authorize(ctx, "ssm:ResetServiceSetting", &arn, None, Vec::new())?;
        transact(&*self.store, |tx| {
            records::delete::<SettingRecord>(tx, &ctx.regional_scope(), &id)?;
            Ok(())
        })?;
        self.setting_view(ctx, raw)
    }

    // ---- policies ----

    /// (Re)schedules the policy job of a parameter for its next due policy, or cancels it.
    fn schedule_policies(
        &self,
        tx: &mut dyn Transaction,
        scope: &str,
        record: &ParameterRecord,
    ) -> Result<(), SsmError> {
        let key = parameter_key(&record.name);
        let job_id = policy_job_id(scope, &key);
        let last_change = record.current.last_modified.max(record.policies_set_at) as i64;
        match policies::due_times(&record.current.policies, last_change)
            .into_iter()
            .map(|(_, at)| at)
            .min()
        {
            Some(due_at) => tx.schedule(&Job {
                id: job_id,
                due_at,
                kind: JOB_POLICIES.into(),
                payload: serde_json::to_vec(&json!({ "scope": scope, "key": key }))?,
            })?,
            None => tx.cancel(&job_id)?,
        }
        Ok(())
    }

    /// Acts on the parameter policies that fell due; an expiration is the CloudTrail service event
    /// `DeleteParameter`, answered for the caller to record.
    pub fn run_job(&self, job: &Job) -> Result<Vec<ServiceEvent>, SsmError> {
        if job.kind != JOB_POLICIES {
            return Err(SsmError::Internal(format!("unknown ssm job {}", job.kind)));
        }
        let payload: serde_json::Value = serde_json::from_slice(&job.payload)?;
        let (Some(scope), Some(key)) = (payload["scope"].as_str(), payload["key"].as_str()) else {
            return Err(SsmError::Internal("bad ssm policy job payload".into()));
        };
        let (account, region) = scope
            .split_once(':')
            .ok_or_else(|| SsmError::Internal("bad ssm policy job scope".into()))?;
        let now = self.clock.now();
        let now_seconds = now.unix_timestamp();
        let mut expired_arn = None;
        transact(&*self.store, |tx| {
            expired_arn = None;
            let Some(mut record) = load_parameter(tx, scope, key)? else {
                return Ok(());
            };
            let last_change = record.current.last_modified.max(record.policies_set_at) as i64;
            let mut due: Vec<(usize, i64)> = policies::due_times(&record.current.policies, last_change)
                .into_iter()
                .filter(|(_, at)| *at <= now_seconds)
                .collect();
            // Several may have come due while the server was down: act in the order they fell due.
            due.sort_by_key(|(_, at)| *at);
            if due.is_empty() {
                return self.schedule_policies(tx, scope, &record);
            }
            let mut expired = false;
            for (index, _) in due {
                let policy = &mut record.current.policies[index];
                policy.status = policies::FINISHED.into();
                let reason = match policy.policy_type.as_str() {
                    policies::EXPIRATION => {
                        expired = true;
                        "The parameter was deleted because its expiration time was reached."
                    }
                    policies::EXPIRATION_NOTIFICATION => "The parameter will expire soon.",
                    _ => "The parameter has not been changed within the specified time.",
                };
                let event = Event::new(
                    POLICY_ACTION,
                    "aws.ssm",
                    account,
                    region,
                    now,
                    vec![parameter_arn(region, account, &record.name)],
                    json!({
                        "parameter-name": record.name,
                        "parameter-type": record.current.parameter_type,
                        "policy-type": policy.policy_type,
                        "action-status": "Finished",
                        "action-reason": reason,
                    }),
                )?;
                self.events.publish(tx, &event)?;
            }
            if expired {
                self.remove(tx, scope, &record)?;
                expired_arn = Some(parameter_arn(region, account, &record.name));
                let event = Event::new(
                    CHANGE,
                    "aws.ssm",
                    account,
                    region,
                    now,
                    vec![parameter_arn(region, account, &record.name)],
                    json!({ "operation": "Delete", "name": record.name, "type": record.current.parameter_type }),
                )?;
                self.events.publish(tx, &event)?;
                return Ok(());
            }
            save_version(tx, scope, key, &record.current)?;
            save_parameter(tx, scope, &record)?;
            self.schedule_policies(tx, scope, &record)
        })?;
        expired_arn
            .map(|arn| {
                let parameter = AuditResource {
                    account_id: account.to_string(),
                    resource_type: "AWS::SSM::Parameter",
                    arn,
                };
                Ok(ServiceEvent::about(
                    "ssm.amazonaws.com",
                    "DeleteParameter",
                    now,
                    parameter,
                    Value::Null,
                )?)
            })
            .into_iter()
            .collect()
    }
}

/// The version of `record` that `reference` selects.
fn select_version(
    tx: &mut dyn Transaction,
    scope: &str,
    record: &ParameterRecord,
    reference: &Reference,
) -> Result<VersionRecord, SsmError> {
    let key = parameter_key(&record.name);
    let wanted = match &reference.selector {
        None => return Ok(record.current.clone()),
        Some(Selector::Version(v)) => *v,
        Some(Selector::Label(label)) => *record
            .labels
            .get(label)
            .ok_or_else(|| not_found(&format!("{}:{label}", reference.name)))?,
    };
    if wanted == record.current.version {
        return Ok(record.current.clone());
    }
    load_version(tx, scope, &key, wanted)?.ok_or_else(|| match &reference.selector {
        Some(Selector::Label(label)) => not_found(&format!("{}:{label}", reference.name)),
        _ => version_not_found(&reference.name, wanted),
    })
}

fn ensure_version(
    tx: &mut dyn Transaction,
    scope: &str,
    record: &ParameterRecord,
    version: i64,
    name: &str,
) -> Result<(), SsmError> {
    let kept = version >= record.oldest_version && version <= record.current.version;
    if !kept || load_version(tx, scope, &parameter_key(name), version)?.is_none() {
        return Err(version_not_found(name, version));
    }
    Ok(())
}

fn policy_job_id(scope: &str, key: &str) -> String {
    format!("{JOB_POLICIES}:{scope}:{key}")
}

fn load_setting(tx: &mut dyn Transaction, scope: &str, id: &str) -> Result<Option<SettingRecord>, SsmError> {
    Ok(records::get(tx, scope, id)?)
}

fn default_setting(id: &str) -> &'static str {
    if id == SETTING_DEFAULT_TIER { STANDARD } else { "false" }
}

/// Parameter Store's tag limits.
const TAG_RULES: TagRules = TagRules::at_most_50(true, KeyCase::Unchecked);

fn validate_tags(tags: &[Tag]) -> Result<(), SsmError> {
    tags::check(tags, &TAG_RULES).map_err(tag_error)
}

fn tag_error(violation: TagViolation) -> SsmError {
    match violation {
        TagViolation::TooMany => fault(
            SsmFault::TooManyTags,
            "You have exceeded the maximum number of tags (50) for this resource.",
        ),
        TagViolation::ReservedPrefix => fault(
            SsmFault::Validation,
            "Tag keys can't start with \"aws:\". This prefix is reserved for AWS use.",
        ),
        // Parameter Store's rules do not check it.
        TagViolation::DuplicateKey => SsmError::Internal("tag rule outside Parameter Store's: DuplicateKey".into()),
    }
}

fn validate_data_type(data_type: &str, parameter_type: &str, value: &str) -> Result<(), SsmError> {
    match data_type {
        "text" | "aws:ssm:integration" => Ok(()),
        "aws:ec2:image" => {
            if parameter_type != STRING {
                return Err(fault(
                    SsmFault::Validation,
                    "The aws:ec2:image data type is supported only for String parameters.",
                ));
            }
            let valid = value
                .strip_prefix("ami-")
                .is_some_and(|id| (8..=17).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit()));
            if !valid {
                return Err(fault(
                    SsmFault::Validation,
                    format!(
                        "The parameter value {value} is not a valid Amazon Machine Image ID. An image ID has the format ami-12345678 or ami-1234567890abcdef0."
                    ),
                ));
            }
            Ok(())
        }
        other => Err(fault(
            SsmFault::Validation,
            format!("The following data type is not supported: {other} (Data type names are all lowercase.)"),
        )),
    }
}

fn check_allowed_pattern(pattern: &str, value: &str) -> Result<(), SsmError> {
    // The whole value must match, as with Java's `matches()` that Parameter Store uses.
    let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
        fault(
            SsmFault::InvalidAllowedPattern,
            format!("The allowed pattern {pattern} is not a valid regular expression."),
        )
    })?;
    if !regex.is_match(value) {
        return Err(fault(
            SsmFault::ParameterPatternMismatch,
            format!("Parameter value, cannot be validated against allowedPattern: {pattern}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use keyhaven_kernel::events::Events;
    use keyhaven_kernel::testing::Harness;
    pub use keyhaven_kernel::testing::{ACCOUNT, START, ctx};
    use keyhaven_store::testing::TempDir;

    use crate::{ParameterQuotas, Ssm};

    /// Parameter Store with KMS and Secrets Manager behind it on a test harness, its jobs
    /// registered.
    pub struct Fixture {
        pub harness: Harness,
        pub ssm: Arc<Ssm>,
    }

    impl std::ops::Deref for Fixture {
        type Target = Harness;
        fn deref(&self) -> &Harness {
            &self.harness
        }
    }

    pub fn core() -> (TempDir, Fixture) {
        core_with(ParameterQuotas::default())
    }

    pub fn core_with(quotas: ParameterQuotas) -> (TempDir, Fixture) {
        let (dir, h) = Harness::new();
        let kms = keyhaven_kms::testing::kms_on(&h);
        let secrets = Arc::new(keyhaven_secrets::Secrets::new(
            h.store.clone(),
            h.clock.clone(),
            h.authz.clone(),
            kms.clone(),
        ));
        let events = Events::new(Vec::new(), h.clock.clone());
        let ssm = Arc::new(Ssm::new(
            h.store.clone(),
            h.clock.clone(),
            h.authz.clone(),
            kms,
            secrets,
            events,
            quotas,
        ));
        h.scheduler.register("ssm", ssm.clone());
        (dir, Fixture { harness: h, ssm })
    }

    pub fn service_events(core: &Fixture) -> Vec<(String, String, String)> {
        core.harness.service_events()
    }
}
