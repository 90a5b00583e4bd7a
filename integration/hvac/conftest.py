"""Fixtures for the hvac compatibility suite.

One PostgreSQL cluster (SCRAM auth) and one `leasehold server -dev` serve the whole session; each
test makes its own roles (and mounts, connections) under random names, so tests do not depend on
each other or on order. Tests that take a target down get a cluster of their own
(see test_outage.py).

When a test fails, the server log written during that test is attached to its report, and the
whole log is printed at the end (it is also kept in integration/.work/hvac/leasehold-server.log).
"""

import hvac
import pytest

from harness import (
    CLUSTERS,
    CREATION_STATEMENTS,
    WORK_DIR,
    LeaseholdServer,
    configure_postgres,
    leasehold_binary,
    unique,
)
from pgcluster import PgCluster

# The live server, for the failure reports below (clusters are in harness.CLUSTERS).
_server = None
_log_offsets = pytest.StashKey()


@pytest.fixture(scope="session")
def pg():
    """The shared target cluster. Never stopped by tests (outages use their own cluster)."""
    with PgCluster() as cluster:
        CLUSTERS.append(cluster)
        yield cluster
        CLUSTERS.remove(cluster)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """`leasehold server -dev` on a free port, with a random root token and a fresh SQLite file."""
    global _server
    binary = leasehold_binary()
    if not binary.exists():
        pytest.exit(
            f"leasehold binary not found at {binary}: run `cargo build` (or set LEASEHOLD_BIN)",
            returncode=2,
        )
    log_path = WORK_DIR / "leasehold-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    srv = LeaseholdServer(binary, tmp_path_factory.mktemp("leasehold"), log_path)
    _server = srv
    try:
        srv.start()
        # `server -dev` mounts nothing (as Vault's); the scenarios share a `database/` mount.
        mounted = srv.http("POST", "sys/mounts/database", json={"type": "database"})
        assert mounted.status_code == 204, mounted.text
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server):
    """hvac authenticated with the dev root token."""
    return hvac.Client(url=server.addr, token=server.root_token)


@pytest.fixture(scope="session")
def pg_connection(server, pg):
    """`database/config/pg`: the dev server's database mount pointed at the shared cluster."""
    c = hvac.Client(url=server.addr, token=server.root_token)
    configure_postgres(c, pg, "pg")
    return "pg"


@pytest.fixture
def make_role(client, pg_connection):
    """Create a dynamic role with a unique name on `database/`; returns the name.

        name = make_role(default_ttl="2s", max_ttl="10s")
    """

    def make(prefix="role", default_ttl="1h", max_ttl="24h", db_name=None, mount_point="database",
             creation_statements=None, **extra):
        name = unique(prefix)
        client.secrets.database.create_role(
            name=name,
            db_name=db_name or pg_connection,
            creation_statements=creation_statements or CREATION_STATEMENTS,
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            mount_point=mount_point,
            **extra,
        )
        return name

    return make


# ---- failure reports --------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Remember where each log ends now, to show only what was written during this test.
    offsets = {"server": _server.log_size() if _server else 0}
    offsets.update({id(c): c.log_size() for c in CLUSTERS})
    item.stash[_log_offsets] = offsets


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = item.stash.get(_log_offsets, {})
    if _server is not None:
        rep.sections.append(
            ("leasehold server log during this test", _server.log_since(offsets.get("server", 0)))
        )
    for cluster in CLUSTERS:
        text = cluster.log_since(offsets.get(id(cluster), 0), max_lines=30)
        if text.strip():
            rep.sections.append((f"PostgreSQL log of {cluster.dir} during this test", text))


def pytest_terminal_summary(terminalreporter, exitstatus):
    if exitstatus == 0 or _server is None:
        return
    terminalreporter.write_sep("=", f"leasehold server log ({_server.log_path})")
    terminalreporter.write_line(_server.log_tail(400))
