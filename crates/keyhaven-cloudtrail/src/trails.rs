//! Trails: CreateTrail, UpdateTrail, DeleteTrail, GetTrail, DescribeTrails, ListTrails, GetTrailStatus,
//! StartLogging, StopLogging, Put/GetEventSelectors and tags, with CloudTrail's checks of the bucket (its policy must
//! let CloudTrail write), the KMS key (its policy must let CloudTrail use it) and the trail's home Region.

use keyhaven_crypto::EncryptionContext;
use keyhaven_kernel::authz::TaggedResource;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::{DeliveryFailure, KmsFailure, ObjectFailure};
use keyhaven_kernel::records;
use keyhaven_kernel::tags::{self, KeyCase, Tag, TagRules, TagViolation};
use keyhaven_store::Transaction;

use crate::error::{CloudTrailError, CloudTrailFault, fault};
use crate::model::{CloudWatchDelivery, Delivery, RECORD_VERSION, TRAIL_SCOPE, TrailRecord};
use crate::names::{TrailRef, check_name, trail_arn, trail_ref};
use crate::selectors::Selectors;
use crate::{CloudTrail, read, transact};

/// The operations whose TrailNotFoundException names a missing trail by the ARN it would have in the request's Region
/// (recorded from AWS: GetEventSelectors, aws/aws-sdk-go-v2#1957; DeleteTrail, an aws-nuke log; GetTrailStatus, as
/// moto 5.2.1 answers it); the others name it as given (moto 5.2.1's GetTrail, StartLogging, UpdateTrail, ...).
const NAMED_BY_ARN_WHEN_MISSING: [&str; 3] = [
    "cloudtrail:GetEventSelectors",
    "cloudtrail:DeleteTrail",
    "cloudtrail:GetTrailStatus",
];

/// Trails per account and Region.
const MAX_TRAILS: usize = 5;
const MAX_PREFIX: usize = 200;
/// CloudTrail allows 50 tags per trail; keys are compared as given.
const TAG_RULES: TagRules = TagRules::at_most_50(true, KeyCase::Sensitive);

/// What CreateTrail and UpdateTrail set; `None` leaves a setting as it is (UpdateTrail) or at its default.
#[derive(Debug, Clone, Default)]
pub struct TrailSettings {
    pub s3_bucket: Option<String>,
    pub s3_key_prefix: Option<String>,
    pub sns_topic_name: Option<String>,
    pub include_global_service_events: Option<bool>,
    pub multi_region: Option<bool>,
    pub log_file_validation: Option<bool>,
    pub cloud_watch_logs_log_group_arn: Option<String>,
    pub cloud_watch_logs_role_arn: Option<String>,
    pub kms_key_id: Option<String>,
    pub organization_trail: Option<bool>,
}

/// A trail and whether it was found through another Region (a multi-Region trail's shadow).
#[derive(Debug, Clone)]
pub struct Found {
    pub trail: TrailRecord,
    pub shadow: bool,
}

/// The stream CloudTrail writes a Region's events to in a trail's log group.
pub(crate) fn cloud_watch_stream(account: &str, region: &str) -> String {
    format!("{account}_CloudTrail_{region}")
}

fn not_found(name: &str, account: &str) -> CloudTrailError {
    fault(
        CloudTrailFault::TrailNotFound,
        format!("Unknown trail: {name} for the user: {account}"),
    )
}

fn tag_error(violation: TagViolation) -> CloudTrailError {
    match violation {
        TagViolation::TooMany => fault(
            CloudTrailFault::TagsLimitExceeded,
            "The number of tags for the resource exceeds the limit of 50.",
        ),
        TagViolation::ReservedPrefix => fault(
            CloudTrailFault::InvalidTagParameter,
            "Tag keys cannot start with the reserved prefix aws:.",
        ),
        TagViolation::DuplicateKey => fault(CloudTrailFault::InvalidTagParameter, "Tag keys must be unique."),
    }
}

/// Every trail of the account, in id order.
pub(crate) fn all_trails(tx: &mut dyn Transaction, account: Option<&str>) -> Result<Vec<TrailRecord>, CloudTrailError> {
    Ok(records::all::<TrailRecord>(tx, TRAIL_SCOPE)?
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| account.is_none_or(|a| t.account == a))
        .collect())
}

