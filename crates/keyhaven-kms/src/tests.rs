//! KMS domain tests, driven with a frozen clock so scheduled work runs without waiting.

use super::*;
use crate::testing::{ACCOUNT, core, ctx};

fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn create(core: &crate::testing::Fixture) -> KeyRecord {
    core.kms
        .create_key(&ctx("us-east-1"), CreateKeyInput::default())
        .expect("create")
}

#[test]
fn create_key_has_aws_defaults() {
    let (_d, core) = core();
    let key = create(&core);
    assert_eq!(key.state, KeyState::Enabled);
    assert_eq!(key.key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(key.key_usage, "ENCRYPT_DECRYPT");
    assert_eq!(key.key_manager, "CUSTOMER");
    assert_eq!(key.arn(), format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{}", key.key_id));
    assert_eq!(key.creation_date, crate::testing::START as f64);
    let policy: serde_json::Value = serde_json::from_str(&key.policy).expect("json");
    assert_eq!(
        policy["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
}

/// Whether an error is the expected one.
type ErrorCheck = fn(&KmsError) -> bool;

#[test]
fn create_key_refuses_what_it_does_not_support_with_aws_errors() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let cases: Vec<(CreateKeyInput, ErrorCheck)> = vec![
        (
            CreateKeyInput {
                key_spec: Some("RSA_2048".into()),
                ..Default::default()
            },
            |e| {
                *e == KmsError::Validation(
                    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
                )
            },
        ),
        (
            CreateKeyInput {
                key_spec: Some("SM2".into()),
                key_usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            },
            |e| *e == KmsError::UnsupportedOperation("KeySpec SM2 is not supported in this Region".into()),
        ),
        (
            CreateKeyInput {
                key_usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            },
            |e| matches!(e, KmsError::Validation(_)),
        ),
        (
            CreateKeyInput {
                origin: Some("EXTERNAL_KEY_STORE".into()),
                ..Default::default()
            },
            |e| matches!(e, KmsError::UnsupportedOperation(_)),
        ),
        (
            CreateKeyInput {
                multi_region: true,
                origin: Some("AWS_CLOUDHSM".into()),
                custom_key_store_id: Some("cks-00000000000000000".into()),
                ..Default::default()
            },
            |e| matches!(e, KmsError::UnsupportedOperation(_)),
        ),
        (
            CreateKeyInput {
                key_spec: Some("SYMMETRIC_DEFAULT".into()),
                customer_master_key_spec: Some("SYMMETRIC_DEFAULT".into()),
                ..Default::default()
            },
            |e| matches!(e, KmsError::Validation(_)),
        ),
        (
            CreateKeyInput {
                policy: Some("{".into()),
                ..Default::default()
            },
            |e| matches!(e, KmsError::MalformedPolicyDocument(_)),
        ),
        (
            CreateKeyInput {
                tags: vec![Tag {
                    key: "aws:x".into(),
                    value: "v".into(),
                }],
                ..Default::default()
            },
            |e| *e == KmsError::Tag("Tags beginning with aws: are reserved".into()),
        ),
        (
            CreateKeyInput {
                tags: vec![
                    Tag {
                        key: "a".into(),
                        value: "1".into(),
                    },
                    Tag {
                        key: "a".into(),
                        value: "2".into(),
                    },
                ],
                ..Default::default()
            },
            |e| *e == KmsError::Tag("Duplicate tag keys".into()),
        ),
    ];
    for (input, expected) in cases {
        let err = core.kms.create_key(&c, input.clone()).expect_err("must fail");
        assert!(expected(&err), "{input:?} gave {err:?}");
    }
    assert!(
        core.kms.list_keys(&c, 100, None).expect("list").items.is_empty(),
        "nothing was written"
    );
}

#[test]
fn encrypt_decrypt_round_trip_with_context() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    let context = ec(&[("purpose", "test")]);
    let sealed = core
        .kms
        .encrypt(&c, &key.key_id, b"hello", &context, None, false)
        .expect("encrypt");
    assert_eq!(sealed.key_arn, key.arn());
    let opened = core
        .kms
        .decrypt(&c, &sealed.ciphertext, &context, None, None, false)
        .expect("decrypt");
    assert_eq!(opened.plaintext.expose(), b"hello");
    assert_eq!(opened.key_arn, key.arn());
    assert_eq!(
        core.kms
            .decrypt(&c, &sealed.ciphertext, &ec(&[]), None, None, false)
            .err(),
        Some(KmsError::InvalidCiphertext)
    );
    assert_eq!(
        core.kms.decrypt(&c, b"garbage", &context, None, None, false).err(),
        Some(KmsError::InvalidCiphertext)
    );
}

#[test]
fn decrypt_with_the_wrong_key_id_is_incorrect_key() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let (a, b) = (create(&core), create(&core));
    let sealed = core
        .kms
        .encrypt(&c, &a.key_id, b"x", &ec(&[]), None, false)
        .expect("encrypt");
    let err = core
        .kms
        .decrypt(&c, &sealed.ciphertext, &ec(&[]), Some(&b.key_id), None, false)
        .expect_err("wrong key");
    assert!(matches!(err, KmsError::IncorrectKey(_)));
    let ok = core
        .kms
        .decrypt(&c, &sealed.ciphertext, &ec(&[]), Some(&a.arn()), None, false)
        .expect("right key");
    assert_eq!(ok.plaintext.expose(), b"x");
}

#[test]
fn key_states_gate_cryptography() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    core.kms.disable_key(&c, &key.key_id).expect("disable");
    let err = core
        .kms
        .encrypt(&c, &key.key_id, b"x", &ec(&[]), None, false)
        .expect_err("disabled");
    assert_eq!(err, KmsError::Disabled(format!("{} is disabled.", key.arn())));
    core.kms.enable_key(&c, &key.key_id).expect("enable");
    core.kms
        .encrypt(&c, &key.key_id, b"x", &ec(&[]), None, false)
        .expect("enabled again");
    core.kms
        .schedule_key_deletion(&c, &key.key_id, Some(7))
        .expect("schedule");
    let err = core
        .kms
        .encrypt(&c, &key.key_id, b"x", &ec(&[]), None, false)
        .expect_err("pending deletion");
    assert_eq!(
        err,
        KmsError::InvalidState(format!("{} is pending deletion.", key.arn()))
    );
    assert!(matches!(
        core.kms.enable_key(&c, &key.key_id),
        Err(KmsError::InvalidState(_))
    ));
    let cancelled = core.kms.cancel_key_deletion(&c, &key.key_id).expect("cancel");
    assert_eq!(
        cancelled.state,
        KeyState::Disabled,
        "AWS leaves a cancelled key disabled"
    );
    assert!(matches!(
        core.kms.cancel_key_deletion(&c, &key.key_id),
        Err(KmsError::InvalidState(_))
    ));
}

