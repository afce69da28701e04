#!/usr/bin/env python3
"""The pgcount app on a real PostgreSQL: with green_db's post_fork hook one
worker overlaps many queries; a database that goes away gives 503s with a
clear log line while the worker serves on, and requests succeed again once
it is back; without the hook the app still works (blocking); an SQL error
is a 503 that leaves the pool whole; a slow query times out, or is
cancelled by request_timeout.

PostgreSQL runs from a cluster made for this module in a temp dir, as the
`postgres` system user when the tests run as root (postgres refuses root),
on a free port of 127.0.0.1 with trust authentication. It is stopped and
its dir removed at the end, even when a test or the set-up failed."""
import atexit
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import ServerTestCase, wait_until

PG_BIN = "/usr/lib/postgresql/15/bin"
START_TIMEOUT = 30.0   # seconds for PostgreSQL to accept connections
STOP_TIMEOUT = 15.0    # seconds for it to exit after a signal


def _skip_reason():
    if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
        return "PostgreSQL 15 is not installed (%s/initdb)" % PG_BIN
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user to run PostgreSQL as (it refuses root)"
    for path in (harness.app_path("pgcount"), harness.hook_path("green_db")):
        if not os.path.exists(path):
            return "%s was not built (libpq-dev missing?)" % path
    return None


SKIP = _skip_reason()


