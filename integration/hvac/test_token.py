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
