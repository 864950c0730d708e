//! KMS records as stored: keys with their sealed backing materials, and aliases.
//!
//! Stored as JSON with an encoding version `v`; key material is only ever present sealed by the root key.

use keyhaven_kernel::error::KernelError;
use keyhaven_kernel::records::Record;
use keyhaven_kernel::tags::Tag;
use serde::{Deserialize, Serialize};

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(KeyRecord, "kms-key", RECORD_VERSION);

keyhaven_kernel::versioned_record!(AliasRecord, "kms-alias", RECORD_VERSION);

keyhaven_kernel::versioned_record!(GrantRecord, "kms-grant", RECORD_VERSION);

keyhaven_kernel::versioned_record!(CustomKeyStoreRecord, "kms-custom-key-store", RECORD_VERSION);

/// `Record` for an index entry whose body is bare text (a scope, an owner), not JSON.
macro_rules! text_record {
    ($record:ident, $kind:literal) => {
        impl Record for $record {
            const KIND: &'static str = $kind;

            fn encode(&self) -> Result<Vec<u8>, KernelError> {
                Ok(self.0.as_bytes().to_vec())
            }

            fn decode(id: &str, bytes: &[u8]) -> Result<Self, KernelError> {
                String::from_utf8(bytes.to_vec())
                    .map($record)
                    .map_err(|_| KernelError::Internal(format!("the {} entry {id} is not text", $kind)))
            }
        }
    };
}

/// Global index from key id to the scope (account:region) that holds the key, so a ciphertext blob,
/// which names only the key id, finds its key. Stored as the bare scope text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyScope(pub String);

text_record!(KeyScope, "kms-key-scope");

pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
pub const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
pub const ORIGIN_AWS_KMS: &str = "AWS_KMS";
pub const ORIGIN_EXTERNAL: &str = "EXTERNAL";
pub const ORIGIN_AWS_CLOUDHSM: &str = "AWS_CLOUDHSM";
pub const KEY_MATERIAL_EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
pub const KEY_MATERIAL_DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";
pub const MANAGER_CUSTOMER: &str = "CUSTOMER";
pub const MANAGER_AWS: &str = "AWS";

/// AWS's key states that this server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// An EXTERNAL key without usable key material.
    PendingImport,
    /// A multi-Region primary key scheduled for deletion, waiting for its replicas to be deleted.
    PendingReplicaDeletion,
    /// A key in a custom key store that is not connected (never stored: answered while it lasts).
    Unavailable,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::Unavailable => "Unavailable",
        }
    }
}

/// How a backing key came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaterialOrigin {
    /// Created with the key.
    Original,
    Automatic,
    OnDemand,
    /// Imported into an EXTERNAL key.
    Imported,
}

/// What an imported material keeps beside the material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    pub expiration_model: String,
    pub valid_to: Option<f64>,
    pub description: Option<String>,
    /// Imported as NEW_KEY_MATERIAL and not yet made current by RotateKeyOnDemand.
    pub pending_rotation: bool,
    /// When it was made current by a rotation.
    pub rotated: Option<f64>,
}

/// One backing key of a KMS key. `sealed` is the root-key-sealed material (standard base64); empty once imported
/// material has been deleted or has expired (it can be imported again).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// 64 hex characters; also the blob's material id.
    pub id: String,
    pub sealed: String,
    pub created: f64,
    pub origin: MaterialOrigin,
    /// The DER SubjectPublicKeyInfo (standard base64) of an asymmetric key's material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedMaterial>,
    /// Kept in the custom key store's HSM, never here (`sealed` is empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_hsm: bool,
}

impl Material {
    /// Imported as NEW_KEY_MATERIAL and waiting for RotateKeyOnDemand to make it current.
    pub fn pending_rotation(&self) -> bool {
        self.imported.as_ref().is_some_and(|i| i.pending_rotation)
    }

    /// Present (not deleted or expired) and in use (not waiting for a rotation to make it current).
    pub fn usable(&self) -> bool {
        (self.in_hsm || !self.sealed.is_empty()) && !self.pending_rotation()
    }
}

/// Everything but the sealed material.
impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("id", &self.id)
            .field("sealed", &"<redacted>")
            .field("created", &self.created)
            .field("origin", &self.origin)
            .field("public_key", &self.public_key)
            .field("imported", &self.imported)
            .field("in_hsm", &self.in_hsm)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RotationSettings {
    pub enabled: bool,
    pub period_days: i32,
    pub next_rotation: Option<f64>,
}

