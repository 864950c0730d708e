//! Buckets: their records (owner, Region, default encryption, tags) and the bucket operations. Bucket names are
//! global in the partition, so every bucket record lives in one scope, whichever account and Region own it.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_policy::{PolicyDocument, PolicyKind};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::S3Error;
use crate::error::{read, transact};
use crate::names::check_bucket_name;
use crate::{Page, S3};

const RECORD_VERSION: u32 = 1;
/// The one scope of bucket records: names are unique across accounts and Regions.
pub(crate) const BUCKETS_SCOPE: &str = "aws";
/// The Region whose buckets have no `LocationConstraint`.
pub const US_EAST_1: &str = "us-east-1";
/// S3's limit on tags per bucket.
const MAX_TAGS: usize = 50;

/// Default encryption of new objects (PutBucketEncryption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultEncryption {
    /// `AES256` (SSE-S3); `aws:kms` and `aws:kms:dsse` come with SSE-KMS.
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    v: u32,
    pub name: String,
    pub account: String,
    pub region: String,
    /// Unix milliseconds.
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<DefaultEncryption>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The bucket policy, as put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// `Enabled` or `Suspended`; absent for a bucket never versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// `BucketOwnerEnforced` (the default since 2023), `BucketOwnerPreferred` or `ObjectWriter`; `None` once
    /// deleted (written as `null`, since an absent field reads as the default).
    #[serde(default = "bucket_owner_enforced")]
    pub object_ownership: Option<String>,
    /// The encryption types new objects may not use (`BlockedEncryptionTypes`; only `SSE-C` exists). New buckets
    /// block SSE-C, as S3's have since April 2026; records from before read as blocking it too.
    #[serde(default = "sse_c_blocked")]
    pub blocked_encryption_types: Vec<String>,
    /// The notification configuration's `EventBridgeConfiguration`: the bucket's change events go out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub event_bridge: bool,
    /// Object Lock, once on (it never goes off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<crate::object_lock::LockConfiguration>,
    /// The lifecycle rules, as put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<crate::lifecycle::LifecycleRule>>,
    /// Transfer Acceleration: `Enabled` or `Suspended`, once set. (Keyhaven has one endpoint: the setting is kept
    /// and answered, with nothing faster behind it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerate: Option<String>,
    /// The CORS rules, as put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<crate::cors::CorsRule>>,
    /// The static website configuration, as put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<crate::website::WebsiteConfiguration>,
    /// The configurations kept as documents (`configurations`), by kind and `Id`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub configurations: std::collections::BTreeMap<String, String>,
}

/// `x-amz-bucket-namespace`'s values.
const GLOBAL_NAMESPACE: &str = "global";
const ACCOUNT_REGIONAL_NAMESPACE: &str = "account-regional";

/// The one encryption type S3 lets a bucket block.
pub const SSE_C_TYPE: &str = "SSE-C";
/// `BlockedEncryptionTypes`' value for blocking nothing.
pub const NO_ENCRYPTION_TYPE: &str = "NONE";

fn sse_c_blocked() -> Vec<String> {
    vec![SSE_C_TYPE.to_string()]
}

fn bucket_owner_enforced() -> Option<String> {
    Some(BUCKET_OWNER_ENFORCED.to_string())
}

/// The ACL-disabling object ownership every new bucket gets.
pub const BUCKET_OWNER_ENFORCED: &str = "BucketOwnerEnforced";
const OWNERSHIPS: &[&str] = &[BUCKET_OWNER_ENFORCED, "BucketOwnerPreferred", "ObjectWriter"];

/// A bucket's Block Public Access settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

keyhaven_kernel::versioned_record!(BucketRecord, "s3-bucket", RECORD_VERSION);

impl BucketRecord {
    pub fn arn(&self) -> String {
        bucket_arn(&self.name)
    }

    /// Whether new objects may be written with SSE-C.
    pub fn sse_c_blocked(&self) -> bool {
        self.blocked_encryption_types.iter().any(|t| t == SSE_C_TYPE)
    }

