"""A target that is down when its accounts must die.

The lease is not forgotten: lookup shows it in state `revoking` with the last error and the
number of attempts (fields OpenBao-style, beyond Vault's lookup), and once the target is back the
account is destroyed within seconds. These tests stop their own cluster, never the shared one.
"""

import hvac
import pytest

from harness import CLUSTERS, configure_postgres, issue, unique, wait_until
from pgcluster import PgCluster


@pytest.fixture(scope="module")
def outage_cluster():
    with PgCluster() as cluster:
        CLUSTERS.append(cluster)
        yield cluster
        CLUSTERS.remove(cluster)


@pytest.fixture
def target(client, outage_cluster):
    """A connection on the outage cluster; the cluster is running again after each test."""
    name = unique("flaky")
    configure_postgres(client, outage_cluster, name)
    yield name
    outage_cluster.start()


@pytest.fixture
def flaky_role(client, target):
    def make(default_ttl="1h"):
        name = unique("flaky-role")
        client.secrets.database.create_role(
            name=name, db_name=target, default_ttl=default_ttl, max_ttl="1h",
            creation_statements=["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                                 "VALID UNTIL '{{expiration}}';"],
        )
        return name

    return make


def failing_revocation(client, lease_id):
    """The lookup data once it shows a failed destruction attempt, else None."""
    data = client.sys.read_lease(lease_id)["data"]
    error = data.get("revoke_error") or data.get("last_error")
    if data.get("state") == "revoking" and data.get("revoke_attempts", 0) >= 1 and error:
        return data
    return None


def assert_revoking_with_error(client, lease_id):
    data = wait_until(lambda: failing_revocation(client, lease_id), 15,
                      "lookup shows state=revoking with an error and an attempt count")
    assert data["id"] == lease_id
    error = data.get("revoke_error") or data.get("last_error")
    assert isinstance(error, str) and error.strip()
    assert isinstance(data["revoke_attempts"], int)
    return data


def test_async_revoke_during_an_outage_completes_when_the_target_returns(
    client, server, outage_cluster, flaky_role
):
    creds = issue(client, flaky_role())
    assert outage_cluster.can_login(creds.username, creds.password)

    outage_cluster.stop()
    resp = server.http("PUT", "sys/leases/revoke", json={"lease_id": creds.lease_id, "sync": False})
    assert resp.status_code == 202
    assert_revoking_with_error(client, creds.lease_id)
    assert client.sys.read_health_status(method="GET")["sealed"] is False  # still serving

    outage_cluster.start()
    wait_until(lambda: not outage_cluster.role_exists(creds.username), 15,
               f"role {creds.username} is dropped after the target returns")
    assert not outage_cluster.can_login(creds.username, creds.password)


def test_expiry_during_an_outage_completes_when_the_target_returns(client, outage_cluster, flaky_role):
    creds = issue(client, flaky_role(default_ttl="2s"))
    outage_cluster.stop()

    assert_revoking_with_error(client, creds.lease_id)

    outage_cluster.start()
    wait_until(lambda: not outage_cluster.role_exists(creds.username), 15,
               f"role {creds.username} is dropped after the target returns")


def test_sync_revoke_during_an_outage_fails_and_keeps_the_lease(client, outage_cluster, flaky_role):
    creds = issue(client, flaky_role())
    outage_cluster.stop()

    # A synchronous revoke must not report success while the account still exists.
    with pytest.raises(hvac.exceptions.VaultError) as failed:
        client.sys.revoke_lease(creds.lease_id)
    assert failed.value.errors
    assert_revoking_with_error(client, creds.lease_id)

    outage_cluster.start()
    wait_until(lambda: not outage_cluster.role_exists(creds.username), 15,
               f"role {creds.username} is dropped after the target returns")


def test_revoke_force_during_an_outage_forgets_the_lease_and_says_so(
    client, server, outage_cluster, flaky_role
):
    role = flaky_role()
    creds = issue(client, role)
    outage_cluster.stop()

    resp = server.http("PUT", f"sys/leases/revoke-force/database/creds/{role}")
    assert resp.status_code in (200, 204), resp.text
    if resp.status_code == 200:
        warnings = resp.json().get("warnings") or []
        assert any(creds.username in w for w in warnings), warnings
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases(f"database/creds/{role}")

    outage_cluster.start()
    outage_cluster.query(f'DROP ROLE IF EXISTS "{creds.username}"')  # what the admin now owns
