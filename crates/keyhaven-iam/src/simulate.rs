//! The IAM policy simulator: SimulatePrincipalPolicy and SimulateCustomPolicy on the policy engine.
//!
//! AWS facts (IAM API Reference for both operations; `../shared/aws/semantics.md` §4):
//! - every action is evaluated against every resource, `*` when ResourceArns is empty;
//! - a user's simulation includes its groups' policies; a group or role brings its own;
//! - PermissionsBoundaryPolicyInputList takes one policy at most, and replaces an attached boundary;
//! - one ResourcePolicy at most, treated as attached to every simulated resource. It needs a
//!   CallerArn (an IAM user's ARN) unless the source is a user, and roles do not support it;
//! - a resource's owner is the account in its ARN, else ResourceOwner, else the caller's account;
//! - condition keys come only from ContextEntries: keys a statement needed but nobody supplied are
//!   reported as MissingContextValues, never filled from the request that asked for the simulation;
//! - with named resources (not `*`) the per-resource details, missing keys included, go in
//!   ResourceSpecificResults.
//!
//! Decisions are always [`keyhaven_policy::evaluate`]'s, with the policies authorisation enforces
//! ([`keyhaven_kernel::authz::entity_documents`]), so a simulation answers as a real request would.

use std::iter::Peekable;
use std::str::Chars;

use keyhaven_policy::{
    Context, Decision, Effect, Evaluation, NamedPolicy, Policies, PolicyDocument, PolicyKind, PolicySource, Principal,
    Request, ResourceRules, evaluate,
};

use crate::error::IamError;
use crate::iam::policy_store::entity_documents;
use crate::iam::{EntityKind, validate_policy};
use keyhaven_kernel::context::RequestContext;

/// The longest policy document the simulation operations accept (model: `policyDocumentType`).
const MAX_INPUT_POLICY_CHARS: usize = 131_072;

/// A condition key and its values (`ContextEntry`). The declared `ContextKeyType` is not kept:
/// each condition operator reads the values as its own type, as it does for real requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    pub name: String,
    pub values: Vec<String>,
}

/// What both simulations take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulationInput {
    /// Identity policies: the only ones of SimulateCustomPolicy, extra ones of SimulatePrincipalPolicy.
    pub policy_input_list: Vec<String>,
    pub permissions_boundary_policy_input_list: Vec<String>,
    pub action_names: Vec<String>,
    /// Empty means `*`.
    pub resource_arns: Vec<String>,
    pub resource_policy: Option<String>,
    /// An account id or `arn:aws:iam::ACCOUNT:root`.
    pub resource_owner: Option<String>,
    /// An IAM user's ARN.
    pub caller_arn: Option<String>,
    pub context_entries: Vec<ContextEntry>,
}

/// SimulatePrincipalPolicy's input: whose policies to simulate, and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalSimulationInput {
    /// A user, group or role ARN of the caller's account.
    pub policy_source_arn: String,
    pub simulation: SimulationInput,
}

/// `PolicyEvaluationDecisionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalDecision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl EvalDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ExplicitDeny => "explicitDeny",
            Self::ImplicitDeny => "implicitDeny",
        }
    }
}

/// `PolicySourceType`: where a matched statement's policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySourceType {
    /// Inline policies of a user, group or role.
    User,
    Group,
    Role,
    AwsManaged,
    UserManaged,
    Resource,
    /// Documents passed in the request (PolicyInputList, PermissionsBoundaryPolicyInputList).
    None,
}

impl PolicySourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Role => "role",
            Self::AwsManaged => "aws-managed",
            Self::UserManaged => "user-managed",
            Self::Resource => "resource",
            Self::None => "none",
        }
    }
}

/// A place in a policy document's text; both numbers count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A statement that decided a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    /// The policy's name, `PolicyInputList.N`, `PermissionsBoundaryPolicyInputList.N` or
    /// `ResourcePolicy`.
    pub source_policy_id: String,
    pub source_policy_type: PolicySourceType,
    /// Start and end of the statement in its document, when it could be located.
    pub span: Option<(Position, Position)>,
}

/// What the simulation found for one action on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: EvalDecision,
    /// The Deny statements of an explicit deny, the Allow statements of an allow, nothing for an
    /// implicit deny (AWS: "the deny statement is the only entry included in the result").
    pub matched_statements: Vec<MatchedStatement>,
    pub missing_context_values: Vec<String>,
    /// `None` when no permissions boundary took part.
    pub allowed_by_permissions_boundary: Option<bool>,
}

/// The outcome for one named resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpecificResult {
    pub resource_name: String,
    pub outcome: Outcome,
}

/// One `EvaluationResult`: an action on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationResult {
    pub action_name: String,
    pub resource_name: String,
    /// For a named resource the missing context values are left to `resource_specific_results`.
    pub outcome: Outcome,
    /// Empty when the resource is `*`.
    pub resource_specific_results: Vec<ResourceSpecificResult>,
}

/// One policy taking part in a simulation: the engine's document and how results name it.
struct Source {
    /// The engine's id for the policy, unique within the simulation.
    label: String,
    id: String,
    kind: PolicySourceType,
    document: PolicyDocument,
    spans: Vec<(Position, Position)>,
}

