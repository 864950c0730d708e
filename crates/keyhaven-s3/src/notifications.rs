//! S3 change events as S3 sends them to Amazon EventBridge ("Using EventBridge", S3 User Guide): `Object Created` and
//! `Object Deleted`, for buckets whose notification configuration turns EventBridge on, published through the kernel's
//! outbox in the transaction that makes the change, so an acknowledged change always has its event.

use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::events::Event;
use keyhaven_store::Transaction;
use serde_json::{Map, Value, json};

use crate::S3;
use crate::S3Error;
use crate::buckets::{BucketRecord, bucket_arn};
use crate::objects::ObjectRecord;

/// What happened to an object, with the `reason` S3 gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `Object Created`: `PutObject`, `CopyObject` or `CompleteMultipartUpload`.
    Created(&'static str),
    /// `Object Deleted` by `DeleteObject`: a version removed for good, or a delete marker put in front.
    Deleted,
    /// `Object Deleted` by a lifecycle rule (`Lifecycle Expiration`, requested by S3 itself).
    Expired,
}

impl S3 {
    /// Publishes the event of `change` to `key` (whose new or removed version is `record`) inside `tx`, if the bucket
    /// sends its events to EventBridge.
    pub(crate) fn publish_change(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        key: &str,
        record: &ObjectRecord,
        change: Change,
    ) -> Result<(), S3Error> {
        if !bucket.event_bridge {
            return Ok(());
        }
        let mut object = Map::new();
        object.insert("key".into(), json!(key));
        let deletion_type = if record.delete_marker {
            "Delete Marker Created"
        } else {
            "Permanently Deleted"
        };
        let (detail_type, reason, deletion_type) = match change {
            Change::Created(reason) => {
                object.insert("size".into(), json!(record.size));
                object.insert("etag".into(), json!(record.etag.trim_matches('"')));
                ("Object Created", reason, None)
            }
            Change::Deleted => ("Object Deleted", "DeleteObject", Some(deletion_type)),
            Change::Expired => ("Object Deleted", "Lifecycle Expiration", Some(deletion_type)),
        };
        if let Some(version_id) = &record.version_id {
            object.insert("version-id".into(), json!(version_id));
        }
        // S3's sequencer orders the events of one key: a hex string, longer for later changes.
        object.insert("sequencer".into(), json!(format!("{:018X}", record.sequence)));
        let mut detail = json!({
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": object,
            "request-id": ctx.request_id,
            // S3's own actions (lifecycle) name S3 as the requester.
            "requester": ctx.via_service.as_deref().unwrap_or(ctx.account_id()),
            "source-ip-address": ctx.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            "reason": reason,
        });
        if let (Some(deletion_type), Value::Object(fields)) = (deletion_type, &mut detail) {
            fields.insert("deletion-type".into(), json!(deletion_type));
        }
        let event = Event::new(
            detail_type,
            "aws.s3",
            &bucket.account,
            &bucket.region,
            self.clock.now(),
            vec![bucket_arn(&bucket.name)],
            detail,
        )?;
        self.events.publish(tx, &event)?;
        Ok(())
    }
}
