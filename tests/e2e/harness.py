"""harness.py - start the real greenicorn binary for end-to-end tests.

    with Server(app="echo", workers=2) as srv:
        conn = srv.http()                 # an http.client.HTTPConnection
        raw = srv.raw()                   # a RawConn on a plain socket
        srv.worker_pids(); srv.wait_for_log(r"booting worker")

Every Server lives in its own temp dir (config, error log, access log) on
its own port of 127.0.0.1 picked at run time, so test modules can run in
parallel. Whatever a Server started is stopped on exit, even when the test
failed: TERM, then KILL after a timeout, then KILL of any worker left over.

The binary comes from $GREENICORN, the apps from $GN_APPS, the hook plugins
from $GN_HOOKS and the test plugins from $GN_TEST_PLUGINS; all default to
the meson build dir of the repo (build/greenicorn, build/contrib/apps, ...).
"""
import atexit
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GREENICORN = os.environ.get("GREENICORN") or os.path.join(REPO, "build", "greenicorn")
APPS = os.environ.get("GN_APPS") or os.path.join(REPO, "build", "contrib", "apps")
HOOKS = os.environ.get("GN_HOOKS") or os.path.join(REPO, "build", "contrib", "hooks")
TEST_PLUGINS = (os.environ.get("GN_TEST_PLUGINS")
                or os.path.join(REPO, "build", "tests", "plugins"))

START_TIMEOUT = 10.0   # seconds for the port to accept connections
STOP_TIMEOUT = 10.0    # seconds between TERM and KILL on clean-up
IO_TIMEOUT = 10.0      # default socket timeout of the helpers

# The binary is built with -Db_sanitize (tests/e2e/meson.build says so):
# its RSS then means little (ASan's allocator keeps freed memory in
# quarantine and per-size regions), so bounds on a worker's growth are
# checked in the other builds only.
SANITIZED = os.environ.get("GN_SANITIZED") == "1"

# A skipped test shows as a pass in meson's summary, so a missing peer
# (curl, nginx, PostgreSQL...) would quietly drop tests. With
# GN_E2E_NO_SKIP=1 (scripts/test sets it) or CI=true every skip is counted
# as a failure; otherwise skips stay skips, but each module says how many.
NO_SKIP = (os.environ.get("GN_E2E_NO_SKIP") == "1"
           or os.environ.get("CI", "").lower() == "true")


class SkipCountingResult(unittest.TextTestResult):
    """unittest's text result, with skips counted and, under NO_SKIP,
    failed (a class or module skip fails each test it skipped)."""

    def addSkip(self, test, reason):
        if NO_SKIP:
            err = AssertionError("skipped, and skips fail here (GN_E2E_NO_SKIP=1 "
                                 "or CI=true): %s" % reason)
            self.addFailure(test, (AssertionError, err, None))
            self.skips_failed = getattr(self, "skips_failed", 0) + 1
        else:
            super().addSkip(test, reason)

    def stopTestRun(self):
        super().stopTestRun()
        failed = getattr(self, "skips_failed", 0)
        if failed:
            self.stream.writeln("harness: %d skip(s) counted as failures" % failed)
        elif self.skipped:
            self.stream.writeln("harness: %d test(s) SKIPPED (GN_E2E_NO_SKIP=1 fails them):"
                                % len(self.skipped))
            for test, reason in self.skipped:
                self.stream.writeln("  %s: %s" % (test.id(), reason))
        self.stream.flush()


# Every module ends in unittest.main(), whose runner takes its result
# class from here.
unittest.TextTestRunner.resultclass = SkipCountingResult

# setpriv execs the binary with a parent-death signal set (same pid).
# The kernel sends it when the *thread* that forked the child ends, not
# the process: use it only from the main thread (see pdeathsig()).
PDEATHSIG = (["setpriv", "--pdeathsig", "TERM", "--"]
             if shutil.which("setpriv") and os.environ.get("GN_E2E_NO_SETPRIV") is None
             else [])


def pdeathsig():
    """PDEATHSIG on the main thread, nothing on another: a server started
    from an executor's thread would be sent TERM when that thread ends (at
    the end of asyncio.run), in the middle of the test. Cleanups still stop
    it."""
    return PDEATHSIG if threading.current_thread() is threading.main_thread() else []

# Servers started and not yet stopped, for the exit handler.
_live = set()


@atexit.register
def _stop_leftovers():
    for srv in list(_live):
        srv.stop(timeout=5)


def app_path(name):
    """The .so of the contrib app NAME ("hello", "echo")."""
    return os.path.join(APPS, name + ".so")


