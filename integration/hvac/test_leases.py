"""sys/leases: lookup, list, renew, revoke in all its forms, tidy, count, irrevocable list.

Every revocation is proven in PostgreSQL: the role is gone from pg_roles and its password no longer
logs in.
"""

import time

import hvac
import psycopg
import pytest

from harness import CREATION_STATEMENTS, assert_error, issue, parse_time, unique, wait_until


def suffix(lease_id):
    return lease_id.rsplit("/", 1)[1]


# ---- lookup and list --------------------------------------------------------------------------


def test_lookup_gives_id_expiry_and_ttl(client, make_role):
    role = make_role(default_ttl="1h")
    creds = issue(client, role)

    lease = client.sys.read_lease(creds.lease_id)["data"]
    assert lease["id"] == creds.lease_id
    assert lease["renewable"] is True
    assert 3590 <= lease["ttl"] <= 3600
    assert abs(parse_time(lease["expire_time"]) - (time.time() + 3600)) < 30
    assert abs(parse_time(lease["issue_time"]) - time.time()) < 30


def test_list_is_one_level_deep_and_404_once_empty(client, pg, make_role):
    role = make_role()
    a, b = issue(client, role), issue(client, role)

    keys = client.sys.list_leases(f"database/creds/{role}")["data"]["keys"]
    assert sorted(keys) == sorted([suffix(a.lease_id), suffix(b.lease_id)])
    assert f"{role}/" in client.sys.list_leases("database/creds")["data"]["keys"]
    assert "creds/" in client.sys.list_leases("database")["data"]["keys"]

    client.sys.revoke_lease(a.lease_id)
    client.sys.revoke_lease(b.lease_id)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases(f"database/creds/{role}")


