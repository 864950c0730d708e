"""KMS through boto3 and the AWS CLI, used as their users use them."""

import base64
import json
import os
import sqlite3
import subprocess

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def aws(server, *args, extra_env=None, check=True):
    env = server.cli_env()
    env.update(extra_env or {})
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, check=check)


def test_cli_tutorial_round_trip(dev_server, tmp_path):
    key_id = json.loads(aws(dev_server, "kms", "create-key", "--description", "tutorial").stdout)["KeyMetadata"]["KeyId"]
    aws(dev_server, "kms", "create-alias", "--alias-name", "alias/tutorial", "--target-key-id", key_id)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"my database password\n")
    blob = tmp_path / "blob"
    env = " ".join(f"{k}={v}" for k, v in dev_server.cli_env().items() if k.startswith("AWS_"))
    subprocess.run(
        f"{env} aws --endpoint-url {dev_server.endpoint} kms encrypt --key-id alias/tutorial "
        f"--plaintext fileb://{secret} --output text --query CiphertextBlob | base64 --decode > {blob}",
        shell=True, check=True,
    )
    out = subprocess.run(
        f"{env} aws --endpoint-url {dev_server.endpoint} kms decrypt --ciphertext-blob fileb://{blob} "
        f"--output text --query Plaintext | base64 --decode",
        shell=True, check=True, capture_output=True,
    ).stdout
    assert out == secret.read_bytes()


def test_cli_reports_aws_errors(dev_server):
    result = aws(dev_server, "kms", "describe-key", "--key-id", "fake-key-id", check=False)
    assert result.returncode != 0
    assert b"NotFoundException" in result.stderr and b"Invalid keyId 'fake-key-id'" in result.stderr


def test_boto3_envelope_encryption(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key(Description="envelope")["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"app": "demo"})
    nonce = os.urandom(12)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, b"payload", None)
    recovered = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext={"app": "demo"})["Plaintext"]
    assert AESGCM(recovered).decrypt(nonce, sealed, None) == b"payload"
    with pytest.raises(ClientError) as err:
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext={"app": "other"})
    assert err.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_boto3_paginators_and_key_policy(dev_server):
    kms = dev_server.client()
    ids = sorted(kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5))
    listed = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}) for k in page["Keys"]]
    assert listed == ids
    policy = json.loads(kms.get_key_policy(KeyId=ids[0], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    assert kms.list_key_policies(KeyId=ids[0])["PolicyNames"] == ["default"]
    new_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*"}]}
    kms.put_key_policy(KeyId=ids[0], PolicyName="default", Policy=json.dumps(new_policy))
    assert json.loads(kms.get_key_policy(KeyId=ids[0])["Policy"]) == new_policy
    with pytest.raises(ClientError) as err:
        kms.put_key_policy(KeyId=ids[0], PolicyName="default", Policy="{not json")
    assert err.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"


def test_production_mode_with_generated_credentials_profile(keyhaven_factory):
    server = keyhaven_factory()
    credentials_file = os.path.join(server.data_dir, "root-credentials")
    env_clean = {k: v for k, v in server.cli_env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env_clean["AWS_SHARED_CREDENTIALS_FILE"] = credentials_file
    ok = subprocess.run(["aws", "--profile", "keyhaven", "--endpoint-url", server.endpoint, "kms", "create-key"], env=env_clean, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    denied = aws(server, "kms", "list-keys", check=False)
    assert b"UnrecognizedClientException" in denied.stderr, "unknown keys are refused outside --dev"


def test_tls_with_self_signed_certificate(keyhaven_factory):
    server = keyhaven_factory("--dev", "--tls-self-signed")
    assert server.endpoint.startswith("https://")
    cert = os.path.join(server.data_dir, "tls", "cert.pem")
    kms = server.client(verify=cert)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"
    listed = aws(server, "--ca-bundle", cert, "kms", "list-keys")
    assert key_id.encode() in listed.stdout
    refused = aws(server, "kms", "list-keys", check=False)
    assert refused.returncode != 0, "an unknown self-signed certificate must not be trusted by default"


def test_blob_and_root_sealing_match_the_documented_format(keyhaven_factory):
    """Decrypts a KMS ciphertext with Python's `cryptography` alone, following ARCHITECTURE.md."""
    root_key = os.urandom(32)
    # The sealed records are read from SQLite's file, whatever store the suite runs on.
    server = keyhaven_factory("--dev", env={"KEYHAVEN_ROOT_KEY": base64.b64encode(root_key).decode(),
                                            "KEYHAVEN_STORE": "sqlite"})
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"b": "2", "a": "1"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"cross-checked", EncryptionContext=context)["CiphertextBlob"]
    server.stop()

    db = sqlite3.connect(os.path.join(server.data_dir, "keyhaven.db"))
    (body,) = db.execute("SELECT body FROM records WHERE kind = 'kms-key' AND id = ?", (key_id,)).fetchone()
    material = json.loads(body)["materials"][0]
    sealed = base64.b64decode(material["sealed"])
    assert sealed[0] == 1
    label = f"kms-material/{key_id}/{material['id']}".encode()
    backing_key = AESGCM(root_key).decrypt(sealed[1:13], sealed[13:], label)

    assert blob[0] == 1
    key_uuid, material_id = blob[1:17], blob[17:49]
    assert key_uuid.hex() == key_id.replace("-", "") and material_id.hex() == material["id"]
    derivation_nonce, iv, body = blob[49:81], blob[81:93], blob[93:]
    message_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=derivation_nonce,
                       info=b"keyhaven/kms/blob/v1" + key_uuid + material_id).derive(backing_key)
    aad = blob[:93] + len(context).to_bytes(4, "big")
    for k, v in sorted(context.items()):
        aad += len(k).to_bytes(4, "big") + k.encode() + len(v).to_bytes(4, "big") + v.encode()
    assert AESGCM(message_key).decrypt(iv, body, aad) == b"cross-checked"


def test_list_aliases_shows_aws_predefined_aliases_until_their_keys_exist(dev_server):
    """AWS lists its predefined aliases of AWS managed keys with no TargetKeyId until a service creates the key."""
    kms = dev_server.client()
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert {"alias/aws/ebs", "alias/aws/s3", "alias/aws/ssm", "alias/aws/secretsmanager"} <= set(aliases)
    assert all("TargetKeyId" not in a and "CreationDate" not in a for a in aliases.values())
    assert aliases["alias/aws/ssm"]["AliasArn"] == f"arn:aws:kms:us-east-1:{dev_server.client('sts').get_caller_identity()['Account']}:alias/aws/ssm"
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert names == sorted(names)
    dev_server.client("ssm").put_parameter(Name="/p", Value="v", Type="SecureString")
    ssm_alias = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}["alias/aws/ssm"]
    assert kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyId"] == ssm_alias["TargetKeyId"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []
