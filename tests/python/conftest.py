"""Fixtures: start the real keyhaven binary on a free loopback port with its own data directory."""

import atexit
import hashlib
import hmac
import http.server
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
import pytest

from hook_handler import HookHandler

BINARY = os.environ.get("KEYHAVEN_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "keyhaven"))

# KEYHAVEN_TEST_STORE=postgres runs every server on a new database of one throwaway PostgreSQL cluster instead of
# SQLite (the test command runs the suite both ways); a test that sets KEYHAVEN_STORE itself keeps its choice.
STORE = os.environ.get("KEYHAVEN_TEST_STORE", "sqlite")
_postgres = []


def _new_postgres_database():
    if not _postgres:
        from pg_cluster import PgCluster

        _postgres.append(PgCluster().start())
        atexit.register(_postgres[0].stop)
    return _postgres[0].new_database()


class Keyhaven:
    """A running server; `start` may be called again after `stop` on the same data directory."""

    def __init__(self, *args, env=None):
        self.args = list(args)
        self.env = dict(os.environ, KEYHAVEN_LOG="warn", **(env or {}))
        if STORE == "postgres" and "--store" not in args:
            self.env.setdefault("KEYHAVEN_STORE", _new_postgres_database())
        self.data_dir = tempfile.mkdtemp(prefix="keyhaven-py-")
        self.process = None
        self.endpoint = None

    def start(self):
        self.process = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *self.args],
            stdout=subprocess.PIPE, text=True, env=self.env,
        )
        for line in self.process.stdout:
            if line.startswith("keyhaven listening on "):
                self.endpoint = line.split()[3]
                return self
        raise RuntimeError("keyhaven exited before listening")

    def stop(self):
        undeclared = []
        if self.process and self.process.poll() is None:
            undeclared = self.undeclared_errors()
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0
        self.process = None
        assert not undeclared, f"answered error codes the operations' models do not declare: {undeclared}"

    def undeclared_errors(self):
        """The (service, operation, code) answers this server counted that no model or common error declares."""
        context = ssl._create_unverified_context() if self.endpoint.startswith("https") else None
        with urllib.request.urlopen(f"{self.endpoint}/metrics", context=context) as response:
            text = response.read().decode()
        return [line for line in text.splitlines() if line.startswith("keyhaven_undeclared_errors_total")]

    def client(self, service="kms", **kwargs):
        kwargs.setdefault("aws_access_key_id", "test")
        kwargs.setdefault("aws_secret_access_key", "test")
        kwargs.setdefault("region_name", "us-east-1")
        return boto3.client(service, endpoint_url=self.endpoint, **kwargs)

    def advance_clock(self, seconds):
        """Moves a --dev server's domain clock on, running every job that fell due; answers {"now": ..., ...}."""
        request = urllib.request.Request(
            f"{self.endpoint}/_keyhaven/clock", data=json.dumps({"advance_seconds": seconds}).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    def cli_env(self):
        return dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def keyhaven_factory():
    servers = []

    def make(*args, env=None):
        server = Keyhaven(*args, env=env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture
def dev_server(keyhaven_factory):
    return keyhaven_factory("--dev")


WEBHOOK_SECRET = "0123456789abcdef-test-secret"


class WebhookReceiver:
    """A loopback endpoint for the server's change-event webhooks.

    Each POST must carry `x-keyhaven-timestamp`, `x-keyhaven-event-id` and
    `x-keyhaven-signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`; a request that
    fails the check is answered 401 and recorded in `rejected`. `refuse` makes the next N well-signed
    deliveries fail with 503 (to see retries). Accepted events are kept in arrival order, once per event id
    (delivery is at least once), in `events` as the test thread collects them (`wait_for`, `collect`).
    """

    def __init__(self, secret=WEBHOOK_SECRET):
        self.secret = secret
        self.refuse = 0
        self.rejected = []
        self.attempts = []
        self.events = []
        self._ids = set()
        self._queue = queue.Queue()
        receiver = self

        class Handler(HookHandler):
            def do_POST(self):
                body = self._body()
                timestamp = self.headers.get("x-keyhaven-timestamp", "")
                signature = self.headers.get("x-keyhaven-signature", "")
                event_id = self.headers.get("x-keyhaven-event-id", "")
                mac = hmac.new(receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
                expected = "sha256=" + mac.hexdigest()
                if not timestamp.isdigit() or not event_id or not hmac.compare_digest(signature.encode(), expected.encode()):
                    receiver.rejected.append({"timestamp": timestamp, "signature": signature, "event_id": event_id, "body": body[:200]})
                    return self._answer(401)
                event = json.loads(body)
                receiver.attempts.append(event.get("id"))
                if receiver.refuse > 0:
                    receiver.refuse -= 1
                    return self._answer(503)
                receiver._queue.put(event)
                self._answer(200)


        # One request at a time, so arrival order is the order the server delivered in.
        self._httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"

    def write_config(self, path, name="test"):
        """Writes a server config file with this receiver as the only `[[event-webhooks]]` target."""
        with open(path, "w") as f:
            f.write(f'[[event-webhooks]]\nname = "{name}"\nurl = "{self.url}"\nsecret = "{self.secret}"\n')
        return path

    def collect(self):
        """Moves every event delivered so far into `events`; returns `events`."""
        while True:
            try:
                self._take(self._queue.get_nowait())
            except queue.Empty:
                return self.events

    def wait_for(self, predicate, timeout=15.0, start=0):
        """The first event in `events[start:]` (delivered or arriving within `timeout` s) that matches."""
        deadline = time.monotonic() + timeout
        checked = start
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = max(checked, len(self.events))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(e.get("detail-type"), e.get("detail")) for e in self.events]
                raise AssertionError(f"no matching event within {timeout} s; delivered: {seen}; rejected: {self.rejected}")
            try:
                self._take(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass

    def _take(self, event):
        if event.get("id") not in self._ids:
            self._ids.add(event.get("id"))
            self.events.append(event)

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def evented(keyhaven_factory, webhook_receiver, tmp_path):
    """A dev server that delivers change events to `webhook_receiver`."""
    config = webhook_receiver.write_config(tmp_path / "keyhaven.toml")
    return keyhaven_factory("--dev", "--config", str(config)), webhook_receiver
