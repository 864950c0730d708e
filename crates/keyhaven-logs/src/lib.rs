//! Amazon CloudWatch Logs on the kernel, the security subset: log groups encrypted under KMS keys (`groups`), log
//! streams (`streams`), events sealed per PutLogEvents batch and read back with GetLogEvents and FilterLogEvents
//! (`events`, `pattern`), retention on the scheduler (`services`). A group's key is used by CloudWatch Logs itself
//! (`logs.<region>.amazonaws.com`, encryption context `aws:logs:arn`), as the key's policy must allow.

pub mod error;
pub mod events;
pub mod groups;
pub mod model;
pub mod names;
pub mod pattern;
pub mod services;
pub mod streams;

use std::sync::Arc;

use keyhaven_crypto::{EncryptionContext, RootKey};
use keyhaven_kernel::authz::{Authorizer, TaggedResource};
use keyhaven_kernel::clock::Clock;
use keyhaven_kernel::context::{Principal, RequestContext, ServiceCalls};
use keyhaven_kernel::on_behalf::{KeyService, OnBehalf};
use keyhaven_kernel::tags::Tag;
use keyhaven_store::Backend;

pub use error::{LogsError, LogsFault, read, transact};
pub use model::{GroupRecord, StreamRecord};

/// How CloudWatch Logs names itself to KMS (`kms:ViaService = logs.<region>.amazonaws.com`).
const VIA_SERVICE: &str = "logs.amazonaws.com";

/// The CloudWatch Logs service.
pub struct Logs {
    store: Arc<dyn Backend>,
    root: Arc<RootKey>,
    clock: Arc<dyn Clock>,
    authz: Arc<Authorizer>,
    kms: Arc<dyn KeyService>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs").finish_non_exhaustive()
    }
}

impl Logs {
    pub fn new(
        store: Arc<dyn Backend>,
        root: Arc<RootKey>,
        clock: Arc<dyn Clock>,
        authz: Arc<Authorizer>,
        kms: Arc<dyn KeyService>,
    ) -> Self {
        Self {
            store,
            root,
            clock,
            authz,
            kms,
        }
    }

    /// Now, in milliseconds since the epoch (CloudWatch Logs' unit).
    fn now_ms(&self) -> i64 {
        keyhaven_kernel::clock::epoch_millis(self.clock.now())
    }

    /// Authorises `action` on `arn` (a group's or a stream's, owned by the caller's account), with the group's
    /// tags and the request's condition keys; none for the actions scoped to no resource.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        arn: Option<&str>,
        tags: &[Tag],
        keys: &[(String, Vec<String>)],
    ) -> Result<(), LogsError> {
        let resource = arn.map(|arn| TaggedResource {
            arn,
            account: ctx.account_id(),
            tags,
        });
        Ok(self.authz.check_tagged(ctx, action, resource, keys)?)
    }

    /// The context CloudWatch Logs uses keys in: its own service principal for the caller's account and Region.
    fn as_service(&self, ctx: &RequestContext) -> RequestContext {
        RequestContext {
            principal: Principal::service(&format!("logs.{}.amazonaws.com", ctx.region), ctx.account_id()),
            via_service: None,
            service_calls: ServiceCalls::default(),
            ..ctx.clone()
        }
    }

    fn key_context(group_arn: &str) -> EncryptionContext {
        [("aws:logs:arn".to_string(), group_arn.to_string())].into()
    }

    fn on_behalf<'a>(&'a self, service_ctx: &'a RequestContext) -> OnBehalf<'a> {
        OnBehalf {
            kms: &*self.kms,
            ctx: service_ctx,
            service: VIA_SERVICE,
        }
    }
}
