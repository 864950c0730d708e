//! `cargo xtask codegen`: writes `crates/keyhaven-api/src/generated/` from the vendored botocore
//! models of the awsJson 1.1 and awsQuery services.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::model::{Kind, Model, Shape};
use crate::pattern;
use crate::redaction::{self, Redaction};

pub const BOTOCORE_VERSION: &str = "1.43.11";
pub const OUTPUT_DIR: &str = "crates/keyhaven-api/src/generated";

/// One generated service: the module name under `generated/` and its model, relative to the root.
pub struct Service {
    pub module: &'static str,
    pub model: &'static str,
    /// When set, only these operations (and the shapes they reach) are generated: for services of
    /// which keyhaven serves one part, such as Parameter Store out of Systems Manager.
    pub operations: Option<&'static [&'static str]>,
}

impl Service {
    const fn new(module: &'static str, model: &'static str) -> Self {
        Self {
            module,
            model,
            operations: None,
        }
    }

    const fn only(module: &'static str, model: &'static str, operations: &'static [&'static str]) -> Self {
        Self {
            module,
            model,
            operations: Some(operations),
        }
    }
}

/// The services to generate, awsJson or awsQuery as their models say; adding one is one line here.
pub const SERVICES: &[Service] = &[
    Service::new("kms", "models/kms/2014-11-01/service-2.json"),
    Service::new("iam", "models/iam/2010-05-08/service-2.json"),
    Service::new("sts", "models/sts/2011-06-15/service-2.json"),
    Service::new("secretsmanager", "models/secretsmanager/2017-10-17/service-2.json"),
    Service::only(
        "cloudtrail",
        "models/cloudtrail/2013-11-01/service-2.json",
        &[
            "CreateTrail",
            "UpdateTrail",
            "DeleteTrail",
            "GetTrail",
            "DescribeTrails",
            "ListTrails",
            "GetTrailStatus",
            "StartLogging",
            "StopLogging",
            "PutEventSelectors",
            "GetEventSelectors",
            "PutInsightSelectors",
            "GetInsightSelectors",
            "AddTags",
            "RemoveTags",
            "ListTags",
            "LookupEvents",
            "ListPublicKeys",
        ],
    ),
    Service::only(
        "logs",
        "models/logs/2014-03-28/service-2.json",
        &[
            "CreateLogGroup",
            "DeleteLogGroup",
            "DescribeLogGroups",
            "AssociateKmsKey",
            "DisassociateKmsKey",
            "PutRetentionPolicy",
            "DeleteRetentionPolicy",
            "CreateLogStream",
            "DeleteLogStream",
            "DescribeLogStreams",
            "PutLogEvents",
            "GetLogEvents",
            "FilterLogEvents",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
            "TagLogGroup",
            "UntagLogGroup",
            "ListTagsLogGroup",
        ],
    ),
    Service::only(
        "ssm",
        "models/ssm/2014-11-06/service-2.json",
        &[
            "PutParameter",
            "GetParameter",
            "GetParameters",
            "GetParametersByPath",
            "GetParameterHistory",
            "DescribeParameters",
            "DeleteParameter",
            "DeleteParameters",
            "LabelParameterVersion",
            "UnlabelParameterVersion",
            "AddTagsToResource",
            "RemoveTagsFromResource",
            "ListTagsForResource",
            "GetServiceSetting",
            "UpdateServiceSetting",
            "ResetServiceSetting",
        ],
    ),
];

/// A generated file: its path relative to the workspace root and its (rustfmt-formatted) text.
pub struct File {
    pub path: String,
    pub contents: String,
}

