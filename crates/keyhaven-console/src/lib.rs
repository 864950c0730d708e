//! The web console: server-rendered pages for keys, parameters, secrets, identities, the policy simulator, the audit
//! trail and buckets, served under `/_keyhaven/console` when `--console` is on.
//!
//! Every page action is an AWS request signed as the signed-in console session and run through the API's own
//! pipeline (`api.rs`), so it is authenticated, authorised and audited exactly as the same call from the CLI would be.
//! Only two things reach past the pipeline: STS's console-session record (opening a session from its cookie, and
//! revoking it at sign-out) and the audit chain check, which has no AWS API.

mod api;
mod form;
mod layout;
mod pages;
mod session;
mod xml;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use keyhaven_api::server::AppState;

pub use session::PREFIX;

/// How the console is run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a console session lasts (STS caps it: the root user at an hour, a role at its maximum).
    pub session_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { session_seconds: 3_600 }
    }
}

/// What every console handler shares.
#[derive(Debug)]
pub struct Console {
    pub app: Arc<AppState>,
    pub settings: Settings,
}

/// The console's routes, to be merged beside the API's router (which keeps the fallback to the pipeline).
pub fn router(app: Arc<AppState>, settings: Settings) -> Router {
    use pages::{audit, home, iam, kms, s3, secrets, ssm};
    let console = Arc::new(Console { app, settings });
    let region = |path: &str| format!("{PREFIX}/{{region}}{path}");
    Router::new()
        .route(PREFIX, get(home::entry))
        .route(&format!("{PREFIX}/"), get(home::entry))
        .route(
            &format!("{PREFIX}/sign-in"),
            get(home::sign_in_page).post(home::sign_in),
        )
        .route(&format!("{PREFIX}/sign-out"), post(home::sign_out))
        .route(&format!("{PREFIX}/static/{{file}}"), get(layout::asset))
        .route(&format!("{PREFIX}/go"), get(home::go_to_region))
        .route(&region(""), get(home::home))
        .route(&region("/kms"), get(kms::list).post(kms::create))
        .route(&region("/kms/{key}"), get(kms::detail).post(kms::change))
        .route(&region("/ssm"), get(ssm::tree))
        .route(&region("/ssm/parameter"), get(ssm::detail).post(ssm::change))
        .route(&region("/secrets"), get(secrets::list).post(secrets::create))
        .route(&region("/secrets/secret"), get(secrets::detail).post(secrets::change))
        .route(&region("/iam"), get(iam::overview))
        .route(&region("/iam/user"), get(iam::user))
        .route(&region("/iam/simulator"), get(iam::simulator))
        .route(&region("/audit"), get(audit::timeline))
        .route(&region("/audit/verify"), post(audit::verify))
        .route(&region("/s3"), get(s3::buckets))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// The headers of every console response: a CSP without inline script or style, no caching (revealed values must
/// never be stored), no framing, and the server time the page took.
async fn security_headers(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: under it Chromium sends `Origin: null` with the console's own form posts, which the
    // same-origin check must refuse. `same-origin` still sends nothing to another site.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(timing) = HeaderValue::from_str(&format!("total;dur={millis:.2}")) {
        headers.insert("server-timing", timing);
    }
    response
}
