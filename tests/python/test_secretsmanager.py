"""Secrets Manager through boto3 and the AWS CLI, as their users use them.

AWS is the specification. Error codes and messages come from the botocore 1.43.11 model and the AWS
documentation (shared/aws/semantics.md §2), from errors recorded against real AWS (shared/aws/aws-errors-observed.tsv:
LocalStack's AWS-validated snapshots) and from real-AWS messages that others quote. Where no source pins the exact code of a
failure, the test accepts the small set of codes AWS could plausibly answer (the `*_CODES` constants) but still requires the
call to fail and to change nothing.

Keyhaven stands in for Lambda with rotation functions listed in the `--config` file (`[[rotation-functions]]`): built-in
ones (`random-password`, `postgresql-single-user`), a webhook and a command. The webhook and the command are
`sm_rotators.py`, which follows AWS's rotation template and calls Secrets Manager back with its own credentials.
Rotation runs in the background after RotateSecret returns: the tests poll with a deadline until AWSCURRENT moves.
"""

import base64
import json
import math
import os
import re
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import sm_rotators
from client_helpers import aws, aws_json, error_of, new_user, pages, audit_records, raw_json_call, poll
from conftest import BINARY, Keyhaven
from policy_docs import allow, deny, policy

ACCOUNT = "000000000000"
OTHER_ACCOUNT = "222233334444"
REGION = "us-east-1"
REPLICA = "eu-west-1"
DAY = 86_400
HOUR = 3_600
ARN_RE = re.compile(r"arn:aws:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:(?P<name>.+)-(?P<suffix>[A-Za-z0-9]{6})")
DEFAULT_KEY = "alias/aws/secretsmanager"

# Rotation functions (the config file registers them; nothing else in AWS's Lambda namespace exists).
RANDOM_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:random"
PG_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pg"
HOOK_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hook"
HOOK_FAIL_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hook-fail"
CMD_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cmd"
CMD_FAIL_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cmd-fail"
UNREGISTERED_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nobody-registered-me"
ROTATOR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/rotator"
HOOK_SECRET = "at-least-16-bytes-signing-secret"

# Messages recorded from real AWS (aws-errors-observed.tsv) or quoted from it by others.
NOT_FOUND = "Secrets Manager can't find the specified secret."
INVALID_NAME = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
SCHEDULED_NAME = "You can't create this secret because a secret with this name is already scheduled for deletion."
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
# The two wordings AWS has used for reading or writing a secret that is scheduled for deletion.
MARKED_DELETED = re.compile(
    r"You can't perform this operation on the secret because it was marked for deletion\."
    r"|You tried to perform the operation on a secret that's currently marked deleted\.")
STAGE_MISMATCH = "You provided a VersionStage that is not associated to the provided VersionId."
NO_ROTATION_FUNCTION = "No Lambda rotation function ARN is associated with this secret."
CANNOT_INVOKE = ("Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access "
                 "to the principal secretsmanager.amazonaws.com.")
KMS_NOT_ALLOWED = "Access to KMS is not allowed"
WINDOW_RANGE = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
WINDOW_AND_FORCE = "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
BOTH_VALUES = "You can't specify both a binary secret value and a string secret value in the same secret."
REPLICA_WRITE = "Operation not permitted on a replica secret. Call must be made in primary secret's region."
PUBLIC_POLICY = "You can't attach a resource-based policy that allows broad access to the secret."
POLICY_SYNTAX = "This resource policy contains a syntax error."
TOO_SHORT_FOR_TYPES = "Password length is too short based on the required types."
WITH_DECRYPTION = "WithDecryption flag must be True for retrieving a Secret Manager secret."


def token_reused(token, arn):
    return f"You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."


def already_exists(name):
    return f"The operation failed because the secret {name} already exists."


def remove_from_required(stage, holder):
    return (f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version "
            f"{holder}, so you must explicitly reference that version in RemoveFromVersionId.")


def no_value_for_stage(stage):
    return f"Secrets Manager can't find the specified secret value for staging label: {stage}"


def no_value_for_version(version_id):
    return f"Secrets Manager can't find the specified secret value for VersionId: {version_id}"


def constraint(member, rule, value=None):
    """AWS's standard validation message; a sensitive member's value is left out ("Value at ...")."""
    shown = "" if value is None else f"'{value}' "
    return f"1 validation error detected: Value {shown}at '{member}' failed to satisfy constraint: Member must {rule}"


# Failures whose exact code no source pins down (the call must still fail and change nothing).
UNKNOWN_KEY_CODES = {"InvalidParameterException", "InvalidRequestException", "ResourceNotFoundException", "NotFoundException",
                     "EncryptionFailure"}
UNUSABLE_KEY_CODES = {"EncryptionFailure", "InvalidRequestException", "KMSInvalidStateException", "DisabledException",
                      "InvalidParameterException"}
UNREADABLE_KEY_CODES = {"DecryptionFailure", "InvalidRequestException", "KMSInvalidStateException", "DisabledException"}
BAD_SCHEDULE_CODES = {"InvalidParameterException", "ValidationException"}
BAD_POLICY_CODES = {"MalformedPolicyDocumentException"}
OTHER_ACCOUNT_DEFAULT_KEY = "You can't access a secret from a different AWS account if you encrypt the secret with the default KMS service key."


# ---------------------------------------------------------------------------------------------------------
# Helpers


def client(server, service="secretsmanager", region=REGION, creds=("test", "test"), validate=True):
    """A boto3 client for any Region and credentials (access key, secret key[, session token])."""
    extra = {"aws_session_token": creds[2]} if len(creds) > 2 else {}
    if not validate:
        extra["config"] = Config(parameter_validation=False)
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=creds[0], aws_secret_access_key=creds[1], **extra)


def code_of(call, **kwargs):
    """The error code of a call, or None if it succeeds."""
    try:
        call(**kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


def expect_error(call, code, message, **kwargs):
    """Fails unless `call` fails with `code` (or one of a set) and `message` (exact text, a pattern, or None: any)."""
    got_code, got_message = error_of(call, **kwargs)
    codes = code if isinstance(code, set) else {code}
    assert got_code in codes, f"expected {code}, got {got_code}: {got_message}"
    if isinstance(message, re.Pattern):
        assert message.fullmatch(got_message), f"{got_code} message {got_message!r} does not match {message.pattern!r}"
    elif message is not None:
        assert got_message == message, f"{got_code}: {got_message!r} != {message!r}"
    else:
        assert got_message, f"{got_code} came without a message"
    return got_code, got_message


def body(response):
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def stages(sm, secret_id):
    return sm.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})


def staged(sm, secret_id):
    """{version id: set of stages} for the labelled versions."""
    return {v: set(s) for v, s in stages(sm, secret_id).items() if s}


def current_version(sm, secret_id):
    return next(v for v, s in stages(sm, secret_id).items() if "AWSCURRENT" in s)


def value(sm, secret_id, **kwargs):
    return sm.get_secret_value(SecretId=secret_id, **kwargs)["SecretString"]


def listed(sm, **kwargs):
    return pages(sm.list_secrets, "SecretList", 100, **kwargs)


def names(sm, **kwargs):
    return [s["Name"] for s in listed(sm, **kwargs)]


def versions(sm, secret_id, deprecated=False):
    """{version id: stages} from ListSecretVersionIds (a deprecated version has no VersionStages)."""
    found = pages(sm.list_secret_version_ids, "Versions", 100, SecretId=secret_id, IncludeDeprecated=deprecated)
    return {v["VersionId"]: v.get("VersionStages") for v in found}


def tags_of(sm, secret_id):
    return {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=secret_id).get("Tags", [])}


def now(server):
    return server.advance_clock(0)["now"]


def advance_to(server, moment):
    """Moves the dev server's clock on to `moment` (epoch seconds, rounded up); never backwards."""
    return server.advance_clock(max(0, math.ceil(moment - now(server))))


def snapshot(sm, secret_ids=None):
    """What a refused call must not change: every secret (scheduled ones too), or those named, with its metadata,
    versions, current and previous values, and policy."""
    state = {}
    for secret_id in secret_ids or [e["ARN"] for e in listed(sm, IncludePlannedDeletion=True)]:
        try:
            meta = body(sm.describe_secret(SecretId=secret_id))
        except ClientError as err:
            state[secret_id] = err.response["Error"]["Code"]
            continue
        meta.pop("LastAccessedDate", None)  # reads are allowed to touch it
        meta["AllVersions"] = versions(sm, meta["ARN"], deprecated=True)
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            try:
                got = sm.get_secret_value(SecretId=meta["ARN"], VersionStage=stage)
                meta[stage] = (got["VersionId"], got.get("SecretString"), got.get("SecretBinary"))
            except ClientError as err:
                meta[stage] = err.response["Error"]["Code"]
        try:
            meta["ResourcePolicy"] = sm.get_resource_policy(SecretId=meta["ARN"]).get("ResourcePolicy")
        except ClientError as err:  # a replica's policy is read in the primary's Region only
            meta["ResourcePolicy"] = err.response["Error"]["Code"]
        state[meta["Name"]] = meta
    return state


# ---------------------------------------------------------------------------------------------------------
# 1. The AWS CLI, as the user guide walks through it


