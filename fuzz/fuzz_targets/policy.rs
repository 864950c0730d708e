//! Fuzzes the IAM policy parser for every policy kind, and evaluates every document that parses against a fixed request.
#![no_main]

use keyhaven_policy::{
    Context, Decision, MAX_POLICY_BYTES, NamedPolicy, Policies, PolicyDocument, PolicyError, PolicyKind, Principal,
    Request, ResourceRules, evaluate, policy_size,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 5] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Trust,
    PolicyKind::Session,
    PolicyKind::Boundary,
];

const DENY_ALL: &str = r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert!(policy_size(text) <= text.chars().count());
    // `parse` is `parse_as(Resource)` under KMS's size limit.
    match PolicyDocument::parse(text) {
        Err(PolicyError::TooLarge) => assert!(text.len() > MAX_POLICY_BYTES),
        parsed => assert_eq!(parsed, PolicyDocument::parse_as(text, PolicyKind::Resource)),
    }
    let Ok(deny_all) = PolicyDocument::parse_as(DENY_ALL, PolicyKind::Identity) else {
        return;
    };
    let principal = Principal::assumed_role(
        "arn:aws:sts::111122223333:assumed-role/Admin/fuzz",
        "arn:aws:iam::111122223333:role/Admin",
    );
    let context = Context::builder()
        .principal(&principal)
        .current_time(1_700_000_000)
        .source_ip([203, 0, 113, 7].into())
        .request_tag("team", "blue")
        .key("s3:prefix", "home/")
        .build();
    let request = Request {
        principal: &principal,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::bucket/home/a:b",
        context: &context,
    };
    for kind in KINDS {
        let document = match PolicyDocument::parse_as(text, kind) {
            Ok(document) => document,
            Err(error) => {
                // Messages are built from input; they must stay printable and never panic.
                let _ = error.to_string();
                continue;
            }
        };
        assert_eq!(document.kind(), kind);
        let _ = document.grants_public_access();
        let named = [NamedPolicy {
            id: "fuzz",
            document: &document,
        }];
        let with_deny = [
            named[0],
            NamedPolicy {
                id: "deny-all",
                document: &deny_all,
            },
        ];
        let resource_rules = match kind {
            PolicyKind::Resource => [ResourceRules::Standard, ResourceRules::KmsKeyPolicy],
            _ => [ResourceRules::RoleTrust, ResourceRules::RoleTrust],
        };
        let mut cases = vec![
            Policies {
                identity: &named,
                resource: None,
                boundary: None,
                session: None,
                resource_account: "111122223333",
            },
            Policies {
                identity: &with_deny,
                resource: None,
                boundary: Some(&named),
                session: Some(&named),
                resource_account: "444455556666",
            },
        ];
        for rules in resource_rules {
            cases.push(Policies {
                identity: &[],
                resource: Some((named[0], rules)),
                boundary: None,
                session: None,
                resource_account: "111122223333",
            });
            cases.push(Policies {
                identity: &with_deny,
                resource: Some((named[0], rules)),
                boundary: Some(&named),
                session: None,
                resource_account: "111122223333",
            });
        }
        for policies in cases {
            let evaluation = evaluate(&policies, &request);
            assert_eq!(evaluation.decision == Decision::Allow, evaluation.denied_by.is_none());
            let denies_everything = policies.identity.len() == 2;
            assert!(
                !denies_everything || evaluation.decision == Decision::ExplicitDeny,
                "an identity policy denying everything must win: {evaluation:?}"
            );
            let _ = evaluation.denial_message(&request);
        }
    }
});
