//! S3's additional checksums (`x-amz-checksum-*`): CRC32, CRC32C and CRC64NVME (`crc-fast`), SHA1 and SHA256
//! (`keyhaven-crypto`), computed over a streamed body and written as S3 writes them: the base64 of the digest's
//! big-endian bytes. A multipart object's checksum is either composite (the checksum of the parts' checksums,
//! suffixed `-<parts>`) or, for the CRCs, full-object (the parts' CRCs combined as if computed over the whole body).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, checksum_combine};
use keyhaven_crypto::digest::StreamDigest;

/// The checksum algorithms S3 offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The algorithm by its name in `x-amz-checksum-algorithm` and `ChecksumAlgorithm` (case as S3 writes it).
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header that carries this checksum of a request or response body.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Refuses a declared value that is not the base64 of a checksum of this algorithm's width, as S3 does.
    pub fn check_value(self, value: &str) -> Result<(), crate::S3Error> {
        let width = match self.crc() {
            Some((_, width)) => width,
            None if self == Self::Sha1 => 20,
            None => 32,
        };
        match STANDARD.decode(value.trim()) {
            Ok(bytes) if bytes.len() == width => Ok(()),
            _ => Err(crate::S3Error::InvalidRequest(format!(
                "Value for {} header is invalid.",
                self.header()
            ))),
        }
    }

    /// The CRC and its width in bytes, for the algorithms that are CRCs.
    fn crc(self) -> Option<(CrcAlgorithm, usize)> {
        match self {
            Self::Crc32 => Some((CrcAlgorithm::Crc32IsoHdlc, 4)),
            Self::Crc32c => Some((CrcAlgorithm::Crc32Iscsi, 4)),
            Self::Crc64Nvme => Some((CrcAlgorithm::Crc64Nvme, 8)),
            Self::Sha1 | Self::Sha256 => None,
        }
    }
}

/// A checksum being computed over a streamed body.
pub struct Checksummer {
    algorithm: ChecksumAlgorithm,
    state: State,
}

enum State {
    Crc(Box<crc_fast::Digest>),
    Digest(StreamDigest),
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checksummer")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Checksummer {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match (algorithm.crc(), algorithm) {
            (Some((crc, _)), _) => State::Crc(Box::new(crc_fast::Digest::new(crc))),
            (None, ChecksumAlgorithm::Sha1) => State::Digest(StreamDigest::sha1()),
            (None, _) => State::Digest(StreamDigest::sha256()),
        };
        Self { algorithm, state }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Crc(digest) => digest.update(bytes),
            State::Digest(digest) => digest.update(bytes),
        }
    }

    /// The checksum's raw bytes (big-endian for the CRCs).
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            State::Crc(digest) => crc_bytes(self.algorithm, digest.finalize()),
            State::Digest(digest) => digest.finish(),
        }
    }
}

/// A checksum as S3 writes it in headers and XML.
pub fn encode(raw: &[u8]) -> String {
    STANDARD.encode(raw)
}

/// A multipart object's composite checksum from its parts' raw checksums, in part order: the checksum of their
/// concatenation, then `-<number of parts>`.
pub fn composite(algorithm: ChecksumAlgorithm, parts: &[Vec<u8>]) -> String {
    let mut whole = Checksummer::new(algorithm);
    for part in parts {
        whole.update(part);
    }
    format!("{}-{}", encode(&whole.finish()), parts.len())
}

/// A multipart object's full-object CRC from its parts' raw CRCs and lengths, in part order; `None` for the SHAs,
/// which cannot be combined.
pub fn full_object(algorithm: ChecksumAlgorithm, parts: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let (crc, width) = algorithm.crc()?;
    let mut combined: Option<u64> = None;
    for (raw, len) in parts {
        let value = raw.iter().take(width).fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        combined = Some(match combined {
            None => value,
            Some(so_far) => checksum_combine(crc, so_far, value, *len),
        });
    }
    Some(crc_bytes(
        algorithm,
        combined.unwrap_or_else(|| crc_fast::checksum(crc, &[])),
    ))
}

fn crc_bytes(algorithm: ChecksumAlgorithm, value: u64) -> Vec<u8> {
    let width = algorithm.crc().map_or(8, |(_, width)| width);
    value.to_be_bytes()[8 - width..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut checksummer = Checksummer::new(algorithm);
        for piece in data.chunks(3) {
            checksummer.update(piece);
        }
        checksummer.finish()
    }

    /// The catalogue check values (the checksum of the ASCII text `123456789`) from Greg Cook's CRC RevEng
    /// catalogue — CRC-32/ISO-HDLC `cbf43926`, CRC-32/ISCSI `e3069283`, CRC-64/NVME `ae8b14860a799888` — and FIPS
    /// 180's SHA-1 and SHA-256 of `abc`.
    #[test]
    fn known_answers() {
        let cases = [
            (ChecksumAlgorithm::Crc32, &b"123456789"[..], "cbf43926"),
            (ChecksumAlgorithm::Crc32c, b"123456789", "e3069283"),
            (ChecksumAlgorithm::Crc64Nvme, b"123456789", "ae8b14860a799888"),
            (
                ChecksumAlgorithm::Sha1,
                b"abc",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                ChecksumAlgorithm::Sha256,
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (algorithm, data, expected) in cases {
            assert_eq!(hex::encode(of(algorithm, data)), expected, "{}", algorithm.name());
        }
        assert_eq!(encode(&of(ChecksumAlgorithm::Crc32, b"123456789")), "y/Q5Jg==");
    }

    #[test]
    fn names_and_headers_round_trip() {
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::named(algorithm.name()), Some(algorithm));
            assert_eq!(
                algorithm.header(),
                format!("x-amz-checksum-{}", algorithm.name().to_lowercase())
            );
        }
        assert_eq!(ChecksumAlgorithm::named("crc32"), None);
        assert_eq!(ChecksumAlgorithm::named("MD5"), None);
    }

    /// A full-object CRC from parts equals the CRC of the whole body; the SHAs have none.
    #[test]
    fn full_object_crcs_combine_parts_into_the_whole_bodys_crc() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let cuts = [0, 40_000, 40_001, 100_000];
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts: Vec<(Vec<u8>, u64)> = cuts
                .windows(2)
                .map(|w| (of(algorithm, &body[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            assert_eq!(
                full_object(algorithm, &parts),
                Some(of(algorithm, &body)),
                "{}",
                algorithm.name()
            );
        }
        assert_eq!(full_object(ChecksumAlgorithm::Sha256, &[]), None);
    }

    #[test]
    fn a_composite_checksum_is_the_checksum_of_the_parts_checksums() {
        let parts = vec![
            of(ChecksumAlgorithm::Sha256, b"part one"),
            of(ChecksumAlgorithm::Sha256, b"part two"),
        ];
        let concatenated: Vec<u8> = parts.concat();
        let expected = format!("{}-2", encode(&of(ChecksumAlgorithm::Sha256, &concatenated)));
        assert_eq!(composite(ChecksumAlgorithm::Sha256, &parts), expected);
    }
}
