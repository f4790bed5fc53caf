"""SWITCHOVER db TO '...' WITH (mode = 'logical') and SWITCHOVER db
ROLLBACK: the blue/green cutover over logical replication, against two
real PostgreSQL 15 clusters (BLUE: the database's [databases] target;
GREEN: a subscriber made by BLUEGREEN PREPARE, or by hand as the runbooks
do). Writers run through the pooler in transaction mode during every
switch and must see no error; every committed row must be on the side
that takes over, every sequence above every value used, and the reverse
replication must carry writes back for a rollback.
"""

import os
import signal
import threading
import time

import psycopg
import pytest

from harness import HOST, PgServer, dict_rows, simple_query, wait_until

pytestmark = pytest.mark.pgswitch_only(reason="the logical SWITCHOVER is a pgswitch feature")

DB = "app"
SCHEMA = [
    "CREATE TABLE ledger (id bigserial PRIMARY KEY, v int, at timestamptz DEFAULT now())",
    "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL)",
    "INSERT INTO acct SELECT g, 0 FROM generate_series(1, 50) g",
]


def sql(server, text):
    return server.execute(text, dbname=DB)


def cleanup(blue, green):
    """Subscriptions (detached first, so nothing reaches for a slot), then
    publications and slots: nothing of a test's is left on either side.
    The side a switch left fenced is made writable first."""
    for side in (blue, green):
        side.execute("ALTER SYSTEM RESET default_transaction_read_only")
        side.execute("SELECT pg_reload_conf()")
    for side in (blue, green):
        wait_until(lambda side=side: sql(side, "SHOW default_transaction_read_only") == [("off",)],
                   timeout=10, what="writable again")
    for side in (blue, green):
        for name, enabled in sql(side, "SELECT subname, subenabled FROM pg_subscription"):
            if enabled:
                sql(side, 'ALTER SUBSCRIPTION "%s" DISABLE' % name)
            sql(side, 'ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % name)
            sql(side, 'DROP SUBSCRIPTION "%s"' % name)
    for side in (blue, green):
        for (name,) in sql(side, "SELECT pubname FROM pg_publication"):
            sql(side, 'DROP PUBLICATION "%s"' % name)

        def slots_gone(side=side):
            for (name,) in sql(side, "SELECT slot_name FROM pg_replication_slots WHERE NOT active"):
                sql(side, "SELECT pg_drop_replication_slot('%s')" % name)
            return not sql(side, "SELECT 1 FROM pg_replication_slots")

        wait_until(slots_gone, timeout=15, what="no slot left")


class Pair:
    def __init__(self, blue, green, pooler):
        self.blue, self.green, self.pooler = blue, green, pooler

    def ci(self, side):
        return "host=%s port=%d dbname=%s" % (HOST, side.port, DB)

    def admin(self, text):
        with self.pooler.admin() as c:
            cols, rows = simple_query(c, text)
            return cols, dict_rows(cols, rows)

    def switch(self, side, opts="mode = 'logical'"):
        return self.admin("SWITCHOVER %s TO '%s' WITH (%s)" % (DB, self.ci(side), opts))[1]

    def rollback(self):
        return self.admin("SWITCHOVER %s ROLLBACK" % DB)[1]

    def serving_port(self, db=DB):
        with self.pooler.connect(dbname=db) as c:
            return c.execute("SELECT inet_server_port()").fetchone()[0]


def subscribe_by_hand(blue, green):
    """The runbook's own publication and subscription (bench/bluegreen-load.sh)."""
    sql(blue, "CREATE PUBLICATION app_pub FOR ALL TABLES")
    sql(green, "CREATE SUBSCRIPTION app_sub CONNECTION 'host=%s port=%d dbname=%s user=postgres' "
        "PUBLICATION app_pub WITH (copy_data = true, slot_name = 'app_sub_slot')"
        % (HOST, blue.port, DB))


def synced(green):
    wait_until(lambda: sql(green, "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")
               == [(0,)] and sql(green, "SELECT count(*) FROM pg_subscription_rel") != [(0,)],
               timeout=30, what="every table synchronized")


@pytest.fixture
def pair(pooler_factory):
    made = []
    # The launcher starts an apply worker at most once per
    # wal_retrieve_retry_interval (5 s by default): back-and-forth
    # switching re-enables subscriptions seconds apart.
    conf = "wal_level = logical\nwal_retrieve_retry_interval = '500ms'"
    blue = PgServer("lg-blue", conf=conf)
    made.append(blue)
    blue.start()
    green = PgServer("lg-green", conf=conf)
    made.append(green)
    green.start()
    for s in (blue, green):
        s.execute("CREATE DATABASE %s" % DB)
        for stmt in SCHEMA if s is blue else SCHEMA[:2]:
            sql(s, stmt)
    pooler = pooler_factory(pg_server=blue, mode="transaction", pool_size=8,
                            databases={DB: "host=%s port=%d dbname=%s" % (HOST, blue.port, DB),
                                       "app_ro": "host=%s port=%d dbname=%s" % (HOST, blue.port, DB)})
    p = Pair(blue, green, pooler)
    try:
        yield p
    finally:
        try:
            cleanup(blue, green)
        finally:
            for s in reversed(made):
                s.cleanup()


class Writers:
    """N pooled clients, each committing a ledger row and an account
    update per transaction; every committed ledger id is kept."""

    def __init__(self, pooler, n=4):
        self.pooler = pooler
        self.halt = threading.Event()
        self.errors, self.ids = [], []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]

    def run(self, i):
        c = self.pooler.connect(dbname=DB)
        try:
            while not self.halt.is_set():
                try:
                    with c.transaction():
                        rid = c.execute("INSERT INTO ledger (v) VALUES (%s) RETURNING id", (i,)).fetchone()[0]
                        c.execute("UPDATE acct SET bal = bal + 1 WHERE id = %s", (i + 1,))
                    with self.lock:
                        self.ids.append(rid)
                except Exception as e:  # noqa: BLE001 - collected
                    self.errors.append(repr(e))
                    time.sleep(0.05)
                time.sleep(0.002)
        finally:
            c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.halt.set()
        for t in self.threads:
            t.join(15)

    def count(self):
        with self.lock:
            return len(self.ids)


