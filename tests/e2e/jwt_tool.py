"""JSON Web Tokens for the tests, made by another implementation than warden's (PyJWT with
`cryptography`): `jwt_tool.py jwks KEY.pem KID` prints `{"jwks": …}` with the key's public
half; `jwt_tool.py token KEY.pem KID CLAIMS` prints `{"token": …}`, the claims (JSON) signed
with RS256 (an RSA key) or ES256 (a P-256 key), `exp` in a minute unless given.
"""

import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def key(path):
    with open(path, "rb") as f:
        return load_pem_private_key(f.read(), password=None)


def main(command, path, kid, *rest):
    private = key(path)
    rsa_key = isinstance(private, rsa.RSAPrivateKey)
    if command == "jwks":
        to_jwk = RSAAlgorithm.to_jwk if rsa_key else ECAlgorithm.to_jwk
        public = json.loads(to_jwk(private.public_key()))
        public.update(kid=kid, use="sig")
        print(json.dumps({"jwks": {"keys": [public]}}))
    elif command == "token":
        claims = {"exp": int(time.time()) + 60, **json.loads(rest[0])}
        alg = "RS256" if rsa_key else "ES256"
        assert rsa_key or isinstance(private, ec.EllipticCurvePrivateKey)
        print(json.dumps({"token": jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})}))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
