//! The `Condition` element: operators, set qualifiers, `…IfExists`, and their evaluation.
//!
//! Semantics (IAM User Guide, "IAM JSON policy elements: Condition operators" and "Single-valued
//! vs. multivalued context keys"):
//! - several values for one key are ORed; for a negated operator (`StringNotEquals`,
//!   `NotIpAddress`, `ArnNotLike`, ...) they are NORed: the key must match none of them;
//! - a key absent from the request makes a condition false, except for negated operators, where
//!   it is true; `…IfExists` makes any operator true for an absent key; `Null` tests presence;
//! - `ForAllValues:` is true when every request value matches (and when the key is absent or
//!   empty); `ForAnyValue:` when at least one does (false when absent);
//! - key names are case-insensitive; `String*` and `Arn*` values may hold policy variables, other
//!   operators take their values literally ("Where you can use policy variables");
//! - `ArnEquals` and `ArnLike` are the same test: per-segment wildcard matching.
//!
//! Our choices where AWS documents nothing:
//! - a single-valued operator given a multivalued key behaves like `ForAnyValue:` for positive
//!   operators and like `ForAllValues:` for negated ones (AWS asks for a set qualifier there);
//! - a value that cannot be read as the operator's type (a number that is not numeric, a date
//!   that is not a date), or a policy value whose variable is unresolved, never matches and never
//!   makes a negated operator true: such a condition cannot make its statement apply.

use std::net::IpAddr;

use serde_json::Value;

use crate::PolicyError;
use crate::context::Context;
use crate::datetime::parse_instant;
use crate::net::Cidr;
use crate::pattern::{Pattern, Resolved, substitute};

/// One operator / key / values triple of a Condition block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator: Operator,
    /// The key as the policy spells it (for reporting missing keys).
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    test: Test,
    negated: bool,
    if_exists: bool,
    set: Option<SetQualifier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Date(Comparison),
    Bool,
    Binary,
    IpAddress,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// Operator names, the test they run, and whether they negate it.
const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    ("StringEqualsIgnoreCase", Test::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Test::StringEqualsIgnoreCase, true),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Comparison::Equal), false),
    ("NumericNotEquals", Test::Numeric(Comparison::Equal), true),
    ("NumericLessThan", Test::Numeric(Comparison::Less), false),
    ("NumericLessThanEquals", Test::Numeric(Comparison::LessOrEqual), false),
    ("NumericGreaterThan", Test::Numeric(Comparison::Greater), false),
    (
        "NumericGreaterThanEquals",
        Test::Numeric(Comparison::GreaterOrEqual),
        false,
    ),
    ("DateEquals", Test::Date(Comparison::Equal), false),
    ("DateNotEquals", Test::Date(Comparison::Equal), true),
    ("DateLessThan", Test::Date(Comparison::Less), false),
    ("DateLessThanEquals", Test::Date(Comparison::LessOrEqual), false),
    ("DateGreaterThan", Test::Date(Comparison::Greater), false),
    ("DateGreaterThanEquals", Test::Date(Comparison::GreaterOrEqual), false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::Binary, false),
    ("IpAddress", Test::IpAddress, false),
    ("NotIpAddress", Test::IpAddress, true),
    ("ArnEquals", Test::Arn, false),
    ("ArnLike", Test::Arn, false),
    ("ArnNotEquals", Test::Arn, true),
    ("ArnNotLike", Test::Arn, true),
    ("Null", Test::Null, false),
];

