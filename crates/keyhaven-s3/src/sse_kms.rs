//! SSE-KMS: an object body's data key from KMS, asked on the caller's behalf through the kernel's `KeyService`
//! (`kms:ViaService = s3.<region>.amazonaws.com`, encryption context `aws:s3:arn` = the object's ARN plus what the
//! request adds), its KMS ciphertext kept in the object's record and opened by KMS on every read.
//!
//! With an S3 Bucket Key, KMS is asked once for a bucket-level key (context `aws:s3:arn` = the bucket's ARN), kept
//! wrapped in the bucket's record set and reused for new objects for [`BUCKET_KEY_LIFETIME_SECONDS`]; each body's key
//! derives from it with the body's own salt and identity. Plaintext bucket keys are cached per caller (so every
//! caller is authorised by KMS once per lifetime) and never stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::EncryptionContext;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::{KmsFailure, OnBehalf};
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::buckets::{BucketRecord, bucket_arn};
use crate::data_key::DataKey;
use crate::error::{read, transact};
use crate::{S3, S3Error};

const RECORD_VERSION: u32 = 1;
/// How long a bucket key serves new objects, and how long an opened one is cached for a caller.
pub const BUCKET_KEY_LIFETIME_SECONDS: i64 = 300;
/// The service principal S3 calls KMS as.
const S3_SERVICE: &str = "s3.amazonaws.com";
/// The encryption context key S3 binds data keys to.
const ARN_CONTEXT_KEY: &str = "aws:s3:arn";
/// What S3 answers an SSE-KMS request signed with Signature Version 2.
const NEEDS_SIGV4: &str =
    "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";
const BAD_CONTEXT: &str = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";

/// What a request asks of SSE-KMS (its `x-amz-server-side-encryption-aws-kms-key-id`, `-context` and
/// `-bucket-key-enabled` headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsRequest {
    pub key_id: Option<String>,
    /// Base64 of a JSON string map, as sent.
    pub context: Option<String>,
    pub bucket_key: Option<bool>,
}

/// How a body's data key is kept under KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KmsKeyRecord {
    pub(crate) key_arn: String,
    /// The KMS ciphertext of the body's own data key (base64); absent with a bucket key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<String>,
    /// The bucket key the body's key derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bucket_key: Option<String>,
    /// The context the request added (echoed on reads), beside `aws:s3:arn`.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub(crate) context: EncryptionContext,
    /// DSSE-KMS: the body has a second layer, under a data key S3 keeps sealed in the body's record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) dual_layer: bool,
}

impl KmsKeyRecord {
    /// `aws:kms` or `aws:kms:dsse`, as `x-amz-server-side-encryption` answers it.
    pub(crate) fn algorithm(&self) -> &'static str {
        if self.dual_layer {
            crate::SSE_KMS_DSSE
        } else {
            crate::SSE_KMS
        }
    }

    /// The context as the request sent it: base64 of its JSON.
    pub(crate) fn context_header(&self) -> Option<String> {
        (!self.context.is_empty())
            .then(|| serde_json::to_string(&self.context).ok())
            .flatten()
            .map(|json| STANDARD.encode(json))
    }
}

/// A bucket key, kept wrapped by KMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BucketKeyRecord {
    v: u32,
    key_arn: String,
    wrapped: String,
    /// Unix seconds.
    created: i64,
}

keyhaven_kernel::versioned_record!(BucketKeyRecord, "s3-bucket-key", RECORD_VERSION);

/// Opened bucket keys: the one serving new objects per (bucket, KMS key, caller), and opened ones per (bucket key,
/// caller), each until its expiry (unix seconds).
#[derive(Default)]
pub(crate) struct BucketKeyCache {
    current: Mutex<CurrentBucketKeys>,
    opened: Mutex<OpenedBucketKeys>,
}

/// (bucket, KMS key, caller) → (bucket key id, the key, expiry).
type CurrentBucketKeys = HashMap<(String, String, String), (String, Arc<DataKey>, i64)>;
/// (bucket key id, caller) → (the key, expiry).
type OpenedBucketKeys = HashMap<(String, String), (Arc<DataKey>, i64)>;

impl std::fmt::Debug for BucketKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketKeyCache").finish_non_exhaustive()
    }
}

/// A data key for a new body and how its record keeps it.
pub(crate) struct KmsDataKey {
    pub(crate) key: Arc<DataKey>,
    pub(crate) record: KmsKeyRecord,
}

