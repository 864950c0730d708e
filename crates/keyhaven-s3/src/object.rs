//! One object version's body, written and read under its encryption: a fresh data key sealed for the object under
//! SSE-S3's service key or the SSE-C customer's key, the body sealed chunk by chunk into a blob, and its ETag and
//! checksum computed as it streams. SSE-KMS bodies take the data key KMS gave; DSSE-KMS bodies take two layers, the
//! KMS data key's and a fresh one sealed as SSE-S3's is.

use keyhaven_crypto::chunked::{ChunkKey, SALT_LEN, new_salt};
use keyhaven_crypto::digest::Md5;
use keyhaven_crypto::sealing::SealingKey;
use keyhaven_store::BlobStore;

use crate::S3Error;
use crate::body::SealedWriter;
use crate::checksum::{ChecksumAlgorithm, Checksummer, encode};
use crate::data_key::DataKey;
use crate::etag::{EtagKind, single};
use crate::sse_c::{CustomerKey, FINGERPRINT_SALT_LEN};

/// How an object version's data key is kept.
#[derive(Debug, Clone, Copy)]
pub enum Protection<'a> {
    /// SSE-S3: under the scope's service key.
    SseS3(&'a SealingKey),
    /// SSE-C: under the customer's key, which is not kept.
    SseC(&'a CustomerKey),
    /// SSE-KMS: a data key KMS gave (or a bucket key), whose KMS ciphertext the object's record keeps; the body's key
    /// derives from it with the body's own salt and identity.
    Kms(&'a DataKey),
    /// DSSE-KMS: the first layer under a data key KMS gave (never a bucket key), the second under a data key of
    /// S3's own, sealed under the scope's service key.
    Dsse { kms: &'a DataKey, service: &'a SealingKey },
}

/// What an object version's record keeps of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub blob_id: String,
    pub len: u64,
    pub salt: [u8; SALT_LEN],
    pub sealed_data_key: Vec<u8>,
    pub etag: String,
    /// The additional checksum the client asked for, as S3 writes it.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// SSE-C: the salt and HMAC that recognise the customer's key.
    pub customer_key: Option<([u8; FINGERPRINT_SALT_LEN], [u8; 32])>,
}

/// A body being written.
pub struct BodyWriter {
    sealed: SealedWriter,
    /// Only when something needs the body's MD5 (an MD5 ETag, a `Content-MD5`): it is the dearest step per byte.
    md5: Option<Md5>,
    checksum: Option<Checksummer>,
    stored: StoredBody,
    etag_kind: EtagKind,
}

impl std::fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyWriter")
            .field("blob_id", &self.stored.blob_id)
            .finish()
    }
}

impl BodyWriter {
    /// Starts the body of the object version `identity` as blob `blob_id`.
    pub fn begin(
        blobs: &dyn BlobStore,
        blob_id: &str,
        identity: &[u8],
        protection: Protection<'_>,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Result<Self, S3Error> {
        let salt = new_salt()?;
        let (chunk_key, sealed_data_key, customer_key, etag_kind) = match protection {
            Protection::Kms(given) => (given.chunk_key(&salt, identity)?, Vec::new(), None, EtagKind::Opaque),
            Protection::Dsse { kms, service } => {
                let second = DataKey::generate()?;
                let chunk_key = two_layers(kms, &second, &salt, identity)?;
                (chunk_key, second.seal(service, identity)?, None, EtagKind::Opaque)
            }
            Protection::SseS3(service_key) => {
                let data_key = DataKey::generate()?;
                let sealed = data_key.seal(service_key, identity)?;
                (data_key.chunk_key(&salt, identity)?, sealed, None, EtagKind::Md5)
            }
            Protection::SseC(customer) => {
                let data_key = DataKey::generate()?;
                let fingerprint_salt: [u8; FINGERPRINT_SALT_LEN] = keyhaven_crypto::random_array()?;
                let sealed = data_key.seal(&customer.sealing_key()?, identity)?;
                let fingerprint = customer.fingerprint(&fingerprint_salt);
                let chunk_key = data_key.chunk_key(&salt, identity)?;
                (
                    chunk_key,
                    sealed,
                    Some((fingerprint_salt, fingerprint)),
                    EtagKind::Opaque,
                )
            }
        };
        let sealed = SealedWriter::new(chunk_key, blobs.create(blob_id)?);
        Ok(Self {
            sealed,
            md5: (etag_kind == EtagKind::Md5).then(Md5::default),
            checksum: checksum.map(Checksummer::new),
            stored: StoredBody {
                blob_id: blob_id.to_string(),
                len: 0,
                salt,
                sealed_data_key,
                etag: String::new(),
                checksum: None,
                customer_key,
            },
            etag_kind,
        })
    }

