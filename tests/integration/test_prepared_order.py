"""Reply order with protocol-level prepared statements (transaction mode,
one server): the answers pgswitch owes the client (ParseComplete of a
statement the server has, CloseComplete) come exactly where PostgreSQL puts
them, also after a reply too large for the read buffer, around COPY FROM
STDIN in the extended protocol, and after an error makes PostgreSQL skip
the rest of a batch. Each sequence is compared with PostgreSQL itself."""

import struct

import pytest

from harness import RawClient


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def P(name, q):
    return msg(b"P", cstr(name) + cstr(q) + struct.pack("!h", 0))


def B(stmt):
    return msg(b"B", cstr("") + cstr(stmt) + struct.pack("!hhh", 0, 0, 0))


def D(kind, name):
    return msg(b"D", kind.encode() + cstr(name))


def E():
    return msg(b"E", cstr("") + struct.pack("!i", 0))


def C(kind, name):
    return msg(b"C", kind.encode() + cstr(name))


S = msg(b"S")
H = msg(b"H")


def Q(q):
    return msg(b"Q", cstr(q))


WIDE = "SELECT " + ", ".join("1 AS c%04d%s" % (i, "x" * 54) for i in range(600))


def run(port, steps):
    """Send each step, read replies up to COUNT messages (or until Z when
    COUNT is None); return the message types, one string per step."""
    c = RawClient(port)
    c.login()
    out = []
    for data, count in steps:
        c.send(data)
        types = []
        while True:
            m = c.read_msg()
            assert m is not None, (out, types)
            types.append(m[0].decode())
            if (count is None and m[0] == b"Z") or (count is not None and len(types) == count):
                break
        out.append(" ".join(types))
    c.sock.close()
    return out


SEQUENCES = {
    # a RowDescription larger than the read buffer, then a cached Parse
    "big_reply_then_cached_parse": [
        (P("a", "SELECT 1") + S, None),
        (P("w", WIDE) + D("S", "w") + P("b", "SELECT 1") + H, 4),
    ],
    # COPY FROM STDIN via the extended protocol: the Sync sent after the
    # Execute gets no reply of its own
    "copy_in_extended": [
        (Q("CREATE TEMP TABLE IF NOT EXISTS pc (x int)"), None),
        (P("s2", "SELECT 1") + S, None),
        (P("", "COPY pc FROM STDIN") + B("") + E() + S + msg(b"d", b"1\n") + msg(b"c") + S, None),
        (P("s3", "SELECT 1") + B("s3") + E() + S, None),
    ],
    # a Close skipped after an error keeps the name
    "close_after_error": [
        (P("s1", "SELECT 1") + S, None),
        (P("", "SELECT 1/0") + B("") + E() + C("S", "s1") + S, None),
        (B("s1") + E() + S, None),
    ],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_order_as_postgres(pg, pooler_factory, name):
    p = pooler_factory(mode="transaction", pool_size=1, extra={"max_prepared_statements": 100})
    # the temp table lives on the one server: session state is fine here
    want = run(pg.port, SEQUENCES[name])
    got = run(p.port, SEQUENCES[name])
    assert got == want


def test_failed_parse_evicted_then_prepared_again(pg, pooler_factory):
    """max_prepared_statements = 1: a Parse that fails, then one that would
    evict it, in one batch; once the table exists the first name works."""
    p = pooler_factory(mode="transaction", pool_size=1, extra={"max_prepared_statements": 1})
    with pg.connect() as c:
        c.execute("DROP TABLE IF EXISTS later_t")
    steps = [
        (P("s1", "SELECT * FROM later_t") + P("s2", "SELECT 2") + S, None),
        (Q("CREATE TABLE later_t (x int)"), None),
        (B("s1") + E() + S, None),
        (Q("DROP TABLE later_t"), None),
    ]
    got = run(p.port, steps)
    assert got[2] == "2 C Z", got
