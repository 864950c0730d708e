//! Runtime support for the generated wire shapes in [`crate::generated`]: the blob, sensitive
//! string and timestamp wire types, request decoding, and validation that reports AWS's exact
//! `ValidationException` text.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use keyhaven_crypto::SecretBytes;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Standard base64 with padding on output; input may omit padding, to be lenient with clients.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A `blob` member: bytes, standard base64 in JSON. Held as [`SecretBytes`] because KMS
/// plaintexts are blobs, so it is zeroized on drop and `Debug` shows only the length.
#[derive(Clone, Default)]
pub struct Blob(SecretBytes);

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretBytes::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.expose()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_secret(self) -> SecretBytes {
        self.0
    }

    /// Decodes the wire's base64 text (JSON string or form value); `None` if it is not base64.
    pub fn from_base64(text: &str) -> Option<Self> {
        // Decoding into a zeroizing buffer sized up front means no partial plaintext is left behind
        // by a reallocation or an error halfway through.
        let mut bytes = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(text.len())));
        BASE64.decode_vec(text, &mut bytes).ok()?;
        Some(Blob::new(std::mem::take(&mut *bytes)))
    }

    /// The bytes as the wire's padded standard base64, zeroized on drop like the bytes themselves.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.as_bytes()))
    }
}

impl From<SecretBytes> for Blob {
    fn from(bytes: SecretBytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(BlobVisitor)
    }
}

struct BlobVisitor;

impl Visitor<'_> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Blob, E> {
        Blob::from_base64(text).ok_or_else(|| E::custom("invalid base64"))
    }
}

/// A `string` member whose shape is `sensitive` (passwords, secret values): zeroized on drop and
/// never shown by `Debug`.
#[derive(Clone, Default)]
pub struct SensitiveString(Zeroizing<String>);

impl SensitiveString {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SensitiveString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SensitiveString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SensitiveString(***)")
    }
}

impl Serialize for SensitiveString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SensitiveString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// A `timestamp` member: seconds since the Unix epoch, a JSON number on the awsJson wire and
/// ISO 8601 text on the awsQuery wire.
#[derive(Debug, Default, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub f64);

impl Timestamp {
    /// Parses the ISO 8601 (RFC 3339) text botocore's QuerySerializer sends, such as
    /// `2024-05-01T12:00:00Z` or `2024-05-01T12:00:00.250000Z`.
    pub fn parse_iso8601(text: &str) -> Option<Self> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        // Whole seconds and the fraction apart, so `.25` stays exactly `.25`.
        Some(Self(at.unix_timestamp() as f64 + f64::from(at.nanosecond()) / 1e9))
    }

    /// ISO 8601 in UTC as AWS's query services write it: `2024-05-01T12:00:00Z`, with milliseconds
    /// only when the instant has a fraction of a second (`2024-05-01T12:00:00.250Z`).
    pub fn to_iso8601(self) -> String {
        let millis = (self.0 * 1000.0).round();
        // Out-of-range or non-finite values cannot come from a real clock; the epoch stands in
        // rather than failing a response.
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let (date, clock) = (at.date(), at.time());
        let whole = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            clock.hour(),
            clock.minute(),
            clock.second()
        );
        match clock.millisecond() {
            0 => format!("{whole}Z"),
            ms => format!("{whole}.{ms:03}Z"),
        }
    }
}

/// Why a request could not be decoded. No message ever quotes a request value that the model marks
/// `sensitive`, and serialization messages quote none at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The operation named by `X-Amz-Target` (awsQuery: `Action` at the model's `Version`) is not
    /// part of the service; the payload is the operation name as sent.
    #[error("unknown operation {0}")]
    UnknownOperation(String),
    /// The body is not a JSON object of the operation's input shape (awsQuery: a member's text is
    /// not of its type; an empty message means AWS sends none).
    #[error("{0}")]
    Serialization(String),
    /// The input broke a model constraint; the message is AWS's `N validation error(s) detected: …`.
    #[error("{0}")]
    Validation(String),
}

