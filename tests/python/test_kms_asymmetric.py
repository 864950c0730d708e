"""KMS asymmetric and HMAC keys through boto3 and the AWS CLI, every signature, ciphertext, public key and shared
secret checked by an independent implementation: Python `cryptography` (OpenSSL), PyCryptodome for Ed25519ph
(which `cryptography` lacks) and the openssl CLI."""

import base64
import hashlib
import json
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils
from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from client_helpers import as_user, error_of, new_user

MESSAGE = b"the quick brown fox jumps over the lazy dog"
HASHES = {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}
HASHLIB = {"SHA_256": hashlib.sha256, "SHA_384": hashlib.sha384, "SHA_512": hashlib.sha512}
SIGNING_SPECS = [
    "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87",
]


def hash_name(algorithm):
    return algorithm[-7:]


def independent_verify(public_der, algorithm, message, signature, digest=False):
    """Raises if `signature` is not a valid signature by `public_der` over `message` (or over the digest given)."""
    if algorithm == "ED25519_PH_SHA_512":
        # HashEdDSA: PyCryptodome takes the SHA-512 state of the message itself, so `message` is never a digest.
        assert not digest
        eddsa.new(ECC.import_key(public_der), "rfc8032").verify(SHA512.new(message), signature)
        return
    public = serialization.load_der_public_key(public_der)
    if algorithm == "ED25519_SHA_512":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    elif algorithm == "ML_DSA_SHAKE_256":
        public.verify(signature, message)
    else:
        chosen = HASHES[hash_name(algorithm)]
        algo = utils.Prehashed(chosen) if digest else chosen
        if algorithm.startswith("RSASSA_PSS"):
            public.verify(signature, message, padding.PSS(padding.MGF1(chosen), chosen.digest_size), algo)
        elif algorithm.startswith("RSASSA_PKCS1"):
            public.verify(signature, message, padding.PKCS1v15(), algo)
        else:
            public.verify(signature, message, ec.ECDSA(algo))


def create(kms, spec, usage):
    return kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]


