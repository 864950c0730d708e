//! The PostgreSQL backend, for several keyhaven nodes serving one state. The schema is SQLite's; record
//! transactions run at SERIALIZABLE and are run again when PostgreSQL reports a conflict (so a transaction's work
//! may run more than once, and must only act on the store); snapshots are REPEATABLE READ READ ONLY. Commits are
//! durable when they return (`synchronous_commit` as the server sets it, `on` by default).
//!
//! The backend's methods are synchronous, as the trait is. The driver is asynchronous: its connections are driven
//! by a small runtime of the store's own, and a calling thread waits for each statement without needing a runtime
//! of its own, so the store can be called from a blocking section of any runtime, or from none.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row, Socket};

use crate::{
    AuditBatch, AuditTail, AuditUsage, Backend, ChangeListener, Job, Record, RecordKey, SealedBatch, StoreError,
    Transaction,
};

/// Each entry moves the schema from version `index` to `index + 1`. Never edit a released entry. Text is compared
/// byte by byte (`COLLATE "C"`), as SQLite compares it, so listings page in the same order on both backends; record
/// scopes and ids are kept as bytes, since callers build some with separators PostgreSQL text refuses (NUL).
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE records (
        kind TEXT COLLATE "C" NOT NULL, scope BYTEA NOT NULL, id BYTEA NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (kind, scope, id)
    );
    CREATE TABLE jobs (
        id TEXT COLLATE "C" PRIMARY KEY, due_at BIGINT NOT NULL, kind TEXT NOT NULL, payload BYTEA NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (due_at, id);
    CREATE TABLE audit_batches (
        first_sequence BIGINT PRIMARY KEY, last_sequence BIGINT NOT NULL,
        first_time BIGINT NOT NULL, last_time BIGINT NOT NULL, body BYTEA NOT NULL, mac BYTEA NOT NULL
    );
    CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL);
"#,
    r#"
    ALTER TABLE jobs ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE generations (family TEXT COLLATE "C" PRIMARY KEY, value BIGINT NOT NULL);
"#,
    // The event log's sequence was a record of the events module, which every publishing transaction wrote: a
    // serialisation conflict between any two of them. A PostgreSQL sequence hands out numbers without one.
    r#"
    CREATE SEQUENCE event_sequence AS BIGINT MINVALUE 0 START 1;
    SELECT setval('event_sequence', COALESCE(
        (SELECT convert_from(body, 'UTF8')::BIGINT FROM records WHERE kind = 'event-sequence'), 0), true);
    DELETE FROM records WHERE kind = 'event-sequence';
"#,
    // Room in each page for a row's new version beside the old: an update that finds it touches no index entry
    // (PostgreSQL's heap-only update), so it does not meet, in the index, the reads of other serialisable
    // transactions that only shared the page.
    r#"
    ALTER TABLE records SET (fillfactor = 70);
    ALTER TABLE jobs SET (fillfactor = 70);
"#,
    // Object bodies, when the nodes keep them in the database (`postgres_blobs.rs`). Chunks are ciphertext:
    // stored out of line without trying to compress them.
    r#"
    CREATE TABLE blobs (
        id TEXT COLLATE "C" PRIMARY KEY, upload TEXT NOT NULL, length BIGINT NOT NULL, committed_at BIGINT NOT NULL
    );
    CREATE TABLE blob_chunks (
        upload TEXT COLLATE "C" NOT NULL, number INTEGER NOT NULL, started_at BIGINT NOT NULL, data BYTEA NOT NULL,
        PRIMARY KEY (upload, number)
    );
    ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
"#,
    // CloudTrail's LookupEvents: which batches hold records found by a key, per batch (see the SQLite schema).
    r#"
    CREATE TABLE audit_lookup (
        key TEXT COLLATE "C" NOT NULL, first_sequence BIGINT NOT NULL, first_time BIGINT NOT NULL,
        last_time BIGINT NOT NULL,
        PRIMARY KEY (key, first_sequence)
    );
