//! Wire protocols as plug-ins of the request pipeline: each claims its requests by method, host, path and
//! headers, says how much of the body to read, names the service and operation, runs the call and writes
//! AWS's answer in its own shape. Authentication, the request context, metrics and the audit record are the
//! pipeline's (`pipeline.rs`), the same for every protocol.

pub mod aws_json;
pub mod aws_query;
pub mod rest_xml;

use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::response::Response;
use keyhaven_kernel::context::RequestContext;

use crate::error::ApiError;
use crate::pipeline::{Origin, Outcome};
use crate::server::AppState;
use crate::sigv4::UriEncoding;
use crate::streamed::StreamedBody;

/// The whole-body limit of the JSON and query services.
pub const MAX_WHOLE_BODY: usize = 1024 * 1024;

/// How a protocol's request bodies reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// Read whole before authentication, refused unread beyond this many bytes; the signature is checked
    /// against the body's own hash.
    Whole(usize),
    /// Handed to the protocol unread, as the client sends it. The signature covers the payload hash the client
    /// declares (`x-amz-content-sha256`: a hash, `UNSIGNED-PAYLOAD` or a `STREAMING-*` mode), and the stream is
    /// checked against that declaration as it flows (S3 objects, which are never buffered whole; the checking
    /// adapter comes with S3, as ARCHITECTURE.md says).
    Streamed,
}

/// A request body as the pipeline hands it over, per the protocol's `BodyLimit`.
#[derive(Debug)]
pub enum RequestBody {
    Whole(Bytes),
    /// Checked as it is read against what the request's signature declared for it.
    Streamed(StreamedBody),
}

impl RequestBody {
    /// The body read whole; a streamed body has nothing read yet.
    pub fn whole(&self) -> &[u8] {
        match self {
            RequestBody::Whole(bytes) => bytes,
            RequestBody::Streamed(_) => &[],
        }
    }
}

/// What a protocol reads from a request before it is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The signing name, which is also the audit record's event source (`kms`, `iam`).
    pub service: &'static str,
    pub operation: String,
    /// False for operations the model marks `authtype: none` (AssumeRoleWithWebIdentity): the pipeline asks for no
    /// signature, and the operation names its caller itself.
    pub signed: bool,
}

/// An authenticated (or, for an unsigned operation, anonymous) call, ready for the protocol to run.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub parts: &'a Parts,
    pub body: RequestBody,
    pub route: Route,
    /// The caller's context; `None` only for unsigned operations.
    pub ctx: Option<RequestContext>,
    pub origin: &'a Origin,
}

/// What a successful call answers.
pub enum Success {
    /// A body the protocol frames (status, content type, request id).
    Body(Vec<u8>),
    /// A whole HTTP response: restXml's status and headers, and a body that may stream (S3 objects).
    Http(Response),
}

impl std::fmt::Debug for Success {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Success::Body(body) => write!(f, "Body({} bytes)", body.len()),
            Success::Http(response) => write!(f, "Http({})", response.status()),
        }
    }
}

/// The protocol's answer, or the error to write in its error shape.
pub type Answer = Result<Success, ApiError>;

/// A protocol's run of one call: asynchronous, since a streamed body is read as it arrives.
pub type Running<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// One AWS wire protocol.
pub trait Protocol: Send + Sync {
    /// Whether the request is this protocol's, from its method, host, path and headers alone.
    fn claims(&self, parts: &Parts) -> bool;

    fn body_limit(&self) -> BodyLimit;

    /// How the protocol's services encode the canonical URI for SigV4 (S3 encodes once, the others twice).
    fn uri_encoding(&self) -> UriEncoding {
        UriEncoding::Double
    }

    /// The service and operation a request names; `None` when it names none this protocol serves.
    fn route(&self, parts: &Parts, body: &RequestBody) -> Option<Route>;

    /// The answer to a claimed request that names no operation the protocol serves.
    fn unrouted(&self) -> ApiError {
        ApiError::unknown_operation()
    }

    /// Refuses a routed request whose shape the protocol does not take (audited under its service and operation).
    fn admit(&self, _parts: &Parts) -> Result<(), ApiError> {
        Ok(())
    }

    /// The Region an unsigned request is served in when the protocol's service serves anonymous callers (S3, where a
    /// bucket policy may grant them access); `None` refuses unsigned requests before they are routed further.
    fn anonymous_region(&self) -> Option<&'static str> {
        None
    }

    /// For a request signed with Signature Version 2, which only S3 takes, the path its canonical resource starts
    /// with (`/<bucket>/<key>`, whichever addressing the request used); `None` for every other request.
    fn signature_v2_path(&self, _parts: &Parts) -> Option<String> {
        None
    }

    /// A SigV4 refusal in the protocol's own codes, where they are more specific than the shared ones.
    fn signature_error(&self, e: &crate::sigv4::SigV4Error) -> ApiError {
        ApiError::from(e)
    }

    /// Authentication failures in the protocol's own codes.
    fn authentication_error(&self, error: ApiError) -> ApiError {
        error
    }

    /// Decodes, authorises and executes the call, filling in what the audit record tells of it.
    fn execute<'a>(&'a self, call: Call<'a>, outcome: &'a mut Outcome) -> Running<'a>;

    /// The HTTP answer: the body on success, the protocol's error shape otherwise.
    fn respond(&self, service: &str, answer: Answer, request_id: &str) -> Response;
}

/// The protocols the server speaks, asked in order which claims a request; S3's virtual-hosted addressing under
/// `s3_domain`. Built once per server, so the one allocation lives as long as the process.
pub fn standard(s3_domain: &str) -> Vec<&'static dyn Protocol> {
    let rest_xml: &'static rest_xml::RestXml = Box::leak(Box::new(rest_xml::RestXml::new(s3_domain)));
    vec![&aws_query::AwsQuery, &aws_json::AwsJson, rest_xml]
}
