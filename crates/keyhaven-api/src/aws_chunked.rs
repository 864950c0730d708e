//! The `aws-chunked` body encoding S3 clients stream uploads in, decoded as it arrives: each chunk is
//! `<hex size>[;chunk-signature=<signature>]\r\n<data>\r\n`, the last has size 0, and trailing headers
//! (`x-amz-checksum-crc32:…`) may follow it before a closing `\r\n` ("Transferring Payload in Multiple Chunks" and
//! "Signature calculations for trailing headers", S3 API Reference). With `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` every
//! chunk's signature is checked as the chunk ends, before the next byte is released, and with `…-PAYLOAD-TRAILER` the
//! trailers' signature (`x-amz-trailer-signature`) too; with `STREAMING-UNSIGNED-PAYLOAD-TRAILER` nothing is signed.

use keyhaven_crypto::digest::Sha256;

use crate::sigv4::{ChunkSignatures, SigV4Error};

/// The trailer that signs the trailers before it (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`).
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Longest chunk header or trailer line accepted (a size, a signature and an extension or two fit in far less).
const MAX_LINE: usize = 4096;

/// Why an aws-chunked body was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("the chunked body is malformed")]
    Malformed,
    #[error("the chunked body ended early")]
    Incomplete,
    #[error(transparent)]
    Signature(#[from] SigV4Error),
}

#[derive(Debug)]
enum State {
    Header,
    Data { remaining: u64, signature: Option<String> },
    DataEnd { signature: Option<String> },
    Trailers,
    End,
}

/// Whether chunks carry signatures, and whether they are checked.
enum Signing {
    Verified(ChunkSignatures),
    /// Signed chunks whose signatures cannot be checked: dev mode's trusted keys, whose request signature is not
    /// checked either.
    Unverified,
    Unsigned,
}

/// Decodes one aws-chunked body.
pub struct AwsChunkedDecoder {
    signing: Signing,
    state: State,
    line: Vec<u8>,
    chunk_hash: Sha256,
    trailers: Vec<(String, String)>,
    /// Whether the trailers' signature came (and, for verified signing, matched).
    trailer_signed: bool,
    decoded: u64,
}

impl std::fmt::Debug for AwsChunkedDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsChunkedDecoder")
            .field("state", &self.state)
            .field("decoded", &self.decoded)
            .finish()
    }
}

impl AwsChunkedDecoder {
    /// A decoder checking chunk signatures with `signatures`, or none for the unsigned variants.
    pub fn new(signatures: Option<ChunkSignatures>) -> Self {
        Self::with(match signatures {
            Some(signatures) => Signing::Verified(signatures),
            None => Signing::Unsigned,
        })
    }

    /// A decoder of signed chunks whose signatures it cannot check.
    pub fn unverified() -> Self {
        Self::with(Signing::Unverified)
    }

    fn with(signing: Signing) -> Self {
        Self {
            signing,
            state: State::Header,
            line: Vec::new(),
            chunk_hash: Sha256::default(),
            trailers: Vec::new(),
            trailer_signed: false,
            decoded: 0,
        }
    }

