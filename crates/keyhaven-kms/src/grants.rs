//! KMS grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant, and the question every
//! authorisation of a key asks them: does a grant on the key allow this operation to this caller with this
//! encryption context?
//!
//! Grants are kept in the scope `<key scope>/<key id>` (one listing gives a key's grants, which the key cache holds
//! beside the key) and indexed by retiring principal. A grant is effective as soon as CreateGrant returns, so a
//! grant token is needed only to name a grant to RetireGrant; tokens in other requests are accepted and not needed.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use keyhaven_kernel::context::{PrincipalKind, RequestContext};
use keyhaven_kernel::paging::{self, Page};
use keyhaven_kernel::records;
use keyhaven_store::Transaction;

use crate::error::read;
use crate::key_spec::{Backing, GENERATE_VERIFY_MAC, KEY_AGREEMENT, SIGN_VERIFY};
use crate::model::{ENCRYPT_DECRYPT, GrantConstraint, GrantRecord, KeyRecord, RECORD_VERSION, RetirableGrant};
use crate::{KeyCheck, KeyRef, Kms, KmsError, parse_key_policy, require_enabled, resolve};
use keyhaven_policy::{PolicyDocument, PolicyKind};

/// Operations every grant may include, whatever the key.
const ANY_KEY: &[&str] = &["CreateGrant", "RetireGrant", "DescribeKey"];
/// The operations that take an encryption context: the only ones a constraint can restrict.
const TAKES_CONTEXT: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
];

/// The grant operations a key of this spec and usage supports (AWS KMS Developer Guide, "Grant operations").
fn key_operations(record: &KeyRecord) -> &'static [&'static str] {
    let backing = crate::key_spec::of(&record.key_spec).map(|s| s.backing).ok();
    match (backing, record.key_usage.as_str()) {
        (Some(Backing::Symmetric), _) => TAKES_CONTEXT,
        (Some(Backing::Pair(_)), ENCRYPT_DECRYPT) => {
            &["Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"]
        }
        (Some(Backing::Pair(_)), SIGN_VERIFY) => &["Sign", "Verify", "GetPublicKey"],
        (Some(Backing::Pair(_)), KEY_AGREEMENT) => &["DeriveSharedSecret", "GetPublicKey"],
        (Some(Backing::Hmac(_)), GENERATE_VERIFY_MAC) => &["GenerateMac", "VerifyMac"],
        _ => &[],
    }
}

/// Where a key's grants are kept.
fn grant_scope(record: &KeyRecord) -> String {
    format!("{}/{}", resolve::scope_of(record), record.key_id)
}

/// Every grant on a key, oldest id first.
pub(crate) fn of_key(tx: &mut dyn Transaction, record: &KeyRecord) -> Result<Vec<GrantRecord>, KmsError> {
    Ok(records::all::<GrantRecord>(tx, &grant_scope(record))?
        .into_iter()
        .map(|(_, grant)| grant)
        .collect())
}

/// Removes every grant on a key (the key is being deleted).
pub(crate) fn delete_all(tx: &mut dyn Transaction, record: &KeyRecord) -> Result<(), KmsError> {
    for grant in of_key(tx, record)? {
        remove(tx, record, &grant)?;
    }
    Ok(())
}

fn remove(tx: &mut dyn Transaction, record: &KeyRecord, grant: &GrantRecord) -> Result<(), KmsError> {
    let scope = grant_scope(record);
    records::delete::<GrantRecord>(tx, &scope, &grant.grant_id)?;
    if let Some(retiring) = &grant.retiring_principal {
        records::delete::<RetirableGrant>(tx, retiring, &format!("{scope}|{}", grant.grant_id))?;
    }
    Ok(())
}

/// Whether the caller is a grant's grantee: its own ARN, the role of its role session, or its account's root.
fn is_grantee(principal: &str, ctx: &RequestContext) -> bool {
    let caller = &ctx.principal;
    principal == caller.arn
        || caller.role.as_ref().is_some_and(|role| role.role_arn == principal)
        || (caller.kind == PrincipalKind::Root && principal == format!("arn:aws:iam::{}:root", caller.account_id))
}

