//! Fuzzes the KMS ciphertext blob: parsing and decryption of arbitrary blobs and contexts, and seal/open round trips.
#![no_main]

use keyhaven_crypto::blob::{self, BACKING_KEY_LEN, BlobHeader, KEY_ID_LEN, MATERIAL_ID_LEN};
use keyhaven_crypto::{CryptoError, EncryptionContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = [7u8; BACKING_KEY_LEN];
    let mut context = EncryptionContext::new();
    if let Some((first, _)) = data.split_first() {
        context.insert("k".into(), first.to_string());
    }
    // Forged: whatever parses never decrypts.
    match blob::parse_header(data) {
        Ok(header) => {
            assert_eq!(header.key_id[..], data[1..1 + KEY_ID_LEN]);
            assert!(
                blob::open(&key, data, &context).is_err(),
                "a forged blob must never decrypt"
            );
        }
        Err(error) => assert_eq!(error, CryptoError::InvalidCiphertext),
    }

    // Round trip: a header and plaintext from the input, the context from its first bytes.
    let mut header = BlobHeader {
        key_id: [0; KEY_ID_LEN],
        material_id: [0; MATERIAL_ID_LEN],
    };
    for (slot, byte) in header.key_id.iter_mut().chain(header.material_id.iter_mut()).zip(data) {
        *slot = *byte;
    }
    let sealed = blob::seal(&key, &header, data, &context).expect("seal");
    assert_eq!(sealed.len(), data.len() + blob::BLOB_OVERHEAD);
    assert_eq!(blob::parse_header(&sealed), Ok(header));
    assert_eq!(blob::open(&key, &sealed, &context).expect("open").expose(), data);
    let mut other = context.clone();
    other.insert("k".into(), "other".into());
    assert!(
        blob::open(&key, &sealed, &other).is_err(),
        "opened under another context"
    );
    assert!(
        blob::open(&[8u8; BACKING_KEY_LEN], &sealed, &context).is_err(),
        "opened under another key"
    );
    let mut tampered = sealed;
    let at = data.len() % tampered.len();
    tampered[at] ^= 1;
    assert!(
        blob::open(&key, &tampered, &context).is_err(),
        "opened with byte {at} flipped"
    );
});
