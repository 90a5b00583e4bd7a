"""hvac's auth.approle and auth.jwt calls against leasehold: a workload logs in with its own
credential, leases a database role with the token it gets, and is revoked in one call."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import hvac
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import issue, unique

ISSUER = "https://ci.example"


class Jwks:
    """A JWKS endpoint on a free port serving one freshly generated RSA key."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid="k1", use="sig", alg="RS256")
        body = json.dumps({"keys": [public]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/keys"

    def sign(self, **overrides):
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "leasehold", "sub": "repo:org/app:ref:main", "repo": "org/app",
                  "iat": now, "nbf": now, "exp": now + 300}
        claims.update(overrides)
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def jwks():
    server = Jwks()
    yield server
    server.server.shutdown()


def reader_policy(client, role):
    name = unique("reader")
    client.sys.create_or_update_policy(name, f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    return name


def test_approle_login_then_revoke_the_workload(client, server, make_role, pg):
    role = make_role()
    policy = reader_policy(client, role)
    mount = unique("approle")
    client.sys.enable_auth_method("approle", path=mount)
    client.auth.approle.create_or_update_approle(
        "ci", token_policies=[policy], token_ttl="10m", secret_id_num_uses=2, mount_point=mount)
    role_id = client.auth.approle.read_role_id("ci", mount_point=mount)["data"]["role_id"]
    secret = client.auth.approle.generate_secret_id("ci", mount_point=mount)["data"]["secret_id"]

    workload = hvac.Client(url=server.addr)
    login = workload.auth.approle.login(role_id=role_id, secret_id=secret, mount_point=mount)
    assert login["auth"]["metadata"]["role_name"] == "ci"
    assert workload.is_authenticated()
    creds = issue(workload, role)
    assert pg.can_login(creds.username, creds.password)
    # Two uses: the second login works, the third is refused.
    hvac.Client(url=server.addr).auth.approle.login(role_id=role_id, secret_id=secret, mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=server.addr).auth.approle.login(role_id=role_id, secret_id=secret, mount_point=mount)

    report = client.write("sys/leases/revoke-workload", workload=f"auth/{mount}/role/ci")["data"]
    assert report["revoked_leases"] == 1 and report["leases"][0]["account"] == creds.username
    assert not pg.role_exists(creds.username)
    assert workload.is_authenticated() is False
    client.sys.disable_auth_method(mount)


def test_jwt_login_and_refusals(client, server, make_role, pg, jwks):
    role = make_role()
    policy = reader_policy(client, role)
    mount = unique("jwt")
    client.sys.enable_auth_method("jwt", path=mount)
    client.auth.jwt.configure(jwks_url=jwks.url, bound_issuer=ISSUER, path=mount)
    client.auth.jwt.create_role(
        "deploy", user_claim="sub", allowed_redirect_uris=[], role_type="jwt",
        bound_audiences=["leasehold"], bound_claims={"repo": "org/app"},
        token_policies=[policy], token_ttl="10m", path=mount,
    )
    pipeline = hvac.Client(url=server.addr)
    login = pipeline.auth.jwt.jwt_login("deploy", jwks.sign(), path=mount)
    assert login["auth"]["lease_duration"] == 600
    creds = issue(pipeline, role)
    assert pg.can_login(creds.username, creds.password)

    for bad in (jwks.sign(aud="elsewhere"), jwks.sign(iss="https://evil.example"),
                jwks.sign(exp=int(time.time()) - 3600), jwks.sign(repo="org/other")):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            hvac.Client(url=server.addr).auth.jwt.jwt_login("deploy", bad, path=mount)

    # Disabling the method revokes what its tokens obtained.
    client.sys.disable_auth_method(mount)
    assert not pg.role_exists(creds.username)
    assert pipeline.is_authenticated() is False
