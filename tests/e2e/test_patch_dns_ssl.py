#!/usr/bin/env python3
"""patch_all's acceptance rows "plain sockets + getaddrinfo" and "OpenSSL
client" (#14): an app using the ordinary blocking API, unmodified, on one
worker, with 50 concurrent requests that each wait ~100 ms on the server
side. With patch_all on they all finish together (the issue asks 0.3 s;
asserted < 1.5 s for loaded machines, the figure is printed) and /hello on
the same worker answers meanwhile; with it off they serialise (>= 5 s)
and the blocked-loop warning names the request.

- resolving_client (tests/plugins): getaddrinfo on a name only the test's
  DNS responder knows (it answers after 100 ms; the worker's resolv_conf
  names it, `nameserver 127.0.0.1:PORT`), then connect, write and read
  against a TCP server that answers after 100 ms; and each wait alone (the
  lookup with a backend that answers at once, the read with a name from
  the hosts file), so each figure compares with the issue's 0.3 s.
- ssl_client: SSL_connect, SSL_write, SSL_read against a Python ssl
  server with a self-signed certificate (made here by `openssl req`) that
  answers after 100 ms. Each request also raises an error of its own on
  OpenSSL's queue and checks, after its exchange, that it finds that one
  and no other request's: the ssl family's per-coroutine queue, under 50
  interleaved requests.

The servers the rows need are started here, on free loopback ports."""
import http.client
import os
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import ServerTestCase, test_plugin_path

DELAY = 0.1       # each server's wait before it answers
CONCURRENT = 50
NAME = "backend.greenicorn.test"


def report(text):
    """A measured figure, for the run's log."""
    sys.stderr.write("[figure] %s\n" % text)
    sys.stderr.flush()


class DnsResponder:
    """A DNS server on UDP 127.0.0.1 answering A questions for the names
    in RECORDS (AAAA: an empty answer; other names: NXDOMAIN) after DELAY,
    each answer on its own timer so overlapping lookups overlap."""

    def __init__(self, records, delay=DELAY):
        self.records = records
        self.delay = delay
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.timers = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = self._answer(query)
            if answer is None:
                continue
            with self.lock:
                self.queries += 1
                t = threading.Timer(self.delay, self._send, (answer, peer))
                self.timers.append(t)
                t.start()

    def _send(self, answer, peer):
        try:
            self.sock.sendto(answer, peer)
        except OSError:
            pass

    def _answer(self, query):
        if len(query) < 12:
            return None
        labels, at = [], 12
        while at < len(query) and query[at] != 0:
            n = query[at]
            labels.append(query[at + 1:at + 1 + n].decode("ascii", "replace"))
            at += 1 + n
        if at + 5 > len(query):
            return None
        qtype = struct.unpack("!H", query[at + 1:at + 3])[0]
        question = query[12:at + 5]
        name = ".".join(labels).lower()
        addr = self.records.get(name)
        answers = b""
        if addr is not None and qtype == 1:
            answers = (struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4)
                       + socket.inet_aton(addr))
        rcode = 0 if addr is not None else 3
        header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0],
                             0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
        return header + question + answers

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)
        with self.lock:
            for t in self.timers:
                t.cancel()


class SlowServer:
    """A TCP server on 127.0.0.1 that reads "ping", waits DELAY and answers
    "pong", then closes; with CONTEXT (an ssl.SSLContext) over TLS."""

    def __init__(self, context=None, delay=DELAY):
        self.context = context
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        conn.settimeout(10)
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.recv(16)
            time.sleep(self.delay)
            conn.sendall(b"pong")
            if self.context is not None:
                conn = conn.unwrap()  # close_notify, the client's back
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)


def get(port, path, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Burst:
    """CONCURRENT GET /fetch at once, each on its own connection, and
    GET /hello now and then while they run."""

    def __init__(self, port):
        self.port = port
        self.results = [None] * CONCURRENT
        self.ends = [None] * CONCURRENT
        self.hellos = []  # seconds each, answered while fetches ran

    def _fetch(self, i):
        try:
            self.results[i] = get(self.port, "/fetch")
        except OSError as e:
            self.results[i] = (None, repr(e).encode())
        self.ends[i] = time.monotonic()

    def run(self):
        threads = [threading.Thread(target=self._fetch, args=(i,))
                   for i in range(CONCURRENT)]
        self.start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.03)
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            status, body = get(self.port, "/hello")
            took = time.monotonic() - t0
            if status == 200 and body == b"hello" and \
                    any(t.is_alive() for t in threads):
                self.hellos.append(took)
            time.sleep(0.02)
        for t in threads:
            t.join(60)
        self.total = max(self.ends) - self.start
        return self


