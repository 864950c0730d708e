"""S3 client-side encryption: `keyhaven s3 cp` and amazon-s3-encryption-client-python 4.0.0 read each other's objects
in keyhaven's S3 (message formats v3 and v2 under a KMS key on keyhaven), and objects under raw AES and RSA keys
(which the Python client cannot make: its keyrings are KMS only) are checked against an independent implementation
of the format with Python's `cryptography`. The server only ever holds ciphertext."""

import base64
import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.keyring import AbstractKeyring
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

from conftest import BINARY

BUCKET = "cse"


def client_env(server):
    return dict(server.cli_env(), AWS_ENDPOINT_URL=server.endpoint, AWS_REGION="us-east-1")


def keyhaven(server, *args, check=True):
    result = subprocess.run([BINARY, "s3", "cp", *args], env=client_env(server), capture_output=True)
    if check and result.returncode != 0:
        pytest.fail(f"keyhaven s3 cp {' '.join(args)} failed: {result.stderr.decode()}")
    return result


def plain_s3(server):
    return server.client("s3", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(dev_server, tmp_path):
    plain_s3(dev_server).create_bucket(Bucket=BUCKET)
    plaintext = os.urandom(100_003)
    (tmp_path / "plain").write_bytes(plaintext)
    return dev_server, tmp_path, plaintext


def python_client(server, key_id, **config):
    return S3EncryptionClient(plain_s3(server), S3EncryptionClientConfig(keyring=KmsKeyring(server.client(), key_id),
                                                                         **config))


def test_kms_objects_travel_both_ways_with_the_python_s3_encryption_client(bucket):
    server, tmp, plaintext = bucket
    key = server.client().create_key()["KeyMetadata"]["KeyId"]
    python = python_client(server, key)
    python.put_object(Bucket=BUCKET, Key="from-python", Body=plaintext, EncryptionContext={"team": "blue"})
    keyhaven(server, f"s3://{BUCKET}/from-python", str(tmp / "got"), "--kms-key-id", key, "-c", "team=blue")
    assert (tmp / "got").read_bytes() == plaintext

    keyhaven(server, str(tmp / "plain"), f"s3://{BUCKET}/from-keyhaven", "--kms-key-id", key, "-c", "team=blue")
    got = python.get_object(Bucket=BUCKET, Key="from-keyhaven", EncryptionContext={"team": "blue"})
    assert got["Body"].read() == plaintext

    # What the server holds is ciphertext in the v3 format, bound to the context.
    stored = plain_s3(server).get_object(Bucket=BUCKET, Key="from-keyhaven")
    assert stored["Body"].read()[:-16] != plaintext
    metadata = stored["Metadata"]
    assert metadata["x-amz-c"] == "115" and metadata["x-amz-w"] == "12"
    assert json.loads(metadata["x-amz-t"]) == {"team": "blue", "aws:x-amz-cek-alg": "115"}
    assert len(base64.b64decode(metadata["x-amz-i"])) == 28 and len(base64.b64decode(metadata["x-amz-d"])) == 28

    # The context must be the one the object was encrypted under.
    wrong = keyhaven(server, f"s3://{BUCKET}/from-python", str(tmp / "wrong"), "--kms-key-id", key, "-c", "team=red",
                     check=False)
    assert wrong.returncode == 1 and b"encryption context" in wrong.stderr and not (tmp / "wrong").exists()


def test_v2_objects_need_a_commitment_policy_that_allows_them(bucket):
    server, tmp, plaintext = bucket
    key = server.client().create_key()["KeyMetadata"]["Arn"]
    legacy = python_client(server, key, encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
                           commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    legacy.put_object(Bucket=BUCKET, Key="v2-python", Body=plaintext)
    refused = keyhaven(server, f"s3://{BUCKET}/v2-python", str(tmp / "v2"), "--kms-key-id", key, check=False)
    assert refused.returncode == 1 and b"does not commit" in refused.stderr
    keyhaven(server, f"s3://{BUCKET}/v2-python", str(tmp / "v2"), "--kms-key-id", key,
             "--commitment-policy", "require-encrypt-allow-decrypt")
    assert (tmp / "v2").read_bytes() == plaintext

    keyhaven(server, str(tmp / "plain"), f"s3://{BUCKET}/v2-keyhaven", "--kms-key-id", key, "--format", "v2")
    reader = python_client(server, key, commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
    assert reader.get_object(Bucket=BUCKET, Key="v2-keyhaven")["Body"].read() == plaintext
    assert plain_s3(server).head_object(Bucket=BUCKET, Key="v2-keyhaven")["Metadata"]["x-amz-cek-alg"] == (
        "AES/GCM/NoPadding")


class RawKeyring(AbstractKeyring):
    """A decrypt-only keyring for raw AES-GCM and RSA-OAEP-SHA1 wrapped data keys, written from the format's
    specification with `cryptography` (the Python client ships none)."""

    def __init__(self, aes_key=None, rsa_key=None):
        self.aes_key, self.rsa_key = aes_key, rsa_key

    def on_encrypt(self, enc_materials):
        raise NotImplementedError

    def on_decrypt(self, dec_materials, encrypted_data_keys=None):
        [edk] = encrypted_data_keys or dec_materials.encrypted_data_keys
        bound = b"115" if dec_materials.iv is None else b"AES/GCM/NoPadding"
        wrapped = edk.encrypted_data_key
        if self.aes_key:
            dec_materials.plaintext_data_key = AESGCM(self.aes_key).decrypt(wrapped[:12], wrapped[12:], bound)
        else:
            payload = self.rsa_key.decrypt(wrapped, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
            assert payload[0] == 32 and payload[33:] == bound
            dec_materials.plaintext_data_key = payload[1:33]
        return dec_materials


def v3_object(data_key, wrapped, wrap_code, plaintext):
    """A v3 object built independently: HKDF-SHA512 key and commitment, AES-GCM under the all-ones IV."""
    message_id = os.urandom(28)

    def derive(label, length):
        return HKDF(hashes.SHA512(), length, message_id, b"\x00\x73" + label).derive(data_key)

    body = AESGCM(derive(b"DERIVEKEY", 32)).encrypt(b"\x01" * 12, plaintext, b"\x00\x73")
    metadata = {"x-amz-c": "115", "x-amz-3": base64.b64encode(wrapped).decode(), "x-amz-w": wrap_code,
                "x-amz-d": base64.b64encode(derive(b"COMMITKEY", 28)).decode(),
                "x-amz-i": base64.b64encode(message_id).decode()}
    return body, metadata


@pytest.mark.parametrize("kind", ["aes", "rsa"])
def test_raw_key_objects_match_an_independent_implementation_of_the_format(bucket, kind):
    server, tmp, plaintext = bucket
    data_key = os.urandom(32)
    if kind == "aes":
        wrapping = os.urandom(32)
        (tmp / "key").write_bytes(wrapping)
        args, keyring, code = ["--aes-key-file", str(tmp / "key")], RawKeyring(aes_key=wrapping), "02"
        iv = os.urandom(12)
        wrapped = iv + AESGCM(wrapping).encrypt(iv, data_key, b"115")
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (tmp / "key.pem").write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        args, keyring, code = ["--rsa-private-key-file", str(tmp / "key.pem")], RawKeyring(rsa_key=private), "22"
        wrapped = private.public_key().encrypt(bytes([32]) + data_key + b"115",
                                               padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    # Made by the independent implementation, read by keyhaven.
    body, metadata = v3_object(data_key, wrapped, code, plaintext)
    plain_s3(server).put_object(Bucket=BUCKET, Key="raw-made", Body=body, Metadata=metadata)
    keyhaven(server, f"s3://{BUCKET}/raw-made", str(tmp / "made"), *args)
    assert (tmp / "made").read_bytes() == plaintext
    # Made by keyhaven (with a material description), read by the Python client through the independent keyring.
    keyhaven(server, str(tmp / "plain"), f"s3://{BUCKET}/raw-keyhaven", *args, "-c", "owner=ops")
    reader = S3EncryptionClient(plain_s3(server), S3EncryptionClientConfig(keyring=keyring))
    assert reader.get_object(Bucket=BUCKET, Key="raw-keyhaven", EncryptionContext={"owner": "ops"})[
        "Body"].read() == plaintext
    stored = plain_s3(server).head_object(Bucket=BUCKET, Key="raw-keyhaven")["Metadata"]
    assert stored["x-amz-w"] == code and json.loads(stored["x-amz-m"]) == {"owner": "ops"}

    # A flipped commitment, and a body that does not authenticate, are refused and write nothing.
    tampered = dict(metadata, **{"x-amz-d": base64.b64encode(bytes(28)).decode()})
    plain_s3(server).put_object(Bucket=BUCKET, Key="tampered", Body=body, Metadata=tampered)
    result = keyhaven(server, f"s3://{BUCKET}/tampered", str(tmp / "t"), *args, check=False)
    assert result.returncode == 1 and b"key commitment" in result.stderr and not (tmp / "t").exists()
    plain_s3(server).put_object(Bucket=BUCKET, Key="flipped", Body=bytes([body[0] ^ 1]) + body[1:], Metadata=metadata)
    result = keyhaven(server, f"s3://{BUCKET}/flipped", str(tmp / "f"), *args, check=False)
    assert result.returncode == 1 and b"does not authenticate" in result.stderr and not (tmp / "f").exists()


def test_instruction_files_hold_the_wrapped_key_when_the_metadata_does_not(bucket):
    server, tmp, plaintext = bucket
    wrapping, data_key, iv = os.urandom(32), os.urandom(32), os.urandom(12)
    (tmp / "key").write_bytes(wrapping)
    wrapped = iv + AESGCM(wrapping).encrypt(iv, data_key, b"115")
    body, metadata = v3_object(data_key, wrapped, "02", plaintext)
    instruction = {"x-amz-3": metadata.pop("x-amz-3"), "x-amz-w": metadata.pop("x-amz-w")}
    s3 = plain_s3(server)
    s3.put_object(Bucket=BUCKET, Key="with-file", Body=body, Metadata=metadata)
    s3.put_object(Bucket=BUCKET, Key="with-file.instruction", Body=json.dumps(instruction).encode())
    keyhaven(server, f"s3://{BUCKET}/with-file", str(tmp / "got"), "--aes-key-file", str(tmp / "key"))
    assert (tmp / "got").read_bytes() == plaintext


def test_ranged_downloads_decrypt_part_of_an_object(bucket):
    server, tmp, plaintext = bucket
    key = server.client().create_key()["KeyMetadata"]["Arn"]
    python_client(server, key).put_object(Bucket=BUCKET, Key="v3", Body=plaintext)
    python_client(server, key, encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
                  commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).put_object(
        Bucket=BUCKET, Key="v2", Body=plaintext)
    for name, policy in [("v3", []), ("v2", ["--commitment-policy", "require-encrypt-allow-decrypt"])]:
        for first, last, expected in [(0, 15, plaintext[:16]), (1000, 2999, plaintext[1000:3000]),
                                      (17, 17, plaintext[17:18]), (99_990, "", plaintext[99_990:]),
                                      (100_000, 200_000, plaintext[100_000:])]:
            out = tmp / f"{name}-{first}"
            result = keyhaven(server, f"s3://{BUCKET}/{name}", str(out), "--kms-key-id", key,
                              "--range", f"bytes={first}-{last}", *policy)
            assert out.read_bytes() == expected, (name, first, last)
            assert b"not authenticated" in result.stderr
        refused = keyhaven(server, f"s3://{BUCKET}/{name}", str(tmp / "none"), "--kms-key-id", key,
                           "--range", f"bytes={len(plaintext)}-", *policy, check=False)
        assert refused.returncode == 1 and b"InvalidRange" in refused.stderr and not (tmp / "none").exists()


@pytest.mark.parametrize("format_version", ["v3", "v2"])
def test_instruction_files_written_by_keyhaven_are_read_by_the_python_client(bucket, format_version):
    server, tmp, plaintext = bucket
    key = server.client().create_key()["KeyMetadata"]["Arn"]
    keyhaven(server, str(tmp / "plain"), f"s3://{BUCKET}/separate", "--kms-key-id", key, "-c", "app=x",
             "--format", format_version, "--instruction-file")
    stored = plain_s3(server).head_object(Bucket=BUCKET, Key="separate")["Metadata"]
    instruction = json.loads(plain_s3(server).get_object(Bucket=BUCKET, Key="separate.instruction")["Body"].read())
    if format_version == "v3":
        assert sorted(stored) == ["x-amz-c", "x-amz-d", "x-amz-i"]
        assert sorted(instruction) == ["x-amz-3", "x-amz-t", "x-amz-w"]
    else:
        assert stored == {} and instruction["x-amz-cek-alg"] == "AES/GCM/NoPadding"
    policy = {} if format_version == "v3" else {"commitment_policy": CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT}
    got = python_client(server, key, **policy).get_object(Bucket=BUCKET, Key="separate", EncryptionContext={"app": "x"})
    assert got["Body"].read() == plaintext
    policy_args = [] if format_version == "v3" else ["--commitment-policy", "require-encrypt-allow-decrypt"]
    keyhaven(server, f"s3://{BUCKET}/separate", str(tmp / "back"), "--kms-key-id", key, "-c", "app=x", *policy_args)
    assert (tmp / "back").read_bytes() == plaintext
