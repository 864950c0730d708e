//! References to parameters and secrets: the `NAME=ssm:/path` and `NAME=secretsmanager:id#key` forms of
//! `keyhaven exec`, CloudFormation's dynamic references (`{{resolve:ssm:name:version}}`,
//! `{{resolve:ssm-secure:name:version}}`, `{{resolve:secretsmanager:id:SecretString:key:stage:version}}`), and
//! rendering a template that holds the latter.
//!
//! Source for the dynamic-reference rules: the CloudFormation User Guide, "Get values stored in other services using
//! dynamic references" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references.html).

use crate::ClientError;

/// A value to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A Parameter Store parameter; `selector` is a version number or a label (GetParameter's `name:selector`).
    Parameter {
        name: String,
        selector: Option<String>,
        decrypt: bool,
    },
    /// A Secrets Manager secret's SecretString, or one key of it when it is a JSON object.
    Secret {
        id: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
}

fn invalid(what: impl Into<String>) -> ClientError {
    ClientError::Config(what.into())
}

fn non_empty(part: &str) -> Option<String> {
    (!part.is_empty()).then(|| part.to_string())
}

/// Splits a secret id that may be an ARN (whose own seven colon-separated fields stay together) from what follows.
fn split_secret_id(rest: &str) -> (&str, Option<&str>) {
    let fields = if rest.starts_with("arn:") { 7 } else { 1 };
    let mut end = 0;
    for (i, _) in rest.match_indices(':') {
        end += 1;
        if end == fields {
            return (&rest[..i], Some(&rest[i + 1..]));
        }
    }
    (rest, None)
}

impl Reference {
    /// A `keyhaven exec` reference: `ssm:NAME[:VERSION|:LABEL]`, or `secretsmanager:ID[#JSON_KEY]` (ID a name or an
    /// ARN), or CloudFormation's `secretsmanager:ID:SecretString:KEY:STAGE:VERSION`.
    pub fn parse_env(spec: &str) -> Result<Self, ClientError> {
        if let Some(rest) = spec.strip_prefix("ssm:") {
            let (name, selector) = match rest.split_once(':') {
                Some((name, selector)) => (name, non_empty(selector)),
                None => (rest, None),
            };
            if name.is_empty() {
                return Err(invalid(format!("{spec}: no parameter name")));
            }
            return Ok(Reference::Parameter {
                name: name.into(),
                selector,
                decrypt: true,
            });
        }
        if let Some(rest) = spec.strip_prefix("secretsmanager:") {
            if let (id, Some(tail)) = split_secret_id(rest)
                && tail.starts_with("SecretString")
            {
                return Self::secret_parts(spec, id, tail);
            }
            let (id, json_key) = match rest.split_once('#') {
                Some((id, key)) => (id, non_empty(key)),
                None => (rest, None),
            };
            if id.is_empty() {
                return Err(invalid(format!("{spec}: no secret id")));
            }
            return Ok(Reference::Secret {
                id: id.into(),
                json_key,
                version_stage: None,
                version_id: None,
            });
        }
        Err(invalid(format!(
            "{spec}: a reference starts with ssm: or secretsmanager:"
        )))
    }

    /// The inside of a dynamic reference, after `resolve:`.
    pub fn parse_dynamic(inner: &str) -> Result<Self, ClientError> {
        let bad = || {
            invalid(format!(
                "Incorrect format is used in the following reference: [{{{{resolve:{inner}}}}}]"
            ))
        };
        let (service, rest) = inner.split_once(':').ok_or_else(bad)?;
        match service {
            "ssm" | "ssm-secure" => {
                let (name, version) = match rest.split_once(':') {
                    Some((name, version)) => (name, Some(version)),
                    None => (rest, None),
                };
                let name_ok =
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
                let version_ok = version.is_none_or(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
                if !name_ok || !version_ok {
                    return Err(bad());
                }
                Ok(Reference::Parameter {
                    name: name.into(),
                    selector: version.map(str::to_string),
                    decrypt: service == "ssm-secure",
                })
            }
            "secretsmanager" => {
                let (id, tail) = split_secret_id(rest);
                if id.is_empty() {
                    return Err(bad());
                }
                match tail {
                    None => Ok(Reference::Secret {
                        id: id.into(),
                        json_key: None,
                        version_stage: None,
                        version_id: None,
                    }),
                    Some(tail) => Self::secret_parts(inner, id, tail),
                }
            }
            _ => Err(bad()),
        }
    }

    /// `SecretString:json-key:version-stage:version-id`, each part optional (empty).
    fn secret_parts(whole: &str, id: &str, tail: &str) -> Result<Self, ClientError> {
        let parts: Vec<&str> = tail.split(':').collect();
        if parts.len() > 4 || !matches!(parts[0], "" | "SecretString") {
            return Err(invalid(format!(
                "{whole}: after the secret id come SecretString, a JSON key, a version stage and a version id"
            )));
        }
        let part = |i: usize| parts.get(i).copied().and_then(non_empty);
        Ok(Reference::Secret {
            id: id.into(),
            json_key: part(1),
            version_stage: part(2),
            version_id: part(3),
        })
    }

    /// How the reference reads in messages (never a value).
    pub fn describe(&self) -> String {
        match self {
            Reference::Parameter {
                name,
                selector: Some(s),
                ..
            } => format!("ssm:{name}:{s}"),
            Reference::Parameter { name, .. } => format!("ssm:{name}"),
            Reference::Secret {
                id,
                json_key: Some(key),
                ..
            } => format!("secretsmanager:{id}#{key}"),
            Reference::Secret { id, .. } => format!("secretsmanager:{id}"),
        }
    }
}

/// The dynamic references in a template, in order, with their byte ranges.
pub fn dynamic_references(template: &str) -> Result<Vec<(std::ops::Range<usize>, Reference)>, ClientError> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = template[from..].find("{{resolve:").map(|i| i + from) {
        let inner_start = start + "{{resolve:".len();
        let end = template[inner_start..]
            .find("}}")
            .map(|i| i + inner_start)
            .ok_or_else(|| invalid(format!("an unclosed dynamic reference at byte {start}")))?;
        found.push((start..end + 2, Reference::parse_dynamic(&template[inner_start..end])?));
        from = end + 2;
    }
    Ok(found)
}

