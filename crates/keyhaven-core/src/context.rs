//! Who is calling and from where: the authenticated principal and the request's surroundings.

use std::net::IpAddr;

/// What kind of identity made a request (CloudTrail's `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Root",
        }
    }
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub account_id: String,
    pub arn: String,
    pub principal_id: String,
    pub access_key_id: String,
}

impl Principal {
    /// The root user of `account_id`, signing with `access_key_id`.
    pub fn root(account_id: &str, access_key_id: &str) -> Self {
        Self {
            kind: PrincipalKind::Root,
            account_id: account_id.to_string(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            principal_id: account_id.to_string(),
            access_key_id: access_key_id.to_string(),
        }
    }
}

/// Everything about one request that the domain and the audit log need.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    pub region: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: String,
    pub secure_transport: bool,
}

impl RequestContext {
    pub fn account_id(&self) -> &str {
        &self.principal.account_id
    }

    /// The storage partition of this request's regional resources.
    pub fn regional_scope(&self) -> String {
        regional_scope(self.account_id(), &self.region)
    }
}

/// The storage partition for resources of `account_id` in `region`.
pub fn regional_scope(account_id: &str, region: &str) -> String {
    format!("{account_id}:{region}")
}
