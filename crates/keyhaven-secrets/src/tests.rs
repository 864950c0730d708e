//! Secrets Manager domain tests, driven with a frozen clock so deletion windows and rotation
//! schedules act without waiting.

use std::sync::Mutex;

use super::*;
use crate::testing::{ACCOUNT, core, ctx};

const TOKEN_1: &str = "00000000-0000-4000-8000-000000000001";
const TOKEN_2: &str = "00000000-0000-4000-8000-000000000002";
const FUNCTION: &str = "arn:aws:lambda:us-east-1:111122223333:function:random";

fn text(value: &str) -> SecretValue {
    SecretValue::String(Zeroizing::new(value.into()))
}

fn create(core: &crate::testing::Fixture, name: &str, value: &str) -> Written {
    core.secrets
        .create_secret(
            &ctx("us-east-1"),
            CreateInput {
                name: name.into(),
                token: Some(TOKEN_1.into()),
                value: Some(text(value)),
                ..Default::default()
            },
        )
        .expect("create")
}

fn current(core: &crate::testing::Fixture, id: &str) -> String {
    match core
        .secrets
        .get_secret_value(&ctx("us-east-1"), id, None, None)
        .expect("get")
        .value
    {
        SecretValue::String(s) => s.to_string(),
        SecretValue::Binary(_) => panic!("binary"),
    }
}

fn fault_of<T: std::fmt::Debug>(result: Result<T, SecretsError>) -> SecretsFault {
    match result {
        Err(SecretsError::Fault(f, _)) => f,
        other => panic!("expected a Secrets Manager fault, got {other:?}"),
    }
}

#[test]
fn stages_follow_puts_and_tokens_are_idempotent() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let created = create(&core, "db", "one");
    assert!(
        created
            .arn
            .starts_with(&format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-"))
    );
    let put = |token: &str, value: &str, stages: Option<Vec<String>>| {
        core.secrets
            .put_secret_value(&c, "db", Some(token.into()), Some(text(value)), stages)
    };
    assert_eq!(put(TOKEN_2, "two", None).expect("put").stages, vec![AWSCURRENT]);
    // The same token with the same value is a retry; with another value it is refused.
    assert_eq!(
        put(TOKEN_2, "two", None).expect("retry").version_id.as_deref(),
        Some(TOKEN_2)
    );
    assert_eq!(fault_of(put(TOKEN_2, "other", None)), SecretsFault::ResourceExists);
    assert_eq!(current(&core, "db"), "two");
    let previous = core
        .secrets
        .get_secret_value(&c, &created.arn, None, Some(AWSPREVIOUS))
        .expect("previous");
    assert_eq!(previous.version_id, TOKEN_1);
    // A partial ARN (no suffix) finds the secret too.
    let partial = created.arn[..created.arn.len() - 7].to_string();
    assert_eq!(current(&core, &partial), "two");
    // Moving AWSCURRENT back needs the version that holds it named.
    let moved = core
        .secrets
        .update_secret_version_stage(&c, "db", AWSCURRENT, None, Some(TOKEN_1));
    assert_eq!(fault_of(moved), SecretsFault::InvalidParameter);
    core.secrets
        .update_secret_version_stage(&c, "db", AWSCURRENT, Some(TOKEN_2), Some(TOKEN_1))
        .expect("move");
    assert_eq!(current(&core, "db"), "one");
    let record = core.secrets.describe_secret(&c, "db").expect("describe");
    assert_eq!(record.versions[TOKEN_2].stages, vec![AWSPREVIOUS]);
}

#[test]
fn values_are_sealed_under_kms_and_never_stored_in_clear() {
    let (_d, core) = core();
    create(&core, "canary", "a-distinctive-canary-value");
    let scope = ctx("us-east-1").regional_scope();
    let stored = read(&*core.store, |tx| load_value(tx, &scope, "canary", TOKEN_1))
        .expect("read")
        .expect("value");
    let needle = b"a-distinctive-canary-value";
    assert!(!stored.envelope.windows(needle.len()).any(|w| w == needle));
    // The default key was created on first use, as AWS's managed key.
    let key = core
        .kms
        .describe_key(&ctx("us-east-1"), "alias/aws/secretsmanager")
        .expect("managed key");
    assert!(key.arn().contains(ACCOUNT));
}

