"""PgBouncer 1.25 behaviours measured with its test_misc.py, as pgswitch's
own tests (docs/internals/pgbouncer-compat.md, "test_misc parity"):
query_wait_notify, server_check_query and server_check_delay,
server_fast_close, the auto-database log line, host lists with IPv6 in the
log, a startup packet larger than pkt_buf, the re-sync log lines at
verbose=2 and canonical parameter values, and the two graceful shutdowns
(SHUTDOWN WAIT_FOR_SERVERS / WAIT_FOR_CLIENTS, SIGINT, SIGTERM)."""

import os
import re
import signal
import socket
import threading
import time

import psycopg
import pytest

from harness import HOST, simple_query, wait_until


def log_count(p, pattern):
    return len(re.findall(pattern, p.log_text(), flags=re.MULTILINE))


def unix_connect(sockdir, p, dbname="postgres", user="postgres"):
    c = psycopg.connect(host=sockdir, port=p.port, dbname=dbname, user=user,
                        autocommit=True, connect_timeout=5)
    c.prepare_threshold = None
    return c


def wait_exit(p, timeout=10):
    p.proc.wait(timeout)
    return p.proc.returncode


# ---------------------------------------------------------------------------
# query_wait_notify


def test_queued_client_is_told_once_per_wait(pooler_factory):
    p = pooler_factory(mode="statement", pool_size=1, extra={"query_wait_notify": "1"})
    notices = []
    with p.connect() as busy, p.connect() as c:
        c.add_notice_handler(lambda d: notices.append((d.severity, d.sqlstate, d.message_primary)))
        for round_ in (1, 2):
            t = threading.Thread(target=busy.execute, args=("SELECT pg_sleep(3.5)",))
            t.start()
            try:
                time.sleep(0.4)  # busy holds the only server
                assert c.execute("SELECT 1").fetchone() == (1,)
            finally:
                t.join(10)
            assert notices == [("NOTICE", "00000", "No server connection available in postgres "
                                "backend, client being queued")] * round_
        # served at once: no notice
        c.execute("SELECT 1")
        assert len(notices) == 2


def test_short_wait_is_not_notified(pooler_factory):
    p = pooler_factory(mode="statement", pool_size=1, extra={"query_wait_notify": "5"})
    notices = []
    with p.connect() as busy, p.connect() as c:
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        t = threading.Thread(target=busy.execute, args=("SELECT pg_sleep(1.5)",))
        t.start()
        time.sleep(0.3)
        c.execute("SELECT 1")
        t.join(10)
    assert notices == []


# ---------------------------------------------------------------------------
# server_check_query / server_check_delay


@pytest.fixture
def check_seq(pg):
    """A sequence the check query advances: how many checks reached the server."""
    name = "pgswitch_check_%d" % os.getpid()
    pg.execute("DROP SEQUENCE IF EXISTS %s; CREATE SEQUENCE %s" % (name, name))
    yield name, lambda: pg.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s" % name)[0][0]
    pg.execute("DROP SEQUENCE IF EXISTS %s" % name)


def test_check_delay_zero_checks_every_reuse(pooler_factory, check_seq):
    seq, checks = check_seq
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"server_check_query": "SELECT nextval('%s')" % seq,
                              "server_check_delay": "0"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]  # a fresh server: no check
        assert checks() == 0
        for n in (1, 2, 3):
            assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
            assert checks() == n


def test_idle_past_check_delay_is_checked_once(pooler_factory, check_seq):
    seq, checks = check_seq
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"server_check_query": "SELECT nextval('%s')" % seq,
                              "server_check_delay": "1"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert checks() == 0  # reused within the delay: no check
        # idle past the delay: "used", checked only when a client needs it
        wait_until(lambda: any(r["sv_used"] == "1" for r in p.show("POOLS")), timeout=5,
                   what="server moved to sv_used")
        assert checks() == 0
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert checks() == 1
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert checks() == 1