/// The trail a request in `region` names: by ARN, that trail; by name, the Region's own trail of that name, else a
/// multi-Region trail of that name homed elsewhere.
fn find(
    tx: &mut dyn Transaction,
    account: &str,
    region: &str,
    named: &TrailRef,
) -> Result<Option<Found>, CloudTrailError> {
    if named.account.as_deref().is_some_and(|a| a != account) {
        return Ok(None);
    }
    if let Some(home) = &named.region {
        let trail = records::get::<TrailRecord>(tx, TRAIL_SCOPE, &TrailRecord::key(account, home, &named.name))?;
        return Ok(trail
            .filter(|t| t.home_region == region || t.multi_region)
            .map(|trail| Found {
                shadow: trail.home_region != region,
                trail,
            }));
    }
    if let Some(trail) = records::get::<TrailRecord>(tx, TRAIL_SCOPE, &TrailRecord::key(account, region, &named.name))?
    {
        return Ok(Some(Found { trail, shadow: false }));
    }
    Ok(all_trails(tx, Some(account))?
        .into_iter()
        .find(|t| t.multi_region && t.name == named.name)
        .map(|trail| Found { trail, shadow: true }))
}

fn check_prefix(prefix: Option<&str>) -> Result<(), CloudTrailError> {
    if prefix.is_some_and(|p| p.chars().count() > MAX_PREFIX) {
        return Err(fault(
            CloudTrailFault::InvalidS3Prefix,
            format!("S3 prefix must not exceed {MAX_PREFIX} characters."),
        ));
    }
    Ok(())
}

fn check_bucket_name(bucket: &str) -> Result<(), CloudTrailError> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(fault(
            CloudTrailFault::InvalidS3BucketName,
            format!("Bucket name {bucket} is not valid."),
        ))
    }
}

/// Settings CloudTrail cannot honour here: SNS topics do not exist, and there are no organizations.
fn refuse_unavailable(settings: &TrailSettings) -> Result<(), CloudTrailError> {
    if settings.sns_topic_name.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(fault(
            CloudTrailFault::InsufficientSnsTopicPolicy,
            "SNS Topic does not exist or the topic policy is incorrect",
        ));
    }
    if settings.organization_trail == Some(true) {
        return Err(fault(
            CloudTrailFault::InvalidParameterCombination,
            "Organization trails are not supported: this account is not the management account of an organization.",
        ));
    }
    Ok(())
}

impl CloudTrail {
    /// Checks that CloudTrail may deliver `trail`'s files to its bucket (the bucket exists and its policy lets
    /// `cloudtrail.amazonaws.com` read its ACL and write under the trail's prefix).
    fn check_bucket(&self, trail: &TrailRecord) -> Result<(), CloudTrailError> {
        let ctx = self.as_service(&trail.account, &trail.home_region);
        let key = format!("{}CloudTrail/", trail.logs_prefix());
        let keys = Self::delivery_keys(&trail.arn, &trail.account);
        self.objects
            .check_service_access(&ctx, &trail.s3_bucket, &key, &keys)
            .map_err(|e| match e {
                ObjectFailure::NoSuchBucket => fault(
                    CloudTrailFault::S3BucketDoesNotExist,
                    format!("S3 bucket {} does not exist!", trail.s3_bucket),
                ),
                ObjectFailure::AccessDenied | ObjectFailure::Kms(_) => fault(
                    CloudTrailFault::InsufficientS3BucketPolicy,
                    format!("Incorrect S3 bucket policy is detected for bucket: {}", trail.s3_bucket),
                ),
                ObjectFailure::Internal(detail) => CloudTrailError::Internal(detail),
                ObjectFailure::Unavailable => CloudTrailError::Unavailable,
            })
    }

