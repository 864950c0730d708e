//! The scheduler: runs persisted jobs when the domain clock says they are due, each by the handler
//! its service registered for the job kind's prefix (`kms.`, `secrets.`, ...).
//!
//! Jobs live in the store, so a restart loses none; a job that failed is retried a minute later. Each node claims
//! the jobs it runs, so of several nodes sharing a store one runs each job; a dead node's claims run out.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyhaven_store::{Backend, Job};
use tokio::sync::{Notify, watch};

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::error::KernelError;
use crate::transact;

const BATCH: usize = 100;
const RETRY_AFTER_SECONDS: i64 = 60;
/// How long a claimed job is this node's (domain clock): if the node dies running it, another runs it after this.
const CLAIM_SECONDS: i64 = 300;
/// Longest real-time sleep between checks, so clock adjustments are noticed even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// Runs the jobs of one kind prefix. A failure is logged and the job retried later. The work a job
/// did is recorded in `audit` as service events once it is committed.
pub trait JobHandler: Send + Sync {
    fn run(&self, job: &Job, audit: &AuditLog) -> Result<(), KernelError>;
}

/// The failure of a service's job, for the scheduler's log: the service's own error, in full.
pub fn job_failed(error: impl std::fmt::Debug) -> KernelError {
    KernelError::Internal(format!("{error:?}"))
}

/// The registry of job handlers and the loop that runs due jobs.
pub struct Scheduler {
    store: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    handlers: RwLock<Vec<(&'static str, Arc<dyn JobHandler>)>>,
    wake: Notify,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scheduler")
    }
}

impl Scheduler {
    pub fn new(store: Arc<dyn Backend>, clock: Arc<dyn Clock>, audit: AuditLog) -> Self {
        Self {
            store,
            clock,
            audit,
            handlers: RwLock::new(Vec::new()),
            wake: Notify::new(),
        }
    }

    /// Routes jobs whose kind is `<prefix>.<anything>` to `handler`.
    pub fn register(&self, prefix: &'static str, handler: Arc<dyn JobHandler>) {
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.push((prefix, handler));
        }
    }

    /// Wakes the loop early (a new job, the clock moved).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs every job due now. Returns how many ran.
    pub fn run_due_jobs(&self) -> Result<usize, KernelError> {
        let mut ran = 0;
        loop {
            let now = self.clock.now().unix_timestamp();
            let due = self.store.claim_due_jobs(now, now + CLAIM_SECONDS, BATCH)?;
            if due.is_empty() {
                return Ok(ran);
            }
            for job in due {
                if let Err(e) = self.run_job(&job) {
                    tracing::error!(job = %job.id, error = ?e, "scheduled job failed; retrying later");
                    let retry = Job {
                        due_at: now + RETRY_AFTER_SECONDS,
                        ..job
                    };
                    transact(&*self.store, |tx| Ok::<_, KernelError>(tx.schedule(&retry)?))?;
                }
                ran += 1;
            }
        }
    }

    fn run_job(&self, job: &Job) -> Result<(), KernelError> {
        let prefix = job.kind.split('.').next().unwrap_or_default();
        let handler = self
            .handlers
            .read()
            .ok()
            .and_then(|h| h.iter().find(|(p, _)| *p == prefix).map(|(_, h)| h.clone()))
            .ok_or_else(|| KernelError::Internal(format!("no handler for job kind {}", job.kind)))?;
        handler.run(job, &self.audit)
    }

    /// The scheduler loop; returns when `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            // A pass claims jobs in a write transaction; most wake-ups (a request that may have scheduled work) find
            // nothing due, which one read tells.
            let next_due = match self.store.next_due() {
                Ok(Some(due)) if due <= self.clock.now().unix_timestamp() => {
                    let worker = self.clone();
                    match tokio::task::spawn_blocking(move || worker.run_due_jobs()).await {
                        Ok(Err(e)) => tracing::error!(error = ?e, "scheduler pass failed"),
                        Err(e) => tracing::error!(error = %e, "scheduler pass panicked"),
                        Ok(Ok(_)) => {}
                    }
                    self.store.next_due()
                }
                other => other,
            };
            let idle = match next_due {
                Ok(Some(due)) => {
                    let wait = due - self.clock.now().unix_timestamp();
                    Duration::from_secs(wait.clamp(0, MAX_IDLE.as_secs() as i64) as u64).max(Duration::from_millis(50))
                }
                _ => MAX_IDLE,
            };
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
