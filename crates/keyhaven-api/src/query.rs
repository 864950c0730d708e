//! The awsQuery protocol (IAM, STS): form parameters decoded into the generated shapes, and
//! outputs and errors encoded as AWS's XML.
//!
//! Wire rules, as botocore 1.43.11's `QuerySerializer` writes requests and its `QueryParser`
//! reads responses:
//! - Requests are `Action=<Op>&Version=<apiVersion>&…`, form-encoded in a POST body or the query
//!   string of a GET. Structure members are `Parent.Member`, list items `Name.member.N` (from 1),
//!   map entries `Name.entry.N.key` / `Name.entry.N.value`, an empty list `Name=`; booleans are
//!   `true`/`false`, timestamps ISO 8601, blobs base64.
//! - Responses are `<OpResponse xmlns="…"><OpResult>…</OpResult><ResponseMetadata><RequestId>…`,
//!   lists `<Name><member>…</member></Name>`, maps `<Name><entry><key>…</key><value>…</value>`.
//! - Errors are `<ErrorResponse xmlns="…"><Error><Type>Sender|Receiver</Type><Code>…</Code>
//!   <Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>`.
//!
//! How AWS answers malformed requests was taken from recorded probes of real STS and SES:
//! - an unknown `Action`, or a `Version` other than the model's, is `InvalidAction` ("Could not
//!   find operation X for version Y", `NO_VERSION_SPECIFIED` when absent) in the AWSFault namespace;
//! - a member whose text is not of its type is `MalformedInput`: an empty number is "missing value
//!   for decimal type", any other bad number has no message, a bad boolean is "boolean must follow
//!   xsd1.1 definition" (an empty one "missing value for boolean type");
//! - constraint failures are `ValidationError` with the same text as the JSON services;
//! - a repeated parameter takes its first value and unknown parameters are ignored.
//!
//! Every one of these failures is HTTP 400 with `Type` `Sender`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Bound;

use crate::shapes::{Blob, DecodeError, SensitiveString, Timestamp, Validate};

/// The namespace of errors AWS raises before it has found an operation (`InvalidAction`).
pub const AWS_FAULT_NAMESPACE: &str = "http://webservices.amazon.com/AWSFault/2005-15-09";

/// The `Version` AWS names in `InvalidAction` when a request carries none.
const NO_VERSION: &str = "NO_VERSION_SPECIFIED";

/// A request's form parameters, indexed by name. A repeated name keeps its first value, which is
/// the one AWS acts on.
pub struct Params {
    /// Sorted, so the parameters under a prefix (`Tags.member.…`) are one range.
    values: BTreeMap<String, String>,
    /// How validation messages show bad values (IAM leaves them out).
    quoting: crate::shapes::Quoting,
}

/// Names only: values include passwords and tokens.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Params {
    /// Decodes a form-encoded POST body or GET query string.
    pub fn parse(form: &[u8]) -> Self {
        let mut values = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(form).into_owned() {
            values.entry(key).or_insert(value);
        }
        Self {
            values,
            quoting: crate::shapes::Quoting::Shown,
        }
    }

    /// These parameters, validated with the values of validation messages `quoting`.
    pub fn quoting(self, quoting: crate::shapes::Quoting) -> Self {
        Self { quoting, ..self }
    }

    /// The parameters of `action` if the request's `Version` is `api_version`; AWS finds no
    /// operation for any other version.
    pub fn for_version(&self, action: &str, api_version: &str) -> Result<&Self, DecodeError> {
        if self.get("Version") == Some(api_version) {
            Ok(self)
        } else {
            Err(DecodeError::UnknownOperation(action.to_owned()))
        }
    }

    /// The value of `key`: the first one the request gave.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The operation's input: decoded from the top-level parameters, then validated.
    pub fn input<T: FromQuery + Validate + Default>(&self) -> Result<T, DecodeError> {
        let input = T::from_query(self, "")?.unwrap_or_default();
        input.validate_quoting(self.quoting).map_err(DecodeError::Validation)?;
        Ok(input)
    }

    /// The member `name` of the structure at `prefix`.
    pub fn member<T: FromQuery>(&self, prefix: &str, name: &str) -> Result<Option<T>, DecodeError> {
        if prefix.is_empty() {
            T::from_query(self, name)
        } else {
            T::from_query(self, &format!("{prefix}.{name}"))
        }
    }

    /// Whether the request has anything inside the structure at `key` (the top level always).
    pub fn holds(&self, key: &str) -> bool {
        key.is_empty() || self.under(&format!("{key}.")).next().is_some()
    }

    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(k, _)| k.as_str())
            .take_while(move |k| k.starts_with(prefix))
    }

    /// The item numbers present under `prefix` (`Tags.member`), in numeric order. Numbering
    /// starts at 1; gaps are tolerated and other segments ignored like unknown parameters.
    pub fn indices(&self, prefix: &str) -> BTreeSet<u32> {
        let dotted = format!("{prefix}.");
        self.under(&dotted)
            .filter_map(|k| k.strip_prefix(&dotted)?.split('.').next()?.parse().ok())
            .filter(|n| *n > 0)
            .collect()
    }
}

