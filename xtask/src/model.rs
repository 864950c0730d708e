//! The part of a botocore `service-2.json` the generator understands.
//!
//! Every trait on a shape is either understood or recorded in `Shape::unsupported`, so a future
//! model that uses something new fails generation loudly instead of being silently mis-generated.

use crate::json::Json;

#[derive(Debug)]
pub struct Model {
    pub protocol: String,
    pub target_prefix: String,
    pub full_name: String,
    /// awsQuery: the `Version` every request carries and the XML namespace of every response.
    pub api_version: String,
    pub xml_namespace: String,
    pub operations: Vec<Operation>,
    /// In model order (botocore sorts them by name).
    pub shapes: Vec<Shape>,
}

#[derive(Debug)]
pub struct Operation {
    pub name: String,
    pub input: Option<String>,
    pub output: Option<String>,
    /// awsQuery: the element inside `<OpResponse>` that holds the output's members.
    pub result_wrapper: Option<String>,
    /// The exception shapes the operation declares it may answer.
    pub errors: Vec<String>,
    /// The model's `authtype: none`: the operation takes no signature.
    pub unsigned: bool,
}

#[derive(Debug)]
pub struct Shape {
    pub name: String,
    pub kind: Kind,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<String>,
    pub values: Vec<String>,
    pub sensitive: bool,
    /// For `exception` shapes: the wire code, HTTP status and fault side of the error.
    pub error: Option<ErrorTrait>,
    /// Traits this generator does not implement, as `"trait"` or `"Member.trait"`.
    pub unsupported: Vec<String>,
}

/// The `error` trait of an exception shape; absent parts are `None`/`false` as in the model.
#[derive(Debug)]
pub struct ErrorTrait {
    pub code: Option<String>,
    pub http_status: Option<i64>,
    pub sender_fault: bool,
}

#[derive(Debug)]
pub enum Kind {
    String,
    Integer,
    Long,
    Boolean,
    Double,
    Float,
    Timestamp,
    Blob,
    Document,
    List { member: String },
    Map { key: String, value: String },
    Structure { members: Vec<Member> },
}

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub shape: String,
    pub required: bool,
    /// `sensitive` on the member rather than its shape. Read for audit redaction only: the wire
    /// generator still rejects it as unsupported, since it would need a `SensitiveString` field.
    pub sensitive: bool,
}

/// Shape traits that carry no wire meaning for awsJson and awsQuery (documentation), that are
/// read separately (`exception`, `error`) or that every generated member already honours (`box`:
/// all members are `Option`). XML traits (`locationName`, `flattened`, `xmlNamespace`, …) are
/// deliberately absent: the IAM and STS models use none, so a model that does fails generation.
const IGNORED_SHAPE_TRAITS: &[&str] = &[
    "type",
    "documentation",
    "members",
    "required",
    "member",
    "key",
    "value",
    "min",
    "max",
    "pattern",
    "enum",
    "sensitive",
    "box",
    "exception",
    "error",
    "fault",
    "deprecated",
    "deprecatedMessage",
    "union",
    "document",
    "retryable",
];

/// Member traits without wire meaning for awsJson. `idempotencyToken` is filled in by the SDKs.
const IGNORED_MEMBER_TRAITS: &[&str] = &[
    "shape",
    "documentation",
    "deprecated",
    "deprecatedMessage",
    "box",
    "idempotencyToken",
    "contextParam",
];