impl DecodeError {
    /// The AWS error code (`__type`) this failure is reported as.
    pub fn error_code(&self) -> &'static str {
        match self {
            DecodeError::UnknownOperation(_) => "UnknownOperationException",
            DecodeError::Serialization(_) => "SerializationException",
            DecodeError::Validation(_) => "ValidationException",
        }
    }
}

/// Parses `body` as the JSON input shape `T` and validates it. An empty body is `{}`; unknown
/// members are ignored and `null` members are absent, as AWS does.
pub fn decode_input<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, DecodeError> {
    let parsed = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => serde_json::from_slice(b"{}"),
        Some(b'{') => serde_json::from_slice(body),
        Some(_) => {
            return Err(DecodeError::Serialization(
                "The request body must be a JSON object.".into(),
            ));
        }
    };
    // serde's own messages can quote the offending value, which may be a secret.
    let input: T = parsed.map_err(|e| {
        DecodeError::Serialization(
            match e.classify() {
                serde_json::error::Category::Data => "A request member has the wrong type or encoding.",
                _ => "The request body is not valid JSON.",
            }
            .into(),
        )
    })?;
    input.validate().map_err(DecodeError::Validation)?;
    Ok(input)
}

/// A shape that can appear in a request: checks its members against the model.
pub trait Validate {
    /// Reports every member that breaks a constraint to `v`, relative to `v`'s current path.
    fn check_members(&self, _v: &mut Validator) {}

    /// Runs every check; `Err` carries the `ValidationException` message.
    fn validate(&self) -> Result<(), String> {
        self.validate_quoting(Quoting::Shown)
    }

    /// [`Validate::validate`] with the offending values shown or not, as the service writes them.
    fn validate_quoting(&self, quoting: Quoting) -> Result<(), String> {
        let mut v = Validator {
            quoting,
            ..Validator::default()
        };
        self.check_members(&mut v);
        v.finish()
    }
}

/// A value that can be checked against the constraints of its shape.
pub trait Check {
    /// The constraints of the value's shape (`()` for shapes that carry none of their own).
    type Rule: 'static;

    fn check(&self, rule: &Self::Rule, v: &mut Validator);

    /// The value as AWS's Java service prints it inside a validation message.
    fn java_string(&self) -> String;
}

/// A `pattern` constraint: the model's Java text (quoted in messages) and its `regex` translation,
/// compiled on first use.
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    regex: &'static str,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl Pattern {
    pub const fn new(source: &'static str, regex: &'static str) -> Self {
        Self {
            source,
            regex,
            compiled: OnceLock::new(),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        // A translation that does not compile is caught by each generated module's
        // `patterns_compile` test; at runtime it fails open rather than reject every request.
        self.compiled
            .get_or_init(|| regex::Regex::new(self.regex).ok())
            .as_ref()
            .is_none_or(|re| re.is_match(text))
    }
}

/// The constraints of a string, blob, integer or long shape, and of a list or map's own length.
/// Built with `const` methods so generated statics read `Rule::NONE.min(1).max(2048)`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<&'static Pattern>,
    values: &'static [&'static str],
    /// Messages omit the value of `sensitive` shapes.
    sensitive: bool,
}

