"""Client sockets get tcp_keepalive from the listener (no setsockopt per
login): a logged-in client's socket on the pooler's side has its keepalive
timer armed, and a RELOAD that turns tcp_keepalive off is seen by the next
client, not by the one already connected (as PgBouncer applies it)."""

import os
import signal
import socket

import pytest

from harness import IS_PGBOUNCER, RawClient, wait_until


def pooler_side_timer(pooler_port, client_port):
    """The 'tr' column of /proc/net/tcp for the pooler's end of the client
    connection: 2 while the keepalive timer (sk_timer) is pending, 0 with
    no timer at all; None while the socket is not settled."""
    want_local, want_remote = "%04X" % pooler_port, "%04X" % client_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, st = fields[1], fields[2], fields[3]
            if st != "01":  # ESTABLISHED
                continue
            if local.endswith(":" + want_local) and remote.endswith(":" + want_remote):
                tr = int(fields[5].split(":")[0], 16)
                # 1: a retransmit or loss-probe timer until the last
                # reply is acked; it hides the keepalive one
                return (tr,) if tr != 1 else None
    return None


def client_port(conn):
    s = socket.socket(fileno=conn.pgconn.socket)
    try:
        return s.getsockname()[1]
    finally:
        s.detach()


def timer_of_new_client(p):
    conn = p.connect()
    conn.execute("SELECT 1")
    port = client_port(conn)
    (timer,) = wait_until(lambda: pooler_side_timer(p.port, port), timeout=5,
                          what="the pooler's end of the connection in /proc/net/tcp")
    return conn, timer


def test_keepalive_from_listener_and_reload(pg, pooler_factory):
    p = pooler_factory(extra={"verbose": "2"})
    first, timer = timer_of_new_client(p)
    assert timer == 2, "keepalive timer not armed on the pooler's client socket"
    if not IS_PGBOUNCER:
        assert "accepted sockets inherit TCP_NODELAY and SO_KEEPALIVE: yes" in p.log_text()

    p.extra["tcp_keepalive"] = "0"
    p.reload()
    second, timer = timer_of_new_client(p)
    assert timer == 0, "tcp_keepalive = 0 after RELOAD, but the new client has keepalive"
    # the client connected before keeps what it was accepted with
    assert wait_until(lambda: pooler_side_timer(p.port, client_port(first))) == (2,)

    p.extra["tcp_keepalive"] = "1"
    p.reload()
    third, timer = timer_of_new_client(p)
    assert timer == 2
    for c in (first, second, third):
        c.close()


def test_sockets_queued_before_a_retune(pg, pooler_factory):
    """Sockets that arrived before the listener was retuned carry its old
    options: each is tuned in full, and the check settles on the first
    socket that shows the new ones instead of giving up on inheritance
    (it did once, under ASan, when the first logins raced the first
    accept)."""
    if IS_PGBOUNCER:
        pytest.skip("pgswitch's accept path")
    p = pooler_factory(extra={"verbose": "2"})
    first, timer = timer_of_new_client(p)
    assert timer == 2
    first.close()
    p.extra["tcp_keepalive"] = "0"
    p.reload()
    # Queued while the pooler cannot accept: cloned from the listener
    # while it still has SO_KEEPALIVE on.
    os.kill(p.proc.pid, signal.SIGSTOP)
    try:
        raws = [RawClient(p.port) for _ in range(3)]
        for r in raws:
            r.startup()
    finally:
        os.kill(p.proc.pid, signal.SIGCONT)
    for r in raws:
        while r.read_msg()[0] != b"Z":
            pass
        port = r.sock.getsockname()[1]
        assert wait_until(lambda: pooler_side_timer(p.port, port)) == (0,), \
            "a socket queued before the retune kept the old keepalive"
    later, timer = timer_of_new_client(p)
    assert timer == 0
    log = p.log_text()
    assert "SO_KEEPALIVE: yes (2 accepted before without them)" in log
    assert "SO_KEEPALIVE: no" not in log
    later.close()
    for r in raws:
        r.sock.close()
