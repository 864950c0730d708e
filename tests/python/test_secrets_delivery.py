"""Parameters and secrets delivered into programs: `keyhaven exec` (environment from references and whole paths),
`keyhaven render` (CloudFormation dynamic references) and `keyhaven agent` (the Parameters and Secrets Lambda
extension's HTTP API with its cache), each resolving with the caller's credentials against keyhaven."""

import json
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from client_helpers import new_user
from conftest import BINARY

PRINT_ENV = "import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))"


def client_env(server, **extra):
    return dict(server.cli_env(), AWS_ENDPOINT_URL=server.endpoint, AWS_REGION="us-east-1", **extra)


def keyhaven(server, *args, env=None, check=True, stdin=None):
    result = subprocess.run([BINARY, *args], env=env or client_env(server), capture_output=True, input=stdin)
    if check and result.returncode != 0:
        pytest.fail(f"keyhaven {' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return result


@pytest.fixture
def app(dev_server):
    ssm, secrets = dev_server.client("ssm"), dev_server.client("secretsmanager")
    ssm.put_parameter(Name="/my-app/prod/db/host", Value="db.internal", Type="String")
    ssm.put_parameter(Name="/my-app/prod/db/password", Value="s3cr3t-pw", Type="SecureString")
    ssm.put_parameter(Name="/my-app/prod/feature-flags", Value="a,b", Type="StringList")
    ssm.put_parameter(Name="/my-app/dev/db/host", Value="localhost", Type="String")
    arn = secrets.create_secret(Name="prod/db", SecretString=json.dumps({"username": "app", "password": "pw-1"}))["ARN"]
    return dev_server, arn


def test_exec_puts_references_and_whole_paths_into_the_programs_environment(app):
    server, arn = app
    out = keyhaven(server, "exec", "--env", "DB_PASS=secretsmanager:prod/db#password",
                   "--env", "HOST=ssm:/my-app/prod/db/host", "--env", f"WHOLE=secretsmanager:{arn}",
                   "--path", "/my-app/prod", "--",
                   sys.executable, "-c", PRINT_ENV, "DB_PASS", "HOST", "WHOLE", "DB_HOST", "DB_PASSWORD",
                   "FEATURE_FLAGS").stdout
    assert json.loads(out) == {
        "DB_PASS": "pw-1", "HOST": "db.internal", "WHOLE": json.dumps({"username": "app", "password": "pw-1"}),
        "DB_HOST": "db.internal", "DB_PASSWORD": "s3cr3t-pw", "FEATURE_FLAGS": "a,b"}

    # The program's exit status is the command's: exec replaces keyhaven with it.
    status = keyhaven(server, "exec", "--env", "X=ssm:/my-app/prod/db/host", "--", "sh", "-c", "exit 7", check=False)
    assert status.returncode == 7


def test_exec_runs_nothing_when_a_reference_fails(app, tmp_path):
    server, _ = app
    marker = tmp_path / "ran"
    for reference, needle in [("ssm:/my-app/missing", "ParameterNotFound"),
                              ("secretsmanager:prod/db#nope", "Could not find a value associated with nope"),
                              ("secretsmanager:no/such", "ResourceNotFoundException")]:
        result = keyhaven(server, "exec", "--env", f"X={reference}", "--", "touch", str(marker), check=False)
        assert result.returncode == 1 and needle in result.stderr.decode(), result.stderr
        assert not marker.exists()
    usage = keyhaven(server, "exec", "--env", "no-equals-sign", "--", "true", check=False)
    assert usage.returncode == 1 and b"expected NAME=REFERENCE" in usage.stderr

    # The caller's credentials decide: a user who may not read the secret gets AWS's refusal.
    creds = new_user(server, "reader", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameter*", "Resource": "*"}]}))
    env = client_env(server, AWS_ACCESS_KEY_ID=creds[0], AWS_SECRET_ACCESS_KEY=creds[1])
    allowed = keyhaven(server, "exec", "--env", "H=ssm:/my-app/prod/db/host", "--", sys.executable, "-c", PRINT_ENV,
                       "H", env=env)
    assert json.loads(allowed.stdout) == {"H": "db.internal"}
    denied = keyhaven(server, "exec", "--env", "P=secretsmanager:prod/db", "--", "touch", str(marker), env=env,
                      check=False)
    assert denied.returncode == 1 and b"AccessDeniedException" in denied.stderr and not marker.exists()


def test_render_resolves_cloudformation_dynamic_references(app, tmp_path):
    server, arn = app
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/my-app/prod/db/host", Value="db2.internal", Type="String", Overwrite=True)
    template = tmp_path / "app.conf.tmpl"
    template.write_text(
        "host={{resolve:ssm:/my-app/prod/db/host}}\n"
        "first-host={{resolve:ssm:/my-app/prod/db/host:1}}\n"
        "password={{resolve:ssm-secure:/my-app/prod/db/password}}\n"
        "user={{resolve:secretsmanager:prod/db:SecretString:username}}\n"
        f"by-arn={{{{resolve:secretsmanager:{arn}:SecretString:password:AWSCURRENT}}}}\n"
        "whole={{resolve:secretsmanager:prod/db::::}}\n")
    out = tmp_path / "app.conf"
    keyhaven(server, "render", "-i", str(template), "-o", str(out))
    assert out.read_text().splitlines() == [
        "host=db2.internal", "first-host=db.internal", "password=s3cr3t-pw", "user=app", "by-arn=pw-1",
        "whole=" + json.dumps({"username": "app", "password": "pw-1"})]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    piped = keyhaven(server, "render", stdin=b"u={{resolve:secretsmanager:prod/db:SecretString:username}}").stdout
    assert piped == b"u=app"

    for text, needle in [("{{resolve:ssm:/my-app/prod/db/host:label}}", "Incorrect format"),
                         ("{{resolve:secretsmanager:prod/db:SecretString:nope}}", "Could not find a value"),
                         ("{{resolve:ssm:/nothing/here}}", "ParameterNotFound")]:
        (tmp_path / "bad.tmpl").write_text(text)
        result = keyhaven(server, "render", "-i", str(tmp_path / "bad.tmpl"), "-o", str(tmp_path / "bad.out"),
                          check=False)
        assert result.returncode == 1 and needle in result.stderr.decode(), result.stderr
        assert not (tmp_path / "bad.out").exists()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def agent(app):
    server, arn = app
    processes = []

    def start(**settings):
        port = free_port()
        env = client_env(server, AWS_TOKEN="agent-token", PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(port), **settings)
        process = subprocess.Popen([BINARY, "agent"], env=env, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        line = process.stdout.readline()
        assert line.startswith("keyhaven agent listening on http://127.0.0.1:"), line
        return f"http://127.0.0.1:{port}"

    yield server, arn, start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def get(url, token="agent-token", headers=None):
    """(status, body) of a GET, as code written for the Lambda extension makes it."""
    request = urllib.request.Request(url, headers={**({"X-Aws-Parameters-Secrets-Token": token} if token else {}),
                                                   **(headers or {})})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_agent_answers_the_lambda_extension_api_with_a_cache(agent):
    server, arn, start = agent
    base = start()
    assert get(f"{base}/ping", token=None) == (200, b"healthy")
    assert get(f"{base}/secretsmanager/get?secretId=prod/db", token=None) == (403, b"Bad Token")
    assert get(f"{base}/secretsmanager/get?secretId=prod/db", token="wrong") == (403, b"Bad Token")
    assert get(f"{base}/secretsmanager/get?secretId=prod/db", headers={"X-Forwarded-For": "10.0.0.1"}) == (
        400, b"Forwarded")

    status, body = get(f"{base}/systemsmanager/parameters/get?name=%2Fmy-app%2Fprod%2Fdb%2Fpassword"
                       "&withDecryption=true")
    parameter = json.loads(body)
    assert status == 200 and parameter["ResultMetadata"] == {}
    assert parameter["Parameter"]["Value"] == "s3cr3t-pw" and parameter["Parameter"]["Type"] == "SecureString"
    assert parameter["Parameter"]["Version"] == 1 and parameter["Parameter"]["LastModifiedDate"].endswith("Z")
    encrypted = json.loads(get(f"{base}/systemsmanager/parameters/get?name=/my-app/prod/db/password")[1])
    assert encrypted["Parameter"]["Value"] != "s3cr3t-pw"
    versioned = json.loads(get(f"{base}/systemsmanager/parameters/get/?name=/my-app/prod/db/host&version=1")[1])
    assert versioned["Parameter"]["Selector"] == ":1" and versioned["Parameter"]["Value"] == "db.internal"

    status, body = get(f"{base}/secretsmanager/get?secretId=prod/db")
    secret = json.loads(body)
    assert status == 200 and secret["ARN"] == arn and json.loads(secret["SecretString"])["password"] == "pw-1"
    assert secret["VersionStages"] == ["AWSCURRENT"] and secret["SecretBinary"] is None

    # A new value is not seen until the cached one expires or the caller asks for a refresh.
    server.client("secretsmanager").put_secret_value(SecretId="prod/db", SecretString='{"password": "pw-2"}')
    assert json.loads(json.loads(get(f"{base}/secretsmanager/get?secretId=prod/db")[1])["SecretString"]) == {
        "username": "app", "password": "pw-1"}
    fresh = json.loads(get(f"{base}/secretsmanager/get?secretId=prod/db&refreshNow=true")[1])
    assert json.loads(fresh["SecretString"]) == {"password": "pw-2"}
    previous = json.loads(get(f"{base}/v1/prod/db?versionStage=AWSPREVIOUS")[1])
    assert json.loads(previous["SecretString"])["password"] == "pw-1"

    status, body = get(f"{base}/secretsmanager/get?secretId=no/such")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"
    assert get(f"{base}/secretsmanager/get")[0] == 400
    assert get(f"{base}/elsewhere")[0] == 404

    # With a time to live of 0 every read goes to the service.
    uncached = start(SECRETS_MANAGER_TTL="0")
    assert json.loads(json.loads(get(f"{uncached}/secretsmanager/get?secretId=prod/db")[1])["SecretString"]) == {
        "password": "pw-2"}
    server.client("secretsmanager").put_secret_value(SecretId="prod/db", SecretString='{"password": "pw-3"}')
    assert json.loads(json.loads(get(f"{uncached}/secretsmanager/get?secretId=prod/db")[1])["SecretString"]) == {
        "password": "pw-3"}


def test_agent_refuses_to_start_without_a_token(app):
    server, _ = app
    env = {k: v for k, v in client_env(server).items() if k not in ("AWS_TOKEN", "AWS_SESSION_TOKEN")}
    result = subprocess.run([BINARY, "agent", "--port", str(free_port())], env=env, capture_output=True, timeout=30)
    assert result.returncode == 1 and b"no token" in result.stderr
