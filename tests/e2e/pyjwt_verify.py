"""Verifies a token issued by sigild with PyJWT, a standard JOSE library.

Usage: pyjwt_verify.py ISSUE_JSON_FILE JWKS_JSON_FILE ISSUER

ISSUE_JSON_FILE is `sigilctl --json issue u A,B --scopes=orders.read`,
JWKS_JSON_FILE is `sigilctl --json jwks`. Exits 0 when PyJWT accepts the
token for audiences A and B and rejects it for Z; otherwise prints what
went wrong and exits 1.
"""

import json
import sys

import jwt


def fail(message):
    print(f"pyjwt_verify: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def main():
    if len(sys.argv) != 4:
        fail("usage: pyjwt_verify.py ISSUE_JSON_FILE JWKS_JSON_FILE ISSUER")
    with open(sys.argv[1]) as f:
        issued = json.load(f)
    with open(sys.argv[2]) as f:
        jwks = json.load(f)
    issuer = sys.argv[3]
    token = issued["access_token"]

    header = jwt.get_unverified_header(token)
    expect(header.get("typ") == "at+jwt", f"typ is {header.get('typ')!r}")
    expect(header.get("alg") == "ES256", f"alg is {header.get('alg')!r}")
    kid = header.get("kid")
    expect(isinstance(kid, str) and kid, f"kid is {kid!r}")
    matching = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    expect(len(matching) == 1,
           f"JWKS has {len(matching)} keys with kid {kid!r}: {jwks}")
    key = jwt.PyJWK(matching[0], algorithm="ES256").key

    required = ["iss", "sub", "aud", "iat", "exp", "jti"]
    for audience in ("A", "B"):
        try:
            claims = jwt.decode(token, key, algorithms=["ES256"],
                                audience=audience, issuer=issuer,
                                options={"require": required})
        except jwt.PyJWTError as e:
            fail(f"PyJWT rejected the token for audience {audience}: {e!r}")
        for name in ("jti", "sid", "sub", "scope"):
            expect(name in claims, f"claim {name} missing: {claims}")
        expect(claims["sub"] == "u", f"sub is {claims['sub']!r}")
        expect(claims["scope"].split() == ["orders.read"],
               f"scope is {claims['scope']!r}")
        expect(claims["jti"] == issued["token_id"],
               f"jti {claims['jti']!r} != token_id {issued['token_id']!r}")
        expect(claims["sid"] == issued["session_id"],
               f"sid {claims['sid']!r} != session_id "
               f"{issued['session_id']!r}")

    try:
        jwt.decode(token, key, algorithms=["ES256"], audience="Z",
                   issuer=issuer)
        fail("PyJWT accepted the token for audience Z")
    except jwt.InvalidAudienceError:
        pass
    try:
        jwt.decode(token, key, algorithms=["ES256"], audience="A",
                   issuer="https://someone.else")
        fail("PyJWT accepted the token for another issuer")
    except jwt.InvalidIssuerError:
        pass
    print("pyjwt_verify: PyJWT accepts the token for A and B, rejects Z")


if __name__ == "__main__":
    main()
