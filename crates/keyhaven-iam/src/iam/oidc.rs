//! IAM OpenID Connect providers, and where their signing keys come from.
//!
//! A provider is stored per account under its URL without `https://` (host and optional path),
//! which is also the tail of its ARN, `arn:aws:iam::ACCT:oidc-provider/<host/path>`, and the prefix
//! of its condition keys (`<host/path>:aud`). AWS fetches an issuer's keys from
//! `/.well-known/openid-configuration` → `jwks_uri`; this server makes no outbound calls, so the
//! operator places the issuer's JWKS in a file instead: `<data-dir>/oidc/<escaped>.json`, where
//! `<escaped>` is the provider's host and path with every byte other than `A-Z a-z 0-9 - . _ ~`
//! percent-encoded ([`jwks_file_name`]). The file is read on every use, so rotating keys is
//! replacing the file. The directory is process configuration, set once at startup
//! ([`set_jwks_directory`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_crypto::jws::{Algorithm, PublicKey};
use keyhaven_store::Transaction;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Iam, RECORD_VERSION, Tag, all_of, validate_tags};
use crate::error::IamError;
use crate::error::read;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;

keyhaven_kernel::versioned_record!(OidcProvider, "iam-oidc-provider", RECORD_VERSION);
/// IAM quotas: providers per account, client ids per provider, thumbprints per provider.
const MAX_PROVIDERS: usize = 100;
const MAX_CLIENT_IDS: usize = 100;
const MAX_THUMBPRINTS: usize = 5;
/// A JWKS holds a handful of keys; anything near this is not one.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcProvider {
    pub v: u32,
    pub account_id: String,
    /// The URL without `https://`: what GetOpenIDConnectProvider answers as `Url`.
    pub id: String,
    /// Audiences the provider's tokens may name, in the order they were added.
    pub client_ids: Vec<String>,
    /// Lower-case hex SHA-1 certificate thumbprints (kept for the API; no TLS is made here).
    pub thumbprints: Vec<String>,
    pub tags: Vec<Tag>,
    pub create_date: f64,
}

impl OidcProvider {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:oidc-provider/{}", self.account_id, self.id)
    }

    /// The issuer (`iss`) of this provider's tokens.
    pub fn url(&self) -> String {
        format!("https://{}", self.id)
    }
}

/// One key of a provider's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: Option<String>,
    /// The JWK's `alg`, when it pins one.
    pub alg: Option<Algorithm>,
    pub key: PublicKey,
}

static JWKS_DIRECTORY: OnceLock<PathBuf> = OnceLock::new();

/// Sets the directory JWKS files are read from (the server passes `<data-dir>/oidc`). Only the
/// first call takes effect; returns whether `dir` is the directory in force.
pub fn set_jwks_directory(dir: PathBuf) -> bool {
    JWKS_DIRECTORY.get_or_init(|| dir.clone()) == &dir
}

/// The file name of a provider's JWKS: its id percent-encoded (`/` becomes `%2F`), then `.json`.
pub fn jwks_file_name(provider_id: &str) -> String {
    let mut name = String::with_capacity(provider_id.len() + 5);
    for byte in provider_id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name.push_str(".json");
    name
}

/// Where the JWKS of `provider_id` is expected, once the directory is set.
pub fn jwks_path(provider_id: &str) -> Option<PathBuf> {
    JWKS_DIRECTORY.get().map(|dir| dir.join(jwks_file_name(provider_id)))
}

/// Reads the provider's JWKS file. `Err` says why no keys could be had, for the operator's log.
pub fn signing_keys(provider_id: &str) -> Result<Vec<SigningKey>, String> {
    let path = jwks_path(provider_id).ok_or("no JWKS directory is configured")?;
    read_jwks(&path)
}

