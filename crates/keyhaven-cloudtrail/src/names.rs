//! Trail names and ARNs: CloudTrail's naming rules with its messages, and how a `Name` member (a name or an ARN)
//! names a trail.

use crate::error::{CloudTrailError, CloudTrailFault, fault};

/// `arn:aws:cloudtrail:<region>:<account>:trail/<name>`.
pub fn trail_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:cloudtrail:{region}:{account}:trail/{name}")
}

fn invalid(message: impl Into<String>) -> CloudTrailError {
    fault(CloudTrailFault::InvalidTrailName, message)
}

fn is_special(c: char) -> bool {
    matches!(c, '.' | '-' | '_')
}

/// CloudTrail's trail naming rules, in the order it checks them.
pub fn check_name(name: &str) -> Result<(), CloudTrailError> {
    let length = name.chars().count();
    if length == 0 {
        return Err(invalid("Trail name cannot be blank!"));
    }
    if length < 3 {
        return Err(invalid(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {length} characters."
        )));
    }
    if length > 128 {
        return Err(invalid(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {length} characters."
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("Trail name must starts with a letter or number."));
    }
    if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("Trail name must ends with a letter or number."));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || is_special(c)) {
        return Err(invalid(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
        ));
    }
    let chars: Vec<char> = name.chars().collect();
    if chars.windows(2).any(|w| is_special(w[0]) && is_special(w[1])) {
        return Err(invalid(
            "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).",
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid("Trail names must not be formatted as an IP address."));
    }
    Ok(())
}

/// A trail as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRef {
    /// The Region of an ARN; none for a bare name (the request's Region, or a multi-Region trail's home).
    pub region: Option<String>,
    pub account: Option<String>,
    pub name: String,
}

/// Reads a `Name`/`TrailName` member: a trail ARN or a name, checked by the naming rules.
pub fn trail_ref(value: &str) -> Result<TrailRef, CloudTrailError> {
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let valid = parts.len() == 5
            && parts[1] == "cloudtrail"
            && !parts[2].is_empty()
            && parts[3].len() == 12
            && parts[3].bytes().all(|b| b.is_ascii_digit());
        let name = parts.get(4).and_then(|r| r.strip_prefix("trail/"));
        return match (valid, name) {
            (true, Some(name)) => {
                check_name(name)?;
                Ok(TrailRef {
                    region: Some(parts[2].to_string()),
                    account: Some(parts[3].to_string()),
                    name: name.to_string(),
                })
            }
            _ => Err(fault(
                CloudTrailFault::CloudTrailArnInvalid,
                format!("{value} is not a valid trail ARN."),
            )),
        };
    }
    check_name(value)?;
    Ok(TrailRef {
        region: None,
        account: None,
        name: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cloudtrails_rules_in_its_order() {
        let cases: &[(&str, Option<&str>)] = &[
            ("my-trail_1.log", None),
            ("", Some("Trail name cannot be blank!")),
            (
                "ab",
                Some(
                    "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.",
                ),
            ),
            ("-abc", Some("Trail name must starts with a letter or number.")),
            ("abc-", Some("Trail name must ends with a letter or number.")),
            (
                "ab cd",
                Some(
                    "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
                ),
            ),
            (
                "ab..cd",
                Some("Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_)."),
            ),
            (
                "ab-_cd",
                Some("Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_)."),
            ),
            ("10.0.0.1", Some("Trail names must not be formatted as an IP address.")),
        ];
        for (name, expected) in cases {
            let got = check_name(name).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *expected, "{name:?}");
        }
        let long = "a".repeat(129);
        assert!(
            check_name(&long)
                .expect_err("refused")
                .to_string()
                .contains("Specified name length: 129")
        );
    }

    #[test]
    fn a_member_names_a_trail_by_name_or_arn() {
        assert_eq!(
            trail_ref("arn:aws:cloudtrail:eu-west-1:111122223333:trail/trail1").expect("valid"),
            TrailRef {
                region: Some("eu-west-1".into()),
                account: Some("111122223333".into()),
                name: "trail1".into()
            }
        );
        assert_eq!(trail_ref("t1x").expect("valid").region, None);
        assert!(matches!(
            trail_ref("arn:aws:s3:::bucket"),
            Err(CloudTrailError::Fault(CloudTrailFault::CloudTrailArnInvalid, _))
        ));
    }
}
