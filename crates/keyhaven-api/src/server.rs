//! The HTTP surface: routes, and the one request pipeline every AWS call goes through.
//!
//! Pipeline: identify service and operation → authenticate (SigV4) → decode and validate →
//! authorise → execute in core → audit → encode. Every outcome, including failures before
//! authentication, produces exactly one audit record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use keyhaven_core::Core;
use keyhaven_iam::iam::KeyLookup;
use keyhaven_iam::sts::SessionRefusal;
use keyhaven_kernel::audit::{AuditEvent, AuditResource};
use keyhaven_kernel::clock::Clock;
use keyhaven_kernel::context::{Principal, RequestContext, ServiceCall};
use serde_json::{Value, json};

use crate::credentials::{CredentialRegistry, Identity};
use crate::error::ApiError;
use crate::sigv4::{self, RequestParts, SigningKeyCache, UriEncoding};
use crate::{authorize, kms, secretsmanager, ssm};

/// Largest request body accepted by the JSON services.
pub const MAX_JSON_BODY: usize = 1024 * 1024;
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

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
    routes.fallback(aws_entry).with_state(state)
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

/// The JSON services an `X-Amz-Target` prefix can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonService {
    Kms,
    Ssm,
    SecretsManager,
}

impl JsonService {
    fn from_target(target: &str) -> Option<(Self, &str)> {
        let (prefix, operation) = target.split_once('.')?;
        match prefix {
            p if p == crate::generated::kms::TARGET_PREFIX => Some((JsonService::Kms, operation)),
            p if p == crate::generated::ssm::TARGET_PREFIX => Some((JsonService::Ssm, operation)),
            p if p == crate::generated::secretsmanager::TARGET_PREFIX => Some((JsonService::SecretsManager, operation)),
            _ => None,
        }
    }

    fn signing_name(self) -> &'static str {
        match self {
            JsonService::Kms => "kms",
            JsonService::Ssm => "ssm",
            JsonService::SecretsManager => "secretsmanager",
        }
    }
}

pub fn new_request_id() -> String {
    keyhaven_kernel::ids::new_uuid().unwrap_or_else(|_| "00000000-0000-4000-8000-000000000000".into())
}

/// CloudTrail's limit on the `userAgent` it records.
const MAX_USER_AGENT_CHARS: usize = 1_024;

/// What the pipeline learned about a request, for the audit record and metrics.
struct Outcome {
    service: &'static str,
    operation: String,
    region: String,
    principal: Option<Principal>,
    request_parameters: Value,
    response_elements: Value,
    resources: Vec<AuditResource>,
    read_only: bool,
    /// awsQuery services answer in XML in this namespace; awsJson ones in JSON.
    xml_namespace: Option<&'static str>,
    /// Calls made to other services on the caller's behalf (SSM to KMS), each audited as well.
    service_calls: Vec<ServiceCall>,
    result: Result<Vec<u8>, ApiError>,
}

/// The wire protocols of AWS requests, told apart by method, path and headers before the body
/// is read (restXml, for S3, joins by its own routes and an unbounded, streamed body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `POST /` with `X-Amz-Target`: KMS, Parameter Store, Secrets Manager.
    AwsJson,
    /// `POST /` with a form body: IAM, STS.
    AwsQuery,
}

