//! Seeding: creating a numbered set of resources with many requests in flight, each retried until it is created, is
//! found already there, or gets an answer that retrying cannot fix.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::Value;

use crate::client::{BoxError, Connection, Signer, snippet};

/// How many times a seeding request is retried after a transport error or a 5xx/throttling answer.
const SEED_RETRIES: u32 = 5;

/// How the resource with index `i` is created.
#[derive(Clone, Copy)]
pub struct Creation {
    /// The awsJson operation that creates one resource.
    pub operation: &'static str,
    /// The name of resource `i`, for error messages.
    pub name: fn(u64) -> String,
    /// The request body that creates resource `i`.
    pub body: fn(u64) -> String,
    /// How the `__type` of the error answer for a resource that already exists ends.
    pub already_exists_suffix: &'static str,
    /// What the resources are called in the message that stops seeding ("secrets", "parameters").
    pub plural: &'static str,
}

/// Counters the seeding workers share.
#[derive(Default)]
pub struct SeedProgress {
    next: AtomicU64,
    created: AtomicU64,
    existed: AtomicU64,
    retries: AtomicU64,
    failed: AtomicBool,
}

impl SeedProgress {
    /// How many resources are there so far, created or found already there.
    pub fn done(&self) -> u64 {
        self.created.load(Ordering::Relaxed) + self.existed.load(Ordering::Relaxed)
    }
}

/// What seeding did.
pub struct SeedReport {
    /// The indexes of the resources seeded.
    pub indexes: Range<u64>,
    pub created: u64,
    /// Already there (a re-run against the same server, or a retried request whose first attempt had been applied).
    pub existed: u64,
    pub retries: u64,
    pub elapsed: Duration,
}

impl SeedReport {
    /// Resources seeded per second, created or found already there.
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.indexes.end - self.indexes.start) as f64 / secs
        } else {
            0.0
        }
    }

    /// `named`, a JSON object with the benchmark's own names for what it seeded and for the rate, with the counts
    /// added.
    pub fn to_json(&self, concurrency: usize, mut named: Value) -> Value {
        named["created"] = self.created.into();
        named["already_existed"] = self.existed.into();
        named["retries"] = self.retries.into();
        named["concurrency"] = concurrency.into();
        named["seconds"] = self.elapsed.as_secs_f64().into();
        named
    }
}

/// The seeding connections, opened before the clock starts, and the counters their workers will share.
pub struct Seeding {
    connections: Vec<Connection>,
    progress: Arc<SeedProgress>,
    indexes: Range<u64>,
}

impl Seeding {
    /// Opens `concurrency` connections to `addr` for seeding the resources with index in `indexes`.
    pub async fn connect(addr: SocketAddr, concurrency: usize, indexes: Range<u64>) -> Result<Self, BoxError> {
        let mut connections = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            connections.push(Connection::open(addr).await?);
        }
        let progress = Arc::new(SeedProgress {
            next: AtomicU64::new(indexes.start),
            ..Default::default()
        });
        Ok(Self {
            connections,
            progress,
            indexes,
        })
    }

    /// The counters, for reporting progress while [`Seeding::run`] goes on.
    pub fn progress(&self) -> Arc<SeedProgress> {
        Arc::clone(&self.progress)
    }

    /// Creates the resources, one worker per connection, in index order. Stops at the first answer that retrying
    /// cannot fix (a quota, say).
    pub async fn run(self, signer: &Arc<Signer>, creation: Creation) -> Result<SeedReport, BoxError> {
        let Self {
            connections,
            progress,
            indexes,
        } = self;
        let start = Instant::now();
        let workers: Vec<_> = connections
            .into_iter()
            .map(|conn| {
                tokio::spawn(create_until_done(
                    conn,
                    Arc::clone(signer),
                    Arc::clone(&progress),
                    indexes.end,
                    creation,
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
            created: progress.created.load(Ordering::Relaxed),
            existed: progress.existed.load(Ordering::Relaxed),
            retries: progress.retries.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
            indexes,
        };
        match first_error {
            Some(e) => Err(format!(
                "seeding stopped after {} of {} new {}: {e}",
                report.created,
                report.indexes.end - report.indexes.start,
                creation.plural
            )
            .into()),
            None => Ok(report),
        }
    }
}

/// One worker: takes the next index until `end` (or until another worker has failed) and creates that resource,
/// retrying what a retry can fix.
async fn create_until_done(
    mut conn: Connection,
    signer: Arc<Signer>,
    progress: Arc<SeedProgress>,
    end: u64,
    creation: Creation,
) -> Result<(), BoxError> {
    while !progress.failed.load(Ordering::Relaxed) {
        let i = progress.next.fetch_add(1, Ordering::Relaxed);
        if i >= end {
            break;
        }
        let body = (creation.body)(i);
        let mut attempt = 0;
        loop {
            let outcome = conn
                .call(signer.request(creation.operation, Bytes::from(body.clone()))?)
                .await;
            let retryable = match &outcome {
                Ok((StatusCode::OK, _)) => {
                    progress.created.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok((_, answer)) if error_type(answer).ends_with(creation.already_exists_suffix) => {
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
                let name = (creation.name)(i);
                return Err(match outcome {
                    Ok((status, answer)) => format!("{name}: HTTP {status}: {}", snippet(&answer)),
                    Err(e) => format!("{name}: transport: {e}"),
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
