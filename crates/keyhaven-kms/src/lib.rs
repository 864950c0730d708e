//! AWS KMS for symmetric keys: key lifecycle, aliases, tags, policies, rotation and cryptography.

mod asymmetric;
mod custom_key_store;
pub mod error;
mod grants;
mod hsm;
mod import;
pub mod key_spec;
pub mod model;
mod multi_region;
pub mod quotas;
mod resolve;
mod services;
mod usage;

use keyhaven_kernel::generation::Generation;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::blob::{self, BACKING_KEY_LEN, BlobHeader, KEY_ID_LEN, MATERIAL_ID_LEN};
use keyhaven_crypto::{EncryptionContext, RootKey, SecretBytes};
use keyhaven_policy::{PolicyDocument, PolicyKind, ResourceRules};
use keyhaven_store::{Backend, Job, Transaction};

pub use crate::error::KmsError;
use crate::error::{read, transact};
pub use asymmetric::{DataKeyPair, PublicKeyInfo, Signed};
pub use custom_key_store::{CustomKeyStoreUpdate, NewCustomKeyStore};
pub use grants::{NewGrant, constraint_of};
pub use hsm::{Cluster, parse_cluster};
pub use import::{ImportParametersOut, ImportRequest};
use key_spec::{Backing, KeySpec};
use keyhaven_crypto::asymmetric::{PrivateKey, Role};
use keyhaven_kernel::audit::{AuditResource, ServiceEvent};
use keyhaven_kernel::authz::{Access, Authorizer, Resource, ResourcePolicy};
use keyhaven_kernel::clock::{Clock, epoch_seconds};
use keyhaven_kernel::context::RequestContext;
pub use keyhaven_kernel::ids::new_uuid as new_key_id;
pub use keyhaven_kernel::on_behalf::{Decrypted, Encrypted};
use keyhaven_kernel::paging;
pub use keyhaven_kernel::paging::Page;
use keyhaven_kernel::records;
pub use keyhaven_kernel::tags::Tag;
use keyhaven_kernel::tags::{self, KeyCase, TagRules, TagViolation};
pub use model::*;
pub use multi_region::ReplicaSettings;
pub use resolve::KeyRef;
pub use usage::LastUse;

const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
const CACHE_CAPACITY: usize = 10_000;
const SECONDS_PER_DAY: i64 = 86_400;
pub const DEFAULT_ROTATION_PERIOD_DAYS: i32 = 365;
pub const DEFAULT_PENDING_WINDOW_DAYS: i32 = 30;
const MIN_PENDING_WINDOW_DAYS: i32 = 7;
const MAX_PENDING_WINDOW_DAYS: i32 = 30;
pub const JOB_DELETE_KEY: &str = "kms.delete-key";
pub const JOB_ROTATE_KEY: &str = "kms.rotate-key";
pub const JOB_EXPIRE_MATERIAL: &str = "kms.expire-material";
/// The service principal of KMS's own work (scheduled deletion, automatic rotation).
const SERVICE_PRINCIPAL: &str = "kms.amazonaws.com";

/// Everything CreateKey takes, already shape-validated by the wire layer.
#[derive(Debug, Default, Clone)]
pub struct CreateKeyInput {
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub origin: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<Tag>,
    pub multi_region: bool,
    pub custom_key_store_id: Option<String>,
}

/// AWS's predefined aliases of AWS managed keys, which ListAliases shows before any key is behind them (the names
/// AWS's ListAliases answers in a new account; keyhaven creates the keys of `aws/ssm`, `aws/secretsmanager` and
/// `aws/s3` when those services first need them).
const PREDEFINED_ALIASES: &[&str] = &[
    "alias/aws/acm",
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/elasticfilesystem",
    "alias/aws/es",
    "alias/aws/glue",
    "alias/aws/kinesisvideo",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/redshift",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
    "alias/aws/xray",
];

/// One row of ListAliases: an alias, or a predefined AWS alias no key is behind yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedAlias {
    pub name: String,
    pub record: Option<AliasRecord>,
}

/// Result of ReEncrypt.
#[derive(Debug)]
pub struct ReEncrypted {
    pub ciphertext: Vec<u8>,
    pub source_key_arn: String,
    pub source_material_id: String,
    pub destination_key_arn: String,
    pub destination_material_id: String,
}

/// Which materials ListKeyRotations reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationListing {
    RotationsOnly,
    AllKeyMaterial,
}

/// One row of ListKeyRotations.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationEntry {
    pub key_arn: String,
    pub material_id: String,
    pub rotation_date: Option<f64>,
    pub rotation_type: Option<&'static str>,
    /// CURRENT, NON_CURRENT or PENDING_ROTATION.
    pub state: &'static str,
    /// Imported material: its settings and whether it is present (IMPORTED) or must be imported again.
    pub imported: Option<(ImportedMaterial, bool)>,
}

/// When and how a material became current through a rotation; None for a key's first material.
fn rotation_of(material: &Material) -> Option<(f64, &'static str)> {
    match material.origin {
        MaterialOrigin::Original => None,
        MaterialOrigin::Automatic => Some((material.created, "AUTOMATIC")),
        MaterialOrigin::OnDemand => Some((material.created, "ON_DEMAND")),
        MaterialOrigin::Imported => material.imported.as_ref()?.rotated.map(|date| (date, "ON_DEMAND")),
    }
}

/// GetKeyRotationStatus's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationStatus {
    pub key_arn: String,
    pub enabled: bool,
    pub period_days: Option<i32>,
    pub next_rotation: Option<f64>,
}

/// What a key-level authorisation knows beyond the key: how the request named it, its encryption
/// context, the tags it sets.
#[derive(Debug, Default, Clone, Copy)]
struct KeyCheck<'a> {
    requested_as: Option<&'a str>,
    context: Option<&'a EncryptionContext>,
    /// The key's aliases when already known (cached keys); otherwise they are looked up.
    aliases: Option<&'a [String]>,
    /// Request condition keys beyond the key's own (tags set or removed, the deletion window, ...).
    request_keys: &'a [(String, Vec<String>)],
    /// The alias ARN the action is authorised on as well (CreateAlias, UpdateAlias, DeleteAlias).
    alias: Option<&'a str>,
}

/// `kms:CallerAccount`, and `kms:ViaService` when a service calls on the caller's behalf.
fn caller_keys(ctx: &RequestContext) -> Vec<(String, Vec<String>)> {
    let mut keys = vec![("kms:CallerAccount".into(), vec![ctx.account_id().to_string()])];
    if let Some(service) = &ctx.via_service {
        let prefix = service.strip_suffix(".amazonaws.com").unwrap_or(service);
        keys.push((
            "kms:ViaService".into(),
            vec![format!("{prefix}.{}.amazonaws.com", ctx.region)],
        ));
    }
    keys
}

/// A key with its materials unsealed, as held in the cache.
struct LiveKey {
    record: KeyRecord,
    spec: &'static KeySpec,
    policy: PolicyDocument,
    aliases: Vec<String>,
    /// Symmetric and HMAC materials by id.
    materials: HashMap<[u8; MATERIAL_ID_LEN], SecretBytes>,
    /// An asymmetric key's private key, parsed for its usage, and its DER SubjectPublicKeyInfo.
    pair: Option<(PrivateKey, keyhaven_crypto::asymmetric::Verifier)>,
}

/// The role an asymmetric key's private key plays for a key usage.
fn role_of(usage: &str) -> Role {
    match usage {
        ENCRYPT_DECRYPT => Role::Decrypt,
        key_spec::KEY_AGREEMENT => Role::Agree,
        _ => Role::Sign,
    }
}

/// The KMS service.
pub struct Kms {
    store: Arc<dyn Backend>,
    authz: Arc<Authorizer>,
    root: Arc<RootKey>,
    clock: Arc<dyn Clock>,
    /// Unsealed keys, each with the KMS generation it was loaded at: trusted only while that is the current one.
    cache: RwLock<HashMap<String, (u64, Arc<LiveKey>)>>,
    /// Each scope's aliases by target key, with the generation they were read at: loading many keys after a change
    /// (a console's keys page) reads the scope's aliases once, not once per key.
    aliases: RwLock<HashMap<String, (u64, Arc<AliasesByKey>)>>,
    /// Moved on by every change to keys or aliases, on any node.
    generation: Generation,
    /// GetKeyLastUsage's notes not yet written.
    usage: usage::Pending,
    /// Request quotas, when the server enforces them.
    quotas: std::sync::OnceLock<quotas::RequestQuotas>,
    /// The PKCS#11 clusters custom key stores can use, and this node's sessions with them.
    hsms: std::sync::OnceLock<hsm::Hsms>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kms")
    }
}