impl Protocol {
    fn of(parts: &axum::http::request::Parts) -> Option<Self> {
        if parts.method != axum::http::Method::POST || parts.uri.path() != "/" {
            return None;
        }
        let form = header_str(&parts.headers, "content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        Some(if form { Protocol::AwsQuery } else { Protocol::AwsJson })
    }

    /// The largest body a request of the protocol may have; larger ones are refused unread.
    fn body_limit(self) -> usize {
        match self {
            Protocol::AwsJson | Protocol::AwsQuery => MAX_JSON_BODY,
        }
    }
}

/// Every AWS request: awsJson (KMS, Parameter Store, Secrets Manager) or awsQuery (IAM, STS).
async fn aws_entry(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let connection = request.extensions().get::<ConnectionInfo>().copied();
    let (parts, body) = request.into_parts();
    // Recorded before the caller is known: bounded, as CloudTrail bounds it.
    let user_agent: String = header_str(&parts.headers, "user-agent")
        .unwrap_or_default()
        .chars()
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let mut outcome = Outcome {
        service: "unknown",
        operation: header_str(&parts.headers, "x-amz-target")
            .unwrap_or_default()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        region: String::new(),
        principal: None,
        request_parameters: Value::Null,
        response_elements: Value::Null,
        resources: Vec::new(),
        read_only: false,
        xml_namespace: None,
        service_calls: Vec::new(),
        result: Err(ApiError::internal()),
    };
    if !state.core.audit.is_healthy() {
        return json_error(&ApiError::unavailable(), &request_id);
    }
    let Some(protocol) = Protocol::of(&parts) else {
        let refused = outcome_with(outcome, Err(ApiError::unknown_operation()));
        return finish(&state, refused, &request_id, &user_agent, connection, started).await;
    };
    let body = match collect_limited(body, protocol.body_limit()).await {
        Ok(body) => body,
        Err(e) => {
            return finish(
                &state,
                outcome_with(outcome, Err(e)),
                &request_id,
                &user_agent,
                connection,
                started,
            )
            .await;
        }
    };
    let ctx_base = (request_id.clone(), user_agent.clone(), connection);
    outcome.result = match protocol {
        Protocol::AwsQuery => handle_query(&state, &parts, &body, &mut outcome, ctx_base).await,
        Protocol::AwsJson => handle_json(&state, &parts, &body, &mut outcome, ctx_base).await,
    };
    finish(&state, outcome, &request_id, &user_agent, connection, started).await
}

fn outcome_with(mut outcome: Outcome, result: Result<Vec<u8>, ApiError>) -> Outcome {
    outcome.result = result;
    outcome
}

async fn collect_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::too_large()),
        Err(_) => Err(ApiError::serialization("The request body could not be read.")),
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request context of an authenticated caller on `connection`.
fn request_context(
    principal: Principal,
    region: &str,
    request_id: String,
    user_agent: String,
    connection: Option<ConnectionInfo>,
) -> RequestContext {
    RequestContext {
        request_id,
        principal,
        region: region.to_string(),
        source_ip: connection.map(|c| c.peer.ip()),
        user_agent,
        secure_transport: connection.is_some_and(|c| c.tls),
        via_service: None,
        service_calls: Default::default(),
    }
}

async fn handle_json(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    outcome: &mut Outcome,
    (request_id, user_agent, connection): (String, String, Option<ConnectionInfo>),
) -> Result<Vec<u8>, ApiError> {
    let target = header_str(&parts.headers, "x-amz-target").ok_or_else(ApiError::unknown_operation)?;
    let (service, operation) = JsonService::from_target(target).ok_or_else(ApiError::unknown_operation)?;
    outcome.service = service.signing_name();
    outcome.operation = operation.to_string();
    let content_type = header_str(&parts.headers, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/x-amz-json-1") && !content_type.starts_with("application/json") {
        return Err(ApiError::unknown_operation());
    }
    let principal = authenticate(state, parts, body, service.signing_name(), outcome)?;
    outcome.principal = Some(principal.clone());
    let ctx = request_context(principal, &outcome.region, request_id.clone(), user_agent, connection);
    outcome.request_parameters = crate::audit_params::json_request_parameters(outcome.service, operation, body);
    let core = state.core.clone();
    let executed = match service {
        JsonService::Kms => {
            let request = crate::generated::kms::Request::decode(operation, body).map_err(kms::decode_error)?;
            outcome.read_only = kms::is_read_only(operation);
            // Reads and cryptography are served from memory or a WAL snapshot read and never wait
            // on a writer, so they run inline; writes commit with an fsync and get a blocking slot.
            if outcome.read_only {
                kms::execute(&core, &ctx, request)
            } else {
                tokio::task::block_in_place(|| kms::execute(&core, &ctx, request))
            }
        }
        JsonService::Ssm => {
            let request =
                crate::generated::ssm::Request::decode(operation, body).map_err(|e| ssm::decode_error(e, operation))?;
            outcome.read_only = ssm::is_read_only(operation);
            let executed = if outcome.read_only {
                ssm::execute(&core, &ctx, request)
            } else {
                tokio::task::block_in_place(|| ssm::execute(&core, &ctx, request))
            };
            if ssm::schedules_work(operation) {
                core.scheduler.wake();
            }
            executed
        }
        JsonService::SecretsManager => {
            let request =
                crate::generated::secretsmanager::Request::decode(operation, body).map_err(kms::decode_error)?;
            outcome.read_only = secretsmanager::is_read_only(operation);
            // Even reads may write (a version's last-accessed day), so every call gets a blocking slot.
            let executed = tokio::task::block_in_place(|| secretsmanager::execute(&core, &ctx, request));
            if secretsmanager::schedules_work(operation) {
                core.scheduler.wake();
            }
            executed
        }
    };
    outcome.service_calls = ctx.service_calls.drain();
    let executed = executed?;
    outcome.response_elements = executed.response_elements;
    outcome.resources = executed.resources;
    Ok(executed.body)
}

