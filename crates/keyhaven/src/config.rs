//! Command line and configuration: flags, then `KEYHAVEN_*` environment variables, then a TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use keyhaven_kernel::audit::Retention;
use keyhaven_ssm::ParameterQuotas;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::listener::ConnectionLimits;

#[derive(Debug, Parser)]
#[command(
    name = "keyhaven",
    version,
    about = "AWS KMS and the AWS security plane, self-hosted"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Check the audit log of a data directory: its keyed chain, from the first kept record to the
    /// sealed head (needs the root key: `<data-dir>/root.key` or KEYHAVEN_ROOT_KEY).
    AuditVerify {
        #[arg(long, env = "KEYHAVEN_DATA_DIR", default_value = "./keyhaven-data")]
        data_dir: PathBuf,
        /// The store the server keeps its records in: `sqlite` (in the data directory) or a PostgreSQL URL.
        #[arg(long, env = "KEYHAVEN_STORE")]
        store: Option<String>,
        /// As `serve --store-ca-file`.
        #[arg(long, env = "KEYHAVEN_STORE_CA_FILE")]
        store_ca_file: Option<PathBuf>,
    },
    /// Print the audit log's CloudTrail records, one JSON object a line, oldest first.
    AuditExport {
        #[arg(long, env = "KEYHAVEN_DATA_DIR", default_value = "./keyhaven-data")]
        data_dir: PathBuf,
        /// The store the server keeps its records in: `sqlite` (in the data directory) or a PostgreSQL URL.
        #[arg(long, env = "KEYHAVEN_STORE")]
        store: Option<String>,
        /// As `serve --store-ca-file`.
        #[arg(long, env = "KEYHAVEN_STORE_CA_FILE")]
        store_ca_file: Option<PathBuf>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Move a single-node installation's store (SQLite in its data directory) into an empty PostgreSQL database,
    /// then read both back and compare them. The root key and object bodies stay in the data directory.
    Migrate {
        /// The data directory of the installation (stopped).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL of the new, empty database.
        #[arg(long)]
        to: String,
        /// As `serve --store-ca-file`.
        #[arg(long, env = "KEYHAVEN_STORE_CA_FILE")]
        store_ca_file: Option<PathBuf>,
    },
    /// Change events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Encrypt files, directories or standard input into AWS Encryption SDK messages (aws-encryption-cli's flags).
    Encrypt(crate::client::EncryptArgs),
    /// Decrypt AWS Encryption SDK messages (aws-encryption-cli's flags).
    Decrypt(crate::client::DecryptArgs),
    /// Run a program with parameters and secrets in its environment.
    Exec(crate::client::ExecArgs),
    /// Write out a template's CloudFormation dynamic references ({{resolve:ssm:...}}, ...) with their values.
    Render(crate::client::RenderArgs),
    /// A local caching agent with the HTTP API of the AWS Parameters and Secrets Lambda extension.
    Agent(crate::client::AgentArgs),
    /// S3 with client-side encryption (the S3 Encryption Client's object format).
    #[command(subcommand)]
    S3(crate::client::S3Command),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print change events from a data directory's event log, one JSON object per line.
    Tail(TailArgs),
}

/// `keyhaven events tail` options.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The data directory of the server.
    #[arg(long, env = "KEYHAVEN_DATA_DIR", default_value = "./keyhaven-data")]
    pub data_dir: PathBuf,
    /// Start with every event the log still retains instead of only new ones.
    #[arg(long)]
    pub from_start: bool,
    /// Print what is in the log and exit instead of waiting for new events.
    #[arg(long)]
    pub no_follow: bool,
    /// The store the server keeps its records in: `sqlite` (in the data directory) or a PostgreSQL URL.
    #[arg(long, env = "KEYHAVEN_STORE")]
    pub store: Option<String>,
    /// As `serve --store-ca-file`.
    #[arg(long, env = "KEYHAVEN_STORE_CA_FILE")]
    pub store_ca_file: Option<PathBuf>,
}

