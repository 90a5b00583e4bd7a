"""The pieces of the crash test (test_crash.py): a leasehold server run from a config file on one
storage across many lives, the engines it serves, a concurrent stream of clients, the ledger of
everything the server answered, and the checks for accounts left on the targets.

Files, all under integration/.work/chaos/ (wiped at the start of a run):
  state/                 the server's storage (SQLite), seal key and config file
  logs/run-NNN.log       stdout and stderr of the server's N-th life
  ledger.json            every lease id and account name the server answered with
  report.json            the numbers of the run
"""

import json
import random
import re
import secrets
import shutil
import threading
import time
from collections import Counter, deque

import hvac
import requests

from harness import (
    CREATION_STATEMENTS,
    RABBITMQ_MANAGEMENT,
    REPO,
    LeaseholdServer,
    configure_postgres,
)

WORK_DIR = REPO / "integration" / ".work" / "chaos"

# Database roles, named after their default TTL; each may be renewed up to 10 s after issue.
DB_ROLES = {"ttl1": "1s", "ttl2": "2s", "ttl4": "4s"}
DB_MAX_TTL = "10s"
AWS_ROLE = "deploy"
# aws/config/lease: every IAM user lives 2 s unless renewed, 10 s at most.
AWS_LEASE, AWS_LEASE_MAX = "2s", "10s"
RABBITMQ_ROLE = "publish"
# rabbitmq/config/lease: every broker user lives 2 s unless renewed, 10 s at most.
RABBITMQ_LEASE, RABBITMQ_LEASE_MAX = "2s", "10s"
# Where the live leases of the scenario's roles are listed (LIST sys/leases/lookup/<prefix>).
LEASE_PREFIXES = (
    [f"database/creds/{role}/" for role in DB_ROLES]
    + [f"aws/creds/{AWS_ROLE}/", f"rabbitmq/creds/{RABBITMQ_ROLE}/"]
)

# The prefixes of the names leasehold generates: `v-<mount marker>-root-<role>-...` on PostgreSQL (Vault's
# shape with the marker), `lh-<mount marker>-<display>-<role>-...` on IAM. Nothing else on the targets starts with them.
PG_PREFIX = "v-"
IAM_PREFIX = "lh-"

# What an IAM user issued by the scenario may do (nothing is done with it; it makes create and
# destroy take their inline-policy steps).
IDENTITY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}],
}


def fresh_work_dir():
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    (WORK_DIR / "logs").mkdir(parents=True)
    return WORK_DIR


class ConfigServer(LeaseholdServer):
    """`leasehold server -config FILE` with its storage, seal key and config under `work_dir/state`,
    started and killed many times on the same files and port. Each life logs to its own
    `logs/run-NNN.log`. The root token is read from the first life's output, where the server
    prints it once (`Root Token: ...`); it stays valid across restarts."""

    def __init__(self, binary, work_dir):
        super().__init__(binary, work_dir / "state", work_dir / "logs" / "run-000.log")
        self.work_dir = work_dir
        self.root_token = None
        self.lives = 0
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.state_dir / "seal.key"
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
        self.config_path = self.state_dir / "leasehold.toml"
        self.config_path.write_text(
            "[listener]\n"
            f'address = "127.0.0.1:{self.port}"\n'
            "[storage]\n"
            f'path = "{self.state_dir / "leasehold.db"}"\n'
            "[seal]\n"
            f'key_file = "{key_file}"\n'
        )

    def command(self):
        return [str(self.binary), "server", "-config", str(self.config_path)]

    def environment(self):
        return {
            # Failed destructions are retried quickly, so the end of the run need not wait long.
            "LEASEHOLD_RETRY_BASE": "200ms",
            "LEASEHOLD_RETRY_MAX": "2s",
            "NO_COLOR": "1",
        }

    def start(self, timeout=30):
        self.lives += 1
        self.log_path = self.work_dir / "logs" / f"run-{self.lives:03d}.log"
        super().start(timeout)
        if self.root_token is None:
            m = re.search(r"Root Token: (\S+)", self.log_path.read_text(errors="replace"))
            if not m:
                raise AssertionError(f"first start printed no root token:\n{self.log_tail(40)}")
            self.root_token = m.group(1)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def configure_engines(server, pg, moto):
    """Mount `database/` on the cluster with three short-lived roles, `aws/` on moto with an
    iam_user role whose leases last 2 s (10 s at most), and `rabbitmq/` on the machine's broker
    likewise. Returns the prefix of this run's RabbitMQ users (`lh-<mount marker>-`): the broker
    is shared with other suites, whose users carry other markers."""
    client = hvac.Client(url=server.addr, token=server.root_token)
    client.sys.enable_secrets_engine("database", path="database")
    configure_postgres(client, pg, "pg")
    for role, ttl in DB_ROLES.items():
        client.secrets.database.create_role(
            name=role, db_name="pg", creation_statements=CREATION_STATEMENTS,
            default_ttl=ttl, max_ttl=DB_MAX_TTL,
        )
    client.sys.enable_secrets_engine("aws", path="aws")
    client.secrets.aws.configure_root_iam_credentials(
        access_key=moto.root[0], secret_key=moto.root[1], region="us-east-1",
        iam_endpoint=moto.endpoint, sts_endpoint=moto.endpoint,
    )
    client.secrets.aws.configure_lease(lease=AWS_LEASE, lease_max=AWS_LEASE_MAX)
    client.secrets.aws.create_or_update_role(AWS_ROLE, "iam_user", policy_document=IDENTITY_POLICY)
    client.sys.enable_secrets_engine("rabbitmq", path="rabbitmq")
    client.secrets.rabbitmq.configure(
        connection_uri=RABBITMQ_MANAGEMENT, username="guest", password="guest")
    client.secrets.rabbitmq.configure_lease(ttl=RABBITMQ_LEASE, max_ttl=RABBITMQ_LEASE_MAX)
    client.secrets.rabbitmq.create_role(
        RABBITMQ_ROLE, vhosts=json.dumps({"/": {"configure": "", "write": ".*", "read": ""}}))
    first = client.secrets.rabbitmq.generate_credentials(RABBITMQ_ROLE)
    client.sys.revoke_lease(first["lease_id"])
    marker = first["data"]["username"].split("-")[1]
    return f"lh-{marker}-"


