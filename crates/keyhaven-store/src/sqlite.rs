//! The embedded SQLite backend: WAL, schema migrations by `user_version`. Record transactions commit
//! without an fsync (`synchronous=NORMAL`: they survive a crash of the process at once); audit appends
//! fsync the shared WAL (`FULL`), which makes every transaction committed before them durable against
//! power loss too. A state change answers only once its audit record is appended, so one fsync, shared by
//! every request in the batch, covers both.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use parking_lot::{ReentrantMutex, ReentrantMutexGuard};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{AuditBatch, AuditTail, AuditUsage, Backend, Job, Record, RecordKey, SealedBatch, StoreError, Transaction};

/// Each entry moves the schema from version `index` to `index + 1`. Never edit a released entry.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE records (
        kind TEXT NOT NULL, scope TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (kind, scope, id)
    ) WITHOUT ROWID;
    CREATE TABLE jobs (id TEXT PRIMARY KEY, due_at INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL);
    CREATE INDEX jobs_due ON jobs (due_at);
    CREATE TABLE audit (
        sequence INTEGER PRIMARY KEY, event_time INTEGER NOT NULL, record BLOB NOT NULL, chain_hash BLOB NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"#,
    r#"
    ALTER TABLE audit RENAME TO audit_v1;
    CREATE TABLE audit_batches (
        first_sequence INTEGER PRIMARY KEY, last_sequence INTEGER NOT NULL,
        first_time INTEGER NOT NULL, last_time INTEGER NOT NULL, body BLOB NOT NULL, mac BLOB NOT NULL
    );
"#,
    r#"
    ALTER TABLE jobs ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE generations (family TEXT PRIMARY KEY, value INTEGER NOT NULL);
"#,
    // The event log's sequence was a record of the events module; it moves here, where PostgreSQL can keep it
    // without making every publishing transaction conflict.
    r#"
    CREATE TABLE sequence (value INTEGER NOT NULL);
    INSERT INTO sequence (value) VALUES (COALESCE(
        (SELECT CAST(CAST(body AS TEXT) AS INTEGER) FROM records WHERE kind = 'event-sequence' AND scope = '' AND id = ''),
        0));
    DELETE FROM records WHERE kind = 'event-sequence';
"#,
    // CloudTrail's LookupEvents: which batches hold records found by a key (an attribute's value in an account and
    // Region), kept per batch rather than per record, so that a busy batch of alike records adds a few rows.
    r#"
    CREATE TABLE audit_lookup (
        key TEXT NOT NULL, first_sequence INTEGER NOT NULL, first_time INTEGER NOT NULL, last_time INTEGER NOT NULL,
        PRIMARY KEY (key, first_sequence)
    ) WITHOUT ROWID;
"#,
];

/// Meta keys the audit appends and prunes write in the same transaction as the batches.
const AUDIT_HEAD: &str = "audit-head";
const AUDIT_ANCHOR: &str = "audit-anchor";

/// SQLite store. Record transactions and audit appends use separate connections so that a burst of
/// audit records does not queue behind a slow record transaction in this process; reads use a third,
/// query-only connection, which in WAL mode never waits for either writer.
pub struct SqliteStore {
    records: ReentrantMutex<Connection>,
    audit: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let records = Self::connect(path, "NORMAL")?;
        migrate(&records)?;
        let audit = Self::connect(path, "FULL")?;
        let reader = Self::connect(path, "NORMAL")?;
        reader.pragma_update(None, "query_only", "ON")?;
        Ok(Self {
            records: ReentrantMutex::new(records),
            audit: Mutex::new(audit),
            reader: Mutex::new(reader),
        })
    }

    fn connect(path: &Path, synchronous: &str) -> Result<Connection, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    /// The record connection. Reentrant: the work of a write that asks the store again on the same thread gets it
    /// too, and joins the write (`Writing`).
    fn records(&self) -> ReentrantMutexGuard<'_, Connection> {
        self.records.lock()
    }

    /// This store's identity among the writes a thread runs.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn audit(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.audit.lock().map_err(|_| StoreError::Closed)
    }
}

fn set_meta_in(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn insert_lookup_keys(conn: &Connection, batch: &AuditBatch, keys: &[String]) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO audit_lookup (key, first_sequence, first_time, last_time) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for key in keys {
        insert.execute(params![
            key,
            batch.first_sequence as i64,
            batch.first_time,
            batch.last_time
        ])?;
    }
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Statements of one transaction on a connection that is inside it (a write's, or a snapshot's on the reader).
struct SqliteTransaction<'c> {
    conn: &'c Connection,
    read_only: bool,
}

