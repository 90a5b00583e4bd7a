"""Approval before privilege (issue 19), driven the way a Vault client drives control groups.

A role that names an approval tier issues nothing on request: the answer is Vault's wrapped shape
(`wrap_info` only), and the wrapping token's accessor is what approvers decide on. The request is
made with hvac's own `secrets.database.generate_credentials`, collected with hvac's
`sys.unwrap`; hvac has no methods for `sys/control-group/*` (2.4.0), so those go through its
adapter, which still raises hvac's exceptions. Every effect is checked where it happens: in
`pg_roles`, in the audit file, at the webhook receiver, in the metrics.
"""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hvac
import pytest
import requests

from harness import CREATION_STATEMENTS, unique, wait_until

# What an approver needs besides matching a factor: the ACL on the decision endpoints.
APPROVER_HCL = """
path "sys/control-group/authorize" { capabilities = ["update"] }
path "sys/control-group/deny"      { capabilities = ["update"] }
path "sys/control-group/requests"  { capabilities = ["list"] }
"""

# A secret long enough for the server's minimum (16 bytes).
WEBHOOK_SECRET = "whsec-" + "k" * 26


# ---- setup helpers -------------------------------------------------------------------------------


def write_tier(client, **fields):
    """`sys/approval/tiers/<unique name>` with `fields`; returns the name."""
    name = unique("tier")
    client.write_data(f"sys/approval/tiers/{name}", data=fields)
    return name


def held_role(client, pg_connection, tier, default_ttl="1h", max_ttl="24h"):
    """A dynamic role on `database/` whose credentials wait for `tier`. hvac's create_role has
    no parameter for our `approval_tier` field, so the role is written whole with write_data."""
    name = unique("held")
    client.write_data(f"database/roles/{name}", data={
        "db_name": pg_connection,
        "creation_statements": CREATION_STATEMENTS,
        "default_ttl": default_ttl,
        "max_ttl": max_ttl,
        "approval_tier": tier,
    })
    return name


def policy(client, hcl):
    name = unique("pol")
    client.sys.create_or_update_policy(name, hcl)
    return name


def reader_hcl(role):
    return f'path "database/creds/{role}" {{ capabilities = ["read"] }}'


def token_client(client, server, *policies, purpose=None):
    """A new token (a child of root) holding `policies` (and `default`), as an hvac client;
    with `purpose`, every request it makes says why in the `X-Leasehold-Purpose` header."""
    token = client.auth.token.create(policies=list(policies), ttl="1h")["auth"]["client_token"]
    session = requests.Session()
    if purpose:
        session.headers["X-Leasehold-Purpose"] = purpose
    return hvac.Client(url=server.addr, token=token, session=session)


def login_roles(pg):
    return {r for (r,) in pg.query("SELECT rolname FROM pg_roles")}


def authorize(c, accessor, comment="looks right"):
    return c.adapter.post("/v1/sys/control-group/authorize",
                          json={"accessor": accessor, "comment": comment})["data"]


def deny(c, accessor, comment="not today"):
    return c.adapter.post("/v1/sys/control-group/deny",
                          json={"accessor": accessor, "comment": comment})["data"]


def poll(c, accessor):
    return c.adapter.post("/v1/sys/control-group/request", json={"accessor": accessor})["data"]


def wrapping_lookup(c, token):
    return c.adapter.post("/v1/sys/wrapping/lookup", json={"token": token})["data"]


def creds_with(c, role, **params):
    """`GET database/creds/<role>?k=v`: purpose, ticket and break_glass are request fields that
    generate_credentials cannot send."""
    return c.adapter.get(f"/v1/database/creds/{role}", params=params)


def assert_held(resp, role):
    """Vault's wrapped answer: nothing but `wrap_info`."""
    info = resp["wrap_info"]
    assert info and info["token"] and info["accessor"], resp
    assert info["creation_path"] == f"database/creds/{role}"
    assert not resp["lease_id"] and not resp["data"], resp
    return info


def metric(server, name, labels=None):
    """The value of one series in `sys/metrics?format=prometheus` (0 when absent)."""
    text = server.http("GET", "sys/metrics", params={"format": "prometheus"}).text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == want:
            return float(value)
    return 0.0


# ---- the audit file, for every test here -------------------------------------------------------


