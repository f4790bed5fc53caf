"""Console, client errors and cancel requests as PgBouncer 1.25.2 has them
(docs/internals/pgbouncer-compat.md, 9.x "Console, errors and peering
parity"): what its own suite (test_no_database, test_no_user,
test_operations, test_admin, test_cancel, test_load_balance_hosts,
test_peering) checks, seen from outside with our own harness.
"""

import os
import signal
import threading
import time

import psycopg
import pytest

from harness import HOST, PASSWORDS, raw_login, simple_query, wait_until


def log_has(p, text, timeout=5.0):
    return wait_until(lambda: text in p.log_text(), timeout=timeout, what="%r in the pooler log" % text)


def rows(p, what):
    with p.admin() as adm:
        cols, rs = simple_query(adm, "SHOW " + what)
    return [dict(zip(cols, r)) for r in rs]


def run_in_thread(fn, *args):
    box = {}

    def body():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, box


# ---------------------------------------------------------------------------
# errors


def test_server_login_error_reaches_client_with_its_sqlstate(pg, pooler_factory):
    """A server's login ErrorResponse: the waiting client gets the server's
    SQLSTATE and text (PgBouncer's kill_pool_logins), and the log has
    PgBouncer's lines before the client is told."""
    dbs = {"gone": "host=%s port=%d dbname=no_such_pg_db" % (HOST, pg.port)}
    p = pooler_factory(databases=dbs)
    status, fields = raw_login(p.port, "postgres", "gone")
    # no wait: the close is logged before the error is sent
    log = p.log_text()
    assert status == "error", fields
    assert fields["S"] == "FATAL" and fields["C"] == "3D000", fields
    assert fields["M"] == 'database "no_such_pg_db" does not exist', fields
    assert 'server login failed: FATAL database "no_such_pg_db" does not exist' in log
    assert 'closing because: database "no_such_pg_db" does not exist' in log


def test_close_is_logged_before_the_client_hears(pooler_factory):
    p = pooler_factory(auth_type="plain")
    for _ in range(5):
        status, fields = raw_login(p.port, "nosuchuser", "postgres", "whatever")
        assert status == "error"
        text = p.log_text()  # read at once: no wait
        assert ("closing because: " + fields["M"]) in text, text[-500:]


def test_scram_failure_says_sasl(pooler_factory):
    p = pooler_factory(auth_type="scram-sha-256")
    for user in ("nosuchuser", "alice"):
        status, fields = raw_login(p.port, user, "postgres", "wrong")
        assert (status, fields["C"], fields["M"]) == ("error", "28P01", "SASL authentication failed"), fields
    log_has(p, "closing because: SASL authentication failed")


# ---------------------------------------------------------------------------
# PAUSE


def test_pause_with_waiting_clients_completes(pooler_factory):
    """Clients queued during a PAUSE must not make the pooler open servers it
    then closes again for the PAUSE: every PAUSE returns."""
    p = pooler_factory(mode="statement")
    stop = threading.Event()
    errors = []

    def worker():
        try:
            with p.connect(connect_timeout=30) as c:
                while not stop.is_set():
                    c.execute("SELECT pg_sleep(0.05)")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    try:
        with p.admin() as adm:
            for _ in range(3):
                th, box = run_in_thread(simple_query, adm, "PAUSE")
                th.join(10)
                assert not th.is_alive(), "PAUSE did not complete"
                assert "error" not in box, box
                time.sleep(0.5)
                assert p.server_count() == 0
                simple_query(adm, "RESUME")
                time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors


# ---------------------------------------------------------------------------
# SHOW: rows as PgBouncer 1.25.2 lists them


def test_show_rows_as_pgbouncer(pg, pooler_factory):
    port = pg.port
    dbs = {
        "zz": "host=%s port=%d dbname=postgres" % (HOST, port),
        "lb": "host=%s,%s port=%d dbname=postgres" % (HOST, HOST, port),
        "lbd": "host=%s,%s port=%d dbname=postgres load_balance_hosts=disable" % (HOST, HOST, port),
        "aa": "host=%s port=%d dbname=postgres server_lifetime=77" % (HOST, port),
    }
    p = pooler_factory(mode="session", databases=dbs, users={"zed": "pool_size=4"},
                       extra={"server_lifetime": 1800})
    with p.connect(dbname="aa") as c:
        c.execute("SELECT 1")
        with p.connect(dbname="lbd") as c2:
            c2.execute("SELECT 1")
            d = rows(p, "DATABASES")
            assert [r["name"] for r in d] == ["aa", "lb", "lbd", "pgbouncer", "zz"]
            by = {r["name"]: r for r in d}
            assert (by["aa"]["server_lifetime"], by["pgbouncer"]["server_lifetime"]) == ("77", "1800")
            assert [by[n]["load_balance_hosts"] for n in ("aa", "lb", "lbd")] == [None, "round-robin", "disable"]

            pools = rows(p, "POOLS")
            assert [(r["database"], r["user"]) for r in pools] == \
                [("aa", "postgres"), ("lbd", "postgres"), ("pgbouncer", "pgbouncer")]
            assert pools[1]["load_balance_hosts"] == "disable"
            assert int(pools[2]["cl_active"]) >= 1 and pools[2]["pool_mode"] == "statement"

            users = {r["name"]: r for r in rows(p, "USERS")}
            # auth_file's users, [users] entries and the console's user
            assert {"alice", "md5user", "scramuser", "pgbouncer", "zed", "postgres"} <= set(users)
            assert users["zed"]["pool_size"] == "        4" and users["alice"]["pool_size"] == ""
            assert list(users) == sorted(users)

            lists = {r["list"]: int(r["items"]) for r in rows(p, "LISTS")}
            assert lists["users"] == len(users) and lists["databases"] == 5
            assert lists["pools"] == len(pools)

    stats = rows(p, "STATS")
    # only databases that have pools, and the console's
    assert [r["database"] for r in stats] == ["aa", "lbd", "pgbouncer"]
    aa = stats[0]
    assert int(aa["total_xact_count"]) == 1 and int(aa["total_xact_time"]) > 0
    assert int(stats[2]["total_query_count"]) >= 1


