//! AssumeRoleWithSAML: a signed SAML response from the identity provider an IAM SAML provider
//! describes, exchanged for a session of a role the response names.
//!
//! The call is unauthenticated: the response is the credential. Order of checks (AWS publishes
//! none; this follows the errors the IAM User Guide's "Troubleshooting SAML 2.0 federation" lists): the
//! provider of `PrincipalArn` in the role's account → the response's signature against that
//! provider's metadata certificates ([`crate::saml_response`]) → the assertion's issuer is the
//! metadata's `entityID` → its times (issued within five minutes, conditions and bearer
//! confirmation still valid, allowing five minutes of clock skew) → the recipient and audience are
//! AWS's sign-in endpoint → the `Role` attribute pairs the requested role with the provider → the
//! `RoleSessionName`, `SessionDuration` and `SourceIdentity` attributes → the role's trust policy
//! for `sts:AssumeRoleWithSAML` (and `sts:TagSession` / `sts:SetSourceIdentity` when the response
//! passes tags or a source identity), the caller being the provider, with the `saml:` keys → a role
//! session. No part of the response appears in an error or a log line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_kernel::authz::{Access, Resource, ResourcePolicy};
use keyhaven_kernel::context::{Principal, PrincipalKind, SessionFacts};
use keyhaven_kernel::error::KernelError;
use keyhaven_policy::{PolicyDocument, PolicyKind, ResourceRules};
use zeroize::Zeroizing;

use crate::error::IamError;
use crate::iam::EntityKind;
use crate::iam::saml::parse_metadata;
use crate::saml_response::{self, SamlClaims};
use crate::sts::{IssuedCredentials, SessionSpec};
use crate::web_identity::Origin;

const ACTION: &str = "sts:AssumeRoleWithSAML";
const ATTRIBUTES: &str = "https://aws.amazon.com/SAML/Attributes/";
const NAME_ID_FORMAT_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
/// "Token must be redeemed within 5 minutes of issuance"; the same allowance for clock skew.
const REDEEM_SECONDS: f64 = 300.0;
const MIN_SESSION_SECONDS: i32 = 900;
const MAX_SESSION_ATTRIBUTE_SECONDS: i64 = 43_200;
const DEFAULT_SESSION_SECONDS: i32 = 3_600;
const MAX_SESSION_TAGS: usize = 50;

/// The endpoints AWS takes SAML responses at, in each partition, and its service provider entity id.
fn is_aws_sign_in(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = [
        "signin.aws.amazon.com",
        "signin.amazonaws.cn",
        "signin.amazonaws-us-gov.com",
    ]
    .iter()
    .any(|base| host == *base || host.strip_suffix(base).is_some_and(|region| region.ends_with('.')));
    host_ok && matches!(path, "saml" | "static/saml")
}

fn is_aws_audience(audience: &str) -> bool {
    is_aws_sign_in(audience) || audience.starts_with("urn:amazon:webservices")
}

/// `saml:` condition keys taken from attributes, by the attribute names IdPs send (IAM User
/// Guide, "Available keys for SAML-based AWS STS federation").
const ATTRIBUTE_KEYS: &[(&str, &str)] = &[
    ("urn:oid:2.5.4.3", "saml:cn"),
    ("http://schemas.xmlsoap.org/claims/CommonName", "saml:commonName"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "saml:edupersonaffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.2", "saml:edupersonnickname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.3", "saml:edupersonorgdn"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.4", "saml:edupersonorgunitdn"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.5", "saml:edupersonprimaryaffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "saml:edupersonprincipalname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "saml:edupersonentitlement"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.8", "saml:edupersonprimaryorgunitdn"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.9", "saml:edupersonscopedaffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.10", "saml:edupersontargetedid"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.11", "saml:edupersonassurance"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.2", "saml:eduorghomepageuri"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.3", "saml:eduorgidentityauthnpolicyuri"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.4", "saml:eduorglegalname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.5", "saml:eduorgsuperioruri"),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.6", "saml:eduorgwhitepagesuri"),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "saml:name",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "saml:givenName",
    ),
    ("urn:oid:2.5.4.42", "saml:givenName"),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "saml:surname",
    ),
    ("urn:oid:2.5.4.4", "saml:surname"),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "saml:mail",
    ),
    ("urn:oid:0.9.2342.19200300.100.1.3", "saml:mail"),
    ("urn:oid:0.9.2342.19200300.100.1.1", "saml:uid"),
    ("urn:oid:2.5.4.45", "saml:x500UniqueIdentifier"),
    ("urn:oid:0.9.2342.19200300.100.1.45", "saml:organizationStatus"),
];