class PatchRows(ServerTestCase):
    """What the two rows share: a server with one worker running the
    row's app, patch_all on or off."""

    def serve(self, app, patch_all, args, green=None):
        # Patched, no run of a request's code may hold the loop for long
        # (a TLS handshake's CPU under a sanitizer stays well under 500 ms);
        # unpatched, every request does, for its 100 ms at least.
        settings = {"green": dict(green or {}, patch_all="on" if patch_all else "off"),
                    "app.args": args,
                    "workers": {"max_blocking_ms": 500 if patch_all else 50}}
        return self.start_server(app=test_plugin_path(app), workers=1,
                                 settings=settings)

    def check_parked(self, srv, row):
        # A first burst warms up what a first use costs once (the worker's
        # resolver reading its files, the clients' threads), as the other
        # rows of the matrix do; the second is timed.
        Burst(srv.port).run()
        burst = Burst(srv.port).run()
        self.assertEqual([r for r in burst.results if r != (200, b"pong")], [])
        report("%s, patch_all on: %d requests in %.3f s; /hello while they "
               "ran: %d answers, median %.1f ms, max %.1f ms"
               % (row, CONCURRENT, burst.total, len(burst.hellos),
                  1000 * statistics.median(burst.hellos),
                  1000 * max(burst.hellos)))
        # Serialised they would take >= 5 s; together ~0.1-0.2 s.
        self.assertLess(burst.total, 1.5)
        self.assertGreaterEqual(len(burst.hellos), 1)
        # The 10 ms, generously for a loaded machine or a sanitizer
        # build (50 TLS handshakes are CPU the worker spends between the
        # /hello requests): blocked, a /hello would wait for the whole
        # burst, >= 5 s.
        self.assertLess(statistics.median(burst.hellos), 0.25)
        self.assertLess(max(burst.hellos), 2.0)
        self.assertNotIn("held the event loop", srv.log())

    def check_serialised(self, srv, row):
        burst = Burst(srv.port).run()
        self.assertEqual([r for r in burst.results if r != (200, b"pong")], [])
        report("%s, patch_all off: %d requests in %.3f s"
               % (row, CONCURRENT, burst.total))
        self.assertGreaterEqual(burst.total, CONCURRENT * DELAY)
        srv.wait_for_log(r'"GET /fetch" held the event loop for \d+ ms '
                         r'without yielding \(max_blocking_ms = 50\)', 10)


class PlainSocketsAndGetaddrinfo(PatchRows):

    def setUp(self):
        self.backend = SlowServer()
        self.addCleanup(self.backend.close)
        self.dns = DnsResponder({NAME: "127.0.0.1"})
        self.addCleanup(self.dns.close)
        fd, self.resolv = tempfile.mkstemp(prefix="gn-resolv-")
        with os.fdopen(fd, "w") as f:
            f.write("nameserver 127.0.0.1:%d\noptions timeout:5 attempts:1\n"
                    % self.dns.port)
        self.addCleanup(os.unlink, self.resolv)

    def test_patched_lookups_and_reads_park(self):
        # Both waits in each request: the lookup's 100 ms, then the read's.
        srv = self.serve("resolving_client", True,
                         {"host": NAME, "port": self.backend.port},
                         {"resolv_conf": self.resolv})
        srv.wait_for_log(r"patch_all: socket, dns, time, select, ssl")
        self.check_parked(srv, "plain sockets + getaddrinfo (lookup and "
                          "read, 200 ms a request)")
        # Every request asked the responder (A and AAAA).
        self.assertGreaterEqual(self.dns.queries, CONCURRENT)

    def test_patched_lookups_park(self):
        # The 100 ms wait in the name lookup alone: the backend answers at
        # once.
        quick = SlowServer(delay=0)
        self.addCleanup(quick.close)
        srv = self.serve("resolving_client", True,
                         {"host": NAME, "port": quick.port},
                         {"resolv_conf": self.resolv})
        self.check_parked(srv, "getaddrinfo (the lookup waits 100 ms)")
        self.assertGreaterEqual(self.dns.queries, CONCURRENT)

    def test_patched_reads_park(self):
        # The 100 ms wait in the read alone: a name from the hosts file.
        srv = self.serve("resolving_client", True,
                         {"host": "localhost", "port": self.backend.port},
                         {"resolv_conf": self.resolv})
        self.check_parked(srv, "plain sockets (the read waits 100 ms)")
        self.assertEqual(self.dns.queries, 0)

    def test_without_patching_they_serialise(self):
        # glibc reads /etc/resolv.conf, never the worker's resolv_conf: the
        # unpatched app resolves "localhost" (the hosts file) instead, and
        # waits on the backend's 100 ms with the whole worker.
        srv = self.serve("resolving_client", False,
                         {"host": "localhost", "port": self.backend.port},
                         {"resolv_conf": self.resolv})
        self.check_serialised(srv, "plain sockets + getaddrinfo")
        self.assertEqual(self.dns.queries, 0)


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class OpenSslClient(PatchRows):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gn-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", self.cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost"],
            check=True, capture_output=True, timeout=30)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.backend = SlowServer(context)
        self.addCleanup(self.backend.close)

    def args(self):
        return {"port": self.backend.port, "ca": self.cert}

    def test_patched_tls_reads_park(self):
        srv = self.serve("ssl_client", True, self.args())
        srv.wait_for_log(r"patch_all: socket, dns, time, select, ssl")
        self.check_parked(srv, "OpenSSL client")

    def test_without_patching_they_serialise(self):
        srv = self.serve("ssl_client", False, self.args())
        self.check_serialised(srv, "OpenSSL client")


if __name__ == "__main__":
    unittest.main()
