//! Change events in EventBridge's format, written to a persisted outbox in the same transaction as the
//! change they describe, so an acknowledged change always has its event and a crash loses none.
//!
//! Every event is appended to the event log (`event-log`, read by `keyhaven events tail`) and, once
//! per configured delivery target, to that target's outbox (`event-outbox`, scope = target name).
//! A deliverer outside the core drains each outbox in order and deletes an entry only after the
//! target acknowledged it: delivery is at least once. Events carry names and metadata, never values.

use std::sync::Arc;

use keyhaven_store::{Job, Transaction};

use crate::records;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::Clock;
use crate::error::KernelError;

/// An event in the log, by zero-padded sequence.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct Logged(Event);

impl records::Record for Logged {
    const KIND: &'static str = "event-log";
}

/// An event not yet delivered to a target (the scope), by zero-padded sequence.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct Outboxed(Event);

impl records::Record for Outboxed {
    const KIND: &'static str = "event-outbox";
}

/// Which node delivers a target's outbox, and until when (Unix seconds): of several nodes sharing a store, one
/// delivers each target's events at a time, and a dead node's claim runs out.
#[derive(Serialize, Deserialize)]
struct DeliveryClaim {
    node: String,
    until: i64,
}

impl records::Record for DeliveryClaim {
    const KIND: &'static str = "event-delivery-claim";
}

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
        let sequence = tx.next_sequence()?;
        let id = sequence_id(sequence);
        records::put(tx, "", &id, &Logged(event.clone()))?;
        for target in &self.targets {
            records::put(tx, target, &id, &Outboxed(event.clone()))?;
        }
        Ok(sequence)
    }

    /// Starts the log's hourly pruning unless it is already scheduled (it reschedules itself after each pass).
    pub fn start_pruning(&self, store: &dyn keyhaven_store::Backend) -> Result<(), KernelError> {
        let due_at = self.clock.now().unix_timestamp() + PRUNE_INTERVAL_SECONDS;
        crate::transact(store, |tx| Ok(tx.schedule_if_absent(&prune_job(due_at))?))
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
        let batch = records::list::<Logged>(tx, "", None, 500)?;
        let mut stop = batch.len() < 500;
        for (id, Logged(event)) in &batch {
            let at = OffsetDateTime::parse(&event.time, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .unwrap_or(i64::MIN);
            if at >= cutoff {
                stop = true;
                break;
            }
            records::delete::<Logged>(tx, "", id)?;
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
    with_sequences(
        records::list::<Logged>(tx, "", marker.as_deref(), limit)?,
        |Logged(event)| event,
    )
}

/// The oldest undelivered events of `target`, at most `limit`.
pub fn pending(tx: &mut dyn Transaction, target: &str, limit: usize) -> Result<Vec<Stored>, KernelError> {
    with_sequences(
        records::list::<Outboxed>(tx, target, None, limit)?,
        |Outboxed(event)| event,
    )
}

/// Claims (or renews) the delivery of `target`'s outbox for `node` until `until`; false while another node's claim
/// holds at `now`.
pub fn claim_delivery(
    tx: &mut dyn Transaction,
    target: &str,
    node: &str,
    now: i64,
    until: i64,
) -> Result<bool, KernelError> {
    if let Some(claim) = records::get::<DeliveryClaim>(tx, "", target)?
        && claim.node != node
        && claim.until > now
    {
        return Ok(false);
    }
    let claim = DeliveryClaim {
        node: node.to_string(),
        until,
    };
    records::put(tx, "", target, &claim)?;
    Ok(true)
}

/// Marks an event delivered to `target`.
pub fn acknowledge(tx: &mut dyn Transaction, target: &str, sequence: u64) -> Result<(), KernelError> {
    records::delete::<Outboxed>(tx, target, &sequence_id(sequence))?;
    Ok(())
}

fn with_sequences<R>(listed: Vec<(String, R)>, event: impl Fn(R) -> Event) -> Result<Vec<Stored>, KernelError> {
    listed
        .into_iter()
        .map(|(id, record)| {
            Ok(Stored {
                sequence: id
                    .parse()
                    .map_err(|_| KernelError::Internal("bad event sequence".into()))?,
                event: event(record),
            })
        })
        .collect()
}

/// Zero-padded so that the store's id order is the sequence order.
fn sequence_id(sequence: u64) -> String {
    format!("{sequence:020}")
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
    fn one_node_at_a_time_delivers_a_target_until_its_claim_runs_out() {
        let (_dir, store) = temp_store();
        let claim = |node: &str, now: i64| {
            transact(&*store, |tx| claim_delivery(tx, "hooks", node, now, now + 30)).expect("claim")
        };
        assert!(claim("a", 100));
        assert!(!claim("b", 110), "a's claim holds");
        assert!(claim("a", 120), "its holder renews it");
        assert!(!claim("b", 149));
        assert!(claim("b", 150), "a's claim ran out");
        assert!(!claim("a", 151));
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
