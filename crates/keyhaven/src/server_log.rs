//! The server's own log, optionally shipped into a CloudWatch Logs group (`--server-log-group`), so operators
//! filter it with the same API: the log writer keeps a copy of each line (bounded: when shipping falls behind, the
//! oldest lines go, and the next batch says how many), and a task puts them into the group every few seconds.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhaven_core::Core;
use tracing_subscriber::fmt::MakeWriter;

/// Lines kept for shipping at most.
const CAPACITY: usize = 10_000;
/// How often the kept lines are shipped.
pub const SHIP_EVERY: Duration = Duration::from_secs(5);

/// Lines written since the last shipment, with their times (milliseconds).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Captures>>);

#[derive(Default)]
struct Captures {
    lines: VecDeque<(i64, String)>,
    dropped: u64,
}

impl Captured {
    fn push(&self, line: String) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if let Ok(mut captures) = self.0.lock() {
            if captures.lines.len() == CAPACITY {
                captures.lines.pop_front();
                captures.dropped += 1;
            }
            captures.lines.push_back((at, line));
        }
    }

    /// Everything kept so far, with a line first saying how many were dropped when some were.
    fn take(&self) -> Vec<(i64, String)> {
        let Ok(mut captures) = self.0.lock() else {
            return Vec::new();
        };
        let mut lines: Vec<(i64, String)> = captures.lines.drain(..).collect();
        let dropped = std::mem::take(&mut captures.dropped);
        if dropped > 0 {
            let at = lines.first().map_or(0, |(t, _)| *t);
            lines.insert(
                0,
                (
                    at,
                    format!("keyhaven: {dropped} server log lines were not shipped (shipping fell behind)"),
                ),
            );
        }
        lines
    }
}

/// Writes to standard error and keeps a copy of each whole line.
pub struct TeeWriter {
    captured: Captured,
    pending: Vec<u8>,
}

impl Write for TeeWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(bytes)?;
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).trim_end().to_string();
            if !text.is_empty() {
                self.captured.push(text);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = TeeWriter;

    fn make_writer(&'a self) -> Self::Writer {
        TeeWriter {
            captured: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Where the lines go: `group` in the server's account, stream `stream` (this node's name), Region `region`.
pub struct Destination {
    pub account: String,
    pub region: String,
    pub group: String,
    pub stream: String,
}

/// Ships what was captured every [`SHIP_EVERY`] until the server stops.
pub async fn ship(core: Arc<Core>, captured: Captured, destination: Destination) {
    let destination = Arc::new(destination);
    let mut every = tokio::time::interval(SHIP_EVERY);
    loop {
        every.tick().await;
        let lines = captured.take();
        if lines.is_empty() {
            continue;
        }
        let (core, to) = (core.clone(), destination.clone());
        let shipped =
            tokio::task::spawn_blocking(move || core.logs.ship(&to.account, &to.region, &to.group, &to.stream, lines))
                .await;
        if let Ok(Err(e)) = shipped {
            // Goes to standard error and, next time, into the group itself if it can take it by then.
            tracing::warn!(error = %e, group = %destination.group, "shipping the server log failed");
        }
    }
}