/// A value that can be read from awsQuery parameters.
pub trait FromQuery: Sized {
    /// The value at `key`, `None` when the request has nothing there.
    fn from_query(params: &Params, key: &str) -> Result<Option<Self>, DecodeError>;
}

/// `MalformedInput` as AWS words it for a value of `kind`: only an empty value gets a message.
/// (Recorded for numbers and booleans; timestamps and blobs are assumed to follow suit.)
fn malformed(kind: &str, text: &str) -> DecodeError {
    DecodeError::Serialization(if text.is_empty() {
        format!("missing value for {kind} type")
    } else {
        String::new()
    })
}

/// Scalars: the parameter's text at exactly `key`, parsed by `$parse`.
macro_rules! scalars {
    ($($ty:ty => $parse:expr),* $(,)?) => {
        $(impl FromQuery for $ty {
            fn from_query(params: &Params, key: &str) -> Result<Option<Self>, DecodeError> {
                params.get(key).map($parse).transpose()
            }
        })*
    };
}

scalars! {
    String => |text: &str| Ok(text.to_owned()),
    SensitiveString => |text: &str| Ok(SensitiveString::from(text)),
    // Rust's integer parsing accepts what AWS's Java does (`+900`, `0900`) and rejects the same
    // (`900.0`, overflow); AWS calls every number type "decimal" here.
    i32 => |text: &str| text.parse().map_err(|_| malformed("decimal", text)),
    i64 => |text: &str| text.parse().map_err(|_| malformed("decimal", text)),
    bool => |text: &str| match text {
        // xsd:boolean's lexical space, which AWS parses with; `TRUE` is refused.
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        "" => Err(malformed("boolean", text)),
        _ => Err(DecodeError::Serialization("boolean must follow xsd1.1 definition".into())),
    },
    Timestamp => |text: &str| Timestamp::parse_iso8601(text).ok_or_else(|| malformed("timestamp", text)),
    Blob => |text: &str| Blob::from_base64(text).ok_or_else(|| malformed("blob", text)),
}

impl<T: FromQuery> FromQuery for Vec<T> {
    fn from_query(params: &Params, key: &str) -> Result<Option<Self>, DecodeError> {
        let prefix = format!("{key}.member");
        let indices = params.indices(&prefix);
        if indices.is_empty() {
            // botocore sends an empty list as the bare name with no value.
            return Ok((params.get(key) == Some("")).then(Vec::new));
        }
        let mut items = Vec::with_capacity(indices.len());
        for index in indices {
            items.extend(T::from_query(params, &format!("{prefix}.{index}"))?);
        }
        Ok(Some(items))
    }
}

