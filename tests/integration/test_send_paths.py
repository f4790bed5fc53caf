"""Both output paths: the end-of-turn batch (io_uring = 1, the default) and
one send() per socket (io_uring = 0, also what runs where the kernel refuses
io_uring). Each must deliver every byte in order under concurrency, through
large results that overflow the socket buffers, and COPY in both ways."""

import hashlib
import re
import threading

import pytest


@pytest.mark.parametrize("uring", ["1", "0"])
def test_output_paths_deliver_everything(pooler_factory, uring):
    p = pooler_factory(mode="transaction", pool_size=3,
                       extra={"io_uring": uring, "max_client_conn": 200})
    m = re.search(r"batched sends \(io_uring\): (on|off)", p.log_text())
    assert m, p.log_text()[-2000:]
    if uring == "0":
        assert m.group(1) == "off"

    errors, lock = [], threading.Lock()

    def client(i):
        try:
            with p.connect(connect_timeout=30) as c:
                for q in range(30):
                    v = i * 1000 + q
                    row = c.execute("SELECT %s::int * 2, repeat('x', %s)", (v, q * 37)).fetchone()
                    if row != (v * 2, "x" * (q * 37)):
                        raise AssertionError("client %d got %r" % (i, row[0]))
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "client threads hung"
    assert not errors, errors[:5]

    with p.connect() as c:
        cur = c.cursor()
        # ~10 MB of rows: far more than a socket buffer, so the batch's
        # partial sends and the EV_WRITE path both take part.
        cur.execute("SELECT i, repeat(md5(i::text), 32) FROM generate_series(1, 10000) AS i")
        n = 0
        for i, s in cur:
            n += 1
            assert s == hashlib.md5(str(i).encode()).hexdigest() * 32
        assert n == 10000
        with c.transaction():
            cur.execute("CREATE TEMP TABLE sp (id int, t text) ON COMMIT DROP")
            with cur.copy("COPY sp FROM STDIN") as cp:
                for i in range(5000):
                    cp.write_row((i, "row %d" % i))
            got = b""
            with cur.copy("COPY (SELECT * FROM sp ORDER BY id) TO STDOUT") as cp:
                for chunk in cp:
                    got += bytes(chunk)
        want = "".join("%d\trow %d\n" % (i, i) for i in range(5000)).encode()
        assert got == want
        assert c.execute("SELECT 'after'").fetchone() == ("after",)


@pytest.mark.parametrize("uring", ["1", "0"])
def test_big_pkt_buf_back_pressure_resumes(pooler_factory, uring):
    """With pkt_buf far above the 256 KiB back-pressure mark, one server
    read holds more than the client may have pending. Forwarding stops at
    the mark with the rest of the reply still in our read buffer; once the
    flush drains the client's output, the rest must be forwarded at once:
    the server has sent everything, so no read event will ever come for
    it. (Both output paths hung here before session 3.)"""
    p = pooler_factory(mode="transaction", pool_size=2, extra={"pkt_buf": "1048576", "io_uring": uring})
    with p.connect() as c:
        for _ in range(3):
            cur = c.cursor()
            cur.execute("SELECT i, repeat(md5(i::text), 64) FROM generate_series(1, 20000) AS i")
            n = 0
            for i, s in cur:
                n += 1
                if i % 5000 == 0:
                    assert s == hashlib.md5(str(i).encode()).hexdigest() * 64
            assert n == 20000
            got = 0
            with cur.copy("COPY (SELECT repeat('y', 3000) FROM generate_series(1, 3000)) TO STDOUT") as cp:
                for chunk in cp:
                    got += len(bytes(chunk))
            assert got == 3000 * 3001
        assert c.execute("SELECT 'after'").fetchone() == ("after",)
