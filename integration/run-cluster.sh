#!/usr/bin/env bash
# The several-nodes suite (integration/cluster): three leasehold servers on one PostgreSQL
# storage database, a throwaway SCRAM cluster that is also the database engine's target. Runs
# target/debug/leasehold (or $LEASEHOLD_BIN) in the venv the hvac suite uses. Logs go to
# integration/.work/cluster/<test>/. Extra arguments go to pytest, e.g.
#   integration/run-cluster.sh -k policy -x
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/run-pytest.sh" cluster "$@"
