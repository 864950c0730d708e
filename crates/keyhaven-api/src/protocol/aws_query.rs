//! awsQuery: `POST /` with a form body naming `Action` and `Version`, answered in XML with `<ErrorResponse>`
//! errors (IAM, STS).

use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use keyhaven_kernel::context::Principal;
use serde_json::Value;

use super::{Answer, BodyLimit, Call, Protocol, RequestBody, Route, Running, Success};
use crate::error::ApiError;
use crate::pipeline::{Outcome, header_str};
use crate::query::Params;

/// The unsigned operation keyhaven serves (the model's `authtype: none`): the web identity token is the credential,
/// and a signature a client sends anyway is ignored.
const WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";
const SAML: &str = "AssumeRoleWithSAML";

/// The awsQuery protocol.
#[derive(Debug)]
pub struct AwsQuery;

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

    fn of_signing_name(name: &str) -> Option<Self> {
        [QueryService::Iam, QueryService::Sts]
            .into_iter()
            .find(|s| s.signing_name() == name)
    }

    fn signing_name(self) -> &'static str {
        match self {
            QueryService::Iam => "iam",
            QueryService::Sts => "sts",
        }
    }

    /// The operations the model marks `authtype: none`.
    fn unsigned_operations(self) -> &'static [&'static str] {
        match self {
            QueryService::Iam => crate::generated::iam::UNSIGNED_OPERATIONS,
            QueryService::Sts => crate::generated::sts::UNSIGNED_OPERATIONS,
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            QueryService::Iam => crate::generated::iam::XML_NAMESPACE,
            QueryService::Sts => crate::generated::sts::XML_NAMESPACE,
        }
    }
}

impl Protocol for AwsQuery {
    fn claims(&self, parts: &Parts) -> bool {
        parts.method == Method::POST
            && parts.uri.path() == "/"
            && header_str(&parts.headers, "content-type")
                .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    }

    fn body_limit(&self) -> BodyLimit {
        BodyLimit::Whole(super::MAX_WHOLE_BODY)
    }

    fn route(&self, _parts: &Parts, body: &RequestBody) -> Option<Route> {
        let params = Params::parse(body.whole());
        let service = QueryService::from_version(params.get("Version"));
        let operation = params.get("Action").unwrap_or_default().to_string();
        Some(Route {
            service: service.signing_name(),
            signed: !service.unsigned_operations().contains(&operation.as_str()),
            operation,
        })
    }

    fn authentication_error(&self, error: ApiError) -> ApiError {
        let (status, code) = match error.code {
            "MissingAuthenticationTokenException" => (StatusCode::FORBIDDEN, "MissingAuthenticationToken"),
            "IncompleteSignatureException" => (StatusCode::BAD_REQUEST, "IncompleteSignature"),
            "InvalidSignatureException" => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
            "UnrecognizedClientException" => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
            "ExpiredTokenException" => (StatusCode::BAD_REQUEST, "ExpiredToken"),
            _ => return error,
        };
        ApiError::new(status, code, error.message)
    }

    fn execute<'a>(&'a self, call: Call<'a>, outcome: &'a mut Outcome) -> Running<'a> {
        Box::pin(async move { execute(call, outcome).map(Success::Body) })
    }

    fn respond(&self, service: &str, answer: Answer, request_id: &str) -> Response {
        match answer {
            Ok(Success::Body(body)) => response(StatusCode::OK, body, request_id),
            Ok(Success::Http(response)) => response,
            Err(e) => {
                // Requests refused before they named a service (an oversized body) answer in AWS's namespace.
                let namespace = match QueryService::of_signing_name(service) {
                    Some(service) if !e.aws_fault => service.namespace(),
                    _ => crate::query::AWS_FAULT_NAMESPACE,
                };
                let body =
                    crate::query::encode_error(namespace, e.code, &e.message, e.status.as_u16() < 500, request_id);
                response(e.status, body.into_bytes(), request_id)
            }
        }
    }
}