class Ledger:
    """Every lease id and account name the server answered with, and how each request ended.
    Shared by the client threads."""

    # Renew and revoke pick among the leases answered in the last few seconds: most of them are
    # still live (TTLs are 1-4 s), some have just expired or been revoked (a 400, or a no-op).
    RECENT = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self.leases = {}  # lease id -> {"engine", "account"}
        self.outcomes = Counter()  # (action, outcome) -> count
        self._recent = deque()  # (monotonic time answered, lease id)

    def answered(self, engine, lease_id, account):
        with self._lock:
            self.leases[lease_id] = {"engine": engine, "account": account}
            self._recent.append((time.monotonic(), lease_id))

    def pick_recent(self, rng):
        """A lease answered in the last few seconds, or None."""
        with self._lock:
            horizon = time.monotonic() - self.RECENT
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            if not self._recent:
                return None
            return self._recent[rng.randrange(len(self._recent))][1]

    def outcome(self, action, result):
        with self._lock:
            self.outcomes[(action, result)] += 1

    def count(self, engine=None):
        with self._lock:
            return sum(1 for l in self.leases.values() if engine in (None, l["engine"]))

    def accounts(self):
        with self._lock:
            return {l["account"] for l in self.leases.values()}

    def outcome_table(self):
        """{action: {outcome: count}}"""
        table = {}
        with self._lock:
            for (action, result), n in sorted(self.outcomes.items()):
                table.setdefault(action, {})[result] = n
        return table

    def cut(self):
        """Requests the server accepted but never answered: the kill came mid-request."""
        with self._lock:
            return sum(n for (_, result), n in self.outcomes.items() if result == "cut")

    def write(self, path):
        with self._lock:
            path.write_text(json.dumps(self.leases, indent=1, sort_keys=True))


