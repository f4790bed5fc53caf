"""Console, client errors and cancel requests as PgBouncer 1.25.2 has them
(docs/internals/pgbouncer-compat.md, 9.x "Console, errors and peering
parity"): what its own suite (test_no_database, test_no_user,
test_operations, test_admin, test_cancel, test_load_balance_hosts,
test_peering) checks, seen from outside with our own harness.
"""

import os
import signal
import threading
import time

import psycopg
import pytest

from harness import HOST, PASSWORDS, raw_login, simple_query, wait_until


def log_has(p, text, timeout=5.0):
    return wait_until(lambda: text in p.log_text(), timeout=timeout, what="%r in the pooler log" % text)


def rows(p, what):
    with p.admin() as adm:
        cols, rs = simple_query(adm, "SHOW " + what)
    return [dict(zip(cols, r)) for r in rs]


def run_in_thread(fn, *args):
    box = {}

    def body():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, box


# ---------------------------------------------------------------------------
# errors


def test_server_login_error_reaches_client_with_its_sqlstate(pg, pooler_factory):
    """A server's login ErrorResponse: the waiting client gets the server's
    SQLSTATE and text (PgBouncer's kill_pool_logins), and the log has
    PgBouncer's lines before the client is told."""
    dbs = {"gone": "host=%s port=%d dbname=no_such_pg_db" % (HOST, pg.port)}
    p = pooler_factory(databases=dbs)
    status, fields = raw_login(p.port, "postgres", "gone")
    # no wait: the close is logged before the error is sent
    log = p.log_text()
    assert status == "error", fields
    assert fields["S"] == "FATAL" and fields["C"] == "3D000", fields
    assert fields["M"] == 'database "no_such_pg_db" does not exist', fields
    assert 'server login failed: FATAL database "no_such_pg_db" does not exist' in log
    assert 'closing because: database "no_such_pg_db" does not exist' in log


def test_close_is_logged_before_the_client_hears(pooler_factory):
    p = pooler_factory(auth_type="plain")
    for _ in range(5):
        status, fields = raw_login(p.port, "nosuchuser", "postgres", "whatever")
        assert status == "error"
        text = p.log_text()  # read at once: no wait
        assert ("closing because: " + fields["M"]) in text, text[-500:]


def test_scram_failure_says_sasl(pooler_factory):
    p = pooler_factory(auth_type="scram-sha-256")
    for user in ("nosuchuser", "alice"):
        status, fields = raw_login(p.port, user, "postgres", "wrong")
        assert (status, fields["C"], fields["M"]) == ("error", "28P01", "SASL authentication failed"), fields
    log_has(p, "closing because: SASL authentication failed")


# ---------------------------------------------------------------------------
# PAUSE


def test_pause_with_waiting_clients_completes(pooler_factory):
    """Clients queued during a PAUSE must not make the pooler open servers it
    then closes again for the PAUSE: every PAUSE returns."""
    p = pooler_factory(mode="statement")
    stop = threading.Event()
    errors = []

    def worker():
        try:
            with p.connect(connect_timeout=30) as c:
                while not stop.is_set():
                    c.execute("SELECT pg_sleep(0.05)")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    try:
        with p.admin() as adm:
            for _ in range(3):
                th, box = run_in_thread(simple_query, adm, "PAUSE")
                th.join(10)
                assert not th.is_alive(), "PAUSE did not complete"
                assert "error" not in box, box
                time.sleep(0.5)
                assert p.server_count() == 0
                simple_query(adm, "RESUME")
                time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