    /// Decodes the next bytes of the body, passing decoded data to `out`. A chunk's data is released as it arrives;
    /// its signature is checked when it ends, and the caller commits nothing before `finish` succeeds.
    pub fn feed(&mut self, mut input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<(), ChunkedError> {
        while !input.is_empty() {
            match &mut self.state {
                State::Header => {
                    let Some(line) = self.take_line(&mut input)? else { break };
                    self.state = self.header(&line)?;
                }
                State::Data { remaining, signature } => {
                    let take = usize::try_from(*remaining).unwrap_or(usize::MAX).min(input.len());
                    let (data, rest) = input.split_at(take);
                    self.chunk_hash.update(data);
                    out(data);
                    self.decoded += take as u64;
                    *remaining -= take as u64;
                    input = rest;
                    if *remaining == 0 {
                        self.state = State::DataEnd {
                            signature: signature.take(),
                        };
                    }
                }
                State::DataEnd { .. } => {
                    let Some(line) = self.take_line(&mut input)? else { break };
                    if !line.is_empty() {
                        return Err(ChunkedError::Malformed);
                    }
                    let State::DataEnd { signature } = std::mem::replace(&mut self.state, State::Header) else {
                        return Err(ChunkedError::Malformed);
                    };
                    self.check_chunk(signature.as_deref())?;
                }
                State::Trailers => {
                    let Some(line) = self.take_line(&mut input)? else { break };
                    self.trailer(&line)?;
                }
                State::End => return Err(ChunkedError::Malformed),
            }
        }
        Ok(())
    }

    /// The decoded length and the trailing headers, once the body ended where the encoding says it ends.
    pub fn finish(self) -> Result<(u64, Vec<(String, String)>), ChunkedError> {
        match self.state {
            State::End => Ok((self.decoded, self.trailers)),
            _ => Err(ChunkedError::Incomplete),
        }
    }

    /// The next `\r\n`-terminated line, once whole; `None` while it is still arriving.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, ChunkedError> {
        match input.iter().position(|b| *b == b'\n') {
            Some(end) => {
                self.line.extend_from_slice(&input[..end]);
                *input = &input[end + 1..];
                if self.line.pop() != Some(b'\r') {
                    return Err(ChunkedError::Malformed);
                }
                Ok(Some(std::mem::take(&mut self.line)))
            }
            None => {
                self.line.extend_from_slice(input);
                *input = &[];
                if self.line.len() > MAX_LINE {
                    return Err(ChunkedError::Malformed);
                }
                Ok(None)
            }
        }
    }

    /// The state a chunk header leads to.
    fn header(&mut self, line: &[u8]) -> Result<State, ChunkedError> {
        let text = std::str::from_utf8(line).map_err(|_| ChunkedError::Malformed)?;
        let (size, extensions) = text.split_once(';').unwrap_or((text, ""));
        let size = u64::from_str_radix(size, 16).map_err(|_| ChunkedError::Malformed)?;
        let signature = extensions
            .split(';')
            .find_map(|e| e.strip_prefix("chunk-signature="))
            .map(str::to_string);
        if matches!(self.signing, Signing::Unsigned) == signature.is_some() {
            return Err(ChunkedError::Malformed);
        }
        if size > 0 {
            return Ok(State::Data {
                remaining: size,
                signature,
            });
        }
        // The last chunk: no data, no line after it; trailers (or just the closing line) follow.
        self.check_chunk(signature.as_deref())?;
        Ok(State::Trailers)
    }

    /// One trailer line. Behind signed chunks, trailers are signed too: `x-amz-trailer-signature` follows them and
    /// covers each as `name:value\n`; a trailer it does not cover is refused.
    fn trailer(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let signed = !matches!(self.signing, Signing::Unsigned);
        if line.is_empty() {
            if signed && !self.trailers.is_empty() && !self.trailer_signed {
                return Err(ChunkedError::Malformed);
            }
            self.state = State::End;
            return Ok(());
        }
        if self.trailer_signed {
            return Err(ChunkedError::Malformed);
        }
        let text = std::str::from_utf8(line).map_err(|_| ChunkedError::Malformed)?;
        let (name, value) = text.split_once(':').ok_or(ChunkedError::Malformed)?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
        if signed && name == TRAILER_SIGNATURE {
            // After the last chunk's check, the chunk hash has been hashing the trailers as signed.
            let hash = std::mem::take(&mut self.chunk_hash).finish();
            if let Signing::Verified(signatures) = &mut self.signing {
                signatures.verify_trailer(&hash, &value)?;
            }
            self.trailer_signed = true;
        } else {
            self.chunk_hash.update(format!("{name}:{value}\n").as_bytes());
            self.trailers.push((name, value));
        }
        Ok(())
    }

