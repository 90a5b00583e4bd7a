#!/usr/bin/env bash
# What the console's browser tests (integration/ui) need, installed or reused:
#  - playwright-core (the library only: it downloads no browser) and axe-core (the accessibility
#    check), pinned in
#    integration/ui/package-lock.json, into ${LEASEHOLD_UI_NODE:-~/.cache/leasehold/ui-node},
#    outside the checkout; `npm ci` runs only when the lock file changed since the last install;
#  - Debian's Chromium at /usr/bin/chromium, installed with apt-get when missing (as root; the
#    tests never use a browser build of Playwright's own).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${LEASEHOLD_UI_NODE:-$HOME/.cache/leasehold/ui-node}"
mkdir -p "$dir"
stamp="$dir/.leasehold-lock.sha256"
want="$(sha256sum "$here/ui/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ ! -d "$dir/node_modules/playwright-core" ]; then
    cp "$here/ui/package.json" "$here/ui/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" > "$stamp"
fi

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-ui.sh: /usr/bin/chromium is missing; as root run:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver" >&2
        exit 1
    fi
    echo "setup-ui.sh: installing Debian's chromium (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
