//! AWS IAM: users, groups, roles, managed and inline policies, permissions boundaries, access keys.

pub mod access_report;
pub mod account;
pub mod certificates;
pub mod login;
pub mod managed;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod policy_store;
pub mod profiles;
pub mod qr_png;
pub mod saml;
pub mod service_linked;
pub mod tagging;
pub mod user_credentials;

use keyhaven_kernel::generation::Generation;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::{RootKey, SecretBytes};
use keyhaven_policy::{PolicyDocument, PolicyKind};
use keyhaven_store::{Backend, Transaction};

use crate::error::IamError;
use crate::error::{read, transact};
use keyhaven_kernel::clock::{Clock, epoch_seconds};
use keyhaven_kernel::context::RequestContext;
pub use keyhaven_kernel::ids::unique_id;
use keyhaven_kernel::paging;
pub use keyhaven_kernel::paging::Page;
use keyhaven_kernel::records::{self, Record};
use keyhaven_kernel::tags::{self, KeyCase, TagRules, TagViolation};
pub use model::*;

const MAX_ACCESS_KEYS: usize = 2;
const VERIFIED_KEY_CACHE: usize = 10_000;
const LAST_USED_WRITE_INTERVAL_SECONDS: i64 = 60;
const MAX_POLICY_VERSIONS: usize = 5;
const MAX_ATTACHED_POLICIES: usize = 10;
const MAX_GROUPS_PER_USER: usize = 10;
/// IAM's managed policy size quota, counted without whitespace.
const MAX_MANAGED_POLICY_CHARS: usize = 6_144;
const MAX_TRUST_POLICY_CHARS: usize = 2_048;
const DEFAULT_MAX_SESSION_DURATION: i32 = 3_600;

/// A fresh 40-character secret access key.
pub fn new_secret_access_key() -> Result<SecretBytes, IamError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let random = keyhaven_crypto::random_bytes(40)?;
    Ok(SecretBytes::new(
        random
            .expose()
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()])
            .collect(),
    ))
}

/// What only roles take at creation.
#[derive(Debug, Default, Clone)]
pub struct RoleSettings {
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
}

/// What CreateUser, CreateGroup and CreateRole take.
#[derive(Debug, Clone)]
pub struct NewEntity<'a> {
    pub kind: EntityKind,
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub tags: Vec<Tag>,
    pub boundary: Option<&'a str>,
    /// Roles only.
    pub role: Option<RoleSettings>,
}

impl<'a> NewEntity<'a> {
    /// An entity with no path, tags, boundary or role settings.
    pub fn named(kind: EntityKind, name: &'a str) -> Self {
        Self {
            kind,
            name,
            path: None,
            tags: Vec::new(),
            boundary: None,
            role: None,
        }
    }
}

/// A created access key, with its secret shown this once.
#[derive(Debug)]
pub struct NewAccessKey {
    pub record: AccessKeyRecord,
    pub secret: SecretBytes,
}

/// What an access key id is to this server.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    Unknown,
    /// Exists but is Inactive (or its user is gone): refused, never treated as unknown.
    Disabled,
    Active(Arc<VerifiedKey>),
}

/// An active access key resolved for signature verification.
#[derive(Debug)]
pub struct VerifiedKey {
    pub record: AccessKeyRecord,
    pub secret: SecretBytes,
    pub user: Entity,
}

/// A managed policy as listed: AWS managed ones have no record of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRef {
    pub name: String,
    pub arn: String,
}

fn entity_not_found(kind: EntityKind, name: &str) -> IamError {
    IamError::NotFound(format!("The {} with name {name} cannot be found.", kind.noun()))
}

fn policy_not_found(arn: &str) -> IamError {
    IamError::NotFound(format!("Policy {arn} does not exist or is not attachable."))
}

/// IAM's answer to a policy ARN that is not an ARN at all (a bare policy name, say): recorded from
/// AWS with two spaces after the colon.
fn check_arn_parses(arn: &str) -> Result<(), IamError> {
    if arn.starts_with("arn:") && arn.splitn(6, ':').count() == 6 {
        Ok(())
    } else {
        Err(IamError::Validation("Invalid ARN:  Could not be parsed!".into()))
    }
}

fn access_key_label(access_key_id: &str) -> Vec<u8> {
    format!("iam-access-key/{access_key_id}").into_bytes()
}

/// Characters of a policy that count toward IAM's size quotas (whitespace does not).
fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Validates a policy of `kind` as IAM does on the way in (`managed`: CreatePolicy and
/// CreatePolicyVersion, which also require Version 2012-10-17), refusing documents over `limit`
/// countable characters.
pub fn validate_policy(
    document: &str,
    kind: PolicyKind,
    managed: bool,
    limit: usize,
) -> Result<PolicyDocument, IamError> {
    if policy_size(document) > limit {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {limit}"
        )));
    }
    keyhaven_policy::validate_iam(document, kind, managed).map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

