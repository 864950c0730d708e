"""The audit log when the disk fills (a small tmpfs): requests get 503 and change nothing, every
acknowledged write keeps its record, and once space is back the server serves again by itself, with
its chain intact."""

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from client_helpers import audit_records
from conftest import BINARY, Keyhaven

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def small_disk():
    mount = tempfile.mkdtemp(prefix="keyhaven-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount], check=True)
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)
    os.rmdir(mount)


def fill(directory):
    """Writes a file until the disk is full, to the last byte; answers its path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    size = 1 << 20
    while size >= 1:
        try:
            os.write(fd, b"\0" * size)
        except OSError:
            size //= 2
    os.close(fd)
    return path


def healthy(server):
    try:
        with urllib.request.urlopen(f"{server.endpoint}/_keyhaven/health") as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def wait_until(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_full_disk_refuses_requests_loses_nothing_and_recovers_without_restart(small_disk):
    # The store on the small disk: SQLite's, whatever store the suite runs on.
    server = Keyhaven("--dev", "--audit-reserve-bytes", str(1 << 20), env={"KEYHAVEN_STORE": "sqlite"})
    server.data_dir = os.path.join(small_disk, "data")
    server.start()
    try:
        kms = server.client("kms", config=NO_RETRIES)
        first = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=first, Plaintext=b"x")

        filler = fill(small_disk)
        acknowledged, refused = [], 0
        for i in range(500):
            try:
                acknowledged.append(kms.create_key(Description=f"during-{i}")["KeyMetadata"]["KeyId"])
            except ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
                refused += 1
                if refused >= 3:
                    break
        assert refused >= 3, "a full disk refuses writes"
        assert not healthy(server)

        os.remove(filler)
        wait_until(lambda: healthy(server), "the server to recover")
        keys = {k["KeyId"] for k in kms.list_keys()["Keys"]}
        assert keys == {first, *acknowledged}, "every acknowledged key is there, and no refused one"
        after = kms.create_key(Description="after")["KeyMetadata"]["KeyId"]
        server.stop()

        verified = subprocess.run([BINARY, "audit-verify", "--data-dir", server.data_dir], capture_output=True, text=True,
                                  env=server.env)
        assert verified.returncode == 0, verified.stderr
        assert "audit log intact" in verified.stdout
        text = json.dumps(audit_records(server))
        for key_id in [first, *acknowledged, after]:
            assert key_id in text, f"the CreateKey of {key_id} was acknowledged, so it is audited"
    finally:
        server.cleanup()
