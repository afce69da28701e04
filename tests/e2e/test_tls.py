#!/usr/bin/env python3
"""TLS termination: tls:// binds beside plain ones, curl and Python's ssl
over them (keep-alive, a POST body, a file sent with sendfile), `openssl
s_client` (TLS 1.2 and 1.3 accepted, 1.1 refused, ALPN http/1.1), client
certificates with cert_reqs, a client that stalls mid-handshake, a stream
app and a WebSocket over TLS, what the server reads ahead (the first
bytes with the handshake's last flight, several records in one write,
several messages in one record) served on each protocol, the
certificates refused at start-up with a message that names the file, and the PROXY protocol on a TLS bind (the
header in the clear before the ClientHello, from a raw client and from
HAProxy's `send-proxy-v2 ssl`).

The certificates are made by the test with `openssl` (a CA, a server
certificate for 127.0.0.1 signed by it, a client certificate, a stranger's
client certificate, an expired certificate, a key that belongs to no
certificate here) in a temp directory."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Server, app_path, run_cli
import wsclient

IO = 30.0  # seconds for any one exchange: generous, on a loaded machine
OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")

CA_CNF = """[ca]
default_ca = d
[d]
database = {dir}/index
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
"""


def openssl(*args, cwd):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args), r.stderr))
    return r


class Certs:
    """The certificates of one test module, in DIR."""

    def __init__(self, dir):
        self.dir = dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "3", "-subj", "/CN=greenicorn test CA", cwd=dir)
        with open(os.path.join(dir, "ca.cnf"), "w") as f:
            f.write(CA_CNF.format(dir=dir))
        open(os.path.join(dir, "index"), "w").close()
        with open(os.path.join(dir, "serial"), "w") as f:
            f.write("01\n")
        self.ca = self.path("ca.pem")
        self.server_cert, self.server_key = self.issue(
            "server", "/CN=127.0.0.1", san="IP:127.0.0.1,DNS:localhost")
        self.client_cert, self.client_key = self.issue("client", "/CN=alice")
        self.old_cert, self.old_key = self.issue(
            "old", "/CN=old", dates=("20200101000000Z", "20200201000000Z"))
        # A stranger: a self-signed client certificate the CA never saw.
        openssl("req", "-x509", *ec, "-keyout", "stranger.key", "-out",
                "stranger.pem", "-days", "3", "-subj", "/CN=mallory", cwd=dir)
        self.stranger_cert = self.path("stranger.pem")
        self.stranger_key = self.path("stranger.key")
        # A key of its own: it matches no certificate here.
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", "other.key", cwd=dir)
        self.other_key = self.path("other.key")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, subj, san=None, dates=None):
        """A key and a certificate for SUBJ signed by the CA."""
        ext = ["-addext", "subjectAltName=" + san] if san else []
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", subj, *ext, cwd=self.dir)
        when = (["-startdate", dates[0], "-enddate", dates[1]] if dates
                else ["-days", "3"])
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
                "-keyfile", "ca.key", "-in", name + ".csr", "-out",
                name + ".pem", *when, cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")


CERTS = None
TMP = None


def setUpModule():
    global CERTS, TMP
    for tool, name in ((OPENSSL, "openssl"), (CURL, "curl")):
        if tool is None:
            raise unittest.SkipTest("%s is not installed (scripts/install-deps --test)" % name)
    TMP = tempfile.mkdtemp(prefix="greenicorn-tls-")
    CERTS = Certs(TMP)


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


class TlsServer(Server):
    """A Server whose bind is tls://127.0.0.1:PORT, with CERTS' server
    certificate; PLAIN=True adds a plain bind on another port."""

    def __init__(self, app="echo", tls=None, plain=False, **kw):
        self.tls = tls or {}
        self.plain = plain
        self.plain_port = harness.free_port() if plain else None
        super().__init__(app=app, **kw)

    def config_sections(self):
        sections = super().config_sections()
        binds = "tls://127.0.0.1:%d" % self.port
        if self.plain:
            binds += " 127.0.0.1:%d" % self.plain_port
        sections["server"]["bind"] = binds
        tls = {"certfile": CERTS.server_cert, "keyfile": CERTS.server_key}
        tls.update(self.tls)
        sections["tls"] = tls
        return sections

    def listening_line(self):
        return "listening at: https://127.0.0.1:%d (%d)" % (self.port, self.proc.pid)

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port


def client_context(cert=None, key=None):
    ctx = ssl.create_default_context(cafile=CERTS.ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def https_get(port, path="/", ctx=None, method="GET", body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=IO,
                                       context=ctx or client_context())
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def fields(body):
    """The echo app's "key: value" lines."""
    head = body.split(b"\n\n", 1)[0].decode("latin-1")
    return dict(line.partition(": ")[::2] for line in head.split("\n"))


def s_client(port, *args, data=b"", timeout=IO):
    """`openssl s_client` to PORT with ARGS, sending DATA: (rc, output)."""
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
           "-CAfile", CERTS.ca, "-verify_return_error", "-ign_eof"] + list(args)
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode("latin-1")


def curl(*args, timeout=IO):
    cmd = [CURL, "-sS", "--max-time", str(int(timeout)), "--cacert", CERTS.ca] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=timeout + 10)


