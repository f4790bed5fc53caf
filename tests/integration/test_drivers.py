"""Real drivers through the pooler with protocol-level prepared statements
(max_prepared_statements, default 200) in transaction pooling.

Every driver runs with ITS OWN DEFAULTS - no statement_cache_size=0, no
prepareThreshold=0, no simple-protocol switch - on a small pool
(default_pool_size=2) with several concurrent clients, so that a statement a
client prepared on one server connection is Bound on another that never saw
its Parse.  Each test checks that (a) every query returned the right value,
(b) the clients' transactions really moved between the two backends, and
(c) the driver really used named statements and the pooler prepared each
one once per server (pg_prepared_statements on the backends, SHOW STATS).

  psycopg 3    prepare=True, the default prepare_threshold (5), pipeline mode
  psycopg2     simple protocol: the baseline (no Parse at all)
  asyncpg      its statement cache (100): 1,000 queries over a pool
               (the reported bug: "__asyncpg_stmt_5__ does not exist", 932/1000)
  pgjdbc       prepareThreshold 5 -> S_1, S_2 on every connection
               (the reported bug: "prepared statement S_1 already exists")
  node-pg      named statements {name, text, values}
  pgbench      -M prepared -c 50: select-only with -j 2, tpcb-like with -j 50
               (see test_pgbench_prepared), then the statements on the backends

Raw protocol (struct.pack) for what libpq cannot express; what PgBouncer
1.25.2 does (recorded from the validation run, and what pgswitch must do):

  Bind/Describe of a name the client never  FATAL 08P01 "prepared statement did not
  Parsed                                    exist"; log "prepared statement 'N' not found"
  Parse of a name the client already has    FATAL 08P01 "prepared statement name is
                                            already in use"; log "prepared statement 'N'
                                            was already prepared"
  Close of an unknown name                  CloseComplete, no error
  Parse > max_packet_size                   FATAL 08P01 ("bad packet header: '...'")
  DISCARD ALL / DEALLOCATE ALL              the client's names are forgotten; the
                                            server's statements are re-prepared on demand
  server-side names                         PGBOUNCER_<n>, at most max_prepared_statements
                                            per server (LRU eviction)

Helper programs: tests/drivers/PgjdbcPrepared.java (compiled with javac into
a temp dir at test time) and tests/drivers/node_pg.js (npm "pg", installed
at test time into PGSWITCH_NODE_CACHE, default /tmp/pgswitch-node-cache,
unless tests/drivers/node_modules exists).

With POOLER=pgbouncer the binary must be PgBouncer >= 1.24 (PGBOUNCER_BIN,
e.g. /work/shared/anchors/pgbouncer-1.25.2): 1.18 has no prepared statements
in transaction mode, and max_prepared_statements defaults to 200 only since
1.24.  Older binaries skip the whole module.
"""

import asyncio
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time

import psycopg
import pytest

import harness
from harness import HOST, IS_PGBOUNCER, PG_BIN, RawClient, error_fields, simple_query, wait_until

