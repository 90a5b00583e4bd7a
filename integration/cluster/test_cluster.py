"""Several leasehold servers on one shared PostgreSQL storage (issue 7).

What is checked is the effect on the target (pg_roles, a real password login) and what the
servers answer over Vault's API, never their internal bookkeeping alone.
"""

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import hvac
import pytest

from cluster import Nodes, audit_entries, destroyed_by_lease
from harness import CREATION_STATEMENTS, configure_postgres, leasehold_binary, unique, wait_until


@pytest.fixture
def nodes(pg, request):
    n = Nodes(leasehold_binary(), pg, request.node.name)
    try:
        yield n.start()
    finally:
        n.stop()


def database_role(nodes, pg, prefix, enable_on=0, configure_on=0, role_on=0, **ttls):
    """Mount `database/` on one node, point it at `pg` from another, make a role on a third
    (each waits for the others' writes to reach it); the role's name."""
    nodes.client(enable_on).sys.enable_secrets_engine("database", path="database")
    nodes.wait_for_mount("database")
    configure_postgres(nodes.client(configure_on), pg, "pg")
    role = unique(prefix)
    nodes.client(role_on).secrets.database.create_role(
        name=role, db_name="pg", creation_statements=CREATION_STATEMENTS, **ttls,
    )
    return role


def test_status_names_every_node_and_one_leader(nodes):
    addrs = {n.addr for n in nodes.nodes}
    leaders = []
    for i, node in enumerate(nodes.nodes):
        leader = node.http("GET", "sys/leader", token=None).json()
        assert leader["ha_enabled"] is True
        leaders.append((leader["is_self"], leader["leader_address"]))
        status = node.http("GET", "sys/ha-status")
        assert status.status_code == 200, status.text
        listed = status.json()["data"]["nodes"]
        assert {n["api_address"] for n in listed} == addrs
        assert sum(n["active_node"] for n in listed) == 1
        # The active node has no echo; the others show when they were last heard from.
        for n in listed:
            assert (n["last_echo"] is None) == n["active_node"]
    assert sum(is_self for is_self, _ in leaders) == 1
    assert len({addr for _, addr in leaders}) == 1
    assert leaders[0][1] in addrs
    # ha-status needs a token, like Vault's.
    assert nodes[1].http("GET", "sys/ha-status", token=None).status_code in (400, 403)


def test_issue_on_one_renew_on_another_revoke_on_a_third(nodes, pg):
    a, b, c = nodes.client(0), nodes.client(1), nodes.client(2)
    role = database_role(
        nodes, pg, "r", enable_on=0, configure_on=1, role_on=2, default_ttl="1h", max_ttl="2h"
    )
    creds = a.secrets.database.generate_credentials(name=role)
    lease_id, user, password = creds["lease_id"], creds["data"]["username"], creds["data"]["password"]
    assert pg.can_login(user, password)

    before = c.sys.read_lease(lease_id)["data"]["expire_time"]
    time.sleep(1.1)
    renewed = b.sys.renew_lease(lease_id, increment=3600)
    assert renewed["lease_id"] == lease_id and renewed["lease_duration"] > 0
    after = c.sys.read_lease(lease_id)["data"]
    assert after["expire_time"] > before and after["last_renewal"] is not None

    c.sys.revoke_lease(lease_id)
    assert not pg.role_exists(user)
    assert not pg.can_login(user, password)
    # Every node now answers for the tombstone the same way.
    for client in (a, b):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            client.sys.renew_lease(lease_id)


