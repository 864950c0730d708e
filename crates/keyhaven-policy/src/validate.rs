//! IAM's validation of a policy document on the way in (CreatePolicy, CreatePolicyVersion,
//! Put*Policy, CreateRole, UpdateAssumeRolePolicy, session policies): AWS's phases in AWS's order,
//! each with the text IAM answers, then the document built by [`PolicyDocument::parse_as`].
//!
//! IAM checks a whole document one phase at a time, and the first phase that fails decides the
//! message: syntax → version (managed policies only) → "legacy parsing" (Effect case, `Date*`
//! values, resources with `::`) → Sid uniqueness → actions present → resources present → the
//! resource-format error found during legacy parsing → action prefixes. The rules follow moto's
//! validator (written against AWS in 2019, moto PR 2269) and the texts AWS gave in 2026 for moto's
//! table of documents (LocalStack's recorded snapshots; `tests/data/iam-validation-aws-2026.json`).
//! Reading stored documents back stays with the more lenient parser, so a document accepted once
//! keeps evaluating.

use serde_json::{Map, Value};

use crate::PolicyError;
use crate::condition;
use crate::document::{PolicyDocument, PolicyKind, STATEMENT_ELEMENTS};

const TOP_LEVEL: &[&str] = &["Version", "Id", "Statement", "Conditions"];
const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];
/// The IAM resource types a policy may name (the message lists all but `contextProvider/`, which
/// AWS's own managed policies use).
const IAM_RESOURCE_PREFIXES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
    "contextProvider/",
];
/// S3 resources that carry a Region (access points, Access Grants, Batch Operations jobs, Storage Lens).
const S3_REGIONAL_PREFIXES: &[&str] = &[
    "accesspoint/",
    "access-grants/",
    "job/",
    "storage-lens/",
    "storage-lens-group/",
    "async-request/",
];

/// Validates `text` as IAM does for a policy of `kind` (`managed`: CreatePolicy and
/// CreatePolicyVersion, which also require Version 2012-10-17), then builds it.
pub fn validate_iam(text: &str, kind: PolicyKind, managed: bool) -> Result<PolicyDocument, PolicyError> {
    let trust = kind == PolicyKind::Trust;
    let value: Value = serde_json::from_str(text).map_err(|_| {
        if trust {
            PolicyError::InvalidJson
        } else {
            PolicyError::Syntax
        }
    })?;
    let statements = syntax(&value, kind)?;
    let version = value.get("Version").and_then(Value::as_str);
    if managed && version != Some("2012-10-17") {
        return Err(PolicyError::VersionRequired);
    }
    legacy_effects_and_dates(&statements)?;
    let deferred = if trust { None } else { scan_resources(&statements)? };
    unique_sids(&statements)?;
    if statements
        .iter()
        .any(|s| !present(s, "Action") && !present(s, "NotAction"))
    {
        return Err(PolicyError::MissingAction);
    }
    if trust {
        // The trust-specific checks (principal, AssumeRole actions, no Resource) are the parser's.
        return PolicyDocument::parse_as(text, kind);
    }
    if statements
        .iter()
        .any(|s| !present(s, "Resource") && !present(s, "NotResource"))
    {
        return Err(PolicyError::MissingResource);
    }
    if let Some(error) = deferred {
        // Without Version 2012-10-17 IAM answers a malformed resource with the legacy parser's text.
        return Err(if version == Some("2012-10-17") {
            error
        } else {
            PolicyError::LegacyParsing
        });
    }
    for element in ["Action", "NotAction"] {
        for statement in &statements {
            for action in strings(statement.get(element)) {
                check_action_prefix(action)?;
            }
        }
    }
    PolicyDocument::parse_as(text, kind)
}

