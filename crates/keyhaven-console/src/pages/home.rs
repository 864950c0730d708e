//! Sign-in, sign-out and the home page.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_api::server::ConnectionInfo;
use keyhaven_crypto::SecretBytes;
use keyhaven_kernel::clock::Clock;
use maud::{Markup, html};
use serde_json::json;

use crate::Console;
use crate::api::{Api, ApiFailure, Credentials, JsonService, QueryService};
use crate::form::Form;
use crate::layout::{Alert, Section, alert, bare_page, facts, page, respond};
use crate::session::{self, Change, DEFAULT_REGION, HANDLE_BYTES, PREFIX, Refusal, SignedIn};

/// Shown for every sign-in the credentials themselves fail, so the page tells an attacker nothing more.
const NOT_VALID: &str = "The access key, secret or MFA code is not valid.";

/// `/_keyhaven/console`: the home page of a signed-in browser, else the sign-in page.
pub async fn entry(headers: HeaderMap, request: Request) -> Redirect {
    let tls = session::is_tls(request.extensions().get::<ConnectionInfo>());
    match session::read_cookie(&headers, tls) {
        Some(_) => Redirect::to(&format!("{PREFIX}/{DEFAULT_REGION}")),
        None => Redirect::to(&format!("{PREFIX}/sign-in")),
    }
}

/// The Region box in the header: the same section in another Region.
pub async fn go_to_region(uri: Uri) -> Response {
    let query = Form::parse(uri.query().unwrap_or("").as_bytes());
    let region = query
        .trimmed("region")
        .filter(|r| session::is_region(r))
        .unwrap_or(DEFAULT_REGION);
    let section = query.get("section").unwrap_or("");
    let known = [
        "",
        "/kms",
        "/ssm",
        "/secrets",
        "/iam",
        "/iam/simulator",
        "/audit",
        "/s3",
    ];
    let section = if known.contains(&section) { section } else { "" };
    Redirect::to(&format!("{PREFIX}/{region}{section}")).into_response()
}

fn sign_in_form(shown: Option<&Alert>, typed: &Form) -> Markup {
    let value = |name: &str| typed.get(name).unwrap_or("").to_string();
    bare_page(
        "Sign in",
        html! {
            h1 { "Sign in to keyhaven" }
            (alert(shown))
            form.stack method="post" action={ (PREFIX) "/sign-in" } autocomplete="off" {
                label { "Access key ID" input name="access_key_id" required value=(value("access_key_id")) autocomplete="username"; }
                label { "Secret access key" input type="password" name="secret_access_key" required autocomplete="current-password"; }
                label { "MFA code (if you have a device)" input name="mfa_code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code"; }
                details {
                    summary { "Sign in with a role" }
                    label { "Role ARN" input name="role_arn" value=(value("role_arn")) placeholder="arn:aws:iam::123456789012:role/admin"; }
                    label { "Session name" input name="session_name" value=(value("session_name")); }
                }
                label { "Region" input name="region" value=(typed.get("region").unwrap_or(DEFAULT_REGION)) required; }
                button.primary type="submit" { "Sign in" }
            }
            p.muted { "The console signs every action as this session, through the same authorisation and audit trail as the API." }
        },
    )
}

/// The sign-in page.
pub async fn sign_in_page(uri: Uri) -> Response {
    let query = Form::parse(uri.query().unwrap_or("").as_bytes());
    let shown = if query.get("expired").is_some() {
        Some(Alert::Notice("Your session has ended. Sign in again.".into()))
    } else if query.get("signed-out").is_some() {
        Some(Alert::Notice("You are signed out.".into()))
    } else {
        None
    };
    respond(StatusCode::OK, sign_in_form(shown.as_ref(), &Form::default()))
}

fn refused(typed: &Form, failure: ApiFailure) -> Response {
    let status = session_failure_status(&failure);
    respond(status, sign_in_form(Some(&Alert::Failure(failure)), typed))
}

