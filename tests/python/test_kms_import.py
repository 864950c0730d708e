"""Imported key material (Origin EXTERNAL) through the AWS CLI, boto3 and openssl: the AWS walk-through with openssl
doing the wrapping, HMAC and RSA material whose MACs and signatures an independent implementation reproduces,
expiry on the server's clock, deletion and re-import of the same material only, and rotation to new material."""

import base64
import hashlib
import hmac
import json
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from client_helpers import audit_records, error_of, files_containing


def wrap(public_der, material, algorithm):
    """Wraps material as ImportKeyMaterial expects, with Python `cryptography`."""
    public = serialization.load_der_public_key(public_der)
    chosen = hashes.SHA256() if algorithm.endswith("SHA_256") else hashes.SHA1()
    oaep = padding.OAEP(padding.MGF1(chosen), chosen, None)
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        aes_key = os.urandom(32)
        return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)
    return public.encrypt(material, oaep)


def import_material(kms, key_id, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048", **kwargs):
    parameters = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    return kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                   EncryptedKeyMaterial=wrap(parameters["PublicKey"], material, algorithm), **kwargs)


def test_cli_walkthrough_with_openssl_wrapping(dev_server, tmp_path):
    env = dev_server.cli_env()

    def cli(*args):
        return json.loads(subprocess.run(["aws", "--endpoint-url", dev_server.endpoint, "kms", *args], env=env,
                                         check=True, capture_output=True).stdout or b"{}")

    metadata = cli("create-key", "--origin", "EXTERNAL")["KeyMetadata"]
    key_id = metadata["KeyId"]
    assert metadata["KeyState"] == "PendingImport" and metadata["Origin"] == "EXTERNAL" and not metadata["Enabled"]
    kms = dev_server.client()
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{metadata['Arn']} is pending import.")
    parameters = cli("get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
                     "--wrapping-key-spec", "RSA_2048")
    (tmp_path / "WrappingPublicKey.bin").write_bytes(base64.b64decode(parameters["PublicKey"]))
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(parameters["ImportToken"]))
    subprocess.run(["openssl", "rand", "-out", str(tmp_path / "PlaintextKeyMaterial.bin"), "32"], check=True)
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-in", str(tmp_path / "PlaintextKeyMaterial.bin"),
                    "-out", str(tmp_path / "EncryptedKeyMaterial.bin"), "-inkey", str(tmp_path / "WrappingPublicKey.bin"),
                    "-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                    "-pkeyopt", "rsa_mgf1_md:sha256"], check=True)
    imported = cli("import-key-material", "--key-id", key_id,
                   "--encrypted-key-material", f"fileb://{tmp_path / 'EncryptedKeyMaterial.bin'}",
                   "--import-token", f"fileb://{tmp_path / 'ImportToken.bin'}",
                   "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert imported["KeyId"] == metadata["Arn"] and len(imported["KeyMaterialId"]) == 64
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Enabled" and described["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert described["CurrentKeyMaterialId"] == imported["KeyMaterialId"]
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"imported"
    # Delete the material: the key waits for an import; the same material (and only it) brings it back.
    kms.delete_imported_key_material(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error_of(kms.decrypt, CiphertextBlob=sealed)[0] == "KMSInvalidStateException"
    other = os.urandom(32)
    assert error_of(import_material, kms, key_id, other, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "IncorrectKeyMaterialException",
        f"Imported key material does not have the expected identifier ({imported['KeyMaterialId']}).")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, key_id, (tmp_path / "PlaintextKeyMaterial.bin").read_bytes(), "RSAES_OAEP_SHA_1", "RSA_4096",
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"imported"


def test_imported_hmac_key_matches_an_independent_hmac(dev_server):
    kms = dev_server.client()
    key_id = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(48)
    imported = import_material(kms, key_id, material, "RSAES_OAEP_SHA_1", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert "KeyMaterialId" not in imported
    mac = kms.generate_mac(KeyId=key_id, Message=b"message", MacAlgorithm="HMAC_SHA_384")["Mac"]
    assert mac == hmac.new(material, b"message", hashlib.sha384).digest()
    short = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    assert error_of(import_material, kms, short, material[:47], ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "InvalidCiphertextException", "")


def test_imported_rsa_key_signs_as_openssl_expects(dev_server, tmp_path):
    """An openssl RSA key wrapped with openssl's AES key wrap (RSA_AES_KEY_WRAP_SHA_256) signs for openssl."""
    kms = dev_server.client()
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    assert error_of(kms.get_parameters_for_import, KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                    WrappingKeySpec="RSA_4096") == (
        "ValidationException",
        "Wrapping algorithm RSAES_OAEP_SHA_256 and wrapping key spec RSA_4096 cannot be used to import a RSA_2048 key.")
    # As AWS's guide does it: a PEM key from genpkey, made PKCS#8 DER (what ImportKeyMaterial takes) by pkcs8.
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(tmp_path / "private.pem")], check=True)
    subprocess.run(["openssl", "pkcs8", "-topk8", "-inform", "PEM", "-outform", "DER", "-nocrypt",
                    "-in", str(tmp_path / "private.pem"), "-out", str(tmp_path / "private.der")], check=True)
    subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", str(tmp_path / "private.der"), "-pubout",
                    "-outform", "DER", "-out", str(tmp_path / "public.der")], check=True)
    parameters = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                               WrappingKeySpec="RSA_4096")
    (tmp_path / "wrapping.der").write_bytes(parameters["PublicKey"])
    aes_key = os.urandom(32)
    (tmp_path / "aes.bin").write_bytes(aes_key)
    subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-K", aes_key.hex(), "-iv", "A65959A6",
                    "-in", str(tmp_path / "private.der"), "-out", str(tmp_path / "wrapped.bin")], check=True)
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-in", str(tmp_path / "aes.bin"), "-out", str(tmp_path / "aes.enc"),
                    "-inkey", str(tmp_path / "wrapping.der"), "-keyform", "DER", "-pubin",
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
                   check=True)
    kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                            EncryptedKeyMaterial=(tmp_path / "aes.enc").read_bytes() + (tmp_path / "wrapped.bin").read_bytes(),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == (tmp_path / "public.der").read_bytes()
    (tmp_path / "message").write_bytes(b"release notes")
    signature = kms.sign(KeyId=key_id, Message=b"release notes", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    (tmp_path / "signature").write_bytes(signature)
    verified = subprocess.run(["openssl", "dgst", "-sha256", "-keyform", "DER", "-verify", str(tmp_path / "public.der"),
                               "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                               "-signature", str(tmp_path / "signature"), str(tmp_path / "message")], capture_output=True)
    assert verified.returncode == 0, verified.stderr


def test_material_expires_on_the_servers_clock(dev_server):
    kms = dev_server.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    material = os.urandom(32)
    now = dev_server.advance_clock(0)["now"]
    import_material(kms, key["KeyId"], material, ValidTo=now + 3600)
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and int(described["ValidTo"].timestamp()) == int(now + 3600)
    sealed = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    # The domain clock also moves with real time (generating the wrapping key takes a moment): step from where it is.
    dev_server.advance_clock(int(now + 3600) - dev_server.advance_clock(0)["now"] - 2)
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"
    dev_server.advance_clock(3)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error_of(kms.decrypt, CiphertextBlob=sealed) == ("KMSInvalidStateException", f"{key['Arn']} is pending import.")
    # An import token lasts 24 hours.
    parameters = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
    dev_server.advance_clock(86_401)
    assert error_of(kms.import_key_material, KeyId=key["KeyId"], ImportToken=parameters["ImportToken"],
                    EncryptedKeyMaterial=wrap(parameters["PublicKey"], material, "RSAES_OAEP_SHA_256"),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")[0] == "ExpiredImportTokenException"
    import_material(kms, key["KeyId"], material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"


def test_rotation_to_new_imported_material(dev_server):
    kms = dev_server.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    first = import_material(kms, key["KeyId"], os.urandom(32), ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    assert error_of(kms.rotate_key_on_demand, KeyId=key["KeyId"]) == (
        "KMSInvalidStateException", f"No available key material pending rotation for the key: {key['Arn']}.")
    second = import_material(kms, key["KeyId"], os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                             ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialDescription="2027")
    third_material = os.urandom(32)
    code, message = error_of(import_material, kms, key["KeyId"], third_material, ImportType="NEW_KEY_MATERIAL",
                             ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "KMSInvalidStateException" and f"another key material (id: {second['KeyMaterialId']}) is pending rotation" in message
    entries = {e["KeyMaterialId"]: e for e in kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}
    assert entries[first["KeyMaterialId"]]["KeyMaterialState"] == "CURRENT"
    assert entries[second["KeyMaterialId"]]["KeyMaterialState"] == "PENDING_ROTATION"
    assert entries[second["KeyMaterialId"]]["ImportState"] == "IMPORTED" and entries[second["KeyMaterialId"]]["KeyMaterialDescription"] == "2027"
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"] != old
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == second["KeyMaterialId"]
    new = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == second["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == first["KeyMaterialId"]
    [rotation] = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert rotation["KeyMaterialId"] == second["KeyMaterialId"] and rotation["RotationType"] == "ON_DEMAND"


def test_aws_errors_for_imports(dev_server):
    kms = dev_server.client()
    native = kms.create_key()["KeyMetadata"]
    assert error_of(kms.get_parameters_for_import, KeyId=native["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                    WrappingKeySpec="RSA_2048") == (
        "UnsupportedOperationException", f"{native['Arn']} origin is AWS_KMS which is not valid for this operation.")
    assert error_of(kms.create_key, KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL") == (
        "ValidationException", "KeySpec ML_DSA_44 is not supported for Origin EXTERNAL")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert error_of(kms.enable_key, KeyId=key["KeyId"]) == ("KMSInvalidStateException", f"{key['Arn']} is pending import.")
    assert error_of(kms.get_parameters_for_import, KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                    WrappingKeySpec="RSA_2048")[0] == "ValidationException"
    material = os.urandom(32)
    parameters = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_3072")
    wrapped = wrap(parameters["PublicKey"], material, "RSAES_OAEP_SHA_256")
    for kwargs, expected in [
        ({}, ("ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": 4_000_000_000},
         ("ValidationException", "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")),
        ({"ValidTo": 1_000_000_000}, ("ValidationException", "ValidTo must be in the future")),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportToken": b"not a token"}, ("InvalidImportTokenException", "")),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "EncryptedKeyMaterial": wrapped[::-1]}, ("InvalidCiphertextException", "")),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
          "EncryptedKeyMaterial": wrap(parameters["PublicKey"], material[:16], "RSAES_OAEP_SHA_256")}, ("InvalidCiphertextException", "")),
    ]:
        call = {"KeyId": key["KeyId"], "ImportToken": parameters["ImportToken"], "EncryptedKeyMaterial": wrapped, **kwargs}
        assert error_of(kms.import_key_material, **call) == expected, kwargs
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    assert error_of(kms.import_key_material, KeyId=other, ImportToken=parameters["ImportToken"], EncryptedKeyMaterial=wrapped,
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == ("InvalidImportTokenException", "")
    assert error_of(kms.enable_key_rotation, KeyId=key["KeyId"])[0] == "KMSInvalidStateException"
    kms.import_key_material(KeyId=key["KeyId"], ImportToken=parameters["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error_of(kms.enable_key_rotation, KeyId=key["KeyId"]) == (
        "UnsupportedOperationException", f"{key['Arn']} origin is EXTERNAL which is not valid for this operation.")


def test_no_key_material_reaches_disk_or_the_audit_log(keyhaven_factory):
    """Imported material, and the private key of a data key pair, appear nowhere in the data directory or the audit
    log, raw, base64 or hex: they are kept only sealed by the root key (the canary scan)."""
    server = keyhaven_factory("--dev")
    kms = server.client()
    symmetric = os.urandom(32)
    hmac_material = os.urandom(64)
    rsa_material = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for (spec, usage, algorithm, spec_of_wrapping), material in [
        (("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "RSAES_OAEP_SHA_256", "RSA_2048"), symmetric),
        (("HMAC_512", "GENERATE_VERIFY_MAC", "RSAES_OAEP_SHA_256", "RSA_3072"), hmac_material),
        (("RSA_2048", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"), rsa_material),
    ]:
        key_id = kms.create_key(KeySpec=spec, KeyUsage=usage, Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        import_material(kms, key_id, material, algorithm, spec_of_wrapping, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    pair = kms.generate_data_key_pair(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], KeyPairSpec="ECC_NIST_P256")
    kms.sign(KeyId=kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"],
             Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    secrets = [symmetric, hmac_material, rsa_material, pair["PrivateKeyPlaintext"], pair["PrivateKeyPlaintext"][-40:]]
    needles = [form for secret in secrets for form in (secret, base64.b64encode(secret), secret.hex().encode())]
    records = json.dumps(audit_records(server)).encode()
    assert [n for n in needles if n in records] == []
    assert files_containing(server.data_dir, needles) == []
