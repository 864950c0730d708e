//! Multipart uploads: an upload's record, each part sealed into a blob of its own as it arrives, and completion that
//! makes the parts the object's body in one transaction, without copying a byte. Parts left out of the completed list
//! and the parts of an aborted upload are removed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::buckets::BucketRecord;
use crate::checksum::{self, ChecksumAlgorithm};
use crate::error::{read, transact};
use crate::etag;
use crate::notifications::Change;
use crate::objects::{
    BodyPart, Destination, ObjectHeaders, ObjectRecord, Received, Stored, Upload, Wanted, WriteConditions,
};
use crate::sse_c::CustomerKey;
use crate::sse_kms::{KmsKeyRecord, KmsRequest};
use crate::{S3, S3Error};

const RECORD_VERSION: u32 = 1;
/// Every part but the last is at least 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Part numbers run from 1 to 10,000.
pub const MAX_PART_NUMBER: u32 = 10_000;
const COMPOSITE: &str = "COMPOSITE";
const FULL_OBJECT: &str = "FULL_OBJECT";

/// An upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    v: u32,
    pub key: String,
    /// Unix milliseconds.
    pub initiated: i64,
    pub headers: ObjectHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_side_encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key_md5: Option<String>,
    /// SSE-KMS: the key, context and bucket-key choice every part is sealed under, as the request gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_key: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

keyhaven_kernel::versioned_record!(UploadRecord, "s3-upload", RECORD_VERSION);

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    v: u32,
    pub(crate) body: BodyPart,
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
    /// Unix milliseconds.
    pub last_modified: i64,
}

keyhaven_kernel::versioned_record!(PartRecord, "s3-part", RECORD_VERSION);

impl PartRecord {
    pub fn size(&self) -> u64 {
        self.body.size
    }
}

/// The scope an upload's parts live in.
pub(crate) fn parts_scope(bucket: &str, upload_id: &str) -> String {
    format!("{bucket}\n{upload_id}")
}

/// Part ids sort in part order.
fn part_id(part_number: u32) -> String {
    format!("{part_number:05}")
}

/// CreateMultipartUpload as the wire hands it over.
#[derive(Debug, Default)]
pub struct CreateUpload<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub headers: ObjectHeaders,
    pub server_side_encryption: Option<&'a str>,
    pub kms: KmsRequest,
    pub customer_key: Option<&'a CustomerKey>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`: `COMPOSITE` or `FULL_OBJECT`.
    pub checksum_type: Option<&'a str>,
    pub lock: crate::object_lock::LockRequest,
    pub keys: &'a [(String, Vec<String>)],
}

/// UploadPart as the wire hands it over; the body follows through [`Upload::write`].
#[derive(Debug, Default)]
pub struct UploadPart<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub part_number: i32,
    pub customer_key: Option<CustomerKey>,
    pub content_md5: Option<&'a str>,
    /// The checksum the part declares (`x-amz-checksum-*`, or its trailer), by algorithm.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub keys: &'a [(String, Vec<String>)],
}

/// A CompleteMultipartUpload: the upload, the parts it lists, and the conditions on the object it replaces.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub upload_id: &'a str,
    pub parts: &'a [CompletedPart],
    pub conditions: WriteConditions<'a>,
}

/// A part as CompleteMultipartUpload lists it.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: i32,
    pub etag: String,
}

/// What CreateMultipartUpload answers.
#[derive(Debug, Clone)]
pub struct Created {
    pub upload_id: String,
    pub server_side_encryption: String,
    pub customer_key_md5: Option<String>,
    pub checksum_algorithm: Option<String>,
    pub checksum_type: Option<String>,
}

/// One page of ListParts: the upload, its parts by number, and whether more follow.
#[derive(Debug, Clone)]
pub struct PartsPage {
    pub upload: UploadRecord,
    pub parts: Vec<(u32, PartRecord)>,
    pub truncated: bool,
}

/// An upload as ListMultipartUploads shows it.
#[derive(Debug, Clone)]
pub struct ListedUpload {
    pub upload_id: String,
    pub record: UploadRecord,
}

