//! Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, AssociateKmsKey, DisassociateKmsKey,
//! Put/DeleteRetentionPolicy and tags. A key is associated only once CloudWatch Logs could use it under the group's
//! encryption context, as its policy must allow.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::KmsFailure;
use keyhaven_kernel::records;
use keyhaven_kernel::tags::{self, KeyCase, Tag, TagRules, TagViolation};
use keyhaven_store::{Job, Transaction};

use crate::error::{LogsError, LogsFault, fault, invalid};
use crate::events::DAY_MS;
use crate::model::{BatchRecord, GroupRecord, RECORD_VERSION, StreamRecord, batch_scope, stream_scope};
use crate::names::{check_new_group_name, group_arn, group_of_identifier};
use crate::{Logs, read, transact};

/// The retention periods PutRetentionPolicy takes, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
/// CloudWatch Logs allows 50 tags per group.
const TAG_RULES: TagRules = TagRules::at_most_50(true, KeyCase::Sensitive);
const RETENTION_JOB: &str = "logs.retention";

pub(crate) fn group_not_found() -> LogsError {
    fault(LogsFault::ResourceNotFound, "The specified log group does not exist.")
}

fn tag_error(violation: TagViolation) -> LogsError {
    match violation {
        TagViolation::TooMany => fault(LogsFault::TooManyTags, "A resource can have no more than 50 tags."),
        TagViolation::ReservedPrefix => invalid("Tag keys prefixed with 'aws:' are reserved."),
        TagViolation::DuplicateKey => invalid("Tag keys must be unique."),
    }
}

/// A page of DescribeLogGroups.
#[derive(Debug, Clone)]
pub struct GroupsPage {
    pub groups: Vec<GroupRecord>,
    pub next_token: Option<String>,
}

impl Logs {
    /// The group named in the caller's account and Region, authorised as `action` on the group (or, with a stream
    /// name, on the stream).
    pub(crate) fn group(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        stream: Option<&str>,
    ) -> Result<GroupRecord, LogsError> {
        self.group_with(ctx, name, action, stream, &[])
    }

