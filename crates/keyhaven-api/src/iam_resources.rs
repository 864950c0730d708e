//! IAM on the wire, the account's other resources: instance profiles, service-linked roles, SAML
//! providers, tags on every taggable resource, renames, the account alias, summary and credential
//! report, MFA device and policy-usage lookups. Anything else goes on to [`crate::iam_credentials`].

use keyhaven_core::Core;
use keyhaven_iam::iam::access_report::{Granularity, ServiceAccess};
use keyhaven_iam::iam::profiles::InstanceProfile;
use keyhaven_iam::iam::tagging::{TagChange, Tagged};
use keyhaven_iam::iam::{self as core_iam, Entity, EntityKind, managed};
use keyhaven_kernel::context::RequestContext;

use crate::error::{ApiError, iam_error};
use crate::generated::iam::{self as wire, Request};
use crate::iam::{
    Listed, Output, done, group_out, listed, listed_role_out, name, role_out, some, tags_in, tags_out, user_out,
};
use crate::shapes::{Blob, Timestamp};

/// How an answer shows an instance profile's tags: CreateInstanceProfile only when it was given
/// some, GetInstanceProfile always (empty included), the listings never.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProfileTags {
    IfAny,
    Always,
    Never,
}

/// An instance profile with its roles, which carry only their names, ids, paths, dates and trust policies.
fn instance_profile_out(
    core: &Core,
    ctx: &RequestContext,
    profile: &InstanceProfile,
    shown: ProfileTags,
) -> wire::InstanceProfile {
    let roles = profile
        .roles
        .iter()
        .filter_map(|r| core.identity.iam.entity(ctx, EntityKind::Role, r).ok())
        .map(|r| wire::Role {
            description: None,
            max_session_duration: None,
            ..listed_role_out(&r)
        })
        .collect();
    let tags = match shown {
        ProfileTags::IfAny => tags_out(&profile.tags),
        ProfileTags::Always => tags_out(&profile.tags).or(Some(Vec::new())),
        ProfileTags::Never => None,
    };
    wire::InstanceProfile {
        path: Some(profile.path.clone()),
        instance_profile_name: Some(profile.name.clone()),
        instance_profile_id: Some(profile.id.clone()),
        arn: Some(profile.arn()),
        create_date: Some(Timestamp(profile.create_date)),
        roles: Some(roles),
        tags,
    }
}

/// One page of instance profiles as the listings show them (without tags).
fn listed_profiles(
    core: &Core,
    ctx: &RequestContext,
    all: Vec<InstanceProfile>,
    max: Option<i32>,
    marker: Option<String>,
) -> Result<Listed<wire::InstanceProfile>, ApiError> {
    let page = listed(all, max, marker.as_deref())?;
    Ok(Listed {
        items: page
            .items
            .iter()
            .map(|p| instance_profile_out(core, ctx, p, ProfileTags::Never))
            .collect(),
        is_truncated: page.is_truncated,
        marker: page.marker,
    })
}

fn tag(
    core: &Core,
    ctx: &RequestContext,
    resource: Tagged<'_>,
    tags: Option<Vec<wire::Tag>>,
) -> Result<Output, ApiError> {
    done(
        core.identity
            .iam
            .change_tags(ctx, resource, TagChange::Add(&tags_in(tags))),
    )
}

fn untag(
    core: &Core,
    ctx: &RequestContext,
    resource: Tagged<'_>,
    keys: Option<Vec<String>>,
) -> Result<Output, ApiError> {
    done(
        core.identity
            .iam
            .change_tags(ctx, resource, TagChange::Remove(&keys.unwrap_or_default())),
    )
}

/// One page of a resource's tags, as every List*Tags answers them (an empty list, never none).
fn listed_tags(
    core: &Core,
    ctx: &RequestContext,
    resource: Tagged<'_>,
    max: Option<i32>,
    marker: Option<String>,
) -> Result<Listed<wire::Tag>, ApiError> {
    let tags = core.identity.iam.tags_of(ctx, resource).map_err(iam_error)?;
    let page = listed(tags, max, marker.as_deref())?;
    Ok(Listed {
        items: tags_out(&page.items).unwrap_or_default(),
        is_truncated: page.is_truncated,
        marker: page.marker,
    })
}

