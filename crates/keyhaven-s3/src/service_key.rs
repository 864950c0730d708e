//! SSE-S3's service key: one random 256-bit key per account and Region, created on first use and stored in its own
//! record sealed by the root key (so a root-key rotation re-seals one record, not every object), which seals the data
//! keys of that scope's SSE-S3 objects.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::RootKey;
use keyhaven_crypto::sealing::{SEALING_KEY_LEN, SealingKey};
use keyhaven_kernel::records;
use keyhaven_store::Backend;
use serde::{Deserialize, Serialize};

use crate::S3Error;
use crate::error::transact;

const RECORD_VERSION: u32 = 1;
/// The one record of its kind in a scope.
const RECORD_ID: &str = "sse-s3";

/// The service key, sealed by the root key under [`root_label`] (standard base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceKeyRecord {
    v: u32,
    sealed: String,
}

keyhaven_kernel::versioned_record!(ServiceKeyRecord, "s3-service-key", RECORD_VERSION);

/// The service key of `scope` (`<account>:<region>`), created and stored the first time it is asked for.
pub fn service_key(store: &dyn Backend, root: &RootKey, scope: &str) -> Result<SealingKey, S3Error> {
    let label = root_label(scope);
    let sealed = transact(store, |tx| {
        if let Some(record) = records::get::<ServiceKeyRecord>(tx, scope, RECORD_ID)? {
            return Ok(record.sealed);
        }
        let fresh = keyhaven_crypto::random_bytes(SEALING_KEY_LEN)?;
        let record = ServiceKeyRecord {
            v: RECORD_VERSION,
            sealed: STANDARD.encode(root.seal(&label, fresh.expose())?),
        };
        records::put(tx, scope, RECORD_ID, &record)?;
        Ok(record.sealed)
    })?;
    let sealed = STANDARD
        .decode(sealed)
        .map_err(|_| S3Error::Internal(format!("the SSE-S3 service key of {scope} is not base64")))?;
    let key = root.open(&label, &sealed)?;
    Ok(SealingKey::new(key.expose())?)
}

/// What the root key binds a scope's service key to, so it cannot be moved to another scope.
fn root_label(scope: &str) -> Vec<u8> {
    format!("s3-service-key/{scope}").into_bytes()
}

#[cfg(test)]
mod tests {
    use keyhaven_store::testing::temp_store;

    use super::*;

    #[test]
    fn each_scope_has_one_lasting_service_key_kept_only_sealed() {
        let (_dir, store) = temp_store();
        let root = RootKey::generate().expect("root");
        let scope = "111122223333:eu-west-1";
        let first = service_key(&*store, &root, scope).expect("created");
        let sealed = first.seal(b"label", b"data key").expect("seal");
        let again = service_key(&*store, &root, scope).expect("read back");
        assert_eq!(again.open(b"label", &sealed).expect("open").expose(), b"data key");

        let other_scope = service_key(&*store, &root, "111122223333:us-east-1").expect("another scope");
        assert!(
            other_scope.open(b"label", &sealed).is_err(),
            "each scope has its own key"
        );

        let stored = transact(&*store, |tx| {
            Ok::<_, S3Error>(records::get::<ServiceKeyRecord>(tx, scope, RECORD_ID)?)
        })
        .expect("read")
        .expect("stored");
        assert!(
            STANDARD.decode(&stored.sealed).expect("base64").len() > SEALING_KEY_LEN,
            "sealed, not raw"
        );

        let another_root = RootKey::generate().expect("root");
        assert!(matches!(
            service_key(&*store, &another_root, scope),
            Err(S3Error::Internal(_))
        ));
    }
}
