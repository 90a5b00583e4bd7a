#!/usr/bin/env bash
# Run the hvac compatibility suite against target/debug/leasehold (or $LEASEHOLD_BIN).
#
# The virtualenv lives outside the checkout, at ${LEASEHOLD_VENV:-~/.cache/leasehold/venv}, and is
# reused; pip runs only when requirements.txt changed. Extra arguments go to pytest, e.g.
#   integration/run-hvac.sh -k renew -x
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${LEASEHOLD_VENV:-$HOME/.cache/leasehold/venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.leasehold-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi

cd "$repo"
exec "$venv/bin/python" -m pytest -q integration/hvac "$@"
