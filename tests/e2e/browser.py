"""A real browser for the e2e tests: headless Chromium driven by selenium
(Debian's chromium, chromium-driver and python3-selenium; scripts/
install-deps --test installs them). Run the tests that use it with
/usr/bin/python3, whose site-packages hold selenium (tests/e2e/meson.build
does).

    with Browser() as b:                    # a fresh temporary profile
        b.get(srv.url + "/")                # bounded by page_load_timeout
        b.wait_text("#out", "hello")        # bounded by its timeout
        tab = b.new_tab(srv.url + "/")      # a second page, same browser
        b.switch(tab)

Everything is bounded: starting the driver, each command to it
(COMMAND_TIMEOUT), page loads, scripts and waits. The browser always
quits, even when a test fails, and any process left of it (found by its
profile directory) is killed, so a hung Chromium cannot outlive the test.
As root, Chromium needs --no-sandbox.
"""
import os
import shutil
import signal
import tempfile

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.remote_connection import RemoteConnection
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:  # pragma: no cover - a setup error, said clearly
    raise ImportError("browser.py needs Debian's python3-selenium: run the test "
                      "with /usr/bin/python3 (scripts/install-deps --test installs "
                      "it): %s" % e) from e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
COMMAND_TIMEOUT = 60  # seconds for any one command to the driver


def missing():
    """Why no browser can run here (a string), or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return "%s is not installed (Debian chromium, chromium-driver)" % path
    return None


def _kill_leftovers(marker):
    """Kill every process whose command line holds MARKER (our profile
    directory: the browser and its helpers)."""
    mark = marker.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if mark not in f.read():
                    continue
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass


class Browser:
    """One headless Chromium with a temporary profile, and its driver."""

    def __init__(self, page_load_timeout=30, script_timeout=30, width=1024, height=768):
        self.page_load_timeout = page_load_timeout
        self.script_timeout = script_timeout
        self.size = (width, height)
        self.driver = None
        self.tmp = None

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.quit()
        return False

    def start(self):
        why = missing()
        if why:
            raise AssertionError(why)
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-browser-")
        profile = os.path.join(self.tmp, "profile")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                    "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking",
                    "--disable-sync", "--disable-component-update",
                    "--disable-default-apps", "--password-store=basic",
                    # Background tabs keep their timers and sockets going:
                    # a test drives several pages at once.
                    "--disable-background-timer-throttling",
                    "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows",
                    "--window-size=%d,%d" % self.size]:
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        RemoteConnection.set_timeout(COMMAND_TIMEOUT)
        service = Service(CHROMEDRIVER, log_path=os.path.join(self.tmp, "chromedriver.log"))
        try:
            self.driver = webdriver.Chrome(service=service, options=opts)
            self.driver.set_page_load_timeout(self.page_load_timeout)
            self.driver.set_script_timeout(self.script_timeout)
        except BaseException:
            self.quit()
            raise
        return self

    def quit(self):
        """Close the browser and its driver, whatever state they are in,
        and remove the profile."""
        driver, self.driver = self.driver, None
        try:
            if driver is not None:
                driver.quit()
        except Exception:  # noqa: BLE001 - a hung browser is killed below
            pass
        finally:
            if self.tmp is not None:
                _kill_leftovers(self.tmp)
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None

    # -- pages ---------------------------------------------------------------

    def get(self, url):
        """Load URL in the current tab (page_load_timeout bounds it)."""
        self.driver.get(url)

    def new_tab(self, url=None):
        """Open a tab (loading URL) and make it current: its handle."""
        self.driver.switch_to.new_window("tab")
        if url is not None:
            self.get(url)
        return self.driver.current_window_handle

    @property
    def tab(self):
        return self.driver.current_window_handle

    def switch(self, handle):
        self.driver.switch_to.window(handle)

    def run(self, script, *args):
        """Run SCRIPT (a function body; `return` gives the value) in the
        page."""
        return self.driver.execute_script(script, *args)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def type(self, css, text, submit=True):
        """Type TEXT into the element at CSS, then Enter when SUBMIT."""
        el = self.find(css)
        el.send_keys(text + ("\n" if submit else ""))

    def text(self, css):
        """The text of the first element matching CSS, "" when none."""
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].text if found else ""

    def wait(self, pred, timeout=20, what="condition"):
        """Wait until PRED(browser) is true (its value), polling; raise
        AssertionError with the page's console after TIMEOUT seconds."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda _d: pred(self))
        except TimeoutException:
            raise AssertionError("timed out after %s s waiting for %s\n%s"
                                 % (timeout, what, self.describe())) from None

    def wait_text(self, css, text, timeout=20):
        """Wait until the element at CSS contains TEXT: its whole text."""
        return self.wait(lambda b: text in b.text(css) and b.text(css), timeout,
                         what="%r in %s" % (text, css))

    # -- when something goes wrong -------------------------------------------

    def console(self):
        """The page's console messages so far (each once): [(level, text)]."""
        try:
            return [(e["level"], e["message"]) for e in self.driver.get_log("browser")]
        except WebDriverException:
            return []

    def describe(self):
        """The current URL, the console and the start of the page, for a
        failure message."""
        try:
            url, body = self.driver.current_url, self.run(
                "return document.documentElement.outerHTML")
        except WebDriverException as e:
            return "(browser gone: %s)" % e
        lines = ["url: %s" % url]
        lines += ["console %s: %s" % c for c in self.console()]
        lines.append("page: %s" % body[:2000])
        return "\n".join(lines)