"#,
];

/// The channel generation bumps are announced on; the payload is the family.
const CHANGES_CHANNEL: &str = "keyhaven_changes";

/// How long the change listener waits before connecting again after losing its connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// The advisory lock nodes take to migrate one at a time ("keyhaven" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b65_7968_6176_656e;

/// The advisory lock audit appends hold while they extend the chain.
const AUDIT_LOCK: i64 = 0x6b68_6175_6469_7400;

/// Meta keys the audit appends and prunes write in the same transaction as the batches.
const AUDIT_HEAD: &str = "audit-head";
const AUDIT_ANCHOR: &str = "audit-anchor";

/// How often a transaction PostgreSQL refused for a conflict is run again before the caller is told to retry.
const ATTEMPTS: u32 = 64;

/// How long a caller waits for a pooled connection, and for a new one to open.
const POOL_WAIT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the store reaches PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL or key=value string (`postgres://user@host:5432/db`); its `sslmode` (`disable`, `prefer`,
    /// `require`) says whether TLS is used.
    pub url: String,
    /// The most connections this node opens.
    pub max_connections: usize,
    /// PEM certificates of the authorities the database's certificate must chain to (its name checked against the
    /// host): TLS is offered only with them, so a connection is never encrypted to an unverified server.
    pub ca_pem: Option<Vec<u8>>,
}

