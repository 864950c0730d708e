"""IAM, STS and policy enforcement through boto3 and the AWS CLI, as their users use them."""

import json

import pytest
from client_helpers import as_user, error_of, audit_records, totp
from policy_docs import allow, deny, policy

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "222233334444"


@pytest.fixture
def server(keyhaven_factory):
    return keyhaven_factory("--dev", "--account-id", ACCOUNT)


def new_user(server, name, *, inline=None, group=None, managed=None):
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
    if group:
        iam.add_user_to_group(GroupName=group, UserName=name)
    if managed:
        iam.attach_user_policy(UserName=name, PolicyArn=managed)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_user_with_only_an_inline_policy(server):
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    creds = new_user(server, "alice", inline=policy(allow(["kms:Encrypt", "kms:Decrypt"])))
    kms = as_user(server, "kms", creds)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    code, message = error_of(kms.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: kms:DescribeKey on resource: "
        f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id} because no identity-based policy allows the kms:DescribeKey action"
    )
    code, _ = error_of(as_user(server, "iam", creds).list_users)
    assert code == "AccessDenied"
    identity = as_user(server, "sts", creds).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice" and identity["UserId"].startswith("AIDA")


def test_group_allows_and_user_policy_denies_deny_wins(server):
    iam = server.client("iam")
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    iam.create_group(GroupName="crypto")
    arn = iam.create_policy(PolicyName="kms-use", PolicyDocument=policy(allow("kms:*")))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="crypto", PolicyArn=arn)
    creds = new_user(server, "bob", group="crypto", inline=policy(deny("kms:Decrypt")))
    kms = as_user(server, "kms", creds)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"y")["CiphertextBlob"]
    code, message = error_of(kms.decrypt, CiphertextBlob=blob)
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in an identity-based policy")
    iam.detach_group_policy(GroupName="crypto", PolicyArn=arn)
    code, _ = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"y")
    assert code == "AccessDeniedException", "policy changes take effect at once"


def test_role_with_external_id_and_temporary_credentials(server):
    iam = server.client("iam")
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": "partner-42"}}})
    role_arn = iam.create_role(RoleName="partner", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)["Role"]["Arn"]
    iam.put_role_policy(RoleName="partner", PolicyName="use", PolicyDocument=policy(allow(["kms:Encrypt", "kms:Decrypt"])))
    creds = new_user(server, "carol", inline=policy(allow("sts:AssumeRole", role_arn)))
    sts = as_user(server, "sts", creds)
    code, _ = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert code == "AccessDenied"
    code, _ = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="wrong")
    assert code == "AccessDenied"
    code, _ = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="partner-42", DurationSeconds=7201)
    assert code == "ValidationError"
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="deploy", ExternalId="partner-42", DurationSeconds=900)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/partner/deploy"
    session = (c["AccessKeyId"], c["SecretAccessKey"])
    kms = as_user(server, "kms", session, c["SessionToken"])
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"z")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"z"
    assert as_user(server, "sts", session, c["SessionToken"]).get_caller_identity()["Arn"].endswith("assumed-role/partner/deploy")
    code, _ = error_of(as_user(server, "kms", session, c["SessionToken"][:-4] + "AAAA").encrypt, KeyId=key_id, Plaintext=b"z")
    assert code == "UnrecognizedClientException", "a forged token is refused"
    code, _ = error_of(as_user(server, "kms", session, c["SessionToken"]).describe_key, KeyId=key_id)
    assert code == "AccessDeniedException", "the session has only the role's permissions"
    server.advance_clock(901)
    code, message = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"z")
    assert (code, message) == ("ExpiredTokenException", "The security token included in the request is expired")
    code, _ = error_of(as_user(server, "sts", session, c["SessionToken"]).get_caller_identity)
    assert code == "ExpiredToken"


