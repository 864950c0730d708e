//! Parameter Store domain tests, driven with a frozen clock so policies act without waiting.

use super::*;
use crate::testing::{START, core, ctx};
use keyhaven_kernel::events::log_after;

fn put(
    core: &crate::testing::Fixture,
    name: &str,
    value: &str,
    kind: Option<&str>,
    overwrite: bool,
) -> Result<(i64, String), SsmError> {
    core.ssm.put_parameter(
        &ctx("us-east-1"),
        PutInput {
            name: name.into(),
            value: Zeroizing::new(value.into()),
            parameter_type: kind.map(str::to_string),
            overwrite,
            ..Default::default()
        },
    )
}

fn fault_of<T: std::fmt::Debug>(result: Result<T, SsmError>) -> SsmFault {
    match result {
        Err(SsmError::Fault(f, _)) => f,
        other => panic!("expected a Parameter Store fault, got {other:?}"),
    }
}

fn event_operations(core: &crate::testing::Fixture) -> Vec<String> {
    keyhaven_kernel::transact(&*core.store, |tx| log_after(tx, None, 1_000))
        .expect("log")
        .into_iter()
        .map(|s| {
            s.event.detail["operation"]
                .as_str()
                .or(s.event.detail["policy-type"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn versions_grow_and_selectors_read_old_ones() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    assert_eq!(
        put(&core, "/app/url", "v1", Some("String"), false).expect("create").0,
        1
    );
    assert_eq!(
        fault_of(put(&core, "/app/url", "v2", None, false)),
        SsmFault::ParameterAlreadyExists
    );
    assert_eq!(put(&core, "/app/url", "v2", None, true).expect("update").0, 2);
    let old = core.ssm.get_parameter(&c, "/app/url:1", false).expect("v1");
    assert_eq!((old.value.as_str(), old.selector.as_deref()), ("v1", Some(":1")));
    assert_eq!(
        fault_of(core.ssm.get_parameter(&c, "/app/url:9", false)),
        SsmFault::ParameterVersionNotFound
    );
    core.ssm
        .label_parameter_version(&c, "/app/url", Some(1), &["prod".into()])
        .expect("label");
    assert_eq!(
        core.ssm
            .get_parameter(&c, "/app/url:prod", false)
            .expect("label")
            .value
            .as_str(),
        "v1"
    );
    assert_eq!(
        event_operations(&core),
        vec!["Create", "Update", "LabelParameterVersion"]
    );
}

#[test]
fn a_hundred_versions_are_kept_and_a_labelled_oldest_blocks_the_next() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    for i in 1..=100 {
        put(&core, "p", &format!("v{i}"), Some("String"), i > 1).expect("put");
    }
    assert_eq!(put(&core, "p", "v101", None, true).expect("101st").0, 101);
    assert_eq!(
        fault_of(core.ssm.get_parameter(&c, "p:1", false)),
        SsmFault::ParameterVersionNotFound
    );
    let history = core.ssm.parameter_history(&c, "p", false, 50, None).expect("history");
    assert_eq!(history.items[0].version.version, 2);
    core.ssm
        .label_parameter_version(&c, "p", Some(2), &["keep".into()])
        .expect("label");
    assert_eq!(
        fault_of(put(&core, "p", "v102", None, true)),
        SsmFault::ParameterMaxVersionLimitExceeded
    );
    assert_eq!(core.ssm.get_parameter(&c, "p", false).expect("current").version, 101);
}

#[test]
fn labels_move_between_versions_and_invalid_ones_are_returned() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    put(&core, "p", "a", Some("String"), false).expect("put");
    put(&core, "p", "b", None, true).expect("put");
    let (invalid, version) = core
        .ssm
        .label_parameter_version(&c, "p", Some(1), &["x".into(), "1bad".into(), "awsy".into()])
        .expect("label");
    assert_eq!((invalid, version), (vec!["1bad".to_string(), "awsy".to_string()], 1));
    core.ssm
        .label_parameter_version(&c, "p", None, &["x".into()])
        .expect("move");
    assert_eq!(core.ssm.get_parameter(&c, "p:x", false).expect("moved").version, 2);
    let ten: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    assert_eq!(
        fault_of(core.ssm.label_parameter_version(&c, "p", Some(2), &ten)),
        SsmFault::ParameterVersionLabelLimitExceeded
    );
    let (removed, invalid) = core
        .ssm
        .unlabel_parameter_version(&c, "p", 2, &["x".into(), "nope".into()])
        .expect("unlabel");
    assert_eq!((removed, invalid), (vec!["x".to_string()], vec!["nope".to_string()]));
}

#[test]
fn tiers_upgrade_but_never_downgrade_and_quotas_hold() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let big = "x".repeat(5_000);
    assert_eq!(
        fault_of(put(&core, "big", &big, Some("String"), false)),
        SsmFault::Validation
    );
    let input = |tier: &str, value: &str, overwrite: bool| PutInput {
        name: "t".into(),
        value: Zeroizing::new(value.into()),
        parameter_type: Some("String".into()),
        tier: Some(tier.into()),
        overwrite,
        ..Default::default()
    };
    assert_eq!(
        core.ssm
            .put_parameter(&c, input(INTELLIGENT_TIERING, "small", false))
            .expect("it")
            .1,
        STANDARD
    );
    assert_eq!(
        core.ssm
            .put_parameter(&c, input(INTELLIGENT_TIERING, &big, true))
            .expect("up")
            .1,
        ADVANCED
    );
    assert_eq!(
        fault_of(core.ssm.put_parameter(&c, input(STANDARD, "small", true))),
        SsmFault::Validation
    );
    assert_eq!(put(&core, "t", "small again", None, true).expect("stays").1, ADVANCED);

    let (_d2, limited) = crate::testing::core_with(ParameterQuotas {
        standard: 2,
        advanced: 1,
    });
    put(&limited, "a", "1", Some("String"), false).expect("first");
    put(&limited, "b", "1", Some("String"), false).expect("second");
    assert_eq!(
        fault_of(put(&limited, "c", "1", Some("String"), false)),
        SsmFault::ParameterLimitExceeded
    );
    limited.ssm.delete_parameter(&c, "a").expect("delete");
    put(&limited, "c", "1", Some("String"), false).expect("room again");
}

#[test]
fn expiration_deletes_the_parameter_and_notifications_fire_once() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    let expires = time::OffsetDateTime::from_unix_timestamp(START + 3 * 86_400)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let policies = format!(
        r#"[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{expires}"}}}},
            {{"Type":"ExpirationNotification","Version":"1.0","Attributes":{{"Before":"1","Unit":"Days"}}}},
            {{"Type":"NoChangeNotification","Version":"1.0","Attributes":{{"After":"12","Unit":"Hours"}}}}]"#
    );
    let (_, tier) = core
        .ssm
        .put_parameter(
            &c,
            PutInput {
                name: "/exp/p".into(),
                value: Zeroizing::new("v".into()),
                parameter_type: Some("String".into()),
                tier: Some(INTELLIGENT_TIERING.into()),
                policies: Some(policies),
                ..Default::default()
            },
        )
        .expect("put");
    assert_eq!(tier, ADVANCED);
    core.clock.advance(13 * 3_600);
    core.run_due_jobs().expect("jobs");
    let described = core.ssm.describe_parameters(&c, &[], &[], 10, None).expect("describe");
    let statuses: Vec<&str> = described.items[0]
        .version
        .policies
        .iter()
        .map(|p| p.status.as_str())
        .collect();
    assert_eq!(statuses, vec!["Pending", "Pending", "Finished"]);
    core.clock.advance(3 * 86_400);
    core.run_due_jobs().expect("jobs");
    assert_eq!(
        fault_of(core.ssm.get_parameter(&c, "/exp/p", false)),
        SsmFault::ParameterNotFound
    );
    assert_eq!(
        event_operations(&core),
        vec![
            "Create",
            "NoChangeNotification",
            "ExpirationNotification",
            "Expiration",
            "Delete"
        ]
    );
    assert_eq!(
        crate::testing::service_events(&core),
        [(
            "ssm.amazonaws.com".to_string(),
            "DeleteParameter".to_string(),
            format!("arn:aws:ssm:us-east-1:{}:parameter/exp/p", crate::testing::ACCOUNT)
        )]
    );
}