impl<V: FromQuery> FromQuery for BTreeMap<String, V> {
    fn from_query(params: &Params, key: &str) -> Result<Option<Self>, DecodeError> {
        let prefix = format!("{key}.entry");
        let indices = params.indices(&prefix);
        if indices.is_empty() {
            return Ok(None);
        }
        let mut map = BTreeMap::new();
        for index in indices {
            let entry = format!("{prefix}.{index}");
            // An entry missing its key or value names nothing, like an unknown parameter.
            if let (Some(k), Some(v)) = (
                params.get(&format!("{entry}.key")),
                V::from_query(params, &format!("{entry}.value"))?,
            ) {
                map.entry(k.to_owned()).or_insert(v);
            }
        }
        Ok(Some(map))
    }
}

/// AWS's XML, indented as AWS indents it: two spaces a level, one element a line.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    /// For each open element: where its line starts and where its content would start, so an
    /// element left empty can be rewritten as `<Name/>`.
    open: Vec<(usize, usize)>,
    /// The namespace the first element opened declares (restXml answers, whose root carries it).
    root_namespace: Option<String>,
}

impl XmlWriter {
    /// A writer whose first element declares `namespace`.
    pub fn in_namespace(namespace: &str) -> Self {
        Self {
            root_namespace: Some(namespace.to_string()),
            ..Self::default()
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    fn start(&mut self, name: &str, namespace: Option<&str>) {
        match namespace {
            Some(namespace) => self.start_with(name, &[("xmlns", namespace)]),
            None => self.start_with(name, &[]),
        }
    }

    fn start_with(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let line = self.out.len();
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (attribute, value) in attributes {
            let _ = write!(self.out, " {attribute}=\"");
            escape(value, &mut self.out);
            self.out.push('"');
        }
        self.out.push_str(">\n");
        self.open.push((line, self.out.len()));
    }

    /// Opens the element `name`; every `open` is matched by a `close`.
    pub fn open(&mut self, name: &str) {
        self.open_with(name, &[]);
    }

    /// Opens the element `name` with these attributes (restXml's `xmlAttribute` members and namespace declarations).
    pub fn open_with(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(attributes.len() + 1);
        let namespace = self.root_namespace.take();
        if let Some(namespace) = namespace.as_deref() {
            all.push(("xmlns", namespace));
        }
        all.extend_from_slice(attributes);
        self.start_with(name, &all);
    }

    pub fn close(&mut self, name: &str) {
        let Some((line, content)) = self.open.pop() else {
            return;
        };
        if self.out.len() == content {
            self.out.truncate(line);
            self.indent();
            let _ = writeln!(self.out, "<{name}/>");
        } else {
            self.indent();
            let _ = writeln!(self.out, "</{name}>");
        }
    }

    /// The element `name` holding `text`.
    pub fn text(&mut self, name: &str, text: &str) {
        self.indent();
        match self.root_namespace.take() {
            Some(namespace) => {
                let _ = write!(self.out, "<{name} xmlns=\"");
                escape(&namespace, &mut self.out);
                self.out.push_str("\">");
            }
            None => {
                let _ = write!(self.out, "<{name}>");
            }
        }
        escape(text, &mut self.out);
        let _ = writeln!(self.out, "</{name}>");
    }

    /// A structure member: written when present, left out when `None`.
    pub fn member<T: ToXml>(&mut self, name: &str, value: &Option<T>) {
        if let Some(value) = value {
            value.write_xml(name, self);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes XML text. Characters XML 1.0 cannot carry at all, even as references, become U+FFFD
/// so the document still parses; `\r` is a reference because parsers fold a literal one into `\n`.
fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A value that can be written as an element of an awsQuery response.
pub trait ToXml {
    /// Writes the value as the element `name`.
    fn write_xml(&self, name: &str, xml: &mut XmlWriter);
}

/// Numbers and booleans: one element with the value's text (`true`/`false` for booleans).
macro_rules! displayed {
    ($($ty:ty),*) => {
        $(impl ToXml for $ty {
            fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
                xml.text(name, &self.to_string());
            }
        })*
    };
}

displayed!(i32, i64, bool);

impl ToXml for Timestamp {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.text(name, &self.to_iso8601());
    }
}

impl ToXml for String {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.text(name, self);
    }
}

impl ToXml for SensitiveString {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.text(name, self.expose());
    }
}

impl ToXml for Blob {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.text(name, &self.to_base64());
    }
}

