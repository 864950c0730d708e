//! CloudWatch Logs as the rest of the server sees it: the scheduler's handler of its jobs (each group's daily
//! retention pass).

use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use crate::Logs;

impl JobHandler for Logs {
    fn run(&self, job: &Job, _audit: &AuditLog) -> Result<(), KernelError> {
        let (scope, group): (String, String) = serde_json::from_slice(&job.payload)?;
        let removed = self.expire(&scope, &group).map_err(job_failed)?;
        if removed > 0 {
            tracing::info!(group, removed, "log events past their group's retention removed");
        }
        Ok(())
    }
}
