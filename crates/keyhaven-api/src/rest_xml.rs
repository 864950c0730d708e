//! Runtime of the generated restXml shapes (`generated/s3.rs`): requests read from URI labels, query parameters,
//! headers and XML payloads; answers written as a status, headers and an XML body, as S3 speaks them.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

pub use crate::query::XmlWriter;
use crate::shapes::SensitiveString;

/// An element of a request's XML payload.
pub type XmlNode<'a, 'input> = roxmltree::Node<'a, 'input>;

/// Why a restXml request could not be decoded. Values quoted are never those of sensitive members: those decode
/// from any text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A query parameter or header whose text is not of the member's type.
    #[error("invalid value {value:?} for {name}")]
    InvalidArgument { name: String, value: String },
    /// The payload is not well-formed XML (or not UTF-8), or an element's text is not of its member's type.
    #[error("malformed XML")]
    MalformedXml,
}

/// An instant, written in S3's formats: ISO 8601 with milliseconds in XML, the HTTP date in headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub OffsetDateTime);

/// How a timestamp member is written where it travels (the model's `timestampFormat`, or the protocol's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `Wed, 21 Oct 2015 07:28:00 GMT`
    HttpDate,
    /// `2015-10-21T07:28:00.000Z`
    Iso8601,
}

const HTTP_DATE: &[time::format_description::FormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");

impl Timestamp {
    pub fn format(self, format: TimeFormat) -> String {
        let at = self.0.to_offset(time::UtcOffset::UTC);
        match format {
            TimeFormat::HttpDate => at.format(HTTP_DATE).unwrap_or_default(),
            TimeFormat::Iso8601 => {
                let (date, clock) = (at.date(), at.time());
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                    date.year(),
                    u8::from(date.month()),
                    date.day(),
                    clock.hour(),
                    clock.minute(),
                    clock.second(),
                    clock.millisecond()
                )
            }
        }
    }

    /// Parses either format, as S3 takes either in conditional headers.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        time::PrimitiveDateTime::parse(text, HTTP_DATE)
            .map(|at| at.assume_utc())
            .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
            .ok()
            .map(Self)
    }
}

/// A scalar read from, or written as, the text of a header or query parameter.
pub trait Text: Sized {
    fn from_text(text: &str) -> Option<Self>;
    fn to_text(&self) -> String;
}

impl Text for String {
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn to_text(&self) -> String {
        self.clone()
    }
}

impl Text for SensitiveString {
    fn from_text(text: &str) -> Option<Self> {
        Some(SensitiveString::from(text))
    }
    fn to_text(&self) -> String {
        self.expose().to_string()
    }
}

macro_rules! text_by_parse {
    ($($ty:ty),*) => {
        $(impl Text for $ty {
            fn from_text(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn to_text(&self) -> String {
                self.to_string()
            }
        })*
    };
}

text_by_parse!(i32, i64, bool);

/// Either format is read, as S3 reads either in conditional headers; ISO 8601 is written (query parameters).
impl Text for Timestamp {
    fn from_text(text: &str) -> Option<Self> {
        Timestamp::parse(text)
    }
    fn to_text(&self) -> String {
        self.format(TimeFormat::Iso8601)
    }
}

/// A list travels as comma-separated text (`x-amz-object-attributes: ETag,Checksum`).
impl Text for Vec<String> {
    fn from_text(text: &str) -> Option<Self> {
        Some(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
    fn to_text(&self) -> String {
        self.join(",")
    }
}

/// A request as the generated decoders see it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// The decoded query parameters, in request order.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
    /// The body, for operations whose input has an XML or text payload; empty otherwise.
    pub payload: &'a [u8],
}

impl HttpRequest<'_> {
    pub fn label(&self, name: &str) -> Option<String> {
        match name {
            "Bucket" => self.bucket.map(str::to_string),
            _ => self.key.map(str::to_string),
        }
    }

    pub fn query<T: Text>(&self, name: &str) -> Result<Option<T>, DecodeError> {
        let Some((_, value)) = self.query.iter().find(|(k, _)| k == name) else {
            return Ok(None);
        };
        parse_text(name, value).map(Some)
    }

    pub fn header<T: Text>(&self, name: &str) -> Result<Option<T>, DecodeError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(value.as_bytes());
        parse_text(name, &text).map(Some)
    }

    /// The headers under `prefix` (`x-amz-meta-`), keyed by the rest of their lowercased name.
    pub fn prefix_headers(&self, prefix: &str) -> Option<BTreeMap<String, String>> {
        let found: BTreeMap<String, String> = self
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let rest = name.as_str().strip_prefix(prefix)?;
                Some((rest.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            })
            .collect();
        (!found.is_empty()).then_some(found)
    }

    pub fn xml_payload<T: FromXml>(&self) -> Result<Option<T>, DecodeError> {
        let text = std::str::from_utf8(self.payload).map_err(|_| DecodeError::MalformedXml)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        // No DTD (roxmltree's default): no entity expansion, no external references.
        let document = roxmltree::Document::parse(text).map_err(|_| DecodeError::MalformedXml)?;
        T::from_xml(document.root_element()).map(Some)
    }

    pub fn text_payload(&self) -> Result<Option<String>, DecodeError> {
        let text = std::str::from_utf8(self.payload).map_err(|_| DecodeError::MalformedXml)?;
        Ok((!text.is_empty()).then(|| text.to_string()))
    }
}

