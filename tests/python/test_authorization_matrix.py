"""The negative matrix: who may do what, across services and kinds of principal, and for every denial a
check that nothing changed. Each row builds its own resources and its own principal on one server.

A row is (principal, operation, policy scope, expected decision). The generic part runs every
operation as an IAM user, a role session and a federated user, once with the policy on the resource
(allowed) and once on a sibling of the same type (denied). The holes of the first security review
(KMS aliases, self-service access keys, IAM resources and condition keys, STS chaining, unique ids,
the Parameter Store reference path) follow as rows of their own."""

import itertools

import pytest
from botocore.exceptions import ClientError
from client_helpers import as_user, error_of
from policy_docs import allow, deny, policy

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "222233334444"
DENIED = {"AccessDenied", "AccessDeniedException"}


@pytest.fixture(scope="module")
def server():
    from conftest import Keyhaven

    running = Keyhaven("--dev", "--account-id", ACCOUNT).start()
    yield running
    running.cleanup()


counter = itertools.count()


def unique(prefix):
    return f"{prefix}{next(counter)}"


# --- resources, created by the account root; each has an ARN and a snapshot of its state -------------


def make_key(server):
    kms = server.client("kms")
    meta = kms.create_key(Description="target")["KeyMetadata"]
    return {"arn": meta["Arn"], "id": meta["KeyId"]}


def key_state(server, target):
    kms = server.client("kms")
    meta = kms.describe_key(KeyId=target["id"])["KeyMetadata"]
    tags = kms.list_resource_tags(KeyId=target["id"])["Tags"]
    return meta["KeyState"], meta["Description"], tags, kms.get_key_policy(KeyId=target["id"], PolicyName="default")["Policy"]


def make_alias(server):
    key, other = make_key(server), make_key(server)
    name = unique("alias/matrix-")
    server.client("kms").create_alias(AliasName=name, TargetKeyId=key["id"])
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{name}"
    return {"arn": arn, "name": name, "key": key, "other": other}


def alias_state(server, target):
    aliases = server.client("kms").list_aliases()["Aliases"]
    return sorted((a["AliasName"], a.get("TargetKeyId")) for a in aliases)


def make_parameter(server):
    name = unique("/matrix/p")
    server.client("ssm").put_parameter(Name=name, Value="original", Type="String")
    return {"arn": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{name}", "name": name}


def parameter_state(server, target):
    ssm = server.client("ssm")
    try:
        found = ssm.get_parameter(Name=target["name"])["Parameter"]
    except ClientError as e:
        return e.response["Error"]["Code"]
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=target["name"])["TagList"]
    return found["Value"], found["Version"], found.get("Labels"), tags


def make_secret(server):
    name = unique("matrix/s")
    arn = server.client("secretsmanager").create_secret(Name=name, SecretString="original")["ARN"]
    return {"arn": arn, "name": name}


def secret_state(server, target):
    sm = server.client("secretsmanager")
    described = sm.describe_secret(SecretId=target["name"])
    value = sm.get_secret_value(SecretId=target["name"])["SecretString"]
    policy_text = sm.get_resource_policy(SecretId=target["name"]).get("ResourcePolicy")
    return value, described.get("DeletedDate"), described.get("Tags"), described.get("Description"), policy_text


def make_user(server):
    iam = server.client("iam")
    name = unique("victim")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return {"arn": arn, "name": name, "key": key}


def user_state(server, target):
    iam = server.client("iam")
    name = target["name"]
    return (
        iam.list_attached_user_policies(UserName=name)["AttachedPolicies"],
        iam.list_user_policies(UserName=name)["PolicyNames"],
        iam.list_user_tags(UserName=name)["Tags"],
        [(k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]],
        [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]],
    )


def make_group(server):
    iam = server.client("iam")
    name = unique("admins")
    arn = iam.create_group(GroupName=name)["Group"]["Arn"]
    member = unique("member")
    iam.create_user(UserName=member)
    iam.add_user_to_group(GroupName=name, UserName=member)
    iam.create_user(UserName=member + "-x")
    return {"arn": arn, "name": name, "member": member}