def assert_all_rows_on(side, ids):
    got = {r[0] for r in sql(side, "SELECT id FROM ledger")}
    missing = set(ids) - got
    assert not missing, "%d committed row(s) missing, e.g. %s" % (len(missing), sorted(missing)[:5])
    assert sql(side, "SELECT count(*) - count(DISTINCT id) FROM ledger") == [(0,)]


def assert_sequence_ahead(side, ids):
    nxt = sql(side, "SELECT nextval('ledger_id_seq')")[0][0]
    assert nxt > max(ids), (nxt, max(ids))


def report(rows):
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.timeout(180)
def test_prepare_switch_rollback_and_back_under_writes(pair):
    p = pair
    p.admin("BLUEGREEN %s PREPARE TO '%s'" % (DB, p.ci(p.green)))
    synced(p.green)
    with Writers(p.pooler) as w:
        before = w.count()
        r = report(p.switch(p.green))
        assert r["result"] == "switched", r
        assert r["errors_returned"] == "0", r
        assert "handover=" in r["phases"] and "catchup=" in r["phases"], r
        assert p.serving_port() == p.green.port
        time.sleep(0.5)
        assert w.count() > before
        mid = w.count()
        wait_until(lambda: p.admin("SHOW BLUEGREEN %s" % DB)[1][0]["state"] == "switched",
                   timeout=5, what="SHOW BLUEGREEN says switched")
        # writes made on GREEN reach BLUE over the reverse replication
        wait_until(lambda: sql(p.blue, "SELECT count(*) FROM ledger")[0][0] >= mid,
                   timeout=15, what="reverse replication carries GREEN's writes to BLUE")
        r = report(p.rollback())
        assert r["result"] == "switched", r
        assert p.serving_port() == p.blue.port
        time.sleep(0.5)
        # and forward again, over the subscription the first switch left
        r = report(p.switch(p.green))
        assert r["result"] == "switched", r
        time.sleep(0.3)
    assert w.errors == [], w.errors[:5]
    assert p.serving_port() == p.green.port
    assert_all_rows_on(p.green, w.ids)
    assert_sequence_ahead(p.green, w.ids)
    wait_until(lambda: sql(p.blue, "SELECT count(*) FROM ledger")[0][0] == len(w.ids),
               timeout=15, what="BLUE current over the reverse replication")
    assert_all_rows_on(p.blue, w.ids)
    # one slot per direction in use, none left behind
    slots = sql(p.blue, "SELECT slot_name FROM pg_replication_slots") + \
        sql(p.green, "SELECT slot_name FROM pg_replication_slots")
    assert len(slots) == 1, slots
    log = p.pooler.log_text()
    assert "(logical, timeout" in log
    # FINISH ends the rollback window: nothing of ours left on either side
    _, rows = p.admin("BLUEGREEN %s FINISH" % DB)
    assert "subscription pgswitch_rev_app" in rows[0]["result"], rows
    assert_nothing_left(p)
    assert p.serving_port() == p.green.port