fn parse_text<T: Text>(name: &str, text: &str) -> Result<T, DecodeError> {
    T::from_text(text).ok_or_else(|| DecodeError::InvalidArgument {
        name: name.to_string(),
        value: text.to_string(),
    })
}

/// A value read from an element of a request's XML.
pub trait FromXml: Sized {
    fn from_xml(node: XmlNode<'_, '_>) -> Result<Self, DecodeError>;
}

fn element_text(node: XmlNode<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

macro_rules! from_xml_by_text {
    ($($ty:ty),*) => {
        $(impl FromXml for $ty {
            fn from_xml(node: XmlNode<'_, '_>) -> Result<Self, DecodeError> {
                <$ty as Text>::from_text(&element_text(node)).ok_or(DecodeError::MalformedXml)
            }
        })*
    };
}

from_xml_by_text!(String, SensitiveString, i32, i64, bool, Timestamp);

/// The child elements of an element.
pub fn elements<'a, 'input>(node: XmlNode<'a, 'input>) -> impl Iterator<Item = XmlNode<'a, 'input>> {
    node.children().filter(XmlNode::is_element)
}

/// An attribute of an element, by its local name (`type` of `xsi:type`).
pub fn attribute(node: XmlNode<'_, '_>, local_name: &str) -> Option<String> {
    node.attributes()
        .find(|a| a.name() == local_name)
        .map(|a| a.value().to_string())
}

/// A wrapped list: the items are the children named `item`.
pub fn read_wrapped<T: FromXml>(node: XmlNode<'_, '_>, item: &str) -> Result<Vec<T>, DecodeError> {
    elements(node)
        .filter(|c| c.tag_name().name() == item)
        .map(T::from_xml)
        .collect()
}

/// One item of a flattened list, whose items are repeated elements of the enclosing structure.
pub fn push<T: FromXml>(list: &mut Option<Vec<T>>, node: XmlNode<'_, '_>) -> Result<(), DecodeError> {
    list.get_or_insert_with(Vec::new).push(T::from_xml(node)?);
    Ok(())
}

/// Whether an enum member's value is one the model allows (or absent).
pub fn enum_value_allowed(value: &Option<String>, allowed: &[&str]) -> bool {
    value.as_deref().is_none_or(|v| allowed.contains(&v))
}

/// Whether every value of a list of enum values is one the model allows.
pub fn enum_values_allowed(values: &Option<Vec<String>>, allowed: &[&str]) -> bool {
    values.iter().flatten().all(|v| allowed.contains(&v.as_str()))
}

/// A value written as an element of an answer's XML.
pub trait ToXml {
    fn write_xml(&self, name: &str, xml: &mut XmlWriter);
}

macro_rules! to_xml_by_text {
    ($($ty:ty),*) => {
        $(impl ToXml for $ty {
            fn write_xml(&self, name: &str, xml: &mut XmlWriter) {
                xml.text(name, &Text::to_text(self));
            }
        })*
    };
}

to_xml_by_text!(String, SensitiveString, i32, i64, bool, Timestamp);

pub fn write_member<T: ToXml>(xml: &mut XmlWriter, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        value.write_xml(name, xml);
    }
}

pub fn write_flattened<T: ToXml>(xml: &mut XmlWriter, name: &str, list: &Option<Vec<T>>) {
    for item in list.iter().flatten() {
        item.write_xml(name, xml);
    }
}

pub fn write_wrapped<T: ToXml>(xml: &mut XmlWriter, name: &str, item: &str, list: &Option<Vec<T>>) {
    if let Some(list) = list {
        xml.open(name);
        for value in list {
            value.write_xml(item, xml);
        }
        xml.close(name);
    }
}

/// A request member in the audit record's `requestParameters`.
pub fn audit<T: Text>(out: &mut serde_json::Map<String, serde_json::Value>, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        out.insert(name.to_string(), serde_json::Value::String(value.to_text()));
    }
}

/// An answer as the generated encoders write it: status, headers and an XML or text body.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Option<(Vec<u8>, &'static str)>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    /// Sets a header; a value that cannot travel in HTTP (a control character) is left out.
    pub fn set(&mut self, name: &str, value: &str) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_bytes(value.as_bytes())) {
            self.headers.insert(name, value);
        }
    }

    pub fn header<T: Text>(&mut self, name: &str, value: &Option<T>) {
        if let Some(value) = value {
            self.set(name, &value.to_text());
        }
    }

    pub fn header_time(&mut self, name: &str, value: &Option<Timestamp>, format: TimeFormat) {
        if let Some(value) = value {
            self.set(name, &value.format(format));
        }
    }

    pub fn prefix_headers(&mut self, prefix: &str, values: &Option<BTreeMap<String, String>>) {
        for (name, value) in values.iter().flatten() {
            self.set(&format!("{prefix}{name}"), value);
        }
    }

    pub fn text_payload(&mut self, text: &Option<String>) {
        if let Some(text) = text {
            self.body = Some((text.clone().into_bytes(), "application/json"));
        }
    }

    pub fn xml_payload<T: ToXml>(&mut self, root: &str, namespace: &str, value: &Option<T>) {
        if let Some(value) = value {
            let mut xml = XmlWriter::in_namespace(namespace);
            value.write_xml(root, &mut xml);
            self.xml_body(xml);
        }
    }

    pub fn xml_body(&mut self, xml: XmlWriter) {
        let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        body.push_str(&xml.finish());
        self.body = Some((body.into_bytes(), "application/xml"));
    }
}
