//! Amazon S3 on the kernel: buckets (`buckets`), objects (`objects`), their versions (`versions`) and multipart
//! uploads (`multipart`), their change events (`notifications`), every object body sealed chunk by chunk into a
//! blob (`body`, `object`) under a data key that SSE-S3's service key (`service_key`) or the SSE-C customer's key
//! (`sse_c`) keeps sealed, or KMS keeps wrapped (`sse_kms`, with S3 Bucket Keys), with the checksums S3 offers (`checksum`), its ETag (`etag`) and its bucket name rules
//! (`names`). Every operation is authorised here, where the bucket is read.

pub mod body;
pub mod buckets;
pub mod checksum;
pub mod configurations;
pub mod cors;
pub mod data_key;
pub mod error;
pub mod etag;
pub mod lifecycle;
pub mod multipart;
pub mod names;
pub mod notifications;
pub mod object;
pub mod object_lock;
pub mod objects;
pub mod post_policy;
pub mod service_key;
pub mod service_writes;
pub mod sse_c;
pub mod sse_kms;
pub mod storage_class;
pub mod subresources;
pub mod versions;
pub mod website;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyhaven_crypto::RootKey;
use keyhaven_crypto::sealing::SealingKey;
use keyhaven_kernel::authz::{Access, Authorizer, Resource, ResourcePolicy};
use keyhaven_kernel::clock::Clock;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::events::Events;
use keyhaven_kernel::on_behalf::KeyService;
use keyhaven_policy::{PolicyDocument, ResourceRules};
use keyhaven_store::{Backend, BlobStore};

pub use error::S3Error;

use crate::buckets::{BucketRecord, bucket_arn};

/// `x-amz-server-side-encryption` values.
pub const SSE_S3: &str = "AES256";
pub const SSE_KMS: &str = "aws:kms";
pub const SSE_KMS_DSSE: &str = "aws:kms:dsse";

/// The action a request on an object is authorised as: with a version id, its `…ObjectVersion…` form where the
/// Service Authorization Reference defines one (`s3:GetObject` → `s3:GetObjectVersion`, `s3:PutObjectTagging` →
/// `s3:PutObjectVersionTagging`), else the action itself (`s3:RestoreObject`, `s3:PutObjectRetention`).
pub fn object_action(action: &str, version_id: Option<&str>) -> String {
    version_id
        .map(|_| action.replacen("Object", "ObjectVersion", 1))
        .filter(|versioned| keyhaven_kernel::authz::table::action(versioned).is_some())
        .unwrap_or_else(|| action.to_string())
}

/// One page of a listing: after which name, and how many at most.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// The S3 service.
pub struct S3 {
    store: Arc<dyn Backend>,
    blobs: Arc<dyn BlobStore>,
    root: Arc<RootKey>,
    clock: Arc<dyn Clock>,
    authz: Arc<Authorizer>,
    kms: Arc<dyn KeyService>,
    events: Events,
    bucket_keys: sse_kms::BucketKeyCache,
    /// The last version sequence handed out (see `next_sequence`).
    sequence: std::sync::atomic::AtomicU64,
    /// Parsed bucket policies by bucket, with the text they were parsed from.
    policies: Mutex<HashMap<String, (String, Arc<PolicyDocument>)>>,
    /// SSE-S3 service keys by scope, opened once: each open is a root-key unseal.
    service_keys: Mutex<HashMap<String, Arc<SealingKey>>>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3").finish_non_exhaustive()
    }
}

impl S3 {
    pub fn new(
        store: Arc<dyn Backend>,
        blobs: Arc<dyn BlobStore>,
        root: Arc<RootKey>,
        clock: Arc<dyn Clock>,
        authz: Arc<Authorizer>,
        kms: Arc<dyn KeyService>,
        events: Events,
    ) -> Self {
        Self {
            store,
            blobs,
            root,
            clock,
            authz,
            kms,
            events,
            bucket_keys: sse_kms::BucketKeyCache::default(),
            policies: Mutex::new(HashMap::new()),
            sequence: std::sync::atomic::AtomicU64::new(0),
            service_keys: Mutex::new(HashMap::new()),
        }
    }

