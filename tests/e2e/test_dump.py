#!/usr/bin/env python3
"""Live introspection (issue #17's acceptance 5): GN_DUMP_SIGNAL (SIGPWR)
makes a worker list its coroutines, what each serves and what it waits
on, in the error log when the arbiter did not ask for a file; 5,000
connections sleeping show up as 5,000 coroutines waiting on a sleep; a
handler spinning in a static function of a plugin holds the loop, and
the listing (written by the signal handler then) and max_blocking_ms'
warning both carry a backtrace naming that function. Through
tests/plugins/spin_probe.c."""
import os
import re
import resource
import signal
import socket
import threading
import time
import unittest

from harness import ConnectionClosed, RawConn, ServerTestCase, test_plugin_path, wait_until

SPIN = test_plugin_path("spin_probe")
CONNS = 5000


def raise_nofile(want):
    """Raise our soft open-files limit (the server inherits it) to WANT,
    or as far as the hard limit goes; the limit we got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def dumps(log):
    """The dumps in LOG, each a list of its lines (log prefixes cut)."""
    out, cur = [], None
    for line in log.splitlines():
        text = re.sub(r"^\[[^]]*\] \[\d+\] \[[A-Z]+\] ", "", line)
        if text.startswith("dump of worker "):
            cur = [text]
        elif cur is not None:
            cur.append(text)
            if text.startswith("end of dump of worker "):
                out.append(cur)
                cur = None
    return out


def dump_until(srv, pid, pred, timeout, what):
    """Send the dump signal to PID every second until a dump in the log
    satisfies PRED: that dump."""
    found = []

    def check():
        for d in dumps(srv.log()):
            if pred(d):
                found.append(d)
                return True
        os.kill(pid, signal.SIGPWR)
        return False
    wait_until(check, timeout, interval=1.0, what=what)
    return found[0]


class TestDump(ServerTestCase):
    def test_5000_sleeping_coroutines(self):
        """5,000 connections each in a 60 s green sleep: the dump counts
        5,000 coroutines waiting on a sleep, lists 100 one by one with
        their request line, and says how many it did not list."""
        if raise_nofile(4 * CONNS) < CONNS + 500:
            self.skipTest("open-files limit below %d" % (CONNS + 500))
        srv = self.start_server(app=SPIN, settings={
            "server": {"backlog": 4096},
            "workers": {"worker_connections": CONNS + 100}})
        pid = srv.wait_workers(1)[0]
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        req = b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n"
        for _ in range(CONNS):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.sendall(req)
            socks.append(s)
        d = dump_until(srv, pid,
                       lambda d: "%d coroutines waiting on sleep" % CONNS in d,
                       90, "a dump with %d sleeping coroutines" % CONNS)
        self.assertRegex(d[0], r"^dump of worker 1 \(pid %d\): %d coroutines, "
                         r"%d connections, 0 requests served; written by the "
                         r"loop$" % (pid, CONNS, CONNS))
        listed = [l for l in d if l.startswith("coroutine ")]
        self.assertEqual(len(listed), 100, d[:5])
        for line in listed:
            self.assertRegex(line, r'^coroutine \d+: "GET /sleep\?ms=60000" '
                             r'\(fd \d+ from 127\.0\.0\.1\), up \d+ ms, waits '
                             r'on sleep of 60000 ms for \d+ ms$')
        self.assertIn("(%d more coroutines not listed one by one)"
                      % (CONNS - 100), d)
        # Every coroutine is in some count, and these are all there is.
        counts = [l for l in d if re.match(r"^\d+ coroutines? ", l)]
        self.assertEqual(counts, ["%d coroutines waiting on sleep" % CONNS])
        self.assertEqual(d[-1], "end of dump of worker 1 (pid %d)" % pid)
        for s in socks:
            s.close()
        socks.clear()
        srv.stop(signal.SIGQUIT)

    def test_waits_named(self):
        """A request waiting on an event with a timeout, and the green
        thread it spawned, named by its function."""
        srv = self.start_server(app=SPIN)
        pid = srv.wait_workers(1)[0]
        result = []

        def one():
            with RawConn(srv.port, timeout=30) as c:
                c.send(b"GET /thread?ms=20000 HTTP/1.1\r\nHost: t\r\n\r\n")
                try:
                    result.append(c.read_response())
                except ConnectionClosed:  # the stop below, by design
                    pass
        t = threading.Thread(target=one)
        t.start()
        self.addCleanup(t.join, 30)
        # The thread is listed from its spawn, "not started" until the
        # loop first runs it: wait for it to be waiting.
        d = dump_until(srv, pid,
                       lambda d: any("green thread" in l and "waits on" in l for l in d),
                       30, "a dump listing a green thread that waits")
        text = "\n".join(d)
        self.assertRegex(text, r'coroutine \d+: "GET /thread\?ms=20000" \(fd '
                         r'\d+ from 127\.0\.0\.1\), up \d+ ms, waits on event '
                         r'for \d+ ms \(timeout 20000 ms\)')
        self.assertRegex(text, r"coroutine \d+: green thread thread_waits "
                         r"\[spin_probe\.so\], up \d+ ms, waits on event for "
                         r"\d+ ms\n")
        self.assertIn("2 coroutines waiting on event", d)
        srv.stop(signal.SIGQUIT)

    def test_spinning_handler_backtrace(self):
        """A handler spinning in spin_in_place (static: only the .so's
        .symtab names it) holds the loop: the signal handler writes the
        dump, with the stack; max_blocking_ms' warning has it too."""
        srv = self.start_server(app=SPIN,
                                settings={"workers": {"max_blocking_ms": 200}})
        pid = srv.wait_workers(1)[0]
        result = []

        def one():
            with RawConn(srv.port, timeout=60) as c:
                c.send(b"GET /spin?ms=6000 HTTP/1.1\r\nHost: t\r\n\r\n")
                result.append(c.read_response())
        t = threading.Thread(target=one)
        t.start()
        self.addCleanup(t.join, 60)
        d = dump_until(srv, pid, lambda d: "holds the loop" in d[0], 30,
                       "a dump written while the loop is held")
        text = "\n".join(d)
        self.assertRegex(text, r'coroutine 1: "GET /spin\?ms=6000" \(fd \d+ '
                         r'from 127\.0\.0\.1\), up \d+ ms, running: holds the '
                         r'loop\n  held the loop for \d+ ms so far; its stack:'
                         r'\n')
        frames = [l for l in d if l.startswith("    #")]
        names = [re.match(r"    #\d+ (\S+)\+0x[0-9a-f]+ \[(\S+)\]$", l)
                 for l in frames]
        self.assertTrue(all(names), frames)
        names = [(m.group(1), m.group(2)) for m in names]
        self.assertIn(("spin_in_place", "spin_probe.so"), names)
        self.assertIn(("handle", "spin_probe.so"), names)
        self.assertIn(("conn_main", "greenicorn"), names)
        self.assertLess(names.index(("spin_in_place", "spin_probe.so")),
                        names.index(("handle", "spin_probe.so")))
        # The warning once the run ended, with the watchdog's backtrace.
        t.join(60)
        self.assertEqual(result[0].status, 200)
        wait_until(lambda: "held the event loop" in srv.log(), 10,
                   what="the max_blocking_ms warning")
        log = srv.log()
        self.assertRegex(log, r'"GET /spin\?ms=6000" held the event loop for '
                         r'\d+ ms without yielding \(max_blocking_ms = 200\)\n'
                         r'  its stack:\n(    #\d+ .*\n)*    #\d+ spin_in_place'
                         r'\+0x[0-9a-f]+ \[spin_probe\.so\]\n')
        srv.stop(signal.SIGQUIT)

    def test_idle_worker_lists_nothing(self):
        """No request: no coroutine; the dump says so and the worker
        goes on serving."""
        srv = self.start_server(app=SPIN)
        pid = srv.wait_workers(1)[0]
        d = dump_until(srv, pid, lambda d: True, 20, "a dump")
        # The harness's probe connection may not be closed yet: a
        # connection with no request has no coroutine.
        self.assertRegex(d[0], r"^dump of worker 1 \(pid %d\): 0 coroutines, "
                         r"[01] connections, 0 requests served; written by "
                         r"the loop$" % pid)
        self.assertEqual(d[1:], ["end of dump of worker 1 (pid %d)" % pid])
        with RawConn(srv.port) as c:
            c.send(b"GET /sleep?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(c.read_response().body, b"slept\n")
        self.assertEqual(srv.worker_pids(), [pid])


if __name__ == "__main__":
    unittest.main()