impl S3 {
    pub fn create_multipart_upload(&self, ctx: &RequestContext, create: CreateUpload<'_>) -> Result<Created, S3Error> {
        crate::objects::check_key(create.key)?;
        create.headers.check()?;
        let bucket = self.bucket(create.bucket)?;
        self.authorize(
            ctx,
            "s3:PutObject",
            create.bucket,
            Some(create.key),
            bucket.as_ref(),
            create.keys,
        )?;
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket {
            bucket: create.bucket.into(),
        })?;
        // Settles the encryption as a PUT would, refusing what a PUT refuses, before any part arrives.
        let algorithm = self.check_encryption(
            ctx,
            &bucket,
            Wanted {
                server_side_encryption: create.server_side_encryption,
                customer_key: create.customer_key,
                kms: &create.kms,
            },
        )?;
        let checksum_type = match (create.checksum_type, create.checksum_algorithm) {
            (Some(t @ (COMPOSITE | FULL_OBJECT)), Some(_)) => Some(t.to_string()),
            (Some(_), _) => {
                return Err(S3Error::InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
                ));
            }
            (None, Some(ChecksumAlgorithm::Crc64Nvme)) => Some(FULL_OBJECT.to_string()),
            (None, Some(_)) => Some(COMPOSITE.to_string()),
            (None, None) => None,
        };
        if checksum_type.as_deref() == Some(FULL_OBJECT)
            && matches!(
                create.checksum_algorithm,
                Some(ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)
            )
        {
            return Err(S3Error::InvalidRequest(
                "The FULL_OBJECT checksum type cannot be used with the SHA1 or SHA256 checksum algorithm.".into(),
            ));
        }
        let mut headers = create.headers;
        self.settle_lock(ctx, &bucket, create.key, &create.lock, &mut headers, create.keys)?;
        let upload_id = keyhaven_kernel::ids::unique_id("", 64)?;
        let record = UploadRecord {
            v: RECORD_VERSION,
            key: create.key.to_string(),
            initiated: self.now_millis(),
            headers,
            server_side_encryption: create.server_side_encryption.map(str::to_string),
            customer_key_md5: create.customer_key.map(|c| c.key_md5().to_string()),
            kms_key_id: create.kms.key_id.clone(),
            kms_context: create.kms.context.clone(),
            bucket_key: create.kms.bucket_key,
            checksum_algorithm: create.checksum_algorithm.map(|a| a.name().to_string()),
            checksum_type,
        };
        transact(&*self.store, |tx| {
            Ok(records::put(tx, create.bucket, &upload_id, &record)?)
        })?;
        Ok(Created {
            upload_id,
            server_side_encryption: algorithm.to_string(),
            customer_key_md5: record.customer_key_md5,
            checksum_algorithm: record.checksum_algorithm,
            checksum_type: record.checksum_type,
        })
    }

    /// Starts an UploadPart: the part is sealed under the upload's encryption (SSE-C parts under the same customer
    /// key the upload was created with).
    pub fn begin_part(&self, ctx: &RequestContext, part: UploadPart<'_>) -> Result<Upload, S3Error> {
        let bucket = self.bucket(part.bucket)?;
        self.authorize(
            ctx,
            "s3:PutObject",
            part.bucket,
            Some(part.key),
            bucket.as_ref(),
            part.keys,
        )?;
        let bucket = bucket.ok_or_else(|| S3Error::NoSuchBucket {
            bucket: part.bucket.into(),
        })?;
        let part_number = part_number(part.part_number)?;
        let upload = self.upload(part.bucket, part.key, part.upload_id)?;
        match (&upload.customer_key_md5, &part.customer_key) {
            (Some(expected), Some(given)) if expected == given.key_md5() => {}
            (None, None) => {}
            (Some(_), Some(_)) => {
                return Err(S3Error::InvalidRequest(
                    "The provided encryption parameters did not match the ones used originally.".into(),
                ));
            }
            // AWS's words whichever side lacks the customer key.
            _ => {
                return Err(S3Error::InvalidRequest(
                    "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
                        .into(),
                ));
            }
        }
        // A part checks the upload's checksum algorithm, or the one it declares; declaring another than the
        // upload's is refused as S3 refuses it.
        let algorithm = match (
            upload.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::named),
            part.checksum_algorithm,
        ) {
            (Some(expected), Some(given)) if expected != given => {
                return Err(S3Error::InvalidRequest(
                    "Checksum Type mismatch occurred. Ensure that UploadPart uses the same Checksum Type for all uploads as expected by Upload ID."
                        .into(),
                ));
            }
            (expected, given) => expected.or(given),
        };
        let kms = KmsRequest {
            key_id: upload.kms_key_id.clone(),
            context: upload.kms_context.clone(),
            bucket_key: upload.bucket_key,
        };
        let wanted = Wanted {
            server_side_encryption: upload.server_side_encryption.as_deref(),
            customer_key: part.customer_key.as_ref(),
            kms: &kms,
        };
        let writer = self.body_writer(ctx, &bucket, part.key, wanted, algorithm)?;
        Upload::new(
            ctx,
            writer,
            part.bucket,
            part.key,
            part.customer_key.as_ref(),
            part.content_md5,
            Destination::Part {
                upload_id: part.upload_id.to_string(),
                part_number,
            },
        )
    }

    /// UploadPartCopy: the source object (or the `x-amz-copy-source-range` of it), read under its own encryption as
    /// `s3:GetObject`, becomes the part, sealed under the upload's.
    pub fn upload_part_copy(
        &self,
        ctx: &RequestContext,
        source: crate::objects::GetObject<'_>,
        part: UploadPart<'_>,
    ) -> Result<crate::objects::Copied, S3Error> {
        // `x-amz-copy-source-range` is stricter than a GET's Range: `bytes=first-last`, both given, in order.
        let range = source.range.map(copy_range).transpose()?;
        let mut source = self
            .get_object(ctx, crate::objects::GetObject { range: None, ..source }, true)
            .map_err(crate::objects::copy_source_failure)?;
        if let Some((first, last)) = range {
            let size = source.record.size;
            if first >= size {
                return Err(S3Error::InvalidRequest(
                    "The specified copy range is invalid for the source object size".into(),
                ));
            }
            if last >= size {
                return Err(S3Error::InvalidArgument(format!(
                    "Range specified is not valid for source object of size: {size}"
                )));
            }
            source.range = Some((first, last + 1));
        }
        let mut upload = self.begin_part(ctx, part)?;
        source.read(|bytes| upload.write(bytes))?;
        Ok(crate::objects::Copied {
            stored: self.finish_put(upload, None)?,
            last_modified: self.now_millis(),
            source_version_id: source.record.version_id.clone(),
        })
    }

    /// Records a received part, replacing (and removing the body of) a part uploaded before with the same number.
    pub(crate) fn commit_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        received: Received,
    ) -> Result<Stored, S3Error> {
        let record = PartRecord {
            v: RECORD_VERSION,
            body: received.part,
            etag: received.etag,
            checksum: received.checksum,
            last_modified: self.now_millis(),
        };
        let scope = parts_scope(bucket, upload_id);
        let id = part_id(part_number);
        let previous = transact(&*self.store, |tx| {
            match records::get::<UploadRecord>(tx, bucket, upload_id)? {
                Some(upload) if upload.key == key => {}
                _ => return Err(no_such_upload(upload_id)),
            }
            let previous = records::get::<PartRecord>(tx, &scope, &id)?;
            records::put(tx, &scope, &id, &record)?;
            Ok(previous)
        })?;
        if let Some(previous) = previous {
            self.discard_blob(&previous.body.blob_id);
        }
        let kms = record.body.kms.as_ref();
        Ok(Stored {
            version_id: None,
            kms: kms.map(|k| (k.key_arn.clone(), k.bucket_key.is_some(), k.context_header())),
            etag: record.etag,
            server_side_encryption: kms.map_or(crate::SSE_S3, KmsKeyRecord::algorithm).to_string(),
            customer_key_md5: None,
            checksum: record.checksum,
            size: record.body.size,
        })
    }

    /// CompleteMultipartUpload: the listed parts, in ascending order and each (but the last) at least 5 MiB, become
    /// the object's body; the ETag is the MD5 of their MD5s and `-<parts>`.
    pub fn complete_multipart_upload(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        completion: Completion<'_>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(ObjectRecord, Option<String>), S3Error> {
        let Completion {
            upload_id,
            parts: listed,
            conditions,
        } = completion;
        let bucket_record = self.bucket(bucket)?;
        self.authorize(ctx, "s3:PutObject", bucket, Some(key), bucket_record.as_ref(), keys)?;
        if bucket_record.is_none() {
            return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
        }
        if listed.is_empty() {
            return Err(S3Error::MalformedXml);
        }
        if listed.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
            return Err(S3Error::InvalidPartOrder);
        }
        let upload = match self.upload(bucket, key, upload_id) {
            Ok(upload) => upload,
            // A retry of a completion that succeeded answers as the first did (S3 does, whatever its conditions).
            Err(e) => {
                let completed = read(&*self.store, |tx| completed_as(tx, bucket, key, upload_id))?;
                return completed.map(with_customer_key_md5).ok_or(e);
            }
        };
        let scope = parts_scope(bucket, upload_id);
        let stored = read(&*self.store, |tx| Ok(records::all::<PartRecord>(tx, &scope)?))?;
        let mut chosen: Vec<PartRecord> = Vec::with_capacity(listed.len());
        for (i, wanted) in listed.iter().enumerate() {
            let number = part_number(wanted.part_number).map_err(|_| S3Error::InvalidPart)?;
            let part = stored
                .iter()
                .find(|(id, _)| *id == part_id(number))
                .map(|(_, p)| p)
                .filter(|p| p.etag.trim_matches('"') == wanted.etag.trim().trim_matches('"'))
                .ok_or(S3Error::InvalidPart)?;
            if i + 1 < listed.len() && part.size() < MIN_PART_SIZE {
                return Err(S3Error::EntityTooSmall);
            }
            chosen.push(part.clone());
        }
        let md5s: Vec<[u8; 16]> = chosen
            .iter()
            .map(|p| {
                hex::decode(p.etag.trim_matches('"'))
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| S3Error::Internal("a part's ETag is not an MD5".into()))
            })
            .collect::<Result<_, _>>()?;
        let mut record = ObjectRecord::new(
            chosen.iter().map(|p| p.body.clone()).collect(),
            etag::multipart(&md5s),
            self.now_millis(),
            upload.headers.clone(),
        );
        record.parts_count = Some(u32::try_from(chosen.len()).unwrap_or(u32::MAX));
        if let (Some(algorithm), Some(checksum_type)) = (
            upload.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::named),
            upload.checksum_type.as_deref(),
        ) {
            record.checksum =
                multipart_checksum(algorithm, checksum_type, &chosen)?.map(|v| (algorithm.name().to_string(), v));
            record.checksum_type = Some(checksum_type.to_string());
        }
        let used: Vec<&str> = chosen.iter().map(|p| p.body.blob_id.as_str()).collect();
        record.sequence = self.next_sequence();
        record.upload_id = Some(upload_id.to_string());
        let completed = transact(&*self.store, |tx| {
            let bucket_record = records::get::<BucketRecord>(tx, crate::buckets::BUCKETS_SCOPE, bucket)?
                .ok_or_else(|| S3Error::NoSuchBucket { bucket: bucket.into() })?;
            if records::get::<UploadRecord>(tx, bucket, upload_id)?.is_none() {
                // Completed meanwhile by a concurrent request: this one answers as that one did.
                return completed_as(tx, bucket, key, upload_id)?
                    .map(Err)
                    .ok_or_else(|| no_such_upload(upload_id));
            }
            let previous = records::get::<ObjectRecord>(tx, bucket, key)?;
            conditions.check(key, previous.as_ref())?;
            let gone = crate::versions::install(tx, &bucket_record, key, &mut record, previous)?;
            let created = Change::Created("CompleteMultipartUpload");
            self.publish_change(tx, ctx, &bucket_record, key, &record, created)?;
            records::delete::<UploadRecord>(tx, bucket, upload_id)?;
            for (id, _) in &stored {
                records::delete::<PartRecord>(tx, &scope, id)?;
            }
            Ok(Ok(gone))
        })?;
        let gone = match completed {
            Ok(gone) => gone,
            Err(earlier) => return Ok(with_customer_key_md5(earlier)),
        };
        self.discard_bodies(&gone);
        for (_, part) in &stored {
            if !used.contains(&part.body.blob_id.as_str()) {
                self.discard_blob(&part.body.blob_id);
            }
        }
        Ok((record, upload.customer_key_md5))
    }

    /// AbortMultipartUpload: the upload and every part it received go.
    pub fn abort_multipart_upload(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let bucket_record = self.bucket(bucket)?;
        self.authorize(
            ctx,
            "s3:AbortMultipartUpload",
            bucket,
            Some(key),
            bucket_record.as_ref(),
            &[],
        )?;
        if bucket_record.is_none() {
            return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
        }
        self.upload(bucket, key, upload_id)?;
        self.remove_upload(bucket, upload_id)
    }

    /// Removes an upload, its parts and their bodies.
    pub(crate) fn remove_upload(&self, bucket: &str, upload_id: &str) -> Result<(), S3Error> {
        let scope = parts_scope(bucket, upload_id);
        let parts = transact(&*self.store, |tx| {
            let parts = records::all::<PartRecord>(tx, &scope)?;
            for (id, _) in &parts {
                records::delete::<PartRecord>(tx, &scope, id)?;
            }
            records::delete::<UploadRecord>(tx, bucket, upload_id)?;
            Ok(parts)
        })?;
        for (_, part) in parts {
            self.discard_blob(&part.body.blob_id);
        }
        Ok(())
    }

    /// ListParts: the upload and its parts after `after` (a part number), at most `limit`.
    pub fn list_parts(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: Option<i32>,
        limit: usize,
    ) -> Result<PartsPage, S3Error> {
        let bucket_record = self.bucket(bucket)?;
        self.authorize(
            ctx,
            "s3:ListMultipartUploadParts",
            bucket,
            Some(key),
            bucket_record.as_ref(),
            &[],
        )?;
        if bucket_record.is_none() {
            return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
        }
        let upload = self.upload(bucket, key, upload_id)?;
        let after = after.map(|n| part_id(u32::try_from(n.max(0)).unwrap_or(0)));
        let scope = parts_scope(bucket, upload_id);
        let mut parts = read(&*self.store, |tx| {
            Ok(records::list::<PartRecord>(
                tx,
                &scope,
                after.as_deref(),
                limit.saturating_add(1),
            )?)
        })?;
        let truncated = parts.len() > limit;
        parts.truncate(limit);
        let numbered = parts
            .into_iter()
            .map(|(id, part)| (id.parse().unwrap_or(0), part))
            .collect();
        Ok(PartsPage {
            upload,
            parts: numbered,
            truncated,
        })
    }

    /// ListMultipartUploads: the bucket's uploads in progress whose keys start with `prefix`.
    pub fn list_multipart_uploads(
        &self,
        ctx: &RequestContext,
        bucket: &str,
        prefix: &str,
        (key_marker, upload_id_marker): (Option<&str>, Option<&str>),
        limit: usize,
    ) -> Result<(Vec<ListedUpload>, bool), S3Error> {
        let bucket_record = self.bucket(bucket)?;
        self.authorize(
            ctx,
            "s3:ListBucketMultipartUploads",
            bucket,
            None,
            bucket_record.as_ref(),
            &[],
        )?;
        if bucket_record.is_none() {
            return Err(S3Error::NoSuchBucket { bucket: bucket.into() });
        }
        let all = read(&*self.store, |tx| Ok(records::all::<UploadRecord>(tx, bucket)?))?;
        let mut uploads: Vec<ListedUpload> = all
            .into_iter()
            .filter(|(_, u)| u.key.starts_with(prefix))
            .map(|(upload_id, record)| ListedUpload { upload_id, record })
            .collect();
        let order = |u: &ListedUpload| (u.record.key.clone(), u.record.initiated, u.upload_id.clone());
        uploads.sort_by_key(order);
        // After the key marker: its later keys, or, with an upload id marker (which must name one of the marker
        // key's uploads), that upload's later siblings too. An upload id marker alone is ignored, as in S3.
        if let Some(key_marker) = key_marker {
            let start = match upload_id_marker {
                None => uploads.partition_point(|u| u.record.key.as_str() <= key_marker),
                Some(id) => {
                    let marker = uploads
                        .iter()
                        .position(|u| u.record.key == key_marker && u.upload_id == id)
                        .ok_or_else(|| S3Error::InvalidArgument("Invalid uploadId marker".into()))?;
                    marker + 1
                }
            };
            uploads.drain(..start);
        }
        let truncated = uploads.len() > limit;
        uploads.truncate(limit);
        Ok((uploads, truncated))
    }

    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord, S3Error> {
        read(&*self.store, |tx| {
            Ok(records::get::<UploadRecord>(tx, bucket, upload_id)?)
        })?
        .filter(|u| u.key == key)
        .ok_or_else(|| no_such_upload(upload_id))
    }
}

