"""S3 bucket configurations kept and answered as S3 keeps them, with boto3 and the AWS CLI: static website, replication,
server access logging, inventory, metrics, analytics and Intelligent-Tiering. Each refused put (S3's validation, a
missing permission) leaves the configuration that was there."""

import json

import pytest
from botocore.config import Config

from client_helpers import as_user, aws, error_of, new_user
from test_s3 import s3_client, status_of

MALFORMED = ("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")


@pytest.fixture
def s3(dev_server):
    return s3_client(dev_server)


@pytest.fixture
def unchecked(dev_server):
    """A client that sends what it is given, so the server's schema checks are what refuses it."""
    return s3_client(dev_server, config=Config(s3={"addressing_style": "path"}, parameter_validation=False))


def index(suffix="index.html", **more):
    return {"IndexDocument": {"Suffix": suffix}, **more}


# Each row: a website configuration, and S3's answer (recorded from AWS: TestS3StaticWebsiteHosting).
INVALID_WEBSITES = [
    (index("/index.html"), ("InvalidArgument", "The IndexDocument Suffix is not well formed")),
    (index(""), ("InvalidArgument", "The IndexDocument Suffix is not well formed")),
    (index(RedirectAllRequestsTo={"HostName": "example.com"}),
     ("InvalidArgument", "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")),
    ({"ErrorDocument": {"Key": "error.html"}},
     ("InvalidArgument", "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")),
    ({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "gopher"}},
     ("InvalidRequest", "Invalid protocol, protocol can be http or https. If not defined the protocol will be "
                        "selected automatically.")),
    (index(RoutingRules=[{"Redirect": {"ReplaceKeyPrefixWith": "a/", "ReplaceKeyWith": "b"}}]),
     ("InvalidRequest", "You can only define ReplaceKeyPrefix or ReplaceKey but not both.")),
    (index(RoutingRules=[{"Condition": {}, "Redirect": {"HostName": "example.com"}}]),
     ("InvalidRequest", "Condition cannot be empty. To redirect all requests without a condition, the condition "
                        "element shouldn't be present.")),
    (index(RoutingRules=[{"Condition": {"KeyPrefixEquals": "docs/"}}]), MALFORMED),
]


def test_website_configurations_are_kept_as_put_and_checked_as_s3_checks_them(s3, unchecked):
    s3.create_bucket(Bucket="site")
    assert error_of(s3.get_bucket_website, Bucket="site") == (
        "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")
    website = index(ErrorDocument={"Key": "error.html"}, RoutingRules=[
        {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
        {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
         "Redirect": {"HostName": "example.com", "Protocol": "https", "HttpRedirectCode": "301"}}])
    s3.put_bucket_website(Bucket="site", WebsiteConfiguration=website)
    kept = s3.get_bucket_website(Bucket="site")
    assert {k: kept[k] for k in website} == website

    for configuration, expected in INVALID_WEBSITES:
        assert error_of(unchecked.put_bucket_website, Bucket="site", WebsiteConfiguration=configuration) == expected, \
            configuration
        assert s3.get_bucket_website(Bucket="site")["RoutingRules"] == website["RoutingRules"], "nothing changed"

    s3.put_bucket_website(Bucket="site", WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.org"}})
    assert s3.get_bucket_website(Bucket="site")["RedirectAllRequestsTo"] == {"HostName": "example.org"}
    s3.delete_bucket_website(Bucket="site")
    s3.delete_bucket_website(Bucket="site")
    assert error_of(s3.get_bucket_website, Bucket="site")[0] == "NoSuchWebsiteConfiguration"
    assert error_of(s3.put_bucket_website, Bucket="absent", WebsiteConfiguration=index())[0] == "NoSuchBucket"


def replication(destination, rule_id="everything"):
    return {"Role": "arn:aws:iam::000000000000:role/replication", "Rules": [{
        "ID": rule_id, "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{destination}", "StorageClass": "STANDARD_IA"}}]}


def test_replication_needs_versioning_on_both_buckets_and_is_kept_as_put(dev_server, s3, unchecked):
    for name in ["source", "replica", "unversioned"]:
        s3.create_bucket(Bucket=name)
    code, message = error_of(s3.get_bucket_replication, Bucket="source")
    assert (code, message) == ("ReplicationConfigurationNotFoundError", "The replication configuration was not found")
    assert error_of(s3.put_bucket_replication, Bucket="source", ReplicationConfiguration=replication("replica")) == (
        "InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
    s3.put_bucket_versioning(Bucket="source", VersioningConfiguration={"Status": "Enabled"})
    for destination in ["unversioned", "nowhere"]:
        assert error_of(s3.put_bucket_replication, Bucket="source",
                        ReplicationConfiguration=replication(destination)) == (
            "InvalidRequest", "Destination bucket must have versioning enabled.")
    assert error_of(unchecked.put_bucket_replication, Bucket="source", ReplicationConfiguration={
        "Role": "arn:aws:iam::000000000000:role/replication", "Rules": []}) == MALFORMED
    assert error_of(s3.get_bucket_replication, Bucket="source")[0] == "ReplicationConfigurationNotFoundError"

    s3.put_bucket_versioning(Bucket="replica", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket="source", ReplicationConfiguration=replication("replica"))
    assert s3.get_bucket_replication(Bucket="source")["ReplicationConfiguration"] == replication("replica")
    # The AWS CLI reads the same configuration.
    cli = json.loads(aws(dev_server, "s3api", "get-bucket-replication", "--bucket", "source").stdout)
    assert cli["ReplicationConfiguration"]["Rules"][0]["ID"] == "everything"

    # A caller without s3:PutReplicationConfiguration changes nothing.
    reader = as_user(dev_server, "s3", new_user(dev_server, "replication-reader", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetReplicationConfiguration",
                                                "Resource": "arn:aws:s3:::source"}]})))
    assert status_of(reader.put_bucket_replication, Bucket="source",
                     ReplicationConfiguration=replication("replica", "other")) == (403, "AccessDenied")
    assert status_of(reader.delete_bucket_replication, Bucket="source") == (403, "AccessDenied")
    assert reader.get_bucket_replication(Bucket="source")["ReplicationConfiguration"] == replication("replica")

    s3.delete_bucket_replication(Bucket="source")
    s3.delete_bucket_replication(Bucket="source")
    assert error_of(s3.get_bucket_replication, Bucket="source")[0] == "ReplicationConfigurationNotFoundError"


