"""sys/health, sys/seal-status and the mount table, as hvac drives them."""

import hvac
import pytest

from harness import CREATION_STATEMENTS, configure_postgres, issue, unique, wait_until


def test_health_answers_head_without_a_body(client):
    # hvac's default: HEAD, returns the raw response and never raises.
    resp = client.sys.read_health_status()
    assert resp.status_code == 200
    assert resp.content == b""


def test_health_answers_get_with_the_node_state(client):
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert health["standby"] is False
    # hvac renders Python booleans as `True`: the server must parse them case-insensitively.
    again = client.sys.read_health_status(method="GET", standby_ok=True)
    assert again["sealed"] is False


def test_health_needs_no_token(server):
    assert server.http("GET", "sys/health", token=None).status_code == 200


def test_seal_status_says_initialized_and_unsealed(client):
    status = client.sys.read_seal_status()
    assert status["initialized"] is True
    assert status["sealed"] is False
    assert client.sys.is_sealed() is False


def test_mount_list_has_database_mount_in_data_and_at_top_level(client):
    mounts = client.sys.list_mounted_secrets_engines()
    assert mounts["data"]["database/"]["type"] == "database"
    assert all(path.endswith("/") for path in mounts["data"]), list(mounts["data"])
    # Legacy shape (node-vault's examples): the same map copied to the top level.
    assert mounts["database/"]["type"] == "database"
    entry = mounts["data"]["database/"]
    assert isinstance(entry["accessor"], str) and entry["accessor"]
    assert isinstance(entry["config"]["default_lease_ttl"], int)
    assert isinstance(entry["config"]["max_lease_ttl"], int)


def test_enable_with_duration_strings_then_read_and_disable(client, server):
    path = unique("db")
    resp = client.sys.enable_secrets_engine(
        backend_type="database",
        path=path,
        description="scratch mount",
        config={"default_lease_ttl": "1h", "max_lease_ttl": "2h"},
    )
    assert resp.status_code == 204

    listed = client.sys.list_mounted_secrets_engines()["data"][f"{path}/"]
    assert listed["type"] == "database"
    assert listed["config"]["default_lease_ttl"] == 3600
    assert listed["config"]["max_lease_ttl"] == 7200

    one = server.http("GET", f"sys/mounts/{path}")
    assert one.status_code == 200
    assert one.json()["data"]["type"] == "database"
    assert one.json()["data"]["config"]["default_lease_ttl"] == 3600

    tune = client.sys.read_mount_configuration(path)["data"]
    assert tune["default_lease_ttl"] == 3600
    assert tune["max_lease_ttl"] == 7200

    assert client.sys.disable_secrets_engine(path).status_code == 204
    assert f"{path}/" not in client.sys.list_mounted_secrets_engines()["data"]


def test_enable_refuses_a_bad_duration_a_taken_path_and_an_unknown_type(client):
    with pytest.raises(hvac.exceptions.InvalidRequest) as bad_ttl:
        client.sys.enable_secrets_engine("database", path=unique("db"), config={"default_lease_ttl": "soon"})
    assert bad_ttl.value.errors
    with pytest.raises(hvac.exceptions.InvalidRequest) as taken:
        client.sys.enable_secrets_engine("database", path="database")
    assert taken.value.errors
    with pytest.raises(hvac.exceptions.InvalidRequest) as unknown:
        client.sys.enable_secrets_engine("no-such-engine", path=unique("x"))
    assert unknown.value.errors


def test_disabling_a_mount_destroys_the_accounts_of_its_leases(client, pg):
    path = unique("db")
    client.sys.enable_secrets_engine("database", path=path)
    configure_postgres(client, pg, "pg", mount_point=path)
    client.secrets.database.create_role(
        name="migrate", db_name="pg", creation_statements=CREATION_STATEMENTS, default_ttl="1h",
        mount_point=path,
    )
    creds = issue(client, "migrate", mount_point=path)
    assert creds.lease_id.startswith(f"{path}/creds/migrate/")
    assert pg.can_login(creds.username, creds.password)

    client.sys.disable_secrets_engine(path)

    wait_until(lambda: not pg.role_exists(creds.username), 10, f"role {creds.username} is dropped")
    assert not pg.can_login(creds.username, creds.password)
    assert f"{path}/" not in client.sys.list_mounted_secrets_engines()["data"]