impl Rule {
    /// The values an enum shape allows, in the order the generator wrote them (the model's, or AWS's recorded
    /// validation order where `models/enum-order.json` gives one).
    pub fn allowed_values(&self) -> &'static [&'static str] {
        self.values
    }

    pub const NONE: Rule = Rule {
        min: None,
        max: None,
        pattern: None,
        values: &[],
        sensitive: false,
    };

    pub const fn min(self, min: i64) -> Self {
        Self { min: Some(min), ..self }
    }

    pub const fn max(self, max: i64) -> Self {
        Self { max: Some(max), ..self }
    }

    pub const fn pattern(self, pattern: &'static Pattern) -> Self {
        Self {
            pattern: Some(pattern),
            ..self
        }
    }

    /// The `enum` value set, in model order.
    pub const fn values(self, values: &'static [&'static str]) -> Self {
        Self { values, ..self }
    }

    pub const fn sensitive(self) -> Self {
        Self {
            sensitive: true,
            ..self
        }
    }

    /// The constraints in the order AWS lists them for map keys (max, min, pattern, enum).
    fn constraints(&self) -> impl Iterator<Item = Constraint> {
        [
            self.max.map(Constraint::Max),
            self.min.map(Constraint::Min),
            self.pattern.map(Constraint::Pattern),
            (!self.values.is_empty()).then_some(Constraint::Values(self.values)),
        ]
        .into_iter()
        .flatten()
    }

    /// Descriptions of the constraints that a value of `size` (a length or, for numbers, the
    /// value) and `text` breaks; `unit` is "length" or "value".
    fn violations(&self, unit: &str, size: usize, text: Option<&str>) -> Vec<String> {
        self.violations_i64(unit, i64::try_from(size).unwrap_or(i64::MAX), text)
    }

    fn violations_i64(&self, unit: &str, size: i64, text: Option<&str>) -> Vec<String> {
        self.constraints()
            .filter(|c| !c.holds(size, text))
            .map(|c| c.describe(unit))
            .collect()
    }

    fn text_violations(&self, text: &str) -> Vec<String> {
        self.violations("length", text.chars().count(), Some(text))
    }
}

/// The constraints of a list shape: its own length and those of its members.
#[derive(Debug)]
pub struct ListRule<R: 'static> {
    len: Rule,
    member: &'static R,
}

impl<R> ListRule<R> {
    pub const fn new(len: Rule, member: &'static R) -> Self {
        Self { len, member }
    }
}

/// The constraints of a map shape: its own length, its keys and its values.
#[derive(Debug)]
pub struct MapRule<R: 'static> {
    len: Rule,
    key: &'static Rule,
    value: &'static R,
}

impl<R> MapRule<R> {
    pub const fn new(len: Rule, key: &'static Rule, value: &'static R) -> Self {
        Self { len, key, value }
    }
}

#[derive(Clone, Copy)]
enum Constraint {
    Min(i64),
    Max(i64),
    Pattern(&'static Pattern),
    Values(&'static [&'static str]),
}

impl Constraint {
    fn holds(self, size: i64, text: Option<&str>) -> bool {
        match self {
            Constraint::Min(min) => size >= min,
            Constraint::Max(max) => size <= max,
            Constraint::Pattern(pattern) => text.is_none_or(|t| pattern.is_match(t)),
            Constraint::Values(values) => text.is_none_or(|t| values.contains(&t)),
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Constraint::Min(min) => format!("Member must have {unit} greater than or equal to {min}"),
            Constraint::Max(max) => format!("Member must have {unit} less than or equal to {max}"),
            Constraint::Pattern(pattern) => {
                format!("Member must satisfy regular expression pattern: {}", pattern.source)
            }
            Constraint::Values(values) => format!("Member must satisfy enum value set: [{}]", values.join(", ")),
        }
    }
}

/// Whether a validation message quotes the offending value (`Value 'x' at 'name'`) and lists an
/// enum's values, as most services do, or leaves both out (`Value at 'status' … enum value set`),
/// as IAM does (recorded from AWS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Quoting {
    #[default]
    Shown,
    Hidden,
}

const ENUM_VIOLATION: &str = "Member must satisfy enum value set";

/// Collects AWS-style validation failures while walking a request.
#[derive(Debug, Default)]
pub struct Validator {
    /// The lowerCamelCase path of the value being checked, e.g. `tags.1.member.tagKey`.
    path: String,
    errors: Vec<String>,
    quoting: Quoting,
}

impl Validator {
    /// Checks the member `name` (lowerCamelCase) of the structure being validated.
    pub fn member<T: Check>(&mut self, name: &str, value: &Option<T>, required: bool, rule: &T::Rule) {
        self.at(name, |v| match value {
            Some(value) => value.check(rule, v),
            None if required => v.null(),
            None => {}
        });
    }

    /// Checks a required member whose shape has no constraints of its own.
    pub fn required(&mut self, name: &str, present: bool) {
        if !present {
            self.at(name, Self::null);
        }
    }