/// The key's current version, when the upload `upload_id` completed as it.
fn completed_as(
    tx: &mut dyn keyhaven_store::Transaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<Option<ObjectRecord>, S3Error> {
    Ok(records::get::<ObjectRecord>(tx, bucket, key)?.filter(|r| r.upload_id.as_deref() == Some(upload_id)))
}

/// A completed object with the SSE-C key fingerprint its completion answers.
fn with_customer_key_md5(record: ObjectRecord) -> (ObjectRecord, Option<String>) {
    let key_md5 = record.customer_key_md5().map(str::to_string);
    (record, key_md5)
}

fn no_such_upload(upload_id: &str) -> S3Error {
    S3Error::NoSuchUpload {
        upload_id: upload_id.to_string(),
    }
}

/// A part number from 1 to 10,000, or S3's InvalidArgument naming `partNumber`.
pub(crate) fn part_number(number: i32) -> Result<u32, S3Error> {
    u32::try_from(number)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| S3Error::InvalidArgumentValue {
            message: "Part number must be an integer between 1 and 10000, inclusive".into(),
            name: "partNumber",
            value: number.to_string(),
        })
}

/// The object's checksum from its parts': composite (the checksum of the parts' checksums, `-<parts>`) or, for the
/// CRCs, full-object.
fn multipart_checksum(
    algorithm: ChecksumAlgorithm,
    checksum_type: &str,
    parts: &[PartRecord],
) -> Result<Option<String>, S3Error> {
    let mut raw = Vec::with_capacity(parts.len());
    for part in parts {
        let Some((_, value)) = &part.checksum else {
            return Ok(None);
        };
        let bytes = STANDARD
            .decode(value)
            .map_err(|_| S3Error::Internal("a part's checksum is not base64".into()))?;
        raw.push((bytes, part.size()));
    }
    Ok(if checksum_type == FULL_OBJECT {
        checksum::full_object(algorithm, &raw).map(|bytes| checksum::encode(&bytes))
    } else {
        let checksums: Vec<Vec<u8>> = raw.into_iter().map(|(bytes, _)| bytes).collect();
        Some(checksum::composite(algorithm, &checksums))
    })
}