/// `keyhaven serve` options. Every one can also come from the environment or the config file.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:4566].
    #[arg(long, env = "KEYHAVEN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where state is kept [default: ./keyhaven-data].
    #[arg(long, env = "KEYHAVEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Development mode: any unknown access key is accepted as an account root; reset endpoints.
    #[arg(long, env = "KEYHAVEN_DEV", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub dev: Option<bool>,
    /// TOML configuration file (keys as the long flags: listen, data-dir, dev, ...).
    #[arg(long, env = "KEYHAVEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// The account of the root credentials and of dev-mode callers [default: 000000000000].
    #[arg(long, env = "KEYHAVEN_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// PEM certificate chain for TLS.
    #[arg(long, env = "KEYHAVEN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, env = "KEYHAVEN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate generated into the data directory.
    #[arg(long, env = "KEYHAVEN_TLS_SELF_SIGNED", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub tls_self_signed: Option<bool>,
    /// Serve the web console at /_keyhaven/console (every page action is an API call made as the signed-in user).
    #[arg(long, env = "KEYHAVEN_CONSOLE", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub console: Option<bool>,
    /// How long a console sign-in lasts, 900 to 43200 seconds (STS caps the root user and roles further) [default: 3600].
    #[arg(long, env = "KEYHAVEN_CONSOLE_SESSION_SECONDS")]
    pub console_session_seconds: Option<u32>,
    /// Answer every request, reads too, only once its audit record is durable (state changes always wait).
    #[arg(long, env = "KEYHAVEN_AUDIT_STRICT", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub audit_strict: Option<bool>,
    /// Drop audit records older than this many days; 0 keeps them all [default: 90, CloudTrail's event history].
    #[arg(long, env = "KEYHAVEN_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Keep the stored audit log under this many bytes, dropping the oldest records [default: no limit].
    #[arg(long, env = "KEYHAVEN_AUDIT_MAX_BYTES")]
    pub audit_max_bytes: Option<u64>,
    /// Bytes of disk kept in reserve for audit records when the disk fills [default: 8 MiB; 0: none].
    #[arg(long, env = "KEYHAVEN_AUDIT_RESERVE_BYTES")]
    pub audit_reserve_bytes: Option<u64>,
    /// Seconds between deliveries of each logging trail's log files [default: 300, about CloudTrail's 5 minutes].
    #[arg(long, env = "KEYHAVEN_TRAIL_DELIVERY_SECONDS")]
    pub trail_delivery_seconds: Option<u32>,
    /// Ship the server's own log into this CloudWatch Logs group of the server's account, `[REGION:]GROUP`
    /// (us-east-1 unless a Region is given), one stream per node [default: not shipped].
    #[arg(long, env = "KEYHAVEN_SERVER_LOG_GROUP")]
    pub server_log_group: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "KEYHAVEN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Standard-tier parameters per account and Region [default: 10000, AWS's quota].
    #[arg(long, env = "KEYHAVEN_SSM_STANDARD_PARAMETER_LIMIT")]
    pub ssm_standard_parameter_limit: Option<u64>,
    /// Advanced-tier parameters per account and Region [default: 100000, AWS's quota].
    #[arg(long, env = "KEYHAVEN_SSM_ADVANCED_PARAMETER_LIMIT")]
    pub ssm_advanced_parameter_limit: Option<u64>,
    /// KMS request quotas: `aws` (AWS's defaults), `off`, or `aws` with `,NAME=RATE` overrides in requests per
    /// second (`CreateKey=5`, `symmetric`, `rsa`, `ecc`, `ml-dsa`, `GenerateDataKeyPair(RSA_2048)`, ...)
    /// [default: aws; off with --dev].
    #[arg(long, env = "KEYHAVEN_KMS_REQUEST_QUOTAS")]
    pub kms_request_quotas: Option<String>,
    /// An HSM cluster custom key stores can use: `cluster-<id>=<PKCS#11 module path>:<token label>` (repeatable;
    /// the id is what CreateCustomKeyStore's CloudHsmClusterId names).
    #[arg(long = "hsm-cluster", env = "KEYHAVEN_HSM_CLUSTERS", value_delimiter = ',')]
    pub hsm_clusters: Vec<String>,
    /// Connections served at once; more wait until one closes [default: 4096].
    #[arg(long, env = "KEYHAVEN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers, idle keep-alive connections included [default: 30].
    #[arg(long, env = "KEYHAVEN_HEADER_TIMEOUT_SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a request's body may stall (no bytes arriving) before the connection is closed [default: 30].
    #[arg(long, env = "KEYHAVEN_BODY_TIMEOUT_SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// Base domain of S3's virtual-hosted addressing: `<bucket>.<domain>` names a bucket (as does
    /// `<bucket>.localhost`) [default: s3.localhost].
    #[arg(long, env = "KEYHAVEN_S3_DOMAIN")]
    pub s3_domain: Option<String>,
    /// Where records live: `sqlite` (a database in the data directory) or a PostgreSQL URL
    /// (`postgres://user@host/db`), which several nodes can share [default: sqlite].
    #[arg(long, env = "KEYHAVEN_STORE")]
    pub store: Option<String>,
    /// Connections a node opens to PostgreSQL at most [default: 16].
    #[arg(long, env = "KEYHAVEN_STORE_CONNECTIONS")]
    pub store_connections: Option<usize>,
    /// PEM certificates of the authorities PostgreSQL's certificate must chain to: with them the node speaks TLS
    /// as the URL's `sslmode` asks (`require` refuses an unencrypted connection) and checks the server's name.
    #[arg(long, env = "KEYHAVEN_STORE_CA_FILE")]
    pub store_ca_file: Option<PathBuf>,
    /// A directory for S3 object bodies that several nodes share (a shared filesystem) [default: the data
    /// directory's own `objects`, for this node alone].
    #[arg(long, env = "KEYHAVEN_OBJECTS_DIR")]
    pub objects_dir: Option<PathBuf>,
    /// Keep S3 object bodies in the PostgreSQL store's database (nodes need no shared filesystem).
    #[arg(long, env = "KEYHAVEN_OBJECTS_IN_DATABASE", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub objects_in_database: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The config file's shape; the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    dev: Option<bool>,
    account_id: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    audit_strict: Option<bool>,
    console: Option<bool>,
    console_session_seconds: Option<u32>,
    audit_retention_days: Option<u32>,
    audit_max_bytes: Option<u64>,
    audit_reserve_bytes: Option<u64>,
    trail_delivery_seconds: Option<u32>,
    server_log_group: Option<String>,
    log_format: Option<LogFormat>,
    ssm_standard_parameter_limit: Option<u64>,
    kms_request_quotas: Option<String>,
    hsm_clusters: Option<Vec<String>>,
    ssm_advanced_parameter_limit: Option<u64>,
    max_connections: Option<usize>,
    header_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    s3_domain: Option<String>,
    store: Option<String>,
    store_connections: Option<usize>,
    store_ca_file: Option<PathBuf>,
    objects_dir: Option<PathBuf>,
    objects_in_database: Option<bool>,
    #[serde(default)]
    event_webhooks: Vec<FileWebhook>,
    #[serde(default)]
    rotation_functions: Vec<FileRotationFunction>,
}

