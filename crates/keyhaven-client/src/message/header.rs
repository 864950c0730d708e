//! The message header (versions 1 and 2): algorithm suite, message id, encryption context, encrypted data keys,
//! content type and frame length, and the header authentication tag that binds them to the data key.

use std::io::Read;

use keyhaven_crypto::envelope::{GCM_IV_LEN, GCM_TAG_LEN};

use super::context::EncryptionContext;
use super::suite::AlgorithmSuite;
use crate::ClientError;

/// The version 1 header's type byte: customer authenticated encrypted data.
const V1_TYPE: u8 = 0x80;
/// The length of a committing suite's commitment, stored in the version 2 header.
pub const COMMITMENT_LEN: usize = 32;
/// The largest frame the format allows (2^31 − 1, as the SDKs bound it).
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;

/// A data key encrypted by one wrapping key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    /// Who wrapped it: `aws-kms`, or a raw keyring's namespace.
    pub provider_id: String,
    /// Which key wrapped it: a KMS key ARN, or a raw keyring's key name (and, for AES, the wrap's IV).
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    NonFramed,
    Framed,
}

impl ContentType {
    fn byte(self) -> u8 {
        match self {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        }
    }
}

/// A message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub suite: AlgorithmSuite,
    pub message_id: Vec<u8>,
    pub context: EncryptionContext,
    pub data_keys: Vec<EncryptedDataKey>,
    pub content_type: ContentType,
    /// The plaintext length of every frame but the last; 0 for a non-framed body.
    pub frame_length: u32,
    /// A committing suite's commitment to the data key.
    pub commitment: Option<[u8; COMMITMENT_LEN]>,
}

/// The header's authentication: a GCM tag over the header under the body key (version 1 also stores the IV, which
/// is all zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderAuth {
    pub iv: [u8; GCM_IV_LEN],
    pub tag: [u8; GCM_TAG_LEN],
}

impl HeaderAuth {
    /// Its bytes as they follow the header.
    pub fn serialize(&self, suite: AlgorithmSuite) -> Vec<u8> {
        let mut out = Vec::with_capacity(GCM_IV_LEN + GCM_TAG_LEN);
        if suite.message_version() == 1 {
            out.extend_from_slice(&self.iv);
        }
        out.extend_from_slice(&self.tag);
        out
    }
}

fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<(), ClientError> {
    let len =
        u16::try_from(bytes.len()).map_err(|_| ClientError::Policy(format!("{what} is longer than 65535 bytes")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

impl Header {
    /// The header's bytes, which the header authentication and the signature cover.
    pub fn serialize(&self) -> Result<Vec<u8>, ClientError> {
        let version = self.suite.message_version();
        let mut out = Vec::with_capacity(256);
        out.push(version);
        if version == 1 {
            out.push(V1_TYPE);
        }
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_u16_prefixed(&mut out, &self.context.serialize()?, "the encryption context")?;
        let count = u16::try_from(self.data_keys.len())
            .map_err(|_| ClientError::Policy("a message holds at most 65535 encrypted data keys".into()))?;
        out.extend_from_slice(&count.to_be_bytes());
        for key in &self.data_keys {
            put_u16_prefixed(&mut out, key.provider_id.as_bytes(), "a key provider id")?;
            put_u16_prefixed(&mut out, &key.provider_info, "a key provider info")?;
            put_u16_prefixed(&mut out, &key.ciphertext, "an encrypted data key")?;
        }
        out.push(self.content_type.byte());
        if version == 1 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.push(GCM_IV_LEN as u8);
        }
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        if let Some(commitment) = &self.commitment {
            out.extend_from_slice(commitment);
        }
        Ok(out)
    }
}

/// A header read from a message, with the exact bytes it was read from.
#[derive(Debug, Clone)]
pub struct ParsedHeader {
    pub header: Header,
    pub header_bytes: Vec<u8>,
    pub auth: HeaderAuth,
    /// Every byte read: the header and its authentication, the start of what a signature covers.
    pub raw: Vec<u8>,
}

/// Reads exactly what it is asked for, keeping every byte; end of input is [`ClientError::Truncated`].
struct Recorder<'r, R> {
    reader: &'r mut R,
    raw: Vec<u8>,
}

impl<R: Read> Recorder<'_, R> {
    fn take(&mut self, len: usize) -> Result<&[u8], ClientError> {
        let start = self.raw.len();
        self.raw.resize(start + len, 0);
        read_exact_or_truncated(self.reader, &mut self.raw[start..])?;
        Ok(&self.raw[start..])
    }

    fn u8(&mut self) -> Result<u8, ClientError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ClientError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ClientError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn prefixed(&mut self) -> Result<Vec<u8>, ClientError> {
        let len = self.u16()?;
        Ok(self.take(usize::from(len))?.to_vec())
    }
}

