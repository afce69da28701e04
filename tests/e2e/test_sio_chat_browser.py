#!/usr/bin/python3
"""sio_chat's page (contrib/apps/sio_chat.c, GET /) in a real browser
(tests/e2e/browser.py: headless Chromium through selenium), on 2 workers
sharing a Redis the test starts: the page, opened twice, loads the
Socket.IO browser client (npm's socket.io-client 4.8, vendored next to
sio_chat.so by scripts/sio-client-js, as the test does first), joins its
room, and a message typed in one tab appears in the other, once, and not
in a tab in another room. The two tabs' sessions are held by different
workers (the pid in each Engine.IO sid; tabs are opened until two differ,
each request on a new connection spread by SO_REUSEPORT), so the message
crosses from one worker to the other through Redis. Run with /usr/bin/python3 (Debian's
python3-selenium); test_socketio.py drives the same app with
python-socketio and Node's client."""
import base64
import os
import shutil
import subprocess
import tempfile
import unittest

from browser import Browser, missing
from harness import REPO, ServerTestCase, app_path, wait_until
from test_redis import REDIS_SERVER, RedisServer
from test_redis_sub import numsub

SIO_CHAT = app_path("sio_chat")
CHANNEL = "greenicorn:sio_chat"
WAIT = 60  # seconds for anything to happen: generous on a loaded machine
VENDOR = os.path.join(REPO, "scripts", "sio-client-js")


def vendor_client(test):
    """Put socket.io.min.js beside sio_chat.so with the project's script,
    its npm cache in the build tree when meson runs this (kept between
    runs), else in a temporary folder."""
    root = os.environ.get("GN_BUILD_ROOT")
    if not root:
        root = tempfile.mkdtemp(prefix="greenicorn-npm-")
        test.addCleanup(shutil.rmtree, root, True)
    out = subprocess.run([VENDOR, root, os.path.dirname(SIO_CHAT)],
                         check=True, timeout=300, capture_output=True,
                         text=True).stdout.strip()
    test.assertTrue(os.path.getsize(out) > 10000, out)


def owner_of(sid):
    """The pid an Engine.IO sid names: its first four bytes, big-endian
    (as test_sio_workers.py reads it)."""
    raw = base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))
    return int.from_bytes(raw[:4], "big")


@unittest.skipIf(missing(), missing())
@unittest.skipUnless(REDIS_SERVER and os.path.exists(SIO_CHAT),
                     "needs redis-server and build/contrib/apps/sio_chat.so")
class SioChatBrowserTest(ServerTestCase):

    def test_a_message_said_in_one_page_appears_in_the_other(self):
        self.assertTrue(shutil.which("npm"), "npm is needed "
                        "(scripts/install-deps --test installs it)")
        vendor_client(self)
        redis = RedisServer()
        self.addCleanup(redis.close)
        redis.start()
        # No keep-alive and one listening socket per worker: each request,
        # each tab's handshake included, is a new connection the kernel
        # gives to either worker.
        srv = self.start_server(app=SIO_CHAT, workers=2, settings={
            "app.args": {"redis": "127.0.0.1:%d" % redis.port,
                         "channel": CHANNEL},
            "server": {"reuse_port": "on"},
            "workers": {"keepalive": 0}})
        srv.wait_workers(2, timeout=WAIT)
        wait_until(lambda: numsub(redis, CHANNEL) == 2, WAIT, interval=0.05,
                   what="both workers subscribed")
        b = Browser(page_load_timeout=WAIT).start()
        self.addCleanup(b.quit)

        def joined(b):  # connected, and join acknowledged
            return b.text("#state") == "joined"

        def said(b):
            return b.run("return [...document.querySelectorAll('#log li .text')]"
                         ".map(s => s.textContent)")

        other = b.new_tab(srv.url + "/?room=elsewhere")
        b.wait(joined, timeout=WAIT, what="the other room's page joined")
        tabs = {}  # owner pid -> the first lobby tab it holds
        for _ in range(10):  # both workers get one: (1/2)^9 that they don't
            tab = b.new_tab(srv.url + "/?room=lobby")
            b.wait(joined, timeout=WAIT, what="a lobby page joined")
            self.assertEqual(b.text("#room"), "lobby")
            tabs.setdefault(owner_of(b.run("return chat.io.engine.id")), tab)
            if len(tabs) == 2:
                break
        self.assertEqual(len(tabs), 2, "every lobby tab on one worker")
        self.assertEqual(set(tabs), set(srv.worker_pids()))
        first, second = tabs.values()
        b.switch(second)

        b.type("#text", "hello from the second tab")
        b.wait_text("#log", "hello from the second tab", timeout=WAIT)
        self.assertEqual(b.run("return document.getElementById('text').value"), "")
        b.switch(first)
        b.wait_text("#log", "hello from the second tab", timeout=WAIT)
        b.type("#text", "and an answer from the first, with ünïcode")
        b.wait_text("#log", "with ünïcode", timeout=WAIT)
        b.switch(second)
        b.wait_text("#log", "with ünïcode", timeout=WAIT)
        # Each tab shows both lines once, in the same order.
        lines = said(b)
        self.assertEqual(lines, ["hello from the second tab",
                                 "and an answer from the first, with ünïcode"])
        b.switch(first)
        self.assertEqual(said(b), lines)
        froms = b.run("return [...document.querySelectorAll('#log li .from')]"
                      ".map(s => s.textContent)")
        self.assertEqual(froms[1], "me: ")
        self.assertNotIn(froms[0], ("me: ", ": ", "undefined: "))
        # The page in another room got neither (and is still joined).
        b.switch(other)
        self.assertEqual(said(b), [])
        self.assertTrue(joined(b))
        self.assertEqual([c for c in b.console() if c[0] == "SEVERE"], [])
        self.assertNotIn("[ERROR]", srv.log())


if __name__ == "__main__":
    unittest.main()