DRIVERS_DIR = os.path.join(harness.repo_root(), "tests", "drivers")
POOL_SIZE = 2
MAX_PREPARED = 200  # the default of max_prepared_statements (pgswitch, PgBouncer >= 1.24)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pgbouncer_version():
    try:
        out = subprocess.run([harness.PGBOUNCER_BIN, "--version"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


if IS_PGBOUNCER:
    _v = _pgbouncer_version()
    if _v is None or _v < (1, 24):
        pytestmark = pytest.mark.skip(
            reason="%s is PgBouncer %s: prepared statements in transaction mode with "
                   "max_prepared_statements=200 by default need >= 1.24 (set PGBOUNCER_BIN)"
                   % (harness.PGBOUNCER_BIN, "%d.%d" % _v if _v else "?"))


def need(ok, reason):
    """Skip when a driver is missing; in CI (which installs them) fail instead."""
    if ok:
        return
    if IN_CI:
        pytest.fail("CI should have installed it: " + reason, pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# raw protocol


def _msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def m_parse(name, sql, oids=()):
    return _msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", len(oids))
                + b"".join(struct.pack("!I", o) for o in oids))


def m_bind(name, params=(), portal=""):
    body = portal.encode() + b"\0" + name.encode() + b"\0" + struct.pack("!hh", 0, len(params))
    for p in params:
        v = str(p).encode()
        body += struct.pack("!i", len(v)) + v
    return _msg(b"B", body + struct.pack("!h", 0))


def m_execute(portal=""):
    return _msg(b"E", portal.encode() + b"\0" + struct.pack("!i", 0))


def m_describe(name):
    return _msg(b"D", b"S" + name.encode() + b"\0")


def m_close(name):
    return _msg(b"C", b"S" + name.encode() + b"\0")


def m_query(sql):
    return _msg(b"Q", sql.encode() + b"\0")


SYNC = _msg(b"S")


def until_ready(rc):
    """Messages up to and including ReadyForQuery; fails on EOF."""
    out = []
    while True:
        m = rc.read_msg()
        assert m is not None, "connection closed; got %r" % (out,)
        out.append(m)
        if m[0] == b"Z":
            return out


def types(msgs):
    return b"".join(t for t, _ in msgs).decode()


def datarow_values(msgs):
    """Text values of every DataRow in MSGS (one list per row)."""
    rows = []
    for t, body in msgs:
        if t != b"D":
            continue
        n = struct.unpack("!h", body[:2])[0]
        pos, row = 2, []
        for _ in range(n):
            ln = struct.unpack("!i", body[pos:pos + 4])[0]
            pos += 4
            if ln < 0:
                row.append(None)
            else:
                row.append(body[pos:pos + ln].decode())
                pos += ln
        rows.append(row)
    return rows


def errors_in(msgs):
    return [error_fields(b) for t, b in msgs if t == b"E"]


def first_error(data):
    if len(data) >= 5 and data[:1] == b"E":
        ln = struct.unpack("!I", data[1:5])[0]
        return error_fields(data[5:1 + ln])
    return None


def raw_client(p):
    rc = RawClient(p.port, timeout=10)
    rc.login()
    return rc


def assert_closed_with(rc, code, message):
    closed, data = rc.wait_closed(5)
    assert closed, "the pooler did not close the client (got %r)" % data[:200]
    f = first_error(data)
    assert f is not None, "closed without an ErrorResponse: %r" % data[:200]
    assert (f.get("S"), f.get("C")) == ("FATAL", code), f
    if message is not None:
        assert f.get("M") == message, f
    return f


def wait_log(p, text, timeout=5):
    return wait_until(lambda: text in p.log_text(), timeout=timeout, what="%r in the pooler log" % text)


# ---------------------------------------------------------------------------
# what the backends hold, and the pooler's counters


STMTS_SQL = ("SELECT pg_backend_pid(), name, statement FROM pg_prepared_statements "
             "UNION ALL SELECT pg_backend_pid(), NULL, NULL")


def backend_statements(p, n=POOL_SIZE, dbname="postgres"):
    """{backend pid: [(name, statement), ...]} for every server of the pool.

    N clients (simple protocol) each hold a server while all of them look, so
    that each sits on a different server connection; with N =
    default_pool_size that is every server of the pool.  In transaction
    pooling they hold it with an open transaction; in statement pooling
    (no transactions) with a statement that sleeps while the others run."""
    conns = [p.connect(dbname=dbname) for _ in range(n)]
    try:
        out = {}
        if p.mode == "statement":
            sql = ("SELECT pg_backend_pid(), name, statement FROM (SELECT pg_sleep(1.0)) z, "
                   "LATERAL (SELECT name, statement FROM pg_prepared_statements UNION ALL SELECT NULL, NULL) q")

            def look(i, start):
                start()
                return simple_query(conns[i], sql)[1]

            res = run_threads(look, n, timeout=20)
        else:
            res = []
            for c in conns:
                simple_query(c, "BEGIN")
                res.append(simple_query(c, STMTS_SQL)[1])
            for c in conns:
                simple_query(c, "COMMIT")
        for rows in res:
            pid = int(rows[0][0])
            assert pid not in out, "two clients holding a server share backend %d" % pid
            out[pid] = sorted((r[1], r[2]) for r in rows if r[1] is not None)
        return out
    finally:
        for c in conns:
            c.close()


def check_backends(backends, must_have=(), min_backends=1):
    """The statements on every backend: names the pooler chose (PGBOUNCER_<n>),
    each text at most once (shared between clients), at most
    max_prepared_statements; every text of MUST_HAVE on some backend."""
    assert len(backends) >= min_backends, backends
    texts = set()
    for pid, stmts in backends.items():
        names = [n for n, _ in stmts]
        bad = [n for n in names if not re.match(r"^PGBOUNCER_\d+$", n)]
        assert not bad, "backend %d holds statements under the client's names: %r" % (pid, bad[:10])
        assert len(stmts) <= MAX_PREPARED, "backend %d holds %d statements" % (pid, len(stmts))
        dup = sorted({s for _, s in stmts if [x for _, x in stmts].count(s) > 1})
        assert not dup, "backend %d prepared the same text twice: %r" % (pid, dup[:3])
        texts.update(s for _, s in stmts)
    for t in must_have:
        assert t in texts, "%r is prepared on no backend: %r" % (t, sorted(texts)[:20])
    return texts


def pool_stats(p, dbname="postgres"):
    for r in p.show("STATS"):
        if r["database"] == dbname:
            return {k: int(v or 0) for k, v in r.items() if k.startswith("total_")}
    raise AssertionError("no SHOW STATS row for %s" % dbname)


def check_parse_counts(p, min_client_parses, distinct, dbname="postgres", servers=POOL_SIZE):
    """The driver sent named Parses, and the pooler forwarded each distinct
    statement to each server at most once (no eviction at these sizes)."""
    s = pool_stats(p, dbname)
    assert s["total_client_parse_count"] >= min_client_parses, s
    assert 1 <= s["total_server_parse_count"] <= servers * distinct, s
    assert s["total_bind_count"] >= s["total_server_parse_count"], s
    return s


def check_moved(pids_per_client, what):
    """The clients' transactions ran on both backends of the pool, and at
    least one client saw both (its statements moved between servers)."""
    all_pids = set().union(*pids_per_client) if pids_per_client else set()
    assert len(all_pids) >= POOL_SIZE, "%s: backends used %r" % (what, all_pids)
    moved = sum(1 for s in pids_per_client if len(s) > 1)
    assert moved >= 1, "%s: no client's statements moved between servers" % what
    return moved


def run_threads(target, n, timeout=40):
    """Run target(i, start) in N threads; each calls start() once it is
    connected, which returns when all N are (so that they really run at the
    same time and share the pool's servers).  Returns the N results."""
    errors, results = [], [None] * n
    barrier = threading.Barrier(n, timeout=20)

    def wrap(i):
        try:
            results[i] = target(i, barrier.wait)
        except Exception as e:  # noqa: BLE001 - reported below
            barrier.abort()
            errors.append("client %d: %r" % (i, e))

    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + timeout
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in ts)
    assert not stuck, "%d clients still running after %ds" % (stuck, timeout)
    assert not errors, "%d failing clients: %s" % (len(errors), errors[:5])
    return results


@pytest.fixture
def drv_pooler(pooler_factory):
    """Transaction pooling, default_pool_size=2, max_prepared_statements at its default."""
    return pooler_factory(mode="transaction", pool_size=POOL_SIZE)


def test_max_prepared_statements_default(drv_pooler):
    cfg = {r["key"]: r for r in drv_pooler.show("CONFIG")}
    assert cfg["max_prepared_statements"]["value"] == str(MAX_PREPARED), cfg["max_prepared_statements"]
    assert cfg["max_prepared_statements"]["default"] == str(MAX_PREPARED), cfg["max_prepared_statements"]


# ---------------------------------------------------------------------------
# psycopg 3


PG3_SUM = "SELECT $1::int + 1, pg_backend_pid()"
PG3_CAT = "SELECT $1::text || '-pg3', pg_backend_pid()"
CLIENTS = 6
ITER = 30


def _pg3_connect(p, **kw):
    # psycopg.connect itself, not Pooler.connect (which turns auto-prepare off)
    return psycopg.connect(host=HOST, port=p.port, dbname="postgres", user="postgres", connect_timeout=10, **kw)


def _pg3_loop(c, i, start, prepare, commit):
    pids = set()
    start()
    for j in range(ITER):
        v, pid = c.execute("SELECT %s::int + 1, pg_backend_pid()", (i * 1000 + j,), prepare=prepare).fetchone()
        assert v == i * 1000 + j + 1
        pids.add(pid)
        t, pid = c.execute("SELECT %s::text || '-pg3', pg_backend_pid()", ("v%d" % j,), prepare=prepare).fetchone()
        assert t == "v%d-pg3" % j
        pids.add(pid)
        if commit:
            c.commit()
    return pids


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["transaction", "statement"])
def test_psycopg3_prepare_true(pooler_factory, mode):
    p = pooler_factory(mode=mode, pool_size=POOL_SIZE)

    def client(i, start):
        with _pg3_connect(p, autocommit=True) as c:
            return _pg3_loop(c, i, start, prepare=True, commit=False)

    check_moved(run_threads(client, CLIENTS), "psycopg prepare=True")
    check_backends(backend_statements(p), must_have=(PG3_SUM, PG3_CAT), min_backends=POOL_SIZE)
    check_parse_counts(p, min_client_parses=2 * CLIENTS, distinct=2)


