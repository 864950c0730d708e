//! The policy grammar: a JSON document parsed into statements, with AWS's rules per policy kind.
//!
//! Grammar: IAM User Guide, "Grammar of the IAM JSON policy language". Kind-specific rules:
//! identity policies (and boundaries, session policies) must not name a principal and need
//! resources; resource policies (KMS key policies, bucket and secret policies) need a principal;
//! role trust policies need a principal, must not have `Resource` and only grant `sts:` actions.
//! IAM restricts `Sid` to `[0-9A-Za-z]*` and wants Sids unique; KMS and S3 accept any Sid.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::PolicyError;
use crate::condition::{self, Condition};
use crate::error::MAX_POLICY_BYTES;
use crate::pattern::Pattern;
use crate::principal::{self, Entry};

/// Where a policy is attached, which decides the rules it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role: no principal, resources required.
    Identity,
    /// Attached to a resource (KMS key policy, S3 bucket policy, secret policy): principal required.
    Resource,
    /// A role trust policy: principal required, no resources, `sts:` actions only.
    Trust,
    /// Passed when a session is created: the rules of identity policies.
    Session,
    /// A permissions boundary: the rules of identity policies.
    Boundary,
}

impl PolicyKind {
    /// Identity, boundary and session policies never name a principal.
    fn names_principals(self) -> bool {
        matches!(self, Self::Resource | Self::Trust)
    }

    /// Policies stored by IAM itself (everything but other services' resource policies).
    fn stored_by_iam(self) -> bool {
        self != Self::Resource
    }
}

/// The policy language version. Without a `Version` element AWS uses the original language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2008-10-17` or no Version: policy variables are plain text.
    Legacy,
    /// `2012-10-17`: policy variables are substituted.
    Current,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed, valid policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    kind: PolicyKind,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    pub(crate) principal: Option<Listed<Entry>>,
    pub(crate) action: Actions,
    /// `None` in trust policies, which apply to the role they belong to.
    pub(crate) resource: Option<Listed<String>>,
    pub(crate) conditions: Vec<Condition>,
}

/// The items of an element, and whether it is the `Not…` form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed<T> {
    pub(crate) negated: bool,
    pub(crate) items: Vec<T>,
}

/// A statement's `Action` or `NotAction` patterns, indexed by their literal vendor: a request tries
/// only its own vendor's patterns and those with a wildcard in the vendor part, so a document with
/// thousands of actions across hundreds of services (AWS's ReadOnlyAccess) costs a handful of
/// matches per request rather than thousands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Actions {
    pub(crate) negated: bool,
    by_vendor: HashMap<String, Vec<Pattern>>,
    any_vendor: Vec<Pattern>,
}

impl Actions {
    /// `names` are checked action names; patterns are compiled lowercase, as actions compare.
    fn new(negated: bool, names: &[String]) -> Self {
        let mut actions = Self {
            negated,
            by_vendor: HashMap::new(),
            any_vendor: Vec::new(),
        };
        for name in names {
            let name = name.to_lowercase();
            let pattern = Pattern::glob(&name);
            match name.split_once(':') {
                Some((vendor, _)) if !vendor.contains(['*', '?']) => {
                    actions.by_vendor.entry(vendor.to_string()).or_default().push(pattern)
                }
                _ => actions.any_vendor.push(pattern),
            }
        }
        actions
    }

    /// Whether a listed pattern matches `action` (already lowercased).
    pub(crate) fn any_matches(&self, action: &str) -> bool {
        let own_vendor = action
            .split_once(':')
            .and_then(|(vendor, _)| self.by_vendor.get(vendor))
            .map_or(&[][..], Vec::as_slice);
        own_vendor
            .iter()
            .chain(&self.any_vendor)
            .any(|pattern| pattern.matches(action))
    }
}

