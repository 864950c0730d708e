//! The backend conformance suite: the checks every backend must pass, public so that each backend's tests run the
//! same ones (`run`), including the concurrency cases a multi-node backend must get right.

use std::sync::Arc;

use crate::{AuditBatch, AuditTail, Backend, Job, StoreError};

/// A backend under test: `fresh` opens an empty one; `reopen` opens again the one `fresh` opened last, as a
/// restarted process (or another node) would.
pub trait Subject {
    fn fresh(&mut self) -> Arc<dyn Backend>;
    fn reopen(&mut self) -> Arc<dyn Backend>;
    /// Whether one handle hears of another's generation bumps (`Backend::subscribe`), as nodes of a shared store must.
    fn announces_changes(&self) -> bool {
        false
    }
}

/// A check of one behaviour, on a fresh backend.
type Check = fn(&dyn Backend);

/// Runs every check, each on a fresh backend.
pub fn run(subject: &mut dyn Subject) {
    let checks: &[(&str, Check)] = &[
        (
            "records_are_isolated_by_kind_and_scope",
            records_are_isolated_by_kind_and_scope,
        ),
        (
            "put_replaces_and_delete_reports_presence",
            put_replaces_and_delete_reports_presence,
        ),
        ("failed_transaction_changes_nothing", failed_transaction_changes_nothing),
        ("a_transaction_reads_its_own_writes", a_transaction_reads_its_own_writes),
        ("list_pages_in_id_order", list_pages_in_id_order),
        (
            "jobs_come_due_in_order_and_can_be_cancelled",
            jobs_come_due_in_order_and_can_be_cancelled,
        ),
        (
            "audit_batches_append_with_their_head_and_read_back_in_order",
            audit_batches_append_with_their_head_and_read_back_in_order,
        ),
        (
            "audit_lookups_find_batches_by_key_newest_first_and_go_with_them",
            audit_lookups_find_batches_by_key_newest_first_and_go_with_them,
        ),
        (
            "wipe_clears_records_and_jobs_but_keeps_the_audit_log",
            wipe_clears_records_and_jobs_but_keeps_the_audit_log,
        ),
        (
            "snapshots_see_committed_data_and_refuse_writes",
            snapshots_see_committed_data_and_refuse_writes,
        ),
        (
            "the_sequence_increases_and_can_be_advanced_but_not_moved_back",
            the_sequence_increases_and_can_be_advanced_but_not_moved_back,
        ),
    ];
    for (name, check) in checks {
        eprintln!("conformance: {name}");
        check(&*subject.fresh());
    }
    data_survives_reopen(subject);
    racing_read_modify_writes_lose_no_update(subject);
    racing_sequence_takers_commit_distinct_increasing_numbers(subject);
    racing_audit_appends_extend_one_chain(subject);
    racing_claims_take_each_job_once(subject);
    generations_move_on_with_commits_and_are_seen_by_every_handle(subject);
    reads_nested_in_a_write_need_no_second_connection(subject);
}

fn put(store: &dyn Backend, kind: &str, scope: &str, id: &str, body: &[u8]) {
    store.transaction(&mut |tx| tx.put(kind, scope, id, body)).expect("put");
}

fn get(store: &dyn Backend, kind: &str, scope: &str, id: &str) -> Option<Vec<u8>> {
    let mut out = None;
    store
        .transaction(&mut |tx| {
            out = tx.get(kind, scope, id)?;
            Ok(())
        })
        .expect("get");
    out
}

fn records_are_isolated_by_kind_and_scope(store: &dyn Backend) {
    put(store, "k", "a", "x", b"1");
    put(store, "k", "b", "x", b"2");
    put(store, "j", "a", "x", b"3");
    assert_eq!(get(store, "k", "a", "x").as_deref(), Some(&b"1"[..]));
    assert_eq!(get(store, "k", "b", "x").as_deref(), Some(&b"2"[..]));
    assert_eq!(get(store, "j", "a", "x").as_deref(), Some(&b"3"[..]));
    assert_eq!(get(store, "k", "c", "x"), None);
}

fn put_replaces_and_delete_reports_presence(store: &dyn Backend) {
    put(store, "k", "s", "x", b"old");
    put(store, "k", "s", "x", b"new");
    assert_eq!(get(store, "k", "s", "x").as_deref(), Some(&b"new"[..]));
    let mut deleted = (false, false);
    store
        .transaction(&mut |tx| {
            deleted = (tx.delete("k", "s", "x")?, tx.delete("k", "s", "x")?);
            Ok(())
        })
        .expect("delete");
    assert_eq!(deleted, (true, false));
}