#[test]
fn policies_need_the_advanced_tier() {
    let (_d, core) = core();
    let result = core.ssm.put_parameter(
        &ctx("us-east-1"),
        PutInput {
            name: "p".into(),
            value: Zeroizing::new("v".into()),
            parameter_type: Some("String".into()),
            tier: Some(STANDARD.into()),
            policies: Some(
                r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"1","Unit":"Days"}}]"#.into(),
            ),
            ..Default::default()
        },
    );
    assert_eq!(fault_of(result), SsmFault::Validation);
}

#[test]
fn secure_strings_round_trip_in_both_tiers_and_are_ciphertext_at_rest() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    for (name, tier) in [("/s/std", STANDARD), ("/s/adv", ADVANCED)] {
        core.ssm
            .put_parameter(
                &c,
                PutInput {
                    name: name.into(),
                    value: Zeroizing::new("hunter2-secret".into()),
                    parameter_type: Some(SECURE_STRING.into()),
                    tier: Some(tier.into()),
                    ..Default::default()
                },
            )
            .expect("put");
        let hidden = core.ssm.get_parameter(&c, name, false).expect("get");
        assert!(!hidden.value.contains("hunter2"));
        assert_eq!(
            core.ssm.get_parameter(&c, name, true).expect("dec").value.as_str(),
            "hunter2-secret"
        );
    }
    let calls: Vec<&str> = c.service_calls.drain().iter().map(|call| call.operation).collect();
    assert_eq!(calls, vec!["Encrypt", "Decrypt", "GenerateDataKey", "Decrypt"]);
    let raw = transact(&*core.store, |tx| {
        Ok(tx.list(
            <ParameterRecord as keyhaven_kernel::records::Record>::KIND,
            &c.regional_scope(),
            None,
            10,
        )?)
    })
    .expect("raw");
    assert!(
        raw.iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("hunter2"))
    );
}

