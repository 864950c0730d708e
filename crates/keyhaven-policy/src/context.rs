//! The request context: condition keys and their values, with a builder for AWS's global keys.
//!
//! Keys are case-insensitive ("Key names are case-insensitive", IAM User Guide, policy variables).
//! Values are kept as text; each condition operator reads them as its own type. A key set to an
//! empty list counts as absent, as AWS treats an empty multivalued key like a missing one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::datetime::format_iso8601;
use crate::principal::{Principal, PrincipalKind};

/// Condition keys and values of one request, over an optional base context whose keys it adds to
/// or replaces (the caller's own keys, built once per caller rather than per request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    keys: BTreeMap<String, Vec<String>>,
    base: Option<Arc<Context>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that fills the global `aws:` keys.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// Sets `key` to a single value, replacing any earlier values.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.set_all(key, [value])
    }

    /// Sets a multivalued key such as `aws:TagKeys`.
    pub fn set_all<I>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.keys
            .insert(key.to_lowercase(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Adds one value to a multivalued key.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.keys.entry(key.to_lowercase()).or_default().push(value.into());
        self
    }

    /// The values of `key`, or `None` when it is absent (or set to an empty list).
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.lookup(&key.to_lowercase())
    }

    fn lookup(&self, lowercase_key: &str) -> Option<&[String]> {
        match self.keys.get(lowercase_key) {
            Some(values) => Some(values.as_slice()).filter(|values| !values.is_empty()),
            None => self.base.as_deref().and_then(|base| base.lookup(lowercase_key)),
        }
    }
}

/// Builds a [`Context`] from what the server knows about a request.
#[derive(Debug, Clone, Default)]
pub struct ContextBuilder {
    context: Context,
}