fn invalid_state(record: &KeyRecord) -> KmsError {
    match record.state {
        KeyState::Disabled => KmsError::Disabled(format!("{} is disabled.", record.arn())),
        KeyState::PendingDeletion => KmsError::InvalidState(format!("{} is pending deletion.", record.arn())),
        KeyState::PendingImport => KmsError::InvalidState(format!("{} is pending import.", record.arn())),
        KeyState::PendingReplicaDeletion => {
            KmsError::InvalidState(format!("{} is pending replica deletion.", record.arn()))
        }
        KeyState::Unavailable => unavailable(record),
        KeyState::Enabled => KmsError::InvalidState(format!("{} is enabled.", record.arn())),
    }
}

/// A key in a custom key store that is not connected.
fn unavailable(record: &KeyRecord) -> KmsError {
    KmsError::InvalidState(format!("{} is unavailable.", record.arn()))
}

fn require_enabled(record: &KeyRecord) -> Result<(), KmsError> {
    if record.state == KeyState::Enabled {
        Ok(())
    } else {
        Err(invalid_state(record))
    }
}

/// Alias names by the key they point at.
type AliasesByKey = HashMap<String, Vec<String>>;

fn cache_key(region: &str, key_id: &str) -> String {
    format!("{region}/{key_id}")
}

/// What the scheduler names a key's jobs by: its id, and for a multi-Region key its Region too (members share the id).
fn job_subject(record: &KeyRecord) -> String {
    match record.multi_region {
        Some(_) => format!("{}@{}", record.key_id, record.region),
        None => record.key_id.clone(),
    }
}

fn job_id(kind: &str, record: &KeyRecord) -> String {
    format!("{kind}/{}", job_subject(record))
}

/// Schedules a key's deletion after its pending window.
fn schedule_deletion(tx: &mut dyn Transaction, record: &mut KeyRecord, now: i64) -> Result<(), KmsError> {
    let days = record.pending_window_days.unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
    let due = now + i64::from(days) * SECONDS_PER_DAY;
    record.state = KeyState::PendingDeletion;
    record.deletion_date = Some(due as f64);
    tx.schedule(&Job {
        id: job_id(JOB_DELETE_KEY, record),
        due_at: due,
        kind: JOB_DELETE_KEY.into(),
        payload: job_subject(record).into_bytes(),
    })?;
    Ok(())
}

/// `kms:EncryptionAlgorithm`: the algorithm a request names, SYMMETRIC_DEFAULT when it names none.
fn algorithm_key(algorithm: Option<&str>) -> [(String, Vec<String>); 1] {
    [(
        "kms:EncryptionAlgorithm".to_string(),
        vec![algorithm.unwrap_or(SYMMETRIC_DEFAULT).to_string()],
    )]
}

/// The key is enabled and has `usage`; otherwise AWS's answer for `operation`.
fn check_usage(record: &KeyRecord, usage: &str, operation: &str) -> Result<(), KmsError> {
    require_enabled(record)?;
    if record.key_usage != usage {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {operation}.",
            record.arn(),
            record.key_usage
        )));
    }
    Ok(())
}

/// Neither pending deletion nor pending import: the states EnableKey and DisableKey cannot leave.
fn require_not_pending(record: &KeyRecord) -> Result<(), KmsError> {
    match record.state {
        KeyState::PendingDeletion
        | KeyState::PendingImport
        | KeyState::PendingReplicaDeletion
        | KeyState::Unavailable => Err(invalid_state(record)),
        KeyState::Enabled | KeyState::Disabled => Ok(()),
    }
}

fn require_not_pending_deletion(record: &KeyRecord) -> Result<(), KmsError> {
    if matches!(
        record.state,
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
    ) {
        Err(invalid_state(record))
    } else {
        Ok(())
    }
}

fn material_label(key_id: &str, material_id: &str) -> Vec<u8> {
    format!("kms-material/{key_id}/{material_id}").into_bytes()
}

/// The material a key encrypts with, and the blob header that names it.
fn current_header(record: &KeyRecord) -> Result<(&Material, BlobHeader), KmsError> {
    let material = record
        .current_material()
        .ok_or_else(|| KmsError::Internal("key has no material".into()))?;
    let material_id: [u8; MATERIAL_ID_LEN] = hex::decode(&material.id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KmsError::Internal("bad material id".into()))?;
    let header = BlobHeader {
        key_id: key_uuid_bytes(&record.key_id)?,
        material_id,
    };
    Ok((material, header))
}

/// The 16 bytes a blob names a key by: a UUID's, or the 32 hex digits of a multi-Region key id.
fn key_uuid_bytes(key_id: &str) -> Result<[u8; KEY_ID_LEN], KmsError> {
    let hex_digits: String = key_id
        .strip_prefix(MULTI_REGION_PREFIX)
        .unwrap_or(key_id)
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let bytes = hex::decode(hex_digits).map_err(|_| KmsError::Internal("stored key id is not a UUID".into()))?;
    bytes
        .try_into()
        .map_err(|_| KmsError::Internal("stored key id is not a UUID".into()))
}

/// AWS's default key policy: one statement delegating to the account's IAM policies.
pub fn default_key_policy(account_id: &str) -> String {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&policy).unwrap_or_default()
}

/// The key policy of the AWS managed key of `service` (`ssm`, `secretsmanager`): every principal of
/// the account may use it through that service; the account may read its metadata. This is the
/// shape AWS gives its managed keys (for example the policy of `aws/ssm`).
pub fn aws_managed_key_policy(account_id: &str, region: &str, service: &str) -> String {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-1"),
        "Statement": [
            {
                "Sid": "Allow access through the service for all principals in the account that are authorized to use it",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account_id,
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com")
                }}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*"
            }
        ]
    });
    serde_json::to_string_pretty(&policy).unwrap_or_default()
}

impl Kms {
    pub fn new(store: Arc<dyn Backend>, root: Arc<RootKey>, clock: Arc<dyn Clock>, authz: Arc<Authorizer>) -> Self {
        Self {
            generation: Generation::new(store.clone(), "kms"),
            store,
            authz,
            root,
            clock,
            cache: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            usage: usage::Pending::default(),
            quotas: std::sync::OnceLock::new(),
            hsms: std::sync::OnceLock::new(),
        }
    }

    fn now(&self) -> f64 {
        epoch_seconds(self.clock.now())
    }

    /// The HSM clusters custom key stores may use (once, at start; a server without them has none).
    pub fn configure_hsm_clusters(&self, clusters: HashMap<String, hsm::Cluster>) {
        let _ = self.hsms.set(hsm::Hsms::new(clusters));
    }

    fn hsms(&self) -> &hsm::Hsms {
        self.hsms.get_or_init(hsm::Hsms::default)
    }

    /// Enforces AWS's request quotas from now on (once; a server without it enforces none).
    pub fn enforce_request_quotas(&self, settings: quotas::QuotaSettings) {
        let _ = self.quotas.set(quotas::RequestQuotas::new(settings));
    }

    /// Counts a request toward `quota`: ThrottlingException past its rate.
    fn throttle(&self, ctx: &RequestContext, quota: &'static str) -> Result<(), KmsError> {
        match self.quotas.get() {
            Some(quotas) if quotas.enabled() => quotas.take(ctx, quota, self.now()),
            _ => Ok(()),
        }
    }

    /// Counts a request of `operation` toward its own quota, if it has one.
    pub fn throttle_operation(&self, ctx: &RequestContext, operation: &str) -> Result<(), KmsError> {
        match quotas::operation_quota(operation) {
            Some(quota) => self.throttle(ctx, quota),
            None => Ok(()),
        }
    }

    /// New material for a key of `spec`: a 256-bit key, an HMAC key of its hash's length, or a private key.
    fn new_material(&self, key_id: &str, spec: &KeySpec, origin: MaterialOrigin) -> Result<Material, KmsError> {
        let material_id = hex::encode(keyhaven_crypto::random_array::<MATERIAL_ID_LEN>()?);
        let (secret, public_key) = match spec.backing {
            Backing::Symmetric => (keyhaven_crypto::random_bytes(BACKING_KEY_LEN)?, None),
            Backing::Hmac(hash) => (keyhaven_crypto::random_bytes(hash.key_len())?, None),
            Backing::Pair(kind) => {
                let private = keyhaven_crypto::asymmetric::generate(kind)?;
                let public = PrivateKey::parse(kind, Role::Sign, private.expose())?.public_key()?;
                (private, Some(B64.encode(public)))
            }
        };
        let sealed = self.root.seal(&material_label(key_id, &material_id), secret.expose())?;
        Ok(Material {
            id: material_id,
            sealed: B64.encode(sealed),
            created: self.now(),
            origin,
            public_key,
            imported: None,
            in_hsm: false,
        })
    }

