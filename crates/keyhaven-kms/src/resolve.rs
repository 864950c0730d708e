//! Naming KMS keys: parsing key ids, key ARNs, alias names and alias ARNs, and loading what they name.

use keyhaven_store::Transaction;

use keyhaven_kernel::records;

use super::model::{AliasRecord, KeyRecord, KeyScope, MULTI_REGION_PREFIX, alias_arn, key_arn};
use crate::error::KmsError;
use keyhaven_kernel::context::{RequestContext, regional_scope};

pub const ALIAS_PREFIX_MESSAGE: &str = "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";

/// What a `KeyId` member names, with the scope it must be looked up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Key { scope: String, key_id: String, arn: String },
    Alias { scope: String, name: String, arn: String },
}

/// A key id: a UUID, or a multi-Region key's `mrk-` and 32 hex digits.
fn is_key_id(s: &str) -> bool {
    match s.strip_prefix(MULTI_REGION_PREFIX) {
        Some(hex) => hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => is_key_uuid(s),
    }
}

fn is_key_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lengths)
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl KeyRef {
    /// Parses a key id, key ARN, alias name or alias ARN. Errors are AWS's NotFoundException texts.
    pub fn parse(input: &str, ctx: &RequestContext) -> Result<Self, KmsError> {
        if let Some(rest) = input.strip_prefix("arn:") {
            return Self::parse_arn(input, rest, ctx);
        }
        if input.starts_with("alias/") {
            return Ok(KeyRef::Alias {
                scope: ctx.regional_scope(),
                name: input.to_string(),
                arn: alias_arn(&ctx.region, ctx.account_id(), input),
            });
        }
        if is_key_id(input) {
            let key_id = input.to_ascii_lowercase();
            return Ok(KeyRef::Key {
                scope: ctx.regional_scope(),
                arn: key_arn(&ctx.region, ctx.account_id(), &key_id),
                key_id,
            });
        }
        Err(KmsError::NotFound(format!("Invalid keyId '{input}'")))
    }

    /// Like [`KeyRef::parse`] but refuses aliases: the operations whose `KeyId` takes only a key id
    /// or key ARN (management operations) answer an alias as an invalid key id.
    pub fn parse_key_only(input: &str, ctx: &RequestContext) -> Result<Self, KmsError> {
        match Self::parse(input, ctx)? {
            KeyRef::Alias { .. } => Err(KmsError::NotFound(format!("Invalid keyId '{input}'"))),
            key => Ok(key),
        }
    }

    /// An alias's target: a key id or key ARN, never another alias.
    pub fn parse_alias_target(input: &str, ctx: &RequestContext) -> Result<Self, KmsError> {
        match Self::parse(input, ctx)? {
            KeyRef::Alias { .. } => Err(KmsError::Validation("Aliases must refer to keys. Not aliases".into())),
            key => Ok(key),
        }
    }

    fn parse_arn(input: &str, rest: &str, ctx: &RequestContext) -> Result<Self, KmsError> {
        let invalid = || KmsError::NotFound(format!("Invalid arn {input}"));
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = parts.as_slice() else {
            return Err(invalid());
        };
        if !partition.starts_with("aws")
            || *service != "kms"
            || account.len() != 12
            || !account.chars().all(|c| c.is_ascii_digit())
        {
            return Err(invalid());
        }
        if *region != ctx.region {
            return Err(KmsError::NotFound(format!("Invalid arn {region}")));
        }
        let scope = regional_scope(account, region);
        if let Some(key_id) = resource.strip_prefix("key/") {
            if !is_key_id(key_id) {
                return Err(KmsError::NotFound(format!("Invalid keyId '{input}'")));
            }
            let key_id = key_id.to_ascii_lowercase();
            return Ok(KeyRef::Key {
                scope,
                arn: key_arn(region, account, &key_id),
                key_id,
            });
        }
        if resource.starts_with("alias/") {
            return Ok(KeyRef::Alias {
                scope,
                name: resource.to_string(),
                arn: input.to_string(),
            });
        }
        Err(invalid())
    }

    /// The NotFoundException for this reference when nothing is there.
    pub fn not_found(&self) -> KmsError {
        match self {
            KeyRef::Key { arn, .. } => KmsError::NotFound(format!("Key '{arn}' does not exist")),
            KeyRef::Alias { arn, .. } => KmsError::NotFound(format!("Alias {arn} is not found.")),
        }
    }
}

pub fn scope_of(record: &KeyRecord) -> String {
    regional_scope(&record.account_id, &record.region)
}

pub fn load_key(tx: &mut dyn Transaction, scope: &str, key_id: &str) -> Result<Option<KeyRecord>, KmsError> {
    Ok(records::get(tx, scope, key_id)?)
}

