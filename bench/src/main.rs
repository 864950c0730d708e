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
    let mut results = Vec::with_capacity(options.operations.len());
    let mut skipped = Vec::new();
    for &operation in &options.operations {
        // A server without the operation or key type (a peer that lacks it) is reported, not measured.
        let prepared = match workload::prepare(options, &signer, operation).await {
            Ok(prepared) => prepared,
            Err(e) => {
                eprintln!(
                    "kms-bench: {} {}: not measured: {e}",
                    common.endpoint,
                    operation.cli_name()
                );
                skipped.push(json!({"operation": operation.cli_name(), "reason": e.to_string()}));
                continue;
            }
        };
        eprintln!(
            "kms-bench: {} {} with key {}",
            common.endpoint,
            operation.cli_name(),
            prepared.key_id
        );
        stats::announce_phase("kms-bench", common, operation.cli_name());
        results.push(workload::run_phase(options, &signer, &prepared, operation).await?);
    }

    if common.json {
        let report = json!({
            "endpoint": common.endpoint,
            "skipped": skipped,
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