    /// Resolves `key_id` to the key's ARN by using it as CloudTrail will: a data key for the trail, under the
    /// trail's encryption context, which the key policy must allow CloudTrail.
    fn check_key(&self, trail: &TrailRecord, key_id: &str) -> Result<String, CloudTrailError> {
        if key_id.is_empty() || key_id.len() > 2048 {
            return Err(fault(
                CloudTrailFault::InvalidKmsKeyId,
                format!("Invalid KmsKeyId: {key_id}"),
            ));
        }
        let ctx = self.as_service(&trail.account, &trail.home_region);
        let context: EncryptionContext = [("aws:cloudtrail:arn".to_string(), trail.arn.clone())].into();
        match self.kms.generate_data_key(&ctx, key_id, &context) {
            Ok((_, wrapped)) => Ok(wrapped.key_arn),
            Err(KmsFailure::NotFound(_)) => Err(fault(
                CloudTrailFault::KmsKeyNotFound,
                format!(
                    "KMS key {key_id} does not exist, or is not in the trail's Region {}.",
                    trail.home_region
                ),
            )),
            Err(KmsFailure::Disabled(_)) => Err(fault(
                CloudTrailFault::KmsKeyDisabled,
                format!("KMS key {key_id} is disabled."),
            )),
            Err(KmsFailure::AccessDenied(_)) => Err(fault(
                CloudTrailFault::InsufficientEncryptionPolicy,
                format!(
                    "Insufficient permissions to access S3 bucket {} or KMS key {key_id}.",
                    trail.s3_bucket
                ),
            )),
            Err(KmsFailure::Unusable(message)) => Err(fault(CloudTrailFault::Kms, message)),
            Err(KmsFailure::InvalidCiphertext) => Err(fault(CloudTrailFault::Kms, "")),
            Err(KmsFailure::Internal(detail)) => Err(CloudTrailError::Internal(detail)),
            Err(KmsFailure::Unavailable) => Err(CloudTrailError::Unavailable),
        }
    }

    /// Applies `settings` to `trail` and checks the result as CloudTrail does, in its order.
    fn apply(&self, trail: &mut TrailRecord, settings: &TrailSettings) -> Result<(), CloudTrailError> {
        refuse_unavailable(settings)?;
        if let Some(global) = settings.include_global_service_events {
            trail.include_global_service_events = global;
        }
        if let Some(multi) = settings.multi_region {
            trail.multi_region = multi;
        }
        if trail.multi_region && !trail.include_global_service_events {
            return Err(fault(
                CloudTrailFault::InvalidParameterCombination,
                "Multi-Region trail must include global service events.",
            ));
        }
        if let Some(bucket) = &settings.s3_bucket {
            check_bucket_name(bucket)?;
            trail.s3_bucket.clone_from(bucket);
        }
        if let Some(prefix) = &settings.s3_key_prefix {
            check_prefix(Some(prefix))?;
            trail.s3_key_prefix = Some(prefix.clone()).filter(|p| !p.is_empty());
        }
        if let Some(validation) = settings.log_file_validation {
            trail.log_file_validation = validation;
        }
        if settings.s3_bucket.is_some() || settings.s3_key_prefix.is_some() || settings.kms_key_id.is_some() {
            self.check_bucket(trail)?;
        }
        self.apply_cloud_watch(trail, settings)?;
        if let Some(key_id) = &settings.kms_key_id {
            trail.kms_key_arn = match key_id.as_str() {
                "" => None,
                key_id => Some(self.check_key(trail, key_id)?),
            };
        }
        Ok(())
    }