impl SqliteTransaction<'_> {
    /// The connection, for a statement that writes: refused in a snapshot, even one joining a write.
    fn writable(&self) -> Result<&Connection, StoreError> {
        match self.read_only {
            true => Err(StoreError::Backend("a snapshot is read-only".into())),
            false => Ok(self.conn),
        }
    }
}

impl Transaction for SqliteTransaction<'_> {
    fn get(&mut self, kind: &str, scope: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM records WHERE kind = ?1 AND scope = ?2 AND id = ?3")?;
        Ok(stmt.query_row(params![kind, scope, id], |row| row.get(0)).optional()?)
    }

    fn put(&mut self, kind: &str, scope: &str, id: &str, body: &[u8]) -> Result<(), StoreError> {
        let mut stmt = self.writable()?.prepare_cached(
            "INSERT INTO records (kind, scope, id, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, scope, id) DO UPDATE SET body = excluded.body",
        )?;
        stmt.execute(params![kind, scope, id, body])?;
        Ok(())
    }

    fn delete(&mut self, kind: &str, scope: &str, id: &str) -> Result<bool, StoreError> {
        let mut stmt = self
            .writable()?
            .prepare_cached("DELETE FROM records WHERE kind = ?1 AND scope = ?2 AND id = ?3")?;
        Ok(stmt.execute(params![kind, scope, id])? > 0)
    }

    fn list(&mut self, kind: &str, scope: &str, after: Option<&str>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, body FROM records WHERE kind = ?1 AND scope = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![kind, scope, after.unwrap_or(""), limit as i64], |row| {
            Ok(Record {
                id: row.get(0)?,
                body: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn schedule(&mut self, job: &Job) -> Result<(), StoreError> {
        let mut stmt = self.writable()?.prepare_cached(
            "INSERT INTO jobs (id, due_at, kind, payload) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, kind = excluded.kind, payload = excluded.payload,
             claimed_until = 0",
        )?;
        stmt.execute(params![job.id, job.due_at, job.kind, job.payload])?;
        Ok(())
    }

    fn schedule_if_absent(&mut self, job: &Job) -> Result<(), StoreError> {
        let mut stmt = self.writable()?.prepare_cached(
            "INSERT INTO jobs (id, due_at, kind, payload) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
        )?;
        stmt.execute(params![job.id, job.due_at, job.kind, job.payload])?;
        Ok(())
    }

    fn cancel(&mut self, job_id: &str) -> Result<(), StoreError> {
        let mut stmt = self.writable()?.prepare_cached("DELETE FROM jobs WHERE id = ?1")?;
        stmt.execute(params![job_id])?;
        Ok(())
    }

    fn bump_generation(&mut self, family: &str) -> Result<(), StoreError> {
        let mut stmt = self.writable()?.prepare_cached(
            "INSERT INTO generations (family, value) VALUES (?1, 1)
             ON CONFLICT (family) DO UPDATE SET value = value + 1",
        )?;
        stmt.execute(params![family])?;
        Ok(())
    }

    fn next_sequence(&mut self) -> Result<u64, StoreError> {
        let mut stmt = self
            .writable()?
            .prepare_cached("UPDATE sequence SET value = value + 1 RETURNING value")?;
        Ok(stmt.query_row([], |row| row.get::<_, i64>(0))? as u64)
    }
}

thread_local! {
    /// The stores whose record transaction this thread is running.
    static WRITING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks a record transaction as this thread's while it runs, so that a read or write its work asks the same store
/// for joins it: on SQLite's one writer connection a second transaction could not begin.
struct Writing(usize);

impl Writing {
    fn enter(store: usize) -> Self {
        WRITING.with(|writing| writing.borrow_mut().push(store));
        Self(store)
    }

    /// Whether this thread is running a write on `store`.
    fn running(store: usize) -> bool {
        WRITING.with(|writing| writing.borrow().contains(&store))
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.with(|writing| {
            let mut writing = writing.borrow_mut();
            if let Some(at) = writing.iter().rposition(|store| *store == self.0) {
                writing.remove(at);
            }
        });
    }
}

/// A job from a row of `id, due_at, kind, payload`.
fn job(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: row.get(0)?,
        due_at: row.get(1)?,
        kind: row.get(2)?,
        payload: row.get(3)?,
    })
}

/// Claimed jobs in the order they came due (`RETURNING` promises no order).
pub(crate) fn earliest_first(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    jobs
}

fn audit_batch(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditBatch> {
    let mac: Vec<u8> = row.get(5)?;
    Ok(AuditBatch {
        first_sequence: row.get::<_, i64>(0)? as u64,
        last_sequence: row.get::<_, i64>(1)? as u64,
        first_time: row.get(2)?,
        last_time: row.get(3)?,
        body: row.get(4)?,
        mac: mac.try_into().unwrap_or([0u8; 32]),
    })
}

impl Backend for SqliteStore {
    fn transaction(
        &self,
        work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.records();
        if Writing::running(self.id()) {
            return work(&mut SqliteTransaction {
                conn: &conn,
                read_only: false,
            });
        }
        let _writing = Writing::enter(self.id());
        let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)?;
        work(&mut SqliteTransaction {
            conn: &tx,
            read_only: false,
        })?;
        tx.commit()?;
        Ok(())
    }

    fn snapshot(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>) -> Result<(), StoreError> {
        if Writing::running(self.id()) {
            // The work of a write reads again: it sees the write, on the write's connection.
            let conn = self.records();
            return work(&mut SqliteTransaction {
                conn: &conn,
                read_only: true,
            });
        }
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Deferred)?;
        let outcome = work(&mut SqliteTransaction {
            conn: &tx,
            read_only: true,
        });
        tx.finish()?;
        outcome
    }

    fn claim_due_jobs(&self, now: i64, until: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let conn = self.records();
        let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)?;
        let jobs = {
            let mut stmt = tx.prepare_cached(
                "UPDATE jobs SET claimed_until = ?2 WHERE id IN (
                     SELECT id FROM jobs WHERE due_at <= ?1 AND claimed_until <= ?1 ORDER BY due_at, id LIMIT ?3
                 ) RETURNING id, due_at, kind, payload",
            )?;
            let rows = stmt.query_map(params![now, until, limit as i64], job)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(earliest_first(jobs))
    }

    fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.records();
        Ok(conn.query_row("SELECT MIN(MAX(due_at, claimed_until)) FROM jobs", [], |row| row.get(0))?)
    }

    fn append_audit(
        &self,
        lookup_keys: &[String],
        seal: &mut dyn FnMut(&AuditTail) -> Result<SealedBatch, StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self.audit()?;
        // IMMEDIATE: the write lock is taken before the tail is read, so no other process appends in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last = tx
            .query_row(
                "SELECT last_sequence, mac FROM audit_batches ORDER BY first_sequence DESC LIMIT 1",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
            .map(|(sequence, mac)| (sequence, mac.try_into().unwrap_or([0u8; 32])));
        let anchor = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", params![AUDIT_ANCHOR], |row| {
                row.get(0)
            })
            .optional()?;
        let (batch, head) = seal(&AuditTail { last, anchor })?;
        tx.prepare_cached(
            "INSERT INTO audit_batches (first_sequence, last_sequence, first_time, last_time, body, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            batch.first_sequence as i64,
            batch.last_sequence as i64,
            batch.first_time,
            batch.last_time,
            batch.body,
            batch.mac.as_slice()
        ])?;
        insert_lookup_keys(&tx, &batch, lookup_keys)?;
        set_meta_in(&tx, AUDIT_HEAD, &head)?;
        tx.commit()?;
        Ok(())
    }

    fn lookup_audit(&self, key: &str, before: u64, from: i64, to: i64, limit: usize) -> Result<Vec<u64>, StoreError> {
        // The query-only connection: a lookup never holds up the audit writer.
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let mut stmt = conn.prepare_cached(
            "SELECT first_sequence FROM audit_lookup
             WHERE key = ?1 AND first_sequence < ?2 AND last_time >= ?3 AND first_time <= ?4
             ORDER BY first_sequence DESC LIMIT ?5",
        )?;
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![key, before, from, to, limit as i64], |row| {
            row.get::<_, i64>(0).map(|s| s as u64)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_batch(&self, first_sequence: u64) -> Result<Option<AuditBatch>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        Ok(conn
            .query_row(
                "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
                 WHERE first_sequence = ?1",
                params![first_sequence as i64],
                audit_batch,
            )
            .optional()?)
    }

    fn index_audit(&self, batch: &AuditBatch, lookup_keys: &[String]) -> Result<(), StoreError> {
        let mut conn = self.audit()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        insert_lookup_keys(&tx, batch, lookup_keys)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_indexed_through(&self) -> Result<Option<u64>, StoreError> {
        let conn = self.audit()?;
        let newest: Option<i64> =
            conn.query_row("SELECT MAX(first_sequence) FROM audit_lookup", [], |row| row.get(0))?;
        Ok(newest.map(|s| s as u64))
    }

    fn last_audit(&self) -> Result<Option<AuditBatch>, StoreError> {
        let conn = self.audit()?;
        Ok(conn
            .query_row(
                "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
                 ORDER BY first_sequence DESC LIMIT 1",
                [],
                audit_batch,
            )
            .optional()?)
    }

    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditBatch>, StoreError> {
        let conn = self.audit()?;
        let mut stmt = conn.prepare_cached(
            "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
             WHERE first_sequence > ?1 ORDER BY first_sequence LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after as i64, limit as i64], audit_batch)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_head(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(AUDIT_HEAD)
    }

    fn audit_anchor(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(AUDIT_ANCHOR)
    }

    fn prune_audit(&self, through: u64, anchor: &[u8]) -> Result<usize, StoreError> {
        let mut conn = self.audit()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM audit_batches WHERE last_sequence <= ?1",
            params![through as i64],
        )?;
        tx.execute(
            "DELETE FROM audit_lookup WHERE first_sequence <= ?1",
            params![through as i64],
        )?;
        // Another process may have pruned further already: its anchor stays.
        if removed > 0 {
            set_meta_in(&tx, AUDIT_ANCHOR, anchor)?;
        }
        tx.commit()?;
        Ok(removed)
    }

    fn audit_usage(&self) -> Result<AuditUsage, StoreError> {
        let conn = self.audit()?;
        Ok(conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0), MIN(first_time) FROM audit_batches",
            [],
            |row| {
                Ok(AuditUsage {
                    batches: row.get::<_, i64>(0)? as u64,
                    bytes: row.get::<_, i64>(1)? as u64,
                    oldest_time: row.get(2)?,
                })
            },
        )?)
    }

    /// Oldest first: the batches a retention pass may remove, with their sizes.
    fn oldest_audit(&self, limit: usize) -> Result<Vec<(u64, i64, u64)>, StoreError> {
        let conn = self.audit()?;
        let mut stmt = conn.prepare_cached(
            "SELECT last_sequence, last_time, LENGTH(body) FROM audit_batches ORDER BY first_sequence LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get(1)?, row.get::<_, i64>(2)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.records();
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |row| row.get(0))
            .optional()?)
    }

    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let conn = self.records();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn wipe(&self) -> Result<(), StoreError> {
        let conn = self.records();
        conn.execute_batch(
            "BEGIN IMMEDIATE; DELETE FROM records; DELETE FROM jobs; UPDATE generations SET value = value + 1; COMMIT;",
        )?;
        Ok(())
    }

    fn scan_records(&self, after: Option<&RecordKey>, limit: usize) -> Result<Vec<(RecordKey, Vec<u8>)>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let start = after.cloned().unwrap_or_default();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, scope, id, body FROM records WHERE (kind, scope, id) > (?1, ?2, ?3)
             ORDER BY kind, scope, id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![start.kind, start.scope, start.id, limit as i64], |row| {
            Ok((
                RecordKey {
                    kind: row.get(0)?,
                    scope: row.get(1)?,
                    id: row.get(2)?,
                },
                row.get(3)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn sequence(&self) -> Result<u64, StoreError> {
        let conn = self.records();
        Ok(conn.query_row("SELECT value FROM sequence", [], |row| row.get::<_, i64>(0))? as u64)
    }

    fn advance_sequence(&self, taken: u64) -> Result<(), StoreError> {
        let conn = self.records();
        conn.execute("UPDATE sequence SET value = MAX(value, ?1)", params![taken as i64])?;
        Ok(())
    }

    fn all_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let mut stmt = conn.prepare_cached("SELECT id, due_at, kind, payload FROM jobs ORDER BY id")?;
        let rows = stmt.query_map([], job)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_meta(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let mut stmt = conn.prepare_cached("SELECT key, value FROM meta ORDER BY key")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn generation(&self, family: &str) -> Result<u64, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let value: Option<i64> = conn
            .query_row(
                "SELECT value FROM generations WHERE family = ?1",
                params![family],
                |row| row.get(0),
            )
            .optional()?;
        Ok(value.unwrap_or(0) as u64)
    }

    /// One process serves a SQLite store: nothing to hear from.
    fn subscribe(&self, _listener: crate::ChangeListener) {}
}
