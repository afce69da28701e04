#!/usr/bin/env python3
"""Issue #16's scale-out: three hosts (network namespaces on a bridge,
contrib/deploy/fleet/fleet.py) each running greenicorn with 2 workers, one
Redis for the chat, HAProxy in front with a health check. Under wrk's
load through HAProxy:

1. a binary upgrade rolls through the hosts one at a time (a new binary
   file, USR2, the new arbiter's workers booted, TERM to the old one);
2. every host reloads its config (HUP, all at once);
3. one host's process group is SIGKILLed: HAProxy's check takes it out,
   the host is started again and HAProxy puts it back.

No request fails through 1 and 2; through 3, no more than were in flight
on the killed host (HAProxy's scur for it, read just before the kill),
and none from the moment HAProxy marks it down. Then the chat runs across
the hosts: a WebSocket pinned to each host through HAProxy, a message
sent on one reaches all. Each wrk phase and HAProxy's counters are
printed as `[figure]` lines.

Runs as root (namespaces); the fleet's names start with gnt<pid of this
test>: a leftover of a test that died is removed at the start, and
everything this one made is removed at the end, also when it fails."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import GREENICORN, APPS, free_port
from wsclient import OP_TEXT, WsClient, frame

sys.path.insert(0, os.path.join(harness.REPO, "contrib", "deploy", "fleet"))
import fleet  # noqa: E402  (contrib/deploy/fleet/fleet.py)

WAIT = 60          # seconds for anything to happen on a loaded machine
TOOLS = ("ip", "haproxy", "redis-server", "wrk")
PREFIX = "gnt"     # + the pid of the test process that made the fleet
LOAD = "/load/?sleep=0.005"   # echo after 5 ms: requests are in flight


def figure(text):
    sys.stderr.write("[figure] %s\n" % text)
    sys.stderr.flush()


def remove_leftovers():
    """Fleets of earlier runs whose test process is gone: their
    namespaces, processes and work dirs."""
    names = set()
    for ns in fleet.netns_list():
        m = re.match(r"^(%s(\d+))-" % PREFIX, ns)
        if m:
            names.add((m.group(1), int(m.group(2))))
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        m = re.match(r"^(%s(\d+))-" % PREFIX, d)
        if m:
            names.add((m.group(1), int(m.group(2))))
    for name, pid in names:
        if pid == os.getpid() or owner_alive(pid):
            continue
        for d in os.listdir(tmp):
            if d.startswith(name + "-"):
                fleet.cleanup(name, os.path.join(tmp, d))
        fleet.cleanup(name)


def owner_alive(pid):
    """Whether PID is a test_fleet.py that is still running."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"test_fleet" in f.read()
    except OSError:
        return False


def netns_usable():
    """None if this process can make a network namespace, else why not."""
    probe = "%s%d-probe" % (PREFIX, os.getpid())
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        return "cannot make a network namespace: %s" % r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    return None


def why_skip():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "needs %s (scripts/install-deps --test)" % ", ".join(missing)
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    return netns_usable()


class Wrk:
    """wrk through HAProxy from now until stop() (SIGINT: wrk prints what
    it did so far)."""

    def __init__(self, url):
        self.proc = subprocess.Popen(
            harness.PDEATHSIG + ["wrk", "-t", "2", "-c", "24", "-d", "300s", "--timeout", "10s", url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.started = time.monotonic()

    def stop(self):
        """{requests, failed, seconds, out}: failed counts non-2xx/3xx
        answers and every socket error (connect, read, write, timeout)."""
        # wrk's SIGINT handler only sets a flag; its main thread notices
        # when its sleep is interrupted. A signal that lands on one of its
        # other threads stops those but leaves main asleep (till -d): the
        # next one, with main the only thread left, ends it.
        out = None
        for _ in range(10):
            self.proc.send_signal(signal.SIGINT)
            try:
                out, _ = self.proc.communicate(timeout=3)
                break
            except subprocess.TimeoutExpired:
                pass
        assert out is not None, "wrk still running 30 s after SIGINT"
        assert self.proc.returncode == 0, out
        done = re.search(r"(\d+) requests in", out)
        assert done, out
        failed = 0
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), "
                           r"write (\d+), timeout (\d+)", out)
        if errors:
            failed += sum(int(x) for x in errors.groups())
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            failed += int(non2xx.group(1))
        return {"requests": int(done.group(1)), "failed": failed,
                "seconds": time.monotonic() - self.started, "out": out}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def counters(fl):
    """HAProxy's counters per host: requests served, retries,
    redispatches, connection and response errors."""
    return {h: {k: int(row[k] or 0) for k in ("stot", "wretr", "wredis", "econ", "eresp")}
            for h, row in fl.stats().items()}


