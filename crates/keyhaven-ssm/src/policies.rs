//! Parameter policies: Expiration, ExpirationNotification and NoChangeNotification, parsed and
//! validated as Parameter Store does, and the times at which each acts.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::model::StoredPolicy;
use super::{SsmFault, fault};
use crate::error::SsmError;

const MAX_POLICIES: usize = 10;
pub const EXPIRATION: &str = "Expiration";
pub const EXPIRATION_NOTIFICATION: &str = "ExpirationNotification";
pub const NO_CHANGE_NOTIFICATION: &str = "NoChangeNotification";
pub const PENDING: &str = "Pending";
pub const FINISHED: &str = "Finished";

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// Delete the parameter at this instant (unix seconds).
    Expiration { at: i64 },
    /// Notify this many seconds before the expiration.
    ExpirationNotification { before: i64 },
    /// Notify when the parameter has not changed for this many seconds.
    NoChangeNotification { after: i64 },
}

impl Policy {
    pub fn type_name(&self) -> &'static str {
        match self {
            Policy::Expiration { .. } => EXPIRATION,
            Policy::ExpirationNotification { .. } => EXPIRATION_NOTIFICATION,
            Policy::NoChangeNotification { .. } => NO_CHANGE_NOTIFICATION,
        }
    }
}

fn attribute_error(message: impl Into<String>) -> SsmError {
    fault(SsmFault::InvalidPolicyAttribute, message)
}

/// Parses the `Policies` member. An empty list (`[]` or `[{}]`) removes every policy.
pub fn parse(text: &str, now: i64) -> Result<Vec<(Policy, StoredPolicy)>, SsmError> {
    let value: Value = serde_json::from_str(text).map_err(|_| {
        fault(
            SsmFault::InvalidPolicyType,
            "Invalid policies input. The policies must be a JSON array of policy objects.",
        )
    })?;
    let Value::Array(items) = value else {
        return Err(fault(
            SsmFault::InvalidPolicyType,
            "Invalid policies input. The policies must be a JSON array of policy objects.",
        ));
    };
    let items: Vec<Value> = items
        .into_iter()
        .filter(|v| !v.as_object().is_some_and(|o| o.is_empty()))
        .collect();
    if items.len() > MAX_POLICIES {
        return Err(fault(
            SsmFault::PoliciesLimitExceeded,
            "You specified more than the maximum number of allowed policies for the parameter. The maximum is 10.",
        ));
    }
    let mut parsed = Vec::new();
    for item in items {
        let policy = parse_one(&item, now)?;
        if parsed
            .iter()
            .any(|(p, _): &(Policy, StoredPolicy)| p.type_name() == policy.type_name())
        {
            return Err(fault(
                SsmFault::IncompatiblePolicy,
                format!(
                    "There is a conflict in the policies specified for this parameter. You can't specify more than one {} policy for a parameter.",
                    policy.type_name()
                ),
            ));
        }
        let stored = StoredPolicy {
            text: serde_json::to_string(&item)?,
            policy_type: policy.type_name().to_string(),
            status: PENDING.to_string(),
        };
        parsed.push((policy, stored));
    }
    let has_expiration = parsed.iter().any(|(p, _)| matches!(p, Policy::Expiration { .. }));
    if !has_expiration
        && parsed
            .iter()
            .any(|(p, _)| matches!(p, Policy::ExpirationNotification { .. }))
    {
        return Err(fault(
            SsmFault::IncompatiblePolicy,
            "There is a conflict in the policies specified for this parameter. An ExpirationNotification policy needs an Expiration policy.",
        ));
    }
    Ok(parsed)
}

fn parse_one(item: &Value, now: i64) -> Result<Policy, SsmError> {
    let kind = item.get("Type").and_then(Value::as_str).unwrap_or_default();
    let attributes = item.get("Attributes").and_then(Value::as_object);
    let version = item.get("Version").and_then(Value::as_str).unwrap_or("1.0");
    if ![EXPIRATION, EXPIRATION_NOTIFICATION, NO_CHANGE_NOTIFICATION].contains(&kind) {
        return Err(fault(
            SsmFault::InvalidPolicyType,
            format!(
                "The policy type {kind} is not supported. Parameter Store supports the following policy types: Expiration, ExpirationNotification, and NoChangeNotification."
            ),
        ));
    }
    if version != "1.0" {
        return Err(attribute_error(format!(
            "The policy version {version} is not supported. Supported version: 1.0."
        )));
    }
    let attributes = attributes.ok_or_else(|| attribute_error(format!("The {kind} policy needs Attributes.")))?;
    let text = |name: &str| {
        attributes.get(name).and_then(Value::as_str).ok_or_else(|| {
            attribute_error(format!(
                "The {kind} policy attribute {name} is missing or not a string."
            ))
        })
    };
    match kind {
        EXPIRATION => {
            let raw = text("Timestamp")?;
            let at = OffsetDateTime::parse(raw, &Rfc3339)
                .map_err(|_| {
                    attribute_error(format!(
                        "The Expiration policy Timestamp {raw} is not an ISO 8601 instant, such as 2030-12-02T21:34:33.000Z."
                    ))
                })?
                .unix_timestamp();
            if at <= now {
                return Err(attribute_error(format!(
                    "The Expiration policy Timestamp {raw} is in the past. Specify a time in the future."
                )));
            }
            Ok(Policy::Expiration { at })
        }
        EXPIRATION_NOTIFICATION => Ok(Policy::ExpirationNotification {
            before: duration(kind, text("Before")?, text("Unit")?)?,
        }),
        _ => Ok(Policy::NoChangeNotification {
            after: duration(kind, text("After")?, text("Unit")?)?,
        }),
    }
}