impl PolicyDocument {
    /// Parses a resource policy as KMS does today: [`PolicyKind::Resource`] rules and a
    /// [`MAX_POLICY_BYTES`] size limit.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge);
        }
        Self::parse_as(text, PolicyKind::Resource)
    }

    /// Parses and validates a policy of the given kind. Size limits are the caller's business
    /// (see [`policy_size`]).
    pub fn parse_as(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| PolicyError::InvalidJson)?;
        let Value::Object(document) = value else {
            return Err(PolicyError::Syntax);
        };
        // IAM's grammar also admits a top-level `Conditions`, which says nothing.
        let top_level: &[&str] = if kind.stored_by_iam() {
            &["Version", "Id", "Statement", "Conditions"]
        } else {
            &["Version", "Id", "Statement"]
        };
        reject_unknown(&document, top_level)?;
        let version = match document.get("Version") {
            None => Version::Legacy,
            Some(Value::String(v)) if v == "2012-10-17" => Version::Current,
            Some(Value::String(v)) if v == "2008-10-17" => Version::Legacy,
            Some(_) => return Err(PolicyError::LegacyParsing),
        };
        let id = match document.get("Id") {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return Err(PolicyError::Syntax),
        };
        let raw = match document.get("Statement") {
            None => return Err(PolicyError::MissingField("Statement")),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            Some(_) => return Err(PolicyError::Syntax),
        };
        let statements = raw
            .into_iter()
            .map(|statement| parse_statement(statement, kind, version))
            .collect::<Result<Vec<_>, _>>()?;
        if kind.stored_by_iam() {
            let mut sids: Vec<&str> = statements
                .iter()
                .filter_map(Statement::sid)
                .filter(|s| !s.is_empty())
                .collect();
            sids.sort_unstable();
            if sids.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err(PolicyError::DuplicateSid);
            }
        }
        Ok(Self {
            kind,
            version,
            id,
            statements,
        })
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Every condition key the document's statements test, as first written, once each
    /// (case-insensitively, as keys compare): GetContextKeysFor*Policy.
    pub fn condition_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for condition in self.statements.iter().flat_map(|s| s.conditions.iter()) {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(condition.key())) {
                keys.push(condition.key().to_string());
            }
        }
        keys
    }

    /// This document with `more`'s statements after its own (KMS evaluates a key's grants as statements of
    /// its key policy).
    pub fn merged(&self, more: &PolicyDocument) -> PolicyDocument {
        let mut merged = self.clone();
        merged.statements.extend(more.statements.iter().cloned());
        merged
    }

    /// Whether the policy grants access to anyone (`"*"` principals) without a condition that ties
    /// the caller to known accounts, organisations or networks: what Secrets Manager's
    /// `BlockPublicPolicy` and S3's public-access checks refuse.
    pub fn grants_public_access(&self) -> bool {
        self.statements.iter().any(|statement| {
            statement.effect == Effect::Allow
                && statement
                    .principal
                    .as_ref()
                    .is_some_and(|p| p.negated || p.items.contains(&Entry::Everyone))
                && !statement.conditions.iter().any(Condition::limits_callers)
        })
    }
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// The size IAM counts against its policy quotas: "IAM does not count white space".
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

pub(crate) const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn reject_unknown(object: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(PolicyError::UnknownField(unknown.clone())),
        None => Ok(()),
    }
}

