//! The audit log on disk: records are appended by one group-commit writer as compressed batches,
//! each covered by a keyed chain MAC, with a sealed head written in the same transaction, so that
//! `verify_chain` detects a modified, deleted, inserted or truncated record offline.
//!
//! - `mac_n = HMAC(K, "batch" || mac_{n-1} || first || last || SHA-256(records))`, K derived from the
//!   root key; the head seals (last sequence, mac) and a prune seals where what remains starts.
//! - Fails closed: while a batch cannot be persisted the log is unhealthy and the server answers 503;
//!   the writer keeps the batch and retries, so nothing queued is lost, and it recovers by itself.
//!   A reserve file is given up when the disk fills, to make room for records of changes already made.
//! - State changes answer only once their record is durable; reads may not wait (strict mode: all).

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::read::DeflateDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha256, sha256};
use keyhaven_crypto::{RootKey, SecretBytes};
use keyhaven_store::{AuditBatch, AuditTail, Backend, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::lookup::{EventKeys, Found, batch_keys};
use super::{AuditEvent, ServiceEvent};
use crate::error::KernelError;

const QUEUE_CAPACITY: usize = 65_536;
const MAX_BATCH: usize = 4_096;
const CHAIN_PURPOSE: &[u8] = b"keyhaven/audit-chain/v1";
const RETRY_EVERY: Duration = Duration::from_millis(200);
/// How long records nobody waits for (reads) gather into one batch. A record a request waits for
/// wakes the writer at once (`AuditLog::record` unparks it), so this delays no answer.
const LINGER: Duration = Duration::from_millis(20);
/// How long a stopping server waits for audit records the store cannot take (see `AuditLog::shutdown`).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How often a stopping server looks whether the writer has finished.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// How long a state-changing request waits for its record before it is answered 503 (the record
/// stays queued and is written once the disk allows).
const DURABILITY_WAIT: Duration = Duration::from_secs(30);

/// How long and how much of the log is kept. Pruning never removes what a trail has not delivered.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    pub max_age_seconds: Option<i64>,
    pub max_bytes: Option<u64>,
    /// The last record every trail has delivered: nothing after it is pruned.
    pub delivered_through: DeliveredThrough,
}

/// How the service that delivers trails finds the last record all of them have delivered, from the store (so every
/// node's writer sees what any node's trails have done).
pub type DeliveryMark = Arc<dyn Fn() -> Result<u64, KernelError> + Send + Sync>;

/// The delivery mark trails share with the audit writer: until a service says how to find it (`follow`), everything
/// counts as delivered; when it cannot be found, nothing does.
#[derive(Clone, Default)]
pub struct DeliveredThrough(Arc<std::sync::RwLock<Option<DeliveryMark>>>);

impl std::fmt::Debug for DeliveredThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveredThrough")
    }
}

impl DeliveredThrough {
    pub fn follow(&self, mark: DeliveryMark) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(mark);
        }
    }

    fn get(&self) -> u64 {
        match self.0.read().ok().and_then(|slot| slot.clone()) {
            None => u64::MAX,
            Some(mark) => mark().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot tell what trails have delivered; pruning nothing");
                0
            }),
        }
    }
}

/// How the audit log runs.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// Every request (reads too) answers only once its record is durable.
    pub strict: bool,
    /// A file of this many bytes kept beside the store and deleted when the disk fills, so that the
    /// records of changes already made can still be written.
    pub reserve: Option<(PathBuf, u64)>,
    pub retention: Retention,
}

/// The keyed chain: batch MACs, the sealed head and the sealed anchor.
struct Chain {
    key: SecretBytes,
}

impl Chain {
    fn new(root: &RootKey) -> Result<Self, KernelError> {
        Ok(Self {
            key: root.derive(CHAIN_PURPOSE)?,
        })
    }

    fn batch_mac(&self, previous: &[u8; 32], first: u64, last: u64, records: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(5 + 32 + 16 + 32);
        input.extend_from_slice(b"batch");
        input.extend_from_slice(previous);
        input.extend_from_slice(&first.to_be_bytes());
        input.extend_from_slice(&last.to_be_bytes());
        input.extend_from_slice(&sha256(records));
        hmac_sha256(self.key.expose(), &input)
    }

