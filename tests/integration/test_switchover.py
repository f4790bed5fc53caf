"""SWITCHOVER: move a database to its streaming standby through the admin
console, with a bounded freeze and no client errors.

    SWITCHOVER db TO 'host=.. port=..' [WITH (timeout = '5s', max_lag = '16MB',
        max_xact_age = '2s', on_long_xact = 'refuse'|'wait'|'cancel',
        fence_old = 'on'|'off', dry_run = 'on')]
    SWITCHOVER db ABORT
    SHOW SWITCHOVER [db]

Every test gets a fresh primary + streaming standby pair (function-scoped
`pair` fixture: initdb, pg_basebackup -R -C -S <slot> -X stream, both on
127.0.0.1 on free ports, run as the OS user "postgres" like every PgServer).
The admin console speaks the simple protocol only: everything on it goes
through harness.simple_query.

PGSWITCH_FAST=1 shortens the pgbench run from 15 s to 8 s.
"""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import psycopg
import pytest
from psycopg import errors

from harness import HOST, PG_BIN, PgServer, dict_rows, make_owned_tmpdir, simple_query, wait_until

pytestmark = pytest.mark.pgswitch_only(reason="SWITCHOVER is a pgswitch feature")

PGBENCH_SECONDS = 8 if os.environ.get("PGSWITCH_FAST") == "1" else 15

COLUMNS = [
    "database", "state", "result", "detail", "total_ms", "freeze_ms", "phases", "clients_held",
    "max_added_latency_ms", "errors_returned", "target", "persisted", "prewarmed",
    "p50_added_latency_ms", "p99_added_latency_ms",
]

SLOT = "pgswitch_standby"


# ---------------------------------------------------------------------------
# primary + streaming standby


def _configure_primary(server):
    """Replication settings for a PgServer that has not been started yet."""
    with open(os.path.join(server.datadir, "postgresql.conf"), "a") as f:
        f.write(
            "\n# test_switchover.py: primary of a streaming pair\n"
            "wal_level = replica\n"
            "max_wal_senders = 5\n"
            "max_replication_slots = 5\n"
            "shared_buffers = 16MB\n"
            "hot_standby = on\n"
        )
    with open(os.path.join(server.datadir, "pg_hba.conf"), "a") as f:
        f.write("host    replication  all  127.0.0.1/32 trust\n")


class StandbyServer(PgServer):
    """A PgServer whose data directory is a pg_basebackup of PRIMARY
    (-R: standby.signal + primary_conninfo, -C -S: a physical slot)."""

    def __init__(self, primary, name="standby", slot=SLOT):
        self.primary = primary
        self.slot = slot
        super().__init__(name)

    def _initdb(self):
        try:
            self._pg(
                [
                    os.path.join(PG_BIN, "pg_basebackup"),
                    "-h", HOST, "-p", str(self.primary.port), "-U", "postgres",
                    "-D", self.datadir, "-R", "-C", "-S", self.slot,
                    "-X", "stream", "--checkpoint=fast", "--no-sync",
                ],
                timeout=120,
            )
        except Exception:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        # the copied postgresql.conf names the primary's port and socket
        # directory: the last setting in the file wins
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(
                "\n# test_switchover.py: standby\n"
                "port = %d\n"
                "unix_socket_directories = '%s'\n"
                "hot_standby = on\n"
                % (self.port, self.sockdir)
            )


class Pair:
    def __init__(self, primary, standby):
        self.primary = primary
        self.standby = standby


@pytest.fixture
def pair():
    primary = PgServer("sw-primary")
    standby = None
    try:
        _configure_primary(primary)
        primary.start()
        standby = StandbyServer(primary, "sw-standby")
        standby.start()
        wait_until(
            lambda: primary.execute(
                "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'"),
            timeout=20, what="the standby to stream from the primary")
        assert in_recovery(standby)
        yield Pair(primary, standby)
    finally:
        if standby is not None:
            standby.cleanup()
        primary.cleanup()


# ---------------------------------------------------------------------------
# helpers


def server_port(conn):
    return conn.execute("SELECT inet_server_port()").fetchone()[0]


def in_recovery(server):
    return server.execute("SELECT pg_is_in_recovery()")[0][0]


def fence_state(server):
    """(SHOW default_transaction_read_only on a new direct connection,
    number of default_transaction_read_only lines in the config files)."""
    with server.connect() as c:
        ro = c.execute("SHOW default_transaction_read_only").fetchone()[0]
        n = c.execute("SELECT count(*) FROM pg_file_settings "
                      "WHERE name = 'default_transaction_read_only'").fetchone()[0]
    return ro, n


def assert_not_fenced(server):
    assert fence_state(server) == ("off", 0)
    with server.connect() as c:
        c.execute("CREATE TABLE IF NOT EXISTS sw_write_probe (x int)")
        c.execute("INSERT INTO sw_write_probe VALUES (1)")


def wait_replayed(pair, timeout=30):
    lsn = pair.primary.execute("SELECT pg_current_wal_lsn()::text")[0][0]
    wait_until(
        lambda: pair.standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0],
        timeout=timeout, what="the standby to replay %s" % lsn)


