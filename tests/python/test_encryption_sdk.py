"""`keyhaven encrypt` / `keyhaven decrypt` against aws-encryption-cli 4.x and the Python aws-encryption-sdk: messages
under KMS keys on keyhaven and under raw AES and RSA keys travel both ways; failures leave no output; data-key
caching cuts GenerateDataKey calls, counted in the audit log."""

import base64
import json
import os
import subprocess

import aws_encryption_sdk
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.key_providers.raw import RawMasterKey, WrappingKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from client_helpers import audit_records
from conftest import BINARY


def client_env(server):
    return dict(server.cli_env(), AWS_ENDPOINT_URL=server.endpoint, AWS_REGION="us-east-1")


def keyhaven(server, *args, check=True, stdin=None):
    result = subprocess.run([BINARY, *args], env=client_env(server), capture_output=True, input=stdin)
    if check and result.returncode != 0:
        pytest.fail(f"keyhaven {' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return result


def encryption_cli(server, *args, check=True):
    result = subprocess.run(["aws-encryption-cli", *args], env=client_env(server), capture_output=True)
    if check and result.returncode != 0:
        pytest.fail(f"aws-encryption-cli {' '.join(args)} failed: {result.stderr.decode()}")
    return result


def new_key(server, **kwargs):
    return server.client().create_key(**kwargs)["KeyMetadata"]["Arn"]


@pytest.fixture
def files(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(300_001))
    return tmp_path, plain


def test_kms_messages_travel_both_ways_between_keyhaven_and_aws_encryption_cli(dev_server, files):
    tmp, plain = files
    key = new_key(dev_server)
    ours, theirs = tmp / "ours.enc", tmp / "theirs.enc"
    keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(ours), "-w", f"key={key}", "-c", "purpose=test",
             "--metadata-output", str(tmp / "ours.json"))
    encryption_cli(dev_server, "-d", "-i", str(ours), "-o", str(tmp / "ours.dec"), "-w", f"key={key}",
                   "-c", "purpose=test", "--metadata-output", str(tmp / "theirs-decrypt.json"))
    assert (tmp / "ours.dec").read_bytes() == plain.read_bytes()

    encryption_cli(dev_server, "-e", "-i", str(plain), "-o", str(theirs), "-w", f"key={key}", "-c", "purpose=test",
                   "--metadata-output", str(tmp / "theirs.json"))
    keyhaven(dev_server, "decrypt", "-i", str(theirs), "-o", str(tmp / "theirs.dec"), "-w", f"key={key}",
             "-c", "purpose=test", "--metadata-output", str(tmp / "ours-decrypt.json"))
    assert (tmp / "theirs.dec").read_bytes() == plain.read_bytes()

    # The metadata records have aws-encryption-cli's shape.
    ours_record = json.loads((tmp / "ours.json").read_text())
    theirs_record = json.loads((tmp / "theirs.json").read_text())
    assert ours_record.keys() == theirs_record.keys() and ours_record["mode"] == "encrypt"
    assert ours_record["header"].keys() == theirs_record["header"].keys()
    assert ours_record["header"]["algorithm"] == "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
    assert ours_record["header"]["encryption_context"]["purpose"] == "test"
    [data_key] = ours_record["header"]["encrypted_data_keys"]
    assert base64.b64decode(data_key["key_provider"]["key_info"]).decode() == key
    decrypt_record = json.loads((tmp / "ours-decrypt.json").read_text())
    their_decrypt_record = json.loads((tmp / "theirs-decrypt.json").read_text())
    assert decrypt_record.keys() == their_decrypt_record.keys() and decrypt_record["header_auth"]["tag"]


