//! Objects: their records and the object operations. A PUT streams the body into a new blob under the object's
//! encryption, then commits the record that names the blob (so a crash leaves either the old object or the new one,
//! and at worst an orphan blob for the start-up sweep); a GET opens only the chunks its range touches.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::chunked::{ChunkKey, SALT_LEN};
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::BlobReader;
use serde::{Deserialize, Serialize};

use crate::buckets::BucketRecord;
use crate::checksum::ChecksumAlgorithm;
use crate::error::{read, transact};
use crate::notifications::Change;
use crate::object::{BodyWriter, Protection, StoredBody, body_key};
use crate::object_lock::{LockRequest, Retention, check_deletable};
use crate::sse_c::{CustomerKey, FINGERPRINT_SALT_LEN};
use crate::sse_kms::{KmsKeyRecord, KmsRequest};
use crate::versions::{self, Deleted};
use crate::{S3, S3Error, object_action};

const RECORD_VERSION: u32 = 1;
/// S3's longest key, in UTF-8 bytes.
const MAX_KEY_BYTES: usize = 1024;
/// S3's largest single PUT: 5 GiB.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// What S3 answers an SSE-C request over plain HTTP.
const SSE_C_NEEDS_TLS: &str =
    "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.";
/// The checksum type of an object uploaded whole.
const FULL_OBJECT: &str = "FULL_OBJECT";
/// Listing page size when the request names none, and the most a page holds.
pub const MAX_KEYS: usize = 1000;

/// What S3 stores with an object besides its body: the representation headers it returns on GET and HEAD, user
/// metadata and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*`, keyed by the rest of the lowercased header name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The object's tags (`x-amz-tagging`, PutObjectTagging), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// `x-amz-storage-class` as the write named it (absent: STANDARD); a copy takes the one its request names, never
    /// its source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// `x-amz-website-redirect-location`: `/`, `http://` or `https://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    /// Object Lock: the version's retention, settled when it is written (`object_lock::settle_lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object Lock: the version's legal hold, `ON` (true) or `OFF`, once one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

impl ObjectHeaders {
    pub fn storage_class(&self) -> &str {
        self.storage_class.as_deref().unwrap_or(crate::storage_class::STANDARD)
    }

    /// Refuses a website redirect location S3 would refuse.
    pub fn check(&self) -> Result<(), S3Error> {
        match &self.website_redirect_location {
            Some(location)
                if !["/", "http://", "https://"]
                    .iter()
                    .any(|prefix| location.starts_with(prefix)) =>
            {
                Err(S3Error::InvalidRedirectLocation)
            }
            _ => Ok(()),
        }
    }
}

/// What SSE-C keeps of a body's customer key: a salted HMAC to recognise it, and its MD5 as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CustomerKeyRecord {
    salt: String,
    fingerprint: String,
    pub(crate) key_md5: String,
}

/// One sealed blob of an object's body: the whole body of a single PUT, or one part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BodyPart {
    pub(crate) blob_id: String,
    pub(crate) size: u64,
    /// Hex.
    salt: String,
    /// Base64.
    sealed_data_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) customer_key: Option<CustomerKeyRecord>,
    /// SSE-KMS: how KMS keeps the body's data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kms: Option<KmsKeyRecord>,
}

impl BodyPart {
    fn new(body: &StoredBody, key_md5: Option<&str>, kms: Option<KmsKeyRecord>) -> Self {
        Self {
            kms,
            blob_id: body.blob_id.clone(),
            size: body.len,
            salt: hex::encode(body.salt),
            sealed_data_key: STANDARD.encode(&body.sealed_data_key),
            customer_key: match (&body.customer_key, key_md5) {
                (Some((salt, fingerprint)), Some(key_md5)) => Some(CustomerKeyRecord {
                    salt: hex::encode(salt),
                    fingerprint: hex::encode(fingerprint),
                    key_md5: key_md5.to_string(),
                }),
                _ => None,
            },
        }
    }

    fn stored_body(&self) -> Result<StoredBody, S3Error> {
        let corrupt = |what: &str| S3Error::Internal(format!("object record's {what} does not decode"));
        let salt: [u8; SALT_LEN] = hex::decode(&self.salt)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| corrupt("salt"))?;
        let customer_key = match &self.customer_key {
            None => None,
            Some(c) => {
                let salt: [u8; FINGERPRINT_SALT_LEN] = hex::decode(&c.salt)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| corrupt("key salt"))?;
                let fingerprint: [u8; 32] = hex::decode(&c.fingerprint)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| corrupt("key fingerprint"))?;
                Some((salt, fingerprint))
            }
        };
        Ok(StoredBody {
            blob_id: self.blob_id.clone(),
            len: self.size,
            salt,
            sealed_data_key: STANDARD
                .decode(&self.sealed_data_key)
                .map_err(|_| corrupt("data key"))?,
            etag: String::new(),
            checksum: None,
            customer_key,
        })
    }

    /// The key that opens this part: the customer's for SSE-C (checked against the part's fingerprint), the one KMS
    /// opens for SSE-KMS (with the bucket's service key for DSSE-KMS's second layer), the bucket's service key
    /// otherwise. A request that brings a customer key to an object that is
    /// not SSE-C, or none to an SSE-C one, is refused as S3 refuses it.
    pub(crate) fn open_key(
        &self,
        s3: &S3,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        customer: Option<&CustomerKey>,
    ) -> Result<ChunkKey, S3Error> {
        let stored = self.stored_body()?;
        let identity = identity(&bucket.name, key, &self.blob_id);
        match (customer, &self.customer_key) {
            (None, Some(_)) => Err(S3Error::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
                    .into(),
            )),
            (Some(_), None) => Err(S3Error::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            )),
            (Some(customer), Some(_)) => body_key(&stored, &identity, Protection::SseC(customer)),
            (None, None) => match &self.kms {
                Some(kms) if kms.dual_layer => {
                    let data_key = s3.kms_open(ctx, &bucket.name, key, kms)?;
                    let service = s3.service_key(bucket)?;
                    body_key(
                        &stored,
                        &identity,
                        Protection::Dsse {
                            kms: &data_key,
                            service: &service,
                        },
                    )
                }
                Some(kms) => {
                    let data_key = s3.kms_open(ctx, &bucket.name, key, kms)?;
                    body_key(&stored, &identity, Protection::Kms(&data_key))
                }
                None => body_key(&stored, &identity, Protection::SseS3(&*s3.service_key(bucket)?)),
            },
        }
    }
}