@pytest.mark.parametrize("spec", SIGNING_SPECS)
def test_signatures_verify_independently_and_kms_verifies_its_own(dev_server, spec):
    kms = dev_server.client()
    metadata = create(kms, spec, "SIGN_VERIFY")
    key_id = metadata["KeyId"]
    assert metadata["KeySpec"] == spec and metadata["KeyUsage"] == "SIGN_VERIFY"
    assert "EncryptionAlgorithms" not in metadata and "CurrentKeyMaterialId" not in metadata
    public = kms.get_public_key(KeyId=key_id)
    assert public["SigningAlgorithms"] == metadata["SigningAlgorithms"] and public["KeyUsage"] == "SIGN_VERIFY"
    public_der = public["PublicKey"]
    # The public key is a DER SubjectPublicKeyInfo an independent parser reads back byte for byte.
    if not spec.startswith("ECC_NIST_EDWARDS"):
        reparsed = serialization.load_der_public_key(public_der)
        assert reparsed.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == public_der
    for algorithm in metadata["SigningAlgorithms"]:
        if algorithm != "ED25519_PH_SHA_512":
            signature = kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm=algorithm)["Signature"]
            independent_verify(public_der, algorithm, MESSAGE, signature)
            verified = kms.verify(KeyId=key_id, Message=MESSAGE, Signature=signature, SigningAlgorithm=algorithm)
            assert verified["SignatureValid"] is True and verified["KeyId"] == metadata["Arn"]
            tampered = bytes([signature[0] ^ 1]) + signature[1:]
            assert error_of(kms.verify, KeyId=key_id, Message=MESSAGE, Signature=tampered, SigningAlgorithm=algorithm) == (
                "KMSInvalidSignatureException", "")
            with pytest.raises(Exception):
                independent_verify(public_der, algorithm, MESSAGE, tampered)
        if algorithm in ("ED25519_SHA_512", "ML_DSA_SHAKE_256"):
            continue
        digest = (hashlib.sha512 if algorithm == "ED25519_PH_SHA_512" else HASHLIB[hash_name(algorithm)])(MESSAGE).digest()
        signature = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
        if algorithm == "ED25519_PH_SHA_512":
            independent_verify(public_der, algorithm, MESSAGE, signature)
        else:
            independent_verify(public_der, algorithm, digest, signature, digest=True)
        assert kms.verify(KeyId=key_id, Message=digest, MessageType="DIGEST", Signature=signature,
                          SigningAlgorithm=algorithm)["SignatureValid"]
        assert error_of(kms.sign, KeyId=key_id, Message=digest[:-1], MessageType="DIGEST", SigningAlgorithm=algorithm) == (
            "ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def test_ml_dsa_external_mu_is_the_same_signature_scheme(dev_server):
    kms = dev_server.client()
    key_id = create(kms, "ML_DSA_65", "SIGN_VERIFY")["KeyId"]
    public_der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    raw_public = serialization.load_der_public_key(public_der).public_bytes_raw()
    # FIPS 204: tr = H(pk, 64), mu = H(tr || 0 || |ctx| || ctx || M, 64) with an empty context.
    tr = hashlib.shake_256(raw_public).digest(64)
    mu = hashlib.shake_256(tr + b"\x00\x00" + MESSAGE).digest(64)
    signature = kms.sign(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    serialization.load_der_public_key(public_der).verify(signature, MESSAGE)
    raw_signature = kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert kms.verify(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", Signature=raw_signature,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"]
    assert error_of(kms.sign, KeyId=key_id, Message=mu[:63], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256") == (
        "ValidationException", "External Mu is invalid length for algorithm ML_DSA_SHAKE_256.")
    assert error_of(kms.sign, KeyId=key_id, Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256") == (
        "ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_65.")


@pytest.mark.parametrize("spec,limits", [("RSA_2048", (214, 190)), ("RSA_3072", (342, 318)), ("RSA_4096", (470, 446))])
def test_rsa_encryption_both_ways(dev_server, spec, limits):
    kms = dev_server.client()
    metadata = create(kms, spec, "ENCRYPT_DECRYPT")
    key_id = metadata["KeyId"]
    assert metadata["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec[4:])
    for algorithm, chosen, limit in [("RSAES_OAEP_SHA_1", hashes.SHA1(), limits[0]), ("RSAES_OAEP_SHA_256", hashes.SHA256(), limits[1])]:
        longest = bytes(range(256)) * 2
        longest = longest[:limit]
        outside = public.encrypt(longest, padding.OAEP(padding.MGF1(chosen), chosen, None))
        opened = kms.decrypt(KeyId=key_id, CiphertextBlob=outside, EncryptionAlgorithm=algorithm)
        assert opened["Plaintext"] == longest and opened["EncryptionAlgorithm"] == algorithm
        inside = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionAlgorithm=algorithm)
        assert inside["EncryptionAlgorithm"] == algorithm and len(inside["CiphertextBlob"]) == public.key_size // 8
        assert kms.decrypt(KeyId=key_id, CiphertextBlob=inside["CiphertextBlob"], EncryptionAlgorithm=algorithm)["Plaintext"] == b"secret"
        assert error_of(kms.encrypt, KeyId=key_id, Plaintext=longest + b"x", EncryptionAlgorithm=algorithm) == (
            "ValidationException", f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.")
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "InvalidKeyUsageException", f"Algorithm SYMMETRIC_DEFAULT is incompatible with key spec {spec}.")
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                    EncryptionContext={"a": "b"}) == (
        "ValidationException", "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.")
    wrong_hash = public.encrypt(b"x", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    assert error_of(kms.decrypt, KeyId=key_id, CiphertextBlob=wrong_hash, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[0] == (
        "InvalidCiphertextException")


@pytest.mark.parametrize("spec,curve", [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()),
                                        ("ECC_NIST_P521", ec.SECP521R1())])
def test_ecdh_agrees_with_an_independent_peer(dev_server, spec, curve):
    kms = dev_server.client()
    metadata = create(kms, spec, "KEY_AGREEMENT")
    assert metadata["KeyAgreementAlgorithms"] == ["ECDH"] and "SigningAlgorithms" not in metadata
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=metadata["KeyId"])["PublicKey"])
    peer = ec.generate_private_key(curve)
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    derived = kms.derive_shared_secret(KeyId=metadata["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    assert derived["SharedSecret"] == peer.exchange(ec.ECDH(), kms_public)
    assert derived["KeyOrigin"] == "AWS_KMS" and derived["KeyAgreementAlgorithm"] == "ECDH"
    other_curve = ec.generate_private_key(ec.SECP256K1() if spec != "ECC_NIST_P256" else ec.SECP384R1())
    other_der = other_curve.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert error_of(kms.derive_shared_secret, KeyId=metadata["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=other_der) == (
        "ValidationException", "")


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                                  "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"])
def test_data_key_pairs_are_real_pairs_sealed_under_the_key(dev_server, spec):
    kms = dev_server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"purpose": "pairs"}
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == pair["PublicKey"]
    opened = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == pair["PrivateKeyPlaintext"] and pair["KeyPairSpec"] == spec
    without = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
    assert "PrivateKeyPlaintext" not in without
    private = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=without["PrivateKeyCiphertextBlob"], EncryptionContext=context)["Plaintext"], None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == without["PublicKey"]


