"""RELOAD with a [databases] entry moved to another PostgreSQL server, and
RELOAD of an invalid configuration."""

import re

import psycopg
import pytest

from harness import HOST, IS_PGBOUNCER, simple_query, wait_until


def server_port(conn):
    return conn.execute("SELECT inet_server_port()").fetchone()[0]


def point_db_at(pooler, server):
    pooler.databases = {"postgres": "host=%s port=%d dbname=postgres" % (HOST, server.port)}


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_reload_moves_database_to_second_server(pg, pg_factory, pooler_factory, mode):
    pg2 = pg_factory("second", roles=False)
    p = pooler_factory(mode=mode, pool_size=2)
    busy = p.connect()
    busy.execute("BEGIN")
    assert server_port(busy) == pg.port
    busy.execute("CREATE TEMP TABLE moved_probe (x int)")

    point_db_at(p, pg2)
    p.reload()

    # the open transaction completes on the first server
    assert server_port(busy) == pg.port
    busy.execute("INSERT INTO moved_probe VALUES (1)")
    assert busy.execute("SELECT count(*) FROM moved_probe").fetchone() == (1,)
    busy.execute("COMMIT")

    # new clients land on the second server
    with p.connect() as fresh:
        assert server_port(fresh) == pg2.port
        with fresh.transaction():
            assert server_port(fresh) == pg2.port

    if mode == "transaction":
        # in transaction mode the old client's next transaction moves too
        assert server_port(busy) == pg2.port
    else:
        # session mode keeps the server until the client leaves
        assert server_port(busy) == pg.port
    busy.close()

    # no server connection to the old PostgreSQL is left once released
    wait_until(lambda: all(r["port"] != str(pg.port) for r in p.show("SERVERS")), timeout=10,
               what="servers to the old PostgreSQL to be closed")
    dbs = {r["name"]: r for r in p.show("DATABASES")}
    assert dbs["postgres"]["port"] == str(pg2.port)


def test_reload_adds_and_removes_databases(pg, pooler_factory):
    p = pooler_factory()
    p.databases = {
        "postgres": "host=%s port=%d dbname=postgres" % (HOST, pg.port),
        "added": "host=%s port=%d dbname=postgres" % (HOST, pg.port),
    }
    p.reload()
    with p.connect(dbname="added") as c:
        assert c.execute("SELECT current_database()").fetchone() == ("postgres",)
    assert "added" in {r["name"] for r in p.show("DATABASES")}


INVALID_CONFIGS = {
    "listen_port": ("listen_port", "abc"),
    "pool_mode": ("pool_mode", "bogus"),
}


def bad_config_text(pooler, name, value):
    """The pooler's current ini with NAME's line replaced; returns (text, lineno)."""
    lines = pooler.render().splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.startswith(name + " ="))
    lines[idx] = "%s = %s" % (name, value)
    return "\n".join(lines) + "\n", idx + 1


@pytest.mark.parametrize("key", sorted(INVALID_CONFIGS))
def test_invalid_reload_keeps_serving(pg, pooler_factory, key):
    p = pooler_factory(mode="transaction", pool_size=3)
    with p.connect() as c:
        assert server_port(c) == pg.port
    name, value = INVALID_CONFIGS[key]
    good_text = p.render()
    bad_text, bad_lineno = bad_config_text(p, name, value)

    err = None
    try:
        p.reload(text=bad_text)
    except psycopg.Error as e:
        err = e
    if not IS_PGBOUNCER:
        # PgBouncer 1.18 answers RELOAD with success and only logs the error
        assert err is not None, "RELOAD of an invalid config must report an error"

    # the pooler is alive and still serves clients on the old server
    assert p.alive()
    with p.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        assert server_port(c) == pg.port
    cfg = {r["key"]: r["value"] for r in p.show("CONFIG")}
    assert cfg["listen_port"] == str(p.port)

    # the log names the file and line (PgBouncer 1.18 does so for pool_mode,
    # it takes listen_port = abc silently)
    if key == "pool_mode" or not IS_PGBOUNCER:
        log = p.log_text()
        assert re.search(re.escape(p.ini) + r":%d\b" % bad_lineno, log), log[-3000:]

    # fixing the file and reloading again works
    p.reload(text=good_text)
    with p.connect() as c:
        assert c.execute("SELECT 2").fetchone() == (2,)
    assert {r["key"]: r["value"] for r in p.show("CONFIG")}["pool_mode"] == "transaction"


@pytest.mark.pgswitch_only(reason="PgBouncer 1.18 resets every key to its default before re-reading the "
                           "file, so a rejected pool_mode ends up 'session' and the valid keys of a bad "
                           "file are applied; pgswitch swaps configs atomically")
def test_invalid_reload_keeps_old_config(pg, pg_factory, pooler_factory):
    """An invalid file changes nothing, not even its valid keys."""
    pg2 = pg_factory("second", roles=False)
    p = pooler_factory(mode="transaction", pool_size=3)
    for name, value in INVALID_CONFIGS.values():
        bad_text, _ = bad_config_text(p, name, value)
        with pytest.raises(psycopg.Error):
            p.reload(text=bad_text)
        cfg = {r["key"]: r["value"] for r in p.show("CONFIG")}
        assert cfg["pool_mode"] == "transaction"
        assert cfg["listen_port"] == str(p.port)
        assert cfg["default_pool_size"] == "3"
    # valid changes in the same file as an invalid one are not applied either
    p.pool_size = 9
    point_db_at(p, pg2)
    p.extra["pool_mode"] = "bogus"
    with pytest.raises(psycopg.Error):
        p.reload()
    cfg = {r["key"]: r["value"] for r in p.show("CONFIG")}
    assert cfg["default_pool_size"] == "3"
    assert cfg["pool_mode"] == "transaction"
    with p.connect() as c:
        assert server_port(c) == pg.port


def test_reload_command_result(pooler):
    with pooler.admin() as adm:
        cols, rows = simple_query(adm, "RELOAD")
        assert rows == []
