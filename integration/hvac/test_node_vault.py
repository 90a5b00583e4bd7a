"""node-vault 0.12.0, unchanged, against leasehold: each call runs the real client in node
(integration/node/call.js, installed by integration/setup-node.sh) and its effect is checked in
PostgreSQL. What node-vault needs from a server: only 200 and 204 resolve, a 204
resolves to "", revokePrefix uses the legacy sys/revoke-prefix path, addPolicy sends `rules`,
empty POSTs come as application/x-www-form-urlencoded, lists use the LIST verb."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import REPO, unique

NODE_DIR = Path(os.environ.get("LEASEHOLD_NODE", Path.home() / ".cache/leasehold/node"))
CALL = REPO / "integration" / "node" / "call.js"


@pytest.fixture
def node(server):
    """`node(command, args=None, token=...)`: one node-vault call; its JSON result."""

    def call(command, args=None, token=None):
        env = dict(os.environ, VAULT_ADDR=server.addr, VAULT_TOKEN=token or server.root_token,
                   NODE_PATH=str(NODE_DIR / "node_modules"))
        argv = ["node", str(CALL), command] + ([json.dumps(args)] if args is not None else [])
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return call


def ok(answer):
    assert "ok" in answer, answer
    return answer["ok"]


def test_database_credentials_renew_lookup_and_revoke(node, pg, make_role):
    role = make_role()
    creds = ok(node("generateDatabaseCredentials", {"databasePath": "database", "name": role}))
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert pg.can_login(user, password)

    renewed = ok(node("renew", {"lease_id": creds["lease_id"], "increment": 600}))
    # startLeaseRenewal reads these at the top level.
    assert renewed["lease_duration"] == 600 and renewed["renewable"] is True
    looked = ok(node("write", {"path": "sys/leases/lookup", "data": {"lease_id": creds["lease_id"]}}))
    assert looked["data"]["id"] == creds["lease_id"]

    listed = ok(node("list", {"path": f"sys/leases/lookup/database/creds/{role}/"}))
    assert creds["lease_id"].rsplit("/", 1)[1] in listed["data"]["keys"]

    # A 204 resolves to "".
    assert ok(node("revoke", {"lease_id": creds["lease_id"]})) == ""
    assert not pg.role_exists(user)
    assert not pg.can_login(user, password)


def test_revoke_prefix_uses_the_legacy_path_and_destroys_every_account(node, pg, make_role):
    role = make_role()
    users = [
        ok(node("generateDatabaseCredentials", {"databasePath": "database", "name": role}))
        ["data"]["username"]
        for _ in range(2)
    ]
    assert all(pg.role_exists(u) for u in users)
    answer = node("revokePrefix", {"path_prefix": f"database/creds/{role}"})
    assert ok(answer) == ""
    assert not any(pg.role_exists(u) for u in users)


def test_tokens_policies_and_errors(node):
    policy = unique("nv")
    rules = 'path "database/creds/*" { capabilities = ["read"] }'
    assert ok(node("addPolicy", {"name": policy, "rules": rules})) == ""
    assert ok(node("getPolicy", {"name": policy}))["rules"] == rules

    # tokenCreate captures the child's token: later calls of that client use it.
    created = node("tokenCreate", {"policies": [policy], "ttl": "1h"})
    child = ok(created)["auth"]["client_token"]
    assert created["token"] == child
    me = ok(node("tokenLookupSelf", token=child))["data"]
    assert me["policies"] == ["default", policy] and 3590 <= me["ttl"] <= 3600
    # An empty POST (form content type, no body) renews.
    renewed = ok(node("tokenRenewSelf", token=child))
    assert renewed["auth"]["lease_duration"] > 0
    # Its policy does not reach sys/: node-vault shows Vault's first error message.
    refused = node("mounts", token=child)["error"]
    assert refused["status"] == 403 and refused["message"] == "permission denied"
    # leasehold answers a revocation with its report (Vault: 204); node-vault takes either.
    assert ok(node("tokenRevokeSelf", token=child))["data"]["revoked_tokens"] == 1
    assert node("tokenLookupSelf", token=child)["error"]["status"] == 403

    missing = node("generateDatabaseCredentials", {"databasePath": "database", "name": "no-such"})
    assert missing["error"]["status"] in (400, 404)
    assert "no-such" in missing["error"]["message"]


def test_mounts_and_health_in_the_shapes_node_vault_reads(node):
    mounts = ok(node("mounts"))
    # Its own example reads the mount map at the top level.
    assert mounts["database/"]["type"] == "database"
    assert mounts["data"]["database/"]["type"] == "database"
    health = ok(node("health"))
    assert health["initialized"] is True and health["sealed"] is False