class TestHttps(unittest.TestCase):
    """One server with a TLS and a plain bind for the class."""

    @classmethod
    def setUpClass(cls):
        cls.www = tempfile.mkdtemp(prefix="greenicorn-tls-www-")
        cls.big = os.urandom(3 * 1024 * 1024 + 123)
        with open(os.path.join(cls.www, "big.bin"), "wb") as f:
            f.write(cls.big)
        cls.srv = TlsServer(plain=True, workers=1, settings={
            "app:files": {"module": app_path("static"), "mount": "/static"},
            "app:files.args": {"root": cls.www},
        })
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        shutil.rmtree(cls.www, ignore_errors=True)

    def test_curl_keepalive_and_post(self):
        url = self.srv.url
        body = os.urandom(200 * 1024)
        path = os.path.join(TMP, "post.bin")
        with open(path, "wb") as f:
            f.write(body)
        out = os.path.join(TMP, "post.out")
        # Three requests on one connection: num_connects is 0 on reuse.
        r = curl("-w", "%{http_code} %{num_connects} %{scheme}\n",
                 url + "/a", url + "/b", "-o", "/dev/null", "-o", "/dev/null")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().split()
        self.assertEqual(lines, ["200", "1", "HTTPS", "200", "0", "HTTPS"], r.stdout)
        r = curl("--data-binary", "@" + path, "-o", out, url + "/post")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            echoed = f.read()
        self.assertEqual(fields(echoed)["method"], "POST")
        self.assertEqual(echoed.split(b"\n\n", 1)[1], body)

    def test_scheme_https_and_plain_bind_beside(self):
        status, body = https_get(self.srv.port, "/x")
        self.assertEqual(status, 200)
        self.assertEqual(fields(body)["scheme"], "https")
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.plain_port, timeout=IO)
        conn.request("GET", "/x")
        r = conn.getresponse()
        self.assertEqual(fields(r.read())["scheme"], "http")
        conn.close()

    def test_close_notify_when_the_server_closes(self):
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=IO)
        with client_context().wrap_socket(raw, server_hostname="127.0.0.1",
                                          suppress_ragged_eofs=False) as s:
            s.sendall(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)  # SSLEOFError if no close_notify came
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:80])

    def test_python_ssl_several_requests_one_connection(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.srv.port, timeout=IO,
                                           context=client_context())
        try:
            ports = set()
            for i in range(5):
                conn.request("POST", "/n%d" % i, body=b"x" * (i * 7000))
                r = conn.getresponse()
                data = r.read()
                self.assertEqual(r.status, 200)
                self.assertEqual(data.split(b"\n\n", 1)[1], b"x" * (i * 7000))
                ports.add(conn.sock.getsockname()[1])
            self.assertEqual(len(ports), 1)
            self.assertEqual(conn.sock.version(), "TLSv1.3")
        finally:
            conn.close()

    def test_sendfile_over_tls(self):
        status, data = https_get(self.srv.port, "/static/big.bin")
        self.assertEqual(status, 200)
        self.assertEqual(len(data), len(self.big))
        self.assertEqual(data, self.big)
        # The log says how files go out over TLS.
        self.srv.wait_for_log(r"TLS: OpenSSL 3\.\S+ .*, certificate \S+server\.pem; "
                              r"sendfile over TLS: reads and writes \(no kernel TLS\)")

    def test_s_client_versions_and_alpn(self):
        req = b"GET /v HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            with self.subTest(flag=flag):
                rc, out = s_client(self.srv.port, flag, "-alpn", "h2,http/1.1", data=req)
                self.assertEqual(rc, 0, out)
                self.assertIn("Protocol  : %s" % name if name == "TLSv1.2"
                              else "New, TLSv1.3", out)
                self.assertIn("ALPN protocol: http/1.1", out)
                self.assertIn("Verify return code: 0 (ok)", out)
                self.assertIn("HTTP/1.1 200 OK", out)
                self.assertIn("scheme: https", out)
        # TLS 1.1, even from a client willing to speak it, is refused.
        rc, out = s_client(self.srv.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                           data=req)
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("HTTP/1.1 200", out)
        self.assertRegex(out, r"alert protocol version|unsupported protocol|"
                              r"no protocols available|wrong version number")
        # Without ALPN the handshake goes on, naming none.
        rc, out = s_client(self.srv.port, data=req)
        self.assertEqual(rc, 0, out)
        self.assertIn("No ALPN negotiated", out)

    def test_no_weak_cipher_by_default(self):
        req = b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        # CBC, no forward secrecy, SHA-1 MACs: none is offered.
        for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA",
                       "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"):
            with self.subTest(cipher=cipher):
                rc, out = s_client(self.srv.port, "-tls1_2", "-cipher",
                                   cipher + "@SECLEVEL=0", data=req)
                self.assertNotEqual(rc, 0, out)
                self.assertNotIn("HTTP/1.1 200", out)
                self.assertIn("handshake failure", out)
        for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
            with self.subTest(cipher=cipher):
                rc, out = s_client(self.srv.port, "-tls1_2", "-cipher", cipher, data=req)
                self.assertEqual(rc, 0, out)
                self.assertIn("Cipher is %s" % cipher, out)

    def test_stalled_handshake_costs_one_coroutine(self):
        # Half a ClientHello: the record header promises more.
        stalled = socket.create_connection(("127.0.0.1", self.srv.port), timeout=IO)
        try:
            stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            time.sleep(0.3)
            t0 = time.monotonic()
            for i in range(3):
                status, _ = https_get(self.srv.port, "/during%d" % i)
                self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - t0, 10.0)
        finally:
            stalled.close()


