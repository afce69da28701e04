#!/usr/bin/env python3
"""fleet.py - a fleet of greenicorn hosts behind HAProxy, on one machine.

Three hosts are network namespaces on a private bridge; each runs
greenicorn (its own config, 2 workers: the chat of contrib/apps on /, the
echo app on /load, the built-in health answer on /health); one Redis on
the bridge carries the chat between them; HAProxy on 127.0.0.1 balances over the hosts and takes
a host out when its health check fails. Then try what a fleet is for:

    sudo contrib/deploy/fleet/fleet.py up         # prints the front URL
    sudo contrib/deploy/fleet/fleet.py upgrade    # USR2 + TERM, one host at a time
    sudo contrib/deploy/fleet/fleet.py reload     # HUP on every host
    sudo contrib/deploy/fleet/fleet.py kill h2    # SIGKILL its process group
    sudo contrib/deploy/fleet/fleet.py start h2   # and bring it back
    sudo contrib/deploy/fleet/fleet.py status
    sudo contrib/deploy/fleet/fleet.py down       # everything it made, gone

Run it as root (namespaces), from the checkout after `meson compile -C
build` (or give --greenicorn and --apps). Needs iproute2, haproxy and
redis-server. Nothing is added to the machine's own network: the bridge,
the veth pairs and the addresses (10.X.Y.0/24, picked clear of the
machine's routes) live in the fleet's namespaces; HAProxy, in the root
namespace, reaches the hosts through the bridge's namespace (the
`namespace` keyword of its `server` lines: on real machines that keyword
goes and the addresses are the hosts'). Names start with the fleet's name
(`gnfleet` unless --name), so `down` finds everything by it.

tests/e2e/test_fleet.py drives the same class (Fleet) under wrk's load.
"""
import argparse
import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
HOSTS = ("h1", "h2", "h3")
HOST_PORT = 8000        # each host's greenicorn, inside its namespace
REDIS_PORT = 6379       # on the bridge's address, in the bridge's namespace
CHANNEL = "greenicorn:chat"
WORKERS = 2
WORKER_CONNECTIONS = 1000
CLONE_NEWNET = 0x40000000


def log(msg):
    sys.stderr.write("fleet: %s\n" % msg)
    sys.stderr.flush()


def run(*cmd, check=True):
    """Run CMD (an `ip ...` usually); its stdout. A failure raises with
    what the command said."""
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                r.stderr.strip()))
    return r.stdout


def wait_until(pred, timeout, what, interval=0.05):
    """PRED's first true value, polling; RuntimeError after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """True while PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return sorted(p for p in set(kids) if pid_alive(p))


def netns_list():
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def netns_pids(ns):
    out = run("ip", "netns", "pids", ns, check=False)
    return [int(x) for x in out.split()]


def in_netns(ns, fn):
    """FN() run on a thread of its own moved into namespace NS (setns
    changes the calling thread only): a socket it makes stays in NS."""
    box = {}

    def body():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open("/run/netns/" + ns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns " + ns)
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(30)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def http_status(sock, path, timeout=2.0):
    """One GET on SOCK (then closed): the status code."""
    with sock:
        sock.settimeout(timeout)
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: fleet\r\nConnection: close\r\n\r\n"
                     % path.encode())
        head = b""
        while b"\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                break
            head += data
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return int(m.group(1)) if m else 0


def used_networks():
    """The IPv4 networks the root namespace routes or holds addresses in."""
    nets = []
    for line in run("ip", "-4", "route", "show", "table", "all").splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "prohibit", "blackhole"):
            word = line.split()[1]
        try:
            if word != "default":
                nets.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            pass
    for line in run("ip", "-4", "-o", "addr").splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            nets.append(ipaddress.ip_network(m.group(1), strict=False))
    return nets


