"""The database engine through hvac's `secrets.database`: connections, roles, credentials that log in."""

import json
import re
import time

import hvac
import pytest

from harness import (
    CREATION_STATEMENTS,
    ENVELOPE_KEYS,
    PLUGIN,
    configure_postgres,
    connection_url,
    issue,
    unique,
)


def test_connection_read_never_returns_the_password(client, pg, pg_connection):
    name = unique("conn")
    configure_postgres(client, pg, name, allowed_roles=["readonly", "migrate"])

    read = client.secrets.database.read_connection(name)
    assert read["data"]["plugin_name"] == PLUGIN
    details = read["data"]["connection_details"]
    assert details["connection_url"] == connection_url(pg)
    assert details["username"] == "postgres"
    assert "password" not in details
    assert pg.password not in json.dumps(read)
    assert read["data"]["allowed_roles"] == ["readonly", "migrate"]


def test_connections_are_listed_and_deleted(client, pg, pg_connection):
    name = unique("conn")
    configure_postgres(client, pg, name)
    keys = client.secrets.database.list_connections()["data"]["keys"]
    assert name in keys and pg_connection in keys

    assert client.secrets.database.delete_connection(name).status_code == 204
    assert name not in client.secrets.database.list_connections()["data"]["keys"]
    with pytest.raises((hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest)):
        client.secrets.database.read_connection(name)


def test_configure_with_a_wrong_root_password_is_refused_without_echoing_it(client, pg):
    wrong = "wrong-" + unique("pw")
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.configure(
            name=unique("conn"), plugin_name=PLUGIN, allowed_roles="*",
            connection_url=connection_url(pg), username="postgres", password=wrong,
        )
    assert refused.value.errors
    assert wrong not in str(refused.value)


def test_role_reads_back_with_statement_arrays_and_integer_ttls(client, make_role):
    name = make_role(default_ttl="1h", max_ttl="24h")

    role = client.secrets.database.read_role(name)
    assert ENVELOPE_KEYS <= role.keys()
    data = role["data"]
    assert data["db_name"] == "pg"
    assert data["creation_statements"] == CREATION_STATEMENTS
    assert data["revocation_statements"] == []
    assert data["rollback_statements"] == []
    assert data["renew_statements"] == []
    assert data["default_ttl"] == 3600 and type(data["default_ttl"]) is int
    assert data["max_ttl"] == 86400 and type(data["max_ttl"]) is int


def test_roles_are_listed_and_deleted(client, make_role):
    name = make_role()
    assert name in client.secrets.database.list_roles()["data"]["keys"]

    assert client.secrets.database.delete_role(name).status_code == 204
    assert name not in client.secrets.database.list_roles()["data"]["keys"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.database.read_role(name)


def test_issued_credentials_log_in_until_their_lease_ends(client, pg, make_role):
    role = make_role(default_ttl="1h", max_ttl="24h")
    before = time.time()

    resp = client.secrets.database.generate_credentials(role)
    assert ENVELOPE_KEYS <= resp.keys()
    assert resp["mount_type"] == "database"
    assert re.fullmatch(rf"database/creds/{role}/[A-Za-z0-9._-]+", resp["lease_id"]), resp["lease_id"]
    assert resp["renewable"] is True
    assert resp["lease_duration"] == 3600

    username, password = resp["data"]["username"], resp["data"]["password"]
    with pg.connect(username, password) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == username
    # The database's own backstop: VALID UNTIL at the lease's end (plus a small buffer).
    valid_until = pg.role(username)["valid_until"]
    assert before + 3600 - 5 <= valid_until <= time.time() + 3600 + 60


def test_each_request_gets_its_own_account(client, make_role):
    role = make_role()
    a, b = issue(client, role), issue(client, role)
    assert a.username != b.username
    assert a.password != b.password
    assert a.lease_id != b.lease_id


def test_statements_given_as_one_string_are_split_on_semicolons(client, pg, make_role):
    role = make_role(creation_statements=" ".join(CREATION_STATEMENTS))
    creds = issue(client, role)
    # The GRANT ran: the new role may create a table in public.
    with pg.connect(creds.username, creds.password) as conn:
        conn.execute(f'CREATE TABLE "t_{unique("s").replace("-", "_")}" (id int)')


def test_unknown_role_is_a_bad_request(client, pg_connection):
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.generate_credentials(unique("no-such-role"))
    assert refused.value.errors


def test_a_table_made_by_the_credential_survives_its_revocation(client, pg, make_role):
    # User story 1: a migration creates tables; revoking its role must not fail on them nor lose them.
    role = make_role(prefix="migrate")
    creds = issue(client, role)
    table = "t_" + unique("m").replace("-", "_")
    with pg.connect(creds.username, creds.password) as conn:
        conn.execute(f'CREATE TABLE "{table}" (id int)')
        conn.execute(f'INSERT INTO "{table}" VALUES (1)')

    client.sys.revoke_lease(creds.lease_id)

    assert not pg.role_exists(creds.username)
    owner = pg.query("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,))
    assert owner == [("postgres",)], "the table must survive, owned by the connection's user"
    assert pg.query(f'SELECT count(*) FROM "{table}"') == [(1,)]