    /// Computes the body's MD5 even where its ETag does not need it, for a `Content-MD5` check.
    pub fn compute_md5(&mut self) {
        self.md5.get_or_insert_with(Md5::default);
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), S3Error> {
        if let Some(md5) = &mut self.md5 {
            md5.update(bytes);
        }
        if let Some(checksum) = &mut self.checksum {
            checksum.update(bytes);
        }
        self.sealed.write(bytes)
    }

    /// Commits the blob; the caller then commits the record that refers to it. Also answers the body's MD5 where it
    /// was computed, which a request's `Content-MD5` is checked against.
    pub fn finish(mut self) -> Result<(StoredBody, Option<[u8; 16]>), S3Error> {
        self.stored.len = self.sealed.finish()?;
        let md5 = self.md5.map(Md5::finish);
        self.stored.etag = single(self.etag_kind, md5.as_ref())?;
        self.stored.checksum = self.checksum.map(|c| {
            let algorithm = c.algorithm();
            (algorithm, encode(&c.finish()))
        });
        Ok((self.stored, md5))
    }
}

/// The key that opens a stored body's chunks. An SSE-C body opens only with the customer key it was written with
/// (AccessDenied otherwise, as S3 answers); an SSE-S3 body only with its scope's service key; an SSE-KMS body with the
/// data key KMS opened for it.
pub fn body_key(stored: &StoredBody, identity: &[u8], protection: Protection<'_>) -> Result<ChunkKey, S3Error> {
    let data_key = match (protection, &stored.customer_key) {
        (Protection::Kms(given), None) => return given.chunk_key(&stored.salt, identity),
        (Protection::Dsse { kms, service }, None) => {
            let second = DataKey::open(service, identity, &stored.sealed_data_key)?;
            return two_layers(kms, &second, &stored.salt, identity);
        }
        (Protection::SseS3(service_key), None) => DataKey::open(service_key, identity, &stored.sealed_data_key)?,
        (Protection::SseC(customer), Some((salt, fingerprint))) => {
            customer.check(salt, fingerprint)?;
            DataKey::open(&customer.sealing_key()?, identity, &stored.sealed_data_key)?
        }
        _ => {
            return Err(S3Error::Internal(
                "the object's encryption is not the one asked for".into(),
            ));
        }
    };
    data_key.chunk_key(&stored.salt, identity)
}

