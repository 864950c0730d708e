//! Secrets Manager as the rest of the server sees it: the kernel's [`SecretService`] for
//! Parameter Store's `/aws/reference/secretsmanager/` names, and the scheduler's handler of
//! Secrets Manager jobs (deletion at the end of the recovery window, rotation).

use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::on_behalf::{SecretReadFailure, SecretService, ValueView};
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use crate::{Secrets, SecretsError, SecretsFault};

impl SecretService for Secrets {
    /// The selector names a version id, or else a staging label.
    fn reference_value(
        &self,
        ctx: &RequestContext,
        secret_id: &str,
        selector: Option<&str>,
    ) -> Result<ValueView, SecretReadFailure> {
        let read = || {
            let found = self.find(ctx, secret_id, "secretsmanager:GetSecretValue", Vec::new())?;
            match selector {
                Some(id) if found.record.versions.contains_key(id) => self.read_value(ctx, &found, Some(id), None),
                stage => self.read_value(ctx, &found, None, stage),
            }
        };
        read().map_err(|e| match e {
            SecretsError::Fault(SecretsFault::ResourceNotFound, message) => SecretReadFailure::NotFound(message),
            SecretsError::Fault(_, message) => SecretReadFailure::Refused(message),
            SecretsError::AccessDenied(message) => SecretReadFailure::AccessDenied(message),
            SecretsError::Internal(detail) => SecretReadFailure::Internal(detail),
            SecretsError::Unavailable => SecretReadFailure::Unavailable,
        })
    }
}

impl JobHandler for Secrets {
    fn run(&self, job: &Job, audit: &AuditLog) -> Result<(), KernelError> {
        self.run_job(job, audit).map_err(job_failed)
    }
}
