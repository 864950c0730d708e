//! KMS on the wire: generated request shapes → core calls → generated response shapes.

use keyhaven_core::Core;
use keyhaven_crypto::EncryptionContext;
use keyhaven_kernel::audit::AuditResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kms::{self as core_kms, KeyRecord, Page, RotationListing, Tag};
use serde::Serialize;
use serde_json::Value;

use crate::audit_params::camel_case_keys;
use crate::error::{ApiError, kms_error};
use crate::generated::kms::{self as wire, Request};
use crate::shapes::{Blob, DecodeError, Timestamp};

const DEFAULT_LIST_KEYS_LIMIT: usize = 100;
const DEFAULT_LIST_ALIASES_LIMIT: usize = 50;
const DEFAULT_TAGS_LIMIT: usize = 50;
const DEFAULT_GRANTS_LIMIT: usize = 50;

/// What executing an operation produced: the response body and what the audit record keeps of it.
#[derive(Debug)]
pub struct Executed {
    pub body: Vec<u8>,
    pub response_elements: Value,
    pub resources: Vec<AuditResource>,
}

pub fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::UnknownOperation(_) => ApiError::unknown_operation(),
        DecodeError::Serialization(message) => ApiError::serialization(message),
        DecodeError::Validation(message) => ApiError::validation(message),
    }
}

/// CloudTrail marks KMS reads and cryptographic operations read-only.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| operation.starts_with(p))
        || matches!(
            operation,
            "Encrypt"
                | "Decrypt"
                | "ReEncrypt"
                | "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "GenerateDataKeyPair"
                | "GenerateDataKeyPairWithoutPlaintext"
                | "GenerateRandom"
                | "Sign"
                | "Verify"
                | "GenerateMac"
                | "VerifyMac"
                | "DeriveSharedSecret"
        )
}

fn resource(arn: &str, account_id: &str) -> AuditResource {
    AuditResource {
        arn: arn.to_string(),
        resource_type: "AWS::KMS::Key",
        account_id: account_id.to_string(),
    }
}

/// Serialises `output`; management operations also keep it as the audit record's response elements.
fn respond<T: Serialize>(
    output: &T,
    key_arn: Option<&str>,
    ctx: &RequestContext,
    keep_response: bool,
) -> Result<Executed, ApiError> {
    let resources = key_arn
        .map(|arn| vec![resource(arn, ctx.account_id())])
        .unwrap_or_default();
    respond_with(output, resources, keep_response)
}

/// Serialises an awsJson `output` touching `resources`; with `keep_response` its members also
/// become the audit record's response elements.
pub fn respond_with<T: Serialize>(
    output: &T,
    resources: Vec<AuditResource>,
    keep_response: bool,
) -> Result<Executed, ApiError> {
    let value = serde_json::to_value(output).map_err(|_| ApiError::internal())?;
    let body = serde_json::to_vec(&value).map_err(|_| ApiError::internal())?;
    let response_elements = if keep_response && value.as_object().is_some_and(|m| !m.is_empty()) {
        camel_case_keys(value)
    } else {
        Value::Null
    };
    Ok(Executed {
        body,
        response_elements,
        resources,
    })
}

pub fn required<T>(value: Option<T>, member: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            crate::audit_params::lower_first(member)
        ))
    })
}

pub fn limit(value: Option<i32>, default: usize) -> usize {
    value.and_then(|v| usize::try_from(v).ok()).unwrap_or(default)
}

fn context(value: Option<std::collections::BTreeMap<String, String>>) -> EncryptionContext {
    value.unwrap_or_default()
}

fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.tag_key.unwrap_or_default(),
            value: t.tag_value.unwrap_or_default(),
        })
        .collect()
}

/// A list member AWS leaves out when it is empty.
fn listed(names: Vec<&'static str>) -> Option<Vec<String>> {
    (!names.is_empty()).then(|| names.into_iter().map(str::to_string).collect())
}

