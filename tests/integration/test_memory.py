"""Memory per idle client (issue 13): an idle logged-in client holds no I/O
buffer, and what a crowd of clients used is given back when it leaves.

2,000 clients log in with raw non-blocking sockets (startup packet, trust,
ReadyForQuery), each runs one SELECT 1 (so every client has used its read
and output buffers once), then idles. The pooler's RSS growth per client
must stay under 2 KB (it was 5.5 KB with an 8 KiB read buffer per client;
PgBouncer 1.25.2 is at 1.1 KB), and after the clients close at least 85 %
of what they took must be given back, round after round (PgBouncer keeps
its slabs: that part is pgswitch's only)."""

import errno
import resource
import selectors
import socket
import struct
import time

import pytest

import harness
from harness import HOST, IS_PGBOUNCER

N = 2000
ROUNDS = 2


def _startup(database):
    body = struct.pack("!i", 196608) + b"user\0postgres\0database\0" + database.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


QUERY = b"Q" + struct.pack("!i", 13) + b"SELECT 1\0"


def _messages(buf):
    while len(buf) >= 5:
        n = struct.unpack_from("!i", buf, 1)[0]
        if len(buf) < 1 + n:
            return
        t = chr(buf[0])
        del buf[:1 + n]
        yield t


def open_idle_clients(port, n, timeout=60.0, inflight=100):
    """N sockets logged in to database postgres, each after one SELECT 1."""
    sel = selectors.DefaultSelector()
    state, done, started = {}, [], 0
    pkt = _startup("postgres")
    deadline = time.monotonic() + timeout
    try:
        while len(done) < n:
            while started < n and len(state) < inflight:
                s = socket.socket()
                s.setblocking(False)
                rc = s.connect_ex((HOST, port))
                assert rc in (0, errno.EINPROGRESS), "connect: " + errno.errorcode.get(rc, str(rc))
                state[s] = ["connect", bytearray()]
                sel.register(s, selectors.EVENT_WRITE)
                started += 1
            assert time.monotonic() < deadline, "%d of %d clients ready" % (len(done), n)
            for key, _ in sel.select(1.0):
                s = key.fileobj
                st = state[s]
                if st[0] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, "connect: " + errno.errorcode.get(err, str(err))
                    s.send(pkt)
                    st[0] = "login"
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                d = s.recv(65536)
                assert d, "pooler closed a client during " + st[0]
                st[1] += d
                for t in _messages(st[1]):
                    assert t != "E", "ErrorResponse during " + st[0]
                    if t != "Z":
                        continue
                    if st[0] == "login":
                        s.send(QUERY)
                        st[0] = "query"
                        continue
                    sel.unregister(s)
                    del state[s]
                    done.append(s)
                    break
    except BaseException:
        for s in list(state) + done:
            s.close()
        raise
    finally:
        sel.close()
    return done


def close_clients(socks):
    for s in socks:
        try:
            s.send(b"X\0\0\0\4")
        except OSError:
            pass
        s.close()


def used_clients(adm):
    cols, rows = harness.simple_query(adm, "SHOW LISTS")
    return int(dict(rows)["used_clients"])


def settled_rss(pid, until=None, timeout=5.0):
    """RSS once UNTIL(rss) holds (or after TIMEOUT): the janitor gives
    memory back once a second, later on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        rss = harness.rss_kb(pid)
        if until is None or until(rss) or time.monotonic() > deadline:
            return rss
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_idle_clients_memory(pooler_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N + 500
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
    if soft != resource.RLIM_INFINITY and soft < need:
        # The pooler (started after this) inherits the limit too.
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    p = pooler_factory(mode="transaction", pool_size=5,
                       extra={"max_client_conn": N + 100, "log_connections": 0,
                              "log_disconnections": 0})
    with open("/proc/%d/maps" % p.pid) as f:
        if "libasan" in f.read():
            pytest.skip("ASan keeps freed memory in quarantine: RSS says nothing")
    adm = p.admin()
    # Warm-up: one-time growth (the fd table, the cancel-key map, the
    # first server) is not per client.
    close_clients(open_idle_clients(p.port, N // 4))
    harness.wait_until(lambda: used_clients(adm) <= 1, timeout=30, what="warm-up clients gone")
    time.sleep(1.2)  # a janitor tick: the warm-up's surplus is trimmed
    base = harness.rss_kb(p.pid)

    for rnd in range(ROUNDS):
        socks = open_idle_clients(p.port, N)
        try:
            time.sleep(0.3)
            opened = harness.rss_kb(p.pid)
            per_client = (opened - base) / N
            assert per_client < 2.0, "round %d: %.2f KB of RSS per idle client (%d -> %d kB)" % (
                rnd + 1, per_client, base, opened)
        finally:
            close_clients(socks)
        harness.wait_until(lambda: used_clients(adm) <= 1, timeout=30, what="clients gone")
        if IS_PGBOUNCER:
            continue  # PgBouncer keeps its slabs: RSS stays at the peak
        # What the clients took comes back (85 % of it at least).
        limit = base + 0.15 * (opened - base)
        rss = settled_rss(p.pid, until=lambda r: r <= limit)
        assert rss <= limit, "round %d: RSS %d kB after the clients left: %d kB before, %d kB with them" % (
            rnd + 1, rss, base, opened)
    adm.close()
