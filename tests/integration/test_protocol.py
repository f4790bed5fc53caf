"""Wire protocol pass-through: extended protocol, prepared statements, COPY,
notices, LISTEN/NOTIFY, large messages and results, cancel requests."""

import hashlib
import struct
import threading
import time

import psycopg
import pytest

from harness import RawClient, raw_login


def test_extended_protocol_params(pooler):
    with pooler.connect() as c:
        cur = c.cursor()
        cur.execute("SELECT %s::int + %s::int, %s::text, %s::numeric, %s::bool, %s::text IS NULL",
                    (40, 2, "héllo", "1.5", True, None))
        assert cur.fetchone() == (42, "héllo", pytest.approx(1.5), True, True)
        # binary parameters and results
        cur.execute("SELECT %b::int8 * 3, %b::bytea", (7, b"\x00\x01\xff"), binary=True)
        assert cur.fetchone() == (21, b"\x00\x01\xff")
        # several statements in one transaction, extended protocol throughout
        with c.transaction():
            for i in range(20):
                cur.execute("SELECT %s::int", (i,))
                assert cur.fetchone() == (i,)
        # executemany: many Bind/Execute before one Sync
        with c.transaction():
            cur.execute("CREATE TEMP TABLE em (x int) ON COMMIT DROP")
            cur.executemany("INSERT INTO em VALUES (%s)", [(i,) for i in range(100)])
            cur.execute("SELECT count(*), sum(x) FROM em")
            assert cur.fetchone() == (100, 4950)


def test_pipeline_mode(pooler):
    with pooler.connect() as c:
        cur = c.cursor()
        with c.pipeline():
            curs = []
            for i in range(50):
                k = c.cursor()
                k.execute("SELECT %s::int * 10", (i,))
                curs.append(k)
        assert [k.fetchone()[0] for k in curs] == [i * 10 for i in range(50)]
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def _msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def _parse_bind_execute(sql):
    return (_msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
            + _msg(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
            + _msg(b"E", b"\0" + struct.pack("!i", 0)))


def test_unsynced_batch_keeps_its_server(pooler_factory):
    """Transaction mode: a client whose Parse/Bind/Execute went out after a
    Sync's ReadyForQuery, with its own Sync still to come, is mid-batch:
    its server is not handed to another client in between."""
    p = pooler_factory(pool_size=1)
    a = RawClient(p.port)
    try:
        a.login()
        a.send(_parse_bind_execute("SELECT 1") + _msg(b"S") + _parse_bind_execute("SELECT 42"))
        while True:  # up to the first batch's ReadyForQuery
            t, body = a.read_msg()
            assert t != b"E", body
            if t == b"Z":
                break
        other = {}

        def run():
            try:
                with p.connect() as c:
                    other["value"] = c.execute("SELECT 7").fetchone()[0]
            except Exception as e:  # noqa: BLE001 - inspected below
                other["error"] = e
            other["at"] = time.monotonic()

        th = threading.Thread(target=run, daemon=True)
        th.start()
        time.sleep(0.3)
        assert "value" not in other and "error" not in other, other  # waits: the server is A's
        synced_at = time.monotonic()
        a.send(_msg(b"S"))
        got = []
        while True:
            t, body = a.read_msg()
            got.append(t)
            assert t != b"E", body
            if t == b"D":
                assert body[6:] == b"42", body
            if t == b"Z":
                break
        assert got == [b"1", b"2", b"D", b"C", b"Z"], got
        th.join(10)
        assert other.get("value") == 7, other
        assert other["at"] >= synced_at
    finally:
        a.close()


def test_prepared_statements_session_mode(session_pooler):
    with session_pooler.connect(prepare_threshold=5) as c:
        cur = c.cursor()
        for i in range(10):
            cur.execute("SELECT %s::int + 100", (i,), prepare=True)
            assert cur.fetchone() == (i + 100,)
        n = c.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%+ 100%'").fetchone()[0]
        assert n == 1
        # automatic preparation (psycopg prepare_threshold) works too
        c.prepare_threshold = 2
        for i in range(6):
            assert c.execute("SELECT %s::text || 'x'", (str(i),)).fetchone() == (str(i) + "x",)
        # SQL-level PREPARE/EXECUTE
        c.execute("PREPARE sqlprep (int) AS SELECT $1 * 3")
        assert c.execute("EXECUTE sqlprep (5)").fetchone() == (15,)


@pytest.mark.pgswitch_only(reason="protocol-level prepared statements in transaction mode "
                           "(max_prepared_statements) arrived in PgBouncer 1.21")
def test_prepared_statements_transaction_mode(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=2, extra={"max_prepared_statements": 100})
    errors = []

    def worker(i):
        try:
            with p.connect(prepare_threshold=1) as c:
                for j in range(30):
                    r = c.execute("SELECT %s::int * 2 + %s::int", (i, j), prepare=True).fetchone()
                    assert r == (i * 2 + j,)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]


