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