def test_server_access_logging_targets_a_bucket_of_the_same_owner_and_region(dev_server, s3):
    s3.create_bucket(Bucket="served")
    s3.create_bucket(Bucket="logs")
    s3_client(dev_server, region="eu-west-1").create_bucket(
        Bucket="far-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="served")

    def enable(target):
        return s3.put_bucket_logging(Bucket="served", BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "served/"}})

    assert error_of(enable, "nowhere") == ("InvalidTargetBucketForLogging", "The target bucket for logging does not exist")
    assert error_of(enable, "far-logs") == ("CrossLocationLoggingProhibitted", "Cross S3 location logging not allowed. ")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="served"), "nothing changed"
    enable("logs")
    assert s3.get_bucket_logging(Bucket="served")["LoggingEnabled"] == {"TargetBucket": "logs", "TargetPrefix": "served/"}
    s3.put_bucket_logging(Bucket="served", BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="served")


def inventory(config_id, bucket="arn:aws:s3:::reports", **changes):
    configuration = {
        "Id": config_id, "IsEnabled": True, "IncludedObjectVersions": "Current",
        "Destination": {"S3BucketDestination": {"Bucket": bucket, "Format": "CSV", "Prefix": "inventory"}},
        "Schedule": {"Frequency": "Daily"}, "OptionalFields": ["Size", "ETag"]}
    configuration.update(changes)
    return configuration


def test_inventory_configurations_are_checked_kept_listed_and_deleted_by_id(s3, unchecked):
    s3.create_bucket(Bucket="stock")
    s3.create_bucket(Bucket="reports")
    assert error_of(s3.get_bucket_inventory_configuration, Bucket="stock", Id="daily") == (
        "NoSuchConfiguration", "The specified configuration does not exist.")
    s3.put_bucket_inventory_configuration(Bucket="stock", Id="daily", InventoryConfiguration=inventory("daily"))
    assert s3.get_bucket_inventory_configuration(Bucket="stock", Id="daily")["InventoryConfiguration"] == inventory("daily")

    refused = [
        (inventory("other"), ("IdMismatch", "Document ID does not match the specified configuration ID.")),
        (inventory("daily", bucket="reports"), ("InvalidS3DestinationBucket", "Invalid bucket ARN.")),
        (inventory("daily", Schedule={"Frequency": "Hourly"}), MALFORMED),
        (inventory("daily", IncludedObjectVersions="Some"), MALFORMED),
        (inventory("daily", OptionalFields=["Colour"]), MALFORMED),
        (inventory("daily", Destination={"S3BucketDestination": {"Bucket": "arn:aws:s3:::reports", "Format": "XML"}}),
         MALFORMED),
    ]
    for configuration, expected in refused:
        assert error_of(unchecked.put_bucket_inventory_configuration, Bucket="stock", Id="daily",
                        InventoryConfiguration=configuration) == expected, configuration
    assert s3.get_bucket_inventory_configuration(Bucket="stock", Id="daily")["InventoryConfiguration"] == \
        inventory("daily"), "nothing changed"

    s3.put_bucket_inventory_configuration(Bucket="stock", Id="weekly", InventoryConfiguration=inventory(
        "weekly", Schedule={"Frequency": "Weekly"}))
    listed = s3.list_bucket_inventory_configurations(Bucket="stock")
    assert [c["Id"] for c in listed["InventoryConfigurationList"]] == ["daily", "weekly"]
    assert listed["IsTruncated"] is False
    s3.delete_bucket_inventory_configuration(Bucket="stock", Id="daily")
    assert error_of(s3.delete_bucket_inventory_configuration, Bucket="stock", Id="daily")[0] == "NoSuchConfiguration"
    assert [c["Id"] for c in s3.list_bucket_inventory_configurations(Bucket="stock")["InventoryConfigurationList"]] == [
        "weekly"]