def test_cli_create_put_get_with_stages(dev_server, tmp_path):
    old, new = '{"user":"diego","password":"EXAMPLE-PASSWORD"}', '{"user":"diego","password":"NEW-PASSWORD-2"}'
    created = aws_json(dev_server, "secretsmanager", "create-secret", "--name", "MyTestSecret",
                       "--description", "My test secret created with the CLI.", "--secret-string", old)
    assert set(created) == {"ARN", "Name", "VersionId"}
    match = ARN_RE.fullmatch(created["ARN"])
    assert match and (match["region"], match["account"], match["name"]) == (REGION, ACCOUNT, "MyTestSecret")
    assert created["Name"] == "MyTestSecret"

    got = aws_json(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "MyTestSecret")
    assert (got["ARN"], got["Name"], got["VersionId"], got["SecretString"], got["VersionStages"]) == (
        created["ARN"], "MyTestSecret", created["VersionId"], old, ["AWSCURRENT"])
    assert "CreatedDate" in got and "SecretBinary" not in got

    put = aws_json(dev_server, "secretsmanager", "put-secret-value", "--secret-id", "MyTestSecret", "--secret-string", new)
    assert put["VersionStages"] == ["AWSCURRENT"] and put["VersionId"] != created["VersionId"]
    assert put["ARN"] == created["ARN"]
    text = aws(dev_server, "secretsmanager", "get-secret-value", "--secret-id", created["ARN"], "--version-stage", "AWSPREVIOUS",
               "--query", "SecretString", "--output", "text")
    assert text.stdout.decode().strip() == old
    current = aws(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "MyTestSecret",
                  "--query", "SecretString", "--output", "text")
    assert current.stdout.decode().strip() == new

    ids = aws_json(dev_server, "secretsmanager", "list-secret-version-ids", "--secret-id", "MyTestSecret")
    assert {v["VersionId"]: v["VersionStages"] for v in ids["Versions"]} == {
        created["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert ids["ARN"] == created["ARN"] and ids["Name"] == "MyTestSecret"
    described = aws_json(dev_server, "secretsmanager", "describe-secret", "--secret-id", "MyTestSecret")
    assert described["Description"] == "My test secret created with the CLI."
    assert described["VersionIdsToStages"] == {created["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert "KmsKeyId" not in described, "the default key is not shown"

    blob = tmp_path / "key.bin"
    blob.write_bytes(bytes(range(256)))
    aws_json(dev_server, "secretsmanager", "create-secret", "--name", "MyBinarySecret", "--secret-binary", f"fileb://{blob}")
    binary = aws_json(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "MyBinarySecret")
    assert base64.b64decode(binary["SecretBinary"]) == bytes(range(256)) and "SecretString" not in binary

    missing = aws(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "NoSuchSecret", check=False)
    assert missing.returncode != 0
    assert b"ResourceNotFoundException" in missing.stderr and NOT_FOUND.encode() in missing.stderr

    deleted = aws_json(dev_server, "secretsmanager", "delete-secret", "--secret-id", "MyTestSecret", "--recovery-window-in-days", "7")
    assert deleted["Name"] == "MyTestSecret" and deleted["ARN"] == created["ARN"] and "DeletionDate" in deleted
    refused = aws(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "MyTestSecret", check=False)
    assert refused.returncode != 0 and b"InvalidRequestException" in refused.stderr
    restored = aws_json(dev_server, "secretsmanager", "restore-secret", "--secret-id", "MyTestSecret")
    assert restored == {"ARN": created["ARN"], "Name": "MyTestSecret"}
    assert aws_json(dev_server, "secretsmanager", "get-secret-value", "--secret-id", "MyTestSecret")["SecretString"] == new


# ---------------------------------------------------------------------------------------------------------
# 2. Versions, stages and ClientRequestToken idempotency


def test_put_and_get_with_stages_and_awsprevious(dev_server):
    sm = client(dev_server)
    first = sm.create_secret(Name="stages/db", SecretString="v1")
    assert set(body(first)) == {"ARN", "Name", "VersionId"}
    v1, arn = first["VersionId"], first["ARN"]
    got = sm.get_secret_value(SecretId="stages/db")
    assert (got["ARN"], got["Name"], got["VersionId"], got["SecretString"], got["VersionStages"]) == (
        arn, "stages/db", v1, "v1", ["AWSCURRENT"])
    assert isinstance(got["CreatedDate"], datetime)
    expect_error(sm.get_secret_value, "ResourceNotFoundException", no_value_for_stage("AWSPREVIOUS"),
                 SecretId="stages/db", VersionStage="AWSPREVIOUS")

    second = sm.put_secret_value(SecretId="stages/db", SecretString="v2")
    assert set(body(second)) == {"ARN", "Name", "VersionId", "VersionStages"}
    v2 = second["VersionId"]
    assert second["VersionStages"] == ["AWSCURRENT"] and v2 != v1
    assert staged(sm, arn) == {v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}, "AWSPREVIOUS follows the version that lost AWSCURRENT"
    assert value(sm, arn) == "v2"
    assert value(sm, arn, VersionStage="AWSPREVIOUS") == "v1"
    assert value(sm, arn, VersionId=v1) == "v1"
    assert value(sm, arn, VersionId=v2, VersionStage="AWSCURRENT") == "v2", "VersionId and VersionStage may agree"
    expect_error(sm.get_secret_value, "InvalidRequestException", STAGE_MISMATCH, SecretId=arn, VersionId=v1, VersionStage="AWSCURRENT")
    unknown = str(uuid.uuid4())
    expect_error(sm.get_secret_value, "ResourceNotFoundException", no_value_for_version(unknown), SecretId=arn, VersionId=unknown)

    third = sm.put_secret_value(SecretId=arn, SecretString="v3-staged", VersionStages=["STAGED"])
    v3 = third["VersionId"]
    assert third["VersionStages"] == ["STAGED"]
    assert value(sm, arn) == "v2", "a version without AWSCURRENT leaves the current value alone"
    assert value(sm, arn, VersionStage="STAGED") == "v3-staged"
    fourth = sm.put_secret_value(SecretId=arn, SecretString="v4-staged", VersionStages=["STAGED", "BLUE"])
    v4 = fourth["VersionId"]
    assert staged(sm, arn) == {v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}, v4: {"STAGED", "BLUE"}}, "naming a label moves it"
    assert v3 not in stages(sm, arn), "a version without labels is deprecated"

    assert set(versions(sm, arn)) == {v1, v2, v4}
    every = versions(sm, arn, deprecated=True)
    assert set(every) == {v1, v2, v3, v4} and every[v3] is None, "IncludeDeprecated shows it, without stages"
    assert value(sm, arn, VersionId=v3) == "v3-staged", "a deprecated version can still be read by its id"

    fifth = sm.update_secret(SecretId=arn, SecretString="v5")
    assert set(body(fifth)) == {"ARN", "Name", "VersionId"}
    assert staged(sm, arn) == {v2: {"AWSPREVIOUS"}, fifth["VersionId"]: {"AWSCURRENT"}, v4: {"STAGED", "BLUE"}}
    assert set(versions(sm, arn)) == {v2, v4, fifth["VersionId"]} and v1 in versions(sm, arn, deprecated=True)
    meta_only = sm.update_secret(SecretId=arn, Description="only metadata")
    assert set(body(meta_only)) == {"ARN", "Name"}, "no value, no version"
    assert value(sm, arn) == "v5"


def test_client_request_token_idempotency(dev_server):
    sm = client(dev_server)
    token = str(uuid.uuid4())
    first = body(sm.create_secret(Name="idem/db", SecretString="s1", ClientRequestToken=token))
    assert first["VersionId"] == token, "the token becomes the version id"
    arn = first["ARN"]
    assert body(sm.create_secret(Name="idem/db", SecretString="s1", ClientRequestToken=token)) == first, \
        "a retried CreateSecret (same token, same value) succeeds with the same answer"
    expect_error(sm.create_secret, "ResourceExistsException", token_reused(token, arn),
                 Name="idem/db", SecretString="other", ClientRequestToken=token)
    expect_error(sm.create_secret, "ResourceExistsException", already_exists("idem/db"), Name="idem/db", SecretString="s1")
    assert versions(sm, arn, deprecated=True) == {token: ["AWSCURRENT"]}

    put_token = str(uuid.uuid4())
    put = body(sm.put_secret_value(SecretId=arn, SecretString="s2", ClientRequestToken=put_token))
    assert put["VersionId"] == put_token and put["VersionStages"] == ["AWSCURRENT"]
    assert body(sm.put_secret_value(SecretId=arn, SecretString="s2", ClientRequestToken=put_token)) == put, "same token, same value"
    expect_error(sm.put_secret_value, "ResourceExistsException", token_reused(put_token, arn),
                 SecretId=arn, SecretString="s2-changed", ClientRequestToken=put_token)
    assert value(sm, arn) == "s2" and value(sm, arn, VersionId=put_token) == "s2"
    again = sm.put_secret_value(SecretId=arn, SecretString="s1", ClientRequestToken=token)
    assert again["VersionId"] == token and again["VersionStages"] == ["AWSPREVIOUS"], "a replay of an older version changes nothing"
    assert staged(sm, arn) == {token: {"AWSPREVIOUS"}, put_token: {"AWSCURRENT"}}
    assert len(versions(sm, arn, deprecated=True)) == 2

    update_token = str(uuid.uuid4())
    updated = sm.update_secret(SecretId=arn, SecretString="s3", ClientRequestToken=update_token)
    assert updated["VersionId"] == update_token
    assert sm.update_secret(SecretId=arn, SecretString="s3", ClientRequestToken=update_token)["VersionId"] == update_token
    expect_error(sm.update_secret, "ResourceExistsException", token_reused(update_token, arn),
                 SecretId=arn, SecretString="s3-changed", ClientRequestToken=update_token)
    assert value(sm, arn) == "s3" and len(versions(sm, arn, deprecated=True)) == 3

    binary_token = str(uuid.uuid4())
    sm.put_secret_value(SecretId=arn, SecretBinary=b"\x00\x01binary", ClientRequestToken=binary_token)
    assert sm.put_secret_value(SecretId=arn, SecretBinary=b"\x00\x01binary", ClientRequestToken=binary_token)["VersionId"] == binary_token
    expect_error(sm.put_secret_value, "ResourceExistsException", token_reused(binary_token, arn),
                 SecretId=arn, SecretBinary=b"\x00\x02binary", ClientRequestToken=binary_token)
    expect_error(sm.put_secret_value, "ResourceExistsException", token_reused(binary_token, arn),
                 SecretId=arn, SecretString="\x00\x01binary", ClientRequestToken=binary_token)
    assert sm.get_secret_value(SecretId=arn)["SecretBinary"] == b"\x00\x01binary"
    assert len(versions(sm, arn, deprecated=True)) == 4


def test_update_secret_version_stage_moves_labels(dev_server):
    sm = client(dev_server)
    arn = sm.create_secret(Name="labels/db", SecretString="one")["ARN"]
    v1 = current_version(sm, arn)
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two")["VersionId"]
    assert staged(sm, arn) == {v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}

    before = snapshot(sm)
    expect_error(sm.update_secret_version_stage, "InvalidParameterException", remove_from_required("AWSCURRENT", v2),
                 SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v1)
    expect_error(sm.update_secret_version_stage, "InvalidParameterException", f"Version stage AWSCURRENT not found in version {v1}",
                 SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v1, RemoveFromVersionId=v1)
    unknown = str(uuid.uuid4())
    expect_error(sm.update_secret_version_stage, "InvalidParameterException", f"Not a valid version: {unknown}",
                 SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=unknown, RemoveFromVersionId=v2)
    assert snapshot(sm) == before, "a refused move changes nothing"

    moved = sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v1, RemoveFromVersionId=v2)
    assert body(moved) == {"ARN": arn, "Name": "labels/db"}
    assert staged(sm, arn) == {v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}}, "AWSPREVIOUS follows AWSCURRENT's old version"
    assert value(sm, arn) == "one" and value(sm, arn, VersionStage="AWSPREVIOUS") == "two"

    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE", MoveToVersionId=v2)
    assert staged(sm, arn) == {v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS", "BLUE"}}
    expect_error(sm.update_secret_version_stage, "InvalidParameterException", remove_from_required("BLUE", v2),
                 SecretId=arn, VersionStage="BLUE", MoveToVersionId=v1)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE", MoveToVersionId=v1, RemoveFromVersionId=v2)
    assert staged(sm, arn) == {v1: {"AWSCURRENT", "BLUE"}, v2: {"AWSPREVIOUS"}}
    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE", RemoveFromVersionId=v1)
    assert staged(sm, arn) == {v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}}, "RemoveFromVersionId alone removes the label"

    v3 = sm.put_secret_value(SecretId=arn, SecretString="three", VersionStages=["GREEN"])["VersionId"]
    sm.update_secret_version_stage(SecretId=arn, VersionStage="GREEN", RemoveFromVersionId=v3)
    assert v3 not in versions(sm, arn) and v3 in versions(sm, arn, deprecated=True), "its last label gone, it is deprecated"

    v4 = sm.put_secret_value(SecretId=arn, SecretString="four", VersionStages=["AWSPENDING"])["VersionId"]
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v4, RemoveFromVersionId=v1)
    assert staged(sm, arn) == {v4: {"AWSCURRENT", "AWSPENDING"}, v1: {"AWSPREVIOUS"}}, "AWSPENDING stays until removed"
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=v4)
    assert staged(sm, arn) == {v4: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}}
    assert {v: s for v, s in versions(sm, arn, deprecated=True).items()} == {
        v1: ["AWSPREVIOUS"], v2: None, v3: None, v4: ["AWSCURRENT"]}


def test_batch_get_secret_value(dev_server):
    sm = client(dev_server)
    a = sm.create_secret(Name="batch/a", SecretString="value-a")["ARN"]
    b = sm.create_secret(Name="batch/b", SecretString="value-b")["ARN"]
    sm.create_secret(Name="batch/c", SecretString="value-c")
    sm.create_secret(Name="other/d", SecretString="value-d")
    sm.delete_secret(SecretId="batch/c", RecoveryWindowInDays=7)

    out = sm.batch_get_secret_value(SecretIdList=["batch/a", b, "batch/absent"])
    assert {v["Name"]: (v["ARN"], v["SecretString"], v["VersionStages"]) for v in out["SecretValues"]} == {
        "batch/a": (a, "value-a", ["AWSCURRENT"]), "batch/b": (b, "value-b", ["AWSCURRENT"])}
    assert [(e["SecretId"], e["ErrorCode"], e["Message"]) for e in out["Errors"]] == [
        ("batch/absent", "ResourceNotFoundException", NOT_FOUND)]

    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch/"]}])
    assert {v["Name"]: v["SecretString"] for v in by_filter["SecretValues"]} == {"batch/a": "value-a", "batch/b": "value-b"}, \
        "a filter finds neither other names nor secrets scheduled for deletion"
    expect_error(sm.batch_get_secret_value, "InvalidParameterException",
                 "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
                 SecretIdList=["batch/a"], Filters=[{"Key": "name", "Values": ["batch/"]}])


# ---------------------------------------------------------------------------------------------------------
# 3. ARNs: the random suffix and partial-ARN lookup


