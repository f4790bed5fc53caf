"""Peering (docs/operations.md, rolling restart): two pgswitch processes on
one port (so_reuseport = 1) with their own peer_id and a [peers] section
naming both. A CancelRequest that lands on the process that does not own
the query is forwarded to the one that does, so the query is cancelled
(57014) whichever process the kernel gives the cancel connection to.

Each process also listens on a Unix socket of its own: the tests reach one
process or the other explicitly through it, so the forwarding is tested on
purpose, not by the luck of the kernel's choice."""

import os
import re
import shutil
import socket
import struct
import threading
import time

import psycopg
import pytest

import harness
from harness import HOST, PASSWORDS, RawClient, error_fields, simple_query, dict_rows, wait_until

CANCEL_CODE = 80877102

pytestmark = pytest.mark.pgswitch_only(reason="PgBouncer 1.18 has no peering")


class UnixRaw(RawClient):
    """RawClient over a pooler's Unix socket in DIR."""

    def __init__(self, sockdir, port, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(sockdir, ".s.PGSQL.%d" % port))


def login(sockdir, port):
    """Log in (auth_type trust) over the Unix socket; returns (client, pid,
    secret) from the BackendKeyData."""
    rc = UnixRaw(sockdir, port)
    rc.startup(user="postgres", database="postgres")
    key = None
    while True:
        m = rc.read_msg()
        assert m is not None, "closed during login"
        t, body = m
        assert t != b"E", error_fields(body)
        if t == b"K":
            key = struct.unpack("!II", body)
        if t == b"Z":
            break
    assert key is not None
    return rc, key[0], key[1]