@pytest.mark.timeout(60)
def test_psycopg3_default_prepare_threshold(drv_pooler):
    """prepare_threshold left at psycopg's default (5) and autocommit off: the
    sixth execution of a query prepares it (_pg3_N) inside a transaction,
    later transactions Bind it on whichever server they get."""
    p = drv_pooler

    def client(i, start):
        with _pg3_connect(p) as c:
            assert c.prepare_threshold == 5 and not c.autocommit
            return _pg3_loop(c, i, start, prepare=None, commit=True)

    check_moved(run_threads(client, CLIENTS), "psycopg prepare_threshold=5")
    check_backends(backend_statements(p), must_have=(PG3_SUM, PG3_CAT))
    check_parse_counts(p, min_client_parses=2 * CLIENTS, distinct=2)


@pytest.mark.timeout(60)
def test_psycopg3_pipeline(drv_pooler):
    """Pipeline mode: many Parse/Bind/Execute before one Sync, prepared both
    explicitly and by the threshold, from several clients at once."""
    p = drv_pooler

    def client(i, start):
        pids = set()
        with _pg3_connect(p, autocommit=True) as c:
            start()
            for rnd in range(6):
                with c.pipeline():
                    curs = []
                    for j in range(20):
                        k = c.cursor()
                        k.execute("SELECT %s::int * 3, pg_backend_pid()", (j,), prepare=True)
                        k2 = c.cursor()
                        k2.execute("SELECT %s::text || '-pipe', pg_backend_pid()", (str(j),))
                        curs.append((j, k, k2))
                for j, k, k2 in curs:
                    v, pid = k.fetchone()
                    assert v == j * 3
                    t, pid2 = k2.fetchone()
                    assert t == "%d-pipe" % j
                    pids.update((pid, pid2))
        return pids

    check_moved(run_threads(client, CLIENTS), "psycopg pipeline")
    check_backends(backend_statements(p), must_have=("SELECT $1::int * 3, pg_backend_pid()",
                                                     "SELECT $1::text || '-pipe', pg_backend_pid()"))
    check_parse_counts(p, min_client_parses=2 * CLIENTS, distinct=2)


