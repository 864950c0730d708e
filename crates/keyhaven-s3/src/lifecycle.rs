//! S3 Lifecycle: a bucket's rules (Put/Get/DeleteBucketLifecycleConfiguration), kept as given and carried out by a
//! daily scheduler job per bucket, as S3 runs them once a day: current versions expire (removed in a never-versioned
//! bucket, hidden behind a delete marker otherwise) or move to another storage class a number of days after they
//! were written (rounded up to midnight UTC) or from a date; noncurrent versions expire or move a number of days
//! after they were replaced, keeping the newest ones a rule asks to keep; lone expired delete markers go; incomplete
//! multipart uploads are aborted. Object Lock still protects the versions it protects.

use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::context::{Principal, RequestContext};
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::records;
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;
use serde::{Deserialize, Serialize};

use crate::buckets::BucketRecord;
use crate::error::{read, transact};
use crate::multipart::UploadRecord;
use crate::notifications::Change;
use crate::object_lock::check_deletable;
use crate::objects::ObjectRecord;
use crate::storage_class::MILLIS_PER_DAY;
use crate::storage_class::next_midnight_after;
use crate::versions;
use crate::{S3, S3Error};

/// S3's most rules per configuration.
const MAX_RULES: usize = 1000;
const MAX_ID_LEN: usize = 255;
/// The scheduler job that carries out a bucket's rules; its id is this and the bucket's name.
pub const JOB_KIND: &str = "s3.lifecycle";
/// Objects read per transaction while the rules run.
const PAGE: usize = 500;
/// The principal S3's own lifecycle actions are taken by.
const S3_SERVICE: &str = "s3.amazonaws.com";

/// One rule, in the form the configuration gave it (so it is answered back the same way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The rule's scope in the older form: a prefix beside the rule instead of a filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_upload_days: Option<i32>,
}

/// A rule's filter: at most one of its members (several conditions go in `and`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<AndFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AndFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<i64>,
}

/// When current versions expire: `days` after they were written or from `date` (Unix milliseconds, a midnight
/// UTC); or `expired_object_delete_marker`, alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub noncurrent_days: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentTransition {
    pub noncurrent_days: i32,
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<i32>,
}

/// The rules as S3 checks them (storage classes were checked against the model's enum when the document was read).
fn check_rules(rules: &[LifecycleRule]) -> Result<(), S3Error> {
    let positive = |what: &str, days: Option<i32>| match days {
        Some(days) if days <= 0 => Err(S3Error::InvalidArgument(format!(
            "'{what}' in {} action must be a positive integer",
            if what == "NoncurrentDays" {
                "NoncurrentVersion"
            } else {
                "Lifecycle"
            }
        ))),
        _ => Ok(()),
    };
    let midnight = |date: Option<i64>| match date {
        Some(date) if date % MILLIS_PER_DAY != 0 => {
            Err(S3Error::InvalidArgument("'Date' must be at midnight GMT".into()))
        }
        _ => Ok(()),
    };
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(S3Error::MalformedXml);
    }
    for rule in rules {
        if rule.id.as_ref().is_some_and(|id| id.len() > MAX_ID_LEN) {
            return Err(S3Error::InvalidArgument(
                "ID length should not exceed allowed limit of 255".into(),
            ));
        }
        // Exactly one scope, and a filter of one condition (several go in And).
        if rule.filter.is_some() == rule.prefix.is_some() {
            return Err(S3Error::MalformedXml);
        }
        if let Some(filter) = &rule.filter {
            let conditions = [
                filter.prefix.is_some(),
                filter.tag.is_some(),
                filter.size_greater_than.is_some(),
                filter.size_less_than.is_some(),
                filter.and.is_some(),
            ];
            if conditions.iter().filter(|set| **set).count() > 1 {
                return Err(S3Error::MalformedXml);
            }
            let tags = filter.and.as_ref().map(|and| and.tags.as_slice()).unwrap_or_default();
            if crate::buckets::has_duplicate_keys(tags) {
                return Err(S3Error::InvalidRequest("Duplicate Tag Keys are not allowed.".into()));
            }
        }
        if let Some(expiration) = &rule.expiration {
            let timed = [expiration.days.is_some(), expiration.date.is_some()];
            let marker = expiration.expired_object_delete_marker.is_some();
            if timed.iter().filter(|set| **set).count() + usize::from(marker) != 1 {
                return Err(S3Error::MalformedXml);
            }
            positive("Days", expiration.days)?;
            midnight(expiration.date)?;
        }
        for transition in &rule.transitions {
            if transition.days.is_some() == transition.date.is_some() {
                return Err(S3Error::MalformedXml);
            }
            positive("Days", transition.days)?;
            midnight(transition.date)?;
        }
        if let Some(expiration) = &rule.noncurrent_expiration {
            positive("NoncurrentDays", Some(expiration.noncurrent_days))?;
        }
        for transition in &rule.noncurrent_transitions {
            positive("NoncurrentDays", Some(transition.noncurrent_days))?;
        }
        positive("DaysAfterInitiation", rule.abort_incomplete_upload_days)?;
    }
    Ok(())
}

impl LifecycleRule {
    /// Whether the rule applies to a version of `key` of `size` bytes with `tags`.
    fn applies_to(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let has = |(k, v): &(String, String)| tags.iter().any(|(tk, tv)| tk == k && tv == v);
        let prefix = |p: &Option<String>| p.as_deref().is_none_or(|p| key.starts_with(p));
        let sizes = |gt: Option<i64>, lt: Option<i64>| gt.is_none_or(|gt| size > gt) && lt.is_none_or(|lt| size < lt);
        match (&self.filter, &self.prefix) {
            (Some(f), _) => {
                prefix(&f.prefix)
                    && f.tag.as_ref().is_none_or(has)
                    && sizes(f.size_greater_than, f.size_less_than)
                    && f.and.as_ref().is_none_or(|and| {
                        prefix(&and.prefix)
                            && and.tags.iter().all(has)
                            && sizes(and.size_greater_than, and.size_less_than)
                    })
            }
            (None, Some(p)) => key.starts_with(p.as_str()),
            (None, None) => true,
        }
    }

    /// The prefix an incomplete upload's key must have (tags and sizes do not apply to uploads).
    fn upload_prefix(&self) -> &str {
        match (&self.filter, &self.prefix) {
            (Some(f), _) => f
                .prefix
                .as_deref()
                .or_else(|| f.and.as_ref().and_then(|a| a.prefix.as_deref()))
                .unwrap_or(""),
            (None, Some(p)) => p,
            (None, None) => "",
        }
    }
}

/// The rules that apply to `version` of `key`.
fn matching<'r>(
    rules: &'r [LifecycleRule],
    key: &'r str,
    version: &'r ObjectRecord,
) -> impl Iterator<Item = &'r LifecycleRule> + 'r {
    rules
        .iter()
        .filter(move |r| r.applies_to(key, version.size, &version.headers.tags))
}

/// Whether an action `days` after `since` (or from `date`) is due at `now`, all in Unix milliseconds.
fn due(since: i64, days: Option<i32>, date: Option<i64>, now: i64) -> bool {
    match (days, date) {
        (Some(days), _) => next_midnight_after(since, i64::from(days)) <= now,
        (None, Some(date)) => date <= now,
        (None, None) => false,
    }
}

/// The context S3's own lifecycle actions run in: the bucket owner's account, through S3.
fn lifecycle_context(bucket: &BucketRecord) -> Result<RequestContext, S3Error> {
    Ok(RequestContext {
        request_id: keyhaven_kernel::ids::unique_id("", 32)?,
        principal: Principal::root(&bucket.account, ""),
        region: bucket.region.clone(),
        source_ip: None,
        user_agent: S3_SERVICE.into(),
        secure_transport: true,
        via_service: Some(S3_SERVICE.into()),
        signature_v2: false,
        service_calls: Default::default(),
    })
}

fn lifecycle_job(bucket: &str, due_at: i64) -> Job {
    Job {
        id: format!("{JOB_KIND}/{bucket}"),
        due_at,
        kind: JOB_KIND.into(),
        payload: bucket.as_bytes().to_vec(),
    }
}