/// One `[[rotation-functions]]` table: the ARN a secret's `RotationLambdaARN` names, and exactly
/// one of `builtin`, `url` (+ `secret`, `ca-file`) or `command` (+ `role-arn`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileRotationFunction {
    arn: String,
    builtin: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    ca_file: Option<PathBuf>,
    command: Option<Vec<String>>,
    role_arn: Option<String>,
    timeout_seconds: Option<u64>,
}

/// The built-in rotators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRotator {
    /// Regenerates the `password` field of a JSON secret, or the whole string.
    RandomPassword,
    /// Changes a PostgreSQL role's own password (the secret's host/port/username/password/dbname).
    PostgresqlSingleUser,
}

/// What a rotation function runs.
#[derive(Debug, Clone)]
pub enum RotationTarget {
    Builtin(BuiltinRotator),
    /// Each step event is POSTed, signed like change events; a 2xx answer is success.
    Webhook(WebhookConfig),
    /// The step event on stdin, the role's temporary credentials in the environment; exit 0 is success.
    Command {
        argv: Vec<String>,
        role_arn: String,
    },
}

/// A registered rotation function.
#[derive(Debug, Clone)]
pub struct RotationFunctionConfig {
    pub arn: String,
    pub target: RotationTarget,
    /// How long one step may take.
    pub timeout: std::time::Duration,
}

const DEFAULT_ROTATION_STEP_SECONDS: u64 = 60;
const DEFAULT_AUDIT_RESERVE_BYTES: u64 = 8 * 1024 * 1024;
/// CloudTrail keeps its event history this long.
const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 90;

fn rotation_functions(file: Vec<FileRotationFunction>) -> Result<Vec<RotationFunctionConfig>, ConfigError> {
    let mut out: Vec<RotationFunctionConfig> = Vec::with_capacity(file.len());
    for entry in file {
        let invalid = |reason: &str| ConfigError::RotationFunction {
            arn: entry.arn.clone(),
            reason: reason.to_string(),
        };
        if !entry.arn.starts_with("arn:") {
            return Err(invalid(
                "arn must be an ARN, such as arn:aws:lambda:us-east-1:123456789012:function:rotate",
            ));
        }
        if out.iter().any(|f| f.arn == entry.arn) {
            return Err(invalid("is configured twice"));
        }
        let target = match (&entry.builtin, &entry.url, &entry.command) {
            (Some(builtin), None, None) => RotationTarget::Builtin(match builtin.as_str() {
                "random-password" => BuiltinRotator::RandomPassword,
                "postgresql-single-user" => BuiltinRotator::PostgresqlSingleUser,
                _ => {
                    return Err(invalid(
                        "builtin must be \"random-password\" or \"postgresql-single-user\"",
                    ));
                }
            }),
            (None, Some(url), None) => {
                let secret = entry.secret.clone().ok_or_else(|| invalid("a url needs a secret"))?;
                let webhook =
                    WebhookConfig::parse("rotation".into(), url, Zeroizing::new(secret), entry.ca_file.clone())
                        .map_err(|e| invalid(&e.to_string()))?;
                RotationTarget::Webhook(webhook)
            }
            (None, None, Some(argv)) => {
                if argv.is_empty() {
                    return Err(invalid("command must name a program"));
                }
                let role_arn = entry
                    .role_arn
                    .clone()
                    .ok_or_else(|| invalid("a command needs a role-arn"))?;
                RotationTarget::Command {
                    argv: argv.clone(),
                    role_arn,
                }
            }
            _ => return Err(invalid("give exactly one of builtin, url or command")),
        };
        out.push(RotationFunctionConfig {
            arn: entry.arn.clone(),
            target,
            timeout: std::time::Duration::from_secs(entry.timeout_seconds.unwrap_or(DEFAULT_ROTATION_STEP_SECONDS)),
        });
    }
    Ok(out)
}

/// One `[[event-webhooks]]` table of the config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileWebhook {
    name: String,
    url: String,
    secret: String,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for FileRotationFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRotationFunction")
            .field("arn", &self.arn)
            .field("builtin", &self.builtin)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("command", &self.command)
            .field("role_arn", &self.role_arn)
            .finish()
    }
}