fn read_jwks(path: &Path) -> Result<Vec<SigningKey>, String> {
    let describe = |e: std::io::Error| format!("{}: {e}", path.display());
    let size = std::fs::metadata(path).map_err(describe)?.len();
    if size > MAX_JWKS_BYTES {
        return Err(format!("{}: larger than {MAX_JWKS_BYTES} bytes", path.display()));
    }
    let text = std::fs::read(path).map_err(describe)?;
    parse_jwks(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The usable signature keys of a JWKS (RFC 7517 §5). Keys this server cannot use (encryption
/// keys, other key types or curves, unsupported `alg`) are passed over, not treated as errors: a
/// JWKS commonly mixes them.
pub fn parse_jwks(text: &[u8]) -> Result<Vec<SigningKey>, String> {
    let document: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWKS: no \"keys\" array")?;
    Ok(keys.iter().filter_map(parse_jwk).collect())
}

fn parse_jwk(jwk: &Value) -> Option<SigningKey> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array)
        && !ops.iter().any(|op| op.as_str() == Some("verify"))
    {
        return None;
    }
    let alg = match member("alg") {
        None => None,
        Some(name) => Some(Algorithm::from_name(name)?),
    };
    // Padding is not allowed in JWK members, but tolerating it costs nothing.
    let bytes = |name: &str| URL_SAFE_NO_PAD.decode(member(name)?.trim_end_matches('=')).ok();
    let key = match member("kty")? {
        "RSA" => PublicKey::Rsa {
            n: bytes("n")?,
            e: bytes("e")?,
        },
        "EC" if member("crv") == Some("P-256") => PublicKey::P256 {
            x: bytes("x")?,
            y: bytes("y")?,
        },
        _ => return None,
    };
    Some(SigningKey {
        kid: member("kid").map(str::to_string),
        alg,
        key,
    })
}

/// The provider id of a URL: `https://` required; a host with an optional path; no port, query,
/// fragment or user info (IAM: "query parameters are not allowed", "should not contain a port").
/// The text and code are moto's (AWS's are not recorded): the URL must begin with `https://` and name
/// a host (and optionally a path), without a port, query or fragment.
fn provider_id(url: &str) -> Result<String, IamError> {
    let invalid = || IamError::Validation("Invalid Open ID Connect Provider URL".into());
    let rest = url.strip_prefix("https://").ok_or_else(invalid)?;
    let host = rest.split('/').next().unwrap_or_default();
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '@' | '\\');
    if host.is_empty() || host.contains(':') || rest.contains(bad_char) {
        return Err(invalid());
    }
    Ok(rest.to_string())
}

fn validate_client_id(client_id: &str) -> Result<(), IamError> {
    if client_id.is_empty() || client_id.chars().count() > 255 {
        return Err(IamError::InvalidInput(
            "A client ID must be 1 to 255 characters long.".into(),
        ));
    }
    Ok(())
}