    /// `sequence || mac || HMAC(K, what || sequence || mac)`.
    fn seal(&self, what: &[u8], sequence: u64, mac: &[u8; 32]) -> Vec<u8> {
        let mut sealed = Vec::with_capacity(8 + 32 + 32);
        sealed.extend_from_slice(&sequence.to_be_bytes());
        sealed.extend_from_slice(mac);
        let mut input = what.to_vec();
        input.extend_from_slice(&sealed);
        sealed.extend_from_slice(&hmac_sha256(self.key.expose(), &input));
        sealed
    }

    fn open(&self, what: &[u8], sealed: &[u8]) -> Option<(u64, [u8; 32])> {
        if sealed.len() != 72 {
            return None;
        }
        let mut input = what.to_vec();
        input.extend_from_slice(&sealed[..40]);
        if !constant_time_eq(&hmac_sha256(self.key.expose(), &input), &sealed[40..]) {
            return None;
        }
        let sequence = u64::from_be_bytes(sealed[..8].try_into().ok()?);
        Some((sequence, sealed[8..40].try_into().ok()?))
    }
}

/// Deflate at the fast level, reusing one compressor: its state is large, and batches come often.
struct Compressor(Compress);

impl Compressor {
    fn new() -> Self {
        Self(Compress::new(Compression::fast(), false))
    }

    fn compress(&mut self, records: &[u8]) -> Result<Vec<u8>, KernelError> {
        self.0.reset();
        let mut out = Vec::with_capacity(records.len() / 4 + 64);
        loop {
            let consumed = usize::try_from(self.0.total_in()).unwrap_or(records.len());
            let status = self
                .0
                .compress_vec(&records[consumed.min(records.len())..], &mut out, FlushCompress::Finish)
                .map_err(|e| KernelError::Internal(format!("compressing audit records: {e}")))?;
            match status {
                Status::StreamEnd => return Ok(out),
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(1024)),
            }
        }
    }
}

fn decompress(body: &[u8]) -> Option<Vec<u8>> {
    let mut records = Vec::new();
    DeflateDecoder::new(body).read_to_end(&mut records).ok()?;
    Some(records)
}

struct Queued {
    event_time: i64,
    record: Vec<u8>,
    /// What the event history finds the record by (`lookup`).
    lookup_keys: EventKeys,
    durable: Option<oneshot::Sender<()>>,
}

/// Handle to the audit writer. Cloning shares the same writer.
#[derive(Clone)]
pub struct AuditLog {
    sender: Arc<Mutex<Option<mpsc::Sender<Queued>>>>,
    healthy: Arc<AtomicBool>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// The writer thread, unparked when a record someone waits for is queued.
    writer_thread: std::thread::Thread,
    strict: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("healthy", &self.is_healthy())
            .field("strict", &self.strict)
            .finish()
    }
}