def test_session_policy_narrows_the_role(server):
    iam = server.client("iam")
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="admin", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    # Roles are never assumed by the root user: a user does it.
    sts = as_user(server, "sts", new_user(server, "assumer", inline=policy(allow("sts:AssumeRole"))))
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="narrow", Policy=policy(allow("kms:Encrypt")))
    c = out["Credentials"]
    kms = as_user(server, "kms", (c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"])
    kms.encrypt(KeyId=key_id, Plaintext=b"ok")
    code, message = error_of(kms.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException" and message.endswith("because no session policy allows the kms:DescribeKey action")


def test_access_key_rotation(server):
    iam = server.client("iam")
    old = new_user(server, "dave", inline=policy(allow("sts:GetCallerIdentity")))
    new = iam.create_access_key(UserName="dave")["AccessKey"]
    new = (new["AccessKeyId"], new["SecretAccessKey"])
    code, message = error_of(iam.create_access_key, UserName="dave")
    assert code == "LimitExceeded" and "AccessKeysPerUser" in message
    assert as_user(server, "sts", new).get_caller_identity()["Arn"].endswith("user/dave")
    iam.update_access_key(UserName="dave", AccessKeyId=old[0], Status="Inactive")
    code, _ = error_of(as_user(server, "sts", old).get_caller_identity)
    assert code == "InvalidClientTokenId", "an inactive key is refused even in dev mode"
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="dave")["AccessKeyMetadata"]}
    assert statuses == {old[0]: "Inactive", new[0]: "Active"}
    iam.delete_access_key(UserName="dave", AccessKeyId=old[0])
    code, _ = error_of(iam.delete_user, UserName="dave")
    assert code == "DeleteConflict"
    assert as_user(server, "sts", new).get_caller_identity()["Account"] == ACCOUNT


def test_key_policy_separates_key_users_from_key_managers(server):
    root_kms = server.client()
    user_creds = new_user(server, "keyuser", inline=policy(allow("kms:*")))
    manager_creds = new_user(server, "keymanager", inline=policy(allow("kms:*")))
    key_policy = policy(
        {"Sid": "Administration", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/keymanager"},
         "Action": ["kms:Describe*", "kms:Put*", "kms:Enable*", "kms:Disable*", "kms:Get*", "kms:ScheduleKeyDeletion"], "Resource": "*"},
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/keyuser"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"},
    )
    code, message = error_of(root_kms.create_key, Policy=key_policy)
    assert code == "MalformedPolicyDocumentException", "the lockout safety check stops the caller locking itself out"
    assert "will not allow you to update the key policy" in message
    key_id = root_kms.create_key(Policy=key_policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
    user, manager = as_user(server, "kms", user_creds), as_user(server, "kms", manager_creds)
    blob = user.encrypt(KeyId=key_id, Plaintext=b"data")["CiphertextBlob"]
    assert user.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"
    code, message = error_of(user.disable_key, KeyId=key_id)
    assert code == "AccessDeniedException" and "because no resource-based policy allows the kms:DisableKey action" in message
    manager.disable_key(KeyId=key_id)
    manager.enable_key(KeyId=key_id)
    assert manager.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    code, _ = error_of(manager.encrypt, KeyId=key_id, Plaintext=b"data")
    assert code == "AccessDeniedException", "a key manager cannot use the key"
    code, _ = error_of(root_kms.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException", "without the root statement even the account root gets nothing"


def test_default_key_policy_delegates_to_iam(server):
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    allowed = as_user(server, "kms", new_user(server, "erin", inline=policy(allow("kms:DescribeKey"))))
    assert allowed.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    nobody = as_user(server, "kms", new_user(server, "frank", inline=policy(allow("sts:GetCallerIdentity"))))
    assert error_of(nobody.describe_key, KeyId=key_id)[0] == "AccessDeniedException"


def test_cross_account_key_use_needs_key_policy_and_iam_policy(server):
    owner_kms = server.client()
    other_root = dict(aws_access_key_id=OTHER_ACCOUNT, aws_secret_access_key="x")
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
    )
    key_arn = owner_kms.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
    plain_key_arn = owner_kms.create_key()["KeyMetadata"]["Arn"]
    other_iam = server.client("iam", **other_root)
    other_iam.create_user(UserName="partner")
    other_iam.put_user_policy(UserName="partner", PolicyName="use", PolicyDocument=policy(allow(["kms:Encrypt", "kms:Decrypt"], key_arn)))
    key = other_iam.create_access_key(UserName="partner")["AccessKey"]
    partner = server.client("kms", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    blob = partner.encrypt(KeyId=key_arn, Plaintext=b"shared")["CiphertextBlob"]
    assert partner.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    assert error_of(partner.encrypt, KeyId=plain_key_arn, Plaintext=b"x")[0] == "AccessDeniedException", "key policy must allow"
    other_iam.delete_user_policy(UserName="partner", PolicyName="use")
    assert error_of(partner.encrypt, KeyId=key_arn, Plaintext=b"x")[0] == "AccessDeniedException", "IAM policy must allow"


def test_iam_cli_walkthrough_and_errors(server):
    env = server.cli_env()
    import subprocess

    def aws(*args, check=True):
        return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, check=check)

    aws("iam", "create-user", "--user-name", "gina", "--path", "/ops/")
    listed = json.loads(aws("iam", "list-users", "--output", "json").stdout)
    assert [u["Arn"] for u in listed["Users"]] == [f"arn:aws:iam::{ACCOUNT}:user/ops/gina"]
    arn = json.loads(aws("iam", "create-policy", "--policy-name", "p", "--policy-document", policy(allow("kms:*")), "--output", "json").stdout)["Policy"]["Arn"]
    for _ in range(4):
        aws("iam", "create-policy-version", "--policy-arn", arn, "--policy-document", policy(allow("kms:*")))
    failed = aws("iam", "create-policy-version", "--policy-arn", arn, "--policy-document", policy(allow("kms:*")), check=False)
    assert b"LimitExceeded" in failed.stderr
    missing = aws("iam", "get-user", "--user-name", "nobody", check=False)
    assert b"NoSuchEntity" in missing.stderr and b"The user with name nobody cannot be found." in missing.stderr
    bad = aws("iam", "put-user-policy", "--user-name", "gina", "--policy-name", "x", "--policy-document", "{not json", check=False)
    assert b"MalformedPolicyDocument" in bad.stderr
    invalid = aws("iam", "create-user", "--user-name", "bad name!", check=False)
    assert b"ValidationError" in invalid.stderr
    doc = json.loads(aws("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1", "--output", "json").stdout)
    assert doc["PolicyVersion"]["Document"]["Statement"][0]["Action"] == "kms:*"


def test_audit_records_name_the_real_principal_and_denials(server):
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    creds = new_user(server, "hank", inline=policy(allow("kms:Encrypt")))
    kms = as_user(server, "kms", creds)
    kms.encrypt(KeyId=key_id, Plaintext=b"a")
    error_of(kms.describe_key, KeyId=key_id)
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    role_arn = server.client("iam").create_role(RoleName="auditor", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    sts = as_user(server, "sts", new_user(server, "assumer", inline=policy(allow("sts:AssumeRole"))))
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName="audit")["Credentials"]
    as_user(server, "sts", (c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"]).get_caller_identity()
    server.stop()
    records = audit_records(server)
    encrypt = [r for r in records if r["eventName"] == "Encrypt" and r["userIdentity"]["type"] == "IAMUser"]
    assert encrypt and encrypt[0]["userIdentity"]["userName"] == "hank"
    denied = [r for r in records if r["eventName"] == "DescribeKey" and r.get("errorCode") == "AccessDeniedException"]
    assert denied and denied[0]["userIdentity"]["arn"].endswith("user/hank")
    session = [r for r in records if r["eventName"] == "GetCallerIdentity" and r["userIdentity"]["type"] == "AssumedRole"]
    issuer = session[0]["userIdentity"]["sessionContext"]["sessionIssuer"]
    assert issuer["arn"] == role_arn and issuer["type"] == "Role"
    created = [r for r in records if r["eventName"] == "CreateAccessKey"]
    assert created and "secretAccessKey" not in json.dumps(created[0]).replace("SecretAccessKey", "")
    assert all(c["SecretAccessKey"] not in json.dumps(r) and c["SessionToken"] not in json.dumps(r) for r in records)


def test_mfa_protected_role_and_session_token(server):
    iam = server.client("iam")
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})
    role_arn = iam.create_role(RoleName="sensitive", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="sensitive", PolicyName="use", PolicyDocument=policy(allow("kms:Encrypt")))
    creds = new_user(server, "ivy", inline=policy(
        allow("sts:AssumeRole", role_arn),
        allow("kms:Encrypt", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
    ))
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="ivy-phone")["VirtualMFADevice"]
    serial, seed = device["SerialNumber"], device["Base32StringSeed"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/ivy-phone"
    # Steps follow the server's clock; each code below stays valid if a 30 s boundary passes meanwhile
    # (the server accepts one step of drift), and the clock is moved on before a code is needed again.
    step = server.advance_clock(0)["now"] // 30
    code, _ = error_of(iam.enable_mfa_device, UserName="ivy", SerialNumber=serial, AuthenticationCode1="000000", AuthenticationCode2="111111")
    assert code == "InvalidAuthenticationCode"
    iam.enable_mfa_device(UserName="ivy", SerialNumber=serial, AuthenticationCode1=totp(seed, step), AuthenticationCode2=totp(seed, step + 1))
    assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName="ivy")["MFADevices"]] == [serial]

    sts = as_user(server, "sts", creds)
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="no-mfa")[0] == "AccessDenied"
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="bad", SerialNumber=serial, TokenCode="123456")[0] == "AccessDenied"
    server.advance_clock(30)
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="with-mfa", SerialNumber=serial, TokenCode=totp(seed, step + 2))
    c = out["Credentials"]
    as_user(server, "kms", (c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"]).encrypt(KeyId=key_id, Plaintext=b"m")
    assert error_of(as_user(server, "kms", creds).encrypt, KeyId=key_id, Plaintext=b"m")[0] == "AccessDeniedException", "long-term keys carry no MFA"
    code, _ = error_of(sts.get_session_token, SerialNumber=serial, TokenCode=totp(seed, step + 2))
    assert code == "AccessDenied", "a code is good once"
    server.advance_clock(30)
    session = sts.get_session_token(SerialNumber=serial, TokenCode=totp(seed, step + 3))["Credentials"]
    as_user(server, "kms", (session["AccessKeyId"], session["SecretAccessKey"]), session["SessionToken"]).encrypt(KeyId=key_id, Plaintext=b"m")


def test_account_authorization_details(server):
    iam = server.client("iam")
    iam.create_group(GroupName="ops")
    new_user(server, "jo", inline=policy(allow("kms:Encrypt")), group="ops", managed="arn:aws:iam::aws:policy/ReadOnlyAccess")
    arn = iam.create_policy(PolicyName="local", PolicyDocument=policy(allow("kms:Decrypt")))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="ops", PolicyArn=arn)
    details = iam.get_account_authorization_details()
    user = next(u for u in details["UserDetailList"] if u["UserName"] == "jo")
    assert user["GroupList"] == ["ops"]
    assert user["UserPolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"] == "kms:Encrypt"
    assert user["AttachedManagedPolicies"][0]["PolicyArn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert details["GroupDetailList"][0]["AttachedManagedPolicies"][0]["PolicyArn"] == arn
    assert details["Policies"][0]["PolicyVersionList"][0]["Document"]["Statement"][0]["Action"] == "kms:Decrypt"
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and only_roles["RoleDetailList"] == []


def test_tag_based_access_to_kms_keys(server):
    kms = server.client()
    team_key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]["KeyId"]
    other_key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    creds = new_user(server, "kim", inline=policy(allow("kms:Encrypt", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}})))
    user = as_user(server, "kms", creds)
    user.encrypt(KeyId=team_key, Plaintext=b"t")
    assert error_of(user.encrypt, KeyId=other_key, Plaintext=b"t")[0] == "AccessDeniedException"