/// The current version of an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRecord {
    v: u32,
    /// The body, in order: one part for a single PUT, the upload's parts for a multipart one.
    pub(crate) parts: Vec<BodyPart>,
    pub size: u64,
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
    /// `FULL_OBJECT` or `COMPOSITE`, when the object has a checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// `AES256` for SSE-S3 and SSE-C alike (SSE-C objects' parts also keep the customer key's fingerprint),
    /// `aws:kms` or `aws:kms:dsse`.
    pub server_side_encryption: String,
    /// Unix milliseconds.
    pub last_modified: i64,
    #[serde(default)]
    pub headers: ObjectHeaders,
    /// How many parts a multipart upload completed with; absent for a single PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_count: Option<u32>,
    /// The version id; absent for a version written while the bucket was never versioned (`null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A delete marker: a version without a body that makes the key look absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// The order versions were written in (newer is larger).
    #[serde(default)]
    pub(crate) sequence: u64,
    /// An archived version's restore: readable until then (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_until: Option<i64>,
    /// The multipart upload that completed as this version: a retried CompleteMultipartUpload answers it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) upload_id: Option<String>,
}

keyhaven_kernel::versioned_record!(ObjectRecord, "s3-object", RECORD_VERSION);

impl ObjectRecord {
    pub(crate) fn new(parts: Vec<BodyPart>, etag: String, last_modified: i64, headers: ObjectHeaders) -> Self {
        Self {
            version_id: None,
            delete_marker: false,
            sequence: 0,
            restored_until: None,
            upload_id: None,
            v: RECORD_VERSION,
            size: parts.iter().map(|p| p.size).sum(),
            etag,
            checksum: None,
            checksum_type: None,
            server_side_encryption: parts
                .first()
                .and_then(|p| p.kms.as_ref())
                .map_or(crate::SSE_S3, KmsKeyRecord::algorithm)
                .to_string(),
            last_modified,
            headers,
            parts_count: None,
            parts,
        }
    }

    /// A delete marker, written at `last_modified`.
    pub(crate) fn delete_marker(last_modified: i64) -> Self {
        Self {
            delete_marker: true,
            ..Self::new(Vec::new(), String::new(), last_modified, ObjectHeaders::default())
        }
    }

    /// The KMS key ARN, whether a bucket key serves it, and the context the request added (base64 JSON), for an
    /// SSE-KMS or DSSE-KMS object.
    pub fn kms(&self) -> Option<(&str, bool, Option<String>)> {
        let kms = self.parts.first()?.kms.as_ref()?;
        Some((kms.key_arn.as_str(), kms.bucket_key.is_some(), kms.context_header()))
    }

    pub fn storage_class(&self) -> &str {
        self.headers.storage_class()
    }

    /// Refuses to read the body of an archived version that is not restored at `now` (Unix milliseconds).
    fn check_readable(&self, now: i64) -> Result<(), S3Error> {
        let class = self.storage_class();
        if crate::storage_class::is_archive(class) && self.restored_until.is_none_or(|until| until <= now) {
            return Err(S3Error::InvalidObjectState {
                storage_class: class.to_string(),
            });
        }
        Ok(())
    }

    /// The customer key's MD5 when the object is SSE-C, as responses echo it.
    pub fn customer_key_md5(&self) -> Option<&str> {
        self.parts
            .first()
            .and_then(|p| p.customer_key.as_ref())
            .map(|c| c.key_md5.as_str())
    }
}

/// What the sealed body is bound to: its bucket, key and blob, so a body moved to another object does not open.
pub(crate) fn identity(bucket: &str, key: &str, blob_id: &str) -> Vec<u8> {
    [bucket.as_bytes(), key.as_bytes(), blob_id.as_bytes()].join(&0u8)
}

/// The encryption a write asks for: `x-amz-server-side-encryption`, an SSE-C key, and the SSE-KMS headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) server_side_encryption: Option<&'a str>,
    pub(crate) customer_key: Option<&'a CustomerKey>,
    pub(crate) kms: &'a KmsRequest,
}

/// A PutObject as the wire hands it over; the body follows through [`Upload::write`].
#[derive(Debug, Default)]
pub struct PutObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub headers: ObjectHeaders,
    pub server_side_encryption: Option<&'a str>,
    pub kms: KmsRequest,
    pub customer_key: Option<CustomerKey>,
    /// `Content-MD5`, base64.
    pub content_md5: Option<&'a str>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `If-None-Match`: `*` creates only when no object has the key.
    pub if_none_match: Option<&'a str>,
    /// `If-Match`: replaces only the object with this ETag.
    pub if_match: Option<&'a str>,
    pub lock: LockRequest,
    /// Request condition keys the wire computed (`s3:x-amz-server-side-encryption`, `s3:authType`, ...).
    pub keys: &'a [(String, Vec<String>)],
}

/// A body being received: an object's (PutObject) or a part's (UploadPart).
#[derive(Debug)]
pub struct Upload {
    writer: BodyWriter,
    /// The request the body arrived with, which the change event names.
    ctx: RequestContext,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) customer_key_md5: Option<String>,
    expected_md5: Option<[u8; 16]>,
    received: u64,
    kms: Option<KmsKeyRecord>,
    pub(crate) destination: Destination,
}

/// The conditions a write of a new version may carry (PutObject, CompleteMultipartUpload).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteConditions<'a> {
    /// `If-Match`: only over the object with this ETag.
    pub if_match: Option<&'a str>,
    /// `If-None-Match: *`: only if no object has the key.
    pub if_none_match: bool,
}

impl WriteConditions<'_> {
    /// Checks the conditions against the key's current version (a delete marker is no object).
    pub(crate) fn check(&self, key: &str, previous: Option<&ObjectRecord>) -> Result<(), S3Error> {
        let previous = previous.filter(|p| !p.delete_marker);
        match (previous, self.if_match) {
            (None, Some(_)) => return Err(S3Error::NoSuchKey { key: key.into() }),
            (Some(old), Some(etag)) if !etag_matches(etag, &old.etag) => {
                return Err(S3Error::PreconditionFailed(IF_MATCH));
            }
            _ => {}
        }
        if self.if_none_match && previous.is_some() {
            return Err(S3Error::PreconditionFailed(IF_NONE_MATCH));
        }
        Ok(())
    }
}

