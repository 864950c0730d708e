//! The caching materials manager: reuses data keys across messages within limits (age, messages, bytes per data
//! key), partitioned by algorithm suite, encryption context and commitment policy, as the SDK's caching CMM does.
//! Suites that use the data key directly are never cached, nor messages of unknown length.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::materials::{
    CommitmentPolicy, DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest, MaterialsManager,
};
use crate::message::context::EncryptionContext;
use crate::message::header::EncryptedDataKey;
use crate::{AlgorithmSuite, BoxFuture, ClientError};

/// How much one cached data key may do.
#[derive(Debug, Clone, Copy)]
pub struct CachingLimits {
    /// Entries kept; the least recently used goes first.
    pub capacity: usize,
    pub max_age: Duration,
    pub max_messages: u64,
    pub max_bytes: u64,
}

impl CachingLimits {
    /// The SDK's defaults for the message and byte limits (2^32 messages, 2^63 − 1 bytes).
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            capacity,
            max_age,
            max_messages: 1 << 32,
            max_bytes: i64::MAX as u64,
        }
    }
}

/// Where the cache reads the time; tests inject their own.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Hash, PartialEq, Eq, Clone)]
enum CacheKey {
    Encrypt(Option<AlgorithmSuite>, EncryptionContext, CommitmentPolicyKey),
    Decrypt(
        AlgorithmSuite,
        Vec<EncryptedDataKey>,
        EncryptionContext,
        CommitmentPolicyKey,
    ),
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct CommitmentPolicyKey(u8);

impl From<CommitmentPolicy> for CommitmentPolicyKey {
    fn from(policy: CommitmentPolicy) -> Self {
        Self(policy as u8)
    }
}

enum Cached {
    Encrypt(EncryptionMaterials),
    Decrypt(DecryptionMaterials),
}

struct Entry {
    cached: Cached,
    created: Instant,
    last_used: u64,
    messages: u64,
    bytes: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<CacheKey, Entry>,
    uses: u64,
}

impl Cache {
    fn insert(&mut self, key: CacheKey, entry: Entry, capacity: usize) {
        while self.entries.len() >= capacity.max(1) {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, entry);
    }
}

/// A materials manager that caches another's materials.
pub struct CachingMaterialsManager {
    inner: Arc<dyn MaterialsManager>,
    limits: CachingLimits,
    clock: Clock,
    cache: parking_lot::Mutex<Cache>,
}

impl std::fmt::Debug for CachingMaterialsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachingMaterialsManager({:?})", self.limits)
    }
}

impl CachingMaterialsManager {
    pub fn new(inner: Arc<dyn MaterialsManager>, limits: CachingLimits) -> Self {
        Self::with_clock(inner, limits, Arc::new(Instant::now))
    }

    pub fn with_clock(inner: Arc<dyn MaterialsManager>, limits: CachingLimits, clock: Clock) -> Self {
        Self {
            inner,
            limits,
            clock,
            cache: Default::default(),
        }
    }

    /// A cached encryption entry that may serve one more message of `length` bytes, counted as used.
    fn reuse_encryption(&self, key: &CacheKey, length: u64) -> Option<EncryptionMaterials> {
        let now = (self.clock)();
        let mut cache = self.cache.lock();
        cache.uses += 1;
        let uses = cache.uses;
        let entry = cache.entries.get_mut(key)?;
        let fits = now.saturating_duration_since(entry.created) < self.limits.max_age
            && entry.messages < self.limits.max_messages
            && entry.bytes.saturating_add(length) <= self.limits.max_bytes;
        let materials = match (&entry.cached, fits) {
            (Cached::Encrypt(materials), true) => materials.clone(),
            _ => {
                cache.entries.remove(key);
                return None;
            }
        };
        entry.messages += 1;
        entry.bytes += length;
        entry.last_used = uses;
        Some(materials)
    }

    fn store(&self, key: CacheKey, cached: Cached, length: u64) {
        let now = (self.clock)();
        let mut cache = self.cache.lock();
        cache.uses += 1;
        let entry = Entry {
            cached,
            created: now,
            last_used: cache.uses,
            messages: 1,
            bytes: length,
        };
        cache.insert(key, entry, self.limits.capacity);
    }
}

impl MaterialsManager for CachingMaterialsManager {
    fn encryption_materials<'a>(
        &'a self,
        request: &'a EncryptionRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            let Some(length) = request.plaintext_length else {
                return self.inner.encryption_materials(request).await;
            };
            if request.suite.is_some_and(|s| !s.is_cacheable()) || length > self.limits.max_bytes {
                return self.inner.encryption_materials(request).await;
            }
            let key = CacheKey::Encrypt(request.suite, request.context.clone(), request.commitment_policy.into());
            if let Some(materials) = self.reuse_encryption(&key, length) {
                return Ok(materials);
            }
            let materials = self.inner.encryption_materials(request).await?;
            if materials.suite.is_cacheable() {
                self.store(key, Cached::Encrypt(materials.clone()), length);
            }
            Ok(materials)
        })
    }

    fn decryption_materials<'a>(
        &'a self,
        request: &'a DecryptionRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            if !request.suite.is_cacheable() {
                return self.inner.decryption_materials(request).await;
            }
            let mut data_keys = request.data_keys.clone();
            data_keys.sort_by(|a, b| {
                (&a.provider_id, &a.provider_info, &a.ciphertext).cmp(&(
                    &b.provider_id,
                    &b.provider_info,
                    &b.ciphertext,
                ))
            });
            let key = CacheKey::Decrypt(
                request.suite,
                data_keys,
                request.context.clone(),
                request.commitment_policy.into(),
            );
            {
                let now = (self.clock)();
                let mut cache = self.cache.lock();
                cache.uses += 1;
                let uses = cache.uses;
                if let Some(entry) = cache.entries.get_mut(&key) {
                    match &entry.cached {
                        Cached::Decrypt(materials)
                            if now.saturating_duration_since(entry.created) < self.limits.max_age =>
                        {
                            entry.last_used = uses;
                            return Ok(materials.clone());
                        }
                        _ => {
                            cache.entries.remove(&key);
                        }
                    }
                }
            }
            let materials = self.inner.decryption_materials(request).await?;
            self.store(key, Cached::Decrypt(materials.clone()), 0);
            Ok(materials)
        })
    }
}