#[test]
fn paths_list_one_level_or_the_whole_subtree_with_paging() {
    let (_d, core) = core();
    let c = ctx("us-east-1");
    for name in ["/a/1", "/a/2", "/a/b/3", "/a/b/c/4", "/ab/5", "top"] {
        put(&core, name, "v", Some("String"), false).expect("put");
    }
    let names = |page: &Page<ParameterView>| page.items.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    let one = core
        .ssm
        .get_parameters_by_path(&c, "/a", false, &[], false, 10, None)
        .expect("one");
    assert_eq!(names(&one), vec!["/a/1", "/a/2"]);
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = core
            .ssm
            .get_parameters_by_path(&c, "/a", true, &[], false, 1, token.as_deref())
            .expect("page");
        all.extend(names(&page));
        token = page.next_marker;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(all, vec!["/a/1", "/a/2", "/a/b/3", "/a/b/c/4"]);
    let root = core
        .ssm
        .get_parameters_by_path(&c, "/", false, &[], false, 10, None)
        .expect("root");
    assert_eq!(names(&root), vec!["top"]);
}

#[test]
fn counts_spread_over_slots_add_up_and_the_quota_holds_exactly_at_its_edge() {
    let (_d, limited) = crate::testing::core_with(ParameterQuotas {
        standard: 300,
        advanced: 1,
    });
    let c = ctx("us-east-1");
    let scope = c.regional_scope();
    // Counts kept before the slots, under the id "", still count.
    keyhaven_kernel::transact(&*limited.store, |tx| {
        keyhaven_kernel::records::put(
            tx,
            &scope,
            "",
            &TierCounts {
                standard: 290,
                advanced: 0,
            },
        )
    })
    .expect("counts from before the slots");
    for n in 0..10 {
        put(&limited, &format!("p{n}"), "v", Some("String"), false).expect("under the quota");
    }
    assert_eq!(
        fault_of(put(&limited, "one-too-many", "v", Some("String"), false)),
        SsmFault::ParameterLimitExceeded
    );
    for n in 0..3 {
        limited.ssm.delete_parameter(&c, &format!("p{n}")).expect("delete");
    }
    for n in 0..3 {
        put(&limited, &format!("again{n}"), "v", Some("String"), false).expect("room again");
    }
    assert_eq!(
        fault_of(put(&limited, "one-too-many", "v", Some("String"), false)),
        SsmFault::ParameterLimitExceeded
    );
    let counts = keyhaven_kernel::read(&*limited.store, |tx| load_counts(tx, &scope)).expect("counts");
    assert_eq!(
        counts,
        TierCounts {
            standard: 300,
            advanced: 0
        }
    );
    let slots = keyhaven_kernel::read(&*limited.store, |tx| {
        keyhaven_kernel::records::list::<TierCounts>(tx, &scope, None, 100)
    })
    .expect("slots");
    assert!(slots.len() > 2, "changes land in several slots: {slots:?}");
}