/// Parses a Condition block: `{operator: {key: value | [values]}}`.
pub(crate) fn parse_block(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(PolicyError::Syntax);
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let Value::Object(keys) = keys else {
            return Err(PolicyError::Syntax);
        };
        // IAM accepts an operator it does not know when it tests no keys (AWS 2026): nothing to evaluate.
        let Some(operator) = parse_operator(name) else {
            if keys.is_empty() {
                continue;
            }
            return Err(PolicyError::UnknownConditionOperator(name.clone()));
        };
        // Keys need no `vendor:` prefix (AWS 2026 accepts `a`); a key no request carries never matches.
        for (key, values) in keys {
            let values = match values {
                Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                single => scalar(single).map(|v| vec![v]),
            };
            let values = values.ok_or(PolicyError::Syntax)?;
            conditions.push(Condition {
                operator,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(conditions)
}

/// Condition values may be written as strings, numbers or booleans; all are compared as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `name` is a condition operator (with its qualifiers).
pub(crate) fn is_operator(name: &str) -> bool {
    parse_operator(name).is_some()
}

/// The operator `name` without a `ForAnyValue:`/`ForAllValues:` qualifier or `IfExists` suffix.
pub(crate) fn base_operator(name: &str) -> &str {
    let rest = match name.split_once(':') {
        Some((qualifier, rest))
            if qualifier.eq_ignore_ascii_case("ForAllValues") || qualifier.eq_ignore_ascii_case("ForAnyValue") =>
        {
            rest
        }
        _ => name,
    };
    let suffix = "IfExists";
    match rest.len().checked_sub(suffix.len()) {
        Some(cut) if rest.is_char_boundary(cut) && rest[cut..].eq_ignore_ascii_case(suffix) => &rest[..cut],
        _ => rest,
    }
}

/// Operator names are matched case-insensitively (our choice; AWS's own behaviour is undocumented).
fn parse_operator(name: &str) -> Option<Operator> {
    let (set, rest) = match name.split_once(':') {
        Some((qualifier, rest)) if qualifier.eq_ignore_ascii_case("ForAllValues") => {
            (Some(SetQualifier::ForAllValues), rest)
        }
        Some((qualifier, rest)) if qualifier.eq_ignore_ascii_case("ForAnyValue") => {
            (Some(SetQualifier::ForAnyValue), rest)
        }
        Some(_) => return None,
        None => (None, name),
    };
    let suffix = "IfExists";
    let (base, if_exists) = match rest.len().checked_sub(suffix.len()) {
        Some(cut) if rest.is_char_boundary(cut) && rest[cut..].eq_ignore_ascii_case(suffix) => (&rest[..cut], true),
        _ => (rest, false),
    };
    let &(_, test, negated) = OPERATORS
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(base))?;
    // "You can add IfExists to the end of any condition operator name except the Null condition";
    // set qualifiers make no sense for a presence test either.
    if test == Test::Null && (if_exists || set.is_some()) {
        return None;
    }
    Some(Operator {
        test,
        negated,
        if_exists,
        set,
    })
}

/// How one request value compares with the policy's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Match,
    NoMatch,
    /// The value or a policy value could not be read, or a variable was unresolved.
    Unknown,
}

/// A policy value read as the operator's type; `Invalid` if it cannot be.
enum Operand {
    Text(String),
    LowerText(String),
    Pattern(Pattern),
    Number(f64),
    Instant(i64),
    Flag(bool),
    Bytes(Vec<u8>),
    Block(Cidr),
    Invalid,
}

impl Condition {
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Whether this condition narrows the callers to known accounts, organisations, principals or
    /// networks (a non-negated test of such a key with no wildcard-only value).
    pub(crate) fn limits_callers(&self) -> bool {
        const LIMITING_KEYS: &[&str] = &[
            "aws:principalaccount",
            "aws:principalarn",
            "aws:principalorgid",
            "aws:principalorgpaths",
            "aws:sourceaccount",
            "aws:sourcearn",
            "aws:sourceowner",
            "aws:sourceorgid",
            "aws:sourceorgpaths",
            "aws:sourceip",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:userid",
            "kms:calleraccount",
        ];
        !self.operator.negated
            && self.operator.test != Test::Null
            && LIMITING_KEYS.contains(&self.key.to_ascii_lowercase().as_str())
            && !self.values.iter().any(|v| v == "*")
    }

    /// Whether the condition holds for `context`. Absent keys and unresolved variables are added to
    /// `missing`. `variables` is false for 2008-10-17 documents, where `${...}` is plain text.
    pub(crate) fn holds(&self, context: &Context, variables: bool, missing: &mut Vec<String>) -> bool {
        let Operator {
            test,
            negated,
            if_exists,
            set,
        } = self.operator;
        let Some(request_values) = context.values(&self.key) else {
            if test == Test::Null {
                return self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            }
            missing.push(self.key.clone());
            return if_exists
                || match set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => negated,
                };
        };
        if test == Test::Null {
            return self.values.iter().any(|v| v.eq_ignore_ascii_case("false"));
        }
        let operands: Vec<Operand> = self
            .values
            .iter()
            .map(|value| operand(test, value, context, variables, missing))
            .collect();
        let verdicts = request_values.iter().map(|value| judge(test, value, &operands));
        // A request value satisfies the operator if it matches (or, negated, cleanly fails to).
        let wanted = if negated { Verdict::NoMatch } else { Verdict::Match };
        let mut verdicts = verdicts.map(|verdict| verdict == wanted);
        match (set, negated) {
            (Some(SetQualifier::ForAllValues), _) | (None, true) => verdicts.all(|ok| ok),
            (Some(SetQualifier::ForAnyValue), _) | (None, false) => verdicts.any(|ok| ok),
        }
    }
}