def group_state(server, target):
    iam = server.client("iam")
    users = [u["UserName"] for u in iam.get_group(GroupName=target["name"])["Users"]]
    return users, iam.list_attached_group_policies(GroupName=target["name"])["AttachedPolicies"]


def make_role(server):
    iam = server.client("iam")
    name = unique("victim-role")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    return {"arn": arn, "name": name}


def role_state(server, target):
    iam = server.client("iam")
    role = iam.get_role(RoleName=target["name"])["Role"]
    return (
        role["AssumeRolePolicyDocument"],
        iam.list_attached_role_policies(RoleName=target["name"])["AttachedPolicies"],
        iam.list_role_policies(RoleName=target["name"])["PolicyNames"],
        role.get("Tags"),
    )


RESOURCES = {
    "key": (make_key, key_state),
    "parameter": (make_parameter, parameter_state),
    "secret": (make_secret, secret_state),
    "user": (make_user, user_state),
    "group": (make_group, group_state),
    "role": (make_role, role_state),
}

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"

# (operation, resource kind, IAM action, call(client_for, target))
OPERATIONS = [
    ("kms:DisableKey", "key", lambda c, t: c("kms").disable_key(KeyId=t["id"])),
    ("kms:ScheduleKeyDeletion", "key", lambda c, t: c("kms").schedule_key_deletion(KeyId=t["id"], PendingWindowInDays=7)),
    ("kms:UpdateKeyDescription", "key", lambda c, t: c("kms").update_key_description(KeyId=t["id"], Description="changed")),
    ("kms:TagResource", "key", lambda c, t: c("kms").tag_resource(KeyId=t["id"], Tags=[{"TagKey": "k", "TagValue": "v"}])),
    ("kms:PutKeyPolicy", "key", lambda c, t: c("kms").put_key_policy(
        KeyId=t["id"], PolicyName="default", BypassPolicyLockoutSafetyCheck=True,
        Policy=policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}))),
    ("kms:Encrypt", "key", lambda c, t: c("kms").encrypt(KeyId=t["id"], Plaintext=b"x")),
    ("kms:DescribeKey", "key", lambda c, t: c("kms").describe_key(KeyId=t["id"])),
    ("kms:EnableKeyRotation", "key", lambda c, t: c("kms").enable_key_rotation(KeyId=t["id"])),
    ("ssm:PutParameter", "parameter", lambda c, t: c("ssm").put_parameter(Name=t["name"], Value="changed", Overwrite=True)),
    ("ssm:DeleteParameter", "parameter", lambda c, t: c("ssm").delete_parameter(Name=t["name"])),
    ("ssm:GetParameter", "parameter", lambda c, t: c("ssm").get_parameter(Name=t["name"])),
    ("ssm:LabelParameterVersion", "parameter", lambda c, t: c("ssm").label_parameter_version(Name=t["name"], Labels=["l"])),
    ("ssm:AddTagsToResource", "parameter", lambda c, t: c("ssm").add_tags_to_resource(
        ResourceType="Parameter", ResourceId=t["name"], Tags=[{"Key": "k", "Value": "v"}])),
    ("secretsmanager:PutSecretValue", "secret", lambda c, t: c("secretsmanager").put_secret_value(SecretId=t["arn"], SecretString="changed")),
    ("secretsmanager:DeleteSecret", "secret", lambda c, t: c("secretsmanager").delete_secret(SecretId=t["arn"])),
    ("secretsmanager:GetSecretValue", "secret", lambda c, t: c("secretsmanager").get_secret_value(SecretId=t["arn"])),
    ("secretsmanager:UpdateSecret", "secret", lambda c, t: c("secretsmanager").update_secret(SecretId=t["arn"], Description="changed")),
    ("secretsmanager:TagResource", "secret", lambda c, t: c("secretsmanager").tag_resource(SecretId=t["arn"], Tags=[{"Key": "k", "Value": "v"}])),
    ("iam:AttachUserPolicy", "user", lambda c, t: c("iam").attach_user_policy(UserName=t["name"], PolicyArn=READ_ONLY)),
    ("iam:PutUserPolicy", "user", lambda c, t: c("iam").put_user_policy(UserName=t["name"], PolicyName="p", PolicyDocument=policy(allow("*")))),
    ("iam:TagUser", "user", lambda c, t: c("iam").tag_user(UserName=t["name"], Tags=[{"Key": "k", "Value": "v"}])),
    ("iam:CreateAccessKey", "user", lambda c, t: c("iam").create_access_key(UserName=t["name"])),
    ("iam:UpdateAccessKey", "user", lambda c, t: c("iam").update_access_key(UserName=t["name"], AccessKeyId=t["key"], Status="Inactive")),
    ("iam:DeleteAccessKey", "user", lambda c, t: c("iam").delete_access_key(UserName=t["name"], AccessKeyId=t["key"])),
    ("iam:AddUserToGroup", "group", lambda c, t: c("iam").add_user_to_group(GroupName=t["name"], UserName=t["member"] + "-x")),
    ("iam:RemoveUserFromGroup", "group", lambda c, t: c("iam").remove_user_from_group(GroupName=t["name"], UserName=t["member"])),
    ("iam:AttachGroupPolicy", "group", lambda c, t: c("iam").attach_group_policy(GroupName=t["name"], PolicyArn=READ_ONLY)),
    ("iam:AttachRolePolicy", "role", lambda c, t: c("iam").attach_role_policy(RoleName=t["name"], PolicyArn=READ_ONLY)),
    ("iam:PutRolePolicy", "role", lambda c, t: c("iam").put_role_policy(RoleName=t["name"], PolicyName="p", PolicyDocument=policy(allow("*")))),
    ("iam:UpdateAssumeRolePolicy", "role", lambda c, t: c("iam").update_assume_role_policy(
        RoleName=t["name"], PolicyDocument=policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))),
    ("iam:TagRole", "role", lambda c, t: c("iam").tag_role(RoleName=t["name"], Tags=[{"Key": "k", "Value": "v"}])),
]

