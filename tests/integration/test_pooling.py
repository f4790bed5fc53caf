"""Pooling behaviour: session/transaction mode, concurrency limits, state
reset and parameter tracking between clients sharing one server."""

import threading
import time

import psycopg
import pytest

from harness import dict_rows, simple_query, wait_until


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_transaction_mode_basic(pooler):
    with pooler.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        assert c.execute("SELECT %s::int + 1", (41,)).fetchone() == (42,)
        assert c.execute("SELECT current_database(), current_user").fetchone() == ("postgres", "postgres")
        with c.transaction():
            c.execute("SELECT 2")
        # an error returns the client to a usable state
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1/0")
        assert c.execute("SELECT 'ok'").fetchone() == ("ok",)


def test_session_mode_basic(session_pooler):
    with session_pooler.connect() as c:
        pid = backend_pid(c)
        assert c.execute("SELECT %s || '-' || %s", ("a", "b")).fetchone() == ("a-b",)
        c.execute("SET work_mem = '7MB'")
        # session mode: the same server for the whole client session
        for _ in range(5):
            assert backend_pid(c) == pid
        assert c.execute("SHOW work_mem").fetchone() == ("7MB",)


def test_transaction_mode_shares_one_server(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect() as a, p.connect() as b:
        pa, pb = backend_pid(a), backend_pid(b)
        assert pa == pb, "pool_size=1 in transaction mode: both clients use the one server"
        for _ in range(3):
            assert backend_pid(a) == pa and backend_pid(b) == pa
    assert p.server_count("postgres") <= 1


def test_200_concurrent_clients_pool_size_5(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=5, extra={"max_client_conn": 400})
    nclients, nqueries = 200, 4
    barrier = threading.Barrier(nclients, timeout=60)
    errors, pids, lock = [], set(), threading.Lock()
    stop = threading.Event()
    max_seen = {"pools": 0, "servers": 0, "cl_waiting": 0}

    def monitor():
        with p.admin() as adm:
            while not stop.is_set():
                pools = dict_rows(*simple_query(adm, "SHOW POOLS"))
                servers = dict_rows(*simple_query(adm, "SHOW SERVERS"))
                n = sum(
                    int(r[k])
                    for r in pools
                    if r["database"] == "postgres"
                    for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
                )
                w = sum(int(r["cl_waiting"]) for r in pools if r["database"] == "postgres")
                ns = sum(1 for r in servers if r["database"] == "postgres")
                max_seen["pools"] = max(max_seen["pools"], n)
                max_seen["servers"] = max(max_seen["servers"], ns)
                max_seen["cl_waiting"] = max(max_seen["cl_waiting"], w)
                time.sleep(0.02)

    def client(i):
        try:
            with p.connect(connect_timeout=30) as c:
                barrier.wait()
                for q in range(nqueries):
                    v = i * 1000 + q
                    row = c.execute("SELECT %s::int * 2, pg_backend_pid() FROM pg_sleep(0.002)", (v,)).fetchone()
                    if row[0] != v * 2:
                        raise AssertionError("client %d got %r for %d" % (i, row[0], v))
                    with lock:
                        pids.add(row[1])
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append((i, repr(e)))
            barrier.abort()

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    stop.set()
    mon.join(10)
    assert not any(t.is_alive() for t in threads), "client threads hung"
    assert not errors, errors[:5]
    assert 1 <= len(pids) <= 5, "server backends used: %d" % len(pids)
    assert max_seen["pools"] <= 5, max_seen
    assert max_seen["servers"] <= 5, max_seen


def test_session_state_reset_between_clients(pg, pooler_factory):
    p = pooler_factory(mode="session", pool_size=1)
    with pg.connect() as direct:
        default_work_mem = direct.execute("SHOW work_mem").fetchone()[0]
    assert default_work_mem != "77MB"

    with p.connect() as a:
        pid_a = backend_pid(a)
        a.execute("SET work_mem = '77MB'")
        a.execute("CREATE TEMP TABLE reset_probe (x int)")
        a.execute("PREPARE reset_stmt AS SELECT 1")
        a.execute("LISTEN reset_channel")
        assert a.execute("SHOW work_mem").fetchone() == ("77MB",)

    with p.connect() as b:
        assert backend_pid(b) == pid_a, "pool_size=1: B must reuse A's server"
        assert b.execute("SHOW work_mem").fetchone() == (default_work_mem,)
        assert b.execute("SELECT to_regclass('pg_temp.reset_probe') IS NULL").fetchone() == (True,)
        assert b.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert b.execute("SELECT count(*) FROM pg_listening_channels()").fetchone() == (0,)


def test_parameter_resync_timezone_datestyle(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect() as a, p.connect() as b:
        a.execute("SET TimeZone = 'Asia/Tokyo'")
        a.execute("SET DateStyle = 'SQL, DMY'")
        b.execute("SET TimeZone = 'America/New_York'")
        b.execute("SET DateStyle = 'ISO, MDY'")
        pid = backend_pid(a)
        for _ in range(10):
            assert a.execute("SHOW TimeZone").fetchone() == ("Asia/Tokyo",)
            assert b.execute("SHOW TimeZone").fetchone() == ("America/New_York",)
            assert a.execute("SHOW DateStyle").fetchone() == ("SQL, DMY",)
            assert b.execute("SHOW DateStyle").fetchone() == ("ISO, MDY",)
            assert backend_pid(b) == pid
        # and a query that depends on it
        assert a.execute("SELECT to_char(timestamptz '2024-01-01 00:00:00+00', 'HH24')").fetchone() == ("09",)
        assert b.execute("SELECT to_char(timestamptz '2024-01-01 00:00:00+00', 'HH24')").fetchone() == ("19",)


def test_application_name_per_client(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect(application_name="app_alpha") as a, p.connect(application_name="app_beta") as b:
        for _ in range(5):
            assert a.execute("SHOW application_name").fetchone() == ("app_alpha",)
            assert b.execute("SHOW application_name").fetchone() == ("app_beta",)
        assert backend_pid(a) == backend_pid(b)
        names = {r["application_name"] for r in p.show("CLIENTS") if r["database"] == "postgres"}
        assert {"app_alpha", "app_beta"} <= names


def test_client_encoding_per_client(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect(client_encoding="LATIN1") as a, p.connect(client_encoding="UTF8") as b:
        for _ in range(5):
            assert a.execute("SHOW client_encoding").fetchone() == ("LATIN1",)
            assert b.execute("SHOW client_encoding").fetchone() == ("UTF8",)
        # the text really is converted with each client's encoding
        assert a.execute("SELECT 'é' = U&'\\00E9', length('é')").fetchone() == (True, 1)
        assert b.execute("SELECT 'é' = U&'\\00E9', length('é')").fetchone() == (True, 1)
        assert backend_pid(a) == backend_pid(b)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_server_left_in_transaction_not_reused(pooler_factory, mode):
    p = pooler_factory(mode=mode, pool_size=1)
    a = p.connect(autocommit=False)
    a.execute("SELECT pg_current_xact_id()")  # a real transaction with an xid
    a.execute("CREATE TABLE IF NOT EXISTS left_open_%s (x int)" % mode)
    # the client goes away in the middle of its transaction
    a.close()
    with p.connect() as b:
        row = b.execute("SELECT pg_current_xact_id_if_assigned() IS NULL, now() = statement_timestamp()").fetchone()
        assert row == (True, True), "new client inherited an open transaction"
        # the abandoned transaction was rolled back, not committed
        assert b.execute("SELECT to_regclass('left_open_%s') IS NULL" % mode).fetchone() == (True,)


def test_broken_idle_server_not_reused(pg, pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect() as c:
        pid = backend_pid(c)
        with pg.connect() as direct:
            assert direct.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)

        def gone():
            return all(r.get("remote_pid") != str(pid) for r in p.show("SERVERS"))

        wait_until(gone, timeout=10, what="pooler to drop the terminated server")
        new_pid = backend_pid(c)
        assert new_pid != pid
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_waiting_clients_are_served_in_turn(pooler_factory):
    """pool_size=1: a client waits while another holds the server in a
    transaction, then proceeds as soon as it commits."""
    p = pooler_factory(mode="transaction", pool_size=1)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    result = {}

    def waiter():
        try:
            with p.connect() as c:
                result["row"] = c.execute("SELECT 'served'").fetchone()
                result["at"] = time.monotonic()
        except Exception as e:  # noqa: BLE001
            result["err"] = e

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    wait_until(lambda: any(int(r["cl_waiting"]) > 0 for r in p.show("POOLS") if r["database"] == "postgres"),
               timeout=10, what="a waiting client")
    assert "row" not in result
    committed_at = time.monotonic()
    holder.execute("COMMIT")
    t.join(10)
    holder.close()
    assert not t.is_alive()
    assert "err" not in result, result.get("err")
    assert result["row"] == ("served",)
    assert result["at"] >= committed_at