def assert_nothing_left(p):
    for side in (p.blue, p.green):
        assert sql(side, "SELECT subname FROM pg_subscription") == []
        assert sql(side, "SELECT pubname FROM pg_publication") == []
        wait_until(lambda side=side: sql(side, "SELECT slot_name FROM pg_replication_slots") == [],
                   timeout=10, what="no slot left")


def test_finish_right_after_prepare(pair):
    """FINISH with no switch: PREPARE's publication, subscription and slot
    go; SHOW BLUEGREEN forgets it; traffic stays on BLUE."""
    p = pair
    p.admin("BLUEGREEN %s PREPARE TO '%s'" % (DB, p.ci(p.green)))
    synced(p.green)
    _, rows = p.admin("BLUEGREEN %s FINISH" % DB)
    r = rows[0]["result"]
    assert "subscription pgswitch_app" in r and "publication pgswitch_app" in r, r
    assert_nothing_left(p)
    assert p.admin("SHOW BLUEGREEN %s" % DB)[1] == []
    assert p.serving_port() == p.blue.port


def test_finish_after_hand_made_switch_needs_no_name(pair):
    """After a logical switch over the runbook's own subscription, FINISH
    knows the other side from that switch; the runbook's publication is
    the operator's and stays."""
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    assert report(p.switch(p.green))["result"] == "switched"
    _, rows = p.admin("BLUEGREEN %s FINISH" % DB)
    r = rows[0]["result"]
    assert "subscription app_sub" in r and "subscription pgswitch_rev_app" in r, r
    assert sql(p.green, "SELECT count(*) FROM pg_subscription") == [(0,)]
    assert sql(p.blue, "SELECT count(*) FROM pg_subscription") == [(0,)]
    assert sql(p.green, "SELECT count(*) FROM pg_publication") == [(0,)]
    assert sql(p.blue, "SELECT pubname FROM pg_publication") == [("app_pub",)]
    for side in (p.blue, p.green):
        wait_until(lambda side=side: sql(side, "SELECT slot_name FROM pg_replication_slots") == [],
                   timeout=10, what="no slot left")


