"""TLS on both hops of pgswitch (PgBouncer 1.25's client_tls_* and
server_tls_* keys), PostgreSQL 17 direct TLS, SCRAM-SHA-256-PLUS, the
[databases] channel_binding option (a pgswitch addition), auth_type = cert,
RELOAD semantics of TLS settings and hostile TLS input.

Certificates are made once per module with the openssl command line:

  ca1, ca2        two unrelated CAs
  server          CN=localhost, SAN DNS:localhost,IP:127.0.0.1   (CA1)
  server_dns      CN=localhost, SAN DNS:localhost only           (CA1)
  wronghost       CN=wronghost, SAN DNS:wronghost                (CA1)
  server_ca2      CN=localhost, SAN DNS:localhost,IP:127.0.0.1   (CA2)
  alice, bob, admin  client certificates with that CN            (CA1)
  evil            client certificate CN=alice                    (CA2)

The client hop is checked from the client side (psycopg's
pgconn.ssl_in_use, psql, Python's ssl module) and from the pooler's
"login attempt ... tls=" log line; the server hop through pg_stat_ssl of the
server connection.

RELOAD and SIGHUP read the certificate, key and CA files again even when
their names did not change (certificate rotation).
"""

import base64
import hashlib
import hmac
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import psycopg
import pytest

from harness import (
    PoolerSet,
    HOST,
    PASSWORDS,
    PG_BIN,
    Pooler,
    PgServer,
    RawClient,
    _scram_client,
    chown_to_runner,
    default_userlist,
    error_fields,
    make_owned_tmpdir,
    pid_alive,
    wait_until,
    write_owned,
)

pytestmark = [
    pytest.mark.pgswitch_only(reason="TLS, direct TLS and channel_binding as pgswitch implements them"),
    pytest.mark.timeout(90),
]

PSQL = os.path.join(PG_BIN, "psql")
SSL_REQUEST = struct.pack("!II", 8, 80877103)


# ---------------------------------------------------------------------------
# certificates


def _openssl(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))


class Certs:
    """Paths of the generated certificates: certs.crt(name), certs.key(name)."""

    def __init__(self, d):
        self.dir = d

    def crt(self, name):
        return os.path.join(self.dir, name + ".crt")

    def key(self, name):
        return os.path.join(self.dir, name + ".key")

    def _finish(self, name):
        # keys: 0600 and owned by the user running PostgreSQL / the pooler
        # (libpq, run by root, accepts a key it does not own)
        os.chmod(self.key(name), 0o600)
        chown_to_runner(self.key(name))
        os.chmod(self.crt(name), 0o644)
        chown_to_runner(self.crt(name))

    def make_ca(self, name, cn):
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", self.key(name), "-out", self.crt(name), "-days", "3650", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)
        self._finish(name)

    def make_leaf(self, name, cn, ca, san=None, client=False):
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", self.key(name), "-out", csr, "-subj", "/CN=" + cn], self.dir)
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
                 "extendedKeyUsage=%s" % ("clientAuth" if client else "serverAuth")]
        if san:
            lines.append("subjectAltName=" + san)
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        _openssl(["x509", "-req", "-in", csr, "-CA", self.crt(ca), "-CAkey", self.key(ca),
                  "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3650",
                  "-sha256", "-extfile", ext, "-out", self.crt(name)], self.dir)
        self._finish(name)