def test_default_check_is_an_empty_query(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1, extra={"server_check_delay": "0"})
    assert {r["key"]: r["value"] for r in p.show("CONFIG")}["server_check_query"] == "<empty>"
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        # the empty query runs, and the server is reused
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_empty_check_query_disables_the_check(pooler_factory, check_seq):
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"server_check_query": "", "server_check_delay": "0"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert all(r["sv_used"] == "0" for r in p.show("POOLS"))
    assert "server check" not in p.log_text()


def test_check_query_error_still_proves_the_server_alive(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"server_check_query": "SELECT no_such_column", "server_check_delay": "0"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        # the server answered: it is kept (PgBouncer's rule), and the
        # client never sees the check's error
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_dead_server_fails_its_check_not_the_client(pg, pooler_factory, check_seq):
    seq, checks = check_seq
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"server_check_query": "SELECT nextval('%s')" % seq,
                              "server_check_delay": "0"})
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg.execute("SELECT pg_terminate_backend(%d)" % pid)
        # no error: the dead server is replaced before the query runs
        new = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert new != pid
    assert checks() == 0


# ---------------------------------------------------------------------------
# server_fast_close


@pytest.mark.parametrize("fast", [0, 1])
def test_fast_close_ends_a_session_after_reconnect(pooler_factory, fast):
    p = pooler_factory(mode="session", extra={"server_fast_close": str(fast)})
    with p.connect() as c, p.admin() as adm:
        c.execute("SELECT 1")
        simple_query(adm, "RECONNECT postgres")
        if not fast:
            time.sleep(0.5)
            assert c.execute("SELECT 1").fetchone() == (1,)  # the session keeps its server
            return
        wait_until(lambda: "closing because: database configuration changed" in p.log_text(),
                   timeout=5, what="fast close")
        with pytest.raises(psycopg.OperationalError,
                           match="database configuration changed|server closed the connection"):
            c.execute("SELECT 1")
    assert "not yet supported" not in p.log_text()


def test_fast_close_waits_for_the_transaction(pooler_factory):
    p = pooler_factory(mode="session", extra={"server_fast_close": "1"})
    with p.connect() as c, p.admin() as adm:
        c.execute("BEGIN")
        c.execute("SELECT 1")
        simple_query(adm, "RECONNECT postgres")
        time.sleep(0.5)
        assert c.execute("SELECT 2").fetchone() == (2,)  # inside the transaction: kept
        c.execute("COMMIT")
        wait_until(lambda: "closing because: database configuration changed" in p.log_text(),
                   timeout=5, what="fast close after COMMIT")


# ---------------------------------------------------------------------------
# databases: "*" and host lists


def test_auto_database_is_logged(pg, pooler_factory):
    p = pooler_factory(databases={"*": "host=%s port=%d" % (HOST, pg.port)})
    with p.connect(dbname="postgres") as c:
        assert c.execute("SELECT current_database()").fetchone() == ("postgres",)
    assert log_count(p, r"LOG .*registered new auto-database: postgres$") == 1
    with p.connect(dbname="postgres"):
        pass
    assert log_count(p, r"registered new auto-database") == 1


def _have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _have_ipv6_loopback(), reason="no ::1 on this machine")
def test_host_list_round_robin_logs_ipv6_in_brackets(pg_factory, pooler_factory):
    pg6 = pg_factory("v6", roles=False)
    with open(os.path.join(pg6.datadir, "postgresql.conf"), "a") as f:
        f.write("listen_addresses = '127.0.0.1,::1'\n")
    with open(os.path.join(pg6.datadir, "pg_hba.conf"), "a") as f:
        f.write("host all all ::1/128 trust\n")
    pg6.restart()
    p = pooler_factory(pg_server=pg6, mode="session",
                       databases={"hl": "host=127.0.0.1,::1 port=%d dbname=postgres" % pg6.port})
    with p.connect(dbname="hl") as a, p.connect(dbname="hl") as b:
        addrs = {a.execute("SELECT inet_client_addr()::text").fetchone()[0],
                 b.execute("SELECT inet_client_addr()::text").fetchone()[0]}
    assert addrs == {"127.0.0.1/32", "::1/128"}
    assert log_count(p, r"hl/postgres@127\.0\.0\.1:%d new connection to server \(from 127\.0\.0\.1:\d+\)"
                     % pg6.port) == 1
    assert log_count(p, r"hl/postgres@\[::1\]:%d new connection to server \(from \[::1\]:\d+\)"
                     % pg6.port) == 1