    /// AWS's message for everything collected: all failures, in the order found.
    pub fn finish(self) -> Result<(), String> {
        match self.errors.as_slice() {
            [] => Ok(()),
            [only] => Err(format!("1 validation error detected: {only}")),
            all => Err(format!("{} validation errors detected: {}", all.len(), all.join("; "))),
        }
    }

    fn null(&mut self) {
        self.errors.push(format!(
            "Value null at '{}' failed to satisfy constraint: Member must not be null",
            self.path
        ));
    }

    fn at(&mut self, segment: &str, check: impl FnOnce(&mut Self)) {
        let mark = self.path.len();
        if mark > 0 {
            self.path.push('.');
        }
        self.path.push_str(segment);
        check(self);
        self.path.truncate(mark);
    }

    fn report(&mut self, rule: &Rule, shown: impl FnOnce() -> String, violations: Vec<String>) {
        if violations.is_empty() {
            return;
        }
        let value = if rule.sensitive || self.quoting == Quoting::Hidden {
            String::new()
        } else {
            format!(" '{}'", shown())
        };
        for mut violation in violations {
            if self.quoting == Quoting::Hidden && violation.starts_with(ENUM_VIOLATION) {
                violation.truncate(ENUM_VIOLATION.len());
            }
            self.errors.push(format!(
                "Value{value} at '{}' failed to satisfy constraint: {violation}",
                self.path
            ));
        }
    }
}

impl Check for String {
    type Rule = Rule;

    fn check(&self, rule: &Rule, v: &mut Validator) {
        v.report(rule, || self.clone(), rule.text_violations(self));
    }

    fn java_string(&self) -> String {
        self.clone()
    }
}

impl Check for SensitiveString {
    type Rule = Rule;

    fn check(&self, rule: &Rule, v: &mut Validator) {
        v.report(rule, || self.java_string(), rule.text_violations(self.expose()));
    }

    fn java_string(&self) -> String {
        "***".into()
    }
}

/// Integer and long shapes: range constraints, reported against the value.
macro_rules! numbers {
    ($($ty:ty),*) => {
        $(impl Check for $ty {
            type Rule = Rule;

            fn check(&self, rule: &Rule, v: &mut Validator) {
                v.report(rule, || self.java_string(), rule.violations_i64("value", i64::from(*self), None));
            }

            fn java_string(&self) -> String {
                self.to_string()
            }
        })*
    };
}

numbers!(i32, i64);

impl Check for Blob {
    type Rule = Rule;

    fn check(&self, rule: &Rule, v: &mut Validator) {
        v.report(rule, || self.java_string(), rule.violations("length", self.len(), None));
    }

    fn java_string(&self) -> String {
        // AWS prints the ByteBuffer it decoded the blob into, never the bytes.
        format!("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", self.len())
    }
}

impl<T: Check> Check for Vec<T> {
    type Rule = ListRule<T::Rule>;

    fn check(&self, rule: &Self::Rule, v: &mut Validator) {
        v.report(
            &rule.len,
            || self.java_string(),
            rule.len.violations("length", self.len(), None),
        );
        for (index, item) in self.iter().enumerate() {
            v.at(&format!("{}.member", index + 1), |v| item.check(rule.member, v));
        }
    }

    fn java_string(&self) -> String {
        format!(
            "[{}]",
            self.iter().map(Check::java_string).collect::<Vec<_>>().join(", ")
        )
    }
}

impl<V: Check> Check for BTreeMap<String, V> {
    type Rule = MapRule<V::Rule>;

    fn check(&self, rule: &Self::Rule, v: &mut Validator) {
        let mut violations = rule.len.violations("length", self.len(), None);
        // AWS reports bad keys once per map, listing every constraint of the key shape.
        if self.keys().any(|key| !rule.key.text_violations(key).is_empty()) {
            let all: Vec<String> = rule.key.constraints().map(|c| c.describe("length")).collect();
            violations.push(format!("Map keys must satisfy constraint: [{}]", all.join(", ")));
        }
        v.report(&rule.len, || self.java_string(), violations);
        for (key, value) in self {
            v.at(key, |v| value.check(rule.value, v));
        }
    }

