//! The AWS managed policies: every one AWS publishes, with its path, default version, dates and
//! document, from `data/aws-managed-policies.json` (written by `scripts/refresh-aws-managed-policies`
//! from the copy moto ships), so `arn:aws:iam::aws:policy/...` can be attached, read and evaluated.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const DATA: &str = include_str!("../../data/aws-managed-policies.json");

/// An AWS managed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsManagedPolicy {
    pub name: String,
    /// AWS's unique ids of its policies are not in the published data: this one is derived from the
    /// name, so it is the same on every server and every run.
    pub id: String,
    pub path: String,
    pub default_version: String,
    pub create_date: f64,
    pub update_date: f64,
    pub document: String,
}

impl AwsManagedPolicy {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }
}

#[derive(Deserialize)]
struct Data {
    policies: HashMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    path: String,
    version: String,
    created: String,
    updated: String,
    document: String,
}

/// `ANPA` and 17 characters of AWS's id alphabet, from a hash of the name.
fn derived_id(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = keyhaven_crypto::digest::sha256(name.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("ANPA{tail}")
}

struct Catalogue {
    /// By name.
    sorted: Vec<AwsManagedPolicy>,
    by_arn: HashMap<String, usize>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // The file is part of the build and checked by this module's tests; a broken one is a build defect.
        let data: Data = serde_json::from_str(DATA).unwrap_or(Data {
            policies: HashMap::new(),
        });
        let time = |text: &str| super::saml::parse_datetime(text).unwrap_or_default();
        let mut sorted: Vec<AwsManagedPolicy> = data
            .policies
            .into_iter()
            .map(|(name, entry)| AwsManagedPolicy {
                id: derived_id(&name),
                path: entry.path,
                default_version: entry.version,
                create_date: time(&entry.created),
                update_date: time(&entry.updated),
                document: entry.document,
                name,
            })
            .collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let by_arn = sorted.iter().enumerate().map(|(n, p)| (p.arn(), n)).collect();
        Catalogue { sorted, by_arn }
    })
}

/// Every AWS managed policy, by name.
pub fn all() -> &'static [AwsManagedPolicy] {
    &catalogue().sorted
}

/// The AWS managed policy an ARN names, if it is one.
pub fn aws_managed(arn: &str) -> Option<&'static AwsManagedPolicy> {
    let catalogue = catalogue();
    catalogue.by_arn.get(arn).map(|n| &catalogue.sorted[*n])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document AWS publishes passes IAM's validation of a managed policy: the grammar accepts what AWS wrote.
    #[test]
    fn every_managed_policy_is_a_valid_identity_policy() {
        assert!(all().len() >= 1_400, "{}", all().len());
        for policy in all() {
            keyhaven_policy::validate_iam(&policy.document, keyhaven_policy::PolicyKind::Identity, true)
                .unwrap_or_else(|e| panic!("{}: {e}", policy.name));
            assert_eq!(aws_managed(&policy.arn()), Some(policy));
            assert!(policy.id.starts_with("ANPA") && policy.id.len() == 21);
        }
        assert_eq!(aws_managed("arn:aws:iam::aws:policy/NoSuchPolicy"), None);
        let lambda = aws_managed("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole").expect("path");
        assert_eq!(lambda.path, "/service-role/");
        let admin = aws_managed("arn:aws:iam::aws:policy/AdministratorAccess").expect("admin");
        assert_eq!(
            admin.document,
            r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}"#
        );
    }
}