fn failed_transaction_changes_nothing(store: &dyn Backend) {
    put(store, "k", "s", "kept", b"1");
    let result = store.transaction(&mut |tx| {
        tx.put("k", "s", "new", b"2")?;
        tx.delete("k", "s", "kept")?;
        Err(StoreError::Backend("caller aborted".into()))
    });
    assert!(result.is_err());
    assert_eq!(get(store, "k", "s", "new"), None);
    assert_eq!(get(store, "k", "s", "kept").as_deref(), Some(&b"1"[..]));
}

fn list_pages_in_id_order(store: &dyn Backend) {
    for id in ["c", "a", "e", "b", "d"] {
        put(store, "k", "s", id, id.as_bytes());
    }
    put(store, "k", "other", "a0", b"x");
    // Ids and scopes may hold any text, NUL included (S3 separates a key from its version so), in byte order.
    for id in ["key\u{0}2", "key\u{0}1", "key\u{1}0"] {
        put(store, "k", "with\u{0}nul", id, id.as_bytes());
    }
    let mut with_nul = Vec::new();
    store
        .transaction(&mut |tx| {
            with_nul = tx
                .list("k", "with\u{0}nul", None, 10)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            Ok(())
        })
        .expect("list");
    assert_eq!(with_nul, vec!["key\u{0}1", "key\u{0}2", "key\u{1}0"]);
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut page = Vec::new();
        store
            .transaction(&mut |tx| {
                page = tx.list("k", "s", after.as_deref(), 2)?;
                Ok(())
            })
            .expect("list");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id.clone());
        pages.push(page.into_iter().map(|r| r.id).collect::<Vec<_>>());
    }
    assert_eq!(pages, vec![vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
}

fn jobs_come_due_in_order_and_can_be_cancelled(store: &dyn Backend) {
    let job = |id: &str, due_at| Job {
        id: id.into(),
        due_at,
        kind: "t".into(),
        payload: id.as_bytes().to_vec(),
    };
    store
        .transaction(&mut |tx| {
            tx.schedule(&job("late", 300))?;
            tx.schedule(&job("early", 100))?;
            tx.schedule(&job("gone", 50))?;
            tx.cancel("gone")?;
            // Present: left as it is; absent: added.
            tx.schedule_if_absent(&job("early", 10))?;
            tx.schedule_if_absent(&job("once", 5000))
        })
        .expect("schedule");
    assert_eq!(store.next_due().expect("next"), Some(100));
    assert!(store.all_jobs().expect("jobs").contains(&job("once", 5000)));
    store.transaction(&mut |tx| tx.cancel("once")).expect("cancel");
    assert!(store.claim_due_jobs(99, 1099, 10).expect("due").is_empty());
    let claimed = |now: i64| -> Vec<String> {
        let jobs = store.claim_due_jobs(now, now + 1000, 10).expect("claim");
        jobs.into_iter().map(|j| j.id).collect()
    };
    assert_eq!(claimed(1000), vec!["early", "late"]);
    assert!(
        claimed(1000).is_empty(),
        "a claimed job is not claimed again while the claim holds"
    );
    assert_eq!(
        store.next_due().expect("next"),
        Some(2000),
        "claimable again once the claims run out"
    );
    assert_eq!(claimed(2000), vec!["early", "late"], "a dead node's claims run out");
    store
        .transaction(&mut |tx| tx.schedule(&job("early", 500)))
        .expect("reschedule");
    assert_eq!(
        store.next_due().expect("next"),
        Some(500),
        "rescheduling releases the claim"
    );
    assert_eq!(claimed(600), vec!["early"]);
}

fn batch(first: u64, last: u64) -> AuditBatch {
    AuditBatch {
        first_sequence: first,
        last_sequence: last,
        first_time: first as i64 * 10,
        last_time: last as i64 * 10,
        body: vec![first as u8; 4],
        mac: [last as u8; 32],
    }
}

fn audit_batches_append_with_their_head_and_read_back_in_order(store: &dyn Backend) {
    assert_eq!(store.last_audit().expect("last"), None);
    assert_eq!(store.audit_head().expect("head"), None);
    let mut tails = Vec::new();
    for (first, last) in [(1, 2), (3, 3)] {
        store
            .append_audit(&[], &mut |tail| {
                tails.push(tail.clone());
                Ok((batch(first, last), format!("head-{last}").into_bytes()))
            })
            .expect("append");
    }
    assert_eq!(
        tails,
        vec![
            AuditTail::default(),
            AuditTail {
                last: Some((2, [2; 32])),
                anchor: None
            }
        ],
        "each append is shown where the chain ends"
    );
    assert_eq!(store.last_audit().expect("last"), Some(batch(3, 3)));
    assert_eq!(store.audit_head().expect("head").as_deref(), Some(&b"head-3"[..]));
    assert_eq!(store.audit_after(0, 10).expect("after"), vec![batch(1, 2), batch(3, 3)]);
    assert_eq!(store.audit_after(1, 10).expect("after"), vec![batch(3, 3)]);
    assert!(
        store
            .append_audit(&[], &mut |_| Ok((batch(3, 4), b"head-4".to_vec())))
            .is_err(),
        "a sequence number starts one batch only"
    );
    assert_eq!(
        store.audit_head().expect("head").as_deref(),
        Some(&b"head-3"[..]),
        "a failed append leaves the head"
    );
    let usage = store.audit_usage().expect("usage");
    assert_eq!((usage.batches, usage.bytes, usage.oldest_time), (2, 8, Some(10)));
    assert_eq!(store.oldest_audit(1).expect("oldest"), vec![(2, 20, 4)]);
    assert_eq!(store.prune_audit(2, b"anchor-2").expect("prune"), 1);
    assert_eq!(store.audit_anchor().expect("anchor").as_deref(), Some(&b"anchor-2"[..]));
    assert_eq!(
        store.prune_audit(1, b"anchor-1").expect("prune"),
        0,
        "another node pruned further already"
    );
    assert_eq!(
        store.audit_anchor().expect("anchor").as_deref(),
        Some(&b"anchor-2"[..]),
        "a prune that removed nothing leaves the anchor"
    );
    assert_eq!(store.audit_after(0, 10).expect("after"), vec![batch(3, 3)]);
}

fn audit_lookups_find_batches_by_key_newest_first_and_go_with_them(store: &dyn Backend) {
    let keys = |names: &[&str]| names.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    // Times: batch(1, 2) covers 10..=20, batch(3, 5) 30..=50, batch(6, 6) 60..=60.
    for (first, last, indexed) in [(1, 2, keys(&["a", "b"])), (3, 5, keys(&["a"])), (6, 6, keys(&["b"]))] {
        store
            .append_audit(&indexed, &mut |_| Ok((batch(first, last), b"head".to_vec())))
            .expect("append");
    }
    let lookup =
        |key: &str, before: u64, from: i64, to: i64| store.lookup_audit(key, before, from, to, 10).expect("lookup");
    assert_eq!(lookup("a", u64::MAX, 0, i64::MAX), vec![3, 1], "newest first");
    assert_eq!(lookup("b", u64::MAX, 0, i64::MAX), vec![6, 1]);
    assert_eq!(lookup("a", 3, 0, i64::MAX), vec![1], "only batches before the mark");
    assert_eq!(
        lookup("a", u64::MAX, 21, 29),
        Vec::<u64>::new(),
        "no batch covers 21..=29"
    );
    assert_eq!(lookup("a", u64::MAX, 45, 100), vec![3], "a batch overlapping the range");
    assert_eq!(lookup("c", u64::MAX, 0, i64::MAX), Vec::<u64>::new());
    assert_eq!(
        store.lookup_audit("a", u64::MAX, 0, i64::MAX, 1).expect("lookup"),
        vec![3],
        "at most the limit"
    );
    assert_eq!(store.audit_batch(3).expect("batch"), Some(batch(3, 5)));
    assert_eq!(
        store.audit_batch(4).expect("batch"),
        None,
        "batches are found by their first sequence"
    );
    assert_eq!(store.audit_indexed_through().expect("indexed"), Some(6));
    store.index_audit(&batch(3, 5), &keys(&["c", "a"])).expect("index");
    assert_eq!(lookup("c", u64::MAX, 0, i64::MAX), vec![3], "a backfill adds keys");
    assert_eq!(
        lookup("a", u64::MAX, 0, i64::MAX),
        vec![3, 1],
        "and leaves those it had"
    );
    store.prune_audit(2, b"anchor").expect("prune");
    assert_eq!(
        lookup("b", u64::MAX, 0, i64::MAX),
        vec![6],
        "pruned batches' keys go with them"
    );
    assert_eq!(lookup("a", u64::MAX, 0, i64::MAX), vec![3]);
}

fn wipe_clears_records_and_jobs_but_keeps_the_audit_log(store: &dyn Backend) {
    put(store, "k", "s", "x", b"1");
    store
        .transaction(&mut |tx| {
            tx.schedule(&Job {
                id: "j".into(),
                due_at: 1,
                kind: "t".into(),
                payload: vec![],
            })
        })
        .expect("schedule");
    store
        .append_audit(&[], &mut |_| Ok((batch(1, 1), b"head".to_vec())))
        .expect("append");
    store.wipe().expect("wipe");
    assert_eq!(get(store, "k", "s", "x"), None);
    assert_eq!(store.next_due().expect("next"), None);
    assert!(store.last_audit().expect("last").is_some());
}

fn snapshots_see_committed_data_and_refuse_writes(store: &dyn Backend) {
    put(store, "k", "s", "x", b"1");
    let mut seen = None;
    store
        .snapshot(&mut |tx| {
            seen = tx.get("k", "s", "x")?;
            Ok(())
        })
        .expect("snapshot");
    assert_eq!(seen.as_deref(), Some(&b"1"[..]));
    assert!(store.snapshot(&mut |tx| tx.put("k", "s", "y", b"2")).is_err());
    assert_eq!(get(store, "k", "s", "y"), None);
}

fn a_transaction_reads_its_own_writes(store: &dyn Backend) {
    put(store, "k", "s", "x", b"before");
    let mut seen = (None, None, Vec::new());
    store
        .transaction(&mut |tx| {
            tx.put("k", "s", "x", b"after")?;
            tx.put("k", "s", "y", b"new")?;
            seen.0 = tx.get("k", "s", "x")?;
            tx.delete("k", "s", "y")?;
            seen.1 = tx.get("k", "s", "y")?;
            seen.2 = tx.list("k", "s", None, 10)?.into_iter().map(|r| r.id).collect();
            Ok(())
        })
        .expect("transaction");
    assert_eq!(seen, (Some(b"after".to_vec()), None, vec!["x".to_string()]));
}

fn data_survives_reopen(subject: &mut dyn Subject) {
    {
        let store = subject.fresh();
        put(&*store, "k", "s", "x", b"durable");
        store.set_meta("m", b"v").expect("meta");
    }
    let store = subject.reopen();
    assert_eq!(get(&*store, "k", "s", "x").as_deref(), Some(&b"durable"[..]));
    assert_eq!(store.meta("m").expect("meta").as_deref(), Some(&b"v"[..]));
}

/// Two writers, each with its own handle on the store (as two nodes have), increment one counter: every increment
/// is kept, because each read-modify-write is serialisable or run again.
fn racing_read_modify_writes_lose_no_update(subject: &mut dyn Subject) {
    const EACH: u32 = 40;
    let first = subject.fresh();
    let second = subject.reopen();
    let increment = |store: Arc<dyn Backend>| {
        std::thread::spawn(move || {
            for _ in 0..EACH {
                store
                    .transaction(&mut |tx| {
                        let count = tx
                            .get("counter", "s", "c")?
                            .map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap_or_default()));
                        tx.put("counter", "s", "c", &(count + 1).to_be_bytes())
                    })
                    .expect("increment");
            }
        })
    };
    let racers = [increment(first.clone()), increment(second)];
    for racer in racers {
        racer.join().expect("racer");
    }
    let count = get(&*first, "counter", "s", "c").map(|b| u32::from_be_bytes(b.try_into().unwrap_or_default()));
    assert_eq!(count, Some(2 * EACH));
}

