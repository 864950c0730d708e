"""SSM Parameter Store through boto3 and the AWS CLI, as their users use them.

AWS is the specification: error codes come from the botocore model, the AWS documentation (API reference
and Systems Manager user guide) and errors reported from real AWS. Where the sources name no code for a
failure, the test accepts the small set of codes AWS could plausibly answer (see the `*_CODES` constants)
but still requires the call to fail and to change nothing.
"""

import base64
import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from client_helpers import as_user, aws, aws_json, error_of, new_user, pages, audit_records
from conftest import BINARY, Keyhaven
from policy_docs import allow, deny, policy

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
DEFAULT_KEY = "alias/aws/ssm"
TIER_SETTING = "/ssm/parameter-store/default-parameter-tier"
TIER_SETTING_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:servicesetting{TIER_SETTING}"
PAST = "2018-12-02T21:34:33.000Z"  # the user guide's own Expiration example
FAR_FUTURE = "2099-01-01T00:00:00.000Z"
DAY = 86_400
HOUR = 3_600

# Failures whose exact code no source pins down (the call must still fail and change nothing).
RESERVED_PATH_CODES = {"AccessDeniedException", "ValidationException"}
UNKNOWN_TYPE_CODES = {"UnsupportedParameterType", "ValidationException"}
MALFORMED_POLICIES_CODES = {"InvalidPolicyTypeException", "InvalidPolicyAttributeException", "ValidationException"}
PAST_EXPIRATION_CODES = {"InvalidPolicyAttributeException", "ValidationException"}
POLICY_ON_STANDARD_CODES = {"ValidationException", "InvalidPolicyTypeException", "IncompatiblePolicyException"}
UNKNOWN_LABEL_CODES = {"ParameterNotFound", "ParameterVersionNotFound"}


# ---------------------------------------------------------------------------------------------------------
# Helpers


def arn(name):
    return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"


def put(ssm, name, value, type="String", **kwargs):
    return ssm.put_parameter(Name=name, Value=value, Type=type, **kwargs)


def get(ssm, name, decrypt=True):
    return ssm.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]


def missing(ssm, name):
    return error_of(ssm.get_parameter, Name=name)[0] == "ParameterNotFound"


def describe_all(ssm, **kwargs):
    return pages(ssm.describe_parameters, "Parameters", 50, **kwargs)


def described(ssm, name):
    found = describe_all(ssm, ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])
    assert [p["Name"] for p in found] == [name]
    return found[0]


def by_path(ssm, path, **kwargs):
    return pages(ssm.get_parameters_by_path, "Parameters", 10, Path=path, **kwargs)


def history(ssm, name, **kwargs):
    return pages(ssm.get_parameter_history, "Parameters", 50, Name=name, **kwargs)


def snapshot(ssm):
    """What a failed call must not change: every parameter's name, type, version and tier."""
    return {p["Name"]: (p["Type"], p["Version"], p["Tier"]) for p in describe_all(ssm)}


def iso(ts):
    """ISO_INSTANT, as in the user guide: 2018-12-02T21:34:33.000Z."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_offset(ts, hours):
    """ISO_OFFSET_DATE_TIME, the other documented Timestamp form."""
    local = datetime.fromtimestamp(ts, timezone(timedelta(hours=hours)))
    return local.strftime("%Y-%m-%dT%H:%M:%S.000") + f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"


def expiration(timestamp):
    return {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": timestamp}}


def expiration_notification(before, unit="Days"):
    return {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": str(before), "Unit": unit}}


def no_change_notification(after, unit="Days"):
    return {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": str(after), "Unit": unit}}


def policies(*items):
    return json.dumps(list(items))


def now(server):
    return server.advance_clock(0)["now"]


def change(name, operation):
    return lambda e: (e["detail-type"] == "Parameter Store Change" and e["detail"].get("name") == name
                      and e["detail"].get("operation") == operation)


def policy_action(name, policy_type):
    return lambda e: (e["detail-type"] == "Parameter Store Policy Action" and e["detail"].get("parameter-name") == name
                      and e["detail"].get("policy-type") == policy_type)


def nothing_before(hooks, marker_name, predicate):
    """Events are delivered in order: once the marker's Create event has arrived, anything published before
    it has too. Returns whether no event before the marker matches `predicate`."""
    marker = hooks.wait_for(change(marker_name, "Create"))
    before = hooks.events[:hooks.events.index(marker)]
    return not any(predicate(e) for e in before)


# ---------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def shared():
    """One dev server for the table-driven error tests: a baseline parameter and two unusable KMS keys."""
    server = Keyhaven("--dev")
    server.start()
    try:
        ssm, kms = server.client("ssm"), server.client("kms")
        put(ssm, "/bad/existing", "v1")
        disabled = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=disabled)
        pending = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
        yield server, {"disabled": disabled, "pending": pending}
    finally:
        server.cleanup()


# ---------------------------------------------------------------------------------------------------------
# 1. The AWS CLI, as the user guide walks through hierarchies


def test_cli_hierarchy_walkthrough(dev_server):
    url, password = "jdbc:postgresql://db.dev.internal:5432/app", "Corr3ct-H0rse-Battery!"
    out = aws_json(dev_server, "ssm", "put-parameter", "--name", "/my-app/dev/db-url", "--value", url, "--type", "String")
    assert out == {"Version": 1, "Tier": "Standard"}
    aws_json(dev_server, "ssm", "put-parameter", "--name", "/my-app/dev/db-password", "--value", password, "--type", "SecureString")
    aws_json(dev_server, "ssm", "put-parameter", "--name", "/my-app/dev/replica/db-url", "--value", "replica", "--type", "String")
    aws_json(dev_server, "ssm", "put-parameter", "--name", "/my-app/prod/db-url", "--value", "prod", "--type", "String")

    got = aws_json(dev_server, "ssm", "get-parameters", "--names", "/my-app/dev/db-url", "/my-app/dev/db-password",
                   "/my-app/dev/absent", "--with-decryption")
    assert [p["Name"] for p in got["Parameters"]] == ["/my-app/dev/db-password", "/my-app/dev/db-url"], "alphabetical order"
    assert [p["Value"] for p in got["Parameters"]] == [password, url]
    assert [p["Type"] for p in got["Parameters"]] == ["SecureString", "String"]
    assert got["InvalidParameters"] == ["/my-app/dev/absent"]
    assert got["Parameters"][1]["ARN"] == arn("/my-app/dev/db-url")

    tree = aws_json(dev_server, "ssm", "get-parameters-by-path", "--path", "/my-app", "--recursive", "--with-decryption")
    assert {p["Name"]: p["Value"] for p in tree["Parameters"]} == {
        "/my-app/dev/db-url": url, "/my-app/dev/db-password": password,
        "/my-app/dev/replica/db-url": "replica", "/my-app/prod/db-url": "prod",
    }

    level = aws_json(dev_server, "ssm", "get-parameters-by-path", "--path", "/my-app/dev")
    values = {p["Name"]: p["Value"] for p in level["Parameters"]}
    assert set(values) == {"/my-app/dev/db-url", "/my-app/dev/db-password"}, "one level only without --recursive"
    sealed = values["/my-app/dev/db-password"]
    assert sealed != password and password not in sealed
    assert base64.b64decode(sealed, validate=True), "without --with-decryption the value is base64 ciphertext"
    assert values["/my-app/dev/db-url"] == url

    text = aws(dev_server, "ssm", "get-parameter", "--name", "/my-app/dev/db-password", "--with-decryption",
               "--query", "Parameter.Value", "--output", "text")
    assert text.stdout.decode().strip() == password

    meta = aws_json(dev_server, "ssm", "describe-parameters", "--parameter-filters", "Key=Name,Values=/my-app/dev/db-password")
    assert [(p["Name"], p["Type"], p["KeyId"], p["Version"], p["Tier"]) for p in meta["Parameters"]] == [
        ("/my-app/dev/db-password", "SecureString", DEFAULT_KEY, 1, "Standard")]

    deleted = aws_json(dev_server, "ssm", "delete-parameters", "--names", "/my-app/dev/replica/db-url", "/my-app/dev/absent")
    assert deleted["DeletedParameters"] == ["/my-app/dev/replica/db-url"]
    assert deleted["InvalidParameters"] == ["/my-app/dev/absent"]
    gone = aws(dev_server, "ssm", "get-parameter", "--name", "/my-app/dev/replica/db-url", check=False)
    assert gone.returncode != 0 and b"ParameterNotFound" in gone.stderr


def test_cli_allowed_pattern_walkthrough(dev_server):
    """The user guide's AllowedPattern steps, with the error text the guide shows."""
    ssm = dev_server.client("ssm")
    aws_json(dev_server, "ssm", "put-parameter", "--name", "/MyService/Test/MaxConnections", "--value", "100",
             "--allowed-pattern", r"\d{1,4}", "--type", "String")
    refused = aws(dev_server, "ssm", "put-parameter", "--name", "/MyService/Test/MaxConnections", "--value", "10,000",
                  "--type", "String", "--overwrite", check=False)
    assert refused.returncode != 0
    assert b"ParameterPatternMismatchException" in refused.stderr
    assert rb"Parameter value, cannot be validated against allowedPattern: \d{1,4}" in refused.stderr
    assert error_of(ssm.put_parameter, Name="/MyService/Test/MaxConnections", Value="12345", Overwrite=True)[0] == \
        "ParameterPatternMismatchException", "the whole value must match, and the stored pattern still applies"
    current = get(ssm, "/MyService/Test/MaxConnections")
    assert (current["Value"], current["Version"]) == ("100", 1)
    assert described(ssm, "/MyService/Test/MaxConnections")["AllowedPattern"] == r"\d{1,4}"

    aws_json(dev_server, "ssm", "put-parameter", "--name", "/MyService/Test/my-password", "--value", "p#sW*rd33",
             "--allowed-pattern", ".{8,20}", "--type", "SecureString")
    assert get(ssm, "/MyService/Test/my-password")["Value"] == "p#sW*rd33"
    assert error_of(ssm.put_parameter, Name="/MyService/Test/my-password", Value="short", Overwrite=True)[0] == \
        "ParameterPatternMismatchException"
    assert ssm.put_parameter(Name="/MyService/Test/MaxConnections", Value="250", Overwrite=True)["Version"] == 2


# ---------------------------------------------------------------------------------------------------------
# 2. Versions, selectors, labels and history


def test_versions_selectors_and_labels(dev_server):
    ssm = dev_server.client("ssm")
    name = "/Config/endpoint"
    assert put(ssm, name, "june.example.com")["Version"] == 1
    assert error_of(ssm.put_parameter, Name=name, Value="july.example.com", Type="String")[0] == "ParameterAlreadyExists"
    assert get(ssm, name)["Value"] == "june.example.com"
    assert put(ssm, name, "july.example.com", Overwrite=True)["Version"] == 2
    assert ssm.put_parameter(Name=name, Value="august.example.com", Overwrite=True)["Version"] == 3, "Type is optional on update"

    latest = get(ssm, name)
    assert (latest["Name"], latest["Type"], latest["Value"], latest["Version"]) == (name, "String", "august.example.com", 3)
    assert latest["ARN"] == arn(name) and latest["DataType"] == "text"
    first = get(ssm, f"{name}:1")
    assert (first["Name"], first["Value"], first["Version"], first["Selector"]) == (name, "june.example.com", 1, ":1")
    assert get(ssm, arn(name))["Value"] == "august.example.com", "GetParameter takes an ARN"
    assert error_of(ssm.get_parameter, Name=f"{name}:9")[0] == "ParameterVersionNotFound"

    labelled = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["Deprecated"])
    assert labelled.get("InvalidLabels", []) == [] and labelled["ParameterVersion"] == 1
    by_label = get(ssm, f"{name}:Deprecated")
    assert (by_label["Value"], by_label["Version"], by_label["Selector"]) == ("june.example.com", 1, ":Deprecated")

    moved = ssm.label_parameter_version(Name=name, Labels=["Deprecated"])
    assert moved["ParameterVersion"] == 3, "without ParameterVersion the latest version is labelled"
    assert get(ssm, f"{name}:Deprecated")["Value"] == "august.example.com"
    assert {p["Version"]: p.get("Labels", []) for p in history(ssm, name)} == {1: [], 2: [], 3: ["Deprecated"]}, \
        "a label is on one version"

    mixed = ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["1st", "aws-x", "SsM.y", "Current"])
    assert sorted(mixed["InvalidLabels"]) == sorted(["1st", "aws-x", "SsM.y"]) and mixed["ParameterVersion"] == 2
    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=[f"l{i}" for i in range(9)])
    code, _ = error_of(ssm.label_parameter_version, Name=name, ParameterVersion=2, Labels=["l9"])
    assert code == "ParameterVersionLabelLimitExceeded"
    labels = {p["Version"]: p.get("Labels", []) for p in history(ssm, name)}
    assert sorted(labels[2]) == sorted(["Current"] + [f"l{i}" for i in range(9)]), "invalid and refused labels are not attached"

    removed = ssm.unlabel_parameter_version(Name=name, ParameterVersion=2, Labels=["Current", "never-attached"])
    assert removed["RemovedLabels"] == ["Current"] and removed["InvalidLabels"] == ["never-attached"]
    assert error_of(ssm.get_parameter, Name=f"{name}:Current")[0] in UNKNOWN_LABEL_CODES
    assert error_of(ssm.label_parameter_version, Name=name, ParameterVersion=7, Labels=["x"])[0] == "ParameterVersionNotFound"
    assert error_of(ssm.unlabel_parameter_version, Name=name, ParameterVersion=7, Labels=["x"])[0] == "ParameterVersionNotFound"
    assert error_of(ssm.label_parameter_version, Name="/Config/absent", Labels=["x"])[0] == "ParameterNotFound"

    paged = pages(ssm.get_parameter_history, "Parameters", 2, Name=name)
    assert [p["Version"] for p in paged] == [1, 2, 3]
    assert [p["Value"] for p in paged] == ["june.example.com", "july.example.com", "august.example.com"]
    assert all(p["LastModifiedUser"] == ROOT_ARN and p["Type"] == "String" for p in paged)


