//! Secret names, ARNs and the ways a `SecretId` can name a secret (name, full ARN, partial ARN).

use super::{SecretsFault, fault};
use crate::error::SecretsError;

const MAX_NAME: usize = 512;
const SUFFIX_LEN: usize = 6;
const SUFFIX_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub fn validate_name(name: &str) -> Result<(), SecretsError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(fault(
            SecretsFault::Validation,
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ))
    }
}

/// A fresh random ARN suffix (AWS's six letters and digits).
pub fn random_suffix() -> Result<String, SecretsError> {
    let bytes = keyhaven_crypto::random_array::<SUFFIX_LEN>()?;
    Ok(bytes
        .iter()
        .map(|b| char::from(SUFFIX_CHARS[usize::from(*b) % SUFFIX_CHARS.len()]))
        .collect())
}

pub fn secret_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

/// The same secret's ARN in another Region (a replica's).
pub fn arn_in_region(arn: &str, region: &str) -> String {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    match parts.as_slice() {
        [arn_, partition, service, _, rest] => format!("{arn_}:{partition}:{service}:{region}:{rest}"),
        _ => arn.to_string(),
    }
}

/// Where to look for a secret a `SecretId` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub account: String,
    pub region: String,
    /// Names to try in order, each with the ARN suffix it must have (if any).
    pub candidates: Vec<(String, Option<String>)>,
}

/// Parses a `SecretId`: a name (in the caller's account and Region) or an ARN, full or partial.
pub fn parse_secret_id(secret_id: &str, account: &str, region: &str) -> Lookup {
    if let Some(rest) = secret_id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(6, ':').collect();
        if let [_, "secretsmanager", arn_region, arn_account, "secret", resource] = parts.as_slice() {
            // `name-XXXXXX` is a full ARN and nothing else: AWS does not read it as a partial ARN of a
            // name that ends in a dash and six characters.
            let full = resource.len() > SUFFIX_LEN + 1
                && resource.is_char_boundary(resource.len() - SUFFIX_LEN - 1)
                && resource.as_bytes()[resource.len() - SUFFIX_LEN - 1] == b'-';
            let candidates = if full {
                let (name, suffix) = resource.split_at(resource.len() - SUFFIX_LEN - 1);
                vec![(name.to_string(), Some(suffix[1..].to_string()))]
            } else {
                vec![(resource.to_string(), None)]
            };
            return Lookup {
                account: arn_account.to_string(),
                region: arn_region.to_string(),
                candidates,
            };
        }
    }
    Lookup {
        account: account.to_string(),
        region: region.to_string(),
        candidates: vec![(secret_id.to_string(), None)],
    }
}

/// The account of an ARN.
pub fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// The Region of an ARN.
pub fn region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

/// The suffix of a secret's ARN.
pub fn suffix_of(arn: &str) -> &str {
    &arn[arn.len().saturating_sub(SUFFIX_LEN)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_resolve_to_candidates_in_the_right_account() {
        type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, Option<&'a str>)]);
        let cases: &[Case] = &[
            ("db/password", "111122223333", "us-east-1", &[("db/password", None)]),
            (
                "arn:aws:secretsmanager:eu-west-1:444455556666:secret:db/password-Ab12Cd",
                "444455556666",
                "eu-west-1",
                &[("db/password", Some("Ab12Cd"))],
            ),
            (
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:db/password",
                "111122223333",
                "us-east-1",
                &[("db/password", None)],
            ),
            (
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:short",
                "111122223333",
                "us-east-1",
                &[("short", None)],
            ),
        ];
        for (id, account, region, expected) in cases {
            let lookup = parse_secret_id(id, "111122223333", "us-east-1");
            assert_eq!(lookup.account, *account, "{id}");
            assert_eq!(lookup.region, *region, "{id}");
            let expected: Vec<(String, Option<String>)> = expected
                .iter()
                .map(|(n, s)| (n.to_string(), s.map(str::to_string)))
                .collect();
            assert_eq!(lookup.candidates, expected, "{id}");
        }
    }

    #[test]
    fn names_allow_only_aws_characters() {
        for good in ["a", "db/prod/password", "x_+=.@-", &"n".repeat(512)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "star*", "q?", &"n".repeat(513), "ünï"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suffixes_are_six_letters_or_digits_and_arns_move_regions() {
        let suffix = random_suffix().expect("test value");
        assert_eq!(suffix.len(), 6);
        assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
        let arn = secret_arn("us-east-1", "111122223333", "a/b", &suffix);
        assert_eq!(suffix_of(&arn), suffix);
        assert_eq!(
            arn_in_region(&arn, "eu-west-1"),
            format!("arn:aws:secretsmanager:eu-west-1:111122223333:secret:a/b-{suffix}")
        );
    }
}