impl ContextBuilder {
    /// A builder whose context adds to (and may replace keys of) `base`.
    pub fn on(base: Arc<Context>) -> Self {
        Self {
            context: Context {
                keys: BTreeMap::new(),
                base: Some(base),
            },
        }
    }

    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username`,
    /// `aws:PrincipalIsAWSService` and `aws:PrincipalServiceName`, as AWS sets them for the caller.
    /// For a role session `aws:PrincipalArn` is the role's ARN, not the session's.
    pub fn principal(mut self, principal: &Principal) -> Self {
        let context = &mut self.context;
        let (principal_arn, principal_type) = match &principal.kind {
            PrincipalKind::Root => (Some(principal.arn.as_str()), Some("Account")),
            PrincipalKind::User => (Some(principal.arn.as_str()), Some("User")),
            PrincipalKind::AssumedRole { role_arn } => (Some(role_arn.as_str()), Some("AssumedRole")),
            PrincipalKind::FederatedUser { .. } => (Some(principal.arn.as_str()), Some("FederatedUser")),
            PrincipalKind::Anonymous => (None, Some("Anonymous")),
            PrincipalKind::WebIdentity | PrincipalKind::Service => (None, None),
        };
        if let Some(arn) = principal_arn {
            context.set("aws:PrincipalArn", arn);
            context.set("aws:PrincipalAccount", principal.account_id.as_str());
        }
        if let Some(principal_type) = principal_type {
            context.set("aws:PrincipalType", principal_type);
        }
        if principal.kind == PrincipalKind::User {
            let name = principal.arn.rsplit('/').next().unwrap_or_default();
            context.set("aws:username", name);
        }
        let is_service = principal.kind == PrincipalKind::Service;
        context.set("aws:PrincipalIsAWSService", is_service.to_string());
        if is_service {
            context.set("aws:PrincipalServiceName", principal.arn.as_str());
        }
        self
    }

    /// `aws:CurrentTime` (ISO 8601) and `aws:EpochTime` for a Unix time in seconds.
    pub fn current_time(mut self, unix_seconds: i64) -> Self {
        thread_local! {
            /// The texts of the last second asked for: every request of a second shares them.
            static LAST: RefCell<(i64, String, String)> = const { RefCell::new((i64::MIN, String::new(), String::new())) };
        }
        let (iso, epoch) = LAST.with(|last| {
            let mut last = last.borrow_mut();
            if last.0 != unix_seconds {
                *last = (unix_seconds, format_iso8601(unix_seconds), unix_seconds.to_string());
            }
            (last.1.clone(), last.2.clone())
        });
        self.context.set("aws:CurrentTime", iso);
        self.context.set("aws:EpochTime", epoch);
        self
    }

    /// `aws:TokenIssueTime`: only requests signed with temporary credentials have it.
    pub fn token_issue_time(mut self, unix_seconds: i64) -> Self {
        self.context.set("aws:TokenIssueTime", format_iso8601(unix_seconds));
        self
    }

    /// `aws:MultiFactorAuthPresent` and, when MFA was used, `aws:MultiFactorAuthAge` in seconds.
    /// Leave both unset for long-term access keys, as AWS does.
    pub fn multi_factor_auth(mut self, age_seconds: Option<u64>) -> Self {
        self.context
            .set("aws:MultiFactorAuthPresent", age_seconds.is_some().to_string());
        if let Some(age) = age_seconds {
            self.context.set("aws:MultiFactorAuthAge", age.to_string());
        }
        self
    }

    pub fn source_ip(mut self, address: IpAddr) -> Self {
        self.context.set("aws:SourceIp", address.to_string());
        self
    }

    pub fn secure_transport(mut self, tls: bool) -> Self {
        self.context.set("aws:SecureTransport", tls.to_string());
        self
    }

    pub fn requested_region(mut self, region: &str) -> Self {
        self.context.set("aws:RequestedRegion", region);
        self
    }

    /// `aws:PrincipalTag/<key>`.
    pub fn principal_tag(self, key: &str, value: &str) -> Self {
        self.key(&format!("aws:PrincipalTag/{key}"), value)
    }

    /// `aws:ResourceTag/<key>`.
    pub fn resource_tag(self, key: &str, value: &str) -> Self {
        self.key(&format!("aws:ResourceTag/{key}"), value)
    }

    /// `aws:RequestTag/<key>`, and `key` added to `aws:TagKeys`.
    pub fn request_tag(mut self, key: &str, value: &str) -> Self {
        self.context.push("aws:TagKeys", key);
        self.key(&format!("aws:RequestTag/{key}"), value)
    }

    /// Any single-valued key (service keys such as `kms:CallerAccount`).
    pub fn key(mut self, key: &str, value: &str) -> Self {
        self.context.set(key, value);
        self
    }

    /// Any multivalued key.
    pub fn keys(mut self, key: &str, values: &[&str]) -> Self {
        self.context.set_all(key, values.iter().copied());
        self
    }

    pub fn build(self) -> Context {
        self.context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_adds_to_and_replaces_keys_of_its_base() {
        let base = Arc::new(
            Context::builder()
                .key("aws:username", "alice")
                .key("aws:SourceIdentity", "base")
                .keys("aws:TagKeys", &["a"])
                .build(),
        );
        let context = ContextBuilder::on(base)
            .key("aws:sourceidentity", "request")
            .keys("aws:TagKeys", &[])
            .current_time(0)
            .build();
        assert_eq!(context.values("AWS:USERNAME"), Some(&["alice".to_string()][..]));
        assert_eq!(context.values("aws:SourceIdentity"), Some(&["request".to_string()][..]));
        assert_eq!(
            context.values("aws:TagKeys"),
            None,
            "an empty list replaces the base's values"
        );
        assert_eq!(
            context.values("aws:CurrentTime"),
            Some(&["1970-01-01T00:00:00Z".to_string()][..])
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_empty_lists_are_absent() {
        let mut context = Context::new();
        context
            .set("aws:SourceIp", "203.0.113.1")
            .set_all("aws:TagKeys", Vec::<String>::new());
        assert_eq!(context.values("AWS:SOURCEIP"), Some(&["203.0.113.1".to_string()][..]));
        assert_eq!(context.values("aws:TagKeys"), None);
        assert_eq!(context.values("aws:Missing"), None);
    }

    #[test]
    fn builder_sets_global_keys() {
        let session = Principal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Admin/alice",
            "arn:aws:iam::111122223333:role/Admin",
        );
        let context = Context::builder()
            .principal(&session)
            .current_time(1_372_550_400)
            .multi_factor_auth(Some(30))
            .request_tag("team", "blue")
            .request_tag("env", "prod")
            .build();
        let cases: &[(&str, &[&str])] = &[
            ("aws:PrincipalArn", &["arn:aws:iam::111122223333:role/Admin"]),
            ("aws:PrincipalAccount", &["111122223333"]),
            ("aws:PrincipalType", &["AssumedRole"]),
            ("aws:PrincipalIsAWSService", &["false"]),
            ("aws:CurrentTime", &["2013-06-30T00:00:00Z"]),
            ("aws:EpochTime", &["1372550400"]),
            ("aws:MultiFactorAuthPresent", &["true"]),
            ("aws:MultiFactorAuthAge", &["30"]),
            ("aws:TagKeys", &["team", "env"]),
            ("aws:RequestTag/team", &["blue"]),
        ];
        for (key, expected) in cases {
            let got: Vec<&str> = context
                .values(key)
                .unwrap_or_default()
                .iter()
                .map(String::as_str)
                .collect();
            assert_eq!(&got, expected, "{key}");
        }
        assert_eq!(context.values("aws:username"), None);
        let user = Context::builder()
            .principal(&Principal::user("arn:aws:iam::111122223333:user/ops/bob"))
            .build();
        assert_eq!(user.values("aws:username"), Some(&["bob".to_string()][..]));
    }
}
