"""contrib/container/entrypoint.sh: pgbouncer.ini + userlist.txt rendered from
the environment variables of the edoburu/pgbouncer and bitnami/pgbouncer
images, then the pooler exec'd on them (docs/container.md).

The entrypoint runs as the pooler's OS user (harness.RUN_AS when we are root)
with a clean environment, renders into a temp dir (PGSWITCH_CONFIG_DIR) and
execs PGSWITCH_BIN, so the process we start *is* the pooler: it is stopped by
that PID.  Seed 001's compose service is rendered end to end: SCRAM with the
DB_PASSWORD from the userlist, auth_query through AUTH_USER, SHOW CONFIG.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import time

import psycopg
import pytest

import harness
from harness import HOST, PASSWORDS, PG_BIN, dict_rows, free_port, simple_query, write_owned

CONTRIB = os.path.join(harness.repo_root(), "contrib", "container")
ENTRYPOINT = os.path.join(CONTRIB, "entrypoint.sh")
HEALTHCHECK = os.path.join(CONTRIB, "healthcheck.sh")


class Container:
    """One 'container': a config dir, the entrypoint run in it, and the
    pooler it exec'd.  Looks enough like harness.Pooler (kill, log_text, ini,
    cleanup) for conftest's alarm and failure report and harness.LIVE."""

    def __init__(self, env):
        self.dir = harness.make_owned_tmpdir("pgswitch-ctr-")
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.userlist = os.path.join(self.dir, "userlist.txt")
        self.out_path = os.path.join(self.dir, "entrypoint.log")
        # the scripts, where the pooler's OS user can read them
        self.entrypoint = os.path.join(self.dir, "entrypoint.sh")
        self.healthcheck = os.path.join(self.dir, "healthcheck.sh")
        for src, dst in ((ENTRYPOINT, self.entrypoint), (HEALTHCHECK, self.healthcheck)):
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755)
            harness.chown_to_runner(dst)
        self.bin = harness.runnable_binary(harness.pooler_binary())
        self.env = {
            "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % PG_BIN,
            "LANG": "C.UTF-8",
            "PGSWITCH_CONFIG_DIR": self.dir,
            "PGSWITCH_BIN": self.bin,
        }
        self.env.update({k: str(v) for k, v in env.items()})
        self.port = int(self.env["LISTEN_PORT"]) if "LISTEN_PORT" in self.env else None
        self.proc = None
        self._out = None

    # -- the entrypoint --------------------------------------------------------
    def _cmd(self, *args):
        return harness._run_as_prefix() + ["/bin/sh", self.entrypoint] + list(args)

    def render(self, env=None, check=True):
        """`entrypoint.sh render`; returns the CompletedProcess (text)."""
        e = dict(self.env)
        e.update({k: str(v) for k, v in (env or {}).items()})
        p = subprocess.run(self._cmd("render"), env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           cwd=self.dir, timeout=30, text=True)
        with open(self.out_path, "a") as f:
            f.write(p.stdout)
        if check and p.returncode != 0:
            raise AssertionError("entrypoint render failed (rc=%d):\n%s" % (p.returncode, p.stdout))
        return p

    def start(self, timeout=20):
        """Run the entrypoint with no arguments: render, exec the pooler."""
        if self not in harness.LIVE:
            harness.LIVE.append(self)
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(self._cmd(), env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("entrypoint/pooler exited with %s during startup:\n%s"
                                   % (self.proc.returncode, self.log_text()[-4000:]))
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError("pooler not listening after %ss: %r\n%s" % (timeout, last, self.log_text()[-4000:]))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, sig=signal.SIGQUIT, timeout=5.0):
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
                self.kill()
                self.proc.wait(10)
        if self._out:
            self._out.close()
            self._out = None
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self):
        self.stop()
        if self in harness.LIVE:
            harness.LIVE.remove(self)
        if os.environ.get("PGSWITCH_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_report(self):
        text = self.log_text()
        hits = [text.find(m) for m in harness.Pooler.SANITIZER_MARKERS if m in text]
        return text[max(0, min(hits) - 200):min(hits) + 6000] if hits else ""

    # -- looking at it ---------------------------------------------------------
    def read(self, path):
        with open(path) as f:
            return f.read()

    def healthcheck_rc(self):
        return subprocess.run(harness._run_as_prefix() + ["/bin/sh", self.healthcheck], env=self.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=20).returncode

    def connect(self, dbname, user, password, **kw):
        kw.setdefault("connect_timeout", 10)
        return psycopg.connect(host=HOST, port=self.port, dbname=dbname, user=user, password=password,
                               autocommit=True, **kw)

    def show(self, what, user, password):
        with psycopg.connect(host=HOST, port=self.port, dbname="pgbouncer", user=user, password=password,
                             autocommit=True, connect_timeout=10, prepare_threshold=None) as c:
            return dict_rows(*simple_query(c, "SHOW " + what))

    def config(self, user, password):
        return {r["key"]: r["value"] for r in self.show("CONFIG", user, password)}


@pytest.fixture
def container(request):
    """container(env) -> Container (not started); all are stopped and removed
    at teardown, and a sanitizer report in a pooler's output fails the test."""
    made = []
    request.node._poolers = made  # conftest: alarm kill() and failure log

    def make(env):
        c = Container(env)
        made.append(c)
        return c

    yield make
    reports = []
    for c in reversed(made):
        c.stop()
        if os.environ.get("PGSWITCH_SANITIZER_CHECK", "1") != "0" and c.sanitizer_report():
            reports.append(c.sanitizer_report())
        c.cleanup()
    if reports:
        pytest.fail("sanitizer report from the pooler:\n" + "\n\n".join(reports), pytrace=False)


def first_auth_request(port, user, database):
    """The pooler's answer to a startup packet: ('R', code, body) or ('E', fields)."""
    rc = harness.RawClient(port)
    try:
        rc.startup(user=user, database=database)
        t, body = rc.read_msg()
        if t == b"E":
            return ("E", harness.error_fields(body))
        return ("R", struct.unpack("!I", body[:4])[0], body[4:])
    finally:
        rc.close()


def assert_owned_0600(path):
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o600, oct(st.st_mode)
    if os.geteuid() == 0:
        import pwd
        assert st.st_uid == pwd.getpwnam(harness.RUN_AS).pw_uid


def dead_port():
    return free_port()  # nothing listens there


# ---------------------------------------------------------------------------
# seed 001: the edoburu/pgbouncer compose service, as written


USER_LOOKUP_SQL = """\
CREATE ROLE pgbouncer LOGIN PASSWORD 'SET_PASSWORD_IN_ENV';
CREATE OR REPLACE FUNCTION public.user_lookup(in_user text,
OUT uname text, OUT phash text) RETURNS record AS $$
BEGIN
SELECT usename, passwd FROM pg_catalog.pg_shadow
WHERE usename = in_user INTO uname, phash;
RETURN;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;
REVOKE ALL ON FUNCTION public.user_lookup(text) FROM public;
GRANT EXECUTE ON FUNCTION public.user_lookup(text) TO pgbouncer;
"""

SEED001_HBA = """\
# generated by tests/integration/test_container_env.py
local   all  all                    trust
host    all  pgbouncer 127.0.0.1/32 scram-sha-256
host    all  analyst   127.0.0.1/32 scram-sha-256
host    all  md5user   127.0.0.1/32 md5
host    all  scramuser 127.0.0.1/32 scram-sha-256
host    all  all       127.0.0.1/32 trust
"""


@pytest.fixture
def seed001_pg(pg_factory):
    """A server like seed 001's timescale_db: database tracksolid_db with the
    10_pgbouncer_auth.sql migration, the pgbouncer role's password set from
    PGBOUNCER_AUTH_PASSWORD, an application role (analyst) with no userlist
    entry; SCRAM required for scramuser, pgbouncer and analyst."""
    s = pg_factory("ctr-seed001")
    s.execute("CREATE DATABASE tracksolid_db")
    s.execute(USER_LOOKUP_SQL, dbname="tracksolid_db")
    s.pgbouncer_pw = "pgb-env-ctr-1c9e"
    s.analyst_pw = "analyst-ctr-7b21"
    s.execute("ALTER ROLE pgbouncer PASSWORD '%s'" % s.pgbouncer_pw)
    s.execute("CREATE ROLE analyst LOGIN PASSWORD '%s'" % s.analyst_pw)
    write_owned(os.path.join(s.datadir, "pg_hba.conf"), SEED001_HBA)
    s.restart()
    return s


def seed001_env(pgs, listen_port):
    """Seed 001's `environment:` block plus what `env_file: .env` brings in.
    POSTGRES_USER is scramuser here (a role the server makes log in with
    SCRAM, so the server login proves the userlist password)."""
    env_file = {
        "POSTGRES_USER": "scramuser",
        "POSTGRES_PASSWORD": PASSWORDS["scramuser"],
        "POSTGRES_DB": "tracksolid_db",
        "PGBOUNCER_AUTH_PASSWORD": pgs.pgbouncer_pw,
        # the application's URL, also in .env: must not redirect the pooler
        "DATABASE_URL": "postgresql://ingest:ingest-secret-9f@127.0.0.1:%d/ingest" % dead_port(),
    }
    environment = {
        "DB_HOST": HOST,  # timescale_db
        "DB_PORT": pgs.port,
        "DB_USER": env_file["POSTGRES_USER"],
        "DB_PASSWORD": env_file["POSTGRES_PASSWORD"],
        "DB_NAME": env_file["POSTGRES_DB"],
        "POOL_MODE": "transaction",
        "AUTH_TYPE": "scram-sha-256",
        "MAX_CLIENT_CONN": "200",
        "DEFAULT_POOL_SIZE": "15",
        "MIN_POOL_SIZE": "2",
        "RESERVE_POOL_SIZE": "5",
        "SERVER_RESET_QUERY": "DISCARD ALL",
        "SERVER_IDLE_TIMEOUT": "600",
        "ADMIN_USERS": env_file["POSTGRES_USER"],
        "LISTEN_PORT": listen_port,
        "AUTH_USER": "pgbouncer",
        "AUTH_QUERY": "SELECT uname, phash FROM public.user_lookup($1)",  # $$1 in compose
        # test only: loopback instead of the image's 0.0.0.0
        "LISTEN_ADDR": HOST,
    }
    env = dict(env_file)
    env.update(environment)
    return env


def test_seed001_compose_service(seed001_pg, container):
    pgs = seed001_pg
    pw = PASSWORDS["scramuser"]
    c = container(seed001_env(pgs, free_port()))
    c.start()

    # the entrypoint exec'd the pooler: the PID we started is the pooler
    exe = os.path.realpath("/proc/%d/exe" % c.pid)
    assert exe == os.path.realpath(c.bin), exe

    # rendered files: the password only in the userlist (0600, the pooler's user)
    ini = c.read(c.ini)
    users = c.read(c.userlist)
    assert_owned_0600(c.ini)
    assert_owned_0600(c.userlist)
    assert "tracksolid_db = host=%s port=%d dbname=tracksolid_db" % (HOST, pgs.port) in ini
    assert "ingest" not in ini  # DB_* win over .env's DATABASE_URL
    assert pw not in ini and pgs.pgbouncer_pw not in ini
    assert '"scramuser" "%s"\n' % pw in users  # scram-sha-256: plain, as given
    assert '"pgbouncer" "%s"\n' % pgs.pgbouncer_pw in users  # AUTH_USER + PGBOUNCER_AUTH_PASSWORD
    assert "ingest" not in users

    # the client is asked for SCRAM-SHA-256
    ans = first_auth_request(c.port, "scramuser", "tracksolid_db")
    assert ans[0] == "R" and ans[1] == 10, ans  # AuthenticationSASL
    assert b"SCRAM-SHA-256\0" in ans[2]

    # DB_USER logs in with DB_PASSWORD; the server login (SCRAM in pg_hba)
    # uses the same password from the userlist; DB_PORT, not the URL's port
    with c.connect("tracksolid_db", "scramuser", pw) as conn:
        row = conn.execute("SELECT current_user, current_database(), inet_server_port()").fetchone()
        assert row == ("scramuser", "tracksolid_db", pgs.port)
    with pytest.raises(psycopg.OperationalError):
        c.connect("tracksolid_db", "scramuser", "wrong-" + pw).close()

    # a role with no userlist entry: auth_query as AUTH_USER=pgbouncer, whose
    # own SCRAM login uses PGBOUNCER_AUTH_PASSWORD
    with c.connect("tracksolid_db", "analyst", pgs.analyst_pw) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("analyst",)
    with pytest.raises(psycopg.OperationalError):
        c.connect("tracksolid_db", "analyst", "not-" + pgs.analyst_pw).close()

    # the console (ADMIN_USERS=${POSTGRES_USER}), as the seed checks it
    cfg = c.config("scramuser", pw)
    assert cfg["pool_mode"] == "transaction"
    assert cfg["max_client_conn"] == "200"
    assert cfg["default_pool_size"] == "15"
    assert cfg["min_pool_size"] == "2"
    assert cfg["reserve_pool_size"] == "5"
    assert cfg["server_reset_query"] == "DISCARD ALL"
    assert cfg["auth_type"] == "scram-sha-256"
    assert cfg["auth_user"] == "pgbouncer"
    assert cfg["auth_query"] == "SELECT uname, phash FROM public.user_lookup($1)"
    assert cfg["admin_users"] == "scramuser"
    assert cfg["listen_port"] == str(c.port)
    assert cfg["ignore_startup_parameters"] == "extra_float_digits"
    dbs = {r["name"]: r for r in c.show("DATABASES", "scramuser", pw)}
    assert dbs["tracksolid_db"]["host"] == HOST
    assert dbs["tracksolid_db"]["port"] == str(pgs.port)
    pools = {(r["database"], r["user"]): r for r in c.show("POOLS", "scramuser", pw)}
    assert pools[("tracksolid_db", "scramuser")]["pool_mode"] == "transaction"

    # the image's HEALTHCHECK (pg_isready on the ini's listen address)
    assert c.healthcheck_rc() == 0

    # no password in what the entrypoint and the pooler printed
    log = c.log_text()
    assert "wrote %s" % c.ini in log
    for secret in (pw, pgs.pgbouncer_pw, pgs.analyst_pw, "ingest-secret-9f"):
        assert secret not in log

    # stopped by its PID
    rc = c.stop()
    assert rc is not None
    assert not harness.pid_alive(c.pid)
    assert c.healthcheck_rc() != 0


# ---------------------------------------------------------------------------
# md5, the "*" fallback database, DATABASE_URL, bitnami names


def test_md5_userlist_and_fallback_database(pg, container):
    """AUTH_TYPE=md5: the userlist holds md5(password + user), never the
    password; the client is asked for md5 and the server login (md5 in
    pg_hba) works from the hash alone. No DB_NAME: the "*" database."""
    pw = PASSWORDS["md5user"]
    c = container({
        "DB_HOST": HOST, "DB_PORT": pg.port, "DB_USER": "md5user", "DB_PASSWORD": pw,
        "AUTH_TYPE": "md5", "POOL_MODE": "session", "ADMIN_USERS": "md5user",
        "LISTEN_ADDR": HOST, "LISTEN_PORT": free_port(),
    })
    c.env["UNIX_SOCKET_DIR"] = c.dir
    c.start()
    users = c.read(c.userlist)
    assert '"md5user" "%s"\n' % harness.md5_secret("md5user", pw) in users
    assert pw not in users
    assert "\n* = host=%s port=%d auth_user=md5user\n" % (HOST, pg.port) in c.read(c.ini)

    ans = first_auth_request(c.port, "md5user", "postgres")
    assert ans[0] == "R" and ans[1] == 5, ans  # AuthenticationMD5Password
    with c.connect("postgres", "md5user", pw) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("md5user", "postgres")
    with pytest.raises(psycopg.OperationalError):
        c.connect("postgres", "md5user", "wrong").close()
    cfg = c.config("md5user", pw)
    assert cfg["auth_type"] == "md5"
    assert cfg["pool_mode"] == "session"
    assert cfg["unix_socket_dir"] == c.dir
    if not harness.IS_PGBOUNCER:
        # docs/container.md's deeper health check: the console over the
        # socket, as user pgbouncer from the pooler's own uid, no password
        p = subprocess.run(harness._run_as_prefix() + [
            os.path.join(PG_BIN, "psql"), "-h", c.dir, "-p", str(c.port), "-U", "pgbouncer",
            "-d", "pgbouncer", "-w", "-tAc", "SHOW VERSION"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20,
            env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "10"})
        assert p.returncode == 0 and "PgBouncer" in p.stdout, p.stdout
    assert pw not in c.log_text()
    c.stop()
    assert not harness.pid_alive(c.pid)


def test_database_url(pg, container):
    """DATABASE_URL alone: user, password, host, port, dbname and sslmode."""
    pw = PASSWORDS["scramuser"]
    c = container({
        "DATABASE_URL": "postgresql://scramuser:%s@%s:%d/postgres?sslmode=disable" % (pw, HOST, pg.port),
        "AUTH_TYPE": "scram-sha-256", "ADMIN_USERS": "scramuser", "POOL_MODE": "transaction",
        "DEFAULT_POOL_SIZE": "3", "LISTEN_ADDR": HOST, "LISTEN_PORT": free_port(),
    })
    c.start()
    assert '"scramuser" "%s"\n' % pw in c.read(c.userlist)
    ini = c.read(c.ini)
    assert "postgres = host=%s port=%d dbname=postgres auth_user=scramuser\n" % (HOST, pg.port) in ini
    assert pw not in ini
    with c.connect("postgres", "scramuser", pw) as conn:
        assert conn.execute("SELECT current_user, inet_server_port()").fetchone() == ("scramuser", pg.port)
    cfg = c.config("scramuser", pw)
    assert cfg["server_tls_sslmode"] == "disable"
    assert cfg["default_pool_size"] == "3"
    assert cfg["pool_mode"] == "transaction"
    assert pw not in c.log_text()
    c.stop()
    assert not harness.pid_alive(c.pid)


def test_bitnami_variables(pg, container):
    """bitnami/pgbouncer's names: POSTGRESQL_* for the server, PGBOUNCER_*
    for the keys, PGBOUNCER_DATABASE as the alias clients use."""
    pw = PASSWORDS["scramuser"]
    c = container({
        "POSTGRESQL_HOST": HOST, "POSTGRESQL_PORT": pg.port, "POSTGRESQL_USERNAME": "scramuser",
        "POSTGRESQL_PASSWORD": pw, "POSTGRESQL_DATABASE": "postgres", "PGBOUNCER_DATABASE": "appdb",
        "PGBOUNCER_PORT": free_port(), "PGBOUNCER_LISTEN_ADDRESS": HOST,
        "PGBOUNCER_POOL_MODE": "session", "PGBOUNCER_DEFAULT_POOL_SIZE": "7",
    })
    c.port = int(c.env["PGBOUNCER_PORT"])
    c.start()
    ans = first_auth_request(c.port, "scramuser", "appdb")
    assert ans[0] == "R" and ans[1] == 10, ans  # bitnami's default auth_type: scram-sha-256
    with c.connect("appdb", "scramuser", pw) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
    cfg = c.config("scramuser", pw)  # admin_users = POSTGRESQL_USERNAME
    assert cfg["pool_mode"] == "session"
    assert cfg["default_pool_size"] == "7"
    assert cfg["listen_port"] == str(c.port)
    c.stop()


# ---------------------------------------------------------------------------
# rendering only


def test_existing_config_is_kept(container):
    """A mounted pgbouncer.ini is not touched; DB_USER is added to the
    auth_file that ini names, once; PGSWITCH_OVERWRITE_CONFIG=1 renders anew."""
    c = container({"DB_HOST": "db.example.com", "DB_USER": "app", "DB_PASSWORD": "app-pw",
                   "AUTH_TYPE": "plain"})
    mounted_users = os.path.join(c.dir, "mounted-users.txt")
    mine = ("; mounted by the user\n[databases]\n* = host=elsewhere\n[pgbouncer]\n"
            "listen_port = 7000\nauth_file = %s\n" % mounted_users)
    write_owned(c.ini, mine)
    write_owned(mounted_users, '"someone" "their-pw"')  # no final newline
    out = c.render().stdout
    assert "left as it is" in out
    assert c.read(c.ini) == mine
    assert not os.path.exists(c.userlist)
    # the missing user is appended, on a line of its own, once
    assert c.read(mounted_users) == '"someone" "their-pw"\n"app" "app-pw"\n'
    c.render()
    assert c.read(mounted_users) == '"someone" "their-pw"\n"app" "app-pw"\n'
    # told to: both files anew from the environment
    c.render({"PGSWITCH_OVERWRITE_CONFIG": "1"})
    ini = c.read(c.ini)
    assert "elsewhere" not in ini and "* = host=db.example.com port=5432 auth_user=app\n" in ini
    assert "auth_file = %s\n" % c.userlist in ini
    assert "someone" not in c.read(c.userlist)
    assert '"app" "app-pw"\n' in c.read(c.userlist)


def test_missing_database_fails(container):
    c = container({"POOL_MODE": "transaction", "DB_PASSWORD": "never-printed"})
    p = c.render(check=False)
    assert p.returncode != 0
    assert "DB_HOST" in p.stdout and "never-printed" not in p.stdout
    assert not os.path.exists(c.ini)


def test_variable_mapping(container):
    """Any key's upper-case name (or PGBOUNCER_ + it) sets the key; database
    options go on the database; $USER and friends are not keys; quoting."""
    odd_pw = "p@ss:w/rd \"q\" 'x' %"
    env = {
        "DATABASE_URLS": "postgres://u1:%s@h1.example.com:6000/one,postgres://u2@h2.example.com/two"
                         % "p%40ss%3Aw%2Frd%20%22q%22%20%27x%27%20%25",
        "DB_HOST": "main.example.com", "DB_NAME": "my-db", "DB_USER": "we\"ird", "DB_PASSWORD": "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy",
        "AUTH_TYPE": "scram-sha-256",
        "QUERY_WAIT_TIMEOUT": "33", "PGBOUNCER_SERVER_LIFETIME": "1234", "CLIENT_TLS_SSLMODE": "disable",
        "SERVER_CHECK_QUERY": "select 1", "TCP_KEEPIDLE": "30",
        "POOL_SIZE": "30", "TIMEZONE": "UTC", "CLIENT_ENCODING": "UTF8",
        "ADMIN_USERS": "ops,dba", "ADMIN_PASSWORDS": "ops-pw,dba-pw",
        "USER": "root", "SERVICE_NAME": "api", "HOME": "/root",
    }
    c = container(env)
    c.render()
    ini = c.read(c.ini)
    users = c.read(c.userlist)
    lines = ini.splitlines()
    assert ('my-db = host=main.example.com port=5432 dbname=my-db auth_user=\'we"ird\' pool_size=30 '
            "client_encoding=UTF8 timezone=UTC") in lines
    assert "one = host=h1.example.com port=6000 dbname=one auth_user=u1 pool_size=30 client_encoding=UTF8 timezone=UTC" in lines
    assert "two = host=h2.example.com port=5432 dbname=two auth_user=u2 pool_size=30 client_encoding=UTF8 timezone=UTC" in lines
    for kv in ("query_wait_timeout = 33", "server_lifetime = 1234", "client_tls_sslmode = disable",
               "server_check_query = select 1", "tcp_keepidle = 30", "admin_users = ops,dba",
               "listen_port = 5432", "listen_addr = 0.0.0.0", "unix_socket_dir ="):
        assert kv in lines
    assert not any(ln.split(" ")[0] in ("user", "service_name", "home", "pool_size", "timezone")
                   for ln in lines[lines.index("[pgbouncer]"):])
    # userlist: quotes doubled, %-decoding, a SCRAM verifier kept as given
    assert '"we""ird" "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"\n' in users
    assert '"u1" "%s"\n' % odd_pw.replace('"', '""') in users
    assert '"ops" "ops-pw"\n"dba" "dba-pw"\n' in users
    assert "u2" not in users  # no password in its URL
    assert odd_pw not in c.log_text()


def test_auth_user_without_password(container):
    """AUTH_USER with no AUTH_PASSWORD (and no userlist entry) cannot log in
    to run auth_query: as edoburu/pgbouncer does, the database gets
    auth_user=DB_USER, whose password is in the userlist, and a warning says so."""
    env = {"DB_HOST": "db.example.com", "DB_NAME": "app", "DB_USER": "app", "DB_PASSWORD": "app-pw",
           "AUTH_TYPE": "scram-sha-256", "AUTH_USER": "pgbouncer"}
    c = container(env)
    out = c.render().stdout
    assert "AUTH_USER=pgbouncer has no password" in out
    lines = c.read(c.ini).splitlines()
    assert "app = host=db.example.com port=5432 dbname=app auth_user=app" in lines
    assert "auth_user = pgbouncer" in lines
    # with its password, AUTH_USER is used as given, for every database
    c.render({"AUTH_PASSWORD": "pgb-pw", "PGSWITCH_OVERWRITE_CONFIG": "1"})
    lines = c.read(c.ini).splitlines()
    assert "app = host=db.example.com port=5432 dbname=app" in lines
    assert '"pgbouncer" "pgb-pw"' in c.read(c.userlist).splitlines()


@pytest.mark.pgswitch_only("pgswitch's own warnings")
def test_rendered_file_loads_without_warnings(container):
    """Everything the mapping test renders is a key the pooler knows."""
    c = container({
        "DB_HOST": HOST, "DB_PORT": dead_port(), "DB_NAME": "app", "DB_USER": "app", "DB_PASSWORD": "app-pw",
        "AUTH_TYPE": "scram-sha-256", "POOL_MODE": "transaction", "QUERY_WAIT_TIMEOUT": "33",
        "PGBOUNCER_SERVER_LIFETIME": "1234", "POOL_SIZE": "30", "TIMEZONE": "UTC", "CLIENT_ENCODING": "UTF8",
        "SERVER_TLS_SSLMODE": "disable", "STATS_USERS": "app", "LISTEN_ADDR": HOST, "LISTEN_PORT": free_port(),
        "USER": "root", "SERVICE_NAME": "api",
    })
    c.start()
    cfg = c.config("app", "app-pw")
    assert cfg["query_wait_timeout"] == "33"
    assert cfg["stats_users"] == "app"
    dbs = {r["name"]: r for r in c.show("DATABASES", "app", "app-pw")}
    assert dbs["app"]["pool_size"] == "30"
    c.stop()
    pooler_lines = [ln for ln in c.log_text().splitlines() if not ln.startswith("pgswitch-entrypoint:")]
    assert not [ln for ln in pooler_lines if "warning" in ln.lower() or "unknown" in ln.lower()], pooler_lines


def test_scripts_are_posix_sh():
    for script in (ENTRYPOINT, HEALTHCHECK):
        with open(script) as f:
            assert f.readline() == "#!/bin/sh\n"
        for sh in ("dash", "sh"):
            path = shutil.which(sh)
            if path:
                subprocess.run([path, "-n", script], check=True, timeout=10)
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck not installed")
    p = subprocess.run([shellcheck, "-s", "sh", ENTRYPOINT, HEALTHCHECK], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout
