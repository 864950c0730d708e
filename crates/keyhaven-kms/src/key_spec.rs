//! KMS's key specs as AWS defines them: which key usages each allows and the algorithms each offers for its usage
//! (AWS KMS Developer Guide, "Key spec reference"), and how each maps onto the cryptography of `keyhaven-crypto`.

use keyhaven_crypto::asymmetric::{Curve, Hash, MacHash, MlDsaLevel, Oaep, PairKind, RsaBits, Scheme};

use crate::KmsError;
use crate::model::{ENCRYPT_DECRYPT, SYMMETRIC_DEFAULT};

pub const SIGN_VERIFY: &str = "SIGN_VERIFY";
pub const GENERATE_VERIFY_MAC: &str = "GENERATE_VERIFY_MAC";
pub const KEY_AGREEMENT: &str = "KEY_AGREEMENT";
pub const ECDH: &str = "ECDH";
/// China Regions' national algorithms: AWS offers SM2 only in the `aws-cn` partition.
const SM2: &str = "SM2";

/// What backs a key of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    Symmetric,
    Pair(PairKind),
    Hmac(MacHash),
}

/// One key spec: its name, what backs it and the usages AWS allows with it.
#[derive(Debug)]
pub struct KeySpec {
    pub name: &'static str,
    pub backing: Backing,
    usages: &'static [&'static str],
}

const RSA_USAGES: &[&str] = &[ENCRYPT_DECRYPT, SIGN_VERIFY];
const NIST_USAGES: &[&str] = &[SIGN_VERIFY, KEY_AGREEMENT];
const SIGN_ONLY: &[&str] = &[SIGN_VERIFY];
const MAC_ONLY: &[&str] = &[GENERATE_VERIFY_MAC];

const SPECS: &[KeySpec] = &[
    KeySpec {
        name: SYMMETRIC_DEFAULT,
        backing: Backing::Symmetric,
        usages: &[ENCRYPT_DECRYPT],
    },
    KeySpec {
        name: "RSA_2048",
        backing: Backing::Pair(PairKind::Rsa(RsaBits::B2048)),
        usages: RSA_USAGES,
    },
    KeySpec {
        name: "RSA_3072",
        backing: Backing::Pair(PairKind::Rsa(RsaBits::B3072)),
        usages: RSA_USAGES,
    },
    KeySpec {
        name: "RSA_4096",
        backing: Backing::Pair(PairKind::Rsa(RsaBits::B4096)),
        usages: RSA_USAGES,
    },
    KeySpec {
        name: "ECC_NIST_P256",
        backing: Backing::Pair(PairKind::Ec(Curve::P256)),
        usages: NIST_USAGES,
    },
    KeySpec {
        name: "ECC_NIST_P384",
        backing: Backing::Pair(PairKind::Ec(Curve::P384)),
        usages: NIST_USAGES,
    },
    KeySpec {
        name: "ECC_NIST_P521",
        backing: Backing::Pair(PairKind::Ec(Curve::P521)),
        usages: NIST_USAGES,
    },
    KeySpec {
        name: "ECC_SECG_P256K1",
        backing: Backing::Pair(PairKind::Ec(Curve::Secp256k1)),
        usages: SIGN_ONLY,
    },
    KeySpec {
        name: "ECC_NIST_EDWARDS25519",
        backing: Backing::Pair(PairKind::Ed25519),
        usages: SIGN_ONLY,
    },
    KeySpec {
        name: "ML_DSA_44",
        backing: Backing::Pair(PairKind::MlDsa(MlDsaLevel::L44)),
        usages: SIGN_ONLY,
    },
    KeySpec {
        name: "ML_DSA_65",
        backing: Backing::Pair(PairKind::MlDsa(MlDsaLevel::L65)),
        usages: SIGN_ONLY,
    },
    KeySpec {
        name: "ML_DSA_87",
        backing: Backing::Pair(PairKind::MlDsa(MlDsaLevel::L87)),
        usages: SIGN_ONLY,
    },
    KeySpec {
        name: "HMAC_224",
        backing: Backing::Hmac(MacHash::Sha224),
        usages: MAC_ONLY,
    },
    KeySpec {
        name: "HMAC_256",
        backing: Backing::Hmac(MacHash::Sha256),
        usages: MAC_ONLY,
    },
    KeySpec {
        name: "HMAC_384",
        backing: Backing::Hmac(MacHash::Sha384),
        usages: MAC_ONLY,
    },
    KeySpec {
        name: "HMAC_512",
        backing: Backing::Hmac(MacHash::Sha512),
        usages: MAC_ONLY,
    },
];