@pytest.fixture(scope="module")
def audit(server, tmp_path_factory):
    """A `file` audit device enabled with hvac for this module; `entries()` reads it back."""
    root = hvac.Client(url=server.addr, token=server.root_token)
    path = unique("approval-audit")
    file_path = tmp_path_factory.mktemp("audit") / "audit.log"
    root.sys.enable_audit_device("file", options={"file_path": str(file_path)}, path=path)

    class Log:
        def entries(self, event=None, **request_fields):
            """The `approval` entries (optionally of `event`) whose `request` has these fields."""
            out = []
            if not file_path.exists():
                return out
            for line in file_path.read_text().splitlines():
                e = json.loads(line)
                if e.get("type") != "approval" or (event and e.get("event") != event):
                    continue
                if all(e["request"].get(k) == v for k, v in request_fields.items()):
                    out.append(e)
            return out

        def wait_for(self, event, **request_fields):
            return wait_until(lambda: self.entries(event, **request_fields), 10,
                              f"an approval entry {event} for {request_fields}")[0]

    try:
        yield Log()
    finally:
        root.sys.disable_audit_device(path)


# ---- the scenarios -------------------------------------------------------------------------------


def test_tiers_read_back_are_listed_and_refuse_unknown_fields(client):
    tier = write_tier(client, approval_ttl="30m", break_glass=True, break_glass_ttl="15m",
                      factors=[{"name": "dba", "approvals": 2, "policies": ["dba-approver"]}],
                      auto_approve=[{"name": "ci", "workloads": ["auth/approle/role/ci"],
                                     "ticket_pattern": "^CHG-[0-9]+$"}])
    data = client.read(f"sys/approval/tiers/{tier}")["data"]
    assert data["approval_ttl"] == 1800 and data["break_glass_ttl"] == 900
    assert data["break_glass"] is True
    assert data["factors"] == [{"name": "dba", "approvals": 2, "policies": ["dba-approver"]}]
    assert data["auto_approve"][0]["ticket_pattern"] == "^CHG-[0-9]+$"
    assert tier in client.list("sys/approval/tiers")["data"]["keys"]

    # A misspelt field would leave a tier easier to pass than meant: refused, naming it.
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.write_data(f"sys/approval/tiers/{unique('tier')}",
                          data={"factors": [{"policies": ["dba-approver"]}], "aprovals": 2})
    assert "aprovals" in str(refused.value)
    # A rule with no condition, and root as approver, are refused.
    for bad in ({"auto_approve": [{"name": "everyone"}]},
                {"factors": [{"policies": ["root"]}]}):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            client.write_data(f"sys/approval/tiers/{unique('tier')}", data=bad)

    client.delete(f"sys/approval/tiers/{tier}")
    assert client.read(f"sys/approval/tiers/{tier}") is None


