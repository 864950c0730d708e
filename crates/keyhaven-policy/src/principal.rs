//! Who makes a request, and how a policy's `Principal` / `NotPrincipal` element names them.
//!
//! Facts used (IAM User Guide, "AWS JSON policy elements: Principal"): `"*"` and `{"AWS": "*"}`
//! are the same and include anonymous callers; an account id and `arn:aws:iam::ACCOUNT:root` both
//! name the account, which delegates to that account's IAM policies rather than granting every
//! principal in it; wildcards are not allowed in principal ARNs; groups cannot be principals; a
//! role ARN names the role's sessions, while an `assumed-role` ARN names one session.

use serde_json::Value;

use crate::PolicyError;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's ARN: `arn:aws:iam::ACCT:root`, a user ARN, an `assumed-role` or
    /// `federated-user` session ARN; for services the service name (`ec2.amazonaws.com`), for web
    /// identity the provider (`arn:aws:iam::ACCT:oidc-provider/host` or `accounts.google.com`).
    pub arn: String,
    /// The caller's account; empty for services and anonymous callers.
    pub account_id: String,
    pub kind: PrincipalKind,
    /// The account's S3 canonical user id, when known (matches `{"CanonicalUser": ...}`).
    pub canonical_user: Option<String>,
}

/// What sort of caller a [`Principal`] is. Roles act only through their sessions
/// ([`PrincipalKind::AssumedRole`]), so there is no separate role caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root user.
    Root,
    /// An IAM user.
    User,
    /// A role session; `role_arn` is the role's ARN (with its path).
    AssumedRole { role_arn: String },
    /// A GetFederationToken session; `user_arn` is the IAM user that federated.
    FederatedUser { user_arn: String },
    /// A web-identity or SAML user before it has a session (AssumeRoleWith* callers).
    WebIdentity,
    /// An AWS service principal.
    Service,
    /// An unauthenticated caller (S3 public access).
    Anonymous,
}

impl Principal {
    /// The root user of `account_id`.
    pub fn root(account_id: &str) -> Self {
        Self::iam(format!("arn:aws:iam::{account_id}:root"), PrincipalKind::Root)
    }

    /// An IAM user, by ARN (`arn:aws:iam::ACCT:user/path/name`).
    pub fn user(arn: &str) -> Self {
        Self::iam(arn.to_string(), PrincipalKind::User)
    }

    /// A role session (`arn:aws:sts::ACCT:assumed-role/role/session`) of `role_arn`.
    pub fn assumed_role(session_arn: &str, role_arn: &str) -> Self {
        let role_arn = role_arn.to_string();
        Self::iam(session_arn.to_string(), PrincipalKind::AssumedRole { role_arn })
    }

    /// A federated-user session (`arn:aws:sts::ACCT:federated-user/name`) obtained by `user_arn`.
    pub fn federated_user(arn: &str, user_arn: &str) -> Self {
        let user_arn = user_arn.to_string();
        Self::iam(arn.to_string(), PrincipalKind::FederatedUser { user_arn })
    }

    /// An AWS service such as `ec2.amazonaws.com`.
    pub fn service(name: &str) -> Self {
        Self::outside(name, PrincipalKind::Service)
    }

    /// A web identity or SAML caller of the given provider.
    pub fn web_identity(provider: &str) -> Self {
        Self {
            account_id: account_of(provider).to_string(),
            ..Self::outside(provider, PrincipalKind::WebIdentity)
        }
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Self::outside("anonymous", PrincipalKind::Anonymous)
    }

    /// The same caller, with the canonical user id of its account.
    pub fn with_canonical_user(self, canonical_user: &str) -> Self {
        Self {
            canonical_user: Some(canonical_user.to_string()),
            ..self
        }
    }

    fn iam(arn: String, kind: PrincipalKind) -> Self {
        Self {
            account_id: account_of(&arn).to_string(),
            arn,
            kind,
            canonical_user: None,
        }
    }

