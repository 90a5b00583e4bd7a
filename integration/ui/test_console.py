"""The web console in Debian's Chromium against a real `leasehold server -dev` and the throwaway
PostgreSQL. Each test sets the server up through the API, runs one scenario of console.mjs (which
drives the page the way a person would, and fails on any CSP violation, script error or dialog),
then checks the effect where it happens: in `pg_roles`, or on the API with the same token.

Screenshots of the main screens go to integration/.work/ui/screenshots/.
"""

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import hvac
import requests

from harness import CREATION_STATEMENTS, Creds, unique
# The hvac suite's JWKS endpoint and token signer (integration/hvac is on sys.path: conftest).
from test_auth_methods import ISSUER, Jwks

HERE = Path(__file__).resolve().parent
SHOTS = HERE.parent / ".work" / "ui" / "screenshots"


def console(scenario, server, token, **args):
    """Run one scenario of console.mjs; answers what it printed (JSON)."""
    args.update(addr=server.addr, token=token, shots=str(SHOTS))
    done = subprocess.run(
        ["node", str(HERE / "console.mjs"), scenario, json.dumps(args)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 0, f"console.mjs {scenario} failed:\n{done.stderr}\n{done.stdout}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def issue(server, token, role, **params):
    """`GET database/creds/<role>` with purpose/ticket fields hvac's method cannot send."""
    resp = requests.get(f"{server.addr}/v1/database/creds/{role}", params=params,
                        headers={"X-Vault-Token": token}, timeout=30)
    assert resp.status_code == 200, resp.text
    return Creds(resp.json())


def test_sign_in_keeps_the_token_in_session_storage_only(server):
    out = console("signin", server, server.root_token)
    assert out == {"signedIn": True}


def test_a_credential_issued_through_the_api_appears_in_the_table(server, make_role, pg):
    role = make_role()
    creds = issue(server, server.root_token, role, purpose="migrate the orders table", ticket="CHG-1")
    assert pg.can_login(creds.username, creds.password)
    out = console("see", server, server.root_token, lease_id=creds.lease_id, role=role)
    cells = out["cells"]
    # At a phone's width each row is a card whose cells carry their own labels.
    assert out["phone"] == {"cell": "grid", "label": '"Account"', "headerShown": False}, out
    account, mount_role, _workload, purpose, issued, expires, state = cells
    assert account == creds.username
    assert mount_role == f"database/{role}"
    assert purpose == "migrate the orders table / CHG-1"
    assert issued.startswith("20")
    assert expires.startswith("in ")
    assert state == "active"


def stuck_lease(server, make_role):
    """A lease whose destruction fails (its revocation statement calls no such function), revoked
    and retried until it is irrevocable (IRREVOCABLE_AFTER failures). Answers (role, creds)."""
    role = make_role(prefix="stuck", revocation_statements=["SELECT leasehold_no_such_function();"])
    creds = issue(server, server.root_token, role)
    resp = server.http("PUT", "sys/leases/revoke", json={"lease_id": creds.lease_id, "sync": False})
    assert resp.status_code in (202, 204), resp.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = server.http("GET", "sys/leases/list",
                             params={"list": "true", "role": role, "state": "irrevocable"}).json()
        if creds.lease_id in listed["data"]["keys"]:
            return role, creds
        time.sleep(0.2)
    raise AssertionError(f"{creds.lease_id} did not become irrevocable: {listed}")


def approle(client, hcl):
    """An AppRole mount whose role `ci` gets a policy of `hcl`: its mount, role ID, a secret
    ID, the workload's name and the policy."""
    policy = unique("ci")
    client.sys.create_or_update_policy(policy, hcl)
    mount = unique("approle")
    client.sys.enable_auth_method("approle", path=mount)
    client.auth.approle.create_or_update_approle("ci", token_policies=[policy], token_ttl="10m",
                                                 mount_point=mount)
    role_id = client.auth.approle.read_role_id("ci", mount_point=mount)["data"]["role_id"]
    secret = client.auth.approle.generate_secret_id("ci", mount_point=mount)["data"]["secret_id"]
    return SimpleNamespace(mount=mount, role_id=role_id, secret=secret,
                           name=f"auth/{mount}/role/ci", policy=policy)


def approle_workload(client, role):
    """A workload that may read `database/creds/<role>` and create child tokens."""
    return approle(client, f'path "database/creds/{role}" {{ capabilities = ["read"] }}\n'
                   'path "auth/token/create" { capabilities = ["update"] }')


def test_counts_by_mount_role_and_state_highlight_irrevocable(server, make_role):
    role = make_role()
    for _ in range(2):
        issue(server, server.root_token, role)
    stuck_role, _ = stuck_lease(server, make_role)
    out = console("counts", server, server.root_token, role=role, stuck_role=stuck_role)
    assert out["role"] == {"Mount": "database/", "Role": role, "Creating": "0", "Active": "2",
                           "Revoking": "0", "Irrevocable": "0"}, out
    assert out["stuck"] == {"Mount": "database/", "Role": stuck_role, "Creating": "0", "Active": "0",
                            "Revoking": "1", "Irrevocable": "1"}, out
    assert "state-irrevocable" in out["stuckClass"], out
    assert "state-irrevocable" not in (out["roleClass"] or ""), out
    assert out["caption"].startswith("All live leases:"), out


def test_evidence_shows_irrevocable_leases_and_destroys_an_orphan(server, make_role, pg):
    _, stuck = stuck_lease(server, make_role)
    # An orphan, as tests/cli/admin.rs makes one: an account whose lease row is lost.
    role = make_role()
    creds = issue(server, server.root_token, role)
    db = sqlite3.connect(server.state_dir / "leasehold.db", timeout=5)
    try:
        with db:
            assert db.execute("DELETE FROM leases WHERE id = ?", (creds.lease_id,)).rowcount == 1
    finally:
        db.close()
    assert pg.role_exists(creds.username)
    out = console("evidence", server, server.root_token, stuck_lease=stuck.lease_id,
                  orphan=creds.username)
    assert out["stuck"]["Account"] == stuck.username, out
    assert "leasehold_no_such_function" in out["stuck"]["Last error"], out
    assert int(out["stuck"]["Attempts"]) >= 2, out
    assert out["before"]["Marked as ours"] == "yes", out
    assert out["before"]["Result"] == "kept (report only)", out
    assert out["after"]["Result"] == "destroyed", out
    assert not pg.role_exists(creds.username)


def test_privilege_duration_chart_per_mount(server, make_role):
    role = make_role()
    creds = issue(server, server.root_token, role)
    resp = server.http("PUT", "sys/leases/revoke", json={"lease_id": creds.lease_id, "sync": True})
    assert resp.status_code == 204, resp.text
    served = server.http("GET", "sys/leases/durations").json()["data"]
    expected = served["privilege_duration_seconds"]["database/"]
    out = console("charts", server, server.root_token)
    # The chart is drawn (a canvas of some size) and its table holds the server's numbers.
    assert out["width"] > 100 and out["height"] > 100, out
    assert out["counts"] == [b["count"] for b in expected["buckets"]], (out, expected)
    assert sum(out["counts"]) >= 1, out
    assert out["label"].startswith("Privilege duration on database/:"), out


def test_revoke_in_the_page_removes_the_role_from_postgres(server, make_role, pg):
    role = make_role()
    creds = issue(server, server.root_token, role)
    assert pg.role_exists(creds.username)
    console("revoke", server, server.root_token, lease_id=creds.lease_id)
    assert not pg.role_exists(creds.username)
    assert not pg.can_login(creds.username, creds.password)


def test_revoke_a_workload_by_typing_its_name(client, server, make_role, pg):
    role = make_role()
    ci = approle_workload(client, role)
    workload = hvac.Client(url=server.addr)
    workload.auth.approle.login(role_id=ci.role_id, secret_id=ci.secret, mount_point=ci.mount)
    held = [issue(server, workload.token, role, purpose="nightly export", ticket="OPS-7"),
            issue(server, workload.token, role)]
    for c in held:
        assert pg.role_exists(c.username)
    parent = workload.auth.token.lookup_self()["data"]["accessor"]
    child = hvac.Client(url=server.addr, token=workload.auth.token.create()["auth"]["client_token"])
    child_accessor = child.auth.token.lookup_self()["data"]["accessor"]

    out = console("workload", server, server.root_token, workload=ci.name, count=2, tokens=2,
                  lease_id=held[0].lease_id)
    # Its tokens, above its leases: the login and, right below it, the child it created.
    assert [t["Accessor"] for t in out["tokens"]] == [parent, f"\u2514 {child_accessor}"], out
    assert out["tokens"][0]["Children"] == "1" and out["tokens"][1]["Parent"] == parent, out
    assert all(ci.policy in t["Policies"] and t["Expires"].startswith("in ") for t in out["tokens"]), out
    assert workload.token not in json.dumps(out["tokens"]), out
    # Its page, opened from the list, shows both of its leases with their accounts.
    holds = {h["Account"]: h for h in out["holds"]}
    assert set(holds) == {c.username for c in held}, out
    assert holds[held[0].username]["Purpose / ticket"] == "nightly export / OPS-7", out
    assert all(h["State"] == "active" and h["Mount / role"] == f"database/{role}"
               and h["Expires"].startswith("in ") for h in holds.values()), out
    assert "2 account(s) destroyed" in out["caption"], out
    assert out["results"] == ["destroyed", "destroyed"], out
    # The page, read again after the revocation, lists neither tokens nor leases.
    assert out["tokens_after"] == [] and out["holds_after"] == [], out
    # Its access history: both leases live before, both ended by the revocation after, with
    # the sessions their destruction ended (none was open).
    assert {h["Account"] for h in out["history"]} == {c.username for c in held}, out
    assert all(h["How"] == "active" and h["Ended"] == "" for h in out["history"]), out
    after = {h["Account"]: h for h in out["history_after"]}
    assert set(after) == {c.username for c in held}, out
    assert all(h["How"] == "revoked" and h["Ended"] and h["Sessions"] == "0"
               and h["Mount / role"] == f"database/{role}" for h in after.values()), out
    assert child.is_authenticated() is False
    for c in held:
        assert not pg.role_exists(c.username)
    assert workload.is_authenticated() is False
    client.sys.disable_auth_method(ci.mount)


def test_a_token_without_revoke_sees_no_revoke_button_and_is_refused_by_the_api(
        client, server, make_role, pg):
    role = make_role()
    creds = issue(server, server.root_token, role)
    viewer = unique("viewer")
    client.sys.create_or_update_policy(viewer, """
path "sys/leases/list"   { capabilities = ["list", "sudo"] }
path "sys/leases/lookup" { capabilities = ["update"] }
""")
    token = client.auth.token.create(policies=[viewer], ttl="10m")["auth"]["client_token"]
    out = console("norevoke", server, token, lease_id=creds.lease_id)
    # Renew stays: the `default` policy every token holds grants `sys/leases/renew`, as Vault's.
    assert out == {"revokeVisible": False, "renewVisible": True, "workloadNavVisible": False,
                   "countsVisible": False}, out
    # What the page hides, the API refuses: the same token calling revoke itself gets 403.
    refused = server.http("PUT", "sys/leases/revoke", token=token,
                          json={"lease_id": creds.lease_id, "sync": True})
    assert refused.status_code == 403, refused.text
    assert pg.role_exists(creds.username)
    client.sys.revoke_lease(creds.lease_id)


def test_markup_in_a_purpose_renders_as_text(server, make_role):
    role = make_role()
    purpose = "<img src=x onerror=alert(1)> fix <b>orders</b>"
    creds = issue(server, server.root_token, role, purpose=purpose)
    out = console("markup", server, server.root_token, lease_id=creds.lease_id, purpose=purpose)
    assert out["purpose"] == purpose, out
    assert out["imgs"] == 0 and out["imgsInLease"] == 0, out
    assert out["fieldsHavePurpose"] is True, out


def test_an_approver_approves_a_held_request_with_a_comment(client, server, pg_connection, pg):
    approver_hcl = """
path "sys/control-group/authorize" { capabilities = ["update"] }
path "sys/control-group/deny"      { capabilities = ["update"] }
path "sys/control-group/requests"  { capabilities = ["list"] }
"""
    approver_policy = unique("approver")
    client.sys.create_or_update_policy(approver_policy, approver_hcl)
    tier = unique("tier")
    client.write_data(f"sys/approval/tiers/{tier}", data={
        "approval_ttl": "10m", "factors": [{"name": "dba", "approvals": 1, "policies": [approver_policy]}]})
    role = unique("held")
    client.write_data(f"database/roles/{role}", data={
        "db_name": pg_connection, "creation_statements": CREATION_STATEMENTS,
        "default_ttl": "30m", "max_ttl": "1h", "approval_tier": tier})
    reader = unique("reader")
    client.sys.create_or_update_policy(reader, f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    requester = client.auth.token.create(policies=[reader], ttl="10m")["auth"]["client_token"]
    held = requests.get(f"{server.addr}/v1/database/creds/{role}", params={"purpose": "add an index"},
                        headers={"X-Vault-Token": requester}, timeout=30).json()
    accessor = held["wrap_info"]["accessor"]
    approver = client.auth.token.create(policies=[approver_policy], ttl="10m")["auth"]["client_token"]

    out = console("approvals", server, approver, comment="ticket checked")
    assert "add an index" in out["text"] and role in out["text"], out
    state = server.http("POST", "sys/control-group/request", token=requester,
                        json={"accessor": accessor}).json()["data"]
    assert state["approved"] is True, state


def test_live_updates_follow_the_table_without_losing_what_the_user_set(server, make_role, pg):
    role = make_role()
    keep, ends, twice = (issue(server, server.root_token, role) for _ in range(3))
    out = console("live", server, server.root_token, role=role, keep=keep.lease_id,
                  ends=ends.lease_id, twice=twice.lease_id)
    # Issued and revoked behind the page: in and out of the list with no click, announced in
    # a polite live region; the applied filter, the typed one and focus as they were.
    assert out["liveRegion"] == "polite", out
    assert out["kept"] == {"mount": "typed-not-applied", "role": role, "focus": "workload"}, out
    # Paused: no call to the server, and the lease issued meanwhile not shown until resumed.
    assert out["paused"] == {"shown": 0, "calls": 0, "when": "paused"}, out
    # The open lease revoked elsewhere: shown as ended, no button left to press, no error.
    assert out["ended"]["revokeVisible"] is False and out["ended"]["renewVisible"] is False, out
    assert out["ended"]["fieldsKept"] is True, out
    assert "failed" not in out["ended"]["status"], out
    # Revoked by someone else while the dialog was open: nothing read while it was open, and
    # confirming sends no revoke (the page never called revoke in the whole scenario).
    assert out["twice"]["callsWhileOpen"] == 0, out
    assert out["twice"]["revokeCalls"] == 0, out
    assert "had already ended" in out["twice"]["status"], out
    assert out["twice"]["focusOnEnded"] == "lease-ended", out
    for c in (ends, twice):
        assert not pg.role_exists(c.username)
    assert pg.role_exists(keep.username)
    quiet = server.http("PUT", "sys/leases/lookup", json={"lease_id": out["quiet"]})
    assert quiet.status_code == 200, quiet.text
    for lease_id in (keep.lease_id, out["quiet"]):
        server.http("PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": True})


def test_the_incident_path_with_the_keyboard_only(client, server, make_role, pg):
    role = make_role()
    ci = approle_workload(client, role)
    workload = hvac.Client(url=server.addr)
    workload.auth.approle.login(role_id=ci.role_id, secret_id=ci.secret, mount_point=ci.mount)
    held = [issue(server, workload.token, role, purpose="incident drill"),
            issue(server, workload.token, role)]
    for c in held:
        assert pg.role_exists(c.username)
    out = console("incident", server, server.root_token, workload=ci.name, count=2,
                  lease_id=held[0].lease_id)
    assert out["back"] == "Back to the workload", out
    assert out["typedKept"] == ci.name, out
    assert "1 token(s) revoked, 2 account(s) destroyed, 0 being retried" in out["caption"], out
    assert out["results"] == ["destroyed", "destroyed"], out
    for c in held:
        assert not pg.role_exists(c.username)
    assert workload.is_authenticated() is False
    client.sys.disable_auth_method(ci.mount)


LISTER = 'path "sys/leases/list" { capabilities = ["list", "sudo"] }'


def signed_in_by_login(server, policy, method, fields, secret_label, secret, bad):
    """The `login` scenario; checks that what the page keeps is the login's token (a live token
    of `policy`) and nothing of the secret."""
    out = console("login", server, server.root_token, method=method, fields=fields,
                  secret_label=secret_label, secret=secret, bad=bad)
    # A wrong secret: refused, nothing stored.
    assert out["refused"] == 0, out
    assert out["keys"] == ["leasehold.token"] and out["local"] == 0 and out["cookie"] == "", out
    assert out["secretInPage"] is False, out
    looked = server.http("GET", "auth/token/lookup-self", token=out["session"])
    assert looked.status_code == 200, looked.text
    assert policy in looked.json()["data"]["policies"], looked.text
    assert out["session"] != secret


def test_sign_in_with_approle_keeps_the_answered_token_and_not_the_secret_id(client, server):
    ci = approle(client, LISTER)
    signed_in_by_login(server, ci.policy, "approle",
                       # Spelled as the API path: the page drops the `auth/`.
                       {"Auth mount": f"auth/{ci.mount}", "Role ID": ci.role_id}, "Secret ID", ci.secret,
                       f"{ci.secret}x")
    client.sys.disable_auth_method(ci.mount)


def test_sign_in_with_a_jwt_keeps_the_answered_token_and_not_the_jwt(client, server):
    policy = unique("lister")
    client.sys.create_or_update_policy(policy, LISTER)
    mount = unique("jwt")
    keys = Jwks()
    try:
        client.sys.enable_auth_method("jwt", path=mount)
        client.auth.jwt.configure(jwks_url=keys.url, bound_issuer=ISSUER, path=mount)
        client.auth.jwt.create_role(
            "deploy", user_claim="sub", allowed_redirect_uris=[], role_type="jwt",
            bound_audiences=["leasehold"], token_policies=[policy], token_ttl="10m", path=mount)
        signed_in_by_login(server, policy, "jwt", {"Auth mount": mount, "Role": "deploy"}, "JWT",
                           keys.sign(), keys.sign(aud="elsewhere"))
    finally:
        keys.server.shutdown()
        client.sys.disable_auth_method(mount)
