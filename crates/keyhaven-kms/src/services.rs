//! KMS as the rest of the server sees it: the kernel's [`KeyService`] for other services (every
//! call authorised as the caller seen through the calling service, and noted for its own
//! CloudTrail record), and the scheduler's handler
//! of KMS jobs (scheduled deletion, automatic rotation).

use std::sync::Arc;

use keyhaven_crypto::{EncryptionContext, SecretBytes};
use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::context::{RequestContext, ServiceCall};
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::on_behalf::{Decrypted, Encrypted, KeyService, KmsFailure};
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::Job;

use serde_json::{Value, json};

use crate::{Kms, KmsError};

/// Notes a call in the request's `ServiceCalls` (KMS's parameters and its exact error), and
/// answers it as the calling service sees it.
fn noted<T>(
    ctx: &RequestContext,
    operation: &'static str,
    request_parameters: Value,
    result: Result<T, KmsError>,
    key_arn: impl Fn(&T) -> &str,
) -> Result<T, KmsFailure> {
    ctx.service_calls.push(ServiceCall {
        invoked_by: ctx.via_service.clone().unwrap_or_default(),
        service: "kms",
        operation,
        request_parameters,
        resource_arn: result.as_ref().ok().map(|value| key_arn(value).to_string()),
        resource_type: "AWS::KMS::Key",
        error: result.as_ref().err().map(|e| Arc::new(e.clone()) as _),
    });
    result.map_err(KmsFailure::from)
}

impl KeyService for Kms {
    fn encrypt(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Encrypted, KmsFailure> {
        let parameters =
            json!({ "keyId": key, "encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT" });
        let result = Kms::encrypt(self, ctx, key, plaintext, context, None, false);
        noted(ctx, "Encrypt", parameters, result, |e| &e.key_arn)
    }

    fn decrypt(
        &self,
        ctx: &RequestContext,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Decrypted, KmsFailure> {
        let parameters = json!({ "encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT" });
        let result = Kms::decrypt(self, ctx, ciphertext, context, None, None, false);
        noted(ctx, "Decrypt", parameters, result, |d| &d.key_arn)
    }

    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key: &str,
        context: &EncryptionContext,
    ) -> Result<(SecretBytes, Encrypted), KmsFailure> {
        let parameters = json!({ "keyId": key, "encryptionContext": context, "keySpec": "AES_256" });
        let result = Kms::generate_data_key(
            self,
            ctx,
            "kms:GenerateDataKey",
            key,
            context,
            None,
            Some("AES_256"),
            false,
        );
        noted(ctx, "GenerateDataKey", parameters, result, |(_, e)| &e.key_arn)
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
