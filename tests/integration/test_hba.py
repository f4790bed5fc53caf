"""auth_type = hba: auth_hba_file (pg_hba.conf syntax: local, host,
hostssl, hostnossl; trust, reject, md5, password, scram-sha-256, cert,
peer; map=) and auth_ident_file, as PgBouncer 1.25 reads them.

Every pooler gets its own hba file (and ident file) next to its ini; the
admin console logs in by an md5 rule for "admin" that every file has.
The shared PostgreSQL trusts everyone but md5user/scramuser (harness), so
what is tested is the pooler's decision alone.
"""

import hashlib
import os
import pwd
import shutil
import struct
import subprocess

import psycopg
import pytest

from harness import (
    PoolerSet,
    PASSWORDS,
    Pooler,
    RawClient,
    _scram_client,
    chown_to_runner,
    default_userlist,
    error_fields,
    make_owned_tmpdir,
    md5_secret,
    wait_until,
    write_owned,
)

pytestmark = [
    pytest.mark.pgswitch_only(reason="auth_type = hba as PgBouncer 1.25 has it (1.18's differs)"),
    pytest.mark.timeout(60),
]

ADMIN_RULE = "host all admin 127.0.0.1/32 md5\n"


class HbaPooler(Pooler):
    """A pooler with auth_type = hba; HBA (and IDENT, if given) are written
    to hba.conf / ident.conf in its directory on every write_config()."""

    def __init__(self, pg, hba, ident=None, files=None, **kw):
        self.hba_text = hba
        self.ident_text = ident
        self.extra_files = dict(files or {})
        extra = dict(kw.pop("extra", None) or {})
        kw.setdefault("auth_type", "hba")
        super().__init__(pg, extra=extra, **kw)

    @property
    def hba_path(self):
        return os.path.join(self.dir, "hba.conf")

    @property
    def ident_path(self):
        return os.path.join(self.dir, "ident.conf")

    def settings(self):
        s = super().settings()
        s["auth_hba_file"] = self.hba_path
        if self.ident_text is not None:
            s["auth_ident_file"] = self.ident_path
        return s

    def write_config(self, text=None):
        write_owned(self.hba_path, self.hba_text)
        if self.ident_text is not None:
            write_owned(self.ident_path, self.ident_text)
        for name, body in self.extra_files.items():
            write_owned(os.path.join(self.dir, name), body)
        super().write_config(text)


@pytest.fixture
def make_pooler(pg, request):
    """make_pooler(hba, ident=None, files=None, **Pooler kwargs) -> started HbaPooler."""
    ps = PoolerSet(request)

    def make(hba, **kw):
        return ps.start(HbaPooler, pg, hba, **kw)

    yield make
    ps.close()


def auth_codes(port, user, password, database="postgres"):
    """Log in speaking the protocol: (list of Authentication codes the
    pooler asked for, final status, error fields)."""
    rc = RawClient(port, timeout=10)
    codes = []
    try:
        rc.startup(user=user, database=database)
        while True:
            m = rc.read_msg()
            if m is None:
                return codes, "closed", {}
            t, body = m
            if t == b"E":
                return codes, "error", error_fields(body)
            if t == b"Z":
                return codes, "ok", {}
            if t != b"R":
                continue
            code = struct.unpack("!I", body[:4])[0]
            codes.append(code)
            if code == 3:
                pw = password.encode() + b"\0"
                rc.send(b"p" + struct.pack("!I", 4 + len(pw)) + pw)
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest()
                outer = "md5" + hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                pw = outer.encode() + b"\0"
                rc.send(b"p" + struct.pack("!I", 4 + len(pw)) + pw)
            elif code == 10:
                m = _scram_client(rc, password, user)
                if m is None:
                    return codes, "closed", {}
                if m[0] == b"E":
                    return codes, "error", error_fields(m[1])
                codes.append(struct.unpack("!I", m[1][:4])[0])
    finally:
        rc.close()


def assert_fatal(status, fields, message, code="08P01"):
    assert status == "error", (status, fields)
    assert fields.get("S") == "FATAL", fields
    assert fields.get("C") == code, fields
    assert fields.get("M") == message, fields


