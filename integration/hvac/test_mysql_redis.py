"""The MySQL/MariaDB and Redis drivers through hvac, against this machine's MariaDB (3306, root
without a password) and Redis (6379, default user without a password); LEASEHOLD_TEST_MYSQL_PORT
and LEASEHOLD_TEST_REDIS_PORT move them. Every credential hvac is given is checked by logging in,
and every revoked or replaced one is checked to fail; revocation must also end live sessions."""

import os
import secrets

import hvac
import pymysql
import pytest
import redis

from harness import issue, unique

MYSQL_PORT = int(os.environ.get("LEASEHOLD_TEST_MYSQL_PORT", "3306"))
REDIS_PORT = int(os.environ.get("LEASEHOLD_TEST_REDIS_PORT", "6379"))

MYSQL_CREATE = [
    "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
    "GRANT SELECT ON test.* TO '{{name}}'@'%';",
]
# Vault's form: the role's creation_statements is one JSON list of ACL rules.
REDIS_RULES = '["~lh-test:*", "+@read", "+@write", "+ping"]'


def new_password():
    return "Init-" + secrets.token_hex(8)


# ---- MariaDB ---------------------------------------------------------------------------------


def mysql_login(user, password):
    """A session as `user`, or None when the server refuses the password."""
    try:
        return pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user=user, password=password,
                               connect_timeout=5)
    except pymysql.err.OperationalError as e:
        # ER_ACCESS_DENIED_ERROR, or MariaDB's ER_ACCESS_DENIED_NO_PASSWORD_ERROR once the
        # account is gone
        assert e.args[0] in (1045, 1698), f"expected access denied, got {e}"
        return None


def mysql_admin(sql, args=None):
    conn = pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user="root", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def mysql_alive(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except pymysql.err.MySQLError:
        return False


@pytest.fixture(scope="module")
def mysql_connection(server):
    """`database/config/<name>`: the dev server's database mount pointed at MariaDB as root."""
    client = hvac.Client(url=server.addr, token=server.root_token)
    name = unique("maria")
    client.secrets.database.configure(
        name=name,
        plugin_name="mysql-database-plugin",
        allowed_roles="*",
        connection_url=f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{MYSQL_PORT})/",
        username="root",
        # The default template makes names longer than MySQL's 32 characters.
        username_template="v-{{.RoleName | truncate 8}}-{{random 20}}",
    )
    return name


def test_mysql_credentials_log_in_and_revocation_ends_their_sessions(client, mysql_connection):
    role = unique("reader")
    client.secrets.database.create_role(
        name=role, db_name=mysql_connection, creation_statements=MYSQL_CREATE, default_ttl="1h",
    )
    creds = issue(client, role)
    assert creds.username.startswith("v-reader-") and len(creds.username) <= 32
    assert creds.lease_duration == 3600 and creds.renewable is True
    session = mysql_login(creds.username, creds.password)
    assert session is not None, "the issued credential does not log in"
    assert mysql_alive(session)

    client.sys.revoke_lease(lease_id=creds.lease_id)
    assert not mysql_alive(session), "a live session survived revocation"
    assert mysql_login(creds.username, creds.password) is None
    assert mysql_admin("SELECT Host FROM mysql.user WHERE User = %s", (creds.username,)) == ()


def test_mysql_legacy_plugin_defaults_to_16_character_names_and_reset_reconnects(client):
    # No username_template: the default must fit the legacy plugins' 16 characters by itself.
    name = unique("legacy")
    client.secrets.database.configure(
        name=name, plugin_name="mysql-legacy-database-plugin", allowed_roles="*",
        connection_url=f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{MYSQL_PORT})/",
        username="root",
    )
    role = unique("legacy")
    client.secrets.database.create_role(
        name=role, db_name=name, creation_statements=MYSQL_CREATE, default_ttl="1h",
    )
    before = issue(client, role)
    assert before.username.startswith("v-") and len(before.username) <= 16, before.username

    # reset closes the connection and opens it again from the stored config.
    assert client.secrets.database.reset_connection(name).status_code == 204
    after = issue(client, role)
    for creds in (before, after):
        session = mysql_login(creds.username, creds.password)
        assert session is not None, f"{creds} does not log in"
        client.sys.revoke_lease(lease_id=creds.lease_id)
        assert not mysql_alive(session), "a live session survived revocation"
        assert mysql_login(creds.username, creds.password) is None