fn operand(test: Test, value: &str, context: &Context, variables: bool, missing: &mut Vec<String>) -> Operand {
    let mut resolved = || {
        if !variables {
            return Some(Resolved::verbatim(value));
        }
        substitute(value, 0, context).map_err(|key| missing.push(key)).ok()
    };
    let read = |parsed: Option<Operand>| parsed.unwrap_or(Operand::Invalid);
    match test {
        Test::StringEquals => read(resolved().map(|r| Operand::Text(r.text()))),
        Test::StringEqualsIgnoreCase => read(resolved().map(|r| Operand::LowerText(r.text().to_lowercase()))),
        Test::StringLike => read(resolved().map(|r| Operand::Pattern(r.glob()))),
        Test::Arn => read(resolved().map(|r| Operand::Pattern(r.arn()))),
        Test::Numeric(_) => read(parse_number(value).map(Operand::Number)),
        Test::Date(_) => read(parse_instant(value).map(Operand::Instant)),
        Test::Bool => read(parse_bool(value).map(Operand::Flag)),
        Test::Binary => read(decode_base64(value).map(Operand::Bytes)),
        Test::IpAddress => read(Cidr::parse(value).map(Operand::Block)),
        Test::Null => Operand::Invalid,
    }
}

/// A request value read as the operator's type.
enum Reading<'v> {
    Text(&'v str),
    LowerText(String),
    Number(f64),
    Instant(i64),
    Flag(bool),
    Bytes(Vec<u8>),
    Address(IpAddr),
}

/// `None` when the request value is not of the operator's type: it then matches nothing.
fn read(test: Test, value: &str) -> Option<Reading<'_>> {
    match test {
        Test::StringEquals | Test::StringLike | Test::Arn => Some(Reading::Text(value)),
        Test::StringEqualsIgnoreCase => Some(Reading::LowerText(value.to_lowercase())),
        Test::Numeric(_) => parse_number(value).map(Reading::Number),
        Test::Date(_) => parse_instant(value).map(Reading::Instant),
        Test::Bool => parse_bool(value).map(Reading::Flag),
        Test::Binary => decode_base64(value).map(Reading::Bytes),
        Test::IpAddress => value.trim().parse().ok().map(Reading::Address),
        Test::Null => None,
    }
}

/// Compares one request value with every policy operand (ORed).
fn judge(test: Test, value: &str, operands: &[Operand]) -> Verdict {
    let Some(reading) = read(test, value) else {
        return Verdict::Unknown;
    };
    let mut unknown = false;
    for operand in operands {
        let matched = match (operand, &reading, test) {
            (Operand::Text(text), Reading::Text(value), _) => text == value,
            (Operand::LowerText(text), Reading::LowerText(value), _) => text == value,
            (Operand::Pattern(pattern), Reading::Text(value), _) => pattern.matches(value),
            (Operand::Number(limit), Reading::Number(n), Test::Numeric(comparison)) => {
                compare(n.partial_cmp(limit), comparison)
            }
            (Operand::Instant(limit), Reading::Instant(at), Test::Date(comparison)) => {
                compare(Some(at.cmp(limit)), comparison)
            }
            (Operand::Flag(expected), Reading::Flag(flag), _) => flag == expected,
            (Operand::Bytes(expected), Reading::Bytes(bytes), _) => bytes == expected,
            (Operand::Block(block), Reading::Address(address), _) => block.contains(*address),
            _ => {
                unknown = true;
                false
            }
        };
        if matched {
            return Verdict::Match;
        }
    }
    if unknown { Verdict::Unknown } else { Verdict::NoMatch }
}

fn compare(ordering: Option<std::cmp::Ordering>, comparison: Comparison) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    matches!(
        (ordering, comparison),
        (
            Some(Equal),
            Comparison::Equal | Comparison::LessOrEqual | Comparison::GreaterOrEqual
        ) | (Some(Less), Comparison::Less | Comparison::LessOrEqual)
            | (Some(Greater), Comparison::Greater | Comparison::GreaterOrEqual)
    )
}

/// Integers and decimals (`-12`, `3.5`); no exponents, no `NaN` or infinities.
fn parse_number(text: &str) -> Option<f64> {
    let digits = text.trim().strip_prefix('-').unwrap_or(text.trim());
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    (all_digits(whole) && all_digits(fraction))
        .then(|| text.trim().parse().ok())
        .flatten()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Standard base64 (RFC 4648 section 4), padding optional.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in body.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(name: &str) -> Option<Operator> {
        parse_operator(name)
    }

    #[test]
    fn operator_names() {
        let cases: &[(&str, bool)] = &[
            ("StringEquals", true),
            ("stringequals", true),
            ("StringNotEqualsIfExists", true),
            ("ForAllValues:StringLike", true),
            ("ForAnyValue:ArnNotLikeIfExists", true),
            ("DateGreaterThanEquals", true),
            ("BinaryEquals", true),
            ("Null", true),
            ("NullIfExists", false),
            ("ForAnyValue:Null", false),
            ("ForSomeValues:StringLike", false),
            ("StringEqualz", false),
            ("IfExists", false),
            ("aws:username", false),
        ];
        for (name, known) in cases {
            assert_eq!(operator(name).is_some(), *known, "{name}");
        }
    }

    #[test]
    fn typed_readings() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        for bad in ["", "1e3", "NaN", "inf", "1.", ".5", "0x10", "--1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(decode_base64("QmluYXJ5"), Some(b"Binary".to_vec()));
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("a!=="), None);
    }
}
