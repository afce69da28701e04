#!/usr/bin/env python3
"""Plugins built against the frozen ABI 1.3 header load and serve.

tests/compat/compat_app.c and compat_hooks.c are compiled against
tests/compat/abi-1.3/greenicorn.h (include/greenicorn.h as of commit
0250566) and nothing else: they stand for plugins built before the source
tree was reshaped. This module starts the current binary with them and
checks, call by call, what they were answered: request accessors, body
reads (sized, chunked with trailers, 100-continue), streamed responses,
the refusals of the response calls, sendfile, green threads and sockets,
config, logging, init and fini, and every hook they export with its
counts.

The fixtures come from $GN_COMPAT_PLUGINS (default build/tests/compat);
$GN_BUILD_ROOT (default build) holds the compile_commands.json that shows
what they were compiled against.
"""
import json
import os
import re
import shlex
import signal
import tempfile
import time
import unittest

import harness
from harness import RawConn, ServerTestCase, chunked, wait_until

COMPAT = (os.environ.get("GN_COMPAT_PLUGINS")
          or os.path.join(harness.REPO, "build", "tests", "compat"))
BUILD_ROOT = os.environ.get("GN_BUILD_ROOT") or os.path.join(harness.REPO, "build")
PINNED_DIR = os.path.join(harness.REPO, "tests", "compat", "abi-1.3")
PINNED = os.path.join(PINNED_DIR, "greenicorn.h")
APP = os.path.join(COMPAT, "compat_app.so")
HOOKS = os.path.join(COMPAT, "compat_hooks.so")
HOOK_NAMES = ["on_starting", "when_ready", "pre_fork", "post_fork",
              "post_worker_init", "pre_request", "post_request", "worker_exit",
              "child_exit", "nworkers_changed", "on_exit"]
MOUNT = "/compat"


def pinned_functions():
    """The functions the pinned header declares."""
    with open(PINNED) as f:
        return set(re.findall(r"^GN_API\b[^(]*?\b(gn_\w+)\s*\(", f.read(), re.M))


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return "%08x" % h


def fields(body):
    """The app's "key: value" lines before its first blank line; repeated
    keys ("header", "trailer", "arg") collected in lists."""
    head = body.split(b"\n\n", 1)[0].decode("latin-1")
    out = {}
    for line in head.splitlines():
        key, sep, value = line.partition(": ")
        assert sep, "not a key: value line: %r" % line
        if key in ("header", "trailer", "arg"):
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


def hook_lines(log, hook=None):
    """The compat hook's lines in LOG as dicts, in order."""
    out = []
    for m in re.finditer(r"compat-hook: (\w+) (.*)$", log, re.M):
        if hook is not None and m.group(1) != hook:
            continue
        d = {"hook": m.group(1)}
        for kv in m.group(2).split():
            k, _, v = kv.partition("=")
            d[k] = v
        out.append(d)
    return out


def compat_settings(workers, extra_args=None):
    args = {"greeting": "hello from 1.3", "answer": "42"}
    args.update(extra_args or {})
    return {
        "app": {"module": APP, "mount": MOUNT},
        "app.args": args,
        "hooks": {h: HOOKS for h in HOOK_NAMES},
        "workers": {"workers": workers},
    }


def request(srv, method, path, body=None, headers=None, version="1.1"):
    """One request on a fresh raw connection: the parsed response."""
    head = "%s %s%s HTTP/%s\r\nHost: compat\r\n" % (method, MOUNT, path, version)
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    if body is not None and "Transfer-Encoding" not in (headers or {}):
        head += "Content-Length: %d\r\n" % len(body)
    with RawConn(srv.port, timeout=20) as c:
        c.send(head.encode() + b"\r\n" + (body or b""))
        return c.read_response(method)


