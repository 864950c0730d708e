//! Change events end to end: the real binary delivers signed events to webhooks and tails its event log.
//!
//! Events come from Parameter Store calls, or are published into the data directory through the core
//! while no server runs (for events waiting in an outbox and for `events tail`).

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use common::{RawResponse, send_raw};
use keyhaven_core::{Core, CoreConfig};
use keyhaven_crypto::digest::hmac_sha256;
use keyhaven_kernel::clock::AdjustableClock;
use keyhaven_kernel::events::Event;
use keyhaven_store::SqliteStore;
use keyhaven_tests::{Options, Server, binary};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Only a bound on how long a broken test hangs; passing tests never wait for it.
const WAIT: Duration = Duration::from_secs(30);
const FILE_SECRET: &str = "file webhook secret, 32 bytes...";
const ENV_SECRET: &str = "environment webhook secret";

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("keyhaven-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Publishes `count` events into the store of `data_dir` (no server may be running on it) and returns
/// them as JSON.
fn publish(data_dir: &Path, targets: &[&str], first: i64, count: i64) -> Vec<Value> {
    let store = SqliteStore::open(&data_dir.join("keyhaven.db")).expect("open store");
    let blobs = Arc::new(keyhaven_store::FsBlobStore::open(&data_dir.join("objects")).expect("blobs"));
    let core = Core::open(
        Arc::new(store),
        blobs,
        keyhaven_crypto::RootKey::generate().expect("root key"),
        Arc::new(AdjustableClock::system()),
        CoreConfig {
            event_targets: targets.iter().map(|t| t.to_string()).collect(),
            ..CoreConfig::default()
        },
    )
    .expect("core");
    let published = (first..first + count)
        .map(|n| {
            let event = Event::new(
                "Parameter Store Change",
                "aws.ssm",
                "000000000000",
                "us-east-1",
                OffsetDateTime::now_utc(),
                vec![format!("arn:aws:ssm:us-east-1:000000000000:parameter/p{n}")],
                serde_json::json!({"name": format!("/p{n}"), "operation": "Create"}),
            )
            .expect("event");
            keyhaven_kernel::transact(&*core.store, |tx| core.events.publish(tx, &event)).expect("publish");
            serde_json::to_value(&event).expect("json")
        })
        .collect();
    core.audit.shutdown();
    published
}

/// One request as the receiver saw it: lowercase header names, and the body.
#[derive(Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// Checks the signature against `secret` and returns the event.
    fn verified(&self, secret: &str) -> Value {
        assert_eq!(self.header("content-type"), "application/json");
        let timestamp = self.header("x-keyhaven-timestamp");
        timestamp.parse::<u64>().expect("unix seconds");
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(&self.body);
        let expected: String = hmac_sha256(secret.as_bytes(), &signed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(self.header("x-keyhaven-signature"), format!("sha256={expected}"));
        let event: Value = serde_json::from_slice(&self.body).expect("JSON body");
        assert_eq!(self.header("x-keyhaven-event-id"), event["id"].as_str().expect("id"));
        event
    }
}

/// A minimal HTTP/1.1 receiver (keep-alive, content-length bodies) that answers 200 to everything.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let (seen, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let Some(end) = read_until_head_end(&mut stream, &mut buffer).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                    buffer.drain(..end + 4);
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < length {
                        let mut chunk = [0u8; 8192];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buffer.drain(..length).collect();
                    let _ = seen.send(Received { headers, body });
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, received)
}