/// Thumbprints are 40 hex characters; kept lower-case so duplicates in either case are one.
fn normalise_thumbprints(list: &[String]) -> Result<Vec<String>, IamError> {
    if list.len() > MAX_THUMBPRINTS {
        // moto's text and code (AWS's are not recorded).
        return Err(IamError::InvalidInput(
            "Thumbprint list must contain fewer than 5 entries.".into(),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for thumbprint in list {
        if thumbprint.len() != 40 || !thumbprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IamError::InvalidInput(
                "A thumbprint must be 40 hexadecimal characters.".into(),
            ));
        }
        let lower = thumbprint.to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Ok(out)
}

fn provider_not_found(arn: &str) -> IamError {
    IamError::NotFound(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// The provider id an ARN of `account` names, if it is one.
fn id_in_arn<'a>(arn: &'a str, account: &str) -> Option<&'a str> {
    arn.strip_prefix("arn:aws:iam::")?
        .strip_prefix(account)?
        .strip_prefix(":oidc-provider/")
        .filter(|id| !id.is_empty())
}

fn load_provider(tx: &mut dyn Transaction, account: &str, id: &str) -> Result<Option<OidcProvider>, IamError> {
    Ok(records::get(tx, account, id)?)
}

pub(super) fn require_provider(tx: &mut dyn Transaction, account: &str, arn: &str) -> Result<OidcProvider, IamError> {
    let id = id_in_arn(arn, account).ok_or_else(|| provider_not_found(arn))?;
    load_provider(tx, account, id)?.ok_or_else(|| provider_not_found(arn))
}

pub(super) fn save_provider(tx: &mut dyn Transaction, provider: &OidcProvider) -> Result<(), IamError> {
    Ok(records::put(tx, &provider.account_id, &provider.id, provider)?)
}

/// What CreateOpenIDConnectProvider takes.
#[derive(Debug, Clone, Default)]
pub struct NewOidcProvider {
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub tags: Vec<Tag>,
}

impl Iam {
    pub fn create_oidc_provider(&self, ctx: &RequestContext, new: NewOidcProvider) -> Result<OidcProvider, IamError> {
        // In the order moto checks them: the URL, the thumbprint count, the client-id count, then the rest.
        let id = provider_id(&new.url)?;
        let thumbprints = normalise_thumbprints(&new.thumbprints)?;
        if new.client_ids.len() > MAX_CLIENT_IDS {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
            )));
        }
        validate_tags(&new.tags)?;
        let mut client_ids: Vec<String> = Vec::new();
        for client_id in new.client_ids {
            validate_client_id(&client_id)?;
            if !client_ids.contains(&client_id) {
                client_ids.push(client_id);
            }
        }
        let provider = OidcProvider {
            v: RECORD_VERSION,
            account_id: ctx.account_id().to_string(),
            id,
            client_ids,
            thumbprints,
            tags: new.tags,
            create_date: self.now(),
        };
        self.write(|tx| {
            if load_provider(tx, &provider.account_id, &provider.id)?.is_some() {
                return Err(IamError::AlreadyExists(format!(
                    "Provider with url {} already exists.",
                    provider.url()
                )));
            }
            let existing: Vec<OidcProvider> = all_of(tx, &provider.account_id)?;
            if existing.len() >= MAX_PROVIDERS {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"
                )));
            }
            save_provider(tx, &provider)?;
            Ok(provider.clone())
        })
    }

    pub fn oidc_provider(&self, ctx: &RequestContext, arn: &str) -> Result<OidcProvider, IamError> {
        read(&*self.store, |tx| require_provider(tx, ctx.account_id(), arn))
    }

    /// The provider of `account` whose tokens carry `issuer` as `iss`, if one is registered.
    pub fn oidc_provider_for_issuer(&self, account: &str, issuer: &str) -> Result<Option<OidcProvider>, IamError> {
        let Some(id) = issuer.strip_prefix("https://").filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        read(&*self.store, |tx| load_provider(tx, account, id))
    }

    pub fn list_oidc_providers(&self, ctx: &RequestContext) -> Result<Vec<OidcProvider>, IamError> {
        read(&*self.store, |tx| all_of(tx, ctx.account_id()))
    }

    pub fn delete_oidc_provider(&self, ctx: &RequestContext, arn: &str) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let provider = require_provider(tx, &account, arn)?;
            records::delete::<OidcProvider>(tx, &account, &provider.id)?;
            Ok(())
        })
    }

    fn update_oidc_provider(
        &self,
        ctx: &RequestContext,
        arn: &str,
        mut change: impl FnMut(&mut OidcProvider) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        let account = ctx.account_id().to_string();
        self.write(|tx| {
            let mut provider = require_provider(tx, &account, arn)?;
            change(&mut provider)?;
            save_provider(tx, &provider)
        })
    }

    /// Adds an audience; adding one already there changes nothing (AWS: idempotent).
    pub fn add_oidc_client_id(&self, ctx: &RequestContext, arn: &str, client_id: &str) -> Result<(), IamError> {
        validate_client_id(client_id)?;
        self.update_oidc_provider(ctx, arn, |provider| {
            if provider.client_ids.iter().any(|c| c == client_id) {
                return Ok(());
            }
            if provider.client_ids.len() >= MAX_CLIENT_IDS {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
                )));
            }
            provider.client_ids.push(client_id.to_string());
            Ok(())
        })
    }

    /// Removes an audience; removing one that is not there changes nothing (AWS: idempotent).
    pub fn remove_oidc_client_id(&self, ctx: &RequestContext, arn: &str, client_id: &str) -> Result<(), IamError> {
        self.update_oidc_provider(ctx, arn, |provider| {
            provider.client_ids.retain(|c| c != client_id);
            Ok(())
        })
    }

    /// Replaces the thumbprint list.
    pub fn update_oidc_thumbprints(
        &self,
        ctx: &RequestContext,
        arn: &str,
        thumbprints: &[String],
    ) -> Result<(), IamError> {
        let thumbprints = normalise_thumbprints(thumbprints)?;
        self.update_oidc_provider(ctx, arn, |provider| {
            provider.thumbprints = thumbprints.clone();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ACCOUNT, core, ctx};

    const THUMBPRINT: &str = "990F4193972F2BECF12DDEDA5237F9C952F20D9E";

    fn new(url: &str) -> NewOidcProvider {
        NewOidcProvider {
            url: url.into(),
            client_ids: vec!["app".into(), "app".into(), "sts.amazonaws.com".into()],
            thumbprints: vec![THUMBPRINT.into()],
            tags: vec![Tag {
                key: "team".into(),
                value: "ci".into(),
            }],
        }
    }

    #[test]
    fn providers_are_created_read_listed_changed_and_deleted() {
        let (_d, core) = core();
        let ctx = ctx("us-east-1");
        let created = core
            .iam
            .create_oidc_provider(&ctx, new("https://token.example.com/tenant/a"))
            .expect("create");
        let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.example.com/tenant/a");
        assert_eq!(created.arn(), arn);
        assert_eq!(created.id, "token.example.com/tenant/a");
        assert_eq!(created.client_ids, ["app", "sts.amazonaws.com"], "duplicates collapse");
        assert_eq!(created.thumbprints, [THUMBPRINT.to_ascii_lowercase()]);
        assert_eq!(core.iam.oidc_provider(&ctx, &arn).expect("get"), created);

        let again = core
            .iam
            .create_oidc_provider(&ctx, new("https://token.example.com/tenant/a"))
            .expect_err("duplicate");
        assert_eq!(
            again,
            IamError::AlreadyExists("Provider with url https://token.example.com/tenant/a already exists.".into())
        );

        core.iam.add_oidc_client_id(&ctx, &arn, "second").expect("add");
        core.iam
            .add_oidc_client_id(&ctx, &arn, "second")
            .expect("idempotent add");
        core.iam.remove_oidc_client_id(&ctx, &arn, "app").expect("remove");
        core.iam
            .remove_oidc_client_id(&ctx, &arn, "absent")
            .expect("idempotent remove");
        core.iam.update_oidc_thumbprints(&ctx, &arn, &[]).expect("thumbprints");
        let changed = core.iam.oidc_provider(&ctx, &arn).expect("get");
        assert_eq!(changed.client_ids, ["sts.amazonaws.com", "second"]);
        assert!(changed.thumbprints.is_empty());

        core.iam
            .create_oidc_provider(&ctx, new("https://other.example.com"))
            .expect("second provider");
        let listed: Vec<String> = core
            .iam
            .list_oidc_providers(&ctx)
            .expect("list")
            .iter()
            .map(OidcProvider::arn)
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&arn));
        assert_eq!(
            core.iam
                .oidc_provider_for_issuer(ACCOUNT, "https://other.example.com")
                .expect("by issuer")
                .map(|p| p.id),
            Some("other.example.com".into())
        );
        assert_eq!(
            core.iam
                .oidc_provider_for_issuer(ACCOUNT, "http://other.example.com")
                .expect("by issuer"),
            None
        );
        assert_eq!(
            core.iam
                .oidc_provider_for_issuer("444455556666", "https://other.example.com")
                .expect("by issuer"),
            None,
            "providers belong to one account"
        );

        core.iam.delete_oidc_provider(&ctx, &arn).expect("delete");
        let gone = core.iam.oidc_provider(&ctx, &arn).expect_err("deleted");
        assert_eq!(gone, provider_not_found(&arn));
        assert_eq!(
            core.iam.delete_oidc_provider(&ctx, &arn).expect_err("twice"),
            provider_not_found(&arn)
        );
    }

    #[test]
    fn arns_of_other_accounts_or_kinds_are_not_found() {
        let (_d, core) = core();
        let ctx = ctx("us-east-1");
        core.iam
            .create_oidc_provider(&ctx, new("https://token.example.com"))
            .expect("create");
        for arn in [
            "arn:aws:iam::444455556666:oidc-provider/token.example.com",
            "arn:aws:iam::111122223333:saml-provider/token.example.com",
            "arn:aws:iam::111122223333:oidc-provider/",
            "token.example.com",
        ] {
            assert_eq!(core.iam.oidc_provider(&ctx, arn), Err(provider_not_found(arn)), "{arn}");
        }
    }

    #[test]
    fn urls_client_ids_and_thumbprints_are_validated() {
        let (_d, core) = core();
        let ctx = ctx("us-east-1");
        for url in [
            "http://token.example.com",
            "https://",
            "https:///path",
            "https://token.example.com:8443",
            "https://token.example.com/?tenant=a",
            "https://token.example.com/#a",
            "https://user@token.example.com",
            "https://token .example.com",
            "token.example.com",
        ] {
            let refused = core.iam.create_oidc_provider(&ctx, new(url)).expect_err(url);
            assert_eq!(
                refused,
                IamError::Validation("Invalid Open ID Connect Provider URL".into()),
                "{url}"
            );
        }
        let bad_thumbprint = NewOidcProvider {
            thumbprints: vec!["not-hex-not-hex-not-hex-not-hex-not-hex!".into()],
            ..new("https://token.example.com")
        };
        assert!(matches!(
            core.iam.create_oidc_provider(&ctx, bad_thumbprint),
            Err(IamError::InvalidInput(_))
        ));
        let too_many = NewOidcProvider {
            thumbprints: vec![THUMBPRINT.into(); 6],
            ..new("https://token.example.com")
        };
        assert_eq!(
            core.iam.create_oidc_provider(&ctx, too_many).err(),
            Some(IamError::InvalidInput(
                "Thumbprint list must contain fewer than 5 entries.".into()
            ))
        );
        let empty_client = NewOidcProvider {
            client_ids: vec![String::new()],
            ..new("https://token.example.com")
        };
        assert!(matches!(
            core.iam.create_oidc_provider(&ctx, empty_client),
            Err(IamError::InvalidInput(_))
        ));
        let reserved_tag = NewOidcProvider {
            tags: vec![Tag {
                key: "aws:x".into(),
                value: "y".into(),
            }],
            ..new("https://token.example.com")
        };
        assert!(matches!(
            core.iam.create_oidc_provider(&ctx, reserved_tag),
            Err(IamError::InvalidInput(_))
        ));
        assert!(core.iam.list_oidc_providers(&ctx).expect("list").is_empty());
    }

    #[test]
    fn jwks_file_names_escape_everything_but_unreserved_bytes() {
        assert_eq!(jwks_file_name("token.example.com"), "token.example.com.json");
        assert_eq!(
            jwks_file_name("idp.example.com/realms/dev_1~x"),
            "idp.example.com%2Frealms%2Fdev_1~x.json"
        );
        assert_eq!(
            jwks_file_name("a/../b"),
            "a%2F..%2Fb.json",
            "no path can escape the directory"
        );
        assert_eq!(jwks_file_name("é"), "%C3%A9.json");
    }

    #[test]
    fn jwks_keep_only_usable_signature_keys() {
        let jwks = br#"{"keys":[
            {"kty":"RSA","kid":"r","alg":"RS256","use":"sig","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"e","crv":"P-256","x":"AQ","y":"Ag=="},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"p384","crv":"P-384","x":"AQ","y":"AQ"},
            {"kty":"oct","kid":"hmac","k":"AQ"},
            {"kty":"RSA","kid":"broken","n":"!!","e":"AQAB"},
            {"kty":"RSA","kid":"missing-e","n":"AQAB"}
        ]}"#;
        let keys = parse_jwks(jwks).expect("jwks");
        assert_eq!(
            keys,
            vec![
                SigningKey {
                    kid: Some("r".into()),
                    alg: Some(Algorithm::Rs256),
                    key: PublicKey::Rsa {
                        n: vec![1, 0, 1],
                        e: vec![1, 0, 1]
                    },
                },
                SigningKey {
                    kid: Some("e".into()),
                    alg: None,
                    key: PublicKey::P256 { x: vec![1], y: vec![2] },
                },
            ]
        );
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"not json").is_err());
        assert_eq!(parse_jwks(br#"{"keys":[]}"#), Ok(vec![]));
    }

    #[test]
    fn a_missing_jwks_file_is_reported_with_its_path() {
        let dir = std::env::temp_dir().join("keyhaven-oidc-no-such-dir");
        let error = read_jwks(&dir.join(jwks_file_name("nowhere.example.com"))).expect_err("missing");
        assert!(error.contains("nowhere.example.com.json"), "{error}");
    }
}
