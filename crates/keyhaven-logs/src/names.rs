//! Log group and stream names and ARNs, as CloudWatch Logs forms and reads them.

use crate::error::{LogsError, LogsFault, fault, invalid};

pub fn group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}")
}

pub fn stream_arn(group_arn: &str, stream: &str) -> String {
    format!("{group_arn}:log-stream:{stream}")
}

/// Names under `aws/` are the services' own.
pub fn check_new_group_name(name: &str) -> Result<(), LogsError> {
    if name.starts_with("aws/") {
        return Err(invalid("Log groups starting with AWS/ are reserved for AWS."));
    }
    Ok(())
}

/// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN of this account and
/// Region); exactly one of them.
pub fn requested_group(
    name: Option<String>,
    identifier: Option<String>,
    region: &str,
    account: &str,
) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(fault(
            LogsFault::Validation,
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(name), None) => Ok(name),
        (None, Some(identifier)) => group_of_identifier(&identifier, region, account),
        (None, None) => Err(invalid("Either LogGroup name or LogGroup ARN must be specified.")),
    }
}

/// A log group's name from its name or ARN (with or without the trailing `:*`).
pub fn group_of_identifier(identifier: &str, region: &str, account: &str) -> Result<String, LogsError> {
    let Some(rest) = identifier.strip_prefix("arn:") else {
        return Ok(identifier.to_string());
    };
    let prefix = format!("aws:logs:{region}:{account}:log-group:");
    match rest.strip_prefix(&prefix) {
        Some(name) if !name.is_empty() => Ok(name.strip_suffix(":*").unwrap_or(name).to_string()),
        _ => Err(fault(
            LogsFault::InvalidParameter,
            format!("The specified log group ARN {identifier} is not valid."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_named_by_name_or_arn() {
        let (region, account) = ("us-east-1", "111122223333");
        let arn = group_arn(region, account, "/app/web");
        assert_eq!(group_of_identifier(&arn, region, account).expect("arn"), "/app/web");
        assert_eq!(
            group_of_identifier(&format!("{arn}:*"), region, account).expect("arn"),
            "/app/web"
        );
        assert_eq!(
            group_of_identifier("/app/web", region, account).expect("name"),
            "/app/web"
        );
        assert!(group_of_identifier("arn:aws:logs:eu-west-1:111122223333:log-group:x", region, account).is_err());
        assert!(requested_group(Some("a".into()), Some("b".into()), region, account).is_err());
        assert!(requested_group(None, None, region, account).is_err());
        assert_eq!(stream_arn(&arn, "s"), format!("{arn}:log-stream:s"));
    }
}
