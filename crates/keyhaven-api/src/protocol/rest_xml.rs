//! restXml (S3): the bucket from a virtual-hosted `Host` or the path, the operation from the generated routes, bodies
//! streamed, and answers as S3 writes them: the status and headers the model binds, XML bodies, and `<Error>`
//! documents.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{Answer, BodyLimit, Call, Protocol, RequestBody, Route, Running, Success};
use crate::error::ApiError;
use crate::pipeline::{Outcome, header_str};
use crate::query::XmlWriter;
use crate::rest_route::{self, Addressed};
use crate::sigv4::{SigV4Error, UriEncoding};

/// The Region S3's global endpoint answers from, where a request names none (anonymous, SigV2 and form uploads).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The operation name of a CORS preflight (`OPTIONS`), which the model has no operation for.
pub const PREFLIGHT: &str = "PreflightRequest";

/// The base domain of virtual-hosted addressing when none is configured (`photos.s3.localhost`).
pub const DEFAULT_DOMAIN: &str = "s3.localhost";

/// The restXml protocol, with the host names under which a request's first label is its bucket: the configured base
/// domain, then `localhost` (`photos.localhost`), longest first.
#[derive(Debug)]
pub struct RestXml {
    domains: Vec<String>,
}

impl RestXml {
    pub fn new(domain: &str) -> Self {
        let mut domains = vec![domain.to_ascii_lowercase(), "localhost".to_string()];
        domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
        domains.dedup();
        Self { domains }
    }

    /// The bucket a virtual-hosted request names in its `Host`.
    fn host_bucket(&self, parts: &Parts) -> Option<String> {
        let host = header_str(&parts.headers, "host").or_else(|| parts.uri.host())?;
        let name = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        });
        let name = name.to_ascii_lowercase();
        self.domains.iter().find_map(|domain| {
            let bucket = name.strip_suffix(domain.as_str())?.strip_suffix('.')?;
            (!bucket.is_empty()).then(|| bucket.to_string())
        })
    }

    /// The bucket and key a request addresses.
    fn addressed(&self, parts: &Parts) -> Option<Addressed> {
        Addressed::from_path(parts.uri.path(), self.host_bucket(parts).as_deref())
    }
}

/// The query string's parameters, decoded, in order.
pub fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Protocol for RestXml {
    /// Every request the JSON and query protocols leave: S3 is the one REST service.
    fn claims(&self, _parts: &Parts) -> bool {
        true
    }

    fn body_limit(&self) -> BodyLimit {
        BodyLimit::Streamed
    }

    fn uri_encoding(&self) -> UriEncoding {
        UriEncoding::Single
    }

    fn route(&self, parts: &Parts, _body: &RequestBody) -> Option<Route> {
        let addressed = self.addressed(parts)?;
        // A browser's CORS preflight: never signed; the bucket's CORS rules decide. A browser's form upload signs
        // its fields, which the operation reads.
        let unsigned = if parts.method == axum::http::Method::OPTIONS && addressed.bucket.is_some() {
            Some(PREFLIGHT)
        } else if addressed.bucket.is_some() && crate::s3_post::is_post_object(parts, &addressed) {
            Some(crate::s3_post::POST_OBJECT)
        } else {
            None
        };
        if let Some(operation) = unsigned {
            return Some(Route {
                service: "s3",
                operation: operation.to_string(),
                signed: false,
            });
        }
        let query = query_pairs(parts);
        let route = rest_route::route(
            crate::generated::s3_routes::ROUTES,
            &parts.method,
            addressed.target(),
            &query,
            &parts.headers,
        )?;
        Some(Route {
            service: "s3",
            operation: route.operation.to_string(),
            signed: true,
        })
    }

    /// A request no S3 route takes is a method the resource does not allow, as S3 answers it.
    fn unrouted(&self) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// S3's global endpoint answers from us-east-1; an anonymous caller has no signature to name another Region.
    fn anonymous_region(&self) -> Option<&'static str> {
        Some(DEFAULT_REGION)
    }

    fn signature_v2_path(&self, parts: &Parts) -> Option<String> {
        if !crate::sigv2::is_sigv2(&parts.uri, &parts.headers) {
            return None;
        }
        let path = parts.uri.path();
        Some(match self.host_bucket(parts) {
            Some(bucket) => format!("/{bucket}{path}"),
            None => path.to_string(),
        })
    }

    fn signature_error(&self, e: &SigV4Error) -> ApiError {
        match e {
            SigV4Error::IncompleteQueryParameters { .. } => ApiError::bad_request(
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ),
            SigV4Error::HeadersNotSigned(names) => {
                let mut error = ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", e.to_string());
                error.fields.push(("HeadersNotSigned", names.clone()));
                error
            }
            other => ApiError::from(other),
        }
    }

    fn authentication_error(&self, error: ApiError) -> ApiError {
        authentication_error(error)
    }

    fn execute<'a>(&'a self, call: Call<'a>, outcome: &'a mut Outcome) -> Running<'a> {
        let addressed = self.addressed(call.parts);
        Box::pin(crate::s3::execute(call, addressed, outcome))
    }

    fn respond(&self, _service: &str, answer: Answer, request_id: &str) -> Response {
        let mut response = match answer {
            Ok(Success::Http(response)) => response,
            Ok(Success::Body(body)) => Response::new(Body::from(body)),
            Err(e) => error_response(&e, request_id),
        };
        if let Ok(id) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert("x-amz-request-id", id.clone());
            response.headers_mut().insert("x-amz-id-2", id);
        }
        response
    }
}

/// Authentication failures, the request's own or a streamed body's chunk and trailer signatures, in S3's codes.
pub fn authentication_error(error: ApiError) -> ApiError {
    let (status, code, message) = match error.code {
        "MissingAuthenticationTokenException" => (StatusCode::FORBIDDEN, "AccessDenied", "Access Denied".to_string()),
        "IncompleteSignatureException" => (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", error.message),
        "InvalidSignatureException" if error.message.contains("expired") => {
            (StatusCode::FORBIDDEN, "AccessDenied", "Request has expired".to_string())
        }
        "InvalidSignatureException" => (
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
                .to_string(),
        ),
        "UnrecognizedClientException" => (
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".to_string(),
        ),
        "ExpiredTokenException" => (
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.".to_string(),
        ),
        _ => return error,
    };
    ApiError::new(status, code, message)
}

/// S3's error document; 304 and errors to HEAD carry none.
fn error_response(e: &ApiError, request_id: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = e.status;
    for (name, value) in &e.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    if e.status == StatusCode::NOT_MODIFIED {
        return response;
    }
    let mut xml = XmlWriter::default();
    xml.open("Error");
    xml.text("Code", e.code);
    xml.text("Message", &e.message);
    for (name, value) in &e.fields {
        xml.text(name, value);
    }
    xml.text("RequestId", request_id);
    xml.close("Error");
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", xml.finish());
    *response.body_mut() = Body::from(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}