def db_line(pooler, name="postgres"):
    lines = [ln for ln in pooler.ini_lines() if re.match(r"\s*%s\s*=" % re.escape(name), ln)]
    assert len(lines) == 1, pooler.ini_lines()
    return lines[0]


def line_port(line):
    m = re.search(r"\bport=(\d+)", line)
    return int(m.group(1)) if m else None


def switchover_sql(target, db="postgres", **opts):
    sql = "SWITCHOVER %s TO 'host=%s port=%d'" % (db, HOST, target.port)
    if opts:
        sql += " WITH (%s)" % ", ".join("%s = '%s'" % kv for kv in opts.items())
    return sql


def admin_exec(conn, sql):
    """harness.simple_query plus the CommandComplete tag:
    (cols, [row dicts], tag).  Raises psycopg.Error on an ErrorResponse."""
    if conn.prepare_threshold is not None:
        raise ValueError("admin_exec needs a connection with prepare_threshold=None")
    cur = conn.cursor()
    cur.execute(sql)
    tag = cur.statusmessage
    res = cur.pgresult
    if res is None or res.nfields == 0:
        return [], [], tag
    cols = [res.fname(i).decode() for i in range(res.nfields)]
    rows = []
    for r in range(res.ntuples):
        vals = [res.get_value(r, i) for i in range(res.nfields)]
        rows.append(dict(zip(cols, (None if v is None else v.decode("utf-8", "replace") for v in vals))))
    return cols, rows, tag


def switchover(pooler, target, db="postgres", **opts):
    """Run SWITCHOVER on a fresh admin connection: (cols, [row dicts]);
    raises psycopg.Error on an ErrorResponse.  A success must be the report
    row with the tag SWITCHOVER."""
    with pooler.admin() as adm:
        cols, rows, tag = admin_exec(adm, switchover_sql(target, db, **opts))
    assert tag == "SWITCHOVER", (
        "SWITCHOVER answered with CommandComplete %r and %d row(s) instead of its report" % (tag, len(rows)))
    return cols, rows


def show_switchover(pooler, db=None):
    with pooler.admin() as adm:
        cols, rows = simple_query(adm, "SHOW SWITCHOVER" + (" " + db if db else ""))
    return cols, dict_rows(cols, rows)


def assert_switched(rows, target, errors_returned=0):
    """The report row of a successful switchover to TARGET.  ERRORS_RETURNED
    None: not checked (the cancel test makes one query fail on purpose)."""
    assert len(rows) == 1, rows
    r = rows[0]
    assert r["result"] == "switched", r
    assert r["database"] == "postgres", r
    assert r["target"] == "%s:%d" % (HOST, target.port), r
    assert int(r["clients_held"]) >= 0, r
    if errors_returned is not None:
        assert int(r["errors_returned"]) == errors_returned, r
    return r


class BackgroundSwitchover(threading.Thread):
    """SWITCHOVER in a thread (it returns only when finished)."""

    def __init__(self, pooler, target, db="postgres", **opts):
        super().__init__(daemon=True)
        self.sql = switchover_sql(target, db, **opts)
        self.conn = pooler.admin()
        self.rows = None
        self.tag = None
        self.error = None
        self.started = self.finished = None

    def run(self):
        self.started = time.monotonic()
        try:
            cols, self.rows, self.tag = admin_exec(self.conn, self.sql)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            self.error = e
        finally:
            self.finished = time.monotonic()
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass

    def wait(self, timeout=20):
        self.join(timeout)
        assert not self.is_alive(), "SWITCHOVER did not return within %ss" % timeout
        return self

    def assert_succeeded(self, target):
        assert self.error is None, str(self.error)
        assert self.tag == "SWITCHOVER", (
            "SWITCHOVER answered after %.3f s with CommandComplete %r and %d row(s) instead of its report"
            % (self.elapsed, self.tag, len(self.rows or [])))
        return assert_switched(self.rows, target)

    @property
    def elapsed(self):
        return self.finished - self.started


class QueryLoop(threading.Thread):
    """A pooled client issuing SELECT inet_server_port() in a loop."""

    def __init__(self, pooler, interval=0.02):
        super().__init__(daemon=True)
        self.conn = pooler.connect()
        self.interval = interval
        self.halt = threading.Event()
        self.latencies = []
        self.errors = []
        self.ports = []

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                self.ports.append(server_port(self.conn))
            except Exception as e:  # noqa: BLE001 - collected
                self.errors.append(repr(e))
            self.latencies.append(time.monotonic() - t)
            time.sleep(self.interval)

    def finish(self, timeout=15):
        self.halt.set()
        self.join(timeout)
        assert not self.is_alive(), "pooled query loop stuck"
        self.conn.close()
        return self

    @property
    def max_latency(self):
        return max(self.latencies) if self.latencies else 0.0


def pooled_query_in_thread(conn, sql, out):
    def run():
        t = time.monotonic()
        try:
            out["value"] = conn.execute(sql).fetchone()[0]
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            out["error"] = e
        out["latency"] = time.monotonic() - t
        out["done_at"] = time.monotonic()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


