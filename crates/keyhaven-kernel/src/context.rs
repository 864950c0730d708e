//! Who is calling and from where: the authenticated principal and the request's surroundings.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What kind of identity made a request (CloudTrail's `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    Root,
    IamUser,
    AssumedRole,
    FederatedUser,
    WebIdentityUser,
    /// A caller federated through a SAML identity provider (AssumeRoleWithSAML), before it has a session.
    SamlUser,
    /// An unsigned request (S3), which only a resource policy granting everyone lets through.
    Anonymous,
    /// An AWS service acting on its own, such as CloudTrail writing a trail's log files: only resource policies naming
    /// the service principal allow it anything.
    Service,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Root",
            PrincipalKind::IamUser => "IAMUser",
            PrincipalKind::AssumedRole => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::WebIdentityUser => "WebIdentityUser",
            PrincipalKind::SamlUser => "SAMLUser",
            // CloudTrail records an anonymous S3 caller as an account named ANONYMOUS_PRINCIPAL.
            PrincipalKind::Anonymous => "AWSAccount",
            PrincipalKind::Service => "AWSService",
        }
    }
}

/// The role behind an assumed-role session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSession {
    pub role_arn: String,
    pub role_name: String,
    pub role_id: String,
    pub session_name: String,
}

/// Facts about temporary credentials that policies and audit records use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionFacts {
    /// Unix seconds the credentials were issued.
    pub issued_at: i64,
    pub mfa_authenticated: bool,
    pub source_identity: Option<String>,
    /// Session tags as (key, value).
    pub tags: Vec<(String, String)>,
    /// Session policy documents (inline Policy and PolicyArns), intersected with the identity's.
    pub session_policies: Vec<String>,
    /// GetFederationToken sessions: the ARN of the IAM user that federated.
    #[serde(default)]
    pub federated_by: Option<String>,
    /// Keys of `tags` that pass to the sessions this one's role chain creates.
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    /// GetSessionToken credentials: they reach STS only for AssumeRole and GetCallerIdentity, and
    /// IAM only when issued with MFA.
    #[serde(default)]
    pub session_token: bool,
}

/// The account CloudTrail names for an anonymous caller.
pub const ANONYMOUS_ACCOUNT: &str = "ANONYMOUS_PRINCIPAL";

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub account_id: String,
    pub arn: String,
    /// AWS's `aws:userid` / GetCallerIdentity `UserId`.
    pub principal_id: String,
    pub access_key_id: String,
    /// IAM users: the user name (`aws:username`).
    pub user_name: Option<String>,
    pub role: Option<RoleSession>,
    /// Present for temporary credentials.
    pub session: Option<SessionFacts>,
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
            user_name: None,
            role: None,
            session: None,
        }
    }

    /// An IAM user signing with one of its access keys.
    pub fn user(account_id: &str, user_arn: &str, user_id: &str, user_name: &str, access_key_id: &str) -> Self {
        Self {
            kind: PrincipalKind::IamUser,
            account_id: account_id.to_string(),
            arn: user_arn.to_string(),
            principal_id: user_id.to_string(),
            access_key_id: access_key_id.to_string(),
            user_name: Some(user_name.to_string()),
            role: None,
            session: None,
        }
    }

    /// The caller of an unsigned request, as CloudTrail names it: an account `ANONYMOUS_PRINCIPAL` with no
    /// principal id.
    pub fn anonymous() -> Self {
        Self {
            kind: PrincipalKind::Anonymous,
            account_id: ANONYMOUS_ACCOUNT.to_string(),
            arn: String::new(),
            principal_id: String::new(),
            access_key_id: String::new(),
            user_name: None,
            role: None,
            session: None,
        }
    }

    /// The service principal `name` (`cloudtrail.amazonaws.com`) acting for `account_id`'s resources.
    pub fn service(name: &str, account_id: &str) -> Self {
        Self {
            kind: PrincipalKind::Service,
            account_id: account_id.to_string(),
            arn: name.to_string(),
            principal_id: name.to_string(),
            access_key_id: String::new(),
            user_name: None,
            role: None,
            session: None,
        }
    }

    pub fn mfa_authenticated(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.mfa_authenticated)
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
    /// Set when an AWS service acts on the caller's behalf (SSM calling KMS): the service principal,
    /// such as `ssm.amazonaws.com`.
    pub via_service: Option<String>,
    /// Calls made to other services on this request's behalf, for their own audit records.
    pub service_calls: ServiceCalls,
    /// Signed with Signature Version 2, which only S3 takes (and S3 refuses for SSE-KMS).
    pub signature_v2: bool,
}

/// One call a service made to another on the caller's behalf (SSM to KMS), as CloudTrail records it.
#[derive(Debug, Clone)]
pub struct ServiceCall {
    /// The calling service principal, such as `ssm.amazonaws.com`.
    pub invoked_by: String,
    /// The called service's endpoint name, such as `kms`.
    pub service: &'static str,
    pub operation: &'static str,
    pub request_parameters: serde_json::Value,
    pub resource_arn: Option<String>,
    /// The CloudTrail type of `resource_arn`, such as `AWS::KMS::Key`.
    pub resource_type: &'static str,
    /// The called service's own error, which the wire layer names as that service does.
    pub error: Option<CallError>,
}

/// The error of a call made on a caller's behalf, as the called service returned it.
pub type CallError = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// The calls of one request, shared by every context derived from it.
#[derive(Debug, Clone, Default)]
pub struct ServiceCalls(std::sync::Arc<std::sync::Mutex<Vec<ServiceCall>>>);

impl ServiceCalls {
    pub fn push(&self, call: ServiceCall) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(call);
        }
    }

    /// Takes every call recorded so far.
    pub fn drain(&self) -> Vec<ServiceCall> {
        self.0.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default()
    }
}

impl RequestContext {
    /// This request as `service` (a service principal such as `ssm.amazonaws.com`) makes it on the
    /// caller's behalf: same caller and credentials, seen through the service.
    pub fn through(&self, service: &str) -> RequestContext {
        RequestContext {
            via_service: Some(service.to_string()),
            ..self.clone()
        }
    }

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