#[test]
fn scheduled_deletion_runs_when_the_window_ends_and_not_before() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    core.kms.create_alias(&c, "alias/doomed", &key.key_id).expect("alias");
    let pending = core
        .kms
        .schedule_key_deletion(&c, &key.key_id, Some(7))
        .expect("schedule");
    assert_eq!(pending.deletion_date, Some((crate::testing::START + 7 * 86_400) as f64));
    core.clock.advance(7 * 86_400 - 1);
    core.run_due_jobs().expect("run");
    assert_eq!(
        core.kms.describe_key(&c, &key.key_id).expect("still there").state,
        KeyState::PendingDeletion
    );
    core.clock.advance(1);
    assert_eq!(core.run_due_jobs().expect("run"), 1);
    assert!(matches!(
        core.kms.describe_key(&c, &key.key_id),
        Err(KmsError::NotFound(_))
    ));
    let listed = core.kms.list_aliases(&c, None, 50, None).expect("aliases").items;
    assert!(
        listed.iter().all(|a| a.record.is_none()),
        "aliases go with the key; only AWS's predefined ones, without a key, remain"
    );
    assert_eq!(listed.len(), 14);
    assert_eq!(
        crate::testing::service_events(&core),
        [("kms.amazonaws.com".to_string(), "DeleteKey".to_string(), key.arn())],
        "the deletion is a CloudTrail service event"
    );
}