def test_secure_string_history_and_selectors_decrypt_on_request(dev_server):
    ssm = dev_server.client("ssm")
    name = "/hist/api-key"
    values = ["alpha-secret-1", "bravo-secret-2", "charlie-secret-3"]
    put(ssm, name, values[0], "SecureString")
    for value in values[1:]:
        ssm.put_parameter(Name=name, Value=value, Overwrite=True)
    clear = history(ssm, name, WithDecryption=True)
    assert [(p["Version"], p["Value"], p["Type"], p["KeyId"]) for p in clear] == [
        (i + 1, v, "SecureString", DEFAULT_KEY) for i, v in enumerate(values)]
    sealed = history(ssm, name, WithDecryption=False)
    assert not any(v in json.dumps([p["Value"] for p in sealed]) for v in values)
    picked = ssm.get_parameters(Names=[f"{name}:1", f"{name}:3"], WithDecryption=True)["Parameters"]
    assert sorted((p["Version"], p["Value"]) for p in picked) == [(1, values[0]), (3, values[2])]
    assert get(ssm, name, decrypt=False)["Value"] != values[2]


def test_hundred_versions_are_kept_and_a_labelled_oldest_blocks_the_next(dev_server):
    ssm = dev_server.client("ssm")
    rolling = "/ver/rolling"
    for version in range(1, 102):
        assert put(ssm, rolling, f"v{version}", Overwrite=version > 1)["Version"] == version
    assert [p["Version"] for p in history(ssm, rolling)] == list(range(2, 102)), "the oldest version is dropped"
    assert error_of(ssm.get_parameter, Name=f"{rolling}:1")[0] == "ParameterVersionNotFound"

    pinned = "/ver/pinned"
    put(ssm, pinned, "v1")
    ssm.label_parameter_version(Name=pinned, ParameterVersion=1, Labels=["golden"])
    for version in range(2, 101):
        put(ssm, pinned, f"v{version}", Overwrite=True)
    code, message = error_of(ssm.put_parameter, Name=pinned, Value="v101", Type="String", Overwrite=True)
    assert code == "ParameterMaxVersionLimitExceeded"
    assert "Version 1, the oldest version, can't be deleted because it has a label associated with it" in message
    assert get(ssm, pinned)["Version"] == 100 and get(ssm, f"{pinned}:golden")["Value"] == "v1"
    assert ssm.label_parameter_version(Name=pinned, Labels=["golden"])["ParameterVersion"] == 100
    assert put(ssm, pinned, "v101", Overwrite=True)["Version"] == 101
    assert [p["Version"] for p in history(ssm, pinned)] == list(range(2, 102))


# ---------------------------------------------------------------------------------------------------------
# 3. Names and bad input: every refused call changes nothing


def _levels(n):
    return "/" + "/".join(f"L{i}" for i in range(1, n + 1))


BAD_PUTS = [
    # (id, PutParameter arguments, accepted error codes)
    ("space-inside-name", dict(Name="/bad/has space", Value="v", Type="String"), {"ValidationException"}),
    ("double-slash", dict(Name="/bad//double", Value="v", Type="String"), {"ValidationException"}),
    ("sixteen-levels", dict(Name=_levels(16), Value="v", Type="String"), {"HierarchyLevelLimitExceededException"}),
    ("user-guide-too-deep", dict(Name="/Level-1/L2/L3/L4/L5/L6/L7/L8/L9/L10/L11/L12/L13/L14/L15/L16/parameter-name",
                                 Value="v", Type="String"), {"HierarchyLevelLimitExceededException"}),
    ("aws-prefix", dict(Name="awsTestParameter", Value="v", Type="String"), {"ValidationException"}),
    ("ssm-prefix-any-case", dict(Name="SSM-testparameter", Value="v", Type="String"), {"ValidationException"}),
    ("aws-path", dict(Name="/aws/testparam1", Value="v", Type="String"), RESERVED_PATH_CODES),
    ("ssm-path", dict(Name="/Ssm/testparam1", Value="v", Type="String"), RESERVED_PATH_CODES),
    ("not-fully-qualified", dict(Name="MyParameter3/L1", Value="v", Type="String"), {"ValidationException"}),
    ("invalid-character", dict(Name="/bad/support@example.com", Value="v", Type="String"), {"ValidationException"}),
    ("arn-instead-of-name", dict(Name=arn("/bad/by-arn"), Value="v", Type="String"), {"ValidationException"}),
    ("name-too-long", dict(Name="/bad/" + "n" * 1100, Value="v", Type="String"), {"ValidationException"}),
    ("standard-value-over-4kb", dict(Name="/bad/std-big", Value="s" * 4097, Type="String"), {"ValidationException"}),
    ("advanced-value-over-8kb", dict(Name="/bad/adv-big", Value="a" * 8193, Type="String", Tier="Advanced"),
     {"ValidationException"}),
    ("type-missing-on-create", dict(Name="/bad/no-type", Value="v"), {"ValidationException"}),
    ("unknown-type", dict(Name="/bad/int", Value="1", Type="Integer"), UNKNOWN_TYPE_CODES),
    ("nested-reference", dict(Name="/bad/nested", Value="{{ssm:/bad/existing}}", Type="String"), {"ValidationException"}),
    ("value-breaks-allowed-pattern", dict(Name="/bad/digits", Value="abc", Type="String", AllowedPattern=r"^\d+$"),
     {"ParameterPatternMismatchException"}),
    ("allowed-pattern-not-a-regex", dict(Name="/bad/regex", Value="v", Type="String", AllowedPattern="[unclosed"),
     {"InvalidAllowedPatternException"}),
    ("policies-not-json", dict(Name="/bad/p-json", Value="v", Type="String", Tier="Advanced", Policies="not json"),
     MALFORMED_POLICIES_CODES),
    ("unknown-policy-type", dict(Name="/bad/p-type", Value="v", Type="String", Tier="Advanced", Policies=policies(
        {"Type": "Rotation", "Version": "1.0", "Attributes": {"After": "1", "Unit": "Days"}})), {"InvalidPolicyTypeException"}),
    ("bad-notification-unit", dict(Name="/bad/p-unit", Value="v", Type="String", Tier="Advanced", Policies=policies(
        expiration(FAR_FUTURE), expiration_notification(2, "Weeks"))), {"InvalidPolicyAttributeException"}),
    ("bad-no-change-period", dict(Name="/bad/p-after", Value="v", Type="String", Tier="Advanced", Policies=policies(
        no_change_notification("soon"))), {"InvalidPolicyAttributeException"}),
    ("expiration-in-the-past", dict(Name="/bad/p-past", Value="v", Type="String", Tier="Advanced", Policies=policies(
        expiration(PAST))), PAST_EXPIRATION_CODES),
    ("two-expirations", dict(Name="/bad/p-two", Value="v", Type="String", Tier="Advanced", Policies=policies(
        expiration(FAR_FUTURE), expiration("2098-01-01T00:00:00.000Z"))), {"IncompatiblePolicyException"}),
    ("eleven-policies", dict(Name="/bad/p-eleven", Value="v", Type="String", Tier="Advanced", Policies=policies(
        expiration(FAR_FUTURE), *[expiration_notification(n) for n in range(1, 11)])), {"PoliciesLimitExceededException"}),
    ("policies-on-standard", dict(Name="/bad/p-std", Value="v", Type="String", Tier="Standard", Policies=policies(
        expiration(FAR_FUTURE))), POLICY_ON_STANDARD_CODES),
    ("unknown-kms-key", dict(Name="/bad/k-unknown", Value="v", Type="SecureString", KeyId="alias/no-such-key"), {"InvalidKeyId"}),
    ("disabled-kms-key", dict(Name="/bad/k-disabled", Value="v", Type="SecureString", KeyId="{disabled}"), {"InvalidKeyId"}),
    ("kms-key-pending-deletion", dict(Name="/bad/k-pending", Value="v", Type="SecureString", KeyId="{pending}"), {"InvalidKeyId"}),
    ("existing-without-overwrite", dict(Name="/bad/existing", Value="v2", Type="String"), {"ParameterAlreadyExists"}),
    ("overwrite-with-oversized-value", dict(Name="/bad/existing", Value="s" * 4097, Type="String", Overwrite=True),
     {"ValidationException"}),
]