/// A principal a grant can name: an account, IAM user or role, role session or federated user ARN, or an AWS
/// service principal.
fn is_principal(text: &str) -> bool {
    if let Some(service) = text.strip_suffix(".amazonaws.com") {
        return !service.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    }
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let resource_ok = match service {
        "iam" => {
            resource == "root"
                || ["user/", "role/"]
                    .iter()
                    .any(|p| resource.len() > p.len() && resource.starts_with(p))
        }
        "sts" => ["assumed-role/", "federated-user/"]
            .iter()
            .any(|p| resource.len() > p.len() && resource.starts_with(p)),
        _ => false,
    };
    arn == "arn" && partition.starts_with("aws") && region.is_empty() && account_ok && resource_ok
}

fn principal_of(grantee: &str) -> serde_json::Value {
    if grantee.starts_with("arn:") {
        serde_json::json!({ "AWS": grantee })
    } else {
        serde_json::json!({ "Service": grantee })
    }
}

/// The condition that holds exactly when a request's encryption context satisfies a constraint.
fn condition_of(constraint: &GrantConstraint) -> serde_json::Value {
    let pairs = |pairs: &BTreeMap<String, String>| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            // Matched literally: `$` is escaped so that no policy variable is substituted in a value.
            .map(|(k, v)| {
                (
                    format!("kms:EncryptionContext:{k}"),
                    serde_json::Value::from(v.replace('$', "${$}")),
                )
            })
            .collect()
    };
    match constraint {
        GrantConstraint::Equals(wanted) if wanted.is_empty() => {
            serde_json::json!({ "Null": { "kms:EncryptionContextKeys": "true" } })
        }
        GrantConstraint::Equals(wanted) => serde_json::json!({
            "StringEquals": pairs(wanted),
            "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": wanted.keys().collect::<Vec<_>>() },
        }),
        GrantConstraint::Subset(wanted) if wanted.is_empty() => serde_json::json!({}),
        GrantConstraint::Subset(wanted) => serde_json::json!({ "StringEquals": pairs(wanted) }),
    }
}

fn statement(grantee: &str, operations: &[&str], condition: Option<serde_json::Value>) -> serde_json::Value {
    let actions: Vec<String> = operations.iter().map(|o| format!("kms:{o}")).collect();
    let mut statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": principal_of(grantee),
        "Action": actions,
        "Resource": "*",
    });
    if let Some(condition) = condition.filter(|c| c.as_object().is_some_and(|m| !m.is_empty())) {
        statement["Condition"] = condition;
    }
    statement
}

fn document(statements: Vec<serde_json::Value>) -> Result<PolicyDocument, KmsError> {
    let text = serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    PolicyDocument::parse_as(&text, PolicyKind::Resource)
        .map_err(|e| KmsError::Internal(format!("grant statements do not parse: {e}")))
}

/// What a key's grants allow, as key policy statements, so that the policy engine decides them as AWS does: a
/// grant allows its grantee like a key policy naming it (a role's grant serves its sessions within their session
/// policies and boundaries; an explicit deny anywhere still wins), and its constraint restricts the operations that
/// take an encryption context. CreateGrant and RetireGrant are not here: a grant passes on CreateGrant only for
/// grants no wider than itself ([`Kms::create_grant`]), and retiring is not a policy question.
pub(crate) fn as_policy(grants: &[GrantRecord]) -> Result<PolicyDocument, KmsError> {
    let mut statements = Vec::new();
    for grant in grants {
        let operations = grant
            .operations
            .iter()
            .map(String::as_str)
            .filter(|o| !matches!(*o, "CreateGrant" | "RetireGrant"));
        let (with_context, without): (Vec<&str>, Vec<&str>) = match &grant.constraint {
            Some(_) => operations.partition(|o| TAKES_CONTEXT.contains(o)),
            None => (Vec::new(), operations.collect()),
        };
        if !without.is_empty() {
            statements.push(statement(&grant.grantee_principal, &without, None));
        }
        if let (Some(constraint), false) = (&grant.constraint, with_context.is_empty()) {
            statements.push(statement(
                &grant.grantee_principal,
                &with_context,
                Some(condition_of(constraint)),
            ));
        }
    }
    document(statements)
}

