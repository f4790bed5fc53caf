"""systemd support without systemd: the sd_notify datagrams pgswitch sends
to $NOTIFY_SOCKET (a datagram socket this test owns, as systemd would),
and socket activation (listening sockets this test creates and hands over
as fds 3.. with LISTEN_PID / LISTEN_FDS, as systemd would).

  READY=1 once listening; SIGHUP: RELOADING=1 + MONOTONIC_USEC, then
  READY=1 (a failed reload says so in STATUS=); STOPPING=1 on SIGINT,
  SIGTERM and the console's SHUTDOWN. With activated sockets, listen_addr,
  listen_port and unix_socket_dir are not used for listening (PgBouncer's
  documented behaviour); LISTEN_PID naming another process is ignored.
"""

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import psycopg
import pytest

import harness
from harness import HOST, IS_PGBOUNCER

# PgBouncer 1.18 sends READY=1 only; the rest is PgBouncer 1.24's.
NOTIFY_124 = pytest.mark.pgswitch_only(
    reason="STOPPING=1 and RELOADING=1 with MONOTONIC_USEC are PgBouncer 1.24+ (1.18: READY=1 only)")


class NotifyReceiver:
    """The systemd end of NOTIFY_SOCKET: a path socket the pooler's user
    may write to, or an abstract one ("@name", no permissions apply)."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = "pgswitch-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.dir = harness.make_owned_tmpdir("pgswitch-notify-")
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            # sendto() on a Unix socket needs write permission on its file
            harness.chown_to_runner(path)
            self.env = path
        self.msgs = []  # every datagram so far, each a dict of its lines

    def wait_for(self, key, value=None, timeout=10.0, after=0):
        """Index of the first datagram from index AFTER on that assigns KEY
        (=VALUE, if given); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.msgs)):
                if key in self.msgs[i] and (value is None or self.msgs[i][key] == value):
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %s=%s from the pooler; got %r" % (key, value or "*", self.msgs))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.msgs.append(dict(ln.split("=", 1) for ln in data.decode().split("\n") if ln))

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class SystemdPooler(harness.Pooler):
    """A Pooler started the way systemd starts a service: with extra
    environment (ENV) and, for socket activation, the sockets ACTIVATED
    at fds 3.. with LISTEN_PID set to the pooler's own pid. Then the
    ini's listen_port and unix_socket_dir are decoys nothing may listen
    on, and self.port is the first activated socket's."""

    def __init__(self, pg, env=None, activated=(), start=True, **kw):
        self.env = dict(env or {})
        self.activated = list(activated)
        self.decoy_port = None
        self.decoy_dir = None
        super().__init__(pg, start=False, **kw)
        if self.activated:
            self.decoy_port = harness.free_port()
            self.decoy_dir = harness.make_owned_tmpdir("pgswitch-decoy-")
            self.port = self.activated[0].getsockname()[1]
            self.write_config()
        if start:
            self.start()

    def settings(self):
        s = super().settings()
        if self.activated:
            s["listen_port"] = str(self.decoy_port)
            s["unix_socket_dir"] = self.decoy_dir
        return s

    def _command(self):
        cmd = harness._run_as_prefix() + [harness.runnable_binary(self.bin), self.ini]
        if not self.activated:
            return cmd, ()
        # Parked high so that moving them to 3.. cannot clobber one another;
        # bash (not sh) since sh may not redirect fds above 9. $$ is the
        # pid that exec keeps, through setpriv, for pgswitch.
        high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 100 + i) for i, s in enumerate(self.activated)]
        moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(high))
        script = 'exec %s; export LISTEN_PID=$$ LISTEN_FDS=%d; exec "$@"' % (moves, len(high))
        return ["/bin/bash", "-c", script, "bash"] + cmd, high

    def start(self, timeout=20):
        if self not in harness.LIVE:
            harness.LIVE.append(self)
        self._stderr = open(self.stderr_path, "ab")
        cmd, high = self._command()
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(k, None)
        env.update(self.env)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                         stderr=subprocess.STDOUT, cwd=self.dir, env=env,
                                         pass_fds=high)
        finally:
            for fd in high:
                os.close(fd)
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def cleanup(self):
        super().cleanup()
        if self.decoy_dir:
            shutil.rmtree(self.decoy_dir, ignore_errors=True)


@pytest.fixture
def poolers(pg, request):
    ps = harness.PoolerSet(request)
    yield lambda **kw: ps.start(SystemdPooler, pg, **kw)
    ps.close()


@pytest.fixture
def notify():
    r = NotifyReceiver()
    yield r
    r.close()


@pytest.fixture
def notify_abstract():
    r = NotifyReceiver(abstract=True)
    yield r
    r.close()


def monotonic_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def select1(p):
    with p.connect() as c:
        return c.execute("SELECT 1").fetchone()[0]


def select1_unix(sockdir, port):
    with psycopg.connect(host=sockdir, port=port, dbname="postgres", user="postgres",
                         autocommit=True, connect_timeout=10) as c:
        return c.execute("SELECT 1").fetchone()[0]


def wait_exit(p, timeout=10):
    p.proc.wait(timeout)
    return p.proc.returncode


# ---------------------------------------------------------------------------
# sd_notify


