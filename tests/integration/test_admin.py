"""Admin console (database "pgbouncer"): SHOW output shapes and the control
commands PAUSE/RESUME/KILL/RECONNECT/WAIT_CLOSE/DISABLE/ENABLE/SET/RELOAD/
SUSPEND/SHUTDOWN.

Column lists are the ones PgBouncer 1.18 returns.  pgswitch targets PgBouncer
1.25, which added columns (and renamed SHOW DATABASES' reserve_pool to
reserve_pool_size): for pgswitch every 1.18 column must appear, in the same
relative order (a subsequence); for PgBouncer 1.18 the lists must match
exactly.
"""

import threading
import time

import psycopg
import pytest

from harness import IS_PGBOUNCER, PASSWORDS, dict_rows, raw_login, simple_query, wait_until

COLUMNS_1_18 = {
    "POOLS": ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
              "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested",
              "sv_login", "maxwait", "maxwait_us", "pool_mode"],
    "CLIENTS": ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
                "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
                "remote_pid", "tls", "application_name"],
    "SERVERS": ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
                "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
                "remote_pid", "tls", "application_name"],
    "DATABASES": ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                  "reserve_pool", "pool_mode", "max_connections", "current_connections", "paused", "disabled"],
    "STATS": ["database", "total_xact_count", "total_query_count", "total_received", "total_sent",
              "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count",
              "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time"],
    "STATS_TOTALS": ["database", "xact_count", "query_count", "bytes_received", "bytes_sent", "xact_time",
                     "query_time", "wait_time"],
    "STATS_AVERAGES": ["database", "xact_count", "query_count", "bytes_received", "bytes_sent", "xact_time",
                       "query_time", "wait_time"],
    "USERS": ["name", "pool_mode"],
    "LISTS": ["list", "items"],
    "VERSION": ["version"],
    "MEM": ["name", "size", "used", "free", "memtotal"],
    "CONFIG": ["key", "value", "default", "changeable"],
}

# 1.18 name -> names accepted from a newer PgBouncer (pgswitch targets 1.25)
RENAMED_LATER = {"reserve_pool": ("reserve_pool", "reserve_pool_size")}


def is_ordered_subsequence(expected, actual):
    it = iter(actual)
    for col in expected:
        names = RENAMED_LATER.get(col, (col,))
        for a in it:
            if a in names:
                break
        else:
            return False
    return True


def q(conn, sql):
    return dict_rows(*simple_query(conn, sql))


def run_in_thread(fn):
    """Run FN in a daemon thread; returns (thread, result dict with 'value'/'err'/'at')."""
    res = {}

    def body():
        try:
            res["value"] = fn()
        except Exception as e:  # noqa: BLE001
            res["err"] = e
        res["at"] = time.monotonic()

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, res


@pytest.mark.parametrize("what", sorted(COLUMNS_1_18))
def test_show_columns(pooler, what):
    with pooler.connect() as c:  # make sure there is a pool, a client and a server
        c.execute("SELECT 1")
        with pooler.admin() as adm:
            cols, rows = simple_query(adm, "SHOW " + what)
    expected = COLUMNS_1_18[what]
    if IS_PGBOUNCER:
        assert cols == expected
    else:
        assert is_ordered_subsequence(expected, cols), "SHOW %s columns %r lack/misorder 1.18's %r" % (
            what, cols, expected)
    if what not in ("SERVERS", "MEM"):  # SHOW MEM's rows are allocator internals
        assert rows, "SHOW %s returned no rows" % what


