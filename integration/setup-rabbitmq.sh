#!/usr/bin/env bash
# Make the machine's RabbitMQ ready for the rabbitmq engine's tests: its management plugin (which
# ships with RabbitMQ but is off by default) enabled, and the management API answering on
# 127.0.0.1:15672. Needs root (rabbitmq-plugins); a no-op when the API already answers. The tests
# do the same themselves when run on their own (tests/api/rabbit.rs, integration/hvac/harness.py).
set -euo pipefail

answers() {
    python3 - <<'PY' 2>/dev/null
import base64, urllib.request
req = urllib.request.Request("http://127.0.0.1:15672/api/overview",
                             headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
urllib.request.urlopen(req, timeout=2)
PY
}

answers && exit 0
rabbitmq-plugins enable rabbitmq_management >/dev/null
for _ in $(seq 1 150); do
    answers && exit 0
    sleep 0.2
done
echo "setup-rabbitmq: the management API never answered on 127.0.0.1:15672" >&2
exit 1
