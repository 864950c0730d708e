//! The metadata records of `--metadata-output`, one JSON line per message, in aws-encryption-cli's shape: the header
//! with bytes in base64 (the encryption context as text), the header authentication on decrypt.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_client::MessageInfo;
use keyhaven_client::message::header::ContentType;
use serde_json::{Value, json};

/// Where records go: a file (appended to, or truncated once per run), or standard output.
#[derive(Debug)]
pub enum MetadataSink {
    None,
    Stdout,
    File { path: PathBuf, truncate_first: bool },
}

impl MetadataSink {
    pub fn new(target: Option<&str>, overwrite: bool) -> Result<Self, String> {
        Ok(match target {
            None => Self::None,
            Some("") => return Err("Metadata output file name cannot be empty".into()),
            Some("-") => Self::Stdout,
            Some(path) => {
                let path = PathBuf::from(path);
                if path.is_dir() {
                    return Err("Metadata output cannot be a directory".into());
                }
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    return Err("Parent directory for requested metadata file does not exist.".into());
                }
                Self::File {
                    path,
                    truncate_first: overwrite,
                }
            }
        })
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File { path, .. } => Some(path),
            _ => None,
        }
    }

    pub fn write(&mut self, record: &Value) -> Result<(), String> {
        let line = format!("{record}\n");
        match self {
            Self::None => Ok(()),
            Self::Stdout => std::io::stdout().write_all(line.as_bytes()).map_err(|e| e.to_string()),
            Self::File { path, truncate_first } => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true);
                if std::mem::take(truncate_first) {
                    options.write(true).truncate(true);
                } else {
                    options.append(true);
                }
                let mut file = options.open(&*path).map_err(|e| format!("{}: {e}", path.display()))?;
                file.write_all(line.as_bytes()).map_err(|e| e.to_string())
            }
        }
    }
}

/// The record of one message.
pub fn record(mode: &str, input: &str, output: &str, info: &MessageInfo, decrypting: bool) -> Value {
    let header = &info.header;
    let v1 = header.suite.message_version() == 1;
    let mut keys: Vec<_> = header.data_keys.iter().collect();
    keys.sort_by(|a, b| {
        let a_key = [a.provider_id.as_bytes(), &a.provider_info].concat();
        let b_key = [b.provider_id.as_bytes(), &b.provider_info].concat();
        a_key.cmp(&b_key)
    });
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            json!({
                "encrypted_data_key": B64.encode(&k.ciphertext),
                "key_provider": {"key_info": B64.encode(&k.provider_info), "provider_id": B64.encode(k.provider_id.as_bytes())},
            })
        })
        .collect();
    let context: serde_json::Map<String, Value> = header
        .context
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let mut record = json!({
        "mode": mode,
        "input": input,
        "output": output,
        "header": {
            "version": if v1 { "1.0" } else { "2.0" },
            "type": if v1 { json!(128) } else { Value::Null },
            "algorithm": header.suite.name(),
            "message_id": B64.encode(&header.message_id),
            "encryption_context": context,
            "encrypted_data_keys": keys,
            "content_type": match header.content_type { ContentType::NonFramed => 1, ContentType::Framed => 2 },
            "frame_length": header.frame_length,
            "header_iv_length": if v1 { json!(12) } else { Value::Null },
            "commitment_key": header.commitment.map(|c| Value::from(B64.encode(c))).unwrap_or(Value::Null),
        },
    });
    if decrypting {
        record["header_auth"] = json!({"iv": B64.encode(info.header_auth.iv), "tag": B64.encode(info.header_auth.tag)});
    }
    record
}
