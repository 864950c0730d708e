//! The scheduler: runs persisted jobs when the core's clock says they are due.
//!
//! Jobs live in the store, so a restart loses none; a job that failed is retried a minute later.

use std::sync::Arc;
use std::time::Duration;

use keyhaven_store::Job;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::{Core, CoreError, transact};

const BATCH: usize = 100;
const RETRY_AFTER_SECONDS: i64 = 60;
/// Longest real-time sleep between checks, so clock adjustments are noticed even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// Wakes the scheduler loop early (new job, clock moved).
#[derive(Debug, Default)]
pub struct Scheduler {
    wake: Notify,
}

impl Scheduler {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Core {
    /// Runs every job due now. Returns how many ran.
    pub fn run_due_jobs(&self) -> Result<usize, CoreError> {
        let mut ran = 0;
        loop {
            let now = self.clock.now().unix_timestamp();
            let due = self.store.due_jobs(now, BATCH)?;
            if due.is_empty() {
                return Ok(ran);
            }
            for job in due {
                if let Err(e) = self.run_job(&job) {
                    tracing::error!(job = %job.id, error = %e, "scheduled job failed; retrying later");
                    let retry = Job {
                        due_at: now + RETRY_AFTER_SECONDS,
                        ..job
                    };
                    transact(&*self.store, |tx| Ok(tx.schedule(&retry)?))?;
                }
                ran += 1;
            }
        }
    }

    fn run_job(&self, job: &Job) -> Result<(), CoreError> {
        match job.kind.split('.').next() {
            Some("kms") => self.record_service_events(self.kms.run_job(job)?),
            Some("sts") => self.sts.run_job(job),
            Some("ssm") => self.record_service_events(self.ssm.run_job(job)?),
            Some("secrets") => self.secrets.run_job(job, &self.audit),
            Some("events") => {
                let now = self.clock.now().unix_timestamp();
                transact(&*self.store, |tx| crate::events::prune_log(tx, now)).map(|_| ())
            }
            _ => Err(CoreError::Internal(format!("no handler for job kind {}", job.kind))),
        }
    }

    /// CloudTrail records of work a job did, written once that work is committed.
    fn record_service_events(&self, events: Vec<crate::audit::ServiceEvent>) -> Result<(), CoreError> {
        events
            .iter()
            .try_for_each(|event| self.audit.record_service_event(event))
    }
}

/// The scheduler loop; returns when `shutdown` turns true.
pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let worker = core.clone();
        match tokio::task::spawn_blocking(move || worker.run_due_jobs()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "scheduler pass failed"),
            Err(e) => tracing::error!(error = %e, "scheduler pass panicked"),
            Ok(Ok(_)) => {}
        }
        let idle = match core.store.next_due() {
            Ok(Some(due)) => {
                let wait = due - core.clock.now().unix_timestamp();
                Duration::from_secs(wait.clamp(0, MAX_IDLE.as_secs() as i64) as u64).max(Duration::from_millis(50))
            }
            _ => MAX_IDLE,
        };
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = core.scheduler.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