class TestHandshakeTimeout(unittest.TestCase):
    def test_stalled_client_dropped_after_handshake_timeout(self):
        with TlsServer(tls={"handshake_timeout": 2},
                       settings={"http": {"first_byte_timeout": 60}}) as srv:
            stalled = socket.create_connection(("127.0.0.1", srv.port), timeout=IO)
            try:
                t0 = time.monotonic()
                stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                # Others are served meanwhile, by the one worker.
                status, body = https_get(srv.port, "/other")
                self.assertEqual(status, 200)
                stalled.settimeout(IO)
                try:
                    data = stalled.recv(100)
                except ConnectionResetError:
                    data = b""
                waited = time.monotonic() - t0
                self.assertEqual(data, b"")
                self.assertGreaterEqual(waited, 1.5)
                self.assertLess(waited, 15.0)
            finally:
                stalled.close()
            self.assertEqual(https_get(srv.port, "/after")[0], 200)


class TestTimeoutsAfterTheHandshake(unittest.TestCase):
    def test_silent_after_handshake_gets_header_timeout(self):
        with TlsServer(settings={"http": {"header_timeout": 2, "first_byte_timeout": 60}}) as srv:
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=IO)
            # A close without close_notify would raise SSLEOFError here.
            with client_context().wrap_socket(raw, server_hostname="127.0.0.1",
                                              suppress_ragged_eofs=False) as s:
                t0 = time.monotonic()
                s.sendall(b"GET / HTTP/1.1\r\n")  # and no more
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                waited = time.monotonic() - t0
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:100])
            self.assertGreaterEqual(waited, 1.5)
            self.assertLess(waited, 15.0)


class TestClientCertificates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = TlsServer(tls={"ca_certs": CERTS.ca, "cert_reqs": "required"})
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def test_accepted_with_a_certificate_the_ca_signed(self):
        r = curl("--cert", CERTS.client_cert, "--key", CERTS.client_key,
                 self.srv.url + "/mine")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(fields(r.stdout)["scheme"], "https")
        status, _ = https_get(self.srv.port, "/py", ctx=client_context(
            CERTS.client_cert, CERTS.client_key))
        self.assertEqual(status, 200)

    def test_refused_without_one(self):
        r = curl(self.srv.url + "/none")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            https_get(self.srv.port, "/none")

    def test_refused_with_a_stranger(self):
        r = curl("--cert", CERTS.stranger_cert, "--key", CERTS.stranger_key,
                 self.srv.url + "/stranger")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        rc, out = s_client(self.srv.port, "-cert", CERTS.stranger_cert, "-key",
                           CERTS.stranger_key, "-tls1_2",
                           data=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertNotIn("HTTP/1.1 200", out)
        self.assertRegex(out, r"alert (unknown ca|certificate unknown|bad certificate)")


class TestOptionalClientCertificates(unittest.TestCase):
    def test_optional_serves_both(self):
        with TlsServer(tls={"ca_certs": CERTS.ca, "cert_reqs": "optional"}) as srv:
            self.assertEqual(https_get(srv.port, "/anon")[0], 200)
            self.assertEqual(https_get(srv.port, "/cert", ctx=client_context(
                CERTS.client_cert, CERTS.client_key))[0], 200)


class TestMinVersion(unittest.TestCase):
    def test_tls13_only(self):
        with TlsServer(tls={"tls_min_version": "1.3"}) as srv:
            req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            rc, out = s_client(srv.port, "-tls1_2", data=req)
            self.assertNotEqual(rc, 0, out)
            self.assertNotIn("HTTP/1.1 200", out)
            rc, out = s_client(srv.port, "-tls1_3", data=req)
            self.assertEqual(rc, 0, out)
            self.assertIn("HTTP/1.1 200 OK", out)


class TlsWsClient(wsclient.WsClient):
    """wsclient.WsClient over TLS (wss://)."""

    def __init__(self, port, path="/", timeout=IO):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = client_context().wrap_socket(raw, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(wsclient.handshake_request(path, key, port=port))
        self.status, self.headers, self.buf = wsclient.read_head(self.sock)
        if self.status != 101:
            raise AssertionError("handshake answered %d %r" % (self.status, self.headers))
        if self.headers.get("sec-websocket-accept") != wsclient.accept_for(key):
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % self.headers)


class TestUpgradedAndStreams(unittest.TestCase):
    def test_websocket_over_tls(self):
        with TlsServer(app="ws_echo") as srv:
            with TlsWsClient(srv.port) as ws:
                for size in (5, 70000, 1 << 20):
                    payload = os.urandom(size)
                    ws.send_frame(wsclient.OP_BINARY, payload)
                    self.assertEqual(ws.recv_message(), (wsclient.OP_BINARY, payload))
                ws.send_close(1000)
                self.assertEqual(ws.expect_close(), 1000)

    def test_stream_app_over_tls(self):
        sport = harness.free_port()
        with TlsServer(settings={
                "stream:echo": {"bind": "tls://127.0.0.1:%d" % sport,
                                "module": app_path("line_echo")},
        }) as srv:
            srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:echo\] over TLS"
                             % sport)
            raw = socket.create_connection(("127.0.0.1", sport), timeout=IO)
            with client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                lines = [b"hello\n", b"x" * 3000 + b"\n", b"bye\n"]
                s.sendall(b"".join(lines))
                got = b""
                while len(got) < sum(map(len, lines)):
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "closed early after %r" % got[:80])
                    got += chunk
                self.assertEqual(got, b"".join(lines))
            # Plain bytes on a TLS stream bind get no echo.
            with socket.create_connection(("127.0.0.1", sport), timeout=IO) as p:
                p.sendall(b"plain\n" * 100)
                try:
                    data = p.recv(100)
                except ConnectionResetError:
                    data = b""
                self.assertNotIn(b"plain", data)


