//! Change events in EventBridge's format, written to a persisted outbox in the same transaction as the
//! change they describe, so an acknowledged change always has its event and a crash loses none.
//!
//! Every event is appended to the event log (`event-log`, read by `keyhaven events tail`) and, once
//! per configured delivery target, to that target's outbox (`event-outbox`, scope = target name).
//! A deliverer outside the core drains each outbox in order and deletes an entry only after the
//! target acknowledged it: delivery is at least once. Events carry names and metadata, never values.

use std::sync::Arc;

use keyhaven_store::{Job, Record, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::Clock;
use crate::error::KernelError;

pub const LOG_KIND: &str = "event-log";
pub const OUTBOX_KIND: &str = "event-outbox";
const SEQUENCE_KIND: &str = "event-sequence";
pub const JOB_PRUNE_LOG: &str = "events.prune-log";
/// How long the event log keeps an event for `events tail`.
pub const LOG_RETENTION_SECONDS: i64 = 7 * 86_400;
const PRUNE_INTERVAL_SECONDS: i64 = 3_600;

/// One event, as EventBridge delivers it to a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    pub time: String,
    pub region: String,
    pub resources: Vec<String>,
    pub detail: Value,
}

impl Event {
    pub fn new(
        detail_type: &str,
        source: &str,
        account: &str,
        region: &str,
        time: OffsetDateTime,
        resources: Vec<String>,
        detail: Value,
    ) -> Result<Self, KernelError> {
        Ok(Self {
            version: "0".into(),
            id: crate::ids::new_uuid()?,
            detail_type: detail_type.into(),
            source: source.into(),
            account: account.into(),
            time: time
                .replace_nanosecond(0)
                .unwrap_or(time)
                .format(&Rfc3339)
                .map_err(|e| KernelError::Internal(e.to_string()))?,
            region: region.into(),
            resources,
            detail,
        })
    }
}

/// An event as stored: its position in the log, and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub sequence: u64,
    pub event: Event,
}

/// The delivery targets every event fans out to (names from the server configuration).
#[derive(Clone)]
pub struct Events {
    targets: Vec<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("targets", &self.targets).finish()
    }
}

impl Events {
    pub fn new(targets: Vec<String>, clock: Arc<dyn Clock>) -> Self {
        Self { targets, clock }
    }

    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Appends `event` to the log and to every target's outbox, inside the caller's transaction.
    pub fn publish(&self, tx: &mut dyn Transaction, event: &Event) -> Result<u64, KernelError> {
        let sequence = next_sequence(tx)?;
        let id = sequence_id(sequence);
        let body = serde_json::to_vec(event)?;
        tx.put(LOG_KIND, "", &id, &body)?;
        for target in &self.targets {
            tx.put(OUTBOX_KIND, target, &id, &body)?;
        }
        if sequence == 1 {
            // The first event starts the pruning, which then reschedules itself.
            tx.schedule(&prune_job(self.clock.now().unix_timestamp() + PRUNE_INTERVAL_SECONDS))?;
        }
        Ok(sequence)
    }
}

fn prune_job(due_at: i64) -> Job {
    Job {
        id: JOB_PRUNE_LOG.into(),
        due_at,
        kind: JOB_PRUNE_LOG.into(),
        payload: Vec::new(),
    }
}

