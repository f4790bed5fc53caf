"""Failure handling: PostgreSQL restarts under load, garbage and truncated
input, oversized packets, connection limits and wait timeouts.

What PgBouncer 1.18 sends (recorded from the validation run):
  garbage / bad startup     FATAL 08P01 "bad packet header: '<8 bytes hex>'"
                            or "client sent partial pkt in startup phase"
  half a startup packet     FATAL 08P01 "client_login_timeout" (after it)
  packet > max_packet_size  FATAL 08P01 "bad packet header: '...'"
  unknown message type      FATAL 08P01 "unknown pkt"
  max_client_conn reached   FATAL 08P01 "no more connections allowed (max_client_conn)"
  query_wait_timeout        FATAL 08P01 "query_wait_timeout"
  server died mid-query     FATAL 08P01 "server conn crashed?"
"""

import random
import struct
import threading
import time

import psycopg
import pytest

from harness import IS_PGBOUNCER, RawClient, error_fields, raw_login, rss_kb, simple_query

RSS_LIMIT_KB = 100 * 1024


def assert_serves(pooler):
    assert pooler.alive(), "pooler died:\n" + pooler.log_text()[-3000:]
    with pooler.connect() as c:
        assert c.execute("SELECT 'alive'").fetchone() == ("alive",)


def first_error(data):
    """Parse the first message of DATA if it is an ErrorResponse."""
    if len(data) >= 5 and data[:1] == b"E":
        ln = struct.unpack("!I", data[1:5])[0]
        return error_fields(data[5:1 + ln])
    return None


# ---------------------------------------------------------------------------
# PostgreSQL restart under load


@pytest.mark.slow
def test_postgres_restart_under_load(pg_factory, pooler_factory):
    pgx = pg_factory("restart", roles=False)
    p = pooler_factory(pg_server=pgx, mode="transaction", pool_size=5,
                       extra={"server_login_retry": 0.5, "query_wait_timeout": 20})
    nthreads = 10
    stop = threading.Event()
    logs = [[] for _ in range(nthreads)]  # (time, ok, detail)

    def worker(i):
        conn = None
        while not stop.is_set():
            t = time.monotonic()
            try:
                if conn is None:
                    conn = p.connect(connect_timeout=10)
                v = conn.execute("SELECT %s::int + 1", (i,)).fetchone()[0]
                logs[i].append((t, v == i + 1, v))
                time.sleep(0.02)
            except psycopg.Error as e:
                logs[i].append((t, False, repr(e)))
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
                time.sleep(0.2)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    restart_begin = time.monotonic()
    pgx.restart(mode="fast")
    restart_end = time.monotonic()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads), "client threads hung"

    import os
    if os.environ.get("PGSWITCH_DEBUG"):
        for i, log in enumerate(logs):
            errs = [(round(e[0] - restart_begin, 2), e[2][:80]) for e in log if not e[1]]
            print(i, len(log), "restart took %.2f" % (restart_end - restart_begin), errs)
    for i, log in enumerate(logs):
        assert log, "thread %d did nothing" % i
        oks_before = [e for e in log if e[1] and e[0] < restart_begin]
        oks_after = [e for e in log if e[1] and e[0] > restart_end]
        errors = [e for e in log if not e[1]]
        assert oks_before, "thread %d: no success before the restart" % i
        assert oks_after, "thread %d: no success after the restart: %r" % (i, errors[-3:])
        assert log[-1][1], "thread %d: last query failed: %r" % (i, log[-1])
        assert len(errors) <= 10, "thread %d: %d errors: %r" % (i, len(errors), errors[:5])
        late = [e for e in errors if e[0] > restart_end + 2.0]
        assert not late, "thread %d: errors long after the restart: %r" % (i, late[:3])
    assert_serves(p)