/// The awsQuery services, told apart by the `Version` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    fn from_version(version: Option<&str>) -> Self {
        match version {
            Some(v) if v == crate::generated::iam::API_VERSION => QueryService::Iam,
            _ => QueryService::Sts,
        }
    }

    fn signing_name(self) -> &'static str {
        match self {
            QueryService::Iam => "iam",
            QueryService::Sts => "sts",
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            QueryService::Iam => crate::generated::iam::XML_NAMESPACE,
            QueryService::Sts => crate::generated::sts::XML_NAMESPACE,
        }
    }
}

async fn handle_query(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    outcome: &mut Outcome,
    (request_id, user_agent, connection): (String, String, Option<ConnectionInfo>),
) -> Result<Vec<u8>, ApiError> {
    let params = crate::query::Params::parse(body);
    let action = params.get("Action").unwrap_or_default().to_string();
    let service = QueryService::from_version(params.get("Version"));
    outcome.service = service.signing_name();
    outcome.operation = action.clone();
    outcome.xml_namespace = Some(service.namespace());
    if service == QueryService::Sts && action == "AssumeRoleWithWebIdentity" {
        // Unsigned by design (the model's `authtype: none`): the web identity token is the
        // credential, so no SigV4 is asked for, and a signature a client sends anyway is ignored.
        let origin = keyhaven_iam::web_identity::Origin {
            request_id,
            region: outcome.region.clone(),
            source_ip: connection.map(|c| c.peer.ip()),
            user_agent,
            secure_transport: connection.is_some_and(|c| c.tls),
        };
        return assume_role_with_web_identity(state, &params, outcome, &origin);
    }
    let principal = authenticate(state, parts, body, service.signing_name(), outcome)?;
    outcome.principal = Some(principal.clone());
    refuse_session_token_outside_its_scope(&principal, service, &action)?;
    let ctx = request_context(principal, &outcome.region, request_id.clone(), user_agent, connection);
    outcome.read_only = ["Get", "List", "Simulate", "Generate"]
        .iter()
        .any(|p| action.starts_with(p));
    match service {
        QueryService::Iam => {
            let request = crate::generated::iam::Request::decode(&action, &params)
                .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, &params)))?;
            outcome.request_parameters = crate::audit_params::request_parameters(
                outcome.service,
                &action,
                serde_json::to_value(&request).unwrap_or(Value::Null),
            );
            authorize::authorize_iam(&state.core, &ctx, &action, &params)?;
            let core = state.core.clone();
            let output = if outcome.read_only {
                crate::iam::execute(&core, &ctx, request)?
            } else {
                tokio::task::block_in_place(|| crate::iam::execute(&core, &ctx, request))?
            };
            Ok(
                crate::query::encode_response(service.namespace(), &action, output.as_deref(), &request_id)
                    .into_bytes(),
            )
        }
        QueryService::Sts => {
            let request = crate::generated::sts::Request::decode(&action, &params)
                .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, &params)))?;
            outcome.request_parameters = crate::audit_params::request_parameters(
                outcome.service,
                &action,
                serde_json::to_value(&request).unwrap_or(Value::Null),
            );
            let core = state.core.clone();
            let response = tokio::task::block_in_place(|| crate::sts::execute(&core, &ctx, request))?;
            Ok(response.encode(&request_id).into_bytes())
        }
    }
}

