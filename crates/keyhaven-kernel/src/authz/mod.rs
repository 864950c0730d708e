//! Authorisation: gathers every policy that applies to a caller and asks the policy engine, on the
//! resource types and with the condition keys the authorisation table (`table`, generated from AWS's
//! Service Authorization Reference) gives the action.
//!
//! A caller's identity policies, boundary and session policies are parsed once and cached per
//! caller; any IAM write bumps the IAM generation, which retires every cached entry.

pub mod reference;
pub mod table;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keyhaven_policy::{
    Context, ContextBuilder, Decision, NamedPolicy, Policies, PolicyDocument, PolicyKind, Request, ResourceRules,
    evaluate,
};

use crate::clock::Clock;
use crate::context::{Principal, PrincipalKind, RequestContext};
use crate::error::KernelError;

const CACHE_CAPACITY: usize = 10_000;

/// A resource policy that takes part in a decision.
#[derive(Debug, Clone, Copy)]
pub struct ResourcePolicy<'a> {
    pub id: &'a str,
    pub document: &'a PolicyDocument,
    pub rules: ResourceRules,
}

/// A resource an access is authorised on. Its type (`key`, `alias`, `user`, ...) is the one of the
/// action's resource types in the table whose ARN format the ARN has.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub arn: &'a str,
    /// The account that owns it.
    pub account: &'a str,
    pub policy: Option<ResourcePolicy<'a>>,
    /// Condition keys the resource supplies (`aws:ResourceTag/*`, `kms:KeySpec`, ...).
    pub keys: &'a [(String, Vec<String>)],
}

impl<'a> Resource<'a> {
    /// A resource without a resource policy or keys of its own.
    pub fn new(arn: &'a str, account: &'a str) -> Self {
        Self {
            arn,
            account,
            policy: None,
            keys: &[],
        }
    }
}

/// One access to authorise.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// `service:Action`.
    pub action: &'a str,
    /// Every resource the action is authorised on, one of each type the reference requires; none
    /// when the reference names no resource type (the access is then checked on `*`).
    pub resources: &'a [Resource<'a>],
    /// Request condition keys (`kms:EncryptionContext:...`, `aws:RequestTag/...`, ...). Keys the
    /// reference does not list for the action are not given to the policy engine.
    pub keys: &'a [(String, Vec<String>)],
}

impl<'a> Access<'a> {
    /// An action the reference names no resource type for, with no condition keys.
    pub fn unscoped(action: &'a str) -> Self {
        Self {
            action,
            resources: &[],
            keys: &[],
        }
    }

    /// An action on one resource.
    pub fn on(action: &'a str, resource: &'a [Resource<'a>; 1]) -> Self {
        Self {
            action,
            resources: resource,
            keys: &[],
        }
    }
}

/// A resource without a resource policy, known by its ARN, owning account and tags (CloudTrail's trails, CloudWatch
/// Logs' groups).
#[derive(Debug, Clone, Copy)]
pub struct TaggedResource<'a> {
    pub arn: &'a str,
    pub account: &'a str,
    pub tags: &'a [crate::tags::Tag],
}

/// Parsed policies of one caller.
struct CallerPolicies {
    generation: u64,
    identity: Vec<(String, PolicyDocument)>,
    boundary: Option<Vec<(String, PolicyDocument)>>,
    session: Option<Vec<(String, PolicyDocument)>>,
    /// The policy engine's view of the caller.
    engine: keyhaven_policy::Principal,
    /// The condition keys that depend only on the caller (principal keys, `aws:userid`, principal
    /// tags, the session's issue time and source identity): each request's context adds to them.
    keys: Arc<Context>,
}

/// A stored policy as (label, document text).
pub type LabelledDocument = (String, String);

/// The stored policies of the user or role a caller's credentials belong to. Labels are managed
/// policy ARNs, or `{entity ARN}/{name}` for inline policies; the boundary's is its policy ARN.
#[derive(Debug, Clone, Default)]
pub struct StoredPolicies {
    pub identity: Vec<LabelledDocument>,
    pub boundary: Option<LabelledDocument>,
    /// The entity's tags (`aws:PrincipalTag/*`).
    pub tags: Vec<(String, String)>,
}

/// Where the authoriser finds callers' policies: IAM, behind this interface.
pub trait PolicyStore: Send + Sync {
    /// A counter every IAM write bumps, on any node; cached policies of an older generation are reloaded, and
    /// none are trusted while it is unknown (`None`).
    fn generation(&self) -> Option<u64>;

    /// The policies of the entity `principal`'s credentials were issued to, by unique id (an
    /// entity deleted and created again under the same name gives them nothing); `None` for
    /// callers without an entity (the root, web identity callers before their session).
    fn caller_policies(&self, principal: &Principal) -> Result<Option<StoredPolicies>, KernelError>;
}