# ---------------------------------------------------------------------------
# 1. pgbench through the pooler while the database moves


LEDGER_SCRIPT = """\
\\set aid random(1, 100000 * :scale)
\\set bid random(1, 1 * :scale)
\\set tid random(1, 10 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO ledger (v) VALUES (:delta);
END;
"""


def pgbench(args, port):
    cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(port), "-U", "postgres"] + args
    return cmd, dict(os.environ, PGCONNECT_TIMEOUT="10")


@pytest.mark.slow
@pytest.mark.timeout(PGBENCH_SECONDS + 75)
def test_switchover_under_pgbench(pair, pooler_factory, tmp_path):
    prim, stby = pair.primary, pair.standby
    cmd, env = pgbench(["-i", "-s", "1", "-q", "postgres"], prim.port)
    init = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60)
    assert init.returncode == 0, init.stdout.decode(errors="replace")
    prim.execute("CREATE TABLE ledger (id bigserial PRIMARY KEY, v int NOT NULL)")
    wait_replayed(pair)

    p = pooler_factory(pg_server=prim, pool_size=10, extra={"max_client_conn": 100})
    line_before = db_line(p)
    assert line_port(line_before) == prim.port

    script = tmp_path / "ledger.sql"
    script.write_text(LEDGER_SCRIPT)
    cmd, env = pgbench(["-n", "-c", "20", "-j", "2", "-T", str(PGBENCH_SECONDS), "-f", str(script), "postgres"],
                       p.port)
    bench = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        time.sleep(5)
        assert bench.poll() is None, bench.communicate()[0].decode(errors="replace")
        cols, rows = switchover(p, stby, timeout="10s")
        out, _ = bench.communicate(timeout=PGBENCH_SECONDS + 40)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait(10)
    text = out.decode(errors="replace")

    assert cols == COLUMNS
    rep = assert_switched(rows, stby)
    assert p.ini in rep["persisted"], rep

    # pgbench saw no error at all
    assert bench.returncode == 0, text[-4000:]
    assert re.search(r"^number of failed transactions: 0 \(", text, re.M), text[-4000:]
    assert "aborted" not in text.lower(), text[-4000:]
    m = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    assert m, text[-4000:]
    processed = int(m.group(1))
    assert processed > 0

    # every committed transaction is on the new primary, and nothing else
    assert not in_recovery(stby)
    with stby.connect() as c:
        n, vsum = c.execute("SELECT count(*), coalesce(sum(v), 0) FROM ledger").fetchone()
        abal = c.execute("SELECT sum(abalance) FROM pgbench_accounts").fetchone()[0]
    assert n == processed, "ledger rows on the new primary %d != committed transactions %d" % (n, processed)
    assert abal == vsum

    # the pool now reaches the standby; the ini names it
    with p.connect() as c:
        assert server_port(c) == stby.port
        assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    cols, rows = show_switchover(p)
    assert cols == COLUMNS
    assert len(rows) == 1 and rows[0]["result"] == "switched", rows
    assert int(rows[0]["clients_held"]) >= 0
    line_after = db_line(p)
    assert line_port(line_after) == stby.port, line_after
    assert "host=%s" % HOST in line_after and "dbname=postgres" in line_after, line_after


# ---------------------------------------------------------------------------
# 2. dry run


