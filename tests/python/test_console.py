"""The web console over plain HTTP: sign-in through STS, the session cookie, CSRF and same-origin checks, sign-out,
headers on every page, and that every console action is an audited API call made as the signed-in principal.
(The browser walk-through is test_console_browser.py.)"""

import json

import pytest
from client_helpers import new_user, poll, totp
from console_client import PREFIX, Console, hidden_fields, inline_code
from policy_docs import allow, policy

PAGES = ["", "/kms", "/ssm", "/secrets", "/iam", "/iam/simulator", "/audit", "/s3"]


@pytest.fixture
def server(keyhaven_factory):
    return keyhaven_factory("--dev", "--console")


def key_count(server):
    return len(server.client("kms").list_keys()["Keys"])


def test_the_console_is_off_unless_enabled(dev_server):
    console = Console(dev_server)
    answer = console.get("/sign-in")
    assert answer.status != 200 and "Sign in to keyhaven" not in answer.body
    assert answer.body.startswith("<?xml") and "<Code>" in answer.body, "the path is S3's, as any other would be"


def test_sign_in_csrf_and_sign_out(server):
    console = Console(server)
    page = console.get("/sign-in")
    assert page.status == 200 and "Sign in to keyhaven" in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert inline_code(page.body) == []

    # A login form posted from another origin is refused before any credential is tried.
    foreign = console.post("/sign-in", {"access_key_id": "test", "secret_access_key": "test"}, headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and foreign.cookie() is None

    # A real IAM user's key with the wrong secret: one message for every credential failure, no cookie.
    key_id, _ = new_user(server, "ann", policy(allow("kms:*")))
    wrong = console.sign_in(key_id, "not-the-secret")
    assert wrong.status == 403 and wrong.cookie() is None
    assert "The access key, secret or MFA code is not valid." in wrong.body
    assert key_id in wrong.body, "the typed key id is kept in the form"
    assert "not-the-secret" not in wrong.body, "the typed secret is never echoed"

    signed_in = console.sign_in()
    assert signed_in.status == 303 and signed_in.headers["location"] == f"{PREFIX}/us-east-1"
    cookie = signed_in.cookie()
    for attribute in ["HttpOnly", "SameSite=Strict", f"Path={PREFIX}", "Max-Age=3600"]:
        assert attribute in cookie, cookie
    assert "Secure" not in cookie, "plain HTTP cannot carry a Secure cookie"
    session_key = console.cookie.split("=")[1].split(".")[0]
    assert session_key.startswith("ASIA")

    home = console.get("/us-east-1")
    assert home.status == 200 and "arn:aws:iam::000000000000:root" in home.body
    csrf = hidden_fields(home.body)["_csrf"]

    # Every state change needs the session's CSRF token and the console's own origin; nothing changes otherwise.
    before = key_count(server)
    for form, headers in [
        ({"description": "no token"}, {}),
        ({"description": "wrong token", "_csrf": "x" * 43}, {}),
        ({"description": "foreign origin", "_csrf": csrf}, {"Origin": "http://evil.example"}),
        ({"description": "cross-site", "_csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ]:
        refused = console.post("/us-east-1/kms", form, headers=headers)
        assert refused.status == 403, (form, refused.status)
    assert key_count(server) == before

    created = console.post("/us-east-1/kms", {"description": "from the console", "alias": "alias/console", "_csrf": csrf},
                           headers={"Origin": f"http://{console.host}", "Sec-Fetch-Site": "same-origin"})
    assert created.status == 303, created.body
    key_id = created.headers["location"].split("/kms/")[1].split("?")[0]
    assert server.client("kms").describe_key(KeyId="alias/console")["KeyMetadata"]["KeyId"] == key_id
    detail = console.get(f"/us-east-1/kms/{key_id}?done=created")
    assert detail.status == 200 and "Key created." in detail.body and "alias/console" in detail.body

    # The console's calls are the session's calls in the audit trail, under the console's user agent.
    ct = server.client("cloudtrail")
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": session_key}])["Events"]
    names = {e["EventName"] for e in events}
    assert {"CreateKey", "CreateAlias"} <= names, names
    record = json.loads(next(e for e in events if e["EventName"] == "CreateKey")["CloudTrailEvent"])
    assert record["userAgent"] == "keyhaven-console"
    assert record["userIdentity"]["accessKeyId"] == session_key
    assert record["sourceIPAddress"] == "127.0.0.1"
    sign_ins = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetSessionToken"}])["Events"]
    sign_in_record = json.loads(sign_ins[0]["CloudTrailEvent"])
    assert sign_in_record["userAgent"] == "keyhaven-console"
    assert sign_in_record["responseElements"] is None, "no credential reaches the audit log"

    # The timeline combines filters: the first is LookupEvents' attribute, the others filter what it answers.
    mine = console.get(f"/us-east-1/audit?event=CreateKey&key={session_key}").body
    assert mine.count('<details class="event">') == 1 and "No records match." not in mine
    other = console.get("/us-east-1/audit?event=CreateKey&key=ASIAOTHERSESSION0000").body
    assert '<details class="event">' not in other and "No records match." in other

    signed_out = console.post("/sign-out", {"_csrf": csrf})
    assert signed_out.status == 303 and signed_out.headers["location"] == f"{PREFIX}/sign-in?signed-out=1"
    assert "Max-Age=0" in signed_out.cookie()
    # Sign-out changes state, so it is in the audit trail as the session's, though no AWS API does it.
    out = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ConsoleSignOut"}])["Events"]
    assert len(out) == 1 and out[0]["AccessKeyId"] == session_key, out
    out_record = json.loads(out[0]["CloudTrailEvent"])
    assert out_record["eventSource"] == "keyhaven-console.amazonaws.com" and out_record["readOnly"] is False
    # The old cookie opens nothing any more, and changes nothing.
    after = console.get("/us-east-1")
    assert after.status == 303 and after.headers["location"].startswith(f"{PREFIX}/sign-in")
    assert console.post("/us-east-1/kms", {"description": "after sign-out", "_csrf": csrf}).status == 303
    assert key_count(server) == before + 1


def test_every_page_sends_its_security_headers_and_no_inline_code(server):
    kms = server.client("kms")
    key_id = kms.create_key(Description="<script>alert(1)</script>")["KeyMetadata"]["KeyId"]
    server.client("ssm").put_parameter(Name="/app/x", Value="<b>x</b>", Type="String")
    server.client("secretsmanager").create_secret(Name="db", SecretString="s3cret-value")
    console = Console(server)
    assert console.sign_in().status == 303
    for path in PAGES + [f"/kms/{key_id}", "/ssm/parameter?name=%2Fapp%2Fx", "/ssm?path=%2Fapp", "/secrets/secret?id=db", "/iam/user?name=none"]:
        page = console.get(f"/us-east-1{path}")
        assert page.status in (200, 404), (path, page.status, page.body[:300])
        headers = page.headers
        assert headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'"), path
        assert headers["cache-control"] == "no-store", path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
        assert headers["server-timing"].startswith("total;dur="), path
        assert inline_code(page.body) == [], (path, inline_code(page.body))
        assert "<script>alert(1)</script>" not in page.body and "<b>x</b>" not in page.body, path
        assert "s3cret-value" not in page.body, f"{path}: a secret value is shown only when revealed"
    asset = console.get(page.body.split('href="' + PREFIX)[1].split('"')[0])
    assert asset.status == 200 and "immutable" in asset.headers["cache-control"]


def test_tls_cookie_is_secure_and_prefixed(keyhaven_factory):
    server = keyhaven_factory("--dev", "--console", "--tls-self-signed")
    console = Console(server)
    signed_in = console.sign_in()
    assert signed_in.status == 303
    cookie = signed_in.cookie()
    assert cookie.startswith("__Secure-keyhaven-console=") and "; Secure" in cookie
    assert console.get("/us-east-1").status == 200
    # The plain-HTTP cookie name is not accepted over TLS.
    console.cookie = console.cookie.replace("__Secure-", "")
    assert console.get("/us-east-1").status == 303


def test_a_limited_user_is_refused_with_aws_message_and_nothing_changes(server):
    key_id, secret = new_user(server, "viewer", policy(allow(["kms:List*", "kms:Describe*"])))
    console = Console(server)
    assert console.sign_in(key_id, secret).status == 303
    keys = console.get("/us-east-1/kms")
    assert keys.status == 200
    csrf = hidden_fields(keys.body)["_csrf"]
    before = key_count(server)
    refused = console.post("/us-east-1/kms", {"description": "not allowed", "_csrf": csrf})
    assert refused.status == 400 or refused.status == 403
    assert "AccessDeniedException" in refused.body
    assert "is not authorized to perform: kms:CreateKey" in refused.body
    assert key_count(server) == before
    iam = console.get("/us-east-1/iam")
    assert iam.status == 403 and "AccessDenied" in iam.body
    # The viewer's console session is the viewer: IAM says who it is.
    assert "arn:aws:iam::000000000000:user/viewer" in console.get("/us-east-1").body


def test_mfa_users_sign_in_with_their_code(server):
    iam = server.client("iam")
    key_id, secret = new_user(server, "mia", policy(allow(["kms:*", "iam:ListMFADevices"])))
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="mia-phone")["VirtualMFADevice"]
    serial, seed = device["SerialNumber"], device["Base32StringSeed"]
    step = server.advance_clock(0)["now"] // 30
    iam.enable_mfa_device(UserName="mia", SerialNumber=serial, AuthenticationCode1=totp(seed, step), AuthenticationCode2=totp(seed, step + 1))
    server.advance_clock(60)
    console = Console(server)
    asked = console.sign_in(key_id, secret)
    assert asked.status == 401 and "enter its current code" in asked.body
    wrong = console.sign_in(key_id, secret, mfa_code="000000")
    assert wrong.status == 403 and "The access key, secret or MFA code is not valid." in wrong.body
    assert console.sign_in(key_id, secret, mfa_code=totp(seed, step + 2)).status == 303
    # The console session is MFA-authenticated, as GetSessionToken with a code makes it.
    session_key = console.cookie.split("=")[1].split(".")[0]
    record = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": session_key}])["Events"]
    assert record == [] or all(json.loads(e["CloudTrailEvent"])["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true" for e in record)
    assert console.get("/us-east-1/kms").status == 200


def test_role_sign_in(server):
    iam = server.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="operator", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="operator", PolicyName="kms", PolicyDocument=policy(allow("kms:*")))
    key_id, secret = new_user(server, "ops", policy(allow("sts:AssumeRole", role_arn)))
    console = Console(server)
    assert console.sign_in(key_id, secret, role_arn=role_arn, session_name="ops-console").status == 303
    home = console.get("/us-east-1")
    assert "arn:aws:sts::000000000000:assumed-role/operator/ops-console" in home.body
    # Root may not assume a role, as STS says.
    refused = Console(server).sign_in(role_arn=role_arn)
    assert refused.status == 403 and "Roles may not be assumed by root accounts." in refused.body


RANDOM_FN = "arn:aws:lambda:us-east-1:000000000000:function:random"


def test_every_console_action_is_the_api_call_it_names(keyhaven_factory, tmp_path):
    config = tmp_path / "keyhaven.toml"
    config.write_text(f'[[rotation-functions]]\narn = "{RANDOM_FN}"\nbuiltin = "random-password"\n')
    server = keyhaven_factory("--dev", "--console", "--config", str(config))
    console = Console(server)
    assert console.sign_in().status == 303
    csrf = console.csrf()

    def post(path, **form):
        return console.post(f"/us-east-1{path}", {"_csrf": csrf, **form})

    # A key of another spec and usage, chosen from the create form's lists.
    assert post("/kms", key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC", description="mac").status == 303
    assert [k for k in server.client("kms").list_keys()["Keys"]
            if server.client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeySpec"] == "HMAC_256"]

    # Keys: rotation on and off, rotate now, schedule and cancel deletion, enable; a refused one leaves the state.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    state = lambda: kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"]
    assert post(f"/kms/{key}", op="rotation-on").status == 303
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    assert "On, every 365 days" in console.get(f"/us-east-1/kms/{key}").body
    listed = console.get("/us-east-1/kms").body
    assert "<th>Rotation</th>" in listed and "<td>every 365 days</td>" in listed and "<td>Off</td>" in listed
    assert post(f"/kms/{key}", op="rotation-off").status == 303
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    assert post(f"/kms/{key}", op="rotate").status == 303
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1
    refused = post(f"/kms/{key}", op="schedule", days="3")
    assert refused.status == 400 and "ValidationException" in refused.body and state() == "Enabled"
    assert post(f"/kms/{key}", op="schedule", days="7").status == 303 and state() == "PendingDeletion"
    assert "Cancel deletion" in console.get(f"/us-east-1/kms/{key}").body
    assert post(f"/kms/{key}", op="cancel").status == 303 and state() == "Disabled"
    assert post(f"/kms/{key}", op="enable").status == 303 and state() == "Enabled"
    grant = kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::000000000000:role/app", Operations=["Decrypt"])
    assert grant["GrantId"] in console.get(f"/us-east-1/kms/{key}").body

    # Parameters: a SecureString stays masked until revealed; label, overwrite, compare; a bad name is refused.
    ssm = server.client("ssm")
    assert post("/ssm/parameter", op="put", name="/cfg/pw", type="SecureString", value="hunter2", tier="Standard").status == 303
    page = console.get("/us-east-1/ssm/parameter?name=%2Fcfg%2Fpw").body
    assert "hunter2" not in page and "Reveal" in page
    revealed = post("/ssm/parameter", op="reveal", name="/cfg/pw")
    assert revealed.status == 200 and "hunter2" in revealed.body and revealed.headers["cache-control"] == "no-store"
    assert post("/ssm/parameter", op="label", name="/cfg/pw", version="1", label="stable").status == 303
    assert ssm.get_parameter(Name="/cfg/pw:stable", WithDecryption=True)["Parameter"]["Value"] == "hunter2"
    assert post("/ssm/parameter", op="put", name="/cfg/pw", overwrite="true", type="SecureString", value="hunter3").status == 303
    compared = post("/ssm/parameter", op="compare", name="/cfg/pw", a="1", b="2")
    assert "- hunter2" in compared.body and "+ hunter3" in compared.body
    refused = post("/ssm/parameter", op="put", name="/cfg//x", type="String", value="v")
    assert refused.status == 400 and "ValidationException" in refused.body
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == ["/cfg/pw"]
    tree = console.get("/us-east-1/ssm?path=%2Fcfg").body
    assert "/cfg/pw" in tree and "SecureString" in tree

    # Secrets: create, put a value, rotate now (the built-in function), delete and restore.
    sm = server.client("secretsmanager")
    created = post("/secrets", name="app/db", value=json.dumps({"username": "app", "password": "first"}))
    assert created.status == 303
    arn = sm.describe_secret(SecretId="app/db")["ARN"]
    assert post("/secrets/secret", op="put", id=arn, value=json.dumps({"username": "app", "password": "second"})).status == 303
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"] == "second"
    stages = lambda: sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = lambda: next(v for v, s in stages().items() if "AWSCURRENT" in s)

    def rotated_from(version):
        """Rotation is asynchronous: done when AWSCURRENT has moved off `version` and no AWSPENDING is left."""
        return lambda: current() != version and "AWSPENDING" not in str(stages())

    before = current()
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM_FN, RotationRules={"AutomaticallyAfterDays": 30})
    poll(rotated_from(before))
    before = current()
    assert post("/secrets/secret", op="rotate", id=arn).status == 303
    poll(rotated_from(before))
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"] != "second"
    detail = console.get(f"/us-east-1/secrets/secret?id={arn}").body
    assert "On, every 30 days" in detail and "RotationSucceeded" in detail
    assert post("/secrets/secret", op="delete", id=arn).status == 303
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)
    assert "Restore" in console.get(f"/us-east-1/secrets/secret?id={arn}").body
    assert post("/secrets/secret", op="restore", id=arn).status == 303
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)

    # Buckets show their default encryption and bucket key; a user's page shows keys and their last use.
    s3 = server.client("s3")
    s3.create_bucket(Bucket="enc-bucket")
    s3.put_bucket_encryption(Bucket="enc-bucket", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}, "BucketKeyEnabled": True}]})
    buckets = console.get("/us-east-1/s3").body
    assert "enc-bucket" in buckets and "aws:kms" in buckets and key in buckets and "Enabled" in buckets
    user_key, _ = new_user(server, "uma", policy(allow("kms:ListKeys")))
    user_page = console.get("/us-east-1/iam/user?name=uma").body
    assert user_key in user_page and "uma-inline (inline)" not in user_page and "uma-inline" in user_page
    overview = console.get("/us-east-1/iam").body
    assert "uma-inline (inline)" in overview

    # The simulator refuses what is not a user, group or role, as SimulatePrincipalPolicy does.
    root = console.get("/us-east-1/iam/simulator?principal=arn%3Aaws%3Aiam%3A%3A000000000000%3Aroot&actions=kms%3AListKeys")
    assert root.status == 400 and "InvalidInput" in root.body and "expected the ARN of a user, group or role" in root.body

    # The audit chain check, with the record count for the server's own root.
    verified = post("/audit/verify")
    assert verified.status == 200 and "Audit chain intact:" in verified.body
    # A read: its record is written just after the answer.
    checks = poll(lambda: server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "VerifyAuditChain"}])["Events"])
    assert len(checks) == 1 and checks[0]["Username"] == "root", checks