def test_federation_token_is_the_intersection_of_user_and_session_policy(server):
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    creds = new_user(server, "lee", inline=policy(allow(["kms:*", "sts:GetFederationToken"])))
    sts = as_user(server, "sts", creds)
    out = sts.get_federation_token(Name="partner-app", Policy=policy(allow(["kms:Encrypt", "kms:DescribeKey", "iam:ListUsers"])))
    assert out["FederatedUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/partner-app"
    c = out["Credentials"]
    fed = (c["AccessKeyId"], c["SecretAccessKey"])
    kms = as_user(server, "kms", fed, c["SessionToken"])
    kms.encrypt(KeyId=key_id, Plaintext=b"f")
    assert error_of(kms.decrypt, CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"f")["CiphertextBlob"])[0] == "AccessDeniedException"
    assert error_of(as_user(server, "iam", fed, c["SessionToken"]).list_users)[0] == "AccessDenied", "the user itself may not list users"
    assert as_user(server, "sts", fed, c["SessionToken"]).get_caller_identity()["UserId"] == f"{ACCOUNT}:partner-app"
    bare = sts.get_federation_token(Name="no-policy")["Credentials"]
    code, _ = error_of(as_user(server, "kms", (bare["AccessKeyId"], bare["SecretAccessKey"]), bare["SessionToken"]).encrypt, KeyId=key_id, Plaintext=b"f")
    assert code == "AccessDeniedException", "no session policy, no permissions"


