"""OIDC federation through boto3: an IAM OpenID Connect provider whose JWKS the operator placed in
the data directory, and AssumeRoleWithWebIdentity (sent unsigned, as the SDKs send it) with JWTs
signed here by hand with `cryptography` (RS256 and ES256)."""

import base64
import json
import os
import time
import urllib.parse

import boto3
import botocore
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from client_helpers import error_of, audit_records

ACCOUNT = "111122223333"
ISSUER = "https://idp.keyhaven.test/realms/ci"
HOST = ISSUER.removeprefix("https://")
CLIENT_ID = "keyhaven-ci"
SUBJECT = "repo:example/app:ref:refs/heads/main"
ROLE = "ci-deployer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_rs256(key, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_es256(key, data: bytes) -> bytes:
    # JWS carries ECDSA signatures as raw r || s (RFC 7518 §3.4), not DER.
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jwt(header: dict, claims: dict, signer, key) -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(signer(key, signing_input.encode()))


def jwks_path(data_dir: str, issuer: str) -> str:
    # The server's naming: the issuer without https://, percent-encoded but for A-Z a-z 0-9 - . _ ~
    name = urllib.parse.quote(issuer.removeprefix("https://"), safe="-._~")
    return os.path.join(data_dir, "oidc", name + ".json")