    fn outside(name: &str, kind: PrincipalKind) -> Self {
        Self {
            arn: name.to_string(),
            account_id: String::new(),
            kind,
            canonical_user: None,
        }
    }

    /// Users, roles and the root user: principals that IAM policies apply to.
    pub(crate) fn is_iam(&self) -> bool {
        matches!(
            self.kind,
            PrincipalKind::Root
                | PrincipalKind::User
                | PrincipalKind::AssumedRole { .. }
                | PrincipalKind::FederatedUser { .. }
        )
    }

    /// The identities AWS checks a NotPrincipal list for, one after the other: the account, then
    /// the user or role, then the session ("AWS JSON policy elements: NotPrincipal").
    fn identities(&self) -> Vec<Entry> {
        let account = Entry::Account(self.account_id.clone());
        let own = Entry::Arn(self.arn.clone());
        match &self.kind {
            PrincipalKind::Root => vec![account],
            PrincipalKind::User | PrincipalKind::FederatedUser { .. } => vec![account, own],
            PrincipalKind::AssumedRole { role_arn } => vec![account, Entry::Arn(role_arn.clone()), own],
            PrincipalKind::WebIdentity => vec![Entry::Federated(self.arn.clone())],
            PrincipalKind::Service => vec![Entry::Service(self.arn.clone())],
            PrincipalKind::Anonymous => vec![Entry::Everyone],
        }
    }
}

/// The account field of an ARN (empty if `arn` is not one).
fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).filter(|_| arn.starts_with("arn:")).unwrap_or("")
}

/// One principal named by a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    /// An account id, from `"123456789012"` or `arn:aws:iam::123456789012:root`.
    Account(String),
    /// A user, role, role-session or federated-user ARN.
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

/// How directly a principal element names the caller. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    None,
    /// The caller's account: access is delegated to that account's IAM policies.
    Account,
    /// The role of a role session, or the IAM user behind a federated-user session: the grant
    /// reaches the session through its parent, so boundaries and session policies still limit it.
    Parent,
    /// The caller itself (or everyone).
    Caller,
}

/// Parses the value of a `Principal` or `NotPrincipal` element.
pub(crate) fn parse(value: &Value) -> Result<Vec<Entry>, PolicyError> {
    let map = match value {
        Value::String(s) if s == "*" => return Ok(vec![Entry::Everyone]),
        Value::String(_) => return Err(PolicyError::InvalidPrincipal(value.to_string())),
        Value::Object(map) => map,
        _ => return Err(PolicyError::Syntax),
    };
    let mut entries = Vec::new();
    for (kind, names) in map {
        for name in crate::document::string_list(names)? {
            let invalid = || {
                PolicyError::InvalidPrincipal(format!("{}:{}", Value::from(kind.as_str()), Value::from(name.as_str())))
            };
            let entry = match kind.as_str() {
                "AWS" => aws_entry(&name).ok_or_else(invalid)?,
                "Service" if valid_name(&name) => Entry::Service(name),
                "Federated" if valid_name(&name) => Entry::Federated(name),
                "CanonicalUser" if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Entry::CanonicalUser(name.to_ascii_lowercase())
                }
                _ => return Err(invalid()),
            };
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['*', '?']) && !name.contains(char::is_whitespace)
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn aws_entry(name: &str) -> Option<Entry> {
    if name == "*" {
        return Some(Entry::Everyone);
    }
    if is_account_id(name) {
        return Some(Entry::Account(name.to_string()));
    }
    if name.contains(['*', '?']) {
        return None;
    }
    let parts: Vec<&str> = name.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return None;
    };
    if arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return None;
    }
    let named = |prefix: &str, parts: usize| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.split('/').filter(|p| !p.is_empty()).count() >= parts)
    };
    match service {
        "iam" if resource == "root" => Some(Entry::Account(account.to_string())),
        "iam" if named("user/", 1) || named("role/", 1) => Some(Entry::Arn(name.to_string())),
        "sts" if named("assumed-role/", 2) || named("federated-user/", 1) => Some(Entry::Arn(name.to_string())),
        _ => None,
    }
}