/// The authoriser shared by every service.
pub struct Authorizer {
    iam: Arc<dyn PolicyStore>,
    clock: Arc<dyn Clock>,
    cache: RwLock<HashMap<String, Arc<CallerPolicies>>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorizer")
    }
}

fn parse_all(docs: Vec<(String, String)>, kind: PolicyKind) -> Result<Vec<(String, PolicyDocument)>, KernelError> {
    docs.into_iter()
        .map(|(id, text)| {
            PolicyDocument::parse_as(&text, kind)
                .map(|doc| (id, doc))
                .map_err(|e| KernelError::Internal(format!("stored policy does not parse: {e}")))
        })
        .collect()
}

/// The condition keys that depend only on the caller, shared by every request it makes.
fn caller_keys(principal: &Principal, engine: &keyhaven_policy::Principal, tags: &[(String, String)]) -> Context {
    let mut builder = ContextBuilder::default()
        .principal(engine)
        .key("aws:userid", &principal.principal_id);
    if let Some(facts) = &principal.session {
        builder = builder.token_issue_time(facts.issued_at);
        if let Some(source) = &facts.source_identity {
            builder = builder.key("aws:SourceIdentity", source);
        }
    }
    for (key, value) in tags {
        builder = builder.principal_tag(key, value);
    }
    builder.build()
}

/// The policy engine's view of a caller.
pub fn engine_principal(principal: &Principal) -> keyhaven_policy::Principal {
    match (&principal.kind, &principal.role) {
        (PrincipalKind::Root, _) => keyhaven_policy::Principal::root(&principal.account_id),
        (PrincipalKind::Anonymous, _) => keyhaven_policy::Principal::anonymous(),
        (PrincipalKind::Service, _) => keyhaven_policy::Principal::service(&principal.arn),
        (PrincipalKind::AssumedRole, Some(role)) => {
            keyhaven_policy::Principal::assumed_role(&principal.arn, &role.role_arn)
        }
        // Before it has a session, a web identity caller is its provider (AssumeRoleWithWebIdentity).
        (PrincipalKind::WebIdentityUser | PrincipalKind::SamlUser, _) => {
            keyhaven_policy::Principal::web_identity(&principal.arn)
        }
        (PrincipalKind::FederatedUser, _) => keyhaven_policy::Principal::federated_user(
            &principal.arn,
            principal
                .session
                .as_ref()
                .and_then(|s| s.federated_by.as_deref())
                .unwrap_or_default(),
        ),
        _ => keyhaven_policy::Principal::user(&principal.arn),
    }
}