/// A new object version: its headers and the conditions of its write.
#[derive(Debug)]
pub(crate) struct NewObject {
    headers: ObjectHeaders,
    /// `If-None-Match: *`: only if no object has the key.
    if_none_match: bool,
    /// `If-Match`: only over the object with this ETag.
    if_match: Option<String>,
    /// The `reason` of the `Object Created` event: `PutObject` or `CopyObject`.
    reason: &'static str,
}

/// Where a received body goes once it is complete.
#[derive(Debug)]
pub(crate) enum Destination {
    Object(Box<NewObject>),
    Part { upload_id: String, part_number: u32 },
}

impl Upload {
    pub(crate) fn new(
        ctx: &RequestContext,
        (mut writer, kms): (BodyWriter, Option<KmsKeyRecord>),
        bucket: &str,
        key: &str,
        customer_key: Option<&CustomerKey>,
        content_md5: Option<&str>,
        destination: Destination,
    ) -> Result<Self, S3Error> {
        let expected_md5 = content_md5.map(decode_md5).transpose()?;
        if expected_md5.is_some() {
            writer.compute_md5();
        }
        Ok(Self {
            writer,
            ctx: ctx.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            customer_key_md5: customer_key.map(|c| c.key_md5().to_string()),
            expected_md5,
            received: 0,
            kms,
            destination,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), S3Error> {
        self.received += bytes.len() as u64;
        if self.received > MAX_PUT_BYTES {
            return Err(S3Error::EntityTooLarge);
        }
        self.writer.write(bytes)
    }
}

/// A received body, committed as a blob and checked against what the request declared.
pub(crate) struct Received {
    pub(crate) part: BodyPart,
    pub(crate) etag: String,
    pub(crate) checksum: Option<(String, String)>,
}

/// What a PUT stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub etag: String,
    /// The new version's id in a bucket that was ever versioned.
    pub version_id: Option<String>,
    pub server_side_encryption: String,
    /// SSE-KMS: the key ARN, whether a bucket key serves it, and the context the request added (base64 JSON).
    pub kms: Option<(String, bool, Option<String>)>,
    pub customer_key_md5: Option<String>,
    pub checksum: Option<(String, String)>,
    pub size: u64,
}

/// `If-Match`, `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since` of a GET or HEAD, times in unix seconds.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

/// A GetObject or HeadObject.
#[derive(Debug, Default)]
pub struct GetObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub customer_key: Option<CustomerKey>,
    pub conditions: Conditions,
    /// The `Range` header as sent.
    pub range: Option<&'a str>,
    /// `versionId`: this version rather than the current one.
    pub version_id: Option<&'a str>,
    /// `partNumber`: only this part of a multipart object (part 1 of any other object is all of it).
    pub part_number: Option<i32>,
    pub keys: &'a [(String, Vec<String>)],
}

/// An object opened for reading: its record and the byte range to send (`start..end`; the whole body when the
/// request named no satisfiable range).
pub struct ObjectRead {
    pub record: ObjectRecord,
    pub range: Option<(u64, u64)>,
    parts: Vec<OpenPart>,
}

/// One part of a body opened for reading.
struct OpenPart {
    size: u64,
    key: ChunkKey,
    blob: Option<Box<dyn BlobReader>>,
}

impl std::fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRead")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl ObjectRead {
    /// The bytes the answer carries.
    pub fn content_length(&self) -> u64 {
        self.range.map_or(self.record.size, |(start, end)| end - start)
    }

    /// Sends the answer's bytes to `sink` a chunk at a time, decrypting only the chunks the range touches, part by
    /// part.
    pub fn read(&self, mut sink: impl FnMut(&[u8]) -> Result<(), S3Error>) -> Result<(), S3Error> {
        let (start, end) = self.range.unwrap_or((0, self.record.size));
        let mut offset = 0;
        for part in &self.parts {
            let (from, to) = (start.max(offset), end.min(offset + part.size));
            if let Some(blob) = &part.blob
                && from < to
            {
                crate::body::read_range(&part.key, &**blob, part.size, from - offset, to - offset, &mut sink)?;
            }
            offset += part.size;
        }
        Ok(())
    }
}

/// What a CopyObject or UploadPartCopy stored, when, and which version of its source it read (none for a source
/// that was never versioned).
#[derive(Debug)]
pub struct Copied {
    pub stored: Stored,
    pub last_modified: i64,
    pub source_version_id: Option<String>,
}

/// What a DeleteObject names besides its key: a version, `If-Match`, and `x-amz-bypass-governance-retention`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions<'a> {
    pub version_id: Option<&'a str>,
    pub if_match: Option<&'a str>,
    /// `x-amz-bypass-governance-retention`, when sent (only Object Lock buckets take it, whatever its value).
    pub bypass_governance: Option<bool>,
}

/// A CopyObject: the source (with its SSE-C key and `x-amz-copy-source-if-*` conditions) and the new object.
#[derive(Debug, Default)]
pub struct CopyObject<'a> {
    pub source_bucket: &'a str,
    pub source_key: &'a str,
    pub source_version_id: Option<&'a str>,
    pub source_customer_key: Option<CustomerKey>,
    pub source_conditions: Conditions,
    pub bucket: &'a str,
    pub key: &'a str,
    /// `x-amz-metadata-directive: REPLACE`: the new object takes `headers`; otherwise the source's.
    pub replace_metadata: bool,
    /// `x-amz-tagging-directive: REPLACE`: the new object takes the tags in `headers`; otherwise the source's.
    pub replace_tagging: bool,
    pub headers: ObjectHeaders,
    pub server_side_encryption: Option<&'a str>,
    pub kms: KmsRequest,
    pub customer_key: Option<CustomerKey>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub lock: LockRequest,
    pub keys: &'a [(String, Vec<String>)],
}

/// An object in a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub record: ObjectRecord,
}

/// A ListObjects or ListObjectsV2 request: keys under `prefix`, after `after`, rolled up at `delimiter`.
#[derive(Debug, Default)]
pub struct ListObjects<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub after: Option<&'a str>,
    pub max_keys: usize,
    pub keys: &'a [(String, Vec<String>)],
}

/// One page of a listing. `last` is the last key or common prefix on the page: where the next page starts.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Listed>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub last: Option<String>,
}