def test_a_policy_changed_on_one_node_applies_on_every_node(nodes, pg):
    a, b = nodes.client(0), nodes.client(1)
    role = database_role(nodes, pg, "r", default_ttl="1h")
    policy = unique("p")
    a.sys.create_or_update_policy(policy, f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    token = a.auth.token.create(policies=[policy], ttl="1h")["auth"]["client_token"]
    # Both nodes serve the token (and cache the parsed policy while doing so).
    for node in (nodes[0], nodes[1]):
        lease = node.client(token).secrets.database.generate_credentials(name=role)
        a.sys.revoke_lease(lease["lease_id"])
    # Node b narrows the policy; node a must stop honouring the old text.
    b.sys.create_or_update_policy(policy, 'path "sys/health" { capabilities = ["read"] }')

    def denied_on_a():
        try:
            nodes[0].client(token).secrets.database.generate_credentials(name=role)
            return False
        except hvac.exceptions.Forbidden:
            return True

    wait_until(denied_on_a, 10, "node a applies node b's policy change")


def test_killing_a_node_during_mass_expiry_destroys_every_account_once(nodes, pg):
    """Issue 2000 short leases across the three nodes, SIGKILL one node while they expire, and
    check that every account is gone and that the audit trail records each destruction: once,
    except for the few the killed node was destroying at the instant it died, which a survivor
    destroys (a no-op) and records again. Never zero."""
    total, ttl = 2000, 20
    a = nodes.client(0)
    audit_path = nodes.work_dir / "audit.log"
    a.sys.enable_audit_device("file", path="file", options={"file_path": str(audit_path)})
    role = database_role(nodes, pg, "mass", default_ttl=f"{ttl}s", max_ttl=f"{ttl}s")

    clients = [threading.local() for _ in nodes.nodes]

    def issue(i):
        local = clients[i % 3]
        if not hasattr(local, "c"):
            local.c = nodes.client(i % 3)
        r = local.c.secrets.database.generate_credentials(name=role)
        return r["lease_id"], r["data"]["username"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        issued = list(pool.map(issue, range(total)))
    issue_seconds = time.monotonic() - started
    lease_ids = {lid for lid, _ in issued}
    users = {u for _, u in issued}
    assert len(lease_ids) == total and len(users) == total

    def live_roles():
        return pg.query(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (list(users),)
        )[0][0]

    # Kill node 1 once a quarter of the accounts are gone: it is mid-way through its share.
    wait_until(lambda: live_roles() <= total * 3 // 4, ttl + 60, "a quarter of the leases expired")
    victim = nodes[1]
    victim_id = victim.node_id()
    victim.kill()
    killed_at = time.monotonic()

    wait_until(lambda: live_roles() == 0, 120, "every account is destroyed", interval=0.5)
    drained_seconds = time.monotonic() - killed_at
    rows = nodes.storage_rows(
        "SELECT state, count(*) FROM leases WHERE kind <> 'token' GROUP BY state ORDER BY state"
    )
    wait_until(
        lambda: nodes.storage_rows(
            "SELECT count(*) FROM leases WHERE state <> 'revoked' AND role = '%s'" % role
        )[0][0] == 0,
        30, "every lease row is a tombstone",
    )

    destroyed = destroyed_by_lease(audit_entries(audit_path))
    missing = lease_ids - set(destroyed)
    assert not missing, f"{len(missing)} destructions have no audit entry, e.g. {sorted(missing)[:3]}"
    repeated = {lid: by for lid, by in destroyed.items() if lid in lease_ids and len(by) > 1}
    # At most the destructions in flight on the victim (16 at a time), each recorded first by the
    # victim and then once by the survivor that retried it.
    assert len(repeated) <= 16, repeated
    for by in repeated.values():
        assert len(by) == 2 and by[0] == victim_id, by
    by_node = {}
    for lid, by in destroyed.items():
        if lid in lease_ids:
            by_node[by[-1]] = by_node.get(by[-1], 0) + 1
    # The work was shared: every node destroyed some, the victim only before it died.
    survivors = {n.node_id() for n in nodes.nodes if n is not victim}
    assert survivors <= set(by_node), by_node
    print(
        f"\ncluster mass expiry: {total} leases issued in {issue_seconds:.1f}s over 3 nodes; "
        f"node killed, the rest destroyed in {drained_seconds:.1f}s; destroyed by node {by_node}; "
        f"{len(repeated)} recorded twice; storage rows {rows}"
    )


def test_rotations_of_one_static_role_on_every_node_leave_a_working_password(nodes, pg):
    """Three nodes rotate one static role at once, many times. Each rotation stores the new
    password, sets it on the database, then commits it; if two interleaved, the stored password
    and the database's would differ. The storage lock keeps them apart: afterwards every node
    hands out the same password, and it logs in."""
    a = nodes.client(0)
    a.sys.enable_secrets_engine("database", path="database")
    nodes.wait_for_mount("database")
    configure_postgres(a, pg, "pg")
    user = unique("app").replace("-", "_")
    pg.query(f"CREATE ROLE \"{user}\" WITH LOGIN PASSWORD 'Init-{secrets.token_hex(8)}'")
    name = unique("static")
    a.secrets.database.create_static_role(
        name=name, db_name="pg", username=user, rotation_period=86400,
        rotation_statements=["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
    )

    def rotate(i):
        nodes.client(i % 3).secrets.database.rotate_static_role_credentials(name)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(rotate, range(30)))
    passwords = {
        nodes.client(i).secrets.database.get_static_credentials(name)["data"]["password"]
        for i in range(3)
    }
    assert len(passwords) == 1
    assert pg.can_login(user, passwords.pop())


def test_a_killed_leader_is_replaced_and_drops_out_of_the_member_list(nodes):
    def leader_of(node):
        return node.http("GET", "sys/leader", token=None).json()

    old = next(n for n in nodes.nodes if leader_of(n)["is_self"])
    survivors = [n for n in nodes.nodes if n is not old]
    old.kill()
    # The lock lapses 10 s after the last renewal; a survivor takes it on its next heartbeat.
    new_addr = wait_until(
        lambda: (lambda l: l["leader_address"] if l["leader_address"] not in ("", old.addr) else None)(
            leader_of(survivors[0])
        ),
        20, "a survivor leads",
    )
    assert new_addr in {n.addr for n in survivors}
    assert sum(leader_of(n)["is_self"] for n in survivors) == 1
    listed = wait_until(
        lambda: (lambda ns: ns if len(ns) == 2 else None)(
            survivors[0].http("GET", "sys/ha-status").json()["data"]["nodes"]
        ),
        20, "the dead node drops out of sys/ha-status",
    )
    assert {n["api_address"] for n in listed} == {n.addr for n in survivors}


def test_an_approval_request_crosses_nodes(nodes, pg):
    """A credential that waits for approval: requested on one node, approved by two approvers at
    the same moment on the other two (both approvals count: the record is changed with a
    compare-and-put, not overwritten), collected on a third — and only then does the role exist."""
    role = database_role(nodes, pg, "approved")
    root = nodes.client(0)
    root.sys.create_or_update_policy("requester", f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    root.sys.create_or_update_policy(
        "approver", 'path "sys/control-group/*" { capabilities = ["update"] }')
    root.adapter.post("/v1/sys/approval/tiers/two", json={
        "factors": [{"name": "ops", "policies": ["approver"], "approvals": 2}]})
    root.adapter.post(f"/v1/database/roles/{role}", json={"db_name": "pg", "approval_tier": "two"})

    def token(node, policies):
        made = nodes.client(node).auth.token.create(policies=policies)
        return made["auth"]["client_token"]

    requester = nodes[0].client(token(0, ["requester"]))
    held = requester.adapter.get(f"/v1/database/creds/{role}", params={"purpose": "cross-node"})
    info = held["wrap_info"]
    assert held["data"] is None and info["accessor"]
    users_before = pg.query("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", (f"%{role}%",))[0][0]
    assert users_before == 0

    approvers = [nodes[i].client(token(i, ["approver"])) for i in (1, 2)]

    def approve(client):
        return client.adapter.post(
            "/v1/sys/control-group/authorize", json={"accessor": info["accessor"]})["data"]["approved"]

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(approve, approvers))
    assert sorted(outcomes) == [False, True], outcomes
    status = nodes.client(1).adapter.post(
        "/v1/sys/control-group/request", json={"accessor": info["accessor"]})["data"]
    assert status["state"] == "approved" and len(status["authorizations"]) == 2

    collected = nodes[2].client(info["token"]).sys.unwrap()
    user, password = collected["data"]["username"], collected["data"]["password"]
    assert collected["lease_id"].startswith(f"database/creds/{role}/")
    assert pg.can_login(user, password)
    # Once only, on any node.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        nodes[0].client(root.token).sys.unwrap(info["token"])