PRINCIPALS = ["user", "role", "federated"]


def principal(server, kind, document):
    """A client factory for a new principal of `kind` whose permissions are `document`."""
    iam = server.client("iam")
    name = unique(kind)
    if kind == "user":
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        creds, token = (key["AccessKeyId"], key["SecretAccessKey"]), None
    elif kind == "role":
        trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
        c = assumer(server).assume_role(RoleArn=arn, RoleSessionName="matrix")["Credentials"]
        creds, token = (c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"]
    else:
        c = federator(server).get_federation_token(Name=name, Policy=document)["Credentials"]
        creds, token = (c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"]
    return lambda service: as_user(server, service, creds, token)


def helper_user(server, name, document):
    iam = server.client("iam")
    try:
        iam.create_user(UserName=name)
    except ClientError:
        pass
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    if not hasattr(server, f"_{name}"):
        key = iam.create_access_key(UserName=name)["AccessKey"]
        setattr(server, f"_{name}", (key["AccessKeyId"], key["SecretAccessKey"]))
    assert keys or getattr(server, f"_{name}")
    return getattr(server, f"_{name}")


def assumer(server):
    return as_user(server, "sts", helper_user(server, "assumer", policy(
        allow(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]))))


def federator(server):
    return as_user(server, "sts", helper_user(server, "federator", policy(allow("*"))))


def expect(decision, call, snapshot):
    """Runs `call`; a denial must be AccessDenied and leave `snapshot()` as it was."""
    before = snapshot()
    if decision == "allow":
        call()
        return
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] in DENIED, err.value.response["Error"]
    assert snapshot() == before, "a denied request changed state"


GENERIC_ROWS = [
    pytest.param(kind, op, scope, id=f"{kind}-{op[0]}-{scope}")
    for op in OPERATIONS
    for kind in PRINCIPALS
    for scope in ("on-the-resource", "on-a-sibling")
]


@pytest.mark.parametrize("kind,operation,scope", GENERIC_ROWS)
def test_policy_scope_decides_for_every_principal_kind(server, kind, operation, scope):
    action, resource_kind, call = operation
    make, state = RESOURCES[resource_kind]
    target, sibling = make(server), make(server)
    granted = target if scope == "on-the-resource" else sibling
    client_for = principal(server, kind, policy(allow(action, granted["arn"])))
    decision = "allow" if scope == "on-the-resource" else "deny"
    expect(decision, lambda: call(client_for, target), lambda: state(server, target))