/// Reads until `buffer` holds a complete request head; its length without the blank line.
async fn read_until_head_end(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("a delivery in time")
        .expect("receiver running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_delivers_signed_events_in_order_to_file_and_environment_webhooks() {
    let (file_url, mut file_received) = receiver().await;
    let (env_url, mut env_received) = receiver().await;
    let config_dir = TempDir::new("webhook-config");
    let config = config_dir.0.join("keyhaven.toml");
    std::fs::write(
        &config,
        format!("[[event-webhooks]]\nname = \"audit-sink\"\nurl = \"{file_url}\"\nsecret = \"{FILE_SECRET}\"\n"),
    )
    .expect("write config");
    let options = Options {
        extra_args: vec!["--config".into(), config.display().to_string()],
        env: vec![
            ("KEYHAVEN_EVENT_WEBHOOK_URL".into(), env_url),
            ("KEYHAVEN_EVENT_WEBHOOK_SECRET".into(), ENV_SECRET.into()),
        ],
        ..Options::default()
    };
    let mut server = tokio::task::spawn_blocking(move || Server::start(options))
        .await
        .expect("start");
    // Events published while the server is down wait in the outboxes of both targets.
    assert!(server.terminate(), "clean exit");
    let published = publish(&server.data_dir, &["audit-sink", "default"], 1, 3);
    let mut server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .expect("restart");

    for expected in &published {
        assert_eq!(&next(&mut file_received).await.verified(FILE_SECRET), expected);
        assert_eq!(&next(&mut env_received).await.verified(ENV_SECRET), expected);
    }
    assert!(server.terminate(), "clean exit with webhooks configured");
}

/// Signs (dev-mode credentials) and sends an awsJson Parameter Store request.
fn ssm_call(endpoint: &str, operation: &str, body: &Value) -> RawResponse {
    let body = serde_json::to_vec(body).expect("json");
    let headers = vec![
        ("host".to_string(), endpoint.trim_start_matches("http://").to_string()),
        ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
        ("x-amz-target".to_string(), format!("AmazonSSM.{operation}")),
    ];
    let identity: Identity = Credentials::new("test", "test", None, None, "raw").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ssm")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let uri = format!("{endpoint}/");
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut request = http::Request::builder().method("POST").uri(&uri);
    for (k, v) in &headers {
        request = request.header(k, v);
    }
    let mut request = request.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut request);
    let signed: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    send_raw(endpoint, "POST", "/", &signed, &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_changes_through_the_api_reach_the_webhook_signed_and_in_order() {
    let (url, mut received) = receiver().await;
    let options = Options {
        dev: true,
        env: vec![
            ("KEYHAVEN_EVENT_WEBHOOK_URL".into(), url),
            ("KEYHAVEN_EVENT_WEBHOOK_SECRET".into(), ENV_SECRET.into()),
        ],
        ..Options::default()
    };
    let mut server = tokio::task::spawn_blocking(move || Server::start(options))
        .await
        .expect("start");
    let endpoint = server.endpoint.clone();
    let names = ["/app/db-host", "/app/db-port"];
    for name in names {
        let response = tokio::task::spawn_blocking({
            let endpoint = endpoint.clone();
            move || {
                ssm_call(
                    &endpoint,
                    "PutParameter",
                    &serde_json::json!({"Name": name, "Value": "not in the event", "Type": "String"}),
                )
            }
        })
        .await
        .expect("put");
        assert_eq!(response.status, 200, "{}", response.body);
    }
    for name in names {
        let request = next(&mut received).await;
        let event = request.verified(ENV_SECRET);
        assert_eq!(event["source"], "aws.ssm");
        assert_eq!(event["detail"]["name"], name);
        assert_eq!(
            event["resources"][0],
            format!("arn:aws:ssm:us-east-1:000000000000:parameter{name}")
        );
        assert!(!String::from_utf8_lossy(&request.body).contains("not in the event"));
    }
    assert!(server.terminate(), "clean exit");
}

#[test]
fn a_bad_webhook_configuration_stops_the_server_without_showing_the_secret() {
    let dir = TempDir::new("webhook-bad-config");
    let config = dir.0.join("keyhaven.toml");
    let cases = [
        (
            "[[event-webhooks]]\nname = \"sink\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"short-secret\"\n",
            "at least 16 bytes",
        ),
        (
            "[[event-webhooks]]\nname = \"sink\"\nurl = \"ftp://127.0.0.1/\"\nsecret = \"short-secret-but-long-enough\"\n",
            "must start with http:// or https://",
        ),
    ];
    for (contents, expected) in cases {
        std::fs::write(&config, contents).expect("write config");
        let output = Command::new(binary())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .env_remove("KEYHAVEN_EVENT_WEBHOOK_URL")
            .env_remove("KEYHAVEN_EVENT_WEBHOOK_SECRET")
            .stdin(Stdio::null())
            .output()
            .expect("run keyhaven");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("event webhook \"sink\"") && stderr.contains(expected),
            "{stderr}"
        );
        assert!(!stderr.contains("short-secret"), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing printed: {:?}", output.stdout);
    }
}

fn tail(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(["events", "tail", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keyhaven events tail")
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn events_tail_prints_the_retained_log_as_json_lines() {
    let dir = TempDir::new("tail-log");
    let published = publish(&dir.0, &[], 1, 3);

    let all = tail(&dir.0, &["--from-start", "--no-follow"]);
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stderr));
    assert_eq!(json_lines(&all.stdout), published);

    let newer = tail(&dir.0, &["--no-follow"]);
    assert!(newer.status.success());
    assert!(newer.stdout.is_empty(), "only events newer than the end of the log");

    let missing = tail(&dir.0.join("nowhere"), &["--no-follow"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no keyhaven store"));
    assert!(!dir.0.join("nowhere").exists());
}

#[test]
fn events_tail_follows_new_events_until_interrupted() {
    let dir = TempDir::new("tail-follow");
    publish(&dir.0, &[], 1, 1);
    let mut child = Command::new(binary())
        .args(["events", "tail", "--data-dir"])
        .arg(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyhaven events tail");
    // Lines from the child's stdout and stderr, read on threads so that waiting can time out.
    let (lines, incoming) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for (stream, reader) in [
        ("stdout", Box::new(stdout) as Box<dyn std::io::Read + Send>),
        ("stderr", Box::new(stderr)),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let _ = lines.send((stream, line));
            }
        });
    }
    let next = |wanted: &str| loop {
        let (stream, line) = incoming.recv_timeout(WAIT).expect("a line in time");
        if stream == wanted {
            return line;
        }
    };
    assert!(next("stderr").contains("following the event log"));
    let new = publish(&dir.0, &[], 2, 2);
    for expected in &new {
        let line: Value = serde_json::from_str(&next("stdout")).expect("JSON line");
        assert_eq!(&line, expected);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    assert!(child.wait().expect("wait").success(), "exits cleanly on SIGINT");
}