def test_hmac_keys_generate_and_verify(dev_server):
    kms = dev_server.client()
    for bits in (224, 256, 384, 512):
        metadata = create(kms, f"HMAC_{bits}", "GENERATE_VERIFY_MAC")
        algorithm = f"HMAC_SHA_{bits}"
        assert metadata["MacAlgorithms"] == [algorithm]
        mac = kms.generate_mac(KeyId=metadata["KeyId"], Message=MESSAGE, MacAlgorithm=algorithm)
        assert len(mac["Mac"]) == bits // 8 and mac["MacAlgorithm"] == algorithm
        assert mac["Mac"] == kms.generate_mac(KeyId=metadata["KeyId"], Message=MESSAGE, MacAlgorithm=algorithm)["Mac"]
        assert kms.verify_mac(KeyId=metadata["KeyId"], Message=MESSAGE, Mac=mac["Mac"], MacAlgorithm=algorithm)["MacValid"]
        assert error_of(kms.verify_mac, KeyId=metadata["KeyId"], Message=MESSAGE + b"!", Mac=mac["Mac"], MacAlgorithm=algorithm) == (
            "KMSInvalidMacException", "")
        other = "HMAC_SHA_512" if bits != 512 else "HMAC_SHA_256"
        assert error_of(kms.generate_mac, KeyId=metadata["KeyId"], Message=MESSAGE, MacAlgorithm=other) == (
            "InvalidKeyUsageException", f"Algorithm {other} is incompatible with key spec HMAC_{bits}.")
        assert error_of(kms.get_public_key, KeyId=metadata["KeyId"]) == ("UnsupportedOperationException", "")
        assert error_of(kms.enable_key_rotation, KeyId=metadata["KeyId"])[0] == "UnsupportedOperationException"
        assert kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"] is False