/// Every generated file, in memory.
pub fn generate(root: &Path) -> Result<Vec<File>, String> {
    let mut files = Vec::new();
    let mut modules = String::new();
    let mut redaction = Redaction::default();
    for service in SERVICES {
        let text =
            std::fs::read_to_string(root.join(service.model)).map_err(|e| format!("reading {}: {e}", service.model))?;
        let mut model = Model::parse(&text).map_err(|e| format!("{}: {e}", service.model))?;
        // Every operation of the model is redacted, served or not, so that none is audited in clear.
        redaction
            .add(service.module, &model)
            .map_err(|e| format!("{}: {e}", service.model))?;
        if let Some(wanted) = service.operations {
            model.operations.retain(|op| wanted.contains(&op.name.as_str()));
        }
        apply_enum_order(root, service.module, &mut model)?;
        let code = Generator::new(service, &model)?
            .module()
            .map_err(|e| format!("{}: {e}", service.model))?;
        files.push(File {
            path: format!("{OUTPUT_DIR}/{}.rs", service.module),
            contents: rustfmt(root, &code)?,
        });
        writeln!(modules, "pub mod {};", service.module).map_err(|e| e.to_string())?;
    }
    files.push(File {
        path: format!("{OUTPUT_DIR}/{}.rs", redaction::MODULE),
        contents: rustfmt(root, &redaction.module()?)?,
    });
    writeln!(modules, "pub mod {};", redaction::MODULE).map_err(|e| e.to_string())?;
    files.push(File {
        path: format!("{OUTPUT_DIR}/{}.rs", crate::s3_routes::MODULE),
        contents: rustfmt(root, &crate::s3_routes::generate(root)?)?,
    });
    writeln!(modules, "pub mod {};", crate::s3_routes::MODULE).map_err(|e| e.to_string())?;
    files.push(File {
        path: format!("{OUTPUT_DIR}/{}.rs", crate::rest_xml::MODULE),
        contents: rustfmt(root, &crate::rest_xml::generate(root)?)?,
    });
    writeln!(modules, "pub mod {};", crate::rest_xml::MODULE).map_err(|e| e.to_string())?;
    let index = format!(
        "//! Generated by `cargo xtask codegen` from the botocore {BOTOCORE_VERSION} models in models/. Do not edit.\n\
         //!\n//! One module of wire shapes per service: awsJson 1.1 (KMS) or awsQuery (IAM, STS); `redaction`, the\n\
         //! request members of every operation that never reach the audit log; `s3_routes`, S3's request routes; and `s3`,\n\
         //! S3's restXml shapes.\n\n{modules}"
    );
    files.push(File {
        path: format!("{OUTPUT_DIR}/mod.rs"),
        contents: rustfmt(root, &index)?,
    });
    files.push(File {
        path: crate::authorization::OUTPUT.to_string(),
        contents: rustfmt(root, &crate::authorization::generate(root)?)?,
    });
    Ok(files)
}

/// Puts the values of the enums `models/enum-order.json` lists for the service in the order AWS's
/// validation messages list them (recorded), the model's newer values after them.
fn apply_enum_order(root: &Path, service: &str, model: &mut Model) -> Result<(), String> {
    const ORDER: &str = "models/enum-order.json";
    let text = std::fs::read_to_string(root.join(ORDER)).map_err(|e| format!("reading {ORDER}: {e}"))?;
    let orders = crate::json::Json::parse(&text).map_err(|e| format!("{ORDER}: {e}"))?;
    let Some(shapes) = orders.get(service).and_then(crate::json::Json::as_obj) else {
        return Ok(());
    };
    for (name, recorded) in shapes {
        let shape = model
            .shapes
            .iter_mut()
            .find(|s| s.name == *name)
            .ok_or_else(|| format!("{ORDER}: {service} has no shape {name}"))?;
        let recorded: Vec<&str> = recorded
            .as_arr()
            .unwrap_or_default()
            .iter()
            .filter_map(crate::json::Json::as_str)
            .filter(|v| shape.values.iter().any(|m| m == v))
            .collect();
        let newer: Vec<String> = shape
            .values
            .iter()
            .filter(|v| !recorded.contains(&v.as_str()))
            .cloned()
            .collect();
        shape.values = recorded.into_iter().map(str::to_string).chain(newer).collect();
    }
    Ok(())
}

/// The problems with the committed generated files: each differing, missing or extra file.
pub fn stale(root: &Path, files: &[File]) -> Vec<String> {
    let mut problems: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(root.join(&f.path)).ok().as_deref() != Some(f.contents.as_str()))
        .map(|f| format!("{} differs from what the models produce", f.path))
        .collect();
    let expected: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for entry in std::fs::read_dir(root.join(OUTPUT_DIR)).into_iter().flatten().flatten() {
        let path = format!("{OUTPUT_DIR}/{}", entry.file_name().to_string_lossy());
        if path.ends_with(".rs") && !expected.contains(path.as_str()) {
            problems.push(format!("{path} is not produced by the generator"));
        }
    }
    problems
}