/// GetSessionToken credentials call STS only for AssumeRole and GetCallerIdentity, and IAM only
/// when they were issued with MFA.
fn refuse_session_token_outside_its_scope(
    principal: &Principal,
    service: QueryService,
    action: &str,
) -> Result<(), ApiError> {
    let Some(facts) = principal.session.as_ref().filter(|s| s.session_token) else {
        return Ok(());
    };
    let refused = match service {
        QueryService::Iam => !facts.mfa_authenticated,
        QueryService::Sts => !matches!(action, "AssumeRole" | "GetCallerIdentity"),
    };
    if !refused {
        return Ok(());
    }
    let why = match service {
        QueryService::Iam => "with session credentials from GetSessionToken issued without MFA",
        QueryService::Sts => "with session credentials from GetSessionToken",
    };
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "AccessDenied",
        format!(
            "User: {} is not authorized to perform: {}:{action} {why}",
            principal.arn,
            service.signing_name()
        ),
    ))
}

/// AssumeRoleWithWebIdentity, answered without authentication. The audit record names the web
/// identity caller once the token is accepted; the token itself is redacted from its parameters.
fn assume_role_with_web_identity(
    state: &AppState,
    params: &crate::query::Params,
    outcome: &mut Outcome,
    origin: &keyhaven_iam::web_identity::Origin,
) -> Result<Vec<u8>, ApiError> {
    let decoded = crate::generated::sts::Request::decode("AssumeRoleWithWebIdentity", params)
        .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, params)))?;
    let crate::generated::sts::Request::AssumeRoleWithWebIdentity(request) = decoded else {
        return Err(ApiError::internal());
    };
    outcome.request_parameters = crate::audit_params::request_parameters(
        outcome.service,
        "AssumeRoleWithWebIdentity",
        serde_json::to_value(&request).unwrap_or(Value::Null),
    );
    let core = state.core.clone();
    let answer =
        tokio::task::block_in_place(|| crate::web_identity::assume_role_with_web_identity(&core, origin, request))?;
    outcome.principal = Some(answer.caller);
    Ok(answer.response.encode(&origin.request_id).into_bytes())
}

/// Authentication failures other than malformed signatures, named as the JSON services name them.
fn unrecognized_client() -> ApiError {
    ApiError::bad_request(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

fn expired_token() -> ApiError {
    ApiError::bad_request(
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )
}

/// The awsQuery services' names for the same authentication failures.
fn query_auth_error(e: ApiError) -> ApiError {
    let (status, code) = match e.code {
        "MissingAuthenticationTokenException" => (StatusCode::FORBIDDEN, "MissingAuthenticationToken"),
        "IncompleteSignatureException" => (StatusCode::BAD_REQUEST, "IncompleteSignature"),
        "InvalidSignatureException" => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
        "UnrecognizedClientException" => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
        "ExpiredTokenException" => (StatusCode::BAD_REQUEST, "ExpiredToken"),
        _ => return e,
    };
    ApiError::new(status, code, e.message)
}

/// Verifies the request's signature and returns the caller: the account root, an STS session, an
/// IAM user's access key, or (dev mode only) any other key taken as an account root.
fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
    service: &str,
    outcome: &mut Outcome,
) -> Result<Principal, ApiError> {
    let result = authenticate_json(state, parts, body, service, outcome);
    if outcome.xml_namespace.is_some() {
        result.map_err(query_auth_error)
    } else {
        result
    }
}

fn authenticate_json(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
    service: &str,
    outcome: &mut Outcome,
) -> Result<Principal, ApiError> {
    let request = RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    };
    let auth = sigv4::parse(&request).map_err(|e| ApiError::from(&e))?;
    outcome.region = auth.region.clone();
    let now = time::OffsetDateTime::now_utc();
    let verify = |secret: &[u8]| {
        sigv4::verify(
            &auth,
            &request,
            secret,
            service,
            now,
            UriEncoding::Double,
            &state.signing_keys,
        )
        .map_err(|e| ApiError::from(&e))
    };
    if let Identity::Verified { secret, principal } = state.credentials.identify(&auth.access_key_id) {
        // Long-term credentials carry no session token.
        if auth.security_token.is_some() {
            return Err(unrecognized_client());
        }
        verify(secret.expose())?;
        return Ok(principal);
    }
    let core = &state.core;
    if let Some(token) = &auth.security_token {
        match core
            .identity
            .sts
            .verify(&auth.access_key_id, token)
            .map_err(|_| ApiError::internal())?
        {
            Ok(session) => {
                verify(session.secret.expose())?;
                return Ok(session.principal);
            }
            Err(SessionRefusal::Expired) => return Err(expired_token()),
            Err(SessionRefusal::WrongToken) => return Err(unrecognized_client()),
            // Dev mode may still take the unknown key as an account root, below.
            Err(SessionRefusal::UnknownKey) => {}
        }
    }
    match core
        .identity
        .iam
        .verify_access_key(&auth.access_key_id)
        .map_err(|_| ApiError::internal())?
    {
        KeyLookup::Active(key) => {
            if auth.security_token.is_some() {
                return Err(unrecognized_client());
            }
            verify(key.secret.expose())?;
            if let Err(e) = core
                .identity
                .iam
                .record_key_use(&auth.access_key_id, service, &auth.region)
            {
                tracing::warn!(error = %e, "could not record access key use");
            }
            return Ok(Principal::user(
                &key.record.account_id,
                &key.user.arn(),
                &key.user.id,
                &key.user.name,
                &auth.access_key_id,
            ));
        }
        KeyLookup::Disabled => return Err(unrecognized_client()),
        KeyLookup::Unknown => {}
    }
    // A temporary key this server issued is never anything else, even without its token.
    if auth.security_token.is_none()
        && auth.access_key_id.starts_with("ASIA")
        && core
            .identity
            .sts
            .is_issued(&auth.access_key_id)
            .map_err(|_| ApiError::internal())?
    {
        return Err(unrecognized_client());
    }
    match state.credentials.identify(&auth.access_key_id) {
        Identity::Trusted(principal) => {
            sigv4::check_scope_and_time(&auth, service, now).map_err(|e| ApiError::from(&e))?;
            Ok(principal)
        }
        _ => Err(unrecognized_client()),
    }
}