/// One key's outcome in DeleteObjects.
#[derive(Debug)]
pub struct Deletion {
    pub key: String,
    pub version_id: Option<String>,
    pub result: Result<Deleted, S3Error>,
}

impl S3 {
    /// Starts a PutObject: authorises it, settles its encryption and opens the blob the body streams into.
    pub fn begin_put(&self, ctx: &RequestContext, put: PutObject<'_>) -> Result<Upload, S3Error> {
        check_key(put.key)?;
        put.headers.check()?;
        let bucket = self.bucket(put.bucket)?;
        self.authorize(
            ctx,
            "s3:PutObject",
            put.bucket,
            Some(put.key),
            bucket.as_ref(),
            put.keys,
        )?;
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket {
            bucket: put.bucket.into(),
        })?;
        let mut headers = put.headers;
        self.settle_lock(ctx, &bucket, put.key, &put.lock, &mut headers, put.keys)?;
        let locked = headers.retention.is_some() || headers.legal_hold.is_some();
        if locked && put.content_md5.is_none() && put.checksum_algorithm.is_none() {
            return Err(S3Error::LockNeedsDigest);
        }
        let wanted = Wanted {
            server_side_encryption: put.server_side_encryption,
            customer_key: put.customer_key.as_ref(),
            kms: &put.kms,
        };
        let writer = self.body_writer(ctx, &bucket, put.key, wanted, put.checksum_algorithm)?;
        Upload::new(
            ctx,
            writer,
            put.bucket,
            put.key,
            put.customer_key.as_ref(),
            put.content_md5,
            Destination::Object(Box::new(NewObject {
                headers,
                if_none_match: if_none_match_any(put.if_none_match)?,
                if_match: put.if_match.map(str::to_string),
                reason: "PutObject",
            })),
        )
    }

    /// A writer for a new body in `bucket` under the encryption the request asks for (or the bucket's default).
    pub(crate) fn body_writer(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        wanted: Wanted<'_>,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Result<(BodyWriter, Option<KmsKeyRecord>), S3Error> {
        let algorithm = self.check_encryption(ctx, bucket, wanted)?;
        let blob_id = keyhaven_kernel::ids::unique_id("b", 32)?;
        let identity = identity(&bucket.name, key, &blob_id);
        let (service_key, kms_key);
        let (protection, kms_record) = match (wanted.customer_key, algorithm) {
            (Some(customer), _) => (Protection::SseC(customer), None),
            (None, crate::SSE_S3) => {
                service_key = self.service_key(bucket)?;
                (Protection::SseS3(&service_key), None)
            }
            (None, _) => {
                let dual_layer = algorithm == crate::SSE_KMS_DSSE;
                let data_key = self.kms_data_key(ctx, bucket, key, wanted.kms, dual_layer)?;
                kms_key = data_key.key;
                let protection = if dual_layer {
                    service_key = self.service_key(bucket)?;
                    Protection::Dsse {
                        kms: &kms_key,
                        service: &service_key,
                    }
                } else {
                    Protection::Kms(&kms_key)
                };
                (protection, Some(data_key.record))
            }
        };
        let writer = BodyWriter::begin(&*self.blobs, &blob_id, &identity, protection, checksum)?;
        Ok((writer, kms_record))
    }

    /// Refuses the encryption a request asks for when S3 would (SSE-C over plain HTTP or to a bucket blocking it, an
    /// unknown algorithm, KMS headers without `aws:kms` or `aws:kms:dsse`); answers the body's algorithm as
    /// `x-amz-server-side-encryption` names it (`AES256` for SSE-C too).
    pub(crate) fn check_encryption(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        wanted: Wanted<'_>,
    ) -> Result<&'static str, S3Error> {
        let Wanted {
            server_side_encryption,
            customer_key,
            kms,
        } = wanted;
        if customer_key.is_some() && !ctx.secure_transport {
            return Err(S3Error::InvalidRequest(SSE_C_NEEDS_TLS.into()));
        }
        // BlockedEncryptionTypes: S3 answers an SSE-C write to a bucket blocking it with 403 AccessDenied.
        if customer_key.is_some() && bucket.sse_c_blocked() {
            return Err(S3Error::AccessDenied("Access Denied".into()));
        }
        if kms.key_id.is_some() && !matches!(server_side_encryption, Some(crate::SSE_KMS | crate::SSE_KMS_DSSE)) {
            return Err(S3Error::InvalidArgument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
                    .into(),
            ));
        }
        if customer_key.is_some() {
            return Ok(crate::SSE_S3);
        }
        let encryption = match server_side_encryption {
            Some(sse) => sse.to_string(),
            None => bucket.default_encryption().algorithm,
        };
        match encryption.as_str() {
            crate::SSE_S3 => Ok(crate::SSE_S3),
            crate::SSE_KMS => Ok(crate::SSE_KMS),
            crate::SSE_KMS_DSSE => Ok(crate::SSE_KMS_DSSE),
            _ => Err(S3Error::InvalidArgument(
                "The encryption method specified is not supported".into(),
            )),
        }
    }

    /// Completes a PutObject or UploadPart: checks the body against `Content-MD5` and the declared checksum
    /// (`expected_checksum`, a header's or a trailer's), commits the blob and then the record, and removes the body it
    /// replaced.
    pub fn finish_put(&self, upload: Upload, expected_checksum: Option<&str>) -> Result<Stored, S3Error> {
        let Upload {
            writer,
            ctx,
            bucket,
            key,
            customer_key_md5,
            expected_md5,
            destination,
            kms,
            ..
        } = upload;
        let (body, md5) = writer.finish()?;
        let refuse = |e: S3Error| {
            self.discard_blob(&body.blob_id);
            Err(e)
        };
        if expected_md5.is_some_and(|expected| md5 != Some(expected)) {
            return refuse(S3Error::BadDigest);
        }
        if let (Some(expected), Some((algorithm, actual))) = (expected_checksum, &body.checksum)
            && expected != actual
        {
            return refuse(S3Error::ChecksumMismatch(algorithm.name()));
        }
        let received = Received {
            part: BodyPart::new(&body, customer_key_md5.as_deref(), kms),
            etag: body.etag.clone(),
            checksum: body.checksum.as_ref().map(|(a, v)| (a.name().to_string(), v.clone())),
        };
        let committed = match destination {
            Destination::Object(new) => self.commit_object(&ctx, &bucket, &key, received, *new),
            Destination::Part { upload_id, part_number } => {
                self.commit_part(&bucket, &key, &upload_id, part_number, received)
            }
        };
        match committed {
            Ok(stored) => Ok(Stored {
                customer_key_md5,
                ..stored
            }),
            Err(e) => refuse(e),
        }
    }

    /// Makes a received body the key's current version, if the write's conditions hold.
    fn commit_object(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        received: Received,
        new: NewObject,
    ) -> Result<Stored, S3Error> {
        let NewObject {
            headers,
            if_none_match,
            if_match,
            reason,
        } = new;
        let mut record = ObjectRecord::new(vec![received.part], received.etag, self.now_millis(), headers);
        record.checksum_type = received.checksum.as_ref().map(|_| FULL_OBJECT.to_string());
        record.checksum = received.checksum;
        let conditions = WriteConditions {
            if_match: if_match.as_deref(),
            if_none_match,
        };
        let previous = self.replace_object(ctx, bucket, key, &mut record, Change::Created(reason), |previous| {
            conditions.check(key, previous)
        })?;
        self.discard_bodies(&previous);
        Ok(Stored {
            version_id: record.version_id.clone(),
            kms: record
                .kms()
                .map(|(arn, bucket_key, context)| (arn.to_string(), bucket_key, context)),
            etag: record.etag,
            server_side_encryption: record.server_side_encryption,
            customer_key_md5: None,
            checksum: record.checksum,
            size: record.size,
        })
    }

    /// Makes `record` the key's current version (once `check` accepts the one it replaces), as the bucket's
    /// versioning says, with the event of `change`; answers the versions that went, whose bodies the caller removes
    /// once the write is durable.
    pub(crate) fn replace_object(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        record: &mut ObjectRecord,
        change: Change,
        check: impl Fn(Option<&ObjectRecord>) -> Result<(), S3Error>,
    ) -> Result<Vec<ObjectRecord>, S3Error> {
        record.sequence = self.next_sequence();
        transact(&*self.store, |tx| {
            let bucket_record = records::get::<BucketRecord>(tx, crate::buckets::BUCKETS_SCOPE, bucket)?
                .ok_or_else(|| S3Error::NoSuchBucket { bucket: bucket.into() })?;
            let previous = records::get::<ObjectRecord>(tx, bucket, key)?;
            check(previous.as_ref())?;
            let gone = versions::install(tx, &bucket_record, key, record, previous)?;
            self.publish_change(tx, ctx, &bucket_record, key, record, change)?;
            Ok(gone)
        })
    }

    /// Removes the blobs of versions no record refers to any more.
    pub(crate) fn discard_bodies(&self, gone: &[ObjectRecord]) {
        for part in gone.iter().flat_map(|r| r.parts.iter()) {
            self.discard_blob(&part.blob_id);
        }
    }

    /// Removes a blob no record refers to any more; one left behind by a failure here is swept at start.
    pub(crate) fn discard_blob(&self, blob_id: &str) {
        if let Err(e) = self.blobs.delete(blob_id) {
            tracing::warn!(error = %e, "could not remove an object body no record refers to");
        }
    }

    /// GetObject (with `body`) or HeadObject: authorises, checks the customer key and the conditions, and opens the
    /// range to send.
    pub fn get_object(&self, ctx: &RequestContext, get: GetObject<'_>, body: bool) -> Result<ObjectRead, S3Error> {
        let bucket = self.bucket(get.bucket)?;
        // Read first, so that policies may name the object's tags (`s3:ExistingObjectTag/<key>`).
        let found = match &bucket {
            Some(_) => self.version(get.bucket, get.key, get.version_id),
            None => Err(S3Error::NoSuchBucket {
                bucket: get.bucket.into(),
            }),
        };
        let keys = with_existing_tags(get.keys, found.as_ref().ok());
        self.authorize(
            ctx,
            &object_action("s3:GetObject", get.version_id),
            get.bucket,
            Some(get.key),
            bucket.as_ref(),
            &keys,
        )?;
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket {
            bucket: get.bucket.into(),
        })?;
        let record = found?;
        if body {
            record.check_readable(self.now_millis())?;
        }
        if get.customer_key.is_some() && !ctx.secure_transport {
            return Err(S3Error::InvalidRequest(SSE_C_NEEDS_TLS.into()));
        }
        let mut keys = Vec::with_capacity(record.parts.len());
        for part in &record.parts {
            keys.push(part.open_key(self, ctx, &bucket, get.key, get.customer_key.as_ref())?);
        }
        check_conditions(&get.conditions, &record)?;
        let range = match (get.part_number, get.range) {
            (Some(_), Some(_)) => {
                return Err(S3Error::InvalidRequest(
                    "Cannot specify both Range header and partNumber query parameter".into(),
                ));
            }
            (Some(number), None) => Some(part_range(&record, number)?),
            (None, Some(range)) => parse_range(range, record.size)?,
            (None, None) => None,
        };
        let mut parts = Vec::with_capacity(record.parts.len());
        for (part, key) in record.parts.iter().zip(keys) {
            let blob = if body && part.size > 0 {
                Some(
                    self.blobs
                        .open(&part.blob_id)?
                        .ok_or_else(|| S3Error::Internal(format!("object body {} is missing", part.blob_id)))?,
                )
            } else {
                None
            };
            parts.push(OpenPart {
                size: part.size,
                key,
                blob,
            });
        }
        Ok(ObjectRead { record, range, parts })
    }

    /// GetObjectAttributes: the version's record, authorised as `s3:GetObjectAttributes` and as a GET or HEAD of it.
    pub fn get_object_attributes(&self, ctx: &RequestContext, get: GetObject<'_>) -> Result<ObjectRead, S3Error> {
        let action = object_action("s3:GetObjectAttributes", get.version_id);
        let bucket = self.bucket(get.bucket)?;
        self.authorize(ctx, &action, get.bucket, Some(get.key), bucket.as_ref(), get.keys)?;
        self.get_object(ctx, get, false)
    }

    /// CopyObject: the source is read (authorised as `s3:GetObject`, under its own encryption) and written as a new
    /// object (authorised as `s3:PutObject`) under the encryption the request asks for, streamed a chunk at a time.
    pub fn copy_object(&self, ctx: &RequestContext, copy: CopyObject<'_>) -> Result<Copied, S3Error> {
        check_key(copy.key)?;
        copy.headers.check()?;
        // A copy onto itself must change something (AWS-verified in moto's tests): naming a source version (it
        // restores that version), a storage class, a website redirect location or an encryption, replacing the
        // metadata, or leaving an encryption other than the default one the copy takes.
        let unchanged_request = copy.source_bucket == copy.bucket
            && copy.source_key == copy.key
            && copy.source_version_id.is_none()
            && !copy.replace_metadata
            && copy.server_side_encryption.is_none()
            && copy.customer_key.is_none()
            && copy.headers.storage_class.is_none()
            && copy.headers.website_redirect_location.is_none();
        let get = GetObject {
            bucket: copy.source_bucket,
            key: copy.source_key,
            version_id: copy.source_version_id,
            part_number: None,
            customer_key: copy.source_customer_key,
            conditions: copy.source_conditions,
            range: None,
            keys: copy.keys,
        };
        let source = self.get_object(ctx, get, true).map_err(copy_source_failure)?;
        let bucket = self.bucket(copy.bucket)?;
        let default_encryption = bucket.as_ref().is_some_and(|b| b.encryption.is_some());
        let source_sse_s3 =
            source.record.server_side_encryption == crate::SSE_S3 && source.record.customer_key_md5().is_none();
        if unchanged_request && source_sse_s3 && !default_encryption {
            return Err(S3Error::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
                    .into(),
            ));
        }
        self.authorize(
            ctx,
            "s3:PutObject",
            copy.bucket,
            Some(copy.key),
            bucket.as_ref(),
            copy.keys,
        )?;
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket {
            bucket: copy.bucket.into(),
        })?;
        let wanted = Wanted {
            server_side_encryption: copy.server_side_encryption,
            customer_key: copy.customer_key.as_ref(),
            kms: &copy.kms,
        };
        // Without a checksum algorithm of its own, a copy keeps the source's.
        let checksum = copy.checksum_algorithm.or_else(|| {
            let (name, _) = source.record.checksum.as_ref()?;
            ChecksumAlgorithm::named(name)
        });
        let writer = self.body_writer(ctx, &bucket, copy.key, wanted, checksum)?;
        let mut headers = if copy.replace_metadata {
            copy.headers.clone()
        } else {
            source.record.headers.clone()
        };
        headers.tags = if copy.replace_tagging {
            copy.headers.tags
        } else {
            source.record.headers.tags.clone()
        };
        headers.storage_class = copy.headers.storage_class;
        if copy.headers.website_redirect_location.is_some() {
            headers.website_redirect_location = copy.headers.website_redirect_location;
        }
        self.settle_lock(ctx, &bucket, copy.key, &copy.lock, &mut headers, copy.keys)?;
        let mut upload = Upload::new(
            ctx,
            writer,
            copy.bucket,
            copy.key,
            copy.customer_key.as_ref(),
            None,
            Destination::Object(Box::new(NewObject {
                headers,
                if_none_match: false,
                if_match: None,
                reason: "CopyObject",
            })),
        )?;
        source.read(|bytes| upload.write(bytes))?;
        Ok(Copied {
            stored: self.finish_put(upload, None)?,
            last_modified: self.now_millis(),
            source_version_id: source.record.version_id.clone(),
        })
    }

    /// DeleteObject: without a version id, removes the object (unversioned bucket) or puts a delete marker in front of
    /// it (versioned); with one, removes that version for good. Deleting what is absent succeeds, as in S3, unless
    /// `If-Match` (the second of the pair with the version id) asks for an object with that ETag.
    pub fn delete_object(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        options: DeleteOptions<'_>,
        keys: &[(String, Vec<String>)],
    ) -> Result<Deleted, S3Error> {
        let DeleteOptions {
            version_id,
            if_match,
            bypass_governance,
        } = options;
        version_id.map(versions::check_version_id).transpose()?;
        let record = self.bucket(bucket)?;
        let action = object_action("s3:DeleteObject", version_id);
        // `If-Match`: only the current object with this ETag (NoSuchKey without one), checked where it is replaced.
        let conditions = WriteConditions {
            if_match,
            if_none_match: false,
        };
        self.authorize(ctx, &action, bucket, Some(key), record.as_ref(), keys)?;
        let record = record.ok_or_else(|| S3Error::NoSuchBucket { bucket: bucket.into() })?;
        check_bypass_applies(&record, bypass_governance)?;
        let bypass_governance = bypass_governance.unwrap_or(false);
        let (deleted, gone) = match (version_id, record.versioning.is_some()) {
            (Some(version_id), _) => {
                let target = crate::subresources::ObjectVersion {
                    bucket,
                    key,
                    version_id: Some(version_id),
                    keys,
                };
                let bypass = bypass_governance && self.may_bypass(ctx, &record, target);
                let now = self.now_millis();
                let (deleted, gone) = transact(&*self.store, |tx| {
                    let (deleted, gone) = versions::remove_version(tx, bucket, key, version_id, |version| {
                        check_deletable(version, now, bypass)
                    })?;
                    if let Some(removed) = &gone {
                        self.publish_change(tx, ctx, &record, key, removed, Change::Deleted)?;
                    }
                    Ok((deleted, gone))
                })?;
                (deleted, gone.into_iter().collect())
            }
            (None, true) => {
                let mut marker = ObjectRecord::delete_marker(self.now_millis());
                let gone = self.replace_object(ctx, bucket, key, &mut marker, Change::Deleted, |previous| {
                    conditions.check(key, previous)
                })?;
                let deleted = Deleted {
                    version_id: marker.version_id.clone(),
                    delete_marker: true,
                };
                (deleted, gone)
            }
            (None, false) => {
                let gone = transact(&*self.store, |tx| {
                    let previous = records::get::<ObjectRecord>(tx, bucket, key)?;
                    conditions.check(key, previous.as_ref())?;
                    if let Some(removed) = &previous {
                        records::delete::<ObjectRecord>(tx, bucket, key)?;
                        self.publish_change(tx, ctx, &record, key, removed, Change::Deleted)?;
                    }
                    Ok(previous)
                })?;
                (Deleted::default(), gone.into_iter().collect())
            }
        };
        self.discard_bodies(&gone);
        Ok(deleted)
    }

    /// The version a GET, HEAD or copy names: the current one, or `version_id`. A current delete marker is NoSuchKey;
    /// naming a delete marker's version is MethodNotAllowed, as S3 answers them.
    pub(crate) fn version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectRecord, S3Error> {
        version_id.map(versions::check_version_id).transpose()?;
        let found = read(&*self.store, |tx| {
            let current = records::get::<ObjectRecord>(tx, bucket, key)?;
            let Some(version_id) = version_id else {
                return Ok(current);
            };
            if let Some(current) = current.filter(|c| versions::is_version(c, version_id)) {
                return Ok(Some(current));
            }
            Ok(versions::noncurrent(tx, bucket, key)?
                .into_iter()
                .map(|(_, v)| v)
                .find(|v| versions::is_version(v, version_id)))
        })?;
        match (found, version_id) {
            (Some(record), named) if record.delete_marker => Err(S3Error::DeleteMarker {
                key: key.into(),
                version_id: record.version_id.unwrap_or_else(|| versions::NULL_VERSION.to_string()),
                named: named.is_some(),
            }),
            (Some(record), _) => Ok(record),
            (None, None) => Err(S3Error::NoSuchKey { key: key.into() }),
            (None, Some(version_id)) => Err(S3Error::NoSuchVersion {
                key: key.into(),
                version_id: version_id.into(),
            }),
        }
    }

    /// DeleteObjects: each key authorised and deleted on its own, its outcome reported.
    pub fn delete_objects(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        object_keys: &[(String, Option<String>)],
        bypass_governance: Option<bool>,
        keys: &[(String, Vec<String>)],
    ) -> Result<Vec<Deletion>, S3Error> {
        let Some(record) = self.bucket(bucket)? else {
            self.authorize(ctx, "s3:DeleteObject", bucket, Some("*"), None, keys)?;
            return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
        };
        check_bypass_applies(&record, bypass_governance)?;
        Ok(object_keys
            .iter()
            .map(|(key, version_id)| Deletion {
                key: key.clone(),
                version_id: version_id.clone(),
                result: self.delete_object(
                    ctx,
                    bucket,
                    key,
                    DeleteOptions {
                        version_id: version_id.as_deref(),
                        if_match: None,
                        bypass_governance,
                    },
                    keys,
                ),
            })
            .collect())
    }

    /// ListObjects and ListObjectsV2: keys in UTF-8 byte order, those with the delimiter after the prefix rolled up
    /// into common prefixes that count towards the page like keys.
    pub fn list_objects(&self, ctx: &RequestContext, list: ListObjects<'_>) -> Result<Listing, S3Error> {
        let bucket = self.bucket(list.bucket)?;
        self.authorize(ctx, "s3:ListBucket", list.bucket, None, bucket.as_ref(), list.keys)?;
        if bucket.is_none() {
            return Err(S3Error::NoSuchBucket {
                bucket: list.bucket.into(),
            });
        }
        let max_keys = list.max_keys.min(MAX_KEYS);
        let mut listing = Listing::default();
        if max_keys == 0 {
            return Ok(listing);
        }
        // Start at whichever is later: the marker, or just before the prefix.
        let mut cursor: Option<String> = match list.after {
            Some(after) if after >= list.prefix => Some(after.to_string()),
            _ => prefix_floor(list.prefix),
        };
        read(&*self.store, |tx| {
            listing = Listing::default();
            let mut count = 0;
            'pages: loop {
                let page = records::scan::<ObjectRecord>(tx, list.bucket, cursor.as_deref(), MAX_KEYS)?;
                let exhausted = page.len() < MAX_KEYS;
                for stored in page {
                    let key = stored.id.clone();
                    cursor = Some(key.clone());
                    let Some(rest) = key.strip_prefix(list.prefix) else {
                        if key.as_str() > list.prefix {
                            break 'pages;
                        }
                        continue;
                    };
                    let rolled_up = list.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                        rest.find(d)
                            .map(|at| format!("{}{}", list.prefix, &rest[..at + d.len()]))
                    });
                    if count == max_keys {
                        listing.truncated = true;
                        break 'pages;
                    }
                    match rolled_up {
                        Some(common) => {
                            // Every key under the common prefix is skipped at once.
                            cursor = Some(format!("{common}\u{10FFFF}"));
                            if list.after.is_some_and(|after| common.as_str() <= after) {
                                continue 'pages;
                            }
                            listing.last = Some(common.clone());
                            listing.common_prefixes.push(common);
                            count += 1;
                            continue 'pages;
                        }
                        None => {
                            let record = stored.decode()?;
                            if record.delete_marker {
                                continue;
                            }
                            listing.last = Some(key.clone());
                            listing.objects.push(Listed { key, record });
                            count += 1;
                        }
                    }
                }
                if exhausted {
                    break;
                }
            }
            Ok(())
        })?;
        Ok(listing)
    }
}

