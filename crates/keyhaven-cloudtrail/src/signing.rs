//! The keys digest files are signed with: one RSA-2048 key pair per Region at a time, each valid for a period
//! (a new one is made when the current one's ends), the private key sealed by the root key; ListPublicKeys publishes
//! the public halves (DER PKCS#1) by validity period, as `aws cloudtrail validate-logs` reads them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyhaven_crypto::asymmetric::{self, Hash, Message, PairKind, PrivateKey, Role, RsaBits, Scheme};
use keyhaven_crypto::digest::md5;
use keyhaven_kernel::context::RequestContext;
use keyhaven_kernel::records;

use crate::error::{CloudTrailError, CloudTrailFault, fault};
use crate::model::{RECORD_VERSION, SigningKeyRecord};
use crate::{CloudTrail, read, transact};

/// How long a signing key is used for.
const KEY_VALIDITY_SECONDS: i64 = 30 * 24 * 3600;

fn label(region: &str, fingerprint: &str) -> Vec<u8> {
    format!("cloudtrail-signing-key/{region}/{fingerprint}").into_bytes()
}

/// A key opened for signing.
pub struct SigningKey {
    pub fingerprint: String,
    key: PrivateKey,
}

impl SigningKey {
    /// SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), hex.
    pub fn sign(&self, message: &[u8]) -> Result<String, CloudTrailError> {
        Ok(hex::encode(
            self.key.sign(Scheme::RsaPkcs1(Hash::Sha256), Message::Raw(message))?,
        ))
    }
}

/// A public key as ListPublicKeys answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER PKCS#1 RSAPublicKey.
    pub value: Vec<u8>,
    pub valid_from: i64,
    pub valid_to: i64,
    pub fingerprint: String,
}

fn key_id(valid_from: i64) -> String {
    format!("{valid_from:020}")
}

impl CloudTrail {
    fn new_signing_key(&self, region: &str, now: i64) -> Result<SigningKeyRecord, CloudTrailError> {
        let private = asymmetric::generate(PairKind::Rsa(RsaBits::B2048))?;
        let parsed = PrivateKey::parse(PairKind::Rsa(RsaBits::B2048), Role::Sign, private.expose())?;
        let public = parsed.rsa_public_key()?;
        let fingerprint = hex::encode(md5(&public));
        let sealed = self.root.seal(&label(region, &fingerprint), private.expose())?;
        Ok(SigningKeyRecord {
            v: RECORD_VERSION,
            fingerprint,
            public_key: STANDARD.encode(public),
            sealed_private_key: STANDARD.encode(sealed),
            valid_from: now,
            valid_to: now + KEY_VALIDITY_SECONDS,
        })
    }

    /// The Region's current signing key, made when there is none valid at `now`.
    pub fn signing_key(&self, region: &str, now: i64) -> Result<SigningKey, CloudTrailError> {
        let current = |tx: &mut dyn keyhaven_store::Transaction| -> Result<Option<SigningKeyRecord>, CloudTrailError> {
            Ok(records::all::<SigningKeyRecord>(tx, region)?
                .into_iter()
                .map(|(_, k)| k)
                .rfind(|k| k.valid_from <= now && now < k.valid_to))
        };
        let record = match read(&*self.store, current)? {
            Some(record) => record,
            None => {
                let made = self.new_signing_key(region, now)?;
                transact(&*self.store, |tx| match current(tx)? {
                    Some(raced) => Ok(raced),
                    None => {
                        records::put(tx, region, &key_id(made.valid_from), &made)?;
                        Ok(made.clone())
                    }
                })?
            }
        };
        let sealed = STANDARD
            .decode(&record.sealed_private_key)
            .map_err(|_| CloudTrailError::Internal("a sealed signing key is not base64".into()))?;
        let private = self.root.open(&label(region, &record.fingerprint), &sealed)?;
        Ok(SigningKey {
            fingerprint: record.fingerprint,
            key: PrivateKey::parse(PairKind::Rsa(RsaBits::B2048), Role::Sign, private.expose())?,
        })
    }

    /// ListPublicKeys: the Region's keys valid at some time in `start..=end` (both default to now).
    pub fn list_public_keys(
        &self,
        ctx: &RequestContext,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<PublicKey>, CloudTrailError> {
        self.authorize(ctx, "cloudtrail:ListPublicKeys", None, &[])?;
        let now = self.now();
        let (start, end) = (start.unwrap_or(now), end.unwrap_or(now));
        if start > end {
            return Err(fault(
                CloudTrailFault::InvalidTimeRange,
                "Start time must be before end time.",
            ));
        }
        // A Region that never signed still has a current key to publish.
        self.signing_key(&ctx.region, now)?;
        let keys = read(&*self.store, |tx| {
            Ok(records::all::<SigningKeyRecord>(tx, &ctx.region)?)
        })?;
        keys.into_iter()
            .map(|(_, k)| k)
            .filter(|k| k.valid_from <= end && start < k.valid_to)
            .map(|k| {
                Ok(PublicKey {
                    value: STANDARD
                        .decode(&k.public_key)
                        .map_err(|_| CloudTrailError::Internal("a public key is not base64".into()))?,
                    valid_from: k.valid_from,
                    valid_to: k.valid_to,
                    fingerprint: k.fingerprint,
                })
            })
            .collect()
    }
}