    /// The encryption new objects get when the request asks for none: the bucket's default, else SSE-S3.
    pub fn default_encryption(&self) -> DefaultEncryption {
        self.encryption.clone().unwrap_or_else(|| DefaultEncryption {
            algorithm: crate::SSE_S3.into(),
            kms_key_id: None,
            bucket_key_enabled: false,
        })
    }
}

/// Whether `name` has a Region's shape (`eu-west-1`, `us-gov-east-1`): lowercase words and a number, by hyphens.
fn is_region_name(name: &str) -> bool {
    let words: Vec<&str> = name.split('-').collect();
    words.len() >= 3
        && words
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && words[..words.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

impl S3 {
    /// CreateBucket. A Regional endpoint (the Region the request was signed for) creates only in its own Region, named
    /// by `LocationConstraint`; us-east-1's, the global one, creates in us-east-1 without a constraint and in the
    /// Region a constraint names, but refuses `us-east-1` spelt out, as S3 does.
    pub fn create_bucket(
        &self,
        ctx: &RequestContext,
        name: &str,
        location_constraint: Option<&str>,
        object_ownership: Option<&str>,
        (object_lock, namespace): (bool, Option<&str>),
    ) -> Result<BucketRecord, S3Error> {
        check_bucket_name(name)?;
        // A bucket in the account regional namespace is named `<prefix>-<account>-<region>-an`.
        match namespace {
            None | Some(GLOBAL_NAMESPACE) => {}
            Some(ACCOUNT_REGIONAL_NAMESPACE)
                if name
                    .strip_suffix(&format!("-{}-{}-an", ctx.account_id(), ctx.region))
                    .is_some_and(|prefix| !prefix.is_empty()) => {}
            Some(_) => return Err(S3Error::InvalidNamespaceHeader),
        }
        if object_ownership.is_some_and(|o| !OWNERSHIPS.contains(&o)) {
            return Err(S3Error::InvalidArgument(format!(
                "Invalid x-amz-object-ownership header: {}",
                object_ownership.unwrap_or_default()
            )));
        }
        self.authorize(ctx, "s3:CreateBucket", name, None, None, &[])?;
        // A bucket created with Object Lock is also a versioning and Object Lock configuration change.
        if object_lock {
            self.authorize(ctx, "s3:PutBucketVersioning", name, None, None, &[])?;
            self.authorize(ctx, "s3:PutBucketObjectLockConfiguration", name, None, None, &[])?;
        }
        let endpoint = ctx.region.as_str();
        let region = match (endpoint, location_constraint.filter(|c| !c.is_empty())) {
            (US_EAST_1, Some(US_EAST_1)) => return Err(S3Error::InvalidLocationConstraint),
            (US_EAST_1, None) => US_EAST_1,
            (US_EAST_1, Some(constraint)) if is_region_name(constraint) => constraint,
            (US_EAST_1, Some(_)) => return Err(S3Error::InvalidLocationConstraint),
            (_, Some(constraint)) if constraint == endpoint => endpoint,
            (_, constraint) => {
                return Err(S3Error::IllegalLocationConstraint(
                    constraint.unwrap_or("unspecified").to_string(),
                ));
            }
        };
        let record = BucketRecord {
            v: RECORD_VERSION,
            name: name.to_string(),
            account: ctx.account_id().to_string(),
            region: region.to_string(),
            created: self.now_millis(),
            encryption: None,
            tags: Vec::new(),
            policy: None,
            versioning: object_lock.then(|| crate::versions::ENABLED.to_string()),
            object_lock: object_lock.then(crate::object_lock::LockConfiguration::default),
            lifecycle: None,
            accelerate: None,
            cors: None,
            website: None,
            configurations: Default::default(),
            // New buckets block public access, as S3's have since April 2023.
            public_access_block: Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }),
            object_ownership: object_ownership.map(str::to_string).or_else(bucket_owner_enforced),
            blocked_encryption_types: sse_c_blocked(),
            event_bridge: false,
        };
        transact(&*self.store, |tx| {
            match records::get::<BucketRecord>(tx, BUCKETS_SCOPE, name)? {
                // us-east-1 answers a repeated create by the owner with success, as S3 does for legacy reasons.
                Some(existing)
                    if existing.account == record.account && region == US_EAST_1 && existing.region == US_EAST_1 =>
                {
                    return Ok(existing);
                }
                Some(existing) if existing.account == record.account => {
                    return Err(S3Error::BucketAlreadyOwnedByYou { bucket: name.into() });
                }
                Some(_) => return Err(S3Error::BucketAlreadyExists { bucket: name.into() }),
                None => {}
            }
            records::put(tx, BUCKETS_SCOPE, name, &record)?;
            Ok(record.clone())
        })
    }

    /// DeleteBucket: only an empty bucket.
    pub fn delete_bucket(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        let versioned = self
            .authorized_bucket(ctx, "s3:DeleteBucket", name)?
            .versioning
            .is_some();
        // Multipart uploads in progress go with the bucket, as in S3; so do its bucket keys.
        let parts = transact(&*self.store, |tx| {
            if !S3::bucket_is_empty(tx, name)? {
                return Err(S3Error::BucketNotEmpty {
                    bucket: name.into(),
                    versioned,
                });
            }
            let parts = S3::remove_uploads(tx, name)?;
            S3::remove_bucket_keys(tx, name)?;
            records::delete::<BucketRecord>(tx, BUCKETS_SCOPE, name)?;
            Ok(parts)
        })?;
        self.forget_bucket_keys(name)?;
        for blob_id in parts {
            self.discard_blob(&blob_id);
        }
        Ok(())
    }

    /// HeadBucket (authorised as `s3:ListBucket`, as S3 does).
    pub fn head_bucket(&self, ctx: &RequestContext, name: &str) -> Result<BucketRecord, S3Error> {
        self.authorized_bucket(ctx, "s3:ListBucket", name)
    }

    /// ListBuckets: the caller's account's buckets in name order, optionally under a prefix and in one Region.
    pub fn list_buckets(
        &self,
        ctx: &RequestContext,
        prefix: Option<&str>,
        region: Option<&str>,
        page: Page<'_>,
    ) -> Result<(Vec<BucketRecord>, Option<String>), S3Error> {
        self.authz
            .check(ctx, &keyhaven_kernel::authz::Access::unscoped("s3:ListAllMyBuckets"))?;
        let all = read(&*self.store, |tx| Ok(records::all::<BucketRecord>(tx, BUCKETS_SCOPE)?))?;
        let mut matching = all.into_iter().map(|(_, b)| b).filter(|b| {
            b.account == ctx.account_id()
                && prefix.is_none_or(|p| b.name.starts_with(p))
                && region.is_none_or(|r| b.region == r)
                && page.after.is_none_or(|after| b.name.as_str() > after)
        });
        let buckets: Vec<BucketRecord> = matching.by_ref().take(page.limit).collect();
        let next = matching.next().and_then(|_| buckets.last().map(|b| b.name.clone()));
        Ok((buckets, next))
    }

    pub fn get_bucket_location(&self, ctx: &RequestContext, name: &str) -> Result<BucketRecord, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketLocation", name)
    }

    /// GetBucketEncryption: the default encryption and the blocked encryption types.
    pub fn get_bucket_encryption(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<(DefaultEncryption, Vec<String>), S3Error> {
        let bucket = self.authorized_bucket(ctx, "s3:GetEncryptionConfiguration", name)?;
        Ok((bucket.default_encryption(), bucket.blocked_encryption_types))
    }

    /// PutBucketEncryption: the default encryption, and `BlockedEncryptionTypes` when the rule names them (`SSE-C`
    /// blocks SSE-C writes, `NONE` allows them; absent leaves the setting as it was).
    pub fn put_bucket_encryption(
        &self,
        ctx: &RequestContext,
        name: &str,
        encryption: DefaultEncryption,
        blocked: Option<Vec<String>>,
    ) -> Result<(), S3Error> {
        if blocked
            .iter()
            .flatten()
            .any(|t| t != SSE_C_TYPE && t != NO_ENCRYPTION_TYPE)
        {
            return Err(S3Error::MalformedXml);
        }
        match encryption.algorithm.as_str() {
            crate::SSE_S3 if encryption.kms_key_id.is_none() => {}
            crate::SSE_S3 => {
                return Err(S3Error::InvalidArgument(
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
                        .into(),
                ));
            }
            crate::SSE_KMS | crate::SSE_KMS_DSSE => {}
            _ => return Err(S3Error::MalformedXml),
        }
        self.update_bucket(ctx, "s3:PutEncryptionConfiguration", name, |bucket| {
            bucket.encryption = Some(encryption.clone());
            if let Some(blocked) = &blocked {
                bucket.blocked_encryption_types = blocked.iter().filter(|t| *t == SSE_C_TYPE).cloned().collect();
            }
            Ok(())
        })
    }

    /// DeleteBucketEncryption: new objects fall back to SSE-S3, and SSE-C is blocked again, as for a new bucket.
    pub fn delete_bucket_encryption(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutEncryptionConfiguration", name, |bucket| {
            bucket.encryption = None;
            bucket.blocked_encryption_types = sse_c_blocked();
            Ok(())
        })
    }

    pub fn get_bucket_tagging(&self, ctx: &RequestContext, name: &str) -> Result<Vec<(String, String)>, S3Error> {
        let bucket = self.authorized_bucket(ctx, "s3:GetBucketTagging", name)?;
        if bucket.tags.is_empty() {
            return Err(S3Error::NoSuchTagSet { bucket: name.into() });
        }
        Ok(bucket.tags)
    }

    /// PutBucketAccelerateConfiguration: `Enabled` or `Suspended` (suspending a bucket never accelerated leaves it
    /// unset); refused for names with periods, which the accelerated endpoint cannot serve.
    pub fn put_bucket_accelerate(&self, ctx: &RequestContext, name: &str, status: Option<&str>) -> Result<(), S3Error> {
        let status = match status {
            Some(status @ ("Enabled" | "Suspended")) => status,
            _ => return Err(S3Error::MalformedXml),
        };
        self.update_bucket(ctx, "s3:PutAccelerateConfiguration", name, |bucket| {
            if name.contains('.') {
                return Err(S3Error::InvalidRequest(
                    "S3 Transfer Acceleration is not supported for buckets with periods (.) in their names".into(),
                ));
            }
            if bucket.accelerate.is_some() || status == "Enabled" {
                bucket.accelerate = Some(status.to_string());
            }
            Ok(())
        })
    }

    pub fn get_bucket_accelerate(&self, ctx: &RequestContext, name: &str) -> Result<Option<String>, S3Error> {
        Ok(self
            .authorized_bucket(ctx, "s3:GetAccelerateConfiguration", name)?
            .accelerate)
    }

    pub fn put_bucket_tagging(
        &self,
        ctx: &RequestContext,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), S3Error> {
        check_tags(&tags, MAX_TAGS)?;
        if tags.iter().any(|(key, _)| key.starts_with("aws:")) {
            return Err(S3Error::InvalidTag(
                "System tags cannot be added/updated by requester".into(),
            ));
        }
        self.update_bucket(ctx, "s3:PutBucketTagging", name, |bucket| {
            bucket.tags.clone_from(&tags);
            Ok(())
        })
    }

    pub fn delete_bucket_tagging(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketTagging", name, |bucket| {
            bucket.tags.clear();
            Ok(())
        })
    }

    /// PutBucketPolicy: a resource policy naming principals, S3 actions and this bucket's resources. Refused when Block
    /// Public Access blocks public policies and this one is public. The bucket owner's root user may always manage
    /// the policy, so a policy cannot lock the account out of its own bucket.
    pub fn put_bucket_policy(&self, ctx: &RequestContext, name: &str, policy: &str) -> Result<(), S3Error> {
        self.policy_admin(ctx, "s3:PutBucketPolicy", name)?;
        let document = parse_bucket_policy(name, policy)?;
        let bucket = self
            .bucket(name)?
            .ok_or_else(|| S3Error::NoSuchBucket { bucket: name.into() })?;
        if bucket.public_access_block.is_some_and(|b| b.block_public_policy) && document.grants_public_access() {
            return Err(S3Error::AccessDenied(
                "User is not authorized to perform this action because public policies are blocked by the BlockPublicPolicy block public access setting."
                    .into(),
            ));
        }
        self.change_bucket(name, |bucket| {
            bucket.policy = Some(policy.to_string());
            Ok(())
        })
    }

    pub fn get_bucket_policy(&self, ctx: &RequestContext, name: &str) -> Result<String, S3Error> {
        self.policy_admin(ctx, "s3:GetBucketPolicy", name)?
            .policy
            .ok_or_else(|| S3Error::NoSuchBucketPolicy { bucket: name.into() })
    }

    pub fn delete_bucket_policy(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.policy_admin(ctx, "s3:DeleteBucketPolicy", name)?;
        self.change_bucket(name, |bucket| {
            bucket.policy = None;
            Ok(())
        })
    }

    /// GetBucketPolicyStatus: whether the bucket policy makes the bucket public.
    pub fn get_bucket_policy_status(&self, ctx: &RequestContext, name: &str) -> Result<bool, S3Error> {
        let bucket = self.authorized_bucket(ctx, "s3:GetBucketPolicyStatus", name)?;
        let policy = bucket
            .policy
            .as_deref()
            .ok_or_else(|| S3Error::NoSuchBucketPolicy { bucket: name.into() })?;
        Ok(parse_bucket_policy(name, policy)?.grants_public_access())
    }

    pub fn get_public_access_block(&self, ctx: &RequestContext, name: &str) -> Result<PublicAccessBlock, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketPublicAccessBlock", name)?
            .public_access_block
            .ok_or(S3Error::NoSuchPublicAccessBlockConfiguration)
    }

    pub fn put_public_access_block(
        &self,
        ctx: &RequestContext,
        name: &str,
        block: PublicAccessBlock,
    ) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketPublicAccessBlock", name, |bucket| {
            bucket.public_access_block = Some(block);
            Ok(())
        })
    }

    pub fn delete_public_access_block(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketPublicAccessBlock", name, |bucket| {
            bucket.public_access_block = None;
            Ok(())
        })
    }

    pub fn get_ownership_controls(&self, ctx: &RequestContext, name: &str) -> Result<String, S3Error> {
        self.authorized_bucket(ctx, "s3:GetBucketOwnershipControls", name)?
            .object_ownership
            .ok_or_else(|| S3Error::OwnershipControlsNotFound { bucket: name.into() })
    }

    pub fn put_ownership_controls(&self, ctx: &RequestContext, name: &str, ownership: &str) -> Result<(), S3Error> {
        if !OWNERSHIPS.contains(&ownership) {
            return Err(S3Error::MalformedXml);
        }
        self.update_bucket(ctx, "s3:PutBucketOwnershipControls", name, |bucket| {
            bucket.object_ownership = Some(ownership.to_string());
            Ok(())
        })
    }

    pub fn delete_ownership_controls(&self, ctx: &RequestContext, name: &str) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketOwnershipControls", name, |bucket| {
            bucket.object_ownership = None;
            Ok(())
        })
    }

    /// GetBucketNotificationConfiguration: whether the bucket sends its events to EventBridge.
    pub fn get_event_bridge(&self, ctx: &RequestContext, name: &str) -> Result<bool, S3Error> {
        Ok(self
            .authorized_bucket(ctx, "s3:GetBucketNotification", name)?
            .event_bridge)
    }

    /// PutBucketNotificationConfiguration: EventBridge on or off. `destinations` are the SNS topics, SQS queues and
    /// Lambda functions the configuration names; this server runs none of those services, so S3's answer for a
    /// destination it cannot validate is given and nothing changes.
    pub fn put_notification_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        event_bridge: bool,
        destinations: &[String],
    ) -> Result<(), S3Error> {
        self.update_bucket(ctx, "s3:PutBucketNotification", name, |bucket| {
            if let Some(destination) = destinations.first() {
                return Err(S3Error::InvalidArgument(format!(
                    "Unable to validate the following destination configurations: {destination}"
                )));
            }
            bucket.event_bridge = event_bridge;
            Ok(())
        })
    }

    /// GetBucketAcl: with ACLs disabled (BucketOwnerEnforced), the owner has full control and nobody else anything;
    /// answers the owner's canonical id.
    pub fn get_bucket_acl(&self, ctx: &RequestContext, name: &str) -> Result<String, S3Error> {
        Ok(self.authorized_bucket(ctx, "s3:GetBucketAcl", name)?.account)
    }

    /// PutBucketAcl: only an ACL that keeps the owner's full control and grants nothing else, which changes nothing.
    pub fn put_bucket_acl(&self, ctx: &RequestContext, name: &str, acl: &AclWrite) -> Result<(), S3Error> {
        let bucket = self.authorized_bucket(ctx, "s3:PutBucketAcl", name)?;
        acl.check(&bucket.account)
    }

    /// Authorises managing a bucket's policy: only callers of the owner's account (S3 answers others
    /// MethodNotAllowed), and the owner's root user whatever the policy says.
    fn policy_admin(&self, ctx: &RequestContext, action: &str, name: &str) -> Result<BucketRecord, S3Error> {
        let bucket = self.bucket(name)?;
        let owner_root = bucket.as_ref().is_some_and(|b| {
            b.account == ctx.account_id() && ctx.principal.kind == keyhaven_kernel::context::PrincipalKind::Root
        });
        if !owner_root {
            self.authorize(ctx, action, name, None, bucket.as_ref(), &[])?;
        }
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket { bucket: name.into() })?;
        if bucket.account != ctx.account_id() {
            return Err(S3Error::MethodNotAllowed);
        }
        Ok(bucket)
    }

    /// Authorises `action` on a bucket and changes its record in one transaction.
    pub(crate) fn update_bucket(
        &self,
        ctx: &RequestContext,
        action: &str,
        name: &str,
        change: impl FnMut(&mut BucketRecord) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        self.authorized_bucket(ctx, action, name)?;
        self.change_bucket(name, change)
    }

    /// Changes a bucket's record in one transaction.
    fn change_bucket(
        &self,
        name: &str,
        mut change: impl FnMut(&mut BucketRecord) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        self.change_bucket_reading(name, |_, bucket| change(bucket))
    }

    /// Changes a bucket's record in one transaction, in which the change may read other buckets' records.
    pub(crate) fn change_bucket_reading(
        &self,
        name: &str,
        mut change: impl FnMut(&mut dyn Transaction, &mut BucketRecord) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        transact(&*self.store, |tx| {
            let mut bucket = records::get::<BucketRecord>(tx, BUCKETS_SCOPE, name)?
                .ok_or_else(|| S3Error::NoSuchBucket { bucket: name.into() })?;
            change(tx, &mut bucket)?;
            records::put(tx, BUCKETS_SCOPE, name, &bucket)?;
            Ok(())
        })
    }

    /// Another bucket's record, read in the transaction `tx`.
    pub(crate) fn bucket_in(tx: &mut dyn Transaction, name: &str) -> Result<Option<BucketRecord>, S3Error> {
        Ok(records::get::<BucketRecord>(tx, BUCKETS_SCOPE, name)?)
    }

    pub(crate) fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, S3Error> {
        read(&*self.store, |tx| {
            Ok(records::get::<BucketRecord>(tx, BUCKETS_SCOPE, name)?)
        })
    }
}