/// A request's condition keys with `s3:ExistingObjectTag/<key>` for each tag of the object it reads or changes.
pub(crate) fn with_existing_tags(
    keys: &[(String, Vec<String>)],
    object: Option<&ObjectRecord>,
) -> Vec<(String, Vec<String>)> {
    let mut all = keys.to_vec();
    for (key, value) in object.iter().flat_map(|o| o.headers.tags.iter()) {
        all.push((format!("s3:ExistingObjectTag/{key}"), vec![value.clone()]));
    }
    all
}

/// The largest string below every key that starts with `prefix`: the listing's starting point.
pub(crate) fn prefix_floor(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    let mut floor = prefix.to_string();
    floor.pop();
    Some(floor)
}

pub(crate) fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong);
    }
    Ok(())
}

fn decode_md5(text: &str) -> Result<[u8; 16], S3Error> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(S3Error::InvalidDigest)
}

/// Whether an `If-Match`/`If-None-Match` list names the ETag (`*` names every object).
fn etag_matches(header: &str, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == bare)
}

/// HTTP's conditional request rules as S3 applies them to GET and HEAD: a failed `If-Match` or `If-Unmodified-Since`
/// is 412; a matching `If-None-Match` or an unmodified `If-Modified-Since` is 304. `If-Match` that holds overrides
/// `If-Unmodified-Since`, and `If-None-Match` overrides `If-Modified-Since`.
fn check_conditions(conditions: &Conditions, record: &ObjectRecord) -> Result<(), S3Error> {
    let modified = record.last_modified.div_euclid(1000);
    if let Some(if_match) = &conditions.if_match {
        if !etag_matches(if_match, &record.etag) {
            return Err(S3Error::PreconditionFailed(IF_MATCH));
        }
    } else if conditions.if_unmodified_since.is_some_and(|since| modified > since) {
        return Err(S3Error::PreconditionFailed("If-Unmodified-Since"));
    }
    if let Some(if_none_match) = &conditions.if_none_match {
        if etag_matches(if_none_match, &record.etag) {
            return Err(not_modified(record, IF_NONE_MATCH));
        }
    } else if conditions.if_modified_since.is_some_and(|since| modified <= since) {
        return Err(not_modified(record, "If-Modified-Since"));
    }
    Ok(())
}