def test_directory_trees_and_pipes_use_aws_encryption_cli_names_and_encodings(dev_server, tmp_path):
    key = new_key(dev_server)
    source, encrypted, decrypted = tmp_path / "src", tmp_path / "enc", tmp_path / "dec"
    (source / "nested").mkdir(parents=True)
    for path, size in [("a.txt", 10), ("nested/b.bin", 70_000), ("nested/empty", 0)]:
        (source / path).write_bytes(os.urandom(size))
    encrypted.mkdir()
    decrypted.mkdir()
    keyhaven(dev_server, "encrypt", "-r", "-i", str(source), "-o", str(encrypted), "-w", f"key={key}", "-S")
    assert sorted(str(p.relative_to(encrypted)) for p in encrypted.rglob("*") if p.is_file()) == [
        "a.txt.encrypted", "nested/b.bin.encrypted", "nested/empty.encrypted"]
    encryption_cli(dev_server, "-d", "-r", "-i", str(encrypted), "-o", str(decrypted), "-w", f"key={key}", "-S")
    for path in ["a.txt", "nested/b.bin", "nested/empty"]:
        assert (decrypted / f"{path}.encrypted.decrypted").read_bytes() == (source / path).read_bytes()

    # Standard input to standard output, base64 on the way out and in.
    encoded = keyhaven(dev_server, "encrypt", "-i", "-", "-o", "-", "-w", f"key={key}", "--encode", "-S",
                       stdin=b"piped secret").stdout
    base64.b64decode(encoded, validate=True)
    (tmp_path / "piped.b64").write_bytes(encoded)
    out = encryption_cli(dev_server, "-d", "--decode", "-i", str(tmp_path / "piped.b64"), "-o", "-",
                         "-w", f"key={key}", "-S").stdout
    assert out == b"piped secret"


def test_discovery_multiple_keys_and_multi_region_replicas_decrypt(dev_server, files):
    tmp, plain = files
    kms = dev_server.client()
    first, second = new_key(dev_server), new_key(dev_server)
    account = first.split(":")[4]
    message = tmp / "two.enc"
    encryption_cli(dev_server, "-e", "-i", str(plain), "-o", str(message), "-w", f"key={first}", f"key={second}", "-S")
    kms.disable_key(KeyId=first)
    keyhaven(dev_server, "decrypt", "-i", str(message), "-o", str(tmp / "second.dec"), "-w", f"key={second}", "-S")
    assert (tmp / "second.dec").read_bytes() == plain.read_bytes()
    keyhaven(dev_server, "decrypt", "-i", str(message), "-o", str(tmp / "found.dec"),
             "-w", "discovery=true", "discovery-partition=aws", f"discovery-account={account}", "-S")
    assert (tmp / "found.dec").read_bytes() == plain.read_bytes()
    refused = keyhaven(dev_server, "decrypt", "-i", str(message), "-o", str(tmp / "other.dec"),
                       "-w", "discovery=true", "discovery-partition=aws", "discovery-account=111122223333", "-S",
                       check=False)
    assert refused.returncode == 1 and b"outside the discovery filter" in refused.stderr
    assert not (tmp / "other.dec").exists()

    # A multi-Region key's replica decrypts what the primary's data key wrapped (strict, MRK-aware).
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="us-west-2")["ReplicaKeyMetadata"]["Arn"]
    keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(tmp / "mrk.enc"), "-w", f"key={primary['Arn']}", "-S")
    encryption_cli(dev_server, "-d", "-i", str(tmp / "mrk.enc"), "-o", str(tmp / "theirs-mrk.dec"),
                   "-w", f"key={replica}", "-S")
    keyhaven(dev_server, "decrypt", "-i", str(tmp / "mrk.enc"), "-o", str(tmp / "mrk.dec"), "-w", f"key={replica}",
             "-S")
    assert (tmp / "mrk.dec").read_bytes() == (tmp / "theirs-mrk.dec").read_bytes() == plain.read_bytes()


