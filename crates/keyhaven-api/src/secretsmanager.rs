//! Secrets Manager on the wire: generated request shapes → core calls → generated response shapes.

use std::collections::BTreeMap;

use keyhaven_core::Core;
use keyhaven_crypto::SecretBytes;
use keyhaven_kernel::audit::AuditResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kms::Tag;
use keyhaven_secrets::password::PasswordOptions;
use keyhaven_secrets::{
    CreateInput, Filter, ListInput, ReplicaRecord, ReplicaSpec, RotationInput, RotationRules, SecretRecord,
    SecretValue, ValueView, Written,
};
use zeroize::Zeroizing;

use crate::error::{ApiError, secrets_error};
use crate::generated::secretsmanager::{self as wire, Request};
use crate::kms::{Executed, limit, required, respond_with};
use crate::shapes::{Blob, SensitiveString, Timestamp};

/// CloudTrail marks Secrets Manager reads read-only.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List", "BatchGet", "Validate"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Whether an operation may schedule timed work (deletion, rotation), so the scheduler is woken.
pub fn schedules_work(operation: &str) -> bool {
    matches!(operation, "DeleteSecret" | "RotateSecret" | "CreateSecret")
}

fn resource(arn: &str) -> Vec<AuditResource> {
    vec![AuditResource {
        arn: arn.to_string(),
        resource_type: "AWS::SecretsManager::Secret",
        account_id: keyhaven_secrets::names::account_of(arn).to_string(),
    }]
}

fn value_in(string: Option<SensitiveString>, binary: Option<Blob>) -> Result<Option<SecretValue>, ApiError> {
    keyhaven_secrets::value_from_request(
        string.map(|s| Zeroizing::new(s.expose().to_string())),
        binary.map(|b| SecretBytes::from_slice(b.as_bytes())),
    )
    .map_err(secrets_error)
}

fn value_out(value: &SecretValue) -> (Option<SensitiveString>, Option<Blob>) {
    match value {
        SecretValue::String(s) => (Some(SensitiveString::new(s.to_string())), None),
        SecretValue::Binary(b) => (None, Some(Blob::new(b.expose().to_vec()))),
    }
}

fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

