//! The wiring of every service on one store: builds the kernel's shared pieces, each service
//! crate on them, connects the on-behalf interfaces (KMS for Parameter Store, Secrets Manager,
//! S3, CloudTrail and CloudWatch Logs, Secrets Manager for Parameter Store, S3 for CloudTrail) and registers each
//! service's job handler.

use std::sync::Arc;

use keyhaven_cloudtrail::{CloudTrail, DeliverySettings, Destinations};
use keyhaven_crypto::RootKey;
use keyhaven_iam::Identity;
use keyhaven_kernel::KernelError;
use keyhaven_kernel::audit::{AuditLog, AuditSettings};
use keyhaven_kernel::clock::AdjustableClock;
use keyhaven_kernel::events::{self, Events};
use keyhaven_kernel::scheduler::Scheduler;
use keyhaven_kms::Kms;
use keyhaven_logs::Logs;
use keyhaven_s3::S3;
use keyhaven_secrets::Secrets;
use keyhaven_ssm::{ParameterQuotas, Ssm};
use keyhaven_store::{Backend, BlobStore};

/// Settings of the core that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct CoreConfig {
    pub audit: AuditSettings,
    /// Names of the change-event delivery targets; each gets its own outbox.
    pub event_targets: Vec<String>,
    /// Parameter Store's per account-and-Region parameter limits.
    pub parameter_quotas: ParameterQuotas,
    /// How often trails deliver.
    pub trail_delivery: DeliverySettings,
}

/// The services and their shared spines, one per server.
pub struct Core {
    pub store: Arc<dyn Backend>,
    pub clock: Arc<AdjustableClock>,
    /// IAM, STS and the authoriser every service shares.
    pub identity: Arc<Identity>,
    pub kms: Arc<Kms>,
    pub ssm: Arc<Ssm>,
    pub secrets: Arc<Secrets>,
    pub s3: Arc<S3>,
    pub cloudtrail: Arc<CloudTrail>,
    pub logs: Arc<Logs>,
    pub events: Events,
    pub audit: AuditLog,
    pub scheduler: Arc<Scheduler>,
    /// Kept for checking the audit chain while serving; every service holds its own handle.
    root: Arc<RootKey>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("audit", &self.audit).finish()
    }
}

impl Core {
    pub fn open(
        store: Arc<dyn Backend>,
        blobs: Arc<dyn BlobStore>,
        root: RootKey,
        clock: Arc<AdjustableClock>,
        config: CoreConfig,
    ) -> Result<Arc<Self>, KernelError> {
        let delivered = config.audit.retention.delivered_through.clone();
        let audit = AuditLog::start(store.clone(), &root, config.audit)?;
        let root = Arc::new(root);
        let identity = Arc::new(Identity::new(store.clone(), root.clone(), clock.clone()));
        let authz = identity.authz.clone();
        let kms = Arc::new(Kms::new(store.clone(), root.clone(), clock.clone(), authz.clone()));
        let events = Events::new(config.event_targets, clock.clone());
        let secrets = Arc::new(Secrets::new(store.clone(), clock.clone(), authz.clone(), kms.clone()));
        let ssm = Arc::new(Ssm::new(
            store.clone(),
            clock.clone(),
            authz.clone(),
            kms.clone(),
            secrets.clone(),
            events.clone(),
            config.parameter_quotas,
        ));
        let s3 = Arc::new(S3::new(
            store.clone(),
            blobs,
            root.clone(),
            clock.clone(),
            authz.clone(),
            kms.clone(),
            events.clone(),
        ));
        let logs = Arc::new(Logs::new(
            store.clone(),
            root.clone(),
            clock.clone(),
            authz.clone(),
            kms.clone(),
        ));
        let cloudtrail = Arc::new(CloudTrail::new(
            store.clone(),
            root.clone(),
            clock.clone(),
            authz.clone(),
            Destinations {
                objects: s3.clone(),
                kms: kms.clone(),
                logs: logs.clone(),
                roles: identity.clone(),
            },
            config.trail_delivery,
            delivered,
        ));
        let scheduler = Arc::new(Scheduler::new(store.clone(), clock.clone(), audit.clone()));
        scheduler.register("kms", kms.clone());
        scheduler.register("sts", identity.sts.clone());
        scheduler.register("ssm", ssm.clone());
        scheduler.register("secrets", secrets.clone());
        scheduler.register("s3", s3.clone());
        scheduler.register("cloudtrail", cloudtrail.clone());
        scheduler.register("logs", logs.clone());
        scheduler.register(
            "events",
            Arc::new(events::LogPruning {
                store: store.clone(),
                clock: clock.clone(),
            }),
        );
        events.start_pruning(&*store)?;
        Ok(Arc::new(Self {
            store,
            clock,
            identity,
            kms,
            ssm,
            secrets,
            s3,
            cloudtrail,
            logs,
            events,
            audit,
            scheduler,
            root,
        }))
    }

    /// Recomputes the audit log's chain as `keyhaven audit-verify` does, on the live store.
    pub fn verify_audit(&self) -> Result<keyhaven_kernel::audit::ChainCheck, KernelError> {
        keyhaven_kernel::audit::verify_chain(&*self.store, &self.root)
    }

    /// Removes every resource (dev mode's reset). The audit log is kept.
    pub fn reset(&self) -> Result<(), KernelError> {
        self.store.wipe()?;
        self.kms.clear_cache();
        // The wipe took the event log's pruning job with the other jobs.
        self.events.start_pruning(&*self.store)
    }

    /// Runs every job due now (dev mode's clock advance). Returns how many ran.
    pub fn run_due_jobs(&self) -> Result<usize, KernelError> {
        self.scheduler.run_due_jobs()
    }
}