fn duration(kind: &str, amount: &str, unit: &str) -> Result<i64, SsmError> {
    let n: i64 = amount.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        attribute_error(format!(
            "The {kind} policy amount {amount} must be a positive whole number."
        ))
    })?;
    let unit_seconds = match unit {
        "Days" => 86_400,
        "Hours" => 3_600,
        other => {
            return Err(attribute_error(format!(
                "The {kind} policy Unit {other} is not supported. Use Days or Hours."
            )));
        }
    };
    n.checked_mul(unit_seconds)
        .ok_or_else(|| attribute_error(format!("The {kind} policy amount {amount} is too large.")))
}

/// Re-reads stored policies (already validated when they were set).
pub fn decode(stored: &[StoredPolicy]) -> Vec<(Policy, usize)> {
    stored
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let item: Value = serde_json::from_str(&s.text).ok()?;
            parse_one(&item, i64::MIN).ok().map(|p| (p, i))
        })
        .collect()
}

/// When each pending policy acts, given the expiration and the last change (unix seconds).
pub fn due_times(stored: &[StoredPolicy], last_change: i64) -> Vec<(usize, i64)> {
    let policies = decode(stored);
    let expiration = policies.iter().find_map(|(p, _)| match p {
        Policy::Expiration { at } => Some(*at),
        _ => None,
    });
    policies
        .iter()
        .filter(|(_, i)| stored[*i].status == PENDING)
        .filter_map(|(p, i)| {
            let at = match p {
                Policy::Expiration { at } => *at,
                Policy::ExpirationNotification { before } => expiration? - before,
                Policy::NoChangeNotification { after } => last_change + after,
            };
            Some((*i, at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn fault_of(text: &str) -> Option<SsmFault> {
        match parse(text, NOW) {
            Ok(_) => None,
            Err(SsmError::Fault(f, _)) => Some(f),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn policies_are_validated_as_parameter_store_does() {
        let expiration =
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}"#;
        let notify = r#"{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"15","Unit":"Days"}}"#;
        let no_change = r#"{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"20","Unit":"Hours"}}"#;
        let cases: Vec<(String, Option<SsmFault>)> = vec![
            (format!("[{expiration},{notify},{no_change}]"), None),
            ("[{}]".into(), None),
            ("not json".into(), Some(SsmFault::InvalidPolicyType)),
            (r#"{"Type":"Expiration"}"#.into(), Some(SsmFault::InvalidPolicyType)),
            (
                r#"[{"Type":"Deletion","Version":"1.0","Attributes":{}}]"#.into(),
                Some(SsmFault::InvalidPolicyType),
            ),
            (
                r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2001-01-01T00:00:00Z"}}]"#.into(),
                Some(SsmFault::InvalidPolicyAttribute),
            ),
            (
                r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"tomorrow"}}]"#.into(),
                Some(SsmFault::InvalidPolicyAttribute),
            ),
            (
                r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"20","Unit":"Weeks"}}]"#
                    .into(),
                Some(SsmFault::InvalidPolicyAttribute),
            ),
            (
                r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":20,"Unit":"Days"}}]"#.into(),
                Some(SsmFault::InvalidPolicyAttribute),
            ),
            (format!("[{notify}]"), Some(SsmFault::IncompatiblePolicy)),
            (
                format!("[{expiration},{expiration}]"),
                Some(SsmFault::IncompatiblePolicy),
            ),
            (
                format!("[{}]", [no_change; 11].join(",")),
                Some(SsmFault::PoliciesLimitExceeded),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(fault_of(&text), expected, "{text}");
        }
    }

    #[test]
    fn due_times_follow_expiration_and_last_change() {
        let text = r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00Z"}},
            {"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"1","Unit":"Days"}},
            {"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"2","Unit":"Hours"}}]"#;
        let stored: Vec<StoredPolicy> = parse(text, NOW).expect("valid").into_iter().map(|(_, s)| s).collect();
        let expiration = 1_893_456_000;
        assert_eq!(
            due_times(&stored, NOW),
            vec![(0, expiration), (1, expiration - 86_400), (2, NOW + 7_200)]
        );
    }
}
