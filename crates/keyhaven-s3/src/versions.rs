//! Versioning: a key's current version is its `s3-object` record (an object or a delete marker); the versions it
//! replaced are `s3-version` records under `<key>\0<inverted sequence>`, so a key's versions list newest first right
//! after it. A key with noncurrent versions always has a current one: removing the current version promotes the
//! newest noncurrent one.
//!
//! Never-versioned buckets keep one version per key (`version_id` absent, shown as `null`); versioning-enabled buckets
//! give every write a new version id; suspended ones write the `null` version, replacing any earlier `null`.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records::{self, Record};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::buckets::BucketRecord;
use crate::error::{read, transact};
use crate::objects::ObjectRecord;
use crate::{S3, S3Error};

pub const ENABLED: &str = "Enabled";
pub const SUSPENDED: &str = "Suspended";
/// The version id of a never-versioned or versioning-suspended write.
pub const NULL_VERSION: &str = "null";
/// Version ids are this many characters of the kernel's id alphabet (upper-case letters and 2 to 7).
const VERSION_ID_LEN: usize = 32;

/// A version id a request names: `null` or one this server could have given, else S3's InvalidArgument (a
/// well-formed id that names no version is NoSuchVersion, later).
pub(crate) fn check_version_id(id: &str) -> Result<(), S3Error> {
    let ours = id.len() == VERSION_ID_LEN && id.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    if id == NULL_VERSION || ours {
        Ok(())
    } else {
        Err(S3Error::InvalidArgumentValue {
            message: "Invalid version id specified".into(),
            name: "versionId",
            value: id.to_string(),
        })
    }
}

/// A version that is no longer current.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Noncurrent(pub(crate) ObjectRecord);

impl Record for Noncurrent {
    const KIND: &'static str = "s3-version";
    const VERSION: u32 = <ObjectRecord as Record>::VERSION;

    fn version(&self) -> u32 {
        self.0.version()
    }
}

/// The record id of a noncurrent version: its key, then its sequence inverted so newer versions sort first.
fn slot(key: &str, sequence: u64) -> String {
    format!("{key}\u{0}{:016x}", u64::MAX - sequence)
}

/// A key's noncurrent versions, newest first, with their record ids.
pub(crate) fn noncurrent(
    tx: &mut dyn Transaction,
    bucket: &str,
    key: &str,
) -> Result<Vec<(String, ObjectRecord)>, S3Error> {
    let prefix = format!("{key}\u{0}");
    let mut found = Vec::new();
    let mut after = prefix.clone();
    loop {
        let page = records::list::<Noncurrent>(tx, bucket, Some(&after), 100)?;
        let done = page.len() < 100;
        for (id, version) in page {
            if !id.starts_with(&prefix) {
                return Ok(found);
            }
            after.clone_from(&id);
            found.push((id, version.0));
        }
        if done {
            return Ok(found);
        }
    }
}

/// Whether `version_id` (as a request names it) is this record's version.
pub(crate) fn is_version(record: &ObjectRecord, version_id: &str) -> bool {
    record.version_id.as_deref().unwrap_or(NULL_VERSION) == version_id
}

/// Installs `record` as `key`'s current version under the bucket's versioning, inside `tx`: the version it replaces
/// becomes noncurrent, or (unversioned, or the `null` version of a suspended bucket) goes. Answers the records whose
/// bodies no version keeps any more, for the caller to remove once `tx` commits.
pub(crate) fn install(
    tx: &mut dyn Transaction,
    bucket: &BucketRecord,
    key: &str,
    record: &mut ObjectRecord,
    previous: Option<ObjectRecord>,
) -> Result<Vec<ObjectRecord>, S3Error> {
    // A key's versions order as they were written whichever node wrote them, even on clocks set apart.
    if let Some(previous) = &previous {
        record.sequence = record.sequence.max(previous.sequence + 1);
    }
    let mut dropped = Vec::new();
    match bucket.versioning.as_deref() {
        None => {
            record.version_id = None;
            dropped.extend(previous);
        }
        Some(ENABLED) => {
            record.version_id = Some(keyhaven_kernel::ids::unique_id("", VERSION_ID_LEN)?);
            if let Some(previous) = previous {
                records::put(tx, &bucket.name, &slot(key, previous.sequence), &Noncurrent(previous))?;
            }
        }
        Some(_) => {
            record.version_id = Some(NULL_VERSION.to_string());
            match previous {
                Some(previous) if is_version(&previous, NULL_VERSION) => dropped.push(previous),
                Some(previous) => {
                    records::put(tx, &bucket.name, &slot(key, previous.sequence), &Noncurrent(previous))?;
                }
                None => {}
            }
            for (id, version) in noncurrent(tx, &bucket.name, key)? {
                if is_version(&version, NULL_VERSION) {
                    records::delete::<Noncurrent>(tx, &bucket.name, &id)?;
                    dropped.push(version);
                }
            }
        }
    }
    records::put(tx, &bucket.name, key, record)?;
    Ok(dropped)
}