def pick_subnet(seed):
    """A 10.X.Y.0/24 that overlaps nothing the machine routes; SEED picks
    where the search starts (so two fleets at once tend to differ)."""
    used = used_networks()
    for k in range(250 * 50):
        n = (seed + k) % (250 * 50)
        net = ipaddress.ip_network("10.%d.%d.0/24" % (200 + n // 250, n % 250 + 1))
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free 10.X.Y.0/24 in 10.200-249")


def resp(path, *args, timeout=2.0):
    """One Redis command over the unix socket PATH: its reply (int,
    bytes, list or an exception instance)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(out)
        f = s.makefile("rb")

        def reply():
            line = f.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"+":
                return rest
            if kind == b"-":
                return RuntimeError(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:n]
            if kind == b"*":
                return [reply() for _ in range(int(rest))]
            raise RuntimeError("unexpected Redis reply %r" % line)
        with f:
            return reply()


class Fleet:
    """The fleet NAME with its files in WORKDIR. PDEATHSIG: the processes
    it starts get TERM when the one that started them dies (tests), rather
    than outliving it (the command line's `up`)."""

    def __init__(self, name, workdir, greenicorn, apps, port=8080, subnet=None,
                 pdeathsig=False):
        self.name = name
        self.workdir = os.path.abspath(workdir)
        self.greenicorn = os.path.abspath(greenicorn)
        self.apps = os.path.abspath(apps)
        self.port = port
        self.subnet = subnet
        self.pdeathsig = pdeathsig
        self.procs = []   # the Popens of this process, to reap

    # -- names and addresses ----------------------------------------------

    @property
    def lb(self):
        """The namespace of the bridge (and of Redis)."""
        return self.name + "-lb"

    def ns(self, host):
        return "%s-%s" % (self.name, host)

    def namespaces(self):
        return [self.lb] + [self.ns(h) for h in HOSTS]

    def addr(self, host=None):
        """The bridge's address (HOST None) or HOST's: .1, .11, .12 ..."""
        net = ipaddress.ip_network(self.subnet)
        return str(net.network_address + (1 if host is None else 10 + HOSTS.index(host) + 1))

    def hostdir(self, host):
        return os.path.join(self.workdir, host)

    def pidfile(self, host):
        return os.path.join(self.hostdir(host), "greenicorn.pid")

    def errorlog(self, host):
        return os.path.join(self.hostdir(host), "error.log")

    @property
    def binary(self):
        """The greenicorn the hosts run: a copy, which upgrade() replaces."""
        return os.path.join(self.workdir, "bin", "greenicorn")

    @property
    def stats_socket(self):
        return os.path.join(self.workdir, "haproxy.sock")

    @property
    def redis_socket(self):
        return os.path.join(self.workdir, "redis.sock")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def save(self):
        with open(os.path.join(self.workdir, "fleet.json"), "w") as f:
            json.dump({"name": self.name, "greenicorn": self.greenicorn, "apps": self.apps,
                       "port": self.port, "subnet": self.subnet}, f)

    @classmethod
    def load(cls, workdir):
        with open(os.path.join(workdir, "fleet.json")) as f:
            s = json.load(f)
        return cls(s["name"], workdir, s["greenicorn"], s["apps"], s["port"], s["subnet"])

    # -- processes ----------------------------------------------------------

    def spawn(self, cmd, logname, ns=None):
        """CMD in namespace NS (None: this one), in a session of its own,
        its output in WORKDIR/LOGNAME."""
        if ns is not None:
            cmd = ["ip", "netns", "exec", ns] + cmd
        if self.pdeathsig and shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "TERM", "--"] + cmd
        with open(os.path.join(self.workdir, logname), "ab") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=self.workdir,
                                 start_new_session=True)
        self.procs.append(p)
        for q in self.procs:   # reap what has ended
            q.poll()
        return p

    # -- up ---------------------------------------------------------------

    def up(self, timeout=30):
        """Make the network, start Redis, the hosts and HAProxy, and wait
        until HAProxy sees every host UP. Half made, it undoes itself."""
        os.makedirs(os.path.join(self.workdir, "bin"), exist_ok=True)
        if self.subnet is None:
            self.subnet = pick_subnet(os.getpid())
        self.save()
        try:
            self.make_network()
            self.install_binary(self.greenicorn)
            self.start_redis(timeout)
            for h in HOSTS:
                self.start_host(h, wait=False)
            for h in HOSTS:
                self.wait_host(h, timeout)
            self.start_haproxy()
            for h in HOSTS:
                self.wait_state(h, "UP", timeout)
        except BaseException:
            self.down(keep_files=True)   # the logs say why
            os.unlink(os.path.join(self.workdir, "fleet.json"))
            raise
        return self

    def make_network(self):
        """A bridge in the lb namespace, and per host a namespace with a
        veth pair: eth0 inside, HOST on the bridge."""
        for ns in self.namespaces():
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        run("ip", "-n", self.lb, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.lb, "addr", "add", "%s/%d" % (self.addr(), prefix), "dev", "br0")
        run("ip", "-n", self.lb, "link", "set", "br0", "up")
        for h in HOSTS:
            run("ip", "-n", self.lb, "link", "add", h, "type", "veth",
                "peer", "name", "eth0", "netns", self.ns(h))
            run("ip", "-n", self.lb, "link", "set", h, "master", "br0", "up")
            run("ip", "-n", self.ns(h), "addr", "add", "%s/%d" % (self.addr(h), prefix),
                "dev", "eth0")
            run("ip", "-n", self.ns(h), "link", "set", "eth0", "up")

    def install_binary(self, src):
        """Put SRC where the hosts run greenicorn from, as a package
        upgrade does: a new file renamed over the old (a running arbiter
        keeps its own; the next exec gets the new one)."""
        tmp = self.binary + ".new"
        shutil.copy2(src, tmp)
        os.rename(tmp, self.binary)

    def start_redis(self, timeout):
        self.spawn(["redis-server", "--bind", self.addr(), "--port", str(REDIS_PORT),
                    "--unixsocket", self.redis_socket, "--unixsocketperm", "700",
                    # The bridge is the fleet's own: no password on it.
                    "--protected-mode", "no",
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--dir", self.workdir], "redis.log", ns=self.lb)

        def pong():
            try:
                return resp(self.redis_socket, "PING") == b"PONG"
            except OSError:
                return False
        wait_until(pong, timeout, "redis-server to answer PING")

    def host_config(self, host):
        a = os.path.join
        return "\n".join([
            "# %s of fleet %s (written by contrib/deploy/fleet/fleet.py)" % (host, self.name),
            "[server]",
            "bind = %s:%d" % (self.addr(host), HOST_PORT),
            "backlog = 1024",
            "",
            "[workers]",
            "workers = %d" % WORKERS,
            "worker_connections = %d" % WORKER_CONNECTIONS,
            "graceful_timeout = 10",
            "# Longer than HAProxy keeps an idle connection to a server.",
            "keepalive = 75",
            "",
            "[http]",
            "# HAProxy's check, answered by each worker itself (no app).",
            "health_check_path = /health",
            "",
            "[process]",
            "pidfile = %s" % self.pidfile(host),
            "",
            "[logging]",
            "errorlog = %s" % self.errorlog(host),
            "loglevel = info",
            "",
            "[app]",
            "module = %s" % a(self.apps, "chat.so"),
            "",
            "[app.args]",
            "host = %s" % self.addr(),
            "port = %d" % REDIS_PORT,
            "channel = %s" % CHANNEL,
            "",
            "[app:load]",
            "module = %s" % a(self.apps, "echo.so"),
            "mount = /load",
            "",
        ])

    def start_host(self, host, wait=True, timeout=30):
        """Start greenicorn on HOST (again, after a kill)."""
        os.makedirs(self.hostdir(host), exist_ok=True)
        # A pidfile left by a SIGKILL stays: greenicorn replaces it (its
        # pid is dead, or a zombie waiting for its parent to reap it).
        conf = os.path.join(self.hostdir(host), "greenicorn.conf")
        with open(conf, "w") as f:
            f.write(self.host_config(host))
        p = self.spawn([self.binary, "-c", conf], "%s/stderr.log" % host, ns=self.ns(host))
        if wait:
            self.wait_host(host, timeout, pid=p.pid)
        return p.pid

    def arbiter(self, host):
        """The pid of HOST's arbiter (its pidfile), 0 if none runs."""
        pid = read_pid(self.pidfile(host))
        return pid if pid and pid_alive(pid) else 0

    def log(self, host):
        try:
            with open(self.errorlog(host), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def booted(self, host, arbiter):
        """ARBITER's workers, once all WORKERS have booted (else None)."""
        kids = children_of(arbiter)
        text = self.log(host)
        if len(kids) == WORKERS and all(
                re.search(r"booting worker \d+ with pid %d\b" % k, text) for k in kids):
            return kids
        return None

    def wait_host(self, host, timeout, pid=None):
        """Until HOST's arbiter (PID, else its pidfile's) has its workers
        booted and /health answers 200 on the host's address."""
        def ready():
            a = pid or self.arbiter(host)
            return a if a and pid_alive(a) and read_pid(self.pidfile(host)) == a \
                and self.booted(host, a) else None
        try:
            a = wait_until(ready, timeout, "%s's arbiter and %d workers" % (host, WORKERS))
        except RuntimeError as e:
            raise RuntimeError("%s\n---- %s ----\n%s" % (e, self.errorlog(host),
                                                        self.log(host)[-3000:])) from None
        wait_until(lambda: self.direct_status(host, "/health") == 200, timeout,
                   "%s to answer /health" % host)
        return a

    def direct_status(self, host, path):
        """GET PATH on HOST's own address (from the bridge's namespace)."""
        def get():
            s = socket.socket()
            try:
                s.settimeout(2)
                s.connect((self.addr(host), HOST_PORT))
            except OSError:
                s.close()
                return 0
            try:
                return http_status(s, path)
            except OSError:
                return 0
        return in_netns(self.lb, get)

    def haproxy_config(self):
        servers = "\n".join(
            "    server %s %s:%d namespace %s" % (h, self.addr(h), HOST_PORT, self.lb)
            for h in HOSTS)
        pins = "\n".join(
            "    use-server %s if { req.hdr(x-fleet-host) -m str %s }" % (h, h) for h in HOSTS)
        with open(os.path.join(HERE, "haproxy.cfg.in")) as f:
            text = f.read()
        return (text.replace("@STATS@", self.stats_socket)
                .replace("@FRONT@", "127.0.0.1:%d" % self.port)
                .replace("@NETNS@", self.lb)
                .replace("@MAXCONN@", str(WORKERS * WORKER_CONNECTIONS))
                .replace("@PINS@", pins)
                .replace("@SERVERS@", servers))

    def start_haproxy(self):
        cfg = os.path.join(self.workdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_config())
        run("haproxy", "-c", "-q", "-f", cfg)
        p = self.spawn(["haproxy", "-db", "-f", cfg], "haproxy.log")
        with open(os.path.join(self.workdir, "haproxy.pid"), "w") as f:
            f.write("%d\n" % p.pid)
        wait_until(lambda: os.path.exists(self.stats_socket) and self._stats_ok(), 15,
                   "HAProxy's stats socket")

    def _stats_ok(self):
        try:
            return bool(self.stats())
        except OSError:
            return False

    # -- HAProxy's view -----------------------------------------------------

    def haproxy_command(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.stats_socket)
            s.sendall(command.encode() + b"\n")
            out = b""
            while True:
                data = s.recv(65536)
                if not data:
                    return out.decode()
                out += data

    def stats(self):
        """HAProxy's `show stat` for the hosts: {host: {field: value}}."""
        text = self.haproxy_command("show stat")
        lines = [line for line in text.splitlines() if line]
        if not lines or not lines[0].startswith("# "):
            return {}
        fields = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(fields, line.split(",")))
            if row.get("pxname") == "hosts" and row.get("svname") in HOSTS:
                out[row["svname"]] = row
        return out

    def state(self, host):
        """HAProxy's status of HOST: UP, DOWN, "UP 1/2" ... (its check)."""
        return self.stats()[host]["status"]

    def wait_state(self, host, state, timeout):
        """Until HAProxy says HOST is STATE (exactly: not "DOWN 1/2")."""
        return wait_until(lambda: self.state(host) == state, timeout,
                          "HAProxy to mark %s %s (now %s)" % (host, state, self.state(host)),
                          interval=0.01)

    def subscribers(self):
        """How many chat workers are subscribed to the channel in Redis."""
        return resp(self.redis_socket, "PUBSUB", "NUMSUB", CHANNEL)[1]

    # -- operations -----------------------------------------------------------

    def upgrade(self, host, timeout=30):
        """USR2 to HOST's arbiter; once the new arbiter's workers have
        booted (and serve beside the old ones on the inherited socket),
        TERM the old arbiter and wait for it to go. (old, new) pids."""
        old = self.arbiter(host)
        if not old:
            raise RuntimeError("%s runs no arbiter" % host)
        os.kill(old, signal.SIGUSR2)
        new = wait_until(lambda: (lambda p: p if p not in (0, old) else None)(
            read_pid(self.pidfile(host))), timeout, "%s's new arbiter" % host)
        wait_until(lambda: read_pid(self.pidfile(host) + ".oldbin") == old, timeout,
                   "%s's pidfile.oldbin" % host)
        wait_until(lambda: self.booted(host, new), timeout,
                   "%s's new arbiter's %d workers" % (host, WORKERS))
        old_workers = [k for k in children_of(old) if k != new]
        os.kill(old, signal.SIGTERM)
        wait_until(lambda: not pid_alive(old) and not any(map(pid_alive, old_workers)),
                   timeout, "%s's old arbiter and workers to exit" % host)
        return old, new

    def reload(self, hosts=HOSTS, timeout=30):
        """HUP every host at once; wait until each has a new generation of
        workers and the old one is gone. {host: (old workers, new)}."""
        before = {}
        for h in hosts:
            a = self.arbiter(h)
            before[h] = (a, children_of(a), self.log(h).count("new worker(s) up"))
        for h in hosts:
            os.kill(before[h][0], signal.SIGHUP)
        out = {}
        for h in hosts:
            a, old, n = before[h]
            wait_until(lambda: self.log(h).count("new worker(s) up") > n, timeout,
                       "%s's reload" % h)
            new = wait_until(lambda: (lambda k: k if k and not set(k) & set(old) else None)(
                self.booted(h, a)), timeout, "%s's old workers gone" % h)
            wait_until(lambda: not any(map(pid_alive, old)), timeout,
                       "%s's old workers to exit" % h)
            out[h] = (old, new)
        return out

    def kill(self, host):
        """SIGKILL HOST's arbiter and workers: its whole process group.
        The pids killed."""
        a = self.arbiter(host)
        if not a:
            raise RuntimeError("%s runs no arbiter" % host)
        pids = [a] + children_of(a)
        os.killpg(os.getpgid(a), signal.SIGKILL)
        wait_until(lambda: not any(map(pid_alive, pids)), 10, "%s's processes to die" % host)
        for q in self.procs:
            q.poll()
        return pids

    # -- down -----------------------------------------------------------------

    def down(self, keep_files=False):
        """Stop everything the fleet started and remove its namespaces
        (their links go with them); the work dir too unless KEEP_FILES."""
        cleanup(self.name, self.workdir, remove=not keep_files)
        for q in self.procs:
            try:
                q.wait(5)
            except subprocess.TimeoutExpired:
                pass


def marked_processes(mark):
    """Pids of the root namespace's processes whose command line holds
    MARK (the fleet's work dir: HAProxy, and `ip netns exec` before it
    execs)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if mark.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


def cleanup(name, workdir=None, remove=True):
    """Everything of the fleet NAME: SIGKILL the processes in its
    namespaces and those whose command line names WORKDIR, delete the
    namespaces, remove WORKDIR (if REMOVE). Safe to call on what is half
    made or already gone."""
    mark = workdir and os.path.abspath(workdir) + "/"
    spaces = [ns for ns in netns_list() if ns in
              [name + "-lb"] + ["%s-%s" % (name, h) for h in HOSTS]]
    for _round in range(3):
        pids = [p for ns in spaces for p in netns_pids(ns)]
        if mark:
            pids += marked_processes(mark)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not pids:
            break
        time.sleep(0.1)
    for ns in spaces:
        run("ip", "netns", "del", ns, check=False)
    if workdir and remove:
        shutil.rmtree(workdir, ignore_errors=True)


# -- the command line --------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp/greenicorn-fleet",
                    help="where configs, logs and sockets go")
    ap.add_argument("--name", default="gnfleet", help="prefix of the namespaces")
    ap.add_argument("--port", type=int, default=8080, help="HAProxy's port on 127.0.0.1")
    ap.add_argument("--greenicorn", default=os.path.join(REPO, "build", "greenicorn"))
    ap.add_argument("--apps", default=os.path.join(REPO, "build", "contrib", "apps"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="make the fleet")
    sub.add_parser("down", help="remove it: namespaces, processes, files")
    sub.add_parser("status", help="HAProxy's view, the arbiters, the chat's subscribers")
    p = sub.add_parser("upgrade", help="USR2 then TERM of the old arbiter, host by host")
    p.add_argument("hosts", nargs="*", default=list(HOSTS))
    sub.add_parser("reload", help="HUP every host")
    p = sub.add_parser("kill", help="SIGKILL a host's process group")
    p.add_argument("host", choices=HOSTS)
    p = sub.add_parser("start", help="start greenicorn on a host again")
    p.add_argument("host", choices=HOSTS)
    args = ap.parse_args(argv)

    if args.cmd == "up":
        if os.path.exists(os.path.join(args.dir, "fleet.json")):
            sys.exit("fleet: %s holds a fleet already (fleet.py down first)" % args.dir)
        cleanup(args.name)  # leftovers of a fleet whose files are gone
        f = Fleet(args.name, args.dir, args.greenicorn, args.apps, args.port).up()
        print("fleet %s is up: %s (chat: open it in two browsers; /load/ echoes)"
              % (f.name, f.url))
        print("hosts %s on %s, Redis on %s:%d; files in %s"
              % (", ".join("%s=%s" % (h, f.addr(h)) for h in HOSTS), f.subnet,
                 f.addr(), REDIS_PORT, f.workdir))
        return
    if args.cmd == "down":
        name = args.name
        if os.path.exists(os.path.join(args.dir, "fleet.json")):
            name = Fleet.load(args.dir).name
        cleanup(name, args.dir)
        print("fleet %s: down" % name)
        return
    f = Fleet.load(args.dir)
    if args.cmd == "status":
        stats = f.stats()
        for h in HOSTS:
            s = stats[h]
            print("%s %-15s haproxy %-8s served %-7s arbiter %s workers %s"
                  % (h, f.addr(h), s["status"], s["stot"], f.arbiter(h) or "-",
                     " ".join(map(str, children_of(f.arbiter(h)))) if f.arbiter(h) else "-"))
        print("chat subscribers in Redis: %d" % f.subscribers())
    elif args.cmd == "upgrade":
        f.install_binary(f.greenicorn)
        for h in args.hosts:
            old, new = f.upgrade(h)
            print("%s: arbiter %d -> %d" % (h, old, new))
    elif args.cmd == "reload":
        for h, (old, new) in f.reload().items():
            print("%s: workers %s -> %s" % (h, old, new))
    elif args.cmd == "kill":
        print("%s: killed %s" % (args.host, f.kill(args.host)))
        f.wait_state(args.host, "DOWN", 30)
        print("%s: HAProxy marks it DOWN" % args.host)
    elif args.cmd == "start":
        pid = f.start_host(args.host)
        f.wait_state(args.host, "UP", 30)
        print("%s: arbiter %d, HAProxy marks it UP" % (args.host, pid))


if __name__ == "__main__":
    main()
