"""SHOW SOCKETS / ACTIVE_SOCKETS / TOTALS / PEERS / PEER_POOLS / DNS_HOSTS /
DNS_ZONES with PgBouncer 1.25's columns, and server_lifetime = 0 (each
server connection used once)."""

from harness import simple_query


def test_show_sockets_and_friends(pooler_factory):
    p = pooler_factory(mode="session")
    with p.connect() as c, p.admin() as a:
        c.execute("SELECT 1")
        cols, rows = simple_query(a, "SHOW SOCKETS")
        assert len(cols) == 28 and cols[21:] == [
            "recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain",
            "pkt_avail", "send_avail"]
        states = {r[cols.index("state")] for r in rows}
        assert {"cl_active", "sv_active"} <= states
        cols, rows = simple_query(a, "SHOW ACTIVE_SOCKETS")
        assert len(cols) == 28
        cols, rows = simple_query(a, "SHOW TOTALS")
        names = [r[0] for r in rows]
        assert cols == ["name", "value"] and len(rows) == 22
        assert names[0] == "total_server_assignment_count" and names[-1] == "avg_ps_bind_count"
        for what, ncols in (("PEERS", 4), ("PEER_POOLS", 5), ("DNS_HOSTS", 3), ("DNS_ZONES", 3)):
            cols, rows = simple_query(a, "SHOW " + what)
            assert len(cols) == ncols and rows == []


def test_server_lifetime_zero_uses_each_server_once(pooler_factory):
    p = pooler_factory(mode="session", extra={"server_lifetime": "0"})
    pids = set()
    for _ in range(3):
        with p.connect() as c:
            pids.add(c.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert len(pids) == 3
