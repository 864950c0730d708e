//! Bucket configurations S3 keeps and answers without keyhaven acting on them: replication, server access logging,
//! inventory, metrics, analytics and Intelligent-Tiering. Each is checked as S3 checks it when put (the rules that
//! need other buckets' state here; the document's own shape at the wire boundary) and kept as the canonical
//! document the wire layer wrote from what it parsed, never the caller's bytes.

use keyhaven_kernel::context::RequestContext;

use crate::S3;
use crate::buckets::BucketRecord;
use crate::error::S3Error;

/// How many configurations of one kind a bucket may hold (S3's limit for inventory, metrics and analytics; S3
/// allows 1,000 Intelligent-Tiering configurations too).
pub const MAX_CONFIGURATIONS: usize = 1_000;

/// How many configurations one List call answers (S3 pages these by 100).
pub const LIST_PAGE: usize = 100;

/// A kind of bucket configuration: the actions that put and read it, and how S3 says it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigurationKind {
    Replication,
    Logging,
    Inventory,
    Metrics,
    Analytics,
    IntelligentTiering,
}

impl ConfigurationKind {
    fn key_prefix(self) -> &'static str {
        match self {
            Self::Replication => "replication",
            Self::Logging => "logging",
            Self::Inventory => "inventory/",
            Self::Metrics => "metrics/",
            Self::Analytics => "analytics/",
            Self::IntelligentTiering => "intelligent-tiering/",
        }
    }

    /// The configurations S3 keeps several of, each under its `Id`.
    fn by_id(self) -> bool {
        self.key_prefix().ends_with('/')
    }

    fn key(self, id: Option<&str>) -> String {
        format!(
            "{}{}",
            self.key_prefix(),
            id.filter(|_| self.by_id()).unwrap_or_default()
        )
    }

    /// The action that puts (and deletes) this configuration.
    pub fn put_action(self) -> &'static str {
        match self {
            Self::Replication => "s3:PutReplicationConfiguration",
            Self::Logging => "s3:PutBucketLogging",
            Self::Inventory => "s3:PutInventoryConfiguration",
            Self::Metrics => "s3:PutMetricsConfiguration",
            Self::Analytics => "s3:PutAnalyticsConfiguration",
            Self::IntelligentTiering => "s3:PutIntelligentTieringConfiguration",
        }
    }

    /// The action that reads (and lists) this configuration.
    pub fn get_action(self) -> &'static str {
        match self {
            Self::Replication => "s3:GetReplicationConfiguration",
            Self::Logging => "s3:GetBucketLogging",
            Self::Inventory => "s3:GetInventoryConfiguration",
            Self::Metrics => "s3:GetMetricsConfiguration",
            Self::Analytics => "s3:GetAnalyticsConfiguration",
            Self::IntelligentTiering => "s3:GetIntelligentTieringConfiguration",
        }
    }

    fn not_found(self, bucket: &str) -> S3Error {
        match self {
            Self::Replication => S3Error::ReplicationConfigurationNotFound { bucket: bucket.into() },
            _ => S3Error::NoSuchConfiguration,
        }
    }
}

/// One page of a bucket's configurations of a kind, in `Id` order.
#[derive(Debug, Clone, Default)]
pub struct ConfigurationPage {
    pub documents: Vec<String>,
    /// Where the next page starts (the first `Id` after this page).
    pub next: Option<String>,
}