class Postgres:
    """A throw-away PostgreSQL cluster: initdb in a temp dir, then the
    postmaster started and stopped at will on one port of 127.0.0.1."""

    def __init__(self):
        self.proc = None
        self.port = None
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "postgres.log")
        # Root runs it as `postgres`, in a dir that user owns; anyone else
        # runs it as themselves.
        self.setpriv = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self.setpriv = ["setpriv", "--reuid=%d" % pw.pw_uid,
                            "--regid=%d" % pw.pw_gid, "--init-groups"]

    def command(self, args, pdeathsig=None):
        """ARGS as the cluster's user, sent PDEATHSIG (a signal name) if
        this process dies first."""
        pre = list(self.setpriv)
        if pdeathsig and shutil.which("setpriv"):
            pre = (pre or ["setpriv"]) + ["--pdeathsig", pdeathsig]
        return pre + ["--"] + args if pre else args

    def run(self, args, timeout=60):
        """Run a PostgreSQL tool as the cluster's user: its output."""
        out = subprocess.run(self.command(args), capture_output=True,
                             text=True, timeout=timeout, cwd=self.tmp,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (
                " ".join(args), out.returncode, out.stdout, out.stderr))
        return out.stdout

    def initdb(self):
        self.run([os.path.join(PG_BIN, "initdb"), "-D", self.data,
                  "--auth=trust", "--username=postgres", "--encoding=UTF8",
                  "--locale=C", "--no-sync"])

    def start(self, port=None):
        """Start the postmaster (on PORT, else a free port, trying another
        if it is taken meanwhile) and wait until it accepts."""
        for _attempt in range(3):
            self.port = port or harness.free_port()
            with open(self.log_path, "ab") as log:
                # QUIT (an immediate shutdown) if this process dies first.
                self.proc = subprocess.Popen(
                    self.command([os.path.join(PG_BIN, "postgres"),
                                  "-D", self.data, "-p", str(self.port),
                                  "-k", self.tmp,
                                  "-c", "listen_addresses=127.0.0.1",
                                  "-c", "fsync=off",
                                  "-c", "max_connections=150"],
                                 pdeathsig="QUIT"),
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    cwd=self.tmp, start_new_session=True)
            try:
                wait_until(self.ready, START_TIMEOUT, interval=0.05,
                           what="PostgreSQL on port %d" % self.port)
                return
            except AssertionError:
                exited = self.proc.poll() is not None
                self.stop()
                if port or not exited or "already in use" not in self.log():
                    raise AssertionError("PostgreSQL did not start:\n" + self.log())
        raise AssertionError("PostgreSQL found no free port:\n" + self.log())

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("PostgreSQL exited with %s" % self.proc.returncode)
        return subprocess.run(
            [os.path.join(PG_BIN, "pg_isready"), "-q", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", "postgres",
             "-t", "1"],
            stdin=subprocess.DEVNULL, timeout=10).returncode == 0

    def stop(self, sig=signal.SIGQUIT):
        """Stop the postmaster (QUIT: an immediate shutdown, its backends
        killed, as a crash would; INT: a fast one) and wait until it and its
        backends are gone; KILL after STOP_TIMEOUT."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self.proc = None

    def psql(self, sql):
        """SQL's rows as psql -A -t prints them (as the cluster's user)."""
        return self.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t",
                         "-h", "127.0.0.1", "-p", str(self.port),
                         "-U", "postgres", "-d", "postgres", "-c", sql])

    def conninfo(self, extra=""):
        return ("host=127.0.0.1 port=%d dbname=postgres user=postgres %s"
                % (self.port, extra)).strip()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


PG = None


def setUpModule():
    global PG
    if SKIP:
        raise unittest.SkipTest(SKIP)
    PG = Postgres()
    # Registered first: it runs even if the rest of the set-up fails (and
    # at exit, should the run be interrupted).
    unittest.addModuleCleanup(PG.destroy)
    atexit.register(PG.destroy)
    PG.initdb()
    PG.start()


class PgTestCase(ServerTestCase):
    """Each test finds PostgreSQL up (a test that stopped it and failed
    before restarting it leaves it down) and gets pgcount servers."""

    def setUp(self):
        if PG.proc is None or PG.proc.poll() is not None:
            PG.start(PG.port)

    def start_pgcount(self, args, hook=True, extra=None):
        """A server with pgcount on ARGS (and conninfo for our cluster), the
        green_db hook when HOOK, and the EXTRA config sections."""
        settings = {"app.args": dict({"conninfo": PG.conninfo()}, **args)}
        if hook:
            settings["hooks"] = {"post_fork": harness.hook_path("green_db")}
        settings.update(extra or {})
        return self.start_server(app="pgcount", workers=1, settings=settings)

    def get_all(self, srv, n, target="/"):
        """N GETs at once, one thread each: ([(status, body)], seconds)."""
        results = [None] * n

        def one(i):
            try:
                status, _h, body = srv.get(target, timeout=15)
                results[i] = (status, body)
            except Exception as e:  # reported by the assertion below
                results[i] = (repr(e), b"")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results, time.monotonic() - started

    def pgcount_errors(self, srv):
        return [line for line in srv.log().splitlines()
                if "[ERROR] pgcount:" in line]


@unittest.skipIf(SKIP, SKIP)
class OverlapTest(PgTestCase):

    def test_one_worker_overlaps_fifty_queries(self):
        srv = self.start_pgcount({"query": "SELECT pg_sleep(0.1)", "pool": 50})
        # Cold: each request opens its connection too. Warm: the pool's.
        for run in ("cold", "warm"):
            results, elapsed = self.get_all(srv, 50)
            sys.stderr.write("\n50 overlapping SELECT pg_sleep(0.1) on one "
                             "worker (%s pool): %.2f s " % (run, elapsed))
            self.assertEqual(results, [(200, b"\n")] * 50, srv.log())
            # One after another they would take 5 s at least.
            self.assertLess(elapsed, 3, "%s run took %.2f s" % (run, elapsed))
        self.assertEqual(self.pgcount_errors(srv), [])
        self.assertEqual(len(srv.worker_pids()), 1)


@unittest.skipIf(SKIP, SKIP)
class OutageTest(PgTestCase):

    def test_a_database_outage_is_503_and_the_worker_recovers(self):
        srv = self.start_pgcount(
            {"query": "SELECT pg_sleep(0.1)", "pool": 50},
            extra={"app:echo": {"module": harness.app_path("echo"),
                                 "mount": "/echo"}})
        pid = srv.wait_workers(1)[0]
        results, _t = self.get_all(srv, 10)  # some connections in the pool
        self.assertEqual(results, [(200, b"\n")] * 10, srv.log())

        PG.stop(signal.SIGQUIT)  # immediate: the backends die, as in a crash
        for _ in range(3):
            status, headers, body = srv.get("/")
            self.assertEqual(status, 503)
            self.assertEqual(headers["Content-Type"], "text/plain")
            self.assertEqual(body, b"database unavailable\n")
        srv.wait_for_log(r'\[ERROR\] pgcount: connection to server at '
                         r'"127\.0\.0\.1", port %d failed: Connection refused'
                         % PG.port)
        # One line per failed request, none spread over several lines.
        errors = self.pgcount_errors(srv)
        self.assertEqual(len(errors), 3, srv.log())
        # The worker serves its other app meanwhile.
        status, _h, body = srv.get("/echo/still-here")
        self.assertEqual(status, 200)
        self.assertIn(b"path-info: /still-here", body)

        PG.start(PG.port)
        for _ in range(3):
            status, _h, body = srv.get("/")
            self.assertEqual((status, body), (200, b"\n"), srv.log())
        results, _t = self.get_all(srv, 20)
        self.assertEqual(results, [(200, b"\n")] * 20, srv.log())
        self.assertEqual(srv.worker_pids(), [pid])
        self.assertEqual(len(self.pgcount_errors(srv)), 3)


@unittest.skipIf(SKIP, SKIP)
class BlockingTest(PgTestCase):

    def test_without_the_hook_the_app_blocks_but_works(self):
        srv = self.start_pgcount({}, hook=False)  # the default query
        status, headers, body = srv.get("/")
        self.assertEqual(status, 200, srv.log())
        self.assertEqual(headers["Content-Type"], "text/plain")
        self.assertRegex(body, rb"^[1-9][0-9]*\n$")
        self.assertEqual(self.pgcount_errors(srv), [])

    def test_without_the_hook_queries_take_turns(self):
        # The hook is what makes them overlap: here each blocks the worker.
        srv = self.start_pgcount({"query": "SELECT pg_sleep(0.2)"}, hook=False)
        results, elapsed = self.get_all(srv, 5)
        self.assertEqual(results, [(200, b"\n")] * 5, srv.log())
        self.assertGreater(elapsed, 0.95)


@unittest.skipIf(SKIP, SKIP)
class QueryErrorTest(PgTestCase):

    def backends(self, name):
        return PG.psql("SELECT pid FROM pg_stat_activity "
                       "WHERE application_name = '%s'" % name).split()

    def test_an_sql_error_is_503_and_keeps_the_connection(self):
        # One connection, so a slot not given back would stall the next.
        srv = self.start_pgcount({
            "conninfo": PG.conninfo("application_name=gn_e2e_div0"),
            "query": "SELECT 1/0", "pool": 1, "timeout": 2})
        for i in range(4):
            started = time.monotonic()
            status, _h, body = srv.get("/")
            self.assertEqual((status, body), (503, b"query failed\n"))
            self.assertLess(time.monotonic() - started, 1)
            if i == 0:
                first = self.backends("gn_e2e_div0")
        # The same backend answered them all: the pool kept its connection.
        self.assertEqual(len(first), 1)
        self.assertEqual(self.backends("gn_e2e_div0"), first)
        errors = self.pgcount_errors(srv)
        self.assertEqual(len(errors), 4, srv.log())
        for line in errors:
            self.assertRegex(line, r"pgcount: query failed: ERROR: division "
                                   r"by zero \(SQLSTATE 22012\)$")


@unittest.skipIf(SKIP, SKIP)
class SlowQueryTest(PgTestCase):

    def test_a_slow_query_times_out_and_the_worker_serves_on(self):
        srv = self.start_pgcount({"query": "SELECT pg_sleep(30)",
                                  "timeout": 0.5})
        for _ in range(2):
            started = time.monotonic()
            status, _h, body = srv.get("/")
            self.assertEqual((status, body), (503, b"database unavailable\n"))
            self.assertLess(time.monotonic() - started, 2)
        srv.wait_for_log(r'\[ERROR\] pgcount: query on server at '
                         r'"127\.0\.0\.1", port %d timed out after 0\.[0-9]+ s$'
                         % PG.port)
        self.assertEqual(len(self.pgcount_errors(srv)), 2)

    def test_request_timeout_cancels_the_query(self):
        srv = self.start_pgcount({"query": "SELECT pg_sleep(30)"},
                                 extra={"http": {"request_timeout": 1}})
        started = time.monotonic()
        status, _h, _body = srv.get("/")
        self.assertEqual(status, 504)
        self.assertLess(time.monotonic() - started, 3)
        srv.wait_for_log(r"\[ERROR\] pgcount: query on server at "
                         r'"127\.0\.0\.1", port %d was cancelled$' % PG.port)


if __name__ == "__main__":
    unittest.main()
