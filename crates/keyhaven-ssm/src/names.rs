//! Parameter names, paths, selectors and labels, validated as Parameter Store does.

use super::{SsmFault, fault};
use crate::error::SsmError;

const MAX_LEVELS: usize = 15;
/// Usable characters of a name, the parameter ARN prefix included (2048 less 1037 reserved).
const MAX_NAME_WITH_ARN: usize = 1011;
const MAX_LABEL_LEN: usize = 100;

pub const INVALID_NAME: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";
const SSM_PATH: &str = "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";
const RESERVED_PREFIX: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).";
pub const INVALID_PATH: &str = "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.";

fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn is_hierarchical(name: &str) -> bool {
    name.trim_start_matches('/').contains('/')
}

/// The parameter ARN of `name` in `region` and `account`.
pub fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:aws:ssm:{region}:{account}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// A name for PutParameter (never an ARN), surrounding spaces removed.
pub fn validate_new_name(raw: &str, region: &str, account: &str) -> Result<String, SsmError> {
    let name = raw.trim_matches(' ');
    let lower = name.to_ascii_lowercase();
    let bare = lower.trim_start_matches('/');
    if bare.starts_with("aws") || bare.starts_with("ssm") {
        if !is_hierarchical(name) {
            return Err(fault(SsmFault::Validation, RESERVED_PREFIX));
        }
        if lower.starts_with("/aws") {
            return Err(fault(
                SsmFault::AccessDenied,
                format!("No access to reserved parameter name: {name}."),
            ));
        }
        return Err(fault(SsmFault::Validation, SSM_PATH));
    }
    check_shape(name, INVALID_NAME)?;
    if name.trim_start_matches('/').split('/').count() > MAX_LEVELS {
        return Err(fault(
            SsmFault::HierarchyLevelLimitExceeded,
            "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.",
        ));
    }
    if parameter_arn(region, account, name).len() > MAX_NAME_WITH_ARN {
        return Err(fault(
            SsmFault::Validation,
            format!(
                "Parameter name must not be longer than {MAX_NAME_WITH_ARN} characters, including the ARN prefix arn:aws:ssm:{region}:{account}:parameter/."
            ),
        ));
    }
    Ok(name.to_string())
}

/// Characters, slashes and emptiness: a hierarchy starts with `/`, has no empty level and no
/// trailing `/`.
fn check_shape(name: &str, message: &str) -> Result<(), SsmError> {
    let bad = name.is_empty()
        || !name.chars().all(|c| allowed_char(c) || c == '/')
        || (is_hierarchical(name) && !name.starts_with('/'))
        || name.contains("//")
        || name.ends_with('/');
    if bad {
        return Err(fault(SsmFault::Validation, message));
    }
    Ok(())
}

/// Reads refuse, as AWS does, a name with a space inside (surrounding spaces are trimmed) and a
/// malformed hierarchy (`/a//b`, `a/b/c`), which no parameter can have.
pub fn reject_unreadable_name(raw: &str) -> Result<(), SsmError> {
    let text = raw.trim_matches(' ');
    let name = if text.starts_with("arn:") {
        ""
    } else {
        text.split(':').next().unwrap_or_default()
    };
    if text.contains(' ') || name.contains("//") || (is_hierarchical(name) && !name.starts_with('/')) {
        return Err(fault(SsmFault::Validation, INVALID_NAME));
    }
    Ok(())
}

/// What a read names: a parameter, optionally one version or label of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The name as the caller wrote it, without selector (an ARN becomes its name).
    pub name: String,
    pub selector: Option<Selector>,
    /// The selector as written, with its colon (`:3`, `:prod`), echoed in `Parameter.Selector`.
    pub selector_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(i64),
    Label(String),
}

/// Parses a name or parameter ARN with an optional `:version` or `:label`. `None` when it cannot
/// name any parameter (AWS answers ParameterNotFound or lists it as invalid).
pub fn parse_reference(raw: &str, region: &str, account: &str) -> Option<Reference> {
    let text = raw.trim_matches(' ');
    let text = match text.strip_prefix("arn:") {
        Some(rest) => {
            let mut parts = rest.splitn(5, ':');
            let (_partition, service, arn_region, arn_account, resource) = (
                parts.next()?,
                parts.next()?,
                parts.next()?,
                parts.next()?,
                parts.next()?,
            );
            if service != "ssm" || arn_region != region || arn_account != account {
                return None;
            }
            let name = resource.strip_prefix("parameter/")?;
            return parse_reference(&format!("/{name}"), region, account).map(|mut r| {
                if !is_hierarchical(&r.name) {
                    r.name = r.name.trim_start_matches('/').to_string();
                }
                r
            });
        }
        None => text,
    };
    let mut pieces = text.split(':');
    let name = pieces.next()?.to_string();
    let selector_text = pieces.next().map(str::to_string);
    if pieces.next().is_some() || check_shape(&name, "").is_err() {
        return None;
    }
    let selector = match &selector_text {
        None => None,
        Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => Some(Selector::Version(s.parse().ok()?)),
        Some(s) if !s.is_empty() => Some(Selector::Label(s.clone())),
        Some(_) => return None,
    };
    Some(Reference {
        name,
        selector,
        selector_text: selector_text.map(|s| format!(":{s}")),
    })
}

