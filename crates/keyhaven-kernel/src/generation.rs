//! A cache family's generation as the store keeps it, so that a node trusts its caches only while no node has
//! changed what they hold. Every write that changes the family bumps the stored generation in its own transaction;
//! other nodes hear of it at once (the store's change announcements) and, as the guarantee, read it again whenever
//! what they know of it is older than `BOUND`. A cache entry is trusted only while the generation it was filled at
//! is the current one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyhaven_store::{Backend, StoreError, Transaction};

use crate::error::KernelError;

/// The longest a node trusts a generation it has not read again: a change made on another node is seen within
/// this (plus one store read), even if its announcement was lost.
pub const BOUND: Duration = Duration::from_millis(500);

/// What a node knows of one family's generation.
pub struct Generation {
    store: Arc<dyn Backend>,
    family: &'static str,
    known: AtomicU64,
    /// When `known` was read, in microseconds since `epoch`; 0 when it must be read again.
    confirmed: AtomicU64,
    epoch: Instant,
    /// Set by an announcement or a local write: read again before the next use.
    stale: Arc<AtomicBool>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation").field("family", &self.family).finish()
    }
}

impl Generation {
    pub fn new(store: Arc<dyn Backend>, family: &'static str) -> Self {
        let stale = Arc::new(AtomicBool::new(true));
        let heard = stale.clone();
        store.subscribe(Arc::new(move |changed: &str| {
            if changed == family {
                heard.store(true, Ordering::SeqCst);
            }
        }));
        Self {
            store,
            family,
            known: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            epoch: Instant::now(),
            stale,
        }
    }

    /// The family's current generation; `None` when the store cannot say, and then no cache may be trusted.
    pub fn current(&self) -> Option<u64> {
        self.current_at(
            u64::try_from(self.epoch.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        )
    }

    /// `current` at `now` microseconds after `epoch`.
    fn current_at(&self, now: u64) -> Option<u64> {
        let confirmed = self.confirmed.load(Ordering::SeqCst);
        let fresh = confirmed != 0 && now.saturating_sub(confirmed) < BOUND.as_micros() as u64;
        if fresh && !self.stale.load(Ordering::SeqCst) {
            return Some(self.known.load(Ordering::SeqCst));
        }
        // Cleared before the read: an announcement arriving meanwhile makes the next use read again.
        self.stale.store(false, Ordering::SeqCst);
        match self.store.generation(self.family) {
            Ok(value) => {
                self.known.store(value, Ordering::SeqCst);
                self.confirmed.store(now, Ordering::SeqCst);
                Some(value)
            }
            Err(e) => {
                tracing::warn!(family = self.family, error = %e, "cannot read a cache generation");
                self.stale.store(true, Ordering::SeqCst);
                None
            }
        }
    }

    /// Runs `work` in one transaction that changes what the family's caches hold, moving the generation on with
    /// it; this node reads the generation again before its next use of a cache, so it sees its own change at once.
    pub fn transact<T, E: From<StoreError> + From<KernelError>>(
        &self,
        mut work: impl FnMut(&mut dyn Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = crate::transact(&*self.store, |tx| {
            tx.bump_generation(self.family).map_err(KernelError::from)?;
            work(tx)
        });
        self.changed();
        out
    }

    /// What this node caches of the family may be stale (it changed it without `transact`, or was reset): read the
    /// generation again before the next use.
    pub fn changed(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transact;
    use keyhaven_store::testing::temp_store;

    #[test]
    fn a_node_sees_its_own_bumps_at_once_and_others_within_the_bound() {
        let (_dir, store) = temp_store();
        let generation = Generation::new(store.clone(), "iam");
        assert_eq!(generation.current_at(10), Some(0));
        generation.transact(|_| Ok::<_, KernelError>(())).expect("bump");
        assert_eq!(
            generation.current_at(20),
            Some(1),
            "this node sees its own change at once"
        );
        // Another node's change, whose announcement this node missed: trusted until the bound, then read again.
        transact(&*store, |tx| Ok::<_, KernelError>(tx.bump_generation("iam")?)).expect("bump");
        let bound = BOUND.as_micros() as u64;
        assert_eq!(
            generation.current_at(20 + bound - 1),
            Some(1),
            "within the bound: no store read"
        );
        assert_eq!(
            generation.current_at(20 + bound),
            Some(2),
            "read again once the bound has passed"
        );
    }
}
