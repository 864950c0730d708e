//! ETags as S3 computes them ("Checking object integrity", S3 User Guide, and the `ETag` member of the S3 model):
//! the hex MD5 of the body for an object uploaded whole with SSE-S3 (or no encryption); for a multipart upload, the
//! hex MD5 of the concatenated binary MD5s of its parts followed by `-<parts>`; for SSE-KMS and SSE-C objects uploaded
//! whole, a value that is not the MD5 of the data. Returned quoted, as in the `ETag` header.

use keyhaven_crypto::digest::Md5;

use crate::S3Error;

/// How an object's body was encrypted, as far as its ETag cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtagKind {
    /// SSE-S3 or none: the ETag is the body's MD5.
    Md5,
    /// SSE-KMS, DSSE-KMS or SSE-C: the ETag reveals nothing of the data.
    Opaque,
}

/// The ETag of an object uploaded whole, from the MD5 of its body (which an MD5 ETag needs).
pub fn single(kind: EtagKind, body_md5: Option<&[u8; 16]>) -> Result<String, S3Error> {
    let bytes = match (kind, body_md5) {
        (EtagKind::Md5, Some(md5)) => *md5,
        (EtagKind::Md5, None) => return Err(S3Error::Internal("an MD5 ETag without the body's MD5".into())),
        (EtagKind::Opaque, _) => keyhaven_crypto::random_array()?,
    };
    Ok(quoted(&hex::encode(bytes)))
}

/// The ETag of a multipart upload, from its parts' MD5s in part order.
pub fn multipart(part_md5s: &[[u8; 16]]) -> String {
    let mut whole = Md5::default();
    for md5 in part_md5s {
        whole.update(md5);
    }
    quoted(&format!("{}-{}", hex::encode(whole.finish()), part_md5s.len()))
}

fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

#[cfg(test)]
mod tests {
    use keyhaven_crypto::digest::md5;

    use super::*;

    /// Values computed independently with Python's `hashlib`: `md5(b"hello world")`, and
    /// `md5(md5(b"part one").digest() + md5(b"part two").digest())` for a two-part upload.
    #[test]
    fn etags_match_an_independent_computation() {
        assert_eq!(
            single(EtagKind::Md5, Some(&md5(b"hello world"))).expect("etag"),
            "\"5eb63bbbe01eeed093cb22bb8f5acdc3\""
        );
        assert_eq!(
            multipart(&[md5(b"part one"), md5(b"part two")]),
            "\"0732917abc3288784e318ac0aab1757a-2\""
        );
    }

    #[test]
    fn an_opaque_etag_is_not_the_md5_and_differs_each_time() {
        let md5 = md5(b"secret data");
        let first = single(EtagKind::Opaque, Some(&md5)).expect("etag");
        let second = single(EtagKind::Opaque, Some(&md5)).expect("etag");
        assert_ne!(first, single(EtagKind::Md5, Some(&md5)).expect("etag"));
        assert_ne!(first, second);
        assert_eq!(first.len(), 34, "32 hex digits, quoted");
    }
}