#[test]
fn cancelled_deletion_never_runs() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    core.kms
        .schedule_key_deletion(&c, &key.key_id, Some(7))
        .expect("schedule");
    core.kms.cancel_key_deletion(&c, &key.key_id).expect("cancel");
    core.clock.advance(30 * 86_400);
    assert_eq!(core.run_due_jobs().expect("run"), 0);
    core.kms.describe_key(&c, &key.key_id).expect("key survives");
}

#[test]
fn automatic_rotation_adds_material_and_old_ciphertexts_still_decrypt() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    let before = core
        .kms
        .encrypt(&c, &key.key_id, b"old", &ec(&[]), None, false)
        .expect("encrypt");
    core.kms
        .enable_key_rotation(&c, &key.key_id, Some(90))
        .expect("enable rotation");
    let status = core.kms.key_rotation_status(&c, &key.key_id).expect("status");
    assert!(status.enabled);
    assert_eq!(status.period_days, Some(90));
    assert_eq!(status.next_rotation, Some((crate::testing::START + 90 * 86_400) as f64));
    core.clock.advance(90 * 86_400);
    assert_eq!(core.run_due_jobs().expect("run"), 1);
    let after = core
        .kms
        .encrypt(&c, &key.key_id, b"new", &ec(&[]), None, false)
        .expect("encrypt");
    assert_ne!(before.material_id, after.material_id, "new material encrypts");
    let rotations = core
        .kms
        .list_key_rotations(&c, &key.key_id, RotationListing::RotationsOnly, 100, None)
        .expect("list");
    assert_eq!(rotations.items.len(), 1);
    assert_eq!(rotations.items[0].rotation_type, Some("AUTOMATIC"));
    let old = core
        .kms
        .decrypt(&c, &before.ciphertext, &ec(&[]), None, None, false)
        .expect("old decrypts");
    assert_eq!(old.plaintext.expose(), b"old");
    let next = core
        .kms
        .key_rotation_status(&c, &key.key_id)
        .expect("status")
        .next_rotation;
    assert_eq!(
        next,
        Some((crate::testing::START + 180 * 86_400) as f64),
        "rescheduled one period later"
    );
    assert_eq!(
        crate::testing::service_events(&core),
        [("kms.amazonaws.com".to_string(), "RotateKey".to_string(), key.arn())]
    );
}

#[test]
fn on_demand_rotation_is_limited_to_25() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    for _ in 0..25 {
        core.kms.rotate_key_on_demand(&c, &key.key_id).expect("rotate");
    }
    assert!(matches!(
        core.kms.rotate_key_on_demand(&c, &key.key_id),
        Err(KmsError::LimitExceeded(_))
    ));
    let all = core
        .kms
        .list_key_rotations(&c, &key.key_id, RotationListing::AllKeyMaterial, 1000, None)
        .expect("list");
    assert_eq!(all.items.len(), 26);
    assert_eq!(all.items.iter().filter(|e| e.state == "CURRENT").count(), 1);
}