@pytest.mark.parametrize("args, codes", [pytest.param(a, c, id=i) for i, a, c in BAD_PUTS])
def test_bad_put_is_refused_and_changes_nothing(shared, args, codes):
    server, keys = shared
    ssm = server.client("ssm")
    args = dict(args)
    if args.get("KeyId", "").startswith("{"):
        args["KeyId"] = keys[args["KeyId"].strip("{}")]
    before = snapshot(ssm)
    code, message = error_of(ssm.put_parameter, **args)
    assert code in codes, message
    assert snapshot(ssm) == before
    baseline = get(ssm, "/bad/existing")
    assert (baseline["Value"], baseline["Version"], baseline["Type"]) == ("v1", 1, "String")
    if re.fullmatch(r"/bad/[\w.-]{1,40}", args["Name"]) and args["Name"] != "/bad/existing":
        assert missing(ssm, args["Name"]), "nothing was created"


BAD_CALLS = [
    # (id, operation, arguments, accepted error codes)
    ("get-space-inside-name", "get_parameter", dict(Name="/bad/has space"), {"ValidationException"}),
    ("get-missing", "get_parameter", dict(Name="/bad/absent"), {"ParameterNotFound"}),
    ("get-missing-version", "get_parameter", dict(Name="/bad/existing:99"), {"ParameterVersionNotFound"}),
    ("get-eleven-names", "get_parameters", dict(Names=[f"/bad/n{i}" for i in range(11)]), {"ValidationException"}),
    ("history-missing", "get_parameter_history", dict(Name="/bad/absent"), {"ParameterNotFound"}),
    ("history-page-over-50", "get_parameter_history", dict(Name="/bad/existing", MaxResults=51), {"ValidationException"}),
    ("delete-missing", "delete_parameter", dict(Name="/bad/absent"), {"ParameterNotFound"}),
    ("label-space-inside-name", "label_parameter_version", dict(Name="/bad/has space", Labels=["x"]), {"ValidationException"}),
    ("label-missing-version", "label_parameter_version", dict(Name="/bad/existing", ParameterVersion=5, Labels=["x"]),
     {"ParameterVersionNotFound"}),
    ("by-path-page-over-10", "get_parameters_by_path", dict(Path="/bad", MaxResults=11), {"ValidationException"}),
    ("by-path-name-filter", "get_parameters_by_path", dict(Path="/bad", ParameterFilters=[
        {"Key": "Name", "Values": ["/bad/existing"]}]), {"InvalidFilterKey"}),
    ("by-path-tier-filter", "get_parameters_by_path", dict(Path="/bad", ParameterFilters=[
        {"Key": "Tier", "Values": ["Standard"]}]), {"InvalidFilterKey"}),
    ("by-path-label-begins-with", "get_parameters_by_path", dict(Path="/bad", ParameterFilters=[
        {"Key": "Label", "Option": "BeginsWith", "Values": ["x"]}]), {"InvalidFilterOption"}),
    ("describe-page-over-50", "describe_parameters", dict(MaxResults=51), {"ValidationException"}),
    ("describe-label-filter", "describe_parameters", dict(ParameterFilters=[{"Key": "Label", "Values": ["x"]}]),
     {"InvalidFilterKey"}),
    ("describe-type-contains", "describe_parameters", dict(ParameterFilters=[
        {"Key": "Type", "Option": "Contains", "Values": ["String"]}]), {"InvalidFilterOption"}),
    ("describe-path-equals", "describe_parameters", dict(ParameterFilters=[
        {"Key": "Path", "Option": "Equals", "Values": ["/bad"]}]), {"InvalidFilterOption"}),
    ("describe-forged-token", "describe_parameters", dict(NextToken="not-a-token-this-server-issued"), {"InvalidNextToken"}),
    ("tags-of-missing-parameter", "list_tags_for_resource", dict(ResourceType="Parameter", ResourceId="/bad/absent"),
     {"InvalidResourceId"}),
    ("unknown-service-setting", "get_service_setting", dict(SettingId="/ssm/parameter-store/no-such-setting"),
     {"ServiceSettingNotFound"}),
]


@pytest.mark.parametrize("operation, args, codes", [pytest.param(o, a, c, id=i) for i, o, a, c in BAD_CALLS])
def test_bad_call_is_refused(shared, operation, args, codes):
    server, _ = shared
    ssm = server.client("ssm")
    before = snapshot(ssm)
    code, message = error_of(getattr(ssm, operation), **args)
    assert code in codes, message
    assert snapshot(ssm) == before


def test_names_are_trimmed_and_root_names_with_or_without_slash_are_one(dev_server):
    ssm = dev_server.client("ssm")
    put(ssm, "  /trim/me  ", "trimmed")
    assert get(ssm, "/trim/me")["Name"] == "/trim/me"
    assert get(ssm, " /trim/me ")["Value"] == "trimmed"
    assert put(ssm, "/Level-1/L2/L3/L4/L5/L6/L7/L8/L9/L10/L11/L12/L13/L14/parameter-name", "deep")["Version"] == 1, \
        "the user guide's deepest valid example (15 levels)"
    put(ssm, "TestParam1", "first")
    assert error_of(ssm.put_parameter, Name="/TestParam1", Value="second", Type="String")[0] == "ParameterAlreadyExists", \
        "/TestParam1 and TestParam1 are the same root parameter"
    assert get(ssm, "/TestParam1")["Value"] == "first"
    put(ssm, "/Test/TestParam1", "nested")
    assert get(ssm, "TestParam1")["Value"] == "first" and get(ssm, "/Test/TestParam1")["Value"] == "nested"