/// Phase 1: the document's shape. Answers the statements.
fn syntax(value: &Value, kind: PolicyKind) -> Result<Vec<&Map<String, Value>>, PolicyError> {
    let Value::Object(document) = value else {
        return Err(PolicyError::Syntax);
    };
    if document.keys().any(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(PolicyError::Syntax);
    }
    match document.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return Err(PolicyError::Syntax),
    }
    if document.get("Id").is_some_and(|id| !id.is_string()) {
        return Err(PolicyError::Syntax);
    }
    let statements: Vec<&Value> = match document.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return Err(PolicyError::Syntax),
    };
    let mut objects = Vec::with_capacity(statements.len());
    for statement in statements {
        let Value::Object(statement) = statement else {
            return Err(PolicyError::Syntax);
        };
        statement_syntax(statement)?;
        objects.push(statement);
    }
    if !matches!(kind, PolicyKind::Trust | PolicyKind::Resource)
        && objects
            .iter()
            .any(|s| s.contains_key("Principal") || s.contains_key("NotPrincipal"))
    {
        return Err(PolicyError::PrincipalNotAllowed);
    }
    Ok(objects)
}

fn statement_syntax(statement: &Map<String, Value>) -> Result<(), PolicyError> {
    if statement.keys().any(|k| !STATEMENT_ELEMENTS.contains(&k.as_str())) {
        return Err(PolicyError::Syntax);
    }
    let both = |a: &str, b: &str| statement.contains_key(a) && statement.contains_key(b);
    if both("Resource", "NotResource") || both("Action", "NotAction") || both("Principal", "NotPrincipal") {
        return Err(PolicyError::Syntax);
    }
    match statement.get("Effect") {
        Some(Value::String(e)) if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") => {}
        _ => return Err(PolicyError::Syntax),
    }
    for element in ["Action", "NotAction", "Resource", "NotResource"] {
        match statement.get(element) {
            None | Some(Value::String(_)) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(_) => return Err(PolicyError::Syntax),
        }
    }
    if let Some(block) = statement.get("Condition") {
        condition_syntax(block)?;
    }
    match statement.get("Sid") {
        None => Ok(()),
        Some(Value::String(sid)) if sid.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(()),
        Some(Value::String(_)) => Err(PolicyError::InvalidSid),
        Some(_) => Err(PolicyError::Syntax),
    }
}

/// A Condition block: operators whose values are objects of keys to values (strings, numbers,
/// booleans or lists of them). An operator IAM does not know is accepted only with no keys.
fn condition_syntax(block: &Value) -> Result<(), PolicyError> {
    let Value::Object(operators) = block else {
        return Err(PolicyError::Syntax);
    };
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            return Err(PolicyError::Syntax);
        };
        if !condition::is_operator(operator) && !keys.is_empty() {
            return Err(PolicyError::Syntax);
        }
        for value in keys.values() {
            let scalar = |v: &Value| v.is_string() || v.is_number() || v.is_boolean();
            let ok = match value {
                Value::Array(items) => items.iter().all(scalar),
                single => scalar(single),
            };
            if !ok {
                return Err(PolicyError::Syntax);
            }
        }
    }
    Ok(())
}

