//! `{:?}` of the core's types that hold secrets, or sealed forms of them, shows none of those values.

use keyhaven_crypto::SecretBytes;
use keyhaven_iam::iam::AccessKeyRecord;
use keyhaven_iam::iam::mfa::MfaDevice;
use keyhaven_iam::sts::{AssumeRoleInput, SessionRecord};
use keyhaven_kernel::context::PrincipalKind;
use keyhaven_kms::{CustomKeyStoreRecord, ImportParameters, Material, MaterialOrigin};
use keyhaven_secrets::{CreateInput, SecretValue};
use keyhaven_ssm::{ParameterView, PutInput};
use zeroize::Zeroizing;

const PLANTED: &str = "planted-secret-7f3a9c";

fn assert_hidden(shown: String) {
    assert!(!shown.contains(PLANTED), "the secret shows in {shown}");
}

#[test]
fn debug_output_hides_secrets_and_sealed_values() {
    assert_hidden(format!(
        "{:?}",
        CreateInput {
            name: "prod/db".into(),
            value: Some(SecretValue::String(Zeroizing::new(PLANTED.into()))),
            ..Default::default()
        }
    ));
    assert_hidden(format!(
        "{:?}",
        SecretValue::Binary(SecretBytes::from_slice(PLANTED.as_bytes()))
    ));
    assert_hidden(format!(
        "{:?}",
        PutInput {
            name: "/app/password".into(),
            value: Zeroizing::new(PLANTED.into()),
            ..Default::default()
        }
    ));
    assert_hidden(format!(
        "{:?}",
        ParameterView {
            name: "/app/password".into(),
            parameter_type: "SecureString".into(),
            value: Zeroizing::new(PLANTED.into()),
            version: 1,
            selector: None,
            last_modified: 0.0,
            arn: "arn:aws:ssm:us-east-1:000000000000:parameter/app/password".into(),
            data_type: "text".into(),
            source_result: Some(Zeroizing::new(PLANTED.into())),
        }
    ));
    assert_hidden(format!(
        "{:?}",
        AssumeRoleInput {
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            token_code: Some(PLANTED.into()),
            ..Default::default()
        }
    ));
    assert_hidden(format!(
        "{:?}",
        Material {
            id: "00".repeat(32),
            sealed: PLANTED.into(),
            created: 0.0,
            origin: MaterialOrigin::Original,
            public_key: None,
            imported: None,
            in_hsm: false,
        }
    ));
    assert_hidden(format!(
        "{:?}",
        CustomKeyStoreRecord {
            v: 1,
            id: "cks-00000000000000000".into(),
            name: "vault".into(),
            cluster_id: "cluster-abcdefghijk".into(),
            trust_anchor_certificate: String::new(),
            sealed_password: PLANTED.into(),
            connection_state: "CONNECTED".into(),
            connection_error_code: None,
            creation_date: 0.0,
        }
    ));
    assert_hidden(format!(
        "{:?}",
        ImportParameters {
            token_hash: PLANTED.into(),
            wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
            wrapping_key_spec: "RSA_2048".into(),
            sealed_wrapping_key: PLANTED.into(),
            valid_to: 0.0,
        }
    ));
    assert_hidden(format!(
        "{:?}",
        AccessKeyRecord {
            v: 1,
            access_key_id: "AKIAEXAMPLE".into(),
            account_id: "000000000000".into(),
            user_name: "alice".into(),
            user_id: None,
            active: true,
            sealed_secret: PLANTED.into(),
            create_date: 0.0,
            last_used: None,
        }
    ));
    assert_hidden(format!(
        "{:?}",
        MfaDevice {
            v: 1,
            serial_number: "arn:aws:iam::000000000000:mfa/alice".into(),
            account_id: "000000000000".into(),
            sealed_seed: PLANTED.into(),
            user_name: Some("alice".into()),
            enable_date: None,
            create_date: 0.0,
            tags: Vec::new(),
            last_used_step: None,
        }
    ));
    let session = SessionRecord {
        v: 1,
        access_key_id: "ASIAEXAMPLE".into(),
        sealed_secret: PLANTED.into(),
        token_sha256: PLANTED.into(),
        expiration: 0,
        kind: PrincipalKind::IamUser,
        account_id: "000000000000".into(),
        arn: "arn:aws:iam::000000000000:user/alice".into(),
        principal_id: "AIDAEXAMPLE".into(),
        user_name: Some("alice".into()),
        role: None,
        facts: Default::default(),
        console: Some(keyhaven_iam::sts::ConsoleHandle {
            handle_sha256: PLANTED.into(),
            sealed_token: PLANTED.into(),
        }),
    };
    let shown = format!("{session:?}");
    assert!(shown.contains("ASIAEXAMPLE"), "what is not secret still shows: {shown}");
    assert_hidden(shown);
}
