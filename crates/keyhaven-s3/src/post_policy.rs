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

/// A condition of the policy: its operator and operands as written (for S3's refusal message), and the lowercased
/// field it is on (none for a name without `$`, which no field matches).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    operator: &'static str,
    written: (String, String),
    field: Option<String>,
}

const EQ: &str = "eq";
const STARTS_WITH: &str = "starts-with";
const LENGTH_RANGE: &str = "content-length-range";

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

/// A JSON operand as the refusal message writes it.
fn written(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

fn condition(value: &Value) -> Result<Condition, S3Error> {
    match value {
        Value::Object(map) => {
            let [(name, value)] = map.iter().collect::<Vec<_>>()[..] else {
                return Err(invalid(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                ));
            };
            let value = value
                .as_str()
                .ok_or_else(|| invalid("Invalid Simple-Condition value."))?;
            Ok(Condition {
                operator: EQ,
                written: (format!("${name}"), value.to_string()),
                field: Some(name.to_ascii_lowercase()),
            })
        }
        Value::Array(items) => {
            let [Value::String(operator), first, second] = items.as_slice() else {
                return Err(invalid("Invalid Condition"));
            };
            let operator = [EQ, STARTS_WITH, LENGTH_RANGE]
                .into_iter()
                .find(|known| operator.eq_ignore_ascii_case(known))
                .ok_or_else(|| invalid(&format!("Invalid Condition: unknown operation {operator}")))?;
            let field = match operator {
                LENGTH_RANGE => None,
                _ => first
                    .as_str()
                    .and_then(|name| name.strip_prefix('$'))
                    .map(str::to_ascii_lowercase),
            };
            Ok(Condition {
                operator,
                written: (written(first), written(second)),
                field,
            })
        }
        _ => Err(invalid("Invalid Condition")),
    }
}

impl Condition {
    /// The bounds of a `content-length-range`, when both are numbers.
    fn length_range(&self) -> Option<(u64, u64)> {
        let bound = |text: &str| text.parse::<u64>().ok();
        (self.operator == LENGTH_RANGE)
            .then(|| Some((bound(&self.written.0)?, bound(&self.written.1)?)))
            .flatten()
    }

    fn refusal(&self) -> S3Error {
        let (first, second) = &self.written;
        refused(format!(
            "Policy Condition failed: [\"{}\", \"{first}\", \"{second}\"]",
            self.operator
        ))
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
            let expected = condition.written.1.as_str();
            let holds = match (condition.operator, &condition.field) {
                (LENGTH_RANGE, _) => condition.length_range().is_some(),
                (_, None) => false,
                (EQ, Some(field)) => value(field) == expected,
                (_, Some(field)) => value(field).starts_with(expected),
            };
            if !holds {
                return Err(condition.refusal());
            }
        }
        let covered = |name: &str| self.conditions.iter().any(|c| c.field.as_deref() == Some(name));
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
        self.conditions.iter().find_map(Condition::length_range)
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
        // A name without `$` matches no field; a range of something other than numbers holds for nothing.
        for (condition, message) in [
            (r#"["eq", "key", "a"]"#, r#"["eq", "key", "a"]"#),
            (
                r#"["content-length-range", "test", "10"]"#,
                r#"["content-length-range", "test", "10"]"#,
            ),
        ] {
            let p = policy(&format!(
                r#"{{"expiration": "2030-01-01T00:00:00Z", "conditions": [{condition}]}}"#
            ));
            assert_eq!(
                p.check(&fields(&[("key", "a")]), 0),
                Err(S3Error::AccessDenied(format!(
                    "Invalid according to Policy: Policy Condition failed: {message}"
                )))
            );
        }
        let cases = [
            (
                vec![("key", "other/a.txt")],
                "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"uploads/\"]",
            ),
            (
                vec![("content-type", "text/html")],
                "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$Content-Type\", \"text/plain\"]",
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
                "Invalid Policy: Invalid Condition: unknown operation matches",
            ),
            (
                &*STANDARD.encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}"#),
                "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
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
