//! IAM policies: the grammar with AWS's validation rules, and evaluation as AWS authorises requests.
//!
//! Pure: no IO, no clocks, no storage. Callers parse documents once ([`PolicyDocument::parse_as`]),
//! describe the caller ([`Principal`]) and the request ([`Context`], [`Request`]), gather the
//! applicable [`Policies`] and call [`evaluate`]. AWS facts used are cited per module; see
//! `../shared/aws/semantics.md` section 4 for the summary this crate implements.

mod condition;
mod context;
mod datetime;
mod document;
mod error;
mod evaluate;
mod net;
mod pattern;
mod principal;
mod validate;

pub use context::{Context, ContextBuilder};
pub use document::{Effect, PolicyDocument, PolicyKind, Statement, Version, policy_size};
pub use error::{MAX_POLICY_BYTES, PolicyError};
pub use evaluate::{
    Decision, DenySource, Evaluation, MatchedStatement, NamedPolicy, Policies, PolicySource, Request, ResourceRules,
    evaluate,
};
pub use principal::{Principal, PrincipalKind};
pub use validate::validate_iam;
