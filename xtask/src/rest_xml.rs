//! `cargo xtask codegen`, restXml part: S3's botocore model (and, for the root element of its answers, its Smithy
//! model) → `crates/keyhaven-api/src/generated/s3.rs`: a request struct per served operation decoded from the URI
//! labels, query string, headers and XML payload; an output struct per operation written as status, headers and XML;
//! and the structures they reach, read from and written to XML as the model binds them.
//!
//! Every member trait the generator meets is either implemented or refused, so an operation added to `SERVED` that
//! needs something new (an XML attribute, a blob in a header) fails generation instead of being mis-generated.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::json::Json;

pub const MODEL: &str = "models/s3/2006-03-01/service-2.json";
pub const SMITHY_MODEL: &str = "models/s3/smithy/s3.json";
pub const MODULE: &str = "s3";
const SMITHY_NAMESPACE: &str = "com.amazonaws.s3#";

/// The operations keyhaven serves; the others route but answer `NotImplemented`.
pub const SERVED: &[&str] = &[
    "CreateBucket",
    "DeleteBucket",
    "HeadBucket",
    "ListBuckets",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "ListObjectVersions",
    "GetBucketEncryption",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "GetBucketTagging",
    "PutBucketTagging",
    "DeleteBucketTagging",
    "PutBucketPolicy",
    "GetBucketPolicy",
    "DeleteBucketPolicy",
    "GetBucketPolicyStatus",
    "PutPublicAccessBlock",
    "GetPublicAccessBlock",
    "DeletePublicAccessBlock",
    "PutBucketOwnershipControls",
    "GetBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "PutBucketNotificationConfiguration",
    "GetBucketNotificationConfiguration",
    "GetBucketAcl",
    "PutBucketAcl",
    "GetObjectAcl",
    "PutObjectAcl",
    "PutObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "DeleteObjects",
    "ListObjects",
    "ListObjectsV2",
    "CopyObject",
    "PutObjectTagging",
    "GetObjectTagging",
    "DeleteObjectTagging",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "GetObjectAttributes",
    "RestoreObject",
    "PutBucketCors",
    "GetBucketCors",
    "DeleteBucketCors",
    "PutBucketAccelerateConfiguration",
    "GetBucketAccelerateConfiguration",
    "PutBucketLifecycleConfiguration",
    "GetBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    "PutObjectLockConfiguration",
    "GetObjectLockConfiguration",
    "PutObjectRetention",
    "GetObjectRetention",
    "PutObjectLegalHold",
    "GetObjectLegalHold",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListMultipartUploads",
    "PutBucketWebsite",
    "GetBucketWebsite",
    "DeleteBucketWebsite",
    "PutBucketReplication",
    "GetBucketReplication",
    "DeleteBucketReplication",
    "PutBucketLogging",
    "GetBucketLogging",
    "PutBucketInventoryConfiguration",
    "GetBucketInventoryConfiguration",
    "DeleteBucketInventoryConfiguration",
    "ListBucketInventoryConfigurations",
    "PutBucketMetricsConfiguration",
    "GetBucketMetricsConfiguration",
    "DeleteBucketMetricsConfiguration",
    "ListBucketMetricsConfigurations",
    "PutBucketAnalyticsConfiguration",
    "GetBucketAnalyticsConfiguration",
    "DeleteBucketAnalyticsConfiguration",
    "ListBucketAnalyticsConfigurations",
    "PutBucketIntelligentTieringConfiguration",
    "GetBucketIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration",
    "ListBucketIntelligentTieringConfigurations",
];

/// Member traits that carry no wire meaning here: documentation, endpoint-rule parameters, and `xmlNamespace`, since
/// requests are read by local names and every answer's root carries S3's namespace.
const IGNORED_MEMBER_TRAITS: &[&str] = &[
    "shape",
    "documentation",
    "contextParam",
    "deprecated",
    "deprecatedMessage",
    "box",
    "idempotencyToken",
    "hostLabel",
    "xmlNamespace",
];

/// Enums whose values S3 checks itself rather than by its schema, answering its own error: `LocationConstraint`
/// (InvalidLocationConstraint, and Regions newer than the model are accepted) and a website redirect's `Protocol`
/// (InvalidRequest "Invalid protocol, ...", recorded from AWS in TestS3StaticWebsiteHosting).
const SERVICE_CHECKED_ENUMS: &[&str] = &["BucketLocationConstraint", "Protocol"];