def test_two_approvers_then_collection_issues_a_login_that_revocation_removes(
        client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, approval_ttl="10m",
                      factors=[{"name": "dba", "approvals": 2, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier, default_ttl="30m")
    # The requester also holds the approver policy: the only thing stopping it is being the requester.
    requester = token_client(client, server, policy(client, reader_hcl(role)), approver_policy,
                             purpose="add index on orders")
    first = token_client(client, server, approver_policy)
    second = token_client(client, server, approver_policy)
    pending_before = metric(server, "leasehold_approval_requests_pending")
    approved_before = metric(server, "leasehold_approval_decisions_total", {"outcome": "approved"})

    before = login_roles(pg)
    resp = requester.secrets.database.generate_credentials(role)
    info = assert_held(resp, role)
    token, accessor = info["token"], info["accessor"]
    assert info["ttl"] == 600
    assert login_roles(pg) == before, "a held request must create nothing"
    assert metric(server, "leasehold_approval_requests_pending") == pending_before + 1

    # A wrapped answer carries no request id (as Vault's); the request record has it.
    assert resp["request_id"] == ""
    request_id = poll(requester, accessor)["request_id"]
    requested = audit.wait_for("requested", accessor=accessor)
    assert requested["request"]["request_id"] == request_id
    assert requested["request"]["role"] == role

    # Before approval: 400 "Request needs further approval", and the token's one use is kept.
    with pytest.raises(hvac.exceptions.InvalidRequest) as early:
        hvac.Client(url=server.addr, token=token).sys.unwrap()
    assert "Request needs further approval" in str(early.value)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        requester.sys.unwrap(token)
    assert wrapping_lookup(client, token)["creation_path"] == f"database/creds/{role}"

    # The requester polls its own request with the default policy.
    state = poll(requester, accessor)
    assert state["approved"] is False and state["state"] == "pending"
    assert state["request_path"] == f"database/creds/{role}"
    assert state["purpose"] == "add index on orders"

    # Approvers see it; the requester's own approval is refused.
    listed = first.adapter.list("/v1/sys/control-group/requests", params={"approvable": "true"})
    assert accessor in listed["data"]["keys"]
    by_role = first.adapter.list("/v1/sys/control-group/requests", params={"role": role})["data"]
    assert by_role["keys"] == [accessor]
    assert by_role["key_info"][accessor]["state"] == "pending"
    with pytest.raises(hvac.exceptions.InvalidRequest) as own:
        authorize(requester, accessor)
    assert "requester" in str(own.value)

    # Two distinct approvers: the first approving twice still counts once.
    assert authorize(first, accessor)["approved"] is False
    assert authorize(first, accessor)["approved"] is False
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=server.addr, token=token).sys.unwrap()
    assert authorize(second, accessor, "second pair of eyes")["approved"] is True
    assert poll(requester, accessor)["approved"] is True
    assert login_roles(pg) == before, "approval alone creates nothing; collection does"

    # Collection: the wrapping token as the client token, through hvac's unwrap.
    creds = hvac.Client(url=server.addr, token=token).sys.unwrap()
    lease_id = creds["lease_id"]
    assert lease_id.startswith(f"database/creds/{role}/"), lease_id
    assert creds["lease_duration"] == 1800
    username, password = creds["data"]["username"], creds["data"]["password"]
    assert pg.can_login(username, password)
    assert client.sys.read_lease(lease_id)["data"]["id"] == lease_id

    # Used up: the token cannot collect a second credential.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=server.addr, token=token).sys.unwrap()
    done = poll(requester, accessor)
    assert done["state"] == "collected" and done["lease_id"] == lease_id

    # The story in the audit file, joined by request id and accessor, ending in the lease id.
    joined = {"request_id": request_id, "accessor": accessor}
    approvals = audit.entries("approved", **joined)
    assert len(approvals) == 2  # a repeated approval by the same approver is not a new entry
    assert approvals[-1]["request_approved"] is True
    assert audit.wait_for("collected", **joined)["lease_id"] == lease_id
    assert metric(server, "leasehold_approval_decisions_total",
                  {"outcome": "approved"}) == approved_before + 1
    assert metric(server, "leasehold_approval_requests_pending") == pending_before
    assert metric(server, "leasehold_approval_latency_seconds_count", {"role": f"database/{role}"}) == 1

    client.sys.revoke_lease(lease_id)
    assert not pg.role_exists(username)


def test_a_revoked_requester_cannot_collect_an_approved_request(client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, factors=[{"name": "lead", "approvals": 1, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier)
    requester = token_client(client, server, policy(client, reader_hcl(role)))
    info = assert_held(requester.secrets.database.generate_credentials(role), role)
    assert authorize(token_client(client, server, approver_policy), info["accessor"])["approved"] is True

    before = login_roles(pg)
    client.auth.token.revoke(requester.token)
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        hvac.Client(url=server.addr, token=info["token"]).sys.unwrap()
    assert "no longer valid" in str(refused.value)
    assert login_roles(pg) == before
    assert poll(client, info["accessor"])["state"] == "expired"
    assert "collection failed" in audit.wait_for("expired", accessor=info["accessor"])["reason"]


def test_a_denied_request_can_never_be_collected(client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, factors=[{"name": "lead", "approvals": 1, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier)
    requester = token_client(client, server, policy(client, reader_hcl(role)))
    approver = token_client(client, server, approver_policy)
    other = token_client(client, server, approver_policy)
    denied_before = metric(server, "leasehold_approval_decisions_total", {"outcome": "denied"})

    before = login_roles(pg)
    resp = requester.secrets.database.generate_credentials(role)
    info = assert_held(resp, role)
    request_id = poll(requester, info["accessor"])["request_id"]
    answer = deny(approver, info["accessor"], "no change ticket")
    assert answer["approved"] is False and answer["denied"] is True

    # Nobody can approve it afterwards, and the token collects nothing, now or later.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        authorize(other, info["accessor"])
    for _ in range(2):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            hvac.Client(url=server.addr, token=info["token"]).sys.unwrap()
        with pytest.raises(hvac.exceptions.InvalidRequest):
            requester.sys.unwrap(info["token"])
        time.sleep(1.2)
    state = poll(requester, info["accessor"])
    assert state["state"] == "denied" and state["approved"] is False
    assert state["denial"]["comment"] == "no change ticket"
    assert login_roles(pg) == before

    entry = audit.wait_for("denied", accessor=info["accessor"], request_id=request_id)
    assert entry["comment"] == "no change ticket"
    assert not audit.entries("collected", accessor=info["accessor"])
    assert metric(server, "leasehold_approval_decisions_total",
                  {"outcome": "denied"}) == denied_before + 1


def test_an_auto_approval_rule_issues_at_once_and_a_miss_is_held(
        client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    mount = unique("approle")
    client.sys.enable_auth_method("approle", path=mount)
    try:
        workload = f"auth/{mount}/role/ci"
        tier = write_tier(
            client,
            factors=[{"name": "dba", "approvals": 1, "policies": [approver_policy]}],
            auto_approve=[{"name": "ci-with-change", "workloads": [workload],
                           "ticket_pattern": "^CHG-[0-9]+$"}],
        )
        role = held_role(client, pg_connection, tier, default_ttl="10m")
        reader = policy(client, reader_hcl(role))
        client.auth.approle.create_or_update_approle("ci", token_policies=[reader], token_ttl="10m",
                                                     mount_point=mount)
        role_id = client.auth.approle.read_role_id("ci", mount_point=mount)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id("ci", mount_point=mount)["data"]["secret_id"]
        ci = hvac.Client(url=server.addr)
        ci.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
        auto_before = metric(server, "leasehold_approval_decisions_total", {"outcome": "auto_approved"})

        # Hit: the CI workload with a change ticket gets a working login at once.
        resp = creds_with(ci, role, ticket="CHG-1234", purpose="nightly migration")
        assert not resp["wrap_info"], resp["wrap_info"]
        assert resp["lease_id"].startswith(f"database/creds/{role}/")
        assert resp["lease_duration"] == 600
        assert pg.can_login(resp["data"]["username"], resp["data"]["password"])
        rule = audit.wait_for("auto_approved", request_id=resp["request_id"])
        assert rule["rule"] == "ci-with-change"
        assert rule["request"]["requester"]["workload"] == workload
        assert audit.wait_for("collected", request_id=resp["request_id"])["lease_id"] == resp["lease_id"]
        assert metric(server, "leasehold_approval_decisions_total",
                      {"outcome": "auto_approved"}) == auto_before + 1

        # Misses: a ticket outside the pattern, no ticket, or another requester with a good ticket.
        before = login_roles(pg)
        other = token_client(client, server, reader)
        for c, params in ((ci, {"ticket": "JIRA-7"}), (ci, {}), (other, {"ticket": "CHG-1234"})):
            info = assert_held(creds_with(c, role, **params), role)
            assert poll(c, info["accessor"])["state"] == "pending"
        assert login_roles(pg) == before
        client.sys.revoke_lease(resp["lease_id"])
    finally:
        client.sys.disable_auth_method(mount)


def test_break_glass_issues_at_once_capped_and_on_the_record(client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, factors=[{"name": "dba", "approvals": 2, "policies": [approver_policy]}],
                      break_glass=True, break_glass_ttl="2m")
    role = held_role(client, pg_connection, tier, default_ttl="1h")
    requester = token_client(client, server, policy(client, reader_hcl(role)))
    used_before = metric(server, "leasehold_break_glass_total", {"role": f"database/{role}"})

    # Break-glass needs a purpose.
    with pytest.raises(hvac.exceptions.InvalidRequest) as no_purpose:
        creds_with(requester, role, break_glass="true")
    assert "purpose" in str(no_purpose.value)

    resp = creds_with(requester, role, break_glass="true", purpose="incident 4711: primary is down")
    assert not resp["wrap_info"]
    assert 0 < resp["lease_duration"] <= 120, resp["lease_duration"]
    assert pg.can_login(resp["data"]["username"], resp["data"]["password"])

    entry = audit.wait_for("break_glass", request_id=resp["request_id"])
    assert entry["event"] == "break_glass"
    assert entry["request"]["role"] == role
    assert entry["request"]["purpose"] == "incident 4711: primary is down"
    assert audit.wait_for("collected", request_id=resp["request_id"])["lease_id"] == resp["lease_id"]
    assert metric(server, "leasehold_break_glass_total",
                  {"role": f"database/{role}"}) == used_before + 1

    # A tier that does not allow it refuses break-glass (and issues nothing).
    strict = held_role(client, pg_connection, write_tier(
        client, factors=[{"name": "dba", "approvals": 1, "policies": [approver_policy]}]))
    strict_requester = token_client(client, server, policy(client, reader_hcl(strict)))
    before = login_roles(pg)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        creds_with(strict_requester, strict, break_glass="true", purpose="incident")
    assert login_roles(pg) == before
    client.sys.revoke_lease(resp["lease_id"])
    assert not pg.role_exists(resp["data"]["username"])


def test_an_unapproved_request_expires(client, server, pg, pg_connection, audit):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, approval_ttl="2s",
                      factors=[{"name": "dba", "approvals": 1, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier)
    requester = token_client(client, server, policy(client, reader_hcl(role)))
    approver = token_client(client, server, approver_policy)
    expired_before = metric(server, "leasehold_approval_decisions_total", {"outcome": "expired"})

    info = assert_held(requester.secrets.database.generate_credentials(role), role)
    assert info["ttl"] == 2
    wait_until(lambda: poll(requester, info["accessor"])["state"] == "expired", 10,
               "the request expires")
    entry = audit.wait_for("expired", accessor=info["accessor"])
    assert entry["reason"] == "not approved in time"
    assert metric(server, "leasehold_approval_decisions_total",
                  {"outcome": "expired"}) == expired_before + 1
    with pytest.raises(hvac.exceptions.InvalidRequest):
        authorize(approver, info["accessor"])
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=server.addr, token=info["token"]).sys.unwrap()


def test_the_same_workload_and_a_child_token_cannot_approve(client, server, pg_connection):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, factors=[{"name": "dba", "approvals": 1, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier)
    reader = policy(client, reader_hcl(role))
    creator = policy(client, 'path "auth/token/create" { capabilities = ["update"] }')
    mount = unique("approle")
    client.sys.enable_auth_method("approle", path=mount)
    try:
        client.auth.approle.create_or_update_approle(
            "ci", token_policies=[reader, approver_policy, creator], token_ttl="10m", mount_point=mount)
        role_id = client.auth.approle.read_role_id("ci", mount_point=mount)["data"]["role_id"]

        def login():
            secret_id = client.auth.approle.generate_secret_id("ci", mount_point=mount)["data"]["secret_id"]
            c = hvac.Client(url=server.addr)
            c.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
            return c

        asking, same_workload = login(), login()
        assert asking.token != same_workload.token
        info = assert_held(asking.secrets.database.generate_credentials(role), role)
        child_token = asking.auth.token.create(policies=[approver_policy], ttl="5m")["auth"]["client_token"]
        child = hvac.Client(url=server.addr, token=child_token)
        for c in (asking, same_workload, child):
            with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
                authorize(c, info["accessor"])
            assert "requester" in str(refused.value)
            with pytest.raises(hvac.exceptions.InvalidRequest):
                deny(c, info["accessor"])
        assert poll(asking, info["accessor"])["state"] == "pending"
        # Someone else holding the policy can.
        assert authorize(token_client(client, server, approver_policy), info["accessor"])["approved"] is True
    finally:
        client.sys.disable_auth_method(mount)


def test_the_configured_max_ttl_caps_every_wait(client, server, pg_connection):
    approver_policy = policy(client, APPROVER_HCL)
    tier = write_tier(client, approval_ttl="1h",
                      factors=[{"name": "dba", "approvals": 1, "policies": [approver_policy]}])
    role = held_role(client, pg_connection, tier)
    requester = token_client(client, server, policy(client, reader_hcl(role)))
    try:
        client.write_data("sys/config/control-group", data={"max_ttl": "5m"})
        assert client.read("sys/config/control-group")["data"]["max_ttl"] == 300
        assert assert_held(requester.secrets.database.generate_credentials(role), role)["ttl"] == 300
    finally:
        client.delete("sys/config/control-group")
    assert assert_held(requester.secrets.database.generate_credentials(role), role)["ttl"] == 3600


class Receiver:
    """A webhook receiver on a free port: keeps each POST's headers and raw body."""

    def __init__(self):
        self.got = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/leasehold"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def event(self, name, **request_fields):
        """The first delivery of event `name` whose entry's `request` has these fields."""
        for headers, body in list(self.got):
            doc = json.loads(body)
            request = doc["data"]["request"]
            if doc["event"] == name and all(request.get(k) == v for k, v in request_fields.items()):
                return headers, body, doc
        return None

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def signed(headers, body):
    """Whether `body` carries the signature our shared secret makes over those exact bytes."""
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-leasehold-signature"], expected)


def test_the_webhook_gets_signed_events(client, server, pg, pg_connection):
    receiver = Receiver()
    try:
        client.write_data("sys/config/control-group",
                          data={"notify_url": receiver.url, "notify_secret": WEBHOOK_SECRET})
        config = client.read("sys/config/control-group")["data"]
        assert config["notify_url"] == receiver.url
        assert WEBHOOK_SECRET not in json.dumps(config)
        assert config["notify_secret_set"] is True

        approver_policy = policy(client, APPROVER_HCL)
        tier = write_tier(client, factors=[{"name": "lead", "approvals": 1, "policies": [approver_policy]}])
        role = held_role(client, pg_connection, tier)
        requester = token_client(client, server, policy(client, reader_hcl(role)))
        info = assert_held(creds_with(requester, role, purpose="schema change", ticket="CHG-9"), role)

        headers, body, doc = wait_until(
            lambda: receiver.event("approval.requested", accessor=info["accessor"]),
            15, "the webhook receives approval.requested")
        assert signed(headers, body)
        assert headers["content-type"].startswith("application/json")
        assert headers["x-leasehold-event"] == "approval.requested"
        assert doc["event"] == "approval.requested" and doc["delivery_id"] and doc["time"]
        assert doc["data"]["type"] == "approval" and doc["data"]["event"] == "requested"
        assert doc["data"]["request"]["role"] == role
        assert doc["data"]["request"]["purpose"] == "schema change"
        assert doc["data"]["request"]["ticket"] == "CHG-9"

        authorize(token_client(client, server, approver_policy), info["accessor"])
        headers, body, _ = wait_until(
            lambda: receiver.event("approval.approved", accessor=info["accessor"]),
            15, "the webhook receives approval.approved")
        assert signed(headers, body)
        # A body signed with another key does not verify.
        forged = "sha256=" + hmac.new(b"another-secret-of-16b", body, hashlib.sha256).hexdigest()
        assert not hmac.compare_digest(headers["x-leasehold-signature"], forged)

        # Collected with the token in the body; the lease is the requester's, so revoking the
        # requester's token destroys the account.
        creds = requester.sys.unwrap(info["token"])
        assert creds["lease_id"].startswith(f"database/creds/{role}/")
        assert pg.can_login(creds["data"]["username"], creds["data"]["password"])
        client.auth.token.revoke(requester.token)
        assert not pg.role_exists(creds["data"]["username"])

        # A denial, and a break-glass issue, are announced too.
        glass_tier = write_tier(
            client, factors=[{"name": "lead", "approvals": 1, "policies": [approver_policy]}],
            break_glass=True, break_glass_ttl="1m")
        glass_role = held_role(client, pg_connection, glass_tier)
        asker = token_client(client, server, policy(client, reader_hcl(glass_role)))
        held = assert_held(asker.secrets.database.generate_credentials(glass_role), glass_role)
        deny(token_client(client, server, approver_policy), held["accessor"])
        headers, body, _ = wait_until(lambda: receiver.event("approval.denied", accessor=held["accessor"]),
                                      15, "the webhook receives approval.denied")
        assert signed(headers, body)
        glass = creds_with(asker, glass_role, break_glass="true", purpose="incident")
        headers, body, doc = wait_until(
            lambda: receiver.event("approval.break_glass", request_id=glass["request_id"]),
            15, "the webhook receives approval.break_glass")
        assert signed(headers, body)
        assert doc["data"]["ttl_cap_seconds"] == 60
        client.sys.revoke_lease(glass["lease_id"])
    finally:
        client.delete("sys/config/control-group")
        receiver.stop()