/// `read_exact` where running out of input means the message is truncated.
pub(crate) fn read_exact_or_truncated<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<(), ClientError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ClientError::Truncated,
        _ => ClientError::Io(e),
    })
}

fn malformed(what: impl Into<String>) -> ClientError {
    ClientError::Malformed(what.into())
}

/// Reads a header and its authentication. More than `max_data_keys` encrypted data keys is refused before any is
/// read.
pub fn read_header<R: Read>(reader: &mut R, max_data_keys: Option<usize>) -> Result<ParsedHeader, ClientError> {
    let mut r = Recorder {
        reader,
        raw: Vec::with_capacity(512),
    };
    let version = r.u8()?;
    match version {
        1 => {
            if r.u8()? != V1_TYPE {
                return Err(malformed("unknown message type"));
            }
        }
        2 => {}
        _ => return Err(malformed(format!("unknown message format version {version}"))),
    }
    let suite_id = r.u16()?;
    let suite = AlgorithmSuite::from_id(suite_id)
        .ok_or_else(|| malformed(format!("unknown algorithm suite 0x{suite_id:04X}")))?;
    if suite.message_version() != version {
        return Err(malformed(format!(
            "algorithm suite {} cannot appear in a version {version} message",
            suite.name()
        )));
    }
    let message_id = r.take(suite.message_id_len())?.to_vec();
    let context = EncryptionContext::parse(&r.prefixed()?)?;
    let count = usize::from(r.u16()?);
    if count == 0 {
        return Err(malformed("the message has no encrypted data keys"));
    }
    if let Some(max) = max_data_keys
        && count > max
    {
        return Err(ClientError::Policy(format!(
            "the message has {count} encrypted data keys, more than the maximum of {max}"
        )));
    }
    let mut data_keys = Vec::with_capacity(count);
    for _ in 0..count {
        let provider_id = String::from_utf8(r.prefixed()?).map_err(|_| malformed("a key provider id is not UTF-8"))?;
        let provider_info = r.prefixed()?;
        let ciphertext = r.prefixed()?;
        data_keys.push(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    let content_type = match r.u8()? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        other => return Err(malformed(format!("unknown content type {other}"))),
    };
    if version == 1 {
        if r.take(4)? != [0, 0, 0, 0] {
            return Err(malformed("the reserved field is not zero"));
        }
        if usize::from(r.u8()?) != GCM_IV_LEN {
            return Err(malformed("the IV length is not 12"));
        }
    }
    let frame_length = r.u32()?;
    match content_type {
        ContentType::NonFramed if frame_length != 0 => {
            return Err(malformed("a non-framed message with a frame length"));
        }
        ContentType::Framed if frame_length == 0 || frame_length > MAX_FRAME_LENGTH => {
            return Err(malformed(format!("frame length {frame_length} is out of range")));
        }
        _ => {}
    }
    let commitment = if suite.is_committing() {
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(r.take(COMMITMENT_LEN)?);
        Some(commitment)
    } else {
        None
    };
    let header_len = r.raw.len();
    let mut iv = [0u8; GCM_IV_LEN];
    if version == 1 {
        iv.copy_from_slice(r.take(GCM_IV_LEN)?);
    }
    let mut tag = [0u8; GCM_TAG_LEN];
    tag.copy_from_slice(r.take(GCM_TAG_LEN)?);
    let raw = r.raw;
    Ok(ParsedHeader {
        header: Header {
            suite,
            message_id,
            context,
            data_keys,
            content_type,
            frame_length,
            commitment,
        },
        header_bytes: raw[..header_len].to_vec(),
        auth: HeaderAuth { iv, tag },
        raw,
    })
}
