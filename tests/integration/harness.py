"""Process harness for the pgswitch integration tests.

PgServer  - a throw-away PostgreSQL 15 cluster (initdb + pg_ctl), owned by the
            unprivileged OS user "postgres" when the tests run as root.
Pooler    - pgswitch (or, with POOLER=pgbouncer, Debian's PgBouncer 1.18)
            started in the foreground on a pgbouncer.ini written here.

Everything a test starts is stopped by PID, also when the test fails; every
wait is bounded.  Only the loopback interface and dynamically chosen free
ports are used.
"""

import atexit
import hashlib
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import psycopg

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")
POOLER_KIND = os.environ.get("POOLER", "pgswitch").strip().lower() or "pgswitch"
IS_PGBOUNCER = POOLER_KIND == "pgbouncer"
HOST = "127.0.0.1"
RUN_AS = "postgres"  # OS user for PostgreSQL and the pooler when we are root

# Passwords of the roles created in every PgServer (see PgServer.setup_roles).
PASSWORDS = {
    "postgres": "postgrespw",
    "admin": "adminpw",
    "alice": "alicepw",  # server side: trust
    "md5user": "md5pw",  # server side: md5 (stored as md5)
    "scramuser": "scrampw",  # server side: scram-sha-256 (stored as SCRAM)
}

_ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def repo_root():
    return _ROOT_DIR


def pooler_binary():
    """Path of the pooler binary under test."""
    if IS_PGBOUNCER:
        return PGBOUNCER_BIN
    b = os.environ.get("PGSWITCH_BIN")
    if b:
        return b
    for cand in ("build/pgswitch", "build-asan/pgswitch"):
        p = os.path.join(_ROOT_DIR, cand)
        if os.path.exists(p):
            return p
    return os.path.join(_ROOT_DIR, "build", "pgswitch")


_RUNNABLE_CACHE = {}

# Every PgServer / Pooler that may be running, so that an interrupted run
# (SIGTERM, Ctrl-C, an exception escaping a fixture) still stops them.
LIVE = []


def stop_everything():
    """Stop every server this process started and has not stopped yet."""
    for obj in list(reversed(LIVE)):
        try:
            obj.cleanup()
        except Exception:  # noqa: BLE001
            pass


atexit.register(stop_everything)


def runnable_binary(path):
    """PATH, or a copy of it the unprivileged RUN_AS user can execute.

    When we are root the pooler runs as "postgres"; a build tree under a
    private directory (e.g. a CI clone in /root) is not reachable for that
    user, so the binary is copied once into a world-readable temp dir."""
    if not _am_root() or IS_PGBOUNCER:
        return path
    if path in _RUNNABLE_CACHE:
        return _RUNNABLE_CACHE[path]
    ok = subprocess.run(_run_as_prefix() + ["test", "-x", path], stdin=subprocess.DEVNULL).returncode == 0
    if ok:
        _RUNNABLE_CACHE[path] = path
        return path
    d = tempfile.mkdtemp(prefix="pgswitch-bin-")
    os.chmod(d, 0o755)
    dst = os.path.join(d, os.path.basename(path))
    shutil.copy2(path, dst)
    os.chmod(dst, 0o755)
    atexit.register(shutil.rmtree, d, True)
    _RUNNABLE_CACHE[path] = dst
    return dst


# ---------------------------------------------------------------------------
# small utilities


def free_port():
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll PRED until it returns a truthy value; raise TimeoutError after TIMEOUT."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(
                "timed out after %.1fs waiting for %s%s"
                % (timeout, what, " (last error: %r)" % (last_exc,) if last_exc else "")
            )
        time.sleep(interval)


def _am_root():
    return os.geteuid() == 0


def _run_as_prefix():
    if not _am_root():
        return []
    return ["setpriv", "--reuid=" + RUN_AS, "--regid=" + RUN_AS, "--init-groups", "--"]