def hook_path(name="log_hooks"):
    """The .so of the contrib hook plugin NAME."""
    return os.path.join(HOOKS, name + ".so")


def test_plugin_path(name="bad_plugins"):
    """The .so of the test plugin NAME (tests/plugins)."""
    return os.path.join(TEST_PLUGINS, name + ".so")


def free_port():
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_port(test):
    """A port of 127.0.0.1 that refuses connections until TEST's cleanup:
    bound, never listening, and held. Unlike free_port()'s, no other
    process can take it meanwhile, and the kernel never gives it to a
    connect as its own port, which would connect a socket to itself (a
    client that keeps retrying, as ZeroMQ's does, gets there in time)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    test.addCleanup(s.close)
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll PRED until it returns a true value (returned), or raise
    AssertionError after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def children_of(pid):
    """The pids whose parent is PID (from /proc, else ps --ppid)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return sorted(set(kids))
    except FileNotFoundError:
        pass
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="],
                         capture_output=True, text=True, timeout=10).stdout
    return sorted(int(x) for x in out.split())


def ps_children(pid):
    """The pids whose parent is PID, as `ps --ppid` sees them."""
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="],
                         capture_output=True, text=True, timeout=10).stdout
    return sorted(int(x) for x in out.split())


def pid_alive(pid):
    """True while PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_pid(path):
    """The pid in the pidfile PATH, or 0 while there is none."""
    try:
        with open(path) as f:
            return int(f.read() or 0)
    except FileNotFoundError:
        return 0


# The sockets an idle worker holds: its listener and its end of the
# worker-to-worker channel (net/peer.c).
IDLE_WORKER_SOCKETS = 2


def socket_fds(pid):
    """How many sockets the process PID holds open."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def io_uring_rings(pid):
    """How many io_uring instances the process PID holds."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[io_uring]":
                n += 1
        except OSError:
            pass  # closed meanwhile
    return n


def spawn_logged(cmd, workdir):
    """Start CMD in WORKDIR with its stdout and stderr in WORKDIR/stdout.log
    and stderr.log, in a session of its own (its process group is ours to
    kill) and stopped by the kernel if this test process dies first."""
    with open(os.path.join(workdir, "stderr.log"), "wb") as err, \
            open(os.path.join(workdir, "stdout.log"), "wb") as out:
        return subprocess.Popen(pdeathsig() + cmd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=workdir,
                                start_new_session=True)


def process_age(pid):
    """Seconds since PID started (from /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def run_cli(args, timeout=15, cwd=None):
    """Run greenicorn ARGS to completion: a CompletedProcess with text
    stdout/stderr. For the short-lived modes (--check-config, --help...)."""
    return subprocess.run([GREENICORN] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


def render_config(sections):
    """INI text from {section: {key: value or [values]}} in order."""
    lines = []
    for section, keys in sections.items():
        lines.append("[%s]" % section)
        for key, value in keys.items():
            for v in value if isinstance(value, list) else [value]:
                lines.append("%s = %s" % (key, v))
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Raw HTTP on a plain socket
# ---------------------------------------------------------------------------

class Response:
    """One parsed HTTP response."""

    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version      # "HTTP/1.1"
        self.status = status        # int
        self.reason = reason
        self.headers = headers      # [(name, value)] in order
        self.body = body            # bytes, de-chunked
        self.raw = raw              # the bytes as received
        self.chunks = None          # [bytes] for a chunked body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def echo_fields(self):
        """The echo app's "key: value" lines before the blank line, as a
        dict (header lines are collected in the list under "header")."""
        head = self.body.split(b"\n\n", 1)[0].decode("latin-1")
        out = {"header": []}
        for line in head.split("\n"):
            key, _, value = line.partition(": ")
            if key == "header":
                out["header"].append(value)
            else:
                out[key] = value
        return out

    def echo_body(self):
        """The echoed request body (after the echo app's blank line)."""
        return self.body.split(b"\n\n", 1)[1]

    def __repr__(self):
        return "<Response %s %d %r>" % (self.version, self.status, self.raw[:200])


class ConnectionClosed(Exception):
    """The peer closed before a complete response arrived."""


class RawConn:
    """A plain TCP connection that sends bytes as given and parses the
    responses itself, for what http.client will not do (pipelining, bad
    requests, HTTP/1.0, 100-continue, looking at the chunk framing)."""

    def __init__(self, port, timeout=IO_TIMEOUT, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        """Read more bytes into the buffer; False at EOF (or on a reset,
        which tests treat as a close)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionClosed("closed mid-line; have %r" % self.buf[:200])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _fill_to(self, n=None):
        """Read until the buffer holds N bytes (None: until EOF); False
        when EOF came first. The chunks are joined once: growing one bytes
        object by each 64 KiB read copies a 12 MiB body some 190 times
        (seconds of page faults on a loaded VM, past a server's
        keep-alive timeout)."""
        chunks, have = [self.buf], len(self.buf)
        self.buf = b""
        try:
            while n is None or have < n:
                if not self._fill():
                    return False
                chunks.append(self.buf)
                have += len(self.buf)
                self.buf = b""
            return True
        finally:
            self.buf = b"".join(chunks)

    def _take(self, n):
        if not self._fill_to(n):
            raise ConnectionClosed("closed with %d of %d bytes" % (len(self.buf), n))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET", allow_interim=False):
        """Read one response off the stream. 1xx interim responses are
        returned as such when ALLOW_INTERIM, else skipped."""
        while True:
            raw = []
            if not self.buf and not self._fill():
                raise ConnectionClosed("closed before a response")
            status_line = self._take_line()
            raw.append(status_line + b"\r\n")
            m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
            if not m:
                raise AssertionError("bad status line %r" % status_line)
            version, status = m.group(1).decode(), int(m.group(2))
            reason = (m.group(3) or b"").decode("latin-1")
            headers = []
            while True:
                line = self._take_line()
                raw.append(line + b"\r\n")
                if line == b"":
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name, value.strip()))
            resp = Response(version, status, reason, headers, b"", None)
            if 100 <= status < 200:
                resp.raw = b"".join(raw)
                if allow_interim:
                    return resp
                continue
            te = (resp.header("Transfer-Encoding") or "").lower()
            cl = resp.header("Content-Length")
            if method == "HEAD" or status in (204, 304):
                body = b""
            elif "chunked" in te:
                chunks = []
                while True:
                    size_line = self._take_line()
                    raw.append(size_line + b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        while True:  # trailers
                            t = self._take_line()
                            raw.append(t + b"\r\n")
                            if t == b"":
                                break
                        break
                    data = self._take(size)
                    crlf = self._take(2)
                    if crlf != b"\r\n":
                        raise AssertionError("chunk not followed by CRLF: %r" % crlf)
                    raw += [data, crlf]
                    chunks.append(data)
                body = b"".join(chunks)
                resp.chunks = chunks
            elif cl is not None:
                body = self._take(int(cl))
                raw.append(body)
            else:
                self._fill_to(None)
                body, self.buf = self.buf, b""
                raw.append(body)
            resp.body = body
            resp.raw = b"".join(raw)
            return resp

    def read_responses(self, n, method="GET"):
        return [self.read_response(method) for _ in range(n)]

    def read_until_close(self, timeout=IO_TIMEOUT):
        """Every byte until the peer closes; raises socket.timeout if it
        does not within TIMEOUT."""
        self.sock.settimeout(timeout)
        self._fill_to(None)
        data, self.buf = self.buf, b""
        return data

    def closed_by_peer(self, timeout=IO_TIMEOUT):
        """True when the next recv returns b'' (or a reset) within TIMEOUT
        with nothing else pending; False when it times out with the
        connection still open. Extra bytes are an assertion error."""
        if self.buf:
            raise AssertionError("unexpected bytes pending: %r" % self.buf[:200])
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(IO_TIMEOUT)
        if data:
            raise AssertionError("unexpected bytes after the response: %r" % data[:200])
        self.eof = True
        return True


def raw_exchange(port, data, timeout=IO_TIMEOUT):
    """Send DATA on a new connection, half-close, return all bytes until the
    server closes."""
    with RawConn(port, timeout) as c:
        c.send(data)
        return c.read_until_close(timeout)


def chunked(pieces):
    """DATA as a chunked request body, one chunk per piece."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n\r\n"


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

class ServerStartError(AssertionError):
    pass


class Server:
    """The greenicorn binary running with a temp config.

    app        contrib app name ("hello", "echo") or a path to a .so, or
               None to write no [app] section
    workers    the `workers` setting
    settings   {section: {key: value}} merged over the defaults written
    args       extra command-line arguments (after -c CONFIG)
    use_config False to pass no -c at all (then give -b yourself via args;
               {port} in args is replaced by the chosen port)
    accesslog  True to log accesses to a temp file (srv.access_log_path)
    wrapper    a command that execs the binary with its arguments (same
               pid), e.g. [sys.executable, "no_io_uring.py"]
    binary     the path to run the binary by (argv[0]), e.g. a symlink to
               it; $GREENICORN by default
    """

    def __init__(self, app="hello", workers=1, settings=None, args=(),
                 use_config=True, accesslog=False, start_retries=3, wrapper=(),
                 binary=None):
        self.app = app
        self.wrapper = list(wrapper)
        self.binary = binary or GREENICORN
        self.workers = workers
        self.settings = settings or {}
        self.args = list(args)
        self.use_config = use_config
        self.accesslog = accesslog
        self.start_retries = start_retries
        self.proc = None
        self.port = None
        self.tmp = None
        self.returncode = None
        self.seen_workers = set()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-e2e-")
        try:
            self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
            if exc_type is not None and os.environ.get("GN_E2E_VERBOSE"):
                sys.stderr.write("---- greenicorn error log ----\n%s\n" % self.log())
            if exc_type is None:
                self.assert_no_sanitizer_report()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "WARNING: ThreadSanitizer")

    def assert_no_sanitizer_report(self):
        """Under -Db_sanitize a report in any process of the server (a
        worker that ASan aborted is replaced, so the test could pass
        anyway) fails the test."""
        log = self.log()
        for mark in self.SANITIZER_MARKS:
            if mark in log:
                raise AssertionError("sanitizer report in the server's log:\n%s" % log)

    @property
    def config_path(self):
        return os.path.join(self.tmp, "greenicorn.conf")

    @property
    def error_log_path(self):
        return os.path.join(self.tmp, "stderr.log")

    @property
    def stdout_path(self):
        return os.path.join(self.tmp, "stdout.log")

    @property
    def access_log_path(self):
        return os.path.join(self.tmp, "access.log")

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def config_sections(self):
        sections = {
            "server": {"bind": "127.0.0.1:%d" % self.port, "backlog": 128},
            "workers": {"workers": self.workers, "graceful_timeout": 10,
                        "keepalive": 5},
            "logging": {"errorlog": "-", "loglevel": "info",
                        "accesslog": self.access_log_path if self.accesslog else ""},
        }
        if self.app is not None:
            mod = self.app if "/" in self.app else app_path(self.app)
            sections["app"] = {"module": mod}
        for section, keys in self.settings.items():
            sections.setdefault(section, {}).update(keys)
        return sections

    def start(self):
        last = None
        for _attempt in range(self.start_retries):
            self.port = free_port()
            args = [a.replace("{port}", str(self.port)) for a in self.args]
            cmd = self.wrapper + [self.binary]
            if self.use_config:
                with open(self.config_path, "w") as f:
                    f.write(render_config(self.config_sections()))
                cmd += ["-c", self.config_path]
            cmd += args
            self.cmd = cmd
            # The parent-death signal stops it even if this test process
            # is SIGKILLed (say by meson's timeout) before it can clean up.
            self.proc = spawn_logged(cmd, self.tmp)
            _live.add(self)
            try:
                self._wait_accepting()
                return
            except ServerStartError as e:
                last = e
                self.stop()
                if "Address already in use" not in self.log():
                    raise
        raise last

    def _wait_accepting(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    "greenicorn exited with %s before accepting on port %d\ncommand: %s\n"
                    "---- log ----\n%s" % (self.proc.returncode, self.port,
                                           " ".join(self.cmd), self.log()))
            # Someone else may hold the port: connecting is not proof
            # enough, our arbiter must also say it bound it.
            if self.listening_line() in self.log():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise ServerStartError("greenicorn did not accept on port %d within %.0f s\n"
                               "command: %s\n---- log ----\n%s"
                               % (self.port, START_TIMEOUT, " ".join(self.cmd), self.log()))

    def listening_line(self):
        return "listening at: http://127.0.0.1:%d (%d)" % (self.port, self.proc.pid)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop the arbiter (SIG, then KILL after TIMEOUT) and make sure no
        worker it forked outlives it. Returns its exit status."""
        if self.proc is None:
            return None
        kids = set(self.seen_workers)
        if self.proc.poll() is None:
            kids.update(children_of(self.proc.pid))
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kids.update(children_of(self.proc.pid))
                self.proc.kill()
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
        self.returncode = self.proc.returncode
        _live.discard(self)
        # Whatever is left of our own process group, then any worker seen.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in kids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.returncode

    def wait_exit(self, timeout):
        """Wait for the arbiter to exit by itself: its status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("greenicorn still running after %.1f s\n---- log ----\n%s"
                                 % (timeout, self.log()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    # -- looking at it -----------------------------------------------------

    def log(self):
        """The error log so far: the arbiter's stderr, and the errorlog
        file when the settings name one (rotated copies, path.N, first)."""
        paths = [self.error_log_path]
        errorlog = self.settings.get("logging", {}).get("errorlog", "-")
        if errorlog != "-":
            rotated = sorted(p for p in os.listdir(os.path.dirname(errorlog))
                             if p.startswith(os.path.basename(errorlog) + "."))
            paths += [os.path.join(os.path.dirname(errorlog), p) for p in rotated]
            paths.append(errorlog)
        text = ""
        for path in paths:
            try:
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text

    # Warnings about the machine rather than the server's work: reuse_port
    # where net.ipv4.tcp_migrate_req is 0 (the test cannot change it).
    MACHINE_WARNINGS = ("net.ipv4.tcp_migrate_req",)

    def warnings(self):
        """The log's WARNING lines, but those about the machine."""
        return [line for line in self.log().splitlines()
                if "[WARNING]" in line and not any(m in line for m in self.MACHINE_WARNINGS)]

    def access_log(self):
        try:
            with open(self.access_log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, regex, timeout=5.0, text=None):
        """The first match of REGEX in the error log, polling up to TIMEOUT."""
        pat = re.compile(regex, re.M)

        def find():
            return pat.search(self.log() if text is None else text())
        try:
            return wait_until(find, timeout, what="log line /%s/" % regex)
        except AssertionError as e:
            raise AssertionError("%s\n---- log ----\n%s" % (e, self.log())) from None

    def worker_pids(self):
        """The worker processes: children of the arbiter that are alive."""
        pids = [p for p in children_of(self.proc.pid) if pid_alive(p)]
        self.seen_workers.update(pids)
        return pids

    def wait_workers(self, n, timeout=5.0):
        """Wait until exactly N workers run and each has logged that it
        booted; their pids."""
        def ready():
            pids = self.worker_pids()
            if len(pids) != n:
                return None
            log = self.log()
            if all(re.search(r"booting worker \d+ with pid %d\b" % p, log) for p in pids):
                return pids
            return None
        try:
            return wait_until(ready, timeout, what="%d booted workers" % n)
        except AssertionError as e:
            raise AssertionError("%s (have %s)\n---- log ----\n%s"
                                 % (e, self.worker_pids(), self.log())) from None

    # -- clients -----------------------------------------------------------

    def http(self, timeout=IO_TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw(self, timeout=IO_TIMEOUT):
        return RawConn(self.port, timeout)

    def get(self, target="/", headers=None, timeout=IO_TIMEOUT):
        """One GET on a fresh connection: (status, headers dict, body)."""
        conn = self.http(timeout)
        try:
            conn.request("GET", target, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()


class KeepAliveLoad:
    """CLIENTS threads sending keep-alive GETs to SRV until stop(). A
    request on a connection the server closed while idle is retried on a
    new one, as RFC 9112 9.3.1 allows for idempotent requests, and counted
    in stats["retried"]; any other error or a non-200 goes to
    stats["failed"]."""

    def __init__(self, srv, clients=4, target="/"):
        self.srv = srv
        self.target = target
        self.stopped = threading.Event()
        self.stats = {"ok": 0, "retried": 0, "failed": []}
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _request(self, conn):
        conn.request("GET", self.target)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            self.stats["failed"].append(r.status)
        self.stats["ok"] += 1
        return r.getheader("Connection") != "close"

    def _client(self):
        conn = self.srv.http(timeout=10)
        while not self.stopped.is_set():
            try:
                if self._request(conn):
                    continue
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.stats["retried"] += 1
            except Exception as e:  # anything else is a failure
                self.stats["failed"].append(repr(e))
            conn.close()
            conn = self.srv.http(timeout=10)
        conn.close()

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(15)
        return self.stats


def run_until_exit(args, timeout=10.0, cwd=None):
    """Start greenicorn ARGS as a server that is expected to exit by itself
    (a start-up failure): (returncode, stdout, stderr). When it does not
    exit within TIMEOUT, kill its process group and fail."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(pdeathsig() + [GREENICORN] + list(args), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=cwd,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if rc is None:
        raise AssertionError("greenicorn %s still running after %.0f s\n---- stderr ----\n%s"
                             % (" ".join(args), timeout, stderr))
    return rc, stdout, stderr


class ServerTestCase(unittest.TestCase):
    """A TestCase that starts servers whose clean-up is registered at
    once, so a failing test still stops them."""

    def start_server(self, **kw):
        srv = Server(**kw)
        srv.__enter__()
        self.addCleanup(srv.__exit__, None, None, None)
        return srv

    @classmethod
    def start_class_server(cls, **kw):
        srv = Server(**kw)
        srv.__enter__()
        cls.addClassCleanup(srv.__exit__, None, None, None)
        return srv
