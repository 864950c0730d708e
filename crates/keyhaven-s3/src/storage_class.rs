//! Storage classes: each object version keeps the class it was written with (STANDARD unless the write names
//! another), and the archive classes' objects (GLACIER, DEEP_ARCHIVE) cannot be read or copied until RestoreObject
//! makes them readable for a number of days. Keyhaven keeps every body on one tier, so a restore completes at once.

use keyhaven_kernel::context::RequestContext;

use crate::subresources::ObjectVersion;
use crate::{S3, S3Error};

pub const STANDARD: &str = "STANDARD";
/// The classes whose objects must be restored before their bodies are read.
const ARCHIVE_CLASSES: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];
/// Classes of other kinds of bucket (Outposts, Snow, directory buckets, FSx), which a general purpose bucket refuses.
const OTHER_BUCKET_KINDS: &[&str] = &["OUTPOSTS", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS", "FSX_ONTAP"];
pub(crate) const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// The class a write names, if any (a copy that names one, STANDARD included, changes the object). `known` is the
/// model's `StorageClass` enum.
pub fn requested(class: Option<&str>, known: &[&str]) -> Result<Option<String>, S3Error> {
    match class {
        None => Ok(None),
        Some(class) if known.contains(&class) && !OTHER_BUCKET_KINDS.contains(&class) => Ok(Some(class.to_string())),
        Some(_) => Err(S3Error::InvalidStorageClass),
    }
}

pub(crate) fn is_archive(class: &str) -> bool {
    ARCHIVE_CLASSES.contains(&class)
}

/// `days` days after `at` (Unix milliseconds), rounded up to the next midnight UTC, as S3 times restores and
/// lifecycle actions.
pub(crate) fn next_midnight_after(at: i64, days: i64) -> i64 {
    ((at + days * MILLIS_PER_DAY) / MILLIS_PER_DAY + 1) * MILLIS_PER_DAY
}

/// What RestoreObject did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// A new restore (202 Accepted).
    Started,
    /// The object was already restored; the restore now lasts the new number of days (200).
    Extended,
}

impl S3 {
    /// RestoreObject: makes an archived version readable for `days` days.
    pub fn restore_object(
        &self,
        ctx: &RequestContext,
        target: ObjectVersion<'_>,
        days: Option<i32>,
    ) -> Result<Restored, S3Error> {
        let (_, record) = self.authorized_version(ctx, "s3:RestoreObject", target)?;
        let class = record.storage_class();
        if !is_archive(class) {
            return Err(S3Error::InvalidObjectState {
                storage_class: class.to_string(),
            });
        }
        let days = match days {
            Some(days) if days > 0 => i64::from(days),
            _ => return Err(S3Error::MalformedXml),
        };
        let now = self.now_millis();
        let already = record.restored_until.is_some_and(|until| until > now);
        let expiry = next_midnight_after(now, days);
        self.update_version(target.bucket, target.key, record.version_id.clone(), |version| {
            version.restored_until = Some(expiry);
            Ok(())
        })?;
        Ok(if already { Restored::Extended } else { Restored::Started })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["STANDARD", "GLACIER", "STANDARD_IA", "OUTPOSTS", "EXPRESS_ONEZONE"];

    #[test]
    fn requested_classes_are_checked_against_the_model_and_the_bucket_kind() {
        let cases = [
            (None, Ok(None)),
            (Some("STANDARD"), Ok(Some("STANDARD"))),
            (Some("GLACIER"), Ok(Some("GLACIER"))),
            (Some("STANDARDD"), Err(S3Error::InvalidStorageClass)),
            (Some("OUTPOSTS"), Err(S3Error::InvalidStorageClass)),
            (Some("EXPRESS_ONEZONE"), Err(S3Error::InvalidStorageClass)),
        ];
        for (class, expected) in cases {
            let expected = expected.map(|kept| kept.map(str::to_string));
            assert_eq!(requested(class, KNOWN), expected, "{class:?}");
        }
    }

    #[test]
    fn a_restore_expires_at_the_midnight_after_its_days() {
        // 2012-01-01 12:00:00 UTC.
        let noon = 1_325_419_200_000;
        // 2012-01-03 00:00:00 UTC.
        assert_eq!(next_midnight_after(noon, 1), 1_325_548_800_000);
        assert_eq!(next_midnight_after(noon, 2), 1_325_548_800_000 + MILLIS_PER_DAY);
    }
}
