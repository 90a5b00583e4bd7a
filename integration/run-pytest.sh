#!/usr/bin/env bash
# Run one of the Python suites (integration/<suite>) in the shared virtualenv:
#   integration/run-pytest.sh hvac|chaos|cluster [pytest arguments...]
# The virtualenv lives outside the checkout, at ${LEASEHOLD_VENV:-~/.cache/leasehold/venv};
# setup-venv.sh makes it and runs pip only when requirements.txt changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${LEASEHOLD_VENV:-$HOME/.cache/leasehold/venv}"
suite="$1"
shift

"$here/setup-venv.sh"
# node-vault, for the hvac suite's node-vault tests (cheap when already installed).
"$here/setup-node.sh"

cd "$repo"
exec "$venv/bin/python" -m pytest -q "integration/$suite" "$@"