    /// [`Logs::group`] authorised with the request's condition keys too (tagging).
    fn group_for(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<GroupRecord, LogsError> {
        self.group_with(ctx, name, action, None, keys)
    }

    fn group_with(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        stream: Option<&str>,
        keys: &[(String, Vec<String>)],
    ) -> Result<GroupRecord, LogsError> {
        let scope = ctx.regional_scope();
        let found = read(&*self.store, |tx| Ok(records::get::<GroupRecord>(tx, &scope, name)?))?;
        let arn = group_arn(&ctx.region, ctx.account_id(), name);
        let target = match stream {
            Some(stream) => crate::names::stream_arn(&arn, stream),
            None => arn,
        };
        let tags = found.as_ref().map_or(&[][..], |g| &g.tags[..]);
        self.authorize(ctx, action, Some(&target), tags, keys)?;
        found.ok_or_else(group_not_found)
    }

    /// Checks that CloudWatch Logs may use `key_id` for `group_arn`, answering the key's ARN.
    fn check_key(&self, ctx: &RequestContext, group_arn: &str, key_id: &str) -> Result<String, LogsError> {
        let service = self.as_service(ctx);
        let used = self
            .on_behalf(&service)
            .encrypt(key_id, &Self::key_context(group_arn), b"keyhaven:logs:key-check");
        let refused = || {
            fault(
                LogsFault::KeyAccessDenied,
                format!("The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'"),
            )
        };
        match used {
            Ok(encrypted) => Ok(encrypted.key_arn),
            Err(KmsFailure::NotFound(_) | KmsFailure::AccessDenied(_) | KmsFailure::Unusable(_)) => Err(refused()),
            Err(KmsFailure::Disabled(_)) => Err(invalid(format!("The specified KMS key {key_id} is disabled."))),
            Err(KmsFailure::InvalidCiphertext) => Err(refused()),
            Err(KmsFailure::Internal(detail)) => Err(LogsError::Internal(detail)),
            Err(KmsFailure::Unavailable) => Err(LogsError::Unavailable),
        }
    }

    pub fn create_log_group(
        &self,
        ctx: &RequestContext,
        name: &str,
        kms_key_id: Option<&str>,
        tags: Vec<Tag>,
        deletion_protection: bool,
    ) -> Result<(), LogsError> {
        tags::check(&tags, &TAG_RULES).map_err(tag_error)?;
        let arn = group_arn(&ctx.region, ctx.account_id(), name);
        self.authorize(
            ctx,
            "logs:CreateLogGroup",
            Some(&arn),
            &[],
            &tags::request_keys(&tags, &[]),
        )?;
        check_new_group_name(name)?;
        let scope = ctx.regional_scope();
        let exists = |tx: &mut dyn Transaction| -> Result<(), LogsError> {
            match records::get::<GroupRecord>(tx, &scope, name)? {
                Some(_) => Err(fault(
                    LogsFault::ResourceAlreadyExists,
                    "The specified log group already exists",
                )),
                None => Ok(()),
            }
        };
        read(&*self.store, exists)?;
        let kms_key_arn = kms_key_id.map(|key| self.check_key(ctx, &arn, key)).transpose()?;
        let group = GroupRecord {
            v: RECORD_VERSION,
            name: name.to_string(),
            arn,
            created: self.now_ms(),
            kms_key_arn,
            retention_days: None,
            tags,
            deletion_protection,
            class: "STANDARD".into(),
        };
        transact(&*self.store, |tx| {
            exists(tx)?;
            records::put(tx, &scope, name, &group)?;
            Ok(())
        })
    }

    pub fn delete_log_group(&self, ctx: &RequestContext, name: &str) -> Result<(), LogsError> {
        let group = self.group(ctx, name, "logs:DeleteLogGroup", None)?;
        if group.deletion_protection {
            return Err(fault(
                LogsFault::OperationAborted,
                "Log group deletion is not allowed while deletion protection is enabled.",
            ));
        }
        let scope = ctx.regional_scope();
        let streams_scope = stream_scope(&scope, name);
        transact(&*self.store, |tx| {
            for (stream, _) in records::all::<StreamRecord>(tx, &streams_scope)? {
                delete_stream_in(tx, &scope, name, &stream)?;
            }
            records::delete::<GroupRecord>(tx, &scope, name)?;
            tx.cancel(&retention_job_id(&scope, name))?;
            Ok(())
        })
    }

    /// DescribeLogGroups: the Region's groups in name order, by prefix or by a substring (`logGroupNamePattern`).
    pub fn describe_log_groups(
        &self,
        ctx: &RequestContext,
        prefix: Option<&str>,
        pattern: Option<&str>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<GroupsPage, LogsError> {
        self.authorize(ctx, "logs:DescribeLogGroups", None, &[], &[])?;
        if prefix.is_some() && pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let scope = ctx.regional_scope();
        let groups: Vec<(String, GroupRecord)> = read(&*self.store, |tx| Ok(records::all::<GroupRecord>(tx, &scope)?))?
            .into_iter()
            .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
            .filter(|(name, _)| pattern.is_none_or(|p| name.to_lowercase().contains(&p.to_lowercase())))
            .collect();
        let page = keyhaven_kernel::paging::by_key(&groups, limit, token)
            .map_err(|_| invalid("The specified nextToken is invalid."))?;
        Ok(GroupsPage {
            groups: page.items,
            next_token: page.next_marker,
        })
    }

    /// The group a key request names (`logGroupName` or a log-group `resourceIdentifier`).
    fn key_target(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        identifier: Option<&str>,
        action: &str,
    ) -> Result<GroupRecord, LogsError> {
        let name = match (name, identifier) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "LogGroup name and resource identifier are mutually exclusive parameters.",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "Either LogGroup name or resource identifier must be specified.",
                ));
            }
            (Some(name), None) => name.to_string(),
            (None, Some(identifier)) => group_of_identifier(identifier, &ctx.region, ctx.account_id())?,
        };
        self.group(ctx, &name, action, None)
    }

    fn update_group(
        &self,
        ctx: &RequestContext,
        name: &str,
        mut edit: impl FnMut(&mut GroupRecord),
    ) -> Result<GroupRecord, LogsError> {
        let scope = ctx.regional_scope();
        transact(&*self.store, |tx| {
            let mut group = records::get::<GroupRecord>(tx, &scope, name)?.ok_or_else(group_not_found)?;
            edit(&mut group);
            records::put(tx, &scope, name, &group)?;
            Ok(group)
        })
    }

    pub fn associate_kms_key(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        identifier: Option<&str>,
        key_id: &str,
    ) -> Result<(), LogsError> {
        let group = self.key_target(ctx, name, identifier, "logs:AssociateKmsKey")?;
        let key_arn = self.check_key(ctx, &group.arn, key_id)?;
        self.update_group(ctx, &group.name, |g| g.kms_key_arn = Some(key_arn.clone()))?;
        Ok(())
    }

    /// New events are sealed without a KMS key from now on; those already sealed under it still need it.
    pub fn disassociate_kms_key(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<(), LogsError> {
        let group = self.key_target(ctx, name, identifier, "logs:DisassociateKmsKey")?;
        self.update_group(ctx, &group.name, |g| g.kms_key_arn = None)?;
        Ok(())
    }

    pub fn put_retention_policy(&self, ctx: &RequestContext, name: &str, days: i32) -> Result<(), LogsError> {
        let group = self.group(ctx, name, "logs:PutRetentionPolicy", None)?;
        if !RETENTION_DAYS.contains(&days) {
            let allowed: Vec<String> = RETENTION_DAYS.iter().map(i32::to_string).collect();
            return Err(invalid(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: \
                 Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            )));
        }
        let scope = ctx.regional_scope();
        let due = self.clock.now().unix_timestamp() + 86_400;
        transact(&*self.store, |tx| {
            let mut current = records::get::<GroupRecord>(tx, &scope, &group.name)?.ok_or_else(group_not_found)?;
            current.retention_days = Some(days);
            records::put(tx, &scope, &group.name, &current)?;
            tx.schedule_if_absent(&retention_job(&scope, &group.name, due))?;
            Ok(())
        })
    }

    pub fn delete_retention_policy(&self, ctx: &RequestContext, name: &str) -> Result<(), LogsError> {
        let group = self.group(ctx, name, "logs:DeleteRetentionPolicy", None)?;
        let scope = ctx.regional_scope();
        transact(&*self.store, |tx| {
            let mut current = records::get::<GroupRecord>(tx, &scope, &group.name)?.ok_or_else(group_not_found)?;
            current.retention_days = None;
            records::put(tx, &scope, &group.name, &current)?;
            tx.cancel(&retention_job_id(&scope, &group.name))?;
            Ok(())
        })
    }

    /// The group a tagging request names by ARN.
    fn tagged(
        &self,
        ctx: &RequestContext,
        arn: &str,
        action: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<GroupRecord, LogsError> {
        let name = group_of_identifier(arn, &ctx.region, ctx.account_id())
            .ok()
            .filter(|_| arn.starts_with("arn:"))
            .ok_or_else(|| invalid(format!("The specified resource ARN {arn} is not valid.")))?;
        let scope = ctx.regional_scope();
        let found = read(&*self.store, |tx| Ok(records::get::<GroupRecord>(tx, &scope, &name)?))?;
        let bare = group_arn(&ctx.region, ctx.account_id(), &name);
        let tags = found.as_ref().map_or(&[][..], |g| &g.tags[..]);
        self.authorize(ctx, action, Some(&bare), tags, keys)?;
        found.ok_or_else(group_not_found)
    }

    fn add_tags(&self, ctx: &RequestContext, group: &GroupRecord, added: &[Tag]) -> Result<(), LogsError> {
        let mut failed = None;
        self.update_group(ctx, &group.name, |g| {
            if let Err(e) = tags::upsert(&mut g.tags, added, &TAG_RULES) {
                failed = Some(e);
            }
        })?;
        failed.map_or(Ok(()), |e| Err(tag_error(e)))
    }

    fn remove_tags(&self, ctx: &RequestContext, group: &GroupRecord, keys: &[String]) -> Result<(), LogsError> {
        self.update_group(ctx, &group.name, |g| g.tags.retain(|t| !keys.contains(&t.key)))?;
        Ok(())
    }

    pub fn tag_resource(&self, ctx: &RequestContext, arn: &str, added: Vec<Tag>) -> Result<(), LogsError> {
        tags::check(&added, &TAG_RULES).map_err(tag_error)?;
        let group = self.tagged(ctx, arn, "logs:TagResource", &tags::request_keys(&added, &[]))?;
        self.add_tags(ctx, &group, &added)
    }

    pub fn untag_resource(&self, ctx: &RequestContext, arn: &str, keys: &[String]) -> Result<(), LogsError> {
        let group = self.tagged(ctx, arn, "logs:UntagResource", &tags::request_keys(&[], keys))?;
        self.remove_tags(ctx, &group, keys)
    }

    pub fn list_tags(&self, ctx: &RequestContext, arn: &str) -> Result<Vec<Tag>, LogsError> {
        Ok(self.tagged(ctx, arn, "logs:ListTagsForResource", &[])?.tags)
    }

    /// TagLogGroup, the older form of TagResource, by group name.
    pub fn tag_log_group(&self, ctx: &RequestContext, name: &str, added: Vec<Tag>) -> Result<(), LogsError> {
        tags::check(&added, &TAG_RULES).map_err(tag_error)?;
        let group = self.group_for(ctx, name, "logs:TagLogGroup", &tags::request_keys(&added, &[]))?;
        self.add_tags(ctx, &group, &added)
    }

    pub fn untag_log_group(&self, ctx: &RequestContext, name: &str, keys: &[String]) -> Result<(), LogsError> {
        let group = self.group_for(ctx, name, "logs:UntagLogGroup", &tags::request_keys(&[], keys))?;
        self.remove_tags(ctx, &group, keys)
    }

    pub fn list_log_group_tags(&self, ctx: &RequestContext, name: &str) -> Result<Vec<Tag>, LogsError> {
        Ok(self.group_for(ctx, name, "logs:ListTagsLogGroup", &[])?.tags)
    }

    /// Removes the group's events older than its retention (whole batches); answers how many batches went.
    pub(crate) fn expire(&self, scope: &str, name: &str) -> Result<usize, LogsError> {
        let now = self.now_ms();
        transact(&*self.store, |tx| {
            let Some(days) = records::get::<GroupRecord>(tx, scope, name)?.and_then(|g| g.retention_days) else {
                tx.cancel(&retention_job_id(scope, name))?;
                return Ok(0);
            };
            let cutoff = now - i64::from(days) * DAY_MS;
            let mut removed = 0;
            for (stream, _) in records::all::<StreamRecord>(tx, &stream_scope(scope, name))? {
                let batches = batch_scope(scope, name, &stream);
                for (id, batch) in records::all::<BatchRecord>(tx, &batches)? {
                    if batch.last < cutoff {
                        records::delete::<BatchRecord>(tx, &batches, &id)?;
                        removed += 1;
                    }
                }
            }
            tx.schedule(&retention_job(scope, name, now / 1000 + 86_400))?;
            Ok(removed)
        })
    }
}

/// Removes a stream and its batches, inside a transaction.
pub(crate) fn delete_stream_in(
    tx: &mut dyn Transaction,
    scope: &str,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    let batches = batch_scope(scope, group, stream);
    for (id, _) in records::all::<BatchRecord>(tx, &batches)? {
        records::delete::<BatchRecord>(tx, &batches, &id)?;
    }
    records::delete::<StreamRecord>(tx, &stream_scope(scope, group), stream)?;
    Ok(())
}

pub(crate) fn retention_job_id(scope: &str, group: &str) -> String {
    format!("{RETENTION_JOB}/{scope}\n{group}")
}

fn retention_job(scope: &str, group: &str, due: i64) -> Job {
    Job {
        id: retention_job_id(scope, group),
        due_at: due,
        kind: RETENTION_JOB.to_string(),
        payload: serde_json::to_vec(&(scope, group)).unwrap_or_default(),
    }
}
