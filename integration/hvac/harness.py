"""The leasehold server as a subprocess, plus the small waiting and naming tools the scenarios share.

The suite runs the real binary the way an operator would (`leasehold server -dev ...`) and talks to
it only over HTTP, so what passes here passes for any Vault client.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "integration"))

from pgcluster import free_port  # noqa: E402  (needs the path above)
WORK_DIR = REPO / "integration" / ".work" / "hvac"

# Clusters alive now; a failing test's report shows what each logged during it (conftest.py).
CLUSTERS = []


def leasehold_binary():
    """$LEASEHOLD_BIN, else $CARGO_TARGET_DIR/debug/leasehold, else target/debug/leasehold."""
    if os.environ.get("LEASEHOLD_BIN"):
        return Path(os.environ["LEASEHOLD_BIN"])
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "leasehold")
    candidates.append(REPO / "target" / "debug" / "leasehold")
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


def unique(prefix):
    """A name no other test uses: `prefix-` plus 8 random lowercase hex characters."""
    return f"{prefix}-{secrets.token_hex(4)}"


def wait_until(predicate, timeout, what, interval=0.1):
    """Poll `predicate` until it returns something truthy; return that, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what} (last: {last!r})")
        time.sleep(interval)


class LeaseholdServer:
    """`leasehold server -dev` on a free port with a random root token and its own storage file.

    Environment given to the server (beyond the caller's own):
      LEASEHOLD_RETRY_BASE=200ms, LEASEHOLD_RETRY_MAX=2s   fast revocation retries
      LEASEHOLD_DEV_STORAGE=<state dir>/leasehold.db       the dev server's SQLite file
    Its stdout and stderr go to `log_path`. Subclasses run it another way by overriding
    `command()` and `environment()` (the chaos suite runs `server -config`).
    """

    def __init__(self, binary, state_dir, log_path):
        self.binary = Path(binary)
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_path)
        self.root_token = "lh-root-" + secrets.token_urlsafe(16)
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self._log = None

    def start(self, timeout=30):
        if not self.binary.exists():
            raise FileNotFoundError(
                f"leasehold binary not found at {self.binary}; build it (cargo build) or set LEASEHOLD_BIN"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.environment())
        cmd = self.command()
        self._log = open(self.log_path, "ab")
        self._log.write(f"$ {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.state_dir, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"leasehold exited with {self.proc.returncode} during start-up:\n{self.log_tail(80)}"
                )
            try:
                if requests.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"leasehold did not answer sys/health with 200 in {timeout}s:\n{self.log_tail(80)}")

    def command(self):
        """The command line `start()` runs."""
        return [
            str(self.binary), "server", "-dev",
            "-dev-listen-address", f"127.0.0.1:{self.port}",
            "-dev-root-token-id", self.root_token,
        ]

    def environment(self):
        """What `start()` adds to the caller's environment."""
        return {
            "LEASEHOLD_RETRY_BASE": "200ms",
            "LEASEHOLD_RETRY_MAX": "2s",
            "LEASEHOLD_DEV_STORAGE": str(self.state_dir / "leasehold.db"),
        }

    def kill(self):
        """SIGKILL: the server gets no chance to finish anything (a crash, as far as it knows)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset, max_lines=200):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        if len(lines) > max_lines:
            lines = [f"... ({len(lines) - max_lines} earlier lines in {self.log_path})"] + lines[-max_lines:]
        return "\n".join(lines)

    def log_tail(self, lines=50):
        return self.log_since(0, max_lines=lines)

    # ---- raw HTTP, for what hvac has no method for and for asserting wire details ----------

    def http(self, method, path, token=..., json=None, data=None, params=None, headers=None):
        """One request to /v1/<path>. `token` defaults to the root token; None sends no token."""
        h = dict(headers or {})
        if token is ...:
            token = self.root_token
        if token is not None:
            h["X-Vault-Token"] = token
        return requests.request(
            method, f"{self.addr}/v1/{path.lstrip('/')}", json=json, data=data, params=params,
            headers=h, timeout=30,
        )


# ---- moto, standing in for AWS IAM and STS -------------------------------------------------------


class MotoServer:
    """moto_server on a free port: bootstrap an admin user while moto allows everything, then
    turn authentication on (POST /moto-api/reset-auth with body 0), so a deleted key is really
    rejected. `root` is the admin's (access key, secret key)."""

    def __init__(self):
        bin_dir = Path(sys.executable).parent
        self.proc = subprocess.Popen(
            [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.endpoint = None
        for line in self.proc.stderr:
            m = re.search(r"Running on (http://\S+)", line)
            if m:
                self.endpoint = m.group(1)
                break
        if not self.endpoint:
            raise RuntimeError("moto_server did not start")
        # Keep draining moto's request log so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        iam = self.client("iam", "AKIABOOTSTRAP", "bootstrap")
        iam.create_user(UserName="leasehold-root")
        iam.put_user_policy(
            UserName="leasehold-root", PolicyName="admin",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}]}),
        )
        key = iam.create_access_key(UserName="leasehold-root")["AccessKey"]
        self.root = (key["AccessKeyId"], key["SecretAccessKey"])
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data="0").raise_for_status()

    def client(self, service, access_key, secret_key, token=None):
        import boto3  # only the suites that use moto pay for importing boto3

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, aws_session_token=token,
        )

    def caller_arn(self, access_key, secret_key, token=None):
        return self.client("sts", access_key, secret_key, token).get_caller_identity()["Arn"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# ---- the PostgreSQL side of a scenario ----------------------------------------------------------

PLUGIN = "postgresql-database-plugin"

# The creation statements the brief's users write: a login role that expires on its own at the
# lease's end (the database's backstop) and may create objects in public (as a migration would).
CREATION_STATEMENTS = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT ALL ON SCHEMA public TO "{{name}}";',
]


