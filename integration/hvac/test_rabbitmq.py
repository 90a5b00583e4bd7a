"""The rabbitmq engine through hvac's `secrets.rabbitmq` calls, unchanged, against this machine's
RabbitMQ (AMQP 5672, management API 15672, guest/guest; the harness enables the management
plugin if it is off). Every credential hvac is given is used with pika: it publishes and
consumes inside its vhost permissions and is refused outside them; once revoked it cannot log in
and the connection it had open is closed."""

import json

import hvac
import pika
import pika.exceptions
import pytest

from harness import RABBITMQ_MANAGEMENT, RabbitMq, unique, wait_until

PERMISSIONS = {"/": {"configure": "^ok-", "write": ".*", "read": "^ok-"}}


@pytest.fixture(scope="module")
def broker():
    return RabbitMq.ready()


@pytest.fixture
def mount(client, broker):
    """A fresh `rabbitmq` mount configured with hvac; its path."""
    path = unique("rabbitmq")
    client.sys.enable_secrets_engine("rabbitmq", path=path)
    client.secrets.rabbitmq.configure(
        connection_uri=RABBITMQ_MANAGEMENT, username="guest", password="guest", mount_point=path)
    return path


def login(user, password, vhost="/"):
    """A blocking pika connection, or the exception the broker's refusal raised."""
    params = pika.ConnectionParameters(
        "127.0.0.1", 5672, vhost, pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)
    return pika.BlockingConnection(params)


def refused(user, password, vhost="/"):
    try:
        login(user, password, vhost).close()
    except (pika.exceptions.ProbableAccessDeniedError, pika.exceptions.ProbableAuthenticationError,
            pika.exceptions.ConnectionClosedByBroker):
        return True
    return False


def test_issued_user_publishes_and_consumes_only_within_its_permissions(client, broker, mount):
    client.secrets.rabbitmq.configure_lease(ttl=3600, max_ttl=7200, mount_point=mount)
    assert client.read(f"{mount}/config/lease")["data"] == {"ttl": 3600, "max_ttl": 7200}
    client.secrets.rabbitmq.create_role(
        "app", tags="management", vhosts=json.dumps(PERMISSIONS), mount_point=mount)
    role = client.secrets.rabbitmq.read_role("app", mount_point=mount)["data"]
    assert role["tags"] == "management" and role["vhosts"] == PERMISSIONS
    assert "app" in client.list(f"{mount}/roles")["data"]["keys"]

    creds = client.secrets.rabbitmq.generate_credentials("app", mount_point=mount)
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_duration"] == 3600 and creds["renewable"] is True
    assert creds["lease_id"].startswith(f"{mount}/creds/app/")
    assert broker.user_exists(user)

    queue = unique("ok-q")
    conn = login(user, password)
    ch = conn.channel()
    ch.queue_declare(queue, exclusive=True)
    ch.basic_publish("", queue, b"hello")
    body = wait_until(lambda: ch.basic_get(queue, auto_ack=True)[2], 5, "the message arrives")
    assert body == b"hello"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as denied:
        conn.channel().queue_declare(unique("no-q"))
    assert denied.value.reply_code == 403

    # A second connection, open at revocation: it must be closed by it.
    other = login(user, password)
    client.sys.revoke_lease(creds["lease_id"])
    assert not broker.user_exists(user)
    assert refused(user, password)
    with pytest.raises(pika.exceptions.AMQPError):
        other.channel().queue_declare(queue, passive=True)
        other.process_data_events(time_limit=2)


def test_no_login_outside_the_roles_vhosts_and_roles_are_deleted(client, broker, mount):
    vhost = unique("lh-vhost")
    assert broker.api("PUT", f"vhosts/{vhost}", json={}).status_code in (201, 204)
    try:
        client.secrets.rabbitmq.create_role("app", vhosts=json.dumps(PERMISSIONS), mount_point=mount)
        creds = client.secrets.rabbitmq.generate_credentials("app", mount_point=mount)
        user, password = creds["data"]["username"], creds["data"]["password"]
        login(user, password).close()
        assert refused(user, password, vhost)
        client.sys.revoke_lease(creds["lease_id"])
    finally:
        broker.api("DELETE", f"vhosts/{vhost}")
    client.secrets.rabbitmq.delete_role("app", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown role"):
        client.secrets.rabbitmq.generate_credentials("app", mount_point=mount)


def test_an_expired_lease_deletes_the_user_without_a_request(client, broker, mount):
    client.secrets.rabbitmq.configure_lease(ttl=2, max_ttl=60, mount_point=mount)
    client.secrets.rabbitmq.create_role("short", vhosts=json.dumps(PERMISSIONS), mount_point=mount)
    creds = client.secrets.rabbitmq.generate_credentials("short", mount_point=mount)
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_duration"] == 2
    conn = login(user, password)
    wait_until(lambda: not broker.user_exists(user), 15, f"{user} is deleted at expiry")
    assert refused(user, password)
    with pytest.raises(pika.exceptions.AMQPError):
        conn.channel()
        conn.process_data_events(time_limit=2)


def test_a_wrong_password_or_a_refused_field_stores_nothing(client, mount):
    with pytest.raises(hvac.exceptions.InvalidRequest, match="verify_connection"):
        client.secrets.rabbitmq.configure(connection_uri=RABBITMQ_MANAGEMENT, username="guest",
                                          password="wrong", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="vhosts: unknown field"):
        client.secrets.rabbitmq.create_role(
            "typo", vhosts=json.dumps({"/": {"wrte": ".*"}}), mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.rabbitmq.read_role("typo", mount_point=mount)