/// The IAM service.
pub struct Iam {
    store: Arc<dyn Backend>,
    root: Arc<RootKey>,
    clock: Arc<dyn Clock>,
    /// Moved on by every write, on every node, so caches of anything IAM holds know to reload.
    generation: Generation,
    /// Access key lookups (active keys unsealed, and unknown or disabled ones too), with the
    /// generation they were made at.
    verified: RwLock<HashMap<String, (u64, KeyLookup)>>,
    /// Latest use of each access key, and when it was last written to the store.
    last_used: std::sync::Mutex<HashMap<String, (LastUsed, i64)>>,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iam")
    }
}

fn load_entity(
    tx: &mut dyn Transaction,
    account: &str,
    kind: EntityKind,
    name: &str,
) -> Result<Option<Entity>, IamError> {
    let id = name.to_ascii_lowercase();
    Ok(match kind {
        EntityKind::User => records::get::<UserRecord>(tx, account, &id)?.map(|r| r.0),
        EntityKind::Group => records::get::<GroupRecord>(tx, account, &id)?.map(|r| r.0),
        EntityKind::Role => records::get::<RoleRecord>(tx, account, &id)?.map(|r| r.0),
    })
}

fn require_entity(tx: &mut dyn Transaction, account: &str, kind: EntityKind, name: &str) -> Result<Entity, IamError> {
    load_entity(tx, account, kind, name)?.ok_or_else(|| entity_not_found(kind, name))
}

fn save_entity(tx: &mut dyn Transaction, entity: &Entity) -> Result<(), IamError> {
    let (account, id) = (entity.account_id.as_str(), entity.name.to_ascii_lowercase());
    let entity = entity.clone();
    match entity.kind {
        EntityKind::User => records::put(tx, account, &id, &UserRecord(entity))?,
        EntityKind::Group => records::put(tx, account, &id, &GroupRecord(entity))?,
        EntityKind::Role => records::put(tx, account, &id, &RoleRecord(entity))?,
    }
    Ok(())
}

pub(super) fn delete_entity_record(
    tx: &mut dyn Transaction,
    account: &str,
    kind: EntityKind,
    name: &str,
) -> Result<(), IamError> {
    let id = name.to_ascii_lowercase();
    match kind {
        EntityKind::User => records::delete::<UserRecord>(tx, account, &id)?,
        EntityKind::Group => records::delete::<GroupRecord>(tx, account, &id)?,
        EntityKind::Role => records::delete::<RoleRecord>(tx, account, &id)?,
    };
    Ok(())
}

/// Checks that an entity may be renamed from `old` to `new`: no other entity of the kind has the
/// new name (a change of case alone is the same entity).
fn claim_new_name(
    tx: &mut dyn Transaction,
    account: &str,
    kind: EntityKind,
    old: &str,
    new: &str,
) -> Result<(), IamError> {
    if !old.eq_ignore_ascii_case(new) && load_entity(tx, account, kind, new)?.is_some() {
        let noun = kind.noun();
        return Err(IamError::AlreadyExists(format!(
            "{}{} with name {new} already exists.",
            noun[..1].to_ascii_uppercase(),
            &noun[1..]
        )));
    }
    Ok(())
}

/// Every entity of `kind` in `account`.
fn all_entities(tx: &mut dyn Transaction, account: &str, kind: EntityKind) -> Result<Vec<Entity>, IamError> {
    Ok(match kind {
        EntityKind::User => all_of::<UserRecord>(tx, account)?.into_iter().map(|r| r.0).collect(),
        EntityKind::Group => all_of::<GroupRecord>(tx, account)?.into_iter().map(|r| r.0).collect(),
        EntityKind::Role => all_of::<RoleRecord>(tx, account)?.into_iter().map(|r| r.0).collect(),
    })
}

