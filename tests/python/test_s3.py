"""S3 against the real server with boto3 and the AWS CLI: buckets, objects, ranges and conditions, listings,
multipart uploads, SSE-S3 and SSE-C, authorisation (a refused request changes nothing), the audit log, and the
canary scan of the data directory for plaintext and customer keys."""

import base64
import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from client_helpers import as_user, audit_records, aws, error_of, files_containing, new_user

MIB = 1024 * 1024


def s3_client(server, region="us-east-1", **kwargs):
    kwargs.setdefault("aws_access_key_id", "test")
    kwargs.setdefault("aws_secret_access_key", "test")
    kwargs.setdefault("config", Config(s3={"addressing_style": "path"}))
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=region, **kwargs)


def status_of(call, *args, **kwargs):
    """(HTTP status, error code) of the ClientError that `call` must raise."""
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"], err.value.response["Error"]["Code"]


def signed_request(server, method, path, body=b"", headers=None):
    """A request signed by botocore's S3 signer and sent with urllib: (status, body). For what boto3 will not send
    (SSE-C over plain HTTP, malformed payloads)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body, headers=headers or {})
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    return sent(urllib.request.Request(request.url, data=body or None, method=method, headers=dict(request.headers)))


def sent(request):
    """(status, body) of a urllib request, error answers included."""
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def allow_sse_c(s3, bucket):
    """S3 has blocked SSE-C on new buckets since April 2026: a bucket that takes SSE-C writes says so."""
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BlockedEncryptionTypes": {"EncryptionType": ["NONE"]}}]})


@pytest.fixture
def s3(dev_server):
    return s3_client(dev_server)


def test_bucket_lifecycle_locations_and_names(dev_server, s3):
    s3.create_bucket(Bucket="alpha")
    # us-east-1 answers the owner's repeated create with success, as S3 does for legacy reasons.
    s3.create_bucket(Bucket="alpha")
    europe = s3_client(dev_server, region="eu-west-1")
    europe.create_bucket(Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_of(europe.create_bucket, Bucket="beta",
                    CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})[0] == "BucketAlreadyOwnedByYou"
    assert error_of(europe.create_bucket, Bucket="gamma") == (
        "IllegalLocationConstraintException",
        "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
    assert error_of(europe.create_bucket, Bucket="gamma", CreateBucketConfiguration={"LocationConstraint": "us-east-1"}) == (
        "IllegalLocationConstraintException",
        "The us-east-1 location constraint is incompatible for the region specific endpoint this request was sent to.")
    assert error_of(s3.create_bucket, Bucket="gamma",
                    CreateBucketConfiguration={"LocationConstraint": "us-east-1"})[0] == "InvalidLocationConstraint"
    assert error_of(s3.create_bucket, Bucket="gamma",
                    CreateBucketConfiguration={"LocationConstraint": "Mars"})[0] == "InvalidLocationConstraint"
    # us-east-1's legacy success for a repeated create holds only for a bucket in us-east-1.
    assert error_of(s3.create_bucket, Bucket="beta")[0] == "BucketAlreadyOwnedByYou"
    # us-east-1's endpoint is the global one: it creates buckets in the Region a constraint names.
    s3.create_bucket(Bucket="delta", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert s3.get_bucket_location(Bucket="delta")["LocationConstraint"] == "eu-central-1"
    s3.delete_bucket(Bucket="delta")
    assert s3.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    assert europe.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1"
    headed = s3.head_bucket(Bucket="beta")["ResponseMetadata"]["HTTPHeaders"]
    assert (headed["x-amz-bucket-region"], headed["content-type"]) == ("eu-west-1", "application/xml")
    listed = s3.list_buckets()
    assert [(b["Name"], b["BucketRegion"]) for b in listed["Buckets"]] == [("alpha", "us-east-1"), ("beta", "eu-west-1")]
    assert [b["Name"] for b in s3.list_buckets(Prefix="b")["Buckets"]] == ["beta"]
    first = s3.list_buckets(MaxBuckets=1)
    assert [b["Name"] for b in first["Buckets"]] == ["alpha"]
    rest = s3.list_buckets(MaxBuckets=1, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["beta"] and "ContinuationToken" not in rest

    s3.put_object(Bucket="alpha", Key="k", Body=b"x")
    assert error_of(s3.delete_bucket, Bucket="alpha")[0] == "BucketNotEmpty"
    s3.delete_object(Bucket="alpha", Key="k")
    s3.delete_bucket(Bucket="alpha")
    assert status_of(s3.head_bucket, Bucket="alpha") == (404, "404")
    assert error_of(s3.get_bucket_location, Bucket="alpha")[0] == "NoSuchBucket"

    for bad in ["ab", "A-bucket", "bucket_", "-bucket", "bucket-", "a..b", "192.168.5.4", "xn--bucket", "b" * 64,
                "bucket-s3alias", "sthree-bucket"]:
        assert error_of(s3.create_bucket, Bucket=bad)[0] == "InvalidBucketName", bad
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["beta"], "refused names created nothing"


def test_bucket_tagging_and_default_encryption(s3):
    s3.create_bucket(Bucket="tags")
    assert error_of(s3.get_bucket_tagging, Bucket="tags")[0] == "NoSuchTagSet"
    tagged = s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "team", "Value": "infra"}]})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204, "as S3 answers it"
    assert s3.get_bucket_tagging(Bucket="tags")["TagSet"] == [{"Key": "team", "Value": "infra"}]
    duplicate = {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
    assert error_of(s3.put_bucket_tagging, Bucket="tags", Tagging=duplicate) == (
        "InvalidTag", "Cannot provide multiple Tags with the same key")
    assert error_of(s3.put_bucket_tagging, Bucket="tags", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]}) == (
        "InvalidTag", "System tags cannot be added/updated by requester")
    assert s3.get_bucket_tagging(Bucket="tags")["TagSet"] == [{"Key": "team", "Value": "infra"}], "unchanged"
    s3.delete_bucket_tagging(Bucket="tags")
    assert error_of(s3.get_bucket_tagging, Bucket="tags")[0] == "NoSuchTagSet"

    rules = s3.get_bucket_encryption(Bucket="tags")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}, "SSE-S3 by default"
    assert rules[0]["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}, "SSE-C blocked by default"
    s3.put_bucket_encryption(Bucket="tags", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    rules = s3.get_bucket_encryption(Bucket="tags")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["BucketKeyEnabled"] is True
    s3.delete_bucket_encryption(Bucket="tags")
    assert s3.put_object(Bucket="tags", Key="o", Body=b"data")["ServerSideEncryption"] == "AES256"


def test_objects_round_trip_with_metadata_ranges_and_conditions(s3):
    s3.create_bucket(Bucket="objects")
    body = bytes(range(256)) * 1000
    put = s3.put_object(Bucket="objects", Key="dir/data.bin", Body=body, ContentType="application/x-test",
                        Metadata={"Owner": "alice"}, CacheControl="no-cache")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', "single-PUT SSE-S3 ETags are the body's MD5"
    assert put["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket="objects", Key="dir/data.bin")
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"], got["CacheControl"]) == ("application/x-test", {"owner": "alice"},
                                                                          "no-cache")
    head = s3.head_object(Bucket="objects", Key="dir/data.bin")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]

    for header, expected in [("bytes=0-9", body[:10]), ("bytes=-7", body[-7:]), ("bytes=255990-", body[255990:]),
                             ("bytes=100-100000000", body[100:])]:
        ranged = s3.get_object(Bucket="objects", Key="dir/data.bin", Range=header)
        assert ranged["Body"].read() == expected, header
        assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="objects", Key="dir/data.bin", Range=f"bytes={len(body)}-")
    refused = err.value.response
    assert (refused["ResponseMetadata"]["HTTPStatusCode"], refused["Error"]["Code"]) == (416, "InvalidRange")
    assert (refused["Error"]["RangeRequested"], refused["Error"]["ActualObjectSize"]) == (
        f"bytes={len(body)}-", str(len(body))), "S3's error document says what was asked of how much"

    etag = put["ETag"]
    assert status_of(s3.get_object, Bucket="objects", Key="dir/data.bin", IfNoneMatch=etag) == (304, "304")
    assert status_of(s3.get_object, Bucket="objects", Key="dir/data.bin", IfMatch='"0000"') == (
        412, "PreconditionFailed")
    assert s3.get_object(Bucket="objects", Key="dir/data.bin", IfMatch=etag)["ETag"] == etag
    future = head["LastModified"].replace(year=head["LastModified"].year + 1)
    assert status_of(s3.head_object, Bucket="objects", Key="dir/data.bin", IfModifiedSince=future) == (304, "304")
    past = head["LastModified"].replace(year=2000)
    assert status_of(s3.get_object, Bucket="objects", Key="dir/data.bin", IfUnmodifiedSince=past) == (
        412, "PreconditionFailed")
    overridden = s3.get_object(Bucket="objects", Key="dir/data.bin", ResponseContentType="text/plain")
    assert overridden["ContentType"] == "text/plain"

    s3.put_object(Bucket="objects", Key="once", Body=b"first", IfNoneMatch="*")
    assert error_of(s3.put_object, Bucket="objects", Key="once", Body=b"second", IfNoneMatch="*")[0] == (
        "PreconditionFailed")
    assert s3.get_object(Bucket="objects", Key="once")["Body"].read() == b"first", "the refused PUT changed nothing"

    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error_of(s3.put_object, Bucket="objects", Key="once", Body=b"third", ContentMD5=wrong_md5)[0] == "BadDigest"
    assert error_of(s3.put_object, Bucket="objects", Key="once", Body=b"third", ContentMD5="not-md5")[0] == (
        "InvalidDigest")
    assert s3.get_object(Bucket="objects", Key="once")["Body"].read() == b"first"
    # An SSE-KMS ETag is not the MD5, yet a Content-MD5 is still checked.
    assert error_of(s3.put_object, Bucket="objects", Key="sealed", Body=b"third", ContentMD5=wrong_md5,
                    ServerSideEncryption="aws:kms")[0] == "BadDigest"
    assert status_of(s3.head_object, Bucket="objects", Key="sealed") == (404, "404"), "the refused PUT left nothing"
    right_md5 = base64.b64encode(hashlib.md5(b"third").digest()).decode()
    s3.put_object(Bucket="objects", Key="sealed", Body=b"third", ContentMD5=right_md5, ServerSideEncryption="aws:kms")
    assert s3.get_object(Bucket="objects", Key="sealed")["Body"].read() == b"third"

    s3.put_object(Bucket="objects", Key="empty", Body=b"")
    assert s3.get_object(Bucket="objects", Key="empty")["Body"].read() == b""

    s3.delete_object(Bucket="objects", Key="once")
    s3.delete_object(Bucket="objects", Key="never-there")
    assert error_of(s3.get_object, Bucket="objects", Key="once")[0] == "NoSuchKey"
    assert error_of(s3.put_object, Bucket="no-such-bucket", Key="k", Body=b"x")[0] == "NoSuchBucket"
    deleted = s3.delete_objects(Bucket="objects", Delete={"Objects": [
        {"Key": "dir/data.bin"}, {"Key": "empty"}, {"Key": "sealed"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["dir/data.bin", "empty", "sealed"]
    assert s3.list_objects_v2(Bucket="objects")["KeyCount"] == 0


def test_listings_page_and_roll_up_like_s3(s3):
    s3.create_bucket(Bucket="listing")
    keys = sorted([f"photos/2024/{i:02}.jpg" for i in range(12)] + [f"photos/2025/{i}.jpg" for i in range(3)]
                  + ["readme.txt", "notes/a", "notes/b", "a+b c", "ü-unicode"])
    for key in keys:
        s3.put_object(Bucket="listing", Key=key, Body=key.encode())
    paged, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket="listing", MaxKeys=4, **({"ContinuationToken": token} if token else {}))
        assert page["KeyCount"] <= 4
        paged += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not page["IsTruncated"]:
            break
    assert paged == sorted(keys, key=lambda k: k.encode())

    top = s3.list_objects_v2(Bucket="listing", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["notes/", "photos/"]
    assert [o["Key"] for o in top["Contents"]] == ["a+b c", "readme.txt", "ü-unicode"]
    years = s3.list_objects_v2(Bucket="listing", Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in years["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    first = s3.list_objects_v2(Bucket="listing", Prefix="photos/", Delimiter="/", MaxKeys=1)
    assert first["IsTruncated"] and [p["Prefix"] for p in first["CommonPrefixes"]] == ["photos/2024/"]
    second = s3.list_objects_v2(Bucket="listing", Prefix="photos/", Delimiter="/", MaxKeys=1,
                                ContinuationToken=first["NextContinuationToken"])
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["photos/2025/"] and not second["IsTruncated"]
    after = s3.list_objects_v2(Bucket="listing", StartAfter="photos/2025/0.jpg")
    assert [o["Key"] for o in after["Contents"]][:2] == ["photos/2025/1.jpg", "photos/2025/2.jpg"]

    v1 = s3.list_objects(Bucket="listing", Prefix="notes/", MaxKeys=1)
    assert [o["Key"] for o in v1["Contents"]] == ["notes/a"] and v1["IsTruncated"]
    v1_rest = s3.list_objects(Bucket="listing", Prefix="notes/", Marker="notes/a")
    assert [o["Key"] for o in v1_rest["Contents"]] == ["notes/b"] and not v1_rest["IsTruncated"]
    encoded = s3.list_objects_v2(Bucket="listing", Prefix="a")
    assert [o["Key"] for o in encoded["Contents"]] == ["a+b c"], "boto3 decodes encoding-type=url keys"
    assert error_of(s3.list_objects_v2, Bucket="missing-bucket")[0] == "NoSuchBucket"


def test_multipart_uploads_with_the_transfer_manager_and_by_hand(s3, tmp_path):
    s3.create_bucket(Bucket="multi")
    source = tmp_path / "source.bin"
    data = os.urandom(12 * MIB + 12345)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(str(source), "multi", "big.bin", Config=config)
    head = s3.head_object(Bucket="multi", Key="big.bin")
    part_md5s = b"".join(hashlib.md5(data[i:i + 5 * MIB]).digest() for i in range(0, len(data), 5 * MIB))
    assert head["ETag"] == f'"{hashlib.md5(part_md5s).hexdigest()}-3"', "multipart ETags are the MD5 of the part MD5s"
    assert head["ContentLength"] == len(data)
    target = tmp_path / "copy.bin"
    s3.download_file("multi", "big.bin", str(target), Config=config)
    assert target.read_bytes() == data
    second = s3.get_object(Bucket="multi", Key="big.bin", PartNumber=2)
    assert (second["PartsCount"], second["ContentLength"]) == (3, 5 * MIB)
    assert second["Body"].read() == data[5 * MIB:10 * MIB]
    assert s3.head_object(Bucket="multi", Key="big.bin", PartNumber=3)["ContentLength"] == len(data) - 10 * MIB
    assert status_of(s3.get_object, Bucket="multi", Key="big.bin", PartNumber=4) == (416, "InvalidPartNumber")
    across = s3.get_object(Bucket="multi", Key="big.bin", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")
    assert across["Body"].read() == data[5 * MIB - 10:5 * MIB + 10], "a range across two parts"

    upload = s3.create_multipart_upload(Bucket="multi", Key="manual", ChecksumAlgorithm="SHA256")
    upload_id = upload["UploadId"]
    assert upload["ChecksumAlgorithm"] == "SHA256"
    part1 = s3.upload_part(Bucket="multi", Key="manual", UploadId=upload_id, PartNumber=1, Body=b"a" * (5 * MIB),
                           ChecksumAlgorithm="SHA256")
    part2 = s3.upload_part(Bucket="multi", Key="manual", UploadId=upload_id, PartNumber=2, Body=b"tail",
                           ChecksumAlgorithm="SHA256")
    listed = s3.list_parts(Bucket="multi", Key="manual", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MIB), (2, 4)]
    uploads = s3.list_multipart_uploads(Bucket="multi")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("manual", upload_id)]

    def complete(parts):
        return s3.complete_multipart_upload(Bucket="multi", Key="manual", UploadId=upload_id,
                                            MultipartUpload={"Parts": parts})

    p1 = {"PartNumber": 1, "ETag": part1["ETag"], "ChecksumSHA256": part1["ChecksumSHA256"]}
    p2 = {"PartNumber": 2, "ETag": part2["ETag"], "ChecksumSHA256": part2["ChecksumSHA256"]}
    assert error_of(complete, [p2, p1])[0] == "InvalidPartOrder"
    assert error_of(complete, [p1, {**p2, "ETag": '"00000000000000000000000000000000"'}])[0] == "InvalidPart"
    assert error_of(complete, [p1, {**p2, "PartNumber": 3}])[0] == "InvalidPart"
    assert error_of(s3.head_object, Bucket="multi", Key="manual")[0] == "404", "refused completions made nothing"
    done = complete([p1, p2])
    composite = hashlib.sha256(base64.b64decode(part1["ChecksumSHA256"]) + base64.b64decode(part2["ChecksumSHA256"]))
    assert done["ChecksumSHA256"] == f"{base64.b64encode(composite.digest()).decode()}-2"
    assert s3.get_object(Bucket="multi", Key="manual")["Body"].read() == b"a" * (5 * MIB) + b"tail"
    assert error_of(s3.list_parts, Bucket="multi", Key="manual", UploadId=upload_id)[0] == "NoSuchUpload"
    # A retried completion answers as the first did, even with a condition the object now fails (as S3 does); it
    # writes nothing. Once the key holds another object, the upload is gone.
    before = s3.head_object(Bucket="multi", Key="manual")
    again = s3.complete_multipart_upload(Bucket="multi", Key="manual", UploadId=upload_id, IfNoneMatch="*",
                                         MultipartUpload={"Parts": [p1, p2]})
    assert (again["ETag"], again["ChecksumSHA256"]) == (done["ETag"], done["ChecksumSHA256"])
    after = s3.head_object(Bucket="multi", Key="manual")
    assert (after["LastModified"], after["ETag"]) == (before["LastModified"], before["ETag"])
    assert error_of(s3.complete_multipart_upload, Bucket="multi", Key="other", UploadId=upload_id,
                    MultipartUpload={"Parts": [p1, p2]})[0] == "NoSuchUpload"
    s3.put_object(Bucket="multi", Key="manual", Body=b"replaced")
    assert error_of(complete, [p1, p2])[0] == "NoSuchUpload"
    assert s3.get_object(Bucket="multi", Key="manual")["Body"].read() == b"replaced"

    small = s3.create_multipart_upload(Bucket="multi", Key="small")["UploadId"]
    parts = [s3.upload_part(Bucket="multi", Key="small", UploadId=small, PartNumber=n, Body=b"tiny")["ETag"]
             for n in (1, 2)]
    too_small = [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), parts)]
    assert error_of(s3.complete_multipart_upload, Bucket="multi", Key="small", UploadId=small,
                    MultipartUpload={"Parts": too_small})[0] == "EntityTooSmall"
    assert error_of(s3.upload_part, Bucket="multi", Key="small", UploadId=small, PartNumber=10001,
                    Body=b"x")[0] == "InvalidArgument"
    s3.abort_multipart_upload(Bucket="multi", Key="small", UploadId=small)
    assert error_of(s3.upload_part, Bucket="multi", Key="small", UploadId=small, PartNumber=1,
                    Body=b"x")[0] == "NoSuchUpload"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="multi")


def test_copies_keep_or_replace_metadata_and_change_encryption(keyhaven_factory):
    server = keyhaven_factory("--dev", "--tls-self-signed")
    s3 = s3_client(server, verify=os.path.join(server.data_dir, "tls", "cert.pem"))
    s3.create_bucket(Bucket="copy-from")
    s3.create_bucket(Bucket="copy-to")
    allow_sse_c(s3, "copy-to")
    s3.put_object(Bucket="copy-from", Key="src", Body=b"payload", ContentType="text/x-src", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket="copy-to", Key="kept", CopySource={"Bucket": "copy-from", "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    kept = s3.get_object(Bucket="copy-to", Key="kept")
    assert (kept["Body"].read(), kept["ContentType"], kept["Metadata"]) == (b"payload", "text/x-src", {"a": "1"})
    s3.copy_object(Bucket="copy-to", Key="replaced", CopySource="copy-from/src", MetadataDirective="REPLACE",
                   ContentType="text/x-new", Metadata={"b": "2"})
    replaced = s3.head_object(Bucket="copy-to", Key="replaced")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/x-new", {"b": "2"})
    assert error_of(s3.copy_object, Bucket="copy-from", Key="src", CopySource="copy-from/src")[0] == "InvalidRequest"
    assert error_of(s3.copy_object, Bucket="copy-to", Key="x", CopySource="copy-from/missing")[0] == "NoSuchKey"
    assert error_of(s3.copy_object, Bucket="copy-to", Key="x", CopySource="copy-from/src",
                    CopySourceIfMatch='"nope"')[0] == "PreconditionFailed"

    key = os.urandom(32)
    s3.copy_object(Bucket="copy-to", Key="sealed", CopySource="copy-from/src", SSECustomerAlgorithm="AES256",
                   SSECustomerKey=key)
    assert error_of(s3.get_object, Bucket="copy-to", Key="sealed")[0] == "InvalidRequest"
    s3.copy_object(Bucket="copy-to", Key="unsealed", CopySource="copy-to/sealed", CopySourceSSECustomerAlgorithm="AES256",
                   CopySourceSSECustomerKey=key)
    assert s3.get_object(Bucket="copy-to", Key="unsealed")["Body"].read() == b"payload"
    assert error_of(s3.copy_object, Bucket="copy-to", Key="x", CopySource="copy-to/sealed")[0] == "InvalidRequest"


def test_checksums_are_verified_stored_and_returned(s3):
    s3.create_bucket(Bucket="sums")
    put = s3.put_object(Bucket="sums", Key="crc", Body=b"hello world", ChecksumAlgorithm="CRC32")
    got = s3.get_object(Bucket="sums", Key="crc", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"] == base64.b64encode((0x0D4A1185).to_bytes(4, "big")).decode()
    sha = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    code = error_of(s3.put_object, Bucket="sums", Key="crc", Body=b"hello world", ChecksumSHA256=sha)[0]
    assert code == "BadDigest"
    assert s3.get_object(Bucket="sums", Key="crc")["Body"].read() == b"hello world"


def test_sse_c_needs_tls_and_the_customer_key_which_is_never_kept(keyhaven_factory):
    server = keyhaven_factory("--dev", "--tls-self-signed")
    cert = os.path.join(server.data_dir, "tls", "cert.pem")
    s3 = s3_client(server, verify=cert)
    s3.create_bucket(Bucket="secret-bucket")
    allow_sse_c(s3, "secret-bucket")
    key = os.urandom(32)
    other = os.urandom(32)
    plaintext = b"CANARY-SSE-C-" + os.urandom(8).hex().encode()
    put = s3.put_object(Bucket="secret-bucket", Key="doc", Body=plaintext, SSECustomerAlgorithm="AES256",
                        SSECustomerKey=key)
    assert put["SSECustomerAlgorithm"] == "AES256" and "ServerSideEncryption" not in put
    assert put["ETag"] != f'"{hashlib.md5(plaintext).hexdigest()}"', "an SSE-C ETag is not the MD5 of the data"
    got = s3.get_object(Bucket="secret-bucket", Key="doc", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == plaintext
    assert got["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(key).digest()).decode()
    assert status_of(s3.get_object, Bucket="secret-bucket", Key="doc") == (400, "InvalidRequest")
    assert status_of(s3.get_object, Bucket="secret-bucket", Key="doc", SSECustomerAlgorithm="AES256",
                     SSECustomerKey=other) == (403, "AccessDenied")
    assert status_of(s3.head_object, Bucket="secret-bucket", Key="doc", SSECustomerAlgorithm="AES256",
                     SSECustomerKey=other) == (403, "403")

    upload = s3.create_multipart_upload(Bucket="secret-bucket", Key="parts", SSECustomerAlgorithm="AES256",
                                        SSECustomerKey=key)["UploadId"]
    assert error_of(s3.upload_part, Bucket="secret-bucket", Key="parts", UploadId=upload, PartNumber=1, Body=b"x",
                    SSECustomerAlgorithm="AES256", SSECustomerKey=other) == (
        "InvalidRequest", "The provided encryption parameters did not match the ones used originally.")
    assert error_of(s3.upload_part, Bucket="secret-bucket", Key="parts", UploadId=upload, PartNumber=1,
                    Body=b"x") == ("InvalidRequest", "The multipart upload initiate requested encryption. Subsequent "
                                                     "part requests must include the appropriate encryption parameters.")
    etag = s3.upload_part(Bucket="secret-bucket", Key="parts", UploadId=upload, PartNumber=1, Body=plaintext,
                          SSECustomerAlgorithm="AES256", SSECustomerKey=key)["ETag"]
    s3.complete_multipart_upload(Bucket="secret-bucket", Key="parts", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket="secret-bucket", Key="parts", SSECustomerAlgorithm="AES256",
                         SSECustomerKey=key)["Body"].read() == plaintext

    server.stop()
    needles = [plaintext, key, base64.b64encode(key), b"CANARY-SSE-C"]
    assert files_containing(server.data_dir, needles) == [], "no customer key or plaintext at rest"
    assert not any(n.decode("latin-1") in json.dumps(audit_records(server)) for n in [base64.b64encode(key)])


def test_sse_c_over_plain_http_is_refused_and_stores_nothing(dev_server, s3):
    s3.create_bucket(Bucket="plain")
    # botocore refuses to send SSE-C over HTTP itself; a request signed by hand shows the server's answer.
    key = os.urandom(32)
    headers = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
               "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
               "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode()}
    status, answer = signed_request(dev_server, "PUT", "/plain/k", b"body", headers)
    assert status == 400 and b"<Code>InvalidRequest</Code>" in answer and b"secure connection" in answer
    assert s3.list_objects_v2(Bucket="plain")["KeyCount"] == 0


def test_sse_s3_bodies_are_encrypted_at_rest(dev_server, s3):
    s3.create_bucket(Bucket="canary")
    marker = b"CANARY-SSE-S3-" + os.urandom(8).hex().encode()
    s3.put_object(Bucket="canary", Key="plain.txt", Body=marker * 1000)
    assert s3.get_object(Bucket="canary", Key="plain.txt")["Body"].read() == marker * 1000
    dev_server.stop()
    assert files_containing(dev_server.data_dir, [marker]) == []


def test_refused_requests_change_nothing(dev_server, s3):
    s3.create_bucket(Bucket="guarded")
    s3.put_object(Bucket="guarded", Key="public/readme", Body=b"original")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::guarded",
         "Condition": {"StringEquals": {"s3:prefix": "public/"}}},
    ]})
    reader = as_user(dev_server, "s3", new_user(dev_server, "reader", policy))
    assert reader.get_object(Bucket="guarded", Key="public/readme")["Body"].read() == b"original"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket="guarded", Prefix="public/")["Contents"]] == [
        "public/readme"]
    refusals = [
        (reader.list_objects_v2, {"Bucket": "guarded"}),
        (reader.put_object, {"Bucket": "guarded", "Key": "public/readme", "Body": b"changed"}),
        (reader.put_object, {"Bucket": "guarded", "Key": "new", "Body": b"new"}),
        (reader.delete_object, {"Bucket": "guarded", "Key": "public/readme"}),
        (reader.delete_bucket, {"Bucket": "guarded"}),
        (reader.put_bucket_tagging, {"Bucket": "guarded", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}),
        (reader.create_bucket, {"Bucket": "other-bucket"}),
        (reader.create_multipart_upload, {"Bucket": "guarded", "Key": "mp"}),
        (reader.list_buckets, {}),
    ]
    for call, kwargs in refusals:
        assert status_of(call, **kwargs) == (403, "AccessDenied"), call
    assert s3.get_object(Bucket="guarded", Key="public/readme")["Body"].read() == b"original"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="guarded")["Contents"]] == ["public/readme"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["guarded"]
    assert error_of(s3.get_bucket_tagging, Bucket="guarded")[0] == "NoSuchTagSet"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="guarded")


def test_bad_input_gets_s3_errors_and_changes_nothing(dev_server, s3):
    s3.create_bucket(Bucket="inputs")
    s3.put_object(Bucket="inputs", Key="k", Body=b"kept")

    def raw(method, path, body=b"", headers=None):
        return signed_request(dev_server, method, path, body, headers)

    cases = [
        ("PUT", "/inputs?tagging", b"<Tagging><TagSet><Tag>", "MalformedXML"),
        ("PUT", "/inputs?encryption", b"not xml at all", "MalformedXML"),
        ("PUT", "/inputs?encryption", b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
                                      b"<SSEAlgorithm>rot13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
                                      b"</ServerSideEncryptionConfiguration>", "MalformedXML"),
        # Elements the model requires, and enum values it does not list, fail S3's schema.
        ("PUT", "/inputs?tagging", b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>", "MalformedXML"),
        ("PUT", "/inputs?lifecycle", b"<LifecycleConfiguration></LifecycleConfiguration>", "MalformedXML"),
        ("PUT", "/inputs?lifecycle", b"<LifecycleConfiguration><Rule><ID>x</ID><Filter/><Status>Enabled</Status>"
                                     b"<Transition><Days>1</Days><StorageClass>STANDARD</StorageClass></Transition>"
                                     b"</Rule></LifecycleConfiguration>", "MalformedXML"),
        ("PUT", "/inputs?versioning", b"<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>",
         "MalformedXML"),
        ("GET", "/inputs?list-type=2&max-keys=abc", b"", "InvalidArgument"),
        ("PUT", "/inputs/" + "k" * 1025, b"x", "KeyTooLongError"),
        ("PUT", "/inputs/k", b"changed", None),
        ("PATCH", "/inputs/k", b"", "MethodNotAllowed"),
    ]
    for method, path, body, code in cases:
        headers = {}
        if path == "/inputs/k" and code is None:
            headers = {"x-amz-server-side-encryption": "rot13"}
            code = "InvalidArgument"
        status, answer = raw(method, path, body, headers)
        assert status >= 400 and f"<Code>{code}</Code>".encode() in answer, (method, path, status, answer)
        assert b"<RequestId>" in answer
    assert s3.get_object(Bucket="inputs", Key="k")["Body"].read() == b"kept"
    assert error_of(s3.get_bucket_tagging, Bucket="inputs")[0] == "NoSuchTagSet"
    assert error_of(s3.get_bucket_lifecycle_configuration, Bucket="inputs")[0] == "NoSuchLifecycleConfiguration"
    assert "Status" not in s3.get_bucket_versioning(Bucket="inputs")

    # Refused as AWS refuses them (its recorded answers), each leaving the object as it was.
    sha256 = base64.b64encode(hashlib.sha256(b"new").digest()).decode()
    refused = [
        (s3.list_objects_v2, {"EncodingType": "base64"},
         ("InvalidArgument", "Invalid Encoding Method specified in Request")),
        (s3.put_object, {"Key": "k", "Body": b"new", "IfNoneMatch": "etag"},
         ("NotImplemented", "A header you provided implies functionality that is not implemented")),
        (s3.put_object, {"Key": "k", "Body": b"new", "ChecksumSHA256": "not-base64!"},
         ("InvalidRequest", "Value for x-amz-checksum-sha256 header is invalid.")),
        (s3.put_object, {"Key": "k", "Body": b"new", "ChecksumSHA256": sha256, "ChecksumCRC32": "AAAAAA=="},
         ("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")),
        (s3.put_object, {"Key": "k", "Body": b"new", "Tagging": "a=1&a=2"},
         ("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
                             "parameters without tag name duplicates.")),
    ]
    s3.put_bucket_versioning(Bucket="inputs", VersioningConfiguration={"Status": "Enabled"})
    refused += [
        (s3.delete_bucket, {}, ("BucketNotEmpty", "The bucket you tried to delete is not empty. You must delete all "
                                                  "versions in the bucket.")),
        (s3.put_bucket_versioning, {"VersioningConfiguration": {}},
         ("IllegalVersioningConfigurationException", "The Versioning element must be specified")),
        (s3.list_object_versions, {"VersionIdMarker": "null"},
         ("InvalidArgument", "A version-id marker cannot be specified without a key marker.")),
    ]
    for call, arguments, expected in refused:
        assert error_of(call, Bucket="inputs", **arguments) == expected, arguments
    assert error_of(s3.create_bucket, Bucket="ownership-odd", ObjectOwnership="RandomValue") == (
        "InvalidArgument", "Invalid x-amz-object-ownership header: RandomValue")
    assert error_of(s3.list_buckets, BucketRegion="eu-east-1") == (
        "InvalidArgument", "Argument value eu-east-1 is not a valid AWS Region")
    assert [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-1")["Buckets"]] == ["inputs"]
    assert s3.get_object(Bucket="inputs", Key="k")["Body"].read() == b"kept"


def test_the_aws_cli_high_level_commands(dev_server, tmp_path):
    source = tmp_path / "tree"
    (source / "nested").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "nested" / "b.txt").write_text("beta")
    big = source / "big.bin"
    big.write_bytes(os.urandom(9 * MIB))
    aws(dev_server, "s3", "mb", "s3://cli-bucket")
    aws(dev_server, "s3", "sync", str(source), "s3://cli-bucket/tree")
    listed = aws(dev_server, "s3", "ls", "--recursive", "s3://cli-bucket/").stdout.decode()
    assert all(k in listed for k in ["tree/a.txt", "tree/nested/b.txt", "tree/big.bin"])
    aws(dev_server, "s3", "cp", "s3://cli-bucket/tree/big.bin", str(tmp_path / "big.copy"))
    assert (tmp_path / "big.copy").read_bytes() == big.read_bytes()
    aws(dev_server, "s3", "mv", "s3://cli-bucket/tree/a.txt", "s3://cli-bucket/moved.txt")
    assert aws(dev_server, "s3", "cp", "s3://cli-bucket/moved.txt", "-").stdout == b"alpha"
    # awscli 1.x presigns with SigV2 in us-east-1 unless told otherwise; keyhaven takes SigV4 only, as new AWS
    # Regions do.
    config = tmp_path / "aws-config"
    config.write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    # Signed by an IAM user: dev mode's any-key credentials are not verified, a user's are.
    reader = new_user(dev_server, "presigner", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cli-bucket/*"}]}))
    env = dict(dev_server.cli_env(), AWS_CONFIG_FILE=str(config), AWS_ACCESS_KEY_ID=reader[0],
               AWS_SECRET_ACCESS_KEY=reader[1])
    presigned = subprocess.run(["aws", "--endpoint-url", dev_server.endpoint, "s3", "presign", "s3://cli-bucket/moved.txt",
                                "--expires-in", "60"], env=env, capture_output=True, check=True).stdout.decode()
    assert "X-Amz-Signature=" in presigned
    with urllib.request.urlopen(presigned.strip()) as response:
        assert response.read() == b"alpha", "a presigned GET works without credentials"
    tampered = presigned.strip().replace("moved.txt", "tree/nested/b.txt")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered)
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()
    head = json.loads(aws(dev_server, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "moved.txt").stdout)
    assert head["ServerSideEncryption"] == "AES256"
    aws(dev_server, "s3", "rm", "--recursive", "s3://cli-bucket/")
    aws(dev_server, "s3", "rb", "s3://cli-bucket")
    assert b"cli-bucket" not in aws(dev_server, "s3", "ls").stdout


def test_s3_calls_are_audited_without_secrets(keyhaven_factory):
    server = keyhaven_factory("--dev", "--tls-self-signed")
    s3 = s3_client(server, verify=os.path.join(server.data_dir, "tls", "cert.pem"))
    s3.create_bucket(Bucket="audited")
    allow_sse_c(s3, "audited")
    key = os.urandom(32)
    s3.put_object(Bucket="audited", Key="doc", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    error_of(s3.get_object, Bucket="audited", Key="missing")
    server.stop()
    records = [r for r in audit_records(server) if r["eventSource"] == "s3.amazonaws.com"]
    names = [(r["eventName"], r.get("errorCode")) for r in records]
    assert ("CreateBucket", None) in names and ("PutObject", None) in names and ("GetObject", "NoSuchKey") in names
    put = next(r for r in records if r["eventName"] == "PutObject")
    assert put["requestParameters"]["bucketName"] == "audited" and put["requestParameters"]["key"] == "doc"
    assert base64.b64encode(key).decode() not in json.dumps(records)


def kms_calls(server, name):
    """The KMS calls S3 made on callers' behalf, as the audit log records them: (operation, encryption context)."""
    return [(r["eventName"], r["requestParameters"].get("encryptionContext")) for r in audit_records(server)
            if r["eventSource"] == "kms.amazonaws.com" and r["userIdentity"].get("invokedBy") == "s3.amazonaws.com"
            and r["eventName"] == name]