def test_list_accepts_a_trailing_slash_and_get_list_true(client, server, make_role):
    role = make_role()
    creds = issue(client, role)
    for method, params in (("LIST", None), ("GET", {"list": "true"})):
        resp = server.http(method, f"sys/leases/lookup/database/creds/{role}/", params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["keys"] == [suffix(creds.lease_id)]


# ---- renew ------------------------------------------------------------------------------------


def test_renew_with_an_increment_moves_the_lease_and_valid_until(client, pg, make_role):
    role = make_role(default_ttl="1h", max_ttl="24h")
    creds = issue(client, role)

    renewed = client.sys.renew_lease(creds.lease_id, increment=600)
    assert renewed["lease_id"] == creds.lease_id
    assert renewed["renewable"] is True
    assert renewed["lease_duration"] == 600
    assert 590 <= client.sys.read_lease(creds.lease_id)["data"]["ttl"] <= 600
    # User story 2: the account's own expiry moves with the lease.
    valid_until = pg.role(creds.username)["valid_until"]
    assert time.time() + 600 - 30 <= valid_until <= time.time() + 600 + 60
    assert pg.can_login(creds.username, creds.password)


def test_renew_without_increment_uses_the_role_default(client, make_role):
    role = make_role(default_ttl="30m", max_ttl="24h")
    creds = issue(client, role)
    renewed = client.sys.renew_lease(creds.lease_id)  # hvac sends "increment": null
    assert 1795 <= renewed["lease_duration"] <= 1800


def test_renew_past_max_ttl_is_capped_with_vaults_warning(client, pg, make_role):
    role = make_role(default_ttl="1h", max_ttl="2h")
    creds = issue(client, role)

    renewed = client.sys.renew_lease(creds.lease_id, increment=3 * 3600)
    assert 7000 < renewed["lease_duration"] <= 7200
    assert any("exceeded the effective max_ttl" in w for w in renewed["warnings"] or []), renewed["warnings"]
    valid_until = pg.role(creds.username)["valid_until"]
    assert valid_until <= time.time() + 7200 + 60


def test_legacy_sys_renew_with_the_id_in_the_path(client, server, make_role):
    role = make_role(default_ttl="1h")
    creds = issue(client, role)
    resp = server.http("PUT", f"sys/renew/{creds.lease_id}", json={"increment": "5m"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["lease_id"] == creds.lease_id
    assert resp.json()["lease_duration"] == 300


def test_renewing_unknown_or_revoked_leases_is_a_bad_request(client, make_role):
    with pytest.raises(hvac.exceptions.InvalidRequest) as unknown:
        client.sys.renew_lease("database/creds/nobody/AAAAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.value.errors

    creds = issue(client, make_role())
    client.sys.revoke_lease(creds.lease_id)
    with pytest.raises(hvac.exceptions.InvalidRequest) as revoked:
        client.sys.renew_lease(creds.lease_id, increment=60)
    assert revoked.value.errors


# ---- revoke -----------------------------------------------------------------------------------


def test_revoke_destroys_the_role_and_ends_its_sessions(client, pg, make_role):
    creds = issue(client, make_role())
    session = pg.connect(creds.username, creds.password)
    session.execute("SELECT 1")

    resp = client.sys.revoke_lease(creds.lease_id)

    assert resp.status_code == 204
    assert not pg.role_exists(creds.username)
    assert not pg.can_login(creds.username, creds.password)

    def session_is_dead():
        try:
            session.execute("SELECT 1")
            return False
        except psycopg.Error:
            return True

    wait_until(session_is_dead, 5, "the session opened before revocation is terminated")
    session.close()


def test_revoking_an_unknown_lease_is_idempotent(client):
    assert client.sys.revoke_lease("database/creds/nobody/AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 204


def test_async_revoke_answers_202_then_destroys(client, server, pg, make_role):
    creds = issue(client, make_role())
    resp = server.http("PUT", "sys/leases/revoke", json={"lease_id": creds.lease_id, "sync": False})
    assert resp.status_code == 202
    assert resp.content == b""
    wait_until(lambda: not pg.role_exists(creds.username), 10, f"role {creds.username} is dropped")
    assert not pg.can_login(creds.username, creds.password)


def test_revoke_prefix_takes_the_role_and_nothing_beside_it(client, pg, make_role):
    role = make_role(prefix="pfx")
    # A role whose name extends the first one: "<role>" must not match "<role>x".
    neighbour = role + "x"
    client.secrets.database.create_role(
        name=neighbour, db_name="pg", creation_statements=CREATION_STATEMENTS, default_ttl="1h"
    )
    mine = [issue(client, role), issue(client, role)]
    theirs = issue(client, neighbour)

    assert client.sys.revoke_prefix(f"database/creds/{role}/").status_code == 204

    for creds in mine:
        assert not pg.role_exists(creds.username)
        assert not pg.can_login(creds.username, creds.password)
    assert pg.can_login(theirs.username, theirs.password)
    assert client.sys.list_leases(f"database/creds/{neighbour}")["data"]["keys"] == [suffix(theirs.lease_id)]


def test_revoke_prefix_with_a_full_lease_id(client, pg, make_role):
    # hvac's own suite passes a whole lease id as the prefix.
    role = make_role()
    target, other = issue(client, role), issue(client, role)
    client.sys.revoke_prefix(target.lease_id)
    assert not pg.role_exists(target.username)
    assert pg.role_exists(other.username)


def test_legacy_revoke_prefix_path(client, server, pg, make_role):
    # node-vault's revokePrefix: PUT sys/revoke-prefix/<prefix>
    role = make_role()
    creds = issue(client, role)
    resp = server.http("PUT", f"sys/revoke-prefix/database/creds/{role}")
    assert resp.status_code == 204, resp.text
    assert not pg.role_exists(creds.username)


def test_revoke_force_removes_the_leases_and_destroys_healthy_accounts(client, pg, make_role):
    role = make_role()
    creds = issue(client, role)
    resp = client.sys.revoke_force(f"database/creds/{role}")
    # Vault answers 204; leasehold may answer 200 with warnings naming accounts that may remain.
    status = getattr(resp, "status_code", 200)
    assert status in (200, 204)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases(f"database/creds/{role}")
    wait_until(lambda: not pg.role_exists(creds.username), 10, f"role {creds.username} is dropped")


# ---- tidy, count, irrevocable -----------------------------------------------------------------


def test_tidy_is_accepted(server):
    resp = server.http("PUT", "sys/leases/tidy")
    assert resp.status_code == 202, resp.text
    if resp.content:
        assert isinstance(resp.json().get("warnings"), list)


def test_count_of_irrevocable_leases(server):
    resp = server.http("GET", "sys/leases/count", params={"type": "irrevocable"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert isinstance(data["lease_count"], int) and data["lease_count"] >= 0
    assert isinstance(data["counts"], dict)


def test_count_with_an_unknown_type_is_a_client_error(server):
    resp = server.http("GET", "sys/leases/count", params={"type": "everything"})
    assert 400 <= resp.status_code < 500, resp.text


def test_list_of_irrevocable_leases(server):
    resp = server.http("GET", "sys/leases", params={"type": "irrevocable"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert isinstance(data["lease_count"], int)
    assert isinstance(data["leases"], list)
    for lease in data["leases"]:
        assert {"lease_id", "mount_id", "error"} <= lease.keys()


# ---- missing lease_id -------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["lookup", "renew", "revoke"])
def test_missing_lease_id_is_a_bad_request(server, endpoint):
    assert_error(server.http("PUT", f"sys/leases/{endpoint}", json={}), 400)


def test_lookup_of_an_unknown_lease_is_a_bad_request(client, server):
    assert_error(server.http("PUT", "sys/leases/lookup", json={"lease_id": "database/creds/x/" + unique("y")}), 400)