#[test]
fn deletion_waits_for_its_window_and_restore_cancels_it() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    create(&core, "short", "v");
    create(&core, "kept", "v");
    assert_eq!(
        fault_of(core.secrets.delete_secret(&c, "short", Some(6), false)),
        SecretsFault::InvalidParameter
    );
    core.secrets.delete_secret(&c, "short", Some(7), false).expect("delete");
    core.secrets.delete_secret(&c, "kept", Some(7), false).expect("delete");
    assert_eq!(
        fault_of(core.secrets.get_secret_value(&c, "short", None, None)),
        SecretsFault::InvalidRequest
    );
    core.secrets.restore_secret(&c, "kept").expect("restore");
    core.clock.advance(7 * 86_400 - 10);
    core.run_due_jobs().expect("jobs");
    assert!(
        core.secrets.describe_secret(&c, "short").is_ok(),
        "not before the window ends"
    );
    core.clock.advance(20);
    core.run_due_jobs().expect("jobs");
    assert_eq!(
        fault_of(core.secrets.describe_secret(&c, "short")),
        SecretsFault::ResourceNotFound
    );
    assert_eq!(current(&core, "kept"), "v");
    // The name is free again.
    create(&core, "short", "again");
    let events = crate::testing::service_events(&core);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("secretsmanager.amazonaws.com", "DeleteSecret")
    );
    assert!(events[0].2.contains(":secret:short-"), "{events:?}");
}

/// Rotation functions for tests: the built-in random-password rotator, optionally failing a step.
struct TestFunctions {
    fail_at: Option<&'static str>,
    calls: Mutex<Vec<String>>,
}

impl RotationFunctions for TestFunctions {
    fn has(&self, arn: &str) -> bool {
        arn == FUNCTION
    }

    fn invoke(&self, step: &rotation::RotationStep<'_>, _: &str) -> Result<(), String> {
        self.calls.lock().expect("calls").push(step.event.step.to_string());
        if self.fail_at == Some(step.event.step) {
            return Err("refused by the test".into());
        }
        step.random_password().map_err(|e| e.to_string())
    }
}

fn rotate(core: &crate::testing::Fixture, days: i64) -> Result<Written, SecretsError> {
    core.secrets.rotate_secret(
        &ctx("us-east-1"),
        RotationInput {
            secret_id: "app".into(),
            token: Some(TOKEN_2.into()),
            lambda_arn: Some(FUNCTION.into()),
            rules: Some(RotationRules {
                automatically_after_days: Some(days),
                ..Default::default()
            }),
            rotate_immediately: None,
        },
    )
}

#[test]
fn rotation_runs_the_four_steps_and_moves_awscurrent() {
    let (_d, core) = core();
    let functions = Arc::new(TestFunctions {
        fail_at: None,
        calls: Mutex::new(Vec::new()),
    });
    core.secrets.set_rotation_functions(functions.clone());
    create(&core, "app", r#"{"username":"app","password":"old"}"#);
    assert_eq!(rotate(&core, 30).expect("rotate").version_id.as_deref(), Some(TOKEN_2));
    core.run_due_jobs().expect("jobs");
    assert_eq!(
        *functions.calls.lock().expect("calls"),
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
    );
    let rotated: serde_json::Value = serde_json::from_str(&current(&core, "app")).expect("json");
    assert_eq!(rotated["username"], "app");
    assert_ne!(rotated["password"], "old");
    let record = core
        .secrets
        .describe_secret(&ctx("us-east-1"), "app")
        .expect("describe");
    assert_eq!(record.versions[TOKEN_2].stages, vec![AWSCURRENT]);
    assert_eq!(record.versions[TOKEN_1].stages, vec![AWSPREVIOUS]);
    let rotated_at = record.last_rotated.expect("last rotated");
    assert_eq!(record.next_rotation, Some(rotated_at.floor() + 30.0 * 86_400.0));
    // The schedule runs the next rotation when it falls due.
    core.clock.advance(30 * 86_400 + 1);
    core.run_due_jobs().expect("jobs");
    assert_eq!(functions.calls.lock().expect("calls").len(), 8);
    // Each outcome is a service event listing the KMS calls the rotation made; no value is in it.
    core.audit.shutdown();
    let records: Vec<serde_json::Value> = keyhaven_kernel::audit::read_records(&*core.store, 0, 1_000)
        .expect("audit")
        .iter()
        .map(|(_, record)| serde_json::from_slice(record).expect("json"))
        .collect();
    let succeeded: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["eventName"] == "RotationSucceeded")
        .collect();
    assert_eq!(succeeded.len(), 2);
    let calls = succeeded[0]["serviceEventDetails"]["serviceCalls"]
        .as_array()
        .expect("calls");
    assert!(calls.iter().any(|c| c["eventName"] == "GenerateDataKey"));
    assert!(calls.iter().any(|c| c["eventName"] == "Decrypt"));
    let password = rotated["password"].as_str().expect("password");
    assert!(!records.iter().any(|r| r.to_string().contains(password)));
}

