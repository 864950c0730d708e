//! The KMS benchmark: key setup, then one closed-loop phase (warm-up + measured window) per operation.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use keyhaven_bench::client::{BoxError, Connection, Signer};
use keyhaven_bench::load::{self, Phase};
use keyhaven_bench::stats::PhaseResult;
use serde_json::json;

use crate::args::{Operation, Options};

/// The key and request bodies every phase shares.
pub struct Setup {
    pub key_id: String,
    encrypt_body: Bytes,
    decrypt_body: Bytes,
    generate_data_key_body: Bytes,
}

impl Setup {
    fn body(&self, operation: Operation) -> Bytes {
        match operation {
            Operation::Encrypt => self.encrypt_body.clone(),
            Operation::Decrypt => self.decrypt_body.clone(),
            Operation::GenerateDataKey => self.generate_data_key_body.clone(),
        }
    }
}

/// Creates the key and the ciphertext for the decrypt phase, and checks that it decrypts to what was encrypted, so
/// that the decrypt phase measures real decryptions.
pub async fn setup(options: &Options, signer: &Signer) -> Result<Setup, BoxError> {
    let mut conn = Connection::open(options.common.addr).await?;
    let created = conn
        .call_json(
            signer,
            "CreateKey",
            &json!({"Description": "kms-bench", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}),
        )
        .await?;
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or_else(|| format!("CreateKey answer has no KeyMetadata.KeyId: {created}"))?
        .to_string();

    // A fixed, recognisable pattern: content does not matter for cost, size does.
    let plaintext: Vec<u8> = (0..options.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let plaintext_b64 = B64.encode(&plaintext);
    let encrypt = json!({"KeyId": key_id, "Plaintext": plaintext_b64});
    let encrypted = conn.call_json(signer, "Encrypt", &encrypt).await?;
    let ciphertext = encrypted["CiphertextBlob"]
        .as_str()
        .ok_or_else(|| format!("Encrypt answer has no CiphertextBlob: {encrypted}"))?
        .to_string();

    let decrypt = json!({"KeyId": key_id, "CiphertextBlob": ciphertext});
    let decrypted = conn.call_json(signer, "Decrypt", &decrypt).await?;
    let round_trip = decrypted["Plaintext"].as_str().map(|b64| B64.decode(b64));
    if !matches!(round_trip, Some(Ok(ref bytes)) if *bytes == plaintext) {
        return Err(format!("Decrypt did not return the encrypted plaintext: {decrypted}").into());
    }

    Ok(Setup {
        key_id: key_id.clone(),
        encrypt_body: Bytes::from(encrypt.to_string()),
        decrypt_body: Bytes::from(decrypt.to_string()),
        generate_data_key_body: Bytes::from(json!({"KeyId": key_id, "KeySpec": "AES_256"}).to_string()),
    })
}

/// Runs one operation's closed loop; every request carries the same body.
pub async fn run_phase(
    options: &Options,
    signer: &Arc<Signer>,
    setup: &Setup,
    operation: Operation,
) -> Result<PhaseResult, BoxError> {
    let phase = Phase::fixed(operation.cli_name(), operation.wire_name(), setup.body(operation));
    load::run_phase(&options.common, signer, &phase).await
}
