//! Amazon S3 client-side encryption: the object format of the S3 Encryption Client (message format v3 with key
//! commitment, the default, and v2), with data keys wrapped by AWS KMS (`kms+context`), a raw AES key (`AES/GCM`)
//! or a raw RSA key (`RSA-OAEP-SHA1`), kept in the object's metadata or (on read) an instruction file. The server
//! never sees plaintext.
//!
//! Source: the Amazon S3 Encryption Client specification (aws-encryption-sdk-specification, s3-encryption/:
//! content-metadata.md, key-derivation.md, encryption.md, decryption.md) and the behaviour of
//! amazon-s3-encryption-client-python 4.0.0 and amazon-s3-encryption-client-java 4.x.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::asymmetric::Hash;
use keyhaven_crypto::digest::constant_time_eq;
use keyhaven_crypto::envelope::{
    GCM_IV_LEN, GCM_TAG_LEN, GcmKey, RsaPadding, RsaUnwrappingKey, aes256_ctr_unauthenticated, hkdf, rsa_wrap,
};

use crate::ClientError;
use crate::keyring::KmsClients;
use crate::keyring::kms::{arn_region, kms_error};
use crate::secrets::resolver::fetch_error;

/// The committing content suite of message format v3 (AES-256-GCM, HKDF-SHA512, key commitment), id 0x0073.
const V3_SUITE_ID: [u8; 2] = [0x00, 0x73];
const V3_SUITE: &str = "115";
/// The content cipher of message format v2.
const V2_CIPHER: &str = "AES/GCM/NoPadding";
/// The encryption-context key S3EC reserves for the content cipher.
const CEK_ALG_KEY: &str = "aws:x-amz-cek-alg";
const MESSAGE_ID_LEN: usize = 28;
const COMMITMENT_LEN: usize = 28;
const DATA_KEY_LEN: usize = 32;
/// The suffix of instruction files, as the clients default it.
pub const INSTRUCTION_SUFFIX: &str = ".instruction";

/// Which object format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Message format v3: key commitment (the S3 Encryption Client's default since 4.x).
    #[default]
    V3,
    /// Message format v2: AES-GCM under the data key itself (readable by clients before 4.x).
    V2,
}

impl Format {
    /// The content-cipher string the wrapping binds a data key to.
    fn cipher_name(self) -> &'static str {
        match self {
            Format::V3 => V3_SUITE,
            Format::V2 => V2_CIPHER,
        }
    }
}

/// What wraps the data key.
#[derive(Clone)]
pub enum WrappingKey {
    /// An AWS KMS key (id, ARN or alias), through `GenerateDataKey`/`Decrypt` with the encryption context.
    Kms { key_id: String, clients: Arc<KmsClients> },
    /// A raw AES-256 key (AES-GCM).
    Aes(Arc<GcmKey>),
    /// A raw RSA key (OAEP with SHA-1): the public key (DER SubjectPublicKeyInfo) to encrypt, the private key to
    /// decrypt.
    Rsa {
        public_key: Option<Vec<u8>>,
        private_key: Option<Arc<RsaUnwrappingKey>>,
    },
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WrappingKey::Kms { key_id, .. } => write!(f, "Kms({key_id})"),
            WrappingKey::Aes(_) => f.write_str("Aes"),
            WrappingKey::Rsa { .. } => f.write_str("Rsa"),
        }
    }
}

/// The wrap algorithms of the format: their v3 codes and v2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrap {
    KmsContext,
    AesGcm,
    RsaOaepSha1,
}