impl S3 {
    /// Removes a deleted bucket's bucket keys inside `tx`.
    pub(crate) fn remove_bucket_keys(tx: &mut dyn Transaction, bucket: &str) -> Result<(), S3Error> {
        for (id, _) in records::all::<BucketKeyRecord>(tx, bucket)? {
            records::delete::<BucketKeyRecord>(tx, bucket, &id)?;
        }
        Ok(())
    }

    /// Forgets the bucket keys a deleted bucket's new objects were taking, so a bucket created again under its name
    /// starts its own.
    pub(crate) fn forget_bucket_keys(&self, bucket: &str) -> Result<(), S3Error> {
        lock(&self.bucket_keys.current)?.retain(|(name, _, _), _| name != bucket);
        Ok(())
    }

    /// A data key for a new body of `object_key` in `bucket` under the KMS key the request (or the bucket's default,
    /// or `aws/s3`) names. A DSSE-KMS body (`dual_layer`) never takes a bucket key, which S3 does not offer for it.
    pub(crate) fn kms_data_key(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        object_key: &str,
        request: &KmsRequest,
        dual_layer: bool,
    ) -> Result<KmsDataKey, S3Error> {
        needs_sigv4(ctx)?;
        let default = bucket.default_encryption();
        let key_id = match request.key_id.clone().or(default.kms_key_id) {
            Some(key_id) => key_id,
            None => {
                self.kms.ensure_aws_managed_key(ctx, "s3").map_err(kms_error)?;
                format!("arn:aws:kms:{}:{}:alias/aws/s3", ctx.region, ctx.account_id())
            }
        };
        let added = match &request.context {
            Some(encoded) => decode_context(encoded)?,
            None => EncryptionContext::new(),
        };
        let use_bucket_key = !dual_layer && request.bucket_key.unwrap_or(default.bucket_key_enabled);
        let on_behalf = OnBehalf {
            kms: &*self.kms,
            ctx,
            service: S3_SERVICE,
        };
        if use_bucket_key {
            let (id, key_arn, key) = self.current_bucket_key(&on_behalf, bucket, &key_id)?;
            return Ok(KmsDataKey {
                key,
                record: KmsKeyRecord {
                    key_arn,
                    wrapped: None,
                    bucket_key: Some(id),
                    context: added,
                    dual_layer,
                },
            });
        }
        let mut context = added.clone();
        context.insert(
            ARN_CONTEXT_KEY.into(),
            format!("{}/{object_key}", bucket_arn(&bucket.name)),
        );
        let (plaintext, encrypted) = on_behalf
            .kms
            .generate_data_key(&ctx.through(S3_SERVICE), &key_id, &context)
            .map_err(kms_error)?;
        Ok(KmsDataKey {
            key: Arc::new(DataKey::from_kms(plaintext)?),
            record: KmsKeyRecord {
                key_arn: encrypted.key_arn,
                wrapped: Some(STANDARD.encode(&encrypted.ciphertext)),
                bucket_key: None,
                context: added,
                dual_layer,
            },
        })
    }

    /// Opens a body's data key: KMS decrypts it (or the bucket key it derives from) as the caller, through S3.
    pub(crate) fn kms_open(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        object_key: &str,
        record: &KmsKeyRecord,
    ) -> Result<Arc<DataKey>, S3Error> {
        needs_sigv4(ctx)?;
        let on_behalf = OnBehalf {
            kms: &*self.kms,
            ctx,
            service: S3_SERVICE,
        };
        if let Some(id) = &record.bucket_key {
            return self.opened_bucket_key(&on_behalf, bucket, id);
        }
        let wrapped = record
            .wrapped
            .as_deref()
            .and_then(|w| STANDARD.decode(w).ok())
            .ok_or_else(|| S3Error::Internal("an SSE-KMS record without its data key".into()))?;
        let mut context = record.context.clone();
        context.insert(ARN_CONTEXT_KEY.into(), format!("{}/{object_key}", bucket_arn(bucket)));
        let decrypted = on_behalf.decrypt(&wrapped, &context).map_err(kms_error)?;
        Ok(Arc::new(DataKey::from_kms(decrypted.plaintext)?))
    }