/// TLS through rustls on aws-lc-rs (the one TLS and crypto stack), verifying the server against `ca_pem`.
fn tls_connector(ca_pem: &[u8]) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let refused = |what: String| StoreError::Backend(format!("the PostgreSQL CA certificates: {what}"));
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots
            .add(certificate.map_err(|e| refused(e.to_string()))?)
            .map_err(|e| refused(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(refused("no certificate in the file".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

pub struct PostgresStore {
    pool: Pool,
    listeners: Arc<Mutex<Vec<ChangeListener>>>,
    /// Drives the connections; shut down without waiting when the store goes.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects and brings the schema up to date (one node at a time); refuses a schema newer than this build's.
    pub fn open(options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Backend(format!("the PostgreSQL URL does not parse: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        match &options.ca_pem {
            Some(ca_pem) => Self::start(config, options, tls_connector(ca_pem)?),
            None if config.get_ssl_mode() == SslMode::Require => Err(StoreError::Backend(
                "the URL requires TLS (sslmode=require) but no CA certificates were given to verify the server with"
                    .into(),
            )),
            None => Self::start(config, options, NoTls),
        }
    }

    fn start<T>(config: tokio_postgres::Config, options: &PostgresOptions, tls: T) -> Result<Self, StoreError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("keyhaven-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the PostgreSQL runtime: {e}")))?;
        let listeners: Arc<Mutex<Vec<ChangeListener>>> = Arc::default();
        let (listening, heard_listening) = tokio::sync::oneshot::channel();
        runtime.spawn(listen(config.clone(), tls.clone(), listeners.clone(), listening));
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let store = Self {
            pool,
            listeners,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        };
        store.migrate()?;
        // Changes made from now on are heard of (once the listener is up; it keeps trying when it is not).
        let _ = store.wait(async { tokio::time::timeout(CONNECT_TIMEOUT, heard_listening).await });
        Ok(store)
    }

    /// Waits on this thread for `future`, which runs in the store's runtime context.
    ///
    /// Unconstrained by tokio's cooperative budget: a caller on a tokio worker (a request making many store calls
    /// in one task, as a console page does) may have spent its task's budget, and a budgeted pool or socket future
    /// would then answer Pending and wake itself forever inside this `block_on`, spinning the thread.
    fn wait<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle.enter();
        futures_executor::block_on(tokio::task::unconstrained(future))
    }

    fn connection(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.wait(self.pool.get())
            .map_err(|e| StoreError::Unavailable(format!("no PostgreSQL connection: {}", with_causes(&e))))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let client = self.connection()?;
        self.wait(in_transaction(&client, async {
            client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS keyhaven_schema (version INTEGER NOT NULL)")
                .await?;
            let current = client
                .query_opt("SELECT version FROM keyhaven_schema", &[])
                .await?
                .map(|r| r.get::<_, i32>(0));
            let supported = MIGRATIONS.len() as i32;
            let found = current.unwrap_or(0);
            if found > supported {
                return Err(StoreError::SchemaTooNew {
                    found: i64::from(found),
                    supported: i64::from(supported),
                });
            }
            for sql in MIGRATIONS.iter().skip(found as usize) {
                client.batch_execute(sql).await?;
            }
            let record = match current {
                None => "INSERT INTO keyhaven_schema (version) VALUES ($1)",
                Some(_) => "UPDATE keyhaven_schema SET version = $1",
            };
            client.execute(record, &[&supported]).await?;
            Ok(())
        }))
    }

    /// Runs `work` in a transaction begun with `begin`, committing when it succeeds; run again, up to `ATTEMPTS`
    /// times, while PostgreSQL refuses it for a conflict with another transaction. Asked for on a thread already
    /// running a transaction on this store (its work reads through the store again), `work` joins that transaction:
    /// it sees the transaction's own writes, and takes no second connection, so a full pool cannot deadlock.
    ///
    /// Round trips are what a request waits for: `begin` goes out with the work's first statement, work without a
    /// statement begins nothing, and a snapshot's COMMIT is left to the store's runtime (it can change nothing).
    fn run(
        &self,
        begin: &'static str,
        read_only: bool,
        work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tx = PgTransaction { store: self, read_only };
        if self.running_here() {
            return work(&mut tx);
        }
        let running = Running::enter(self.id(), self.connection()?);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
            }
            self.with_running(|r| {
                r.conflict = false;
                r.begin = Some(begin);
            })?;
            let outcome = work(&mut tx);
            let (begun, conflicted) =
                self.with_running(|r| (r.begin.take().is_none(), std::mem::take(&mut r.conflict)))?;
            let ended = match outcome {
                Ok(()) if !begun => Ok(()),
                Ok(()) if read_only => {
                    if let Some(client) = running.into_connection() {
                        self.handle.spawn(async move {
                            let _ = client.batch_execute("COMMIT").await;
                        });
                    }
                    return Ok(());
                }
                Ok(()) => self
                    .on_running(|client| self.wait(client.batch_execute("COMMIT")))?
                    .map_err(StoreError::from),
                Err(e) if !begun => Err(e),
                Err(e) => {
                    self.on_running(|client| self.wait(client.batch_execute("ROLLBACK")))??;
                    Err(e)
                }
            };
            match ended {
                Err(StoreError::Conflict) => continue,
                Err(_) if conflicted => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    /// This store's identity among the transactions a thread runs.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn running_here(&self) -> bool {
        RUNNING.with(|running| running.borrow().iter().any(|r| r.store == self.id()))
    }

    /// Runs `use_running` on the transaction this thread runs on this store.
    fn with_running<T>(&self, use_running: impl FnOnce(&mut Running) -> T) -> Result<T, StoreError> {
        RUNNING.with(|running| {
            let mut running = running.borrow_mut();
            let mine = running
                .iter_mut()
                .rev()
                .find(|r| r.store == self.id())
                .ok_or(StoreError::Closed)?;
            Ok(use_running(mine))
        })
    }

    /// Runs `use_connection` with the connection of the transaction this thread runs on this store.
    fn on_running<T>(&self, use_connection: impl FnOnce(&deadpool_postgres::Client) -> T) -> Result<T, StoreError> {
        RUNNING.with(|running| {
            let running = running.borrow();
            let mine = running
                .iter()
                .rev()
                .find(|r| r.store == self.id())
                .ok_or(StoreError::Closed)?;
            Ok(use_connection(&mine.client))
        })
    }

    /// Runs one statement of this thread's transaction (`statement` makes its future from the connection), sent
    /// together with the transaction's BEGIN when it is the first.
    fn in_running<T>(
        &self,
        statement: impl AsyncFnOnce(&deadpool_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Result<T, tokio_postgres::Error>, StoreError> {
        let begin = self.with_running(|r| r.begin.take())?;
        self.on_running(|client| {
            self.wait(async {
                match begin {
                    None => statement(client).await,
                    // Joined futures are polled in order: BEGIN is sent first, and PostgreSQL answers in order.
                    Some(begin) => {
                        let (began, done) =
                            futures_util::future::join(client.batch_execute(begin), statement(client)).await;
                        began.and(done)
                    }
                }
            })
        })
    }

    fn note_conflict(&self) {
        let _ = self.with_running(|r| r.conflict = true);
    }

    /// Runs one statement outside any transaction (it commits by itself).
    pub(crate) fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let client = self.connection()?;
        self.wait(async {
            let statement = client.prepare_cached(sql).await?;
            Ok(client.query(&statement, params).await?)
        })
    }

    /// Runs statements in one transaction, all or none.
    pub(crate) fn batch(&self, statements: &[(&str, &[&(dyn ToSql + Sync)])]) -> Result<u64, StoreError> {
        let client = self.connection()?;
        self.wait(in_transaction(&client, async {
            let mut changed = 0;
            for (sql, params) in statements {
                changed += client.execute(*sql, params).await?;
            }
            Ok(changed)
        }))
    }
}

/// Runs `work` (statements on `client`) between BEGIN and COMMIT, rolling back when it fails.
async fn in_transaction<T>(
    client: &tokio_postgres::Client,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    client.batch_execute("BEGIN").await?;
    match work.await {
        Ok(value) => {
            client.batch_execute("COMMIT").await?;
            Ok(value)
        }
        Err(e) => {
            client.batch_execute("ROLLBACK").await?;
            Err(e)
        }
    }
}

/// Keeps a connection listening for generation bumps, telling `listeners` of each; reconnects when it is lost.
async fn listen<T>(
    config: tokio_postgres::Config,
    tls: T,
    listeners: Arc<Mutex<Vec<ChangeListener>>>,
    listening: tokio::sync::oneshot::Sender<()>,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + 'static,
    T::Stream: Send,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut listening = Some(listening);
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let notify = listeners.clone();
                let messages = tokio::spawn(async move {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(AsyncMessage::Notification(change)) => {
                                let current: Vec<ChangeListener> = notify.lock().map(|l| l.clone()).unwrap_or_default();
                                for listener in current {
                                    listener(change.payload());
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "the PostgreSQL change listener lost its connection");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}")).await {
                    Ok(()) => {
                        if let Some(listening) = listening.take() {
                            let _ = listening.send(());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen for changes on PostgreSQL"),
                }
                let _ = messages.await;
                drop(client);
            }
            Err(e) => tracing::warn!(error = %e, "the PostgreSQL change listener cannot connect"),
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// A random pause before running a conflicting transaction again, growing with the attempts (up to 64 ms), so
/// that transactions that keep meeting stop meeting.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let ceiling = 1u64 << attempt.min(6);
    Duration::from_micros(hasher.finish() % (ceiling * 1000))
}

/// An error's message followed by those of its causes (the driver's own stops at "error connecting to server").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = inner.source();
    }
    message
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
                StoreError::Conflict
            }
            Some(code) if *code == SqlState::DISK_FULL => StoreError::Full,
            _ if e.is_closed() => StoreError::Unavailable(with_causes(&e)),
            _ => StoreError::Backend(match e.as_db_error() {
                Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
                None => with_causes(&e),
            }),
        }
    }
}

