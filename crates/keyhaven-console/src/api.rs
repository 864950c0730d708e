//! The console's API client: every action is an AWS request signed as the signed-in session and run through the
//! server's own pipeline, so authentication, authorisation, audit and metrics are exactly the API's.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use futures_util::StreamExt;
use http_body_util::BodyExt;
pub use keyhaven_api::protocol::aws_json::JsonService;
use keyhaven_api::server::{AppState, ConnectionInfo};
use keyhaven_api::sigv4::{SigningCredentials, SigningScope, UriEncoding, sign};
use keyhaven_crypto::SecretBytes;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::xml::Element;

/// Calls a page fans out at once (per key, per bucket): each its own task, so they spread over the cores and the
/// store's connections, and each starts with a fresh cooperative budget.
const CONCURRENT_CALLS: usize = 8;

/// What the console's requests say they are, in the audit log's `userAgent`.
pub const USER_AGENT: &str = "keyhaven-console";
/// Inner requests are path-style: this host is never `<bucket>.<domain>`.
const HOST: &str = "localhost";

/// A query (form-encoded, XML-answering) service the console calls.
#[derive(Debug, Clone, Copy)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    fn api_version(self) -> &'static str {
        match self {
            QueryService::Iam => keyhaven_api::generated::iam::API_VERSION,
            QueryService::Sts => keyhaven_api::generated::sts::API_VERSION,
        }
    }

    fn signing_name(self) -> &'static str {
        match self {
            QueryService::Iam => "iam",
            QueryService::Sts => "sts",
        }
    }
}

/// An AWS error answer, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiFailure {
    fn unreadable(status: u16) -> Self {
        Self {
            status,
            code: "InternalFailure".into(),
            message: "The server's answer could not be read.".into(),
        }
    }
}

/// The credentials the console signs with: a console session's, or a key pair typed into the sign-in form.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: SecretBytes,
    pub session_token: Option<SecretBytes>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A signed-in caller's way into the API.
pub struct Api {
    state: Arc<AppState>,
    credentials: Credentials,
    pub region: String,
    connection: Option<ConnectionInfo>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(
        state: Arc<AppState>,
        credentials: Credentials,
        region: String,
        connection: Option<ConnectionInfo>,
    ) -> Self {
        Self {
            state,
            credentials,
            region,
            connection,
        }
    }

    /// `call` for each of `items`, [`CONCURRENT_CALLS`] at a time as tasks of their own, answered in item order.
    pub async fn each<I, R, F, Fut>(self: &Arc<Self>, items: Vec<I>, call: F) -> Vec<(I, R)>
    where
        I: Clone + Send + 'static,
        R: Send + 'static,
        F: Fn(Arc<Api>, I) -> Fut,
        Fut: Future<Output = R> + Send + 'static,
    {
        let answers: Vec<Result<R, tokio::task::JoinError>> =
            futures_util::stream::iter(items.iter().cloned().map(|item| tokio::spawn(call(self.clone(), item))))
                .buffered(CONCURRENT_CALLS)
                .collect()
                .await;
        items
            .into_iter()
            .zip(answers)
            .filter_map(|(item, answer)| match answer {
                Ok(answer) => Some((item, answer)),
                Err(e) => {
                    tracing::error!(error = %e, "a console call's task failed");
                    None
                }
            })
            .collect()
    }

    /// An awsJson 1.1 call: `operation` with `input`, answering the decoded body.
    pub async fn json(&self, service: JsonService, operation: &str, input: Value) -> Result<Value, ApiFailure> {
        let target = format!("{}.{operation}", service.target_prefix());
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let (status, body) = self
            .send(
                Method::POST,
                "/",
                service.signing_name(),
                &headers,
                input.to_string().into_bytes(),
            )
            .await?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| ApiFailure::unreadable(status))?;
        if status < 300 {
            return Ok(value);
        }
        let code = value["__type"].as_str().unwrap_or("InternalFailure");
        let message = value["message"]
            .as_str()
            .or(value["Message"].as_str())
            .unwrap_or_default();
        Err(ApiFailure {
            status,
            code: code.rsplit('#').next().unwrap_or(code).to_string(),
            message: message.to_string(),
        })
    }

    /// An awsQuery call (IAM, STS): `action` with `params`, answering the XML body.
    pub async fn query(
        &self,
        service: QueryService,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Element, ApiFailure> {
        // Built in its own scope: the serializer is not Send, and must not live across the await.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action)
                .append_pair("Version", service.api_version());
            for (name, value) in params {
                form.append_pair(name, value);
            }
            form.finish()
        };
        let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
        let (status, body) = self
            .send(Method::POST, "/", service.signing_name(), &headers, form.into_bytes())
            .await?;
        xml_answer(status, &body)
    }

    /// An S3 GET of `path_and_query` (path-style), answering the XML body.
    pub async fn s3_get(&self, path_and_query: &str) -> Result<Element, ApiFailure> {
        let (status, body) = self.send(Method::GET, path_and_query, "s3", &[], Vec::new()).await?;
        xml_answer(status, &body)
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, bytes::Bytes), ApiFailure> {
        let uri: Uri = path_and_query.parse().map_err(|_| ApiFailure::unreadable(400))?;
        let mut header_map = HeaderMap::new();
        header_map.insert("host", HeaderValue::from_static(HOST));
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ApiFailure::unreadable(400))?;
            let value = HeaderValue::from_str(value).map_err(|_| ApiFailure::unreadable(400))?;
            header_map.insert(name, value);
        }
        let token = self
            .credentials
            .session_token
            .as_ref()
            .map(|t| Zeroizing::new(String::from_utf8_lossy(t.expose()).into_owned()));
        let credentials = SigningCredentials {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: self.credentials.secret_access_key.expose(),
            session_token: token.as_ref().map(|t| t.as_str()),
        };
        let scope = SigningScope {
            region: &self.region,
            service,
            encoding: if service == "s3" {
                UriEncoding::Single
            } else {
                UriEncoding::Double
            },
            now: time::OffsetDateTime::now_utc(),
        };
        sign(&method, &uri, &mut header_map, &body, &credentials, &scope).map_err(|_| ApiFailure::unreadable(400))?;
        header_map.insert("user-agent", HeaderValue::from_static(USER_AGENT));
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .map_err(|_| ApiFailure::unreadable(400))?;
        *request.headers_mut() = header_map;
        if let Some(connection) = self.connection {
            request.extensions_mut().insert(connection);
        }
        let response = keyhaven_api::pipeline::aws_entry(State(self.state.clone()), request).await;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| ApiFailure::unreadable(status))?
            .to_bytes();
        Ok((status, body))
    }
}

/// An XML answer, or its `<Error>` (awsQuery's `ErrorResponse` and S3's bare `Error` alike) as a failure.
fn xml_answer(status: u16, body: &[u8]) -> Result<Element, ApiFailure> {
    let root = Element::parse(body).ok_or_else(|| ApiFailure::unreadable(status))?;
    if status < 300 {
        return Ok(root);
    }
    let error = root.find("Error").unwrap_or(&root);
    Err(ApiFailure {
        status,
        code: error.text_of("Code").to_string(),
        message: error.text_of("Message").to_string(),
    })
}
