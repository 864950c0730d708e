//! The multi-keyring: an optional generator that provides the data key and child keyrings that each add their
//! encryption of it; on decrypt, the first keyring that decrypts a data key wins.

use std::sync::Arc;

use super::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::message::header::EncryptedDataKey;
use crate::{BoxFuture, ClientError};

pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl std::fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MultiKeyring({} children)", self.children.len())
    }
}

impl MultiKeyring {
    pub fn new(generator: Option<Arc<dyn Keyring>>, children: Vec<Arc<dyn Keyring>>) -> Result<Self, ClientError> {
        if generator.is_none() && children.is_empty() {
            return Err(ClientError::Config(
                "a multi-keyring needs a generator or a child keyring".into(),
            ));
        }
        Ok(Self { generator, children })
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials, ClientError>> {
        Box::pin(async move {
            match &self.generator {
                Some(generator) => materials = generator.on_encrypt(materials).await?,
                None if materials.data_key.is_none() => {
                    return Err(ClientError::Config(
                        "a multi-keyring without a generator cannot provide a data key".into(),
                    ));
                }
                None => {}
            }
            for child in &self.children {
                materials = child.on_encrypt(materials).await?;
            }
            Ok(materials)
        })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        materials: DecryptionMaterials,
        data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials, ClientError>> {
        Box::pin(async move {
            let mut reasons = Vec::new();
            for keyring in self.generator.iter().chain(&self.children) {
                match keyring.on_decrypt(materials.clone(), data_keys).await {
                    Ok(decrypted) if decrypted.data_key.is_some() => return Ok(decrypted),
                    Ok(_) => {}
                    Err(ClientError::NoDataKey(reason)) => reasons.push(reason),
                    Err(error) => reasons.push(error.to_string()),
                }
            }
            Err(ClientError::NoDataKey(reasons.join("; ")))
        })
    }
}
