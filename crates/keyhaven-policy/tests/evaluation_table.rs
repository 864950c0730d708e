//! Runs the evaluation cases in `tests/data/*.json`: policies, a request, the expected decision.
//!
//! File format: `{"groups": [{"source", "about", "defaults": {...}, "cases": [{...}]}]}`. A case
//! is its group's `defaults` overridden field by field by the case itself (`context` objects are
//! merged). Fields:
//! - `identity`, `boundary`, `session`: lists of policy documents (JSON objects);
//! - `resource`: a policy document (or `null` for none), checked against `rules` (`Standard`, `KmsKeyPolicy`,
//!   `RoleTrust`; trust policies are parsed as [`PolicyKind::Trust`]);
//! - `principal`: a name from [`named_principal`] or an object (`{"user": arn}`, `{"root": acct}`,
//!   `{"assumed_role": session, "role": arn}`, `{"federated_user": arn, "user": arn}`,
//!   `{"service": name}`, `{"web_identity": provider}`);
//! - `action`, `resource_arn`, `resource_account` (default `111122223333`);
//! - `context`: keys to values (strings, numbers, booleans or lists), added on top of the keys
//!   [`Context::builder`] derives from the principal;
//! - `expect`: `Allow`, `ExplicitDeny` or `ImplicitDeny`; optional `denied_by` (`identity`,
//!   `resource`, `boundary`, `session`) and `missing` (the exact missing context keys).

use std::path::PathBuf;

use keyhaven_policy::{
    Context, Decision, NamedPolicy, Policies, PolicyDocument, PolicyKind, PolicySource, Principal, Request,
    ResourceRules, evaluate,
};
use serde_json::{Map, Value};

const ACCOUNT: &str = "111122223333";