/// What a DeleteObject did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the delete marker created.
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// Removes the version `version_id` of `key` inside `tx` (promoting the newest noncurrent version if it was the current
/// one) unless `check` refuses it; answers what went and the record whose bodies go with it.
pub(crate) fn remove_version(
    tx: &mut dyn Transaction,
    bucket: &str,
    key: &str,
    version_id: &str,
    check: impl Fn(&ObjectRecord) -> Result<(), S3Error>,
) -> Result<(Deleted, Option<ObjectRecord>), S3Error> {
    let current = records::get::<ObjectRecord>(tx, bucket, key)?;
    let mut versions = noncurrent(tx, bucket, key)?;
    let removed = match current {
        Some(current) if is_version(&current, version_id) => {
            check(&current)?;
            records::delete::<ObjectRecord>(tx, bucket, key)?;
            if !versions.is_empty() {
                let (id, newest) = versions.remove(0);
                records::delete::<Noncurrent>(tx, bucket, &id)?;
                records::put(tx, bucket, key, &newest)?;
            }
            Some(current)
        }
        _ => match versions.into_iter().find(|(_, v)| is_version(v, version_id)) {
            Some((id, version)) => {
                check(&version)?;
                records::delete::<Noncurrent>(tx, bucket, &id)?;
                Some(version)
            }
            None => None,
        },
    };
    Ok((
        Deleted {
            version_id: Some(version_id.to_string()),
            delete_marker: removed.as_ref().is_some_and(|r| r.delete_marker),
        },
        removed,
    ))
}

/// A version in ListObjectVersions.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    pub key: String,
    pub record: ObjectRecord,
    pub is_latest: bool,
}

/// One page of ListObjectVersions.
#[derive(Debug, Default)]
pub struct VersionListing {
    pub versions: Vec<ListedVersion>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts: the last key and version id on this one.
    pub next: Option<(String, String)>,
}

/// A ListObjectVersions request.
#[derive(Debug, Default)]
pub struct ListVersions<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub version_id_marker: Option<&'a str>,
    pub max_keys: usize,
    pub keys: &'a [(String, Vec<String>)],
}

