//! Keyhaven's domain: the services (KMS, IAM, STS, Parameter Store, Secrets Manager) and the shared spines (audit, scheduler, clock, request context). No HTTP.

pub mod audit;
pub mod authz;
pub mod clock;
pub mod context;
pub mod error;
pub mod events;
pub mod iam;
pub mod kms;
pub mod on_behalf;
pub mod scheduler;
pub mod secrets;
pub mod simulate;
pub mod ssm;
pub mod sts;
pub mod web_identity;

use std::sync::Arc;

use keyhaven_crypto::RootKey;
use keyhaven_store::{Backend, StoreError, Transaction};

use crate::audit::AuditLog;
use crate::clock::AdjustableClock;
pub use crate::error::CoreError;

/// Runs `work` in one store transaction, carrying the domain error out unchanged.
pub fn transact<T>(
    store: &dyn Backend,
    work: impl FnMut(&mut dyn Transaction) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    run_in(work, |f| store.transaction(f))
}

/// Runs read-only `work` on a snapshot that never waits for writers.
pub fn read<T>(
    store: &dyn Backend,
    work: impl FnMut(&mut dyn Transaction) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    run_in(work, |f| store.snapshot(f))
}

type StoreWork<'a> = &'a mut dyn FnMut(&mut dyn Transaction) -> Result<(), StoreError>;

fn run_in<T>(
    mut work: impl FnMut(&mut dyn Transaction) -> Result<T, CoreError>,
    run: impl FnOnce(StoreWork<'_>) -> Result<(), StoreError>,
) -> Result<T, CoreError> {
    let mut outcome: Option<Result<T, CoreError>> = None;
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
        Some(Ok(value)) => committed.map(|()| value).map_err(CoreError::from),
        None => Err(committed
            .err()
            .map(CoreError::from)
            .unwrap_or_else(|| CoreError::Internal("transaction did not run".into()))),
    }
}

/// Settings of the core that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct CoreConfig {
    pub audit: audit::AuditSettings,
    /// Names of the change-event delivery targets; each gets its own outbox.
    pub event_targets: Vec<String>,
    /// Parameter Store's per account-and-Region parameter limits.
    pub parameter_quotas: ssm::ParameterQuotas,
}

/// The domain services and their shared spines, one per server.
pub struct Core {
    pub store: Arc<dyn Backend>,
    pub clock: Arc<AdjustableClock>,
    pub kms: Arc<kms::Kms>,
    pub iam: Arc<iam::Iam>,
    pub authz: Arc<authz::Authorizer>,
    pub sts: sts::Sts,
    pub ssm: ssm::Ssm,
    pub secrets: Arc<secrets::Secrets>,
    pub events: events::Events,
    pub audit: AuditLog,
    pub scheduler: scheduler::Scheduler,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("audit", &self.audit).finish()
    }
}

impl Core {
    pub fn open(
        store: Arc<dyn Backend>,
        root: RootKey,
        clock: Arc<AdjustableClock>,
        config: CoreConfig,
    ) -> Result<Arc<Self>, CoreError> {
        let audit = AuditLog::start(store.clone(), &root, config.audit)?;
        let root = Arc::new(root);
        let iam = Arc::new(iam::Iam::new(store.clone(), root.clone(), clock.clone()));
        let authz = Arc::new(authz::Authorizer::new(iam.clone(), clock.clone()));
        let kms = Arc::new(kms::Kms::new(store.clone(), root.clone(), clock.clone(), authz.clone()));
        let sts = sts::Sts::new(store.clone(), root, clock.clone());
        let events = events::Events::new(config.event_targets, clock.clone());
        let secrets = Arc::new(secrets::Secrets::new(
            store.clone(),
            clock.clone(),
            authz.clone(),
            kms.clone(),
        ));
        let ssm = ssm::Ssm::new(
            store.clone(),
            clock.clone(),
            authz.clone(),
            kms.clone(),
            secrets.clone(),
            events.clone(),
            config.parameter_quotas,
        );
        Ok(Arc::new(Self {
            store,
            clock,
            kms,
            iam,
            authz,
            sts,
            ssm,
            secrets,
            events,
            audit,
            scheduler: scheduler::Scheduler::default(),
        }))
    }

    /// Removes every resource (dev mode's reset). The audit log is kept.
    pub fn reset(&self) -> Result<(), CoreError> {
        self.store.wipe()?;
        self.kms.clear_cache();
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use keyhaven_store::testing::{TempDir, temp_store};

    use crate::clock::AdjustableClock;
    use crate::context::{Principal, RequestContext};
    use crate::{Core, CoreConfig};

    pub const ACCOUNT: &str = "111122223333";
    pub const START: i64 = 1_700_000_000;

    /// A core over a fresh store with a frozen clock.
    pub fn core() -> (TempDir, Arc<Core>) {
        let (dir, store) = temp_store();
        let root = keyhaven_crypto::RootKey::generate().expect("root key");
        let core = Core::open(
            store,
            root,
            Arc::new(AdjustableClock::frozen(START)),
            CoreConfig::default(),
        )
        .expect("core");
        (dir, core)
    }

    /// The CloudTrail service events the core recorded, as (eventSource, eventName, the resource's
    /// ARN); stops the audit writer to read them.
    pub fn service_events(core: &Core) -> Vec<(String, String, String)> {
        core.audit.shutdown();
        crate::audit::read_records(&*core.store, 0, 1_000)
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

    pub fn ctx(region: &str) -> RequestContext {
        RequestContext {
            request_id: "test-request".into(),
            principal: Principal::root(ACCOUNT, "AKIAEXAMPLE"),
            region: region.into(),
            source_ip: None,
            user_agent: "unit-test".into(),
            secure_transport: false,
            via_service: None,
            service_calls: Default::default(),
        }
    }
}
