//! Parameter Store's stored records: the parameter with its newest version, older versions, counts
//! per tier and service settings. Bodies are versioned JSON; SecureString values are KMS ciphertext.

use std::collections::BTreeMap;

use keyhaven_kernel::records::{self, Record};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::error::SsmError;

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(ParameterRecord, "ssm-parameter", RECORD_VERSION);

impl Record for VersionRecord {
    const KIND: &'static str = "ssm-parameter-version";
}

/// One slot of the parameter counts of an account and Region (see `COUNT_SLOTS`).
impl Record for TierCounts {
    const KIND: &'static str = "ssm-counts";
}

impl Record for SettingRecord {
    const KIND: &'static str = "ssm-setting";
}

pub const STRING: &str = "String";
pub const STRING_LIST: &str = "StringList";
pub const SECURE_STRING: &str = "SecureString";
pub const STANDARD: &str = "Standard";
pub const ADVANCED: &str = "Advanced";
pub const INTELLIGENT_TIERING: &str = "Intelligent-Tiering";
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/ssm";

/// A parameter policy as stored: its text, type and status (`Pending`, `Finished`, `Failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub text: String,
    pub policy_type: String,
    pub status: String,
}

/// One version of a parameter: everything PutParameter set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: i64,
    pub parameter_type: String,
    /// Plain text for String and StringList; base64 ciphertext for SecureString.
    pub value: String,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub policies: Vec<StoredPolicy>,
    pub last_modified: f64,
    pub last_modified_user: String,
}

/// A parameter: its name as created, its newest version inline (so a plain read is one record),
/// labels, tags and the oldest version still kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterRecord {
    pub v: u32,
    pub name: String,
    pub current: VersionRecord,
    pub oldest_version: i64,
    /// Label → the version it is on.
    pub labels: BTreeMap<String, i64>,
    pub tags: Vec<(String, String)>,
    /// When the newest policies were set and the last NoChangeNotification fired (unix seconds).
    #[serde(default)]
    pub policies_set_at: f64,
}

impl ParameterRecord {
    pub fn labels_of(&self, version: i64) -> Vec<String> {
        self.labels
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(l, _)| l.clone())
            .collect()
    }
}

/// Parameters per tier in one account and Region, or one slot's share of them (which may be negative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierCounts {
    pub standard: i64,
    pub advanced: i64,
}

impl TierCounts {
    pub fn add(&mut self, tier: &str, delta: i64) {
        *self.of_mut(tier) += delta;
    }

    pub fn of(&self, tier: &str) -> i64 {
        if tier == ADVANCED { self.advanced } else { self.standard }
    }

    fn of_mut(&mut self, tier: &str) -> &mut i64 {
        if tier == ADVANCED {
            &mut self.advanced
        } else {
            &mut self.standard
        }
    }
}

/// The counts of an account and Region are kept in this many records, each change landing in one picked at random
/// (ids "0".."63"; "" holds the counts from before the slots): two writers conflict over the counts only when they
/// pick the same slot, not every time two parameters are created at once. The counts are the slots' sum.
const COUNT_SLOTS: u32 = 64;

/// A customised service setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingRecord {
    pub value: String,
    pub last_modified: f64,
    pub last_modified_user: String,
}

/// The store id of a parameter: its name with exactly one leading slash, so `name` and `/name` are
/// the same parameter (as in AWS) and a path's subtree is one contiguous id range.
pub fn parameter_key(name: &str) -> String {
    format!("/{}", name.trim_start_matches('/'))
}

/// The store id of one version; `#` sorts before every name character, so a parameter's versions
/// are contiguous and in order.
pub fn version_id(key: &str, version: i64) -> String {
    format!("{key}#{version:020}")
}

pub fn load_parameter(tx: &mut dyn Transaction, scope: &str, key: &str) -> Result<Option<ParameterRecord>, SsmError> {
    Ok(records::get(tx, scope, key)?)
}

pub fn save_parameter(tx: &mut dyn Transaction, scope: &str, record: &ParameterRecord) -> Result<(), SsmError> {
    Ok(records::put(tx, scope, &parameter_key(&record.name), record)?)
}

pub fn load_version(
    tx: &mut dyn Transaction,
    scope: &str,
    key: &str,
    version: i64,
) -> Result<Option<VersionRecord>, SsmError> {
    Ok(records::get(tx, scope, &version_id(key, version))?)
}

pub fn save_version(tx: &mut dyn Transaction, scope: &str, key: &str, version: &VersionRecord) -> Result<(), SsmError> {
    Ok(records::put(tx, scope, &version_id(key, version.version), version)?)
}

pub fn delete_version(tx: &mut dyn Transaction, scope: &str, key: &str, version: i64) -> Result<(), SsmError> {
    records::delete::<VersionRecord>(tx, scope, &version_id(key, version))?;
    Ok(())
}

/// Every kept version of a parameter, oldest first.
pub fn all_versions(tx: &mut dyn Transaction, scope: &str, key: &str) -> Result<Vec<VersionRecord>, SsmError> {
    let prefix = format!("{key}#");
    Ok(records::scan::<VersionRecord>(tx, scope, Some(&prefix), 1_000)?
        .into_iter()
        .take_while(|stored| stored.id.starts_with(&prefix))
        .map(|stored| stored.decode())
        .collect::<Result<_, _>>()?)
}

/// Removes a parameter and all its versions.
pub fn delete_parameter_records(
    tx: &mut dyn Transaction,
    scope: &str,
    record: &ParameterRecord,
) -> Result<(), SsmError> {
    let key = parameter_key(&record.name);
    for version in record.oldest_version..=record.current.version {
        delete_version(tx, scope, &key, version)?;
    }
    records::delete::<ParameterRecord>(tx, scope, &key)?;
    Ok(())
}

pub fn load_counts(tx: &mut dyn Transaction, scope: &str) -> Result<TierCounts, SsmError> {
    // Listing starts after the id "", so the counts from before the slots are read on their own.
    let mut total: TierCounts = records::get(tx, scope, "")?.unwrap_or_default();
    for (_, slot) in records::list::<TierCounts>(tx, scope, None, COUNT_SLOTS as usize)? {
        total.standard += slot.standard;
        total.advanced += slot.advanced;
    }
    Ok(total)
}

/// Adds `delta` to the count of `tier`, in a slot picked at random.
pub fn change_count(tx: &mut dyn Transaction, scope: &str, tier: &str, delta: i64) -> Result<(), SsmError> {
    let random = u32::from_le_bytes(
        keyhaven_crypto::random_array().map_err(|e| SsmError::Internal(format!("picking a count slot: {e}")))?,
    );
    let id = (random % COUNT_SLOTS).to_string();
    let mut slot: TierCounts = records::get(tx, scope, &id)?.unwrap_or_default();
    slot.add(tier, delta);
    Ok(records::put(tx, scope, &id, &slot)?)
}
