#!/usr/bin/env python3
"""The deployment recipes of contrib/deploy/ (issue #16 section 2), each run
as shipped: the test reads the recipe file, changes only what
contrib/deploy/README.md lists as the user's to change (ports, paths, the
server list), each such change asserted to find its text exactly once, and
starts the real nginx, HAProxy or Varnish with greenicorn behind, on free
ports of 127.0.0.1, then sends real traffic and checks what the recipe
promises. Also the built-in health answer (health_check_path) that the
HAProxy and Varnish recipes use, and `systemd-analyze verify` of the
systemd units. (The logrotate recipe is run under load with the real
logrotate by tests/e2e/test_logs.py's LogrotateTest; here only its
agreement with the systemd unit's paths is checked.)

Proxies run in the foreground as the current user from their own temp dir,
with the harness's parent-death signal, and are stopped (TERM, then KILL)
even when a test failed (test_proxies.Proxy). A missing binary fails the
class: scripts/install-deps --test installs them all.

    python3 tests/e2e/test_deploy.py -v
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import harness
import proc_net
from harness import ServerTestCase, app_path, wait_until
from test_proxies import (HAPROXY, NGINX, Proxy, access_entries,
                          find_binary, http_from, wait_access)
from wsclient import OP_TEXT, WsClient

DEPLOY = os.path.join(harness.REPO, "contrib", "deploy")
VARNISHD = find_binary("varnishd")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

CLIENT = "127.0.0.3"      # where the test's clients connect from
SPOOFED = "203.0.113.9"   # an address a client claims for itself
IO_TIMEOUT = 10.0


def recipe_text(relpath, replacements):
    """The shipped recipe RELPATH with each (old, new) of REPLACEMENTS
    applied; OLD must occur exactly once, so that a recipe edited out of
    step with its test fails loudly instead of being tested half."""
    with open(os.path.join(DEPLOY, relpath)) as f:
        text = f.read()
    for old, new in replacements:
        if text.count(old) != 1:
            raise AssertionError("%s: expected one %r" % (relpath, old))
        text = text.replace(old, new)
    return text


def echo(source, port, target, method="GET", body=None, headers=None):
    """One request on a fresh connection from SOURCE: (response, echo
    fields, body)."""
    conn = http_from(source, port)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        fields = harness.Response("", r.status, "", [], data, b"").echo_fields()
        return r, fields, data
    finally:
        conn.close()


def websocket_echo(port, path):
    """A text message through a WebSocket to ws_echo at PATH, back."""
    with WsClient(port, path) as ws:
        ws.send_frame(OP_TEXT, b"hello through the proxy")
        return ws.recv_message()


def upstream_conns(port):
    """{local port: open} of the TCP connections to 127.0.0.1:PORT (each a
    connection a proxy opened to greenicorn), open False once closed
    (TIME_WAIT and the like)."""
    return {s.local_port: s.state == proc_net.ESTABLISHED
            for s in proc_net.sockets()
            if (s.remote_addr, s.remote_port) == ("127.0.0.1", port)}


def cpu_seconds(pid):
    """User + system CPU seconds process PID has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# The health answer
# ---------------------------------------------------------------------------