/// A KMS key. Every change bumps `revision`, which keeps caches from going back in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub v: u32,
    pub revision: u64,
    pub key_id: String,
    pub account_id: String,
    pub region: String,
    pub creation_date: f64,
    pub description: String,
    pub key_usage: String,
    pub key_spec: String,
    pub origin: String,
    pub key_manager: String,
    pub state: KeyState,
    pub deletion_date: Option<f64>,
    pub pending_window_days: Option<i32>,
    pub policy: String,
    pub tags: Vec<Tag>,
    pub rotation: RotationSettings,
    /// Oldest first; the last usable one encrypts.
    pub materials: Vec<Material>,
    pub on_demand_rotations: u32,
    /// GetParametersForImport's outstanding wrapping keys (EXTERNAL keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_parameters: Vec<ImportParameters>,
    /// A multi-Region key's family, the same in every member's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<MultiRegion>,
    /// A key in a custom key store: the store and its HSM cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store: Option<(String, String)>,
}

/// A custom key store (AWS_CLOUDHSM type) backed by a PKCS#11 token the server is configured with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    pub v: u32,
    pub id: String,
    pub name: String,
    pub cluster_id: String,
    pub trust_anchor_certificate: String,
    /// The crypto user's password (the token's user PIN), sealed by the root key.
    pub sealed_password: String,
    /// CONNECTED, DISCONNECTED or FAILED.
    pub connection_state: String,
    pub connection_error_code: Option<String>,
    pub creation_date: f64,
}

impl std::fmt::Debug for CustomKeyStoreRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStoreRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("cluster_id", &self.cluster_id)
            .field("connection_state", &self.connection_state)
            .finish_non_exhaustive()
    }
}

/// Where a multi-Region key's primary and replicas are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegion {
    pub primary_region: String,
    /// In the order they were made.
    pub replica_regions: Vec<String>,
}

/// A wrapping key GetParametersForImport handed out, with the token that names it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportParameters {
    /// SHA-256 (hex) of the import token.
    pub token_hash: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
    /// The wrapping private key (PKCS#8), sealed by the root key.
    pub sealed_wrapping_key: String,
    pub valid_to: f64,
}

impl std::fmt::Debug for ImportParameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportParameters")
            .field("wrapping_algorithm", &self.wrapping_algorithm)
            .field("wrapping_key_spec", &self.wrapping_key_spec)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        key_arn(&self.region, &self.account_id, &self.key_id)
    }

    /// A multi-Region key's replica (not its primary).
    pub fn is_replica(&self) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|m| m.primary_region != self.region)
    }

    pub fn current_material(&self) -> Option<&Material> {
        self.materials.iter().rev().find(|m| m.usable())
    }
}

/// The prefix of multi-Region key ids (`mrk-` and 32 hex digits).
pub const MULTI_REGION_PREFIX: &str = "mrk-";

pub fn key_arn(region: &str, account_id: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account_id}:key/{key_id}")
}

pub fn alias_arn(region: &str, account_id: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account_id}:{alias_name}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub v: u32,
    pub name: String,
    pub target_key_id: String,
    pub creation_date: f64,
    pub last_updated_date: f64,
}

/// A grant's encryption context constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantConstraint {
    /// The request's encryption context must be exactly this.
    Equals(std::collections::BTreeMap<String, String>),
    /// The request's encryption context must include these pairs.
    Subset(std::collections::BTreeMap<String, String>),
}

/// A grant on a key, kept in the scope `<key scope>/<key id>` under its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub v: u32,
    /// 64 hex characters.
    pub grant_id: String,
    pub key_id: String,
    pub key_arn: String,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub constraint: Option<GrantConstraint>,
    /// The account whose principal created the grant.
    pub issuing_account: String,
    pub creation_date: f64,
}

/// Which custom key store holds an HSM cluster (one store per cluster, across every account), kept under the cluster
/// id in the global scope as `<store scope>|<store id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterClaim(pub String);

text_record!(ClusterClaim, "kms-hsm-cluster");

/// The index of grants by retiring principal (scope), each entry named `<grant scope>|<grant id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetirableGrant;

impl Record for RetirableGrant {
    const KIND: &'static str = "kms-grant-retiree";

    fn encode(&self) -> Result<Vec<u8>, KernelError> {
        Ok(Vec::new())
    }

    fn decode(_: &str, _: &[u8]) -> Result<Self, KernelError> {
        Ok(RetirableGrant)
    }
}