impl AuditLog {
    /// Starts the writer thread, continuing the chain from the last persisted batch.
    pub fn start(store: Arc<dyn Backend>, root: &RootKey, settings: AuditSettings) -> Result<Self, KernelError> {
        let chain = Chain::new(root)?;
        // The chain must continue from what is stored: refuse to start where it cannot.
        let tail = AuditTail {
            last: store.last_audit()?.map(|b| (b.last_sequence, b.mac)),
            anchor: store.audit_anchor()?,
        };
        chain_end(&chain, &tail)?;
        let indexed = super::lookup::backfill(&*store)?;
        if indexed > 0 {
            tracing::info!(batches = indexed, "indexed audit batches for the event history");
        }
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            store,
            chain,
            healthy: healthy.clone(),
            reserve: settings.reserve,
            retention: settings.retention,
            retention_checked: Instant::now(),
            compressor: Compressor::new(),
        };
        writer.make_reserve();
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| KernelError::Internal(format!("cannot start audit writer: {e}")))?;
        Ok(Self {
            sender: Arc::new(Mutex::new(Some(sender))),
            healthy,
            writer_thread: handle.thread().clone(),
            writer: Arc::new(Mutex::new(Some(handle))),
            strict: settings.strict,
        })
    }

    /// False while records cannot be persisted: the server must not serve requests.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    fn sender(&self) -> Result<mpsc::Sender<Queued>, KernelError> {
        self.sender
            .lock()
            .map_err(|_| KernelError::Internal("audit queue poisoned".into()))?
            .clone()
            .ok_or_else(|| KernelError::Internal("audit log is shut down".into()))
    }

    /// Enqueues the event without blocking a runtime thread. A state-changing request (`changes`)
    /// or, in strict mode, any request waits until its record is durable.
    pub async fn record(&self, event: &AuditEvent, changes: bool) -> Result<(), KernelError> {
        let record = serde_json::to_vec(&event.record())?;
        let lookup_keys = Found::of_event(event).into_keys();
        let (durable, done) = if changes || self.strict {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.sender()?
            .send(Queued {
                event_time: event.event_time.unix_timestamp(),
                record,
                lookup_keys,
                durable,
            })
            .await
            .map_err(|_| KernelError::Internal("audit writer stopped".into()))?;
        if let Some(done) = done {
            // Ends the writer's linger: this request answers once the batch is written.
            self.writer_thread.unpark();
            match tokio::time::timeout(DURABILITY_WAIT, done).await {
                Ok(Ok(())) => {}
                _ => return Err(KernelError::Internal("audit record was not persisted in time".into())),
            }
        }
        Ok(())
    }

    /// Enqueues a service event from a worker thread (never from an async task).
    pub fn record_service_event(&self, event: &ServiceEvent) -> Result<(), KernelError> {
        let record = event.to_record();
        self.sender()?
            .blocking_send(Queued {
                event_time: event.event_time.unix_timestamp(),
                record: serde_json::to_vec(&record)?,
                lookup_keys: Found::of_record(&record).into_keys(),
                durable: None,
            })
            .map_err(|_| KernelError::Internal("audit writer stopped".into()))
    }

    /// Stops accepting records and waits until every queued record is persisted, or, while the store cannot take
    /// them (unreachable, full), for `SHUTDOWN_WAIT` at most: state changes' records were durable before their
    /// requests answered, so what a longer wait could save is reads' records, and a stopping node must not hang.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        self.writer_thread.unpark();
        let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) else {
            return;
        };
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while !handle.is_finished() && (self.is_healthy() || Instant::now() < deadline) {
            std::thread::sleep(SHUTDOWN_POLL);
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            tracing::error!("stopping with audit records of reads not persisted: the store cannot take them");
        }
    }
}