def make_owned_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    if _am_root():
        pw = pwd.getpwnam(RUN_AS)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o700)
    return d


def chown_to_runner(path):
    if _am_root():
        pw = pwd.getpwnam(RUN_AS)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def write_owned(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    chown_to_runner(path)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive for our purposes
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def rss_kb(pid):
    """VmRSS of PID in kB (None if unavailable)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


# ---------------------------------------------------------------------------
# simple-query helpers (the admin console speaks only the simple protocol)


def simple_query(conn, sql):
    """Run SQL with the simple query protocol on a psycopg connection and
    return (column_names, rows) with every value a str or None.

    psycopg 3.1 sends a parameterless execute() with PQsendQuery (a simple
    Query message) and waits in Python, so the per-test alarm can interrupt
    it; auto-preparation (which would switch to the extended protocol the
    admin console rejects) must be off: Pooler.admin() sets
    prepare_threshold=None, and we check it here.  Raises psycopg.Error
    (with .sqlstate) on an ErrorResponse."""
    if conn.prepare_threshold is not None:
        raise ValueError("simple_query needs a connection with prepare_threshold=None")
    cur = conn.cursor()
    cur.execute(sql if isinstance(sql, str) else sql.decode())
    res = cur.pgresult
    if res is None or res.nfields == 0:
        return [], []
    cols = [res.fname(i).decode() for i in range(res.nfields)]
    rows = []
    for r in range(res.ntuples):
        row = []
        for c in range(res.nfields):
            v = res.get_value(r, c)
            row.append(None if v is None else v.decode("utf-8", "replace"))
        rows.append(tuple(row))
    return cols, rows


def dict_rows(cols, rows):
    return [dict(zip(cols, r)) for r in rows]


# ---------------------------------------------------------------------------
# PostgreSQL


HBA_TEMPLATE = """\
# generated by tests/integration/harness.py
local   all  all                    trust
host    all  md5user   127.0.0.1/32 md5
host    all  scramuser 127.0.0.1/32 scram-sha-256
host    all  all       127.0.0.1/32 trust
"""


class PgServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>."""

    def __init__(self, name="pg", conf=None):
        """CONF: extra postgresql.conf lines (e.g. "wal_level = logical"),
        appended after the defaults so they win."""
        self.name = name
        self.extra_conf = conf or ""
        self.dir = make_owned_tmpdir("pgswitch-%s-" % name)
        self.datadir = os.path.join(self.dir, "data")
        self.sockdir = self.dir
        self.port = free_port()
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.pid = None
        self._initdb()

    # -- process control -------------------------------------------------
    def _pg(self, args, timeout=60, check=True):
        cmd = _run_as_prefix() + args
        p = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            cwd=self.dir,
        )
        if check and p.returncode != 0:
            raise RuntimeError(
                "%s failed (rc=%d):\n%s" % (" ".join(args), p.returncode, p.stdout.decode(errors="replace"))
            )
        return p

    def _initdb(self):
        self._pg(
            [
                os.path.join(PG_BIN, "initdb"),
                "-D", self.datadir, "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ],
            timeout=120,
        )
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf, "a") as f:
            f.write(
                "\n# pgswitch integration tests\n"
                "port = %d\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = '%s'\n"
                "max_connections = 300\n"
                "shared_buffers = 32MB\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "password_encryption = 'scram-sha-256'\n"
                "log_min_messages = warning\n"
                "logging_collector = off\n"
                "TimeZone = 'UTC'\n"
                % (self.port, self.sockdir)
            )
            if self.extra_conf:
                f.write("# extra settings of this server\n%s\n" % self.extra_conf)
        write_owned(os.path.join(self.datadir, "pg_hba.conf"), HBA_TEMPLATE)

    def start(self):
        if self not in LIVE:
            LIVE.append(self)
        self._pg(
            [os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir, "-l", self.logfile, "-w", "-t", "30", "start"],
            timeout=40,
        )
        self.pid = self._read_pid()
        return self

    def _read_pid(self):
        with open(os.path.join(self.datadir, "postmaster.pid")) as f:
            return int(f.readline().strip())

    def restart(self, mode="fast"):
        self._pg(
            [os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir, "-l", self.logfile,
             "-w", "-t", "30", "-m", mode, "restart"],
            timeout=40,
        )
        self.pid = self._read_pid()

    def stop(self, mode="immediate"):
        if self.pid is None:
            return
        try:
            self._pg(
                [os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir, "-w", "-t", "15", "-m", mode, "stop"],
                timeout=25,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass
        if pid_alive(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None

    def cleanup(self):
        self.stop()  # if this is interrupted we stay in LIVE for the final sweep
        if self in LIVE:
            LIVE.remove(self)
        if os.environ.get("PGSWITCH_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients -----------------------------------------------------------
    def connect(self, dbname="postgres", user="postgres", password=None, **kw):
        kw.setdefault("autocommit", True)
        kw.setdefault("connect_timeout", 10)
        return psycopg.connect(host=HOST, port=self.port, dbname=dbname, user=user, password=password, **kw)

    def execute(self, sql, params=None, dbname="postgres"):
        with self.connect(dbname=dbname) as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def setup_roles(self):
        """Roles for the auth tests: alice (trust), md5user (md5-hashed, md5
        in pg_hba), scramuser (SCRAM secret, scram-sha-256 in pg_hba), admin."""
        with self.connect() as c:
            c.execute("ALTER ROLE postgres PASSWORD %s" % _lit(PASSWORDS["postgres"]))
            for role in ("admin", "alice", "scramuser"):
                c.execute("SET password_encryption = 'scram-sha-256'")
                c.execute("CREATE ROLE %s LOGIN PASSWORD %s" % (role, _lit(PASSWORDS[role])))
            c.execute("SET password_encryption = 'md5'")
            c.execute("CREATE ROLE md5user LOGIN PASSWORD %s" % _lit(PASSWORDS["md5user"]))
            c.execute("GRANT pg_read_all_stats TO alice, md5user, scramuser, admin")
        return self

    def rolpassword(self, role):
        return self.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))[0][0]

    def __repr__(self):
        return "<PgServer %s port=%d pid=%s>" % (self.name, self.port, self.pid)


def _lit(s):
    return "'" + s.replace("'", "''") + "'"


# ---------------------------------------------------------------------------
# the pooler


def default_userlist(pg=None, overrides=None):
    """userlist.txt lines: plain-text passwords for every test role, with
    per-user overrides (e.g. an md5 or SCRAM secret)."""
    entries = dict(PASSWORDS)
    if overrides:
        entries.update(overrides)
    return "".join('"%s" "%s"\n' % (u, p) for u, p in entries.items() if p is not None)


class Pooler:
    """pgswitch or PgBouncer on a generated pgbouncer.ini.

    databases: dict name -> connect string ("host=... port=... dbname=...") or
    a dict of connect-string keys.  extra: further [pgbouncer] keys (they
    override the defaults below).  users: [users] section dict."""

    ADMIN_USER = "admin"

    def __init__(self, pg, mode="transaction", pool_size=5, auth_type="trust", extra=None,
                 databases=None, users_txt=None, users=None, admin_password=None, start=True):
        self.pg = pg
        self.bin = pooler_binary()
        self.dir = make_owned_tmpdir("pgswitch-pooler-")
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.userlist = os.path.join(self.dir, "userlist.txt")
        self.logfile = os.path.join(self.dir, "pooler.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.port = free_port()
        self.mode = mode
        self.pool_size = pool_size
        self.auth_type = auth_type
        self.extra = dict(extra or {})
        self.databases = databases if databases is not None else {
            "postgres": "host=%s port=%d dbname=postgres" % (HOST, pg.port)
        }
        self.users = dict(users or {})
        self.users_txt = users_txt if users_txt is not None else default_userlist(pg)
        self.admin_password = admin_password if admin_password is not None else PASSWORDS["admin"]
        self.proc = None
        self._stderr = None
        self.write_config()
        if start:
            self.start()

    # -- config ------------------------------------------------------------
    def settings(self):
        s = {
            "listen_addr": HOST,
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "logfile": self.logfile,
            "auth_type": self.auth_type,
            "auth_file": self.userlist,
            "admin_users": self.ADMIN_USER,
            "stats_users": "alice",
            "pool_mode": self.mode,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "500",
            "server_reset_query": "DISCARD ALL",
            "server_login_retry": "1",
            "server_connect_timeout": "5",
            "client_login_timeout": "10",
            "ignore_startup_parameters": "extra_float_digits",
            "log_connections": "1",
            "log_disconnections": "1",
            "verbose": "0",
        }
        s.update({k: str(v) for k, v in self.extra.items()})
        return s

    def render(self):
        lines = ["; generated by tests/integration/harness.py", "[databases]"]
        for name, spec in self.databases.items():
            if isinstance(spec, dict):
                spec = " ".join("%s=%s" % (k, v) for k, v in spec.items())
            lines.append("%s = %s" % (name, spec))
        if self.users:
            lines.append("")
            lines.append("[users]")
            for name, spec in self.users.items():
                lines.append("%s = %s" % (name, spec))
        lines.append("")
        lines.append("[pgbouncer]")
        for k, v in self.settings().items():
            lines.append("%s = %s" % (k, v))
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        write_owned(self.ini, text if text is not None else self.render())
        write_owned(self.userlist, self.users_txt)

    def ini_lines(self):
        with open(self.ini) as f:
            return f.read().splitlines()

    # -- process -----------------------------------------------------------
    def start(self, timeout=20):
        if not os.path.exists(self.bin):
            raise RuntimeError(
                "pooler binary %s does not exist (set PGSWITCH_BIN, build pgswitch, "
                "or run with POOLER=pgbouncer)" % self.bin
            )
        if self not in LIVE:
            LIVE.append(self)
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            _run_as_prefix() + [runnable_binary(self.bin), self.ini],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "pooler exited with code %s during startup:\n%s" % (self.proc.returncode, self.log_text()[-4000:])
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    pass
                c = self.admin(connect_timeout=3)
                c.close()
                return
            except Exception as e:  # noqa: BLE001
                last = e
                time.sleep(0.05)
        raise TimeoutError("pooler not ready after %ss: %r\n%s" % (timeout, last, self.log_text()[-4000:]))

    def stop(self, sig=signal.SIGQUIT, timeout=5.0):
        """Stop by PID: SIGQUIT (immediate shutdown; SIGINT waits for the
        servers in use, as in PgBouncer), SIGKILL after TIMEOUT."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        rc = self.proc.returncode
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        return rc

    def kill(self):
        """SIGKILL by PID (used when a test hangs on the pooler)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self):
        self.stop()  # if this is interrupted we stay in LIVE for the final sweep
        if self in LIVE:
            LIVE.remove(self)
        if os.environ.get("PGSWITCH_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        """The logfile plus whatever of stderr is not already in it."""
        texts = []
        for p in (self.logfile, self.stderr_path):
            try:
                with open(p, errors="replace") as f:
                    texts.append(f.read())
            except OSError:
                texts.append("")
        log, err = texts
        seen = set(log.splitlines())  # a set: big logs stay linear
        extra = [ln for ln in err.splitlines() if ln not in seen]
        return log + ("\n" + "\n".join(extra) if extra else "")

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                         "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")

    def sanitizer_report(self):
        """ASan/LSan/UBSan output in the pooler's stderr (sanitizer builds), or ''."""
        try:
            with open(self.stderr_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        if not any(m in text for m in self.SANITIZER_MARKERS):
            return ""
        i = min(text.find(m) for m in self.SANITIZER_MARKERS if m in text)
        return text[max(0, i - 200):i + 6000]

    # -- clients -----------------------------------------------------------
    def connect(self, dbname="postgres", user="postgres", password=None, **kw):
        """psycopg connection through the pooler (autocommit by default).

        Auto-prepare is off (prepare_threshold=None) unless asked for: in
        transaction mode PgBouncer 1.18 cannot route named prepared
        statements."""
        kw.setdefault("autocommit", True)
        kw.setdefault("connect_timeout", 10)
        prep = kw.pop("prepare_threshold", None)
        if password is None and self.auth_type not in ("trust", "any"):
            password = PASSWORDS.get(user)
        c = psycopg.connect(host=HOST, port=self.port, dbname=dbname, user=user, password=password, **kw)
        c.prepare_threshold = prep
        return c

    def admin(self, user=None, password=None, **kw):
        """Autocommit connection to the admin console (database "pgbouncer")."""
        user = user or self.ADMIN_USER
        if password is None:
            password = PASSWORDS.get(user) if user != self.ADMIN_USER else self.admin_password
        kw.setdefault("connect_timeout", 10)
        c = psycopg.connect(host=HOST, port=self.port, dbname="pgbouncer", user=user,
                            password=password, autocommit=True, **kw)
        c.prepare_threshold = None
        return c

    def admin_query(self, sql):
        """Run SQL on a fresh admin connection; returns list of dict rows."""
        with self.admin() as c:
            cols, rows = simple_query(c, sql)
            return dict_rows(cols, rows)

    def show(self, what):
        return self.admin_query("SHOW " + what)

    def reload(self, text=None, via="admin"):
        """Rewrite the ini (from the current attributes, or TEXT) and reload."""
        self.write_config(text)
        if via == "admin":
            return self.admin_query("RELOAD")
        os.kill(self.proc.pid, signal.SIGHUP)
        return None

    def server_count(self, dbname=None):
        n = 0
        for row in self.show("POOLS"):
            if dbname and row["database"] != dbname:
                continue
            for k, v in row.items():
                if k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login",
                         "sv_active_cancel", "sv_being_canceled"):
                    n += int(v or 0)
        return n

    def __repr__(self):
        return "<Pooler %s port=%d pid=%s>" % (POOLER_KIND, self.port, self.pid)


class PoolerSet:
    """The poolers one test started: each is started from a Pooler class
    (or subclass); close() stops them in reverse order and fails the test on
    a sanitizer report (PGSWITCH_SANITIZER_CHECK=0 skips the check)."""

    def __init__(self, request):
        self.started = []
        request.node._poolers = self.started

    def start(self, cls, *args, **kw):
        p = cls(*args, start=False, **kw)
        self.started.append(p)
        p.start()
        return p

    def close(self):
        import pytest
        reports = []
        check = os.environ.get("PGSWITCH_SANITIZER_CHECK", "1") != "0"
        for p in reversed(self.started):
            p.stop()
            rep = p.sanitizer_report() if check else ""
            if rep:
                reports.append("%s:\n%s" % (p.ini, rep))
            p.cleanup()
        if reports:
            pytest.fail("sanitizer report from the pooler:\n" + "\n\n".join(reports), pytrace=False)


def admin_query(port, sql, user="admin", password=None):
    """Module-level helper: simple-protocol query on the admin console at PORT."""
    with psycopg.connect(host=HOST, port=port, dbname="pgbouncer", user=user,
                         password=password or PASSWORDS.get(user), autocommit=True,
                         connect_timeout=10, prepare_threshold=None) as c:
        cols, rows = simple_query(c, sql)
        return dict_rows(cols, rows)


# ---------------------------------------------------------------------------
# raw protocol client for malformed-input tests


class RawClient:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)

    def send(self, data):
        self.sock.sendall(data)

    def startup(self, user="postgres", database="postgres", extra=None):
        params = {"user": user, "database": database}
        params.update(extra or {})
        body = struct.pack("!I", 196608)
        for k, v in params.items():
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.send(struct.pack("!I", len(body) + 4) + body)

    def read_msg(self):
        hdr = self._recv_exact(5)
        if hdr is None:
            return None
        t, ln = hdr[:1], struct.unpack("!I", hdr[1:])[0]
        body = self._recv_exact(ln - 4) if ln > 4 else b""
        return t, body

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None if not buf else buf
            buf += chunk
        return buf

    def login(self):
        """Startup (trust auth) and read until ReadyForQuery."""
        self.startup()
        while True:
            m = self.read_msg()
            if m is None:
                raise ConnectionError("closed during login")
            if m[0] == b"E":
                raise ConnectionError("login error: %r" % (m[1],))
            if m[0] == b"Z":
                return

    def wait_closed(self, timeout=5.0):
        """Read until EOF/reset.  Returns (closed, data_received)."""
        self.sock.settimeout(0.2)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, data
            if not chunk:
                return True, data
            data += chunk
        return False, data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def error_fields(body):
    """Parse an ErrorResponse body into {code_char: value}."""
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[part[:1].decode()] = part[1:].decode("utf-8", "replace")
    return out


# ---------------------------------------------------------------------------
# raw login (to see the ErrorResponse fields, which libpq does not expose
# for connection failures: psycopg's OperationalError has sqlstate None)


def _scram_client(rc, password, user):
    import base64
    import hmac

    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    first = "n,," + first_bare
    mech = b"SCRAM-SHA-256\0"
    payload = first.encode()
    rc.send(b"p" + struct.pack("!I", 4 + len(mech) + 4 + len(payload)) + mech + struct.pack("!I", len(payload)) + payload)
    m = rc.read_msg()
    if m is None or m[0] != b"R":
        return m
    code = struct.unpack("!I", m[1][:4])[0]
    if code != 11:
        raise ConnectionError("unexpected SASL step %d" % code)
    server_first = m[1][4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt = base64.b64decode(attrs["s"])
    iters = int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo_proof]).encode()
    sig = hmac.new(stored_key, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    final = (final_wo_proof + ",p=" + base64.b64encode(proof).decode()).encode()
    rc.send(b"p" + struct.pack("!I", 4 + len(final)) + final)
    return rc.read_msg()


def raw_login(port, user="postgres", database="postgres", password=None, timeout=10.0):
    """Log in speaking the protocol ourselves (cleartext, md5 and SCRAM).

    Returns ("ok", {}) after ReadyForQuery, ("error", fields) for an
    ErrorResponse (fields: {"S","C","M",...}), or ("closed", {}) on EOF."""
    rc = RawClient(port, timeout=timeout)
    try:
        rc.startup(user=user, database=database)
        while True:
            m = rc.read_msg()
            if m is None:
                return "closed", {}
            t, body = m
            if t == b"E":
                return "error", error_fields(body)
            if t == b"Z":
                return "ok", {}
            if t != b"R":
                continue
            code = struct.unpack("!I", body[:4])[0]
            if code == 0:
                continue
            if code == 3:
                pw = (password or "").encode() + b"\0"
                rc.send(b"p" + struct.pack("!I", 4 + len(pw)) + pw)
            elif code == 5:
                salt = body[4:8]
                inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
                outer = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
                pw = outer.encode() + b"\0"
                rc.send(b"p" + struct.pack("!I", 4 + len(pw)) + pw)
            elif code == 10:
                m = _scram_client(rc, password or "", user)
                if m is None:
                    return "closed", {}
                if m[0] == b"E":
                    return "error", error_fields(m[1])
                # AuthenticationSASLFinal (12) then AuthenticationOk: loop on
            elif code in (11, 12):
                continue
            else:
                raise ConnectionError("unsupported auth request %d" % code)
    finally:
        rc.close()