def test_show_contents(pooler):
    with pooler.connect(application_name="show_me") as c:
        c.execute("SELECT 1")
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        with pooler.admin() as adm:
            version = q(adm, "SHOW VERSION")
            assert len(version) == 1 and version[0]["version"]
            if IS_PGBOUNCER:
                assert version[0]["version"].startswith("PgBouncer 1.18")

            dbs = {r["name"]: r for r in q(adm, "SHOW DATABASES")}
            assert "pgbouncer" in dbs and "postgres" in dbs
            assert dbs["postgres"]["host"] == "127.0.0.1"
            assert dbs["postgres"]["port"] == str(pooler.pg.port)
            assert dbs["postgres"]["database"] == "postgres"
            assert dbs["postgres"]["pool_size"] == "5"

            pools = [r for r in q(adm, "SHOW POOLS") if r["database"] == "postgres"]
            assert len(pools) == 1 and pools[0]["user"] == "postgres"
            assert pools[0]["pool_mode"] == "transaction"
            assert int(pools[0]["cl_active"]) == 1

            clients = [r for r in q(adm, "SHOW CLIENTS") if r["database"] == "postgres"]
            assert len(clients) == 1
            assert clients[0]["type"] == "C" and clients[0]["user"] == "postgres"
            assert clients[0]["addr"] == "127.0.0.1"
            assert clients[0]["application_name"] == "show_me"

            servers = [r for r in q(adm, "SHOW SERVERS") if r["database"] == "postgres"]
            assert len(servers) == 1
            assert servers[0]["type"] == "S"
            assert servers[0]["port"] == str(pooler.pg.port)
            assert servers[0]["remote_pid"] == str(pid)

            cfg = {r["key"]: r for r in q(adm, "SHOW CONFIG")}
            assert cfg["listen_port"]["value"] == str(pooler.port)
            assert cfg["pool_mode"]["value"] == "transaction"
            assert cfg["default_pool_size"]["value"] == "5"
            assert cfg["default_pool_size"]["changeable"] == "yes"
            assert cfg["listen_port"]["changeable"] == "no"
            assert cfg["max_client_conn"]["default"] == "100"

            lists = {r["list"]: int(r["items"]) for r in q(adm, "SHOW LISTS")}
            assert lists["databases"] >= 1 and lists["pools"] >= 1
            assert q(adm, "SHOW USERS")
            assert q(adm, "SHOW MEM") is not None


def test_show_stats_count_queries(pooler_factory):
    p = pooler_factory(extra={"stats_period": 1})

    def totals():
        rows = {r["database"]: r for r in p.show("STATS")}
        return int(rows["postgres"]["total_query_count"]) if "postgres" in rows else 0

    before = totals()
    with p.connect() as c:
        for _ in range(10):
            c.execute("SELECT 1")
        with c.transaction():
            c.execute("SELECT 2")
    wait_until(lambda: totals() >= before + 11, timeout=10, what="query count in SHOW STATS")
    tot = {r["database"]: r for r in p.show("STATS_TOTALS")}
    assert int(tot["postgres"]["xact_count"]) >= 11
    assert int(tot["postgres"]["bytes_received"]) > 0 and int(tot["postgres"]["bytes_sent"]) > 0


def test_stats_user_can_show_but_not_control(pooler):
    with pooler.admin(user="alice", password=PASSWORDS["alice"]) as adm:
        assert q(adm, "SHOW POOLS") is not None
        for cmd in ("PAUSE", "RELOAD", "SET default_pool_size = 3", "SHUTDOWN"):
            with pytest.raises(psycopg.Error) as ei:
                simple_query(adm, cmd)
            assert "admin access needed" in str(ei.value)
    assert pooler.alive()


def test_invalid_admin_command(pooler):
    with pooler.admin() as adm:
        with pytest.raises(psycopg.Error) as ei:
            simple_query(adm, "SHOW NO_SUCH_THING")
        assert "invalid command" in str(ei.value) or "SHOW HELP" in str(ei.value)
        with pytest.raises(psycopg.Error):
            simple_query(adm, "PAUSE no_such_db")
        # still usable
        assert q(adm, "SHOW VERSION")


def test_pause_idle_client_returns_and_resume(pooler):
    with pooler.connect() as c, pooler.admin() as adm:
        c.execute("SELECT 1")  # idle in transaction mode: holds no server
        t0 = time.monotonic()
        simple_query(adm, "PAUSE")
        assert time.monotonic() - t0 < 5
        # PAUSE waits until servers are released and closes them
        assert pooler.server_count("postgres") == 0
        simple_query(adm, "RESUME")
        assert c.execute("SELECT 'resumed'").fetchone() == ("resumed",)