class FixtureBuildTest(unittest.TestCase):
    """The fixtures are what they claim: built from the pinned header."""

    def compile_command(self, source):
        path = os.path.join(BUILD_ROOT, "compile_commands.json")
        with open(path) as f:
            entries = json.load(f)
        want = os.path.join(harness.REPO, "tests", "compat", source)
        found = [e for e in entries
                 if os.path.realpath(os.path.join(e["directory"], e["file"]))
                 == os.path.realpath(want)]
        self.assertEqual(len(found), 1, "no single compile command for %s in %s"
                         % (source, path))
        e = found[0]
        args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
        return e["directory"], args

    def include_dirs(self, directory, args):
        dirs = []
        for i, a in enumerate(args):
            if a == "-I" or a == "-isystem" or a == "-iquote":
                dirs.append(args[i + 1])
            elif a.startswith("-I"):
                dirs.append(a[2:])
        return [os.path.realpath(os.path.join(directory, d)) for d in dirs]

    def test_plugins_see_only_the_pinned_header(self):
        for source in ("compat_app.c", "compat_hooks.c"):
            with self.subTest(source=source):
                directory, args = self.compile_command(source)
                dirs = self.include_dirs(directory, args)
                self.assertIn(os.path.realpath(PINNED_DIR), dirs, args)
                self.assertNotIn(os.path.realpath(os.path.join(harness.REPO, "include")),
                                 dirs, args)
                # Besides the pinned one, only dirs without a greenicorn
                # header (meson's private dir of the target).
                for d in dirs:
                    if d != os.path.realpath(PINNED_DIR):
                        self.assertFalse(os.path.exists(os.path.join(d, "greenicorn.h")), d)
                        self.assertFalse(os.path.exists(os.path.join(d, "greenicorn")), d)
                self.assertNotIn("-include", args)

    def test_the_app_takes_every_function_of_the_pinned_header(self):
        declared = pinned_functions()
        with open(os.path.join(harness.REPO, "tests", "compat", "compat_app.c")) as f:
            src = f.read()
        table = src.split("abi13_functions[] = {", 1)[1].split("};", 1)[0]
        self.assertEqual(set(re.findall(r"\(any_fn\)(gn_\w+)", table)), declared)
        self.assertGreater(len(declared), 50)


