//! What every Keyhaven service shares: request context and principals, the clock, ids, tags,
//! paging, the authorisation table and authoriser, the audit log, change events, the scheduler's
//! job registry, and the interfaces through which one service calls another. No service code.

pub mod audit;
pub mod authz;
pub mod clock;
pub mod context;
pub mod error;
pub mod events;
pub mod generation;
pub mod ids;
pub mod on_behalf;
pub mod paging;
pub mod records;
pub mod scheduler;
pub mod tags;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use keyhaven_store::{StoreError, Transaction};

pub use crate::error::KernelError;

/// Runs `work` in one store transaction, carrying the caller's error out unchanged.
pub fn transact<T, E: From<StoreError>>(
    store: &dyn keyhaven_store::Backend,
    work: impl FnMut(&mut dyn Transaction) -> Result<T, E>,
) -> Result<T, E> {
    run_in(work, |f| store.transaction(f))
}

/// Runs read-only `work` on a snapshot that never waits for writers.
pub fn read<T, E: From<StoreError>>(
    store: &dyn keyhaven_store::Backend,
    work: impl FnMut(&mut dyn Transaction) -> Result<T, E>,
) -> Result<T, E> {
    run_in(work, |f| store.snapshot(f))
}

type StoreWork<'a> = &'a mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>;

fn run_in<T, E: From<StoreError>>(
    mut work: impl FnMut(&mut dyn Transaction) -> Result<T, E>,
    run: impl FnOnce(StoreWork<'_>) -> Result<(), StoreError>,
) -> Result<T, E> {
    let mut outcome: Option<Result<T, E>> = None;
    let committed = run(&mut |tx| match work(tx) {
        Ok(value) => {
            outcome = Some(Ok(value));
            Ok(())
        }
        Err(e) => {
            outcome = Some(Err(e));
            Err(StoreError::Backend("rolled back by the caller".into()))
        }
    });
    match outcome {
        Some(Err(e)) => Err(e),
        Some(Ok(value)) => committed.map(|()| value).map_err(E::from),
        None => {
            Err(E::from(committed.err().unwrap_or_else(|| {
                StoreError::Backend("transaction did not run".into())
            })))
        }
    }
}