def test_pause_db_sets_paused_flag(pooler):
    with pooler.admin() as adm:
        simple_query(adm, "PAUSE postgres")
        dbs = {r["name"]: r for r in q(adm, "SHOW DATABASES")}
        assert dbs["postgres"]["paused"] == "1"
        simple_query(adm, "RESUME postgres")
        dbs = {r["name"]: r for r in q(adm, "SHOW DATABASES")}
        assert dbs["postgres"]["paused"] == "0"
    with pooler.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_pause_waits_for_open_transaction(pooler):
    c = pooler.connect()
    adm = pooler.admin()
    try:
        c.execute("BEGIN")
        c.execute("SELECT 1")
        t, res = run_in_thread(lambda: simple_query(adm, "PAUSE"))
        time.sleep(1.0)
        assert t.is_alive(), "PAUSE returned while a transaction was open: %r" % (res,)
        committed_at = time.monotonic()
        c.execute("COMMIT")
        t.join(10)
        assert not t.is_alive(), "PAUSE did not return after COMMIT"
        assert "err" not in res, res
        assert res["at"] >= committed_at
        with pooler.admin() as adm2:
            simple_query(adm2, "RESUME")
        assert c.execute("SELECT 2").fetchone() == (2,)
    finally:
        c.close()
        adm.close()


def test_queries_during_pause_wait_until_resume(pooler):
    existing = pooler.connect()
    existing.execute("SELECT 1")
    with pooler.admin() as adm:
        simple_query(adm, "PAUSE")
        t_old, res_old = run_in_thread(lambda: existing.execute("SELECT 'old client'").fetchone())

        def new_client():
            with pooler.connect(connect_timeout=20) as c:
                return c.execute("SELECT 'new client'").fetchone()

        t_new, res_new = run_in_thread(new_client)
        time.sleep(1.0)
        assert t_old.is_alive() and t_new.is_alive(), (res_old, res_new)
        resumed_at = time.monotonic()
        simple_query(adm, "RESUME")
        t_old.join(10)
        t_new.join(10)
    existing.close()
    assert res_old.get("value") == ("old client",), res_old
    assert res_new.get("value") == ("new client",), res_new
    assert res_old["at"] >= resumed_at and res_new["at"] >= resumed_at


def test_kill_db_disconnects_clients(pooler):
    c = pooler.connect()
    c.execute("SELECT 1")
    with pooler.admin() as adm:
        simple_query(adm, "KILL postgres")
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")
        c.close()
        wait_until(lambda: pooler.server_count("postgres") == 0, timeout=5, what="servers closed by KILL")
        # a killed database stays paused until RESUME
        simple_query(adm, "RESUME postgres")
    with pooler.connect() as c2:
        assert c2.execute("SELECT 'after kill'").fetchone() == ("after kill",)


def test_reconnect_closes_servers(pooler_factory):
    p = pooler_factory(pool_size=1)
    with p.connect() as c:
        pid1 = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid1
        with p.admin() as adm:
            simple_query(adm, "RECONNECT postgres")
        pid2 = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pid2 != pid1
        with p.admin() as adm:
            simple_query(adm, "RECONNECT")
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] not in (pid1, pid2)


def test_wait_close_returns_after_servers_closed(pooler_factory):
    p = pooler_factory(pool_size=1)
    c = p.connect()
    adm = p.admin()
    try:
        c.execute("BEGIN")
        old_pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        simple_query(adm, "RECONNECT postgres")
        t, res = run_in_thread(lambda: simple_query(adm, "WAIT_CLOSE postgres"))
        time.sleep(1.0)
        assert t.is_alive(), "WAIT_CLOSE returned while the server was still in use: %r" % (res,)
        # the open transaction still runs on the old server
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == old_pid
        c.execute("COMMIT")
        t.join(10)
        assert not t.is_alive(), "WAIT_CLOSE did not return"
        assert "err" not in res, res
        assert all(r["remote_pid"] != str(old_pid) for r in p.show("SERVERS"))
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != old_pid
    finally:
        c.close()
        adm.close()