/// Removes log entries older than the retention period, then schedules the next pass.
pub fn prune_log(tx: &mut dyn Transaction, now: i64) -> Result<usize, KernelError> {
    let cutoff = now - LOG_RETENTION_SECONDS;
    let mut removed = 0;
    loop {
        let batch = tx.list(LOG_KIND, "", None, 500)?;
        let mut stop = batch.len() < 500;
        for record in &batch {
            let event: Event = serde_json::from_slice(&record.body)?;
            let at = OffsetDateTime::parse(&event.time, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .unwrap_or(i64::MIN);
            if at >= cutoff {
                stop = true;
                break;
            }
            tx.delete(LOG_KIND, "", &record.id)?;
            removed += 1;
        }
        if stop {
            break;
        }
    }
    tx.schedule(&prune_job(now + PRUNE_INTERVAL_SECONDS))?;
    Ok(removed)
}

/// Events in the log after `after`, oldest first, at most `limit`.
pub fn log_after(tx: &mut dyn Transaction, after: Option<u64>, limit: usize) -> Result<Vec<Stored>, KernelError> {
    let marker = after.map(sequence_id);
    decode_all(tx.list(LOG_KIND, "", marker.as_deref(), limit)?)
}

/// The oldest undelivered events of `target`, at most `limit`.
pub fn pending(tx: &mut dyn Transaction, target: &str, limit: usize) -> Result<Vec<Stored>, KernelError> {
    decode_all(tx.list(OUTBOX_KIND, target, None, limit)?)
}

/// Marks an event delivered to `target`.
pub fn acknowledge(tx: &mut dyn Transaction, target: &str, sequence: u64) -> Result<(), KernelError> {
    tx.delete(OUTBOX_KIND, target, &sequence_id(sequence))?;
    Ok(())
}

fn decode_all(records: Vec<Record>) -> Result<Vec<Stored>, KernelError> {
    records
        .into_iter()
        .map(|r| {
            Ok(Stored {
                sequence: r
                    .id
                    .parse()
                    .map_err(|_| KernelError::Internal("bad event sequence".into()))?,
                event: serde_json::from_slice(&r.body)?,
            })
        })
        .collect()
}

/// Zero-padded so that the store's id order is the sequence order.
fn sequence_id(sequence: u64) -> String {
    format!("{sequence:020}")
}

fn next_sequence(tx: &mut dyn Transaction) -> Result<u64, KernelError> {
    let current = tx
        .get(SEQUENCE_KIND, "", "")?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let next = current + 1;
    tx.put(SEQUENCE_KIND, "", "", next.to_string().as_bytes())?;
    Ok(next)
}

/// The scheduler's handler of the event log's pruning job.
pub struct LogPruning {
    pub store: Arc<dyn keyhaven_store::Backend>,
    pub clock: Arc<dyn Clock>,
}

impl crate::scheduler::JobHandler for LogPruning {
    fn run(&self, _: &Job, _: &crate::audit::AuditLog) -> Result<(), KernelError> {
        let now = self.clock.now().unix_timestamp();
        crate::transact(&*self.store, |tx| prune_log(tx, now)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use keyhaven_store::testing::temp_store;

    use crate::clock::AdjustableClock;
    use crate::transact;

    const START: i64 = 1_700_000_000;

    fn event(n: u64) -> Event {
        Event::new(
            "Parameter Store Change",
            "aws.ssm",
            "111122223333",
            "us-east-1",
            OffsetDateTime::from_unix_timestamp(START + n as i64).expect("time"),
            vec![format!("arn:aws:ssm:us-east-1:111122223333:parameter/p{n}")],
            serde_json::json!({"name": format!("/p{n}"), "operation": "Create"}),
        )
        .expect("event")
    }

    #[test]
    fn published_events_reach_the_log_and_every_outbox_in_order_until_acknowledged() {
        let (_dir, store) = temp_store();
        let events = Events::new(vec!["a".into(), "b".into()], Arc::new(AdjustableClock::frozen(START)));
        for n in 1..=3 {
            transact(&*store, |tx| events.publish(tx, &event(n))).expect("publish");
        }
        let log = transact(&*store, |tx| log_after(tx, Some(1), 10)).expect("log");
        assert_eq!(log.iter().map(|s| s.sequence).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(log[0].event, event(2).clone_with_id(&log[0].event.id));
        transact(&*store, |tx| acknowledge(tx, "a", 1)).expect("ack");
        let a = transact(&*store, |tx| pending(tx, "a", 10)).expect("pending");
        let b = transact(&*store, |tx| pending(tx, "b", 10)).expect("pending");
        assert_eq!(a.iter().map(|s| s.sequence).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn pruning_drops_only_events_past_retention() {
        let (_dir, store) = temp_store();
        let events = Events::new(Vec::new(), Arc::new(AdjustableClock::frozen(START)));
        for n in [0, 10] {
            transact(&*store, |tx| events.publish(tx, &event(n))).expect("publish");
        }
        let now = START + 5 + LOG_RETENTION_SECONDS;
        let removed = transact(&*store, |tx| prune_log(tx, now)).expect("prune");
        assert_eq!(removed, 1);
        let left = transact(&*store, |tx| log_after(tx, None, 10)).expect("log");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].sequence, 2);
    }

    impl Event {
        fn clone_with_id(&self, id: &str) -> Self {
            Self {
                id: id.into(),
                ..self.clone()
            }
        }
    }
}
