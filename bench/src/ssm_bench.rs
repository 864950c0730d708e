//! ssm-bench: seeding rate, closed-loop throughput and latency, and GetParametersByPath timings for an SSM Parameter
//! Store JSON endpoint (keyhaven, moto, ...).

mod ssm_args;
mod ssm_workload;

use std::process::ExitCode;

use keyhaven_bench::cli;
use keyhaven_bench::client::{BoxError, Service};
use keyhaven_bench::load::Rng;
use keyhaven_bench::stats::{self, PhaseResult};
use serde_json::json;

use crate::ssm_args::{Operation, Options};

fn main() -> ExitCode {
    cli::main(&ssm_args::COMMAND_LINE, run)
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let common = &options.common;
    let signer = common.signer(Service::SSM)?;

    let seed = if options.seed_to > options.seed_from {
        eprintln!(
            "ssm-bench: {}: seeding parameters {}..{} with {} in flight",
            common.endpoint, options.seed_from, options.seed_to, options.seed_concurrency
        );
        let report = ssm_workload::seed(options, &signer).await?;
        eprintln!(
            "ssm-bench: seeded {} ({} already there) in {:.1} s: {:.0} puts/s",
            report.created,
            report.existed,
            report.elapsed.as_secs_f64(),
            report.per_second()
        );
        Some(report)
    } else {
        None
    };

    ssm_workload::setup(options, &signer).await?;
    let run_tag = options
        .run_tag
        .clone()
        .unwrap_or_else(|| format!("{:x}", Rng::new(Rng::seed_from_clock()).next_u64() >> 16));
    let mut results = Vec::new();
    let mut by_path = None;
    for &operation in &options.operations {
        if operation == Operation::ByPath {
            eprintln!(
                "ssm-bench: by-path: {} first pages, up to {} full walks or {:.0} s",
                options.first_page_calls,
                options.walks,
                options.walk_budget.as_secs_f64()
            );
            by_path = Some(ssm_workload::by_path(options, &signer).await?);
        } else {
            stats::announce_phase("ssm-bench", common, operation.cli_name());
            results.push(ssm_workload::run_phase(options, &signer, operation, &run_tag).await?);
        }
    }

    if common.json {
        let report = json!({
            "endpoint": common.endpoint,
            "concurrency": common.concurrency,
            "duration_s": common.duration.as_secs_f64(),
            "warmup_s": common.warmup.as_secs_f64(),
            "parameters": options.parameters,
            "run_tag": run_tag,
            "seed": seed.as_ref().map(|s| s.to_json(
                options.seed_concurrency,
                json!({"from": s.indexes.start, "to": s.indexes.end, "puts_per_s": s.per_second()}),
            )),
            "results": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
            "by_path": by_path.as_ref().map(ssm_workload::ByPathReport::to_json),
        });
        println!("{report:#}");
    } else {
        if let Some(s) = &seed {
            println!(
                "seeding {}..{}: {:.1} s, {:.0} puts/s with {} in flight ({} created, {} already there, {} retries)",
                s.indexes.start,
                s.indexes.end,
                s.elapsed.as_secs_f64(),
                s.per_second(),
                options.seed_concurrency,
                s.created,
                s.existed,
                s.retries
            );
        }
        if !results.is_empty() {
            stats::print_table(common, &results);
        }
        if let Some(by_path) = &by_path {
            by_path.print();
        }
    }
    Ok(())
}
