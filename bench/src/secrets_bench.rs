//! secrets-bench: seeding rate and closed-loop throughput and latency of GetSecretValue and PutSecretValue for a
//! Secrets Manager JSON endpoint (keyhaven, moto, ...).

mod secrets_args;
mod secrets_workload;

use std::process::ExitCode;

use keyhaven_bench::cli;
use keyhaven_bench::client::{BoxError, Service};
use keyhaven_bench::stats::{self, PhaseResult};
use serde_json::json;

use crate::secrets_args::Options;

fn main() -> ExitCode {
    cli::main(&secrets_args::COMMAND_LINE, run)
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let common = &options.common;
    let signer = common.signer(Service::SECRETS_MANAGER)?;

    eprintln!(
        "secrets-bench: {}: seeding {} secrets with {} in flight",
        common.endpoint, options.secrets, options.seed_concurrency
    );
    let seed = secrets_workload::seed(options, &signer).await?;
    eprintln!(
        "secrets-bench: seeded {} ({} already there) in {:.1} s: {:.0} creates/s",
        seed.created,
        seed.existed,
        seed.elapsed.as_secs_f64(),
        seed.per_second()
    );
    secrets_workload::setup(options, &signer).await?;

    let mut results = Vec::with_capacity(options.operations.len());
    for &operation in &options.operations {
        stats::announce_phase("secrets-bench", common, operation.cli_name());
        results.push(secrets_workload::run_phase(options, &signer, operation).await?);
    }

    if common.json {
        let report = json!({
            "endpoint": common.endpoint,
            "concurrency": common.concurrency,
            "duration_s": common.duration.as_secs_f64(),
            "warmup_s": common.warmup.as_secs_f64(),
            "secrets": options.secrets,
            "seed": seed.to_json(
                options.seed_concurrency,
                json!({"secrets": options.secrets, "creates_per_s": seed.per_second()}),
            ),
            "results": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
        });
        println!("{report:#}");
    } else {
        println!(
            "seeding {} secrets: {:.1} s, {:.0} creates/s with {} in flight ({} created, {} already there, {} retries)",
            options.secrets,
            seed.elapsed.as_secs_f64(),
            seed.per_second(),
            options.seed_concurrency,
            seed.created,
            seed.existed,
            seed.retries
        );
        stats::print_table(common, &results);
    }
    Ok(())
}
