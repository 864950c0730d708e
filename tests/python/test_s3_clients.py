"""S3 clients other than the AWS SDKs, as users run them against keyhaven: s3cmd and rclone (both from Debian),
with SSE-S3 and SSE-KMS where the client offers them."""

import hashlib
import os
import subprocess

import pytest

MIB = 1024 * 1024


def run(args, env=None, check=True):
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def s3cmd(server, tmp_path, *args, check=True):
    host = server.endpoint.split("://", 1)[1]
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        "access_key = test\nsecret_key = test\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n"
    )
    return run(["s3cmd", "-c", str(config), *args], check=check)


def rclone(server, *args, check=True):
    # rclone's SDK takes AWS_* settings from the environment (a machine's AWS_CA_BUNDLE among them): none of them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(RCLONE_CONFIG_KH_TYPE="s3", RCLONE_CONFIG_KH_PROVIDER="Other",
               RCLONE_CONFIG_KH_ENDPOINT=server.endpoint, RCLONE_CONFIG_KH_ACCESS_KEY_ID="test",
               RCLONE_CONFIG_KH_SECRET_ACCESS_KEY="test", RCLONE_CONFIG_KH_REGION="us-east-1",
               RCLONE_CONFIG_KH_FORCE_PATH_STYLE="true")
    return run(["rclone", "--config", "/dev/null", *args], env=env, check=check)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_s3cmd_makes_buckets_puts_lists_gets_and_removes(dev_server, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("hello from s3cmd")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * MIB))
    s3cmd(dev_server, tmp_path, "mb", "s3://s3cmd-bucket")
    s3cmd(dev_server, tmp_path, "put", str(small), "s3://s3cmd-bucket/dir/small.txt")
    s3cmd(dev_server, tmp_path, "put", str(big), "s3://s3cmd-bucket/big.bin")
    listed = s3cmd(dev_server, tmp_path, "ls", "-r", "s3://s3cmd-bucket").stdout
    assert "s3://s3cmd-bucket/dir/small.txt" in listed and "s3://s3cmd-bucket/big.bin" in listed
    s3cmd(dev_server, tmp_path, "get", "s3://s3cmd-bucket/big.bin", str(tmp_path / "big.copy"))
    assert digest(tmp_path / "big.copy") == digest(big), "a multipart upload reads back whole"
    s3cmd(dev_server, tmp_path, "get", "s3://s3cmd-bucket/dir/small.txt", str(tmp_path / "small.copy"))
    assert (tmp_path / "small.copy").read_text() == "hello from s3cmd"
    s3cmd(dev_server, tmp_path, "put", "--server-side-encryption", str(small), "s3://s3cmd-bucket/encrypted.txt")
    s3cmd(dev_server, tmp_path, "del", "--recursive", "--force", "s3://s3cmd-bucket")
    s3cmd(dev_server, tmp_path, "rb", "s3://s3cmd-bucket")
    assert "s3cmd-bucket" not in s3cmd(dev_server, tmp_path, "ls").stdout


def test_rclone_syncs_a_tree_and_checks_it(dev_server, tmp_path):
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    for i in range(20):
        (tree / "a" / f"file{i}.txt").write_text(f"file {i}\n" * (i + 1))
    (tree / "a" / "b" / "large.bin").write_bytes(os.urandom(7 * MIB))
    rclone(dev_server, "mkdir", "kh:rclone-bucket")
    rclone(dev_server, "sync", str(tree), "kh:rclone-bucket/tree")
    rclone(dev_server, "check", str(tree), "kh:rclone-bucket/tree")
    listed = rclone(dev_server, "lsf", "-R", "kh:rclone-bucket").stdout.split()
    assert "tree/a/b/large.bin" in listed and len([f for f in listed if f.endswith(".txt")]) == 20
    (tree / "a" / "file0.txt").unlink()
    rclone(dev_server, "sync", str(tree), "kh:rclone-bucket/tree")
    assert "tree/a/file0.txt" not in rclone(dev_server, "lsf", "-R", "kh:rclone-bucket").stdout.split()
    back = tmp_path / "back"
    rclone(dev_server, "copy", "kh:rclone-bucket/tree", str(back))
    assert digest(back / "a" / "b" / "large.bin") == digest(tree / "a" / "b" / "large.bin")
    rclone(dev_server, "copyto", str(tree / "a" / "file1.txt"), "kh:rclone-bucket/kms.txt",
           "--s3-server-side-encryption", "aws:kms")
    assert rclone(dev_server, "cat", "kh:rclone-bucket/kms.txt").stdout == "file 1\n" * 2
    rclone(dev_server, "purge", "kh:rclone-bucket")
    assert "rclone-bucket" not in rclone(dev_server, "lsd", "kh:").stdout