fn key_metadata(record: &KeyRecord) -> wire::KeyMetadata {
    let spec = core_kms::key_spec::of(&record.key_spec).ok();
    let symmetric = record.key_spec == core_kms::SYMMETRIC_DEFAULT;
    let imported = core_kms::Kms::import_settings(record);
    wire::KeyMetadata {
        aws_account_id: Some(record.account_id.clone()),
        key_id: Some(record.key_id.clone()),
        arn: Some(record.arn()),
        creation_date: Some(Timestamp(record.creation_date)),
        enabled: Some(record.state == core_kms::KeyState::Enabled),
        description: Some(record.description.clone()),
        key_usage: Some(record.key_usage.clone()),
        key_state: Some(record.state.as_str().to_string()),
        deletion_date: record.deletion_date.map(Timestamp),
        valid_to: imported.as_ref().and_then(|(_, valid_to)| valid_to.map(Timestamp)),
        expiration_model: imported.map(|(model, _)| model),
        origin: Some(record.origin.clone()),
        key_manager: Some(record.key_manager.clone()),
        customer_master_key_spec: Some(record.key_spec.clone()),
        key_spec: Some(record.key_spec.clone()),
        encryption_algorithms: spec.and_then(|s| listed(s.encryption_algorithms(&record.key_usage))),
        signing_algorithms: spec.and_then(|s| listed(s.signing_algorithms(&record.key_usage))),
        mac_algorithms: spec.and_then(|s| listed(s.mac_algorithms())),
        key_agreement_algorithms: spec.and_then(|s| listed(s.key_agreement_algorithms(&record.key_usage))),
        multi_region: Some(record.multi_region.is_some()),
        multi_region_configuration: record.multi_region.as_ref().map(|family| {
            let member = |region: &str| wire::MultiRegionKey {
                arn: Some(core_kms::key_arn(region, &record.account_id, &record.key_id)),
                region: Some(region.to_string()),
            };
            wire::MultiRegionConfiguration {
                multi_region_key_type: Some(if record.is_replica() { "REPLICA" } else { "PRIMARY" }.to_string()),
                primary_key: Some(member(&family.primary_region)),
                replica_keys: Some(family.replica_regions.iter().map(|r| member(r)).collect()),
            }
        }),
        pending_deletion_window_in_days: record.pending_window_days,
        // AWS names the current material of symmetric keys only.
        custom_key_store_id: record.custom_key_store.as_ref().map(|(store, _)| store.clone()),
        cloud_hsm_cluster_id: record.custom_key_store.as_ref().map(|(_, cluster)| cluster.clone()),
        current_key_material_id: symmetric
            .then(|| record.current_material().map(|m| m.id.clone()))
            .flatten(),
        ..Default::default()
    }
}

fn marker_out<T>(page: &Page<T>) -> (Option<String>, Option<bool>) {
    (page.next_marker.clone(), Some(page.next_marker.is_some()))
}