impl Model {
    pub fn parse(text: &str) -> Result<Model, String> {
        let json = Json::parse(text)?;
        let metadata = json.get("metadata").ok_or("model has no metadata")?;
        let meta = |key: &str| metadata.get(key).and_then(Json::as_str).unwrap_or_default().to_owned();
        let operations = json
            .get("operations")
            .and_then(Json::as_obj)
            .ok_or("model has no operations")?
            .iter()
            .map(|(name, op)| Operation {
                name: name.clone(),
                input: shape_ref(op.get("input")),
                output: shape_ref(op.get("output")),
                result_wrapper: op
                    .get("output")
                    .and_then(|o| o.get("resultWrapper"))
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                errors: op
                    .get("errors")
                    .and_then(Json::as_arr)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|e| shape_ref(Some(e)))
                    .collect(),
                unsigned: op.get("authtype").and_then(Json::as_str) == Some("none"),
            })
            .collect();
        let shapes = json
            .get("shapes")
            .and_then(Json::as_obj)
            .ok_or("model has no shapes")?
            .iter()
            .map(|(name, shape)| parse_shape(name, shape))
            .collect::<Result<_, _>>()?;
        Ok(Model {
            protocol: meta("protocol"),
            target_prefix: meta("targetPrefix"),
            full_name: meta("serviceFullName"),
            api_version: meta("apiVersion"),
            xml_namespace: meta("xmlNamespace"),
            operations,
            shapes,
        })
    }
}

fn shape_ref(json: Option<&Json>) -> Option<String> {
    json.and_then(|r| r.get("shape"))
        .and_then(Json::as_str)
        .map(str::to_owned)
}

fn parse_shape(name: &str, json: &Json) -> Result<Shape, String> {
    let ty = json
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("shape {name} has no type"))?;
    let target = |key: &str| shape_ref(json.get(key)).ok_or_else(|| format!("shape {name} has no {key}"));
    let mut unsupported = Vec::new();
    let kind = match ty {
        "string" => Kind::String,
        "integer" => Kind::Integer,
        "long" => Kind::Long,
        "boolean" => Kind::Boolean,
        "double" => Kind::Double,
        "float" => Kind::Float,
        "timestamp" => Kind::Timestamp,
        "blob" => Kind::Blob,
        "list" => Kind::List {
            member: target("member")?,
        },
        "map" => Kind::Map {
            key: target("key")?,
            value: target("value")?,
        },
        "structure" if json.get("document").and_then(Json::as_bool) == Some(true) => Kind::Document,
        "structure" => {
            let required = json.strings("required");
            let mut members = Vec::new();
            for (member, spec) in json.get("members").and_then(Json::as_obj).unwrap_or_default() {
                for (key, _) in spec.as_obj().unwrap_or_default() {
                    if !IGNORED_MEMBER_TRAITS.contains(&key.as_str()) {
                        unsupported.push(format!("{member}.{key}"));
                    }
                }
                let shape = shape_ref(Some(spec)).ok_or_else(|| format!("member {name}.{member} has no shape"))?;
                members.push(Member {
                    name: member.clone(),
                    shape,
                    required: required.contains(&member.as_str()),
                    sensitive: spec.get("sensitive").and_then(Json::as_bool) == Some(true),
                });
            }
            Kind::Structure { members }
        }
        other => {
            unsupported.push(format!("type {other}"));
            Kind::Document
        }
    };
    for (key, _) in json.as_obj().unwrap_or_default() {
        if !IGNORED_SHAPE_TRAITS.contains(&key.as_str()) {
            unsupported.push(key.clone());
        }
    }
    let mut bound = |key: &str| {
        let value = json.get(key)?;
        let bound = value.as_i64();
        if bound.is_none() {
            unsupported.push(format!("non-integer {key}"));
        }
        bound
    };
    let (min, max) = (bound("min"), bound("max"));
    Ok(Shape {
        name: name.to_owned(),
        kind,
        min,
        max,
        pattern: json.get("pattern").and_then(Json::as_str).map(str::to_owned),
        values: json.strings("enum").into_iter().map(str::to_owned).collect(),
        sensitive: json.get("sensitive").and_then(Json::as_bool) == Some(true),
        error: (json.get("exception").and_then(Json::as_bool) == Some(true)).then(|| {
            let error = json.get("error");
            ErrorTrait {
                code: error
                    .and_then(|e| e.get("code"))
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                http_status: error.and_then(|e| e.get("httpStatusCode")).and_then(Json::as_i64),
                sender_fault: error.and_then(|e| e.get("senderFault")).and_then(Json::as_bool) == Some(true),
            }
        }),
        unsupported,
    })
}
