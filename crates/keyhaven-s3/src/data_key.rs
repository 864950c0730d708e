//! An object version's data key, and how SSE-S3 and SSE-C keep it: sealed (`keyhaven_crypto::sealing`) under SSE-S3's
//! service key or under the customer's key, bound to the object's identity so a sealed key cannot be moved to another
//! object. (SSE-KMS keeps the KMS ciphertext of its data key instead, through the kernel's `KeyService`.)

use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::chunked::{ChunkKey, DATA_KEY_LEN, SALT_LEN};
use keyhaven_crypto::sealing::SealingKey;

use crate::S3Error;
use crate::sse_c::CustomerKey;

const LABEL: &[u8] = b"keyhaven/s3/data-key/v1\0";

/// The 256-bit key an object version's body is sealed under (through its `ChunkKey`).
#[derive(Debug)]
pub struct DataKey(SecretBytes);

impl DataKey {
    /// A fresh key for a new object version.
    pub fn generate() -> Result<Self, S3Error> {
        Ok(Self(keyhaven_crypto::random_bytes(DATA_KEY_LEN)?))
    }

    /// A data key KMS gave (GenerateDataKey or Decrypt of its ciphertext).
    pub fn from_kms(plaintext: SecretBytes) -> Result<Self, S3Error> {
        if plaintext.expose().len() != DATA_KEY_LEN {
            return Err(S3Error::Internal("KMS gave a data key of the wrong length".into()));
        }
        Ok(Self(plaintext))
    }

    /// The key that seals and opens the body's chunks.
    pub fn chunk_key(&self, salt: &[u8; SALT_LEN], identity: &[u8]) -> Result<ChunkKey, S3Error> {
        Ok(ChunkKey::derive(self.0.expose(), salt, identity)?)
    }

    /// The data key sealed under `wrapping` for the object `identity`.
    pub fn seal(&self, wrapping: &SealingKey, identity: &[u8]) -> Result<Vec<u8>, S3Error> {
        Ok(wrapping.seal(&label(identity), self.0.expose())?)
    }

    /// Opens a data key sealed for `identity`. A key that does not open was changed or moved: an internal error,
    /// since the caller has already been recognised (an SSE-C key is checked by its fingerprint first).
    pub fn open(wrapping: &SealingKey, identity: &[u8], sealed: &[u8]) -> Result<Self, S3Error> {
        let key = wrapping.open(&label(identity), sealed)?;
        if key.expose().len() != DATA_KEY_LEN {
            return Err(S3Error::Internal("a sealed data key of the wrong length".into()));
        }
        Ok(Self(key))
    }
}

impl CustomerKey {
    /// The customer's key as the key that seals the object's data key.
    pub fn sealing_key(&self) -> Result<SealingKey, S3Error> {
        Ok(SealingKey::new(self.expose())?)
    }
}

fn label(identity: &[u8]) -> Vec<u8> {
    [LABEL, identity].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse_c::customer_key;

    const IDENTITY: &[u8] = b"bucket\0photos/cat.jpg\0version-1";

    /// A data key sealed for one object under one wrapping key opens there only, and opens to a key that seals
    /// and opens the object's chunks.
    #[test]
    fn a_sealed_data_key_opens_only_for_its_object_under_its_wrapping_key() {
        let service = SealingKey::new(&[3; 32]).expect("service key");
        let customer = customer_key(&[4; 32]).sealing_key().expect("customer key");
        let other_customer = customer_key(&[5; 32]).sealing_key().expect("customer key");
        for wrapping in [&service, &customer] {
            let data_key = DataKey::generate().expect("data key");
            let sealed = data_key.seal(wrapping, IDENTITY).expect("seal");
            let salt = [6; SALT_LEN];
            let mut chunk = b"object bytes".to_vec();
            data_key
                .chunk_key(&salt, IDENTITY)
                .expect("chunk key")
                .seal(0, true, &mut chunk)
                .expect("seal chunk");

            let opened = DataKey::open(wrapping, IDENTITY, &sealed).expect("open");
            let len = opened
                .chunk_key(&salt, IDENTITY)
                .expect("chunk key")
                .open(0, true, &mut chunk)
                .expect("open chunk");
            assert_eq!(&chunk[..len], b"object bytes");

            assert!(matches!(
                DataKey::open(wrapping, b"bucket\0photos/dog.jpg\0version-1", &sealed),
                Err(S3Error::Internal(_))
            ));
            assert!(matches!(
                DataKey::open(&other_customer, IDENTITY, &sealed),
                Err(S3Error::Internal(_))
            ));
        }
    }
}
