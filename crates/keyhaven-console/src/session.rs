//! Console sessions from the browser's side: the cookie, the CSRF token, the same-origin check, and the extractors
//! that open a signed-in caller's session on every page and check every state change.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_api::pipeline::{Origin, Outcome, finish, new_request_id};
use keyhaven_api::server::ConnectionInfo;
use keyhaven_crypto::digest::{constant_time_eq, hmac_sha256, sha256};
use keyhaven_iam::sts::SessionRefusal;
use keyhaven_kernel::context::Principal;

use crate::Console;
use crate::api::{Api, Credentials, USER_AGENT};
use crate::form::Form;

/// Where the console lives; nothing else on the server starts with it.
pub const PREFIX: &str = "/_keyhaven/console";
const COOKIE: &str = "keyhaven-console";
/// Over TLS the cookie carries the `__Secure-` prefix, so a browser never accepts it from plain HTTP.
const SECURE_COOKIE: &str = "__Secure-keyhaven-console";
/// The Region the console opens in.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Random bytes in a console handle (43 characters in base64url).
pub const HANDLE_BYTES: usize = 32;
/// The largest form the console reads: a key policy is at most 32 KiB.
const MAX_FORM_BYTES: usize = 256 * 1024;

fn cookie_name(tls: bool) -> &'static str {
    if tls { SECURE_COOKIE } else { COOKIE }
}

/// Whether the browser reached the console over TLS.
pub fn is_tls(connection: Option<&ConnectionInfo>) -> bool {
    connection.is_some_and(|c| c.tls)
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Secure over TLS, scoped to the console's path.
pub fn session_cookie(tls: bool, access_key_id: &str, handle: &[u8], max_age: i64) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!(
        "{}={access_key_id}.{}; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(tls),
        URL_SAFE_NO_PAD.encode(handle)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let value = format!(
        "{}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(tls)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session's access key id and handle from the `Cookie` header.
pub fn read_cookie(headers: &HeaderMap, tls: bool) -> Option<(String, Vec<u8>)> {
    let name = cookie_name(tls);
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))?;
    let (id, handle) = value.split_once('.')?;
    let handle = URL_SAFE_NO_PAD.decode(handle).ok()?;
    let id_shaped = id.len() == 20 && id.starts_with("ASIA") && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (id_shaped && handle.len() == HANDLE_BYTES).then(|| (id.to_string(), handle))
}

/// The CSRF token of a session: derived from its handle, so it needs no state, is the same on every node, and
/// changes with every sign-in. A page from another origin can read neither the cookie nor the console's HTML.
pub fn csrf_token(handle: &[u8]) -> String {
    let mut seed = b"keyhaven/console/csrf/v1".to_vec();
    seed.extend_from_slice(handle);
    URL_SAFE_NO_PAD.encode(hmac_sha256(&sha256(&seed), b"csrf"))
}

/// A state change must come from the console's own pages: a browser's `Origin` (when sent) must be the host the
/// request came to, and `Sec-Fetch-Site` must not say `cross-site`. Clients that send neither are not browsers.
pub fn is_same_origin(headers: &HeaderMap, tls: bool) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin == format!("{}://{host}", if tls { "https" } else { "http" }),
        (Some(_), None) => false,
    }
}

/// Why a page was not served to the caller.
#[derive(Debug)]
pub enum Refusal {
    /// No session, or one that ended: back to the sign-in page.
    SignIn {
        expired: bool,
    },
    /// A state change that failed the same-origin or CSRF check.
    Forbidden,
    BadRequest,
    Internal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { expired } => {
                let to = if expired {
                    format!("{PREFIX}/sign-in?expired=1")
                } else {
                    format!("{PREFIX}/sign-in")
                };
                Redirect::to(&to).into_response()
            }
            Refusal::Forbidden => (
                StatusCode::FORBIDDEN,
                "The request did not come from the console's own page.",
            )
                .into_response(),
            Refusal::BadRequest => (StatusCode::BAD_REQUEST, "The request is not valid.").into_response(),
            Refusal::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The console could not open the session.",
            )
                .into_response(),
        }
    }
}

/// A signed-in caller on a page of one Region: the API as the session, and what the layout shows.
#[derive(Debug)]
pub struct SignedIn {
    pub api: Arc<Api>,
    pub csrf: String,
    /// Who the session stands for, as its requests' audit records name it.
    pub principal: Principal,
    /// The browser's request, for the records of console actions that are no AWS API.
    origin: Origin,
    /// Unix seconds.
    pub expiration: i64,
    pub access_key_id: String,
    pub tls: bool,
    /// The request's query string, decoded.
    pub query: Form,
}

impl SignedIn {
    pub fn region(&self) -> &str {
        &self.api.region
    }

    /// Records a console action that is no AWS API (sign-out, the audit chain check) as this session's, in the same
    /// audit log, durable before the action is answered when it changed state.
    pub async fn record_action(&self, console: &Console, operation: &str, read_only: bool) -> Result<(), Refusal> {
        let outcome = Outcome::console(operation, self.principal.clone(), self.region(), read_only);
        let answer = finish(&console.app, outcome, &self.origin, Instant::now()).await;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(Refusal::Internal)
        }
    }

    /// A console path in this Region.
    pub fn href(&self, path: &str) -> String {
        format!("{PREFIX}/{}{path}", self.api.region)
    }

    /// The notice for the change a redirect's `?done=` names, in the page's own words (`texts`): the text is never
    /// taken from the URL.
    pub fn done_notice(&self, texts: fn(&str) -> Option<&'static str>) -> Option<crate::layout::Alert> {
        self.query
            .get("done")
            .and_then(texts)
            .map(|text| crate::layout::Alert::Notice(text.into()))
    }
}