def test_arns_have_a_random_suffix_and_partial_arns_resolve(dev_server):
    sm = client(dev_server)
    secret_names = ["arn/one", "arn/two", "arn/three", "Valid/_+=.@-Name"]
    arns = {n: sm.create_secret(Name=n, SecretString=f"value of {n}")["ARN"] for n in secret_names}
    for name, arn in arns.items():
        match = ARN_RE.fullmatch(arn)
        assert match, arn
        assert (match["region"], match["account"], match["name"]) == (REGION, ACCOUNT, name)
    assert len({ARN_RE.fullmatch(a)["suffix"] for a in arns.values()}) == len(arns), "suffixes are random"

    for name, arn in arns.items():
        partial = arn[:-7]
        assert partial == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
        for secret_id in (name, arn, partial):
            got = sm.get_secret_value(SecretId=secret_id)
            assert (got["ARN"], got["Name"], got["SecretString"]) == (arn, name, f"value of {name}"), secret_id
            assert sm.describe_secret(SecretId=secret_id)["ARN"] == arn
    wrong_suffix = arns["arn/one"][:-6] + ("AAAAAA" if not arns["arn/one"].endswith("AAAAAA") else "BBBBBB")
    expect_error(sm.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId=wrong_suffix)
    # Another account's ARN: not found, or refused before the look-up (no source pins which).
    expect_error(sm.get_secret_value, {"ResourceNotFoundException", "AccessDeniedException"}, None,
                 SecretId=arns["arn/one"].replace(f":{ACCOUNT}:", ":999999999999:"))

    # A name that itself ends in "-" and six characters: the name and full ARN work, the partial ARN cannot (AWS).
    tricky = sm.create_secret(Name="legacy/key-a1b2c3", SecretString="tricky")["ARN"]
    assert value(sm, "legacy/key-a1b2c3") == "tricky" and value(sm, tricky) == "tricky"
    expect_error(sm.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId=tricky[:-7])

    old = arns["arn/one"]
    sm.delete_secret(SecretId=old, ForceDeleteWithoutRecovery=True)
    poll(lambda: code_of(sm.describe_secret, SecretId="arn/one") == "ResourceNotFoundException", what="the forced deletion")
    recreated = recreate(sm, "arn/one", "again")["ARN"]
    assert recreated != old and ARN_RE.fullmatch(recreated)["name"] == "arn/one", "a new secret gets a new suffix"
    expect_error(sm.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId=old)
    assert value(sm, old[:-7]) == "again", "the partial ARN names whichever secret has the name now"


# ---------------------------------------------------------------------------------------------------------
# 4. Deletion: the recovery window, restore, force, and real deletion when the window ends


def recreate(sm, name, secret_string, timeout=30.0):
    """CreateSecret, retried while AWS may still hold the name of a secret that was just force-deleted."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return sm.create_secret(Name=name, SecretString=secret_string)
        except ClientError as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} could not be created again within {timeout} s: {err}")
        time.sleep(0.1)


def test_deletion_window_restore_and_force(dev_server):
    sm = client(dev_server)
    arn = sm.create_secret(Name="del/db", SecretString="keep-me", Description="to be deleted",
                           Tags=[{"Key": "team", "Value": "blue"}])["ARN"]
    before = snapshot(sm)
    for days in (0, 6, 31, 100):
        expect_error(sm.delete_secret, "InvalidParameterException", WINDOW_RANGE, SecretId=arn, RecoveryWindowInDays=days)
    expect_error(sm.delete_secret, "InvalidParameterException", WINDOW_AND_FORCE,
                 SecretId=arn, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert snapshot(sm) == before and value(sm, arn) == "keep-me"

    start = now(dev_server)
    deleted = sm.delete_secret(SecretId="del/db", RecoveryWindowInDays=7)
    assert set(body(deleted)) == {"ARN", "Name", "DeletionDate"} and deleted["ARN"] == arn
    assert abs(deleted["DeletionDate"].timestamp() - (start + 7 * DAY)) < 300
    assert "DeletedDate" in sm.describe_secret(SecretId=arn), "a scheduled secret can still be described"
    expect_error(sm.get_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=arn)
    expect_error(sm.put_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=arn, SecretString="new")
    expect_error(sm.update_secret, "InvalidRequestException", MARKED_DELETED, SecretId=arn, Description="changed")
    expect_error(sm.tag_resource, "InvalidRequestException", MARKED_FOR_DELETION, SecretId=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert "del/db" not in names(sm)
    planned = {s["Name"]: s for s in listed(sm, IncludePlannedDeletion=True)}
    assert "DeletedDate" in planned["del/db"]
    expect_error(sm.create_secret, "InvalidRequestException", SCHEDULED_NAME, Name="del/db", SecretString="usurper")

    restored = sm.restore_secret(SecretId="del/db")
    assert body(restored) == {"ARN": arn, "Name": "del/db"}
    meta = sm.describe_secret(SecretId=arn)
    assert "DeletedDate" not in meta and meta["Description"] == "to be deleted" and tags_of(sm, arn) == {"team": "blue"}
    assert value(sm, arn) == "keep-me" and "del/db" in names(sm)

    by_default = sm.delete_secret(SecretId=arn)
    assert abs(by_default["DeletionDate"].timestamp() - (now(dev_server) + 30 * DAY)) < 300, "the default window is 30 days"
    sm.restore_secret(SecretId=arn)

    forced = sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert forced["ARN"] == arn and abs(forced["DeletionDate"].timestamp() - now(dev_server)) < 300
    poll(lambda: code_of(sm.describe_secret, SecretId=arn) == "ResourceNotFoundException", what="the forced deletion")
    expect_error(sm.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId="del/db")
    expect_error(sm.restore_secret, "ResourceNotFoundException", NOT_FOUND, SecretId="del/db")
    assert "del/db" not in names(sm, IncludePlannedDeletion=True)
    assert sm.delete_secret(SecretId="del/never-existed", ForceDeleteWithoutRecovery=True)["Name"] == "del/never-existed", \
        "forcing the deletion of a missing secret is not an error"
    expect_error(sm.delete_secret, "ResourceNotFoundException", NOT_FOUND, SecretId="del/never-existed", RecoveryWindowInDays=7)
    assert recreate(sm, "del/db", "reborn")["ARN"] != arn


def test_deletion_happens_when_the_window_ends(dev_server):
    sm = client(dev_server)
    doomed = sm.create_secret(Name="expire/soon", SecretString="short-lived")["ARN"]
    sm.create_secret(Name="expire/kept", SecretString="long-lived")
    due = sm.delete_secret(SecretId=doomed, RecoveryWindowInDays=7)["DeletionDate"].timestamp()

    advance_to(dev_server, due - HOUR)
    expect_error(sm.get_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=doomed)
    assert "expire/soon" in names(sm, IncludePlannedDeletion=True), "not deleted before its time"

    dev_server.advance_clock(2 * HOUR)
    poll(lambda: code_of(sm.describe_secret, SecretId=doomed) == "ResourceNotFoundException", what="the deletion")
    expect_error(sm.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId="expire/soon")
    assert names(sm, IncludePlannedDeletion=True) == ["expire/kept"]
    assert value(sm, "expire/kept") == "long-lived"
    fresh = sm.create_secret(Name="expire/soon", SecretString="a new secret")["ARN"]
    assert fresh != doomed and value(sm, "expire/soon") == "a new secret", "the name is free again"


def test_scheduled_deletion_survives_a_restart(dev_server):
    server = dev_server
    sm = client(server)
    first = sm.create_secret(Name="restart/a", SecretString="a")["ARN"]
    second = sm.create_secret(Name="restart/b", SecretString="b")["ARN"]
    due_first = sm.delete_secret(SecretId=first, RecoveryWindowInDays=7)["DeletionDate"].timestamp()
    due_second = sm.delete_secret(SecretId=second, RecoveryWindowInDays=10)["DeletionDate"].timestamp()

    server.stop()
    server.start()
    sm = client(server)
    expect_error(sm.get_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=first)
    assert "DeletedDate" in sm.describe_secret(SecretId=second)
    advance_to(server, due_first + HOUR)
    poll(lambda: code_of(sm.describe_secret, SecretId=first) == "ResourceNotFoundException", what="the first deletion")
    expect_error(sm.get_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=second)

    server.stop()
    server.start()
    sm = client(server)
    expect_error(sm.get_secret_value, "InvalidRequestException", MARKED_DELETED, SecretId=second)
    advance_to(server, due_second + HOUR)
    poll(lambda: code_of(sm.describe_secret, SecretId=second) == "ResourceNotFoundException", what="the second deletion")
    assert names(sm, IncludePlannedDeletion=True) == []


# ---------------------------------------------------------------------------------------------------------
# 5. GetRandomPassword, checked on the characters it returns

LOWER, UPPER, DIGITS = set(string.ascii_lowercase), set(string.ascii_uppercase), set(string.digits)
PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
EVERYTHING = LOWER | UPPER | DIGITS | PUNCTUATION


def password(sm, **kwargs):
    out = sm.get_random_password(**kwargs)
    assert set(body(out)) == {"RandomPassword"}
    return out["RandomPassword"]


def test_random_password_defaults(dev_server):
    sm = client(dev_server)
    assert len(PUNCTUATION) == 32
    drawn = [password(sm) for _ in range(20)]
    assert len(set(drawn)) == 20
    for pw in drawn:
        assert len(pw) == 32 and set(pw) <= EVERYTHING
        assert set(pw) & LOWER and set(pw) & UPPER and set(pw) & DIGITS and set(pw) & PUNCTUATION, \
            f"{pw!r}: by default each type is included"
    assert set(password(sm, PasswordLength=4096)) == EVERYTHING, "every letter, digit and punctuation mark can appear, no space"
    assert len(password(sm, PasswordLength=1, RequireEachIncludedType=False)) == 1
    assert len(password(sm, PasswordLength=4096)) == 4096


@pytest.mark.parametrize("option, removed", [
    ("ExcludeNumbers", DIGITS), ("ExcludePunctuation", PUNCTUATION),
    ("ExcludeUppercase", UPPER), ("ExcludeLowercase", LOWER),
])
def test_random_password_exclusions(dev_server, option, removed):
    sm = client(dev_server)
    assert set(password(sm, PasswordLength=4096, **{option: True})) == EVERYTHING - removed
    for _ in range(10):
        short = password(sm, PasswordLength=4, **{option: True})
        assert len(short) == 4 and not set(short) & removed
        kept = [group for group in (LOWER, UPPER, DIGITS, PUNCTUATION) if group is not removed]
        assert all(set(short) & group for group in kept), f"{short!r}: each remaining type is required"


def test_random_password_space_characters_and_required_types(dev_server):
    sm = client(dev_server)
    digits_only = dict(ExcludeUppercase=True, ExcludeLowercase=True, ExcludePunctuation=True)
    spaced = password(sm, PasswordLength=300, IncludeSpace=True, **digits_only)
    assert set(spaced) == DIGITS | {" "}, "IncludeSpace adds the space"
    assert " " not in password(sm, PasswordLength=4096), "no space unless asked"

    excluded = "aeiouAEIOU01234!@#$%'\"\\"
    pw = password(sm, PasswordLength=4096, ExcludeCharacters=excluded)
    assert set(pw) == EVERYTHING - set(excluded), "ExcludeCharacters removes exactly those characters"
    all_digits = password(sm, PasswordLength=200, ExcludeCharacters="0123456789", RequireEachIncludedType=False)
    assert not set(all_digits) & DIGITS, "a type may be excluded character by character when it is not required"
    only_vowels_left = password(sm, PasswordLength=200, ExcludeCharacters="bcdfghjklmnpqrstvwxyz", ExcludeUppercase=True,
                                ExcludeNumbers=True, ExcludePunctuation=True)
    assert set(only_vowels_left) == set("aeiou")

    for _ in range(30):
        four = password(sm, PasswordLength=4, RequireEachIncludedType=True)
        assert all(set(four) & group for group in (LOWER, UPPER, DIGITS, PUNCTUATION)), four
    loose = [password(sm, PasswordLength=2, RequireEachIncludedType=False) for _ in range(50)]
    assert all(len(p) == 2 and set(p) <= EVERYTHING for p in loose)
    assert any(not (set(p) & DIGITS) or not (set(p) & PUNCTUATION) for p in loose), \
        "without RequireEachIncludedType a 2-character password need not hold every type"

    raw = client(dev_server, validate=False)
    expect_error(raw.get_random_password, "InvalidParameterException", TOO_SHORT_FOR_TYPES, PasswordLength=3)
    expect_error(raw.get_random_password, "ValidationException",
                 constraint("passwordLength", "have value less than or equal to 4096", 4097), PasswordLength=4097)
    expect_error(raw.get_random_password, "ValidationException",
                 constraint("passwordLength", "have value greater than or equal to 1", 0), PasswordLength=0)
    expect_error(raw.get_random_password, {"InvalidParameterException", "ValidationException"}, None,
                 ExcludeNumbers=True, ExcludePunctuation=True, ExcludeUppercase=True, ExcludeLowercase=True)
    # AWS: "All characters of the desired type have been excluded" (a required type emptied by ExcludeCharacters) and
    # "All characters have been excluded from selection"; the exact code and final punctuation are not on record.
    expect_error(raw.get_random_password, {"InvalidParameterException", "ValidationException"},
                 re.compile(r"All characters of the desired type have been excluded\.?"), ExcludeCharacters="0123456789")
    expect_error(raw.get_random_password, {"InvalidParameterException", "ValidationException"},
                 re.compile(r"All characters have been excluded from selection\.?"),
                 ExcludeCharacters="".join(sorted(EVERYTHING)), RequireEachIncludedType=False)


# ---------------------------------------------------------------------------------------------------------
# 6. ListSecrets: filters, negation, order and paging; tags

CATALOG = {
    "app/db": ("Payments database credentials", {"env": "prod", "team": "payments"}),
    "app/web": ("Web frontend token", {"env": "dev"}),
    "App/Legacy": ("Legacy system", {}),
    "other/app": ("Batch job", {"owner": "ops"}),
    "zeta": (None, {}),
}


def make_catalog(server):
    """The catalog, created in its listed order, each a couple of seconds after the one before."""
    sm = client(server)
    for name, (description, tags) in CATALOG.items():
        kwargs = {"Description": description} if description else {}
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        sm.create_secret(Name=name, SecretString=f"value of {name}", **kwargs)
        server.advance_clock(2)
    return sm


def test_list_secrets_filters(dev_server):
    sm = make_catalog(dev_server)

    def found(*filters):
        return set(names(sm, Filters=[{"Key": k, "Values": v} for k, v in filters]))

    assert set(names(sm)) == set(CATALOG)
    assert found(("name", ["app"])) == {"app/db", "app/web"}, "name: case-sensitive prefix"
    assert found(("name", ["App"])) == {"App/Legacy"}
    assert found(("name", ["app/", "other"])) == {"app/db", "app/web", "other/app"}, "values are ORed"
    assert found(("name", ["!app"])) == {"App/Legacy", "other/app", "zeta"}, "! negates"
    assert found(("description", ["payments"])) == {"app/db"}, "description: not case-sensitive"
    assert found(("description", ["WEB"])) == {"app/web"}
    assert found(("description", ["frontend"])) == {"app/web"}, "description matches words"
    assert found(("tag-key", ["env"])) == {"app/db", "app/web"}
    assert found(("tag-key", ["te"])) == {"app/db"}, "tag-key: prefix"
    assert found(("tag-key", ["Env"])) == set(), "tag-key: case-sensitive"
    assert found(("tag-value", ["prod"])) == {"app/db"}
    assert found(("tag-value", ["pay"])) == {"app/db"}
    assert found(("tag-value", ["dev", "ops"])) == {"app/web", "other/app"}
    assert found(("all", ["payments"])) == {"app/db"}, "all: description words and tag values"
    assert found(("all", ["OPS"])) == {"other/app"}, "all: not case-sensitive"
    assert found(("all", ["legacy"])) == {"App/Legacy"}
    assert found(("all", ["zeta"])) == {"zeta"}
    assert found(("name", ["app"]), ("tag-key", ["env"]), ("tag-value", ["dev"])) == {"app/web"}, "filters are ANDed"
    assert found(("name", ["nothing-like-this"])) == set()


def test_list_secrets_order_and_paging(dev_server):
    sm = make_catalog(dev_server)
    created_order = list(CATALOG)
    assert names(sm) == created_order, "listed by creation date, oldest first"
    assert names(sm, SortOrder="asc") == created_order
    assert names(sm, SortOrder="desc") == created_order[::-1]

    two_at_a_time = [s["Name"] for s in pages(sm.list_secrets, "SecretList", 2)]
    assert two_at_a_time == created_order, "paging neither repeats nor skips"
    one_at_a_time = [s["Name"] for s in pages(sm.list_secrets, "SecretList", 1, SortOrder="desc")]
    assert one_at_a_time == created_order[::-1]
    paginated = [s["Name"] for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 3})
                 for s in page["SecretList"]]
    assert paginated == created_order
    filtered = [s["Name"] for s in pages(sm.list_secrets, "SecretList", 1, Filters=[{"Key": "name", "Values": ["app"]}])]
    assert filtered == ["app/db", "app/web"]

    entry = {s["Name"]: s for s in listed(sm)}["app/db"]
    assert ARN_RE.fullmatch(entry["ARN"])["name"] == "app/db"
    assert entry["Description"] == "Payments database credentials"
    assert {t["Key"]: t["Value"] for t in entry["Tags"]} == {"env": "prod", "team": "payments"}
    assert "SecretString" not in json.dumps(entry, default=str), "listing never carries values"


def test_tags(dev_server):
    sm = client(dev_server)
    arn = sm.create_secret(Name="tags/db", SecretString="x", Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "blue"}])["ARN"]
    assert tags_of(sm, arn) == {"env": "dev", "team": "blue"}
    assert body(sm.tag_resource(SecretId=arn, Tags=[{"Key": "team", "Value": "red"}, {"Key": "owner", "Value": "ops"}])) == {}
    assert tags_of(sm, arn) == {"env": "dev", "team": "red", "owner": "ops"}, "an existing key gets the new value"
    assert body(sm.untag_resource(SecretId="tags/db", TagKeys=["env", "absent"])) == {}
    assert tags_of(sm, arn) == {"team": "red", "owner": "ops"}
    sm.put_secret_value(SecretId=arn, SecretString="y")
    sm.update_secret(SecretId=arn, Description="still tagged")
    assert tags_of(sm, arn) == {"team": "red", "owner": "ops"}, "new versions and updates keep the tags"
    assert {t["Key"] for t in {s["Name"]: s for s in listed(sm)}["tags/db"]["Tags"]} == {"team", "owner"}
    assert set(names(sm, Filters=[{"Key": "tag-key", "Values": ["owner"]}])) == {"tags/db"}
    sm.untag_resource(SecretId=arn, TagKeys=["team", "owner"])
    assert sm.describe_secret(SecretId=arn)["Tags"] == [], "untagging everything leaves an empty list"
    expect_error(sm.tag_resource, "ResourceNotFoundException", NOT_FOUND, SecretId="tags/absent", Tags=[{"Key": "k", "Value": "v"}])
    expect_error(sm.untag_resource, "ResourceNotFoundException", NOT_FOUND, SecretId="tags/absent", TagKeys=["k"])


# ---------------------------------------------------------------------------------------------------------
# 7. Bad input: refused with AWS's code and message, and nothing partially written


def write_config(path, hook=None, log=None):
    """A server config registering the rotation functions: the built-ins always, the webhook and commands when given."""
    entries = [f'arn = "{RANDOM_FN}"\nbuiltin = "random-password"', f'arn = "{PG_FN}"\nbuiltin = "postgresql-single-user"']
    if hook:
        for arn, path_ in ((HOOK_FN, "/rotate"), (HOOK_FAIL_FN, "/rotate-fail")):
            entries.append(f'arn = "{arn}"\nurl = "{hook.base_url}{path_}"\nsecret = "{HOOK_SECRET}"')
    if log:
        script = os.path.abspath(sm_rotators.__file__)
        for arn, extra in ((CMD_FN, []), (CMD_FAIL_FN, ["--fail-at", "testSecret"])):
            command = json.dumps([sys.executable, script, "--log", str(log), *extra])
            entries.append(f'arn = "{arn}"\ncommand = {command}\nrole-arn = "{ROTATOR_ROLE}"')
    with open(path, "w") as f:
        f.write("".join(f"[[rotation-functions]]\n{e}\n\n" for e in entries))
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One dev server for the table of refused calls: a baseline secret and two unusable KMS keys. Each call gets a secret
    of its own ("{fresh}", two versions "{v1}" and "{v2}"), so one wrongly accepted call cannot spoil the others."""
    config = write_config(tmp_path_factory.mktemp("sm-config") / "keyhaven.toml")
    server = Keyhaven("--dev", "--config", str(config))
    server.start()
    try:
        sm, kms = client(server), client(server, "kms")
        sm.create_secret(Name="bad/existing", SecretString="v1", Description="baseline")
        disabled = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=disabled)
        pending = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
        yield server, {"disabled": disabled, "pending": pending}
    finally:
        server.cleanup()