struct Writer {
    store: Arc<dyn Backend>,
    chain: Chain,
    healthy: Arc<AtomicBool>,
    reserve: Option<(PathBuf, u64)>,
    retention: Retention,
    retention_checked: Instant,
    compressor: Compressor,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Queued>) {
        loop {
            let first = if self.healthy.load(Ordering::SeqCst) {
                match receiver.blocking_recv() {
                    Some(item) => item,
                    None => return,
                }
            } else {
                // Unhealthy with nothing to write: the reserve could not be made. Retry it, so the
                // server recovers by itself once there is space again.
                match receiver.try_recv() {
                    Ok(item) => item,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        std::thread::sleep(RETRY_EVERY);
                        if self.make_reserve() {
                            tracing::warn!("audit reserve restored; serving requests again");
                            self.healthy.store(true, Ordering::SeqCst);
                        }
                        continue;
                    }
                }
            };
            let mut awaited = first.durable.is_some();
            let mut batch = vec![first];
            // Records nobody waits for (reads) linger to share a batch: fewer, larger batches
            // compress better and cost one commit instead of dozens. The writer sleeps until the
            // linger ends or a record someone waits for arrives (its sender unparks it).
            let linger_until = Instant::now() + LINGER;
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(item) => {
                        awaited |= item.durable.is_some();
                        batch.push(item);
                    }
                    Err(mpsc::error::TryRecvError::Empty) if !awaited => {
                        let now = Instant::now();
                        if now >= linger_until {
                            break;
                        }
                        std::thread::park_timeout(linger_until - now);
                    }
                    Err(_) => break,
                }
            }
            self.persist(batch);
            if self.retention_checked.elapsed() >= RETENTION_EVERY {
                self.retention_checked = Instant::now();
                if let Err(e) = self.prune() {
                    tracing::warn!(error = %e, "audit retention pass failed");
                }
            }
        }
    }

    /// Writes the batch, retrying until it is durable; meanwhile the log is unhealthy. The store numbers it after
    /// the chain's stored end, which other nodes' writers extend too.
    fn persist(&mut self, batch: Vec<Queued>) {
        let count = batch.len() as u64;
        let mut records = Vec::with_capacity(batch.iter().map(|q| q.record.len() + 1).sum());
        for item in &batch {
            records.extend_from_slice(&item.record);
            records.push(b'\n');
        }
        let lookup_keys = batch_keys(batch.iter().map(|q| &q.lookup_keys));
        let first_time = batch.iter().map(|q| q.event_time).min().unwrap_or_default();
        let last_time = batch.iter().map(|q| q.event_time).max().unwrap_or_default();
        let body = self.compressor.compress(&records);
        let chain = &self.chain;
        let mut seal = |tail: &AuditTail| {
            let body = body.as_ref().map_err(|e| StoreError::Backend(e.to_string()))?;
            let (previous, previous_mac) = chain_end(chain, tail).map_err(|e| StoreError::Backend(e.to_string()))?;
            let (first, last) = (previous + 1, previous + count);
            let mac = chain.batch_mac(&previous_mac, first, last, &records);
            let head = chain.seal(b"head", last, &mac);
            let batch = AuditBatch {
                first_sequence: first,
                last_sequence: last,
                first_time,
                last_time,
                body: body.clone(),
                mac,
            };
            Ok((batch, head))
        };
        let mut failures = 0u32;
        loop {
            match self.store.append_audit(&lookup_keys, &mut seal) {
                Ok(()) => break,
                Err(e) => {
                    if failures == 0 {
                        tracing::error!(error = %e, "audit records cannot be persisted; refusing requests until they are");
                    }
                    failures += 1;
                    self.healthy.store(false, Ordering::SeqCst);
                    if matches!(e, StoreError::Full) && self.release_reserve() {
                        continue;
                    }
                    std::thread::sleep(RETRY_EVERY);
                }
            }
        }
        for item in batch {
            if let Some(done) = item.durable {
                let _ = done.send(());
            }
        }
        // Healthy again once the reserve is back in place too.
        if self.make_reserve() {
            if failures > 0 {
                tracing::warn!("audit log persisted its backlog; serving requests again");
            }
            self.healthy.store(true, Ordering::SeqCst);
        } else {
            self.healthy.store(false, Ordering::SeqCst);
        }
    }

    /// Ensures the reserve file exists at its size; true when it does (or none is configured).
    fn make_reserve(&self) -> bool {
        let Some((path, size)) = &self.reserve else { return true };
        if std::fs::metadata(path).is_ok_and(|m| m.len() == *size) {
            return true;
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| {
                let chunk = vec![0u8; 64 * 1024];
                let mut left = *size;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    file.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
                file.sync_all()
            });
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        written.is_ok()
    }

    fn release_reserve(&self) -> bool {
        match &self.reserve {
            Some((path, _)) if std::fs::remove_file(path).is_ok() => {
                tracing::warn!("disk full: released the audit reserve to write pending records");
                true
            }
            _ => false,
        }
    }

    /// Removes the oldest batches beyond the retention limits, sealing where the rest starts.
    fn prune(&self) -> Result<(), KernelError> {
        if self.retention.max_age_seconds.is_none() && self.retention.max_bytes.is_none() {
            return Ok(());
        }
        let delivered = self.retention.delivered_through.get();
        let usage = self.store.audit_usage()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut excess = self
            .retention
            .max_bytes
            .map_or(0, |max| usage.bytes.saturating_sub(max));
        let mut through = None;
        let newest = self.store.last_audit()?.map_or(0, |b| b.last_sequence);
        // Never the last batch (the chain continues from it), nor one a trail has yet to deliver.
        for (last_sequence, last_time, bytes) in self.store.oldest_audit(10_000)? {
            let too_old = self.retention.max_age_seconds.is_some_and(|age| now - last_time > age);
            if last_sequence >= newest || last_sequence > delivered || !(too_old || excess > 0) {
                break;
            }
            excess = excess.saturating_sub(bytes);
            through = Some(last_sequence);
        }
        let Some(through) = through else { return Ok(()) };
        let last_pruned = self
            .store
            .audit_after(0, 10_000)?
            .into_iter()
            .take_while(|b| b.last_sequence <= through)
            .last()
            .ok_or_else(|| KernelError::Internal("pruned batch vanished".into()))?;
        let anchor = self.chain.seal(b"anchor", last_pruned.last_sequence, &last_pruned.mac);
        let removed = self.store.prune_audit(through, &anchor)?;
        tracing::info!(removed, through, "audit retention removed old batches");
        Ok(())
    }
}

