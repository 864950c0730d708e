"""IAM's account-level resources through boto3 and the AWS CLI: instance profiles, service-linked roles, console
passwords and the password policy, the account alias, summary and credential report, SSH keys, signing and server
certificates, service-specific credentials, tags on every taggable resource, renames and role last use."""

import base64
import csv
import datetime
import hashlib
import io
import json
import subprocess

import pytest
from client_helpers import as_user, aws, aws_json, audit_records, error_of, files_containing, totp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from policy_docs import allow, policy

ACCOUNT = "111122223333"
TRUST_EC2 = policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


@pytest.fixture
def server(keyhaven_factory):
    return keyhaven_factory("--dev", "--account-id", ACCOUNT)


def error_response(call, *args, **kwargs):
    """(code, message, HTTP status) of the error `call` must raise; the message is None when AWS sends none."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    response = err.value.response
    return response["Error"]["Code"], response["Error"].get("Message"), response["ResponseMetadata"]["HTTPStatusCode"]


def user_with_key(server, name, *statements):
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def self_signed(common_name, key=None, days=365):
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return pem, key_pem, cert


def test_instance_profiles_hold_one_role_and_adding_it_needs_pass_role(server):
    iam = server.client("iam")
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=TRUST_EC2, Description="web tier")
    iam.create_role(RoleName="batch", AssumeRolePolicyDocument=TRUST_EC2)
    created = iam.create_instance_profile(InstanceProfileName="web-profile", Path="/apps/")["InstanceProfile"]
    assert created["InstanceProfileId"].startswith("AIPA") and len(created["InstanceProfileId"]) == 21
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/apps/web-profile"
    assert created["Roles"] == [] and "Tags" not in created
    assert iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Tags"] == []

    # A user allowed AddRoleToInstanceProfile but not iam:PassRole on the role is refused, and nothing changes.
    creds = user_with_key(server, "ops", allow("iam:AddRoleToInstanceProfile"))
    code, message = error_of(as_user(server, "iam", creds).add_role_to_instance_profile,
                             InstanceProfileName="web-profile", RoleName="web")
    assert code == "AccessDenied"
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/ops is not authorized to perform: iam:PassRole on resource: "
                       f"arn:aws:iam::{ACCOUNT}:role/web because no identity-based policy allows the iam:PassRole action")
    assert iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Roles"] == []
    iam.put_user_policy(UserName="ops", PolicyName="pass", PolicyDocument=policy(allow("iam:PassRole")))
    as_user(server, "iam", creds).add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web")

    profile = iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]
    (role,) = profile["Roles"]
    assert role["RoleName"] == "web" and role["AssumeRolePolicyDocument"] == json.loads(TRUST_EC2)
    assert "Description" not in role and "MaxSessionDuration" not in role
    listed = iam.list_instance_profiles()["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == ["web-profile"] and "Tags" not in listed[0]
    assert [p["Arn"] for p in iam.list_instance_profiles_for_role(RoleName="web")["InstanceProfiles"]] == [profile["Arn"]]
    assert iam.list_instance_profiles(PathPrefix="/other/")["InstanceProfiles"] == []

    cases = [
        (iam.add_role_to_instance_profile, dict(InstanceProfileName="web-profile", RoleName="batch"),
         ("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", 409)),
        (iam.create_instance_profile, dict(InstanceProfileName="web-profile"),
         ("EntityAlreadyExists", "Instance Profile web-profile already exists.", 409)),
        (iam.get_instance_profile, dict(InstanceProfileName="nope"),
         ("NoSuchEntity", "Instance Profile nope cannot be found.", 404)),
        (iam.remove_role_from_instance_profile, dict(InstanceProfileName="web-profile", RoleName="batch"),
         ("NoSuchEntity", "Role batch in Instance Profile web-profile cannot be found.", 404)),
        (iam.add_role_to_instance_profile, dict(InstanceProfileName="web-profile", RoleName="ghost"),
         ("NoSuchEntity", "The role with name ghost cannot be found.", 404)),
        (iam.delete_instance_profile, dict(InstanceProfileName="web-profile"),
         ("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)),
        (iam.delete_role, dict(RoleName="web"),
         ("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)),
        (iam.create_instance_profile, dict(InstanceProfileName="bad name!"), ("ValidationError", None, 400)),
    ]
    for call, kwargs, (code, message, status) in cases:
        got = error_response(call, **kwargs)
        assert got[0] == code and got[2] == status, (kwargs, got)
        assert message is None or got[1] == message, (kwargs, got)
    assert len(iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Roles"]) == 1

    iam.remove_role_from_instance_profile(InstanceProfileName="web-profile", RoleName="web")
    iam.delete_instance_profile(InstanceProfileName="web-profile")
    iam.delete_role(RoleName="web")
    out = aws_json(server, "iam", "create-instance-profile", "--instance-profile-name", "cli-profile")
    assert out["InstanceProfile"]["InstanceProfileName"] == "cli-profile"


def test_service_linked_roles_are_named_by_aws_and_only_their_service_changes_them(server):
    iam = server.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling"
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"] == (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
                           "AWSServiceRoleForAutoScaling")
    assert role["AssumeRolePolicyDocument"] == {"Version": "2012-10-17", "Statement": [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "autoscaling.amazonaws.com"}}]}
    assert "MaxSessionDuration" not in role
    attached = iam.list_attached_role_policies(RoleName="AWSServiceRoleForAutoScaling")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"]
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web")
    assert suffixed["Role"]["RoleName"] == "AWSServiceRoleForAutoScaling_web"

    cases = [
        (iam.create_service_linked_role, dict(AWSServiceName="batch.amazonaws.com", CustomSuffix="x"),
         ("InvalidInput", "Custom suffix is not allowed for batch.amazonaws.com", 400)),
        (iam.create_service_linked_role, dict(AWSServiceName="autoscaling.amazonaws.com"),
         ("InvalidInput", "Service role name AWSServiceRoleForAutoScaling has been taken in this account, please try "
                          "a different suffix.", 400)),
        (iam.delete_role, dict(RoleName="AWSServiceRoleForAutoScaling"),
         ("UnmodifiableEntity", "Cannot perform the operation on the protected role 'AWSServiceRoleForAutoScaling' - "
                                "this role is only modifiable by AWS", 400)),
        (iam.put_role_policy, dict(RoleName="AWSServiceRoleForAutoScaling", PolicyName="p",
                                   PolicyDocument=policy(allow("s3:*"))),
         ("UnmodifiableEntity", None, 400)),
        (iam.detach_role_policy, dict(RoleName="AWSServiceRoleForAutoScaling",
                                      PolicyArn="arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"),
         ("UnmodifiableEntity", None, 400)),
        (iam.update_assume_role_policy, dict(RoleName="AWSServiceRoleForAutoScaling", PolicyDocument=TRUST_EC2),
         ("UnmodifiableEntity", None, 400)),
    ]
    for call, kwargs, (code, message, status) in cases:
        got = error_response(call, **kwargs)
        assert got[0] == code and got[2] == status, (kwargs, got)
        assert message is None or got[1] == message, (kwargs, got)
    unchanged = iam.get_role(RoleName="AWSServiceRoleForAutoScaling")["Role"]
    assert unchanged["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "autoscaling.amazonaws.com"}
    assert iam.list_role_policies(RoleName="AWSServiceRoleForAutoScaling")["PolicyNames"] == []

    # iam:AWSServiceName limits which services a principal may create roles for; a denied create makes nothing.
    creds = user_with_key(server, "deployer", allow("iam:CreateServiceLinkedRole", Condition={
        "StringEquals": {"iam:AWSServiceName": "elasticbeanstalk.amazonaws.com"}}))
    deployer = as_user(server, "iam", creds)
    assert error_of(deployer.create_service_linked_role, AWSServiceName="ecs.amazonaws.com")[0] == "AccessDenied"
    assert error_of(iam.get_role, RoleName="AWSServiceRoleForECS")[0] == "NoSuchEntity"
    made = deployer.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")["Role"]
    assert made["RoleName"] == "AWSServiceRoleForElasticBeanstalk"

    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForAutoScaling_web")["DeletionTaskId"]
    assert task.startswith("task/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    assert error_of(iam.get_role, RoleName="AWSServiceRoleForAutoScaling_web")[0] == "NoSuchEntity"
    out = aws_json(server, "iam", "create-service-linked-role", "--aws-service-name", "ecs.amazonaws.com")
    assert out["Role"]["RoleName"] == "AWSServiceRoleForECS"


def test_password_policy_governs_login_profiles_and_passwords_never_reach_disk_or_audit(server):
    iam = server.client("iam")
    assert error_response(iam.get_account_password_policy) == (
        "NoSuchEntity", f"The Password Policy with domain name {ACCOUNT} cannot be found.", 404)
    assert error_response(iam.delete_account_password_policy) == (
        "NoSuchEntity", "The account policy with name PasswordPolicy cannot be found.", 404)
    iam.update_account_password_policy()
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "AllowUsersToChangePassword": False, "ExpirePasswords": False, "MinimumPasswordLength": 6,
        "RequireLowercaseCharacters": False, "RequireNumbers": False, "RequireSymbols": False,
        "RequireUppercaseCharacters": False}
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
                                       AllowUsersToChangePassword=True, MaxPasswordAge=90, PasswordReusePrevention=2)
    got = iam.get_account_password_policy()["PasswordPolicy"]
    assert got["ExpirePasswords"] is True and got["MaxPasswordAge"] == 90 and got["PasswordReusePrevention"] == 2

    creds = user_with_key(server, "dana", allow("iam:ChangePassword", f"arn:aws:iam::{ACCOUNT}:user/dana"))
    first, second, third = "Orchid-lantern-42!", "Velvet-harbour-77#", "Copper-meadow-19$"
    violation = ("PasswordPolicyViolation", "Password does not conform to the account password policy.", 400)
    for weak in ["short1!", "no-digits-here-at-all!", "n0symbolsbutlong123"]:
        assert error_response(iam.create_login_profile, UserName="dana", Password=weak) == violation
    assert error_of(iam.get_login_profile, UserName="dana") == (
        "NoSuchEntity", "Login Profile for User dana cannot be found.")
    profile = iam.create_login_profile(UserName="dana", Password=first)["LoginProfile"]
    assert profile["UserName"] == "dana" and profile["PasswordResetRequired"] is False
    assert error_response(iam.create_login_profile, UserName="dana", Password=first) == (
        "EntityAlreadyExists", "Login Profile for user dana already exists.", 409)
    iam.update_login_profile(UserName="dana", PasswordResetRequired=True)
    assert iam.get_login_profile(UserName="dana")["LoginProfile"]["PasswordResetRequired"] is True

    dana = as_user(server, "iam", creds)
    assert error_of(dana.change_password, OldPassword="Wrong-password-00!", NewPassword=second)[0] == "InvalidUserType"
    dana.change_password(OldPassword=first, NewPassword=second)
    assert iam.get_login_profile(UserName="dana")["LoginProfile"]["PasswordResetRequired"] is False
    # Reuse prevention 2: neither of the last two passwords again.
    assert error_response(dana.change_password, OldPassword=second, NewPassword=first) == violation
    assert error_response(dana.change_password, OldPassword=second, NewPassword=second) == violation
    dana.change_password(OldPassword=second, NewPassword=third)
    assert error_of(server.client("iam").change_password, OldPassword=third, NewPassword=first)[0] == "InvalidUserType"
    iam.delete_user_policy(UserName="dana", PolicyName="p")
    iam.delete_access_key(UserName="dana", AccessKeyId=creds[0])
    assert error_response(iam.delete_user, UserName="dana")[:2] == (
        "DeleteConflict", "Cannot delete entity, must delete login profile first.")
    iam.delete_login_profile(UserName="dana")
    assert error_of(iam.delete_login_profile, UserName="dana")[0] == "NoSuchEntity"
    iam.delete_account_password_policy()

    secrets = [p.encode() for p in (first, second, third)]
    assert files_containing(server.data_dir, secrets) == []
    records = json.dumps(audit_records(server)).encode()
    assert not any(s in records for s in secrets)


def test_account_alias_summary_and_credential_report(server):
    iam = server.client("iam")
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="example-corp")
    iam.create_account_alias(AccountAlias="example-corp-2")
    assert iam.list_account_aliases()["AccountAliases"] == ["example-corp-2"], "a second alias replaces the first"
    assert error_response(iam.create_account_alias, AccountAlias="example-corp-2") == (
        "EntityAlreadyExists", "The account alias example-corp-2 already exists.", 409)
    assert error_response(iam.delete_account_alias, AccountAlias="example-corp")[:2] == (
        "NoSuchEntity", "The account alias example-corp cannot be found.")
    assert error_of(iam.create_account_alias, AccountAlias="Bad--Alias")[0] == "ValidationError"
    iam.delete_account_alias(AccountAlias="example-corp-2")
    assert iam.list_account_aliases()["AccountAliases"] == []

    before = iam.get_account_summary()["SummaryMap"]
    assert len(before) == 34
    assert (before["UsersQuota"], before["RolesQuota"], before["PolicySizeQuota"]) == (5000, 1000, 6144)
    creds = user_with_key(server, "erin")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2)
    arn = iam.create_policy(PolicyName="p", PolicyDocument=policy(allow("s3:GetObject")))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    iam.create_instance_profile(InstanceProfileName="ip")
    after = iam.get_account_summary()["SummaryMap"]
    deltas = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert deltas == {"Users": 1, "Roles": 1, "Policies": 1, "PolicyVersionsInUse": 1, "InstanceProfiles": 1}

    assert error_response(iam.get_credential_report) == ("ReportNotPresent", None, 410)
    first = iam.generate_credential_report()
    assert (first["State"], first["Description"]) == (
        "STARTED", "No report exists. Starting a new report generation task")
    again = iam.generate_credential_report()
    assert again["State"] == "COMPLETE" and "Description" not in again
    iam.create_login_profile(UserName="erin", Password="Sturdy-planet-58!")
    second_key = iam.create_access_key(UserName="erin")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="erin", AccessKeyId=creds[0], Status="Inactive")
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    assert list(rows[0]) == ["user", "arn", "user_creation_time", "password_enabled", "password_last_used",
                             "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
                             "access_key_1_last_rotated", "access_key_1_last_used_date",
                             "access_key_1_last_used_region", "access_key_1_last_used_service",
                             "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
                             "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active",
                             "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
    assert rows[0]["user"] == "<root_account>" and rows[0]["password_enabled"] == "not_supported"
    # The report was made before the password and second key existed; within four hours it is not remade.
    (erin,) = [r for r in rows if r["user"] == "erin"]
    assert (erin["password_enabled"], erin["access_key_1_active"], erin["access_key_2_active"]) == ("false", "true",
                                                                                                      "false")
    assert erin["arn"] == f"arn:aws:iam::{ACCOUNT}:user/erin" and erin["user_creation_time"].endswith("+00:00")
    server.advance_clock(4 * 3600 + 1)
    assert iam.generate_credential_report()["State"] == "STARTED"
    rows = list(csv.DictReader(io.StringIO(iam.get_credential_report()["Content"].decode())))
    (erin,) = [r for r in rows if r["user"] == "erin"]
    assert erin["password_enabled"] == "true" and erin["password_last_used"] == "no_information"
    # Active keys first, whatever their creation order.
    assert (erin["access_key_1_active"], erin["access_key_2_active"]) == ("true", "false")
    assert second_key not in report["Content"].decode()
    summary = aws_json(server, "iam", "get-account-summary")["SummaryMap"]
    assert summary["Users"] == 1


def test_ssh_keys_signing_certificates_and_service_credentials(server):
    iam = server.client("iam")
    iam.create_user(UserName="fay")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    openssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    uploaded = iam.upload_ssh_public_key(UserName="fay", SSHPublicKeyBody=openssh + " fay@laptop")["SSHPublicKey"]
    assert uploaded["SSHPublicKeyId"].startswith("APKA") and uploaded["Status"] == "Active"
    blob = base64.b64decode(openssh.split()[1])
    assert uploaded["Fingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    key_id = uploaded["SSHPublicKeyId"]
    pem = iam.get_ssh_public_key(UserName="fay", SSHPublicKeyId=key_id, Encoding="PEM")["SSHPublicKey"]
    assert serialization.load_pem_public_key(pem["SSHPublicKeyBody"].encode()).public_numbers() == \
        key.public_key().public_numbers()
    ssh = iam.get_ssh_public_key(UserName="fay", SSHPublicKeyId=key_id, Encoding="SSH")["SSHPublicKey"]
    assert ssh["SSHPublicKeyBody"] == openssh
    listed = iam.list_ssh_public_keys(UserName="fay")["SSHPublicKeys"]
    assert [set(k) for k in listed] == [{"UserName", "SSHPublicKeyId", "Status", "UploadDate"}]
    iam.update_ssh_public_key(UserName="fay", SSHPublicKeyId=key_id, Status="Inactive")
    assert iam.list_ssh_public_keys(UserName="fay")["SSHPublicKeys"][0]["Status"] == "Inactive"
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    ed = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    for body, code in [(openssh, "DuplicateSSHPublicKey"), (small, "InvalidPublicKey"),
                       (ed, "UnrecognizedPublicKeyEncoding"), ("not a key", "UnrecognizedPublicKeyEncoding")]:
        assert error_of(iam.upload_ssh_public_key, UserName="fay", SSHPublicKeyBody=body)[0] == code, body
    assert error_of(iam.get_ssh_public_key, UserName="fay", SSHPublicKeyId="APKAAAAAAAAAAAAAAAAAA", Encoding="SSH") == (
        "NoSuchEntity", "The Public Key with id APKAAAAAAAAAAAAAAAAAA cannot be found.")
    iam.delete_ssh_public_key(UserName="fay", SSHPublicKeyId=key_id)

    certs = [self_signed(f"fay-{n}")[0] for n in range(3)]
    first = iam.upload_signing_certificate(UserName="fay", CertificateBody=certs[0])["Certificate"]
    assert len(first["CertificateId"]) == 24 and first["Status"] == "Active" and first["UserName"] == "fay"
    assert error_of(iam.upload_signing_certificate, UserName="fay", CertificateBody=certs[0])[0] == "DuplicateCertificate"
    iam.upload_signing_certificate(UserName="fay", CertificateBody=certs[1])
    assert error_of(iam.upload_signing_certificate, UserName="fay", CertificateBody=certs[2]) == (
        "LimitExceeded", "Cannot exceed quota for CertificatesPerUser: 2")
    assert error_of(iam.upload_signing_certificate, UserName="fay", CertificateBody="garbage") == (
        "MalformedCertificate", "Certificate garbage is malformed.")
    iam.update_signing_certificate(UserName="fay", CertificateId=first["CertificateId"], Status="Inactive")
    statuses = {c["CertificateId"]: c["Status"] for c in iam.list_signing_certificates(UserName="fay")["Certificates"]}
    assert statuses[first["CertificateId"]] == "Inactive" and len(statuses) == 2
    assert error_of(iam.delete_signing_certificate, UserName="fay", CertificateId="A" * 24) == (
        "NoSuchEntity", f"The Certificate with id {'A' * 24} cannot be found.")

    created = iam.create_service_specific_credential(UserName="fay", ServiceName="codecommit.amazonaws.com")
    credential = created["ServiceSpecificCredential"]
    assert credential["ServiceUserName"] == f"fay-at-{ACCOUNT}" and len(credential["ServicePassword"]) == 44
    assert credential["ServiceSpecificCredentialId"].startswith("ACCA") and credential["Status"] == "Active"
    listed = iam.list_service_specific_credentials(UserName="fay")["ServiceSpecificCredentials"]
    assert len(listed) == 1 and "ServicePassword" not in listed[0]
    reset = iam.reset_service_specific_credential(
        UserName="fay", ServiceSpecificCredentialId=credential["ServiceSpecificCredentialId"])
    assert reset["ServiceSpecificCredential"]["ServicePassword"] != credential["ServicePassword"]
    for service in ["lambda.amazonaws.com", "o3on3n3onosneo"]:
        assert error_response(iam.create_service_specific_credential, UserName="fay", ServiceName=service) == (
            "NoSuchEntity", f"No such service {service} is supported for Service Specific Credentials", 404)
    assert error_of(iam.update_service_specific_credential, UserName="fay",
                    ServiceSpecificCredentialId="satisfiesregexbutstillinvalid", Status="Inactive") == (
        "NoSuchEntity", "No such credential satisfiesregexbutstillinvalid exists")
    assert error_response(iam.delete_user, UserName="fay")[:2] == (
        "DeleteConflict", "Cannot delete entity, must remove referenced objects first.")

    # AllUsers reads every user's credentials, so it is authorised on all users, not the caller's own.
    self_managed = as_user(server, "iam", user_with_key(
        server, "self", allow("iam:ListServiceSpecificCredentials", f"arn:aws:iam::{ACCOUNT}:user/self")))
    assert self_managed.list_service_specific_credentials()["ServiceSpecificCredentials"] == []
    for call in [lambda: self_managed.list_service_specific_credentials(AllUsers=True),
                 lambda: self_managed.list_service_specific_credentials(UserName="self", AllUsers=True)]:
        assert error_of(call)[0] == "AccessDenied"
    auditor = as_user(server, "iam", user_with_key(
        server, "auditor", allow("iam:ListServiceSpecificCredentials", f"arn:aws:iam::{ACCOUNT}:user/*")))
    everyone = auditor.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    assert [(c["UserName"], c["ServiceSpecificCredentialId"]) for c in everyone] == [
        ("fay", credential["ServiceSpecificCredentialId"])]

    # A rename carries every credential along; the service user name keeps the old name, as AWS's does.
    iam.update_user(UserName="fay", NewUserName="faye", NewPath="/staff/")
    assert error_of(iam.get_user, UserName="fay")[0] == "NoSuchEntity"
    user = iam.get_user(UserName="faye")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/staff/faye"
    (moved,) = iam.list_service_specific_credentials(UserName="faye")["ServiceSpecificCredentials"]
    assert moved["UserName"] == "faye" and moved["ServiceUserName"] == f"fay-at-{ACCOUNT}"
    assert len(iam.list_signing_certificates(UserName="faye")["Certificates"]) == 2
    password = reset["ServiceSpecificCredential"]["ServicePassword"].encode()
    assert files_containing(server.data_dir, [password]) == []


def test_server_certificates_keep_their_private_keys_sealed(server):
    iam = server.client("iam")
    body, key_pem, cert = self_signed("www.example.com", days=90)
    _, other_key, _ = self_signed("other")
    uploaded = iam.upload_server_certificate(ServerCertificateName="www", Path="/cloudfront/", CertificateBody=body,
                                             PrivateKey=key_pem)["ServerCertificateMetadata"]
    assert uploaded["ServerCertificateId"].startswith("ASCA")
    assert uploaded["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/cloudfront/www"
    assert uploaded["Expiration"] == cert.not_valid_after_utc
    got = iam.get_server_certificate(ServerCertificateName="www")["ServerCertificate"]
    assert got["CertificateBody"] == body.strip() and got["Tags"] == [] and "CertificateChain" not in got
    assert "PRIVATE" not in json.dumps(got, default=str)
    cases = [
        (dict(ServerCertificateName="www", CertificateBody=body, PrivateKey=key_pem),
         ("EntityAlreadyExists", "The Server Certificate with name www already exists.")),
        (dict(ServerCertificateName="x", CertificateBody=body, PrivateKey=other_key), ("KeyPairMismatch", None)),
        (dict(ServerCertificateName="x", CertificateBody="certbody", PrivateKey=key_pem),
         ("MalformedCertificate", "Unable to parse certificate. Please ensure the certificate is in PEM format.")),
        (dict(ServerCertificateName="x", CertificateBody=body, PrivateKey=key_pem, CertificateChain="junk"),
         ("MalformedCertificate", None)),
    ]
    for kwargs, (code, message) in cases:
        got_code, got_message = error_of(iam.upload_server_certificate, **kwargs)
        assert got_code == code and (message is None or got_message == message), (kwargs, got_code, got_message)
    assert [c["ServerCertificateName"] for c in iam.list_server_certificates()["ServerCertificateMetadataList"]] == ["www"]
    iam.update_server_certificate(ServerCertificateName="www", NewServerCertificateName="www2")
    assert error_of(iam.get_server_certificate, ServerCertificateName="www") == (
        "NoSuchEntity", "The Server Certificate with name www cannot be found.")
    assert iam.get_server_certificate(ServerCertificateName="www2")["ServerCertificate"]["ServerCertificateMetadata"][
        "ServerCertificateId"] == uploaded["ServerCertificateId"]
    key_body = "".join(key_pem.strip().splitlines()[1:-1]).encode()
    assert files_containing(server.data_dir, [key_body[:60]]) == []
    iam.delete_server_certificate(ServerCertificateName="www2")
    assert iam.list_server_certificates()["ServerCertificateMetadataList"] == []


def test_every_taggable_resource_takes_tags_the_same_way(server):
    iam = server.client("iam")
    arn = iam.create_policy(PolicyName="tagged", PolicyDocument=policy(allow("s3:GetObject")))["Policy"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="tagged")
    oidc = iam.create_open_id_connect_provider(Url="https://tokens.example.com", ClientIDList=["app"])[
        "OpenIDConnectProviderArn"]
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName="tagged")["VirtualMFADevice"]["SerialNumber"]
    body, key_pem, _ = self_signed("tagged")
    iam.upload_server_certificate(ServerCertificateName="tagged", CertificateBody=body, PrivateKey=key_pem)
    resources = [
        ("tag_policy", "untag_policy", "list_policy_tags", {"PolicyArn": arn}),
        ("tag_instance_profile", "untag_instance_profile", "list_instance_profile_tags",
         {"InstanceProfileName": "tagged"}),
        ("tag_open_id_connect_provider", "untag_open_id_connect_provider", "list_open_id_connect_provider_tags",
         {"OpenIDConnectProviderArn": oidc}),
        ("tag_mfa_device", "untag_mfa_device", "list_mfa_device_tags", {"SerialNumber": mfa}),
        ("tag_server_certificate", "untag_server_certificate", "list_server_certificate_tags",
         {"ServerCertificateName": "tagged"}),
    ]
    for tag, untag, list_tags, ident in resources:
        getattr(iam, tag)(Tags=[{"Key": "team", "Value": "red"}, {"Key": "env", "Value": "prod"}], **ident)
        getattr(iam, tag)(Tags=[{"Key": "Team", "Value": "blue"}], **ident)
        tags = {t["Key"]: t["Value"] for t in getattr(iam, list_tags)(**ident)["Tags"]}
        assert tags == {"team": "blue", "env": "prod"}, (tag, tags)
        getattr(iam, untag)(TagKeys=["ENV"], **ident)
        assert getattr(iam, list_tags)(**ident)["Tags"] == [{"Key": "team", "Value": "blue"}], tag
        too_many = [{"Key": f"k{n}", "Value": "v"} for n in range(50)]
        assert error_of(getattr(iam, tag), Tags=too_many, **ident)[0] == "LimitExceeded", tag
        assert getattr(iam, list_tags)(**ident)["Tags"] == [{"Key": "team", "Value": "blue"}], tag
        assert error_of(getattr(iam, tag), Tags=[{"Key": "aws:x", "Value": "v"}], **ident)[0] == "InvalidInput", tag
    missing = [
        (iam.list_policy_tags, dict(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none")),
        (iam.list_instance_profile_tags, dict(InstanceProfileName="none")),
        (iam.list_server_certificate_tags, dict(ServerCertificateName="none")),
        (iam.tag_policy, dict(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none", Tags=[{"Key": "a", "Value": "b"}])),
    ]
    for call, kwargs in missing:
        assert error_of(call, **kwargs)[0] == "NoSuchEntity", kwargs
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "team", "Value": "blue"}]


def test_group_renames_carry_members_and_refuse_taken_names(server):
    iam = server.client("iam")
    for group in ["devs", "ops"]:
        iam.create_group(GroupName=group)
    creds = user_with_key(server, "gus")
    iam.add_user_to_group(GroupName="devs", UserName="gus")
    assert error_response(iam.update_group, GroupName="devs", NewGroupName="ops") == (
        "EntityAlreadyExists", "Group with name ops already exists.", 409)
    iam.create_user(UserName="hal")
    assert error_response(iam.update_user, UserName="gus", NewUserName="HAL") == (
        "EntityAlreadyExists", "User with name HAL already exists.", 409)
    iam.update_group(GroupName="devs", NewGroupName="engineers", NewPath="/eng/")
    group = iam.get_group(GroupName="engineers")
    assert group["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/eng/engineers"
    assert [u["UserName"] for u in group["Users"]] == ["gus"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="gus")["Groups"]] == ["engineers"]
    iam.update_user(UserName="gus", NewUserName="gustav")
    identity = as_user(server, "sts", creds).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/gustav", "the user's keys follow the rename"
    assert [k["UserName"] for k in iam.list_access_keys(UserName="gustav")["AccessKeyMetadata"]] == ["gustav"]


def test_role_last_used_and_policy_arn_and_entity_answers(server):
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assert iam.get_role(RoleName="worker")["Role"]["RoleLastUsed"] == {}
    iam.put_role_policy(RoleName="worker", PolicyName="p", PolicyDocument=policy(allow("kms:ListKeys")))
    creds = user_with_key(server, "runner", allow("sts:AssumeRole", role_arn))
    session = as_user(server, "sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="job")["Credentials"]
    kms = server.client("kms", region_name="eu-west-1", aws_access_key_id=session["AccessKeyId"],
                        aws_secret_access_key=session["SecretAccessKey"], aws_session_token=session["SessionToken"])
    kms.list_keys()
    used = iam.get_role(RoleName="worker")["Role"]["RoleLastUsed"]
    assert used["Region"] == "eu-west-1" and "LastUsedDate" in used
    assert "RoleLastUsed" not in iam.list_roles()["Roles"][0]

    for bad in ["longpolicynamebutnoarn", "test-policy-xxxxxxxx"]:
        assert error_response(iam.attach_role_policy, RoleName="worker", PolicyArn=bad) == (
            "ValidationError", "Invalid ARN:  Could not be parsed!", 400)
    assert iam.list_attached_role_policies(RoleName="worker")["AttachedPolicies"] == []

    arn = iam.create_policy(PolicyName="shared", PolicyDocument=policy(allow("s3:GetObject")))["Policy"]["Arn"]
    iam.create_user(UserName="ivy")
    iam.create_group(GroupName="team")
    iam.attach_user_policy(UserName="ivy", PolicyArn=arn)
    iam.attach_group_policy(GroupName="team", PolicyArn=arn)
    iam.attach_role_policy(RoleName="worker", PolicyArn=arn)
    iam.put_user_permissions_boundary(UserName="ivy", PermissionsBoundary=arn)
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["ivy"]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["team"]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["worker"]
    only_roles = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")
    assert (only_roles["PolicyUsers"], only_roles["PolicyGroups"], len(only_roles["PolicyRoles"])) == ([], [], 1)
    local = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="LocalManagedPolicy")
    assert (local["PolicyUsers"], local["PolicyGroups"], local["PolicyRoles"]) == ([], [], [])
    boundary = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in boundary["PolicyUsers"]] == ["ivy"] and boundary["PolicyRoles"] == []
    assert error_of(iam.list_entities_for_policy, PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none") == (
        "NoSuchEntity", f"Policy arn:aws:iam::{ACCOUNT}:policy/none does not exist or is not attachable.")
    assert error_of(iam.get_mfa_device, SerialNumber=f"arn:aws:iam::{ACCOUNT}:u2f/user/ivy/key-X")[0] == "NoSuchEntity"


def test_virtual_mfa_devices_come_with_a_scannable_qr_code(server, tmp_path):
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="phone")["VirtualMFADevice"]
    png = device["QRCodePNG"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    path = tmp_path / "qr.png"
    path.write_bytes(png)
    # zbarimg (Debian's zbar-tools) is an independent QR reader.
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, check=True).stdout.decode()
    seed = device["Base32StringSeed"].decode()
    assert decoded.strip() == f"otpauth://totp/phone@{ACCOUNT}?secret={seed}"
    listed = iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert "QRCodePNG" not in listed[0] and "Base32StringSeed" not in listed[0]


def test_service_last_accessed_reports_come_from_the_audit_log(server):
    iam = server.client("iam")
    policy_arn = iam.create_policy(PolicyName="crypto", PolicyDocument=policy(
        allow(["kms:CreateKey", "kms:TagResource"]), allow("s3:ListAllMyBuckets")))["Policy"]["Arn"]
    creds = user_with_key(server, "kit", allow("sts:AssumeRole"))
    iam.attach_user_policy(UserName="kit", PolicyArn=policy_arn)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/kit"
    trust = policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="keys", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="keys", PolicyArn=policy_arn)
    iam.create_group(GroupName="crew")
    iam.add_user_to_group(GroupName="crew", UserName="kit")
    # Writes (durable in the audit log when answered): the user in eu-west-1, the role in us-west-2.
    user_kms = server.client("kms", region_name="eu-west-1", aws_access_key_id=creds[0],
                             aws_secret_access_key=creds[1])
    user_kms.create_key()
    session = as_user(server, "sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="job")["Credentials"]
    role_kms = server.client("kms", region_name="us-west-2", aws_access_key_id=session["AccessKeyId"],
                             aws_secret_access_key=session["SecretAccessKey"], aws_session_token=session["SessionToken"])
    key_id = role_kms.create_key()["KeyMetadata"]["KeyId"]
    role_kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "t", "TagValue": "v"}])

    job = iam.generate_service_last_accessed_details(Arn=user_arn)["JobId"]
    report = iam.get_service_last_accessed_details(JobId=job)
    assert (report["JobStatus"], report["JobType"]) == ("COMPLETED", "SERVICE_LEVEL")
    services = {s["ServiceNamespace"]: s for s in report["ServicesLastAccessed"]}
    assert set(services) == {"kms", "s3", "sts"}, "the services the user's policies allow"
    kms = services["kms"]
    assert kms["ServiceName"] == "AWS Key Management Service"
    assert (kms["LastAuthenticatedEntity"], kms["LastAuthenticatedRegion"], kms["TotalAuthenticatedEntities"]) == (
        user_arn, "eu-west-1", 1)
    assert "LastAuthenticated" not in services["s3"] and services["s3"]["TotalAuthenticatedEntities"] == 0

    job = iam.generate_service_last_accessed_details(Arn=role_arn, Granularity="ACTION_LEVEL")["JobId"]
    kms = next(s for s in iam.get_service_last_accessed_details(JobId=job)["ServicesLastAccessed"]
               if s["ServiceNamespace"] == "kms")
    assert kms["LastAuthenticatedRegion"] == "us-west-2"
    assert {a["ActionName"] for a in kms["TrackedActionsLastAccessed"]} == {"CreateKey", "TagResource"}

    job = iam.generate_service_last_accessed_details(Arn=policy_arn)["JobId"]
    kms = next(s for s in iam.get_service_last_accessed_details(JobId=job)["ServicesLastAccessed"]
               if s["ServiceNamespace"] == "kms")
    assert kms["TotalAuthenticatedEntities"] == 2
    entities = iam.get_service_last_accessed_details_with_entities(JobId=job, ServiceNamespace="kms")
    assert sorted((e["EntityInfo"]["Type"], e["EntityInfo"]["Name"]) for e in entities["EntityDetailsList"]) == [
        ("ROLE", "keys"), ("USER", "kit")]
    # A group's report lists what the group's own policies allow, as used by its members.
    job = iam.generate_service_last_accessed_details(Arn=f"arn:aws:iam::{ACCOUNT}:group/crew")["JobId"]
    assert iam.get_service_last_accessed_details(JobId=job)["ServicesLastAccessed"] == []
    iam.attach_group_policy(GroupName="crew", PolicyArn=policy_arn)
    job = iam.generate_service_last_accessed_details(Arn=f"arn:aws:iam::{ACCOUNT}:group/crew")["JobId"]
    kms = next(s for s in iam.get_service_last_accessed_details(JobId=job)["ServicesLastAccessed"]
               if s["ServiceNamespace"] == "kms")
    assert kms["LastAuthenticatedEntity"] == user_arn

    assert error_of(iam.generate_service_last_accessed_details, Arn=f"arn:aws:iam::{ACCOUNT}:user/nobody")[0] == \
        "NoSuchEntity"
    assert error_of(iam.get_service_last_accessed_details, JobId="00000000-0000-0000-0000-000000000000")[0] == \
        "NoSuchEntity"
    assert error_of(as_user(server, "iam", creds).generate_service_last_accessed_details, Arn=user_arn)[0] == \
        "AccessDenied"


def test_iam_validation_messages_name_the_member_but_not_the_value(server):
    from botocore.config import Config

    iam = server.client("iam", config=Config(parameter_validation=False))
    iam.create_user(UserName="val")
    cases = [
        (iam.update_service_specific_credential,
         dict(UserName="val", ServiceSpecificCredentialId="totally-wrong-credential-id-with-hyphens", Status="Active"),
         "1 validation error detected: Value at 'serviceSpecificCredentialId' failed to satisfy constraint: Member "
         "must satisfy regular expression pattern: [\\w]+"),
        (iam.update_service_specific_credential,
         dict(UserName="val", ServiceSpecificCredentialId="ACCAAAAAAAAAAAAAAAAAA", Status="invalid"),
         "1 validation error detected: Value at 'status' failed to satisfy constraint: Member must satisfy enum value "
         "set"),
        (iam.create_account_alias, dict(AccountAlias="Bad--Alias"),
         "1 validation error detected: Value at 'accountAlias' failed to satisfy constraint: Member must satisfy "
         "regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$"),
    ]
    for call, kwargs, message in cases:
        assert error_of(call, **kwargs) == ("ValidationError", message), kwargs
    # STS quotes the value (recorded from AWS).
    sts = server.client("sts", config=Config(parameter_validation=False))
    code, message = error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x", RoleSessionName="Session1:2")
    assert message.startswith("1 validation error detected: Value 'Session1:2' at 'roleSessionName'")


def test_context_keys_granting_policies_sts_preferences_and_mfa_resync(server):
    import time

    iam = server.client("iam")
    conditioned = policy(allow("s3:GetObject", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1", "s3:prefix": "a"}}),
                         allow("kms:Decrypt", Condition={"Bool": {"aws:SecureTransport": "true"}}))
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[conditioned])["ContextKeyNames"] == [
        "aws:SourceVpc", "s3:prefix", "aws:SecureTransport"]
    iam.create_user(UserName="lee")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="lee")
    iam.put_group_policy(GroupName="readers", PolicyName="read", PolicyDocument=conditioned)
    arn = iam.create_policy(PolicyName="logs", PolicyDocument=policy(allow("logs:PutLogEvents")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="lee", PolicyArn=arn)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/lee"
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user_arn, PolicyInputList=[
        policy(allow("sts:AssumeRole", Condition={"StringLike": {"aws:userid": "x"}}))])["ContextKeyNames"]
    assert set(keys) == {"aws:SourceVpc", "s3:prefix", "aws:SecureTransport", "aws:userid"}
    assert error_of(iam.get_context_keys_for_principal_policy, PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/none")[0] \
        == "NoSuchEntity"

    granting = iam.list_policies_granting_service_access(Arn=user_arn, ServiceNamespaces=["s3", "logs", "ec2"])
    by_service = {e["ServiceNamespace"]: e["Policies"] for e in granting["PoliciesGrantingServiceAccess"]}
    assert by_service["s3"] == [{"PolicyName": "read", "PolicyType": "INLINE", "EntityType": "GROUP",
                                 "EntityName": "readers"}]
    assert by_service["logs"] == [{"PolicyName": "logs", "PolicyType": "MANAGED", "PolicyArn": arn,
                                   "EntityType": "USER", "EntityName": "lee"}]
    assert by_service["ec2"] == []

    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 2

    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="lee-phone")["VirtualMFADevice"]
    seed, serial = device["Base32StringSeed"].decode(), device["SerialNumber"]
    step = int(time.time()) // 30
    iam.enable_mfa_device(UserName="lee", SerialNumber=serial, AuthenticationCode1=totp(seed, step - 1),
                          AuthenticationCode2=totp(seed, step))
    # A device whose clock runs five minutes fast resynchronises with two consecutive codes.
    iam.resync_mfa_device(UserName="lee", SerialNumber=serial, AuthenticationCode1=totp(seed, step + 10),
                          AuthenticationCode2=totp(seed, step + 11))
    assert error_of(iam.resync_mfa_device, UserName="lee", SerialNumber=serial, AuthenticationCode1=totp(seed, step),
                    AuthenticationCode2=totp(seed, step + 5)) == (
        "InvalidAuthenticationCode", "Authentication code for device is not valid.")


def test_the_aws_cli_drives_the_account_operations(server, tmp_path):
    body, key_pem, _ = self_signed("cli.example.com")
    (tmp_path / "cert.pem").write_text(body)
    (tmp_path / "key.pem").write_text(key_pem)
    idp_cert = self_signed("cli-idp")[2]
    from cryptography.hazmat.primitives import serialization as ser

    der = base64.b64encode(idp_cert.public_bytes(ser.Encoding.DER)).decode()
    metadata = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.cli.test/saml">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate>'
        '</ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>'
    )
    (tmp_path / "metadata.xml").write_text(metadata)
    steps = [
        (["iam", "create-user", "--user-name", "cli-user"], lambda o: o["User"]["UserName"] == "cli-user"),
        (["iam", "update-account-password-policy", "--minimum-password-length", "10"], lambda o: o == {}),
        (["iam", "create-login-profile", "--user-name", "cli-user", "--password", "Sturdy-cli-pass-1!"],
         lambda o: o["LoginProfile"]["UserName"] == "cli-user"),
        (["iam", "create-account-alias", "--account-alias", "cli-corp"], lambda o: o == {}),
        (["iam", "list-account-aliases"], lambda o: o["AccountAliases"] == ["cli-corp"]),
        (["iam", "create-instance-profile", "--instance-profile-name", "cli-ip"],
         lambda o: o["InstanceProfile"]["InstanceProfileId"].startswith("AIPA")),
        (["iam", "create-service-linked-role", "--aws-service-name", "autoscaling.amazonaws.com"],
         lambda o: o["Role"]["RoleName"] == "AWSServiceRoleForAutoScaling"),
        (["iam", "upload-server-certificate", "--server-certificate-name", "cli-cert", "--certificate-body",
          f"file://{tmp_path / 'cert.pem'}", "--private-key", f"file://{tmp_path / 'key.pem'}"],
         lambda o: o["ServerCertificateMetadata"]["ServerCertificateName"] == "cli-cert"),
        (["iam", "create-saml-provider", "--name", "CliIdP", "--saml-metadata-document",
          f"file://{tmp_path / 'metadata.xml'}"],
         lambda o: o["SAMLProviderArn"] == f"arn:aws:iam::{ACCOUNT}:saml-provider/CliIdP"),
        (["iam", "generate-credential-report"], lambda o: o["State"] == "STARTED"),
        (["iam", "get-credential-report"], lambda o: o["ReportFormat"] == "text/csv"),
        (["iam", "get-account-summary"], lambda o: o["SummaryMap"]["Users"] == 1),
        (["iam", "generate-service-last-accessed-details", "--arn", f"arn:aws:iam::{ACCOUNT}:user/cli-user"],
         lambda o: len(o["JobId"]) == 36),
        (["iam", "update-user", "--user-name", "cli-user", "--new-user-name", "cli-user-2"], lambda o: o == {}),
        (["iam", "get-login-profile", "--user-name", "cli-user-2"],
         lambda o: o["LoginProfile"]["UserName"] == "cli-user-2"),
    ]
    for args, check in steps:
        out = aws_json(server, *args)
        assert check(out), (args, out)
    failed = aws(server, "iam", "create-login-profile", "--user-name", "cli-user-2", "--password", "short",
                 check=False)
    assert failed.returncode != 0 and b"EntityAlreadyExists" in failed.stderr
