//! Keyhaven's client side: the AWS Encryption SDK message format, keyrings and data-key caching, S3 client-side
//! encryption, and parameters and secrets delivered into programs.
//!
//! This crate never links the server: it talks to KMS (keyhaven's or AWS's) through the AWS SDK, and its only
//! cryptography is `keyhaven-crypto`'s.

pub mod caching;
pub mod keyring;
pub mod materials;
pub mod message;
mod pipeline;
pub mod s3ec;
pub mod secrets;

pub use keyring::Keyring;
pub use materials::{CommitmentPolicy, DefaultMaterialsManager, MaterialsManager};
pub use message::context::EncryptionContext;
pub use message::suite::AlgorithmSuite;
pub use message::{DecryptOptions, EncryptOptions, MessageInfo};

use std::future::Future;
use std::pin::Pin;

/// The AWS SDK's configuration as every AWS tool resolves it (environment, shared config and credentials files,
/// `AWS_ENDPOINT_URL`), with an optional named profile.
pub async fn sdk_config(profile: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// A boxed future, for the keyring and materials-manager traits that must be object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything that can go wrong on the client side. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The input is not an Encryption SDK message, or not one this version reads.
    #[error("not a valid encrypted message: {0}")]
    Malformed(String),
    /// The message ends before its last frame (and signature).
    #[error("the encrypted message is truncated")]
    Truncated,
    /// Bytes follow the end of the message.
    #[error("the encrypted message is followed by unexpected data")]
    TrailingData,
    /// A frame, the header or the key commitment failed authentication.
    #[error("the encrypted message failed authentication: {0}")]
    Tampered(&'static str),
    /// The message's ECDSA signature does not verify.
    #[error("the encrypted message's signature does not verify")]
    BadSignature,
    /// None of the keyrings could decrypt any of the message's data keys.
    #[error("unable to decrypt any data key: {0}")]
    NoDataKey(String),
    /// The request breaks a rule of the SDK (commitment policy, reserved context keys, limits).
    #[error("{0}")]
    Policy(String),
    /// A required encryption-context pair is missing from the message, or has another value.
    #[error("the message's encryption context does not contain {0}")]
    ContextMismatch(String),
    /// A keyring was configured wrongly (a key that does not parse, a bad key identifier).
    #[error("{0}")]
    Config(String),
    /// An AWS KMS call failed.
    #[error("AWS KMS {operation} with {key} failed: {message}")]
    Kms {
        operation: &'static str,
        key: String,
        message: String,
    },
    /// Parameter Store or Secrets Manager refused a request.
    #[error("{reference}: {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Fetch {
        reference: String,
        code: String,
        message: String,
        status: u16,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] keyhaven_crypto::CryptoError),
}

#[cfg(test)]
mod test_support {
    /// Runs a future to completion in a test.
    pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }
}