/// Where a member travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Label,
    Query,
    Header,
    PrefixHeaders,
    Body,
}

struct Member<'m> {
    name: &'m str,
    /// The wire name: the header, query parameter or element name.
    wire: String,
    shape: &'m str,
    location: Location,
    flattened: bool,
    streaming: bool,
    /// `xmlAttribute`: an attribute of the structure's element (`xsi:type`), not a child element.
    attribute: bool,
}

struct Generator<'m> {
    shapes: &'m Json,
    /// Smithy `xmlName` of output structures, by shape name.
    root_names: BTreeMap<String, String>,
    /// Structures reached from requests' XML (decoded) and from outputs' XML (written).
    decoded: BTreeSet<&'m str>,
    written: BTreeSet<&'m str>,
    /// Enum shapes requests carry, whose values the service checks.
    enums: BTreeSet<&'m str>,
    out: String,
}

pub fn generate(root: &Path) -> Result<String, String> {
    let read = |relative: &str| {
        let text = std::fs::read_to_string(root.join(relative)).map_err(|e| format!("reading {relative}: {e}"))?;
        Json::parse(&text).map_err(|e| format!("{relative}: {e}"))
    };
    let model = read(MODEL)?;
    let smithy = read(SMITHY_MODEL)?;
    let mut root_names = BTreeMap::new();
    for (name, shape) in smithy.get("shapes").and_then(Json::as_obj).unwrap_or_default() {
        let xml_name = shape
            .get("traits")
            .and_then(|t| t.get("smithy.api#xmlName"))
            .and_then(Json::as_str);
        if let (Some(short), Some(xml_name)) = (name.strip_prefix(SMITHY_NAMESPACE), xml_name) {
            root_names.insert(short.to_string(), xml_name.to_string());
        }
    }
    let full_name = model
        .get("metadata")
        .and_then(|m| m.get("serviceFullName"))
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let shapes = model.get("shapes").ok_or("S3 model has no shapes")?;
    let operations = model.get("operations").ok_or("S3 model has no operations")?;
    let mut generator = Generator {
        shapes,
        root_names,
        decoded: BTreeSet::new(),
        written: BTreeSet::new(),
        enums: BTreeSet::new(),
        out: String::new(),
    };
    generator.module(operations, &full_name)?;
    Ok(generator.out)
}

fn shape_ref(json: Option<&Json>) -> Option<&str> {
    json.and_then(|r| r.get("shape")).and_then(Json::as_str)
}

