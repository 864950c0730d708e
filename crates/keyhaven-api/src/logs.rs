//! CloudWatch Logs on the wire: generated request shapes → core calls → generated response shapes.

use std::collections::BTreeMap;

use keyhaven_core::Core;
use keyhaven_kernel::audit::AuditResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::tags::Tag;
use keyhaven_logs::events::{Event, FilterQuery};
use keyhaven_logs::names::{group_arn, requested_group};
use keyhaven_logs::streams::StreamQuery;
use keyhaven_logs::{GroupRecord, LogsError};

use crate::error::{ApiError, logs_error};
use crate::generated::logs::{self as wire, Request};
use crate::kms::{Executed, limit, respond_with};
use crate::shapes::DecodeError;

const DEFAULT_EVENTS: usize = 10_000;
const DEFAULT_DESCRIBE: usize = 50;

/// CloudWatch Logs answers the model's constraint violations as InvalidParameterException ("1 validation error
/// detected: ...").
pub fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Validation(message) => ApiError::bad_request("InvalidParameterException", message),
        other => crate::kms::decode_error(other),
    }
}

/// CloudTrail marks CloudWatch Logs' reads read-only.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List", "Filter"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Whether an operation may schedule work (retention), so the scheduler is woken.
pub fn schedules_work(operation: &str) -> bool {
    operation == "PutRetentionPolicy"
}

fn resource(ctx: &RequestContext, group: &str) -> Vec<AuditResource> {
    vec![AuditResource {
        arn: group_arn(&ctx.region, ctx.account_id(), group),
        resource_type: "AWS::Logs::LogGroup",
        account_id: ctx.account_id().to_string(),
    }]
}