# --- KMS aliases: the alias ARN and every key involved ----------------------------------------------


ALIAS_ROWS = [
    # (operation, what the policy grants (alias / current key / new key), expected)
    ("UpdateAlias", ("alias", "key", "other"), "allow"),
    ("UpdateAlias", ("key", "other"), "deny"),
    ("UpdateAlias", ("alias", "other"), "deny"),
    ("UpdateAlias", ("alias", "key"), "deny"),
    ("DeleteAlias", ("alias", "key"), "allow"),
    ("DeleteAlias", ("key",), "deny"),
    ("DeleteAlias", ("alias",), "deny"),
    ("CreateAlias", ("alias", "key"), "allow"),
    ("CreateAlias", ("key",), "deny"),
    ("CreateAlias", ("alias",), "deny"),
]


@pytest.mark.parametrize("kind", PRINCIPALS)
@pytest.mark.parametrize("operation,granted,decision", ALIAS_ROWS)
def test_alias_operations_need_the_alias_and_every_key(server, kind, operation, granted, decision):
    target = make_alias(server)
    new_name = unique("alias/new-")
    arns = {
        "alias": target["arn"] if operation != "CreateAlias" else f"arn:aws:kms:us-east-1:{ACCOUNT}:{new_name}",
        "key": target["key"]["arn"],
        "other": target["other"]["arn"],
    }
    actions = [f"kms:{operation}"]
    client_for = principal(server, kind, policy(allow(actions, [arns[g] for g in granted])))
    kms = client_for("kms")
    call = {
        "UpdateAlias": lambda: kms.update_alias(AliasName=target["name"], TargetKeyId=target["other"]["id"]),
        "DeleteAlias": lambda: kms.delete_alias(AliasName=target["name"]),
        "CreateAlias": lambda: kms.create_alias(AliasName=new_name, TargetKeyId=target["key"]["id"]),
    }[operation]
    expect(decision, call, lambda: alias_state(server, target))


def test_kms_star_on_ones_own_key_cannot_repoint_or_delete_anothers_alias(server):
    admin_key, prod = make_key(server), unique("alias/prod-")
    server.client("kms").create_alias(AliasName=prod, TargetKeyId=admin_key["id"])
    own = make_key(server)
    kms = principal(server, "user", policy(allow("kms:*", own["arn"])))("kms")
    before = alias_state(server, None)
    for call in (lambda: kms.update_alias(AliasName=prod, TargetKeyId=own["id"]), lambda: kms.delete_alias(AliasName=prod)):
        assert error_of(call)[0] in DENIED
    assert alias_state(server, None) == before


def test_an_alias_targets_keys_of_its_own_account_only(server):
    theirs = server.client("kms", aws_access_key_id=OTHER_ACCOUNT, aws_secret_access_key="x")
    key = theirs.create_key()["KeyMetadata"]
    theirs.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}))
    kms = server.client("kms")
    code, _ = error_of(kms.create_alias, AliasName="alias/foreign", TargetKeyId=key["Arn"])
    assert code == "NotFoundException"
    assert "alias/foreign" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]


# --- IAM: self-service access keys, resources, condition keys ---------------------------------------

SELF_SERVICE = policy(allow(
    ["iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"],
    f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
))


@pytest.mark.parametrize("operation", ["UpdateAccessKey-Inactive", "UpdateAccessKey-Active", "DeleteAccessKey"])
def test_self_service_key_operations_without_user_name_never_touch_another_users_key(server, operation):
    admin = make_user(server)
    if operation.endswith("Active"):
        server.client("iam").update_access_key(UserName=admin["name"], AccessKeyId=admin["key"], Status="Inactive")
    iam = principal(server, "user", SELF_SERVICE)("iam")
    call = {
        "UpdateAccessKey-Inactive": lambda: iam.update_access_key(AccessKeyId=admin["key"], Status="Inactive"),
        "UpdateAccessKey-Active": lambda: iam.update_access_key(AccessKeyId=admin["key"], Status="Active"),
        "DeleteAccessKey": lambda: iam.delete_access_key(AccessKeyId=admin["key"]),
    }[operation]
    before = user_state(server, admin)
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    assert user_state(server, admin) == before