fn session_failure_status(failure: &ApiFailure) -> StatusCode {
    match failure.status {
        400..=499 => StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST),
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Errors that say only that the credentials or the MFA code are wrong: shown as one text.
fn is_credential_failure(failure: &ApiFailure) -> bool {
    matches!(
        failure.code.as_str(),
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "IncompleteSignature" | "UnrecognizedClientException"
    ) || failure.message.contains("MultiFactorAuthentication")
}

/// Sign-in: an in-process GetSessionToken (or AssumeRole) signed with the typed key pair, through the pipeline, so
/// it is authenticated, checked and audited like any STS call; its session becomes the console's.
pub async fn sign_in(State(console): State<Arc<Console>>, request: Request) -> Response {
    let connection = request.extensions().get::<ConnectionInfo>().copied();
    let tls = session::is_tls(connection.as_ref());
    if !session::is_same_origin(request.headers(), tls) {
        return Refusal::Forbidden.into_response();
    }
    let body = match session::read_form_body(request.into_body()).await {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let typed = Form::parse(&body);
    let region = typed.trimmed("region").unwrap_or(DEFAULT_REGION).to_string();
    if !session::is_region(&region) {
        return refused(&typed, invalid("The Region is not a valid Region name."));
    }
    let (Some(access_key_id), Some(secret)) = (typed.trimmed("access_key_id"), typed.get("secret_access_key")) else {
        return refused(&typed, invalid(NOT_VALID));
    };
    let credentials = Credentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
        session_token: None,
    };
    let api = Api::new(console.app.clone(), credentials, region.clone(), connection);
    let issued = match issue_session(&api, &typed, console.settings.session_seconds).await {
        Ok(issued) => issued,
        Err(failure) if is_credential_failure(&failure) => return refused(&typed, invalid(NOT_VALID)),
        Err(failure) => return refused(&typed, failure),
    };
    let handle = match keyhaven_crypto::random_bytes(HANDLE_BYTES) {
        Ok(handle) => handle,
        Err(_) => return Refusal::Internal.into_response(),
    };
    let sts = &console.app.core.identity.sts;
    let attached = tokio::task::block_in_place(|| {
        sts.attach_console(&issued.access_key_id, issued.session_token.expose(), handle.expose())
    });
    if let Err(e) = attached {
        tracing::error!(error = %e, "attaching the console to its session failed");
        return Refusal::Internal.into_response();
    }
    let max_age = issued.expiration - console.app.core.clock.now().unix_timestamp();
    let cookie = session::session_cookie(tls, &issued.access_key_id, handle.expose(), max_age.max(0));
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, location(&format!("{PREFIX}/{region}"))),
        ],
    )
        .into_response()
}

fn location(path: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(path).unwrap_or_else(|_| axum::http::HeaderValue::from_static(PREFIX))
}

fn invalid(message: &str) -> ApiFailure {
    ApiFailure {
        status: 403,
        code: "SignInFailed".into(),
        message: message.into(),
    }
}

struct IssuedSession {
    access_key_id: String,
    session_token: SecretBytes,
    expiration: i64,
}