/// Saves a key and its entry in the global key-scope index.
pub fn save_key(tx: &mut dyn Transaction, record: &KeyRecord) -> Result<(), KmsError> {
    let scope = scope_of(record);
    records::put(tx, &scope, &record.key_id, record)?;
    Ok(records::put(tx, "", &record.key_id, &KeyScope(scope))?)
}

/// The scope (account:region) of the key `key_id`, from the global index.
pub fn key_scope(tx: &mut dyn Transaction, key_id: &str) -> Result<Option<String>, KmsError> {
    Ok(records::get::<KeyScope>(tx, "", key_id)?.map(|scope| scope.0))
}

/// The key a ciphertext blob's 16 key-id bytes name, as seen from `region`: a key by its UUID, or the member in
/// `region` of the multi-Region key with those bytes (whose index entry names its account). Answers its id and scope.
pub fn key_of_blob(
    tx: &mut dyn Transaction,
    key_bytes: &[u8; 16],
    region: &str,
) -> Result<Option<(String, String)>, KmsError> {
    let uuid = keyhaven_kernel::ids::uuid_string(key_bytes);
    if let Some(scope) = key_scope(tx, &uuid)? {
        return Ok(Some((uuid, scope)));
    }
    let multi_region = format!("{MULTI_REGION_PREFIX}{}", hex::encode(key_bytes));
    Ok(key_scope(tx, &multi_region)?.map(|scope| {
        let account = scope.split_once(':').map_or(scope.as_str(), |(account, _)| account);
        let scope = regional_scope(account, region);
        (multi_region, scope)
    }))
}

/// Every alias of `scope`.
pub fn aliases(tx: &mut dyn Transaction, scope: &str) -> Result<Vec<AliasRecord>, KmsError> {
    Ok(records::all::<AliasRecord>(tx, scope)?
        .into_iter()
        .map(|(_, alias)| alias)
        .collect())
}

/// The names of the aliases that point at `record`, read in `tx`.
pub fn aliases_of_key(tx: &mut dyn Transaction, record: &KeyRecord) -> Result<Vec<String>, KmsError> {
    Ok(aliases(tx, &scope_of(record))?
        .into_iter()
        .filter(|alias| alias.target_key_id == record.key_id)
        .map(|alias| alias.name)
        .collect())
}

/// Removes a key, its scope index entry (unless other Regions keep the multi-Region key), its grants and every
/// alias that points at it.
pub fn delete_key_records(tx: &mut dyn Transaction, record: &KeyRecord) -> Result<(), KmsError> {
    let scope = scope_of(record);
    records::delete::<KeyRecord>(tx, &scope, &record.key_id)?;
    let others_remain = record.multi_region.as_ref().is_some_and(|m| {
        std::iter::once(&m.primary_region)
            .chain(&m.replica_regions)
            .any(|r| *r != record.region)
    });
    if !others_remain {
        records::delete::<KeyScope>(tx, "", &record.key_id)?;
    }
    crate::grants::delete_all(tx, record)?;
    crate::usage::forget(tx, record)?;
    for alias in aliases(tx, &scope)? {
        if alias.target_key_id == record.key_id {
            records::delete::<AliasRecord>(tx, &scope, &alias.name)?;
        }
    }
    Ok(())
}

pub fn load_alias(tx: &mut dyn Transaction, scope: &str, name: &str) -> Result<Option<AliasRecord>, KmsError> {
    Ok(records::get(tx, scope, name)?)
}

pub fn save_alias(tx: &mut dyn Transaction, scope: &str, alias: &AliasRecord) -> Result<(), KmsError> {
    Ok(records::put(tx, scope, &alias.name, alias)?)
}

pub fn alias_not_found(ctx: &RequestContext, name: &str) -> KmsError {
    KmsError::NotFound(format!(
        "Alias {} is not found.",
        alias_arn(&ctx.region, ctx.account_id(), name)
    ))
}

/// Loads the key a reference names, following an alias.
pub fn resolve_in(tx: &mut dyn Transaction, key_ref: &KeyRef) -> Result<KeyRecord, KmsError> {
    match key_ref {
        KeyRef::Key { scope, key_id, .. } => load_key(tx, scope, key_id)?.ok_or_else(|| key_ref.not_found()),
        KeyRef::Alias { scope, name, .. } => {
            let alias = load_alias(tx, scope, name)?.ok_or_else(|| key_ref.not_found())?;
            load_key(tx, scope, &alias.target_key_id)?.ok_or_else(|| key_ref.not_found())
        }
    }
}

/// CreateAlias/UpdateAlias name rules beyond the model's pattern, with AWS's errors.
pub fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") {
        return Err(KmsError::Validation(ALIAS_PREFIX_MESSAGE.into()));
    }
    if name.starts_with("alias/aws/") {
        // AWS answers the reserved prefix with an empty message.
        return Err(KmsError::NotAuthorized(String::new()));
    }
    if name.contains(':') {
        return Err(KmsError::Validation(format!(
            "{name} contains invalid characters for an alias"
        )));
    }
    Ok(())
}
