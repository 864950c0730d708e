//! KMS as the rest of the server sees it: the kernel's [`KeyService`] for other services (every
//! call authorised as the caller seen through the calling service), and the scheduler's handler
//! of KMS jobs (scheduled deletion, automatic rotation).

use keyhaven_crypto::{EncryptionContext, SecretBytes};
use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::on_behalf::{Decrypted, Encrypted, KeyService, KmsFailure};
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use crate::Kms;

impl KeyService for Kms {
    fn encrypt(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Encrypted, KmsFailure> {
        Ok(Kms::encrypt(self, ctx, key, plaintext, context, None, false)?)
    }

    fn decrypt(
        &self,
        ctx: &RequestContext,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Decrypted, KmsFailure> {
        Ok(Kms::decrypt(self, ctx, ciphertext, context, None, None, false)?)
    }

    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
    ) -> Result<(SecretBytes, Encrypted), KmsFailure> {
        Ok(Kms::generate_data_key(
            self,
            ctx,
            "kms:GenerateDataKey",
            key,
            context,
            None,
            Some("AES_256"),
            false,
        )?)
    }

    fn ensure_aws_managed_key(&self, ctx: &RequestContext, service: &str) -> Result<(), KmsFailure> {
        self.aws_managed_key(ctx, service)?;
        Ok(())
    }
}

impl JobHandler for Kms {
    fn run(&self, job: &Job, audit: &AuditLog) -> Result<(), KernelError> {
        let events = self.run_job(job).map_err(job_failed)?;
        events.iter().try_for_each(|event| audit.record_service_event(event))
    }
}