/// Whether a constraint is at least as strict as a parent grant's, as a grant created under a grant must be.
fn at_least_as_strict(child: Option<&GrantConstraint>, parent: Option<&GrantConstraint>) -> bool {
    match (parent, child) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(GrantConstraint::Equals(p)), Some(GrantConstraint::Equals(c))) => p == c,
        (Some(GrantConstraint::Equals(_)), Some(GrantConstraint::Subset(_))) => false,
        (Some(GrantConstraint::Subset(p)), Some(GrantConstraint::Equals(c) | GrantConstraint::Subset(c))) => {
            p.iter().all(|(k, v)| c.get(k) == Some(v))
        }
    }
}

/// A grant token: it names the grant (for RetireGrant) and is new on every CreateGrant.
fn token(scope: &str, grant_id: &str) -> Result<String, KmsError> {
    let nonce = hex::encode(keyhaven_crypto::random_array::<16>()?);
    Ok(B64URL.encode(format!("{scope}|{grant_id}|{nonce}")))
}

/// The grant scope and id a token names.
fn parse_token(token: &str) -> Option<(String, String)> {
    let text = String::from_utf8(B64URL.decode(token).ok()?).ok()?;
    let mut parts = text.rsplitn(3, '|');
    let _nonce = parts.next()?;
    let grant_id = parts.next()?;
    let scope = parts.next()?;
    Some((scope.to_string(), grant_id.to_string()))
}

fn invalid_token() -> KmsError {
    KmsError::InvalidGrantToken("Invalid grant token.".into())
}

fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant ID {grant_id} not found"))
}

/// CreateGrant's request, already shape-checked by the wire layer.
#[derive(Debug, Clone, Default)]
pub struct NewGrant {
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub constraint: Option<GrantConstraint>,
    pub name: Option<String>,
}

impl NewGrant {
    fn condition_keys(&self, ctx: &RequestContext) -> Vec<(String, Vec<String>)> {
        let mut keys = vec![
            ("kms:GrantOperations".to_string(), self.operations.clone()),
            ("kms:GranteePrincipal".to_string(), vec![self.grantee_principal.clone()]),
            (
                "kms:GrantIsForAWSResource".to_string(),
                vec![ctx.via_service.is_some().to_string()],
            ),
        ];
        if let Some(retiring) = &self.retiring_principal {
            keys.push(("kms:RetiringPrincipal".to_string(), vec![retiring.clone()]));
        }
        if let Some(constraint) = &self.constraint {
            let kind = match constraint {
                GrantConstraint::Equals(_) => "EncryptionContextEquals",
                GrantConstraint::Subset(_) => "EncryptionContextSubset",
            };
            keys.push(("kms:GrantConstraintType".to_string(), vec![kind.to_string()]));
        }
        keys
    }