def test_dry_run_changes_nothing(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    client = p.connect()
    assert server_port(client) == prim.port

    cols, rows = switchover(p, stby, dry_run="on")
    assert cols == COLUMNS
    assert len(rows) == 1 and rows[0]["result"] == "dry run ok", rows

    assert in_recovery(stby)
    assert_not_fenced(prim)
    assert server_port(client) == prim.port
    client.close()
    with p.connect() as c:
        assert server_port(c) == prim.port
    assert db_line(p) == line_before
    assert dict((r["name"], r["port"]) for r in p.show("DATABASES"))["postgres"] == str(prim.port)


# ---------------------------------------------------------------------------
# 3. the target is not a standby of the primary


def test_refuse_not_a_standby(pair, pg_factory, pooler_factory):
    prim = pair.primary
    other = pg_factory("sw-other-primary", roles=False)
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    loop = QueryLoop(p)
    loop.start()
    try:
        time.sleep(0.2)
        with pytest.raises(psycopg.Error) as ei:
            switchover(p, other)
        time.sleep(0.2)
    finally:
        loop.finish()
    msg = str(ei.value)
    assert ei.value.sqlstate == "08P01", msg
    assert "refused" in msg, msg
    assert "not a standby" in msg or "system identifier" in msg, msg

    assert loop.errors == []
    assert loop.ports and set(loop.ports) == {prim.port}
    assert loop.max_latency < 1.0, loop.max_latency
    assert_not_fenced(prim)
    assert_not_fenced(other)
    assert in_recovery(pair.standby)
    assert db_line(p) == line_before
    with p.connect() as c:
        assert server_port(c) == prim.port
    cols, rows = show_switchover(p)
    assert len(rows) == 1 and rows[0]["result"] == "refused", rows


def test_refuse_lag_too_high(pair, pooler_factory):
    """Replay lag over max_lag: refused in pre-flight, nothing changed."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    stby.execute("SELECT pg_wal_replay_pause()")
    try:
        with p.connect() as c:  # ~1 MB of WAL the standby does not replay
            c.execute("CREATE TABLE sw_lag AS SELECT g, repeat('x', 100) AS pad "
                      "FROM generate_series(1, 10000) g")
        with pytest.raises(psycopg.Error) as ei:
            switchover(p, stby, max_lag="64kB")
    finally:
        stby.execute("SELECT pg_wal_replay_resume()")
    msg = str(ei.value)
    assert ei.value.sqlstate == "08P01", msg
    assert "refused" in msg and "replay lag" in msg and "max_lag" in msg, msg
    assert_not_fenced(prim)
    assert in_recovery(stby)
    assert db_line(p) == line_before
    with p.connect() as c:
        assert server_port(c) == prim.port
        c.execute("INSERT INTO sw_lag VALUES (0, '')")
    cols, rows = show_switchover(p)
    assert len(rows) == 1 and rows[0]["result"] == "refused", rows


# ---------------------------------------------------------------------------
# 4. transactions older than max_xact_age


def test_long_transaction_refuse(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    blocker = prim.connect(application_name="sw-blocker")  # direct, not pooled
    blocker.execute("BEGIN")
    blocker.execute("SELECT txid_current()")
    bpid = blocker.info.backend_pid
    loop = QueryLoop(p)
    loop.start()
    try:
        time.sleep(1.5)
        with pytest.raises(psycopg.Error) as ei:
            switchover(p, stby, max_xact_age="1s", on_long_xact="refuse")
        time.sleep(0.3)
    finally:
        loop.finish()
    msg = str(ei.value)
    assert ei.value.sqlstate == "08P01", msg
    assert "refused" in msg, msg
    assert re.search(r"\b%d\b" % bpid, msg), "blocker pid %d not named: %s" % (bpid, msg)

    # nothing changed, traffic was never frozen
    assert loop.errors == []
    assert loop.ports and set(loop.ports) == {prim.port}
    assert loop.max_latency < 1.0, "pooled query latency spike %.3f s" % loop.max_latency
    assert blocker.execute("SELECT 1").fetchone() == (1,)  # not terminated
    blocker.execute("COMMIT")
    blocker.close()
    assert_not_fenced(prim)
    assert in_recovery(stby)
    assert db_line(p) == line_before
    with p.connect() as c:
        assert server_port(c) == prim.port


def test_long_transaction_wait(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    prim.execute("CREATE TABLE sw_wait (x int)")
    wait_replayed(pair)
    p = pooler_factory(pg_server=prim)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("INSERT INTO sw_wait VALUES (1)")
    assert server_port(holder) == prim.port
    time.sleep(1.5)

    commit = {}

    def do_commit():
        commit["at"] = time.monotonic()
        try:
            holder.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001
            commit["error"] = e
        commit["done"] = time.monotonic()

    bg = BackgroundSwitchover(p, stby, on_long_xact="wait", timeout="3s", max_xact_age="1s")
    timer = threading.Timer(1.0, do_commit)
    bg.start()
    timer.start()
    try:
        bg.wait(20)
    finally:
        timer.cancel()
        timer.join(10)
    assert "error" not in commit, commit
    bg.assert_succeeded(stby)
    assert "done" in commit and bg.finished >= commit["done"] - 0.05, "switchover returned before the COMMIT"

    # the waited-for transaction's row reached the new primary
    assert not in_recovery(stby)
    assert stby.execute("SELECT count(*) FROM sw_wait")[0][0] == 1
    assert server_port(holder) == stby.port
    holder.close()
    with p.connect() as c:
        assert server_port(c) == stby.port
    assert line_port(db_line(p)) == stby.port


def test_long_transaction_cancel(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    sleeper = p.connect()
    out = {}
    th = pooled_query_in_thread(sleeper, "SELECT pg_sleep(30)", out)
    wait_until(
        lambda: prim.execute("SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
                             "AND query = 'SELECT pg_sleep(30)'"),
        timeout=10, what="pg_sleep(30) to run on the primary")

    t0 = time.monotonic()
    cols, rows = switchover(p, stby, on_long_xact="cancel", max_xact_age="10s", timeout="5s")
    took = time.monotonic() - t0
    assert_switched(rows, stby, errors_returned=None)
    th.join(10)
    assert not th.is_alive(), "pg_sleep(30) was not cancelled"
    assert isinstance(out.get("error"), errors.QueryCanceled), out
    assert took < 5.5, took

    assert not in_recovery(stby)
    assert server_port(sleeper) == stby.port
    sleeper.close()
    assert line_port(db_line(p)) == stby.port


# ---------------------------------------------------------------------------
# 5. the freeze deadline expires: everything resumes on the old primary


def test_deadline_expiry_resumes_on_old_primary(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    prim.execute("CREATE TABLE sw_probe (x int)")
    p = pooler_factory(pg_server=prim, pool_size=5)
    line_before = db_line(p)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("INSERT INTO sw_probe VALUES (1)")
    others = [p.connect() for _ in range(3)]
    for c in others:
        assert server_port(c) == prim.port

    bg = BackgroundSwitchover(p, stby, on_long_xact="wait", timeout="1s", max_xact_age="60s")
    bg.start()
    # issue the other clients' queries while the pool is frozen
    wait_until(lambda: any(r["state"] == "freeze" for r in show_switchover(p)[1]),
               timeout=3, interval=0.01, what="SHOW SWITCHOVER state freeze")
    results = [{} for _ in others]
    threads = [pooled_query_in_thread(c, "SELECT inet_server_port()", r) for c, r in zip(others, results)]
    bg.wait(15)
    for th in threads:
        th.join(10)
        assert not th.is_alive(), "a query issued during the freeze never completed"

    for r in results:
        assert "error" not in r, r
        assert r["value"] == prim.port, r
        assert r["latency"] < 3.0, r

    # the open transaction is intact and finishes on the old primary
    holder.execute("INSERT INTO sw_probe VALUES (2)")
    holder.execute("COMMIT")
    assert server_port(holder) == prim.port
    holder.close()
    for c in others:
        c.close()
    assert prim.execute("SELECT count(*) FROM sw_probe")[0][0] == 2
    # the fence is lifted (or was never applied) and the standby untouched
    assert_not_fenced(prim)
    assert in_recovery(stby)
    assert db_line(p) == line_before
    with p.connect() as c:
        assert server_port(c) == prim.port
        c.execute("INSERT INTO sw_probe VALUES (3)")
    cols, rows = show_switchover(p)
    assert len(rows) == 1 and rows[0]["result"] == "aborted", rows

    # the SWITCHOVER command itself reported the abort
    assert bg.error is not None, "SWITCHOVER should have failed, it answered after %.3f s: tag %r rows %r" % (
        bg.elapsed, bg.tag, bg.rows)
    msg = str(bg.error)
    assert getattr(bg.error, "sqlstate", None) == "08P01", msg
    assert "aborted" in msg or "timeout" in msg, msg
    assert bg.elapsed < 5, bg.elapsed


# ---------------------------------------------------------------------------
# 6. the old primary is fenced after a switchover


def test_fence_blocks_direct_writers(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    prim.execute("CREATE TABLE sw_fence (x int)")
    p = pooler_factory(pg_server=prim)
    with p.connect() as c:
        c.execute("INSERT INTO sw_fence VALUES (1)")
    bystander = prim.connect()  # a direct client: terminated by the fence
    assert bystander.execute("SELECT 1").fetchone() == (1,)

    cols, rows = switchover(p, stby)
    assert_switched(rows, stby)

    with pytest.raises(psycopg.OperationalError):
        bystander.execute("SELECT 1")
    bystander.close()
    with prim.connect() as d:
        assert d.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(errors.ReadOnlySqlTransaction) as ei:
            d.execute("INSERT INTO sw_fence VALUES (2)")
        assert ei.value.sqlstate == "25006"
    # writes go to the new primary, which has the old rows
    with p.connect() as c:
        assert server_port(c) == stby.port
        c.execute("INSERT INTO sw_fence VALUES (3)")
    assert sorted(r[0] for r in stby.execute("SELECT x FROM sw_fence")) == [1, 3]


# ---------------------------------------------------------------------------
# 7. SIGKILL during the freeze


@pytest.mark.timeout(60)
def test_kill9_mid_freeze_restart_not_paused(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    holder = p.connect()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")

    bg = BackgroundSwitchover(p, stby, on_long_xact="wait", timeout="10s")
    bg.start()
    time.sleep(0.5)
    state = show_switchover(p)[1]
    os.kill(p.pid, signal.SIGKILL)
    p.proc.wait(10)
    bg.wait(10)
    holder.close()

    # killed while waiting for the transaction: the fence was not applied
    # yet. It was recorded before the freeze (so that fsync is not in the
    # blackout): a record of a fence that may be on.
    assert fence_state(prim) == ("off", 0)
    assert os.path.exists(p.ini + ".fence")
    assert in_recovery(stby), "the standby was promoted (state before the kill: %r)" % (state,)

    p.stop()  # reap the killed process
    p.start()
    assert db_line(p) == line_before
    t0 = time.monotonic()
    with p.connect(connect_timeout=5) as c:
        assert server_port(c) == prim.port
        c.execute("CREATE TABLE sw_after_kill (x int)")
        c.execute("INSERT INTO sw_after_kill VALUES (1)")
    took = time.monotonic() - t0
    assert took < 2.0, "first query after the restart took %.2f s (paused?)" % took
    pools = [r for r in p.show("POOLS") if r["database"] == "postgres"]
    assert pools, p.show("POOLS")
    # ABORT settles the record: the target is still a standby, so the lift
    # (of a fence that was never applied) is safe and harmless.
    with p.admin() as adm:
        cols, rows, tag = admin_exec(adm, "SWITCHOVER postgres ABORT")
    assert rows and rows[0]["result"] == "fence lifted", rows
    assert not os.path.exists(p.ini + ".fence")
    # the SWITCHOVER command was cut off by the kill: it cannot have answered
    assert bg.error is not None, "SWITCHOVER cannot have finished: it answered after %.3f s with tag %r rows %r" % (
        bg.elapsed, bg.tag, bg.rows)


@pytest.mark.timeout(90)
def test_kill9_after_fence_restart_reports_and_abort_lifts(pair, pooler_factory):
    """The fence journal: a pgswitch killed after fencing the old primary
    reports the fence after its restart, and SWITCHOVER db ABORT lifts it."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    line_before = db_line(p)
    with p.connect() as c:
        c.execute("SELECT 1")
    # replay paused: catch-up cannot reach the fence LSN, so the switchover
    # sits in catchup with the fence applied
    stby.execute("SELECT pg_wal_replay_pause()")
    bg = BackgroundSwitchover(p, stby, timeout="20s")
    bg.start()
    wait_until(lambda: any(r["state"] == "catchup" for r in show_switchover(p)[1]),
               timeout=10, interval=0.01, what="SHOW SWITCHOVER state catchup")
    assert fence_state(prim) == ("on", 1)
    os.kill(p.pid, signal.SIGKILL)
    p.proc.wait(10)
    bg.wait(10)
    assert os.path.exists(p.ini + ".fence")

    p.stop()  # reap the killed process
    p.start()
    assert db_line(p) == line_before
    cols, rows = show_switchover(p)
    assert cols == COLUMNS
    left = [r for r in rows if r["state"] == "fenced"]
    assert len(left) == 1, rows
    assert left[0]["result"] == "fence left behind", left
    assert left[0]["target"] == "%s:%d" % (HOST, stby.port), left
    assert "SWITCHOVER postgres ABORT" in left[0]["detail"], left
    assert "fence was left on" in p.log_text()
    assert fence_state(prim) == ("on", 1)

    with p.admin() as adm:
        cols, rows, tag = admin_exec(adm, "SWITCHOVER postgres ABORT")
    assert tag == "SWITCHOVER", (tag, rows)
    assert rows and rows[0]["result"] == "fence lifted", rows
    wait_until(lambda: fence_state(prim) == ("off", 0), timeout=5, what="fence lifted")
    assert_not_fenced(prim)
    assert not os.path.exists(p.ini + ".fence")
    assert [r for r in show_switchover(p)[1] if r["state"] == "fenced"] == []
    # a second ABORT has nothing to do
    with p.admin() as adm:
        with pytest.raises(psycopg.Error):
            admin_exec(adm, "SWITCHOVER postgres ABORT")

    stby.execute("SELECT pg_wal_replay_resume()")
    assert in_recovery(stby)
    with p.connect() as c:
        assert server_port(c) == prim.port
        c.execute("CREATE TABLE sw_after_lift (x int)")


def test_left_fence_after_promote_is_not_lifted(pair, pooler_factory):
    """A journal record past pg_promote: ABORT refuses (two writable
    primaries would be worse); pointing the database at the target settles
    it."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    p.stop()
    with open(p.ini + ".fence", "w") as f:
        f.write("# test\npostgres\tpromote\t%s\t%d\t%s\t%d\t1700000000\n"
                % (HOST, prim.port, HOST, stby.port))
    if os.geteuid() == 0:
        shutil.chown(p.ini + ".fence", "postgres")
    p.start()
    rows = show_switchover(p)[1]
    assert [r["state"] for r in rows] == ["fenced"], rows
    assert "pg_promote" in rows[0]["detail"], rows
    with p.admin() as adm:
        with pytest.raises(psycopg.Error) as ei:
            admin_exec(adm, "SWITCHOVER postgres ABORT")
    assert "two writable" in str(ei.value), str(ei.value)
    assert os.path.exists(p.ini + ".fence")

    text = open(p.ini).read().replace("port=%d" % prim.port, "port=%d" % stby.port)
    p.reload(text)
    wait_until(lambda: show_switchover(p)[1] == [], timeout=5, what="the record settled")
    assert not os.path.exists(p.ini + ".fence")


def test_prewarm_parks_target_connections(pair, pooler_factory):
    """Pre-warm: the pool's connections to the target are open and logged
    in before the freeze; after the switch the first queries use them."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    # four concurrent queries: the pool holds four servers
    res = [{} for _ in range(4)]
    ths = [pooled_query_in_thread(p.connect(), "SELECT pg_sleep(0.3)", r) for r in res]
    for th in ths:
        th.join(10)
    assert all("error" not in r for r in res), res
    assert p.server_count("postgres") == 4

    cols, rows = switchover(p, stby)
    r = assert_switched(rows, stby)
    assert r["prewarmed"] == "4/4", r
    assert "prewarm=" in r["phases"], r
    # the adopted connections are there before any client asks
    servers = [s for s in p.show("SERVERS") if s["database"] == "postgres"]
    assert len(servers) == 4 and all(int(s["port"]) == stby.port for s in servers), servers
    before = {row[0] for row in stby.execute(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'")}
    with p.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pid in before
    assert float(r["p99_added_latency_ms"]) <= float(r["max_added_latency_ms"]), r


def test_state_file_overlay(pair, pooler_factory):
    """switchover_state_file: the ini is left alone, the overlay keeps the
    database on the new primary across restarts, and SHOW SWITCHOVER says
    the config still names the old host until it is updated."""
    prim, stby = pair.primary, pair.standby
    d = make_owned_tmpdir("pgswitch-overlay-")
    state = os.path.join(d, "switchover.state")
    try:
        with open(state, "w") as f:  # another database's entry must survive
            f.write("otherdb host=127.0.0.9 port=6543\n")
        if os.geteuid() == 0:
            shutil.chown(state, "postgres")
        p = pooler_factory(pg_server=prim, extra={"switchover_state_file": state})
        line_before = db_line(p)
        cols, rows = switchover(p, stby)
        r = assert_switched(rows, stby)
        assert r["persisted"] == state + " (overlay)", r
        assert db_line(p) == line_before
        text = open(state).read()
        assert "otherdb host=127.0.0.9 port=6543" in text, text
        assert "postgres host=%s port=%d" % (HOST, stby.port) in text, text

        over = [x for x in show_switchover(p)[1] if x["state"] == "overlay"]
        assert len(over) == 1, over
        assert over[0]["database"] == "postgres", over
        assert "port=" not in over[0]["detail"] and str(prim.port) in over[0]["detail"], over
        assert over[0]["target"] == "%s:%d" % (HOST, stby.port), over

        p.stop()
        p.start()
        with p.connect() as c:
            assert server_port(c) == stby.port
        # the operator's config management catches up: nothing left to say
        p.reload(open(p.ini).read().replace("port=%d" % prim.port, "port=%d" % stby.port))
        assert [x for x in show_switchover(p)[1] if x["state"] == "overlay"] == []
        with p.connect() as c:
            assert server_port(c) == stby.port
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.timeout(120)
def test_session_mode_under_load(pair, pooler_factory):
    """Session clients with state to replay, querying back to back through
    a switchover: every query answers, none waits for long, each session
    follows the primary."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim, mode="session", pool_size=10)
    loops = [QueryLoop(p, interval=0.005) for _ in range(4)]
    for lp in loops:
        # session state to replay: the moved session's held query must
        # run right after its replay, not wait for more input
        lp.conn.execute("SET statement_timeout = '9s'")
        lp.start()
    try:
        time.sleep(0.3)
        cols, rows = switchover(p, stby)
        r = assert_switched(rows, stby)
        assert r["prewarmed"] == "4/4", r
        time.sleep(0.3)
        for lp in loops:
            assert lp.ports[-1] == stby.port, lp.ports[-5:]
    finally:
        for lp in loops:
            lp.finish()
    for lp in loops:
        assert lp.errors == [], lp.errors
        assert lp.max_latency < 1.0, "a held session waited %.3f s" % lp.max_latency


# ---------------------------------------------------------------------------
# 8. SHOW SWITCHOVER


def test_show_switchover_columns(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    for arg in (None, "postgres"):
        cols, rows = show_switchover(p, arg)
        assert cols == COLUMNS
        assert rows == []

    switchover(p, stby, dry_run="on")
    cols, rows = show_switchover(p)
    assert cols == COLUMNS
    assert len(rows) == 1, rows
    r = rows[0]
    assert r["database"] == "postgres"
    assert r["result"] == "dry run ok"
    assert r["target"] == "%s:%d" % (HOST, stby.port)
    assert float(r["total_ms"]) >= 0
    assert show_switchover(p, "postgres")[1] == rows
    assert show_switchover(p, "nosuchdb")[1] == []


# ---------------------------------------------------------------------------
# 9. session mode: session state moves with the client


def test_session_mode_session_state_moves(pair, pooler_factory):
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim, mode="session")
    notes = []
    a = p.connect()
    a.add_notify_handler(lambda n: notes.append((n.channel, n.payload)))
    assert a.execute("SELECT pg_advisory_lock(42)").fetchone() is not None
    a.execute("LISTEN ch")
    a.execute("SET statement_timeout = '7s'")
    b = p.connect()
    b.execute("CREATE TEMP TABLE sw_tmp (x int)")
    b.execute("INSERT INTO sw_tmp VALUES (1)")

    cols, rows = switchover(p, stby)
    assert_switched(rows, stby)

    # a's session now lives on the new primary, with its lock, LISTEN and GUC
    assert server_port(a) == stby.port
    apid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    held = stby.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 "
        "AND granted AND pid = %s", (apid,))[0][0]
    assert held == 1
    assert a.execute("SHOW statement_timeout").fetchone()[0] == "7s"
    stby.execute("NOTIFY ch, 'after-switchover'")
    wait_until(lambda: a.execute("SELECT 1") and ("ch", "after-switchover") in notes,
               timeout=5, what="NOTIFY on the new primary to reach the client")
    a.close()

    # a temp table cannot move: a clear error at the next query
    with pytest.raises(psycopg.Error) as ei:
        b.execute("SELECT count(*) FROM sw_tmp")
    msg = str(ei.value).lower()
    assert "switchover" in msg or "temp" in msg, msg
    b.close()


def _write_journal(p, phase, old, new):
    with open(p.ini + ".fence", "w") as f:
        f.write("# written by the test\n")
        f.write("postgres\t%s\t%s\t%d\t%s\t%d\t%d\n" % (phase, HOST, old.port, HOST, new.port,
                                                        int(time.time())))
    os.chmod(p.ini + ".fence", 0o666)


def _fence_by_hand(server):
    with server.connect() as c:
        c.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        c.execute("SELECT pg_reload_conf()")
    wait_until(lambda: fence_state(server) == ("on", 1), timeout=5, what="fence applied")


@pytest.mark.timeout(60)
def test_abort_refuses_when_target_was_promoted(pair, pooler_factory):
    """A fence record from a stopped pgswitch: before lifting, ABORT asks the
    target; a target that is no longer a standby (pg_promote may have been
    sent before the stop) keeps the fence and says why."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    p.stop()
    _fence_by_hand(prim)
    stby.execute("SELECT pg_promote(wait => true)")
    _write_journal(p, "fence", prim, stby)
    p.start()
    with p.admin() as adm:
        with pytest.raises(psycopg.Error, match="is not a standby"):
            admin_exec(adm, "SWITCHOVER postgres ABORT")
    assert fence_state(prim) == ("on", 1)
    assert os.path.exists(p.ini + ".fence")


@pytest.mark.timeout(60)
def test_unlifted_fence_is_lifted_when_the_old_primary_answers(pair, pooler_factory):
    """An aborted switchover whose lift failed (the old primary was down)
    leaves an "unlifted" record: SHOW SWITCHOVER says so, and pgswitch lifts
    the fence by itself once the old primary answers (within ~5 s)."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    p.stop()
    _fence_by_hand(prim)
    _write_journal(p, "unlifted", prim, stby)
    p.start()
    rows = [r for r in show_switchover(p)[1] if r["state"] == "fenced"]
    if rows:  # unless the first retry was already quicker
        assert "did not answer to have its fence lifted" in rows[0]["detail"], rows
    wait_until(lambda: fence_state(prim) == ("off", 0), timeout=15, what="fence lifted by pgswitch")
    wait_until(lambda: not os.path.exists(p.ini + ".fence"), timeout=5, what="record removed")
    assert_not_fenced(prim)
    assert in_recovery(stby)


@pytest.mark.timeout(120)
def test_old_primary_dies_mid_freeze_fence_lifted_when_it_returns(pair, pooler_factory):
    """The old primary dies after the fence, during catch-up: the deadline
    aborts, the lift cannot reach it, and SHOW SWITCHOVER says why the fence
    is left (not "pgswitch stopped"). The primary restarts read-only (the
    ALTER SYSTEM persisted): pgswitch lifts the fence by itself once it
    answers, and writes through the pooler work again without an ABORT."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    with p.connect() as c:
        c.execute("SELECT 1")
    stby.execute("SELECT pg_wal_replay_pause()")
    bg = BackgroundSwitchover(p, stby, timeout="3s")
    bg.start()
    wait_until(lambda: any(r["state"] == "catchup" for r in show_switchover(p)[1]),
               timeout=10, interval=0.01, what="SHOW SWITCHOVER state catchup")
    prim.stop("immediate")
    bg.wait(20)
    assert bg.error is not None and "aborted" in str(bg.error), (bg.error, bg.rows)
    rows = [r for r in show_switchover(p)[1] if r["state"] == "fenced"]
    assert len(rows) == 1, show_switchover(p)[1]
    assert "did not answer to have its fence lifted" in rows[0]["detail"], rows
    assert "pgswitch stopped" not in rows[0]["detail"], rows
    prim.start()
    wait_until(lambda: fence_state(prim) == ("off", 0), timeout=20, what="fence lifted by pgswitch")
    wait_until(lambda: not os.path.exists(p.ini + ".fence"), timeout=5, what="record removed")
    stby.execute("SELECT pg_wal_replay_resume()")
    assert in_recovery(stby)

    def writes():
        with p.connect() as c:
            c.execute("CREATE TABLE IF NOT EXISTS sw_after_death (x int)")
            c.execute("INSERT INTO sw_after_death VALUES (1)")
        return True

    wait_until(writes, timeout=10, what="writes through the pooler")
    assert server_port(p.connect()) == prim.port


def test_reads_move_to_the_standby_without_promotion(pair, pooler_factory):
    """traffic = 'read': a read-only entry moves to the standby, which
    stays a standby; the primary is not fenced."""
    prim, stby = pair.primary, pair.standby
    p = pooler_factory(pg_server=prim)
    _, rows = switchover(p, stby, traffic="read")
    r = assert_switched(rows, stby)
    assert "promote=" not in r["phases"] and "fence=" not in r["phases"], r
    assert in_recovery(stby)
    assert_not_fenced(prim)
    with p.connect() as c:
        assert server_port(c) == stby.port
        assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