impl S3 {
    /// Puts a configuration S3 keeps under an `Id` (inventory, metrics, analytics, Intelligent-Tiering).
    pub fn put_bucket_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        kind: ConfigurationKind,
        id: &str,
        document: String,
    ) -> Result<(), S3Error> {
        let key = kind.key(Some(id));
        self.update_bucket(ctx, kind.put_action(), name, |bucket| {
            let count = bucket
                .configurations
                .keys()
                .filter(|k| k.starts_with(kind.key_prefix()))
                .count();
            if !bucket.configurations.contains_key(&key) && count >= MAX_CONFIGURATIONS {
                return Err(S3Error::TooManyConfigurations);
            }
            bucket.configurations.insert(key.clone(), document.clone());
            Ok(())
        })
    }

    /// A configuration as kept (`id` names one of those S3 keeps several of).
    pub fn get_bucket_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        kind: ConfigurationKind,
        id: Option<&str>,
    ) -> Result<Option<String>, S3Error> {
        let mut bucket = self.authorized_bucket(ctx, kind.get_action(), name)?;
        Ok(bucket.configurations.remove(&kind.key(id)))
    }

    /// A configuration as kept, or S3's error for its absence.
    pub fn require_bucket_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        kind: ConfigurationKind,
        id: Option<&str>,
    ) -> Result<String, S3Error> {
        self.get_bucket_configuration(ctx, name, kind, id)?
            .ok_or_else(|| kind.not_found(name))
    }

    /// Deletes a configuration (authorised by the action that puts it, as S3 does). Deleting a replication
    /// configuration that is not there succeeds; one of those kept by `Id` answers NoSuchConfiguration.
    pub fn delete_bucket_configuration(
        &self,
        ctx: &RequestContext,
        name: &str,
        kind: ConfigurationKind,
        id: Option<&str>,
    ) -> Result<(), S3Error> {
        let key = kind.key(id);
        self.update_bucket(ctx, kind.put_action(), name, |bucket| {
            if bucket.configurations.remove(&key).is_none() && kind.by_id() {
                return Err(kind.not_found(name));
            }
            Ok(())
        })
    }

    /// A page of the configurations of a kind kept by `Id`, from the `Id` `start` (a continuation token).
    pub fn list_bucket_configurations(
        &self,
        ctx: &RequestContext,
        name: &str,
        kind: ConfigurationKind,
        start: Option<&str>,
    ) -> Result<ConfigurationPage, S3Error> {
        let bucket = self.authorized_bucket(ctx, kind.get_action(), name)?;
        let from = kind.key(Some(start.unwrap_or_default()));
        let mut entries = bucket
            .configurations
            .range(from..)
            .take_while(|(key, _)| key.starts_with(kind.key_prefix()));
        let documents = entries.by_ref().take(LIST_PAGE).map(|(_, doc)| doc.clone()).collect();
        let next = entries
            .next()
            .map(|(key, _)| key[kind.key_prefix().len()..].to_string());
        Ok(ConfigurationPage { documents, next })
    }

    /// PutBucketReplication: the bucket must be versioned, and so must every destination (`destinations` are the
    /// rules' destination bucket ARNs); S3 answers one message whether a destination is missing or unversioned. The
    /// checks read the buckets in the transaction that writes the configuration.
    pub fn put_bucket_replication(
        &self,
        ctx: &RequestContext,
        name: &str,
        destinations: &[String],
        document: String,
    ) -> Result<(), S3Error> {
        let kind = ConfigurationKind::Replication;
        self.authorized_bucket(ctx, kind.put_action(), name)?;
        self.change_bucket_reading(name, |tx, bucket| {
            if !is_versioned(bucket) {
                return Err(S3Error::InvalidRequest(
                    "Versioning must be 'Enabled' on the bucket to apply a replication configuration".into(),
                ));
            }
            for destination in destinations {
                let target = match destination.strip_prefix("arn:aws:s3:::") {
                    Some(target) => S3::bucket_in(tx, target)?,
                    None => None,
                };
                if !target.as_ref().is_some_and(is_versioned) {
                    return Err(S3Error::InvalidRequest(
                        "Destination bucket must have versioning enabled.".into(),
                    ));
                }
            }
            bucket.configurations.insert(kind.key(None), document.clone());
            Ok(())
        })
    }

    /// PutBucketLogging: `target` is the bucket the logs would go to (`None` turns logging off). It must exist, in
    /// the same Region, and belong to the same account.
    pub fn put_bucket_logging(
        &self,
        ctx: &RequestContext,
        name: &str,
        target: Option<&str>,
        document: Option<String>,
    ) -> Result<(), S3Error> {
        let kind = ConfigurationKind::Logging;
        self.authorized_bucket(ctx, kind.put_action(), name)?;
        self.change_bucket_reading(name, |tx, bucket| {
            if let Some(target) = target {
                let target = S3::bucket_in(tx, target)?.ok_or_else(|| {
                    S3Error::InvalidTargetBucketForLogging("The target bucket for logging does not exist".into())
                })?;
                if target.region != bucket.region {
                    return Err(S3Error::CrossLocationLoggingProhibited);
                }
                if target.account != bucket.account {
                    return Err(S3Error::InvalidTargetBucketForLogging(
                        "The owner for the bucket to be logged and the target bucket must be the same.".into(),
                    ));
                }
            }
            match &document {
                Some(document) => bucket.configurations.insert(kind.key(None), document.clone()),
                None => bucket.configurations.remove(&kind.key(None)),
            };
            Ok(())
        })
    }
}

fn is_versioned(bucket: &BucketRecord) -> bool {
    bucket.versioning.as_deref() == Some("Enabled")
}
