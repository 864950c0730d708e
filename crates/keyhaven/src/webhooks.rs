//! Change-event delivery to webhooks: one task per target drains that target's outbox, in order.
//!
//! Every event is POSTed as its EventBridge JSON (`content-type: application/json`) with three headers:
//!
//! - `x-keyhaven-event-id`: the event's `id` (delivery is at least once: receivers deduplicate on it);
//! - `x-keyhaven-timestamp`: unix seconds when this attempt was sent;
//! - `x-keyhaven-signature`: `sha256=` followed by the lowercase hex of
//!   HMAC-SHA256(secret, `<x-keyhaven-timestamp>` + `"."` + `<body>`), over the body's exact bytes.
//!
//! A receiver recomputes the HMAC with the shared secret, compares it in constant time, and rejects
//! timestamps far from its own clock (five minutes is a good bound) so that a captured request cannot
//! be replayed later. Each attempt carries a fresh timestamp and signature.
//!
//! A 2xx answer acknowledges the event, which then leaves the outbox. Anything else (another status, a
//! connection error, no answer within the timeout) is retried after an exponential backoff, and the
//! events behind it wait: a target sees its events in the order they were published.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Uri;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use keyhaven_crypto::digest::hmac_sha256;
use keyhaven_kernel::events::{self, Stored};
use keyhaven_store::Backend;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use crate::config::WebhookConfig;

pub const EVENT_ID_HEADER: &str = "x-keyhaven-event-id";
pub const TIMESTAMP_HEADER: &str = "x-keyhaven-timestamp";
pub const SIGNATURE_HEADER: &str = "x-keyhaven-signature";
/// Events read from an outbox at a time.
/// How long a node's claim on a target's delivery lasts without renewal (it renews before every batch): another
/// node takes the target over this long after the holder died.
const DELIVERY_CLAIM_SECONDS: i64 = 30;
const BATCH: usize = 50;
/// Trusted roots for `https://` targets without their own `ca-file`.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// How much of a receiver's answer is read (and ignored) so the connection can be reused.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// `sha256=` + lowercase hex of HMAC-SHA256(`secret`, `timestamp` + "." + `body`).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    format!("sha256={}", hex::encode(hmac_sha256(secret, &message)))
}

/// How delivery paces itself. The defaults are the production values; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The wait after the first failed attempt; it doubles with every further failure.
    pub backoff_base: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// How long an empty outbox waits before it is read again.
    pub idle_poll: Duration,
    /// How long one attempt (connect, send, answer) may take.
    pub request_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            idle_poll: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl Timing {
    /// The wait after `failures` consecutive failures (1 → the base).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }
}

/// Why one attempt did not deliver.
#[derive(Debug)]
pub enum Failure {
    Status(hyper::StatusCode),
    Timeout(Duration),
    Transport(String),
    Request(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(status) => write!(f, "answered {status}"),
            Failure::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Failure::Transport(message) => write!(f, "{message}"),
            Failure::Request(message) => write!(f, "cannot build the request: {message}"),
        }
    }
}

/// Whether delivery stopped because the outbox is empty or because shutdown was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Drained,
    Stopped,
}

/// One delivery target: its outbox name, where it is sent, the signing secret and an HTTP client.
pub struct Webhook {
    name: String,
    url: Uri,
    /// Scheme and authority only, for logs: paths sometimes carry tokens.
    endpoint: String,
    secret: Zeroizing<String>,
    client: Client<Connector, Full<Bytes>>,
    timing: Timing,
}

