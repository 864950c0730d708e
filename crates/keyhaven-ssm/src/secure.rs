//! SecureString values through KMS, called on the caller's behalf with the encryption context
//! Parameter Store uses.
//!
//! Standard values are a KMS `Encrypt` ciphertext blob; Advanced values are enveloped under a data
//! key (see [`keyhaven_kernel::on_behalf`]) with the parameter ARN as associated data. Either way the stored
//! and returned form is base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::EncryptionContext;
use zeroize::Zeroizing;

use super::{SERVICE_PRINCIPAL, Ssm, SsmFault, fault};
use crate::error::SsmError;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::on_behalf::{KmsFailure, OnBehalf};

fn context_for(arn: &str) -> EncryptionContext {
    let mut context = EncryptionContext::new();
    context.insert("PARAMETER_ARN".to_string(), arn.to_string());
    context
}

/// KMS failures as Parameter Store reports them: key problems become InvalidKeyId.
fn key_fault(e: KmsFailure, key: &str) -> SsmError {
    match e {
        KmsFailure::NotFound(_) => fault(SsmFault::InvalidKeyId, format!("Invalid KeyId {key}")),
        KmsFailure::Disabled(message) | KmsFailure::Unusable(message) => fault(SsmFault::InvalidKeyId, message),
        KmsFailure::InvalidCiphertext => SsmError::Internal("stored SecureString does not decrypt".into()),
        KmsFailure::AccessDenied(message) => SsmError::AccessDenied(message),
        KmsFailure::Internal(detail) => SsmError::Internal(detail),
        KmsFailure::Unavailable => SsmError::Unavailable,
    }
}

fn on_behalf<'a>(ssm: &'a Ssm, ctx: &'a RequestContext) -> OnBehalf<'a> {
    OnBehalf {
        kms: &*ssm.kms,
        ctx,
        service: SERVICE_PRINCIPAL,
    }
}

pub fn encrypt(
    ssm: &Ssm,
    ctx: &RequestContext,
    key: &str,
    arn: &str,
    plaintext: &[u8],
    advanced: bool,
) -> Result<String, SsmError> {
    if key == super::DEFAULT_KEY_ALIAS {
        ssm.kms
            .ensure_aws_managed_key(ctx, "ssm")
            .map_err(|e| key_fault(e, key))?;
    }
    let kms = on_behalf(ssm, ctx);
    let context = context_for(arn);
    let stored = if advanced {
        kms.seal(key, &context, arn.as_bytes(), plaintext)
    } else {
        kms.encrypt(key, &context, plaintext).map(|e| e.ciphertext)
    };
    Ok(B64.encode(stored.map_err(|e| key_fault(e, key))?))
}

pub fn decrypt(ssm: &Ssm, ctx: &RequestContext, stored: &str, arn: &str) -> Result<Zeroizing<String>, SsmError> {
    let bytes = B64
        .decode(stored)
        .map_err(|_| SsmError::Internal("stored SecureString is not base64".into()))?;
    let plaintext = on_behalf(ssm, ctx)
        .open(&bytes, &context_for(arn), arn.as_bytes())
        .map_err(|e| key_fault(e, "of this parameter"))?;
    // Checked in place, so a failure leaves no unzeroized copy of the plaintext behind.
    std::str::from_utf8(plaintext.expose())
        .map(|text| Zeroizing::new(text.to_string()))
        .map_err(|_| SsmError::Internal("SecureString plaintext is not UTF-8".into()))
}