/// The caller's MFA device (found with ListMFADevices when a code was typed), then GetSessionToken, or AssumeRole
/// when a role was named.
async fn issue_session(api: &Api, typed: &Form, seconds: i64) -> Result<IssuedSession, ApiFailure> {
    let code = typed.trimmed("mfa_code");
    let role_arn = typed.trimmed("role_arn");
    // The caller's own MFA devices: the one a typed code belongs to, or, without a code, whether the user must give
    // one (AWS's console asks a user with a device for it). A role sign-in without a code does not ask.
    let devices = if code.is_some() || role_arn.is_none() {
        Some(api.query(QueryService::Iam, "ListMFADevices", &[]).await)
    } else {
        None
    };
    let serial = match (devices, code) {
        (Some(Ok(devices)), Some(_)) => Some(
            devices
                .find_all("SerialNumber")
                .first()
                .map(|serial| serial.text.clone())
                .ok_or_else(|| invalid(NOT_VALID))?,
        ),
        (Some(Ok(devices)), None) if !devices.find_all("SerialNumber").is_empty() => {
            return Err(ApiFailure {
                status: 401,
                code: "MFARequired".into(),
                message: "This user has an MFA device: enter its current code.".into(),
            });
        }
        // A code without a readable device list cannot be used; credentials that do not sign are not valid.
        (Some(Err(failure)), Some(_)) => return Err(failure),
        (Some(Err(failure)), None) if is_credential_failure(&failure) => return Err(failure),
        _ => None,
    };
    let duration = seconds.to_string();
    let mut params: Vec<(&str, &str)> = vec![("DurationSeconds", &duration)];
    if let (Some(serial), Some(code)) = (serial.as_deref(), code) {
        params.push(("SerialNumber", serial));
        params.push(("TokenCode", code));
    }
    let answer = match role_arn {
        Some(role_arn) => {
            let session_name = typed.trimmed("session_name").unwrap_or("console");
            params.push(("RoleArn", role_arn));
            params.push(("RoleSessionName", session_name));
            api.query(QueryService::Sts, "AssumeRole", &params).await?
        }
        None => api.query(QueryService::Sts, "GetSessionToken", &params).await?,
    };
    let issued = answer.find("Credentials").ok_or_else(|| invalid(NOT_VALID))?;
    let expiration = time::OffsetDateTime::parse(
        issued.text_of("Expiration"),
        &time::format_description::well_known::Rfc3339,
    )
    .map(time::OffsetDateTime::unix_timestamp)
    .map_err(|_| invalid("The session's expiry could not be read."))?;
    Ok(IssuedSession {
        access_key_id: issued.text_of("AccessKeyId").to_string(),
        session_token: SecretBytes::from_slice(issued.text_of("SessionToken").as_bytes()),
        expiration,
    })
}

/// Sign-out: the session is revoked in the store (refused from now on, console and API alike, on every node).
pub async fn sign_out(State(console): State<Arc<Console>>, change: Change) -> Response {
    let s = &change.signed_in;
    let sts = &console.app.core.identity.sts;
    if let Err(e) = tokio::task::block_in_place(|| sts.revoke(&s.access_key_id)) {
        tracing::error!(error = %e, "revoking a console session failed");
        return Refusal::Internal.into_response();
    }
    if let Err(refusal) = s.record_action(&console, "ConsoleSignOut", false).await {
        return refusal.into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::cleared_cookie(s.tls)),
            (header::LOCATION, location(&format!("{PREFIX}/sign-in?signed-out=1"))),
        ],
    )
        .into_response()
}

/// Home: who is signed in (GetCallerIdentity), until when, and the sections.
pub async fn home(s: SignedIn) -> Response {
    let identity = s.api.query(QueryService::Sts, "GetCallerIdentity", &[]).await;
    let trails = s
        .api
        .json(JsonService::CloudTrail, "LookupEvents", json!({"MaxResults": 5}))
        .await;
    let shown = identity.as_ref().err().cloned().map(Alert::Failure);
    let body = html! {
        @if let Ok(identity) = &identity {
            (facts(&[
                ("Account", html! { (identity.text_of("Account")) }),
                ("Signed in as", html! { code { (identity.text_of("Arn")) } }),
                ("Session key", html! { code { (s.access_key_id) } }),
                ("Session ends", html! { (crate::layout::epoch_text(s.expiration as f64)) }),
                ("Region", html! { (s.region()) }),
            ]))
        }
        h2 { "Recent activity" }
        @match &trails {
            Ok(found) => {
                ul {
                    @for event in found["Events"].as_array().into_iter().flatten() {
                        li {
                            (event["EventName"].as_str().unwrap_or("")) " · "
                            (event["Username"].as_str().unwrap_or("")) " · "
                            span.muted { (crate::layout::when(&event["EventTime"])) }
                        }
                    }
                }
                p { a href=(s.href("/audit")) { "The audit trail →" } }
            }
            Err(failure) => { p.muted { "The audit trail is not available to you: " (failure.code) } }
        }
    };
    respond(
        StatusCode::OK,
        page(&s, Section::Home, "Console home", shown.as_ref(), body),
    )
}