impl Authorizer {
    pub fn new(iam: Arc<dyn PolicyStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            iam,
            clock,
            cache: RwLock::new(HashMap::new()),
        }
    }

    fn load(&self, principal: &Principal) -> Result<Arc<CallerPolicies>, KernelError> {
        let generation = self.iam.generation();
        // An access key id names exactly one caller (dev-mode keys one account root each). Callers without one (an
        // anonymous caller, a web identity before its session) are told apart by nothing cacheable: never cached.
        let cache_key = principal.access_key_id.as_str();
        if let Some(hit) = self.cache.read().ok().and_then(|c| c.get(cache_key).cloned())
            && !cache_key.is_empty()
            && Some(hit.generation) == generation
        {
            return Ok(hit);
        }
        let (identity, boundary, mut tags) = match self.iam.caller_policies(principal)? {
            Some(stored) => {
                let boundary = match stored.boundary {
                    Some(doc) => Some(parse_all(vec![doc], PolicyKind::Boundary)?),
                    None => None,
                };
                (parse_all(stored.identity, PolicyKind::Identity)?, boundary, stored.tags)
            }
            None => (Vec::new(), None, Vec::new()),
        };
        let session = match &principal.session {
            // A federated user gets only what its session policies allow: none, nothing.
            Some(facts) if !facts.session_policies.is_empty() || principal.kind == PrincipalKind::FederatedUser => {
                Some(parse_all(
                    facts
                        .session_policies
                        .iter()
                        .enumerate()
                        .map(|(i, d)| (format!("session-policy-{i}"), d.clone()))
                        .collect(),
                    PolicyKind::Session,
                )?)
            }
            _ => None,
        };
        if let Some(facts) = &principal.session {
            tags.extend(facts.tags.iter().cloned());
        }
        let engine = engine_principal(principal);
        let loaded = Arc::new(CallerPolicies {
            generation: generation.unwrap_or_default(),
            identity,
            boundary,
            session,
            keys: Arc::new(caller_keys(principal, &engine, &tags)),
            engine,
        });
        if !cache_key.is_empty()
            && generation.is_some()
            && let Ok(mut cache) = self.cache.write()
        {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(cache_key.to_string(), loaded.clone());
        }
        Ok(loaded)
    }

    fn context(&self, ctx: &RequestContext, caller: &CallerPolicies, keys: &[&(String, Vec<String>)]) -> Context {
        let now = self.clock.now().unix_timestamp();
        let mut builder = ContextBuilder::on(caller.keys.clone())
            .current_time(now)
            .secure_transport(ctx.secure_transport)
            .requested_region(&ctx.region)
            // True only when a service (SSM, Secrets Manager) calls on the caller's behalf.
            .key(
                "aws:ViaAWSService",
                if ctx.via_service.is_some() { "true" } else { "false" },
            );
        if let Some(ip) = ctx.source_ip {
            builder = builder.source_ip(ip);
        }
        if let Some(facts) = &ctx.principal.session {
            let age = facts
                .mfa_authenticated
                .then(|| u64::try_from(now - facts.issued_at).unwrap_or(0));
            builder = builder.multi_factor_auth(age);
        }
        for (key, values) in keys.iter().copied() {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            builder = builder.keys(key, &values);
        }
        builder.build()
    }

    /// Allows the access or answers AccessDenied with AWS's message. The access must match the
    /// authorisation table: an action it does not list, a resource of a type the action is not
    /// authorised on (or a missing required one), an ARN not of its type's format, or a condition
    /// key no service defines is refused as an internal error, never evaluated.
    pub fn check(&self, ctx: &RequestContext, access: &Access<'_>) -> Result<(), KernelError> {
        match self.refusal(ctx, access)? {
            Some((_, message)) => Err(KernelError::AccessDenied(message)),
            None => Ok(()),
        }
    }

    /// [`Authorizer::check`] of `action` on one tagged resource (its tags as `aws:ResourceTag/*`), or on none for
    /// the actions the reference scopes to no resource.
    pub fn check_tagged(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: Option<TaggedResource<'_>>,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), KernelError> {
        let resource_keys = resource.map(|r| crate::tags::resource_keys(r.tags)).unwrap_or_default();
        let resources = resource.map(|r| {
            [Resource {
                keys: &resource_keys,
                ..Resource::new(r.arn, r.account)
            }]
        });
        self.check(
            ctx,
            &Access {
                action,
                resources: resources.as_ref().map_or(&[][..], |r| &r[..]),
                keys,
            },
        )
    }

    /// Whether an explicit deny refuses the access: for the few actions no policy can allow (KMS's RetireGrant,
    /// decided by the grant), where only a deny counts.
    pub fn explicitly_denied(&self, ctx: &RequestContext, access: &Access<'_>) -> Result<bool, KernelError> {
        Ok(matches!(self.refusal(ctx, access)?, Some((Decision::ExplicitDeny, _))))
    }

    /// The first refusal of the access, with its decision and AWS's message; none when every resource allows it.
    fn refusal(&self, ctx: &RequestContext, access: &Access<'_>) -> Result<Option<(Decision, String)>, KernelError> {
        let action = table::action(access.action)
            .ok_or_else(|| KernelError::Internal(format!("{} has no authorisation table entry", access.action)))?;
        let types = resource_types(action, access.resources)?;
        let caller = self.load(&ctx.principal)?;
        let engine = &caller.engine;
        let identity: Vec<NamedPolicy<'_>> = caller
            .identity
            .iter()
            .map(|(id, document)| NamedPolicy { id, document })
            .collect();
        let boundary: Option<Vec<NamedPolicy<'_>>> = caller
            .boundary
            .as_ref()
            .map(|b| b.iter().map(|(id, document)| NamedPolicy { id, document }).collect());
        let session: Option<Vec<NamedPolicy<'_>>> = caller
            .session
            .as_ref()
            .map(|s| s.iter().map(|(id, document)| NamedPolicy { id, document }).collect());
        let everything = [Resource::new("*", ctx.account_id())];
        let resources = if access.resources.is_empty() {
            &everything[..]
        } else {
            access.resources
        };
        for (index, resource) in resources.iter().enumerate() {
            let resource_type = types.get(index).copied();
            let keys = supplied_keys(action, resource_type, [access.keys, resource.keys])?;
            let context = self.context(ctx, &caller, &keys);
            let policies = Policies {
                identity: &identity,
                resource: resource.policy.map(|r| {
                    (
                        NamedPolicy {
                            id: r.id,
                            document: r.document,
                        },
                        r.rules,
                    )
                }),
                boundary: boundary.as_deref(),
                session: session.as_deref(),
                resource_account: resource.account,
            };
            let request = Request {
                principal: engine,
                action: access.action,
                resource: resource.arn,
                context: &context,
            };
            let evaluation = evaluate(&policies, &request);
            if evaluation.decision != Decision::Allow {
                let message = evaluation.denial_message(&request).unwrap_or_else(|| {
                    format!(
                        "User: {} is not authorized to perform: {}",
                        ctx.principal.arn, access.action
                    )
                });
                return Ok(Some((evaluation.decision, message)));
            }
        }
        Ok(None)
    }
}