impl Wrap {
    fn code(self) -> &'static str {
        match self {
            Wrap::KmsContext => "12",
            Wrap::AesGcm => "02",
            Wrap::RsaOaepSha1 => "22",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Wrap::KmsContext => "kms+context",
            Wrap::AesGcm => "AES/GCM",
            Wrap::RsaOaepSha1 => "RSA-OAEP-SHA1",
        }
    }

    fn parse(value: &str) -> Result<Self, ClientError> {
        match value {
            "12" | "kms+context" => Ok(Wrap::KmsContext),
            "02" | "AES/GCM" => Ok(Wrap::AesGcm),
            "22" | "RSA-OAEP-SHA1" => Ok(Wrap::RsaOaepSha1),
            other => Err(malformed(format!("the wrapping algorithm {other} is not supported"))),
        }
    }
}

fn malformed(what: impl Into<String>) -> ClientError {
    ClientError::Malformed(what.into())
}

/// An encrypted object: its body and the metadata (without the `x-amz-meta-` prefix) it must be stored with.
#[derive(Debug, Clone)]
pub struct EncryptedObject {
    pub body: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

/// The v3 content key and commitment from a data key and message id.
fn v3_keys(data_key: &[u8], message_id: &[u8]) -> Result<(SecretBytes, SecretBytes), ClientError> {
    let key = hkdf(
        Hash::Sha512,
        Some(message_id),
        data_key,
        &[&V3_SUITE_ID, b"DERIVEKEY"],
        DATA_KEY_LEN,
    )?;
    let commitment = hkdf(
        Hash::Sha512,
        Some(message_id),
        data_key,
        &[&V3_SUITE_ID, b"COMMITKEY"],
        COMMITMENT_LEN,
    )?;
    Ok((key, commitment))
}

fn json_map(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

fn parse_json_map(text: &str, what: &str) -> Result<BTreeMap<String, String>, ClientError> {
    serde_json::from_str(text).map_err(|_| malformed(format!("{what} is not a JSON object of strings")))
}

impl WrappingKey {
    fn wrap_kind(&self) -> Wrap {
        match self {
            WrappingKey::Kms { .. } => Wrap::KmsContext,
            WrappingKey::Aes(_) => Wrap::AesGcm,
            WrappingKey::Rsa { .. } => Wrap::RsaOaepSha1,
        }
    }

    /// A new data key and its wrapped form, bound to `context` (KMS) or the content cipher (raw keys).
    async fn generate(
        &self,
        format: Format,
        context: &BTreeMap<String, String>,
    ) -> Result<(SecretBytes, Vec<u8>), ClientError> {
        match self {
            WrappingKey::Kms { key_id, clients } => {
                let response = clients
                    .client(arn_region(key_id))
                    .await?
                    .generate_data_key()
                    .key_id(key_id)
                    .number_of_bytes(DATA_KEY_LEN as i32)
                    .set_encryption_context(Some(context.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| kms_error("GenerateDataKey", key_id, e))?;
                let data_key = response.plaintext.map(|b| SecretBytes::new(b.into_inner()));
                match (data_key, response.ciphertext_blob) {
                    (Some(key), Some(blob)) if key.len() == DATA_KEY_LEN => Ok((key, blob.into_inner())),
                    _ => Err(ClientError::Kms {
                        operation: "GenerateDataKey",
                        key: key_id.clone(),
                        message: "the answer holds no 32-byte data key".into(),
                    }),
                }
            }
            WrappingKey::Aes(key) => {
                let data_key = keyhaven_crypto::random_bytes(DATA_KEY_LEN)?;
                let iv = keyhaven_crypto::random_array::<GCM_IV_LEN>()?;
                let mut sealed = data_key.expose().to_vec();
                let tag = key.seal(&iv, format.cipher_name().as_bytes(), &mut sealed)?;
                Ok((data_key, [&iv[..], &sealed, &tag].concat()))
            }
            WrappingKey::Rsa { public_key, .. } => {
                let public = public_key
                    .as_ref()
                    .ok_or_else(|| ClientError::Config("encrypting needs the RSA public key".into()))?;
                let data_key = keyhaven_crypto::random_bytes(DATA_KEY_LEN)?;
                let payload = zeroize::Zeroizing::new(
                    [
                        &[DATA_KEY_LEN as u8][..],
                        data_key.expose(),
                        format.cipher_name().as_bytes(),
                    ]
                    .concat(),
                );
                let wrapped = rsa_wrap(public, RsaPadding::OaepSha1, &payload)
                    .map_err(|_| ClientError::Config("the RSA public key does not parse".into()))?;
                Ok((data_key, wrapped))
            }
        }
    }

    /// The data key of a wrapped key.
    async fn unwrap(
        &self,
        wrap: Wrap,
        cipher: &str,
        wrapped: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<SecretBytes, ClientError> {
        if wrap != self.wrap_kind() {
            return Err(ClientError::NoDataKey(format!(
                "the object's data key is wrapped with {}, not with the key given",
                wrap.name()
            )));
        }
        let refused = || ClientError::NoDataKey("the data key does not decrypt with the key given".into());
        let data_key = match self {
            WrappingKey::Kms { key_id, clients } => {
                let response = clients
                    .client(arn_region(key_id))
                    .await?
                    .decrypt()
                    .key_id(key_id)
                    .ciphertext_blob(Blob::new(wrapped.to_vec()))
                    .set_encryption_context(Some(context.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| kms_error("Decrypt", key_id, e))?;
                response
                    .plaintext
                    .map(|b| SecretBytes::new(b.into_inner()))
                    .ok_or_else(refused)?
            }
            WrappingKey::Aes(key) => {
                let (iv, sealed) = wrapped.split_at_checked(GCM_IV_LEN).ok_or_else(refused)?;
                let iv: [u8; GCM_IV_LEN] = iv.try_into().map_err(|_| refused())?;
                let mut sealed = sealed.to_vec();
                let len = key.open(&iv, cipher.as_bytes(), &mut sealed).map_err(|_| refused())?;
                sealed.truncate(len);
                SecretBytes::new(sealed)
            }
            WrappingKey::Rsa { private_key, .. } => {
                let private = private_key
                    .as_ref()
                    .ok_or_else(|| ClientError::Config("decrypting needs the RSA private key".into()))?;
                let payload = private.unwrap(RsaPadding::OaepSha1, wrapped).map_err(|_| refused())?;
                let payload = payload.expose();
                let (length, rest) = payload.split_first().ok_or_else(refused)?;
                let (key, bound) = rest.split_at_checked(usize::from(*length)).ok_or_else(refused)?;
                if bound != cipher.as_bytes() {
                    return Err(refused());
                }
                SecretBytes::from_slice(key)
            }
        };
        if data_key.len() != DATA_KEY_LEN {
            return Err(refused());
        }
        Ok(data_key)
    }
}

/// Encrypts an object's body under a new data key; `context` is the caller's encryption context (KMS) or material
/// description (raw keys).
pub async fn encrypt_object(
    key: &WrappingKey,
    format: Format,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<EncryptedObject, ClientError> {
    if context.contains_key(CEK_ALG_KEY) {
        return Err(ClientError::Policy(format!(
            "the encryption context key {CEK_ALG_KEY} is reserved"
        )));
    }
    let wrap = key.wrap_kind();
    let mut bound = context.clone();
    if wrap == Wrap::KmsContext {
        bound.insert(CEK_ALG_KEY.into(), format.cipher_name().into());
    }
    let (data_key, wrapped) = key.generate(format, &bound).await?;
    let mut body = plaintext.to_vec();
    let mut metadata = HashMap::new();
    match format {
        Format::V3 => {
            let message_id = keyhaven_crypto::random_bytes(MESSAGE_ID_LEN)?;
            let (content_key, commitment) = v3_keys(data_key.expose(), message_id.expose())?;
            let tag = GcmKey::new(content_key.expose())?.seal(&[1u8; GCM_IV_LEN], &V3_SUITE_ID, &mut body)?;
            body.extend_from_slice(&tag);
            metadata.insert("x-amz-c".into(), V3_SUITE.into());
            metadata.insert("x-amz-3".into(), B64.encode(&wrapped));
            metadata.insert("x-amz-w".into(), wrap.code().into());
            metadata.insert("x-amz-d".into(), B64.encode(commitment.expose()));
            metadata.insert("x-amz-i".into(), B64.encode(message_id.expose()));
            match wrap {
                Wrap::KmsContext => {
                    metadata.insert("x-amz-t".into(), json_map(&bound));
                }
                _ if !context.is_empty() => {
                    metadata.insert("x-amz-m".into(), json_map(context));
                }
                _ => {}
            }
        }
        Format::V2 => {
            let iv = keyhaven_crypto::random_array::<GCM_IV_LEN>()?;
            let tag = GcmKey::new(data_key.expose())?.seal(&iv, &[], &mut body)?;
            body.extend_from_slice(&tag);
            metadata.insert("x-amz-key-v2".into(), B64.encode(&wrapped));
            metadata.insert("x-amz-wrap-alg".into(), wrap.name().into());
            metadata.insert("x-amz-matdesc".into(), json_map(&bound));
            metadata.insert("x-amz-iv".into(), B64.encode(iv));
            metadata.insert("x-amz-cek-alg".into(), V2_CIPHER.into());
            metadata.insert("x-amz-tag-len".into(), "128".into());
        }
    }
    Ok(EncryptedObject { body, metadata })
}

/// The keys of the format; an instruction file may hold only these.
const FORMAT_KEYS: [&str; 14] = [
    "x-amz-key",
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-matdesc",
    "x-amz-wrap-alg",
    "x-amz-cek-alg",
    "x-amz-tag-len",
    "x-amz-unencrypted-content-length",
    "x-amz-c",
    "x-amz-3",
    "x-amz-w",
    "x-amz-d",
    "x-amz-i",
    "x-amz-t",
];

/// Moves the wrapped data key and its description out of an object's metadata into the body of its instruction
/// file (a v3 object keeps its content cipher, commitment and message id; a v2 object keeps nothing).
pub fn instruction_file(object: &mut EncryptedObject) -> Vec<u8> {
    let moved: &[&str] = if object.metadata.contains_key("x-amz-3") {
        &["x-amz-3", "x-amz-w", "x-amz-m", "x-amz-t"]
    } else {
        &FORMAT_KEYS
    };
    let file: BTreeMap<String, String> = moved.iter().filter_map(|k| object.metadata.remove_entry(*k)).collect();
    serde_json::to_vec(&file).unwrap_or_default()
}

/// Whether an object's metadata lacks its wrapped data key, which is then in its instruction file.
pub fn needs_instruction_file(metadata: &HashMap<String, String>) -> bool {
    !["x-amz-key", "x-amz-key-v2", "x-amz-3"]
        .iter()
        .any(|k| metadata.contains_key(*k))
}

/// The object's metadata merged with its instruction file (the object's own metadata wins).
pub fn with_instruction_file(
    metadata: &HashMap<String, String>,
    instruction: &[u8],
) -> Result<HashMap<String, String>, ClientError> {
    let file: BTreeMap<String, String> = serde_json::from_slice(instruction)
        .map_err(|_| malformed("the instruction file is not a JSON object of strings"))?;
    if let Some(key) = file
        .keys()
        .find(|k| !FORMAT_KEYS.contains(&k.as_str()) && k.as_str() != "x-amz-m")
    {
        return Err(malformed(format!(
            "the instruction file holds {key}, which is not part of the format"
        )));
    }
    if ["x-amz-c", "x-amz-d", "x-amz-i"].iter().any(|k| file.contains_key(*k)) {
        return Err(malformed(
            "a v3 instruction file may not hold x-amz-c, x-amz-d or x-amz-i",
        ));
    }
    let mut merged: HashMap<String, String> = file.into_iter().collect();
    merged.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(merged)
}

fn field<'m>(metadata: &'m HashMap<String, String>, key: &str) -> Result<&'m str, ClientError> {
    metadata
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| malformed(format!("the object has no {key}")))
}

fn base64_field(metadata: &HashMap<String, String>, key: &str) -> Result<Vec<u8>, ClientError> {
    B64.decode(field(metadata, key)?)
        .map_err(|_| malformed(format!("{key} is not base64")))
}

/// What opening an object's body takes: its content key, IV and AAD, from the data key the metadata wraps.
struct ContentKey {
    key: SecretBytes,
    iv: [u8; GCM_IV_LEN],
    aad: &'static [u8],
}

/// Unwraps an object's data key and derives its content key; `context` must equal the context it was encrypted
/// under (without the reserved key). `allow_v2` admits objects of the non-committing v2 format.
async fn content_key(
    key: &WrappingKey,
    context: &BTreeMap<String, String>,
    allow_v2: bool,
    metadata: &HashMap<String, String>,
) -> Result<ContentKey, ClientError> {
    let keys = ["x-amz-key", "x-amz-key-v2", "x-amz-3"]
        .iter()
        .filter(|k| metadata.contains_key(**k))
        .count();
    if keys != 1 {
        return Err(malformed(
            "the object's metadata does not hold exactly one encrypted data key",
        ));
    }
    if metadata.contains_key("x-amz-key") {
        return Err(malformed(
            "message format v1 (AES-CBC, unauthenticated) is not supported",
        ));
    }
    let v3 = metadata.contains_key("x-amz-3");
    let (wrap, cipher, wrapped, stored) = if v3 {
        if field(metadata, "x-amz-c")? != V3_SUITE {
            return Err(malformed("the content cipher is not the committing suite 115"));
        }
        let wrap = Wrap::parse(field(metadata, "x-amz-w")?)?;
        let stored_key = if wrap == Wrap::KmsContext { "x-amz-t" } else { "x-amz-m" };
        let stored = match metadata.get(stored_key) {
            Some(text) => parse_json_map(text, stored_key)?,
            None => BTreeMap::new(),
        };
        (wrap, V3_SUITE, base64_field(metadata, "x-amz-3")?, stored)
    } else {
        if !allow_v2 {
            return Err(ClientError::Policy(
                "the object is in message format v2, which does not commit to its key; the commitment policy \
                 require-encrypt-require-decrypt does not allow it"
                    .into(),
            ));
        }
        if field(metadata, "x-amz-cek-alg")? != V2_CIPHER {
            return Err(malformed("the content cipher is not AES/GCM/NoPadding"));
        }
        let stored = match metadata.get("x-amz-matdesc") {
            Some(text) => parse_json_map(text, "x-amz-matdesc")?,
            None => BTreeMap::new(),
        };
        let wrap = Wrap::parse(field(metadata, "x-amz-wrap-alg")?)?;
        (wrap, V2_CIPHER, base64_field(metadata, "x-amz-key-v2")?, stored)
    };
    let mut user_context = stored.clone();
    user_context.remove(CEK_ALG_KEY);
    if wrap == Wrap::KmsContext && stored.get(CEK_ALG_KEY).map(String::as_str) != Some(cipher) {
        return Err(ClientError::Tampered(
            "the stored encryption context names another content cipher",
        ));
    }
    if &user_context != context {
        return Err(ClientError::ContextMismatch(
            "the encryption context given (it must match the one the object was encrypted under)".into(),
        ));
    }
    let data_key = key.unwrap(wrap, cipher, &wrapped, &stored).await?;
    if v3 {
        let message_id = base64_field(metadata, "x-amz-i")?;
        let commitment = base64_field(metadata, "x-amz-d")?;
        let (content, expected) = v3_keys(data_key.expose(), &message_id)?;
        if !constant_time_eq(expected.expose(), &commitment) {
            return Err(ClientError::Tampered(
                "the data key does not match the object's key commitment",
            ));
        }
        Ok(ContentKey {
            key: content,
            iv: [1u8; GCM_IV_LEN],
            aad: &V3_SUITE_ID,
        })
    } else {
        let iv: [u8; GCM_IV_LEN] = base64_field(metadata, "x-amz-iv")?
            .try_into()
            .map_err(|_| malformed("x-amz-iv is not 12 bytes"))?;
        Ok(ContentKey {
            key: data_key,
            iv,
            aad: &[],
        })
    }
}

/// Decrypts an object from its body and metadata; see [`content_key`] for `context` and `allow_v2`.
pub async fn decrypt_object(
    key: &WrappingKey,
    context: &BTreeMap<String, String>,
    allow_v2: bool,
    body: &[u8],
    metadata: &HashMap<String, String>,
) -> Result<SecretBytes, ClientError> {
    let content = content_key(key, context, allow_v2, metadata).await?;
    if body.len() < GCM_TAG_LEN {
        return Err(ClientError::Truncated);
    }
    let mut sealed = body.to_vec();
    let len = GcmKey::new(content.key.expose())?
        .open(&content.iv, content.aad, &mut sealed)
        .map_err(|_| ClientError::Tampered("the object's body does not authenticate"))?;
    sealed.truncate(len);
    Ok(SecretBytes::new(sealed))
}

/// The 16-byte-aligned span of ciphertext that holds plaintext bytes `first..=last`.
pub fn aligned_range(first: u64, last: u64) -> (u64, u64) {
    (first - first % 16, last)
}

/// Decrypts part of an object without authenticating it (its GCM tag covers the whole object): `aligned` is the
/// ciphertext from byte `aligned_start` (a multiple of 16), as [`aligned_range`] gives it. The key commitment of a
/// v3 object is still checked.
pub async fn decrypt_range(
    key: &WrappingKey,
    context: &BTreeMap<String, String>,
    allow_v2: bool,
    metadata: &HashMap<String, String>,
    aligned_start: u64,
    aligned: &[u8],
) -> Result<SecretBytes, ClientError> {
    let content = content_key(key, context, allow_v2, metadata).await?;
    let block = u32::try_from(aligned_start / 16 + 2).map_err(|_| malformed("the range starts past 64 GiB"))?;
    let mut counter = [0u8; 16];
    counter[..GCM_IV_LEN].copy_from_slice(&content.iv);
    counter[GCM_IV_LEN..].copy_from_slice(&block.to_be_bytes());
    let mut data = aligned.to_vec();
    aes256_ctr_unauthenticated(content.key.expose(), counter, &mut data)?;
    Ok(SecretBytes::new(data))
}

/// Encrypted objects in S3, through the AWS SDK (path-style addressing when an endpoint URL is configured, as the
/// AWS CLI does for endpoints other than AWS's).
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
}

impl S3Objects {
    pub async fn from_environment(profile: Option<&str>) -> Self {
        let config = crate::sdk_config(profile).await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
        }
    }

    /// Stores an object with its wrapped data key in an instruction file beside it (`<key>.instruction`, marked
    /// `x-amz-crypto-instr-file` as the Java client marks it), the object itself first.
    pub async fn put_with_instruction_file(
        &self,
        bucket: &str,
        key: &str,
        mut object: EncryptedObject,
    ) -> Result<(), ClientError> {
        let instruction = instruction_file(&mut object);
        self.put(bucket, key, object).await?;
        let marker = HashMap::from([("x-amz-crypto-instr-file".to_string(), String::new())]);
        let file = EncryptedObject {
            body: instruction,
            metadata: marker,
        };
        self.put(bucket, &format!("{key}{INSTRUCTION_SUFFIX}"), file).await
    }

    pub async fn put(&self, bucket: &str, key: &str, object: EncryptedObject) -> Result<(), ClientError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .set_metadata(Some(object.metadata))
            .body(object.body.into())
            .send()
            .await
            .map_err(|e| fetch_error(format!("s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    /// An object's body and metadata, with its instruction file merged in when the metadata needs it.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<(Vec<u8>, HashMap<String, String>), ClientError> {
        let (body, metadata) = self.get_raw(bucket, key, None).await?;
        if !needs_instruction_file(&metadata) {
            return Ok((body, metadata));
        }
        let (instruction, _) = self
            .get_raw(bucket, &format!("{key}{INSTRUCTION_SUFFIX}"), None)
            .await?;
        Ok((body, with_instruction_file(&metadata, &instruction)?))
    }

    /// An object's metadata (with its instruction file merged in when needed) and plaintext length.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<(u64, HashMap<String, String>), ClientError> {
        let output = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| fetch_error(format!("s3://{bucket}/{key}"), e))?;
        let length = u64::try_from(output.content_length.unwrap_or_default()).unwrap_or_default();
        let metadata = output.metadata.unwrap_or_default();
        let metadata = if needs_instruction_file(&metadata) {
            let (instruction, _) = self
                .get_raw(bucket, &format!("{key}{INSTRUCTION_SUFFIX}"), None)
                .await?;
            with_instruction_file(&metadata, &instruction)?
        } else {
            metadata
        };
        Ok((length.saturating_sub(GCM_TAG_LEN as u64), metadata))
    }

    /// Bytes `first..=last` of an object's body.
    pub async fn get_bytes(&self, bucket: &str, key: &str, first: u64, last: u64) -> Result<Vec<u8>, ClientError> {
        Ok(self
            .get_raw(bucket, key, Some(format!("bytes={first}-{last}")))
            .await?
            .0)
    }

    async fn get_raw(
        &self,
        bucket: &str,
        key: &str,
        range: Option<String>,
    ) -> Result<(Vec<u8>, HashMap<String, String>), ClientError> {
        let what = || format!("s3://{bucket}/{key}");
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_range(range)
            .send()
            .await
            .map_err(|e| fetch_error(what(), e))?;
        let metadata = output.metadata.clone().unwrap_or_default();
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| ClientError::Io(std::io::Error::other(format!("{}: {e}", what()))))?
            .into_bytes()
            .to_vec();
        Ok((body, metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;

    #[test]
    fn raw_key_objects_round_trip_in_both_formats_and_refuse_tampering() {
        let aes = WrappingKey::Aes(Arc::new(GcmKey::new(&[7u8; 32]).expect("key")));
        let context: BTreeMap<String, String> = [("team".to_string(), "blue".to_string())].into();
        for format in [Format::V3, Format::V2] {
            let object = block_on(encrypt_object(&aes, format, &context, b"object body")).expect("encrypts");
            assert_eq!(object.body.len(), b"object body".len() + GCM_TAG_LEN);
            let plain = block_on(decrypt_object(&aes, &context, true, &object.body, &object.metadata)).expect("opens");
            assert_eq!(plain.expose(), b"object body");
            assert!(
                block_on(decrypt_object(
                    &aes,
                    &BTreeMap::new(),
                    true,
                    &object.body,
                    &object.metadata
                ))
                .is_err()
            );
            let mut body = object.body.clone();
            body[0] ^= 1;
            assert!(block_on(decrypt_object(&aes, &context, true, &body, &object.metadata)).is_err());
        }
        let v2 = block_on(encrypt_object(&aes, Format::V2, &context, b"x")).expect("encrypts");
        assert!(matches!(
            block_on(decrypt_object(&aes, &context, false, &v2.body, &v2.metadata)),
            Err(ClientError::Policy(_))
        ));
        let mut v3 = block_on(encrypt_object(&aes, Format::V3, &context, b"x")).expect("encrypts");
        v3.metadata.insert("x-amz-d".into(), B64.encode([0u8; COMMITMENT_LEN]));
        assert!(matches!(
            block_on(decrypt_object(&aes, &context, false, &v3.body, &v3.metadata)),
            Err(ClientError::Tampered(_))
        ));
    }
}
