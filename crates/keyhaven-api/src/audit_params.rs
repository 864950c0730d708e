//! What of a request and response reaches the audit log: member names as CloudTrail writes them,
//! with every secret-bearing member removed.

use serde_json::Value;

use crate::generated::redaction::{OPERATIONS, REDACTED};

/// The request's members as CloudTrail records them: lowerCamelCase, without the members the
/// models say never to record (see [`crate::generated::redaction`]); `null` when nothing is left
/// or `operation` is not one of `service`'s (a mistyped target is never recorded as sent).
pub fn request_parameters(service: &str, operation: &str, mut members: Value) -> Value {
    if OPERATIONS.binary_search(&(service, operation)).is_err() {
        return Value::Null;
    }
    if let Ok(i) = REDACTED.binary_search_by(|(s, o, _)| (*s, *o).cmp(&(service, operation))) {
        for path in REDACTED[i].2 {
            remove(&mut members, path);
        }
    }
    match members {
        Value::Object(kept) if !kept.is_empty() => camel_case_keys(Value::Object(kept)),
        _ => Value::Null,
    }
}

/// The same for a raw awsJson body.
pub fn json_request_parameters(service: &str, operation: &str, body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .map(|members| request_parameters(service, operation, members))
        .unwrap_or(Value::Null)
}

/// Removes the member at `path` (`*`: in every element of a list or value of a map).
fn remove(value: &mut Value, path: &[&str]) {
    match (value, path) {
        (Value::Array(items), ["*", rest @ ..]) => items.iter_mut().for_each(|item| remove(item, rest)),
        (Value::Object(map), ["*", rest @ ..]) => map.values_mut().for_each(|v| remove(v, rest)),
        (Value::Object(members), [name]) => {
            members.remove(*name);
        }
        (Value::Object(members), [name, rest @ ..]) => {
            if let Some(member) = members.get_mut(*name) {
                remove(member, rest);
            }
        }
        _ => {}
    }
}

