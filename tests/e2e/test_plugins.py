#!/usr/bin/env python3
"""The plugin contract as plugin authors meet it: apps mounted on URL
prefixes (routing, SCRIPT_NAME/PATH_INFO, per-app args, 404); the request
and response calls of ABI 1.2 (trailers, server address, sendfile, client
gone); every server hook, in its process and order, against the table in
docs/plugins.md; plugins refused at start-up (wrong ABI, missing symbol,
missing file) with a message naming the file and the reason; and a
crashing plugin taking down only its worker."""
import errno
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import unittest

import harness
from harness import (RawConn, ServerTestCase, app_path, hook_path,
                     render_config, run_until_exit, test_plugin_path, wait_until)

HOOKS = ["on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
         "post_worker_init", "worker_int", "worker_abort", "pre_exec",
         "pre_request", "post_request", "child_exit", "worker_exit",
         "nworkers_changed", "on_exit"]


def echo_get(srv, target):
    with RawConn(srv.port) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        return c.read_response()


class MountTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=1, settings={
            "app.args": {"label": "root"},
            "app:api": {"module": app_path("echo"), "mount": "/api"},
            "app:api.args": {"label": "api"},
            "app:v2": {"module": app_path("echo"), "mount": "/api/v2/"},
            "app:v2.args": {"label": "v2"},
        })

    def fields(self, target):
        r = echo_get(self.srv, target)
        self.assertEqual(r.status, 200, r)
        return r.echo_fields()

    def test_longest_prefix_wins(self):
        cases = [
            ("/", "root", "", "/"),
            ("/apix", "root", "", "/apix"),
            ("/api", "api", "/api", ""),
            ("/api/", "api", "/api", "/"),
            ("/api/users/7?x=1", "api", "/api", "/users/7"),
            ("/api/v2", "v2", "/api/v2", ""),
            ("/api/v2/things", "v2", "/api/v2", "/things"),
            ("/api/v20", "api", "/api", "/v20"),
            ("/api%2Fv2/x", "v2", "/api/v2", "/x"),  # decoded, as WSGI's
        ]
        for target, label, script, info in cases:
            with self.subTest(target=target):
                f = self.fields(target)
                self.assertEqual(f["label"], label)
                self.assertEqual(f["script-name"], script)
                self.assertEqual(f["path-info"], info)
                self.assertEqual(f["target"], target)

    def test_each_app_has_its_own_args(self):
        self.assertEqual(self.fields("/api/x")["label"], "api")
        self.assertEqual(self.fields("/x")["label"], "root")


class NoRootMountTest(ServerTestCase):

    def test_404_when_no_mount_matches_and_the_connection_stays(self):
        srv = self.start_server(app=None, settings={
            "app:api": {"module": app_path("echo"), "mount": "/api"}})
        with RawConn(srv.port) as c:
            c.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                   b"GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 404, r)
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.echo_fields()["path-info"], "/ok")


