//! S3 Object Lock: write-once-read-many protection of object versions. A bucket gets Object Lock at creation or,
//! once versioning is enabled, through PutObjectLockConfiguration, which may also give new versions a default
//! retention; a version may carry a retention (GOVERNANCE or COMPLIANCE, until a date) and a legal hold. A protected
//! version cannot be deleted by its version id (a delete without one only adds a delete marker); a COMPLIANCE
//! retention cannot be shortened or removed by anyone, a GOVERNANCE one only with `x-amz-bypass-governance-retention`
//! and `s3:BypassGovernanceRetention`.

use keyhaven_kernel::context::RequestContext;
use serde::{Deserialize, Serialize};

use crate::buckets::BucketRecord;
use crate::objects::{ObjectHeaders, ObjectRecord};
use crate::storage_class::MILLIS_PER_DAY;
use crate::subresources::ObjectVersion;
use crate::versions::ENABLED;
use crate::{S3, S3Error};

pub const GOVERNANCE: &str = "GOVERNANCE";
pub const COMPLIANCE: &str = "COMPLIANCE";
/// `ObjectLockEnabled`'s only value, and a legal hold's status when on.
const LOCK_ENABLED: &str = "Enabled";
pub const LEGAL_HOLD_ON: &str = "ON";
pub const LEGAL_HOLD_OFF: &str = "OFF";
/// What S3 answers a delete of a protected version.
const PROTECTED: &str = "Access Denied because object protected by object lock.";
const NOT_CONFIGURED: &str = "Bucket is missing Object Lock Configuration";

/// A bucket's Object Lock: on, with the default retention new versions get, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

/// A default retention: a mode and a period in days or in years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<i32>,
}

/// A version's retention: its mode, until when (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: String,
    pub until: i64,
}

impl Retention {
    fn is_active(&self, now: i64) -> bool {
        self.until > now
    }
}

/// The Object Lock headers of a write (`x-amz-object-lock-mode`, `-retain-until-date` in Unix milliseconds,
/// `-legal-hold`).
#[derive(Debug, Clone, Default)]
pub struct LockRequest {
    pub mode: Option<String>,
    pub retain_until: Option<i64>,
    pub legal_hold: Option<String>,
}

impl LockRequest {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.retain_until.is_none() && self.legal_hold.is_none()
    }
}

fn check_mode(mode: &str) -> Result<(), S3Error> {
    if mode == GOVERNANCE || mode == COMPLIANCE {
        Ok(())
    } else {
        Err(S3Error::InvalidArgument("Unknown wormMode directive.".into()))
    }
}

fn legal_hold_status(status: &str) -> Result<bool, S3Error> {
    match status {
        LEGAL_HOLD_ON => Ok(true),
        LEGAL_HOLD_OFF => Ok(false),
        _ => Err(S3Error::InvalidArgument("Unknown legal hold status.".into())),
    }
}

/// Refuses to remove a version its retention or legal hold protects at `now`; a GOVERNANCE retention gives way to
/// an authorised bypass.
pub(crate) fn check_deletable(record: &ObjectRecord, now: i64, bypass: bool) -> Result<(), S3Error> {
    let retained = record
        .headers
        .retention
        .as_ref()
        .is_some_and(|r| r.is_active(now) && (r.mode == COMPLIANCE || !bypass));
    if retained || record.headers.legal_hold == Some(true) {
        return Err(S3Error::AccessDenied(PROTECTED.into()));
    }
    Ok(())
}

