//! awsJson 1.1: `POST /` with `X-Amz-Target: <prefix>.<Operation>` and a JSON body, answered in JSON with errors
//! as `{"__type", "message"}` (KMS, Parameter Store, Secrets Manager, CloudTrail,
//! CloudWatch Logs).

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::{Answer, BodyLimit, Call, Protocol, RequestBody, Route, Running, Success};
use crate::error::ApiError;
use crate::pipeline::{Outcome, header_str};
use crate::{cloudtrail, kms, logs, secretsmanager, ssm};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The awsJson protocol.
#[derive(Debug)]
pub struct AwsJson;

/// The JSON services an `X-Amz-Target` prefix can name (also what the web console calls them by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonService {
    Kms,
    Ssm,
    SecretsManager,
    CloudTrail,
    Logs,
}

impl JsonService {
    const ALL: [JsonService; 5] = [
        JsonService::Kms,
        JsonService::Ssm,
        JsonService::SecretsManager,
        JsonService::CloudTrail,
        JsonService::Logs,
    ];

    fn from_target(target: &str) -> Option<(Self, &str)> {
        let (prefix, operation) = target.rsplit_once('.')?;
        Self::ALL
            .into_iter()
            .find(|service| service.target_prefix() == prefix)
            .map(|service| (service, operation))
    }

    /// The `X-Amz-Target` prefix of the service's model.
    pub fn target_prefix(self) -> &'static str {
        match self {
            JsonService::Kms => crate::generated::kms::TARGET_PREFIX,
            JsonService::Ssm => crate::generated::ssm::TARGET_PREFIX,
            JsonService::SecretsManager => crate::generated::secretsmanager::TARGET_PREFIX,
            JsonService::CloudTrail => crate::generated::cloudtrail::TARGET_PREFIX,
            JsonService::Logs => crate::generated::logs::TARGET_PREFIX,
        }
    }

    /// The member an error body's message goes in: Secrets Manager sends `Message` (recorded raw
    /// bodies), the others `message`.
    fn message_member(self) -> &'static str {
        match self {
            JsonService::SecretsManager => "Message",
            _ => "message",
        }
    }

    fn of_signing_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.signing_name() == name)
    }

    /// The operations the model marks `authtype: none`.
    fn unsigned_operations(self) -> &'static [&'static str] {
        match self {
            JsonService::Kms => crate::generated::kms::UNSIGNED_OPERATIONS,
            JsonService::Ssm => crate::generated::ssm::UNSIGNED_OPERATIONS,
            JsonService::SecretsManager => crate::generated::secretsmanager::UNSIGNED_OPERATIONS,
            JsonService::CloudTrail => crate::generated::cloudtrail::UNSIGNED_OPERATIONS,
            JsonService::Logs => crate::generated::logs::UNSIGNED_OPERATIONS,
        }
    }

    /// The name requests to the service are signed for.
    pub fn signing_name(self) -> &'static str {
        match self {
            JsonService::Kms => "kms",
            JsonService::Ssm => "ssm",
            JsonService::SecretsManager => "secretsmanager",
            JsonService::CloudTrail => "cloudtrail",
            JsonService::Logs => "logs",
        }
    }
}

impl Protocol for AwsJson {
    /// `POST /` naming a target: S3 also takes `POST /` (DeleteObjects, on a virtual-hosted bucket), never with one.
    fn claims(&self, parts: &Parts) -> bool {
        parts.method == Method::POST && parts.uri.path() == "/" && parts.headers.contains_key("x-amz-target")
    }

    fn body_limit(&self) -> BodyLimit {
        BodyLimit::Whole(super::MAX_WHOLE_BODY)
    }

    fn route(&self, parts: &Parts, _body: &RequestBody) -> Option<Route> {
        let target = header_str(&parts.headers, "x-amz-target")?;
        let (service, operation) = JsonService::from_target(target)?;
        Some(Route {
            service: service.signing_name(),
            operation: operation.to_string(),
            signed: !service.unsigned_operations().contains(&operation),
        })
    }

