//! The typed record layer: a service names each kind of record it keeps once, as a type that
//! implements [`Record`] (its store kind, its encoding and its version), and reads and writes it
//! only through here: no string kinds or (de)serialisation at call sites.
//!
//! Records are JSON carrying their encoding version `v` (records without one are version 1). A
//! record of a version newer than the build's is refused, never misread; a type whose encoding
//! changes raises `VERSION` and reads the older versions in its `decode`.

use keyhaven_store::Transaction;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::KernelError;

/// One kind of record.
pub trait Record: Serialize + DeserializeOwned {
    /// The store kind, unique across services.
    const KIND: &'static str;
    /// The encoding version this build writes and the newest it reads.
    const VERSION: u32 = 1;

    /// The version the record was written in.
    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn encode(&self) -> Result<Vec<u8>, KernelError> {
        Ok(serde_json::to_vec(self)?)
    }

    fn decode(id: &str, bytes: &[u8]) -> Result<Self, KernelError> {
        let record: Self = serde_json::from_slice(bytes)
            .map_err(|e| KernelError::Internal(format!("stored {} {id} does not decode: {e}", Self::KIND)))?;
        if record.version() > Self::VERSION {
            return Err(KernelError::Internal(format!(
                "stored {} {id} is of encoding version {}, newer than this build reads ({})",
                Self::KIND,
                record.version(),
                Self::VERSION
            )));
        }
        Ok(record)
    }
}

/// `Record` for a type that keeps its encoding version in a `v` field.
#[macro_export]
macro_rules! versioned_record {
    ($record:ty, $kind:literal, $version:expr) => {
        impl $crate::records::Record for $record {
            const KIND: &'static str = $kind;
            const VERSION: u32 = $version;
            fn version(&self) -> u32 {
                self.v
            }
        }
    };
}

pub fn get<R: Record>(tx: &mut dyn Transaction, scope: &str, id: &str) -> Result<Option<R>, KernelError> {
    tx.get(R::KIND, scope, id)?
        .map(|bytes| R::decode(id, &bytes))
        .transpose()
}

pub fn put<R: Record>(tx: &mut dyn Transaction, scope: &str, id: &str, record: &R) -> Result<(), KernelError> {
    Ok(tx.put(R::KIND, scope, id, &record.encode()?)?)
}

/// Whether there was such a record.
pub fn delete<R: Record>(tx: &mut dyn Transaction, scope: &str, id: &str) -> Result<bool, KernelError> {
    Ok(tx.delete(R::KIND, scope, id)?)
}

/// Up to `limit` records of `scope` after the id `after`, in id order, with their ids.
pub fn list<R: Record>(
    tx: &mut dyn Transaction,
    scope: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, R)>, KernelError> {
    scan::<R>(tx, scope, after, limit)?
        .into_iter()
        .map(|stored| stored.decode().map(|decoded| (stored.id, decoded)))
        .collect()
}

/// A record as listed, decoded only when asked: a scan that skips records by id decodes none
/// of them.
#[derive(Debug)]
pub struct Stored<R> {
    pub id: String,
    body: Vec<u8>,
    kind: std::marker::PhantomData<R>,
}

impl<R: Record> Stored<R> {
    pub fn decode(&self) -> Result<R, KernelError> {
        R::decode(&self.id, &self.body)
    }
}

/// [`list`] without decoding.
pub fn scan<R: Record>(
    tx: &mut dyn Transaction,
    scope: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Stored<R>>, KernelError> {
    Ok(tx
        .list(R::KIND, scope, after, limit)?
        .into_iter()
        .map(|record| Stored {
            id: record.id,
            body: record.body,
            kind: std::marker::PhantomData,
        })
        .collect())
}

/// Every record of `scope`, in id order, read a page at a time.
pub fn all<R: Record>(tx: &mut dyn Transaction, scope: &str) -> Result<Vec<(String, R)>, KernelError> {
    const PAGE: usize = 1_000;
    let mut out: Vec<(String, R)> = Vec::new();
    loop {
        let after = out.last().map(|(id, _)| id.clone());
        let page = list::<R>(tx, scope, after.as_deref(), PAGE)?;
        let done = page.len() < PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::transact;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        v: u32,
        text: String,
    }

    impl Record for Note {
        const KIND: &'static str = "test-note";
        fn version(&self) -> u32 {
            self.v
        }
    }

    #[test]
    fn records_round_trip_in_id_order_and_newer_versions_are_refused() {
        let (_dir, store) = crate::testing::store();
        let note = |v, text: &str| Note { v, text: text.into() };
        transact(&*store, |tx| {
            put(tx, "s", "b", &note(1, "second"))?;
            put(tx, "s", "a", &note(1, "first"))?;
            tx.put(Note::KIND, "s", "c", br#"{"v":2,"text":"from the future"}"#)?;
            Ok::<_, KernelError>(())
        })
        .expect("write");
        transact(&*store, |tx| {
            assert_eq!(get::<Note>(tx, "s", "a")?, Some(note(1, "first")));
            assert_eq!(get::<Note>(tx, "s", "missing")?, None);
            let listed = list::<Note>(tx, "s", None, 2)?;
            assert_eq!(
                listed,
                vec![("a".into(), note(1, "first")), ("b".into(), note(1, "second"))]
            );
            let refused = get::<Note>(tx, "s", "c").expect_err("v2 is newer than this build");
            assert!(format!("{refused:?}").contains("encoding version 2"), "{refused:?}");
            delete::<Note>(tx, "s", "a")?;
            assert_eq!(get::<Note>(tx, "s", "a")?, None);
            Ok::<_, KernelError>(())
        })
        .expect("read");
    }
}