def test_disable_enable_db(pooler):
    with pooler.connect() as existing, pooler.admin() as adm:
        simple_query(adm, "DISABLE postgres")
        status, fields = raw_login(pooler.port)
        assert status == "error" and fields["S"] == "FATAL", (status, fields)
        if IS_PGBOUNCER:
            assert fields == {"S": "FATAL", "C": "08P01", "M": 'database "postgres" is disabled'}
        else:
            # 1.18: 'database "postgres" is disabled'; other PgBouncer
            # versions: "database does not allow connections: postgres"
            assert "postgres" in fields["M"], fields
            assert "disabled" in fields["M"] or "does not allow connections" in fields["M"], fields
        with pytest.raises(psycopg.OperationalError):
            pooler.connect()
        # existing clients are not affected
        assert existing.execute("SELECT 1").fetchone() == (1,)
        assert {r["name"]: r for r in q(adm, "SHOW DATABASES")}["postgres"]["disabled"] == "1"
        simple_query(adm, "ENABLE postgres")
        assert raw_login(pooler.port) == ("ok", {})
    with pooler.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_set_default_pool_size(pooler):
    with pooler.admin() as adm:
        simple_query(adm, "SET default_pool_size = 3")
        cfg = {r["key"]: r["value"] for r in q(adm, "SHOW CONFIG")}
        assert cfg["default_pool_size"] == "3"
        simple_query(adm, "SET server_reset_query = 'DISCARD ALL'")
        with pytest.raises(psycopg.Error):
            simple_query(adm, "SET no_such_setting = 1")
        with pytest.raises(psycopg.Error):
            simple_query(adm, "SET default_pool_size = notanumber")
        cfg = {r["key"]: r["value"] for r in q(adm, "SHOW CONFIG")}
        assert cfg["default_pool_size"] == "3"


def test_set_pool_size_takes_effect(pooler_factory):
    p = pooler_factory(pool_size=1)
    with p.admin() as adm:
        simple_query(adm, "SET default_pool_size = 3")
    cs = [p.connect() for _ in range(3)]
    try:
        for c in cs:
            c.execute("BEGIN")
            c.execute("SELECT 1")
        # three transactions open at once: three servers
        assert p.server_count("postgres") == 3
    finally:
        for c in cs:
            c.close()


def test_reload_applies_changed_settings(pooler):
    pooler.pool_size = 7
    pooler.extra["max_client_conn"] = 321
    pooler.reload()
    cfg = {r["key"]: r["value"] for r in pooler.show("CONFIG")}
    assert cfg["default_pool_size"] == "7"
    assert cfg["max_client_conn"] == "321"
    assert {r["name"]: r for r in pooler.show("DATABASES")}["postgres"]["pool_size"] == "7"
    with pooler.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_reload_via_sighup(pooler):
    pooler.pool_size = 4
    pooler.reload(via="sighup")
    wait_until(lambda: {r["key"]: r["value"] for r in pooler.show("CONFIG")}["default_pool_size"] == "4",
               timeout=10, what="SIGHUP reload")


def test_suspend_resume(pooler):
    with pooler.connect() as c, pooler.admin() as adm:
        c.execute("SELECT 1")
        simple_query(adm, "SUSPEND")
        simple_query(adm, "RESUME")
        assert c.execute("SELECT 'after suspend'").fetchone() == ("after suspend",)
    assert raw_login(pooler.port) == ("ok", {})


def test_shutdown(pooler):
    adm = pooler.admin()
    try:
        simple_query(adm, "SHUTDOWN")
    except psycopg.OperationalError:
        pass  # the console connection may be closed before a reply
    finally:
        adm.close()
    pooler.proc.wait(10)
    assert pooler.proc.returncode == 0
