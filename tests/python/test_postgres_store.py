"""Several keyhaven nodes serving one PostgreSQL database, each driven by boto3: what one node writes the others read
(S3 objects too, with a shared objects directory or in the database);
a revoked key, a changed policy or a disabled KMS key is refused on every node within the stated bound (500 ms,
measured here); a scheduled rotation runs once whichever nodes' clocks pass it; the audit records of all nodes form one
chain that verifies; a node with another root key refuses to start."""

import base64
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from client_helpers import as_user, error_of
from conftest import BINARY
from pg_cluster import PgCluster

# The bound ARCHITECTURE.md states for a change on one node to reach the others' caches.
INVALIDATION_BOUND_SECONDS = 1.0


@pytest.fixture(scope="module")
def postgres():
    # pg_stat_statements: to count the statements a node sends.
    with PgCluster(settings={"shared_preload_libraries": "'pg_stat_statements'"}) as cluster:
        yield cluster


@pytest.fixture
def shared(postgres):
    """A new database and root key for the nodes of one test."""
    return postgres.new_database(), base64.b64encode(os.urandom(32)).decode()


def node(keyhaven_factory, shared, *args):
    url, root = shared
    return keyhaven_factory("--dev", "--store", url, *args, env={"KEYHAVEN_ROOT_KEY": root})


def allow(*actions):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def refused(call):
    try:
        call()
        return False
    except ClientError:
        return True


def seconds_until(check, bound=INVALIDATION_BOUND_SECONDS):
    """Calls `check` (a real request each time) until it answers True; answers how long that took."""
    start = time.monotonic()
    while time.monotonic() - start < bound * 5:
        if check():
            return time.monotonic() - start
    raise AssertionError(f"no change {bound * 5} s after it was made on another node")


def test_what_one_node_writes_the_others_read(keyhaven_factory, shared):
    a, b, c = (node(keyhaven_factory, shared) for _ in range(3))
    key = a.client("kms").create_key(Description="shared")["KeyMetadata"]["KeyId"]
    blob = a.client("kms").encrypt(KeyId=key, Plaintext=b"across nodes")["CiphertextBlob"]
    assert b.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"across nodes"
    assert c.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Description"] == "shared"

    b.client("ssm").put_parameter(Name="/shared/secret", Value="s3cr3t", Type="SecureString")
    assert a.client("ssm").get_parameter(Name="/shared/secret", WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"
    c.client("secretsmanager").create_secret(Name="shared", SecretString="value")
    assert a.client("secretsmanager").get_secret_value(SecretId="shared")["SecretString"] == "value"

    # An IAM user made on one node signs requests to another.
    iam = a.client("iam")
    iam.create_user(UserName="roamer")
    iam.put_user_policy(UserName="roamer", PolicyName="p", PolicyDocument=allow("kms:Encrypt"))
    creds = iam.create_access_key(UserName="roamer")["AccessKey"]
    roamer = as_user(b, "kms", (creds["AccessKeyId"], creds["SecretAccessKey"]))
    assert roamer.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
    assert error_of(roamer.decrypt, CiphertextBlob=blob)[0] == "AccessDeniedException"

    # A node restarted finds everything where it was.
    a.stop()
    a.start()
    assert a.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"across nodes"


def s3(server):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))


def objects_on_both_nodes(s3a, s3b):
    """Objects written through either node read through the other, a multipart upload spread over both included."""
    s3a.create_bucket(Bucket="shared")
    s3a.put_object(Bucket="shared", Key="sse-s3", Body=b"written on a")
    s3b.put_object(Bucket="shared", Key="sse-kms", Body=b"written on b", ServerSideEncryption="aws:kms")
    assert s3b.get_object(Bucket="shared", Key="sse-s3")["Body"].read() == b"written on a"
    assert s3a.get_object(Bucket="shared", Key="sse-kms")["Body"].read() == b"written on b"
    # A multipart upload begun on one node, its parts sent to both, completed on the other.
    upload = s3a.create_multipart_upload(Bucket="shared", Key="big")["UploadId"]
    parts = [(client.upload_part(Bucket="shared", Key="big", UploadId=upload, PartNumber=n, Body=body)["ETag"], n)
             for client, n, body in ((s3a, 1, b"a" * (5 * 1024 * 1024)), (s3b, 2, b"tail"))]
    s3b.complete_multipart_upload(Bucket="shared", Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"ETag": etag, "PartNumber": n} for etag, n in parts]})
    assert s3a.get_object(Bucket="shared", Key="big", Range="bytes=5242878-")["Body"].read() == b"aatail"


