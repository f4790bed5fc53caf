"""BLUEGREEN db PREPARE TO 'conninfo' [WITH (...)] and SHOW BLUEGREEN [db]:
the logical (blue/green) switchover's first step, against two real
PostgreSQL 15 clusters started per test: the old side (the database's
[databases] target, wal_level = logical unless a test says otherwise) and
the new side (an empty cluster).

Every test drops what PREPARE created at its end: the subscription on the
new side first (that drops its slot on the old side), then the
publication, and checks no slot is left.
"""

import psycopg
import pytest

from harness import HOST, PgServer, dict_rows, simple_query, wait_until

pytestmark = pytest.mark.pgswitch_only(reason="BLUEGREEN is a pgswitch feature")

COLUMNS = [
    "database", "state", "table", "sync_state", "lag_bytes", "lag_seconds",
    "slot_retained_wal", "wal_status", "target", "detail",
]

DB = "app"
NAME = "pgswitch_app"


def sql(server, text, dbname=DB):
    return server.execute(text, dbname=dbname)


def drop_bluegreen(old, new):
    """Subscription first (it drops its slot on the old side), then the
    publication; then nothing of ours may be left on either side."""
    for (name,) in sql(new, "SELECT subname FROM pg_subscription"):
        sql(new, 'DROP SUBSCRIPTION "%s"' % name)
    for (name,) in sql(old, "SELECT pubname FROM pg_publication"):
        sql(old, 'DROP PUBLICATION "%s"' % name)
    # a table sync slot of an interrupted copy is dropped by its worker;
    # anything inactive left is ours
    for (name,) in sql(old, "SELECT slot_name FROM pg_replication_slots WHERE NOT active"):
        sql(old, "SELECT pg_drop_replication_slot('%s')" % name)
    wait_until(lambda: not sql(old, "SELECT 1 FROM pg_replication_slots"), timeout=15,
               what="no replication slot left on the old side")
    assert not sql(new, "SELECT 1 FROM pg_subscription")
    assert not sql(old, "SELECT 1 FROM pg_publication")


class Pair:
    def __init__(self, old, new, pooler):
        self.old = old
        self.new = new
        self.pooler = pooler

    def conninfo(self):
        return "host=%s port=%d dbname=%s" % (HOST, self.new.port, DB)

    def admin(self, text):
        with self.pooler.admin() as c:
            cols, rows = simple_query(c, text)
            return cols, dict_rows(cols, rows)

    def prepare(self, with_=""):
        return self.admin("BLUEGREEN %s PREPARE TO '%s'%s" % (DB, self.conninfo(), with_))

    def show(self):
        cols, rows = self.admin("SHOW BLUEGREEN %s" % DB)
        assert cols == COLUMNS
        return rows


@pytest.fixture
def make_pair(pooler_factory):
    made = []

    def make(wal_level="logical", schema=None, new_schema=None):
        old = PgServer("bg-old", conf="wal_level = %s" % wal_level)
        made.append(old)
        old.start()
        new = PgServer("bg-new")
        made.append(new)
        new.start()
        for s in (old, new):
            s.execute("CREATE DATABASE %s" % DB)
        for stmt in schema or []:
            sql(old, stmt)
        for stmt in new_schema or []:
            sql(new, stmt)
        pooler = pooler_factory(
            pg_server=old, databases={DB: "host=%s port=%d dbname=%s" % (HOST, old.port, DB)}
        )
        made.append(Pair(old, new, pooler))
        return made[-1]

    yield make
    try:
        for p in made:
            if isinstance(p, Pair):
                drop_bluegreen(p.old, p.new)
    finally:
        for s in reversed(made):
            if isinstance(s, PgServer):
                s.cleanup()


KEYED = [
    "CREATE TABLE t1 (id int PRIMARY KEY, v text)",
    "CREATE TABLE t2 (id bigint PRIMARY KEY, n int)",
    "INSERT INTO t1 SELECT g, 'v' || g FROM generate_series(1, 500) g",
    "INSERT INTO t2 SELECT g, g * 2 FROM generate_series(1, 300) g",
]
KEYED_DDL = KEYED[:2]


def wait_ready(pair, tables, timeout=30):
    def ready():
        rows = pair.show()
        got = {r["table"]: r["sync_state"] for r in rows}
        return all(got.get(t) == "ready" for t in tables) and rows[0]["state"] == "ready"

    wait_until(ready, timeout=timeout, what="every table ready")
    return pair.show()