impl std::fmt::Debug for FileWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The name of the webhook target given through the environment.
pub const ENV_WEBHOOK_NAME: &str = "default";
/// Shortest accepted webhook secret, in bytes.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;
const MAX_WEBHOOK_NAME_CHARS: usize = 64;

/// A change-event delivery target: events are POSTed to `url`, signed with `secret`.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Names the target's outbox: 1 to 64 of `[A-Za-z0-9_-]`, unique.
    pub name: String,
    /// `http://` or `https://`.
    pub url: hyper::Uri,
    /// The HMAC-SHA256 key; never logged or printed.
    pub secret: Zeroizing<String>,
    /// PEM roots to trust for `https://` instead of the system bundle.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl WebhookConfig {
    /// Checks one target's name, URL and secret.
    fn parse(
        name: String,
        url: &str,
        secret: Zeroizing<String>,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Webhook {
            name: name.clone(),
            reason,
        };
        if name.is_empty()
            || name.chars().count() > MAX_WEBHOOK_NAME_CHARS
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(format!(
                "the name must be 1 to {MAX_WEBHOOK_NAME_CHARS} characters of A-Z, a-z, 0-9, '_' and '-'"
            )));
        }
        let parsed: hyper::Uri = url
            .parse()
            .map_err(|e| invalid(format!("url {url:?} is not a valid URL: {e}")))?;
        match parsed.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(invalid(format!("url {url:?} must start with http:// or https://"))),
        }
        match parsed.authority() {
            None => return Err(invalid(format!("url {url:?} has no host"))),
            Some(authority) if authority.host().is_empty() => {
                return Err(invalid(format!("url {url:?} has no host")));
            }
            Some(authority) if authority.as_str().contains('@') => {
                // Not quoted: the part before '@' is a credential.
                return Err(invalid("the url must not contain credentials (user:password@)".into()));
            }
            Some(_) => {}
        }
        if secret.len() < MIN_WEBHOOK_SECRET_BYTES {
            return Err(invalid(format!(
                "the secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes long"
            )));
        }
        Ok(Self {
            name,
            url: parsed,
            secret,
            ca_file,
        })
    }
}

/// How TLS is set up, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSetting {
    Off,
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The resolved server configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub dev: bool,
    pub account_id: String,
    pub tls: TlsSetting,
    pub audit_strict: bool,
    /// The web console's settings when it is on.
    pub console: Option<keyhaven_console::Settings>,
    pub audit_retention: Retention,
    pub audit_reserve_bytes: u64,
    pub trail_delivery: keyhaven_cloudtrail::DeliverySettings,
    /// Where the server's own log is shipped: (Region, log group).
    pub server_log_group: Option<(String, String)>,
    pub log_format: LogFormat,
    pub parameter_quotas: ParameterQuotas,
    pub kms_request_quotas: keyhaven_kms::quotas::QuotaSettings,
    pub hsm_clusters: std::collections::HashMap<String, keyhaven_kms::Cluster>,
    /// Where change events are delivered; the names are the core's event targets.
    pub event_webhooks: Vec<WebhookConfig>,
    /// The functions secrets can be rotated with, by ARN.
    pub rotation_functions: Vec<RotationFunctionConfig>,
    pub connection_limits: ConnectionLimits,
    /// Base domain of S3's virtual-hosted addressing.
    pub s3_domain: String,
    pub store: StoreSetting,
    pub objects: ObjectsSetting,
}

/// Where S3 object bodies are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectsSetting {
    /// The data directory's own `objects`, for this node alone.
    DataDir,
    /// A directory several nodes share.
    Shared(PathBuf),
    /// The PostgreSQL store's database.
    Database,
}

fn objects_setting(
    shared_dir: Option<PathBuf>,
    in_database: bool,
    store: &StoreSetting,
) -> Result<ObjectsSetting, ConfigError> {
    match (shared_dir, in_database) {
        (Some(_), true) => Err(ConfigError::ObjectsConflict),
        (None, true) if *store == StoreSetting::Sqlite => Err(ConfigError::ObjectsInSqlite),
        (None, true) => Ok(ObjectsSetting::Database),
        (Some(dir), false) => Ok(ObjectsSetting::Shared(dir)),
        (None, false) => Ok(ObjectsSetting::DataDir),
    }
}

/// Where the server keeps its records. Its debug output leaves out a password the URL carries.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSetting {
    /// The embedded database in the data directory.
    Sqlite,
    Postgres {
        url: String,
        max_connections: usize,
        /// The authorities TLS to PostgreSQL checks the server against.
        ca_file: Option<PathBuf>,
    },
}

impl std::fmt::Debug for StoreSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSetting::Sqlite => f.write_str("Sqlite"),
            StoreSetting::Postgres {
                url,
                max_connections,
                ca_file,
            } => f
                .debug_struct("Postgres")
                .field("url", &without_password(url))
                .field("max_connections", max_connections)
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

/// A `postgres://user:password@host/...` URL with its password replaced.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if rest[..at].contains(':') => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>{}", &rest[at..])
        }
        _ if rest.contains("password=") => "<redacted>".into(),
        _ => url.to_string(),
    }
}

const DEFAULT_STORE_CONNECTIONS: usize = 16;

