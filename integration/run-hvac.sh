#!/usr/bin/env bash
# Run the hvac compatibility suite against target/debug/leasehold (or $LEASEHOLD_BIN).
#
# The virtualenv lives outside the checkout, at ${LEASEHOLD_VENV:-~/.cache/leasehold/venv}, and is
# reused; setup-venv.sh makes it and runs pip only when requirements.txt changed. Extra arguments go
# to pytest, e.g.
#   integration/run-hvac.sh -k renew -x
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${LEASEHOLD_VENV:-$HOME/.cache/leasehold/venv}"

"$here/setup-venv.sh"

cd "$repo"
exec "$venv/bin/python" -m pytest -q integration/hvac "$@"
