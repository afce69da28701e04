#!/usr/bin/env python3
"""Real proxies in front of greenicorn (issue #3): nginx as a reverse proxy
over kept-alive HTTP/1.1 upstream connections with X-Forwarded-For and
X-Forwarded-Proto, and HAProxy telling greenicorn the client with the PROXY
protocol (send-proxy-v2 from an HTTP-mode frontend, send-proxy from a
TCP-mode one). curl and http.client connect from other loopback addresses
than the proxy's 127.0.0.1 (all of 127/8 is loopback on Linux): 127.0.0.2
to nginx, 127.0.0.3 to HAProxy, 127.0.0.4 straight to greenicorn. The echo
app's `remote:` line and the first field of greenicorn's access log must
name the client, not the proxy.

Each proxy runs in the foreground from its own temp dir on free ports of
127.0.0.1 (config from tests/e2e/proxies/*.in), with the parent-death
signal the harness uses, and is stopped (TERM, then KILL) even when a test
failed. A missing nginx or haproxy binary skips its part.

    python3 tests/e2e/test_proxies.py -v
"""
import atexit
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import harness
import proc_net
from harness import ServerTestCase, free_port, spawn_logged, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "proxies")
README = os.path.join(HERE, "..", "..", "README.md")
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def find_binary(name):
    return shutil.which(name) or shutil.which(name, path=SBIN)


NGINX = find_binary("nginx")
HAPROXY = find_binary("haproxy")
CURL = shutil.which("curl")

NGINX_CLIENT = "127.0.0.2"    # where clients of nginx connect from
HAPROXY_CLIENT = "127.0.0.3"  # where clients of HAProxy connect from
DIRECT_CLIENT = "127.0.0.4"   # a direct client outside proxy_allow_ips
OTHER_CLIENT = "127.0.0.5"    # a second client of HAProxy
HOP = "127.0.0.6"             # where HAProxy behind nginx connects from
SPOOFED = "203.0.113.9"       # an address a client claims for itself
FORGED = "6.6.6.6"            # another

IO_TIMEOUT = 10.0

ACCESS_RE = re.compile(r'^(\S+) - - \[[^\]]*\] "(\S+) (\S+) HTTP/\d\.\d" (\d{3}) (\d+) ')


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

def http_from(source, port, timeout=IO_TIMEOUT):
    """An http.client connection to 127.0.0.1:PORT from address SOURCE."""
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))


def fetch(source, port, target, method="GET", body=None, headers=None):
    """One request on a fresh http.client connection from SOURCE:
    (status, echo fields, response body, the client's own port)."""
    conn = http_from(source, port)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        local_port = conn.sock.getsockname()[1]
        r = conn.getresponse()
        data = r.read()
        return r.status, echo_fields(data), data, local_port
    finally:
        conn.close()


def echo_fields(body):
    return harness.Response("", 200, "", [], body, b"").echo_fields()


def echo_body(body):
    return harness.Response("", 200, "", [], body, b"").echo_body()


def curl(*args, source=None):
    """Run curl (silent, errors shown, 10 s cap) from address SOURCE."""
    cmd = [CURL, "-sS", "--max-time", "10"]
    if source:
        cmd += ["--interface", source]
    return subprocess.run(cmd + list(args), capture_output=True, timeout=20)


