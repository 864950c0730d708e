//! Evaluation: which statements apply to a request, and AWS's decision across the policy types.
//!
//! Sources: IAM User Guide, "Policy evaluation logic", "Cross-account policy evaluation logic",
//! "Permissions boundaries for IAM entities", "Session policies"; KMS Developer Guide, "Key
//! policies". The rules, in order:
//! 1. An explicit Deny in any policy wins. A resource-policy Deny that names the caller's account
//!    applies to every principal of that account; a Deny with NotPrincipal applies unless the list
//!    names every identity of the caller (account, user or role, session), and always applies to a
//!    principal with a permissions boundary.
//! 2. Services, web identities and anonymous callers have no IAM policies: only a resource policy
//!    that names them (or `*`) allows them.
//! 3. The root user of the resource's account is allowed, unless the resource is a KMS key or a
//!    role (trust policy), whose policy must allow it like anyone else.
//! 4. The identity side allows when an identity policy allows (the root user needs none), and
//!    every permissions boundary and session policy present allows too (intersections).
//! 5. A resource-policy Allow grants, depending on how it names the caller:
//!    - the caller itself (IAM user, role-session ARN, federated-user ARN, or `*`): on its own,
//!      not limited by identity policies, boundaries or session policies;
//!    - the role of a role session, or the IAM user behind a federated-user session: limited by
//!      the boundary and the session policy, not by identity policies;
//!    - the caller's account: access is delegated to the account, so the identity side decides.
//! 6. Same account: allowed if the identity side allows or the resource policy grants
//!    ([`ResourceRules::Standard`]). KMS key policies and role trust policies must grant
//!    themselves: without a grant (directly or through the account) identity policies count for
//!    nothing. Cross-account: the resource policy must allow the caller in some way *and* the
//!    identity side must allow.

use crate::context::Context;
use crate::document::{Effect, Listed, PolicyDocument, Statement, Version};
use crate::pattern::{Pattern, Resolved, substitute};
use crate::principal::{self, Principal, PrincipalKind, Reach};

/// One request to authorise.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// `service:Operation`, e.g. `kms:Encrypt`.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without resource-level permissions.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// A policy document with the caller's name for it (policy ARN, inline policy name, key id ...).
#[derive(Debug, Clone, Copy)]
pub struct NamedPolicy<'a> {
    pub id: &'a str,
    pub document: &'a PolicyDocument,
}

/// How much authority a resource policy has over its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceRules {
    /// S3 buckets, secrets and the like: in the same account, identity policies alone suffice.
    Standard,
    /// A KMS key policy: it must allow the caller, directly or by delegating to the account's IAM
    /// (naming `arn:aws:iam::ACCT:root` or `ACCT`). An IAM Allow alone is never enough, an IAM Deny
    /// always counts, and even the root user gets nothing the key policy does not allow.
    KmsKeyPolicy,
    /// A role trust policy: it must allow the caller explicitly (or through its account, then the
    /// caller's identity policies must allow `sts:AssumeRole*`).
    RoleTrust,
}

/// Every policy that applies to a request.
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a> {
    /// The user's policies and those of its groups, or the role's policies.
    pub identity: &'a [NamedPolicy<'a>],
    pub resource: Option<(NamedPolicy<'a>, ResourceRules)>,
    /// The caller's permissions boundary, if it has one.
    pub boundary: Option<&'a [NamedPolicy<'a>]>,
    /// The session policies the session was created with, if any.
    pub session: Option<&'a [NamedPolicy<'a>]>,
    /// The account that owns the resource.
    pub resource_account: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// The kind of policy a statement or a denial comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    Identity,
    Resource,
    Boundary,
    Session,
}

/// A statement that applied to the request (all of action, resource, principal and conditions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    pub source: PolicySource,
    pub policy_id: String,
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
}

