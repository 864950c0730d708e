//! KMS's request quotas (AWS KMS Developer Guide, "Request quotas"): per account and Region, each quota counts the
//! requests of one-second intervals (a rate below one allows one request per 1/rate seconds since the last one
//! allowed) and answers ThrottlingException past its rate for the rest of the interval, so that the SDKs back off and retry. The shared cryptographic quotas
//! count by key type (symmetric and HMAC keys, RSA, ECC, ML-DSA); requests that services make on a caller's behalf
//! count too, as in AWS. Quotas run on the server's clock; each check is one short critical section.

use std::collections::HashMap;

use keyhaven_crypto::asymmetric::PairKind;
use keyhaven_kernel::context::RequestContext;

use crate::KmsError;
use crate::key_spec::{Backing, KeySpec};

/// The per-operation quotas, requests per second.
const OPERATIONS: &[(&str, f64)] = &[
    ("CancelKeyDeletion", 5.0),
    ("ConnectCustomKeyStore", 5.0),
    ("CreateAlias", 5.0),
    ("CreateCustomKeyStore", 5.0),
    ("CreateGrant", 50.0),
    ("CreateKey", 5.0),
    ("DeleteAlias", 15.0),
    ("DeleteCustomKeyStore", 5.0),
    ("DeleteImportedKeyMaterial", 15.0),
    ("DescribeCustomKeyStores", 5.0),
    ("DescribeKey", 2000.0),
    ("DisableKey", 5.0),
    ("DisableKeyRotation", 5.0),
    ("DisconnectCustomKeyStore", 5.0),
    ("EnableKey", 5.0),
    ("EnableKeyRotation", 15.0),
    ("GetKeyLastUsage", 5.0),
    ("GetKeyPolicy", 1000.0),
    ("GetKeyRotationStatus", 1000.0),
    ("GetParametersForImport", 1.0),
    ("GetPublicKey", 2000.0),
    ("ImportKeyMaterial", 15.0),
    ("ListAliases", 500.0),
    ("ListGrants", 100.0),
    ("ListKeyPolicies", 100.0),
    ("ListKeys", 500.0),
    ("ListKeyRotations", 100.0),
    ("ListResourceTags", 2000.0),
    ("ListRetirableGrants", 100.0),
    ("PutKeyPolicy", 15.0),
    ("ReplicateKey", 5.0),
    ("RetireGrant", 50.0),
    ("RevokeGrant", 50.0),
    ("RotateKeyOnDemand", 5.0),
    ("ScheduleKeyDeletion", 15.0),
    ("TagResource", 10.0),
    ("UntagResource", 5.0),
    ("UpdateAlias", 5.0),
    ("UpdateCustomKeyStore", 5.0),
    ("UpdateKeyDescription", 5.0),
    ("UpdatePrimaryRegion", 5.0),
];

pub const SYMMETRIC: &str = "symmetric";
pub const RSA: &str = "rsa";
pub const ECC: &str = "ecc";
pub const ML_DSA: &str = "ml-dsa";

/// The shared cryptographic quotas and GenerateDataKeyPair's per key pair spec.
const SHARED: &[(&str, f64)] = &[
    (RSA, 1000.0),
    (ECC, 1000.0),
    (ML_DSA, 1000.0),
    ("GenerateDataKeyPair(ECC_NIST_P256)", 100.0),
    ("GenerateDataKeyPair(ECC_NIST_P384)", 100.0),
    ("GenerateDataKeyPair(ECC_NIST_P521)", 100.0),
    ("GenerateDataKeyPair(ECC_SECG_P256K1)", 100.0),
    ("GenerateDataKeyPair(ECC_NIST_EDWARDS25519)", 100.0),
    ("GenerateDataKeyPair(RSA_2048)", 20.0),
    ("GenerateDataKeyPair(RSA_3072)", 4.0),
    ("GenerateDataKeyPair(RSA_4096)", 1.0),
];

