"""SAML federation through boto3: IAM SAML providers from IdP metadata, and STS AssumeRoleWithSAML with responses
signed by xmlsec1 (an independent XML Signature implementation), tampered, re-signed, expired, misaddressed and
wrapped ones refused."""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import tempfile

import pytest
from client_helpers import audit_records, aws_json, error_of
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from policy_docs import allow, policy

ACCOUNT = "111122223333"
ISSUER = "https://idp.example.com/saml"
PROVIDER = "CorpIdP"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/engineers"
SIGN_IN = "https://signin.aws.amazon.com/saml"
ATTR = "https://aws.amazon.com/SAML/Attributes/"


class Idp:
    """A SAML identity provider: an RSA key and self-signed certificate, its metadata, and signed responses."""

    def __init__(self, directory, name):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(self.key, hashes.SHA256())
        )
        self.key_path = os.path.join(directory, f"{name}.key")
        self.cert_path = os.path.join(directory, f"{name}.crt")
        with open(self.key_path, "wb") as f:
            f.write(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        with open(self.cert_path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.directory = directory

    def metadata(self, entity_id=ISSUER, valid_until=None):
        der = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        until = f' validUntil="{valid_until}"' if valid_until else ""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
            f' xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}"{until}>\n'
            '  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n'
            f'    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}'
            '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n'
            '    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\n'
            '    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://idp.example.com/sso"/>\n  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n'
        )

    def sign(self, xml, element="Assertion"):
        """Signs the Assertion (or the Response) of `xml` with xmlsec1; answers the signed document."""
        template = os.path.join(self.directory, "template.xml")
        signed = os.path.join(self.directory, "signed.xml")
        with open(template, "w") as f:
            f.write(xml)
        ns = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion" if element == "Assertion" else \
            "urn:oasis:names:tc:SAML:2.0:protocol:Response"
        subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{self.key_path},{self.cert_path}", "--id-attr:ID", ns,
                        "--output", signed, template], check=True, capture_output=True)
        with open(signed) as f:
            return f.read()

    def verifies(self, xml):
        """Whether xmlsec1 itself accepts the signature of `xml` with this IdP's certificate."""
        path = os.path.join(self.directory, "check.xml")
        with open(path, "w") as f:
            f.write(xml)
        result = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", self.cert_path, "--id-attr:ID",
                                 "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", path], capture_output=True)
        return result.returncode == 0


SIGNATURE_TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
        <ds:Reference URI="#{ref}">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">
              <ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
          <ds:DigestValue></ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue></ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </ds:Signature>"""


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def response(*, issuer=ISSUER, subject="alice@example.com", recipient=SIGN_IN, audience=SIGN_IN, issued=None,
             roles=(f"{ROLE_ARN},{PROVIDER_ARN}",), session_name="alice@example.com", attributes=(),
             sign_assertion=True, sign_response=False):
    """A SAML Response template (signature elements empty, for xmlsec1 to fill)."""
    now = issued or datetime.datetime.now(datetime.timezone.utc)
    values = [("Role", list(roles))]
    if session_name is not None:
        values.append(("RoleSessionName", [session_name]))
    values += list(attributes)
    statements = "".join(
        f'<saml:Attribute Name="{name if name.startswith("urn:") or name.startswith("http") else ATTR + name}">'
        + "".join(f'<saml:AttributeValue xsi:type="xs:string">{v}</saml:AttributeValue>' for v in vals)
        + "</saml:Attribute>"
        for name, vals in values
    )
    audience_xml = (f"<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>"
                    if audience else "")
    return f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    ID="_resp1" Version="2.0" IssueInstant="{iso(now)}" Destination="{SIGN_IN}">
  <saml:Issuer>{issuer}</saml:Issuer>
  {SIGNATURE_TEMPLATE.format(ref="_resp1") if sign_response else ""}
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="_assert1" Version="2.0" IssueInstant="{iso(now)}">
    <saml:Issuer>{issuer}</saml:Issuer>
    {SIGNATURE_TEMPLATE.format(ref="_assert1") if sign_assertion else ""}
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{subject}</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="{iso(now + datetime.timedelta(minutes=5))}" Recipient="{recipient}"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="{iso(now - datetime.timedelta(minutes=1))}" NotOnOrAfter="{iso(now + datetime.timedelta(hours=1))}">
      {audience_xml}
    </saml:Conditions>
    <saml:AuthnStatement AuthnInstant="{iso(now)}" SessionIndex="_s1">
      <saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
    </saml:AuthnStatement>
    <saml:AttributeStatement>{statements}</saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"""


def b64(xml):
    return base64.b64encode(xml.encode()).decode()


