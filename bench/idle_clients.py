#!/usr/bin/python3
"""bench/idle_clients.py - a pooler's memory per idle logged-in client, and
whether it comes back when the clients leave (issue 13).

Starts a throw-away PostgreSQL 15 on a free loopback port, then, for each
pooler given (pgswitch, PgBouncer 1.25.2, ...), one after the other on the
same cluster and the same ini:

  start the pooler, read its VmRSS ("before"), then ROUNDS times:
    open N clients (raw non-blocking sockets: startup packet, trust auth,
    wait for ReadyForQuery; with --query each also runs SELECT 1 once),
    keep them open, read VmRSS ("open"); close them all (Terminate, close),
    wait until the pooler has no client left, read VmRSS ("closed").

Per-client KB is (open - before) / N for the first round. Run with the
system Python (Debian packages only):

  /usr/bin/python3 bench/idle_clients.py -n 10000 -r 6 \\
      --pooler pgswitch=build/pgswitch \\
      --pooler pgbouncer=../shared/anchors/pgbouncer-1.25.2

As root, PostgreSQL and the poolers run as the OS user postgres (initdb and
PgBouncer refuse root); the binaries are copied where that user can run
them. Everything started is stopped by PID, also on errors.
"""

import argparse
import errno
import os
import pwd
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
HOST = "127.0.0.1"
RUN_AS = "postgres"
DB = "bench"
LIVE = []


def am_root():
    return os.geteuid() == 0


def as_user():
    if not am_root():
        return []
    return ["setpriv", "--reuid=" + RUN_AS, "--regid=" + RUN_AS, "--init-groups", "--"]


def owned_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    if am_root():
        pw = pwd.getpwnam(RUN_AS)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def write_owned(path, text):
    with open(path, "w") as f:
        f.write(text)
    if am_root():
        pw = pwd.getpwnam(RUN_AS)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def stop_pid(proc, sig=signal.SIGINT, timeout=10.0):
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Postgres:
    def __init__(self):
        self.dir = owned_tmpdir("idle-bench-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.pid = None

    def _run(self, args):
        subprocess.run(as_user() + args, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, cwd=self.dir, timeout=120)

    def start(self):
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("port = %d\nlisten_addresses = '%s'\nunix_socket_directories = '%s'\n"
                    "max_connections = 100\nfsync = off\nlog_min_messages = warning\n"
                    % (self.port, HOST, self.dir))
        LIVE.append(self)
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                   os.path.join(self.dir, "pg.log"), "-w", "-t", "60", "start"])
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        self._run([os.path.join(PG_BIN, "createdb"), "-h", HOST, "-p", str(self.port),
                   "-U", "postgres", DB])

    def cleanup(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGQUIT)  # immediate shutdown
            except ProcessLookupError:
                pass
            for _ in range(200):
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Pooler:
    def __init__(self, name, binary, pg, nclients, args):
        self.name = name
        self.dir = owned_tmpdir("idle-bench-%s-" % name)
        self.bin = os.path.join(self.dir, os.path.basename(binary))
        shutil.copy2(binary, self.bin)
        os.chmod(self.bin, 0o755)
        self.port = free_port()
        self.ini = os.path.join(self.dir, "pooler.ini")
        write_owned(os.path.join(self.dir, "userlist.txt"), '"postgres" ""\n')
        extra = "\n".join(args.ini)
        write_owned(self.ini, """\
[databases]
%s = host=%s port=%d dbname=%s

[pgbouncer]
listen_addr = %s
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s/userlist.txt
admin_users = postgres
pool_mode = %s
max_client_conn = %d
default_pool_size = %d
logfile = %s/pooler.log
log_connections = 0
log_disconnections = 0
%s
""" % (DB, HOST, pg.port, DB, HOST, self.port, self.dir, args.mode, nclients + 100,
            args.pool_size, self.dir, extra))
        self.proc = None

    def start(self):
        LIVE.append(self)
        self.out = open(os.path.join(self.dir, "stdout.log"), "wb")
        # setpriv execs the pooler: Popen's pid is the pooler's.
        self.proc = subprocess.Popen(as_user() + [self.bin, self.ini], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (self.name, self.log()[-2000:]))
            try:
                self.admin = Admin(self.port)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log(self):
        try:
            with open(os.path.join(self.dir, "pooler.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc:
            stop_pid(self.proc)
            self.proc = None
            self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def startup_packet(database):
    body = struct.pack("!i", 196608) + b"user\0postgres\0database\0" + database.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


def messages(buf):
    """Split whole messages off BUF (a bytearray): yields (type, body)."""
    while len(buf) >= 5:
        n = struct.unpack_from("!i", buf, 1)[0]
        if len(buf) < 1 + n:
            return
        t, body = chr(buf[0]), bytes(buf[5:1 + n])
        del buf[:1 + n]
        yield t, body


class Admin:
    """One blocking console connection, kept for the whole run (the
    pooler counts it as one client in every reading)."""

    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=10)
        self.s.sendall(startup_packet("pgbouncer"))
        self.buf = bytearray()
        self._until_ready()

    def _until_ready(self):
        rows, cols = [], []
        while True:
            for t, body in messages(self.buf):
                if t == "E":
                    raise RuntimeError("console error: %r" % body)
                if t == "T":
                    cols = parse_rowdesc(body)
                elif t == "D":
                    rows.append(dict(zip(cols, parse_datarow(body))))
                elif t == "Z":
                    return rows
            d = self.s.recv(65536)
            if not d:
                raise OSError("console closed")
            self.buf += d

    def query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)
        return self._until_ready()

    def used_clients(self):
        for r in self.query("SHOW LISTS"):
            if r["list"] == "used_clients":
                return int(r["items"])
        raise RuntimeError("no used_clients in SHOW LISTS")