UNKNOWN_VERSION = "0b7f5c4e-6a47-4d4f-9a1e-3c2b1a0f9e8d"
PUBLIC_DOC = policy({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
LONG_STRING = "L" * 65_537
BAD_CALLS = [
    # (id, operation, arguments, code(s), message: exact text, a compiled pattern, or None for any)
    ("create-name-with-space", "create_secret", dict(Name="bad/has space", SecretString="v"), "ValidationException", INVALID_NAME),
    ("create-name-with-star", "create_secret", dict(Name="bad/star*", SecretString="v"), "ValidationException", INVALID_NAME),
    ("create-name-with-question-mark", "create_secret", dict(Name="bad/what?", SecretString="v"), "ValidationException", INVALID_NAME),
    ("create-name-with-backslash", "create_secret", dict(Name="bad\\slash", SecretString="v"), "ValidationException", INVALID_NAME),
    ("create-name-too-long", "create_secret", dict(Name="b" * 513, SecretString="v"), "ValidationException",
     re.compile(re.escape(constraint("name", "have length less than or equal to 512", "b" * 513)) + "|" + re.escape(INVALID_NAME))),
    ("create-empty-name", "create_secret", dict(Name="", SecretString="v"), "ValidationException",
     re.compile(re.escape(constraint("name", "have length greater than or equal to 1", "")) + "|" + re.escape(INVALID_NAME))),
    ("create-string-too-long", "create_secret", dict(Name="bad/too-long", SecretString=LONG_STRING), "ValidationException",
     constraint("secretString", "have length less than or equal to 65536")),
    ("create-binary-too-long", "create_secret", dict(Name="bad/too-long", SecretBinary=b"B" * 65_537), "ValidationException",
     constraint("secretBinary", "have length less than or equal to 65536")),
    ("create-string-and-binary", "create_secret", dict(Name="bad/both", SecretString="s", SecretBinary=b"b"),
     "InvalidParameterException", BOTH_VALUES),
    ("create-existing-name", "create_secret", dict(Name="bad/existing", SecretString="v1"), "ResourceExistsException",
     already_exists("bad/existing")),
    ("create-unknown-kms-key", "create_secret", dict(Name="bad/key", SecretString="v", KmsKeyId="alias/does-not-exist"),
     UNKNOWN_KEY_CODES, None),
    ("create-disabled-kms-key", "create_secret", dict(Name="bad/key", SecretString="v", KmsKeyId="{disabled}"), UNUSABLE_KEY_CODES, None),
    ("create-kms-key-pending-deletion", "create_secret", dict(Name="bad/key", SecretString="v", KmsKeyId="{pending}"),
     UNUSABLE_KEY_CODES, None),
    ("create-replica-in-its-own-region", "create_secret",
     dict(Name="bad/replica", SecretString="v", AddReplicaRegions=[{"Region": REGION}]), "InvalidParameterException",
     "Invalid replica region."),
    ("put-string-too-long", "put_secret_value", dict(SecretId="{fresh}", SecretString=LONG_STRING), "ValidationException",
     constraint("secretString", "have length less than or equal to 65536")),
    ("put-string-and-binary", "put_secret_value", dict(SecretId="{fresh}", SecretString="s", SecretBinary=b"b"),
     "InvalidParameterException", BOTH_VALUES),
    ("put-neither-string-nor-binary", "put_secret_value", dict(SecretId="{fresh}"), "InvalidRequestException",
     "You must provide either SecretString or SecretBinary."),
    ("put-empty-stage", "put_secret_value", dict(SecretId="{fresh}", SecretString="s", VersionStages=[""]),
     "ValidationException", re.compile(r"1 validation error detected: Value '.*' at 'versionStages.*' failed to satisfy constraint: "
                                        r"Member must have length greater than or equal to 1")),
    ("put-21-stages", "put_secret_value", dict(SecretId="{fresh}", SecretString="s", VersionStages=[f"S{i}" for i in range(21)]),
     "ValidationException", re.compile(r"1 validation error detected: Value '.*' at 'versionStages' failed to satisfy constraint: "
                                        r"Member must have length less than or equal to 20")),
    ("put-to-missing-secret", "put_secret_value", dict(SecretId="bad/absent", SecretString="s"), "ResourceNotFoundException", NOT_FOUND),
    ("update-string-and-binary", "update_secret", dict(SecretId="{fresh}", SecretString="s", SecretBinary=b"b"),
     "InvalidParameterException", BOTH_VALUES),
    ("update-string-too-long", "update_secret", dict(SecretId="{fresh}", SecretString=LONG_STRING), "ValidationException",
     constraint("secretString", "have length less than or equal to 65536")),
    ("update-to-unknown-kms-key", "update_secret", dict(SecretId="{fresh}", KmsKeyId="alias/does-not-exist"),
     UNKNOWN_KEY_CODES, None),
    ("update-to-disabled-kms-key", "update_secret", dict(SecretId="{fresh}", SecretString="v3", KmsKeyId="{disabled}"),
     UNUSABLE_KEY_CODES, None),
    ("get-unknown-version-id", "get_secret_value", dict(SecretId="{fresh}", VersionId=UNKNOWN_VERSION),
     "ResourceNotFoundException", no_value_for_version(UNKNOWN_VERSION)),
    ("get-version-id-too-short", "get_secret_value", dict(SecretId="{fresh}", VersionId="abc"), "ValidationException",
     constraint("versionId", "have length greater than or equal to 32", "abc")),
    ("get-unknown-stage", "get_secret_value", dict(SecretId="{fresh}", VersionStage="NOPE"), "ResourceNotFoundException",
     no_value_for_stage("NOPE")),
    ("get-version-and-stage-disagree", "get_secret_value", dict(SecretId="{fresh}", VersionId="{v1}", VersionStage="AWSCURRENT"),
     "InvalidRequestException", STAGE_MISMATCH),
    ("get-invalid-secret-id", "get_secret_value", dict(SecretId="bad name"), "ValidationException", INVALID_NAME),
    ("describe-missing", "describe_secret", dict(SecretId="bad/absent"), "ResourceNotFoundException", NOT_FOUND),
    ("stage-move-current-without-remove", "update_secret_version_stage",
     dict(SecretId="{fresh}", VersionStage="AWSCURRENT", MoveToVersionId="{v1}"), "InvalidParameterException",
     "{remove-from-v2}"),
    ("stage-remove-from-wrong-version", "update_secret_version_stage",
     dict(SecretId="{fresh}", VersionStage="AWSCURRENT", MoveToVersionId="{v1}", RemoveFromVersionId="{v1}"),
     "InvalidParameterException", "Version stage AWSCURRENT not found in version {v1}"),
    ("stage-move-to-unknown-version", "update_secret_version_stage",
     dict(SecretId="{fresh}", VersionStage="BLUE", MoveToVersionId=UNKNOWN_VERSION), "InvalidParameterException",
     f"Not a valid version: {UNKNOWN_VERSION}"),
    ("rotate-rate-in-minutes", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"ScheduleExpression": "rate(1 minutes)"}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-rate-under-four-hours", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"ScheduleExpression": "rate(2 hours)"}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-cron-bad", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"ScheduleExpression": "cron(bad)"}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-cron-four-fields", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"ScheduleExpression": "cron(0 12 * *)"}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-after-zero-days", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 0}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-after-1001-days", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 1001}),
     BAD_SCHEDULE_CODES, None),
    ("rotate-days-and-schedule", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN,
          RotationRules={"AutomaticallyAfterDays": 10, "ScheduleExpression": "rate(10 days)"}), BAD_SCHEDULE_CODES, None),
    ("rotate-window-past-the-day", "rotate_secret",
     dict(SecretId="{fresh}", RotationLambdaARN=RANDOM_FN,
          RotationRules={"ScheduleExpression": "cron(0 20 * * ? *)", "Duration": "6h"}), BAD_SCHEDULE_CODES, None),
    ("rotate-unregistered-function", "rotate_secret", dict(SecretId="{fresh}", RotationLambdaARN=UNREGISTERED_FN),
     "AccessDeniedException", CANNOT_INVOKE),
    ("rotate-without-function", "rotate_secret", dict(SecretId="{fresh}"), "InvalidRequestException", NO_ROTATION_FUNCTION),
    ("policy-not-json", "put_resource_policy", dict(SecretId="{fresh}", ResourcePolicy="{not json"),
     "MalformedPolicyDocumentException", POLICY_SYNTAX),
    ("policy-without-statement", "put_resource_policy", dict(SecretId="{fresh}", ResourcePolicy='{"Version": "2012-10-17"}'),
     BAD_POLICY_CODES, None),
    ("policy-statement-without-effect", "put_resource_policy", dict(SecretId="{fresh}", ResourcePolicy=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Principal": {"AWS": ACCOUNT}, "Action": "secretsmanager:*", "Resource": "*"}]})),
     BAD_POLICY_CODES, None),
    ("policy-public-while-blocked", "put_resource_policy",
     dict(SecretId="{fresh}", ResourcePolicy=PUBLIC_DOC, BlockPublicPolicy=True), "PublicPolicyException", PUBLIC_POLICY),
    ("delete-window-of-six-days", "delete_secret", dict(SecretId="{fresh}", RecoveryWindowInDays=6),
     "InvalidParameterException", WINDOW_RANGE),
    ("delete-window-of-31-days", "delete_secret", dict(SecretId="{fresh}", RecoveryWindowInDays=31),
     "InvalidParameterException", WINDOW_RANGE),
    ("delete-window-and-force", "delete_secret", dict(SecretId="{fresh}", RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True),
     "InvalidParameterException", WINDOW_AND_FORCE),
    ("delete-missing", "delete_secret", dict(SecretId="bad/absent"), "ResourceNotFoundException", NOT_FOUND),
    ("list-page-over-100", "list_secrets", dict(MaxResults=101), "ValidationException",
     constraint("maxResults", "have value less than or equal to 100", 101)),
    ("list-unknown-filter-key", "list_secrets", dict(Filters=[{"Key": "colour", "Values": ["x"]}]), "ValidationException",
     re.compile(re.escape("1 validation error detected: Value 'colour' at 'filters.1.member.key' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [") + r".*\]")),
]