def test_mysql_static_role_with_hvac(client, mysql_connection):
    user, initial = "app_" + secrets.token_hex(5), new_password()
    mysql_admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{initial}'")
    try:
        assert mysql_login(user, initial) is not None
        name = unique("static")
        created = client.secrets.database.create_static_role(
            name=name, db_name=mysql_connection, username=user, rotation_period=3600,
            rotation_statements=["ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"],
        )
        assert created.status_code == 204
        first = client.secrets.database.get_static_credentials(name)["data"]
        assert first["username"] == user
        assert 3600 - 5 <= first["ttl"] <= 3600
        assert mysql_login(user, first["password"]) is not None, "static-creds does not log in"
        assert mysql_login(user, initial) is None, "the imported password still logs in"

        assert client.secrets.database.rotate_static_role_credentials(name).status_code == 204
        second = client.secrets.database.get_static_credentials(name)["data"]
        assert second["password"] != first["password"]
        assert mysql_login(user, second["password"]) is not None
        assert mysql_login(user, first["password"]) is None, "the rotated-out password works"
        client.secrets.database.delete_static_role(name)
    finally:
        mysql_admin(f"DROP USER IF EXISTS '{user}'@'%'")


# ---- Redis -----------------------------------------------------------------------------------


def redis_login(user, password):
    """A connection as `user`, or None when the server refuses the password."""
    try:
        # A single-connection client authenticates as it is made.
        conn = redis.Redis(host="127.0.0.1", port=REDIS_PORT, username=user, password=password,
                           socket_timeout=5, single_connection_client=True)
        conn.ping()
        return conn
    except redis.exceptions.AuthenticationError:
        return None


def redis_admin():
    return redis.Redis(host="127.0.0.1", port=REDIS_PORT, socket_timeout=5)


def redis_alive(conn):
    try:
        conn.ping()
        return True
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="module")
def redis_connection(server):
    """`database/config/<name>` in Vault's Redis form: host and port, the default user."""
    client = hvac.Client(url=server.addr, token=server.root_token)
    name = unique("redis")
    client.secrets.database.configure(
        name=name, plugin_name="redis-database-plugin", allowed_roles="*",
        host="127.0.0.1", port=REDIS_PORT,
    )
    return name


def test_redis_connection_reads_back_in_vaults_shape(client, redis_connection):
    details = client.secrets.database.read_connection(redis_connection)["data"]
    assert details["plugin_name"] == "redis-database-plugin"
    assert details["connection_details"]["host"] == "127.0.0.1"
    assert details["connection_details"]["port"] == REDIS_PORT
    assert details["connection_details"]["tls"] is False


def test_redis_credentials_log_in_within_their_rules_and_revocation_ends_them(
    client, redis_connection
):
    role = unique("cache")
    client.secrets.database.create_role(
        name=role, db_name=redis_connection, creation_statements=REDIS_RULES, default_ttl="1h",
    )
    creds = issue(client, role)
    session = redis_login(creds.username, creds.password)
    assert session is not None, "the issued credential does not log in"
    key = "lh-test:" + secrets.token_hex(4)
    session.set(key, "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        session.set("elsewhere:" + key, "1")

    client.sys.revoke_lease(lease_id=creds.lease_id)
    assert not redis_alive(session), "a live connection survived revocation"
    assert redis_login(creds.username, creds.password) is None
    assert redis_admin().acl_getuser(creds.username) is None
    redis_admin().delete(key)


def test_redis_static_role_with_hvac(client, redis_connection):
    user, initial = "app-" + secrets.token_hex(5), new_password()
    redis_admin().acl_setuser(user, enabled=True, passwords=["+" + initial], keys=["lh-test:*"],
                              commands=["+@read", "+ping"])
    try:
        assert redis_login(user, initial) is not None
        name = unique("static")
        created = client.secrets.database.create_static_role(
            name=name, db_name=redis_connection, username=user, rotation_statements=[],
            rotation_period=3600,
        )
        assert created.status_code == 204
        first = client.secrets.database.get_static_credentials(name)["data"]
        assert first["username"] == user
        assert redis_login(user, first["password"]) is not None, "static-creds does not log in"
        assert redis_login(user, initial) is None, "the imported password still logs in"

        assert client.secrets.database.rotate_static_role_credentials(name).status_code == 204
        second = client.secrets.database.get_static_credentials(name)["data"]
        assert second["password"] != first["password"]
        assert redis_login(user, second["password"]) is not None
        assert redis_login(user, first["password"]) is None, "the rotated-out password works"
        # The user's rules are the application's, not the engine's: rotation leaves them.
        acl = redis_admin().acl_getuser(user)
        assert acl["keys"] == ["~lh-test:*"] and acl["categories"] == ["-@all", "+@read"], acl
        assert len(acl["passwords"]) == 1, "the old password hash was left beside the new one"
        client.secrets.database.delete_static_role(name)
    finally:
        redis_admin().acl_deluser(user)
