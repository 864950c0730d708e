//! Parameter Store on the wire: generated request shapes → core calls → generated response shapes.

use keyhaven_core::Core;
use keyhaven_kernel::audit::AuditResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kms::{Page, Tag};
use keyhaven_ssm::{Filter, MetadataView, ParameterView, PutInput, ServiceSetting};
use zeroize::Zeroizing;

use crate::error::{ApiError, ssm_error};
use crate::generated::ssm::{self as wire, Request};
use crate::kms::{Executed, limit, required, respond_with};
use crate::shapes::{DecodeError, SensitiveString, Timestamp};

const DEFAULT_BY_PATH_RESULTS: usize = 10;
const DEFAULT_DESCRIBE_RESULTS: usize = 10;
const DEFAULT_HISTORY_RESULTS: usize = 50;

/// Parameter Store ends its validation messages with a period, except GetParametersByPath's.
pub fn decode_error(e: DecodeError, operation: &str) -> ApiError {
    match e {
        DecodeError::Validation(message) if operation != "GetParametersByPath" && !message.ends_with('.') => {
            ApiError::validation(format!("{message}."))
        }
        other => crate::kms::decode_error(other),
    }
}

/// CloudTrail marks Parameter Store reads read-only.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| operation.starts_with(p))
}

/// Whether an operation may schedule timed work (parameter policies), so the scheduler is woken.
pub fn schedules_work(operation: &str) -> bool {
    operation == "PutParameter"
}

fn resource(arn: &str, ctx: &RequestContext) -> AuditResource {
    AuditResource {
        arn: arn.to_string(),
        resource_type: "AWS::SSM::Parameter",
        account_id: ctx.account_id().to_string(),
    }
}

fn parameter_arn(ctx: &RequestContext, name: &str) -> String {
    keyhaven_ssm::names::parameter_arn(&ctx.region, ctx.account_id(), name)
}

fn parameter_out(view: ParameterView) -> wire::Parameter {
    wire::Parameter {
        name: Some(view.name),
        type_: Some(view.parameter_type),
        value: Some(SensitiveString::new(view.value.to_string())),
        version: Some(view.version),
        selector: view.selector,
        last_modified_date: Some(Timestamp(view.last_modified)),
        arn: Some(view.arn),
        data_type: Some(view.data_type),
        source_result: view.source_result.map(|s| s.to_string()),
    }
}

fn policies_out(view: &MetadataView) -> Option<Vec<wire::ParameterInlinePolicy>> {
    Some(
        view.version
            .policies
            .iter()
            .map(|p| wire::ParameterInlinePolicy {
                policy_text: Some(p.text.clone()),
                policy_type: Some(p.policy_type.clone()),
                policy_status: Some(p.status.clone()),
            })
            .collect(),
    )
}

fn metadata_out(view: MetadataView) -> wire::ParameterMetadata {
    wire::ParameterMetadata {
        policies: policies_out(&view),
        name: Some(view.name),
        arn: Some(view.arn),
        type_: Some(view.version.parameter_type),
        key_id: view.version.key_id,
        last_modified_date: Some(Timestamp(view.version.last_modified)),
        last_modified_user: Some(view.version.last_modified_user),
        description: view.version.description,
        allowed_pattern: view.version.allowed_pattern,
        version: Some(view.version.version),
        tier: Some(view.version.tier),
        data_type: Some(view.version.data_type),
    }
}

fn history_out(view: MetadataView) -> wire::ParameterHistory {
    wire::ParameterHistory {
        policies: policies_out(&view),
        value: view.value.map(|v| SensitiveString::new(v.to_string())),
        labels: Some(view.labels),
        name: Some(view.name),
        type_: Some(view.version.parameter_type),
        key_id: view.version.key_id,
        last_modified_date: Some(Timestamp(view.version.last_modified)),
        last_modified_user: Some(view.version.last_modified_user),
        description: view.version.description,
        allowed_pattern: view.version.allowed_pattern,
        version: Some(view.version.version),
        tier: Some(view.version.tier),
        data_type: Some(view.version.data_type),
    }
}

fn setting_out(setting: ServiceSetting) -> wire::ServiceSetting {
    wire::ServiceSetting {
        setting_id: Some(setting.setting_id),
        setting_value: Some(setting.value),
        last_modified_date: Some(Timestamp(setting.last_modified)),
        last_modified_user: Some(setting.last_modified_user),
        arn: Some(setting.arn),
        status: Some(setting.status.to_string()),
    }
}