def delta(after, before):
    return {h: {k: after[h][k] - before[h][k] for k in after[h]} for h in after}


class FleetTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        reason = why_skip()
        if reason:
            raise unittest.SkipTest(reason)
        remove_leftovers()

    def start_fleet(self):
        name = "%s%d" % (PREFIX, os.getpid())
        workdir = tempfile.mkdtemp(prefix=name + "-")
        fl = fleet.Fleet(name, workdir, GREENICORN, APPS, port=free_port(), pdeathsig=True)
        self.addCleanup(self.assert_cleaned, fl)
        self.addCleanup(fl.down)
        try:
            fl.up(timeout=WAIT)
        except BaseException:
            self.dump_logs(fl)
            raise
        return fl

    def dump_logs(self, fl):
        """The fleet's logs on stderr (they go with its directory)."""
        for path in ["haproxy.log", "redis.log"] + ["%s/error.log" % h for h in fleet.HOSTS]:
            try:
                with open(os.path.join(fl.workdir, path), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            sys.stderr.write("---- %s ----\n%s\n" % (path, text[-6000:]))

    def assert_cleaned(self, fl):
        """Nothing of the fleet is left: namespaces, processes, files."""
        self.assertEqual([ns for ns in fleet.netns_list() if ns.startswith(fl.name + "-")], [])
        self.assertEqual(fleet.marked_processes(fl.workdir + "/"), [])
        self.assertFalse(os.path.exists(fl.workdir))

    def load(self, fl):
        w = Wrk(fl.url + LOAD)
        self.addCleanup(w.kill)
        return w

    def served_by(self, fl, n):
        """The X-Served-By of N GETs through HAProxy."""
        out = []
        for _ in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", fl.port, timeout=10)
            try:
                conn.request("GET", "/load/")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                out.append(r.getheader("X-Served-By"))
            finally:
                conn.close()
        return out

    def phase(self, name, result, before, after):
        d = delta(after, before)
        figure("%s: %d requests in %.1f s, %d failed; per host served %s, "
               "HAProxy retries %d, redispatches %d, conn errors %d, resp errors %d"
               % (name, result["requests"], result["seconds"], result["failed"],
                  {h: d[h]["stot"] for h in d},
                  sum(d[h]["wretr"] for h in d), sum(d[h]["wredis"] for h in d),
                  sum(d[h]["econ"] for h in d), sum(d[h]["eresp"] for h in d)))
        return d

    def test_upgrade_reload_and_kill_under_wrk_then_chat(self):
        t0 = time.monotonic()
        fl = self.start_fleet()
        try:
            self.upgrade_reload_kill_chat(fl, t0)
        except BaseException:
            self.dump_logs(fl)
            raise

    def upgrade_reload_kill_chat(self, fl, t0):
        figure("fleet up in %.1f s: hosts %s on %s, HAProxy on %s"
               % (time.monotonic() - t0, [fl.addr(h) for h in fleet.HOSTS], fl.subnet,
                  fl.url))
        self.assertEqual(sorted(set(self.served_by(fl, 6))), list(fleet.HOSTS))
        self.assertEqual(fl.subscribers(), 3 * fleet.WORKERS)

        # 1. The rolling upgrade: a new binary file where the hosts run
        # greenicorn from, then USR2 + TERM host by host.
        c0 = counters(fl)
        w = self.load(fl)
        time.sleep(1)
        fl.install_binary(GREENICORN)
        for h in fleet.HOSTS:
            old, new = fl.upgrade(h, timeout=WAIT)
            self.assertNotEqual(old, new)
            # The new arbiter runs the new file; the old ran the replaced one.
            self.assertEqual(os.readlink("/proc/%d/exe" % new), fl.binary)
            time.sleep(0.5)
        w_next = self.load(fl)
        up = w.stop()
        c1 = counters(fl)
        d = self.phase("rolling upgrade (USR2, TERM; 3 hosts)", up, c0, c1)
        self.assertEqual(up["failed"], 0, up["out"])
        self.assertGreater(up["requests"], 100, up["out"])
        for h in fleet.HOSTS:
            self.assertGreater(d[h]["stot"], 0, d)

        # 2. HUP on every host at once.
        w = w_next
        time.sleep(0.5)
        generations = fl.reload(timeout=WAIT)
        for h, (old, new) in generations.items():
            self.assertFalse(set(old) & set(new), generations)
        time.sleep(0.5)
        w_next = self.load(fl)
        hup = w.stop()
        c2 = counters(fl)
        d = self.phase("reload (HUP, 3 hosts at once)", hup, c1, c2)
        self.assertEqual(hup["failed"], 0, hup["out"])
        self.assertGreater(hup["requests"], 100, hup["out"])
        for h in fleet.HOSTS:
            self.assertGreater(d[h]["stot"], 0, d)

        # 3. SIGKILL h2's process group; HAProxy's check takes it out.
        w = w_next
        time.sleep(1)
        self.assertEqual([fl.state(h) for h in fleet.HOSTS], ["UP"] * 3)
        in_flight = int(fl.stats()["h2"]["scur"])
        killed = fl.kill("h2")
        t_kill = time.monotonic()
        fl.wait_state("h2", "DOWN", WAIT)
        t_down = time.monotonic()
        w_next = self.load(fl)
        kill = w.stop()
        c3 = counters(fl)
        self.phase("SIGKILL of h2 (%d processes) until HAProxy marks it DOWN "
                   "(%.2f s later)" % (len(killed), t_down - t_kill), kill, c2, c3)
        figure("requests in flight on h2 at the kill (HAProxy scur): %d; failed: %d"
               % (in_flight, kill["failed"]))
        self.assertLessEqual(kill["failed"], in_flight, kill["out"])

        # ... and it comes back.
        w = w_next
        time.sleep(0.5)
        fl.start_host("h2", timeout=WAIT)
        fl.wait_state("h2", "UP", WAIT)
        t_up = time.monotonic()
        before_back = counters(fl)["h2"]["stot"]
        time.sleep(1)
        back = w.stop()
        c4 = counters(fl)
        d = self.phase("h2 DOWN, restarted, UP again (%.2f s after DOWN), then 1 s"
                       % (t_up - t_down), back, c3, c4)
        self.assertEqual(back["failed"], 0, back["out"])
        self.assertGreater(c4["h2"]["stot"], before_back, "h2 serves again")
        # HAProxy took out h2 once, for the kill, and no other host ever.
        with open(os.path.join(fl.workdir, "haproxy.log")) as f:
            changes = re.findall(r"Server hosts/(h\d) is (UP|DOWN)", f.read())
        self.assertEqual(changes, [("h2", "DOWN"), ("h2", "UP")])
        total = sum(p["requests"] for p in (up, hup, kill, back))
        figure("total: %d requests through HAProxy, %d failed"
               % (total, sum(p["failed"] for p in (up, hup, kill, back))))

        # The chat across the hosts: one WebSocket pinned to each host
        # through HAProxy, a message from each reaches all three.
        wait = time.monotonic() + WAIT
        while fl.subscribers() != 3 * fleet.WORKERS and time.monotonic() < wait:
            time.sleep(0.05)
        self.assertEqual(fl.subscribers(), 3 * fleet.WORKERS)
        clients = {}
        try:
            for h in fleet.HOSTS:
                c = WsClient(fl.port, "/ws", headers={"X-Fleet-Host": h}, timeout=WAIT)
                clients[h] = c
                self.assertEqual(c.headers.get("x-served-by"), h, c.headers)
            time.sleep(0.5)   # each joined its worker's room
            for h, c in clients.items():
                c.send(frame(OP_TEXT, ("hello from %s" % h).encode()))
            want = sorted("hello from %s" % h for h in fleet.HOSTS)
            for h, c in clients.items():
                got = []
                while len(got) < len(want):
                    op, data = c.recv_message()
                    text = data.decode()
                    if op == OP_TEXT and not re.match(r"^\[chat: .*\]$", text):
                        got.append(text)
                self.assertEqual(sorted(got), want, h)
        finally:
            for c in clients.values():
                c.close()
        figure("chat: 3 WebSockets through HAProxy, one per host, each got all 3 "
               "messages over one Redis")
        for h in fleet.HOSTS:
            text = fl.log(h)
            for mark in harness.Server.SANITIZER_MARKS:
                self.assertNotIn(mark, text, "%s's log:\n%s" % (h, text))


if __name__ == "__main__":
    unittest.main()