/// Every record of type `R` in `scope`.
fn all_of<R: Record>(tx: &mut dyn Transaction, scope: &str) -> Result<Vec<R>, IamError> {
    Ok(records::all::<R>(tx, scope)?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

/// An access key by id, whoever owns it.
fn load_access_key(tx: &mut dyn Transaction, access_key_id: &str) -> Result<Option<AccessKeyRecord>, IamError> {
    Ok(records::get(tx, "", access_key_id)?)
}

fn save_access_key(tx: &mut dyn Transaction, record: &AccessKeyRecord) -> Result<(), IamError> {
    Ok(records::put(tx, "", &record.access_key_id, record)?)
}

/// The policy name of a customer managed policy ARN in `account`, if it is one.
fn local_policy_name<'a>(arn: &'a str, account: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{account}:policy/"))?;
    rest.rsplit('/').next()
}

fn load_policy(tx: &mut dyn Transaction, account: &str, arn: &str) -> Result<ManagedPolicy, IamError> {
    let name = local_policy_name(arn, account).ok_or_else(|| policy_not_found(arn))?;
    let policy: ManagedPolicy = records::get(tx, account, name)?.ok_or_else(|| policy_not_found(arn))?;
    if policy.arn() == arn {
        Ok(policy)
    } else {
        Err(policy_not_found(arn))
    }
}

/// An access key of `account` (and of `user`, when named), or AWS's not-found error.
fn find_access_key(
    tx: &mut dyn Transaction,
    account: &str,
    user: &str,
    access_key_id: &str,
) -> Result<AccessKeyRecord, IamError> {
    let not_found = || IamError::NotFound(format!("The Access Key with id {access_key_id} cannot be found"));
    let record = load_access_key(tx, access_key_id)?.ok_or_else(not_found)?;
    // Only the named user's own keys: never another user's key found by its id alone.
    if record.account_id != account || !user.eq_ignore_ascii_case(&record.user_name) {
        return Err(not_found());
    }
    Ok(record)
}

fn save_policy(tx: &mut dyn Transaction, policy: &ManagedPolicy) -> Result<(), IamError> {
    Ok(records::put(tx, &policy.account_id, &policy.name, policy)?)
}

impl Iam {
    pub fn new(store: Arc<dyn Backend>, root: Arc<RootKey>, clock: Arc<dyn Clock>) -> Self {
        Self {
            generation: Generation::new(store.clone(), "iam"),
            store,
            root,
            clock,
            verified: RwLock::new(HashMap::new()),
            last_used: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Notes a use of the credential in `slot` (an access key, a role), in memory, and says whether
    /// it is due to be written to the store: at most once a minute per slot, so authentication does
    /// not pay a durable write per request (AWS itself reports last use with hours of delay).
    fn note_use(&self, slot: String, used: &LastUsed) -> Result<bool, IamError> {
        let now = used.date as i64;
        let mut map = self
            .last_used
            .lock()
            .map_err(|_| IamError::Internal("last-used map poisoned".into()))?;
        // Within the same second, for the same service and region, there is nothing new to note.
        if let Some((seen, _)) = map.get(&slot)
            && seen == used
        {
            return Ok(false);
        }
        let written_at = map.get(&slot).map_or(i64::MIN, |(_, at)| *at);
        let due = now.saturating_sub(written_at) >= LAST_USED_WRITE_INTERVAL_SECONDS;
        map.insert(slot, (used.clone(), if due { now } else { written_at }));
        Ok(due)
    }

    fn last_use(&self, when: i64, service: &str, region: &str) -> LastUsed {
        LastUsed {
            date: when as f64,
            service: service.to_string(),
            region: region.to_string(),
        }
    }

    /// Notes that an access key signed a request.
    pub fn record_key_use(&self, access_key_id: &str, service: &str, region: &str) -> Result<(), IamError> {
        let used = self.last_use(self.clock.now().unix_timestamp(), service, region);
        if self.note_use(format!("key/{access_key_id}"), &used)? {
            transact(&*self.store, |tx| {
                let Some(mut record) = load_access_key(tx, access_key_id)? else {
                    return Ok(());
                };
                record.last_used = Some(used.clone());
                save_access_key(tx, &record)
            })?;
        }
        Ok(())
    }

    /// Notes that a session of the role made a request (GetRole's `RoleLastUsed`).
    pub fn record_role_use(&self, account: &str, role: &str, region: &str) -> Result<(), IamError> {
        let used = self.last_use(self.clock.now().unix_timestamp(), "", region);
        let id = role.to_ascii_lowercase();
        if self.note_use(format!("role/{account}/{id}"), &used)? {
            transact(&*self.store, |tx| {
                records::put(
                    tx,
                    account,
                    &id,
                    &RoleUsage {
                        v: RECORD_VERSION,
                        last_used: used.clone(),
                    },
                )?;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// When and in which Region a session of the role last made a request, if ever.
    pub fn role_last_used(&self, account: &str, role: &str) -> Result<Option<LastUsed>, IamError> {
        let id = role.to_ascii_lowercase();
        let stored = read(&*self.store, |tx| Ok(records::get::<RoleUsage>(tx, account, &id)?))?;
        let recent = self
            .last_used
            .lock()
            .map_err(|_| IamError::Internal("last-used map poisoned".into()))?
            .get(&format!("role/{account}/{id}"))
            .map(|(used, _)| used.clone());
        Ok(match (stored.map(|s| s.last_used), recent) {
            (Some(a), Some(b)) => Some(if b.date >= a.date { b } else { a }),
            (a, b) => a.or(b),
        })
    }

    /// Changes whenever IAM data changes, on any node; `None` when the store cannot say (trust no cache then).
    pub fn generation(&self) -> Option<u64> {
        self.generation.current()
    }

    /// Every IAM write goes through here: one transaction, which moves the generation on.
    fn write<T>(&self, work: impl FnMut(&mut dyn Transaction) -> Result<T, IamError>) -> Result<T, IamError> {
        self.generation.transact(work)
    }

    /// An entity of any account (authorisation looks up callers and role owners).
    pub fn entity_in(&self, account: &str, kind: EntityKind, name: &str) -> Result<Entity, IamError> {
        read(&*self.store, |tx| require_entity(tx, account, kind, name))
    }

    /// The entity, or none when it does not exist.
    pub fn find_entity(&self, account: &str, kind: EntityKind, name: &str) -> Result<Option<Entity>, IamError> {
        read(&*self.store, |tx| load_entity(tx, account, kind, name))
    }

    fn now(&self) -> f64 {
        epoch_seconds(self.clock.now())
    }

    pub fn create_entity(&self, ctx: &RequestContext, new: NewEntity<'_>) -> Result<Entity, IamError> {
        let NewEntity {
            kind,
            name,
            path,
            tags,
            boundary,
            role,
        } = new;
        validate_tags(&tags)?;
        let account = ctx.account_id().to_string();
        if let Some(settings) = &role {
            validate_policy(
                &settings.assume_role_policy,
                PolicyKind::Trust,
                false,
                MAX_TRUST_POLICY_CHARS,
            )?;
        }
        let entity = Entity {
            v: RECORD_VERSION,
            kind,
            name: name.to_string(),
            id: unique_id(kind.id_prefix(), 17)?,
            path: path.unwrap_or("/").to_string(),
            account_id: account.clone(),
            create_date: self.now(),
            tags,
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
            permissions_boundary: None,
            groups: Vec::new(),
            assume_role_policy: role.as_ref().map(|r| r.assume_role_policy.clone()),
            description: role.as_ref().and_then(|r| r.description.clone()),
            max_session_duration: role
                .as_ref()
                .map(|r| r.max_session_duration.unwrap_or(DEFAULT_MAX_SESSION_DURATION)),
            credentials: UserCredentials::default(),
        };
        self.write(|tx| {
            claim_new_name(tx, &account, kind, "", name)?;
            let mut entity = entity.clone();
            if let Some(arn) = boundary {
                self.check_policy_exists(tx, &account, arn)?;
                entity.permissions_boundary = Some(arn.to_string());
            }
            save_entity(tx, &entity)?;
            Ok(entity)
        })
    }

    pub fn entity(&self, ctx: &RequestContext, kind: EntityKind, name: &str) -> Result<Entity, IamError> {
        read(&*self.store, |tx| require_entity(tx, ctx.account_id(), kind, name))
    }

    pub fn list_entities(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        path_prefix: Option<&str>,
        max_items: usize,
        marker: Option<&str>,
    ) -> Result<Page<Entity>, IamError> {
        let mut all: Vec<Entity> = read(&*self.store, |tx| all_entities(tx, ctx.account_id(), kind))?;
        if let Some(prefix) = path_prefix {
            all.retain(|e| e.path.starts_with(prefix));
        }
        Ok(paging::by_offset(&all, max_items, marker)?)
    }

    /// Reads, changes and writes one entity in a transaction.
    fn update_entity<T>(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        mut change: impl FnMut(&mut Entity, &mut dyn Transaction) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, kind, name)?;
            let out = change(&mut entity, tx)?;
            save_entity(tx, &entity)?;
            Ok(out)
        })
    }

    /// [`Self::update_entity`] for the changes only a service may make to its service-linked role.
    fn update_unprotected<T>(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        mut change: impl FnMut(&mut Entity, &mut dyn Transaction) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        self.update_entity(ctx, kind, name, |entity, tx| {
            if service_linked::is_service_linked(entity) {
                return Err(service_linked::protected(&entity.name));
            }
            change(entity, tx)
        })
    }

    pub fn delete_entity(&self, ctx: &RequestContext, kind: EntityKind, name: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let entity = require_entity(tx, &account, kind, name)?;
            if service_linked::is_service_linked(&entity) {
                return Err(service_linked::protected(&entity.name));
            }
            if !entity.inline_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            if !entity.attached_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            match kind {
                EntityKind::User => {
                    let keys: Vec<AccessKeyRecord> = all_of(tx, "")?;
                    if keys
                        .iter()
                        .any(|k| k.account_id == account && k.user_name.eq_ignore_ascii_case(name))
                    {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must delete access keys first.".into(),
                        ));
                    }
                    if !entity.groups.is_empty() {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must remove users from group first.".into(),
                        ));
                    }
                    if entity.credentials.login_profile.is_some() {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must delete login profile first.".into(),
                        ));
                    }
                    let devices: Vec<mfa::MfaDevice> = all_of(tx, &account)?;
                    if devices
                        .iter()
                        .any(|d| d.user_name.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(name)))
                    {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must delete MFA device first.".into(),
                        ));
                    }
                    if !entity.credentials.is_empty() {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must remove referenced objects first.".into(),
                        ));
                    }
                }
                EntityKind::Group => {
                    let users = all_entities(tx, &account, EntityKind::User)?;
                    if users
                        .iter()
                        .any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(name)))
                    {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must remove users from group first.".into(),
                        ));
                    }
                }
                EntityKind::Role => {
                    if !profiles::profiles_with_role(tx, &account, name)?.is_empty() {
                        return Err(IamError::DeleteConflict(
                            "Cannot delete entity, must remove roles from instance profile first.".into(),
                        ));
                    }
                    records::delete::<RoleUsage>(tx, &account, &name.to_ascii_lowercase())?;
                }
            }
            delete_entity_record(tx, &account, kind, name)
        })
    }

    pub fn update_role(
        &self,
        ctx: &RequestContext,
        name: &str,
        description: Option<String>,
        max_session_duration: Option<i32>,
    ) -> Result<(), IamError> {
        self.update_entity(ctx, EntityKind::Role, name, |role, _| {
            if description.is_some() {
                role.description = description.clone();
            }
            if max_session_duration.is_some() {
                role.max_session_duration = max_session_duration;
            }
            Ok(())
        })
    }

    /// UpdateUser and UpdateGroup: a new path and/or name; `follow` moves what refers to the old
    /// name (in the same transaction) when the name changes.
    fn rename_entity(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
        mut follow: impl FnMut(&mut dyn Transaction, &str, &str, &str) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut entity = require_entity(tx, &account, kind, name)?;
            if let Some(path) = new_path {
                entity.path = path.to_string();
            }
            let Some(new_name) = new_name.filter(|n| *n != entity.name) else {
                return save_entity(tx, &entity);
            };
            claim_new_name(tx, &account, kind, &entity.name, new_name)?;
            let old_name = std::mem::replace(&mut entity.name, new_name.to_string());
            follow(tx, &account, &old_name, new_name)?;
            delete_entity_record(tx, &account, kind, &old_name)?;
            save_entity(tx, &entity)
        })
    }

    /// UpdateUser: the user's access keys and MFA devices follow a new name.
    pub fn update_user(
        &self,
        ctx: &RequestContext,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        self.rename_entity(
            ctx,
            EntityKind::User,
            name,
            new_name,
            new_path,
            |tx, account, old, new| {
                for mut key in all_of::<AccessKeyRecord>(tx, "")? {
                    if key.account_id == account && key.user_name.eq_ignore_ascii_case(old) {
                        key.user_name = new.to_string();
                        save_access_key(tx, &key)?;
                    }
                }
                for mut device in all_of::<mfa::MfaDevice>(tx, account)? {
                    if device.user_name.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(old)) {
                        device.user_name = Some(new.to_string());
                        mfa::save_device(tx, &device)?;
                    }
                }
                Ok(())
            },
        )?;
        self.verified
            .write()
            .map_err(|_| IamError::Internal("key cache poisoned".into()))?
            .clear();
        Ok(())
    }

    /// UpdateGroup: the group's members follow a new name.
    pub fn update_group(
        &self,
        ctx: &RequestContext,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        self.rename_entity(
            ctx,
            EntityKind::Group,
            name,
            new_name,
            new_path,
            |tx, account, old, new| {
                for mut user in all_entities(tx, account, EntityKind::User)? {
                    if let Some(slot) = user.groups.iter_mut().find(|g| g.eq_ignore_ascii_case(old)) {
                        *slot = new.to_string();
                        save_entity(tx, &user)?;
                    }
                }
                Ok(())
            },
        )
    }

    pub fn update_assume_role_policy(&self, ctx: &RequestContext, name: &str, document: &str) -> Result<(), IamError> {
        validate_policy(document, PolicyKind::Trust, false, MAX_TRUST_POLICY_CHARS)?;
        self.update_unprotected(ctx, EntityKind::Role, name, |role, _| {
            role.assume_role_policy = Some(document.to_string());
            Ok(())
        })
    }

    pub fn put_inline_policy(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        validate_policy(document, PolicyKind::Identity, false, MAX_MANAGED_POLICY_CHARS * 2)?;
        self.update_unprotected(ctx, kind, name, |entity, _| {
            entity
                .inline_policies
                .insert(policy_name.to_string(), document.to_string());
            Ok(())
        })
    }

    pub fn inline_policy(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_name: &str,
    ) -> Result<String, IamError> {
        let entity = self.entity(ctx, kind, name)?;
        entity.inline_policies.get(policy_name).cloned().ok_or_else(|| {
            IamError::NotFound(format!(
                "The {} policy with name {policy_name} cannot be found.",
                kind.noun()
            ))
        })
    }

    pub fn delete_inline_policy(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_name: &str,
    ) -> Result<(), IamError> {
        self.update_unprotected(ctx, kind, name, |entity, _| {
            match entity.inline_policies.remove(policy_name) {
                Some(_) => Ok(()),
                None => Err(IamError::NotFound(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    kind.noun()
                ))),
            }
        })
    }

    fn check_policy_exists(&self, tx: &mut dyn Transaction, account: &str, arn: &str) -> Result<(), IamError> {
        check_arn_parses(arn)?;
        if managed::aws_managed(arn).is_some() {
            return Ok(());
        }
        load_policy(tx, account, arn).map(|_| ())
    }

    pub fn attach_policy(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_arn: &str,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.update_unprotected(ctx, kind, name, |entity, tx| {
            self.check_policy_exists(tx, &account, policy_arn)?;
            if entity.attached_policies.iter().any(|a| a == policy_arn) {
                return Ok(());
            }
            if entity.attached_policies.len() >= MAX_ATTACHED_POLICIES {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_POLICIES}"
                )));
            }
            entity.attached_policies.push(policy_arn.to_string());
            if let Ok(mut policy) = load_policy(tx, &account, policy_arn) {
                policy.attachment_count += 1;
                save_policy(tx, &policy)?;
            }
            Ok(())
        })
    }

    pub fn detach_policy(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_arn: &str,
    ) -> Result<(), IamError> {
        check_arn_parses(policy_arn)?;
        let account = ctx.account_id().to_string();
        self.update_unprotected(ctx, kind, name, |entity, tx| {
            let before = entity.attached_policies.len();
            entity.attached_policies.retain(|a| a != policy_arn);
            if entity.attached_policies.len() == before {
                return Err(IamError::NotFound(format!("Policy {policy_arn} was not found.")));
            }
            if let Ok(mut policy) = load_policy(tx, &account, policy_arn) {
                policy.attachment_count = policy.attachment_count.saturating_sub(1);
                save_policy(tx, &policy)?;
            }
            Ok(())
        })
    }

    /// Attached policies of an entity as (name, ARN).
    pub fn attached_policies(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
    ) -> Result<Vec<PolicyRef>, IamError> {
        let entity = self.entity(ctx, kind, name)?;
        Ok(entity
            .attached_policies
            .iter()
            .map(|arn| PolicyRef {
                name: arn.rsplit('/').next().unwrap_or_default().to_string(),
                arn: arn.clone(),
            })
            .collect())
    }

    pub fn put_permissions_boundary(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
        policy_arn: &str,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.update_unprotected(ctx, kind, name, |entity, tx| {
            self.check_policy_exists(tx, &account, policy_arn)?;
            entity.permissions_boundary = Some(policy_arn.to_string());
            Ok(())
        })
    }

    pub fn delete_permissions_boundary(
        &self,
        ctx: &RequestContext,
        kind: EntityKind,
        name: &str,
    ) -> Result<(), IamError> {
        self.update_unprotected(ctx, kind, name, |entity, _| {
            entity.permissions_boundary = None;
            Ok(())
        })
    }

    pub fn add_user_to_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.update_entity(ctx, EntityKind::User, user, |entity, tx| {
            let group_record = require_entity(tx, &account, EntityKind::Group, group)?;
            if entity.groups.iter().any(|g| g.eq_ignore_ascii_case(group)) {
                return Ok(());
            }
            if entity.groups.len() >= MAX_GROUPS_PER_USER {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
                )));
            }
            entity.groups.push(group_record.name);
            Ok(())
        })
    }

    pub fn remove_user_from_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.update_entity(ctx, EntityKind::User, user, |entity, tx| {
            require_entity(tx, &account, EntityKind::Group, group)?;
            let before = entity.groups.len();
            entity.groups.retain(|g| !g.eq_ignore_ascii_case(group));
            if entity.groups.len() == before {
                return Err(IamError::NotFound(format!(
                    "The user with name {user} cannot be found in group {group}."
                )));
            }
            Ok(())
        })
    }

    /// A group and its members.
    pub fn group_with_members(&self, ctx: &RequestContext, group: &str) -> Result<(Entity, Vec<Entity>), IamError> {
        let account = ctx.account_id().to_string();
        read(&*self.store, |tx| {
            let record = require_entity(tx, &account, EntityKind::Group, group)?;
            let users = all_entities(tx, &account, EntityKind::User)?;
            let members = users
                .into_iter()
                .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
                .collect();
            Ok((record, members))
        })
    }

    pub fn groups_for_user(&self, ctx: &RequestContext, user: &str) -> Result<Vec<Entity>, IamError> {
        let account = ctx.account_id().to_string();
        read(&*self.store, |tx| {
            let entity = require_entity(tx, &account, EntityKind::User, user)?;
            entity
                .groups
                .iter()
                .map(|g| require_entity(tx, &account, EntityKind::Group, g))
                .collect()
        })
    }

    pub fn create_policy(
        &self,
        ctx: &RequestContext,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<ManagedPolicy, IamError> {
        validate_policy(document, PolicyKind::Identity, true, MAX_MANAGED_POLICY_CHARS)?;
        validate_tags(&tags)?;
        let now = self.now();
        let policy = ManagedPolicy {
            v: RECORD_VERSION,
            name: name.to_string(),
            id: unique_id("ANPA", 17)?,
            path: path.unwrap_or("/").to_string(),
            account_id: ctx.account_id().to_string(),
            description,
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                version_id: "v1".into(),
                document: document.to_string(),
                create_date: now,
            }],
            next_version: 2,
            attachment_count: 0,
            create_date: now,
            update_date: now,
            tags,
        };
        self.write(|tx| {
            if records::get::<ManagedPolicy>(tx, &policy.account_id, name)?.is_some() {
                return Err(IamError::AlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            save_policy(tx, &policy)?;
            Ok(policy.clone())
        })
    }

    /// A customer managed policy by ARN (AWS managed policies are in [`managed`]).
    pub fn policy(&self, ctx: &RequestContext, arn: &str) -> Result<ManagedPolicy, IamError> {
        read(&*self.store, |tx| load_policy(tx, ctx.account_id(), arn))
    }

    pub fn list_policies(&self, ctx: &RequestContext) -> Result<Vec<ManagedPolicy>, IamError> {
        read(&*self.store, |tx| all_of(tx, ctx.account_id()))
    }

    pub fn delete_policy(&self, ctx: &RequestContext, arn: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            // DeletePolicy words a missing policy as detaching does, not as attaching does (recorded AWS answers).
            let policy = load_policy(tx, &account, arn).map_err(|error| match error {
                IamError::NotFound(_) => IamError::NotFound(format!("Policy {arn} was not found.")),
                other => other,
            })?;
            if policy.attachment_count > 0 {
                return Err(IamError::DeleteConflict(
                    "Cannot delete a policy attached to entities.".into(),
                ));
            }
            if policy.versions.len() > 1 {
                return Err(IamError::DeleteConflict(
                    "Cannot delete a policy with non-default versions.".into(),
                ));
            }
            records::delete::<ManagedPolicy>(tx, &account, &policy.name)?;
            Ok(())
        })
    }

    fn update_policy<T>(
        &self,
        ctx: &RequestContext,
        arn: &str,
        mut change: impl FnMut(&mut ManagedPolicy) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut policy = load_policy(tx, &account, arn)?;
            let out = change(&mut policy)?;
            save_policy(tx, &policy)?;
            Ok(out)
        })
    }

    pub fn create_policy_version(
        &self,
        ctx: &RequestContext,
        arn: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersion, IamError> {
        validate_policy(document, PolicyKind::Identity, true, MAX_MANAGED_POLICY_CHARS)?;
        let now = self.now();
        self.update_policy(ctx, arn, |policy| {
            if policy.versions.len() >= MAX_POLICY_VERSIONS {
                return Err(IamError::LimitExceeded(
                    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.".into(),
                ));
            }
            let version = PolicyVersion { version_id: format!("v{}", policy.next_version), document: document.to_string(), create_date: now };
            policy.next_version += 1;
            policy.versions.push(version.clone());
            if set_as_default {
                policy.default_version = version.version_id.clone();
            }
            policy.update_date = now;
            Ok(version)
        })
    }

    pub fn delete_policy_version(&self, ctx: &RequestContext, arn: &str, version_id: &str) -> Result<(), IamError> {
        self.update_policy(ctx, arn, |policy| {
            if policy.default_version == version_id {
                return Err(IamError::DeleteConflict(
                    "Cannot delete the default version of a policy.".into(),
                ));
            }
            let before = policy.versions.len();
            policy.versions.retain(|v| v.version_id != version_id);
            if policy.versions.len() == before {
                return Err(IamError::NotFound(format!(
                    "Policy {arn} version {version_id} does not exist."
                )));
            }
            Ok(())
        })
    }

    pub fn set_default_policy_version(
        &self,
        ctx: &RequestContext,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        let now = self.now();
        self.update_policy(ctx, arn, |policy| {
            if !policy.versions.iter().any(|v| v.version_id == version_id) {
                return Err(IamError::NotFound(format!(
                    "Policy {arn} version {version_id} does not exist."
                )));
            }
            policy.default_version = version_id.to_string();
            policy.update_date = now;
            Ok(())
        })
    }

    pub fn create_access_key(&self, ctx: &RequestContext, user: &str) -> Result<NewAccessKey, IamError> {
        let account = ctx.account_id().to_string();
        let access_key_id = unique_id("AKIA", 16)?;
        let secret = new_secret_access_key()?;
        let sealed = B64.encode(self.root.seal(&access_key_label(&access_key_id), secret.expose())?);
        let now = self.now();
        let record = self.write(|tx| {
            let entity = require_entity(tx, &account, EntityKind::User, user)?;
            let keys: Vec<AccessKeyRecord> = all_of(tx, "")?;
            if keys
                .iter()
                .filter(|k| k.account_id == account && k.user_name == entity.name)
                .count()
                >= MAX_ACCESS_KEYS
            {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
                )));
            }
            let record = AccessKeyRecord {
                v: RECORD_VERSION,
                access_key_id: access_key_id.clone(),
                account_id: account.clone(),
                user_name: entity.name,
                user_id: Some(entity.id),
                active: true,
                sealed_secret: sealed.clone(),
                create_date: now,
                last_used: None,
            };
            save_access_key(tx, &record)?;
            Ok(record)
        })?;
        Ok(NewAccessKey { record, secret })
    }

    pub fn list_access_keys(&self, ctx: &RequestContext, user: &str) -> Result<Vec<AccessKeyRecord>, IamError> {
        let account = ctx.account_id().to_string();
        read(&*self.store, |tx| {
            let entity = require_entity(tx, &account, EntityKind::User, user)?;
            let keys: Vec<AccessKeyRecord> = all_of(tx, "")?;
            Ok(keys
                .into_iter()
                .filter(|k| k.account_id == account && k.user_name == entity.name)
                .collect())
        })
    }

    pub fn update_access_key(
        &self,
        ctx: &RequestContext,
        user: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut record = find_access_key(tx, &account, user, access_key_id)?;
            record.active = active;
            save_access_key(tx, &record)
        })
    }

    pub fn delete_access_key(&self, ctx: &RequestContext, user: &str, access_key_id: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            find_access_key(tx, &account, user, access_key_id)?;
            records::delete::<AccessKeyRecord>(tx, "", access_key_id)?;
            Ok(())
        })
    }

    pub fn access_key_last_used(&self, access_key_id: &str) -> Result<AccessKeyRecord, IamError> {
        let recent = self
            .last_used
            .lock()
            .ok()
            .and_then(|m| m.get(access_key_id).map(|(used, _)| used.clone()));
        let mut record = read(&*self.store, |tx| load_access_key(tx, access_key_id))?
            .ok_or_else(|| IamError::NotFound(format!("The Access Key with id {access_key_id} cannot be found")))?;
        if recent.is_some() {
            record.last_used = recent;
        }
        Ok(record)
    }

    /// Resolves an access key id for signature verification: active key, its secret and its user.
    pub fn verify_access_key(&self, access_key_id: &str) -> Result<KeyLookup, IamError> {
        let generation = self.generation();
        if let Some((seen, lookup)) = self.verified.read().ok().and_then(|c| c.get(access_key_id).cloned())
            && Some(seen) == generation
        {
            return Ok(lookup);
        }
        let lookup = self.look_up_access_key(access_key_id)?;
        if let Some(generation) = generation
            && let Ok(mut cache) = self.verified.write()
        {
            if cache.len() >= VERIFIED_KEY_CACHE {
                cache.clear();
            }
            cache.insert(access_key_id.to_string(), (generation, lookup.clone()));
        }
        Ok(lookup)
    }

    fn look_up_access_key(&self, access_key_id: &str) -> Result<KeyLookup, IamError> {
        let found = read(&*self.store, |tx| {
            let Some(record) = load_access_key(tx, access_key_id)? else {
                return Ok(None);
            };
            let user = load_entity(tx, &record.account_id, EntityKind::User, &record.user_name)?;
            Ok(Some((record, user)))
        })?;
        let Some((record, user)) = found else {
            return Ok(KeyLookup::Unknown);
        };
        // A key belongs to its user by unique id, not by name (records from before ids were kept
        // have none; their user could not be deleted while they existed).
        let user = user.filter(|u| record.user_id.as_ref().is_none_or(|id| *id == u.id));
        let (true, Some(user)) = (record.active, user) else {
            return Ok(KeyLookup::Disabled);
        };
        let sealed = B64
            .decode(&record.sealed_secret)
            .map_err(|_| IamError::Internal("sealed secret is not base64".into()))?;
        let secret = self.root.open(&access_key_label(access_key_id), &sealed)?;
        Ok(KeyLookup::Active(Arc::new(VerifiedKey { record, secret, user })))
    }

    /// The identity policies that apply to a user (its own and its groups'), as (label, document).
    pub fn user_policies(&self, account: &str, user: &Entity) -> Result<Vec<(String, String)>, IamError> {
        read(&*self.store, |tx| {
            let mut docs = self.entity_policies(tx, account, user)?;
            for group in &user.groups {
                if let Some(group) = load_entity(tx, account, EntityKind::Group, group)? {
                    docs.extend(self.entity_policies(tx, account, &group)?);
                }
            }
            Ok(docs)
        })
    }

    /// A role's identity policies, as (label, document).
    pub fn role_policies(&self, account: &str, role: &Entity) -> Result<Vec<(String, String)>, IamError> {
        read(&*self.store, |tx| self.entity_policies(tx, account, role))
    }

    /// The permissions boundary document of an entity, if it has one.
    pub fn boundary_document(&self, account: &str, entity: &Entity) -> Result<Option<String>, IamError> {
        let Some(arn) = &entity.permissions_boundary else {
            return Ok(None);
        };
        read(&*self.store, |tx| self.policy_document(tx, account, arn)).map(Some)
    }

    /// The default document of a managed policy (AWS managed or of `account`).
    pub fn managed_policy_document(&self, account: &str, arn: &str) -> Result<String, IamError> {
        read(&*self.store, |tx| self.policy_document(tx, account, arn))
    }

    fn policy_document(&self, tx: &mut dyn Transaction, account: &str, arn: &str) -> Result<String, IamError> {
        if let Some(policy) = managed::aws_managed(arn) {
            return Ok(policy.document.to_string());
        }
        let policy = load_policy(tx, account, arn)?;
        policy
            .default_document()
            .map(str::to_string)
            .ok_or_else(|| IamError::Internal(format!("{arn} has no default version")))
    }

    fn entity_policies(
        &self,
        tx: &mut dyn Transaction,
        account: &str,
        entity: &Entity,
    ) -> Result<Vec<(String, String)>, IamError> {
        let mut docs: Vec<(String, String)> = entity
            .inline_policies
            .iter()
            .map(|(name, doc)| (format!("{}/{name}", entity.arn()), doc.clone()))
            .collect();
        for arn in &entity.attached_policies {
            docs.push((arn.clone(), self.policy_document(tx, account, arn)?));
        }
        Ok(docs)
    }
}

/// IAM's tag limits: keys are unique case-insensitively.
const TAG_RULES: TagRules = TagRules::at_most_50(true, KeyCase::Insensitive);

fn validate_tags(tags: &[Tag]) -> Result<(), IamError> {
    tags::check(tags, &TAG_RULES).map_err(tag_error)
}

fn tag_error(violation: TagViolation) -> IamError {
    match violation {
        TagViolation::TooMany => {
            IamError::LimitExceeded(format!("Cannot exceed quota for TagsPerUser: {}", TAG_RULES.max_tags))
        }
        TagViolation::DuplicateKey => {
            IamError::InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.".into())
        }
        TagViolation::ReservedPrefix => IamError::InvalidInput("User-defined tag keys can't start with aws:".into()),
    }
}

#[cfg(test)]
mod tests;
