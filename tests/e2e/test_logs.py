#!/usr/bin/env python3
"""The logs and the dates the server writes: times without the app's
locale, rotation by logrotate with workers running as another user, a
full disk, running out of file descriptors, and memory after a burst."""
import email.utils
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import ServerTestCase, test_plugin_path, wait_until

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT$")
CLF_TIME = re.compile(r" \[\d\d/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/"
                      r"\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ")


def make_locale(name, source, charmap, into):
    """Compile the locale NAME from Debian's `locales` sources into the
    folder INTO (for LOCPATH), so the test needs no system-wide locale."""
    r = subprocess.run(["localedef", "-i", source, "-f", charmap,
                        os.path.join(into, name)],
                       capture_output=True, text=True, timeout=120)
    # localedef exits 1 on warnings with the locale written anyway.
    path = os.path.join(into, name, "LC_TIME")
    if not os.path.exists(path):
        raise AssertionError("localedef %s failed (%d): %s"
                             % (name, r.returncode, r.stderr))


class LocaleTest(ServerTestCase):
    """Item 9: an app's setlocale must not reach the Date header or the
    log times (they were strftime's %a and %b)."""

    @classmethod
    def setUpClass(cls):
        cls.locpath = tempfile.mkdtemp(prefix="gn-locale-")
        cls.addClassCleanup(shutil.rmtree, cls.locpath, True)
        make_locale("de_DE.UTF-8", "de_DE", "UTF-8", cls.locpath)

    def test_date_and_access_log_ignore_the_apps_locale(self):
        srv = self.start_server(
            app=test_plugin_path("locale_app"), accesslog=True,
            settings={"process": {"raw_env": ["LOCPATH=%s" % self.locpath]},
                      "app.args": {"locale": "de_DE.UTF-8"}})
        status, headers, body = srv.get("/x")
        self.assertEqual(status, 200)
        # The app's locale is in force in the worker...
        self.assertEqual(body.decode(), "Sa Dez")
        # ...and the server's Date is an IMF-fixdate all the same.
        self.assertRegex(headers["Date"], IMF_FIXDATE)
        when = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
        self.assertLess(abs(when - time.time()), 120)
        line = wait_until(lambda: srv.access_log().strip(), 5,
                          what="the access log line")
        self.assertRegex(line, CLF_TIME)
        self.assertIn('"GET /x HTTP/1.1" 200', line)


if __name__ == "__main__":
    unittest.main()