class Workload:
    """A few client threads sending a random stream of issue (database and aws), renew, revoke
    (sync and sync=false) while `resume()`d; leases nobody revokes expire. Each thread draws
    from its own seeded random stream. A request the kill cuts off is counted as "cut", one
    made while the server is down (between pause() and kill, rarely) as "refused"."""

    ACTIONS = {  # action: weight
        "issue_database": 4,
        "issue_aws": 2,
        "issue_rabbitmq": 2,
        "renew": 2,
        "revoke": 1,
        "revoke_queued": 1,
    }

    def __init__(self, server, ledger, seed, threads=3):
        self.server = server
        self.ledger = ledger
        self._up = threading.Event()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, args=(random.Random(f"{seed}-{i}"),),
                             name=f"client-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def resume(self):
        self._up.set()

    def pause(self):
        self._up.clear()

    def close(self):
        self._closed = True
        self._up.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, rng):
        actions, weights = zip(*self.ACTIONS.items())
        while not self._closed:
            if not self._up.wait(timeout=0.5) or self._closed:
                continue
            action = rng.choices(actions, weights)[0]
            try:
                result = getattr(self, action)(rng)
            except requests.RequestException as e:
                result = "refused" if "refused" in str(e) else "cut"
            self.ledger.outcome(action, result)

    # ---- the actions; each returns its outcome (the status code) ---------------------------

    def issue_database(self, rng):
        resp = self.server.http("GET", f"database/creds/{rng.choice(list(DB_ROLES))}")
        if resp.status_code == 200:
            body = resp.json()
            self.ledger.answered("database", body["lease_id"], body["data"]["username"])
        return str(resp.status_code)

    def issue_aws(self, rng):
        resp = self.server.http("GET", f"aws/creds/{AWS_ROLE}")
        if resp.status_code == 200:
            body = resp.json()
            # arn:aws:iam::<account>:user/<path/>lh-root-deploy-...
            self.ledger.answered("aws", body["lease_id"], body["data"]["arn"].rsplit("/", 1)[-1])
        return str(resp.status_code)

    def issue_rabbitmq(self, rng):
        resp = self.server.http("GET", f"rabbitmq/creds/{RABBITMQ_ROLE}")
        if resp.status_code == 200:
            body = resp.json()
            self.ledger.answered("rabbitmq", body["lease_id"], body["data"]["username"])
        return str(resp.status_code)

    def renew(self, rng):
        lease_id = self.ledger.pick_recent(rng)
        if lease_id is None:
            return "none yet"
        resp = self.server.http(
            "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": rng.randint(1, 4)})
        return str(resp.status_code)

    def revoke(self, rng):
        lease_id = self.ledger.pick_recent(rng)
        if lease_id is None:
            return "none yet"
        return str(self.server.http("PUT", "sys/leases/revoke", json={"lease_id": lease_id}).status_code)

    def revoke_queued(self, rng):
        lease_id = self.ledger.pick_recent(rng)
        if lease_id is None:
            return "none yet"
        resp = self.server.http("PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False})
        return str(resp.status_code)


# ---- the end state ------------------------------------------------------------------------------


def live_leases(server):
    """What the lease table still holds: {prefix: [lease keys]} for the scenario's roles, plus
    "irrevocable": [lease ids] (sys/leases?type=irrevocable). Empty when everything has ended."""
    live = {}
    for prefix in LEASE_PREFIXES:
        resp = server.http("LIST", f"sys/leases/lookup/{prefix}")
        if resp.status_code == 200:
            live[prefix] = resp.json()["data"]["keys"]
        elif resp.status_code != 404:
            raise AssertionError(f"LIST sys/leases/lookup/{prefix}: {resp.status_code} {resp.text}")
    resp = server.http("GET", "sys/leases", params={"type": "irrevocable"})
    resp.raise_for_status()
    irrevocable = resp.json()["data"]["leases"]
    if irrevocable:
        live["irrevocable"] = [f"{l['lease_id']}: {l.get('error')}" for l in irrevocable]
    return live


def wait_until_drained(server, timeout, look_at=15.0):
    """Poll the lease table until nothing is live. Returns (seconds waited, what was live
    `look_at` s in (None when drained sooner), what was still live at the deadline or {}).

    Every lease of the run ends 10 s after its issue at the latest, so what is live `look_at` s
    into the last life has outlived its lease: it is reported, not failed on (the time a killed
    worker's claim takes to lapse is the server's to choose, see the report)."""
    started = time.monotonic()
    live_at_look = None
    while True:
        live = live_leases(server)
        waited = time.monotonic() - started
        if not live or waited >= timeout:
            return waited, live_at_look, live
        if live_at_look is None and waited >= look_at:
            live_at_look = live
        time.sleep(0.5)


def pg_accounts(pg):
    """Roles on the cluster that carry our generated-name prefix."""
    rows = pg.query("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1", (PG_PREFIX,))
    return [r[0] for r in rows]


def iam_accounts(moto):
    """IAM users in moto that carry our generated-name prefix (listed as moto's root user)."""
    iam = moto.client("iam", *moto.root)
    names = []
    for page in iam.get_paginator("list_users").paginate():
        names += [u["UserName"] for u in page["Users"] if u["UserName"].startswith(IAM_PREFIX)]
    return sorted(names)


def rabbitmq_accounts(broker, prefix):
    """Users on the broker that carry this run's prefix (`lh-<mount marker>-`)."""
    return broker.users(prefix)


def recovered_at_start_up(log_dir):
    """How many leases the server found interrupted mid-creation at its start-ups (it logs
    "found N leases interrupted while being created"): accounts whose issue a kill cut short."""
    total = 0
    for log in sorted(log_dir.glob("run-*.log")):
        for m in re.finditer(r"found (\d+) leases interrupted while being created", log.read_text(errors="replace")):
            total += int(m.group(1))
    return total


def logs_mentioning(log_dir, names, limit=10):
    """For each name, the run logs that mention it (for a failure message)."""
    found = {}
    logs = sorted(log_dir.glob("run-*.log"))
    for name in list(names)[:limit]:
        found[name] = [log.name for log in logs if name in log.read_text(errors="replace")]
    return found
