//! Identifiers every service mints: random UUIDs (key ids, request and event ids, version ids) and
//! AWS's unique ids (`AIDA…`, `AROA…`, access key ids).

use crate::error::KernelError;

/// Characters of AWS unique ids and access key ids after the prefix.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A random version-4 UUID, lowercase, as AWS formats key ids.
pub fn new_uuid() -> Result<String, KernelError> {
    let mut bytes: [u8; 16] = keyhaven_crypto::random_array()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid_string(&bytes))
}

/// 16 bytes in the 8-4-4-4-12 hex form.
pub fn uuid_string(bytes: &[u8; 16]) -> String {
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A unique id in AWS's shape: a four-letter prefix then `len` characters.
pub fn unique_id(prefix: &str, len: usize) -> Result<String, KernelError> {
    let random = keyhaven_crypto::random_bytes(len)?;
    Ok(random
        .expose()
        .iter()
        .map(|b| ID_ALPHABET[*b as usize % ID_ALPHABET.len()] as char)
        .fold(prefix.to_string(), |mut id, c| {
            id.push(c);
            id
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_unique() {
        let a = new_uuid().expect("uuid");
        let b = new_uuid().expect("uuid");
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn unique_ids_have_the_prefix_and_aws_alphabet() {
        let id = unique_id("AIDA", 17).expect("id");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        assert!(id[4..].bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
    }
}