def test_metrics_configurations_page_by_a_hundred(s3):
    s3.create_bucket(Bucket="measured")
    ids = [f"m{i:03}" for i in range(101)]
    for config_id in ids:
        s3.put_bucket_metrics_configuration(Bucket="measured", Id=config_id, MetricsConfiguration={
            "Id": config_id, "Filter": {"Prefix": config_id}})
    first = s3.list_bucket_metrics_configurations(Bucket="measured")
    assert first["IsTruncated"] is True and len(first["MetricsConfigurationList"]) == 100
    rest = s3.list_bucket_metrics_configurations(Bucket="measured", ContinuationToken=first["NextContinuationToken"])
    assert rest["IsTruncated"] is False and rest["ContinuationToken"] == first["NextContinuationToken"]
    assert [c["Id"] for c in first["MetricsConfigurationList"] + rest["MetricsConfigurationList"]] == ids
    assert s3.get_bucket_metrics_configuration(Bucket="measured", Id="m042")["MetricsConfiguration"] == {
        "Id": "m042", "Filter": {"Prefix": "m042"}}
    s3.delete_bucket_metrics_configuration(Bucket="measured", Id="m042")
    assert error_of(s3.get_bucket_metrics_configuration, Bucket="measured", Id="m042")[0] == "NoSuchConfiguration"


def test_analytics_and_intelligent_tiering_configurations(dev_server, s3, unchecked):
    s3.create_bucket(Bucket="tiered")
    analytics = {"Id": "usage", "Filter": {"Prefix": "logs/"}, "StorageClassAnalysis": {"DataExport": {
        "OutputSchemaVersion": "V_1", "Destination": {"S3BucketDestination": {
            "Format": "CSV", "Bucket": "arn:aws:s3:::tiered", "Prefix": "analysis"}}}}}
    s3.put_bucket_analytics_configuration(Bucket="tiered", Id="usage", AnalyticsConfiguration=analytics)
    assert s3.get_bucket_analytics_configuration(Bucket="tiered", Id="usage")["AnalyticsConfiguration"] == analytics
    # StorageClassAnalysis is required.
    assert error_of(unchecked.put_bucket_analytics_configuration, Bucket="tiered", Id="bare",
                    AnalyticsConfiguration={"Id": "bare"}) == MALFORMED
    assert error_of(s3.get_bucket_analytics_configuration, Bucket="tiered", Id="bare")[0] == "NoSuchConfiguration"

    tiering = {"Id": "archive", "Status": "Enabled", "Tierings": [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}]}
    s3.put_bucket_intelligent_tiering_configuration(Bucket="tiered", Id="archive",
                                                    IntelligentTieringConfiguration=tiering)
    assert s3.get_bucket_intelligent_tiering_configuration(
        Bucket="tiered", Id="archive")["IntelligentTieringConfiguration"] == tiering
    assert error_of(unchecked.put_bucket_intelligent_tiering_configuration, Bucket="tiered", Id="archive",
                    IntelligentTieringConfiguration={**tiering, "Status": "Sometimes"}) == MALFORMED
    listed = s3.list_bucket_intelligent_tiering_configurations(Bucket="tiered")
    assert listed["IntelligentTieringConfigurationList"] == [tiering]
    assert error_of(s3.delete_bucket_intelligent_tiering_configuration, Bucket="tiered", Id="absent")[0] == \
        "NoSuchConfiguration"

    # Reading needs the Get action; deleting is authorised as putting is.
    reader = as_user(dev_server, "s3", new_user(dev_server, "analytics-reader", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetAnalyticsConfiguration",
                                                "Resource": "arn:aws:s3:::tiered"}]})))
    assert reader.list_bucket_analytics_configurations(Bucket="tiered")["AnalyticsConfigurationList"] == [analytics]
    assert status_of(reader.delete_bucket_analytics_configuration, Bucket="tiered", Id="usage") == (403, "AccessDenied")
    assert status_of(reader.get_bucket_intelligent_tiering_configuration, Bucket="tiered", Id="archive") == (
        403, "AccessDenied")
    assert s3.get_bucket_analytics_configuration(Bucket="tiered", Id="usage")["AnalyticsConfiguration"] == analytics