fn parse_statement(value: &Value, kind: PolicyKind, version: Version) -> Result<Statement, PolicyError> {
    let Value::Object(object) = value else {
        return Err(PolicyError::Syntax);
    };
    reject_unknown(object, STATEMENT_ELEMENTS)?;
    let sid = match object.get("Sid") {
        None => None,
        Some(Value::String(sid)) if kind.stored_by_iam() && !sid.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return Err(PolicyError::InvalidSid);
        }
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(PolicyError::Syntax),
    };
    let effect = match object.get("Effect") {
        None => return Err(PolicyError::MissingField("Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => return Err(PolicyError::InvalidEffect(e.clone())),
        Some(_) => return Err(PolicyError::Syntax),
    };
    let principal = parse_principal(object, kind, effect)?;
    let action = either(object, "Action", "NotAction", string_list)?
        .filter(|listed| !listed.items.is_empty())
        .ok_or(PolicyError::MissingAction)?;
    for name in &action.items {
        check_action(name, kind)?;
    }
    let action = Actions::new(action.negated, &action.items);
    let resource = either(object, "Resource", "NotResource", string_list)?;
    let resource = match (kind, resource) {
        (PolicyKind::Trust, Some(listed)) => {
            return Err(PolicyError::ProhibitedField(if listed.negated {
                "NotResource"
            } else {
                "Resource"
            }));
        }
        (PolicyKind::Trust, None) => None,
        (_, Some(listed)) if !listed.items.is_empty() => {
            // IAM's own documents were checked on the way in ([`crate::validate_iam`]), with IAM's rules.
            if !kind.stored_by_iam() {
                for resource in &listed.items {
                    check_resource(resource, version)?;
                }
            }
            Some(listed)
        }
        (_, _) => return Err(PolicyError::MissingResource),
    };
    let conditions = object
        .get("Condition")
        .map(condition::parse_block)
        .transpose()?
        .unwrap_or_default();
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn parse_principal(
    object: &Map<String, Value>,
    kind: PolicyKind,
    effect: Effect,
) -> Result<Option<Listed<Entry>>, PolicyError> {
    let principal = either(object, "Principal", "NotPrincipal", principal::parse)?;
    if !kind.names_principals() {
        return match principal {
            Some(_) => Err(PolicyError::PrincipalNotAllowed),
            None => Ok(None),
        };
    }
    if kind == PolicyKind::Trust && object.get("Principal").is_some_and(|p| p.as_str() == Some("*")) {
        return Err(PolicyError::TrustStar);
    }
    match principal {
        Some(listed) if listed.negated && kind == PolicyKind::Trust => {
            Err(PolicyError::ProhibitedField("NotPrincipal"))
        }
        Some(listed) if listed.negated && effect == Effect::Allow => Err(PolicyError::NotPrincipalWithAllow),
        Some(listed) if !listed.items.is_empty() => Ok(Some(listed)),
        _ if kind == PolicyKind::Trust => Err(PolicyError::NoPrincipals),
        _ => Err(PolicyError::MissingField("Principal")),
    }
}

/// Reads an element that has a positive and a `Not…` form; having both is a syntax error.
fn either<T>(
    object: &Map<String, Value>,
    positive: &str,
    negative: &str,
    read: impl Fn(&Value) -> Result<Vec<T>, PolicyError>,
) -> Result<Option<Listed<T>>, PolicyError> {
    match (object.get(positive), object.get(negative)) {
        (Some(_), Some(_)) => Err(PolicyError::Syntax),
        (Some(value), None) => Ok(Some(Listed {
            negated: false,
            items: read(value)?,
        })),
        (None, Some(value)) => Ok(Some(Listed {
            negated: true,
            items: read(value)?,
        })),
        (None, None) => Ok(None),
    }
}

/// A string or a list of strings.
pub(crate) fn string_list(value: &Value) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or(PolicyError::Syntax))
            .collect(),
        _ => Err(PolicyError::Syntax),
    }
}

/// The actions a trust policy may grant: the AssumeRole family and what goes with it (AWS refuses
/// `sts:InvalidAction`, so this is not a prefix test; patterns keep to the `sts:` prefix).
const TRUST_ACTIONS: &[&str] = &[
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
];

