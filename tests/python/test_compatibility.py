"""A data directory written by an earlier version (`tests/data/compat/<commit>/`, made by
`compat/make_fixture.py` with that commit's binary) is served by this one: every kind of record
loads, keys decrypt what they encrypted then, stored policies and credentials still decide, scheduled
work still runs, and the audit chain continues and verifies."""

import base64
import json
import os
import shutil
import subprocess

import pytest

from client_helpers import error_of
from conftest import BINARY, Keyhaven

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "compat")
VERSIONS = sorted(os.listdir(FIXTURES))


def served(version):
    # A data directory of SQLite's, whatever store the suite runs on.
    server = Keyhaven("--dev", env={"KEYHAVEN_STORE": "sqlite"})
    for name in os.listdir(os.path.join(FIXTURES, version)):
        if name != "expected.json":
            target = os.path.join(server.data_dir, name)
            shutil.copyfile(os.path.join(FIXTURES, version, name), target)
            os.chmod(target, 0o600)
    os.chmod(server.data_dir, 0o700)
    with open(os.path.join(FIXTURES, version, "expected.json")) as f:
        return server, json.load(f)


def audit_verify(server):
    return subprocess.run([BINARY, "audit-verify", "--data-dir", server.data_dir], capture_output=True, text=True,
                          env=server.env)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_earlier_data_directory_is_served(version):
    server, expected = served(version)
    try:
        assert audit_verify(server).returncode == 0
        server.start()
        kms, ssm, sm = server.client("kms"), server.client("ssm"), server.client("secretsmanager")

        blob = base64.b64decode(expected["ciphertext"])
        decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext=expected["context"])
        assert decrypted["Plaintext"] == b"compat plaintext"
        assert decrypted["KeyId"].endswith(expected["key"])
        described = kms.describe_key(KeyId="alias/compat")["KeyMetadata"]
        assert (described["KeyId"], described["Description"]) == (expected["key"], "compat key")
        assert kms.get_key_rotation_status(KeyId=expected["key"])["KeyRotationEnabled"] is True
        assert kms.list_resource_tags(KeyId=expected["key"])["Tags"] == [{"TagKey": "team", "TagValue": "core"}]
        again = kms.encrypt(KeyId="alias/compat", Plaintext=b"new", EncryptionContext={"a": "b"})["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=again, EncryptionContext={"a": "b"})["Plaintext"] == b"new"
        assert kms.describe_key(KeyId=expected["disabled"])["KeyMetadata"]["KeyState"] == "Disabled"
        assert kms.describe_key(KeyId=expected["doomed"])["KeyMetadata"]["KeyState"] == "PendingDeletion"

        assert ssm.get_parameter(Name="/compat/plain")["Parameter"]["Value"] == "v2"
        assert ssm.get_parameter(Name="/compat/plain:first")["Parameter"]["Value"] == "v1"
        assert [p["Value"] for p in ssm.get_parameter_history(Name="/compat/plain")["Parameters"]] == ["v1", "v2"]
        assert ssm.get_parameter(Name="/compat/list")["Parameter"]["Value"] == "a,b"
        secure = ssm.get_parameter(Name="/compat/secure", WithDecryption=True)["Parameter"]["Value"]
        advanced = ssm.get_parameter(Name="/compat/advanced", WithDecryption=True)["Parameter"]["Value"]
        assert (secure, advanced) == ("standard secret", "advanced secret")
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/compat/list")["TagList"]
        assert tags == [{"Key": "env", "Value": "test"}]
        policies = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": ["/compat/expiring"]}])["Parameters"][0]["Policies"]
        assert json.loads(policies[0]["PolicyText"])["Type"] == "Expiration"

        assert sm.get_secret_value(SecretId="compat/db")["SecretString"] == "second password"
        previous = sm.get_secret_value(SecretId="compat/db", VersionStage="AWSPREVIOUS")
        assert previous["SecretString"] == "first password"
        assert sm.get_secret_value(SecretId="compat/binary")["SecretBinary"] == b"\x00\x01binary"
        assert sm.describe_secret(SecretId="compat/db")["Tags"] == [{"Key": "app", "Value": "db"}]
        reference = ssm.get_parameter(Name="/aws/reference/secretsmanager/compat/db", WithDecryption=True)
        assert reference["Parameter"]["Value"] == "second password"

        alice = expected["alice"]
        as_alice = server.client("kms", aws_access_key_id=alice["AccessKeyId"],
                                 aws_secret_access_key=alice["SecretAccessKey"])
        assert as_alice.decrypt(CiphertextBlob=blob, EncryptionContext=expected["context"])["Plaintext"] == b"compat plaintext"
        assert error_of(as_alice.encrypt, KeyId="alias/compat", Plaintext=b"x")[0] == "AccessDeniedException"
        assert server.client("iam").list_user_tags(UserName="alice")["Tags"] == [{"Key": "dept", "Value": "ops"}]
        assert server.client("iam").get_role(RoleName="compat-role")["Role"]["Arn"].endswith(":role/compat-role")

        # The deletion scheduled by the earlier version runs when its window ends.
        server.advance_clock(8 * 86_400)
        assert error_of(kms.describe_key, KeyId=expected["doomed"])[0] == "NotFoundException"
    finally:
        server.stop()
    verified = audit_verify(server)
    assert verified.returncode == 0, verified.stderr
    shutil.rmtree(server.data_dir, ignore_errors=True)
