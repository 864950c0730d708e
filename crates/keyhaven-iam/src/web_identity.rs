//! AssumeRoleWithWebIdentity: an OIDC ID token of a registered IAM OIDC provider, exchanged for a
//! role session.
//!
//! The call is unauthenticated: the token is the credential. Order of checks (AWS publishes
//! none; this follows its documented errors, see `../shared/aws/semantics.md` §3): the token's
//! shape and `alg` (RS256/ES256) → the provider whose URL is `iss`, in the role's account → the
//! signature, with the JWKS key of the header's `kid` ([`crate::iam::oidc`] says where keys come
//! from) → `aud` among the provider's client ids → `exp` (IAM allows five minutes of clock skew),
//! `nbf` and `iat` → the role's trust policy for `sts:AssumeRoleWithWebIdentity`, the caller being
//! the provider (`{"Federated": "arn:aws:iam::ACCT:oidc-provider/host"}`) with the keys
//! `<host>:aud`, `<host>:sub` and `<host>:amr` → a role session. Claims are trusted only after the
//! signature verifies; `iss` and `kid` are read before, to find the key. Neither the token nor
//! any part of it beyond `iss` appears in an error or a log line.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_crypto::jws::{self, Algorithm};
use keyhaven_policy::{PolicyDocument, PolicyKind, ResourceRules};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::IamError;
use crate::iam::EntityKind;
use crate::iam::oidc::{self, OidcProvider, SigningKey};
use crate::sts::{IssuedCredentials, SessionSpec};
use keyhaven_kernel::authz::{Access, Resource, ResourcePolicy};
use keyhaven_kernel::context::{Principal, PrincipalKind, RequestContext, SessionFacts};
use keyhaven_kernel::error::KernelError;

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// IAM accepts a token up to five minutes past its `exp` ("OIDC federation", IAM User Guide); the
/// same allowance is given to `nbf` and `iat` in the future.
const CLOCK_SKEW_SECONDS: i64 = 300;
const MIN_SESSION_SECONDS: i32 = 900;
const DEFAULT_SESSION_SECONDS: i32 = 3_600;
/// Longest `iss` quoted back in an error: provider URLs are at most 255 characters.
const MAX_QUOTED_ISSUER: usize = 255;

const NOT_A_JWT: &str =
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";
const NO_KEY: &str = "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements";

/// Where an unauthenticated request came from: what a [`RequestContext`] holds besides the caller.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: String,
    pub region: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: String,
    pub secure_transport: bool,
}

impl Origin {
    pub(crate) fn context(&self, principal: Principal) -> RequestContext {
        RequestContext {
            request_id: self.request_id.clone(),
            principal,
            region: self.region.clone(),
            source_ip: self.source_ip,
            user_agent: self.user_agent.clone(),
            secure_transport: self.secure_transport,
            via_service: None,
            signature_v2: false,
            service_calls: Default::default(),
        }
    }
}

/// What AssumeRoleWithWebIdentity takes, already shape-validated by the wire layer.
#[derive(Clone, Default)]
pub struct WebIdentityInput {
    pub role_arn: String,
    pub session_name: String,
    /// The compact JWT; wiped from memory when dropped.
    pub token: Zeroizing<String>,
    /// Only for Login with Amazon and Facebook OAuth tokens, which this server does not accept.
    pub provider_id: Option<String>,
    pub duration_seconds: Option<i32>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

/// Never prints the token.
impl std::fmt::Debug for WebIdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityInput")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("token", &"***")
            .field("duration_seconds", &self.duration_seconds)
            .finish_non_exhaustive()
    }
}

/// A role session obtained with a web identity, and what the response and audit record say of it.
#[derive(Debug)]
pub struct WebIdentityCredentials {
    pub issued: IssuedCredentials,
    /// The token's `sub` (`SubjectFromWebIdentityToken`).
    pub subject: String,
    /// The client id the token was accepted for (`Audience`).
    pub audience: String,
    /// The token's `iss` (`Provider`).
    pub provider: String,
    /// The web identity caller as the audit log names it (CloudTrail `WebIdentityUser`):
    /// principal id `<provider>:<audience>:<subject>`, user name the subject.
    pub caller: Principal,
}