/// The sequence number and MAC a new batch follows: the newest batch's, or the anchor's once retention removed
/// every batch, or the start of the chain.
fn chain_end(chain: &Chain, tail: &AuditTail) -> Result<(u64, [u8; 32]), KernelError> {
    match (tail.last, &tail.anchor) {
        (Some(last), _) => Ok(last),
        (None, Some(anchor)) => chain
            .open(b"anchor", anchor)
            .ok_or_else(|| KernelError::Internal("the audit log's anchor does not verify".into())),
        (None, None) => Ok((0, [0u8; 32])),
    }
}

/// Result of checking the persisted audit log.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact {
        /// Records kept (after any pruned by retention).
        records: u64,
        /// The sequence number of the last record.
        last: u64,
    },
    /// Where verification fails, and why.
    Broken { sequence: u64, reason: String },
}

/// Recomputes the whole chain from the anchor (or the start) to the sealed head.
///
/// The head is read first and the walk stops there, so a server that keeps writing while this runs (the console's
/// check) is verified up to the head it had, not reported truncated.
pub fn verify_chain(store: &dyn Backend, root: &RootKey) -> Result<ChainCheck, KernelError> {
    let chain = Chain::new(root)?;
    let head = store.audit_head()?;
    let head_last = head
        .as_ref()
        .and_then(|head| chain.open(b"head", head))
        .map(|(last, _)| last);
    let broken = |sequence: u64, reason: &str| {
        Ok(ChainCheck::Broken {
            sequence,
            reason: reason.to_string(),
        })
    };
    let (start, mut mac) = match store.audit_anchor()? {
        Some(anchor) => match chain.open(b"anchor", &anchor) {
            Some(opened) => opened,
            None => return broken(0, "the anchor of the pruned log does not verify"),
        },
        None => (0, [0u8; 32]),
    };
    let mut sequence = start;
    'walk: loop {
        let page = store.audit_after(sequence, 256)?;
        if page.is_empty() {
            break;
        }
        for batch in page {
            if head_last.is_some_and(|last| batch.first_sequence > last) {
                break 'walk;
            }
            if batch.first_sequence != sequence + 1 || batch.last_sequence < batch.first_sequence {
                return broken(sequence + 1, "records are missing or were inserted here");
            }
            let Some(records) = decompress(&batch.body) else {
                return broken(batch.first_sequence, "a batch does not decompress");
            };
            let count = records.iter().filter(|b| **b == b'\n').count() as u64;
            let expected = chain.batch_mac(&mac, batch.first_sequence, batch.last_sequence, &records);
            if count != batch.last_sequence - batch.first_sequence + 1 || !constant_time_eq(&expected, &batch.mac) {
                return broken(batch.first_sequence, "records were modified");
            }
            sequence = batch.last_sequence;
            mac = batch.mac;
        }
    }
    match head {
        None if sequence == 0 => Ok(ChainCheck::Intact { records: 0, last: 0 }),
        None => broken(sequence, "the sealed head is missing"),
        Some(head) => match chain.open(b"head", &head) {
            None => broken(sequence, "the sealed head does not verify"),
            Some((last, head_mac)) if last == sequence && constant_time_eq(&head_mac, &mac) => Ok(ChainCheck::Intact {
                records: sequence - start,
                last: sequence,
            }),
            Some((last, _)) if last > sequence => broken(sequence + 1, "the log was truncated"),
            Some(_) => broken(sequence, "the log does not end where its sealed head says"),
        },
    }
}