fn execute(call: Call<'_>, outcome: &mut Outcome) -> Result<Vec<u8>, ApiError> {
    let action = call.route.operation.as_str();
    let service = QueryService::of_signing_name(call.route.service).ok_or_else(ApiError::internal)?;
    // IAM's validation messages name the member but not the value (recorded from AWS); STS's quote it.
    let quoting = match service {
        QueryService::Iam => crate::shapes::Quoting::Hidden,
        QueryService::Sts => crate::shapes::Quoting::Shown,
    };
    let params = Params::parse(call.body.whole()).quoting(quoting);
    let ctx = match call.ctx {
        Some(ctx) => ctx,
        None if action == WEB_IDENTITY || action == SAML => {
            return federate(call.state, action, &params, outcome, call.origin);
        }
        // Another unsigned operation: not served, and never authenticated.
        None if !call.route.signed => return Err(ApiError::unserved("InvalidAction", action)),
        None => return Err(ApiError::internal()),
    };
    refuse_session_token_outside_its_scope(&ctx.principal, service, action)?;
    outcome.read_only = ["Get", "List", "Simulate", "Generate"]
        .iter()
        .any(|p| action.starts_with(p));
    let core = &call.state.core;
    let request_id = &call.origin.request_id;
    match service {
        QueryService::Iam => {
            let request = crate::generated::iam::Request::decode(action, &params)
                .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, &params)))?;
            note_parameters(outcome, action, &request);
            crate::authorize::authorize_iam(core, &ctx, action, &params)?;
            let output = if outcome.read_only {
                crate::iam::execute(core, &ctx, request)?
            } else {
                tokio::task::block_in_place(|| crate::iam::execute(core, &ctx, request))?
            };
            Ok(crate::query::encode_response(service.namespace(), action, output.as_deref(), request_id).into_bytes())
        }
        QueryService::Sts => {
            let request = crate::generated::sts::Request::decode(action, &params)
                .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, &params)))?;
            note_parameters(outcome, action, &request);
            let response = tokio::task::block_in_place(|| crate::sts::execute(core, &ctx, request))?;
            Ok(response.encode(request_id).into_bytes())
        }
    }
}

/// What of a decoded request the audit record keeps.
fn note_parameters(outcome: &mut Outcome, action: &str, request: &impl serde::Serialize) {
    outcome.request_parameters = crate::audit_params::request_parameters(
        outcome.service,
        action,
        serde_json::to_value(request).unwrap_or(Value::Null),
    );
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
        StatusCode::FORBIDDEN,
        "AccessDenied",
        format!(
            "User: {} is not authorized to perform: {}:{action} {why}",
            principal.arn,
            service.signing_name()
        ),
    ))
}

/// AssumeRoleWithWebIdentity and AssumeRoleWithSAML, answered without authentication. The audit
/// record names the federated caller once the token or response is accepted; the credential itself
/// is redacted from its parameters.
fn federate(
    state: &crate::server::AppState,
    action: &str,
    params: &Params,
    outcome: &mut Outcome,
    origin: &crate::pipeline::Origin,
) -> Result<Vec<u8>, ApiError> {
    let decoded = crate::generated::sts::Request::decode(action, params)
        .map_err(|e| ApiError::from(crate::query::DecodeFailure::new(&e, params)))?;
    note_parameters(outcome, action, &decoded);
    let origin = keyhaven_iam::web_identity::Origin {
        request_id: origin.request_id.clone(),
        region: outcome.region.clone(),
        source_ip: origin.connection.map(|c| c.peer.ip()),
        user_agent: origin.user_agent.clone(),
        secure_transport: origin.connection.is_some_and(|c| c.tls),
    };
    let core = &state.core;
    let answer = tokio::task::block_in_place(|| match decoded {
        crate::generated::sts::Request::AssumeRoleWithWebIdentity(request) => {
            crate::web_identity::assume_role_with_web_identity(core, &origin, request)
        }
        crate::generated::sts::Request::AssumeRoleWithSAML(request) => {
            crate::saml_federation::assume_role_with_saml(core, &origin, request)
        }
        _ => Err(ApiError::internal()),
    })?;
    outcome.principal = Some(answer.caller);
    Ok(answer.response.encode(&origin.request_id).into_bytes())
}

fn response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = super::aws_json::response(status, body, request_id);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}