/// Why a request was denied: an explicit Deny in a policy, or no policy of a needed kind allowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenySource {
    pub policy: PolicySource,
    pub explicit: bool,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    pub matched: Vec<MatchedStatement>,
    /// Condition keys (and policy variables) that statements needed but the context lacked.
    pub missing_context_keys: Vec<String>,
    /// `None` when allowed.
    pub denied_by: Option<DenySource>,
}

impl DenySource {
    /// The end of AWS's AccessDenied message, e.g. "because no identity-based policy allows the
    /// kms:Encrypt action" or "with an explicit deny in a resource-based policy".
    pub fn reason(&self, action: &str) -> String {
        let (article, name) = match self.policy {
            PolicySource::Identity => ("an", "identity-based policy"),
            PolicySource::Resource => ("a", "resource-based policy"),
            PolicySource::Boundary => ("a", "permissions boundary"),
            PolicySource::Session => ("a", "session policy"),
        };
        if self.explicit {
            format!("with an explicit deny in {article} {name}")
        } else {
            format!("because no {name} allows the {action} action")
        }
    }
}

impl Evaluation {
    /// AWS's AccessDenied message: "User: ARN is not authorized to perform: ACTION on resource:
    /// RESOURCE because ...". `None` when the request was allowed.
    pub fn denial_message(&self, request: &Request<'_>) -> Option<String> {
        let denied = self.denied_by?;
        Some(format!(
            "User: {} is not authorized to perform: {} on resource: {} {}",
            request.principal.arn,
            request.action,
            request.resource,
            denied.reason(request.action)
        ))
    }
}

/// Decides `request` against `policies` (see the module documentation for the rules).
pub fn evaluate(policies: &Policies<'_>, request: &Request<'_>) -> Evaluation {
    let mut recorder = Recorder::new(request);
    let identity = recorder.policy_set(policies.identity, PolicySource::Identity);
    let boundary = policies
        .boundary
        .map(|set| recorder.policy_set(set, PolicySource::Boundary));
    let session = policies
        .session
        .map(|set| recorder.policy_set(set, PolicySource::Session));
    let resource = policies
        .resource
        .map(|(policy, rules)| (recorder.resource_policy(policy, policies.boundary.is_some()), rules));
    let verdict = decide(
        request.principal,
        policies.resource_account,
        identity,
        boundary,
        session,
        resource,
    );
    let (decision, denied_by) = match verdict {
        Ok(()) => (Decision::Allow, None),
        Err(denied) => (
            if denied.explicit {
                Decision::ExplicitDeny
            } else {
                Decision::ImplicitDeny
            },
            Some(denied),
        ),
    };
    let mut missing = recorder.missing;
    missing.sort_by_key(|key| key.to_lowercase());
    missing.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    Evaluation {
        decision,
        matched: recorder.matched,
        missing_context_keys: missing,
        denied_by,
    }
}

/// What the statements of one kind of policy said.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    allow: bool,
    deny: bool,
}

/// What a resource policy said: whether it denies, and how directly its Allow names the caller.
#[derive(Debug, Clone, Copy)]
struct ResourceOutcome {
    deny: bool,
    allow: Reach,
}

