//! AWS KMS keyrings. The strict keyring encrypts under the keys it is given (the first generates the data key) and
//! decrypts only what those keys wrapped; the discovery keyring decrypts with whichever key wrapped a data key,
//! limited to an account filter. Both know multi-Region keys: a replica decrypts what its related key wrapped.
//! Provider id = `aws-kms`, provider info = the key's ARN as KMS answered it.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use keyhaven_crypto::SecretBytes;
use tokio::sync::OnceCell;

use super::{Keyring, accept, nothing_decrypted};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::message::context::EncryptionContext;
use crate::message::header::EncryptedDataKey;
use crate::{BoxFuture, ClientError};

/// The provider id of data keys wrapped by AWS KMS.
pub const PROVIDER_ID: &str = "aws-kms";

/// The parts of a KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub key_id: String,
}

impl KeyArn {
    /// Parses a key ARN; aliases and anything else are `None`.
    pub fn parse(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("kms"), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let key_id = resource.strip_prefix("key/")?;
        if partition.is_empty() || region.is_empty() || account.is_empty() || key_id.is_empty() {
            return None;
        }
        Some(Self {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            key_id: key_id.into(),
        })
    }

    pub fn is_multi_region(&self) -> bool {
        self.key_id.starts_with("mrk-")
    }

    /// The same key's ARN in another Region (meaningful for multi-Region keys).
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            region: region.into(),
            ..self.clone()
        }
    }

    /// Whether a data key wrapped by `other` can be decrypted by this key: the same key, or a replica of the same
    /// multi-Region key.
    fn decrypts_for(&self, other: &KeyArn) -> bool {
        self == other || (self.is_multi_region() && self.in_region(&other.region) == *other)
    }
}

impl std::fmt::Display for KeyArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arn:{}:kms:{}:{}:key/{}",
            self.partition, self.region, self.account, self.key_id
        )
    }
}

/// The Region of a key identifier that is an ARN (of a key or an alias).
pub(crate) fn arn_region(key_id: &str) -> Option<&str> {
    let mut parts = key_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

/// KMS clients, one per Region, made on first use from the SDK's configuration chain (environment, shared config
/// and credentials files, `AWS_ENDPOINT_URL`, an optional named profile).
pub struct KmsClients {
    profile: Option<String>,
    base: OnceCell<SdkConfig>,
    clients: parking_lot::Mutex<HashMap<String, aws_sdk_kms::Client>>,
}

impl std::fmt::Debug for KmsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KmsClients(profile {:?})", self.profile)
    }
}

impl KmsClients {
    pub fn new(profile: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            profile,
            base: OnceCell::new(),
            clients: Default::default(),
        })
    }

    async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| crate::sdk_config(self.profile.as_deref()))
            .await
    }

    /// The configured Region (`AWS_REGION`, the profile's `region`), if any.
    pub async fn default_region(&self) -> Option<String> {
        self.base().await.region().map(|r| r.to_string())
    }

    /// The client for `region`, or for the configured Region.
    pub async fn client(&self, region: Option<&str>) -> Result<aws_sdk_kms::Client, ClientError> {
        let base = self.base().await;
        let region = match region {
            Some(region) => region.to_string(),
            None => base.region().map(|r| r.to_string()).ok_or_else(|| {
                ClientError::Config("no AWS Region is configured for AWS KMS (set AWS_REGION or use a key ARN)".into())
            })?,
        };
        let mut clients = self.clients.lock();
        let client = clients.entry(region.clone()).or_insert_with(|| {
            let config = aws_sdk_kms::config::Builder::from(base)
                .region(Region::new(region))
                .build();
            aws_sdk_kms::Client::from_conf(config)
        });
        Ok(client.clone())
    }
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(crate) fn kms_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    key: &str,
    error: aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> ClientError {
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_kms::error::DisplayErrorContext(&error).to_string(),
    };
    ClientError::Kms {
        operation,
        key: key.to_string(),
        message,
    }
}