def test_server_killed_mid_query(pg, pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=2)
    with p.connect() as victim:
        pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
        res = {}

        def run():
            t0 = time.monotonic()
            try:
                victim.execute("SELECT pg_sleep(20)")
            except psycopg.Error as e:
                res["err"] = e
            res["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.5)
        with pg.connect() as direct:
            direct.execute("SELECT pg_terminate_backend(%s)", (pid,))
        t.join(10)
        assert not t.is_alive(), "client hangs after its server died"
        assert isinstance(res.get("err"), psycopg.Error), res
        assert res["elapsed"] < 5
    assert_serves(p)


# ---------------------------------------------------------------------------
# malformed input


def _random_bytes(seed, n=1000):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


GARBAGE = {
    "random0": _random_bytes(0),
    "random1": _random_bytes(1),
    "random2": _random_bytes(2),
    "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "zeros": b"\0" * 64,
    "ones": b"\xff" * 64,
    # a complete startup packet for protocol 1.0
    "bad-protocol": struct.pack("!II", 16, 0x00010000) + b"user\0x\0\0",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_input_closed(pooler, name):
    rc = RawClient(pooler.port)
    try:
        try:
            rc.send(GARBAGE[name])
        except (BrokenPipeError, ConnectionResetError):
            pass
        t0 = time.monotonic()
        closed, data = rc.wait_closed(5)
        assert closed, "connection still open 5 s after garbage (got %r)" % data[:100]
        assert time.monotonic() - t0 < 5
        assert data == b"" or data[:1] == b"E", data[:100]
        if data:
            fields = first_error(data)
            assert fields and fields.get("S") == "FATAL", data[:100]
    finally:
        rc.close()
    assert_serves(pooler)


def test_truncated_startup_then_close(pooler):
    rc = RawClient(pooler.port)
    rc.send(struct.pack("!I", 8)[:3])
    rc.close()
    assert_serves(pooler)


def test_partial_startup_packet_times_out(pooler_factory):
    p = pooler_factory(extra={"client_login_timeout": 2})
    rc = RawClient(p.port)
    try:
        rc.send(struct.pack("!I", 8) + b"\x00\x03")  # 6 of the declared 8 bytes
        t0 = time.monotonic()
        closed, data = rc.wait_closed(8)
        assert closed, "half a startup packet kept the connection open"
        assert time.monotonic() - t0 < 6
        assert data == b"" or data[:1] == b"E", data[:100]
    finally:
        rc.close()
    assert_serves(p)


def test_oversized_startup_packet(pooler):
    base = rss_kb(pooler.pid)
    socks = []
    try:
        for _ in range(20):
            rc = RawClient(pooler.port)
            socks.append(rc)
            try:
                rc.send(struct.pack("!II", 0x40000000, 196608) + b"x" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        for rc in socks:
            closed, data = rc.wait_closed(5)
            assert closed, "a 1 GB startup packet was not refused"
            assert data == b"" or data[:1] == b"E", data[:100]
    finally:
        for rc in socks:
            rc.close()
    rss = rss_kb(pooler.pid)
    assert rss is not None and rss < RSS_LIMIT_KB, "pooler RSS %s kB (was %s kB)" % (rss, base)
    assert_serves(pooler)


def test_oversized_message_after_login(pooler_factory):
    p = pooler_factory(extra={"max_packet_size": 16 * 1024 * 1024})
    other = p.connect()
    rc = RawClient(p.port)
    try:
        rc.login()
        try:
            rc.send(b"Q" + struct.pack("!I", 0x40000000) + b"SELECT 1" + b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, data = rc.wait_closed(5)
        assert closed, "a 1 GB message was not refused"
        fields = first_error(data)
        assert fields is not None and fields["S"] == "FATAL", data[:200]
    finally:
        rc.close()
    rss = rss_kb(p.pid)
    assert rss is not None and rss < RSS_LIMIT_KB, "pooler RSS %s kB" % rss
    # the other client and new clients are fine
    assert other.execute("SELECT 3").fetchone() == (3,)
    other.close()
    assert_serves(p)


def test_unknown_message_type_after_login(pooler):
    rc = RawClient(pooler.port)
    try:
        rc.login()
        rc.send(b"x" + struct.pack("!I", 8) + b"abcd")
        closed, data = rc.wait_closed(5)
        assert closed
        fields = first_error(data)
        assert fields is not None and fields["S"] == "FATAL", data[:200]
        if IS_PGBOUNCER:
            assert fields["M"] == "unknown pkt"
    finally:
        rc.close()
    assert_serves(pooler)


# ---------------------------------------------------------------------------
# limits and timeouts


def test_max_client_conn(pooler_factory):
    p = pooler_factory(extra={"max_client_conn": 5})
    clients = [p.connect() for _ in range(5)]
    try:
        for c in clients:
            c.execute("SELECT 1")
        status, fields = raw_login(p.port)
        assert status == "error", (status, fields)
        assert "max_client_conn" in fields["M"], fields
        if IS_PGBOUNCER:
            assert fields == {"S": "FATAL", "C": "08P01", "M": "no more connections allowed (max_client_conn)"}
        else:
            assert fields["C"] in ("08P01", "53300"), fields
        with pytest.raises(psycopg.OperationalError) as ei:
            p.connect()
        assert "max_client_conn" in str(ei.value)
    finally:
        for c in clients[1:]:
            c.close()
    # one slot free again: accepted
    assert raw_login(p.port) == ("ok", {})
    clients[0].close()


def test_admin_console_reachable_at_max_client_conn(pooler_factory):
    """PgBouncer lets admin/stats users in when max_client_conn is reached,
    so a saturated pooler can still be inspected and controlled."""
    p = pooler_factory(extra={"max_client_conn": 3})
    clients = [p.connect() for _ in range(3)]
    try:
        assert raw_login(p.port)[0] == "error"
        with p.admin() as adm:
            cols, rows = simple_query(adm, "SHOW CLIENTS")
            assert len([r for r in rows if r[cols.index("database")] == "postgres"]) == 3
    finally:
        for c in clients:
            c.close()


def test_query_wait_timeout(pooler_factory):
    p = pooler_factory(pool_size=1, extra={"query_wait_timeout": 1})
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    try:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            with p.connect() as c:
                c.execute("SELECT 'never'")
        elapsed = time.monotonic() - t0
        assert "query_wait_timeout" in str(ei.value)
        assert 0.9 <= elapsed < 3.5, elapsed
        # the holder is unaffected
        assert holder.execute("SELECT 'holder'").fetchone() == ("holder",)
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert_serves(p)
