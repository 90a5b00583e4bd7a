"""Several leasehold servers on one PostgreSQL storage database, as an operator runs them.

Files, under integration/.work/cluster/<test>/ (wiped when that test starts):
  seal.key                 the seal key every node shares
  <node>/leasehold.toml    each node's config file
  logs/<node>.log          each node's stdout and stderr
  audit.log                the file audit device all nodes on this host append to
"""

import json
import re
import secrets
import shutil
from collections import defaultdict

import hvac

from harness import REPO, LeaseholdServer, wait_until

WORK_DIR = REPO / "integration" / ".work" / "cluster"


class Node(LeaseholdServer):
    """`leasehold server -config FILE` with `[storage] type = "postgresql"`. The connection URL
    (it holds the password) is given through LEASEHOLD_STORAGE_CONNECTION_URL, as the README
    advises, not written to the file."""

    def __init__(self, binary, work_dir, name, storage_url, key_file):
        super().__init__(binary, work_dir / name, work_dir / "logs" / f"{name}.log")
        self.name = name
        self.storage_url = storage_url
        self.root_token = None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.state_dir / "leasehold.toml"
        self.config_path.write_text(
            f'api_addr = "{self.addr}"\n'
            "[listener]\n"
            f'address = "127.0.0.1:{self.port}"\n'
            "[storage]\n"
            'type = "postgresql"\n'
            "max_parallel = 8\n"
            "[seal]\n"
            f'key_file = "{key_file}"\n'
        )

    def command(self):
        return [str(self.binary), "server", "-config", str(self.config_path)]

    def environment(self):
        return {
            "LEASEHOLD_STORAGE_CONNECTION_URL": self.storage_url,
            "LEASEHOLD_RETRY_BASE": "200ms",
            "LEASEHOLD_RETRY_MAX": "2s",
            "NO_COLOR": "1",
        }

    def printed_root_token(self):
        """The root token this node printed at start, if it was the one to create it."""
        m = re.search(r"Root Token: (\S+)", self.log_path.read_text(errors="replace"))
        return m.group(1) if m else None

    def client(self, token):
        return hvac.Client(url=self.addr, token=token)

    def node_id(self):
        """This node's id, from its log line `joined the cluster`."""
        m = re.search(r"joined the cluster node=(\S+)", self.log_path.read_text(errors="replace"))
        assert m, f"{self.name} logged no node id:\n{self.log_tail(20)}"
        return m.group(1)


class Nodes:
    """`count` nodes on a fresh storage database of `pg`. The first starts alone and creates the
    root token; the others join it."""

    def __init__(self, binary, pg, test_name, count=3):
        self.work_dir = WORK_DIR / test_name
        shutil.rmtree(self.work_dir, ignore_errors=True)
        (self.work_dir / "logs").mkdir(parents=True)
        self.pg = pg
        self.db = f"lh_storage_{secrets.token_hex(4)}"
        pg.query(f'CREATE DATABASE "{self.db}"')
        key_file = self.work_dir / "seal.key"
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
        url = pg.url(dbname=self.db)
        self.nodes = [
            Node(binary, self.work_dir, f"node{i}", url, key_file) for i in range(count)
        ]
        self.root_token = None

    def start(self):
        first = self.nodes[0].start()
        self.root_token = first.printed_root_token()
        assert self.root_token, f"the first node printed no root token:\n{first.log_tail(30)}"
        for node in self.nodes[1:]:
            node.start()
            assert node.printed_root_token() is None, "a joining node made a second root token"
        for node in self.nodes:
            node.root_token = self.root_token
        return self

    def stop(self):
        for node in self.nodes:
            node.stop()

    def __getitem__(self, i):
        return self.nodes[i]

    def client(self, i):
        return self.nodes[i].client(self.root_token)

    def wait_for_mount(self, path):
        """Until every node routes `path` (another node's mount reaches it through the feed)."""
        for node in self.nodes:
            wait_until(
                lambda: f"{path}/" in node.client(self.root_token).sys.list_mounted_secrets_engines()["data"],
                10, f"{node.name} sees the {path}/ mount",
            )

    def storage_rows(self, sql):
        """Rows of a query on the storage database."""
        with self.pg.connect(dbname=self.db) as conn:
            return conn.execute(sql).fetchall()


def audit_entries(path):
    """Every entry of a JSON-lines audit file, parsed (a torn line would fail here)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def destroyed_by_lease(entries):
    """lease id -> [node of each `destroyed` entry], in file order."""
    out = defaultdict(list)
    for e in entries:
        if e.get("type") == "lease" and e.get("event") == "destroyed":
            out[e["lease"]["lease_id"]].append(e.get("node"))
    return out