def test_s3_objects_in_a_shared_directory_are_served_by_every_node(keyhaven_factory, shared, tmp_path):
    objects = str(tmp_path / "objects")
    a, b = (node(keyhaven_factory, shared, "--objects-dir", objects) for _ in range(2))
    s3a, s3b = s3(a), s3(b)
    objects_on_both_nodes(s3a, s3b)
    # A node starting again removes bodies no record names, but only those older than any request in flight on
    # another node could be (an hour): a young one may be another node's, its record not yet committed.
    young, old = (os.path.join(objects, "b" + c * 32) for c in "YO")
    for orphan in (young, old):
        with open(orphan, "wb") as f:
            f.write(b"sealed bytes no record names")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    b.stop()
    s3b = s3(b.start())
    assert os.path.exists(young) and not os.path.exists(old)
    for key, body in (("sse-s3", b"written on a"), ("sse-kms", b"written on b")):
        assert s3b.get_object(Bucket="shared", Key=key)["Body"].read() == body
    s3a.delete_object(Bucket="shared", Key="sse-s3")
    assert error_of(s3b.get_object, Bucket="shared", Key="sse-s3")[0] == "NoSuchKey"


def test_s3_objects_in_the_database_need_no_shared_filesystem(keyhaven_factory, shared, postgres):
    a, b = (node(keyhaven_factory, shared, "--objects-in-database") for _ in range(2))
    s3a, s3b = s3(a), s3(b)
    objects_on_both_nodes(s3a, s3b)
    # A body of several stored chunks, read whole and across a chunk's edge through the other node.
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3a.put_object(Bucket="shared", Key="chunks", Body=body, ServerSideEncryption="aws:kms")
    assert s3b.get_object(Bucket="shared", Key="chunks")["Body"].read() == body
    edge = s3b.get_object(Bucket="shared", Key="chunks", Range="bytes=1048560-1048600")["Body"].read()
    assert edge == body[1048560:1048601]

    database = shared[0].rsplit("/", 1)[1]
    def sql(query):
        return postgres.admin_sql(query, database)
    stored = int(sql("SELECT count(*) FROM blobs"))
    assert stored >= 4, "the bodies are in the database"
    for server in (a, b):
        on_disk = [name for _, _, names in os.walk(os.path.join(server.data_dir, "objects")) for name in names]
        assert on_disk == [], f"nothing under {server.data_dir}: {on_disk}"
    # What the database holds is ciphertext: no run of the body's bytes is in it.
    probe = body[2_000_000:2_000_032].hex()
    assert sql(f"SELECT count(*) FROM blob_chunks WHERE position('\\x{probe}'::bytea in data) > 0") == "0"

    s3a.delete_object(Bucket="shared", Key="chunks")
    assert error_of(s3b.get_object, Bucket="shared", Key="chunks")[0] == "NoSuchKey"
    assert int(sql("SELECT count(*) FROM blobs")) == stored - 1
    # A node starting again keeps every body a record names.
    b.stop()
    s3b = s3(b.start())
    assert s3b.get_object(Bucket="shared", Key="big", Range="bytes=5242878-")["Body"].read() == b"aatail"


def test_change_events_reach_a_webhook_once_whichever_node_made_them(keyhaven_factory, shared, webhook_receiver,
                                                                     tmp_path):
    config = webhook_receiver.write_config(tmp_path / "keyhaven.toml")
    a, b = (node(keyhaven_factory, shared, "--config", str(config)) for _ in range(2))
    names = [f"/hooked/{n}" for n in range(120)]
    for n, name in enumerate(names):
        (a if n % 2 else b).client("ssm").put_parameter(Name=name, Value="v", Type="String")
    for name in names:
        webhook_receiver.wait_for(lambda e, name=name: e["detail"].get("name") == name)
    # Both nodes see the one outbox; one at a time delivers it, so no event was sent twice.
    assert len(webhook_receiver.attempts) == len(set(webhook_receiver.attempts)), webhook_receiver.attempts


