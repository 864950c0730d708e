//! logs-bench: closed-loop throughput and latency of PutLogEvents, GetLogEvents and FilterLogEvents for a CloudWatch
//! Logs JSON endpoint (keyhaven, moto, ...), on one log group (optionally under a KMS key) with many streams.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use keyhaven_bench::cli::{self, ArgError, CommandLine, CommonOptions};
use keyhaven_bench::client::{BoxError, Connection, Service, Signer};
use keyhaven_bench::load::{self, Phase};
use keyhaven_bench::seed::{Creation, Seeding};
use keyhaven_bench::stats::{self, PhaseResult};
use serde_json::json;

const USAGE: &str = "\
usage: logs-bench --endpoint http://IP:PORT [options]

CloudWatch Logs benchmark. Creates the log group /bench/logs (under KMS_KEY if
given) and STREAMS streams, puts SEED_BATCHES batches into each, then for each
operation runs CONCURRENCY workers (one keep-alive connection each, every
request freshly SigV4-signed) in a closed loop for DURATION seconds after a
warm-up, each request on a random stream. Only HTTP 200 answers count.

options:
  --streams N          streams to create and pick from (default 100)
  --batch N            events per PutLogEvents (default 10, about 100 bytes each)
  --seed-batches N     batches put into each stream before the phases (default 10)
  --kms-key ARN        create the group under this key (its policy must allow logs)
  --operations LIST    comma-separated: put-log-events,get-log-events,filter-log-events (default: all)
";

const GROUP: &str = "/bench/logs";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Put,
    Get,
    Filter,
}

impl Operation {
    fn cli_name(self) -> &'static str {
        match self {
            Operation::Put => "put-log-events",
            Operation::Get => "get-log-events",
            Operation::Filter => "filter-log-events",
        }
    }

    fn wire_name(self) -> &'static str {
        match self {
            Operation::Put => "PutLogEvents",
            Operation::Get => "GetLogEvents",
            Operation::Filter => "FilterLogEvents",
        }
    }

    fn parse(name: &str) -> Result<Self, ArgError> {
        [Operation::Put, Operation::Get, Operation::Filter]
            .into_iter()
            .find(|o| o.cli_name() == name)
            .ok_or_else(|| ArgError(format!("unknown operation {name:?}")))
    }
}

#[derive(Debug)]
struct Options {
    common: CommonOptions,
    streams: u64,
    batch: usize,
    seed_batches: usize,
    kms_key: Option<String>,
    operations: Vec<Operation>,
}

const COMMAND_LINE: CommandLine<Options> = CommandLine {
    name: "logs-bench",
    usage: USAGE,
    parse,
    common: |options| &options.common,
};

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, ArgError> {
    let (mut streams, mut batch, mut seed_batches, mut kms_key) = (100, 10, 10, None);
    let mut operations = vec![Operation::Put, Operation::Get, Operation::Filter];
    let common = cli::parse_common(args, |flag, value| {
        match flag {
            "--streams" => streams = cli::positive(flag, &value()?)? as u64,
            "--batch" => batch = cli::positive(flag, &value()?)?,
            "--seed-batches" => seed_batches = cli::positive(flag, &value()?)?,
            "--kms-key" => kms_key = Some(value()?),
            "--operations" => operations = cli::list(flag, &value()?, Operation::parse)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(common.map(|common| Options {
        common,
        streams,
        batch,
        seed_batches,
        kms_key,
        operations,
    }))
}

fn stream_name(i: u64) -> String {
    format!("stream-{i:05}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// A batch of `count` application-log-like lines, one in ten an ERROR, on `stream`.
fn put_body(stream: &str, count: usize, salt: u64) -> Bytes {
    let at = now_ms();
    let events: Vec<_> = (0..count)
        .map(|i| {
            let level = if (salt + i as u64).is_multiple_of(10) { "ERROR" } else { "INFO" };
            json!({"timestamp": at, "message": format!("{level} request {salt:016x}-{i:04} served in 12 ms by web-01 for /api/v1/items")})
        })
        .collect();
    Bytes::from(json!({"logGroupName": GROUP, "logStreamName": stream, "logEvents": events}).to_string())
}

const CREATE_STREAM: Creation = Creation {
    operation: "CreateLogStream",
    name: stream_name,
    body: |i| json!({"logGroupName": GROUP, "logStreamName": stream_name(i)}).to_string(),
    already_exists_suffix: "ResourceAlreadyExistsException",
    plural: "streams",
};

async fn setup(options: &Options, signer: &Arc<Signer>) -> Result<(), BoxError> {
    let mut conn = Connection::open(options.common.addr).await?;
    let mut group = json!({"logGroupName": GROUP});
    if let Some(key) = &options.kms_key {
        group["kmsKeyId"] = key.as_str().into();
    }
    if let Err(e) = conn.call_json(signer, "CreateLogGroup", &group).await
        && !e.to_string().contains("ResourceAlreadyExistsException")
    {
        return Err(e);
    }
    Seeding::connect(options.common.addr, 16, 0..options.streams)
        .await?
        .run(signer, CREATE_STREAM)
        .await?;
    for i in 0..options.streams {
        for b in 0..options.seed_batches {
            let body: serde_json::Value = serde_json::from_slice(&put_body(&stream_name(i), options.batch, b as u64))?;
            conn.call_json(signer, "PutLogEvents", &body).await?;
        }
    }
    Ok(())
}

fn phase(options: &Options, operation: Operation) -> Phase {
    let (streams, batch) = (options.streams, options.batch);
    let body: load::BodyMaker = match operation {
        Operation::Put => Arc::new(move |turn| {
            let stream = stream_name(turn.rng.below(streams));
            put_body(&stream, batch, turn.rng.next_u64())
        }),
        Operation::Get => Arc::new(move |turn| {
            let stream = stream_name(turn.rng.below(streams));
            Bytes::from(json!({"logGroupName": GROUP, "logStreamName": stream, "limit": 100}).to_string())
        }),
        Operation::Filter => Arc::new(move |turn| {
            let stream = stream_name(turn.rng.below(streams));
            Bytes::from(
                json!({"logGroupName": GROUP, "logStreamNames": [stream], "filterPattern": "ERROR", "limit": 100})
                    .to_string(),
            )
        }),
    };
    Phase {
        name: operation.cli_name(),
        wire_name: operation.wire_name(),
        body,
    }
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let common = &options.common;
    let signer = common.signer(Service::LOGS)?;
    eprintln!(
        "logs-bench: {}: {} streams, {} batches of {} each",
        common.endpoint, options.streams, options.seed_batches, options.batch
    );
    setup(options, &signer).await?;
    let mut results: Vec<PhaseResult> = Vec::new();
    for &operation in &options.operations {
        stats::announce_phase("logs-bench", common, operation.cli_name());
        results.push(load::run_phase(common, &signer, &phase(options, operation)).await?);
    }
    if common.json {
        let report = json!({
            "endpoint": common.endpoint,
            "concurrency": common.concurrency,
            "duration_s": common.duration.as_secs_f64(),
            "streams": options.streams,
            "batch": options.batch,
            "kms": options.kms_key.is_some(),
            "results": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
        });
        println!("{report:#}");
    } else {
        stats::print_table(common, &results);
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::main(&COMMAND_LINE, run)
}
