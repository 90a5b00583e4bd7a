"""A throwaway PostgreSQL cluster with SCRAM password authentication, for tests.

Tests must prove that a revoked credential really stops working, so the cluster they talk to has
to check passwords: the machine's own PostgreSQL (trust auth) would let any name in. This module
runs `initdb --auth=scram-sha-256` into a temporary directory, starts the server on a free port
of 127.0.0.1 with its unix socket inside that directory, and can stop and start it again to
simulate a target outage.

    with PgCluster() as pg:
        pg.password, pg.port, pg.dsn()      # superuser "postgres"
        pg.stop(); pg.start()               # an outage on the same port and data
        pg.role_exists("v-root-ro-...")     # look in pg_roles
        pg.can_login(user, password)        # a real SCRAM login

PostgreSQL refuses to run as root. When we are root (here and in CI) every PostgreSQL binary runs
through `runuser -u postgres --` and the directory is handed to that user.

Run it directly (`python3 integration/pgcluster.py`) to get a cluster for manual work; it prints
the connection details and stops the cluster on Ctrl-C.

psycopg is imported only by the methods that log in, so the cluster itself needs nothing but the
standard library.
"""

import atexit
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["PgCluster", "newest_pg_bindir", "free_port", "pg_cluster"]

# The OS user that owns the cluster when we run as root.
PG_OS_USER = "postgres"
SUPERUSER = "postgres"