def test_revocations_on_one_node_are_refused_on_the_others_within_the_bound(keyhaven_factory, shared):
    a, b = node(keyhaven_factory, shared), node(keyhaven_factory, shared)
    key = a.client("kms").create_key()["KeyMetadata"]["KeyId"]
    iam = a.client("iam")
    iam.create_user(UserName="worker")
    iam.put_user_policy(UserName="worker", PolicyName="p", PolicyDocument=allow("kms:Encrypt", "kms:DescribeKey"))
    creds = iam.create_access_key(UserName="worker")["AccessKey"]
    worker = as_user(b, "kms", (creds["AccessKeyId"], creds["SecretAccessKey"]))

    def encrypt():
        return worker.encrypt(KeyId=key, Plaintext=b"x")

    # Each change is made on A after B has cached what it changes; B refuses within the bound.
    encrypt()
    iam.put_user_policy(UserName="worker", PolicyName="p", PolicyDocument=allow("kms:DescribeKey"))
    policy_seconds = seconds_until(lambda: refused(encrypt))
    assert error_of(encrypt)[0] == "AccessDeniedException"

    iam.put_user_policy(UserName="worker", PolicyName="p", PolicyDocument=allow("kms:Encrypt"))
    seconds_until(lambda: not refused(encrypt))
    encrypt()
    a.client("kms").disable_key(KeyId=key)
    key_seconds = seconds_until(lambda: refused(encrypt))
    assert error_of(encrypt)[0] == "DisabledException"

    a.client("kms").enable_key(KeyId=key)
    seconds_until(lambda: not refused(encrypt))
    iam.update_access_key(UserName="worker", AccessKeyId=creds["AccessKeyId"], Status="Inactive")
    access_key_seconds = seconds_until(lambda: refused(encrypt))
    assert error_of(encrypt)[0] in ("UnrecognizedClientException", "InvalidClientTokenId")

    for seconds in (policy_seconds, key_seconds, access_key_seconds):
        assert seconds < INVALIDATION_BOUND_SECONDS, (policy_seconds, key_seconds, access_key_seconds)
    print(f"refused on the other node after: policy {policy_seconds * 1000:.0f} ms, "
          f"key {key_seconds * 1000:.0f} ms, access key {access_key_seconds * 1000:.0f} ms")


def test_cached_reads_send_the_database_no_record_reads(keyhaven_factory, shared, postgres):
    a = node(keyhaven_factory, shared)
    kms, ssm = a.client("kms"), a.client("ssm")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"warm the caches")
    postgres.admin_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def calls(pattern):
        return int(postgres.admin_sql(
            f"SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements WHERE query LIKE '{pattern}'"))

    before = (calls("SELECT body FROM records%"), calls("%"))
    requests = 200
    for _ in range(requests):
        kms.encrypt(KeyId=key, Plaintext=b"cached")
    after = (calls("SELECT body FROM records%"), calls("%"))
    # The caller's key, policies and the KMS key all come from this node's caches; what the database still sees is
    # the audit log's batches (several requests each) and the caches' generation checks (one per 500 ms).
    assert after[0] == before[0], "a cached Encrypt reads no record"
    statements = (after[1] - before[1]) / requests
    print(f"statements per cached Encrypt: {statements:.2f}")
    assert statements < 5
    # A Parameter Store read, which caches nothing, does read its records.
    ssm.put_parameter(Name="/p", Value="v", Type="String")
    ssm.get_parameter(Name="/p")
    assert calls("SELECT body FROM records%") > after[0]


def test_a_killed_node_loses_no_acknowledged_write_and_nodes_ride_out_a_database_restart(keyhaven_factory, shared,
                                                                                          postgres):
    a, b = node(keyhaven_factory, shared), node(keyhaven_factory, shared)
    acknowledged, stop, progress = [], threading.Event(), threading.Condition()

    def write(server, prefix):
        ssm = server.client("ssm")
        n = 0
        while not stop.is_set():
            try:
                ssm.put_parameter(Name=f"/load/{prefix}/{n}", Value=str(n), Type="SecureString")
                with progress:
                    acknowledged.append(f"/load/{prefix}/{n}")
                    progress.notify_all()
            except Exception:  # noqa: BLE001 - the killed node's writes fail; only acknowledged ones count
                if server.process is None or server.process.poll() is not None:
                    return
            n += 1

    writers = [threading.Thread(target=write, args=(server, name)) for server, name in ((a, "a"), (b, "b"))]
    for writer in writers:
        writer.start()
    def acknowledged_at_least(count):
        with progress:
            assert progress.wait_for(lambda: len(acknowledged) >= count, timeout=60), len(acknowledged)

    acknowledged_at_least(60)
    a.process.send_signal(signal.SIGKILL)
    a.process.wait()
    acknowledged_at_least(len(acknowledged) + 30)
    stop.set()
    for writer in writers:
        writer.join()
    a.process = None

    # Every acknowledged write is there, read through the node that lived.
    ssm = b.client("ssm")
    names = set(acknowledged)
    assert any(n.startswith("/load/a/") for n in names) and any(n.startswith("/load/b/") for n in names)
    for chunk in range(0, len(acknowledged), 10):
        asked = acknowledged[chunk:chunk + 10]
        found = ssm.get_parameters(Names=asked, WithDecryption=True)
        assert sorted(p["Name"] for p in found["Parameters"]) == sorted(asked), found["InvalidParameters"]

    # The database restarts under the nodes: they reconnect by themselves.
    a.start()
    postgres.restart()
    for server in (a, b):
        client = server.client("kms")
        seconds = seconds_until(lambda: not refused(client.list_keys), bound=10)
        print(f"serving again {seconds * 1000:.0f} ms after the database came back")
    key = a.client("kms").create_key()["KeyMetadata"]["KeyId"]
    assert b.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Enabled"]