def test_tag_request_keys_resource_aliases_and_last_used(server):
    root_kms = server.client()
    key_id = root_kms.create_key()["KeyMetadata"]["KeyId"]
    root_kms.create_alias(AliasName="alias/payments", TargetKeyId=key_id)
    other_id = root_kms.create_key()["KeyMetadata"]["KeyId"]
    creds = new_user(server, "max", inline=policy(
        allow("iam:CreateUser", Condition={"StringEquals": {"aws:RequestTag/team": "blue"}}),
        allow("kms:TagResource", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}),
        allow("kms:Encrypt", Condition={"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/payments"}}),
        allow("sts:GetCallerIdentity", Condition={"Bool": {"aws:ViaAWSService": "false"}}),
    ))
    iam, kms = as_user(server, "iam", creds), as_user(server, "kms", creds)
    iam.create_user(UserName="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert error_of(iam.create_user, UserName="untagged")[0] == "AccessDenied"
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "prod"}])
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "x"}])[0] == "AccessDeniedException"
    kms.encrypt(KeyId=key_id, Plaintext=b"a")
    assert error_of(kms.encrypt, KeyId=other_id, Plaintext=b"a")[0] == "AccessDeniedException"
    as_user(server, "sts", creds).get_caller_identity()
    used = server.client("iam").get_access_key_last_used(AccessKeyId=creds[0])
    assert used["UserName"] == "max"
    assert used["AccessKeyLastUsed"]["ServiceName"] in ("kms", "sts", "iam") and used["AccessKeyLastUsed"]["Region"] == "us-east-1"


