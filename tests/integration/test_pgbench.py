"""pgbench through the pooler: 50 clients on a 20-server transaction pool,
extended protocol.  PGSWITCH_FAST=1 shortens the run from 10 s to 3 s."""

import os
import re
import subprocess

import pytest

from harness import HOST, PG_BIN

DURATION = 3 if os.environ.get("PGSWITCH_FAST") == "1" else 10


def pgbench(args, port, timeout):
    cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(port), "-U", "postgres"] + args
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def bench_db(pg):
    with pg.connect() as c:
        c.execute("DROP DATABASE IF EXISTS bench")
        c.execute("CREATE DATABASE bench")
    p = pgbench(["-i", "-s", "1", "-q", "bench"], pg.port, timeout=120)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    return "bench"


@pytest.mark.slow
@pytest.mark.timeout(DURATION + 90)
@pytest.mark.parametrize("protocol", ["extended"])
def test_pgbench_transaction_mode(pg, bench_db, pooler_factory, protocol):
    p = pooler_factory(
        mode="transaction",
        pool_size=20,
        extra={"max_client_conn": 200},
        databases={"bench": "host=%s port=%d dbname=bench" % (HOST, pg.port)},
    )
    out = pgbench(["-c", "50", "-j", "2", "-T", str(DURATION), "-M", protocol, "-n", bench_db],
                  p.port, timeout=DURATION + 60)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text[-4000:]
    assert re.search(r"^number of failed transactions: 0 \(", text, re.M), text[-4000:]
    m = re.search(r"^tps = ([0-9.]+)", text, re.M)
    assert m and float(m.group(1)) > 0, text[-4000:]
    processed = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    assert processed and int(processed.group(1)) > 0, text[-4000:]
    # never more than pool_size servers
    servers = [r for r in p.show("SERVERS") if r["database"] == "bench"]
    assert len(servers) <= 20
    # the data is consistent: pgbench's balances add up
    with p.connect(dbname="bench") as c:
        a, t, b = c.execute(
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), "
            "(SELECT sum(bbalance) FROM pgbench_branches)").fetchone()
        assert a == t == b
