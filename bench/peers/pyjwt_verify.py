"""ES256 JWT verification rate of PyJWT (Debian python3-jwt) on one core.

Usage: /usr/bin/python3 pyjwt_verify.py SECONDS
Prints {"pyjwt": {"wall": per_second, "cpu": per_cpu_second}}: jwt.decode
with the signature, exp, iss and aud checked, on one token signed with a
fresh P-256 key. Per CPU second is what `openssl speed` counts too.
"""

import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec


def main():
    seconds = float(sys.argv[1])
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    now = int(time.time())
    token = jwt.encode(
        {"iss": "bench", "sub": "alice", "aud": "A", "iat": now,
         "exp": now + 3600, "jti": "bench-jti", "scope": "orders.read"},
        key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "bench"})
    n = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    end = start + seconds
    now = start
    while now < end:
        for _ in range(100):
            claims = jwt.decode(token, public, algorithms=["ES256"],
                                issuer="bench", audience="A")
            assert claims["sub"] == "alice"
        n += 100
        now = time.perf_counter()
    cpu = time.process_time() - cpu_start
    print(json.dumps({"pyjwt": {"wall": n / (now - start), "cpu": n / cpu}}))


if __name__ == "__main__":
    main()
