"""auth/token/lookup-self and what an unknown token gets: 403, never 401 (hvac raises on 401)."""

import hvac
import pytest

from harness import assert_error


def test_lookup_self_describes_the_root_token(client, server):
    me = client.auth.token.lookup_self()["data"]
    assert me["id"] == server.root_token
    assert "root" in me["policies"]
    assert isinstance(me["accessor"], str) and me["accessor"]
    assert isinstance(me["ttl"], int)


def test_is_authenticated_with_the_root_token(client):
    assert client.is_authenticated() is True


def test_is_authenticated_is_false_for_an_unknown_token(server):
    # hvac returns False on 403 and raises Unauthorized on 401.
    assert hvac.Client(url=server.addr, token="not-a-real-token").is_authenticated() is False


def test_unknown_token_is_forbidden(server):
    stranger = hvac.Client(url=server.addr, token="not-a-real-token")
    with pytest.raises(hvac.exceptions.Forbidden) as denied:
        stranger.auth.token.lookup_self()
    assert denied.value.errors  # hvac parsed the errors: Content-Type was exactly application/json


def test_missing_and_unknown_tokens_get_permission_denied(server):
    text = assert_error(server.http("GET", "auth/token/lookup-self", token=None), 403)
    assert "permission denied" in text
    text = assert_error(server.http("GET", "database/roles", token="nope", params={"list": "true"}), 403)
    assert "permission denied" in text


def test_bearer_authorization_header_is_accepted(server):
    resp = server.http(
        "GET", "auth/token/lookup-self", token=None,
        headers={"Authorization": f"Bearer {server.root_token}"},
    )
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == server.root_token


# --- tokens, policies and what dies with a token (issue 4) ---------------------------------------

from harness import issue, unique  # noqa: E402


def test_token_create_lookup_renew_revoke(client, server):
    created = client.auth.token.create(ttl="5m", explicit_max_ttl="10m", meta={"team": "ci"})
    auth = created["auth"]
    assert auth["lease_duration"] == 300 and auth["renewable"] is True
    token, accessor = auth["client_token"], auth["accessor"]

    looked = client.auth.token.lookup(token)["data"]
    assert looked["accessor"] == accessor and looked["meta"] == {"team": "ci"}
    assert client.auth.token.lookup_accessor(accessor)["data"]["id"] == ""

    child_client = hvac.Client(url=server.addr, token=token)
    renewed = child_client.auth.token.renew_self(increment="2m")
    assert renewed["auth"]["lease_duration"] == 120

    client.auth.token.revoke_accessor(accessor)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.auth.token.lookup_accessor(accessor)
    assert child_client.is_authenticated() is False


def test_periodic_and_orphan_tokens(client):
    periodic = client.auth.token.create(period="30m")
    assert periodic["auth"]["lease_duration"] == 1800
    assert client.auth.token.lookup(periodic["auth"]["client_token"])["data"]["period"] == 1800
    orphan = client.auth.token.create_orphan(ttl="1m")
    assert orphan["auth"]["orphan"] is True


def test_policies_gate_requests(client, server, make_role, pg):
    name = unique("pol")
    role = make_role()
    client.sys.create_or_update_policy(name, f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    assert name in client.sys.list_policies()["data"]["policies"]
    limited = hvac.Client(url=server.addr, token=client.auth.token.create(policies=[name])["auth"]["client_token"])
    creds = issue(limited, role)
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.secrets.database.list_roles()
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.sys.revoke_lease(creds.lease_id)
    # The default policy lets it renew its own lease.
    assert limited.sys.renew_lease(creds.lease_id)["lease_id"] == creds.lease_id
    client.sys.revoke_lease(creds.lease_id)


def test_revoking_a_token_destroys_the_accounts_it_obtained(client, server, make_role, pg):
    role = make_role()
    name = unique("pol")
    client.sys.create_or_update_policy(
        name,
        f'path "database/creds/{role}" {{ capabilities = ["read"] }}\n'
        'path "auth/token/create" { capabilities = ["update"] }',
    )
    parent_token = client.auth.token.create(policies=[name])["auth"]["client_token"]
    parent = hvac.Client(url=server.addr, token=parent_token)
    child = hvac.Client(url=server.addr, token=parent.auth.token.create(policies=[name])["auth"]["client_token"])
    creds = issue(child, role)
    assert pg.can_login(creds.username, creds.password)
    client.auth.token.revoke(parent_token)
    assert not pg.role_exists(creds.username)
    assert child.is_authenticated() is False


def test_token_roles(client):
    name = unique("role")
    resp = client.auth.token.create_or_update_role(name, allowed_policies=["default"], orphan=True)
    assert resp.status_code == 204
    assert name in client.auth.token.list_roles()["data"]["keys"]
    assert client.auth.token.read_role(name)["data"]["orphan"] is True
    minted = client.auth.token.create(role_name=name, ttl="1m")
    assert minted["auth"]["orphan"] is True
    client.auth.token.delete_role(name)
