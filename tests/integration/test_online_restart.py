"""Online restart (pgswitch -R, PgBouncer's takeover; docs/operations.md):
the new process logs in to the old one's console over the Unix socket,
SUSPENDs it, takes every socket over with SHOW FDS and SHUTDOWNs it.
Clients in transaction and session mode keep their connections, their
transaction, their session state (SET, PREPARE) and their cancel keys; a
query loop sees 0 errors. And a SUSPEND whose client never reads its
result ends at suspend_timeout with that client dropped."""

import os
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

from harness import HOST, _run_as_prefix, runnable_binary, wait_until


def reboot(p):
    """Start `pgswitch -R` on P's ini; it takes over from P's process. P
    then tracks the new process (stopped by PID at teardown)."""
    old = p.proc
    new = subprocess.Popen(
        _run_as_prefix() + [runnable_binary(p.bin), "-R", p.ini],
        stdin=subprocess.DEVNULL, stdout=p._stderr, stderr=subprocess.STDOUT, cwd=p.dir)
    try:
        old.wait(20)
    except subprocess.TimeoutExpired:
        new.kill()
        new.wait(10)
        raise AssertionError("old process did not exit:\n" + p.log_text()[-4000:])
    p.proc = new
    p.wait_ready()
    assert new.poll() is None, p.log_text()[-4000:]
    return old.returncode


@pytest.fixture
def takeover_pooler(pg, pooler_factory, sockdir):
    dbs = {
        "postgres": "host=%s port=%d dbname=postgres" % (HOST, pg.port),
        "sess": "host=%s port=%d dbname=postgres pool_mode=session" % (HOST, pg.port),
    }
    return pooler_factory(mode="transaction", pool_size=4, databases=dbs,
                          extra={"unix_socket_dir": sockdir})


@pytest.mark.pgswitch_only(reason="the test drives pgswitch's own -R")
@pytest.mark.timeout(120)
def test_clients_survive_online_restart(takeover_pooler):
    p = takeover_pooler
    tx = p.connect()
    mid = p.connect()
    mid.execute("BEGIN")
    xid = mid.execute("SELECT txid_current()").fetchone()[0]
    sess = p.connect(dbname="sess")
    sess.execute("SET work_mem = '7MB'")
    sess.execute("PREPARE plus1 AS SELECT $1::int + 1")
    victim = p.connect(dbname="sess")
    victim.execute("SELECT 1")

    errors, done, stop = [], [0], threading.Event()

    def loop():
        c = p.connect()
        while not stop.is_set():
            try:
                assert c.execute("SELECT 41 + 1").fetchone()[0] == 42
                done[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        c.close()

    # Three loops with no pause between queries: a SUSPEND always finds
    # some query read and not yet given a server, which must still get
    # one (a pooler that stops scheduling on SUSPEND drops it at
    # suspend_timeout).
    ts = [threading.Thread(target=loop, daemon=True) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    before = done[0]
    for _ in range(2):
        assert reboot(p) == 0
        time.sleep(0.5)
    stop.set()
    for t in ts:
        t.join(10)
    assert errors == [], errors
    assert done[0] > before

    assert tx.execute("SELECT 2").fetchone()[0] == 2
    assert mid.execute("SELECT txid_current()").fetchone()[0] == xid
    mid.execute("COMMIT")
    assert sess.execute("SHOW work_mem").fetchone()[0] == "7MB"
    assert sess.execute("EXECUTE plus1(41)").fetchone()[0] == 42

    # The cancel key issued by the first process cancels in the third.
    def cancel_soon():
        time.sleep(1)
        victim.cancel()

    threading.Thread(target=cancel_soon, daemon=True).start()
    with pytest.raises(psycopg.errors.QueryCanceled):
        victim.execute("SELECT pg_sleep(20)")
    assert victim.execute("SELECT 3").fetchone()[0] == 3

    log = p.log_text()
    assert "takeover_init: launching connection" in log
    assert "SUSPEND command issued" in log
    assert "old process killed, resuming work" in log
    for c in (tx, mid, sess, victim):
        c.close()


def _startup(sock, user, db):
    body = struct.pack("!I", 196608) + b"user\0" + user.encode() + b"\0database\0" + \
        db.encode() + b"\0\0"
    sock.sendall(struct.pack("!I", len(body) + 4) + body)
    buf = b""
    while b"Z\0\0\0\x05" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "closed during login"
        buf += chunk


@pytest.mark.pgswitch_only(reason="pgswitch's suspend_timeout log line")
@pytest.mark.timeout(60)
def test_suspend_timeout_drops_a_client_that_never_reads(pg, pooler_factory):
    p = pooler_factory(mode="session", extra={"suspend_timeout": 1})
    s = socket.create_connection((HOST, p.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    _startup(s, "postgres", "postgres")
    # ~64 MB of result, never read: our output buffer cannot empty.
    q = b"SELECT repeat('x', 1000000) FROM generate_series(1, 64)\0"
    s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    time.sleep(1)
    idle = p.connect()
    idle.execute("SELECT 1")
    with p.admin() as a:
        t0 = time.monotonic()
        a.execute("SUSPEND")
        waited = time.monotonic() - t0
        a.execute("RESUME")
    assert 0.8 <= waited < 10, waited
    wait_until(lambda: "closing because: suspend_timeout" in p.log_text(),
               what="suspend_timeout line")
    # The quiet client was only paused: it goes on after RESUME.
    assert idle.execute("SELECT 5").fetchone()[0] == 5
    idle.close()
    s.close()