/// The data key pairs GenerateDataKeyPair makes (the model's `DataKeyPairSpec`, less SM2).
pub fn data_key_pair(name: &str) -> Result<PairKind, KmsError> {
    if name == SM2 {
        return Err(sm2_unavailable());
    }
    match lookup(name) {
        Some(KeySpec {
            backing: Backing::Pair(kind @ (PairKind::Rsa(_) | PairKind::Ec(_) | PairKind::Ed25519)),
            ..
        }) => Ok(*kind),
        _ => Err(KmsError::Validation(format!("KeyPairSpec {name} is not supported."))),
    }
}

fn sm2_unavailable() -> KmsError {
    KmsError::UnsupportedOperation("KeySpec SM2 is not supported in this Region".into())
}

fn lookup(name: &str) -> Option<&'static KeySpec> {
    SPECS.iter().find(|s| s.name == name)
}

/// The spec of a stored key.
pub fn of(name: &str) -> Result<&'static KeySpec, KmsError> {
    lookup(name).ok_or_else(|| KmsError::Internal(format!("stored key spec {name} is unknown")))
}

/// CreateKey's choice of spec and usage, checked as AWS checks it: only symmetric keys have a default usage.
pub fn for_new_key(spec: &str, usage: Option<&str>) -> Result<(&'static KeySpec, &'static str), KmsError> {
    if spec == SM2 {
        return Err(sm2_unavailable());
    }
    let found = lookup(spec).ok_or_else(|| KmsError::Internal(format!("key spec {spec} passed the model's check")))?;
    let usage = match usage {
        Some(usage) => usage,
        None if found.backing == Backing::Symmetric => ENCRYPT_DECRYPT,
        None => {
            return Err(KmsError::Validation(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
            ));
        }
    };
    let usage = found
        .usages
        .iter()
        .find(|u| **u == usage)
        .ok_or_else(|| KmsError::Validation(format!("KeyUsage {usage} is not compatible with KeySpec {spec}")))?;
    Ok((found, usage))
}

