#!/usr/bin/env bash
# Make (or reuse) the Python virtualenv the integration suites and the AWS engine's tests use, and
# install integration/requirements.txt into it. Prints nothing on success but pip's own errors.
#
# The virtualenv lives outside the checkout, at ${LEASEHOLD_VENV:-~/.cache/leasehold/venv}; pip runs
# only when requirements.txt changed since the last install (a hash is kept in the venv). The
# interpreter that creates it is ${PYTHON:-python3}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
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
