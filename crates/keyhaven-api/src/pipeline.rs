//! The one request pipeline every AWS call goes through, whatever its protocol: claim → read the body within
//! the protocol's limit (or stream it) → route → authenticate (SigV4) → request context → the protocol decodes,
//! authorises and executes → exactly one audit record → the protocol's answer. Every outcome, including
//! failures before authentication, produces exactly one audit record, except the 503 answered while the audit log
//! cannot take records, when nothing is served.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use http_body_util::BodyExt;
use keyhaven_iam::iam::KeyLookup;
use keyhaven_iam::sts::SessionRefusal;
use keyhaven_kernel::audit::{AuditEvent, AuditResource, EventCategory};
use keyhaven_kernel::context::{Principal, RequestContext, ServiceCall};
use serde_json::Value;

use crate::credentials::Identity;
use crate::error::ApiError;
use crate::protocol::{self, BodyLimit, Call, Protocol, RequestBody};
use crate::server::{AppState, ConnectionInfo};
use crate::sigv2;
use crate::sigv4::{self, ChunkSignatures, Payload, RequestParts};
use crate::streamed::StreamedBody;
use keyhaven_crypto::SecretBytes;

pub fn new_request_id() -> String {
    keyhaven_kernel::ids::new_uuid().unwrap_or_else(|_| "00000000-0000-4000-8000-000000000000".into())
}

/// CloudTrail's limit on the `userAgent` it records.
const MAX_USER_AGENT_CHARS: usize = 1_024;

/// Where a request came from: what the audit record and the request context say of its origin.
#[derive(Debug, Clone)]
pub struct Origin {
    pub request_id: String,
    pub user_agent: String,
    pub connection: Option<ConnectionInfo>,
}

/// What the pipeline learned about a request, for the audit record, the metrics and the answer.
pub struct Outcome {
    pub service: &'static str,
    pub operation: String,
    pub region: String,
    pub principal: Option<Principal>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub resources: Vec<AuditResource>,
    pub read_only: bool,
    /// Management or data event (S3's operations on objects).
    pub category: EventCategory,
    /// Calls made to other services on the caller's behalf (SSM to KMS), each audited as well.
    pub service_calls: Vec<ServiceCall>,
    /// The request's body was not read to its end (refused early): the answer closes the connection, since the
    /// client may still send the body, or may not (`Expect: 100-continue`), and the next request cannot be found.
    pub unread_body: bool,
    /// The protocol that answers; awsJson for requests no protocol claims.
    protocol: &'static dyn Protocol,
    result: protocol::Answer,
}

impl Outcome {
    /// Nothing known yet but the operation a JSON target names (for requests refused before routing).
    fn new(parts: &Parts) -> Self {
        Self {
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
            category: EventCategory::Management,
            service_calls: Vec::new(),
            unread_body: false,
            protocol: &protocol::aws_json::AwsJson,
            result: Err(ApiError::internal()),
        }
    }

    /// The outcome of a dev-only endpoint, which changes state too and so is recorded.
    pub fn dev(operation: &str, result: Result<Value, ApiError>) -> Self {
        Self {
            service: "keyhaven-dev",
            operation: operation.to_string(),
            region: String::new(),
            principal: None,
            request_parameters: Value::Null,
            response_elements: result.as_ref().ok().cloned().unwrap_or(Value::Null),
            resources: Vec::new(),
            read_only: false,
            category: EventCategory::Management,
            service_calls: Vec::new(),
            unread_body: false,
            protocol: &protocol::aws_json::AwsJson,
            result: result.map(|v| protocol::Success::Body(v.to_string().into_bytes())),
        }
    }

    /// An action of the web console that is no AWS API (sign-out, the audit chain check): recorded as its signed-in
    /// caller's, under event source `keyhaven-console.amazonaws.com`.
    pub fn console(operation: &str, principal: Principal, region: &str, read_only: bool) -> Self {
        Self {
            service: "keyhaven-console",
            region: region.to_string(),
            principal: Some(principal),
            read_only,
            ..Self::dev(operation, Ok(Value::Null))
        }
    }

    fn with(mut self, result: protocol::Answer) -> Self {
        self.result = result;
        self
    }
}

