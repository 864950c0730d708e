"""Rotation functions for the Secrets Manager tests, outside the server: a webhook and a command.

Both run the four steps the way AWS's Lambda rotation template does (createSecret, setSecret, testSecret,
finishSecret), calling Secrets Manager back with their own credentials. Every step first checks what the
template checks: rotation is enabled and the token is a version labelled AWSPENDING.

As a command (`python sm_rotators.py --log FILE [--fail-at STEP]`) it reads one step event on stdin, takes
its credentials, endpoint and Region from the environment the server gives it, appends what it saw to FILE
as one JSON line, and exits 0 on success or 1 on failure.
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

import boto3
from botocore.exceptions import ClientError

from hook_handler import HookHandler

STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
# Characters AWS's database rotation templates keep out of generated passwords.
EXCLUDED = "/@\"'\\"


class StepFailed(Exception):
    pass


def error_code(call, **kwargs):
    """The error code `call` fails with, or None when it succeeds."""
    try:
        call(**kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


def run_step(sm, event, fail_at=None):
    """Runs one step of the rotation template against `sm`; answers what it observed (for the tests)."""
    step, arn, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    seen = {"step": step, "secret": arn, "token": token}
    meta = sm.describe_secret(SecretId=arn)
    if not meta.get("RotationEnabled"):
        raise StepFailed(f"secret {arn} is not enabled for rotation")
    versions = meta.get("VersionIdsToStages", {})
    if token not in versions:
        raise StepFailed(f"secret version {token} has no stage for rotation of secret {arn}")
    if "AWSCURRENT" in versions[token]:
        seen["already_current"] = True
        return seen
    if "AWSPENDING" not in versions[token]:
        raise StepFailed(f"secret version {token} not set as AWSPENDING for rotation of secret {arn}")
    if step == fail_at:
        raise StepFailed(f"told to fail at {step}")

    if step == "createSecret":
        current = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        seen["pending_before_create"] = error_code(sm.get_secret_value, SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        if seen["pending_before_create"] == "ResourceNotFoundException":
            password = sm.get_random_password(ExcludeCharacters=EXCLUDED)["RandomPassword"]
            try:
                value = json.loads(current["SecretString"])
            except ValueError:
                value = None
            if isinstance(value, dict):
                value["password"] = password
                new = json.dumps(value)
            else:
                new = password
            extra = {"RotationToken": event["RotationToken"]} if event.get("RotationToken") else {}
            sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=new, VersionStages=["AWSPENDING"], **extra)
    elif step == "setSecret":
        pass  # Nothing outside Secrets Manager holds these credentials.
    elif step == "testSecret":
        pending = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        if not pending.get("SecretString"):
            raise StepFailed("the pending version has no value")
    elif step == "finishSecret":
        current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    else:
        raise StepFailed(f"unknown step {step!r}")
    return seen


def signature(secret, timestamp, body):
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class RotationWebhook:
    """A loopback rotation function served over HTTP (the `url` kind of `[[rotation-functions]]`).

    `POST /rotate` runs the step; `POST /rotate-fail` answers 500 at testSecret (after running the steps
    before it). Every request must be signed: `x-keyhaven-signature: sha256=hex(HMAC-SHA256(secret,
    x-keyhaven-timestamp + "." + body))`; an unsigned or badly signed one is answered 401 and kept in
    `rejected`. Each accepted step is kept in `steps` (with what the step observed and its HTTP status).
    The callbacks use root credentials of the dev account at `server.endpoint`, read at each request, so a
    restarted server (new port) is followed.
    """

    def __init__(self, secret):
        self.secret = secret
        self.server = None  # set by the test once the Keyhaven server is up
        self.steps = []
        self.rejected = []
        self._lock = threading.Lock()
        hook = self

        class Handler(HookHandler):
            def do_POST(self):
                body = self._body()
                timestamp = self.headers.get("x-keyhaven-timestamp", "")
                given = self.headers.get("x-keyhaven-signature", "")
                if not timestamp.isdigit() or not hmac.compare_digest(given.encode(), signature(hook.secret, timestamp, body).encode()):
                    with hook._lock:
                        hook.rejected.append({"path": self.path, "timestamp": timestamp, "signature": given})
                    return self._answer(401)
                event = json.loads(body)
                record = {"path": self.path, "event": event}
                try:
                    record["seen"] = run_step(hook.client(), event, fail_at="testSecret" if self.path == "/rotate-fail" else None)
                    record["status"] = 200
                except Exception as err:  # The step failed: tell the server so.
                    record["error"] = f"{type(err).__name__}: {err}"
                    record["status"] = 500
                with hook._lock:
                    hook.steps.append(record)
                self._answer(record["status"])


        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def client(self):
        return boto3.client("secretsmanager", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def steps_of(self, arn):
        with self._lock:
            return [s for s in self.steps if s["event"].get("SecretId") == arn]

    def wait_for(self, predicate, timeout=30.0, what="a matching rotation step"):
        """The first recorded step that matches, waiting at most `timeout` s for it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((s for s in self.steps if predicate(s)), None)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; steps: {self.steps}; rejected: {self.rejected}")
            time.sleep(0.05)

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


def read_log(path):
    """The JSON lines a command rotator appended to `path`."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv):
    log = argv[argv.index("--log") + 1]
    fail_at = argv[argv.index("--fail-at") + 1] if "--fail-at" in argv else None
    event = json.loads(sys.stdin.read())
    record = {
        "event": event,
        "env": {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_REGION")},
        "has_session_token": bool(os.environ.get("AWS_SESSION_TOKEN")),
        "access_key_prefix": os.environ.get("AWS_ACCESS_KEY_ID", "")[:4],
    }
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION"))
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    status = 0
    try:
        record["caller"] = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]
        record["seen"] = run_step(session.client("secretsmanager", endpoint_url=endpoint), event, fail_at=fail_at)
    except Exception as err:
        record["error"] = f"{type(err).__name__}: {err}"
        status = 1
    record["exit"] = status
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
