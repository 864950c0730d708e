//! The digests and RSA signatures XML Signature names, for verifying signed SAML responses: SHA-1
//! survives there only because identity providers still sign with it, and nothing else here uses it.

use aws_lc_rs::{digest, signature};

/// An XML Signature digest (`DigestMethod`) or the hash of a signature method (`SignatureMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsigHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DsigHash {
    /// The hash a `DigestMethod` algorithm URI names.
    pub fn from_digest_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => Some(Self::Sha1),
            "http://www.w3.org/2001/04/xmlenc#sha256" => Some(Self::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(Self::Sha384),
            "http://www.w3.org/2001/04/xmlenc#sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The hash of an RSA PKCS #1 v1.5 `SignatureMethod` algorithm URI.
    pub fn from_rsa_signature_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Some(Self::Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Some(Self::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Some(Self::Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, data).as_ref().to_vec()
    }
}

/// Whether `signature` is an RSA PKCS #1 v1.5 signature with `hash` over `message` by the key whose
/// DER SubjectPublicKeyInfo is `public_key` (keys of 1024 bits and up, as AWS accepts in SAML metadata).
pub fn verify_rsa(public_key: &[u8], hash: DsigHash, message: &[u8], signature: &[u8]) -> bool {
    let algorithm: &'static signature::RsaParameters = match hash {
        DsigHash::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        DsigHash::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        DsigHash::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        DsigHash::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
    };
    signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_their_published_values() {
        // FIPS 180 examples for "abc".
        let cases = [
            (DsigHash::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                DsigHash::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (hash, hex) in cases {
            let hex_digest: String = hash.digest(b"abc").iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex_digest, hex, "{hash:?}");
        }
        assert_eq!(DsigHash::Sha384.digest(b"").len(), 48);
        assert_eq!(DsigHash::Sha512.digest(b"").len(), 64);
    }

    #[test]
    fn algorithm_uris_are_recognised_and_nothing_else() {
        assert_eq!(
            DsigHash::from_rsa_signature_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
            Some(DsigHash::Sha256)
        );
        assert_eq!(
            DsigHash::from_rsa_signature_uri("http://www.w3.org/2000/09/xmldsig#dsa-sha1"),
            None
        );
        assert_eq!(
            DsigHash::from_digest_uri("http://www.w3.org/2001/04/xmlenc#sha256"),
            Some(DsigHash::Sha256)
        );
        assert_eq!(DsigHash::from_digest_uri("md5"), None);
    }
}