def test_aws_errors_for_usages_specs_and_message_types(dev_server):
    kms = dev_server.client()
    symmetric = kms.create_key()["KeyMetadata"]
    signing = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    mac = create(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    edwards = create(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    assert edwards["SigningAlgorithms"] == ["ED25519_PH_SHA_512", "ED25519_SHA_512"]
    digest = hashlib.sha512(MESSAGE).digest()
    for call, kwargs, expected in [
        (kms.create_key, {"KeySpec": "HMAC_256"},
         ("ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")),
        (kms.create_key, {"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"},
         ("ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048")),
        (kms.create_key, {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "ENCRYPT_DECRYPT"},
         ("ValidationException", "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_EDWARDS25519")),
        (kms.create_key, {"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"},
         ("UnsupportedOperationException", "KeySpec SM2 is not supported in this Region")),
        (kms.sign, {"KeyId": mac["KeyId"], "Message": MESSAGE, "SigningAlgorithm": "ECDSA_SHA_256"},
         ("InvalidKeyUsageException", f"{mac['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.")),
        (kms.verify, {"KeyId": symmetric["KeyId"], "Message": MESSAGE, "Signature": b"x", "SigningAlgorithm": "ECDSA_SHA_256"},
         ("InvalidKeyUsageException", f"{symmetric['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Verify.")),
        (kms.encrypt, {"KeyId": signing["KeyId"], "Plaintext": b"x"},
         ("InvalidKeyUsageException", f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.")),
        (kms.generate_mac, {"KeyId": symmetric["KeyId"], "Message": b"x", "MacAlgorithm": "HMAC_SHA_256"},
         ("InvalidKeyUsageException", f"{symmetric['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")),
        (kms.derive_shared_secret, {"KeyId": signing["KeyId"], "KeyAgreementAlgorithm": "ECDH", "PublicKey": b"x"},
         ("InvalidKeyUsageException", f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.")),
        (kms.sign, {"KeyId": signing["KeyId"], "Message": MESSAGE, "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
         ("InvalidKeyUsageException", "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec ECC_NIST_P256.")),
        (kms.sign, {"KeyId": signing["KeyId"], "Message": digest[:64], "MessageType": "EXTERNAL_MU", "SigningAlgorithm": "ECDSA_SHA_256"},
         ("ValidationException", "Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256.")),
        (kms.sign, {"KeyId": edwards["KeyId"], "Message": digest, "MessageType": "DIGEST", "SigningAlgorithm": "ED25519_SHA_512"},
         ("ValidationException", "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.")),
        (kms.sign, {"KeyId": edwards["KeyId"], "Message": MESSAGE, "SigningAlgorithm": "ED25519_PH_SHA_512"},
         ("ValidationException", "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.")),
        (kms.get_public_key, {"KeyId": symmetric["KeyId"]}, ("UnsupportedOperationException", "")),
        (kms.generate_data_key_pair, {"KeyId": symmetric["KeyId"], "KeyPairSpec": "SM2"},
         ("UnsupportedOperationException", "KeySpec SM2 is not supported in this Region")),
        (kms.generate_data_key_pair, {"KeyId": signing["KeyId"], "KeyPairSpec": "RSA_2048"},
         ("InvalidKeyUsageException", f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPair.")),
        (kms.sign, {"KeyId": signing["KeyId"], "Message": b"m" * 4097, "SigningAlgorithm": "ECDSA_SHA_256"},
         ("ValidationException", "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")),
    ]:
        assert error_of(call, **kwargs) == expected, kwargs
    kms.disable_key(KeyId=signing["KeyId"])
    assert error_of(kms.sign, KeyId=signing["KeyId"], Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256") == (
        "DisabledException", f"{signing['Arn']} is disabled.")
    # The public key of a disabled key stays readable, as in AWS.
    assert kms.get_public_key(KeyId=signing["KeyId"])["KeySpec"] == "ECC_NIST_P256"


def test_cli_sign_then_openssl_verifies(dev_server, tmp_path):
    """The walk-through: sign a file's digest with the CLI, verify with openssl and the key's public key."""
    env = dev_server.cli_env()
    cli = ["aws", "--endpoint-url", dev_server.endpoint, "kms"]
    key_id = json.loads(subprocess.run(cli + ["create-key", "--key-spec", "RSA_2048", "--key-usage", "SIGN_VERIFY"],
                                       env=env, check=True, capture_output=True).stdout)["KeyMetadata"]["KeyId"]
    document = tmp_path / "document.txt"
    document.write_bytes(MESSAGE)
    public = json.loads(subprocess.run(cli + ["get-public-key", "--key-id", key_id], env=env, check=True,
                                       capture_output=True).stdout)["PublicKey"]
    (tmp_path / "public.der").write_bytes(base64.b64decode(public))
    signed = json.loads(subprocess.run(cli + ["sign", "--key-id", key_id, "--message", f"fileb://{document}",
                                              "--message-type", "RAW", "--signing-algorithm", "RSASSA_PKCS1_V1_5_SHA_256"],
                                       env=env, check=True, capture_output=True).stdout)
    (tmp_path / "signature").write_bytes(base64.b64decode(signed["Signature"]))
    verified = subprocess.run(["openssl", "dgst", "-sha256", "-keyform", "DER", "-verify", str(tmp_path / "public.der"),
                               "-signature", str(tmp_path / "signature"), str(document)], capture_output=True)
    assert verified.returncode == 0 and b"Verified OK" in verified.stdout
    # And openssl's own signature with a data key pair's private key verifies with cryptography.
    kms = dev_server.client()
    pair = kms.generate_data_key_pair(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], KeyPairSpec="ECC_NIST_P256")
    (tmp_path / "private.der").write_bytes(pair["PrivateKeyPlaintext"])
    subprocess.run(["openssl", "dgst", "-sha256", "-keyform", "DER", "-sign", str(tmp_path / "private.der"),
                    "-out", str(tmp_path / "ecdsa.sig"), str(document)], check=True)
    serialization.load_der_public_key(pair["PublicKey"]).verify((tmp_path / "ecdsa.sig").read_bytes(), MESSAGE,
                                                                ec.ECDSA(hashes.SHA256()))


def test_signing_algorithm_condition_key_decides(dev_server):
    """An IAM policy allowing Sign only with PSS: PKCS#1 is refused, PSS succeeds."""
    kms = dev_server.client()
    key = create(kms, "RSA_2048", "SIGN_VERIFY")
    creds = new_user(dev_server, "pss-only", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:Sign", "Resource": key["Arn"],
        "Condition": {"StringLike": {"kms:SigningAlgorithm": "RSASSA_PSS_*"}, "StringEquals": {"kms:MessageType": "RAW"}},
    }]}))
    user = as_user(dev_server, "kms", creds)
    code, message = error_of(user.sign, KeyId=key["KeyId"], Message=MESSAGE, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert code == "AccessDeniedException" and "kms:Sign" in message
    digest = hashlib.sha256(MESSAGE).digest()
    assert error_of(user.sign, KeyId=key["KeyId"], Message=digest, MessageType="DIGEST",
                    SigningAlgorithm="RSASSA_PSS_SHA_256")[0] == "AccessDeniedException"
    assert user.sign(KeyId=key["KeyId"], Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]


def test_validation_messages_list_enum_values_in_aws_s_order(dev_server):
    from botocore.config import Config
    from client_helpers import error_of

    kms = dev_server.client(config=Config(parameter_validation=False))
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    assert error_of(kms.generate_mac, KeyId=key, MacAlgorithm="INVALID", Message=b"m") == (
        "ValidationException",
        "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must "
        "satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]")
    code, message = error_of(kms.create_key, KeyUsage="RANDOM")
    assert message.endswith("enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]")
    code, message = error_of(kms.create_key, KeySpec="HMAC_random")
    assert message.split("[")[1].startswith("RSA_2048, ECC_NIST_P384, ECC_NIST_P256, ECC_NIST_P521, HMAC_384, RSA_3072")
