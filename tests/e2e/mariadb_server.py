"""A throw-away MariaDB server for the e2e tests (Debian's mariadb-server):
mariadb-install-db into a temp dir, then mariadbd started and stopped at
will on a free port of 127.0.0.1 and a unix socket in that dir, with
--skip-grant-tables (any user name connects, no password). Root runs it as
the `mysql` system user (mariadbd refuses root); anyone else as
themselves. The dir is removed by destroy(), which stop() leaves for last.

    MY = MariaDB()
    unittest.addModuleCleanup(MY.destroy)   # first: runs even if set-up fails
    MY.install()
    MY.start()
    MY.sql("CREATE DATABASE t")             # through the mariadb client
    ... MY.port, MY.socket ...

skip_reason() says why it cannot run here (None when it can)."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile

import harness
from harness import wait_until

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
CLIENT = "/usr/bin/mariadb"
START_TIMEOUT = 60.0   # seconds for mariadbd to accept connections
STOP_TIMEOUT = 20.0    # seconds for it to exit after a signal
RUN_AS = "mysql"       # the system user root runs it as


def skip_reason():
    """Why a MariaDB server cannot be started here, or None."""
    for path in (MARIADBD, INSTALL_DB, CLIENT):
        if not os.access(path, os.X_OK):
            return "%s is missing (apt-get install mariadb-server)" % path
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return "no %s user to run mariadbd as (it refuses root)" % RUN_AS
    return None


def _greeting(port):
    """Whether a MariaDB server greets on PORT of 127.0.0.1: its handshake
    packet (protocol version 10) arrives as soon as it accepts."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            head = s.recv(5)
    except OSError:
        return False
    return len(head) == 5 and head[4] == 10


class MariaDB:
    """The server: install() once, then start() and stop() at will."""

    def __init__(self):
        self.proc = None
        self.port = None
        self.tmp = tempfile.mkdtemp(prefix="greenicorn-maria-")
        self.data = os.path.join(self.tmp, "data")
        self.socket = os.path.join(self.tmp, "mysqld.sock")
        self.log_path = os.path.join(self.tmp, "mariadbd.log")
        # Root runs it as RUN_AS, in a dir that user owns, switching before
        # the exec: mariadbd's own --user would switch after, and drop the
        # parent-death signal with its old credentials.
        self.setpriv = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RUN_AS)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self.setpriv = ["setpriv", "--reuid=%d" % pw.pw_uid,
                            "--regid=%d" % pw.pw_gid, "--init-groups"]

    def _as_owner(self, args, pdeathsig=None):
        """ARGS as the data dir's owner, sent PDEATHSIG (a signal name) if
        this process dies first."""
        pre = list(self.setpriv)
        if pdeathsig and shutil.which("setpriv"):
            pre = (pre or ["setpriv"]) + ["--pdeathsig", pdeathsig]
        return pre + ["--"] + args if pre else args

    def install(self):
        """The system tables, in the data dir."""
        out = subprocess.run(
            self._as_owner([INSTALL_DB, "--no-defaults",
                            "--datadir=" + self.data,
                            "--auth-root-authentication-method=normal",
                            "--skip-test-db", "--skip-name-resolve",
                            # Its temp tables in its own dir: installs
                            # sharing /tmp at once sometimes failed
                            # ("Could not remove temporary table").
                            "--tmpdir=" + self.tmp]),
            capture_output=True, text=True, timeout=120, cwd=self.tmp,
            stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise AssertionError("mariadb-install-db failed (%d):\n%s%s" % (
                out.returncode, out.stdout, out.stderr))

    def command(self, port):
        # --no-defaults first: nothing of /etc/mysql applies.
        return [MARIADBD, "--no-defaults", "--datadir=" + self.data,
                "--port=%d" % port, "--bind-address=127.0.0.1",
                "--socket=" + self.socket, "--tmpdir=" + self.tmp,
                "--pid-file=" + os.path.join(self.tmp, "mariadbd.pid"),
                "--log-error=" + self.log_path,
                "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin",
                "--innodb-buffer-pool-size=16M", "--innodb-use-native-aio=0",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=500"]

    def start(self, port=None):
        """Start mariadbd (on PORT, else a free port, trying another if it
        is taken meanwhile) and wait until it greets."""
        for _attempt in range(3):
            self.port = port or harness.free_port()
            # KILL if this process dies first: never left behind.
            self.proc = subprocess.Popen(
                self._as_owner(self.command(self.port), pdeathsig="KILL"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.tmp, start_new_session=True)
            try:
                wait_until(self.ready, START_TIMEOUT, interval=0.05,
                           what="MariaDB on port %d" % self.port)
                return
            except AssertionError:
                exited = self.proc.poll() is not None
                self.stop()
                if port or not exited or "already in use" not in self.log():
                    raise AssertionError("MariaDB did not start:\n" + self.log())
        raise AssertionError("MariaDB found no free port:\n" + self.log())

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("mariadbd exited with %s:\n%s"
                                 % (self.proc.returncode, self.log()))
        return _greeting(self.port) and os.path.exists(self.socket)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stop mariadbd (TERM: a clean shutdown; KILL: a crash, its
        clients' sockets closed at once) and wait until it is gone; KILL
        after STOP_TIMEOUT."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self.proc = None

    def sql(self, statements, database=None):
        """STATEMENTS' output through the mariadb client (tab-separated,
        no column names), over the unix socket."""
        args = [CLIENT, "--no-defaults", "--socket=" + self.socket,
                "--user=root", "--batch", "--skip-column-names"]
        if database:
            args.append("--database=" + database)
        out = subprocess.run(args + ["-e", statements], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise AssertionError("mariadb -e %r failed (%d): %s" % (
                statements, out.returncode, out.stderr))
        return out.stdout

    def app_args(self, **extra):
        """App arguments (host, port, user) for this server."""
        args = {"host": "127.0.0.1", "port": self.port, "user": "root"}
        args.update(extra)
        return args

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