/// How directly `entries` name `caller`.
pub(crate) fn reach(entries: &[Entry], caller: &Principal) -> Reach {
    entries
        .iter()
        .map(|entry| reach_one(entry, caller))
        .max()
        .unwrap_or(Reach::None)
}

fn reach_one(entry: &Entry, caller: &Principal) -> Reach {
    match (entry, &caller.kind) {
        (Entry::Everyone, _) => Reach::Caller,
        (Entry::Account(account), _) if caller.is_iam() && *account == caller.account_id => Reach::Account,
        (Entry::CanonicalUser(id), _)
            if caller
                .canonical_user
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(id)) =>
        {
            Reach::Account
        }
        (Entry::Arn(arn), _) if caller.is_iam() && *arn == caller.arn => Reach::Caller,
        (Entry::Arn(arn), PrincipalKind::AssumedRole { role_arn }) if arn == role_arn => Reach::Parent,
        (Entry::Arn(arn), PrincipalKind::FederatedUser { user_arn }) if arn == user_arn => Reach::Parent,
        (Entry::Service(name), PrincipalKind::Service) if *name == caller.arn => Reach::Caller,
        (Entry::Federated(name), PrincipalKind::WebIdentity) if *name == caller.arn => Reach::Caller,
        _ => Reach::None,
    }
}

