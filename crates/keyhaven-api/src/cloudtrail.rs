//! CloudTrail on the wire: generated request shapes → core calls → generated response shapes.

use keyhaven_cloudtrail::history::LookupRequest;
use keyhaven_cloudtrail::selectors::{
    AdvancedEventSelector, DataResource, EventSelector, FieldSelector, ReadWriteType, Selectors,
};
use keyhaven_cloudtrail::trails::TrailSettings;
use keyhaven_cloudtrail::{CloudTrailError, CloudTrailFault, TrailRecord};
use keyhaven_core::Core;
use keyhaven_kernel::audit::AuditResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::tags::Tag;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, cloudtrail_error};
use crate::generated::cloudtrail::{self as wire, Request};
use crate::kms::{Executed, respond_with};
use crate::shapes::{Blob, Timestamp};

/// CloudTrail marks its reads read-only.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List", "Lookup"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Whether an operation may schedule delivery, so the scheduler is woken.
pub fn schedules_work(operation: &str) -> bool {
    matches!(
        operation,
        "StartLogging"
            | "StopLogging"
            | "UpdateTrail"
            | "PutEventSelectors"
            | "PutInsightSelectors"
            | "AddTags"
            | "RemoveTags"
    )
}

fn resource(trail: &TrailRecord) -> Vec<AuditResource> {
    vec![AuditResource {
        arn: trail.arn.clone(),
        resource_type: "AWS::CloudTrail::Trail",
        account_id: trail.account.clone(),
    }]
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

fn tags_out(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter()
        .map(|t| wire::Tag {
            key: Some(t.key.clone()),
            value: Some(t.value.clone()),
        })
        .collect()
}

fn time_out(seconds: Option<i64>) -> Option<Timestamp> {
    seconds.map(|s| Timestamp(s as f64))
}

/// The legacy text form GetTrailStatus also gives times in (`""` when never).
fn legacy_time(seconds: Option<i64>) -> Option<String> {
    Some(
        seconds
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
    )
}

fn trail_out(trail: &TrailRecord) -> wire::Trail {
    wire::Trail {
        name: Some(trail.name.clone()),
        s3_bucket_name: Some(trail.s3_bucket.clone()),
        s3_key_prefix: trail.s3_key_prefix.clone(),
        include_global_service_events: Some(trail.include_global_service_events),
        is_multi_region_trail: Some(trail.multi_region),
        home_region: Some(trail.home_region.clone()),
        trail_arn: Some(trail.arn.clone()),
        log_file_validation_enabled: Some(trail.log_file_validation),
        kms_key_id: trail.kms_key_arn.clone(),
        cloud_watch_logs_log_group_arn: trail.cloud_watch.as_ref().map(|c| c.group_arn.clone()),
        cloud_watch_logs_role_arn: trail.cloud_watch.as_ref().map(|c| c.role_arn.clone()),
        has_custom_event_selectors: Some(trail.selectors.custom()),
        has_insight_selectors: Some(!trail.insight_selectors.is_empty()),
        is_organization_trail: Some(false),
        ..Default::default()
    }
}

/// CreateTrail's and UpdateTrail's answers: the trail without its home Region and selector flags.
macro_rules! written_trail {
    ($output:ident, $trail:expr) => {{
        let trail: &TrailRecord = $trail;
        wire::$output {
            name: Some(trail.name.clone()),
            s3_bucket_name: Some(trail.s3_bucket.clone()),
            s3_key_prefix: trail.s3_key_prefix.clone(),
            include_global_service_events: Some(trail.include_global_service_events),
            is_multi_region_trail: Some(trail.multi_region),
            trail_arn: Some(trail.arn.clone()),
            log_file_validation_enabled: Some(trail.log_file_validation),
            kms_key_id: trail.kms_key_arn.clone(),
            cloud_watch_logs_log_group_arn: trail.cloud_watch.as_ref().map(|c| c.group_arn.clone()),
            cloud_watch_logs_role_arn: trail.cloud_watch.as_ref().map(|c| c.role_arn.clone()),
            is_organization_trail: Some(false),
            ..Default::default()
        }
    }};
}

/// The settings of a CreateTrail or UpdateTrail request (the two carry the same members).
macro_rules! trail_settings {
    ($input:expr) => {
        TrailSettings {
            s3_bucket: $input.s3_bucket_name,
            s3_key_prefix: $input.s3_key_prefix,
            sns_topic_name: $input.sns_topic_name,
            include_global_service_events: $input.include_global_service_events,
            multi_region: $input.is_multi_region_trail,
            log_file_validation: $input.enable_log_file_validation,
            cloud_watch_logs_log_group_arn: $input.cloud_watch_logs_log_group_arn,
            cloud_watch_logs_role_arn: $input.cloud_watch_logs_role_arn,
            kms_key_id: $input.kms_key_id,
            organization_trail: $input.is_organization_trail,
        }
    };
}

fn selectors_in(
    basic: Option<Vec<wire::EventSelector>>,
    advanced: Option<Vec<wire::AdvancedEventSelector>>,
) -> Result<Selectors, CloudTrailError> {
    let combination =
        |message: &str| CloudTrailError::Fault(CloudTrailFault::InvalidParameterCombination, message.into());
    match (basic, advanced) {
        (Some(_), Some(_)) => Err(combination(
            "You can specify EventSelectors or AdvancedEventSelectors in a PutEventSelectors request, but not both.",
        )),
        (None, None) => Err(combination(
            "You must specify either EventSelectors or AdvancedEventSelectors in a PutEventSelectors request.",
        )),
        (Some(basic), None) => Selectors::basic(
            basic
                .into_iter()
                .map(|s| {
                    Ok(EventSelector {
                        read_write_type: s
                            .read_write_type
                            .as_deref()
                            .map_or(Ok(ReadWriteType::All), ReadWriteType::parse)?,
                        include_management_events: s.include_management_events.unwrap_or(true),
                        data_resources: s
                            .data_resources
                            .unwrap_or_default()
                            .into_iter()
                            .map(|r| DataResource {
                                resource_type: r.type_.unwrap_or_default(),
                                values: r.values.unwrap_or_default(),
                            })
                            .collect(),
                        exclude_management_event_sources: s.exclude_management_event_sources.unwrap_or_default(),
                    })
                })
                .collect::<Result<_, CloudTrailError>>()?,
        ),
        (None, Some(advanced)) => Selectors::advanced(
            advanced
                .into_iter()
                .map(|s| AdvancedEventSelector {
                    name: s.name,
                    field_selectors: s
                        .field_selectors
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| FieldSelector {
                            field: f.field.unwrap_or_default(),
                            equals: f.equals.unwrap_or_default(),
                            starts_with: f.starts_with.unwrap_or_default(),
                            ends_with: f.ends_with.unwrap_or_default(),
                            not_equals: f.not_equals.unwrap_or_default(),
                            not_starts_with: f.not_starts_with.unwrap_or_default(),
                            not_ends_with: f.not_ends_with.unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
        ),
    }
}

fn nonempty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

/// The trail's selectors as GetEventSelectors and PutEventSelectors answer them.
fn selectors_out(
    selectors: &Selectors,
) -> (
    Option<Vec<wire::EventSelector>>,
    Option<Vec<wire::AdvancedEventSelector>>,
) {
    match selectors {
        Selectors::Basic(basic) => (
            Some(
                basic
                    .iter()
                    .map(|s| wire::EventSelector {
                        read_write_type: Some(s.read_write_type.as_str().to_string()),
                        include_management_events: Some(s.include_management_events),
                        data_resources: Some(
                            s.data_resources
                                .iter()
                                .map(|r| wire::DataResource {
                                    type_: Some(r.resource_type.clone()),
                                    values: Some(r.values.clone()),
                                })
                                .collect(),
                        ),
                        exclude_management_event_sources: Some(s.exclude_management_event_sources.clone()),
                    })
                    .collect(),
            ),
            None,
        ),
        Selectors::Advanced(advanced) => (
            None,
            Some(
                advanced
                    .iter()
                    .map(|s| wire::AdvancedEventSelector {
                        name: s.name.clone(),
                        field_selectors: Some(
                            s.field_selectors
                                .iter()
                                .map(|f| wire::AdvancedFieldSelector {
                                    field: Some(f.field.clone()),
                                    equals: nonempty(&f.equals),
                                    starts_with: nonempty(&f.starts_with),
                                    ends_with: nonempty(&f.ends_with),
                                    not_equals: nonempty(&f.not_equals),
                                    not_starts_with: nonempty(&f.not_starts_with),
                                    not_ends_with: nonempty(&f.not_ends_with),
                                })
                                .collect(),
                        ),
                    })
                    .collect(),
            ),
        ),
    }
}

fn insights_out(trail: &TrailRecord) -> Vec<wire::InsightSelector> {
    trail
        .insight_selectors
        .iter()
        .map(|(kind, categories)| wire::InsightSelector {
            insight_type: Some(kind.clone()),
            event_categories: (!categories.is_empty()).then(|| categories.clone()),
        })
        .collect()
}

fn status_out(trail: &TrailRecord) -> wire::GetTrailStatusResponse {
    let delivery = &trail.delivery;
    wire::GetTrailStatusResponse {
        is_logging: Some(trail.logging),
        latest_delivery_error: delivery.latest_delivery_error.clone(),
        latest_delivery_time: time_out(delivery.latest_delivery_time),
        start_logging_time: time_out(trail.start_logging_time),
        stop_logging_time: time_out(trail.stop_logging_time),
        latest_digest_delivery_time: time_out(delivery.latest_digest_delivery_time),
        latest_cloud_watch_logs_delivery_time: time_out(delivery.latest_cloud_watch_delivery_time),
        latest_cloud_watch_logs_delivery_error: delivery.latest_cloud_watch_delivery_error.clone(),
        latest_digest_delivery_error: delivery.latest_digest_delivery_error.clone(),
        latest_delivery_attempt_time: legacy_time(delivery.latest_delivery_attempt_time),
        latest_notification_attempt_time: legacy_time(None),
        latest_notification_attempt_succeeded: legacy_time(None),
        latest_delivery_attempt_succeeded: legacy_time(delivery.latest_delivery_attempt_succeeded),
        time_logging_started: legacy_time(trail.start_logging_time),
        time_logging_stopped: legacy_time(trail.stop_logging_time),
        ..Default::default()
    }
}

fn event_out(found: keyhaven_kernel::audit::lookup::FoundEvent) -> wire::Event {
    let event = found.found;
    wire::Event {
        event_id: Some(event.event_id),
        event_name: Some(event.event_name),
        read_only: Some(event.read_only.to_string()),
        access_key_id: event.access_key_id,
        event_time: Some(Timestamp(event.event_time as f64)),
        event_source: Some(event.event_source),
        username: event.username,
        resources: Some(
            event
                .resources
                .into_iter()
                .map(|(kind, arn)| wire::Resource {
                    resource_type: Some(kind),
                    resource_name: Some(arn),
                })
                .collect(),
        ),
        cloud_trail_event: Some(found.record.to_string()),
    }
}

fn seconds(time: Option<Timestamp>) -> Option<i64> {
    time.map(|t| t.0.floor() as i64)
}

pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Executed, ApiError> {
    let trails = &core.cloudtrail;
    let run = |request: Request| -> Result<Result<Executed, ApiError>, CloudTrailError> {
        let executed = match request {
            Request::CreateTrail(input) => {
                let name = input.name.unwrap_or_default();
                let settings = trail_settings!(input);
                let trail = trails.create_trail(ctx, &name, &settings, tags_in(input.tags_list))?;
                respond_with(&written_trail!(CreateTrailResponse, &trail), resource(&trail), true)
            }
            Request::UpdateTrail(input) => {
                let name = input.name.unwrap_or_default();
                let settings = trail_settings!(input);
                let trail = trails.update_trail(ctx, &name, &settings)?;
                respond_with(&written_trail!(UpdateTrailResponse, &trail), resource(&trail), true)
            }
            Request::DeleteTrail(input) => {
                trails.delete_trail(ctx, &input.name.unwrap_or_default())?;
                respond_with(&wire::DeleteTrailResponse::default(), Vec::new(), false)
            }
            Request::GetTrail(input) => {
                let trail = trails.get_trail(ctx, &input.name.unwrap_or_default())?;
                let output = wire::GetTrailResponse {
                    trail: Some(trail_out(&trail)),
                };
                respond_with(&output, resource(&trail), false)
            }
            Request::DescribeTrails(input) => {
                let found = trails.describe_trails(
                    ctx,
                    &input.trail_name_list.unwrap_or_default(),
                    input.include_shadow_trails.unwrap_or(true),
                )?;
                let output = wire::DescribeTrailsResponse {
                    trail_list: Some(found.iter().map(trail_out).collect()),
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::ListTrails(_) => {
                let found = trails.list_trails(ctx)?;
                let output = wire::ListTrailsResponse {
                    trails: Some(
                        found
                            .iter()
                            .map(|t| wire::TrailInfo {
                                trail_arn: Some(t.arn.clone()),
                                name: Some(t.name.clone()),
                                home_region: Some(t.home_region.clone()),
                            })
                            .collect(),
                    ),
                    next_token: None,
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::GetTrailStatus(input) => {
                let trail = trails.trail_status(ctx, &input.name.unwrap_or_default())?;
                respond_with(&status_out(&trail), resource(&trail), false)
            }
            Request::StartLogging(input) => {
                trails.start_logging(ctx, &input.name.unwrap_or_default())?;
                respond_with(&wire::StartLoggingResponse::default(), Vec::new(), false)
            }
            Request::StopLogging(input) => {
                trails.stop_logging(ctx, &input.name.unwrap_or_default())?;
                respond_with(&wire::StopLoggingResponse::default(), Vec::new(), false)
            }
            Request::PutEventSelectors(input) => {
                let selectors = selectors_in(input.event_selectors, input.advanced_event_selectors)?;
                let trail = trails.put_event_selectors(ctx, &input.trail_name.unwrap_or_default(), selectors)?;
                let (basic, advanced) = selectors_out(&trail.selectors);
                let output = wire::PutEventSelectorsResponse {
                    trail_arn: Some(trail.arn.clone()),
                    event_selectors: basic,
                    advanced_event_selectors: advanced,
                };
                respond_with(&output, resource(&trail), true)
            }
            Request::GetEventSelectors(input) => {
                let trail = trails.get_event_selectors(ctx, &input.trail_name.unwrap_or_default())?;
                let (basic, advanced) = selectors_out(&trail.selectors);
                let output = wire::GetEventSelectorsResponse {
                    trail_arn: Some(trail.arn.clone()),
                    event_selectors: basic,
                    advanced_event_selectors: advanced,
                };
                respond_with(&output, resource(&trail), false)
            }
            Request::PutInsightSelectors(input) => {
                let selectors = input
                    .insight_selectors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| {
                        (
                            s.insight_type.unwrap_or_default(),
                            s.event_categories.unwrap_or_default(),
                        )
                    })
                    .collect();
                let trail = trails.put_insight_selectors(ctx, &input.trail_name.unwrap_or_default(), selectors)?;
                let output = wire::PutInsightSelectorsResponse {
                    trail_arn: Some(trail.arn.clone()),
                    insight_selectors: Some(insights_out(&trail)),
                    ..Default::default()
                };
                respond_with(&output, resource(&trail), true)
            }
            Request::GetInsightSelectors(input) => {
                let trail = trails.get_insight_selectors(ctx, &input.trail_name.unwrap_or_default())?;
                let output = wire::GetInsightSelectorsResponse {
                    trail_arn: Some(trail.arn.clone()),
                    insight_selectors: Some(insights_out(&trail)),
                    ..Default::default()
                };
                respond_with(&output, resource(&trail), false)
            }
            Request::AddTags(input) => {
                trails.add_tags(ctx, &input.resource_id.unwrap_or_default(), tags_in(input.tags_list))?;
                respond_with(&wire::AddTagsResponse::default(), Vec::new(), false)
            }
            Request::RemoveTags(input) => {
                trails.remove_tags(ctx, &input.resource_id.unwrap_or_default(), tags_in(input.tags_list))?;
                respond_with(&wire::RemoveTagsResponse::default(), Vec::new(), false)
            }
            Request::ListTags(input) => {
                let found = trails.list_tags(ctx, &input.resource_id_list.unwrap_or_default())?;
                let output = wire::ListTagsResponse {
                    resource_tag_list: Some(
                        found
                            .iter()
                            .map(|t| wire::ResourceTag {
                                resource_id: Some(t.arn.clone()),
                                tags_list: Some(tags_out(&t.tags)),
                            })
                            .collect(),
                    ),
                    next_token: None,
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::LookupEvents(input) => {
                let request = LookupRequest {
                    attributes: input
                        .lookup_attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| {
                            (
                                a.attribute_key.unwrap_or_default(),
                                a.attribute_value.unwrap_or_default(),
                            )
                        })
                        .collect(),
                    start_time: seconds(input.start_time),
                    end_time: seconds(input.end_time),
                    event_category: input.event_category,
                    max_results: input.max_results,
                    next_token: input.next_token,
                };
                let (events, next_token) = trails.lookup_events(ctx, &request)?;
                let output = wire::LookupEventsResponse {
                    events: Some(events.into_iter().map(event_out).collect()),
                    next_token,
                };
                respond_with(&output, Vec::new(), false)
            }
            Request::ListPublicKeys(input) => {
                let keys = trails.list_public_keys(ctx, seconds(input.start_time), seconds(input.end_time))?;
                let output = wire::ListPublicKeysResponse {
                    public_key_list: Some(
                        keys.into_iter()
                            .map(|k| wire::PublicKey {
                                value: Some(Blob::new(k.value)),
                                validity_start_time: time_out(Some(k.valid_from)),
                                validity_end_time: time_out(Some(k.valid_to)),
                                fingerprint: Some(k.fingerprint),
                            })
                            .collect(),
                    ),
                    next_token: None,
                };
                respond_with(&output, Vec::new(), false)
            }
        };
        Ok(executed)
    };
    run(request).map_err(cloudtrail_error)?
}