    fn unseal_all(&self, record: &KeyRecord, grants: Vec<GrantRecord>) -> Result<LiveKey, KmsError> {
        let spec = key_spec::of(&record.key_spec)?;
        let mut materials = HashMap::with_capacity(record.materials.len());
        let mut pair = None;
        for m in record.materials.iter().filter(|m| !m.sealed.is_empty()) {
            let sealed = B64
                .decode(&m.sealed)
                .map_err(|_| KmsError::Internal("sealed material is not base64".into()))?;
            let secret = self
                .root
                .open(&material_label(&record.key_id, &m.id), &sealed)
                .map_err(|_| {
                    KmsError::Internal(format!(
                        "key material {} of {} does not unseal under this root key",
                        m.id, record.key_id
                    ))
                })?;
            let id: [u8; MATERIAL_ID_LEN] = hex::decode(&m.id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| KmsError::Internal("stored material id is malformed".into()))?;
            match spec.backing {
                Backing::Pair(kind) => {
                    let private = PrivateKey::parse(kind, role_of(&record.key_usage), secret.expose())?;
                    let verifier = keyhaven_crypto::asymmetric::Verifier::new(kind, private.public_key()?)?;
                    pair = Some((private, verifier));
                }
                Backing::Symmetric | Backing::Hmac(_) => {
                    materials.insert(id, secret);
                }
            }
        }
        Ok(LiveKey {
            record: record.clone(),
            spec,
            // The key's grants decide as statements of its policy.
            policy: parse_key_policy(record)?.merged(&grants::as_policy(&grants)?),
            aliases: self.aliases_of(record)?,
            materials,
            pair,
        })
    }

    /// A change to keys or aliases (cached keys carry their aliases, for `kms:ResourceAliases`): one transaction that
    /// moves the generation on, so that every node reloads.
    fn write<T>(&self, work: impl FnMut(&mut dyn Transaction) -> Result<T, KmsError>) -> Result<T, KmsError> {
        self.generation.transact(work)
    }

    /// Drops every cached key and alias (dev-mode reset).
    pub fn clear_cache(&self) {
        self.generation.changed();
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
        if let Ok(mut aliases) = self.aliases.write() {
            aliases.clear();
        }
    }

    /// A cached key, while no node has changed keys or aliases since it was loaded.
    /// Cached by Region and key id: the members of a multi-Region key share the id.
    fn cached(&self, region: &str, key_id: &str) -> Option<Arc<LiveKey>> {
        let generation = self.generation.current()?;
        let (loaded_at, hit) = self.cache.read().ok()?.get(&cache_key(region, key_id)).cloned()?;
        (loaded_at == generation).then_some(hit)
    }

    /// The key with its materials unsealed, from the cache or the store.
    fn live(&self, scope: &str, key_id: &str) -> Result<Option<Arc<LiveKey>>, KmsError> {
        let region = scope.rsplit_once(':').map_or(scope, |(_, region)| region);
        if let Some(hit) = self.cached(region, key_id) {
            return Ok((resolve::scope_of(&hit.record) == scope).then_some(hit));
        }
        // Read before the key: a change committed meanwhile leaves this load stamped with an older generation.
        let generation = self.generation.current();
        let Some((record, grants)) = read(&*self.store, |tx| {
            let Some(record) = resolve::load_key(tx, scope, key_id)? else {
                return Ok(None);
            };
            let grants = grants::of_key(tx, &record)?;
            Ok(Some((record, grants)))
        })?
        else {
            return Ok(None);
        };
        let live = Arc::new(self.unseal_all(&record, grants)?);
        if let Some(generation) = generation
            && let Ok(mut cache) = self.cache.write()
        {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(cache_key(region, key_id), (generation, live.clone()));
        }
        Ok(Some(live))
    }

    /// Resolves a key reference, then runs `change` on the stored record in one transaction and
    /// writes it back. `change` returns what the caller answers with.
    fn update_key<T>(
        &self,
        ctx: &RequestContext,
        key: &str,
        action: &str,
        check: KeyCheck<'_>,
        mut change: impl FnMut(&mut KeyRecord, &mut dyn Transaction) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        self.write(|tx| {
            let mut record = resolve::resolve_in(tx, &key_ref)?;
            self.authorize_in(tx, ctx, action, &record, &parse_key_policy(&record)?, check)?;
            let out = change(&mut record, tx)?;
            record.revision += 1;
            resolve::save_key(tx, &record)?;
            Ok(out)
        })
    }

    /// DescribeKey: a key id, key ARN, alias name or alias ARN to its record (any state).
    pub fn describe_key(&self, ctx: &RequestContext, key: &str) -> Result<KeyRecord, KmsError> {
        // Through the key cache: the parsed key policy and aliases the check needs are already there.
        let mut record = self.live_by_ref(ctx, key, "kms:DescribeKey", None)?.record.clone();
        if record.state == KeyState::Enabled && !self.available(&record) {
            record.state = KeyState::Unavailable;
        }
        Ok(record)
    }

    /// Resolves any key reference without authorisation, for the server's own use.
    fn resolve_unchecked(&self, ctx: &RequestContext, key: &str) -> Result<KeyRecord, KmsError> {
        let key_ref = KeyRef::parse(key, ctx)?;
        read(&*self.store, |tx| resolve::resolve_in(tx, &key_ref))
    }

