"""Fixtures for the console's browser tests: the hvac suite's throwaway PostgreSQL and its
`database/` fixtures (loaded from integration/hvac/conftest.py under another module name, so both
suites share one definition), with a server of this suite's own whose log goes to
integration/.work/ui/ rather than over the hvac suite's."""

import importlib.util
import sys
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "hvac"))

_spec = importlib.util.spec_from_file_location("hvac_fixtures", HERE.parent / "hvac" / "conftest.py")
hvac_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hvac_fixtures)

from harness import REPO, LeaseholdServer, leasehold_binary  # noqa: E402

# The shared fixtures, and the failure reports that attach the server's log.
pg = hvac_fixtures.pg
client = hvac_fixtures.client
pg_connection = hvac_fixtures.pg_connection
make_role = hvac_fixtures.make_role

WORK_DIR = REPO / "integration" / ".work" / "ui"

# Failed destructions become irrevocable after this many attempts (6 by default): with the
# harness's 200ms retries a lease whose revocation statement fails is irrevocable within a second.
IRREVOCABLE_AFTER = "2"


class ConsoleServer(LeaseholdServer):
    def environment(self):
        env = super().environment()
        env["LEASEHOLD_LEASE_IRREVOCABLE_AFTER"] = IRREVOCABLE_AFTER
        return env


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """`leasehold server -dev` (the console is on by default in dev mode: nothing enables it)."""
    binary = leasehold_binary()
    if not binary.exists():
        pytest.exit(f"leasehold binary not found at {binary}: run `cargo build`", returncode=2)
    log_path = WORK_DIR / "leasehold-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    srv = ConsoleServer(binary, tmp_path_factory.mktemp("leasehold"), log_path)
    hvac_fixtures._server = srv
    try:
        srv.start()
        # A binary built before the console (a stale target dir) would time every scenario out.
        page = requests.get(f"{srv.addr}/ui/", timeout=10)
        if page.status_code != 200:
            pytest.exit(f"{binary} does not serve /ui/ in dev mode ({page.status_code}): rebuild it",
                        returncode=2)
        mounted = srv.http("POST", "sys/mounts/database", json={"type": "database"})
        assert mounted.status_code == 204, mounted.text
        yield srv
    finally:
        srv.stop()


pytest_runtest_setup = hvac_fixtures.pytest_runtest_setup
pytest_runtest_makereport = hvac_fixtures.pytest_runtest_makereport
pytest_terminal_summary = hvac_fixtures.pytest_terminal_summary
