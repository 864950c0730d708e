//! CloudWatch Logs' stored records: log groups (with their key, retention and tags), log streams, and the events of
//! each PutLogEvents call as one sealed batch. Bodies are versioned JSON.

use keyhaven_kernel::tags::Tag;
use serde::{Deserialize, Serialize};

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(GroupRecord, "logs-group", RECORD_VERSION);
keyhaven_kernel::versioned_record!(StreamRecord, "logs-stream", RECORD_VERSION);
keyhaven_kernel::versioned_record!(BatchRecord, "logs-batch", RECORD_VERSION);

/// A log group. Scope: `account:region`; id: its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub v: u32,
    pub name: String,
    /// `arn:aws:logs:<region>:<account>:log-group:<name>`.
    pub arn: String,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// The key new events are encrypted under.
    pub kms_key_arn: Option<String>,
    pub retention_days: Option<i32>,
    pub tags: Vec<Tag>,
    pub deletion_protection: bool,
    pub class: String,
}

/// A log stream. Scope: [`stream_scope`] of its group; id: its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub v: u32,
    pub name: String,
    pub created: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub last_ingestion: Option<i64>,
    /// How many batches were put, the next one's number (and the sequence token answered).
    pub batches: u64,
}

/// How a batch's events are sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sealing {
    /// By the root key (groups without a KMS key).
    Service,
    /// In a KMS envelope under this key, with the group's ARN as encryption context.
    Kms(String),
}

/// The events of one PutLogEvents call. Scope: [`batch_scope`] of its stream; id: first event time (20 digits), then
/// a random number (20 digits), so batches list in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub v: u32,
    pub first: i64,
    pub last: i64,
    pub count: usize,
    pub ingestion: i64,
    pub sealing: Sealing,
    /// The sealed JSON list of `[timestamp, message]`, base64.
    pub sealed: String,
}

pub fn stream_scope(scope: &str, group: &str) -> String {
    format!("{scope}\n{group}")
}

pub fn batch_scope(scope: &str, group: &str, stream: &str) -> String {
    format!("{scope}\n{group}\n{stream}")
}

pub fn batch_id(first: i64, unique: u64) -> String {
    format!("{first:020}.{unique:020}")
}