impl KeySpec {
    /// EncryptionAlgorithms of a key of this spec with `usage`, as DescribeKey and GetPublicKey list them.
    pub fn encryption_algorithms(&self, usage: &str) -> Vec<&'static str> {
        match (self.backing, usage) {
            (Backing::Symmetric, _) => vec![SYMMETRIC_DEFAULT],
            (Backing::Pair(PairKind::Rsa(_)), ENCRYPT_DECRYPT) => vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
            _ => Vec::new(),
        }
    }

    /// SigningAlgorithms of a key of this spec with `usage`.
    pub fn signing_algorithms(&self, usage: &str) -> Vec<&'static str> {
        if usage != SIGN_VERIFY {
            return Vec::new();
        }
        SIGNING_ALGORITHMS
            .iter()
            .filter(|(_, scheme)| self.signs_with(*scheme))
            .map(|(name, _)| *name)
            .collect()
    }

    /// MacAlgorithms of a key of this spec.
    pub fn mac_algorithms(&self) -> Vec<&'static str> {
        match self.backing {
            Backing::Hmac(hash) => MAC_ALGORITHMS
                .iter()
                .filter(|(_, h)| *h == hash)
                .map(|(n, _)| *n)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// KeyAgreementAlgorithms of a key of this spec with `usage`.
    pub fn key_agreement_algorithms(&self, usage: &str) -> Vec<&'static str> {
        if usage == KEY_AGREEMENT { vec![ECDH] } else { Vec::new() }
    }

    fn signs_with(&self, scheme: Scheme) -> bool {
        match (self.backing, scheme) {
            (Backing::Pair(PairKind::Rsa(_)), Scheme::RsaPss(_) | Scheme::RsaPkcs1(_)) => true,
            (Backing::Pair(PairKind::Ec(curve)), Scheme::Ecdsa(hash)) => {
                keyhaven_crypto::asymmetric::curve_hash(curve) == hash
            }
            (Backing::Pair(PairKind::Ed25519), Scheme::Ed25519 | Scheme::Ed25519Ph) => true,
            (Backing::Pair(PairKind::MlDsa(_)), Scheme::MlDsa) => true,
            _ => false,
        }
    }

    /// The scheme a signing algorithm names, if a key of this spec signs with it.
    pub fn signing_scheme(&self, algorithm: &str) -> Result<Scheme, KmsError> {
        SIGNING_ALGORITHMS
            .iter()
            .find(|(name, _)| *name == algorithm)
            .map(|(_, scheme)| *scheme)
            .filter(|scheme| self.signs_with(*scheme))
            .ok_or_else(|| self.incompatible(algorithm))
    }

    /// The OAEP hash an encryption algorithm names, for an RSA key.
    pub fn oaep(&self, algorithm: &str) -> Result<(Oaep, RsaBits), KmsError> {
        let Backing::Pair(PairKind::Rsa(bits)) = self.backing else {
            return Err(self.incompatible(algorithm));
        };
        match algorithm {
            "RSAES_OAEP_SHA_1" => Ok((Oaep::Sha1, bits)),
            "RSAES_OAEP_SHA_256" => Ok((Oaep::Sha256, bits)),
            _ => Err(self.incompatible(algorithm)),
        }
    }

    /// The hash a MAC algorithm names, for an HMAC key of the same hash.
    pub fn mac_hash(&self, algorithm: &str) -> Result<MacHash, KmsError> {
        MAC_ALGORITHMS
            .iter()
            .find(|(name, hash)| *name == algorithm && self.backing == Backing::Hmac(*hash))
            .map(|(_, hash)| *hash)
            .ok_or_else(|| self.incompatible(algorithm))
    }

    fn incompatible(&self, algorithm: &str) -> KmsError {
        KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            self.name
        ))
    }
}

/// In the order AWS lists them in KeyMetadata.
const SIGNING_ALGORITHMS: &[(&str, Scheme)] = &[
    ("RSASSA_PKCS1_V1_5_SHA_256", Scheme::RsaPkcs1(Hash::Sha256)),
    ("RSASSA_PKCS1_V1_5_SHA_384", Scheme::RsaPkcs1(Hash::Sha384)),
    ("RSASSA_PKCS1_V1_5_SHA_512", Scheme::RsaPkcs1(Hash::Sha512)),
    ("RSASSA_PSS_SHA_256", Scheme::RsaPss(Hash::Sha256)),
    ("RSASSA_PSS_SHA_384", Scheme::RsaPss(Hash::Sha384)),
    ("RSASSA_PSS_SHA_512", Scheme::RsaPss(Hash::Sha512)),
    ("ECDSA_SHA_256", Scheme::Ecdsa(Hash::Sha256)),
    ("ECDSA_SHA_384", Scheme::Ecdsa(Hash::Sha384)),
    ("ECDSA_SHA_512", Scheme::Ecdsa(Hash::Sha512)),
    ("ED25519_PH_SHA_512", Scheme::Ed25519Ph),
    ("ED25519_SHA_512", Scheme::Ed25519),
    ("ML_DSA_SHAKE_256", Scheme::MlDsa),
];

