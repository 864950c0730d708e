"""KMS grants through boto3 and the AWS CLI: delegation that works at once, constraints, retirement and
revocation, grants to roles, grants that pass on CreateGrant, and the policies' explicit denies that grants never
override. Every refusal is checked to have changed nothing."""

import json
import subprocess

from client_helpers import as_user, error_of, new_user

NO_PERMISSIONS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})


def app_user(server, name="app", document=NO_PERMISSIONS):
    creds = new_user(server, name, document)
    arn = server.client("iam").get_user(UserName=name)["User"]["Arn"]
    return as_user(server, "kms", creds), arn, creds


def denied(call, **kwargs):
    code, message = error_of(call, **kwargs)
    assert code == "AccessDeniedException", (code, message)
    return message


def test_a_grant_delegates_exactly_its_operations_at_once(dev_server):
    kms = dev_server.client()
    key = kms.create_key()["KeyMetadata"]
    app, app_arn, _ = app_user(dev_server)
    denied(app.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app_arn,
                             Operations=["Encrypt", "Decrypt", "DescribeKey"])
    assert len(grant["GrantId"]) == 64 and grant["GrantToken"]
    sealed = app.encrypt(KeyId=key["KeyId"], Plaintext=b"payload", GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"payload"
    assert app.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    denied(app.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")
    denied(app.list_grants, KeyId=key["KeyId"])
    [listed] = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert listed["GrantId"] == grant["GrantId"] and listed["GranteePrincipal"] == app_arn
    assert listed["KeyId"] == key["Arn"] and listed["IssuingAccount"] == f"arn:aws:iam::{key['AWSAccountId']}:root"
    assert sorted(listed["Operations"]) == ["Decrypt", "DescribeKey", "Encrypt"]
    # The grantee cannot revoke it; the key's administrators can, and then the grantee is refused again.
    denied(app.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    denied(app.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(kms.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"])[0] == "NotFoundException"


def test_constraints_limit_the_encryption_context(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    app, app_arn, _ = app_user(dev_server)
    kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Encrypt", "GenerateDataKey"],
                     Constraints={"EncryptionContextSubset": {"dept": "finance"}})
    app.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"dept": "finance", "doc": "1"})
    denied(app.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext={"dept": "sales"})
    denied(app.encrypt, KeyId=key_id, Plaintext=b"x")
    kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Decrypt"],
                     Constraints={"EncryptionContextEquals": {"dept": "finance"}})
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"dept": "finance"})["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=sealed, EncryptionContext={"dept": "finance"})["Plaintext"] == b"x"
    wider = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"dept": "finance", "doc": "1"})["CiphertextBlob"]
    denied(app.decrypt, CiphertextBlob=wider, EncryptionContext={"dept": "finance", "doc": "1"})
    # Constraint values are literal: one that looks like a policy variable matches only itself.
    kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["GenerateDataKeyWithoutPlaintext"],
                     Constraints={"EncryptionContextSubset": {"tenant": "${aws:username}"}})
    app.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"tenant": "${aws:username}"})
    denied(app.generate_data_key_without_plaintext, KeyId=key_id, KeySpec="AES_256", EncryptionContext={"tenant": "app"})
    listed = {tuple(g["Operations"]): g for g in kms.list_grants(KeyId=key_id)["Grants"]}
    assert listed[("Decrypt",)]["Constraints"] == {"EncryptionContextEquals": {"dept": "finance"}}


def test_an_explicit_deny_overrides_a_grant(dev_server):
    kms = dev_server.client()
    key = kms.create_key()["KeyMetadata"]
    app, app_arn, _ = app_user(dev_server, document=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}))
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app_arn, Operations=["Encrypt", "Decrypt"])
    sealed = app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    message = denied(app.decrypt, CiphertextBlob=sealed)
    assert "explicit deny" in message


