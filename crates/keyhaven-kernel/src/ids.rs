//! Identifiers every service mints: random UUIDs (key ids, request and event ids, version ids) and
//! AWS's unique ids (`AIDA…`, `AROA…`, access key ids).

use std::cell::RefCell;

use crate::error::KernelError;

/// Characters of AWS unique ids and access key ids after the prefix.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Random bytes drawn from the CSPRNG a page at a time for identifiers, which are not secrets:
/// every request takes two (its request id and its audit event id), and one draw per id costs
/// more than the id.
const POOL_BYTES: usize = 4096;

struct IdPool {
    bytes: [u8; POOL_BYTES],
    used: usize,
}

thread_local! {
    static POOL: RefCell<IdPool> = const { RefCell::new(IdPool { bytes: [0; POOL_BYTES], used: POOL_BYTES }) };
}

/// `N` random bytes for an identifier, each byte of the pool used once.
fn id_bytes<const N: usize>() -> Result<[u8; N], KernelError> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + N > POOL_BYTES {
            pool.bytes = keyhaven_crypto::random_array()?;
            pool.used = 0;
        }
        let start = pool.used;
        pool.used += N;
        let mut out = [0u8; N];
        out.copy_from_slice(&pool.bytes[start..start + N]);
        Ok(out)
    })
}

/// A random version-4 UUID, lowercase, as AWS formats key ids.
pub fn new_uuid() -> Result<String, KernelError> {
    let mut bytes: [u8; 16] = id_bytes()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid_string(&bytes))
}

/// A version-7 UUID for `time` (RFC 9562: 48 bits of Unix milliseconds, then random bits): a CloudTrail event id
/// that tells when its event happened, so the event history finds it by time instead of keeping an index entry per
/// event.
pub fn uuid_v7(time: time::OffsetDateTime) -> Result<String, KernelError> {
    let mut bytes: [u8; 16] = id_bytes()?;
    let millis = u64::try_from(crate::clock::epoch_millis(time)).unwrap_or(0);
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(uuid_string(&bytes))
}

/// The Unix milliseconds a version-7 UUID carries; none for other versions.
pub fn uuid_v7_millis(uuid: &str) -> Option<i64> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || hex.as_bytes()[12] != b'7' {
        return None;
    }
    i64::from_str_radix(&hex[..12], 16).ok()
}

/// 16 bytes in the 8-4-4-4-12 hex form.
pub fn uuid_string(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
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
    fn uuid_strings_are_lowercase_8_4_4_4_12() {
        let bytes: [u8; 16] = std::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(uuid_string(&bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }

    #[test]
    fn ids_from_one_pool_do_not_repeat_across_refills() {
        let ids: std::collections::HashSet<String> = (0..1_000).map(|_| new_uuid().expect("uuid")).collect();
        assert_eq!(ids.len(), 1_000, "16 000 bytes: the pool refilled several times");
    }

    #[test]
    fn unique_ids_have_the_prefix_and_aws_alphabet() {
        let id = unique_id("AIDA", 17).expect("id");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        assert!(id[4..].bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
    }
}
