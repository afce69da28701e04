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

    def test_fd_bind_must_be_a_listening_socket(self):
        with open(os.path.join(self.tmp, "file"), "w") as f:
            rc, _, err = harness.run_until_exit(
                ["-b", "fd://%d" % f.fileno(), app_path("hello")])
        self.assertEqual(rc, 1, err)
        self.assertIn("not a listening stream socket", err)


if __name__ == "__main__":
    unittest.main()