/// A name or ARN that must name the parameter itself, without a version or label selector.
pub fn parse_parameter(raw: &str, region: &str, account: &str) -> Option<Reference> {
    parse_reference(raw, region, account).filter(|r| r.selector.is_none())
}

/// A path for GetParametersByPath or a Path filter: `/` or a hierarchy prefix.
pub fn validate_path(raw: &str) -> Result<String, SsmError> {
    let path = raw.trim_matches(' ');
    if path == "/" {
        return Ok(path.to_string());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if !trimmed.starts_with('/') {
        return Err(fault(SsmFault::Validation, INVALID_PATH));
    }
    check_shape(trimmed, INVALID_PATH)?;
    if trimmed.split('/').count() - 1 > MAX_LEVELS {
        return Err(fault(
            SsmFault::HierarchyLevelLimitExceeded,
            "A hierarchy can have a maximum of 15 levels.",
        ));
    }
    Ok(trimmed.to_string())
}

/// The store-id prefix of everything below `path`.
pub fn subtree_prefix(path: &str) -> String {
    if path == "/" { "/".into() } else { format!("{path}/") }
}

/// Whether a label may be attached: AWS returns the others in `InvalidLabels` rather than failing.
pub fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label.chars().all(allowed_char)
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SsmError;

    fn fault_of(result: Result<String, SsmError>) -> Option<SsmFault> {
        match result {
            Err(SsmError::Fault(f, _)) => Some(f),
            _ => None,
        }
    }

    #[test]
    fn new_names_follow_aws_rules() {
        let sixteen = format!("/{}", vec!["l"; 16].join("/"));
        let fifteen = format!("/{}", vec!["l"; 15].join("/"));
        let cases: &[(&str, Option<SsmFault>)] = &[
            ("/my-app/dev/db-url", None),
            ("plain_name.v1", None),
            ("  /padded  ", None),
            ("/with space", Some(SsmFault::Validation)),
            ("/double//slash", Some(SsmFault::Validation)),
            ("/trailing/", Some(SsmFault::Validation)),
            ("no/leading", Some(SsmFault::Validation)),
            ("/bad#char", Some(SsmFault::Validation)),
            ("awsname", Some(SsmFault::Validation)),
            ("SSM_TEST", Some(SsmFault::Validation)),
            ("/ssm/x/y", Some(SsmFault::Validation)),
            ("/aws/x/y", Some(SsmFault::AccessDenied)),
            (&sixteen, Some(SsmFault::HierarchyLevelLimitExceeded)),
            (&fifteen, None),
        ];
        for (name, expected) in cases {
            assert_eq!(
                fault_of(validate_new_name(name, "us-east-1", "111122223333")),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn names_longer_than_the_arn_budget_are_refused() {
        let prefix_len = parameter_arn("us-east-1", "111122223333", "").len();
        let fits = "a".repeat(1011 - prefix_len);
        let too_long = "a".repeat(1012 - prefix_len);
        assert!(validate_new_name(&fits, "us-east-1", "111122223333").is_ok());
        assert!(validate_new_name(&too_long, "us-east-1", "111122223333").is_err());
    }

    #[test]
    fn references_carry_selectors_and_accept_arns() {
        let r = parse_reference("/a/b:3", "us-east-1", "1").expect("ref");
        assert_eq!((r.name.as_str(), r.selector), ("/a/b", Some(Selector::Version(3))));
        assert_eq!(r.selector_text.as_deref(), Some(":3"));
        let r = parse_reference("top:prod", "us-east-1", "1").expect("ref");
        assert_eq!(r.selector, Some(Selector::Label("prod".into())));
        let r = parse_reference("arn:aws:ssm:us-east-1:1:parameter/a/b", "us-east-1", "1").expect("arn");
        assert_eq!(r.name, "/a/b");
        let r = parse_reference("arn:aws:ssm:us-east-1:1:parameter/top", "us-east-1", "1").expect("arn");
        assert_eq!(r.name, "top");
        assert!(parse_reference("arn:aws:ssm:eu-west-1:1:parameter/a", "us-east-1", "1").is_none());
        assert!(parse_reference("a:1:2", "us-east-1", "1").is_none());
    }

    #[test]
    fn labels_follow_aws_rules() {
        for ok in ["prod", "Release_1.0-a", &"l".repeat(100)] {
            assert!(valid_label(ok), "{ok}");
        }
        for bad in ["1st", "awsLabel", "SSMx", "has space", "a/b", &"l".repeat(101)] {
            assert!(!valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn paths_are_validated_and_trailing_slashes_dropped() {
        assert_eq!(validate_path("/a/b/").expect("path"), "/a/b");
        assert_eq!(validate_path("/").expect("root"), "/");
        for bad in ["a", "//", "/###", "/a//b"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }
}