# ---------------------------------------------------------------------------
# psycopg2: the simple protocol, a baseline


@pytest.mark.timeout(60)
def test_psycopg2_simple_protocol_baseline(drv_pooler):
    try:
        import psycopg2
    except ImportError:
        psycopg2 = None
    need(psycopg2 is not None, "psycopg2 is not installed (Debian: python3-psycopg2)")
    p = drv_pooler

    def client(i, start):
        pids = set()
        c = psycopg2.connect(host=HOST, port=p.port, dbname="postgres", user="postgres", connect_timeout=10)
        try:
            cur = c.cursor()
            start()
            for j in range(ITER):
                cur.execute("SELECT %s::int + 1, pg_backend_pid()", (i * 1000 + j,))
                v, pid = cur.fetchone()
                assert v == i * 1000 + j + 1
                pids.add(pid)
                cur.execute("SELECT %s || '-pg2', pg_backend_pid()", ("v%d" % j,))
                t, pid = cur.fetchone()
                assert t == "v%d-pg2" % j
                pids.add(pid)
                c.commit()
        finally:
            c.close()
        return pids

    check_moved(run_threads(client, CLIENTS), "psycopg2")
    # no Parse was ever sent: nothing is prepared anywhere
    backends = backend_statements(p)
    assert all(not s for s in backends.values()), backends
    s = pool_stats(p)
    assert s["total_client_parse_count"] == 0 and s["total_server_parse_count"] == 0, s
    assert s["total_xact_count"] >= CLIENTS * ITER, s


# ---------------------------------------------------------------------------
# asyncpg: its statement cache (statement_cache_size=100) on


@pytest.mark.timeout(60)
def test_asyncpg_statement_cache_1000_queries(drv_pooler):
    try:
        import asyncpg
    except ImportError:
        asyncpg = None
    need(asyncpg is not None, "asyncpg is not installed (Debian: python3-asyncpg)")
    p = drv_pooler
    queries = ["SELECT $1::int + 1 AS v, pg_backend_pid() AS pid",
               "SELECT $1::int * 2 AS v, pg_backend_pid() AS pid",
               "SELECT ($1::int)::text::int - 1 AS v, pg_backend_pid() AS pid"]
    expect = [lambda i: i + 1, lambda i: i * 2, lambda i: i - 1]
    seen = {}  # pooler-side client pid -> backend pids

    async def one(pool, i):
        async with pool.acquire() as con:
            r = await con.fetchrow(queries[i % 3], i)
            if r["v"] != expect[i % 3](i):
                raise AssertionError("query %d returned %r" % (i, r["v"]))
            seen.setdefault(con.get_server_pid(), set()).add(r["pid"])

    async def main():
        pool = await asyncpg.create_pool(host=HOST, port=p.port, user="postgres", database="postgres",
                                         min_size=4, max_size=8, timeout=10, command_timeout=20)
        try:
            res = []
            for start in range(0, 1000, 100):
                res += await asyncio.gather(*(one(pool, i) for i in range(start, start + 100)),
                                            return_exceptions=True)
            return res
        finally:
            await asyncio.wait_for(pool.close(), 10)

    res = asyncio.run(asyncio.wait_for(main(), 45))
    failures = [r for r in res if isinstance(r, BaseException)]
    assert len(res) == 1000
    assert not failures, "%d of 1000 queries failed, e.g. %r" % (len(failures), failures[:3])
    check_moved(list(seen.values()), "asyncpg")
    check_backends(backend_statements(p), must_have=queries)
    # each pool connection Parses each query once (its cache keeps them)
    check_parse_counts(p, min_client_parses=len(queries), distinct=len(queries))


