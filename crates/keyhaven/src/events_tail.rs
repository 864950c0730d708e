//! `keyhaven events tail`: a data directory's change-event log on stdout, one JSON object per line.
//!
//! It reads the store directly (a read-only snapshot, so it can run next to the server: SQLite's WAL, or PostgreSQL)
//! and, when following, polls the log every 250 ms. SIGINT, SIGTERM and a closed stdout end it cleanly. Nodes sharing
//! a PostgreSQL store may commit events out of number order, so a follower waits up to `GAP_WAIT` for a missing
//! number before passing it.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use keyhaven_kernel::events;
use keyhaven_store::Backend;

use crate::config::TailArgs;

/// Events read from the log at a time.
const PAGE: usize = 500;
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a follower waits for an event whose number is missing while later ones are there: longer than a
/// transaction holds its number before committing.
const GAP_WAIT: Duration = Duration::from_secs(10);

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
    let mut position = Position::after(if from_start { None } else { end_of_log(store)? });
    if follow {
        // Scripts and tests wait for this line before producing events they expect to see.
        let _ = writeln!(io::stderr(), "keyhaven: following the event log (Ctrl-C to stop)");
    }
    loop {
        print_new(store, &mut position, Instant::now(), out)?;
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

/// Where a reader of the log stands: every event numbered up to `settled` was printed (or waited for in vain), and
/// so were those in `printed`, beyond it.
#[derive(Debug, Default)]
struct Position {
    settled: Option<u64>,
    printed: BTreeSet<u64>,
    /// The first missing number past `settled` and when it was first found missing.
    gap: Option<(u64, Instant)>,
}

impl Position {
    fn after(settled: Option<u64>) -> Self {
        Self {
            settled,
            ..Self::default()
        }
    }

    /// Moves `settled` over the printed numbers that follow it, and over a missing one waited for `GAP_WAIT`.
    fn settle(&mut self, now: Instant) {
        loop {
            let next = self.settled.map_or(1, |n| n + 1);
            if self.printed.remove(&next) {
                self.settled = Some(next);
                continue;
            }
            let Some(&beyond) = self.printed.first() else {
                self.gap = None;
                return;
            };
            match self.gap {
                Some((missing, since)) if missing == next => {
                    if now.duration_since(since) < GAP_WAIT {
                        return;
                    }
                    self.settled = Some(beyond - 1);
                    self.gap = None;
                }
                _ => {
                    self.gap = Some((next, now));
                    return;
                }
            }
        }
    }
}

/// Writes every event past `position` not printed yet as a JSON line, flushing after each page.
fn print_new(store: &dyn Backend, position: &mut Position, now: Instant, out: &mut dyn Write) -> Result<(), Stop> {
    let mut after = position.settled;
    loop {
        let page = keyhaven_kernel::read(store, |tx| events::log_after(tx, after, PAGE)).map_err(store_error)?;
        if position.settled.is_none() && position.printed.is_empty() {
            // Reading from the start: the log begins where pruning left it.
            position.settled = page.first().map(|stored| stored.sequence - 1);
        }
        for stored in &page {
            if position.printed.insert(stored.sequence) {
                serde_json::to_writer(&mut *out, &stored.event).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
            after = Some(stored.sequence);
        }
        out.flush()?;
        if page.len() < PAGE {
            position.settle(now);
            return Ok(());
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

    fn event(i: usize) -> Event {
        Event::new(
            "Parameter Store Change",
            "aws.ssm",
            "111122223333",
            "us-east-1",
            OffsetDateTime::from_unix_timestamp(1_700_000_000 + i as i64).expect("time"),
            vec![format!("arn:aws:ssm:us-east-1:111122223333:parameter/p{i}")],
            serde_json::json!({"name": format!("/p{i}"), "operation": "Create"}),
        )
        .expect("event")
    }

    fn publish(store: &dyn Backend, n: usize) -> Vec<Event> {
        let events = Events::new(
            Vec::new(),
            std::sync::Arc::new(keyhaven_kernel::clock::AdjustableClock::system()),
        );
        (0..n)
            .map(|i| {
                let event = event(i);
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
        let mut position = Position::after(None);
        let mut out = Vec::new();
        print_new(&*store, &mut position, Instant::now(), &mut out).expect("print");
        assert_eq!(position.settled, Some(PAGE as u64 + 3));
        assert_eq!(lines(&out), published);
        let more = publish(&*store, 2);
        let mut out = Vec::new();
        print_new(&*store, &mut position, Instant::now(), &mut out).expect("print");
        assert_eq!(position.settled, Some(PAGE as u64 + 5));
        assert_eq!(lines(&out), more);
    }

    /// On PostgreSQL a transaction can commit its event after a later-numbered one: the follower prints it when it
    /// arrives, each event once, and passes a number that never arrives after `GAP_WAIT`.
    #[test]
    fn an_event_committed_out_of_number_order_is_printed_when_it_arrives() {
        let mut postgres = keyhaven_store::testing::PostgresSubject::start();
        let slow_node = keyhaven_store::conformance::Subject::fresh(&mut postgres);
        let store = keyhaven_store::conformance::Subject::reopen(&mut postgres);
        let events = Events::new(
            Vec::new(),
            std::sync::Arc::new(keyhaven_kernel::clock::AdjustableClock::system()),
        );
        let late = event(1);
        let (numbered, hold) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let slow = {
            let (events, late, numbered) = (events.clone(), late.clone(), numbered.0);
            std::thread::spawn(move || {
                keyhaven_kernel::transact(&*slow_node, |tx| {
                    let sequence = events.publish(tx, &late)?;
                    numbered.send(sequence).expect("numbered");
                    hold.1.recv().expect("released");
                    Ok::<_, keyhaven_kernel::KernelError>(())
                })
                .expect("the slow transaction commits");
            })
        };
        let late_number = numbered.1.recv().expect("the slow transaction took its number");
        let early = event(2);
        keyhaven_kernel::transact(&*store, |tx| events.publish(tx, &early)).expect("publish");

        let start = Instant::now();
        let mut position = Position::after(Some(late_number - 1));
        let mut out = Vec::new();
        print_new(&*store, &mut position, start, &mut out).expect("print");
        assert_eq!(lines(&out), vec![early.clone()]);
        assert_eq!(
            position.settled,
            Some(late_number - 1),
            "waiting for the missing number"
        );

        hold.0.send(()).expect("release");
        slow.join().expect("slow");
        let mut out = Vec::new();
        print_new(&*store, &mut position, start + Duration::from_secs(1), &mut out).expect("print");
        assert_eq!(lines(&out), vec![late], "the late event, and only it");
        assert_eq!(position.settled, Some(late_number + 1));

        // A number taken by a transaction that rolled back never arrives: it is passed once GAP_WAIT is over.
        let _ = keyhaven_kernel::transact(&*store, |tx| {
            events.publish(tx, &event(3))?;
            Err::<(), _>(keyhaven_kernel::KernelError::Internal("rolled back".into()))
        });
        let after_gap = event(4);
        keyhaven_kernel::transact(&*store, |tx| events.publish(tx, &after_gap)).expect("publish");
        let mut out = Vec::new();
        print_new(&*store, &mut position, start + Duration::from_secs(2), &mut out).expect("print");
        assert_eq!(lines(&out), vec![after_gap]);
        assert_eq!(position.settled, Some(late_number + 1));
        print_new(
            &*store,
            &mut position,
            start + Duration::from_secs(2) + GAP_WAIT,
            &mut Vec::new(),
        )
        .expect("print");
        assert_eq!(
            position.settled,
            Some(late_number + 3),
            "the rolled-back number is passed"
        );
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
