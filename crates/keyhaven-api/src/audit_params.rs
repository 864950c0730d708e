//! What of a request and response reaches the audit log: member names as CloudTrail writes them,
//! with every secret-bearing member removed.

use serde_json::Value;

/// Members (of any service, at any depth) whose values never reach the audit log: plaintexts,
/// ciphertexts, key material, passwords, tokens and one-time codes.
const REDACTED_MEMBERS: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "Message",
    "Mac",
    "Signature",
    "ImportToken",
    "EncryptedKeyMaterial",
    "SharedSecret",
    "PublicKey",
    "Recipient",
    "KeyStorePassword",
    "XksProxyAuthenticationCredential",
    "SecretAccessKey",
    "SessionToken",
    "Password",
    "OldPassword",
    "NewPassword",
    "WebIdentityToken",
    "SAMLAssertion",
    "TokenCode",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "Base32StringSeed",
    "QRCodePNG",
    "SecretString",
    "SecretBinary",
    "RotationToken",
    "RandomPassword",
    "Value",
];

/// The request's members as CloudTrail records them: lowerCamelCase, secrets removed; `null` when
/// nothing is left.
pub fn request_parameters(members: Value) -> Value {
    match redact(members) {
        Value::Object(kept) if kept.is_empty() => Value::Null,
        Value::Object(kept) => camel_case_keys(Value::Object(kept)),
        _ => Value::Null,
    }
}

/// The same for a raw awsJson body.
pub fn json_request_parameters(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .map(request_parameters)
        .unwrap_or(Value::Null)
}

fn redact(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(k, _)| !REDACTED_MEMBERS.contains(&k.as_str()))
                .map(|(k, v)| (k, redact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
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

    #[test]
    fn secrets_are_dropped_at_any_depth_and_context_keys_kept_verbatim() {
        let body = br#"{"KeyId":"alias/x","Plaintext":"c2VjcmV0","EncryptionContext":{"Department":"IT"},"GrantTokens":["t"]}"#;
        let params = json_request_parameters(body);
        assert_eq!(
            params,
            serde_json::json!({"keyId": "alias/x", "encryptionContext": {"Department": "IT"}, "grantTokens": ["t"]})
        );
        assert!(!params.to_string().contains("c2VjcmV0"));
        assert_eq!(json_request_parameters(br#"{"CiphertextBlob":"AAAA"}"#), Value::Null);
        assert_eq!(json_request_parameters(b"not json"), Value::Null);
        let nested = serde_json::json!({"RoleArn": "r", "Nested": [{"TokenCode": "123456", "Keep": 1}], "WebIdentityToken": "jwt"});
        assert_eq!(
            request_parameters(nested),
            serde_json::json!({"roleArn": "r", "nested": [{"keep": 1}]})
        );
    }
}
