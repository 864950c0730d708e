//! Test support for service crates: a request context of an account root, and a policy store
//! with no entities (every caller is a root or has no policies of its own).

use keyhaven_store::testing::{TempDir, temp_store};

use crate::authz::{PolicyStore, StoredPolicies};
use crate::context::{Principal, RequestContext};
use crate::error::KernelError;

pub const ACCOUNT: &str = "111122223333";
pub const START: i64 = 1_700_000_000;

/// The request context of `ACCOUNT`'s root in `region`.
pub fn ctx(region: &str) -> RequestContext {
    RequestContext {
        request_id: "test-request".into(),
        principal: Principal::root(ACCOUNT, "AKIAEXAMPLE"),
        region: region.into(),
        source_ip: None,
        user_agent: "unit-test".into(),
        secure_transport: false,
        via_service: None,
        signature_v2: false,
        service_calls: Default::default(),
    }
}

/// A policy store without users or roles.
#[derive(Debug)]
pub struct NoEntities;

impl PolicyStore for NoEntities {
    fn generation(&self) -> Option<u64> {
        Some(0)
    }

    fn caller_policies(&self, _: &Principal) -> Result<Option<StoredPolicies>, KernelError> {
        Ok(None)
    }
}

/// A fresh store in a temporary directory (removed when the `TempDir` drops).
pub fn store() -> (TempDir, std::sync::Arc<dyn keyhaven_store::Backend>) {
    temp_store()
}

/// The CloudTrail service events recorded so far, as (eventSource, eventName, the resource's
/// ARN); stops the audit writer to read them.
pub fn service_events(
    audit: &crate::audit::AuditLog,
    store: &dyn keyhaven_store::Backend,
) -> Vec<(String, String, String)> {
    audit.shutdown();
    crate::audit::read_records(store, 0, 1_000)
        .expect("audit")
        .iter()
        .map(|(_, record)| serde_json::from_slice::<serde_json::Value>(record).expect("json"))
        .filter(|r| r["eventType"] == "AwsServiceEvent")
        .map(|r| {
            assert_eq!(r["userIdentity"]["invokedBy"], r["eventSource"]);
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&r["eventSource"]),
                text(&r["eventName"]),
                text(&r["resources"][0]["ARN"]),
            )
        })
        .collect()
}

/// An audit log on `store` with a fresh root key and default settings.
pub fn audit_log(store: std::sync::Arc<dyn keyhaven_store::Backend>) -> crate::audit::AuditLog {
    let root = keyhaven_crypto::RootKey::generate().expect("root key");
    crate::audit::AuditLog::start(store, &root, Default::default()).expect("audit log")
}

/// What every service's tests start from: a fresh store with a frozen clock, a root key, an
/// authoriser over [`NoEntities`], an audit log and a scheduler.
pub struct Harness {
    pub store: std::sync::Arc<dyn keyhaven_store::Backend>,
    pub clock: std::sync::Arc<crate::clock::AdjustableClock>,
    pub root: std::sync::Arc<keyhaven_crypto::RootKey>,
    pub authz: std::sync::Arc<crate::authz::Authorizer>,
    pub audit: crate::audit::AuditLog,
    pub scheduler: crate::scheduler::Scheduler,
}

impl Harness {
    pub fn new() -> (TempDir, Self) {
        use std::sync::Arc;
        let (dir, store) = temp_store();
        let clock = Arc::new(crate::clock::AdjustableClock::frozen(START));
        let authz = Arc::new(crate::authz::Authorizer::new(Arc::new(NoEntities), clock.clone()));
        let audit = audit_log(store.clone());
        let scheduler = crate::scheduler::Scheduler::new(store.clone(), clock.clone(), audit.clone());
        let root = Arc::new(keyhaven_crypto::RootKey::generate().expect("root key"));
        (
            dir,
            Self {
                store,
                clock,
                root,
                authz,
                audit,
                scheduler,
            },
        )
    }

    pub fn run_due_jobs(&self) -> Result<usize, KernelError> {
        self.scheduler.run_due_jobs()
    }

    /// The service events recorded so far (see [`service_events`]).
    pub fn service_events(&self) -> Vec<(String, String, String)> {
        service_events(&self.audit, &*self.store)
    }
}
