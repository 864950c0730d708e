//! The Secrets Manager benchmark: seeding the secrets, checking them, and the closed-loop phases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use keyhaven_bench::client::{BoxError, Connection, Signer, snippet};
use keyhaven_bench::load::{self, Phase, Rng};
use keyhaven_bench::stats::PhaseResult;
use serde_json::{Value, json};

use crate::secrets_args::{Operation, Options};

/// How many times a seeding request is retried after a transport error or a 5xx/throttling answer.
const SEED_RETRIES: u32 = 5;

/// The seeded secret with index `i`. No `-XXXXXX` ending, which Secrets Manager could take for an ARN's suffix.
pub fn seeded_name(i: u64) -> String {
    format!("bench/secret_{i:06}")
}

/// A database-credential-like JSON SecretString of about 100 bytes; `password` makes each value distinct.
fn secret_value(i: u64, password: u64) -> String {
    format!(
        r#"{{"username":"bench-user-{i:06}","password":"{password:016x}","host":"db-{i:06}.bench.internal","port":5432}}"#
    )
}

/// A random version-4-UUID-shaped ClientRequestToken (36 characters; Secrets Manager takes 32 to 64).
fn request_token(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

// ---- seeding ----

/// What seeding did.
pub struct SeedReport {
    pub secrets: u64,
    pub created: u64,
    /// Already there (a re-run against the same server, or a retried request whose first attempt had been applied).
    pub existed: u64,
    pub retries: u64,
    pub elapsed: Duration,
}

impl SeedReport {
    pub fn creates_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.secrets as f64 / secs } else { 0.0 }
    }

    pub fn to_json(&self, concurrency: usize) -> Value {
        json!({
            "secrets": self.secrets,
            "created": self.created,
            "already_existed": self.existed,
            "retries": self.retries,
            "concurrency": concurrency,
            "seconds": self.elapsed.as_secs_f64(),
            "creates_per_s": self.creates_per_second(),
        })
    }
}

/// Counters the seeding workers share.
#[derive(Default)]
struct SeedProgress {
    next: AtomicU64,
    created: AtomicU64,
    existed: AtomicU64,
    retries: AtomicU64,
    failed: AtomicBool,
}

/// Creates secrets `0..--secrets` with `--seed-concurrency` requests in flight. Stops at the first answer that
/// retrying cannot fix.
pub async fn seed(options: &Options, signer: &Arc<Signer>) -> Result<SeedReport, BoxError> {
    let progress = Arc::new(SeedProgress::default());
    let mut connections = Vec::with_capacity(options.seed_concurrency);
    for _ in 0..options.seed_concurrency {
        connections.push(Connection::open(options.common.addr).await?);
    }
    let start = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|conn| {
            tokio::spawn(seed_worker(
                conn,
                Arc::clone(signer),
                Arc::clone(&progress),
                options.secrets,
            ))
        })
        .collect();
    let mut first_error = None;
    for handle in workers {
        if let Err(e) = handle.await? {
            first_error.get_or_insert(e);
        }
    }
    let report = SeedReport {
        secrets: options.secrets,
        created: progress.created.load(Ordering::Relaxed),
        existed: progress.existed.load(Ordering::Relaxed),
        retries: progress.retries.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    };
    match first_error {
        Some(e) => Err(format!(
            "seeding stopped after {} of {} new secrets: {e}",
            report.created, options.secrets
        )
        .into()),
        None => Ok(report),
    }
}

