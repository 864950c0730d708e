//! `keyhaven migrate`: moves a single-node installation's store (SQLite in its data directory) into an empty
//! PostgreSQL database, then reads everything back from both and compares, so that nodes on PostgreSQL can take
//! over. Records, jobs, the audit log (batch for batch, so its chain still verifies) and the meta area move; the
//! root key and the object bodies stay where they are (the data directory), for the nodes to be given.

use keyhaven_store::{Backend, RecordKey, StoreError};

/// How many records move in one transaction, and are compared at a time.
const PAGE: usize = 500;

/// What moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub records: usize,
    pub jobs: usize,
    pub audit_batches: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the target store is not empty; migrate into a new database")]
    TargetNotEmpty,
    #[error("read back, the target differs from the source: {0}")]
    Differs(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies `source` into the empty `target`, then compares them.
pub fn migrate(source: &dyn Backend, target: &dyn Backend) -> Result<Moved, MigrateError> {
    let empty = target.scan_records(None, 1)?.is_empty()
        && target.all_jobs()?.is_empty()
        && target.last_audit()?.is_none()
        && target.all_meta()?.is_empty()
        && target.sequence()? == 0;
    if !empty {
        return Err(MigrateError::TargetNotEmpty);
    }
    let mut moved = Moved::default();
    let mut after: Option<RecordKey> = None;
    loop {
        let page = source.scan_records(after.as_ref(), PAGE)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        target.transaction(&mut |tx| {
            for (key, body) in &page {
                tx.put(&key.kind, &key.scope, &key.id, body)?;
            }
            Ok(())
        })?;
        moved.records += page.len();
    }
    let jobs = source.all_jobs()?;
    target.transaction(&mut |tx| jobs.iter().try_for_each(|job| tx.schedule(job)))?;
    moved.jobs = jobs.len();
    // The audit log batch for batch, each under the source's head, so the chain and its seal are the source's.
    let head = source.audit_head()?.unwrap_or_default();
    let mut audited = 0;
    loop {
        let page = source.audit_after(audited, PAGE)?;
        let Some(last) = page.last() else { break };
        audited = last.first_sequence;
        for batch in &page {
            target.append_audit(&[], &mut |_| Ok((batch.clone(), head.clone())))?;
        }
        moved.audit_batches += page.len();
    }
    for (key, value) in source.all_meta()? {
        target.set_meta(&key, &value)?;
    }
    target.advance_sequence(source.sequence()?)?;
    compare(source, target)?;
    Ok(moved)
}

/// Reads both stores back in full and compares them.
fn compare(source: &dyn Backend, target: &dyn Backend) -> Result<(), MigrateError> {
    let mut after: Option<RecordKey> = None;
    loop {
        let (mine, theirs) = (
            source.scan_records(after.as_ref(), PAGE)?,
            target.scan_records(after.as_ref(), PAGE)?,
        );
        if mine != theirs {
            return Err(MigrateError::Differs("records"));
        }
        let Some((last, _)) = mine.last() else { break };
        after = Some(last.clone());
    }
    if source.all_jobs()? != target.all_jobs()? {
        return Err(MigrateError::Differs("jobs"));
    }
    let mut audited = 0;
    loop {
        let (mine, theirs) = (source.audit_after(audited, PAGE)?, target.audit_after(audited, PAGE)?);
        if mine != theirs {
            return Err(MigrateError::Differs("the audit log"));
        }
        let Some(last) = mine.last() else { break };
        audited = last.first_sequence;
    }
    if source.all_meta()? != target.all_meta()? {
        return Err(MigrateError::Differs("the meta area"));
    }
    if source.sequence()? != target.sequence()? {
        return Err(MigrateError::Differs("the event sequence"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_store::conformance::Subject;
    use keyhaven_store::testing::{PostgresSubject, SqliteSubject};
    use keyhaven_store::{AuditBatch, Job};

    fn batch(first: u64, last: u64) -> AuditBatch {
        AuditBatch {
            first_sequence: first,
            last_sequence: last,
            first_time: 1,
            last_time: 2,
            body: vec![first as u8; 3],
            mac: [last as u8; 32],
        }
    }

    #[test]
    fn everything_moves_and_reads_back_the_same_and_a_used_target_is_refused() {
        let source = SqliteSubject::default().fresh();
        source
            .transaction(&mut |tx| {
                for n in 0..1_234 {
                    tx.put(
                        "kind-a",
                        &format!("scope-{}", n % 7),
                        &format!("id-{n}"),
                        &[n as u8; 40],
                    )?;
                }
                tx.put("kind-b", "s", "x", b"other kind")?;
                tx.schedule(&Job {
                    id: "rotate/k".into(),
                    due_at: 99,
                    kind: "kms.rotate".into(),
                    payload: b"k".to_vec(),
                })
            })
            .expect("fill");
        for (first, last) in [(1, 3), (4, 4), (5, 9)] {
            source
                .append_audit(&[], &mut |_| Ok((batch(first, last), b"head".to_vec())))
                .expect("append");
        }
        source.set_meta("root-key-check", b"sealed").expect("meta");
        source.advance_sequence(777).expect("events were numbered");

        let mut postgres = PostgresSubject::start();
        let target = postgres.fresh();
        let moved = migrate(&*source, &*target).expect("migrate");
        assert_eq!(
            moved,
            Moved {
                records: 1_235,
                jobs: 1,
                audit_batches: 3
            }
        );
        assert_eq!(target.audit_head().expect("head").as_deref(), Some(&b"head"[..]));
        assert_eq!(
            target.meta("root-key-check").expect("meta").as_deref(),
            Some(&b"sealed"[..])
        );
        assert_eq!(
            target.sequence().expect("sequence"),
            777,
            "the event log's numbering continues"
        );
        assert!(matches!(migrate(&*source, &*target), Err(MigrateError::TargetNotEmpty)));
    }
}
