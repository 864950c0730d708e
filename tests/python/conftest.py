"""Fixtures: start the real keyhaven binary on a free loopback port with its own data directory."""

import os
import shutil
import signal
import subprocess
import tempfile

import boto3
import pytest

BINARY = os.environ.get("KEYHAVEN_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "keyhaven"))


class Keyhaven:
    """A running server; `start` may be called again after `stop` on the same data directory."""

    def __init__(self, *args, env=None):
        self.args = list(args)
        self.env = dict(os.environ, KEYHAVEN_LOG="warn", **(env or {}))
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
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0
        self.process = None

    def client(self, service="kms", **kwargs):
        kwargs.setdefault("aws_access_key_id", "test")
        kwargs.setdefault("aws_secret_access_key", "test")
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1", **kwargs)

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
