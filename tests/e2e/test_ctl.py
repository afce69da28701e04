#!/usr/bin/env python3
"""The control socket and `greenicorn ctl` (issue #17): every command
through the real client against a real server, its effects checked (more
workers alive, a new generation, a log reopened after a rename, a new
arbiter answering on the same socket), the socket's mode and owner checks,
and garbage, oversized and silent clients answered without harm."""
import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import GREENICORN, ServerTestCase, app_path, pid_alive, wait_until


def read(path):
    with open(path) as f:
        return f.read()


def other_uid_runner():
    """A command prefix that runs a program as `nobody`, or None when no
    other uid is usable (not root, or no nobody/setpriv)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
            "--clear-groups", "--"], pw.pw_uid


class CtlTest(ServerTestCase):

    def setUp(self):
        # Its own directory, searchable by others, so that the socket's own
        # mode and the peer check are what refuse another user.
        self.dir = tempfile.mkdtemp(prefix="gn-ctl-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "ctl.sock")

    def start(self, workers=2, app="echo", process=None, logging=None):
        settings = {"process": {"control_socket": self.sock}}
        settings["process"].update(process or {})
        if logging:
            settings["logging"] = logging
        return self.start_server(app=app, workers=workers, settings=settings)

    def ctl(self, *args, sock=None, prefix=(), timeout=30):
        """Run `greenicorn ctl -s SOCK ARGS`: (status, stdout, stderr)."""
        p = subprocess.run(list(prefix) + [GREENICORN, "ctl", "-s", sock or self.sock]
                           + list(args), capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ctl_json(self, *args, **kw):
        """The data of a successful command's --json answer."""
        rc, out, err = self.ctl(*args, "--json", **kw)
        self.assertEqual(rc, 0, "ctl %s failed: %s" % (" ".join(args), err))
        doc = json.loads(out)
        self.assertIs(doc["ok"], True)
        return doc["data"]

    def raw(self, data, timeout=10):
        """Send DATA on a fresh connection; the JSON line answered."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            try:
                s.sendall(data)
                if not data.endswith(b"\n"):
                    s.shutdown(socket.SHUT_WR)   # the end of the command
            except (BrokenPipeError, ConnectionResetError):
                pass   # refused mid-way: the answer is in our queue
            got = b""
            while not got.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        return json.loads(got)

    # -- the socket --------------------------------------------------------

    def test_socket_is_0600_despite_umask_and_removed_at_exit(self):
        old = os.umask(0)   # the server inherits it: no window with 0777
        try:
            srv = self.start(workers=1)
        finally:
            os.umask(old)
        st = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(os.listdir(self.dir), ["ctl.sock"])   # no temp left
        srv.wait_for_log(r"control socket at %s" % re.escape(self.sock))
        srv.stop()
        self.assertEqual(srv.returncode, 0)
        self.assertFalse(os.path.exists(self.sock))

    def test_a_stale_socket_is_replaced_and_a_regular_file_refused(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sock)
        stale.close()   # a file nobody listens on
        rc, _, err = self.ctl("status")
        self.assertEqual(rc, 1)
        self.assertIn("connection refused", err)
        srv = self.start(workers=1)
        self.assertEqual(self.ctl_json("status")["pid"], srv.pid)
        srv.stop()
        with open(self.sock, "w") as f:
            f.write("not a socket")
        rc, _, err = harness.run_until_exit(
            ["-b", "127.0.0.1:%d" % harness.free_port(),
             "--control-socket", self.sock, harness.app_path("hello")])
        self.assertEqual(rc, 1)
        self.assertIn("control_socket: %s exists and is not a socket" % self.sock, err)
        with open(self.sock) as f:
            self.assertEqual(f.read(), "not a socket")

    def test_client_errors_exit_nonzero_with_a_message(self):
        rc, _, err = self.ctl("status", sock=os.path.join(self.dir, "none.sock"))
        self.assertEqual(rc, 1)
        self.assertIn("no such socket", err)
        p = subprocess.run([GREENICORN, "ctl", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: greenicorn ctl -s SOCKET COMMAND [ARGS] [--json]", p.stdout)
        for cmd in ("status", "workers", "stats", "reload", "upgrade", "add [N]",
                    "remove [N]", "reopen-logs", "dump"):
            self.assertRegex(p.stdout, r"(?m)^  %s  " % re.escape(cmd))
        p = subprocess.run([GREENICORN, "--help"], capture_output=True, text=True)
        self.assertIn("greenicorn ctl -s SOCKET COMMAND", p.stdout)
        p = subprocess.run([GREENICORN, "ctl", "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no control socket: give -s SOCKET", p.stderr)
        p = subprocess.run([GREENICORN, "ctl", "-s", self.sock], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no command", p.stderr)
        srv = self.start(workers=1)
        rc, out, err = self.ctl("frobnicate")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("unknown command 'frobnicate'", err)
        rc, out, err = self.ctl("frobnicate", "--json")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["ok"], False)
        for bad in (["add", "0"], ["add", "x"], ["remove", "2000"], ["status", "x"]):
            rc, _, err = self.ctl(*bad)
            self.assertEqual(rc, 1, bad)
            self.assertTrue(err.startswith("greenicorn ctl: "), err)
        self.assertEqual(self.ctl_json("status")["workers"]["wanted"], 1)
        self.assertEqual(srv.get("/")[0], 200)

    # -- the read-only commands ------------------------------------------

    def test_status_workers_and_stats(self):
        srv = self.start(workers=2)
        pids = srv.wait_workers(2)
        for i in range(10):
            self.assertEqual(srv.get("/n%d" % i)[0], 200)
        st = self.ctl_json("status")
        version = subprocess.run([GREENICORN, "--version"], capture_output=True,
                                 text=True).stdout.split()[1]
        self.assertEqual(st["pid"], srv.pid)
        self.assertEqual(st["version"], version)
        self.assertEqual(st["workers"], {"wanted": 2, "alive": 2, "booted": 2})
        self.assertEqual(st["generation"], 0)
        self.assertEqual(st["listeners"], ["127.0.0.1:%d" % srv.port])
        self.assertGreater(st["uptime"], 0)
        rc, out, _ = self.ctl("status")
        self.assertEqual(rc, 0)
        self.assertIn("pid %d, greenicorn %s" % (srv.pid, version), out)
        self.assertIn("2 wanted, 2 alive, 2 booted", out)
        self.assertIn("127.0.0.1:%d" % srv.port, out)

        # RSS is sampled on the workers' tick (1 s).
        def sampled():
            ws = self.ctl_json("workers")["workers"]
            return ws if all(w["rss_kb"] > 0 for w in ws) else None
        ws = wait_until(sampled, 5, what="the workers' RSS sampled")
        self.assertEqual(sorted(w["pid"] for w in ws), sorted(pids))
        self.assertEqual(sorted(w["id"] for w in ws), [1, 2])
        self.assertEqual({w["state"] for w in ws}, {"ready"})
        self.assertEqual(sum(w["requests"] for w in ws), 10)
        self.assertTrue(all(w["age"] > 0 and w["connections"] >= 0 for w in ws))
        rc, out, _ = self.ctl("workers")
        self.assertEqual(rc, 0)
        self.assertRegex(out.splitlines()[0], r"ID\s+PID\s+AGE\s+REQUESTS\s+CONNS\s+RSS")
        for w in ws:
            self.assertRegex(out, r"(?m)^\s+%d\s+%d\s+\S+\s+\d+\s+\d+\s+\d+\s+ready$"
                             % (w["id"], w["pid"]))
        stats = self.ctl_json("stats")
        self.assertEqual(stats["requests"], 10)
        self.assertGreaterEqual(stats["accepted"], 10)
        self.assertEqual(stats["workers_forked"], 2)
        self.assertGreater(stats["rss_kb"], 0)
        # A worker that ends keeps counting in the totals.
        os.kill(pids[0], signal.SIGTERM)
        wait_until(lambda: pids[0] not in srv.worker_pids() and len(srv.worker_pids()) == 2,
                   10, what="the worker replaced")
        stats = self.ctl_json("stats")
        self.assertEqual((stats["requests"], stats["workers_exited"]), (10, 1))
        rc, out, _ = self.ctl("stats")
        self.assertRegex(out, r"(?m)^requests\s+10$")
        help_ = self.ctl_json("help")["commands"]
        for cmd in ("status", "workers", "stats", "reload", "upgrade", "add [N]",
                    "remove [N]", "reopen-logs", "dump"):
            self.assertIn(cmd, help_)

    # -- the commands with a signal's effect -------------------------------

    def test_add_and_remove_workers(self):
        srv = self.start(workers=2)
        srv.wait_workers(2)
        self.assertEqual(self.ctl_json("add", "2"), {"previous": 2, "workers": 4})
        srv.wait_workers(4, timeout=10)
        wait_until(lambda: self.ctl_json("status")["workers"]["booted"] == 4, 10,
                   what="4 workers booted")
        rc, out, _ = self.ctl("add")
        self.assertEqual((rc, out), (0, "workers: 4 -> 5\n"))
        srv.wait_workers(5, timeout=10)
        # As TTOU: never below one worker.
        self.assertEqual(self.ctl_json("remove", "10"), {"previous": 5, "workers": 1})
        srv.wait_workers(1, timeout=15)
        self.assertEqual(self.ctl_json("status")["workers"]["wanted"], 1)
        self.assertEqual(srv.get("/")[0], 200)

    def test_reload_starts_a_new_generation_on_the_same_socket(self):
        srv = self.start(workers=2)
        old = set(srv.wait_workers(2))
        ino = os.stat(self.sock).st_ino
        self.assertEqual(self.ctl_json("reload"), {"generation": 1})
        srv.wait_for_log(r"control_socket: as SIGHUP")
        srv.wait_for_log(r"reload: 2 new worker\(s\) up, stopping 2 old one\(s\)", 15)
        wait_until(lambda: set(srv.worker_pids()).isdisjoint(old)
                   and len(srv.worker_pids()) == 2, 15, what="the old generation gone")
        st = self.ctl_json("status")
        self.assertEqual((st["generation"], st["workers"]["booted"]), (1, 2))
        self.assertEqual(os.stat(self.sock).st_ino, ino)   # kept across HUP
        rc, out, _ = self.ctl("reload")
        self.assertEqual((rc, out), (0, "reloading: generation 2 starting\n"))
        # A broken config: the reload is refused, the old one stays.
        with open(srv.config_path, "a") as f:
            f.write("\n[workers]\nworkers = nope\n")
        rc, _, err = self.ctl("reload")
        self.assertEqual(rc, 1)
        self.assertIn("reload failed", err)
        self.assertEqual(self.ctl_json("status")["generation"], 2)
        self.assertEqual(srv.get("/")[0], 200)

    def test_reload_moves_the_socket_when_its_path_changes(self):
        srv = self.start(workers=1)
        moved = os.path.join(self.dir, "moved.sock")
        srv.settings["process"]["control_socket"] = moved
        with open(srv.config_path, "w") as f:
            f.write(harness.render_config(srv.config_sections()))
        self.assertEqual(self.ctl_json("reload"), {"generation": 1})
        wait_until(lambda: os.path.exists(moved) and not os.path.exists(self.sock),
                   5, what="the socket moved")
        self.assertEqual(stat.S_IMODE(os.stat(moved).st_mode), 0o600)
        self.assertEqual(self.ctl_json("status", sock=moved)["generation"], 1)
        srv.stop()
        self.assertFalse(os.path.exists(moved))

    def test_reopen_logs_after_a_rename(self):
        logdir = os.path.join(self.dir, "logs")
        os.mkdir(logdir)
        access = os.path.join(logdir, "access.log")
        srv = self.start(workers=1, logging={"accesslog": access})
        srv.wait_workers(1)
        self.assertEqual(srv.get("/before")[0], 200)
        wait_until(lambda: os.path.exists(access) and "/before" in read(access),
                   5, what="the access line")
        os.rename(access, access + ".1")
        self.assertEqual(self.ctl_json("reopen-logs"), {"reopened": True})
        srv.wait_for_log(r"SIGUSR1: reopening the log files")
        # The worker reopens on its own USR1: wait for the new file.
        wait_until(lambda: os.path.exists(access), 5, what="access.log reopened")
        self.assertEqual(srv.get("/after")[0], 200)
        wait_until(lambda: "/after" in read(access), 5, what="/after logged anew")
        with open(access + ".1") as f:
            rotated = f.read()
        self.assertIn("/before", rotated)
        self.assertNotIn("/after", rotated)
        rc, out, _ = self.ctl("reopen-logs")
        self.assertEqual((rc, out), (0, "log files reopened\n"))

    def test_upgrade_hands_the_socket_to_the_new_arbiter(self):
        srv = self.start(workers=1)
        srv.wait_workers(1)
        old = srv.pid
        data = self.ctl_json("upgrade")
        new = data["new_pid"]
        self.assertEqual(data["old_pid"], old)
        self.addCleanup(lambda: pid_alive(new) and os.kill(new, signal.SIGKILL))
        # The new arbiter renames its socket over the path: from then on it
        # answers there, with no moment where the path names nothing.
        wait_until(lambda: self.ctl_json("status")["pid"] == new, 15,
                   what="the new arbiter answering on the socket")
        data = self.ctl_json("upgrade")   # the new one upgrades in turn
        self.assertEqual(data["old_pid"], new)
        newer = data["new_pid"]
        self.addCleanup(lambda: pid_alive(newer) and os.kill(newer, signal.SIGKILL))
        wait_until(lambda: self.ctl_json("status")["pid"] == newer, 15,
                   what="the newest arbiter answering")
        # TERM to the older ones: the socket stays the newest's.
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait_exit(15), 0)
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new), 15, what="the middle arbiter gone")
        self.assertEqual(self.ctl_json("status")["pid"], newer)
        self.assertEqual(srv.get("/")[0], 200)
        os.kill(newer, signal.SIGTERM)
        wait_until(lambda: not pid_alive(newer), 15, what="the newest arbiter gone")
        wait_until(lambda: not os.path.exists(self.sock), 5, what="the socket removed")

    def test_a_failed_upgrade_takes_the_socket_back(self):
        srv = self.start(workers=1)
        srv.wait_workers(1)
        # The new arbiter takes the socket over, then exits: its worker
        # cannot boot (the app's init fails, as the config now asks).
        with open(srv.config_path, "a") as f:
            f.write("\n[app.args]\nfail_init = on purpose\n")
        data = self.ctl_json("upgrade")
        new = data["new_pid"]
        self.addCleanup(lambda: pid_alive(new) and os.kill(new, signal.SIGKILL))
        srv.wait_for_log(r"\[%d\] \[INFO\] control socket at" % new, 15)
        srv.wait_for_log(r"the new arbiter \(pid %d\) exited \(status 3\)" % new, 15)
        st = wait_until(lambda: self.ctl_json("status"), 5, what="the socket back")
        self.assertEqual((st["pid"], st["new_arbiter"]), (srv.pid, 0))
        self.assertEqual(srv.get("/")[0], 200)

    # -- dump --------------------------------------------------------------

    def test_dump_lists_every_worker_and_names_a_silent_one(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        srv = self.start(workers=2, process={"worker_tmp_dir": tmp})
        pids = srv.wait_workers(2)
        wait_until(lambda: self.ctl_json("status")["workers"]["booted"] == 2, 10,
                   what="2 workers booted")
        for i in range(3):
            self.assertEqual(srv.get("/d%d" % i)[0], 200)
        ws = self.ctl_json("dump")["workers"]
        self.assertEqual([w["id"] for w in ws], [1, 2])
        self.assertEqual(sorted(w["pid"] for w in ws), sorted(pids))
        for w in ws:
            self.assertIs(w["answered"], True, w)
            self.assertIn("pid %d" % w["pid"], w["listing"])
        rc, out, _ = self.ctl("dump")
        self.assertEqual(rc, 0)
        for w in ws:
            self.assertIn("== worker %d (pid %d)\n" % (w["id"], w["pid"]), out)
        # A worker that cannot answer (stopped) is named as such, in about
        # 2 s, and the arbiter answers other clients meanwhile.
        victim = ws[0]["pid"]
        os.kill(victim, signal.SIGSTOP)
        self.addCleanup(lambda: pid_alive(victim) and os.kill(victim, signal.SIGCONT))
        result = {}
        t = threading.Thread(target=lambda: result.update(
            dump=self.ctl_json("dump")))
        start = time.monotonic()
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        self.assertEqual(self.ctl_json("status")["pid"], srv.pid)
        self.assertLess(time.monotonic() - t0, 1.5)
        rc, _, err = self.ctl("dump")
        self.assertEqual(rc, 1)
        self.assertIn("a dump is running already", err)
        t.join(15)
        took = time.monotonic() - start
        self.assertTrue(1.5 < took < 10, took)
        ws2 = {w["pid"]: w for w in result["dump"]["workers"]}
        self.assertEqual(ws2[victim]["answered"], False)
        self.assertEqual(ws2[victim]["error"], "no answer within 2 s")
        self.assertIs(ws2[ws[1]["pid"]]["answered"], True)
        os.kill(victim, signal.SIGCONT)
        # It answers the late request to a file nobody reads: the next dump
        # is whole again.
        ws3 = self.ctl_json("dump")["workers"]
        self.assertEqual([w["answered"] for w in ws3], [True, True])
        self.assertEqual(sorted(srv.worker_pids()), sorted(pids))
        # Its private directory, in worker_tmp_dir, goes with the server.
        (dump_dir,) = [n for n in os.listdir(tmp) if n.startswith("greenicorn-dump-")]
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(tmp, dump_dir)).st_mode), 0o700)
        srv.stop()
        self.assertEqual(srv.returncode, 0)
        self.assertEqual(os.listdir(tmp), [])

    def test_dump_with_workers_running_as_another_user(self):
        """The arbiter (root) makes the dump's directory and files; the
        workers, as `user`, must be able to write their listings there."""
        runner = other_uid_runner()
        if runner is None:
            self.skipTest("no other uid usable (needs root, setpriv and nobody)")
        uid = runner[1]
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        # The app from this test's folder (searchable by others): the
        # build tree may lie in a folder nobody cannot enter (a 0700 temp
        # dir), and the workers load the app after they drop to nobody.
        module = shutil.copy(app_path("echo"), self.dir)
        os.chmod(module, 0o755)
        srv = self.start_server(app=None, workers=2, settings={
            "app": {"module": module},
            "process": {"control_socket": self.sock, "user": "nobody",
                        "worker_tmp_dir": tmp}})
        pids = srv.wait_workers(2)
        wait_until(lambda: self.ctl_json("status")["workers"]["booted"] == 2, 10,
                   what="2 workers booted")
        self.assertEqual({os.stat("/proc/%d" % p).st_uid for p in pids}, {uid})
        ws = self.ctl_json("dump")["workers"]
        self.assertEqual([w["answered"] for w in ws], [True, True], ws)
        for w in ws:
            self.assertIn("pid %d" % w["pid"], w["listing"])
        (dump_dir,) = [n for n in os.listdir(tmp) if n.startswith("greenicorn-dump-")]
        st = os.stat(os.path.join(tmp, dump_dir))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (uid, 0o700))
        self.assertEqual(os.listdir(os.path.join(tmp, dump_dir)), [])   # read, removed

    def test_dump_of_5000_sleepers_and_of_a_spinning_handler(self):
        """Issue #17's acceptance 5 through `ctl dump`: 5,000 connections
        in a green sleep are 5,000 coroutines waiting on a sleep; a handler
        spinning in a tight loop is listed with a backtrace naming it."""
        conns = 5000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(4 * conns, hard) if hard != resource.RLIM_INFINITY else 4 * conns
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if min(want, hard) < conns + 500:
            self.skipTest("open-files limit below %d" % (conns + 500))
        srv = self.start_server(app=harness.test_plugin_path("spin_probe"), workers=1,
                                settings={"process": {"control_socket": self.sock},
                                          "server": {"backlog": 4096},
                                          "workers": {"worker_connections": conns + 100}})
        pid = srv.wait_workers(1)[0]
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.sendall(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n")
            socks.append(s)

        def all_asleep():
            # A worker still busy with the 5,000 arrivals (under ASan) may
            # miss the 2 s: ask again.
            (w,) = self.ctl_json("dump")["workers"]
            return w if w["answered"] and ("%d coroutines waiting on sleep" % conns
                                           in w["listing"]) else None
        w = wait_until(all_asleep, 60, interval=0.5, what="5000 sleepers in a dump")
        self.assertEqual((w["pid"], w["answered"]), (pid, True))
        self.assertIn("dump of worker 1 (pid %d): %d coroutines" % (pid, conns),
                      w["listing"])
        # The sleepers sleep on (a handler runs to its end): the spinning
        # one joins them, and holds the loop.
        result = []

        def spin():
            with harness.RawConn(srv.port, timeout=60) as c:
                c.send(b"GET /spin?ms=4000 HTTP/1.1\r\nHost: t\r\n\r\n")
                result.append(c.read_response())
        t = threading.Thread(target=spin)
        t.start()
        self.addCleanup(t.join, 60)

        def held():
            (w,) = self.ctl_json("dump")["workers"]
            return w if w["answered"] and "holds the loop" in w["listing"] else None
        w = wait_until(held, 20, interval=0.3, what="a dump while the loop is held")
        self.assertRegex(w["listing"], r'"GET /spin\?ms=4000" .* holds the loop')
        self.assertRegex(w["listing"], r"(?m)^    #\d+ spin_in_place\+0x[0-9a-f]+ "
                         r"\[spin_probe\.so\]$")
        rc, out, _ = self.ctl("dump")
        self.assertEqual(rc, 0)
        self.assertIn("== worker 1 (pid %d)" % pid, out)
        t.join(60)
        self.assertEqual(result[0].status, 200)

    # -- who may talk, and what ------------------------------------------

    def test_another_user_is_refused(self):
        runner = other_uid_runner()
        if runner is None:
            self.skipTest("no other uid usable (needs root, setpriv and nobody)")
        prefix, uid = runner
        srv = self.start(workers=1)
        # By the file's mode first.
        rc, out, err = self.ctl("status", prefix=prefix)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("permission denied", err)
        # And with the mode opened up by mistake, by the peer's uid.
        os.chmod(self.sock, 0o666)
        rc, out, err = self.ctl("add", "3", prefix=prefix)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("permission denied: uid %d may not control this server "
                      "(only uid 0 and root)" % uid, err)
        srv.wait_for_log(r"control_socket: refused pid \d+ \(uid %d\)" % uid)
        self.assertEqual(self.ctl_json("status")["workers"]["wanted"], 1)

    def test_garbage_oversized_and_silent_clients_get_errors(self):
        srv = self.start(workers=1)
        srv.wait_workers(1)
        self.assertEqual(self.raw(b"\x00\xff\xfe garbage\n"),
                         {"ok": False, "error": "not a command: control bytes in the line"})
        self.assertEqual(self.raw("st\u00e4tus\n".encode()),
                         {"ok": False, "error": "not a command: bytes outside ASCII"})
        self.assertEqual(self.raw(b"\n"),
                         {"ok": False, "error": "empty command: try 'help'"})
        self.assertEqual(self.raw(b"a b c d e f g h i\n"),
                         {"ok": False, "error": "too many words (at most 8)"})
        self.assertEqual(self.raw(b"x" * 100000),
                         {"ok": False, "error": "command too long (at most 255 bytes)"})
        self.assertEqual(self.raw(b"status")["data"]["pid"], srv.pid)   # no newline: EOF ends it
        self.assertEqual(self.raw(b"status\r\n")["data"]["pid"], srv.pid)
        # Silent clients: each is answered at its deadline, and the ones
        # past the limit at once; none holds the arbiter meanwhile.
        silent = []
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock)
            s.settimeout(10)
            silent.append(s)
        self.addCleanup(lambda: [s.close() for s in silent])
        busy = [s for s in silent[16:]]
        for s in busy:
            self.assertEqual(json.loads(s.recv(4096)),
                             {"ok": False, "error": "busy: too many control clients"})
        self.assertEqual(srv.get("/")[0], 200)
        t0 = time.monotonic()
        self.assertEqual(json.loads(silent[0].recv(4096)),
                         {"ok": False, "error": "no command within 5 s"})
        self.assertLess(time.monotonic() - t0, 8)
        for s in silent[1:16]:
            self.assertEqual(json.loads(s.recv(4096))["error"], "no command within 5 s")
        self.assertEqual(self.ctl_json("status")["pid"], srv.pid)
        self.assertTrue(pid_alive(srv.pid))
        self.assertEqual(srv.get("/")[0], 200)
        self.assertNotIn("CRITICAL", srv.log())


if __name__ == "__main__":
    unittest.main()
