#!/usr/bin/env python3
"""The server's own CPU per issued credential, read from /proc (BENCHMARKS.md, "Issue 22, third
round"): starts `BINARY server -dev` on a SQLite file, mounts database/ against a PostgreSQL
that trusts local connections (the machine's own on 127.0.0.1:5432 here), issues N credentials
from C keep-alive clients after 50 to warm up, and prints the issue rate, the server's CPU
time per issue and the whole machine's. Every lease is revoked (through the API) at the end.

  integration/bench/cpu_per_issue.py BINARY [--n 2000] [--clients 8] [--cheap] [--churn]

--cheap: the role's only statement is `CREATE ROLE "{{name}}"`, so PostgreSQL's password hashing
(most of an issue's cost on the machine) does not hide the server's own cost. --churn: revoke
each lease right after its issue (the figure is then per issue + revoke). WRAP="valgrind
--tool=callgrind" in the environment runs the server under that command.
"""
import argparse
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time

PASSWORD_STATEMENTS = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT pg_read_all_data TO "{{name}}";',
]
CHEAP_STATEMENTS = ['CREATE ROLE "{{name}}";']


def call(conn, method, path, body=None):
    conn.request(method, "/v1/" + path,
                 body=json.dumps(body) if body is not None else None,
                 headers={"X-Vault-Token": "root"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
    return json.loads(data) if data else None


def process_cpu_ms(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def process_io(pid):
    """(bytes written, write calls) so far by `pid`, from /proc/PID/io (0s where unreadable)."""
    try:
        io = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
        return int(io["wchar"]), int(io["syscw"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def machine_idle():
    values = list(map(int, open("/proc/stat").readline().split()[1:]))
    return values[3] + values[4], sum(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--port", type=int, default=8311)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable")
    ap.add_argument("--cheap", action="store_true")
    ap.add_argument("--churn", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="cpu-per-issue-")
    env = dict(os.environ, LEASEHOLD_DEV_STORAGE=os.path.join(work, "dev.db"))
    server = subprocess.Popen(
        os.environ.get("WRAP", "").split()
        + [args.binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{args.port}",
           "-dev-root-token-id=root"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
    try:
        for _ in range(600):
            try:
                admin = http.client.HTTPConnection("127.0.0.1", args.port)
                call(admin, "GET", "sys/health")
                break
            except OSError:
                time.sleep(0.1)
        call(admin, "POST", "sys/mounts/database", {"type": "database"})
        call(admin, "POST", "database/config/pg", {
            "plugin_name": "postgresql-database-plugin", "connection_url": args.pg,
            "allowed_roles": "*", "verify_connection": True})
        call(admin, "POST", "database/roles/bench", {
            "db_name": "pg", "default_ttl": "1h",
            "creation_statements": CHEAP_STATEMENTS if args.cheap else PASSWORD_STATEMENTS})
        for _ in range(50):
            call(admin, "GET", "database/creds/bench")

        per_client = args.n // args.clients

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", args.port)
            for _ in range(per_client):
                lease = call(conn, "GET", "database/creds/bench")["lease_id"]
                if args.churn:
                    call(conn, "PUT", "sys/leases/revoke", {"lease_id": lease})

        started, cpu0, idle0 = time.time(), process_cpu_ms(server.pid), machine_idle()
        io0 = process_io(server.pid)
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took, cpu1, idle1 = time.time() - started, process_cpu_ms(server.pid), machine_idle()
        io1 = process_io(server.pid)
        n = per_client * args.clients
        busy = 1 - (idle1[0] - idle0[0]) / (idle1[1] - idle0[1])
        print(f"{os.path.basename(args.binary)} clients={args.clients} n={n}: {n / took:.0f}/s, "
              f"server CPU {(cpu1 - cpu0) / n:.3f} ms per op, machine busy {100 * busy:.0f}% "
              f"({busy * os.cpu_count() * took * 1000 / n:.2f} ms of CPU per op, all processes); "
              f"written per op {(io1[0] - io0[0]) / n / 1024:.1f} KiB in {(io1[1] - io0[1]) / n:.1f} "
              f"calls (sockets included)")
        call(admin, "PUT", "sys/leases/revoke-prefix/database/creds/bench")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