/// Calls Decrypt for one wrapped data key and checks KMS answered with the key asked for.
async fn decrypt_with(
    client: &aws_sdk_kms::Client,
    key_id: &str,
    data_key: &EncryptedDataKey,
    materials: &DecryptionMaterials,
    grant_tokens: &[String],
) -> Result<SecretBytes, String> {
    let response = client
        .decrypt()
        .key_id(key_id)
        .ciphertext_blob(Blob::new(data_key.ciphertext.clone()))
        .set_encryption_context(Some(context_map(&materials.context)))
        .set_grant_tokens((!grant_tokens.is_empty()).then(|| grant_tokens.to_vec()))
        .send()
        .await
        .map_err(|e| kms_error("Decrypt", key_id, e).to_string())?;
    if response.key_id() != Some(key_id) {
        return Err(format!(
            "AWS KMS Decrypt answered for key {:?}, not {key_id}",
            response.key_id()
        ));
    }
    response
        .plaintext
        .map(|b| SecretBytes::new(b.into_inner()))
        .ok_or_else(|| "AWS KMS Decrypt returned no plaintext".to_string())
}

/// The wrapped data keys of a message that AWS KMS wrapped, with their key ARNs.
fn kms_data_keys(data_keys: &[EncryptedDataKey]) -> impl Iterator<Item = (&EncryptedDataKey, Option<KeyArn>)> {
    data_keys
        .iter()
        .filter(|k| k.provider_id == PROVIDER_ID)
        .map(|k| (k, std::str::from_utf8(&k.provider_info).ok().and_then(KeyArn::parse)))
}

/// A keyring of one named KMS key: a key id, key ARN, alias name or alias ARN (aliases only encrypt: a message names
/// the key ARN, which an alias never matches). Its client is in the Region of the key's ARN, else the keyring's, else the configured one.
#[derive(Debug)]
pub struct KmsKeyring {
    key_id: String,
    region: Option<String>,
    grant_tokens: Vec<String>,
    clients: Arc<KmsClients>,
}

impl KmsKeyring {
    pub fn new(
        key_id: impl Into<String>,
        region: Option<String>,
        grant_tokens: Vec<String>,
        clients: Arc<KmsClients>,
    ) -> Result<Self, ClientError> {
        let key_id = key_id.into();
        if key_id.is_empty() || key_id.len() > 2048 {
            return Err(ClientError::Config(
                "an AWS KMS key identifier must be 1 to 2048 characters".into(),
            ));
        }
        Ok(Self {
            key_id,
            region,
            grant_tokens,
            clients,
        })
    }

    async fn client(&self) -> Result<aws_sdk_kms::Client, ClientError> {
        self.clients
            .client(arn_region(&self.key_id).or(self.region.as_deref()))
            .await
    }

    fn wrapped(&self, answered_key: Option<&str>, ciphertext: Option<Blob>) -> Result<EncryptedDataKey, ClientError> {
        let arn = answered_key
            .filter(|k| KeyArn::parse(k).is_some())
            .ok_or_else(|| ClientError::Kms {
                operation: "GenerateDataKey",
                key: self.key_id.clone(),
                message: format!("the answer names no key ARN ({answered_key:?})"),
            })?;
        let ciphertext = ciphertext.map(Blob::into_inner).unwrap_or_default();
        Ok(EncryptedDataKey {
            provider_id: PROVIDER_ID.into(),
            provider_info: arn.as_bytes().to_vec(),
            ciphertext,
        })
    }
}

impl Keyring for KmsKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let context = context_map(&materials.context);
            let grant_tokens = (!self.grant_tokens.is_empty()).then(|| self.grant_tokens.clone());
            match &materials.data_key {
                None => {
                    let length = i32::try_from(materials.suite.key_len()).unwrap_or(32);
                    let response = client
                        .generate_data_key()
                        .key_id(&self.key_id)
                        .number_of_bytes(length)
                        .set_encryption_context(Some(context))
                        .set_grant_tokens(grant_tokens)
                        .send()
                        .await
                        .map_err(|e| kms_error("GenerateDataKey", &self.key_id, e))?;
                    let plaintext = response.plaintext.clone().map(|b| SecretBytes::new(b.into_inner()));
                    let wrapped = self.wrapped(response.key_id(), response.ciphertext_blob.clone())?;
                    match plaintext {
                        Some(key) if key.len() == materials.suite.key_len() => materials.data_key = Some(key),
                        _ => {
                            return Err(ClientError::Kms {
                                operation: "GenerateDataKey",
                                key: self.key_id.clone(),
                                message: "the data key has the wrong length".into(),
                            });
                        }
                    }
                    materials.data_keys.push(wrapped);
                }
                Some(data_key) => {
                    let response = client
                        .encrypt()
                        .key_id(&self.key_id)
                        .plaintext(Blob::new(data_key.expose().to_vec()))
                        .set_encryption_context(Some(context))
                        .set_grant_tokens(grant_tokens)
                        .send()
                        .await
                        .map_err(|e| kms_error("Encrypt", &self.key_id, e))?;
                    let wrapped = self.wrapped(response.key_id(), response.ciphertext_blob.clone())?;
                    materials.data_keys.push(wrapped);
                }
            }
            Ok(materials)
        })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            let label = format!("AWS KMS keyring {}", self.key_id);
            let Some(own) = KeyArn::parse(&self.key_id) else {
                return Err(ClientError::NoDataKey(format!(
                    "{label}: decrypting needs a key ARN, not a key id or alias"
                )));
            };
            let mut reasons = Vec::new();
            for (data_key, arn) in kms_data_keys(data_keys) {
                if !arn.is_some_and(|arn| own.decrypts_for(&arn)) {
                    continue;
                }
                let client = self.client().await?;
                let attempt = decrypt_with(&client, &self.key_id, data_key, &materials, &self.grant_tokens).await;
                if accept(&mut materials, attempt, &mut reasons) {
                    return Ok(materials);
                }
            }
            Err(nothing_decrypted(&label, reasons))
        })
    }
}

