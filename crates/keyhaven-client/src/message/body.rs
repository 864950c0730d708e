//! Encrypting and decrypting whole messages: key derivation and commitment, header authentication, the framed and
//! non-framed body, and the signature footer. Framed bodies stream in constant memory, their frames sealed and
//! opened on every core while one thread reads (and, for signed suites, hashes) and one writes.

use std::io::{BufReader, Read, Write};
use std::sync::Arc;

use keyhaven_crypto::SecretBytes;
use keyhaven_crypto::digest::constant_time_eq;
use keyhaven_crypto::envelope::{GCM_IV_LEN, GCM_TAG_LEN, GcmKey, MessageDigest, MessageSigner, hkdf, verify_message};

use super::context::EncryptionContext;
use super::header::{
    COMMITMENT_LEN, ContentType, Header, HeaderAuth, MAX_FRAME_LENGTH, ParsedHeader, read_exact_or_truncated,
    read_header,
};
use super::suite::{AlgorithmSuite, Kdf};
use crate::materials::{CommitmentPolicy, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::{ClientError, pipeline};

const FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Final Frame";
const SINGLE_BLOCK_AAD: &[u8] = b"AWSKMSEncryptionClient Single Block";
/// The sequence-number field value that marks the final frame.
const FINAL_FRAME_MARKER: u32 = u32::MAX;
/// The most frames a message may have.
const MAX_FRAMES: u64 = u32::MAX as u64;
/// The most a non-framed body (one GCM invocation) may hold: 2^36 − 32 bytes.
const MAX_NON_FRAMED: u64 = (1 << 36) - 32;
/// The plaintext handed to a worker at once: large enough to amortise the hand-off, small enough for flat memory.
const BATCH_BYTES: usize = 1 << 20;
/// The frame length of the SDKs and their CLI when none is given.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;

/// How to encrypt a message.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    pub context: EncryptionContext,
    /// The algorithm suite; the commitment policy's default when `None`.
    pub suite: Option<AlgorithmSuite>,
    /// The plaintext in each frame; 0 makes a non-framed message (held in memory).
    pub frame_length: u32,
    pub commitment_policy: CommitmentPolicy,
    /// Refuse materials with more encrypted data keys than this.
    pub max_data_keys: Option<usize>,
    /// The plaintext's length, when known (the caching materials manager needs it to reuse data keys).
    pub plaintext_length: Option<u64>,
    /// Threads sealing frames.
    pub parallelism: usize,
}

fn available_parallelism() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            context: EncryptionContext::new(),
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
            commitment_policy: CommitmentPolicy::default(),
            max_data_keys: None,
            plaintext_length: None,
            parallelism: available_parallelism(),
        }
    }
}

/// How to decrypt a message.
#[derive(Debug, Clone)]
pub struct DecryptOptions {
    pub commitment_policy: CommitmentPolicy,
    /// Refuse messages with more encrypted data keys than this, before any is decrypted.
    pub max_data_keys: Option<usize>,
    /// Pairs the message's encryption context must contain; a key without a value need only be present.
    pub required_context: Vec<(String, Option<String>)>,
    /// The reproduced encryption context: pairs the message stores must have these values, and pairs it does not
    /// store (keys a required-encryption-context materials manager kept out of the message) are authenticated with
    /// the header and given to the keyrings.
    pub reproduced_context: EncryptionContext,
    /// Refuse signed messages (the CLI's `--decrypt-unsigned`).
    pub unsigned_only: bool,
    /// Threads opening frames.
    pub parallelism: usize,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        Self {
            commitment_policy: CommitmentPolicy::default(),
            max_data_keys: None,
            required_context: Vec::new(),
            reproduced_context: EncryptionContext::new(),
            unsigned_only: false,
            parallelism: available_parallelism(),
        }
    }
}

/// What was encrypted or decrypted: the header, its authentication and the lengths.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub header: Header,
    pub header_auth: HeaderAuth,
    pub plaintext_length: u64,
    pub message_length: u64,
}