    fn check_chunk(&mut self, signature: Option<&str>) -> Result<(), ChunkedError> {
        let hash = std::mem::take(&mut self.chunk_hash).finish();
        match (&mut self.signing, signature) {
            (Signing::Verified(signatures), Some(signature)) => Ok(signatures.verify(&hash, signature)?),
            (Signing::Unverified, Some(_)) | (Signing::Unsigned, None) => Ok(()),
            _ => Err(ChunkedError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{SigningKeyCache, chunked_upload_example};

    /// S3's chunked-upload example (see `sigv4`'s test of the same): 65,536 then 1,024 bytes of `a`.
    fn example_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(
            b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
        );
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(
            b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
        );
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(
            b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
        );
        body
    }

    fn example_signatures() -> ChunkSignatures {
        let (auth, secret) = chunked_upload_example();
        ChunkSignatures::new(&auth, secret, &SigningKeyCache::new(4))
    }

    /// The decoded data and the trailers.
    type Decoded = (Vec<u8>, Vec<(String, String)>);

    /// Decodes `body` fed in pieces of `piece` bytes.
    fn decode(signatures: Option<ChunkSignatures>, body: &[u8], piece: usize) -> Result<Decoded, ChunkedError> {
        let mut decoder = AwsChunkedDecoder::new(signatures);
        let mut data = Vec::new();
        for part in body.chunks(piece) {
            decoder.feed(part, &mut |bytes| data.extend_from_slice(bytes))?;
        }
        let (len, trailers) = decoder.finish()?;
        assert_eq!(len, data.len() as u64);
        Ok((data, trailers))
    }

    #[test]
    fn the_s3_example_decodes_in_pieces_of_any_size() {
        for piece in [1, 2, 3, 7, 100, 4096, 1 << 20] {
            let (data, trailers) = decode(Some(example_signatures()), &example_body(), piece).expect("decodes");
            assert_eq!(data, vec![b'a'; 66560], "piece {piece}");
            assert!(trailers.is_empty());
        }
    }

    #[test]
    fn unsigned_chunks_with_a_checksum_trailer_decode() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for piece in [1, 5, body.len()] {
            let (data, trailers) = decode(None, body, piece).expect("decodes");
            assert_eq!(data, b"hello world");
            assert_eq!(
                trailers,
                vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
            );
        }
    }

    #[test]
    fn tampered_truncated_and_malformed_bodies_are_refused() {
        let example = example_body();
        let mut changed = example.clone();
        changed[200] = b'b';
        let mut resigned = example.clone();
        let at = example.len() - 10;
        resigned[at] = if resigned[at] == b'0' { b'1' } else { b'0' };
        let mut signed_with_trailer = example[..example.len() - 2].to_vec();
        signed_with_trailer.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        let cases: Vec<(&str, Vec<u8>, Option<ChunkSignatures>, ChunkedError)> = vec![
            (
                "trailers after signed chunks without the trailer signature",
                signed_with_trailer,
                Some(example_signatures()),
                ChunkedError::Malformed,
            ),
            (
                "a changed byte",
                changed,
                Some(example_signatures()),
                SigV4Error::SignatureDoesNotMatch.into(),
            ),
            (
                "a changed final signature",
                resigned,
                Some(example_signatures()),
                SigV4Error::SignatureDoesNotMatch.into(),
            ),
            (
                "cut after the first chunk",
                example[..65536 + 90].to_vec(),
                Some(example_signatures()),
                ChunkedError::Incomplete,
            ),
            (
                "no final chunk",
                example[..example.len() - 4].to_vec(),
                Some(example_signatures()),
                ChunkedError::Incomplete,
            ),
            (
                "unsigned chunks where signatures are due",
                b"5\r\nhello\r\n0\r\n\r\n".to_vec(),
                Some(example_signatures()),
                ChunkedError::Malformed,
            ),
            (
                "signed chunks where none are expected",
                example.clone(),
                None,
                ChunkedError::Malformed,
            ),
            (
                "a size that is not hex",
                b"zz\r\nhello\r\n".to_vec(),
                None,
                ChunkedError::Malformed,
            ),
            (
                "data longer than its size",
                b"2\r\nhello\r\n0\r\n\r\n".to_vec(),
                None,
                ChunkedError::Malformed,
            ),
            (
                "a bare newline",
                b"5\nhello\r\n0\r\n\r\n".to_vec(),
                None,
                ChunkedError::Malformed,
            ),
            (
                "bytes after the end",
                b"0\r\n\r\nextra".to_vec(),
                None,
                ChunkedError::Malformed,
            ),
            (
                "an endless header line",
                vec![b'1'; MAX_LINE + 10],
                None,
                ChunkedError::Malformed,
            ),
        ];
        for (name, body, signatures, expected) in cases {
            assert_eq!(decode(signatures, &body, 1000).err(), Some(expected), "{name}");
        }
    }
}