/// The accounts (in one partition) whose keys a discovery keyring may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFilter {
    pub partition: String,
    pub accounts: Vec<String>,
}

/// A keyring that decrypts with whichever KMS key wrapped a data key. With a Region, a multi-Region key's data key
/// is decrypted by its replica in that Region.
#[derive(Debug)]
pub struct KmsDiscoveryKeyring {
    filter: Option<DiscoveryFilter>,
    region: Option<String>,
    grant_tokens: Vec<String>,
    clients: Arc<KmsClients>,
}

impl KmsDiscoveryKeyring {
    pub fn new(
        filter: Option<DiscoveryFilter>,
        region: Option<String>,
        grant_tokens: Vec<String>,
        clients: Arc<KmsClients>,
    ) -> Self {
        Self {
            filter,
            region,
            grant_tokens,
            clients,
        }
    }

    fn allows(&self, arn: &KeyArn) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.partition == arn.partition && f.accounts.contains(&arn.account))
    }
}

impl Keyring for KmsDiscoveryKeyring {
    fn on_encrypt<'a>(&'a self, _: EncryptionMaterials) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async { Err(ClientError::Config("a discovery keyring cannot encrypt".into())) })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            let mut reasons = Vec::new();
            for (data_key, arn) in kms_data_keys(data_keys) {
                let Some(arn) = arn else {
                    reasons.push("a data key names no KMS key ARN".into());
                    continue;
                };
                if !self.allows(&arn) {
                    reasons.push(format!("{arn} is outside the discovery filter"));
                    continue;
                }
                let arn = match &self.region {
                    Some(region) if arn.is_multi_region() => arn.in_region(region),
                    _ => arn,
                };
                let key_id = arn.to_string();
                let client = self.clients.client(Some(&arn.region)).await?;
                let attempt = decrypt_with(&client, &key_id, data_key, &materials, &self.grant_tokens).await;
                if accept(&mut materials, attempt, &mut reasons) {
                    return Ok(materials);
                }
            }
            Err(nothing_decrypted("AWS KMS discovery keyring", reasons))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arns_parse_and_multi_region_replicas_match() {
        let east = KeyArn::parse("arn:aws:kms:us-east-1:111122223333:key/mrk-1234").expect("parses");
        let west = KeyArn::parse("arn:aws:kms:us-west-2:111122223333:key/mrk-1234").expect("parses");
        assert!(east.decrypts_for(&west));
        let single = KeyArn::parse("arn:aws:kms:us-east-1:111122223333:key/1234").expect("parses");
        assert!(!single.decrypts_for(&single.in_region("us-west-2")));
        assert!(single.decrypts_for(&single));
        for bad in [
            "alias/x",
            "arn:aws:kms:us-east-1:111122223333:alias/x",
            "arn:aws:kms::1:key/x",
            "1234",
        ] {
            assert_eq!(KeyArn::parse(bad), None, "{bad}");
        }
        assert_eq!(arn_region("arn:aws:kms:eu-west-1:1:alias/x"), Some("eu-west-1"));
        assert_eq!(arn_region("alias/x"), None);
    }
}