/// Runs one KMS operation for `ctx`.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Executed, ApiError> {
    let kms = &core.kms;
    kms.throttle_operation(ctx, request.operation_name())
        .map_err(kms_error)?;
    match request {
        Request::CreateKey(input) => {
            let record = kms
                .create_key(
                    ctx,
                    core_kms::CreateKeyInput {
                        description: input.description,
                        key_usage: input.key_usage,
                        key_spec: input.key_spec,
                        customer_master_key_spec: input.customer_master_key_spec,
                        origin: input.origin,
                        policy: input.policy,
                        bypass_policy_lockout_safety_check: input.bypass_policy_lockout_safety_check.unwrap_or(false),
                        tags: tags_in(input.tags),
                        multi_region: input.multi_region.unwrap_or(false),
                        custom_key_store_id: input.custom_key_store_id,
                    },
                )
                .map_err(kms_error)?;
            let output = wire::CreateKeyResponse {
                key_metadata: Some(key_metadata(&record)),
            };
            respond(&output, Some(&record.arn()), ctx, true)
        }
        Request::DescribeKey(input) => {
            let record = kms
                .describe_key(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(
                &wire::DescribeKeyResponse {
                    key_metadata: Some(key_metadata(&record)),
                },
                Some(&record.arn()),
                ctx,
                false,
            )
        }
        Request::ListKeys(input) => {
            let page = kms
                .list_keys(
                    ctx,
                    limit(input.limit, DEFAULT_LIST_KEYS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            let (next_marker, truncated) = marker_out(&page);
            let keys = page
                .items
                .iter()
                .map(|k| wire::KeyListEntry {
                    key_id: Some(k.key_id.clone()),
                    key_arn: Some(k.arn()),
                })
                .collect();
            respond(
                &wire::ListKeysResponse {
                    keys: Some(keys),
                    next_marker,
                    truncated,
                },
                None,
                ctx,
                false,
            )
        }
        Request::UpdateKeyDescription(input) => {
            let key = required(input.key_id, "KeyId")?;
            kms.update_key_description(ctx, &key, input.description.unwrap_or_default())
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::EnableKey(input) => {
            kms.enable_key(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DisableKey(input) => {
            kms.disable_key(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::ScheduleKeyDeletion(input) => {
            let record = kms
                .schedule_key_deletion(ctx, &required(input.key_id, "KeyId")?, input.pending_window_in_days)
                .map_err(kms_error)?;
            core.scheduler.wake();
            let output = wire::ScheduleKeyDeletionResponse {
                key_id: Some(record.arn()),
                deletion_date: record.deletion_date.map(Timestamp),
                key_state: Some(record.state.as_str().to_string()),
                pending_window_in_days: record.pending_window_days,
            };
            respond(&output, Some(&record.arn()), ctx, true)
        }
        Request::CancelKeyDeletion(input) => {
            let record = kms
                .cancel_key_deletion(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(
                &wire::CancelKeyDeletionResponse {
                    key_id: Some(record.arn()),
                },
                Some(&record.arn()),
                ctx,
                true,
            )
        }
        Request::CreateAlias(input) => {
            let (alias, target) = (
                required(input.alias_name, "AliasName")?,
                required(input.target_key_id, "TargetKeyId")?,
            );
            kms.create_alias(ctx, &alias, &target).map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::UpdateAlias(input) => {
            let (alias, target) = (
                required(input.alias_name, "AliasName")?,
                required(input.target_key_id, "TargetKeyId")?,
            );
            kms.update_alias(ctx, &alias, &target).map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DeleteAlias(input) => {
            kms.delete_alias(ctx, &required(input.alias_name, "AliasName")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::ListAliases(input) => {
            let page = kms
                .list_aliases(
                    ctx,
                    input.key_id.as_deref(),
                    limit(input.limit, DEFAULT_LIST_ALIASES_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            let (next_marker, truncated) = marker_out(&page);
            let aliases = page
                .items
                .iter()
                .map(|a| wire::AliasListEntry {
                    alias_name: Some(a.name.clone()),
                    alias_arn: Some(core_kms::alias_arn(&ctx.region, ctx.account_id(), &a.name)),
                    target_key_id: a.record.as_ref().map(|r| r.target_key_id.clone()),
                    creation_date: a.record.as_ref().map(|r| Timestamp(r.creation_date)),
                    last_updated_date: a.record.as_ref().map(|r| Timestamp(r.last_updated_date)),
                })
                .collect();
            respond(
                &wire::ListAliasesResponse {
                    aliases: Some(aliases),
                    next_marker,
                    truncated,
                },
                None,
                ctx,
                false,
            )
        }
        Request::TagResource(input) => {
            kms.tag_resource(ctx, &required(input.key_id, "KeyId")?, tags_in(input.tags))
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::UntagResource(input) => {
            kms.untag_resource(
                ctx,
                &required(input.key_id, "KeyId")?,
                &input.tag_keys.unwrap_or_default(),
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::ListResourceTags(input) => {
            let page = kms
                .list_resource_tags(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    limit(input.limit, DEFAULT_TAGS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            let (next_marker, truncated) = marker_out(&page);
            let tags = page
                .items
                .iter()
                .map(|t| wire::Tag {
                    tag_key: Some(t.key.clone()),
                    tag_value: Some(t.value.clone()),
                })
                .collect();
            respond(
                &wire::ListResourceTagsResponse {
                    tags: Some(tags),
                    next_marker,
                    truncated,
                },
                None,
                ctx,
                false,
            )
        }
        Request::GetKeyPolicy(input) => {
            let name = input.policy_name.clone();
            let policy = kms
                .get_key_policy(ctx, &required(input.key_id, "KeyId")?, name.as_deref())
                .map_err(kms_error)?;
            respond(
                &wire::GetKeyPolicyResponse {
                    policy: Some(policy),
                    policy_name: Some(name.unwrap_or_else(|| "default".into())),
                },
                None,
                ctx,
                false,
            )
        }
        Request::PutKeyPolicy(input) => {
            let policy = required(input.policy, "Policy")?;
            kms.put_key_policy(
                ctx,
                &required(input.key_id, "KeyId")?,
                input.policy_name.as_deref(),
                &policy,
                input.bypass_policy_lockout_safety_check.unwrap_or(false),
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::ListKeyPolicies(input) => {
            let names = kms
                .list_key_policies(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(
                &wire::ListKeyPoliciesResponse {
                    policy_names: Some(names),
                    next_marker: None,
                    truncated: Some(false),
                },
                None,
                ctx,
                false,
            )
        }
        Request::Encrypt(input) => {
            let key = required(input.key_id, "KeyId")?;
            let plaintext = input.plaintext.ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null"))?;
            let sealed = kms
                .encrypt(
                    ctx,
                    &key,
                    plaintext.as_bytes(),
                    &context(input.encryption_context),
                    input.encryption_algorithm.as_deref(),
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::EncryptResponse {
                ciphertext_blob: Some(Blob::new(sealed.ciphertext)),
                key_id: Some(sealed.key_arn.clone()),
                encryption_algorithm: Some(algorithm_or_default(input.encryption_algorithm)),
            };
            respond(&output, Some(&sealed.key_arn), ctx, false)
        }
        Request::Decrypt(input) => {
            let blob = input.ciphertext_blob.ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"))?;
            if input.recipient.is_some() {
                return Err(unsupported("Decrypt with a Recipient attestation document"));
            }
            let opened = kms
                .decrypt(
                    ctx,
                    blob.as_bytes(),
                    &context(input.encryption_context),
                    input.key_id.as_deref(),
                    input.encryption_algorithm.as_deref(),
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let algorithm = algorithm_or_default(input.encryption_algorithm);
            let output = wire::DecryptResponse {
                key_id: Some(opened.key_arn.clone()),
                plaintext: Some(Blob::from(opened.plaintext)),
                key_material_id: material_of_symmetric(&algorithm, opened.material_id),
                encryption_algorithm: Some(algorithm),
                ..Default::default()
            };
            respond(&output, Some(&opened.key_arn), ctx, false)
        }
        Request::ReEncrypt(input) => {
            let blob = input.ciphertext_blob.ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"))?;
            let destination = required(input.destination_key_id, "DestinationKeyId")?;
            let moved = kms
                .re_encrypt(
                    ctx,
                    blob.as_bytes(),
                    &context(input.source_encryption_context),
                    input.source_key_id.as_deref(),
                    &destination,
                    &context(input.destination_encryption_context),
                    (
                        input.source_encryption_algorithm.as_deref(),
                        input.destination_encryption_algorithm.as_deref(),
                    ),
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let source_algorithm = algorithm_or_default(input.source_encryption_algorithm);
            let destination_algorithm = algorithm_or_default(input.destination_encryption_algorithm);
            let output = wire::ReEncryptResponse {
                ciphertext_blob: Some(Blob::new(moved.ciphertext)),
                source_key_id: Some(moved.source_key_arn),
                key_id: Some(moved.destination_key_arn.clone()),
                source_key_material_id: material_of_symmetric(&source_algorithm, moved.source_material_id),
                destination_key_material_id: material_of_symmetric(
                    &destination_algorithm,
                    moved.destination_material_id,
                ),
                source_encryption_algorithm: Some(source_algorithm),
                destination_encryption_algorithm: Some(destination_algorithm),
            };
            // Both keys are used: the source decrypts, the destination encrypts.
            let mut keys = vec![resource(&moved.destination_key_arn, ctx.account_id())];
            if let Some(source) = output
                .source_key_id
                .as_deref()
                .filter(|s| *s != moved.destination_key_arn)
            {
                keys.push(resource(source, ctx.account_id()));
            }
            respond_with(&output, keys, false)
        }
        Request::GenerateDataKey(input) => {
            if input.recipient.is_some() {
                return Err(unsupported("GenerateDataKey with a Recipient attestation document"));
            }
            let (plaintext, sealed) = data_key(
                core,
                ctx,
                "kms:GenerateDataKey",
                input.key_id,
                input.encryption_context,
                input.number_of_bytes,
                input.key_spec,
                input.dry_run,
            )?;
            let output = wire::GenerateDataKeyResponse {
                ciphertext_blob: Some(Blob::new(sealed.ciphertext)),
                plaintext: Some(Blob::from(plaintext)),
                key_id: Some(sealed.key_arn.clone()),
                key_material_id: Some(sealed.material_id),
                ..Default::default()
            };
            respond(&output, Some(&sealed.key_arn), ctx, false)
        }
        Request::GenerateDataKeyWithoutPlaintext(input) => {
            let (_, sealed) = data_key(
                core,
                ctx,
                "kms:GenerateDataKeyWithoutPlaintext",
                input.key_id,
                input.encryption_context,
                input.number_of_bytes,
                input.key_spec,
                input.dry_run,
            )?;
            let output = wire::GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: Some(Blob::new(sealed.ciphertext)),
                key_id: Some(sealed.key_arn.clone()),
                key_material_id: Some(sealed.material_id),
            };
            respond(&output, Some(&sealed.key_arn), ctx, false)
        }
        Request::GenerateRandom(input) => {
            if input.recipient.is_some() {
                return Err(unsupported("GenerateRandom with a Recipient attestation document"));
            }
            let bytes = kms
                .generate_random(ctx, input.number_of_bytes, input.custom_key_store_id.as_deref())
                .map_err(kms_error)?;
            respond(
                &wire::GenerateRandomResponse {
                    plaintext: Some(Blob::from(bytes)),
                    ..Default::default()
                },
                None,
                ctx,
                false,
            )
        }
        Request::EnableKeyRotation(input) => {
            kms.enable_key_rotation(ctx, &required(input.key_id, "KeyId")?, input.rotation_period_in_days)
                .map_err(kms_error)?;
            core.scheduler.wake();
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DisableKeyRotation(input) => {
            kms.disable_key_rotation(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::GetKeyRotationStatus(input) => {
            let status = kms
                .key_rotation_status(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            let output = wire::GetKeyRotationStatusResponse {
                key_rotation_enabled: Some(status.enabled),
                key_id: Some(status.key_arn.clone()),
                rotation_period_in_days: status.period_days,
                next_rotation_date: status.next_rotation.map(Timestamp),
                on_demand_rotation_start_date: None,
            };
            respond(&output, Some(&status.key_arn), ctx, false)
        }
        Request::RotateKeyOnDemand(input) => {
            let arn = kms
                .rotate_key_on_demand(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            respond(
                &wire::RotateKeyOnDemandResponse {
                    key_id: Some(arn.clone()),
                },
                Some(&arn),
                ctx,
                true,
            )
        }
        Request::ListKeyRotations(input) => {
            let listing = match input.include_key_material.as_deref() {
                Some("ALL_KEY_MATERIAL") => RotationListing::AllKeyMaterial,
                _ => RotationListing::RotationsOnly,
            };
            let page = kms
                .list_key_rotations(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    listing,
                    limit(input.limit, DEFAULT_LIST_KEYS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            let (next_marker, truncated) = marker_out(&page);
            let rotations = page
                .items
                .iter()
                .map(|r| wire::RotationsListEntry {
                    key_id: Some(r.key_arn.clone()),
                    key_material_id: Some(r.material_id.clone()),
                    rotation_date: r.rotation_date.map(Timestamp),
                    rotation_type: r.rotation_type.map(str::to_string),
                    key_material_state: Some(r.state.to_string()),
                    import_state: r
                        .imported
                        .as_ref()
                        .map(|(_, present)| if *present { "IMPORTED" } else { "PENDING_IMPORT" }.to_string()),
                    expiration_model: r.imported.as_ref().map(|(i, _)| i.expiration_model.clone()),
                    valid_to: r.imported.as_ref().and_then(|(i, _)| i.valid_to.map(Timestamp)),
                    key_material_description: r.imported.as_ref().and_then(|(i, _)| i.description.clone()),
                })
                .collect();
            respond(
                &wire::ListKeyRotationsResponse {
                    rotations: Some(rotations),
                    next_marker,
                    truncated,
                },
                None,
                ctx,
                false,
            )
        }
        Request::Sign(input) => {
            let algorithm = required(input.signing_algorithm, "SigningAlgorithm")?;
            let signed = kms
                .sign(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    required(input.message, "Message")?.as_bytes(),
                    input.message_type.as_deref(),
                    &algorithm,
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::SignResponse {
                key_id: Some(signed.key_arn.clone()),
                signature: Some(Blob::new(signed.signature)),
                signing_algorithm: Some(algorithm),
            };
            respond(&output, Some(&signed.key_arn), ctx, false)
        }
        Request::Verify(input) => {
            let algorithm = required(input.signing_algorithm, "SigningAlgorithm")?;
            let key_arn = kms
                .verify(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    required(input.message, "Message")?.as_bytes(),
                    input.message_type.as_deref(),
                    required(input.signature, "Signature")?.as_bytes(),
                    &algorithm,
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::VerifyResponse {
                key_id: Some(key_arn.clone()),
                signature_valid: Some(true),
                signing_algorithm: Some(algorithm),
            };
            respond(&output, Some(&key_arn), ctx, false)
        }
        Request::GetPublicKey(input) => {
            let info = kms
                .get_public_key(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            let metadata = key_metadata(&info.record);
            let output = wire::GetPublicKeyResponse {
                key_id: metadata.arn.clone(),
                public_key: Some(Blob::new(info.public_key)),
                customer_master_key_spec: metadata.customer_master_key_spec,
                key_spec: metadata.key_spec,
                key_usage: metadata.key_usage,
                encryption_algorithms: metadata.encryption_algorithms,
                signing_algorithms: metadata.signing_algorithms,
                key_agreement_algorithms: metadata.key_agreement_algorithms,
            };
            respond(&output, Some(&info.record.arn()), ctx, false)
        }
        Request::GenerateMac(input) => {
            let algorithm = required(input.mac_algorithm, "MacAlgorithm")?;
            let (mac, key_arn) = kms
                .generate_mac(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    required(input.message, "Message")?.as_bytes(),
                    &algorithm,
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::GenerateMacResponse {
                mac: Some(Blob::new(mac)),
                mac_algorithm: Some(algorithm),
                key_id: Some(key_arn.clone()),
            };
            respond(&output, Some(&key_arn), ctx, false)
        }
        Request::VerifyMac(input) => {
            let algorithm = required(input.mac_algorithm, "MacAlgorithm")?;
            let key_arn = kms
                .verify_mac(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    required(input.message, "Message")?.as_bytes(),
                    required(input.mac, "Mac")?.as_bytes(),
                    &algorithm,
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::VerifyMacResponse {
                key_id: Some(key_arn.clone()),
                mac_valid: Some(true),
                mac_algorithm: Some(algorithm),
            };
            respond(&output, Some(&key_arn), ctx, false)
        }
        Request::DeriveSharedSecret(input) => {
            if input.recipient.is_some() {
                return Err(unsupported("DeriveSharedSecret with a Recipient attestation document"));
            }
            let algorithm = required(input.key_agreement_algorithm, "KeyAgreementAlgorithm")?;
            let (secret, record) = kms
                .derive_shared_secret(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    &algorithm,
                    required(input.public_key, "PublicKey")?.as_bytes(),
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::DeriveSharedSecretResponse {
                key_id: Some(record.arn()),
                shared_secret: Some(Blob::from(secret)),
                key_agreement_algorithm: Some(algorithm),
                key_origin: Some(record.origin.clone()),
                ..Default::default()
            };
            respond(&output, Some(&record.arn()), ctx, false)
        }
        Request::GenerateDataKeyPair(input) => {
            if input.recipient.is_some() {
                return Err(unsupported("GenerateDataKeyPair with a Recipient attestation document"));
            }
            let (spec, pair) = data_key_pair(
                core,
                ctx,
                "GenerateDataKeyPair",
                input.key_id,
                input.key_pair_spec,
                input.encryption_context,
                input.dry_run,
            )?;
            let key_arn = pair.sealed.key_arn.clone();
            let output = wire::GenerateDataKeyPairResponse {
                private_key_ciphertext_blob: Some(Blob::new(pair.sealed.ciphertext)),
                private_key_plaintext: Some(Blob::from(pair.private_key)),
                public_key: Some(Blob::new(pair.public_key)),
                key_id: Some(key_arn.clone()),
                key_pair_spec: Some(spec),
                key_material_id: Some(pair.sealed.material_id),
                ..Default::default()
            };
            respond(&output, Some(&key_arn), ctx, false)
        }
        Request::GenerateDataKeyPairWithoutPlaintext(input) => {
            let (spec, pair) = data_key_pair(
                core,
                ctx,
                "GenerateDataKeyPairWithoutPlaintext",
                input.key_id,
                input.key_pair_spec,
                input.encryption_context,
                input.dry_run,
            )?;
            let key_arn = pair.sealed.key_arn.clone();
            let output = wire::GenerateDataKeyPairWithoutPlaintextResponse {
                private_key_ciphertext_blob: Some(Blob::new(pair.sealed.ciphertext)),
                public_key: Some(Blob::new(pair.public_key)),
                key_id: Some(key_arn.clone()),
                key_pair_spec: Some(spec),
                key_material_id: Some(pair.sealed.material_id),
            };
            respond(&output, Some(&key_arn), ctx, false)
        }
        Request::CreateGrant(input) => {
            let constraints = input.constraints.unwrap_or_default();
            let grant = core_kms::NewGrant {
                grantee_principal: required(input.grantee_principal, "GranteePrincipal")?,
                retiring_principal: input.retiring_principal,
                operations: required(input.operations, "Operations")?,
                constraint: core_kms::constraint_of(
                    constraints.encryption_context_equals,
                    constraints.encryption_context_subset,
                )
                .map_err(kms_error)?,
                name: input.name,
            };
            let (grant_token, grant_id) = kms
                .create_grant(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    grant,
                    input.dry_run.unwrap_or(false),
                )
                .map_err(kms_error)?;
            let output = wire::CreateGrantResponse {
                grant_token: Some(grant_token),
                grant_id: Some(grant_id),
            };
            respond(&output, None, ctx, false)
        }
        Request::ListGrants(input) => {
            let page = kms
                .list_grants(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    input.grant_id.as_deref(),
                    input.grantee_principal.as_deref(),
                    limit(input.limit, DEFAULT_GRANTS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            respond(&grants_out(&page), None, ctx, false)
        }
        Request::ListRetirableGrants(input) => {
            let page = kms
                .list_retirable_grants(
                    ctx,
                    &required(input.retiring_principal, "RetiringPrincipal")?,
                    limit(input.limit, DEFAULT_GRANTS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            respond(&grants_out(&page), None, ctx, false)
        }
        Request::RetireGrant(input) => {
            kms.retire_grant(
                ctx,
                input.grant_token.as_deref(),
                input.key_id.as_deref(),
                input.grant_id.as_deref(),
                input.dry_run.unwrap_or(false),
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::RevokeGrant(input) => {
            kms.revoke_grant(
                ctx,
                &required(input.key_id, "KeyId")?,
                &required(input.grant_id, "GrantId")?,
                input.dry_run.unwrap_or(false),
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::GetParametersForImport(input) => {
            let parameters = kms
                .get_parameters_for_import(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    &required(input.wrapping_algorithm, "WrappingAlgorithm")?,
                    &required(input.wrapping_key_spec, "WrappingKeySpec")?,
                )
                .map_err(kms_error)?;
            let output = wire::GetParametersForImportResponse {
                key_id: Some(parameters.key_arn.clone()),
                import_token: Some(Blob::new(parameters.import_token)),
                public_key: Some(Blob::new(parameters.public_key)),
                parameters_valid_to: Some(Timestamp(parameters.valid_to)),
            };
            respond(&output, Some(&parameters.key_arn), ctx, false)
        }
        Request::ImportKeyMaterial(input) => {
            let token = required(input.import_token, "ImportToken")?;
            let wrapped = required(input.encrypted_key_material, "EncryptedKeyMaterial")?;
            let (key_arn, material_id) = kms
                .import_key_material(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    core_kms::ImportRequest {
                        import_token: token.as_bytes(),
                        encrypted_key_material: wrapped.as_bytes(),
                        valid_to: input.valid_to.map(|t| t.0),
                        expiration_model: input.expiration_model.as_deref(),
                        import_type: input.import_type.as_deref(),
                        description: input.key_material_description.as_deref(),
                        material_id: input.key_material_id.as_deref(),
                    },
                )
                .map_err(kms_error)?;
            core.scheduler.wake();
            let output = wire::ImportKeyMaterialResponse {
                key_id: Some(key_arn.clone()),
                key_material_id: material_id,
            };
            respond(&output, Some(&key_arn), ctx, true)
        }
        Request::DeleteImportedKeyMaterial(input) => {
            let (key_arn, material_id) = kms
                .delete_imported_key_material(ctx, &required(input.key_id, "KeyId")?, input.key_material_id.as_deref())
                .map_err(kms_error)?;
            let output = wire::DeleteImportedKeyMaterialResponse {
                key_id: Some(key_arn.clone()),
                key_material_id: material_id,
            };
            respond(&output, Some(&key_arn), ctx, true)
        }
        Request::ReplicateKey(input) => {
            let tags = tags_in(input.tags);
            let replica = kms
                .replicate_key(
                    ctx,
                    &required(input.key_id, "KeyId")?,
                    &required(input.replica_region, "ReplicaRegion")?,
                    core_kms::ReplicaSettings {
                        policy: input.policy,
                        bypass_policy_lockout_safety_check: input.bypass_policy_lockout_safety_check.unwrap_or(false),
                        description: input.description,
                        tags: tags.clone(),
                    },
                )
                .map_err(kms_error)?;
            let output = wire::ReplicateKeyResponse {
                replica_key_metadata: Some(key_metadata(&replica)),
                replica_policy: Some(replica.policy.clone()),
                replica_tags: (!tags.is_empty()).then(|| {
                    tags.iter()
                        .map(|t| wire::Tag {
                            tag_key: Some(t.key.clone()),
                            tag_value: Some(t.value.clone()),
                        })
                        .collect()
                }),
            };
            respond(&output, Some(&replica.arn()), ctx, true)
        }
        Request::UpdatePrimaryRegion(input) => {
            kms.update_primary_region(
                ctx,
                &required(input.key_id, "KeyId")?,
                &required(input.primary_region, "PrimaryRegion")?,
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::GetKeyLastUsage(input) => {
            let (record, last) = kms
                .key_last_usage(ctx, &required(input.key_id, "KeyId")?)
                .map_err(kms_error)?;
            let output = wire::GetKeyLastUsageResponse {
                key_id: Some(record.key_id.clone()),
                key_last_usage: Some(last.map_or_else(Default::default, |last| wire::KeyLastUsageData {
                    operation: Some(last.operation),
                    timestamp: Some(Timestamp(last.timestamp)),
                    cloud_trail_event_id: Some(last.event_id),
                    kms_request_id: Some(last.request_id),
                })),
                tracking_start_date: Some(Timestamp(record.creation_date)),
                key_creation_date: Some(Timestamp(record.creation_date)),
            };
            respond(&output, Some(&record.arn()), ctx, false)
        }
        Request::CreateCustomKeyStore(input) => {
            let id = kms
                .create_custom_key_store(
                    ctx,
                    core_kms::NewCustomKeyStore {
                        name: required(input.custom_key_store_name, "CustomKeyStoreName")?,
                        store_type: input.custom_key_store_type,
                        cluster_id: input.cloud_hsm_cluster_id,
                        trust_anchor_certificate: input.trust_anchor_certificate,
                        password: input
                            .key_store_password
                            .map(|p| keyhaven_crypto::SecretBytes::from_slice(p.expose().as_bytes())),
                    },
                )
                .map_err(kms_error)?;
            let output = wire::CreateCustomKeyStoreResponse {
                custom_key_store_id: Some(id),
            };
            respond(&output, None, ctx, true)
        }
        Request::ConnectCustomKeyStore(input) => {
            kms.connect_custom_key_store(ctx, &required(input.custom_key_store_id, "CustomKeyStoreId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DisconnectCustomKeyStore(input) => {
            kms.disconnect_custom_key_store(ctx, &required(input.custom_key_store_id, "CustomKeyStoreId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::UpdateCustomKeyStore(input) => {
            kms.update_custom_key_store(
                ctx,
                &required(input.custom_key_store_id, "CustomKeyStoreId")?,
                core_kms::CustomKeyStoreUpdate {
                    new_name: input.new_custom_key_store_name,
                    password: input
                        .key_store_password
                        .map(|p| keyhaven_crypto::SecretBytes::from_slice(p.expose().as_bytes())),
                    cluster_id: input.cloud_hsm_cluster_id,
                },
            )
            .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DeleteCustomKeyStore(input) => {
            kms.delete_custom_key_store(ctx, &required(input.custom_key_store_id, "CustomKeyStoreId")?)
                .map_err(kms_error)?;
            respond(&serde_json::json!({}), None, ctx, false)
        }
        Request::DescribeCustomKeyStores(input) => {
            let page = kms
                .describe_custom_key_stores(
                    ctx,
                    input.custom_key_store_id.as_deref(),
                    input.custom_key_store_name.as_deref(),
                    limit(input.limit, DEFAULT_LIST_KEYS_LIMIT),
                    input.marker.as_deref(),
                )
                .map_err(kms_error)?;
            let (next_marker, truncated) = marker_out(&page);
            let stores = page
                .items
                .iter()
                .map(|s| wire::CustomKeyStoresListEntry {
                    custom_key_store_id: Some(s.id.clone()),
                    custom_key_store_name: Some(s.name.clone()),
                    cloud_hsm_cluster_id: Some(s.cluster_id.clone()),
                    trust_anchor_certificate: Some(s.trust_anchor_certificate.clone()),
                    connection_state: Some(s.connection_state.clone()),
                    connection_error_code: s.connection_error_code.clone(),
                    creation_date: Some(Timestamp(s.creation_date)),
                    custom_key_store_type: Some("AWS_CLOUDHSM".into()),
                    ..Default::default()
                })
                .collect();
            let output = wire::DescribeCustomKeyStoresResponse {
                custom_key_stores: Some(stores),
                next_marker,
                truncated,
            };
            respond(&output, None, ctx, false)
        }
    }
}

/// ListGrants and ListRetirableGrants answer alike.
fn grants_out(page: &Page<core_kms::GrantRecord>) -> wire::ListGrantsResponse {
    let (next_marker, truncated) = marker_out(page);
    let grants = page
        .items
        .iter()
        .map(|g| wire::GrantListEntry {
            key_id: Some(g.key_arn.clone()),
            grant_id: Some(g.grant_id.clone()),
            name: g.name.clone(),
            creation_date: Some(Timestamp(g.creation_date)),
            grantee_principal: Some(g.grantee_principal.clone()),
            retiring_principal: g.retiring_principal.clone(),
            issuing_account: Some(format!("arn:aws:iam::{}:root", g.issuing_account)),
            operations: Some(g.operations.clone()),
            constraints: g.constraint.as_ref().map(|c| match c {
                core_kms::GrantConstraint::Equals(pairs) => wire::GrantConstraints {
                    encryption_context_equals: Some(pairs.clone()),
                    ..Default::default()
                },
                core_kms::GrantConstraint::Subset(pairs) => wire::GrantConstraints {
                    encryption_context_subset: Some(pairs.clone()),
                    ..Default::default()
                },
            }),
        })
        .collect();
    wire::ListGrantsResponse {
        grants: Some(grants),
        next_marker,
        truncated,
    }
}

fn algorithm_or_default(algorithm: Option<String>) -> String {
    algorithm.unwrap_or_else(|| core_kms::SYMMETRIC_DEFAULT.into())
}

/// AWS names the key material of symmetric ciphertexts only.
fn material_of_symmetric(algorithm: &str, material_id: String) -> Option<String> {
    (algorithm == core_kms::SYMMETRIC_DEFAULT).then_some(material_id)
}

/// GenerateDataKeyPair and its WithoutPlaintext twin differ only in what they return: the spec and the pair.
fn data_key_pair(
    core: &Core,
    ctx: &RequestContext,
    operation: &str,
    key_id: Option<String>,
    spec: Option<String>,
    encryption_context: Option<std::collections::BTreeMap<String, String>>,
    dry_run: Option<bool>,
) -> Result<(String, core_kms::DataKeyPair), ApiError> {
    let spec = required(spec, "KeyPairSpec")?;
    let pair = core
        .kms
        .generate_data_key_pair(
            ctx,
            &format!("kms:{operation}"),
            operation,
            &required(key_id, "KeyId")?,
            &context(encryption_context),
            &spec,
            dry_run.unwrap_or(false),
        )
        .map_err(kms_error)?;
    Ok((spec, pair))
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext differ only in what they return.
#[allow(clippy::too_many_arguments)]
fn data_key(
    core: &Core,
    ctx: &RequestContext,
    action: &str,
    key_id: Option<String>,
    encryption_context: Option<std::collections::BTreeMap<String, String>>,
    number_of_bytes: Option<i32>,
    key_spec: Option<String>,
    dry_run: Option<bool>,
) -> Result<(keyhaven_crypto::SecretBytes, core_kms::Encrypted), ApiError> {
    let key = required(key_id, "KeyId")?;
    core.kms
        .generate_data_key(
            ctx,
            action,
            &key,
            &context(encryption_context),
            number_of_bytes,
            key_spec.as_deref(),
            dry_run.unwrap_or(false),
        )
        .map_err(kms_error)
}

fn unsupported(what: &str) -> ApiError {
    ApiError::unserved("UnsupportedOperationException", what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_operations() {
        for (op, expected) in [
            ("DescribeKey", true),
            ("Encrypt", true),
            ("ListAliases", true),
            ("CreateKey", false),
            ("ScheduleKeyDeletion", false),
        ] {
            assert_eq!(is_read_only(op), expected, "{op}");
        }
    }
}