    fn admit(&self, parts: &Parts) -> Result<(), ApiError> {
        let content_type = header_str(&parts.headers, "content-type").unwrap_or_default();
        if content_type.starts_with("application/x-amz-json-1") || content_type.starts_with("application/json") {
            Ok(())
        } else {
            Err(ApiError::unknown_operation())
        }
    }

    fn execute<'a>(&'a self, call: Call<'a>, outcome: &'a mut Outcome) -> Running<'a> {
        Box::pin(async move { execute(call, outcome).map(Success::Body) })
    }

    fn respond(&self, service: &str, answer: Answer, request_id: &str) -> Response {
        match answer {
            Ok(Success::Body(body)) => response(StatusCode::OK, body, request_id),
            Ok(Success::Http(response)) => response,
            Err(e) => {
                let member = JsonService::of_signing_name(service).map_or("message", JsonService::message_member);
                error_response(&e, member, request_id)
            }
        }
    }
}

fn execute(call: Call<'_>, outcome: &mut Outcome) -> Result<Vec<u8>, ApiError> {
    let ctx = call.ctx.ok_or_else(ApiError::internal)?;
    let service = JsonService::of_signing_name(call.route.service).ok_or_else(ApiError::internal)?;
    let operation = call.route.operation.as_str();
    let body = call.body.whole();
    outcome.request_parameters = crate::audit_params::json_request_parameters(outcome.service, operation, body);
    let core = &call.state.core;
    let executed = match service {
        JsonService::Kms => {
            let request = crate::generated::kms::Request::decode(operation, body).map_err(kms::decode_error)?;
            outcome.read_only = kms::is_read_only(operation);
            // Reads and cryptography are served from memory or a WAL snapshot read and never wait
            // on a writer, so they run inline; writes commit with an fsync and get a blocking slot.
            if outcome.read_only {
                kms::execute(core, &ctx, request)
            } else {
                tokio::task::block_in_place(|| kms::execute(core, &ctx, request))
            }
        }
        JsonService::Ssm => {
            let request =
                crate::generated::ssm::Request::decode(operation, body).map_err(|e| ssm::decode_error(e, operation))?;
            outcome.read_only = ssm::is_read_only(operation);
            let executed = if outcome.read_only {
                ssm::execute(core, &ctx, request)
            } else {
                tokio::task::block_in_place(|| ssm::execute(core, &ctx, request))
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
            let executed = tokio::task::block_in_place(|| secretsmanager::execute(core, &ctx, request));
            if secretsmanager::schedules_work(operation) {
                core.scheduler.wake();
            }
            executed
        }
        JsonService::CloudTrail => {
            let request = crate::generated::cloudtrail::Request::decode(operation, body).map_err(kms::decode_error)?;
            outcome.read_only = cloudtrail::is_read_only(operation);
            let executed = tokio::task::block_in_place(|| cloudtrail::execute(core, &ctx, request));
            if cloudtrail::schedules_work(operation) {
                core.scheduler.wake();
            }
            executed
        }
        JsonService::Logs => {
            let request = crate::generated::logs::Request::decode(operation, body).map_err(logs::decode_error)?;
            outcome.read_only = logs::is_read_only(operation);
            let executed = tokio::task::block_in_place(|| logs::execute(core, &ctx, request));
            if logs::schedules_work(operation) {
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

/// A JSON answer with AWS's request id header.
pub(crate) fn response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// An awsJson error: `{"__type": code, <message member>: ...}` with the code also in `x-amzn-ErrorType`.
fn error_response(error: &ApiError, message_member: &str, request_id: &str) -> Response {
    let mut body = json!({ "__type": error.code });
    if !error.message.is_empty() {
        body[message_member] = json!(error.message);
    }
    let mut response = response(error.status, body.to_string().into_bytes(), request_id);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error.code));
    response
}
