//! The raw AES keyring: data keys wrapped with AES-GCM under a wrapping key the caller holds, bound to the
//! encryption context. Its wrapped keys are those of the SDKs' raw AES keyrings and `RawMasterKey`s: provider id =
//! namespace, provider info = key name || tag length in bits || IV length || IV, ciphertext = wrapped key || tag.

use keyhaven_crypto::envelope::{GCM_IV_LEN, GCM_TAG_LEN, GcmKey};

use super::{Keyring, accept, generate_data_key, nothing_decrypted};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::message::header::EncryptedDataKey;
use crate::{BoxFuture, ClientError};

/// A raw AES keyring over a 128, 192 or 256-bit wrapping key.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: GcmKey,
}

impl std::fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawAesKeyring({}/{})", self.namespace, self.name)
    }
}

impl RawAesKeyring {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        wrapping_key: &[u8],
    ) -> Result<Self, ClientError> {
        let namespace = namespace.into();
        if namespace == super::kms::PROVIDER_ID {
            return Err(ClientError::Config(format!(
                "a raw keyring's namespace cannot be \"{namespace}\""
            )));
        }
        let key = GcmKey::new(wrapping_key)
            .map_err(|_| ClientError::Config("a raw AES wrapping key must be 16, 24 or 32 bytes".into()))?;
        Ok(Self {
            namespace,
            name: name.into(),
            key,
        })
    }

    fn provider_info(&self, iv: &[u8; GCM_IV_LEN]) -> Vec<u8> {
        let mut info = Vec::with_capacity(self.name.len() + 8 + GCM_IV_LEN);
        info.extend_from_slice(self.name.as_bytes());
        info.extend_from_slice(&((GCM_TAG_LEN * 8) as u32).to_be_bytes());
        info.extend_from_slice(&(GCM_IV_LEN as u32).to_be_bytes());
        info.extend_from_slice(iv);
        info
    }

    /// The IV of a wrapped key that is this keyring's, from its provider info.
    fn iv_of(&self, key: &EncryptedDataKey) -> Option<[u8; GCM_IV_LEN]> {
        if key.provider_id != self.namespace {
            return None;
        }
        let rest = key.provider_info.strip_prefix(self.name.as_bytes())?;
        let (lengths, iv) = rest.split_at_checked(8)?;
        if lengths[..4] != ((GCM_TAG_LEN * 8) as u32).to_be_bytes() || lengths[4..] != (GCM_IV_LEN as u32).to_be_bytes()
        {
            return None;
        }
        iv.try_into().ok()
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            generate_data_key(&mut materials)?;
            let iv = keyhaven_crypto::random_array::<GCM_IV_LEN>()?;
            let aad = materials.context.serialize()?;
            let mut sealed = materials
                .data_key
                .as_ref()
                .map(|k| k.expose().to_vec())
                .unwrap_or_default();
            let tag = self.key.seal(&iv, &aad, &mut sealed)?;
            sealed.extend_from_slice(&tag);
            materials.data_keys.push(EncryptedDataKey {
                provider_id: self.namespace.clone(),
                provider_info: self.provider_info(&iv),
                ciphertext: sealed,
            });
            Ok(materials)
        })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            let aad = materials.context.serialize()?;
            let mut reasons = Vec::new();
            for key in data_keys {
                let Some(iv) = self.iv_of(key) else { continue };
                let mut sealed = key.ciphertext.clone();
                let attempt = self
                    .key
                    .open(&iv, &aad, &mut sealed)
                    .map(|len| {
                        sealed.truncate(len);
                        keyhaven_crypto::SecretBytes::new(sealed)
                    })
                    .map_err(|_| {
                        format!(
                            "the data key wrapped by {}/{} does not decrypt with this wrapping key and encryption \
                             context",
                            self.namespace, self.name
                        )
                    });
                if accept(&mut materials, attempt, &mut reasons) {
                    return Ok(materials);
                }
            }
            Err(nothing_decrypted(
                &format!("raw AES keyring {}/{}", self.namespace, self.name),
                reasons,
            ))
        })
    }
}
