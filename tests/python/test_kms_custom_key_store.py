"""Custom key stores on a PKCS#11 HSM (SoftHSM2 from Debian, initialised per test), through boto3: keys generated in
the token, cryptography run there, connection states and AWS's errors, a restart, and the material's destruction."""

import json
import os
import shutil
import subprocess

import pytest

from client_helpers import audit_records, error_of, files_containing

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
CLUSTER = "cluster-keyhavenhsm"
PIN = "crypto-user-pin"
TRUST_ANCHOR = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


@pytest.fixture
def hsm(tmp_path):
    """A fresh SoftHSM2 token labelled `keyhaven`; answers the environment that points SoftHSM2 at it."""
    if not os.path.exists(MODULE):
        pytest.fail("softhsm2 is not installed (the test command installs it)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "keyhaven", "--pin", PIN, "--so-pin", "security-officer"],
                   env=env, check=True, capture_output=True)
    return {"SOFTHSM2_CONF": str(conf), "tokens": tokens}


def start(keyhaven_factory, hsm):
    return keyhaven_factory("--dev", "--hsm-cluster", f"{CLUSTER}={MODULE}:keyhaven", env={"SOFTHSM2_CONF": hsm["SOFTHSM2_CONF"]})


def store_state(kms, store_id):
    [store] = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    return store["ConnectionState"], store.get("ConnectionErrorCode")


def test_keys_live_and_work_in_the_hsm(keyhaven_factory, hsm):
    server = start(keyhaven_factory, hsm)
    kms = server.client()
    store_id = kms.create_custom_key_store(CustomKeyStoreName="vault", CloudHsmClusterId=CLUSTER,
                                           TrustAnchorCertificate=TRUST_ANCHOR, KeyStorePassword=PIN)["CustomKeyStoreId"]
    assert store_state(kms, store_id) == ("DISCONNECTED", None)
    assert error_of(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    assert kms.list_keys()["Keys"] == []
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id) == ("CONNECTED", None)
    key = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, Description="in the HSM")["KeyMetadata"]
    assert key["CustomKeyStoreId"] == store_id and key["CloudHsmClusterId"] == CLUSTER and key["Origin"] == "AWS_CLOUDHSM"
    sealed = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"held by the HSM", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert sealed[0] == 2
    assert kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"a": "b"})["Plaintext"] == b"held by the HSM"
    assert error_of(kms.decrypt, CiphertextBlob=sealed, EncryptionContext={"a": "c"})[0] == "InvalidCiphertextException"
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=48, CustomKeyStoreId=store_id)["Plaintext"]) == 48
    assert error_of(kms.enable_key_rotation, KeyId=key["KeyId"])[0] == "UnsupportedOperationException"
    # Disconnected, the key is unavailable: its material is in the token, not in keyhaven.
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
    assert error_of(kms.decrypt, CiphertextBlob=sealed, EncryptionContext={"a": "b"}) == (
        "KMSInvalidStateException", f"{key['Arn']} is unavailable.")
    # A wrong password leaves the store FAILED with AWS's error code; the right one connects it again.
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="not-the-pin")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id) == ("FAILED", "INVALID_CREDENTIALS")
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=PIN, NewCustomKeyStoreName="vault-2")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kms, store_id) == ("CONNECTED", None)
    # A restarted node logs in again by itself.
    server.stop()
    server.start()
    kms = server.client()
    assert kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"a": "b"})["Plaintext"] == b"held by the HSM"
    # Without the token, nothing decrypts: the material never left it.
    server.stop()
    shutil.rmtree(hsm["tokens"])
    hsm["tokens"].mkdir()
    server.start()
    assert error_of(server.client().decrypt, CiphertextBlob=sealed, EncryptionContext={"a": "b"}) == (
        "KMSInvalidStateException", f"{key['Arn']} is unavailable.")

def test_custom_key_store_lifecycle_errors(keyhaven_factory, hsm):
    server = start(keyhaven_factory, hsm)
    kms = server.client()
    create = {"CloudHsmClusterId": CLUSTER, "TrustAnchorCertificate": TRUST_ANCHOR, "KeyStorePassword": PIN}
    store_id = kms.create_custom_key_store(CustomKeyStoreName="one", **create)["CustomKeyStoreId"]
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="two", **create)[0] == "CloudHsmClusterInUseException"
    assert error_of(kms.create_custom_key_store, CustomKeyStoreName="one", **{**create, "CloudHsmClusterId": "cluster-abcdefghijk"})[0] == (
        "CloudHsmClusterNotFoundException")
    assert error_of(kms.connect_custom_key_store, CustomKeyStoreId="cks-00000000000000000")[0] == "CustomKeyStoreNotFoundException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["KeyId"]
    assert error_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    assert error_of(kms.update_custom_key_store, CustomKeyStoreId=store_id, KeyStorePassword="another-pin")[0] == (
        "CustomKeyStoreInvalidStateException")
    assert error_of(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, KeySpec="RSA_2048",
                    KeyUsage="SIGN_VERIFY")[0] == "UnsupportedOperationException"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert error_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreHasCMKsException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    server.advance_clock(7 * 86_400 + 1)
    assert error_of(kms.describe_key, KeyId=key_id)[0] == "NotFoundException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []
    # The store's password (the token's PIN) is in neither the audit log nor the data directory.
    records = audit_records(server)
    assert any(r["eventName"] == "CreateCustomKeyStore" for r in records)
    assert PIN not in json.dumps(records)
    assert files_containing(server.data_dir, [PIN.encode()]) == []