impl S3 {
    /// PutObjectLockConfiguration: turns Object Lock on (for good) for a versioning-enabled bucket and sets or clears
    /// its default retention. `enabled` is `ObjectLockEnabled`; `None` for the whole configuration means no body.
    pub fn put_object_lock_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        configuration: Option<(Option<&str>, Option<DefaultRetention>)>,
    ) -> Result<(), S3Error> {
        let (enabled, default_retention) = configuration.ok_or(S3Error::MissingRequestBody)?;
        if enabled != Some(LOCK_ENABLED) {
            return Err(S3Error::MalformedXml);
        }
        if let Some(rule) = &default_retention {
            check_mode(&rule.mode).map_err(|_| S3Error::MalformedXml)?;
            match (rule.days, rule.years) {
                (Some(period), None) | (None, Some(period)) if period > 0 => {}
                (Some(_), None) | (None, Some(_)) => {
                    return Err(S3Error::InvalidArgument(
                        "Default retention period must be a positive integer value".into(),
                    ));
                }
                _ => return Err(S3Error::MalformedXml),
            }
        }
        self.update_bucket(ctx, "s3:PutBucketObjectLockConfiguration", name, |bucket| {
            if bucket.versioning.as_deref() != Some(ENABLED) {
                return Err(S3Error::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                ));
            }
            bucket.object_lock = Some(LockConfiguration {
                default_retention: default_retention.clone(),
            });
            Ok(())
        })
    }

    pub fn get_object_lock_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<LockConfiguration, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketObjectLockConfiguration", name)?
            .object_lock
            .ok_or(S3Error::ObjectLockConfigurationNotFound)
    }

    /// PutObjectRetention: sets, extends or (GOVERNANCE with an authorised bypass only) shortens or removes a
    /// version's retention.
    pub fn put_object_retention(
        &self,
        ctx: &RequestContext,
        target: ObjectVersion<'_>,
        retention: Option<Retention>,
        bypass_requested: bool,
    ) -> Result<(), S3Error> {
        let (bucket, record) = self.locked_version(ctx, "s3:PutObjectRetention", target)?;
        let now = self.now_millis();
        if let Some(retention) = &retention {
            // A mode outside the model's enum does not validate against the schema.
            check_mode(&retention.mode).map_err(|_| S3Error::MalformedXml)?;
            if retention.until <= now {
                return Err(S3Error::InvalidArgument(
                    "The retain until date must be in the future!".into(),
                ));
            }
        }
        let bypass = bypass_requested && self.may_bypass(ctx, &bucket, target);
        self.update_version(target.bucket, target.key, record.version_id.clone(), |version| {
            if let Some(current) = version.headers.retention.as_ref().filter(|c| c.is_active(now)) {
                let loosened = match &retention {
                    None => true,
                    Some(new) => new.until < current.until || (current.mode == COMPLIANCE && new.mode != COMPLIANCE),
                };
                if loosened && (current.mode == COMPLIANCE || !bypass) {
                    return Err(S3Error::AccessDenied(PROTECTED.into()));
                }
            }
            version.headers.retention = retention.clone();
            Ok(())
        })
    }

    pub fn get_object_retention(&self, ctx: &RequestContext, target: ObjectVersion<'_>) -> Result<Retention, S3Error> {
        let (_, record) = self.locked_version(ctx, "s3:GetObjectRetention", target)?;
        record.headers.retention.ok_or(S3Error::NoSuchObjectLockConfiguration)
    }

    /// PutObjectLegalHold: `ON` or `OFF`.
    pub fn put_object_legal_hold(
        &self,
        ctx: &RequestContext,
        target: ObjectVersion<'_>,
        status: Option<&str>,
    ) -> Result<(), S3Error> {
        let on = legal_hold_status(status.ok_or(S3Error::MalformedXml)?)?;
        let (_, record) = self.locked_version(ctx, "s3:PutObjectLegalHold", target)?;
        self.update_version(target.bucket, target.key, record.version_id.clone(), |version| {
            version.headers.legal_hold = Some(on);
            Ok(())
        })
    }

    /// GetObjectLegalHold: whether the version is held; NoSuchObjectLockConfiguration if no hold was ever set.
    pub fn get_object_legal_hold(&self, ctx: &RequestContext, target: ObjectVersion<'_>) -> Result<bool, S3Error> {
        self.locked_version(ctx, "s3:GetObjectLegalHold", target)?
            .1
            .headers
            .legal_hold
            .ok_or(S3Error::NoSuchObjectLockConfiguration)
    }

    /// The version `target` names, once `action` is authorised on it, in a bucket with Object Lock.
    fn locked_version(
        &self,
        ctx: &RequestContext,
        action: &str,
        target: ObjectVersion<'_>,
    ) -> Result<(BucketRecord, ObjectRecord), S3Error> {
        let (bucket, record) = self.authorized_version(ctx, action, target)?;
        if bucket.object_lock.is_none() {
            return Err(S3Error::InvalidRequest(NOT_CONFIGURED.into()));
        }
        Ok((bucket, record))
    }

    /// Settles the Object Lock of a new version in `headers`: the write's own retention and legal hold (authorised as
    /// `s3:PutObjectRetention` and `s3:PutObjectLegalHold`), or else the bucket's default retention. A PutObject that
    /// names any must carry `Content-MD5` or a checksum (`has_digest`).
    pub(crate) fn settle_lock(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        lock: &LockRequest,
        headers: &mut ObjectHeaders,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), S3Error> {
        headers.retention = None;
        headers.legal_hold = None;
        let Some(configuration) = &bucket.object_lock else {
            return match lock.is_empty() {
                true => Ok(()),
                false => Err(S3Error::InvalidRequest(NOT_CONFIGURED.into())),
            };
        };
        let now = self.now_millis();
        match (&lock.mode, lock.retain_until) {
            (Some(mode), Some(until)) => {
                check_mode(mode)?;
                if until <= now {
                    return Err(S3Error::InvalidArgument(
                        "The retain until date must be in the future!".into(),
                    ));
                }
                self.authorize(
                    ctx,
                    "s3:PutObjectRetention",
                    &bucket.name,
                    Some(key),
                    Some(bucket),
                    keys,
                )?;
                headers.retention = Some(Retention {
                    mode: mode.clone(),
                    until,
                });
            }
            (None, None) => {
                headers.retention = configuration.default_retention.as_ref().map(|rule| Retention {
                    mode: rule.mode.clone(),
                    until: now
                        + MILLIS_PER_DAY
                            * (i64::from(rule.days.unwrap_or(0)) + 365 * i64::from(rule.years.unwrap_or(0))),
                });
            }
            _ => {
                return Err(S3Error::InvalidArgument(
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied".into(),
                ));
            }
        }
        if let Some(status) = &lock.legal_hold {
            headers.legal_hold = Some(legal_hold_status(status)?);
            self.authorize(
                ctx,
                "s3:PutObjectLegalHold",
                &bucket.name,
                Some(key),
                Some(bucket),
                keys,
            )?;
        }
        Ok(())
    }

    /// Whether the caller may bypass GOVERNANCE retention on the version `target` names.
    pub(crate) fn may_bypass(&self, ctx: &RequestContext, bucket: &BucketRecord, target: ObjectVersion<'_>) -> bool {
        self.authorize(
            ctx,
            "s3:BypassGovernanceRetention",
            &bucket.name,
            Some(target.key),
            Some(bucket),
            target.keys,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(retention: Option<(&str, i64)>, legal_hold: bool) -> ObjectRecord {
        let mut record = ObjectRecord::delete_marker(0);
        record.headers.retention = retention.map(|(mode, until)| Retention {
            mode: mode.into(),
            until,
        });
        record.headers.legal_hold = Some(legal_hold);
        record
    }

    #[test]
    fn protected_versions_are_not_deletable_and_only_governance_gives_way_to_a_bypass() {
        let now = 1_000;
        let cases = [
            (None, false, false, true),
            (Some((GOVERNANCE, now + 1)), false, false, false),
            (Some((GOVERNANCE, now + 1)), false, true, true),
            (Some((COMPLIANCE, now + 1)), false, true, false),
            (Some((COMPLIANCE, now)), false, false, true),
            (None, true, true, false),
            (Some((GOVERNANCE, now - 1)), true, false, false),
        ];
        for (retention, legal_hold, bypass, deletable) in cases {
            let result = check_deletable(&version(retention, legal_hold), now, bypass);
            assert_eq!(
                result.is_ok(),
                deletable,
                "{retention:?} hold={legal_hold} bypass={bypass}"
            );
        }
    }
}