def test_get_access_key_info_names_the_owning_account(server):
    other = server.client("iam", aws_access_key_id=OTHER_ACCOUNT, aws_secret_access_key="x")
    other.create_user(UserName="remote")
    key = other.create_access_key(UserName="remote")["AccessKey"]["AccessKeyId"]
    assert server.client("sts").get_access_key_info(AccessKeyId=key)["Account"] == OTHER_ACCOUNT


def test_listings_and_create_role_answer_the_attributes_aws_answers(dev_server):
    """IAM's listings leave out permissions boundaries and tags (ListUsers and ListRoles references), and CreateRole
    answers without MaxSessionDuration, which GetRole answers."""
    iam = dev_server.client("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    created = iam.create_role(RoleName="shaped", AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary,
                              Tags=[{"Key": "team", "Value": "blue"}])["Role"]
    assert "MaxSessionDuration" not in created and created["Tags"] == [{"Key": "team", "Value": "blue"}]
    fetched = iam.get_role(RoleName="shaped")["Role"]
    assert fetched["MaxSessionDuration"] == 3600 and fetched["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    [listed] = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == "shaped"]
    assert "PermissionsBoundary" not in listed and "Tags" not in listed and listed["MaxSessionDuration"] == 3600
    iam.create_user(UserName="shaped", PermissionsBoundary=boundary, Tags=[{"Key": "team", "Value": "blue"}])
    assert iam.get_user(UserName="shaped")["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    [user] = [u for u in iam.list_users()["Users"] if u["UserName"] == "shaped"]
    assert "PermissionsBoundary" not in user and "Tags" not in user


def test_boundaries_say_policy_and_deleting_a_missing_policy_says_not_found(dev_server):
    """AWS answers PermissionsBoundaryType "Policy" (the model's enum is wrong) and DeletePolicy of a missing policy
    "Policy <arn> was not found." (recorded AWS responses)."""
    iam = dev_server.client("iam")
    arn = iam.create_policy(PolicyName="edge", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    expected = {"PermissionsBoundaryArn": arn, "PermissionsBoundaryType": "Policy"}
    assert iam.create_user(UserName="edged", PermissionsBoundary=arn)["User"]["PermissionsBoundary"] == expected
    assert iam.get_user(UserName="edged")["User"]["PermissionsBoundary"] == expected
    missing = arn.replace(":policy/edge", ":policy/non-existent-policy")
    assert error_of(iam.delete_policy, PolicyArn=missing) == ("NoSuchEntity", f"Policy {missing} was not found.")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn


def test_session_tags_are_checked_as_sts_checks_them(server):
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"]})
    role_arn = iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="tagged", PolicyName="p", PolicyDocument=policy(allow(["sts:AssumeRole", "sts:TagSession"])))
    creds = new_user(server, "tagger", inline=policy(allow(["sts:AssumeRole", "sts:TagSession"], role_arn)))
    sts = as_user(server, "sts", creds)
    cases = [
        (dict(Tags=[{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]),
         ("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")),
        (dict(Tags=[{"Key": "team", "Value": "a"}], TransitiveTagKeys=["project"]),
         ("InvalidParameterValue", "The specified transitive tag key must be included in the requested tags.")),
        (dict(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 1900}]}),
              Tags=[{"Key": f"k{n}", "Value": "v" * 256} for n in range(40)]),
         ("PackedPolicyTooLarge", None)),
    ]
    for kwargs, (code, message) in cases:
        got_code, got_message = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", **kwargs)
        assert got_code == code and (message is None or got_message == message), (kwargs.keys(), got_code, got_message)
    first = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", Tags=[{"Key": "team", "Value": "red"}],
                            TransitiveTagKeys=["team"])
    assert first["PackedPolicySize"] > 0
    session = first["Credentials"]
    chained = as_user(server, "sts", (session["AccessKeyId"], session["SecretAccessKey"]), session["SessionToken"])
    assert error_of(chained.assume_role, RoleArn=role_arn, RoleSessionName="s2",
                    Tags=[{"Key": "Team", "Value": "blue"}]) == (
        "InvalidParameterValue",
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from "
        "the calling session.")
    # IAM operations that default to the caller's user refuse a role session without a user name.
    role_iam = as_user(server, "iam", (session["AccessKeyId"], session["SecretAccessKey"]), session["SessionToken"])
    assert error_of(role_iam.get_user) == ("ValidationError", "Must specify userName when calling with non-User credentials")
    assert error_of(role_iam.list_access_keys) == (
        "ValidationError", "Must specify userName when calling with non-User credentials")