/// The records of a batch, as stored (JSON each), in sequence order.
pub fn batch_records(batch: &AuditBatch) -> Result<Vec<Vec<u8>>, KernelError> {
    let records =
        decompress(&batch.body).ok_or_else(|| KernelError::Internal("an audit batch does not decompress".into()))?;
    Ok(records
        .split(|b| *b == b'\n')
        .filter(|r| !r.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Every stored record, oldest first, handed to `visit` as JSON text: one pass over the log, a page
/// of batches at a time (reports that read the whole history).
pub fn scan_records(store: &dyn Backend, mut visit: impl FnMut(&[u8])) -> Result<(), KernelError> {
    let mut cursor = 0;
    loop {
        let page = store.audit_after(cursor, 64)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        cursor = last.first_sequence;
        for batch in &page {
            for record in batch_records(batch)? {
                visit(&record);
            }
        }
    }
}

/// The stored records after sequence `after` (at most `limit`), as (sequence, record JSON).
pub fn read_records(store: &dyn Backend, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, KernelError> {
    let mut out = Vec::new();
    // The batch holding `after + 1` starts at or before it.
    let mut cursor = store
        .audit_after(0, usize::MAX)?
        .iter()
        .take_while(|b| b.first_sequence <= after + 1)
        .last()
        .map_or(0, |b| b.first_sequence - 1);
    while out.len() < limit {
        let page = store.audit_after(cursor, 64)?;
        if page.is_empty() {
            break;
        }
        for batch in page {
            for (offset, record) in batch_records(&batch)?.into_iter().enumerate() {
                let sequence = batch.first_sequence + offset as u64;
                if sequence > after && out.len() < limit {
                    out.push((sequence, record));
                }
            }
            cursor = batch.first_sequence;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use keyhaven_store::testing::temp_store;
    use serde_json::Value;

    use super::*;
    use crate::audit::tests::event;

    fn root() -> RootKey {
        RootKey::from_bytes(&[7; 32]).expect("root")
    }

    fn start(store: &Arc<dyn Backend>, strict: bool) -> AuditLog {
        let settings = AuditSettings {
            strict,
            ..Default::default()
        };
        AuditLog::start(store.clone(), &root(), settings).expect("start")
    }

    fn names(store: &dyn Backend) -> Vec<String> {
        read_records(store, 0, 100)
            .expect("read")
            .into_iter()
            .map(|(_, r)| {
                serde_json::from_slice::<Value>(&r).expect("json")["eventName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn records_persist_in_order_and_continue_across_restarts() {
        let (_dir, store) = temp_store();
        for names in [["CreateKey", "Encrypt"], ["Decrypt", "ListKeys"]] {
            let log = start(&store, false);
            for name in names {
                log.record(&event(name), true).await.expect("record");
            }
            log.shutdown();
        }
        assert_eq!(names(&*store), ["CreateKey", "Encrypt", "Decrypt", "ListKeys"]);
        assert_eq!(
            verify_chain(&*store, &root()).expect("verify"),
            ChainCheck::Intact { records: 4, last: 4 }
        );
        let tail: Vec<u64> = read_records(&*store, 2, 10)
            .expect("read")
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(tail, [3, 4]);
        let mut scanned = Vec::new();
        scan_records(&*store, |record| scanned.push(record.to_vec())).expect("scan");
        let all: Vec<Vec<u8>> = read_records(&*store, 0, 10)
            .expect("read")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(scanned, all, "one pass sees every record, in order");
    }

    /// A log of three batches, and how each kind of tampering shows.
    #[tokio::test]
    async fn modification_deletion_insertion_and_truncation_are_detected() {
        type Tamper = fn(&dyn Backend, &[AuditBatch]);
        let cases: [(&str, Tamper, ChainCheck); 5] = [
            ("untouched", |_, _| {}, ChainCheck::Intact { records: 3, last: 3 }),
            (
                "a record rewritten with a recomputed unkeyed digest",
                |store, batches| {
                    let mut forged = batches[1].clone();
                    forged.body = Compressor::new()
                        .compress(b"{\"eventName\":\"Forged\"}\n")
                        .expect("compress");
                    replace(store, batches, 1, Some(forged));
                },
                ChainCheck::Broken {
                    sequence: 2,
                    reason: "records were modified".into(),
                },
            ),
            (
                "a batch deleted",
                |store, batches| replace(store, batches, 1, None),
                ChainCheck::Broken {
                    sequence: 2,
                    reason: "records are missing or were inserted here".into(),
                },
            ),
            (
                "the tail deleted",
                |store, batches| replace(store, batches, 2, None),
                ChainCheck::Broken {
                    sequence: 3,
                    reason: "the log was truncated".into(),
                },
            ),
            (
                "a record inserted",
                |store, batches| {
                    let mut extra = batches[2].clone();
                    extra.first_sequence = 4;
                    extra.last_sequence = 4;
                    store
                        .append_audit(&[], &mut |_| Ok((extra.clone(), b"forged head".to_vec())))
                        .expect("append");
                },
                ChainCheck::Broken {
                    sequence: 4,
                    reason: "records were modified".into(),
                },
            ),
        ];
        for (name, tamper, expected) in cases {
            let (_dir, store) = temp_store();
            let log = start(&store, false);
            for event_name in ["CreateKey", "Encrypt", "Decrypt"] {
                log.record(&event(event_name), true).await.expect("record");
            }
            log.shutdown();
            let batches = store.audit_after(0, 10).expect("batches");
            assert_eq!(batches.len(), 3, "{name}: one batch per awaited record");
            tamper(&*store, &batches);
            let got = verify_chain(&*store, &root()).expect("verify");
            let got = match (got, &expected) {
                (ChainCheck::Broken { sequence, .. }, ChainCheck::Broken { sequence: want, .. })
                    if sequence != *want =>
                {
                    panic!("{name}: broken at {sequence}, expected {want}")
                }
                (got, _) => got,
            };
            assert_eq!(got, expected, "{name}");
        }
        let (_dir, store) = temp_store();
        let log = start(&store, false);
        log.record(&event("CreateKey"), true).await.expect("record");
        log.shutdown();
        let other_root = RootKey::from_bytes(&[8; 32]).expect("root");
        assert!(
            matches!(
                verify_chain(&*store, &other_root).expect("verify"),
                ChainCheck::Broken { .. }
            ),
            "the chain is keyed: another key does not verify it"
        );
    }

    /// Rewrites the store as `batches` with batch `index` replaced (or removed), keeping the head.
    fn replace(store: &dyn Backend, batches: &[AuditBatch], index: usize, with: Option<AuditBatch>) {
        let head = store.audit_head().expect("head").expect("a head");
        let anchor_of_nothing = Chain::new(&root()).expect("chain").seal(b"anchor", 0, &[0u8; 32]);
        store.prune_audit(u64::MAX >> 1, &anchor_of_nothing).expect("clear");
        for (i, batch) in batches.iter().enumerate() {
            let batch = if i == index { with.clone() } else { Some(batch.clone()) };
            if let Some(batch) = batch {
                store
                    .append_audit(&[], &mut |_| Ok((batch.clone(), head.clone())))
                    .expect("append");
            }
        }
    }

    #[tokio::test]
    async fn retention_prunes_old_batches_and_what_remains_still_verifies() {
        let (_dir, store) = temp_store();
        let settings = AuditSettings {
            retention: Retention {
                max_bytes: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let log = AuditLog::start(store.clone(), &root(), settings.clone()).expect("start");
        for name in ["CreateKey", "Encrypt", "Decrypt"] {
            log.record(&event(name), true).await.expect("record");
        }
        log.shutdown();
        let writer = Writer {
            store: store.clone(),
            chain: Chain::new(&root()).expect("chain"),
            healthy: Arc::new(AtomicBool::new(true)),
            reserve: None,
            retention: settings.retention.clone(),
            retention_checked: Instant::now(),
            compressor: Compressor::new(),
        };
        // An undelivered batch stays, however far over the limit the log is.
        settings.retention.delivered_through.follow(Arc::new(|| Ok(0)));
        writer.prune().expect("prune");
        assert_eq!(names(&*store), ["CreateKey", "Encrypt", "Decrypt"]);
        settings.retention.delivered_through.follow(Arc::new(|| Ok(u64::MAX)));
        writer.prune().expect("prune");
        assert_eq!(names(&*store), ["Decrypt"], "the newest batch stays");
        assert_eq!(
            verify_chain(&*store, &root()).expect("verify"),
            ChainCheck::Intact { records: 1, last: 3 }
        );
        let log = AuditLog::start(store.clone(), &root(), AuditSettings::default()).expect("restart");
        log.record(&event("ListKeys"), true).await.expect("record");
        log.shutdown();
        assert_eq!(
            verify_chain(&*store, &root()).expect("verify"),
            ChainCheck::Intact { records: 2, last: 4 }
        );
    }

    #[tokio::test]
    async fn repeated_kms_records_take_little_space() {
        let (_dir, store) = temp_store();
        let log = start(&store, false);
        let count = 2_000u64;
        for i in 0..count {
            let mut e = event("Encrypt");
            e.request_id = format!("{:08x}-0000-4000-8000-{i:012x}", i * 7919);
            e.event_id = format!("{:08x}-1111-4000-8000-{i:012x}", i * 104_729);
            log.record(&e, false).await.expect("record");
        }
        log.shutdown();
        let usage = store.audit_usage().expect("usage");
        let per_record = usage.bytes / count;
        assert!(per_record <= 300, "{per_record} bytes per record");
    }
}