fn tags_in(tags: Option<BTreeMap<String, String>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

fn group_out(group: GroupRecord) -> wire::LogGroup {
    wire::LogGroup {
        log_group_name: Some(group.name),
        creation_time: Some(group.created),
        retention_in_days: group.retention_days,
        metric_filter_count: Some(0),
        arn: Some(format!("{}:*", group.arn)),
        stored_bytes: Some(0),
        kms_key_id: group.kms_key_arn,
        log_group_class: Some(group.class),
        log_group_arn: Some(group.arn),
        deletion_protection_enabled: Some(group.deletion_protection),
        ..Default::default()
    }
}

fn filtered_out(event: Event) -> wire::FilteredLogEvent {
    wire::FilteredLogEvent {
        log_stream_name: Some(event.stream),
        timestamp: Some(event.timestamp),
        message: Some(event.message),
        ingestion_time: Some(event.ingestion),
        event_id: Some(event.id),
    }
}

fn index(value: Option<usize>) -> Option<i32> {
    value.and_then(|v| i32::try_from(v).ok())
}

pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Executed, ApiError> {
    let logs = &core.logs;
    let group_of = |name: Option<String>, identifier: Option<String>| {
        requested_group(name, identifier, &ctx.region, ctx.account_id())
    };
    let run = |request: Request| -> Result<Result<Executed, ApiError>, LogsError> {
        Ok(match request {
            Request::CreateLogGroup(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.create_log_group(
                    ctx,
                    &name,
                    input.kms_key_id.as_deref(),
                    tags_in(input.tags),
                    input.deletion_protection_enabled.unwrap_or(false),
                )?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::DeleteLogGroup(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.delete_log_group(ctx, &name)?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::DescribeLogGroups(input) => {
                let page = logs.describe_log_groups(
                    ctx,
                    input.log_group_name_prefix.as_deref(),
                    input.log_group_name_pattern.as_deref(),
                    input.next_token.as_deref(),
                    limit(input.limit, DEFAULT_DESCRIBE),
                )?;
                let output = wire::DescribeLogGroupsResponse {
                    log_groups: Some(page.groups.into_iter().map(group_out).collect()),
                    next_token: page.next_token,
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::AssociateKmsKey(input) => {
                logs.associate_kms_key(
                    ctx,
                    input.log_group_name.as_deref(),
                    input.resource_identifier.as_deref(),
                    &input.kms_key_id.unwrap_or_default(),
                )?;
                respond_with(&serde_json::json!({}), Vec::new(), false)
            }
            Request::DisassociateKmsKey(input) => {
                logs.disassociate_kms_key(
                    ctx,
                    input.log_group_name.as_deref(),
                    input.resource_identifier.as_deref(),
                )?;
                respond_with(&serde_json::json!({}), Vec::new(), false)
            }
            Request::PutRetentionPolicy(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.put_retention_policy(ctx, &name, input.retention_in_days.unwrap_or_default())?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::DeleteRetentionPolicy(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.delete_retention_policy(ctx, &name)?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::CreateLogStream(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.create_log_stream(ctx, &name, &input.log_stream_name.unwrap_or_default())?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::DeleteLogStream(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.delete_log_stream(ctx, &name, &input.log_stream_name.unwrap_or_default())?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::DescribeLogStreams(input) => {
                let name = group_of(input.log_group_name, input.log_group_identifier)?;
                let query = StreamQuery {
                    prefix: input.log_stream_name_prefix.as_deref(),
                    by_last_event: input.order_by.as_deref() == Some("LastEventTime"),
                    descending: input.descending.unwrap_or(false),
                    token: input.next_token.as_deref(),
                    limit: limit(input.limit, DEFAULT_DESCRIBE),
                };
                let page = logs.describe_log_streams(ctx, &name, &query)?;
                let group_arn = page.group.arn.clone();
                let output = wire::DescribeLogStreamsResponse {
                    log_streams: Some(
                        page.streams
                            .into_iter()
                            .map(|s| wire::LogStream {
                                arn: Some(keyhaven_logs::names::stream_arn(&group_arn, &s.name)),
                                log_stream_name: Some(s.name),
                                creation_time: Some(s.created),
                                first_event_timestamp: s.first_event,
                                last_event_timestamp: s.last_event,
                                last_ingestion_time: s.last_ingestion,
                                upload_sequence_token: s.last_ingestion.map(|_| format!("{:056}", s.batches)),
                                stored_bytes: Some(0),
                            })
                            .collect(),
                    ),
                    next_token: page.next_token,
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::PutLogEvents(input) => {
                let name = input.log_group_name.unwrap_or_default();
                let events = input
                    .log_events
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.timestamp.unwrap_or_default(), e.message.unwrap_or_default()))
                    .collect();
                let accepted = logs.put_log_events(ctx, &name, &input.log_stream_name.unwrap_or_default(), events)?;
                let output = wire::PutLogEventsResponse {
                    next_sequence_token: Some(accepted.next_sequence_token),
                    rejected_log_events_info: accepted.rejected.map(|r| wire::RejectedLogEventsInfo {
                        too_new_log_event_start_index: index(r.too_new_start),
                        too_old_log_event_end_index: index(r.too_old_end),
                        expired_log_event_end_index: index(r.expired_end),
                    }),
                    rejected_entity_info: None,
                };
                respond_with(&output, resource(ctx, &name), false)
            }
            Request::GetLogEvents(input) => {
                let name = group_of(input.log_group_name, input.log_group_identifier)?;
                let page = logs.get_log_events(
                    ctx,
                    &name,
                    &input.log_stream_name.unwrap_or_default(),
                    input.start_time,
                    input.end_time,
                    input.next_token.as_deref(),
                    limit(input.limit, DEFAULT_EVENTS),
                    input.start_from_head.unwrap_or(false),
                )?;
                let output = wire::GetLogEventsResponse {
                    events: Some(
                        page.events
                            .into_iter()
                            .map(|e| wire::OutputLogEvent {
                                timestamp: Some(e.timestamp),
                                message: Some(e.message),
                                ingestion_time: Some(e.ingestion),
                            })
                            .collect(),
                    ),
                    next_forward_token: Some(page.forward),
                    next_backward_token: Some(page.backward),
                };
                respond_with(&output, resource(ctx, &name), false)
            }
            Request::FilterLogEvents(input) => {
                let name = group_of(input.log_group_name, input.log_group_identifier)?;
                let query = FilterQuery {
                    streams: input.log_stream_names,
                    stream_prefix: input.log_stream_name_prefix.as_deref(),
                    start: input.start_time,
                    end: input.end_time,
                    pattern: input.filter_pattern.as_deref(),
                    token: input.next_token.as_deref(),
                    limit: limit(input.limit, DEFAULT_EVENTS),
                };
                let page = logs.filter_log_events(ctx, &name, &query)?;
                let output = wire::FilterLogEventsResponse {
                    events: Some(page.events.into_iter().map(filtered_out).collect()),
                    searched_log_streams: Some(Vec::new()),
                    next_token: page.next_token,
                };
                respond_with(&output, resource(ctx, &name), false)
            }
            Request::TagResource(input) => {
                logs.tag_resource(ctx, &input.resource_arn.unwrap_or_default(), tags_in(input.tags))?;
                respond_with(&serde_json::json!({}), Vec::new(), false)
            }
            Request::UntagResource(input) => {
                logs.untag_resource(
                    ctx,
                    &input.resource_arn.unwrap_or_default(),
                    &input.tag_keys.unwrap_or_default(),
                )?;
                respond_with(&serde_json::json!({}), Vec::new(), false)
            }
            Request::TagLogGroup(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.tag_log_group(ctx, &name, tags_in(input.tags))?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::UntagLogGroup(input) => {
                let name = input.log_group_name.unwrap_or_default();
                logs.untag_log_group(ctx, &name, &input.tags.unwrap_or_default())?;
                respond_with(&serde_json::json!({}), resource(ctx, &name), false)
            }
            Request::ListTagsLogGroup(input) => {
                let name = input.log_group_name.unwrap_or_default();
                let tags = logs.list_log_group_tags(ctx, &name)?;
                let output = wire::ListTagsLogGroupResponse {
                    tags: Some(tags.into_iter().map(Tag::into_pair).collect()),
                };
                respond_with(&output, resource(ctx, &name), false)
            }
            Request::ListTagsForResource(input) => {
                let tags = logs.list_tags(ctx, &input.resource_arn.unwrap_or_default())?;
                let output = wire::ListTagsForResourceResponse {
                    tags: Some(tags.into_iter().map(Tag::into_pair).collect()),
                };
                respond_with(&output, Vec::new(), false)
            }
        })
    };
    run(request).map_err(logs_error)?
}
