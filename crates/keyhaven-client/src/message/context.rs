//! The encryption context: the key-value pairs a message is bound to, and their serialization (sorted by key,
//! each part prefixed by its two-byte length), which is also the AAD raw keyrings wrap data keys under.

use std::collections::BTreeMap;

use crate::ClientError;

/// The prefix of the context keys the SDK reserves for itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";
/// The context key holding a signed message's public verification key (base64 of the compressed point).
pub const PUBLIC_KEY: &str = "aws-crypto-public-key";

/// An encryption context. Keys are ordered by their UTF-8 bytes, as the wire format orders them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Refuses a caller's context that uses a key the SDK reserves.
    pub fn check_not_reserved(&self) -> Result<(), ClientError> {
        match self.0.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
            Some(key) => Err(ClientError::Policy(format!(
                "encryption context keys starting with \"{RESERVED_PREFIX}\" are reserved: {key}"
            ))),
            None => Ok(()),
        }
    }

    /// The serialized form: nothing for an empty context, else the pair count and the pairs.
    pub fn serialize(&self) -> Result<Vec<u8>, ClientError> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        let too_long = || ClientError::Policy("the encryption context is too large to serialize".into());
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(self.0.len()).map_err(|_| too_long())?.to_be_bytes());
        for (key, value) in &self.0 {
            for part in [key, value] {
                out.extend_from_slice(&u16::try_from(part.len()).map_err(|_| too_long())?.to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(too_long());
        }
        Ok(out)
    }

    /// Parses the serialized form; duplicate keys, a zero count with data, and text that is not UTF-8 are refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, ClientError> {
        let mut context = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self(context));
        }
        let bad = |what: &str| ClientError::Malformed(format!("encryption context: {what}"));
        let mut cursor = super::Cursor::new(bytes);
        let count = cursor.u16().ok_or_else(|| bad("truncated"))?;
        if count == 0 {
            return Err(bad("a pair count of zero with pairs present"));
        }
        for _ in 0..count {
            let mut text = || -> Result<String, ClientError> {
                let len = cursor.u16().ok_or_else(|| bad("truncated"))?;
                let raw = cursor.take(usize::from(len)).ok_or_else(|| bad("truncated"))?;
                String::from_utf8(raw.to_vec()).map_err(|_| bad("not UTF-8"))
            };
            let key = text()?;
            let value = text()?;
            if context.insert(key, value).is_some() {
                return Err(bad("a key appears twice"));
            }
        }
        if !cursor.rest().is_empty() {
            return Err(bad("bytes after the last pair"));
        }
        Ok(Self(context))
    }
}

impl FromIterator<(String, String)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_sorts_by_key_bytes_and_round_trips() {
        let mut context = EncryptionContext::new();
        context.insert("b", "2");
        context.insert("a", "1");
        let bytes = context.serialize().expect("serializes");
        assert_eq!(bytes, b"\x00\x02\x00\x01a\x00\x011\x00\x01b\x00\x012");
        assert_eq!(EncryptionContext::parse(&bytes).expect("parses"), context);
        assert!(EncryptionContext::new().serialize().expect("empty").is_empty());
    }

    #[test]
    fn malformed_contexts_are_refused() {
        for bytes in [
            &b"\x00\x00"[..],
            b"\x00\x01\x00\x01a",
            b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012",
            b"\x00\x01\x00\x01\xff\x00\x00",
            b"\x00\x01\x00\x01a\x00\x00\x00",
        ] {
            assert!(EncryptionContext::parse(bytes).is_err(), "{bytes:?}");
        }
    }
}
