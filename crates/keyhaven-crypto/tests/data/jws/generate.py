"""Makes the JWS test data of this directory with Python's `cryptography` package, independently
of the Rust code it tests. Run from this directory: `python3 generate.py` (cryptography >= 42).

Writes:
- vectors.txt: signature vectors for keyhaven-crypto's `jws` module (keys and signatures in hex).
- oidc/idp.keyhaven.test%2Ftenant.json: the JWKS of the test issuer, named as the server looks
  JWKS files up (`<data-dir>/oidc/<percent-encoded issuer without https://>.json`).
- tokens.json: compact JWTs for keyhaven-core's AssumeRoleWithWebIdentity tests.

Every run makes fresh keys; private keys are never written. Token times are relative to
keyhaven-core's frozen test clock (crate::testing::START).
"""

import base64
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

START = 1_700_000_000
ISSUER = "https://idp.keyhaven.test/tenant"
CLIENT_ID = "keyhaven-client"
SUBJECT = "repo:example/app:ref:refs/heads/main"
HERE = os.path.dirname(os.path.abspath(__file__))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(value: int, length: int = 0) -> bytes:
    length = max(length, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def sign_rs256(key, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_es256(key, data: bytes) -> bytes:
    # JWS wants the raw r || s form (RFC 7518 §3.4), not the DER cryptography returns.
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return int_bytes(r, 32) + int_bytes(s, 32)


def rsa_jwk(key, kid):
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64url(int_bytes(numbers.n)), "e": b64url(int_bytes(numbers.e))}


def ec_jwk(key, kid):
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
            "x": b64url(int_bytes(numbers.x, 32)), "y": b64url(int_bytes(numbers.y, 32))}


def jwt(header: dict, claims: dict, signer=None, key=None) -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = signer(key, signing_input.encode()) if signer else b""
    return signing_input + "." + b64url(signature)


def vectors_file():
    blocks = []

    def rsa_block(name, key, data, signature, expect, n=None):
        numbers = key.public_key().public_numbers()
        blocks.append([f"name: {name}", "alg: RS256", f"n: {(n or int_bytes(numbers.n)).hex()}",
                       f"e: {int_bytes(numbers.e).hex()}", f"input: {data}", f"signature: {signature.hex()}",
                       f"expect: {expect}"])

    def ec_block(name, key, data, signature, expect, alg="ES256", x=None, y=None):
        numbers = key.public_key().public_numbers()
        blocks.append([f"name: {name}", f"alg: {alg}", f"x: {(x or int_bytes(numbers.x, 32)).hex()}",
                       f"y: {(y or int_bytes(numbers.y, 32)).hex()}", f"input: {data}",
                       f"signature: {signature.hex()}", f"expect: {expect}"])

    data = b64url(b'{"alg":"RS256","kid":"k"}') + "." + b64url(b'{"sub":"alice","aud":"app"}')
    other = b64url(b'{"alg":"RS256","kid":"k"}') + "." + b64url(b'{"sub":"mallory","aud":"app"}')
    k2048, k4096, k1024, kother = rsa_key(), rsa_key(4096), rsa_key(1024), rsa_key()
    rsa_block("rs256-2048-valid", k2048, data, sign_rs256(k2048, data.encode()), "valid")
    rsa_block("rs256-4096-valid", k4096, data, sign_rs256(k4096, data.encode()), "valid")
    rsa_block("rs256-tampered-payload", k2048, other, sign_rs256(k2048, data.encode()), "bad-signature")
    rsa_block("rs256-signed-by-another-key", k2048, data, sign_rs256(kother, data.encode()), "bad-signature")
    rsa_block("rs256-1024-bit-key-refused", k1024, data, sign_rs256(k1024, data.encode()), "bad-signature")
    rsa_block("rs256-modulus-with-sign-byte", k2048, data, sign_rs256(k2048, data.encode()), "valid",
              n=b"\x00" + int_bytes(k2048.public_key().public_numbers().n))
    truncated = sign_rs256(k2048, data.encode())[:-1]
    rsa_block("rs256-truncated-signature", k2048, data, truncated, "bad-signature")

    p, q = ec_key(), ec_key()
    ec_block("es256-valid", p, data, sign_es256(p, data.encode()), "valid")
    ec_block("es256-tampered-payload", p, other, sign_es256(p, data.encode()), "bad-signature")
    ec_block("es256-signed-by-another-key", p, data, sign_es256(q, data.encode()), "bad-signature")
    ec_block("es256-der-signature-refused", p, data, p.sign(data.encode(), ec.ECDSA(hashes.SHA256())),
             "bad-signature")
    ec_block("es256-short-signature", p, data, sign_es256(p, data.encode())[:63], "bad-signature")
    numbers = p.public_key().public_numbers()
    off_curve = int_bytes(numbers.y ^ 1, 32)
    ec_block("es256-point-off-curve", p, data, sign_es256(p, data.encode()), "bad-signature", y=off_curve)
    ec_block("rs256-with-an-ec-key", p, data, sign_es256(p, data.encode()), "key-mismatch", alg="RS256")
    # A key whose x starts with a zero byte, encoded without it: the same point.
    while True:
        z = ec_key()
        zx = int_bytes(z.public_key().public_numbers().x, 32)
        if zx[0] == 0:
            break
    ec_block("es256-short-coordinate", z, data, sign_es256(z, data.encode()), "valid", x=zx.lstrip(b"\x00"))

    header = "# Generated by generate.py (Python cryptography); do not edit by hand.\n"
    with open(os.path.join(HERE, "vectors.txt"), "w") as f:
        f.write(header + "\n" + "\n\n".join("\n".join(b) for b in blocks) + "\n")


