//! IAM policy documents: the grammar and its validation. Evaluation arrives with the IAM issue.

use serde_json::Value;

/// Largest policy document accepted (KMS key policies; AWS: 32 KB).
pub const MAX_POLICY_BYTES: usize = 32_768;

/// Why a policy document is not acceptable. Messages follow AWS's MalformedPolicyDocument texts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("The policy document is not valid JSON.")]
    NotJson,
    #[error("Policy document must be a JSON object.")]
    NotObject,
    #[error("Policy is missing required element: Statement")]
    MissingStatement,
    #[error("Policy statement must contain a valid Effect (Allow or Deny).")]
    BadEffect,
    #[error("Policy statement must contain actions.")]
    MissingAction,
    #[error("Policy statement must contain either Resource or NotResource.")]
    MissingResource,
    #[error("The policy document version is not supported: {0}")]
    BadVersion(String),
    #[error("Policy contains a statement with one or more invalid principals.")]
    BadPrincipal,
    #[error("Policy document exceeds the maximum allowed size of {MAX_POLICY_BYTES} bytes.")]
    TooLarge,
    #[error("Policy contains an unknown element: {0}")]
    UnknownElement(String),
}

/// A parsed, structurally valid policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

/// One statement, kept as JSON until evaluation needs more structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    pub body: Value,
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl PolicyDocument {
    /// Parses and validates a resource policy (statements need a principal).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge);
        }
        let value: Value = serde_json::from_str(text).map_err(|_| PolicyError::NotJson)?;
        let object = value.as_object().ok_or(PolicyError::NotObject)?;
        for key in object.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::UnknownElement(key.clone()));
            }
        }
        let version = match object.get("Version") {
            None => None,
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(other) => return Err(PolicyError::BadVersion(other.to_string())),
        };
        let raw = match object.get("Statement").ok_or(PolicyError::MissingStatement)? {
            Value::Array(items) => items.clone(),
            single @ Value::Object(_) => vec![single.clone()],
            _ => return Err(PolicyError::MissingStatement),
        };
        let statements = raw.into_iter().map(parse_statement).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { version, statements })
    }
}

fn parse_statement(body: Value) -> Result<Statement, PolicyError> {
    let object = body.as_object().ok_or(PolicyError::MissingStatement)?;
    if let Some(unknown) = object.keys().find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str())) {
        return Err(PolicyError::UnknownElement(unknown.clone()));
    }
    let allow = match object.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err(PolicyError::BadEffect),
    };
    if !object.contains_key("Action") && !object.contains_key("NotAction") {
        return Err(PolicyError::MissingAction);
    }
    if !object.contains_key("Resource") && !object.contains_key("NotResource") {
        return Err(PolicyError::MissingResource);
    }
    if !object.contains_key("Principal") && !object.contains_key("NotPrincipal") {
        return Err(PolicyError::BadPrincipal);
    }
    let sid = object.get("Sid").and_then(Value::as_str).map(str::to_string);
    Ok(Statement { sid, allow, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let cases: &[(&str, Result<usize, PolicyError>)] = &[
            (ok, Ok(1)),
            (
                r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
                Ok(1),
            ),
            ("not json", Err(PolicyError::NotJson)),
            ("[]", Err(PolicyError::NotObject)),
            (r#"{"Version":"2012-10-17"}"#, Err(PolicyError::MissingStatement)),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                Err(PolicyError::BadVersion("\"2020-01-01\"".into())),
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"a","Resource":"*"}]}"#,
                Err(PolicyError::BadEffect),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}"#,
                Err(PolicyError::MissingAction),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a"}]}"#,
                Err(PolicyError::MissingResource),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a","Resource":"*"}]}"#,
                Err(PolicyError::BadPrincipal),
            ),
            (
                r#"{"Statement":[],"Extra":1}"#,
                Err(PolicyError::UnknownElement("Extra".into())),
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Oops":1}]}"#,
                Err(PolicyError::UnknownElement("Oops".into())),
            ),
        ];
        for (text, expected) in cases {
            let got = PolicyDocument::parse(text).map(|p| p.statements.len());
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = format!(r#"{{"Statement":[],"Id":"{}"}}"#, "x".repeat(MAX_POLICY_BYTES));
        assert_eq!(PolicyDocument::parse(&big), Err(PolicyError::TooLarge));
    }
}