/// DSSE-KMS's chunk key: the KMS data key's layer, then the S3 data key's over it.
fn two_layers(kms: &DataKey, second: &DataKey, salt: &[u8; SALT_LEN], identity: &[u8]) -> Result<ChunkKey, S3Error> {
    Ok(kms
        .chunk_key(salt, identity)?
        .with_second_layer(second.chunk_key(salt, identity)?)?)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use keyhaven_crypto::digest::md5;
    use keyhaven_store::FsBlobStore;
    use keyhaven_store::testing::TempDir;

    use super::*;
    use crate::body::read_range;
    use crate::sse_c::customer_key;

    const IDENTITY: &[u8] = b"bucket\0secret-plans.txt\0version-1";
    /// A marker that must never appear in the data directory in clear.
    const CANARY: &[u8] = b"CANARY-7f3a9c1e-the-plaintext-must-not-reach-disk";

    fn customer(byte: u8) -> CustomerKey {
        customer_key(&[byte; 32])
    }

    fn body() -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..5000u32 {
            body.extend_from_slice(CANARY);
            body.extend_from_slice(&i.to_be_bytes());
        }
        body
    }

    fn put(dir: &TempDir, protection: Protection<'_>, data: &[u8]) -> (FsBlobStore, StoredBody) {
        let blobs = FsBlobStore::open(&dir.path().join("blobs")).expect("blobs");
        let mut writer =
            BodyWriter::begin(&blobs, "v1", IDENTITY, protection, Some(ChecksumAlgorithm::Crc32)).expect("begin");
        for piece in data.chunks(10_000) {
            writer.write(piece).expect("write");
        }
        (blobs, writer.finish().expect("finish").0)
    }

    fn get(blobs: &FsBlobStore, stored: &StoredBody, protection: Protection<'_>, start: u64, end: u64) -> Vec<u8> {
        let key = body_key(stored, IDENTITY, protection).expect("key");
        let blob = blobs.open(&stored.blob_id).expect("open").expect("present");
        let mut out = Vec::new();
        read_range(&key, &*blob, stored.len, start, end, |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        })
        .expect("read");
        out
    }

    /// Every file under the data directory, as bytes.
    fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push(std::fs::read(&path).expect("file"));
            }
        }
        out
    }

    #[test]
    fn sse_s3_bodies_read_back_whole_and_in_ranges_with_aws_etag_and_checksum() {
        let dir = TempDir::new();
        let service_key = SealingKey::new(&[9; 32]).expect("service key");
        let data = body();
        let (blobs, stored) = put(&dir, Protection::SseS3(&service_key), &data);
        assert_eq!(stored.len, data.len() as u64);
        assert_eq!(stored.etag, format!("\"{}\"", hex::encode(md5(&data))));
        let mut crc = Checksummer::new(ChecksumAlgorithm::Crc32);
        crc.update(&data);
        assert_eq!(stored.checksum, Some((ChecksumAlgorithm::Crc32, encode(&crc.finish()))));
        assert_eq!(
            get(&blobs, &stored, Protection::SseS3(&service_key), 0, stored.len),
            data
        );
        assert_eq!(
            get(&blobs, &stored, Protection::SseS3(&service_key), 70_000, 70_100),
            &data[70_000..70_100]
        );

        let other_key = SealingKey::new(&[8; 32]).expect("another service key");
        assert!(matches!(
            body_key(&stored, IDENTITY, Protection::SseS3(&other_key)),
            Err(S3Error::Internal(_))
        ));
        assert!(matches!(
            body_key(&stored, b"bucket\0other\0version-1", Protection::SseS3(&service_key)),
            Err(S3Error::Internal(_))
        ));
    }

    /// A DSSE-KMS body opens only with both its KMS data key and the service key its second layer's key is sealed
    /// under; either one alone does not open it.
    #[test]
    fn dsse_bodies_open_only_with_both_layers() {
        let dir = TempDir::new();
        let service = SealingKey::new(&[9; 32]).expect("service key");
        let kms = DataKey::from_kms(keyhaven_crypto::SecretBytes::new(vec![7; 32])).expect("data key");
        let data = body();
        let (blobs, stored) = put(
            &dir,
            Protection::Dsse {
                kms: &kms,
                service: &service,
            },
            &data,
        );
        assert_ne!(
            stored.etag,
            format!("\"{}\"", hex::encode(md5(&data))),
            "a DSSE ETag is not the MD5"
        );
        assert!(
            !stored.sealed_data_key.is_empty(),
            "the second layer's key is kept sealed"
        );
        let both = Protection::Dsse {
            kms: &kms,
            service: &service,
        };
        assert_eq!(get(&blobs, &stored, both, 0, stored.len), data);
        assert_eq!(get(&blobs, &stored, both, 70_000, 70_100), &data[70_000..70_100]);
        let blob = blobs.open(&stored.blob_id).expect("open").expect("present");
        assert_eq!(blob.len(), stored.len + 2 * 16 * stored.len.div_ceil(64 * 1024));

        let first_layer_only = body_key(&stored, IDENTITY, Protection::Kms(&kms)).expect("a one-layer key");
        assert!(matches!(
            read_range(&first_layer_only, &*blob, stored.len, 0, 10, |_| Ok(())),
            Err(S3Error::Internal(_))
        ));
        let other_kms = DataKey::from_kms(keyhaven_crypto::SecretBytes::new(vec![8; 32])).expect("data key");
        let wrong_first = body_key(
            &stored,
            IDENTITY,
            Protection::Dsse {
                kms: &other_kms,
                service: &service,
            },
        )
        .expect("a two-layer key");
        assert!(matches!(
            read_range(&wrong_first, &*blob, stored.len, 0, 10, |_| Ok(())),
            Err(S3Error::Internal(_))
        ));
        let other_service = SealingKey::new(&[8; 32]).expect("service key");
        assert!(matches!(
            body_key(
                &stored,
                IDENTITY,
                Protection::Dsse {
                    kms: &kms,
                    service: &other_service
                }
            ),
            Err(S3Error::Internal(_))
        ));
        for file in files(dir.path()) {
            assert!(!file.windows(CANARY.len()).any(|w| w == CANARY), "plaintext on disk");
        }
    }

    #[test]
    fn sse_c_bodies_open_only_with_their_customer_key_which_is_never_stored() {
        let dir = TempDir::new();
        let key = customer(0x5a);
        let data = body();
        let (blobs, stored) = put(&dir, Protection::SseC(&key), &data);
        assert_ne!(
            stored.etag,
            format!("\"{}\"", hex::encode(md5(&data))),
            "an SSE-C ETag is not the MD5"
        );
        assert_eq!(
            get(&blobs, &stored, Protection::SseC(&customer(0x5a)), 0, stored.len),
            data
        );
        assert!(matches!(
            body_key(&stored, IDENTITY, Protection::SseC(&customer(0x5b))),
            Err(S3Error::AccessDenied(_))
        ));

        // The canary scan: neither the body nor the customer's key is anywhere on disk in clear.
        for file in files(dir.path()) {
            assert!(!file.windows(CANARY.len()).any(|w| w == CANARY), "plaintext on disk");
            assert!(!file.windows(32).any(|w| w == [0x5a; 32]), "the customer key on disk");
        }
        let record = format!("{stored:?}");
        assert!(!record.contains(&STANDARD.encode([0x5a; 32])));
    }
}