/// Whether a `NotPrincipal` list exempts `caller`: only if it lists every identity AWS checks for
/// it (account, user or role, session). Listing a session alone still leaves it denied.
pub(crate) fn exempted(entries: &[Entry], caller: &Principal) -> bool {
    caller.identities().iter().all(|identity| {
        entries
            .iter()
            .any(|entry| *entry == Entry::Everyone || entry == identity)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111122223333:role/path/Admin";
    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Admin/alice";

    fn entries(json: &str) -> Result<Vec<Entry>, PolicyError> {
        parse(&serde_json::from_str(json).expect("test JSON"))
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<Vec<Entry>, PolicyError>)] = &[
            (r#""*""#, Ok(vec![Entry::Everyone])),
            (r#"{"AWS":"*"}"#, Ok(vec![Entry::Everyone])),
            (
                r#"{"AWS":"111122223333"}"#,
                Ok(vec![Entry::Account("111122223333".into())]),
            ),
            (
                r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
                Ok(vec![Entry::Account("111122223333".into())]),
            ),
            (
                r#"{"AWS":["arn:aws:iam::111122223333:user/a/b"]}"#,
                Ok(vec![Entry::Arn("arn:aws:iam::111122223333:user/a/b".into())]),
            ),
            (
                r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/alice"}"#,
                Ok(vec![Entry::Arn(SESSION.into())]),
            ),
            (
                r#"{"Service":["ec2.amazonaws.com"]}"#,
                Ok(vec![Entry::Service("ec2.amazonaws.com".into())]),
            ),
            (
                r#"{"Federated":"accounts.google.com"}"#,
                Ok(vec![Entry::Federated("accounts.google.com".into())]),
            ),
            (r#"{"AWS":[]}"#, Ok(vec![])),
            (
                r#""arn:aws:iam::111122223333:root""#,
                Err(PolicyError::InvalidPrincipal(
                    r#""arn:aws:iam::111122223333:root""#.into(),
                )),
            ),
            (
                r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#,
                Err(PolicyError::InvalidPrincipal(
                    r#""AWS":"arn:aws:iam::111122223333:user/*""#.into(),
                )),
            ),
            (
                r#"{"AWS":"arn:aws:iam::111122223333:group/devs"}"#,
                Err(PolicyError::InvalidPrincipal(
                    r#""AWS":"arn:aws:iam::111122223333:group/devs""#.into(),
                )),
            ),
            (
                r#"{"AWS":"arn:aws:iam::1111:root"}"#,
                Err(PolicyError::InvalidPrincipal(
                    r#""AWS":"arn:aws:iam::1111:root""#.into(),
                )),
            ),
            (
                r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin"}"#,
                Err(PolicyError::InvalidPrincipal(
                    r#""AWS":"arn:aws:sts::111122223333:assumed-role/Admin""#.into(),
                )),
            ),
            (
                r#"{"AWS":"ec2.amazonaws.com"}"#,
                Err(PolicyError::InvalidPrincipal(r#""AWS":"ec2.amazonaws.com""#.into())),
            ),
            (
                r#"{"Service":"*"}"#,
                Err(PolicyError::InvalidPrincipal(r#""Service":"*""#.into())),
            ),
            (
                r#"{"CanonicalUser":"abc"}"#,
                Err(PolicyError::InvalidPrincipal(r#""CanonicalUser":"abc""#.into())),
            ),
            (
                r#"{"Group":"x"}"#,
                Err(PolicyError::InvalidPrincipal(r#""Group":"x""#.into())),
            ),
            (r#"{"AWS":7}"#, Err(PolicyError::Syntax)),
            ("7", Err(PolicyError::Syntax)),
        ];
        for (json, expected) in cases {
            assert_eq!(&entries(json), expected, "{json}");
        }
    }

    #[test]
    fn reach_table() {
        let session = Principal::assumed_role(SESSION, ROLE);
        let user = Principal::user("arn:aws:iam::111122223333:user/bob");
        let federated = Principal::federated_user(
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws:iam::111122223333:user/bob",
        );
        let root = Principal::root("111122223333");
        let other = Principal::user("arn:aws:iam::444455556666:user/bob");
        let service = Principal::service("ec2.amazonaws.com");
        let cases: &[(&str, &Principal, Reach)] = &[
            (r#""*""#, &session, Reach::Caller),
            (r#""*""#, &Principal::anonymous(), Reach::Caller),
            (r#"{"AWS":"111122223333"}"#, &session, Reach::Account),
            (r#"{"AWS":"111122223333"}"#, &root, Reach::Account),
            (r#"{"AWS":"111122223333"}"#, &other, Reach::None),
            (r#"{"AWS":"111122223333"}"#, &service, Reach::None),
            (
                r#"{"AWS":"arn:aws:iam::111122223333:role/path/Admin"}"#,
                &session,
                Reach::Parent,
            ),
            (
                r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/alice"}"#,
                &session,
                Reach::Caller,
            ),
            (
                r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/bob"}"#,
                &session,
                Reach::None,
            ),
            (
                r#"{"AWS":["111122223333","arn:aws:iam::111122223333:user/bob"]}"#,
                &user,
                Reach::Caller,
            ),
            (
                r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#,
                &federated,
                Reach::Parent,
            ),
            (
                r#"{"AWS":"arn:aws:sts::111122223333:federated-user/bob"}"#,
                &federated,
                Reach::Caller,
            ),
            (r#"{"Service":"ec2.amazonaws.com"}"#, &service, Reach::Caller),
            (r#"{"Service":"ec2.amazonaws.com"}"#, &user, Reach::None),
        ];
        for (json, caller, expected) in cases {
            assert_eq!(
                reach(&entries(json).expect(json), caller),
                *expected,
                "{json} vs {}",
                caller.arn
            );
        }
    }

    #[test]
    fn not_principal_needs_every_identity() {
        let session = Principal::assumed_role(SESSION, ROLE);
        let cases: &[(&str, bool)] = &[
            (r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/alice"}"#, false),
            (
                r#"{"AWS":["111122223333","arn:aws:iam::111122223333:role/path/Admin"]}"#,
                false,
            ),
            (
                r#"{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:role/path/Admin","arn:aws:sts::111122223333:assumed-role/Admin/alice"]}"#,
                true,
            ),
            (r#"{"AWS":"*"}"#, true),
        ];
        for (json, expected) in cases {
            assert_eq!(exempted(&entries(json).expect(json), &session), *expected, "{json}");
        }
    }
}
