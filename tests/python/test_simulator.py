"""The IAM policy simulator through boto3: SimulatePrincipalPolicy and SimulateCustomPolicy."""

import json

import pytest

from client_helpers import error_of

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# AWS's documented example (AWS CLI reference, `aws iam simulate-custom-policy`).
AWS_EXAMPLE = (
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
    '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ENCRYPT_HERE = policy(
    {
        "Sid": "EncryptHere",
        "Effect": "Allow",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
    }
)
NO_DECRYPT = policy({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})


def region(name):
    return [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [name], "ContextKeyType": "string"}]


def matched(result):
    return [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in result["MatchedStatements"]]


@pytest.fixture
def iam(keyhaven_factory):
    return keyhaven_factory("--dev", "--account-id", ACCOUNT).client("iam")


@pytest.fixture
def alice(iam):
    """alice may Encrypt in us-east-1 (her inline policy); her group devs denies Decrypt."""
    iam.create_group(GroupName="devs")
    iam.put_group_policy(GroupName="devs", PolicyName="no-decrypt", PolicyDocument=NO_DECRYPT)
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.put_user_policy(UserName="alice", PolicyName="encrypt-here", PolicyDocument=ENCRYPT_HERE)
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    return arn


def test_principal_policy_decisions(iam, alice):
    cases = [
        # (action, context, decision, matched statements, missing context values)
        ("kms:Encrypt", region("us-east-1"), "allowed", [("encrypt-here", "user")], []),
        ("kms:Encrypt", region("eu-west-1"), "implicitDeny", [], []),
        ("kms:Encrypt", [], "implicitDeny", [], ["aws:RequestedRegion"]),
        ("kms:Decrypt", region("us-east-1"), "explicitDeny", [("no-decrypt", "group")], []),
        ("kms:CreateKey", [], "implicitDeny", [], []),
    ]
    for action, context, decision, statements, missing in cases:
        results = iam.simulate_principal_policy(PolicySourceArn=alice, ActionNames=[action], ContextEntries=context)[
            "EvaluationResults"
        ]
        assert len(results) == 1
        result = results[0]
        label = (action, context)
        assert (result["EvalActionName"], result["EvalResourceName"]) == (action, "*"), label
        assert result["EvalDecision"] == decision, label
        assert matched(result) == statements, label
        assert result["MissingContextValues"] == missing, label
        assert "ResourceSpecificResults" not in result, label


def test_matched_statements_carry_positions(iam, alice):
    result = iam.simulate_principal_policy(
        PolicySourceArn=alice, ActionNames=["kms:Encrypt"], ContextEntries=region("us-east-1")
    )["EvaluationResults"][0]
    # One line: just past the statement's "{" (after "[") and just past its "}" (before "]}").
    start = ENCRYPT_HERE.index("[{") + 3
    assert result["MatchedStatements"] == [
        {
            "SourcePolicyId": "encrypt-here",
            "SourcePolicyType": "user",
            "StartPosition": {"Line": 1, "Column": start},
            "EndPosition": {"Line": 1, "Column": len(ENCRYPT_HERE) - 1},
        }
    ]