/// An ACL a request sets: a canned ACL (`x-amz-acl`), `x-amz-grant-*` headers, or an `AccessControlPolicy`'s grants as
/// (grantee id or URI, permission).
#[derive(Debug, Clone, Default)]
pub struct AclWrite {
    pub canned: Option<String>,
    pub grant_headers: bool,
    pub grants: Vec<(String, String)>,
}

impl AclWrite {
    /// ACLs are disabled (every bucket is BucketOwnerEnforced as far as access goes): an ACL is taken only when it
    /// leaves the owner with full control and grants nobody else anything, as S3 takes it then.
    pub fn check(&self, owner: &str) -> Result<(), S3Error> {
        let canned_ok = self
            .canned
            .as_deref()
            .is_none_or(|c| c == "private" || c == "bucket-owner-full-control");
        let grants_ok = self
            .grants
            .iter()
            .all(|(grantee, permission)| grantee == owner && permission == "FULL_CONTROL");
        if canned_ok && grants_ok && !self.grant_headers {
            Ok(())
        } else {
            Err(S3Error::AccessControlListNotSupported)
        }
    }
}

/// A bucket policy as S3 takes it: a resource policy (principals required) whose actions are S3's and whose
/// resources are this bucket or its objects.
pub(crate) fn parse_bucket_policy(bucket: &str, policy: &str) -> Result<PolicyDocument, S3Error> {
    if !policy.trim_start().starts_with('{') {
        return Err(S3Error::MalformedPolicy(
            "Policies must be valid JSON and the first byte must be '{'".into(),
        ));
    }
    let document =
        PolicyDocument::parse_as(policy, PolicyKind::Resource).map_err(|e| S3Error::MalformedPolicy(e.to_string()))?;
    if document.statements().is_empty() {
        return Err(S3Error::MalformedPolicy(
            "Could not parse the policy: Statement is empty!".into(),
        ));
    }
    // What S3 adds to the policy grammar: its own actions, and resources of this bucket only.
    let arn = bucket_arn(bucket);
    let value: serde_json::Value = serde_json::from_str(policy).map_err(|_| S3Error::MalformedXml)?;
    let statements = match &value["Statement"] {
        serde_json::Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let names = |element: &serde_json::Value| -> Vec<String> {
        match element {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    for statement in statements {
        let actions = [names(&statement["Action"]), names(&statement["NotAction"])].concat();
        if !actions
            .iter()
            .all(|a| a == "*" || a.to_ascii_lowercase().starts_with("s3:"))
        {
            return Err(S3Error::MalformedPolicy("Policy has invalid action".into()));
        }
        let resources = [names(&statement["Resource"]), names(&statement["NotResource"])].concat();
        let in_bucket = |r: &String| {
            r == &arn
                || r.starts_with(&format!("{arn}/"))
                || (r.ends_with('*') && arn.starts_with(r.trim_end_matches('*')))
        };
        if !resources.iter().all(in_bucket) {
            return Err(S3Error::MalformedPolicy("Policy has invalid resource".into()));
        }
    }
    Ok(document)
}

/// S3's tag rules: at most `max` (50 on a bucket, 10 on an object), keys 1–128 and values 0–256 characters, keys
/// unique.
pub(crate) fn check_tags(tags: &[(String, String)], max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(S3Error::InvalidTag(format!(
            "Bucket tag count cannot be greater than {max}"
        )));
    }
    check_tag_members(tags)
}

/// Whether some key appears twice among `tags`.
pub(crate) fn has_duplicate_keys(tags: &[(String, String)]) -> bool {
    (0..tags.len()).any(|i| key_seen_before(tags, i))
}

/// Whether the key of `tags[i]` appears earlier in `tags`.
fn key_seen_before(tags: &[(String, String)], i: usize) -> bool {
    tags[..i].iter().any(|(k, _)| *k == tags[i].0)
}

/// Each tag's key and value within S3's limits, and no key twice (InvalidTag, as S3 answers each).
pub(crate) fn check_tag_members(tags: &[(String, String)]) -> Result<(), S3Error> {
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(S3Error::InvalidTag("The TagKey you have provided is invalid".into()));
        }
        if value.chars().count() > 256 {
            return Err(S3Error::InvalidTag("The TagValue you have provided is invalid".into()));
        }
        if key_seen_before(tags, i) {
            return Err(S3Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}