@pytest.mark.timeout(120)
def test_hand_made_subscription_switch(pair):
    """The runbook's own publication and subscription, found on GREEN
    (no subscription = '...' needed when it is the only one)."""
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    sql(p.blue, "INSERT INTO ledger (v) SELECT g FROM generate_series(1, 100) g")
    with Writers(p.pooler, n=2) as w:
        r = report(p.switch(p.green))
    assert r["result"] == "switched", r
    assert w.errors == [], w.errors[:5]
    assert_all_rows_on(p.green, w.ids)
    assert_sequence_ahead(p.green, w.ids)
    # the runbook's subscription is disabled and detached, its slot gone
    assert sql(p.green, "SELECT subenabled, subslotname FROM pg_subscription WHERE subname = 'app_sub'") \
        == [(False, None)]
    wait_until(lambda: not sql(p.blue, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'app_sub_slot'"),
               timeout=10, what="the forward slot dropped")


def test_refused_without_a_subscription(pair):
    p = pair
    with pytest.raises(psycopg.Error) as e:
        p.switch(p.green)
    assert "no enabled subscription" in str(e.value)
    assert p.serving_port() == p.blue.port


def test_refused_sequence_past_maxvalue(pair):
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    sql(p.blue, "INSERT INTO ledger (v) SELECT g FROM generate_series(1, 20) g")
    sql(p.green, "ALTER SEQUENCE ledger_id_seq MAXVALUE 10")
    with pytest.raises(psycopg.Error) as e:
        p.switch(p.green)
    assert "ledger_id_seq (20 outside 1..10)" in str(e.value)
    assert p.serving_port() == p.blue.port
    sql(p.blue, "INSERT INTO ledger (v) VALUES (1)")  # not fenced


def test_refused_long_transaction_names_pid(pair):
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    with psycopg.connect(host=HOST, port=p.blue.port, dbname=DB, user="postgres",
                         application_name="long-report") as c:
        c.execute("BEGIN")
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.execute("SELECT txid_current()")
        time.sleep(0.3)
        with pytest.raises(psycopg.Error) as e:
            p.switch(p.green, "mode = 'logical', max_xact_age = '100ms'")
        c.execute("ROLLBACK")
    assert "pid %d" % pid in str(e.value) and "long-report" in str(e.value)


@pytest.mark.timeout(90)
def test_deadline_expiry_resumes_on_blue(pair):
    """GREEN's apply worker is stuck behind a row lock: catch-up never reaches
    the fence, the deadline resumes everything on BLUE, unfenced, and
    the subscription stays as it was."""
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    lock = psycopg.connect(host=HOST, port=p.green.port, dbname=DB, user="postgres")
    lock.execute("BEGIN")
    # a row lock: the apply worker waits, DDL on the table does not
    lock.execute("SELECT * FROM acct WHERE id = 1 FOR UPDATE")
    sql(p.blue, "UPDATE acct SET bal = bal + 1 WHERE id = 1")
    with Writers(p.pooler, n=2) as w:
        with pytest.raises(psycopg.Error) as e:
            p.switch(p.green, "mode = 'logical', timeout = '1500ms'")
    lock.execute("ROLLBACK")
    lock.close()
    assert "did not apply" in str(e.value), str(e.value)
    assert w.errors == [], w.errors[:5]
    assert p.serving_port() == p.blue.port
    assert sql(p.blue, "SHOW default_transaction_read_only") == [("off",)]
    assert sql(p.green, "SELECT subenabled, subslotname FROM pg_subscription") == [(True, "app_sub_slot")]
    # no reverse slot left behind on GREEN
    assert sql(p.green, "SELECT slot_name FROM pg_replication_slots") == []


@pytest.mark.timeout(90)
def test_kill9_mid_freeze_fence_reported_and_liftable(pair):
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    lock = psycopg.connect(host=HOST, port=p.green.port, dbname=DB, user="postgres")
    lock.execute("BEGIN")
    # a row lock: the apply worker waits, DDL on the table does not
    lock.execute("SELECT * FROM acct WHERE id = 1 FOR UPDATE")
    sql(p.blue, "UPDATE acct SET bal = bal + 1 WHERE id = 1")
    out = {}

    def run():
        try:
            out["rows"] = p.switch(p.green, "mode = 'logical', timeout = '20s'")
        except Exception as e:  # noqa: BLE001 - inspected
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_until(lambda: any(r["state"] == "catchup" for r in p.admin("SHOW SWITCHOVER")[1])
               or out, timeout=10, interval=0.01, what="SHOW SWITCHOVER state catchup")
    assert not out, out
    os.kill(p.pooler.pid, signal.SIGKILL)
    p.pooler.proc.wait(10)
    t.join(10)
    lock.execute("ROLLBACK")
    lock.close()
    p.pooler.stop()
    p.pooler.start()
    left = [r for r in p.admin("SHOW SWITCHOVER")[1] if r["state"] == "fenced"]
    assert len(left) == 1, left
    assert sql(p.blue, "SHOW default_transaction_read_only") == [("on",)]
    _, rows = p.admin("SWITCHOVER %s ABORT" % DB)
    assert rows and rows[0]["result"] == "fence lifted", rows
    wait_until(lambda: sql(p.blue, "SHOW default_transaction_read_only") == [("off",)],
               timeout=5, what="fence lifted")
    assert p.serving_port() == p.blue.port


@pytest.mark.timeout(120)
def test_reads_first_then_writes(pair):
    """Seed 002's order: the read-only entry moves first (no fence, the
    subscription keeps feeding GREEN), then the writes."""
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    with Writers(p.pooler, n=2) as w:
        _, rows = p.admin("SWITCHOVER app_ro TO '%s' WITH (mode = 'logical', traffic = 'read')"
                          % p.ci(p.green))
        r = report(rows)
        assert r["result"] == "switched", r
        assert "fence=" not in r["phases"] and "handover=" not in r["phases"], r
        assert p.serving_port("app_ro") == p.green.port
        assert p.serving_port() == p.blue.port
        assert sql(p.blue, "SHOW default_transaction_read_only") == [("off",)]
        assert sql(p.green, "SELECT subenabled FROM pg_subscription") == [(True,)]
        # what the writers commit on BLUE is read on GREEN through app_ro
        n = w.count()
        with p.pooler.connect(dbname="app_ro") as ro:
            wait_until(lambda: ro.execute("SELECT count(*) FROM ledger").fetchone()[0] >= n,
                       timeout=10, what="reads on GREEN see BLUE's writes")
        r = report(p.switch(p.green))
        assert r["result"] == "switched", r
    assert w.errors == [], w.errors[:5]
    assert p.serving_port() == p.green.port
    assert_all_rows_on(p.green, w.ids)


def shadow(p):
    rows = p.admin("SHOW SHADOW %s" % DB)[1]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.timeout(120)
def test_shadow_reads_count_a_planted_difference(pair):
    """1 in 1 read-only query also runs on GREEN: equal results match; a
    row changed on GREEN only is a mismatch; a table GREEN lacks is an
    error there; the client always gets BLUE's result; writes are never
    sampled; a switchover asking for clean shadow reads is refused."""
    p = pair
    subscribe_by_hand(p.blue, p.green)
    synced(p.green)
    p.admin("BLUEGREEN %s SHADOW 1 '%s'" % (DB, p.ci(p.green)))
    q = "SELECT id, bal FROM acct ORDER BY id"
    with p.pooler.connect(dbname=DB) as c:
        for _ in range(10):
            assert len(c.execute(q).fetchall()) == 50
        c.execute("UPDATE acct SET bal = bal + 0 WHERE id = 1")  # not sampled
    wait_until(lambda: shadow(p)["matched"] == "10", timeout=10, what="10 shadow reads matched")
    r = shadow(p)
    assert r["sampled"] == "10" and r["mismatched"] == "0" and r["errors"] == "0", r
    assert r["target"] == "%s:%d" % (HOST, p.green.port), r

    sql(p.green, "UPDATE acct SET bal = 999 WHERE id = 7")
    sql(p.blue, "CREATE TABLE only_blue (x int)")
    with p.pooler.connect(dbname=DB) as c:
        rows = c.execute(q).fetchall()
        assert (7, 999) not in rows  # BLUE's answer, not the shadow's
        assert c.execute("SELECT count(*) FROM only_blue").fetchone()[0] == 0
    wait_until(lambda: shadow(p)["mismatched"] == "1" and shadow(p)["errors"] == "1",
               timeout=10, what="one mismatch and one error counted")
    r = shadow(p)
    assert "FROM acct" in r["last_mismatch"], r
    assert "only_blue" in r["last_error"], r
    with pytest.raises(psycopg.Error) as e:
        p.switch(p.green, "mode = 'logical', min_shadow_reads = '5'")
    assert "mismatch" in str(e.value), str(e.value)
    assert p.serving_port() == p.blue.port
    p.admin("BLUEGREEN %s SHADOW 0" % DB)
    before = shadow(p)["sampled"]
    with p.pooler.connect(dbname=DB) as c:
        c.execute(q)
    assert shadow(p)["sampled"] == before