/// A transaction a thread is running on a store: its connection, and whether PostgreSQL refused a statement of it
/// for a conflict (then the transaction is run again, whatever its work answers).
struct Running {
    store: usize,
    client: deadpool_postgres::Object,
    conflict: bool,
    /// The BEGIN still to be sent, with the transaction's first statement.
    begin: Option<&'static str>,
}

thread_local! {
    static RUNNING: std::cell::RefCell<Vec<Running>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Running {
    /// Records the transaction as this thread's until the guard goes (the connection then returns to the pool).
    fn enter(store: usize, client: deadpool_postgres::Object) -> RunningGuard {
        RUNNING.with(|running| {
            running.borrow_mut().push(Running {
                store,
                client,
                conflict: false,
                begin: None,
            })
        });
        RunningGuard
    }
}

struct RunningGuard;

impl RunningGuard {
    /// Ends the record of the transaction, handing back its connection.
    fn into_connection(self) -> Option<deadpool_postgres::Object> {
        std::mem::forget(self);
        RUNNING.with(|running| running.borrow_mut().pop()).map(|r| r.client)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|running| running.borrow_mut().pop());
    }
}

struct PgTransaction<'s> {
    store: &'s PostgresStore,
    read_only: bool,
}

impl PgTransaction<'_> {
    fn rows(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let outcome = self.store.in_running(async |client| {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        })?;
        outcome.map_err(|e| self.failed(e))
    }

    fn writable(&self) -> Result<(), StoreError> {
        match self.read_only {
            true => Err(StoreError::Backend("a snapshot is read-only".into())),
            false => Ok(()),
        }
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.writable()?;
        let outcome = self.store.in_running(async |client| {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, params).await
        })?;
        outcome.map_err(|e| self.failed(e))
    }

    fn failed(&mut self, e: tokio_postgres::Error) -> StoreError {
        let error = StoreError::from(e);
        if matches!(error, StoreError::Conflict) {
            self.store.note_conflict();
        }
        error
    }
}

