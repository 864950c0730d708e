//! A streamed request body as a protocol reads it: the client's bytes, checked as they flow against what the
//! signature declared for them (`x-amz-content-sha256`). The pipeline sets the check once the request is
//! authenticated; nothing can be read before.
//!
//! - a SHA-256 in hex: the body's hash, compared when the body ends;
//! - `UNSIGNED-PAYLOAD` (or an unsigned request): the bytes as sent;
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, each chunk's signature checked before more is released
//!   (`…-PAYLOAD-TRAILER`: the checksum trailers' signature too);
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked without signatures, with checksum trailers.
//!
//! A protocol commits nothing it read before `next` has returned `None`: the checks that fail at the end (a hash, a
//! last chunk) fail there.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use keyhaven_crypto::digest::Sha256;

use crate::aws_chunked::AwsChunkedDecoder;
use crate::error::ApiError;
use crate::sigv4::{
    ChunkSignatures, STREAMING_SIGNED_PAYLOAD, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, SigV4Error,
    UNSIGNED_PAYLOAD,
};

enum Check {
    /// Set by the pipeline once the request is authenticated; reading before is refused.
    Pending,
    Unchecked,
    Sha256 {
        expected: [u8; 32],
        hasher: Sha256,
    },
    Chunked(Box<AwsChunkedDecoder>),
}

/// A streamed request body and its check.
pub struct StreamedBody {
    body: Body,
    check: Check,
    trailers: Vec<(String, String)>,
    ended: bool,
}

impl std::fmt::Debug for StreamedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedBody").field("ended", &self.ended).finish()
    }
}

impl StreamedBody {
    pub(crate) fn new(body: Body) -> Self {
        Self {
            body,
            check: Check::Pending,
            trailers: Vec::new(),
            ended: false,
        }
    }

    /// Sets the check from the payload the signature declared; `chunk_signatures` is given when the declaration is
    /// signed chunks and the signature was verified with a known secret (dev mode's trusted keys have none: their
    /// chunks are decoded unchecked, as their signatures are).
    pub(crate) fn declare(
        &mut self,
        declared: Option<&str>,
        chunk_signatures: Option<ChunkSignatures>,
    ) -> Result<(), ApiError> {
        self.check = match declared {
            None | Some(UNSIGNED_PAYLOAD) => Check::Unchecked,
            Some(STREAMING_SIGNED_PAYLOAD | STREAMING_SIGNED_TRAILER) => {
                Check::Chunked(Box::new(match chunk_signatures {
                    Some(signatures) => AwsChunkedDecoder::new(Some(signatures)),
                    None => AwsChunkedDecoder::unverified(),
                }))
            }
            Some(STREAMING_UNSIGNED_TRAILER) => Check::Chunked(Box::new(AwsChunkedDecoder::new(None))),
            Some(hash) => match hex::decode(hash).ok().and_then(|h| <[u8; 32]>::try_from(h).ok()) {
                Some(expected) => Check::Sha256 {
                    expected,
                    hasher: Sha256::default(),
                },
                None => {
                    return Err(ApiError::unserved(
                        "NotImplemented",
                        &format!("x-amz-content-sha256 {hash}"),
                    ));
                }
            },
        };
        Ok(())
    }

    /// The next bytes of the body, checked so far; `None` once it ended and every check passed.
    pub async fn next(&mut self) -> Option<Result<Bytes, ApiError>> {
        if matches!(self.check, Check::Pending) {
            return Some(Err(ApiError::internal()));
        }
        while !self.ended {
            let frame = match self.body.frame().await {
                None => {
                    self.ended = true;
                    return self.end().err().map(Err);
                }
                Some(Err(_)) => return Some(Err(ApiError::serialization("The request body could not be read."))),
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            match &mut self.check {
                Check::Pending => return Some(Err(ApiError::internal())),
                Check::Unchecked => return Some(Ok(data)),
                Check::Sha256 { hasher, .. } => {
                    hasher.update(&data);
                    return Some(Ok(data));
                }
                Check::Chunked(decoder) => {
                    let mut decoded = Vec::new();
                    if let Err(e) = decoder.feed(&data, &mut |bytes| decoded.extend_from_slice(bytes)) {
                        return Some(Err(ApiError::from(e)));
                    }
                    if !decoded.is_empty() {
                        return Some(Ok(Bytes::from(decoded)));
                    }
                }
            }
        }
        None
    }

    /// Whether the whole body was read (or there was none): a connection whose request body was left unread cannot
    /// carry another request.
    pub fn is_finished(&self) -> bool {
        self.ended || http_body::Body::is_end_stream(&self.body)
    }

    /// The trailing headers of an aws-chunked body, once it ended.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    fn end(&mut self) -> Result<(), ApiError> {
        match std::mem::replace(&mut self.check, Check::Unchecked) {
            Check::Pending => Err(ApiError::internal()),
            Check::Unchecked => Ok(()),
            Check::Sha256 { expected, hasher } => {
                if hasher.finish() == expected {
                    Ok(())
                } else {
                    Err(ApiError::from(&SigV4Error::ContentSha256Mismatch))
                }
            }
            Check::Chunked(decoder) => {
                let (_, trailers) = decoder.finish().map_err(ApiError::from)?;
                self.trailers = trailers;
                Ok(())
            }
        }
    }
}
