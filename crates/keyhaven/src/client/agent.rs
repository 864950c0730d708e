//! `keyhaven agent`: a local caching agent with the HTTP API of AWS's Parameters and Secrets Lambda extension (and
//! the Secrets Manager Agent's `/v1/` and `/ping`), on 127.0.0.1:2773 by default, so code written for them runs
//! unchanged. Every request must carry `X-Aws-Parameters-Secrets-Token` (or `X-Vault-Token`) equal to the token
//! the agent was started with: `AWS_TOKEN`, `AWS_SESSION_TOKEN` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`, a
//! `file://` value naming a file that holds it. Requests that came through a proxy (`X-Forwarded-For`) are refused.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use keyhaven_client::ClientError;
use keyhaven_client::secrets::Resolver;
use keyhaven_client::secrets::agent::{Agent, AgentSettings, Answer, ParameterRequest, SecretRequest};
use zeroize::Zeroizing;

use super::{block_on, exit_with};

/// `keyhaven agent` options; each falls back to the extension's environment variable.
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(long, env = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", default_value_t = 2773)]
    port: u16,
    #[arg(long, env = "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", default_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    cache_enabled: bool,
    /// Entries cached, parameters and secrets together (0 to 1000).
    #[arg(long, env = "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(0..=1000))]
    cache_size: u16,
    /// Seconds a parameter is served from the cache (0 to 300).
    #[arg(long, env = "SSM_PARAMETER_STORE_TTL", default_value_t = 300, value_parser = clap::value_parser!(u16).range(0..=300))]
    parameter_ttl: u16,
    /// Seconds a secret is served from the cache (0 to 300).
    #[arg(long, env = "SECRETS_MANAGER_TTL", default_value_t = 300, value_parser = clap::value_parser!(u16).range(0..=300))]
    secret_ttl: u16,
    /// The named profile of the AWS configuration files to take credentials and Region from.
    #[arg(long)]
    profile: Option<String>,
}

const TOKEN_VARIABLES: [&str; 3] = ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"];
const TOKEN_HEADERS: [&str; 2] = ["x-aws-parameters-secrets-token", "x-vault-token"];

/// The token requests must present.
fn token() -> Result<Zeroizing<String>, String> {
    let (name, value) = TOKEN_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| (name, v)))
        .ok_or_else(|| format!("no token: set one of {}", TOKEN_VARIABLES.join(", ")))?;
    match value.strip_prefix("file://") {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {path}: {e}"))?;
            let text = text.trim();
            if text.is_empty() {
                return Err(format!("{name}: {path} is empty"));
            }
            Ok(Zeroizing::new(text.to_string()))
        }
        None => Ok(Zeroizing::new(value)),
    }
}

struct Shared {
    agent: Agent,
    token: Zeroizing<String>,
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

/// The SSRF checks of every request but `/ping`.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key("x-forwarded-for") {
        return Some(plain(StatusCode::BAD_REQUEST, "Forwarded"));
    }
    let presented = TOKEN_HEADERS
        .iter()
        .filter_map(|h| headers.get(*h))
        .any(|value| keyhaven_crypto::digest::constant_time_eq(value.as_bytes(), shared.token.as_bytes()));
    (!presented).then(|| plain(StatusCode::FORBIDDEN, "Bad Token"))
}

fn json(answer: Result<Answer, ClientError>) -> Response {
    match answer {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body.as_slice().to_vec()).into_response(),
        Err(ClientError::Fetch {
            code, message, status, ..
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = serde_json::json!({"__type": code, "message": message}).to_string();
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(other) => {
            let body = serde_json::json!({"__type": "InternalFailure", "message": other.to_string()}).to_string();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    }
}

/// The query's pairs in order (the extension honours whichever of `version` and `label` comes first).
fn pairs(query: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

async fn parameter(State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(response) = refused(&shared, &headers) {
        return response;
    }
    let (mut name, mut selector, mut decrypt) = (None, None, false);
    for (key, value) in pairs(&query) {
        match key.as_str() {
            "name" => name = Some(value),
            "version" | "label" if selector.is_none() => selector = Some(value),
            "version" | "label" => {}
            "withDecryption" => match boolean(&value) {
                Some(b) => decrypt = b,
                None => return plain(StatusCode::BAD_REQUEST, "invalid withDecryption value"),
            },
            _ => return plain(StatusCode::BAD_REQUEST, "unknown parameter"),
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return plain(StatusCode::BAD_REQUEST, "missing parameter name");
    };
    json(
        shared
            .agent
            .parameter(
                ParameterRequest {
                    name,
                    selector,
                    decrypt,
                },
                Instant::now(),
            )
            .await,
    )
}

async fn secret_for(shared: &Shared, id: Option<String>, query: &Option<String>) -> Response {
    let (mut secret_id, mut version_id, mut version_stage, mut refresh) = (id.clone(), None, None, false);
    for (key, value) in pairs(query) {
        match key.as_str() {
            "secretId" if id.is_none() => secret_id = Some(value),
            "versionId" => version_id = Some(value),
            "versionStage" => version_stage = Some(value),
            "refreshNow" => match boolean(&value) {
                Some(b) => refresh = b,
                None => return plain(StatusCode::BAD_REQUEST, "invalid refreshNow value"),
            },
            _ => return plain(StatusCode::BAD_REQUEST, "unknown parameter"),
        }
    }
    let Some(id) = secret_id.filter(|s| !s.is_empty()) else {
        return plain(StatusCode::BAD_REQUEST, "missing parameter secretId");
    };
    let request = SecretRequest {
        id,
        version_id,
        version_stage,
    };
    json(shared.agent.secret(request, refresh, Instant::now()).await)
}

async fn secret(State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(response) = refused(&shared, &headers) {
        return response;
    }
    secret_for(&shared, None, &query).await
}

async fn secret_by_path(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(response) = refused(&shared, &headers) {
        return response;
    }
    secret_for(&shared, Some(id), &query).await
}

async fn serve(args: AgentArgs) -> Result<(), String> {
    let token = token()?;
    let settings = AgentSettings {
        cache_enabled: args.cache_enabled,
        cache_size: usize::from(args.cache_size),
        parameter_ttl: Duration::from_secs(args.parameter_ttl.into()),
        secret_ttl: Duration::from_secs(args.secret_ttl.into()),
    };
    let resolver = Resolver::from_environment(args.profile.as_deref()).await;
    let shared = Arc::new(Shared {
        agent: Agent::new(resolver, settings),
        token,
    });
    let app = Router::new()
        .route("/ping", get(|| async { "healthy" }))
        .route("/systemsmanager/parameters/get", get(parameter))
        .route("/systemsmanager/parameters/get/", get(parameter))
        .route("/secretsmanager/get", get(secret))
        .route("/v1/{*id}", get(secret_by_path))
        .fallback(|| async { plain(StatusCode::NOT_FOUND, "Not found") })
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .map_err(|e| format!("127.0.0.1:{}: {e}", args.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("keyhaven agent listening on http://{address}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

pub fn run(args: AgentArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    exit_with("agent", block_on(runtime, serve(args)))
}
