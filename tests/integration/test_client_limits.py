"""max_db_client_connections and max_user_client_connections (global,
per database, per [users] entry): checked once a client has authenticated,
with PgBouncer's error; console admin_users are never refused."""

import psycopg
import pytest

from harness import PASSWORDS


def test_db_client_limit_global_and_per_database(pooler_factory, pg):
    p = pooler_factory(
        extra={"max_db_client_connections": "2"},
        databases={
            "postgres": "host=127.0.0.1 port=%d dbname=postgres" % pg.port,
            "small": "host=127.0.0.1 port=%d dbname=postgres max_db_client_connections=1" % pg.port,
        })
    a, b = p.connect(), p.connect()
    with pytest.raises(psycopg.OperationalError, match=r"max_db_client_connections"):
        p.connect()
    s = p.connect(dbname="small")
    with pytest.raises(psycopg.OperationalError, match=r"max_db_client_connections"):
        p.connect(dbname="small")
    rows = {r["name"]: r for r in p.show("DATABASES")}
    assert int(rows["small"]["max_client_connections"]) == 1
    assert int(rows["small"]["current_client_connections"]) == 1
    assert int(rows["postgres"]["max_client_connections"]) == 2
    for c in (a, b, s):
        c.close()
    with p.connect() as c:  # the slots came back
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_user_client_limit_and_admin_exempt(pooler_factory):
    p = pooler_factory(extra={"max_user_client_connections": "1"},
                       users={"alice": "max_user_client_connections=2"})
    held = [p.connect(user="alice", password=PASSWORDS["alice"]) for _ in range(2)]
    with pytest.raises(psycopg.OperationalError, match=r"max_user_client_connections"):
        p.connect(user="alice", password=PASSWORDS["alice"])
    pc = p.connect()
    with pytest.raises(psycopg.OperationalError, match=r"max_user_client_connections"):
        p.connect()
    # the console's admin_users are never refused
    admins = [p.admin() for _ in range(3)]
    for c in held + [pc] + admins:
        c.close()


def test_users_pool_size_and_reserve(pooler_factory, pg):
    """[users] pool_size caps the user's servers; after reserve_pool_timeout
    the user's reserve_pool_size opens more, each logged as PgBouncer does."""
    import threading
    import time

    p = pooler_factory(mode="session", pool_size=5,
                       extra={"reserve_pool_timeout": "1"},
                       users={"alice": "pool_size=1 reserve_pool_size=1"})

    def alice_servers():
        return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'alice'")[0][0]

    first = p.connect(user="alice", password=PASSWORDS["alice"])
    first.execute("SELECT 1")
    done = []

    def second():
        with p.connect(user="alice", password=PASSWORDS["alice"]) as c:
            c.execute("SELECT 1")
            done.append(time.monotonic())

    start = time.monotonic()
    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert alice_servers() == 1 and not done  # pool_size 1: the second waits
    t.join(10)
    assert done and done[0] - start >= 0.9  # served from the reserve
    assert "taking connection from reserve_pool" in p.log_text()
    first.close()