def substitute(value_, keys):
    if isinstance(value_, str):
        if value_ == "{remove-from-v2}":
            return remove_from_required("AWSCURRENT", keys["v2"])
        for key, replacement in keys.items():
            value_ = value_.replace("{" + key + "}", replacement)
    return value_


@pytest.mark.parametrize("operation, args, code, message", [pytest.param(o, a, c, m, id=i) for i, o, a, c, m in BAD_CALLS])
def test_bad_call_is_refused_and_changes_nothing(shared, operation, args, code, message):
    server, keys = shared
    sm = client(server, validate=False)
    fresh = f"bad/fresh-{uuid.uuid4().hex[:8]}"
    sm.create_secret(Name=fresh, SecretString="v1")
    keys = dict(keys, fresh=fresh, v1=current_version(sm, fresh), v2=sm.put_secret_value(SecretId=fresh, SecretString="v2")["VersionId"])
    args = {k: substitute(v, keys) for k, v in args.items()}
    message = substitute(message, keys)
    watched = ["bad/existing", fresh]
    before = snapshot(sm, watched)
    expect_error(getattr(sm, operation), code, message, **args)
    assert snapshot(sm, watched) == before
    assert value(sm, fresh) == "v2" and value(sm, fresh, VersionStage="AWSPREVIOUS") == "v1"
    if operation == "create_secret" and args["Name"] != "bad/existing":
        assert code_of(sm.describe_secret, SecretId=args["Name"]) in ("ResourceNotFoundException", "ValidationException"), \
            "nothing was created"


def test_values_of_refused_calls_are_not_echoed(shared):
    """A value that fails validation never comes back in the error (AWS leaves sensitive values out)."""
    server, _ = shared
    sm = client(server, validate=False)
    marker = "refused-" + uuid.uuid4().hex
    for call, kwargs in [
        (sm.create_secret, dict(Name="bad/echo", SecretString=marker + "L" * 65_537)),
        (sm.create_secret, dict(Name="bad/echo", SecretString=marker, SecretBinary=b"b")),
        (sm.put_secret_value, dict(SecretId="bad/existing", SecretString=marker + "L" * 65_537)),
    ]:
        code, message = error_of(call, **kwargs)
        assert code in ("ValidationException", "InvalidParameterException") and marker not in message


# ---------------------------------------------------------------------------------------------------------
# 8. KMS: customer managed keys, the default key, and kms:Decrypt on the caller


def test_customer_managed_key_and_changing_it(dev_server):
    sm, kms = client(dev_server), client(dev_server, "kms")
    first = kms.create_key(Description="first")["KeyMetadata"]
    second = kms.create_key(Description="second")["KeyMetadata"]
    kms.create_alias(AliasName="alias/secrets-second", TargetKeyId=second["KeyId"])

    arn = sm.create_secret(Name="kms/db", SecretString="under-first", KmsKeyId=first["KeyId"])["ARN"]
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] in (first["KeyId"], first["Arn"])
    sm.put_secret_value(SecretId=arn, SecretString="under-first-2")
    assert value(sm, arn) == "under-first-2" and value(sm, arn, VersionStage="AWSPREVIOUS") == "under-first"
    listed_versions = sm.list_secret_version_ids(SecretId=arn)["Versions"]
    assert all(v.get("KmsKeyIds") for v in listed_versions), "each version names the key that protects it"

    sm.update_secret(SecretId=arn, KmsKeyId="alias/secrets-second")
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] in ("alias/secrets-second", second["KeyId"], second["Arn"],
                                                            f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/secrets-second")
    assert value(sm, arn) == "under-first-2", "changing the key keeps the value readable"
    kms.disable_key(KeyId=first["KeyId"])
    assert value(sm, arn) == "under-first-2" and value(sm, arn, VersionStage="AWSPREVIOUS") == "under-first", \
        "AWSCURRENT and AWSPREVIOUS were re-encrypted under the new key"
    sm.put_secret_value(SecretId=arn, SecretString="under-second")
    assert value(sm, arn) == "under-second"

    kms.disable_key(KeyId=second["KeyId"])
    before = snapshot(sm)
    expect_error(sm.get_secret_value, UNREADABLE_KEY_CODES, None, SecretId=arn)
    expect_error(sm.put_secret_value, UNUSABLE_KEY_CODES, None, SecretId=arn, SecretString="refused")
    expect_error(sm.create_secret, UNUSABLE_KEY_CODES, None, Name="kms/other", SecretString="x", KmsKeyId=second["Arn"])
    assert snapshot(sm) == before, "nothing is written under a disabled key"
    kms.enable_key(KeyId=second["KeyId"])
    assert value(sm, arn) == "under-second"


def test_default_key_is_created_on_first_use(dev_server):
    sm, kms = client(dev_server), client(dev_server, "kms")
    assert code_of(kms.describe_key, KeyId=DEFAULT_KEY) == "NotFoundException", "no default key before the first secret"
    sm.create_secret(Name="default/one", SecretString="x")
    meta = kms.describe_key(KeyId=DEFAULT_KEY)["KeyMetadata"]
    assert (meta["KeyManager"], meta["KeyState"], meta["Enabled"]) == ("AWS", "Enabled", True)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[DEFAULT_KEY] == meta["KeyId"]
    assert "KmsKeyId" not in sm.describe_secret(SecretId="default/one"), "DescribeSecret omits the default key"
    sm.create_secret(Name="default/two", SecretString="y")
    assert kms.describe_key(KeyId=DEFAULT_KEY)["KeyMetadata"]["KeyId"] == meta["KeyId"], "one default key per account and Region"
    assert value(sm, "default/one") == "x" and value(sm, "default/two") == "y"


def test_reading_needs_kms_decrypt_on_the_customer_key(dev_server):
    sm, kms, iam = client(dev_server), client(dev_server, "kms"), client(dev_server, "iam")
    key = kms.create_key()["KeyMetadata"]
    arn = sm.create_secret(Name="team/cmk", SecretString="needs-the-key", KmsKeyId=key["Arn"])["ARN"]
    default_arn = sm.create_secret(Name="team/default", SecretString="default-key-is-shared")["ARN"]
    reader = client(dev_server, creds=new_user(dev_server, "reader", policy(
        allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], [arn, default_arn]))))
    expect_error(reader.get_secret_value, "AccessDeniedException", KMS_NOT_ALLOWED, SecretId=arn)
    assert value(reader, default_arn) == "default-key-is-shared", "every principal of the account may use aws/secretsmanager"

    iam.put_user_policy(UserName="reader", PolicyName="decrypt", PolicyDocument=policy(allow("kms:Decrypt", key["Arn"])))
    assert value(reader, arn) == "needs-the-key"

    key_only = client(dev_server, creds=new_user(dev_server, "key-only", policy(allow("kms:Decrypt", key["Arn"]))))
    code, message = error_of(key_only.get_secret_value, SecretId=arn)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/key-only is not authorized to perform: "
                              f"secretsmanager:GetSecretValue on resource: ")
    iam.put_user_policy(UserName="reader", PolicyName="no-default", PolicyDocument=policy(
        deny("kms:Decrypt", kms.describe_key(KeyId=DEFAULT_KEY)["KeyMetadata"]["Arn"])))
    expect_error(reader.get_secret_value, "AccessDeniedException", KMS_NOT_ALLOWED, SecretId=default_arn)


# ---------------------------------------------------------------------------------------------------------
# 9. Rotation through the registered functions: built-in, PostgreSQL, webhook and command


class Rotating:
    """A dev server whose config registers every rotation function, with the webhook rotator and the command log."""

    def __init__(self, server, hook, log):
        self.server, self.hook, self.log = server, hook, log

    def sm(self):
        return client(self.server)

    def command_records(self, arn):
        return [r for r in sm_rotators.read_log(self.log) if r["event"].get("SecretId") == arn]