impl<T: ToXml> ToXml for Vec<T> {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.open(name);
        for item in self {
            item.write_xml("member", xml);
        }
        xml.close(name);
    }
}

impl<V: ToXml> ToXml for BTreeMap<String, V> {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
        xml.open(name);
        for (key, value) in self {
            xml.open("entry");
            xml.text("key", key);
            value.write_xml("value", xml);
            xml.close("entry");
        }
        xml.close(name);
    }
}

/// A successful response: `<{operation}Response>` in the service's namespace, holding the output
/// (if the operation has one) as `<{operation}Result>`, then the request id.
pub fn encode_response(namespace: &str, operation: &str, output: Option<&dyn ToXml>, request_id: &str) -> String {
    let root = format!("{operation}Response");
    let mut xml = XmlWriter::default();
    xml.start(&root, Some(namespace));
    if let Some(output) = output {
        output.write_xml(&format!("{operation}Result"), &mut xml);
    }
    xml.open("ResponseMetadata");
    xml.text("RequestId", request_id);
    xml.close("ResponseMetadata");
    xml.close(&root);
    xml.finish()
}

/// An error response. An empty `message` leaves out `<Message>`, as AWS does for some
/// `MalformedInput`; `sender` is the `Type` (`Sender` for the caller's fault, else `Receiver`).
pub fn encode_error(namespace: &str, code: &str, message: &str, sender: bool, request_id: &str) -> String {
    let mut xml = XmlWriter::default();
    xml.start("ErrorResponse", Some(namespace));
    xml.open("Error");
    xml.text("Type", if sender { "Sender" } else { "Receiver" });
    xml.text("Code", code);
    if !message.is_empty() {
        xml.text("Message", message);
    }
    xml.close("Error");
    xml.text("RequestId", request_id);
    xml.close("ErrorResponse");
    xml.finish()
}

/// How a request that failed to decode is answered: always HTTP 400 with `Type` `Sender`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    pub code: &'static str,
    /// Empty when AWS sends no `<Message>`.
    pub message: String,
    /// Whether the error is in [`AWS_FAULT_NAMESPACE`] rather than the service's.
    pub aws_fault: bool,
}

impl DecodeFailure {
    pub const STATUS: u16 = 400;

    /// The failure for `error`, raised decoding the request whose parameters are `params`.
    pub fn new(error: &DecodeError, params: &Params) -> Self {
        let (code, message, aws_fault) = match error {
            DecodeError::UnknownOperation(action) => (
                "InvalidAction",
                format!(
                    "Could not find operation {action} for version {}",
                    params.get("Version").unwrap_or(NO_VERSION)
                ),
                true,
            ),
            DecodeError::Serialization(message) => ("MalformedInput", message.clone(), false),
            DecodeError::Validation(message) => ("ValidationError", message.clone(), false),
        };
        Self {
            code,
            message,
            aws_fault,
        }
    }

    /// The `<ErrorResponse>` body, `service_namespace` being the service's `XML_NAMESPACE`.
    pub fn encode(&self, service_namespace: &str, request_id: &str) -> String {
        let namespace = if self.aws_fault {
            AWS_FAULT_NAMESPACE
        } else {
            service_namespace
        };
        encode_error(namespace, self.code, &self.message, true, request_id)
    }
}

/// Looks `code` up in a generated `ERRORS` table of `(code, HTTP status, sender fault)`.
pub fn error_status(errors: &[(&str, u16, bool)], code: &str) -> Option<(u16, bool)> {
    errors
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, status, sender)| (status, sender))
}

