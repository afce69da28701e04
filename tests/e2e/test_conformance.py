#!/usr/bin/env python3
"""HTTP/1.1 conformance (issue #3): every row of conformance_cases.CASES
sent as raw bytes to the real server, one test method per row, one server
per group of settings. Each row checks the statuses in order (so
pipelining is checked), the framing of each response, the Date and Server
headers, the echo app's view of the request, and whether the server
closes the connection; after a rejected row, a fresh connection must
still be served (the worker is unharmed).

    python3 tests/e2e/test_conformance.py -v
    python3 tests/e2e/test_conformance.py -v -k chunk     # some rows
"""
import re
import socket
import time
import unittest

from harness import ConnectionClosed, ServerTestCase
from conformance_cases import ABSENT, CASES, CHUNKED, CLOSE, FOLLOW, GROUPS, LENGTH

IO_TIMEOUT = 5.0    # waiting for a response that must come
QUIET = 0.5         # waiting for one that may come (alternatives of several lengths)
CLOSE_TIMEOUT = 5.0

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d{2}:\d{2}:\d{2} GMT$")


def shorten(data, n=300):
    return repr(data if len(data) <= n else data[:n] + b"...(%d bytes)" % len(data))


class ConformanceTestCase(ServerTestCase):
    """Runs the rows of one group against one server."""

    GROUP = None

    @classmethod
    def setUpClass(cls):
        app, settings, cls.server_header = GROUPS[cls.GROUP]
        # keepalive well past CLOSE_TIMEOUT: a close seen is never the idle one.
        settings = dict(settings, workers={"keepalive": 30})
        cls.srv = cls.start_class_server(app=app, workers=1, settings=settings)

    # -- one row ------------------------------------------------------------

    def run_case(self, case):
        try:
            self._run_case(case)
        except AssertionError as e:
            got = "\n  ".join(shorten(r.raw) for r in self._responses) or "nothing"
            raise AssertionError("%s\n  case %s sent %s\n  got %s" % (
                e, case.name, shorten(b"".join(case.send)), got)) from None

    def _run_case(self, case):
        self._responses = []
        outcomes = case.outcomes()
        lens = [len(expect) for expect, _ in outcomes]
        with self.srv.raw(timeout=IO_TIMEOUT) as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.send_pieces(c, case)
            rs, why = self.read_responses(c, case.expect, max(lens), min(lens))
            self._responses = rs
            expect, closes = self.pick_outcome(case, rs, why)
            for i, (r, e) in enumerate(zip(rs, expect)):
                self.check_response(i, r, e, last=i == len(rs) - 1, closes=closes)
            if case.check:
                case.check(self, rs)
            self.check_connection(c, closes)
        if any(r.status >= 400 for r in rs):
            status, _, body = self.srv.get("/unharmed")
            self.assertEqual(status, 200, "a fresh connection after the rejected request "
                             "was not served: %d %r" % (status, body[:100]))

    def send_pieces(self, c, case):
        pieces = list(case.send)
        if case.follow:
            pieces[-1] = pieces[-1] + FOLLOW
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(case.pause)
            try:
                c.send(piece)
            except (BrokenPipeError, ConnectionResetError):
                return  # the server gave up early: what it said is read next

    def read_responses(self, c, primary, max_n, min_n):
        """Up to MAX_N responses (interim ones included); past MIN_N only
        those that come quickly. (responses, why the reading stopped)."""
        rs, why = [], "read %d responses" % max_n
        while len(rs) < max_n:
            method = primary[len(rs)].method if len(rs) < len(primary) else "GET"
            c.sock.settimeout(QUIET if len(rs) >= min_n else IO_TIMEOUT)
            try:
                rs.append(c.read_response(method, allow_interim=True))
            except ConnectionClosed as e:
                why = "the server closed (%s)" % e
                break
            except socket.timeout:
                why = "no complete response within %.1f s (have %s)" % (
                    c.sock.gettimeout(), shorten(c.buf))
                break
            finally:
                c.sock.settimeout(IO_TIMEOUT)
        return rs, why

    def pick_outcome(self, case, rs, why):
        got = [r.status for r in rs]
        for expect, closes in case.outcomes():
            if len(expect) == len(rs) and all(e.accepts(s) for e, s in zip(expect, got)):
                return expect, closes
        wanted = " or ".join(str([e.status for e in expect]) for expect, _ in case.outcomes())
        self.fail("statuses %s, expected %s; %s" % (got, wanted, why))

    def check_response(self, i, r, e, last, closes):
        where = "response %d (%d)" % (i + 1, r.status)
        if e.line is not None:
            self.assertEqual(r.raw.split(b"\r\n", 1)[0], e.line, where)
        if r.status < 200:
            return
        self.assertRegex(r.header("Date") or "", IMF_FIXDATE, "%s: Date" % where)
        self.assertEqual(r.header("Server"), self.server_header, "%s: Server" % where)
        self.check_framing(where, r, e)
        conn = (r.header("Connection") or "").lower()
        if e.conn == ABSENT:
            self.assertEqual(conn, "", "%s: Connection header" % where)
        elif e.conn is not None:
            self.assertEqual(conn, e.conn, "%s: Connection header" % where)
        if conn == "close":
            self.assertTrue(last and closes is not False,
                            "%s says Connection: close but the connection goes on" % where)
        if r.status >= 400:
            self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"),
                            "%s: Content-Type %r" % (where, r.header("Content-Type")))
            self.assertIn(str(r.status).encode(), r.body,
                          "%s: the body does not name the status: %r" % (where, r.body))
        self.check_body(where, r, e)

    def check_framing(self, where, r, e):
        cl, te = r.header("Content-Length"), r.header("Transfer-Encoding")
        if e.framing == LENGTH:
            self.assertTrue(cl is not None and te is None,
                            "%s: want Content-Length framing, got CL=%r TE=%r" % (where, cl, te))
        elif e.framing == CHUNKED:
            self.assertTrue(cl is None and (te or "").lower() == "chunked",
                            "%s: want chunked framing, got CL=%r TE=%r" % (where, cl, te))
        elif e.framing == CLOSE:
            self.assertTrue(cl is None and te is None,
                            "%s: want a close-delimited body, got CL=%r TE=%r" % (where, cl, te))

    def check_body(self, where, r, e):
        if e.body is not None:
            self.assertEqual(r.body, e.body, where)
        if not (e.fields or e.has or e.lacks or e.echo_body is not None):
            return
        f = r.echo_fields()
        for key, value in e.fields.items():
            self.assertEqual(f.get(key), value, "%s: echo %s" % (where, key))
        for line in e.has:
            self.assertIn(line, f["header"], "%s: echo headers" % where)
        for name in e.lacks:
            self.assertFalse([h for h in f["header"] if h.lower().startswith(name.lower() + ":")],
                             "%s: %s shown as a header: %s" % (where, name, f["header"]))
        if e.echo_body is not None:
            self.assertEqual(r.echo_body(), e.echo_body, "%s: echoed body" % where)

    def check_connection(self, c, closes):
        if closes is True:
            try:
                closed = c.closed_by_peer(CLOSE_TIMEOUT)
            except AssertionError as e:
                self.fail("bytes after the last response (a request behind it was "
                          "answered?): %s" % e)
            self.assertTrue(closed, "connection still open %.0f s after the last response"
                            % CLOSE_TIMEOUT)
        elif closes is False:
            try:
                c.send(b"GET /after-case HTTP/1.1\r\nHost: e2e\r\n\r\n")
                r = c.read_response()
            except (ConnectionClosed, BrokenPipeError, ConnectionResetError) as e:
                self.fail("the connection should stay open, but: %r" % e)
            self.assertEqual(r.status, 200, "the request after the case: %s" % shorten(r.raw))
            if GROUPS[self.GROUP][0] == "echo":
                self.assertEqual(r.echo_fields()["target"], "/after-case")


def _test_for(case):
    def test(self):
        self.run_case(case)
    test.__doc__ = None
    return unittest.expectedFailure(test) if case.known else test


def _class_name(group):
    return "".join(w.title() for w in group.split("_")) + "Conformance"


for _group in GROUPS:
    _attrs = {"GROUP": _group}
    for _i, _case in enumerate(CASES):
        if _case.group == _group:
            _attrs["test_%03d_%s" % (_i, _case.name)] = _test_for(_case)
    globals()[_class_name(_group)] = type(_class_name(_group), (ConformanceTestCase,), _attrs)


if __name__ == "__main__":
    unittest.main()
