//! Time for the domain: the system clock in production, a movable one for tests and `--dev`.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// The source of "now" for everything time-based in the core (dates, deletion windows, rotation).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock plus an offset that only moves forward. With offset 0 it is the wall clock;
/// tests and dev mode advance it to make scheduled work come due without waiting.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_seconds: AtomicI64,
    /// When set, time stands still at this instant (plus the offset): deterministic unit tests.
    frozen_at: Option<i64>,
}

impl AdjustableClock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock fixed at `unix_seconds` that moves only when advanced.
    pub fn frozen(unix_seconds: i64) -> Self {
        Self {
            offset_seconds: AtomicI64::new(0),
            frozen_at: Some(unix_seconds),
        }
    }

    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds.max(0), Ordering::SeqCst);
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> OffsetDateTime {
        let base = match self.frozen_at {
            Some(t) => OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            None => OffsetDateTime::now_utc(),
        };
        base + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}

/// Unix seconds with a fraction, the awsJson timestamp form.
pub fn epoch_seconds(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// Milliseconds since the epoch (S3's and CloudWatch Logs' unit).
pub fn epoch_millis(t: OffsetDateTime) -> i64 {
    t.unix_timestamp() * 1000 + i64::from(t.millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = AdjustableClock::frozen(1_000);
        assert_eq!(clock.now().unix_timestamp(), 1_000);
        clock.advance(60);
        assert_eq!(clock.now().unix_timestamp(), 1_060);
        clock.advance(-30);
        assert_eq!(clock.now().unix_timestamp(), 1_060, "time never goes back");
    }
}
