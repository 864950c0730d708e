//! IAM records as stored: users, groups and roles (one shape), managed policies, access keys.
//!
//! IAM is global: every record's scope is its account id. Entity names are unique case-insensitively,
//! so record ids are lowercased names. Access-key secrets are stored only sealed by the root key.

use std::collections::BTreeMap;

use keyhaven_kernel::records::Record;
pub use keyhaven_kernel::tags::Tag;
use serde::{Deserialize, Serialize};

pub const RECORD_VERSION: u32 = 1;

keyhaven_kernel::versioned_record!(ManagedPolicy, "iam-policy", RECORD_VERSION);

// Access keys are indexed globally by access key id, so a signature can be verified before the
// account is known.
keyhaven_kernel::versioned_record!(AccessKeyRecord, "iam-access-key", RECORD_VERSION);
keyhaven_kernel::versioned_record!(RoleUsage, "iam-role-last-used", RECORD_VERSION);

/// When a role's sessions were last used, kept apart from the role so noting a use does not
/// change IAM's generation (and reload every cache of IAM data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleUsage {
    pub v: u32,
    pub last_used: LastUsed,
}

/// Users, groups and roles share one shape, [`Entity`], stored under a kind each.
macro_rules! entity_record {
    ($record:ident, $kind:literal) => {
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $record(pub Entity);

        impl Record for $record {
            const KIND: &'static str = $kind;
            const VERSION: u32 = RECORD_VERSION;
            fn version(&self) -> u32 {
                self.0.v
            }
        }
    };
}

entity_record!(UserRecord, "iam-user");
entity_record!(GroupRecord, "iam-group");
entity_record!(RoleRecord, "iam-role");

/// Which of the three IAM identities an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKind {
    User,
    Group,
    Role,
}

impl EntityKind {
    /// The ARN resource type (`user`, `group`, `role`).
    pub fn arn_type(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Role => "role",
        }
    }

    /// AWS's unique-id prefix for this kind.
    pub fn id_prefix(self) -> &'static str {
        match self {
            EntityKind::User => "AIDA",
            EntityKind::Group => "AGPA",
            EntityKind::Role => "AROA",
        }
    }

    /// How AWS names the kind in messages ("The user with name x cannot be found.").
    pub fn noun(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Role => "role",
        }
    }

    /// AWS's longest name for the kind.
    pub fn max_name_len(self) -> usize {
        match self {
            EntityKind::User | EntityKind::Role => 64,
            EntityKind::Group => 128,
        }
    }
}

/// A user, group or role. Fields that only one kind uses are optional or empty for the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub v: u32,
    pub kind: EntityKind,
    pub name: String,
    pub id: String,
    pub path: String,
    pub account_id: String,
    pub create_date: f64,
    pub tags: Vec<Tag>,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policy ARNs, in attachment order.
    pub attached_policies: Vec<String>,
    pub permissions_boundary: Option<String>,
    /// Users: the groups they belong to (names as created).
    pub groups: Vec<String>,
    /// Roles: the trust policy.
    pub assume_role_policy: Option<String>,
    /// Roles: description and longest session.
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    /// Users: the credentials other than access keys (console password, SSH keys, certificates,
    /// service-specific credentials), kept with the user so renames and deletions see them.
    #[serde(default)]
    pub credentials: UserCredentials,
}

/// A user's console password and the keys and certificates it may present to other services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserCredentials {
    pub login_profile: Option<LoginProfile>,
    pub ssh_public_keys: Vec<SshPublicKey>,
    pub signing_certificates: Vec<SigningCertificate>,
    pub service_credentials: Vec<ServiceCredential>,
}

impl UserCredentials {
    /// What DeleteUser must refuse over: anything here is a "referenced object".
    pub fn is_empty(&self) -> bool {
        self.login_profile.is_none()
            && self.ssh_public_keys.is_empty()
            && self.signing_certificates.is_empty()
            && self.service_credentials.is_empty()
    }
}

/// A console password, only as a slow salted hash ([`keyhaven_crypto::password`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginProfile {
    pub password_hash: String,
    pub create_date: f64,
    pub password_reset_required: bool,
    /// When the password was last set (for the credential report and expiry).
    pub password_last_changed: f64,
    /// Hashes of earlier passwords, newest first, as many as the password policy's reuse prevention keeps.
    #[serde(default)]
    pub previous_hashes: Vec<String>,
    pub password_last_used: Option<f64>,
}

impl std::fmt::Debug for LoginProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginProfile")
            .field("password_hash", &"<redacted>")
            .field("create_date", &self.create_date)
            .field("password_reset_required", &self.password_reset_required)
            .field("password_last_changed", &self.password_last_changed)
            .field("previous_hashes", &self.previous_hashes.len())
            .field("password_last_used", &self.password_last_used)
            .finish()
    }
}

/// An SSH public key uploaded for CodeCommit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshPublicKey {
    pub id: String,
    /// As uploaded (OpenSSH `ssh-rsa AAAA...` or PEM).
    pub body: String,
    pub fingerprint: String,
    pub active: bool,
    pub upload_date: f64,
}

/// An X.509 signing certificate of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningCertificate {
    pub id: String,
    pub body: String,
    pub active: bool,
    pub upload_date: f64,
}

/// A service-specific credential (CodeCommit HTTPS Git, Amazon Keyspaces). The password is sealed by the root key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceCredential {
    pub id: String,
    pub service_name: String,
    pub service_user_name: String,
    pub sealed_password: String,
    pub active: bool,
    pub create_date: f64,
}

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredential")
            .field("id", &self.id)
            .field("service_name", &self.service_name)
            .field("service_user_name", &self.service_user_name)
            .field("sealed_password", &"<redacted>")
            .field("active", &self.active)
            .field("create_date", &self.create_date)
            .finish()
    }
}

impl Entity {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:{}{}{}",
            self.account_id,
            self.kind.arn_type(),
            self.path,
            self.name
        )
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: String,
    pub create_date: f64,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub v: u32,
    pub name: String,
    pub id: String,
    pub path: String,
    pub account_id: String,
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    /// The next version number to hand out (AWS never reuses one).
    pub next_version: u32,
    pub attachment_count: u32,
    pub create_date: f64,
    pub update_date: f64,
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:policy{}{}", self.account_id, self.path, self.name)
    }

    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// An access key. `sealed_secret` is the secret sealed by the root key (base64).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub v: u32,
    pub access_key_id: String,
    pub account_id: String,
    pub user_name: String,
    /// The owning user's unique id.
    #[serde(default)]
    pub user_id: Option<String>,
    pub active: bool,
    pub sealed_secret: String,
    pub create_date: f64,
    pub last_used: Option<LastUsed>,
}

/// Everything but the sealed secret.
impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("v", &self.v)
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("user_name", &self.user_name)
            .field("user_id", &self.user_id)
            .field("active", &self.active)
            .field("sealed_secret", &"<redacted>")
            .field("create_date", &self.create_date)
            .field("last_used", &self.last_used)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastUsed {
    pub date: f64,
    pub service: String,
    pub region: String,
}