const IF_MATCH: &str = "If-Match";
const IF_NONE_MATCH: &str = "If-None-Match";

/// A write's `If-None-Match`: only `*` (create only) is served, as in S3; any other value is NotImplemented.
pub fn if_none_match_any(value: Option<&str>) -> Result<bool, S3Error> {
    match value.map(str::trim) {
        None => Ok(false),
        Some("*") => Ok(true),
        Some(_) => Err(S3Error::HeaderNotImplemented {
            header: "If-None-Match",
        }),
    }
}

/// `x-amz-bypass-governance-retention` is for Object Lock buckets only, whatever its value.
fn check_bypass_applies(bucket: &BucketRecord, bypass: Option<bool>) -> Result<(), S3Error> {
    match (bypass, &bucket.object_lock) {
        (Some(_), None) => Err(S3Error::InvalidArgument(
            "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.".into(),
        )),
        _ => Ok(()),
    }
}

/// A copy's source condition that failed: 412 whichever it was (a copy has no 304), naming its
/// `x-amz-copy-source-if-*` header; an archived source that is not restored is not in the active tier.
pub(crate) fn copy_source_failure(e: S3Error) -> S3Error {
    let condition = match e {
        S3Error::PreconditionFailed(condition) | S3Error::NotModified { condition, .. } => condition,
        S3Error::InvalidObjectState { .. } => return S3Error::ObjectNotInActiveTier,
        other => return other,
    };
    S3Error::PreconditionFailed(match condition {
        IF_MATCH => "x-amz-copy-source-If-Match",
        IF_NONE_MATCH => "x-amz-copy-source-If-None-Match",
        "If-Modified-Since" => "x-amz-copy-source-If-Modified-Since",
        _ => "x-amz-copy-source-If-Unmodified-Since",
    })
}

