"""CloudWatch Logs through boto3: log groups, streams and events, filter patterns, retention on the server's clock, and
groups encrypted under a KMS key that CloudWatch Logs itself must be allowed to use."""

import json
import time

from client_helpers import as_user, audit_records, error_of, files_containing, new_user

GROUP = "/app/web"


def now_ms():
    return int(time.time() * 1000)


def put(logs, messages, group=GROUP, stream="s1", at=None):
    at = at or now_ms()
    return logs.put_log_events(logGroupName=group, logStreamName=stream,
                               logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(messages)])


def test_groups_streams_events_and_filters(dev_server):
    logs = dev_server.client("logs")
    account = dev_server.client("sts").get_caller_identity()["Account"]
    logs.create_log_group(logGroupName=GROUP, tags={"team": "web"})
    assert error_of(logs.create_log_group, logGroupName=GROUP) == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    logs.create_log_group(logGroupName="/app/db")
    group = logs.describe_log_groups(logGroupNamePrefix="/app/w")["logGroups"]
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:{GROUP}"
    assert [(g["logGroupName"], g["arn"], g["logGroupArn"]) for g in group] == [(GROUP, f"{arn}:*", arn)]
    assert "kmsKeyId" not in group[0] and "retentionInDays" not in group[0]
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="db")["logGroups"]] == ["/app/db"]
    assert error_of(logs.describe_log_groups, logGroupNamePrefix="/a", logGroupNamePattern="b") == (
        "InvalidParameterException",
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "web"}
    logs.tag_log_group(logGroupName="/app/db", tags={"env": "prod"})
    assert logs.list_tags_log_group(logGroupName="/app/db")["tags"] == {"env": "prod"}
    logs.untag_log_group(logGroupName="/app/db", tags=["env"])
    assert logs.list_tags_log_group(logGroupName="/app/db")["tags"] == {}
    # The model's constraints, answered as CloudWatch Logs answers them.
    assert error_of(logs.create_log_group, logGroupName="x" * 513) == (
        "InvalidParameterException", f"1 validation error detected: Value '{'x' * 513}' at 'logGroupName' failed to "
        "satisfy constraint: Member must have length less than or equal to 512")

    logs.create_log_stream(logGroupName=GROUP, logStreamName="s1")
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s2")
    assert error_of(logs.create_log_stream, logGroupName=GROUP, logStreamName="s1") == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName="nope",
                    logEvents=[{"timestamp": now_ms(), "message": "x"}]) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.create_log_stream, logGroupName="/missing", logStreamName="s") == (
        "ResourceNotFoundException", "The specified log group does not exist.")

    json_line = json.dumps({"eventType": "UpdateTrail", "latency": 750, "user": {"id": 1}})
    access = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
    start = now_ms() - 1000
    token = put(logs, ["ERROR disk full", "INFO started", json_line, access])["nextSequenceToken"]
    assert len(token) == 56
    # A second later, so that s2's last event is the newer whatever the clock's resolution.
    put(logs, ["WARN slow request", "ERROR Exiting"], stream="s2", at=now_ms() + 1000)
    # Out of order, and across more than a day: the whole batch is refused.
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName="s1",
                    logEvents=[{"timestamp": start + 10, "message": "b"}, {"timestamp": start, "message": "a"}]) == (
        "InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName="s1",
                    logEvents=[{"timestamp": start - 86_400_001, "message": "a"}, {"timestamp": start, "message": "b"}])[
        1] == "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
    # Too old and too new events are set aside and reported; the rest is kept.
    rejected = logs.put_log_events(logGroupName=GROUP, logStreamName="s2", logEvents=[
        {"timestamp": now_ms() + 3 * 3_600_000, "message": "from the future"}])["rejectedLogEventsInfo"]
    assert rejected == {"tooNewLogEventStartIndex": 0}
    old = now_ms() - 15 * 86_400_000
    rejected = logs.put_log_events(logGroupName=GROUP, logStreamName="s2", logEvents=[
        {"timestamp": old, "message": "ancient"}, {"timestamp": old + 1, "message": "ancient too"}])
    assert rejected["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2}

    events = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True)
    assert [e["message"] for e in events["events"]] == ["ERROR disk full", "INFO started", json_line, access]
    assert events["nextForwardToken"].startswith("f/") and events["nextBackwardToken"].startswith("b/")
    first = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True, limit=2)
    assert [e["message"] for e in first["events"]] == ["ERROR disk full", "INFO started"]
    rest = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True,
                               nextToken=first["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == [json_line, access]
    end = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True,
                              nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    latest = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", limit=1)
    assert [e["message"] for e in latest["events"]] == [access]
    assert error_of(logs.get_log_events, logGroupName=GROUP, logStreamName="s1", nextToken="bogus") == (
        "InvalidParameterException", "The specified nextToken is invalid.")

    def filtered(pattern, **kwargs):
        found = logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern, **kwargs)
        return [e["message"] for e in found["events"]]

    assert filtered("ERROR") == ["ERROR disk full", "ERROR Exiting"]
    assert filtered("?ERROR ?WARN") == ["ERROR disk full", "WARN slow request", "ERROR Exiting"]
    assert filtered("ERROR -Exiting") == ["ERROR disk full"]
    assert filtered('"disk full"') == ["ERROR disk full"]
    assert filtered('{ $.eventType = "UpdateTrail" && $.latency > 500 }') == [json_line]
    assert filtered("{ $.user.id = 2 }") == []
    assert filtered("[ip, id, user, timestamp, request, status_code = 4*, bytes]") == [access]
    assert filtered("ERROR", logStreamNames=["s2"]) == ["ERROR Exiting"]
    assert filtered("", logStreamNamePrefix="s2") == ["WARN slow request", "ERROR Exiting"]
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")["events"][0]
    assert found["logStreamName"] == "s1" and len(found["eventId"]) == 56
    assert error_of(logs.filter_log_events, logGroupName=GROUP, filterPattern="{ $.a = 1") == (
        "InvalidParameterException", "If a filter pattern starts with '{' it must end with '}'")

    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["s1", "s2"]
    assert streams[0]["arn"] == f"{arn}:log-stream:s1" and "lastEventTimestamp" in streams[0]
    by_time = logs.describe_log_streams(logGroupIdentifier=arn, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["s2", "s1"]
    assert error_of(logs.describe_log_streams, logGroupName=GROUP, logGroupIdentifier=arn) == (
        "ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")

    logs.delete_log_stream(logGroupName=GROUP, logStreamName="s2")
    assert filtered("ERROR") == ["ERROR disk full"]
    logs.delete_log_group(logGroupName=GROUP)
    assert error_of(logs.get_log_events, logGroupName=GROUP, logStreamName="s1") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/app/db"]
    # The event history finds a group's events by its name.
    history = dev_server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": GROUP}])["Events"]
    assert {"CreateLogGroup", "CreateLogStream", "PutLogEvents", "DeleteLogGroup"} <= {e["EventName"] for e in history}
    assert all(e["EventSource"] == "logs.amazonaws.com" for e in history)


def test_retention_expires_events_on_the_servers_clock(dev_server):
    logs = dev_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s1")
    assert error_of(logs.put_retention_policy, logGroupName=GROUP, retentionInDays=2)[0] == \
        "InvalidParameterException"
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=1)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 1
    put(logs, ["kept a day"])
    assert len(logs.get_log_events(logGroupName=GROUP, logStreamName="s1")["events"]) == 1
    dev_server.advance_clock(2 * 86_400)
    assert logs.get_log_events(logGroupName=GROUP, logStreamName="s1")["events"] == []
    assert logs.filter_log_events(logGroupName=GROUP)["events"] == []
    logs.delete_retention_policy(logGroupName=GROUP)
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def logs_key_policy(account, group_arn_pattern):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM policies", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow CloudWatch Logs", "Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
         "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*", "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": group_arn_pattern}}}]})