impl Source {
    /// A document from the request. A malformed or oversized one is the caller's InvalidInput: the simulation
    /// operations declare only InvalidInput and PolicyEvaluation (the IAM model), not MalformedPolicyDocument or
    /// LimitExceeded.
    fn input(label: String, kind: PolicySourceType, text: &str, policy: PolicyKind) -> Result<Self, IamError> {
        let document = validate_policy(text, policy, false, MAX_INPUT_POLICY_CHARS).map_err(|e| match e {
            IamError::MalformedPolicyDocument(message) | IamError::LimitExceeded(message) => {
                IamError::InvalidInput(message)
            }
            other => other,
        })?;
        Ok(Self::located(label.clone(), label, kind, document, text))
    }

    /// A stored policy labelled as [`entity_documents`] labels them: its name and kind are read
    /// back from the label's ARN.
    fn stored(label: String, text: &str, policy: PolicyKind) -> Result<Self, IamError> {
        let document = PolicyDocument::parse_as(text, policy)
            .map_err(|e| IamError::Internal(format!("stored policy {label} does not parse: {e}")))?;
        let (account, resource_type, path) =
            iam_arn(&label).ok_or_else(|| IamError::Internal(format!("unexpected policy label {label}")))?;
        let kind = match (resource_type, account) {
            ("policy", "aws") => PolicySourceType::AwsManaged,
            ("policy", _) => PolicySourceType::UserManaged,
            ("user", _) => PolicySourceType::User,
            ("group", _) => PolicySourceType::Group,
            _ => PolicySourceType::Role,
        };
        let id = path.rsplit('/').next().unwrap_or(path).to_string();
        Ok(Self::located(label, id, kind, document, text))
    }

    fn located(label: String, id: String, kind: PolicySourceType, document: PolicyDocument, text: &str) -> Self {
        let mut spans = statement_spans(text);
        // Positions are a courtesy: never report ones that may belong to another statement.
        if spans.len() != document.statements().len() {
            spans.clear();
        }
        Self {
            label,
            id,
            kind,
            document,
            spans,
        }
    }

    fn named(&self) -> NamedPolicy<'_> {
        NamedPolicy {
            id: &self.label,
            document: &self.document,
        }
    }

    fn statement(&self, index: usize) -> MatchedStatement {
        MatchedStatement {
            source_policy_id: self.id.clone(),
            source_policy_type: self.kind,
            span: self.spans.get(index).copied(),
        }
    }
}

/// Everything a simulation evaluates, gathered and checked before any action is.
struct Simulation {
    principal: Principal,
    identity: Vec<Source>,
    boundary: Option<Source>,
    resource_policy: Option<Source>,
    /// The owner of resources whose ARN names no account.
    default_owner: String,
    context: Context,
}

/// `(account, resource type, path and name)` of an IAM ARN such as
/// `arn:aws:iam::111122223333:user/ops/bob`.
fn iam_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let (resource_type, path) = resource.split_once('/')?;
    Some((account, resource_type, path))
}

fn invalid(message: impl Into<String>) -> IamError {
    IamError::InvalidInput(message.into())
}

/// The simulated caller named by CallerArn, which AWS limits to IAM users.
fn caller(arn: &str) -> Result<Principal, IamError> {
    match iam_arn(arn) {
        Some((account, "user", name)) if is_account_id(account) && !name.is_empty() => Ok(Principal::user(arn)),
        _ => Err(invalid(format!(
            "Invalid CallerArn {arn}: the simulated caller must be an IAM user."
        ))),
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// ResourceOwner: an account id, or the account's root ARN as the API reference writes it.
fn resource_owner(owner: &str) -> Result<String, IamError> {
    let account = owner
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(owner);
    if is_account_id(account) {
        Ok(account.to_string())
    } else {
        Err(invalid(format!(
            "Invalid ResourceOwner {owner}: expected an account id."
        )))
    }
}

/// Actions must name their service, and the simulator evaluates one operation at a time.
fn check_actions(actions: &[String]) -> Result<(), IamError> {
    for action in actions {
        let named = action
            .split_once(':')
            .is_some_and(|(service, operation)| !service.is_empty() && !operation.is_empty());
        if !named || action.contains(['*', '?']) {
            return Err(invalid(format!(
                "Invalid action name {action}: give a service prefix and an operation, such as iam:CreateUser, without wildcards."
            )));
        }
    }
    Ok(())
}

/// The condition keys of the simulation: only what the request supplied.
fn simulation_context(entries: &[ContextEntry]) -> Result<Context, IamError> {
    let mut context = Context::new();
    for entry in entries {
        if entry.name.is_empty() {
            return Err(invalid("ContextKeyName must not be empty."));
        }
        context.set_all(&entry.name, entry.values.iter().cloned());
    }
    Ok(context)
}

/// The request's extra identity policies, in order, as `PolicyInputList.N`.
fn input_identity(input: &SimulationInput) -> Result<Vec<Source>, IamError> {
    input
        .policy_input_list
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Source::input(
                format!("PolicyInputList.{}", i + 1),
                PolicySourceType::None,
                text,
                PolicyKind::Identity,
            )
        })
        .collect()
}