@pytest.fixture(scope="module")
def certs():
    d = make_owned_tmpdir("pgswitch-certs-")
    os.chmod(d, 0o755)
    c = Certs(d)
    c.make_ca("ca1", "pgswitch test CA1")
    c.make_ca("ca2", "pgswitch test CA2")
    c.make_leaf("server", "localhost", "ca1", "DNS:localhost,IP:127.0.0.1")
    c.make_leaf("server_dns", "localhost", "ca1", "DNS:localhost")
    c.make_leaf("wronghost", "wronghost", "ca1", "DNS:wronghost")
    c.make_leaf("server_ca2", "localhost", "ca2", "DNS:localhost,IP:127.0.0.1")
    for who in ("alice", "bob", "admin"):
        c.make_leaf(who, who, "ca1", client=True)
    c.make_leaf("evil", "alice", "ca2", client=True)
    yield c
    if os.environ.get("PGSWITCH_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


def client_tls(certs, mode="prefer", cert="server", ca=None, **more):
    """[pgbouncer] keys for TLS toward clients."""
    s = {"client_tls_sslmode": mode, "client_tls_key_file": certs.key(cert),
         "client_tls_cert_file": certs.crt(cert)}
    if ca:
        s["client_tls_ca_file"] = certs.crt(ca)
    s.update(more)
    return s


def client_cert_kw(certs, name):
    return {"sslcert": certs.crt(name), "sslkey": certs.key(name)}


# ---------------------------------------------------------------------------
# poolers and servers


class TlsPooler(Pooler):
    """A Pooler whose admin connections (readiness probe included) carry
    ADMIN_KW (e.g. a client certificate, or a Unix socket host)."""

    def __init__(self, pg, admin_kw=None, **kw):
        self.admin_kw = dict(admin_kw or {})
        super().__init__(pg, **kw)

    def admin(self, user=None, password=None, **kw):
        for k, v in self.admin_kw.items():
            kw.setdefault(k, v)
        if "host" in kw:
            # Pooler.admin passes host=HOST itself: go around it
            user = user or self.ADMIN_USER
            if password is None:
                password = self.admin_password
            kw.setdefault("connect_timeout", 10)
            c = psycopg.connect(port=self.port, dbname="pgbouncer", user=user, password=password,
                                autocommit=True, **kw)
            c.prepare_threshold = None
            return c
        return super().admin(user, password, **kw)

    def tls_logins(self):
        return [ln for ln in self.log_text().splitlines() if "login attempt:" in ln]


@pytest.fixture
def make_pooler(request):
    """make_pooler(pg_server, cls=TlsPooler, **kwargs) -> started pooler;
    stopped (and checked for sanitizer reports) at teardown."""
    ps = PoolerSet(request)

    def make(pg_server, cls=TlsPooler, **kw):
        return ps.start(cls, pg_server, **kw)

    yield make
    ps.close()


SSL_HBA = """\
# generated by tests/integration/test_tls.py
local     all  all                      trust
hostssl   all  alice      127.0.0.1/32  cert
hostssl   all  bob        127.0.0.1/32  cert
host      all  scramuser  127.0.0.1/32  scram-sha-256
hostssl   all  all        127.0.0.1/32  trust
hostnossl all  all        127.0.0.1/32  reject
"""


@pytest.fixture(scope="module")
def ssl_pg(certs):
    """PostgreSQL 15 with ssl=on: certificate server_dns (CN=localhost,
    DNS:localhost only, by CA1), ssl_ca_file CA1; TLS only over TCP, except
    scramuser (scram-sha-256 with or without TLS); alice and bob log in
    with a client certificate (cert method)."""
    s = PgServer("ssl")
    try:
        s.start()
        s.setup_roles()
        s.execute("CREATE ROLE bob LOGIN")
        with open(os.path.join(s.datadir, "postgresql.conf"), "a") as f:
            f.write("ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\nssl_ca_file = '%s'\n"
                    % (certs.crt("server_dns"), certs.key("server_dns"), certs.crt("ca1")))
        write_owned(os.path.join(s.datadir, "pg_hba.conf"), SSL_HBA)
        s.restart()
        yield s
    finally:
        s.cleanup()


def db_entry(pg_server, host=HOST, **extra):
    s = "host=%s port=%d dbname=postgres" % (host, pg_server.port)
    for k, v in extra.items():
        s += " %s=%s" % (k, v)
    return s


def server_ssl(conn):
    """Whether the server connection behind CONN uses TLS (pg_stat_ssl)."""
    return conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


# ---------------------------------------------------------------------------
# clients


def psql(conninfo, sql="SELECT 1"):
    """Run psql on CONNINFO; returns (rc, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    p = subprocess.run([PSQL, "-X", "-A", "-t", "-w", conninfo, "-c", sql], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30, env=env)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def connect(p, **kw):
    """psycopg connection to pooler P (autocommit, no auto-prepare)."""
    kw.setdefault("user", "postgres")
    kw.setdefault("dbname", "postgres")
    kw.setdefault("host", HOST)
    kw.setdefault("connect_timeout", 10)
    kw.setdefault("autocommit", True)
    c = psycopg.connect(port=p.port, **kw)
    c.prepare_threshold = None
    return c


def connect_error(p, **kw):
    """The error of a connection through P that must fail, at login or at
    its first query (a pool that logged in once before lets clients in
    without a server: the failure comes with the first query)."""
    with pytest.raises(psycopg.OperationalError) as ei:
        with connect(p, **kw) as c:
            c.execute("SELECT 1")
    return str(ei.value)


def startup_packet(user="postgres", database="postgres"):
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", database)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


class TlsRawClient(RawClient):
    """RawClient over TLS: SSLRequest first, or PostgreSQL 17 direct TLS."""

    def __init__(self, port, direct=False, alpn=("postgresql",), cert=None, ca=None, timeout=5.0,
                 tweak=None):
        sock = socket.create_connection((HOST, port), timeout=timeout)
        sock.settimeout(timeout)
        try:
            if not direct:
                sock.sendall(SSL_REQUEST)
                ans = sock.recv(1)
                if ans != b"S":
                    raise ConnectionError("SSLRequest answered %r" % ans)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if ca:
                ctx.load_verify_locations(ca)
                ctx.check_hostname = True
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if alpn:
                ctx.set_alpn_protocols(list(alpn))
            if cert:
                ctx.load_cert_chain(cert[0], cert[1])
            if tweak:
                tweak(ctx)
            self.sock = ctx.wrap_socket(sock, server_hostname="localhost")
        except BaseException:
            sock.close()
            raise


def read_until_ready(rc):
    """Messages until ReadyForQuery or an error/EOF: list of (type, body)."""
    out = []
    while True:
        m = rc.read_msg()
        if m is None:
            out.append((None, b""))
            return out
        out.append(m)
        if m[0] in (b"Z", b"E"):
            return out


def sasl_mechanisms(body):
    """The mechanism list of an AuthenticationSASL body."""
    assert struct.unpack("!I", body[:4])[0] == 10, body
    return [m.decode() for m in body[4:].split(b"\0") if m]


def closed_without_login(make_rc):
    """Whether the connection made by MAKE_RC ends without ReadyForQuery
    (refused in the handshake, or closed right after it)."""
    try:
        rc = make_rc()
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        rc.send(startup_packet())
        msgs = read_until_ready(rc)
        return msgs[-1][0] != b"Z"
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        rc.close()


def wait_log(p, text, timeout=5.0):
    """TEXT in the pooler's log (a client may see its error before the
    pooler has written why: e.g. the TLS alert goes out first)."""
    return wait_until(lambda: text in p.log_text(), timeout=timeout, what="%r in the pooler log" % text)


def assert_serves(p, **kw):
    assert p.alive(), p.log_text()[-3000:]
    with connect(p, **kw) as c:
        assert c.execute("SELECT 42").fetchone() == (42,)


# ---------------------------------------------------------------------------
# 1. client_tls_sslmode disable / allow / prefer / require


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require"])
def test_client_sslmode(pg, certs, sockdir, make_pooler, mode):
    extra = client_tls(certs, mode)
    extra["unix_socket_dir"] = sockdir
    p = make_pooler(pg, extra=extra)
    tls_offered = mode != "disable"

    # sslmode=disable: plain text; refused only by require (TCP)
    if mode == "require":
        err = connect_error(p, sslmode="disable")
        assert "SSL required" in err, err
    else:
        with connect(p, sslmode="disable") as c:
            assert c.pgconn.ssl_in_use is False
            assert c.execute("SELECT 1").fetchone() == (1,)

    # sslmode=prefer: TLS whenever the pooler offers it
    with connect(p, sslmode="prefer") as c:
        assert c.pgconn.ssl_in_use is tls_offered
        assert c.execute("SELECT 2").fetchone() == (2,)

    # sslmode=require: only if the pooler offers TLS
    if tls_offered:
        with connect(p, sslmode="require", application_name="req") as c:
            assert c.pgconn.ssl_in_use is True
            assert c.execute("SELECT 3").fetchone() == (3,)
    else:
        err = connect_error(p, sslmode="require")
        assert "server does not support SSL" in err, err

    # the Unix socket is never asked for TLS, not even by require
    with psycopg.connect(host=sockdir, port=p.port, dbname="postgres", user="postgres",
                         autocommit=True, connect_timeout=10) as c:
        assert c.pgconn.ssl_in_use is False
        assert c.execute("SELECT 4").fetchone() == (4,)

    # the pooler's own view: tls=TLSv1.3/<cipher> for TLS clients, tls=no else
    logins = [ln for ln in p.tls_logins() if "db=postgres" in ln]
    tls_lines = [ln for ln in logins if "tls=TLSv1.3/TLS_" in ln]
    plain_lines = [ln for ln in logins if "tls=no" in ln]
    if mode == "disable":
        assert not tls_lines, logins
        assert len(plain_lines) == 3, logins
    elif mode == "require":
        assert len(tls_lines) == 2 and len(plain_lines) == 1, logins  # plain one: Unix socket
        wait_log(p, "closing because: SSL required")
    else:
        assert len(tls_lines) == 2 and len(plain_lines) == 2, logins


# ---------------------------------------------------------------------------
# 2. the client verifies the pooler's certificate


def test_client_verify_full_checks_the_name(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "prefer"))
    base = "host=localhost hostaddr=127.0.0.1 port=%d dbname=postgres user=postgres" % p.port
    for extra in ("sslmode=verify-full sslrootcert=%s" % certs.crt("ca1"),
                  "host=127.0.0.1 sslmode=verify-full sslrootcert=%s" % certs.crt("ca1")):
        rc, out, err = psql(base + " " + extra, "SELECT 'verified'")
        assert rc == 0 and out == "verified", (extra, err)
    # the wrong CA: the chain does not verify
    rc, out, err = psql(base + " sslmode=verify-ca sslrootcert=%s" % certs.crt("ca2"))
    assert rc != 0 and "certificate verify failed" in err, err

    # a certificate for another name
    p.extra.update(client_tls(certs, "prefer", cert="wronghost"))
    p.reload()
    rc, out, err = psql(base + " sslmode=verify-full sslrootcert=%s" % certs.crt("ca1"))
    assert rc != 0, out
    assert 'server certificate for "wronghost" does not match host name "localhost"' in err, err
    # verify-ca does not look at the name
    rc, out, err = psql(base + " sslmode=verify-ca sslrootcert=%s" % certs.crt("ca1"), "SELECT 'ca ok'")
    assert rc == 0 and out == "ca ok", err


# ---------------------------------------------------------------------------
# 3. client_tls_sslmode verify-ca: a valid client certificate is required


def test_client_verify_ca_requires_a_valid_client_certificate(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "verify-ca", ca="ca1"),
                    admin_kw=dict(sslmode="require", **client_cert_kw(certs, "alice")))
    # no certificate: the handshake fails (TLS 1.3 alert certificate_required)
    for sslmode in ("require", "prefer"):
        err = connect_error(p, sslmode=sslmode)
        assert "certificate required" in err, err
    wait_log(p, "TLS handshake failed: peer did not return a certificate")
    # plain text is no way around it
    err = connect_error(p, sslmode="disable")
    assert "SSL required" in err, err
    # a certificate from CA1 (CN does not matter for verify-ca)
    for who in ("alice", "bob"):
        with connect(p, sslmode="require", **client_cert_kw(certs, who)) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT current_user").fetchone() == ("postgres",)
    # a certificate from CA2
    err = connect_error(p, sslmode="require", **client_cert_kw(certs, "evil"))
    assert "unknown ca" in err, err
    wait_log(p, 'TLS handshake failed: certificate verify failed: unable to get local issuer certificate '
                '(client certificate "CN=alice")')
    assert_serves(p, sslmode="require", **client_cert_kw(certs, "alice"))


# ---------------------------------------------------------------------------
# 4. auth_type = cert


def test_auth_type_cert_cn_is_the_user(pg, certs, make_pooler):
    p = make_pooler(pg, auth_type="cert", extra=client_tls(certs, "verify-full", ca="ca1"),
                    admin_kw=dict(sslmode="require", **client_cert_kw(certs, "admin")))
    with connect(p, user="alice", sslmode="require", **client_cert_kw(certs, "alice")) as c:
        assert c.execute("SELECT current_user").fetchone() == ("alice",)
    # alice's certificate does not make her bob
    err = connect_error(p, user="bob", sslmode="require", **client_cert_kw(certs, "alice"))
    assert "certificate authentication failed" in err, err
    err = connect_error(p, user="alice", sslmode="require", **client_cert_kw(certs, "bob"))
    assert "certificate authentication failed" in err, err
    # a CN=alice certificate from another CA is not alice
    err = connect_error(p, user="alice", sslmode="require", **client_cert_kw(certs, "evil"))
    assert "unknown ca" in err, err


def test_cert_method_below_verify_ca_still_needs_a_verified_certificate(pg, certs, make_pooler):
    """client_tls_sslmode prefer/require accept any client certificate in
    the handshake; the cert method must still see one that verified."""
    # a self-signed certificate with CN=alice
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", certs.key("selfsigned"), "-out", certs.crt("selfsigned"), "-days", "30",
              "-subj", "/CN=alice"], certs.dir)
    certs._finish("selfsigned")
    hba = os.path.join(certs.dir, "cert_hba.conf")
    write_owned(hba, "host all admin 127.0.0.1/32 md5\nhostssl all alice 127.0.0.1/32 cert\n", mode=0o644)
    for mode in ("prefer", "require"):
        p = make_pooler(pg, auth_type="hba", extra=dict(client_tls(certs, mode, ca="ca1"), auth_hba_file=hba))
        with connect(p, user="alice", sslmode="require", **client_cert_kw(certs, "alice")) as c:
            assert c.execute("SELECT current_user").fetchone() == ("alice",)
        for bad in ("evil", "selfsigned"):
            err = connect_error(p, user="alice", sslmode="require", **client_cert_kw(certs, bad))
            assert "certificate authentication failed" in err, (mode, bad, err)
        err = connect_error(p, user="alice", sslmode="require")
        assert "certificate authentication failed" in err, err
        wait_log(p, "no verified TLS client certificate with a CN")


def test_cert_auth_over_unix_socket_is_refused(pg, certs, sockdir, make_pooler):
    p = make_pooler(pg, auth_type="cert",
                    extra=dict(client_tls(certs, "verify-full", ca="ca1"), unix_socket_dir=sockdir),
                    admin_kw=dict(sslmode="require", **client_cert_kw(certs, "admin")))
    with pytest.raises(psycopg.OperationalError) as ei:
        psycopg.connect(host=sockdir, port=p.port, dbname="postgres", user="alice", connect_timeout=10).close()
    assert "certificate authentication failed" in str(ei.value)


# ---------------------------------------------------------------------------
# 5. server_tls_sslmode toward a TLS-only PostgreSQL


def server_tls(certs, mode, ca=None, **more):
    s = {"server_tls_sslmode": mode}
    if ca:
        s["server_tls_ca_file"] = certs.crt(ca)
    s.update(more)
    return s


@pytest.mark.parametrize("mode,ca,host", [
    ("prefer", None, HOST),
    ("require", None, HOST),
    ("verify-ca", "ca1", HOST),
    ("verify-full", "ca1", "localhost"),
])
def test_server_sslmode_works_with_tls_only_server(ssl_pg, certs, make_pooler, mode, ca, host):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg, host=host)},
                    extra=server_tls(certs, mode, ca))
    with connect(p, sslmode="disable") as c:
        assert server_ssl(c) is True
        assert c.execute("SELECT current_user").fetchone() == ("postgres",)


def test_server_sslmode_disable_is_refused_by_tls_only_server(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)}, extra=server_tls(certs, "disable"))
    err = connect_error(p, sslmode="disable")
    assert "no encryption" in err and "pg_hba.conf" in err, err
    wait_log(p, "server login failed")


def assert_waits_then_login_timeout(p, started):
    """A TLS handshake failure toward the server is a connect failure: the
    client waits for a retry until client_login_timeout (2 s here)."""
    err = connect_error(p, sslmode="disable")
    took = time.monotonic() - started
    assert "client_login_timeout (server down)" in err, err
    assert 1.5 < took < 8, took


def test_server_verify_ca_with_the_wrong_ca_fails(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)},
                    extra=dict(server_tls(certs, "verify-ca", "ca2"), client_login_timeout=2))
    assert_waits_then_login_timeout(p, time.monotonic())
    log = p.log_text()
    assert "TLS handshake failed: certificate verify failed" in log, log[-3000:]
    assert 'at "CN=pgswitch test CA1"' in log, log[-3000:]
    # the right CA, by RELOAD: the next client gets in
    p.extra["server_tls_ca_file"] = certs.crt("ca1")
    p.reload()
    with connect(p, sslmode="disable") as c:
        assert server_ssl(c) is True


def test_server_verify_full_name_mismatch_fails(ssl_pg, certs, make_pooler):
    # ssl_pg's certificate names DNS:localhost only, not IP:127.0.0.1
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg, host="127.0.0.1")},
                    extra=dict(server_tls(certs, "verify-full", "ca1"), client_login_timeout=2))
    assert_waits_then_login_timeout(p, time.monotonic())
    log = p.log_text()
    assert ('TLS handshake failed: certificate verify failed: server certificate for "localhost" '
            'does not match host name "127.0.0.1"') in log, log[-3000:]


def test_server_tls_is_not_tried_over_unix_sockets(ssl_pg, certs, make_pooler):
    # PostgreSQL has no TLS on Unix sockets; PgBouncer sends no SSLRequest there
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg, host=ssl_pg.sockdir)},
                    extra=dict(server_tls(certs, "verify-full", "ca1"), client_login_timeout=3))
    with connect(p, sslmode="disable") as c:
        assert server_ssl(c) is False
        assert c.execute("SELECT client_addr FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone() \
            == (None,)


def test_server_require_against_plain_server_fails(pg, certs, make_pooler):
    p = make_pooler(pg, extra=server_tls(certs, "require"))
    t0 = time.monotonic()
    err = connect_error(p, sslmode="disable")
    assert time.monotonic() - t0 < 3
    assert "server refused SSL" in err, err
    wait_log(p, "server login failed: server refused SSL")
    # prefer takes the plain-text answer (after server_login_retry = 1 s:
    # until then new clients get the pool's cached login error, as in PgBouncer)
    p.extra["server_tls_sslmode"] = "prefer"
    p.reload()
    time.sleep(1.2)
    with connect(p, sslmode="disable") as c:
        assert server_ssl(c) is False


# ---------------------------------------------------------------------------
# 6. server_tls_key_file / server_tls_cert_file: cert login to PostgreSQL


def test_server_client_certificate_for_cert_auth(ssl_pg, certs, make_pooler):
    users = default_userlist(overrides={"bob": "bobpw"})
    p = make_pooler(ssl_pg, users_txt=users, databases={"postgres": db_entry(ssl_pg, host="localhost")},
                    extra=server_tls(certs, "verify-full", "ca1",
                                     server_tls_key_file=certs.key("alice"),
                                     server_tls_cert_file=certs.crt("alice")))
    # pg_hba: hostssl all alice 127.0.0.1/32 cert (PostgreSQL checks CN = user)
    with connect(p, user="alice", sslmode="disable") as c:
        assert c.execute("SELECT current_user").fetchone() == ("alice",)
        assert c.execute("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() \
            == (True, "/CN=alice")
    # the same certificate does not make the pooler bob
    err = connect_error(p, user="bob", sslmode="disable")
    assert 'certificate authentication failed for user "bob"' in err, err
    # without a certificate toward the server, alice is refused
    del p.extra["server_tls_key_file"], p.extra["server_tls_cert_file"]
    p.reload()
    err = connect_error(p, user="alice", sslmode="disable")
    assert "connection requires a valid client certificate" in err, err


# ---------------------------------------------------------------------------
# 7. channel binding (SCRAM-SHA-256-PLUS, tls-server-end-point)


def test_channel_binding_client_hop(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, auth_type="scram-sha-256", databases={"postgres": db_entry(ssl_pg)},
                    extra={**client_tls(certs, "prefer"), **server_tls(certs, "require")})
    base = "host=127.0.0.1 port=%d dbname=postgres user=scramuser password=%s" % (p.port, PASSWORDS["scramuser"])
    rc, out, err = psql(base + " sslmode=require channel_binding=require", "SELECT current_user")
    assert rc == 0 and out == "scramuser", err
    # the same without TLS: libpq will not go on
    rc, out, err = psql(base + " sslmode=disable channel_binding=require")
    assert rc != 0 and "channel binding required, but SSL not in use" in err, err
    rc, out, err = psql(base + " sslmode=disable channel_binding=prefer", "SELECT 'unbound'")
    assert rc == 0 and out == "unbound", err
    # a wrong password is still wrong with channel binding
    rc, out, err = psql(base.replace(PASSWORDS["scramuser"], "wrong") + " sslmode=require channel_binding=require")
    assert rc != 0 and "SASL authentication failed" in err, err

    # the SCRAM secret instead of the password in userlist.txt: the server
    # login then uses the client's SCRAM keys
    p.users_txt = default_userlist(overrides={"scramuser": ssl_pg.rolpassword("scramuser")})
    p.reload()
    rc, out, err = psql(base + " sslmode=require channel_binding=require",
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert rc == 0 and out == "t", err


def test_channel_binding_server_hop(ssl_pg, certs, make_pooler):
    # pg_hba: host all scramuser 127.0.0.1/32 scram-sha-256 (with or without TLS)
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg, channel_binding="require"),
                                       "prefer_cb": db_entry(ssl_pg, channel_binding="prefer"),
                                       "trusted": db_entry(ssl_pg, channel_binding="require")},
                    extra=dict(server_tls(certs, "require"), client_login_timeout=3))
    with connect(p, user="scramuser", sslmode="disable") as c:
        assert c.execute("SELECT current_user").fetchone() == ("scramuser",)
        assert server_ssl(c) is True
    # postgres logs in by trust: TLS, but the server proved nothing
    err = connect_error(p, user="postgres", dbname="trusted", sslmode="disable")
    assert "channel binding required, but server authenticated client without channel binding" in err, err

    # no TLS toward the server: require cannot be met; prefer logs in unbound
    p.extra["server_tls_sslmode"] = "disable"
    p.reload()
    err = connect_error(p, user="scramuser", sslmode="disable")
    assert "channel binding required, but SSL not in use" in err, err
    wait_log(p, "server login failed: channel binding required, but SSL not in use")
    with connect(p, user="scramuser", dbname="prefer_cb", sslmode="disable") as c:
        assert server_ssl(c) is False


# ---------------------------------------------------------------------------
# 8. RELOAD semantics


def test_reload_changes_the_client_certificate(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "prefer"))
    verify = dict(sslmode="verify-full", host="localhost", hostaddr=HOST)
    with connect(p, sslrootcert=certs.crt("ca1"), **verify) as old:
        assert old.execute("SELECT 1").fetchone() == (1,)
        err = connect_error(p, sslrootcert=certs.crt("ca2"), **verify)
        assert "certificate verify failed" in err, err

        p.extra.update(client_tls(certs, "prefer", cert="server_ca2"))
        p.reload()
        with connect(p, sslrootcert=certs.crt("ca2"), **verify) as new:
            assert new.execute("SELECT 2").fetchone() == (2,)
        err = connect_error(p, sslrootcert=certs.crt("ca1"), **verify)
        assert "certificate verify failed" in err, err
        # a client connected before the reload keeps its session
        assert old.execute("SELECT 3").fetchone() == (3,)


def copy_cert(certs, src, dst):
    """Copy certificate and key SRC to the names DST (overwriting)."""
    for f in (certs.crt, certs.key):
        shutil.copyfile(f(src), f(dst))
    certs._finish(dst)


def test_reload_rereads_a_renewed_certificate_at_the_same_path(pg, certs, make_pooler):
    """Certificate rotation: new files under the old names, then RELOAD.
    PgBouncer rebuilds its TLS contexts from the files on every reload."""
    copy_cert(certs, "server", "rotating")
    p = make_pooler(pg, extra=client_tls(certs, "prefer", cert="rotating"))
    verify = dict(sslmode="verify-full", host="localhost", hostaddr=HOST)
    with connect(p, sslrootcert=certs.crt("ca1"), **verify) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    copy_cert(certs, "server_ca2", "rotating")
    p.reload()  # the ini is the same: only the files changed
    with connect(p, sslrootcert=certs.crt("ca2"), **verify) as c:
        assert c.execute("SELECT 2").fetchone() == (2,)


def test_reload_rereads_a_changed_server_ca_file_at_the_same_path(ssl_pg, certs, make_pooler):
    ca = os.path.join(certs.dir, "rotating_ca.crt")
    shutil.copyfile(certs.crt("ca2"), ca)
    chown_to_runner(ca)
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)},
                    extra={"server_tls_sslmode": "verify-ca", "server_tls_ca_file": ca,
                           "client_login_timeout": 2})
    assert_waits_then_login_timeout(p, time.monotonic())
    shutil.copyfile(certs.crt("ca1"), ca)
    p.reload()
    with connect(p, sslmode="disable") as c:
        assert server_ssl(c) is True


def test_reload_changes_client_sslmode(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "disable"))
    with connect(p, sslmode="prefer") as old:
        assert old.pgconn.ssl_in_use is False
        p.extra["client_tls_sslmode"] = "require"
        p.reload()
        err = connect_error(p, sslmode="disable")
        assert "SSL required" in err, err
        with connect(p, sslmode="prefer") as new:
            assert new.pgconn.ssl_in_use is True
        # the plain-text client from before is not thrown out
        assert old.execute("SELECT 1").fetchone() == (1,)
        with p.admin() as a:
            a.execute("SET client_tls_sslmode = 'disable'")
        err = connect_error(p, sslmode="require")
        assert "server does not support SSL" in err, err


def backend_alive(pg_server, pid):
    return pg_server.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))[0][0] == 1


def test_reload_without_server_tls_change_keeps_servers(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, pool_size=1, databases={"postgres": db_entry(ssl_pg)},
                    extra={**client_tls(certs, "prefer"), **server_tls(certs, "prefer")})
    with connect(p) as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    for change in ({}, {"client_tls_cert_file": certs.crt("server_ca2"),
                        "client_tls_key_file": certs.key("server_ca2")},
                   {"server_idle_timeout": "500"}):
        p.extra.update(change)
        p.reload()
        with connect(p) as c:
            assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid, change
            assert server_ssl(c) is True
    assert backend_alive(ssl_pg, pid)


def test_reload_server_tls_change_retires_servers(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, mode="session", pool_size=2, databases={"postgres": db_entry(ssl_pg)},
                    extra=server_tls(certs, "prefer"))
    held = connect(p)
    try:
        pid_held = held.execute("SELECT pg_backend_pid()").fetchone()[0]
        with connect(p) as c:
            pid_idle = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pid_idle != pid_held

        p.extra.update(server_tls(certs, "require"))
        p.reload()
        # the idle server goes now; the one in use stays with its client
        wait_until(lambda: not backend_alive(ssl_pg, pid_idle), timeout=5, what="idle server retired")
        assert held.execute("SELECT pg_backend_pid()").fetchone()[0] == pid_held
        assert backend_alive(ssl_pg, pid_held)
    finally:
        held.close()
    wait_until(lambda: not backend_alive(ssl_pg, pid_held), timeout=5, what="released server retired")
    with connect(p) as c:
        pid_new = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert server_ssl(c) is True
    assert pid_new not in (pid_held, pid_idle)

    # the same by SIGHUP and by the console's SET
    p.extra.update(server_tls(certs, "verify-ca", "ca1"))
    p.reload(via="sighup")
    wait_until(lambda: not backend_alive(ssl_pg, pid_new), timeout=5, what="server retired after SIGHUP")
    with connect(p) as c:
        pid_sighup = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    with p.admin() as a:
        a.execute("SET server_tls_sslmode = 'require'")
    wait_until(lambda: not backend_alive(ssl_pg, pid_sighup), timeout=5, what="server retired after SET")
    with connect(p) as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid_sighup
        assert server_ssl(c) is True
    assert p.show("CONFIG") and any(r["key"] == "server_tls_sslmode" and r["value"] == "require"
                                    for r in p.show("CONFIG"))


# ---------------------------------------------------------------------------
# 9. hostile TLS input


def client_hello_bytes():
    """A real TLS ClientHello record (with ALPN postgresql)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["postgresql"])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    data = out.read()
    assert data[:1] == b"\x16" and len(data) > 100
    return data


