"""Replication connections through the pooler (replication=database and
replication=true), as PgBouncer 1.25 passes them: each client gets a
server connection of its own, logged in with the client's replication
and session parameters, never shared and closed when the client leaves.
"""

import os
import subprocess

from harness import HOST, PG_BIN, wait_until

PSQL = os.path.join(PG_BIN, "psql")


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
