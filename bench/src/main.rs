//! kms-bench: closed-loop throughput and latency benchmark for a KMS JSON endpoint (keyhaven, moto, ...).

mod args;
mod client;
mod stats;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use crate::args::{Command, Options};
use crate::client::{BoxError, Signer};
use crate::stats::PhaseResult;

fn main() -> ExitCode {
    let options = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kms-bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = options.threads {
        builder.worker_threads(threads);
    }
    let outcome = builder
        .build()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(run(&options)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let signer = Arc::new(Signer::new(
        options.addr,
        &options.region,
        &options.access_key,
        &options.secret_key,
    )?);
    let setup = workload::setup(options, &signer).await?;
    eprintln!("kms-bench: {} key {}", options.endpoint, setup.key_id);

    let mut results = Vec::with_capacity(options.operations.len());
    for &operation in &options.operations {
        eprintln!(
            "kms-bench: {}: {:.1} s warm-up + {:.1} s with {} workers",
            operation.cli_name(),
            options.warmup.as_secs_f64(),
            options.duration.as_secs_f64(),
            options.concurrency
        );
        results.push(workload::run_phase(options, &signer, &setup, operation).await?);
    }

    if options.json {
        let report = json!({
            "endpoint": options.endpoint,
            "key_id": setup.key_id,
            "concurrency": options.concurrency,
            "duration_s": options.duration.as_secs_f64(),
            "warmup_s": options.warmup.as_secs_f64(),
            "plaintext_bytes": options.plaintext_bytes,
            "results": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
        });
        println!("{report:#}");
    } else {
        print_table(options, &results);
    }
    Ok(())
}

fn print_table(options: &Options, results: &[PhaseResult]) {
    println!(
        "{}: concurrency {}, {:.1} s per operation after {:.1} s warm-up; requests = HTTP 200 answers only",
        options.endpoint,
        options.concurrency,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64()
    );
    println!(
        "{:<18} {:>10} {:>8} {:>11} {:>9} {:>9}",
        "operation", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for r in results {
        println!(
            "{:<18} {:>10} {:>8} {:>11.1} {:>9.3} {:>9.3}",
            r.operation,
            r.requests,
            r.errors,
            r.requests_per_second(),
            r.p50_ms,
            r.p99_ms
        );
    }
    for r in results {
        if let Some(error) = &r.first_error {
            println!("{}: first error: {error}", r.operation);
        }
        if r.reopened > 0 {
            println!(
                "{}: the server closed {} keep-alive connections (reopened)",
                r.operation, r.reopened
            );
        }
    }
}