    /// A key named by id or key ARN only, after checking the caller may perform `action` on it. Through the key
    /// cache, as DescribeKey: the reads of a key's settings (rotation, policy, tags, grants) cost no store read while
    /// nothing changed.
    fn key_by_id(&self, ctx: &RequestContext, key: &str, action: &str) -> Result<KeyRecord, KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        let KeyRef::Key { scope, key_id, .. } = &key_ref else {
            return Err(key_ref.not_found());
        };
        let live = self.live(scope, key_id)?.ok_or_else(|| key_ref.not_found())?;
        let check = KeyCheck {
            aliases: Some(&live.aliases),
            ..Default::default()
        };
        self.authorize_with_context(ctx, action, &live.record, &live.policy, check)?;
        Ok(live.record.clone())
    }

    /// [`Self::authorize_with_context`] inside a transaction: the key's aliases are read through `tx`, never through a
    /// second store connection (on PostgreSQL, writers each holding a connection and waiting for one more would
    /// exhaust the pool and wait on each other).
    fn authorize_in(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        action: &str,
        record: &KeyRecord,
        policy: &PolicyDocument,
        check: KeyCheck<'_>,
    ) -> Result<(), KmsError> {
        let aliases = match check.aliases {
            Some(_) => Vec::new(),
            None => resolve::aliases_of_key(tx, record)?,
        };
        let check = KeyCheck {
            aliases: check.aliases.or(Some(&aliases)),
            ..check
        };
        self.authorize_with_context(ctx, action, record, policy, check)
    }

    /// The names of the aliases that point at a key (`kms:ResourceAliases`).
    fn aliases_of(&self, record: &KeyRecord) -> Result<Vec<String>, KmsError> {
        let scope = resolve::scope_of(record);
        let generation = self.generation.current();
        let cached = self.aliases.read().ok().and_then(|cache| {
            cache
                .get(&scope)
                .filter(|(loaded_at, _)| Some(*loaded_at) == generation)
                .map(|(_, by_key)| by_key.clone())
        });
        let by_key = match cached {
            Some(by_key) => by_key,
            None => {
                // Read before the aliases: a change committed meanwhile leaves this stamped with an older generation.
                let mut by_key = AliasesByKey::new();
                for alias in read(&*self.store, |tx| resolve::aliases(tx, &scope))? {
                    by_key.entry(alias.target_key_id).or_default().push(alias.name);
                }
                let by_key = Arc::new(by_key);
                if let (Some(generation), Ok(mut cache)) = (generation, self.aliases.write()) {
                    if cache.len() >= CACHE_CAPACITY {
                        cache.clear();
                    }
                    cache.insert(scope, (generation, by_key.clone()));
                }
                by_key
            }
        };
        Ok(by_key.get(&record.key_id).cloned().unwrap_or_default())
    }

    fn authorize_with_context(
        &self,
        ctx: &RequestContext,
        action: &str,
        record: &KeyRecord,
        policy: &PolicyDocument,
        check: KeyCheck<'_>,
    ) -> Result<(), KmsError> {
        let KeyCheck {
            requested_as,
            context,
            aliases,
            request_keys,
            alias,
        } = check;
        let mut keys = caller_keys(ctx);
        keys.extend([
            ("kms:KeySpec".into(), vec![record.key_spec.clone()]),
            ("kms:KeyUsage".into(), vec![record.key_usage.clone()]),
            ("kms:KeyOrigin".into(), vec![record.origin.clone()]),
            (
                "kms:MultiRegion".into(),
                vec![record.multi_region.is_some().to_string()],
            ),
        ]);
        if record.multi_region.is_some() {
            let kind = if record.is_replica() { "REPLICA" } else { "PRIMARY" };
            keys.push(("kms:MultiRegionKeyType".into(), vec![kind.into()]));
        }
        if let Some(alias) = requested_as.filter(|k| k.starts_with("alias/") || k.contains(":alias/")) {
            let name = alias.rsplit_once(':').map_or(alias, |(_, n)| n);
            keys.push(("kms:RequestAlias".into(), vec![name.to_string()]));
        }
        keys.extend(keyhaven_kernel::tags::resource_keys(&record.tags));
        let looked_up;
        let aliases = match aliases {
            Some(known) => known,
            None => {
                looked_up = self.aliases_of(record)?;
                &looked_up
            }
        };
        if !aliases.is_empty() {
            keys.push(("kms:ResourceAliases".into(), aliases.to_vec()));
        }
        keys.extend(request_keys.iter().cloned());
        if let Some(context) = context {
            for (k, v) in context {
                keys.push((format!("kms:EncryptionContext:{k}"), vec![v.clone()]));
            }
            keys.push(("kms:EncryptionContextKeys".into(), context.keys().cloned().collect()));
        }
        let arn = record.arn();
        let key = Resource {
            policy: Some(ResourcePolicy {
                id: &record.key_id,
                document: policy,
                rules: ResourceRules::KmsKeyPolicy,
            }),
            keys: &keys,
            ..Resource::new(&arn, &record.account_id)
        };
        let with_alias;
        let resources: &[Resource<'_>] = match alias {
            // Aliases have no policy of their own: IAM policies decide on the alias ARN.
            Some(alias) => {
                with_alias = [Resource::new(alias, &record.account_id), key];
                &with_alias
            }
            None => std::slice::from_ref(&key),
        };
        self.authz.check(
            ctx,
            &Access {
                action,
                resources,
                keys: &[],
            },
        )?;
        Ok(())
    }

    /// A new key policy must parse and, unless the caller bypasses the lockout safety check, must
    /// still let the caller change the policy later.
    fn check_new_policy(
        &self,
        ctx: &RequestContext,
        record: &KeyRecord,
        aliases: &[String],
        policy: &str,
        bypass: bool,
    ) -> Result<(), KmsError> {
        let document = PolicyDocument::parse_as(policy, PolicyKind::Resource)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        if bypass {
            return Ok(());
        }
        let check = KeyCheck {
            aliases: Some(aliases),
            ..Default::default()
        };
        match self.authorize_with_context(ctx, "kms:PutKeyPolicy", record, &document, check) {
            Err(KmsError::AccessDenied(_)) => Err(KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future.".into(),
            )),
            other => other,
        }
    }

    /// An action that names no key (CreateKey, ListKeys, ...): IAM policies alone decide.
    fn authorize_account(&self, ctx: &RequestContext, action: &str) -> Result<(), KmsError> {
        Ok(self.authz.check(ctx, &Access::unscoped(action))?)
    }

    /// Resolves a key reference for a cryptographic operation, through the cache.
    fn live_by_ref(
        &self,
        ctx: &RequestContext,
        key: &str,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> Result<Arc<LiveKey>, KmsError> {
        self.live_checked(ctx, key, action, context, &[])
    }

    /// [`Self::live_by_ref`] with request condition keys (`kms:SigningAlgorithm`, `kms:EncryptionAlgorithm`, ...).
    fn live_checked(
        &self,
        ctx: &RequestContext,
        key: &str,
        action: &str,
        context: Option<&EncryptionContext>,
        request_keys: &[(String, Vec<String>)],
    ) -> Result<Arc<LiveKey>, KmsError> {
        let key_ref = KeyRef::parse(key, ctx)?;
        let (scope, key_id) = match &key_ref {
            KeyRef::Key { scope, key_id, .. } => (scope.clone(), key_id.clone()),
            KeyRef::Alias { .. } => {
                let record = read(&*self.store, |tx| resolve::resolve_in(tx, &key_ref))?;
                (resolve::scope_of(&record), record.key_id)
            }
        };
        let live = self.live(&scope, &key_id)?.ok_or_else(|| key_ref.not_found())?;
        // Cryptographic operations share their key type's quota; ReEncrypt counts once (as ReEncryptTo).
        if !matches!(
            action,
            "kms:DescribeKey"
                | "kms:GetPublicKey"
                | "kms:ReEncryptFrom"
                | "kms:GenerateDataKeyPair"
                | "kms:GenerateDataKeyPairWithoutPlaintext"
        ) {
            self.throttle(ctx, quotas::cryptographic_quota(live.spec))?;
        }
        let check = KeyCheck {
            requested_as: Some(key),
            context,
            aliases: Some(&live.aliases),
            request_keys,
            ..Default::default()
        };
        self.authorize_with_context(ctx, action, &live.record, &live.policy, check)?;
        Ok(live)
    }

    pub fn create_key(&self, ctx: &RequestContext, input: CreateKeyInput) -> Result<KeyRecord, KmsError> {
        let mut keys = caller_keys(ctx);
        keys.extend(tags::request_keys(&input.tags, &[]));
        let spec = input.key_spec.as_deref().or(input.customer_master_key_spec.as_deref());
        for (key, value) in [
            ("kms:KeySpec", spec.unwrap_or(SYMMETRIC_DEFAULT)),
            ("kms:KeyUsage", input.key_usage.as_deref().unwrap_or(ENCRYPT_DECRYPT)),
            ("kms:KeyOrigin", input.origin.as_deref().unwrap_or(ORIGIN_AWS_KMS)),
            ("kms:MultiRegion", if input.multi_region { "true" } else { "false" }),
            (
                "kms:BypassPolicyLockoutSafetyCheck",
                if input.bypass_policy_lockout_safety_check {
                    "true"
                } else {
                    "false"
                },
            ),
        ] {
            keys.push((key.into(), vec![value.into()]));
        }
        if input.multi_region {
            keys.push(("kms:MultiRegionKeyType".into(), vec!["PRIMARY".into()]));
        }
        self.authz.check(
            ctx,
            &Access {
                keys: &keys,
                ..Access::unscoped("kms:CreateKey")
            },
        )?;
        self.create_key_as(ctx, input, MANAGER_CUSTOMER)
    }

    fn create_key_as(&self, ctx: &RequestContext, input: CreateKeyInput, manager: &str) -> Result<KeyRecord, KmsError> {
        if input.key_spec.is_some() && input.customer_master_key_spec.is_some() {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated."
                    .into(),
            ));
        }
        let requested_spec = input
            .key_spec
            .or(input.customer_master_key_spec)
            .unwrap_or_else(|| SYMMETRIC_DEFAULT.into());
        let (spec, key_usage) = key_spec::for_new_key(&requested_spec, input.key_usage.as_deref())?;
        let origin = input.origin.unwrap_or_else(|| ORIGIN_AWS_KMS.into());
        let external = origin == ORIGIN_EXTERNAL;
        if external
            && matches!(
                spec.backing,
                Backing::Pair(keyhaven_crypto::asymmetric::PairKind::MlDsa(_))
            )
        {
            return Err(KmsError::Validation(format!(
                "KeySpec {} is not supported for Origin EXTERNAL",
                spec.name
            )));
        }
        let in_store = origin == ORIGIN_AWS_CLOUDHSM;
        if in_store != input.custom_key_store_id.is_some() {
            return Err(KmsError::Validation(
                "CustomKeyStoreId must be specified with Origin AWS_CLOUDHSM, and only with it.".into(),
            ));
        }
        if origin != ORIGIN_AWS_KMS && !external && !in_store {
            return Err(KmsError::UnsupportedOperation(format!(
                "Origin {origin} is not supported by this server; external key stores are not offered."
            )));
        }
        if in_store && (spec.backing != Backing::Symmetric || input.multi_region) {
            return Err(KmsError::UnsupportedOperation(
                "Keys in a custom key store are single-Region symmetric encryption keys.".into(),
            ));
        }
        let store = input
            .custom_key_store_id
            .as_deref()
            .map(|id| self.store_for_new_key(ctx, id))
            .transpose()?;
        validate_tags(&input.tags)?;
        let explicit_policy = input.policy.is_some();
        let policy = input.policy.unwrap_or_else(|| default_key_policy(ctx.account_id()));
        let key_id = if input.multi_region {
            multi_region::new_key_id()?
        } else {
            new_key_id()?
        };
        let record = KeyRecord {
            v: RECORD_VERSION,
            revision: 1,
            key_id: key_id.clone(),
            account_id: ctx.account_id().to_string(),
            region: ctx.region.clone(),
            creation_date: self.now(),
            description: input.description.unwrap_or_default(),
            key_usage: key_usage.to_string(),
            key_spec: spec.name.to_string(),
            origin,
            key_manager: manager.to_string(),
            // An EXTERNAL key waits for its material.
            state: if external {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion_date: None,
            pending_window_days: None,
            policy,
            tags: input.tags,
            rotation: RotationSettings::default(),
            materials: match &store {
                _ if external => Vec::new(),
                Some(store) => vec![self.hsm_material(store, &key_id)?],
                None => vec![self.new_material(&key_id, spec, MaterialOrigin::Original)?],
            },
            on_demand_rotations: 0,
            import_parameters: Vec::new(),
            multi_region: input.multi_region.then(|| MultiRegion {
                primary_region: ctx.region.clone(),
                replica_regions: Vec::new(),
            }),
            custom_key_store: store.map(|s| (s.id, s.cluster_id)),
        };
        if explicit_policy {
            self.check_new_policy(
                ctx,
                &record,
                &[],
                &record.policy,
                input.bypass_policy_lockout_safety_check,
            )?;
        }
        transact(&*self.store, |tx| {
            resolve::save_key(tx, &record)?;
            if manager == MANAGER_AWS {
                self.schedule_rotation(tx, &record, self.clock.now().unix_timestamp() + 365 * SECONDS_PER_DAY)?;
            }
            Ok(())
        })?;
        Ok(record)
    }

    /// The AWS managed key `alias/aws/<service>` of the caller's account and region, created on first use.
    pub fn aws_managed_key(&self, ctx: &RequestContext, service: &str) -> Result<KeyRecord, KmsError> {
        let alias = format!("alias/aws/{service}");
        match self.resolve_unchecked(ctx, &alias) {
            Ok(record) => return Ok(record),
            Err(KmsError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let description = format!("Default key that protects my {service} data when no other key is defined");
        let mut record = self.create_key_as(
            ctx,
            CreateKeyInput {
                description: Some(description),
                policy: Some(aws_managed_key_policy(ctx.account_id(), &ctx.region, service)),
                // Nobody may change an AWS managed key's policy, so there is no lockout to check.
                bypass_policy_lockout_safety_check: true,
                ..Default::default()
            },
            MANAGER_AWS,
        )?;
        record.rotation = RotationSettings {
            enabled: true,
            period_days: DEFAULT_ROTATION_PERIOD_DAYS,
            next_rotation: Some(self.now() + f64::from(DEFAULT_ROTATION_PERIOD_DAYS) * SECONDS_PER_DAY as f64),
        };
        let scope = ctx.regional_scope();
        let now = self.now();
        // Two callers may race to create it: the first alias wins and the loser's key is deleted.
        let winner = self.write(|tx| {
            if let Some(existing) = resolve::load_alias(tx, &scope, &alias)? {
                resolve::delete_key_records(tx, &record)?;
                return Ok(existing.target_key_id);
            }
            resolve::save_key(tx, &record)?;
            let alias_record = AliasRecord {
                v: RECORD_VERSION,
                name: alias.clone(),
                target_key_id: record.key_id.clone(),
                creation_date: now,
                last_updated_date: now,
            };
            resolve::save_alias(tx, &scope, &alias_record)?;
            Ok(record.key_id.clone())
        })?;
        if winner == record.key_id {
            Ok(record)
        } else {
            self.resolve_unchecked(ctx, &winner)
        }
    }

    pub fn list_keys(
        &self,
        ctx: &RequestContext,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<KeyRecord>, KmsError> {
        self.authorize_account(ctx, "kms:ListKeys")?;
        let scope = ctx.regional_scope();
        let after = marker.map(paging::decode_token).transpose()?;
        let mut items: Vec<KeyRecord> = read(&*self.store, |tx| {
            Ok(records::list::<KeyRecord>(tx, &scope, after.as_deref(), limit + 1)?)
        })?
        .into_iter()
        .map(|(_, key)| key)
        .collect();
        let next_marker = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|k| paging::encode_token(&k.key_id))
        } else {
            None
        };
        Ok(Page { items, next_marker })
    }

    pub fn update_key_description(&self, ctx: &RequestContext, key: &str, description: String) -> Result<(), KmsError> {
        self.update_key(
            ctx,
            key,
            "kms:UpdateKeyDescription",
            KeyCheck::default(),
            |record, _| {
                require_not_pending_deletion(record)?;
                record.description = description.clone();
                Ok(())
            },
        )
    }

    pub fn enable_key(&self, ctx: &RequestContext, key: &str) -> Result<(), KmsError> {
        self.update_key(ctx, key, "kms:EnableKey", KeyCheck::default(), |record, _| {
            require_not_pending(record)?;
            record.state = KeyState::Enabled;
            Ok(())
        })
    }

    pub fn disable_key(&self, ctx: &RequestContext, key: &str) -> Result<(), KmsError> {
        self.update_key(ctx, key, "kms:DisableKey", KeyCheck::default(), |record, _| {
            require_not_pending(record)?;
            record.state = KeyState::Disabled;
            Ok(())
        })
    }

    pub fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        key: &str,
        window_days: Option<i32>,
    ) -> Result<KeyRecord, KmsError> {
        let days = window_days.unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        let bound = if days < MIN_PENDING_WINDOW_DAYS {
            Some(format!("greater than or equal to {MIN_PENDING_WINDOW_DAYS}"))
        } else {
            (days > MAX_PENDING_WINDOW_DAYS).then(|| format!("less than or equal to {MAX_PENDING_WINDOW_DAYS}"))
        };
        if let Some(bound) = bound {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}"
            )));
        }
        let now = self.clock.now().unix_timestamp();
        let request_keys = [(
            "kms:ScheduleKeyDeletionPendingWindowInDays".to_string(),
            vec![days.to_string()],
        )];
        self.update_key(
            ctx,
            key,
            "kms:ScheduleKeyDeletion",
            KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            },
            |record, tx| {
                require_not_pending_deletion(record)?;
                if record.key_manager == MANAGER_AWS {
                    return Err(KmsError::UnsupportedOperation(format!(
                        "{} is an AWS managed key; AWS managed keys cannot be deleted.",
                        record.arn()
                    )));
                }
                record.pending_window_days = Some(days);
                // A primary key waits for its replicas to be deleted first.
                if multi_region::has_replicas(record) {
                    record.state = KeyState::PendingReplicaDeletion;
                    record.deletion_date = None;
                    return Ok(record.clone());
                }
                schedule_deletion(tx, record, now)?;
                Ok(record.clone())
            },
        )
    }

    pub fn cancel_key_deletion(&self, ctx: &RequestContext, key: &str) -> Result<KeyRecord, KmsError> {
        self.update_key(ctx, key, "kms:CancelKeyDeletion", KeyCheck::default(), |record, tx| {
            if !matches!(
                record.state,
                KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
            ) {
                return Err(KmsError::InvalidState(format!(
                    "{} is not pending deletion.",
                    record.arn()
                )));
            }
            // AWS leaves a key whose deletion was cancelled disabled.
            record.state = KeyState::Disabled;
            record.deletion_date = None;
            record.pending_window_days = None;
            tx.cancel(&job_id(JOB_DELETE_KEY, record))?;
            Ok(record.clone())
        })
    }

    pub fn tag_resource(&self, ctx: &RequestContext, key: &str, tags: Vec<Tag>) -> Result<(), KmsError> {
        validate_tags(&tags)?;
        let request_keys = tags::request_keys(&tags, &[]);
        self.update_key(
            ctx,
            key,
            "kms:TagResource",
            KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            },
            |record, _| tags::upsert(&mut record.tags, &tags, &TAG_RULES).map_err(tag_error),
        )
    }

    pub fn untag_resource(&self, ctx: &RequestContext, key: &str, tag_keys: &[String]) -> Result<(), KmsError> {
        let request_keys = tags::request_keys(&[], tag_keys);
        self.update_key(
            ctx,
            key,
            "kms:UntagResource",
            KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            },
            |record, _| {
                record.tags.retain(|t| !tag_keys.contains(&t.key));
                Ok(())
            },
        )
    }

    pub fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        key: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<Tag>, KmsError> {
        let record = self.key_by_id(ctx, key, "kms:ListResourceTags")?;
        Ok(paging::by_offset(&record.tags, limit, marker)?)
    }

    pub fn get_key_policy(
        &self,
        ctx: &RequestContext,
        key: &str,
        policy_name: Option<&str>,
    ) -> Result<String, KmsError> {
        check_policy_name(policy_name)?;
        let record = self.key_by_id(ctx, key, "kms:GetKeyPolicy")?;
        Ok(record.policy)
    }

    pub fn put_key_policy(
        &self,
        ctx: &RequestContext,
        key: &str,
        policy_name: Option<&str>,
        policy: &str,
        bypass_lockout_safety_check: bool,
    ) -> Result<(), KmsError> {
        check_policy_name(policy_name)?;
        // AWS looks the key up before it reads the policy: an unknown key is NotFound whatever the policy.
        let request_keys = [(
            "kms:BypassPolicyLockoutSafetyCheck".to_string(),
            vec![bypass_lockout_safety_check.to_string()],
        )];
        let check = KeyCheck {
            request_keys: &request_keys,
            ..Default::default()
        };
        self.update_key(ctx, key, "kms:PutKeyPolicy", check, |record, tx| {
            let aliases = resolve::aliases_of_key(tx, record)?;
            self.check_new_policy(ctx, record, &aliases, policy, bypass_lockout_safety_check)?;
            require_not_pending_deletion(record)?;
            record.policy = policy.to_string();
            Ok(())
        })
    }

    pub fn list_key_policies(&self, ctx: &RequestContext, key: &str) -> Result<Vec<String>, KmsError> {
        self.key_by_id(ctx, key, "kms:ListKeyPolicies")?;
        Ok(vec!["default".into()])
    }

    pub fn create_alias(&self, ctx: &RequestContext, alias: &str, target: &str) -> Result<(), KmsError> {
        resolve::check_alias_name(alias)?;
        let target_ref = KeyRef::parse_alias_target(target, ctx)?;
        let scope = ctx.regional_scope();
        let now = self.now();
        let alias_arn = alias_arn(&ctx.region, ctx.account_id(), alias);
        self.write(|tx| {
            let record = self.alias_target(tx, ctx, &target_ref)?;
            self.authorize_alias(tx, ctx, "kms:CreateAlias", &alias_arn, &record)?;
            require_not_pending_deletion(&record)?;
            if resolve::load_alias(tx, &scope, alias)?.is_some() {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {alias_arn} already exists"
                )));
            }
            let alias_record = AliasRecord {
                v: RECORD_VERSION,
                name: alias.to_string(),
                target_key_id: record.key_id.clone(),
                creation_date: now,
                last_updated_date: now,
            };
            resolve::save_alias(tx, &scope, &alias_record)
        })
    }

    pub fn update_alias(&self, ctx: &RequestContext, alias: &str, target: &str) -> Result<(), KmsError> {
        resolve::check_alias_name(alias)?;
        let target_ref = KeyRef::parse_alias_target(target, ctx)?;
        let scope = ctx.regional_scope();
        let now = self.now();
        let alias_arn = alias_arn(&ctx.region, ctx.account_id(), alias);
        self.write(|tx| {
            let mut alias_record =
                resolve::load_alias(tx, &scope, alias)?.ok_or_else(|| resolve::alias_not_found(ctx, alias))?;
            // AWS authorises UpdateAlias on the alias and on both keys: the one it leaves and the new one.
            let current = self.alias_key(tx, ctx, &scope, &alias_record)?;
            self.authorize_alias(tx, ctx, "kms:UpdateAlias", &alias_arn, &current)?;
            let record = self.alias_target(tx, ctx, &target_ref)?;
            self.authorize_alias(tx, ctx, "kms:UpdateAlias", &alias_arn, &record)?;
            require_not_pending_deletion(&record)?;
            alias_record.target_key_id = record.key_id.clone();
            alias_record.last_updated_date = now;
            resolve::save_alias(tx, &scope, &alias_record)
        })
    }

    pub fn delete_alias(&self, ctx: &RequestContext, alias: &str) -> Result<(), KmsError> {
        if !alias.starts_with("alias/") {
            return Err(KmsError::Validation(resolve::ALIAS_PREFIX_MESSAGE.into()));
        }
        if alias.starts_with("alias/aws/") {
            return Err(KmsError::NotAuthorized(format!(
                "Cannot delete AWS managed alias {alias}"
            )));
        }
        let scope = ctx.regional_scope();
        let alias_arn = alias_arn(&ctx.region, ctx.account_id(), alias);
        self.write(|tx| {
            let existing =
                resolve::load_alias(tx, &scope, alias)?.ok_or_else(|| resolve::alias_not_found(ctx, alias))?;
            let record = self.alias_key(tx, ctx, &scope, &existing)?;
            self.authorize_alias(tx, ctx, "kms:DeleteAlias", &alias_arn, &record)?;
            records::delete::<AliasRecord>(tx, &scope, alias)?;
            Ok(())
        })
    }

    /// The key an alias is to point at: it must be in the caller's own account and Region.
    fn alias_target(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        target: &KeyRef,
    ) -> Result<KeyRecord, KmsError> {
        let record = resolve::resolve_in(tx, target)?;
        if record.account_id != ctx.account_id() || record.region != ctx.region {
            return Err(target.not_found());
        }
        Ok(record)
    }

    /// The key an existing alias points at.
    fn alias_key(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        scope: &str,
        alias: &AliasRecord,
    ) -> Result<KeyRecord, KmsError> {
        resolve::load_key(tx, scope, &alias.target_key_id)?.ok_or_else(|| resolve::alias_not_found(ctx, &alias.name))
    }

    /// An alias action: IAM policies on the alias ARN, and IAM and key policy on the key.
    fn authorize_alias(
        &self,
        tx: &mut dyn Transaction,
        ctx: &RequestContext,
        action: &str,
        alias_arn: &str,
        record: &KeyRecord,
    ) -> Result<(), KmsError> {
        let check = KeyCheck {
            alias: Some(alias_arn),
            ..Default::default()
        };
        self.authorize_in(tx, ctx, action, record, &parse_key_policy(record)?, check)
    }

    /// ListAliases. Without a key, AWS's predefined aliases of AWS managed keys are listed too, without a target
    /// until the key behind one is created (AWS: "aliases that AWS has created but has not yet associated with a
    /// KMS key"); all in name order.
    pub fn list_aliases(
        &self,
        ctx: &RequestContext,
        key: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<ListedAlias>, KmsError> {
        self.authorize_account(ctx, "kms:ListAliases")?;
        let scope = ctx.regional_scope();
        let filter = match key {
            Some(key) => {
                let key_ref = KeyRef::parse_key_only(key, ctx)?;
                Some(read(&*self.store, |tx| resolve::resolve_in(tx, &key_ref))?.key_id)
            }
            None => None,
        };
        let aliases = read(&*self.store, |tx| resolve::aliases(tx, &scope))?;
        let mut all: Vec<ListedAlias> = aliases
            .into_iter()
            .filter(|alias| filter.as_ref().is_none_or(|k| *k == alias.target_key_id))
            .map(|alias| ListedAlias {
                name: alias.name.clone(),
                record: Some(alias),
            })
            .collect();
        if filter.is_none() {
            let missing: Vec<ListedAlias> = PREDEFINED_ALIASES
                .iter()
                .filter(|name| !all.iter().any(|a| a.name == **name))
                .map(|name| ListedAlias {
                    name: (*name).to_string(),
                    record: None,
                })
                .collect();
            all.extend(missing);
            all.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(paging::by_offset(&all, limit, marker)?)
    }

    /// The key is enabled, has `usage`, and (for encryption) offers `algorithm` (SYMMETRIC_DEFAULT if none).
    fn check_usable(&self, live: &LiveKey, algorithm: Option<&str>, operation: &str) -> Result<(), KmsError> {
        check_usage(&live.record, ENCRYPT_DECRYPT, operation)?;
        let algorithm = algorithm.unwrap_or(SYMMETRIC_DEFAULT);
        if live
            .spec
            .encryption_algorithms(&live.record.key_usage)
            .contains(&algorithm)
        {
            Ok(())
        } else {
            Err(KmsError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                live.record.key_spec
            )))
        }
    }

    fn seal_with(&self, live: &LiveKey, plaintext: &[u8], context: &EncryptionContext) -> Result<Encrypted, KmsError> {
        if live.record.custom_key_store.is_some() {
            return self.hsm_seal(&live.record, plaintext, context);
        }
        let (material, header) = current_header(&live.record)?;
        let secret = live
            .materials
            .get(&header.material_id)
            .ok_or_else(|| KmsError::Internal("material not unsealed".into()))?;
        let ciphertext = blob::seal(secret.expose(), &header, plaintext, context)?;
        Ok(Encrypted {
            ciphertext,
            key_arn: live.record.arn(),
            material_id: material.id.clone(),
        })
    }

    pub fn encrypt(
        &self,
        ctx: &RequestContext,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: Option<&str>,
        dry_run: bool,
    ) -> Result<Encrypted, KmsError> {
        let live = self.live_checked(ctx, key, "kms:Encrypt", Some(context), &algorithm_key(algorithm))?;
        self.check_usable(&live, algorithm, "Encrypt")?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        self.seal_any(&live, plaintext, context, algorithm)
    }

    /// Encrypts under `live` with `algorithm`, which [`Self::check_usable`] has accepted.
    fn seal_any(
        &self,
        live: &LiveKey,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: Option<&str>,
    ) -> Result<Encrypted, KmsError> {
        match (&live.pair, algorithm) {
            (Some((_, verifier)), Some(algorithm)) => {
                asymmetric::rsa_encrypt(live, verifier.der(), plaintext, context, algorithm)
            }
            _ => self.seal_with(live, plaintext, context),
        }
    }

    /// Decrypts a symmetric blob, or with an asymmetric `algorithm` an RSA-OAEP ciphertext under `key`.
    #[allow(clippy::too_many_arguments)]
    fn open_any(
        &self,
        ctx: &RequestContext,
        action: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key: Option<&str>,
        algorithm: Option<&str>,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        match algorithm.filter(|a| *a != SYMMETRIC_DEFAULT) {
            Some(algorithm) => self.rsa_decrypt(ctx, action, ciphertext, context, key, algorithm, dry_run),
            None => self.open_blob(ctx, action, ciphertext, context, key, algorithm, dry_run),
        }
    }

    /// Finds the key a blob names, checks it against an optional `expected` key reference, decrypts.
    #[allow(clippy::too_many_arguments)]
    fn open_blob(
        &self,
        ctx: &RequestContext,
        action: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
        expected: Option<&str>,
        algorithm: Option<&str>,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        let header = blob::parse_header(ciphertext).map_err(|_| KmsError::InvalidCiphertext)?;
        let uuid = keyhaven_kernel::ids::uuid_string(&header.key_id);
        let multi_region = format!("{MULTI_REGION_PREFIX}{}", hex::encode(header.key_id));
        let hit = self
            .cached(&ctx.region, &uuid)
            .or_else(|| self.cached(&ctx.region, &multi_region));
        let live = match hit {
            Some(hit) => hit,
            None => {
                let (key_id, scope) = read(&*self.store, |tx| resolve::key_of_blob(tx, &header.key_id, &ctx.region))?
                    .ok_or(KmsError::InvalidCiphertext)?;
                self.live(&scope, &key_id)?.ok_or(KmsError::InvalidCiphertext)?
            }
        };
        if action == "kms:Decrypt" {
            self.throttle(ctx, quotas::cryptographic_quota(live.spec))?;
        }
        let request_keys = algorithm_key(algorithm);
        let check = KeyCheck {
            requested_as: expected,
            context: Some(context),
            aliases: Some(&live.aliases),
            request_keys: &request_keys,
            ..Default::default()
        };
        self.authorize_with_context(ctx, action, &live.record, &live.policy, check)?;
        if let Some(expected) = expected {
            let wanted = self
                .live_by_ref(ctx, expected, action, Some(context))
                .map_err(|e| match e {
                    KmsError::NotFound(_) => incorrect_key(),
                    other => other,
                })?;
            if wanted.record.key_id != live.record.key_id {
                return Err(incorrect_key());
            }
        }
        if live.record.region != ctx.region {
            return Err(KmsError::InvalidCiphertext);
        }
        self.check_usable(&live, algorithm, "Decrypt")?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = if live.record.custom_key_store.is_some() {
            self.hsm_open(&live.record, &header.material_id, ciphertext, context)?
        } else {
            let secret = live
                .materials
                .get(&header.material_id)
                .ok_or(KmsError::InvalidCiphertext)?;
            blob::open(secret.expose(), ciphertext, context)?
        };
        Ok(Decrypted {
            plaintext,
            key_arn: live.record.arn(),
            material_id: hex::encode(header.material_id),
        })
    }

    pub fn decrypt(
        &self,
        ctx: &RequestContext,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key: Option<&str>,
        algorithm: Option<&str>,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        self.open_any(ctx, "kms:Decrypt", ciphertext, context, key, algorithm, dry_run)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn re_encrypt(
        &self,
        ctx: &RequestContext,
        ciphertext: &[u8],
        source_context: &EncryptionContext,
        source_key: Option<&str>,
        destination_key: &str,
        destination_context: &EncryptionContext,
        algorithms: (Option<&str>, Option<&str>),
        dry_run: bool,
    ) -> Result<ReEncrypted, KmsError> {
        let destination = self.live_checked(
            ctx,
            destination_key,
            "kms:ReEncryptTo",
            Some(destination_context),
            &algorithm_key(algorithms.1),
        )?;
        self.check_usable(&destination, algorithms.1, "ReEncrypt")?;
        let source = self.open_any(
            ctx,
            "kms:ReEncryptFrom",
            ciphertext,
            source_context,
            source_key,
            algorithms.0,
            dry_run,
        )?;
        let sealed = self.seal_any(
            &destination,
            source.plaintext.expose(),
            destination_context,
            algorithms.1,
        )?;
        Ok(ReEncrypted {
            ciphertext: sealed.ciphertext,
            source_key_arn: source.key_arn,
            source_material_id: source.material_id,
            destination_key_arn: sealed.key_arn,
            destination_material_id: sealed.material_id,
        })
    }

    /// GenerateDataKey: a fresh data key and its ciphertext under `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn generate_data_key(
        &self,
        ctx: &RequestContext,
        action: &str,
        key: &str,
        context: &EncryptionContext,
        number_of_bytes: Option<i32>,
        key_spec: Option<&str>,
        dry_run: bool,
    ) -> Result<(SecretBytes, Encrypted), KmsError> {
        let length = match (number_of_bytes, key_spec) {
            (Some(n), None) => {
                usize::try_from(n).map_err(|_| KmsError::Validation("NumberOfBytes is out of range.".into()))?
            }
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            (None, Some(other)) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                )));
            }
            _ => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
        };
        let live = self.live_by_ref(ctx, key, action, Some(context))?;
        self.check_usable(&live, None, "GenerateDataKey")?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let data_key = keyhaven_crypto::random_bytes(length)?;
        let sealed = self.seal_with(&live, data_key.expose(), context)?;
        Ok((data_key, sealed))
    }

    /// GenerateRandom, from the system's generator or a custom key store's token.
    pub fn generate_random(
        &self,
        ctx: &RequestContext,
        number_of_bytes: Option<i32>,
        custom_key_store_id: Option<&str>,
    ) -> Result<SecretBytes, KmsError> {
        self.throttle(ctx, quotas::SYMMETRIC)?;
        self.authorize_account(ctx, "kms:GenerateRandom")?;
        let n = number_of_bytes.ok_or_else(|| KmsError::Validation("NumberOfBytes is required.".into()))?;
        let n = usize::try_from(n).map_err(|_| KmsError::Validation("NumberOfBytes is out of range.".into()))?;
        match custom_key_store_id {
            Some(store) => self.hsm_random(ctx, store, n),
            None => Ok(keyhaven_crypto::random_bytes(n)?),
        }
    }

    fn schedule_rotation(&self, tx: &mut dyn Transaction, record: &KeyRecord, due_at: i64) -> Result<(), KmsError> {
        Ok(tx.schedule(&Job {
            id: job_id(JOB_ROTATE_KEY, record),
            due_at,
            kind: JOB_ROTATE_KEY.into(),
            payload: job_subject(record).into_bytes(),
        })?)
    }

    pub fn enable_key_rotation(
        &self,
        ctx: &RequestContext,
        key: &str,
        period_days: Option<i32>,
    ) -> Result<(), KmsError> {
        let period = period_days.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        let now = self.clock.now().unix_timestamp();
        self.update_key(ctx, key, "kms:EnableKeyRotation", KeyCheck::default(), |record, tx| {
            multi_region::require_primary(record, "EnableKeyRotation")?;
            require_enabled(record)?;
            require_symmetric_customer_key(record)?;
            // KMS cannot make new material for an imported key.
            if record.origin != ORIGIN_AWS_KMS {
                return Err(KmsError::UnsupportedOperation(format!(
                    "{} origin is {} which is not valid for this operation.",
                    record.arn(),
                    record.origin
                )));
            }
            let due = now + i64::from(period) * SECONDS_PER_DAY;
            record.rotation = RotationSettings {
                enabled: true,
                period_days: period,
                next_rotation: Some(due as f64),
            };
            self.schedule_rotation(tx, record, due)?;
            multi_region::sync(tx, record)
        })
    }

    pub fn disable_key_rotation(&self, ctx: &RequestContext, key: &str) -> Result<(), KmsError> {
        self.update_key(ctx, key, "kms:DisableKeyRotation", KeyCheck::default(), |record, tx| {
            multi_region::require_primary(record, "DisableKeyRotation")?;
            require_enabled(record)?;
            require_customer_key(record)?;
            // AWS accepts it on keys that never rotate automatically (HMAC, asymmetric): nothing changes.
            if record.key_spec != SYMMETRIC_DEFAULT {
                return Ok(());
            }
            record.rotation = RotationSettings {
                enabled: false,
                period_days: record.rotation.period_days,
                next_rotation: None,
            };
            tx.cancel(&job_id(JOB_ROTATE_KEY, record))?;
            multi_region::sync(tx, record)
        })
    }

    pub fn key_rotation_status(&self, ctx: &RequestContext, key: &str) -> Result<RotationStatus, KmsError> {
        let record = self.key_by_id(ctx, key, "kms:GetKeyRotationStatus")?;
        require_not_pending_deletion(&record)?;
        let enabled = record.rotation.enabled;
        Ok(RotationStatus {
            key_arn: record.arn(),
            enabled,
            period_days: enabled.then_some(record.rotation.period_days),
            next_rotation: if enabled { record.rotation.next_rotation } else { None },
        })
    }

    pub fn rotate_key_on_demand(&self, ctx: &RequestContext, key: &str) -> Result<String, KmsError> {
        let now = self.now();
        self.update_key(ctx, key, "kms:RotateKeyOnDemand", KeyCheck::default(), |record, tx| {
            multi_region::require_primary(record, "RotateKeyOnDemand")?;
            require_enabled(record)?;
            require_symmetric_customer_key(record)?;
            if record.origin == ORIGIN_AWS_CLOUDHSM {
                return Err(KmsError::UnsupportedOperation(format!(
                    "{} origin is {} which is not valid for this operation.",
                    record.arn(),
                    record.origin
                )));
            }
            if record.origin == ORIGIN_EXTERNAL {
                // Imported keys rotate to material imported for the purpose (ImportType NEW_KEY_MATERIAL), once
                // every replica of a multi-Region key has imported it too.
                multi_region::require_replicas_imported(tx, record)?;
                import::rotate_to_pending(record, now)?;
                multi_region::sync(tx, record)?;
                return Ok(record.arn());
            }
            if record.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::LimitExceeded(format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    record.arn()
                )));
            }
            let spec = key_spec::of(&record.key_spec)?;
            record.materials.push(self.new_material(&record.key_id, spec, MaterialOrigin::OnDemand)?);
            record.on_demand_rotations += 1;
            multi_region::sync(tx, record)?;
            Ok(record.arn())
        })
    }

    pub fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        key: &str,
        listing: RotationListing,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<RotationEntry>, KmsError> {
        let record = self.key_by_id(ctx, key, "kms:ListKeyRotations")?;
        require_not_pending_deletion(&record)?;
        let current = record.current_material().map(|m| m.id.clone());
        let entries: Vec<RotationEntry> = record
            .materials
            .iter()
            .filter(|m| listing == RotationListing::AllKeyMaterial || rotation_of(m).is_some())
            .map(|m| RotationEntry {
                key_arn: record.arn(),
                material_id: m.id.clone(),
                rotation_date: rotation_of(m).map(|(date, _)| date),
                rotation_type: rotation_of(m).map(|(_, kind)| kind),
                state: if current.as_deref() == Some(m.id.as_str()) {
                    "CURRENT"
                } else if m.pending_rotation() {
                    "PENDING_ROTATION"
                } else {
                    "NON_CURRENT"
                },
                imported: m.imported.clone().map(|i| (i, !m.sealed.is_empty())),
            })
            .collect();
        Ok(paging::by_offset(&entries, limit, marker)?)
    }

    /// Runs one due scheduler job of a KMS kind. Unknown keys (already deleted) are not an error.
    /// Runs a scheduled key deletion or rotation; answers the CloudTrail service events of what it did
    /// (`DeleteKey`, `RotateKey`).
    pub fn run_job(&self, job: &Job) -> Result<Vec<ServiceEvent>, KmsError> {
        let subject = String::from_utf8_lossy(&job.payload).to_string();
        // A multi-Region key's jobs name the member's Region too.
        let (key_id, region) = match subject.split_once('@') {
            Some((key_id, region)) => (key_id.to_string(), Some(region.to_string())),
            None => (subject, None),
        };
        let now = self.clock.now();
        let now_seconds = now.unix_timestamp();
        let mut events = Vec::new();
        let done = self.write(|tx| {
            events.clear();
            tx.cancel(&job.id)?;
            let Some(indexed) = resolve::key_scope(tx, &key_id)? else {
                return Ok(());
            };
            let scope = match (&region, indexed.split_once(':')) {
                (Some(region), Some((account, _))) => keyhaven_kernel::context::regional_scope(account, region),
                _ => indexed,
            };
            let Some(mut record) = resolve::load_key(tx, &scope, &key_id)? else {
                return Ok(());
            };
            let about = |record: &KeyRecord, name: &str, data: serde_json::Value| {
                let key = AuditResource {
                    arn: record.arn(),
                    resource_type: "AWS::KMS::Key",
                    account_id: record.account_id.clone(),
                };
                ServiceEvent::about(SERVICE_PRINCIPAL, name, now, key, data)
            };
            match job.kind.as_str() {
                JOB_DELETE_KEY => {
                    if record.state == KeyState::PendingDeletion
                        && record.deletion_date.is_some_and(|d| d as i64 <= now_seconds)
                    {
                        if record.custom_key_store.is_some() {
                            self.hsm_destroy(&record);
                        }
                        resolve::delete_key_records(tx, &record)?;
                        tx.cancel(&job_id(JOB_ROTATE_KEY, &record))?;
                        multi_region::member_deleted(tx, &record, now_seconds)?;
                        events.push(about(
                            &record,
                            "DeleteKey",
                            serde_json::json!({ "keyId": record.key_id }),
                        )?);
                    }
                }
                JOB_ROTATE_KEY => {
                    if !record.rotation.enabled {
                        return Ok(());
                    }
                    if record.state == KeyState::Enabled {
                        let spec = key_spec::of(&record.key_spec)?;
                        let material = self.new_material(&record.key_id, spec, MaterialOrigin::Automatic)?;
                        events.push(about(
                            &record,
                            "RotateKey",
                            serde_json::json!({ "keyId": record.key_id, "keyMaterialId": material.id }),
                        )?);
                        record.materials.push(material);
                    }
                    let next = job.due_at.max(now_seconds - SECONDS_PER_DAY)
                        + i64::from(record.rotation.period_days) * SECONDS_PER_DAY;
                    record.rotation.next_rotation = Some(next as f64);
                    record.revision += 1;
                    resolve::save_key(tx, &record)?;
                    self.schedule_rotation(tx, &record, next)?;
                    multi_region::sync(tx, &record)?;
                }
                JOB_EXPIRE_MATERIAL => {
                    let material_id = job.id.rsplit('/').next().unwrap_or_default();
                    if import::expire(&mut record, material_id, now_seconds as f64) {
                        events.push(about(
                            &record,
                            "DeleteExpiredKeyMaterial",
                            serde_json::json!({ "keyId": record.key_id, "keyMaterialId": material_id }),
                        )?);
                        record.revision += 1;
                        resolve::save_key(tx, &record)?;
                    }
                }
                other => return Err(KmsError::Internal(format!("unknown KMS job kind {other}"))),
            }
            Ok(())
        });
        done.map(|()| events)
    }
}

