"""Replication connections through the pooler (replication=database and
replication=true), as PgBouncer 1.25 passes them: each client gets a
server connection of its own, logged in with the client's replication
and session parameters, never shared and closed when the client leaves.
"""

import os
import re
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from harness import HOST, PG_BIN, dict_rows, simple_query, wait_until

PSQL = os.path.join(PG_BIN, "psql")
PG_RECEIVEWAL = os.path.join(PG_BIN, "pg_receivewal")
PG_BASEBACKUP = os.path.join(PG_BIN, "pg_basebackup")


def psql(port, sql, **params):
    conninfo = " ".join("%s=%s" % kv for kv in params.items())
    p = subprocess.run(
        [PSQL, "-X", "-A", "-t", "host=%s port=%d %s" % (HOST, port, conninfo), "-c", sql],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def allow_physical(pg):
    hba = os.path.join(pg.datadir, "pg_hba.conf")
    with open(hba) as f:
        text = f.read()
    if "replication" not in text:
        with open(hba, "a") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        pg.execute("SELECT pg_reload_conf()")


def test_logical_and_physical_replication_connections(pg, pooler_factory):
    allow_physical(pg)
    p = pooler_factory(mode="transaction")
    sysid = pg.execute("SELECT system_identifier FROM pg_control_system()")[0][0]
    for kind in ("database", "true"):
        out = psql(p.port, "IDENTIFY_SYSTEM", dbname="postgres", user="postgres",
                   replication=kind, application_name="repl_" + kind)
        assert out.split("|")[0] == str(sysid), out
    # The server connection went with its client: nothing left behind.
    wait_until(lambda: pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")[0][0] == 0,
        what="walsenders gone")


def test_replication_server_gets_client_application_name(pg, pooler_factory):
    allow_physical(pg)
    p = pooler_factory(mode="session")
    out = psql(p.port, "SHOW application_name", dbname="postgres", user="postgres",
               replication="database", application_name="standby_one")
    assert out == "standby_one"


def test_replication_and_normal_clients_do_not_share_servers(pg, pooler_factory):
    allow_physical(pg)
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        out = psql(p.port, "IDENTIFY_SYSTEM", dbname="postgres", user="postgres",
                   replication="database")
        assert "|" in out
        assert c.execute("SELECT 2").fetchone() == (2,)


def repl_pooler(pg, pooler_factory, **kw):
    """A pooler with the "replication" database entry physical tools need:
    pg_receivewal and pg_basebackup connect to dbname=replication.
    tcp_socket_buffer = 4096, as PgBouncer's own suite runs: small socket
    buffers are where a streaming reply stalled (see the tests below)."""
    allow_physical(pg)
    extra = {"tcp_socket_buffer": "4096"}
    extra.update(kw.pop("extra", {}))
    target = "host=%s port=%d" % (HOST, pg.port)
    return pooler_factory(
        mode=kw.pop("mode", "session"),
        databases={"postgres": target + " dbname=postgres",
                   "replication": target + " dbname=replication"},
        extra=extra, **kw)


def conninfo(p, **params):
    params.setdefault("user", "postgres")
    params.setdefault("dbname", "postgres")
    return "host=%s port=%d %s" % (HOST, p.port, " ".join("%s=%s" % kv for kv in params.items()))


def walsenders(pg):
    return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")[0][0]


def pools(p):
    with p.admin() as a:
        return [r for r in dict_rows(*simple_query(a, "SHOW POOLS")) if r["database"] == "postgres"]


@pytest.mark.timeout(90)
def test_pg_receivewal_streams_whole_segments_and_stops_on_sigint(pg, pooler_factory, tmp_path):
    p = repl_pooler(pg, pooler_factory)
    slot = "pgswitch_receivewal"
    pg.execute("SELECT pg_create_physical_replication_slot(%s)", (slot,))
    waldir = tmp_path / "wal"
    waldir.mkdir()
    proc = subprocess.Popen([PG_RECEIVEWAL, "--dbname", conninfo(p), "--slot", slot,
                             "--directory", str(waldir), "--no-loop"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: any(waldir.iterdir()), timeout=20, what="pg_receivewal's first file")
        # A whole 16 MB segment has to cross the pooler before it is
        # renamed from .partial: with the old small-buffer stall it never
        # did.
        pg.execute("CREATE TABLE IF NOT EXISTS repl_wal_t (a int)")
        pg.execute("INSERT INTO repl_wal_t SELECT generate_series(1, 1000)")
        pg.execute("SELECT pg_switch_wal()")
        wait_until(lambda: any(re.fullmatch(r"[0-9A-F]{24}", f.name) for f in waldir.iterdir()),
                   timeout=30, what="a completed WAL segment")
        # SIGINT: pg_receivewal ends the stream (CopyDone both ways through
        # the pooler) and exits 0.
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        wait_until(lambda: pg.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                      (slot,))[0][0] is False, timeout=15, what="slot released")
        pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    wait_until(lambda: "replication client was closed" in p.log_text(), what="server closed with its client")
    wait_until(lambda: walsenders(pg) == 0, what="walsenders gone")


@pytest.mark.timeout(90)
def test_pg_basebackup_through_pooler(pg, pooler_factory, tmp_path):
    p = repl_pooler(pg, pooler_factory)
    target = tmp_path / "backup"
    t0 = time.monotonic()
    # -X stream: a second replication connection streams WAL while the
    # first sends the data directory.
    out = subprocess.run([PG_BASEBACKUP, "--dbname", conninfo(p), "--pgdata", str(target),
                          "--checkpoint=fast", "--wal-method=stream", "--no-sync"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    for f in ("PG_VERSION", "backup_label", "backup_manifest", "global/pg_control"):
        assert (target / f).exists(), f
    assert any((target / "pg_wal").iterdir())
    # About a second on this machine (PgBouncer 1.25.2 the same); a send
    # larger than the small socket buffer made each 64 KB wait for the
    # client's delayed ACK, 26 s in all.
    assert took < 20, "pg_basebackup took %.1f s" % took
    # pg_basebackup may exit before the pooler has seen its first
    # connection's close: wait for both lines, not one read of the log.
    wait_until(lambda: p.log_text().count("replication client was closed") == 2,
               what="both servers closed with their clients")
    assert p.log_text().count("replication client was closed") == 2, p.log_text()[-3000:]
    wait_until(lambda: walsenders(pg) == 0, what="walsenders gone")


def test_replication_options_reach_the_server(pg, pooler_factory):
    p = repl_pooler(pg, pooler_factory, mode="statement")
    for kind in ("database", "true"):
        with psycopg.connect(conninfo(p, replication=kind, application_name="opt_" + kind,
                                      options="'-c enable_seqscan=off -c work_mem=7MB'"),
                             autocommit=True, connect_timeout=10) as c:
            c.prepare_threshold = None
            assert simple_query(c, "SHOW enable_seqscan")[1] == [("off",)]
            assert simple_query(c, "SHOW work_mem")[1] == [("7MB",)]
            assert simple_query(c, "SHOW application_name")[1] == [("opt_" + kind,)]


def test_replication_login_failure_closes_only_that_client(pg, pooler_factory):
    p = repl_pooler(pg, pooler_factory)
    # alice may log in but not start a walsender.
    with pytest.raises(psycopg.OperationalError, match="login failed"):
        psycopg.connect(conninfo(p, user="alice", replication="database"), connect_timeout=10)
    # The client hears of it before the server's close is logged: wait
    # for both lines (a sanitizer build is slow).
    deadline = time.monotonic() + 10
    while True:
        log = p.log_text()
        n = len(re.findall(r"closing because: login failed \(age", log))
        if n >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "must be superuser or replication role to start walsender" in log
    assert n == 2, log[-3000:]
    # Not a failure of the pool: alice's plain sessions go on at once.
    with p.connect(user="alice") as c:
        assert c.execute("SELECT current_user").fetchone() == ("alice",)


@pytest.mark.timeout(60)
def test_replication_and_plain_clients_share_the_pool_size(pg, pooler_factory):
    p = repl_pooler(pg, pooler_factory, pool_size=1)
    # The pool's one server is held by a session: a replication client
    # waits for it, and takes the place once the session ends (the server
    # it left idle is evicted: a replication client never shares one).
    plain = p.connect()
    assert plain.execute("SELECT 1").fetchone() == (1,)
    got = {}

    def replication_client():
        try:
            with psycopg.connect(conninfo(p, replication="database"), autocommit=True,
                                 connect_timeout=20) as r:
                r.prepare_threshold = None
                got["sysid"] = simple_query(r, "IDENTIFY_SYSTEM")[1][0][0]
                got["held"] = True
                while not got.get("release"):
                    time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported below
            got["error"] = e

    t = threading.Thread(target=replication_client)
    t.start()
    try:
        wait_until(lambda: int(pools(p)[0]["cl_waiting"]) == 1, what="replication client queued")
        assert "sysid" not in got
        plain.close()
        wait_until(lambda: got.get("held") or got.get("error"), timeout=20, what="replication login")
        assert "error" not in got, got
        assert "closing because: evicted" in p.log_text()
        # Now the replication session holds the place: a plain client waits.
        done = {}

        def plain_client():
            with p.connect(connect_timeout=20) as c:
                done["v"] = c.execute("SELECT 2").fetchone()

        u = threading.Thread(target=plain_client)
        u.start()
        wait_until(lambda: int(pools(p)[0]["cl_waiting"]) == 1, what="plain client queued")
        row = pools(p)
        # One pool, as PgBouncer shows it: the replication session in it.
        assert len(row) == 1 and int(row[0]["sv_active"]) == 1, row
        got["release"] = True
        u.join(20)
        assert done.get("v") == (2,)
    finally:
        got["release"] = True
        t.join(20)
    wait_until(lambda: walsenders(pg) == 0, what="walsenders gone")