    /// The CloudWatch Logs group and role settings, checked as CloudTrail checks them: the group in the trail's
    /// Region, the role one CloudTrail may assume, whose policies let it create streams and put events there.
    fn apply_cloud_watch(&self, trail: &mut TrailRecord, settings: &TrailSettings) -> Result<(), CloudTrailError> {
        let group = settings.cloud_watch_logs_log_group_arn.as_deref();
        let role = settings.cloud_watch_logs_role_arn.as_deref();
        if group.is_none() && role.is_none() {
            return Ok(());
        }
        if group == Some("") || role == Some("") {
            trail.cloud_watch = None;
            return Ok(());
        }
        let current = trail.cloud_watch.as_ref();
        let group = group
            .or(current.map(|c| c.group_arn.as_str()))
            .ok_or_else(|| {
                fault(
                    CloudTrailFault::InvalidCloudWatchLogsLogGroupArn,
                    "You must specify a CloudWatch Logs log group ARN with a role ARN.",
                )
            })?
            .to_string();
        let role = role
            .or(current.map(|c| c.role_arn.as_str()))
            .ok_or_else(|| {
                fault(
                    CloudTrailFault::InvalidCloudWatchLogsRoleArn,
                    "You must specify a role ARN with a CloudWatch Logs log group ARN.",
                )
            })?
            .to_string();
        let group_fault = |message: String| fault(CloudTrailFault::InvalidCloudWatchLogsLogGroupArn, message);
        let parts: Vec<&str> = group.splitn(6, ':').collect();
        if parts.len() < 6 || parts[0] != "arn" || parts[2] != "logs" || !parts[5].starts_with("log-group:") {
            return Err(group_fault(format!("Invalid CloudWatch Logs log group ARN: {group}")));
        }
        if parts[3] != trail.home_region || parts[4] != trail.account {
            return Err(group_fault(
                "You must specify a log group that is in the current region.".into(),
            ));
        }
        let denied = || {
            fault(
                CloudTrailFault::InvalidCloudWatchLogsRoleArn,
                "Access denied. Verify in IAM that the role has adequate permissions.",
            )
        };
        let ctx = self.as_role(trail, &role).map_err(|e| match e {
            DeliveryFailure::Internal(detail) => CloudTrailError::Internal(detail),
            DeliveryFailure::Unavailable => CloudTrailError::Unavailable,
            _ => denied(),
        })?;
        let stream = cloud_watch_stream(&trail.account, &trail.home_region);
        self.logs.check_delivery(&ctx, &group, &stream).map_err(|e| match e {
            DeliveryFailure::NotFound(_) => group_fault(format!("Log group {group} does not exist.")),
            DeliveryFailure::Internal(detail) => CloudTrailError::Internal(detail),
            DeliveryFailure::Unavailable => CloudTrailError::Unavailable,
            _ => denied(),
        })?;
        trail.cloud_watch = Some(CloudWatchDelivery {
            group_arn: group,
            role_arn: role,
        });
        Ok(())
    }