@pytest.fixture
def rotating(keyhaven_factory, tmp_path):
    hook = sm_rotators.RotationWebhook(HOOK_SECRET)
    try:
        log = tmp_path / "command-rotator.jsonl"
        config = write_config(tmp_path / "keyhaven.toml", hook=hook, log=log)
        server = keyhaven_factory("--dev", "--config", str(config))
        hook.server = server
        yield Rotating(server, hook, log)
    finally:
        hook.close()


@pytest.fixture
def pg():
    from pg_cluster import PgCluster

    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def described_when(sm, secret_id, predicate, what, timeout=60.0):
    """DescribeSecret, polled until its answer satisfies `predicate` (at most `timeout` s)."""
    def check():
        meta = sm.describe_secret(SecretId=secret_id)
        return meta if predicate(meta) else None
    return poll(check, timeout, what)


def wait_rotated(sm, secret_id, token, timeout=60.0):
    """Waits until rotation finished: the new version alone holds AWSCURRENT (AWSPENDING removed) and LastRotatedDate is set."""
    return described_when(sm, secret_id, lambda m: m.get("VersionIdsToStages", {}).get(token) == ["AWSCURRENT"]
                          and "LastRotatedDate" in m, f"rotation of {secret_id} to version {token}", timeout)


def wait_current_moves(sm, secret_id, old_version, after=0, timeout=60.0):
    """Waits until AWSCURRENT is on another version than `old_version`, alone, and LastRotatedDate is later than `after`."""
    def moved(meta):
        current = [v for v, s in meta.get("VersionIdsToStages", {}).items() if s == ["AWSCURRENT"]]
        return current and current != [old_version] and meta.get("LastRotatedDate") and meta["LastRotatedDate"].timestamp() > after
    return described_when(sm, secret_id, moved, f"AWSCURRENT of {secret_id} moving off {old_version}", timeout)


def make_rotator_role(server, document=None):
    iam = client(server, "iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="rotator", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="rotator", PolicyName="rotate", PolicyDocument=document or policy(allow("secretsmanager:*")))


def without_password(secret):
    return {k: v for k, v in secret.items() if k != "password"}


def test_builtin_random_password_rotation(rotating):
    server, sm = rotating.server, rotating.sm()
    original = {"engine": "mysql", "host": "db.internal", "port": 3306, "username": "app", "password": "old-password-1"}
    arn = sm.create_secret(Name="rotate/json", SecretString=json.dumps(original))["ARN"]
    old_version = current_version(sm, arn)
    started = now(server)
    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 30})
    assert set(body(out)) == {"ARN", "Name", "VersionId"} and (out["ARN"], out["Name"]) == (arn, "rotate/json")
    token = out["VersionId"]
    assert token != old_version

    meta = wait_rotated(sm, arn, token)
    rotated = json.loads(value(sm, arn))
    assert rotated["password"] != original["password"] and rotated["password"]
    assert without_password(rotated) == without_password(original), "only the password changes"
    assert json.loads(value(sm, arn, VersionStage="AWSPREVIOUS")) == original
    assert staged(sm, arn) == {token: {"AWSCURRENT"}, old_version: {"AWSPREVIOUS"}}, "no AWSPENDING is left behind"
    assert (meta["RotationEnabled"], meta["RotationLambdaARN"], meta["RotationRules"]["AutomaticallyAfterDays"]) == (
        True, RANDOM_FN, 30)
    assert started - 5 <= meta["LastRotatedDate"].timestamp() <= now(server) + 5
    assert started + 29 * DAY <= meta["NextRotationDate"].timestamp() <= now(server) + 31 * DAY

    chosen = str(uuid.uuid4())
    again = sm.rotate_secret(SecretId=arn, ClientRequestToken=chosen)
    assert again["VersionId"] == chosen, "RotateSecret without a function ARN uses the configured one; the token is the version"
    wait_rotated(sm, arn, chosen)
    assert json.loads(value(sm, arn, VersionStage="AWSPREVIOUS")) == rotated
    assert json.loads(value(sm, arn))["password"] not in (rotated["password"], original["password"])

    plain = sm.create_secret(Name="rotate/plain", SecretString="plain-old-string")["ARN"]
    plain_token = sm.rotate_secret(SecretId=plain, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    wait_rotated(sm, plain, plain_token)
    fresh = value(sm, plain)
    assert fresh != "plain-old-string" and fresh and set(fresh) <= EVERYTHING | {" "}, "a plain string is replaced whole"


def test_postgresql_single_user_rotation(rotating, pg):
    sm = rotating.sm()
    pg.admin_sql("CREATE ROLE app LOGIN PASSWORD 'p1'")
    assert pg.login_ok("app", "p1")
    original = {"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "app", "password": "p1", "dbname": "postgres"}
    arn = sm.create_secret(Name="rotate/postgres", SecretString=json.dumps(original))["ARN"]
    old_version = current_version(sm, arn)
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=PG_FN, RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    wait_rotated(sm, arn, token)
    rotated = json.loads(value(sm, arn))
    assert rotated["password"] != "p1" and without_password(rotated) == without_password(original)
    assert not pg.login_ok("app", "p1"), "the old password no longer logs in"
    assert pg.login_ok("app", rotated["password"]), "the new one does"
    assert json.loads(value(sm, arn, VersionStage="AWSPREVIOUS")) == original
    assert staged(sm, arn) == {token: {"AWSCURRENT"}, old_version: {"AWSPREVIOUS"}}


def test_webhook_rotation_runs_the_four_signed_steps(rotating):
    sm, hook = rotating.sm(), rotating.hook
    original = {"username": "svc", "password": "webhook-old"}
    arn = sm.create_secret(Name="rotate/webhook", SecretString=json.dumps(original))["ARN"]
    old_version = current_version(sm, arn)
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=HOOK_FN, RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
    meta = wait_rotated(sm, arn, token)

    steps = hook.steps_of(arn)
    assert [s["event"]["Step"] for s in steps] == sm_rotators.STEPS, "one POST per step, in order"
    assert all(s["status"] == 200 and s["path"] == "/rotate" for s in steps)
    for step in steps:
        assert set(step["event"]) == {"Step", "SecretId", "ClientRequestToken", "RotationToken"}
        assert (step["event"]["SecretId"], step["event"]["ClientRequestToken"]) == (arn, token)
    assert re.fullmatch(r"[a-zA-Z0-9\-]{36,256}", steps[0]["event"]["RotationToken"])
    assert steps[0]["seen"]["pending_before_create"] == "ResourceNotFoundException", \
        "before createSecret the token is an AWSPENDING version with no value"
    assert hook.rejected == [], "every step was signed with the configured secret"

    rotated = json.loads(value(sm, arn))
    assert rotated["username"] == "svc" and rotated["password"] != "webhook-old"
    assert json.loads(value(sm, arn, VersionStage="AWSPREVIOUS")) == original
    assert staged(sm, arn) == {token: {"AWSCURRENT"}, old_version: {"AWSPREVIOUS"}}
    assert meta["RotationLambdaARN"] == HOOK_FN and meta["RotationEnabled"] is True

    unsigned = urllib.request.Request(f"{hook.base_url}/rotate", data=json.dumps(steps[0]["event"]).encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned)
    assert refused.value.code == 401 and len(hook.rejected) == 1, "the receiver does check signatures"


def test_command_rotation_runs_with_the_role_credentials(rotating):
    server, sm = rotating.server, rotating.sm()
    make_rotator_role(server)
    original = {"username": "batch", "password": "command-old"}
    arn = sm.create_secret(Name="rotate/command", SecretString=json.dumps(original))["ARN"]
    old_version = current_version(sm, arn)
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=CMD_FN, RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
    wait_rotated(sm, arn, token)

    records = poll(lambda: rotating.command_records(arn) if len(rotating.command_records(arn)) >= 4 else None,
                   what="four command runs")
    assert [r["event"]["Step"] for r in records] == sm_rotators.STEPS
    for record in records:
        assert record["exit"] == 0, record.get("error")
        assert record["event"]["ClientRequestToken"] == token and record["event"]["SecretId"] == arn
        assert record["caller"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/rotator/"), "the command runs as the role"
        assert record["access_key_prefix"] == "ASIA" and record["has_session_token"], "with temporary credentials"
        assert record["env"]["AWS_ENDPOINT_URL"].rstrip("/") == server.endpoint.rstrip("/")
        assert record["env"]["AWS_REGION"] == REGION
    assert records[0]["seen"]["pending_before_create"] == "ResourceNotFoundException"
    rotated = json.loads(value(sm, arn))
    assert rotated["username"] == "batch" and rotated["password"] != "command-old"
    assert staged(sm, arn) == {token: {"AWSCURRENT"}, old_version: {"AWSPREVIOUS"}}

    client(server, "iam").put_role_policy(RoleName="rotator", PolicyName="rotate",
                                          PolicyDocument=policy(allow("secretsmanager:DescribeSecret")))
    denied_token = sm.rotate_secret(SecretId=arn)["VersionId"]
    failed = poll(lambda: next((r for r in rotating.command_records(arn)
                                if r["event"]["ClientRequestToken"] == denied_token and r["exit"] == 1), None),
                  what="the command failing without permission")
    assert failed["event"]["Step"] == "createSecret" and "AccessDenied" in failed["error"], "only the role's permissions apply"
    assert current_version(sm, arn) == token and json.loads(value(sm, arn)) == rotated


@pytest.mark.parametrize("function", [HOOK_FAIL_FN, CMD_FAIL_FN], ids=["webhook-answers-500", "command-exits-1"])
def test_failed_rotation_keeps_awscurrent(rotating, function):
    server, sm, hook = rotating.server, rotating.sm(), rotating.hook
    by_hook = function == HOOK_FAIL_FN
    if not by_hook:
        make_rotator_role(server)
    original = {"username": "u", "password": "stays"}
    arn = sm.create_secret(Name="rotate/failing", SecretString=json.dumps(original))["ARN"]
    old_version = current_version(sm, arn)
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=function, RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]

    def failed_test_step():
        steps = hook.steps_of(arn) if by_hook else rotating.command_records(arn)
        return [s for s in steps if s["event"]["Step"] == "testSecret" and s.get("status", 500) == 500 and s.get("exit", 1) == 1]
    poll(failed_test_step, what="the testSecret step failing")

    # Settle: a rotation through the working twin of the same kind of function runs to the end.
    marker = sm.create_secret(Name="rotate/marker", SecretString=json.dumps({"password": "m"}))["ARN"]
    marker_token = sm.rotate_secret(SecretId=marker, RotationLambdaARN=HOOK_FN if by_hook else CMD_FN,
                                    RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
    wait_rotated(sm, marker, marker_token)

    steps = hook.steps_of(arn) if by_hook else rotating.command_records(arn)
    assert "finishSecret" not in [s["event"]["Step"] for s in steps], "a failed step stops the rotation"
    assert staged(sm, arn) == {old_version: {"AWSCURRENT"}, token: {"AWSPENDING"}}
    assert json.loads(value(sm, arn)) == original, "AWSCURRENT and its value are intact"
    pending = json.loads(value(sm, arn, VersionId=token, VersionStage="AWSPENDING"))
    assert pending["password"] != "stays", "the new value waits on AWSPENDING"
    meta = sm.describe_secret(SecretId=arn)
    assert "LastRotatedDate" not in meta and meta["RotationEnabled"] is True


def test_rotation_rules_and_dates(rotating):
    server, sm = rotating.server, rotating.sm()
    start = now(server)
    days = sm.create_secret(Name="rules/days", SecretString="d")["ARN"]
    token = sm.rotate_secret(SecretId=days, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 10})["VersionId"]
    meta = wait_rotated(sm, days, token)
    assert (meta["RotationEnabled"], meta["RotationLambdaARN"], meta["RotationRules"]["AutomaticallyAfterDays"]) == (
        True, RANDOM_FN, 10)
    assert start - 5 <= meta["LastRotatedDate"].timestamp() <= now(server) + 5
    assert start + 9 * DAY <= meta["NextRotationDate"].timestamp() <= now(server) + 11 * DAY

    rules = {
        "rules/rate": {"ScheduleExpression": "rate(10 days)", "Duration": "3h"},
        "rules/cron": {"ScheduleExpression": "cron(0 16 1,15 * ? *)", "Duration": "2h"},
        "rules/hours": {"ScheduleExpression": "rate(12 hours)"},
    }
    before = {}
    for name, rule in rules.items():
        arn = sm.create_secret(Name=name, SecretString=f"not rotated yet: {name}")["ARN"]
        before[name] = current_version(sm, arn)
        out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM_FN, RotationRules=rule, RotateImmediately=False)
        assert out["ARN"] == arn
    marker = sm.create_secret(Name="rules/marker", SecretString="m")["ARN"]
    wait_rotated(sm, marker, sm.rotate_secret(SecretId=marker, RotationLambdaARN=RANDOM_FN,
                                              RotationRules={"AutomaticallyAfterDays": 1})["VersionId"])

    moment = now(server)
    for name, rule in rules.items():
        meta = sm.describe_secret(SecretId=name)
        assert meta["RotationEnabled"] is True and meta["RotationLambdaARN"] == RANDOM_FN
        assert {k: meta["RotationRules"].get(k) for k in rule} == rule
        assert "LastRotatedDate" not in meta, "RotateImmediately=False does not rotate now"
        assert current_version(sm, name) == before[name] and value(sm, name) == f"not rotated yet: {name}"
        assert moment < meta["NextRotationDate"].timestamp()
    assert sm.describe_secret(SecretId="rules/rate")["NextRotationDate"].timestamp() <= moment + 11 * DAY
    assert sm.describe_secret(SecretId="rules/hours")["NextRotationDate"].timestamp() <= moment + 13 * HOUR
    cron_next = sm.describe_secret(SecretId="rules/cron")["NextRotationDate"].astimezone(timezone.utc)
    assert cron_next.day in (1, 15) and 16 <= cron_next.hour <= 18, f"within the cron window, not {cron_next}"
    assert cron_next.timestamp() <= moment + 17 * DAY


def test_scheduled_rotation_runs_when_due_also_after_a_restart(rotating):
    server, sm = rotating.server, rotating.sm()
    arn = sm.create_secret(Name="scheduled/db", SecretString=json.dumps({"username": "s", "password": "initial"}))["ARN"]
    first = current_version(sm, arn)
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 7}, RotateImmediately=False)
    due = sm.describe_secret(SecretId=arn)["NextRotationDate"].timestamp()
    assert current_version(sm, arn) == first

    advance_to(server, due + HOUR)
    meta = wait_current_moves(sm, arn, first)
    second = current_version(sm, arn)
    assert json.loads(value(sm, arn, VersionStage="AWSPREVIOUS"))["password"] == "initial"
    assert json.loads(value(sm, arn))["password"] != "initial"
    rotated_at = meta["LastRotatedDate"].timestamp()
    assert abs(rotated_at - now(server)) < 2 * HOUR
    due_again = described_when(sm, arn, lambda m: m.get("NextRotationDate") and m["NextRotationDate"].timestamp() > due + 5 * DAY,
                               "the next rotation date moving a period on")["NextRotationDate"].timestamp()

    server.stop()
    server.start()
    sm = rotating.sm()
    assert current_version(sm, arn) == second, "a restart alone rotates nothing"
    advance_to(server, due_again + HOUR)
    wait_current_moves(sm, arn, second, after=rotated_at)
    assert current_version(sm, arn) not in (first, second)
    assert value(sm, arn, VersionId=second) == value(sm, arn, VersionStage="AWSPREVIOUS")


