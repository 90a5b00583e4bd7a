"""Bad input gets a 4xx in Vault's shape, and every list form a client may send works.

Errors must be `{"errors": [...]}` with `Content-Type: application/json` exactly: hvac reads the
messages only under that exact header, and shows nothing useful otherwise.
"""

import hvac
import pytest

from harness import CREATION_STATEMENTS, assert_error, issue, unique


# ---- malformed and ill-typed input ------------------------------------------------------------


@pytest.mark.parametrize("body", ['{"db_name": "pg",', "[1, 2]", "not json at all"])
def test_malformed_json_body_is_a_bad_request(server, pg_connection, body):
    resp = server.http("POST", f"database/roles/{unique('bad')}", data=body,
                       headers={"Content-Type": "application/json"})
    assert_error(resp, 400)


def test_malformed_json_on_a_sys_endpoint_is_a_bad_request(server):
    resp = server.http("PUT", "sys/leases/renew", data="{lease_id:", headers={"Content-Type": "application/json"})
    assert_error(resp, 400)


def test_unknown_role_credentials_are_a_bad_request(server, pg_connection):
    assert_error(server.http("GET", f"database/creds/{unique('ghost')}"), 400)


@pytest.mark.parametrize("field, value", [("default_ttl", "soon"), ("max_ttl", "12 parsecs"), ("default_ttl", "1 hour")])
def test_bad_ttl_in_a_role_names_the_field(client, pg_connection, field, value):
    ttls = {"default_ttl": "1h", "max_ttl": "2h", field: value}
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.secrets.database.create_role(
            name=unique("badttl"), db_name=pg_connection, creation_statements=CREATION_STATEMENTS, **ttls
        )
    assert refused.value.errors, "hvac found no errors: Content-Type was not exactly application/json"
    assert field in str(refused.value)


def test_bad_increment_in_a_renew_names_the_field(client, server, make_role):
    creds = issue(client, make_role())
    text = assert_error(
        server.http("PUT", "sys/leases/renew", json={"lease_id": creds.lease_id, "increment": "soon"}), 400
    )
    assert "increment" in text


# ---- unknown paths ----------------------------------------------------------------------------


def test_unknown_sys_path_is_not_found(server):
    assert_error(server.http("GET", "sys/definitely-not-a-path"), 404)


def test_unknown_mount_is_not_found(server):
    assert_error(server.http("GET", f"{unique('nomount')}/anything"), 404)


def test_read_of_a_missing_role_is_404_with_an_empty_error_list(server, pg_connection):
    resp = server.http("GET", f"database/roles/{unique('missing')}")
    assert resp.status_code == 404
    assert resp.headers.get("Content-Type") == "application/json"
    assert resp.json() == {"errors": []}


# ---- list forms -------------------------------------------------------------------------------


def test_every_list_form_lists_roles(client, server, make_role):
    role = make_role()
    forms = [
        ("LIST", None),                   # hvac's list_* methods
        ("GET", {"list": "true"}),        # the vault CLI and Go client
        ("GET", {"list": "True"}),        # hvac's legacy client.list
        ("GET", {"list": "1"}),           # node-vault
    ]
    for method, params in forms:
        for path in ("database/roles", "database/roles/"):
            resp = server.http(method, path, params=params)
            assert resp.status_code == 200, f"{method} {path} {params}: {resp.text}"
            assert role in resp.json()["data"]["keys"]
    assert role in client.list("database/roles")["data"]["keys"]
    strict = hvac.Client(url=server.addr, token=server.root_token, strict_http=True)
    assert role in strict.secrets.database.list_roles()["data"]["keys"]


def test_an_empty_list_is_404_with_an_empty_error_list(client, server, make_role):
    role = make_role()  # never issued: no leases under it
    resp = server.http("LIST", f"sys/leases/lookup/database/creds/{role}")
    assert resp.status_code == 404
    assert resp.headers.get("Content-Type") == "application/json"
    assert resp.json() == {"errors": []}
    assert client.list(f"sys/leases/lookup/database/creds/{role}") is None


def test_a_list_flag_that_is_not_a_boolean_is_a_bad_request(server, pg_connection):
    resp = server.http("GET", "database/roles", params={"list": "maybe"})
    assert resp.status_code == 400, resp.text
