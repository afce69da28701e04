#!/usr/bin/python3
"""The seed's chat (contrib/apps/chat.c) in a real browser (tests/e2e/
browser.py: headless Chromium through selenium): the page opened twice
connects its WebSocket, and a message typed in one tab appears in both,
through Redis and whichever workers the two sockets landed on. Run with
/usr/bin/python3 (Debian's python3-selenium); test_chat.py drives the
same app with raw WebSocket clients."""
import os
import unittest

from browser import Browser, missing
from harness import ServerTestCase, app_path, wait_until
from test_redis import REDIS_SERVER, RedisServer
from test_redis_sub import numsub

CHAT = app_path("chat")
CHANNEL = "greenicorn:chat"
WAIT = 60


@unittest.skipIf(missing(), missing())
@unittest.skipUnless(REDIS_SERVER and os.path.exists(CHAT),
                     "needs redis-server and build/contrib/apps/chat.so")
class ChatBrowserTest(ServerTestCase):

    def test_a_message_typed_in_one_page_appears_in_the_other(self):
        redis = RedisServer()
        self.addCleanup(redis.close)
        redis.start()
        srv = self.start_server(app=CHAT, workers=2, settings={
            "app.args": {"port": redis.port, "channel": CHANNEL}})
        srv.wait_workers(2, timeout=WAIT)
        wait_until(lambda: numsub(redis, CHANNEL) == 2, WAIT, interval=0.05,
                   what="both workers subscribed")
        b = Browser(page_load_timeout=WAIT).start()
        self.addCleanup(b.quit)
        def connected(b):  # (not "disconnected; reconnecting...")
            return b.text("#state") == "connected"

        first = b.new_tab(srv.url + "/")
        b.wait(connected, timeout=WAIT, what="the first page's WebSocket")
        second = b.new_tab(srv.url + "/")
        b.wait(connected, timeout=WAIT, what="the second page's WebSocket")

        b.type("#text", "hello from the second tab")
        self.assertIn("hello from the second tab",
                      b.wait_text("#log", "hello from the second tab", timeout=WAIT))
        self.assertEqual(b.run("return document.getElementById('text').value"), "")
        b.switch(first)
        b.wait_text("#log", "hello from the second tab", timeout=WAIT)
        b.type("#text", "and an answer from the first, with ünïcode")
        b.wait_text("#log", "with ünïcode", timeout=WAIT)
        b.switch(second)
        b.wait_text("#log", "with ünïcode", timeout=WAIT)
        # Each tab shows both lines once, in the same order.
        lines = b.run("return [...document.querySelectorAll('#log li')]"
                      ".map(li => li.textContent)")
        self.assertEqual(lines, ["hello from the second tab",
                                 "and an answer from the first, with ünïcode"])
        b.switch(first)
        self.assertEqual(b.run("return [...document.querySelectorAll('#log li')]"
                               ".map(li => li.textContent)"), lines)
        self.assertEqual([c for c in b.console() if c[0] == "SEVERE"], [])
        self.assertNotIn("[ERROR]", srv.log())


if __name__ == "__main__":
    unittest.main()