impl S3 {
    /// PutBucketVersioning: `Enabled` or `Suspended`; a bucket once versioned never becomes unversioned again.
    pub fn put_bucket_versioning(&self, ctx: &RequestContext, name: &str, status: &str) -> Result<(), S3Error> {
        if status != ENABLED && status != SUSPENDED {
            return Err(S3Error::MalformedXml);
        }
        self.update_bucket(ctx, "s3:PutBucketVersioning", name, |bucket| {
            if bucket.object_lock.is_some() && status != ENABLED {
                return Err(S3Error::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                        .into(),
                ));
            }
            bucket.versioning = Some(status.to_string());
            Ok(())
        })
    }

    pub fn get_bucket_versioning(&self, ctx: &RequestContext, name: &str) -> Result<Option<String>, S3Error> {
        Ok(self.authorized_bucket(ctx, "s3:GetBucketVersioning", name)?.versioning)
    }

    /// Changes version `version_id` (`None`: the `null` version) of `key` in place, wherever it sits (current or
    /// noncurrent), unless `change` refuses; NoSuchKey if it went meanwhile.
    pub(crate) fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        change: impl Fn(&mut ObjectRecord) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        transact(&*self.store, |tx| {
            if let Some(mut current) = records::get::<ObjectRecord>(tx, bucket, key)?
                && current.version_id == version_id
            {
                change(&mut current)?;
                records::put(tx, bucket, key, &current)?;
                return Ok(());
            }
            let wanted = version_id.as_deref().unwrap_or(NULL_VERSION);
            for (id, mut version) in noncurrent(tx, bucket, key)? {
                if is_version(&version, wanted) {
                    change(&mut version)?;
                    records::put(tx, bucket, &id, &Noncurrent(version))?;
                    return Ok(());
                }
            }
            Err(S3Error::NoSuchKey { key: key.into() })
        })
    }

    /// ListObjectVersions: every version and delete marker of the keys under `prefix`, each key's newest first, keys
    /// with the delimiter after the prefix rolled up into common prefixes.
    pub fn list_object_versions(
        &self,
        ctx: &RequestContext,
        list: ListVersions<'_>,
    ) -> Result<VersionListing, S3Error> {
        let bucket = self.bucket(list.bucket)?;
        self.authorize(
            ctx,
            "s3:ListBucketVersions",
            list.bucket,
            None,
            bucket.as_ref(),
            list.keys,
        )?;
        if bucket.is_none() {
            return Err(S3Error::NoSuchBucket {
                bucket: list.bucket.into(),
            });
        }
        let max_keys = list.max_keys.min(crate::objects::MAX_KEYS);
        read(&*self.store, |tx| {
            let mut listing = VersionListing::default();
            let mut after = list.key_marker.filter(|m| !m.is_empty()).map(str::to_string);
            // With a version id marker the marker's key is resumed after that version, not skipped.
            let mut resume = list
                .version_id_marker
                .filter(|v| !v.is_empty())
                .and(list.key_marker)
                .map(|key| (key.to_string(), list.version_id_marker.unwrap_or_default().to_string()));
            if let Some((key, _)) = &resume {
                after = crate::objects::prefix_floor(key);
            }
            loop {
                let page = records::list::<ObjectRecord>(tx, list.bucket, after.as_deref(), 100)?;
                let done = page.len() < 100;
                for (key, current) in page {
                    after = Some(key.clone());
                    if resume.as_ref().is_some_and(|(marker, _)| key < *marker) {
                        continue;
                    }
                    let Some(rest) = key.strip_prefix(list.prefix) else {
                        if key.as_str() > list.prefix {
                            return Ok(listing);
                        }
                        continue;
                    };
                    if let Some(d) = list.delimiter.filter(|d| !d.is_empty())
                        && let Some(at) = rest.find(d)
                    {
                        let common = format!("{}{}", list.prefix, &rest[..at + d.len()]);
                        // A common prefix the previous page ended with is not listed again.
                        if listing.common_prefixes.last() != Some(&common) && list.key_marker != Some(common.as_str()) {
                            if listing.versions.len() + listing.common_prefixes.len() == max_keys {
                                listing.truncated = true;
                                return Ok(listing);
                            }
                            listing.next = Some((common.clone(), String::new()));
                            listing.common_prefixes.push(common);
                        }
                        continue;
                    }
                    let mut versions = vec![current];
                    versions.extend(noncurrent(tx, list.bucket, &key)?.into_iter().map(|(_, v)| v));
                    let skip = match resume.take() {
                        Some((marker_key, marker_version)) if marker_key == key => versions
                            .iter()
                            .position(|v| is_version(v, &marker_version))
                            .map_or(0, |at| at + 1),
                        _ => 0,
                    };
                    for (i, record) in versions.into_iter().enumerate().skip(skip) {
                        if listing.versions.len() + listing.common_prefixes.len() == max_keys {
                            listing.truncated = true;
                            return Ok(listing);
                        }
                        let version_id = record.version_id.clone().unwrap_or_else(|| NULL_VERSION.to_string());
                        listing.next = Some((key.clone(), version_id));
                        listing.versions.push(ListedVersion {
                            key: key.clone(),
                            record,
                            is_latest: i == 0,
                        });
                    }
                }
                if done {
                    return Ok(listing);
                }
            }
        })
    }

    /// Every version of a bucket's keys, for the orphan sweep.
    pub(crate) fn all_noncurrent(tx: &mut dyn Transaction, bucket: &str) -> Result<Vec<ObjectRecord>, S3Error> {
        Ok(records::all::<Noncurrent>(tx, bucket)?
            .into_iter()
            .map(|(_, v)| v.0)
            .collect())
    }

    /// Whether a bucket holds anything: a version, a delete marker or an object.
    pub(crate) fn bucket_is_empty(tx: &mut dyn Transaction, bucket: &str) -> Result<bool, S3Error> {
        Ok(records::scan::<ObjectRecord>(tx, bucket, None, 1)?.is_empty()
            && records::scan::<Noncurrent>(tx, bucket, None, 1)?.is_empty())
    }
}