/// A key's policy, parsed with the rules of resource policies.
fn parse_key_policy(record: &KeyRecord) -> Result<PolicyDocument, KmsError> {
    PolicyDocument::parse_as(&record.policy, PolicyKind::Resource)
        .map_err(|e| KmsError::Internal(format!("stored key policy of {} does not parse: {e}", record.key_id)))
}

fn require_symmetric_customer_key(record: &KeyRecord) -> Result<(), KmsError> {
    if record.key_spec != SYMMETRIC_DEFAULT {
        return Err(KmsError::UnsupportedOperation(String::new()));
    }
    require_customer_key(record)
}

fn require_customer_key(record: &KeyRecord) -> Result<(), KmsError> {
    if record.key_manager == MANAGER_AWS {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} is an AWS managed key; its rotation is managed by AWS.",
            record.arn()
        )));
    }
    Ok(())
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".into())),
    }
}

fn incorrect_key() -> KmsError {
    KmsError::IncorrectKey("The key ID in the request does not identify a CMK that can perform this operation.".into())
}

/// KMS's tag limits.
const TAG_RULES: TagRules = TagRules::at_most_50(true, KeyCase::Sensitive);

fn validate_tags(tags: &[Tag]) -> Result<(), KmsError> {
    tags::check(tags, &TAG_RULES).map_err(tag_error)
}