# ---------------------------------------------------------------------------------------------------------
# 4. Tiers, the default-tier setting and parameter policies


def test_tier_sizes_upgrade_and_no_downgrade(dev_server):
    ssm = dev_server.client("ssm")
    assert put(ssm, "/tier/std", "s" * 4096)["Tier"] == "Standard"
    assert put(ssm, "/tier/adv", "a" * 8192, Tier="Advanced")["Tier"] == "Advanced"
    upgraded = ssm.put_parameter(Name="/tier/std", Value="u" * 5000, Overwrite=True, Tier="Advanced")
    assert (upgraded["Version"], upgraded["Tier"]) == (2, "Advanced"), "Standard can be upgraded"
    code, message = error_of(ssm.put_parameter, Name="/tier/std", Value="small", Overwrite=True, Tier="Standard")
    assert code == "ValidationException", message
    assert (described(ssm, "/tier/std")["Tier"], get(ssm, "/tier/std")["Version"]) == ("Advanced", 2), "never downgraded"

    assert put(ssm, "/tier/smart-small", "tiny", Tier="Intelligent-Tiering")["Tier"] == "Standard"
    assert put(ssm, "/tier/smart-big", "b" * 5000, Tier="Intelligent-Tiering")["Tier"] == "Advanced"
    assert put(ssm, "/tier/smart-policy", "p", Tier="Intelligent-Tiering",
               Policies=policies(no_change_notification(30)))["Tier"] == "Advanced"
    grown = ssm.put_parameter(Name="/tier/smart-small", Value="g" * 5000, Overwrite=True, Tier="Intelligent-Tiering")
    assert grown["Tier"] == "Advanced", "Intelligent-Tiering upgrades when the value outgrows Standard"
    tiers = {p["Name"]: p["Tier"] for p in describe_all(ssm)}
    assert tiers == {"/tier/std": "Advanced", "/tier/adv": "Advanced", "/tier/smart-small": "Advanced",
                     "/tier/smart-big": "Advanced", "/tier/smart-policy": "Advanced"}


def test_default_parameter_tier_setting(dev_server):
    ssm = dev_server.client("ssm")
    setting = ssm.get_service_setting(SettingId=TIER_SETTING)["ServiceSetting"]
    assert (setting["SettingId"], setting["SettingValue"], setting["ARN"], setting["Status"]) == (
        TIER_SETTING, "Standard", TIER_SETTING_ARN, "Default")
    assert put(ssm, "/default-tier/a", "v")["Tier"] == "Standard"

    ssm.update_service_setting(SettingId=TIER_SETTING_ARN, SettingValue="Advanced")
    setting = ssm.get_service_setting(SettingId=TIER_SETTING_ARN)["ServiceSetting"]
    assert (setting["SettingId"], setting["SettingValue"], setting["Status"]) == (TIER_SETTING, "Advanced", "Customized")
    assert setting["LastModifiedUser"] == ROOT_ARN
    assert put(ssm, "/default-tier/b", "v")["Tier"] == "Advanced"
    assert put(ssm, "/default-tier/explicit", "v", Tier="Standard")["Tier"] == "Standard", "an explicit tier wins"

    ssm.update_service_setting(SettingId=TIER_SETTING, SettingValue="Intelligent-Tiering")
    assert put(ssm, "/default-tier/c", "v")["Tier"] == "Standard"
    assert put(ssm, "/default-tier/d", "x" * 5000)["Tier"] == "Advanced"

    reset = ssm.reset_service_setting(SettingId=TIER_SETTING)["ServiceSetting"]
    assert (reset["SettingValue"], reset["Status"]) == ("Standard", "Default")
    assert put(ssm, "/default-tier/e", "v")["Tier"] == "Standard"
    code, _ = error_of(ssm.put_parameter, Name="/default-tier/f", Value="x" * 5000, Type="String")
    assert code == "ValidationException", "the Standard default again limits values to 4 KB"


def test_expiration_policy_deletes_on_time(dev_server):
    ssm = dev_server.client("ssm")
    start = now(dev_server)
    expires = start + HOUR
    policy_doc = expiration(iso(expires))
    put(ssm, "/expiring/session", "first", Tier="Advanced", Policies=policies(policy_doc))
    [inline] = described(ssm, "/expiring/session")["Policies"]
    assert (inline["PolicyType"], inline["PolicyStatus"]) == ("Expiration", "Pending")
    assert json.loads(inline["PolicyText"]) == policy_doc

    ssm.put_parameter(Name="/expiring/session", Value="second", Overwrite=True)
    meta = described(ssm, "/expiring/session")
    assert [p["PolicyType"] for p in meta["Policies"]] == ["Expiration"], "updating the value keeps the policies"
    assert meta["Tier"] == "Advanced"

    put(ssm, "/expiring/reprieved", "v", Tier="Advanced", Policies=policies(expiration(iso(expires))))
    ssm.put_parameter(Name="/expiring/reprieved", Value="v", Overwrite=True, Policies="[{}]")
    assert described(ssm, "/expiring/reprieved").get("Policies", []) == [], "[{}] removes every policy"
    put(ssm, "/expiring/offset", "v", Tier="Advanced", Policies=policies(expiration(iso_offset(expires + HOUR, 2))))

    dev_server.advance_clock(HOUR - 60)
    assert get(ssm, "/expiring/session")["Value"] == "second", "not deleted before its time"
    dev_server.advance_clock(120)
    assert missing(ssm, "/expiring/session")
    assert error_of(ssm.get_parameter_history, Name="/expiring/session")[0] == "ParameterNotFound"
    assert get(ssm, "/expiring/offset")["Value"] == "v", "+02:00 offsets are honoured"
    dev_server.advance_clock(HOUR)
    assert missing(ssm, "/expiring/offset")
    assert [p["Name"] for p in describe_all(ssm)] == ["/expiring/reprieved"]


