//! `-w/--wrapping-keys` as aws-encryption-cli takes them, made into keyrings: AWS KMS keys (`key=`, `region=`,
//! `profile=`), KMS discovery (`discovery=true`, `discovery-partition=`, `discovery-account=`), and raw keys the
//! caller holds (`provider=raw-aes` / `provider=raw-rsa`, keyhaven's own).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use keyhaven_client::Keyring;
use keyhaven_client::keyring::kms::DiscoveryFilter;
use keyhaven_client::keyring::{
    KmsClients, KmsDiscoveryKeyring, KmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring,
};
use keyhaven_crypto::envelope::RsaPadding;

use super::UsageError;

const KMS_PROVIDERS: [&str; 2] = ["aws-kms", "aws-encryption-sdk-cli::aws-kms"];

/// One `-w` group: its `name=value` tokens, repeated names kept in order.
struct Group(HashMap<String, Vec<String>>);

impl Group {
    fn parse(tokens: &[String]) -> Result<Self, UsageError> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for token in tokens {
            match token.split_once('=') {
                Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                    values.entry(name.to_string()).or_default().push(value.to_string())
                }
                _ => {
                    return Err(UsageError(
                        r#"Argument parameter must follow the format "key=value""#.into(),
                    ));
                }
            }
        }
        Ok(Self(values))
    }

    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// A name that may appear at most once.
    fn one(&self, name: &str, what: &str) -> Result<Option<&str>, UsageError> {
        match self.all(name) {
            [] => Ok(None),
            [value] => Ok(Some(value)),
            values => Err(UsageError(format!(
                "Only one {what} may be specified per wrapping key configuration. {} provided.",
                values.len()
            ))),
        }
    }

    fn reject_unknown(&self, known: &[&str]) -> Result<(), UsageError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(name) => Err(UsageError(format!("Unknown wrapping key attribute: \"{name}\""))),
            None => Ok(()),
        }
    }
}

fn parse_bool(value: &str) -> Result<bool, UsageError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        "false" | "f" | "0" | "no" | "n" => Ok(false),
        _ => Err(UsageError(format!(
            "Value {value} could not be parsed as true or false"
        ))),
    }
}

/// The keyrings of every `-w` group, in order: the first key of the first group generates the data key.
pub fn keyrings(groups: &[Vec<String>], encrypting: bool) -> Result<Vec<Arc<dyn Keyring>>, UsageError> {
    let mut clients: HashMap<Option<String>, Arc<KmsClients>> = HashMap::new();
    let mut keyrings = Vec::new();
    for tokens in groups {
        let group = Group::parse(tokens)?;
        let provider = match group.all("provider") {
            [] => "aws-kms",
            [one] => one.as_str(),
            many => {
                return Err(UsageError(format!(
                    "You must provide exactly one \"provider\" for each wrapping key provider configuration. {} provided",
                    many.len()
                )));
            }
        };
        match provider {
            p if KMS_PROVIDERS.contains(&p) => {
                group.reject_unknown(&[
                    "provider",
                    "key",
                    "region",
                    "profile",
                    "discovery",
                    "discovery-partition",
                    "discovery-account",
                    "grant-token",
                ])?;
                let profile = group.one("profile", "profile")?.map(str::to_string);
                let clients = clients
                    .entry(profile.clone())
                    .or_insert_with(|| KmsClients::new(profile))
                    .clone();
                keyrings.extend(kms_keyrings(&group, encrypting, clients)?);
            }
            "raw-aes" => keyrings.extend(raw_aes_keyrings(&group)?),
            "raw-rsa" => keyrings.extend(raw_rsa_keyrings(&group)?),
            other => {
                return Err(UsageError(format!(
                    "Requested master key provider not found: \"{other}\""
                )));
            }
        }
    }
    Ok(keyrings)
}

fn kms_keyrings(
    group: &Group,
    encrypting: bool,
    clients: Arc<KmsClients>,
) -> Result<Vec<Arc<dyn Keyring>>, UsageError> {
    let discovery = group
        .one("discovery", "discovery")?
        .map(parse_bool)
        .transpose()?
        .unwrap_or(false);
    let accounts = group.all("discovery-account");
    let partition = group
        .one("discovery-partition", "discovery-partition")
        .map_err(|_| UsageError("You can only specify discovery-partition once".into()))?;
    let keys = group.all("key");
    let region = group.one("region", "region")?.map(str::to_string);
    let grant_tokens = group.all("grant-token").to_vec();
    let has_discovery_attributes = group.0.contains_key("discovery") || !accounts.is_empty() || partition.is_some();
    if encrypting && has_discovery_attributes {
        return Err(UsageError(
            "Discovery attributes are supported only on decryption for AWS KMS keys".into(),
        ));
    }
    if (!accounts.is_empty() || partition.is_some()) && !discovery {
        return Err(UsageError(
            "Discovery-account and discovery-partition are valid only when the discovery attribute is set to true"
                .into(),
        ));
    }
    if discovery {
        if !keys.is_empty() {
            return Err(UsageError(
                "If discovery is true (enabled), you cannot specify wrapping keys".into(),
            ));
        }
        let filter = match (partition, accounts) {
            (None, []) => None,
            (Some(_), []) => {
                return Err(UsageError(
                    "When specifying discovery-partition, you must also specify discovery-account".into(),
                ));
            }
            (None, _) => {
                return Err(UsageError(
                    "When specifying discovery-account, you must also specify discovery-partition".into(),
                ));
            }
            (Some(partition), accounts) => Some(DiscoveryFilter {
                partition: partition.into(),
                accounts: accounts.to_vec(),
            }),
        };
        return Ok(vec![Arc::new(KmsDiscoveryKeyring::new(
            filter,
            region,
            grant_tokens,
            clients,
        ))]);
    }
    if keys.is_empty() {
        return Err(UsageError(if encrypting {
            r#"At least one "key" must be provided for each wrapping key provider configuration"#.into()
        } else {
            "When discovery is false (disabled), you must specify at least one wrapping key".into()
        }));
    }
    keys.iter()
        .map(|key| {
            KmsKeyring::new(key.clone(), region.clone(), grant_tokens.clone(), clients.clone())
                .map(|k| Arc::new(k) as Arc<dyn Keyring>)
                .map_err(|e| UsageError(e.to_string()))
        })
        .collect()
}

