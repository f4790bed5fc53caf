"""Fixtures for the pgswitch integration tests.

Run against pgswitch (PGSWITCH_BIN, set by CTest) or, to validate the tests
themselves, against PgBouncer 1.18 with POOLER=pgbouncer.
"""

import faulthandler
import os
import shutil
import signal
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import IS_PGBOUNCER, POOLER_KIND, Pooler, PgServer  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("PGSWITCH_TEST_TIMEOUT", "120"))


def pytest_configure(config):
    # also registered in pytest.ini; repeated here for runs that do not pick it up
    for line in (
        "pgswitch_only(reason): pgswitch behaviour beyond PgBouncer 1.18 (skipped with POOLER=pgbouncer)",
        "slow: takes several seconds",
        "timeout(seconds): per-test time limit (SIGALRM based, default 120)",
    ):
        config.addinivalue_line("markers", line)


def pytest_report_header(config):
    return "pooler under test: %s (%s)" % (POOLER_KIND, harness.pooler_binary())


def pytest_collection_modifyitems(config, items):
    if not IS_PGBOUNCER:
        return
    for item in items:
        m = item.get_closest_marker("pgswitch_only")
        if m is not None:
            reason = m.kwargs.get("reason") or (m.args[0] if m.args else "pgswitch-only behaviour")
            item.add_marker(pytest.mark.skip(reason="pgswitch_only: " + reason))


# ---------------------------------------------------------------------------
# per-test time limit (no pytest-timeout on the machines: SIGALRM)


class TestTimeout(BaseException):
    """Raised by the per-test alarm.  A BaseException, so that the
    `except Exception` of polling loops and worker code does not swallow it."""


def _on_sigterm(signum, frame):
    # CTest's or timeout(1)'s SIGTERM: unwind like Ctrl-C so that fixtures
    # (and the atexit hook in harness) stop every server by PID.
    raise KeyboardInterrupt("SIGTERM")


def pytest_sessionstart(session):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def pytest_sessionfinish(session, exitstatus):
    harness.stop_everything()


@pytest.fixture(autouse=True)
def _per_test_alarm(request):
    """Fail a test that runs longer than its limit (default 120 s, marker
    timeout(N), env PGSWITCH_TEST_TIMEOUT).  The alarm re-fires every 5 s so
    that clean-up code stuck on an unresponsive pooler is interrupted too;
    from the second firing on, the test's poolers are killed (SIGKILL by PID),
    which unblocks every client waiting on them."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return
    limit = TEST_TIMEOUT
    m = request.node.get_closest_marker("timeout")
    if m is not None and m.args:
        limit = int(m.args[0])
    fired = [0]

    def on_alarm(signum, frame):
        fired[0] += 1
        signal.alarm(5)
        if fired[0] == 1:
            sys.stderr.write("\n*** %s exceeded %d s; thread stacks:\n" % (request.node.nodeid, limit))
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        else:
            for p in getattr(request.node, "_poolers", []):
                p.kill()
        raise TestTimeout("test exceeded its %d s time limit (alarm #%d)" % (limit, fired[0]))

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------
# servers


@pytest.fixture(scope="session")
def pg():
    """The shared PostgreSQL 15 server (roles for the auth tests included)."""
    server = PgServer("main")
    try:
        server.start()
        server.setup_roles()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_factory():
    """Start extra PostgreSQL servers; all are stopped at teardown."""
    started = []

    def make(name="extra", roles=True):
        s = PgServer(name)
        started.append(s)
        s.start()
        if roles:
            s.setup_roles()
        return s

    yield make
    for s in reversed(started):
        s.cleanup()


@pytest.fixture
def pooler_factory(pg, request):
    """pooler_factory(mode=..., pool_size=..., auth_type=..., extra={...},
    databases={...}, users_txt=..., users={...}, pg_server=<PgServer>) -> Pooler."""
    ps = harness.PoolerSet(request)
    yield lambda pg_server=None, **kw: ps.start(Pooler, pg_server or pg, **kw)
    ps.close()


@pytest.fixture
def sockdir():
    """A directory for the pooler's Unix socket (the harness sets none)."""
    d = harness.make_owned_tmpdir("pgswitch-sock-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pooler(pooler_factory):
    """Transaction-mode pooler, default_pool_size=5, auth_type=trust."""
    return pooler_factory()


@pytest.fixture
def session_pooler(pooler_factory):
    return pooler_factory(mode="session")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for i, p in enumerate(getattr(item, "_poolers", [])):
            rep.sections.append(("pooler #%d log (%s)" % (i, p.ini), p.log_text()[-6000:]))