const MAC_ALGORITHMS: &[(&str, MacHash)] = &[
    ("HMAC_SHA_224", MacHash::Sha224),
    ("HMAC_SHA_256", MacHash::Sha256),
    ("HMAC_SHA_384", MacHash::Sha384),
    ("HMAC_SHA_512", MacHash::Sha512),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usages_each_spec_allows() {
        for (spec, usage, allowed) in [
            (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, true),
            (SYMMETRIC_DEFAULT, SIGN_VERIFY, false),
            ("RSA_2048", ENCRYPT_DECRYPT, true),
            ("RSA_4096", SIGN_VERIFY, true),
            ("RSA_2048", KEY_AGREEMENT, false),
            ("ECC_NIST_P256", KEY_AGREEMENT, true),
            ("ECC_NIST_P521", SIGN_VERIFY, true),
            ("ECC_NIST_P384", ENCRYPT_DECRYPT, false),
            ("ECC_SECG_P256K1", KEY_AGREEMENT, false),
            ("ECC_NIST_EDWARDS25519", SIGN_VERIFY, true),
            ("ECC_NIST_EDWARDS25519", KEY_AGREEMENT, false),
            ("ML_DSA_65", SIGN_VERIFY, true),
            ("ML_DSA_65", ENCRYPT_DECRYPT, false),
            ("HMAC_256", GENERATE_VERIFY_MAC, true),
            ("HMAC_256", SIGN_VERIFY, false),
        ] {
            assert_eq!(for_new_key(spec, Some(usage)).is_ok(), allowed, "{spec} {usage}");
        }
        assert_eq!(
            for_new_key("RSA_2048", Some(KEY_AGREEMENT)).expect_err("must fail"),
            KmsError::Validation("KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048".into())
        );
        assert!(matches!(for_new_key("HMAC_256", None), Err(KmsError::Validation(_))));
        assert_eq!(
            for_new_key(SYMMETRIC_DEFAULT, None).expect("must succeed").1,
            ENCRYPT_DECRYPT
        );
        assert!(matches!(
            for_new_key("SM2", Some(SIGN_VERIFY)),
            Err(KmsError::UnsupportedOperation(_))
        ));
    }

    #[test]
    fn algorithms_each_spec_offers() {
        let rsa = of("RSA_3072").expect("must succeed");
        assert_eq!(rsa.signing_algorithms(SIGN_VERIFY).len(), 6);
        assert_eq!(rsa.signing_algorithms(SIGN_VERIFY)[0], "RSASSA_PKCS1_V1_5_SHA_256");
        assert_eq!(
            of("ECC_NIST_EDWARDS25519")
                .expect("must succeed")
                .signing_algorithms(SIGN_VERIFY),
            ["ED25519_PH_SHA_512", "ED25519_SHA_512"]
        );
        assert!(rsa.signing_algorithms(ENCRYPT_DECRYPT).is_empty());
        assert_eq!(
            rsa.encryption_algorithms(ENCRYPT_DECRYPT),
            ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        );
        assert_eq!(
            of("ECC_NIST_P384")
                .expect("must succeed")
                .signing_algorithms(SIGN_VERIFY),
            ["ECDSA_SHA_384"]
        );
        assert_eq!(
            of("ECC_SECG_P256K1")
                .expect("must succeed")
                .signing_algorithms(SIGN_VERIFY),
            ["ECDSA_SHA_256"]
        );
        assert_eq!(of("HMAC_384").expect("must succeed").mac_algorithms(), ["HMAC_SHA_384"]);
        assert_eq!(
            of("ECC_NIST_P256")
                .expect("must succeed")
                .key_agreement_algorithms(KEY_AGREEMENT),
            [ECDH]
        );
        assert_eq!(
            of("ECC_NIST_P256")
                .expect("must succeed")
                .signing_scheme("ECDSA_SHA_384")
                .expect_err("must fail"),
            KmsError::InvalidKeyUsage("Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.".into())
        );
        assert_eq!(
            of("HMAC_224")
                .expect("must succeed")
                .mac_hash("HMAC_SHA_256")
                .expect_err("must fail"),
            KmsError::InvalidKeyUsage("Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.".into())
        );
    }
}