fn filters_in(filters: Option<Vec<wire::ParameterStringFilter>>) -> Vec<Filter> {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| Filter {
            key: f.key.unwrap_or_default(),
            option: f.option,
            values: f.values.unwrap_or_default(),
        })
        .collect()
}

fn legacy_filters_in(filters: Option<Vec<wire::ParametersFilter>>) -> Vec<Filter> {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| Filter {
            key: f.key.unwrap_or_default(),
            option: None,
            values: f.values.unwrap_or_default(),
        })
        .collect()
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

fn next_token<T>(page: &Page<T>) -> Option<String> {
    page.next_marker.clone()
}

/// Runs one Parameter Store operation for `ctx`.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Executed, ApiError> {
    let ssm = &core.ssm;
    match request {
        Request::PutParameter(input) => {
            let name = required(input.name, "Name")?;
            let value = input
                .value
                .map(|v| Zeroizing::new(v.expose().to_string()))
                .unwrap_or_default();
            let resources = vec![resource(&parameter_arn(ctx, name.trim_matches(' ')), ctx)];
            let (version, tier) = ssm
                .put_parameter(
                    ctx,
                    PutInput {
                        name,
                        description: input.description,
                        value,
                        parameter_type: input.type_,
                        key_id: input.key_id,
                        overwrite: input.overwrite.unwrap_or(false),
                        allowed_pattern: input.allowed_pattern,
                        tags: tags_in(input.tags),
                        tier: input.tier,
                        policies: input.policies,
                        data_type: input.data_type,
                    },
                )
                .map_err(ssm_error)?;
            let output = wire::PutParameterResult {
                version: Some(version),
                tier: Some(tier),
            };
            respond_with(&output, resources, true)
        }
        Request::GetParameter(input) => {
            let view = ssm
                .get_parameter(
                    ctx,
                    &required(input.name, "Name")?,
                    input.with_decryption.unwrap_or(false),
                )
                .map_err(ssm_error)?;
            let resources = vec![resource(&view.arn, ctx)];
            let output = wire::GetParameterResult {
                parameter: Some(parameter_out(view)),
            };
            respond_with(&output, resources, false)
        }
        Request::GetParameters(input) => {
            let (found, invalid) = ssm
                .get_parameters(
                    ctx,
                    &input.names.unwrap_or_default(),
                    input.with_decryption.unwrap_or(false),
                )
                .map_err(ssm_error)?;
            let resources = found.iter().map(|v| resource(&v.arn, ctx)).collect();
            let output = wire::GetParametersResult {
                parameters: Some(found.into_iter().map(parameter_out).collect()),
                invalid_parameters: Some(invalid),
            };
            respond_with(&output, resources, false)
        }
        Request::GetParametersByPath(input) => {
            let page = ssm
                .get_parameters_by_path(
                    ctx,
                    &required(input.path, "Path")?,
                    input.recursive.unwrap_or(false),
                    &filters_in(input.parameter_filters),
                    input.with_decryption.unwrap_or(false),
                    limit(input.max_results, DEFAULT_BY_PATH_RESULTS),
                    input.next_token.as_deref(),
                )
                .map_err(ssm_error)?;
            let next = next_token(&page);
            let output = wire::GetParametersByPathResult {
                parameters: Some(page.items.into_iter().map(parameter_out).collect()),
                next_token: next,
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::GetParameterHistory(input) => {
            let page = ssm
                .parameter_history(
                    ctx,
                    &required(input.name, "Name")?,
                    input.with_decryption.unwrap_or(false),
                    limit(input.max_results, DEFAULT_HISTORY_RESULTS),
                    input.next_token.as_deref(),
                )
                .map_err(ssm_error)?;
            let resources = page
                .items
                .first()
                .map(|v| vec![resource(&v.arn, ctx)])
                .unwrap_or_default();
            let next = next_token(&page);
            let output = wire::GetParameterHistoryResult {
                parameters: Some(page.items.into_iter().map(history_out).collect()),
                next_token: next,
            };
            respond_with(&output, resources, false)
        }
        Request::DescribeParameters(input) => {
            let page = ssm
                .describe_parameters(
                    ctx,
                    &legacy_filters_in(input.filters),
                    &filters_in(input.parameter_filters),
                    limit(input.max_results, DEFAULT_DESCRIBE_RESULTS),
                    input.next_token.as_deref(),
                )
                .map_err(ssm_error)?;
            let next = next_token(&page);
            let output = wire::DescribeParametersResult {
                parameters: Some(page.items.into_iter().map(metadata_out).collect()),
                next_token: next,
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::DeleteParameter(input) => {
            let name = required(input.name, "Name")?;
            ssm.delete_parameter(ctx, &name).map_err(ssm_error)?;
            let resources = vec![resource(&parameter_arn(ctx, name.trim_matches(' ')), ctx)];
            respond_with(&wire::DeleteParameterResult {}, resources, false)
        }
        Request::DeleteParameters(input) => {
            let (deleted, invalid) = ssm
                .delete_parameters(ctx, &input.names.unwrap_or_default())
                .map_err(ssm_error)?;
            let resources = deleted.iter().map(|n| resource(&parameter_arn(ctx, n), ctx)).collect();
            let output = wire::DeleteParametersResult {
                deleted_parameters: Some(deleted),
                invalid_parameters: Some(invalid),
            };
            respond_with(&output, resources, true)
        }
        Request::LabelParameterVersion(input) => {
            let name = required(input.name, "Name")?;
            let (invalid, version) = ssm
                .label_parameter_version(ctx, &name, input.parameter_version, &input.labels.unwrap_or_default())
                .map_err(ssm_error)?;
            let output = wire::LabelParameterVersionResult {
                invalid_labels: Some(invalid),
                parameter_version: Some(version),
            };
            respond_with(&output, vec![resource(&parameter_arn(ctx, &name), ctx)], true)
        }
        Request::UnlabelParameterVersion(input) => {
            let name = required(input.name, "Name")?;
            let (removed, invalid) = ssm
                .unlabel_parameter_version(
                    ctx,
                    &name,
                    input.parameter_version.unwrap_or_default(),
                    &input.labels.unwrap_or_default(),
                )
                .map_err(ssm_error)?;
            let output = wire::UnlabelParameterVersionResult {
                removed_labels: Some(removed),
                invalid_labels: Some(invalid),
            };
            respond_with(&output, vec![resource(&parameter_arn(ctx, &name), ctx)], true)
        }
        Request::AddTagsToResource(input) => {
            ssm.add_tags(
                ctx,
                &required(input.resource_type, "ResourceType")?,
                &required(input.resource_id, "ResourceId")?,
                &tags_in(input.tags),
            )
            .map_err(ssm_error)?;
            respond_with(&wire::AddTagsToResourceResult {}, Vec::new(), false)
        }
        Request::RemoveTagsFromResource(input) => {
            ssm.remove_tags(
                ctx,
                &required(input.resource_type, "ResourceType")?,
                &required(input.resource_id, "ResourceId")?,
                &input.tag_keys.unwrap_or_default(),
            )
            .map_err(ssm_error)?;
            respond_with(&wire::RemoveTagsFromResourceResult {}, Vec::new(), false)
        }
        Request::ListTagsForResource(input) => {
            let tags = ssm
                .list_tags(
                    ctx,
                    &required(input.resource_type, "ResourceType")?,
                    &required(input.resource_id, "ResourceId")?,
                )
                .map_err(ssm_error)?;
            let output = wire::ListTagsForResourceResult {
                tag_list: Some(
                    tags.into_iter()
                        .map(|t| wire::Tag {
                            key: Some(t.key),
                            value: Some(t.value),
                        })
                        .collect(),
                ),
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::GetServiceSetting(input) => {
            let setting = ssm
                .service_setting(ctx, &required(input.setting_id, "SettingId")?)
                .map_err(ssm_error)?;
            let output = wire::GetServiceSettingResult {
                service_setting: Some(setting_out(setting)),
            };
            respond_with(&output, Vec::new(), false)
        }
        Request::UpdateServiceSetting(input) => {
            ssm.update_service_setting(
                ctx,
                &required(input.setting_id, "SettingId")?,
                &required(input.setting_value, "SettingValue")?,
            )
            .map_err(ssm_error)?;
            respond_with(&wire::UpdateServiceSettingResult {}, Vec::new(), false)
        }
        Request::ResetServiceSetting(input) => {
            let setting = ssm
                .reset_service_setting(ctx, &required(input.setting_id, "SettingId")?)
                .map_err(ssm_error)?;
            let output = wire::ResetServiceSettingResult {
                service_setting: Some(setting_out(setting)),
            };
            respond_with(&output, Vec::new(), true)
        }
    }
}
