//! SecureString values through KMS, called on the caller's behalf (`kms:ViaService`) with the
//! encryption context Parameter Store uses, each call recorded for the audit log.
//!
//! Standard values are a KMS `Encrypt` ciphertext blob. Advanced values are enveloped, as AWS does
//! with a data key from `GenerateDataKey`: `0x02 | u16 length | wrapped data key | sealed value`,
//! the value sealed with AES-256-GCM under the data key with the parameter ARN as associated data.
//! Either way the stored and returned form is base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::{EncryptionContext, RootKey};
use serde_json::json;
use zeroize::Zeroizing;

use super::{SERVICE_PRINCIPAL, Ssm, SsmFault, fault};
use crate::context::{RequestContext, ServiceCall};
use crate::error::CoreError;

const ENVELOPE_V1: u8 = 0x02;

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

fn record(
    ctx: &RequestContext,
    operation: &'static str,
    parameters: serde_json::Value,
    result: Result<&str, &CoreError>,
) {
    ctx.service_calls.push(ServiceCall {
        invoked_by: SERVICE_PRINCIPAL.into(),
        service: "kms",
        operation,
        request_parameters: parameters,
        resource_arn: result.ok().map(str::to_string),
        error: result.err().cloned(),
    });
}

pub fn encrypt(
    ssm: &Ssm,
    ctx: &RequestContext,
    key: &str,
    arn: &str,
    plaintext: &[u8],
    advanced: bool,
) -> Result<String, CoreError> {
    let through = ctx.through(SERVICE_PRINCIPAL);
    let context = context_for(arn);
    if key == super::DEFAULT_KEY_ALIAS {
        ssm.kms.aws_managed_key(ctx, "ssm").map_err(|e| key_fault(e, key))?;
    }
    let mut parameters = json!({ "keyId": key, "encryptionContext": { "PARAMETER_ARN": arn } });
    if !advanced {
        parameters["encryptionAlgorithm"] = json!("SYMMETRIC_DEFAULT");
        let result = ssm.kms.encrypt(&through, key, plaintext, &context, None, false);
        record(ctx, "Encrypt", parameters, result.as_ref().map(|e| e.key_arn.as_str()));
        return Ok(B64.encode(result.map_err(|e| key_fault(e, key))?.ciphertext));
    }
    parameters["keySpec"] = json!("AES_256");
    let result = ssm.kms.generate_data_key(
        &through,
        "kms:GenerateDataKey",
        key,
        &context,
        None,
        Some("AES_256"),
        false,
    );
    record(
        ctx,
        "GenerateDataKey",
        parameters,
        result.as_ref().map(|(_, e)| e.key_arn.as_str()),
    );
    let (data_key, wrapped) = result.map_err(|e| key_fault(e, key))?;
    // The data key seals one value, with the parameter ARN bound in as associated data.
    let sealed = RootKey::from_bytes(data_key.expose())?.seal(arn.as_bytes(), plaintext)?;
    let length =
        u16::try_from(wrapped.ciphertext.len()).map_err(|_| CoreError::Internal("wrapped key too long".into()))?;
    let mut envelope = vec![ENVELOPE_V1];
    envelope.extend_from_slice(&length.to_be_bytes());
    envelope.extend_from_slice(&wrapped.ciphertext);
    envelope.extend_from_slice(&sealed);
    Ok(B64.encode(envelope))
}

pub fn decrypt(ssm: &Ssm, ctx: &RequestContext, stored: &str, arn: &str) -> Result<Zeroizing<String>, CoreError> {
    let through = ctx.through(SERVICE_PRINCIPAL);
    let context = context_for(arn);
    let bytes = B64
        .decode(stored)
        .map_err(|_| CoreError::Internal("stored SecureString is not base64".into()))?;
    let (wrapped, sealed) = match bytes.split_first() {
        Some((&ENVELOPE_V1, rest)) if rest.len() >= 2 => {
            let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let body = &rest[2..];
            if body.len() < length {
                return Err(CoreError::Internal("truncated SecureString envelope".into()));
            }
            (&body[..length], Some(&body[length..]))
        }
        _ => (bytes.as_slice(), None),
    };
    let parameters =
        json!({ "encryptionContext": { "PARAMETER_ARN": arn }, "encryptionAlgorithm": "SYMMETRIC_DEFAULT" });
    let result = ssm.kms.decrypt(&through, wrapped, &context, None, None, false);
    record(ctx, "Decrypt", parameters, result.as_ref().map(|d| d.key_arn.as_str()));
    let decrypted = result.map_err(|e| match e {
        CoreError::InvalidCiphertext => CoreError::Internal("stored SecureString does not decrypt".into()),
        other => key_fault(other, "of this parameter"),
    })?;
    let plaintext = match sealed {
        None => decrypted.plaintext,
        Some(sealed) => RootKey::from_bytes(decrypted.plaintext.expose())?.open(arn.as_bytes(), sealed)?,
    };
    // Checked in place, so a failure leaves no unzeroized copy of the plaintext behind.
    std::str::from_utf8(plaintext.expose())
        .map(|text| Zeroizing::new(text.to_string()))
        .map_err(|_| CoreError::Internal("SecureString plaintext is not UTF-8".into()))
}