def test_self_service_works_on_ones_own_keys(server):
    iam_root = server.client("iam")
    iam_root.create_user(UserName="selfie")
    iam_root.put_user_policy(UserName="selfie", PolicyName="p", PolicyDocument=SELF_SERVICE)
    first = iam_root.create_access_key(UserName="selfie")["AccessKey"]
    iam = as_user(server, "iam", (first["AccessKeyId"], first["SecretAccessKey"]))
    second = iam.create_access_key()["AccessKey"]
    assert second["UserName"] == "selfie"
    listed = [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]]
    assert sorted(listed) == sorted([first["AccessKeyId"], second["AccessKeyId"]])
    iam.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
    iam.delete_access_key(AccessKeyId=second["AccessKeyId"])
    code, _ = error_of(iam.create_access_key, UserName="someone-else")
    assert code in DENIED


def test_keys_of_another_account_are_not_revealed(server):
    theirs = server.client("iam", aws_access_key_id=OTHER_ACCOUNT, aws_secret_access_key="x")
    theirs.create_user(UserName="far")
    far_key = theirs.create_access_key(UserName="far")["AccessKey"]["AccessKeyId"]
    iam = principal(server, "user", policy(allow("iam:GetAccessKeyLastUsed")))("iam")
    code, _ = error_of(iam.get_access_key_last_used, AccessKeyId=far_key)
    assert code in DENIED


def test_a_role_without_user_name_gets_aws_validation_error(server):
    iam = principal(server, "role", policy(allow("iam:*")))("iam")
    code, message = error_of(iam.list_access_keys)
    assert (code, message) == ("ValidationError", "Must specify userName when calling with non-User credentials")


POLICY_ARN_DENY = {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}


@pytest.mark.parametrize("kind", PRINCIPALS)
@pytest.mark.parametrize("entity,attach", [
    ("user", lambda iam, t, p: iam.attach_user_policy(UserName=t["name"], PolicyArn=p)),
    ("group", lambda iam, t, p: iam.attach_group_policy(GroupName=t["name"], PolicyArn=p)),
    ("role", lambda iam, t, p: iam.attach_role_policy(RoleName=t["name"], PolicyArn=p)),
])
@pytest.mark.parametrize("policy_arn,decision", [
    ("arn:aws:iam::aws:policy/AdministratorAccess", "deny"),
    (READ_ONLY, "allow"),
])
def test_deny_on_iam_policy_arn_applies_to_attach(server, kind, entity, attach, policy_arn, decision):
    make, state = RESOURCES[entity]
    target = make(server)
    document = policy(allow("iam:Attach*Policy", target["arn"]),
                      dict(Effect="Deny", Action="iam:Attach*Policy", Resource="*", Condition=POLICY_ARN_DENY))
    iam = principal(server, kind, document)("iam")
    expect(decision, lambda: attach(iam, target, policy_arn), lambda: state(server, target))


@pytest.mark.parametrize("path,decision", [("/contractors/", "allow"), ("/", "deny"), ("/employees/", "deny")])
def test_create_is_authorised_on_the_arn_with_its_path(server, path, decision):
    # IAM refuses a wildcard resource type (`*/contractors/*`): one ARN per type.
    iam = principal(server, "user", policy(allow(["iam:CreateUser", "iam:CreateRole", "iam:CreateGroup"],
                                                 [f"arn:aws:iam::{ACCOUNT}:{kind}/contractors/*"
                                                  for kind in ("user", "role", "group")])))("iam")
    names = [unique("c-user"), unique("c-role"), unique("c-group")]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    calls = [
        lambda: iam.create_user(UserName=names[0], Path=path),
        lambda: iam.create_role(RoleName=names[1], Path=path, AssumeRolePolicyDocument=trust),
        lambda: iam.create_group(GroupName=names[2], Path=path),
    ]
    root = server.client("iam")
    exists = [
        lambda: root.list_users()["Users"],
        lambda: root.list_roles()["Roles"],
        lambda: root.list_groups()["Groups"],
    ]
    for call, listing, name in zip(calls, exists, names):
        expect(decision, call, lambda listing=listing: sorted(str(e) for e in listing()))
        assert any(e.get("UserName", e.get("RoleName", e.get("GroupName"))) == name for e in listing()) == (decision == "allow")