#[test]
fn evaluation_table() {
    let dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
            .join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable data file");
        let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for group in array(&file, "groups") {
            let defaults = group
                .get("defaults")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let about = group.get("about").and_then(Value::as_str).unwrap_or("?");
            for case in array(group, "cases") {
                total += 1;
                let case = merge(&defaults, case.as_object().expect("case object"));
                let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
                if let Err(problem) = run(&case) {
                    failures.push(format!("{file_name} / {about} / {name}: {problem}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 300, "only {total} cases");
}

fn array<'v>(value: &'v Value, field: &str) -> &'v [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn merge(defaults: &Map<String, Value>, case: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = defaults.clone();
    for (key, value) in case {
        match (key.as_str(), merged.get_mut(key), value) {
            ("context", Some(Value::Object(base)), Value::Object(extra)) => {
                base.extend(extra.clone());
            }
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    merged
}

fn parse(document: &Value, kind: PolicyKind) -> Result<PolicyDocument, String> {
    PolicyDocument::parse_as(&document.to_string(), kind).map_err(|e| format!("{kind:?} policy refused: {e}"))
}

fn parse_all(case: &Map<String, Value>, field: &str, kind: PolicyKind) -> Result<Option<Vec<PolicyDocument>>, String> {
    case.get(field)
        .map(|list| {
            list.as_array()
                .ok_or(format!("{field} must be a list"))?
                .iter()
                .map(|doc| parse(doc, kind))
                .collect()
        })
        .transpose()
}

fn named<'a>(documents: &'a [PolicyDocument], ids: &'a [String]) -> Vec<NamedPolicy<'a>> {
    documents
        .iter()
        .zip(ids)
        .map(|(document, id)| NamedPolicy { id, document })
        .collect()
}

fn ids(field: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{field}#{i}")).collect()
}

fn run(case: &Map<String, Value>) -> Result<(), String> {
    let text = |field: &str| case.get(field).and_then(Value::as_str);
    let rules = match text("rules").unwrap_or("Standard") {
        "Standard" => ResourceRules::Standard,
        "KmsKeyPolicy" => ResourceRules::KmsKeyPolicy,
        "RoleTrust" => ResourceRules::RoleTrust,
        other => return Err(format!("unknown rules {other}")),
    };
    let identity = parse_all(case, "identity", PolicyKind::Identity)?.unwrap_or_default();
    let boundary = parse_all(case, "boundary", PolicyKind::Boundary)?;
    let session = parse_all(case, "session", PolicyKind::Session)?;
    let resource_kind = if rules == ResourceRules::RoleTrust {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    };
    let resource = case
        .get("resource")
        .filter(|doc| !doc.is_null())
        .map(|doc| parse(doc, resource_kind))
        .transpose()?;

    let identity_ids = ids("identity", identity.len());
    let boundary_ids = ids("boundary", boundary.as_ref().map_or(0, Vec::len));
    let session_ids = ids("session", session.as_ref().map_or(0, Vec::len));
    let identity = named(&identity, &identity_ids);
    let boundary = boundary.as_deref().map(|docs| named(docs, &boundary_ids));
    let session = session.as_deref().map(|docs| named(docs, &session_ids));
    let policies = Policies {
        identity: &identity,
        resource: resource.as_ref().map(|document| {
            (
                NamedPolicy {
                    id: "resource",
                    document,
                },
                rules,
            )
        }),
        boundary: boundary.as_deref(),
        session: session.as_deref(),
        resource_account: text("resource_account").unwrap_or(ACCOUNT),
    };

    let principal = principal(case.get("principal").ok_or("no principal")?)?;
    let mut builder = Context::builder().principal(&principal);
    for (key, value) in case.get("context").and_then(Value::as_object).into_iter().flatten() {
        builder = match value {
            Value::Array(items) => {
                let values: Vec<String> = items.iter().map(scalar).collect::<Result<_, _>>()?;
                builder.keys(key, &values.iter().map(String::as_str).collect::<Vec<_>>())
            }
            other => builder.key(key, &scalar(other)?),
        };
    }
    let context = builder.build();
    let request = Request {
        principal: &principal,
        action: text("action").ok_or("no action")?,
        resource: text("resource_arn").unwrap_or("*"),
        context: &context,
    };
    let evaluation = evaluate(&policies, &request);

    let expected = match text("expect") {
        Some("Allow") => Decision::Allow,
        Some("ExplicitDeny") => Decision::ExplicitDeny,
        Some("ImplicitDeny") => Decision::ImplicitDeny,
        other => return Err(format!("bad expect {other:?}")),
    };
    if evaluation.decision != expected {
        return Err(format!("expected {expected:?}, got {evaluation:?}"));
    }
    if let Some(source) = text("denied_by") {
        let source = match source {
            "identity" => PolicySource::Identity,
            "resource" => PolicySource::Resource,
            "boundary" => PolicySource::Boundary,
            "session" => PolicySource::Session,
            other => return Err(format!("bad denied_by {other}")),
        };
        if evaluation.denied_by.map(|d| d.policy) != Some(source) {
            return Err(format!("expected denial by {source:?}, got {evaluation:?}"));
        }
    }
    if let Some(missing) = case.get("missing") {
        let expected: Vec<String> = missing
            .as_array()
            .ok_or("missing must be a list")?
            .iter()
            .map(scalar)
            .collect::<Result<_, _>>()?;
        if evaluation.missing_context_keys != expected {
            return Err(format!(
                "expected missing keys {expected:?}, got {:?}",
                evaluation.missing_context_keys
            ));
        }
    }
    Ok(())
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("not a context value: {other}")),
    }
}

/// Principals the data files refer to by name.
fn named_principal(name: &str) -> Option<Principal> {
    Some(match name {
        "alice" => Principal::user("arn:aws:iam::111122223333:user/alice"),
        "bob" => Principal::user("arn:aws:iam::111122223333:user/bob"),
        "carol@B" => Principal::user("arn:aws:iam::444455556666:user/carol"),
        "root" => Principal::root(ACCOUNT),
        "root@B" => Principal::root("444455556666"),
        "session" => Principal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Admin/alice-session",
            "arn:aws:iam::111122223333:role/Admin",
        ),
        "session@B" => Principal::assumed_role(
            "arn:aws:sts::444455556666:assumed-role/Reader/s1",
            "arn:aws:iam::444455556666:role/Reader",
        ),
        "federated" => Principal::federated_user(
            "arn:aws:sts::111122223333:federated-user/fred",
            "arn:aws:iam::111122223333:user/alice",
        ),
        "anonymous" => Principal::anonymous(),
        _ => return None,
    })
}

fn principal(value: &Value) -> Result<Principal, String> {
    if let Some(name) = value.as_str() {
        return named_principal(name).ok_or(format!("unknown principal {name}"));
    }
    let field = |name: &str| value.get(name).and_then(Value::as_str);
    let principal = if let Some(arn) = field("assumed_role") {
        Principal::assumed_role(arn, field("role").ok_or("assumed_role needs role")?)
    } else if let Some(arn) = field("federated_user") {
        Principal::federated_user(arn, field("user").ok_or("federated_user needs user")?)
    } else if let Some(arn) = field("user") {
        Principal::user(arn)
    } else if let Some(account) = field("root") {
        Principal::root(account)
    } else if let Some(name) = field("service") {
        Principal::service(name)
    } else if let Some(provider) = field("web_identity") {
        Principal::web_identity(provider)
    } else {
        return Err(format!("bad principal {value}"));
    };
    Ok(match field("canonical_user") {
        Some(id) => principal.with_canonical_user(id),
        None => principal,
    })
}