class HealthCheck(ServerTestCase):
    """health_check_path: answered by the worker itself (no app, no
    routing), also while every handler sleeps; not while the worker's loop
    is stalled, since it reports the worker's liveness."""

    def start(self, hooks=False, **settings):
        sections = {"http": settings} if settings else {}
        if hooks:  # log_hooks logs each call to the error log
            sections["hooks"] = {"pre_request": harness.hook_path(),
                                 "post_request": harness.hook_path()}
        srv = self.start_server(app="echo", workers=1, accesslog=True,
                                settings=sections)
        srv.wait_workers(1)
        return srv

    def test_answered_by_the_worker_not_the_app(self):
        srv = self.start(hooks=True, health_check_path="/healthz")
        for target in ("/healthz", "/healthz?from=haproxy"):
            status, headers, body = srv.get(target)
            self.assertEqual((status, body), (200, b"OK\n"), target)
            self.assertEqual(headers["Cache-Control"], "no-store")
            self.assertNotIn(b"method:", body)  # echo's answer starts so
        conn = srv.http()
        conn.request("HEAD", "/healthz")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b""))
        conn.request("POST", "/healthz", body=b"x")
        r = conn.getresponse()
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD")
        r.read()
        conn.close()
        # The POST is logged once its body is read past (it may come after
        # the answer), which can be after the next connection's request when
        # both arrive in one loop turn: its line first, for the order below.
        wait_access(srv, "/healthz", 3)
        # Any other path is the app's.
        status, _, body = srv.get("/healthz/more")
        self.assertEqual(status, 200)
        self.assertIn(b"path: /healthz/more", body)
        # Logged like any request (HEAD's "-" bytes are not matched).
        entries = wait_access(srv, "/healthz", 4)
        self.assertEqual([(e[1], e[3]) for e in entries],
                         [("GET", 200), ("GET", 200), ("POST", 405), ("GET", 200)])
        # No request hook saw it; they did see the app's request.
        log = srv.log()
        self.assertEqual(len(re.findall(r"request=GET:/healthz/more\b", log)), 2, log)
        self.assertIsNone(re.search(r"request=\w+:/healthz(\s|$)", log), log)

    def test_not_counted_toward_max_requests(self):
        """Checks every few seconds would recycle workers that serve
        nothing else: only app requests count toward max_requests."""
        srv = self.start_server(app="echo", workers=1, settings={
            "http": {"health_check_path": "/healthz"},
            "workers": {"max_requests": 3, "max_requests_jitter": 0}})
        first = srv.wait_workers(1)[0]
        for _ in range(10):
            self.assertEqual(srv.get("/healthz")[0], 200)
        time.sleep(0.5)
        self.assertEqual(srv.worker_pids(), [first])
        self.assertNotIn("reached max_requests", srv.log())
        for i in range(3):
            self.assertEqual(srv.get("/app/%d" % i)[0], 200)
        srv.wait_for_log(r"worker 1 \(pid %d\) reached max_requests" % first, timeout=10)

    def test_off_by_default(self):
        srv = self.start()
        status, _, body = srv.get("/healthz")
        self.assertEqual(status, 200)
        self.assertIn(b"method: GET\ntarget: /healthz\n", body)

    def test_answered_while_every_handler_waits(self):
        """worker_connections 8: seven connections hold handlers asleep
        for 8 s; the eighth gets its health answer at once, and the
        sleepers have not answered yet."""
        srv = self.start_server(app="echo", workers=1, accesslog=True, settings={
            "http": {"health_check_path": "/healthz"},
            "workers": {"worker_connections": 8}})
        srv.wait_workers(1)
        sleepers = [srv.raw() for _ in range(7)]
        try:
            for c in sleepers:
                c.send(b"GET /?sleep=8 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(1.0)  # all seven are in their handlers
            t0 = time.monotonic()
            status, _, body = srv.get("/healthz", timeout=5)
            took = time.monotonic() - t0
            self.assertEqual((status, body), (200, b"OK\n"))
            self.assertLess(took, 3.0)
            self.assertEqual(access_entries(srv, "/?sleep"), [],
                             "a sleeper answered before the health check")
            for c in sleepers:
                self.assertEqual(c.read_response().status, 200)
        finally:
            for c in sleepers:
                c.close()

    def test_stalled_worker_does_not_answer(self):
        """A handler that spins (6 s) without yielding stalls the worker:
        once it spins, a health check with a 1 s timeout gets nothing; the
        answer comes after the spin."""
        srv = self.start(health_check_path="/healthz")
        worker = srv.worker_pids()[0]
        before = cpu_seconds(worker)
        spinner = srv.raw()
        try:
            spinner.send(b"GET /?spin=6 HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_until(lambda: cpu_seconds(worker) - before >= 0.3, 10,
                       what="the worker spinning")
            with self.assertRaises(socket.timeout):
                srv.get("/healthz", timeout=1.0)
            status, _, body = srv.get("/healthz", timeout=10)
            self.assertEqual((status, body), (200, b"OK\n"))
            self.assertEqual(spinner.read_response().status, 200)
        finally:
            spinner.close()


# ---------------------------------------------------------------------------
# The proxies, rendered from contrib/deploy
# ---------------------------------------------------------------------------

NGINX_MAIN = """\
# The test's nginx.conf around contrib/deploy/nginx/greenicorn.conf (which
# goes inside http {}, as /etc/nginx/conf.d/ files do): every path nginx
# writes is in the temp dir; nginx runs in the foreground as the test user.
error_log @TMP@/error.log info;
pid @TMP@/nginx.pid;
events {
    worker_connections 512;
}
http {
    access_log @TMP@/access.log;
    client_body_temp_path @TMP@/client_body;
    proxy_temp_path @TMP@/proxy;
    fastcgi_temp_path @TMP@/fastcgi;
    uwsgi_temp_path @TMP@/uwsgi;
    scgi_temp_path @TMP@/scgi;

@RECIPE@
}
"""


class NginxRecipeProxy(Proxy):
    """nginx running contrib/deploy/nginx/greenicorn.conf, its listen and
    upstream addresses changed. One worker process (master_process off),
    so that its kept-alive upstream connections can be counted."""

    name = "nginx"
    template = "nginx.conf.in"
    port_names = ("PORT",)
    log_names = ("error.log", "access.log")

    @property
    def port(self):
        return self.ports["PORT"]

    def template_text(self):
        recipe = recipe_text("nginx/greenicorn.conf", (
            ("listen 80;", "listen 127.0.0.1:@PORT@;"),
            ("server 127.0.0.1:8000;", "server 127.0.0.1:@UPSTREAM@;")))
        return NGINX_MAIN.replace("@RECIPE@", recipe)

    def command(self):
        return [NGINX, "-p", self.tmp + "/", "-e", os.path.join(self.tmp, "error.log"),
                "-c", self.config_path, "-g", "daemon off; master_process off;"]


# greenicorn as the recipes' README sets it up: echo on /, ws_echo on /ws/,
# keepalive above the proxies' idle timeouts.
def recipe_settings(**sections):
    settings = {"workers": {"keepalive": 75},
                "app:ws": {"mount": "/ws/", "module": app_path("ws_echo")}}
    for name, keys in sections.items():
        settings.setdefault(name, {}).update(keys)
    return settings


class NginxRecipe(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        assert NGINX, "nginx is not installed (scripts/install-deps --test)"
        cls.srv = cls.start_class_server(app="echo", workers=1, accesslog=True,
                                         settings=recipe_settings())
        cls.srv.wait_workers(1)
        cls.proxy = NginxRecipeProxy(cls.srv.port)
        cls.proxy.__enter__()
        cls.addClassCleanup(cls.proxy.__exit__, None, None, None)

    def test_shipped_file_is_valid_as_is(self):
        """nginx -t with the file included unchanged (listen 80 and all)."""
        tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-nginx-t-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_MAIN.replace("@TMP@", tmp).replace(
                "@RECIPE@", "include %s;" % os.path.join(DEPLOY, "nginx", "greenicorn.conf")))
        r = subprocess.run([NGINX, "-t", "-p", tmp + "/", "-e", os.path.join(tmp, "error.log"),
                            "-c", conf], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("test is successful", r.stderr)

    def test_upstream_connections_are_kept_alive(self):
        """Twenty requests, each from a new client connection, reach
        greenicorn over one upstream connection."""
        closed_before = {p for p, is_open in upstream_conns(self.srv.port).items()
                         if not is_open}  # other tests' connections
        seen = set()
        for i in range(20):
            r, fields, _ = echo(CLIENT, self.proxy.port, "/keepalive/%d" % i)
            self.assertEqual(r.status, 200)
            seen |= set(upstream_conns(self.srv.port)) - closed_before
        self.assertEqual(len(wait_access(self.srv, "/keepalive/", 20)), 20)
        self.assertEqual(len(seen), 1, "upstream connections: %s" % sorted(seen))

    def test_forwarded_headers_reach_the_app(self):
        r, fields, _ = echo(CLIENT, self.proxy.port, "/fwd", headers={
            "Host": "app.example", "X-Forwarded-For": SPOOFED})
        self.assertEqual(r.status, 200)
        # The client's own claim stays to the left, ignored: the address
        # nginx saw is the client.
        self.assertEqual(fields["remote"], CLIENT + ":0")
        self.assertIn("X-Forwarded-For: %s, %s" % (SPOOFED, CLIENT), fields["header"])
        self.assertIn("X-Forwarded-Proto: http", fields["header"])
        self.assertIn("X-Forwarded-Host: app.example", fields["header"])
        self.assertEqual(fields["scheme"], "http")
        self.assertEqual(wait_access(self.srv, "/fwd", 1)[0][0], CLIENT)

    def test_websocket(self):
        self.assertEqual(websocket_echo(self.proxy.port, "/ws/echo"),
                         (OP_TEXT, b"hello through the proxy"))

    def test_streamed_response_is_not_buffered(self):
        """A response flushed in 4 pieces of 2000 bytes 0.7 s apart: its
        first piece reaches the client long before the last
        (proxy_buffering off)."""
        body = b"x" * 8000
        sock = socket.create_connection(("127.0.0.1", self.proxy.port),
                                        timeout=IO_TIMEOUT)
        try:
            t0 = time.monotonic()
            sock.sendall(b"POST /?stream=4&gap=0.7 HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 8000\r\nConnection: close\r\n\r\n" + body)
            got, first = b"", None
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                got += data
                if first is None and b"body-length: 8000" in got:
                    first = time.monotonic() - t0
            total = time.monotonic() - t0
        finally:
            sock.close()
        self.assertIn(b" 200 ", got.split(b"\r\n", 1)[0])
        self.assertIn(b"body-length: 8000", got)
        self.assertGreaterEqual(got.count(b"x"), 8000)
        self.assertIsNotNone(first)
        self.assertGreater(total, 1.8)  # three gaps of 0.7 s
        self.assertLess(first, total - 1.4, "the first piece waited for the rest "
                        "(first %.2f s, all %.2f s)" % (first, total))


# ---------------------------------------------------------------------------
# HAProxy
# ---------------------------------------------------------------------------

class HaproxyRecipeProxy(Proxy):
    """haproxy -db running contrib/deploy/haproxy/haproxy.cfg, with what a
    foreground run as the test user cannot have (user, group, chroot,
    daemon) removed, its ports, stats socket and server list changed."""

    name = "haproxy"
    template = "haproxy.cfg.in"
    port_names = ("PORT",)

    def __init__(self, upstream_port, servers=None, maxconn=4):
        super().__init__(upstream_port)
        self.servers = servers or ["    server app1 127.0.0.1:@UPSTREAM@\n"]
        self.maxconn = maxconn

    @property
    def port(self):
        return self.ports["PORT"]

    @property
    def stats_socket(self):
        return os.path.join(self.tmp, "admin.sock")

    def template_text(self):
        return recipe_text("haproxy/haproxy.cfg", (
            ("    log /dev/log local0\n", "    log stderr format raw local0 info\n"),
            ("    user haproxy\n", ""),
            ("    group haproxy\n", ""),
            ("    chroot /var/lib/haproxy\n", ""),
            ("    daemon\n", ""),
            ("/run/haproxy/admin.sock", "@TMP@/admin.sock"),
            ("    bind :80\n", "    bind 127.0.0.1:@PORT@\n"),
            ("maxconn 4000\n", "maxconn %d\n" % self.maxconn),
            ("    server app1 127.0.0.1:8000\n", "".join(self.servers))))

    def command(self):
        return [HAPROXY, "-db", "-f", self.config_path]

    def stats(self):
        """`show stat` over the stats socket: {server name: row dict}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.stats_socket)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                more = s.recv(65536)
                if not more:
                    break
                data += more
        lines = data.decode().splitlines()
        names = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(names, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r["pxname"] == "greenicorn"}

    def wait_status(self, server, status, timeout=15):
        def reached():
            return self.stats().get(server, {}).get("status", "").startswith(status)
        try:
            wait_until(reached, timeout, interval=0.1,
                       what="%s %s in HAProxy" % (server, status))
        except AssertionError as e:
            raise AssertionError("%s\n%s\n%s" % (e, self.stats().get(server), self.log()))


PROXIED = {"http": {"health_check_path": "/healthz"},
           "proxy": {"proxy_protocol": "on", "proxy_allow_ips": "127.0.0.1"}}


REQUEST_HEAD = re.compile(rb"(GET|POST|HEAD|OPTIONS) (\S+) HTTP/1\.\d\r\n.*?\r\n\r\n",
                          re.S)


class FakeServer:
    """A server HAProxy's checks find healthy (it answers /healthz) that
    drops every other request unanswered: a backend that failed mid-request.
    It records the request lines it dropped."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.dropped = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                data, line = b"", None
                try:
                    # Past the PROXY v2 header (its signature holds a
                    # CRLFCRLF too) to the end of the request head.
                    while line is None:
                        more = conn.recv(65536)
                        if not more:
                            break
                        data += more
                        line = REQUEST_HEAD.search(data)
                except OSError:
                    continue
                if line and line.group(2) == b"/healthz":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                 b"Connection: close\r\n\r\nOK\n")
                elif line:
                    self.dropped.append("%s %s" % (line.group(1).decode(),
                                                   line.group(2).decode()))

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


class HaproxyRecipe(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        assert HAPROXY, "haproxy is not installed (scripts/install-deps --test)"
        cls.srv = cls.start_class_server(
            app="echo", workers=1, accesslog=True,
            settings=recipe_settings(workers={"worker_connections": 4}, **PROXIED))
        cls.srv.wait_workers(1)
        cls.proxy = HaproxyRecipeProxy(cls.srv.port)
        cls.proxy.__enter__()
        cls.addClassCleanup(cls.proxy.__exit__, None, None, None)
        cls.proxy.wait_status("app1", "UP")

    def test_shipped_file_is_valid_as_is(self):
        """haproxy -c on the file unchanged, with the lines the live test
        leaves out (user, group, chroot, daemon, /dev/log)."""
        r = subprocess.run([HAPROXY, "-c", "-f", os.path.join(DEPLOY, "haproxy", "haproxy.cfg")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Configuration file is valid", r.stdout + r.stderr)

    def test_proxy_v2_gives_the_client_address(self):
        r, fields, _ = echo(CLIENT, self.proxy.port, "/v2")
        self.assertEqual(r.status, 200)
        self.assertEqual(fields["remote"].rsplit(":", 1)[0], CLIENT)
        self.assertEqual(wait_access(self.srv, "/v2", 1)[0][0], CLIENT)

    def test_health_check_marks_up_then_down_when_greenicorn_stops(self):
        srv = self.start_server(app="echo", workers=1, settings=PROXIED)
        srv.wait_workers(1)
        with HaproxyRecipeProxy(srv.port) as proxy:
            proxy.wait_status("app1", "UP")
            self.assertEqual(proxy.stats()["app1"]["check_status"], "L7OK")
            self.assertEqual(echo(CLIENT, proxy.port, "/up")[0].status, 200)
            srv.stop()
            proxy.wait_status("app1", "DOWN")
            self.assertEqual(echo(CLIENT, proxy.port, "/down")[0].status, 503)

    def test_websocket(self):
        self.assertEqual(websocket_echo(self.proxy.port, "/ws/echo"),
                         (OP_TEXT, b"hello through the proxy"))

    def test_maxconn_queues_past_worker_connections(self):
        """maxconn = workers x worker_connections (1 x 4 here): eight slow
        requests at once all succeed, four at a time at most reaching
        greenicorn, the others queued in HAProxy. (Before the recipe had
        http-server-close, HAProxy kept each finished PROXY connection
        idle: four filled worker_connections and the rest timed out.)"""
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda i: echo(CLIENT, self.proxy.port,
                                               "/slow/%d?sleep=1" % i)[0].status,
                                range(8)))
        self.assertEqual(got, [200] * 8)
        row = self.proxy.stats()["app1"]
        self.assertEqual(row["slim"], "4")
        self.assertLessEqual(int(row["smax"]), 4)
        # Four waited in HAProxy's queue about a second (qtime_max, ms).
        self.assertGreaterEqual(int(row["qtime_max"]), 500, row)
        # No server connection is kept idle holding a worker connection.
        self.assertEqual(row["idle_conn_cur"], "0")


class HaproxyRetryRecipe(ServerTestCase):
    """retry-on: beside greenicorn, a server that passes its checks but
    drops requests. Every GET it drops is sent again, to greenicorn, and
    succeeds; a POST it drops is not sent twice."""

    def test_idempotent_requests_are_retried(self):
        assert HAPROXY, "haproxy is not installed (scripts/install-deps --test)"
        srv = self.start_server(app="echo", workers=1, accesslog=True, settings=PROXIED)
        srv.wait_workers(1)
        fake = FakeServer()
        self.addCleanup(fake.stop)
        servers = ["    server app1 127.0.0.1:@UPSTREAM@\n",
                   "    server app2 127.0.0.1:%d\n" % fake.port]
        with HaproxyRecipeProxy(srv.port, servers=servers) as proxy:
            proxy.wait_status("app1", "UP")
            proxy.wait_status("app2", "UP")
            for i in range(12):
                self.assertEqual(echo(CLIENT, proxy.port, "/get/%d" % i)[0].status, 200)
            gets = [d for d in fake.dropped if d.startswith("GET /get/")]
            self.assertGreater(len(gets), 0, "no GET went to the failing server")
            self.assertEqual(len(wait_access(srv, "/get/", 12)), 12)
            posts = {}
            for i in range(12):
                posts[i] = echo(CLIENT, proxy.port, "/post/%d" % i, method="POST",
                                body=b"once")[0].status
            dropped = {int(d.split("/")[2].split()[0]) for d in fake.dropped
                       if d.startswith("POST /post/")}
            self.assertGreater(len(dropped), 0, "no POST went to the failing server")
            served = {int(e[2].split("/")[2]) for e in wait_access(
                srv, "/post/", 12 - len(dropped))}
            for i, status in posts.items():
                if i in dropped:
                    self.assertEqual(status, 502, "POST %d" % i)
                    self.assertNotIn(i, served, "POST %d sent twice" % i)
                else:
                    self.assertEqual(status, 200, "POST %d" % i)
            self.assertEqual(served | dropped, set(range(12)))


# ---------------------------------------------------------------------------
# Varnish
# ---------------------------------------------------------------------------

class VarnishRecipeProxy(Proxy):
    """varnishd -F running contrib/deploy/varnish/greenicorn.vcl, its
    backend port changed. -j none: no privilege separation (the test user
    may be root, where varnishd would otherwise switch to the varnish
    user); -n: its working directory in the temp dir."""

    name = "varnish"
    template = "greenicorn.vcl.in"
    port_names = ("PORT",)

    @property
    def port(self):
        return self.ports["PORT"]

    def template_text(self):
        return recipe_text("varnish/greenicorn.vcl", (
            ('.port = "8000";', '.port = "@UPSTREAM@";'),))

    def command(self):
        return [VARNISHD, "-F", "-j", "none", "-n", os.path.join(self.tmp, "work"),
                "-a", "127.0.0.1:%d" % self.port, "-f", self.config_path,
                "-s", "malloc,32m", "-p", "vcc_allow_inline_c=off"]


class VarnishRecipe(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        assert VARNISHD, "varnishd is not installed (scripts/install-deps --test)"
        cls.srv = cls.start_class_server(app="echo", workers=1, accesslog=True,
                                         settings=recipe_settings(**PROXIED))
        cls.srv.wait_workers(1)
        cls.proxy = VarnishRecipeProxy(cls.srv.port)
        cls.proxy.__enter__()
        cls.addClassCleanup(cls.proxy.__exit__, None, None, None)
        # The probe (GET /healthz) finds greenicorn healthy.
        wait_until(lambda: access_entries(cls.srv, "/healthz"), 15,
                   what="Varnish's first health probe")

    def test_shipped_vcl_compiles_as_is(self):
        work = tempfile.mkdtemp(prefix="greenicorn-e2e-vcc-")
        self.addCleanup(shutil.rmtree, work, True)
        r = subprocess.run([VARNISHD, "-C", "-j", "none", "-n", work, "-f",
                            os.path.join(DEPLOY, "varnish", "greenicorn.vcl")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])

    def test_cacheable_get_is_served_from_cache(self):
        first, f1, b1 = echo(CLIENT, self.proxy.port, "/cached?cache=60")
        time.sleep(1.1)  # so that Age counts a second
        second, f2, b2 = echo(CLIENT, self.proxy.port, "/cached?cache=60")
        self.assertEqual((first.status, second.status), (200, 200))
        self.assertEqual(first.getheader("X-Cache"), "miss")
        self.assertEqual(second.getheader("X-Cache"), "hit")
        self.assertGreaterEqual(int(second.getheader("Age")), 1)
        self.assertEqual(len(second.getheader("X-Varnish").split()), 2)  # hit: 2 ids
        self.assertEqual(b1, b2)
        self.assertEqual(len(wait_access(self.srv, "/cached", 1)), 1)

    def test_uncacheable_get_and_post_are_passed(self):
        for i in range(2):
            r, fields, _ = echo(CLIENT, self.proxy.port, "/plain")
            self.assertEqual((r.status, r.getheader("X-Cache")), (200, "miss"))
        for i in range(2):
            r, fields, body = echo(CLIENT, self.proxy.port, "/form?cache=60",
                                   method="POST", body=b"post %d" % i)
            self.assertEqual((r.status, r.getheader("X-Cache")), (200, "miss"))
            self.assertEqual(fields["method"], "POST")
            self.assertTrue(body.endswith(b"post %d" % i), body)
        self.assertEqual(len(wait_access(self.srv, "/plain", 2)), 2)
        self.assertEqual([e[1] for e in wait_access(self.srv, "/form", 2)],
                         ["POST", "POST"])

    def test_proxy_v2_gives_the_client_address(self):
        r, fields, _ = echo(CLIENT, self.proxy.port, "/who")
        self.assertEqual(r.status, 200)
        self.assertEqual(fields["remote"].rsplit(":", 1)[0], CLIENT)
        self.assertEqual(wait_access(self.srv, "/who", 1)[0][0], CLIENT)

    def test_websocket_is_piped(self):
        self.assertEqual(websocket_echo(self.proxy.port, "/ws/echo"),
                         (OP_TEXT, b"hello through the proxy"))


# ---------------------------------------------------------------------------
# systemd and logrotate
# ---------------------------------------------------------------------------

class SystemdRecipe(unittest.TestCase):
    """`systemd-analyze verify` of greenicorn.service and greenicorn.socket
    (it works without systemd as PID 1), ExecStart pointed at the built
    binary: no error and no warning (an unknown or misspelt key is only a
    warning). --man=no: the man page is not installed where tests run.
    The notify and activation protocols themselves: tests/e2e/test_systemd.py."""

    def setUp(self):
        self.assertIsNotNone(SYSTEMD_ANALYZE, "systemd-analyze is not installed")
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-systemd-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def render(self, extra=""):
        service = recipe_text("systemd/greenicorn.service", (
            ("ExecStart=/usr/local/bin/greenicorn ",
             "ExecStart=%s " % os.path.abspath(harness.GREENICORN)),))
        service = service.replace("[Install]", extra + "[Install]")
        with open(os.path.join(self.tmp, "greenicorn.service"), "w") as f:
            f.write(service)
        shutil.copy(os.path.join(DEPLOY, "systemd", "greenicorn.socket"), self.tmp)
        return service

    def verify(self):
        return subprocess.run(
            [SYSTEMD_ANALYZE, "verify", "--man=no",
             os.path.join(self.tmp, "greenicorn.socket"),
             os.path.join(self.tmp, "greenicorn.service")],
            capture_output=True, text=True, timeout=60)

    def test_verify_accepts_both_units(self):
        service = self.render()
        for key in ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "ProtectHome=yes", "PrivateTmp=yes", "DynamicUser=yes"):
            self.assertIn("\n%s\n" % key, service)
        r = self.verify()
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_units_command_serves_the_units_socket(self):
        """The service's ExecStart (its config and pid paths moved into the
        temp dir) under systemd-socket-activate with the socket unit's
        ListenStream (its port changed): the passed socket is served, READY=1
        reaches NOTIFY_SOCKET, and the pid file names the arbiter. (The
        sandboxing options need systemd as PID 1: not run here.)"""
        activate = shutil.which("systemd-socket-activate")
        self.assertIsNotNone(activate, "systemd-socket-activate is not installed")
        port = harness.free_port()
        listen = re.search(r"^ListenStream=(\S+)$", recipe_text(
            "systemd/greenicorn.socket",
            (("ListenStream=127.0.0.1:8000", "ListenStream=127.0.0.1:%d" % port),)),
            re.M).group(1)
        conf, pid = os.path.join(self.tmp, "greenicorn.conf"), os.path.join(self.tmp, "pid")
        with open(conf, "w") as f:
            f.write("[app]\nmodule = %s\n[logging]\nerrorlog = %s\n"
                    % (app_path("echo"), os.path.join(self.tmp, "error.log")))
        service = recipe_text("systemd/greenicorn.service", (
            ("/usr/local/bin/greenicorn ", os.path.abspath(harness.GREENICORN) + " "),
            ("-c /etc/greenicorn/greenicorn.conf", "-c " + conf),
            ("--pid /run/greenicorn/greenicorn.pid", "--pid " + pid)))
        argv = re.search(r"^ExecStart=(.*)$", service, re.M).group(1).split()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(os.path.join(self.tmp, "notify"))
        notify.settimeout(15)
        # It listens, and on the first connection execs greenicorn with the
        # socket as fd 3 (LISTEN_FDS=1); its environment is only what -E gives.
        proc = subprocess.Popen(
            harness.PDEATHSIG + [activate, "-l", listen, "-E",
                                 "NOTIFY_SOCKET=" + os.path.join(self.tmp, "notify")] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait(5)
        self.addCleanup(stop)
        def first_connection():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_until(first_connection, 10, what="systemd-socket-activate listening")
        self.assertIn("READY=1", notify.recv(4096).decode())
        reply = harness.raw_exchange(
            port, b"GET /activated HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"target: /activated\n", reply)
        with open(pid) as f:
            self.assertEqual(int(f.read()), proc.pid)  # exec: the same process
        stop()
        self.assertEqual(proc.returncode, 0)

    def test_verify_would_report_a_bad_key(self):
        self.render(extra="ProtectSystm=strict\n")
        r = self.verify()
        self.assertIn("Unknown key", r.stderr)


class LogrotateRecipe(unittest.TestCase):
    """The logrotate snippet signals the pid file and rotates the logs the
    systemd unit makes (RuntimeDirectory, LogsDirectory)."""

    def test_paths_agree_with_the_service(self):
        with open(os.path.join(DEPLOY, "logrotate", "greenicorn")) as f:
            snippet = f.read()
        with open(os.path.join(DEPLOY, "systemd", "greenicorn.service")) as f:
            service = f.read()
        pid = re.search(r"--pid (\S+)", service).group(1)
        self.assertIn('kill -USR1 "$(cat %s)"' % pid, snippet)
        self.assertIn("\nLogsDirectory=greenicorn\n", service)
        self.assertIn("\n/var/log/greenicorn/*.log {\n", snippet)
        self.assertEqual(os.path.dirname(pid), "/run/greenicorn")
        self.assertIn("\nRuntimeDirectory=greenicorn\n", service)


if __name__ == "__main__":
    unittest.main()
