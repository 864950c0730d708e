//! The public AWS Encryption SDK decryption test vectors (messages from the Python, .NET and Dafny SDKs under raw
//! AES and RSA keys, and the key-commitment vectors of the Python, Java, C and JavaScript SDKs) decrypt as the
//! manifests say. Sources: tests/data/esdk-vectors/SOURCE.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_client::keyring::{MultiKeyring, RawAesKeyring, RawRsaKeyring};
use keyhaven_client::materials::DecryptionMaterials;
use keyhaven_client::message::header::EncryptedDataKey;
use keyhaven_client::message::{DecryptOptions, decrypt_bytes};
use keyhaven_client::{BoxFuture, ClientError, CommitmentPolicy, DefaultMaterialsManager, EncryptionContext, Keyring};
use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::envelope::RsaPadding;
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/esdk-vectors")
}

fn read_uri(dir: &Path, uri: &str) -> Vec<u8> {
    let path = dir.join(uri.trim_start_matches("file://"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body.trim()).expect("PEM body is base64")
}

/// A key of keys.json: its material as one string (version 1 keeps it as lines).
fn material(key: &Value) -> String {
    match &key["material"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => {
            let separator = key["line-separator"].as_str().unwrap_or("");
            lines
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(separator)
        }
        other => panic!("material {other}"),
    }
}

/// The keyring of a raw master-key (or keyring) description; `None` for keys that cannot decrypt.
fn raw_keyring(description: &Value, keys: &Value) -> Option<Arc<dyn Keyring>> {
    let name = description["key"].as_str().expect("key name");
    let key = &keys["keys"][name];
    if key["decrypt"] == Value::Bool(false) {
        return None;
    }
    let key_id = key["key-id"].as_str().unwrap_or(name).to_string();
    let namespace = description["provider-id"].as_str().expect("provider id").to_string();
    match description["encryption-algorithm"].as_str() {
        Some("aes") => {
            let bytes = B64.decode(material(key)).expect("AES key is base64");
            Some(Arc::new(
                RawAesKeyring::new(namespace, key_id, &bytes).expect("AES keyring"),
            ))
        }
        Some("rsa") => {
            let padding = match (
                description["padding-algorithm"].as_str(),
                description["padding-hash"].as_str(),
            ) {
                (Some("pkcs1"), _) => RsaPadding::Pkcs1,
                (Some("oaep-mgf1"), Some("sha1")) => RsaPadding::OaepSha1,
                (Some("oaep-mgf1"), Some("sha256")) => RsaPadding::OaepSha256,
                (Some("oaep-mgf1"), Some("sha384")) => RsaPadding::OaepSha384,
                (Some("oaep-mgf1"), Some("sha512")) => RsaPadding::OaepSha512,
                other => panic!("padding {other:?}"),
            };
            let der = pem_der(&material(key));
            Some(Arc::new(
                RawRsaKeyring::new(namespace, key_id, padding, None, Some(&der)).expect("RSA keyring"),
            ))
        }
        other => panic!("encryption algorithm {other:?}"),
    }
}

/// The keyring of a version 5 keyring description.
fn described_keyring(description: &Value, keys: &Value) -> Option<Arc<dyn Keyring>> {
    match description["type"].as_str() {
        Some("raw") => raw_keyring(description, keys),
        Some("multi-keyring") => {
            let generator = description.get("generator").and_then(|g| described_keyring(g, keys));
            let children: Vec<_> = description["childKeyrings"]
                .as_array()
                .map(|c| c.iter().filter_map(|k| described_keyring(k, keys)).collect())
                .unwrap_or_default();
            Some(Arc::new(MultiKeyring::new(generator, children).ok()?))
        }
        // The required keys come in as the reproduced encryption context; the keyring is the underlying one.
        Some("required-encryption-context-cmm") => described_keyring(&description["underlying"], keys),
        other => panic!("keyring type {other:?}"),
    }
}

fn decrypt(
    keyring: Arc<dyn Keyring>,
    message: &[u8],
    policy: CommitmentPolicy,
    reproduced: &Value,
) -> Result<Vec<u8>, ClientError> {
    let manager = DefaultMaterialsManager::new(keyring);
    let reproduced_context: EncryptionContext = reproduced
        .as_object()
        .map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let options = DecryptOptions {
        commitment_policy: policy,
        reproduced_context,
        ..DecryptOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let (plaintext, _) = runtime.block_on(decrypt_bytes(&manager, &options, message))?;
    Ok(plaintext.expose().to_vec())
}

/// Runs a version 2..4 manifest (`master-keys` per test); returns how many tests ran.
fn run_manifest(set: &str) -> usize {
    let dir = vectors().join(set);
    let manifest: Value = serde_json::from_slice(&read_uri(&dir, "manifest.json")).expect("manifest");
    let keys: Value = serde_json::from_slice(&read_uri(&dir, manifest["keys"].as_str().expect("keys"))).expect("keys");
    let tests = manifest["tests"].as_object().expect("tests");
    let mut failures = Vec::new();
    for (name, test) in tests {
        let keyrings: Vec<_> = test["master-keys"]
            .as_array()
            .expect("master keys")
            .iter()
            .filter_map(|k| raw_keyring(k, &keys))
            .collect();
        let keyring: Arc<dyn Keyring> = Arc::new(MultiKeyring::new(None, keyrings).expect("keyring"));
        let message = read_uri(&dir, test["ciphertext"].as_str().expect("ciphertext"));
        let result = decrypt(
            keyring,
            &message,
            CommitmentPolicy::RequireEncryptAllowDecrypt,
            &test["encryption-context"],
        );
        match (&test["result"]["output"]["plaintext"], result) {
            (Value::String(uri), Ok(plaintext)) if plaintext == read_uri(&dir, uri) => {}
            (Value::Null, Err(_)) => {}
            (expected, got) => failures.push(format!("{name}: expected {expected}, got {:?}", got.map(|p| p.len()))),
        }
    }
    assert!(
        failures.is_empty(),
        "{set}: {} of {} failed:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
    tests.len()
}

#[test]
fn net_sdk_raw_key_messages_decrypt() {
    assert_eq!(run_manifest("net-4.0.1-v4"), 99);
}

#[test]
fn messages_that_break_the_header_authentication_rules_are_refused() {
    // ESDK-NET 4.0.0 wrote header authentication and key derivation the specification does not allow.
    assert_eq!(run_manifest("net-4.0.0-invalid"), 28);
}

#[test]
fn python_legacy_messages_of_every_version_1_suite_and_frame_size_decrypt() {
    assert_eq!(run_manifest("python-1.3.0-legacy"), 135);
}

#[test]
fn dafny_sdk_raw_multi_keyring_and_required_context_messages_decrypt() {
    let dir = vectors().join("dafny-4.1.0-v5");
    let manifest: Value = serde_json::from_slice(&read_uri(&dir, "manifest.json")).expect("manifest");
    let keys: Value = serde_json::from_slice(&read_uri(&dir, "keys.json")).expect("keys");
    let tests = manifest["tests"].as_object().expect("tests");
    let mut failures = Vec::new();
    for (name, test) in tests {
        let scenario = &test["decryption-scenario"];
        let keyring = described_keyring(&scenario["decryptKeyDescription"], &keys).expect("keyring");
        let message = read_uri(&dir, scenario["ciphertext"].as_str().expect("ciphertext"));
        let expected = read_uri(&dir, scenario["result"].as_str().expect("result"));
        match decrypt(
            keyring,
            &message,
            CommitmentPolicy::RequireEncryptAllowDecrypt,
            &scenario["reproduced-encryption-context"],
        ) {
            Ok(plaintext) if plaintext == expected => {}
            other => failures.push(format!("{name}: {:?}", other.map(|p| p.len()))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
    assert_eq!(tests.len(), 187);
}

/// A keyring that knows one message's data key, as the commitment vectors give it.
struct KnownDataKey(Vec<u8>);

impl Keyring for KnownDataKey {
    fn on_encrypt<'a>(
        &'a self,
        _: keyhaven_client::materials::EncryptionMaterials,
    ) -> BoxFuture<'a, Result<keyhaven_client::materials::EncryptionMaterials, ClientError>> {
        Box::pin(async { Err(ClientError::Config("decrypt only".into())) })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        _: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            materials.data_key = Some(SecretBytes::from_slice(&self.0));
            Ok(materials)
        })
    }
}

#[test]
fn key_commitment_vectors_of_four_sdks_decrypt_or_fail_as_recorded() {
    let file = vectors().join("static-json/commitment-test-vectors.json");
    let vectors: Value = serde_json::from_slice(&std::fs::read(file).expect("vectors")).expect("json");
    let tests = vectors["tests"].as_array().expect("tests");
    let mut failures = Vec::new();
    let mut refused = 0;
    for (i, test) in tests.iter().enumerate() {
        let message = B64
            .decode(test["ciphertext"].as_str().expect("ciphertext"))
            .expect("base64");
        let data_key = B64
            .decode(test["decrypted-dek"].as_str().expect("dek"))
            .expect("base64");
        let result = decrypt(
            Arc::new(KnownDataKey(data_key)),
            &message,
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            &Value::Null,
        );
        let expected: Vec<u8> = test["plaintext-frames"]
            .as_array()
            .map(|frames| {
                frames
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(|f| f.bytes())
                    .collect()
            })
            .unwrap_or_default();
        match (test["status"].as_bool(), result) {
            (Some(true), Ok(plaintext)) if plaintext == expected => {}
            (Some(false), Err(ClientError::Tampered(_))) => refused += 1,
            (status, got) => failures.push(format!("#{i} ({}): status {status:?}, got {got:?}", test["comment"])),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
    assert_eq!((tests.len(), refused), (46, 5));
}
