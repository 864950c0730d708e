//! `keyhaven events tail`: a data directory's change-event log on stdout, one JSON object per line.
//!
//! It reads the store directly (a read-only snapshot, so it can run next to the server: SQLite's WAL, or PostgreSQL)
//! and, when following, polls the log every 250 ms. SIGINT, SIGTERM and a closed stdout end it cleanly.

use std::io::{self, Write};
use std::time::Duration;

use keyhaven_kernel::events;
use keyhaven_store::Backend;

use crate::config::TailArgs;

/// Events read from the log at a time.
const PAGE: usize = 500;
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `keyhaven events tail` on `store` (the data directory's, or the one `--store` names).
pub fn run(args: &TailArgs, store: &dyn Backend) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(tail(store, args.from_start, !args.no_follow, &mut io::stdout()));
    match outcome {
        Err(Stop::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(Stop::Io(e)) => Err(format!("writing events: {e}")),
        Err(Stop::Store(message)) => Err(message),
        Ok(()) => Ok(()),
    }
}

#[derive(Debug)]
enum Stop {
    Io(io::Error),
    Store(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

async fn tail(store: &dyn Backend, from_start: bool, follow: bool, out: &mut dyn Write) -> Result<(), Stop> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed first so that a signal during a read is not lost.
    let mut signals = if follow {
        Some((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
    } else {
        None
    };
    let mut after = if from_start { None } else { end_of_log(store)? };
    if follow {
        // Scripts and tests wait for this line before producing events they expect to see.
        let _ = writeln!(io::stderr(), "keyhaven: following the event log (Ctrl-C to stop)");
    }
    loop {
        after = print_after(store, after, out)?;
        let Some((interrupt, terminate)) = signals.as_mut() else {
            return Ok(());
        };
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

/// The sequence of the newest event in the log, if any.
fn end_of_log(store: &dyn Backend) -> Result<Option<u64>, Stop> {
    let mut last = None;
    loop {
        let page = keyhaven_kernel::read(store, |tx| events::log_after(tx, last, PAGE)).map_err(store_error)?;
        match page.last() {
            Some(stored) => last = Some(stored.sequence),
            None => return Ok(last),
        }
        if page.len() < PAGE {
            return Ok(last);
        }
    }
}

/// Writes every event after `after` as a JSON line, flushing after each page; returns the new position.
fn print_after(store: &dyn Backend, mut after: Option<u64>, out: &mut dyn Write) -> Result<Option<u64>, Stop> {
    loop {
        let page = keyhaven_kernel::read(store, |tx| events::log_after(tx, after, PAGE)).map_err(store_error)?;
        for stored in &page {
            serde_json::to_writer(&mut *out, &stored.event).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
            after = Some(stored.sequence);
        }
        out.flush()?;
        if page.len() < PAGE {
            return Ok(after);
        }
    }
}

fn store_error(e: keyhaven_kernel::KernelError) -> Stop {
    Stop::Store(format!("reading the event log: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_kernel::events::{Event, Events};
    use keyhaven_store::testing::temp_store;
    use time::OffsetDateTime;

    fn publish(store: &dyn Backend, n: usize) -> Vec<Event> {
        let events = Events::new(
            Vec::new(),
            std::sync::Arc::new(keyhaven_kernel::clock::AdjustableClock::system()),
        );
        (0..n)
            .map(|i| {
                let event = Event::new(
                    "Parameter Store Change",
                    "aws.ssm",
                    "111122223333",
                    "us-east-1",
                    OffsetDateTime::from_unix_timestamp(1_700_000_000 + i as i64).expect("time"),
                    vec![format!("arn:aws:ssm:us-east-1:111122223333:parameter/p{i}")],
                    serde_json::json!({"name": format!("/p{i}"), "operation": "Create"}),
                )
                .expect("event");
                keyhaven_kernel::transact(store, |tx| events.publish(tx, &event)).expect("publish");
                event
            })
            .collect()
    }

    fn lines(out: &[u8]) -> Vec<Event> {
        std::str::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
            .collect()
    }

    #[test]
    fn printing_pages_through_the_whole_log_in_order_and_resumes_after_the_last_line() {
        let (_dir, store) = temp_store();
        assert_eq!(end_of_log(&*store).expect("end"), None);
        let published = publish(&*store, PAGE + 3);
        assert_eq!(end_of_log(&*store).expect("end"), Some(PAGE as u64 + 3));
        let mut out = Vec::new();
        let position = print_after(&*store, None, &mut out).expect("print");
        assert_eq!(position, Some(PAGE as u64 + 3));
        assert_eq!(lines(&out), published);
        let more = publish(&*store, 2);
        let mut out = Vec::new();
        assert_eq!(
            print_after(&*store, position, &mut out).expect("print"),
            Some(PAGE as u64 + 5)
        );
        assert_eq!(lines(&out), more);
    }

    #[tokio::test]
    async fn without_from_start_only_newer_events_are_printed() {
        let (_dir, store) = temp_store();
        publish(&*store, 2);
        let mut out = Vec::new();
        tail(&*store, false, false, &mut out).await.expect("tail");
        assert!(out.is_empty());
        tail(&*store, true, false, &mut out).await.expect("tail");
        assert_eq!(lines(&out).len(), 2);
    }

    #[test]
    fn a_missing_store_is_reported_not_created() {
        let dir = keyhaven_store::testing::TempDir::new();
        let path = dir.path().join("keyhaven.db");
        let error = crate::existing_store(dir.path(), crate::StoreArgs(None, None))
            .err()
            .expect("no store");
        assert!(error.contains("no keyhaven store"), "{error}");
        assert!(!path.exists());
    }
}
