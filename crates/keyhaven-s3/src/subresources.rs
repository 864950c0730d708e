//! An object's subresources: its tags and its ACL (disabled, as on every bucket with BucketOwnerEnforced). Tags are
//! set with the object (`x-amz-tagging`) or on a version afterwards (Put/Get/DeleteObjectTagging), at most 10 per object, and offered to policies as `s3:ExistingObjectTag/<key>` (reads and changes of the object) and
//! `s3:RequestObjectTag/<key>` with `s3:RequestObjectTagKeys` (writes that set them).

use keyhaven_kernel::context::RequestContext;

use crate::buckets::{BucketRecord, check_tag_members};
use crate::objects::{ObjectRecord, with_existing_tags};
use crate::{S3, S3Error, object_action};

/// S3's limit on tags per object.
pub const MAX_OBJECT_TAGS: usize = 10;

/// `x-amz-tagging`: tags as a URL-encoded query string (`k1=v1&k2=v2`), checked as S3 checks them.
pub fn parse_tagging_header(text: &str) -> Result<Vec<(String, String)>, S3Error> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if crate::buckets::has_duplicate_keys(&tags) {
        return Err(S3Error::InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
                .into(),
        ));
    }
    check_object_tags(&tags)?;
    Ok(tags)
}

pub fn check_object_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    // S3's answers to both, as AWS gives them (moto's AWS-verified tagging tests).
    if tags.len() > MAX_OBJECT_TAGS {
        return Err(S3Error::BadRequest(format!(
            "Object tags cannot be greater than {MAX_OBJECT_TAGS}"
        )));
    }
    if tags.iter().any(|(key, _)| key.starts_with("aws:")) {
        return Err(S3Error::InvalidTag("Your TagKey cannot be prefixed with aws:".into()));
    }
    check_tag_members(tags)
}

/// The condition keys a write that sets `tags` offers: `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys`.
pub fn request_tag_keys(tags: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = tags
        .iter()
        .map(|(k, v)| (format!("s3:RequestObjectTag/{k}"), vec![v.clone()]))
        .collect();
    if !tags.is_empty() {
        keys.push((
            "s3:RequestObjectTagKeys".into(),
            tags.iter().map(|(k, _)| k.clone()).collect(),
        ));
    }
    keys
}

/// The object version a subresource request names, with the request's condition keys.
#[derive(Debug, Clone, Copy)]
pub struct ObjectVersion<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version_id: Option<&'a str>,
    pub keys: &'a [(String, Vec<String>)],
}

impl S3 {
    /// GetObjectTagging: the tags of the current version or of `version_id`; answers that version's id too.
    pub fn get_object_tagging(&self, ctx: &RequestContext, target: ObjectVersion<'_>) -> Result<ObjectRecord, S3Error> {
        Ok(self.authorized_version(ctx, "s3:GetObjectTagging", target)?.1)
    }

    /// PutObjectTagging (`action` `s3:PutObjectTagging`) or DeleteObjectTagging (`s3:DeleteObjectTagging`, no tags):
    /// replaces the version's tags in place.
    pub fn put_object_tagging(
        &self,
        ctx: &RequestContext,
        action: &'static str,
        target: ObjectVersion<'_>,
        tags: Vec<(String, String)>,
    ) -> Result<Option<String>, S3Error> {
        check_object_tags(&tags)?;
        let mut keys = target.keys.to_vec();
        keys.extend(request_tag_keys(&tags));
        let (_, record) = self.authorized_version(ctx, action, ObjectVersion { keys: &keys, ..target })?;
        let ObjectVersion { bucket, key, .. } = target;
        let version_id = record.version_id.clone();
        self.update_version(bucket, key, version_id.clone(), |version| {
            version.headers.tags.clone_from(&tags);
            Ok(())
        })?;
        Ok(version_id)
    }

    /// GetObjectAcl: the version's owner (the bucket owner, ACLs being disabled) once `s3:GetObjectAcl` is authorised.
    pub fn get_object_acl(&self, ctx: &RequestContext, target: ObjectVersion<'_>) -> Result<String, S3Error> {
        Ok(self.authorized_version(ctx, "s3:GetObjectAcl", target)?.0.account)
    }

    /// PutObjectAcl: only an ACL that leaves the bucket owner full control and grants nothing else.
    pub fn put_object_acl(
        &self,
        ctx: &RequestContext,
        target: ObjectVersion<'_>,
        acl: &crate::buckets::AclWrite,
    ) -> Result<(), S3Error> {
        acl.check(&self.authorized_version(ctx, "s3:PutObjectAcl", target)?.0.account)
    }

    /// The bucket and the version `version_id` (or the current one) once `action` (its version form for a named
    /// version, where one exists) is authorised on it, the version's tags offered to policies.
    pub(crate) fn authorized_version(
        &self,
        ctx: &RequestContext,
        action: &str,
        target: ObjectVersion<'_>,
    ) -> Result<(BucketRecord, ObjectRecord), S3Error> {
        let ObjectVersion {
            bucket,
            key,
            version_id,
            keys,
        } = target;
        let action = object_action(action, version_id);
        let bucket_record = self.bucket(bucket)?;
        let found = match &bucket_record {
            Some(_) => self.version(bucket, key, version_id),
            None => Err(S3Error::NoSuchBucket { bucket: bucket.into() }),
        };
        let keys = with_existing_tags(keys, found.as_ref().ok());
        self.authorize(ctx, &action, bucket, Some(key), bucket_record.as_ref(), &keys)?;
        let record = found?;
        let bucket_record = bucket_record.ok_or_else(|| S3Error::NoSuchBucket { bucket: bucket.into() })?;
        Ok((bucket_record, record))
    }
}