fn read_key_file(path: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(Path::new(path)).map_err(|e| UsageError(format!("cannot read key file {path}: {e}")))
}

/// A raw key group's namespace and key names.
fn raw_names<'g>(group: &'g Group, provider: &str) -> Result<(&'g str, &'g [String]), UsageError> {
    let namespace = group
        .one("namespace", "namespace")?
        .ok_or_else(|| UsageError(format!("provider={provider} needs namespace=<key namespace>")))?;
    let names = group.all("key");
    if names.is_empty() {
        return Err(UsageError(
            r#"At least one "key" must be provided for each wrapping key provider configuration"#.into(),
        ));
    }
    Ok((namespace, names))
}

fn raw_aes_keyrings(group: &Group) -> Result<Vec<Arc<dyn Keyring>>, UsageError> {
    group.reject_unknown(&["provider", "namespace", "key", "key-file"])?;
    let (namespace, names) = raw_names(group, "raw-aes")?;
    let file = group.one("key-file", "key-file")?.ok_or_else(|| {
        UsageError("provider=raw-aes needs key-file=<file holding the 16, 24 or 32-byte wrapping key>".into())
    })?;
    let material = zeroize::Zeroizing::new(read_key_file(file)?);
    names
        .iter()
        .map(|name| {
            RawAesKeyring::new(namespace, name.clone(), &material)
                .map(|k| Arc::new(k) as Arc<dyn Keyring>)
                .map_err(|e| UsageError(e.to_string()))
        })
        .collect()
}

/// The DER inside a PEM file (or the file itself, if it is DER). Private keys pass through here, so every copy is
/// cleared when dropped.
pub fn der_of(bytes: zeroize::Zeroizing<Vec<u8>>) -> Result<zeroize::Zeroizing<Vec<u8>>, UsageError> {
    let Some(text) = std::str::from_utf8(&bytes).ok().filter(|t| t.contains("-----BEGIN ")) else {
        return Ok(bytes);
    };
    let start = text.find("-----BEGIN ").unwrap_or_default();
    let body: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        text[start..]
            .lines()
            .skip(1)
            .take_while(|line| !line.starts_with("-----END "))
            .collect(),
    );
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| UsageError("the PEM key file is not valid base64".into()))
}

fn raw_rsa_keyrings(group: &Group) -> Result<Vec<Arc<dyn Keyring>>, UsageError> {
    group.reject_unknown(&[
        "provider",
        "namespace",
        "key",
        "private-key-file",
        "public-key-file",
        "padding",
    ])?;
    let (namespace, names) = raw_names(group, "raw-rsa")?;
    let padding = match group.one("padding", "padding")?.unwrap_or("oaep-sha256") {
        "pkcs1" => RsaPadding::Pkcs1,
        "oaep-sha1" => RsaPadding::OaepSha1,
        "oaep-sha256" => RsaPadding::OaepSha256,
        "oaep-sha384" => RsaPadding::OaepSha384,
        "oaep-sha512" => RsaPadding::OaepSha512,
        other => {
            return Err(UsageError(format!(
                "padding={other} is not one of pkcs1, oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512"
            )));
        }
    };
    let private = group
        .one("private-key-file", "private-key-file")?
        .map(|f| read_key_file(f).map(zeroize::Zeroizing::new).and_then(der_of))
        .transpose()?;
    let public = group
        .one("public-key-file", "public-key-file")?
        .map(|f| {
            read_key_file(f)
                .map(zeroize::Zeroizing::new)
                .and_then(der_of)
                .map(|der| der.to_vec())
        })
        .transpose()?;
    names
        .iter()
        .map(|name| {
            RawRsaKeyring::new(
                namespace,
                name.clone(),
                padding,
                public.clone(),
                private.as_ref().map(|k| k.as_slice()),
            )
            .map(|k| Arc::new(k) as Arc<dyn Keyring>)
            .map_err(|e| UsageError(e.to_string()))
        })
        .collect()
}

/// One keyring over all: on encrypt the first generates and the rest add their encryptions; on decrypt any may
/// succeed.
pub fn combined(mut keyrings: Vec<Arc<dyn Keyring>>, encrypting: bool) -> Result<Arc<dyn Keyring>, UsageError> {
    if keyrings.len() == 1 {
        return Ok(keyrings.remove(0));
    }
    let generator = (encrypting && !keyrings.is_empty()).then(|| keyrings.remove(0));
    MultiKeyring::new(generator, keyrings)
        .map(|k| Arc::new(k) as Arc<dyn Keyring>)
        .map_err(|e| UsageError(e.to_string()))
}