class Federation:
    """A server with a provider for ISSUER, its JWKS in place, and role ROLE trusting it."""

    def __init__(self, server):
        self.server = server
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.jwks_file = jwks_path(server.data_dir, ISSUER)
        os.makedirs(os.path.dirname(self.jwks_file), exist_ok=True)
        with open(self.jwks_file, "w") as f:
            json.dump({"keys": [self.rsa_jwk(), self.ec_jwk()]}, f)
        self.iam = server.client("iam")
        self.provider_arn = self.iam.create_open_id_connect_provider(
            Url=ISSUER, ClientIDList=[CLIENT_ID], ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
        )["OpenIDConnectProviderArn"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": self.provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{HOST}:aud": CLIENT_ID},
                    "StringLike": {f"{HOST}:sub": "repo:example/app:*"},
                },
            }],
        }
        self.role_arn = self.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        self.iam.put_role_policy(
            RoleName=ROLE,
            PolicyName="use-keys",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
            ]}),
        )
        # No credentials at all: the call must succeed on the token alone.
        self.sts = boto3.client(
            "sts", endpoint_url=server.endpoint, region_name="us-east-1",
            config=Config(signature_version=botocore.UNSIGNED),
        )

    def rsa_jwk(self):
        n = self.rsa.public_key().public_numbers()
        return {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
                "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), "e": b64url(n.e.to_bytes(3, "big"))}

    def ec_jwk(self):
        n = self.ec.public_key().public_numbers()
        return {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
                "x": b64url(n.x.to_bytes(32, "big")), "y": b64url(n.y.to_bytes(32, "big"))}

    def claims(self, **overrides):
        now = int(time.time())
        return {"iss": ISSUER, "sub": SUBJECT, "aud": CLIENT_ID, "iat": now, "exp": now + 600, **overrides}

    def rs256(self, **overrides):
        return jwt({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, self.claims(**overrides), sign_rs256, self.rsa)

    def es256(self, **overrides):
        return jwt({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}, self.claims(**overrides), sign_es256, self.ec)

    def assume(self, token, **extra):
        return self.sts.assume_role_with_web_identity(
            RoleArn=self.role_arn, RoleSessionName="run-1", WebIdentityToken=token, **extra
        )


@pytest.fixture
def federation(keyhaven_factory):
    return Federation(keyhaven_factory("--dev", "--account-id", ACCOUNT))


def test_oidc_provider_lifecycle(federation):
    iam = federation.iam
    arn = federation.provider_arn
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == HOST
    assert got["ClientIDList"] == [CLIENT_ID]
    assert got["ThumbprintList"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
    listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in listed] == [arn]
    assert error_of(iam.create_open_id_connect_provider, Url=ISSUER, ClientIDList=["x"])[0] == "EntityAlreadyExists"
    assert error_of(iam.create_open_id_connect_provider, Url="http://plain.keyhaven.test")[0] == "ValidationError"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == [CLIENT_ID, "second"]
    missing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/missing.keyhaven.test"
    assert error_of(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=missing)[0] == "NoSuchEntity"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    code, message = error_of(federation.assume, token=federation.rs256())
    assert code == "InvalidIdentityToken" and "No OpenIDConnect provider found" in message


@pytest.mark.parametrize("signing", ["rs256", "es256"])
def test_web_identity_credentials_work_with_kms(federation, signing):
    kms_as_root = federation.server.client("kms")
    key_id = kms_as_root.create_key()["KeyMetadata"]["KeyId"]
    answer = federation.assume(getattr(federation, signing)(), DurationSeconds=900)
    assert answer["SubjectFromWebIdentityToken"] == SUBJECT
    assert answer["Audience"] == CLIENT_ID
    assert answer["Provider"] == ISSUER
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/run-1"
    assert answer["AssumedRoleUser"]["AssumedRoleId"].endswith(":run-1")
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    session = dict(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    me = federation.server.client("sts", **session).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/run-1"
    kms = federation.server.client("kms", **session)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"federated")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"federated"
    # The session has the role's permissions and no more.
    assert error_of(kms.schedule_key_deletion, KeyId=key_id)[0] == "AccessDeniedException"


def test_bad_tokens_are_refused(federation):
    now = int(time.time())
    cases = {
        "wrong audience": (federation.rs256(aud="someone-else"), "InvalidIdentityToken"),
        "expired": (federation.rs256(iat=now - 7200, exp=now - 900), "ExpiredTokenException"),
        "unknown issuer": (federation.rs256(iss="https://unknown.keyhaven.test"), "InvalidIdentityToken"),
        "subject the trust policy refuses": (federation.es256(sub="repo:example/other:ref:x"), "AccessDenied"),
        "not yet valid": (federation.rs256(nbf=now + 3600), "IDPRejectedClaim"),
        "not a JWT": ("abcd.efgh", "InvalidIdentityToken"),
    }
    head, _, signature = federation.rs256().split(".")
    forged_payload = b64url(json.dumps(federation.claims(sub="repo:example/app:admin")).encode())
    cases["bad signature"] = (f"{head}.{forged_payload}.{signature}", "InvalidIdentityToken")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases["signed by another key"] = (
        jwt({"alg": "RS256", "kid": "rsa-1"}, federation.claims(), sign_rs256, stranger), "InvalidIdentityToken",
    )
    for name, (token, expected) in cases.items():
        code, message = error_of(federation.assume, token=token)
        assert code == expected, f"{name}: {code} {message}"
        assert token not in message and token.split(".")[-1] not in message, name
    code, message = error_of(federation.assume, token=federation.rs256(iss="https://unknown.keyhaven.test"))
    assert message == "No OpenIDConnect provider found in your account for https://unknown.keyhaven.test"
    code, message = error_of(federation.assume, token=federation.rs256(aud="someone-else"))
    assert message == "Incorrect token audience"


def test_role_and_duration_limits(federation):
    token = federation.rs256()
    assert error_of(federation.assume, token=token, DurationSeconds=7200)[0] == "ValidationError"
    other = f"arn:aws:iam::{ACCOUNT}:role/absent"
    code, _ = error_of(
        federation.sts.assume_role_with_web_identity, RoleArn=other, RoleSessionName="run-1", WebIdentityToken=token
    )
    assert code == "AccessDenied"
    assert federation.assume(token)["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_keys_come_from_the_jwks_file(federation):
    token = federation.rs256()
    os.rename(federation.jwks_file, federation.jwks_file + ".moved")
    code, message = error_of(federation.assume, token=token)
    assert code == "InvalidIdentityToken" and "verification key" in message
    # Rotation: a JWKS with only the EC key no longer accepts RSA-signed tokens.
    with open(federation.jwks_file, "w") as f:
        json.dump({"keys": [federation.ec_jwk()]}, f)
    assert error_of(federation.assume, token=token)[0] == "InvalidIdentityToken"
    assert federation.assume(federation.es256())["Audience"] == CLIENT_ID


def test_audit_names_the_web_identity_and_never_the_token(federation):
    token = federation.rs256()
    creds = federation.assume(token)["Credentials"]
    refused = federation.rs256(aud="someone-else")
    error_of(federation.assume, token=refused)
    federation.server.stop()
    records = audit_records(federation.server)
    calls = [r for r in records if r["eventName"] == "AssumeRoleWithWebIdentity"]
    assert [r.get("errorCode") for r in calls] == [None, "InvalidIdentityToken"]
    identity = calls[0]["userIdentity"]
    assert identity["type"] == "WebIdentityUser"
    assert identity["userName"] == SUBJECT
    assert identity["principalId"] == f"{HOST}:{CLIENT_ID}:{SUBJECT}"
    assert calls[0]["requestParameters"]["roleArn"] == federation.role_arn
    everything = json.dumps(records)
    for secret in (token, refused, token.split(".")[2], creds["SecretAccessKey"], creds["SessionToken"]):
        assert secret not in everything