def test_hostile_tls_input(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "verify-ca", ca="ca1"),
                    admin_kw=dict(sslmode="require", **client_cert_kw(certs, "alice")))
    good = dict(sslmode="require", **client_cert_kw(certs, "alice"))
    hello = client_hello_bytes()

    def raw():
        s = socket.create_connection((HOST, p.port), timeout=5)
        s.settimeout(5)
        return s

    def closed(s):
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()

    # garbage instead of a ClientHello after the 'S'
    s = raw()
    s.sendall(SSL_REQUEST)
    assert s.recv(1) == b"S"
    s.sendall(os.urandom(300) + b"\x00" * 100)
    closed(s)
    # a plausible record header announcing more than it carries
    s = raw()
    s.sendall(SSL_REQUEST)
    assert s.recv(1) == b"S"
    s.sendall(b"\x16\x03\x01\xff\xff" + b"\x01" * 64)
    s.close()
    # bytes pipelined after the SSLRequest, before the answer (CVE-2021-23214)
    s = raw()
    s.sendall(SSL_REQUEST + hello)
    closed(s)
    # truncated ClientHello, then close: via SSLRequest and as direct TLS
    for direct in (False, True):
        s = raw()
        if not direct:
            s.sendall(SSL_REQUEST)
            assert s.recv(1) == b"S"
        s.sendall(hello[:len(hello) // 2])
        s.close()
    # a direct-TLS record that is a lie about its length, then silence
    s = raw()
    s.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
    closed(s)
    # a TLS handshake with a CA2 client certificate
    assert closed_without_login(lambda: TlsRawClient(p.port, cert=(certs.crt("evil"), certs.key("evil"))))
    # a second SSLRequest inside TLS: answered N or refused, never a crash
    rc = TlsRawClient(p.port, cert=(certs.crt("alice"), certs.key("alice")))
    try:
        rc.send(SSL_REQUEST)
        ans = rc.sock.recv(1)
        assert ans in (b"N", b"E", b""), ans
    except (ssl.SSLError, OSError):
        pass
    finally:
        rc.close()
    # plain text to a verify-ca pooler
    rc = RawClient(p.port)
    try:
        rc.startup()
        t, body = rc.read_msg()
        assert t == b"E" and error_fields(body)["M"] == "SSL required"
    finally:
        rc.close()
    # a TLS client that stops after the handshake, and one that closes mid-startup
    rc = TlsRawClient(p.port, cert=(certs.crt("alice"), certs.key("alice")))
    rc.send(startup_packet()[:7])
    rc.close()

    def reasons():
        return [ln.split("closing because: ", 1)[1] for ln in p.log_text().splitlines()
                if "(nodb)/(nouser)" in ln and "closing because: " in ln]

    # every bad connection was closed by the pooler for a reason of its own
    wait_until(lambda: len(reasons()) >= 8, timeout=5, what="the hostile connections closed")
    got = reasons()
    assert sum("TLS handshake failed: " in r for r in got) >= 4, got
    assert sum("client unexpected eof during TLS handshake" in r for r in got) >= 2, got
    assert any("received unencrypted data after SSL request" in r for r in got), got
    assert any('certificate verify failed: unable to get local issuer certificate (client certificate "CN=alice")'
               in r for r in got), got
    assert pid_alive(p.pid) and p.alive()
    assert_serves(p, **good)
    assert p.sanitizer_report() == ""
    # all those connections are gone
    wait_until(lambda: len([r for r in p.show("CLIENTS") if r["database"] != "pgbouncer"]) == 0,
               timeout=5, what="no client left")


# ---------------------------------------------------------------------------
# 10. SCRAM-SHA-256-PLUS is offered to TLS clients only


def first_auth_request(rc, user="scramuser"):
    rc.send(startup_packet(user=user))
    m = rc.read_msg()
    assert m is not None and m[0] == b"R", m
    return m[1]


def test_scram_plus_offered_over_tls_only(pg, certs, make_pooler):
    p = make_pooler(pg, auth_type="scram-sha-256", extra=client_tls(certs, "prefer"))
    for direct in (False, True):
        rc = TlsRawClient(p.port, direct=direct)
        try:
            assert sasl_mechanisms(first_auth_request(rc)) == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        finally:
            rc.close()
    rc = RawClient(p.port)
    try:
        assert sasl_mechanisms(first_auth_request(rc)) == ["SCRAM-SHA-256"]
        # plain SCRAM over plain TCP logs in
        m = _scram_client(rc, PASSWORDS["scramuser"], "scramuser")
        assert m[0] == b"R" and struct.unpack("!I", m[1][:4])[0] == 12, m
    finally:
        rc.close()
    # over TLS, a client claiming "y" (I could bind, you did not offer it)
    # is refused: the server did offer PLUS, so someone stripped it
    rc = TlsRawClient(p.port)
    try:
        first_auth_request(rc)
        first = b"y,,n=,r=abcdefghijklmnopqrstuvwx"
        mech = b"SCRAM-SHA-256\0"
        rc.send(b"p" + struct.pack("!I", 4 + len(mech) + 4 + len(first)) + mech
                + struct.pack("!I", len(first)) + first)
        msgs = read_until_ready(rc)
        assert msgs[-1][0] == b"E", msgs
        assert "channel binding" in error_fields(msgs[-1][1])["M"], msgs
    finally:
        rc.close()
    assert_serves(p, user="scramuser", password=PASSWORDS["scramuser"], sslmode="require")


# ---------------------------------------------------------------------------
# direct TLS (PostgreSQL 17 sslnegotiation=direct)


def test_direct_tls_needs_alpn_postgresql(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "require"))
    rc = TlsRawClient(p.port, direct=True, ca=certs.crt("ca1"))
    try:
        assert rc.sock.selected_alpn_protocol() == "postgresql"
        rc.send(startup_packet())
        msgs = read_until_ready(rc)
        types = [t for t, _ in msgs]
        assert types[0] == b"R" and struct.unpack("!I", msgs[0][1][:4])[0] == 0, msgs
        assert types[-1] == b"Z", msgs
        q = b"SELECT 'direct'\0"
        rc.send(b"Q" + struct.pack("!I", 4 + len(q)) + q)
        msgs = read_until_ready(rc)
        data = [b for t, b in msgs if t == b"D"]
        assert data and data[0].endswith(b"direct"), msgs
    finally:
        rc.close()
    wait_until(lambda: any("tls=TLSv1.3/" in ln and "db=postgres" in ln for ln in p.tls_logins()),
               timeout=5, what="TLS login line")

    # another protocol, or no ALPN at all: refused
    assert closed_without_login(lambda: TlsRawClient(p.port, direct=True, alpn=["http/1.1"]))
    assert closed_without_login(lambda: TlsRawClient(p.port, direct=True, alpn=None))
    wait_until(lambda: "received direct SSL connection request without ALPN" in p.log_text(),
               timeout=5, what="no-ALPN refusal logged")
    # ALPN on the SSLRequest path is fine too
    rc = TlsRawClient(p.port, direct=False)
    try:
        assert rc.sock.selected_alpn_protocol() == "postgresql"
        rc.send(startup_packet())
        assert read_until_ready(rc)[-1][0] == b"Z"
    finally:
        rc.close()
    assert_serves(p, sslmode="require")


def test_direct_tls_refused_when_tls_is_off(pg, certs, make_pooler):
    p = make_pooler(pg, extra={"client_tls_sslmode": "disable"})
    assert closed_without_login(lambda: TlsRawClient(p.port, direct=True))
    wait_until(lambda: "direct TLS connection refused" in p.log_text(), timeout=5, what="refusal logged")
    assert_serves(p, sslmode="disable")


# ---------------------------------------------------------------------------
# protocol and cipher settings on both hops


def tls_login(port, **kw):
    """(TLS version, cipher) of a TLS login to PORT that reached ReadyForQuery."""
    rc = TlsRawClient(port, **kw)
    try:
        rc.send(startup_packet())
        assert read_until_ready(rc)[-1][0] == b"Z"
        return rc.sock.version(), rc.sock.cipher()[0]
    finally:
        rc.close()


def test_client_tls_protocols_and_ciphers(pg, certs, make_pooler):
    p = make_pooler(pg, extra=client_tls(certs, "require", client_tls_protocols="tlsv1.2",
                                         client_tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert tls_login(p.port) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    wait_log(p, "tls=TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256")

    def only13(ctx):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    assert closed_without_login(lambda: TlsRawClient(p.port, tweak=only13))

    p.extra.update(client_tls_protocols="tlsv1.3", client_tls13_ciphers="TLS_CHACHA20_POLY1305_SHA256")
    p.reload()
    assert tls_login(p.port) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    assert tls_login(p.port, tweak=only13) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")

    def only12(ctx):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    assert closed_without_login(lambda: TlsRawClient(p.port, tweak=only12))

    # an unusable value by SET: accepted with a notice, the old context stays
    with p.admin() as a:
        notices = []
        a.add_notice_handler(lambda d: notices.append(d.message_primary))
        a.execute("SET client_tls13_ciphers = 'NO_SUCH_SUITE'")
        assert any("TLS settings could not be applied" in n for n in notices), notices
    assert tls_login(p.port) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    assert_serves(p, sslmode="require")


def test_server_tls_protocols_and_ciphers(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)},
                    extra=server_tls(certs, "require", server_tls_protocols="tlsv1.2",
                                     server_tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    sql = "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    with connect(p, sslmode="disable") as c:
        assert c.execute(sql).fetchone() == (True, "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    p.extra.update(server_tls_protocols="tlsv1.3", server_tls13_ciphers="TLS_AES_128_GCM_SHA256")
    p.reload()
    with connect(p, sslmode="disable") as c:
        assert c.execute(sql).fetchone() == (True, "TLSv1.3", "TLS_AES_128_GCM_SHA256")


# ---------------------------------------------------------------------------
# data through TLS on both hops; cancel requests


def test_large_payloads_through_tls_on_both_hops(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)},
                    extra={**client_tls(certs, "require"), **server_tls(certs, "require")})
    big = "x" * (3 * 1024 * 1024 + 17)
    with connect(p, sslmode="require") as c:
        assert c.pgconn.ssl_in_use and server_ssl(c) is True
        # a 3 MB query in, a 3 MB row out, many rows out
        assert c.execute("SELECT length(%s::text)", (big,)).fetchone() == (len(big),)
        assert c.execute("SELECT repeat('y', 4000000)").fetchone()[0] == "y" * 4000000
        rows = c.execute("SELECT g, md5(g::text) FROM generate_series(1, 50000) g").fetchall()
        assert len(rows) == 50000 and rows[-1][0] == 50000
    with connect(p, sslmode="require", autocommit=False) as c:
        c.execute("CREATE TEMP TABLE t (a int, b text) ON COMMIT DROP")
        with c.cursor().copy("COPY t FROM STDIN") as cp:
            for i in range(20000):
                cp.write_row((i, "row %d %s" % (i, "z" * 50)))
        assert c.execute("SELECT count(*), sum(a) FROM t").fetchone() == (20000, sum(range(20000)))
        out = bytearray()
        with c.cursor().copy("COPY t TO STDOUT") as cp:
            for chunk in cp:
                out += chunk
        assert out.count(b"\n") == 20000
        c.rollback()
    # pipelined small queries over the raw TLS socket in one write
    rc = TlsRawClient(p.port)
    try:
        rc.send(startup_packet())
        assert read_until_ready(rc)[-1][0] == b"Z"
        batch = b""
        for i in range(200):
            q = ("SELECT %d" % i).encode() + b"\0"
            batch += b"Q" + struct.pack("!I", 4 + len(q)) + q
        rc.send(batch)
        seen = []
        while len(seen) < 200:
            for t, body in read_until_ready(rc):
                assert t not in (None, b"E"), body
                if t == b"D":
                    seen.append(int(body[6:]))
        assert seen == list(range(200))
    finally:
        rc.close()


def test_cancel_request_when_tls_is_required(ssl_pg, certs, make_pooler):
    p = make_pooler(ssl_pg, databases={"postgres": db_entry(ssl_pg)},
                    extra={**client_tls(certs, "require"), **server_tls(certs, "require")})
    with connect(p, sslmode="require") as c:
        # libpq sends the CancelRequest in plain text on a new connection
        t = threading.Timer(0.5, c.cancel)
        t.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT pg_sleep(20)")
        finally:
            t.cancel()
        assert time.monotonic() - t0 < 10
        assert c.execute("SELECT 1").fetchone() == (1,)


# ---------------------------------------------------------------------------
# SCRAM-SHA-256-PLUS by hand: the binding data must be the certificate's hash


def scram_exchange(rc, user, password, mech, gs2, cbind_data=b""):
    """Run a SCRAM exchange on RC (after AuthenticationSASL); returns the
    last message: ("R", 12 body) on success, ("E", ...) on refusal."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    payload = (gs2 + first_bare).encode()
    m = mech.encode() + b"\0"
    rc.send(b"p" + struct.pack("!I", 4 + len(m) + 4 + len(payload)) + m + struct.pack("!I", len(payload)) + payload)
    msg = rc.read_msg()
    if msg is None or msg[0] != b"R":
        return msg
    server_first = msg[1][4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    cbind = base64.b64encode(gs2.encode() + cbind_data).decode()
    final_wo_proof = "c=%s,r=%s" % (cbind, attrs["r"])
    auth_msg = ",".join([first_bare, server_first, final_wo_proof]).encode()
    sig = hmac.new(stored_key, auth_msg, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
    final = (final_wo_proof + ",p=" + proof).encode()
    rc.send(b"p" + struct.pack("!I", 4 + len(final)) + final)
    return rc.read_msg()


def test_scram_plus_binding_data_is_checked(pg, certs, make_pooler):
    p = make_pooler(pg, auth_type="scram-sha-256", extra=client_tls(certs, "prefer"))
    pw = PASSWORDS["scramuser"]
    gs2 = "p=tls-server-end-point,,"

    def attempt(cbdata_of, direct=False):
        rc = TlsRawClient(p.port, direct=direct)
        try:
            first_auth_request(rc)
            der = rc.sock.getpeercert(binary_form=True)
            last = scram_exchange(rc, "scramuser", pw, "SCRAM-SHA-256-PLUS", gs2, cbdata_of(der))
            return last, (read_until_ready(rc) if last and last[0] == b"R" else None)
        finally:
            rc.close()

    # the right data: SHA-256 of the certificate (signed with ecdsa-with-SHA256)
    for direct in (False, True):
        last, rest = attempt(lambda der: hashlib.sha256(der).digest(), direct)
        assert last[0] == b"R" and struct.unpack("!I", last[1][:4])[0] == 12, last
        assert rest[-1][0] == b"Z", rest
    # wrong data: refused (a man in the middle would present another certificate)
    last, rest = attempt(lambda der: hashlib.sha256(der + b"x").digest())
    assert last[0] == b"E", last
    assert "channel binding" in error_fields(last[1]).get("M", ""), error_fields(last[1])
    # PLUS over plain TCP is not offered, so it cannot be chosen
    rc = RawClient(p.port)
    try:
        first_auth_request(rc)
        last = scram_exchange(rc, "scramuser", pw, "SCRAM-SHA-256-PLUS", gs2, b"\0" * 32)
        assert last is None or last[0] == b"E", last
    finally:
        rc.close()
    assert_serves(p, user="scramuser", password=pw, sslmode="require")


# ---------------------------------------------------------------------------
# the client's Finished and its first messages in one TCP write


class BioClient:
    """A TLS client on memory BIOs, so that the test decides what goes
    into each send(): here the handshake's last flight together with
    application data."""

    def __init__(self, port, direct):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.sock.settimeout(5)
        if not direct:
            self.sock.sendall(SSL_REQUEST)
            assert self.sock.recv(1) == b"S"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["postgresql"])
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        self.buf = b""

    def handshake_then(self, payload):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = self.out.read()
                if data:
                    self.sock.sendall(data)
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                self.inc.write(chunk)
        self.obj.write(payload)
        self.sock.sendall(self.out.read())  # Finished + PAYLOAD records

    def read_msg(self):
        while True:
            if len(self.buf) >= 5:
                ln = struct.unpack("!I", self.buf[1:5])[0]
                if len(self.buf) >= 1 + ln:
                    m = (self.buf[:1], self.buf[5:1 + ln])
                    self.buf = self.buf[1 + ln:]
                    return m
            try:
                self.buf += self.obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return None
            data = self.out.read()
            if data:
                self.sock.sendall(data)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.inc.write(chunk)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("direct", [False, True], ids=["sslrequest", "direct"])
def test_startup_and_query_in_the_handshakes_last_flight(pg, certs, make_pooler, direct):
    p = make_pooler(pg, extra=client_tls(certs, "require"))
    q = b"SELECT 'early'\0"
    bc = BioClient(p.port, direct)
    try:
        bc.handshake_then(startup_packet() + b"Q" + struct.pack("!I", 4 + len(q)) + q)
        got = []
        while True:
            m = bc.read_msg()
            assert m is not None and m[0] != b"E", (got, m)
            got.append(m)
            if m[0] == b"Z" and any(t == b"D" for t, _ in got):
                break
        assert any(t == b"D" and b.endswith(b"early") for t, b in got), got
    finally:
        bc.close()
    assert_serves(p, sslmode="require")