#[test]
fn a_failed_rotation_leaves_awscurrent_alone() {
    let (_d, core) = core();
    core.secrets.set_rotation_functions(Arc::new(TestFunctions {
        fail_at: Some("testSecret"),
        calls: Mutex::new(Vec::new()),
    }));
    create(&core, "app", "plain-old-password");
    rotate(&core, 1).expect("rotate");
    core.run_due_jobs().expect("jobs");
    assert_eq!(current(&core, "app"), "plain-old-password");
    let record = core
        .secrets
        .describe_secret(&ctx("us-east-1"), "app")
        .expect("describe");
    assert_eq!(record.versions[TOKEN_2].stages, vec![AWSPENDING]);
    assert_eq!(record.last_rotated, None);
    // A rotation is still pending on another version, so a new one is refused.
    let again = core.secrets.rotate_secret(
        &ctx("us-east-1"),
        RotationInput {
            secret_id: "app".into(),
            token: Some("00000000-0000-4000-8000-000000000003".into()),
            ..Default::default()
        },
    );
    assert_eq!(fault_of(again), SecretsFault::InvalidRequest);
}

#[test]
fn replicas_follow_the_primary_and_can_be_promoted() {
    let (_d, core) = core();
    let primary = ctx("us-east-1");
    let replica = ctx("eu-west-1");
    core.secrets
        .create_secret(
            &primary,
            CreateInput {
                name: "shared".into(),
                token: Some(TOKEN_1.into()),
                value: Some(text("v1")),
                replicas: vec![ReplicaSpec {
                    region: "eu-west-1".into(),
                    kms_key_id: None,
                }],
                ..Default::default()
            },
        )
        .expect("create");
    core.secrets
        .put_secret_value(&primary, "shared", Some(TOKEN_2.into()), Some(text("v2")), None)
        .expect("put");
    let read = |c: &RequestContext| match core
        .secrets
        .get_secret_value(c, "shared", None, None)
        .expect("get")
        .value
    {
        SecretValue::String(s) => s.to_string(),
        SecretValue::Binary(_) => panic!("binary"),
    };
    assert_eq!(read(&replica), "v2");
    let described = core.secrets.describe_secret(&replica, "shared").expect("describe");
    assert_eq!(described.primary_region.as_deref(), Some("us-east-1"));
    let write = core
        .secrets
        .put_secret_value(&replica, "shared", None, Some(text("v3")), None);
    assert_eq!(fault_of(write), SecretsFault::InvalidParameter);
    core.secrets
        .stop_replication_to_replica(&replica, "shared")
        .expect("promote");
    core.secrets
        .put_secret_value(&replica, "shared", None, Some(text("v3")), None)
        .expect("standalone now");
    assert_eq!(read(&replica), "v3");
    assert_eq!(read(&primary), "v2");
    assert!(
        core.secrets
            .describe_secret(&primary, "shared")
            .expect("describe")
            .replicas
            .is_empty()
    );
}
