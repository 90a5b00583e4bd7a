"""Static roles and root rotation through hvac's `secrets.database`: every password hvac is given
is checked by logging in to PostgreSQL, and every password replaced is checked to fail."""

import json
import secrets
import time

import hvac
import pytest

from harness import (
    CREATION_STATEMENTS,
    ENVELOPE_KEYS,
    PLUGIN,
    connection_url,
    issue,
    parse_time,
    unique,
    wait_until,
)

ROTATION_STATEMENTS = ["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"]


def existing_user(pg, superuser=False):
    """A login role made behind leasehold's back, as an application's user would be."""
    user = unique("app").replace("-", "_")
    password = "Init-" + secrets.token_hex(8)
    pg.query(
        f'CREATE ROLE "{user}" WITH LOGIN {"SUPERUSER " if superuser else ""}PASSWORD \'{password}\''
    )
    assert pg.can_login(user, password)
    return user, password


def test_create_static_role_takes_over_an_existing_users_password(client, pg, pg_connection):
    user, initial = existing_user(pg)
    name = unique("static")

    created = client.secrets.database.create_static_role(
        name=name, db_name=pg_connection, username=user,
        rotation_statements=ROTATION_STATEMENTS, rotation_period=86400,
    )
    assert created.status_code == 204

    creds = client.secrets.database.get_static_credentials(name)
    assert ENVELOPE_KEYS <= creds.keys()
    assert creds["lease_id"] == "" and creds["lease_duration"] == 0 and creds["renewable"] is False
    data = creds["data"]
    assert data["username"] == user
    assert 86400 - 5 <= data["ttl"] <= 86400
    assert data["rotation_period"] == 86400
    assert abs(parse_time(data["last_vault_rotation"]) - time.time()) < 60
    assert pg.can_login(user, data["password"]), "static-creds password does not log in"
    assert not pg.can_login(user, initial), "the imported password still logs in"

    role = client.secrets.database.read_static_role(name)["data"]
    assert role["db_name"] == pg_connection
    assert role["username"] == user
    assert role["rotation_statements"] == ROTATION_STATEMENTS
    assert role["rotation_period"] == 86400
    assert role["credential_type"] == "password"
    assert data["password"] not in json.dumps(role)
    assert name in client.secrets.database.list_static_roles()["data"]["keys"]

    # rotate-role: a new password that logs in; the one handed out before stops working.
    assert client.secrets.database.rotate_static_role_credentials(name).status_code == 204
    rotated = client.secrets.database.get_static_credentials(name)["data"]
    assert rotated["password"] != data["password"]
    assert pg.can_login(user, rotated["password"])
    assert not pg.can_login(user, data["password"])

    # Deleting the role leaves the user and its password alone.
    assert client.secrets.database.delete_static_role(name).status_code == 204
    assert pg.can_login(user, rotated["password"])
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.secrets.database.get_static_credentials(name)


def test_a_due_rotation_happens_before_static_creds_answer(client, pg, pg_connection):
    user, _ = existing_user(pg)
    name = unique("static")
    client.secrets.database.create_static_role(
        name=name, db_name=pg_connection, username=user,
        rotation_statements=ROTATION_STATEMENTS, rotation_period=5,
    )
    first = client.secrets.database.get_static_credentials(name)["data"]
    assert first["ttl"] <= 5

    def rotated():
        now = client.secrets.database.get_static_credentials(name)["data"]
        return now if now["password"] != first["password"] else None

    second = wait_until(rotated, timeout=15, what="the 5 s rotation period passes")
    assert pg.can_login(user, second["password"])
    assert not pg.can_login(user, first["password"])


def test_static_role_refusals(client, pg, pg_connection, make_role):
    user, initial = existing_user(pg)
    dynamic = make_role()
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.create_static_role(
            name=dynamic, db_name=pg_connection, username=user, rotation_statements=[],
        )
    assert refused.value.errors == ["Role and Static Role names must be unique"]

    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.create_static_role(
            name=unique("static"), db_name=pg_connection, username=user, rotation_statements=[],
            rotation_period=4,
        )
    assert refused.value.errors == ["rotation_period must be 5 seconds or more"]

    name = unique("static")
    client.secrets.database.create_static_role(
        name=name, db_name=pg_connection, username=user, rotation_statements=[],
    )
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.create_static_role(
            name=name, db_name=pg_connection, username=user + "_other", rotation_statements=[],
        )
    assert refused.value.errors == ["cannot update static account username"]
    assert not pg.can_login(user, initial)


def test_rotate_root_credentials_changes_the_connection_users_password(client, pg):
    # A superuser of this test's own: the suite's other connections use "postgres".
    root, root_password = existing_user(pg, superuser=True)
    conn = unique("rootrot")
    client.secrets.database.configure(
        name=conn, plugin_name=PLUGIN, allowed_roles="*", connection_url=connection_url(pg),
        username=root, password=root_password,
    )
    role = unique("role")
    client.secrets.database.create_role(
        name=role, db_name=conn, creation_statements=CREATION_STATEMENTS, default_ttl="1h",
    )
    before = issue(client, role)

    resp = client.secrets.database.rotate_root_credentials(conn)
    assert resp.status_code == 204, resp.text
    assert resp.text == ""
    assert not pg.can_login(root, root_password), "the connection user's old password still works"

    details = client.secrets.database.read_connection(conn)["data"]["connection_details"]
    assert "password" not in details

    # The engine logs in with the password only it knows: it still issues and revokes.
    after = issue(client, role)
    assert pg.can_login(after.username, after.password)
    for creds in (before, after):
        client.sys.revoke_lease(lease_id=creds.lease_id)
        assert not pg.role_exists(creds.username)
    # Rotating again works from the rotated password.
    assert client.secrets.database.rotate_root_credentials(conn).status_code == 204
    again = issue(client, role)
    assert pg.can_login(again.username, again.password)
    client.sys.revoke_lease(lease_id=again.lease_id)