def parse_rowdesc(body):
    n = struct.unpack_from("!h", body)[0]
    pos, cols = 2, []
    for _ in range(n):
        end = body.index(b"\0", pos)
        cols.append(body[pos:end].decode())
        pos = end + 1 + 18
    return cols


def parse_datarow(body):
    n = struct.unpack_from("!h", body)[0]
    pos, vals = 2, []
    for _ in range(n):
        ln = struct.unpack_from("!i", body, pos)[0]
        pos += 4
        if ln < 0:
            vals.append(None)
        else:
            vals.append(body[pos:pos + ln].decode())
            pos += ln
    return vals


QUERY = b"Q" + struct.pack("!i", 4 + 9) + b"SELECT 1\0"


def open_clients(port, n, query, inflight=100, timeout=300.0):
    """N logged-in idle sockets. At most INFLIGHT logins at a time: more
    would overflow the listen backlog and wait for SYN retries."""
    sel = selectors.DefaultSelector()
    done, started = [], 0
    state = {}  # sock -> [phase, bytearray]
    deadline = time.monotonic() + timeout
    pkt = startup_packet(DB)

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((HOST, port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, "connect: " + os.strerror(rc))
        state[s] = ["connect", bytearray()]
        sel.register(s, selectors.EVENT_WRITE)

    while len(done) < n:
        while started < n and len(state) < inflight:
            start_one()
            started += 1
        if time.monotonic() > deadline:
            raise TimeoutError("%d of %d clients logged in" % (len(done), n))
        for key, _ in sel.select(1.0):
            s = key.fileobj
            st = state[s]
            if st[0] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect: " + os.strerror(err))
                s.send(pkt)  # 40 bytes into an empty socket buffer
                st[0] = "login"
                sel.modify(s, selectors.EVENT_READ)
                continue
            d = s.recv(65536)
            if not d:
                raise OSError("pooler closed a client during " + st[0])
            st[1] += d
            for t, body in messages(st[1]):
                if t == "E":
                    raise RuntimeError("client error: %r" % body)
                if t != "Z":
                    continue
                if st[0] == "login" and query:
                    s.send(QUERY)
                    st[0] = "query"
                    continue
                sel.unregister(s)
                del state[s]
                done.append(s)
                break
    sel.close()
    return done


def close_clients(socks):
    for s in socks:
        try:
            s.send(b"X\0\0\0\4")
        except OSError:
            pass
        s.close()


def wait_drained(pooler, timeout=120.0):
    deadline = time.monotonic() + timeout
    while pooler.admin.used_clients() > 1:  # the console itself
        if time.monotonic() > deadline:
            raise TimeoutError("clients still counted by %s" % pooler.name)
        time.sleep(0.1)


def measure(name, binary, pg, args):
    p = Pooler(name, binary, pg, args.clients, args)
    try:
        p.start()
        time.sleep(args.settle)
        res = {"name": name, "before": rss_kb(p.proc.pid), "open": [], "closed": []}
        print("%-10s before: %8d kB" % (name, res["before"]), flush=True)
        for r in range(args.rounds):
            t0 = time.monotonic()
            socks = open_clients(p.port, args.clients, args.query)
            t1 = time.monotonic()
            time.sleep(args.settle)
            res["open"].append(rss_kb(p.proc.pid))
            close_clients(socks)
            wait_drained(p)
            time.sleep(args.settle)
            res["closed"].append(rss_kb(p.proc.pid))
            print("%-10s round %d: open %8d kB (%.2f kB/client, %d clients in %.1f s)"
                  "   closed %8d kB"
                  % (name, r + 1, res["open"][-1],
                     (res["open"][-1] - res["before"]) / args.clients, args.clients,
                     t1 - t0, res["closed"][-1]), flush=True)
        if p.proc.poll() is not None:
            raise RuntimeError("%s died" % name)
        return res
    finally:
        p.cleanup()
        LIVE.remove(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pooler", action="append", required=True, metavar="NAME=PATH",
                    help="a pooler binary to measure (repeat: measured in this order)")
    ap.add_argument("-n", "--clients", type=int, default=10000)
    ap.add_argument("-r", "--rounds", type=int, default=6)
    ap.add_argument("--mode", default="transaction")
    ap.add_argument("--pool-size", type=int, default=20)
    ap.add_argument("--query", action="store_true",
                    help="each client runs SELECT 1 once before idling")
    ap.add_argument("--settle", type=float, default=1.5,
                    help="seconds to wait before each reading (janitor passes)")
    ap.add_argument("--ini", action="append", default=[], metavar="KEY=VALUE",
                    help="extra [pgbouncer] line for every pooler")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.clients + 1000
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit("RLIMIT_NOFILE hard limit %d < %d: raise it (ulimit -Hn)" % (hard, need))
    # Inherited by the poolers (through setpriv) as well.
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    pg = Postgres()
    results = []
    try:
        pg.start()
        print("PostgreSQL on %s:%d; %d clients, %d rounds, mode %s%s"
              % (HOST, pg.port, args.clients, args.rounds, args.mode,
                 ", SELECT 1 each" if args.query else ", idle after login"), flush=True)
        for spec in args.pooler:
            name, _, path = spec.partition("=")
            results.append(measure(name, path, pg, args))
    finally:
        for obj in reversed(LIVE):
            obj.cleanup()
    print()
    print("| pooler | RSS before | RSS with %d clients (round 1) | KB per client "
          "| RSS after close, rounds 1..%d | last / first close |" % (args.clients, args.rounds))
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print("| %s | %.1f MB | %.1f MB | %.2f | %s | %.2f |" % (
            r["name"], r["before"] / 1024, r["open"][0] / 1024,
            (r["open"][0] - r["before"]) / args.clients,
            ", ".join("%.1f" % (x / 1024) for x in r["closed"]),
            r["closed"][-1] / r["closed"][0]))


if __name__ == "__main__":
    main()
