//! The benchmark itself: key setup, then one closed-loop phase (warm-up + measured window) per operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::args::{Operation, Options};
use crate::client::{BoxError, Connection, Signer};
use crate::stats::{PhaseResult, WorkerSamples};

/// How much of an error response to keep for the report: enough to read the error type and message.
const ERROR_BODY_CHARS: usize = 300;

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
    let mut conn = Connection::open(options.addr).await?;
    let created = call_json(
        &mut conn,
        signer,
        "CreateKey",
        json!({"Description": "kms-bench", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}),
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
    let encrypted = call_json(&mut conn, signer, "Encrypt", encrypt.clone()).await?;
    let ciphertext = encrypted["CiphertextBlob"]
        .as_str()
        .ok_or_else(|| format!("Encrypt answer has no CiphertextBlob: {encrypted}"))?
        .to_string();

    let decrypt = json!({"KeyId": key_id, "CiphertextBlob": ciphertext});
    let decrypted = call_json(&mut conn, signer, "Decrypt", decrypt.clone()).await?;
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

/// One setup call that must succeed; its JSON answer.
async fn call_json(conn: &mut Connection, signer: &Signer, operation: &str, body: Value) -> Result<Value, BoxError> {
    let request = signer.request(operation, Bytes::from(body.to_string()))?;
    let (status, body) = conn.call(request).await?;
    if status != StatusCode::OK {
        return Err(format!("{operation}: HTTP {status}: {}", snippet(&body)).into());
    }
    Ok(serde_json::from_slice(&body)
        .map_err(|e| format!("{operation}: answer is not JSON ({e}): {}", snippet(&body)))?)
}

/// Runs one operation: every worker opens its connection, then all loop through the warm-up and the measured window.
pub async fn run_phase(
    options: &Options,
    signer: &Arc<Signer>,
    setup: &Setup,
    operation: Operation,
) -> Result<PhaseResult, BoxError> {
    // Connect everyone before the clock starts, so that connection set-up is neither warm-up nor measurement.
    let mut connections = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        connections.push(Connection::open(options.addr).await?);
    }

    let body = setup.body(operation);
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let stop_at = measure_from + options.duration;
    let workers: Vec<_> = connections
        .into_iter()
        .map(|conn| {
            let signer = Arc::clone(signer);
            let body = body.clone();
            tokio::spawn(worker(conn, signer, operation, body, measure_from, stop_at))
        })
        .collect();

    let mut samples = Vec::with_capacity(workers.len());
    let mut last_finish = measure_from;
    for handle in workers {
        let (worker_samples, finished) = handle.await?;
        last_finish = last_finish.max(finished);
        samples.push(worker_samples);
    }
    Ok(PhaseResult::from_workers(
        operation.cli_name(),
        samples,
        last_finish.saturating_duration_since(measure_from),
    ))
}

/// A closed loop: send, wait for the whole answer, repeat. A request belongs to the window in which it was sent; the
/// last one may finish after `stop_at`, which the phase's elapsed time accounts for.
async fn worker(
    mut conn: Connection,
    signer: Arc<Signer>,
    operation: Operation,
    body: Bytes,
    measure_from: Instant,
    stop_at: Instant,
) -> (WorkerSamples, Instant) {
    let mut samples = WorkerSamples::default();
    let mut reopened_in_warmup = 0;
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let measured = now >= measure_from;
        // Signing is the client's work; it stays outside the latency window, which covers only the server's share.
        let outcome = match signer.request(operation.wire_name(), body.clone()) {
            Ok(request) => {
                let sent = Instant::now();
                conn.call(request)
                    .await
                    .map(|(status, body)| (status, body, sent.elapsed()))
            }
            Err(e) => Err(e),
        };
        if !measured {
            reopened_in_warmup = conn.reopened;
            continue;
        }
        match outcome {
            Ok((StatusCode::OK, _, latency)) => {
                samples
                    .latencies_us
                    .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
            Ok((status, body, _)) => {
                samples.errors += 1;
                samples
                    .first_error
                    .get_or_insert_with(|| format!("HTTP {status}: {}", snippet(&body)));
            }
            Err(e) => {
                samples.errors += 1;
                samples.first_error.get_or_insert_with(|| format!("transport: {e}"));
                // A dead server refuses connections instantly; pausing keeps the loop from spinning on a core.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    samples.reopened = conn.reopened - reopened_in_warmup;
    (samples, Instant::now())
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(ERROR_BODY_CHARS).collect()
}
