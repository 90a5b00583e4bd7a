#!/usr/bin/env bash
# Run the hvac compatibility suite against target/debug/leasehold (or $LEASEHOLD_BIN).
#
# The virtualenv lives outside the checkout, at ${LEASEHOLD_VENV:-~/.cache/leasehold/venv}, and is
# reused; setup-venv.sh makes it and runs pip only when requirements.txt changed. Extra arguments go
# to pytest, e.g.
#   integration/run-hvac.sh -k renew -x
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/run-pytest.sh" hvac "$@"
