#!/usr/bin/env bash
# The crash test (integration/chaos): SIGKILL leasehold at random points of a busy issue / renew /
# revoke / expiry stream, CHAOS_KILLS times (default 200), restart it on the same storage each
# time, then check that PostgreSQL and moto hold no account with our name prefix. Runs
# target/debug/leasehold (or $LEASEHOLD_BIN) in the venv the hvac suite uses; takes ~5-8 minutes.
# Logs and report.json go to integration/.work/chaos/. Extra arguments go to pytest, e.g.
#   CHAOS_KILLS=20 integration/run-chaos.sh -x
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/run-pytest.sh" chaos "$@"