def connection_url(cluster):
    """A templated URL: leasehold substitutes the configured username and password."""
    return f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{cluster.port}/postgres"


def configure_postgres(client, cluster, name, mount_point="database", allowed_roles="*"):
    """Point `<mount_point>/config/<name>` at `cluster` as its superuser, through hvac."""
    return client.secrets.database.configure(
        name=name,
        plugin_name=PLUGIN,
        allowed_roles=allowed_roles,
        connection_url=connection_url(cluster),
        username="postgres",
        password=cluster.password,
        mount_point=mount_point,
    )


class Creds:
    """What `database/creds/<role>` answered, with the fields the scenarios use by name."""

    def __init__(self, resp):
        self.resp = resp
        self.lease_id = resp["lease_id"]
        self.lease_duration = resp["lease_duration"]
        self.renewable = resp["renewable"]
        self.username = resp["data"]["username"]
        self.password = resp["data"]["password"]

    def __repr__(self):  # never print the password in an assertion message
        return f"Creds(lease_id={self.lease_id!r}, username={self.username!r})"


def issue(client, role, mount_point="database"):
    """Lease a credential for `role` with hvac."""
    return Creds(client.secrets.database.generate_credentials(name=role, mount_point=mount_point))


# ---- RabbitMQ ----------------------------------------------------------------------------------

RABBITMQ_MANAGEMENT = "http://127.0.0.1:15672"
RABBITMQ_ADMIN = ("guest", "guest")


class RabbitMq:
    """The machine's RabbitMQ (AMQP 5672, guest/guest) through its management API. The
    management plugin ships with RabbitMQ but is off by default: `ready()` enables it with
    `rabbitmq-plugins enable rabbitmq_management` (the suites run as root) when port 15672 does
    not answer, and waits until it does."""

    @classmethod
    def ready(cls):
        broker = cls()
        if not broker.answers():
            subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_management"], check=True,
                           stdout=subprocess.DEVNULL)
            wait_until(broker.answers, 30, "the RabbitMQ management API answers")
        return broker

    def api(self, method, path, **kwargs):
        return requests.request(method, f"{RABBITMQ_MANAGEMENT}/api/{path}", auth=RABBITMQ_ADMIN,
                                timeout=10, **kwargs)

    def answers(self):
        try:
            return self.api("GET", "overview").status_code == 200
        except requests.RequestException:
            return False

    def users(self, prefix=""):
        """Names of the users starting with `prefix`."""
        resp = self.api("GET", "users")
        resp.raise_for_status()
        return sorted(u["name"] for u in resp.json() if u["name"].startswith(prefix))

    def user_exists(self, name):
        from urllib.parse import quote
        return self.api("GET", f"users/{quote(name, safe='')}").status_code == 200


# ---- wire checks ----------------------------------------------------------------------------------

# Every 200 carries all of these, as Vault's envelope does (clients such as vaultrs require them).
ENVELOPE_KEYS = {
    "request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings",
    "auth", "mount_type",
}


def assert_error(resp, status):
    """A Vault error: the status, `Content-Type: application/json` exactly, and a non-empty
    `errors` list of strings (hvac reads the messages only with that exact content type).
    Returns the messages joined, for checks on their wording."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text!r}"
    assert resp.headers.get("Content-Type") == "application/json", resp.headers.get("Content-Type")
    errors = resp.json()["errors"]
    assert isinstance(errors, list) and errors, f"errors must be a non-empty list: {resp.text!r}"
    assert all(isinstance(e, str) and e for e in errors), resp.text
    return "\n".join(errors)


def parse_time(text):
    """An RFC 3339 time as Unix seconds (Vault gives up to nanoseconds, Python parses micro)."""
    from datetime import datetime
    import re

    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)", text)
    assert m, f"not an RFC 3339 time: {text!r}"
    frac = (m.group(2) or ".0")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + zone).timestamp()
