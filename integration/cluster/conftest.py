"""Fixtures of the several-nodes suite: a throwaway PostgreSQL cluster (SCRAM auth) that holds
both the shared storage database and the accounts the database engine creates.

The leasehold servers are not fixtures: each test starts its own set of nodes on a fresh storage
database (cluster.py), so a test that kills a node leaves nothing behind for the next.
"""

import sys
from pathlib import Path

import pytest

# The hvac suite's harness (LeaseholdServer, ...) and pgcluster.py are shared.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hvac"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgcluster import PgCluster  # noqa: E402  (needs the path above)


@pytest.fixture(scope="session")
def pg():
    """The PostgreSQL cluster: storage database and target in one."""
    with PgCluster() as cluster:
        # Three nodes' storage pools, listeners and engine pools, plus the test's own sessions.
        cluster.query("ALTER SYSTEM SET max_connections = 300")
        cluster.stop()
        cluster.start()
        yield cluster