# ---------------------------------------------------------------------------
# pgjdbc: prepareThreshold=5, names S_1, S_2, ... on every connection


JAR = "/usr/share/java/postgresql.jar"


@pytest.mark.timeout(90)
def test_pgjdbc_prepare_threshold(drv_pooler, tmp_path):
    javac, java = shutil.which("javac"), shutil.which("java")
    need(javac and java, "no javac/java (Debian: default-jdk-headless)")
    need(os.path.exists(JAR), "%s missing (Debian: libpostgresql-jdbc-java)" % JAR)
    src = os.path.join(DRIVERS_DIR, "PgjdbcPrepared.java")
    out = subprocess.run([javac, "-nowarn", "-cp", JAR, "-d", str(tmp_path), src], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert out.returncode == 0, out.stdout.decode(errors="replace")
    p = drv_pooler
    url = "jdbc:postgresql://%s:%d/postgres" % (HOST, p.port)
    threads, iterations = CLIENTS, ITER
    run = subprocess.run([java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m",
                          "-cp", JAR + os.pathsep + str(tmp_path), "PgjdbcPrepared",
                          url, "postgres", str(threads), str(iterations)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    text = run.stdout.decode(errors="replace")
    m = re.search(r"^RESULT ok=(\d+) failed=(\d+) pids=(\d+) moved=(\d+) serverprepared=(\d+)", text, re.M)
    assert m, text[-4000:]
    ok, failed, pids, moved, server_prepared = map(int, m.groups())
    assert failed == 0 and run.returncode == 0, text[-4000:]
    assert ok == threads * iterations, text[-4000:]
    assert pids >= POOL_SIZE and moved >= 1, text[-4000:]
    # past prepareThreshold every statement is a named server-side one
    assert server_prepared == 2 * threads, text[-4000:]
    check_backends(backend_statements(p), must_have=("SELECT $1::int + 1, pg_backend_pid()",
                                                     "SELECT $1::text || '-jdbc', pg_backend_pid()"))
    check_parse_counts(p, min_client_parses=2 * threads, distinct=2)


# ---------------------------------------------------------------------------
# node-postgres: named statements


NODE_PG_SPEC = "pg@8"


def _node_pg_path():
    """A NODE_PATH holding the npm package pg: tests/drivers/node_modules if
    someone installed it there, else a cache dir (installed once with npm).
    Skips when node/npm or the npm registry is not reachable."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        pytest.skip("node is not installed")
    local = os.path.join(DRIVERS_DIR, "node_modules")
    if os.path.exists(os.path.join(local, "pg", "package.json")):
        return node, local
    cache = os.environ.get("PGSWITCH_NODE_CACHE") or os.path.join(tempfile.gettempdir(), "pgswitch-node-cache")
    mods = os.path.join(cache, "node_modules")
    if os.path.exists(os.path.join(mods, "pg", "package.json")):
        return node, mods
    if not npm:
        pytest.skip("npm is not installed (node-postgres comes from the npm registry)")
    os.makedirs(cache, exist_ok=True)
    stage = tempfile.mkdtemp(prefix="npm-", dir=cache)
    try:
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--no-package-lock",
                            "--loglevel=error", "--prefix", stage, NODE_PG_SPEC],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0 or not os.path.exists(os.path.join(stage, "node_modules", "pg", "package.json")):
            pytest.skip("npm install %s failed (no network / registry?): %s"
                        % (NODE_PG_SPEC, r.stdout.decode(errors="replace")[-800:]))
        try:
            os.rename(os.path.join(stage, "node_modules"), mods)
        except OSError:
            if not os.path.exists(os.path.join(mods, "pg", "package.json")):  # not a concurrent install
                raise
    except subprocess.TimeoutExpired:
        pytest.skip("npm install %s timed out (no network / registry?)" % NODE_PG_SPEC)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return node, mods


@pytest.mark.timeout(150)
def test_node_postgres_named_statements(drv_pooler):
    node, node_path = _node_pg_path()
    p = drv_pooler
    clients, iterations = CLIENTS, ITER
    run = subprocess.run([node, os.path.join(DRIVERS_DIR, "node_pg.js"), str(p.port), str(clients), str(iterations)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=70,
                         env=dict(os.environ, NODE_PATH=node_path))
    text = run.stdout.decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    assert lines, text[-4000:]
    res = json.loads(lines[-1])
    assert res["failed"] == 0 and run.returncode == 0, text[-4000:]
    assert res["ok"] == (clients + 4) * iterations, res
    assert res["pids"] >= POOL_SIZE and res["moved"] >= 1, res
    check_backends(backend_statements(p), must_have=("SELECT $1::int + 1 AS v, pg_backend_pid() AS pid",
                                                     "SELECT $1::text || '-node' AS v, pg_backend_pid() AS pid"))
    check_parse_counts(p, min_client_parses=2 * clients, distinct=2)


# ---------------------------------------------------------------------------
# pgbench -M prepared


def _pgbench(args, port, timeout):
    cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(port), "-U", "postgres"] + args
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, env=dict(os.environ, PGCONNECT_TIMEOUT="10"))


@pytest.fixture(scope="module")
def drv_bench_db(pg):
    with pg.connect() as c:
        c.execute("DROP DATABASE IF EXISTS drvbench")
        c.execute("CREATE DATABASE drvbench")
    r = _pgbench(["-i", "-s", "1", "-q", "drvbench"], pg.port, timeout=120)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    return "drvbench"


# pgbench -M prepared prepares a client's statements with a blocking
# PQprepare() when the client first runs the script, while the same thread's
# other clients may sit in open transactions, each holding one of the pool's
# servers that only this thread can release: with -j 2 and the builtin
# tpcb-like script (BEGIN ... END) on 2 servers the run deadlocks in pgbench
# itself, with PgBouncer as with any transaction pooler.  So the tpcb-like
# script runs with a thread per client (-j 50), and -j 2 runs the builtin
# select-only script (no transaction spans two commands).
@pytest.mark.timeout(90)
@pytest.mark.parametrize("script,threads,per_client", [("select-only", 2, 40), ("tpcb-like", 50, 20)],
                         ids=["select-only-j2", "tpcb-like-j50"])
def test_pgbench_prepared(pg, drv_bench_db, pooler_factory, script, threads, per_client):
    p = pooler_factory(mode="transaction", pool_size=POOL_SIZE,
                       databases={drv_bench_db: "host=%s port=%d dbname=%s" % (HOST, pg.port, drv_bench_db)})
    clients = 50
    r = _pgbench(["-M", "prepared", "-b", script, "-c", str(clients), "-j", str(threads),
                  "-t", str(per_client), "-n", drv_bench_db], p.port, timeout=60)
    text = r.stdout.decode(errors="replace")
    assert r.returncode == 0, text[-4000:]
    assert "aborted" not in text.lower(), text[-4000:]
    assert re.search(r"^number of failed transactions: 0 \(", text, re.M), text[-4000:]
    total = clients * per_client
    assert re.search(r"^number of transactions actually processed: %d/%d$" % (total, total), text, re.M), \
        text[-4000:]
    # the pooler's statements are on both backends: its names (not pgbench's
    # P_<n>), each text once although 50 clients prepared it
    backends = backend_statements(p, dbname=drv_bench_db)
    texts = check_backends(backends, min_backends=POOL_SIZE)
    assert all(stmts for stmts in backends.values()), backends
    assert any("pgbench_accounts" in t for t in texts), texts
    # SHOW SERVERS agrees with the backends
    counts = {int(row["remote_pid"]): int(row["prepared_statements"]) for row in p.show("SERVERS")
              if row["database"] == drv_bench_db}
    assert counts == {pid: len(s) for pid, s in backends.items()}, (counts, backends)
    # 50 clients Parse every statement, the servers prepare each text once
    check_parse_counts(p, min_client_parses=clients * len(texts), distinct=len(texts), dbname=drv_bench_db)
    if script == "tpcb-like":
        # pgbench's balances still add up
        with p.connect(dbname=drv_bench_db) as c:
            a, t, b = c.execute("SELECT (SELECT sum(abalance) FROM pgbench_accounts), "
                                "(SELECT sum(tbalance) FROM pgbench_tellers), "
                                "(SELECT sum(bbalance) FROM pgbench_branches)").fetchone()
            assert a == t == b


# ---------------------------------------------------------------------------
# exact protocol


def test_statement_follows_client_to_another_server(drv_pooler):
    """A statement Parsed on server X and Bound while X is busy runs on Y: the
    pooler prepares it there first and swallows that ParseComplete."""
    p = drv_pooler
    a = raw_client(p)
    holders = [p.connect(), p.connect()]
    try:
        a.send(m_parse("stmt_a", "SELECT pg_backend_pid()::text || '/' || $1::text") + m_bind("stmt_a", ["x"])
               + m_execute() + SYNC)
        r = until_ready(a)
        assert types(r) == "12DCZ", r
        pid_x = int(datarow_values(r)[0][0].split("/")[0])
        # hold both servers, release the one that is not X
        pids = []
        for h in holders:
            simple_query(h, "BEGIN")
            pids.append(int(simple_query(h, "SELECT pg_backend_pid()")[1][0][0]))
        assert pid_x in pids and len(set(pids)) == 2, (pid_x, pids)
        simple_query(holders[pids.index(pid_x) ^ 1], "COMMIT")
        a.send(m_describe("stmt_a") + m_bind("stmt_a", ["y"]) + m_execute() + SYNC)
        r = until_ready(a)
        assert types(r) == "tT2DCZ", r
        pid, val = datarow_values(r)[0][0].split("/")
        assert int(pid) != pid_x and val == "y", r
        simple_query(holders[pids.index(pid_x)], "COMMIT")
    finally:
        a.close()
        for h in holders:
            h.close()


def test_same_name_in_different_clients(pooler_factory):
    """Two clients use the same statement name for different texts on one
    server (pgjdbc's S_1 on every connection): each gets its own."""
    p = pooler_factory(mode="transaction", pool_size=1)
    a, b = raw_client(p), raw_client(p)
    try:
        a.send(m_parse("S_1", "SELECT 'from a ' || $1::text") + SYNC)
        assert types(until_ready(a)) == "1Z"
        b.send(m_parse("S_1", "SELECT 'from b ' || $1::text") + SYNC)
        assert types(until_ready(b)) == "1Z"
        for i in range(5):
            for rc, who in ((a, "a"), (b, "b")):
                rc.send(m_bind("S_1", [i]) + m_execute() + SYNC)
                r = until_ready(rc)
                assert types(r) == "2DCZ", r
                assert datarow_values(r) == [["from %s %d" % (who, i)]]
        # the unnamed statement still passes through between them
        a.send(m_parse("", "SELECT 42") + m_bind("") + m_execute() + SYNC)
        assert datarow_values(until_ready(a)) == [["42"]]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("first", ["bind", "describe"])
def test_unknown_statement_is_fatal(drv_pooler, first):
    p = drv_pooler
    other = raw_client(p)
    rc = raw_client(p)
    try:
        other.send(m_parse("keep", "SELECT 'kept'") + SYNC)
        assert types(until_ready(other)) == "1Z"
        msg = m_bind("never_parsed") + m_execute() if first == "bind" else m_describe("never_parsed")
        rc.send(msg + SYNC)
        assert_closed_with(rc, "08P01", "prepared statement did not exist")
        wait_log(p, "prepared statement 'never_parsed' not found")
        # other clients and their statements are fine
        other.send(m_bind("keep") + m_execute() + SYNC)
        assert datarow_values(until_ready(other)) == [["kept"]]
    finally:
        rc.close()
        other.close()


def test_parse_of_a_name_already_prepared_closes_the_client(drv_pooler):
    p = drv_pooler
    rc = raw_client(p)
    other = raw_client(p)
    try:
        rc.send(m_parse("dup", "SELECT 1") + SYNC)
        assert types(until_ready(rc)) == "1Z"
        rc.send(m_parse("dup", "SELECT 2") + SYNC)
        assert_closed_with(rc, "08P01", "prepared statement name is already in use")
        wait_log(p, "prepared statement 'dup' was already prepared")
        # the name is per client: another client may use it
        other.send(m_parse("dup", "SELECT 'other'") + m_bind("dup") + m_execute() + SYNC)
        r = until_ready(other)
        assert types(r) == "12DCZ" and datarow_values(r) == [["other"]], r
    finally:
        rc.close()
        other.close()


def test_close_unknown_and_known_statements(drv_pooler):
    p = drv_pooler
    rc = raw_client(p)
    try:
        # Close of a name never prepared: CloseComplete, no error
        rc.send(m_close("nobody") + SYNC)
        assert types(until_ready(rc)) == "3Z"
        # Close of a real one frees the name for a new text
        rc.send(m_parse("s", "SELECT 'one'") + m_bind("s") + m_execute() + m_close("s") + SYNC)
        r = until_ready(rc)
        assert types(r) == "12DC3Z" and datarow_values(r) == [["one"]], r
        rc.send(m_parse("s", "SELECT 'two'") + m_bind("s") + m_execute() + SYNC)
        r = until_ready(rc)
        assert types(r) == "12DCZ" and datarow_values(r) == [["two"]], r
        rc.send(m_query("SELECT 'still here'"))
        assert datarow_values(until_ready(rc)) == [["still here"]]
    finally:
        rc.close()


@pytest.mark.timeout(60)
def test_10000_statement_names_one_client(pooler_factory):
    """10,000 distinct statements from one client on one server: all work,
    the server keeps at most max_prepared_statements (evicted ones are
    re-prepared when Bound again)."""
    p = pooler_factory(mode="transaction", pool_size=1)
    rc = raw_client(p)
    try:
        n, batch = 10000, 250
        for start in range(0, n, batch):
            rc.send(b"".join(m_parse("s%d" % i, "SELECT %d::int AS v" % i) + m_bind("s%d" % i) + m_execute()
                             for i in range(start, start + batch)) + SYNC)
            r = until_ready(rc)
            assert not errors_in(r), errors_in(r)[:3]
            assert types(r) == "12DC" * batch + "Z", types(r)[:40]
            assert [v[0] for v in datarow_values(r)] == [str(i) for i in range(start, start + batch)]
        # the oldest (long evicted) and the newest still work
        rc.send(b"".join(m_bind("s%d" % i) + m_execute() for i in (0, 1, 2, 5000, n - 1)) + SYNC)
        r = until_ready(rc)
        assert types(r) == "2DC" * 5 + "Z", r
        assert [v[0] for v in datarow_values(r)] == ["0", "1", "2", "5000", str(n - 1)]
        rc.send(m_query("SELECT count(*), count(*) FILTER (WHERE name !~ '^PGBOUNCER_') "
                        "FROM pg_prepared_statements"))
        (count, foreign), = datarow_values(until_ready(rc))
        assert 0 < int(count) <= MAX_PREPARED and int(foreign) == 0, (count, foreign)
        servers = [row for row in p.show("SERVERS") if row["database"] == "postgres"]
        assert len(servers) == 1 and int(servers[0]["prepared_statements"]) == int(count), servers
        port = rc.sock.getsockname()[1]
        me = [row for row in p.show("CLIENTS") if int(row["port"]) == port]
        assert len(me) == 1 and int(me[0]["prepared_statements"]) == n, me
    finally:
        rc.close()


def test_parse_larger_than_max_packet_size(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=POOL_SIZE, extra={"max_packet_size": 65536})
    other = raw_client(p)
    rc = raw_client(p)
    try:
        other.send(m_parse("before", "SELECT 'before'") + SYNC)
        assert types(until_ready(other)) == "1Z"
        # a Parse bigger than the pooler's buffers but within max_packet_size works
        mid = "SELECT length('%s')" % ("m" * 40000)
        rc.send(m_parse("mid", mid) + m_bind("mid") + m_execute() + SYNC)
        r = until_ready(rc)
        assert types(r) == "12DCZ" and datarow_values(r) == [["40000"]], types(r)
        try:
            rc.send(m_parse("big", "SELECT length('%s')" % ("x" * 200000)) + m_bind("big") + m_execute() + SYNC)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert_closed_with(rc, "08P01", None)
        assert p.alive(), p.log_text()[-3000:]
        other.send(m_bind("before") + m_execute() + SYNC)
        assert datarow_values(until_ready(other)) == [["before"]]
        with p.connect() as c:
            assert c.execute("SELECT 'alive'").fetchone() == ("alive",)
    finally:
        rc.close()
        other.close()


@pytest.mark.parametrize("command", ["DISCARD ALL", "DEALLOCATE ALL"])
def test_discard_all_clears_the_clients_statements(pooler_factory, command):
    p = pooler_factory(mode="transaction", pool_size=1)
    rc, b = raw_client(p), raw_client(p)
    try:
        b.send(m_parse("b1", "SELECT 'b'") + SYNC)
        assert types(until_ready(b)) == "1Z"
        rc.send(m_parse("s1", "SELECT 1") + m_parse("s2", "SELECT 'two'") + SYNC)
        assert types(until_ready(rc)) == "11Z"
        rc.send(m_query(command))
        r = until_ready(rc)
        assert types(r) == "CZ" and r[0][1] == command.encode() + b"\0", r
        # the names are free again ...
        rc.send(m_parse("s1", "SELECT 2") + m_bind("s1") + m_execute() + SYNC)
        r = until_ready(rc)
        assert types(r) == "12DCZ" and datarow_values(r) == [["2"]], r
        # ... another client's statement on the same server is prepared again ...
        b.send(m_bind("b1") + m_execute() + SYNC)
        r = until_ready(b)
        assert types(r) == "2DCZ" and datarow_values(r) == [["b"]], r
        # ... and the forgotten name is unknown
        rc.send(m_bind("s2") + m_execute() + SYNC)
        assert_closed_with(rc, "08P01", "prepared statement did not exist")
    finally:
        rc.close()
        b.close()