async fn seed_worker(
    mut conn: Connection,
    signer: Arc<Signer>,
    progress: Arc<SeedProgress>,
    secrets: u64,
) -> Result<(), BoxError> {
    while !progress.failed.load(Ordering::Relaxed) {
        let i = progress.next.fetch_add(1, Ordering::Relaxed);
        if i >= secrets {
            break;
        }
        let body = json!({
            "Name": seeded_name(i),
            "Description": "secrets-bench",
            "SecretString": secret_value(i, Rng::new(i).next_u64()),
        })
        .to_string();
        let mut attempt = 0;
        loop {
            let outcome = conn
                .call(signer.request("CreateSecret", Bytes::from(body.clone()))?)
                .await;
            let retryable = match &outcome {
                Ok((StatusCode::OK, _)) => {
                    progress.created.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok((_, answer)) if error_type(answer).ends_with("ResourceExistsException") => {
                    progress.existed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok((status, answer)) => {
                    status.is_server_error()
                        || *status == StatusCode::TOO_MANY_REQUESTS
                        || error_type(answer).contains("Throttl")
                }
                Err(_) => true,
            };
            attempt += 1;
            if !retryable || attempt > SEED_RETRIES {
                progress.failed.store(true, Ordering::Relaxed);
                return Err(match outcome {
                    Ok((status, answer)) => format!("{}: HTTP {status}: {}", seeded_name(i), snippet(&answer)),
                    Err(e) => format!("{}: transport: {e}", seeded_name(i)),
                }
                .into());
            }
            progress.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
    }
    Ok(())
}

/// The `__type` of an awsJson error answer ("" when there is none).
fn error_type(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["__type"].as_str().map(str::to_string))
        .unwrap_or_default()
}

// ---- checks and closed-loop phases ----

/// Checks that the seeded set is there and, when puts are measured, that a put is what the next read returns, so
/// that the phases measure real reads and writes.
pub async fn setup(options: &Options, signer: &Signer) -> Result<(), BoxError> {
    let mut conn = Connection::open(options.common.addr).await?;
    let last = options.secrets - 1;
    let name = seeded_name(last);
    let got = conn
        .call_json(signer, "GetSecretValue", &json!({"SecretId": name}))
        .await
        .map_err(|e| format!("the seeded set should reach {name}: {e}"))?;
    // An earlier run's puts may have replaced the seeded value; every value names its user, though.
    let value: Value = serde_json::from_str(got["SecretString"].as_str().unwrap_or_default()).unwrap_or_default();
    if value["username"] != format!("bench-user-{last:06}").as_str() {
        return Err(format!("GetSecretValue {name} answered {got}").into());
    }

    if options.operations.contains(&Operation::PutSecretValue) {
        let mut rng = Rng::new(Rng::seed_from_clock());
        let token = request_token(&mut rng);
        let new_value = secret_value(last, rng.next_u64());
        let put = json!({"SecretId": name, "ClientRequestToken": token, "SecretString": new_value});
        conn.call_json(signer, "PutSecretValue", &put).await?;
        let got = conn
            .call_json(signer, "GetSecretValue", &json!({"SecretId": name}))
            .await?;
        if got["VersionId"] != token.as_str() || got["SecretString"] != new_value.as_str() {
            return Err(format!("GetSecretValue after PutSecretValue (version {token}) answered {got}").into());
        }
    }
    Ok(())
}

/// The closed loop for one operation: a random seeded secret per request.
pub fn phase(options: &Options, operation: Operation) -> Phase {
    let secrets = options.secrets;
    let body: load::BodyMaker = match operation {
        Operation::GetSecretValue => Arc::new(move |turn| {
            let name = seeded_name(turn.rng.below(secrets));
            Bytes::from(json!({"SecretId": name}).to_string())
        }),
        Operation::PutSecretValue => Arc::new(move |turn| {
            let i = turn.rng.below(secrets);
            let token = request_token(&mut turn.rng);
            let value = secret_value(i, turn.rng.next_u64());
            Bytes::from(
                json!({"SecretId": seeded_name(i), "ClientRequestToken": token, "SecretString": value}).to_string(),
            )
        }),
    };
    Phase {
        name: operation.cli_name(),
        wire_name: operation.wire_name(),
        body,
    }
}

/// Runs one closed-loop phase.
pub async fn run_phase(options: &Options, signer: &Arc<Signer>, operation: Operation) -> Result<PhaseResult, BoxError> {
    load::run_phase(&options.common, signer, &phase(options, operation)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_tokens() {
        let value = secret_value(42, u64::MAX);
        assert!((90..=110).contains(&value.len()), "{} bytes", value.len());
        let parsed: Value = serde_json::from_str(&value).expect("JSON");
        assert_eq!(parsed["username"], "bench-user-000042");

        let mut rng = Rng::new(7);
        let token = request_token(&mut rng);
        assert_eq!(token.len(), 36);
        let groups: Vec<usize> = token.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(token.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(&token[14..15], "4");
        assert_ne!(token, request_token(&mut rng));
    }
}