    fn java_string(&self) -> String {
        let entries: Vec<String> = self.iter().map(|(k, v)| format!("{k}={}", v.java_string())).collect();
        format!("{{{}}}", entries.join(", "))
    }
}

impl<T: Check> Check for Box<T> {
    type Rule = T::Rule;

    fn check(&self, rule: &Self::Rule, v: &mut Validator) {
        T::check(self, rule, v);
    }

    fn java_string(&self) -> String {
        T::java_string(self)
    }
}

/// Shapes without constraints of their own; they only appear inside checked lists and maps.
macro_rules! unconstrained {
    ($($ty:ty),*) => {
        $(impl Check for $ty {
            type Rule = ();

            fn check(&self, _: &(), _: &mut Validator) {}

            fn java_string(&self) -> String {
                self.to_string()
            }
        })*
    };
}

unconstrained!(bool, f32, f64, serde_json::Value);

impl Check for Timestamp {
    type Rule = ();

    fn check(&self, _: &(), _: &mut Validator) {}

    fn java_string(&self) -> String {
        self.0.to_string()
    }
}

/// How Java prints a model object (`package.Class@identityHash`). A hash of the name stands in for
/// the identity hash so messages are deterministic.
pub fn java_object_string(service: &str, shape: &str) -> String {
    let hash = shape
        .bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("com.amazonaws.services.{service}.{shape}@{hash:x}")
}

/// Declares structure shapes: every member is `Option` (so missing required members are reported
/// by validation, not serde), keeps its model name on the wire and is omitted when `None`.
macro_rules! structures {
    ($($name:ident { $($wire:tt $field:ident: $ty:ty,)* })*) => {
        $(
            #[derive(Debug, Default, Clone, ::serde::Serialize, ::serde::Deserialize)]
            pub struct $name {
                $(
                    #[serde(rename = $wire, default, skip_serializing_if = "::core::option::Option::is_none")]
                    pub $field: ::core::option::Option<$ty>,
                )*
            }
        )*
    };
}
pub(crate) use structures;

/// Makes structures that requests can contain checkable as members of other shapes.
macro_rules! checked_structures {
    ($service:literal: $($name:ident),* $(,)?) => {
        $(impl $crate::shapes::Check for $name {
            type Rule = ();

            fn check(&self, _: &(), v: &mut $crate::shapes::Validator) {
                $crate::shapes::Validate::check_members(self, v);
            }

            fn java_string(&self) -> ::std::string::String {
                $crate::shapes::java_object_string($service, stringify!($name))
            }
        })*
    };
}
pub(crate) use checked_structures;

/// Declares `OPERATIONS` and the `Request` enum of a service with `decode` and `operation_name`.
/// An operation without an input shape is a unit variant.
macro_rules! operations {
    ($($op:ident $(($input:ident))?),* $(,)?) => {
        /// Every operation of the service, as named after the prefix in `X-Amz-Target`.
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),*];

        /// A decoded and validated request to any operation of the service.
        #[derive(Debug, Clone)]
        pub enum Request {
            $($op $(($input))?,)*
        }

        impl Request {
            /// Decodes `body` as the input of `operation` and validates it against the model.
            pub fn decode(operation: &str, body: &[u8]) -> ::core::result::Result<Self, $crate::shapes::DecodeError> {
                match operation {
                    $(stringify!($op) => Ok(Self::$op $(($crate::shapes::decode_input::<$input>(body)?))?),)*
                    _ => Err($crate::shapes::DecodeError::UnknownOperation(operation.to_owned())),
                }
            }

            /// The operation this request is for.
            pub fn operation_name(&self) -> &'static str {
                match self {
                    $(Self::$op { .. } => stringify!($op),)*
                }
            }
        }
    };
}
pub(crate) use operations;