/// What AssumeRoleWithSAML takes, already shape-validated by the wire layer.
#[derive(Clone, Default)]
pub struct SamlInput {
    pub role_arn: String,
    pub principal_arn: String,
    /// The base64 SAML response; wiped from memory when dropped.
    pub assertion: Zeroizing<String>,
    pub duration_seconds: Option<i32>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

/// Never prints the response.
impl std::fmt::Debug for SamlInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlInput")
            .field("role_arn", &self.role_arn)
            .field("principal_arn", &self.principal_arn)
            .field("assertion", &"***")
            .field("duration_seconds", &self.duration_seconds)
            .finish_non_exhaustive()
    }
}

/// A role session obtained with a SAML response, and what the answer and audit record say of it.
#[derive(Debug)]
pub struct SamlCredentials {
    pub issued: IssuedCredentials,
    pub subject: String,
    /// The `NameID` format, without the SAML 2.0 prefix AWS strips (`persistent`, `transient`).
    pub subject_type: String,
    pub issuer: String,
    /// The bearer confirmation's `Recipient`, which AWS answers as `Audience`.
    pub audience: String,
    pub name_qualifier: String,
    pub source_identity: Option<String>,
    pub packed_policy_size: Option<i32>,
    /// The SAML caller as the audit log names it (CloudTrail `SAMLUser`).
    pub caller: Principal,
}

fn invalid(message: &str) -> IamError {
    IamError::InvalidIdentityToken(message.into())
}

