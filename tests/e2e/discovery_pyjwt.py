"""PyJWT finds sigild's keys through OIDC discovery and verifies a token.

Usage: discovery_pyjwt.py BASE_URL ISSUER ISSUE_JSON_FILE

BASE_URL is sigild's --http_listen as http://host:port, ISSUE_JSON_FILE is
`sigilctl --json issue u A,B`. Follows /.well-known/openid-configuration to
its jwks_uri with PyJWKClient, as a relying party configured with only the
issuer's URL would, then checks the audience and issuer. Exits 0 when
everything holds; otherwise prints what went wrong and exits 1.
"""

import json
import sys
import urllib.request

import jwt


def fail(message):
    print(f"discovery_pyjwt: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def main():
    if len(sys.argv) != 4:
        fail("usage: discovery_pyjwt.py BASE_URL ISSUER ISSUE_JSON_FILE")
    base_url, issuer, issue_file = sys.argv[1:]
    with open(issue_file) as f:
        token = json.load(f)["access_token"]

    with urllib.request.urlopen(
            f"{base_url}/.well-known/openid-configuration") as response:
        config = json.load(response)
    expect(config.get("issuer") == issuer,
           f"discovery issuer is {config.get('issuer')!r}, want {issuer!r}")
    jwks_uri = config.get("jwks_uri")
    expect(jwks_uri == f"{base_url}/.well-known/jwks.json",
           f"jwks_uri is {jwks_uri!r}")
    algorithms = config.get("id_token_signing_alg_values_supported")
    expect(algorithms == ["ES256"], f"algorithms are {algorithms!r}")

    header = jwt.get_unverified_header(token)
    expect(header.get("typ") == "at+jwt", f"typ is {header.get('typ')!r}")
    signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)

    for audience in ("A", "B"):
        try:
            claims = jwt.decode(token, signing_key.key, algorithms=algorithms,
                                audience=audience, issuer=issuer,
                                options={"require": ["iss", "sub", "aud",
                                                    "iat", "exp", "jti"]})
        except jwt.PyJWTError as e:
            fail(f"PyJWT rejected the token for audience {audience}: {e!r}")
        expect(claims["sub"] == "u", f"sub is {claims['sub']!r}")

    rejections = [
        ("audience Z", dict(audience="Z", issuer=issuer),
         jwt.InvalidAudienceError),
        ("another issuer", dict(audience="A", issuer="https://other.test"),
         jwt.InvalidIssuerError),
    ]
    for name, kwargs, error in rejections:
        try:
            jwt.decode(token, signing_key.key, algorithms=algorithms, **kwargs)
            fail(f"PyJWT accepted the token for {name}")
        except error:
            pass

    head, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    tampered = ".".join([head, payload, flipped + signature[1:]])
    try:
        jwt.decode(tampered, signing_key.key, algorithms=algorithms,
                   audience="A", issuer=issuer)
        fail("PyJWT accepted a token with a changed signature")
    except jwt.InvalidSignatureError:
        pass
    print("discovery_pyjwt: PyJWKClient found the key through discovery; "
          "the token verifies for A and B only, from this issuer only")


if __name__ == "__main__":
    main()