class MemTls:
    """A TLS client over memory BIOs on a TCP socket: its records leave
    only at flush() (or sendall(), which flushes), so a test chooses which
    share one TCP write: the client's last handshake flight with the first
    bytes, two records in one write, two messages in one record. What the
    server reads ahead of these in one recv is the server's to account
    for (net/tls_transport.c): no edge comes for it."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_context().wrap_bio(self.inc, self.out,
                                             server_hostname="127.0.0.1")
        # The handshake up to the client's Finished, which stays held.
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed during the handshake")
                self.inc.write(data)
        assert self.tls.version() == "TLSv1.3", self.tls.version()
        assert self.out.pending > 0, "no last flight held"

    def record(self, data):
        """DATA as one record (16 KiB at most), held until flush()."""
        assert len(data) <= 16384
        self.tls.write(data)

    def flush(self):
        """Everything held, in one write."""
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def sendall(self, data):
        self.record(data)
        self.flush()

    def recv(self, n):
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.inc.write(data)
            except ssl.SSLZeroReturnError:
                return b""

    def read_exactly(self, n):
        got = b""
        while len(got) < n:
            chunk = self.recv(n - len(got))
            if not chunk:
                raise AssertionError("closed after %r" % got[-80:])
            got += chunk
        return got

    def read_to_end(self):
        got = b""
        while True:
            chunk = self.recv(65536)
            if not chunk:
                return got
            got += chunk

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TestReadAhead(unittest.TestCase):
    """The server reads ahead (one recv takes all the socket has): bytes
    that came with the handshake's last flight, several records in one
    TCP write and several messages in one record are all served, on each
    protocol, without waiting for an edge that will not come."""

    def test_http_requests_with_the_last_flight(self):
        with TlsServer(workers=1) as srv:
            with MemTls(srv.port) as c:
                # Finished and two requests in one record, in one write.
                c.record(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
                c.flush()
                heads = self.responses(c, 2)
                self.assertEqual([fields(b)["path"] for b in heads], ["/a", "/b"])
                # Idle, then two records in one write; then the end.
                time.sleep(0.2)
                c.record(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
                c.record(b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                c.flush()
                heads = self.responses(c, 2)
                self.assertEqual([fields(b)["path"] for b in heads], ["/c", "/d"])
                self.assertEqual(c.read_to_end(), b"")

    def responses(self, c, n):
        """The bodies of N responses with a Content-Length."""
        bodies, buf = [], b""
        while len(bodies) < n:
            while b"\r\n\r\n" not in buf:
                chunk = c.recv(65536)
                self.assertTrue(chunk, "closed after %d responses: %r" % (len(bodies), buf))
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            if len(buf) < length:
                buf += c.read_exactly(length - len(buf))
            bodies.append(buf[:length])
            buf = buf[length:]
        return bodies

    def test_stream_lines_with_the_last_flight(self):
        # A fresh worker's first connection: slow the first time through,
        # the worker often reads the client's Finished and the lines after
        # it in the handshake's one recv, before any edge said readable.
        for attempt in range(4):
            sport = harness.free_port()
            with TlsServer(settings={
                    "stream:echo": {"bind": "tls://127.0.0.1:%d" % sport,
                                    "module": app_path("line_echo")},
            }, workers=1) as srv:
                srv.wait_for_log(r"listening at: 127\.0\.0\.1:%d for \[stream:echo\] "
                                 r"over TLS" % sport)
                with MemTls(sport) as c:
                    # Finished, two lines in one record and a third in the
                    # next, in one write.
                    c.record(b"one\ntwo\n")
                    c.record(b"x" * 3000 + b"\n")
                    c.flush()
                    want = b"one\ntwo\n" + b"x" * 3000 + b"\n"
                    self.assertEqual(c.read_exactly(len(want)), want)
                    # Idle, then two records in one write.
                    time.sleep(0.1)
                    c.record(b"three\n")
                    c.record(b"four\n")
                    c.flush()
                    self.assertEqual(c.read_exactly(11), b"three\nfour\n")

    def test_websocket_upgrade_and_frame_with_the_last_flight(self):
        with TlsServer(app="ws_echo", workers=1) as srv:
            with MemTls(srv.port) as c:
                key = base64.b64encode(os.urandom(16)).decode()
                # Finished, the upgrade and two frames, in one write.
                c.record(wsclient.handshake_request("/", key, port=srv.port) +
                         wsclient.frame(wsclient.OP_TEXT, b"first"))
                c.record(wsclient.frame(wsclient.OP_TEXT, b"second"))
                c.flush()
                status, headers, buf = wsclient.read_head(c)
                self.assertEqual(status, 101)
                ws = wsclient.WsClient.__new__(wsclient.WsClient)
                ws.sock, ws.buf = c, buf
                self.assertEqual(ws.recv_message(), (wsclient.OP_TEXT, b"first"))
                self.assertEqual(ws.recv_message(), (wsclient.OP_TEXT, b"second"))
                # Idle, then two frames in one record.
                time.sleep(0.1)
                c.sendall(wsclient.frame(wsclient.OP_TEXT, b"third") +
                          wsclient.frame(wsclient.OP_TEXT, b"fourth"))
                self.assertEqual(ws.recv_message(), (wsclient.OP_TEXT, b"third"))
                self.assertEqual(ws.recv_message(), (wsclient.OP_TEXT, b"fourth"))
                ws.send_close(1000)
                self.assertEqual(ws.expect_close(), 1000)


class TestStartRefused(unittest.TestCase):
    """A certificate or key that cannot serve refuses the start, naming the
    file, before anything is bound."""

    def start(self, tls, extra=()):
        port = harness.free_port()
        cmd = ["-b", "tls://127.0.0.1:%d" % port]
        for key, value in tls.items():
            cmd += ["--" + key.replace("_", "-"), value]
        r = run_cli(cmd + list(extra) + [app_path("hello")], timeout=30)
        # Nothing was bound: the port is still free.
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
        return r

    def test_expired(self):
        r = self.start({"certfile": CERTS.old_cert, "keyfile": CERTS.old_key})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s: the certificate expired on Feb  1 00:00:00 2020 GMT"
                      % CERTS.old_cert, r.stderr)
        self.assertNotIn("listening at", r.stderr)

    def test_key_of_another_certificate(self):
        r = self.start({"certfile": CERTS.server_cert, "keyfile": CERTS.other_key})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s: the private key does not match the certificate in %s"
                      % (CERTS.other_key, CERTS.server_cert), r.stderr)

    def test_missing_file(self):
        missing = os.path.join(TMP, "nope.pem")
        r = self.start({"certfile": missing})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s: cannot read the certificate: No such file or directory"
                      % missing, r.stderr)

    def test_not_a_certificate(self):
        r = self.start({"certfile": CERTS.server_key, "keyfile": CERTS.server_key})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s: not a PEM certificate" % CERTS.server_key, r.stderr)

    def test_check_config_says_so_too(self):
        r = run_cli(["--check-config", "-b", "tls://127.0.0.1:1", "--certfile",
                     CERTS.old_cert, "--keyfile", CERTS.old_key, app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s: the certificate expired" % CERTS.old_cert, r.stderr)

    def test_tls_bind_needs_a_certfile(self):
        r = run_cli(["--check-config", "-b", "tls://127.0.0.1:1", app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("bind tls://127.0.0.1:1: TLS needs a certfile", r.stderr)

    def test_cert_reqs_needs_ca_certs(self):
        r = run_cli(["--check-config", "--certfile", CERTS.server_cert, "--keyfile",
                     CERTS.server_key, "--cert-reqs", "required", app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cert_reqs = required needs ca_certs", r.stderr)

    def test_bad_cipher_list(self):
        r = run_cli(["--check-config", "--certfile", CERTS.server_cert, "--keyfile",
                     CERTS.server_key, "--ciphers", "NO-SUCH-CIPHER", app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ciphers: no cipher in 'NO-SUCH-CIPHER'", r.stderr)


def served_cert_subject(port):
    """The CN of the certificate a new connection to PORT is shown."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO)
    with client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
        subject = dict(x[0] for x in s.getpeercert()["subject"])
    return subject["commonName"]


