//! IAM domain tests: entities, policies, versions, access keys and AWS's errors.

use super::*;
use crate::testing::{ACCOUNT, core, ctx};

const ALLOW_KMS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;

fn user(iam: &Iam, name: &str) -> Entity {
    iam.create_entity(&ctx("us-east-1"), NewEntity::named(EntityKind::User, name))
        .expect("create user")
}

#[test]
fn entities_have_aws_ids_arns_and_case_insensitive_names() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let alice = core
        .iam
        .create_entity(
            &c,
            NewEntity {
                path: Some("/staff/"),
                ..NewEntity::named(EntityKind::User, "Alice")
            },
        )
        .expect("create");
    assert!(alice.id.starts_with("AIDA") && alice.id.len() == 21, "{}", alice.id);
    assert_eq!(alice.arn(), format!("arn:aws:iam::{ACCOUNT}:user/staff/Alice"));
    let dup = core.iam.create_entity(&c, NewEntity::named(EntityKind::User, "alice"));
    assert_eq!(
        dup.err(),
        Some(IamError::AlreadyExists("User with name alice already exists.".into()))
    );
    assert_eq!(
        core.iam.entity(&c, EntityKind::User, "ALICE").expect("lookup").name,
        "Alice"
    );
    let role = core
        .iam
        .create_entity(
            &c,
            NewEntity {
                role: Some(RoleSettings {
                    assume_role_policy: TRUST_ACCOUNT.into(),
                    ..Default::default()
                }),
                ..NewEntity::named(EntityKind::Role, "app")
            },
        )
        .expect("role");
    assert!(role.id.starts_with("AROA"));
    assert_eq!(role.max_session_duration, Some(3600));
    assert_eq!(
        core.iam.entity(&c, EntityKind::Group, "nobody").err(),
        Some(IamError::NotFound("The group with name nobody cannot be found.".into()))
    );
}

#[test]
fn trust_and_identity_policies_are_validated() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let bad_trust = RoleSettings {
        assume_role_policy: "{}".into(),
        ..Default::default()
    };
    assert!(matches!(
        core.iam.create_entity(
            &c,
            NewEntity {
                role: Some(bad_trust),
                ..NewEntity::named(EntityKind::Role, "r")
            }
        ),
        Err(IamError::MalformedPolicyDocument(_))
    ));
    user(&core.iam, "bob");
    assert!(matches!(
        core.iam.put_inline_policy(&c, EntityKind::User, "bob", "p", "not json"),
        Err(IamError::MalformedPolicyDocument(_))
    ));
    let with_principal =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    assert!(matches!(
        core.iam
            .put_inline_policy(&c, EntityKind::User, "bob", "p", with_principal),
        Err(IamError::MalformedPolicyDocument(_))
    ));
    let huge = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{}],"Resource":"*"}}]}}"#,
        (0..700)
            .map(|i| format!("\"kms:Action{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(matches!(
        core.iam.create_policy(&c, "huge", None, &huge, None, vec![]),
        Err(IamError::LimitExceeded(_))
    ));
}

#[test]
fn inline_and_attached_policies_feed_the_user_and_group_policy_set() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let policy = core
        .iam
        .create_policy(&c, "kms-all", Some("/team/"), ALLOW_KMS, None, vec![])
        .expect("policy");
    assert_eq!(policy.arn(), format!("arn:aws:iam::{ACCOUNT}:policy/team/kms-all"));
    user(&core.iam, "carol");
    core.iam
        .create_entity(&c, NewEntity::named(EntityKind::Group, "devs"))
        .expect("group");
    core.iam.add_user_to_group(&c, "devs", "carol").expect("join");
    core.iam
        .put_inline_policy(&c, EntityKind::User, "carol", "own", ALLOW_KMS)
        .expect("inline");
    core.iam
        .attach_policy(&c, EntityKind::Group, "devs", &policy.arn())
        .expect("attach");
    core.iam
        .attach_policy(&c, EntityKind::Group, "devs", "arn:aws:iam::aws:policy/ReadOnlyAccess")
        .expect("aws managed");
    let carol = core.iam.entity(&c, EntityKind::User, "carol").expect("carol");
    let docs = core.iam.user_policies(ACCOUNT, &carol).expect("policies");
    assert_eq!(docs.len(), 3);
    assert_eq!(core.iam.policy(&c, &policy.arn()).expect("policy").attachment_count, 1);
    assert!(matches!(
        core.iam.delete_policy(&c, &policy.arn()),
        Err(IamError::DeleteConflict(_))
    ));
    assert!(matches!(
        core.iam.delete_entity(&c, EntityKind::Group, "devs"),
        Err(IamError::DeleteConflict(_))
    ));
    let missing = format!("arn:aws:iam::{ACCOUNT}:policy/none");
    assert_eq!(
        core.iam.attach_policy(&c, EntityKind::User, "carol", &missing).err(),
        Some(IamError::NotFound(format!(
            "Policy {missing} does not exist or is not attachable."
        )))
    );
}