fn take_number(store: &dyn Backend) -> u64 {
    let mut number = 0;
    store
        .transaction(&mut |tx| {
            number = tx.next_sequence()?;
            Ok(())
        })
        .expect("take a number");
    number
}

fn the_sequence_increases_and_can_be_advanced_but_not_moved_back(store: &dyn Backend) {
    assert_eq!(store.sequence().expect("sequence"), 0, "nothing taken yet");
    let first = take_number(store);
    let second = take_number(store);
    assert!(first >= 1 && second > first, "{first} then {second}");
    assert_eq!(store.sequence().expect("sequence"), second);
    let refused = store.snapshot(&mut |tx| tx.next_sequence().map(|_| ()));
    assert!(refused.is_err(), "a snapshot takes no number");
    store.advance_sequence(1000).expect("advance");
    assert_eq!(store.sequence().expect("sequence"), 1000);
    assert_eq!(take_number(store), 1001);
    store.advance_sequence(5).expect("advance to a taken number");
    assert_eq!(take_number(store), 1002, "the sequence never goes back");
}

/// Two handles take numbers in transactions that also write a record each: the committed numbers are distinct, and
/// the transactions do not conflict over the sequence (no retries are needed for it).
fn racing_sequence_takers_commit_distinct_increasing_numbers(subject: &mut dyn Subject) {
    const EACH: usize = 40;
    let first = subject.fresh();
    let second = subject.reopen();
    let take = |store: Arc<dyn Backend>, taker: &'static str| {
        std::thread::spawn(move || {
            let mut numbers = Vec::new();
            for n in 0..EACH {
                let mut attempts = 0;
                let mut number = 0;
                store
                    .transaction(&mut |tx| {
                        attempts += 1;
                        number = tx.next_sequence()?;
                        tx.put("taken", taker, &format!("{n:04}"), &number.to_be_bytes())
                    })
                    .expect("take");
                assert_eq!(attempts, 1, "taking a number conflicts with no one");
                numbers.push(number);
            }
            numbers
        })
    };
    let takers = [take(first.clone(), "a"), take(second, "b")];
    let mut all = Vec::new();
    for taker in takers {
        let numbers = taker.join().expect("taker");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "one taker's numbers increase");
        all.extend(numbers);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 2 * EACH, "no number is handed out twice");
}

