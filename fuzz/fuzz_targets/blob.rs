//! Fuzzes the ciphertext blob parser and decryption with arbitrary blobs and contexts.
#![no_main]

use keyhaven_crypto::EncryptionContext;
use keyhaven_crypto::blob::{self, BACKING_KEY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = [7u8; BACKING_KEY_LEN];
    let mut context = EncryptionContext::new();
    if let Some((first, _)) = data.split_first() {
        context.insert("k".into(), first.to_string());
    }
    if blob::parse_header(data).is_ok() {
        assert!(blob::open(&key, data, &context).is_err(), "a forged blob must never decrypt");
    }
});
