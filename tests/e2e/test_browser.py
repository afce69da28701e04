#!/usr/bin/python3
"""A real browser against greenicorn (tests/e2e/browser.py: headless
Chromium through selenium): a page served by contrib's static.so whose
script calls an app of the same server and writes the answer into the
page, two tabs at once, a page load that never ends cut at its timeout,
and no browser process left behind. Run with /usr/bin/python3 (Debian's
python3-selenium)."""
import os
import shutil
import tempfile
import time
import unittest

import harness
from browser import Browser, TimeoutException, missing
from harness import ServerTestCase, app_path

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>greenicorn browser test</title>
<link rel="icon" href="data:,"></head>
<body>
<pre id="out">loading</pre>
<script>
// Ask the API on the same server, with this tab's name (the #fragment),
// and show what it answered.
const who = location.hash.slice(1) || "page";
fetch("/api/hello?from=" + who, {method: "POST", body: "typed in " + who})
  .then(r => r.text().then(t => {
    document.getElementById("out").textContent = "status " + r.status + "\\n" + t;
    document.title = "done " + who;
  }))
  .catch(e => { document.getElementById("out").textContent = "error: " + e; });
</script>
</body></html>
"""


def browser_processes(marker):
    """Pids whose command line holds MARKER."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@unittest.skipIf(missing(), missing())
class BrowserTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.www = tempfile.mkdtemp(prefix="greenicorn-www-")
        cls.addClassCleanup(shutil.rmtree, cls.www, True)
        with open(os.path.join(cls.www, "index.html"), "w") as f:
            f.write(PAGE)
        cls.srv = cls.start_class_server(app=None, workers=2, settings={
            "app:api": {"module": app_path("echo"), "mount": "/api"},
            "app:files": {"module": app_path("static"), "mount": "/"},
            "app:files.args": {"root": cls.www, "index": "index.html"},
        })
        cls.browser = Browser(page_load_timeout=30).start()
        cls.addClassCleanup(cls.browser.quit)

    def test_a_page_from_static_runs_its_script_against_the_api(self):
        b = self.browser
        b.get(self.srv.url + "/")
        text = b.wait_text("#out", "status 200")
        self.assertEqual(b.driver.title, "done page")
        self.assertIn("method: POST", text)
        self.assertIn("script-name: /api", text)
        self.assertIn("path-info: /hello", text)
        self.assertIn("query: from=page", text)
        self.assertIn("typed in page", text)
        # The browser's own request went through the server's parser.
        self.assertRegex(text, r"(?i)user-agent: .*Chrome/")
        self.assertEqual([c for c in b.console() if c[0] == "SEVERE"], [])

    def test_two_tabs_run_their_pages_at_once(self):
        b = self.browser
        first = b.new_tab(self.srv.url + "/#one")
        second = b.new_tab(self.srv.url + "/#two")
        try:
            self.assertIn("typed in two", b.wait_text("#out", "status 200"))
            b.switch(first)
            self.assertIn("typed in one", b.wait_text("#out", "status 200"))
        finally:
            for tab in (second, first):
                b.switch(tab)
                b.driver.close()
            b.switch(b.driver.window_handles[0])

    def test_a_page_that_never_loads_is_cut_at_the_page_load_timeout(self):
        b = self.browser
        b.driver.set_page_load_timeout(2)
        try:
            started = time.monotonic()
            with self.assertRaises(TimeoutException):
                b.get(self.srv.url + "/api/slow?sleep=6")
            self.assertLess(time.monotonic() - started, 10)
        finally:
            b.driver.set_page_load_timeout(b.page_load_timeout)
        b.get(self.srv.url + "/")  # and the browser goes on
        b.wait_text("#out", "status 200")


@unittest.skipIf(missing(), missing())
class BrowserLifetimeTest(unittest.TestCase):

    def test_the_browser_quits_even_when_the_test_fails(self):
        with self.assertRaises(ZeroDivisionError):
            with Browser() as b:
                profile = b.tmp
                self.assertTrue(browser_processes(profile))
                b.get("data:text/html,<p id=x>x</p>")
                self.assertEqual(b.text("#x"), "x")
                1 / 0
        self.assertIsNone(b.driver)
        self.assertFalse(os.path.exists(profile))
        harness.wait_until(lambda: not browser_processes(profile), 10,
                           what="no process of the browser left")


if __name__ == "__main__":
    unittest.main()
