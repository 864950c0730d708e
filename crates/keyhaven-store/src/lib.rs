//! Keyhaven's storage: the backend trait every backend implements, the SQLite and PostgreSQL backends, and the
//! blob stores for large bodies (a directory, or the PostgreSQL database).
//!
//! The store holds opaque bytes: public metadata or ciphertext sealed by the core. It knows nothing
//! of AWS. Records are addressed by (kind, scope, id): `kind` names the record type ("kms-key"),
//! `scope` the partition it lives in (account and region), `id` its name within that partition.
//! Listing is ordered by id so that paging markers are stable.

pub mod blob;
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
mod postgres;
mod postgres_blobs;
mod sqlite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use blob::{BlobReader, BlobStore, BlobWriter, FsBlobStore};
pub use postgres::{PostgresOptions, PostgresStore};
pub use postgres_blobs::PostgresBlobStore;
pub use sqlite::SqliteStore;

/// Errors from a storage backend. Messages come from the backend and never contain record bodies.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("stored data is newer than this build understands (schema {found}, supported {supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the store is closed")]
    Closed,
    /// The disk is full: nothing was written; the same write may succeed once space is back.
    #[error("the disk holding the store is full")]
    Full,
    /// The transaction kept conflicting with others and was given up; nothing was written.
    #[error("the transaction conflicted with concurrent ones")]
    Conflict,
    /// The database cannot be reached; nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// Where a record lives, in the order a whole-store scan visits records (the default sorts before every record).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordKey {
    pub kind: String,
    pub scope: String,
    pub id: String,
}

/// One record as listed: its id and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub body: Vec<u8>,
}

/// A persisted timed task: run `kind` with `payload` once `due_at` (unix seconds) has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub due_at: i64,
    pub kind: String,
    pub payload: Vec<u8>,
}

/// A run of consecutive audit records stored as one unit: their text (compressed by the audit log,
/// opaque here), the time span they cover, and the chain MAC over them and everything before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBatch {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub first_time: i64,
    pub last_time: i64,
    pub body: Vec<u8>,
    pub mac: [u8; 32],
}

/// Where the audit chain ends, as a new batch finds it: the newest batch's last sequence number and MAC, and the
/// sealed anchor retention left (from which the chain continues when no batch remains).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditTail {
    pub last: Option<(u64, [u8; 32])>,
    pub anchor: Option<Vec<u8>>,
}

/// What an append writes after the tail: the batch, numbered to follow it, and the sealed head of the log.
pub type SealedBatch = (AuditBatch, Vec<u8>);

/// How much the audit log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditUsage {
    pub batches: u64,
    /// Stored body bytes.
    pub bytes: u64,
    /// The earliest record time, when there is any.
    pub oldest_time: Option<i64>,
}

/// Reads and writes inside one transaction. Everything done through it commits together or not at all.
pub trait Transaction {
    fn get(&mut self, kind: &str, scope: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, kind: &str, scope: &str, id: &str, body: &[u8]) -> Result<(), StoreError>;
    /// Returns whether a record was there.
    fn delete(&mut self, kind: &str, scope: &str, id: &str) -> Result<bool, StoreError>;
    /// Records of `kind` in `scope` with id greater than `after`, ordered by id, at most `limit`.
    fn list(&mut self, kind: &str, scope: &str, after: Option<&str>, limit: usize) -> Result<Vec<Record>, StoreError>;
    /// Adds or replaces a job with the same id (releasing any claim on it).
    fn schedule(&mut self, job: &Job) -> Result<(), StoreError>;
    /// Adds `job` unless a job with its id is scheduled (claimed or not), which stays as it is.
    fn schedule_if_absent(&mut self, job: &Job) -> Result<(), StoreError>;
    fn cancel(&mut self, job_id: &str) -> Result<(), StoreError>;
    /// Moves the generation of a cache family (`iam`, `kms`) on when this transaction commits: every node's cache of
    /// that family is stale from then (other nodes hear of it through `subscribe`, and `generation` is the guarantee).
    fn bump_generation(&mut self, family: &str) -> Result<(), StoreError>;
    /// Takes the next number of the store's sequence (the event log's): unique and increasing in the order numbers
    /// are taken, without making concurrent transactions conflict. A number taken by a transaction that does not
    /// commit may be skipped, and where writers run at once (PostgreSQL) a transaction may commit after one that took
    /// a higher number: a reader following the numbers must wait a while for a gap to fill before passing it.
    fn next_sequence(&mut self) -> Result<u64, StoreError>;
}