macro_rules! list_tags_response {
    ($response:ident, $core:expr, $ctx:expr, $resource:expr, $input:expr) => {{
        let page = listed_tags($core, $ctx, $resource, $input.max_items, $input.marker)?;
        some(wire::$response {
            tags: Some(page.items),
            is_truncated: page.is_truncated,
            marker: page.marker,
        })
    }};
}

/// Encrypted assertions (a provider's private keys, `AssertionEncryptionMode=Required`) are not
/// served: said plainly rather than accepted and then failing every sign-in.
fn refuse_assertion_encryption(mode: Option<&str>, keys: bool) -> Result<(), ApiError> {
    if mode == Some("Required") || keys {
        return Err(iam_error(keyhaven_iam::IamError::InvalidInput(
            "This server does not decrypt SAML assertions: AssertionEncryptionMode must be Allowed and no private \
             keys can be added."
                .into(),
        )));
    }
    Ok(())
}

fn saml_provider_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or_default()
}

/// Runs the IAM actions this module serves.
pub fn execute(core: &Core, ctx: &RequestContext, request: Request) -> Result<Output, ApiError> {
    let iam = &core.identity.iam;
    match request {
        Request::TagUser(i) => tag(core, ctx, Tagged::Entity(EntityKind::User, &name(i.user_name)), i.tags),
        Request::TagRole(i) => tag(core, ctx, Tagged::Entity(EntityKind::Role, &name(i.role_name)), i.tags),
        Request::TagPolicy(i) => tag(core, ctx, Tagged::Policy(&name(i.policy_arn)), i.tags),
        Request::TagInstanceProfile(i) => tag(
            core,
            ctx,
            Tagged::InstanceProfile(&name(i.instance_profile_name)),
            i.tags,
        ),
        Request::TagOpenIDConnectProvider(i) => tag(
            core,
            ctx,
            Tagged::OidcProvider(&name(i.open_id_connect_provider_arn)),
            i.tags,
        ),
        Request::TagMFADevice(i) => tag(core, ctx, Tagged::MfaDevice(&name(i.serial_number)), i.tags),
        Request::TagServerCertificate(i) => tag(
            core,
            ctx,
            Tagged::ServerCertificate(&name(i.server_certificate_name)),
            i.tags,
        ),
        Request::TagSAMLProvider(i) => tag(core, ctx, Tagged::SamlProvider(&name(i.saml_provider_arn)), i.tags),
        Request::UntagUser(i) => untag(
            core,
            ctx,
            Tagged::Entity(EntityKind::User, &name(i.user_name)),
            i.tag_keys,
        ),
        Request::UntagRole(i) => untag(
            core,
            ctx,
            Tagged::Entity(EntityKind::Role, &name(i.role_name)),
            i.tag_keys,
        ),
        Request::UntagPolicy(i) => untag(core, ctx, Tagged::Policy(&name(i.policy_arn)), i.tag_keys),
        Request::UntagInstanceProfile(i) => untag(
            core,
            ctx,
            Tagged::InstanceProfile(&name(i.instance_profile_name)),
            i.tag_keys,
        ),
        Request::UntagOpenIDConnectProvider(i) => untag(
            core,
            ctx,
            Tagged::OidcProvider(&name(i.open_id_connect_provider_arn)),
            i.tag_keys,
        ),
        Request::UntagMFADevice(i) => untag(core, ctx, Tagged::MfaDevice(&name(i.serial_number)), i.tag_keys),
        Request::UntagServerCertificate(i) => untag(
            core,
            ctx,
            Tagged::ServerCertificate(&name(i.server_certificate_name)),
            i.tag_keys,
        ),
        Request::UntagSAMLProvider(i) => untag(core, ctx, Tagged::SamlProvider(&name(i.saml_provider_arn)), i.tag_keys),
        Request::ListUserTags(i) => {
            let user = name(i.user_name.clone());
            list_tags_response!(
                ListUserTagsResponse,
                core,
                ctx,
                Tagged::Entity(EntityKind::User, &user),
                i
            )
        }
        Request::ListRoleTags(i) => {
            let role = name(i.role_name.clone());
            list_tags_response!(
                ListRoleTagsResponse,
                core,
                ctx,
                Tagged::Entity(EntityKind::Role, &role),
                i
            )
        }
        Request::ListPolicyTags(i) => {
            let arn = name(i.policy_arn.clone());
            list_tags_response!(ListPolicyTagsResponse, core, ctx, Tagged::Policy(&arn), i)
        }
        Request::ListInstanceProfileTags(i) => {
            let profile = name(i.instance_profile_name.clone());
            list_tags_response!(
                ListInstanceProfileTagsResponse,
                core,
                ctx,
                Tagged::InstanceProfile(&profile),
                i
            )
        }
        Request::ListOpenIDConnectProviderTags(i) => {
            let arn = name(i.open_id_connect_provider_arn.clone());
            list_tags_response!(
                ListOpenIDConnectProviderTagsResponse,
                core,
                ctx,
                Tagged::OidcProvider(&arn),
                i
            )
        }
        Request::ListMFADeviceTags(i) => {
            let serial = name(i.serial_number.clone());
            list_tags_response!(ListMFADeviceTagsResponse, core, ctx, Tagged::MfaDevice(&serial), i)
        }
        Request::ListServerCertificateTags(i) => {
            let certificate = name(i.server_certificate_name.clone());
            list_tags_response!(
                ListServerCertificateTagsResponse,
                core,
                ctx,
                Tagged::ServerCertificate(&certificate),
                i
            )
        }
        Request::ListSAMLProviderTags(i) => {
            let arn = name(i.saml_provider_arn.clone());
            list_tags_response!(ListSAMLProviderTagsResponse, core, ctx, Tagged::SamlProvider(&arn), i)
        }
        Request::UpdateUser(i) => done(iam.update_user(
            ctx,
            &name(i.user_name),
            i.new_user_name.as_deref(),
            i.new_path.as_deref(),
        )),
        Request::UpdateGroup(i) => done(iam.update_group(
            ctx,
            &name(i.group_name),
            i.new_group_name.as_deref(),
            i.new_path.as_deref(),
        )),
        Request::UpdateRoleDescription(i) => {
            let role_name = name(i.role_name);
            iam.update_role(ctx, &role_name, Some(i.description.unwrap_or_default()), None)
                .map_err(iam_error)?;
            let role = iam.entity(ctx, EntityKind::Role, &role_name).map_err(iam_error)?;
            some(wire::UpdateRoleDescriptionResponse {
                role: Some(role_out(&role)),
            })
        }
        Request::CreateInstanceProfile(i) => {
            let profile = iam
                .create_instance_profile(ctx, &name(i.instance_profile_name), i.path.as_deref(), tags_in(i.tags))
                .map_err(iam_error)?;
            some(wire::CreateInstanceProfileResponse {
                instance_profile: Some(instance_profile_out(core, ctx, &profile, ProfileTags::IfAny)),
            })
        }
        Request::GetInstanceProfile(i) => {
            let profile = iam
                .instance_profile(ctx, &name(i.instance_profile_name))
                .map_err(iam_error)?;
            some(wire::GetInstanceProfileResponse {
                instance_profile: Some(instance_profile_out(core, ctx, &profile, ProfileTags::Always)),
            })
        }
        Request::ListInstanceProfiles(i) => {
            let all = iam
                .instance_profiles(ctx, i.path_prefix.as_deref())
                .map_err(iam_error)?;
            let page = listed_profiles(core, ctx, all, i.max_items, i.marker)?;
            some(wire::ListInstanceProfilesResponse {
                instance_profiles: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::ListInstanceProfilesForRole(i) => {
            let all = iam
                .instance_profiles_for_role(ctx, &name(i.role_name))
                .map_err(iam_error)?;
            let page = listed_profiles(core, ctx, all, i.max_items, i.marker)?;
            some(wire::ListInstanceProfilesForRoleResponse {
                instance_profiles: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::DeleteInstanceProfile(i) => done(iam.delete_instance_profile(ctx, &name(i.instance_profile_name))),
        Request::AddRoleToInstanceProfile(i) => {
            done(iam.add_role_to_instance_profile(ctx, &name(i.instance_profile_name), &name(i.role_name)))
        }
        Request::RemoveRoleFromInstanceProfile(i) => {
            done(iam.remove_role_from_instance_profile(ctx, &name(i.instance_profile_name), &name(i.role_name)))
        }
        Request::CreateServiceLinkedRole(i) => {
            let role = iam
                .create_service_linked_role(
                    ctx,
                    &name(i.aws_service_name),
                    i.description,
                    i.custom_suffix.as_deref(),
                )
                .map_err(iam_error)?;
            some(wire::CreateServiceLinkedRoleResponse {
                role: Some(wire::Role {
                    max_session_duration: None,
                    ..role_out(&role)
                }),
            })
        }
        Request::DeleteServiceLinkedRole(i) => {
            let task = iam
                .delete_service_linked_role(ctx, &name(i.role_name))
                .map_err(iam_error)?;
            some(wire::DeleteServiceLinkedRoleResponse {
                deletion_task_id: Some(task),
            })
        }
        Request::GetServiceLinkedRoleDeletionStatus(i) => {
            let task = iam
                .service_linked_role_deletion(ctx, &name(i.deletion_task_id))
                .map_err(iam_error)?;
            some(wire::GetServiceLinkedRoleDeletionStatusResponse {
                status: Some(task.status.as_str().into()),
                reason: task.reason.map(|reason| wire::DeletionTaskFailureReasonType {
                    reason: Some(reason),
                    role_usage_list: Some(Vec::new()),
                }),
            })
        }
        Request::CreateSAMLProvider(i) => {
            refuse_assertion_encryption(i.assertion_encryption_mode.as_deref(), i.add_private_key.is_some())?;
            let provider = iam
                .create_saml_provider(ctx, &name(i.name), &name(i.saml_metadata_document), tags_in(i.tags))
                .map_err(iam_error)?;
            some(wire::CreateSAMLProviderResponse {
                saml_provider_arn: Some(provider.arn()),
                tags: tags_out(&provider.tags),
            })
        }
        Request::GetSAMLProvider(i) => {
            let provider = iam.saml_provider(ctx, &name(i.saml_provider_arn)).map_err(iam_error)?;
            some(wire::GetSAMLProviderResponse {
                saml_provider_uuid: Some(provider.uuid.clone()),
                saml_metadata_document: Some(provider.metadata.clone()),
                create_date: Some(Timestamp(provider.create_date)),
                valid_until: Some(Timestamp(provider.valid_until)),
                tags: tags_out(&provider.tags).or(Some(Vec::new())),
                assertion_encryption_mode: Some("Allowed".into()),
                private_key_list: Some(Vec::new()),
            })
        }
        Request::UpdateSAMLProvider(i) => {
            refuse_assertion_encryption(
                i.assertion_encryption_mode.as_deref(),
                i.add_private_key.is_some() || i.remove_private_key.is_some(),
            )?;
            let provider = iam
                .update_saml_provider(ctx, &name(i.saml_provider_arn), &name(i.saml_metadata_document))
                .map_err(iam_error)?;
            some(wire::UpdateSAMLProviderResponse {
                saml_provider_arn: Some(provider.arn()),
            })
        }
        Request::DeleteSAMLProvider(i) => done(iam.delete_saml_provider(ctx, &name(i.saml_provider_arn))),
        Request::ListSAMLProviders(_) => {
            let mut providers = iam.saml_providers(ctx).map_err(iam_error)?;
            providers.sort_by(|a, b| saml_provider_name(&a.arn()).cmp(saml_provider_name(&b.arn())));
            some(wire::ListSAMLProvidersResponse {
                saml_provider_list: Some(
                    providers
                        .iter()
                        .map(|p| wire::SAMLProviderListEntry {
                            arn: Some(p.arn()),
                            valid_until: Some(Timestamp(p.valid_until)),
                            create_date: Some(Timestamp(p.create_date)),
                        })
                        .collect(),
                ),
            })
        }
        Request::CreateAccountAlias(i) => done(iam.create_account_alias(ctx, &name(i.account_alias))),
        Request::DeleteAccountAlias(i) => done(iam.delete_account_alias(ctx, &name(i.account_alias))),
        Request::ListAccountAliases(i) => {
            let page: Listed<String> = listed(
                iam.account_aliases(ctx).map_err(iam_error)?,
                i.max_items,
                i.marker.as_deref(),
            )?;
            some(wire::ListAccountAliasesResponse {
                account_aliases: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
            })
        }
        Request::GetAccountSummary => {
            let summary = iam.account_summary(ctx).map_err(iam_error)?;
            some(wire::GetAccountSummaryResponse {
                summary_map: Some(summary.into_iter().collect()),
            })
        }
        Request::GenerateCredentialReport => {
            let state = iam.generate_credential_report(ctx).map_err(iam_error)?;
            // A completed report's state comes without a description.
            let description = (state == core_iam::account::ReportState::Started)
                .then(|| "No report exists. Starting a new report generation task".to_string());
            some(wire::GenerateCredentialReportResponse {
                state: Some(state.as_str().into()),
                description,
            })
        }
        Request::GetCredentialReport => {
            let report = iam.credential_report(ctx).map_err(iam_error)?;
            some(wire::GetCredentialReportResponse {
                content: Some(Blob::new(report.csv.into_bytes())),
                report_format: Some("text/csv".into()),
                generated_time: Some(Timestamp(report.generated)),
            })
        }
        // GetMFADevice answers for FIDO security keys only ("For this API, we only accept FIDO security key
        // ARNs"), which can be registered only in the console: no device here is one.
        Request::GetMFADevice(i) => Err(iam_error(keyhaven_iam::IamError::NotFound(format!(
            "MFA Device with serial number {} does not exist.",
            name(i.serial_number)
        )))),
        Request::ListEntitiesForPolicy(i) => list_entities_for_policy(core, ctx, i),
        Request::GetContextKeysForCustomPolicy(i) => {
            let keys = core
                .identity
                .context_keys(ctx, None, &i.policy_input_list.unwrap_or_default())
                .map_err(iam_error)?;
            some(wire::GetContextKeysForPolicyResponse {
                context_key_names: Some(keys),
            })
        }
        Request::GetContextKeysForPrincipalPolicy(i) => {
            let keys = core
                .identity
                .context_keys(
                    ctx,
                    Some(&name(i.policy_source_arn)),
                    &i.policy_input_list.unwrap_or_default(),
                )
                .map_err(iam_error)?;
            some(wire::GetContextKeysForPolicyResponse {
                context_key_names: Some(keys),
            })
        }
        Request::ListPoliciesGrantingServiceAccess(i) => {
            let granting = iam
                .policies_granting(ctx, &name(i.arn), &i.service_namespaces.unwrap_or_default())
                .map_err(iam_error)?;
            some(wire::ListPoliciesGrantingServiceAccessResponse {
                policies_granting_service_access: Some(
                    granting
                        .into_iter()
                        .map(|(namespace, policies)| wire::ListPoliciesGrantingServiceAccessEntry {
                            service_namespace: Some(namespace),
                            policies: Some(
                                policies
                                    .into_iter()
                                    .map(|p| wire::PolicyGrantingServiceAccess {
                                        policy_type: Some(if p.arn.is_some() { "MANAGED" } else { "INLINE" }.into()),
                                        policy_name: Some(p.name),
                                        policy_arn: p.arn,
                                        entity_type: Some(
                                            match p.entity_kind {
                                                EntityKind::User => "USER",
                                                EntityKind::Group => "GROUP",
                                                EntityKind::Role => "ROLE",
                                            }
                                            .into(),
                                        ),
                                        entity_name: Some(p.entity_name),
                                    })
                                    .collect(),
                            ),
                        })
                        .collect(),
                ),
                is_truncated: Some(false),
                marker: None,
            })
        }
        Request::SetSecurityTokenServicePreferences(i) => {
            let version = match i.global_endpoint_token_version.as_deref() {
                Some("v2Token") => 2,
                _ => 1,
            };
            done(iam.set_sts_preferences(ctx, version))
        }
        Request::ResyncMFADevice(i) => done(iam.resync_mfa_device(
            ctx,
            &name(i.user_name),
            &name(i.serial_number),
            &name(i.authentication_code1),
            &name(i.authentication_code2),
        )),
        Request::GenerateServiceLastAccessedDetails(i) => {
            let granularity = match i.granularity.as_deref() {
                Some("ACTION_LEVEL") => Granularity::Action,
                _ => Granularity::Service,
            };
            let job_id = iam
                .generate_access_report(ctx, &name(i.arn), granularity)
                .map_err(iam_error)?;
            some(wire::GenerateServiceLastAccessedDetailsResponse { job_id: Some(job_id) })
        }
        Request::GetServiceLastAccessedDetails(i) => {
            let report = iam.access_report(ctx, &name(i.job_id)).map_err(iam_error)?;
            let services: Vec<wire::ServiceLastAccessed> = report.services.iter().map(service_last_accessed).collect();
            let page = listed(services, i.max_items, i.marker.as_deref())?;
            some(wire::GetServiceLastAccessedDetailsResponse {
                job_status: Some("COMPLETED".into()),
                job_type: Some(
                    match report.granularity {
                        Granularity::Service => "SERVICE_LEVEL",
                        Granularity::Action => "ACTION_LEVEL",
                    }
                    .into(),
                ),
                job_creation_date: Some(Timestamp(report.created)),
                services_last_accessed: Some(page.items),
                job_completion_date: Some(Timestamp(report.completed)),
                is_truncated: page.is_truncated,
                marker: page.marker,
                error: None,
            })
        }
        Request::GetServiceLastAccessedDetailsWithEntities(i) => {
            let report = iam.access_report(ctx, &name(i.job_id)).map_err(iam_error)?;
            let namespace = name(i.service_namespace);
            let entities: Vec<wire::EntityDetails> = report
                .services
                .iter()
                .filter(|s| s.namespace == namespace)
                .flat_map(|s| s.entities.iter())
                .filter_map(|(arn, time)| entity_details(core, ctx, arn, *time))
                .collect();
            let page = listed(entities, i.max_items, i.marker.as_deref())?;
            some(wire::GetServiceLastAccessedDetailsWithEntitiesResponse {
                job_status: Some("COMPLETED".into()),
                job_creation_date: Some(Timestamp(report.created)),
                job_completion_date: Some(Timestamp(report.completed)),
                entity_details_list: Some(page.items),
                is_truncated: page.is_truncated,
                marker: page.marker,
                error: None,
            })
        }
        other => crate::iam_credentials::execute(core, ctx, other),
    }
}

/// A service of a last-accessed report, named as its model names it.
fn service_last_accessed(service: &ServiceAccess) -> wire::ServiceLastAccessed {
    let full_name = match service.namespace.as_str() {
        "cloudtrail" => crate::generated::cloudtrail::SERVICE_FULL_NAME,
        "iam" => wire::SERVICE_FULL_NAME,
        "kms" => crate::generated::kms::SERVICE_FULL_NAME,
        "logs" => crate::generated::logs::SERVICE_FULL_NAME,
        "s3" => crate::generated::s3::SERVICE_FULL_NAME,
        "secretsmanager" => crate::generated::secretsmanager::SERVICE_FULL_NAME,
        "ssm" => crate::generated::ssm::SERVICE_FULL_NAME,
        "sts" => crate::generated::sts::SERVICE_FULL_NAME,
        other => other,
    };
    wire::ServiceLastAccessed {
        service_name: Some(full_name.to_string()),
        last_authenticated: service.last_authenticated.map(Timestamp),
        service_namespace: Some(service.namespace.clone()),
        last_authenticated_entity: service.last_entity.clone(),
        last_authenticated_region: service.last_region.clone(),
        total_authenticated_entities: Some(i32::try_from(service.entities.len()).unwrap_or(i32::MAX)),
        tracked_actions_last_accessed: (!service.actions.is_empty()).then(|| {
            service
                .actions
                .iter()
                .map(|a| wire::TrackedActionLastAccessed {
                    action_name: Some(a.action.clone()),
                    last_accessed_entity: Some(a.entity.clone()),
                    last_accessed_time: Some(Timestamp(a.time)),
                    last_accessed_region: Some(a.region.clone()),
                })
                .collect()
        }),
    }
}

/// A user or role of a report with what IAM shows of it (none once it is gone).
fn entity_details(core: &Core, ctx: &RequestContext, arn: &str, time: f64) -> Option<wire::EntityDetails> {
    let name = arn.rsplit('/').next()?;
    let kind = if arn.contains(":role/") {
        EntityKind::Role
    } else {
        EntityKind::User
    };
    let entity = core.identity.iam.entity(ctx, kind, name).ok()?;
    Some(wire::EntityDetails {
        entity_info: Some(wire::EntityInfo {
            arn: Some(entity.arn()),
            name: Some(entity.name.clone()),
            type_: Some(if kind == EntityKind::Role { "ROLE" } else { "USER" }.into()),
            id: Some(entity.id.clone()),
            path: Some(entity.path.clone()),
        }),
        last_authenticated: Some(Timestamp(time)),
    })
}

/// ListEntitiesForPolicy: the users, groups and roles the policy is attached to (or is the
/// permissions boundary of, with `PolicyUsageFilter=PermissionsBoundary`).
fn list_entities_for_policy(
    core: &Core,
    ctx: &RequestContext,
    i: wire::ListEntitiesForPolicyRequest,
) -> Result<Output, ApiError> {
    let iam = &core.identity.iam;
    let arn = name(i.policy_arn);
    if managed::aws_managed(&arn).is_none() {
        iam.policy(ctx, &arn).map_err(iam_error)?;
    }
    // Without a usage filter, attachments only; the policy-type entity filters match no entity at all
    // (recorded from AWS).
    let boundary_only = i.policy_usage_filter.as_deref() == Some("PermissionsBoundary");
    let uses = |e: &Entity| {
        if boundary_only {
            e.permissions_boundary.as_deref() == Some(arn.as_str())
        } else {
            e.attached_policies.contains(&arn)
        }
    };
    let wants = |kind: &str| i.entity_filter.as_deref().is_none_or(|f| f == kind);
    let of_kind = |kind: EntityKind| -> Result<Vec<Entity>, ApiError> {
        let all = iam
            .list_entities(ctx, kind, i.path_prefix.as_deref(), usize::MAX, None)
            .map_err(iam_error)?
            .items;
        Ok(all.into_iter().filter(|e| uses(e)).collect())
    };
    let users = if wants("User") {
        of_kind(EntityKind::User)?
    } else {
        Vec::new()
    };
    let groups = if wants("Group") {
        of_kind(EntityKind::Group)?
    } else {
        Vec::new()
    };
    let roles = if wants("Role") {
        of_kind(EntityKind::Role)?
    } else {
        Vec::new()
    };
    some(wire::ListEntitiesForPolicyResponse {
        policy_groups: Some(
            groups
                .iter()
                .map(|g| {
                    let out = group_out(g);
                    wire::PolicyGroup {
                        group_name: out.group_name,
                        group_id: out.group_id,
                    }
                })
                .collect(),
        ),
        policy_users: Some(
            users
                .iter()
                .map(|u| {
                    let out = user_out(u);
                    wire::PolicyUser {
                        user_name: out.user_name,
                        user_id: out.user_id,
                    }
                })
                .collect(),
        ),
        policy_roles: Some(
            roles
                .iter()
                .map(|r| wire::PolicyRole {
                    role_name: Some(r.name.clone()),
                    role_id: Some(r.id.clone()),
                })
                .collect(),
        ),
        is_truncated: Some(false),
        marker: None,
    })
}