/// `[a-zA-Z_0-9+=,.@-]{2,64}`, the pattern AWS quotes for session names and source identities.
fn is_session_name(value: &str) -> bool {
    (2..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// The role and provider pairs of the `Role` attribute, in either order within a pair.
fn role_pairs(claims: &SamlClaims) -> Vec<(String, String)> {
    claims
        .attribute(&format!("{ATTRIBUTES}Role"))
        .unwrap_or_default()
        .iter()
        .filter_map(|value| {
            let (a, b) = value.split_once(',')?;
            let (a, b) = (a.trim().to_string(), b.trim().to_string());
            Some(if a.contains(":saml-provider/") { (b, a) } else { (a, b) })
        })
        .collect()
}

/// `Base64(SHA1(issuer + account + "/" + provider name))` (AssumeRoleWithSAML reference, NameQualifier).
pub fn name_qualifier(issuer: &str, account: &str, provider_name: &str) -> String {
    let digest =
        keyhaven_crypto::xmldsig::DsigHash::Sha1.digest(format!("{issuer}{account}/{provider_name}").as_bytes());
    STANDARD.encode(digest)
}

impl crate::Identity {
    /// AssumeRoleWithSAML (see the module documentation for the checks and their order).
    pub fn assume_role_with_saml(&self, origin: &Origin, input: SamlInput) -> Result<SamlCredentials, IamError> {
        let (account, role_name) = crate::sts::parse_role_arn(&input.role_arn)?;
        let (account, role_name) = (account.as_str(), role_name.as_str());
        let provider = self
            .iam
            .saml_provider_in(account, &input.principal_arn)
            .map_err(|_| invalid("Specified provider doesn't exist."))?;
        let metadata = parse_metadata(&provider.metadata)?;
        let claims = saml_response::verify(&input.assertion, &metadata.signing_certificates)?;
        if claims.issuer != metadata.entity_id {
            return Err(invalid("Issuer not present in specified provider"));
        }
        self.check_times(&claims)?;
        let recipient = claims.recipient.clone().filter(|r| is_aws_sign_in(r)).ok_or_else(|| {
            invalid("The SAML response's bearer confirmation must name AWS's sign-in endpoint as its Recipient.")
        })?;
        if !claims.audiences.is_empty() && !claims.audiences.iter().any(|a| is_aws_audience(a)) {
            return Err(invalid("Response does not contain the required audience."));
        }
        let not_authorized = || IamError::AccessDenied(format!("Not authorized to perform {ACTION}"));
        if claims.subject.is_empty() {
            return Err(not_authorized());
        }
        if !role_pairs(&claims)
            .iter()
            .any(|(role, principal)| *role == input.role_arn && *principal == input.principal_arn)
        {
            return Err(not_authorized());
        }
        let session_name = match claims.attribute(&format!("{ATTRIBUTES}RoleSessionName")) {
            Some([name]) if is_session_name(name) => name.clone(),
            Some([_]) => {
                return Err(invalid(
                    "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}",
                ));
            }
            _ => return Err(invalid("RoleSessionName is required in AuthnResponse")),
        };
        let source_identity = match claims.attribute(&format!("{ATTRIBUTES}SourceIdentity")) {
            None => None,
            Some([value]) if is_session_name(value) && !value.to_ascii_lowercase().starts_with("aws:") => {
                Some(value.clone())
            }
            Some(_) => {
                return Err(invalid(
                    "Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with \"aws:\"",
                ));
            }
        };
        let (tags, transitive_tag_keys) = session_tags(&claims)?;
        let subject_type = claims
            .subject_format
            .as_deref()
            .map(|f| f.strip_prefix(NAME_ID_FORMAT_PREFIX).unwrap_or(f).to_string())
            .unwrap_or_default();
        let provider_name = provider.name.clone();
        let qualifier = name_qualifier(&claims.issuer, account, &provider_name);
        let caller = Principal {
            kind: PrincipalKind::SamlUser,
            account_id: account.to_string(),
            arn: provider.arn(),
            principal_id: format!("{qualifier}:{}", claims.subject),
            access_key_id: String::new(),
            user_name: Some(claims.subject.clone()),
            role: None,
            session: None,
        };
        let role = self
            .iam
            .entity_in(account, EntityKind::Role, role_name)
            .map_err(|_| not_authorized())?;
        let role_arn = role.arn();
        if role_arn != input.role_arn {
            return Err(not_authorized());
        }
        let trust = PolicyDocument::parse_as(
            role.assume_role_policy.as_deref().unwrap_or_default(),
            PolicyKind::Trust,
        )
        .map_err(|e| IamError::Internal(format!("stored trust policy does not parse: {e}")))?;
        let mut keys: Vec<(String, Vec<String>)> = vec![
            ("saml:aud".into(), vec![recipient.clone()]),
            ("saml:iss".into(), vec![claims.issuer.clone()]),
            ("saml:sub".into(), vec![claims.subject.clone()]),
            ("saml:sub_type".into(), vec![subject_type.clone()]),
            ("saml:namequalifier".into(), vec![qualifier.clone()]),
            ("saml:doc".into(), vec![format!("{account}/{provider_name}")]),
            ("sts:RoleSessionName".into(), vec![session_name.clone()]),
        ];
        for (attribute, key) in ATTRIBUTE_KEYS {
            if let Some(values) = claims.attribute(attribute) {
                keys.push(((*key).to_string(), values.to_vec()));
            }
        }
        if let Some(source) = &source_identity {
            keys.push(("sts:SourceIdentity".into(), vec![source.clone()]));
        }
        for (key, value) in &tags {
            keys.push((format!("aws:RequestTag/{key}"), vec![value.clone()]));
        }
        if !tags.is_empty() {
            keys.push(("aws:TagKeys".into(), tags.iter().map(|(k, _)| k.clone()).collect()));
        }
        if !transitive_tag_keys.is_empty() {
            keys.push(("sts:TransitiveTagKeys".into(), transitive_tag_keys.clone()));
        }
        let target = [Resource {
            policy: Some(ResourcePolicy {
                id: "trust-policy",
                document: &trust,
                rules: ResourceRules::RoleTrust,
            }),
            keys: &keys,
            ..Resource::new(&role_arn, account)
        }];
        let mut actions = vec![ACTION];
        if !tags.is_empty() {
            actions.push("sts:TagSession");
        }
        if source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        let ctx = origin.context(caller.clone());
        for action in actions {
            self.authz
                .check(&ctx, &Access::on(action, &target))
                // AWS's message names neither the provider nor the reason.
                .map_err(|e| match e {
                    KernelError::AccessDenied(_) => not_authorized(),
                    other => IamError::from(other),
                })?;
        }
        let packed_policy_size = crate::sts::packed_policy_size(input.policy.as_deref(), &tags)?;
        let duration = self.session_seconds(&claims, input.duration_seconds, role.max_session_duration)?;
        let facts = SessionFacts {
            source_identity: source_identity.clone(),
            tags,
            transitive_tag_keys,
            session_policies: self.session_policies(account, input.policy.as_deref(), &input.policy_arns)?,
            ..Default::default()
        };
        let issued = self
            .sts
            .issue(SessionSpec::assumed_role(&role, &session_name, facts, duration))?;
        Ok(SamlCredentials {
            issued,
            subject: claims.subject,
            subject_type,
            issuer: claims.issuer,
            audience: recipient,
            name_qualifier: qualifier,
            source_identity,
            packed_policy_size,
            caller,
        })
    }

    /// Refuses a response issued more than five minutes ago, or outside its conditions' or
    /// confirmation's validity (each allowing five minutes of clock skew).
    fn check_times(&self, claims: &SamlClaims) -> Result<(), IamError> {
        let now = keyhaven_kernel::clock::epoch_seconds(self.clock.now());
        let expired = || IamError::ExpiredToken("Token must be redeemed within 5 minutes of issuance".into());
        if claims.issue_instant.is_some_and(|issued| now > issued + REDEEM_SECONDS) {
            return Err(expired());
        }
        let ends = [claims.not_on_or_after, claims.confirmation_not_on_or_after];
        if ends.iter().flatten().any(|end| now >= end + REDEEM_SECONDS) {
            return Err(expired());
        }
        let starts = [claims.not_before, claims.issue_instant];
        if starts.iter().flatten().any(|start| *start > now + REDEEM_SECONDS) {
            return Err(IamError::IdpRejectedClaim(
                "The SAML assertion is not valid yet.".into(),
            ));
        }
        Ok(())
    }

    /// The session's length: the requested (or default) duration, which the role's maximum bounds
    /// (a larger request fails), shortened by the `SessionDuration` attribute and the
    /// authentication statement's `SessionNotOnOrAfter`.
    fn session_seconds(&self, claims: &SamlClaims, requested: Option<i32>, max: Option<i32>) -> Result<i64, IamError> {
        let requested = requested.unwrap_or(DEFAULT_SESSION_SECONDS);
        if requested > max.unwrap_or(DEFAULT_SESSION_SECONDS) {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            ));
        }
        let mut seconds = i64::from(requested.max(MIN_SESSION_SECONDS));
        if let Some(values) = claims.attribute(&format!("{ATTRIBUTES}SessionDuration")) {
            let attribute = match values {
                [one] => one.parse::<i64>().ok(),
                _ => None,
            }
            .filter(|s| (i64::from(MIN_SESSION_SECONDS)..=MAX_SESSION_ATTRIBUTE_SECONDS).contains(s))
            .ok_or_else(|| invalid("SessionDuration in AuthnResponse must be a number of seconds from 900 to 43200"))?;
            seconds = seconds.min(attribute);
        }
        if let Some(end) = claims.session_not_on_or_after {
            let now = keyhaven_kernel::clock::epoch_seconds(self.clock.now());
            seconds = seconds.min(((end - now) as i64).max(1));
        }
        Ok(seconds)
    }
}

