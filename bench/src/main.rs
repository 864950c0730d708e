//! kms-bench: closed-loop throughput and latency benchmark for a KMS JSON endpoint (keyhaven, moto, ...).

mod args;
mod workload;

use std::process::ExitCode;

use keyhaven_bench::cli;
use keyhaven_bench::client::{BoxError, Service};
use keyhaven_bench::stats::{self, PhaseResult};
use serde_json::json;

use crate::args::Options;

fn main() -> ExitCode {
    cli::main(&args::COMMAND_LINE, run)
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let common = &options.common;
    let signer = common.signer(Service::KMS)?;
    let setup = workload::setup(options, &signer).await?;
    eprintln!("kms-bench: {} key {}", common.endpoint, setup.key_id);

    let mut results = Vec::with_capacity(options.operations.len());
    for &operation in &options.operations {
        stats::announce_phase("kms-bench", common, operation.cli_name());
        results.push(workload::run_phase(options, &signer, &setup, operation).await?);
    }

    if common.json {
        let report = json!({
            "endpoint": common.endpoint,
            "key_id": setup.key_id,
            "concurrency": common.concurrency,
            "duration_s": common.duration.as_secs_f64(),
            "warmup_s": common.warmup.as_secs_f64(),
            "plaintext_bytes": options.plaintext_bytes,
            "results": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
        });
        println!("{report:#}");
    } else {
        stats::print_table(common, &results);
    }
    Ok(())
}
