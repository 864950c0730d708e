//! The SSM benchmark: seeding the hierarchy, the closed-loop phases and the GetParametersByPath measurement.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use keyhaven_bench::client::{BoxError, Connection, Signer, snippet};
use keyhaven_bench::load::{self, Phase, micros};
use keyhaven_bench::seed::{Creation, SeedReport, Seeding};
use keyhaven_bench::stats::{PhaseResult, median_ms};
use serde_json::{Value, json};

use crate::ssm_args::{Operation, Options};

/// Parameters per app, i.e. the size of the `/bench/app-0000` subtree once that many are seeded.
pub const SUBTREE_SIZE: u64 = 10_000;
/// The subtree by-path walks.
pub const SUBTREE_PATH: &str = "/bench/app-0000";
/// GetParametersByPath's page size (AWS's maximum).
const PAGE_SIZE: usize = 10;
/// SecureString parameters that get-parameter-secure reads.
const SECURE_COUNT: u64 = 16;
/// Unmeasured first-page calls before the measured ones.
const FIRST_PAGE_WARMUP: usize = 5;
/// A walk longer than this is a server that never stops handing out NextTokens.
const MAX_WALK_PAGES: usize = 100_000;

/// The hierarchy parameter with index `i`: 10 envs × 10 services × 100 parameters per app, in name order.
pub fn seeded_name(i: u64) -> String {
    format!(
        "/bench/app-{:04}/env-{}/svc-{}/param-{:02}",
        i / SUBTREE_SIZE,
        (i / 1000) % 10,
        (i / 100) % 10,
        i % 100
    )
}

fn secure_name(i: u64) -> String {
    format!("/bench/secure/param-{i:02}")
}

// ---- seeding ----

/// PutParameter of the hierarchy parameter with index `i`.
const PUT_PARAMETER: Creation = Creation {
    operation: "PutParameter",
    name: seeded_name,
    body: |i| format!(r#"{{"Name":"{}","Value":"seed-{i}","Type":"String"}}"#, seeded_name(i)),
    already_exists_suffix: "ParameterAlreadyExists",
    plural: "parameters",
};

/// Creates hierarchy parameters `from..to` with `seed_concurrency` requests in flight, in index (= name) order,
/// saying how far it has got every 10 seconds. Stops at the first answer that retrying cannot fix (a quota, say).
pub async fn seed(options: &Options, signer: &Arc<Signer>) -> Result<SeedReport, BoxError> {
    let (from, to) = (options.seed_from, options.seed_to);
    let seeding = Seeding::connect(options.common.addr, options.seed_concurrency, from..to).await?;

    let start = Instant::now();
    let ticker = tokio::spawn({
        let progress = seeding.progress();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = progress.done();
                eprintln!(
                    "ssm-bench: seeded {done} of {} ({:.0} puts/s)",
                    to - from,
                    done as f64 / start.elapsed().as_secs_f64()
                );
            }
        }
    });
    let report = seeding.run(signer, PUT_PARAMETER).await;
    ticker.abort();
    report
}

// ---- closed-loop phases ----

/// Prepares what the phases read (the SecureStrings) and checks that the seeded set is there.
pub async fn setup(options: &Options, signer: &Signer) -> Result<(), BoxError> {
    let mut conn = Connection::open(options.common.addr).await?;
    if options.parameters > 0 {
        let last = seeded_name(options.parameters - 1);
        let got = conn
            .call_json(signer, "GetParameter", &json!({"Name": last, "WithDecryption": false}))
            .await
            .map_err(|e| format!("the seeded set should reach {last}: {e}"))?;
        if got["Parameter"]["Name"] != last.as_str() {
            return Err(format!("GetParameter {last} answered {got}").into());
        }
    }
    if options.operations.contains(&Operation::GetParameterSecure) {
        for i in 0..SECURE_COUNT {
            let put = json!({"Name": secure_name(i), "Value": format!("secret-{i}"), "Type": "SecureString",
                "Overwrite": true});
            conn.call_json(signer, "PutParameter", &put).await?;
        }
        let got = conn
            .call_json(
                signer,
                "GetParameter",
                &json!({"Name": secure_name(0), "WithDecryption": true}),
            )
            .await?;
        if got["Parameter"]["Value"] != "secret-0" {
            return Err(format!("GetParameter WithDecryption did not return the value put: {got}").into());
        }
    }
    Ok(())
}