impl Transaction for PgTransaction<'_> {
    fn get(&mut self, kind: &str, scope: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.rows(
            "SELECT body FROM records WHERE kind = $1 AND scope = $2 AND id = $3",
            &[&kind, &scope.as_bytes(), &id.as_bytes()],
        )?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn put(&mut self, kind: &str, scope: &str, id: &str, body: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO records (kind, scope, id, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, scope, id) DO UPDATE SET body = excluded.body",
            &[&kind, &scope.as_bytes(), &id.as_bytes(), &body],
        )?;
        Ok(())
    }

    fn delete(&mut self, kind: &str, scope: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM records WHERE kind = $1 AND scope = $2 AND id = $3",
            &[&kind, &scope.as_bytes(), &id.as_bytes()],
        )? > 0)
    }

    fn list(&mut self, kind: &str, scope: &str, after: Option<&str>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.rows(
            "SELECT id, body FROM records WHERE kind = $1 AND scope = $2 AND id > $3 ORDER BY id LIMIT $4",
            &[&kind, &scope.as_bytes(), &after.unwrap_or("").as_bytes(), &limit],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Record {
                    id: text(row.get(0))?,
                    body: row.get(1),
                })
            })
            .collect()
    }

    fn schedule(&mut self, job: &Job) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO jobs (id, due_at, kind, payload) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, kind = excluded.kind, payload = excluded.payload,
             claimed_until = 0",
            &[&job.id, &job.due_at, &job.kind, &job.payload],
        )?;
        Ok(())
    }

    fn schedule_if_absent(&mut self, job: &Job) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO jobs (id, due_at, kind, payload) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            &[&job.id, &job.due_at, &job.kind, &job.payload],
        )?;
        Ok(())
    }

    fn cancel(&mut self, job_id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM jobs WHERE id = $1", &[&job_id])?;
        Ok(())
    }

    fn bump_generation(&mut self, family: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO generations (family, value) VALUES ($1, 1)
             ON CONFLICT (family) DO UPDATE SET value = generations.value + 1",
            &[&family],
        )?;
        // Delivered when (and only if) the transaction commits.
        self.rows("SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &family])?;
        Ok(())
    }

    fn next_sequence(&mut self) -> Result<u64, StoreError> {
        self.writable()?;
        let rows = self.rows("SELECT nextval('event_sequence')", &[])?;
        Ok(sequence_value(&rows))
    }
}