def test_policy_events_are_signed_and_survive_a_restart(evented):
    server, hooks = evented
    ssm = server.client("ssm")
    name = "/expiring/db-token"
    expires = now(server) + 3 * DAY
    put(ssm, name, "temporary-token-8c1f", "SecureString", Tier="Advanced",
        Policies=policies(expiration(iso(expires)), expiration_notification(1, "Days")))
    statuses = {p["PolicyType"]: p["PolicyStatus"] for p in described(ssm, name)["Policies"]}
    assert statuses == {"Expiration": "Pending", "ExpirationNotification": "Pending"}
    hooks.wait_for(change(name, "Create"))

    server.stop()
    server.start()
    ssm = server.client("ssm")
    server.advance_clock(expires - DAY - HOUR - now(server))
    put(ssm, "/marker/one", "m")
    assert nothing_before(hooks, "/marker/one", policy_action(name, "ExpirationNotification")), "notified too early"
    server.advance_clock(2 * HOUR)
    notice = hooks.wait_for(policy_action(name, "ExpirationNotification"))
    assert notice["source"] == "aws.ssm" and notice["detail"]["parameter-type"] == "SecureString"
    assert get(ssm, name)["Value"] == "temporary-token-8c1f", "a notification deletes nothing"

    server.stop()
    server.start()
    ssm = server.client("ssm")
    server.advance_clock(expires + 60 - now(server))
    assert missing(ssm, name)
    expired = hooks.wait_for(policy_action(name, "Expiration"))
    assert expired["detail"]["action-status"] == "Finished"
    assert expired["account"] == ACCOUNT and expired["region"] == REGION
    assert hooks.rejected == []
    assert "temporary-token-8c1f" not in json.dumps(hooks.collect())


def test_no_change_notification_restarts_with_each_update(evented):
    server, hooks = evented
    ssm = server.client("ssm")
    name = "/rotate/me"
    put(ssm, name, "v1", Tier="Advanced", Policies=policies(no_change_notification(1, "Days")))
    server.advance_clock(20 * HOUR)
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True)
    server.advance_clock(6 * HOUR)
    put(ssm, "/marker/two", "m")
    assert nothing_before(hooks, "/marker/two", policy_action(name, "NoChangeNotification")), \
        "the update restarted the period"
    server.advance_clock(19 * HOUR)
    event = hooks.wait_for(policy_action(name, "NoChangeNotification"))
    assert event["detail-type"] == "Parameter Store Policy Action" and event["detail"]["parameter-type"] == "String"
    assert get(ssm, name)["Value"] == "v2"


# ---------------------------------------------------------------------------------------------------------
# 5. Change events


def test_change_events_reach_the_webhook_signed_and_in_order(evented):
    server, hooks = evented
    ssm = server.client("ssm")
    name = "/events/db-url"
    put(ssm, name, "v1", Description="database endpoint")
    put(ssm, name, "v2", Overwrite=True)
    assert error_of(ssm.put_parameter, Name=name, Value="v3", Type="String")[0] == "ParameterAlreadyExists"
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["old"])
    ssm.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["old"])
    ssm.delete_parameter(Name=name)
    put(ssm, "/events/secret", "s3cret-value-5d2a", "SecureString")
    ssm.delete_parameters(Names=["/events/secret"])
    hooks.wait_for(change("/events/secret", "Delete"))

    mine = [e for e in hooks.collect() if e["detail"].get("name") == name]
    assert [e["detail"]["operation"] for e in mine] == [
        "Create", "Update", "LabelParameterVersion", "UnlabelParameterVersion", "Delete"], "a refused call emits nothing"
    for event in mine:
        assert {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} <= set(event)
        assert (event["detail-type"], event["source"], event["account"], event["region"]) == (
            "Parameter Store Change", "aws.ssm", ACCOUNT, REGION)
        assert event["resources"] == [arn(name)] and event["detail"]["type"] == "String"
    assert mine[0]["detail"]["description"] == "database endpoint"
    secret = [e["detail"]["operation"] for e in hooks.events if e["detail"].get("name") == "/events/secret"]
    assert secret == ["Create", "Delete"]
    assert all(e["detail"]["type"] == "SecureString" for e in hooks.events if e["detail"].get("name") == "/events/secret")
    assert "s3cret-value-5d2a" not in json.dumps(hooks.events), "events carry names, never values"
    assert len({e["id"] for e in hooks.events}) == len(hooks.events)
    assert hooks.rejected == []


def test_refused_delivery_is_retried_before_later_events(evented):
    server, hooks = evented
    ssm = server.client("ssm")
    hooks.refuse = 1
    put(ssm, "/retry/first", "a")
    put(ssm, "/retry/second", "b")
    second = hooks.wait_for(change("/retry/second", "Create"), timeout=30)
    first = hooks.wait_for(change("/retry/first", "Create"))
    assert hooks.events.index(first) < hooks.events.index(second), "delivery stays in order"
    assert hooks.attempts.count(first["id"]) >= 2, "the refused delivery was retried"


# ---------------------------------------------------------------------------------------------------------
# 6. Searching: DescribeParameters and GetParametersByPath filters and paging


CATALOG = {"/app/web/url", "/app/web/token", "/app/web/cfg/hosts", "/app/db/password", "/app/db/big", "/other/x", "rootparam"}


def make_catalog(server):
    ssm = server.client("ssm")
    key = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    put(ssm, "/app/web/url", "https-endpoint", Tags=[{"Key": "env", "Value": "prod"}])
    put(ssm, "/app/web/token", "web-token", "SecureString")
    put(ssm, "/app/web/cfg/hosts", "a.example.com,b.example.com", "StringList")
    put(ssm, "/app/db/password", "db-password", "SecureString", KeyId=key)
    put(ssm, "/app/db/big", "b" * 5000, Tier="Advanced", Tags=[{"Key": "env", "Value": "dev"}])
    put(ssm, "/other/x", "x")
    put(ssm, "rootparam", "r")
    ssm.label_parameter_version(Name="/app/web/url", Labels=["live"])
    ssm.label_parameter_version(Name="/app/db/password", Labels=["live"])
    return ssm, key


