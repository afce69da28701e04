#!/usr/bin/env python3
"""io_engine = epoll: the fallback where the kernel refuses io_uring, and
a choice. The HTTP modules' essentials run again with every server on
epoll (the rest of the suite runs on the default, io_uring) —
keep-alive, pipelining, large bodies both ways, sendfile, slow clients and
timeouts, WebSocket upgrades, graceful stop and HUP — and the worker is
seen to hold no ring (so the reruns cannot pass on io_uring by
accident)."""
import unittest

import harness
from harness import ServerTestCase

_plain_sections = harness.Server.config_sections


def _epoll_sections(self):
    """Every server of this module on epoll, unless a test says."""
    sections = _plain_sections(self)
    sections["workers"].setdefault("io_engine", "epoll")
    return sections


harness.Server.config_sections = _epoll_sections

# The reruns: imported here, so that unittest runs them in this module.
from test_http import (HttpTest, TargetTest, LimitsAndTimeoutsTest,  # noqa: E402,F401
                       UnreadBodyTest, CurlTest)
from test_slow_clients import TimeoutsTest, ManyConnectionsTest  # noqa: E402,F401
from test_plugins import SendfileTest  # noqa: E402,F401
from test_websocket import Handshake, Framing, Fragmentation, Close  # noqa: E402,F401
import test_arbiter  # noqa: E402

# Graceful stop and HUP from the arbiter's module (the rest of it is about
# processes, not connections).
ARBITER_TESTS = [
    "test_term_lets_inflight_request_finish",
    "test_term_closes_idle_connections_and_finishes_uploads",
    "test_term_idle_exits_0_and_workers_gone",
    "test_hup_reloads_config_app_and_binds",
    "test_hup_three_times_under_load_fails_no_request",
]


class EngineTest(ServerTestCase):
    def test_worker_holds_no_ring_on_epoll(self):
        srv = self.start_server(app="echo")
        (pid,) = srv.wait_workers(1)
        self.assertEqual(srv.get("/x")[0], 200)
        self.assertEqual(harness.io_uring_rings(pid), 0, srv.log())


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for cls in (EngineTest, HttpTest, TargetTest, LimitsAndTimeoutsTest,
                UnreadBodyTest, CurlTest, TimeoutsTest, ManyConnectionsTest,
                SendfileTest, Handshake, Framing, Fragmentation, Close):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    for name in ARBITER_TESTS:
        suite.addTest(test_arbiter.ArbiterTest(name))
    return suite


if __name__ == "__main__":
    unittest.main()