impl S3 {
    /// PutBucketLifecycleConfiguration: replaces the bucket's rules (no rules removes them) and schedules their run
    /// at the next midnight UTC.
    pub fn put_bucket_lifecycle(
        &self,
        ctx: &RequestContext,
        name: &str,
        rules: Vec<LifecycleRule>,
    ) -> Result<(), S3Error> {
        check_rules(&rules)?;
        self.update_bucket(ctx, "s3:PutLifecycleConfiguration", name, |bucket| {
            bucket.lifecycle = Some(rules.clone());
            Ok(())
        })?;
        let first = next_midnight_after(self.now_millis(), 0) / 1000;
        transact(&*self.store, |tx| Ok(tx.schedule(&lifecycle_job(name, first))?))?;
        Ok(())
    }

    /// GetBucketLifecycleConfiguration.
    pub fn get_bucket_lifecycle(&self, ctx: &RequestContext, name: &str) -> Result<Vec<LifecycleRule>, S3Error> {
        self.authorized_bucket(ctx, "s3:GetLifecycleConfiguration", name)?
            .lifecycle
            .ok_or_else(|| S3Error::NoSuchLifecycleConfiguration { bucket: name.into() })
    }

    /// DeleteBucketLifecycle (authorised as `s3:PutLifecycleConfiguration`, as S3 does).
    pub fn delete_bucket_lifecycle(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutLifecycleConfiguration", name, |bucket| {
            bucket.lifecycle = None;
            Ok(())
        })
    }

    /// The scheduled run of a bucket's rules; scheduled again for the next midnight while the bucket has rules.
    pub(crate) fn run_lifecycle(&self, job: &Job) -> Result<(), S3Error> {
        let name = String::from_utf8_lossy(&job.payload).into_owned();
        let Some(bucket) = self.bucket(&name)? else {
            return Ok(());
        };
        let Some(rules) = bucket.lifecycle.clone() else {
            return Ok(());
        };
        let rules: Vec<LifecycleRule> = rules.into_iter().filter(|r| r.enabled).collect();
        let now = self.now_millis();
        let ctx = lifecycle_context(&bucket)?;
        let mut after: Option<String> = None;
        loop {
            let page = read(&*self.store, |tx| {
                Ok(records::list::<ObjectRecord>(tx, &name, after.as_deref(), PAGE)?)
            })?;
            for (key, current) in &page {
                self.apply_rules(&ctx, &bucket, &rules, key, current, now)?;
            }
            if page.len() < PAGE {
                break;
            }
            after = page.last().map(|(key, _)| key.clone());
        }
        self.abort_stale_uploads(&name, &rules, now)?;
        let next = next_midnight_after(now, 0) / 1000;
        transact(&*self.store, |tx| Ok(tx.schedule(&lifecycle_job(&name, next))?))
    }

    /// Carries out the rules on one key: its current version, then its noncurrent ones.
    fn apply_rules(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        rules: &[LifecycleRule],
        key: &str,
        current: &ObjectRecord,
        now: i64,
    ) -> Result<(), S3Error> {
        let rules_for = |version| matching(rules, key, version);
        if !current.delete_marker {
            let expired = rules_for(current).any(|rule| {
                rule.expiration
                    .as_ref()
                    .is_some_and(|e| due(current.last_modified, e.days, e.date, now))
            });
            if expired {
                return self.expire_current(ctx, bucket, key, current);
            }
            let moved_to = rules_for(current)
                .flat_map(|rule| &rule.transitions)
                .filter(|t| due(current.last_modified, t.days, t.date, now))
                .max_by_key(|t| (t.days, t.date))
                .map(|t| t.storage_class.clone());
            if let Some(class) = moved_to.filter(|class| class != current.storage_class()) {
                self.update_version(&bucket.name, key, current.version_id.clone(), |version| {
                    version.headers.storage_class = Some(class.clone());
                    Ok(())
                })?;
            }
        }
        if bucket.versioning.is_none() {
            return Ok(());
        }
        let noncurrent = read(&*self.store, |tx| versions::noncurrent(tx, &bucket.name, key))?;
        let lone_marker = current.delete_marker && noncurrent.is_empty();
        if lone_marker
            && rules_for(current).any(|r| {
                r.expiration
                    .as_ref()
                    .is_some_and(|e| e.expired_object_delete_marker == Some(true))
            })
        {
            return self.remove_by_lifecycle(ctx, bucket, key, current, now);
        }
        // A version became noncurrent when the next newer one was written.
        let mut replaced_at = current.last_modified;
        for (index, (_, version)) in noncurrent.iter().enumerate() {
            let since = replaced_at;
            replaced_at = version.last_modified;
            let newer = i32::try_from(index).unwrap_or(i32::MAX);
            let expired = rules_for(version).any(|rule| {
                rule.noncurrent_expiration.as_ref().is_some_and(|e| {
                    newer >= e.newer_noncurrent_versions.unwrap_or(0) && due(since, Some(e.noncurrent_days), None, now)
                })
            });
            if expired && check_deletable(version, now, false).is_ok() {
                self.remove_by_lifecycle(ctx, bucket, key, version, now)?;
                continue;
            }
            let moved_to = rules_for(version)
                .flat_map(|rule| &rule.noncurrent_transitions)
                .filter(|t| {
                    newer >= t.newer_noncurrent_versions.unwrap_or(0) && due(since, Some(t.noncurrent_days), None, now)
                })
                .max_by_key(|t| t.noncurrent_days)
                .map(|t| t.storage_class.clone());
            if let Some(class) = moved_to.filter(|class| class != version.storage_class()) {
                self.update_version(&bucket.name, key, version.version_id.clone(), |version| {
                    version.headers.storage_class = Some(class.clone());
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// Expires a current version: removed where the bucket was never versioned, hidden behind a delete marker
    /// otherwise; nothing happens if the version was replaced meanwhile.
    fn expire_current(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        current: &ObjectRecord,
    ) -> Result<(), S3Error> {
        let unchanged = |previous: Option<&ObjectRecord>| match previous {
            Some(previous) if previous.sequence == current.sequence => Ok(()),
            _ => Err(S3Error::PreconditionFailed(REPLACED)),
        };
        let gone = if bucket.versioning.is_none() {
            transact(&*self.store, |tx| {
                let previous = records::get::<ObjectRecord>(tx, &bucket.name, key)?;
                unchanged(previous.as_ref())?;
                records::delete::<ObjectRecord>(tx, &bucket.name, key)?;
                self.publish_change(tx, ctx, bucket, key, current, Change::Expired)?;
                Ok(vec![current.clone()])
            })
        } else {
            let mut marker = ObjectRecord::delete_marker(self.now_millis());
            self.replace_object(ctx, &bucket.name, key, &mut marker, Change::Expired, unchanged)
        };
        match gone {
            Ok(gone) => {
                self.discard_bodies(&gone);
                Ok(())
            }
            Err(S3Error::PreconditionFailed(REPLACED)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes one version (a noncurrent one, or a lone delete marker) for good, unless Object Lock protects it.
    fn remove_by_lifecycle(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        version: &ObjectRecord,
        now: i64,
    ) -> Result<(), S3Error> {
        let version_id = version.version_id.as_deref().unwrap_or(versions::NULL_VERSION);
        let gone = transact(&*self.store, |tx| {
            let (_, gone) = versions::remove_version(tx, &bucket.name, key, version_id, |found| {
                check_deletable(found, now, false)
            })?;
            if let Some(removed) = &gone {
                self.publish_change(tx, ctx, bucket, key, removed, Change::Expired)?;
            }
            Ok(gone)
        });
        match gone {
            Ok(gone) => {
                self.discard_bodies(&gone.into_iter().collect::<Vec<_>>());
                Ok(())
            }
            Err(S3Error::AccessDenied(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Aborts the bucket's multipart uploads a rule's `AbortIncompleteMultipartUpload` has run out on.
    fn abort_stale_uploads(&self, bucket: &str, rules: &[LifecycleRule], now: i64) -> Result<(), S3Error> {
        let uploads = read(&*self.store, |tx| Ok(records::all::<UploadRecord>(tx, bucket)?))?;
        for (upload_id, upload) in uploads {
            let stale = rules.iter().any(|rule| {
                rule.abort_incomplete_upload_days.is_some_and(|days| {
                    upload.key.starts_with(rule.upload_prefix()) && due(upload.initiated, Some(days), None, now)
                })
            });
            if stale {
                self.remove_upload(bucket, &upload_id)?;
            }
        }
        Ok(())
    }
}

impl JobHandler for S3 {
    fn run(&self, job: &Job, _: &AuditLog) -> Result<(), KernelError> {
        match job.kind.as_str() {
            JOB_KIND => self.run_lifecycle(job).map_err(job_failed),
            other => Err(KernelError::Internal(format!("unknown S3 job {other}"))),
        }
    }
}

/// The condition that stands for "the version was replaced while its expiry was being decided".
const REPLACED: &str = "lifecycle: replaced meanwhile";

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(change: impl FnOnce(&mut LifecycleRule)) -> LifecycleRule {
        let mut rule = LifecycleRule {
            enabled: true,
            filter: Some(Filter::default()),
            expiration: Some(Expiration {
                days: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        };
        change(&mut rule);
        rule
    }

    #[test]
    fn rules_are_checked_as_s3_checks_them() {
        let malformed = S3Error::MalformedXml;
        let cases: Vec<(&str, LifecycleRule, Option<S3Error>)> = vec![
            ("whole bucket", rule(|_| {}), None),
            (
                "legacy prefix",
                rule(|r| (r.filter, r.prefix) = (None, Some("logs/".into()))),
                None,
            ),
            (
                "neither filter nor prefix",
                rule(|r| r.filter = None),
                Some(malformed.clone()),
            ),
            (
                "filter and prefix",
                rule(|r| r.prefix = Some(String::new())),
                Some(malformed.clone()),
            ),
            (
                "two conditions outside And",
                rule(|r| {
                    r.filter = Some(Filter {
                        prefix: Some("a".into()),
                        tag: Some(("k".into(), "v".into())),
                        ..Default::default()
                    })
                }),
                Some(malformed.clone()),
            ),
            (
                "days and a delete-marker expiry",
                rule(|r| r.expiration.as_mut().expect("set").expired_object_delete_marker = Some(true)),
                Some(malformed.clone()),
            ),
            (
                "zero days",
                rule(|r| {
                    r.expiration = Some(Expiration {
                        days: Some(0),
                        ..Default::default()
                    })
                }),
                Some(S3Error::InvalidArgument(
                    "'Days' in Lifecycle action must be a positive integer".into(),
                )),
            ),
            (
                "a date not at midnight",
                rule(|r| {
                    r.expiration = Some(Expiration {
                        date: Some(MILLIS_PER_DAY + 1),
                        ..Default::default()
                    })
                }),
                Some(S3Error::InvalidArgument("'Date' must be at midnight GMT".into())),
            ),
            (
                "a transition without days or date",
                rule(|r| {
                    r.transitions = vec![Transition {
                        days: None,
                        date: None,
                        storage_class: "GLACIER".into(),
                    }]
                }),
                Some(malformed),
            ),
        ];
        for (name, rule, expected) in cases {
            assert_eq!(check_rules(&[rule]).err(), expected, "{name}");
        }
    }

    #[test]
    fn filters_match_prefixes_tags_and_sizes() {
        let tagged = vec![("team".to_string(), "a".to_string())];
        let and = rule(|r| {
            r.filter = Some(Filter {
                and: Some(AndFilter {
                    prefix: Some("logs/".into()),
                    tags: tagged.clone(),
                    size_greater_than: Some(10),
                    size_less_than: None,
                }),
                ..Default::default()
            })
        });
        assert!(and.applies_to("logs/1", 11, &tagged));
        assert!(!and.applies_to("logs/1", 10, &tagged));
        assert!(!and.applies_to("logs/1", 11, &[]));
        assert!(!and.applies_to("data/1", 11, &tagged));
        let legacy = rule(|r| (r.filter, r.prefix) = (None, Some("tmp/".into())));
        assert!(legacy.applies_to("tmp/x", 0, &[]) && !legacy.applies_to("x", 0, &[]));
        assert_eq!(legacy.upload_prefix(), "tmp/");
    }

    #[test]
    fn actions_fall_due_at_the_midnight_after_their_days() {
        // 2012-01-01 12:00 UTC; one day later rounds up to 2012-01-03 00:00 UTC.
        let noon = 1_325_419_200_000;
        let due_at = 1_325_548_800_000;
        assert!(!due(noon, Some(1), None, due_at - 1));
        assert!(due(noon, Some(1), None, due_at));
        assert!(due(noon, None, Some(due_at), due_at) && !due(noon, None, Some(due_at), due_at - 1));
    }
}