#[test]
fn aliases_resolve_and_follow_aws_rules() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let (a, b) = (create(&core), create(&core));
    core.kms.create_alias(&c, "alias/app", &a.key_id).expect("create alias");
    assert_eq!(
        core.kms.describe_key(&c, "alias/app").expect("by alias").key_id,
        a.key_id
    );
    let alias_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app");
    assert_eq!(
        core.kms.describe_key(&c, &alias_arn).expect("by alias arn").key_id,
        a.key_id
    );
    assert!(matches!(
        core.kms.create_alias(&c, "alias/app", &b.key_id),
        Err(KmsError::AlreadyExists(_))
    ));
    assert!(matches!(
        core.kms.create_alias(&c, "alias/aws/s3", &b.key_id),
        Err(KmsError::NotAuthorized(_))
    ));
    assert!(matches!(
        core.kms.create_alias(&c, "app2", &b.key_id),
        Err(KmsError::Validation(_))
    ));
    assert!(matches!(
        core.kms.create_alias(&c, "alias/x", "alias/app"),
        Err(KmsError::Validation(_))
    ));
    assert_eq!(
        core.kms.enable_key_rotation(&c, "alias/app", None).err(),
        Some(KmsError::NotFound("Invalid keyId 'alias/app'".into())),
        "management operations take a key id or key ARN only"
    );
    assert_eq!(
        core.kms.create_alias(&c, "alias/aws/s3", &b.key_id).err(),
        Some(KmsError::NotAuthorized(String::new()))
    );
    core.kms.update_alias(&c, "alias/app", &b.key_id).expect("update");
    assert_eq!(
        core.kms.describe_key(&c, "alias/app").expect("by alias").key_id,
        b.key_id
    );
    let filtered = core.kms.list_aliases(&c, Some(&b.key_id), 50, None).expect("list");
    assert_eq!(filtered.items.len(), 1);
    core.kms.delete_alias(&c, "alias/app").expect("delete");
    assert_eq!(
        core.kms.describe_key(&c, "alias/app").err(),
        Some(KmsError::NotFound(format!("Alias {alias_arn} is not found.")))
    );
}

#[test]
fn key_references_give_aws_not_found_messages() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let missing = "11111111-2222-4333-8444-555555555555";
    let cases = [
        ("fake-key-id", "Invalid keyId 'fake-key-id'".to_string()),
        (
            missing,
            format!("Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist"),
        ),
        (
            &format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{missing}"),
            "Invalid arn us-west-2".to_string(),
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            core.kms.describe_key(&c, input).err(),
            Some(KmsError::NotFound(message)),
            "{input}"
        );
    }
}

#[test]
fn keys_are_regional() {
    let (_d, core) = core();
    let key = create(&core);
    let west = ctx("us-west-2");
    assert!(matches!(
        core.kms.describe_key(&west, &key.key_id),
        Err(KmsError::NotFound(_))
    ));
    assert!(core.kms.list_keys(&west, 100, None).expect("list").items.is_empty());
    let sealed = core
        .kms
        .encrypt(&ctx("us-east-1"), &key.key_id, b"x", &ec(&[]), None, false)
        .expect("encrypt");
    assert_eq!(
        core.kms
            .decrypt(&west, &sealed.ciphertext, &ec(&[]), None, None, false)
            .err(),
        Some(KmsError::InvalidCiphertext)
    );
}

#[test]
fn list_keys_pages() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let mut ids: Vec<String> = (0..5).map(|_| create(&core).key_id).collect();
    ids.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = core.kms.list_keys(&c, 2, marker.as_deref()).expect("page");
        seen.extend(page.items.into_iter().map(|k| k.key_id));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[test]
fn tags_add_replace_remove() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    let tag = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    core.kms
        .tag_resource(&c, &key.key_id, vec![tag("a", "1"), tag("b", "2")])
        .expect("tag");
    core.kms
        .tag_resource(&c, &key.key_id, vec![tag("a", "3")])
        .expect("retag");
    core.kms.untag_resource(&c, &key.key_id, &["b".into()]).expect("untag");
    let tags = core.kms.list_resource_tags(&c, &key.key_id, 50, None).expect("list");
    assert_eq!(tags.items, vec![tag("a", "3")]);
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(
        core.kms.tag_resource(&c, &key.key_id, many).err(),
        Some(KmsError::Tag("Too many tags".into()))
    );
}