/// Every AWS request.
pub async fn aws_entry(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let connection = request.extensions().get::<ConnectionInfo>().copied();
    let (parts, body) = request.into_parts();
    let origin = Origin {
        request_id: new_request_id(),
        // Recorded before the caller is known: bounded, as CloudTrail bounds it.
        user_agent: header_str(&parts.headers, "user-agent")
            .unwrap_or_default()
            .chars()
            .take(MAX_USER_AGENT_CHARS)
            .collect(),
        connection,
    };
    let mut outcome = Outcome::new(&parts);
    let claimed = state.protocols.iter().copied().find(|p| p.claims(&parts));
    if let Some(protocol) = claimed {
        outcome.protocol = protocol;
    }
    // The one answer that leaves no audit record: the audit log cannot take one, so nothing is served.
    if !state.core.audit.is_healthy() {
        return outcome
            .protocol
            .respond(outcome.service, Err(ApiError::unavailable()), &origin.request_id);
    }
    let Some(protocol) = claimed else {
        return finish(
            &state,
            outcome.with(Err(ApiError::unknown_operation())),
            &origin,
            started,
        )
        .await;
    };
    let body = match protocol.body_limit() {
        BodyLimit::Whole(limit) => match collect_limited(body, limit).await {
            Ok(bytes) => RequestBody::Whole(bytes),
            Err(e) => {
                outcome.unread_body = true;
                return finish(&state, outcome.with(Err(e)), &origin, started).await;
            }
        },
        BodyLimit::Streamed => RequestBody::Streamed(StreamedBody::new(body)),
    };
    outcome.result = serve(&state, protocol, &parts, body, &origin, &mut outcome).await;
    finish(&state, outcome, &origin, started).await
}

/// Routes, authenticates and runs one claimed request.
async fn serve(
    state: &AppState,
    protocol: &'static dyn Protocol,
    parts: &Parts,
    body: RequestBody,
    origin: &Origin,
    outcome: &mut Outcome,
) -> protocol::Answer {
    let route = protocol.route(parts, &body).ok_or_else(|| protocol.unrouted())?;
    outcome.service = route.service;
    outcome.operation.clone_from(&route.operation);
    protocol.admit(parts)?;
    let mut body = body;
    let anonymous_region = protocol
        .anonymous_region()
        .filter(|_| sigv4::is_unsigned(&parts.uri, &parts.headers) && !sigv2::is_sigv2(&parts.uri, &parts.headers));
    let ctx = if let (true, Some(region)) = (route.signed, anonymous_region) {
        // An anonymous caller: the operation's authorisation finds no identity policy, so only a resource policy
        // granting everyone (`"Principal": "*"`) lets it through.
        if let RequestBody::Streamed(stream) = &mut body {
            stream.declare(None, None)?;
        }
        outcome.region = region.to_string();
        outcome.principal = Some(Principal::anonymous());
        Some(request_context(Principal::anonymous(), region, origin, false))
    } else if route.signed {
        let payload = match &body {
            RequestBody::Whole(bytes) => Payload::Whole(bytes),
            RequestBody::Streamed(_) => Payload::Streamed,
        };
        let authenticated = authenticate(state, protocol, parts, payload, route.service, outcome)
            .map_err(|e| protocol.authentication_error(e))?;
        if let RequestBody::Streamed(stream) = &mut body {
            stream.declare(authenticated.declared.as_deref(), authenticated.chunk_signatures)?;
        }
        outcome.principal = Some(authenticated.principal.clone());
        Some(request_context(
            authenticated.principal,
            &outcome.region,
            origin,
            authenticated.signature_v2,
        ))
    } else {
        if let RequestBody::Streamed(stream) = &mut body {
            stream.declare(None, None)?;
        }
        None
    };
    let call = Call {
        state,
        parts,
        body,
        route,
        ctx,
        origin,
    };
    protocol.execute(call, outcome).await
}