    /// The bucket key serving new objects of `bucket` under `key_id` for this caller: the cached one while it lasts,
    /// else a fresh one from KMS, recorded wrapped.
    fn current_bucket_key(
        &self,
        on_behalf: &OnBehalf<'_>,
        bucket: &BucketRecord,
        key_id: &str,
    ) -> Result<(String, String, Arc<DataKey>), S3Error> {
        let now = self.clock.now().unix_timestamp();
        let slot = (
            bucket.name.clone(),
            key_id.to_string(),
            on_behalf.ctx.principal.arn.clone(),
        );
        let cache = &self.bucket_keys;
        if let Some((id, key, expires)) = lock(&cache.current)?.get(&slot)
            && *expires > now
            && let Some(record) = self.bucket_key_record(&bucket.name, id)?
        {
            return Ok((id.clone(), record.key_arn, key.clone()));
        }
        let context = bucket_context(&bucket.name);
        let (plaintext, encrypted) = on_behalf
            .kms
            .generate_data_key(&on_behalf.ctx.through(S3_SERVICE), key_id, &context)
            .map_err(kms_error)?;
        let key = Arc::new(DataKey::from_kms(plaintext)?);
        let id = keyhaven_kernel::ids::unique_id("", 32)?;
        let record = BucketKeyRecord {
            v: RECORD_VERSION,
            key_arn: encrypted.key_arn.clone(),
            wrapped: STANDARD.encode(&encrypted.ciphertext),
            created: now,
        };
        transact(&*self.store, |tx| Ok(records::put(tx, &bucket.name, &id, &record)?))?;
        let expires = now + BUCKET_KEY_LIFETIME_SECONDS;
        lock(&cache.current)?.insert(slot, (id.clone(), key.clone(), expires));
        lock(&cache.opened)?.insert(
            (id.clone(), on_behalf.ctx.principal.arn.clone()),
            (key.clone(), expires),
        );
        Ok((id, encrypted.key_arn, key))
    }

    /// A bucket key opened for this caller: cached while it lasts, else decrypted by KMS.
    fn opened_bucket_key(&self, on_behalf: &OnBehalf<'_>, bucket: &str, id: &str) -> Result<Arc<DataKey>, S3Error> {
        let now = self.clock.now().unix_timestamp();
        let slot = (id.to_string(), on_behalf.ctx.principal.arn.clone());
        if let Some((key, expires)) = lock(&self.bucket_keys.opened)?.get(&slot)
            && *expires > now
        {
            return Ok(key.clone());
        }
        let record = self
            .bucket_key_record(bucket, id)?
            .ok_or_else(|| S3Error::Internal(format!("bucket key {id} of {bucket} is missing")))?;
        let wrapped = STANDARD
            .decode(&record.wrapped)
            .map_err(|_| S3Error::Internal("a bucket key is not base64".into()))?;
        let decrypted = on_behalf
            .decrypt(&wrapped, &bucket_context(bucket))
            .map_err(kms_error)?;
        let key = Arc::new(DataKey::from_kms(decrypted.plaintext)?);
        lock(&self.bucket_keys.opened)?.insert(slot, (key.clone(), now + BUCKET_KEY_LIFETIME_SECONDS));
        Ok(key)
    }

    fn bucket_key_record(&self, bucket: &str, id: &str) -> Result<Option<BucketKeyRecord>, S3Error> {
        read(&*self.store, |tx| Ok(records::get::<BucketKeyRecord>(tx, bucket, id)?))
    }
}

/// S3 takes SSE-KMS only from requests signed with Signature Version 4.
fn needs_sigv4(ctx: &RequestContext) -> Result<(), S3Error> {
    match ctx.signature_v2 {
        true => Err(S3Error::InvalidArgument(NEEDS_SIGV4.into())),
        false => Ok(()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, S3Error> {
    mutex.lock().map_err(|_| S3Error::Internal("bucket key cache".into()))
}

fn bucket_context(bucket: &str) -> EncryptionContext {
    EncryptionContext::from([(ARN_CONTEXT_KEY.to_string(), bucket_arn(bucket))])
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
fn decode_context(encoded: &str) -> Result<EncryptionContext, S3Error> {
    STANDARD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice::<EncryptionContext>(&json).ok())
        .ok_or_else(|| S3Error::InvalidArgument(BAD_CONTEXT.into()))
}

/// KMS's failures as S3 answers them: KMS's own codes under `KMS.`, AccessDenied as S3's.
pub(crate) fn kms_error(failure: KmsFailure) -> S3Error {
    match failure {
        KmsFailure::NotFound(message) => S3Error::Kms {
            code: "KMS.NotFoundException",
            message,
        },
        KmsFailure::Disabled(message) => S3Error::Kms {
            code: "KMS.DisabledException",
            message,
        },
        KmsFailure::Unusable(message) => S3Error::Kms {
            code: "KMS.KMSInvalidStateException",
            message,
        },
        KmsFailure::AccessDenied(message) => S3Error::AccessDenied(message),
        KmsFailure::InvalidCiphertext => S3Error::Internal("KMS refused a stored data key".into()),
        KmsFailure::Internal(detail) => S3Error::Internal(detail),
        KmsFailure::Unavailable => S3Error::Unavailable,
    }
}
