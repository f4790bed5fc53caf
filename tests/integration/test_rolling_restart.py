"""Rolling restart without dropping clients (docs/operations.md): a second
pgswitch joins the first on the same port (so_reuseport = 1), the first gets
SIGTERM, closes its listening sockets, lets its clients finish and exits;
pgbench, reconnecting for every transaction (-C), sees 0 failures.

net.ipv4.tcp_migrate_req = 1 makes the kernel hand connections still queued
on the closed listener to the other one; the test sets it (it is root in CI)
and puts it back."""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from harness import HOST, PG_BIN

SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req"


def pgbench(args, port, timeout):
    cmd = [os.path.join(PG_BIN, "pgbench"), "-h", HOST, "-p", str(port), "-U", "postgres"] + args
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, env=env)


@pytest.fixture
def migrate_req():
    try:
        with open(SYSCTL) as f:
            old = f.read().strip()
        with open(SYSCTL, "w") as f:
            f.write("1")
    except OSError as e:
        pytest.skip("cannot set net.ipv4.tcp_migrate_req: %s" % e)
    yield
    with open(SYSCTL, "w") as f:
        f.write(old)


@pytest.fixture
def roll_db(pg):
    with pg.connect() as c:
        c.execute("DROP DATABASE IF EXISTS roll")
        c.execute("CREATE DATABASE roll")
    p = pgbench(["-i", "-s", "1", "-q", "roll"], pg.port, timeout=120)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    return "roll"


@pytest.mark.pgswitch_only(reason="PgBouncer 1.18 has no so_reuseport")
@pytest.mark.timeout(90)
def test_rolling_restart_under_pgbench(pg, roll_db, pooler_factory, migrate_req):
    dbs = {"roll": "host=%s port=%d dbname=roll" % (HOST, pg.port)}
    extra = {"so_reuseport": 1, "max_client_conn": 200}
    old = pooler_factory(mode="transaction", pool_size=10, databases=dbs, extra=extra)
    new = pooler_factory(mode="transaction", pool_size=10, databases=dbs, extra=extra)
    # The second one joins the first's port.
    new.stop()
    new.port = old.port
    new.write_config()

    out = {}

    def load():
        out["p"] = pgbench(["-C", "-c", "4", "-j", "2", "-T", "8", "-n", "-S", roll_db],
                           old.port, timeout=60)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    time.sleep(2)
    new.start()
    time.sleep(1)
    old_pid = old.pid
    os.kill(old_pid, signal.SIGTERM)
    # The old one exits by itself once its clients are gone.
    old.proc.wait(20)
    t.join(60)
    text = out["p"].stdout.decode(errors="replace")
    assert out["p"].returncode == 0, text[-3000:]
    assert re.search(r"^number of failed transactions: 0 \(", text, re.M), text[-3000:]
    done = int(re.search(r"^number of transactions actually processed: (\d+)", text, re.M).group(1))
    assert done > 0
    log_old = old.log_text()
    assert "got SIGTERM, shutting down" in log_old
    assert "client connections dropped, exiting" in log_old
    # the new process took over the connections
    assert new.log_text().count("login attempt") > 10
    with new.connect(dbname="roll") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