def count(server, table):
    return sql(server, "SELECT count(*) FROM %s" % table)[0][0]


def test_prepare_primary_keys(make_pair):
    pair = make_pair(schema=KEYED, new_schema=KEYED_DDL)
    cols, rows = pair.prepare()
    assert cols == COLUMNS
    assert {r["table"] for r in rows} == {"public.t1", "public.t2"}
    assert rows[0]["state"] in ("syncing", "ready")
    assert rows[0]["target"] == "%s:%d" % (HOST, pair.new.port)
    assert sql(pair.old, "SELECT pubname, puballtables FROM pg_publication") == [(NAME, True)]
    assert sql(pair.new, "SELECT subname FROM pg_subscription") == [(NAME,)]

    rows = wait_ready(pair, ["public.t1", "public.t2"])
    wait_until(lambda: count(pair.new, "t1") == 500 and count(pair.new, "t2") == 300,
               timeout=20, what="initial copy on the new side")
    sql(pair.old, "INSERT INTO t1 VALUES (1000, 'streamed')")
    wait_until(lambda: sql(pair.new, "SELECT v FROM t1 WHERE id = 1000") == [("streamed",)],
               timeout=20, what="a new row streamed")

    def lag_shown():
        r = pair.show()[0]
        return r["lag_bytes"] is not None and r["lag_seconds"] is not None

    wait_until(lag_shown, timeout=10, what="lag in SHOW BLUEGREEN")
    r = pair.show()[0]
    assert int(r["lag_bytes"]) >= 0
    assert float(r["lag_seconds"]) >= 0
    assert int(r["slot_retained_wal"]) >= 0
    assert r["wal_status"] in ("reserved", "extended")

    # a second PREPARE while this one exists is refused, naming it
    with pytest.raises(psycopg.Error) as ei:
        pair.prepare()
    assert "exists already" in str(ei.value)
    # all databases' rows without a name
    cols, rows = pair.admin("SHOW BLUEGREEN")
    assert {r["database"] for r in rows} == {DB}


def test_no_primary_key_refused_then_allowed(make_pair):
    schema = KEYED + [
        "CREATE TABLE nokey (a int, b text)",
        "INSERT INTO nokey SELECT g, 'x' FROM generate_series(1, 50) g",
    ]
    pair = make_pair(schema=schema, new_schema=KEYED_DDL + ["CREATE TABLE nokey (a int, b text)"])
    with pytest.raises(psycopg.Error) as ei:
        pair.prepare()
    msg = str(ei.value)
    assert "public.nokey" in msg and "primary key" in msg
    assert "public.t1" not in msg
    # refused: nothing was created
    assert not sql(pair.old, "SELECT 1 FROM pg_publication")
    assert not sql(pair.new, "SELECT 1 FROM pg_subscription")
    assert pair.show()[0]["state"] == "failed"

    sql(pair.old, "ALTER TABLE nokey REPLICA IDENTITY FULL")
    cols, rows = pair.prepare(" WITH (allow_no_key = on)")
    assert "public.nokey" in {r["table"] for r in rows}
    wait_ready(pair, ["public.t1", "public.t2", "public.nokey"])
    sql(pair.old, "UPDATE nokey SET b = 'y' WHERE a = 7")
    wait_until(lambda: sql(pair.new, "SELECT b FROM nokey WHERE a = 7") == [("y",)],
               timeout=20, what="an update of a REPLICA IDENTITY FULL table")


def test_table_list_and_names(make_pair):
    pair = make_pair(schema=KEYED, new_schema=KEYED_DDL)
    cols, rows = pair.prepare(
        " WITH (tables = 'public.t1', copy_data = on, publication = 'bg_pub', subscription = 'bg_sub')"
    )
    assert [r["table"] for r in rows] == ["public.t1"]
    assert sql(pair.old, "SELECT pubname, puballtables FROM pg_publication") == [("bg_pub", False)]
    assert sql(pair.old, "SELECT tablename FROM pg_publication_tables") == [("t1",)]
    wait_ready(pair, ["public.t1"])
    assert count(pair.new, "t2") == 0


def test_wal_level_replica_refused(make_pair):
    pair = make_pair(wal_level="replica", schema=KEYED, new_schema=KEYED_DDL)
    with pytest.raises(psycopg.Error) as ei:
        pair.prepare()
    assert "wal_level = replica" in str(ei.value)
    assert not sql(pair.old, "SELECT 1 FROM pg_publication")