/// The symmetric quota depends on the Region.
fn symmetric_rate(region: &str) -> f64 {
    match region {
        "us-east-1" | "us-west-2" | "eu-west-1" => 100_000.0,
        "us-east-2" | "ap-southeast-1" | "ap-southeast-2" | "ap-northeast-1" | "eu-central-1" | "eu-west-2" => 20_000.0,
        _ => 10_000.0,
    }
}

/// Every quota name a configuration may set.
pub fn names() -> impl Iterator<Item = &'static str> {
    std::iter::once(SYMMETRIC).chain(OPERATIONS.iter().chain(SHARED).map(|(name, _)| *name))
}

/// The per-operation quota of `operation`, if it has one.
pub fn operation_quota(operation: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(name, _)| *name)
}

/// The shared quota a cryptographic operation with a key of `spec` counts toward.
pub fn cryptographic_quota(spec: &KeySpec) -> &'static str {
    match spec.backing {
        Backing::Symmetric | Backing::Hmac(_) => SYMMETRIC,
        Backing::Pair(PairKind::Rsa(_)) => RSA,
        Backing::Pair(PairKind::Ec(_) | PairKind::Ed25519) => ECC,
        Backing::Pair(PairKind::MlDsa(_)) => ML_DSA,
    }
}

/// The quota of GenerateDataKeyPair(WithoutPlaintext) with a key pair spec.
pub fn key_pair_quota(pair_spec: &str) -> Option<&'static str> {
    SHARED.iter().map(|(name, _)| *name).find(|name| {
        name.strip_prefix("GenerateDataKeyPair(")
            .and_then(|rest| rest.strip_suffix(')'))
            == Some(pair_spec)
    })
}

/// Which quotas apply: none, or AWS's defaults with some rates replaced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaSettings {
    pub enabled: bool,
    pub overrides: HashMap<&'static str, f64>,
}

impl QuotaSettings {
    /// Parses `off`, `aws`, or `aws` followed by `,NAME=RATE` overrides (a list of overrides alone implies `aws`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut settings = QuotaSettings::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "off" => settings.enabled = false,
                "aws" => settings.enabled = true,
                _ => {
                    let (name, rate) = part
                        .split_once('=')
                        .ok_or_else(|| format!("KMS request quota {part:?} is not NAME=RATE, `aws` or `off`"))?;
                    let name = names()
                        .find(|known| known.eq_ignore_ascii_case(name.trim()))
                        .ok_or_else(|| format!("{name:?} is not a KMS request quota"))?;
                    let rate: f64 = rate
                        .trim()
                        .parse()
                        .ok()
                        .filter(|r: &f64| r.is_finite() && *r > 0.0)
                        .ok_or_else(|| {
                            format!("the rate of {name} must be a positive number of requests per second")
                        })?;
                    settings.overrides.insert(name, rate);
                    settings.enabled = true;
                }
            }
        }
        Ok(settings)
    }
}

/// What a quota has used: the requests of its current one-second interval, and when it last allowed one.
#[derive(Debug, Clone, Copy)]
struct Used {
    interval: i64,
    requests: f64,
    last_allowed: f64,
}

