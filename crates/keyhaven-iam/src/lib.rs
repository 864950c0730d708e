//! IAM and STS: users, groups, roles, managed and inline policies, access keys, MFA devices,
//! OpenID Connect providers; sessions (AssumeRole, GetSessionToken, AssumeRoleWithWebIdentity);
//! the policy simulator. IAM is also the kernel's [`keyhaven_kernel::authz::PolicyStore`].

pub mod error;
pub mod iam;
pub mod saml_federation;
pub mod saml_response;
pub mod service_roles;
pub mod simulate;
pub mod sts;
pub mod web_identity;

pub use crate::error::IamError;

use std::sync::Arc;

use keyhaven_crypto::RootKey;
use keyhaven_kernel::audit::AuditLog;
use keyhaven_kernel::authz::Authorizer;
use keyhaven_kernel::clock::Clock;
use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::scheduler::{JobHandler, job_failed};
use keyhaven_store::{Backend, Job};

/// The IAM family on one store: IAM, STS, and the authoriser IAM's policies feed.
pub struct Identity {
    pub store: Arc<dyn Backend>,
    pub clock: Arc<dyn Clock>,
    pub iam: Arc<iam::Iam>,
    pub sts: Arc<sts::Sts>,
    /// The authoriser every service shares, reading callers' policies from `iam`.
    pub authz: Arc<Authorizer>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity")
    }
}

impl Identity {
    pub fn new(store: Arc<dyn Backend>, root: Arc<RootKey>, clock: Arc<dyn Clock>) -> Self {
        let iam = Arc::new(iam::Iam::new(store.clone(), root.clone(), clock.clone()));
        let authz = Arc::new(Authorizer::new(iam.clone(), clock.clone()));
        let sts = Arc::new(sts::Sts::new(store.clone(), root, clock.clone()));
        Self {
            store,
            clock,
            iam,
            sts,
            authz,
        }
    }
}

/// STS's scheduled work: removing expired sessions.
impl JobHandler for sts::Sts {
    fn run(&self, job: &Job, _: &AuditLog) -> Result<(), KernelError> {
        self.run_job(job).map_err(job_failed)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use keyhaven_kernel::testing::Harness;
    pub use keyhaven_kernel::testing::{ACCOUNT, START, ctx};
    use keyhaven_store::testing::TempDir;

    use crate::Identity;

    /// The IAM family on a test harness (its own authoriser, over IAM), STS's jobs registered.
    pub struct Fixture {
        pub harness: Harness,
        pub identity: Identity,
    }

    impl std::ops::Deref for Fixture {
        type Target = Identity;
        fn deref(&self) -> &Identity {
            &self.identity
        }
    }

    impl Fixture {
        pub fn run_due_jobs(&self) -> Result<usize, keyhaven_kernel::KernelError> {
            self.harness.run_due_jobs()
        }
    }

    pub fn core() -> (TempDir, Fixture) {
        let (dir, harness) = Harness::new();
        let identity = Identity::new(harness.store.clone(), harness.root.clone(), harness.clock.clone());
        harness.scheduler.register("sts", identity.sts.clone());
        (dir, Fixture { harness, identity })
    }
}
