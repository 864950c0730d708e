//! GetKeyLastUsage: the last successful cryptographic operation of each key, with its CloudTrail event and request
//! ids. The request pipeline notes each one as its audit record is written; notes gather in memory (the hot path
//! never writes) and are flushed to the store every few seconds and at shutdown, keeping the newest per key, so
//! every node sees every node's use. A crash forgets at most the last few seconds of notes (AWS documents the
//! answer as eventually consistent); the audit log keeps every use regardless.

use std::collections::HashMap;

use keyhaven_kernel::context::{RequestContext, regional_scope};
use keyhaven_kernel::records;
use serde::{Deserialize, Serialize};

use crate::error::{read, transact};
use crate::model::{KeyRecord, RECORD_VERSION};
use crate::{Kms, KmsError};

/// The operations AWS tracks (the model's `KeyLastUsageTrackingOperation`).
const TRACKED: &[&str] = &[
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// A key's last tracked use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastUse {
    pub v: u32,
    pub operation: String,
    pub timestamp: f64,
    pub event_id: String,
    pub request_id: String,
}

keyhaven_kernel::versioned_record!(LastUse, "kms-key-usage", RECORD_VERSION);

/// Uses noted since the last flush, by (scope, key id).
#[derive(Debug, Default)]
pub(crate) struct Pending(parking_lot::Mutex<HashMap<(String, String), LastUse>>);

/// The scope and id a key ARN names (`arn:aws:kms:<region>:<account>:key/<id>`).
fn key_of_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, _, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let key_id = resource.strip_prefix("key/")?;
    Some((regional_scope(account, region), key_id.to_string()))
}

impl Kms {
    /// Notes a successful call of `operation` on the key `key_arn`, if it is one AWS tracks.
    pub fn note_usage(&self, key_arn: &str, operation: &str, timestamp: f64, event_id: &str, request_id: &str) {
        if !TRACKED.contains(&operation) {
            return;
        }
        let Some(key) = key_of_arn(key_arn) else {
            return;
        };
        let use_ = LastUse {
            v: RECORD_VERSION,
            operation: operation.to_string(),
            timestamp,
            event_id: event_id.to_string(),
            request_id: request_id.to_string(),
        };
        let mut pending = self.usage.0.lock();
        match pending.get(&key) {
            Some(known) if known.timestamp > timestamp => {}
            _ => {
                pending.insert(key, use_);
            }
        }
    }

    /// Writes the uses noted since the last flush, keeping the newest per key across nodes.
    pub fn flush_usage(&self) -> Result<(), KmsError> {
        let noted = std::mem::take(&mut *self.usage.0.lock());
        if noted.is_empty() {
            return Ok(());
        }
        let written = transact(&*self.store, |tx| {
            for ((scope, key_id), use_) in &noted {
                let newer =
                    records::get::<LastUse>(tx, scope, key_id)?.is_none_or(|stored| stored.timestamp < use_.timestamp);
                if newer {
                    records::put(tx, scope, key_id, use_)?;
                }
            }
            Ok(())
        });
        if written.is_err() {
            // Kept for the next flush, unless a newer use was noted meanwhile.
            let mut pending = self.usage.0.lock();
            for (key, use_) in noted {
                if pending.get(&key).is_none_or(|known| known.timestamp < use_.timestamp) {
                    pending.insert(key, use_);
                }
            }
        }
        written
    }

    /// GetKeyLastUsage: the key and its last tracked use, if any. Tracking starts when a key is created.
    pub fn key_last_usage(&self, ctx: &RequestContext, key: &str) -> Result<(KeyRecord, Option<LastUse>), KmsError> {
        let record = self.key_by_id(ctx, key, "kms:GetKeyLastUsage")?;
        let scope = crate::resolve::scope_of(&record);
        let stored = read(&*self.store, |tx| {
            Ok(records::get::<LastUse>(tx, &scope, &record.key_id)?)
        })?;
        let pending = self.usage.0.lock().get(&(scope, record.key_id.clone())).cloned();
        let last = [stored, pending]
            .into_iter()
            .flatten()
            .max_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        Ok((record, last))
    }
}

/// Forgets a deleted key's last use.
pub(crate) fn forget(tx: &mut dyn keyhaven_store::Transaction, record: &KeyRecord) -> Result<(), KmsError> {
    records::delete::<LastUse>(tx, &crate::resolve::scope_of(record), &record.key_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arns_name_scope_and_id() {
        assert_eq!(
            key_of_arn("arn:aws:kms:eu-west-1:111122223333:key/mrk-0123"),
            Some(("111122223333:eu-west-1".to_string(), "mrk-0123".to_string()))
        );
        assert_eq!(key_of_arn("arn:aws:kms:eu-west-1:111122223333:alias/x"), None);
    }
}