def oidc_files():
    rsa_signer, ec_signer, stranger = rsa_key(), ec_key(), rsa_key()
    jwks = {"keys": [rsa_jwk(rsa_signer, "rsa-1"), ec_jwk(ec_signer, "ec-1"),
                     # Keys the server must pass over: an encryption key and an unsupported curve.
                     {**rsa_jwk(stranger, "enc-1"), "use": "enc"},
                     {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}]}
    escaped = "idp.keyhaven.test%2Ftenant.json"
    with open(os.path.join(HERE, "oidc", escaped), "w") as f:
        json.dump(jwks, f, indent=2)
        f.write("\n")

    base = {"iss": ISSUER, "sub": SUBJECT, "aud": CLIENT_ID, "iat": START - 10, "exp": START + 3600,
            "amr": ["pwd", "mfa"]}
    rs = {"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}
    es = {"alg": "ES256", "typ": "JWT", "kid": "ec-1"}
    tokens = {
        "rs256": jwt(rs, base, sign_rs256, rsa_signer),
        "es256": jwt(es, base, sign_es256, ec_signer),
        "es256_without_kid": jwt({"alg": "ES256"}, base, sign_es256, ec_signer),
        "audience_list": jwt(rs, {**base, "aud": ["another-client", CLIENT_ID]}, sign_rs256, rsa_signer),
        "wrong_audience": jwt(rs, {**base, "aud": "another-client"}, sign_rs256, rsa_signer),
        "expired": jwt(rs, {**base, "iat": START - 7200, "exp": START - 600}, sign_rs256, rsa_signer),
        "expired_within_skew": jwt(rs, {**base, "iat": START - 3600, "exp": START - 60}, sign_rs256, rsa_signer),
        "not_yet_valid": jwt(rs, {**base, "nbf": START + 3600}, sign_rs256, rsa_signer),
        "issued_in_the_future": jwt(rs, {**base, "iat": START + 3600, "exp": START + 7200}, sign_rs256, rsa_signer),
        "fractional_exp": jwt(rs, {**base, "exp": START + 3600.5}, sign_rs256, rsa_signer),
        "missing_exp": jwt(rs, {k: v for k, v in base.items() if k != "exp"}, sign_rs256, rsa_signer),
        "missing_sub": jwt(rs, {k: v for k, v in base.items() if k != "sub"}, sign_rs256, rsa_signer),
        "signed_by_stranger": jwt(rs, base, sign_rs256, stranger),
        "encryption_key": jwt({**rs, "kid": "enc-1"}, base, sign_rs256, stranger),
        "unknown_kid": jwt({**rs, "kid": "rsa-2"}, base, sign_rs256, rsa_signer),
        "es256_kid_on_rsa_key": jwt({**es, "kid": "rsa-1"}, base, sign_es256, ec_signer),
        "unknown_issuer": jwt(rs, {**base, "iss": "https://other.keyhaven.test"}, sign_rs256, rsa_signer),
        "http_issuer": jwt(rs, {**base, "iss": "http://idp.keyhaven.test/tenant"}, sign_rs256, rsa_signer),
        "alg_none": jwt({"alg": "none", "typ": "JWT"}, base),
        "hs256": jwt({"alg": "HS256", "typ": "JWT"}, base, lambda _k, d: b"\x00" * 32, None),
        "critical_header": jwt({**rs, "crit": ["exp"]}, base, sign_rs256, rsa_signer),
        "other_subject": jwt(rs, {**base, "sub": "repo:example/other:ref:refs/heads/main"}, sign_rs256, rsa_signer),
    }
    # A valid signature over one payload, carried with another: the payload was altered.
    head, _payload, signature = tokens["rs256"].split(".")
    forged = b64url(json.dumps({**base, "sub": "repo:example/admin:ref:refs/heads/main"}).encode())
    tokens["altered_payload"] = ".".join([head, forged, signature])
    with open(os.path.join(HERE, "tokens.json"), "w") as f:
        json.dump({"_note": "Generated by generate.py; times are relative to START = 1700000000.",
                   "issuer": ISSUER, "client_id": CLIENT_ID, "subject": SUBJECT, "tokens": tokens}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    vectors_file()
    oidc_files()
