//! CloudTrail's stored records: trails (configuration, logging state and where delivery stands, digest chains
//! included) and the per-Region keys digests are signed with. Bodies are versioned JSON.

use std::collections::BTreeMap;

use keyhaven_kernel::tags::Tag;
use serde::{Deserialize, Serialize};

use crate::selectors::Selectors;

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(TrailRecord, "ct-trail", RECORD_VERSION);
keyhaven_kernel::versioned_record!(SigningKeyRecord, "ct-signing-key", RECORD_VERSION);

/// The one scope of every trail: an account's trails are few, and multi-Region ones are seen from every Region.
pub const TRAIL_SCOPE: &str = "aws";

/// A trail. Scope: [`TRAIL_SCOPE`]; id: `<account>/<home Region>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailRecord {
    pub v: u32,
    pub name: String,
    pub account: String,
    pub home_region: String,
    pub arn: String,
    pub s3_bucket: String,
    pub s3_key_prefix: Option<String>,
    pub include_global_service_events: bool,
    pub multi_region: bool,
    pub log_file_validation: bool,
    /// The full ARN of the key log and digest files are encrypted under (SSE-KMS).
    pub kms_key_arn: Option<String>,
    /// Delivery to a CloudWatch Logs group too, through a role CloudTrail assumes.
    #[serde(default)]
    pub cloud_watch: Option<CloudWatchDelivery>,
    pub selectors: Selectors,
    /// Insights types (`ApiCallRateInsight`, `ApiErrorRateInsight`) with their event categories; kept and answered,
    /// no Insights events are generated.
    #[serde(default)]
    pub insight_selectors: Vec<(String, Vec<String>)>,
    pub tags: Vec<Tag>,
    pub logging: bool,
    pub start_logging_time: Option<i64>,
    pub stop_logging_time: Option<i64>,
    pub delivery: Delivery,
}

impl TrailRecord {
    pub fn key(account: &str, home_region: &str, name: &str) -> String {
        format!("{account}/{home_region}/{name}")
    }

    /// This trail's record id.
    pub fn id(&self) -> String {
        Self::key(&self.account, &self.home_region, &self.name)
    }

    /// Whether the trail has records to deliver: it logs, or it stopped and has not yet delivered up to the stop.
    pub fn delivering(&self) -> bool {
        self.logging || (self.stop_logging_time.is_some() && !self.delivery.flushed)
    }

    /// The oldest record the trail has yet to deliver somewhere (what audit retention must keep).
    pub fn delivered_through(&self) -> u64 {
        match self.cloud_watch {
            Some(_) => self.delivery.through.min(self.delivery.cloud_watch_through),
            None => self.delivery.through,
        }
    }

    /// Where the trail's files go: `[<prefix>/]AWSLogs/<account>/`.
    pub fn logs_prefix(&self) -> String {
        match &self.s3_key_prefix {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}/AWSLogs/{}/", self.account),
            _ => format!("AWSLogs/{}/", self.account),
        }
    }
}

/// A trail's CloudWatch Logs destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudWatchDelivery {
    /// `arn:aws:logs:<region>:<account>:log-group:<name>:*`, as given.
    pub group_arn: String,
    pub role_arn: String,
}

/// Where delivery stands. Records of the audit log up to `through` that the trail selects are in delivered files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub through: u64,
    pub latest_delivery_time: Option<i64>,
    pub latest_delivery_attempt_time: Option<i64>,
    pub latest_delivery_attempt_succeeded: Option<i64>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery_time: Option<i64>,
    pub latest_digest_delivery_error: Option<String>,
    /// Records up to this one the trail selects are in its CloudWatch Logs group.
    #[serde(default)]
    pub cloud_watch_through: u64,
    #[serde(default)]
    pub latest_cloud_watch_delivery_time: Option<i64>,
    #[serde(default)]
    pub latest_cloud_watch_delivery_error: Option<String>,
    /// Logging stopped and everything up to the stop was delivered: the trail holds nothing back any more.
    #[serde(default)]
    pub flushed: bool,
    /// Per Region of delivered records, the digest chain (log file validation only).
    pub chains: BTreeMap<String, DigestChain>,
}

/// One Region's digest chain: what the next digest covers and what it follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestChain {
    /// The next digest's start time (the previous one's end, or when the chain began).
    pub start: i64,
    pub previous: Option<PreviousDigest>,
    /// Log files delivered since the previous digest.
    pub logs: Vec<LogFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousDigest {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the digest's uncompressed JSON.
    pub hash: String,
    /// Hex signature.
    pub signature: String,
}

/// A delivered log file, as the next digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash: String,
    pub newest_event_time: i64,
    pub oldest_event_time: i64,
}

/// A Region's digest-signing key pair, valid for a period. Scope: the Region; id: the start of its validity,
/// zero-padded, so keys list oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub v: u32,
    /// Hex MD5 of the public key (32 hex digits, as CloudTrail's).
    pub fingerprint: String,
    /// DER PKCS#1 RSAPublicKey, base64.
    pub public_key: String,
    /// The PKCS#8 private key sealed by the root key, base64.
    pub sealed_private_key: String,
    pub valid_from: i64,
    pub valid_to: i64,
}