def newest_pg_bindir():
    """The bin directory of the newest PostgreSQL under /usr/lib/postgresql (or $PG_BINDIR)."""
    override = os.environ.get("PG_BINDIR")
    if override:
        return Path(override)
    versions = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            # Version directories are "15", "16", or "9.6" on old systems: compare numerically.
            key = tuple(int(p) for p in re.findall(r"\d+", d.parent.name))
            versions.append((key, d))
    if not versions:
        raise RuntimeError("no PostgreSQL found under /usr/lib/postgresql/*/bin (set PG_BINDIR)")
    return max(versions)[1]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One temporary PostgreSQL cluster. Create, then `start()` (or use as a context manager)."""

    def __init__(self, base_dir=None, bindir=None):
        self.bindir = Path(bindir) if bindir else newest_pg_bindir()
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="leasehold-pg-", dir=_traversable(base_dir)))
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = None
        self.running = False
        self._initialized = False
        self._started_once = False
        atexit.register(self.cleanup)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout=60):
        """Initialise on first use, then start the server and wait until it accepts connections."""
        if self.running:
            return self
        if not self._initialized:
            self._initdb()
        for attempt in range(3):
            try:
                self._pg_ctl("start", "-w", "-t", str(timeout), "-l", str(self.log_path))
                break
            except subprocess.CalledProcessError:
                # The port was free when we chose it; someone may have taken it since. Only a
                # first start may move; a restart must keep its port, as clients know it.
                if attempt == 2 or self._started_once or not self._port_taken():
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}") from None
                self._configure(free_port())
        self.running = True
        self._started_once = True
        return self

    def stop(self, mode="fast"):
        """Stop the server (sessions are terminated). Data and port are kept for `start()`."""
        if not self.running:
            return
        self._pg_ctl("stop", "-w", "-m", mode)
        self.running = False

    def cleanup(self):
        """Stop the server at once and delete every file. Safe to call twice."""
        if self.running:
            try:
                self.stop(mode="immediate")
            except Exception:
                pass
        self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()

    # ---- connecting --------------------------------------------------------------------------

    def url(self, user=SUPERUSER, password=None, dbname="postgres"):
        """A postgresql:// URL over TCP (the password defaults to the superuser's)."""
        from urllib.parse import quote

        password = self.password if password is None else password
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{dbname}"

    def dsn(self, user=SUPERUSER, password=None, dbname="postgres"):
        """Keyword arguments for psycopg.connect over TCP with a password."""
        return {
            "host": self.host,
            "port": self.port,
            "user": user,
            "password": self.password if password is None else password,
            "dbname": dbname,
            "connect_timeout": 5,
        }

    def connect(self, user=SUPERUSER, password=None, dbname="postgres", autocommit=True):
        """A psycopg connection with a real password login over TCP."""
        import psycopg

        return psycopg.connect(autocommit=autocommit, **self.dsn(user, password, dbname))

    def query(self, sql, params=None):
        """Run one statement as the superuser and return all rows (or [] when it returns none)."""
        with self.connect() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def role(self, name):
        """The pg_roles row of `name`, or None.

        A dict with rolname, rolcanlogin and valid_until: VALID UNTIL as Unix seconds (a float,
        `inf` for 'infinity', None when unset), easy to compare with time.time().
        """
        rows = self.query(
            "SELECT rolname, rolcanlogin, extract(epoch FROM rolvaliduntil)::float8"
            " FROM pg_roles WHERE rolname = %s",
            (name,),
        )
        if not rows:
            return None
        rolname, canlogin, valid_until = rows[0]
        return {"rolname": rolname, "rolcanlogin": canlogin, "valid_until": valid_until}

    def role_exists(self, name):
        return self.role(name) is not None

    def can_login(self, user, password):
        """True when a password login as `user` succeeds, False when authentication fails."""
        import psycopg

        try:
            with self.connect(user, password) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError as e:
            if "authentication failed" in str(e) or "does not exist" in str(e) or "expired" in str(e):
                return False
            raise

    def log_size(self):
        """The log's length in bytes, to read what is written after this moment with log_since."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset, max_lines=50):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no PostgreSQL log)"
        return "\n".join(lines[-max_lines:])

    def log_tail(self, lines=50):
        return self.log_since(0, max_lines=lines)

    # ---- internals ---------------------------------------------------------------------------

    def _initdb(self):
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self.socket_dir.mkdir()
        self._give_to_postgres(self.dir, pwfile, self.socket_dir)
        try:
            self._run(
                self.bindir / "initdb",
                "-D", str(self.data_dir),
                "--auth=scram-sha-256",
                f"--username={SUPERUSER}",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._configure(free_port())
        self._initialized = True

    def _configure(self, port):
        """Write the listener settings; postgresql.auto.conf is read last, so these win."""
        self.port = port
        settings = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "password_encryption": "'scram-sha-256'",
            # A throwaway cluster: durability buys nothing and costs seconds per test.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        auto = self.data_dir / "postgresql.auto.conf"
        auto.write_text(
            "# written by integration/pgcluster.py\n"
            + "".join(f"{k} = {v}\n" for k, v in settings.items())
        )
        self._give_to_postgres(auto)

    def _port_taken(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _pg_ctl(self, *args):
        self._run(self.bindir / "pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, *cmd):
        cmd = [str(c) for c in cmd]
        if self.as_root:
            cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
        # cwd: PostgreSQL tools resolve their own path and must be able to read the working
        # directory, which for root is often /root (closed to the postgres user).
        proc = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def _give_to_postgres(self, *paths):
        if not self.as_root:
            return
        pw = pwd.getpwnam(PG_OS_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def _traversable(base_dir):
    """A directory the postgres user can reach (TMPDIR may point into root's closed home)."""
    base = Path(base_dir or tempfile.gettempdir())
    if os.geteuid() != 0:
        return str(base)
    p = base.resolve()
    for part in [p, *p.parents]:
        if not os.stat(part).st_mode & 0o001:
            return "/tmp"
    return str(base)


try:
    import pytest
except ImportError:  # the module is usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def pg_cluster():
        """A session-wide started cluster; import this name into a conftest.py to use it."""
        with PgCluster() as cluster:
            yield cluster


def _main():
    with PgCluster() as pg:
        print(f"PostgreSQL {pg.bindir.parent.name} running in {pg.dir}")
        print(f"  url:      {pg.url()}")
        print(f"  password: {pg.password}")
        print(f"  socket:   {pg.socket_dir}")
        print("Ctrl-C stops it and deletes the files.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()
