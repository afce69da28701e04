#!/usr/bin/env python3
"""The harness itself: a skipped test must not pass unnoticed. A module
with skips says how many; under GN_E2E_NO_SKIP=1 or CI=true (scripts/test)
each skip fails the module. proc_net.py, which other modules trust to
read the kernel's socket table, decodes its rows right. And a port
harness.refused_port gives stays refused until the test's clean-up."""
import os
import socket
import subprocess
import sys
import tempfile
import unittest

import harness
import proc_net

HERE = os.path.dirname(os.path.abspath(__file__))

SKIPPING_MODULE = '''
import unittest
import harness


class Runs(unittest.TestCase):
    def test_passes(self):
        self.assertTrue(True)

    def test_skips_itself(self):
        self.skipTest("a peer is missing")


@unittest.skipIf(True, "a whole class skipped")
class Skipped(unittest.TestCase):
    def test_never_runs(self):
        self.fail("ran")


if __name__ == "__main__":
    unittest.main()
'''


class SkipAccountingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gn-harness-")
        cls.module = os.path.join(cls.tmp, "test_skipping.py")
        with open(cls.module, "w") as f:
            f.write(SKIPPING_MODULE)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.module)
        os.rmdir(cls.tmp)

    def run_module(self, **env):
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("CI", "GN_E2E_NO_SKIP")}
        clean.update(env, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        r = subprocess.run([sys.executable, self.module, "-v"], env=clean,
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stderr

    def test_skips_fail_the_module_under_no_skip(self):
        for env in ({"GN_E2E_NO_SKIP": "1"}, {"CI": "true"}):
            with self.subTest(env=env):
                rc, err = self.run_module(**env)
                self.assertNotEqual(rc, 0, err)
                self.assertIn("harness: 2 skip(s) counted as failures", err)
                self.assertIn("a peer is missing", err)
                self.assertIn("a whole class skipped", err)
                self.assertIn("FAILED (failures=2)", err)

    def test_skips_are_counted_otherwise(self):
        rc, err = self.run_module()
        self.assertEqual(rc, 0, err)
        self.assertIn("harness: 2 test(s) SKIPPED", err)
        self.assertIn("test_skips_itself: a peer is missing", err)
        self.assertIn("test_never_runs: a whole class skipped", err)


# Rows as an x86 kernel prints them (each address word in little-endian):
# 127.0.0.1:8080 listening with 2 connections in its backlog, and
# [2001:db8::1]:8080 with a connection from ::ffff:127.0.0.2 port 54321.
TCP_ROWS = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
"""
TCP6_ROWS = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: B80D0120000000000000000001000000:1F90 0000000000000000FFFF00000200007F:D431 01 00000010:00000000 01:00000014 00000000  1000        0 4243 1 0000000000000000 20 4 30 10 -1
"""


class ProcNetTest(unittest.TestCase):
    """proc_net.py: fixed rows of /proc/net/tcp and tcp6 from a
    little-endian kernel, and this kernel's own row of a socket of ours,
    found among our descriptors too."""

    def test_ipv4_row(self):
        self.assertEqual(proc_net.parse(TCP_ROWS, "little"), [proc_net.TcpSocket(
            "127.0.0.1", 8080, "0.0.0.0", 0, proc_net.LISTEN, 0, 2, 4242)])

    def test_ipv6_row_swaps_each_word(self):
        self.assertEqual(proc_net.parse(TCP6_ROWS, "little"), [proc_net.TcpSocket(
            "2001:db8::1", 8080, "::ffff:127.0.0.2", 54321, proc_net.ESTABLISHED,
            16, 0, 4243)])

    def test_big_endian_words_are_read_as_printed(self):
        self.assertEqual(proc_net.decode_endpoint("7F000001:0050", "big"),
                         ("127.0.0.1", 80))
        self.assertEqual(proc_net.decode_addr("20010DB8000000000000000000000001", "big"),
                         "2001:db8::1")

    def test_finds_a_listener_of_ours(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port, inode = s.getsockname()[1], os.fstat(s.fileno()).st_ino
            rows = [r for r in proc_net.sockets() if r.inode == inode]
            self.assertIn(inode, proc_net.socket_inodes(os.getpid()))
        self.assertEqual(rows, [proc_net.TcpSocket(
            "127.0.0.1", port, "0.0.0.0", 0, proc_net.LISTEN, 0, 0, inode)])


class RefusedPortTest(unittest.TestCase):
    """harness.refused_port: a connect there is refused, nobody else can
    bind it while the test runs, and its clean-up lets it go."""

    def test_refused_and_held_until_cleanup(self):
        port = harness.refused_port(self)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.socket() as other, self.assertRaises(OSError):
            other.bind(("127.0.0.1", port))
        self.doCleanups()
        with socket.socket() as other:
            other.bind(("127.0.0.1", port))


if __name__ == "__main__":
    unittest.main()