/// Compiles every pattern of a generated module, failing with the ones the `regex` crate rejects.
#[cfg(test)]
pub(crate) fn assert_patterns_compile(patterns: &[&Pattern]) {
    let broken: Vec<String> = patterns
        .iter()
        .filter_map(|p| regex::Regex::new(p.regex).err().map(|e| format!("{}: {e}", p.source)))
        .collect();
    assert!(broken.is_empty(), "patterns that do not compile: {broken:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::kms::{self, DescribeKeyResponse, EncryptResponse, KeyMetadata, Request};

    fn validation_message(operation: &str, body: &str) -> String {
        match Request::decode(operation, body.as_bytes()) {
            Err(DecodeError::Validation(message)) => message,
            other => panic!("{operation} {body}: expected a validation error, got {other:?}"),
        }
    }

    fn b64(len: usize) -> String {
        BASE64.encode(vec![7u8; len])
    }

    #[test]
    fn validation_messages_match_aws() {
        let long_tag_key = "a".repeat(129);
        let long_tag_value = "v".repeat(257);
        let tokens = ["\"t\""; 11].join(",");
        let cases: Vec<(&str, String, String)> = vec![
            // Recorded from real AWS (../shared/aws/aws-errors-observed.tsv).
            (
                "GenerateRandom",
                r#"{"NumberOfBytes":0}"#.into(),
                "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: \
                 Member must have value greater than or equal to 1"
                    .into(),
            ),
            (
                "GenerateRandom",
                r#"{"NumberOfBytes":1025}"#.into(),
                "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: \
                 Member must have value less than or equal to 1024"
                    .into(),
            ),
            (
                "Encrypt",
                format!(r#"{{"KeyId":"alias/k","Plaintext":"{}"}}"#, b64(4097)),
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
                 Member must have length less than or equal to 4096"
                    .into(),
            ),
            (
                "CreateKey",
                format!(r#"{{"Tags":[{{"TagKey":"{long_tag_key}","TagValue":"v"}}]}}"#),
                format!(
                    "1 validation error detected: Value '{long_tag_key}' at 'tags.1.member.tagKey' failed to satisfy \
                     constraint: Member must have length less than or equal to 128"
                ),
            ),
            (
                "CreateKey",
                format!(r#"{{"Tags":[{{"TagKey":"k","TagValue":"{long_tag_value}"}}]}}"#),
                format!(
                    "1 validation error detected: Value '{long_tag_value}' at 'tags.1.member.tagValue' failed to \
                     satisfy constraint: Member must have length less than or equal to 256"
                ),
            ),
            // AWS lists enum values in its own order (recorded in models/enum-order.json), newer values after.
            (
                "CreateKey",
                r#"{"KeyUsage":"RANDOM"}"#.into(),
                "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: \
                 Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]"
                    .into(),
            ),
            (
                "DescribeKey",
                "{}".into(),
                "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
                 Member must not be null"
                    .into(),
            ),
            (
                "Encrypt",
                r#"{"KeyId":null}"#.into(),
                "2 validation errors detected: \
                 Value null at 'keyId' failed to satisfy constraint: Member must not be null; \
                 Value null at 'plaintext' failed to satisfy constraint: Member must not be null"
                    .into(),
            ),
            (
                "GenerateRandom",
                r#"{"NumberOfBytes":0,"CustomKeyStoreId":""}"#.into(),
                "2 validation errors detected: \
                 Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1; \
                 Value '' at 'customKeyStoreId' failed to satisfy constraint: Member must have length greater than or equal to 1"
                    .into(),
            ),
            (
                "Decrypt",
                r#"{"CiphertextBlob":""}"#.into(),
                "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' \
                 failed to satisfy constraint: Member must have length greater than or equal to 1"
                    .into(),
            ),
            (
                "CreateAlias",
                r#"{"AliasName":"alias/no spaces","TargetKeyId":"k"}"#.into(),
                "1 validation error detected: Value 'alias/no spaces' at 'aliasName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
                    .into(),
            ),
            (
                "Encrypt",
                format!(r#"{{"KeyId":"k","Plaintext":"AA==","GrantTokens":[{tokens}]}}"#),
                "1 validation error detected: Value '[t, t, t, t, t, t, t, t, t, t, t]' at 'grantTokens' failed to \
                 satisfy constraint: Member must have length less than or equal to 10"
                    .into(),
            ),
            (
                "CreateCustomKeyStore",
                r#"{"CustomKeyStoreName":"s","KeyStorePassword":"hunter"}"#.into(),
                "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: \
                 Member must have length greater than or equal to 7"
                    .into(),
            ),
            (
                "CreateKey",
                r#"{"Tags":[{"TagKey":"ok","TagValue":"v"},{"TagValue":"v"}]}"#.into(),
                "1 validation error detected: Value null at 'tags.2.member.tagKey' failed to satisfy constraint: \
                 Member must not be null"
                    .into(),
            ),
            (
                "CreateGrant",
                r#"{"KeyId":"k","GranteePrincipal":"p","Operations":["Encrypt","Fly"]}"#.into(),
                "1 validation error detected: Value 'Fly' at 'operations.2.member' failed to satisfy constraint: \
                 Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, \
                 GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, \
                 RetireGrant, DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, \
                 VerifyMac, DeriveSharedSecret]"
                    .into(),
            ),
        ];
        for (operation, body, expected) in cases {
            assert_eq!(validation_message(operation, &body), expected, "{operation} {body}");
        }
    }

    #[test]
    fn valid_requests_decode() {
        let cases = [
            ("GenerateRandom", ""),
            ("GenerateRandom", " \n"),
            ("GenerateRandom", r#"{"NumberOfBytes":1024}"#),
            // Unknown members are ignored and `null` is absent.
            (
                "DescribeKey",
                r#"{"KeyId":"alias/k","Unknown":{"x":[1]},"GrantTokens":null}"#,
            ),
            (
                "Encrypt",
                r#"{"KeyId":"k","Plaintext":"aGk","EncryptionContext":{"b":"2","a":"1"}}"#,
            ),
            ("CreateAlias", r#"{"AliasName":"alias/My_Key-1","TargetKeyId":"k"}"#),
            (
                "CreateGrant",
                r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:role/r","Operations":["Encrypt"]}"#,
            ),
        ];
        for (operation, body) in cases {
            let request = Request::decode(operation, body.as_bytes());
            assert!(request.is_ok(), "{operation} {body}: {request:?}");
            assert_eq!(request.map(|r| r.operation_name()).ok(), Some(operation));
        }
        let Ok(Request::Encrypt(encrypt)) = Request::decode(
            "Encrypt",
            br#"{"KeyId":"k","Plaintext":"aGk","EncryptionContext":{"b":"2","a":"1"}}"#,
        ) else {
            panic!("Encrypt decodes");
        };
        assert_eq!(encrypt.plaintext.as_ref().map(Blob::as_bytes), Some(&b"hi"[..]));
        let context: Vec<&str> = encrypt
            .encryption_context
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(context, ["a", "b"], "encryption contexts iterate in canonical order");
    }

    #[test]
    fn malformed_bodies_are_serialization_errors_that_quote_nothing() {
        let cases = [
            ("GenerateRandom", "{"),
            ("GenerateRandom", "[]"),
            ("GenerateRandom", "null"),
            ("GenerateRandom", r#"{"NumberOfBytes":"5"}"#),
            ("GenerateRandom", r#"{"NumberOfBytes":1.5}"#),
            ("GenerateRandom", r#"{"NumberOfBytes":99999999999}"#),
            ("GenerateRandom", r#"{} trailing"#),
            ("Encrypt", r#"{"KeyId":"k","Plaintext":"not base64 secret-value!"}"#),
            ("Encrypt", r#"{"KeyId":["secret-value"],"Plaintext":"AA=="}"#),
            ("CreateKey", r#"{"Tags":{"secret-value":1}}"#),
        ];
        for (operation, body) in cases {
            match Request::decode(operation, body.as_bytes()) {
                Err(error @ DecodeError::Serialization(_)) => {
                    assert!(!error.to_string().contains("secret-value"), "{body}: {error}");
                    assert_eq!(error.error_code(), "SerializationException");
                }
                other => panic!("{operation} {body}: expected a serialization error, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_operations_are_reported() {
        let error = Request::decode("Frobnicate", b"{}").err();
        assert_eq!(error, Some(DecodeError::UnknownOperation("Frobnicate".into())));
        assert_eq!(error.map(|e| e.error_code()), Some("UnknownOperationException"));
        assert_eq!(kms::TARGET_PREFIX, "TrentService");
        assert_eq!(kms::OPERATIONS.len(), 54);
        assert!(kms::OPERATIONS.contains(&"GenerateDataKeyPairWithoutPlaintext"));
    }

    #[test]
    fn outputs_serialize_with_aws_member_names() {
        let encrypt = EncryptResponse {
            ciphertext_blob: Some(Blob::new(vec![0, 1, 0xfe, 0xff])),
            key_id: Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
            encryption_algorithm: Some("SYMMETRIC_DEFAULT".into()),
        };
        let json = serde_json::to_value(&encrypt).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({
                "CiphertextBlob": "AAH+/w==",
                "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k",
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        );

        let describe = DescribeKeyResponse {
            key_metadata: Some(KeyMetadata {
                key_id: Some("k".into()),
                creation_date: Some(Timestamp(1_700_000_000.25)),
                enabled: Some(true),
                ..Default::default()
            }),
        };
        let text = serde_json::to_string(&describe).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"KeyMetadata":{"KeyId":"k","CreationDate":1700000000.25,"Enabled":true}}"#
        );
        let back: Option<DescribeKeyResponse> = serde_json::from_str(&text).ok();
        let metadata = back.and_then(|d| d.key_metadata);
        assert_eq!(
            metadata.as_ref().and_then(|m| m.creation_date),
            Some(Timestamp(1_700_000_000.25))
        );
        assert_eq!(metadata.and_then(|m| m.key_id), Some("k".into()));

        let blob: Option<Blob> = serde_json::from_str(r#""AAH+/w==""#).ok();
        assert_eq!(blob.as_ref().map(Blob::as_bytes), Some(&[0, 1, 0xfe, 0xff][..]));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let request = Request::decode(
            "CreateCustomKeyStore",
            br#"{"CustomKeyStoreName":"s","KeyStorePassword":"hunter2hunter2"}"#,
        );
        let shown = format!("{request:?}");
        assert!(
            shown.contains("SensitiveString(***)") && !shown.contains("hunter2"),
            "{shown}"
        );
        let request = Request::decode("Encrypt", br#"{"KeyId":"k","Plaintext":"aHVudGVyMg=="}"#);
        let shown = format!("{request:?}");
        assert!(shown.contains("Blob(7 bytes)") && !shown.contains("104"), "{shown}");
    }

    #[test]
    fn map_keys_are_reported_once_with_every_key_constraint() {
        static KEY_PATTERN: Pattern = Pattern::new("[a-z]+", "^(?:[a-z]+)$");
        static KEY: Rule = Rule::NONE.min(1).max(3).pattern(&KEY_PATTERN);
        static VALUE: Rule = Rule::NONE.max(2);
        static MAP: MapRule<Rule> = MapRule::new(Rule::NONE.max(5), &KEY, &VALUE);
        let map: BTreeMap<String, String> = [("abcd", "x"), ("ok", "long"), ("Bad", "y")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut v = Validator::default();
        v.member("context", &Some(map), true, &MAP);
        assert_eq!(
            v.finish(),
            Err("2 validation errors detected: \
                 Value '{Bad=y, abcd=x, ok=long}' at 'context' failed to satisfy constraint: Map keys must satisfy \
                 constraint: [Member must have length less than or equal to 3, Member must have length greater than \
                 or equal to 1, Member must satisfy regular expression pattern: [a-z]+]; \
                 Value 'long' at 'context.ok' failed to satisfy constraint: Member must have length less than or equal to 2"
                .into())
        );
    }

    #[test]
    fn structures_print_like_java_objects() {
        let tags = vec![kms::Tag::default()];
        assert!(tags.java_string().starts_with("[com.amazonaws.services.kms.Tag@"));
    }
}