def test_a_scheduled_rotation_runs_once_whichever_node_reaches_it(keyhaven_factory, shared):
    a, b = node(keyhaven_factory, shared), node(keyhaven_factory, shared)
    kms = a.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    # Each node's domain clock passes the rotation; the first to get there rotates, the other finds it done.
    b.advance_clock(91 * 86400)
    a.advance_clock(91 * 86400)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]


def test_the_audit_records_of_every_node_form_one_chain(keyhaven_factory, shared):
    url, root = shared
    a, b = node(keyhaven_factory, shared), node(keyhaven_factory, shared)
    a.client("kms").create_key(Description="on a")
    b.client("kms").create_key(Description="on b")
    a.client("ssm").put_parameter(Name="/a", Value="1", Type="String")
    b.client("ssm").put_parameter(Name="/b", Value="2", Type="String")
    a.stop()
    b.stop()
    env = dict(os.environ, KEYHAVEN_ROOT_KEY=root)
    verified = subprocess.run([BINARY, "audit-verify", "--store", url, "--data-dir", a.data_dir],
                              capture_output=True, text=True, env=env)
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact" in verified.stdout
    exported = subprocess.run([BINARY, "audit-export", "--store", url, "--data-dir", a.data_dir],
                              capture_output=True, text=True, env=env, check=True)
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    descriptions = {r["requestParameters"].get("description") for r in records if r["eventName"] == "CreateKey"}
    assert descriptions >= {"on a", "on b"}
    assert {r["requestParameters"].get("name") for r in records if r["eventName"] == "PutParameter"} >= {"/a", "/b"}


def test_a_single_node_installation_moves_to_postgres_and_is_served_from_there(keyhaven_factory, postgres):
    single = keyhaven_factory("--dev", env={"KEYHAVEN_STORE": "sqlite"})
    kms = single.client("kms")
    key = kms.create_key(Description="moved")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"from before")["CiphertextBlob"]
    single.client("ssm").put_parameter(Name="/moved", Value="secure", Type="SecureString")
    single.client("secretsmanager").create_secret(Name="moved", SecretString="value")
    s3 = boto3.client("s3", endpoint_url=single.endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="moved")
    s3.put_object(Bucket="moved", Key="k", Body=b"object body")
    single.stop()

    url = postgres.new_database()
    moved = subprocess.run([BINARY, "migrate", "--from", single.data_dir, "--to", url], capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert "compared: identical" in moved.stdout
    again = subprocess.run([BINARY, "migrate", "--from", single.data_dir, "--to", url], capture_output=True, text=True)
    assert again.returncode != 0 and "not empty" in again.stderr

    # The same data directory (its root key and object bodies), the store now PostgreSQL.
    single.args += ["--store", url]
    single.start()
    assert single.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"from before"
    assert single.client("ssm").get_parameter(Name="/moved", WithDecryption=True)["Parameter"]["Value"] == "secure"
    assert single.client("secretsmanager").get_secret_value(SecretId="moved")["SecretString"] == "value"
    s3 = boto3.client("s3", endpoint_url=single.endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))
    assert s3.get_object(Bucket="moved", Key="k")["Body"].read() == b"object body"
    single.stop()
    verified = subprocess.run([BINARY, "audit-verify", "--store", url, "--data-dir", single.data_dir],
                              capture_output=True, text=True)
    assert verified.returncode == 0 and "audit log intact" in verified.stdout, verified.stderr