@pytest.fixture
def fed(keyhaven_factory):
    server = keyhaven_factory("--dev", "--account-id", ACCOUNT)
    directory = tempfile.mkdtemp()
    idp = Idp(directory, "idp")
    iam = server.client("iam")
    assert iam.create_saml_provider(Name=PROVIDER, SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"] == \
        PROVIDER_ARN
    trust = policy({"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {"StringEquals": {"SAML:aud": SIGN_IN}}})
    iam.create_role(RoleName="engineers", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)
    iam.put_role_policy(RoleName="engineers", PolicyName="p", PolicyDocument=policy(
        allow("kms:ListKeys", Condition={"StringEquals": {"aws:PrincipalTag/team": "red"}})))
    return server, idp, directory


def assume(server, assertion, role=ROLE_ARN, principal=PROVIDER_ARN, **kwargs):
    return server.client("sts").assume_role_with_saml(RoleArn=role, PrincipalArn=principal, SAMLAssertion=assertion,
                                                      **kwargs)


def test_a_signed_response_becomes_a_role_session_with_aws_s_answer(fed):
    server, idp, _ = fed
    signed = idp.sign(response(attributes=[("SessionDuration", ["1800"]), ("PrincipalTag:team", ["red"]),
                                           ("SourceIdentity", ["alice"])]))
    assert idp.verifies(signed), "xmlsec1 accepts what it signed"
    # SourceIdentity needs sts:SetSourceIdentity in the trust policy: refused until it is granted.
    assert error_of(assume, server, b64(signed)) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML")
    # As the IAM User Guide writes it: the source identity in a statement of its own, with the keys that action has.
    trust = policy({"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"SAML:aud": SIGN_IN, "saml:sub": "alice@example.com"}}},
                   {"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:TagSession",
                    "Condition": {"StringEquals": {"aws:RequestTag/team": "red"}}},
                   {"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:SetSourceIdentity",
                    "Condition": {"StringLike": {"sts:SourceIdentity": "ali*"}}})
    server.client("iam").update_assume_role_policy(RoleName="engineers", PolicyDocument=trust)
    before = datetime.datetime.now(datetime.timezone.utc)
    answer = assume(server, b64(signed))
    assert answer["Subject"] == "alice@example.com" and answer["SubjectType"] == "persistent"
    assert answer["Issuer"] == ISSUER and answer["Audience"] == SIGN_IN
    qualifier = base64.b64encode(hashlib.sha1(f"{ISSUER}{ACCOUNT}/{PROVIDER}".encode()).digest()).decode()
    assert answer["NameQualifier"] == qualifier and answer["SourceIdentity"] == "alice"
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/engineers/alice@example.com"
    assert answer["AssumedRoleUser"]["AssumedRoleId"].endswith(":alice@example.com")
    lifetime = (answer["Credentials"]["Expiration"] - before).total_seconds()
    assert 1790 <= lifetime <= 1810, "the SessionDuration attribute shortens the hour"
    creds = answer["Credentials"]
    session = dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                   aws_session_token=creds["SessionToken"])
    assert server.client("sts", **session).get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]
    server.client("kms", **session).list_keys()  # allowed only with the session tag team=red

    # The AWS CLI sends the call unsigned, as botocore does.
    cli = aws_json(server, "sts", "assume-role-with-saml", "--role-arn", ROLE_ARN, "--principal-arn", PROVIDER_ARN,
                   "--saml-assertion", b64(idp.sign(response())))
    assert cli["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/engineers/alice@example.com"

    # The response's own signature by the whole Response is accepted as well.
    by_response = idp.sign(response(sign_assertion=False, sign_response=True), element="Response")
    assert assume(server, b64(by_response))["Subject"] == "alice@example.com"

    records = [r for r in audit_records(server) if r["eventName"] == "AssumeRoleWithSAML"]
    assert records and records[-1]["userIdentity"]["type"] == "SAMLUser"
    assert b64(signed)[:60] not in json.dumps(records), "the response never reaches the audit log"


def test_forged_and_misaddressed_responses_are_refused(fed):
    server, idp, directory = fed
    other = Idp(directory, "other")
    now = datetime.datetime.now(datetime.timezone.utc)
    good = idp.sign(response())
    tampered = good.replace("alice@example.com</saml:NameID>", "mallory@example.com</saml:NameID>")
    # Signature wrapping: the signed assertion moved aside, a forged one in its place.
    forged = response(subject="mallory@example.com", sign_assertion=False).replace('ID="_assert1"', 'ID="_forged"')
    signed_part = good[good.index("<saml:Assertion"):good.index("</saml:Assertion>") + len("</saml:Assertion>")]
    wrapped = forged.replace("<samlp:Status>", f"<samlp:Extensions>{signed_part}</samlp:Extensions><samlp:Status>")
    invalid = "Response signature invalid"
    cases = [
        ("tampered", b64(tampered), ("InvalidIdentityToken", invalid)),
        ("another key", b64(other.sign(response())), ("InvalidIdentityToken", invalid)),
        ("unsigned", b64(response(sign_assertion=False)), ("InvalidIdentityToken", invalid)),
        ("wrapped", b64(wrapped), ("InvalidIdentityToken", None)),
        ("issued too long ago", b64(idp.sign(response(issued=now - datetime.timedelta(minutes=11)))),
         ("ExpiredTokenException", "Token must be redeemed within 5 minutes of issuance")),
        ("wrong audience", b64(idp.sign(response(audience="https://other.example.com/sp"))),
         ("InvalidIdentityToken", "Response does not contain the required audience.")),
        ("wrong recipient", b64(idp.sign(response(recipient="https://sp.example.com/acs"))),
         ("InvalidIdentityToken", None)),
        ("another issuer", b64(idp.sign(response(issuer="https://evil.example.com/saml"))),
         ("InvalidIdentityToken", "Issuer not present in specified provider")),
        ("role not offered", b64(idp.sign(response(roles=(f"arn:aws:iam::{ACCOUNT}:role/other,{PROVIDER_ARN}",)))),
         ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML")),
        ("no session name", b64(idp.sign(response(session_name=None))),
         ("InvalidIdentityToken", "RoleSessionName is required in AuthnResponse")),
        ("bad session name", b64(idp.sign(response(session_name="has space"))),
         ("InvalidIdentityToken", "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")),
        ("not base64", "%%%%", ("InvalidIdentityToken", None)),
        ("not SAML", b64("<html/>"), ("InvalidIdentityToken", None)),
    ]
    for label, assertion, (code, message) in cases:
        got_code, got_message = error_of(assume, server, assertion)
        assert got_code == code, (label, got_code, got_message)
        assert message is None or got_message == message, (label, got_message)
        assert "mallory" not in got_message and "alice" not in got_message, label
    assert error_of(assume, server, b64(good), principal=f"arn:aws:iam::{ACCOUNT}:saml-provider/Nope")[0] == \
        "InvalidIdentityToken"
    assert error_of(assume, server, b64(good), DurationSeconds=7201)[0] == "ValidationError"
    # The trust policy's saml: keys decide: a subject the condition does not name is refused.
    trust = policy({"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"saml:sub": "bob@example.com"}}})
    server.client("iam").update_assume_role_policy(RoleName="engineers", PolicyDocument=trust)
    assert error_of(assume, server, b64(idp.sign(response())))[0] == "AccessDenied"


def test_saml_providers_are_managed_from_their_metadata(fed):
    server, idp, directory = fed
    iam = server.client("iam")
    got = iam.get_saml_provider(SAMLProviderArn=PROVIDER_ARN)
    assert got["SAMLMetadataDocument"] == idp.metadata() and got["Tags"] == [] and got["PrivateKeyList"] == []
    assert got["AssertionEncryptionMode"] == "Allowed"
    assert got["ValidUntil"] > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    rotated = Idp(directory, "rotated")
    iam.update_saml_provider(SAMLProviderArn=PROVIDER_ARN,
                             SAMLMetadataDocument=rotated.metadata(valid_until="2036-01-01T00:00:00Z"))
    assert iam.get_saml_provider(SAMLProviderArn=PROVIDER_ARN)["ValidUntil"].year == 2036
    # After rotation only the new key signs for the provider.
    assert error_of(assume, server, b64(idp.sign(response())))[1] == "Response signature invalid"
    assert assume(server, b64(rotated.sign(response())))["Subject"] == "alice@example.com"
    listed = iam.list_saml_providers()["SAMLProviderList"]
    assert [p["Arn"] for p in listed] == [PROVIDER_ARN] and "ValidUntil" in listed[0]
    iam.tag_saml_provider(SAMLProviderArn=PROVIDER_ARN, Tags=[{"Key": "owner", "Value": "it"}])
    assert iam.list_saml_provider_tags(SAMLProviderArn=PROVIDER_ARN)["Tags"] == [{"Key": "owner", "Value": "it"}]
    missing = f"arn:aws:iam::{ACCOUNT}:saml-provider/NonExistentProvider"
    bad_metadata = "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'/>" + " " * 1000
    cases = [
        (iam.get_saml_provider, dict(SAMLProviderArn=missing),
         ("NoSuchEntity", f"Manifest not found for arn {missing}")),
        (iam.delete_saml_provider, dict(SAMLProviderArn=missing), ("NoSuchEntity", None)),
        (iam.create_saml_provider, dict(Name=PROVIDER, SAMLMetadataDocument=idp.metadata()),
         ("EntityAlreadyExists", None)),
        (iam.create_saml_provider, dict(Name="Broken", SAMLMetadataDocument=bad_metadata),
         ("InvalidInput", "Could not parse metadata.")),
        (iam.create_saml_provider, dict(Name="Encrypted", SAMLMetadataDocument=idp.metadata(),
                                        AssertionEncryptionMode="Required"), ("InvalidInput", None)),
    ]
    for call, kwargs, (code, message) in cases:
        got_code, got_message = error_of(call, **kwargs)
        assert got_code == code and (message is None or got_message == message), (kwargs.get("Name"), got_code,
                                                                                   got_message)
    assert [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]] == [PROVIDER_ARN]
    iam.delete_saml_provider(SAMLProviderArn=PROVIDER_ARN)
    assert error_of(assume, server, b64(rotated.sign(response())))[0] == "InvalidIdentityToken"
