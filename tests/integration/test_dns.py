"""Server host names, resolved off the event loop (src/net/dns.c).

- A database whose host is a name (localhost) works, and SHOW DNS_HOSTS
  lists the name with its address and a TTL no longer than dns_max_ttl.
- A name that does not resolve costs its own clients a wait (bounded by
  query_wait_timeout, as an unreachable server does), logs the resolver's
  reason, and never stalls clients of other databases.
- A failed lookup is cached for dns_nxdomain_ttl (one lookup, not one per
  login).
"""

import threading
import time

import psycopg
import pytest

from harness import HOST


def _dbs(pg):
    return {
        "byname": "host=localhost port=%d dbname=postgres" % pg.port,
        "byip": "host=%s port=%d dbname=postgres" % (HOST, pg.port),
        "nowhere": "host=no-such-host.invalid port=%d dbname=postgres" % pg.port,
    }


def test_host_name_and_show_dns_hosts(pg, pooler_factory):
    p = pooler_factory(databases=_dbs(pg), extra={"dns_max_ttl": 30})
    with p.connect(dbname="byname") as c:
        assert c.execute("SELECT 41 + 1").fetchone() == (42,)
    rows = {r["hostname"]: r for r in p.admin_query("SHOW DNS_HOSTS")}
    assert "localhost" in rows, rows
    assert "127.0.0.1" in rows["localhost"]["addrs"] or "::1" in rows["localhost"]["addrs"]
    assert 0 <= int(rows["localhost"]["ttl"]) <= 30


@pytest.mark.pgswitch_only(reason="pgswitch's query_wait_timeout also bounds a first login")
def test_unresolvable_name_waits_alone(pg, pooler_factory):
    p = pooler_factory(databases=_dbs(pg),
                       extra={"query_wait_timeout": 2, "dns_nxdomain_ttl": 60})
    err = {}

    def bad():
        t0 = time.monotonic()
        try:
            p.connect(dbname="nowhere", connect_timeout=10).close()
        except psycopg.OperationalError as e:
            err["msg"] = str(e)
        err["secs"] = time.monotonic() - t0

    t = threading.Thread(target=bad, daemon=True)
    t.start()
    # Meanwhile the other databases are served at once, again and again.
    t0 = time.monotonic()
    for _ in range(20):
        with p.connect(dbname="byip") as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    assert time.monotonic() - t0 < 5
    t.join(15)
    assert "query_wait_timeout" in err.get("msg", ""), err
    assert 1.5 <= err["secs"] < 8, err
    log = p.log_text()
    assert "could not resolve no-such-host.invalid" in log
    # The failure is cached: a second login does not look it up again.
    n = log.count("could not resolve no-such-host.invalid")
    with pytest.raises(psycopg.OperationalError):
        p.connect(dbname="nowhere", connect_timeout=10).close()
    rows = {r["hostname"]: r for r in p.admin_query("SHOW DNS_HOSTS")}
    assert rows["no-such-host.invalid"]["addrs"] == ""
    assert int(rows["no-such-host.invalid"]["ttl"]) > 30
    assert n >= 1