def test_copy_in_and_out_10k_rows(pooler):
    rows = [(i, "row-%d-%s" % (i, hashlib.md5(str(i).encode()).hexdigest())) for i in range(10000)]
    expected = "".join("%d\t%s\n" % r for r in rows).encode()
    with pooler.connect() as c:
        cur = c.cursor()
        with c.transaction():
            cur.execute("CREATE TEMP TABLE copy_t (id int, payload text) ON COMMIT DROP")
            with cur.copy("COPY copy_t (id, payload) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            cur.execute("SELECT count(*), md5(string_agg(id || E'\\t' || payload || E'\\n', '' ORDER BY id)) FROM copy_t")
            assert cur.fetchone() == (10000, hashlib.md5(expected).hexdigest())
            out = bytearray()
            with cur.copy("COPY (SELECT id, payload FROM copy_t ORDER BY id) TO STDOUT") as cp:
                for chunk in cp:
                    out += chunk
            assert len(out) == len(expected)
            assert hashlib.sha256(out).hexdigest() == hashlib.sha256(expected).hexdigest()
        # a failing COPY leaves the connection usable
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with c.transaction():
                cur.execute("CREATE TEMP TABLE copy_bad (id int) ON COMMIT DROP")
                with cur.copy("COPY copy_bad FROM STDIN") as cp:
                    cp.write(b"1\nnot-a-number\n")
        assert c.execute("SELECT 'after copy'").fetchone() == ("after copy",)


def test_notice_passthrough(pooler):
    with pooler.connect() as c:
        got = []
        c.add_notice_handler(lambda d: got.append((d.severity, d.message_primary, d.sqlstate)))
        c.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$")
        assert ("NOTICE", "hello 42", "00000") in got
        assert ("WARNING", "careful", "01000") in got
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_listen_notify_session_mode(session_pooler):
    got = []
    with session_pooler.connect() as listener, session_pooler.connect() as notifier:
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute("LISTEN pgswitch_chan")
        notifier.execute("NOTIFY pgswitch_chan, 'payload-1'")
        notifier.execute("SELECT pg_notify('pgswitch_chan', 'payload-2')")
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            listener.execute("SELECT 1")  # notifications arrive with any response
            time.sleep(0.05)
        assert got == [("pgswitch_chan", "payload-1"), ("pgswitch_chan", "payload-2")]


def test_large_result_50mb(pooler):
    nrows = 50_000  # 50k rows x 1024 chars = ~51 MB of DataRow payload
    with pooler.connect() as c:
        cur = c.cursor()
        cur.execute("SELECT i, repeat(md5(i::text), 32) FROM generate_series(1, %s) AS i", (nrows,))
        total = 0
        n = 0
        for i, s in cur:
            n += 1
            total += len(s)
            if i in (1, nrows // 2, nrows):
                assert s == hashlib.md5(str(i).encode()).hexdigest() * 32
        assert n == nrows and total == nrows * 1024
        assert c.execute("SELECT 'still fine'").fetchone() == ("still fine",)


def test_10mb_query_text_and_parameter(pooler):
    big = "x" * (10 * 1024 * 1024)
    with pooler.connect() as c:
        # simple protocol: one 10 MB Query message
        assert c.execute("SELECT length('" + big + "')").fetchone() == (len(big),)
        # extended protocol: one 10 MB Bind parameter
        assert c.execute("SELECT length(%s), md5(%s)", (big, big)).fetchone() == (
            len(big), hashlib.md5(big.encode()).hexdigest())
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_cancel_request(pooler_factory, mode):
    p = pooler_factory(mode=mode, pool_size=2)
    with p.connect() as c, p.connect() as other:
        result = {}

        def run():
            t0 = time.monotonic()
            try:
                c.execute("SELECT pg_sleep(30)")
                result["ok"] = True
            except Exception as e:  # noqa: BLE001
                result["err"] = e
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        c.cancel()
        t.join(10)
        assert not t.is_alive(), "query not cancelled"
        assert isinstance(result.get("err"), psycopg.errors.QueryCanceled), result
        assert result["err"].sqlstate == "57014"
        assert time.monotonic() - t0 < 3.0
        # connection usable afterwards, the other client unaffected
        assert c.execute("SELECT 'alive'").fetchone() == ("alive",)
        assert other.execute("SELECT 2").fetchone() == (2,)


def test_cancel_with_wrong_key_is_harmless(pooler):
    with pooler.connect() as c:
        # a CancelRequest with a made-up key must not cancel anything
        rc = RawClient(pooler.port)
        rc.send(struct.pack("!IIII", 16, 80877102, 12345, 67890))
        closed, _ = rc.wait_closed(5)
        rc.close()
        assert closed
        assert c.execute("SELECT pg_sleep(0.2), 'done'").fetchone()[1] == "done"


def test_protocol_3_0_startup_raw(pooler):
    assert raw_login(pooler.port) == ("ok", {})


@pytest.mark.pgswitch_only(reason="protocol 3.2 negotiation (NegotiateProtocolVersion) is not in PgBouncer 1.18")
def test_protocol_3_2_startup_negotiated(pooler):
    rc = RawClient(pooler.port)
    try:
        body = struct.pack("!I", (3 << 16) | 2)
        for k, v in (("user", "postgres"), ("database", "postgres")):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        rc.send(struct.pack("!I", len(body) + 4) + body)
        seen = []
        while True:
            m = rc.read_msg()
            assert m is not None, "closed during 3.2 startup, saw %r" % seen
            seen.append(m[0])
            assert m[0] != b"E", m
            if m[0] == b"v":
                # NegotiateProtocolVersion carries the full version code, as
                # PostgreSQL (PG_PROTOCOL_LATEST) sends and libpq 18 reads it
                version = struct.unpack("!I", m[1][:4])[0]
                assert version in (0x30000, 0x30002), hex(version)
            if m[0] == b"K":
                assert 4 + 4 <= len(m[1]) <= 4 + 256
            if m[0] == b"Z":
                break
        # and it works as a normal session
        q = b"SELECT 1\0"
        rc.send(b"Q" + struct.pack("!I", 4 + len(q)) + q)
        types = []
        while True:
            m = rc.read_msg()
            assert m is not None
            types.append(m[0])
            if m[0] == b"Z":
                break
        assert types == [b"T", b"D", b"C", b"Z"]
    finally:
        rc.close()