/// The last number taken from the event sequence (`last_value` counts as taken only once `nextval` handed it out).
const LAST_TAKEN: &str = "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM event_sequence";

/// The counter in the first column of the first row (0 when there is none).
fn sequence_value(rows: &[Row]) -> u64 {
    rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64)
}

/// A job from a row of `id, due_at, kind, payload`.
fn job(row: &Row) -> Job {
    Job {
        id: row.get(0),
        due_at: row.get(1),
        kind: row.get(2),
        payload: row.get(3),
    }
}

/// A record scope or id, stored as bytes, as the text it was written as.
fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Backend("a stored record id is not UTF-8".into()))
}

fn audit_batch(row: &Row) -> AuditBatch {
    let mac: Vec<u8> = row.get(5);
    AuditBatch {
        first_sequence: row.get::<_, i64>(0) as u64,
        last_sequence: row.get::<_, i64>(1) as u64,
        first_time: row.get(2),
        last_time: row.get(3),
        body: row.get(4),
        mac: mac.try_into().unwrap_or([0u8; 32]),
    }
}

/// One row per key for a batch; `ON CONFLICT`: a batch indexed again (a backfill racing another node's) is unchanged.
const INSERT_LOOKUP_KEYS: &str = "INSERT INTO audit_lookup (key, first_sequence, first_time, last_time)
     SELECT key, $2, $3, $4 FROM unnest($1::TEXT[]) AS key ON CONFLICT DO NOTHING";

const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

impl Backend for PostgresStore {
    fn transaction(
        &self,
        work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.run("BEGIN ISOLATION LEVEL SERIALIZABLE", false, work)
    }

    fn snapshot(&self, work: &mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", true, work)
    }