@pytest.mark.parametrize("boundary,decision", [("arn:aws:iam::aws:policy/ReadOnlyAccess", "allow"), (None, "deny"),
                                               ("arn:aws:iam::aws:policy/AdministratorAccess", "deny")])
def test_permissions_boundary_condition_on_create_user(server, boundary, decision):
    document = policy(allow("iam:CreateUser", Condition={"StringEquals": {"iam:PermissionsBoundary": READ_ONLY}}))
    iam = principal(server, "user", document)("iam")
    name = unique("bounded")
    root = server.client("iam")
    snapshot = lambda: sorted(u["UserName"] for u in root.list_users()["Users"])
    expect(decision, lambda: iam.create_user(UserName=name, **({"PermissionsBoundary": boundary} if boundary else {})), snapshot)


def test_boundary_condition_follows_the_users_current_boundary(server):
    root = server.client("iam")
    bounded, free = unique("b"), unique("f")
    root.create_user(UserName=bounded, PermissionsBoundary=READ_ONLY)
    root.create_user(UserName=free)
    iam = principal(server, "user", policy(allow("iam:PutUserPolicy", Condition={"StringEquals": {"iam:PermissionsBoundary": READ_ONLY}})))("iam")
    iam.put_user_policy(UserName=bounded, PolicyName="p", PolicyDocument=policy(allow("s3:*")))
    assert error_of(iam.put_user_policy, UserName=free, PolicyName="p", PolicyDocument=policy(allow("s3:*")))[0] in DENIED
    assert root.list_user_policies(UserName=free)["PolicyNames"] == []


# --- STS ---------------------------------------------------------------------------------------------


def role_with_trust(server, *statements):
    name = unique("trusting")
    arn = server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=policy(*statements))["Role"]["Arn"]
    server.client("iam").put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy(allow("sts:AssumeRole")))
    return arn