    /// A CloudWatch Logs role a request hands CloudTrail is passed to it: the caller needs `iam:PassRole` on it, as
    /// in AWS.
    fn authorize_pass_role(
        &self,
        ctx: &RequestContext,
        trail_arn: &str,
        settings: &TrailSettings,
    ) -> Result<(), CloudTrailError> {
        let Some(role) = settings.cloud_watch_logs_role_arn.as_deref().filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let account = role
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":role/"))
            .map(|(account, _)| account)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                fault(
                    CloudTrailFault::InvalidCloudWatchLogsRoleArn,
                    format!("Invalid CloudWatch Logs role ARN: {role}"),
                )
            })?;
        let keys = [
            (
                "iam:PassedToService".to_string(),
                vec![crate::SERVICE_PRINCIPAL.to_string()],
            ),
            ("iam:AssociatedResourceArn".to_string(), vec![trail_arn.to_string()]),
        ];
        let resource = TaggedResource {
            arn: role,
            account,
            tags: &[],
        };
        Ok(self.authz.check_tagged(ctx, "iam:PassRole", Some(resource), &keys)?)
    }

    pub fn create_trail(
        &self,
        ctx: &RequestContext,
        name: &str,
        settings: &TrailSettings,
        tags: Vec<Tag>,
    ) -> Result<TrailRecord, CloudTrailError> {
        check_name(name)?;
        tags::check(&tags, &TAG_RULES).map_err(tag_error)?;
        let account = ctx.account_id().to_string();
        let arn = trail_arn(&ctx.region, &account, name);
        self.authorize(
            ctx,
            "cloudtrail:CreateTrail",
            Some((&arn, &account, &[])),
            &tags::request_keys(&tags, &[]),
        )?;
        self.authorize_pass_role(ctx, &arn, settings)?;
        let bucket = settings.s3_bucket.clone().unwrap_or_default();
        let mut trail = TrailRecord {
            v: RECORD_VERSION,
            name: name.to_string(),
            account: account.clone(),
            home_region: ctx.region.clone(),
            arn,
            s3_bucket: bucket,
            s3_key_prefix: None,
            include_global_service_events: true,
            multi_region: false,
            log_file_validation: false,
            kms_key_arn: None,
            cloud_watch: None,
            selectors: Selectors::default(),
            insight_selectors: Vec::new(),
            tags,
            logging: false,
            start_logging_time: None,
            stop_logging_time: None,
            delivery: Delivery::default(),
        };
        let exists = |tx: &mut dyn Transaction| -> Result<(), CloudTrailError> {
            let trails = all_trails(tx, Some(&account))?;
            if trails
                .iter()
                .any(|t| t.name == name && (t.home_region == ctx.region || t.multi_region))
            {
                return Err(fault(
                    CloudTrailFault::TrailAlreadyExists,
                    format!("Trail {name} already exists for customer: {account}"),
                ));
            }
            if trails.iter().filter(|t| t.home_region == ctx.region).count() >= MAX_TRAILS {
                return Err(fault(
                    CloudTrailFault::MaximumNumberOfTrailsExceeded,
                    format!("User: {account} already has {MAX_TRAILS} trails in {}.", ctx.region),
                ));
            }
            Ok(())
        };
        read(&*self.store, exists)?;
        let mut settings = settings.clone();
        if settings.s3_bucket.is_none() {
            settings.s3_bucket = Some(String::new());
        }
        self.apply(&mut trail, &settings)?;
        let id = trail.id();
        transact(&*self.store, |tx| {
            exists(tx)?;
            records::put(tx, TRAIL_SCOPE, &id, &trail)?;
            Ok(())
        })?;
        Ok(trail)
    }

    /// The trail a request names, authorised as `action`; `home` requires the request to be made in its home
    /// Region (the operations that change it).
    fn named(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        home: bool,
    ) -> Result<TrailRecord, CloudTrailError> {
        let named = trail_ref(name)?;
        let account = ctx.account_id().to_string();
        let found = read(&*self.store, |tx| find(tx, &account, &ctx.region, &named))?;
        let Some(found) = found else {
            let region = named.region.as_deref().unwrap_or(&ctx.region);
            let arn = trail_arn(region, &account, &named.name);
            self.authorize(ctx, action, Some((&arn, &account, &[])), &[])?;
            let shown = if named.region.is_some() || !NAMED_BY_ARN_WHEN_MISSING.contains(&action) {
                name
            } else {
                &arn
            };
            return Err(not_found(shown, &account));
        };
        let trail = found.trail;
        self.authorize(ctx, action, Some((&trail.arn, &trail.account, &trail.tags)), &[])?;
        if home && found.shadow {
            return Err(fault(
                CloudTrailFault::InvalidHomeRegion,
                format!(
                    "This operation must be called from the trail's home region, {}.",
                    trail.home_region
                ),
            ));
        }
        Ok(trail)
    }

    /// Reads the trail again and changes it in one transaction; `None` when it went meanwhile.
    fn change(
        &self,
        trail: &TrailRecord,
        mut edit: impl FnMut(&mut TrailRecord) -> Result<(), CloudTrailError>,
    ) -> Result<TrailRecord, CloudTrailError> {
        let id = trail.id();
        transact(&*self.store, |tx| {
            let Some(mut current) = records::get::<TrailRecord>(tx, TRAIL_SCOPE, &id)? else {
                return Err(not_found(&trail.arn, &trail.account));
            };
            edit(&mut current)?;
            records::put(tx, TRAIL_SCOPE, &id, &current)?;
            if current.logging {
                tx.schedule_if_absent(&self.delivery_job(&current, self.now() + self.settings.interval_seconds))?;
            }
            Ok(current)
        })
    }

    pub fn update_trail(
        &self,
        ctx: &RequestContext,
        name: &str,
        settings: &TrailSettings,
    ) -> Result<TrailRecord, CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:UpdateTrail", true)?;
        self.authorize_pass_role(ctx, &trail.arn, settings)?;
        let mut updated = trail.clone();
        self.apply(&mut updated, settings)?;
        if updated.multi_region && !trail.multi_region {
            let clash = read(&*self.store, |tx| {
                Ok(all_trails(tx, Some(&trail.account))?
                    .iter()
                    .any(|t| t.name == trail.name && t.home_region != trail.home_region))
            })?;
            if clash {
                return Err(fault(
                    CloudTrailFault::TrailAlreadyExists,
                    format!("Trail {} already exists for customer: {}", trail.name, trail.account),
                ));
            }
        }
        let tail = self.store.last_audit()?.map_or(0, |b| b.last_sequence);
        self.change(&trail, |current| {
            if updated.log_file_validation && !current.log_file_validation {
                current.delivery.chains.clear();
            }
            current.s3_bucket.clone_from(&updated.s3_bucket);
            current.s3_key_prefix.clone_from(&updated.s3_key_prefix);
            current.include_global_service_events = updated.include_global_service_events;
            current.multi_region = updated.multi_region;
            current.log_file_validation = updated.log_file_validation;
            current.kms_key_arn.clone_from(&updated.kms_key_arn);
            if updated.cloud_watch.is_some() && current.cloud_watch != updated.cloud_watch {
                current.delivery.cloud_watch_through = tail;
            }
            current.cloud_watch.clone_from(&updated.cloud_watch);
            Ok(())
        })
    }

    pub fn delete_trail(&self, ctx: &RequestContext, name: &str) -> Result<(), CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:DeleteTrail", true)?;
        transact(&*self.store, |tx| {
            records::delete::<TrailRecord>(tx, TRAIL_SCOPE, &trail.id())?;
            tx.cancel(&self.delivery_job(&trail, 0).id)?;
            Ok(())
        })
    }

    pub fn get_trail(&self, ctx: &RequestContext, name: &str) -> Result<TrailRecord, CloudTrailError> {
        self.named(ctx, name, "cloudtrail:GetTrail", false)
    }

    /// The Region's trails (and, with `shadows`, the multi-Region trails of other Regions); with names (or ARNs),
    /// only those, and unknown ones are left out.
    pub fn describe_trails(
        &self,
        ctx: &RequestContext,
        names: &[String],
        shadows: bool,
    ) -> Result<Vec<TrailRecord>, CloudTrailError> {
        self.authorize(ctx, "cloudtrail:DescribeTrails", None, &[])?;
        let account = ctx.account_id().to_string();
        let trails = read(&*self.store, |tx| all_trails(tx, Some(&account)))?;
        let wanted = |t: &TrailRecord| names.is_empty() || names.iter().any(|n| *n == t.name || *n == t.arn);
        Ok(trails
            .into_iter()
            .filter(|t| t.home_region == ctx.region || (shadows && t.multi_region))
            .filter(wanted)
            .collect())
    }

    pub fn list_trails(&self, ctx: &RequestContext) -> Result<Vec<TrailRecord>, CloudTrailError> {
        self.authorize(ctx, "cloudtrail:ListTrails", None, &[])?;
        let account = ctx.account_id().to_string();
        let trails = read(&*self.store, |tx| all_trails(tx, Some(&account)))?;
        Ok(trails
            .into_iter()
            .filter(|t| t.home_region == ctx.region || t.multi_region)
            .collect())
    }

    pub fn trail_status(&self, ctx: &RequestContext, name: &str) -> Result<TrailRecord, CloudTrailError> {
        self.named(ctx, name, "cloudtrail:GetTrailStatus", false)
    }

    /// StartLogging: delivery starts with the records that follow (a new digest chain begins).
    pub fn start_logging(&self, ctx: &RequestContext, name: &str) -> Result<(), CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:StartLogging", true)?;
        if trail.logging {
            return Ok(());
        }
        let now = self.now();
        let tail = self.store.last_audit()?.map_or(0, |b| b.last_sequence);
        self.change(&trail, |current| {
            current.logging = true;
            current.start_logging_time = Some(now);
            current.delivery.through = tail;
            current.delivery.cloud_watch_through = tail;
            current.delivery.chains.clear();
            current.delivery.flushed = false;
            Ok(())
        })?;
        Ok(())
    }

    /// StopLogging: the next delivery is the last, with the records up to now and a final digest.
    pub fn stop_logging(&self, ctx: &RequestContext, name: &str) -> Result<(), CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:StopLogging", true)?;
        if !trail.logging {
            return Ok(());
        }
        let now = self.now();
        let id = trail.id();
        transact(&*self.store, |tx| {
            let Some(mut current) = records::get::<TrailRecord>(tx, TRAIL_SCOPE, &id)? else {
                return Err(not_found(&trail.arn, &trail.account));
            };
            current.logging = false;
            current.stop_logging_time = Some(now);
            records::put(tx, TRAIL_SCOPE, &id, &current)?;
            tx.schedule(&self.delivery_job(&current, now))?;
            Ok(())
        })
    }

    pub fn put_event_selectors(
        &self,
        ctx: &RequestContext,
        name: &str,
        selectors: Selectors,
    ) -> Result<TrailRecord, CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:PutEventSelectors", true)?;
        self.change(&trail, |current| {
            current.selectors = selectors.clone();
            Ok(())
        })
    }

    pub fn get_event_selectors(&self, ctx: &RequestContext, name: &str) -> Result<TrailRecord, CloudTrailError> {
        self.named(ctx, name, "cloudtrail:GetEventSelectors", false)
    }

    /// PutInsightSelectors: each Insights type (the model's enum, checked on the wire) at most once; an empty list
    /// turns Insights off.
    pub fn put_insight_selectors(
        &self,
        ctx: &RequestContext,
        name: &str,
        selectors: Vec<(String, Vec<String>)>,
    ) -> Result<TrailRecord, CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:PutInsightSelectors", true)?;
        for (index, (kind, _)) in selectors.iter().enumerate() {
            if selectors[..index].iter().any(|(k, _)| k == kind) {
                return Err(fault(
                    CloudTrailFault::InvalidInsightSelectors,
                    format!("Insight type {kind} is specified more than once."),
                ));
            }
        }
        self.change(&trail, |current| {
            current.insight_selectors.clone_from(&selectors);
            Ok(())
        })
    }

    /// GetInsightSelectors of a trail with Insights enabled.
    pub fn get_insight_selectors(&self, ctx: &RequestContext, name: &str) -> Result<TrailRecord, CloudTrailError> {
        let trail = self.named(ctx, name, "cloudtrail:GetInsightSelectors", false)?;
        if trail.insight_selectors.is_empty() {
            return Err(fault(
                CloudTrailFault::InsightNotEnabled,
                format!("Trail {} does not have Insights enabled.", trail.arn),
            ));
        }
        Ok(trail)
    }

    /// The trail a tagging request names by ARN (tags are CloudTrail's only resource-ARN operations here).
    fn tagged(
        &self,
        ctx: &RequestContext,
        arn: &str,
        action: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<TrailRecord, CloudTrailError> {
        let named = trail_ref(arn)
            .map_err(|_| fault(CloudTrailFault::ResourceNotFound, format!("Resource {arn} not found.")))?;
        let account = ctx.account_id().to_string();
        let found = read(&*self.store, |tx| find(tx, &account, &ctx.region, &named))?;
        let Some(Found { trail, .. }) = found else {
            return Err(fault(
                CloudTrailFault::ResourceNotFound,
                format!("Resource {arn} not found."),
            ));
        };
        self.authorize(ctx, action, Some((&trail.arn, &trail.account, &trail.tags)), keys)?;
        Ok(trail)
    }

    pub fn add_tags(&self, ctx: &RequestContext, arn: &str, added: Vec<Tag>) -> Result<(), CloudTrailError> {
        tags::check(&added, &TAG_RULES).map_err(tag_error)?;
        let trail = self.tagged(ctx, arn, "cloudtrail:AddTags", &tags::request_keys(&added, &[]))?;
        self.change(&trail, |current| {
            tags::upsert(&mut current.tags, &added, &TAG_RULES).map_err(tag_error)
        })?;
        Ok(())
    }

    pub fn remove_tags(&self, ctx: &RequestContext, arn: &str, removed: Vec<Tag>) -> Result<(), CloudTrailError> {
        let keys: Vec<String> = removed.iter().map(|t| t.key.clone()).collect();
        let trail = self.tagged(ctx, arn, "cloudtrail:RemoveTags", &tags::request_keys(&[], &keys))?;
        self.change(&trail, |current| {
            current.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })?;
        Ok(())
    }

    /// Each named trail with its tags.
    pub fn list_tags(&self, ctx: &RequestContext, arns: &[String]) -> Result<Vec<TrailRecord>, CloudTrailError> {
        arns.iter()
            .map(|arn| self.tagged(ctx, arn, "cloudtrail:ListTags", &[]))
            .collect()
    }
}