/// A token whose signature verified, with the claims authorisation uses.
struct VerifiedToken {
    provider: OidcProvider,
    subject: String,
    audience: String,
    amr: Vec<String>,
}

fn invalid(message: &str) -> IamError {
    IamError::InvalidIdentityToken(message.into())
}

/// A compact JWS split into its decoded parts.
struct Jws<'t> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'t str,
    signature: Vec<u8>,
}

fn decode_json(segment: &str) -> Option<Map<String, Value>> {
    let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(segment).ok()?);
    serde_json::from_slice(&bytes).ok()
}

fn split_jws(token: &str) -> Result<Jws<'_>, IamError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(NOT_A_JWT));
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Jws {
        header: decode_json(header).ok_or_else(|| invalid(NOT_A_JWT))?,
        claims: decode_json(payload).ok_or_else(|| invalid(NOT_A_JWT))?,
        signing_input,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(NOT_A_JWT))?,
    })
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// A claim that is one string or a list of strings (`aud`, `amr`).
fn string_list_claim(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, IamError> {
    match claims.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| invalid(NOT_A_JWT)))
            .collect(),
        Some(_) => Err(invalid(NOT_A_JWT)),
    }
}

/// A NumericDate claim; AWS requires whole seconds.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, IamError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or_else(|| {
            IamError::InvalidIdentityToken(format!(
                "The token's {name} claim must be an integer number of seconds."
            ))
        }),
    }
}

/// The keys of `keys` that may have made a signature with `alg` under the header's `kid`.
fn candidates<'k>(keys: &'k [SigningKey], kid: Option<&str>, alg: Algorithm) -> Vec<&'k SigningKey> {
    keys.iter()
        .filter(|k| k.key.suits(alg) && k.alg.is_none_or(|a| a == alg))
        .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .collect()
}