/// Two writers, each with its own handle on the store (as two nodes have), append batches at once: each append sees
/// where the chain ends as the other left it, so the batches follow one another without a gap or a fork.
fn racing_audit_appends_extend_one_chain(subject: &mut dyn Subject) {
    const EACH: u64 = 25;
    let first = subject.fresh();
    let second = subject.reopen();
    let append = |store: Arc<dyn Backend>, writer: u8| {
        std::thread::spawn(move || {
            for _ in 0..EACH {
                store
                    .append_audit(&[], &mut |tail| {
                        let (previous, previous_mac) = tail.last.unwrap_or((0, [0; 32]));
                        let mut mac = previous_mac;
                        mac[0] = mac[0].wrapping_add(1);
                        mac[1] = writer;
                        let sealed = AuditBatch {
                            first_sequence: previous + 1,
                            last_sequence: previous + 1,
                            first_time: 0,
                            last_time: 0,
                            body: previous_mac.to_vec(),
                            mac,
                        };
                        Ok((sealed, (previous + 1).to_be_bytes().to_vec()))
                    })
                    .expect("append");
            }
        })
    };
    let writers = [append(first.clone(), 1), append(second, 2)];
    for writer in writers {
        writer.join().expect("writer");
    }
    let batches = first.audit_after(0, 1000).expect("batches");
    assert_eq!(
        batches.iter().map(|b| b.first_sequence).collect::<Vec<_>>(),
        (1..=2 * EACH).collect::<Vec<_>>()
    );
    let mut previous_mac = [0u8; 32];
    for batch in &batches {
        assert_eq!(
            batch.body,
            previous_mac.to_vec(),
            "batch {} follows the one before",
            batch.first_sequence
        );
        previous_mac = batch.mac;
    }
    assert_eq!(
        first.audit_head().expect("head"),
        Some((2 * EACH).to_be_bytes().to_vec())
    );
}