def test_console_connections_count_in_stats(pooler_factory):
    """Each console connection counts one transaction and one query, at its
    first query (PgBouncer 1.25.2 measured), in SHOW STATS and SHOW TOTALS."""
    p = pooler_factory()

    def console_stats():
        with p.admin() as adm:
            first = dict_of(adm, "SHOW STATS_TOTALS")["pgbouncer"]
            again = dict_of(adm, "SHOW STATS_TOTALS")["pgbouncer"]
            assert first == again  # the same connection counts once
            return int(first["xact_count"]), int(first["query_count"])

    x1, q1 = console_stats()
    x2, q2 = console_stats()
    assert (x2 - x1, q2 - q1) == (1, 1)
    with p.admin() as adm:
        totals = dict(simple_query(adm, "SHOW TOTALS")[1])
    assert int(totals["total_xact_count"]) == x2 + 1


def dict_of(conn, sql):
    cols, rs = simple_query(conn, sql)
    return {r[0]: dict(zip(cols, r)) for r in rs}


# ---------------------------------------------------------------------------
# host lists


def test_unresolvable_first_host_is_skipped(pg, pooler_factory):
    """host=unresolvable,127.0.0.1 with load_balance_hosts=disable: the
    lookup failure is a connect failure (clients wait, the next try after
    server_login_retry takes the next host), not an error for the clients."""
    dbs = {"hl": "host=unresolvable-hostname.invalid,%s port=%d dbname=postgres "
                 "load_balance_hosts=disable" % (HOST, pg.port)}
    p = pooler_factory(mode="session", databases=dbs, extra={"server_login_retry": 1})
    results = []

    def client():
        with p.connect(dbname="hl", connect_timeout=15) as c:
            # long enough that the two sessions overlap on a loaded box
            results.append(c.execute("SELECT 1 FROM pg_sleep(0.5)").fetchone()[0])

    ts = [threading.Thread(target=client) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    assert results == [1, 1]
    log = p.log_text()
    assert log.count("closing because: server DNS lookup failed") == 1, log
    assert log.count("@127.0.0.1:%d new connection to server" % pg.port) == 2, log


# ---------------------------------------------------------------------------
# cancel requests


def _cancel_in(conn, delay):
    def later():
        time.sleep(delay)
        conn.cancel()
    t = threading.Thread(target=later, daemon=True)
    t.start()
    return t


def test_cancel_beyond_pool_size(pooler_factory):
    """Every server busy (pool_size=1): the cancel takes a connection past
    the pool's size and the libpq cancel returns once it was delivered."""
    p = pooler_factory(pool_size=1)
    with p.connect() as c:
        t = _cancel_in(c, 0.5)
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("SELECT pg_sleep(10)")
        t.join(5)
        assert c.execute("SELECT 1").fetchone() == (1,)
    log_has(p, "closing because: successfully sent cancel request")


def test_late_cancels_do_not_hit_the_next_client(pooler_factory):
    """PgBouncer PR #717: one server, client 2 queued behind client 1, a
    burst of cancels for client 1: only client 1's query is cancelled; the
    server is handed to client 2 after the cancels are done."""
    p = pooler_factory(pool_size=1, mode="transaction")
    c1, c2 = p.connect(), p.connect()
    try:
        t2, box2 = None, {}
        t1, box1 = run_in_thread(c1.execute, "SELECT pg_sleep(5)")
        time.sleep(0.5)
        t2, box2 = run_in_thread(c2.execute, "SELECT pg_sleep(1)")
        time.sleep(0.5)
        cancels = [threading.Thread(target=c1.cancel) for _ in range(40)]
        for t in cancels:
            t.start()
        for t in cancels:
            t.join(10)
        t1.join(10)
        t2.join(10)
        assert isinstance(box1.get("error"), psycopg.errors.QueryCanceled), box1
        assert "error" not in box2, box2
    finally:
        c1.close()
        c2.close()
    log = p.log_text()
    assert "closing because: cancel request for idle client" in log or \
        "not sending cancel request for client that is now idle" in log


def test_cancel_of_idle_client_is_dropped(pooler_factory):
    p = pooler_factory()
    with p.connect() as c:
        c.execute("SELECT 1")
        c.cancel()
        assert c.execute("SELECT 2").fetchone() == (2,)
    log_has(p, "closing because: cancel request for idle client")
