//! Per-operation results: throughput and latency percentiles from the workers' raw samples.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::CommonOptions;

/// What one worker measured during the measured (post-warm-up) window.
#[derive(Default)]
pub struct WorkerSamples {
    /// Latency of every HTTP 200 response, in microseconds.
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub reopened: u64,
}

/// The summary of one operation's phase.
pub struct PhaseResult {
    pub operation: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub reopened: u64,
    pub first_error: Option<String>,
}

impl PhaseResult {
    /// Merges the workers' samples; `elapsed` runs from the end of warm-up until the last worker's last response.
    pub fn from_workers(operation: &'static str, workers: Vec<WorkerSamples>, elapsed: Duration) -> Self {
        let mut latencies = Vec::with_capacity(workers.iter().map(|w| w.latencies_us.len()).sum());
        let mut errors = 0;
        let mut reopened = 0;
        let mut first_error = None;
        for worker in workers {
            latencies.extend_from_slice(&worker.latencies_us);
            errors += worker.errors;
            reopened += worker.reopened;
            first_error = first_error.or(worker.first_error);
        }
        latencies.sort_unstable();
        Self {
            operation,
            requests: latencies.len() as u64,
            errors,
            elapsed,
            p50_ms: percentile_ms(&latencies, 50.0),
            p99_ms: percentile_ms(&latencies, 99.0),
            max_ms: latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
            reopened,
            first_error,
        }
    }

    /// Successful (HTTP 200) requests per second; errors are never throughput.
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "operation": self.operation,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests_per_s": self.requests_per_second(),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "connections_reopened": self.reopened,
            "first_error": self.first_error,
        })
    }
}

/// Says on stderr which phase starts, so that a long run shows where it is.
pub fn announce_phase(program: &str, options: &CommonOptions, operation: &str) {
    eprintln!(
        "{program}: {operation}: {:.1} s warm-up + {:.1} s with {} workers",
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64(),
        options.concurrency
    );
}

/// The human-readable report of a run's phases.
pub fn print_table(options: &CommonOptions, results: &[PhaseResult]) {
    println!(
        "{}: concurrency {}, {:.1} s per operation after {:.1} s warm-up; requests = HTTP 200 answers only",
        options.endpoint,
        options.concurrency,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64()
    );
    let width = results.iter().map(|r| r.operation.len()).max().unwrap_or(0).max(18);
    println!(
        "{:<width$} {:>10} {:>8} {:>11} {:>9} {:>9}",
        "operation", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for r in results {
        println!(
            "{:<width$} {:>10} {:>8} {:>11.1} {:>9.3} {:>9.3}",
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

/// The median of unsorted samples in microseconds, in milliseconds (0 when there are none).
pub fn median_ms(samples_us: &[u64]) -> f64 {
    let mut sorted = samples_us.to_vec();
    sorted.sort_unstable();
    percentile_ms(&sorted, 50.0)
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds (0 when there are none).
fn percentile_ms(sorted_us: &[u64], pct: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[index] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&samples, 50.0), 50.0);
        assert_eq!(percentile_ms(&samples, 99.0), 99.0);
        assert_eq!(percentile_ms(&[7000], 99.0), 7.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }

    #[test]
    fn errors_are_not_throughput() {
        let workers = vec![
            WorkerSamples {
                latencies_us: vec![1000, 3000],
                ..Default::default()
            },
            WorkerSamples {
                errors: 5,
                first_error: Some("HTTP 400".into()),
                ..Default::default()
            },
        ];
        let result = PhaseResult::from_workers("encrypt", workers, Duration::from_secs(2));
        assert_eq!(result.requests, 2);
        assert_eq!(result.errors, 5);
        assert_eq!(result.requests_per_second(), 1.0);
        assert_eq!(result.first_error.as_deref(), Some("HTTP 400"));
    }
}