/// Two schedulers, each with its own handle on the store (as two nodes have), claim due jobs at once: each job is
/// claimed by one of them.
fn racing_claims_take_each_job_once(subject: &mut dyn Subject) {
    const JOBS: usize = 60;
    let first = subject.fresh();
    let second = subject.reopen();
    first
        .transaction(&mut |tx| {
            for n in 0..JOBS {
                tx.schedule(&Job {
                    id: format!("job-{n:03}"),
                    due_at: 10,
                    kind: "t".into(),
                    payload: vec![],
                })?;
            }
            Ok(())
        })
        .expect("schedule");
    let claim = |store: Arc<dyn Backend>| {
        std::thread::spawn(move || {
            let mut mine = Vec::new();
            loop {
                let jobs = store.claim_due_jobs(100, 1000, 7).expect("claim");
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        })
    };
    let claimers = [claim(first), claim(second)];
    let mut all: Vec<String> = claimers.into_iter().flat_map(|c| c.join().expect("claimer")).collect();
    all.sort();
    assert_eq!(all, (0..JOBS).map(|n| format!("job-{n:03}")).collect::<Vec<_>>());
}

/// A committed bump moves a family's generation on for every handle (and is announced to them, where the backend
/// announces changes); a rolled-back one does not.
fn generations_move_on_with_commits_and_are_seen_by_every_handle(subject: &mut dyn Subject) {
    let first = subject.fresh();
    let second = subject.reopen();
    let (heard, hearing) = std::sync::mpsc::channel::<String>();
    let heard = std::sync::Mutex::new(heard);
    first.subscribe(Arc::new(move |family: &str| {
        if let Ok(heard) = heard.lock() {
            let _ = heard.send(family.to_string());
        }
    }));
    assert_eq!(first.generation("iam").expect("generation"), 0);
    let refused = second.transaction(&mut |tx| {
        tx.bump_generation("iam")?;
        Err(StoreError::Backend("caller aborted".into()))
    });
    assert!(refused.is_err());
    assert_eq!(
        first.generation("iam").expect("generation"),
        0,
        "a rolled-back bump moves nothing"
    );
    second
        .transaction(&mut |tx| {
            tx.bump_generation("iam")?;
            tx.bump_generation("iam")
        })
        .expect("bump");
    assert_eq!(first.generation("iam").expect("generation"), 2);
    assert_eq!(
        first.generation("kms").expect("generation"),
        0,
        "families move on apart"
    );
    if subject.announces_changes() {
        let announced = hearing.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(announced.as_deref(), Ok("iam"), "the other handle heard of the bump");
    }
    first.wipe().expect("wipe");
    assert_eq!(
        second.generation("iam").expect("generation"),
        3,
        "a wipe retires every cache"
    );
}

/// The work of a write that reads through the store again (as services do when a check reads another record)
/// completes, on a store with as few connections as its backend allows, and sees what its backend promises.
fn reads_nested_in_a_write_need_no_second_connection(subject: &mut dyn Subject) {
    let store = subject.fresh();
    put(&*store, "k", "s", "x", b"committed");
    let mut nested = None;
    store
        .transaction(&mut |tx| {
            tx.put("k", "s", "x", b"written")?;
            store.snapshot(&mut |inner| {
                nested = inner.get("k", "s", "x")?;
                Ok(())
            })?;
            let refused = store.snapshot(&mut |inner| inner.put("k", "s", "y", b"through a snapshot"));
            assert!(refused.is_err(), "a snapshot joining a write still writes nothing");
            // A write the work asks for again joins the running one: it commits or rolls back with it.
            store.transaction(&mut |inner| inner.put("k", "s", "z", b"joined"))
        })
        .expect("a write whose work reads and writes again");
    assert_eq!(
        nested.as_deref(),
        Some(&b"written"[..]),
        "the nested read sees the write"
    );
    assert_eq!(get(&*store, "k", "s", "x").as_deref(), Some(&b"written"[..]));
    assert_eq!(get(&*store, "k", "s", "y"), None);
    assert_eq!(get(&*store, "k", "s", "z").as_deref(), Some(&b"joined"[..]));

    let failed = store.transaction(&mut |tx| {
        store.transaction(&mut |inner| inner.put("k", "s", "w", b"joined, then rolled back"))?;
        tx.put("k", "s", "x", b"rolled back")?;
        Err(StoreError::Backend("the outer work fails".into()))
    });
    assert!(failed.is_err());
    assert_eq!(
        get(&*store, "k", "s", "w"),
        None,
        "the joined write went with the outer one"
    );
    assert_eq!(get(&*store, "k", "s", "x").as_deref(), Some(&b"written"[..]));
}

#[cfg(test)]
mod tests {
    use crate::testing::{PostgresSubject, SqliteSubject};

    #[test]
    fn sqlite_conforms() {
        super::run(&mut SqliteSubject::default());
    }

    #[test]
    fn postgres_conforms() {
        super::run(&mut PostgresSubject::start());
    }
}
