//! SigV4-signed awsJson1.1 requests (KMS, SSM, Secrets Manager, ...) over one plain-HTTP/1.1 keep-alive connection.

use std::error::Error;
use std::net::SocketAddr;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

pub type BoxError = Box<dyn Error + Send + Sync>;

const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";

/// How much of an error response to keep for a report: enough to read the error type and message.
const ERROR_BODY_CHARS: usize = 300;

/// An awsJson1.1 service: the name requests are signed for and what `X-Amz-Target` starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    pub signing_name: &'static str,
    pub target_prefix: &'static str,
}

impl Service {
    pub const KMS: Service = Service {
        signing_name: "kms",
        target_prefix: "TrentService",
    };
    pub const SSM: Service = Service {
        signing_name: "ssm",
        target_prefix: "AmazonSSM",
    };
    pub const SECRETS_MANAGER: Service = Service {
        signing_name: "secretsmanager",
        target_prefix: "secretsmanager",
    };
    pub const LOGS: Service = Service {
        signing_name: "logs",
        target_prefix: "Logs_20140328",
    };
}

/// Signs one service's requests for one endpoint; shared by all workers.
pub struct Signer {
    service: Service,
    identity: Identity,
    region: String,
    host: String,
    host_header: HeaderValue,
}

impl Signer {
    pub fn new(
        service: Service,
        addr: SocketAddr,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, BoxError> {
        let host = addr.to_string();
        Ok(Self {
            service,
            identity: Credentials::new(access_key, secret_key, None, None, "keyhaven-bench").into(),
            region: region.to_string(),
            host_header: HeaderValue::from_str(&host)?,
            host,
        })
    }

    /// Builds a request for `<target prefix>.<operation>`, signed now: the servers check the date, and a benchmark of
    /// pre-signed requests would leave out work that every real client makes the server do.
    pub fn request(&self, operation: &str, body: Bytes) -> Result<Request<Full<Bytes>>, BoxError> {
        let target = format!("{}.{operation}", self.service.target_prefix);
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(self.service.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", CONTENT_TYPE_JSON),
            ("x-amz-target", &target),
        ];
        let signable = SignableRequest::new("POST", "/", headers.into_iter(), SignableBody::Bytes(&body))?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();

        let mut request = Request::builder()
            .method("POST")
            .uri("/")
            .header(HOST, self.host_header.clone())
            .header(CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header("x-amz-target", target)
            .body(Full::new(body))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// One keep-alive connection; reopened transparently when the server closes it.
pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    /// How many times the server closed the connection and it had to be reopened (moto's dev server may do this).
    pub reopened: u64,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self, BoxError> {
        Ok(Self {
            addr,
            sender: handshake(addr).await?,
            reopened: 0,
        })
    }

    /// Sends one request and reads the whole response body (the server has not finished the request until it has
    /// been read, so latency includes it).
    pub async fn call(&mut self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), BoxError> {
        if self.sender.ready().await.is_err() {
            self.sender = handshake(self.addr).await?;
            self.reopened += 1;
        }
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Signs and sends one call that must succeed; its JSON answer (`null` for an empty one, as some servers give
    /// operations without output).
    pub async fn call_json(&mut self, signer: &Signer, operation: &str, body: &Value) -> Result<Value, BoxError> {
        let request = signer.request(operation, Bytes::from(body.to_string()))?;
        let (status, body) = self.call(request).await?;
        if status != StatusCode::OK {
            return Err(format!("{operation}: HTTP {status}: {}", snippet(&body)).into());
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&body)
            .map_err(|e| format!("{operation}: answer is not JSON ({e}): {}", snippet(&body)))?)
    }
}

/// The start of a response body, for error reports.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(ERROR_BODY_CHARS).collect()
}

async fn handshake(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    // Small request/response pairs: Nagle would add delay that is not the server's.
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when either side closes; its error, if any, surfaces through `sender`.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