class RawFrom(harness.RawConn):
    """A harness.RawConn whose socket is bound to SOURCE first."""

    def __init__(self, port, source, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""
        self.eof = False


def access_entries(srv, prefix):
    """greenicorn's access log lines for targets starting with PREFIX, as
    (client address, method, target, status) tuples, in order."""
    out = []
    for line in srv.access_log().splitlines():
        m = ACCESS_RE.match(line)
        if m and m.group(3).startswith(prefix):
            out.append((m.group(1), m.group(2), m.group(3), int(m.group(4))))
    return out


def wait_access(srv, prefix, n, timeout=5.0):
    """Wait for N access log lines for PREFIX (a worker logs after it sent
    the response), then for a moment more to catch any extra; the lines."""
    try:
        wait_until(lambda: len(access_entries(srv, prefix)) >= n, timeout,
                   what="%d access log lines for %s" % (n, prefix))
    except AssertionError as e:
        raise AssertionError("%s\n---- access log ----\n%s" % (e, srv.access_log())) from None
    time.sleep(0.1)
    return access_entries(srv, prefix)


# ---------------------------------------------------------------------------
# The proxies
# ---------------------------------------------------------------------------

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_live_proxies = set()


@atexit.register
def _stop_leftover_proxies():
    for p in list(_live_proxies):
        p.stop(timeout=5)


def listening_inodes(port):
    """Socket inodes listening on TCP PORT, any address, IPv4 or IPv6."""
    return {s.inode for s in proc_net.sockets(ipv6=True)
            if s.state == proc_net.LISTEN and s.local_port == port}


def pid_listens(pid, port):
    """True when process PID holds a socket listening on PORT: the port is
    ours, not taken by someone else since free_port() chose it."""
    inodes = listening_inodes(port)
    try:
        return not inodes.isdisjoint(proc_net.socket_inodes(pid))
    except OSError:
        return False


class ProxyStartError(AssertionError):
    pass


class Proxy:
    """A proxy binary run in the foreground in front of greenicorn's
    UPSTREAM port, modelled on harness.Server: its own temp dir (config,
    logs, pid file, temp files), free ports of 127.0.0.1 named by
    PORT_NAMES, started again on other ports when one was taken, stopped
    with TERM then KILL."""

    name = None            # "nginx"
    template = None        # file under tests/e2e/proxies/
    port_names = ()        # the @PLACEHOLDER@s of the ports it listens on
    log_names = ()         # its own log files in the temp dir
    fill = {}              # other @PLACEHOLDER@s and their values

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.ports = {}
        self.proc = None
        self.tmp = None
        self.cmd = None

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-%s-" % self.name)
        try:
            self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    @property
    def config_path(self):
        return os.path.join(self.tmp, self.template[:-3])

    def command(self):
        raise NotImplementedError

    def template_text(self):
        with open(os.path.join(TEMPLATES, self.template)) as f:
            return f.read()

    def render(self):
        text = self.template_text()
        values = dict(self.ports, TMP=self.tmp, UPSTREAM=str(self.upstream_port),
                      **self.fill)
        for key, value in values.items():
            text = text.replace("@%s@" % key, str(value))
        left = re.findall(r"@[A-Z0-9_]+@", text)
        if left:
            raise AssertionError("%s: unfilled %s" % (self.template, left))
        with open(self.config_path, "w") as f:
            f.write(text)

    def start(self):
        last = None
        for _attempt in range(3):
            for name in ("stdout.log", "stderr.log") + self.log_names:
                try:
                    os.unlink(os.path.join(self.tmp, name))
                except FileNotFoundError:
                    pass
            self.ports = {name: free_port() for name in self.port_names}
            self.render()
            self.cmd = self.command()
            self.proc = spawn_logged(self.cmd, self.tmp)
            _live_proxies.add(self)
            try:
                self._wait_listening()
                return
            except ProxyStartError as e:
                last = e
                self.stop()
                if "Address already in use" not in self.log():
                    raise
        raise last

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProxyStartError("%s exited with %s before listening\ncommand: %s\n%s"
                                      % (self.name, self.proc.returncode,
                                         " ".join(self.cmd), self.log()))
            # Listening sockets of its own (no probe connection: through
            # a TCP-mode frontend that would reach greenicorn).
            if all(pid_listens(self.proc.pid, p) for p in self.ports.values()):
                return
            time.sleep(0.02)
        raise ProxyStartError("%s did not listen on %s within %.0f s\ncommand: %s\n%s"
                              % (self.name, self.ports, START_TIMEOUT, " ".join(self.cmd),
                                 self.log()))

    def stop(self, timeout=STOP_TIMEOUT):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
        _live_proxies.discard(self)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def log(self):
        """Its stderr and log files, for failure messages."""
        parts = []
        for name in ("stderr.log", "stdout.log") + self.log_names:
            try:
                with open(os.path.join(self.tmp, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except (OSError, TypeError):
                continue
            if text:
                parts.append("---- %s %s ----\n%s" % (self.name, name, text[-6000:]))
        return "\n".join(parts) or "(%s logged nothing)" % self.name


class Nginx(Proxy):
    """nginx -p TMP -c TMP/nginx.conf, one process, in the foreground."""

    name = "nginx"
    template = "nginx.conf.in"
    port_names = ("PORT",)
    log_names = ("error.log", "access.log")

    @property
    def port(self):
        return self.ports["PORT"]

    def command(self):
        # -e: the error log nginx opens before reading its config (its
        # compiled-in default is under /var/log).
        return [NGINX, "-p", self.tmp + "/", "-e", os.path.join(self.tmp, "error.log"),
                "-c", self.config_path, "-g", "daemon off; master_process off;"]


class HAProxy(Proxy):
    """haproxy -db -f TMP/haproxy.cfg: frontend V2_PORT sends PROXY v2
    (mode http), V1_PORT sends PROXY v1 (mode tcp)."""

    name = "haproxy"
    template = "haproxy.cfg.in"
    port_names = ("V2_PORT", "V1_PORT")

    @property
    def v2_port(self):
        return self.ports["V2_PORT"]

    @property
    def v1_port(self):
        return self.ports["V1_PORT"]

    def command(self):
        return [HAPROXY, "-db", "-f", self.config_path]


def readme_nginx_example():
    """The ```nginx block of README.md's "Deployment" section, verbatim."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"^## Deployment\n.*?^```nginx\n(.*?)^```", text, re.S | re.M)
    if m is None:
        raise AssertionError("README.md: no ```nginx block under ## Deployment")
    return m.group(1)


class ReadmeNginx(Nginx):
    """nginx running the README's example, only its ports changed."""

    template = "nginx-readme.conf.in"

    def template_text(self):
        example = readme_nginx_example()
        for old, new in (("listen 80;", "listen 127.0.0.1:@PORT@;"),
                         ("server 127.0.0.1:8000;", "server 127.0.0.1:@UPSTREAM@;")):
            if example.count(old) != 1:
                raise AssertionError("README.md's nginx example: expected one %r in\n%s"
                                     % (old, example))
            example = example.replace(old, new)
        return super().template_text().replace("@README_EXAMPLE@", example)


class HAProxyForwardFor(Proxy):
    """haproxy -db -f TMP/haproxy-forwardfor.cfg: an HTTP-mode frontend on
    PORT with option forwardfor, connecting to greenicorn from SOURCE."""

    name = "haproxy"
    template = "haproxy-forwardfor.cfg.in"
    port_names = ("PORT",)

    def __init__(self, upstream_port, source="127.0.0.1"):
        super().__init__(upstream_port)
        self.fill = {"SOURCE": source}

    @property
    def port(self):
        return self.ports["PORT"]

    def command(self):
        return [HAPROXY, "-db", "-f", self.config_path]


class ProxyTestCase(ServerTestCase):
    """One greenicorn (echo app, access log) behind one proxy, shared by
    the tests of the class: each test uses its own target prefix so it
    finds its own access log lines."""

    proxy_class = None
    settings = {}

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=2, accesslog=True,
                                         settings=cls.settings)
        cls.proxy = cls.proxy_class(cls.srv.port)
        cls.proxy.__enter__()
        cls.addClassCleanup(cls.proxy.__exit__, None, None, None)

    def diag(self):
        """Both sides' logs, for an assertion message."""
        return "\n%s\n---- greenicorn log ----\n%s\n---- greenicorn access log ----\n%s" % (
            self.proxy.log(), self.srv.log()[-4000:], self.srv.access_log()[-4000:])

    def need_curl(self):
        self.assertIsNotNone(CURL, "curl is not installed (scripts/install-deps --test)")

    def assert_remote(self, fields, addr, port=None):
        """The echo app saw the client ADDR (and PORT, when given)."""
        host, _, got_port = fields.get("remote", "").rpartition(":")
        self.assertEqual(host, addr, "echo: %r%s" % (fields, self.diag()))
        if port is not None:
            self.assertEqual(int(got_port), port, "echo: %r" % (fields,))
        return int(got_port)

    def assert_header(self, fields, line):
        """The echo app got the header LINE ("Name: value"), the name in any
        case (HAProxy's HTTP mode sends lower-case names)."""
        name, _, value = line.partition(": ")
        got = [h for h in fields["header"] if h.partition(": ")[0].lower() == name.lower()]
        self.assertIn(value, [h.partition(": ")[2] for h in got], "headers: %r" % fields["header"])

    def assert_logged(self, prefix, expected):
        """The access log lines for PREFIX are exactly EXPECTED, a list of
        (address, method, target, status)."""
        got = wait_access(self.srv, prefix, len(expected))
        self.assertEqual(sorted(got), sorted(expected), self.diag())


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------

@unittest.skipIf(NGINX is None, "nginx is not installed (scripts/install-deps --test)")
class NginxTest(ProxyTestCase):
    """nginx on 127.0.0.1 forwards for clients on 127.0.0.2; greenicorn
    trusts 127.0.0.1's X-Forwarded-* (the default forwarded_allow_ips)."""

    proxy_class = Nginx

    def test_http_client_address_and_scheme(self):
        port = self.proxy.port
        status, f, _, _ = fetch(NGINX_CLIENT, port, "/hc/plain")
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, NGINX_CLIENT, 0)      # a proxy does not say the port
        self.assertEqual(f["scheme"], "http")
        self.assert_header(f, "X-Forwarded-For: 127.0.0.2")
        self.assert_header(f, "X-Forwarded-Proto: http")
        status, f, _, _ = fetch(NGINX_CLIENT, port, "/tls/hc")
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(f["scheme"], "https")
        self.assert_logged("/hc/", [(NGINX_CLIENT, "GET", "/hc/plain", 200)])
        self.assert_logged("/tls/hc", [(NGINX_CLIENT, "GET", "/tls/hc", 200)])

    def test_curl_address_and_scheme(self):
        self.need_curl()
        base = "http://127.0.0.1:%d" % self.proxy.port
        r = curl(base + "/curl/plain", source=NGINX_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        f = echo_fields(r.stdout)
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(f["scheme"], "http")
        r = curl(base + "/tls/curl", source=NGINX_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        f = echo_fields(r.stdout)
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(f["scheme"], "https")
        self.assert_logged("/curl/", [(NGINX_CLIENT, "GET", "/curl/plain", 200)])
        self.assert_logged("/tls/curl", [(NGINX_CLIENT, "GET", "/tls/curl", 200)])

    def test_client_cannot_claim_an_address(self):
        # nginx replaces the client's X-Forwarded-For at /, and appends to
        # it at /append/: greenicorn takes the rightmost address that is
        # not a trusted proxy, the one nginx added.
        spoof = {"X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"}
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/claim/set", headers=spoof)
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(f["scheme"], "http")
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/append/claim",
                                headers={"X-Forwarded-For": SPOOFED})
        self.assertEqual(status, 200, self.diag())
        self.assert_header(f, "X-Forwarded-For: %s, 127.0.0.2" % SPOOFED)
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assert_logged("/claim/", [(NGINX_CLIENT, "GET", "/claim/set", 200)])
        self.assert_logged("/append/claim", [(NGINX_CLIENT, "GET", "/append/claim", 200)])

    def test_200_sequential_requests_over_kept_alive_upstream(self):
        # One kept-alive client connection to nginx; every 20th request goes
        # to /peer/, which sends no X-Forwarded-For, so echo shows the port
        # of nginx's upstream connection: the same one each time.
        conn = http_from(NGINX_CLIENT, self.proxy.port)
        self.addCleanup(conn.close)
        upstream_ports = []
        for i in range(200):
            peer = i % 20 == 0
            target = ("/peer/seq/%d" if peer else "/seq/%d") % i
            conn.request("GET", target)
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200, "request %d%s" % (i, self.diag()))
            f = echo_fields(body)
            self.assertEqual(f["target"], target)
            if peer:
                upstream_ports.append(self.assert_remote(f, "127.0.0.1"))
            else:
                self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(len(set(upstream_ports)), 1,
                         "nginx's upstream connection was not reused: ports %s" % upstream_ports)
        self.assertNotEqual(upstream_ports[0], 0)
        self.assert_logged("/seq/", [(NGINX_CLIENT, "GET", "/seq/%d" % i, 200)
                                     for i in range(200) if i % 20])
        self.assert_logged("/peer/seq/", [("127.0.0.1", "GET", "/peer/seq/%d" % i, 200)
                                          for i in range(0, 200, 20)])

    def test_50_concurrent_clients(self):
        # Two rounds of 50 clients at once, each request held 0.2 s so
        # nginx opens more upstream connections than its keepalive 16
        # caches; the second round starts on the cached ones.
        def one(i):
            status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/conc/%d?sleep=0.2" % i)
            return i, status, f

        for rnd in range(2):
            with ThreadPoolExecutor(50) as pool:
                results = list(pool.map(one, range(rnd * 50, rnd * 50 + 50)))
            for i, status, f in results:
                self.assertEqual(status, 200, "request %d%s" % (i, self.diag()))
                self.assertEqual(f["target"], "/conc/%d?sleep=0.2" % i)
                self.assert_remote(f, NGINX_CLIENT, 0)
        self.assert_logged("/conc/", [(NGINX_CLIENT, "GET", "/conc/%d?sleep=0.2" % i, 200)
                                      for i in range(100)])

    def test_post_bodies(self):
        port = self.proxy.port
        big = os.urandom(300000)   # over nginx's client_body_buffer_size: a temp file
        status, f, data, _ = fetch(NGINX_CLIENT, port, "/post/length", "POST", big)
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assert_header(f, "Content-Length: 300000")
        self.assertEqual(echo_body(data), big)

        # Chunked from the client: nginx buffers it whole and sends the
        # upstream a Content-Length...
        pieces = [os.urandom(n) for n in (1, 1000, 65536, 7, 40000)]
        conn = http_from(NGINX_CLIENT, port)
        self.addCleanup(conn.close)
        conn.request("POST", "/post/chunked", body=iter(pieces), encode_chunked=True)
        r = conn.getresponse()
        data = r.read()
        self.assertEqual(r.status, 200, self.diag())
        f = echo_fields(data)
        self.assert_header(f, "Content-Length: %d" % sum(map(len, pieces)))
        self.assertEqual(echo_body(data), b"".join(pieces))

        # ...or, with proxy_request_buffering off, passes it on chunked.
        conn.request("POST", "/stream/post/chunked", body=iter(pieces), encode_chunked=True)
        r = conn.getresponse()
        data = r.read()
        self.assertEqual(r.status, 200, self.diag())
        f = echo_fields(data)
        self.assert_header(f, "Transfer-Encoding: chunked")
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(echo_body(data), b"".join(pieces))

        # An empty body.
        status, f, data, _ = fetch(NGINX_CLIENT, port, "/post/empty", "POST", b"")
        self.assertEqual(status, 200, self.diag())
        self.assertEqual(f["body-length"], "0")
        self.assert_logged("/post/", [(NGINX_CLIENT, "POST", t, 200) for t in
                                      ("/post/length", "/post/chunked", "/post/empty")])
        self.assert_logged("/stream/post/", [(NGINX_CLIENT, "POST", "/stream/post/chunked",
                                              200)])

    def test_curl_uploads_and_downloads(self):
        self.need_curl()
        base = "http://127.0.0.1:%d" % self.proxy.port
        data = os.urandom(200000)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            for target in ("/curlup/buffered", "/stream/curlup/streamed"):
                r = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f.name,
                         base + target, source=NGINX_CLIENT)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(echo_fields(r.stdout)["target"], target)
                self.assert_remote(echo_fields(r.stdout), NGINX_CLIENT, 0)
                self.assertEqual(echo_body(r.stdout), data, target)
        # A 3 MB answer, streamed by greenicorn, spooled to disk by nginx.
        r = curl("-w", "\n[%{http_code} %{size_download}]", base + "/curlup/dl?size=3000000",
                 source=NGINX_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith(b"\n[200 3000000]"), r.stdout[-100:])
        self.assertEqual(r.stdout[:3000000], b"x" * 3000000)
        self.assert_logged("/curlup/", [(NGINX_CLIENT, "POST", "/curlup/buffered", 200),
                                        (NGINX_CLIENT, "GET", "/curlup/dl?size=3000000", 200)])
        self.assert_logged("/stream/curlup/", [(NGINX_CLIENT, "POST",
                                                "/stream/curlup/streamed", 200)])