class AppBodyLimitTest(ServerTestCase):
    """limit_request_body in [app:NAME] overrides [http]'s for the
    requests routed to that app, before a byte of the body is read: 413
    and close past it, for a Content-Length, a chunked body and a client
    waiting for 100 Continue alike."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=1, settings={
            "http": {"limit_request_body": 100},
            "app:big": {"module": app_path("echo"), "mount": "/big",
                        "limit_request_body": 1000},
            "app:tiny": {"module": app_path("echo"), "mount": "/tiny",
                         "limit_request_body": 10},
            "app:free": {"module": app_path("echo"), "mount": "/free",
                         "limit_request_body": 0},
        })

    def post(self, target, body, chunked=False, expect=False):
        head = b"POST %s HTTP/1.1\r\nHost: x\r\n" % target.encode()
        if expect:
            head += b"Expect: 100-continue\r\n"
        if chunked:
            head += b"Transfer-Encoding: chunked\r\n\r\n"
            data = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        else:
            head += b"Content-Length: %d\r\n\r\n" % len(body)
            data = body
        with RawConn(self.srv.port) as c:
            if expect:
                c.send(head)
                r = c.read_response(allow_interim=True)
                if r.status != 100:
                    self.assertTrue(c.closed_by_peer(), "still open after %r" % r)
                    return r
                c.send(data)
            else:
                c.send(head + data)
            r = c.read_response()
            if r.status == 413:
                self.assertEqual(r.header("Connection"), "close")
                self.assertTrue(c.closed_by_peer(), "still open after 413")
            return r

    def length(self, r):
        self.assertEqual(r.status, 200, r)
        return int(r.echo_fields()["body-length"])

    def test_an_app_may_take_more_than_the_server(self):
        self.assertEqual(self.length(self.post("/big/x", b"b" * 500)), 500)
        self.assertEqual(self.length(self.post("/big/x", b"b" * 1000, chunked=True)), 1000)
        self.assertEqual(self.post("/big/x", b"b" * 1001).status, 413)
        self.assertEqual(self.post("/big/x", b"b" * 1001, chunked=True).status, 413)

    def test_an_app_may_take_less_than_the_server(self):
        self.assertEqual(self.length(self.post("/tiny", b"t" * 10)), 10)
        self.assertEqual(self.post("/tiny", b"t" * 11).status, 413)
        self.assertEqual(self.post("/tiny/y", b"t" * 11, chunked=True).status, 413)

    def test_no_100_continue_past_the_apps_limit(self):
        r = self.post("/tiny", b"t" * 11, expect=True)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.length(self.post("/big", b"b" * 500, expect=True)), 500)

    def test_zero_is_no_limit_and_others_keep_the_servers(self):
        self.assertEqual(self.length(self.post("/free", b"f" * 5000)), 5000)
        self.assertEqual(self.length(self.post("/", b"r" * 100)), 100)
        self.assertEqual(self.post("/", b"r" * 101).status, 413)
        self.assertEqual(self.post("/other", b"r" * 101, chunked=True).status, 413)


class RequestApiTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=1)

    def test_trailers_after_a_chunked_body(self):
        with RawConn(self.srv.port) as c:
            c.send(b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\nChecksum: abc  \r\nX-Note: two\r\n"
                   b"X-Empty:\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        trailers = [l for l in r.body.decode().split("\n") if l.startswith("trailer: ")]
        self.assertEqual(trailers, ["trailer: Checksum: abc", "trailer: X-Note: two",
                                    "trailer: X-Empty: "])
        self.assertEqual(r.echo_body(), b"hello")

    def test_trailers_are_held_to_the_header_limits(self):
        with RawConn(self.srv.port) as c:
            c.send(b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"1\r\na\r\n0\r\nBig: " + b"x" * 9000 + b"\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 431, r)

    def test_no_trailers_without_a_chunked_body(self):
        f = echo_get(self.srv, "/plain").echo_fields()
        self.assertNotIn("trailer", f)

    def test_server_address(self):
        f = echo_get(self.srv, "/").echo_fields()
        self.assertEqual(f["server"], "127.0.0.1:%d" % self.srv.port)

    def test_client_gone_is_noticed_while_the_handler_waits(self):
        with RawConn(self.srv.port) as c:
            c.send(b"GET /?wait_gone=5 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
        started = time.monotonic()
        self.srv.wait_for_log(r"echo: client gone after", timeout=4)
        self.assertLess(time.monotonic() - started, 2)


class SendfileTest(ServerTestCase):
    """contrib/apps/static.c: files sent with gn_response_sendfile."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="gn-static-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        cls.outside = tempfile.mkdtemp(prefix="gn-outside-")
        cls.addClassCleanup(shutil.rmtree, cls.outside, True)
        cls.big = os.urandom(3 * 1024 * 1024 + 17)
        with open(os.path.join(cls.root, "big.bin"), "wb") as f:
            f.write(cls.big)
        # More than a socket's largest send buffer (tcp_wmem: 4 MiB).
        cls.huge = cls.big * 4
        with open(os.path.join(cls.root, "huge.bin"), "wb") as f:
            f.write(cls.huge)
        os.mkdir(os.path.join(cls.root, "docs"))
        with open(os.path.join(cls.root, "docs", "index.html"), "w") as f:
            f.write("<h1>docs</h1>\n")
        with open(os.path.join(cls.root, "empty.txt"), "w"):
            pass
        with open(os.path.join(cls.outside, "secret.txt"), "w") as f:
            f.write("secret\n")
        os.symlink(os.path.join(cls.outside, "secret.txt"),
                   os.path.join(cls.root, "escape.txt"))
        cls.srv = cls.start_class_server(app=None, workers=1, settings={
            "app:files": {"module": app_path("static"), "mount": "/static"},
            "app:files.args": {"root": cls.root, "index": "index.html"},
            "app:echo": {"module": app_path("echo"), "mount": "/"},
        })

    def get(self, target, headers=b"", method=b"GET"):
        with RawConn(self.srv.port, timeout=20) as c:
            c.send(method + b" " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                   headers + b"\r\n")
            return c.read_response(method=method.decode())

    def test_a_large_file_arrives_whole_with_its_length(self):
        r = self.get("/static/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(self.big)))
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        self.assertEqual(r.body, self.big)

    def test_ranges(self):
        r = self.get("/static/big.bin", b"Range: bytes=100-199\r\n")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 100-199/%d" % len(self.big))
        self.assertEqual(r.body, self.big[100:200])
        r = self.get("/static/big.bin", b"Range: bytes=-10\r\n")
        self.assertEqual(r.body, self.big[-10:])
        r = self.get("/static/big.bin", b"Range: bytes=%d-\r\n" % len(self.big))
        self.assertEqual(r.status, 416)

    def test_head_index_empty_and_conditional(self):
        r = self.get("/static/big.bin", method=b"HEAD")
        self.assertEqual((r.status, r.header("Content-Length"), r.body),
                         (200, str(len(self.big)), b""))
        r = self.get("/static/docs/")
        self.assertEqual((r.status, r.body), (200, b"<h1>docs</h1>\n"))
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        r = self.get("/static/empty.txt")
        self.assertEqual((r.status, r.header("Content-Length"), r.body), (200, "0", b""))
        etag = self.get("/static/big.bin", method=b"HEAD").header("ETag")
        r = self.get("/static/big.bin", b"If-None-Match: " + etag.encode() + b"\r\n")
        self.assertEqual((r.status, r.body), (304, b""))

    def test_nothing_outside_the_root(self):
        for target in ["/static/../static/big.bin", "/static/%2e%2e/etc/passwd",
                       "/static/escape.txt", "/static/nope", "/static/docs/../../x"]:
            with self.subTest(target=target):
                self.assertEqual(self.get(target).status, 404)
        self.assertEqual(self.get("/static/big.bin", method=b"POST").status, 405)

    def test_a_slow_reader_gets_the_whole_file_and_keeps_its_connection(self):
        # The socket fills and the sendfile waits for room (io_uring: a
        # poll on the ring; epoll: the socket's watch).
        with RawConn(self.srv.port, timeout=20) as c:
            c.send(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, self.huge)
            c.send(b"GET /static/docs/ HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_response().body, b"<h1>docs</h1>\n")

    def test_other_connections_are_served_during_a_slow_download(self):
        # A client that reads nothing holds a 3 MiB sendfile: the worker
        # must go on serving others (the socket fills, sendfile yields).
        slow = socket.create_connection(("127.0.0.1", self.srv.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.addCleanup(slow.close)
        slow.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        self.assertEqual(echo_get(self.srv, "/meanwhile").status, 200)
        self.assertLess(time.monotonic() - started, 1.0)


def hooks_settings(path=None):
    return {"hooks": {h: path or hook_path() for h in HOOKS}}


def read_hook_log(path):
    """[(hook, {field: value})] from log_hooks' lines."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split())
            out.append((fields.pop("hook"), fields))
    return out


def documented_processes():
    """{hook: process} from the hooks table of docs/plugins.md."""
    with open(os.path.join(harness.REPO, "docs", "plugins.md")) as f:
        text = f.read()
    table = text.split("<!-- hooks-table", 1)[1].split("<!-- end hooks-table", 1)[0]
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^\| `(\w+)` \| ([a-z ]+?) \|", table, re.M)}


class HookEnv:
    """GREENICORN_HOOK_LOG (and _FAIL) for the servers a test starts."""

    def setUpHookLog(self, fail=None):
        self.hook_dir = tempfile.mkdtemp(prefix="gn-hooks-")
        self.addCleanup(shutil.rmtree, self.hook_dir, True)
        self.hook_log = os.path.join(self.hook_dir, "hooks.log")
        self.set_env("GREENICORN_HOOK_LOG", self.hook_log)
        self.set_env("GREENICORN_HOOK_FAIL", fail)

    def set_env(self, key, value):
        saved = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
        self.addCleanup(lambda: os.environ.__setitem__(key, saved)
                        if saved is not None else os.environ.pop(key, None))

    def hooks(self):
        return read_hook_log(self.hook_log)


class HooksTest(ServerTestCase, HookEnv):

    def test_every_hook_in_its_process_and_order(self):
        self.setUpHookLog()
        roles = documented_processes()
        self.assertEqual(sorted(roles), sorted(HOOKS), "docs/plugins.md's table")
        srv = self.start_server(app="echo", workers=2, settings=hooks_settings())
        arbiter = srv.pid
        first = set(srv.wait_workers(2))
        self.assertEqual(echo_get(srv, "/x").status, 200)
        wait_until(lambda: any(h == "post_request" for h, _ in self.hooks()), 5)
        srv.signal(signal.SIGTTIN)
        wait_until(lambda: sum(h == "post_worker_init" for h, _ in self.hooks()) == 3, 5)
        srv.signal(signal.SIGHUP)
        wait_until(lambda: sum(h == "child_exit" for h, _ in self.hooks()) == 3, 10,
                   what="the old generation's child_exit")
        wait_until(lambda: sum(h == "post_worker_init" for h, _ in self.hooks()) == 5, 5)
        srv.stop()
        self.assertEqual(srv.returncode, 0)
        log = self.hooks()

        # The process of each line, as the table says.
        worker_pids = set()
        for hook, f in log:
            pid, role = int(f["pid"]), roles[hook]
            self.assertEqual(int(f["arbiter"]), arbiter, (hook, f))
            if role == "arbiter":
                self.assertEqual(pid, arbiter, (hook, f))
            elif role == "worker":
                self.assertNotEqual(pid, arbiter, (hook, f))
                self.assertEqual(int(f["worker_pid"]), pid, (hook, f))
                worker_pids.add(pid)
        self.assertEqual(len(worker_pids), 5)
        self.assertTrue(first <= worker_pids)

        # The arbiter's own sequence, as docs/plugins.md lists it.
        seq = [(h, f.get("old_workers"), f["workers"]) if h == "nworkers_changed" else h
               for h, f in log if roles[h] == "arbiter"]
        self.assertEqual(seq, [
            "on_starting", ("nworkers_changed", "0", "2"), "when_ready",
            "pre_fork", "pre_fork",
            ("nworkers_changed", "2", "3"), "pre_fork",
            ("nworkers_changed", "3", "2"), "on_reload", "pre_fork", "pre_fork",
            "child_exit", "child_exit", "child_exit",
            "child_exit", "child_exit", "on_exit"])
        self.assertIn("bind=127.0.0.1:%d" % srv.port,
                      " ".join("%s=%s" % kv for kv in log[0][1].items()))

        # Each worker: post_fork, post_worker_init, [requests], worker_exit,
        # between its pre_fork and its child_exit.
        for pid in worker_pids:
            mine = [h for h, f in log if f.get("worker_pid") == str(pid)]
            self.assertIn(mine, [
                ["post_fork", "post_worker_init", "worker_exit", "child_exit"],
                ["post_fork", "post_worker_init", "pre_request", "post_request",
                 "worker_exit", "child_exit"]], pid)
            age = [f["worker_age"] for h, f in log if f.get("worker_pid") == str(pid)][0]
            forks = [i for i, (h, f) in enumerate(log)
                     if h == "pre_fork" and f["worker_age"] == age]
            births = [i for i, (h, f) in enumerate(log)
                      if h == "post_fork" and f["worker_pid"] == str(pid)]
            self.assertLess(forks[0], births[0])
        served = [(h, f["request"], f["path_info"], f.get("http_status"))
                  for h, f in log if h in ("pre_request", "post_request")]
        self.assertEqual(served, [("pre_request", "GET:/x", "/x", None),
                                  ("post_request", "GET:/x", "/x", "200")])
        exits = [f["status"] for h, f in log if h in ("child_exit", "worker_exit")]
        self.assertEqual(set(exits), {"0"})

    def test_worker_int_on_a_quick_stop(self):
        self.setUpHookLog()
        srv = self.start_server(app="hello", workers=1, settings=hooks_settings())
        pid = srv.wait_workers(1)[0]
        srv.stop(sig=signal.SIGQUIT)
        names = [(h, f.get("worker_pid")) for h, f in self.hooks()]
        self.assertIn(("worker_int", str(pid)), names)
        self.assertLess(names.index(("worker_int", str(pid))),
                        names.index(("worker_exit", str(pid))))

    def test_worker_abort_when_the_watchdog_fires(self):
        self.setUpHookLog()
        settings = hooks_settings()
        settings["workers"] = {"timeout": 1}
        srv = self.start_server(app="echo", workers=1, settings=settings)
        pid = srv.wait_workers(1)[0]
        try:
            srv.get("/?spin=10", timeout=6)
        except OSError:
            pass
        srv.wait_for_log(r"worker 1 \(pid %d\) exited on signal 6 \(SIGABRT\)" % pid,
                         timeout=6)
        hooks = [(h, f.get("worker_pid")) for h, f in self.hooks()]
        self.assertIn(("worker_abort", str(pid)), hooks)
        child = [f for h, f in self.hooks() if h == "child_exit" and f["worker_pid"] == str(pid)]
        self.assertEqual(child[0]["status"], str(signal.SIGABRT))

    def test_a_failing_start_up_hook_stops_start_up(self):
        for hook, status in [("on_starting", 1), ("when_ready", 1), ("post_fork", 3),
                             ("post_worker_init", 3)]:
            with self.subTest(hook=hook):
                self.setUpHookLog(fail=hook)
                port = harness.free_port()
                conf = os.path.join(self.hook_dir, "g.conf")
                with open(conf, "w") as f:
                    f.write(render_config({
                        "server": {"bind": "127.0.0.1:%d" % port},
                        "hooks": {hook: hook_path()},
                        "app": {"module": app_path("hello")}}))
                rc, _out, err = run_until_exit(["-c", conf])
                self.assertEqual(rc, status, err)
                self.assertIn("hook %s (%s) failed: Operation not permitted"
                              % (hook, hook_path()), err)
                if hook == "on_starting":  # before any socket was bound
                    self.assertNotIn("listening at", err)
                if status == 3:  # a worker's: its boot error, as the arbiter saw it
                    self.assertRegex(err, r"worker \d+ \(pid \d+\) failed to boot: "
                                     r"the %s hook failed" % hook)

    def test_a_failing_pre_request_answers_500_without_the_app(self):
        self.setUpHookLog(fail="pre_request")
        srv = self.start_server(app="echo", workers=1, settings={
            "hooks": {"pre_request": hook_path(), "post_request": hook_path()}})
        status, _h, body = srv.get("/?crash=1")  # the app would crash
        self.assertEqual(status, 500)
        self.assertEqual(srv.get("/")[0], 500)
        # post_request runs once the response is out: wait for its line.
        wait_until(lambda: [f["http_status"] for h, f in self.hooks()
                            if h == "post_request"] == ["500", "500"], 5,
                   what="two post_request lines with 500")
        srv.wait_for_log(r"hook pre_request \(.*\) failed")

    def test_other_hooks_fail_only_in_the_log(self):
        self.setUpHookLog(fail="pre_fork,post_request,nworkers_changed")
        srv = self.start_server(app="hello", workers=1, settings=hooks_settings())
        self.assertEqual(srv.get("/")[0], 200)
        srv.wait_for_log(r"hook post_request \(.*\) failed: Operation not permitted")
        srv.wait_for_log(r"hook pre_fork \(.*\) failed")


class ResponseRefusalTest(ServerTestCase):
    """What gn_response_header and gn_response_status refuse, called from
    a real handler (tests/plugins/contract.c reports each return code)."""

    EINVAL, EPERM, EALREADY = -errno.EINVAL, -errno.EPERM, -errno.EALREADY

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app=test_plugin_path("contract"),
                                         workers=1)

    def codes(self, target):
        with RawConn(self.srv.port) as c:
            c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
            r = c.read_response(allow_interim=True)
        self.assertEqual(r.status, 200, r)
        return r, dict(line.rsplit(" ", 1) for line in r.body.decode().splitlines())

    def test_control_characters_and_non_tokens_are_refused(self):
        r, codes = self.codes("/refuse")
        for case in ["value-cr", "value-lf", "value-crlf", "value-del", "name-cr",
                     "name-lf", "name-colon", "name-space", "name-empty", "name-at",
                     "name-paren", "name-8bit", "reason-crlf", "reason-lf"]:
            self.assertEqual(int(codes[case]), self.EINVAL, case)
        # What is allowed goes through, and only that reaches the client.
        for case in ["value-nul-prefix", "value-tab", "value-obs-text",
                     "status-299", "status-200"]:
            self.assertEqual(int(codes[case]), 0, case)
        self.assertEqual(r.header("X-Nul"), "ok")
        self.assertIsNone(r.header("X-Evil"))
        self.assertIsNone(r.header("Set-Cookie"))
        self.assertIsNone(r.header("X-A"))
        self.assertEqual(r.reason, "OK")

    def test_the_framing_headers_are_the_servers(self):
        r, codes = self.codes("/refuse")
        for name in ["Content-Length", "content-length", "Transfer-Encoding",
                     "Connection", "Date", "Server"]:
            self.assertEqual(int(codes["framing-" + name]), self.EPERM, name)
        self.assertEqual(r.header_all("Server"), ["greenicorn"])
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.header("Content-Length"))

    def test_nothing_changes_once_the_head_is_sent(self):
        r, codes = self.codes("/refuse")
        self.assertEqual(int(codes["after-header"]), self.EALREADY)
        self.assertEqual(int(codes["after-status"]), self.EALREADY)
        self.assertIsNone(r.header("X-Late"))

    def test_an_interim_status_is_never_the_answer(self):
        _r, codes = self.codes("/refuse")
        for status in (100, 101, 103, 199, 99, 1000):
            self.assertEqual(int(codes["status-%d" % status]), self.EINVAL, status)
        # Sent alone: the client gets the 200 (no bare 103), and the next
        # answer on the connection is the next request's.
        with RawConn(self.srv.port) as c:
            c.send(b"GET /status?code=103 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n")
            first = c.read_response(allow_interim=True)
            second = c.read_response(allow_interim=True)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.body, b"status 103 %d\n" % self.EINVAL)
        self.assertEqual(second.status, 204, second)


class CloseAfterResponseTest(ServerTestCase):
    """An app asks for the connection to close after its answer, by
    gn_response_close_connection or by setting Connection: close itself:
    the answer says so, the server closes, and what was pipelined behind
    it is not served (tests/plugins/contract.c, /close)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app=test_plugin_path("contract"),
                                         workers=1)

    def pipelined(self, target):
        with RawConn(self.srv.port) as c:
            c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /status?code=201 HTTP/1.1\r\nHost: x\r\n\r\n"
                   % target.encode())
            first = c.read_response()
            self.assertTrue(c.closed_by_peer(), "the connection stayed open")
        return first

    def test_the_call_closes_after_the_answer(self):
        r = self.pipelined("/close?how=call")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"close 0\n")
        self.assertEqual(r.header_all("Connection"), ["close"])

    def test_an_app_set_connection_close_is_honoured(self):
        r = self.pipelined("/close?how=header")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"close 0\n")
        self.assertEqual(r.header_all("Connection"), ["close"])

    def test_after_the_head_the_response_ends_then_closes(self):
        r = self.pipelined("/close?how=flush")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"streamed\nclose 0\n")

    def test_other_answers_keep_the_connection(self):
        with RawConn(self.srv.port) as c:
            c.send(b"GET /status?code=201 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /status?code=202 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual([r.status for r in c.read_responses(2)], [201, 202])


class ForeignThreadTest(ServerTestCase):
    """A thread the app started may not call the request, response or
    green API: each call returns -EPERM (or NULL) and changes nothing."""

    def test_every_call_from_an_app_thread_is_refused(self):
        srv = self.start_server(app=test_plugin_path("contract"), workers=1)
        with RawConn(srv.port) as c:
            c.send(b"GET /thread HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        codes = dict(line.rsplit(" ", 1) for line in r.body.decode().splitlines())
        pointers = {"gn_request_alloc", "gn_spawn"}  # noted 1 unless NULL
        calls = [k for k in codes if k.startswith("gn_")]
        self.assertEqual(len(calls), 23, codes)
        for call in calls:
            want = 0 if call in pointers else -errno.EPERM
            self.assertEqual(int(codes[call]), want, call)
        self.assertEqual(codes["event-set-ignored"], "1")
        self.assertEqual(codes["sem-left"], "0")  # its one unit, still there
        # Nothing the thread wrote or set reached the client: the body is
        # the handler's report alone.
        self.assertIsNone(r.header("X-T"))
        self.assertTrue(r.body.startswith(b"gn_response_write "), r.body)
        self.assertRegex(r.body.decode(), r"\A([a-z_-]+ -?\d+\n)+\Z")
        self.assertEqual(srv.get("/status?code=200")[0], 200)


class RefusedPluginsTest(ServerTestCase):
    """Acceptance: a plugin built for another ABI, a .so without the
    symbol, a missing file: exit 1 before binding, naming file and why."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gn-refused-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, section, key, value):
        port = harness.free_port()
        conf = os.path.join(self.dir, "g.conf")
        sections = {"server": {"bind": "127.0.0.1:%d" % port}}
        if section != "app":
            sections["app"] = {"module": app_path("hello")}
        sections.setdefault(section, {})[key] = value
        with open(conf, "w") as f:
            f.write(render_config(sections))
        rc, out, err = run_until_exit(["-c", conf])
        with socket.socket() as s:  # nothing was left bound
            s.bind(("127.0.0.1", port))
        self.assertEqual(rc, 1, err)
        self.assertTrue(err.startswith("greenicorn: %s:" % conf), err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        return err

    def test_refused(self):
        bad = test_plugin_path()
        missing = os.path.join(self.dir, "missing.so")
        cases = [
            ("app", "module", bad + ":future_app",
             ["bad_plugins.so: future_app was built for plugin ABI 2.0, this greenicorn speaks 1."]),
            ("app", "module", bad + ":past_app", ["built for plugin ABI 0.9"]),
            ("app", "module", bad + ":tiny_app", ["is 8 bytes, smaller than any gn_app_t"]),
            ("app", "module", bad + ":no_handler_app", ["no_handler_app has no handle function"]),
            ("app", "module", bad + ":nope", ["bad_plugins.so: no symbol 'nope'"]),
            ("app", "module", app_path("hello") + ":greenicorn_nothing",
             ["hello.so: no symbol 'greenicorn_nothing'"]),
            ("app", "module", missing, [missing, "No such file or directory"]),
            ("app:api", "module", missing, ["[app:api] module", "No such file"]),
            ("hooks", "post_fork", bad + ":future_hook",
             ["post_fork: ", "future_hook was built for plugin ABI 2.1"]),
            ("hooks", "post_fork", app_path("hello"),
             ["post_fork: ", "no symbol 'greenicorn_post_fork'"]),
            ("hooks", "pre_fork", hook_path() + ":greenicorn_post_fork",
             ["greenicorn_post_fork is written for the post_fork hook, not pre_fork"]),
            ("hooks", "on_exit", missing, ["on_exit: cannot load the hook", missing]),
        ]
        for section, key, value, needles in cases:
            with self.subTest(value=value, key=key):
                extra = {"mount": "/api"} if section.startswith("app:") else {}
                if extra:
                    err = self.start_named(section, value)
                else:
                    err = self.start(section, key, value)
                for needle in needles:
                    self.assertIn(needle, err)

    def start_named(self, section, value):
        port = harness.free_port()
        conf = os.path.join(self.dir, "g.conf")
        with open(conf, "w") as f:
            f.write(render_config({"server": {"bind": "127.0.0.1:%d" % port},
                                   section: {"mount": "/api", "module": value}}))
        rc, out, err = run_until_exit(["-c", conf])
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:6: [app:api] module" % conf, err)
        return err


class PreloadTest(ServerTestCase):
    """preload_app: init runs once, in the arbiter, before the fork; a HUP
    keeps the apps as they are (Gunicorn's)."""

    def test_init_runs_in_the_arbiter_and_hup_keeps_it(self):
        srv = self.start_server(app="echo", workers=2, settings={
            "workers": {"preload_app": "on"}, "app.args": {"label": "first"}})
        workers = set(srv.wait_workers(2))
        f = echo_get(srv, "/").echo_fields()
        self.assertEqual(int(f["init-pid"]), srv.pid)
        self.assertIn(int(f["pid"]), workers)
        self.assertEqual(f["label"], "first")
        # A HUP with another label: new workers, the same preloaded app.
        with open(srv.config_path) as conf:
            text = conf.read().replace("label = first", "label = second")
        with open(srv.config_path, "w") as conf:
            conf.write(text)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"preload_app keeps the apps loaded at start")
        wait_until(lambda: not (set(srv.worker_pids()) & workers), 10,
                   what="the old workers gone")
        f = echo_get(srv, "/").echo_fields()
        self.assertEqual((int(f["init-pid"]), f["label"]), (srv.pid, "first"))
        self.assertNotIn(int(f["pid"]), workers)

    def test_without_preload_each_worker_runs_init(self):
        srv = self.start_server(app="echo", workers=1)
        f = echo_get(srv, "/").echo_fields()
        self.assertEqual(f["init-pid"], f["pid"])

    def test_a_failing_preloaded_init_stops_start_up_before_binding(self):
        port = harness.free_port()
        conf = os.path.join(tempfile.mkdtemp(prefix="gn-preload-"), "g.conf")
        self.addCleanup(shutil.rmtree, os.path.dirname(conf), True)
        with open(conf, "w") as f:
            f.write(render_config({"server": {"bind": "127.0.0.1:%d" % port},
                                   "workers": {"preload_app": "on"},
                                   "app": {"module": app_path("echo")},
                                   "app.args": {"fail_init": "no database"}}))
        rc, _out, err = run_until_exit(["-c", conf])
        self.assertEqual(rc, 3, err)
        self.assertIn("echo: init fails as asked: no database", err)
        self.assertIn("preload_app: app echo (%s): init failed" % app_path("echo"), err)
        self.assertNotIn("listening at", err)


class CrashIsolationTest(ServerTestCase):
    """Acceptance: a SIGSEGV in a handler closes that request's connection;
    connections on the other worker go on; the worker is replaced; the log
    names the signal."""

    def test_a_crash_touches_only_its_worker(self):
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "handle_segv=0"
        self.addCleanup(lambda: os.environ.__setitem__("ASAN_OPTIONS", saved)
                        if saved is not None else os.environ.pop("ASAN_OPTIONS"))
        # Two connections fill a worker, so the third and fourth go to the
        # other one: the accept race alone once gave all 60 to one worker.
        srv = self.start_server(app="echo", workers=2, settings={
            "workers": {"worker_connections": 2}})
        srv.wait_workers(2)
        # Keep-alive connections until both workers hold some.
        by_pid = {}
        for _ in range(4):
            c = RawConn(srv.port)
            self.addCleanup(c.close)
            c.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            by_pid.setdefault(c.read_response().echo_fields()["pid"], []).append(c)
            if len(by_pid) == 2:
                break
        self.assertEqual(len(by_pid), 2, "connections never reached both workers")
        doomed, other = list(by_pid)
        by_pid[doomed][0].send(b"GET /boom?crash=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(by_pid[doomed][0].closed_by_peer(5))
        srv.wait_for_log(r"worker \d+ \(pid %s\) exited on signal 11 \(SIGSEGV\): it "
                         r"crashed \(the app or a plugin\) while serving "
                         r"\"GET /boom\?crash=1\", respawning" % doomed)
        for c in by_pid[other]:  # the same connections, still served
            c.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.echo_fields()["pid"]), (200, other))
        now = set(map(str, srv.wait_workers(2)))
        self.assertIn(other, now)
        self.assertNotIn(doomed, now)


if __name__ == "__main__":
    unittest.main()