def test_sse_kms_objects_are_sealed_by_keys_kms_opens_for_the_caller(dev_server, s3, tmp_path):
    kms = dev_server.client("kms")
    s3.create_bucket(Bucket="kms-objects")
    default = s3.put_object(Bucket="kms-objects", Key="default", Body=b"under aws/s3", ServerSideEncryption="aws:kms")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert (default["ServerSideEncryption"], default["SSEKMSKeyId"]) == ("aws:kms", managed["Arn"])
    assert default["ETag"] != f'"{hashlib.md5(b"under aws/s3").hexdigest()}"', "SSE-KMS ETags are not the MD5"
    assert managed["KeyManager"] == "AWS"

    key = kms.create_key()["KeyMetadata"]["Arn"]
    context = base64.b64encode(json.dumps({"project": "x"}).encode()).decode()
    put = s3.put_object(Bucket="kms-objects", Key="mine", Body=b"under my key", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key, SSEKMSEncryptionContext=context)
    assert put["SSEKMSKeyId"] == key
    got = s3.get_object(Bucket="kms-objects", Key="mine")
    assert (got["Body"].read(), got["ServerSideEncryption"], got["SSEKMSKeyId"]) == (b"under my key", "aws:kms", key)

    source = tmp_path / "big"
    source.write_bytes(os.urandom(11 * MIB))
    s3.upload_file(str(source), "kms-objects", "big", ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key},
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    assert s3.get_object(Bucket="kms-objects", Key="big")["Body"].read() == source.read_bytes()

    assert error_of(s3.put_object, Bucket="kms-objects", Key="nokey", Body=b"x", ServerSideEncryption="aws:kms",
                    SSEKMSKeyId="alias/does-not-exist")[0] == "KMS.NotFoundException"
    assert error_of(s3.put_object, Bucket="kms-objects", Key="nokey", Body=b"x", SSEKMSKeyId=key)[0] == (
        "InvalidArgument")
    kms.disable_key(KeyId=key)
    assert error_of(s3.get_object, Bucket="kms-objects", Key="mine")[0] == "KMS.DisabledException"
    assert error_of(s3.put_object, Bucket="kms-objects", Key="nokey", Body=b"x", ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=key)[0] == "KMS.DisabledException"
    assert error_of(s3.head_object, Bucket="kms-objects", Key="nokey")[0] == "404", "refused PUTs stored nothing"
    kms.enable_key(KeyId=key)

    # A caller S3 would let write but KMS would not: refused, and nothing stored.
    writer = as_user(dev_server, "s3", new_user(dev_server, "kms-less", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::kms-objects/*"}]})))
    assert status_of(writer.put_object, Bucket="kms-objects", Key="denied", Body=b"x", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId=key) == (403, "AccessDenied")
    assert status_of(writer.get_object, Bucket="kms-objects", Key="mine") == (403, "AccessDenied")
    assert error_of(s3.head_object, Bucket="kms-objects", Key="denied")[0] == "404"
    writer.put_object(Bucket="kms-objects", Key="sse-s3", Body=b"fine")

    dev_server.stop()
    assert files_containing(dev_server.data_dir, [b"under my key", b"under aws/s3"]) == []
    # Reads are audited once the log is flushed, which stopping the server does.
    mine = {"aws:s3:arn": "arn:aws:s3:::kms-objects/mine", "project": "x"}
    assert ("GenerateDataKey", mine) in kms_calls(dev_server, "GenerateDataKey")
    assert ("Decrypt", mine) in kms_calls(dev_server, "Decrypt")


def test_dsse_kms_objects_have_two_layers_and_never_a_bucket_key(dev_server, s3, tmp_path):
    kms = dev_server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="dsse")
    # A bucket key asked for by default is not used: S3 offers none for DSSE-KMS.
    s3.put_bucket_encryption(Bucket="dsse", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": key},
        "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket="dsse")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": key}
    body = b"two layers of secrets " * 5000
    put = s3.put_object(Bucket="dsse", Key="by-default", Body=body)
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put.get("BucketKeyEnabled")) == (
        "aws:kms:dsse", key, None)
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"', "DSSE-KMS ETags are not the MD5"
    got = s3.get_object(Bucket="dsse", Key="by-default", Range="bytes=65530-65560")
    assert (got["Body"].read(), got["ServerSideEncryption"], got["SSEKMSKeyId"]) == (
        body[65530:65561], "aws:kms:dsse", key)
    head = s3.head_object(Bucket="dsse", Key="by-default")
    assert (head["ServerSideEncryption"], head["ContentLength"], head.get("BucketKeyEnabled")) == (
        "aws:kms:dsse", len(body), None)

    # Asked for per request, without a key: the AWS managed aws/s3 key, as for SSE-KMS.
    s3.create_bucket(Bucket="dsse-plain")
    asked = s3.put_object(Bucket="dsse-plain", Key="asked", Body=b"asked for", ServerSideEncryption="aws:kms:dsse")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    assert (asked["ServerSideEncryption"], asked["SSEKMSKeyId"]) == ("aws:kms:dsse", managed)
    assert s3.get_object(Bucket="dsse-plain", Key="asked")["Body"].read() == b"asked for"

    # Multipart and copies in and out of DSSE-KMS.
    source = tmp_path / "big"
    source.write_bytes(os.urandom(11 * MIB))
    s3.upload_file(str(source), "dsse-plain", "big",
                   ExtraArgs={"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": key},
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    big = s3.get_object(Bucket="dsse-plain", Key="big")
    assert (big["Body"].read(), big["ServerSideEncryption"], big["SSEKMSKeyId"]) == (
        source.read_bytes(), "aws:kms:dsse", key)
    s3.put_object(Bucket="dsse-plain", Key="sse-s3", Body=b"plain at first")
    copied = s3.copy_object(Bucket="dsse-plain", Key="sse-s3", CopySource="dsse-plain/sse-s3",
                            ServerSideEncryption="aws:kms:dsse", SSEKMSKeyId=key)
    assert copied["ServerSideEncryption"] == "aws:kms:dsse"
    back = s3.copy_object(Bucket="dsse-plain", Key="back", CopySource="dsse/by-default")
    assert back["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket="dsse-plain", Key="back")["Body"].read() == body
    assert s3.get_object(Bucket="dsse-plain", Key="sse-s3")["Body"].read() == b"plain at first"

    # AWS's policy requiring DSSE-KMS refuses an SSE-KMS upload and lets a DSSE-KMS one through.
    s3.put_bucket_policy(Bucket="dsse-plain", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyUnEncryptedObjectUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::dsse-plain/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms:dsse"}}}]}))
    assert status_of(s3.put_object, Bucket="dsse-plain", Key="single", Body=b"x",
                     ServerSideEncryption="aws:kms") == (403, "AccessDenied")
    assert error_of(s3.head_object, Bucket="dsse-plain", Key="single")[0] == "404"
    s3.put_object(Bucket="dsse-plain", Key="dual", Body=b"x", ServerSideEncryption="aws:kms:dsse")

    # Reading needs KMS to open the first layer's key for the caller.
    reader = as_user(dev_server, "s3", new_user(dev_server, "dsse-reader", json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dsse/*"}]})))
    assert status_of(reader.get_object, Bucket="dsse", Key="by-default") == (403, "AccessDenied")
    kms.disable_key(KeyId=key)
    assert error_of(s3.get_object, Bucket="dsse", Key="by-default")[0] == "KMS.DisabledException"
    kms.enable_key(KeyId=key)

    dev_server.stop()
    assert files_containing(dev_server.data_dir, [b"two layers of secrets", b"plain at first", b"asked for"]) == []
    generated = kms_calls(dev_server, "GenerateDataKey")
    assert ("GenerateDataKey", {"aws:s3:arn": "arn:aws:s3:::dsse/by-default"}) in generated
    assert all(context != {"aws:s3:arn": "arn:aws:s3:::dsse"} for _, context in generated), "no bucket key"


def test_storage_classes_are_kept_and_archived_objects_need_a_restore(dev_server, s3):
    s3.create_bucket(Bucket="classes")
    s3.put_object(Bucket="classes", Key="ia", Body=b"infrequent", StorageClass="STANDARD_IA",
                  WebsiteRedirectLocation="/elsewhere")
    head = s3.head_object(Bucket="classes", Key="ia")
    assert (head["StorageClass"], head["WebsiteRedirectLocation"]) == ("STANDARD_IA", "/elsewhere")
    s3.put_object(Bucket="classes", Key="plain", Body=b"standard")
    assert "StorageClass" not in s3.head_object(Bucket="classes", Key="plain"), "STANDARD is not echoed"
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket="classes")["Contents"]}
    assert listed == {"ia": "STANDARD_IA", "plain": "STANDARD"}

    # Refused classes and redirects store nothing.
    for args, code in [({"StorageClass": "STANDARDD"}, "InvalidStorageClass"),
                       ({"StorageClass": "EXPRESS_ONEZONE"}, "InvalidStorageClass"),
                       ({"WebsiteRedirectLocation": "ftp://x"}, "InvalidRedirectLocation")]:
        assert status_of(s3.put_object, Bucket="classes", Key="refused", Body=b"x", **args) == (400, code)
    assert error_of(s3.head_object, Bucket="classes", Key="refused")[0] == "404"

    # A copy takes the class it names, never its source's; naming one (STANDARD too) changes an object in place.
    s3.copy_object(Bucket="classes", Key="copy", CopySource="classes/ia")
    assert s3.get_object_attributes(Bucket="classes", Key="copy", ObjectAttributes=["StorageClass"])[
        "StorageClass"] == "STANDARD"
    assert s3.head_object(Bucket="classes", Key="copy")["WebsiteRedirectLocation"] == "/elsewhere"
    assert status_of(s3.copy_object, Bucket="classes", Key="plain", CopySource="classes/plain") == (
        400, "InvalidRequest")
    s3.copy_object(Bucket="classes", Key="plain", CopySource="classes/plain", StorageClass="STANDARD")

    # GLACIER: HEAD works, the body cannot be read or copied until restored, and only until the restore expires.
    s3.put_object(Bucket="classes", Key="cold", Body=b"frozen", StorageClass="GLACIER")
    assert "Restore" not in s3.head_object(Bucket="classes", Key="cold")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="classes", Key="cold")
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["StorageClass"]) == (
        "InvalidObjectState", "GLACIER")
    assert status_of(s3.copy_object, Bucket="classes", Key="thawed", CopySource="classes/cold") == (
        403, "ObjectNotInActiveTierError")
    assert status_of(s3.restore_object, Bucket="classes", Key="plain", RestoreRequest={"Days": 1}) == (
        403, "InvalidObjectState")
    assert s3.restore_object(Bucket="classes", Key="cold", RestoreRequest={"Days": 1})[
        "ResponseMetadata"]["HTTPStatusCode"] == 202
    assert s3.restore_object(Bucket="classes", Key="cold", RestoreRequest={"Days": 2})[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    restore = s3.head_object(Bucket="classes", Key="cold")["Restore"]
    assert restore.startswith('ongoing-request="false", expiry-date="') and "00:00:00 GMT" in restore
    assert s3.get_object(Bucket="classes", Key="cold")["Body"].read() == b"frozen"
    s3.copy_object(Bucket="classes", Key="thawed", CopySource="classes/cold")
    assert s3.list_objects_v2(Bucket="classes", Prefix="thawed")["Contents"][0]["StorageClass"] == "STANDARD"
    assert "Restore" not in s3.head_object(Bucket="classes", Key="thawed")
    dev_server.advance_clock(3 * 24 * 3600)
    assert error_of(s3.get_object, Bucket="classes", Key="cold")[0] == "InvalidObjectState"


def test_object_lock_protects_versions_as_s3_does(dev_server, s3):
    import datetime
    now = datetime.datetime.fromtimestamp(dev_server.advance_clock(0)["now"], datetime.timezone.utc)
    s3.create_bucket(Bucket="plain-bucket")
    assert status_of(s3.put_object_lock_configuration, Bucket="plain-bucket", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled"}) == (409, "InvalidBucketState")
    s3.put_object(Bucket="plain-bucket", Key="kept", Body=b"x")
    for bypass in (True, False):
        assert error_of(s3.delete_object, Bucket="plain-bucket", Key="kept", BypassGovernanceRetention=bypass) == (
            "InvalidArgument", "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.")
    s3.head_object(Bucket="plain-bucket", Key="kept")
    assert status_of(s3.put_object, Bucket="plain-bucket", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                     ObjectLockRetainUntilDate=now + datetime.timedelta(days=1)) == (400, "InvalidRequest")
    assert error_of(s3.head_object, Bucket="plain-bucket", Key="k")[0] == "404"

    s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    assert status_of(s3.put_bucket_versioning, Bucket="vault", VersioningConfiguration={"Status": "Suspended"}) == (
        409, "InvalidBucketState")
    assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
    for rule, code in [({"Mode": "COMPLIANCE", "Days": 0}, "InvalidArgument"),
                       ({"Mode": "COMPLIANCE", "Days": 1, "Years": 1}, "MalformedXML"),
                       ({"Mode": "FOREVER", "Days": 1}, "MalformedXML")]:
        assert error_of(s3.put_object_lock_configuration, Bucket="vault", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}})[0] == code
    assert "Rule" not in s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]

    # The default retention applies to new versions; a COMPLIANCE version cannot be deleted or loosened by anyone.
    s3.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    kept = s3.put_object(Bucket="vault", Key="ledger", Body=b"entry one")["VersionId"]
    head = s3.head_object(Bucket="vault", Key="ledger", VersionId=kept)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert datetime.timedelta(hours=23) < head["ObjectLockRetainUntilDate"] - now < datetime.timedelta(hours=25)
    assert status_of(s3.delete_object, Bucket="vault", Key="ledger", VersionId=kept,
                     BypassGovernanceRetention=True) == (403, "AccessDenied")
    errors = s3.delete_objects(Bucket="vault", Delete={"Objects": [{"Key": "ledger", "VersionId": kept}]})["Errors"]
    assert (errors[0]["Code"], errors[0]["Message"]) == (
        "AccessDenied", "Access Denied because object protected by object lock.")
    assert status_of(s3.put_object_retention, Bucket="vault", Key="ledger", VersionId=kept, Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": now + datetime.timedelta(days=5)}, BypassGovernanceRetention=True) == (
        403, "AccessDenied")
    s3.put_object_retention(Bucket="vault", Key="ledger", VersionId=kept, Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": now + datetime.timedelta(days=2)})
    assert s3.get_object_retention(Bucket="vault", Key="ledger", VersionId=kept)["Retention"]["Mode"] == "COMPLIANCE"
    marker = s3.delete_object(Bucket="vault", Key="ledger")
    assert marker["DeleteMarker"] is True, "a delete without a version id only adds a delete marker"
    assert s3.get_object(Bucket="vault", Key="ledger", VersionId=kept)["Body"].read() == b"entry one"

    # GOVERNANCE gives way to a bypass the caller is allowed; a legal hold to nothing.
    governed = s3.put_object(Bucket="vault", Key="draft", Body=b"draft", ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=now + datetime.timedelta(days=3))["VersionId"]
    assert error_of(s3.get_object_legal_hold, Bucket="vault", Key="draft", VersionId=governed)[0] == (
        "NoSuchObjectLockConfiguration"), "no legal hold was ever set"
    editor = as_user(dev_server, "s3", new_user(dev_server, "editor", json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject",
                                                     "s3:GetObject", "s3:GetObjectVersion"],
                       "Resource": "arn:aws:s3:::vault/*"}]})))
    assert status_of(editor.delete_object, Bucket="vault", Key="draft", VersionId=governed,
                     BypassGovernanceRetention=True) == (403, "AccessDenied")
    assert status_of(editor.put_object, Bucket="vault", Key="sneaky", Body=b"x", ObjectLockMode="GOVERNANCE",
                     ObjectLockRetainUntilDate=now + datetime.timedelta(days=1)) == (403, "AccessDenied")
    assert error_of(s3.head_object, Bucket="vault", Key="sneaky")[0] == "404"
    s3.put_object_legal_hold(Bucket="vault", Key="draft", VersionId=governed, LegalHold={"Status": "ON"})
    assert s3.head_object(Bucket="vault", Key="draft", VersionId=governed)["ObjectLockLegalHoldStatus"] == "ON"
    assert status_of(s3.delete_object, Bucket="vault", Key="draft", VersionId=governed,
                     BypassGovernanceRetention=True) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket="vault", Key="draft", VersionId=governed, LegalHold={"Status": "OFF"})
    assert status_of(s3.delete_object, Bucket="vault", Key="draft", VersionId=governed) == (403, "AccessDenied")
    s3.delete_object(Bucket="vault", Key="draft", VersionId=governed, BypassGovernanceRetention=True)
    assert error_of(s3.head_object, Bucket="vault", Key="draft", VersionId=governed)[0] == "404"

    # Once the retention has passed, the version can go.
    dev_server.advance_clock(3 * 24 * 3600)
    s3.delete_object(Bucket="vault", Key="ledger", VersionId=kept)
    assert error_of(s3.head_object, Bucket="vault", Key="ledger", VersionId=kept)[0] == "404"


def test_lifecycle_rules_are_kept_as_given_and_carried_out_daily(dev_server, s3):
    s3.create_bucket(Bucket="aging")
    rules = [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "archive", "Status": "Enabled", "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}],
         "Filter": {"And": {"Prefix": "data/", "Tags": [{"Key": "class", "Value": "cold"}]}}},
        {"ID": "uploads", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        {"ID": "off", "Prefix": "keep/", "Status": "Disabled", "Expiration": {"Days": 1}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket="aging", LifecycleConfiguration={"Rules": rules})
    assert s3.get_bucket_lifecycle_configuration(Bucket="aging")["Rules"] == rules
    for rule, code in [({"ID": "x", "Status": "Enabled", "Expiration": {"Days": 1}}, "MalformedXML"),
                       ({"ID": "x", "Prefix": "", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
                        "MalformedXML"),
                       ({"ID": "x", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}, "InvalidArgument")]:
        assert error_of(s3.put_bucket_lifecycle_configuration, Bucket="aging",
                        LifecycleConfiguration={"Rules": [rule]})[0] == code
    assert s3.get_bucket_lifecycle_configuration(Bucket="aging")["Rules"] == rules, "refused configurations change nothing"

    s3.put_object(Bucket="aging", Key="logs/a", Body=b"old log")
    s3.put_object(Bucket="aging", Key="keep/b", Body=b"kept")
    s3.put_object(Bucket="aging", Key="data/c", Body=b"cold data", Tagging="class=cold")
    s3.put_object(Bucket="aging", Key="data/d", Body=b"warm data")
    s3.create_multipart_upload(Bucket="aging", Key="abandoned")

    s3.create_bucket(Bucket="aging-versions")
    s3.put_bucket_versioning(Bucket="aging-versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="aging-versions", LifecycleConfiguration={"Rules": [
        {"ID": "docs", "Filter": {"Prefix": "doc"}, "Status": "Enabled", "Expiration": {"Days": 1},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
        {"ID": "markers", "Filter": {"Prefix": "gone/"}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}}]})
    written = [s3.put_object(Bucket="aging-versions", Key="doc", Body=f"v{n}".encode())["VersionId"] for n in (1, 2, 3)]
    only = s3.put_object(Bucket="aging-versions", Key="gone/x", Body=b"x")["VersionId"]
    s3.delete_object(Bucket="aging-versions", Key="gone/x")
    s3.delete_object(Bucket="aging-versions", Key="gone/x", VersionId=only)

    dev_server.advance_clock(2 * 24 * 3600)
    assert error_of(s3.head_object, Bucket="aging", Key="logs/a")[0] == "404"
    assert s3.get_object(Bucket="aging", Key="keep/b")["Body"].read() == b"kept", "disabled rules do nothing"
    assert s3.head_object(Bucket="aging", Key="data/c")["StorageClass"] == "GLACIER"
    assert error_of(s3.get_object, Bucket="aging", Key="data/c")[0] == "InvalidObjectState"
    assert "StorageClass" not in s3.head_object(Bucket="aging", Key="data/d"), "untagged objects stay"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="aging")
    assert error_of(s3.head_object, Bucket="aging-versions", Key="doc")[0] == "404", "expired behind a delete marker"
    listed = s3.list_object_versions(Bucket="aging-versions")
    assert [m["Key"] for m in listed.get("DeleteMarkers", [])] == ["doc"], "the lone marker of gone/x went"

    dev_server.advance_clock(24 * 3600)
    versions = [v["VersionId"] for v in s3.list_object_versions(Bucket="aging-versions", Prefix="doc")["Versions"]]
    assert versions == [written[2]], "older noncurrent versions expire, the newest one is kept"
    s3.delete_bucket_lifecycle(Bucket="aging")
    assert error_of(s3.get_bucket_lifecycle_configuration, Bucket="aging")[0] == "NoSuchLifecycleConfiguration"


def test_accelerate_namespaces_owners_and_listing_arguments(dev_server, s3):
    s3.create_bucket(Bucket="fast")
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket="fast")
    s3.put_bucket_accelerate_configuration(Bucket="fast", AccelerateConfiguration={"Status": "Suspended"})
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket="fast"), "suspending nothing sets nothing"
    s3.put_bucket_accelerate_configuration(Bucket="fast", AccelerateConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_accelerate_configuration(Bucket="fast")["Status"] == "Enabled"
    assert error_of(s3.put_bucket_accelerate_configuration, Bucket="fast",
                    AccelerateConfiguration={"Status": "Fastest"})[0] == "MalformedXML"
    s3.create_bucket(Bucket="with.dots")
    assert error_of(s3.put_bucket_accelerate_configuration, Bucket="with.dots",
                    AccelerateConfiguration={"Status": "Enabled"})[0] == "InvalidRequest"

    # The account regional namespace takes only names ending in -<account>-<region>-an.
    account = dev_server.client("sts").get_caller_identity()["Account"]
    mine = f"logs-{account}-us-east-1-an"
    s3.create_bucket(Bucket=mine, BucketNamespace="account-regional")
    s3.head_bucket(Bucket=mine)
    other = "logs-999999999999-us-east-1-an" if account != "999999999999" else "logs-111111111111-us-east-1-an"
    assert status_of(s3.create_bucket, Bucket=other, BucketNamespace="account-regional") == (
        400, "InvalidNamespaceHeader")
    assert error_of(s3.head_bucket, Bucket=other)[0] == "404"

    s3.put_object(Bucket="fast", Key="a", Body=b"1")
    s3.put_object(Bucket="fast", Key="b", Body=b"2")
    assert "Owner" not in s3.list_objects_v2(Bucket="fast")["Contents"][0]
    assert s3.list_objects_v2(Bucket="fast", FetchOwner=True)["Contents"][0]["Owner"]["ID"]
    assert s3.list_objects(Bucket="fast")["Contents"][0]["Owner"]["ID"]
    first = s3.list_objects_v2(Bucket="fast", MaxKeys=1)
    second = s3.list_objects_v2(Bucket="fast", MaxKeys=1, StartAfter="a",
                                ContinuationToken=first["NextContinuationToken"])
    assert "StartAfter" not in second and [o["Key"] for o in second["Contents"]] == ["b"]
    upload = s3.create_multipart_upload(Bucket="fast", Key="parts")["UploadId"]
    assert s3.list_parts(Bucket="fast", Key="parts", UploadId=upload)["NextPartNumberMarker"] == 0
    assert error_of(s3.list_parts, Bucket="fast", Key="parts", UploadId=upload, MaxParts=-1) == (
        "InvalidArgument", "Argument max-parts must be an integer between 0 and 2147483647")
    assert error_of(s3.list_objects_v2, Bucket="fast", MaxKeys=2**31 + 5) == (
        "InvalidArgument", "Provided max-keys not an integer or within integer range")


def test_cors_rules_answer_preflights_and_cross_origin_requests(dev_server, s3):
    s3.create_bucket(Bucket="web-assets")
    s3.put_object(Bucket="web-assets", Key="app.js", Body=b"console.log(1)")

    def preflight(origin, method, headers=None):
        request = urllib.request.Request(f"{dev_server.endpoint}/web-assets/app.js", method="OPTIONS", headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            **({"Access-Control-Request-Headers": headers} if headers else {})})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.headers, b""
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    status, _, body = preflight("https://app.example.com", "GET")
    assert status == 403 and b"CORS is not enabled for this bucket" in body
    no_origin = urllib.request.Request(f"{dev_server.endpoint}/web-assets/app.js", method="OPTIONS",
                                       headers={"Access-Control-Request-Method": "GET"})
    status, body = sent(no_origin)
    assert status == 400 and b"Insufficient information. Origin request header needed." in body
    assert error_of(s3.get_bucket_cors, Bucket="web-assets")[0] == "NoSuchCORSConfiguration"
    for rules, code in [([], "MalformedXML"),
                        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["NOTREAL"]}], "InvalidRequest")]:
        assert error_of(s3.put_bucket_cors, Bucket="web-assets", CORSConfiguration={"CORSRules": rules})[0] == code
    rules = [{"ID": "site", "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
              "AllowedHeaders": ["x-amz-*", "Content-Type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    s3.put_bucket_cors(Bucket="web-assets", CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket="web-assets")["CORSRules"] == rules

    status, headers, _ = preflight("https://app.example.com", "PUT", "content-type, x-amz-date")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert (headers["Access-Control-Max-Age"], headers["Access-Control-Expose-Headers"]) == ("600", "ETag")
    for origin, method, asked in [("https://evil.example.org", "GET", None), ("https://app.example.com", "DELETE", None),
                                  ("https://app.example.com", "GET", "authorization")]:
        status, headers, body = preflight(origin, method, asked)
        assert status == 403 and b"AccessForbidden" in body and "Access-Control-Allow-Origin" not in headers

    # An actual cross-origin request carries the headers of the rule that allows it, and only then.
    allowed = s3_client(dev_server)
    allowed.meta.events.register("before-send.s3.GetObject",
                                 lambda request, **_: request.headers.__setitem__("Origin", "https://app.example.com"))
    got = allowed.get_object(Bucket="web-assets", Key="app.js")
    assert got["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in s3.get_object(Bucket="web-assets", Key="app.js")[
        "ResponseMetadata"]["HTTPHeaders"]
    s3.delete_bucket_cors(Bucket="web-assets")
    assert preflight("https://app.example.com", "GET")[0] == 403


def test_signature_version_2_as_boto3_presigns_by_default(dev_server, s3):
    from urllib.parse import parse_qs, urlencode, urlsplit
    s3.create_bucket(Bucket="legacy-signed")
    s3.put_object(Bucket="legacy-signed", Key="report.txt", Body=b"quarterly numbers")
    # An IAM user's key, whose signatures dev mode checks (it trusts unknown keys as account roots).
    user_key = new_user(dev_server, "legacy-user", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::legacy-signed/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::legacy-signed/upload*"}]}))
    presigner = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key=user_key[1])
    # botocore presigns S3 URLs with SigV2 (AWSAccessKeyId, Signature, Expires) unless told otherwise.
    url = presigner.generate_presigned_url("get_object", {"Bucket": "legacy-signed", "Key": "report.txt"},
                                           ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "X-Amz-Signature" not in url
    assert sent(urllib.request.Request(url)) == (200, b"quarterly numbers")
    put_url = presigner.generate_presigned_url("put_object", {"Bucket": "legacy-signed", "Key": "upload.txt",
                                                              "ContentType": "text/plain"}, ExpiresIn=300)
    assert sent(urllib.request.Request(put_url, data=b"uploaded", method="PUT",
                                       headers={"Content-Type": "text/plain"}))[0] == 200
    status, body = sent(urllib.request.Request(put_url, data=b"other", method="PUT",
                                               headers={"Content-Type": "text/html"}))
    assert (status, b"SignatureDoesNotMatch" in body) == (403, True)
    assert s3.get_object(Bucket="legacy-signed", Key="upload.txt")["Body"].read() == b"uploaded"

    # Headers the signer moved into the query (x-amz-meta-*) are signed there and taken as headers.
    meta_url = presigner.generate_presigned_url("put_object", {"Bucket": "legacy-signed", "Key": "upload-meta",
                                                               "Metadata": {"venue": "123"}}, ExpiresIn=300)
    assert "x-amz-meta-venue=123" in meta_url
    # (urllib sends a form Content-Type unless told otherwise; the URL signed none.)
    no_type = {"Content-Type": ""}
    assert sent(urllib.request.Request(meta_url.replace("venue=123", "venue=999"), data=b"x", method="PUT",
                                       headers=no_type))[0] == 403
    assert sent(urllib.request.Request(meta_url, data=b"with metadata", method="PUT", headers=no_type))[0] == 200
    assert s3.head_object(Bucket="legacy-signed", Key="upload-meta")["Metadata"] == {"venue": "123"}

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for change, code in [({"Signature": "AAAA" + query["Signature"][4:]}, b"SignatureDoesNotMatch"),
                         ({"Expires": "1000000000"}, b"Request has expired")]:
        status, body = sent(urllib.request.Request(f"{parts.scheme}://{parts.netloc}{parts.path}?"
                                                   + urlencode({**query, **change})))
        assert status == 403 and code in body, body

    status, body = sent(urllib.request.Request(url.split("&Expires=")[0]))
    assert status == 403 and b"Query-string authentication requires the Signature, Expires and AWSAccessKeyId" in body

    # SigV4 presigned URLs: x-amz-* headers the signature does not cover are refused, as are missing parameters.
    v4 = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key=user_key[1],
                   config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    v4_put = v4.generate_presigned_url("put_object", {"Bucket": "legacy-signed", "Key": "upload-v4"}, ExpiresIn=300)
    status, body = sent(urllib.request.Request(v4_put, data=b"x", method="PUT", headers={"x-amz-meta-extra": "1"}))
    assert status == 403 and b"There were headers present in the request which were not signed" in body
    assert b"<HeadersNotSigned>x-amz-meta-extra</HeadersNotSigned>" in body
    assert error_of(s3.head_object, Bucket="legacy-signed", Key="upload-v4")[0] == "404"
    assert sent(urllib.request.Request(v4_put, data=b"x", method="PUT"))[0] == 200
    status, body = sent(urllib.request.Request(v4_put.split("&X-Amz-Signature=")[0], data=b"x", method="PUT"))
    assert status == 400 and b"AuthorizationQueryParametersError" in body

    # Header-signed SigV2 (HmacV1) for a whole client, an IAM user's key included.
    legacy = s3_client(dev_server, config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    assert legacy.get_object(Bucket="legacy-signed", Key="report.txt")["Body"].read() == b"quarterly numbers"
    legacy.put_object(Bucket="legacy-signed", Key="via-header", Body=b"header signed", Metadata={"k": "v"})
    assert s3.head_object(Bucket="legacy-signed", Key="via-header")["Metadata"] == {"k": "v"}
    user = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key=user_key[1],
                     config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    assert user.get_object(Bucket="legacy-signed", Key="report.txt")["Body"].read() == b"quarterly numbers"
    assert status_of(user.put_object, Bucket="legacy-signed", Key="denied", Body=b"x") == (403, "AccessDenied")
    wrong = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key="not-the-secret",
                      config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    assert status_of(wrong.get_object, Bucket="legacy-signed", Key="report.txt") == (403, "SignatureDoesNotMatch")

    # S3 takes SSE-KMS only with SigV4; a policy may refuse SigV2 altogether through s3:signatureversion.
    assert error_of(legacy.put_object, Bucket="legacy-signed", Key="kms", Body=b"x", ServerSideEncryption="aws:kms") == (
        "InvalidArgument", "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.")
    s3.put_object(Bucket="legacy-signed", Key="kms", Body=b"sealed", ServerSideEncryption="aws:kms")
    assert error_of(legacy.get_object, Bucket="legacy-signed", Key="kms")[0] == "InvalidArgument"
    s3.put_bucket_policy(Bucket="legacy-signed", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::legacy-signed/*",
        "Condition": {"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}}]}))
    assert status_of(legacy.get_object, Bucket="legacy-signed", Key="report.txt") == (403, "AccessDenied")
    assert s3.get_object(Bucket="legacy-signed", Key="report.txt")["Body"].read() == b"quarterly numbers"


def post_form(url, fields, file_name="file.txt", content=b"form body"):
    """POSTs `fields` and then the file as multipart/form-data, as a browser form does: (status, headers, body)."""
    boundary = "----keyhaven-test-boundary"
    body = b""
    for name, value in fields.items():
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
             f'Content-Type: application/octet-stream\r\n\r\n').encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    try:
        with urllib.request.build_opener(NoRedirect).open(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_browser_form_uploads_follow_their_signed_policy(dev_server, s3):
    s3.create_bucket(Bucket="forms")
    user_key = new_user(dev_server, "form-signer", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::forms/uploads/*"}]}))
    for version in ["s3v4", "s3"]:
        signer = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key=user_key[1],
                           config=Config(signature_version=version, s3={"addressing_style": "path"}))
        post = signer.generate_presigned_post(
            "forms", "uploads/${filename}", Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
            Conditions=[["starts-with", "$key", "uploads/"], {"Content-Type": "text/plain"},
                        {"x-amz-meta-origin": "form"}, ["content-length-range", 1, 100]], ExpiresIn=300)
        assert ("x-amz-signature" in post["fields"]) == (version == "s3v4")
        status, headers, _ = post_form(post["url"], post["fields"], file_name=f"{version}.txt", content=b"hello form")
        assert status == 204 and headers["Location"] == f"/forms/uploads/{version}.txt"
        got = s3.get_object(Bucket="forms", Key=f"uploads/{version}.txt")
        assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"hello form", "text/plain",
                                                                              {"origin": "form"})

        # Each way of stepping outside the signed policy is refused, and stores nothing.
        refusals = [
            ({**post["fields"], "key": "elsewhere/x"}, b"hello", 403, b"Policy Condition failed"),
            ({**post["fields"], "Content-Type": "text/html"}, b"hello", 403, b"Policy Condition failed"),
            ({**post["fields"], "acl": "public-read"}, b"hello", 403, b"Extra input fields: acl"),
            (post["fields"], b"x" * 101, 400, b"EntityTooLarge"),
            ({**post["fields"], "policy": post["fields"]["policy"][:-4] + "AAA="}, b"hello", 403,
             b"SignatureDoesNotMatch"),
        ]
        for fields, content, expected_status, expected in refusals:
            status, _, body = post_form(post["url"], fields, file_name="refused.txt", content=content)
            assert (status, expected in body) == (expected_status, True), body
        assert error_of(s3.head_object, Bucket="forms", Key="uploads/refused.txt")[0] == "404"
        assert error_of(s3.head_object, Bucket="forms", Key="elsewhere/x")[0] == "404"

    # The answer the form asks for: 201 with its XML, or a redirect naming what was stored.
    signer = s3_client(dev_server, aws_access_key_id=user_key[0], aws_secret_access_key=user_key[1],
                       config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    created = signer.generate_presigned_post("forms", "uploads/created", Fields={"success_action_status": "201"},
                                             Conditions=[{"success_action_status": "201"}])
    status, _, body = post_form(created["url"], created["fields"])
    assert status == 201 and b"<Key>uploads/created</Key>" in body and b"<Bucket>forms</Bucket>" in body
    redirected = signer.generate_presigned_post(
        "forms", "uploads/redirected", Fields={"success_action_redirect": "https://app.example.com/done"},
        Conditions=[{"success_action_redirect": "https://app.example.com/done"}])
    status, headers, _ = post_form(redirected["url"], redirected["fields"])
    assert status == 303 and headers["Location"].startswith(
        "https://app.example.com/done?bucket=forms&key=uploads%2Fredirected&etag=")
    # Unsigned forms are anonymous: refused without a public bucket policy.
    status, _, body = post_form(f"{dev_server.endpoint}/forms", {"key": "uploads/anonymous"})
    assert status == 403 and b"AccessDenied" in body
    # The signer's own permissions still apply.
    outside = signer.generate_presigned_post("forms", "private/x")
    status, _, body = post_form(outside["url"], outside["fields"])
    assert status == 403 and b"AccessDenied" in body


def test_bucket_keys_cut_kms_calls_by_99_percent(dev_server, s3):
    from concurrent.futures import ThreadPoolExecutor
    key = dev_server.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="bucket-keys")
    s3.put_bucket_encryption(Bucket="bucket-keys", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
        "BucketKeyEnabled": True}]})
    count = 10_000
    client = s3_client(dev_server)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: client.put_object(Bucket="bucket-keys", Key=f"o/{i}", Body=b"small"),
                                range(count)))
    assert all(r["BucketKeyEnabled"] and r["SSEKMSKeyId"] == key for r in results)
    assert client.get_object(Bucket="bucket-keys", Key="o/1234")["Body"].read() == b"small"
    dev_server.stop()
    generated = kms_calls(dev_server, "GenerateDataKey")
    assert 1 <= len(generated) <= count // 100, len(generated)
    assert all(context == {"aws:s3:arn": "arn:aws:s3:::bucket-keys"} for _, context in generated)


def deny_unencrypted_uploads(bucket, key_arn=None):
    """The seeds' bucket policy: refuse uploads that do not ask for SSE-KMS (and, given a key, for that key)."""
    statements = [
        {"Sid": "DenyIncorrectEncryptionHeader", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "DenyUnEncryptedObjectUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}},
    ]
    if key_arn:
        statements.append({"Sid": "DenyWrongKey", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                           "Resource": f"arn:aws:s3:::{bucket}/*",
                           "Condition": {"StringNotEqualsIfExists": {
                               "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def test_the_seeds_bucket_policies_are_enforced_verbatim(dev_server, s3):
    kms = dev_server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    other = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="enforced")
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket="enforced")
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["BucketName"]) == (
        "NoSuchBucketPolicy", "enforced")
    s3.put_bucket_policy(Bucket="enforced", Policy=deny_unencrypted_uploads("enforced", key))
    assert json.loads(s3.get_bucket_policy(Bucket="enforced")["Policy"])["Statement"][0]["Sid"] == (
        "DenyIncorrectEncryptionHeader")
    refused = [{}, {"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": other}]
    for extra in refused:
        assert status_of(s3.put_object, Bucket="enforced", Key="k", Body=b"x", **extra) == (403, "AccessDenied"), extra
    assert s3.list_objects_v2(Bucket="enforced")["KeyCount"] == 0, "refused uploads stored nothing"
    s3.put_object(Bucket="enforced", Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    assert s3.get_object(Bucket="enforced", Key="k")["Body"].read() == b"x"
    assert s3.get_bucket_policy_status(Bucket="enforced")["PolicyStatus"]["IsPublic"] is False

    # The owner's root user can always take a policy away, even one that denies it everything.
    lockout = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::enforced",
                                                                            "arn:aws:s3:::enforced/*"]}]})
    s3.put_bucket_policy(Bucket="enforced", Policy=lockout)
    assert status_of(s3.get_object, Bucket="enforced", Key="k") == (403, "AccessDenied")
    s3.delete_bucket_policy(Bucket="enforced")
    assert s3.get_object(Bucket="enforced", Key="k")["Body"].read() == b"x"


def test_secure_transport_policy_refuses_plain_http(keyhaven_factory):
    policy = lambda bucket: json.dumps({"Version": "2012-10-17", "Statement": [  # noqa: E731
        {"Sid": "AllowSSLRequestsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    plain = keyhaven_factory("--dev")
    plain_s3 = s3_client(plain)
    plain_s3.create_bucket(Bucket="tls-only")
    plain_s3.put_bucket_policy(Bucket="tls-only", Policy=policy("tls-only"))
    assert status_of(plain_s3.put_object, Bucket="tls-only", Key="k", Body=b"x") == (403, "AccessDenied")
    assert status_of(plain_s3.list_objects_v2, Bucket="tls-only") == (403, "AccessDenied")
    secure = keyhaven_factory("--dev", "--tls-self-signed")
    secure_s3 = s3_client(secure, verify=os.path.join(secure.data_dir, "tls", "cert.pem"))
    secure_s3.create_bucket(Bucket="tls-only")
    secure_s3.put_bucket_policy(Bucket="tls-only", Policy=policy("tls-only"))
    secure_s3.put_object(Bucket="tls-only", Key="k", Body=b"x")
    assert secure_s3.get_object(Bucket="tls-only", Key="k")["Body"].read() == b"x"


def test_bucket_policies_grant_and_deny_iam_users_and_public_access_is_blocked(dev_server, s3):
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="doc", Body=b"shared doc")
    reader_creds = new_user(dev_server, "policy-reader", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}))
    user_arn = dev_server.client("iam").get_user(UserName="policy-reader")["User"]["Arn"]
    reader = as_user(dev_server, "s3", reader_creds)
    assert status_of(reader.get_object, Bucket="shared", Key="doc") == (403, "AccessDenied")
    grant = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::shared/*"}]}
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps(grant))
    assert reader.get_object(Bucket="shared", Key="doc")["Body"].read() == b"shared doc", "the bucket policy grants"
    assert status_of(reader.put_object, Bucket="shared", Key="doc", Body=b"no") == (403, "AccessDenied")

    public = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}
    assert status_of(s3.put_bucket_policy, Bucket="shared", Policy=json.dumps(public)) == (403, "AccessDenied")
    assert json.loads(s3.get_bucket_policy(Bucket="shared")["Policy"]) == grant, "the blocked policy changed nothing"
    block = s3.get_public_access_block(Bucket="shared")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}, "new buckets block public access"
    s3.delete_public_access_block(Bucket="shared")
    assert error_of(s3.get_public_access_block, Bucket="shared")[0] == "NoSuchPublicAccessBlockConfiguration"
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps(public))
    assert s3.get_bucket_policy_status(Bucket="shared")["PolicyStatus"]["IsPublic"] is True

    for bad, message in [("not json", "first byte"), (json.dumps({"Statement": []}), None),
                         (json.dumps({"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
                              "Resource": "arn:aws:s3:::shared/*"}]}), "invalid action"),
                         (json.dumps({"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                              "Resource": "arn:aws:s3:::other-bucket/*"}]}), "invalid resource"),
                         (json.dumps({"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}),
                          "Principal")]:
        code, text = error_of(s3.put_bucket_policy, Bucket="shared", Policy=bad)
        assert code == "MalformedPolicy" and (message is None or message in text), (bad, text)
    assert s3.get_bucket_policy_status(Bucket="shared")["PolicyStatus"]["IsPublic"] is True, "unchanged"

    assert s3.get_bucket_ownership_controls(Bucket="shared")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(Bucket="shared", OwnershipControls={"Rules": [
        {"ObjectOwnership": "BucketOwnerPreferred"}]})
    assert s3.get_bucket_ownership_controls(Bucket="shared")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}]
    s3.delete_bucket_ownership_controls(Bucket="shared")
    with pytest.raises(ClientError) as err:
        s3.get_bucket_ownership_controls(Bucket="shared")
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["BucketName"]) == (
        "OwnershipControlsNotFoundError", "shared")
    s3.create_bucket(Bucket="preferred", ObjectOwnership="BucketOwnerPreferred")
    assert s3.get_bucket_ownership_controls(Bucket="preferred")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}], "CreateBucket's x-amz-object-ownership"
    assert error_of(s3.create_bucket, Bucket="unowned", ObjectOwnership="Nobody")[0] == "InvalidArgument"
    assert status_of(s3.head_bucket, Bucket="unowned") == (404, "404"), "the refused create made nothing"


def test_kill_9_keeps_acknowledged_objects_and_leaves_no_trace_of_the_rest(keyhaven_factory):
    import http.client
    import signal
    server = keyhaven_factory("--dev")
    s3 = s3_client(server)
    s3.create_bucket(Bucket="durable")
    body = os.urandom(3 * MIB)
    s3.put_object(Bucket="durable", Key="acknowledged", Body=body)
    objects_dir = os.path.join(server.data_dir, "objects")
    committed = set(os.listdir(objects_dir)) - {"partial"}

    # An upload cut off by kill -9 halfway through its body, and a body a crash committed without its record.
    host, port = server.endpoint.split("://", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    date = __import__("datetime").datetime.now(__import__("datetime").timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    connection.putrequest("PUT", "/durable/unacknowledged")
    for name, value in [("Host", f"{host}:{port}"), ("Content-Length", str(8 * MIB)), ("x-amz-date", date),
                        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                        ("Authorization", f"AWS4-HMAC-SHA256 Credential=test/{date[:8]}/us-east-1/s3/aws4_request, "
                                          "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64)]:
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(os.urandom(MIB))
    with open(os.path.join(objects_dir, "b" + "Z" * 32), "wb") as orphan:
        orphan.write(b"sealed bytes no record names")
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    connection.close()
    server.process = None

    server.start()
    s3 = s3_client(server)
    assert s3.get_object(Bucket="durable", Key="acknowledged")["Body"].read() == body
    assert error_of(s3.head_object, Bucket="durable", Key="unacknowledged")[0] == "404"
    assert set(os.listdir(objects_dir)) - {"partial"} == committed, "the orphan went, nothing else did"
    assert os.listdir(os.path.join(objects_dir, "partial")) == [], "the cut-off upload left nothing"


def test_versioning_keeps_versions_delete_markers_and_null_versions(dev_server, s3):
    s3.create_bucket(Bucket="versioned")
    assert "Status" not in s3.get_bucket_versioning(Bucket="versioned")
    s3.put_object(Bucket="versioned", Key="doc", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
    v1 = s3.put_object(Bucket="versioned", Key="doc", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket="versioned", Key="doc", Body=b"two")["VersionId"]
    assert v1 != v2
    got = s3.get_object(Bucket="versioned", Key="doc")
    assert (got["Body"].read(), got["VersionId"]) == (b"two", v2)
    assert s3.get_object(Bucket="versioned", Key="doc", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket="versioned", Key="doc", VersionId="null")["Body"].read() == b"before versioning"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="versioned", Key="doc", VersionId="A" * 32)
    assert {k: err.value.response["Error"][k] for k in ("Code", "Key", "VersionId")} == {
        "Code": "NoSuchVersion", "Key": "doc", "VersionId": "A" * 32}
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="versioned", Key="doc", VersionId="NOPE")
    assert {k: err.value.response["Error"][k] for k in ("Code", "Message", "ArgumentName", "ArgumentValue")} == {
        "Code": "InvalidArgument", "Message": "Invalid version id specified", "ArgumentName": "versionId",
        "ArgumentValue": "NOPE"}

    deleted = s3.delete_object(Bucket="versioned", Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    for call, args, status, code in [(s3.get_object, {}, 404, "NoSuchKey"),
                                     (s3.head_object, {}, 404, "404"),
                                     (s3.get_object, {"VersionId": marker}, 405, "MethodNotAllowed")]:
        with pytest.raises(ClientError) as err:
            call(Bucket="versioned", Key="doc", **args)
        answer = err.value.response
        assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]) == (status, code)
        # S3 says the version is a delete marker, and which.
        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker), call
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="versioned", Key="doc")
    assert err.value.response["Error"]["Key"] == "doc", "S3's error document names the key"
    assert error_of(s3.get_object, Bucket="versioned", Key="never-written")[0] == "NoSuchKey"
    assert s3.list_objects_v2(Bucket="versioned")["KeyCount"] == 0, "a delete marker hides the key"
    listed = s3.list_object_versions(Bucket="versioned")
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v2, False), (v1, False),
                                                                             ("null", False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    page = s3.list_object_versions(Bucket="versioned", MaxKeys=2)
    assert page["IsTruncated"] and len(page.get("Versions", [])) + len(page.get("DeleteMarkers", [])) == 2
    rest = s3.list_object_versions(Bucket="versioned", KeyMarker=page["NextKeyMarker"],
                                   VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["VersionId"] for v in rest["Versions"]] == [v1, "null"] and not rest["IsTruncated"]

    # Removing the delete marker brings the newest version back; removing a version is for good.
    s3.delete_object(Bucket="versioned", Key="doc", VersionId=marker)
    assert s3.get_object(Bucket="versioned", Key="doc")["Body"].read() == b"two"
    s3.delete_object(Bucket="versioned", Key="doc", VersionId=v2)
    assert s3.get_object(Bucket="versioned", Key="doc")["Body"].read() == b"one"
    assert error_of(s3.delete_bucket, Bucket="versioned")[0] == "BucketNotEmpty"

    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket="versioned", Key="doc", Body=b"suspended")["VersionId"] == "null"
    assert s3.get_object(Bucket="versioned", Key="doc", VersionId="null")["Body"].read() == b"suspended"
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket="versioned")["Versions"]]
    assert ids == ["null", v1], "the suspended write replaced the earlier null version"
    copied = s3.copy_object(Bucket="versioned", Key="copy", CopySource={"Bucket": "versioned", "Key": "doc",
                                                                        "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket="versioned", Key="copy")["Body"].read() == b"one"
    # A copy onto itself must change something: naming an older version restores it; naming none is refused.
    assert error_of(s3.copy_object, Bucket="versioned", Key="copy", CopySource="versioned/copy")[0] == "InvalidRequest"
    s3.copy_object(Bucket="versioned", Key="doc", CopySource={"Bucket": "versioned", "Key": "doc", "VersionId": v1})
    assert s3.get_object(Bucket="versioned", Key="doc")["Body"].read() == b"one", "the old version restored"
    s3.delete_object(Bucket="versioned", Key="doc", VersionId="null")

    result = s3.delete_objects(Bucket="versioned", Delete={"Objects": [{"Key": "doc", "VersionId": "null"},
                                                                       {"Key": "doc", "VersionId": v1},
                                                                       {"Key": "copy", "VersionId": "null"}]})
    assert sorted((d["Key"], d["VersionId"]) for d in result["Deleted"]) == sorted([("copy", "null"), ("doc", "null"),
                                                                                     ("doc", v1)])
    assert "Versions" not in s3.list_object_versions(Bucket="versioned")
    s3.delete_bucket(Bucket="versioned")
    dev_server.stop()
    assert [name for name in os.listdir(os.path.join(dev_server.data_dir, "objects")) if name != "partial"] == [], (
        "every version's body went with it")


def test_object_tags_are_kept_returned_and_usable_in_policies(dev_server, s3):
    s3.create_bucket(Bucket="tagged")
    s3.put_object(Bucket="tagged", Key="doc", Body=b"x", Tagging="team=infra&stage=prod")
    assert s3.get_object_tagging(Bucket="tagged", Key="doc")["TagSet"] == [
        {"Key": "team", "Value": "infra"}, {"Key": "stage", "Value": "prod"}]
    assert s3.get_object(Bucket="tagged", Key="doc")["TagCount"] == 2
    s3.put_object_tagging(Bucket="tagged", Key="doc", Tagging={"TagSet": [{"Key": "stage", "Value": "dev"}]})
    assert s3.get_object_tagging(Bucket="tagged", Key="doc")["TagSet"] == [{"Key": "stage", "Value": "dev"}]
    too_many = "&".join(f"k{i}=v" for i in range(11))
    # As AWS answers them (moto's AWS-verified tagging tests): BadRequest for too many, InvalidTag for aws: keys.
    assert error_of(s3.put_object, Bucket="tagged", Key="other", Body=b"x", Tagging=too_many) == (
        "BadRequest", "Object tags cannot be greater than 10")
    assert error_of(s3.put_object, Bucket="tagged", Key="other", Body=b"x", Tagging="aws:owner=me") == (
        "InvalidTag", "Your TagKey cannot be prefixed with aws:")
    assert error_of(s3.put_object_tagging, Bucket="tagged", Key="doc",
                    Tagging={"TagSet": [{"Key": "aws:owner", "Value": "me"}]})[0] == "InvalidTag"
    assert s3.get_object_tagging(Bucket="tagged", Key="doc")["TagSet"] == [{"Key": "stage", "Value": "dev"}]
    assert error_of(s3.head_object, Bucket="tagged", Key="other")[0] == "404", "the refused PUTs stored nothing"
    s3.copy_object(Bucket="tagged", Key="copy", CopySource="tagged/doc")
    assert s3.get_object_tagging(Bucket="tagged", Key="copy")["TagSet"] == [{"Key": "stage", "Value": "dev"}]
    s3.copy_object(Bucket="tagged", Key="copy", CopySource="tagged/doc", TaggingDirective="REPLACE",
                   Tagging="fresh=yes")
    assert s3.get_object_tagging(Bucket="tagged", Key="copy")["TagSet"] == [{"Key": "fresh", "Value": "yes"}]

    # A user may read only objects tagged stage=dev, and may tag only with an allowed key.
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::tagged/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/stage": "dev"}}},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::tagged/*",
         "Condition": {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["stage"]}}}]})
    user = as_user(dev_server, "s3", new_user(dev_server, "tag-reader", policy))
    assert user.get_object(Bucket="tagged", Key="doc")["Body"].read() == b"x"
    assert status_of(user.get_object, Bucket="tagged", Key="copy") == (403, "AccessDenied")
    user.put_object(Bucket="tagged", Key="by-user", Body=b"y", Tagging="stage=dev")
    assert status_of(user.put_object, Bucket="tagged", Key="by-user", Body=b"z", Tagging="owner=me") == (
        403, "AccessDenied")
    assert s3.get_object(Bucket="tagged", Key="by-user")["Body"].read() == b"y", "the refused PUT changed nothing"
    # Copies and multipart uploads offer the tags they set too, so they cannot get round the condition.
    assert status_of(user.copy_object, Bucket="tagged", Key="copied", CopySource="tagged/doc",
                     TaggingDirective="REPLACE", Tagging="owner=me") == (403, "AccessDenied")
    assert status_of(user.create_multipart_upload, Bucket="tagged", Key="mp", Tagging="owner=me") == (
        403, "AccessDenied")
    assert error_of(s3.head_object, Bucket="tagged", Key="copied")[0] == "404"
    user.copy_object(Bucket="tagged", Key="copied", CopySource="tagged/doc", TaggingDirective="REPLACE",
                     Tagging="stage=dev")

    s3.delete_object_tagging(Bucket="tagged", Key="doc")
    assert s3.get_object_tagging(Bucket="tagged", Key="doc")["TagSet"] == []
    assert status_of(user.get_object, Bucket="tagged", Key="doc") == (403, "AccessDenied"), "no tag, no access"


def test_upload_part_copy_and_object_attributes(s3):
    s3.create_bucket(Bucket="parts-copy")
    source = os.urandom(7 * MIB)
    s3.put_object(Bucket="parts-copy", Key="source", Body=source, ChecksumAlgorithm="SHA256")
    upload = s3.create_multipart_upload(Bucket="parts-copy", Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket="parts-copy", Key="assembled", UploadId=upload, PartNumber=1,
                                CopySource="parts-copy/source", CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    second = s3.upload_part_copy(Bucket="parts-copy", Key="assembled", UploadId=upload, PartNumber=2,
                                 CopySource={"Bucket": "parts-copy", "Key": "source"},
                                 CopySourceRange=f"bytes={5 * MIB}-{7 * MIB - 1}")
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:5 * MIB]).hexdigest()}"'
    assert error_of(s3.upload_part_copy, Bucket="parts-copy", Key="assembled", UploadId=upload, PartNumber=3,
                    CopySource="parts-copy/missing")[0] == "NoSuchKey"
    # A copy range is bytes=first-last, both given and in order, within the source (AWS's recorded answers).
    s3.put_object(Bucket="parts-copy", Key="ten", Body=b"0123456789")
    bad_format = ("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where "
                  "first and last are the zero-based offsets of the first and last bytes to copy")
    for copy_range, expected in [("bytes=1-0", bad_format), ("bytes=-2", bad_format), ("bytes=1-", bad_format),
                                 ("bytes=0-1,3-4", bad_format), ("0-3", bad_format),
                                 ("bytes=0-100", ("InvalidArgument",
                                                  "Range specified is not valid for source object of size: 10")),
                                 ("bytes=100-200", ("InvalidRequest",
                                                    "The specified copy range is invalid for the source object size"))]:
        assert error_of(s3.upload_part_copy, Bucket="parts-copy", Key="assembled", UploadId=upload, PartNumber=9,
                        CopySource="parts-copy/ten", CopySourceRange=copy_range) == expected, copy_range
    assert [p["PartNumber"] for p in s3.list_parts(Bucket="parts-copy", Key="assembled", UploadId=upload)["Parts"]] == [
        1, 2], "refused copies store no part"
    s3.complete_multipart_upload(Bucket="parts-copy", Key="assembled", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket="parts-copy", Key="assembled")["Body"].read() == source

    attributes = s3.get_object_attributes(Bucket="parts-copy", Key="assembled",
                                          ObjectAttributes=["ETag", "ObjectParts", "ObjectSize", "StorageClass"])
    assert attributes["ObjectSize"] == len(source) and attributes["StorageClass"] == "STANDARD"
    assert attributes["ObjectParts"]["TotalPartsCount"] == 2 and attributes["ETag"].endswith("-2")
    single = s3.get_object_attributes(Bucket="parts-copy", Key="source", ObjectAttributes=["Checksum", "ETag"])
    assert single["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(source).digest()).decode()
    assert single["ETag"] == hashlib.md5(source).hexdigest(), "GetObjectAttributes gives the ETag unquoted"
    assert "ObjectSize" not in single


def test_acls_are_disabled_as_with_bucket_owner_enforced(dev_server, s3):
    s3.create_bucket(Bucket="acls")
    s3.put_object(Bucket="acls", Key="doc", Body=b"x", ACL="bucket-owner-full-control")
    for acl in [s3.get_bucket_acl(Bucket="acls"), s3.get_object_acl(Bucket="acls", Key="doc")]:
        assert acl["Owner"]["ID"] == "000000000000"
        assert acl["Grants"] == [{"Grantee": {"ID": "000000000000", "Type": "CanonicalUser"},
                                  "Permission": "FULL_CONTROL"}]
    s3.put_bucket_acl(Bucket="acls", ACL="private")
    s3.put_object_acl(Bucket="acls", Key="doc", AccessControlPolicy={
        "Owner": {"ID": "000000000000"},
        "Grants": [{"Grantee": {"ID": "000000000000", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]})
    refused = [
        lambda: s3.put_bucket_acl(Bucket="acls", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket="acls", Key="doc", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket="acls", Key="doc", AccessControlPolicy={
            "Owner": {"ID": "000000000000"},
            "Grants": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers", "Type": "Group"},
                        "Permission": "READ"}]}),
        lambda: s3.put_object(Bucket="acls", Key="public", Body=b"x", ACL="public-read"),
    ]
    for call in refused:
        assert error_of(call)[0] == "AccessControlListNotSupported"
    assert error_of(s3.head_object, Bucket="acls", Key="public")[0] == "404"
    assert error_of(s3.get_object_acl, Bucket="acls", Key="missing")[0] == "NoSuchKey"


def test_an_empty_body_sent_expecting_100_continue_does_not_stall_the_connection(dev_server):
    # botocore sends `Expect: 100-continue` with every PutObject, empty bodies included; the server answers those
    # without a `100 Continue` and closes the connection, or botocore misreads the next answer on it.
    s3 = boto3.client("s3", endpoint_url=dev_server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "path"}, read_timeout=2, retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="empty-bodies")
    for i in range(3):
        s3.put_object(Bucket="empty-bodies", Key=f"empty{i}", Body=b"")
        s3.put_object(Bucket="empty-bodies", Key=f"full{i}", Body=b"data")
    assert s3.list_objects_v2(Bucket="empty-bodies")["KeyCount"] == 6


def test_anonymous_callers_get_only_what_a_public_policy_grants_and_block_public_access_allows(dev_server, s3):
    from botocore import UNSIGNED
    anonymous = boto3.client("s3", endpoint_url=dev_server.endpoint, region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="website")
    s3.put_object(Bucket="website", Key="index.html", Body=b"<h1>hello</h1>")
    s3.put_object(Bucket="website", Key="kms.html", Body=b"sealed", ServerSideEncryption="aws:kms")
    # No policy: an unsigned request is refused as S3 refuses it, and a write changes nothing.
    assert status_of(anonymous.get_object, Bucket="website", Key="index.html") == (403, "AccessDenied")
    assert status_of(anonymous.put_object, Bucket="website", Key="new", Body=b"x") == (403, "AccessDenied")
    assert status_of(anonymous.list_buckets) == (403, "AccessDenied")

    public = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::website/*"}]}
    s3.put_public_access_block(Bucket="website", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    s3.put_bucket_policy(Bucket="website", Policy=json.dumps(public))
    # RestrictPublicBuckets: the public policy reaches no one outside the owner's account.
    assert status_of(anonymous.get_object, Bucket="website", Key="index.html") == (403, "AccessDenied")

    s3.put_public_access_block(Bucket="website", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    assert anonymous.get_object(Bucket="website", Key="index.html")["Body"].read() == b"<h1>hello</h1>"
    with urllib.request.urlopen(f"{dev_server.endpoint}/website/index.html") as response:
        assert response.read() == b"<h1>hello</h1>", "a plain HTTP GET, as a browser sends it"
    # The policy grants reading objects, nothing else; an SSE-KMS object also needs KMS, which grants anonymous no key.
    assert status_of(anonymous.put_object, Bucket="website", Key="index.html", Body=b"defaced") == (403, "AccessDenied")
    assert status_of(anonymous.delete_object, Bucket="website", Key="index.html") == (403, "AccessDenied")
    assert status_of(anonymous.list_objects_v2, Bucket="website") == (403, "AccessDenied")
    assert status_of(anonymous.get_object, Bucket="website", Key="kms.html") == (403, "AccessDenied")
    assert s3.get_object(Bucket="website", Key="index.html")["Body"].read() == b"<h1>hello</h1>", "unchanged"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="website")["Contents"]] == ["index.html", "kms.html"]

    # Services other than S3 serve no anonymous callers.
    request = urllib.request.Request(f"{dev_server.endpoint}/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "TrentService.ListKeys", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert json.loads(refused.value.read())["__type"] == "MissingAuthenticationTokenException"
    anonymous_records = [r for r in audit_records(dev_server) if r.get("eventSource") == "s3.amazonaws.com"
                         and r["userIdentity"].get("accountId") == "ANONYMOUS_PRINCIPAL"]
    assert all(r["userIdentity"]["type"] == "AWSAccount" for r in anonymous_records), "as CloudTrail records them"
    assert {(r["eventName"], r.get("errorCode")) for r in anonymous_records} >= {
        ("GetObject", None), ("GetObject", "AccessDenied"), ("PutObject", "AccessDenied")}


def test_object_changes_reach_eventbridge_targets_once_the_bucket_turns_eventbridge_on(evented):
    server, hooks = evented
    s3 = s3_client(server)

    def s3_event(detail_type, key, **detail):
        return lambda e: (e.get("source") == "aws.s3" and e["detail-type"] == detail_type
                          and e["detail"]["object"]["key"] == key
                          and all(e["detail"].get(k) == v for k, v in detail.items()))

    s3.create_bucket(Bucket="quiet")
    s3.create_bucket(Bucket="loud")
    assert s3.get_bucket_notification_configuration(Bucket="loud").get("EventBridgeConfiguration") is None
    s3.put_object(Bucket="quiet", Key="unheard", Body=b"x")
    # S3 has no SNS, SQS or Lambda here to deliver to: a configuration naming one is refused and changes nothing.
    code, message = error_of(s3.put_bucket_notification_configuration, Bucket="loud", NotificationConfiguration={
        "EventBridgeConfiguration": {},
        "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"]}]})
    assert (code, message.split(":")[0]) == ("InvalidArgument", "Unable to validate the following destination configurations")
    assert s3.get_bucket_notification_configuration(Bucket="loud").get("EventBridgeConfiguration") is None

    s3.put_bucket_notification_configuration(Bucket="loud", NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert s3.get_bucket_notification_configuration(Bucket="loud")["EventBridgeConfiguration"] == {}
    put = s3.put_object(Bucket="loud", Key="docs/a.txt", Body=b"hello")
    created = hooks.wait_for(s3_event("Object Created", "docs/a.txt", reason="PutObject"))
    assert created["account"] == "000000000000" and created["region"] == "us-east-1"
    assert created["resources"] == ["arn:aws:s3:::loud"]
    assert created["detail"]["bucket"] == {"name": "loud"}
    assert created["detail"]["object"]["size"] == 5
    assert created["detail"]["object"]["etag"] == put["ETag"].strip('"')
    assert created["detail"]["request-id"] and created["detail"]["source-ip-address"] == "127.0.0.1"

    s3.copy_object(Bucket="loud", Key="docs/b.txt", CopySource="loud/docs/a.txt")
    hooks.wait_for(s3_event("Object Created", "docs/b.txt", reason="CopyObject"))
    upload = s3.create_multipart_upload(Bucket="loud", Key="big")
    part = s3.upload_part(Bucket="loud", Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 10)
    s3.complete_multipart_upload(Bucket="loud", Key="big", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    hooks.wait_for(s3_event("Object Created", "big", reason="CompleteMultipartUpload"))
    s3.delete_object(Bucket="loud", Key="docs/a.txt")
    deleted = hooks.wait_for(s3_event("Object Deleted", "docs/a.txt", reason="DeleteObject"))
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"

    s3.put_bucket_versioning(Bucket="loud", VersioningConfiguration={"Status": "Enabled"})
    versioned = s3.put_object(Bucket="loud", Key="v", Body=b"one")
    created = hooks.wait_for(s3_event("Object Created", "v"))
    assert created["detail"]["object"]["version-id"] == versioned["VersionId"]
    marker = s3.delete_object(Bucket="loud", Key="v")
    hidden = hooks.wait_for(s3_event("Object Deleted", "v", **{"deletion-type": "Delete Marker Created"}))
    assert hidden["detail"]["object"]["version-id"] == marker["VersionId"]
    s3.delete_object(Bucket="loud", Key="v", VersionId=versioned["VersionId"])
    gone = hooks.wait_for(s3_event("Object Deleted", "v", **{"deletion-type": "Permanently Deleted"}))
    assert gone["detail"]["object"]["version-id"] == versioned["VersionId"]
    # Sequencers order one key's events.
    sequencers = [e["detail"]["object"]["sequencer"] for e in hooks.events if e.get("source") == "aws.s3"
                  and e["detail"]["object"]["key"] == "v"]
    assert sequencers[0] < sequencers[1]

    # A refused change publishes nothing.
    assert error_of(s3.put_object, Bucket="loud", Key="docs/b.txt", Body=b"x", IfNoneMatch="*")[0] == "PreconditionFailed"
    s3.put_object(Bucket="loud", Key="marker", Body=b"m")
    hooks.wait_for(s3_event("Object Created", "marker"))
    s3_events = [e for e in hooks.collect() if e.get("source") == "aws.s3"]
    assert not [e for e in s3_events if e["detail"]["bucket"]["name"] == "quiet"], "quiet never turned EventBridge on"
    assert [e["detail"]["object"]["key"] for e in s3_events if e["detail-type"] == "Object Created"].count(
        "docs/b.txt") == 1, "the refused PUT published nothing"
    assert b"hello" not in json.dumps(s3_events).encode(), "events carry names and metadata, never contents"


def test_virtual_hosted_addressing_under_the_configured_domain(keyhaven_factory):
    server = keyhaven_factory("--dev", "--s3-domain", "s3.keyhaven.test")
    s3_client(server).create_bucket(Bucket="hosted")

    def hosted(method, host, path, body=b""):
        """A request to `path` on the server with `host` as its Host header, signed as a client would sign it."""
        return signed_request(server, method, path, body, {"Host": host})

    port = server.endpoint.rsplit(":", 1)[1]
    assert hosted("PUT", f"hosted.s3.keyhaven.test:{port}", "/notes/today.txt", b"virtual")[0] == 200
    assert hosted("GET", f"hosted.s3.keyhaven.test:{port}", "/notes/today.txt") == (200, b"virtual")
    assert hosted("GET", f"HOSTED.S3.Keyhaven.Test:{port}", "/notes/today.txt") == (200, b"virtual"), "any case"
    assert hosted("GET", f"hosted.localhost:{port}", "/notes/today.txt") == (200, b"virtual")
    assert s3_client(server).get_object(Bucket="hosted", Key="notes/today.txt")["Body"].read() == b"virtual"
    # Outside the domain the host names no bucket: the path does (path-style), and here it names bucket "notes".
    status, body = hosted("GET", f"hosted.s3.other.test:{port}", "/notes/today.txt")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body
    listed = hosted("GET", f"hosted.s3.keyhaven.test:{port}", "/?list-type=2")
    assert listed[0] == 200 and b"<Key>notes/today.txt</Key>" in listed[1]


def test_deleting_a_bucket_takes_its_uploads_and_bucket_keys_and_a_new_one_starts_clean(dev_server, s3):
    s3.create_bucket(Bucket="short-lived")
    s3.put_bucket_encryption(Bucket="short-lived", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    s3.put_object(Bucket="short-lived", Key="doc", Body=b"first life")
    upload = s3.create_multipart_upload(Bucket="short-lived", Key="pending")
    s3.upload_part(Bucket="short-lived", Key="pending", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1000)
    blobs = os.path.join(dev_server.data_dir, "objects")

    def stored():
        return sorted(name for name in os.listdir(blobs) if name != "partial")

    assert len(stored()) == 2
    assert error_of(s3.delete_bucket, Bucket="short-lived")[0] == "BucketNotEmpty"
    s3.delete_object(Bucket="short-lived", Key="doc")
    s3.delete_bucket(Bucket="short-lived")
    assert stored() == [], "the in-progress upload's part went with the bucket"

    s3.create_bucket(Bucket="short-lived")
    assert s3.list_multipart_uploads(Bucket="short-lived").get("Uploads", []) == []
    assert error_of(s3.list_parts, Bucket="short-lived", Key="pending", UploadId=upload["UploadId"])[0] == "NoSuchUpload"
    put = s3.put_object(Bucket="short-lived", Key="doc", Body=b"second life", ServerSideEncryption="aws:kms",
                        BucketKeyEnabled=True)
    assert put["BucketKeyEnabled"] is True
    assert s3.get_object(Bucket="short-lived", Key="doc")["Body"].read() == b"second life"


def test_another_accounts_users_need_both_the_bucket_policy_and_their_own(dev_server, s3):
    other = "444455556666"
    s3.create_bucket(Bucket="partner-share")
    s3.put_object(Bucket="partner-share", Key="report.csv", Body=b"q3 numbers")
    theirs = dev_server.client("iam", aws_access_key_id=other, aws_secret_access_key="x")
    cases = [  # (bucket policy grants the other account, the user's own policy allows, allowed)
        (True, True, True),
        (True, False, False),
        (False, True, False),
    ]
    for index, (bucket_grants, user_allows, allowed) in enumerate(cases):
        name = f"partner-{index}"
        theirs.create_user(UserName=name)
        actions = ["s3:GetObject", "s3:PutObject"] if user_allows else ["s3:ListAllMyBuckets"]
        theirs.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = theirs.create_access_key(UserName=name)["AccessKey"]
        partner = as_user(dev_server, "s3", (key["AccessKeyId"], key["SecretAccessKey"]))
        grant = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
                 "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::partner-share/*"}
        if bucket_grants:
            s3.put_bucket_policy(Bucket="partner-share", Policy=json.dumps({"Version": "2012-10-17",
                                                                            "Statement": [grant]}))
        else:
            s3.delete_bucket_policy(Bucket="partner-share")
        if allowed:
            assert partner.get_object(Bucket="partner-share", Key="report.csv")["Body"].read() == b"q3 numbers"
            partner.put_object(Bucket="partner-share", Key=f"from-{name}", Body=b"reply")
            assert s3.get_object(Bucket="partner-share", Key=f"from-{name}")["Body"].read() == b"reply"
        else:
            assert status_of(partner.get_object, Bucket="partner-share", Key="report.csv") == (403, "AccessDenied")
            assert status_of(partner.put_object, Bucket="partner-share", Key="report.csv", Body=b"x") == (
                403, "AccessDenied"), name
            assert s3.get_object(Bucket="partner-share", Key="report.csv")["Body"].read() == b"q3 numbers"
        # Managing the bucket stays with its owner whatever the grant.
        assert status_of(partner.delete_bucket_policy, Bucket="partner-share")[0] in (403, 405)
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="partner-share")["Contents"]) == [
        "from-partner-0", "report.csv"]


def signed_trailer_put(endpoint, credentials, path, chunks, trailers, sign_trailers=None):
    """A PUT of `chunks` as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`, signed here by hand from the S3 API
    Reference ("Signature calculations for trailing headers") with Python's hmac, independently of the server:
    (status, body). `sign_trailers` are the trailers the trailer signature covers (default: those sent)."""
    import datetime
    import hmac

    def sha(data):
        return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()

    def mac(key, text):
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    access_key, secret = credentials
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now[:8]}/us-east-1/s3/aws4_request"
    headers = {"host": endpoint.split("://", 1)[1], "x-amz-date": now, "content-encoding": "aws-chunked",
               "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(sum(len(c) for c in chunks)),
               "x-amz-trailer": ",".join(trailers)}
    names = sorted(headers)
    canonical = "\n".join(["PUT", path, "", *[f"{n}:{headers[n]}" for n in names], "", ";".join(names),
                           headers["x-amz-content-sha256"]])
    key = mac(mac(mac(mac(f"AWS4{secret}".encode(), now[:8]), "us-east-1"), "s3"), "aws4_request")
    previous = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256", now, scope, sha(canonical)]).encode(),
                        hashlib.sha256).hexdigest()
    seed = previous
    body = b""
    for chunk in [*chunks, b""]:
        previous = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", now, scope, previous, sha(b""), sha(chunk)])
                            .encode(), hashlib.sha256).hexdigest()
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
    covered = "".join(f"{n}:{v}\n" for n, v in (sign_trailers or trailers).items())
    trailer_signature = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-TRAILER", now, scope, previous, sha(covered)])
                                 .encode(), hashlib.sha256).hexdigest()
    body += "".join(f"{n}:{v}\r\n" for n, v in trailers.items()).encode()
    body += f"x-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={seed}")
    return sent(urllib.request.Request(f"{endpoint}{path}", data=body, method="PUT", headers=headers))


def test_signed_chunks_with_signed_checksum_trailers(dev_server, s3):
    s3.create_bucket(Bucket="trailers")
    writer = new_user(dev_server, "trailer-writer", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::trailers/*"}]}))
    chunks = [b"a" * 65536, b"b" * 1024]
    crc = {"x-amz-checksum-crc32": base64.b64encode(
        (zlib_crc32(b"".join(chunks))).to_bytes(4, "big")).decode()}
    status, body = signed_trailer_put(dev_server.endpoint, writer, "/trailers/signed", chunks, crc)
    assert status == 200, body
    got = s3.get_object(Bucket="trailers", Key="signed", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(chunks)
    assert got["ChecksumCRC32"] == crc["x-amz-checksum-crc32"]

    # A trailer the signature does not cover (changed in transit) is refused, and nothing is stored.
    wrong = {"x-amz-checksum-crc32": base64.b64encode((1).to_bytes(4, "big")).decode()}
    status, body = signed_trailer_put(dev_server.endpoint, writer, "/trailers/tampered", chunks, wrong, crc)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body
    # Signed correctly but not the body's checksum: BadDigest, nothing stored.
    status, body = signed_trailer_put(dev_server.endpoint, writer, "/trailers/wrong-sum", chunks, wrong)
    assert status == 400 and b"<Code>BadDigest</Code>" in body, body
    for key in ("tampered", "wrong-sum"):
        assert status_of(s3.head_object, Bucket="trailers", Key=key) == (404, "404")


def zlib_crc32(data):
    import zlib
    return zlib.crc32(data)


def test_conditional_writes_deletes_and_reads_name_the_condition_that_failed(s3):
    s3.create_bucket(Bucket="conditions")
    put = s3.put_object(Bucket="conditions", Key="doc", Body=b"v1")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="conditions", Key="doc", IfMatch='"0000"')
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Condition"]) == (
        "PreconditionFailed", "If-Match")
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket="conditions", Key="doc", IfNoneMatch=put["ETag"])
    assert err.value.response["Error"]["Code"] == "304"
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == put["ETag"], "a 304 names the version"

    # CompleteMultipartUpload takes If-None-Match: * and If-Match like PutObject.
    upload = s3.create_multipart_upload(Bucket="conditions", Key="doc")
    part = s3.upload_part(Bucket="conditions", Key="doc", UploadId=upload["UploadId"], PartNumber=1, Body=b"v2")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket="conditions", Key="doc", UploadId=upload["UploadId"],
                                     MultipartUpload=parts, IfNoneMatch="*")
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Condition"]) == (
        "PreconditionFailed", "If-None-Match")
    assert s3.get_object(Bucket="conditions", Key="doc")["Body"].read() == b"v1", "the refused completion changed nothing"
    done = s3.complete_multipart_upload(Bucket="conditions", Key="doc", UploadId=upload["UploadId"],
                                        MultipartUpload=parts, IfMatch=put["ETag"])
    assert s3.get_object(Bucket="conditions", Key="doc")["Body"].read() == b"v2"

    # DeleteObject If-Match: only the object with that ETag; a missing key is NoSuchKey.
    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket="conditions", Key="doc", IfMatch=put["ETag"])
    assert err.value.response["Error"]["Condition"] == "If-Match"
    assert s3.get_object(Bucket="conditions", Key="doc")["Body"].read() == b"v2", "the refused delete changed nothing"
    assert error_of(s3.delete_object, Bucket="conditions", Key="absent", IfMatch=done["ETag"])[0] == "NoSuchKey"
    s3.delete_object(Bucket="conditions", Key="doc", IfMatch=done["ETag"])
    assert error_of(s3.get_object, Bucket="conditions", Key="doc")[0] == "NoSuchKey"


def test_parts_must_use_the_checksum_algorithm_of_their_upload(s3):
    s3.create_bucket(Bucket="part-checksums")
    upload = s3.create_multipart_upload(Bucket="part-checksums", Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    assert error_of(s3.upload_part, Bucket="part-checksums", Key="k", UploadId=upload, PartNumber=1, Body=b"x",
                    ChecksumAlgorithm="CRC32") == ("InvalidRequest", "Checksum Type mismatch occurred. Ensure that "
                                                   "UploadPart uses the same Checksum Type for all uploads as expected by Upload ID.")
    assert "Parts" not in s3.list_parts(Bucket="part-checksums", Key="k", UploadId=upload)
    part = s3.upload_part(Bucket="part-checksums", Key="k", UploadId=upload, PartNumber=1, Body=b"x",
                          ChecksumAlgorithm="SHA256")
    assert part["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    # Without an algorithm of its own, an upload takes the parts' declared checksums and checks them.
    plain = s3.create_multipart_upload(Bucket="part-checksums", Key="plain")["UploadId"]
    part = s3.upload_part(Bucket="part-checksums", Key="plain", UploadId=plain, PartNumber=1, Body=b"y",
                          ChecksumAlgorithm="SHA1")
    assert part["ChecksumSHA1"] == base64.b64encode(hashlib.sha1(b"y").digest()).decode()


def test_multipart_upload_listings_page_by_key_and_upload_id_markers(s3):
    s3.create_bucket(Bucket="pending-uploads")
    created = [(key, s3.create_multipart_upload(Bucket="pending-uploads", Key=key)["UploadId"])
               for key in ["b", "a", "a", "c", "a"]]
    expected = sorted(created, key=lambda pair: pair[0])
    listed, markers = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket="pending-uploads", MaxUploads=2, **markers)
        listed += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert [key for key, _ in listed] == [key for key, _ in expected]
    assert sorted(listed) == sorted(created) and len(set(listed)) == len(created)
    after_a = s3.list_multipart_uploads(Bucket="pending-uploads", KeyMarker="a")["Uploads"]
    assert [u["Key"] for u in after_a] == ["b", "c"]
    assert error_of(s3.list_multipart_uploads, Bucket="pending-uploads", KeyMarker="a",
                    UploadIdMarker="not-an-upload") == ("InvalidArgument", "Invalid uploadId marker")


def test_multipart_errors_carry_s3s_argument_and_upload_fields(s3):
    s3.create_bucket(Bucket="mpu-errors")
    upload = s3.create_multipart_upload(Bucket="mpu-errors", Key="k")["UploadId"]
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket="mpu-errors", Key="k", UploadId=upload, PartNumber=10001, Body=b"x")
    assert {k: err.value.response["Error"][k] for k in ("Code", "ArgumentName", "ArgumentValue")} == {
        "Code": "InvalidArgument", "ArgumentName": "partNumber", "ArgumentValue": "10001"}
    s3.abort_multipart_upload(Bucket="mpu-errors", Key="k", UploadId=upload)
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket="mpu-errors", Key="k", UploadId=upload)
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["UploadId"]) == ("NoSuchUpload", upload)


def test_sse_c_is_blocked_on_new_buckets_until_the_bucket_allows_it(keyhaven_factory):
    server = keyhaven_factory("--dev", "--tls-self-signed")
    s3 = s3_client(server, verify=os.path.join(server.data_dir, "tls", "cert.pem"))
    key = os.urandom(32)
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    s3.create_bucket(Bucket="blocking")
    assert status_of(s3.put_object, Bucket="blocking", Key="doc", Body=b"x", **sse_c) == (403, "AccessDenied")
    assert status_of(s3.create_multipart_upload, Bucket="blocking", Key="parts", **sse_c) == (403, "AccessDenied")
    assert s3.list_objects_v2(Bucket="blocking")["KeyCount"] == 0, "the refused writes stored nothing"
    assert s3.list_multipart_uploads(Bucket="blocking").get("Uploads", []) == []

    allow_sse_c(s3, "blocking")
    rules = s3.get_bucket_encryption(Bucket="blocking")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["BlockedEncryptionTypes"] == {"EncryptionType": ["NONE"]}
    s3.put_object(Bucket="blocking", Key="doc", Body=b"sealed by the customer", **sse_c)

    # Blocking again refuses new SSE-C writes, copies included; what is stored stays readable with its key.
    s3.put_bucket_encryption(Bucket="blocking", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}]})
    assert status_of(s3.put_object, Bucket="blocking", Key="other", Body=b"x", **sse_c) == (403, "AccessDenied")
    assert status_of(s3.copy_object, Bucket="blocking", Key="copy", CopySource="blocking/doc",
                     CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key, **sse_c) == (
        403, "AccessDenied")
    assert s3.get_object(Bucket="blocking", Key="doc", **sse_c)["Body"].read() == b"sealed by the customer"
    assert error_of(s3.put_bucket_encryption, Bucket="blocking", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BlockedEncryptionTypes": {"EncryptionType": ["SSE-KMS"]}}]})[0] == "MalformedXML"