fn decide(
    principal: &Principal,
    resource_account: &str,
    identity: Outcome,
    boundary: Option<Outcome>,
    session: Option<Outcome>,
    resource: Option<(ResourceOutcome, ResourceRules)>,
) -> Result<(), DenySource> {
    let explicit = |policy| DenySource { policy, explicit: true };
    let implicit = |policy| DenySource {
        policy,
        explicit: false,
    };
    let denies = [
        (identity.deny, PolicySource::Identity),
        (resource.is_some_and(|(r, _)| r.deny), PolicySource::Resource),
        (boundary.is_some_and(|b| b.deny), PolicySource::Boundary),
        (session.is_some_and(|s| s.deny), PolicySource::Session),
    ];
    if let Some(&(_, source)) = denies.iter().find(|(denied, _)| *denied) {
        return Err(explicit(source));
    }
    let rules = resource.map_or(ResourceRules::Standard, |(_, rules)| rules);
    let granted = resource.map_or(Reach::None, |(r, _)| r.allow);
    if !principal.is_iam() {
        return if granted == Reach::Caller {
            Ok(())
        } else {
            Err(implicit(PolicySource::Resource))
        };
    }
    let same_account = principal.account_id == resource_account;
    let root = principal.kind == PrincipalKind::Root;
    if root && same_account && rules == ResourceRules::Standard {
        return Ok(());
    }
    let boundary_ok = boundary.is_none_or(|b| b.allow);
    let session_ok = session.is_none_or(|s| s.allow);
    let identity_allows = root || identity.allow;
    let identity_ok = identity_allows && boundary_ok && session_ok;
    let resource_grants = match granted {
        Reach::Caller => true,
        Reach::Parent => boundary_ok && session_ok,
        Reach::Account => identity_ok,
        Reach::None => false,
    };
    let allowed = if same_account {
        resource_grants || (rules == ResourceRules::Standard && identity_ok)
    } else {
        granted != Reach::None && identity_ok
    };
    if allowed {
        return Ok(());
    }
    // The first missing Allow, in the order AWS evaluates the policy types.
    let resource_needed = !same_account || rules != ResourceRules::Standard;
    let first_missing = if resource_needed && granted == Reach::None {
        PolicySource::Resource
    } else if !(identity_allows || same_account && granted == Reach::Parent) {
        PolicySource::Identity
    } else if !boundary_ok {
        PolicySource::Boundary
    } else {
        PolicySource::Session
    };
    Err(implicit(first_missing))
}

/// Walks statements for one request, remembering which applied and which context keys were missing.
struct Recorder<'r> {
    request: &'r Request<'r>,
    /// The request's action, lowercased once: action patterns are compiled lowercase.
    action: String,
    matched: Vec<MatchedStatement>,
    missing: Vec<String>,
}