pub fn store_setting(
    configured: Option<String>,
    max_connections: Option<usize>,
    ca_file: Option<PathBuf>,
) -> Result<StoreSetting, ConfigError> {
    match configured.as_deref() {
        None | Some("sqlite") => Ok(StoreSetting::Sqlite),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(StoreSetting::Postgres {
            url: url.to_string(),
            max_connections: max_connections.unwrap_or(DEFAULT_STORE_CONNECTIONS).max(1),
            ca_file,
        }),
        Some(_) => Err(ConfigError::Store),
    }
}

const DEFAULT_MAX_CONNECTIONS: usize = 4096;
const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 30;
const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 30;
/// The longest timeout accepted: a day is already far beyond any client's patience, and the bound keeps deadline
/// arithmetic from overflowing.
const MAX_TIMEOUT_SECONDS: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("account id {0:?} must be 12 digits")]
    AccountId(String),
    #[error("--kms-request-quotas: {0}")]
    KmsRequestQuotas(String),
    #[error("--hsm-cluster: {0}")]
    HsmCluster(String),
    #[error("--console-session-seconds must be from 900 to 43200, not {0}")]
    ConsoleSessionSeconds(u32),
    #[error("--tls-cert/--tls-key and --tls-self-signed cannot be used together")]
    TlsConflict,
    #[error("event webhook {name:?}: {reason}")]
    Webhook { name: String, reason: String },
    #[error("rotation function {arn:?}: {reason}")]
    RotationFunction { arn: String, reason: String },
    #[error("event webhook {0:?} is configured twice")]
    DuplicateWebhook(String),
    #[error("KEYHAVEN_EVENT_WEBHOOK_URL and KEYHAVEN_EVENT_WEBHOOK_SECRET must be set together")]
    IncompleteWebhookEnvironment,
    #[error("{option} must be from 1 to {max}, not {value}")]
    OutOfRange { option: &'static str, value: u64, max: u64 },
    #[error("--objects-dir and --objects-in-database cannot be used together")]
    ObjectsConflict,
    #[error("--objects-in-database needs a PostgreSQL store (--store postgres://...)")]
    ObjectsInSqlite,
    #[error("s3-domain {0:?} must be a DNS name, such as s3.example.internal")]
    S3Domain(String),
    #[error("store must be `sqlite` or a postgres:// URL")]
    Store,
}

/// The virtual-hosted base domain, refused unless it is a DNS name: dot-separated labels of letters, digits and
/// hyphens, 63 characters each at most, 253 in all.
fn s3_domain(configured: Option<String>) -> Result<String, ConfigError> {
    let Some(domain) = configured else {
        return Ok(keyhaven_api::protocol::rest_xml::DEFAULT_DOMAIN.to_string());
    };
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if domain.len() <= 253 && domain.split('.').all(label_ok) {
        Ok(domain.to_ascii_lowercase())
    } else {
        Err(ConfigError::S3Domain(domain))
    }
}

/// `value`, refused unless it is from 1 to `max`.
fn in_range(option: &'static str, value: u64, max: u64) -> Result<u64, ConfigError> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange { option, value, max })
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    // The file may hold webhook secrets.
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?);
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: parse_error_message(&text, &e),
    })
}

/// The parser's message with its position, but without the quoted source line, which could be a secret.
fn parse_error_message(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", error.message())
        }
        None => error.message().to_string(),
    }
}

/// The configured webhooks: the file's `[[event-webhooks]]`, then the one from the environment.
fn webhooks(file: Vec<FileWebhook>, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut targets = Vec::with_capacity(file.len() + 1);
    for entry in file {
        targets.push(WebhookConfig::parse(
            entry.name,
            &entry.url,
            Zeroizing::new(entry.secret),
            entry.ca_file,
        )?);
    }
    let url = env("KEYHAVEN_EVENT_WEBHOOK_URL").filter(|v| !v.is_empty());
    let secret = env("KEYHAVEN_EVENT_WEBHOOK_SECRET")
        .filter(|v| !v.is_empty())
        .map(Zeroizing::new);
    match (url, secret) {
        (Some(url), Some(secret)) => targets.push(WebhookConfig::parse(
            ENV_WEBHOOK_NAME.into(),
            &url,
            secret,
            env("KEYHAVEN_EVENT_WEBHOOK_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        )?),
        (None, None) => {}
        _ => return Err(ConfigError::IncompleteWebhookEnvironment),
    }
    for (i, target) in targets.iter().enumerate() {
        if targets[..i].iter().any(|t| t.name == target.name) {
            return Err(ConfigError::DuplicateWebhook(target.name.clone()));
        }
    }
    Ok(targets)
}

impl ServeArgs {
    /// Flags and environment win over the file; the file wins over defaults.
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
        self.resolve_with_env(&|name| std::env::var(name).ok())
    }

    /// [`ServeArgs::resolve`] with the variables that have no flag read through `env`.
    fn resolve_with_env(self, env: &dyn Fn(&str) -> Option<String>) -> Result<ServeConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let account_id = self
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ConfigError::AccountId(account_id));
        }
        let max_connections = in_range(
            "max-connections",
            self.max_connections
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS) as u64,
            tokio::sync::Semaphore::MAX_PERMITS as u64,
        )?;
        let timeout = |option, value: Option<u64>, default| {
            in_range(option, value.unwrap_or(default), MAX_TIMEOUT_SECONDS).map(Duration::from_secs)
        };
        let store = store_setting(
            self.store.or(file.store),
            self.store_connections.or(file.store_connections),
            self.store_ca_file.or(file.store_ca_file),
        )?;
        let connection_limits = ConnectionLimits {
            max_connections: max_connections as usize,
            header_timeout: timeout(
                "header-timeout-seconds",
                self.header_timeout_seconds.or(file.header_timeout_seconds),
                DEFAULT_HEADER_TIMEOUT_SECONDS,
            )?,
            body_timeout: timeout(
                "body-timeout-seconds",
                self.body_timeout_seconds.or(file.body_timeout_seconds),
                DEFAULT_BODY_TIMEOUT_SECONDS,
            )?,
        };
        let cert = self.tls_cert.or(file.tls_cert);
        let key = self.tls_key.or(file.tls_key);
        let self_signed = self.tls_self_signed.or(file.tls_self_signed).unwrap_or(false);
        let tls = match (cert, key, self_signed) {
            (Some(_), _, true) | (_, Some(_), true) => return Err(ConfigError::TlsConflict),
            (Some(cert), Some(key), false) => TlsSetting::Files { cert, key },
            (None, None, true) => TlsSetting::SelfSigned,
            _ => TlsSetting::Off,
        };
        Ok(ServeConfig {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4566))),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./keyhaven-data")),
            dev: self.dev.or(file.dev).unwrap_or(false),
            account_id,
            tls,
            audit_strict: self.audit_strict.or(file.audit_strict).unwrap_or(false),
            console: console_settings(
                self.console.or(file.console).unwrap_or(false),
                self.console_session_seconds.or(file.console_session_seconds),
            )?,
            audit_retention: Retention {
                max_age_seconds: self
                    .audit_retention_days
                    .or(file.audit_retention_days)
                    .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS)
                    .checked_mul(86_400)
                    .filter(|seconds| *seconds > 0)
                    .map(i64::from),
                max_bytes: self.audit_max_bytes.or(file.audit_max_bytes),
                ..Default::default()
            },
            audit_reserve_bytes: self
                .audit_reserve_bytes
                .or(file.audit_reserve_bytes)
                .unwrap_or(DEFAULT_AUDIT_RESERVE_BYTES),
            trail_delivery: keyhaven_cloudtrail::DeliverySettings {
                interval_seconds: self
                    .trail_delivery_seconds
                    .or(file.trail_delivery_seconds)
                    .filter(|seconds| *seconds > 0)
                    .map_or(
                        keyhaven_cloudtrail::DeliverySettings::default().interval_seconds,
                        i64::from,
                    ),
                ..Default::default()
            },
            server_log_group: self
                .server_log_group
                .or(file.server_log_group)
                .map(|text| match text.split_once(':') {
                    Some((region, group)) => (region.to_string(), group.to_string()),
                    None => ("us-east-1".to_string(), text),
                }),
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            parameter_quotas: ParameterQuotas {
                standard: self
                    .ssm_standard_parameter_limit
                    .or(file.ssm_standard_parameter_limit)
                    .unwrap_or(ParameterQuotas::default().standard),
                advanced: self
                    .ssm_advanced_parameter_limit
                    .or(file.ssm_advanced_parameter_limit)
                    .unwrap_or(ParameterQuotas::default().advanced),
            },
            kms_request_quotas: {
                let dev = self.dev.or(file.dev).unwrap_or(false);
                let text = self.kms_request_quotas.or(file.kms_request_quotas);
                keyhaven_kms::quotas::QuotaSettings::parse(text.as_deref().unwrap_or(if dev { "off" } else { "aws" }))
                    .map_err(ConfigError::KmsRequestQuotas)?
            },
            hsm_clusters: {
                let listed = if self.hsm_clusters.is_empty() {
                    file.hsm_clusters.unwrap_or_default()
                } else {
                    self.hsm_clusters
                };
                listed
                    .iter()
                    .map(|text| keyhaven_kms::parse_cluster(text))
                    .collect::<Result<_, _>>()
                    .map_err(ConfigError::HsmCluster)?
            },
            event_webhooks: webhooks(file.event_webhooks, env)?,
            rotation_functions: rotation_functions(file.rotation_functions)?,
            connection_limits,
            s3_domain: s3_domain(self.s3_domain.or(file.s3_domain))?,
            objects: objects_setting(
                self.objects_dir.or(file.objects_dir),
                self.objects_in_database.or(file.objects_in_database).unwrap_or(false),
                &store,
            )?,
            store,
        })
    }
}