/// `^[a-z]{2}(-[a-z]+)+-\d+$`, the shape of a Region, so the path cannot name anything else.
pub fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        let first_segment = parts
            .uri
            .path()
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.trim_start_matches('/').split('/').next())
            .unwrap_or_default();
        // Pages live under their Region; sign-out is the one signed-in action outside any.
        let region = match first_segment {
            region if is_region(region) => region.to_string(),
            "sign-out" => DEFAULT_REGION.to_string(),
            _ => return Err(Refusal::BadRequest),
        };
        let connection = parts.extensions.get::<ConnectionInfo>().copied();
        let tls = is_tls(connection.as_ref());
        let (id, handle) = read_cookie(&parts.headers, tls).ok_or(Refusal::SignIn { expired: false })?;
        let sts = &console.app.core.identity.sts;
        let opened = tokio::task::block_in_place(|| sts.console_session(&id, &handle)).map_err(|e| {
            tracing::error!(error = %e, "opening a console session failed");
            Refusal::Internal
        })?;
        let session = opened.map_err(|refusal| Refusal::SignIn {
            expired: refusal == SessionRefusal::Expired,
        })?;
        let credentials = Credentials {
            access_key_id: session.access_key_id.clone(),
            secret_access_key: session.secret_access_key,
            session_token: Some(session.session_token),
        };
        Ok(SignedIn {
            api: Arc::new(Api::new(console.app.clone(), credentials, region, connection)),
            csrf: csrf_token(&handle),
            principal: session.principal,
            origin: Origin {
                request_id: new_request_id(),
                user_agent: USER_AGENT.to_string(),
                connection,
            },
            expiration: session.expiration,
            access_key_id: session.access_key_id,
            tls,
            query: Form::parse(parts.uri.query().unwrap_or("").as_bytes()),
        })
    }
}

/// A state change by a signed-in caller: same-origin, with the session's CSRF token, its form decoded.
#[derive(Debug)]
pub struct Change {
    pub signed_in: SignedIn,
    pub form: Form,
}

impl FromRequest<Arc<Console>> for Change {
    type Rejection = Refusal;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, console).await?;
        if !is_same_origin(&parts.headers, signed_in.tls) {
            return Err(Refusal::Forbidden);
        }
        let body = read_form_body(body).await?;
        let form = Form::parse(&body);
        let presented = form.get("_csrf").unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), signed_in.csrf.as_bytes()) {
            return Err(Refusal::Forbidden);
        }
        Ok(Change { signed_in, form })
    }
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
pub async fn read_form_body(body: axum::body::Body) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| Refusal::BadRequest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_refuse_what_is_not_a_session() {
        let handle = [7u8; HANDLE_BYTES];
        let set = session_cookie(true, "ASIAABCDEFGHIJKLMNOP", &handle, 3600);
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with("__Secure-keyhaven-console=ASIAABCDEFGHIJKLMNOP."));
        for attribute in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/_keyhaven/console",
            "Max-Age=3600",
        ] {
            assert!(set.contains(attribute), "{attribute} missing from {set}");
        }
        assert!(
            !session_cookie(false, "ASIAABCDEFGHIJKLMNOP", &handle, 1)
                .to_str()
                .expect("ascii")
                .contains("Secure")
        );
        let cookie = set.split(';').next().expect("pair");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {cookie}")).expect("value"),
        );
        assert_eq!(
            read_cookie(&headers, true),
            Some(("ASIAABCDEFGHIJKLMNOP".to_string(), handle.to_vec()))
        );
        assert_eq!(
            read_cookie(&headers, false),
            None,
            "the TLS cookie is not the plain one"
        );
        for bad in [
            "keyhaven-console=AKIAABCDEFGHIJKLMNOP.AAAA",
            "keyhaven-console=ASIA.x",
            "keyhaven-console=junk",
        ] {
            headers.insert(header::COOKIE, HeaderValue::from_static(bad));
            assert_eq!(read_cookie(&headers, false), None, "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_are_per_handle_and_origins_must_match() {
        assert_eq!(csrf_token(b"a"), csrf_token(b"a"));
        assert_ne!(csrf_token(b"a"), csrf_token(b"b"));
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        // (request headers, over TLS, same origin)
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, bool);
        let cases: &[Case] = &[
            (&[("host", "h:1")], false, true),
            (&[("host", "h:1"), ("origin", "http://h:1")], false, true),
            (&[("host", "h:1"), ("origin", "https://h:1")], true, true),
            (&[("host", "h:1"), ("origin", "http://h:1")], true, false),
            (&[("host", "h:1"), ("origin", "http://evil")], false, false),
            (&[("host", "h:1"), ("origin", "null")], false, false),
            (&[("host", "h:1"), ("sec-fetch-site", "cross-site")], false, false),
            (
                &[
                    ("host", "h:1"),
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "http://h:1"),
                ],
                false,
                true,
            ),
        ];
        for (pairs, tls, expected) in cases {
            assert_eq!(is_same_origin(&headers(pairs), *tls), *expected, "{pairs:?} tls={tls}");
        }
    }

    #[test]
    fn regions_are_region_shaped() {
        for good in ["us-east-1", "eu-west-2", "us-gov-west-1"] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "static",
            "sign-in",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "u-east-1",
            "us--1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