def test_cancel_rotate_secret_turns_rotation_off(rotating):
    server, sm = rotating.server, rotating.sm()
    cancelled = sm.create_secret(Name="cancel/me", SecretString="unchanged")["ARN"]
    marker = sm.create_secret(Name="cancel/marker", SecretString="changes")["ARN"]
    # The marker falls due a day after the cancelled secret would have: had the cancelled rotation been kept, it would
    # have run first.
    for arn, days in ((cancelled, 7), (marker, 8)):
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": days},
                         RotateImmediately=False)
    kept, marker_version = current_version(sm, cancelled), current_version(sm, marker)

    out = sm.cancel_rotate_secret(SecretId="cancel/me")
    assert (out["ARN"], out["Name"]) == (cancelled, "cancel/me")
    meta = sm.describe_secret(SecretId=cancelled)
    assert meta.get("RotationEnabled") is False and "NextRotationDate" not in meta

    due = sm.describe_secret(SecretId=marker)["NextRotationDate"].timestamp()
    advance_to(server, due + HOUR)
    wait_current_moves(sm, marker, marker_version)
    assert current_version(sm, cancelled) == kept and value(sm, cancelled) == "unchanged", "a cancelled rotation never runs"

    token = sm.rotate_secret(SecretId=cancelled)["VersionId"]
    meta = wait_rotated(sm, cancelled, token)
    assert meta["RotationEnabled"] is True, "RotateSecret turns it back on with the function it had"
    assert value(sm, cancelled) != "unchanged"


# ---------------------------------------------------------------------------------------------------------
# 10. Replication to other Regions, and promotion


def replica_arn(arn, region):
    return arn.replace(f":secretsmanager:{REGION}:", f":secretsmanager:{region}:")


def in_sync(sm, secret_id, regions):
    def check():
        statuses = {s["Region"]: s["Status"] for s in sm.describe_secret(SecretId=secret_id).get("ReplicationStatus", [])}
        return statuses if statuses == {r: "InSync" for r in regions} else None
    return poll(check, what=f"replication of {secret_id} to {regions}")


def test_replica_follows_the_primary_and_refuses_writes(dev_server):
    east, west = client(dev_server), client(dev_server, region=REPLICA)
    created = east.create_secret(Name="repl/db", SecretString="v1", Description="replicated",
                                 AddReplicaRegions=[{"Region": REPLICA}])
    arn = created["ARN"]
    assert [s["Region"] for s in created["ReplicationStatus"]] == [REPLICA]
    assert created["ReplicationStatus"][0]["Status"] in ("InSync", "InProgress")
    in_sync(east, arn, [REPLICA])
    copy = replica_arn(arn, REPLICA)
    assert ARN_RE.fullmatch(copy)["suffix"] == ARN_RE.fullmatch(arn)["suffix"], "the replica keeps the primary's suffix"

    for secret_id in ("repl/db", copy, copy[:-7]):
        got = west.get_secret_value(SecretId=secret_id)
        assert (got["ARN"], got["Name"], got["SecretString"], got["VersionStages"]) == (copy, "repl/db", "v1", ["AWSCURRENT"])
    replica_meta = west.describe_secret(SecretId="repl/db")
    assert replica_meta["ARN"] == copy and replica_meta["PrimaryRegion"] == REGION
    assert replica_meta["Description"] == "replicated"
    assert "repl/db" in names(west)
    # The primary's own ARN names a secret in us-east-1, not this Region's copy.
    expect_error(west.get_secret_value, "ResourceNotFoundException", NOT_FOUND, SecretId=arn)

    put = east.put_secret_value(SecretId=arn, SecretString="v2")
    poll(lambda: value(west, "repl/db") == "v2", what="the new value reaching the replica")
    replica_value = west.get_secret_value(SecretId="repl/db")
    assert replica_value["VersionId"] == put["VersionId"], "the replica has the primary's versions"
    assert value(west, "repl/db", VersionStage="AWSPREVIOUS") == "v1"

    before = snapshot(west)
    for call, kwargs in [
        (west.put_secret_value, dict(SecretId="repl/db", SecretString="written-in-the-replica")),
        (west.update_secret, dict(SecretId="repl/db", Description="changed in the replica")),
        (west.tag_resource, dict(SecretId="repl/db", Tags=[{"Key": "k", "Value": "v"}])),
        (west.put_resource_policy, dict(SecretId="repl/db", ResourcePolicy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "secretsmanager:*", "Resource": "*"}))),
        (west.delete_secret, dict(SecretId="repl/db", ForceDeleteWithoutRecovery=True)),
    ]:
        expect_error(call, "InvalidParameterException", REPLICA_WRITE, **kwargs)
    assert snapshot(west) == before and value(west, "repl/db") == "v2"
    expect_error(east.delete_secret, "InvalidParameterException",
                 f"You can't delete secret {arn} that still has replica regions [{REPLICA}].", SecretId=arn)
    assert value(east, arn) == "v2"

    stopped = west.stop_replication_to_replica(SecretId="repl/db")
    assert stopped["ARN"] == copy
    promoted = west.describe_secret(SecretId="repl/db")
    assert "PrimaryRegion" not in promoted and "ReplicationStatus" not in promoted, "the replica is a standalone secret now"
    assert [s["Region"] for s in east.describe_secret(SecretId=arn).get("ReplicationStatus", [])] == [], \
        "the primary no longer lists it"
    west.put_secret_value(SecretId="repl/db", SecretString="v3-west")
    assert value(west, "repl/db") == "v3-west" and value(east, arn) == "v2"
    east.put_secret_value(SecretId=arn, SecretString="v3-east")
    assert value(west, "repl/db") == "v3-west", "no link any more"
    east.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    assert value(west, "repl/db") == "v3-west"


def test_replicate_to_regions_and_remove_them(dev_server):
    east = client(dev_server)
    arn = east.create_secret(Name="repl/later", SecretString="later")["ARN"]
    assert "ReplicationStatus" not in east.describe_secret(SecretId=arn)
    out = east.replicate_secret_to_regions(SecretId="repl/later",
                                           AddReplicaRegions=[{"Region": "eu-central-1"}, {"Region": "ap-southeast-2"}])
    assert out["ARN"] == arn and {s["Region"] for s in out["ReplicationStatus"]} == {"eu-central-1", "ap-southeast-2"}
    in_sync(east, arn, ["eu-central-1", "ap-southeast-2"])
    frankfurt, sydney = client(dev_server, region="eu-central-1"), client(dev_server, region="ap-southeast-2")
    assert value(frankfurt, "repl/later") == "later" and value(sydney, replica_arn(arn, "ap-southeast-2")) == "later"
    assert frankfurt.describe_secret(SecretId="repl/later")["PrimaryRegion"] == REGION
    expect_error(frankfurt.replicate_secret_to_regions, "InvalidParameterException", REPLICA_WRITE,
                 SecretId="repl/later", AddReplicaRegions=[{"Region": "us-west-2"}])

    removed = east.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=["eu-central-1"])
    assert removed["ARN"] == arn and [s["Region"] for s in removed["ReplicationStatus"]] == ["ap-southeast-2"]
    poll(lambda: code_of(frankfurt.describe_secret, SecretId="repl/later") == "ResourceNotFoundException",
         what="the removed replica disappearing")
    assert "repl/later" not in names(frankfurt, IncludePlannedDeletion=True)
    assert value(sydney, "repl/later") == "later"
    east.put_secret_value(SecretId=arn, SecretString="still replicated")
    poll(lambda: value(sydney, "repl/later") == "still replicated", what="the remaining replica following")
    assert [s["Region"] for s in east.describe_secret(SecretId=arn)["ReplicationStatus"]] == ["ap-southeast-2"]


# ---------------------------------------------------------------------------------------------------------
# 11. Resource policies, and reading from another account


def test_resource_policy_put_get_validate_delete(dev_server):
    sm = client(dev_server)
    arn = sm.create_secret(Name="policy/db", SecretString="x")["ARN"]
    assert body(sm.get_resource_policy(SecretId=arn)) == {"ARN": arn, "Name": "policy/db"}, "no policy yet"
    grant = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                    "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    validated = sm.validate_resource_policy(SecretId=arn, ResourcePolicy=grant)
    assert (validated["PolicyValidationPassed"], validated["ValidationErrors"]) == (True, [])
    assert body(sm.put_resource_policy(SecretId=arn, ResourcePolicy=grant, BlockPublicPolicy=True)) == {"ARN": arn, "Name": "policy/db"}
    got = sm.get_resource_policy(SecretId="policy/db")
    assert (got["ARN"], got["Name"]) == (arn, "policy/db") and json.loads(got["ResourcePolicy"]) == json.loads(grant)

    expect_error(sm.put_resource_policy, "PublicPolicyException", PUBLIC_POLICY, SecretId=arn, ResourcePolicy=PUBLIC_DOC,
                 BlockPublicPolicy=True)
    expect_error(sm.put_resource_policy, "MalformedPolicyDocumentException", POLICY_SYNTAX, SecretId=arn, ResourcePolicy="{not json")
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == json.loads(grant), "refused policies change nothing"
    broad = sm.validate_resource_policy(SecretId=arn, ResourcePolicy=PUBLIC_DOC)
    assert broad["PolicyValidationPassed"] is False and broad["ValidationErrors"], "validation flags broad access"
    assert all(e.get("CheckName") and e.get("ErrorMessage") for e in broad["ValidationErrors"])

    sm.put_resource_policy(SecretId=arn, ResourcePolicy=PUBLIC_DOC)
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == json.loads(PUBLIC_DOC), \
        "public policies are not blocked unless asked"
    assert body(sm.delete_resource_policy(SecretId=arn)) == {"ARN": arn, "Name": "policy/db"}
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    expect_error(sm.get_resource_policy, "ResourceNotFoundException", NOT_FOUND, SecretId="policy/absent")


