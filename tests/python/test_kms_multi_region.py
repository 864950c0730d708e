"""Multi-Region keys through boto3 and the AWS CLI: one `mrk-` key id in several Regions, replicas decrypting what
the primary encrypted and the reverse, independent policies, tags and states, shared rotation, UpdatePrimaryRegion,
and deletion that waits for the replicas."""

import json
import re
import subprocess

from client_helpers import error_of


def clients(server, *regions):
    return [server.client("kms", region_name=region) for region in regions]


def test_replicas_share_material_and_decrypt_each_other(dev_server):
    east, west = clients(dev_server, "us-east-1", "eu-west-1")
    primary = east.create_key(MultiRegion=True, Description="orders")["KeyMetadata"]
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", primary["KeyId"]) and primary["MultiRegion"] is True
    assert primary["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": primary["Arn"], "Region": "us-east-1"}, "ReplicaKeys": []}
    replicated = east.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="eu-west-1", Description="orders in Europe",
                                    Tags=[{"TagKey": "team", "TagValue": "eu"}])
    replica = replicated["ReplicaKeyMetadata"]
    replica_arn = f"arn:aws:kms:eu-west-1:{primary['AWSAccountId']}:key/{primary['KeyId']}"
    assert replica["KeyId"] == primary["KeyId"] and replica["Arn"] == replica_arn
    assert replicated["ReplicaTags"] == [{"TagKey": "team", "TagValue": "eu"}] and "Statement" in replicated["ReplicaPolicy"]
    configuration = west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    assert configuration["MultiRegionKeyType"] == "REPLICA"
    assert configuration["PrimaryKey"]["Region"] == "us-east-1"
    assert configuration["ReplicaKeys"] == [{"Arn": replica_arn, "Region": "eu-west-1"}]
    assert east.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == \
        configuration["ReplicaKeys"]
    # Ciphertext from either Region decrypts in the other, without naming the key.
    from_east = east.encrypt(KeyId=primary["KeyId"], Plaintext=b"order 1", EncryptionContext={"o": "1"})["CiphertextBlob"]
    opened = west.decrypt(CiphertextBlob=from_east, EncryptionContext={"o": "1"})
    assert opened["Plaintext"] == b"order 1" and opened["KeyId"] == replica_arn
    from_west = west.encrypt(KeyId=primary["KeyId"], Plaintext=b"order 2")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=from_west)["Plaintext"] == b"order 2"
    # Naming the primary's ARN in the replica's Region is the wrong key there.
    assert error_of(west.decrypt, CiphertextBlob=from_east, EncryptionContext={"o": "1"}, KeyId=primary["Arn"])[0] == (
        "IncorrectKeyException")
    # Descriptions, tags and states are each member's own.
    assert west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["Description"] == "orders in Europe"
    assert east.list_resource_tags(KeyId=primary["KeyId"])["Tags"] == []
    east.disable_key(KeyId=primary["KeyId"])
    assert west.decrypt(CiphertextBlob=from_east, EncryptionContext={"o": "1"})["Plaintext"] == b"order 1"


def test_rotation_is_the_primarys_and_reaches_the_replicas(dev_server):
    east, west = clients(dev_server, "us-east-1", "ap-southeast-2")
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
    replica_arn = west.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    before = east.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    for call, operation in [(west.enable_key_rotation, "EnableKeyRotation"), (west.rotate_key_on_demand, "RotateKeyOnDemand")]:
        assert error_of(call, KeyId=key_id) == (
            "UnsupportedOperationException", f"{replica_arn} is a multi-region replica key which is not valid for {operation}.")
    east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    assert west.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    east.rotate_key_on_demand(KeyId=key_id)
    current = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == current
    after = west.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=after)["KeyMaterialId"] == current
    assert west.decrypt(CiphertextBlob=before)["Plaintext"] == b"before"


def test_update_primary_region_and_deletion_waiting_for_replicas(dev_server):
    east, west, central = clients(dev_server, "us-east-1", "us-west-2", "eu-central-1")
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion="us-west-2")
    east.replicate_key(KeyId=key_id, ReplicaRegion="eu-central-1")
    east.update_primary_region(KeyId=key_id, PrimaryRegion="us-west-2")
    configuration = central.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert configuration["PrimaryKey"]["Region"] == "us-west-2"
    assert sorted(r["Region"] for r in configuration["ReplicaKeys"]) == ["eu-central-1", "us-east-1"]
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    # The primary waits for its replicas before its own pending window starts.
    scheduled = west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in scheduled
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    central.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    dev_server.advance_clock(7 * 86_400 + 1)
    for gone in (east, central):
        assert error_of(gone.describe_key, KeyId=key_id)[0] == "NotFoundException"
    primary = west.describe_key(KeyId=key_id)["KeyMetadata"]
    assert primary["KeyState"] == "PendingDeletion" and primary["MultiRegionConfiguration"]["ReplicaKeys"] == []
    dev_server.advance_clock(7 * 86_400 + 1)
    assert error_of(west.describe_key, KeyId=key_id)[0] == "NotFoundException"


def test_aws_errors_for_multi_region_keys(dev_server):
    east, west = clients(dev_server, "us-east-1", "eu-west-1")
    single = east.create_key()["KeyMetadata"]
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-west-1")
    replica_arn = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"]
    for call, kwargs, expected in [
        (east.replicate_key, {"KeyId": single["KeyId"], "ReplicaRegion": "eu-west-1"},
         ("UnsupportedOperationException", f"{single['Arn']} is not a multi-region primary key.")),
        (west.replicate_key, {"KeyId": key["KeyId"], "ReplicaRegion": "eu-north-1"},
         ("UnsupportedOperationException", f"{replica_arn} is not a multi-region primary key.")),
        (east.replicate_key, {"KeyId": key["KeyId"], "ReplicaRegion": "us-east-1"},
         ("ValidationException", "us-east-1 cannot have a replica because it contains the primary.")),
        (east.replicate_key, {"KeyId": key["KeyId"], "ReplicaRegion": "eu-west-1"},
         ("AlreadyExistsException", "You can create only one replica of each primary key in each AWS Region.")),
        (east.update_primary_region, {"KeyId": key["KeyId"], "PrimaryRegion": "sa-east-1"},
         ("ValidationException", f"{key['KeyId']} does not have a replica key in the specified Region.")),
        (west.update_primary_region, {"KeyId": key["KeyId"], "PrimaryRegion": "us-east-1"},
         ("KMSInvalidStateException", f"{replica_arn} is not a multi-Region primary key.")),
        (east.describe_key, {"KeyId": "mrk-fake-key-id"}, ("NotFoundException", "Invalid keyId 'mrk-fake-key-id'")),
    ]:
        assert error_of(call, **kwargs) == expected, kwargs
    assert len(east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"]) == 1


def test_cli_replicate_key(dev_server):
    env = dev_server.cli_env()
    cli = ["aws", "--endpoint-url", dev_server.endpoint, "kms"]
    key_id = json.loads(subprocess.run(cli + ["create-key", "--multi-region"], env=env, check=True,
                                       capture_output=True).stdout)["KeyMetadata"]["KeyId"]
    replica = json.loads(subprocess.run(cli + ["replicate-key", "--key-id", key_id, "--replica-region", "us-west-2"],
                                        env=env, check=True, capture_output=True).stdout)["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key_id and replica["Arn"].startswith("arn:aws:kms:us-west-2:")


def test_multi_region_keys_with_imported_material(dev_server):
    """Each Region imports the same material; rotation to new imported material waits for every replica."""
    import os

    from test_kms_import import import_material

    east, west = clients(dev_server, "us-east-1", "eu-west-1")
    primary = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    material = os.urandom(32)
    first = import_material(east, primary["KeyId"], material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    replica = east.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert replica["KeyState"] == "PendingImport" and replica["Origin"] == "EXTERNAL"
    sealed = east.encrypt(KeyId=primary["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert error_of(west.decrypt, CiphertextBlob=sealed)[0] == "KMSInvalidStateException"
    # The replica takes the same material only, and no description or NEW_KEY_MATERIAL of its own.
    assert error_of(import_material, west, primary["KeyId"], os.urandom(32),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")[0] == "IncorrectKeyMaterialException"
    assert west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error_of(import_material, west, primary["KeyId"], material, ImportType="NEW_KEY_MATERIAL",
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "ValidationException", "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys")
    imported = import_material(west, primary["KeyId"], material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert imported["KeyMaterialId"] == first["KeyMaterialId"]
    assert west.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"
    # New material on the primary: rotation waits until the replica has imported it as well.
    newer = os.urandom(32)
    second = import_material(east, primary["KeyId"], newer, ImportType="NEW_KEY_MATERIAL",
                             ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error_of(east.rotate_key_on_demand, KeyId=primary["KeyId"]) == (
        "KMSInvalidStateException",
        "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key.")
    import_material(west, primary["KeyId"], newer, KeyMaterialId=second["KeyMaterialId"],
                    ImportType="EXISTING_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    east.rotate_key_on_demand(KeyId=primary["KeyId"])
    rotated = west.encrypt(KeyId=primary["KeyId"], Plaintext=b"y")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=rotated)["KeyMaterialId"] == second["KeyMaterialId"]
    assert west.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"