@NOTIFY_124
def test_ready_reload_and_sigint(poolers, notify):
    p = poolers(env={"NOTIFY_SOCKET": notify.env})
    ready = notify.wait_for("READY", "1")
    assert notify.msgs[ready] == {"READY": "1"}
    assert select1(p) == 1

    before = monotonic_us()
    os.kill(p.pid, signal.SIGHUP)
    rel = notify.wait_for("RELOADING", "1", after=ready + 1)
    done = notify.wait_for("READY", "1", after=rel + 1)
    after = monotonic_us()
    # systemd matches the reply to its signal by this CLOCK_MONOTONIC time
    usec = notify.msgs[rel]["MONOTONIC_USEC"]
    assert re.fullmatch(r"[0-9]+", usec), notify.msgs[rel]
    assert before <= int(usec) <= after
    assert notify.msgs[done].get("STATUS") == ""  # nothing to report
    assert select1(p) == 1

    os.kill(p.pid, signal.SIGINT)
    stop = notify.wait_for("STOPPING", "1", after=done + 1)
    assert notify.msgs[stop] == {"STOPPING": "1"}
    assert wait_exit(p) == 0
    assert "cannot notify systemd" not in p.log_text()


@NOTIFY_124
def test_failed_reload_says_so_in_status(poolers, notify):
    p = poolers(env={"NOTIFY_SOCKET": notify.env})
    ready = notify.wait_for("READY", "1")
    good = p.render()
    p.write_config(good.replace("pool_mode = transaction", "pool_mode = bogus"))
    os.kill(p.pid, signal.SIGHUP)
    rel = notify.wait_for("RELOADING", "1", after=ready + 1)
    done = notify.wait_for("READY", "1", after=rel + 1)
    assert "reload failed" in notify.msgs[done]["STATUS"], notify.msgs[done]
    assert select1(p) == 1  # still serving, on the previous config

    p.write_config(good)
    os.kill(p.pid, signal.SIGHUP)
    done2 = notify.wait_for("READY", "1", after=done + 1)
    assert notify.msgs[done2]["STATUS"] == ""  # cleared


@NOTIFY_124
def test_abstract_socket_and_sigterm(poolers, notify_abstract):
    n = notify_abstract
    p = poolers(env={"NOTIFY_SOCKET": n.env})
    ready = n.wait_for("READY", "1")
    c = p.connect()
    os.kill(p.pid, signal.SIGTERM)
    stop = n.wait_for("STOPPING", "1", after=ready + 1)
    # a graceful stop can take long: `systemctl status` says why
    assert "waiting for clients" in n.msgs[stop]["STATUS"]
    assert p.alive()
    c.close()
    assert wait_exit(p) == 0
    assert len([m for m in n.msgs if "STOPPING" in m]) == 1


@NOTIFY_124
def test_console_shutdown_is_stopping(poolers, notify):
    p = poolers(env={"NOTIFY_SOCKET": notify.env})
    ready = notify.wait_for("READY", "1")
    try:
        p.admin_query("SHUTDOWN")
    except psycopg.Error:
        pass  # the console may close before it answers
    notify.wait_for("STOPPING", "1", after=ready + 1)
    assert wait_exit(p) == 0


@pytest.mark.pgswitch_only(reason="pgswitch's own warning")
def test_unreachable_notify_socket_is_logged_not_fatal(poolers, tmp_path):
    p = poolers(env={"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert select1(p) == 1
    harness.wait_until(lambda: "cannot notify systemd" in p.log_text(), what="the warning")


# ---------------------------------------------------------------------------
# socket activation


def tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.listen(64)
    return s


def test_socket_activation(poolers, notify, sockdir):
    tcp = tcp_listener()
    port = tcp.getsockname()[1]
    unix_path = os.path.join(sockdir, ".s.PGSQL.%d" % port)
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        ux.bind(unix_path)
        ux.listen(64)
        p = poolers(env={"NOTIFY_SOCKET": notify.env}, activated=[tcp, ux])
    finally:
        # only the pooler holds them now: whatever answers is the pooler
        tcp.close()
        ux.close()
    notify.wait_for("READY", "1")
    assert p.port == port
    assert select1(p) == 1
    assert select1_unix(sockdir, port) == 1  # the activated unix socket
    log = p.log_text()
    if not IS_PGBOUNCER:
        assert "socket activation: 2 socket(s) from systemd" in log, log[-3000:]
        assert "listening on %s:%d" % (HOST, port) in log
        assert "listening on unix:%s" % unix_path in log

    # listen_port and unix_socket_dir were not used for listening
    with pytest.raises(OSError):
        socket.create_connection((HOST, p.decoy_port), timeout=2).close()
    assert os.listdir(p.decoy_dir) == []

    # a reload keeps the activated sockets
    os.kill(p.pid, signal.SIGHUP)
    if not IS_PGBOUNCER:
        notify.wait_for("RELOADING", "1")
    harness.wait_until(lambda: "SIGHUP" in p.log_text(), what="the reload")
    assert select1(p) == 1


def test_listen_pid_of_another_process_is_ignored(poolers):
    # a handover meant for someone else (LISTEN_PID 1): listen as configured
    p = poolers(env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    assert select1(p) == 1
    log = p.log_text()
    assert "socket activation" not in log and "service manager" not in log