def test_describe_parameters_filters_and_paging(dev_server):
    ssm, key = make_catalog(dev_server)

    def names(*filters, **kwargs):
        return {p["Name"] for p in describe_all(ssm, ParameterFilters=list(filters), **kwargs)}

    def f(key_, values, option=None):
        return {"Key": key_, "Values": values, **({"Option": option} if option else {})}

    assert names() == CATALOG
    assert names(f("Name", ["/app/web/url"], "Equals")) == {"/app/web/url"}
    assert names(f("Name", ["/app/web/url"])) == {"/app/web/url"}, "Name defaults to Equals"
    assert names(f("Name", ["/app/db"], "BeginsWith")) == {"/app/db/password", "/app/db/big"}
    assert names(f("Name", ["web"], "Contains")) == {"/app/web/url", "/app/web/token", "/app/web/cfg/hosts"}
    assert names(f("Type", ["SecureString"])) == {"/app/web/token", "/app/db/password"}
    assert names(f("Type", ["StringList"])) == {"/app/web/cfg/hosts"}
    assert names(f("KeyId", [key])) == {"/app/db/password"}
    assert names(f("KeyId", [DEFAULT_KEY])) == {"/app/web/token"}
    assert names(f("Path", ["/app/web"], "OneLevel")) == {"/app/web/url", "/app/web/token"}
    assert names(f("Path", ["/app/web"])) == {"/app/web/url", "/app/web/token"}, "Path defaults to OneLevel"
    assert names(f("Path", ["/app"], "Recursive")) == {n for n in CATALOG if n.startswith("/app/")}
    assert names(f("Tier", ["Advanced"])) == {"/app/db/big"}
    assert names(f("Tier", ["Standard"])) == CATALOG - {"/app/db/big"}
    assert names(f("DataType", ["text"])) == CATALOG
    assert names(f("DataType", ["aws:ec2:image"])) == set()
    assert names(f("tag:env", ["prod"])) == {"/app/web/url"}
    assert names(f("tag:env", ["prod", "dev"])) == {"/app/web/url", "/app/db/big"}
    assert names(f("Type", ["String"]), f("Path", ["/app"], "Recursive")) == {"/app/web/url", "/app/db/big"}, "filters combine"
    assert {p["Name"] for p in ssm.describe_parameters(Filters=[{"Key": "Type", "Values": ["StringList"]}])["Parameters"]} == \
        {"/app/web/cfg/hosts"}, "the deprecated Filters still work"

    paged = [p["Name"] for p in pages(ssm.describe_parameters, "Parameters", 2)]
    assert len(paged) == len(CATALOG) and set(paged) == CATALOG
    paginated = [p["Name"] for page in ssm.get_paginator("describe_parameters").paginate(PaginationConfig={"PageSize": 3})
                 for p in page["Parameters"]]
    assert sorted(paginated) == sorted(CATALOG)

    meta = {p["Name"]: p for p in describe_all(ssm)}
    assert (meta["/app/web/token"]["KeyId"], meta["/app/db/password"]["KeyId"]) == (DEFAULT_KEY, key)
    assert "KeyId" not in meta["/app/web/url"]
    assert meta["/app/web/url"]["ARN"] == arn("/app/web/url") and meta["rootparam"]["ARN"] == arn("rootparam")
    assert all(p["LastModifiedUser"] == ROOT_ARN and p["Version"] == 1 and p["DataType"] == "text" for p in meta.values())


def test_get_parameters_by_path_filters_and_paging(dev_server):
    ssm, key = make_catalog(dev_server)

    def values(path, *filters, recursive=True, **kwargs):
        found = by_path(ssm, path, Recursive=recursive, ParameterFilters=list(filters), **kwargs)
        return {p["Name"]: p["Value"] for p in found}

    assert values("/app", {"Key": "Type", "Values": ["SecureString"]}, WithDecryption=True) == {
        "/app/web/token": "web-token", "/app/db/password": "db-password"}
    assert set(values("/app", {"Key": "Type", "Option": "BeginsWith", "Values": ["String"]})) == {
        "/app/web/url", "/app/web/cfg/hosts", "/app/db/big"}
    assert set(values("/app", {"Key": "KeyId", "Values": [DEFAULT_KEY]})) == {"/app/web/token"}
    assert set(values("/app", {"Key": "KeyId", "Values": [key]})) == {"/app/db/password"}
    assert set(values("/app", {"Key": "Label", "Option": "Equals", "Values": ["live"]})) == {"/app/web/url", "/app/db/password"}
    assert set(values("/app/web", {"Key": "Label", "Values": ["live"]}, recursive=False)) == {"/app/web/url"}
    assert set(values("/app/web", recursive=False)) == {"/app/web/url", "/app/web/token"}

    one_by_one = [p["Name"] for p in pages(ssm.get_parameters_by_path, "Parameters", 1, Path="/app", Recursive=True)]
    assert len(one_by_one) == 5 and set(one_by_one) == {n for n in CATALOG if n.startswith("/app/")}
    hosts = [p for p in by_path(ssm, "/app/web/cfg") if p["Name"] == "/app/web/cfg/hosts"]
    assert hosts[0]["Type"] == "StringList" and hosts[0]["Value"] == "a.example.com,b.example.com"


# ---------------------------------------------------------------------------------------------------------
# 7. Tags


def test_tags_on_parameters(dev_server):
    ssm = dev_server.client("ssm")

    def tags(name):
        return {t["Key"]: t["Value"] for t in ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]}

    put(ssm, "/tagged/p", "v", Tags=[{"Key": "team", "Value": "blue"}])
    assert tags("/tagged/p") == {"team": "blue"}
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/tagged/p",
                             Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "red"}])
    assert tags("/tagged/p") == {"team": "red", "env": "dev"}, "an existing key is overwritten"
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/tagged/p", TagKeys=["team", "absent"])
    assert tags("/tagged/p") == {"env": "dev"}
    ssm.put_parameter(Name="/tagged/p", Value="v2", Overwrite=True)
    assert tags("/tagged/p") == {"env": "dev"}, "a new version keeps the tags"

    put(ssm, "tagged-root", "v")
    assert tags("tagged-root") == {}
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="tagged-root", Tags=[{"Key": "owner", "Value": "ops"}])
    assert tags("tagged-root") == {"owner": "ops"}
    assert {p["Name"] for p in describe_all(ssm, ParameterFilters=[{"Key": "tag:owner", "Values": ["ops"]}])} == {"tagged-root"}
    code, _ = error_of(ssm.add_tags_to_resource, ResourceType="Parameter", ResourceId="/tagged/absent",
                       Tags=[{"Key": "k", "Value": "v"}])
    assert code == "InvalidResourceId"


# ---------------------------------------------------------------------------------------------------------
# 8. IAM and KMS


def test_identity_policy_scopes_parameters_by_path(dev_server):
    root = dev_server.client("ssm")
    put(root, "/team/dev/x", "dev-value")
    put(root, "/team/prod/x", "prod-value")
    creds = new_user(dev_server, "dev-reader", policy(allow("ssm:GetParameter*", arn("/team/dev/*"))))
    ssm = as_user(dev_server, "ssm", creds)
    assert get(ssm, "/team/dev/x")["Value"] == "dev-value"
    code, message = error_of(ssm.get_parameter, Name="/team/prod/x")
    assert code == "AccessDeniedException"
    assert "ssm:GetParameter" in message and arn("/team/prod/x") in message
    assert error_of(ssm.put_parameter, Name="/team/dev/y", Value="v", Type="String")[0] == "AccessDeniedException"
    assert missing(root, "/team/dev/y")