/// The resource type of each resource of an access, from the table: each ARN must have the format
/// of one of the action's resource types, every required type must be there, and an action with
/// resource types is never authorised on none.
fn resource_types(action: &table::Action, resources: &[Resource<'_>]) -> Result<Vec<&'static str>, KernelError> {
    let mismatch = |what: String| KernelError::Internal(format!("{} authorised {what}", action.name));
    let types = resources
        .iter()
        .map(|resource| {
            action
                .resources
                .iter()
                .find(|u| u.matches(resource.arn))
                .map(|u| u.resource_type)
                .ok_or_else(|| mismatch(format!("on {}, of no resource type it lists", resource.arn)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // An action that lists several types, all required, and is asked about one resource names one
    // of them (iam:GenerateServiceLastAccessedDetails: the user, group, role or policy its `Arn` is).
    let one_of = resources.len() == 1 && action.resources.len() > 1 && action.resources.iter().all(|u| u.required);
    if let Some(missing) = action
        .resources
        .iter()
        .find(|u| u.required && !one_of && !types.contains(&u.resource_type))
    {
        return Err(mismatch(format!("without its {}", missing.resource_type)));
    }
    if resources.is_empty() && !action.resources.is_empty() {
        return Err(mismatch("on no resource".into()));
    }
    Ok(types)
}

/// The condition keys the policy engine sees: those the table lists for the action (and the
/// resource type). A key no service defines is a programming error, refused rather than dropped,
/// since dropping a misspelt key would let a Deny on it pass.
fn supplied_keys<'k>(
    action: &table::Action,
    resource_type: Option<&str>,
    groups: [&'k [(String, Vec<String>)]; 2],
) -> Result<Vec<&'k (String, Vec<String>)>, KernelError> {
    let mut kept = Vec::new();
    for entry in groups.into_iter().flatten() {
        if action.supplies(&entry.0, resource_type)
            || table::is_global_key(&entry.0)
            || action.takes_provider_key(&entry.0)
        {
            kept.push(entry);
        } else if !table::is_known_key(&entry.0) {
            return Err(KernelError::Internal(format!(
                "{} supplied the condition key {}, which no service defines",
                action.name, entry.0
            )));
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use keyhaven_policy::{PolicyDocument, ResourceRules};

    use super::*;
    use crate::context::PrincipalKind;
    use crate::testing::{self, NoEntities};

    fn web_identity(provider: &str) -> Principal {
        Principal {
            kind: PrincipalKind::WebIdentityUser,
            arn: format!("arn:aws:iam::{}:oidc-provider/{provider}", testing::ACCOUNT),
            principal_id: format!("{provider}:app:subject"),
            access_key_id: String::new(),
            user_name: Some("subject".into()),
            ..Principal::root(testing::ACCOUNT, "")
        }
    }

    /// Callers without an access key (web identities before their session, anonymous callers) are each evaluated as
    /// themselves: one's loaded view must never answer for the next.
    #[test]
    fn callers_without_access_keys_are_never_mistaken_for_one_another() {
        let clock = Arc::new(crate::clock::AdjustableClock::frozen(testing::START));
        let authz = Authorizer::new(Arc::new(NoEntities), clock);
        let role = format!("arn:aws:iam::{}:role/app", testing::ACCOUNT);
        let trust = PolicyDocument::parse_as(
            &format!(
                r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {{"Federated": "arn:aws:iam::{}:oidc-provider/trusted.example"}}}}]}}"#,
                testing::ACCOUNT
            ),
            keyhaven_policy::PolicyKind::Trust,
        )
        .expect("trust policy");
        let check = |principal: Principal| {
            let ctx = RequestContext {
                principal,
                ..testing::ctx("us-east-1")
            };
            let resource = [Resource {
                policy: Some(ResourcePolicy {
                    id: "trust-policy",
                    document: &trust,
                    rules: ResourceRules::RoleTrust,
                }),
                ..Resource::new(&role, testing::ACCOUNT)
            }];
            authz.check(&ctx, &Access::on("sts:AssumeRoleWithWebIdentity", &resource))
        };
        for _ in 0..2 {
            assert!(check(web_identity("trusted.example")).is_ok());
            assert!(matches!(
                check(web_identity("other.example")),
                Err(KernelError::AccessDenied(_))
            ));
            assert!(matches!(
                check(Principal::anonymous()),
                Err(KernelError::AccessDenied(_))
            ));
        }
    }
}
