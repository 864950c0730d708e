"""KMS request quotas (ThrottlingException, which the SDKs retry with back-off) and GetKeyLastUsage, through boto3."""

import re

from botocore.config import Config

from client_helpers import error_of

THROTTLED = ("ThrottlingException",
             "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.")


def test_quotas_throttle_and_sdks_retry(keyhaven_factory):
    # One CreateKey and one symmetric cryptographic request per 100 seconds, on the server's own clock.
    server = keyhaven_factory("--dev", "--kms-request-quotas", "CreateKey=0.01,symmetric=0.01")
    once = server.client(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    key_id = once.create_key()["KeyMetadata"]["KeyId"]
    assert error_of(once.create_key) == THROTTLED
    assert len(once.list_keys()["Keys"]) == 1
    # The SDK classifies it as throttling and retries with back-off before giving up.
    retrying = server.client(config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    try:
        retrying.create_key()
        raise AssertionError("CreateKey must stay throttled")
    except retrying.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "ThrottlingException"
        assert err.response["ResponseMetadata"]["RetryAttempts"] == 2
    # Symmetric Encrypt and Decrypt share one quota; another Region's quota is its own.
    sealed = once.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert error_of(once.decrypt, CiphertextBlob=sealed) == THROTTLED
    west = server.client(region_name="us-west-2", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    west.create_key()
    server.advance_clock(100)
    assert once.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"
    once.create_key()
    assert len(once.list_keys()["Keys"]) == 2


def test_quotas_are_off_in_dev_mode_unless_configured(dev_server):
    kms = dev_server.client()
    for _ in range(8):
        kms.create_key()
    assert len(kms.list_keys()["Keys"]) == 8


def test_key_last_usage(keyhaven_factory):
    server = keyhaven_factory("--dev")
    kms = server.client()
    key = kms.create_key()["KeyMetadata"]
    fresh = kms.get_key_last_usage(KeyId=key["KeyId"])
    assert fresh["KeyLastUsage"] == {} and fresh["TrackingStartDate"] == fresh["KeyCreationDate"]
    # The same instant (seconds with a fraction; botocore's float parsing may move the last microsecond).
    assert abs((fresh["KeyCreationDate"] - key["CreationDate"]).total_seconds()) < 0.001
    kms.describe_key(KeyId=key["KeyId"])
    assert kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"] == {}
    encrypted = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    last = kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
    assert last["Operation"] == "Encrypt"
    assert last["KmsRequestId"] == encrypted["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", last["CloudTrailEventId"])
    # A failed call is not a use.
    error_of(kms.decrypt, CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"wrong": "context"})
    assert kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]["Operation"] == "Encrypt"
    # A use on the caller's behalf counts: Parameter Store encrypting a SecureString.
    server.client("ssm").put_parameter(Name="/db/password", Value="hunter2", Type="SecureString", KeyId=key["KeyId"])
    through_ssm = kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
    assert through_ssm["Operation"] in ("Encrypt", "GenerateDataKey") and through_ssm["KmsRequestId"] != last["KmsRequestId"]
    # The last use outlives a restart.
    server.stop()
    server.start()
    assert server.client().get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"] == through_ssm