fn tag_error(violation: TagViolation) -> KmsError {
    KmsError::Tag(
        match violation {
            TagViolation::TooMany => "Too many tags",
            TagViolation::ReservedPrefix => "Tags beginning with aws: are reserved",
            TagViolation::DuplicateKey => "Duplicate tag keys",
        }
        .into(),
    )
}

#[cfg(test)]
mod tests;

/// Test support for this crate and the services whose tests run through KMS.
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use std::sync::Arc;

    use keyhaven_kernel::testing::Harness;
    pub use keyhaven_kernel::testing::{ACCOUNT, START, ctx};
    use keyhaven_store::testing::TempDir;

    use crate::Kms;

    /// KMS on `harness`'s store, clock, root key and authoriser, its jobs registered.
    pub fn kms_on(harness: &Harness) -> Arc<Kms> {
        let kms = Arc::new(Kms::new(
            harness.store.clone(),
            harness.root.clone(),
            harness.clock.clone(),
            harness.authz.clone(),
        ));
        harness.scheduler.register("kms", kms.clone());
        kms
    }

    /// KMS on a test harness.
    pub struct Fixture {
        pub harness: Harness,
        pub kms: Arc<Kms>,
    }

    impl std::ops::Deref for Fixture {
        type Target = Harness;
        fn deref(&self) -> &Harness {
            &self.harness
        }
    }

    pub fn core() -> (TempDir, Fixture) {
        let (dir, harness) = Harness::new();
        let kms = kms_on(&harness);
        (dir, Fixture { harness, kms })
    }

    pub fn service_events(core: &Fixture) -> Vec<(String, String, String)> {
        core.harness.service_events()
    }
}
