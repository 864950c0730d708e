"""CloudTrail through boto3 and the AWS CLI: trails and their checks of the bucket and key policies, event selectors,
LookupEvents over the audit log, delivery of log files to S3 and signed digests that `aws cloudtrail validate-logs`
verifies (and that report tampering)."""

import datetime
import gzip
import json
import os
import subprocess
import time

import pytest

from client_helpers import as_user, error_of, new_user

TRAIL = "audit-trail"


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def trail_bucket_policy(bucket, account, trail=TRAIL, prefix=None):
    """The bucket policy AWS documents for a trail's bucket."""
    arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{trail}"
    logs = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/*"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringEquals": {"aws:SourceArn": arn}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": logs,
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": arn}}},
        ],
    })


def trail_bucket(server, bucket="trail-logs", prefix=None):
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=trail_bucket_policy(bucket, account_of(server), prefix=prefix))
    return bucket


def objects(server, bucket, prefix=""):
    listed = server.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def log_records(server, bucket, key):
    body = server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(gzip.decompress(body))["Records"]


def delivered_records(server, bucket):
    records = []
    for key in objects(server, bucket, "AWSLogs/"):
        if "/CloudTrail/" in key:
            records += log_records(server, bucket, key)
    return records


def test_trail_lifecycle_and_cloudtrails_checks(dev_server):
    ct = dev_server.client("cloudtrail")
    account = account_of(dev_server)
    bucket = trail_bucket(dev_server)
    arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{TRAIL}"
    created = ct.create_trail(Name=TRAIL, S3BucketName=bucket, EnableLogFileValidation=True,
                              TagsList=[{"Key": "team", "Value": "sec"}])
    assert {k: v for k, v in created.items() if k != "ResponseMetadata"} == {
        "Name": TRAIL, "S3BucketName": bucket, "IncludeGlobalServiceEvents": True, "IsMultiRegionTrail": False,
        "TrailARN": arn, "LogFileValidationEnabled": True, "IsOrganizationTrail": False,
    }
    trail = ct.get_trail(Name=TRAIL)["Trail"]
    assert trail["HomeRegion"] == "us-east-1" and trail["HasCustomEventSelectors"] is False
    assert ct.get_trail(Name=arn)["Trail"]["TrailARN"] == arn
    assert [t["TrailARN"] for t in ct.describe_trails()["trailList"]] == [arn]
    assert ct.describe_trails(trailNameList=["nope"])["trailList"] == []
    assert ct.list_trails()["Trails"] == [{"TrailARN": arn, "Name": TRAIL, "HomeRegion": "us-east-1"}]
    status = ct.get_trail_status(Name=TRAIL)
    assert status["IsLogging"] is False and status["TimeLoggingStarted"] == ""
    ct.start_logging(Name=TRAIL)
    status = ct.get_trail_status(Name=TRAIL)
    assert status["IsLogging"] is True and "StartLoggingTime" in status
    # A new trail logs every management event, read and write.
    selectors = ct.get_event_selectors(TrailName=TRAIL)
    assert selectors["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                            "DataResources": [], "ExcludeManagementEventSources": []}]
    put = ct.put_event_selectors(TrailName=TRAIL, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}],
        "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    assert put["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    assert ct.get_trail(Name=TRAIL)["Trail"]["HasCustomEventSelectors"] is True
    advanced = [{"Name": "kms writes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventSource", "Equals": ["kms.amazonaws.com"]}]}]
    got = ct.put_event_selectors(TrailName=TRAIL, AdvancedEventSelectors=advanced)
    assert got["AdvancedEventSelectors"] == advanced and "EventSelectors" not in got
    assert ct.get_event_selectors(TrailName=TRAIL)["AdvancedEventSelectors"] == advanced
    # Insights selectors are kept and answered (no Insights events are generated).
    assert error_of(ct.get_insight_selectors, TrailName=TRAIL) == (
        "InsightNotEnabledException", f"Trail {arn} does not have Insights enabled.")
    put = ct.put_insight_selectors(TrailName=TRAIL, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert put["InsightSelectors"] == [{"InsightType": "ApiCallRateInsight"}]
    assert ct.get_insight_selectors(TrailName=arn)["InsightSelectors"] == [{"InsightType": "ApiCallRateInsight"}]
    assert ct.get_trail(Name=TRAIL)["Trail"]["HasInsightSelectors"] is True
    assert error_of(ct.put_insight_selectors, TrailName=TRAIL, InsightSelectors=[
        {"InsightType": "ApiErrorRateInsight"}, {"InsightType": "ApiErrorRateInsight"}])[0] == \
        "InvalidInsightSelectorsException"
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "env", "Value": "prod"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "team"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"] == [
        {"ResourceId": arn, "TagsList": [{"Key": "env", "Value": "prod"}]}]
    ct.stop_logging(Name=TRAIL)
    assert ct.get_trail_status(Name=TRAIL)["IsLogging"] is False

    # CloudTrail's refusals, none of which creates a trail.
    cases = [
        (dict(Name=TRAIL, S3BucketName=bucket), "TrailAlreadyExistsException",
         f"Trail {TRAIL} already exists for customer: {account}"),
        (dict(Name="ab", S3BucketName=bucket), "InvalidTrailNameException",
         "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."),
        (dict(Name="bad..name", S3BucketName=bucket), "InvalidTrailNameException",
         "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_)."),
        (dict(Name="other", S3BucketName="no-such-bucket"), "S3BucketDoesNotExistException",
         "S3 bucket no-such-bucket does not exist!"),
        (dict(Name="other", S3BucketName=bucket, IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False),
         "InvalidParameterCombinationException", "Multi-Region trail must include global service events."),
    ]
    for kwargs, code, message in cases:
        assert error_of(ct.create_trail, **kwargs) == (code, message), kwargs
    # A bucket whose policy does not let CloudTrail write.
    s3 = dev_server.client("s3")
    s3.create_bucket(Bucket="no-policy")
    assert error_of(ct.create_trail, Name="other", S3BucketName="no-policy") == (
        "InsufficientS3BucketPolicyException", "Incorrect S3 bucket policy is detected for bucket: no-policy")
    assert [t["Name"] for t in ct.list_trails()["Trails"]] == [TRAIL]
    assert error_of(ct.get_trail, Name="missing") == (
        "TrailNotFoundException", f"Unknown trail: missing for the user: {account}")
    assert error_of(ct.get_trail_status, Name="missing") == (
        "TrailNotFoundException",
        f"Unknown trail: arn:aws:cloudtrail:us-east-1:{account}:trail/missing for the user: {account}")
    # A trail is seen from another Region only when it is multi-Region.
    west = dev_server.client("cloudtrail", region_name="us-west-2")
    assert west.describe_trails()["trailList"] == []
    ct.update_trail(Name=TRAIL, IsMultiRegionTrail=True)
    assert [t["TrailARN"] for t in west.describe_trails()["trailList"]] == [arn]
    assert error_of(west.start_logging, Name=arn)[0] == "InvalidHomeRegionException"
    ct.delete_trail(Name=TRAIL)
    assert ct.list_trails()["Trails"] == []


def test_a_caller_without_permission_changes_nothing(dev_server):
    bucket = trail_bucket(dev_server)
    creds = new_user(dev_server, "reader", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["cloudtrail:DescribeTrails", "cloudtrail:LookupEvents"], "Resource": "*"}]}))
    ct = as_user(dev_server, "cloudtrail", creds)
    code, message = error_of(ct.create_trail, Name=TRAIL, S3BucketName=bucket)
    assert code == "AccessDeniedException" and "cloudtrail:CreateTrail" in message
    assert dev_server.client("cloudtrail").list_trails()["Trails"] == []
    admin = dev_server.client("cloudtrail")
    admin.create_trail(Name=TRAIL, S3BucketName=bucket)
    assert error_of(ct.start_logging, Name=TRAIL)[0] == "AccessDeniedException"
    assert error_of(ct.delete_trail, Name=TRAIL)[0] == "AccessDeniedException"
    assert admin.get_trail_status(Name=TRAIL)["IsLogging"] is False
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == [TRAIL]


def wait_for_events(ct, timeout=10.0, **kwargs):
    """LookupEvents until it finds something: records of reads reach the audit log just after their answers."""
    deadline = time.monotonic() + timeout
    while True:
        events = ct.lookup_events(**kwargs)["Events"]
        if events or time.monotonic() > deadline:
            return events


def test_lookup_events_finds_management_events_by_each_attribute(dev_server):
    ct = dev_server.client("cloudtrail")
    creds = new_user(dev_server, "alice", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:*", "s3:*"], "Resource": "*"}]}))
    kms = as_user(dev_server, "kms", creds)
    key = kms.create_key(Description="lookup")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    s3 = as_user(dev_server, "s3", creds)
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="o", Body=b"1")

    created = wait_for_events(ct, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])
    assert len(created) == 1
    event = created[0]
    assert event["Username"] == "alice" and event["AccessKeyId"] == creds[0]
    assert event["EventSource"] == "kms.amazonaws.com" and event["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::KMS::Key", "ResourceName": key["Arn"]} in event["Resources"]
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventID"] == event["EventId"] and record["userIdentity"]["userName"] == "alice"
    for key_name, value, expected in [
        ("EventId", event["EventId"], ["CreateKey"]),
        ("ResourceName", key["Arn"], ["Decrypt", "Encrypt", "CreateKey"]),
        ("ResourceName", key["KeyId"], ["Decrypt", "Encrypt", "CreateKey"]),
        ("AccessKeyId", creds[0], ["CreateBucket", "Decrypt", "Encrypt", "CreateKey"]),
        ("Username", "alice", ["CreateBucket", "Decrypt", "Encrypt", "CreateKey"]),
        ("EventSource", "s3.amazonaws.com", ["CreateBucket"]),
        ("ResourceType", "AWS::S3::Bucket", ["CreateBucket"]),
    ]:
        events = wait_for_events(ct, LookupAttributes=[{"AttributeKey": key_name, "AttributeValue": value}])
        assert [e["EventName"] for e in events] == expected, (key_name, value)
    # The object write is a data event: not in the event history.
    assert ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutObject"}])[
        "Events"] == []
    read_only = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "true"}])["Events"]
    assert read_only and all(e["ReadOnly"] == "true" for e in read_only)
    # Newest first, a page at a time; a token works only with the request it came from.
    everything = ct.lookup_events(MaxResults=50)["Events"]
    times = [e["EventTime"] for e in everything]
    assert times == sorted(times, reverse=True)
    paged, token = [], None
    while True:
        page = ct.lookup_events(MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Events"]) <= 2
        paged += page["Events"]
        token = page.get("NextToken")
        if not token:
            break
    # Each lookup is itself an event, newer than those listed before it: compare the events both saw.
    listed = {e["EventId"] for e in everything}
    assert [e["EventId"] for e in paged if e["EventId"] in listed] == [e["EventId"] for e in everything]
    first = ct.lookup_events(MaxResults=1)
    assert error_of(ct.lookup_events, MaxResults=1, NextToken=first["NextToken"],
                    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])[0] == \
        "InvalidNextTokenException"
    # Time ranges, and another Region's history is its own.
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert ct.lookup_events(StartTime=future)["Events"] == []
    assert dev_server.client("cloudtrail", region_name="eu-west-1").lookup_events()["Events"] == []
    assert error_of(ct.lookup_events, StartTime=future, EndTime=future - datetime.timedelta(days=2))[0] == \
        "InvalidTimeRangeException"
    two = [{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "Username", "AttributeValue": "b"}]
    assert error_of(ct.lookup_events, LookupAttributes=two)[0] == "InvalidLookupAttributesException"
    assert error_of(ct.lookup_events, MaxResults=51) == ("ValidationException", "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")


def cli(server, *args, check=True):
    """The AWS CLI with every service (S3 included, which validate-logs reaches without --endpoint-url) sent to the
    server."""
    env = dict(server.cli_env(), AWS_ENDPOINT_URL=server.endpoint)
    return subprocess.run(["aws", *args], env=env, capture_output=True, text=True, check=check)


def validate(server, arn, start, end):
    return cli(server, "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", start.isoformat(),
               "--end-time", end.isoformat(), "--verbose", check=False)


def test_delivery_digests_and_validate_logs(dev_server):
    server = dev_server
    ct = server.client("cloudtrail")
    account = account_of(server)
    bucket = trail_bucket(server)
    arn = ct.create_trail(Name=TRAIL, S3BucketName=bucket, EnableLogFileValidation=True)["TrailARN"]
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ct.start_logging(Name=TRAIL)
    kms = server.client("kms")
    key_id = kms.create_key(Description="delivered")["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=b"secret-plaintext")
    server.advance_clock(300)
    logs = [k for k in objects(server, bucket) if "/CloudTrail/" in k]
    assert len(logs) == 1
    assert logs[0].startswith(f"AWSLogs/{account}/CloudTrail/us-east-1/")
    name = logs[0].rsplit("/", 1)[1]
    assert name.startswith(f"{account}_CloudTrail_us-east-1_") and name.endswith(".json.gz")
    names = [r["eventName"] for r in log_records(server, bucket, logs[0])]
    assert "StartLogging" in names and "CreateKey" in names
    assert not any(b"secret-plaintext" in json.dumps(r).encode() for r in log_records(server, bucket, logs[0]))
    status = ct.get_trail_status(Name=TRAIL)
    assert "LatestDeliveryTime" in status and "LatestDeliveryError" not in status

    # More events, then an hour: a digest lists both log files and is signed.
    kms.describe_key(KeyId=key_id)
    kms.create_alias(AliasName="alias/delivered", TargetKeyId=key_id)
    server.advance_clock(3600)
    digests = [k for k in objects(server, bucket) if "/CloudTrail-Digest/" in k]
    assert len(digests) == 1
    assert digests[0].startswith(f"AWSLogs/{account}/CloudTrail-Digest/us-east-1/")
    assert f"_CloudTrail-Digest_us-east-1_{TRAIL}_us-east-1_" in digests[0]
    head = server.client("s3").head_object(Bucket=bucket, Key=digests[0])
    assert head["Metadata"]["signature-algorithm"] == "SHA256withRSA" and len(head["Metadata"]["signature"]) == 512
    digest = json.loads(gzip.decompress(server.client("s3").get_object(Bucket=bucket, Key=digests[0])["Body"].read()))
    assert digest["previousDigestSignature"] is None and len(digest["logFiles"]) == 2
    assert "CreateAlias" in [r["eventName"] for r in delivered_records(server, bucket)]
    # A second hour chains the next digest to the first.
    server.advance_clock(3600)
    digests = [k for k in objects(server, bucket) if "/CloudTrail-Digest/" in k]
    assert len(digests) == 2
    second = json.loads(gzip.decompress(server.client("s3").get_object(Bucket=bucket, Key=digests[1])["Body"].read()))
    assert second["previousDigestS3Object"] == digests[0]
    assert second["previousDigestSignature"] == head["Metadata"]["signature"]

    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=4)
    result = validate(server, arn, start, end)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2/2 digest files valid" in result.stdout and "/ 0 " not in result.stdout, result.stdout
    assert "log files valid" in result.stdout

    s3 = server.client("s3")
    log_key = [k for k in objects(server, bucket) if "/CloudTrail/" in k][0]
    original = s3.get_object(Bucket=bucket, Key=log_key)["Body"].read()
    # A modified log file.
    s3.put_object(Bucket=bucket, Key=log_key, Body=gzip.compress(b'{"Records":[]}'))
    result = validate(server, arn, start, end)
    assert result.returncode == 1 and f"s3://{bucket}/{log_key}\tINVALID: hash value doesn't match" in result.stderr
    # A deleted log file.
    s3.delete_object(Bucket=bucket, Key=log_key)
    result = validate(server, arn, start, end)
    assert result.returncode == 1 and f"s3://{bucket}/{log_key}\tINVALID: not found" in result.stderr
    s3.put_object(Bucket=bucket, Key=log_key, Body=original)
    assert validate(server, arn, start, end).returncode == 0
    # A modified digest (its signature no longer verifies).
    digest_body = s3.get_object(Bucket=bucket, Key=digests[0])
    raw = gzip.decompress(digest_body["Body"].read())
    s3.put_object(Bucket=bucket, Key=digests[0], Body=gzip.compress(raw.replace(b"SHA-256", b"SHA-257")),
                  Metadata=digest_body["Metadata"])
    result = validate(server, arn, start, end)
    assert result.returncode == 1 and f"s3://{bucket}/{digests[0]}\tINVALID: signature verification failed" in \
        result.stderr
    # A missing digest.
    s3.delete_object(Bucket=bucket, Key=digests[0])
    result = validate(server, arn, start, end)
    assert result.returncode == 1 and f"s3://{bucket}/{digests[0]}\tINVALID: not found" in result.stderr
    # An inserted digest, signed by a key CloudTrail never had.
    forged = dict(json.loads(raw), digestS3Object=digests[0])
    s3.put_object(Bucket=bucket, Key=digests[0], Body=gzip.compress(json.dumps(forged).encode()),
                  Metadata={"signature": "ab" * 256, "signature-algorithm": "SHA256withRSA"})
    result = validate(server, arn, start, end)
    assert result.returncode == 1 and "INVALID: signature verification failed" in result.stderr


def test_delivery_survives_a_crash_and_a_refusing_bucket(keyhaven_factory):
    server = keyhaven_factory("--dev")
    ct = server.client("cloudtrail")
    bucket = trail_bucket(server)
    ct.create_trail(Name=TRAIL, S3BucketName=bucket)
    ct.start_logging(Name=TRAIL)
    kms = server.client("kms")
    before = kms.create_key(Description="before the crash")["KeyMetadata"]["KeyId"]
    # Killed before delivering: the records are in the audit log, and delivery resumes after the restart.
    server.process.kill()
    server.process.wait()
    server.process = None
    server.start()
    kms, ct = server.client("kms"), server.client("cloudtrail")
    server.advance_clock(300)
    created = [r for r in delivered_records(server, bucket) if r["eventName"] == "CreateKey"]
    assert [r["responseElements"]["keyMetadata"]["keyId"] for r in created] == [before]
    # A bucket policy that no longer lets CloudTrail write: delivery fails, the status says so, nothing is lost.
    s3 = server.client("s3")
    s3.delete_bucket_policy(Bucket=bucket)
    refused = kms.create_key(Description="while refused")["KeyMetadata"]["KeyId"]
    server.advance_clock(300)
    assert ct.get_trail_status(Name=TRAIL)["LatestDeliveryError"] == "AccessDenied"
    assert len([k for k in objects(server, bucket) if "/CloudTrail/" in k]) == 1
    s3.put_bucket_policy(Bucket=bucket, Policy=trail_bucket_policy(bucket, account_of(server)))
    server.advance_clock(300)
    assert "LatestDeliveryError" not in ct.get_trail_status(Name=TRAIL)
    keys = [r["responseElements"]["keyMetadata"]["keyId"] for r in delivered_records(server, bucket)
            if r["eventName"] == "CreateKey"]
    assert keys == [before, refused]


def test_a_trail_encrypts_its_logs_under_its_kms_key(dev_server):
    ct = dev_server.client("cloudtrail")
    kms = dev_server.client("kms")
    account = account_of(dev_server)
    bucket = trail_bucket(dev_server)
    plain = kms.create_key()["KeyMetadata"]["Arn"]
    # A key whose policy does not let CloudTrail use it.
    assert error_of(ct.create_trail, Name=TRAIL, S3BucketName=bucket, KmsKeyId=plain) == (
        "InsufficientEncryptionPolicyException",
        f"Insufficient permissions to access S3 bucket {bucket} or KMS key {plain}.")
    assert ct.list_trails()["Trails"] == []
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM policies", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                      f"arn:aws:cloudtrail:*:{account}:trail/*"}}}]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/trail", TargetKeyId=key)
    trail = ct.create_trail(Name=TRAIL, S3BucketName=bucket, KmsKeyId="alias/trail")
    assert trail["KmsKeyId"] == key
    ct.start_logging(Name=TRAIL)
    dev_server.advance_clock(300)
    s3 = dev_server.client("s3")
    log_key = [k for k in objects(dev_server, bucket) if "/CloudTrail/" in k][0]
    head = s3.head_object(Bucket=bucket, Key=log_key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    assert "StartLogging" in [r["eventName"] for r in log_records(dev_server, bucket, log_key)]


def test_a_trail_delivers_to_cloudwatch_logs_through_its_role(dev_server):
    ct, iam, logs = (dev_server.client(s) for s in ("cloudtrail", "iam", "logs"))
    account = account_of(dev_server)
    bucket = trail_bucket(dev_server)
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{TRAIL}"
    logs.create_log_group(logGroupName="CloudTrail/audit")
    group_arn = f"arn:aws:logs:us-east-1:{account}:log-group:CloudTrail/audit:*"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}}]})
    role = iam.create_role(RoleName="trail-to-logs", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    # The role may not write to the group yet: CloudTrail refuses it, and no trail is created.
    assert error_of(ct.create_trail, Name=TRAIL, S3BucketName=bucket, CloudWatchLogsLogGroupArn=group_arn,
                    CloudWatchLogsRoleArn=role) == (
        "InvalidCloudWatchLogsRoleArnException", "Access denied. Verify in IAM that the role has adequate permissions.")
    assert ct.list_trails()["Trails"] == []
    iam.put_role_policy(RoleName="trail-to-logs", PolicyName="write", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:us-east-1:{account}:log-group:CloudTrail/audit:log-stream:*"}]}))
    assert error_of(ct.create_trail, Name=TRAIL, S3BucketName=bucket, CloudWatchLogsRoleArn=role,
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:eu-west-1:{account}:log-group:CloudTrail/audit:*") == (
        "InvalidCloudWatchLogsLogGroupArnException", "You must specify a log group that is in the current region.")
    # Handing CloudTrail the role is passing it: a caller without iam:PassRole on it is refused, nothing created.
    creds = new_user(dev_server, "trail-admin", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["cloudtrail:*", "s3:*", "logs:*"], "Resource": "*"}]}))
    code, message = error_of(as_user(dev_server, "cloudtrail", creds).create_trail, Name=TRAIL, S3BucketName=bucket,
                             CloudWatchLogsLogGroupArn=group_arn, CloudWatchLogsRoleArn=role)
    assert code == "AccessDeniedException" and "iam:PassRole" in message
    assert ct.list_trails()["Trails"] == []
    trail = ct.create_trail(Name=TRAIL, S3BucketName=bucket, CloudWatchLogsLogGroupArn=group_arn,
                            CloudWatchLogsRoleArn=role)
    assert (trail["CloudWatchLogsLogGroupArn"], trail["CloudWatchLogsRoleArn"]) == (group_arn, role)
    ct.start_logging(Name=TRAIL)
    key = dev_server.client("kms").create_key(Description="to logs")["KeyMetadata"]["KeyId"]
    dev_server.advance_clock(300)
    stream = f"{account}_CloudTrail_us-east-1"
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="CloudTrail/audit")["logStreams"]] == [
        stream]
    found = logs.filter_log_events(logGroupName="CloudTrail/audit", filterPattern='{ $.eventName = "CreateKey" }')
    records = [json.loads(e["message"]) for e in found["events"]]
    assert [r["responseElements"]["keyMetadata"]["keyId"] for r in records] == [key]
    status = ct.get_trail_status(Name=TRAIL)
    assert "LatestCloudWatchLogsDeliveryTime" in status and "LatestCloudWatchLogsDeliveryError" not in status
    # The role loses its permission: the status says so, and the records are delivered once it is back.
    iam.delete_role_policy(RoleName="trail-to-logs", PolicyName="write")
    dev_server.client("kms").create_key(Description="while refused")
    dev_server.advance_clock(300)
    assert ct.get_trail_status(Name=TRAIL)["LatestCloudWatchLogsDeliveryError"] == "AccessDenied"
    iam.put_role_policy(RoleName="trail-to-logs", PolicyName="write", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream",
                                                                              "logs:PutLogEvents"], "Resource": "*"}]}))
    dev_server.advance_clock(300)
    found = logs.filter_log_events(logGroupName="CloudTrail/audit", filterPattern='{ $.eventName = "CreateKey" }')
    assert len(found["events"]) == 2


def test_the_servers_own_log_ships_into_a_log_group(keyhaven_factory):
    server = keyhaven_factory("--dev", "--server-log-group", "/keyhaven/server")
    ct, logs = server.client("cloudtrail"), server.client("logs")
    bucket = trail_bucket(server)
    ct.create_trail(Name=TRAIL, S3BucketName=bucket)
    ct.start_logging(Name=TRAIL)
    server.client("s3").delete_bucket_policy(Bucket=bucket)
    server.advance_clock(300)
    # The operator finds the failed delivery in the server's log with the CloudWatch Logs API (shipped every 5 s).
    deadline = time.monotonic() + 30
    while True:
        groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
        found = logs.filter_log_events(logGroupName="/keyhaven/server", filterPattern='"trail delivery failed"')[
            "events"] if "/keyhaven/server" in groups else []
        if found or time.monotonic() > deadline:
            break
    assert found and "AccessDenied" in found[0]["message"]
    assert found[0]["logStreamName"].startswith("keyhaven-")