# ---------------------------------------------------------------------------
# startup packet, re-sync log lines


def test_startup_packet_larger_than_pkt_buf(pooler_factory):
    p = pooler_factory(extra={"pkt_buf": "4096"})
    # extra_float_digits is in ignore_startup_parameters: a long value is
    # dropped, the login works
    for n in (8000, 12000, 65000):  # PgBouncer takes up to 65535 bytes
        with p.connect(options="-c extra_float_digits=" + "1" * n) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        p.connect(options="-c extra_float_digits=" + "1" * 66000)
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_resync_logs_and_canonical_value(pooler_factory):
    p = pooler_factory(mode="transaction")
    with p.admin() as adm:
        simple_query(adm, "SET verbose = 2")
    with p.connect(options="-c DateStyle=ISO") as c:
        for _ in range(3):
            assert c.execute("SHOW DateStyle").fetchone() == ("ISO, MDY",)
    # one SET: the server's "ISO, MDY" is the client's "ISO" from then on
    assert log_count(p, r"DEBUG S-.* varcache_apply: SET DateStyle='ISO';") == 1
    assert log_count(p, r"DEBUG C-.* varcache_set_canonical: setting DateStyle to its canonical "
                     r"version ISO -> ISO, MDY") == 1


def test_refused_value_closes_client_and_server(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect(options="-c TimeZone=No/Such_Zone") as c:
        # its query must not run with the server's TimeZone
        with pytest.raises(psycopg.OperationalError, match="invalid server parameter"):
            c.execute("SELECT 1")
    log = p.log_text()
    assert 'ERROR varcache_apply failed: ERROR: invalid value for parameter "TimeZone"' in log
    assert "closing because: invalid server parameter" in log
    assert "varcache_set_canonical" not in log
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


# ---------------------------------------------------------------------------
# graceful shutdowns


def _refused(port):
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(host=HOST, port=port, dbname="postgres", user="postgres", connect_timeout=3)


def test_wait_for_servers(pooler_factory, sockdir):
    p = pooler_factory(mode="transaction", pool_size=1, extra={"unix_socket_dir": sockdir})
    with p.connect() as tx, p.connect() as queued, p.connect() as idle:
        tx.execute("BEGIN")
        tx.execute("SELECT 1")
        got = []
        t = threading.Thread(target=lambda: got.append(_try(queued, "SELECT 1")))
        t.start()
        wait_until(lambda: any(r["cl_waiting"] == "1" for r in p.show("POOLS")), timeout=5,
                   what="a queued client")
        with p.admin() as adm:
            simple_query(adm, "SHUTDOWN WAIT_FOR_SERVERS")
        t.join(5)
        assert got and "server shutting down" in got[0]
        assert tx.execute("SELECT 2").fetchone() == (2,)  # its transaction goes on
        with pytest.raises(psycopg.OperationalError):
            idle.execute("SELECT 1")  # a new transaction is refused
        _refused(p.port)
        with pytest.raises(psycopg.OperationalError, match="pooler is shutting down"):
            unix_connect(sockdir, p)
        with unix_connect(sockdir, p, dbname="pgbouncer", user="admin") as adm:
            state = dict(simple_query(adm, "SHOW STATE")[1])
            assert state["paused"] == "yes"
            with pytest.raises(psycopg.Error, match="pooler is shutting down"):
                simple_query(adm, "RESUME")
        assert p.alive()
        tx.execute("COMMIT")  # the last server in use is released
        assert wait_exit(p) == 0
    log = p.log_text()
    assert "SHUTDOWN WAIT_FOR_SERVERS command issued" in log
    assert "closing because: server shutting down" in log
    assert "server connections dropped, exiting" in log


def _try(conn, sql):
    try:
        conn.execute(sql)
        return "ok"
    except psycopg.Error as e:
        return str(e)


def test_wait_for_clients_counts_consoles(pooler_factory, sockdir):
    p = pooler_factory(mode="session", extra={"unix_socket_dir": sockdir})
    c = p.connect()
    adm = unix_connect(sockdir, p, dbname="pgbouncer", user="admin")
    c.execute("SELECT 1")
    simple_query(adm, "SHUTDOWN WAIT_FOR_CLIENTS")
    assert dict(simple_query(adm, "SHOW STATE")[1])["paused"] == "no"
    assert c.execute("SELECT 2").fetchone() == (2,)
    _refused(p.port)
    with pytest.raises(psycopg.OperationalError, match="pooler is shutting down"):
        unix_connect(sockdir, p)
    c.close()
    time.sleep(0.5)
    assert p.alive()  # the console is a client too (PgBouncer's rule)
    adm.close()
    assert wait_exit(p) == 0
    assert "client connections dropped, exiting" in p.log_text()


def test_sigint_waits_for_servers_second_exits(pooler_factory):
    p = pooler_factory(mode="session")
    with p.connect() as c:
        c.execute("SELECT 1")
        os.kill(p.pid, signal.SIGINT)
        time.sleep(0.5)
        assert c.execute("SELECT 2").fetchone() == (2,)  # its session keeps its server
        assert p.alive()
        _refused(p.port)
        os.kill(p.pid, signal.SIGINT)
        assert wait_exit(p) == 0
    log = p.log_text()
    assert "got SIGINT, shutting down, waiting for all servers connections to be released" in log
    assert "got SIGINT while shutting down, fast exit" in log


def test_sigint_exits_once_servers_are_released(pooler_factory):
    p = pooler_factory(mode="session")
    c = p.connect()
    c.execute("SELECT 1")
    os.kill(p.pid, signal.SIGINT)
    time.sleep(0.3)
    assert p.alive()
    c.close()
    assert wait_exit(p) == 0
    assert "server connections dropped, exiting" in p.log_text()


def test_sigterm_then_sigint_exits_at_once(pooler_factory):
    p = pooler_factory(mode="session")
    with p.connect() as c:
        c.execute("SELECT 1")
        os.kill(p.pid, signal.SIGTERM)
        time.sleep(0.3)
        assert p.alive()
        os.kill(p.pid, signal.SIGINT)
        assert wait_exit(p) == 0
    assert "got SIGINT while shutting down, fast exit" in p.log_text()


def test_connect_query_runs_and_its_error_is_ignored(pg, pooler_factory):
    """connect_query runs once per server login; an error in it is logged
    and ignored (PgBouncer's documented behaviour): the server is handed
    out, not closed and opened again in a loop."""
    dbs = {
        "cq": "host=%s port=%d dbname=postgres connect_query='SELECT 1'" % (HOST, pg.port),
        "cqbad": "host=%s port=%d dbname=postgres connect_query='SELECT no_such_fn()'" % (HOST, pg.port),
    }
    p = pooler_factory(databases=dbs)
    with p.connect(dbname="cq") as c:
        assert c.execute("SELECT 2").fetchone()[0] == 2
    with p.connect(dbname="cqbad") as c:
        assert c.execute("SELECT 3").fetchone()[0] == 3
    log = p.log_text()
    assert "function no_such_fn() does not exist" in log
    assert log.count("cqbad/postgres@") < 10, log[-2000:]
