//! Fuzzes the root-key sealed format (`RootKey::open`) with arbitrary values and labels, and seal/open round trips.
#![no_main]

use keyhaven_crypto::{CryptoError, RootKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: label length, label, value.
    let Some((&label_len, rest)) = data.split_first() else {
        return;
    };
    let (label, value) = rest.split_at(usize::from(label_len).min(rest.len()));
    let root = RootKey::from_bytes(&[0x42; 32]).expect("root key");

    // Forged: nothing sealed by someone without the key opens.
    assert_eq!(root.open(label, value).map(|_| ()), Err(CryptoError::InvalidCiphertext));
    // Only a 32-byte key is a root key.
    assert_eq!(RootKey::from_bytes(value).is_ok(), value.len() == 32);

    // Round trip, bound to the label.
    let sealed = root.seal(label, value).expect("seal");
    assert_eq!(sealed.len(), 1 + 12 + value.len() + 16);
    assert_eq!(root.open(label, &sealed).expect("open").expose(), value);
    let mut other_label = label.to_vec();
    other_label.push(0);
    assert!(root.open(&other_label, &sealed).is_err(), "opened under another label");
    let mut tampered = sealed;
    let at = value.len() % tampered.len();
    tampered[at] ^= 0x80;
    assert!(root.open(label, &tampered).is_err(), "opened with byte {at} flipped");
});
