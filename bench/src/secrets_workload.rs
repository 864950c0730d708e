//! The Secrets Manager benchmark: seeding the secrets, checking them, and the closed-loop phases.

use std::sync::Arc;

use bytes::Bytes;
use keyhaven_bench::client::{BoxError, Connection, Signer};
use keyhaven_bench::load::{self, Phase, Rng};
use keyhaven_bench::seed::{Creation, SeedReport, Seeding};
use keyhaven_bench::stats::PhaseResult;
use serde_json::{Value, json};

use crate::secrets_args::{Operation, Options};

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

/// CreateSecret of the seeded secret with index `i`.
const CREATE_SECRET: Creation = Creation {
    operation: "CreateSecret",
    name: seeded_name,
    body: |i| {
        json!({
            "Name": seeded_name(i),
            "Description": "secrets-bench",
            "SecretString": secret_value(i, Rng::new(i).next_u64()),
        })
        .to_string()
    },
    already_exists_suffix: "ResourceExistsException",
    plural: "secrets",
};

/// Creates secrets `0..--secrets` with `--seed-concurrency` requests in flight. Stops at the first answer that
/// retrying cannot fix.
pub async fn seed(options: &Options, signer: &Arc<Signer>) -> Result<SeedReport, BoxError> {
    Seeding::connect(options.common.addr, options.seed_concurrency, 0..options.secrets)
        .await?
        .run(signer, CREATE_SECRET)
        .await
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
