//! Secrets Manager's stored records: a secret with its versions' metadata and configuration, and
//! each version's value in its own record, enveloped through KMS. Bodies are versioned JSON.

use std::collections::BTreeMap;

use keyhaven_kernel::records::{self, Record};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};

use crate::error::SecretsError;

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(SecretRecord, "sm-secret", RECORD_VERSION);

impl Record for ValueRecord {
    const KIND: &'static str = "sm-value";
}

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";

/// One version's metadata. Its value (if it has one yet) is a [`ValueRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub created: f64,
    pub stages: Vec<String>,
    /// False for the AWSPENDING placeholder a rotation registers before createSecret stores a value.
    pub has_value: bool,
    #[serde(default)]
    pub last_accessed: Option<f64>,
}

/// How a secret rotates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    pub schedule_expression: Option<String>,
    pub duration: Option<String>,
}

/// A rotation in progress: the version it creates and the token the function's calls carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationRun {
    pub version_id: String,
    pub rotation_token: String,
}

/// One replica of a primary secret, as the primary lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    pub region: String,
    pub kms_key_id: Option<String>,
    pub status: String,
    pub status_message: String,
    #[serde(default)]
    pub last_accessed: Option<f64>,
}

/// A secret in one Region: a primary, or a replica (`primary_region` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub v: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// As the caller gave it; `None` is the AWS managed key.
    pub kms_key_id: Option<String>,
    pub created: f64,
    pub last_changed: f64,
    pub last_accessed: Option<f64>,
    /// When DeleteSecret was called, and when the secret goes for good.
    pub deleted: Option<f64>,
    pub deletion_due: Option<f64>,
    pub versions: BTreeMap<String, VersionMeta>,
    pub tags: Vec<(String, String)>,
    /// Whether the secret ever had tags (DescribeSecret then shows `Tags`, even empty).
    #[serde(default)]
    pub ever_tagged: bool,
    pub policy: Option<String>,
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRules>,
    pub last_rotated: Option<f64>,
    pub next_rotation: Option<f64>,
    pub rotation: Option<RotationRun>,
    pub primary_region: Option<String>,
    pub replicas: Vec<ReplicaRecord>,
}

impl SecretRecord {
    /// The version holding `stage`.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// Moves `stage` onto `version`, taking it off whichever version had it; moving AWSCURRENT
    /// moves AWSPREVIOUS onto the version that lost AWSCURRENT.
    pub fn move_stage(&mut self, stage: &str, version: &str) {
        let previous = self.version_with(stage).map(str::to_string);
        if previous.as_deref() == Some(version) {
            return;
        }
        for meta in self.versions.values_mut() {
            meta.stages.retain(|s| s != stage);
        }
        if let Some(meta) = self.versions.get_mut(version) {
            meta.stages.push(stage.to_string());
        }
        if stage == AWSCURRENT
            && let Some(previous) = previous
        {
            self.move_stage(AWSPREVIOUS, &previous);
        }
    }

    pub fn remove_stage(&mut self, stage: &str, version: &str) {
        if let Some(meta) = self.versions.get_mut(version) {
            meta.stages.retain(|s| s != stage);
        }
    }
}

/// A version's value: the envelope of the SecretString or SecretBinary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueRecord {
    pub binary: bool,
    #[serde(with = "base64_bytes")]
    pub envelope: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The store id of a version's value; `#` is not a name character.
pub fn value_id(name: &str, version: &str) -> String {
    format!("{name}#{version}")
}

pub fn load_secret(tx: &mut dyn Transaction, scope: &str, name: &str) -> Result<Option<SecretRecord>, SecretsError> {
    Ok(records::get(tx, scope, name)?)
}

pub fn save_secret(tx: &mut dyn Transaction, scope: &str, record: &SecretRecord) -> Result<(), SecretsError> {
    Ok(records::put(tx, scope, &record.name, record)?)
}

/// Every secret of `scope`.
pub fn all_secrets(tx: &mut dyn Transaction, scope: &str) -> Result<Vec<SecretRecord>, SecretsError> {
    Ok(records::all::<SecretRecord>(tx, scope)?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

pub fn load_value(
    tx: &mut dyn Transaction,
    scope: &str,
    name: &str,
    version: &str,
) -> Result<Option<ValueRecord>, SecretsError> {
    Ok(records::get(tx, scope, &value_id(name, version))?)
}

pub fn save_value(
    tx: &mut dyn Transaction,
    scope: &str,
    name: &str,
    version: &str,
    value: &ValueRecord,
) -> Result<(), SecretsError> {
    Ok(records::put(tx, scope, &value_id(name, version), value)?)
}

/// Removes a version's value.
pub fn delete_value(tx: &mut dyn Transaction, scope: &str, name: &str, version: &str) -> Result<(), SecretsError> {
    records::delete::<ValueRecord>(tx, scope, &value_id(name, version))?;
    Ok(())
}

/// Removes a secret and every value it has.
pub fn delete_secret_records(tx: &mut dyn Transaction, scope: &str, record: &SecretRecord) -> Result<(), SecretsError> {
    for version in record.versions.keys() {
        delete_value(tx, scope, &record.name, version)?;
    }
    records::delete::<SecretRecord>(tx, scope, &record.name)?;
    Ok(())
}