    /// The grant's operations must suit the key; a constraint needs a symmetric key.
    fn check_against(&self, record: &KeyRecord) -> Result<(), KmsError> {
        let supported = key_operations(record);
        let unsupported: Vec<&str> = self
            .operations
            .iter()
            .map(String::as_str)
            .filter(|o| !ANY_KEY.contains(o) && !supported.contains(o))
            .collect();
        if !unsupported.is_empty() {
            let kind = if record.key_spec.starts_with("HMAC_") || record.key_spec == crate::SYMMETRIC_DEFAULT {
                "a symmetric"
            } else {
                "an asymmetric"
            };
            let valid: Vec<&str> = ANY_KEY.iter().chain(supported).copied().collect();
            return Err(KmsError::Validation(format!(
                "Operations [{}] are not supported when creating a grant for {kind} KMS key with key usage {}. Valid operations are [{}]",
                unsupported.join(", "),
                record.key_usage,
                valid.join(", ")
            )));
        }
        if self.constraint.is_some() && record.key_spec != crate::SYMMETRIC_DEFAULT {
            return Err(KmsError::Validation(
                "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.".into(),
            ));
        }
        let named = [Some(&self.grantee_principal), self.retiring_principal.as_ref()];
        // A principal the policy engine could not name would make the key's grants unreadable: refuse it here.
        let nameable = |p: &String| is_principal(p) && document(vec![statement(p, &["DescribeKey"], None)]).is_ok();
        if let Some(bad) = named.into_iter().flatten().find(|p| !nameable(p)) {
            return Err(KmsError::InvalidArn(format!("ARN is not valid: {bad}")));
        }
        Ok(())
    }

    fn same_as(&self, grant: &GrantRecord) -> bool {
        let mut mine = self.operations.clone();
        let mut theirs = grant.operations.clone();
        mine.sort();
        theirs.sort();
        grant.name == self.name
            && grant.grantee_principal == self.grantee_principal
            && grant.retiring_principal == self.retiring_principal
            && mine == theirs
            && grant.constraint == self.constraint
    }
}

/// The two forms a constraint arrives in.
pub fn constraint_of(
    equals: Option<BTreeMap<String, String>>,
    subset: Option<BTreeMap<String, String>>,
) -> Result<Option<GrantConstraint>, KmsError> {
    match (equals, subset) {
        (Some(_), Some(_)) => Err(KmsError::Validation("More than one constraint supplied".into())),
        (Some(pairs), None) => Ok(Some(GrantConstraint::Equals(pairs))),
        (None, Some(pairs)) => Ok(Some(GrantConstraint::Subset(pairs))),
        (None, None) => Ok(None),
    }
}

