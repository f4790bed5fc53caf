"""track_extra_parameters and the startup 'options' parameter: a tracked
parameter a client sets (directly or with options=-c) follows it to every
server it gets in transaction mode, and never leaks to another client."""

import psycopg
import pytest


def show(conn, name):
    return conn.execute("SHOW %s" % name).fetchone()[0]


def test_extra_parameter_follows_its_client(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1,
                       extra={"track_extra_parameters": "search_path"})
    with p.connect(options="-c search_path=alpha,public") as a, p.connect() as b:
        for _ in range(3):
            assert show(a, "search_path") == "alpha,public"
            assert show(b, "search_path") == '"$user", public'
        # a single server serves both: the value moved with each client
        assert a.execute("SELECT pg_backend_pid()").fetchone() == \
            b.execute("SELECT pg_backend_pid()").fetchone()


def test_options_sets_tracked_variables(pooler_factory):
    p = pooler_factory(mode="transaction", pool_size=1)
    with p.connect(options="-c TimeZone=Asia/Tokyo --DateStyle=German") as a, p.connect() as b:
        assert show(a, "TimeZone") == "Asia/Tokyo"
        assert show(a, "DateStyle").startswith("German")
        assert show(b, "TimeZone") == "UTC"


@pytest.mark.parametrize("options,msg", [
    # PgBouncer 1.25's words
    ("-c work_mem=64MB", "unsupported startup parameter in options: work_mem"),
    ("--", "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed"),
    ("-x", "only '-c config=val' and '--config=val' are allowed"),
    ("-c timezone", "only '-c config=val' and '--config=val' are allowed"),
    ("-c timezone=UTC -c", "only '-c config=val' and '--config=val' are allowed"),
    ("-c " + "x" * 300 + "=1", "unsupported startup parameter in options: xxxxxxxx"),
])
def test_unsupported_options_refused(pooler_factory, options, msg):
    p = pooler_factory(mode="transaction")
    with pytest.raises(psycopg.OperationalError, match=msg):
        p.connect(options=options)
    with p.connect() as c:  # still serving
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_options_ignored_when_listed(pooler_factory):
    p = pooler_factory(mode="transaction",
                       extra={"ignore_startup_parameters": "extra_float_digits,options"})
    with p.connect(options="-c work_mem=64MB") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
