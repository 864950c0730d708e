//! First-start and every-start setup of a data directory: root key, root credentials, TLS material.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_api::credentials::RootCredential;
use keyhaven_crypto::{RootKey, SecretBytes};
use keyhaven_store::Backend;

const ROOT_KEY_FILE: &str = "root.key";
const CREDENTIALS_FILE: &str = "root-credentials";
const NODE_ID_FILE: &str = "node-id";
const ROOT_KEY_CHECK: &str = "root-key-check";
const SEALED_CREDENTIALS: &str = "root-credentials";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("KEYHAVEN_ROOT_KEY must be the base64 of 32 bytes")]
    RootKeyEnv,
    #[error("{0} does not hold a valid root key (base64 of 32 bytes)")]
    RootKeyFile(PathBuf),
    #[error(
        "the root key does not open the store's sealed data: wrong root key for {0} (the nodes of a shared store need one root key)"
    )]
    WrongRootKey(PathBuf),
    #[error("KEYHAVEN_ROOT_ACCESS_KEY_ID and KEYHAVEN_ROOT_SECRET_ACCESS_KEY must be set together")]
    CredentialsEnv,
    #[error("store: {0}")]
    Store(#[from] keyhaven_store::StoreError),
    #[error("crypto: {0}")]
    Crypto(#[from] keyhaven_crypto::CryptoError),
    #[error("TLS: {0}")]
    Tls(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BootstrapError + '_ {
    move |source| BootstrapError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` to `path` with mode 0600: temp file, fsync, rename, so a crash leaves either
/// nothing or the whole file.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io(&temp))?;
    file.write_all(contents).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    std::fs::rename(&temp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

/// The root key from `KEYHAVEN_ROOT_KEY`, or `<data-dir>/root.key` (created on first start).
pub fn root_key(data_dir: &Path, env_value: Option<String>) -> Result<RootKey, BootstrapError> {
    if let Some(value) = env_value {
        let bytes = SecretBytes::new(B64.decode(value.trim()).map_err(|_| BootstrapError::RootKeyEnv)?);
        return RootKey::from_bytes(bytes.expose()).map_err(|_| BootstrapError::RootKeyEnv);
    }
    let path = data_dir.join(ROOT_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = SecretBytes::new(
                B64.decode(text.trim())
                    .map_err(|_| BootstrapError::RootKeyFile(path.clone()))?,
            );
            RootKey::from_bytes(bytes.expose()).map_err(|_| BootstrapError::RootKeyFile(path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = RootKey::generate()?;
            let encoded = zeroize::Zeroizing::new(B64.encode(key.to_secret().expose()));
            write_private(&path, format!("{}\n", encoded.as_str()).as_bytes())?;
            Ok(key)
        }
        Err(source) => Err(BootstrapError::Io { path, source }),
    }
}

/// This node's name among those sharing a store: `<data-dir>/node-id`, created on first start.
pub fn node_id(data_dir: &Path) -> Result<String, BootstrapError> {
    let path = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = random_chars(16, b"abcdefghijklmnopqrstuvwxyz0123456789")?;
            write_private(&path, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(source) => Err(BootstrapError::Io { path, source }),
    }
}

/// The root key of an existing data directory, for offline tools: never created.
pub fn existing_root_key(data_dir: &Path, env_value: Option<String>) -> Result<RootKey, BootstrapError> {
    let path = data_dir.join(ROOT_KEY_FILE);
    if env_value.is_none() && !path.exists() {
        return Err(BootstrapError::Io {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    root_key(data_dir, env_value)
}

/// Refuses to start with a root key that is not the one this store was sealed with.
pub fn check_root_key(store: &dyn Backend, root: &RootKey, data_dir: &Path) -> Result<(), BootstrapError> {
    match store.meta(ROOT_KEY_CHECK)? {
        Some(sealed) => {
            root.open(ROOT_KEY_CHECK.as_bytes(), &sealed)
                .map_err(|_| BootstrapError::WrongRootKey(data_dir.into()))?;
        }
        None => store.set_meta(ROOT_KEY_CHECK, &root.seal(ROOT_KEY_CHECK.as_bytes(), b"keyhaven")?)?,
    }
    Ok(())
}

fn random_chars(len: usize, alphabet: &[u8]) -> Result<String, BootstrapError> {
    let bytes = keyhaven_crypto::random_bytes(len)?;
    Ok(bytes
        .expose()
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

/// Root credentials: from the environment, else the ones sealed in the store, else new ones written
/// to `<data-dir>/root-credentials` (AWS credentials-file format, profile `keyhaven`) and printed once.
pub fn root_credentials(
    store: &dyn Backend,
    root: &RootKey,
    data_dir: &Path,
    account_id: &str,
    env: (Option<String>, Option<String>),
) -> Result<RootCredential, BootstrapError> {
    let label = SEALED_CREDENTIALS.as_bytes();
    let (access_key_id, secret) = match env {
        (Some(id), Some(secret)) => (id, SecretBytes::new(secret.into_bytes())),
        (None, None) => match store.meta(SEALED_CREDENTIALS)? {
            Some(sealed) => {
                let opened = root
                    .open(label, &sealed)
                    .map_err(|_| BootstrapError::WrongRootKey(data_dir.into()))?;
                let text =
                    std::str::from_utf8(opened.expose()).map_err(|_| BootstrapError::WrongRootKey(data_dir.into()))?;
                let (id, secret) = text
                    .split_once('\n')
                    .ok_or_else(|| BootstrapError::WrongRootKey(data_dir.into()))?;
                (id.to_string(), SecretBytes::from_slice(secret.as_bytes()))
            }
            None => {
                let id = format!("AKIA{}", random_chars(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")?);
                let secret = random_chars(40, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")?;
                let sealed = root.seal(label, zeroize::Zeroizing::new(format!("{id}\n{secret}")).as_bytes())?;
                store.set_meta(SEALED_CREDENTIALS, &sealed)?;
                let path = data_dir.join(CREDENTIALS_FILE);
                let file = zeroize::Zeroizing::new(format!(
                    "[keyhaven]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
                ));
                write_private(&path, file.as_bytes())?;
                println!(
                    "Generated root credentials for account {account_id} (saved to {}, profile keyhaven):",
                    path.display()
                );
                println!("  aws_access_key_id = {id}\n  aws_secret_access_key = {secret}");
                (id, SecretBytes::new(secret.into_bytes()))
            }
        },
        _ => return Err(BootstrapError::CredentialsEnv),
    };
    Ok(RootCredential {
        access_key_id,
        secret_access_key: secret,
        account_id: account_id.to_string(),
    })
}

/// A PEM certificate chain and its PEM private key.
pub struct TlsPem {
    pub cert: Vec<u8>,
    pub key: zeroize::Zeroizing<Vec<u8>>,
}

/// PEM certificate chain and key: given files, or a self-signed pair generated into the data dir.
pub fn tls_material(setting: &crate::config::TlsSetting, data_dir: &Path) -> Result<Option<TlsPem>, BootstrapError> {
    use crate::config::TlsSetting;
    match setting {
        TlsSetting::Off => Ok(None),
        TlsSetting::Files { cert, key } => Ok(Some(TlsPem {
            cert: std::fs::read(cert).map_err(io(cert))?,
            key: std::fs::read(key).map_err(io(key))?.into(),
        })),
        TlsSetting::SelfSigned => {
            let dir = data_dir.join("tls");
            let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
            if cert_path.exists() && key_path.exists() {
                return Ok(Some(TlsPem {
                    cert: std::fs::read(&cert_path).map_err(io(&cert_path))?,
                    key: std::fs::read(&key_path).map_err(io(&key_path))?.into(),
                }));
            }
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&dir)(e)),
                _ => {}
            }
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
            let certified =
                rcgen::generate_simple_self_signed(names).map_err(|e| BootstrapError::Tls(e.to_string()))?;
            let key_pem = zeroize::Zeroizing::new(certified.signing_key.serialize_pem());
            write_private(&key_path, key_pem.as_bytes())?;
            write_private(&cert_path, certified.cert.pem().as_bytes())?;
            Ok(Some(TlsPem {
                cert: certified.cert.pem().into_bytes(),
                key: key_pem.as_bytes().to_vec().into(),
            }))
        }
    }
}