@unittest.skipIf(NGINX is None, "nginx is not installed (scripts/install-deps --test)")
class NginxUntrustedTest(ProxyTestCase):
    """The negative control: with forwarded_allow_ips empty, greenicorn
    believes no X-Forwarded-* and logs nginx's own address."""

    proxy_class = Nginx
    settings = {"proxy": {"forwarded_allow_ips": ""}}

    def test_x_forwarded_headers_ignored(self):
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/untrusted/hc")
        self.assertEqual(status, 200, self.diag())
        self.assertNotEqual(self.assert_remote(f, "127.0.0.1"), 0)
        self.assert_header(f, "X-Forwarded-For: 127.0.0.2")   # passed on, not believed
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/tls/untrusted")
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, "127.0.0.1")
        self.assert_header(f, "X-Forwarded-Proto: https")
        self.assertEqual(f["scheme"], "http")
        self.assert_logged("/untrusted/", [("127.0.0.1", "GET", "/untrusted/hc", 200)])
        self.assert_logged("/tls/untrusted", [("127.0.0.1", "GET", "/tls/untrusted", 200)])

    def test_x_forwarded_headers_ignored_curl(self):
        self.need_curl()
        r = curl("http://127.0.0.1:%d/untrusted/curl" % self.proxy.port, source=NGINX_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_remote(echo_fields(r.stdout), "127.0.0.1")
        self.assert_logged("/untrusted/curl", [("127.0.0.1", "GET", "/untrusted/curl", 200)])


# ---------------------------------------------------------------------------
# HAProxy and the PROXY protocol
# ---------------------------------------------------------------------------

@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps --test)")
class HAProxyTest(ProxyTestCase):
    """HAProxy on 127.0.0.1 sends PROXY headers for clients on 127.0.0.3;
    greenicorn runs with proxy_protocol = on and trusts 127.0.0.1's (the
    default proxy_allow_ips)."""

    proxy_class = HAProxy
    settings = {"proxy": {"proxy_protocol": "on"}}

    def check_http_client(self, port, prefix):
        """Five requests on one kept-alive http.client connection through
        the frontend on PORT: each shows the client's address and port."""
        conn = http_from(HAPROXY_CLIENT, port)
        self.addCleanup(conn.close)
        sock = None
        for i in range(5):
            target = "%s%d" % (prefix, i)
            conn.request("GET", target)
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200, "request %d%s" % (i, self.diag()))
            if sock is None:
                sock = conn.sock
            self.assertIs(conn.sock, sock, "reconnected at request %d" % i)
            f = echo_fields(body)
            self.assertEqual(f["target"], target)
            self.assert_remote(f, HAPROXY_CLIENT, sock.getsockname()[1])
            self.assertEqual(f["scheme"], "http")
        self.assert_logged(prefix, [(HAPROXY_CLIENT, "GET", "%s%d" % (prefix, i), 200)
                                    for i in range(5)])

    def check_curl(self, port, prefix):
        """Three URLs on one curl connection through the frontend on PORT."""
        self.need_curl()
        urls = ["http://127.0.0.1:%d%s%d" % (port, prefix, i) for i in range(3)]
        r = curl("-w", "\n[local %{local_ip} %{local_port} connects %{num_connects}]\n",
                 *urls, source=HAPROXY_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        parts = re.split(rb"\n\[local (\S+) (\d+) connects (\d+)\]\n", r.stdout)
        self.assertEqual(len(parts), 3 * 4 + 1, r.stdout)
        for i in range(3):
            body, local_ip, local_port, connects = parts[4 * i:4 * i + 4]
            self.assertEqual(local_ip, HAPROXY_CLIENT.encode())
            self.assertEqual(connects, b"1" if i == 0 else b"0")   # one connection
            f = echo_fields(body)
            self.assertEqual(f["target"], "%s%d" % (prefix, i))
            self.assert_remote(f, HAPROXY_CLIENT, int(local_port))
        self.assert_logged(prefix, [(HAPROXY_CLIENT, "GET", "%s%d" % (prefix, i), 200)
                                    for i in range(3)])

    def test_v2_http_client(self):
        self.check_http_client(self.proxy.v2_port, "/v2/hc/")

    def test_v2_curl(self):
        self.check_curl(self.proxy.v2_port, "/v2/curl/")

    def test_v1_http_client(self):
        self.check_http_client(self.proxy.v1_port, "/v1/hc/")

    def test_v1_curl(self):
        self.check_curl(self.proxy.v1_port, "/v1/curl/")

    def test_post_bodies(self):
        big = os.urandom(250000)
        pieces = [os.urandom(n) for n in (5, 70000, 3)]
        for port, ver in ((self.proxy.v2_port, "v2"), (self.proxy.v1_port, "v1")):
            status, f, data, local = fetch(HAPROXY_CLIENT, port, "/post/%s/length" % ver,
                                           "POST", big)
            self.assertEqual(status, 200, self.diag())
            self.assert_remote(f, HAPROXY_CLIENT, local)
            self.assertEqual(echo_body(data), big)
            conn = http_from(HAPROXY_CLIENT, port)
            self.addCleanup(conn.close)
            conn.request("POST", "/post/%s/chunked" % ver, body=iter(pieces),
                         encode_chunked=True)
            r = conn.getresponse()
            data = r.read()
            self.assertEqual(r.status, 200, self.diag())
            f = echo_fields(data)
            self.assert_header(f, "Transfer-Encoding: chunked")
            self.assert_remote(f, HAPROXY_CLIENT, conn.sock.getsockname()[1])
            self.assertEqual(echo_body(data), b"".join(pieces))
        self.assert_logged("/post/", [(HAPROXY_CLIENT, "POST", "/post/%s/%s" % (v, k), 200)
                                      for v in ("v2", "v1") for k in ("length", "chunked")])

    def test_interleaved_clients_keep_their_addresses(self):
        # Two kept-alive clients through the HTTP-mode frontend, taking
        # turns: no request is put down to the other's connection.
        conns = {src: http_from(src, self.proxy.v2_port) for src in (HAPROXY_CLIENT,
                                                                   OTHER_CLIENT)}
        for c in conns.values():
            self.addCleanup(c.close)
        for i in range(10):
            for src, c in conns.items():
                c.request("GET", "/turns/%s/%d" % (src, i))
                r = c.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200, self.diag())
                self.assert_remote(echo_fields(body), src, c.sock.getsockname()[1])
        self.assert_logged("/turns/", [(src, "GET", "/turns/%s/%d" % (src, i), 200)
                                       for i in range(10) for src in conns])

    def test_x_forwarded_for_from_the_client_is_ignored(self):
        # The client HAProxy names (127.0.0.3) is not in
        # forwarded_allow_ips, so its own X-Forwarded-* are not believed.
        status, f, _, local = fetch(HAPROXY_CLIENT, self.proxy.v2_port, "/xff/claim",
                                    headers={"X-Forwarded-For": SPOOFED,
                                             "X-Forwarded-Proto": "https"})
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, HAPROXY_CLIENT, local)
        self.assertEqual(f["scheme"], "http")
        self.assert_logged("/xff/", [(HAPROXY_CLIENT, "GET", "/xff/claim", 200)])

    def test_trusted_peer_without_header_is_dropped(self):
        # 127.0.0.1 is in proxy_allow_ips: a connection from it that does
        # not start with a PROXY header is closed without a response.
        with RawFrom(self.srv.port, "127.0.0.1") as c:
            c.send(b"GET /direct/trusted HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_until_close(), b"")
        conn = http_from("127.0.0.1", self.srv.port)
        self.addCleanup(conn.close)
        conn.request("GET", "/direct/trusted-hc")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
        # A malformed header is no better.
        with RawFrom(self.srv.port, "127.0.0.1") as c:
            c.send(b"PROXY TCP4 not.an.address 127.0.0.1 1234 80\r\n"
                   b"GET /direct/bad-header HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_until_close(), b"")
        # ...while a well-formed one sent by hand is believed.
        with RawFrom(self.srv.port, "127.0.0.1") as c:
            c.send(b"PROXY TCP4 192.0.2.7 127.0.0.1 4321 80\r\n"
                   b"GET /direct/by-hand HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assert_remote(r.echo_fields(), "192.0.2.7", 4321)
        self.assert_logged("/direct/", [("192.0.2.7", "GET", "/direct/by-hand", 200)])

    def test_untrusted_direct_client_is_served(self):
        status, f, _, local = fetch(DIRECT_CLIENT, self.srv.port, "/untrusted-direct/hc")
        self.assertEqual(status, 200, self.diag())
        self.assert_remote(f, DIRECT_CLIENT, local)
        self.need_curl()
        r = curl("-w", "\n[%{local_port}]", "http://127.0.0.1:%d/untrusted-direct/curl"
                 % self.srv.port, source=DIRECT_CLIENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.fullmatch(rb"(.*)\n\[(\d+)\]", r.stdout, re.S)
        self.assertIsNotNone(m, r.stdout[-200:])
        body, local = m.groups()
        self.assert_remote(echo_fields(body), DIRECT_CLIENT, int(local))
        self.assert_logged("/untrusted-direct/", [
            (DIRECT_CLIENT, "GET", "/untrusted-direct/hc", 200),
            (DIRECT_CLIENT, "GET", "/untrusted-direct/curl", 200)])

    def test_untrusted_direct_client_cannot_send_a_header(self):
        # From 127.0.0.4 a PROXY line is not a header but a bad request.
        with RawFrom(self.srv.port, DIRECT_CLIENT) as c:
            c.send(("PROXY TCP4 %s 127.0.0.1 1234 80\r\n" % SPOOFED).encode()
                   + b"GET /spoofed HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 400, r.raw)
            self.assertTrue(c.closed_by_peer(5))
        time.sleep(0.2)
        log = self.srv.access_log()
        self.assertNotIn(SPOOFED, log)
        self.assertNotIn("/spoofed", log)

# ---------------------------------------------------------------------------
# A client's own X-Forwarded-For (issue #11): the README's nginx example,
# HAProxy's option forwardfor, and both in a chain
# ---------------------------------------------------------------------------

def xff_lines(fields):
    """The X-Forwarded-For values the echo app got, one per field line."""
    return [h.partition(": ")[2] for h in fields["header"]
            if h.partition(": ")[0].lower() == "x-forwarded-for"]


@unittest.skipIf(NGINX is None, "nginx is not installed (scripts/install-deps --test)")
class ReadmeNginxTest(ProxyTestCase):
    """The README's nginx example as users copy it, greenicorn with its
    defaults (forwarded_allow_ips = 127.0.0.1,::1): a client of nginx on
    127.0.0.2 that sends its own X-Forwarded-For and X-Forwarded-Proto is
    still logged as 127.0.0.2 over http. (The client cannot be 127.0.0.1:
    that address is a trusted proxy, so greenicorn, like nginx's
    real_ip_recursive, would look past it.)"""

    proxy_class = ReadmeNginx

    def test_forged_headers_do_not_name_the_client(self):
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/readme/forged",
                                headers={"X-Forwarded-For": FORGED,
                                         "X-Forwarded-Proto": "https"})
        self.assertEqual(status, 200, self.diag())
        self.assertEqual(xff_lines(f), ["%s, %s" % (FORGED, NGINX_CLIENT)], self.diag())
        self.assert_header(f, "X-Forwarded-Proto: http")
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assertEqual(f["scheme"], "http")
        self.assert_logged("/readme/", [(NGINX_CLIENT, "GET", "/readme/forged", 200)])

    def test_forged_header_lines_do_not_name_the_client(self):
        # Two lines of the client's, with a trusted address among them.
        with RawFrom(self.proxy.port, NGINX_CLIENT) as c:
            c.send(("GET /readme2/lines HTTP/1.1\r\nHost: x\r\n"
                    "X-Forwarded-For: %s\r\nX-Forwarded-For: 127.0.0.1\r\n"
                    "Connection: close\r\n\r\n" % FORGED).encode())
            r = c.read_response()
        self.assertEqual(r.status, 200, self.diag())
        f = r.echo_fields()
        self.assertEqual(xff_lines(f), ["%s, 127.0.0.1, %s" % (FORGED, NGINX_CLIENT)])
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assert_logged("/readme2/", [(NGINX_CLIENT, "GET", "/readme2/lines", 200)])

    def test_without_a_forged_header(self):
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/readme3/plain")
        self.assertEqual(status, 200, self.diag())
        self.assertEqual(xff_lines(f), [NGINX_CLIENT])
        self.assert_remote(f, NGINX_CLIENT, 0)
        self.assert_logged("/readme3/", [(NGINX_CLIENT, "GET", "/readme3/plain", 200)])


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps --test)")
class HAProxyForwardForTest(ProxyTestCase):
    """HAProxy's option forwardfor adds a line of its own after the
    client's X-Forwarded-For: the lines are one list, and greenicorn reads
    its right end, not the client's first line."""

    proxy_class = HAProxyForwardFor

    def test_forged_line_does_not_name_the_client(self):
        status, f, _, _ = fetch(HAPROXY_CLIENT, self.proxy.port, "/haxff/forged",
                                headers={"X-Forwarded-For": FORGED})
        self.assertEqual(status, 200, self.diag())
        self.assertEqual(xff_lines(f), [FORGED, HAPROXY_CLIENT], self.diag())
        self.assert_remote(f, HAPROXY_CLIENT, 0)
        self.assert_logged("/haxff/", [(HAPROXY_CLIENT, "GET", "/haxff/forged", 200)])


@unittest.skipIf(NGINX is None or HAPROXY is None,
                 "nginx or haproxy is not installed (scripts/install-deps --test)")
class ProxyChainTest(ProxyTestCase):
    """client 127.0.0.2 -> nginx (the README's example, on 127.0.0.1) ->
    HAProxy (option forwardfor, from 127.0.0.6) -> greenicorn, which gets
    "X-Forwarded-For: 6.6.6.6, 127.0.0.2" from nginx and
    "X-Forwarded-For: 127.0.0.1" from HAProxy. With both proxies in
    forwarded_allow_ips, the client is 127.0.0.2; ProxyChainPartTest trusts
    HAProxy alone, so nginx (127.0.0.1) is the client."""

    settings = {"proxy": {"forwarded_allow_ips": "127.0.0.1, %s" % HOP}}
    expected = NGINX_CLIENT

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=2, accesslog=True,
                                         settings=cls.settings)
        cls.inner = HAProxyForwardFor(cls.srv.port, source=HOP)
        cls.inner.__enter__()
        cls.addClassCleanup(cls.inner.__exit__, None, None, None)
        cls.proxy = ReadmeNginx(cls.inner.port)
        cls.proxy.__enter__()
        cls.addClassCleanup(cls.proxy.__exit__, None, None, None)

    def diag(self):
        return "\n%s%s" % (self.inner.log(), super().diag())

    def test_the_rightmost_untrusted_hop_is_the_client(self):
        status, f, _, _ = fetch(NGINX_CLIENT, self.proxy.port, "/chain/forged",
                                headers={"X-Forwarded-For": FORGED})
        self.assertEqual(status, 200, self.diag())
        self.assertEqual(xff_lines(f), ["%s, %s" % (FORGED, NGINX_CLIENT), "127.0.0.1"],
                         self.diag())
        self.assert_remote(f, self.expected, 0)
        self.assert_logged("/chain/", [(self.expected, "GET", "/chain/forged", 200)])


class ProxyChainPartTest(ProxyChainTest):
    __doc__ = ProxyChainTest.__doc__
    settings = {"proxy": {"forwarded_allow_ips": HOP}}
    expected = "127.0.0.1"



if __name__ == "__main__":
    unittest.main()
