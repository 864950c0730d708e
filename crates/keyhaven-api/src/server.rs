//! The HTTP surface: the server's own routes (health, metrics, dev endpoints); every other request is an AWS
//! call and goes to the pipeline (`pipeline.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keyhaven_core::Core;
use keyhaven_kernel::clock::Clock;
use serde_json::{Value, json};

use crate::credentials::CredentialRegistry;
use crate::error::ApiError;
use crate::pipeline::{Origin, Outcome, collect_limited, finish, header_str, new_request_id};
use crate::protocol::Protocol;
use crate::sigv4::SigningKeyCache;

/// Renders the Prometheus exposition text.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Shared state of the HTTP layer.
pub struct AppState {
    pub core: Arc<Core>,
    pub credentials: CredentialRegistry,
    pub dev: bool,
    /// The account used when a request's caller is unknown (audit records of failed requests).
    pub default_account: String,
    pub signing_keys: SigningKeyCache,
    pub metrics: Option<MetricsRender>,
    /// The wire protocols, asked in order which claims a request (`protocol::standard()`).
    pub protocols: Vec<&'static dyn Protocol>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("dev", &self.dev).finish()
    }
}

/// Facts about the connection a request arrived on, inserted by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// The router for every route the server answers.
pub fn router(state: Arc<AppState>) -> Router {
    let mut routes = Router::new()
        .route("/_keyhaven/health", get(health))
        .route("/metrics", get(metrics));
    if state.dev {
        routes = routes
            .route("/_keyhaven/reset", post(reset))
            .route("/moto-api/reset", post(reset))
            .route("/_keyhaven/clock", post(advance_clock));
    }
    // Every other method and path is an AWS request: one the protocols do not claim is answered
    // UnknownOperation through the pipeline, so it is audited like any other.
    routes.fallback(crate::pipeline::aws_entry).with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.core.audit.is_healthy() {
        plain_json(StatusCode::OK, json!({"status": "ok"}))
    } else {
        plain_json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "audit log unavailable"}),
        )
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(render) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn plain_json(status: StatusCode, value: Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Runs a dev-only endpoint's work and answers through the audited pipeline tail.
async fn dev_endpoint(
    state: &AppState,
    request: Request,
    operation: &str,
    work: impl FnOnce(&Core, &[u8]) -> Result<Value, ApiError>,
) -> Response {
    let started = Instant::now();
    let origin = Origin {
        request_id: new_request_id(),
        user_agent: header_str(request.headers(), "user-agent")
            .unwrap_or_default()
            .to_string(),
        connection: request.extensions().get::<ConnectionInfo>().copied(),
    };
    let result = match collect_limited(request.into_body(), crate::protocol::MAX_WHOLE_BODY).await {
        Ok(body) => tokio::task::block_in_place(|| work(&state.core, &body)),
        Err(e) => Err(e),
    };
    finish(state, Outcome::dev(operation, result), &origin, started).await
}

/// Dev mode: removes every resource (moto's reset, for suites written against moto_server).
async fn reset(State(state): State<Arc<AppState>>, request: Request) -> Response {
    dev_endpoint(&state, request, "ResetState", |core, _| {
        core.reset().map_err(|e| {
            tracing::error!(error = %e, "dev reset failed");
            ApiError::internal()
        })?;
        tracing::info!("dev reset: all resources removed");
        Ok(json!({"status": "ok"}))
    })
    .await
}

/// Dev mode: moves the domain clock forward and runs whatever became due, before answering.
async fn advance_clock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    dev_endpoint(&state, request, "AdvanceClock", |core, body| {
        let seconds = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["advance_seconds"].as_i64());
        let seconds = seconds
            .filter(|s| *s >= 0)
            .ok_or_else(|| ApiError::validation("advance_seconds must be a non-negative integer"))?;
        core.clock.advance(seconds);
        let ran = core.run_due_jobs().map_err(|e| {
            tracing::error!(error = %e, "running due jobs failed");
            ApiError::internal()
        })?;
        Ok(json!({"now": core.clock.now().unix_timestamp(), "jobs_run": ran}))
    })
    .await
}
