//! A progress bar on standard error, for large inputs when standard error is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

/// Inputs smaller than this finish before a bar would help.
const SHOW_FROM: u64 = 64 << 20;

/// Redraws at most a few times a second.
pub struct Progress {
    total: Option<u64>,
    started: Instant,
    last: Mutex<Option<Instant>>,
    enabled: bool,
}

impl Progress {
    pub fn new(total: Option<u64>, quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal() && total.is_none_or(|t| t >= SHOW_FROM);
        Self {
            total,
            started: Instant::now(),
            last: Mutex::new(None),
            enabled,
        }
    }

    pub fn update(&self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else { return };
        if last.is_some_and(|l| now.duration_since(l).as_millis() < 200) && self.total != Some(done) {
            return;
        }
        *last = Some(now);
        let seconds = now.duration_since(self.started).as_secs_f64().max(0.001);
        let rate = done as f64 / seconds / (1 << 20) as f64;
        let line = match self.total {
            Some(total) if total > 0 => {
                let fraction = (done as f64 / total as f64).min(1.0);
                let filled = (fraction * 30.0) as usize;
                format!(
                    "\r[{}{}] {:>3}% {} / {} MiB, {rate:.0} MiB/s ",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    (fraction * 100.0) as u32,
                    done >> 20,
                    total >> 20
                )
            }
            _ => format!("\r{} MiB, {rate:.0} MiB/s ", done >> 20),
        };
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = std::io::stderr().write_all(b"\n");
        }
    }
}