def test_other_account_reads_with_resource_policy_and_key_policy(dev_server):
    sm, kms = client(dev_server), client(dev_server, "kms")
    other = client(dev_server, creds=(OTHER_ACCOUNT, "x"))
    shared_key = kms.create_key(Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
         "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
    ))["KeyMetadata"]["Arn"]
    private_key = kms.create_key()["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="shared/db", SecretString="cross-account-value", KmsKeyId=shared_key)["ARN"]
    private = sm.create_secret(Name="shared/private-key", SecretString="key-not-shared", KmsKeyId=private_key)["ARN"]
    default = sm.create_secret(Name="shared/default-key", SecretString="default-key-value")["ARN"]

    code, message = error_of(other.get_secret_value, SecretId=arn)
    assert code == "AccessDeniedException", "without a resource policy the other account is refused"
    assert message.startswith(f"User: arn:aws:iam::{OTHER_ACCOUNT}:root is not authorized to perform: "
                              f"secretsmanager:GetSecretValue on resource: {arn}")
    grant = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                    "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    for secret in (arn, private, default):
        sm.put_resource_policy(SecretId=secret, ResourcePolicy=grant, BlockPublicPolicy=True)

    got = other.get_secret_value(SecretId=arn)
    assert (got["SecretString"], got["ARN"]) == ("cross-account-value", arn), "the resource policy and key policy allow it"
    expect_error(other.get_secret_value, "AccessDeniedException", KMS_NOT_ALLOWED, SecretId=private)
    expect_error(other.get_secret_value, "InvalidRequestException", OTHER_ACCOUNT_DEFAULT_KEY, SecretId=default)
    expect_error(other.put_secret_value, "AccessDeniedException", None, SecretId=arn, SecretString="from outside")
    assert value(sm, arn) == "cross-account-value"

    sm.delete_resource_policy(SecretId=arn)
    expect_error(other.get_secret_value, "AccessDeniedException", None, SecretId=arn)


# ---------------------------------------------------------------------------------------------------------
# 12. Parameter Store's /aws/reference/secretsmanager/ path


REFERENCE = "/aws/reference/secretsmanager/"


def test_ssm_reference_to_a_secret(dev_server):
    sm, ssm = client(dev_server), client(dev_server, "ssm")
    old, new = '{"user":"app","password":"ref-v1"}', '{"user":"app","password":"ref-v2"}'
    arn = sm.create_secret(Name="ref/db", SecretString=old)["ARN"]
    first_version = current_version(sm, arn)
    current = sm.put_secret_value(SecretId="ref/db", SecretString=new)["VersionId"]

    parameter = ssm.get_parameter(Name=REFERENCE + "ref/db", WithDecryption=True)["Parameter"]
    assert (parameter["Name"], parameter["Type"], parameter["Value"], parameter["ARN"]) == (REFERENCE + "ref/db", "SecureString", new, arn)
    assert isinstance(parameter["LastModifiedDate"], datetime)
    source = json.loads(parameter["SourceResult"])
    assert (source["ARN"], source["name"], source["versionId"], source["secretString"], source["versionStages"]) == (
        arn, "ref/db", current, new, ["AWSCURRENT"])
    assert "createdDate" in source and "Name" not in source, "member names as AWS writes them"

    previous = ssm.get_parameter(Name=REFERENCE + "ref/db:AWSPREVIOUS", WithDecryption=True)["Parameter"]
    assert (previous["Name"], previous["Value"], previous["Selector"]) == (REFERENCE + "ref/db", old, ":AWSPREVIOUS")
    by_id = ssm.get_parameter(Name=f"{REFERENCE}ref/db:{first_version}", WithDecryption=True)["Parameter"]
    assert by_id["Value"] == old and json.loads(by_id["SourceResult"])["versionId"] == first_version

    expect_error(ssm.get_parameter, "ValidationException", WITH_DECRYPTION, Name=REFERENCE + "ref/db", WithDecryption=False)
    expect_error(ssm.get_parameter, "ValidationException", WITH_DECRYPTION, Name=REFERENCE + "ref/db")
    expect_error(ssm.get_parameter, "ParameterNotFound", "An error occurred (ParameterNotFound) when referencing Secrets "
                 "Manager: Secret aws/reference/secretsmanager/ref/absentnull not found.", Name=REFERENCE + "ref/absent",
                 WithDecryption=True)
    expect_error(ssm.get_parameter, "ParameterNotFound", "An error occurred (ParameterNotFound) when referencing Secrets "
                 "Manager: Secret aws/reference/secretsmanager/ref/db:NOSUCHSTAGE not found.",
                 Name=REFERENCE + "ref/db:NOSUCHSTAGE", WithDecryption=True)

    other = sm.create_secret(Name="ref/other", SecretString="other-value")["ARN"]
    many = ssm.get_parameters(Names=[REFERENCE + "ref/db", REFERENCE + "ref/other"], WithDecryption=True)
    assert sorted((p["Name"], p["Value"], p["ARN"], p["Type"]) for p in many["Parameters"]) == [
        (REFERENCE + "ref/db", new, arn, "SecureString"), (REFERENCE + "ref/other", "other-value", other, "SecureString")]
    assert many.get("InvalidParameters", []) == []

    allowed = client(dev_server, "ssm", creds=new_user(dev_server, "ref-reader", policy(
        allow("ssm:GetParameter*"), allow("secretsmanager:GetSecretValue", arn))))
    assert allowed.get_parameter(Name=REFERENCE + "ref/db", WithDecryption=True)["Parameter"]["Value"] == new
    ssm_only = client(dev_server, "ssm", creds=new_user(dev_server, "ssm-only", policy(allow("ssm:GetParameter*"))))
    expect_error(ssm_only.get_parameter, "AccessDeniedException", None, Name=REFERENCE + "ref/db", WithDecryption=True)


# ---------------------------------------------------------------------------------------------------------
# 13. Secret values never reach the data directory, the logs or the audit records


def forms(secret):
    raw = secret if isinstance(secret, bytes) else secret.encode()
    return {raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()}


def test_secret_values_never_reach_disk_logs_or_audit(tmp_path, capfd):
    config = write_config(tmp_path / "keyhaven.toml")
    server = Keyhaven("--dev", "--config", str(config))
    server.env["KEYHAVEN_LOG"] = "debug"
    server.start()
    try:
        sm, ssm = client(server), client(server, "ssm")
        canaries = {}

        def canary(label):
            canaries[label] = f"canary-{label}-{uuid.uuid4()}"
            return canaries[label]

        sm.create_secret(Name="canary/main", SecretString=canary("create"))
        sm.put_secret_value(SecretId="canary/main", SecretString=canary("put"))
        sm.update_secret(SecretId="canary/main", SecretString=canary("update"))
        assert value(sm, "canary/main") == canaries["update"]
        assert value(sm, "canary/main", VersionStage="AWSPREVIOUS") == canaries["put"]
        binary = canary("binary").encode()
        sm.create_secret(Name="canary/binary", SecretBinary=binary)
        assert sm.get_secret_value(SecretId="canary/binary")["SecretBinary"] == binary
        sm.create_secret(Name="canary/batch", SecretString=canary("batch"))
        batch = sm.batch_get_secret_value(SecretIdList=["canary/batch", "canary/binary"])
        assert {v["Name"] for v in batch["SecretValues"]} == {"canary/batch", "canary/binary"}
        sm.create_secret(Name="canary/ssm", SecretString=canary("ssm"))
        assert ssm.get_parameter(Name=REFERENCE + "canary/ssm", WithDecryption=True)["Parameter"]["Value"] == canaries["ssm"]
        assert ssm.get_parameters(Names=[REFERENCE + "canary/ssm"], WithDecryption=True)["Parameters"][0]["Value"] == canaries["ssm"]

        rotated_arn = sm.create_secret(Name="canary/rotated", SecretString=json.dumps(
            {"username": "app", "password": canary("before-rotation")}))["ARN"]
        token = sm.rotate_secret(SecretId=rotated_arn, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
        wait_rotated(sm, rotated_arn, token)
        canaries["rotated"] = json.loads(value(sm, rotated_arn))["password"]
        assert len(canaries["rotated"]) >= 8, "long enough to be distinctive"
        canaries["random"] = password(sm, PasswordLength=48, ExcludePunctuation=True)

        refused = client(server, validate=False)
        error_of(refused.create_secret, Name="canary/refused", SecretString=canary("refused-both"), SecretBinary=b"x")
        error_of(refused.create_secret, Name="canary/refused", SecretString=canary("refused-long") + "L" * 65_537)
        for entry in listed(sm):
            sm.describe_secret(SecretId=entry["ARN"])
            sm.list_secret_version_ids(SecretId=entry["ARN"], IncludeDeprecated=True)
        process = server.process
        server.stop()
        stdout_rest = process.stdout.read()
        logs = capfd.readouterr()
        log_text = (stdout_rest + logs.out + logs.err).encode()

        patterns = {label: forms(v) for label, v in canaries.items()}
        patterns["binary"] |= forms(binary)
        records = audit_records(server)
        events = {r["eventName"] for r in records}
        assert {"CreateSecret", "PutSecretValue", "UpdateSecret", "GetSecretValue", "BatchGetSecretValue", "RotateSecret",
                "GetRandomPassword", "GetParameter"} <= events, "the calls were audited"
        audit_text = json.dumps(records).encode()
        tail = subprocess.run([BINARY, "events", "tail", "--data-dir", server.data_dir, "--from-start", "--no-follow"],
                              env=server.env,
                              capture_output=True, check=True)

        leaks = []
        for label, variants in patterns.items():
            for variant in variants:
                if variant in audit_text:
                    leaks.append((label, "audit records"))
                if variant in log_text:
                    leaks.append((label, "server logs"))
                if variant in tail.stdout:
                    leaks.append((label, "event log"))
        for directory, _, files in os.walk(server.data_dir):
            for file in files:
                with open(os.path.join(directory, file), "rb") as f:
                    content = f.read()
                leaks += [(label, file) for label, variants in patterns.items() if any(v in content for v in variants)]
        assert leaks == [], f"secret values found in: {sorted(set(leaks))}"
        assert log_text, "the server logged something (the check is not vacuous)"
    finally:
        server.cleanup()


def test_raw_callers_get_aws_s_error_bodies_and_must_send_request_tokens(dev_server):
    sm = client(dev_server)
    status, body = raw_json_call(dev_server, "secretsmanager", "secretsmanager.DescribeSecret", {"SecretId": "absent"})
    assert status == 400 and body["__type"] == "ResourceNotFoundException"
    assert "Message" in body and "message" not in body, "Secrets Manager writes Message with a capital M"
    token_text = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    cases = [
        ("CreateSecret", {"Name": "raw-secret", "SecretString": "x"}, "InvalidRequestException"),
        ("PutSecretValue", {"SecretId": "raw-secret", "SecretString": "x"}, "InvalidRequestException"),
        ("UpdateSecret", {"SecretId": "raw-secret", "SecretString": "x"}, "InvalidRequestException"),
        ("RotateSecret", {"SecretId": "raw-secret"}, "InvalidParameterException"),
    ]
    for operation, body, code in cases:
        status, answer = raw_json_call(dev_server, "secretsmanager", f"secretsmanager.{operation}", body)
        assert (status, answer) == (400, {"__type": code, "Message": token_text}), operation
    expect_error(sm.describe_secret, "ResourceNotFoundException", None, SecretId="raw-secret")
    # KMS keeps its lower-case member.
    status, body = raw_json_call(dev_server, "kms", "TrentService.DescribeKey", {"KeyId": "alias/absent"})
    assert status == 400 and "message" in body and "Message" not in body


def test_a_new_current_value_takes_pending_off_the_old_current_version(dev_server):
    sm = client(dev_server)
    v1 = sm.create_secret(Name="pending-cycle", SecretString="one")["VersionId"]
    v2 = sm.put_secret_value(SecretId="pending-cycle", SecretString="two", VersionStages=["AWSPENDING"])["VersionId"]
    sm.update_secret_version_stage(SecretId="pending-cycle", VersionStage="AWSCURRENT", MoveToVersionId=v2,
                                   RemoveFromVersionId=v1)
    assert sorted(stages(sm, "pending-cycle")[v2]) == ["AWSCURRENT", "AWSPENDING"]
    v3 = sm.put_secret_value(SecretId="pending-cycle", SecretString="three")["VersionId"]
    now = stages(sm, "pending-cycle")
    assert (now[v2], now[v3]) == (["AWSPREVIOUS"], ["AWSCURRENT"]), now