/// Told a cache family's name when another handle's committed transaction bumped its generation.
pub type ChangeListener = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// A storage backend. A committed transaction must survive a crash of the process when `transaction`
/// returns, and power loss once a later `append_audit` has returned (the request pipeline answers a
/// state change only after its audit record is appended).
pub trait Backend: Send + Sync {
    /// Runs `work` in one transaction: commits if it returns `Ok`, rolls back otherwise.
    fn transaction(
        &self,
        work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs `work` against a consistent read-only snapshot that never waits for writers; any write
    /// through it fails.
    fn snapshot(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>) -> Result<(), StoreError>;
    /// Claims the jobs due at or before `now` that no one holds a claim on (or whose claim ran out), earliest first,
    /// at most `limit`: each is held until `until`, so that of several nodes only one runs it. A job is released by
    /// its run cancelling or rescheduling it, or by its claim running out (its node died).
    fn claim_due_jobs(&self, now: i64, until: i64, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// The earliest time any job can be claimed, to know how long the scheduler may sleep.
    fn next_due(&self) -> Result<Option<i64>, StoreError>;
    /// Appends a batch and replaces the sealed head of the log, in one durable transaction that holds the log's
    /// tail (against every other writer, other processes and nodes included) while `seal` numbers and seals the
    /// batch to follow it, so that the writers of all nodes extend one chain.
    ///
    /// `lookup_keys` index the batch for lookups (`lookup_audit`): each key some record in it is found by.
    fn append_audit(
        &self,
        lookup_keys: &[String],
        seal: &mut dyn FnMut(&AuditTail) -> Result<SealedBatch, StoreError>,
    ) -> Result<(), StoreError>;
    /// The first sequences of the batches indexed under `key` that start before `before` and cover some time in
    /// `from..=to`, newest first, at most `limit`.
    fn lookup_audit(&self, key: &str, before: u64, from: i64, to: i64, limit: usize) -> Result<Vec<u64>, StoreError>;
    /// The batch that starts at `first_sequence`.
    fn audit_batch(&self, first_sequence: u64) -> Result<Option<AuditBatch>, StoreError>;
    /// Indexes a batch stored before the lookup index existed (or by a store move), under `lookup_keys`.
    fn index_audit(&self, batch: &AuditBatch, lookup_keys: &[String]) -> Result<(), StoreError>;
    /// The newest batch the lookup index covers, by first sequence.
    fn audit_indexed_through(&self) -> Result<Option<u64>, StoreError>;
    /// The last persisted batch, from which the chain continues.
    fn last_audit(&self) -> Result<Option<AuditBatch>, StoreError>;
    /// Batches whose first sequence is greater than `after`, in order, at most `limit`.
    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditBatch>, StoreError>;
    /// The sealed head written with the last append.
    fn audit_head(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// The sealed anchor written by the last prune: where verification of what remains starts.
    fn audit_anchor(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes the batches that end at or before `through` (and their lookup keys) and, when any went, stores `anchor`, in one
    /// transaction that excludes other pruners; answers how many batches went (none when another node pruned them).
    fn prune_audit(&self, through: u64, anchor: &[u8]) -> Result<usize, StoreError>;
    fn audit_usage(&self) -> Result<AuditUsage, StoreError>;
    /// The oldest batches as (last sequence, last time, stored bytes), at most `limit`.
    fn oldest_audit(&self, limit: usize) -> Result<Vec<(u64, i64, u64)>, StoreError>;
    /// A small key-value area for the store's own settings (identity, sealed service keys).
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes every record and job (dev-mode reset). The audit log is kept.
    fn wipe(&self) -> Result<(), StoreError>;
    /// Every record after `after` in (kind, scope, id) order, at most `limit`: for moving a whole store.
    fn scan_records(&self, after: Option<&RecordKey>, limit: usize) -> Result<Vec<(RecordKey, Vec<u8>)>, StoreError>;
    /// The last number taken from the sequence (0 before any).
    fn sequence(&self) -> Result<u64, StoreError>;
    /// Makes the sequence continue after `taken` unless it is already past it: for moving a whole store.
    fn advance_sequence(&self, taken: u64) -> Result<(), StoreError>;
    /// Every job, claimed or not, in id order.
    fn all_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// The whole meta area, in key order.
    fn all_meta(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// A cache family's generation (0 before any bump).
    fn generation(&self, family: &str) -> Result<u64, StoreError>;
    /// Calls `listener` soon after another handle bumps a generation, best effort: a backend whose other handles
    /// cannot reach it (SQLite's, within one machine) may never call it; `generation` is what callers rely on.
    fn subscribe(&self, listener: ChangeListener);
}