/// The key that encrypts the body, and a committing suite's commitment, from the data key.
fn derive_body_key(
    suite: AlgorithmSuite,
    data_key: &SecretBytes,
    message_id: &[u8],
) -> Result<(SecretBytes, Option<[u8; COMMITMENT_LEN]>), ClientError> {
    let id = suite.id().to_be_bytes();
    Ok(match suite.kdf() {
        Kdf::Identity => (data_key.clone(), None),
        Kdf::Hkdf(hash) => (
            hkdf(hash, None, data_key.expose(), &[&id, message_id], suite.key_len())?,
            None,
        ),
        Kdf::Committing => {
            use keyhaven_crypto::asymmetric::Hash;
            let key = hkdf(
                Hash::Sha512,
                Some(message_id),
                data_key.expose(),
                &[&id, b"DERIVEKEY"],
                suite.key_len(),
            )?;
            let commit = hkdf(
                Hash::Sha512,
                Some(message_id),
                data_key.expose(),
                &[b"COMMITKEY"],
                COMMITMENT_LEN,
            )?;
            let mut commitment = [0u8; COMMITMENT_LEN];
            commitment.copy_from_slice(commit.expose());
            (key, Some(commitment))
        }
    })
}

/// The AAD of a frame or single block.
fn body_aad(message_id: &[u8], kind: &[u8], sequence: u32, length: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(message_id.len() + kind.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(kind);
    aad.extend_from_slice(&sequence.to_be_bytes());
    aad.extend_from_slice(&length.to_be_bytes());
    aad
}

/// A frame's IV: its sequence number, big-endian, in 12 bytes.
fn sequence_iv(sequence: u32) -> [u8; GCM_IV_LEN] {
    let mut iv = [0u8; GCM_IV_LEN];
    iv[GCM_IV_LEN - 4..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// A message ready to be written: materials obtained, header made and authenticated.
#[derive(Debug)]
pub struct PreparedEncryption {
    header: Header,
    header_bytes: Vec<u8>,
    auth: HeaderAuth,
    key: GcmKey,
    signer: Option<Arc<MessageSigner>>,
    parallelism: usize,
}

/// Obtains materials and prepares the header of a message.
pub async fn prepare_encryption(
    materials_manager: &dyn MaterialsManager,
    options: &EncryptOptions,
) -> Result<PreparedEncryption, ClientError> {
    if options.frame_length > MAX_FRAME_LENGTH {
        return Err(ClientError::Policy(format!(
            "the frame length must be at most {MAX_FRAME_LENGTH} bytes"
        )));
    }
    if let Some(suite) = options.suite {
        options.commitment_policy.check_encrypt(suite)?;
    }
    let request = EncryptionRequest {
        context: options.context.clone(),
        suite: options.suite,
        plaintext_length: options.plaintext_length,
        commitment_policy: options.commitment_policy,
    };
    let materials = materials_manager.encryption_materials(&request).await?;
    options.commitment_policy.check_encrypt(materials.suite)?;
    if let Some(max) = options.max_data_keys
        && materials.data_keys.len() > max
    {
        return Err(ClientError::Policy(format!(
            "the materials hold {} encrypted data keys, more than the maximum of {max}",
            materials.data_keys.len()
        )));
    }
    let suite = materials.suite;
    let data_key = materials
        .data_key
        .as_ref()
        .ok_or_else(|| ClientError::Config("the materials hold no data key".into()))?;
    let message_id = keyhaven_crypto::random_bytes(suite.message_id_len())?.expose().to_vec();
    let (body_key, commitment) = derive_body_key(suite, data_key, &message_id)?;
    let header = Header {
        suite,
        message_id,
        context: materials.context.clone(),
        data_keys: materials.data_keys.clone(),
        content_type: if options.frame_length == 0 {
            ContentType::NonFramed
        } else {
            ContentType::Framed
        },
        frame_length: options.frame_length,
        commitment,
    };
    let header_bytes = header.serialize()?;
    let key = GcmKey::new(body_key.expose())?;
    let iv = [0u8; GCM_IV_LEN];
    let tag = key.seal(&iv, &header_bytes, &mut [])?;
    Ok(PreparedEncryption {
        header,
        header_bytes,
        auth: HeaderAuth { iv, tag },
        key,
        signer: materials.signer.clone(),
        parallelism: options.parallelism.max(1),
    })
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize, ClientError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// Writes what is written through it to the output and, for signed suites, into the message digest.
struct SignedOutput<W> {
    output: W,
    digest: Option<MessageDigest>,
    written: u64,
}

impl<W: Write> SignedOutput<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        if let Some(digest) = &mut self.digest {
            digest.update(bytes);
        }
        self.output.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Plaintext for one worker: whole frames from `first_sequence`; `last` when it ends the message.
struct PlainBatch {
    first_sequence: u64,
    data: Vec<u8>,
    last: bool,
}

impl PreparedEncryption {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Encrypts `input` into `output` as one message; `progress` hears how much plaintext has been read.
    pub fn write<R: Read, W: Write + Send>(
        self,
        mut input: R,
        output: W,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<MessageInfo, ClientError> {
        let suite = self.header.suite;
        let mut out = SignedOutput {
            output,
            digest: suite.signature().map(|c| c.digest()),
            written: 0,
        };
        out.put(&self.header_bytes)?;
        out.put(&self.auth.serialize(suite))?;
        let plaintext_length = match self.header.content_type {
            ContentType::NonFramed => self.write_non_framed(&mut input, &mut out, progress)?,
            ContentType::Framed => self.write_frames(&mut input, &mut out, progress)?,
        };
        if let (Some(signer), Some(digest)) = (&self.signer, out.digest.take()) {
            let signature = signer.sign(digest)?;
            let len = u16::try_from(signature.len())
                .map_err(|_| ClientError::Crypto(keyhaven_crypto::CryptoError::InvalidKey))?;
            out.put(&len.to_be_bytes())?;
            out.put(&signature)?;
        }
        out.output.flush()?;
        Ok(MessageInfo {
            header: self.header,
            header_auth: self.auth,
            plaintext_length,
            message_length: out.written,
        })
    }

    fn write_non_framed<R: Read, W: Write>(
        &self,
        input: &mut R,
        out: &mut SignedOutput<W>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, ClientError> {
        let mut content = Vec::new();
        input.take(MAX_NON_FRAMED + 1).read_to_end(&mut content)?;
        if content.len() as u64 > MAX_NON_FRAMED {
            return Err(ClientError::Policy(
                "a non-framed message holds at most 2^36 - 32 bytes".into(),
            ));
        }
        progress(content.len() as u64);
        let len = content.len() as u64;
        let iv = sequence_iv(1);
        let aad = body_aad(&self.header.message_id, SINGLE_BLOCK_AAD, 1, len);
        let tag = self.key.seal(&iv, &aad, &mut content)?;
        out.put(&iv)?;
        out.put(&len.to_be_bytes())?;
        out.put(&content)?;
        out.put(&tag)?;
        Ok(len)
    }

    fn write_frames<R: Read, W: Write + Send>(
        &self,
        input: &mut R,
        out: &mut SignedOutput<W>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, ClientError> {
        let frame_length = self.header.frame_length as usize;
        let batch_len = frame_length * (BATCH_BYTES / frame_length).max(1);
        let mut read_total = 0u64;
        let mut next_sequence = 1u64;
        let mut lookahead: Option<Vec<u8>> = None;
        let mut finished = false;
        let mut read_batch = |input: &mut R| -> Result<Vec<u8>, ClientError> {
            // Grows as input arrives: a huge frame length costs memory only for input that exists.
            let mut data = Vec::with_capacity(batch_len.min(BATCH_BYTES));
            let n = input.take(batch_len as u64).read_to_end(&mut data)?;
            read_total += n as u64;
            progress(read_total);
            Ok(data)
        };
        let source = || -> Result<Option<PlainBatch>, ClientError> {
            if finished {
                return Ok(None);
            }
            let data = match lookahead.take() {
                Some(data) => data,
                None => read_batch(input)?,
            };
            // A full batch may be the last one: look one batch ahead to know.
            let last = if data.len() < batch_len {
                true
            } else {
                let next = read_batch(input)?;
                let last = next.is_empty();
                lookahead = Some(next);
                last
            };
            finished = last;
            // Batches before the last hold whole frames; the last ends with the (shorter) final frame.
            let frames = (data.len() / frame_length + usize::from(last)) as u64;
            let batch = PlainBatch {
                first_sequence: next_sequence,
                data,
                last,
            };
            next_sequence += frames;
            if next_sequence - 1 > MAX_FRAMES {
                return Err(ClientError::Policy(
                    "the plaintext needs more than 2^32 - 1 frames".into(),
                ));
            }
            Ok(Some(batch))
        };
        pipeline::ordered(
            self.parallelism,
            source,
            |batch| self.seal_frames(batch),
            |sealed: Vec<u8>| out.put(&sealed),
        )?;
        Ok(read_total)
    }

    fn seal_frames(&self, batch: PlainBatch) -> Result<Vec<u8>, ClientError> {
        let frame_length = self.header.frame_length as usize;
        let mut frames: Vec<&[u8]> = batch.data.chunks(frame_length).collect();
        // The final frame is shorter than the frame length (the Python SDK refuses one as long): a plaintext that
        // fills its last frame exactly ends with an empty final frame.
        if batch.last && frames.last().is_none_or(|f| f.len() == frame_length) {
            frames.push(&[]);
        }
        let count = frames.len();
        let mut out = Vec::with_capacity(batch.data.len() + count * (8 + GCM_IV_LEN + 4 + GCM_TAG_LEN));
        for (i, frame) in frames.into_iter().enumerate() {
            let sequence = (batch.first_sequence + i as u64) as u32;
            let last = batch.last && i + 1 == count;
            let iv = sequence_iv(sequence);
            let kind = if last { FINAL_FRAME_AAD } else { FRAME_AAD };
            let aad = body_aad(&self.header.message_id, kind, sequence, frame.len() as u64);
            if last {
                out.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
            }
            out.extend_from_slice(&sequence.to_be_bytes());
            out.extend_from_slice(&iv);
            if last {
                out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
            }
            let start = out.len();
            out.extend_from_slice(frame);
            let tag = self.key.seal(&iv, &aad, &mut out[start..])?;
            out.extend_from_slice(&tag);
        }
        Ok(out)
    }
}

/// A message whose header has been read and authenticated, ready for its body.
#[derive(Debug)]
pub struct PreparedDecryption {
    header: Header,
    auth: HeaderAuth,
    key: GcmKey,
    verification_key: Option<Vec<u8>>,
    digest: Option<MessageDigest>,
    header_length: u64,
    parallelism: usize,
}

/// Obtains the data key for a message's header, checks the key commitment and the header's authentication, and the
/// encryption context the caller requires.
pub async fn prepare_decryption(
    materials_manager: &dyn MaterialsManager,
    options: &DecryptOptions,
    parsed: ParsedHeader,
) -> Result<PreparedDecryption, ClientError> {
    let ParsedHeader {
        header,
        header_bytes,
        auth,
        raw,
    } = parsed;
    let suite = header.suite;
    options.commitment_policy.check_decrypt(suite)?;
    if options.unsigned_only && suite.signature().is_some() {
        return Err(ClientError::Policy(format!(
            "the message is signed (algorithm suite {}) and only unsigned messages may be decrypted",
            suite.name()
        )));
    }
    let mut only_authenticated = EncryptionContext::new();
    for (key, value) in options.reproduced_context.iter() {
        match header.context.get(key) {
            Some(stored) if stored == value => {}
            Some(_) => return Err(ClientError::ContextMismatch(format!("{key}={value}"))),
            None => only_authenticated.insert(key, value),
        }
    }
    let mut context = header.context.clone();
    for (key, value) in only_authenticated.iter() {
        context.insert(key, value);
    }
    let request = DecryptionRequest {
        suite,
        data_keys: header.data_keys.clone(),
        context,
        commitment_policy: options.commitment_policy,
    };
    let materials = materials_manager.decryption_materials(&request).await?;
    let data_key = materials
        .data_key
        .as_ref()
        .ok_or_else(|| ClientError::NoDataKey("no keyring decrypted a data key".into()))?;
    let (body_key, commitment) = derive_body_key(suite, data_key, &header.message_id)?;
    if let (Some(expected), Some(stored)) = (&commitment, &header.commitment)
        && !constant_time_eq(expected, stored)
    {
        return Err(ClientError::Tampered(
            "the data key does not match the message's key commitment",
        ));
    }
    let key = GcmKey::new(body_key.expose())?;
    let mut tag = auth.tag.to_vec();
    let aad = [header_bytes, only_authenticated.serialize()?].concat();
    key.open(&auth.iv, &aad, &mut tag)
        .map_err(|_| ClientError::Tampered("the header's authentication tag does not verify"))?;
    for (key, value) in &options.required_context {
        match (header.context.get(key), value) {
            (Some(actual), Some(expected)) if actual == expected => {}
            (Some(_), None) => {}
            (_, Some(expected)) => return Err(ClientError::ContextMismatch(format!("{key}={expected}"))),
            (None, None) => return Err(ClientError::ContextMismatch(key.clone())),
        }
    }
    let digest = suite.signature().map(|curve| {
        let mut digest = curve.digest();
        digest.update(&raw);
        digest
    });
    Ok(PreparedDecryption {
        header,
        auth,
        key,
        verification_key: materials.verification_key.clone(),
        digest,
        header_length: raw.len() as u64,
        parallelism: options.parallelism.max(1),
    })
}

/// Reads input while hashing it for the signature and counting it for progress.
struct SignedInput<'p, R> {
    input: BufReader<R>,
    digest: Option<MessageDigest>,
    read: u64,
    progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> SignedInput<'_, R> {
    fn take(&mut self, buf: &mut [u8]) -> Result<(), ClientError> {
        read_exact_or_truncated(&mut self.input, buf)?;
        if let Some(digest) = &mut self.digest {
            digest.update(buf);
        }
        self.read += buf.len() as u64;
        (self.progress)(self.read);
        Ok(())
    }

    /// Appends the next `len` bytes to `buffer`, which grows only as data arrives: a length a forged header claims
    /// never makes us allocate what is not there.
    fn append(&mut self, buffer: &mut Vec<u8>, len: u64) -> Result<(), ClientError> {
        let start = buffer.len();
        (&mut self.input).take(len).read_to_end(buffer)?;
        if ((buffer.len() - start) as u64) < len {
            return Err(ClientError::Truncated);
        }
        if let Some(digest) = &mut self.digest {
            digest.update(&buffer[start..]);
        }
        self.read += len;
        (self.progress)(self.read);
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, ClientError> {
        let mut b = [0u8; 4];
        self.take(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
}

/// One frame inside a batch of sealed frames.
struct SealedFrame {
    sequence: u32,
    last: bool,
    iv: [u8; GCM_IV_LEN],
    start: usize,
    content_len: usize,
}

/// Sealed frames for one worker: their content-and-tag bytes back to back.
struct SealedBatch {
    data: Vec<u8>,
    frames: Vec<SealedFrame>,
}

impl PreparedDecryption {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Decrypts the body that follows the header in `input` into `output`; fails (having written some plaintext) if
    /// a frame does not authenticate, the message is truncated or followed by more data, or its signature does not
    /// verify. Callers that must not release unverified plaintext write to a temporary place until this returns.
    pub fn read_body<R: Read, W: Write + Send>(
        mut self,
        input: R,
        mut output: W,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<MessageInfo, ClientError> {
        let mut input = SignedInput {
            input: BufReader::with_capacity(BATCH_BYTES, input),
            digest: self.digest.take(),
            read: self.header_length,
            progress,
        };
        let plaintext_length = match self.header.content_type {
            ContentType::NonFramed => self.read_non_framed(&mut input, &mut output)?,
            ContentType::Framed => self.read_frames(&mut input, &mut output)?,
        };
        if let Some(digest) = input.digest.take() {
            let mut len = [0u8; 2];
            read_exact_or_truncated(&mut input.input, &mut len)?;
            let mut signature = vec![0u8; usize::from(u16::from_be_bytes(len))];
            read_exact_or_truncated(&mut input.input, &mut signature)?;
            input.read += 2 + signature.len() as u64;
            let (Some(curve), Some(point)) = (self.header.suite.signature(), &self.verification_key) else {
                return Err(ClientError::BadSignature);
            };
            if !verify_message(curve, point, digest, &signature) {
                return Err(ClientError::BadSignature);
            }
        }
        let mut extra = [0u8; 1];
        if read_full(&mut input.input, &mut extra)? != 0 {
            return Err(ClientError::TrailingData);
        }
        output.flush()?;
        Ok(MessageInfo {
            header: self.header,
            header_auth: self.auth,
            plaintext_length,
            message_length: input.read,
        })
    }

    fn read_non_framed<R: Read, W: Write>(
        &self,
        input: &mut SignedInput<'_, R>,
        output: &mut W,
    ) -> Result<u64, ClientError> {
        let mut iv = [0u8; GCM_IV_LEN];
        input.take(&mut iv)?;
        let mut len = [0u8; 8];
        input.take(&mut len)?;
        let len = u64::from_be_bytes(len);
        if len > MAX_NON_FRAMED {
            return Err(ClientError::Malformed(
                "a non-framed body longer than 2^36 - 32 bytes".into(),
            ));
        }
        let mut sealed = Vec::new();
        input.append(&mut sealed, len + GCM_TAG_LEN as u64)?;
        let aad = body_aad(&self.header.message_id, SINGLE_BLOCK_AAD, 1, len);
        let n = self
            .key
            .open(&iv, &aad, &mut sealed)
            .map_err(|_| ClientError::Tampered("the body does not authenticate"))?;
        output.write_all(&sealed[..n])?;
        Ok(n as u64)
    }

    fn read_frames<R: Read, W: Write + Send>(
        &self,
        input: &mut SignedInput<'_, R>,
        output: &mut W,
    ) -> Result<u64, ClientError> {
        let frame_length = self.header.frame_length as usize;
        let mut expected = 1u64;
        let mut done = false;
        let source = || -> Result<Option<SealedBatch>, ClientError> {
            if done {
                return Ok(None);
            }
            let mut batch = SealedBatch {
                data: Vec::with_capacity(BATCH_BYTES),
                frames: Vec::new(),
            };
            while batch.data.len() < BATCH_BYTES {
                let first = input.u32()?;
                let last = first == FINAL_FRAME_MARKER;
                let sequence = if last { input.u32()? } else { first };
                if u64::from(sequence) != expected || expected > MAX_FRAMES {
                    return Err(ClientError::Malformed(format!(
                        "frame {sequence} where frame {expected} was expected"
                    )));
                }
                expected += 1;
                let mut iv = [0u8; GCM_IV_LEN];
                input.take(&mut iv)?;
                let content_len = if last { input.u32()? as usize } else { frame_length };
                if content_len > frame_length {
                    return Err(ClientError::Malformed(
                        "the final frame is longer than the frame length".into(),
                    ));
                }
                let start = batch.data.len();
                input.append(&mut batch.data, (content_len + GCM_TAG_LEN) as u64)?;
                batch.frames.push(SealedFrame {
                    sequence,
                    last,
                    iv,
                    start,
                    content_len,
                });
                if last {
                    done = true;
                    break;
                }
            }
            Ok(Some(batch))
        };
        let mut written = 0u64;
        pipeline::ordered(
            self.parallelism,
            source,
            |batch| self.open_frames(batch),
            |plaintext: Vec<u8>| {
                output.write_all(&plaintext)?;
                written += plaintext.len() as u64;
                Ok(())
            },
        )?;
        Ok(written)
    }

    fn open_frames(&self, mut batch: SealedBatch) -> Result<Vec<u8>, ClientError> {
        let mut plaintext_end = 0;
        for frame in &batch.frames {
            let kind = if frame.last { FINAL_FRAME_AAD } else { FRAME_AAD };
            let aad = body_aad(&self.header.message_id, kind, frame.sequence, frame.content_len as u64);
            let end = frame.start + frame.content_len + GCM_TAG_LEN;
            let n = self
                .key
                .open(&frame.iv, &aad, &mut batch.data[frame.start..end])
                .map_err(|_| ClientError::Tampered("a frame does not authenticate"))?;
            batch.data.copy_within(frame.start..frame.start + n, plaintext_end);
            plaintext_end += n;
        }
        batch.data.truncate(plaintext_end);
        Ok(batch.data)
    }
}

/// Encrypts `plaintext` in memory.
pub async fn encrypt_bytes(
    materials_manager: &dyn MaterialsManager,
    options: &EncryptOptions,
    plaintext: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let options = EncryptOptions {
        plaintext_length: Some(plaintext.len() as u64),
        ..options.clone()
    };
    let prepared = prepare_encryption(materials_manager, &options).await?;
    let mut out = Vec::with_capacity(plaintext.len() + 1024);
    prepared.write(plaintext, &mut out, &|_| {})?;
    Ok(out)
}

/// Decrypts a whole message in memory; returns the plaintext and the header.
pub async fn decrypt_bytes(
    materials_manager: &dyn MaterialsManager,
    options: &DecryptOptions,
    message: &[u8],
) -> Result<(SecretBytes, Header), ClientError> {
    let mut input = message;
    let parsed = read_header(&mut input, options.max_data_keys)?;
    let prepared = prepare_decryption(materials_manager, options, parsed).await?;
    let mut out = Vec::with_capacity(message.len());
    let info = prepared.read_body(input, &mut out, &|_| {})?;
    Ok((SecretBytes::new(out), info.header))
}

#[cfg(test)]
mod tests {
    use crate::test_support::block_on;
    use std::sync::Arc;

    use super::*;
    use crate::DefaultMaterialsManager;
    use crate::keyring::RawAesKeyring;

    #[test]
    fn the_largest_frame_length_costs_memory_only_for_data_that_exists() {
        let keyring = RawAesKeyring::new("ns", "key", &[9u8; 32]).expect("keyring");
        let manager = DefaultMaterialsManager::new(Arc::new(keyring));
        let options = EncryptOptions {
            frame_length: MAX_FRAME_LENGTH,
            ..EncryptOptions::default()
        };
        let message = block_on(encrypt_bytes(&manager, &options, b"small")).expect("encrypts");
        let (plaintext, header) =
            block_on(decrypt_bytes(&manager, &DecryptOptions::default(), &message)).expect("decrypts");
        assert_eq!(
            (plaintext.expose(), header.frame_length),
            (&b"small"[..], MAX_FRAME_LENGTH)
        );
        for cut in [1, 40, message.len() / 2] {
            let truncated = &message[..message.len() - cut];
            let result = block_on(decrypt_bytes(&manager, &DecryptOptions::default(), truncated));
            assert!(matches!(result, Err(ClientError::Truncated)), "cut {cut}: {result:?}");
        }
    }
}
