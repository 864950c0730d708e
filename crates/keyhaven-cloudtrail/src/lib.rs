//! AWS CloudTrail on the kernel: the event history over the audit log (`history`), trails and their configuration
//! (`trails`, `selectors`, `names`), delivery of a trail's records to its S3 bucket as gzipped log files with hourly
//! signed digest files (`delivery`, `signing`), and its records (`model`). CloudTrail writes into buckets and asks KMS
//! for keys as its own service principal, through the kernel's on-behalf interfaces.

pub mod delivery;
pub mod error;
pub mod history;
pub mod model;
pub mod names;
pub mod selectors;
pub mod signing;
pub mod trails;

use std::sync::Arc;

use keyhaven_crypto::RootKey;
use keyhaven_kernel::audit::DeliveredThrough;
use keyhaven_kernel::authz::{Authorizer, TaggedResource};
use keyhaven_kernel::clock::Clock;
use keyhaven_kernel::context::{Principal, RequestContext, ServiceCalls};
use keyhaven_kernel::on_behalf::{KeyService, LogService, ObjectService, RoleService};
use keyhaven_store::Backend;

pub use error::{CloudTrailError, CloudTrailFault, read, transact};
pub use model::TrailRecord;

/// CloudTrail's service principal, which writes trails' files and uses their keys.
pub const SERVICE_PRINCIPAL: &str = "cloudtrail.amazonaws.com";

/// How often trails deliver and how long digests cover.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Seconds between deliveries of a logging trail's records (AWS: about every 5 minutes).
    pub interval_seconds: i64,
    /// Seconds each digest file covers (AWS: an hour).
    pub digest_seconds: i64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            interval_seconds: 300,
            digest_seconds: 3600,
        }
    }
}

/// The services CloudTrail delivers through: S3 for files, KMS for their keys, CloudWatch Logs and the roles it is
/// given for log groups.
pub struct Destinations {
    pub objects: Arc<dyn ObjectService>,
    pub kms: Arc<dyn KeyService>,
    pub logs: Arc<dyn LogService>,
    pub roles: Arc<dyn RoleService>,
}

/// The CloudTrail service.
pub struct CloudTrail {
    store: Arc<dyn Backend>,
    root: Arc<RootKey>,
    clock: Arc<dyn Clock>,
    authz: Arc<Authorizer>,
    objects: Arc<dyn ObjectService>,
    kms: Arc<dyn KeyService>,
    logs: Arc<dyn LogService>,
    roles: Arc<dyn RoleService>,
    settings: DeliverySettings,
}

impl std::fmt::Debug for CloudTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudTrail").finish_non_exhaustive()
    }
}

impl CloudTrail {
    pub fn new(
        store: Arc<dyn Backend>,
        root: Arc<RootKey>,
        clock: Arc<dyn Clock>,
        authz: Arc<Authorizer>,
        destinations: Destinations,
        settings: DeliverySettings,
        delivered: DeliveredThrough,
    ) -> Self {
        let Destinations {
            objects,
            kms,
            logs,
            roles,
        } = destinations;
        let marked = store.clone();
        delivered.follow(Arc::new(move || Self::delivered_mark(&*marked)));
        Self {
            store,
            root,
            clock,
            authz,
            objects,
            kms,
            logs,
            roles,
            settings,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Authorises `action` on the trail `arn` (owned by `account`), with its tags and the request's condition keys;
    /// none for the actions the reference scopes to no resource.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        trail: Option<(&str, &str, &[keyhaven_kernel::tags::Tag])>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), CloudTrailError> {
        let resource = trail.map(|(arn, account, tags)| TaggedResource { arn, account, tags });
        Ok(self.authz.check_tagged(ctx, action, resource, keys)?)
    }

    /// The context CloudTrail acts in on its own, for `account`'s resources in `region`: the service principal, whose
    /// calls are its own (not audited as the caller's).
    fn as_service(&self, account: &str, region: &str) -> RequestContext {
        RequestContext {
            request_id: String::new(),
            principal: Principal::service(SERVICE_PRINCIPAL, account),
            region: region.to_string(),
            source_ip: None,
            user_agent: SERVICE_PRINCIPAL.to_string(),
            secure_transport: true,
            via_service: None,
            service_calls: ServiceCalls::default(),
            signature_v2: false,
        }
    }

    /// A session of the trail's CloudWatch Logs role, as CloudTrail assumes it, and the context it writes in.
    fn as_role(
        &self,
        trail: &TrailRecord,
        role_arn: &str,
    ) -> Result<RequestContext, keyhaven_kernel::on_behalf::DeliveryFailure> {
        let service = self.as_service(&trail.account, &trail.home_region);
        let session = format!("CloudTrail_{}", trail.account);
        let principal = self.roles.service_session(
            &service,
            role_arn,
            &session,
            &Self::source_keys(&trail.arn, &trail.account),
        )?;
        Ok(RequestContext { principal, ..service })
    }

    /// The condition keys of CloudTrail's requests to S3 for `trail`, as AWS's bucket policies for trails test them.
    fn delivery_keys(trail_arn: &str, account: &str) -> Vec<(String, Vec<String>)> {
        let mut keys = vec![("s3:x-amz-acl".into(), vec!["bucket-owner-full-control".into()])];
        keys.extend(Self::source_keys(trail_arn, account));
        keys
    }

    /// The keys every request CloudTrail makes for a trail carries, which bucket, key and trust policies may test.
    fn source_keys(trail_arn: &str, account: &str) -> Vec<(String, Vec<String>)> {
        vec![
            ("aws:SourceArn".into(), vec![trail_arn.to_string()]),
            ("aws:SourceAccount".into(), vec![account.to_string()]),
        ]
    }
}