/// Selects `key` from a SecretString holding a JSON object (its string value, or the JSON of any other value).
pub fn json_key(secret_string: &str, key: &str) -> Result<String, ClientError> {
    let missing = || ClientError::Config(format!("Could not find a value associated with {key} in SecretString"));
    let value: serde_json::Value = serde_json::from_str(secret_string).map_err(|_| missing())?;
    match value.get(key).ok_or_else(missing)? {
        serde_json::Value::String(s) => Ok(s.clone()),
        other => Ok(other.to_string()),
    }
}

/// The environment variable a parameter under `path` becomes: the rest of its name, upper-cased, with every
/// character that is not a letter or digit as `_` (`/app/prod/db/password` under `/app/prod` is `DB_PASSWORD`).
pub fn env_name(path: &str, parameter: &str) -> String {
    let rest = parameter.strip_prefix(path.trim_end_matches('/')).unwrap_or(parameter);
    rest.trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, key: Option<&str>, stage: Option<&str>, version: Option<&str>) -> Reference {
        Reference::Secret {
            id: id.into(),
            json_key: key.map(Into::into),
            version_stage: stage.map(Into::into),
            version_id: version.map(Into::into),
        }
    }

    #[test]
    fn dynamic_references_parse_as_cloudformation_writes_them() {
        let arn = "arn:aws:secretsmanager:us-west-2:123456789012:secret:MySecret-a1b2c3";
        let cases: Vec<(String, Option<Reference>)> = vec![
            (
                "ssm:/app/name".into(),
                Some(Reference::Parameter {
                    name: "/app/name".into(),
                    selector: None,
                    decrypt: false,
                }),
            ),
            (
                "ssm:/app/name:3".into(),
                Some(Reference::Parameter {
                    name: "/app/name".into(),
                    selector: Some("3".into()),
                    decrypt: false,
                }),
            ),
            (
                "ssm-secure:db.pw:12".into(),
                Some(Reference::Parameter {
                    name: "db.pw".into(),
                    selector: Some("12".into()),
                    decrypt: true,
                }),
            ),
            ("ssm:/app/name:label".into(), None),
            ("ssm-secure:/p:".into(), None),
            ("ssm:".into(), None),
            (
                "secretsmanager:MySecret".into(),
                Some(secret("MySecret", None, None, None)),
            ),
            (
                "secretsmanager:MySecret::::".into(),
                Some(secret("MySecret", None, None, None)),
            ),
            (
                "secretsmanager:MySecret:SecretString:password:AWSPREVIOUS".into(),
                Some(secret("MySecret", Some("password"), Some("AWSPREVIOUS"), None)),
            ),
            (
                "secretsmanager:MySecret:SecretString:::v-1".into(),
                Some(secret("MySecret", None, None, Some("v-1"))),
            ),
            (
                format!("secretsmanager:{arn}:SecretString:password"),
                Some(secret(arn, Some("password"), None, None)),
            ),
            (format!("secretsmanager:{arn}"), Some(secret(arn, None, None, None))),
            ("secretsmanager:MySecret:SecretBinary".into(), None),
            ("secretsmanager:MySecret:SecretString:a:b:c:d".into(), None),
            ("s3:bucket".into(), None),
        ];
        for (inner, expected) in cases {
            assert_eq!(Reference::parse_dynamic(&inner).ok(), expected, "{inner}");
        }
    }

    #[test]
    fn exec_references_parse() {
        let cases = vec![
            (
                "ssm:/app/db/url",
                Some(Reference::Parameter {
                    name: "/app/db/url".into(),
                    selector: None,
                    decrypt: true,
                }),
            ),
            (
                "ssm:/app/db/url:prod",
                Some(Reference::Parameter {
                    name: "/app/db/url".into(),
                    selector: Some("prod".into()),
                    decrypt: true,
                }),
            ),
            (
                "secretsmanager:prod/db#password",
                Some(secret("prod/db", Some("password"), None, None)),
            ),
            ("secretsmanager:prod/db", Some(secret("prod/db", None, None, None))),
            (
                "secretsmanager:prod/db:SecretString:password:AWSPENDING",
                Some(secret("prod/db", Some("password"), Some("AWSPENDING"), None)),
            ),
            ("ssm:", None),
            ("vault:x", None),
        ];
        for (spec, expected) in cases {
            assert_eq!(Reference::parse_env(spec).ok(), expected, "{spec}");
        }
    }

    #[test]
    fn templates_yield_their_references_in_order() {
        let found =
            dynamic_references("a={{resolve:ssm:/x}} b={{resolve:secretsmanager:s:SecretString:k}}!").expect("parses");
        assert_eq!(
            found.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
            vec![2..20, 23..66]
        );
        assert!(dynamic_references("{{resolve:ssm:/x").is_err());
        assert_eq!(
            json_key(r#"{"password":"pw","port":5432}"#, "port").expect("found"),
            "5432"
        );
        assert!(json_key(r#"{"password":"pw"}"#, "user").is_err());
        assert_eq!(env_name("/my-app/prod", "/my-app/prod/db/pass-word"), "DB_PASS_WORD");
        assert_eq!(env_name("/my-app/prod/", "/my-app/prod/x.y"), "X_Y");
    }
}