class CompatServeTest(ServerTestCase):
    """One worker running the 1.3 app, with the 1.3 hooks on every hook
    they export."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gn-compat-")
        cls.file = os.path.join(cls.tmp, "data.bin")
        cls.file_data = bytes(range(256)) * 64
        with open(cls.file, "wb") as f:
            f.write(cls.file_data)
        cls.addClassCleanup(lambda: (os.unlink(cls.file), os.rmdir(cls.tmp)))
        cls.srv = cls.start_class_server(
            app=None, workers=1, settings=compat_settings(1, {"file": cls.file}))
        cls.srv.wait_workers(1, timeout=20)
        # One request first: when the app cannot serve at all (its
        # descriptor read at the wrong offsets, say), every test of the
        # class fails here at once instead of each waiting for a worker.
        r = request(cls.srv, "GET", "/request")
        if r.status != 200:
            raise AssertionError("the ABI 1.3 app does not serve: %r\n%s"
                                 % (r, cls.srv.log()))

    def ok(self, resp):
        self.assertEqual(resp.status, 200, resp)
        return fields(resp.body)

    def test_request_accessors(self):
        r = request(self.srv, "GET", "/request?a=1&b=%20x",
                    headers={"X-Compat": "yes", "X-Two": "a", "x-two": "b"})
        f = self.ok(r)
        self.assertEqual(f["method"], "GET")
        self.assertEqual(f["target"], MOUNT + "/request?a=1&b=%20x")
        self.assertEqual(f["path"], MOUNT + "/request")
        self.assertEqual(f["script-name"], MOUNT)
        self.assertEqual(f["path-info"], "/request")
        self.assertEqual(f["query"], "a=1&b=%20x")
        self.assertEqual(f["version"], "1.1")
        self.assertEqual(f["content-length"], "-1")
        self.assertEqual(f["remote"], "127.0.0.1")
        self.assertEqual(f["remote-port-set"], "yes")
        self.assertEqual(f["server"], "127.0.0.1:%d" % self.srv.port)
        self.assertEqual(f["scheme"], "http")
        self.assertEqual(f["alloc"], "aligned")
        self.assertEqual(f["x-compat"], "yes")
        self.assertEqual(f["missing"], "(none)")
        self.assertEqual(f["header"], ["Host: compat", "X-Compat: yes",
                                       "X-Two: a", "x-two: b"])
        self.assertEqual(f["header-count"], "4")
        self.assertEqual(f["header-past-end"], "ERANGE")

    def test_http10_request(self):
        f = self.ok(request(self.srv, "GET", "/request", version="1.0"))
        self.assertEqual(f["version"], "1.0")

    def test_post_body_with_content_length(self):
        body = os.urandom(100000)
        r = request(self.srv, "POST", "/body", body=body)
        f = self.ok(r)
        self.assertEqual(f["content-length"], "100000")
        self.assertEqual(f["length"], "100000")
        self.assertGreaterEqual(int(f["reads"]), -(-100000 // 4093))
        self.assertEqual(f["fnv1a"], fnv1a(body))
        self.assertEqual(f["read-at-end"], "0")
        self.assertEqual(f["trailer-count"], "0")
        self.assertEqual(r.body.split(b"\n\n", 1)[1], body)

    def test_chunked_post_body_with_trailers(self):
        pieces = [b"hello ", b"from ", os.urandom(9000), b" the 1.3 ABI"]
        data = chunked(pieces)[:-2] + b"X-Checksum: abc\r\n\r\n"
        r = request(self.srv, "POST", "/body", body=data,
                    headers={"Transfer-Encoding": "chunked"})
        f = self.ok(r)
        body = b"".join(pieces)
        self.assertEqual(f["content-length"], "-1")
        self.assertEqual(f["length"], str(len(body)))
        self.assertEqual(f["fnv1a"], fnv1a(body))
        self.assertEqual(f["trailer-count"], "1")
        self.assertEqual(f["trailer"], ["X-Checksum: abc"])
        self.assertEqual(f["x-checksum"], "abc")
        self.assertEqual(r.body.split(b"\n\n", 1)[1], body)

    def test_expect_100_continue_answered_by_the_first_read(self):
        with RawConn(self.srv.port, timeout=20) as c:
            c.send(b"POST %s/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n" % MOUNT.encode())
            interim = c.read_response(allow_interim=True)
            self.assertEqual(interim.status, 100, interim)
            c.send(b"abcde")
            f = self.ok(c.read_response())
        self.assertEqual(f["length"], "5")
        self.assertEqual(f["fnv1a"], fnv1a(b"abcde"))

    def test_streamed_response_is_chunked(self):
        r = request(self.srv, "GET", "/stream?pieces=4&delay=0.05")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(r.header("X-Compat-Stream"), "yes")
        self.assertEqual(r.header("Content-Type"), "text/plain")
        want = [b"piece %d of 4\n" % i for i in range(1, 5)]
        self.assertEqual(b"".join(r.chunks), b"".join(want))
        # Each flush sends what was written so far: at least one chunk
        # per piece, none holding two.
        self.assertGreaterEqual(len(r.chunks), 4, r.chunks)
        for chunk in r.chunks:
            self.assertLessEqual(chunk.count(b"\n"), 1, r.chunks)

    def test_streamed_response_to_http10_ends_with_close(self):
        r = request(self.srv, "GET", "/stream?pieces=3", version="1.0")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Transfer-Encoding"))
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(r.body, b"piece 1 of 3\npiece 2 of 3\npiece 3 of 3\n")

    def test_status_reason_and_refusals(self):
        r = request(self.srv, "GET", "/status")
        self.assertEqual(r.status, 418, r)
        self.assertEqual(r.reason, "Short And Stout")
        self.assertEqual(r.header("X-Compat-Status"), "teapot")
        self.assertIsNone(r.header("X-Late"))
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        f = fields(r.body)
        self.assertEqual(f, {
            "status-set": "418", "bad-status": "EINVAL", "bad-reason": "EINVAL",
            "ok": "0", "content-length-header": "EPERM", "bad-name": "EINVAL",
            "custom-header": "0", "flush": "0", "late-status": "EALREADY",
            "late-header": "EALREADY", "client-gone": "0"})

    def test_green_threads_and_their_synchronisation(self):
        f = self.ok(request(self.srv, "GET", "/green"))
        self.assertEqual(f, {
            "yield": "0", "event-before-set": "0", "queued": "2",
            "id-sum": "3", "max-inside": "1", "kill": "0", "join": "0",
            "results": "41 42 ECANCELED", "event-after-clear": "0",
            "empty-get": "ETIMEDOUT"})

    def test_green_sockets_reach_the_server_itself(self):
        f = self.ok(request(self.srv, "GET", "/io"))
        self.assertEqual(f["wait-write"], "2")
        self.assertRegex(f["status-line"], r"^HTTP/1\.[01] 200 ")
        self.assertEqual(f["relayed-header"], "yes")

    def test_config_version_and_init_args(self):
        f = self.ok(request(self.srv, "GET", "/config"))
        out = harness.run_cli(["--version"])
        self.assertIn("greenicorn %s " % f["server-version"], out.stdout)
        self.assertEqual(f["built-abi"], "1.3")
        self.assertEqual(f["workers"], "1")
        self.assertEqual(f["unknown"], "ENOENT")
        self.assertEqual(f["too-small"], "ERANGE")
        self.assertEqual(f["arg"], ["greeting=hello from 1.3", "answer=42",
                                    "file=" + self.file])
        self.assertIn(int(f["init-pid"]), self.srv.worker_pids())

    def test_log_honours_the_level(self):
        word = "w%d" % time.monotonic_ns()
        f = self.ok(request(self.srv, "GET", "/log?msg=" + word))
        self.assertEqual(f["logged"], word)
        self.srv.wait_for_log(r"compat-app: warning %s$" % word, timeout=10)
        self.assertNotIn("compat-app: debug " + word, self.srv.log())

    def test_green_sleep(self):
        started = time.monotonic()
        f = self.ok(request(self.srv, "GET", "/sleep?s=0.3"))
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(f, {"sleep": "0", "bad-sleep": "EINVAL"})

    def test_sendfile(self):
        r = request(self.srv, "GET", "/sendfile?offset=100&count=5000")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), "5000")
        self.assertEqual(r.body, self.file_data[100:5100])

    def test_app_failure_is_500(self):
        self.assertEqual(request(self.srv, "GET", "/fail").status, 500)

    def test_request_hooks_count_each_request(self):
        # post_request runs after the answer went out: wait for the
        # earlier tests' requests to have theirs before counting.
        def settled():
            log = self.srv.log()
            pre = len(hook_lines(log, "pre_request"))
            return (pre,) if pre == len(hook_lines(log, "post_request")) else None
        (before,) = wait_until(settled, 10, what="post_request of earlier requests")
        paths = ["/request", "/status", "/fail", "/request"]
        statuses = [200, 418, 500, 200]
        for path, status in zip(paths, statuses):
            self.assertEqual(request(self.srv, "GET", path).status, status)
        wait_until(lambda: len(hook_lines(self.srv.log(), "post_request"))
                   >= before + len(paths), 10, what="post_request lines")
        log = self.srv.log()
        pre = hook_lines(log, "pre_request")
        post = hook_lines(log, "post_request")[before:]
        (worker,) = self.srv.worker_pids()
        self.assertEqual([p["request"] for p in post],
                         ["GET:" + MOUNT + p for p in paths])
        self.assertEqual([p["http_status"] for p in post], [str(s) for s in statuses])
        # n counts the calls in the worker; every request was seen by
        # pre_request first.
        self.assertEqual([int(p["n"]) for p in post],
                         list(range(before + 1, before + 1 + len(paths))))
        self.assertEqual(len(pre), before + len(paths))
        self.assertEqual([p["request"] for p in pre[before:]],
                         ["GET:" + MOUNT + p for p in paths])
        for line in post + pre:
            self.assertEqual(line["pid"], str(worker))
            self.assertEqual(line["worker_pid"], str(worker))
            self.assertEqual(line["worker_id"], "1")

    def test_failing_pre_request_hook_answers_500_without_the_app(self):
        # The app answers 404 to a path it does not know: a 500 here is
        # the hook's -EACCES.
        self.assertEqual(request(self.srv, "GET", "/nothing").status, 404)
        r = request(self.srv, "GET", "/deny")
        self.assertEqual(r.status, 500, r)
        self.srv.wait_for_log(r"compat-hook: post_request .*request=GET:%s/deny "
                              r"http_status=500" % MOUNT, timeout=10)


class CompatLifecycleTest(ServerTestCase):
    """Two workers, one of them replaced: the 1.3 hooks at start, on the
    replacement and at stop, and the app's init and fini in each."""

    def one(self, log, hook, **want):
        lines = [d for d in hook_lines(log, hook)
                 if all(d.get(k) == v for k, v in want.items())]
        self.assertEqual(len(lines), 1, "%s %s in\n%s" % (hook, want, log))
        return lines[0]

    def check_worker_start(self, log, arbiter, pid, worker_id, worker_age):
        """post_fork, the app's init and post_worker_init, in that order,
        each once in worker PID, which has slot WORKER_ID and age
        WORKER_AGE."""
        post_fork = self.one(log, "post_fork", pid=pid)
        self.assertEqual(post_fork, {
            "hook": "post_fork", "n": "1", "pid": pid, "arbiter": arbiter,
            "workers": "2", "worker_id": worker_id, "worker_age": worker_age,
            "worker_pid": pid})
        self.one(log, "post_worker_init", pid=pid, n="1", worker_id=worker_id,
                 worker_age=worker_age)
        order = [m.group(1) for m in re.finditer(
            r"compat-(hook: post_fork|app: init|hook: post_worker_init)"
            r"(?: n=1)? pid=%s " % pid, log)]
        self.assertEqual(order, ["hook: post_fork", "app: init",
                                 "hook: post_worker_init"], log)

    def test_start_replace_and_stop(self):
        srv = self.start_server(app=None, workers=2, settings=compat_settings(2))
        first = sorted(srv.wait_workers(2, timeout=20))
        for w in first:
            srv.wait_for_log(r"compat-hook: post_worker_init n=1 pid=%d " % w, timeout=10)
        for path in ("/request", "/green", "/request"):
            self.assertEqual(request(srv, "GET", path).status, 200)
        # Replace the worker in slot 1: its successor keeps the slot but
        # gets a new age, so the two fields differ in its hooks.
        slot1 = int(self.one(srv.log(), "post_fork", worker_id="1")["pid"])
        os.kill(slot1, signal.SIGTERM)
        wait_until(lambda: slot1 not in srv.worker_pids()
                   and len(srv.worker_pids()) == 2, 20, what="a replacement worker")
        (third,) = set(srv.worker_pids()) - set(first)
        srv.wait_for_log(r"compat-hook: post_worker_init n=1 pid=%d " % third, timeout=10)
        self.assertEqual(srv.stop(), 0)
        log = srv.log()
        arbiter = str(srv.pid)

        self.assertEqual(self.one(log, "on_starting", pid=arbiter)["config_workers"], "2")
        self.one(log, "when_ready", pid=arbiter, n="1")
        self.one(log, "nworkers_changed", pid=arbiter, n="1", old_workers="0",
                 workers="2")
        forks = [(d["pid"], d["n"], d["worker_id"], d["worker_age"], d["worker_pid"])
                 for d in hook_lines(log, "pre_fork")]
        ages = sorted(f[3] for f in forks)
        self.assertEqual(len(set(ages)), 3, forks)
        self.assertEqual(sorted(forks, key=lambda f: f[1]), [
            (arbiter, "1", forks[0][2], forks[0][3], "0"),
            (arbiter, "2", forks[1][2], forks[1][3], "0"),
            (arbiter, "3", "1", ages[2], "0")])
        self.assertEqual(sorted(f[2] for f in forks), ["1", "1", "2"])
        by_pid = {d["pid"]: d for d in hook_lines(log, "post_fork")}
        for pid in map(str, first + [third]):
            self.check_worker_start(log, arbiter, pid, by_pid[pid]["worker_id"],
                                    by_pid[pid]["worker_age"])
        self.assertEqual((by_pid[str(third)]["worker_id"], by_pid[str(third)]["worker_age"]),
                         ("1", ages[2]))
        self.assertNotEqual(ages[2], "1")
        for pid in map(str, first + [third]):
            self.assertEqual(self.one(log, "worker_exit", pid=pid)["status"], "0")
        inits = re.findall(r"compat-app: init pid=(\d+) nargs=(\d+) functions=(\d+)", log)
        self.assertEqual(sorted(int(p) for p, _, _ in inits), sorted(first + [third]))
        self.assertEqual({(n, f) for _, n, f in inits}, {("2", str(len(pinned_functions())))})
        finis = re.findall(r"compat-app: fini pid=(\d+) after (\d+) requests", log)
        self.assertEqual(sorted(int(p) for p, _ in finis), sorted(first + [third]))
        self.assertEqual(sum(int(n) for _, n in finis), 3)
        self.assertEqual(len(hook_lines(log, "pre_request")), 3)
        self.assertEqual(len(hook_lines(log, "post_request")), 3)
        exits = hook_lines(log, "child_exit")
        self.assertEqual(sorted(int(d["worker_pid"]) for d in exits), sorted(first + [third]))
        for d in exits:
            self.assertEqual((d["pid"], d["status"]), (arbiter, "0"), d)
            self.assertEqual(d["worker_id"], by_pid[d["worker_pid"]]["worker_id"], d)
            self.assertEqual(d["worker_age"], by_pid[d["worker_pid"]]["worker_age"], d)
        self.one(log, "on_exit", pid=arbiter, n="1")
        self.assertGreater(log.index("compat-hook: on_exit "),
                           log.rindex("compat-hook: child_exit "))


if __name__ == "__main__":
    unittest.main()