class TestReload(unittest.TestCase):
    """HUP loads the certificate again; a bad one keeps the running one."""

    def test_hup_reloads_and_a_bad_key_keeps_the_old(self):
        live = os.path.join(TMP, "reload")
        os.makedirs(live, exist_ok=True)
        cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
        shutil.copy(CERTS.server_cert, cert)
        shutil.copy(CERTS.server_key, key)
        new_cert, new_key = CERTS.issue("renewed", "/CN=localhost",
                                        san="IP:127.0.0.1,DNS:localhost")
        with TlsServer(tls={"certfile": cert, "keyfile": key}) as srv:
            (old,) = srv.wait_workers(1)
            self.assertEqual(served_cert_subject(srv.port), "127.0.0.1")
            # Renewed: the new one is served after HUP.
            shutil.copy(new_cert, cert)
            shutil.copy(new_key, key)
            srv.signal(signal.SIGHUP)
            harness.wait_until(lambda: served_cert_subject(srv.port) == "localhost",
                               20, what="the renewed certificate served")
            # Until the arbiter sees the new worker up, the old one still
            # accepts (with the old certificate): the reload ends when it
            # is gone.
            harness.wait_until(lambda: not harness.pid_alive(old), 20,
                               what="the old generation's worker to exit")
            # A key that is not the certificate's: refused, the old kept.
            shutil.copy(CERTS.other_key, key)
            srv.signal(signal.SIGHUP)
            srv.wait_for_log(r"reload failed, keeping the running configuration: "
                             r"%s: the private key does not match the certificate in %s"
                             % (re.escape(key), re.escape(cert)), timeout=20)
            self.assertEqual(served_cert_subject(srv.port), "localhost")
            self.assertEqual(https_get(srv.port, "/still")[0], 200)


PROXIED = "203.0.113.7"  # the client a PROXY header names
ACCESS_RE = re.compile(r'^(\S+) - - \[[^\]]*\] "(\S+) (\S+) HTTP/\d\.\d" (\d{3}) ')


def proxy_v2(addr, port, dst="127.0.0.1", dport=443):
    """A PROXY protocol v2 header: PROXY, TCP over IPv4, ADDR:PORT to
    DST:DPORT."""
    body = (socket.inet_aton(addr) + socket.inet_aton(dst) +
            port.to_bytes(2, "big") + dport.to_bytes(2, "big"))
    return (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + len(body).to_bytes(2, "big") +
            body)


def tls_after_preface(port, preface, request, split=False):
    """Connect to PORT, send PREFACE in the clear and then a TLS session
    that sends REQUEST and reads the answer to the server's close. The
    preface and the ClientHello go out in one write (the server must take
    the preface's bytes alone), or, SPLIT, the preface in two writes apart
    and the ClientHello after. The answer's bytes."""
    ctx = client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO)
    try:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        if split:
            sock.sendall(preface[:7])
            time.sleep(0.2)
            sock.sendall(preface[7:])
            time.sleep(0.2)
            sock.sendall(hello)
        else:
            sock.sendall(preface + hello)
        answer, sent = b"", False
        while True:
            try:
                if not sent:
                    tls.do_handshake()
                    tls.write(request)
                    sent = True
                while True:
                    chunk = tls.read(65536)
                    if not chunk:  # the server's close_notify
                        return answer
                    answer += chunk
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return answer
            if out.pending:
                sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                return answer
            inc.write(data)
    finally:
        sock.close()