impl Webhook {
    /// A target from its configuration; for `https://`, loads the trusted roots now.
    pub fn new(config: &WebhookConfig, timing: Timing) -> Result<Self, String> {
        let tls = match config.url.scheme_str() {
            Some("https") => Some(
                tls_connector(config.ca_file.as_deref())
                    .map_err(|e| format!("event webhook {:?}: {e}", config.name))?,
            ),
            _ => None,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .build(Connector { tls });
        let endpoint = format!(
            "{}://{}",
            config.url.scheme_str().unwrap_or("http"),
            config.url.authority().map_or("", |a| a.as_str())
        );
        Ok(Self {
            name: config.name.clone(),
            url: config.url.clone(),
            endpoint,
            secret: config.secret.clone(),
            client,
            timing,
        })
    }

    /// Delivers the target's events until `shutdown` turns true (or its sender is gone), whenever this node (`node`)
    /// holds the target's delivery claim: of several nodes sharing a store, one delivers at a time.
    pub async fn run(self, store: Arc<dyn Backend>, node: String, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(target_name = %self.name, endpoint = %self.endpoint, "delivering change events");
        while self.deliver_pending(&store, &node, &mut shutdown).await == Progress::Drained {
            if pause(self.timing.idle_poll, &mut shutdown).await == Progress::Stopped {
                break;
            }
        }
        tracing::debug!(target_name = %self.name, "change event delivery stopped");
    }

    /// Delivers every event in the outbox, in order, each until it is acknowledged.
    async fn deliver_pending(
        &self,
        store: &Arc<dyn Backend>,
        node: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Progress {
        let mut read_failures = 0;
        'outbox: loop {
            if stop_requested(shutdown) {
                return Progress::Stopped;
            }
            match self.claim(store, node).await {
                Ok(true) => {}
                Ok(false) => return Progress::Drained,
                Err(error) => {
                    tracing::error!(target_name = %self.name, %error, "cannot claim the event outbox");
                    return Progress::Drained;
                }
            }
            let batch = match self.pending(store).await {
                Ok(batch) => {
                    read_failures = 0;
                    batch
                }
                Err(error) => {
                    read_failures += 1;
                    tracing::error!(target_name = %self.name, %error, "cannot read the event outbox");
                    if pause(self.timing.backoff(read_failures), shutdown).await == Progress::Stopped {
                        return Progress::Stopped;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                return Progress::Drained;
            }
            for stored in &batch {
                if self.deliver(stored, shutdown).await == Progress::Stopped {
                    return Progress::Stopped;
                }
                if let Err(error) = self.acknowledge(store, stored.sequence).await {
                    read_failures += 1;
                    tracing::error!(
                        target_name = %self.name,
                        event_id = %stored.event.id,
                        %error,
                        "cannot record a delivery; the event will be sent again"
                    );
                    if pause(self.timing.backoff(read_failures), shutdown).await == Progress::Stopped {
                        return Progress::Stopped;
                    }
                    continue 'outbox;
                }
            }
        }
    }

    /// Sends one event until the target acknowledges it, backing off between attempts.
    async fn deliver(&self, stored: &Stored, shutdown: &mut watch::Receiver<bool>) -> Progress {
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let outcome = tokio::select! {
                outcome = self.send(stored) => outcome,
                () = stopped(shutdown) => return Progress::Stopped,
            };
            let failure = match outcome {
                Ok(()) => {
                    if attempt > 1 {
                        tracing::info!(
                            target_name = %self.name,
                            event_id = %stored.event.id,
                            attempt,
                            "change event delivered after retrying"
                        );
                    }
                    return Progress::Drained;
                }
                Err(failure) => failure,
            };
            let delay = self.timing.backoff(attempt);
            tracing::warn!(
                target_name = %self.name,
                endpoint = %self.endpoint,
                event_id = %stored.event.id,
                sequence = stored.sequence,
                attempt,
                error = %failure,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "change event delivery failed"
            );
            if pause(delay, shutdown).await == Progress::Stopped {
                return Progress::Stopped;
            }
        }
    }

    /// One attempt: POST the signed event and wait for the answer.
    async fn send(&self, stored: &Stored) -> Result<(), Failure> {
        let body = serde_json::to_vec(&stored.event).map_err(|e| Failure::Request(e.to_string()))?;
        self.post(body, &stored.event.id).await
    }

    /// POSTs `body` signed with the target's secret and waits (at most the request timeout) for
    /// a 2xx answer. Rotation webhooks use this too.
    pub async fn post(&self, body: Vec<u8>, event_id: &str) -> Result<(), Failure> {
        let timestamp = unix_now();
        let request = hyper::Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("keyhaven/", env!("CARGO_PKG_VERSION")))
            .header(EVENT_ID_HEADER, event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(self.secret.as_bytes(), timestamp, &body))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::Request(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::Transport(error_chain(&e)))?;
            let status = response.status();
            // Read the answer (a bounded part of it) so that the connection can be reused.
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BODY).collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(Failure::Status(status))
            }
        };
        tokio::time::timeout(self.timing.request_timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout(self.timing.request_timeout))?
    }

    async fn pending(&self, store: &Arc<dyn Backend>) -> Result<Vec<Stored>, String> {
        let (store, name) = (store.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || keyhaven_kernel::read(&*store, |tx| events::pending(tx, &name, BATCH)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Claims (or renews) this target's delivery for `node`; false while another node delivers it.
    async fn claim(&self, store: &Arc<dyn Backend>, node: &str) -> Result<bool, String> {
        let (store, name, node) = (store.clone(), self.name.clone(), node.to_string());
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        let until = now.saturating_add(DELIVERY_CLAIM_SECONDS);
        tokio::task::spawn_blocking(move || {
            keyhaven_kernel::transact(&*store, |tx| events::claim_delivery(tx, &name, &node, now, until))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    async fn acknowledge(&self, store: &Arc<dyn Backend>, sequence: u64) -> Result<(), String> {
        let (store, name) = (store.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || {
            keyhaven_kernel::transact(&*store, |tx| events::acknowledge(tx, &name, sequence))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An error and its causes, `: `-separated (hyper's own message alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn stop_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once shutdown is requested or can no longer be requested.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Waits for `delay` unless shutdown comes first.
async fn pause(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> Progress {
    tokio::select! {
        () = tokio::time::sleep(delay) => Progress::Drained,
        () = stopped(shutdown) => Progress::Stopped,
    }
}

/// A TLS client with the roots of `ca_file`, or of the system bundle.
fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let pem = std::fs::read(path).map_err(|e| format!("CA certificates {}: {e}", path.display()))?;
    let certificates = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA certificates {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("no usable CA certificate in {}", path.display()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens TCP connections for the HTTP client, with TLS on top for `https://`.
#[derive(Clone)]
pub struct Connector {
    tls: Option<TlsConnector>,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let https = match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unsupported scheme {other:?}"),
                    ));
                }
            };
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the URL has no host"))?;
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            if !https {
                return Ok(TokioIo::new(Stream::Plain(tcp)));
            }
            let tls = tls.ok_or_else(|| io::Error::other("no TLS configuration for an https:// URL"))?;
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let stream = tls.connect(name, tcp).await?;
            Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
        })
    }
}

/// A client connection: plain TCP or TLS over TCP.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use hyper::body::Incoming;
    use hyper::{HeaderMap, Request, Response};
    use keyhaven_core::{Core, CoreConfig};
    use keyhaven_kernel::clock::AdjustableClock;
    use keyhaven_kernel::events::Event;
    use keyhaven_store::testing::{TempDir, temp_store};
    use time::OffsetDateTime;
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;
    use tokio_rustls::TlsAcceptor;

    use super::*;

    const SECRET: &str = "a shared HMAC secret";
    const TARGET: &str = "audit-sink";
    /// Only a bound on how long a broken test hangs; passing tests never wait for it.
    const WAIT: Duration = Duration::from_secs(20);
    const FAST: Timing = Timing {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        idle_poll: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
    };
    /// An answer the receiver never sends.
    const HANG: u16 = 0;

    /// The expected value comes from Python's standard library, independently of this code:
    /// `hmac.new(b"a shared HMAC secret", b'1700000000.{"id":"4a7d1ed4-…","detail":{}}', hashlib.sha256).hexdigest()`.
    #[test]
    fn the_signature_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body() {
        let body = br#"{"id":"4a7d1ed4-1e5b-4c1c-9a6e-0c3f5b2e8d11","detail":{}}"#;
        assert_eq!(
            signature(SECRET.as_bytes(), 1_700_000_000, body),
            "sha256=5a142c6661afbd356a62dc096b9124cf717c65157084d17a08e1a194919baeab"
        );
        assert_ne!(
            signature(SECRET.as_bytes(), 1_700_000_001, body),
            signature(SECRET.as_bytes(), 1_700_000_000, body)
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let timing = Timing::default();
        let waits: Vec<u64> = (1..=11).map(|n| timing.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(timing.backoff(u32::MAX), Duration::from_secs(300));
    }

    /// One request as the receiver saw it.
    struct Received {
        headers: HeaderMap,
        body: Vec<u8>,
    }

    struct ReceiverState {
        /// Statuses to answer, in turn; 200 once they are used up.
        statuses: Mutex<VecDeque<u16>>,
        seen: mpsc::UnboundedSender<Received>,
    }

    /// A tiny HTTP(S) receiver on 127.0.0.1: reports every request on the channel, then answers it.
    async fn receiver(statuses: &[u16], tls: Option<TlsAcceptor>) -> (u16, mpsc::UnboundedReceiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (seen, received) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            seen,
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, tls) = (state.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, state).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, state).await;
                            }
                        }
                    }
                });
            }
        });
        (port, received)
    }

    async fn serve_connection<S>(stream: S, state: Arc<ReceiverState>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let state = state.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                let _ = state.seen.send(Received {
                    headers: parts.headers,
                    body,
                });
                let status = state.statuses.lock().expect("lock").pop_front().unwrap_or(200);
                if status == HANG {
                    std::future::pending::<()>().await;
                }
                let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                Ok::<_, Infallible>(response)
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }

    fn core() -> (TempDir, Arc<Core>) {
        let (dir, store) = temp_store();
        let blobs = Arc::new(keyhaven_store::FsBlobStore::open(&dir.path().join("objects")).expect("blobs"));
        let core = Core::open(
            store,
            blobs,
            keyhaven_crypto::RootKey::generate().expect("root key"),
            Arc::new(AdjustableClock::frozen(1_700_000_000)),
            CoreConfig {
                event_targets: vec![TARGET.into()],
                ..CoreConfig::default()
            },
        )
        .expect("core");
        (dir, core)
    }

    fn publish(core: &Core, n: i64) -> Event {
        let event = Event::new(
            "Parameter Store Change",
            "aws.ssm",
            "111122223333",
            "us-east-1",
            OffsetDateTime::from_unix_timestamp(1_700_000_000 + n).expect("time"),
            vec![format!("arn:aws:ssm:us-east-1:111122223333:parameter/p{n}")],
            serde_json::json!({"name": format!("/p{n}"), "operation": "Create"}),
        )
        .expect("event");
        keyhaven_kernel::transact(&*core.store, |tx| core.events.publish(tx, &event)).expect("publish");
        event
    }

    fn webhook(url: &str, ca_file: Option<PathBuf>, timing: Timing) -> Webhook {
        let config = WebhookConfig {
            name: TARGET.into(),
            url: url.parse().expect("url"),
            secret: Zeroizing::new(SECRET.into()),
            ca_file,
        };
        Webhook::new(&config, timing).expect("webhook")
    }

    fn pending_count(core: &Core) -> usize {
        keyhaven_kernel::read(&*core.store, |tx| events::pending(tx, TARGET, 100))
            .expect("pending")
            .len()
    }

    /// Everything the receiver has seen so far (delivery has finished when this is called).
    fn drain(received: &mut mpsc::UnboundedReceiver<Received>) -> Vec<Received> {
        std::iter::from_fn(|| received.try_recv().ok()).collect()
    }

    /// Checks the headers and signature of a request and returns the event it carried.
    fn verified(request: &Received) -> Event {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{name} header"))
                .to_str()
                .expect("ascii header")
                .to_string()
        };
        assert_eq!(header("content-type"), "application/json");
        let timestamp: u64 = header(TIMESTAMP_HEADER).parse().expect("unix seconds");
        assert!(timestamp.abs_diff(unix_now()) < 60, "timestamp {timestamp}");
        assert_eq!(
            header(SIGNATURE_HEADER),
            signature(SECRET.as_bytes(), timestamp, &request.body)
        );
        let event: Event = serde_json::from_slice(&request.body).expect("an EventBridge event");
        assert_eq!(header(EVENT_ID_HEADER), event.id);
        event
    }

    async fn deliver_all(webhook: &Webhook, core: &Core) {
        let (_keep, mut shutdown) = watch::channel(false);
        let progress = tokio::time::timeout(WAIT, webhook.deliver_pending(&core.store, "this-node", &mut shutdown))
            .await
            .expect("delivery finished");
        assert_eq!(progress, Progress::Drained);
    }

    #[tokio::test]
    async fn events_are_delivered_signed_in_publication_order_and_then_leave_the_outbox() {
        let (_dir, core) = core();
        let published: Vec<Event> = (1..=3).map(|n| publish(&core, n)).collect();
        let (port, mut received) = receiver(&[], None).await;
        let webhook = webhook(&format!("http://127.0.0.1:{port}/hook"), None, FAST);
        deliver_all(&webhook, &core).await;
        let delivered: Vec<Event> = drain(&mut received).iter().map(verified).collect();
        assert_eq!(delivered, published);
        assert_eq!(pending_count(&core), 0);
    }

    #[tokio::test]
    async fn a_failed_event_is_retried_until_acknowledged_and_later_events_wait_for_it() {
        let (_dir, core) = core();
        let (first, second) = (publish(&core, 1), publish(&core, 2));
        let (port, mut received) = receiver(&[500, 503], None).await;
        let webhook = webhook(&format!("http://127.0.0.1:{port}/hook"), None, FAST);
        deliver_all(&webhook, &core).await;
        let ids: Vec<String> = drain(&mut received).iter().map(|r| verified(r).id).collect();
        assert_eq!(ids, [&*first.id, &first.id, &first.id, &second.id]);
        assert_eq!(pending_count(&core), 0);
    }

    #[tokio::test]
    async fn a_receiver_that_does_not_answer_in_time_gets_the_event_again() {
        let (_dir, core) = core();
        let event = publish(&core, 1);
        let (port, mut received) = receiver(&[HANG], None).await;
        let timing = Timing {
            request_timeout: Duration::from_millis(200),
            ..FAST
        };
        let webhook = webhook(&format!("http://127.0.0.1:{port}/hook"), None, timing);
        deliver_all(&webhook, &core).await;
        let ids: Vec<String> = drain(&mut received).iter().map(|r| verified(r).id).collect();
        assert_eq!(ids, [&*event.id, &event.id]);
        assert_eq!(pending_count(&core), 0);
    }

    #[tokio::test]
    async fn delivery_over_https_trusts_the_configured_ca_file() {
        let (dir, core) = core();
        let event = publish(&core, 1);
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
        let cert_pem = certified.cert.pem();
        let acceptor =
            crate::listener::tls_acceptor(cert_pem.as_bytes(), certified.signing_key.serialize_pem().as_bytes())
                .expect("acceptor");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &cert_pem).expect("write CA");
        let (port, mut received) = receiver(&[], Some(acceptor)).await;
        let webhook = webhook(&format!("https://127.0.0.1:{port}/hook"), Some(ca_file), FAST);
        deliver_all(&webhook, &core).await;
        let ids: Vec<String> = drain(&mut received).iter().map(|r| verified(r).id).collect();
        assert_eq!(ids, [&*event.id]);
        assert_eq!(pending_count(&core), 0);
    }

    #[test]
    fn an_https_target_needs_readable_roots() {
        let config = WebhookConfig {
            name: TARGET.into(),
            url: "https://127.0.0.1/hook".parse().expect("url"),
            secret: Zeroizing::new(SECRET.into()),
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let error = Webhook::new(&config, FAST).err().expect("no roots");
        assert!(
            error.contains("audit-sink") && error.contains("/nonexistent/ca.pem"),
            "{error}"
        );
        assert!(!error.contains(SECRET));
    }

    #[tokio::test]
    async fn the_running_deliverer_picks_up_new_events_and_stops_on_shutdown() {
        let (_dir, core) = core();
        let (port, mut received) = receiver(&[], None).await;
        let webhook = webhook(&format!("http://127.0.0.1:{port}/hook"), None, FAST);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(webhook.run(core.store.clone(), "this-node".into(), shutdown));
        let mut expected = Vec::new();
        for n in 1..=2 {
            expected.push(publish(&core, n));
            let request = tokio::time::timeout(WAIT, received.recv())
                .await
                .expect("delivered in time")
                .expect("receiver running");
            assert_eq!(verified(&request), expected[expected.len() - 1]);
        }
        stop.send(true).expect("send shutdown");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("stopped in time")
            .expect("no panic");
    }

    #[tokio::test]
    async fn shutdown_interrupts_a_deliverer_waiting_to_retry() {
        let (_dir, core) = core();
        let event = publish(&core, 1);
        let (port, mut received) = receiver(&[500], None).await;
        let timing = Timing {
            backoff_base: Duration::from_secs(3600),
            backoff_max: Duration::from_secs(3600),
            ..FAST
        };
        let webhook = webhook(&format!("http://127.0.0.1:{port}/hook"), None, timing);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(webhook.run(core.store.clone(), "this-node".into(), shutdown));
        let request = tokio::time::timeout(WAIT, received.recv())
            .await
            .expect("attempted in time")
            .expect("receiver running");
        assert_eq!(verified(&request).id, event.id);
        // The attempt is answered 500: the deliverer now waits an hour, unless told to stop.
        stop.send(true).expect("send shutdown");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("stopped in time")
            .expect("no panic");
        assert_eq!(pending_count(&core), 1);
    }
}
