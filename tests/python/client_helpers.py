"""Small boto3 and AWS CLI helpers shared by the test files: errors, paging, IAM users and the CLI runner."""

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError


def error_of(call, *args, **kwargs):
    """(code, message) of the ClientError that `call` must raise."""
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"].get("Message", "")


def pages(call, key, page_size, **kwargs):
    """Every item of a NextToken-paged listing, checking that no page is larger than asked."""
    items, token = [], None
    while True:
        page = call(MaxResults=page_size, **({"NextToken": token} if token else {}), **kwargs)
        assert len(page.get(key, [])) <= page_size
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def new_user(server, name, document):
    """A new IAM user with `document` as its one inline policy; answers its (access key id, secret key)."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def as_user(server, service, creds, token=None):
    """A client for `service` signed with `creds` (access key id, secret key) and an optional session token."""
    return server.client(service, aws_access_key_id=creds[0], aws_secret_access_key=creds[1], aws_session_token=token)


def aws(server, *args, check=True):
    """Runs the AWS CLI against the server; with check, a non-zero exit fails the test with the CLI's stderr."""
    result = subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=server.cli_env(), capture_output=True)
    if check and result.returncode != 0:
        pytest.fail(f"aws {' '.join(args)} failed: {result.stderr.decode()}")
    return result


def aws_json(server, *args):
    """The CLI's JSON output, or {} where it printed nothing."""
    out = aws(server, *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else {}


def audit_records(server):
    """The server's CloudTrail records, oldest first, as `keyhaven audit-export` prints them. Stops the server first:
    reads answer before their records are durable, and stopping flushes them."""
    from conftest import BINARY

    server.stop()

    out = subprocess.run([BINARY, "audit-export", "--data-dir", server.data_dir], capture_output=True, check=True,
                         env=server.env)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def files_containing(directory, needles):
    """Every file under `directory` holding any of `needles` (bytes)."""
    found = []
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            found += [(path, n) for n in needles if n in data]
    return found


def raw_json_call(server, service, target, body):
    """A SigV4-signed awsJson 1.1 request as a raw HTTP client sends it (no SDK filling anything in): (status, JSON)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=server.endpoint + "/", data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(request)
    prepared = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(prepared) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def totp(seed_base32, step):
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits), written here from the RFC: an independent check of the server's codes."""
    import base64
    import hashlib
    import hmac
    import struct

    if isinstance(seed_base32, bytes):
        seed_base32 = seed_base32.decode()
    key = base64.b32decode(seed_base32 + "=" * (-len(seed_base32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def poll(check, timeout=30.0, what="the condition"):
    """Calls `check` until it answers something truthy (returned), for at most `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s (last answer: {result!r})")
        time.sleep(0.05)