/// Formats with the workspace's rustfmt settings, so `cargo fmt` leaves generated files alone.
fn rustfmt(root: &Path, code: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("rustfmt has no stdin")?
        .write_all(code.as_bytes())
        .map_err(|e| format!("writing to rustfmt: {e}"))?;
    let output = child.wait_with_output().map_err(|e| format!("running rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt rejected the generated code: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// Names the generated module itself defines or imports, which structures must not shadow.
const RESERVED_TYPES: &[&str] = &[
    "Request",
    "Response",
    "Option",
    "Result",
    "String",
    "Vec",
    "Box",
    "Some",
    "None",
    "Ok",
    "Err",
    "Default",
    "Clone",
    "Debug",
    "Self",
    "BTreeMap",
    "Blob",
    "Timestamp",
    "SensitiveString",
    "Validate",
    "Validator",
    "Check",
    "Rule",
    "ListRule",
    "MapRule",
    "Pattern",
    "Serialize",
    "Deserialize",
];

const RESERVED_STATICS: &[&str] = &[
    "OPERATIONS",
    "TARGET_PREFIX",
    "API_VERSION",
    "XML_NAMESPACE",
    "SERVICE_FULL_NAME",
    "ERRORS",
    "DECLARED_ERRORS",
    "UNSIGNED_OPERATIONS",
];

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

struct Generator<'m> {
    service: &'static Service,
    model: &'m Model,
    /// awsQuery rather than awsJson.
    query: bool,
    shapes: HashMap<&'m str, &'m Shape>,
    /// Shapes reachable from any operation's input or output, in model order.
    reachable: Vec<&'m Shape>,
    /// Shapes a request can contain.
    in_input: HashSet<&'m str>,
    /// Shapes a response can contain.
    in_output: HashSet<&'m str>,
    /// Input shapes with something to validate (constraints, required members, or such shapes inside).
    checked: HashSet<&'m str>,
    type_names: HashMap<&'m str, String>,
    /// `(structure, member)` pairs stored as `Box` because they close a cycle of structures.
    boxed: HashSet<(&'m str, &'m str)>,
    /// Java pattern → its `regex` translation or why there is none.
    translations: HashMap<&'m str, Result<String, String>>,
    imports: BTreeSet<&'static str>,
    uses_map: bool,
    /// Rule and pattern statics, in order of first use.
    statics: Vec<String>,
    static_names: HashMap<&'m str, String>,
    pattern_names: HashMap<&'m str, String>,
}

impl<'m> Generator<'m> {
    fn new(service: &'static Service, model: &'m Model) -> Result<Self, String> {
        let query = match model.protocol.as_str() {
            "json" => false,
            "query" => true,
            other => {
                return Err(format!(
                    "{}: protocol {other} is neither awsJson nor awsQuery",
                    service.model
                ));
            }
        };
        // The runtime names the result element after the operation, as IAM and STS all do.
        if let Some(op) = model
            .operations
            .iter()
            .find(|op| query && op.output.is_some() && op.result_wrapper != Some(format!("{}Result", op.name)))
        {
            return Err(format!(
                "{}: operation {} has an unusual resultWrapper",
                service.model, op.name
            ));
        }
        let shapes = model.shapes.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut generator = Generator {
            service,
            model,
            query,
            shapes,
            reachable: Vec::new(),
            in_input: HashSet::new(),
            in_output: HashSet::new(),
            checked: HashSet::new(),
            type_names: HashMap::new(),
            boxed: HashSet::new(),
            translations: HashMap::new(),
            imports: BTreeSet::new(),
            uses_map: false,
            statics: Vec::new(),
            static_names: HashMap::new(),
            pattern_names: HashMap::new(),
        };
        generator.analyse()?;
        Ok(generator)
    }

    fn shape(&self, name: &str) -> Result<&'m Shape, String> {
        self.shapes
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown shape {name}"))
    }

    /// Shapes referenced directly by `shape`.
    fn children(shape: &'m Shape) -> Vec<&'m str> {
        match &shape.kind {
            Kind::List { member } => vec![member.as_str()],
            Kind::Map { key, value } => vec![key.as_str(), value.as_str()],
            Kind::Structure { members } => members.iter().map(|m| m.shape.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn reach(&self, roots: impl Iterator<Item = &'m str>) -> Result<HashSet<&'m str>, String> {
        let mut seen = HashSet::new();
        let mut pending: Vec<&str> = roots.collect();
        while let Some(name) = pending.pop() {
            if seen.insert(name) {
                pending.extend(Self::children(self.shape(name)?));
            }
        }
        Ok(seen)
    }

    fn analyse(&mut self) -> Result<(), String> {
        let ops = &self.model.operations;
        self.in_input = self.reach(ops.iter().filter_map(|op| op.input.as_deref()))?;
        self.in_output = self.reach(ops.iter().filter_map(|op| op.output.as_deref()))?;
        self.reachable = self
            .model
            .shapes
            .iter()
            .filter(|s| self.in_input.contains(s.name.as_str()) || self.in_output.contains(s.name.as_str()))
            .collect();

        for shape in &self.reachable {
            check_supported(shape, &self.shapes, self.query)?;
            if let Some(java) = &shape.pattern {
                self.translations
                    .entry(java.as_str())
                    .or_insert_with(|| pattern::translate(java));
            }
        }

        let mut taken = HashSet::new();
        for shape in self
            .reachable
            .iter()
            .filter(|s| matches!(s.kind, Kind::Structure { .. }))
        {
            let name = type_name(&shape.name);
            if !taken.insert(name.clone()) {
                return Err(format!("two structures are both named {name} in Rust"));
            }
            self.type_names.insert(&shape.name, name);
        }

        // Only structures held directly (not through a list or map) need a `Box` to break a cycle.
        let direct = |shape: &'m Shape| -> Vec<&'m str> {
            match &shape.kind {
                Kind::Structure { members } => members
                    .iter()
                    .map(|m| m.shape.as_str())
                    .filter(|t| {
                        self.shapes
                            .get(t)
                            .is_some_and(|s| matches!(s.kind, Kind::Structure { .. }))
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        for shape in &self.reachable {
            if let Kind::Structure { members } = &shape.kind {
                for member in members {
                    let mut seen = HashSet::new();
                    let mut pending = direct(self.shape(&member.shape)?);
                    while let Some(next) = pending.pop() {
                        if next == shape.name {
                            self.boxed.insert((&shape.name, &member.name));
                            break;
                        }
                        if seen.insert(next) {
                            pending.extend(direct(self.shape(next)?));
                        }
                    }
                    if member.shape == shape.name {
                        self.boxed.insert((&shape.name, &member.name));
                    }
                }
            }
        }

        // Grow the set of shapes with something to check until nothing changes (structures recurse).
        loop {
            let mut grew = false;
            for shape in &self.reachable {
                let name = shape.name.as_str();
                if !self.in_input.contains(name) || self.checked.contains(name) {
                    continue;
                }
                let bounded = shape.min.is_some() || shape.max.is_some();
                let needs = match &shape.kind {
                    Kind::String | Kind::Integer | Kind::Long | Kind::Blob => {
                        bounded || !shape.values.is_empty() || self.enforced_pattern(shape).is_some()
                    }
                    Kind::List { member } => bounded || self.checked.contains(member.as_str()),
                    Kind::Map { key, value } => {
                        bounded || self.checked.contains(key.as_str()) || self.checked.contains(value.as_str())
                    }
                    Kind::Structure { members } => members
                        .iter()
                        .any(|m| m.required || self.checked.contains(m.shape.as_str())),
                    _ => false,
                };
                if needs {
                    self.checked.insert(name);
                    grew = true;
                }
            }
            if !grew {
                return Ok(());
            }
        }
    }

    /// The Java pattern of `shape` if the `regex` crate can enforce it.
    fn enforced_pattern(&self, shape: &'m Shape) -> Option<(&'m str, String)> {
        let java = shape.pattern.as_deref()?;
        match self.translations.get(java) {
            Some(Ok(rust)) => Some((java, rust.clone())),
            _ => None,
        }
    }

    fn module(mut self) -> Result<String, String> {
        let mut operations = String::new();
        for op in &self.model.operations {
            if !is_identifier(&op.name) {
                return Err(format!("operation {} is not a Rust identifier", op.name));
            }
            write!(operations, "    {}", op.name).map_err(|e| e.to_string())?;
            if let Some(input) = &op.input {
                write!(operations, "({})", self.struct_name(input)?).map_err(|e| e.to_string())?;
            }
            if let Some(output) = op.output.as_deref().filter(|_| self.query) {
                write!(operations, " -> {}", self.struct_name(output)?).map_err(|e| e.to_string())?;
            }
            operations.push_str(",\n");
        }

        let mut structures = String::new();
        let mut validations = String::new();
        let mut checkable = Vec::new();
        for shape in self.reachable.clone() {
            let Kind::Structure { members } = &shape.kind else {
                continue;
            };
            let type_name = self.struct_name(&shape.name)?;
            let mut fields = String::new();
            let mut checks = String::new();
            let mut field_names = HashSet::new();
            for member in members {
                let field = field_name(&member.name);
                if !field_names.insert(field.clone()) {
                    return Err(format!("two members of {} are both named {field} in Rust", shape.name));
                }
                let boxed = self.boxed.contains(&(shape.name.as_str(), member.name.as_str()));
                let ty = self.rust_type(&member.shape, boxed)?;
                writeln!(fields, "        {:?} {field}: {ty},", member.name).map_err(|e| e.to_string())?;
                let path = lower_first(&member.name);
                if self.checked.contains(member.shape.as_str()) {
                    let rule = self.rule_ref(&member.shape)?;
                    writeln!(
                        checks,
                        "        v.member({path:?}, &self.{field}, {}, {rule});",
                        member.required
                    )
                } else if member.required {
                    writeln!(checks, "        v.required({path:?}, self.{field}.is_some());")
                } else {
                    Ok(())
                }
                .map_err(|e| e.to_string())?;
            }
            // awsQuery structures say which way they travel, so only that direction's code exists.
            let direction = match (
                self.in_input.contains(shape.name.as_str()),
                self.in_output.contains(shape.name.as_str()),
            ) {
                _ if !self.query => "",
                (true, true) => "both ",
                (true, false) => "input ",
                (false, _) => "output ",
            };
            if fields.is_empty() {
                writeln!(structures, "    {direction}{type_name} {{}}")
            } else {
                writeln!(structures, "    {direction}{type_name} {{\n{fields}    }}")
            }
            .map_err(|e| e.to_string())?;
            if self.in_input.contains(shape.name.as_str()) {
                self.imports.insert("Validate");
                if checks.is_empty() {
                    writeln!(validations, "impl Validate for {type_name} {{}}\n")
                } else {
                    self.imports.insert("Validator");
                    writeln!(
                        validations,
                        "impl Validate for {type_name} {{\n    fn check_members(&self, v: &mut Validator) {{\n{checks}    }}\n}}\n"
                    )
                }
                .map_err(|e| e.to_string())?;
                checkable.push(type_name);
            }
        }

        let mut out = String::new();
        let model_path = self.service.model;
        let summary = if self.query {
            "(awsQuery): a struct per structure shape that an\n\
             //! operation's input or output reaches, form decoding and model validation for everything\n\
             //! a request can contain, XML encoding for everything a response can contain, [`Request`]\n\
             //! and [`Response`] over every operation, and the modeled errors' HTTP statuses."
        } else {
            "(awsJson 1.1): a struct per structure shape that an\n\
             //! operation's input or output reaches, model validation for everything a request can\n\
             //! contain, and [`Request`] over every operation."
        };
        writeln!(
            out,
            "//! Generated by `cargo xtask codegen` from {model_path} (botocore {BOTOCORE_VERSION}). Do not edit.\n\
             //!\n\
             //! Wire shapes of {} {summary}",
            self.model.full_name
        )
        .map_err(|e| e.to_string())?;
        let mut unenforced: Vec<String> = self
            .reachable
            .iter()
            .filter(|s| self.in_input.contains(s.name.as_str()))
            .filter_map(|s| match self.translations.get(s.pattern.as_deref()?) {
                Some(Err(why)) => Some(format!("//! - `{}` ({why})", s.name)),
                _ => None,
            })
            .collect();
        unenforced.dedup();
        if !unenforced.is_empty() {
            writeln!(
                out,
                "//!\n//! Patterns the `regex` crate cannot express, left unchecked:\n{}",
                unenforced.join("\n")
            )
            .map_err(|e| e.to_string())?;
        }
        if self
            .type_names
            .values()
            .any(|n| n.contains('_') || n.starts_with(|c: char| c.is_ascii_lowercase()))
        {
            out.push_str("\n#![allow(non_camel_case_types)]\n");
        }
        out.push('\n');
        if self.uses_map {
            out.push_str("use std::collections::BTreeMap;\n\n");
        }
        if self.query {
            out.push_str("use crate::query;\n");
        }
        let imports: Vec<&str> = std::iter::once("self").chain(self.imports.iter().copied()).collect();
        writeln!(out, "use crate::shapes::{{{}}};\n", imports.join(", ")).map_err(|e| e.to_string())?;
        let protocol = if self.query {
            writeln!(
                out,
                "/// The `Version` every request names (`metadata.apiVersion`).\n\
                 pub const API_VERSION: &str = {:?};\n\n\
                 /// The namespace of every response and modeled error (`metadata.xmlNamespace`).\n\
                 pub const XML_NAMESPACE: &str = {:?};\n",
                self.model.api_version, self.model.xml_namespace
            )
            .map_err(|e| e.to_string())?;
            "query"
        } else {
            writeln!(
                out,
                "/// The `X-Amz-Target` prefix of the service (`metadata.targetPrefix`).\n\
                 pub const TARGET_PREFIX: &str = {:?};\n",
                self.model.target_prefix
            )
            .map_err(|e| e.to_string())?;
            "shapes"
        };
        writeln!(
            out,
            "/// The service's name (`metadata.serviceFullName`).\n\
             pub const SERVICE_FULL_NAME: &str = {:?};\n",
            self.model.full_name
        )
        .map_err(|e| e.to_string())?;
        writeln!(out, "{protocol}::operations! {{\n{operations}}}\n").map_err(|e| e.to_string())?;
        writeln!(out, "{protocol}::structures! {{\n{structures}}}\n").map_err(|e| e.to_string())?;
        out.push_str(&validations);
        writeln!(
            out,
            "shapes::checked_structures!({:?}: {});\n",
            self.service.module,
            checkable.join(", ")
        )
        .map_err(|e| e.to_string())?;
        out.push_str(&self.declared_errors()?);
        if self.query {
            out.push_str(&self.error_table()?);
        }
        for code in &self.statics {
            out.push_str(code);
            out.push('\n');
        }
        if !self.pattern_names.is_empty() {
            let mut names: Vec<&String> = self.pattern_names.values().collect();
            names.sort();
            let list: Vec<String> = names.iter().map(|n| format!("&{n}")).collect();
            writeln!(
                out,
                "\n#[cfg(test)]\n#[test]\nfn patterns_compile() {{\n    shapes::assert_patterns_compile(&[{}]);\n}}",
                list.join(", ")
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(out)
    }

    /// `DECLARED_ERRORS`: per operation, by name, the codes of the errors it declares, as they go on the wire
    /// (awsQuery: the `error` trait's `code`, else the shape's name; awsJson: always the shape's name), sorted.
    fn declared_errors(&self) -> Result<String, String> {
        let mut operations: Vec<&crate::model::Operation> = self.model.operations.iter().collect();
        operations.sort_by(|a, b| a.name.cmp(&b.name));
        let mut table = String::new();
        for op in operations {
            let mut codes = op
                .errors
                .iter()
                .map(|name| {
                    let shape = self.shape(name)?;
                    let error = shape
                        .error
                        .as_ref()
                        .ok_or_else(|| format!("{} declares {name}, which is not an exception", op.name))?;
                    let code = error.code.as_deref().filter(|_| self.query).unwrap_or(name);
                    Ok(format!("{code:?}"))
                })
                .collect::<Result<Vec<String>, String>>()?;
            codes.sort();
            codes.dedup();
            writeln!(table, "    ({:?}, &[{}]),", op.name, codes.join(", ")).map_err(|e| e.to_string())?;
        }
        let unsigned: Vec<String> = self
            .model
            .operations
            .iter()
            .filter(|op| op.unsigned)
            .map(|op| format!("{:?}", op.name))
            .collect();
        Ok(format!(
            "/// Per operation, by name: the codes of the errors its model declares, sorted.\n\
             pub const DECLARED_ERRORS: &[(&str, &[&str])] = &[\n{table}];\n\n\
             /// The operations the model marks `authtype: none`: they take no signature.\n\
             pub const UNSIGNED_OPERATIONS: &[&str] = &[{}];\n\n",
            unsigned.join(", ")
        ))
    }

    /// awsQuery: `ERRORS`, each modeled error's code, HTTP status and fault side from its `error`
    /// trait, and `error_status` to look one up. An exception without the trait is a client error
    /// named after its shape with status 400, as Smithy's `@error("client")` defaults.
    fn error_table(&self) -> Result<String, String> {
        let mut errors: Vec<(&str, i64, bool)> = self
            .model
            .shapes
            .iter()
            .filter_map(|shape| {
                let error = shape.error.as_ref()?;
                Some(match (&error.code, error.http_status) {
                    (None, None) => (shape.name.as_str(), 400, true),
                    (code, status) => (
                        code.as_deref().unwrap_or(&shape.name),
                        status.unwrap_or(400),
                        error.sender_fault,
                    ),
                })
            })
            .collect();
        errors.sort_unstable();
        if let Some(pair) = errors.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(format!("two errors are both coded {}", pair[0].0));
        }
        let mut table = String::new();
        for (code, status, sender) in errors {
            writeln!(table, "    ({code:?}, {status}, {sender}),").map_err(|e| e.to_string())?;
        }
        Ok(format!(
            "/// Every modeled error as `(code, HTTP status, sender fault)`, by code.\n\
             pub const ERRORS: &[(&str, u16, bool)] = &[\n{table}];\n\n\
             /// The HTTP status of the modeled error `code` and whether it is the caller's fault\n\
             /// (`Type` `Sender`) rather than the service's (`Receiver`).\n\
             pub fn error_status(code: &str) -> Option<(u16, bool)> {{\n    query::error_status(ERRORS, code)\n}}\n\n"
        ))
    }

    fn struct_name(&self, shape: &str) -> Result<String, String> {
        self.type_names
            .get(shape)
            .cloned()
            .ok_or_else(|| format!("shape {shape} is not a structure"))
    }

    /// The Rust type of a member targeting `name`.
    fn rust_type(&mut self, name: &str, boxed: bool) -> Result<String, String> {
        let shape = self.shape(name)?;
        Ok(match &shape.kind {
            Kind::String if shape.sensitive => self.import("SensitiveString"),
            Kind::String => "String".into(),
            Kind::Integer => "i32".into(),
            Kind::Long => "i64".into(),
            Kind::Boolean => "bool".into(),
            Kind::Double => "f64".into(),
            Kind::Float => "f32".into(),
            Kind::Timestamp => self.import("Timestamp"),
            Kind::Blob => self.import("Blob"),
            Kind::Document => "serde_json::Value".into(),
            Kind::List { member } => format!("Vec<{}>", self.rust_type(member, false)?),
            Kind::Map { value, .. } => {
                self.uses_map = true;
                format!("BTreeMap<String, {}>", self.rust_type(value, false)?)
            }
            Kind::Structure { .. } if boxed => format!("Box<{}>", self.struct_name(name)?),
            Kind::Structure { .. } => self.struct_name(name)?,
        })
    }

    fn import(&mut self, name: &'static str) -> String {
        self.imports.insert(name);
        name.into()
    }

    /// The Rust type of the constraints of `name` (see `shapes::Check::Rule`).
    fn rule_type(&mut self, name: &str) -> Result<String, String> {
        let shape = self.shape(name)?;
        Ok(match &shape.kind {
            Kind::String | Kind::Integer | Kind::Long | Kind::Blob => self.import("Rule"),
            Kind::List { member } => format!("{}<{}>", self.import("ListRule"), self.rule_type(member)?),
            Kind::Map { value, .. } => format!("{}<{}>", self.import("MapRule"), self.rule_type(value)?),
            _ => "()".into(),
        })
    }

    /// An expression for the constraints of `name`, emitting the statics it needs.
    fn rule_ref(&mut self, name: &'m str) -> Result<String, String> {
        let shape = self.shape(name)?;
        let constrained = self.checked.contains(name);
        match &shape.kind {
            Kind::String | Kind::Integer | Kind::Long | Kind::Blob if !constrained => {
                Ok(format!("&{}::NONE", self.import("Rule")))
            }
            Kind::String | Kind::Integer | Kind::Long | Kind::Blob | Kind::List { .. } | Kind::Map { .. } => {
                self.rule_static(shape)
            }
            _ => Ok("&()".into()),
        }
    }

    fn rule_static(&mut self, shape: &'m Shape) -> Result<String, String> {
        if let Some(existing) = self.static_names.get(shape.name.as_str()) {
            return Ok(format!("&{existing}"));
        }
        let mut name = screaming(&shape.name);
        if RESERVED_STATICS.contains(&name.as_str()) {
            name.push_str("_RULE");
        }
        if self.static_names.values().any(|n| *n == name) {
            return Err(format!("two shapes are both named {name} in Rust"));
        }
        self.static_names.insert(&shape.name, name.clone());
        let own = self.rule_literal(shape)?;
        let code = match &shape.kind {
            Kind::List { member } => format!(
                "static {name}: {} = ListRule::new({own}, {});",
                self.rule_type(&shape.name)?,
                self.rule_ref(member)?
            ),
            Kind::Map { key, value } => format!(
                "static {name}: {} = MapRule::new({own}, {}, {});",
                self.rule_type(&shape.name)?,
                self.rule_ref(key)?,
                self.rule_ref(value)?
            ),
            // An enum's rule is public: its values are the model's, for whoever offers the choice (the console).
            _ if !shape.values.is_empty() => format!("pub static {name}: Rule = {own};"),
            _ => format!("static {name}: Rule = {own};"),
        };
        self.statics.push(code);
        Ok(format!("&{name}"))
    }

    /// A `Rule` expression with the shape's own constraints.
    fn rule_literal(&mut self, shape: &'m Shape) -> Result<String, String> {
        self.imports.insert("Rule");
        let mut rule = String::from("Rule::NONE");
        if let Some(min) = shape.min {
            write!(rule, ".min({min})").map_err(|e| e.to_string())?;
        }
        if let Some(max) = shape.max {
            write!(rule, ".max({max})").map_err(|e| e.to_string())?;
        }
        if let Some((java, rust)) = self.enforced_pattern(shape) {
            let pattern = match self.pattern_names.get(java) {
                Some(existing) => existing.clone(),
                None => {
                    // Two underscores: no shape's own name (`LogGroupNamePattern`) screams into it.
                    let name = format!("{}__PATTERN", screaming(&shape.name));
                    self.imports.insert("Pattern");
                    self.statics.push(format!(
                        "static {name}: Pattern = Pattern::new({}, {});",
                        rust_str(java),
                        rust_str(&rust)
                    ));
                    self.pattern_names.insert(java, name.clone());
                    name
                }
            };
            write!(rule, ".pattern(&{pattern})").map_err(|e| e.to_string())?;
        }
        if !shape.values.is_empty() {
            write!(rule, ".values(&{:?})", shape.values).map_err(|e| e.to_string())?;
        }
        if shape.sensitive && rule != "Rule::NONE" {
            rule.push_str(".sensitive()");
        }
        Ok(rule)
    }
}

/// Rejects traits the generator does not implement on a reachable shape.
fn check_supported(shape: &Shape, shapes: &HashMap<&str, &Shape>, query: bool) -> Result<(), String> {
    if query && matches!(shape.kind, Kind::Document | Kind::Double | Kind::Float) {
        return Err(format!(
            "shape {} has a type the awsQuery runtime does not carry",
            shape.name
        ));
    }
    if !shape.unsupported.is_empty() {
        return Err(format!(
            "shape {} uses unsupported traits: {}",
            shape.name,
            shape.unsupported.join(", ")
        ));
    }
    let constrained = shape.min.is_some() || shape.max.is_some() || shape.pattern.is_some() || !shape.values.is_empty();
    let allowed = match shape.kind {
        Kind::String => true,
        Kind::Integer | Kind::Long | Kind::Blob | Kind::List { .. } | Kind::Map { .. } => {
            shape.pattern.is_none() && shape.values.is_empty()
        }
        _ => !constrained,
    };
    if !allowed {
        return Err(format!("shape {} has constraints its type cannot carry", shape.name));
    }
    if let Kind::Map { key, .. } = &shape.kind
        && !shapes.get(key.as_str()).is_some_and(|k| matches!(k.kind, Kind::String))
    {
        return Err(format!("map {} has a non-string key", shape.name));
    }
    Ok(())
}

/// The Rust name of a structure shape, renamed if it would shadow a name the module uses.
fn type_name(shape: &str) -> String {
    let mut name: String = shape
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) || RESERVED_TYPES.contains(&name.as_str()) {
        name.push_str("Shape");
    }
    name
}

/// `snake_case` of a member name, with `_` appended to keywords.
pub(crate) fn field_name(member: &str) -> String {
    let mut name = snake(member);
    if KEYWORDS.contains(&name.as_str()) || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.push('_');
    }
    name
}

/// `snake_case`, keeping acronyms together: `SSEKMSKeyId` → `ssekms_key_id`, `S3Bucket` → `s3_bucket`.
fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let boundary =
                prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower);
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// AWS's validation path segment for a member: the name with its first letter lowercased.
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Rust string literal, raw when that keeps a regular expression readable.
fn rust_str(text: &str) -> String {
    if text.contains('"') || text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        format!("r\"{text}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rust_conventions() {
        let cases = [
            ("KeyId", "key_id"),
            ("AWSAccountId", "aws_account_id"),
            ("SSEKMSKeyId", "ssekms_key_id"),
            ("S3BucketName", "s3_bucket_name"),
            ("XksProxyUriEndpoint", "xks_proxy_uri_endpoint"),
            ("Type", "type_"),
        ];
        for (member, field) in cases {
            assert_eq!(field_name(member), field);
        }
        assert_eq!(screaming("GrantTokenList"), "GRANT_TOKEN_LIST");
        assert_eq!(lower_first("NumberOfBytes"), "numberOfBytes");
        assert_eq!(type_name("Request"), "RequestShape");
        assert_eq!(type_name("CreateKeyRequest"), "CreateKeyRequest");
    }

    /// A minimal awsQuery model: `Op` takes `In` and returns `Out`, both holding `Shared`.
    fn toy_query_model(member_traits: &str) -> Result<String, String> {
        static TOY: Service = Service::new("toy", "toy/service-2.json");
        let text = format!(
            r#"{{
              "metadata": {{"protocol": "query", "apiVersion": "2020-01-01", "xmlNamespace": "urn:toy",
                            "serviceFullName": "Toy"}},
              "operations": {{"Op": {{"name": "Op", "input": {{"shape": "In"}},
                                      "output": {{"shape": "Out", "resultWrapper": "OpResult"}}}}}},
              "shapes": {{
                "In": {{"type": "structure", "required": ["S"],
                        "members": {{"S": {{"shape": "Shared"{member_traits}}}}}}},
                "Out": {{"type": "structure", "members": {{"S": {{"shape": "Shared"}}}}}},
                "Shared": {{"type": "structure", "members": {{"N": {{"shape": "Num"}}}}}},
                "Num": {{"type": "integer", "min": 1}},
                "Boom": {{"type": "structure", "members": {{}}, "exception": true,
                          "error": {{"code": "Boom", "httpStatusCode": 404, "senderFault": true}}}},
                "Broke": {{"type": "structure", "members": {{}}, "exception": true,
                           "error": {{"code": "Broke", "httpStatusCode": 500}}}},
                "Quiet": {{"type": "structure", "members": {{}}, "exception": true}}
              }}
            }}"#
        );
        let model = Model::parse(&text)?;
        Generator::new(&TOY, &model)?.module()
    }

    #[test]
    fn query_models_generate_both_directions_and_an_error_table() {
        let code = toy_query_model("").unwrap_or_else(|e| panic!("{e}"));
        for expected in [
            "pub const API_VERSION: &str = \"2020-01-01\";",
            "pub const XML_NAMESPACE: &str = \"urn:toy\";",
            "query::operations! {\n    Op(In) -> Out,\n}",
            "    input In {\n",
            "    output Out {\n",
            "    both Shared {\n",
            "    (\"Boom\", 404, true),\n    (\"Broke\", 500, false),\n    (\"Quiet\", 400, true),\n",
        ] {
            assert!(code.contains(expected), "missing {expected:?} in:\n{code}");
        }
        assert!(!code.contains("TARGET_PREFIX"));
        // XML serialization traits the runtime does not implement fail generation.
        let error = toy_query_model(r#", "locationName": "s""#).err().unwrap_or_default();
        assert!(error.contains("unsupported traits: S.locationName"), "{error}");
    }

    #[test]
    fn generated_code_is_current() {
        let root = crate::workspace_root();
        let files = generate(&root).expect("the models generate");
        let problems = stale(&root, &files);
        assert!(problems.is_empty(), "run `cargo xtask codegen`: {problems:#?}");
    }
}