def test_secure_string_needs_kms_decrypt_through_ssm(dev_server):
    root, kms = dev_server.client("ssm"), dev_server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    put(root, "/team/dev/secret", "cmk-protected-77", "SecureString", KeyId=key["KeyId"])
    put(root, "/team/dev/default-secret", "default-key-protected-78", "SecureString")
    creds = new_user(dev_server, "secret-reader", policy(allow("ssm:GetParameter*", arn("/team/dev/*"))))
    ssm = as_user(dev_server, "ssm", creds)

    code, _ = error_of(ssm.get_parameter, Name="/team/dev/secret", WithDecryption=True)
    assert code == "AccessDeniedException", "ssm:GetParameter alone does not decrypt with a customer managed key"
    sealed = get(ssm, "/team/dev/secret", decrypt=False)["Value"]
    assert sealed != "cmk-protected-77"
    # User guide: "all users within the customer account have access to the default AWS managed key"; to stop
    # them, "their IAM policies must explicitly deny access to the default key".
    assert get(ssm, "/team/dev/default-secret")["Value"] == "default-key-protected-78"

    dev_server.client("iam").put_user_policy(UserName="secret-reader", PolicyName="decrypt-via-ssm", PolicyDocument=policy(
        allow("kms:Decrypt", key["Arn"], Condition={"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}})))
    assert get(ssm, "/team/dev/secret")["Value"] == "cmk-protected-77"
    code, _ = error_of(as_user(dev_server, "kms", creds).decrypt, CiphertextBlob=base64.b64decode(sealed),
                       EncryptionContext={"PARAMETER_ARN": arn("/team/dev/secret")})
    assert code == "AccessDeniedException", "the same key used directly, not through SSM, is refused"

    default_key_arn = kms.describe_key(KeyId=DEFAULT_KEY)["KeyMetadata"]["Arn"]
    dev_server.client("iam").put_user_policy(UserName="secret-reader", PolicyName="no-default-key", PolicyDocument=policy(
        deny(["kms:Decrypt", "kms:GenerateDataKey"], default_key_arn)))
    assert error_of(ssm.get_parameter, Name="/team/dev/default-secret", WithDecryption=True)[0] == "AccessDeniedException"
    assert get(ssm, "/team/dev/secret")["Value"] == "cmk-protected-77"


def test_standard_secure_string_is_a_kms_ciphertext_bound_to_the_parameter_arn(dev_server):
    ssm, kms = dev_server.client("ssm"), dev_server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/params", TargetKeyId=key_id)
    put(ssm, "/kms/by-alias", "sealed-with-alias", "SecureString", KeyId="alias/params")
    assert described(ssm, "/kms/by-alias")["KeyId"] == "alias/params"
    blob = base64.b64decode(get(ssm, "/kms/by-alias", decrypt=False)["Value"])
    clear = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": arn("/kms/by-alias")})
    assert clear["Plaintext"] == b"sealed-with-alias" and clear["KeyId"].endswith(key_id)
    assert error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": arn("/kms/other")})[0] == \
        "InvalidCiphertextException"

    kms.disable_key(KeyId=key_id)
    assert error_of(ssm.get_parameter, Name="/kms/by-alias", WithDecryption=True)[0] == "InvalidKeyId"
    assert get(ssm, "/kms/by-alias", decrypt=False)["Value"], "the ciphertext is still readable"
    kms.enable_key(KeyId=key_id)
    assert get(ssm, "/kms/by-alias")["Value"] == "sealed-with-alias"


def test_get_parameters_by_path_is_authorised_on_the_path_only(dev_server):
    """The documented quirk: access to a path reaches every level below it, explicit denies notwithstanding."""
    root = dev_server.client("ssm")
    put(root, "/quirk/open", "open")
    put(root, "/quirk/hidden", "hidden")
    put(root, "/quirk/deep/er", "deeper")
    put(root, "/elsewhere/x", "x")
    creds = new_user(dev_server, "path-reader", policy(
        allow("ssm:GetParametersByPath", arn("/quirk")),
        deny("ssm:GetParameter*", arn("/quirk/hidden")),
    ))
    ssm = as_user(dev_server, "ssm", creds)
    assert {p["Name"]: p["Value"] for p in by_path(ssm, "/quirk", Recursive=True)} == {
        "/quirk/open": "open", "/quirk/hidden": "hidden", "/quirk/deep/er": "deeper"}
    assert error_of(ssm.get_parameter, Name="/quirk/hidden")[0] == "AccessDeniedException"
    assert error_of(ssm.get_parameters_by_path, Path="/elsewhere")[0] == "AccessDeniedException"


# ---------------------------------------------------------------------------------------------------------
# 9. Audit and the event log never hold a SecureString value


def test_secure_string_value_never_reaches_audit_events_or_disk(dev_server):
    server = dev_server
    plaintext = "Zebra-Quartz-Plaintext-4419"
    ssm = server.client("ssm")
    put(ssm, "/audit/secret", plaintext, "SecureString")
    put(ssm, "/audit/secret", plaintext + "-v2", "SecureString", Overwrite=True)
    assert get(ssm, "/audit/secret")["Value"] == plaintext + "-v2"
    assert ssm.get_parameters(Names=["/audit/secret"], WithDecryption=True)["Parameters"][0]["Value"] == plaintext + "-v2"
    history(ssm, "/audit/secret", WithDecryption=True)
    by_path(ssm, "/audit", WithDecryption=True)
    server.stop()

    records = audit_records(server)
    names = {r["eventName"] for r in records}
    assert {"PutParameter", "GetParameter", "GetParameters", "GetParameterHistory", "GetParametersByPath"} <= names
    assert plaintext not in json.dumps(records)

    tail = subprocess.run([BINARY, "events", "tail", "--data-dir", server.data_dir, "--from-start", "--no-follow"],
                          env=server.env,
                          capture_output=True, text=True, check=True)
    logged = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    assert [e["detail"]["operation"] for e in logged if e["detail"].get("name") == "/audit/secret"] == ["Create", "Update"]
    assert plaintext not in tail.stdout

    for directory, _, files in os.walk(server.data_dir):
        for file in files:
            with open(os.path.join(directory, file), "rb") as f:
                assert plaintext.encode() not in f.read(), f"{file} holds the plaintext"


def test_reads_refuse_malformed_hierarchies_and_echo_the_name_as_written(dev_server):
    ssm = dev_server.client("ssm")
    ssm.put_parameter(Name="flat-name", Value="123", Type="String")
    assert ssm.get_parameter(Name="/flat-name")["Parameter"]["Name"] == "/flat-name", "the name as requested"
    assert ssm.get_parameter(Name="flat-name")["Parameter"]["Name"] == "flat-name"
    assert [p["Name"] for p in ssm.get_parameters(Names=["/flat-name"])["Parameters"]] == ["/flat-name"]
    ssm.put_parameter(Name="/tree/leaf", Value="1", Type="String")
    arn = ssm.get_parameter(Name="/tree/leaf")["Parameter"]["ARN"]
    assert ssm.get_parameter(Name=arn)["Parameter"]["Name"] == "/tree/leaf", "an ARN answers the stored name"
    flat_arn = arn.replace("/tree/leaf", "/flat-name")
    assert ssm.get_parameter(Name=flat_arn)["Parameter"]["Name"] == "flat-name"
    ssm.put_parameter(Name="/single", Value="1", Type="String")
    assert ssm.get_parameter(Name=arn.replace("/tree/leaf", "/single"))["Parameter"]["Name"] == "/single"
    for name in ["/a//b//c", "a/b/c"]:
        for call, kwargs in [(ssm.get_parameter, dict(Name=name)), (ssm.get_parameter_history, dict(Name=name)),
                             (ssm.delete_parameter, dict(Name=name))]:
            code, message = error_of(call, **kwargs)
            assert code == "ValidationException" and "sub-paths divided by slash symbol" in message, (name, call)
