//! Test support: starts the real `keyhaven` binary on a free port and hands out real AWS clients; `postgres`
//! runs throwaway PostgreSQL clusters.

pub mod postgres;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_kms::config::{Credentials, Region};

/// How a test server runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dev: bool,
    pub account_id: Option<String>,
    /// Root credentials given through the environment instead of generated.
    pub root_credentials: Option<(String, String)>,
    pub extra_args: Vec<String>,
    /// Extra environment variables of the server process.
    pub env: Vec<(String, String)>,
}

/// A running keyhaven with its own data directory.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    options: Options,
}

fn workspace_root() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .parent()
    .expect("workspace root")
    .to_path_buf()
}

/// The keyhaven binary, built once per test run if needed.
pub fn binary() -> PathBuf {
    static BUILD: Once = Once::new();
    if let Ok(path) = std::env::var("KEYHAVEN_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "keyhaven"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building keyhaven failed");
    });
    target.join("debug").join("keyhaven")
}

/// A data directory path that does not exist yet: the server creates it, as on a first start.
pub fn unused_data_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("keyhaven-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Server {
    pub fn start(options: Options) -> Self {
        Self::start_in(unused_data_dir(), options)
    }

    /// Starts on `data_dir`, which the test may have prepared; it is removed when the server is dropped.
    pub fn start_in(data_dir: PathBuf, options: Options) -> Self {
        let mut server = Self {
            child: None,
            endpoint: String::new(),
            data_dir,
            options,
        };
        server.launch();
        server
    }

    pub fn dev() -> Self {
        Self::start(Options {
            dev: true,
            ..Default::default()
        })
    }

    fn launch(&mut self) {
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.options.extra_args)
            .env_remove("KEYHAVEN_ROOT_ACCESS_KEY_ID")
            .env_remove("KEYHAVEN_ROOT_SECRET_ACCESS_KEY")
            .env_remove("KEYHAVEN_EVENT_WEBHOOK_URL")
            .env_remove("KEYHAVEN_EVENT_WEBHOOK_SECRET")
            .env_remove("KEYHAVEN_EVENT_WEBHOOK_CA_FILE")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .env("KEYHAVEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.options.dev {
            command.arg("--dev");
        }
        if let Some(account) = &self.options.account_id {
            command.args(["--account-id", account]);
        }
        if let Some((id, secret)) = &self.options.root_credentials {
            command
                .env("KEYHAVEN_ROOT_ACCESS_KEY_ID", id)
                .env("KEYHAVEN_ROOT_SECRET_ACCESS_KEY", secret);
        }
        let mut child = command.spawn().expect("spawn keyhaven");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("keyhaven exited before listening")
                .expect("read stdout");
            if let Some(rest) = line.strip_prefix("keyhaven listening on ") {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.endpoint = endpoint;
        self.child = Some(child);
    }

    /// The (service, operation, code) answers the running server counted that no model or common error declares
    /// (its `keyhaven_undeclared_errors_total` metric); nothing when it is not running or serves TLS.
    fn undeclared_errors(&self) -> Vec<String> {
        use std::io::{Read, Write};
        let Some(address) = self.endpoint.strip_prefix("http://").filter(|_| self.child.is_some()) else {
            return Vec::new();
        };
        let mut stream = std::net::TcpStream::connect(address).expect("connect for /metrics");
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request /metrics");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read /metrics");
        text.lines()
            .filter(|line| line.starts_with("keyhaven_undeclared_errors_total"))
            .map(str::to_string)
            .collect()
    }

    /// Fails the test, once the server is stopped, if it answered an error code no model or common error declares.
    fn check_error_codes(undeclared: &[String]) {
        if !std::thread::panicking() {
            assert!(
                undeclared.is_empty(),
                "answered error codes the operations' models do not declare: {undeclared:?}"
            );
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let undeclared = self.kill_child();
        Self::check_error_codes(&undeclared);
    }

    /// SIGKILL, returning what `undeclared_errors` said just before.
    fn kill_child(&mut self) -> Vec<String> {
        let undeclared = self.undeclared_errors();
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("wait");
        }
        undeclared
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let undeclared = self.undeclared_errors();
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let clean = child.wait().expect("wait").success();
        Self::check_error_codes(&undeclared);
        clean
    }

    /// Starts again on the same data directory (new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// The root credentials: given ones, or those generated into the data directory.
    pub fn root_credentials(&self) -> (String, String) {
        if let Some(given) = &self.options.root_credentials {
            return given.clone();
        }
        let text = std::fs::read_to_string(self.data_dir.join("root-credentials")).expect("root-credentials file");
        let value = |name: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
                })
                .expect("credential line")
        };
        (value("aws_access_key_id"), value("aws_secret_access_key"))
    }

    /// A KMS client signing with the root credentials (or `test`/`test` in dev mode).
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let (id, secret) = if self.options.dev && self.options.root_credentials.is_none() {
            ("test".to_string(), "test".to_string())
        } else {
            self.root_credentials()
        };
        self.kms_with(&id, &secret, "us-east-1")
    }

    pub fn kms_with(&self, access_key_id: &str, secret: &str, region: &str) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version_latest()
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "keyhaven-tests"))
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }
}

impl Server {
    /// An S3 client signing with the root credentials, path-style (the endpoint is an IP address).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let (id, secret) = self.root_credentials();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "keyhaven-tests",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let undeclared = self.kill_child();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        Self::check_error_codes(&undeclared);
    }
}
