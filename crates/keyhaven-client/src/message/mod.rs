//! The AWS Encryption SDK message format (versions 1 and 2): streaming encryption and decryption of framed and
//! non-framed bodies, frames processed on every core, signatures over the whole message.
//!
//! Source: the Encryption SDK specification, data-format/message*.md and client-apis/{encrypt,decrypt}.md
//! (https://github.com/awslabs/aws-encryption-sdk-specification).

pub mod body;
pub mod context;
pub mod header;
pub mod suite;

pub use body::{
    DecryptOptions, EncryptOptions, MessageInfo, PreparedDecryption, PreparedEncryption, decrypt_bytes, encrypt_bytes,
    prepare_decryption, prepare_encryption,
};
pub use header::{EncryptedDataKey, Header, ParsedHeader, read_header};

/// A reader over a byte slice for the fixed-width, length-prefixed fields of the format.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(len)?;
        self.bytes = rest;
        Some(head)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }
}