#[test]
fn generate_data_key_rules() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    let (plain, sealed) = core
        .kms
        .generate_data_key(
            &c,
            "kms:GenerateDataKey",
            &key.key_id,
            &ec(&[]),
            None,
            Some("AES_256"),
            false,
        )
        .expect("gdk");
    assert_eq!(plain.len(), 32);
    let opened = core
        .kms
        .decrypt(&c, &sealed.ciphertext, &ec(&[]), None, None, false)
        .expect("decrypt");
    assert_eq!(opened.plaintext, plain);
    let (plain, _) = core
        .kms
        .generate_data_key(&c, "kms:GenerateDataKey", &key.key_id, &ec(&[]), Some(7), None, false)
        .expect("gdk");
    assert_eq!(plain.len(), 7);
    for (n, spec) in [(None, None), (Some(16), Some("AES_128"))] {
        let err = core
            .kms
            .generate_data_key(&c, "kms:GenerateDataKey", &key.key_id, &ec(&[]), n, spec, false)
            .expect_err("exactly one");
        assert_eq!(
            err,
            KmsError::Validation("Please specify either number of bytes or key spec.".into())
        );
    }
    assert_eq!(
        core.kms
            .generate_data_key(&c, "kms:GenerateDataKey", &key.key_id, &ec(&[]), Some(7), None, true)
            .err(),
        Some(KmsError::DryRun)
    );
}

#[test]
fn aws_managed_key_is_created_once() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let first = core.kms.aws_managed_key(&c, "ssm").expect("create");
    let second = core.kms.aws_managed_key(&c, "ssm").expect("again");
    assert_eq!(first.key_id, second.key_id);
    assert_eq!(first.key_manager, "AWS");
    assert!(first.rotation.enabled, "AWS managed keys rotate yearly");
    // Its key policy grants the account metadata reads only: nobody may schedule its deletion.
    assert!(matches!(
        core.kms.schedule_key_deletion(&c, &first.key_id, None),
        Err(KmsError::AccessDenied(_))
    ));
    assert!(matches!(
        core.kms.encrypt(&c, &first.key_id, b"x", &ec(&[]), None, false),
        Err(KmsError::AccessDenied(_))
    ));
    let through_ssm = c.through("ssm.amazonaws.com");
    core.kms
        .encrypt(&through_ssm, &first.key_id, b"x", &ec(&[]), None, false)
        .expect("any principal of the account may use it through SSM");
    assert_eq!(
        core.kms.describe_key(&c, "alias/aws/ssm").expect("alias").key_id,
        first.key_id
    );
}

#[test]
fn re_encrypt_moves_ciphertext_between_keys_and_contexts() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let (a, b) = (create(&core), create(&core));
    let sealed = core
        .kms
        .encrypt(&c, &a.key_id, b"move me", &ec(&[("from", "a")]), None, false)
        .expect("encrypt");
    let moved = core
        .kms
        .re_encrypt(
            &c,
            &sealed.ciphertext,
            &ec(&[("from", "a")]),
            None,
            &b.key_id,
            &ec(&[("to", "b")]),
            (None, None),
            false,
        )
        .expect("re-encrypt");
    assert_eq!(moved.source_key_arn, a.arn());
    assert_eq!(moved.destination_key_arn, b.arn());
    let opened = core
        .kms
        .decrypt(&c, &moved.ciphertext, &ec(&[("to", "b")]), Some(&b.key_id), None, false)
        .expect("decrypt");
    assert_eq!(opened.plaintext.expose(), b"move me");
}

#[test]
fn keys_survive_a_new_core_over_the_same_store() {
    let (dir, core) = core();
    let c = ctx("us-east-1");
    let key = create(&core);
    let sealed = core
        .kms
        .encrypt(&c, &key.key_id, b"durable", &ec(&[]), None, false)
        .expect("encrypt");
    let store = core.store.clone();
    // Another Kms over the same store and a different root key cannot unseal: the root key matters.
    let other = Kms::new(
        store.clone(),
        Arc::new(RootKey::generate().expect("root")),
        Arc::new(keyhaven_kernel::clock::AdjustableClock::system()),
        core.authz.clone(),
    );
    assert!(matches!(
        other.decrypt(&c, &sealed.ciphertext, &ec(&[]), None, None, false),
        Err(KmsError::Internal(_))
    ));
    drop(dir);
}