def trust(actions, **extra):
    return {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": actions, **extra}


@pytest.mark.parametrize("trusted,kwargs,decision", [
    (["sts:AssumeRole"], {}, "allow"),
    (["sts:AssumeRole"], {"Tags": [{"Key": "team", "Value": "a"}]}, "deny"),
    (["sts:AssumeRole", "sts:TagSession"], {"Tags": [{"Key": "team", "Value": "a"}]}, "allow"),
    (["sts:AssumeRole"], {"SourceIdentity": "alice"}, "deny"),
    (["sts:AssumeRole", "sts:SetSourceIdentity"], {"SourceIdentity": "alice"}, "allow"),
    (["sts:AssumeRole", "sts:TagSession"], {"SourceIdentity": "alice", "Tags": [{"Key": "t", "Value": "v"}]}, "deny"),
])
def test_session_tags_and_source_identity_need_their_own_permission(server, trusted, kwargs, decision):
    arn = role_with_trust(server, trust(trusted))
    sts = assumer(server)
    if decision == "allow":
        out = sts.assume_role(RoleArn=arn, RoleSessionName="ss", **kwargs)
        assert out.get("SourceIdentity") == kwargs.get("SourceIdentity")
    else:
        assert error_of(sts.assume_role, RoleArn=arn, RoleSessionName="ss", **kwargs)[0] == "AccessDenied"


def session_client(creds, server, service="sts"):
    return as_user(server, service, (creds["AccessKeyId"], creds["SecretAccessKey"]), creds["SessionToken"])


def test_source_identity_and_transitive_tags_carry_through_a_chain(server):
    everything = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    first = role_with_trust(server, trust(everything))
    second_name = unique("second")
    iam = server.client("iam")
    second = iam.create_role(RoleName=second_name, AssumeRolePolicyDocument=policy(
        {"Effect": "Allow", "Principal": {"AWS": first}, "Action": everything}))["Role"]["Arn"]
    c1 = assumer(server).assume_role(RoleArn=first, RoleSessionName="one", SourceIdentity="alice",
                                     Tags=[{"Key": "project", "Value": "x"}, {"Key": "temp", "Value": "y"}],
                                     TransitiveTagKeys=["project"])["Credentials"]
    chained = session_client(c1, server)
    out = chained.assume_role(RoleArn=second, RoleSessionName="two")
    assert out["SourceIdentity"] == "alice"
    assert error_of(chained.assume_role, RoleArn=second, RoleSessionName="three", SourceIdentity="mallory")[0] == "AccessDenied"
    code, _ = error_of(chained.assume_role, RoleArn=second, RoleSessionName="four", Tags=[{"Key": "project", "Value": "z"}])
    assert code == "InvalidParameterValue", "an inherited transitive tag cannot be set again"
    # The second session carries the transitive tag as a principal tag.
    iam.put_role_policy(RoleName=second_name, PolicyName="p", PolicyDocument=policy(
        allow("sts:GetCallerIdentity"),
        dict(Effect="Allow", Action="kms:ListKeys", Resource="*", Condition={"StringEquals": {"aws:PrincipalTag/project": "x"}}),
        allow("kms:ListAliases"),
        # Only the transitive tag came along: a deny on the other one does not apply.
        dict(Effect="Deny", Action="kms:ListAliases", Resource="*", Condition={"StringEquals": {"aws:PrincipalTag/temp": "y"}}),
    ))
    kms = session_client(out["Credentials"], server, "kms")
    kms.list_keys()
    kms.list_aliases()


def test_root_cannot_assume_a_role(server):
    arn = role_with_trust(server, trust(["sts:AssumeRole"]))
    code, message = error_of(server.client("sts").assume_role, RoleArn=arn, RoleSessionName="root")
    assert (code, message) == ("AccessDenied", "Roles may not be assumed by root accounts.")


@pytest.mark.parametrize("service,call,decision", [
    ("iam", lambda c: c.list_users(), "deny"),
    ("iam", lambda c: c.get_user(), "deny"),
    ("sts", lambda c: c.get_caller_identity(), "allow"),
    ("sts", lambda c: c.get_federation_token(Name="fed"), "deny"),
    ("sts", lambda c: c.get_access_key_info(AccessKeyId="AKIAIOSFODNN7EXAMPLE"), "deny"),
    ("kms", lambda c: c.list_keys(), "allow"),
])
def test_session_token_credentials_without_mfa_are_limited(server, service, call, decision):
    root = server.client("iam")
    name = unique("st")
    root.create_user(UserName=name)
    root.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(allow("*")))
    key = root.create_access_key(UserName=name)["AccessKey"]
    creds = as_user(server, "sts", (key["AccessKeyId"], key["SecretAccessKey"])).get_session_token()["Credentials"]
    client = session_client(creds, server, service)
    if decision == "allow":
        call(client)
    else:
        assert error_of(call, client)[0] in DENIED


def test_root_session_tokens_last_at_most_an_hour(server):
    before = server.advance_clock(0)["now"]
    creds = server.client("sts").get_session_token(DurationSeconds=7200)["Credentials"]
    assert creds["Expiration"].timestamp() - before <= 3600 + 5


def test_temporary_key_without_its_token_is_refused_even_in_dev_mode(server):
    c = assumer(server).assume_role(RoleArn=role_with_trust(server, trust(["sts:AssumeRole"])), RoleSessionName="ss")["Credentials"]
    sts = as_user(server, "sts", (c["AccessKeyId"], c["SecretAccessKey"]))
    assert error_of(sts.get_caller_identity)[0] == "InvalidClientTokenId"
    kms = as_user(server, "kms", (c["AccessKeyId"], c["SecretAccessKey"]))
    assert error_of(kms.list_keys)[0] == "UnrecognizedClientException"


def test_get_access_key_info_is_authorised(server):
    sts = principal(server, "user", policy(allow("sts:GetCallerIdentity"), deny("sts:GetAccessKeyInfo")))("sts")
    assert error_of(sts.get_access_key_info, AccessKeyId="AKIAIOSFODNN7EXAMPLE")[0] == "AccessDenied"