/// Session tags as (key, value), and the keys of those that are transitive.
type SessionTags = (Vec<(String, String)>, Vec<String>);

/// The session tags the `PrincipalTag:` attributes pass, and the `TransitiveTagKeys`, which must be
/// among them.
fn session_tags(claims: &SamlClaims) -> Result<SessionTags, IamError> {
    let prefix = format!("{ATTRIBUTES}PrincipalTag:");
    let mut tags: Vec<(String, String)> = Vec::new();
    for (name, values) in &claims.attributes {
        let Some(key) = name.strip_prefix(&prefix) else {
            continue;
        };
        let [value] = values.as_slice() else {
            return Err(invalid(
                "A PrincipalTag attribute in AuthnResponse must have exactly one value.",
            ));
        };
        tags.push((key.to_string(), value.clone()));
    }
    if tags.len() > MAX_SESSION_TAGS {
        return Err(IamError::LimitExceeded(format!(
            "Session tags must be at most {MAX_SESSION_TAGS}."
        )));
    }
    let transitive: Vec<String> = claims
        .attribute(&format!("{ATTRIBUTES}TransitiveTagKeys"))
        .unwrap_or_default()
        .to_vec();
    crate::sts::check_session_tags(&tags, &transitive)?;
    Ok((tags, transitive))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AssumeRoleWithSAML reference's example: issuer, account and provider name.
    #[test]
    fn name_qualifier_matches_the_documented_construction() {
        assert_eq!(
            name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP"),
            "1uAJanUnBc2XeUkHURMht+xam2c="
        );
    }

    #[test]
    fn sign_in_endpoints_are_aws_s_in_every_partition() {
        for good in [
            "https://signin.aws.amazon.com/saml",
            "https://us-west-2.signin.aws.amazon.com/saml",
            "https://signin.aws.amazon.com/static/saml",
            "https://signin.amazonaws.cn/saml",
        ] {
            assert!(is_aws_sign_in(good), "{good}");
        }
        for bad in [
            "http://signin.aws.amazon.com/saml",
            "https://evilsignin.aws.amazon.com/saml",
            "https://signin.aws.amazon.com/other",
            "https://signin.aws.amazon.com.evil/saml",
        ] {
            assert!(!is_aws_sign_in(bad), "{bad}");
        }
        assert!(is_aws_audience("urn:amazon:webservices"));
    }

    #[test]
    fn role_pairs_are_read_in_either_order() {
        let claims = SamlClaims {
            attributes: vec![(
                format!("{ATTRIBUTES}Role"),
                vec![
                    "arn:aws:iam::1:role/a,arn:aws:iam::1:saml-provider/p".into(),
                    "arn:aws:iam::1:saml-provider/p, arn:aws:iam::1:role/b".into(),
                ],
            )],
            ..Default::default()
        };
        assert_eq!(
            role_pairs(&claims),
            [
                (
                    "arn:aws:iam::1:role/a".to_string(),
                    "arn:aws:iam::1:saml-provider/p".to_string()
                ),
                (
                    "arn:aws:iam::1:role/b".to_string(),
                    "arn:aws:iam::1:saml-provider/p".to_string()
                ),
            ]
        );
    }

    #[test]
    fn session_names_follow_aws_s_pattern() {
        for (name, ok) in [
            ("alice@example.com", true),
            ("a", false),
            ("has space", false),
            (&"x".repeat(64), true),
        ] {
            assert_eq!(is_session_name(name), ok, "{name}");
        }
    }
}