    /// A version sequence: the clock in microseconds, or one more than the last handed out when the clock has not
    /// moved on, so versions written in one process order as they were written.
    fn next_sequence(&self) -> u64 {
        let now = u64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000).unwrap_or(0);
        let previous = self
            .sequence
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |last| Some(now.max(last + 1)),
            )
            .unwrap_or(now);
        now.max(previous + 1)
    }

    fn now_millis(&self) -> i64 {
        keyhaven_kernel::clock::epoch_millis(self.clock.now())
    }

    /// Authorises `action` on the bucket `bucket` (or its object `key`), on the bucket's owner's behalf when it exists
    /// and on the caller's account otherwise. Request condition keys come in `keys`.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        bucket: &str,
        key: Option<&str>,
        record: Option<&BucketRecord>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), S3Error> {
        let arn = match key {
            Some(key) => format!("{}/{key}", bucket_arn(bucket)),
            None => bucket_arn(bucket),
        };
        let account = record.map_or_else(|| ctx.account_id(), |b| b.account.as_str());
        let document = match record {
            Some(bucket) => self.bucket_policy(bucket)?,
            None => None,
        };
        // Block Public Access's RestrictPublicBuckets: a public policy reaches only the owner's own account.
        let restricted = record.is_some_and(|b| {
            b.public_access_block.is_some_and(|block| block.restrict_public_buckets) && ctx.account_id() != b.account
        });
        let bucket_resource = bucket_arn(bucket);
        let policy = document
            .as_deref()
            .filter(|d| !(restricted && d.grants_public_access()))
            .map(|document| ResourcePolicy {
                id: &bucket_resource,
                document,
                rules: ResourceRules::Standard,
            });
        let resource = [Resource {
            policy,
            ..Resource::new(&arn, account)
        }];
        self.authz.check(
            ctx,
            &Access {
                action,
                resources: &resource,
                keys,
            },
        )?;
        Ok(())
    }

    /// A bucket's policy, parsed once per text.
    fn bucket_policy(&self, bucket: &BucketRecord) -> Result<Option<Arc<PolicyDocument>>, S3Error> {
        let Some(text) = &bucket.policy else {
            return Ok(None);
        };
        let mut cache = self
            .policies
            .lock()
            .map_err(|_| S3Error::Internal("bucket policy cache".into()))?;
        if let Some((cached_text, document)) = cache.get(&bucket.name)
            && cached_text == text
        {
            return Ok(Some(document.clone()));
        }
        let document = Arc::new(buckets::parse_bucket_policy(&bucket.name, text)?);
        cache.insert(bucket.name.clone(), (text.clone(), document.clone()));
        Ok(Some(document))
    }

    /// The bucket `name` once `action` is authorised on it: AccessDenied before NoSuchBucket, so that a caller without
    /// access learns nothing of which buckets exist.
    fn authorized_bucket(&self, ctx: &RequestContext, action: &str, name: &str) -> Result<BucketRecord, S3Error> {
        let record = self.bucket(name)?;
        self.authorize(ctx, action, name, None, record.as_ref(), &[])?;
        record.ok_or_else(|| S3Error::NoSuchBucket { bucket: name.into() })
    }

    /// The SSE-S3 service key of the bucket's owner and Region.
    fn service_key(&self, bucket: &BucketRecord) -> Result<Arc<SealingKey>, S3Error> {
        let scope = keyhaven_kernel::context::regional_scope(&bucket.account, &bucket.region);
        let mut keys = self
            .service_keys
            .lock()
            .map_err(|_| S3Error::Internal("service key cache".into()))?;
        if let Some(key) = keys.get(&scope) {
            return Ok(key.clone());
        }
        let key = Arc::new(service_key::service_key(&*self.store, &self.root, &scope)?);
        keys.insert(scope, key.clone());
        Ok(key)
    }
}

impl S3 {
    /// Removes the blobs no record names: bodies a crash left committed before their record was (or after the
    /// record that replaced them). Run at start, before serving. With other nodes writing to the same blob store,
    /// a blob committed less than `grace` ago may be one whose record another node is about to commit, and stays.
    /// Answers how many went.
    pub fn sweep_orphan_blobs(&self, grace: std::time::Duration) -> Result<usize, S3Error> {
        let referenced = error::read(&*self.store, |tx| {
            let mut referenced = std::collections::HashSet::new();
            for (bucket, _) in keyhaven_kernel::records::all::<BucketRecord>(tx, buckets::BUCKETS_SCOPE)? {
                for (_, object) in keyhaven_kernel::records::all::<objects::ObjectRecord>(tx, &bucket)? {
                    referenced.extend(object.parts.into_iter().map(|p| p.blob_id));
                }
                for version in S3::all_noncurrent(tx, &bucket)? {
                    referenced.extend(version.parts.into_iter().map(|p| p.blob_id));
                }
                for (upload_id, _) in keyhaven_kernel::records::all::<multipart::UploadRecord>(tx, &bucket)? {
                    let scope = multipart::parts_scope(&bucket, &upload_id);
                    for (_, part) in keyhaven_kernel::records::all::<multipart::PartRecord>(tx, &scope)? {
                        referenced.insert(part.body.blob_id);
                    }
                }
            }
            Ok(referenced)
        })?;
        let mut removed = 0;
        for id in self.blobs.ids()? {
            if referenced.contains(&id) {
                continue;
            }
            let settled = grace.is_zero()
                || self
                    .blobs
                    .committed_at(&id)?
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|age| age >= grace);
            if settled {
                self.blobs.delete(&id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