    fn claim_due_jobs(&self, now: i64, until: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: a node claiming at the same moment takes other jobs instead of waiting for these.
        let rows = self.query(
            "UPDATE jobs SET claimed_until = $2 WHERE id IN (
                 SELECT id FROM jobs WHERE due_at <= $1 AND claimed_until <= $1 ORDER BY due_at, id LIMIT $3
                 FOR UPDATE SKIP LOCKED
             ) RETURNING id, due_at, kind, payload",
            &[&now, &until, &limit],
        )?;
        let jobs = rows.iter().map(job).collect();
        Ok(crate::sqlite::earliest_first(jobs))
    }

    fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let rows = self.query("SELECT MIN(GREATEST(due_at, claimed_until)) FROM jobs", &[])?;
        Ok(rows.first().and_then(|row| row.get(0)))
    }

    fn append_audit(
        &self,
        lookup_keys: &[String],
        seal: &mut dyn FnMut(&AuditTail) -> Result<SealedBatch, StoreError>,
    ) -> Result<(), StoreError> {
        let client = self.connection()?;
        self.wait(async {
            // Two round trips, each a pipeline PostgreSQL runs in order: BEGIN, the lock every node's writer takes
            // before reading the tail (one chain, extended by one at a time), and the tail, read (READ COMMITTED)
            // once the lock is held; then the batch, the head and COMMIT. The statements are prepared once per
            // connection, so that nothing waits for a prepare between them.
            let (lock, read_tail, insert, upsert_head, index) = futures_util::future::try_join5(
                client.prepare_cached("SELECT pg_advisory_xact_lock($1)"),
                client.prepare_cached(
                    "SELECT newest.last_sequence, newest.mac, (SELECT value FROM meta WHERE key = $1)
                     FROM (SELECT 1) AS always LEFT JOIN (
                         SELECT last_sequence, mac FROM audit_batches ORDER BY first_sequence DESC LIMIT 1
                     ) AS newest ON true",
                ),
                client.prepare_cached(
                    "INSERT INTO audit_batches (first_sequence, last_sequence, first_time, last_time, body, mac)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                ),
                client.prepare_cached(UPSERT_META),
                client.prepare_cached(INSERT_LOOKUP_KEYS),
            )
            .await?;
            let (began, locked, tail) = futures_util::future::join3(
                client.batch_execute("BEGIN"),
                client.execute(&lock, &[&AUDIT_LOCK]),
                client.query_one(&read_tail, &[&AUDIT_ANCHOR]),
            )
            .await;
            let read = began.and(locked).and(tail).map(|row| AuditTail {
                last: row
                    .get::<_, Option<i64>>(0)
                    .map(|sequence| (sequence as u64, row.get::<_, Option<Vec<u8>>>(1).unwrap_or_default()))
                    .map(|(sequence, mac)| (sequence, mac.try_into().unwrap_or([0u8; 32]))),
                anchor: row.get(2),
            });
            let sealed = match read {
                Ok(tail) => seal(&tail),
                Err(e) => Err(e.into()),
            };
            let (batch, head) = match sealed {
                Ok(sealed) => sealed,
                Err(e) => {
                    client.batch_execute("ROLLBACK").await?;
                    return Err(e);
                }
            };
            let (first, last) = (batch.first_sequence as i64, batch.last_sequence as i64);
            let (inserted, indexed, headed, committed) = futures_util::future::join4(
                client.execute(
                    &insert,
                    &[
                        &first,
                        &last,
                        &batch.first_time,
                        &batch.last_time,
                        &batch.body,
                        &batch.mac.as_slice(),
                    ],
                ),
                client.execute(&index, &[&lookup_keys, &first, &batch.first_time, &batch.last_time]),
                client.execute(&upsert_head, &[&AUDIT_HEAD, &head]),
                // After a failed statement PostgreSQL answers this COMMIT by rolling back.
                client.batch_execute("COMMIT"),
            )
            .await;
            inserted.and(indexed).and(headed).and(committed)?;
            Ok(())
        })
    }

    fn last_audit(&self) -> Result<Option<AuditBatch>, StoreError> {
        let rows = self.query(
            "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
             ORDER BY first_sequence DESC LIMIT 1",
            &[],
        )?;
        Ok(rows.first().map(audit_batch))
    }

    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditBatch>, StoreError> {
        let (after, limit) = (after as i64, i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.query(
            "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
             WHERE first_sequence > $1 ORDER BY first_sequence LIMIT $2",
            &[&after, &limit],
        )?;
        Ok(rows.iter().map(audit_batch).collect())
    }

    fn lookup_audit(&self, key: &str, before: u64, from: i64, to: i64, limit: usize) -> Result<Vec<u64>, StoreError> {
        let (before, limit) = (
            i64::try_from(before).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        let rows = self.query(
            "SELECT first_sequence FROM audit_lookup
             WHERE key = $1 AND first_sequence < $2 AND last_time >= $3 AND first_time <= $4
             ORDER BY first_sequence DESC LIMIT $5",
            &[&key, &before, &from, &to, &limit],
        )?;
        Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
    }

    fn audit_batch(&self, first_sequence: u64) -> Result<Option<AuditBatch>, StoreError> {
        let rows = self.query(
            "SELECT first_sequence, last_sequence, first_time, last_time, body, mac FROM audit_batches
             WHERE first_sequence = $1",
            &[&(first_sequence as i64)],
        )?;
        Ok(rows.first().map(audit_batch))
    }

    fn index_audit(&self, batch: &AuditBatch, lookup_keys: &[String]) -> Result<(), StoreError> {
        let first = batch.first_sequence as i64;
        self.query(
            INSERT_LOOKUP_KEYS,
            &[&lookup_keys, &first, &batch.first_time, &batch.last_time],
        )?;
        Ok(())
    }

    fn audit_indexed_through(&self) -> Result<Option<u64>, StoreError> {
        let rows = self.query("SELECT MAX(first_sequence) FROM audit_lookup", &[])?;
        Ok(rows
            .first()
            .and_then(|row| row.get::<_, Option<i64>>(0))
            .map(|s| s as u64))
    }

    fn audit_head(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(AUDIT_HEAD)
    }

    fn audit_anchor(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(AUDIT_ANCHOR)
    }

    fn prune_audit(&self, through: u64, anchor: &[u8]) -> Result<usize, StoreError> {
        let through = through as i64;
        let client = self.connection()?;
        self.wait(in_transaction(&client, async {
            client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
                .await?;
            let removed = client
                .execute("DELETE FROM audit_batches WHERE last_sequence <= $1", &[&through])
                .await?;
            client
                .execute("DELETE FROM audit_lookup WHERE first_sequence <= $1", &[&through])
                .await?;
            // Another node may have pruned further already: its anchor stays.
            if removed > 0 {
                client.execute(UPSERT_META, &[&AUDIT_ANCHOR, &anchor]).await?;
            }
            Ok(removed as usize)
        }))
    }

    fn audit_usage(&self) -> Result<AuditUsage, StoreError> {
        let rows = self.query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0)::BIGINT, MIN(first_time) FROM audit_batches",
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Backend("an aggregate answered no row".into()))?;
        Ok(AuditUsage {
            batches: row.get::<_, i64>(0) as u64,
            bytes: row.get::<_, i64>(1) as u64,
            oldest_time: row.get(2),
        })
    }

    fn oldest_audit(&self, limit: usize) -> Result<Vec<(u64, i64, u64)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT last_sequence, last_time, LENGTH(body)::BIGINT FROM audit_batches ORDER BY first_sequence LIMIT $1",
            &[&limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get(1), row.get::<_, i64>(2) as u64))
            .collect())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = $1", &[&key])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.query(UPSERT_META, &[&key, &value])?;
        Ok(())
    }

    fn wipe(&self) -> Result<(), StoreError> {
        self.batch(&[
            ("DELETE FROM records", &[]),
            ("DELETE FROM jobs", &[]),
            ("UPDATE generations SET value = value + 1", &[]),
        ])?;
        Ok(())
    }

    fn scan_records(&self, after: Option<&RecordKey>, limit: usize) -> Result<Vec<(RecordKey, Vec<u8>)>, StoreError> {
        let start = after.cloned().unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT kind, scope, id, body FROM records WHERE (kind, scope, id) > ($1, $2, $3)
             ORDER BY kind, scope, id LIMIT $4",
            &[&start.kind, &start.scope.as_bytes(), &start.id.as_bytes(), &limit],
        )?;
        rows.iter()
            .map(|row| {
                let key = RecordKey {
                    kind: row.get(0),
                    scope: text(row.get(1))?,
                    id: text(row.get(2))?,
                };
                Ok((key, row.get(3)))
            })
            .collect()
    }

    fn all_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows = self.query("SELECT id, due_at, kind, payload FROM jobs ORDER BY id", &[])?;
        Ok(rows.iter().map(job).collect())
    }

    fn sequence(&self) -> Result<u64, StoreError> {
        Ok(sequence_value(&self.query(LAST_TAKEN, &[])?))
    }

    fn advance_sequence(&self, taken: u64) -> Result<(), StoreError> {
        let taken = i64::try_from(taken).map_err(|_| StoreError::Backend("a sequence past i64".into()))?;
        self.query(
            &format!("SELECT setval('event_sequence', GREATEST($1, ({LAST_TAKEN})), true)"),
            &[&taken],
        )?;
        Ok(())
    }

    fn all_meta(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.query("SELECT key, value FROM meta ORDER BY key", &[])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn generation(&self, family: &str) -> Result<u64, StoreError> {
        Ok(sequence_value(&self.query(
            "SELECT value FROM generations WHERE family = $1",
            &[&family],
        )?))
    }

    fn subscribe(&self, listener: ChangeListener) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(listener);
        }
    }
}