def test_groups_boundaries_and_extra_policies(iam, alice):
    devs = iam.get_group(GroupName="devs")["Group"]["Arn"]
    result = iam.simulate_principal_policy(PolicySourceArn=devs, ActionNames=["kms:Decrypt"])["EvaluationResults"][0]
    assert (result["EvalDecision"], matched(result)) == ("explicitDeny", [("no-decrypt", "group")])

    allow_all = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    only_describe = policy({"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"})
    results = iam.simulate_principal_policy(
        PolicySourceArn=alice,
        ActionNames=["kms:DescribeKey", "kms:GenerateRandom"],
        PolicyInputList=[allow_all],
        PermissionsBoundaryPolicyInputList=[only_describe],
    )["EvaluationResults"]
    describe, random = results
    assert describe["EvalDecision"] == "allowed"
    assert matched(describe) == [("PolicyInputList.1", "none"), ("PermissionsBoundaryPolicyInputList.1", "none")]
    assert describe["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert random["EvalDecision"] == "implicitDeny"
    assert random["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_named_resources_and_paging(iam, alice):
    actions = ["kms:Encrypt", "kms:Decrypt", "kms:CreateKey"]
    first = iam.simulate_principal_policy(PolicySourceArn=alice, ActionNames=actions, ResourceArns=[KEY], MaxItems=2)
    assert first["IsTruncated"] is True and [r["EvalActionName"] for r in first["EvaluationResults"]] == actions[:2]
    rest = iam.simulate_principal_policy(
        PolicySourceArn=alice, ActionNames=actions, ResourceArns=[KEY], Marker=first["Marker"]
    )
    assert rest["IsTruncated"] is False and [r["EvalActionName"] for r in rest["EvaluationResults"]] == actions[2:]
    pages = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=alice, ActionNames=actions, ResourceArns=[KEY], PaginationConfig={"PageSize": 1}
    )
    encrypt = [r for page in pages for r in page["EvaluationResults"]][0]
    # With named resources the details, missing keys included, are per resource.
    assert encrypt["EvalResourceName"] == KEY and encrypt["MissingContextValues"] == []
    assert encrypt["ResourceSpecificResults"] == [
        {
            "EvalResourceName": KEY,
            "EvalResourceDecision": "implicitDeny",
            "MatchedStatements": [],
            "MissingContextValues": ["aws:RequestedRegion"],
        }
    ]


def test_aws_documented_custom_policy_example(iam):
    def simulate(now):
        return iam.simulate_custom_policy(
            PolicyInputList=[AWS_EXAMPLE],
            ActionNames=["dynamodb:CreateBackup"],
            ContextEntries=[{"ContextKeyName": "aws:CurrentTime", "ContextKeyValues": [now], "ContextKeyType": "date"}],
        )["EvaluationResults"]

    assert simulate("2019-04-25T11:00:00Z") == [
        {
            "EvalActionName": "dynamodb:CreateBackup",
            "EvalResourceName": "*",
            "EvalDecision": "allowed",
            "MatchedStatements": [
                {
                    "SourcePolicyId": "PolicyInputList.1",
                    "SourcePolicyType": "none",
                    "StartPosition": {"Line": 1, "Column": 38},
                    "EndPosition": {"Line": 1, "Column": 167},
                }
            ],
            "MissingContextValues": [],
        }
    ]
    [before] = simulate("2018-08-16T11:00:00Z")
    assert (before["EvalDecision"], before["MatchedStatements"]) == ("implicitDeny", [])


def test_custom_policy_with_a_resource_policy(iam):
    bob = f"arn:aws:iam::{ACCOUNT}:user/bob"
    bucket_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": bob}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
            ],
        }
    )
    results = iam.simulate_custom_policy(
        PolicyInputList=[],
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::b/report.csv"],
        ResourcePolicy=bucket_policy,
        CallerArn=bob,
    )["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "allowed"),
        ("s3:PutObject", "implicitDeny"),
    ]
    assert matched(results[0]) == [("ResourcePolicy", "resource")]


def test_invalid_simulations(iam, alice):
    allow_all = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    cases = [
        (
            iam.simulate_principal_policy,
            dict(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/nobody", ActionNames=["kms:Encrypt"]),
            "NoSuchEntity",
        ),
        (iam.simulate_custom_policy, dict(PolicyInputList=["{"], ActionNames=["kms:Encrypt"]), "InvalidInput"),
        (
            iam.simulate_custom_policy,
            dict(
                PolicyInputList=[allow_all],
                PermissionsBoundaryPolicyInputList=[allow_all, allow_all],
                ActionNames=["kms:Encrypt"],
            ),
            "InvalidInput",
        ),
        (
            iam.simulate_custom_policy,
            dict(PolicyInputList=[allow_all], ActionNames=["kms:Encrypt"], ResourcePolicy=allow_all),
            "InvalidInput",
        ),
    ]
    for call, kwargs, expected in cases:
        code, _ = error_of(call, **kwargs)
        assert code == expected, kwargs
    _, message = error_of(iam.simulate_principal_policy, **cases[0][1])
    assert message == "The user with name nobody cannot be found."