def test_retirement_by_token_and_by_id(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    app, app_arn, _ = app_user(dev_server, "app")
    retiree, retiree_arn, _ = app_user(dev_server, "retiree")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, RetiringPrincipal=retiree_arn,
                             Operations=["Encrypt"])
    [retirable] = kms.list_retirable_grants(RetiringPrincipal=retiree_arn)["Grants"]
    assert retirable["GrantId"] == grant["GrantId"] and retirable["RetiringPrincipal"] == retiree_arn
    # The grantee may not retire a grant that does not include RetireGrant; nothing changes.
    denied(app.retire_grant, GrantToken=grant["GrantToken"])
    app.encrypt(KeyId=key_id, Plaintext=b"x")
    retiree.retire_grant(GrantToken=grant["GrantToken"])
    denied(app.encrypt, KeyId=key_id, Plaintext=b"x")
    assert kms.list_retirable_grants(RetiringPrincipal=retiree_arn)["Grants"] == []
    # An explicit deny wins even here, where only the grant can allow: nothing changes.
    denied_retiree, denied_arn, _ = app_user(dev_server, "denied-retiree", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "kms:RetireGrant", "Resource": "*"}]}))
    kept = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, RetiringPrincipal=denied_arn, Operations=["Encrypt"])
    denied(denied_retiree.retire_grant, GrantToken=kept["GrantToken"])
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [kept["GrantId"]]
    kms.revoke_grant(KeyId=key_id, GrantId=kept["GrantId"])
    # A grant that includes RetireGrant can be retired by its grantee, by key and grant id.
    own = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Encrypt", "RetireGrant"])
    app.retire_grant(KeyId=key_id, GrantId=own["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    assert error_of(kms.retire_grant, GrantToken="not-a-grant-token")[0] == "InvalidGrantTokenException"
    assert error_of(kms.retire_grant, KeyId=key_id, GrantId="0" * 64)[0] == "NotFoundException"


def test_name_makes_create_grant_idempotent(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    _, app_arn, _ = app_user(dev_server)
    first = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Encrypt"], Name="nightly")
    again = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Encrypt"], Name="nightly")
    assert again["GrantId"] == first["GrantId"] and again["GrantToken"] != first["GrantToken"]
    other = kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Decrypt"], Name="nightly")
    assert other["GrantId"] != first["GrantId"]
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 2
    [named] = kms.list_grants(KeyId=key_id, GrantId=first["GrantId"])["Grants"]
    assert named["Name"] == "nightly"


def test_a_grant_to_a_role_serves_its_sessions(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    iam = dev_server.client("iam")
    account = dev_server.client("sts").get_caller_identity()["Account"]
    _, _, creds = app_user(dev_server, "assumer", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    role_arn = iam.create_role(RoleName="signer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:user/assumer"}}]}))["Role"]["Arn"]
    sts = as_user(dev_server, "sts", creds)

    def session_kms(**kwargs):
        session = sts.assume_role(RoleArn=role_arn, **kwargs)
        credentials = session["Credentials"]
        client = as_user(dev_server, "kms", (credentials["AccessKeyId"], credentials["SecretAccessKey"]),
                         credentials["SessionToken"])
        return client, session["AssumedRoleUser"]["Arn"]

    role_kms, _ = session_kms(RoleSessionName="job")
    denied(role_kms.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    kms.create_grant(KeyId=key_id, GranteePrincipal=role_arn, Operations=["GenerateDataKey"])
    assert len(role_kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]) == 32
    # A session policy still limits what the role's grant gives its sessions; a grant to the session itself does not.
    limited, session_arn = session_kms(RoleSessionName="limited", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
    assert "session policy" in denied(limited.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    kms.create_grant(KeyId=key_id, GranteePrincipal=session_arn, Operations=["GenerateDataKey"])
    assert len(limited.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]) == 32


def test_a_grant_can_pass_on_no_more_than_it_gives(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    app, app_arn, _ = app_user(dev_server, "app")
    worker, worker_arn, _ = app_user(dev_server, "worker")
    kms.create_grant(KeyId=key_id, GranteePrincipal=app_arn, Operations=["Encrypt", "Decrypt", "CreateGrant"],
                     Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    denied(app.create_grant, KeyId=key_id, GranteePrincipal=worker_arn, Operations=["Encrypt", "GenerateDataKey"],
           Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    denied(app.create_grant, KeyId=key_id, GranteePrincipal=worker_arn, Operations=["Encrypt"])
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1
    app.create_grant(KeyId=key_id, GranteePrincipal=worker_arn, Operations=["Encrypt"],
                     Constraints={"EncryptionContextEquals": {"tenant": "a"}})
    worker.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "a"})
    denied(worker.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "b"})


def test_grant_operations_must_suit_the_key(dev_server):
    kms = dev_server.client()
    _, app_arn, _ = app_user(dev_server)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    for key_id, operations, constraints in [
        (symmetric, ["Sign"], None),
        (signing, ["Encrypt"], None),
        (signing, ["Sign"], {"EncryptionContextEquals": {"a": "b"}}),
    ]:
        kwargs = {"Constraints": constraints} if constraints else {}
        assert error_of(kms.create_grant, KeyId=key_id, GranteePrincipal=app_arn, Operations=operations,
                        **kwargs)[0] == "ValidationException"
        assert kms.list_grants(KeyId=key_id)["Grants"] == []
    kms.create_grant(KeyId=signing, GranteePrincipal=app_arn, Operations=["Sign", "Verify", "GetPublicKey"])
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    assert error_of(kms.create_grant, KeyId=mac, GranteePrincipal=app_arn, Operations=["Encrypt"]) == (
        "ValidationException",
        "Operations [Encrypt] are not supported when creating a grant for a symmetric KMS key with key usage "
        "GENERATE_VERIFY_MAC. Valid operations are [CreateGrant, RetireGrant, DescribeKey, GenerateMac, VerifyMac]")
    assert error_of(kms.create_grant, KeyId=signing, GranteePrincipal=app_arn, Operations=["Sign"],
                    Constraints={"EncryptionContextSubset": {"a": "b"}}) == (
        "ValidationException", "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.")
    assert error_of(kms.create_grant, KeyId=symmetric, GranteePrincipal="foo", Operations=["Encrypt"]) == (
        "InvalidArnException", "ARN is not valid: foo")
    # A principal no policy could name is refused, and the key goes on working.
    account = app_arn.split(":")[4]
    session_without_name = f"arn:aws:sts::{account}:assumed-role/OnlyRole"
    assert error_of(kms.create_grant, KeyId=symmetric, GranteePrincipal=session_without_name, Operations=["Encrypt"])[0] == (
        "InvalidArnException")
    assert kms.encrypt(KeyId=symmetric, Plaintext=b"x")["KeyId"]
    kms.disable_key(KeyId=symmetric)
    assert error_of(kms.create_grant, KeyId=symmetric, GranteePrincipal=app_arn, Operations=["Encrypt"])[0] == (
        "DisabledException")
    assert kms.list_grants(KeyId=symmetric)["Grants"] == []


def test_grant_condition_keys_decide_create_grant(dev_server):
    """An administrator allowed CreateGrant only for AWS services' grants cannot create one for a user."""
    kms = dev_server.client()
    key = kms.create_key()["KeyMetadata"]
    admin, _, _ = app_user(dev_server, "admin", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants"], "Resource": key["Arn"],
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": key["Arn"],
         "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
                       "StringEquals": {"kms:GrantConstraintType": "EncryptionContextEquals"}}},
    ]}))
    _, app_arn, _ = app_user(dev_server)
    denied(admin.create_grant, KeyId=key["KeyId"], GranteePrincipal=app_arn, Operations=["Encrypt"])
    denied(admin.create_grant, KeyId=key["KeyId"], GranteePrincipal=app_arn, Operations=["Decrypt"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=app_arn, Operations=["Decrypt"],
                       Constraints={"EncryptionContextEquals": {"k": "v"}})
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1


def test_cli_create_and_list_grants(dev_server):
    env = dev_server.cli_env()
    cli = ["aws", "--endpoint-url", dev_server.endpoint, "kms"]
    key_id = json.loads(subprocess.run(cli + ["create-key"], env=env, check=True, capture_output=True).stdout)[
        "KeyMetadata"]["KeyId"]
    _, app_arn, _ = app_user(dev_server)
    created = json.loads(subprocess.run(cli + ["create-grant", "--key-id", key_id, "--grantee-principal", app_arn,
                                               "--operations", "Decrypt", "Encrypt", "--name", "cli"],
                                        env=env, check=True, capture_output=True).stdout)
    listed = json.loads(subprocess.run(cli + ["list-grants", "--key-id", key_id], env=env, check=True,
                                       capture_output=True).stdout)["Grants"]
    assert [g["GrantId"] for g in listed] == [created["GrantId"]] and listed[0]["Name"] == "cli"