/// The closed loop for one of the request/response operations (not by-path).
pub fn phase(options: &Options, operation: Operation, run_tag: &str) -> Phase {
    let parameters = options.parameters;
    let (wire_name, body): (_, load::BodyMaker) = match operation {
        Operation::PutParameter => {
            let tag = run_tag.to_string();
            (
                "PutParameter",
                Arc::new(move |turn| {
                    Bytes::from(format!(
                        r#"{{"Name":"/bench/put/{tag}/w{}/{}","Value":"bench-value","Type":"String"}}"#,
                        turn.worker, turn.seq
                    ))
                }),
            )
        }
        Operation::GetParameter => (
            "GetParameter",
            Arc::new(move |turn| {
                let name = seeded_name(turn.rng.below(parameters));
                Bytes::from(format!(r#"{{"Name":"{name}","WithDecryption":false}}"#))
            }),
        ),
        Operation::GetParameterSecure => (
            "GetParameter",
            Arc::new(|turn| {
                let name = secure_name(turn.rng.below(SECURE_COUNT));
                Bytes::from(format!(r#"{{"Name":"{name}","WithDecryption":true}}"#))
            }),
        ),
        Operation::ByPath => unreachable!("by-path is not a closed loop"),
    };
    Phase {
        name: operation.cli_name(),
        wire_name,
        body,
    }
}

/// Runs one closed-loop phase.
pub async fn run_phase(
    options: &Options,
    signer: &Arc<Signer>,
    operation: Operation,
    run_tag: &str,
) -> Result<PhaseResult, BoxError> {
    load::run_phase(&options.common, signer, &phase(options, operation, run_tag)).await
}

// ---- by-path ----

/// One full walk of the subtree.
struct Walk {
    pages: usize,
    parameters: usize,
    /// Sum of the pages' request latencies (signing and parsing excluded).
    server_us: u64,
    /// From the first request's signing to the last answer's parsing: what a client doing the walk waits.
    wall_us: u64,
    /// Why the walk did not return exactly the subtree, if it did not.
    problem: Option<String>,
}

/// The GetParametersByPath figures.
pub struct ByPathReport {
    expected: u64,
    first_page_us: Vec<u64>,
    walks: Vec<Walk>,
}

/// Times the first page (sequential calls on one connection) and full recursive walks of [`SUBTREE_PATH`]: up to
/// `--walks`, but no new one once `--walk-budget` is spent (there is always at least one).
pub async fn by_path(options: &Options, signer: &Signer) -> Result<ByPathReport, BoxError> {
    let expected = options.parameters.min(SUBTREE_SIZE);
    let mut conn = Connection::open(options.common.addr).await?;
    let mut first_page_us = Vec::with_capacity(options.first_page_calls);
    // A few unmeasured calls first, as a warm-up (a whole walk can take a minute on a slow server).
    for call in 0..FIRST_PAGE_WARMUP + options.first_page_calls {
        let (latency, page) = page(&mut conn, signer, None).await?;
        let got = page["Parameters"].as_array().map_or(0, Vec::len);
        if got != PAGE_SIZE.min(expected as usize) {
            return Err(format!("first page of {SUBTREE_PATH} has {got} parameters: {page}").into());
        }
        if call >= FIRST_PAGE_WARMUP {
            first_page_us.push(latency);
        }
    }
    let mut walks = Vec::with_capacity(options.walks);
    let budget_from = Instant::now();
    for _ in 0..options.walks {
        if !walks.is_empty() && budget_from.elapsed() >= options.walk_budget {
            break;
        }
        let mut one = walk(&mut conn, signer).await?;
        if one.parameters as u64 != expected && one.problem.is_none() {
            one.problem = Some(format!("{} parameters, expected {expected}", one.parameters));
        }
        walks.push(one);
    }
    Ok(ByPathReport {
        expected,
        first_page_us,
        walks,
    })
}

/// Follows NextToken from the first page to the end, then checks that every name is distinct and in the subtree.
async fn walk(conn: &mut Connection, signer: &Signer) -> Result<Walk, BoxError> {
    let start = Instant::now();
    let mut names = Vec::new();
    let mut server_us = 0;
    let mut pages = 0;
    let mut token = None;
    loop {
        let (latency, page) = page(conn, signer, token.as_deref()).await?;
        server_us += latency;
        pages += 1;
        for parameter in page["Parameters"].as_array().into_iter().flatten() {
            names.push(parameter["Name"].as_str().unwrap_or_default().to_string());
        }
        token = page["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
        if pages >= MAX_WALK_PAGES {
            return Err(format!("a walk of {SUBTREE_PATH} was still going after {pages} pages").into());
        }
    }
    let wall_us = micros(start.elapsed());

    let prefix = format!("{SUBTREE_PATH}/");
    let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
    let problem = if distinct.len() != names.len() {
        Some(format!(
            "{} names came back more than once",
            names.len() - distinct.len()
        ))
    } else {
        names
            .iter()
            .find(|name| !name.starts_with(&prefix))
            .map(|name| format!("{name:?} is not under {SUBTREE_PATH}"))
    };
    Ok(Walk {
        pages,
        parameters: names.len(),
        server_us,
        wall_us,
        problem,
    })
}

/// One GetParametersByPath page, which must succeed; its latency (signing and parsing excluded) and answer.
async fn page(conn: &mut Connection, signer: &Signer, token: Option<&str>) -> Result<(u64, Value), BoxError> {
    let mut body = json!({"Path": SUBTREE_PATH, "Recursive": true, "MaxResults": PAGE_SIZE, "WithDecryption": false});
    if let Some(token) = token {
        body["NextToken"] = json!(token);
    }
    let request = signer.request("GetParametersByPath", Bytes::from(body.to_string()))?;
    let sent = Instant::now();
    let (status, answer) = conn.call(request).await?;
    let latency = micros(sent.elapsed());
    if status != StatusCode::OK {
        return Err(format!("GetParametersByPath: HTTP {status}: {}", snippet(&answer)).into());
    }
    let page = serde_json::from_slice(&answer)
        .map_err(|e| format!("GetParametersByPath: answer is not JSON ({e}): {}", snippet(&answer)))?;
    Ok((latency, page))
}

/// The issue's targets for a 10,000-parameter subtree.
pub const FIRST_PAGE_TARGET_MS: f64 = 5.0;
pub const WALK_TARGET_MS: f64 = 50.0;

impl ByPathReport {
    fn walk_median_ms(&self, of: impl Fn(&Walk) -> u64) -> f64 {
        median_ms(&self.walks.iter().map(of).collect::<Vec<_>>())
    }

    fn pages(&self) -> usize {
        self.walks.first().map_or(0, |w| w.pages)
    }

    fn problem(&self) -> Option<&str> {
        self.walks.iter().find_map(|w| w.problem.as_deref())
    }

    pub fn to_json(&self) -> Value {
        let wall_ms = self.walk_median_ms(|w| w.wall_us);
        json!({
            "path": SUBTREE_PATH,
            "expected": self.expected,
            "max_results": PAGE_SIZE,
            "first_page": {
                "calls": self.first_page_us.len(),
                "median_ms": median_ms(&self.first_page_us),
                "max_ms": self.first_page_us.iter().max().map_or(0.0, |&us| us as f64 / 1000.0),
                "target_ms": FIRST_PAGE_TARGET_MS,
            },
            "walk": {
                "walks": self.walks.len(),
                "pages": self.pages(),
                "parameters": self.walks.iter().map(|w| w.parameters).collect::<Vec<_>>(),
                "median_ms": wall_ms,
                "min_ms": self.walks.iter().map(|w| w.wall_us).min().unwrap_or(0) as f64 / 1000.0,
                "max_ms": self.walks.iter().map(|w| w.wall_us).max().unwrap_or(0) as f64 / 1000.0,
                "server_median_ms": self.walk_median_ms(|w| w.server_us),
                "per_page_mean_ms": if self.pages() > 0 { wall_ms / self.pages() as f64 } else { 0.0 },
                "target_ms": WALK_TARGET_MS,
                "problem": self.problem(),
            },
        })
    }

    pub fn print(&self) {
        let walk_ms = self.walk_median_ms(|w| w.wall_us);
        let pages = self.pages();
        println!(
            "by-path {SUBTREE_PATH} ({} parameters, MaxResults {PAGE_SIZE}, one connection, sequential):",
            self.expected
        );
        println!(
            "  first page: median {:.3} ms over {} calls (target < {FIRST_PAGE_TARGET_MS} ms)",
            median_ms(&self.first_page_us),
            self.first_page_us.len()
        );
        println!(
            "  full walk:  median {walk_ms:.1} ms over {} walk(s) of {pages} pages, {:.3} ms per page; \
             server share {:.1} ms (target < {WALK_TARGET_MS} ms)",
            self.walks.len(),
            if pages > 0 { walk_ms / pages as f64 } else { 0.0 },
            self.walk_median_ms(|w| w.server_us)
        );
        match self.problem() {
            Some(problem) => println!("  WALK CHECK FAILED: {problem}"),
            None => println!(
                "  every walk returned exactly the {} parameters of the subtree",
                self.expected
            ),
        }
    }
}
