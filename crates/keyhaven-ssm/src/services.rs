//! The scheduler's handler of Parameter Store jobs: parameter policies (expiration and
//! notifications).

use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use crate::Ssm;

impl JobHandler for Ssm {
    fn run(&self, job: &Job, audit: &AuditLog) -> Result<(), KernelError> {
        let events = self.run_job(job).map_err(job_failed)?;
        events.iter().try_for_each(|event| audit.record_service_event(event))
    }
}
