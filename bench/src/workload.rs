//! The KMS benchmark: per operation, the key it needs and a request body checked to succeed once, then one
//! closed-loop phase (warm-up + measured window).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use keyhaven_bench::client::{BoxError, Connection, Signer};
use keyhaven_bench::load::{self, Phase};
use keyhaven_bench::stats::PhaseResult;
use serde_json::{Value, json};

use crate::args::{Operation, Options};

/// The request body of one operation, ready to repeat, and the key it uses.
pub struct Prepared {
    pub key_id: String,
    body: Bytes,
}

fn member(answer: &Value, name: &str, operation: &str) -> Result<String, BoxError> {
    answer[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{operation} answer has no {name}: {answer}").into())
}

async fn create_key(conn: &mut Connection, signer: &Signer, spec: &str, usage: &str) -> Result<String, BoxError> {
    let created = conn
        .call_json(
            signer,
            "CreateKey",
            &json!({"Description": "kms-bench", "KeyUsage": usage, "KeySpec": spec}),
        )
        .await?;
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("CreateKey answer has no KeyMetadata.KeyId: {created}").into())
}

/// Creates the key `operation` needs and its request body; answers that cannot be checked (a Sign to Verify, an
/// Encrypt to Decrypt) are made here once, so every measured request is a real, successful operation.
pub async fn prepare(options: &Options, signer: &Signer, operation: Operation) -> Result<Prepared, BoxError> {
    let mut conn = Connection::open(options.common.addr).await?;
    // A fixed, recognisable pattern: content does not matter for cost, size does.
    let plaintext: Vec<u8> = (0..options.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let message = B64.encode(&plaintext);
    let signing = |spec: &'static str, algorithm: &'static str| (spec, algorithm);
    let (key_id, body) = match operation {
        Operation::Encrypt | Operation::Decrypt | Operation::GenerateDataKey => {
            let key_id = create_key(&mut conn, signer, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await?;
            let encrypt = json!({"KeyId": key_id, "Plaintext": message});
            let body = match operation {
                Operation::Encrypt => encrypt,
                Operation::GenerateDataKey => json!({"KeyId": key_id, "KeySpec": "AES_256"}),
                _ => {
                    let encrypted = conn.call_json(signer, "Encrypt", &encrypt).await?;
                    json!({"KeyId": key_id, "CiphertextBlob": member(&encrypted, "CiphertextBlob", "Encrypt")?})
                }
            };
            (key_id, body)
        }
        Operation::DecryptRsa => {
            let key_id = create_key(&mut conn, signer, "RSA_2048", "ENCRYPT_DECRYPT").await?;
            let encrypt = json!({"KeyId": key_id, "Plaintext": message, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"});
            let encrypted = conn.call_json(signer, "Encrypt", &encrypt).await?;
            let ciphertext = member(&encrypted, "CiphertextBlob", "Encrypt")?;
            let body =
                json!({"KeyId": key_id, "CiphertextBlob": ciphertext, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"});
            (key_id, body)
        }
        Operation::GenerateMac => {
            let key_id = create_key(&mut conn, signer, "HMAC_256", "GENERATE_VERIFY_MAC").await?;
            let body = json!({"KeyId": key_id, "Message": message, "MacAlgorithm": "HMAC_SHA_256"});
            (key_id, body)
        }
        sign_or_verify => {
            let (spec, algorithm) = match sign_or_verify {
                Operation::SignRsa | Operation::VerifyRsa => signing("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
                Operation::SignEcc | Operation::VerifyEcc => signing("ECC_NIST_P256", "ECDSA_SHA_256"),
                Operation::SignEd25519 => signing("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
                _ => signing("ML_DSA_65", "ML_DSA_SHAKE_256"),
            };
            let key_id = create_key(&mut conn, signer, spec, "SIGN_VERIFY").await?;
            let sign = json!({"KeyId": key_id, "Message": message, "SigningAlgorithm": algorithm});
            let body = match sign_or_verify {
                Operation::VerifyRsa | Operation::VerifyEcc | Operation::VerifyMlDsa => {
                    let signed = conn.call_json(signer, "Sign", &sign).await?;
                    let signature = member(&signed, "Signature", "Sign")?;
                    json!({"KeyId": key_id, "Message": message, "Signature": signature, "SigningAlgorithm": algorithm})
                }
                _ => sign,
            };
            (key_id, body)
        }
    };
    // One call before measuring: a body the server refuses would measure errors.
    conn.call_json(signer, operation.wire_name(), &body).await?;
    Ok(Prepared {
        key_id,
        body: Bytes::from(body.to_string()),
    })
}

/// Runs one operation's closed loop; every request carries the same body.
pub async fn run_phase(
    options: &Options,
    signer: &Arc<Signer>,
    prepared: &Prepared,
    operation: Operation,
) -> Result<PhaseResult, BoxError> {
    let phase = Phase::fixed(operation.cli_name(), operation.wire_name(), prepared.body.clone());
    load::run_phase(&options.common, signer, &phase).await
}
