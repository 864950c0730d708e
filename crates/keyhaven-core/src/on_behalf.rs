//! KMS calls a service (Parameter Store, Secrets Manager) makes on its caller's behalf: made through
//! the service (`kms:ViaService`), each recorded for its own CloudTrail record, and the envelope
//! those services keep values in.
//!
//! Envelope: `0x02 | u16 length | wrapped data key | sealed value`, the value sealed with AES-256-GCM
//! under a `GenerateDataKey` data key, with caller-chosen associated data (the resource it belongs to).

use keyhaven_crypto::{EncryptionContext, RootKey, SecretBytes};
use serde_json::{Value, json};

use crate::context::{RequestContext, ServiceCall};
use crate::error::CoreError;
use crate::kms::{Decrypted, Encrypted, Kms};

const ENVELOPE_V1: u8 = 0x02;

/// One service's view of KMS for one request.
pub struct OnBehalf<'a> {
    pub kms: &'a Kms,
    pub ctx: &'a RequestContext,
    /// The service principal, such as `secretsmanager.amazonaws.com`.
    pub service: &'static str,
}

impl OnBehalf<'_> {
    fn record(&self, operation: &'static str, parameters: Value, result: Result<&str, &CoreError>) {
        self.ctx.service_calls.push(ServiceCall {
            invoked_by: self.service.into(),
            service: "kms",
            operation,
            request_parameters: parameters,
            resource_arn: result.ok().map(str::to_string),
            error: result.err().cloned(),
        });
    }

    pub fn encrypt(&self, key: &str, context: &EncryptionContext, plaintext: &[u8]) -> Result<Encrypted, CoreError> {
        let through = self.ctx.through(self.service);
        let result = self.kms.encrypt(&through, key, plaintext, context, None, false);
        let parameters =
            json!({ "keyId": key, "encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT" });
        self.record("Encrypt", parameters, result.as_ref().map(|e| e.key_arn.as_str()));
        result
    }

    pub fn decrypt(&self, ciphertext: &[u8], context: &EncryptionContext) -> Result<Decrypted, CoreError> {
        let through = self.ctx.through(self.service);
        let result = self.kms.decrypt(&through, ciphertext, context, None, None, false);
        let parameters = json!({ "encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT" });
        self.record("Decrypt", parameters, result.as_ref().map(|d| d.key_arn.as_str()));
        result
    }

    /// Seals `plaintext` in an envelope under a fresh data key of `key`.
    pub fn seal(
        &self,
        key: &str,
        context: &EncryptionContext,
        associated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let through = self.ctx.through(self.service);
        let result = self.kms.generate_data_key(
            &through,
            "kms:GenerateDataKey",
            key,
            context,
            None,
            Some("AES_256"),
            false,
        );
        let parameters = json!({ "keyId": key, "encryptionContext": context, "keySpec": "AES_256" });
        self.record(
            "GenerateDataKey",
            parameters,
            result.as_ref().map(|(_, e)| e.key_arn.as_str()),
        );
        let (data_key, wrapped) = result?;
        let sealed = RootKey::from_bytes(data_key.expose())?.seal(associated_data, plaintext)?;
        let length =
            u16::try_from(wrapped.ciphertext.len()).map_err(|_| CoreError::Internal("wrapped key too long".into()))?;
        let mut envelope = vec![ENVELOPE_V1];
        envelope.extend_from_slice(&length.to_be_bytes());
        envelope.extend_from_slice(&wrapped.ciphertext);
        envelope.extend_from_slice(&sealed);
        Ok(envelope)
    }

    /// Opens what [`OnBehalf::seal`] made, or a bare KMS ciphertext (which `seal` never makes, but
    /// Parameter Store's Standard tier stores).
    pub fn open(
        &self,
        stored: &[u8],
        context: &EncryptionContext,
        associated_data: &[u8],
    ) -> Result<SecretBytes, CoreError> {
        let (wrapped, sealed) = match stored.split_first() {
            Some((&ENVELOPE_V1, rest)) if rest.len() >= 2 => {
                let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let body = &rest[2..];
                if body.len() < length {
                    return Err(CoreError::Internal("truncated envelope".into()));
                }
                (&body[..length], Some(&body[length..]))
            }
            _ => (stored, None),
        };
        let decrypted = self.decrypt(wrapped, context)?;
        match sealed {
            None => Ok(decrypted.plaintext),
            Some(sealed) => Ok(RootKey::from_bytes(decrypted.plaintext.expose())?.open(associated_data, sealed)?),
        }
    }
}