/// Phase 3a: an Effect not written `Allow`/`Deny` exactly, or a `Date*` value IAM cannot read.
fn legacy_effects_and_dates(statements: &[&Map<String, Value>]) -> Result<(), PolicyError> {
    for statement in statements {
        if !matches!(statement.get("Effect").and_then(Value::as_str), Some("Allow" | "Deny")) {
            return Err(PolicyError::LegacyParsing);
        }
    }
    for statement in statements {
        let Some(Value::Object(operators)) = statement.get("Condition") else {
            continue;
        };
        for (operator, keys) in operators {
            if !condition::base_operator(operator).starts_with("Date") {
                continue;
            }
            let Value::Object(keys) = keys else {
                continue;
            };
            for value in keys.values() {
                let values: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                for value in values {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !valid_date(&text) {
                        return Err(PolicyError::LegacyParsing);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Phase 3b: every `Resource`, then every `NotResource` (a list in descending order). Format
/// errors are kept for phase 7, the last found winning; until one is found, a resource with `::`
/// and fewer than five colons (or, written alone, an empty third field) fails legacy parsing now.
fn scan_resources(statements: &[&Map<String, Value>]) -> Result<Option<PolicyError>, PolicyError> {
    let mut deferred = None;
    for element in ["Resource", "NotResource"] {
        for statement in statements {
            let (mut items, single) = match statement.get(element) {
                Some(Value::String(one)) => (vec![one.as_str()], true),
                Some(Value::Array(list)) => (list.iter().filter_map(Value::as_str).collect(), false),
                _ => continue,
            };
            items.sort_unstable_by(|a, b| b.cmp(a));
            for resource in items {
                if resource == "*" {
                    continue;
                }
                if let Some(error) = format_error(resource) {
                    deferred = Some(error);
                }
                if deferred.is_none() {
                    let legacy = (resource.matches(':').count() < 5 && resource.contains("::"))
                        || (single && resource.split(':').nth(2) == Some(""));
                    if legacy {
                        return Err(PolicyError::LegacyParsing);
                    }
                }
            }
        }
    }
    Ok(deferred)
}

/// What IAM says of a resource that is not `*` and not a usable ARN, if anything.
fn format_error(resource: &str) -> Option<PolicyError> {
    if !resource.contains(':') {
        return Some(PolicyError::ResourceNotArn(resource.to_string()));
    }
    let fields: Vec<&str> = resource.split(':').collect();
    let partition = fields[1];
    if partition != "*" && !PARTITIONS.contains(&partition) {
        let field = |n: usize| match fields.get(n) {
            None => "*",
            Some(&"") if n == fields.len() - 1 => "*",
            Some(value) => value,
        };
        let rest = if fields.len() > 5 {
            fields[5..].join(":")
        } else {
            "*".to_string()
        };
        return Some(PolicyError::InvalidPartition {
            partition: partition.to_string(),
            resource: format!("arn:{partition}:{}:{}:{}:{rest}", field(2), field(3), field(4)),
        });
    }
    let Some(service) = fields.get(2) else {
        return Some(PolicyError::ResourceVendor);
    };
    let regional = fields.get(3).is_none_or(|region| !region.is_empty());
    let tail = fields.get(5..).map(|rest| rest.join(":")).unwrap_or_default();
    match *service {
        "iam" if regional => Some(PolicyError::IamRegion(resource.to_string())),
        "s3" if regional
            && fields.get(3) != Some(&"*")
            && !S3_REGIONAL_PREFIXES.iter().any(|p| tail.starts_with(p)) =>
        {
            Some(PolicyError::S3Region(resource.to_string()))
        }
        "iam" if tail != "*" && tail != "root" && !IAM_RESOURCE_PREFIXES.iter().any(|p| tail.starts_with(p)) => {
            Some(PolicyError::IamResourcePath)
        }
        _ => None,
    }
}

fn unique_sids(statements: &[&Map<String, Value>]) -> Result<(), PolicyError> {
    let mut sids: Vec<&str> = statements
        .iter()
        .filter_map(|s| s.get("Sid").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect();
    sids.sort_unstable();
    if sids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(PolicyError::DuplicateSid);
    }
    Ok(())
}

/// Whether a statement has the element with at least one item (an empty list counts as absent).
fn present(statement: &Map<String, Value>, element: &str) -> bool {
    match statement.get(element) {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
        None => false,
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Phase 8: `*` or `vendor:action`, the vendor of letters, digits, `.` and `-`.
fn check_action_prefix(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let Some((vendor, name)) = action.split_once(':') else {
        return Err(PolicyError::MissingVendor);
    };
    if name.contains(':') {
        return Err(PolicyError::ActionColons);
    }
    if vendor.is_empty() {
        return Err(PolicyError::MissingVendor);
    }
    if vendor != "*"
        && !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(PolicyError::InvalidVendor(vendor.to_string()));
    }
    Ok(())
}

/// A whole number in `range`.
fn number_in(text: &str, range: std::ops::RangeInclusive<i64>) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<i64>().is_ok_and(|n| range.contains(&n))
}

/// A `Date*` condition value as IAM reads it: an ISO 8601 date-time (anything with `t` or `-`) or
/// whole epoch seconds.
fn valid_date(value: &str) -> bool {
    if !value.contains(['t', 'T', '-']) {
        return number_in(value, 0..=i64::MAX);
    }
    let lower = value.to_ascii_lowercase();
    let (date, time) = lower.split_once('t').unwrap_or((&lower, ""));
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let fields: Vec<&str> = date.split('-').collect();
    let year_ok = fields
        .first()
        .is_some_and(|year| number_in(year, 0..=292_278_993) && (!negative || number_in(year, 0..=292_275_054)));
    let month_ok = fields.get(1).is_none_or(|m| number_in(m, 1..=12));
    let day_ok = fields.get(2).is_none_or(|d| number_in(d, 1..=31));
    if fields.len() > 3 || !year_ok || !month_ok || !day_ok {
        return false;
    }
    valid_time(time)
}

fn valid_time(time: &str) -> bool {
    if time.is_empty() {
        return true;
    }
    let mut fields = time.splitn(3, ':');
    let hours = fields.next().unwrap_or_default();
    if !hours.is_empty() && !number_in(hours, 0..=23) {
        return false;
    }
    if let Some(minutes) = fields.next()
        && !number_in(minutes, 0..=59)
    {
        return false;
    }
    let Some(seconds) = fields.next() else {
        return true;
    };
    let (seconds, zone) = if let Some((seconds, after)) = seconds.split_once('z') {
        if !after.is_empty() {
            return false;
        }
        (seconds, None)
    } else if let Some(at) = seconds.find(['+', '-']) {
        (&seconds[..at], Some(&seconds[at + 1..]))
    } else {
        (seconds, None)
    };
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    if !number_in(whole, 0..=59) || (seconds.contains('.') && !number_in(fraction, 0..=999_999_999)) {
        return false;
    }
    zone.is_none_or(|zone| {
        let (hours, minutes) = zone.split_once(':').unwrap_or((zone, ""));
        hours.len() == 2
            && number_in(hours, 0..=23)
            && (!zone.contains(':') || (minutes.len() == 2 && number_in(minutes, 0..=59)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_2026: &str = include_str!("../tests/data/iam-validation-aws-2026.json");

    /// Moto's table of invalid and valid documents, each with the answer AWS gave when LocalStack
    /// recorded them against AWS in 2026 (data file's `source`).
    #[test]
    fn aws_s_recorded_answers_to_moto_s_table() {
        let table: Value = serde_json::from_str(AWS_2026).expect("table");
        let mut checked = 0;
        for case in table["cases"].as_array().expect("cases") {
            let document = case["document"].as_str().expect("document");
            let got = validate_iam(document, PolicyKind::Identity, true)
                .err()
                .map(|e| e.to_string());
            let expected = case["error"].as_str().map(str::to_string);
            assert_eq!(got, expected, "{}: {document}", case["id"]);
            checked += 1;
        }
        assert!(checked >= 120, "{checked}");
    }

    #[test]
    fn trust_and_inline_policies_follow_their_own_rules() {
        let cases: &[(&str, PolicyKind, bool, Option<&str>)] = &[
            (
                "not json",
                PolicyKind::Trust,
                false,
                Some("This policy contains invalid Json"),
            ),
            (
                "not json",
                PolicyKind::Identity,
                false,
                Some("Syntax errors in policy."),
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
                PolicyKind::Identity,
                false,
                None,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
                PolicyKind::Identity,
                true,
                Some("Policy document must be version 2012-10-17 or greater."),
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:InvalidAction"}}"#,
                PolicyKind::Trust,
                false,
                Some("AssumeRole policy may only specify STS AssumeRole actions."),
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#,
                PolicyKind::Trust,
                false,
                Some("AssumeRolepolicy contained an invalid principal: \"STAR\":\"*\"."),
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:saml-provider/x"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession"]}}"#,
                PolicyKind::Trust,
                false,
                None,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:iam:us-east-1:1:user/x"}}"#,
                PolicyKind::Identity,
                false,
                Some("The policy failed legacy parsing"),
            ),
        ];
        for (document, kind, managed, expected) in cases {
            let got = validate_iam(document, *kind, *managed).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *expected, "{document}");
        }
    }

    #[test]
    fn date_values_are_read_as_iam_reads_them() {
        for good in [
            "01T",
            "2019-07-01T13:20:15Z",
            "2016-12-13T21:20:37.593194+00:00",
            "2016-12-13t2:00:00.593194+23",
            "-292275054",
            "2017-07-01T00:00:00Z",
            "2020-01-01T10:00:00-05:00",
            "1700000000",
        ] {
            assert!(valid_date(good), "{good}");
        }
        for bad in [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13t2:00:00.1999999999+10:59",
            "9223372036854775808",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
    }
}