impl<'r> Recorder<'r> {
    fn new(request: &'r Request<'r>) -> Self {
        Self {
            request,
            action: request.action.to_lowercase(),
            matched: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// Identity-like policies (identity, boundary, session): no principal to match.
    fn policy_set(&mut self, policies: &[NamedPolicy<'_>], source: PolicySource) -> Outcome {
        let mut outcome = Outcome::default();
        for policy in policies {
            for (index, statement) in policy.document.statements().iter().enumerate() {
                if self.applies(statement, policy.document.version()) {
                    self.record(source, policy, index, statement);
                    match statement.effect() {
                        Effect::Allow => outcome.allow = true,
                        Effect::Deny => outcome.deny = true,
                    }
                }
            }
        }
        outcome
    }

    fn resource_policy(&mut self, policy: NamedPolicy<'_>, has_boundary: bool) -> ResourceOutcome {
        let mut outcome = ResourceOutcome {
            deny: false,
            allow: Reach::None,
        };
        let caller = self.request.principal;
        for (index, statement) in policy.document.statements().iter().enumerate() {
            let reach = match &statement.principal {
                Some(Listed { negated: false, items }) => principal::reach(items, caller),
                // AWS: a Deny with NotPrincipal "will always deny any IAM principal that has a
                // permissions boundary policy attached, regardless of the values specified".
                Some(Listed { negated: true, items })
                    if (has_boundary && caller.is_iam()) || !principal::exempted(items, caller) =>
                {
                    Reach::Caller
                }
                _ => Reach::None,
            };
            if reach == Reach::None || !self.applies(statement, policy.document.version()) {
                continue;
            }
            self.record(PolicySource::Resource, &policy, index, statement);
            match statement.effect() {
                Effect::Deny => outcome.deny = true,
                Effect::Allow => outcome.allow = outcome.allow.max(reach),
            }
        }
        outcome
    }

    fn record(&mut self, source: PolicySource, policy: &NamedPolicy<'_>, index: usize, statement: &Statement) {
        self.matched.push(MatchedStatement {
            source,
            policy_id: policy.id.to_string(),
            index,
            sid: statement.sid().map(str::to_string),
            effect: statement.effect(),
        });
    }

    /// Action, resource and every condition (conditions are all evaluated, so that every missing
    /// key is reported, and ANDed).
    fn applies(&mut self, statement: &Statement, version: Version) -> bool {
        let action = &statement.action;
        if action.any_matches(&self.action) == action.negated {
            return false;
        }
        if !self.resource_matches(statement.resource.as_ref(), version) {
            return false;
        }
        let variables = version == Version::Current;
        let context = self.request.context;
        let mut all = true;
        for condition in &statement.conditions {
            all &= condition.holds(context, variables, &mut self.missing);
        }
        all
    }

    /// An unresolved variable makes its entry match nothing, and a NotResource list holding one
    /// never applies: an unresolvable variable must not widen what a statement covers.
    fn resource_matches(&mut self, listed: Option<&Listed<String>>, version: Version) -> bool {
        let Some(listed) = listed else {
            // Trust policies have no Resource: they cover the role they are attached to.
            return true;
        };
        let mut unresolved = false;
        let mut any = false;
        for text in &listed.items {
            match self.resource_pattern(text, version) {
                Some(pattern) => any |= pattern.matches(self.request.resource),
                None => unresolved = true,
            }
        }
        if listed.negated { !any && !unresolved } else { any }
    }

    /// Variables are only substituted in the resource part of an ARN, after the fifth colon.
    fn resource_pattern(&mut self, text: &str, version: Version) -> Option<Pattern> {
        let resource_part = text.match_indices(':').nth(4).map(|(at, _)| at + 1);
        let resolved = match (version, resource_part) {
            (Version::Current, Some(start)) => substitute(text, start, self.request.context)
                .map_err(|key| self.missing.push(key))
                .ok()?,
            _ => Resolved::verbatim(text),
        };
        Some(resolved.arn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_table() {
        let cases: &[(PolicySource, bool, &str)] = &[
            (
                PolicySource::Identity,
                false,
                "because no identity-based policy allows the kms:Encrypt action",
            ),
            (
                PolicySource::Identity,
                true,
                "with an explicit deny in an identity-based policy",
            ),
            (
                PolicySource::Resource,
                false,
                "because no resource-based policy allows the kms:Encrypt action",
            ),
            (
                PolicySource::Resource,
                true,
                "with an explicit deny in a resource-based policy",
            ),
            (
                PolicySource::Boundary,
                false,
                "because no permissions boundary allows the kms:Encrypt action",
            ),
            (
                PolicySource::Boundary,
                true,
                "with an explicit deny in a permissions boundary",
            ),
            (
                PolicySource::Session,
                false,
                "because no session policy allows the kms:Encrypt action",
            ),
            (PolicySource::Session, true, "with an explicit deny in a session policy"),
        ];
        for (policy, explicit, expected) in cases {
            let source = DenySource {
                policy: *policy,
                explicit: *explicit,
            };
            assert_eq!(source.reason("kms:Encrypt"), *expected);
        }
        let principal = Principal::user("arn:aws:iam::111122223333:user/bob");
        let context = Context::new();
        let request = Request {
            principal: &principal,
            action: "kms:Encrypt",
            resource: "arn:aws:kms:us-east-1:111122223333:key/k",
            context: &context,
        };
        let policies = Policies {
            identity: &[],
            resource: None,
            boundary: None,
            session: None,
            resource_account: "111122223333",
        };
        let evaluation = evaluate(&policies, &request);
        assert_eq!(
            evaluation.denial_message(&request).as_deref(),
            Some(
                "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:us-east-1:111122223333:key/k because no identity-based policy allows the kms:Encrypt action"
            )
        );
    }
}