impl Kms {
    /// CreateGrant: answers the grant's token and id. A retry with the same `Name` and parameters answers the
    /// existing grant's id with a new token.
    pub fn create_grant(
        &self,
        ctx: &RequestContext,
        key: &str,
        grant: NewGrant,
        dry_run: bool,
    ) -> Result<(String, String), KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        let request_keys = grant.condition_keys(ctx);
        let now = self.now();
        self.write(|tx| {
            let record = resolve::resolve_in(tx, &key_ref)?;
            let existing = of_key(tx, &record)?;
            // A grantee allowed CreateGrant by a grant may pass on no more than that grant gives.
            let passing_on: Vec<serde_json::Value> = existing
                .iter()
                .filter(|parent| {
                    parent.operations.iter().any(|o| o == "CreateGrant")
                        && grant.operations.iter().all(|o| parent.operations.contains(o))
                        && at_least_as_strict(grant.constraint.as_ref(), parent.constraint.as_ref())
                })
                .map(|parent| statement(&parent.grantee_principal, &["CreateGrant"], None))
                .collect();
            let policy = parse_key_policy(&record)?.merged(&document(passing_on)?);
            let check = KeyCheck {
                request_keys: &request_keys,
                ..Default::default()
            };
            self.authorize_in(tx, ctx, "kms:CreateGrant", &record, &policy, check)?;
            require_enabled(&record)?;
            grant.check_against(&record)?;
            if dry_run {
                return Err(KmsError::DryRun);
            }
            let scope = grant_scope(&record);
            if grant.name.is_some()
                && let Some(same) = existing.iter().find(|g| grant.same_as(g))
            {
                return Ok((token(&scope, &same.grant_id)?, same.grant_id.clone()));
            }
            let grant_id = hex::encode(keyhaven_crypto::random_array::<32>()?);
            let stored = GrantRecord {
                v: RECORD_VERSION,
                grant_id: grant_id.clone(),
                key_id: record.key_id.clone(),
                key_arn: record.arn(),
                name: grant.name.clone(),
                grantee_principal: grant.grantee_principal.clone(),
                retiring_principal: grant.retiring_principal.clone(),
                operations: grant.operations.clone(),
                constraint: grant.constraint.clone(),
                issuing_account: ctx.account_id().to_string(),
                creation_date: now,
            };
            records::put(tx, &scope, &grant_id, &stored)?;
            if let Some(retiring) = &grant.retiring_principal {
                records::put(tx, retiring, &format!("{scope}|{grant_id}"), &RetirableGrant)?;
            }
            Ok((token(&scope, &grant_id)?, grant_id))
        })
    }

    /// ListGrants: a key's grants, optionally one grant or one grantee's.
    pub fn list_grants(
        &self,
        ctx: &RequestContext,
        key: &str,
        grant_id: Option<&str>,
        grantee: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<GrantRecord>, KmsError> {
        let record = self.key_by_id(ctx, key, "kms:ListGrants")?;
        let mut grants = read(&*self.store, |tx| of_key(tx, &record))?;
        grants
            .retain(|g| grant_id.is_none_or(|id| g.grant_id == id) && grantee.is_none_or(|p| g.grantee_principal == p));
        Ok(paging::by_offset(&grants, limit, marker)?)
    }

    /// ListRetirableGrants: every grant naming `retiring_principal`, across the caller's keys.
    pub fn list_retirable_grants(
        &self,
        ctx: &RequestContext,
        retiring_principal: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<GrantRecord>, KmsError> {
        self.authorize_account(ctx, "kms:ListRetirableGrants")?;
        let grants = read(&*self.store, |tx| {
            let mut found = Vec::new();
            for (entry, _) in records::all::<RetirableGrant>(tx, retiring_principal)? {
                let Some((scope, grant_id)) = entry.rsplit_once('|') else {
                    continue;
                };
                // Only grants on the caller's own keys: another account's grants are not the caller's to list.
                let own_key = scope.starts_with(&format!("{}:", ctx.account_id()));
                if let Some(grant) = records::get::<GrantRecord>(tx, scope, grant_id)?.filter(|_| own_key) {
                    found.push(grant);
                }
            }
            Ok(found)
        })?;
        Ok(paging::by_offset(&grants, limit, marker)?)
    }

    /// RetireGrant, by token or by key and grant id: by the retiring principal, by the grantee if the grant
    /// includes RetireGrant, or by the root user of the account that created it. No policy can allow it.
    pub fn retire_grant(
        &self,
        ctx: &RequestContext,
        token: Option<&str>,
        key: Option<&str>,
        grant_id: Option<&str>,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        let (key_ref, grant_id) = match (token, key, grant_id) {
            (Some(token), _, _) => {
                let (scope, grant_id) = parse_token(token).ok_or_else(invalid_token)?;
                let (key_scope, key_id) = scope.rsplit_once('/').ok_or_else(invalid_token)?;
                let (account, region) = key_scope.split_once(':').ok_or_else(invalid_token)?;
                let arn = crate::key_arn(region, account, key_id);
                (
                    KeyRef::parse_key_only(&arn, ctx).map_err(|_| invalid_token())?,
                    grant_id,
                )
            }
            (None, Some(key), Some(grant_id)) => (KeyRef::parse_key_only(key, ctx)?, grant_id.to_string()),
            _ => {
                return Err(KmsError::Validation(
                    "Either a grant token or both a key id and a grant id must be specified.".into(),
                ));
            }
        };
        self.write(|tx| {
            let record = resolve::resolve_in(tx, &key_ref).map_err(|e| match (e, token) {
                (KmsError::NotFound(_), Some(_)) => invalid_token(),
                (other, _) => other,
            })?;
            let grant = records::get::<GrantRecord>(tx, &grant_scope(&record), &grant_id)?
                .ok_or_else(|| grant_not_found(&grant_id))?;
            let caller = &ctx.principal;
            let allowed = grant.retiring_principal.as_deref().is_some_and(|p| is_grantee(p, ctx))
                || (grant.operations.iter().any(|o| o == "RetireGrant") && is_grantee(&grant.grantee_principal, ctx))
                || (caller.kind == PrincipalKind::Root && caller.account_id == grant.issuing_account);
            // The grant decides, but an explicit deny in any policy still wins.
            let arn = record.arn();
            let policy = parse_key_policy(&record)?;
            let key = [keyhaven_kernel::authz::Resource {
                policy: Some(keyhaven_kernel::authz::ResourcePolicy {
                    id: &record.key_id,
                    document: &policy,
                    rules: keyhaven_policy::ResourceRules::KmsKeyPolicy,
                }),
                ..keyhaven_kernel::authz::Resource::new(&arn, &record.account_id)
            }];
            let denied = self
                .authz
                .explicitly_denied(ctx, &keyhaven_kernel::authz::Access::on("kms:RetireGrant", &key))?;
            if !allowed || denied {
                return Err(KmsError::AccessDenied(format!(
                    "User: {} is not authorized to perform: kms:RetireGrant on resource: {}",
                    caller.arn,
                    record.arn()
                )));
            }
            if dry_run {
                return Err(KmsError::DryRun);
            }
            remove(tx, &record, &grant)
        })
    }

    /// RevokeGrant: a key-policy permission.
    pub fn revoke_grant(&self, ctx: &RequestContext, key: &str, grant_id: &str, dry_run: bool) -> Result<(), KmsError> {
        let key_ref = KeyRef::parse_key_only(key, ctx)?;
        self.write(|tx| {
            let record = resolve::resolve_in(tx, &key_ref)?;
            self.authorize_in(
                tx,
                ctx,
                "kms:RevokeGrant",
                &record,
                &parse_key_policy(&record)?,
                KeyCheck::default(),
            )?;
            let grant = records::get::<GrantRecord>(tx, &grant_scope(&record), grant_id)?
                .ok_or_else(|| grant_not_found(grant_id))?;
            if dry_run {
                return Err(KmsError::DryRun);
            }
            remove(tx, &record, &grant)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_child_grant_is_at_least_as_strict_as_its_parent() {
        let equals = GrantConstraint::Equals(pairs(&[("a", "1")]));
        let subset = GrantConstraint::Subset(pairs(&[("a", "1")]));
        let wider_subset = GrantConstraint::Subset(pairs(&[("a", "1"), ("b", "2")]));
        for (child, parent, strict) in [
            (None, None, true),
            (None, Some(&subset), false),
            (Some(&equals), Some(&equals), true),
            (Some(&subset), Some(&equals), false),
            (Some(&wider_subset), Some(&subset), true),
            (Some(&equals), Some(&subset), true),
            (Some(&subset), Some(&wider_subset), false),
        ] {
            assert_eq!(at_least_as_strict(child, parent), strict, "{child:?} under {parent:?}");
        }
    }

    #[test]
    fn principals_a_grant_can_name() {
        for (text, valid) in [
            ("arn:aws:iam::111122223333:root", true),
            ("arn:aws:iam::111122223333:user/app", true),
            ("arn:aws:iam::111122223333:role/path/signer", true),
            ("arn:aws:sts::111122223333:assumed-role/signer/job", true),
            ("secretsmanager.amazonaws.com", true),
            ("foo", false),
            ("arn:aws:iam::1111:user/app", false),
            ("arn:aws:s3:::bucket", false),
            ("arn:aws:iam::111122223333:user/", false),
        ] {
            assert_eq!(is_principal(text), valid, "{text}");
        }
    }

    #[test]
    fn tokens_name_their_grant_and_differ_each_time() {
        let scope = "111122223333:us-east-1/1234abcd-12ab-34cd-56ef-1234567890ab";
        let first = token(scope, "ab".repeat(32).as_str()).expect("token");
        let second = token(scope, "ab".repeat(32).as_str()).expect("token");
        assert_ne!(first, second);
        assert_eq!(parse_token(&first), Some((scope.to_string(), "ab".repeat(32))));
        assert_eq!(parse_token("not a token"), None);
    }
}
