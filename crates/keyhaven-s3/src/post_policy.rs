//! Browser-based uploads (POST Object): the upload policy a signed form carries, checked as S3 checks it. The policy
//! is base64 JSON with an `expiration` and `conditions`: exact matches (`{"acl": "private"}` or `["eq", "$key",
//! "a"]`), prefixes (`["starts-with", "$key", "uploads/"]`) and `["content-length-range", min, max]`; every form
//! field but the signature's own, the file and `x-ignore-*` must be covered by one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::S3Error;

/// Fields a policy need not cover.
const UNCHECKED_FIELDS: &[&str] = &["policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"];

/// A condition of the policy, on a lowercased field name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Equals(String, String),
    StartsWith(String, String),
    LengthRange(u64, u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// Unix seconds.
    expiration: i64,
    conditions: Vec<Condition>,
}

fn invalid(message: &str) -> S3Error {
    S3Error::InvalidPolicyDocument(format!("Invalid Policy: {message}"))
}

fn refused(message: String) -> S3Error {
    S3Error::AccessDenied(format!("Invalid according to Policy: {message}"))
}

/// `$key` → `key`.
fn field_name(value: &Value) -> Result<String, S3Error> {
    value
        .as_str()
        .and_then(|name| name.strip_prefix('$'))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid("Invalid Condition"))
}

fn condition(value: &Value) -> Result<Condition, S3Error> {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (name, value) = map.iter().next().ok_or_else(|| invalid("Invalid Condition"))?;
            let value = value.as_str().ok_or_else(|| invalid("Invalid Condition"))?;
            Ok(Condition::Equals(name.to_ascii_lowercase(), value.to_string()))
        }
        Value::Array(items) => match items.as_slice() {
            [Value::String(operator), name, Value::String(value)] if operator.eq_ignore_ascii_case("eq") => {
                Ok(Condition::Equals(field_name(name)?, value.clone()))
            }
            [Value::String(operator), name, Value::String(value)] if operator.eq_ignore_ascii_case("starts-with") => {
                Ok(Condition::StartsWith(field_name(name)?, value.clone()))
            }
            [Value::String(operator), min, max] if operator.eq_ignore_ascii_case("content-length-range") => {
                let bound = |v: &Value| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| invalid("Invalid content-length-range"))
                };
                Ok(Condition::LengthRange(bound(min)?, bound(max)?))
            }
            _ => Err(invalid("Invalid Condition")),
        },
        _ => Err(invalid("Invalid Condition")),
    }
}

impl PostPolicy {
    /// The policy of a form, as its `policy` field carries it (base64 JSON).
    pub fn parse(encoded: &str) -> Result<Self, S3Error> {
        let json = STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid("Invalid Simple-Base64 encoding"))?;
        let document: Value = serde_json::from_slice(&json).map_err(|_| invalid("Invalid JSON."))?;
        let expiration = document
            .get("expiration")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Policy missing expiration."))?;
        let expiration = time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("Invalid 'expiration' value."))?
            .unix_timestamp();
        let conditions = document
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Policy missing conditions."))?
            .iter()
            .map(condition)
            .collect::<Result<_, _>>()?;
        Ok(Self { expiration, conditions })
    }

    /// Checks the policy at `now` (Unix seconds) against the form's fields (lowercased names, in order, the file's
    /// excluded).
    pub fn check(&self, fields: &[(String, String)], now: i64) -> Result<(), S3Error> {
        if self.expiration < now {
            return Err(refused("Policy expired.".into()));
        }
        let value = |name: &str| fields.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
        for condition in &self.conditions {
            let holds = match condition {
                Condition::Equals(name, expected) => value(name) == expected,
                Condition::StartsWith(name, prefix) => value(name).starts_with(prefix.as_str()),
                Condition::LengthRange(..) => true,
            };
            if !holds {
                let (operator, name, expected) = match condition {
                    Condition::Equals(name, expected) => ("eq", name, expected),
                    Condition::StartsWith(name, prefix) => ("starts-with", name, prefix),
                    Condition::LengthRange(..) => continue,
                };
                return Err(refused(format!(
                    "Policy Condition failed: [\"{operator}\", \"${name}\", \"{expected}\"]"
                )));
            }
        }
        let covered = |name: &str| {
            self.conditions.iter().any(|c| match c {
                Condition::Equals(n, _) | Condition::StartsWith(n, _) => n == name,
                Condition::LengthRange(..) => false,
            })
        };
        let extra: Vec<&str> = fields
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !UNCHECKED_FIELDS.contains(name) && !name.starts_with("x-ignore-") && !covered(name))
            .collect();
        if !extra.is_empty() {
            return Err(refused(format!("Extra input fields: {}", extra.join(", "))));
        }
        Ok(())
    }

    /// The sizes the file may have, when the policy bounds them.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::LengthRange(min, max) => Some((*min, *max)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> PostPolicy {
        PostPolicy::parse(&STANDARD.encode(json)).expect("policy")
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn forms_are_checked_against_every_condition_and_for_extra_fields() {
        let p = policy(
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "b"},
                ["starts-with", "$key", "uploads/"], ["eq", "$Content-Type", "text/plain"],
                ["content-length-range", 1, 1024], {"x-amz-algorithm": "AWS4-HMAC-SHA256"}]}"#,
        );
        assert_eq!(p.length_range(), Some((1, 1024)));
        let good = [
            ("bucket", "b"),
            ("key", "uploads/a.txt"),
            ("content-type", "text/plain"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-signature", "sig"),
            ("policy", "p"),
            ("x-ignore-tracking", "1"),
        ];
        assert_eq!(p.check(&fields(&good), 0), Ok(()));
        let cases = [
            (
                vec![("key", "other/a.txt")],
                "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"uploads/\"]",
            ),
            (
                vec![("content-type", "text/html")],
                "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$content-type\", \"text/plain\"]",
            ),
            (
                vec![("acl", "private")],
                "Invalid according to Policy: Extra input fields: acl",
            ),
        ];
        for (change, message) in cases {
            let mut form = fields(&good);
            for (name, value) in change {
                form.retain(|(n, _)| n != name);
                form.push((name.to_string(), value.to_string()));
            }
            assert_eq!(
                p.check(&form, 0),
                Err(S3Error::AccessDenied(message.into())),
                "{message}"
            );
        }
        assert_eq!(
            p.check(&fields(&good), 1_900_000_000),
            Err(S3Error::AccessDenied(
                "Invalid according to Policy: Policy expired.".into()
            ))
        );
    }

    #[test]
    fn malformed_policies_are_refused() {
        let cases = [
            ("not base64!", "Invalid Policy: Invalid Simple-Base64 encoding"),
            (&*STANDARD.encode("{"), "Invalid Policy: Invalid JSON."),
            (
                &*STANDARD.encode(r#"{"conditions": []}"#),
                "Invalid Policy: Policy missing expiration.",
            ),
            (
                &*STANDARD
                    .encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["matches", "$key", "x"]]}"#),
                "Invalid Policy: Invalid Condition",
            ),
        ];
        for (encoded, message) in cases {
            assert_eq!(
                PostPolicy::parse(encoded),
                Err(S3Error::InvalidPolicyDocument(message.into())),
                "{message}"
            );
        }
    }
}