/// The audit record of a call a service made on the caller's behalf during `outer`.
fn service_call_event(outer: &AuditEvent, call: ServiceCall) -> AuditEvent {
    let (error_code, error_message) = match call.error.as_deref().map(crate::error::call_error) {
        Some(e) => (Some(e.code.to_string()), Some(e.message)),
        None => (None, None),
    };
    AuditEvent {
        event_source: format!("{}.amazonaws.com", call.service),
        event_name: call.operation.to_string(),
        source_ip: call.invoked_by.clone(),
        user_agent: call.invoked_by.clone(),
        request_parameters: call.request_parameters,
        response_elements: Value::Null,
        error_code,
        error_message,
        event_id: new_request_id(),
        read_only: true,
        resources: call
            .resource_arn
            .map(|arn| {
                vec![AuditResource {
                    arn,
                    resource_type: call.resource_type,
                    account_id: outer.recipient_account_id.clone(),
                }]
            })
            .unwrap_or_default(),
        invoked_by: Some(call.invoked_by),
        ..outer.clone()
    }
}

/// The operation as a metrics label: one of the service's known operations, or `unknown`, so that
/// unauthenticated callers cannot grow the label set.
fn metric_operation(service: &str, operation: &str) -> &'static str {
    let known: &[&'static str] = match service {
        "kms" => crate::generated::kms::OPERATIONS,
        "ssm" => crate::generated::ssm::OPERATIONS,
        "secretsmanager" => crate::generated::secretsmanager::OPERATIONS,
        "iam" => crate::generated::iam::OPERATIONS,
        "sts" => crate::generated::sts::OPERATIONS,
        _ => &[],
    };
    known.iter().find(|op| **op == operation).copied().unwrap_or("unknown")
}

async fn finish(
    state: &AppState,
    mut outcome: Outcome,
    request_id: &str,
    user_agent: &str,
    connection: Option<ConnectionInfo>,
    started: Instant,
) -> Response {
    let code = match &outcome.result {
        Ok(_) => "OK",
        Err(e) => e.code,
    };
    let operation = metric_operation(outcome.service, &outcome.operation);
    metrics::counter!("keyhaven_requests_total", "service" => outcome.service, "operation" => operation, "code" => code)
        .increment(1);
    metrics::histogram!("keyhaven_request_duration_seconds", "service" => outcome.service, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if outcome.result.is_err() {
        metrics::counter!("keyhaven_errors_total", "service" => outcome.service, "code" => code).increment(1);
    }
    let recipient = outcome
        .principal
        .as_ref()
        .map_or_else(|| state.default_account.clone(), |p| p.account_id.clone());
    let (error_code, error_message) = match &outcome.result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.code.to_string()), Some(e.message.clone())),
    };
    let event = AuditEvent {
        event_time: time::OffsetDateTime::now_utc(),
        event_source: format!("{}.amazonaws.com", outcome.service),
        event_name: outcome.operation,
        region: outcome.region,
        source_ip: connection.map_or_else(String::new, |c| c.peer.ip().to_string()),
        user_agent: user_agent.to_string(),
        principal: outcome.principal,
        recipient_account_id: recipient,
        request_parameters: outcome.request_parameters,
        response_elements: outcome.response_elements,
        error_code,
        error_message,
        request_id: request_id.to_string(),
        event_id: new_request_id(),
        read_only: outcome.read_only,
        resources: outcome.resources,
        tls: connection.is_some_and(|c| c.tls),
        invoked_by: None,
    };
    // A request that may have changed state answers only once its record is durable.
    let changes = !outcome.read_only && outcome.result.is_ok();
    for call in std::mem::take(&mut outcome.service_calls) {
        let nested = service_call_event(&event, call);
        if let Err(e) = state.core.audit.record(&nested, changes).await {
            tracing::error!(error = %e, "audit record refused; failing the request closed");
            return json_error(&ApiError::unavailable(), request_id);
        }
    }
    if let Err(e) = state.core.audit.record(&event, changes).await {
        tracing::error!(error = %e, "audit record refused; failing the request closed");
        return json_error(&ApiError::unavailable(), request_id);
    }
    match (outcome.result, outcome.xml_namespace) {
        (Ok(body), None) => json_response(StatusCode::OK, body, request_id),
        (Err(e), None) => json_error(&e, request_id),
        (Ok(body), Some(_)) => xml_response(StatusCode::OK, body, request_id),
        (Err(e), Some(namespace)) => {
            let namespace = if e.aws_fault {
                crate::query::AWS_FAULT_NAMESPACE
            } else {
                namespace
            };
            let body = crate::query::encode_error(namespace, e.code, &e.message, e.status.as_u16() < 500, request_id);
            xml_response(e.status, body.into_bytes(), request_id)
        }
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

fn xml_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = json_response(status, body, request_id);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// An awsJson error: `{"__type": code, "message": ...}` with the code also in `x-amzn-ErrorType`.
pub fn json_error(error: &ApiError, request_id: &str) -> Response {
    let body = if error.message.is_empty() {
        json!({ "__type": error.code })
    } else {
        json!({ "__type": error.code, "message": error.message })
    };
    let mut response = json_response(error.status, body.to_string().into_bytes(), request_id);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error.code));
    response
}

/// What a dev-only endpoint did, as an audit outcome: these change state too, so they are recorded.
fn dev_outcome(operation: &str, result: Result<Value, ApiError>) -> Outcome {
    Outcome {
        service: "keyhaven-dev",
        operation: operation.to_string(),
        region: String::new(),
        principal: None,
        request_parameters: Value::Null,
        response_elements: result.as_ref().ok().cloned().unwrap_or(Value::Null),
        resources: Vec::new(),
        read_only: false,
        xml_namespace: None,
        service_calls: Vec::new(),
        result: result.map(|v| v.to_string().into_bytes()),
    }
}

/// Runs a dev-only endpoint's work and answers through the audited pipeline tail.
async fn dev_endpoint(
    state: &AppState,
    request: Request,
    operation: &str,
    work: impl FnOnce(&Core, &[u8]) -> Result<Value, ApiError>,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let connection = request.extensions().get::<ConnectionInfo>().copied();
    let user_agent = header_str(request.headers(), "user-agent")
        .unwrap_or_default()
        .to_string();
    let result = match collect_limited(request.into_body(), MAX_JSON_BODY).await {
        Ok(body) => tokio::task::block_in_place(|| work(&state.core, &body)),
        Err(e) => Err(e),
    };
    finish(
        state,
        dev_outcome(operation, result),
        &request_id,
        &user_agent,
        connection,
        started,
    )
    .await
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
