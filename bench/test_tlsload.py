#!/usr/bin/env python3
"""bench/tlsload against a TLS server of Python's ssl module.

    python3 bench/test_tlsload.py -v     # TLSLOAD=build/bench/tlsload by default

tlsload's handshakes/s is only worth something if a handshake that went
wrong cannot count: each client (its own bare TLS 1.3 one, bench/tlsraw.c,
and OpenSSL's) must complete full handshakes against a real TLS 1.3 server
and read its "HTTP/1.1 200"; an answer other than 200 and a server that
cannot speak TLS 1.3 must show as errors, not handshakes. The server runs
in a thread of this process on a free 127.0.0.1 port, with an ECDSA P-256
certificate made for the run; every run is bounded by a timeout.
"""
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TLSLOAD = os.environ.get("TLSLOAD") or os.path.join(REPO, "build", "bench", "tlsload")


class Server:
    """Answers each connection's request with STATUS and closes with a
    close_notify; MAX_VERSION caps the protocol (TLS 1.2: raw must fail)."""

    def __init__(self, certdir, status=200, max_version=ssl.TLSVersion.TLSv1_3):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(certdir, "cert.pem"),
                                 os.path.join(certdir, "key.pem"))
        self.ctx.maximum_version = max_version
        self.status = status
        self.handshakes = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(5)
            tls = None
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True,
                                           do_handshake_on_connect=False)
                self._answer(tls)
            except (OSError, ssl.SSLError):
                pass  # the client reset it (tlsload closes hard), or no TLS 1.3
            finally:
                (tls or conn).close()

    def _answer(self, tls):
        tls.do_handshake()
        self.handshakes += 1
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                return
            data += chunk
        body = b"hello"
        tls.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (self.status, len(body), body))
        tls.unwrap()

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def run(port, lib, seconds=1.0):
    out = subprocess.run([TLSLOAD, "-p", str(port), "-c", "4", "-d", str(seconds),
                          "-w", "0.2", "-L", lib],
                         capture_output=True, text=True, timeout=60)
    results = dict(re.findall(r"^result (\w+) (\S+)$", out.stdout, re.M))
    return {k: float(v) for k, v in results.items()}, out


class TlsloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tlsload-test-")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", os.path.join(cls.dir, "key.pem"),
                        "-out", os.path.join(cls.dir, "cert.pem")],
                       check=True, capture_output=True, timeout=60)

    def serve(self, **kw):
        srv = Server(self.dir, **kw)
        self.addCleanup(srv.stop)
        return srv

    def test_raw_client_makes_full_handshakes(self):
        srv = self.serve()
        r, out = run(srv.port, "raw")
        self.assertGreater(r.get("handshakes", 0), 5, out.stdout + out.stderr)
        self.assertEqual(r.get("errors"), 0, out.stdout + out.stderr)
        self.assertIn("X25519 raw", out.stdout)
        self.assertGreaterEqual(srv.handshakes, r["handshakes"])

    def test_openssl_client_makes_full_handshakes(self):
        srv = self.serve()
        r, out = run(srv.port, "openssl")
        self.assertGreater(r.get("handshakes", 0), 5, out.stdout + out.stderr)
        self.assertEqual(r.get("errors"), 0, out.stdout + out.stderr)

    def test_an_answer_other_than_200_is_an_error(self):
        srv = self.serve(status=503)
        r, out = run(srv.port, "raw", 0.5)
        self.assertEqual(r.get("handshakes", 0), 0, out.stdout)
        self.assertGreater(r.get("errors", 0), 0, out.stdout)
        self.assertNotEqual(out.returncode, 0)

    def test_raw_client_fails_on_a_server_without_tls13(self):
        srv = self.serve(max_version=ssl.TLSVersion.TLSv1_2)
        r, out = run(srv.port, "raw", 0.5)
        self.assertEqual(r.get("handshakes", 0), 0, out.stdout)
        self.assertGreater(r.get("errors", 0), 0, out.stdout)


if __name__ == "__main__":
    unittest.main()