/// Declares the structure shapes of an awsQuery service. Each is tagged `input` (requests can
/// contain it: decodable), `output` (responses can: encodable) or `both`. Every member is
/// `Option` so that validation, not decoding, reports missing required members. `Serialize`
/// gives the JSON form (model member names, absent members left out) that audit records use,
/// as for the awsJson shapes.
macro_rules! structures {
    ($($direction:ident $name:ident { $($wire:literal $field:ident: $ty:ty,)* })*) => {
        $(
            #[derive(Debug, Default, Clone, ::serde::Serialize)]
            pub struct $name {
                $(
                    #[serde(rename = $wire, skip_serializing_if = "::core::option::Option::is_none")]
                    pub $field: ::core::option::Option<$ty>,
                )*
            }

            $crate::query::structures!(@$direction $name { $($wire $field)* });
        )*
    };
    (@input $name:ident { $($wire:literal $field:ident)* }) => {
        impl $crate::query::FromQuery for $name {
            fn from_query(
                params: &$crate::query::Params,
                key: &str,
            ) -> ::core::result::Result<::core::option::Option<Self>, $crate::shapes::DecodeError> {
                if !params.holds(key) {
                    return Ok(None);
                }
                Ok(Some(Self {
                    $($field: params.member(key, $wire)?,)*
                }))
            }
        }
    };
    (@output $name:ident { $($wire:literal $field:ident)* }) => {
        impl $crate::query::ToXml for $name {
            fn write_xml(&self, name: &str, xml: &mut $crate::query::XmlWriter) {
                xml.open(name);
                $(xml.member($wire, &self.$field);)*
                xml.close(name);
            }
        }
    };
    (@both $name:ident { $($members:tt)* }) => {
        $crate::query::structures!(@input $name { $($members)* });
        $crate::query::structures!(@output $name { $($members)* });
    };
}
pub(crate) use structures;

/// `$keep`, in place of the ignored tokens: lets an optional macro fragment (`$(-> $output)?`)
/// stand for something other than itself.
macro_rules! each {
    ($keep:tt for $($ignored:tt)*) => {
        $keep
    };
}
pub(crate) use each;

/// `Some(output)` as a response body's content, or `None` when given nothing.
macro_rules! present {
    () => {
        None
    };
    ($output:expr) => {
        Some($output as &dyn $crate::query::ToXml)
    };
}
pub(crate) use present;