def test_wrong_keys_tampering_and_truncation_fail_clearly_and_leave_no_output(dev_server, files):
    tmp, plain = files
    key, other = new_key(dev_server), new_key(dev_server)
    message = tmp / "m.enc"
    keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(message), "-w", f"key={key}", "-S")
    data = message.read_bytes()
    out = tmp / "out"
    out.write_bytes(b"earlier contents")

    def refused(blob, *keys, needle):
        (tmp / "bad.enc").write_bytes(blob)
        result = keyhaven(dev_server, "decrypt", "-i", str(tmp / "bad.enc"), "-o", str(out),
                          "-w", *(keys or [f"key={key}"]), "-S", check=False)
        assert result.returncode == 1, result.stderr
        assert needle in result.stderr.decode(), result.stderr
        # Nothing was written: the earlier file is intact and no temporary file is left behind.
        assert out.read_bytes() == b"earlier contents"
        assert sorted(p.name for p in tmp.iterdir()) == ["bad.enc", "m.enc", "out", "plain.bin"]

    refused(data, f"key={other}", needle="unable to decrypt any data key")
    middle = bytearray(data)
    middle[len(data) // 2] ^= 1
    refused(bytes(middle), needle="a frame does not authenticate")
    refused(data[:-120], needle="truncated")
    signature = bytearray(data)
    signature[-5] ^= 1
    refused(bytes(signature), needle="signature does not verify")
    refused(data + b"x", needle="followed by unexpected data")
    refused(b"not a message at all", needle="not a valid encrypted message")

    # --buffer to standard output writes nothing when the signature fails.
    (tmp / "bad.enc").write_bytes(bytes(signature))
    result = keyhaven(dev_server, "decrypt", "-i", str(tmp / "bad.enc"), "-o", "-", "-b", "-w", f"key={key}", "-S",
                      check=False)
    assert result.returncode == 1 and result.stdout == b""


def test_commitment_policy_context_checks_and_data_key_limits(dev_server, files):
    tmp, plain = files
    key, other = new_key(dev_server), new_key(dev_server)
    legacy = tmp / "legacy.enc"
    encryption_cli(dev_server, "-e", "-i", str(plain), "-o", str(legacy), "-w", f"key={key}", "-S",
                   "--commitment-policy", "forbid-encrypt-allow-decrypt", "-c", "team=blue")
    result = keyhaven(dev_server, "decrypt", "-i", str(legacy), "-o", str(tmp / "l.dec"), "-w", f"key={key}", "-S",
                      check=False)
    assert result.returncode == 1 and b"non-committing suite" in result.stderr
    keyhaven(dev_server, "decrypt", "-i", str(legacy), "-o", str(tmp / "l.dec"), "-w", f"key={key}", "-S",
             "--commitment-policy", "require-encrypt-allow-decrypt", "-c", "team=blue", "team")
    assert (tmp / "l.dec").read_bytes() == plain.read_bytes()
    result = keyhaven(dev_server, "decrypt", "-i", str(legacy), "-o", str(tmp / "l2.dec"), "-w", f"key={key}", "-S",
                      "--commitment-policy", "require-encrypt-allow-decrypt", "-c", "team=red", check=False)
    assert result.returncode == 1 and b"does not contain team=red" in result.stderr
    assert not (tmp / "l2.dec").exists()

    two = tmp / "two.enc"
    keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(two), "-w", f"key={key}", f"key={other}", "-S")
    result = keyhaven(dev_server, "decrypt", "-i", str(two), "-o", str(tmp / "t.dec"), "-w", f"key={key}", "-S",
                      "--max-encrypted-data-keys", "1", check=False)
    assert result.returncode == 1 and b"more than the maximum of 1" in result.stderr
    encryption_cli(dev_server, "-d", "-i", str(two), "-o", str(tmp / "t.dec"), "-w", f"key={other}", "-S",
                   "--max-encrypted-data-keys", "2")
    assert (tmp / "t.dec").read_bytes() == plain.read_bytes()
    usage = keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(tmp / "x"), "-w", f"key={key}",
                     "discovery=true", "-S", check=False)
    assert usage.returncode == 2 and b"Discovery attributes are supported only on decryption" in usage.stderr


def raw_aes_key(material):
    return RawMasterKey(provider_id="acme", key_id=b"aes-key", wrapping_key=WrappingKey(
        wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, wrapping_key=material,
        wrapping_key_type=EncryptionKeyType.SYMMETRIC))


