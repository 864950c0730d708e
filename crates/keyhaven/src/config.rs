//! Command line and configuration: flags, then `KEYHAVEN_*` environment variables, then a TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

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
    Serve(ServeArgs),
    /// Check the hash chain of the audit log in a data directory.
    AuditVerify {
        #[arg(long, env = "KEYHAVEN_DATA_DIR", default_value = "./keyhaven-data")]
        data_dir: PathBuf,
    },
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
    /// Answer each request only once its audit record is durable.
    #[arg(long, env = "KEYHAVEN_AUDIT_STRICT", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub audit_strict: Option<bool>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "KEYHAVEN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
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
    log_format: Option<LogFormat>,
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
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("account id {0:?} must be 12 digits")]
    AccountId(String),
    #[error("--tls-cert/--tls-key and --tls-self-signed cannot be used together")]
    TlsConflict,
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string(),
    })
}

impl ServeArgs {
    /// Flags and environment win over the file; the file wins over defaults.
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
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
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
        })
    }
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
}
