//! Keyrings: what generates, encrypts and decrypts the data keys of messages. AWS KMS keys (named, or discovered
//! from the message), raw AES and RSA wrapping keys, and multi-keyrings of several.

pub mod kms;
pub mod multi;
pub mod raw_aes;
pub mod raw_rsa;

use keyhaven_crypto::SecretBytes;

use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::message::header::EncryptedDataKey;
use crate::{BoxFuture, ClientError};

pub use kms::{KmsClients, KmsDiscoveryKeyring, KmsKeyring};
pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
pub use raw_rsa::RawRsaKeyring;

/// A keyring. On encrypt it provides the data key if the materials have none, and adds its encryption of it; on
/// decrypt it leaves materials that already hold a data key alone, else decrypts one of the message's data keys or
/// fails saying why it could not.
pub trait Keyring: Send + Sync {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>>;

    /// Decrypts one of the message's data keys into materials that hold none yet.
    fn decrypt_data_key<'a>(
        &'a self,
        materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>>;

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        if materials.data_key.is_some() {
            return Box::pin(async { Ok(materials) });
        }
        self.decrypt_data_key(materials, data_keys)
    }
}

/// A fresh data key for the materials' suite, for keyrings that generate locally.
fn generate_data_key(materials: &mut EncryptionMaterials) -> Result<(), ClientError> {
    if materials.data_key.is_none() {
        materials.data_key = Some(keyhaven_crypto::random_bytes(materials.suite.key_len())?);
    }
    Ok(())
}

/// The failure of a keyring none of whose tries decrypted a data key.
fn nothing_decrypted(keyring: &str, reasons: Vec<String>) -> ClientError {
    if reasons.is_empty() {
        ClientError::NoDataKey(format!(
            "{keyring}: the message has no data key encrypted under this keyring's key"
        ))
    } else {
        ClientError::NoDataKey(format!("{keyring}: {}", reasons.join("; ")))
    }
}

/// Takes the data key of one decryption attempt into `materials` if it succeeded with the suite's length, else
/// notes why not; answers whether the materials now hold a data key.
fn accept(
    materials: &mut DecryptionMaterials,
    attempt: Result<SecretBytes, String>,
    reasons: &mut Vec<String>,
) -> bool {
    match attempt {
        Ok(key) if key.len() == materials.suite.key_len() => {
            materials.data_key = Some(key);
            true
        }
        Ok(key) => {
            reasons.push(format!(
                "the decrypted data key has {} bytes, the suite needs {}",
                key.len(),
                materials.suite.key_len()
            ));
            false
        }
        Err(reason) => {
            reasons.push(reason);
            false
        }
    }
}