impl<'m> Generator<'m> {
    fn shape(&self, name: &str) -> Result<&'m Json, String> {
        self.shapes.get(name).ok_or_else(|| format!("no shape {name}"))
    }

    fn kind(&self, name: &str) -> Result<&'m str, String> {
        self.shape(name)?
            .get("type")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("shape {name} has no type"))
    }

    fn members(&self, structure: &str) -> Result<Vec<Member<'m>>, String> {
        let shape = self.shape(structure)?;
        let mut out = Vec::new();
        for (name, spec) in shape.get("members").and_then(Json::as_obj).unwrap_or_default() {
            for (key, _) in spec.as_obj().unwrap_or_default() {
                let known = IGNORED_MEMBER_TRAITS.contains(&key.as_str())
                    || matches!(
                        key.as_str(),
                        "location" | "locationName" | "flattened" | "streaming" | "xmlAttribute"
                    );
                if !known {
                    return Err(format!("{structure}.{name}: member trait {key} is not implemented"));
                }
            }
            let target = shape_ref(Some(spec)).ok_or_else(|| format!("{structure}.{name} has no shape"))?;
            let location = match spec.get("location").and_then(Json::as_str) {
                None => Location::Body,
                Some("uri") => Location::Label,
                Some("querystring") => Location::Query,
                Some("header") => Location::Header,
                Some("headers") => Location::PrefixHeaders,
                Some(other) => return Err(format!("{structure}.{name}: location {other} is not implemented")),
            };
            let target_shape = self.shape(target)?;
            out.push(Member {
                name,
                wire: spec
                    .get("locationName")
                    .and_then(Json::as_str)
                    .unwrap_or(name)
                    .to_string(),
                shape: target,
                location,
                flattened: spec.get("flattened").and_then(Json::as_bool) == Some(true)
                    || target_shape.get("flattened").and_then(Json::as_bool) == Some(true),
                streaming: spec.get("streaming").and_then(Json::as_bool) == Some(true)
                    || target_shape.get("streaming").and_then(Json::as_bool) == Some(true),
                attribute: spec.get("xmlAttribute").and_then(Json::as_bool) == Some(true),
            });
        }
        Ok(out)
    }

    fn payload(&self, structure: &str) -> Result<Option<&'m str>, String> {
        Ok(self.shape(structure)?.get("payload").and_then(Json::as_str))
    }

    fn sensitive(&self, shape: &str) -> Result<bool, String> {
        Ok(self.shape(shape)?.get("sensitive").and_then(Json::as_bool) == Some(true))
    }

    fn timestamp_format(&self, shape: &str, location: Location) -> Result<&'static str, String> {
        let declared = self.shape(shape)?.get("timestampFormat").and_then(Json::as_str);
        Ok(match (declared, location) {
            (Some("rfc822"), _) | (None, Location::Header) => "TimeFormat::HttpDate",
            (Some("iso8601"), _) | (None, _) => "TimeFormat::Iso8601",
            (Some(other), _) => return Err(format!("timestamp format {other} is not implemented")),
        })
    }

    /// The Rust type of a shape as a member; structures reached are queued for `direction`.
    fn rust_type(&mut self, shape: &'m str, decode: bool) -> Result<String, String> {
        Ok(match self.kind(shape)? {
            "string" if self.sensitive(shape)? => "SensitiveString".into(),
            "string" => {
                if decode && self.shape(shape)?.get("enum").is_some() {
                    self.enums.insert(shape);
                }
                "String".into()
            }
            "integer" => "i32".into(),
            "long" => "i64".into(),
            "boolean" => "bool".into(),
            "timestamp" => "Timestamp".into(),
            "list" => {
                let member =
                    shape_ref(self.shape(shape)?.get("member")).ok_or_else(|| format!("{shape}: no member"))?;
                format!("Vec<{}>", self.rust_type(member, decode)?)
            }
            "map" => "BTreeMap<String, String>".into(),
            "structure" => {
                if decode {
                    self.decoded.insert(shape);
                } else {
                    self.written.insert(shape);
                }
                type_name(shape)
            }
            other => return Err(format!("{shape}: type {other} is not implemented")),
        })
    }

    fn module(&mut self, operations: &'m Json, full_name: &str) -> Result<(), String> {
        let mut requests = String::new();
        let mut outputs = String::new();
        let mut variants = String::new();
        let mut decode_arms = String::new();
        let mut audit_arms = String::new();
        let mut name_arms = String::new();
        let mut payload_operations = Vec::new();
        for operation in SERVED {
            let op = operations
                .get(operation)
                .ok_or_else(|| format!("no operation {operation}"))?;
            let status = op
                .get("http")
                .and_then(|h| h.get("responseCode"))
                .and_then(Json::as_i64)
                .unwrap_or(200);
            let input = shape_ref(op.get("input"));
            let request_type = format!("{operation}Request");
            let (request, takes_payload) = self.request(&request_type, input)?;
            requests.push_str(&request);
            if takes_payload {
                payload_operations.push(*operation);
            }
            let output_type = format!("{operation}Output");
            let output_shape = shape_ref(op.get("output"));
            outputs.push_str(&self.output(&output_type, output_shape, status)?);
            writeln!(variants, "    {operation}({request_type}),").map_err(|e| e.to_string())?;
            writeln!(
                decode_arms,
                "            {operation:?} => Request::{operation}({request_type}::decode(http)?),"
            )
            .map_err(|e| e.to_string())?;
            writeln!(
                audit_arms,
                "            Request::{operation}(r) => r.audit_parameters(),"
            )
            .map_err(|e| e.to_string())?;
            writeln!(name_arms, "            Request::{operation}(_) => {operation:?},").map_err(|e| e.to_string())?;
        }
        let structures = self.structures()?;
        let all_operations: Vec<&str> = operations
            .as_obj()
            .unwrap_or_default()
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        write!(
            self.out,
            "//! Generated by `cargo xtask codegen` from {MODEL} (botocore {botocore}) and, for the root element of XML\n\
             //! answers, {SMITHY_MODEL}. Do not edit.\n//!\n\
             //! S3's restXml wire: a request struct per served operation, decoded from its URI labels, query string,\n\
             //! headers and XML payload; an output struct per operation, written as its status, headers and XML body;\n\
             //! and [`Request`] over the served operations.\n\n\
             // One arm per member reads every structure alike, one-member structures included; attributes are read\n\
             // into the default structure before its elements.\n\
             #![allow(clippy::single_match, clippy::field_reassign_with_default)]\n\n\
             use std::collections::BTreeMap;\n\n\
             use crate::rest_xml::{{DecodeError, FromXml, HttpRequest, Reply, TimeFormat, Timestamp, ToXml, XmlNode, XmlWriter}};\n\
             use crate::shapes::SensitiveString;\n\n\
             /// The XML namespace of every answer.\n\
             pub const XML_NAMESPACE: &str = \"http://s3.amazonaws.com/doc/2006-03-01/\";\n\n\
             /// The service's name (`metadata.serviceFullName`).\n\
             pub const SERVICE_FULL_NAME: &str = {full_name:?};\n\n\
             /// Every operation of the model, served or not (metric labels).\n\
             pub const OPERATIONS: &[&str] = &{all_operations:?};\n\n\
             /// The served operations whose request carries an XML or text payload, read whole before decoding.\n\
             pub const PAYLOAD_OPERATIONS: &[&str] = &{payload_operations:?};\n\n\
             /// A decoded request of a served operation.\n\
             #[derive(Debug)]\n\
             pub enum Request {{\n{variants}}}\n\n\
             impl Request {{\n\
                 /// Decodes `operation`'s request; `None` for an operation keyhaven does not serve.\n\
                 pub fn decode(operation: &str, http: &HttpRequest<'_>) -> Result<Option<Self>, DecodeError> {{\n\
                     Ok(Some(match operation {{\n{decode_arms}            _ => return Ok(None),\n        }}))\n    }}\n\n\
                 pub fn operation_name(&self) -> &'static str {{\n        match self {{\n{name_arms}        }}\n    }}\n\n\
                 /// What the audit record keeps of the request: its bucket, key and query parameters, never a member\n\
                 /// the model marks sensitive.\n\
                 pub fn audit_parameters(&self) -> serde_json::Map<String, serde_json::Value> {{\n        match self {{\n{audit_arms}        }}\n    }}\n}}\n\n\
             {requests}{outputs}{structures}",
            botocore = crate::codegen::BOTOCORE_VERSION,
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The request struct of an operation and whether it reads a payload (XML or text) from the body.
    fn request(&mut self, type_name: &str, input: Option<&'m str>) -> Result<(String, bool), String> {
        let members = match input {
            Some(shape) => self.members(shape)?,
            None => Vec::new(),
        };
        let payload = match input {
            Some(shape) => self.payload(shape)?,
            None => None,
        };
        let mut fields = String::new();
        let mut decode = String::new();
        let mut audit = String::new();
        let mut takes_payload = false;
        for member in &members {
            let field = field_name(member.name);
            let is_payload = payload == Some(member.name);
            if member.streaming {
                // The object body: streamed to the service, never a member.
                continue;
            }
            let ty = self.rust_type(member.shape, true)?;
            let value = match member.location {
                Location::Label => format!("http.label({:?})", member.wire),
                Location::Query => format!("http.query({:?})?", member.wire),
                Location::Header => format!("http.header({:?})?", member.wire),
                Location::PrefixHeaders => format!("http.prefix_headers({:?})", member.wire.to_ascii_lowercase()),
                Location::Body if is_payload && ty == "String" => {
                    takes_payload = true;
                    "http.text_payload()?".into()
                }
                Location::Body if is_payload => {
                    takes_payload = true;
                    "http.xml_payload()?".into()
                }
                Location::Body => return Err(format!("{type_name}.{}: a body member outside a payload", member.name)),
            };
            writeln!(fields, "    pub {field}: Option<{ty}>,").map_err(|e| e.to_string())?;
            writeln!(decode, "            {field}: {value},").map_err(|e| e.to_string())?;
            let audited = match member.location {
                Location::Label if member.wire == "Bucket" => Some("bucketName"),
                Location::Label => Some("key"),
                Location::Query => Some(member.wire.as_str()),
                _ => None,
            };
            if let Some(audit_name) = audited.filter(|_| ty != "SensitiveString") {
                writeln!(
                    audit,
                    "        crate::rest_xml::audit(&mut out, {audit_name:?}, &self.{field});"
                )
                .map_err(|e| e.to_string())?;
            }
        }
        let code = format!(
            "#[derive(Debug, Default, Clone)]\npub struct {type_name} {{\n{fields}}}\n\n\
             impl {type_name} {{\n\
                 pub fn decode(http: &HttpRequest<'_>) -> Result<Self, DecodeError> {{\n\
                     let _ = http;\n        Ok(Self {{\n{decode}        }})\n    }}\n\n\
                 pub fn audit_parameters(&self) -> serde_json::Map<String, serde_json::Value> {{\n\
                     #[allow(unused_mut)]\n        let mut out = serde_json::Map::new();\n{audit}        out\n    }}\n}}\n\n"
        );
        Ok((code, takes_payload))
    }

    /// The output struct of an operation and how it is written as a reply.
    fn output(&mut self, type_name: &str, output: Option<&'m str>, status: i64) -> Result<String, String> {
        let members = match output {
            Some(shape) => self.members(shape)?,
            None => Vec::new(),
        };
        let payload = match output {
            Some(shape) => self.payload(shape)?,
            None => None,
        };
        let mut fields = String::new();
        let mut reply = String::new();
        let mut body_members = String::new();
        for member in &members {
            if member.streaming {
                // The object body: the service streams it into the reply.
                continue;
            }
            let field = field_name(member.name);
            let ty = self.rust_type(member.shape, false)?;
            writeln!(fields, "    pub {field}: Option<{ty}>,").map_err(|e| e.to_string())?;
            let line = match member.location {
                Location::Header if ty == "Timestamp" => format!(
                    "reply.header_time({:?}, &self.{field}, {});",
                    member.wire,
                    self.timestamp_format(member.shape, member.location)?
                ),
                Location::Header => format!("reply.header({:?}, &self.{field});", member.wire),
                Location::PrefixHeaders => {
                    format!(
                        "reply.prefix_headers({:?}, &self.{field});",
                        member.wire.to_ascii_lowercase()
                    )
                }
                Location::Body if payload == Some(member.name) && ty == "String" => {
                    format!("reply.text_payload(&self.{field});")
                }
                Location::Body if payload == Some(member.name) => {
                    let root = self.root_name(member.shape, &member.wire);
                    format!("reply.xml_payload({root:?}, XML_NAMESPACE, &self.{field});")
                }
                Location::Body => {
                    body_members.push_str(&self.write_member(member, &field)?);
                    continue;
                }
                Location::Label | Location::Query => {
                    return Err(format!("{type_name}.{}: an output member in the URI", member.name));
                }
            };
            writeln!(reply, "        {line}").map_err(|e| e.to_string())?;
        }
        if !body_members.is_empty() {
            let shape = output.ok_or("body members without an output shape")?;
            // Smithy's restXml: a top-level structure is the element its `xmlName` names, else its shape name
            // (GetBucketNotificationConfiguration answers `<NotificationConfiguration>`).
            let root = self.root_names.get(shape).map_or(shape, String::as_str);
            let body: Vec<&Member<'m>> = members.iter().filter(|m| m.location == Location::Body).collect();
            // An answer whose one member bears the root's name is that element (GetBucketLocation's
            // `<LocationConstraint>eu-west-1</LocationConstraint>`).
            if let [only] = body.as_slice()
                && only.wire == root
            {
                let field = field_name(only.name);
                writeln!(
                    reply,
                    "        let mut xml = XmlWriter::in_namespace(XML_NAMESPACE);\n        crate::rest_xml::write_member(&mut xml, {root:?}, &self.{field});\n        reply.xml_body(xml);"
                )
                .map_err(|e| e.to_string())?;
            } else {
                writeln!(
                reply,
                "        let mut xml = XmlWriter::in_namespace(XML_NAMESPACE);\n        xml.open({root:?});\n{body_members}        xml.close({root:?});\n        reply.xml_body(xml);"
            )
            .map_err(|e| e.to_string())?;
            }
        }
        Ok(format!(
            "#[derive(Debug, Default, Clone)]\npub struct {type_name} {{\n{fields}}}\n\n\
             impl {type_name} {{\n\
                 /// The status, headers and XML body of the answer.\n\
                 pub fn reply(&self) -> Reply {{\n\
                     #[allow(unused_mut)]\n        let mut reply = Reply::new({status});\n{reply}        reply\n    }}\n}}\n\n"
        ))
    }

    /// The root element of a structure payload: the member's wire name, or the shape's Smithy `xmlName`.
    fn root_name(&self, shape: &str, wire: &str) -> String {
        self.root_names.get(shape).cloned().unwrap_or_else(|| wire.to_string())
    }

    /// The line that writes one body member of a written structure.
    fn write_member(&self, member: &Member<'m>, field: &str) -> Result<String, String> {
        let wire = &member.wire;
        Ok(if self.kind(member.shape)? == "list" {
            let item = self.list_item_name(member.shape)?;
            if member.flattened {
                format!("        crate::rest_xml::write_flattened(&mut xml, {wire:?}, &self.{field});\n")
            } else {
                format!("        crate::rest_xml::write_wrapped(&mut xml, {wire:?}, {item:?}, &self.{field});\n")
            }
        } else {
            format!("        crate::rest_xml::write_member(&mut xml, {wire:?}, &self.{field});\n")
        })
    }

    /// For a member holding an enum (or a list of one), the check that its values are those the model allows: S3
    /// validates request documents against its schema and answers MalformedXML otherwise.
    fn enum_check(&self, member: &Member<'m>, field: &str) -> Result<Option<String>, String> {
        let (shape, function) = match self.kind(member.shape)? {
            "list" => {
                let item = self
                    .shape(member.shape)?
                    .get("member")
                    .and_then(|m| m.get("shape"))
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("{}: no member shape", member.shape))?;
                (item, "enum_values_allowed")
            }
            _ => (member.shape, "enum_value_allowed"),
        };
        if self.kind(shape)? != "string"
            || self.shape(shape)?.get("enum").is_none()
            || SERVICE_CHECKED_ENUMS.contains(&shape)
        {
            return Ok(None);
        }
        let name = field_name(shape).to_ascii_uppercase();
        Ok(Some(format!(
            "        if !crate::rest_xml::{function}(&out.{field}, enums::{name}) {{\n            return Err(DecodeError::MalformedXml);\n        }}\n"
        )))
    }

    fn list_item_name(&self, list: &str) -> Result<String, String> {
        let member = self
            .shape(list)?
            .get("member")
            .ok_or_else(|| format!("{list}: no member"))?;
        Ok(member
            .get("locationName")
            .and_then(Json::as_str)
            .unwrap_or("member")
            .to_string())
    }

    /// Every structure reached, with `FromXml` where a request reads it and `ToXml` where an answer writes it. All are
    /// reached before any is generated, so a structure both read and written is generated once, with both.
    fn structures(&mut self) -> Result<String, String> {
        loop {
            let before = (self.decoded.len(), self.written.len());
            for (decode, shapes) in [(true, self.decoded.clone()), (false, self.written.clone())] {
                for shape in shapes {
                    for member in self.members(shape)? {
                        self.rust_type(member.shape, decode)?;
                    }
                }
            }
            if before == (self.decoded.len(), self.written.len()) {
                break;
            }
        }
        let all: BTreeSet<&'m str> = self.decoded.union(&self.written).copied().collect();
        let structures: String = all
            .into_iter()
            .map(|shape| self.structure(shape))
            .collect::<Result<_, _>>()?;
        Ok(structures + &self.enum_values()?)
    }

    /// `enums`: the values the model allows for each enum shape a request carries.
    fn enum_values(&self) -> Result<String, String> {
        let mut out =
            String::from("/// The values the model allows for the enum shapes requests carry.\npub mod enums {\n");
        for shape in &self.enums {
            let values = self.shape(shape)?.strings("enum");
            let name = field_name(shape).to_ascii_uppercase();
            writeln!(out, "    /// `{shape}`.\n    pub const {name}: &[&str] = &{values:?};")
                .map_err(|e| e.to_string())?;
        }
        out.push_str("}\n");
        Ok(out)
    }

    fn structure(&mut self, shape: &'m str) -> Result<String, String> {
        let decode = self.decoded.contains(shape);
        let write = self.written.contains(shape);
        let name = type_name(shape);
        let members = self.members(shape)?;
        let mut fields = String::new();
        let mut read_arms = String::new();
        let mut write_lines = String::new();
        let mut read_attributes = String::new();
        // A request missing an element the model requires does not validate against S3's schema.
        let mut required_checks = String::new();
        let required = self.shape(shape)?.strings("required");
        // The element's attributes: the namespace the shape declares (`xmlns:xsi`), then attribute members.
        let mut attributes = String::from("let mut attributes: Vec<(&str, &str)> = Vec::new();\n");
        if let Some(namespace) = self.shape(shape)?.get("xmlNamespace") {
            let prefix = namespace.get("prefix").and_then(Json::as_str);
            let uri = namespace.get("uri").and_then(Json::as_str).unwrap_or_default();
            let declaration = prefix.map_or_else(|| "xmlns".to_string(), |p| format!("xmlns:{p}"));
            writeln!(attributes, "        attributes.push(({declaration:?}, {uri:?}));").map_err(|e| e.to_string())?;
        }
        for member in &members {
            if member.location != Location::Body {
                return Err(format!("{shape}.{}: a nested member bound to HTTP", member.name));
            }
            let field = field_name(member.name);
            let ty = self.rust_type(member.shape, decode)?;
            writeln!(fields, "    pub {field}: Option<{ty}>,").map_err(|e| e.to_string())?;
            let wire = &member.wire;
            if member.attribute {
                if ty != "String" {
                    return Err(format!(
                        "{shape}.{}: an XML attribute that is not a string",
                        member.name
                    ));
                }
                let local = wire.rsplit(':').next().unwrap_or(wire);
                writeln!(
                    read_attributes,
                    "        out.{field} = crate::rest_xml::attribute(node, {local:?});"
                )
                .map_err(|e| e.to_string())?;
                writeln!(
                    attributes,
                    "        if let Some(value) = &self.{field} {{\n            attributes.push(({wire:?}, value));\n        }}"
                )
                .map_err(|e| e.to_string())?;
                continue;
            }
            let arm = if self.kind(member.shape)? == "list" && member.flattened {
                format!("{wire:?} => crate::rest_xml::push(&mut out.{field}, child)?,")
            } else if self.kind(member.shape)? == "list" {
                let item = self.list_item_name(member.shape)?;
                format!("{wire:?} => out.{field} = Some(crate::rest_xml::read_wrapped(child, {item:?})?),")
            } else {
                format!("{wire:?} => out.{field} = Some(FromXml::from_xml(child)?),")
            };
            writeln!(read_arms, "                {arm}").map_err(|e| e.to_string())?;
            if decode && let Some(check) = self.enum_check(member, &field)? {
                required_checks.push_str(&check);
            }
            if required.contains(&member.name) {
                writeln!(
                    required_checks,
                    "        if out.{field}.is_none() {{\n            return Err(DecodeError::MalformedXml);\n        }}"
                )
                .map_err(|e| e.to_string())?;
            }
            write_lines.push_str(&self.write_member(member, &field)?.replace("&mut xml", "xml"));
        }
        let mut code = format!("#[derive(Debug, Default, Clone)]\npub struct {name} {{\n{fields}}}\n\n");
        if decode && read_arms.is_empty() && read_attributes.is_empty() {
            // A structure without members (EventBridgeConfiguration): its presence is all it says.
            write!(
                code,
                "impl FromXml for {name} {{\n    fn from_xml(_: XmlNode<'_, '_>) -> Result<Self, DecodeError> {{\n        \
                 Ok(Self::default())\n    }}\n}}\n\n"
            )
            .map_err(|e| e.to_string())?;
        } else if decode {
            write!(
                code,
                "impl FromXml for {name} {{\n\
                     fn from_xml(node: XmlNode<'_, '_>) -> Result<Self, DecodeError> {{\n\
                         #[allow(unused_mut)]\n        let mut out = Self::default();\n{read_attributes}\
                         for child in crate::rest_xml::elements(node) {{\n\
                             match child.tag_name().name() {{\n{read_arms}                _ => {{}}\n            }}\n        }}\n\
                         {required_checks}Ok(out)\n    }}\n}}\n\n"
            )
            .map_err(|e| e.to_string())?;
        }
        let open = if attributes.lines().count() > 1 {
            format!("{attributes}        xml.open_with(name, &attributes);")
        } else {
            "xml.open(name);".to_string()
        };
        if write {
            write!(
                code,
                "impl ToXml for {name} {{\n\
                     fn write_xml(&self, name: &str, xml: &mut XmlWriter) {{\n\
                         {open}\n{write_lines}        xml.close(name);\n    }}\n}}\n\n"
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(code)
    }
}

fn type_name(shape: &str) -> String {
    shape.chars().filter(char::is_ascii_alphanumeric).collect()
}

fn field_name(member: &str) -> String {
    crate::codegen::field_name(member)
}