fn not_modified(record: &ObjectRecord, condition: &'static str) -> S3Error {
    S3Error::NotModified {
        etag: record.etag.clone(),
        last_modified: record.last_modified,
        condition,
    }
}

/// The bytes of part `number` of an object: the part's, for a multipart object; all of it for part 1 of another.
fn part_range(record: &ObjectRecord, number: i32) -> Result<(u64, u64), S3Error> {
    // At most 10,000, so it fits a usize.
    let index = crate::multipart::part_number(number)? as usize;
    let sizes: Vec<u64> = match record.parts_count {
        Some(_) => record.parts.iter().map(|p| p.size).collect(),
        None => vec![record.size],
    };
    if index > sizes.len() {
        return Err(S3Error::InvalidPartNumber);
    }
    let start: u64 = sizes[..index - 1].iter().sum();
    Ok((start, start + sizes[index - 1]))
}

/// A `Range` header against an object of `size` bytes: `Some(start..end)` for one satisfiable range, `None` for a
/// header S3 ignores (not `bytes=`, several ranges, not numbers), InvalidRange when nothing of the object is in it.
fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let unsatisfiable = Err(S3Error::InvalidRange {
        size,
        requested: header.to_string(),
    });
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => unsatisfiable,
            Some(_) if size == 0 => unsatisfiable,
            Some(n) => Ok(Some((size.saturating_sub(n), size))),
            None => Ok(None),
        },
        // bytes=N-: from N to the end.
        (false, true) => match number(first) {
            Some(start) if start >= size => unsatisfiable,
            Some(start) => Ok(Some((start, size))),
            None => Ok(None),
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start > end => Ok(None),
            (Some(start), Some(_)) if start >= size => unsatisfiable,
            (Some(start), Some(end)) => Ok(Some((start, end.saturating_add(1).min(size)))),
            _ => Ok(None),
        },
        (true, true) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_s3_reads_them() {
        type Expected = Result<Option<(u64, u64)>, S3Error>;
        let cases: &[(&str, u64, Expected)] = &[
            ("bytes=0-9", 100, Ok(Some((0, 10)))),
            ("bytes=90-200", 100, Ok(Some((90, 100)))),
            ("bytes=10-", 100, Ok(Some((10, 100)))),
            ("bytes=-10", 100, Ok(Some((90, 100)))),
            ("bytes=-200", 100, Ok(Some((0, 100)))),
            (
                "bytes=100-",
                100,
                Err(S3Error::InvalidRange {
                    size: 100,
                    requested: "bytes=100-".into(),
                }),
            ),
            (
                "bytes=100-200",
                100,
                Err(S3Error::InvalidRange {
                    size: 100,
                    requested: "bytes=100-200".into(),
                }),
            ),
            (
                "bytes=0-0",
                0,
                Err(S3Error::InvalidRange {
                    size: 0,
                    requested: "bytes=0-0".into(),
                }),
            ),
            (
                "bytes=-0",
                100,
                Err(S3Error::InvalidRange {
                    size: 100,
                    requested: "bytes=-0".into(),
                }),
            ),
            ("bytes=5-1", 100, Ok(None)),
            ("bytes=0-1,5-6", 100, Ok(None)),
            ("items=0-1", 100, Ok(None)),
            ("bytes=a-b", 100, Ok(None)),
        ];
        for (header, size, expected) in cases {
            assert_eq!(&parse_range(header, *size), expected, "{header} of {size} bytes");
        }
    }

    #[test]
    fn etag_conditions_name_quoted_bare_weak_or_any_etag() {
        let etag = "\"abc\"";
        for header in ["\"abc\"", "abc", "W/\"abc\"", "*", "\"x\", \"abc\""] {
            assert!(etag_matches(header, etag), "{header}");
        }
        assert!(!etag_matches("\"abd\"", etag));
    }

    #[test]
    fn listings_start_just_below_the_prefix() {
        assert_eq!(prefix_floor(""), None);
        assert_eq!(prefix_floor("photos/"), Some("photos".to_string()));
    }
}