#[test]
fn policy_versions_follow_aws_rules() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let arn = core
        .iam
        .create_policy(&c, "p", None, ALLOW_KMS, None, vec![])
        .expect("policy")
        .arn();
    for expected in ["v2", "v3", "v4", "v5"] {
        assert_eq!(
            core.iam
                .create_policy_version(&c, &arn, ALLOW_KMS, false)
                .expect("version")
                .version_id,
            expected
        );
    }
    assert!(matches!(
        core.iam.create_policy_version(&c, &arn, ALLOW_KMS, false),
        Err(IamError::LimitExceeded(_))
    ));
    assert!(matches!(
        core.iam.delete_policy_version(&c, &arn, "v1"),
        Err(IamError::DeleteConflict(_))
    ));
    core.iam.set_default_policy_version(&c, &arn, "v3").expect("default");
    core.iam
        .delete_policy_version(&c, &arn, "v1")
        .expect("delete old default");
    assert_eq!(
        core.iam
            .create_policy_version(&c, &arn, ALLOW_KMS, true)
            .expect("v6")
            .version_id,
        "v6",
        "ids are never reused"
    );
    assert_eq!(core.iam.policy(&c, &arn).expect("policy").default_version, "v6");
}

#[test]
fn access_keys_rotate_and_verify() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    user(&core.iam, "dave");
    let first = core.iam.create_access_key(&c, "dave").expect("key 1");
    assert!(first.record.access_key_id.starts_with("AKIA") && first.record.access_key_id.len() == 20);
    assert_eq!(first.secret.len(), 40);
    let second = core.iam.create_access_key(&c, "dave").expect("key 2");
    assert!(matches!(
        core.iam.create_access_key(&c, "dave"),
        Err(IamError::LimitExceeded(_))
    ));
    let KeyLookup::Active(verified) = core.iam.verify_access_key(&first.record.access_key_id).expect("lookup") else {
        panic!("the new key is active")
    };
    assert_eq!(verified.secret, first.secret);
    assert_eq!(verified.user.name, "dave");
    core.iam
        .update_access_key(&c, "dave", &first.record.access_key_id, false)
        .expect("deactivate");
    assert!(
        matches!(
            core.iam.verify_access_key(&first.record.access_key_id).expect("lookup"),
            KeyLookup::Disabled
        ),
        "inactive keys do not verify"
    );
    assert!(matches!(
        core.iam.delete_entity(&c, EntityKind::User, "dave"),
        Err(IamError::DeleteConflict(_))
    ));
    core.iam
        .delete_access_key(&c, "dave", &first.record.access_key_id)
        .expect("delete");
    core.iam
        .delete_access_key(&c, "dave", &second.record.access_key_id)
        .expect("delete");
    assert!(core.iam.list_access_keys(&c, "dave").expect("list").is_empty());
    assert!(matches!(
        core.iam
            .verify_access_key(&second.record.access_key_id)
            .expect("lookup"),
        KeyLookup::Unknown
    ));
    core.iam
        .delete_entity(&c, EntityKind::User, "dave")
        .expect("now deletable");
}

#[test]
fn other_accounts_see_nothing() {
    let (_d, core) = core();
    user(&core.iam, "erin");
    let mut other = ctx("us-east-1");
    other.principal = keyhaven_kernel::context::Principal::root("999999999999", "AKIAOTHER");
    assert!(matches!(
        core.iam.entity(&other, EntityKind::User, "erin"),
        Err(IamError::NotFound(_))
    ));
    assert!(
        core.iam
            .list_entities(&other, EntityKind::User, None, 100, None)
            .expect("list")
            .items
            .is_empty()
    );
}
