//! The raw RSA keyring: data keys encrypted to an RSA public key (OAEP with SHA-1..SHA-512, or PKCS #1 v1.5) and
//! decrypted with its private key. Provider id = namespace, provider info = key name.

use keyhaven_crypto::envelope::{RsaPadding, RsaUnwrappingKey, rsa_wrap};

use super::{Keyring, accept, generate_data_key, nothing_decrypted};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::message::header::EncryptedDataKey;
use crate::{BoxFuture, ClientError};

/// A raw RSA keyring. Without a private key it only encrypts; without a public key it takes the private key's.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public_key: Option<Vec<u8>>,
    private_key: Option<RsaUnwrappingKey>,
}

impl std::fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawRsaKeyring({}/{})", self.namespace, self.name)
    }
}

impl RawRsaKeyring {
    /// A keyring from DER keys: the public key as SubjectPublicKeyInfo, the private key as PKCS #8 or PKCS #1.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public_key: Option<Vec<u8>>,
        private_key: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let namespace = namespace.into();
        if namespace == super::kms::PROVIDER_ID {
            return Err(ClientError::Config(format!(
                "a raw keyring's namespace cannot be \"{namespace}\""
            )));
        }
        let private_key = private_key
            .map(RsaUnwrappingKey::from_der)
            .transpose()
            .map_err(|_| ClientError::Config("the RSA private key does not parse".into()))?;
        let public_key = match (public_key, &private_key) {
            (Some(public), _) => Some(public),
            (None, Some(private)) => Some(private.public_key()?),
            (None, None) => {
                return Err(ClientError::Config(
                    "a raw RSA keyring needs a public or a private key".into(),
                ));
            }
        };
        Ok(Self {
            namespace: namespace.clone(),
            name: name.into(),
            padding,
            public_key,
            private_key,
        })
    }
}

impl Keyring for RawRsaKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            let public = self
                .public_key
                .as_ref()
                .ok_or_else(|| ClientError::Config("this raw RSA keyring has no public key".into()))?;
            generate_data_key(&mut materials)?;
            let data_key = materials.data_key.as_ref().map(|k| k.expose()).unwrap_or_default();
            let ciphertext = rsa_wrap(public, self.padding, data_key)
                .map_err(|_| ClientError::Config("the RSA public key does not parse or is too small".into()))?;
            materials.data_keys.push(EncryptedDataKey {
                provider_id: self.namespace.clone(),
                provider_info: self.name.as_bytes().to_vec(),
                ciphertext,
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
            let label = format!("raw RSA keyring {}/{}", self.namespace, self.name);
            let Some(private) = &self.private_key else {
                return Err(ClientError::NoDataKey(format!(
                    "{label}: no private key to decrypt with"
                )));
            };
            let mut reasons = Vec::new();
            for key in data_keys
                .iter()
                .filter(|k| k.provider_id == self.namespace && k.provider_info == self.name.as_bytes())
            {
                let attempt = private
                    .unwrap(self.padding, &key.ciphertext)
                    .map_err(|_| "a data key does not decrypt with this private key and padding".to_string());
                if accept(&mut materials, attempt, &mut reasons) {
                    return Ok(materials);
                }
            }
            Err(nothing_decrypted(&label, reasons))
        })
    }
}