/// Absent until the secret is first tagged; `[]` once all its tags are removed, as in AWS.
fn tags_out(record: &SecretRecord) -> Option<Vec<wire::Tag>> {
    (record.ever_tagged || !record.tags.is_empty()).then(|| {
        record
            .tags
            .iter()
            .map(|(k, v)| wire::Tag {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect()
    })
}

fn replicas_in(regions: Option<Vec<wire::ReplicaRegionType>>) -> Vec<ReplicaSpec> {
    regions
        .unwrap_or_default()
        .into_iter()
        .map(|r| ReplicaSpec {
            region: r.region.unwrap_or_default(),
            kms_key_id: r.kms_key_id,
        })
        .collect()
}

fn replication_out(replicas: &[ReplicaRecord]) -> Option<Vec<wire::ReplicationStatusType>> {
    (!replicas.is_empty()).then(|| {
        replicas
            .iter()
            .map(|r| wire::ReplicationStatusType {
                region: Some(r.region.clone()),
                kms_key_id: Some(
                    r.kms_key_id
                        .clone()
                        .unwrap_or_else(|| keyhaven_secrets::DEFAULT_KEY_ALIAS.to_string()),
                ),
                status: Some(r.status.clone()),
                status_message: Some(r.status_message.clone()),
                last_accessed_date: r.last_accessed.map(Timestamp),
            })
            .collect()
    })
}

fn rules_in(rules: Option<wire::RotationRulesType>) -> Option<RotationRules> {
    rules.map(|r| RotationRules {
        automatically_after_days: r.automatically_after_days,
        schedule_expression: r.schedule_expression,
        duration: r.duration,
    })
}

fn rules_out(rules: &Option<RotationRules>) -> Option<wire::RotationRulesType> {
    rules.as_ref().map(|r| wire::RotationRulesType {
        automatically_after_days: r.automatically_after_days,
        duration: r.duration.clone(),
        schedule_expression: r.schedule_expression.clone(),
    })
}

fn stages_map(record: &SecretRecord) -> Option<BTreeMap<String, Vec<String>>> {
    let map: BTreeMap<String, Vec<String>> = record
        .versions
        .iter()
        .filter(|(_, m)| !m.stages.is_empty())
        .map(|(id, m)| (id.clone(), m.stages.clone()))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn describe_out(record: &SecretRecord) -> wire::DescribeSecretResponse {
    let rotation_configured = record.rotation_lambda_arn.is_some();
    wire::DescribeSecretResponse {
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
        description: record.description.clone().filter(|d| !d.is_empty()),
        kms_key_id: record.kms_key_id.clone(),
        rotation_enabled: rotation_configured.then_some(record.rotation_enabled),
        rotation_lambda_arn: record.rotation_lambda_arn.clone(),
        rotation_rules: rules_out(&record.rotation_rules),
        last_rotated_date: record.last_rotated.map(Timestamp),
        last_changed_date: Some(Timestamp(record.last_changed)),
        last_accessed_date: record.last_accessed.map(Timestamp),
        deleted_date: record.deleted.map(Timestamp),
        next_rotation_date: record.next_rotation.map(Timestamp),
        tags: tags_out(record),
        version_ids_to_stages: stages_map(record),
        created_date: Some(Timestamp(record.created)),
        primary_region: record.primary_region.clone(),
        replication_status: replication_out(&record.replicas),
        ..Default::default()
    }
}

fn list_entry(record: &SecretRecord) -> wire::SecretListEntry {
    let d = describe_out(record);
    wire::SecretListEntry {
        arn: d.arn,
        name: d.name,
        description: d.description,
        kms_key_id: d.kms_key_id,
        rotation_enabled: d.rotation_enabled,
        rotation_lambda_arn: d.rotation_lambda_arn,
        rotation_rules: d.rotation_rules,
        last_rotated_date: d.last_rotated_date,
        last_changed_date: d.last_changed_date,
        last_accessed_date: d.last_accessed_date,
        deleted_date: d.deleted_date,
        next_rotation_date: d.next_rotation_date,
        tags: d.tags,
        secret_versions_to_stages: d.version_ids_to_stages,
        created_date: d.created_date,
        primary_region: d.primary_region,
        ..Default::default()
    }
}

fn value_entry(view: &ValueView) -> wire::SecretValueEntry {
    let (secret_string, secret_binary) = value_out(&view.value);
    wire::SecretValueEntry {
        arn: Some(view.arn.clone()),
        name: Some(view.name.clone()),
        version_id: Some(view.version_id.clone()),
        secret_binary,
        secret_string,
        version_stages: Some(view.stages.clone()),
        created_date: Some(Timestamp(view.created)),
    }
}

fn arn_and_name(record: &SecretRecord) -> (Option<String>, Option<String>) {
    (Some(record.arn.clone()), Some(record.name.clone()))
}

fn written(w: &Written) -> (Option<String>, Option<String>, Option<String>) {
    (Some(w.arn.clone()), Some(w.name.clone()), w.version_id.clone())
}

/// The SDKs fill in `ClientRequestToken` for the operations that make a version; a caller that
/// does not is refused before anything is looked up (texts and codes recorded from AWS).
fn require_token(token: &Option<String>, code: &'static str) -> Result<(), ApiError> {
    if token.is_some() {
        return Ok(());
    }
    Err(ApiError::bad_request(
        code,
        "You must provide a ClientRequestToken value. We recommend a UUID-type value.",
    ))
}

/// Runs one Secrets Manager operation for `ctx`.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Executed, ApiError> {
    let sm = &core.secrets;
    match request {
        Request::CreateSecret(input) => {
            require_token(&input.client_request_token, "InvalidRequestException")?;
            let value = value_in(input.secret_string, input.secret_binary)?;
            let w = sm
                .create_secret(
                    ctx,
                    CreateInput {
                        name: required(input.name, "Name")?,
                        token: input.client_request_token,
                        description: input.description,
                        kms_key_id: input.kms_key_id,
                        value,
                        tags: tags_in(input.tags),
                        replicas: replicas_in(input.add_replica_regions),
                        force_overwrite_replica: input.force_overwrite_replica_secret.unwrap_or(false),
                    },
                )
                .map_err(secrets_error)?;
            let (arn, name, version_id) = written(&w);
            let output = wire::CreateSecretResponse {
                arn,
                name,
                version_id,
                replication_status: replication_out(&w.replication),
            };
            respond_with(&output, resource(&w.arn), true)
        }
        Request::GetSecretValue(input) => {
            let view = sm
                .get_secret_value(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.version_id.as_deref(),
                    input.version_stage.as_deref(),
                )
                .map_err(secrets_error)?;
            let entry = value_entry(&view);
            let output = wire::GetSecretValueResponse {
                arn: entry.arn,
                name: entry.name,
                version_id: entry.version_id,
                secret_binary: entry.secret_binary,
                secret_string: entry.secret_string,
                version_stages: entry.version_stages,
                created_date: entry.created_date,
            };
            respond_with(&output, resource(&view.arn), false)
        }
        Request::BatchGetSecretValue(input) => {
            let (values, errors, next_token) = sm
                .batch_get_secret_value(
                    ctx,
                    input.secret_id_list,
                    input.filters.map(filters_in),
                    input.max_results.and_then(|m| usize::try_from(m).ok()),
                    input.next_token,
                )
                .map_err(secrets_error)?;
            let errors: Vec<wire::APIErrorType> = errors
                .into_iter()
                .map(|(secret_id, e)| {
                    let error = secrets_error(e);
                    wire::APIErrorType {
                        secret_id: Some(secret_id),
                        error_code: Some(error.code.to_string()),
                        message: Some(error.message),
                    }
                })
                .collect();
            let resources = values.iter().flat_map(|v| resource(&v.arn)).collect();
            let output = wire::BatchGetSecretValueResponse {
                secret_values: Some(values.iter().map(value_entry).collect()),
                next_token,
                errors: Some(errors),
            };
            respond_with(&output, resources, false)
        }
        Request::PutSecretValue(input) => {
            require_token(&input.client_request_token, "InvalidRequestException")?;
            let value = value_in(input.secret_string, input.secret_binary)?;
            let w = sm
                .put_secret_value(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.client_request_token,
                    value,
                    input.version_stages,
                )
                .map_err(secrets_error)?;
            let (arn, name, version_id) = written(&w);
            let output = wire::PutSecretValueResponse {
                arn,
                name,
                version_id,
                version_stages: Some(w.stages.clone()),
            };
            respond_with(&output, resource(&w.arn), true)
        }
        Request::UpdateSecret(input) => {
            let value = value_in(input.secret_string, input.secret_binary)?;
            if value.is_some() {
                require_token(&input.client_request_token, "InvalidRequestException")?;
            }
            let w = sm
                .update_secret(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.client_request_token,
                    input.description,
                    input.kms_key_id,
                    value,
                )
                .map_err(secrets_error)?;
            let (arn, name, version_id) = written(&w);
            let output = wire::UpdateSecretResponse { arn, name, version_id };
            respond_with(&output, resource(&w.arn), true)
        }
        Request::DescribeSecret(input) => {
            let record = sm
                .describe_secret(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let output = describe_out(&record);
            respond_with(&output, resource(&record.arn), false)
        }
        Request::ListSecrets(input) => {
            let listed = sm
                .list_secrets(
                    ctx,
                    &ListInput {
                        include_planned_deletion: input.include_planned_deletion.unwrap_or(false),
                        max_results: Some(limit(input.max_results, 100)),
                        next_token: input.next_token,
                        filters: filters_in(input.filters.unwrap_or_default()),
                        sort_order: input.sort_order,
                        sort_by: input.sort_by,
                    },
                )
                .map_err(secrets_error)?;
            let output = wire::ListSecretsResponse {
                secret_list: Some(listed.items.iter().map(list_entry).collect()),
                next_token: listed.next_marker,
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::ListSecretVersionIds(input) => {
            let (record, listed) = sm
                .list_secret_version_ids(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.include_deprecated.unwrap_or(false),
                    Some(limit(input.max_results, 100)),
                    input.next_token.as_deref(),
                )
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            let output = wire::ListSecretVersionIdsResponse {
                versions: Some(
                    listed
                        .items
                        .into_iter()
                        .map(|v| wire::SecretVersionsListEntry {
                            version_id: Some(v.version_id),
                            version_stages: (!v.stages.is_empty()).then_some(v.stages),
                            last_accessed_date: v.last_accessed.map(Timestamp),
                            created_date: Some(Timestamp(v.created)),
                            kms_key_ids: Some(vec![
                                record
                                    .kms_key_id
                                    .clone()
                                    .unwrap_or_else(|| "DefaultEncryptionKey".into()),
                            ]),
                        })
                        .collect(),
                ),
                next_token: listed.next_marker,
                arn,
                name,
            };
            respond_with(&output, resource(&record.arn), false)
        }
        Request::UpdateSecretVersionStage(input) => {
            let record = sm
                .update_secret_version_stage(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    &required(input.version_stage, "VersionStage")?,
                    input.remove_from_version_id.as_deref(),
                    input.move_to_version_id.as_deref(),
                )
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            respond_with(
                &wire::UpdateSecretVersionStageResponse { arn, name },
                resource(&record.arn),
                true,
            )
        }
        Request::DeleteSecret(input) => {
            let (arn, name, due) = sm
                .delete_secret(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.recovery_window_in_days,
                    input.force_delete_without_recovery.unwrap_or(false),
                )
                .map_err(secrets_error)?;
            let resources = resource(&arn);
            let output = wire::DeleteSecretResponse {
                arn: Some(arn),
                name: Some(name),
                deletion_date: Some(Timestamp(due)),
            };
            respond_with(&output, resources, true)
        }
        Request::RestoreSecret(input) => {
            let record = sm
                .restore_secret(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            respond_with(&wire::RestoreSecretResponse { arn, name }, resource(&record.arn), true)
        }
        Request::RotateSecret(input) => {
            require_token(&input.client_request_token, "InvalidParameterException")?;
            let w = sm
                .rotate_secret(
                    ctx,
                    RotationInput {
                        secret_id: required(input.secret_id, "SecretId")?,
                        token: input.client_request_token,
                        lambda_arn: input.rotation_lambda_arn,
                        rules: rules_in(input.rotation_rules),
                        rotate_immediately: input.rotate_immediately,
                    },
                )
                .map_err(secrets_error)?;
            let (arn, name, version_id) = written(&w);
            respond_with(
                &wire::RotateSecretResponse { arn, name, version_id },
                resource(&w.arn),
                true,
            )
        }
        Request::CancelRotateSecret(input) => {
            let w = sm
                .cancel_rotate_secret(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let (arn, name, version_id) = written(&w);
            respond_with(
                &wire::CancelRotateSecretResponse { arn, name, version_id },
                resource(&w.arn),
                true,
            )
        }
        Request::GetRandomPassword(input) => {
            let password = sm
                .get_random_password(
                    ctx,
                    &PasswordOptions {
                        length: input.password_length,
                        exclude_characters: input.exclude_characters,
                        exclude_numbers: input.exclude_numbers.unwrap_or(false),
                        exclude_punctuation: input.exclude_punctuation.unwrap_or(false),
                        exclude_uppercase: input.exclude_uppercase.unwrap_or(false),
                        exclude_lowercase: input.exclude_lowercase.unwrap_or(false),
                        include_space: input.include_space.unwrap_or(false),
                        require_each_included_type: input.require_each_included_type,
                    },
                )
                .map_err(secrets_error)?;
            let output = wire::GetRandomPasswordResponse {
                random_password: Some(SensitiveString::new(password.to_string())),
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::TagResource(input) => {
            let secret_id = required(input.secret_id, "SecretId")?;
            sm.tag_resource(ctx, &secret_id, tags_in(input.tags))
                .map_err(secrets_error)?;
            respond_with(&serde_json::json!({}), Vec::new(), false)
        }
        Request::UntagResource(input) => {
            let secret_id = required(input.secret_id, "SecretId")?;
            sm.untag_resource(ctx, &secret_id, input.tag_keys.unwrap_or_default())
                .map_err(secrets_error)?;
            respond_with(&serde_json::json!({}), Vec::new(), false)
        }
        Request::GetResourcePolicy(input) => {
            let record = sm
                .get_resource_policy(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            let output = wire::GetResourcePolicyResponse {
                arn,
                name,
                resource_policy: record.policy.clone(),
            };
            respond_with(&output, resource(&record.arn), false)
        }
        Request::PutResourcePolicy(input) => {
            let record = sm
                .put_resource_policy(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    &required(input.resource_policy, "ResourcePolicy")?,
                    input.block_public_policy.unwrap_or(false),
                )
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            respond_with(
                &wire::PutResourcePolicyResponse { arn, name },
                resource(&record.arn),
                true,
            )
        }
        Request::DeleteResourcePolicy(input) => {
            let record = sm
                .delete_resource_policy(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let (arn, name) = arn_and_name(&record);
            respond_with(
                &wire::DeleteResourcePolicyResponse { arn, name },
                resource(&record.arn),
                true,
            )
        }
        Request::ValidateResourcePolicy(input) => {
            let errors = sm
                .validate_resource_policy(
                    ctx,
                    input.secret_id.as_deref(),
                    &required(input.resource_policy, "ResourcePolicy")?,
                )
                .map_err(secrets_error)?;
            let output = wire::ValidateResourcePolicyResponse {
                policy_validation_passed: Some(errors.is_empty()),
                validation_errors: Some(
                    errors
                        .into_iter()
                        .map(|(check, message)| wire::ValidationErrorsEntry {
                            check_name: Some(check.to_string()),
                            error_message: Some(message),
                        })
                        .collect(),
                ),
            };
            respond_with(&output, Vec::new(), true)
        }
        Request::ReplicateSecretToRegions(input) => {
            let record = sm
                .replicate_secret_to_regions(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    replicas_in(input.add_replica_regions),
                    input.force_overwrite_replica_secret.unwrap_or(false),
                )
                .map_err(secrets_error)?;
            let output = wire::ReplicateSecretToRegionsResponse {
                arn: Some(record.arn.clone()),
                replication_status: Some(replication_out(&record.replicas).unwrap_or_default()),
            };
            respond_with(&output, resource(&record.arn), true)
        }
        Request::RemoveRegionsFromReplication(input) => {
            let record = sm
                .remove_regions_from_replication(
                    ctx,
                    &required(input.secret_id, "SecretId")?,
                    input.remove_replica_regions.unwrap_or_default(),
                )
                .map_err(secrets_error)?;
            let output = wire::RemoveRegionsFromReplicationResponse {
                arn: Some(record.arn.clone()),
                replication_status: Some(replication_out(&record.replicas).unwrap_or_default()),
            };
            respond_with(&output, resource(&record.arn), true)
        }
        Request::StopReplicationToReplica(input) => {
            let arn = sm
                .stop_replication_to_replica(ctx, &required(input.secret_id, "SecretId")?)
                .map_err(secrets_error)?;
            let resources = resource(&arn);
            respond_with(
                &wire::StopReplicationToReplicaResponse { arn: Some(arn) },
                resources,
                true,
            )
        }
    }
}

fn filters_in(filters: Vec<wire::Filter>) -> Vec<Filter> {
    filters
        .into_iter()
        .map(|f| Filter {
            key: f.key,
            values: f.values,
        })
        .collect()
}
