//! Authorisation: every operation passes through here, with its IAM action, before it runs.
//!
//! Only account root users can authenticate today, and AWS allows a root user every action on its
//! own account's resources; the policy engine that evaluates identity and resource policies plugs
//! in here with the IAM issue.

use keyhaven_core::context::{PrincipalKind, RequestContext};

use crate::error::ApiError;

/// Decides whether the caller may perform `action` (`service:Operation`).
pub fn check(ctx: &RequestContext, _action: &str) -> Result<(), ApiError> {
    match ctx.principal.kind {
        PrincipalKind::Root => Ok(()),
    }
}
