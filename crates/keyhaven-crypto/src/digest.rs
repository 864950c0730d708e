//! Hashes and MACs used outside key wrapping: SHA-256, HMAC-SHA256, PBKDF2-HMAC-SHA256, constant-time comparison,
//! the streamed digests S3 offers as object checksums, and MD5 for what S3 defines by it (ETags, `Content-MD5`, the
//! integrity check on an SSE-C key). MD5 here is never a security check; aws-lc-rs does not expose it, so it comes
//! from aws-lc's own (assembly) implementation through `aws_lc_md5`, the one place this crate uses `unsafe`: one
//! crypto library, and MD5 at the speed S3 uploads need (it bounds SSE-S3 PUT throughput).

use std::num::NonZeroU32;

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Incremental SHA-256, for hash chains and streamed bodies.
pub struct Sha256(digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256 {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// A streamed digest whose algorithm is chosen at run time: S3's `x-amz-checksum-sha256` and `x-amz-checksum-sha1`
/// (SHA-1 there is a checksum the client asks for, never a security check).
pub struct StreamDigest(digest::Context);

impl StreamDigest {
    pub fn sha256() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    pub fn sha1() -> Self {
        Self(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

/// MD5, incrementally (S3 ETags and `Content-MD5`; see the module comment).
pub struct Md5(aws_lc_md5::Context);

impl Default for Md5 {
    fn default() -> Self {
        Self(aws_lc_md5::Context::new())
    }
}

impl Md5 {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 16] {
        self.0.finish()
    }
}

#[allow(unsafe_code)]
mod aws_lc_md5 {
    //! aws-lc's MD5 through its C interface: three calls on a context this module owns.

    use std::mem::MaybeUninit;

    use aws_lc_sys::{MD5_CTX, MD5_Final, MD5_Init, MD5_Update};

    pub struct Context(MD5_CTX);

    impl Context {
        pub fn new() -> Self {
            let mut ctx = MaybeUninit::<MD5_CTX>::uninit();
            // SAFETY: MD5_Init writes every field of the context it is given (and always succeeds), so the value is
            // initialised when it returns.
            unsafe {
                MD5_Init(ctx.as_mut_ptr());
                Self(ctx.assume_init())
            }
        }

        pub fn update(&mut self, data: &[u8]) {
            // SAFETY: the context is initialised (by `new`) and exclusively borrowed; `data` is valid for its length.
            unsafe {
                MD5_Update(&mut self.0, data.as_ptr().cast(), data.len());
            }
        }

        pub fn finish(mut self) -> [u8; 16] {
            let mut out = [0u8; 16];
            // SAFETY: the context is initialised and owned; `out` has the 16 bytes MD5_Final writes.
            unsafe {
                MD5_Final(out.as_mut_ptr(), &mut self.0);
            }
            out
        }
    }
}

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::default();
    md5.update(data);
    md5.finish()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac_tag(hmac::HMAC_SHA256, key, data)
}

/// HMAC-SHA1 of `data` under `key`: only for S3's Signature Version 2, which is defined by it.
pub fn hmac_sha1_legacy(key: &[u8], data: &[u8]) -> [u8; 20] {
    hmac_tag(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, data)
}

/// The `N`-byte tag of `algorithm` (whose output is `N` bytes long).
fn hmac_tag<const N: usize>(algorithm: hmac::Algorithm, key: &[u8], data: &[u8]) -> [u8; N] {
    let tag = hmac::sign(&hmac::Key::new(algorithm, key), data);
    let mut out = [0u8; N];
    out.copy_from_slice(tag.as_ref());
    out
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) of `password` and `salt`, filling `out`: the SCRAM-SHA-256 `Hi()` function.
///
/// # Panics
///
/// If `iterations` is 0, which PBKDF2 does not define; callers validate counts they receive.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let iterations = NonZeroU32::new(iterations).expect("PBKDF2 needs at least one iteration");
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, password, out);
}

/// Compares two byte strings without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_string_matches_the_published_value() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn incremental_sha256_equals_one_shot() {
        let mut h = Sha256::default();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), sha256(b"hello world"));
    }

    /// RFC 1321's test suite (appendix A.5).
    #[test]
    fn md5_matches_rfc1321() {
        let cases = [
            (&b""[..], "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(hex(&md5(data)), expected);
        }
        let mut streamed = Md5::default();
        streamed.update(b"message ");
        streamed.update(b"digest");
        assert_eq!(hex(&streamed.finish()), "f96b697d7cb7938d525a2f31aaf161d0");
    }

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 7914 section 11, the two PBKDF2-HMAC-SHA256 test vectors.
    #[test]
    fn pbkdf2_hmac_sha256_matches_rfc7914_section_11() {
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        pbkdf2_hmac_sha256(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    #[should_panic(expected = "at least one iteration")]
    fn pbkdf2_refuses_zero_iterations() {
        pbkdf2_hmac_sha256(b"p", b"s", 0, &mut [0u8; 32]);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