def send_cancel(sockdir, port, pid, secret):
    """Send a CancelRequest over DIR's socket; returns once the pooler has
    closed it (libpq's cancel returns then too)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    try:
        s.connect(os.path.join(sockdir, ".s.PGSQL.%d" % port))
        s.sendall(struct.pack("!IIII", 16, CANCEL_CODE, pid, secret))
        assert s.recv(64) == b""
    finally:
        s.close()


def query(rc, sql):
    body = sql.encode() + b"\0"
    rc.send(b"Q" + struct.pack("!I", 4 + len(body)) + body)


def error_of_query(rc):
    """The ErrorResponse fields of the running query, after its
    ReadyForQuery."""
    err = None
    while True:
        m = rc.read_msg()
        assert m is not None, "closed during query"
        t, body = m
        if t == b"E":
            err = error_fields(body)
        if t == b"Z":
            return err


def admin_rows(sockdir, port, sql):
    """A console query on the process behind DIR's socket (the TCP port is
    shared: the kernel would pick one of the two)."""
    with psycopg.connect(host=sockdir, port=port, dbname="pgbouncer", user="admin",
                         password=PASSWORDS["admin"], autocommit=True,
                         connect_timeout=10) as c:
        c.prepare_threshold = None
        return dict_rows(*simple_query(c, sql))


def peer_id_of(pid):
    return ((pid >> 16) & 0xFF) | (pid & 0xFF00)


def peers_text(pair, extra_lines=()):
    lines = ["", "[peers]"]
    for i, p in enumerate(pair, 1):
        lines.append("%d = host=%s port=%d" % (i, p.sockdir, p.port))
    lines.extend(extra_lines)
    return "\n".join(lines) + "\n"


@pytest.fixture
def peered(pooler_factory):
    dirs = []
    for _ in range(2):
        d = harness.make_owned_tmpdir("pgswitch-peer-")
        os.chmod(d, 0o755)
        dirs.append(d)
    pair = []
    for i, d in enumerate(dirs, 1):
        extra = {"so_reuseport": 1, "peer_id": i, "unix_socket_dir": d}
        pair.append(pooler_factory(mode="session", pool_size=5, extra=extra))
        pair[-1].sockdir = d
    a, b = pair
    # Both on one port, each with the same [peers] section.
    for p in pair:
        p.stop()
    b.port = a.port
    for p in pair:
        p.write_config(p.render() + peers_text(pair))
        p.start()
    yield a, b
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.timeout(60)
def test_cancel_forwarded_to_owner(peered):
    a, b = peered
    rc, pid, secret = login(a.sockdir, a.port)
    try:
        # The key names peer 1, TTL at its maximum (PgBouncer's layout).
        assert peer_id_of(pid) == 1
        assert secret & 3 == 3
        assert pid < 0x80000000
        t0 = time.monotonic()
        query(rc, "select pg_sleep(30)")
        time.sleep(0.5)
        send_cancel(b.sockdir, b.port, pid, secret)
        err = error_of_query(rc)
        assert err is not None and err["C"] == "57014", err
        assert "due to user request" in err["M"]
        assert time.monotonic() - t0 < 10
        # The session goes on.
        query(rc, "select 1")
        assert error_of_query(rc) is None
    finally:
        rc.close()
    wait_until(lambda: "successfully sent cancel request" in b.log_text(), what="b's log line")
    log = b.log_text()
    assert re.search(r"S-0x[0-9a-f]+: peer-1@unix:%d new connection to server" % a.port, log), log[-3000:]
    assert re.search(r"C-0x[0-9a-f]+: peer-1@\S+ closing because: successfully sent cancel request",
                     log), log[-3000:]
    rows = admin_rows(b.sockdir, b.port, "SHOW PEER_POOLS")
    assert [r["peer_id"] for r in rows] == ["1"]
    assert rows[0]["cl_waiting_cancel_req"] == "0" and rows[0]["sv_login"] == "0"


@pytest.mark.timeout(90)
def test_psycopg_cancel_through_shared_port(peered):
    """As an application sees it: connect and cancel on the shared TCP port,
    the kernel spreads both over the two processes."""
    a, b = peered
    for _ in range(6):
        with psycopg.connect(host=HOST, port=a.port, dbname="postgres", user="postgres",
                             connect_timeout=10) as c:
            out = {}

            def run():
                try:
                    c.execute("select pg_sleep(20)")
                except psycopg.Error as e:
                    out["e"] = e

            t = threading.Thread(target=run)
            t.start()
            time.sleep(0.4)
            c.cancel()
            t.join(15)
            assert not t.is_alive()
            assert isinstance(out.get("e"), psycopg.errors.QueryCanceled), out


@pytest.mark.timeout(60)
def test_unknown_peer_and_ttl_dropped(peered):
    a, b = peered
    rc, pid, secret = login(a.sockdir, a.port)
    try:
        # A key naming peer 7, which no [peers] line has.
        other = (pid & 0xFF0000FF) | (7 << 16)
        send_cancel(a.sockdir, a.port, other, secret)
        # A key for peer 2 that was forwarded three times already.
        looped = (pid & 0xFF0000FF) | (2 << 16)
        send_cancel(a.sockdir, a.port, looped, secret & ~3)
        wait_until(lambda: "TTL was exhausted" in a.log_text(), what="a's TTL line")
        log = a.log_text()
        assert "closing because: could not find peer to forward request to" in log
        assert ("closing because: failed to forward cancel request because its TTL was "
                "exhausted") in log
        # Neither touched the session.
        query(rc, "select 1")
        assert error_of_query(rc) is None
    finally:
        rc.close()


@pytest.mark.timeout(60)
def test_show_peers_and_reload(peered):
    a, b = peered
    rows = admin_rows(a.sockdir, a.port, "SHOW PEERS")
    assert [(r["peer_id"], r["host"], r["port"], r["pool_size"]) for r in rows] == [
        ("1", a.sockdir, str(a.port), "5"),
        ("2", b.sockdir, str(b.port), "5"),
    ]
    good = a.render() + peers_text((a, b), ["3 = host=127.0.0.1 port=1 pool_size=7"])
    a.reload(text=good)
    rows = admin_rows(a.sockdir, a.port, "SHOW PEERS")
    assert [(r["peer_id"], r["pool_size"]) for r in rows] == [("1", "5"), ("2", "5"), ("3", "7")]
    lists = {r["list"]: r["items"] for r in admin_rows(a.sockdir, a.port, "SHOW LISTS")}
    assert lists["peers"] == "3"
    # A bad line: the reload is refused with file:line, the peers stay.
    bad = good + "x = host=/tmp\n"
    lineno = bad.count("\n")
    with pytest.raises(psycopg.Error):
        with psycopg.connect(host=a.sockdir, port=a.port, dbname="pgbouncer", user="admin",
                             password=PASSWORDS["admin"], autocommit=True) as c:
            a.write_config(bad)
            c.execute("RELOAD")
    assert re.search(re.escape(a.ini) + r":%d: peer 'x'" % lineno, a.log_text()), a.log_text()[-2000:]
    rows = admin_rows(a.sockdir, a.port, "SHOW PEERS")
    assert [r["peer_id"] for r in rows] == ["1", "2", "3"]
