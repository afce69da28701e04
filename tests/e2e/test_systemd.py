#!/usr/bin/env python3
"""systemd integration without systemd: a listening socket passed as
LISTEN_FDS/LISTEN_PID is served (and bind ignored), and Type=notify
readiness messages arrive on NOTIFY_SOCKET, as systemd would see them."""
import os
import signal
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import app_path, wait_until


class SystemdTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self.tmp, "notify"))
        self.notify.settimeout(10)
        self.addCleanup(self.notify.close)

    def message(self):
        return self.notify.recv(4096).decode()

    def wait_message(self, first_line):
        """The next notify message starting with FIRST_LINE (skipping
        others, e.g. STATUS updates)."""
        for _ in range(10):
            msg = self.message()
            if msg.split("\n")[0] == first_line:
                return msg
        self.fail("no %s message" % first_line)

    def wait_message_with(self, text):
        """The next notify message containing TEXT."""
        for _ in range(10):
            msg = self.message()
            if text in msg:
                return msg
        self.fail("no message with %s" % text)

    def start(self, listener, busy_port):
        fd = listener.fileno()
        # The shell's pid becomes greenicorn's (exec), so LISTEN_PID=$$ is
        # right; the passed socket must be descriptor 3 (SD_LISTEN_FDS_START).
        cmd = harness.PDEATHSIG + [
            "sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' % fd,
            "sh", harness.GREENICORN, "-b", "127.0.0.1:%d" % busy_port, "-w", "2",
            "--error-logfile", os.path.join(self.tmp, "error.log"), app_path("echo")]
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(self.tmp, "notify"))
        proc = subprocess.Popen(cmd, pass_fds=(fd,), env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def log(self):
        with open(os.path.join(self.tmp, "error.log")) as f:
            return f.read()

    def test_activated_socket_is_served_and_readiness_notified(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        busy = socket.socket()   # what -b names is taken: never bound
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        proc = self.start(listener, busy.getsockname()[1])
        listener.close()  # the server holds it now

        ready = self.wait_message("READY=1")
        self.assertIn("STATUS=serving with 2 worker(s)", ready)
        reply = harness.raw_exchange(
            port, b"GET /activated HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK"), reply[:200])
        self.assertIn(b"target: /activated\n", reply)
        self.assertIn("systemd socket activation: serving fd://3 (bind ignored)",
                      self.log())

        proc.send_signal(signal.SIGHUP)
        self.wait_message("RELOADING=1")
        self.wait_message("READY=1")
        reply = harness.raw_exchange(
            port, b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"target: /again\n", reply)

        proc.send_signal(signal.SIGTERM)
        self.wait_message("STOPPING=1")
        self.assertEqual(proc.wait(15), 0, self.log())

    def test_usr2_tells_systemd_the_new_main_pid(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        proc = self.start(listener, busy.getsockname()[1])
        # Run before proc's own clean-up: the new arbiter is its child.
        self.addCleanup(lambda: [os.kill(p, signal.SIGKILL)
                                 for p in harness.children_of(proc.pid)]
                        if harness.pid_alive(proc.pid) else None)
        listener.close()
        self.wait_message("READY=1")

        proc.send_signal(signal.SIGUSR2)
        msg = self.wait_message_with("MAINPID=")
        new = int(msg.split("MAINPID=")[1].split("\n")[0])
        self.addCleanup(lambda: harness.pid_alive(new) and os.kill(new, signal.SIGKILL))
        self.assertIn("READY=1", msg)
        self.assertNotEqual(new, proc.pid)
        self.assertIn(new, harness.children_of(proc.pid))
        wait_until(lambda: "SIGUSR2: new arbiter started (pid %d)" % new in self.log(),
                   5, what="the old arbiter's word")
        # The old arbiter stops: systemd must not hear STOPPING=1 from it,
        # the service goes on in the new one.
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0, self.log())
        self.notify.settimeout(0.5)
        late = []
        try:
            while True:
                late.append(self.message())
        except socket.timeout:
            pass
        self.assertFalse([m for m in late if "STOPPING=1" in m], late)
        reply = harness.raw_exchange(
            port, b"GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"target: /new\n", reply)
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not harness.pid_alive(new), 15, what="the new arbiter to stop")

    def test_fd_bind_must_be_a_listening_socket(self):
        with open(os.path.join(self.tmp, "file"), "w") as f:
            rc, _, err = harness.run_until_exit(
                ["-b", "fd://%d" % f.fileno(), app_path("hello")])
        self.assertEqual(rc, 1, err)
        self.assertIn("not a listening stream socket", err)


if __name__ == "__main__":
    unittest.main()