class TestProxyProtocol(unittest.TestCase):
    """proxy_protocol on a TLS bind: the PROXY header comes in the clear
    before the ClientHello; the request's REMOTE_ADDR and the access log
    name the client it says."""

    @classmethod
    def setUpClass(cls):
        cls.srv = TlsServer(workers=1, accesslog=True, settings={"proxy": {"proxy_protocol": "on"}})
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def logged(self, target):
        """The access log's address for TARGET, once it is logged."""
        def find():
            for line in self.srv.access_log().splitlines():
                m = ACCESS_RE.match(line)
                if m and m.group(3) == target:
                    return m.group(1)
            return None
        return harness.wait_until(find, 10, what="access log line for " + target)

    def check(self, target, **kw):
        answer = tls_after_preface(
            self.srv.port, proxy_v2(PROXIED, 4242),
            b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            **kw)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        f = fields(answer.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(f["remote"], "%s:4242" % PROXIED, f)
        self.assertEqual(f["scheme"], "https", f)
        self.assertEqual(self.logged(target), PROXIED)

    def test_v2_header_and_client_hello_in_one_write(self):
        self.check("/proxy/one")

    def test_v2_header_in_pieces(self):
        self.check("/proxy/pieces", split=True)

    def test_v1_header(self):
        answer = tls_after_preface(
            self.srv.port, b"PROXY TCP4 198.51.100.2 127.0.0.1 5151 443\r\n",
            b"GET /proxy/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        f = fields(answer.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(f["remote"], "198.51.100.2:5151", f)
        self.assertEqual(self.logged("/proxy/v1"), "198.51.100.2")

    def test_no_header_is_dropped(self):
        # A TLS client that sends no PROXY header is dropped: its
        # ClientHello is not a PROXY header.
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=IO)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with client_context().wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
        raw.close()
        self.assertEqual(https_get_proxied(self.srv.port), PROXIED)


def https_get_proxied(port):
    """The remote address one proxied request on PORT shows."""
    answer = tls_after_preface(
        port, proxy_v2(PROXIED, 4343),
        b"GET /proxy/again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return fields(answer.split(b"\r\n\r\n", 1)[1])["remote"].rpartition(":")[0]


HAPROXY = shutil.which("haproxy")
HAPROXY_CLIENT = "127.0.0.3"  # where HAProxy's client connects from
HAPROXY_CFG = """global
    log stderr format raw local0 info
defaults
    log global
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    default_backend g
backend g
    server g 127.0.0.1:{upstream} send-proxy-v2 ssl verify none
"""


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps --test)")
class TestProxyProtocolBehindHaproxy(unittest.TestCase):
    """HAProxy (HTTP mode) re-encrypts to a tls:// bind and sends PROXY v2
    first (`send-proxy-v2 ssl verify none`): greenicorn sees HAProxy's
    client."""

    def test_haproxy_send_proxy_v2_ssl(self):
        tmp = tempfile.mkdtemp(prefix="greenicorn-tls-haproxy-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with TlsServer(workers=1, accesslog=True, settings={"proxy": {"proxy_protocol": "on"}}) as srv:
            port = harness.free_port()
            cfg = os.path.join(tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(port=port, upstream=srv.port))
            log = open(os.path.join(tmp, "haproxy.log"), "wb")
            self.addCleanup(log.close)
            proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

            def stop():
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(10)
            self.addCleanup(stop)

            def listening():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    self.assertIsNone(proc.poll(), "haproxy exited")
                    return False
            harness.wait_until(listening, 20, what="haproxy listening")
            for i in range(3):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO,
                                                  source_address=(HAPROXY_CLIENT, 0))
                try:
                    conn.request("GET", "/haproxy/%d" % i)
                    r = conn.getresponse()
                    body = r.read()
                    client_port = conn.sock.getsockname()[1]
                finally:
                    conn.close()
                self.assertEqual(r.status, 200, body[:300])
                f = fields(body)
                self.assertEqual(f["remote"], "%s:%d" % (HAPROXY_CLIENT, client_port), f)
                self.assertEqual(f["scheme"], "https", f)

            def logged():
                return sorted(m.group(1) for m in map(ACCESS_RE.match, srv.access_log().splitlines())
                              if m and m.group(3).startswith("/haproxy/"))
            harness.wait_until(lambda: len(logged()) == 3, 10, what="3 access log lines")
            self.assertEqual(logged(), [HAPROXY_CLIENT] * 3)


class TestSni(unittest.TestCase):
    """Several certificates: the one naming the host the client asks for
    (SNI), else the first."""

    @classmethod
    def setUpClass(cls):
        cls.cert, cls.key = CERTS.issue("example", "/CN=example.test",
                                        san="DNS:example.test,DNS:*.wild.test")
        cls.srv = TlsServer(tls={
            "certfile": "%s %s" % (CERTS.server_cert, cls.cert),
            "keyfile": "%s,%s" % (CERTS.server_key, cls.key)})
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def subject(self, *args):
        rc, out = s_client(self.srv.port, *args,
                           data=b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(rc, 0, out)
        self.assertIn("HTTP/1.1 200 OK", out)
        return re.search(r"(?m)^subject=CN ?= ?(\S+)", out).group(1)

    def test_chosen_by_name(self):
        self.assertEqual(self.subject("-servername", "example.test",
                                      "-verify_hostname", "example.test"), "example.test")
        self.assertEqual(self.subject("-servername", "a.wild.test"), "example.test")
        self.assertEqual(self.subject("-servername", "localhost"), "127.0.0.1")
        self.assertEqual(self.subject("-servername", "unknown.test"), "127.0.0.1")
        self.assertEqual(self.subject("-noservername"), "127.0.0.1")
        # Python's ssl checks the name it asked for.
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=IO)
        with client_context().wrap_socket(raw, server_hostname="example.test") as s:
            self.assertEqual(dict(x[0] for x in s.getpeercert()["subject"])["commonName"],
                             "example.test")

    def test_each_certificate_is_checked(self):
        r = run_cli(["--check-config", "--certfile", "%s %s" % (CERTS.server_cert, CERTS.old_cert),
                     "--keyfile", "%s %s" % (CERTS.server_key, CERTS.old_key), app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s: the certificate expired" % CERTS.old_cert, r.stderr)
        r = run_cli(["--check-config", "--certfile", "%s %s" % (CERTS.server_cert, self.cert),
                     "--keyfile", CERTS.server_key, app_path("hello")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("keyfile names 1 keys for 2 certificates in certfile", r.stderr)


class TestResumption(unittest.TestCase):
    """Session tickets: sealed with keys the arbiter made before the fork,
    so a client resumes on whichever worker it reaches; a HUP rotates them,
    keeping the previous key for one more generation."""

    REQ = b"GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    def connect(self, port, sess, *args):
        """(reused, worker pid) of one s_client exchange with SESS."""
        rc, out = s_client(port, "-sess_in", sess, *args, data=self.REQ)
        self.assertEqual(rc, 0, out)
        self.assertIn("HTTP/1.1 200 OK", out)
        m = re.search(r"(?m)^(New|Reused), (TLSv1\.[23])", out)
        self.assertIsNotNone(m, out)
        return m.group(1) == "Reused", int(re.search(r"(?m)^pid: (\d+)", out).group(1))

    def new_session(self, port, sess, *args):
        rc, out = s_client(port, "-sess_out", sess, *args, data=self.REQ)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^New, TLSv1\.[23]")
        self.assertTrue(os.path.getsize(sess) > 0)

    def test_resumed_on_every_worker_and_across_a_reload(self):
        with TlsServer(workers=2, settings={"server": {"reuse_port": "on"}}) as srv:
            workers = set(srv.wait_workers(2))
            for version in ("-tls1_3", "-tls1_2"):
                with self.subTest(version=version):
                    sess = os.path.join(TMP, "sess%s.pem" % version)
                    self.new_session(srv.port, sess, version)
                    pids = set()
                    # Each connection comes from a new port, which
                    # reuse_port spreads over the workers.
                    for _ in range(40):
                        reused, pid = self.connect(srv.port, sess, version)
                        self.assertTrue(reused, "not resumed on worker %d" % pid)
                        pids.add(pid)
                        if pids == workers:
                            break
                    self.assertEqual(pids, workers)

            sess = os.path.join(TMP, "sess-hup.pem")
            self.new_session(srv.port, sess, "-tls1_3")

            def reload():
                old = set(srv.worker_pids())
                srv.signal(signal.SIGHUP)
                harness.wait_until(
                    lambda: len(srv.worker_pids()) == 2 and not set(srv.worker_pids()) & old,
                    30, what="the reload's workers alone")
            # One reload: the previous key still opens the ticket.
            reload()
            self.assertEqual(self.connect(srv.port, sess, "-tls1_3")[0], True)
            # Two: that key is gone, a full handshake (which still works).
            reload()
            self.assertEqual(self.connect(srv.port, sess, "-tls1_3")[0], False)

    def test_one_ticket_per_handshake(self):
        # One NewSessionTicket after a full TLS 1.3 handshake (OpenSSL's
        # default is two, each costing the server about 6 % of a full
        # handshake), and a client resumes with it (more than once: the
        # tickets are sealed, not stored; none or one more comes then).
        with TlsServer(workers=1) as srv:
            sess = os.path.join(TMP, "sess-one.pem")
            rc, out = s_client(srv.port, "-tls1_3", "-msg", "-sess_out", sess,
                               data=self.REQ)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"(?m)^New, TLSv1\.3")
            self.assertEqual(out.count("NewSessionTicket"), 1, out)
            for _ in range(2):
                rc, out = s_client(srv.port, "-tls1_3", "-msg", "-sess_in", sess,
                                   data=self.REQ)
                self.assertEqual(rc, 0, out)
                self.assertRegex(out, r"(?m)^Reused, TLSv1\.3")
                self.assertLessEqual(out.count("NewSessionTicket"), 1, out)

    def test_keys_rotate_on_schedule(self):
        period = 5
        with TlsServer(workers=2, tls={"ticket_key_rotation": period}) as srv:
            srv.wait_workers(2)
            sess = os.path.join(TMP, "sess-rot.pem")

            def rotations():
                return srv.log().count("TLS: new session ticket key")
            # A session sealed with the key of one period (not across a
            # rotation, which the loop retries).
            for _ in range(3):
                n0 = rotations()
                self.new_session(srv.port, sess, "-tls1_3")
                if rotations() == n0:
                    break
            self.assertEqual(rotations(), n0)
            harness.wait_until(lambda: rotations() == n0 + 1, 3 * period,
                               what="a new ticket key")
            # The previous key still opens it, on any worker.
            self.assertTrue(self.connect(srv.port, sess, "-tls1_3")[0])
            self.assertEqual(rotations(), n0 + 1, "the next period came too soon")
            harness.wait_until(lambda: rotations() >= n0 + 2, 3 * period,
                               what="another ticket key")
            self.assertFalse(self.connect(srv.port, sess, "-tls1_3")[0])


class TestUpgrade(unittest.TestCase):
    """USR2: the new arbiter serves TLS where the old one did, and plain
    where it did, HTTP's binds and a stream's alike."""

    def test_usr2_keeps_tls_binds_tls(self):
        tmp = tempfile.mkdtemp(prefix="gn-tls-usr2-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pidfile = os.path.join(tmp, "g.pid")
        sport = harness.free_port()
        srv = TlsServer(plain=True, settings={
            "process": {"pidfile": pidfile},
            "workers": {"graceful_timeout": 4},
            "stream:echo": {"bind": "tls://127.0.0.1:%d" % sport,
                            "module": app_path("line_echo")}})
        with srv:
            old = srv.pid
            srv.signal(signal.SIGUSR2)
            new = harness.wait_until(lambda: (lambda x: x if x and x != old else None)(
                harness.read_pid(pidfile)), 15, what="the new arbiter's pidfile")
            self.addCleanup(lambda: harness.pid_alive(new) and os.kill(new, signal.SIGKILL))
            srv.wait_for_log(r"\[%d\] \[INFO\] listening at: https://127\.0\.0\.1:%d "
                             % (new, srv.port), 10)
            new_workers = harness.wait_until(lambda: harness.children_of(new), 15,
                                             what="the new arbiter's worker")
            srv.wait_for_log(r"booting worker \d+ with pid %d\b" % new_workers[-1], 10)
            srv.signal(signal.SIGTERM)
            self.assertEqual(srv.wait_exit(15), 0)
            # Only the new generation is left to answer.
            status, body = https_get(srv.port, "/after")
            self.assertEqual(status, 200)
            self.assertEqual(int(fields(body)["pid"]), new_workers[-1])
            conn = http.client.HTTPConnection("127.0.0.1", srv.plain_port, timeout=IO)
            conn.request("GET", "/plain")
            self.assertEqual(fields(conn.getresponse().read())["scheme"], "http")
            conn.close()
            raw = socket.create_connection(("127.0.0.1", sport), timeout=IO)
            with client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"still tls\n")
                self.assertEqual(s.recv(100), b"still tls\n")
            os.kill(new, signal.SIGTERM)
            harness.wait_until(lambda: not harness.pid_alive(new), 15,
                               what="the new arbiter to stop")


class TestSocketActivation(unittest.TestCase):
    """systemd's sockets: one named +tls serves HTTP over TLS."""

    def activated(self, *args):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.addCleanup(listener.close)
        fd = listener.fileno()
        cmd = harness.PDEATHSIG + [
            "sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ LISTEN_FDS=1 '
            'LISTEN_FDNAMES=+tls exec "$@"' % fd,
            "sh", harness.GREENICORN, "-b", "127.0.0.1:1"] + list(args) + [app_path("echo")]
        proc = subprocess.Popen(cmd, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc, listener.getsockname()[1]

    def test_named_tls_serves_tls(self):
        proc, port = self.activated("--certfile", CERTS.server_cert,
                                    "--keyfile", CERTS.server_key)
        status, body = harness.wait_until(lambda: self.try_get(port), 15,
                                          what="TLS on the activated socket")
        self.assertEqual(fields(body)["scheme"], "https")
        proc.terminate()
        self.assertEqual(proc.wait(15), 0)
        proc.stdout.close()

    def try_get(self, port):
        try:
            return https_get(port, "/act")
        except (OSError, ssl.SSLError):
            return None

    def test_named_tls_without_a_certfile_is_refused(self):
        proc, port = self.activated()
        out = proc.communicate(timeout=15)[0].decode()
        self.assertEqual(proc.returncode, 1, out)
        self.assertIn("bind tls://fd://3: TLS needs a certfile", out)


class TestTestssl(unittest.TestCase):
    """Debian's testssl.sh against the defaults: no protocol below TLS 1.2,
    no weak cipher category offered."""

    def test_nothing_weak_offered_by_default(self):
        testssl = shutil.which("testssl") or shutil.which("testssl.sh")
        if testssl is None:
            raise unittest.SkipTest("testssl.sh is not installed (scripts/install-deps --test)")
        with TlsServer() as srv:
            out = os.path.join(TMP, "testssl.json")
            r = subprocess.run([testssl, "--quiet", "--color", "0", "--warnings", "off",
                                "-p", "-s", "--jsonfile-pretty", out,
                                "127.0.0.1:%d" % srv.port],
                               capture_output=True, text=True, timeout=240)
            with open(out) as f:
                scan = json.load(f)["scanResult"][0]
        found = {x["id"]: x["finding"] for x in scan["protocols"] + scan["ciphers"]}
        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertEqual(found[old], "not offered", r.stdout)
        self.assertEqual(found["TLS1_2"], "offered")
        self.assertTrue(found["TLS1_3"].startswith("offered"), found["TLS1_3"])
        self.assertEqual(found["ALPN"], "http/1.1")
        for weak in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
            self.assertEqual(found["cipherlist_" + weak], "not offered", r.stdout)
        self.assertEqual(found["cipherlist_STRONG"], "offered")


class TestGunicornStyle(unittest.TestCase):
    def test_certfile_alone_makes_every_bind_tls(self):
        # Gunicorn's way: --certfile and --keyfile, binds unmarked.
        srv = Server(app="echo", use_config=False,
                     args=["-b", "127.0.0.1:{port}", "--certfile", CERTS.server_cert,
                           "--keyfile", CERTS.server_key, app_path("echo")])
        srv.listening_line = lambda: "listening at: https://127.0.0.1:%d" % srv.port
        with srv:
            status, body = https_get(srv.port, "/g")
            self.assertEqual(status, 200)
            self.assertEqual(fields(body)["scheme"], "https")


if __name__ == "__main__":
    unittest.main()