/// `*` or `vendor:action` (the action part may hold wildcards).
fn check_action(name: &str, kind: PolicyKind) -> Result<(), PolicyError> {
    let sts = name.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("sts:"));
    let pattern = name.contains(['*', '?']);
    if kind == PolicyKind::Trust
        && !(if pattern {
            sts
        } else {
            TRUST_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    {
        return Err(PolicyError::TrustAction);
    }
    if name == "*" {
        return Ok(());
    }
    match name.split_once(':') {
        None => Err(PolicyError::MissingVendor),
        Some(("", _)) => Err(PolicyError::MissingVendor),
        Some((_, action)) if action.contains(':') => Err(PolicyError::ActionColons),
        Some(_) => Ok(()),
    }
}

/// `*` or an ARN. An ARN pattern normally has six colon-separated parts, but a trailing `*` may
/// stand for the rest (`arn:aws:kms:*`). Without Version 2012-10-17 a bad resource is what we
/// believe makes IAM answer "The policy failed legacy parsing".
fn check_resource(resource: &str, version: Version) -> Result<(), PolicyError> {
    let arn_like = resource.starts_with("arn:") && (resource.matches(':').count() >= 5 || resource.ends_with('*'));
    if resource == "*" || arn_like {
        return Ok(());
    }
    match version {
        Version::Current => Err(PolicyError::ResourceNotArn(resource.to_string())),
        Version::Legacy => Err(PolicyError::LegacyParsing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KMS_DEFAULT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    /// `PolicyDocument::parse`, the entry point KMS uses: resource-policy rules.
    #[test]
    fn resource_policy_validation_table() {
        let cases: &[(&str, Result<usize, PolicyError>)] = &[
            (KMS_DEFAULT, Ok(1)),
            (
                r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
                Ok(1),
            ),
            (r#"{"Statement":[]}"#, Ok(0)),
            ("not json", Err(PolicyError::InvalidJson)),
            ("[]", Err(PolicyError::Syntax)),
            (
                r#"{"Version":"2012-10-17"}"#,
                Err(PolicyError::MissingField("Statement")),
            ),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                Err(PolicyError::LegacyParsing),
            ),
            (
                r#"{"Version":20121017,"Statement":[]}"#,
                Err(PolicyError::LegacyParsing),
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::InvalidEffect("Maybe".into())),
            ),
            (
                r#"{"Statement":[{"Principal":"*","Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::MissingField("Effect")),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}"#,
                Err(PolicyError::MissingAction),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}]}"#,
                Err(PolicyError::MissingAction),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b"}]}"#,
                Err(PolicyError::MissingResource),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::MissingField("Principal")),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::MissingField("Principal")),
            ),
            (
                r#"{"Statement":[],"Extra":1}"#,
                Err(PolicyError::UnknownField("Extra".into())),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*","Oops":1}]}"#,
                Err(PolicyError::UnknownField("Oops".into())),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::NotPrincipalWithAllow),
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"a:b","Resource":"*"}]}"#,
                Ok(1),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"a:b","Resource":"*"}]}"#,
                Err(PolicyError::Syntax),
            ),
            (
                r#"{"Statement":[{"Sid":"with spaces-ok","Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"},{"Sid":"with spaces-ok","Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}]}"#,
                Ok(2),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}"#,
                Ok(1),
            ),
        ];
        for (text, expected) in cases {
            let got = PolicyDocument::parse(text).map(|p| p.statements().len());
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = format!(r#"{{"Statement":[],"Id":"{}"}}"#, "x".repeat(MAX_POLICY_BYTES));
        assert_eq!(PolicyDocument::parse(&big), Err(PolicyError::TooLarge));
        assert!(PolicyDocument::parse_as(&big, PolicyKind::Resource).is_ok());
    }

    /// Every policy kind, and the AWS message each error displays.
    #[test]
    fn error_message_table() {
        use PolicyKind::{Boundary, Identity, Resource, Session, Trust};
        let allow = |extra: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",{extra}}}]}}"#);
        let cases: Vec<(PolicyKind, String, &str)> = vec![
            (Identity, "{\"Version\":".into(), "Syntax errors in policy."),
            (Trust, "{\"Version\":".into(), "This policy contains invalid Json"),
            (Identity, "null".into(), "Syntax errors in policy."),
            (Identity, r#"{"Statement":"x"}"#.into(), "Syntax errors in policy."),
            (Identity, r#"{"Statement":[7]}"#.into(), "Syntax errors in policy."),
            (Identity, r#"{"Statement":[],"Id":7}"#.into(), "Syntax errors in policy."),
            (Identity, allow(r#""Action":7,"Resource":"*""#), "Syntax errors in policy."),
            (Identity, allow(r#""Action":["s3:Get",7],"Resource":"*""#), "Syntax errors in policy."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"*","Condition":{"StringEqualz":{"aws:x":"y"}}"#), "Syntax errors in policy."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"*","Condition":{"servicecatalog:accountLevel":"self"}"#), "Syntax errors in policy."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"*","Condition":{"StringEquals":{"aws:x":{"y":1}}}"#), "Syntax errors in policy."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"*","Condition":{"NullIfExists":{"aws:x":"true"}}"#), "Syntax errors in policy."),
            (Identity, allow(r#""Principal":"*","Action":"s3:Get","Resource":"*""#), "Policy document should not specify a principal."),
            (Boundary, allow(r#""NotPrincipal":"*","Action":"s3:Get","Resource":"*""#), "Policy document should not specify a principal."),
            (Session, allow(r#""Action":"s3:Get""#), "Policy statement must contain resources."),
            (Identity, allow(r#""Action":"s3:Get","Resource":[]"#), "Policy statement must contain resources."),
            (Identity, allow(r#""Resource":"*""#), "Policy statement must contain actions."),
            (Identity, allow(r#""Action":"GetObject","Resource":"*""#), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
            (Identity, allow(r#""Action":":GetObject","Resource":"*""#), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
            (Identity, allow(r#""Action":"s3:Get:Object","Resource":"*""#), "Actions/Condition can contain only one colon."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"bucket""#), "Resource bucket must be in ARN format or \"*\"."),
            (Identity, allow(r#""Action":"s3:Get","Resource":"""#), "Resource  must be in ARN format or \"*\"."),
            (Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:Get","Resource":"arn:aws:iam:1:user/x"}]}"#.into(), "The policy failed legacy parsing"),
            (Identity, r#"{"Version":"2012-10-18","Statement":[]}"#.into(), "Syntax errors in policy."),
            (Identity, r#"{"Version":"2012-10-17","Statement":[{"Sid":"not-alnum","Effect":"Allow","Action":"s3:Get","Resource":"*"}]}"#.into(), "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
            (Identity, r#"{"Version":"2012-10-17","Statement":[{"Sid":"A1","Effect":"Allow","Action":"s3:Get","Resource":"*"},{"Sid":"A1","Effect":"Deny","Action":"s3:Put","Resource":"*"}]}"#.into(), "Statement IDs (SID) in a single policy must be unique."),
            (Identity, r#"{"Statement":[{"Sid":7,"Effect":"Allow","Action":"s3:Get","Resource":"*"}]}"#.into(), "Syntax errors in policy."),
            (Identity, r#"{"Statement":[{"Effect":"allow","Action":"s3:Get","Resource":"*"}]}"#.into(), "The policy failed legacy parsing"),
            (Identity, r#"{"Statement":[{"Effect":"Allow","Action":"s3:Get","Resource":"*","Principals":"*"}]}"#.into(), "Syntax errors in policy."),
            (Identity, r#"{"Statement":[],"statement":[]}"#.into(), "Syntax errors in policy."),
            (Trust, allow(r#""Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*""#), "Has prohibited field Resource"),
            (Trust, allow(r#""Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","NotResource":"*""#), "Has prohibited field NotResource"),
            (Trust, allow(r#""Action":"sts:AssumeRole""#), "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!"),
            (Trust, r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#.into(), "Has prohibited field NotPrincipal"),
            (Trust, allow(r#""Principal":{"AWS":"111122223333"},"Action":"s3:GetObject""#), "AssumeRole policy may only specify STS AssumeRole actions."),
            (Trust, allow(r#""Principal":{"AWS":"111122223333"},"Action":"*""#), "AssumeRole policy may only specify STS AssumeRole actions."),
            (Trust, allow(r#""Principal":{"AWS":"arn:aws:iam::111122223333:role/x*"},"Action":"sts:AssumeRole""#), "Invalid principal in policy: \"AWS\":\"arn:aws:iam::111122223333:role/x*\""),
            (Resource, allow(r#""Action":"kms:*","Resource":"*""#), "Missing required field Principal"),
            (Resource, allow(r#""NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*""#), "NotPrincipal is only supported with \"Effect\": \"Deny\"."),
            (Resource, allow(r#""Principal":{"CanonicalUser":"not-hex"},"Action":"s3:*","Resource":"*""#), "Invalid principal in policy: \"CanonicalUser\":\"not-hex\""),
        ];
        // IAM's own kinds are checked as IAM checks them on the way in; resource policies as their services do.
        for (kind, text, message) in cases {
            let got = match kind {
                Resource => PolicyDocument::parse_as(&text, kind),
                _ => crate::validate_iam(&text, kind, false),
            }
            .map(|_| ())
            .map_err(|e| e.to_string());
            assert_eq!(got, Err(message.to_string()), "{kind:?} {text}");
        }
    }

    #[test]
    fn valid_documents_of_each_kind() {
        let cases: &[(PolicyKind, &str)] = &[
            (
                PolicyKind::Identity,
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:iam::*:user/${aws:username}"},{"Sid":"","Effect":"Deny","Action":"*","Resource":"arn:aws:kms:*"}]}"#,
            ),
            (
                PolicyKind::Trust,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],"Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:org/*"}}}}"#,
            ),
            (
                PolicyKind::Trust,
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole","Condition":{}}]}"#,
            ),
            (
                PolicyKind::Session,
                r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket-${x}"}]}"#,
            ),
            (
                PolicyKind::Resource,
                r#"{"Id":"key-consolepolicy-3","Statement":[{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/KeyUser","arn:aws:sts::111122223333:assumed-role/KeyUser/s"],"Service":"logs.us-east-1.amazonaws.com"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"NumericLessThanEquals":{"kms:x":[1,2.5]},"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["a"]}}}]}"#,
            ),
        ];
        for (kind, text) in cases {
            let parsed = PolicyDocument::parse_as(text, *kind);
            assert!(parsed.is_ok(), "{kind:?} {text}: {parsed:?}");
        }
    }

    #[test]
    fn size_ignores_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n\t\"b c\" }"), 10);
        assert_eq!(policy_size(""), 0);
    }
}

#[cfg(test)]
mod public_access_tests {
    use super::*;

    #[test]
    fn public_means_anyone_without_a_limiting_condition() {
        let statement = |principal: &str, condition: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"secretsmanager:GetSecretValue","Resource":"*"{condition}}}]}}"#
            )
        };
        let cases = [
            (statement(r#""*""#, ""), true),
            (statement(r#"{"AWS":"*"}"#, ""), true),
            (statement(r#"{"AWS":["arn:aws:iam::111122223333:root","*"]}"#, ""), true),
            (statement(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, ""), false),
            (statement(r#"{"AWS":"222233334444"}"#, ""), false),
            (
                statement(r#""*""#, r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#),
                false,
            ),
            (
                statement(r#""*""#, r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}"#),
                false,
            ),
            (statement(r#""*""#, r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"*"}}"#), true),
            (statement(r#""*""#, r#","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"1"}}"#), true),
            (statement(r#""*""#, r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#), true),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#
                    .to_string(),
                false,
            ),
        ];
        for (text, public) in cases {
            let document = PolicyDocument::parse_as(&text, PolicyKind::Resource).expect("parses");
            assert_eq!(document.grants_public_access(), public, "{text}");
        }
    }

    /// The vendor index tries the request's vendor and wildcard vendors, and nothing else.
    #[test]
    fn action_index_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["kms:Encrypt"], "kms:encrypt", true),
            (&["KMS:Encrypt"], "kms:encrypt", true),
            (&["kms:*"], "kms:decrypt", true),
            (&["kms:Enc*"], "kms:decrypt", false),
            (&["s3:GetObject", "kms:Decrypt"], "kms:decrypt", true),
            (&["s3:GetObject"], "kms:getobject", false),
            (&["k?s:Encrypt"], "kms:encrypt", true),
            (&["*:Encrypt"], "kms:encrypt", true),
            (&["*"], "iam:listusers", true),
            (&["s3:*", "k*:Get*"], "kms:getkeypolicy", true),
            (&["s3:*", "k*:Get*"], "kms:encrypt", false),
        ];
        for (names, action, expected) in cases {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            assert_eq!(
                Actions::new(false, &names).any_matches(action),
                *expected,
                "{names:?} against {action}"
            );
        }
    }
}