def test_some_tables_missing_refused(make_pair):
    pair = make_pair(schema=KEYED, new_schema=KEYED_DDL[:1])
    with pytest.raises(psycopg.Error) as ei:
        pair.prepare()
    msg = str(ei.value)
    assert "public.t2" in msg and "missing" in msg
    assert "public.t1" not in msg.split("missing", 1)[1]


def test_schema_copied_into_empty_target(make_pair):
    schema = KEYED + [
        "CREATE SCHEMA other",
        "CREATE TABLE other.t3 (id int PRIMARY KEY, d date DEFAULT now())",
        "INSERT INTO other.t3 (id) SELECT generate_series(1, 20)",
    ]
    pair = make_pair(schema=schema)
    assert not sql(pair.new, "SELECT 1 FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    cols, rows = pair.prepare()
    assert {r["table"] for r in rows} == {"public.t1", "public.t2", "other.t3"}
    wait_ready(pair, ["public.t1", "public.t2", "other.t3"])
    wait_until(lambda: count(pair.new, "other.t3") == 20 and count(pair.new, "t1") == 500,
               timeout=20, what="rows copied after the schema")
    assert sql(pair.new, "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                         " WHERE c.contype = 'p' AND n.nspname IN ('public', 'other')")[0][0] == 3


def test_prepare_adopts_after_restart(make_pair):
    """pgswitch keeps no file of its own: a PREPARE after a restart finds
    the publication and subscription by name and adopts them."""
    pair = make_pair(schema=KEYED, new_schema=KEYED_DDL)
    pair.prepare()
    wait_ready(pair, ["public.t1", "public.t2"])
    pair.pooler.stop()
    pair.pooler.start()
    assert pair.show() == []
    cols, rows = pair.prepare()
    assert {r["table"] for r in rows} == {"public.t1", "public.t2"}
    wait_ready(pair, ["public.t1", "public.t2"])
    assert sql(pair.old, "SELECT count(*) FROM pg_publication")[0][0] == 1
    assert sql(pair.new, "SELECT count(*) FROM pg_subscription")[0][0] == 1
    assert sql(pair.old, "SELECT count(*) FROM pg_replication_slots")[0][0] == 1


def test_schema_copy_failure_named(make_pair, monkeypatch, tmp_path):
    """The child's stderr is the error: here pg_dump cannot be found."""
    monkeypatch.setenv("PGSWITCH_PG_BINDIR", str(tmp_path / "nowhere"))
    pair = make_pair(schema=KEYED)
    with pytest.raises(psycopg.Error) as ei:
        pair.prepare()
    msg = str(ei.value)
    assert "schema copy failed" in msg and "pg_dump" in msg
    assert pair.show()[0]["state"] == "failed"
    assert not sql(pair.old, "SELECT 1 FROM pg_publication")


def test_schema_copy_of_a_table_list(make_pair):
    pair = make_pair(schema=KEYED)
    pair.prepare(" WITH (tables = 't1')")
    wait_ready(pair, ["public.t1"])
    assert sql(pair.new, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("t1",)]
    wait_until(lambda: count(pair.new, "t1") == 500, timeout=20, what="t1 copied")


def test_new_side_unreachable(make_pair):
    from harness import free_port

    pair = make_pair(schema=KEYED)
    port = free_port()
    with pytest.raises(psycopg.Error) as ei:
        pair.admin("BLUEGREEN %s PREPARE TO 'host=%s port=%d dbname=%s'" % (DB, HOST, port, DB))
    assert "new side" in str(ei.value)
    assert pair.show()[0]["state"] == "failed"
    # the console is usable again, and so is the database
    with pair.pooler.connect(dbname=DB) as c:
        assert c.execute("SELECT count(*) FROM t1").fetchone()[0] == 500


def test_usage_errors(make_pair):
    pair = make_pair(schema=KEYED)
    for text, needle in [
        ("BLUEGREEN %s" % DB, "usage"),
        ("BLUEGREEN nosuchdb PREPARE TO 'host=x'", "no such database"),
        ("BLUEGREEN %s PREPARE TO 'host=x' WITH (colour = 'blue')" % DB, "colour"),
        ("BLUEGREEN %s PREPARE TO 'host=x' WITH (tables = 'a;b')" % DB, "bad table name"),
    ]:
        with pytest.raises(psycopg.Error) as ei:
            pair.admin(text)
        assert needle in str(ei.value), text
    assert pair.show() == []