def test_a_group_encrypted_under_a_customer_key(dev_server):
    logs, kms = dev_server.client("logs"), dev_server.client("kms")
    account = dev_server.client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:{GROUP}"
    plain = kms.create_key()["KeyMetadata"]["Arn"]
    # The key's policy does not let CloudWatch Logs use it: nothing is created.
    assert error_of(logs.create_log_group, logGroupName=GROUP, kmsKeyId=plain) == (
        "AccessDeniedException", f"The specified KMS key does not exist or is not allowed to be used with Arn '{arn}'")
    assert logs.describe_log_groups()["logGroups"] == []
    key = kms.create_key(Policy=logs_key_policy(account, f"arn:aws:logs:us-east-1:{account}:log-group:/app/*"))
    key_arn = key["KeyMetadata"]["Arn"]
    logs.create_log_group(logGroupName=GROUP, kmsKeyId=key_arn)
    assert logs.describe_log_groups()["logGroups"][0]["kmsKeyId"] == key_arn
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s1")
    secret_line = "card=4111-1111-1111-1111 approved"
    put(logs, [secret_line])
    assert [e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName="s1")["events"]] == [
        secret_line]
    # Disabled key: writes and reads fail, and nothing is written.
    kms.disable_key(KeyId=key_arn)
    assert error_of(put, logs, ["while disabled"])[0] == "AccessDeniedException"
    assert error_of(logs.get_log_events, logGroupName=GROUP, logStreamName="s1")[0] == "AccessDeniedException"
    kms.enable_key(KeyId=key_arn)
    assert [e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName="s1")["events"]] == [
        secret_line]
    # Another group's ARN is outside the policy's condition: association is refused.
    logs.create_log_group(logGroupName="/other")
    other = f"arn:aws:logs:us-east-1:{account}:log-group:/other"
    assert error_of(logs.associate_kms_key, logGroupName="/other", kmsKeyId=key_arn) == (
        "AccessDeniedException", f"The specified KMS key does not exist or is not allowed to be used with Arn '{other}'")
    assert "kmsKeyId" not in logs.describe_log_groups(logGroupNamePrefix="/other")["logGroups"][0]
    # Disassociated: new events no longer need the key, those before still do.
    logs.disassociate_kms_key(resourceIdentifier=arn)
    assert "kmsKeyId" not in logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]
    put(logs, ["after disassociation"])
    logs.associate_kms_key(logGroupName=GROUP, kmsKeyId=key_arn)
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]["kmsKeyId"] == key_arn
    # Retention expires encrypted events as any others.
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=1)
    dev_server.advance_clock(2 * 86_400)
    assert logs.filter_log_events(logGroupName=GROUP)["events"] == []
    # The event text is nowhere on disk in the clear, nor in the audit log (whose batches are compressed).
    records = audit_records(dev_server)
    assert [r for r in records if r["eventName"] == "PutLogEvents"]
    assert "4111-1111" not in json.dumps(records)
    assert files_containing(dev_server.data_dir, [secret_line.encode(), b"4111-1111"]) == []