impl crate::Identity {
    /// AssumeRoleWithWebIdentity (see the module documentation for the checks and their order).
    pub fn assume_role_with_web_identity(
        &self,
        origin: &Origin,
        input: WebIdentityInput,
    ) -> Result<WebIdentityCredentials, IamError> {
        let (account, role_name) = crate::sts::parse_role_arn(&input.role_arn)?;
        let (account, role_name) = (account.as_str(), role_name.as_str());
        if input.provider_id.is_some() {
            return Err(IamError::Validation(
                "ProviderId is only for OAuth 2.0 access tokens of Login with Amazon and Facebook, which this server does not accept; OpenID Connect tokens need no ProviderId.".into(),
            ));
        }
        let token = self.verify_web_identity_token(account, &input.token)?;
        let provider_arn = token.provider.arn();
        let caller = Principal {
            kind: PrincipalKind::WebIdentityUser,
            account_id: account.to_string(),
            arn: provider_arn,
            principal_id: format!("{}:{}:{}", token.provider.id, token.audience, token.subject),
            access_key_id: String::new(),
            user_name: Some(token.subject.clone()),
            role: None,
            session: None,
        };
        let not_authorized = || IamError::AccessDenied(format!("Not authorized to perform {ACTION}"));
        let role = self
            .iam
            .entity_in(account, EntityKind::Role, role_name)
            .map_err(|_| not_authorized())?;
        let role_arn = role.arn();
        if role_arn != input.role_arn {
            // Same name under another path: not the role the caller named.
            return Err(not_authorized());
        }
        let trust = PolicyDocument::parse_as(
            role.assume_role_policy.as_deref().unwrap_or_default(),
            PolicyKind::Trust,
        )
        .map_err(|e| IamError::Internal(format!("stored trust policy does not parse: {e}")))?;
        let prefix = &token.provider.id;
        let mut keys: Vec<(String, Vec<String>)> = vec![
            (format!("{prefix}:aud"), vec![token.audience.clone()]),
            (format!("{prefix}:sub"), vec![token.subject.clone()]),
            ("sts:RoleSessionName".into(), vec![input.session_name.clone()]),
        ];
        if !token.amr.is_empty() {
            keys.push((format!("{prefix}:amr"), token.amr.clone()));
        }
        self.authz
            .check(
                &origin.context(caller.clone()),
                &Access::on(
                    ACTION,
                    &[Resource {
                        policy: Some(ResourcePolicy {
                            id: "trust-policy",
                            document: &trust,
                            rules: ResourceRules::RoleTrust,
                        }),
                        keys: &keys,
                        ..Resource::new(&role_arn, account)
                    }],
                ),
            )
            // AWS's message names neither the provider nor the reason.
            .map_err(|e| match e {
                KernelError::AccessDenied(_) => not_authorized(),
                other => IamError::from(other),
            })?;
        let max = role.max_session_duration.unwrap_or(DEFAULT_SESSION_SECONDS);
        let duration = input.duration_seconds.unwrap_or(DEFAULT_SESSION_SECONDS);
        if duration > max {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            ));
        }
        if duration < MIN_SESSION_SECONDS {
            return Err(IamError::Validation(format!(
                "DurationSeconds must be at least {MIN_SESSION_SECONDS}."
            )));
        }
        let facts = SessionFacts {
            session_policies: self.session_policies(account, input.policy.as_deref(), &input.policy_arns)?,
            ..Default::default()
        };
        let issued = self.sts.issue(SessionSpec::assumed_role(
            &role,
            &input.session_name,
            facts,
            i64::from(duration),
        ))?;
        Ok(WebIdentityCredentials {
            issued,
            provider: token.provider.url(),
            subject: token.subject,
            audience: token.audience,
            caller,
        })
    }

    /// Checks a web identity token against the OIDC providers of `account`.
    fn verify_web_identity_token(&self, account: &str, token: &str) -> Result<VerifiedToken, IamError> {
        let jws = split_jws(token)?;
        if jws.header.contains_key("crit") {
            // RFC 7515 §4.1.11: extensions the verifier does not understand make the token invalid.
            return Err(invalid(NOT_A_JWT));
        }
        let alg = string_claim(&jws.header, "alg")
            .and_then(Algorithm::from_name)
            .ok_or_else(|| invalid("The token's signing algorithm is not supported; use RS256 or ES256."))?;
        let issuer = string_claim(&jws.claims, "iss").ok_or_else(|| invalid(NOT_A_JWT))?;
        let provider = self.iam.oidc_provider_for_issuer(account, issuer)?.ok_or_else(|| {
            let quoted: String = issuer.chars().take(MAX_QUOTED_ISSUER).collect();
            IamError::InvalidIdentityToken(format!("No OpenIDConnect provider found in your account for {quoted}"))
        })?;
        let keys = oidc::signing_keys(&provider.id).map_err(|reason| {
            tracing::warn!(provider = %provider.arn(), %reason, "no JWKS for an OIDC provider; expected at <data-dir>/oidc/{}", oidc::jwks_file_name(&provider.id));
            invalid(NO_KEY)
        })?;
        let candidates = candidates(&keys, string_claim(&jws.header, "kid"), alg);
        if candidates.is_empty() {
            return Err(invalid(NO_KEY));
        }
        let verified = candidates
            .iter()
            .any(|k| jws::verify(alg, &k.key, jws.signing_input.as_bytes(), &jws.signature).is_ok());
        if !verified {
            return Err(invalid("The token's signature could not be verified."));
        }
        let claims = &jws.claims;
        let audience = string_list_claim(claims, "aud")?
            .into_iter()
            .find(|aud| provider.client_ids.contains(aud))
            .ok_or_else(|| invalid("Incorrect token audience"))?;
        let now = self.clock.now().unix_timestamp();
        let expires = time_claim(claims, "exp")?.ok_or_else(|| invalid(NOT_A_JWT))?;
        if now >= expires.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(IamError::ExpiredToken(format!(
                "Token expired: current date/time {now} must be before the expiration date/time {expires}"
            )));
        }
        let latest = now.saturating_add(CLOCK_SKEW_SECONDS);
        if time_claim(claims, "nbf")?.is_some_and(|nbf| nbf > latest) {
            return Err(IamError::IdpRejectedClaim("The token is not valid yet.".into()));
        }
        if time_claim(claims, "iat")?.is_some_and(|iat| iat > latest) {
            return Err(IamError::IdpRejectedClaim("The token was issued in the future.".into()));
        }
        let subject = string_claim(claims, "sub")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("The token has no subject (sub)."))?
            .to_string();
        let amr = string_list_claim(claims, "amr")?;
        Ok(VerifiedToken {
            provider,
            subject,
            audience,
            amr,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::iam::oidc::NewOidcProvider;
    use crate::iam::{NewEntity, RoleSettings};
    use crate::testing::{ACCOUNT, START, core, ctx};

    /// JWTs and the JWKS they verify against, made independently with Python's `cryptography`
    /// (`keyhaven-crypto/tests/data/jws/generate.py`), dated relative to [`START`].
    const TOKENS: &str = include_str!("../../keyhaven-crypto/tests/data/jws/tokens.json");
    const ISSUER: &str = "https://idp.keyhaven.test/tenant";
    const HOST: &str = "idp.keyhaven.test/tenant";
    const CLIENT: &str = "keyhaven-client";

    fn token(name: &str) -> Zeroizing<String> {
        let all: Value = serde_json::from_str(TOKENS).expect("tokens.json");
        Zeroizing::new(all["tokens"][name].as_str().expect(name).to_string())
    }

    fn use_test_jwks() {
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../keyhaven-crypto/tests/data/jws/oidc");
        assert!(oidc::set_jwks_directory(dir), "every test uses the same JWKS directory");
    }

    /// A core with the test issuer registered and role `web` trusting it for `aud` = the client.
    fn setup(extra_condition: &str) -> (keyhaven_store::testing::TempDir, crate::testing::Fixture) {
        use_test_jwks();
        let (dir, core) = core();
        let ctx = ctx("us-east-1");
        core.iam
            .create_oidc_provider(
                &ctx,
                NewOidcProvider {
                    url: ISSUER.into(),
                    client_ids: vec![CLIENT.into()],
                    ..Default::default()
                },
            )
            .expect("provider");
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{HOST}:aud":"{CLIENT}"}}{extra_condition}}}}}]}}"#
        );
        core.iam
            .create_entity(
                &ctx,
                NewEntity {
                    role: Some(RoleSettings {
                        assume_role_policy: trust,
                        description: None,
                        max_session_duration: Some(7_200),
                    }),
                    ..NewEntity::named(EntityKind::Role, "web")
                },
            )
            .expect("role");
        (dir, core)
    }

    fn input(token_name: &str) -> WebIdentityInput {
        WebIdentityInput {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/web"),
            session_name: "ci-run".into(),
            token: token(token_name),
            ..Default::default()
        }
    }

    fn denied() -> IamError {
        IamError::AccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity".into())
    }

    fn assume(core: &crate::Identity, input: WebIdentityInput) -> Result<WebIdentityCredentials, IamError> {
        core.assume_role_with_web_identity(&Origin::default(), input)
    }

    #[test]
    fn rs256_and_es256_tokens_get_a_role_session() {
        let (_d, core) = setup("");
        for name in [
            "rs256",
            "es256",
            "es256_without_kid",
            "audience_list",
            "expired_within_skew",
        ] {
            let got = assume(&core, input(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(got.subject, "repo:example/app:ref:refs/heads/main");
            assert_eq!(got.audience, CLIENT);
            assert_eq!(got.provider, ISSUER);
            let principal = &got.issued.principal;
            assert_eq!(principal.kind, PrincipalKind::AssumedRole);
            assert_eq!(principal.arn, format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/ci-run"));
            assert_eq!(got.issued.expiration, START + 3_600, "default duration");
            assert_eq!(got.caller.kind, PrincipalKind::WebIdentityUser);
            assert_eq!(
                got.caller.principal_id,
                format!("{HOST}:{CLIENT}:repo:example/app:ref:refs/heads/main")
            );
            let verified = core
                .sts
                .verify(
                    &got.issued.access_key_id,
                    std::str::from_utf8(got.issued.session_token.expose()).expect("ascii"),
                )
                .expect("verify")
                .expect("session is usable");
            assert_eq!(verified.principal.arn, principal.arn);
        }
    }

    #[test]
    fn each_bad_token_gets_aws_error_class() {
        let (_d, core) = setup("");
        let invalid = |m: &str| IamError::InvalidIdentityToken(m.into());
        let cases: BTreeMap<&str, IamError> = [
            ("wrong_audience", invalid("Incorrect token audience")),
            (
                "unknown_issuer",
                invalid("No OpenIDConnect provider found in your account for https://other.keyhaven.test"),
            ),
            (
                "http_issuer",
                invalid("No OpenIDConnect provider found in your account for http://idp.keyhaven.test/tenant"),
            ),
            (
                "signed_by_stranger",
                invalid("The token's signature could not be verified."),
            ),
            (
                "altered_payload",
                invalid("The token's signature could not be verified."),
            ),
            ("encryption_key", invalid(NO_KEY)),
            ("unknown_kid", invalid(NO_KEY)),
            ("es256_kid_on_rsa_key", invalid(NO_KEY)),
            // An unsecured JWT has an empty signature: it is not a JWS at all.
            ("alg_none", invalid(NOT_A_JWT)),
            (
                "hs256",
                invalid("The token's signing algorithm is not supported; use RS256 or ES256."),
            ),
            ("critical_header", invalid(NOT_A_JWT)),
            (
                "fractional_exp",
                invalid("The token's exp claim must be an integer number of seconds."),
            ),
            ("missing_exp", invalid(NOT_A_JWT)),
            ("missing_sub", invalid("The token has no subject (sub).")),
            (
                "expired",
                IamError::ExpiredToken(format!(
                    "Token expired: current date/time {START} must be before the expiration date/time {}",
                    START - 600
                )),
            ),
            (
                "not_yet_valid",
                IamError::IdpRejectedClaim("The token is not valid yet.".into()),
            ),
            (
                "issued_in_the_future",
                IamError::IdpRejectedClaim("The token was issued in the future.".into()),
            ),
        ]
        .into_iter()
        .collect();
        for (name, expected) in cases {
            assert_eq!(assume(&core, input(name)).map(|c| c.subject), Err(expected), "{name}");
        }
    }

    #[test]
    fn malformed_tokens_are_not_jwts_and_are_never_echoed() {
        let (_d, core) = setup("");
        let valid = token("rs256");
        let parts: Vec<&str> = valid.split('.').collect();
        for bad in [
            "abcd".to_string(),
            "a.b".to_string(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}.{}.{}.x", parts[0], parts[1], parts[2]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", "bm90IGpzb24", parts[1], parts[2]),
            format!("{}.{}.{}", parts[0], "WyJhbiIsImFycmF5Il0", parts[2]),
        ] {
            let got = assume(
                &core,
                WebIdentityInput {
                    token: Zeroizing::new(bad.clone()),
                    ..input("rs256")
                },
            )
            .map(|c| c.subject);
            assert_eq!(got, Err(invalid(NOT_A_JWT)), "{bad}");
        }
        let debug = format!("{:?}", input("rs256"));
        assert!(!debug.contains(parts[2]) && debug.contains("***"), "{debug}");
    }

    #[test]
    fn the_trust_policy_decides_with_the_token_claims() {
        let sub_condition = format!(r#","StringLike":{{"{HOST}:sub":"repo:example/app:*"}}"#);
        let (_d, core) = setup(&sub_condition);
        assume(&core, input("rs256")).expect("sub matches");
        assert_eq!(assume(&core, input("other_subject")).map(|c| c.subject), Err(denied()));

        let amr = format!(r#","ForAnyValue:StringEquals":{{"{HOST}:amr":"mfa"}}"#);
        let (_d2, core) = setup(&amr);
        assume(&core, input("es256")).expect("amr holds mfa");

        let (_d3, core) = setup(r#","StringLike":{"sts:RoleSessionName":"someone-else"}"#);
        assert!(matches!(assume(&core, input("rs256")), Err(IamError::AccessDenied(_))));
    }

    #[test]
    fn roles_must_exist_trust_the_provider_and_allow_the_duration() {
        let (_d, core) = setup("");
        let missing = WebIdentityInput {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/absent"),
            ..input("rs256")
        };
        assert_eq!(assume(&core, missing).map(|c| c.subject), Err(denied()));
        let wrong_path = WebIdentityInput {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/team/web"),
            ..input("rs256")
        };
        assert_eq!(assume(&core, wrong_path).map(|c| c.subject), Err(denied()));
        core.iam
            .create_entity(
                &ctx("us-east-1"),
                NewEntity {
                    role: Some(RoleSettings {
                        assume_role_policy: format!(
                            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#
                        ),
                        ..Default::default()
                    }),
                    ..NewEntity::named(EntityKind::Role, "accounts-only")
                },
            )
            .expect("role");
        let untrusted = WebIdentityInput {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/accounts-only"),
            ..input("rs256")
        };
        assert_eq!(assume(&core, untrusted).map(|c| c.subject), Err(denied()));

        let longest = WebIdentityInput {
            duration_seconds: Some(7_200),
            ..input("rs256")
        };
        assert_eq!(
            assume(&core, longest).expect("role max").issued.expiration,
            START + 7_200
        );
        for (seconds, expected) in [
            (
                7_201,
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ),
            (899, "DurationSeconds must be at least 900."),
        ] {
            let got = assume(
                &core,
                WebIdentityInput {
                    duration_seconds: Some(seconds),
                    ..input("rs256")
                },
            );
            assert_eq!(got.map(|c| c.subject), Err(IamError::Validation(expected.into())));
        }
        let bad_arn = WebIdentityInput {
            role_arn: "arn:aws:iam::1234:role/web".into(),
            ..input("rs256")
        };
        assert!(matches!(assume(&core, bad_arn), Err(IamError::Validation(_))));
        let session_policy = WebIdentityInput {
            policy: Some("{}".into()),
            ..input("rs256")
        };
        assert!(
            matches!(assume(&core, session_policy), Err(IamError::MalformedPolicyDocument(_))),
            "session policies are validated"
        );
    }

    #[test]
    fn providers_are_per_account_and_per_audience() {
        let (_d, core) = setup("");
        let other_account = WebIdentityInput {
            role_arn: "arn:aws:iam::444455556666:role/web".into(),
            ..input("rs256")
        };
        assert_eq!(
            assume(&core, other_account).map(|c| c.subject),
            Err(invalid(&format!(
                "No OpenIDConnect provider found in your account for {ISSUER}"
            )))
        );
        let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}");
        let ctx = ctx("us-east-1");
        core.iam
            .add_oidc_client_id(&ctx, &arn, "another-client")
            .expect("add client");
        assert_eq!(
            assume(&core, input("wrong_audience")).map(|c| c.audience),
            Err(denied()),
            "the audience is now accepted, but the trust policy's aud condition refuses it"
        );
        core.iam.delete_oidc_provider(&ctx, &arn).expect("delete");
        assert!(matches!(
            assume(&core, input("rs256")),
            Err(IamError::InvalidIdentityToken(_))
        ));
    }
}
