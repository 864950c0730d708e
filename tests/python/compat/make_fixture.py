"""Writes a data directory with a binary of an earlier version, for `test_compatibility.py`.

Usage: python make_fixture.py <keyhaven binary> <output dir>

It starts the given binary in --dev mode, creates one of each kind of record (KMS keys, aliases and a
ciphertext, a key pending deletion, Parameter Store parameters of every type and tier with history,
labels, tags and a policy, Secrets Manager secrets with two versions, an IAM user with an access key
and an inline policy, a role), stops it gracefully and keeps the data directory (without the audit
reserve, which the server remakes) and `expected.json`, which the test checks against.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import boto3

binary, out = sys.argv[1], sys.argv[2]
data = tempfile.mkdtemp(prefix="keyhaven-fixture-")
process = subprocess.Popen([binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data],
                           stdout=subprocess.PIPE, text=True, env=dict(os.environ, KEYHAVEN_LOG="warn"))
endpoint = next(line.split()[3] for line in process.stdout if line.startswith("keyhaven listening on "))


def client(service, key="test", secret="test"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


kms, ssm, sm, iam = client("kms"), client("ssm"), client("secretsmanager"), client("iam")
account = client("sts").get_caller_identity()["Account"]

key = kms.create_key(Description="compat key", Tags=[{"TagKey": "team", "TagValue": "core"}])["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/compat", TargetKeyId=key)
kms.enable_key_rotation(KeyId=key)
context = {"purpose": "compat"}
blob = kms.encrypt(KeyId="alias/compat", Plaintext=b"compat plaintext", EncryptionContext=context)["CiphertextBlob"]
disabled = kms.create_key(Description="disabled")["KeyMetadata"]["KeyId"]
kms.disable_key(KeyId=disabled)
doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)

ssm.put_parameter(Name="/compat/plain", Value="v1", Type="String")
ssm.put_parameter(Name="/compat/plain", Value="v2", Type="String", Overwrite=True)
ssm.label_parameter_version(Name="/compat/plain", ParameterVersion=1, Labels=["first"])
ssm.put_parameter(Name="/compat/list", Value="a,b", Type="StringList",
                  Tags=[{"Key": "env", "Value": "test"}])
ssm.put_parameter(Name="/compat/secure", Value="standard secret", Type="SecureString", KeyId="alias/compat")
ssm.put_parameter(Name="/compat/advanced", Value="advanced secret", Type="SecureString", Tier="Advanced")
ssm.put_parameter(Name="/compat/expiring", Value="x", Type="String", Tier="Advanced",
                  Policies=json.dumps([{"Type": "Expiration", "Version": "1.0",
                                        "Attributes": {"Timestamp": "2099-01-01T00:00:00.000Z"}}]))

sm.create_secret(Name="compat/db", SecretString="first password", Tags=[{"Key": "app", "Value": "db"}])
sm.put_secret_value(SecretId="compat/db", SecretString="second password")
sm.create_secret(Name="compat/binary", SecretBinary=b"\x00\x01binary", KmsKeyId="alias/compat")

iam.create_user(UserName="alice", Tags=[{"Key": "dept", "Value": "ops"}])
iam.put_user_policy(UserName="alice", PolicyName="decrypt-only", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:Decrypt", "ssm:GetParameter"], "Resource": "*"}],
}))
access = iam.create_access_key(UserName="alice")["AccessKey"]
iam.create_role(RoleName="compat-role", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
}))

process.send_signal(signal.SIGTERM)
assert process.wait(timeout=30) == 0
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
for name in sorted(os.listdir(data)):
    if name != "audit.reserve":
        shutil.copy2(os.path.join(data, name), os.path.join(out, name))
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump({
        "account": account,
        "key": key,
        "disabled": disabled,
        "doomed": doomed,
        "ciphertext": base64.b64encode(blob).decode(),
        "context": context,
        "alice": {"AccessKeyId": access["AccessKeyId"], "SecretAccessKey": access["SecretAccessKey"]},
    }, f, indent=2)
    f.write("\n")
shutil.rmtree(data)
print(sorted(os.listdir(out)))