/// The request's permissions boundary, of which there may be one.
fn input_boundary(input: &SimulationInput) -> Result<Option<Source>, IamError> {
    match input.permissions_boundary_policy_input_list.as_slice() {
        [] => Ok(None),
        [text] => Source::input(
            "PermissionsBoundaryPolicyInputList.1".into(),
            PolicySourceType::None,
            text,
            PolicyKind::Boundary,
        )
        .map(Some),
        _ => Err(invalid(
            "PermissionsBoundaryPolicyInputList can contain only one permissions boundary policy.",
        )),
    }
}

fn input_resource_policy(input: &SimulationInput) -> Result<Option<Source>, IamError> {
    input
        .resource_policy
        .as_deref()
        .map(|text| {
            Source::input(
                "ResourcePolicy".into(),
                PolicySourceType::Resource,
                text,
                PolicyKind::Resource,
            )
        })
        .transpose()
}

/// The account that owns resources whose ARN names none: ResourceOwner, else the caller's.
fn default_owner(input: &SimulationInput, caller: &Principal) -> Result<String, IamError> {
    match &input.resource_owner {
        Some(owner) => resource_owner(owner),
        None => Ok(caller.account_id.clone()),
    }
}

/// How much authority the resource policy has: a KMS key's policy must grant by itself, as KMS
/// enforces it; any other resource policy adds to identity policies.
fn resource_rules(resource: &str) -> ResourceRules {
    let mut parts = resource.splitn(6, ':');
    let is_kms_key = parts.nth(2) == Some("kms") && parts.nth(2).is_some_and(|resource| resource.starts_with("key/"));
    if is_kms_key {
        ResourceRules::KmsKeyPolicy
    } else {
        ResourceRules::Standard
    }
}

impl Simulation {
    fn source(&self, label: &str) -> Option<&Source> {
        self.identity
            .iter()
            .chain(&self.boundary)
            .chain(&self.resource_policy)
            .find(|source| source.label == label)
    }

    /// Every action on every resource, action by action.
    fn run(&self, input: &SimulationInput) -> Vec<EvaluationResult> {
        let identity: Vec<NamedPolicy<'_>> = self.identity.iter().map(Source::named).collect();
        let boundary: Option<Vec<NamedPolicy<'_>>> = self.boundary.as_ref().map(|b| vec![b.named()]);
        let everything = ["*".to_string()];
        let resources = if input.resource_arns.is_empty() {
            &everything[..]
        } else {
            &input.resource_arns[..]
        };
        let mut results = Vec::with_capacity(input.action_names.len() * resources.len());
        for action in &input.action_names {
            for resource in resources {
                let policies = Policies {
                    identity: &identity,
                    resource: self
                        .resource_policy
                        .as_ref()
                        .map(|policy| (policy.named(), resource_rules(resource))),
                    boundary: boundary.as_deref(),
                    session: None,
                    resource_account: resource
                        .split(':')
                        .nth(4)
                        .filter(|account| !account.is_empty())
                        .unwrap_or(&self.default_owner),
                };
                let request = Request {
                    principal: &self.principal,
                    action,
                    resource,
                    context: &self.context,
                };
                let outcome = self.outcome(&evaluate(&policies, &request));
                results.push(if resource == "*" {
                    EvaluationResult {
                        action_name: action.clone(),
                        resource_name: resource.clone(),
                        outcome,
                        resource_specific_results: Vec::new(),
                    }
                } else {
                    EvaluationResult {
                        action_name: action.clone(),
                        resource_name: resource.clone(),
                        outcome: Outcome {
                            missing_context_values: Vec::new(),
                            ..outcome.clone()
                        },
                        resource_specific_results: vec![ResourceSpecificResult {
                            resource_name: resource.clone(),
                            outcome,
                        }],
                    }
                });
            }
        }
        results
    }

    fn outcome(&self, evaluation: &Evaluation) -> Outcome {
        let decision = match evaluation.decision {
            Decision::Allow => EvalDecision::Allowed,
            Decision::ExplicitDeny => EvalDecision::ExplicitDeny,
            Decision::ImplicitDeny => EvalDecision::ImplicitDeny,
        };
        let deciding = |effect: Effect| match decision {
            EvalDecision::Allowed => effect == Effect::Allow,
            EvalDecision::ExplicitDeny => effect == Effect::Deny,
            EvalDecision::ImplicitDeny => false,
        };
        let matched_statements = evaluation
            .matched
            .iter()
            .filter(|m| deciding(m.effect))
            .filter_map(|m| self.source(&m.policy_id).map(|source| source.statement(m.index)))
            .collect();
        // The engine records only statements that applied, so the boundary allows exactly when
        // one of its Allow statements applied and none of its Deny statements did.
        let allowed_by_permissions_boundary = self.boundary.as_ref().map(|_| {
            let effects: Vec<Effect> = evaluation
                .matched
                .iter()
                .filter(|m| m.source == PolicySource::Boundary)
                .map(|m| m.effect)
                .collect();
            effects.contains(&Effect::Allow) && !effects.contains(&Effect::Deny)
        });
        Outcome {
            decision,
            matched_statements,
            missing_context_values: evaluation.missing_context_keys.clone(),
            allowed_by_permissions_boundary,
        }
    }
}