def wait_log(p, text, timeout=5.0):
    return wait_until(lambda: text in p.log_text(), timeout=timeout, what="%r in the pooler log" % text)


def query_ok(p, user, password=None, **kw):
    with p.connect(user=user, password=password, **kw) as c:
        return c.execute("SELECT current_user").fetchone()[0]


# ---------------------------------------------------------------------------


def test_trust_reject_and_no_rule(make_pooler):
    p = make_pooler(ADMIN_RULE
                    + "host all alice   127.0.0.1/32 trust\n"
                    + "host all md5user 127.0.0.1/32 reject\n")
    # trust: no password asked
    codes, status, fields = auth_codes(p.port, "alice", "")
    assert (codes, status) == ([0], "ok"), fields
    assert query_ok(p, "alice") == "alice"
    # reject: FATAL, even with the right password
    codes, status, fields = auth_codes(p.port, "md5user", PASSWORDS["md5user"])
    assert codes == []
    assert_fatal(status, fields, "login rejected")
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="md5user", password=PASSWORDS["md5user"])
    assert "login rejected" in str(ei.value)
    # no rule at all
    codes, status, fields = auth_codes(p.port, "scramuser", PASSWORDS["scramuser"])
    assert_fatal(status, fields, "no authentication method is found")


def test_md5_rule(make_pooler):
    p = make_pooler(ADMIN_RULE
                    + "host all alice   127.0.0.1/32 md5\n"
                    + "host all md5user 127.0.0.1/32 md5\n",
                    users_txt=default_userlist(overrides={"md5user": md5_secret("md5user", PASSWORDS["md5user"])}))
    for user in ("alice", "md5user"):  # plain and md5 secret in userlist.txt
        codes, status, fields = auth_codes(p.port, user, "not-the-password")
        assert codes == [5], codes
        assert_fatal(status, fields, 'password authentication failed for user "%s"' % user, "28P01")
        codes, status, fields = auth_codes(p.port, user, PASSWORDS[user])
        assert (codes, status) == ([5, 0], "ok"), fields
        assert query_ok(p, user, PASSWORDS[user]) == user


def test_scram_rule_refuses_an_md5_secret(make_pooler):
    p = make_pooler(ADMIN_RULE
                    + "host all md5user   127.0.0.1/32 scram-sha-256\n"
                    + "host all scramuser 127.0.0.1/32 scram-sha-256\n"
                    + "host all alice     127.0.0.1/32 password\n",
                    users_txt=default_userlist(overrides={"md5user": md5_secret("md5user", PASSWORDS["md5user"])}))
    # an md5 secret cannot verify a SCRAM exchange: the right password fails
    codes, status, fields = auth_codes(p.port, "md5user", PASSWORDS["md5user"])
    assert codes[:1] == [10], codes
    assert_fatal(status, fields, "SASL authentication failed", "28P01")
    with pytest.raises(psycopg.OperationalError):
        p.connect(user="md5user", password=PASSWORDS["md5user"])
    # a plain password in userlist.txt: SCRAM works
    codes, status, fields = auth_codes(p.port, "scramuser", PASSWORDS["scramuser"])
    assert (codes, status) == ([10, 12, 0], "ok"), (codes, fields)
    assert query_ok(p, "scramuser", PASSWORDS["scramuser"]) == "scramuser"
    # the password method asks for the clear text
    codes, status, fields = auth_codes(p.port, "alice", PASSWORDS["alice"])
    assert (codes, status) == ([3, 0], "ok"), fields
    codes, status, fields = auth_codes(p.port, "alice", "wrong")
    assert_fatal(status, fields, 'password authentication failed for user "alice"', "28P01")


def test_first_matching_rule_wins(make_pooler):
    p = make_pooler(ADMIN_RULE
                    + "host all alice   127.0.0.1/32 reject\n"
                    + "host all alice   127.0.0.1/32 trust\n"
                    + "host all md5user 127.0.0.1/32 trust\n"
                    + "host all md5user 127.0.0.1/32 reject\n"
                    # a wider rule first: 10.0.0.0/8 does not match 127.0.0.1
                    + "host all scramuser 10.0.0.0/8   reject\n"
                    + "host all scramuser 127.0.0.0/8  trust\n")
    codes, status, fields = auth_codes(p.port, "alice", PASSWORDS["alice"])
    assert_fatal(status, fields, "login rejected")
    assert query_ok(p, "md5user") == "md5user"
    assert query_ok(p, "scramuser") == "scramuser"