def test_a_caller_without_permission_changes_nothing(dev_server):
    logs = dev_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s1")
    creds = new_user(dev_server, "reader", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:Describe*", "logs:GetLogEvents"], "Resource": "*"}]}))
    reader = as_user(dev_server, "logs", creds)
    code, message = error_of(put, reader, ["forged"])
    assert code == "AccessDeniedException" and "logs:PutLogEvents" in message
    assert error_of(reader.delete_log_group, logGroupName=GROUP)[0] == "AccessDeniedException"
    assert error_of(reader.put_retention_policy, logGroupName=GROUP, retentionInDays=1)[0] == "AccessDeniedException"
    assert reader.get_log_events(logGroupName=GROUP, logStreamName="s1")["events"] == []
    group = logs.describe_log_groups()["logGroups"][0]
    assert group["logGroupName"] == GROUP and "retentionInDays" not in group


def test_get_log_events_pages_both_ways_through_interleaved_batches(dev_server):
    logs = dev_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s1")
    base = now_ms() - 60_000
    # Six batches whose events interleave in time.
    for b in range(6):
        logs.put_log_events(logGroupName=GROUP, logStreamName="s1", logEvents=[
            {"timestamp": base + b + 10 * i, "message": f"{b}-{i}"} for i in range(5)])
    everything = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True)["events"]
    assert len(everything) == 30
    assert [e["timestamp"] for e in everything] == sorted(e["timestamp"] for e in everything)
    forward, token = [], None
    while True:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True, limit=4,
                                   **({"nextToken": token} if token else {}))
        if not page["events"]:
            assert page["nextForwardToken"] == token
            break
        forward += page["events"]
        token = page["nextForwardToken"]
    assert [e["message"] for e in forward] == [e["message"] for e in everything]
    latest = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", limit=4)
    backward, token = latest["events"], latest["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", limit=4, nextToken=token)
        if not page["events"]:
            break
        backward = page["events"] + backward
        token = page["nextBackwardToken"]
    assert [e["message"] for e in backward] == [e["message"] for e in everything]
    window = logs.get_log_events(logGroupName=GROUP, logStreamName="s1", startFromHead=True,
                                 startTime=base + 10, endTime=base + 20)["events"]
    assert [e["timestamp"] for e in window] == [base + 10 + b for b in range(6)]