/// Lowercases the first letter of member names, leaving user-chosen map keys (contexts) alone.
pub fn camel_case_keys(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| {
                    let v = if k.contains("EncryptionContext") {
                        v
                    } else {
                        camel_case_keys(v)
                    };
                    (lower_first(&k), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

pub fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";

    #[test]
    fn generated_members_are_dropped_and_the_rest_kept() {
        // (service, operation, request, recorded parameters, secrets that must appear nowhere)
        let cases = [
            (
                "iam",
                "UploadServerCertificate",
                json!({"ServerCertificateName": "web", "CertificateBody": "-----BEGIN CERTIFICATE-----", "PrivateKey": PEM_KEY}),
                json!({"serverCertificateName": "web", "certificateBody": "-----BEGIN CERTIFICATE-----"}),
                &["PRIVATE KEY", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"][..],
            ),
            (
                "iam",
                "EnableMFADevice",
                json!({"UserName": "alice", "SerialNumber": "arn:mfa", "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}),
                json!({"userName": "alice", "serialNumber": "arn:mfa"}),
                &["123456", "654321"],
            ),
            (
                "kms",
                "Encrypt",
                json!({"KeyId": "alias/x", "Plaintext": "c2VjcmV0", "EncryptionContext": {"Department": "IT", "Plaintext": "label"}, "GrantTokens": ["t"]}),
                json!({"keyId": "alias/x", "encryptionContext": {"Department": "IT", "Plaintext": "label"}, "grantTokens": ["t"]}),
                &["c2VjcmV0"],
            ),
            (
                "kms",
                "Decrypt",
                json!({"CiphertextBlob": "AAAA"}),
                Value::Null,
                &["AAAA"],
            ),
            ("kms", "DescribeKey", json!({"KeyId": "k"}), json!({"keyId": "k"}), &[]),
            (
                "kms",
                "CreateCustomKeyStore",
                json!({"CustomKeyStoreName": "xks", "XksProxyAuthenticationCredential": {"AccessKeyId": "AKIDXKS", "RawSecretAccessKey": "raw-secret"}}),
                json!({"customKeyStoreName": "xks", "xksProxyAuthenticationCredential": {}}),
                &["AKIDXKS", "raw-secret"],
            ),
            (
                "ssm",
                "PutParameter",
                json!({"Name": "/app/db", "Value": "hunter2", "Type": "SecureString", "Tags": [{"Key": "Value", "Value": "team"}]}),
                json!({"name": "/app/db", "type": "SecureString", "tags": [{"key": "Value", "value": "team"}]}),
                &["hunter2"],
            ),
            (
                "ssm",
                "CreateAssociationBatch",
                json!({"Entries": [{"Name": "AWS-RunShellScript", "Parameters": {"commands": ["echo pw=s3cr3t"]}}, {"Name": "b"}]}),
                json!({"entries": [{"name": "AWS-RunShellScript"}, {"name": "b"}]}),
                &["s3cr3t"],
            ),
            (
                "ssm",
                "RegisterTaskWithMaintenanceWindow",
                json!({"WindowId": "mw-1", "TaskInvocationParameters": {"RunCommand": {"Comment": "c", "Parameters": {"pw": ["s3cr3t"]}}, "Lambda": {"Qualifier": "1", "Payload": "cGF5bG9hZA=="}}}),
                json!({"windowId": "mw-1", "taskInvocationParameters": {"runCommand": {"comment": "c"}, "lambda": {"qualifier": "1"}}}),
                &["s3cr3t", "cGF5bG9hZA=="],
            ),
            (
                "secretsmanager",
                "CreateSecret",
                json!({"Name": "db", "SecretString": "{\"password\":\"s3cr3t\"}", "Tags": [{"Key": "team", "Value": "x"}]}),
                json!({"name": "db", "tags": [{"key": "team", "value": "x"}]}),
                &["s3cr3t", "password"],
            ),
            (
                "sts",
                "AssumeRole",
                json!({"RoleArn": "r", "RoleSessionName": "s", "SerialNumber": "arn:mfa", "TokenCode": "123456"}),
                json!({"roleArn": "r", "roleSessionName": "s", "serialNumber": "arn:mfa"}),
                &["123456"],
            ),
            (
                "sts",
                "AssumeRoleWithWebIdentity",
                json!({"RoleArn": "r", "WebIdentityToken": "eyJhbGciOi.jwt"}),
                json!({"roleArn": "r"}),
                &["eyJhbGciOi"],
            ),
            // An operation of no model (a mistyped target) and an unknown service record nothing.
            (
                "kms",
                "Encrpyt",
                json!({"KeyId": "k", "Plaintext": "c2VjcmV0"}),
                Value::Null,
                &["c2VjcmV0"],
            ),
            (
                "unknown",
                "Encrypt",
                json!({"Plaintext": "c2VjcmV0"}),
                Value::Null,
                &["c2VjcmV0"],
            ),
        ];
        for (service, operation, request, expected, secrets) in cases {
            let from_json = json_request_parameters(service, operation, request.to_string().as_bytes());
            let recorded = request_parameters(service, operation, request);
            assert_eq!(recorded, expected, "{service} {operation}");
            assert_eq!(from_json, expected, "{service} {operation} from its awsJson body");
            for secret in secrets {
                assert!(
                    !recorded.to_string().contains(secret),
                    "{service} {operation} records {secret}"
                );
            }
        }
        assert_eq!(json_request_parameters("kms", "Encrypt", b"not json"), Value::Null);
    }

    #[test]
    fn generated_tables_are_sorted_and_their_paths_end_at_members() {
        assert!(OPERATIONS.is_sorted());
        assert!(REDACTED.iter().map(|(s, o, _)| (s, o)).is_sorted());
        for (service, operation, paths) in REDACTED {
            assert!(OPERATIONS.binary_search(&(service, operation)).is_ok());
            assert!(!paths.is_empty(), "{service} {operation}");
            for path in *paths {
                assert!(
                    path.last().is_some_and(|last| *last != "*"),
                    "{service} {operation} {path:?}"
                );
            }
        }
    }
}