/// Declares `API_VERSION`-checked [`Request`] decoding and [`Response`] encoding over every
/// operation of an awsQuery service: `Op(Input) -> Output`, either part absent when the model has
/// none. Expects `API_VERSION` and `XML_NAMESPACE` in scope.
macro_rules! operations {
    ($($op:ident $(($input:ident))? $(-> $output:ident)?),* $(,)?) => {
        /// Every operation of the service, as named by `Action`.
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),*];

        /// A decoded and validated request to any operation of the service. Serializes as its
        /// input's JSON (`null` for an operation without input), for audit records.
        #[derive(Debug, Clone, ::serde::Serialize)]
        #[serde(untagged)]
        pub enum Request {
            $($op $(($input))?,)*
        }

        impl Request {
            /// Decodes the parameters of `action` (the request's first `Action`) into its input,
            /// and validates it against the model.
            pub fn decode(
                action: &str,
                params: &$crate::query::Params,
            ) -> ::core::result::Result<Self, $crate::shapes::DecodeError> {
                let params = params.for_version(action, API_VERSION)?;
                match action {
                    $(stringify!($op) => Ok(Self::$op $((params.input::<$input>()?))?),)*
                    _ => Err($crate::shapes::DecodeError::UnknownOperation(action.to_owned())),
                }
            }

            /// The operation this request is for.
            pub fn operation_name(&self) -> &'static str {
                match self {
                    $(Self::$op { .. } => stringify!($op),)*
                }
            }
        }

        /// The successful result of any operation of the service. Serializes as its output's
        /// JSON (`null` for an operation without output), for audit records.
        #[derive(Debug, Clone, ::serde::Serialize)]
        #[serde(untagged)]
        pub enum Response {
            $($op $(($output))?,)*
        }

        impl Response {
            /// The operation this response answers.
            pub fn operation_name(&self) -> &'static str {
                match self {
                    $(Self::$op { .. } => stringify!($op),)*
                }
            }

            /// The `<{Op}Response>` XML body.
            pub fn encode(&self, request_id: &str) -> ::std::string::String {
                let output: ::core::option::Option<&dyn $crate::query::ToXml> = match self {
                    $(Self::$op $(($crate::query::each!(output for $output)))? =>
                        $crate::query::present!($($crate::query::each!(output for $output))?),)*
                };
                $crate::query::encode_response(XML_NAMESPACE, self.operation_name(), output, request_id)
            }
        }
    };
}
pub(crate) use operations;

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: FromQuery>(form: &str, key: &str) -> Result<Option<T>, DecodeError> {
        T::from_query(&Params::parse(form.as_bytes()), key)
    }

    fn malformed_message<T: FromQuery + std::fmt::Debug>(form: &str) -> String {
        match decode::<T>(form, "X") {
            Err(DecodeError::Serialization(message)) => message,
            other => panic!("{form}: expected MalformedInput, got {other:?}"),
        }
    }

    #[test]
    fn scalars_parse_like_aws() {
        assert_eq!(decode::<i32>("X=%2B0042", "X"), Ok(Some(42)));
        assert_eq!(decode::<i64>("X=-9000000000", "X"), Ok(Some(-9_000_000_000)));
        assert_eq!(decode::<bool>("X=1", "X"), Ok(Some(true)));
        assert_eq!(decode::<String>("X=", "X"), Ok(Some(String::new())));
        assert_eq!(decode::<String>("Y=1", "X"), Ok(None));
        assert_eq!(
            decode::<Timestamp>("X=2024-05-01T12%3A00%3A00.250000Z", "X"),
            Ok(Some(Timestamp(1_714_564_800.25)))
        );
        let blob = decode::<Blob>("X=aGk%3D", "X");
        assert_eq!(blob.ok().flatten().as_ref().map(Blob::as_bytes), Some(&b"hi"[..]));

        // AWS words only an empty value; the others carry no message at all.
        let cases = [
            (malformed_message::<i32>("X="), "missing value for decimal type"),
            (malformed_message::<i32>("X=0x10"), ""),
            (malformed_message::<i64>("X=1e3"), ""),
            (
                malformed_message::<bool>("X=True"),
                "boolean must follow xsd1.1 definition",
            ),
            (malformed_message::<Timestamp>("X=yesterday"), ""),
            (malformed_message::<Timestamp>("X="), "missing value for timestamp type"),
            (malformed_message::<Blob>("X=not+base64%21"), ""),
        ];
        for (message, expected) in cases {
            assert_eq!(message, expected);
        }
    }

    #[test]
    fn lists_and_maps_follow_their_numbering() {
        assert_eq!(
            decode::<Vec<String>>("L=", "L"),
            Ok(Some(Vec::new())),
            "botocore's empty list"
        );
        assert_eq!(
            decode::<Vec<String>>("L=x", "L"),
            Ok(None),
            "a bare value is not a list"
        );
        assert_eq!(
            decode::<Vec<String>>(
                "L.member.3=c&L.member.1=a&L.member.0=zero&L.member.x=y&L.member.1=again",
                "L"
            ),
            Ok(Some(vec!["a".into(), "c".into()]))
        );
        assert_eq!(
            decode::<Vec<Vec<i32>>>("L.member.1.member.2=2&L.member.1.member.1=1&L.member.2=", "L"),
            Ok(Some(vec![vec![1, 2], vec![]]))
        );
        let map = decode::<BTreeMap<String, i32>>(
            "M.entry.2.key=b&M.entry.2.value=2&M.entry.1.key=a&M.entry.1.value=1\
             &M.entry.3.key=no-value&M.entry.4.value=4&M.entry.5.key=a&M.entry.5.value=5",
            "M",
        );
        assert_eq!(map, Ok(Some(BTreeMap::from([("a".into(), 1), ("b".into(), 2)]))));
        assert_eq!(decode::<BTreeMap<String, i32>>("M=", "M"), Ok(None));
        assert!(decode::<BTreeMap<String, i32>>("M.entry.1.key=a&M.entry.1.value=x", "M").is_err());
    }

    #[test]
    fn debug_shows_parameter_names_without_their_values() {
        let params = Params::parse(b"Action=CreateLoginProfile&UserName=alice&Password=planted-secret-7f3a9c");
        let shown = format!("{params:?}");
        assert!(shown.contains("Password") && shown.contains("UserName"), "{shown}");
        assert!(
            !shown.contains("planted-secret-7f3a9c") && !shown.contains("alice"),
            "{shown}"
        );
        let sensitive = SensitiveString::from("planted-secret-7f3a9c");
        let blob = Blob::new(b"planted-secret-7f3a9c".to_vec());
        let shown = format!("{sensitive:?} {blob:?}");
        assert!(!shown.contains("planted-secret-7f3a9c"), "{shown}");
    }

    #[test]
    fn structures_exist_only_when_something_is_inside() {
        let params = Params::parse(b"A.B=1&AB=2&A=3");
        assert!(params.holds("") && params.holds("A"));
        assert!(!params.holds("AB") && !params.holds("B"));
    }

    #[test]
    fn xml_escapes_text_and_collapses_empty_elements() {
        let mut xml = XmlWriter::default();
        xml.open("Root");
        xml.text("T", "a<b>&\"c\"\r\n\t\u{1}\u{FFFF}é");
        Vec::<String>::new().write_xml("Empty", &mut xml);
        vec![Some(1).is_some()].write_xml("Flags", &mut xml);
        xml.member::<String>("Absent", &None);
        xml.close("Root");
        assert_eq!(
            xml.finish(),
            "<Root>\n  <T>a&lt;b&gt;&amp;&quot;c&quot;&#xD;\n\t\u{FFFD}\u{FFFD}é</T>\n  <Empty/>\n  <Flags>\n    \
             <member>true</member>\n  </Flags>\n</Root>\n"
        );
    }

    #[test]
    fn timestamps_are_iso8601_in_utc() {
        let cases = [
            (0.0, "1970-01-01T00:00:00Z"),
            (1_700_000_000.0, "2023-11-14T22:13:20Z"),
            (1_700_000_000.25, "2023-11-14T22:13:20.250Z"),
            (1_700_000_000.999_6, "2023-11-14T22:13:21Z"),
            (f64::NAN, "1970-01-01T00:00:00Z"),
        ];
        for (seconds, text) in cases {
            assert_eq!(Timestamp(seconds).to_iso8601(), text);
        }
        assert_eq!(
            Timestamp::parse_iso8601("2023-11-14T23:13:20+01:00"),
            Some(Timestamp(1_700_000_000.0))
        );
    }

    #[test]
    fn failures_name_the_version_asked_for() {
        let params = Params::parse(b"Action=Nope&Version=2099-01-01&Version=2010-05-08");
        let failure = DecodeFailure::new(&DecodeError::UnknownOperation("Nope".into()), &params);
        assert_eq!(failure.message, "Could not find operation Nope for version 2099-01-01");
        assert!(failure.encode("urn:service", "r").contains(AWS_FAULT_NAMESPACE));
        let failure = DecodeFailure::new(&DecodeError::Validation("v".into()), &params);
        assert!(
            failure
                .encode("urn:service", "r")
                .starts_with("<ErrorResponse xmlns=\"urn:service\">")
        );
        assert_eq!(error_status(&[("A", 404, true)], "A"), Some((404, true)));
        assert_eq!(error_status(&[("A", 404, true)], "B"), None);
    }
}
