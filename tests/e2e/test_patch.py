#!/usr/bin/env python3
"""patch_all's socket and select families seen from outside (#14): an app
that uses the C library's blocking socket, connect, send, poll and
(fortified) recv, unmodified, on one worker, waits 1 s for its backend;
with patch_all on, /hello on the same worker answers meanwhile in a few
milliseconds; with it off, /hello waits behind the blocked worker."""
import threading
import time
import unittest

from harness import ServerTestCase, test_plugin_path
from test_patch_dns_ssl import SlowServer

BACKEND_DELAY = 1.0


class PatchAllTest(ServerTestCase):

    def setUp(self):
        self.backend = SlowServer(delay=BACKEND_DELAY)
        self.addCleanup(self.backend.close)

    def start(self, patch_all):
        return self.start_server(
            app=test_plugin_path("blocking_client"), workers=1,
            settings={"green": {"patch_all": "on" if patch_all else "off"},
                      "app.args": {"port": self.backend.port}})

    def fetch_and_hello(self, srv):
        """GET /fetch in a thread and, while it waits on the backend, GET
        /hello: (fetch's status and body, hello's seconds)."""
        got = {}

        def fetch():
            got["fetch"] = srv.get("/fetch")

        t = threading.Thread(target=fetch)
        t.start()
        time.sleep(0.3)  # /fetch is parked on its recv by now
        start = time.monotonic()
        status, _, body = srv.get("/hello")
        took = time.monotonic() - start
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual((status, body), (200, b"hello"))
        return got["fetch"], took

    def test_blocking_recv_does_not_stall_the_worker(self):
        srv = self.start(True)
        srv.wait_for_log(r"patch_all: socket, dns, time, select, ssl")
        (status, _, body), took = self.fetch_and_hello(srv)
        self.assertEqual((status, body), (200, b"pong"))
        # Generous for a loaded machine: the stall would be ~0.7 s.
        self.assertLess(took, 0.35)

    def test_without_patching_the_worker_waits(self):
        srv = self.start(False)
        (status, _, body), took = self.fetch_and_hello(srv)
        self.assertEqual((status, body), (200, b"pong"))
        self.assertGreater(took, 0.5)


if __name__ == "__main__":
    unittest.main()
