"""Produces the awsQuery wire test data from botocore's own client code.

`requests`: serializes each request case below with botocore's QuerySerializer and request
preparer into `requests.json` (operation, params, form body).
`responses`: parses each `responses/<service>.<Operation>.<ok…|error…>.xml` (written by
keyhaven's encoder: `KEYHAVEN_BLESS_QUERY=1 cargo test -p keyhaven-api --test query_wire`) with
botocore's QueryParser, as a success or an error response, into the `.json` beside it.

Run from this directory with botocore 1.43.11: `python3 botocore_oracle.py requests|responses`.
"""

import base64
import datetime
import json
import pathlib
import sys

import botocore
from botocore.awsrequest import AWSRequest
from botocore.model import ServiceModel
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer
from botocore.validate import validate_parameters

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[4]
MODELS = {
    "iam": ROOT / "models/iam/2010-05-08/service-2.json",
    "sts": ROOT / "models/sts/2011-06-15/service-2.json",
}

TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Trust{i}",
                "Effect": "Allow",
                "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"], "AWS": "arn:aws:iam::111122223333:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"StringEquals": {"sts:ExternalId": "ext-id & <more> \"quoted\" 100%"}},
            }
            for i in range(12)
        ],
    },
    indent=2,
)
USER_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/caf\u00e9/*"}]}'

REQUESTS = [
    ("iam", "CreateUser", {"Path": "/division_abc/subdivision_xyz/", "UserName": "Bob+test=1,a.b@c-d", "PermissionsBoundary": "arn:aws:iam::111122223333:policy/boundary", "Tags": [{"Key": "team", "Value": "blue green"}, {"Key": "cost=center", "Value": ""}]}),
    ("iam", "GetUser", {}),
    ("iam", "GetUser", {"UserName": "alice"}),
    ("iam", "ListUsers", {"PathPrefix": "/division_abc/", "Marker": "AAAAAQ==/+marker", "MaxItems": 100}),
    ("iam", "PutUserPolicy", {"UserName": "alice", "PolicyName": "read-bucket", "PolicyDocument": USER_POLICY}),
    ("iam", "AttachRolePolicy", {"RoleName": "app-role", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("iam", "CreateRole", {"Path": "/service-role/", "RoleName": "app-role", "AssumeRolePolicyDocument": TRUST_POLICY, "Description": "Role for the app; caf\u00e9 \u00bd", "MaxSessionDuration": 43200, "Tags": [{"Key": "env", "Value": "prod"}]}),
    ("iam", "CreateAccessKey", {"UserName": "alice"}),
    ("iam", "UpdateAccessKey", {"UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    ("iam", "UntagUser", {"UserName": "alice", "TagKeys": []}),
    ("iam", "UntagRole", {"RoleName": "app-role", "TagKeys": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]}),
    ("iam", "UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": False, "MaxPasswordAge": 90, "PasswordReusePrevention": 5, "HardExpiry": False}),
    ("iam", "CreateLoginProfile", {"UserName": "alice", "Password": "hunter2-Secret!", "PasswordResetRequired": True}),
    ("iam", "SimulatePrincipalPolicy", {"PolicySourceArn": "arn:aws:iam::111122223333:user/alice", "ActionNames": ["s3:GetObject", "s3:PutObject", "iam:CreateUser"], "ResourceArns": ["arn:aws:s3:::bucket/key"], "ContextEntries": [{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["192.0.2.1", "198.51.100.0/24"], "ContextKeyType": "ipList"}, {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}], "MaxItems": 10}),
    ("iam", "GetAccountSummary", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::111122223333:role/app-role", "RoleSessionName": "session@example.com", "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {"arn": "arn:aws:iam::111122223333:policy/extra"}], "Policy": USER_POLICY, "DurationSeconds": 900, "Tags": [{"Key": "project", "Value": "keyhaven"}, {"Key": "Department", "Value": "R+D caf\u00e9"}], "TransitiveTagKeys": ["project"], "ExternalId": "ext-id_123", "SerialNumber": "arn:aws:iam::111122223333:mfa/alice", "TokenCode": "123456", "SourceIdentity": "alice"}),
    ("sts", "GetSessionToken", {"DurationSeconds": 43200, "SerialNumber": "arn:aws:iam::111122223333:mfa/alice", "TokenCode": "654321"}),
    ("sts", "GetCallerIdentity", {}),
    ("sts", "AssumeRoleWithWebIdentity", {"RoleArn": "arn:aws:iam::111122223333:role/web", "RoleSessionName": "web-session", "WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln", "DurationSeconds": 3600}),
    ("sts", "GetFederationToken", {"Name": "fed-user", "Policy": USER_POLICY, "DurationSeconds": 129600, "Tags": [{"Key": "k", "Value": "v"}]}),
    ("sts", "DecodeAuthorizationMessage", {"EncodedMessage": "abc+/=def"}),
    ("sts", "GetAccessKeyInfo", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}),
]


def model(service):
    return ServiceModel(json.loads(MODELS[service].read_text()), service_name=service)


def requests():
    cases = []
    for service, operation, params in REQUESTS:
        op = model(service).operation_model(operation)
        if op.input_shape is not None:
            validate_parameters(params, op.input_shape)
        serialized = QuerySerializer().serialize_to_request(params, op)
        body = AWSRequest(method="POST", url=f"https://{service}.amazonaws.com/", data=serialized["body"]).prepare().body
        cases.append({"service": service, "operation": operation, "params": params, "body": body})
    (HERE / "requests.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")


def plain(value):
    """botocore's parsed values as JSON: timestamps as epoch seconds, blobs as base64."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def responses():
    for path in sorted((HERE / "responses").glob("*.xml")):
        service, operation, kind = path.stem.split(".")
        op = model(service).operation_model(operation)
        ok = kind.startswith("ok")
        status = 200 if ok else 400
        shape = op.output_shape if ok else None
        parsed = QueryParser().parse({"body": path.read_bytes(), "headers": {}, "status_code": status}, shape)
        # The parser copies the status and headers it was handed; only the body is under test.
        for key in ("HTTPStatusCode", "HTTPHeaders"):
            parsed["ResponseMetadata"].pop(key)
        path.with_suffix(".json").write_text(json.dumps(plain(parsed), indent=1, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    assert botocore.__version__ == "1.43.11", botocore.__version__
    {"requests": requests, "responses": responses}[sys.argv[1]]()