def test_at_file_user_list(make_pooler):
    p = make_pooler(ADMIN_RULE
                    + "host all @trusted.list 127.0.0.1/32 trust\n"
                    + "host all all           127.0.0.1/32 reject\n",
                    files={"trusted.list": "# users trusted from here\nalice, md5user\n\n"})
    for user in ("alice", "md5user"):
        assert query_ok(p, user) == user
    codes, status, fields = auth_codes(p.port, "scramuser", PASSWORDS["scramuser"])
    assert_fatal(status, fields, "login rejected")
    # the list is re-read on RELOAD
    p.extra_files["trusted.list"] = "scramuser\n"
    p.reload()
    assert query_ok(p, "scramuser") == "scramuser"
    codes, status, fields = auth_codes(p.port, "alice", "")
    assert_fatal(status, fields, "login rejected")


@pytest.fixture(scope="module")
def tls_files():
    """A CA, a server certificate (CN=localhost) and a client certificate
    CN=carol, all by the CA (openssl command line)."""
    d = make_owned_tmpdir("pgswitch-hba-certs-")
    os.chmod(d, 0o755)

    def run(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert r.returncode == 0, r.stderr

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
        "-subj", "/CN=hba test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, eku in (("server", "localhost", "serverAuth"), ("carol", "carol", "clientAuth")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n" % eku)
        run("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
            str(int.from_bytes(os.urandom(8), "big")), "-days", "3650", "-extfile", name + ".ext",
            "-out", name + ".crt")
    for f in os.listdir(d):
        path = os.path.join(d, f)
        os.chmod(path, 0o600 if f.endswith(".key") else 0o644)
        chown_to_runner(path)
    yield {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key", "carol.crt", "carol.key")}
    shutil.rmtree(d, ignore_errors=True)


def tls_extra(files, mode="prefer"):
    return {"client_tls_sslmode": mode, "client_tls_key_file": files["server.key"],
            "client_tls_cert_file": files["server.crt"], "client_tls_ca_file": files["ca.crt"]}


def test_hostssl_and_hostnossl(make_pooler, tls_files):
    p = make_pooler(ADMIN_RULE
                    + "hostssl   all alice   127.0.0.1/32 trust\n"
                    + "host      all alice   127.0.0.1/32 reject\n"
                    + "hostnossl all md5user 127.0.0.1/32 trust\n"
                    + "host      all md5user 127.0.0.1/32 reject\n",
                    extra=tls_extra(tls_files))
    # hostssl does not match a plain-text client: the next rule rejects
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="alice", sslmode="disable")
    assert "login rejected" in str(ei.value)
    with p.connect(user="alice", sslmode="require") as c:
        assert c.pgconn.ssl_in_use and c.execute("SELECT current_user").fetchone() == ("alice",)
    # hostnossl the other way round
    with p.connect(user="md5user", sslmode="disable") as c:
        assert c.execute("SELECT current_user").fetchone() == ("md5user",)
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="md5user", sslmode="require")
    assert "login rejected" in str(ei.value)


def test_cert_rule_with_ident_map(make_pooler, tls_files):
    p = make_pooler(ADMIN_RULE
                    + "hostssl all alice   127.0.0.1/32 cert map=cm\n"
                    + "hostssl all md5user 127.0.0.1/32 cert\n",
                    ident="# MAPNAME SYSTEM-USERNAME PG-USERNAME\ncm carol alice\n",
                    extra=tls_extra(tls_files, "require"))
    cert = dict(sslmode="require", sslcert=tls_files["carol.crt"], sslkey=tls_files["carol.key"])
    # CN=carol may be alice by the map
    with p.connect(user="alice", **cert) as c:
        assert c.execute("SELECT current_user").fetchone() == ("alice",)
    # without the map the CN must be the user name
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="md5user", **cert)
    assert "certificate authentication failed" in str(ei.value)
    # no certificate at all
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="alice", sslmode="require")
    assert "certificate authentication failed" in str(ei.value)
    wait_log(p, "no verified TLS client certificate with a CN")