/// The kind and name of the user, group or role a `PolicySourceArn` names; InvalidInput for any other ARN (the
/// account's root among them), which the wire layer also checks before authorising on it.
pub fn source_kind(source_arn: &str) -> Result<(EntityKind, &str), IamError> {
    let refused = || {
        invalid(format!(
            "Invalid PolicySourceArn {source_arn}: expected the ARN of a user, group or role."
        ))
    };
    let (_, resource_type, path) = iam_arn(source_arn).ok_or_else(refused)?;
    let kind = match resource_type {
        "user" => EntityKind::User,
        "group" => EntityKind::Group,
        "role" => EntityKind::Role,
        _ => return Err(refused()),
    };
    Ok((kind, path.rsplit('/').next().unwrap_or(path)))
}

impl crate::Identity {
    /// The entity of the caller's account a `PolicySourceArn` names (with its path).
    fn source_entity(
        &self,
        ctx: &RequestContext,
        source_arn: &str,
        kind: EntityKind,
        name: &str,
    ) -> Result<crate::iam::Entity, IamError> {
        let entity = self.iam.entity(ctx, kind, name)?;
        if entity.account_id != ctx.account_id() || entity.arn() != source_arn {
            return Err(IamError::NotFound(format!(
                "The {} with name {name} cannot be found.",
                kind.noun()
            )));
        }
        Ok(entity)
    }

    /// GetContextKeysForCustomPolicy (no source) and GetContextKeysForPrincipalPolicy: every
    /// condition key the documents test, with a source's stored policies (its groups' for a user)
    /// first.
    pub fn context_keys(
        &self,
        ctx: &RequestContext,
        source_arn: Option<&str>,
        inputs: &[String],
    ) -> Result<Vec<String>, IamError> {
        let mut documents: Vec<String> = Vec::new();
        if let Some(source_arn) = source_arn {
            let (kind, name) = source_kind(source_arn)?;
            let entity = self.source_entity(ctx, source_arn, kind, name)?;
            let (stored, _) = entity_documents(&self.iam, ctx.account_id(), &entity)?;
            documents.extend(stored.into_iter().map(|(_, text)| text));
        }
        let mut keys: Vec<String> = Vec::new();
        for (n, text) in documents.iter().chain(inputs).enumerate() {
            let document = keyhaven_policy::PolicyDocument::parse_as(text, PolicyKind::Identity)
                .or_else(|_| keyhaven_policy::PolicyDocument::parse_as(text, PolicyKind::Resource))
                .map_err(|e| invalid(format!("Policy {} is not valid: {e}", n + 1)))?;
            for key in document.condition_keys() {
                if !keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }

    /// SimulatePrincipalPolicy: the stored policies of a user (with its groups'), group or role of
    /// the caller's account, plus any documents in the request.
    pub fn simulate_principal_policy(
        &self,
        ctx: &RequestContext,
        input: &PrincipalSimulationInput,
    ) -> Result<Vec<EvaluationResult>, IamError> {
        let simulation = &input.simulation;
        let source_arn = input.policy_source_arn.as_str();
        let (kind, name) = source_kind(source_arn)?;
        check_actions(&simulation.action_names)?;
        if simulation.resource_policy.is_some() {
            if kind == EntityKind::Role {
                return Err(invalid(
                    "Simulation of resource-based policies isn't supported for IAM roles.",
                ));
            }
            if kind != EntityKind::User && simulation.caller_arn.is_none() {
                return Err(invalid(
                    "CallerArn is required when ResourcePolicy is given and PolicySourceArn is not a user.",
                ));
            }
        }
        let entity = self.source_entity(ctx, source_arn, kind, name)?;
        // Without a CallerArn the source itself is the caller; groups and roles are only ever
        // callers of identity policies here, since resource policies need a user as caller.
        let principal = match &simulation.caller_arn {
            Some(arn) => caller(arn)?,
            None => Principal::user(source_arn),
        };
        let (stored, stored_boundary) = entity_documents(&self.iam, ctx.account_id(), &entity)?;
        let mut identity = stored
            .into_iter()
            .map(|(label, text)| Source::stored(label, &text, PolicyKind::Identity))
            .collect::<Result<Vec<_>, _>>()?;
        identity.extend(input_identity(simulation)?);
        let boundary = match input_boundary(simulation)? {
            Some(given) => Some(given),
            None => stored_boundary
                .map(|(label, text)| Source::stored(label, &text, PolicyKind::Boundary))
                .transpose()?,
        };
        Ok(Simulation {
            default_owner: default_owner(simulation, &principal)?,
            principal,
            identity,
            boundary,
            resource_policy: input_resource_policy(simulation)?,
            context: simulation_context(&simulation.context_entries)?,
        }
        .run(simulation))
    }

    /// SimulateCustomPolicy: the request's documents only.
    pub fn simulate_custom_policy(
        &self,
        ctx: &RequestContext,
        input: &SimulationInput,
    ) -> Result<Vec<EvaluationResult>, IamError> {
        check_actions(&input.action_names)?;
        if input.resource_policy.is_some() && input.caller_arn.is_none() {
            return Err(invalid("CallerArn is required when ResourcePolicy is given."));
        }
        // Without a resource policy the caller's identity only decides its account: a user of the
        // requester's account stands in for it.
        let principal = match &input.caller_arn {
            Some(arn) => caller(arn)?,
            None => Principal::user(&format!("arn:aws:iam::{}:user/simulated-caller", ctx.account_id())),
        };
        Ok(Simulation {
            default_owner: default_owner(input, &principal)?,
            principal,
            identity: input_identity(input)?,
            boundary: input_boundary(input)?,
            resource_policy: input_resource_policy(input)?,
            context: simulation_context(&input.context_entries)?,
        }
        .run(input))
    }
}

/// Where each statement of a policy text starts and ends, as AWS's simulator reports them: the line
/// and column just past the statement's `{` and just past its `}` (AWS's documented one-line example
/// reports columns 38 and 167 for a statement whose braces are at columns 37 and 166). Empty when
/// the text cannot be followed, so that statements are then reported without positions.
fn statement_spans(text: &str) -> Vec<(Position, Position)> {
    Scanner {
        chars: text.chars().peekable(),
        at: Position { line: 1, column: 1 },
    }
    .statements()
    .unwrap_or_default()
}

/// A cursor over JSON text that the policy parser already accepted, tracking line and column.
struct Scanner<'t> {
    chars: Peekable<Chars<'t>>,
    /// The position of the next character.
    at: Position,
}

impl Scanner<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.at.line += 1;
            self.at.column = 1;
        } else {
            self.at.column += 1;
        }
        Some(c)
    }

    fn peek_past_whitespace(&mut self) -> Option<char> {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
        self.chars.peek().copied()
    }

    fn expect(&mut self, expected: char) -> Option<()> {
        self.peek_past_whitespace();
        (self.bump()? == expected).then_some(())
    }

    /// The text of a string whose opening quote was consumed, escapes kept as written.
    fn string_rest(&mut self) -> Option<String> {
        let mut text = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(text),
                '\\' => {
                    text.push('\\');
                    text.push(self.bump()?);
                }
                c => text.push(c),
            }
        }
    }

    /// Skips to the end of an object or array whose opening bracket was consumed.
    fn container_rest(&mut self) -> Option<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.bump()? {
                '"' => {
                    self.string_rest()?;
                }
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }

    fn skip_value(&mut self) -> Option<()> {
        self.peek_past_whitespace();
        match self.bump()? {
            '"' => self.string_rest().map(drop),
            '{' | '[' => self.container_rest(),
            _ => {
                while self
                    .chars
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.bump();
                }
                Some(())
            }
        }
    }

    fn statement(&mut self) -> Option<(Position, Position)> {
        self.expect('{')?;
        let start = self.at;
        self.container_rest()?;
        Some((start, self.at))
    }

    /// The statements of the `Statement` value: one object, or an array of them.
    fn statement_value(&mut self) -> Option<Vec<(Position, Position)>> {
        if self.peek_past_whitespace()? == '{' {
            return Some(vec![self.statement()?]);
        }
        self.expect('[')?;
        let mut spans = Vec::new();
        if self.peek_past_whitespace()? == ']' {
            self.bump();
            return Some(spans);
        }
        loop {
            spans.push(self.statement()?);
            self.peek_past_whitespace();
            match self.bump()? {
                ',' => {}
                ']' => return Some(spans),
                _ => return None,
            }
        }
    }

    /// The spans of the document's statements; with several `Statement` members the last counts,
    /// as it does for the parser.
    fn statements(mut self) -> Option<Vec<(Position, Position)>> {
        self.expect('{')?;
        let mut spans = Vec::new();
        if self.peek_past_whitespace()? == '}' {
            return Some(spans);
        }
        loop {
            self.expect('"')?;
            let key = self.string_rest()?;
            self.expect(':')?;
            if key == "Statement" {
                spans = self.statement_value()?;
            } else {
                self.skip_value()?;
            }
            self.peek_past_whitespace();
            match self.bump()? {
                ',' => {}
                '}' => return Some(spans),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{NewEntity, RoleSettings};
    use crate::testing::{ACCOUNT, core, ctx};

    const REGION_ENCRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Encrypt","Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}}]}"#;
    const DENY_DECRYPT: &str =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#;
    const ALLOW_KMS: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    const ALLOW_DESCRIBE: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
    /// AWS's documented SimulateCustomPolicy example (AWS CLI reference, simulate-custom-policy).
    const AWS_EXAMPLE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;

    /// An ARN of the test account, from its resource part (`user/alice`).
    fn arn(resource: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:{resource}")
    }

    fn entry(name: &str, value: &str) -> ContextEntry {
        ContextEntry {
            name: name.into(),
            values: vec![value.into()],
        }
    }

    /// alice: inline Encrypt-in-us-east-1, member of devs (inline Deny Decrypt, AWS managed
    /// ReadOnlyAccess); bounded: kms:* with a customer managed boundary allowing DescribeKey;
    /// app: a role with a customer managed kms:* policy.
    fn setup() -> (keyhaven_store::testing::TempDir, crate::testing::Fixture) {
        let (dir, core) = core();
        let c = ctx("us-east-1");
        let iam = &core.iam;
        for (kind, name) in [
            (EntityKind::User, "alice"),
            (EntityKind::Group, "devs"),
            (EntityKind::User, "bounded"),
        ] {
            iam.create_entity(&c, NewEntity::named(kind, name)).expect("entity");
        }
        let role = NewEntity {
            role: Some(RoleSettings {
                assume_role_policy: TRUST.into(),
                ..Default::default()
            }),
            ..NewEntity::named(EntityKind::Role, "app")
        };
        iam.create_entity(&c, role).expect("role");
        iam.add_user_to_group(&c, "devs", "alice").expect("join");
        iam.put_inline_policy(&c, EntityKind::User, "alice", "encrypt-here", REGION_ENCRYPT)
            .expect("inline");
        iam.put_inline_policy(&c, EntityKind::Group, "devs", "no-decrypt", DENY_DECRYPT)
            .expect("group inline");
        iam.attach_policy(&c, EntityKind::Group, "devs", "arn:aws:iam::aws:policy/ReadOnlyAccess")
            .expect("aws managed");
        let kms_all = iam
            .create_policy(&c, "kms-all", None, ALLOW_KMS, None, vec![])
            .expect("policy");
        let describe = iam
            .create_policy(&c, "describe-only", None, ALLOW_DESCRIBE, None, vec![])
            .expect("boundary policy");
        iam.attach_policy(&c, EntityKind::Role, "app", &kms_all.arn())
            .expect("attach");
        iam.attach_policy(&c, EntityKind::User, "bounded", &kms_all.arn())
            .expect("attach");
        iam.put_permissions_boundary(&c, EntityKind::User, "bounded", &describe.arn())
            .expect("boundary");
        (dir, core)
    }

    fn principal_input(source: &str, action: &str, context: &[ContextEntry]) -> PrincipalSimulationInput {
        PrincipalSimulationInput {
            policy_source_arn: source.into(),
            simulation: SimulationInput {
                action_names: vec![action.into()],
                context_entries: context.to_vec(),
                ..Default::default()
            },
        }
    }

    fn matched(outcome: &Outcome) -> Vec<(&str, &str)> {
        outcome
            .matched_statements
            .iter()
            .map(|m| (m.source_policy_id.as_str(), m.source_policy_type.as_str()))
            .collect()
    }

    #[test]
    fn principal_policies_decide_like_real_requests() {
        let (_dir, core) = setup();
        let c = ctx("eu-west-1");
        let region = [entry("aws:RequestedRegion", "us-east-1")];
        let elsewhere = [entry("aws:RequestedRegion", "eu-west-1")];
        #[allow(clippy::type_complexity)]
        let cases: &[(
            &str,
            &str,
            &[ContextEntry],
            EvalDecision,
            &[(&str, &str)],
            &[&str],
            Option<bool>,
        )] = &[
            (
                "user/alice",
                "kms:Encrypt",
                &region,
                EvalDecision::Allowed,
                &[("encrypt-here", "user")],
                &[],
                None,
            ),
            (
                "user/alice",
                "kms:Encrypt",
                &[],
                EvalDecision::ImplicitDeny,
                &[],
                &["aws:RequestedRegion"],
                None,
            ),
            (
                "user/alice",
                "kms:Encrypt",
                &elsewhere,
                EvalDecision::ImplicitDeny,
                &[],
                &[],
                None,
            ),
            (
                "user/alice",
                "kms:Decrypt",
                &region,
                EvalDecision::ExplicitDeny,
                &[("no-decrypt", "group")],
                &[],
                None,
            ),
            (
                "user/alice",
                "kms:DescribeKey",
                &[],
                EvalDecision::Allowed,
                &[("ReadOnlyAccess", "aws-managed")],
                &[],
                None,
            ),
            (
                "user/alice",
                "kms:CreateKey",
                &region,
                EvalDecision::ImplicitDeny,
                &[],
                &[],
                None,
            ),
            (
                "group/devs",
                "kms:Decrypt",
                &[],
                EvalDecision::ExplicitDeny,
                &[("no-decrypt", "group")],
                &[],
                None,
            ),
            (
                "group/devs",
                "kms:Encrypt",
                &region,
                EvalDecision::ImplicitDeny,
                &[],
                &[],
                None,
            ),
            (
                "role/app",
                "kms:Decrypt",
                &[],
                EvalDecision::Allowed,
                &[("kms-all", "user-managed")],
                &[],
                None,
            ),
            (
                "user/bounded",
                "kms:DescribeKey",
                &[],
                EvalDecision::Allowed,
                &[("kms-all", "user-managed"), ("describe-only", "user-managed")],
                &[],
                Some(true),
            ),
            (
                "user/bounded",
                "kms:Encrypt",
                &[],
                EvalDecision::ImplicitDeny,
                &[],
                &[],
                Some(false),
            ),
        ];
        for (source, action, context, decision, statements, missing, boundary) in cases {
            let results = core
                .simulate_principal_policy(&c, &principal_input(&arn(source), action, context))
                .unwrap_or_else(|e| panic!("{source} {action}: {e}"));
            assert_eq!(results.len(), 1);
            let result = &results[0];
            let label = format!("{source} {action} {context:?}");
            assert_eq!(
                (result.action_name.as_str(), result.resource_name.as_str()),
                (*action, "*")
            );
            assert_eq!(result.outcome.decision, *decision, "{label}");
            assert_eq!(matched(&result.outcome), *statements, "{label}");
            assert_eq!(result.outcome.missing_context_values, *missing, "{label}");
            assert_eq!(result.outcome.allowed_by_permissions_boundary, *boundary, "{label}");
            assert!(result.resource_specific_results.is_empty());
        }
    }

    #[test]
    fn request_documents_add_to_or_replace_stored_ones() {
        let (_dir, core) = setup();
        let c = ctx("us-east-1");
        let mut input = principal_input(&arn("user/bounded"), "kms:Encrypt", &[]);
        input.simulation.permissions_boundary_policy_input_list = vec![ALLOW_KMS.into()];
        let result = &core.simulate_principal_policy(&c, &input).expect("simulate")[0];
        assert_eq!(
            result.outcome.decision,
            EvalDecision::Allowed,
            "the given boundary replaces the attached one"
        );
        assert_eq!(
            matched(&result.outcome),
            [
                ("kms-all", "user-managed"),
                ("PermissionsBoundaryPolicyInputList.1", "none")
            ]
        );
        assert_eq!(result.outcome.allowed_by_permissions_boundary, Some(true));

        let mut input = principal_input(&arn("user/alice"), "kms:GenerateRandom", &[]);
        input.simulation.policy_input_list = vec![ALLOW_KMS.into()];
        let result = &core.simulate_principal_policy(&c, &input).expect("simulate")[0];
        assert_eq!(result.outcome.decision, EvalDecision::Allowed);
        assert_eq!(matched(&result.outcome), [("PolicyInputList.1", "none")]);
    }

    #[test]
    fn named_resources_and_resource_policies() {
        let (_dir, core) = setup();
        let c = ctx("us-east-1");
        let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        let bob = arn("user/bob");
        let key_policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{bob}"}},"Action":"kms:Sign","Resource":"*"}}]}}"#
        );
        let input = SimulationInput {
            action_names: vec!["kms:Sign".into(), "kms:Encrypt".into()],
            resource_arns: vec![key.clone()],
            resource_policy: Some(key_policy),
            caller_arn: Some(bob),
            ..Default::default()
        };
        let results = core.simulate_custom_policy(&c, &input).expect("simulate");
        let decisions: Vec<(&str, EvalDecision)> = results
            .iter()
            .map(|r| (r.action_name.as_str(), r.outcome.decision))
            .collect();
        assert_eq!(
            decisions,
            [
                ("kms:Sign", EvalDecision::Allowed),
                ("kms:Encrypt", EvalDecision::ImplicitDeny)
            ]
        );
        let sign = &results[0];
        assert_eq!(sign.resource_name, key);
        assert_eq!(matched(&sign.outcome), [("ResourcePolicy", "resource")]);
        assert_eq!(sign.resource_specific_results.len(), 1);
        assert_eq!(sign.resource_specific_results[0].resource_name, key);
        assert_eq!(sign.resource_specific_results[0].outcome, sign.outcome);

        // A key policy must grant by itself: the identity Allow of PolicyInputList is not enough.
        let identity_only = SimulationInput {
            policy_input_list: vec![ALLOW_KMS.into()],
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]}"#.into(),
            ),
            ..input
        };
        let results = core.simulate_custom_policy(&c, &identity_only).expect("simulate");
        assert!(results.iter().all(|r| r.outcome.decision == EvalDecision::ImplicitDeny));
    }

    #[test]
    fn aws_documented_custom_policy_example() {
        let (_dir, core) = core();
        let c = ctx("us-east-1");
        let cases = [
            ("2019-04-25T11:00:00Z", EvalDecision::Allowed, 1),
            ("2018-08-16T11:59:59Z", EvalDecision::ImplicitDeny, 0),
        ];
        for (now, decision, statements) in cases {
            let input = SimulationInput {
                policy_input_list: vec![AWS_EXAMPLE.into()],
                action_names: vec!["dynamodb:CreateBackup".into()],
                context_entries: vec![entry("aws:CurrentTime", now)],
                ..Default::default()
            };
            let results = core.simulate_custom_policy(&c, &input).expect("simulate");
            let outcome = &results[0].outcome;
            assert_eq!(outcome.decision, decision, "{now}");
            assert_eq!(outcome.matched_statements.len(), statements, "{now}");
            assert!(outcome.missing_context_values.is_empty());
        }
        let input = SimulationInput {
            policy_input_list: vec![AWS_EXAMPLE.into()],
            action_names: vec!["dynamodb:CreateBackup".into()],
            ..Default::default()
        };
        let results = core.simulate_custom_policy(&c, &input).expect("simulate");
        assert_eq!(results[0].outcome.missing_context_values, ["aws:CurrentTime"]);
    }

    #[test]
    fn statement_positions_follow_aws() {
        let at = |line, column| Position { line, column };
        let cases: &[(&str, &[(Position, Position)])] = &[
            (AWS_EXAMPLE, &[(at(1, 38), at(1, 167))]),
            (
                "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"}\"},\n    {\n      \"Effect\": \"Deny\",\n      \"Action\": \"s3:Get*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}",
                &[(at(4, 6), at(4, 59)), (at(5, 6), at(9, 6))],
            ),
            (r#"{"Statement":[],"Version":"2012-10-17"}"#, &[]),
            ("not json", &[]),
            (r#"{"Statement":[{"Effect":"Allow""#, &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(statement_spans(text), *expected, "{text}");
        }
        let (_dir, core) = core();
        let input = SimulationInput {
            policy_input_list: vec![AWS_EXAMPLE.into()],
            action_names: vec!["dynamodb:CreateBackup".into()],
            context_entries: vec![entry("aws:CurrentTime", "2019-04-25T11:00:00Z")],
            ..Default::default()
        };
        let results = core
            .simulate_custom_policy(&ctx("us-east-1"), &input)
            .expect("simulate");
        assert_eq!(
            results[0].outcome.matched_statements,
            [MatchedStatement {
                source_policy_id: "PolicyInputList.1".into(),
                source_policy_type: PolicySourceType::None,
                span: Some((at(1, 38), at(1, 167))),
            }]
        );
    }

    #[test]
    fn invalid_requests_are_refused_as_aws_does() {
        let (_dir, core) = setup();
        let c = ctx("us-east-1");
        let resource_policy = Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#
                .to_string(),
        );
        let principal = |source: &str, change: &dyn Fn(&mut SimulationInput)| {
            let mut input = principal_input(source, "kms:Encrypt", &[]);
            change(&mut input.simulation);
            core.simulate_principal_policy(&c, &input).err()
        };
        let custom = |change: &dyn Fn(&mut SimulationInput)| {
            let mut input = SimulationInput {
                action_names: vec!["kms:Encrypt".into()],
                ..Default::default()
            };
            change(&mut input);
            core.simulate_custom_policy(&c, &input).err()
        };
        let kind = |error: &Option<IamError>| match error {
            Some(IamError::InvalidInput(_)) => "InvalidInput",
            Some(IamError::MalformedPolicyDocument(_)) => "MalformedPolicyDocument",
            Some(IamError::NotFound(_)) => "NotFound",
            Some(_) => "other",
            None => "ok",
        };
        let cases: Vec<(&str, Option<IamError>, &str)> = vec![
            ("known user", principal(&arn("user/alice"), &|_| {}), "ok"),
            ("unknown user", principal(&arn("user/nobody"), &|_| {}), "NotFound"),
            ("wrong path", principal(&arn("user/ops/alice"), &|_| {}), "NotFound"),
            (
                "other account",
                principal("arn:aws:iam::999999999999:user/alice", &|_| {}),
                "NotFound",
            ),
            (
                "not an entity",
                principal(&arn("policy/kms-all"), &|_| {}),
                "InvalidInput",
            ),
            ("not an ARN", principal("alice", &|_| {}), "InvalidInput"),
            (
                "wildcard action",
                principal(&arn("user/alice"), &|i| i.action_names = vec!["kms:*".into()]),
                "InvalidInput",
            ),
            (
                "no service",
                custom(&|i| i.action_names = vec!["Encrypt".into()]),
                "InvalidInput",
            ),
            (
                "two boundaries",
                custom(&|i| i.permissions_boundary_policy_input_list = vec![ALLOW_KMS.into(), ALLOW_KMS.into()]),
                "InvalidInput",
            ),
            (
                "resource policy for a role",
                principal(&arn("role/app"), &|i| i.resource_policy = resource_policy.clone()),
                "InvalidInput",
            ),
            (
                "resource policy for a group without caller",
                principal(&arn("group/devs"), &|i| i.resource_policy = resource_policy.clone()),
                "InvalidInput",
            ),
            (
                "resource policy for a user",
                principal(&arn("user/alice"), &|i| i.resource_policy = resource_policy.clone()),
                "ok",
            ),
            (
                "custom resource policy without caller",
                custom(&|i| i.resource_policy = resource_policy.clone()),
                "InvalidInput",
            ),
            (
                "caller is a role",
                custom(&|i| i.caller_arn = Some(arn("role/app"))),
                "InvalidInput",
            ),
            (
                "bad resource owner",
                custom(&|i| i.resource_owner = Some("me".into())),
                "InvalidInput",
            ),
            (
                "root ARN as resource owner",
                custom(&|i| i.resource_owner = Some("arn:aws:iam::222233334444:root".into())),
                "ok",
            ),
            (
                "empty context key",
                custom(&|i| i.context_entries = vec![entry("", "x")]),
                "InvalidInput",
            ),
            (
                "malformed identity policy",
                custom(&|i| i.policy_input_list = vec!["{".into()]),
                "InvalidInput",
            ),
            (
                "identity policy with a principal",
                custom(&|i| i.policy_input_list = resource_policy.iter().cloned().collect()),
                "InvalidInput",
            ),
            (
                "resource policy without a principal",
                custom(&|i| {
                    i.caller_arn = Some(arn("user/alice"));
                    i.resource_policy = Some(ALLOW_KMS.into());
                }),
                "InvalidInput",
            ),
        ];
        for (label, error, expected) in cases {
            assert_eq!(kind(&error), expected, "{label}: {error:?}");
        }
        assert_eq!(
            principal(&arn("user/nobody"), &|_| {}),
            Some(IamError::NotFound("The user with name nobody cannot be found.".into()))
        );
    }
}
