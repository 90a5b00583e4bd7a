"""Fixtures of the crash test: the targets leasehold makes accounts on.

The server itself is not a fixture: the scenario starts and kills it hundreds of times
(test_crash.py). Everything the run leaves for a human goes to integration/.work/chaos/ (see
chaos.py): one log per server run, the ledger of what the server answered, and report.json.
"""

import sys
from pathlib import Path

import pytest

# The hvac suite's harness (LeaseholdServer, MotoServer, ...) and pgcluster.py are shared.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hvac"))

from harness import MotoServer, RabbitMq  # noqa: E402  (needs the path above)
from pgcluster import PgCluster  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    """A throwaway PostgreSQL cluster with SCRAM auth: the database engine's target."""
    with PgCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def moto():
    """moto_server with authentication enforced: the aws engine's IAM."""
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq():
    """The machine's RabbitMQ, management plugin enabled: the rabbitmq engine's target."""
    return RabbitMq.ready()