def raw_rsa_key(pem):
    return RawMasterKey(provider_id="acme", key_id=b"rsa-key", wrapping_key=WrappingKey(
        wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1, wrapping_key=pem,
        wrapping_key_type=EncryptionKeyType.PRIVATE))


@pytest.mark.parametrize("kind", ["aes", "rsa"])
def test_raw_key_messages_travel_both_ways_with_the_python_sdk(dev_server, files, kind):
    tmp, plain = files
    if kind == "aes":
        material = os.urandom(32)
        (tmp / "wrapping.key").write_bytes(material)
        provider = raw_aes_key(material)
        wrapping = ["provider=raw-aes", "namespace=acme", "key=aes-key", f"key-file={tmp / 'wrapping.key'}"]
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        (tmp / "private.pem").write_bytes(pem)
        provider = raw_rsa_key(pem)
        wrapping = ["provider=raw-rsa", "namespace=acme", "key=rsa-key", f"private-key-file={tmp / 'private.pem'}",
                    "padding=oaep-sha256"]
    sdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    keyhaven(dev_server, "encrypt", "-i", str(plain), "-o", str(tmp / "ours.enc"), "-w", *wrapping, "-S",
             "-c", "tenant=42", "--frame-length", "1000")
    decrypted, header = sdk.decrypt(source=(tmp / "ours.enc").read_bytes(), key_provider=provider)
    assert decrypted == plain.read_bytes() and header.encryption_context["tenant"] == "42"
    assert header.frame_length == 1000

    theirs, _ = sdk.encrypt(source=plain.read_bytes(), key_provider=provider, encryption_context={"tenant": "42"})
    (tmp / "theirs.enc").write_bytes(theirs)
    keyhaven(dev_server, "decrypt", "-i", str(tmp / "theirs.enc"), "-o", str(tmp / "theirs.dec"), "-w", *wrapping,
             "-S", "-c", "tenant=42")
    assert (tmp / "theirs.dec").read_bytes() == plain.read_bytes()


def generate_data_key_calls(server):
    return sum(1 for r in audit_records(server) if r.get("eventName") == "GenerateDataKey")


@pytest.mark.parametrize("caching", [True, False])
def test_data_key_caching_encrypts_many_files_with_a_handful_of_kms_calls(keyhaven_factory, tmp_path, caching):
    server = keyhaven_factory("--dev")
    key = new_key(server)
    files = 1000 if caching else 40
    source, out = tmp_path / "many", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    for i in range(files):
        (source / f"f{i:04}").write_bytes(os.urandom(100))
    cache = ["--caching", "capacity=10", "max_age=300"] if caching else []
    keyhaven(server, "encrypt", "-r", "-i", str(source), "-o", str(out), "-w", f"key={key}", "-S", *cache)
    assert len(list(out.iterdir())) == files
    sample = out / "f0999.encrypted" if caching else out / "f0039.encrypted"
    keyhaven(server, "decrypt", "-i", str(sample), "-o", str(tmp_path / "sample"), "-w", f"key={key}", "-S")
    assert (tmp_path / "sample").read_bytes() == (source / sample.name.removesuffix(".encrypted")).read_bytes()
    calls = generate_data_key_calls(server)
    if caching:
        assert 1 <= calls <= 3, calls
    else:
        assert calls == files


def test_caching_limits_per_data_key_start_new_data_keys(keyhaven_factory, tmp_path):
    server = keyhaven_factory("--dev")
    key = new_key(server)
    source, out = tmp_path / "many", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    for i in range(30):
        (source / f"f{i:02}").write_bytes(os.urandom(100))
    keyhaven(server, "encrypt", "-r", "-i", str(source), "-o", str(out), "-w", f"key={key}", "-S",
             "--caching", "capacity=10", "max_age=300", "max_messages_encrypted=10")
    assert generate_data_key_calls(server) == 3