pub(crate) async fn collect_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::too_large()),
        Err(_) => Err(ApiError::serialization("The request body could not be read.")),
    }
}

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request context of an authenticated caller.
pub(crate) fn request_context(
    principal: Principal,
    region: &str,
    origin: &Origin,
    signature_v2: bool,
) -> RequestContext {
    RequestContext {
        signature_v2,
        request_id: origin.request_id.clone(),
        principal,
        region: region.to_string(),
        source_ip: origin.connection.map(|c| c.peer.ip()),
        user_agent: origin.user_agent.clone(),
        secure_transport: origin.connection.is_some_and(|c| c.tls),
        via_service: None,
        service_calls: Default::default(),
    }
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

/// What authentication established: the caller, and for a streamed body what its signature declared the body to be
/// and, for signed chunks verified with a known secret, the chain their signatures continue.
struct Authenticated {
    principal: Principal,
    declared: Option<String>,
    chunk_signatures: Option<ChunkSignatures>,
    signature_v2: bool,
}

/// What an access key id (with its session token) stands for.
pub(crate) enum Credential {
    /// Verify the signature with this secret; the caller is this principal. `iam_key` when the key is an IAM user's,
    /// whose use is recorded once the signature checks.
    Secret {
        secret: SecretBytes,
        principal: Principal,
        iam_key: bool,
    },
    /// Dev mode: an unknown key taken as an account root, without a signature check.
    Trusted(Principal),
}

/// The credential `access_key_id` names: the account root, an STS session, an IAM user's access key, or (dev mode
/// only) any other key taken as an account root.
pub(crate) fn credential(
    state: &AppState,
    access_key_id: &str,
    security_token: Option<&str>,
) -> Result<Credential, ApiError> {
    if let Identity::Verified { secret, principal } = state.credentials.identify(access_key_id) {
        // Long-term credentials carry no session token.
        if security_token.is_some() {
            return Err(unrecognized_client());
        }
        return Ok(Credential::Secret {
            secret: secret.clone(),
            principal,
            iam_key: false,
        });
    }
    let core = &state.core;
    if let Some(token) = security_token {
        match core
            .identity
            .sts
            .verify(access_key_id, token)
            .map_err(|_| ApiError::internal())?
        {
            Ok(session) => {
                return Ok(Credential::Secret {
                    secret: session.secret,
                    principal: session.principal,
                    iam_key: false,
                });
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
        .verify_access_key(access_key_id)
        .map_err(|_| ApiError::internal())?
    {
        KeyLookup::Active(key) => {
            if security_token.is_some() {
                return Err(unrecognized_client());
            }
            let principal = Principal::user(
                &key.record.account_id,
                &key.user.arn(),
                &key.user.id,
                &key.user.name,
                access_key_id,
            );
            return Ok(Credential::Secret {
                secret: key.secret.clone(),
                principal,
                iam_key: true,
            });
        }
        KeyLookup::Disabled => return Err(unrecognized_client()),
        KeyLookup::Unknown => {}
    }
    // A temporary key this server issued is never anything else, even without its token.
    if security_token.is_none()
        && access_key_id.starts_with("ASIA")
        && core
            .identity
            .sts
            .is_issued(access_key_id)
            .map_err(|_| ApiError::internal())?
    {
        return Err(unrecognized_client());
    }
    match state.credentials.identify(access_key_id) {
        Identity::Trusted(principal) => Ok(Credential::Trusted(principal)),
        _ => Err(unrecognized_client()),
    }
}

/// The caller an access key (with its session token) names once `verify` accepts the request: given the key's
/// secret to check the signature under, or `None` for dev mode's trusted keys (whose signatures go unchecked, the
/// request's other rules still apply). An IAM user's key use is recorded for `(service, region)`.
pub(crate) fn signer(
    state: &AppState,
    (access_key_id, security_token): (&str, Option<&str>),
    (service, region): (&str, &str),
    verify: impl FnOnce(Option<&[u8]>) -> Result<(), ApiError>,
) -> Result<Principal, ApiError> {
    match credential(state, access_key_id, security_token)? {
        Credential::Secret {
            secret,
            principal,
            iam_key,
        } => {
            verify(Some(secret.expose()))?;
            record_use(state, &principal, iam_key.then_some(access_key_id), service, region);
            Ok(principal)
        }
        Credential::Trusted(principal) => {
            verify(None)?;
            Ok(principal)
        }
    }
}

/// Records, once a signature checked, the use of an IAM user's access key (GetAccessKeyLastUsed) or of
/// a role through one of its sessions (GetRole's RoleLastUsed).
fn record_use(state: &AppState, principal: &Principal, iam_key: Option<&str>, service: &str, region: &str) {
    let iam = &state.core.identity.iam;
    let recorded = match (iam_key, &principal.role) {
        (Some(access_key_id), _) => iam.record_key_use(access_key_id, service, region),
        (None, Some(role)) => iam.record_role_use(&principal.account_id, &role.role_name, region),
        (None, None) => Ok(()),
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record credential use");
    }
}

/// Verifies the request's signature and returns the caller.
fn authenticate(
    state: &AppState,
    protocol: &dyn Protocol,
    parts: &Parts,
    payload: Payload<'_>,
    service: &str,
    outcome: &mut Outcome,
) -> Result<Authenticated, ApiError> {
    if let Some(path) = protocol.signature_v2_path(parts) {
        return authenticate_v2(state, protocol, parts, &path, service, outcome);
    }
    let streamed = matches!(payload, Payload::Streamed);
    let request = RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        payload,
    };
    let auth = sigv4::parse(&request).map_err(|e| protocol.signature_error(&e))?;
    outcome.region = auth.region.clone();
    let declared = if streamed { auth.content_sha256.clone() } else { None };
    let now = time::OffsetDateTime::now_utc();
    let signed_chunks = matches!(payload, Payload::Streamed)
        && matches!(
            auth.content_sha256.as_deref(),
            Some(sigv4::STREAMING_SIGNED_PAYLOAD | sigv4::STREAMING_SIGNED_TRAILER)
        );
    match credential(state, &auth.access_key_id, auth.security_token.as_deref())? {
        Credential::Secret {
            secret,
            principal,
            iam_key,
        } => {
            sigv4::verify(
                &auth,
                &request,
                secret.expose(),
                service,
                now,
                protocol.uri_encoding(),
                &state.signing_keys,
            )
            .map_err(|e| protocol.signature_error(&e))?;
            record_use(
                state,
                &principal,
                iam_key.then_some(auth.access_key_id.as_str()),
                service,
                &auth.region,
            );
            Ok(Authenticated {
                principal,
                declared,
                chunk_signatures: signed_chunks
                    .then(|| ChunkSignatures::new(&auth, secret.expose(), &state.signing_keys)),
                signature_v2: false,
            })
        }
        Credential::Trusted(principal) => {
            sigv4::check_scope_and_time(&auth, service, now).map_err(|e| protocol.signature_error(&e))?;
            Ok(Authenticated {
                principal,
                declared,
                chunk_signatures: None,
                signature_v2: false,
            })
        }
    }
}

/// Verifies an S3 request signed with Signature Version 2 (`path` is its canonical resource's path) and returns
/// the caller; it is served in the protocol's default Region, which SigV2 does not name.
fn authenticate_v2(
    state: &AppState,
    protocol: &dyn Protocol,
    parts: &Parts,
    path: &str,
    service: &str,
    outcome: &mut Outcome,
) -> Result<Authenticated, ApiError> {
    let v2_error = |e: sigv2::SigV2Error| match e {
        sigv2::SigV2Error::MalformedHeader => ApiError::bad_request("InvalidArgument", e.to_string()),
        sigv2::SigV2Error::IncompleteQuery => {
            ApiError::new(axum::http::StatusCode::FORBIDDEN, "AccessDenied", e.to_string())
        }
        sigv2::SigV2Error::TimeTooSkewed => {
            ApiError::new(axum::http::StatusCode::FORBIDDEN, "RequestTimeTooSkewed", e.to_string())
        }
        // As SigV4's, which the protocol answers in its own words.
        sigv2::SigV2Error::Expired => ApiError::bad_request("InvalidSignatureException", "Signature expired"),
        sigv2::SigV2Error::SignatureDoesNotMatch => ApiError::bad_request("InvalidSignatureException", e.to_string()),
    };
    let parsed = sigv2::parse(&parts.uri, &parts.headers).map_err(v2_error)?;
    if let Some(region) = protocol.anonymous_region() {
        outcome.region = region.to_string();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let request = sigv2::SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        path,
    };
    let principal = signer(
        state,
        (&parsed.access_key_id, parsed.security_token.as_deref()),
        (service, &outcome.region),
        |secret| match secret {
            Some(secret) => sigv2::verify(&parsed, &request, secret, now).map_err(v2_error),
            None => sigv2::check_time(&parsed, &parts.headers, now)
                .map(drop)
                .map_err(v2_error),
        },
    )?;
    // SigV2 signs no body: a declared payload hash is still checked, and aws-chunked framing (which SDKs may send
    // beside a SigV2 signature) is decoded, its chunk signatures having no SigV4 seed to verify against.
    Ok(Authenticated {
        principal,
        declared: header_str(&parts.headers, "x-amz-content-sha256").map(str::to_string),
        chunk_signatures: None,
        signature_v2: true,
    })
}

/// The audit record of a call a service made on the caller's behalf during `outer`.
/// GetKeyLastUsage learns of a key's successful use from its audit record (event and request ids included).
fn note_key_usage(core: &keyhaven_core::Core, event: &AuditEvent) {
    if event.event_source != "kms.amazonaws.com" || event.error_code.is_some() {
        return;
    }
    let when = keyhaven_kernel::clock::epoch_seconds(event.event_time);
    for resource in event.resources.iter().filter(|r| r.resource_type == "AWS::KMS::Key") {
        core.kms.note_usage(
            &resource.arn,
            &event.event_name,
            when,
            &event.event_id,
            &event.request_id,
        );
    }
}

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
        category: EventCategory::Management,
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
        "cloudtrail" => crate::generated::cloudtrail::OPERATIONS,
        "logs" => crate::generated::logs::OPERATIONS,
        _ => &[],
    };
    known.iter().find(|op| **op == operation).copied().unwrap_or("unknown")
}

/// Metrics, the audit record (durable before answering when the request may have changed state), then the
/// protocol's answer.
pub async fn finish(state: &AppState, mut outcome: Outcome, origin: &Origin, started: Instant) -> Response {
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
        // An answer AWS would not give: the test harnesses fail on any.
        let unserved = matches!(&outcome.result, Err(e) if e.unserved);
        if !unserved && crate::error::is_undeclared(outcome.service, operation, code) {
            tracing::warn!(
                service = outcome.service,
                operation,
                code,
                "answered an error code the operation's model does not declare"
            );
            metrics::counter!("keyhaven_undeclared_errors_total", "service" => outcome.service, "operation" => operation, "code" => code)
                .increment(1);
        }
    }
    let recipient = outcome
        .principal
        .as_ref()
        .map_or_else(|| state.default_account.clone(), |p| p.account_id.clone());
    let (error_code, error_message) = match &outcome.result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.code.to_string()), Some(e.message.clone())),
    };
    let connection = origin.connection;
    let event_time = time::OffsetDateTime::now_utc();
    let event = AuditEvent {
        event_time,
        event_source: format!("{}.amazonaws.com", outcome.service),
        event_name: outcome.operation,
        region: outcome.region,
        source_ip: connection.map_or_else(String::new, |c| c.peer.ip().to_string()),
        user_agent: origin.user_agent.clone(),
        principal: outcome.principal,
        recipient_account_id: recipient,
        request_parameters: outcome.request_parameters,
        response_elements: outcome.response_elements,
        error_code,
        error_message,
        request_id: origin.request_id.clone(),
        event_id: keyhaven_kernel::ids::uuid_v7(event_time).unwrap_or_else(|_| new_request_id()),
        read_only: outcome.read_only,
        resources: outcome.resources,
        tls: connection.is_some_and(|c| c.tls),
        invoked_by: None,
        category: outcome.category,
    };
    // A request that may have changed state answers only once its record is durable.
    let changes = !outcome.read_only && outcome.result.is_ok();
    let refused = |e: keyhaven_kernel::KernelError| {
        tracing::error!(error = %e, "audit record refused; failing the request closed");
        outcome
            .protocol
            .respond(outcome.service, Err(ApiError::unavailable()), &origin.request_id)
    };
    for call in std::mem::take(&mut outcome.service_calls) {
        let nested = service_call_event(&event, call);
        if let Err(e) = state.core.audit.record(&nested, changes).await {
            return refused(e);
        }
        note_key_usage(&state.core, &nested);
    }
    if let Err(e) = state.core.audit.record(&event, changes).await {
        return refused(e);
    }
    note_key_usage(&state.core, &event);
    let close = outcome.unread_body;
    let mut response = outcome
        .protocol
        .respond(outcome.service, outcome.result, &origin.request_id);
    if close {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity as SigningIdentity;
    use axum::body::Bytes;
    use axum::http::{Method, StatusCode};
    use http_body_util::channel::Channel;
    use keyhaven_core::{Core, CoreConfig};
    use keyhaven_crypto::{RootKey, SecretBytes};
    use keyhaven_kernel::clock::AdjustableClock;
    use tokio::sync::mpsc;
    use tower::ServiceExt;

    use super::*;
    use crate::credentials::{CredentialRegistry, RootCredential};
    use crate::protocol::{Route, Running};
    use crate::sigv4::{SigningKeyCache, UriEncoding};

    const ACCESS_KEY: &str = "AKIAROOTEXAMPLE";
    const SECRET: &str = "root-secret-for-the-streaming-test";
    const CHUNK: usize = 256 * 1024;
    /// Four times the whole-body limit of the JSON and query protocols.
    const CHUNKS: usize = 16;
    const _: () = assert!(CHUNK * CHUNKS > protocol::MAX_WHOLE_BODY);

    /// A protocol that streams `PUT /stream` bodies, as S3 will: it reports each chunk as it arrives and answers
    /// with the number of bytes it read and of trailing headers it was handed.
    struct Streaming {
        arrived: mpsc::UnboundedSender<usize>,
    }

    impl Protocol for Streaming {
        fn claims(&self, parts: &Parts) -> bool {
            parts.method == Method::PUT && parts.uri.path() == "/stream"
        }

        fn body_limit(&self) -> BodyLimit {
            BodyLimit::Streamed
        }

        fn uri_encoding(&self) -> UriEncoding {
            UriEncoding::Single
        }

        fn route(&self, _parts: &Parts, _body: &RequestBody) -> Option<Route> {
            Some(Route {
                service: "s3",
                operation: "PutObject".into(),
                signed: true,
            })
        }

        fn execute<'a>(&'a self, call: Call<'a>, _outcome: &'a mut Outcome) -> Running<'a> {
            Box::pin(async move {
                let RequestBody::Streamed(mut body) = call.body else {
                    return Err(ApiError::internal());
                };
                let mut read = 0;
                while let Some(data) = body.next().await {
                    let data = data?;
                    read += data.len();
                    let _ = self.arrived.send(data.len());
                }
                Ok(protocol::Success::Body(
                    format!("{read} {}", body.trailers().len()).into_bytes(),
                ))
            })
        }

        fn respond(&self, _service: &str, answer: protocol::Answer, request_id: &str) -> Response {
            protocol::aws_json::AwsJson.respond("s3", answer, request_id)
        }
    }

    struct Server {
        _dir: keyhaven_store::testing::TempDir,
        core: Arc<Core>,
        router: axum::Router,
        arrived: mpsc::UnboundedReceiver<usize>,
    }

    fn server() -> Server {
        let (dir, store) = keyhaven_store::testing::temp_store();
        let blobs = Arc::new(keyhaven_store::FsBlobStore::open(&dir.path().join("objects")).expect("blobs"));
        let core = Core::open(
            store,
            blobs,
            RootKey::generate().expect("root key"),
            Arc::new(AdjustableClock::system()),
            CoreConfig::default(),
        )
        .expect("core");
        let (sender, arrived) = mpsc::unbounded_channel();
        let streaming: &'static dyn Protocol = Box::leak(Box::new(Streaming { arrived: sender }));
        let mut protocols = vec![streaming];
        protocols.extend(protocol::standard(protocol::rest_xml::DEFAULT_DOMAIN));
        let root = RootCredential {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SecretBytes::from_slice(SECRET.as_bytes()),
            account_id: "111122223333".into(),
        };
        let state = Arc::new(AppState {
            core: core.clone(),
            credentials: CredentialRegistry::new(root, false, "111122223333".into()),
            dev: false,
            default_account: "111122223333".into(),
            signing_keys: SigningKeyCache::new(16),
            metrics: None,
            protocols,
        });
        Server {
            _dir: dir,
            core,
            router: crate::server::router(state),
            arrived,
        }
    }

    /// `PUT /stream` signed now with `UNSIGNED-PAYLOAD` declared, as S3 clients send large uploads.
    fn signed_put(secret: &str, body: Channel<Bytes>) -> axum::http::Request<Body> {
        signed_put_declaring(secret, SignableBody::UnsignedPayload, Body::new(body))
    }

    /// `PUT /stream` signed now, declaring in `x-amz-content-sha256` what `signable` says.
    fn signed_put_declaring(secret: &str, signable: SignableBody<'_>, body: Body) -> axum::http::Request<Body> {
        let identity: SigningIdentity = Credentials::new(ACCESS_KEY, secret, None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let url = "http://localhost/stream";
        let headers = [("host", "localhost")];
        let signable = SignableRequest::new("PUT", url, headers.into_iter(), signable).expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut request = axum::http::Request::builder()
            .method("PUT")
            .uri(url)
            .header("host", "localhost")
            .body(body)
            .expect("request");
        instructions.apply_to_request_http1x(&mut request);
        request
    }

    /// The audit records written so far, as (eventSource, eventName, errorCode).
    fn audit_records(core: &Core) -> Vec<(String, String, String)> {
        core.audit.shutdown();
        keyhaven_kernel::audit::read_records(&*core.store, 0, 100)
            .expect("audit")
            .iter()
            .map(|(_, record)| serde_json::from_slice::<Value>(record).expect("json"))
            .map(|r| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (text(&r["eventSource"]), text(&r["eventName"]), text(&r["errorCode"]))
            })
            .collect()
    }

    /// The client sends each chunk only after the protocol has read the one before: a pipeline that buffered the
    /// body would never hand over the first, and the test would time out instead of passing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_body_reaches_its_protocol_chunk_by_chunk_beyond_the_whole_body_limit() {
        let mut server = server();
        let (mut sender, body) = Channel::<Bytes>::new(1);
        let request = signed_put(SECRET, body);
        let answer = tokio::spawn(server.router.clone().oneshot(request));
        let fed = async {
            for _ in 0..CHUNKS {
                sender.send_data(Bytes::from(vec![7u8; CHUNK])).await.expect("send");
                assert_eq!(server.arrived.recv().await, Some(CHUNK));
            }
            drop(sender);
        };
        tokio::time::timeout(Duration::from_secs(60), fed)
            .await
            .expect("each chunk reached the protocol before the next was sent");
        let response = answer.await.expect("task").expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let read = collect_limited(response.into_body(), 64).await.expect("answer");
        assert_eq!(read, format!("{} 0", CHUNK * CHUNKS).as_bytes());
        assert_eq!(
            audit_records(&server.core),
            vec![("s3.amazonaws.com".into(), "PutObject".into(), String::new())]
        );
    }

    /// A wrong signature is refused before the protocol reads a byte of the body, and audited.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_body_with_a_wrong_signature_is_refused_unread() {
        let mut server = server();
        let (mut sender, body) = Channel::<Bytes>::new(1);
        let request = signed_put("not-the-secret", body);
        sender.send_data(Bytes::from_static(b"never read")).await.expect("send");
        let response = server.router.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        drop(sender);
        assert!(server.arrived.try_recv().is_err(), "the protocol read the body");
        assert_eq!(
            audit_records(&server.core),
            vec![(
                "s3.amazonaws.com".into(),
                "PutObject".into(),
                "InvalidSignatureException".into()
            )]
        );
    }

    /// What the protocol read of a body, or the error its check ended in, and the audit record's error code.
    async fn put_declaring(signable: SignableBody<'_>, body: &'static [u8]) -> (StatusCode, String, String) {
        let server = server();
        let request = signed_put_declaring(SECRET, signable, Body::from(body));
        let response = server.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let text = collect_limited(response.into_body(), 4096).await.expect("answer");
        let audited = audit_records(&server.core).pop().expect("one record").2;
        (status, String::from_utf8_lossy(&text).into_owned(), audited)
    }

    /// A streamed body is read against its declaration: a body that is not the hash the signature covers, or an
    /// aws-chunked body cut short, fails when the protocol reaches its end; unsigned chunks decode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streamed_bodies_are_checked_against_what_the_signature_declared() {
        let (status, text, audited) = put_declaring(SignableBody::Bytes(b"the signed body"), b"the signed body").await;
        assert_eq!((status, text.as_str(), audited.as_str()), (StatusCode::OK, "15 0", ""));

        let (status, text, audited) = put_declaring(SignableBody::Bytes(b"the signed body"), b"another body").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(audited, "XAmzContentSHA256Mismatch");

        let trailer = SignableBody::Precomputed("STREAMING-UNSIGNED-PAYLOAD-TRAILER".into());
        let chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (status, text, audited) = put_declaring(trailer, chunked).await;
        assert_eq!((status, text.as_str(), audited.as_str()), (StatusCode::OK, "11 1", ""));

        let trailer = SignableBody::Precomputed("STREAMING-UNSIGNED-PAYLOAD-TRAILER".into());
        let (status, _, audited) = put_declaring(trailer, b"5\r\nhello\r\n").await;
        assert_eq!((status, audited.as_str()), (StatusCode::BAD_REQUEST, "IncompleteBody"));
    }
}