/// The console's settings when it is on; its session length within GetSessionToken's range.
fn console_settings(on: bool, session_seconds: Option<u32>) -> Result<Option<keyhaven_console::Settings>, ConfigError> {
    let defaults = keyhaven_console::Settings::default();
    let session_seconds = match session_seconds {
        None => defaults.session_seconds,
        Some(seconds @ 900..=43_200) => i64::from(seconds),
        Some(other) => return Err(ConfigError::ConsoleSessionSeconds(other)),
    };
    Ok(on.then_some(keyhaven_console::Settings { session_seconds }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("keyhaven-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("keyhaven.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ndata-dir = \"/var/lib/kh\"\naccount-id = \"111122223333\"\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            ..Default::default()
        };
        let config = args.resolve().expect("resolve");
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/kh"));
        assert_eq!(config.account_id, "111122223333");
        assert!(!config.dev);
        let defaults = ServeArgs::default().resolve().expect("defaults");
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:4566");
        assert_eq!(defaults.account_id, "000000000000");
        std::fs::write(&path, "bogus = 1\n").expect("write");
        assert!(matches!(
            ServeArgs {
                config: Some(path),
                ..Default::default()
            }
            .resolve(),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            ServeArgs {
                account_id: Some("12".into()),
                ..Default::default()
            }
            .resolve(),
            Err(ConfigError::AccountId(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn connection_limits_come_from_flags_then_the_file_then_defaults() {
        let defaults = ServeArgs::default().resolve().expect("defaults").connection_limits;
        assert_eq!(
            defaults,
            ConnectionLimits {
                max_connections: 4096,
                header_timeout: Duration::from_secs(30),
                body_timeout: Duration::from_secs(30),
            }
        );
        let file = "max-connections = 10\nheader-timeout-seconds = 5\nbody-timeout-seconds = 7\n";
        let from_file = resolve_file("limits", file, &[]).expect("resolve").connection_limits;
        assert_eq!(
            from_file,
            ConnectionLimits {
                max_connections: 10,
                header_timeout: Duration::from_secs(5),
                body_timeout: Duration::from_secs(7),
            }
        );
        let refused = [
            ("max-connections = 0\n", "max-connections must be from 1"),
            (
                "header-timeout-seconds = 0\n",
                "header-timeout-seconds must be from 1 to 86400, not 0",
            ),
            (
                "body-timeout-seconds = 86401\n",
                "body-timeout-seconds must be from 1 to 86400, not 86401",
            ),
        ];
        for (i, (file, expected)) in refused.iter().enumerate() {
            let error = resolve_file(&format!("limits{i}"), file, &[])
                .expect_err(file)
                .to_string();
            assert!(error.contains(expected), "{file}: {error}");
        }
        let flagged = ServeArgs {
            max_connections: Some(2),
            header_timeout_seconds: Some(1),
            ..Default::default()
        }
        .resolve()
        .expect("flags")
        .connection_limits;
        assert_eq!(
            (flagged.max_connections, flagged.header_timeout),
            (2, Duration::from_secs(1))
        );
    }

    #[test]
    fn the_s3_domain_is_a_dns_name_from_the_flag_then_the_file() {
        assert_eq!(
            ServeArgs::default().resolve().expect("defaults").s3_domain,
            "s3.localhost"
        );
        let from_file = resolve_file("domain", "s3-domain = \"S3.Example.Internal\"\n", &[]).expect("file");
        assert_eq!(from_file.s3_domain, "s3.example.internal");
        for bad in [
            "",
            "s3..internal",
            "-s3.internal",
            "s3_bucket.internal",
            "s3.internal.",
            &"a".repeat(64),
        ] {
            let args = ServeArgs {
                s3_domain: Some(bad.to_string()),
                ..Default::default()
            };
            assert!(matches!(args.resolve(), Err(ConfigError::S3Domain(_))), "{bad:?}");
        }
    }

    const SECRET: &str = "0123456789abcdef-shared";

    fn resolve_file(name: &str, contents: &str, env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!("keyhaven-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("keyhaven.toml");
        std::fs::write(&path, contents).expect("write");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let result = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve_with_env(&lookup);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn webhook(name: &str, url: &str, secret: &str) -> String {
        format!("[[event-webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{secret}\"\n")
    }

    #[test]
    fn webhooks_come_from_the_file_and_the_environment() {
        let file = format!(
            "{}ca-file = \"/etc/keyhaven/ca.pem\"\n{}",
            webhook("audit-sink", "https://hooks.example.com/in", SECRET),
            webhook("second_1", "http://127.0.0.1:9000/hook", SECRET)
        );
        let config = resolve_file(
            "webhooks",
            &file,
            &[
                ("KEYHAVEN_EVENT_WEBHOOK_URL", "http://[::1]:8080/"),
                ("KEYHAVEN_EVENT_WEBHOOK_SECRET", "another secret of 24 b"),
            ],
        )
        .expect("resolve");
        let names: Vec<_> = config.event_webhooks.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["audit-sink", "second_1", "default"]);
        let first = &config.event_webhooks[0];
        assert_eq!(first.url.host(), Some("hooks.example.com"));
        assert_eq!(first.secret.as_str(), SECRET);
        assert_eq!(first.ca_file.as_deref(), Some(Path::new("/etc/keyhaven/ca.pem")));
        assert_eq!(config.event_webhooks[2].secret.as_str(), "another secret of 24 b");
        assert!(
            resolve_file("none", "", &[])
                .expect("resolve")
                .event_webhooks
                .is_empty()
        );
    }

    #[test]
    fn object_bodies_go_to_the_data_directory_a_shared_one_or_the_database() {
        let resolve = |store: Option<&str>, objects_dir: Option<&str>, in_database: Option<bool>| {
            ServeArgs {
                store: store.map(str::to_string),
                objects_dir: objects_dir.map(PathBuf::from),
                objects_in_database: in_database,
                ..Default::default()
            }
            .resolve()
            .map(|config| config.objects)
        };
        const URL: &str = "postgres://keyhaven@db.internal/keyhaven";
        assert_eq!(resolve(None, None, None).expect("default"), ObjectsSetting::DataDir);
        assert_eq!(
            resolve(Some(URL), Some("/shared"), None).expect("shared"),
            ObjectsSetting::Shared(PathBuf::from("/shared"))
        );
        assert_eq!(
            resolve(Some(URL), None, Some(true)).expect("database"),
            ObjectsSetting::Database
        );
        assert!(matches!(
            resolve(Some(URL), Some("/shared"), Some(true)),
            Err(ConfigError::ObjectsConflict)
        ));
        assert!(matches!(
            resolve(None, None, Some(true)),
            Err(ConfigError::ObjectsInSqlite)
        ));
        let from_file = resolve_file(
            "objects",
            &format!("store = \"{URL}\"\nobjects-in-database = true\n"),
            &[],
        )
        .expect("file");
        assert_eq!(from_file.objects, ObjectsSetting::Database);
    }

    #[test]
    fn a_store_password_stays_out_of_debug_output() {
        for (url, shown) in [
            (
                "postgres://keyhaven:s3cr3t-pw@db.internal:5432/keyhaven",
                "postgres://keyhaven:<redacted>@db.internal:5432/keyhaven",
            ),
            (
                "postgres://keyhaven@db.internal/keyhaven",
                "postgres://keyhaven@db.internal/keyhaven",
            ),
            ("postgres://db.internal/keyhaven?password=s3cr3t-pw", "<redacted>"),
        ] {
            let setting = store_setting(Some(url.into()), None, None).expect("a postgres URL");
            let debug = format!("{setting:?}");
            assert!(debug.contains(shown) && !debug.contains("s3cr3t-pw"), "{debug}");
        }
    }

    #[test]
    fn webhook_secrets_stay_out_of_debug_output_and_errors() {
        let config = resolve_file("debug", &webhook("a", "http://localhost/", SECRET), &[]).expect("resolve");
        let shown = format!("{config:?}");
        assert!(shown.contains("<redacted>") && !shown.contains(SECRET), "{shown}");
        // A mistake on the line after the secret: the message must not quote the file.
        let error = resolve_file(
            "typo",
            &format!("{}sekret = \"{SECRET}\"\n", webhook("a", "http://localhost/", SECRET)),
            &[],
        )
        .expect_err("unknown key");
        let shown = error.to_string();
        assert!(shown.contains("line 5") && shown.contains("sekret"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn bad_webhooks_are_refused_with_a_reason() {
        let cases = [
            (webhook("bad name", "http://localhost/", SECRET), "the name must be"),
            (webhook("", "http://localhost/", SECRET), "the name must be"),
            (
                webhook(&"n".repeat(65), "http://localhost/", SECRET),
                "the name must be",
            ),
            (
                webhook("a", "ftp://localhost/", SECRET),
                "must start with http:// or https://",
            ),
            (
                webhook("a", "localhost:9000", SECRET),
                "must start with http:// or https://",
            ),
            (webhook("a", "http://", SECRET), "not a valid URL"),
            (
                webhook("a", "http://u:p@localhost/", SECRET),
                "must not contain credentials",
            ),
            (webhook("a", "http://localhost/", "too short"), "at least 16 bytes"),
            (
                format!(
                    "{}{}",
                    webhook("a", "http://localhost/", SECRET),
                    webhook("a", "http://localhost/", SECRET)
                ),
                "configured twice",
            ),
            (
                "[[event-webhooks]]\nname = \"a\"\nurl = \"http://localhost/\"\n".into(),
                "missing field `secret`",
            ),
        ];
        for (i, (file, expected)) in cases.iter().enumerate() {
            let error = resolve_file(&format!("bad{i}"), file, &[]).expect_err(file).to_string();
            assert!(error.contains(expected), "{file}: {error}");
            assert!(!error.contains(SECRET) && !error.contains("too short"), "{error}");
        }
        let env_only_url = resolve_file("env-url", "", &[("KEYHAVEN_EVENT_WEBHOOK_URL", "http://localhost/")]);
        assert!(matches!(env_only_url, Err(ConfigError::IncompleteWebhookEnvironment)));
        let env_duplicate = resolve_file(
            "env-duplicate",
            &webhook("default", "http://localhost/", SECRET),
            &[
                ("KEYHAVEN_EVENT_WEBHOOK_URL", "http://localhost/"),
                ("KEYHAVEN_EVENT_WEBHOOK_SECRET", SECRET),
            ],
        );
        assert!(matches!(env_duplicate, Err(ConfigError::DuplicateWebhook(name)) if name == "default"));
    }
}