impl S3 {
    /// Removes every multipart upload of `bucket` and its parts inside `tx`; answers the parts' blobs, for the caller
    /// to remove once `tx` commits.
    pub(crate) fn remove_uploads(tx: &mut dyn Transaction, bucket: &str) -> Result<Vec<String>, S3Error> {
        let mut blobs = Vec::new();
        for (upload_id, _) in records::all::<UploadRecord>(tx, bucket)? {
            let scope = parts_scope(bucket, &upload_id);
            for (id, part) in records::all::<PartRecord>(tx, &scope)? {
                records::delete::<PartRecord>(tx, &scope, &id)?;
                blobs.push(part.body.blob_id);
            }
            records::delete::<UploadRecord>(tx, bucket, &upload_id)?;
        }
        Ok(blobs)
    }
}

/// What S3 answers a malformed `x-amz-copy-source-range`.
const BAD_COPY_RANGE: &str = "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy";

/// `bytes=first-last` of an `x-amz-copy-source-range`, both bounds given and in order; anything else is S3's
/// InvalidArgument.
fn copy_range(text: &str) -> Result<(u64, u64), S3Error> {
    text.trim()
        .strip_prefix("bytes=")
        .and_then(|spec| spec.split_once('-'))
        .and_then(|(first, last)| Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok()?)))
        .filter(|(first, last)| first <= last)
        .ok_or_else(|| S3Error::InvalidArgument(BAD_COPY_RANGE.into()))
}
