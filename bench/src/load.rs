//! The closed loop every operation's phase runs: CONCURRENCY workers, one keep-alive connection each, through a
//! warm-up and then the measured window.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::StatusCode;

use crate::cli::CommonOptions;
use crate::client::{BoxError, Connection, Signer, snippet};
use crate::stats::{PhaseResult, WorkerSamples};

/// What a worker knows when it makes its next request body.
pub struct Turn {
    /// The worker's number, 0..CONCURRENCY.
    pub worker: usize,
    /// How many requests this worker has made before this one (warm-up included).
    pub seq: u64,
    /// The worker's own random numbers.
    pub rng: Rng,
}

/// Makes each request's body; called by every worker before each request, outside the latency window.
pub type BodyMaker = Arc<dyn Fn(&mut Turn) -> Bytes + Send + Sync>;

/// One operation's closed loop.
pub struct Phase {
    /// The name in the results.
    pub name: &'static str,
    /// The awsJson operation that goes after the service's prefix in `X-Amz-Target`.
    pub wire_name: &'static str,
    pub body: BodyMaker,
}

impl Phase {
    /// A phase whose requests all carry the same body.
    pub fn fixed(name: &'static str, wire_name: &'static str, body: Bytes) -> Self {
        Self {
            name,
            wire_name,
            body: Arc::new(move |_| body.clone()),
        }
    }
}

/// Runs one phase: every worker opens its connection, then all loop through the warm-up and the measured window.
pub async fn run_phase(options: &CommonOptions, signer: &Arc<Signer>, phase: &Phase) -> Result<PhaseResult, BoxError> {
    // Connect everyone before the clock starts, so that connection set-up is neither warm-up nor measurement.
    let mut connections = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        connections.push(Connection::open(options.addr).await?);
    }

    let seed = Rng::seed_from_clock();
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let stop_at = measure_from + options.duration;
    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(worker, conn)| {
            let turn = Turn {
                worker,
                seq: 0,
                rng: Rng::new(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            };
            let work = Work {
                signer: Arc::clone(signer),
                wire_name: phase.wire_name,
                body: Arc::clone(&phase.body),
                measure_from,
                stop_at,
            };
            tokio::spawn(worker_loop(conn, turn, work))
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
        phase.name,
        samples,
        last_finish.saturating_duration_since(measure_from),
    ))
}

/// What every worker of a phase shares.
struct Work {
    signer: Arc<Signer>,
    wire_name: &'static str,
    body: BodyMaker,
    measure_from: Instant,
    stop_at: Instant,
}

/// A closed loop: send, wait for the whole answer, repeat. A request belongs to the window in which it was sent; the
/// last one may finish after `stop_at`, which the phase's elapsed time accounts for.
async fn worker_loop(mut conn: Connection, mut turn: Turn, work: Work) -> (WorkerSamples, Instant) {
    let mut samples = WorkerSamples::default();
    let mut reopened_in_warmup = 0;
    loop {
        let now = Instant::now();
        if now >= work.stop_at {
            break;
        }
        let measured = now >= work.measure_from;
        // Making and signing the request is the client's work; it stays outside the latency window, which covers
        // only the server's share.
        let body = (work.body)(&mut turn);
        turn.seq += 1;
        let outcome = match work.signer.request(work.wire_name, body) {
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
            Ok((StatusCode::OK, _, latency)) => samples.latencies_us.push(micros(latency)),
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

/// A duration in whole microseconds, saturating.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// SplitMix64: small, fast and good enough to pick which parameter to read; not for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed that differs from run to run.
    pub fn seed_from_clock() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is irrelevant at the sizes used here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_spreads_and_stays_in_range() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let n = rng.below(10);
            assert!(n < 10);
            seen[n as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
