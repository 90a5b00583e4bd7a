#!/usr/bin/env bash
# Install (or reuse) the JavaScript clients the compatibility suite drives (node-vault, pinned in
# integration/node/package-lock.json) into ${LEASEHOLD_NODE:-~/.cache/leasehold/node}, outside
# the checkout. `npm ci` runs only when the lock file changed since the last install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${LEASEHOLD_NODE:-$HOME/.cache/leasehold/node}"
mkdir -p "$dir"
stamp="$dir/.leasehold-lock.sha256"
want="$(sha256sum "$here/node/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ ! -d "$dir/node_modules/node-vault" ]; then
    cp "$here/node/package.json" "$here/node/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" > "$stamp"
fi