def test_a_role_recreated_under_the_same_name_gives_old_sessions_nothing(server):
    iam = server.client("iam")
    name = unique("phoenix")
    trust_doc = policy(trust(["sts:AssumeRole"]))
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy(allow("kms:ListKeys")))
    old = session_client(assumer(server).assume_role(RoleArn=arn, RoleSessionName="ss")["Credentials"], server, "kms")
    old.list_keys()
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy(allow("kms:*")))
    assert error_of(old.list_keys)[0] == "AccessDeniedException"


# --- KMS deletion window and condition keys, the Parameter Store reference path ---------------------


@pytest.mark.parametrize("days,code", [(6, "ValidationException"), (31, "ValidationException"), (1, "ValidationException")])
def test_schedule_key_deletion_takes_seven_to_thirty_days(server, days, code):
    target = make_key(server)
    before = key_state(server, target)
    got, message = error_of(server.client("kms").schedule_key_deletion, KeyId=target["id"], PendingWindowInDays=days)
    assert got == code and f"Value '{days}' at 'pendingWindowInDays'" in message
    assert key_state(server, target) == before


@pytest.mark.parametrize("days,decision", [(30, "allow"), (7, "deny")])
def test_pending_window_condition_key(server, days, decision):
    target = make_key(server)
    document = policy(allow("kms:ScheduleKeyDeletion", target["arn"],
                            Condition={"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}))
    kms = principal(server, "user", document)("kms")
    expect(decision, lambda: kms.schedule_key_deletion(KeyId=target["id"], PendingWindowInDays=days), lambda: key_state(server, target))


@pytest.mark.parametrize("granted,decision", [
    (["secretsmanager:GetSecretValue", "kms:Decrypt", "ssm:GetParameter"], "allow"),
    (["secretsmanager:GetSecretValue", "kms:Decrypt"], "deny"),
    (["ssm:GetParameter", "kms:Decrypt"], "deny"),
])
def test_reference_path_needs_the_parameter_and_the_secret(server, granted, decision):
    target = make_secret(server)
    ssm = principal(server, "user", policy(allow(granted)))("ssm")
    name = f"/aws/reference/secretsmanager/{target['name']}"
    if decision == "allow":
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "original"
    else:
        assert error_of(ssm.get_parameter, Name=name, WithDecryption=True)[0] in DENIED



# --- a role session of another account ----------------------------------------------------------------


def cross_account_session(server, document):
    """A KMS client for a session of a role in OTHER_ACCOUNT whose permissions are `document`, assumed by
    a user of ACCOUNT (the role trusts ACCOUNT)."""
    theirs = server.client("iam", aws_access_key_id=OTHER_ACCOUNT, aws_secret_access_key="x")
    name = unique("partner")
    trust_doc = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    arn = theirs.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)["Role"]["Arn"]
    theirs.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
    c = assumer(server).assume_role(RoleArn=arn, RoleSessionName="xacct")["Credentials"]
    return arn, session_client(c, server, "kms")


@pytest.mark.parametrize("operation", [
    ("kms:Encrypt", lambda kms, t: kms.encrypt(KeyId=t["arn"], Plaintext=b"x")),
    ("kms:DisableKey", lambda kms, t: kms.disable_key(KeyId=t["arn"])),
    ("kms:TagResource", lambda kms, t: kms.tag_resource(KeyId=t["arn"], Tags=[{"TagKey": "k", "TagValue": "v"}])),
])
@pytest.mark.parametrize("key_policy_grants,role_allows,decision", [
    (True, True, "allow"),
    (True, False, "deny"),
    (False, True, "deny"),
])
def test_a_cross_account_role_needs_the_key_policy_and_its_own_policy(server, operation, key_policy_grants, role_allows,
                                                                      decision):
    action, call = operation
    target = make_key(server)
    role_arn, kms = cross_account_session(
        server, policy(allow(action if role_allows else "kms:ListKeys", target["arn"] if role_allows else "*")))
    statements = [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]
    if key_policy_grants:
        statements.append({"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": action, "Resource": "*"})
    server.client("kms").put_key_policy(KeyId=target["id"], PolicyName="default", Policy=policy(*statements))
    expect(decision, lambda: call(kms, target), lambda: key_state(server, target))
