//! Fuzzes the generated awsJson decoder and validator: every KMS operation, arbitrary bodies.
#![no_main]

use keyhaven_api::generated::kms::{OPERATIONS, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    let operation = OPERATIONS[*selector as usize % OPERATIONS.len()];
    if let Err(e) = Request::decode(operation, body) {
        // Messages are built from input; they must stay printable and never panic.
        let _ = e.to_string();
    }
});