def certificates(directory):
    """A CA, a server certificate it signed for 127.0.0.1 (key readable by the PostgreSQL server's user), and an
    unrelated CA, made with the openssl CLI."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "san.ext"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.pem", "-days", "2", "-extfile", "san.ext")
    os.chmod(directory, 0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for name in ("server.key", "server.pem"):
            os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    return {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "other-ca", "server")}


def test_nodes_reach_postgres_over_verified_tls(keyhaven_factory, tmp_path):
    # Somewhere the PostgreSQL server's user can reach (pytest's own directories are private to this user).
    directory = tempfile.mkdtemp(prefix="keyhaven-pg-tls-")
    pems = certificates(directory)
    key_file = os.path.join(directory, "server.key")
    with PgCluster(settings={"ssl": "on", "ssl_cert_file": f"'{pems['server']}'",
                             "ssl_key_file": f"'{key_file}'"}) as pg:
        url = pg.new_database() + "?sslmode=require"
        database = url.rsplit("/", 1)[1].split("?")[0]
        root = base64.b64encode(os.urandom(32)).decode()
        a = keyhaven_factory("--dev", "--store", url, "--store-ca-file", pems["ca"], env={"KEYHAVEN_ROOT_KEY": root})
        key = a.client("kms").create_key()["KeyMetadata"]["KeyId"]
        encrypted, connections = pg.admin_sql(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            f"WHERE a.datname = '{database}'").split("|")
        assert int(connections) > 0 and encrypted == connections, "every connection of the node is encrypted"

        def refused_start(*args):
            return subprocess.run(
                [BINARY, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "refused"),
                 "--store", url, *args],
                capture_output=True, text=True, timeout=60, env=dict(os.environ, KEYHAVEN_ROOT_KEY=root))

        # A server whose certificate chains to another authority is not spoken to; nor is TLS skipped when required.
        other = refused_start("--store-ca-file", pems["other-ca"])
        assert other.returncode != 0 and "TLS handshake" in other.stderr, other.stderr
        plain = refused_start()
        assert plain.returncode != 0 and "no CA certificates were given" in plain.stderr, plain.stderr
        assert a.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Enabled"]
        a.stop()
    shutil.rmtree(directory, ignore_errors=True)


def test_a_node_with_another_root_key_refuses_to_start(keyhaven_factory, shared, tmp_path):
    url, _ = shared
    node(keyhaven_factory, shared).client("kms").create_key()
    other = base64.b64encode(os.urandom(32)).decode()
    started = subprocess.run(
        [BINARY, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "node"), "--store", url],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, KEYHAVEN_ROOT_KEY=other))
    assert started.returncode != 0
    assert "wrong root key" in started.stderr


def start_refused(url, data_dir, root):
    """Starts a node on `url` that is expected to refuse; answers what it wrote to stderr."""
    started = subprocess.run(
        [BINARY, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--store", url],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, KEYHAVEN_ROOT_KEY=root))
    assert started.returncode != 0, "the node started"
    return started.stderr


def test_a_node_refuses_to_start_on_an_unreachable_database_or_a_newer_schema(keyhaven_factory, shared, postgres,
                                                                             tmp_path):
    url, root = shared
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = f"postgres://keyhaven@127.0.0.1:{closed_port}/keyhaven"
    stderr = start_refused(unreachable, tmp_path / "unreachable", root)
    assert "PostgreSQL" in stderr and "Connection refused" in stderr, stderr

    served = node(keyhaven_factory, shared)
    served.client("ssm").put_parameter(Name="/before", Value="v", Type="String")
    served.stop()
    database = url.rsplit("/", 1)[1]
    current = int(postgres.admin_sql("SELECT version FROM keyhaven_schema", database))
    postgres.admin_sql(f"UPDATE keyhaven_schema SET version = {current + 1}", database)
    stderr = start_refused(url, tmp_path / "older-build", root)
    assert f"schema {current + 1}, supported {current}" in stderr, stderr
    # Nothing was changed by the refusal: with the schema as this build left it, the data is served again.
    postgres.admin_sql(f"UPDATE keyhaven_schema SET version = {current}", database)
    assert served.start().client("ssm").get_parameter(Name="/before")["Parameter"]["Value"] == "v"


def test_concurrent_writers_and_a_console_page_on_a_small_pool(keyhaven_factory, shared):
    """More concurrent KMS writers than pooled connections, and a console page of many calls in one request: every
    request finishes. (A writer that asked for a second connection inside its transaction, or a store wait spun by
    an exhausted cooperative budget, hung the node.)"""
    import concurrent.futures

    from console_client import Console

    server = node(keyhaven_factory, shared, "--store-connections", "2", "--console")
    kms = server.client("kms")

    def writer(n):
        key = kms.create_key(Description=f"writer {n}")["KeyMetadata"]["KeyId"]
        for i in range(3):
            kms.create_alias(AliasName=f"alias/w{n}-{i}", TargetKeyId=key)
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
        kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::000000000000:root", Operations=["Decrypt"])
        return key

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = [f.result(timeout=120) for f in [pool.submit(writer, n) for n in range(16)]]
    assert len(set(keys)) == 16
    console = Console(server)
    assert console.sign_in().status == 303
    page = console.get("/us-east-1/kms")
    assert page.status == 200 and all(key in page.body for key in keys)