/// The quotas and what each account and Region has used of them.
#[derive(Debug, Default)]
pub(crate) struct RequestQuotas {
    settings: QuotaSettings,
    used: parking_lot::Mutex<HashMap<(String, &'static str), Used>>,
}

impl RequestQuotas {
    pub fn new(settings: QuotaSettings) -> Self {
        Self {
            settings,
            used: Default::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    fn rate(&self, quota: &'static str, region: &str) -> f64 {
        if let Some(rate) = self.settings.overrides.get(quota) {
            return *rate;
        }
        if quota == SYMMETRIC {
            return symmetric_rate(region);
        }
        OPERATIONS
            .iter()
            .chain(SHARED)
            .find(|(name, _)| *name == quota)
            .map_or(f64::INFINITY, |(_, rate)| *rate)
    }

    /// Counts one request of `quota` at `now` (seconds); ThrottlingException past the quota's rate.
    pub fn take(&self, ctx: &RequestContext, quota: &'static str, now: f64) -> Result<(), KmsError> {
        if !self.settings.enabled {
            return Ok(());
        }
        let rate = self.rate(quota, &ctx.region);
        let interval = now.floor() as i64;
        let mut used = self.used.lock();
        let entry = used.entry((ctx.regional_scope(), quota)).or_insert(Used {
            interval,
            requests: 0.0,
            last_allowed: f64::NEG_INFINITY,
        });
        if entry.interval != interval {
            entry.interval = interval;
            entry.requests = 0.0;
        }
        let allowed = if rate >= 1.0 {
            entry.requests < rate.floor()
        } else {
            now - entry.last_allowed >= 1.0 / rate
        };
        if !allowed {
            return Err(KmsError::Throttling(
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.".into(),
            ));
        }
        entry.requests += 1.0;
        entry.last_allowed = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use keyhaven_kernel::testing::ctx;

    use super::*;

    #[test]
    fn settings_parse_as_documented() {
        assert_eq!(QuotaSettings::parse("off").expect("off"), QuotaSettings::default());
        let aws = QuotaSettings::parse("aws").expect("aws");
        assert!(aws.enabled && aws.overrides.is_empty());
        let custom = QuotaSettings::parse("createkey=1, symmetric=0.5").expect("overrides");
        assert!(custom.enabled);
        assert_eq!(custom.overrides.get("CreateKey"), Some(&1.0));
        assert_eq!(custom.overrides.get(SYMMETRIC), Some(&0.5));
        for bad in ["CreateKey", "Nope=1", "CreateKey=0", "CreateKey=-1", "CreateKey=x"] {
            assert!(QuotaSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_quota_counts_per_interval_account_and_region() {
        let quotas =
            RequestQuotas::new(QuotaSettings::parse("CreateKey=2,GetParametersForImport=0.1").expect("settings"));
        let east = ctx("us-east-1");
        let west = ctx("us-west-2");
        assert!(quotas.take(&east, "CreateKey", 100.0).is_ok());
        assert!(quotas.take(&east, "CreateKey", 100.5).is_ok());
        assert!(matches!(
            quotas.take(&east, "CreateKey", 100.9),
            Err(KmsError::Throttling(_))
        ));
        assert!(quotas.take(&west, "CreateKey", 100.9).is_ok());
        assert!(quotas.take(&east, "CreateKey", 101.0).is_ok());
        // One request per ten seconds since the last one allowed, wherever the second boundaries fall.
        assert!(quotas.take(&east, "GetParametersForImport", 105.5).is_ok());
        assert!(quotas.take(&east, "GetParametersForImport", 110.2).is_err());
        assert!(quotas.take(&east, "GetParametersForImport", 115.4).is_err());
        assert!(quotas.take(&east, "GetParametersForImport", 115.5).is_ok());
    }

    #[test]
    fn defaults_follow_aws() {
        let quotas = RequestQuotas::new(QuotaSettings::parse("aws").expect("aws"));
        assert_eq!(quotas.rate(SYMMETRIC, "us-east-1"), 100_000.0);
        assert_eq!(quotas.rate(SYMMETRIC, "eu-west-2"), 20_000.0);
        assert_eq!(quotas.rate(SYMMETRIC, "sa-east-1"), 10_000.0);
        assert_eq!(quotas.rate("CreateKey", "us-east-1"), 5.0);
        assert_eq!(key_pair_quota("RSA_4096"), Some("GenerateDataKeyPair(RSA_4096)"));
        assert!(
            RequestQuotas::default()
                .take(&ctx("us-east-1"), "CreateKey", 0.0)
                .is_ok()
        );
    }
}