def test_local_peer_with_ident_map(sockdir, make_pooler):
    me = pwd.getpwuid(os.geteuid()).pw_name  # root when the tests run as root
    p = make_pooler(ADMIN_RULE
                    + "local all postgres peer map=m\n"
                    + "local all alice    peer map=m\n"
                    + "local all md5user  peer\n"
                    + "host  all postgres 127.0.0.1/32 peer\n",
                    ident="m %s postgres\n" % me,
                    extra={"unix_socket_dir": sockdir})

    def unix(user):
        return psycopg.connect(host=sockdir, port=p.port, dbname="postgres", user=user,
                               autocommit=True, connect_timeout=10)

    # the map lets the OS user log in as postgres ...
    with unix("postgres") as c:
        assert c.execute("SELECT current_user").fetchone() == ("postgres",)
    # ... but not as alice
    with pytest.raises(psycopg.OperationalError) as ei:
        unix("alice").close()
    assert "unix socket login rejected" in str(ei.value)
    wait_log(p, "ident map m cannot be matched")
    # without a map the OS user name must be the user name
    with pytest.raises(psycopg.OperationalError) as ei:
        unix("md5user").close()
    assert "unix socket login rejected" in str(ei.value)
    # peer over TCP always fails
    with pytest.raises(psycopg.OperationalError) as ei:
        p.connect(user="postgres")
    assert "unix socket login rejected" in str(ei.value)
    wait_log(p, "peer authentication is only for Unix sockets")


def test_malformed_line_is_reported_and_skipped(make_pooler):
    hba = (ADMIN_RULE                                      # line 1
           + "host all alice 127.0.0.1/32 trust\n"          # line 2
           + "host all md5user 127.0.0.1/32 no-such-method\n"  # line 3: bad
           + "host all scramuser 127.0.0.1/32\n"            # line 4: bad (no method)
           + "host all md5user 127.0.0.1/32 reject\n")      # line 5
    p = make_pooler(hba)
    log = p.log_text()
    line3 = [ln for ln in log.splitlines() if "%s:3: " % p.hba_path in ln]
    line4 = [ln for ln in log.splitlines() if "%s:4: " % p.hba_path in ln]
    assert line3 and '"no-such-method"' in line3[0], log[-3000:]
    assert line4 and "method" in line4[0], log[-3000:]
    assert "%s:2: " % p.hba_path not in log and "%s:5: " % p.hba_path not in log
    # the good lines apply
    assert query_ok(p, "alice") == "alice"
    codes, status, fields = auth_codes(p.port, "md5user", PASSWORDS["md5user"])
    assert_fatal(status, fields, "login rejected")
    codes, status, fields = auth_codes(p.port, "scramuser", PASSWORDS["scramuser"])
    assert_fatal(status, fields, "no authentication method is found")


@pytest.mark.parametrize("via", ["admin", "sighup"])
def test_reload_picks_up_a_changed_hba_file(make_pooler, via):
    p = make_pooler(ADMIN_RULE
                    + "host all alice   127.0.0.1/32 trust\n"
                    + "host all md5user 127.0.0.1/32 reject\n")
    held = p.connect(user="alice")
    try:
        assert query_ok(p, "alice") == "alice"
        p.hba_text = (ADMIN_RULE
                      + "host all alice   127.0.0.1/32 reject\n"
                      + "host all md5user 127.0.0.1/32 md5\n")
        mark = len(p.log_text())
        p.reload(via=via)
        if via == "sighup":
            wait_until(lambda: "reloaded" in p.log_text()[mark:], timeout=5, what="the reload logged")

        codes, status, fields = auth_codes(p.port, "alice", "")
        assert_fatal(status, fields, "login rejected")
        codes, status, fields = auth_codes(p.port, "md5user", PASSWORDS["md5user"])
        assert (codes, status) == ([5, 0], "ok"), fields
        # a client logged in before keeps its session
        assert held.execute("SELECT current_user").fetchone() == ("alice",)
    finally:
        held.close()
