//! SecureString values through KMS, called on the caller's behalf with the encryption context
//! Parameter Store uses.
//!
//! Standard values are a KMS `Encrypt` ciphertext blob; Advanced values are enveloped under a data
//! key (see [`crate::on_behalf`]) with the parameter ARN as associated data. Either way the stored
//! and returned form is base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::EncryptionContext;
use zeroize::Zeroizing;

use super::{SERVICE_PRINCIPAL, Ssm, SsmFault, fault};
use crate::context::RequestContext;
use crate::error::CoreError;
use crate::on_behalf::OnBehalf;

fn context_for(arn: &str) -> EncryptionContext {
    let mut context = EncryptionContext::new();
    context.insert("PARAMETER_ARN".to_string(), arn.to_string());
    context
}

/// KMS failures as Parameter Store reports them: key problems become InvalidKeyId.
fn key_fault(e: CoreError, key: &str) -> CoreError {
    match e {
        CoreError::NotFound(_) | CoreError::Validation(_) => {
            fault(SsmFault::InvalidKeyId, format!("Invalid KeyId {key}"))
        }
        CoreError::Disabled(message) | CoreError::InvalidState(message) | CoreError::InvalidKeyUsage(message) => {
            fault(SsmFault::InvalidKeyId, message)
        }
        other => other,
    }
}

fn on_behalf<'a>(ssm: &'a Ssm, ctx: &'a RequestContext) -> OnBehalf<'a> {
    OnBehalf {
        kms: &ssm.kms,
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
) -> Result<String, CoreError> {
    if key == super::DEFAULT_KEY_ALIAS {
        ssm.kms.aws_managed_key(ctx, "ssm").map_err(|e| key_fault(e, key))?;
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

pub fn decrypt(ssm: &Ssm, ctx: &RequestContext, stored: &str, arn: &str) -> Result<Zeroizing<String>, CoreError> {
    let bytes = B64
        .decode(stored)
        .map_err(|_| CoreError::Internal("stored SecureString is not base64".into()))?;
    let plaintext = on_behalf(ssm, ctx)
        .open(&bytes, &context_for(arn), arn.as_bytes())
        .map_err(|e| match e {
            CoreError::InvalidCiphertext => CoreError::Internal("stored SecureString does not decrypt".into()),
            other => key_fault(other, "of this parameter"),
        })?;
    // Checked in place, so a failure leaves no unzeroized copy of the plaintext behind.
    std::str::from_utf8(plaintext.expose())
        .map(|text| Zeroizing::new(text.to_string()))
        .map_err(|_| CoreError::Internal("SecureString plaintext is not UTF-8".into()))
}
