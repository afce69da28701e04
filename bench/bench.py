#!/usr/bin/env python3
"""greenicorn against the servers users would pick instead, in one run.

    bench/run                       # every scenario, every peer installed
    bench/run sleep plaintext-50    # some scenarios
    bench/run --duration 3          # shorter runs (a smoke test)
    bench/run --peers greenicorn,nginx

Each peer serves an equivalent handler on its own 127.0.0.1 port with the
same number of workers; wrk drives it (httpload, bench/httpload.c, the
sleep rows, where one wrk thread would be the limit). On a machine with 2 or more CPUs the
server runs on CPU 0 and wrk on CPU 1 (taskset), so a peer's requests/s is
capped by what one wrk thread drives: the server's CPU time per request
(user + system of all its processes over the run, from /proc, divided by
the requests) is the figure that shows the design. Every scenario prints
requests/s, p50/p99 latency, errors, CPU per request and the ratio
greenicorn/peer, and the targets of issues #7 and #18 as met or not met.

Issue #18's scenarios (plaintext-50, new-connection, idle-10000, sleep
warm, cold and cold in 4 s, pipelined-16, plaintext-2workers) run 5 times
per server in turns, greenicorn and nginx alternating, the other peers
once in the middle turn (--repeat, --others-repeat): each figure is the
median, with the min-max of the runs beside it. plaintext-2workers puts
the server's 2 workers and wrk's 2 threads on both CPUs, none pinned.

Each scenario is also drawn (bench/plots.py, Debian's python3-matplotlib
under /usr/bin/python3): CPU per request and requests/s per server with
the runs' min-max as error bars, and the latency percentiles, as PNG or
SVG files in --plots DIR (bench/plots/ beside RESULTS.md), linked from
the report; and issue #18's targets on one scale.

Peers: nginx (return 200), Gunicorn + gevent (a WSGI hello), h2o (a static
small file), lwan (not packaged in Debian 12: said so). Network load stays
on loopback, bounded in connections and time; everything started is
stopped, even on failure.

The tls-* scenarios serve the same hello over TLS with one ECDSA P-256
certificate made for the run, greenicorn against nginx (same ciphers and
TLS 1.3 suites, server preference): keep-alive requests with wrk over
https, and full handshakes per second with bench/tlsload (C, a bare TLS 1.3
client of its own, epoll, on the load CPU; no session resumed), and the targets of
issue #16.

The ws-* scenarios drive WebSocket servers with bench/wsload (C, epoll, on
the load CPU): greenicorn with ws_echo.so (ws_broadcast.so for the
broadcast), Node's ws (bench/ws_node.js) and gevent-websocket under
Gunicorn (bench/ws_gevent.py); echo round trips/s and server CPU per
message, KB of RSS per idle WebSocket, time until the last of 5,000
sockets receives a broadcast, and the targets of issue #13.

sio-echo-50 drives Socket.IO servers with wsload's sio mode (acked "echo"
events over Engine.IO's WebSocket transport): greenicorn with sio_chat.so,
Node's socket.io 4.8 (bench/sio_node.js, from npm into a cache folder of
the build directory) and python-socketio on gevent (bench/sio_gevent.py),
one process each, and issue #15's target.
"""
import argparse
import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("GN_BUILD") or os.path.join(REPO, "build")
HELLO = b"Hello, World!"
CPUS = os.cpu_count() or 1
SERVER_CPUS = "0"
CLIENT_CPUS = "1" if CPUS >= 2 else "0"
BOTH_CPUS = "0-1" if CPUS >= 2 else "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH = os.path.dirname(os.path.abspath(__file__))
WSLOAD = os.path.join(BUILD, "bench", "wsload")
HTTPLOAD = os.path.join(BUILD, "bench", "httpload")
TLSLOAD = os.path.join(BUILD, "bench", "tlsload")
# The tls-* scenarios' ciphers and TLS 1.3 suites, on both servers:
# greenicorn's defaults (config/settings.c), given to nginx too, server
# preference on both, so both negotiate the same suite.
TLS_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
PLOTS = os.path.join(BENCH, "plots")  # --plots' default, beside RESULTS.md

sys.path.insert(0, BENCH)
import plots  # noqa: E402 (bench/plots.py; matplotlib only once it draws)


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def descendants(pid):
    """PID and every process below it (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            pass
    out, pending = [], [pid]
    while pending:
        p = pending.pop()
        out.append(p)
        pending.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def runqueue_ms(pids):
    """Milliseconds PIDS have waited, runnable, for a CPU (the second
    field of /proc/PID/schedstat, all their threads'): on a machine shared
    with other work, the time the server was held back by it."""
    total = 0
    for p in pids:
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/schedstat" % (p, tid)) as f:
                    total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e6


# The sleep rows judge latency to a few milliseconds, and a machine's own
# processes preempt a pinned core all the same: on the VM these figures come
# from, its agent (nice -10) takes 8-22 ms of CPU 0 or 1 about once a second,
# and each such stall puts a thousand answers past 105 ms (sched_switch
# traces, bench/README.md "Shielding the latency rows"). Their servers and
# httpload run at SCHED_FIFO priority 1, so only the kernel's own threads
# and other real-time work come before them. A server that would take its
# whole core still leaves the kernel's normal tasks their reserved share
# (5 %, sched_rt_runtime_us), which is why the rows that saturate a core
# (plaintext, new connections) run at the normal priority.
REALTIME = ["chrt", "--fifo", "1"]
_realtime_ok = None


def realtime_prefix(wanted):
    """The command prefix that runs a process of a latency row at SCHED_FIFO
    1, or [] when WANTED is false or the machine refuses it (not root, no
    chrt, a container without CAP_SYS_NICE): checked once."""
    global _realtime_ok
    if not wanted:
        return []
    if _realtime_ok is None:
        try:
            _realtime_ok = subprocess.run(REALTIME + ["true"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL).returncode == 0
        except OSError:
            _realtime_ok = False
    return list(REALTIME) if _realtime_ok else []


def rss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


# ---------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------

class Peer:
    """A server under test, started for one scenario."""
    name = "?"
    needs = ()
    kinds = ("http",)  # the scenarios' kinds it serves: "http", "ws"

    def __init__(self, workdir, workers=1, cpus=SERVER_CPUS):
        self.dir = tempfile.mkdtemp(prefix="bench-%s-" % self.name, dir=workdir)
        # nginx's and h2o's workers drop root for nobody: let them in.
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.workers = workers
        self.cpus = cpus
        self.proc = None

    @classmethod
    def available(cls):
        missing = [n for n in cls.needs if not (shutil.which(n) or os.path.exists(n))]
        return None if not missing else "not installed (%s)" % ", ".join(missing)

    @classmethod
    def missing_for(cls, scenario):
        """Why this peer cannot run SCENARIO although installed, or None."""
        return None

    def command(self, scenario):
        raise NotImplementedError

    def supports(self, scenario):
        return True

    def start(self, scenario):
        cmd = (realtime_prefix(scenario.realtime) + ["taskset", "-c", self.cpus]
               + self.command(scenario))
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_port(self.port):
            self.stop()
            with open(self.log_path, errors="replace") as f:
                raise RuntimeError("%s did not start:\n%s" % (self.name, f.read()[-2000:]))
        time.sleep(0.5)  # its workers up, not only the socket

    def pids(self):
        return descendants(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def url(self, scenario):
        return "%s://127.0.0.1:%d%s" % ("https" if scenario.tls else "http", self.port,
                                        scenario.path_for(self))


class Greenicorn(Peer):
    name = "greenicorn"
    build = BUILD
    kinds = ("http", "ws", "statsd", "tls-handshake", "sio")
    logging = ""  # more [logging] lines (the statsd variants')
    workers_extra = ""  # more [workers] lines (greenicorn-epoll's engine)
    server_extra = ""  # more [server] lines (greenicorn-nobalance's)

    @classmethod
    def available(cls):
        exe = os.path.join(cls.build, "greenicorn")
        return None if os.path.exists(exe) else "not installed (%s)" % exe

    @classmethod
    def missing_for(cls, scenario):
        module = scenario.greenicorn_module(cls.build)
        if os.path.exists(module):
            return None
        return "not built (%s; %s)" % (os.path.relpath(module, cls.build),
                                       scenario.greenicorn_needs)

    def command(self, scenario):
        conf = os.path.join(self.dir, "greenicorn.conf")
        app = scenario.greenicorn_app
        args = dict(scenario.greenicorn_args)
        if app == "static":
            with open(os.path.join(self.dir, "big.bin"), "wb") as f:
                f.write(b"x" * (1 << 20))
            args["root"] = self.dir
        with open(conf, "w") as f:
            f.write(textwrap.dedent("""\
                [server]
                bind = %s127.0.0.1:%d
                backlog = 8192
                %s
                [workers]
                workers = %d
                worker_connections = 12000
                keepalive = 60
                timeout = 60
                max_blocking_ms = 0
                %s
                [logging]
                loglevel = warning
                %s
                [app]
                module = %s
                """ % ("tls://" if scenario.tls else "", self.port, self.server_extra,
                       self.workers, self.workers_extra, self.logging,
                       scenario.greenicorn_module(self.build))))
            if scenario.tls:
                cert, key = tls_cert(os.path.dirname(self.dir))
                f.write("[tls]\ncertfile = %s\nkeyfile = %s\nciphers = %s\n"
                        % (cert, key, TLS_CIPHERS))
            if args:
                f.write("[app.args]\n")
            for key, value in args.items():
                f.write("%s = %s\n" % (key, value))
        return [os.path.join(self.build, "greenicorn"), "-c", conf]


class GreenicornBase(Greenicorn):
    """greenicorn from another build directory (--base BUILD, e.g. the
    commit before a change), run beside the first in the same invocation:
    its row's ratios are the change's effect."""
    name = "greenicorn-base"
    build = None  # set by --base


class GreenicornEpoll(Greenicorn):
    """greenicorn with io_engine = epoll, beside the default io_uring one
    (net/uring.c) in the same invocation: plain HTTP and WebSocket, the
    connections the ring carries."""
    name = "greenicorn-epoll"
    kinds = ("http", "ws")
    workers_extra = "io_engine = epoll"


class GreenicornVariant(Greenicorn):
    """greenicorn configured otherwise, run only where a scenario names it
    among its peers (the cold rows) or its variants: elsewhere it would be
    greenicorn again."""
    kinds = ("http",)

    def supports(self, scenario):
        return self.name in (scenario.peers or ()) + scenario.variants


class GreenicornBatch(GreenicornVariant):
    """greenicorn with io_uring_batch_wait = 20: a busy worker's ring waits
    up to 20 us for a few dozen completions to serve them in one turn, the
    default until a KVM guest measured it costing latency and shared cores'
    requests/s for at most 9 % of a lone worker's CPU; beside the default
    in the plaintext rows, so each invocation says what it would give."""
    name = "greenicorn-batch"
    workers_extra = "io_uring_batch_wait = 20"


class GreenicornNoBalance(GreenicornVariant):
    """greenicorn with accept_balance = off: whichever worker is quickest
    takes each new connection, as before the balance board
    (workers/balance.h); beside the default in plaintext-2workers, where
    wrk's threads share the two cores with the workers, so that each
    invocation says what spreading the connections evenly costs or gives
    there."""
    name = "greenicorn-nobalance"
    server_extra = "accept_balance = off"


class GreenicornAffinity(GreenicornVariant):
    """greenicorn with worker_cpu_affinity = auto and reuse_port = on:
    each worker on a CPU of its own, its socket taking the connections that
    CPU received (SO_INCOMING_CPU; docs/operating.md); beside the default
    in plaintext-2workers, where wrk's threads share the two cores with
    the workers, as nginx-affinity is nginx's counterpart."""
    name = "greenicorn-affinity"
    server_extra = "reuse_port = on"
    workers_extra = "worker_cpu_affinity = auto"


class GreenicornPrealloc(GreenicornVariant):
    """greenicorn with stack_prealloc = the scenario's connections: each
    worker readies that many requests at boot (their stacks, read buffers,
    responses and send copies, touched), as a deployment expecting a burst
    on a fresh worker would set it; beside the default in the cold rows,
    whose first second is page faults without it."""
    name = "greenicorn-prealloc"

    def command(self, scenario):
        self.workers_extra = "stack_prealloc = %d" % scenario.connections
        return Greenicorn.command(self, scenario)


class GreenicornHugePages(GreenicornVariant):
    """greenicorn with glibc's malloc asking for transparent huge pages
    (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc 2.35 and later): its heap
    (the read buffers, responses and send copies of a burst) is faulted in
    2 MiB at a time instead of 4 KiB, as a deployment that meets bursts on
    fresh workers may run it (docs/operating.md); beside the default in the
    cold rows. The coroutine stacks are mmap'd apart and keep 4 KiB pages."""
    name = "greenicorn-thp"
    TUNABLE = "glibc.malloc.hugetlb=1"

    @classmethod
    def available(cls):
        why = super().available()
        if why:
            return why
        try:
            with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
                if "[never]" in f.read():
                    return "transparent huge pages are off (transparent_hugepage/enabled)"
        except OSError:
            return "no transparent huge pages in this kernel"
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
        if version.startswith("glibc ") and \
                tuple(int(x) for x in version.split()[1].split(".")[:2]) < (2, 35):
            return "%s has no glibc.malloc.hugetlb (2.35 and later)" % version
        return None

    def command(self, scenario):
        return ["env", "GLIBC_TUNABLES=" + self.TUNABLE] + Greenicorn.command(self, scenario)


class GreenicornStack64(GreenicornVariant):
    """greenicorn with stack_size = 64 (KiB) instead of 256: the stacks of
    a burst lie closer in the address space, so their top pages, the
    only ones a sleeping request touches, share page-table pages (a 2 MiB
    stretch holds 16 stacks and their guards instead of 6): a fresh page
    table costs far more than a page on some virtual machines
    (docs/operating.md); beside the default in the cold rows."""
    name = "greenicorn-stack64"
    workers_extra = "stack_size = 64"


class GreenicornEpollBase(GreenicornBase):
    """greenicorn-epoll from the --base build: a change's effect on the
    epoll engine, measured in the same invocation."""
    name = "greenicorn-epoll-base"
    kinds = ("http", "ws")
    workers_extra = "io_engine = epoll"


class GreenicornStatsdRefused(Greenicorn):
    """statsd_host on a loopback port nobody listens on: every datagram
    is answered by ICMP port unreachable, and the next send fails
    (ECONNREFUSED, counted, not retried)."""
    name = "greenicorn-statsd-refused"
    kinds = ("statsd",)

    def command(self, scenario):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.logging = "statsd_host = 127.0.0.1:%d" % port
        return Greenicorn.command(self, scenario)


class GreenicornStatsdNoHost(Greenicorn):
    """statsd_host naming a host that does not exist (.invalid never
    resolves): said once at start, then statsd is off."""
    name = "greenicorn-statsd-no-host"
    kinds = ("statsd",)
    logging = "statsd_host = statsd.invalid:8125"


class Nginx(Peer):
    name = "nginx"
    needs = ("nginx",)
    kinds = ("http", "tls-handshake")
    listen_extra = ""  # more "listen" parameters
    main_extra = ""  # more main-context directives

    def supports(self, scenario):
        return scenario.nginx_ok

    def command(self, scenario):
        conf = os.path.join(self.dir, "nginx.conf")
        with open(os.path.join(self.dir, "big.bin"), "wb") as f:
            f.write(b"x" * (1 << 20))
        with open(conf, "w") as f:
            f.write(textwrap.dedent("""\
                daemon off;
                master_process on;
                worker_processes %d;%s
                error_log %s/error.log warn;
                pid %s/nginx.pid;
                events { worker_connections 12000; }
                http {
                    access_log off;
                    sendfile on;  # as deployments do; greenicorn's static app sends files so
                    keepalive_timeout 60s;
                    keepalive_requests 100000000;
                    client_body_temp_path %s;
                    proxy_temp_path %s;
                    fastcgi_temp_path %s;
                    uwsgi_temp_path %s;
                    scgi_temp_path %s;
                    server {
                        listen 127.0.0.1:%d backlog=8192%s;
                        %s
                        location = / { default_type text/plain; return 200 "Hello, World!"; }
                        location = /big.bin { root %s; }
                    }
                }
                """ % (self.workers, self.main_extra, self.dir, self.dir, self.dir, self.dir,
                       self.dir, self.dir, self.dir, self.port,
                       self.listen_extra + (" ssl" if scenario.tls else ""),
                       self.tls_conf(scenario), self.dir)))
        return ["nginx", "-c", conf, "-p", self.dir]

    def tls_conf(self, scenario):
        """The server block's TLS lines: the certificate greenicorn has,
        its protocols and ciphers (nginx's session cache and tickets are
        left at their defaults, as greenicorn's)."""
        if not scenario.tls:
            return ""
        cert, key = tls_cert(os.path.dirname(self.dir))
        return ("ssl_certificate %s; ssl_certificate_key %s; "
                "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers %s; "
                "ssl_conf_command Ciphersuites %s; "
                "ssl_prefer_server_ciphers on;" % (cert, key, TLS_CIPHERS, TLS13_SUITES))


class NginxDeferred(Nginx):
    """nginx with "listen ... deferred" (TCP_DEFER_ACCEPT, off by default
    in nginx), as greenicorn's defer_accept (on by default): beside the
    nginx row where connections are made per request, so the report shows
    what that setting alone is worth on each side."""
    name = "nginx-deferred"
    kinds = ("http",)
    listen_extra = " deferred"

    def supports(self, scenario):
        return scenario.name == "new-connection"


class NginxAffinity(Nginx):
    """nginx with "worker_cpu_affinity auto" and "listen ... reuseport"
    (a listening socket per worker, the kernel's hash choosing: nginx asks
    for no CPU's connections): the tuning nginx has for what
    greenicorn-affinity does, beside it in plaintext-2workers."""
    name = "nginx-affinity"
    kinds = ("http",)
    listen_extra = " reuseport"
    main_extra = "\nworker_cpu_affinity auto;"

    def supports(self, scenario):
        return scenario.name == "plaintext-2workers"


GUNICORN_APP = """\
import gevent

HELLO = b"Hello, World!"
BIG = b"x" * (1 << 20)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        gevent.sleep(0.1)
    body = BIG if path == "/big" else HELLO
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def gunicorn_lacks(module, package):
    """Why MODULE cannot be imported by the Python gunicorn runs on (the
    Debian PACKAGE to install), or None when it can."""
    with open(shutil.which("gunicorn")) as f:
        python = f.readline()[2:].strip() or "python3"
    try:
        subprocess.run([python, "-c", "import " + module], check=True,
                       capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return "not installed (%s for %s)" % (package, python)
    return None


class GunicornGevent(Peer):
    name = "gunicorn+gevent"
    needs = ("gunicorn",)

    @classmethod
    def available(cls):
        missing = super().available()
        if missing:
            return missing
        return gunicorn_lacks("gevent", "python3-gevent")

    def command(self, scenario):
        with open(os.path.join(self.dir, "benchapp.py"), "w") as f:
            f.write(GUNICORN_APP)
        return ["gunicorn", "-k", "gevent", "-w", str(self.workers),
                "--worker-connections", "12000", "--backlog", "8192",
                "--keep-alive", "60", "--log-level", "warning",
                "--chdir", self.dir, "-b", "127.0.0.1:%d" % self.port, "benchapp:app"]


class Minimal(Peer):
    """bench/sleepmin, in the sleep rows only: a minimal epoll server
    (accept, read a head, answer it 100 ms later from a queue, nothing
    else), started, pinned and shielded as the servers are. Its row is
    what the row's load gives a server that does no other work: a target
    it misses by far is set by the load, not by a server's code."""
    name = "minimal"
    path = os.path.join(BUILD, "bench", "sleepmin")

    @classmethod
    def available(cls):
        return None if os.path.exists(cls.path) else "not built (%s)" % cls.path

    def supports(self, scenario):
        return isinstance(scenario, Sleep)

    def command(self, scenario):
        return [self.path, "-p", str(self.port)]


class H2o(Peer):
    name = "h2o"
    needs = ("h2o",)

    def supports(self, scenario):
        return scenario.static_ok

    def command(self, scenario):
        docroot = os.path.join(self.dir, "www")
        os.mkdir(docroot)
        with open(os.path.join(docroot, "index.txt"), "wb") as f:
            f.write(HELLO)
        with open(os.path.join(docroot, "big.bin"), "wb") as f:
            f.write(b"x" * (1 << 20))
        conf = os.path.join(self.dir, "h2o.conf")
        with open(conf, "w") as f:
            f.write(textwrap.dedent("""\
                listen:
                  host: 127.0.0.1
                  port: %d
                num-threads: %d
                max-connections: 12000
                http1-request-timeout: 60
                access-log: /dev/null
                error-log: %s/error.log
                hosts:
                  default:
                    paths:
                      /:
                        file.dir: %s
                        file.index: [index.txt]
                """ % (self.port, self.workers, self.dir, docroot)))
        return ["h2o", "-c", conf]


class Lwan(Peer):
    name = "lwan"
    needs = ("lwan",)

    @classmethod
    def available(cls):
        return None if shutil.which("lwan") else "not packaged in Debian 12"


class NodeWs(Peer):
    """Node's ws (Debian node-ws): bench/ws_node.js, one process."""
    name = "node-ws"
    needs = ("node",)
    kinds = ("ws",)

    @classmethod
    def available(cls):
        missing = super().available()
        if missing:
            return missing
        try:  # as ws_node.js finds it: NODE_PATH, else Debian's copy
            subprocess.run(["node", "-e", "try { require('ws') } catch (e) "
                            "{ require('/usr/share/nodejs/ws') }"],
                           check=True, capture_output=True, timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            return "not installed (node-ws)"
        return None

    def command(self, scenario):
        return ["node", os.path.join(BENCH, "ws_node.js"), str(self.port)]


class GeventWebsocket(Peer):
    """gevent-websocket (Debian python3-gevent-websocket) as the seed ran
    it: Gunicorn with its GeventWebSocketWorker, bench/ws_gevent.py."""
    name = "gevent-websocket"
    needs = ("gunicorn",)
    kinds = ("ws",)

    @classmethod
    def available(cls):
        missing = super().available()
        if missing:
            return missing
        return gunicorn_lacks("geventwebsocket.gunicorn.workers",
                              "python3-gevent-websocket")

    def command(self, scenario):
        shutil.copy(os.path.join(BENCH, "ws_gevent.py"), self.dir)
        return ["gunicorn", "-k", "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
                "-w", str(self.workers), "--worker-connections", "12000",
                "--backlog", "8192", "--timeout", "60", "--log-level", "warning",
                "--chdir", self.dir, "-b", "127.0.0.1:%d" % self.port, "ws_gevent:app"]


SIO_NODE_VERSION = "4.8"
SIO_NODE_CACHE = os.path.join(BUILD, "npm-socketio-server")


def sio_node_modules():
    """node_modules holding socket.io 4.8 from npm, in a cache folder of
    the build directory (installed on first use, kept between runs), or
    None with the reason printed."""
    mods = os.path.join(SIO_NODE_CACHE, "node_modules")
    if os.path.isdir(os.path.join(mods, "socket.io")):
        return mods
    if not shutil.which("npm"):
        return None
    log("bench: npm install socket.io@%s into %s" % (SIO_NODE_VERSION, SIO_NODE_CACHE))
    os.makedirs(SIO_NODE_CACHE, exist_ok=True)
    try:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                        SIO_NODE_CACHE, "socket.io@" + SIO_NODE_VERSION],
                       check=True, timeout=600, stdout=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        log("bench: npm install socket.io failed: %s" % e)
        return None
    return mods


class NodeSocketIo(Peer):
    """Node's socket.io 4.8 server (npm): bench/sio_node.js, one process."""
    name = "node-socket.io"
    needs = ("node", "npm")
    kinds = ("sio",)

    @classmethod
    def available(cls):
        missing = super().available()
        if missing:
            return missing
        return None if sio_node_modules() else "not installed (npm socket.io@4.8 failed)"

    def command(self, scenario):
        return ["env", "NODE_PATH=" + sio_node_modules(), "node",
                os.path.join(BENCH, "sio_node.js"), str(self.port)]


class PythonSocketioGevent(Peer):
    """python-socketio (Debian python3-socketio) in async_mode gevent, on
    gevent's pywsgi with gevent-websocket: bench/sio_gevent.py, one process."""
    name = "python-socketio+gevent"
    needs = ("/usr/bin/python3",)
    kinds = ("sio",)

    @classmethod
    def available(cls):
        try:
            subprocess.run(["/usr/bin/python3", "-c",
                            "import socketio, gevent, geventwebsocket"],
                           check=True, capture_output=True, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            return ("not installed (python3-socketio, python3-gevent, "
                    "python3-gevent-websocket)")
        return None

    def command(self, scenario):
        return ["/usr/bin/python3", os.path.join(BENCH, "sio_gevent.py"), str(self.port)]


PEERS = [Greenicorn, GreenicornEpoll, GreenicornBatch, GreenicornNoBalance, GreenicornAffinity, GreenicornPrealloc, GreenicornHugePages, GreenicornStack64, GreenicornBase, GreenicornEpollBase, GreenicornStatsdRefused, GreenicornStatsdNoHost, Nginx, NginxDeferred, NginxAffinity, GunicornGevent, Minimal, H2o, Lwan, NodeWs, GeventWebsocket, NodeSocketIo, PythonSocketioGevent]


# ---------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------

PIPELINE_LUA = """\
init = function(args)
   local r = {}
   for i = 1, %d do r[i] = wrk.format(nil, "%s") end
   req = table.concat(r)
end
request = function() return req end
"""


def run_wrk(url, connections, duration, threads=1, script=None, headers=(), cpus=CLIENT_CPUS):
    cmd = ["taskset", "-c", cpus, "wrk", "-t%d" % threads,
           "-c%d" % connections, "-d%ds" % duration, "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=duration + 60).stdout
    return parse_wrk(out)


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# The percentiles of wrk --latency's distribution (p50 ... in the figures).
LATENCY_PERCENTILES = ("50", "75", "90", "99")


def parse_wrk(out):
    r = {"raw": out}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    for pct in LATENCY_PERCENTILES:
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        r["p" + pct] = to_ms(m.group(1)) if m else None
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    r["errors"] = errors
    return r


def idle_connections(port, n, settle=2.0):
    """Open N keep-alive connections that each made one request, and
    return them (the caller closes them)."""
    socks = []
    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
    for s in socks:  # read each answer so nothing stays buffered
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(HELLO):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    time.sleep(settle)
    return socks


def wsload_path(workdir, name="wsload", built=None):
    """bench/wsload (or bench/NAME) as meson built it (bench/meson.build),
    or compiled here with cc for a build directory from before it."""
    built = built or WSLOAD
    if os.path.exists(built):
        return built
    out = os.path.join(workdir, name)
    if not os.path.exists(out):
        cc = os.environ.get("CC") or "cc"
        subprocess.run([cc, "-std=c11", "-O2", "-D_GNU_SOURCE", "-o", out,
                        os.path.join(BENCH, name + ".c"), os.path.join(BENCH, "loadgen.c")],
                       check=True, timeout=120)
    return out


def httpload_path(workdir):
    """bench/httpload, as wsload_path finds or compiles wsload."""
    return wsload_path(workdir, "httpload", HTTPLOAD)


def wsload_lines(proc, deadline):
    """wsload's stdout, a line at a time, until it closes or DEADLINE."""
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("wsload: no result in time")
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return
            buf += chunk


def tls_cert(workdir):
    """The tls-* scenarios' certificate, made once per run in WORKDIR: an
    ECDSA P-256 key and a self-signed certificate for 127.0.0.1, served by
    every peer alike. (cert, key) paths."""
    cert, key = os.path.join(workdir, "tls-cert.pem"), os.path.join(workdir, "tls-key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        os.chmod(key, 0o644)  # nginx's workers are nobody (the master reads it)
    return cert, key


def tlsload_path(workdir):
    """bench/tlsload as meson built it, or compiled here with cc (and
    OpenSSL, and GnuTLS where pkg-config finds it) for a build directory
    from before it."""
    if os.path.exists(TLSLOAD):
        return TLSLOAD
    out = os.path.join(workdir, "tlsload")
    if not os.path.exists(out):
        cc = os.environ.get("CC") or "cc"
        gnutls = subprocess.run(["pkg-config", "--exists", "gnutls"]).returncode == 0 \
            if shutil.which("pkg-config") else False
        subprocess.run([cc, "-std=c11", "-O2", "-D_GNU_SOURCE"]
                       + (["-DHAVE_GNUTLS"] if gnutls else [])
                       + ["-o", out, os.path.join(BENCH, "tlsload.c"),
                          os.path.join(BENCH, "tlsraw.c"), os.path.join(BENCH, "loadgen.c"),
                          "-lssl", "-lcrypto"]
                       + (["-lgnutls"] if gnutls else []),
                       check=True, timeout=120)
    return out


def run_wsload(workdir, mode, port, args, on_phase=None, timeout=300, program=None,
               realtime=False):
    """Run bench/wsload MODE against PORT on the load CPU; call
    ON_PHASE(words, proc) on each "phase ..." line (the moment to read the
    server's CPU or RSS) and return its "result KEY VALUE" lines as a dict
    (and its "info ..." line under "info"). A run wsload fails (a wrong
    answer, a closed socket) raises. PROGRAM: another load generator that
    speaks the same lines (bench/tlsload), MODE then only names its logs.
    REALTIME: at SCHED_FIFO 1, as a latency row's server (realtime_prefix)."""
    err_path = os.path.join(workdir, "wsload-%s.err" % mode)
    if program is None:
        cmd = [wsload_path(workdir), mode]
    else:
        cmd = [program]
    cmd = (realtime_prefix(realtime) + ["taskset", "-c", CLIENT_CPUS] + cmd
           + ["-p", str(port)] + [str(a) for a in args])
    results = {}
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err)
    try:
        deadline = time.monotonic() + timeout
        for line in wsload_lines(proc, deadline):
            words = line.split()
            if words and words[0] == "phase" and on_phase:
                on_phase(words[1:], proc)
            elif words and words[0] == "result":
                results[words[1]] = float(words[2])
            elif words and words[0] == "info":
                results["info"] = " ".join(words[1:])
        rc = proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.stdout.close()
    if rc != 0:
        with open(err_path, errors="replace") as f:
            raise RuntimeError("wsload %s: %s" % (mode, f.read().strip()[-300:]))
    return results


def run_httpload(workdir, port, args, on_phase=None, timeout=300, realtime=False):
    """bench/httpload against PORT on the load CPU (run_wsload's lines):
    its "result KEY VALUE" lines as a dict; a run it fails raises."""
    return run_wsload(workdir, "httpload", port, args, on_phase, timeout,
                      program=httpload_path(workdir), realtime=realtime)


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

class Scenario:
    name = "?"
    title = "?"
    kind = "http"  # or "ws", "tls-handshake": which peers serve it (Peer.kinds)
    connections = 50
    greenicorn_app = "hello"
    greenicorn_needs = ""
    greenicorn_args = {}
    nginx_ok = True
    static_ok = True
    workers = 1
    server_cpus = SERVER_CPUS
    peers = None  # None: every peer; else names
    variants = ()  # greenicorn variants (GreenicornVariant) run beside them
    headers = ()
    pipeline = 0
    tls = False  # served over TLS (tls_cert's certificate)
    client_cpus = CLIENT_CPUS  # where wrk runs
    wrk_threads = 1
    warmup = 1  # seconds of load before the measured run (0: none, a cold server)
    seconds = None  # the measured run's length when not --duration's
    realtime = False  # its servers and load at SCHED_FIFO 1 (realtime_prefix)

    repeat = 1  # runs per server by default (--repeat), alternating peers
    # Peers that take all REPEAT runs (None: every peer); the others take
    # OTHERS_REPEAT runs (--others-repeat), spread over the same turns.
    repeat_peers = None
    others_repeat = 1
    # Figures drawn (bench/plots.py): a panel of bars per (key, label), and
    # wrk's latency percentiles when the runs have them.
    panels = (("cpu_us", "server CPU µs per request"), ("rps", "requests/s"))

    def greenicorn_module(self, build=BUILD):
        return os.path.join(build, "contrib", "apps", self.greenicorn_app + ".so")

    def path_for(self, peer):
        if isinstance(peer, H2o):
            return "/index.txt"
        return "/"

    def measure(self, peer, duration, workdir):
        pids = peer.pids()
        script = None
        if self.pipeline:
            script = os.path.join(workdir, "pipeline.lua")
            with open(script, "w") as f:
                f.write(PIPELINE_LUA % (self.pipeline, self.path_for(peer)))
        wrk = dict(script=script, headers=self.headers, threads=self.wrk_threads,
                   cpus=self.client_cpus)
        # A short warm-up (none for a cold start), then the measured run.
        if self.warmup:
            run_wrk(peer.url(self), self.connections, self.warmup, **wrk)
        t0 = cpu_ticks(pids)
        r = run_wrk(peer.url(self), self.connections, self.seconds or duration, **wrk)
        if not r["requests"]:  # a failed run (left out, counted), not a figure of 0
            raise RuntimeError("wrk completed no request in %d s (%s)" % (
                self.seconds or duration, " ".join(r["raw"].split()[-6:]) or "no output"))
        ticks = cpu_ticks(peer.pids()) - t0
        r["cpu_us"] = ticks * 1e6 / CLK_TCK / r["requests"] if r["requests"] else None
        return r


class Headline(Scenario):
    """A row of issue #18's table: 5 runs per server in turns (greenicorn,
    nginx, greenicorn, nginx ...), medians and min-max; the other peers
    run once, in the middle turn (--others-repeat)."""
    repeat = 5
    repeat_peers = ("greenicorn", "greenicorn-base", "greenicorn-epoll",
                    "greenicorn-epoll-base", "nginx")


class Plaintext50(Headline):
    name = "plaintext-50"
    title = "plaintext keep-alive, 50 connections, 1 worker"
    variants = ("greenicorn-batch",)
    repeat_peers = Headline.repeat_peers + variants


class Plaintext1000(Scenario):
    name = "plaintext-1000"
    title = "plaintext keep-alive, 1,000 connections, 1 worker"
    connections = 1000


class Pipelined16(Headline):
    name = "pipelined-16"
    title = "plaintext pipelined, depth 16, 50 connections"
    pipeline = 16
    peers = ("greenicorn", "greenicorn-epoll", "greenicorn-epoll-base", "nginx", "h2o", "lwan")  # gevent's pywsgi: no pipelining speed-up


class NewConnection(Headline):
    name = "new-connection"
    title = "a new connection per request, 50 clients"
    headers = ("Connection: close",)
    repeat_peers = Headline.repeat_peers + ("nginx-deferred",)


class Big(Scenario):
    name = "1mb"
    title = "1 MB responses (a file), 50 connections"
    greenicorn_app = "static"  # gn_response_sendfile, as nginx's sendfile

    def path_for(self, peer):
        if isinstance(peer, GunicornGevent):
            return "/big"
        return "/big.bin"


class Sleep(Headline):
    """5,000 connections, each request waits 100 ms in the app: 50,000
    requests/s at most. Driven by bench/httpload, not wrk: one wrk thread
    costs about 20 µs of its core per request and tops out near 44,000/s
    at 5,000 connections even against an instant answer, so the row would
    measure wrk. The server's CPU is read on httpload's "measure" and "end"
    lines; its answers are checked (200, the body), any fault fails the run."""
    name = "sleep"
    title = ("a 100 ms green sleep per request, 5,000 connections, 1 worker "
             "(1 s warm-up; httpload)")
    connections = 5000
    ramp = 0  # seconds the first requests are spread over (0: sent at once)
    greenicorn_app = "sleep_hello"
    realtime = True
    peers = ("greenicorn", "greenicorn-base", "greenicorn-epoll", "gunicorn+gevent", "minimal")
    repeat_peers = ("greenicorn", "greenicorn-base", "greenicorn-epoll", "minimal")

    def greenicorn_module(self, build=BUILD):
        # bench/apps/sleep_hello.c: the Gunicorn peer's app, in C.
        return os.path.join(build, "bench", "sleep_hello.so")

    def path_for(self, peer):
        return "/sleep"

    def measure(self, peer, duration, workdir):
        marks = {}

        def on_phase(words, proc):
            if words[0] in ("measure", "end"):
                pids = peer.pids()
                marks[words[0]] = (cpu_ticks(pids), time.monotonic(), runqueue_ms(pids))

        seconds = self.seconds or duration
        r = run_httpload(workdir, peer.port,
                         ["-c", self.connections, "-d", seconds, "-w", self.warmup,
                          "--path", self.path_for(peer), "--expect-body", HELLO.decode()]
                         + (["--ramp", self.ramp] if self.ramp else []),
                         on_phase, timeout=seconds + 180, realtime=self.realtime)
        n = int(r.get("requests", 0))
        if not n or "measure" not in marks or "end" not in marks:
            raise RuntimeError("httpload completed no request in %s s" % seconds)
        ticks = marks["end"][0] - marks["measure"][0]
        wall = marks["end"][1] - marks["measure"][1]
        out = {"requests": n, "rps": r["rps"], "errors": int(r.get("errors", 0)),
               "cpu_us": ticks * 1e6 / CLK_TCK / n,
               "client_cpu_us": r["client_cpu_us"],
               "server_busy": ticks / CLK_TCK / wall,
               "server_waited": (marks["end"][2] - marks["measure"][2]) / 1e3 / wall,
               "client_busy": r["client_cpu_s"] / r["seconds"]}
        for pct in LATENCY_PERCENTILES:
            out["p" + pct] = r["p%s_ms" % pct]
        # Each connection's first answer, warm-up or not: on a cold server
        # (sleep-cold), what its burst of 5,000 first requests cost.
        out["first_p50"] = r["first_p50_ms"]
        out["first_p99"] = r["first_p99_ms"]
        # ... and over what spans the burst went and was answered: one
        # longer than the other is a server slower than the burst.
        out["first_sent"] = r.get("first_sent_ms")
        out["first_answered"] = r.get("first_answered_ms")
        return out


class SleepCold(Sleep):
    """Sleep on a server that has served nothing yet: no warm-up (each run
    starts the server afresh)."""
    name = "sleep-cold"
    title = ("a 100 ms green sleep per request, 5,000 connections, 1 worker, cold "
             "(no warm-up; httpload)")
    peers = ("greenicorn", "greenicorn-prealloc", "greenicorn-thp", "greenicorn-stack64",
             "greenicorn-base", "greenicorn-epoll", "minimal")
    repeat_peers = peers
    warmup = 0


class SleepCold4s(SleepCold):
    """SleepCold in a 4 s run whatever --duration says: the first second,
    when a cold server is slowest, weighs a quarter of it."""
    name = "sleep-cold-4s"
    title = ("a 100 ms green sleep per request, 5,000 connections, 1 worker, cold, "
             "in a 4 s run (httpload)")
    seconds = 4


class SleepColdRamped(SleepCold):
    """SleepCold with the first requests spread over one sleep period
    (httpload --ramp 0.1): 20 µs apart, the arrival rate of the steady
    state, so the first round measures the cold server rather than the
    load's burst (bench/README.md, "The sleep scenarios' load"). Not one
    of issue #18's rows: beside them."""
    name = "sleep-cold-ramped"
    title = ("a 100 ms green sleep per request, 5,000 connections, 1 worker, cold, "
             "the first requests spread over 100 ms (httpload --ramp 0.1)")
    peers = ("greenicorn", "greenicorn-prealloc", "greenicorn-stack64", "greenicorn-base",
             "minimal")
    repeat_peers = peers
    ramp = 0.1


class TwoWorkers(Headline):
    """2 workers against nginx's worker_processes 2. Nothing is pinned to
    one core: the server's processes and wrk's 2 threads all run on CPUs
    0-1 and the kernel places them, as on a 2-core machine that also runs
    its client. A fixed split cannot be fair there (one core would carry a
    worker and wrk), and this way what a server's workers leave of the two
    cores is what wrk drives it with: requests/s measures the whole cost."""
    name = "plaintext-2workers"
    title = ("plaintext keep-alive, 50 connections, 2 workers on 2 cores "
             "(wrk's 2 threads share them)")
    workers = 2
    server_cpus = BOTH_CPUS
    client_cpus = BOTH_CPUS
    wrk_threads = 2
    variants = ("greenicorn-batch", "greenicorn-nobalance", "greenicorn-affinity")
    repeat_peers = Headline.repeat_peers + variants + ("nginx-affinity",)


class Statsd(Scenario):
    name = "statsd"
    title = ("statsd: off, to a closed port (ICMP errors), to a host that does "
             "not exist; plaintext keep-alive, 50 connections, 1 worker")
    kind = "statsd"  # greenicorn and its statsd variants only


class Idle(Headline):
    name = "idle-10000"
    title = "10,000 idle keep-alive connections: RSS each above baseline"
    connections = 10000
    peers = ("greenicorn", "greenicorn-base", "greenicorn-epoll", "greenicorn-epoll-base",
             "nginx", "gunicorn+gevent", "h2o")
    panels = (("rss_kb_each", "KB RSS per idle connection"),)

    def measure(self, peer, duration, workdir):
        base = rss_kb(peer.pids())
        socks = idle_connections(peer.port, self.connections)
        try:
            after = rss_kb(peer.pids())
            alive = sum(1 for p in peer.pids())
        finally:
            for s in socks:
                s.close()
        return {"rss_kb_each": (after - base) / self.connections, "processes": alive,
                "errors": 0}


class TlsKeepalive(Scenario):
    """wrk over TLS: one handshake per connection, then keep-alive requests;
    the server's CPU per request is the record layer's cost on top of
    plaintext-50's."""
    name = "tls-keepalive-50"
    title = "TLS keep-alive, 50 connections, 1 worker (ECDSA P-256)"
    tls = True
    peers = ("greenicorn", "greenicorn-base", "nginx")


class TlsHandshake(Scenario):
    """Full handshakes: bench/tlsload keeps 16 new connections in flight,
    each a full handshake (no session resumed) and one request
    (Connection: close). The server's CPU is read when tlsload opens and
    closes its measured window."""
    name = "tls-handshake"
    title = "TLS full handshakes (ECDSA P-256), 16 in flight, 1 worker"
    kind = "tls-handshake"
    tls = True
    connections = 16
    panels = (("cpu_us", "server CPU µs per handshake"), ("rps", "handshakes/s"))
    peers = ("greenicorn", "greenicorn-base", "nginx")

    def measure(self, peer, duration, workdir):
        marks = {}

        def on_phase(words, proc):
            marks[words[0]] = (cpu_ticks(peer.pids()), time.monotonic())

        r = run_wsload(workdir, "tlsload", peer.port,
                       ["-c", self.connections, "-d", duration, "-w", 1,
                        "-P", self.path_for(peer)],
                       on_phase=on_phase, timeout=duration + 120,
                       program=tlsload_path(workdir))
        if "measure" not in marks or "end" not in marks:
            raise RuntimeError("tlsload: no measured window")
        ticks = marks["end"][0] - marks["measure"][0]
        seconds = marks["end"][1] - marks["measure"][1]
        n = r.get("handshakes", 0)
        return {"rps": r.get("rate", 0.0), "requests": n,
                "cpu_us": ticks * 1e6 / CLK_TCK / n if n else None,
                "client_cpu_us": r.get("client_cpu_us"),
                "server_busy": ticks / CLK_TCK / seconds if seconds > 0 else None,
                "client_busy": r.get("client_busy"),
                "errors": int(r.get("errors", 0)), "info": r.get("info", "")}


class WsEcho(Scenario):
    """Each connection sends a 32-byte text message and waits for its echo
    (wsload echo); the server's CPU is read when wsload starts and ends its
    measured window."""
    name = "ws-echo-50"
    repeat = 5  # the noisiest figure, and the closest target
    title = "WebSocket echo, 32-byte text messages, 50 connections, 1 worker"
    kind = "ws"
    greenicorn_app = "ws_echo"
    greenicorn_needs = "contrib/apps/ws_echo.c comes with issue #13's WebSocket work"
    size = 32
    panels = (("cpu_us", "server CPU µs per message"), ("rps", "round trips/s"))

    wsload_mode = "echo"

    def measure(self, peer, duration, workdir):
        marks = {}

        def on_phase(words, proc):
            if words[0] in ("measure", "end"):
                marks[words[0]] = (cpu_ticks(peer.pids()), time.monotonic())

        r = run_wsload(workdir, self.wsload_mode, peer.port,
                       ["-c", self.connections, "-d", duration, "-w", 1, "-s", self.size],
                       on_phase, timeout=duration + 180)
        ticks = marks["end"][0] - marks["measure"][0]
        wall = marks["end"][1] - marks["measure"][1]
        n = r["messages"]
        return {"rps": r["rps"], "p50": r["p50_ms"], "p99": r["p99_ms"], "errors": 0,
                "messages": n, "cpu_us": ticks * 1e6 / CLK_TCK / n if n else None,
                "client_cpu_us": r["client_cpu_us"],
                "server_busy": ticks / CLK_TCK / wall,
                "client_busy": r["client_cpu_s"] / r["seconds"]}


class SioEcho(WsEcho):
    """WsEcho spoken as Socket.IO (wsload sio): each connection emits
    "echo" with a 32-byte string and an ack id and waits for the ack, over
    Engine.IO 4's WebSocket transport; a round trip is one acked event."""
    name = "sio-echo-50"
    repeat = 3
    title = ("Socket.IO acked echo, 32-byte string, 50 clients, WebSocket "
             "transport, 1 process")
    kind = "sio"
    greenicorn_app = "sio_chat"
    greenicorn_needs = "contrib/apps/sio_chat.c comes with issue #15's Socket.IO work"
    greenicorn_args = {"redis": "none"}
    wsload_mode = "sio"


class WsIdle(Scenario):
    """K WebSockets open, each has echoed one message and its handler is
    parked in receive: the growth of the server's RSS (all its processes)
    over its RSS before, divided by K; then one more echo on each, to show
    they were all alive."""
    name = "ws-idle-10000"
    repeat = 3
    title = "10,000 idle WebSockets: RSS each above baseline"
    kind = "ws"
    connections = 10000
    greenicorn_app = "ws_echo"
    greenicorn_needs = WsEcho.greenicorn_needs
    panels = (("rss_kb_each", "KB RSS per idle WebSocket"),)
    settle = 2.0

    def measure(self, peer, duration, workdir):
        base = rss_kb(peer.pids())
        got = {}

        def on_phase(words, proc):
            if words[0] == "ready":
                time.sleep(self.settle)
                got["after"] = rss_kb(peer.pids())
                proc.stdin.write(b"check\n")
                proc.stdin.flush()
            elif words[0] == "checked":
                got["checked"] = int(words[1])
                proc.stdin.close()

        run_wsload(workdir, "idle", peer.port, ["-c", self.connections], on_phase,
                   timeout=600)
        if got.get("checked") != self.connections:
            raise RuntimeError("only %s of %d idle WebSockets answered"
                               % (got.get("checked"), self.connections))
        return {"rss_kb_each": (got["after"] - base) / self.connections, "errors": 0}


class WsBroadcast(Scenario):
    """K WebSockets open; a round sends "broadcast:<payload>" on one of them
    and the server sends <payload> to all K (bench/README.md); the time from
    that send until the last socket has it, median of the rounds after a
    warm-up one, and the server's CPU per round."""
    name = "ws-broadcast-5000"
    repeat = 3
    title = "WebSocket broadcast of one message to 5,000 sockets, 1 worker"
    kind = "ws"
    connections = 5000
    rounds = 10
    panels = (("last_ms", "ms until the last socket has it"),
              ("cpu_ms", "server CPU ms per broadcast"))
    greenicorn_app = "ws_broadcast"
    greenicorn_needs = ("bench/apps/ws_broadcast.c builds once "
                        "include/greenicorn/websocket.h is merged")

    def greenicorn_module(self, build=BUILD):
        return os.path.join(build, "bench", "ws_broadcast.so")

    def measure(self, peer, duration, workdir):
        marks = {}

        def on_phase(words, proc):
            if words[0] in ("measure", "end"):
                marks[words[0]] = cpu_ticks(peer.pids())

        r = run_wsload(workdir, "broadcast", peer.port,
                       ["-c", self.connections, "-r", self.rounds], on_phase, timeout=600)
        ticks = marks["end"] - marks["measure"]
        return {"last_ms": r["last_ms"], "last_ms_min": r["last_ms_min"],
                "last_ms_max": r["last_ms_max"], "first_ms": r["first_ms"],
                "cpu_ms": ticks * 1e3 / CLK_TCK / self.rounds,
                "client_cpu_ms": r["client_cpu_us"] * self.connections / 1e3,
                "errors": 0}


SCENARIOS = [Plaintext50(), Plaintext1000(), Pipelined16(), NewConnection(), Big(),
             Sleep(), SleepCold(), SleepCold4s(), SleepColdRamped(), TwoWorkers(), Idle(), TlsKeepalive(),
             TlsHandshake(), WsEcho(), WsIdle(), WsBroadcast(), SioEcho(), Statsd()]

# Issue #7's targets: (scenario, check(results) -> (met, text)).


def nginx_ratio(results, key):
    g, n = results.get("greenicorn"), results.get("nginx")
    if not g or not n or not g.get(key) or not n.get(key):
        return None
    return g[key] / n[key]


def targets(all_results):
    out = []

    def add(what, met, detail):
        # A scenario that did not run (not chosen, peer missing) is n/a.
        if detail == "-":
            met = None
        out.append((what, "met" if met else "NOT met" if met is not None else "n/a", detail))

    r = all_results.get("plaintext-50", {})
    ratio = nginx_ratio(r, "rps")
    add("plaintext-50: req/s >= 1.0x nginx", ratio is not None and ratio >= 1.0,
        "%.2fx" % ratio if ratio else "-")
    ratio = nginx_ratio(r, "cpu_us")
    add("plaintext-50: CPU/request <= 1.0x nginx", ratio is not None and ratio <= 1.0,
        "%.2fx" % ratio if ratio else "-")
    ratio = nginx_ratio(r, "p99")
    add("plaintext-50: p99 no worse than nginx", ratio is not None and ratio <= 1.0,
        "%.2fx" % ratio if ratio else "-")
    r = all_results.get("pipelined-16", {})
    ratio = nginx_ratio(r, "cpu_us")
    add("pipelined-16: CPU/request <= 1.0x nginx", ratio is not None and ratio <= 1.0,
        "%.2fx" % ratio if ratio else "-")
    r = all_results.get("idle-10000", {}).get("greenicorn")
    each = r and r.get("rss_kb_each")
    add("idle: <= 1 KB RSS per connection", each is not None and each <= 1.0,
        "%.2f KB" % each if each is not None else "-")
    r = all_results.get("sleep", {})
    g, gu = r.get("greenicorn"), r.get("gunicorn+gevent")
    add("sleep: >= 45,000 req/s (90% of 50,000)", bool(g and g.get("rps", 0) >= 45000),
        "%.0f req/s" % g["rps"] if g and g.get("rps") else "-")
    ratio = (g["rps"] / gu["rps"] if g and gu and g.get("rps") and gu.get("rps")
             else None)
    add("sleep: >= 4x Gunicorn + gevent", ratio is not None and ratio >= 4,
        "%.1fx" % ratio if ratio else "-")
    errors = sum(res.get("errors", 0) for sc in all_results.values()
                 for name, res in sc.items() if name == "greenicorn")
    add("no request errors (greenicorn)", errors == 0, "%d" % errors)
    return out


def tls_targets(all_results):
    """Issue #16's targets (acceptance 2)."""
    out = []

    def add(what, ratio, ok):
        met = "n/a" if ratio is None else "met" if ok(ratio) else "NOT met"
        out.append((what, met, "%.2fx" % ratio if ratio is not None else "-"))

    r = all_results.get("tls-keepalive-50", {})
    add("tls-keepalive-50: CPU/request <= 1.0x nginx", nginx_ratio(r, "cpu_us"),
        lambda x: x <= 1.0)
    r = all_results.get("tls-handshake", {})
    add("tls-handshake: handshakes/s >= 1.0x nginx", nginx_ratio(r, "rps"),
        lambda x: x >= 1.0)
    add("tls-handshake: CPU/handshake <= 1.0x nginx (what handshakes/s is capped by "
        "when tlsload is not)", nginx_ratio(r, "cpu_us"), lambda x: x <= 1.0)
    return out


def peer_ratio(results, peer, key):
    g, p = results.get("greenicorn"), results.get(peer)
    if not g or not p or not g.get(key) or not p.get(key):
        return None
    return g[key] / p[key]


def ws_targets(all_results):
    """Issue #13's targets (acceptance 6)."""
    out = []

    def add(what, ratio, limit):
        met = "n/a" if ratio is None else "met" if ratio <= limit else "NOT met"
        out.append((what, met, "%.2fx" % ratio if ratio is not None else "-"))

    r = all_results.get("ws-echo-50", {})
    add("ws-echo-50: CPU/message <= 0.6x Node ws", peer_ratio(r, "node-ws", "cpu_us"), 0.6)
    add("ws-echo-50: CPU/message <= 0.25x gevent-websocket",
        peer_ratio(r, "gevent-websocket", "cpu_us"), 0.25)
    r = all_results.get("ws-idle-10000", {})
    add("ws-idle-10000: KB per idle WebSocket <= Node ws",
        peer_ratio(r, "node-ws", "rss_kb_each"), 1.0)
    r = all_results.get("ws-broadcast-5000", {})
    add("ws-broadcast-5000: time to the last socket <= Node ws",
        peer_ratio(r, "node-ws", "last_ms"), 1.0)
    return out


def sio_targets(all_results):
    """Issue #15's target (acceptance 7)."""
    r = all_results.get("sio-echo-50", {})
    ratio = peer_ratio(r, "node-socket.io", "cpu_us")
    met = "n/a" if ratio is None else "met" if ratio <= 0.5 else "NOT met"
    return [("sio-echo-50: CPU/message <= 0.5x Node socket.io", met,
             "%.2fx" % ratio if ratio is not None else "-")]


def lead_checks(all_results):
    """Issue #18's table, a check per row: dicts with what, value (the
    figure checked: a ratio greenicorn/nginx of the medians, or
    greenicorn's median), limit, op ("<=" or ">="), and detail (each
    server's median (min-max) and runs); value None when it did not run."""
    out = []

    def vs_nginx(scenario, key, op, limit, unit, spec):
        r = all_results.get(scenario, {})
        g, n = r.get("greenicorn") or {}, r.get("nginx") or {}
        ratio = nginx_ratio(r, key)
        detail = None
        if ratio is not None:
            detail = "greenicorn %s, nginx %s" % (runs_cell(g, key, spec, unit),
                                                 runs_cell(n, key, spec, unit))
        out.append({"what": "%s: %s %s %.1fx nginx" % (scenario, KEY_NAMES[key], op, limit),
                    "value": ratio, "limit": limit, "op": op, "detail": detail,
                    "ratio": True})

    def own(scenario, key, op, limit, unit, spec, what):
        g = all_results.get(scenario, {}).get("greenicorn") or {}
        value = g.get(key)
        out.append({"what": "%s: %s" % (scenario, what), "value": value, "limit": limit,
                    "op": op, "detail": runs_cell(g, key, spec, unit)
                    if value is not None else None, "ratio": False})

    def beside_minimal(scenario, key, unit, spec):
        # The verdict stays greenicorn's; the minimal server says what the
        # row's load gave one that does nothing else, same invocation.
        f = all_results.get(scenario, {}).get("minimal") or {}
        if out[-1]["detail"] is not None and f.get(key) is not None:
            out[-1]["detail"] += "; the minimal server %s" % runs_cell(
                f, key, spec, unit)

    vs_nginx("plaintext-50", "cpu_us", "<=", 0.8, "µs", "%.2f")
    vs_nginx("new-connection", "cpu_us", "<=", 0.9, "µs", "%.2f")
    own("idle-10000", "rss_kb_each", "<=", 0.5, "KB", "%.2f",
        "KB per idle keep-alive connection <= 0.5")
    vs_nginx("idle-10000", "rss_kb_each", "<=", 1.0, "KB", "%.2f")
    for sc in ("sleep", "sleep-cold", "sleep-cold-4s"):
        own(sc, "rps", ">=", 48500, "req/s", "%.0f", "req/s >= 48,500 (97% of 50,000)")
        beside_minimal(sc, "rps", "req/s", "%.0f")
        own(sc, "p99", "<=", 105, "ms", "%.1f", "p99 <= 105 ms")
        beside_minimal(sc, "p99", "ms", "%.1f")
    vs_nginx("pipelined-16", "cpu_us", "<=", 0.2, "µs", "%.2f")
    vs_nginx("plaintext-2workers", "rps", ">=", 1.1, "req/s", "%.0f")
    return out


KEY_NAMES = {"cpu_us": "CPU/request", "rps": "req/s", "rss_kb_each": "KB per idle connection",
             "p99": "p99"}


def runs_cell(r, key, spec, unit):
    """R[KEY] as "median UNIT (min–max, N runs)", or "value UNIT (1 run)"."""
    n = r.get("runs", 1)
    lo_hi = r.get("spread", {}).get(key)
    if n < 2 or lo_hi is None:
        return "%s %s (1 run)" % (spec % r[key], unit)
    return "%s %s (%s–%s, %d runs)" % (spec % r[key], unit, spec % lo_hi[0], spec % lo_hi[1], n)


def check_met(c):
    """A lead_checks() row's verdict: "met", "NOT met", or "n/a"."""
    if c["value"] is None:
        return "n/a"
    ok = c["value"] <= c["limit"] if c["op"] == "<=" else c["value"] >= c["limit"]
    return "met" if ok else "NOT met"


def lead_targets(all_results):
    """Issue #18's targets, as the other tables' (what, met, measured)."""
    rows = []
    for c in lead_checks(all_results):
        if c["value"] is None:
            rows.append((c["what"], "n/a", "-"))
        elif c["ratio"]:
            rows.append((c["what"], check_met(c), "%.2fx: %s" % (c["value"], c["detail"])))
        else:
            rows.append((c["what"], check_met(c), c["detail"]))
    return rows


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def fmt(v, spec):
    return spec % v if v is not None else "-"


def fmts(r, key, spec):
    """R[KEY] as SPEC; over several runs "median (min–max)"."""
    lo_hi = r.get("spread", {}).get(key)
    if r.get("runs", 1) < 2 or lo_hi is None or r.get(key) is None:
        return fmt(r.get(key), spec)
    return "%s (%s–%s)" % (spec % r[key], spec % lo_hi[0], spec % lo_hi[1])


def print_ws_table(scenario, results, out):
    """The ws-* tables: each figure, and greenicorn's over each peer's."""
    g = results.get("greenicorn", {})

    def ratio(r, key):
        return fmt(g[key] / r[key] if g.get(key) and r.get(key) else None, "%.2f")

    if isinstance(scenario, WsEcho):
        head = ["round trips/s", "p50 ms", "p99 ms", "server CPU µs/msg",
                "wsload CPU µs/msg", "server busy", "wsload busy",
                "rt/s greenicorn/peer", "CPU greenicorn/peer"]
        row = lambda r: [fmts(r, "rps", "%.0f"), fmt(r.get("p50"), "%.3f"),
                         fmt(r.get("p99"), "%.3f"), fmts(r, "cpu_us", "%.2f"),
                         fmt(r.get("client_cpu_us"), "%.2f"),
                         fmt(r.get("server_busy", 0) * 100, "%.0f %%"),
                         fmt(r.get("client_busy", 0) * 100, "%.0f %%"),
                         ratio(r, "rps"), ratio(r, "cpu_us")]
    elif isinstance(scenario, WsIdle):
        head = ["KB RSS per idle WebSocket", "greenicorn/peer"]
        row = lambda r: [fmts(r, "rss_kb_each", "%.2f"), ratio(r, "rss_kb_each")]
    else:
        head = ["ms to the last socket (median)", "min round", "max round", "ms to the first",
                "server CPU ms/broadcast", "wsload CPU ms/broadcast",
                "time greenicorn/peer", "CPU greenicorn/peer"]
        row = lambda r: [fmts(r, "last_ms", "%.1f"), fmt(r.get("last_ms_min"), "%.1f"),
                         fmt(r.get("last_ms_max"), "%.1f"), fmt(r.get("first_ms"), "%.2f"),
                         fmts(r, "cpu_ms", "%.1f"), fmt(r.get("client_cpu_ms"), "%.1f"),
                         ratio(r, "last_ms"), ratio(r, "cpu_ms")]
    out.write("| server | %s |\n|---|%s\n" % (" | ".join(head), "---|" * len(head)))
    for name, r in results.items():
        cells = [r["skipped"]] + [""] * (len(head) - 1) if "skipped" in r else row(r)
        out.write("| %s | %s |\n" % (name, " | ".join(cells)))
    if isinstance(scenario, WsEcho):
        capped = [n for n, r in results.items()
                  if r.get("client_busy", 0) >= r.get("server_busy", 1)]
        if capped:
            out.write("\nwsload was as busy as the server against %s: round trips/s "
                      "there may be wsload's limit; CPU per message is not.\n"
                      % ", ".join(capped))


def print_handshake_table(results, out):
    """tls-handshake: handshakes/s, each side's CPU per handshake and busy
    share, and whether tlsload was the limit."""
    g = results.get("greenicorn", {})

    def ratio(r, key):
        return fmt(g[key] / r[key] if g.get(key) and r.get(key) else None, "%.2f")

    head = ["handshakes/s", "errors", "server CPU µs/handshake", "tlsload CPU µs/handshake",
            "server busy", "tlsload busy", "hs/s greenicorn/peer", "CPU greenicorn/peer"]
    out.write("| server | %s |\n|---|%s\n" % (" | ".join(head), "---|" * len(head)))
    for name, r in results.items():
        if "skipped" in r:
            out.write("| %s | %s |\n" % (name, " | ".join([r["skipped"]] + [""] * (len(head) - 1))))
            continue
        out.write("| %s | %s |\n" % (name, " | ".join([
            fmts(r, "rps", "%.0f"), "%d" % r.get("errors", 0), fmts(r, "cpu_us", "%.1f"),
            fmt(r.get("client_cpu_us"), "%.1f"),
            fmt(r["server_busy"] * 100 if r.get("server_busy") is not None else None, "%.0f %%"),
            fmt(r["client_busy"] * 100 if r.get("client_busy") is not None else None, "%.0f %%"),
            ratio(r, "rps"), ratio(r, "cpu_us")])))
    infos = sorted({"%s: %s" % (n, r["info"]) for n, r in results.items() if r.get("info")})
    if infos:
        out.write("\nNegotiated: %s.\n" % "; ".join(infos))
    capped = [n for n, r in results.items()
              if r.get("client_busy") is not None and r.get("server_busy") is not None
              and r["client_busy"] >= r["server_busy"]]
    if capped:
        out.write("\ntlsload was as busy as the server against %s: handshakes/s there "
                  "may be tlsload's limit (a client verifies the ECDSA signature, which "
                  "costs more than making it); the server's CPU per handshake is not.\n"
                  % ", ".join(capped))


def print_table(scenario, results, out):
    out.write("\n### %s\n\n" % scenario.title)
    failed = ["%s (%d of %d)" % (n, r["failed_runs"], r["runs"] + r["failed_runs"])
              for n, r in results.items() if r.get("failed_runs")]
    if failed:
        out.write("Runs that failed, left out of the figures: %s.\n\n" % ", ".join(failed))
    counts = sorted({r.get("runs", 1) for r in results.values() if "skipped" not in r})
    if counts and counts[-1] > 1:
        fewer = ["%s %d" % (n, r.get("runs", 1)) for n, r in results.items()
                 if "skipped" not in r and r.get("runs", 1) < counts[-1]]
        out.write("Each figure: the median of %d runs per server, taken in turns, "
                  "(min–max) of the runs beside it; ratios of the medians.%s\n\n"
                  % (counts[-1], " Fewer runs: %s (in the middle turns)." % ", ".join(fewer)
                     if fewer else ""))
    if scenario.kind in ("ws", "sio"):
        print_ws_table(scenario, results, out)
        return
    if scenario.kind == "tls-handshake":
        print_handshake_table(results, out)
        return
    if isinstance(scenario, Idle):
        out.write("| server | KB RSS per idle connection | greenicorn/peer |\n|---|---|---|\n")
        g = results.get("greenicorn", {}).get("rss_kb_each")
        for name, r in results.items():
            if "skipped" in r:
                out.write("| %s | %s | |\n" % (name, r["skipped"]))
                continue
            ratio = "%.2f" % (g / r["rss_kb_each"]) if g and r["rss_kb_each"] else "-"
            out.write("| %s | %s | %s |\n" % (name, fmts(r, "rss_kb_each", "%.2f"), ratio))
        return
    out.write("| server | req/s | p50 ms | p99 ms | errors | CPU µs/req | req/s greenicorn/peer | CPU greenicorn/peer |\n")
    out.write("|---|---|---|---|---|---|---|---|\n")
    g = results.get("greenicorn", {})
    for name, r in results.items():
        if "skipped" in r:
            out.write("| %s | %s | | | | | | |\n" % (name, r["skipped"]))
            continue
        rps_ratio = g.get("rps") / r["rps"] if g.get("rps") and r.get("rps") else None
        cpu_ratio = (g.get("cpu_us") / r["cpu_us"]
                     if g.get("cpu_us") and r.get("cpu_us") else None)
        out.write("| %s | %s | %s | %s | %d | %s | %s | %s |\n" % (
            name, fmts(r, "rps", "%.0f"), fmts(r, "p50", "%.2f"), fmts(r, "p99", "%.2f"),
            r.get("errors", 0), fmts(r, "cpu_us", "%.2f"), fmt(rps_ratio, "%.2f"),
            fmt(cpu_ratio, "%.2f")))
    print_client_share(results, out)
    print_priority(scenario, out)


def print_priority(scenario, out):
    """Under a latency row's table: whether its processes were shielded."""
    if not scenario.realtime:
        return
    if realtime_prefix(True):
        out.write("\nEvery server and httpload here ran at SCHED_FIFO priority 1 "
                  "(`chrt --fifo 1`), ahead of the machine's own processes "
                  "(bench/README.md, \"Shielding the latency rows\").\n")
    else:
        out.write("\n`chrt --fifo 1` was refused on this machine: the servers and httpload "
                  "ran at the normal priority, and any other process that takes their "
                  "core for a few milliseconds puts hundreds of answers past the p99.\n")


def first_spans(r):
    """httpload's first requests: over how long they went and their
    answers came (medians of the runs), or nothing when not measured."""
    if r.get("first_sent") is None or r.get("first_answered") is None:
        return ""
    return " (sent over %s ms, answered over %s)" % (
        fmts(r, "first_sent", "%.1f"), fmts(r, "first_answered", "%.1f"))


def print_client_share(results, out):
    """Under a table whose load came from httpload: its CPU per request and
    both sides' busy share, so a row it capped can be told from one the
    server did."""
    rows = [(n, r) for n, r in results.items()
            if "skipped" not in r and r.get("client_cpu_us") is not None]
    if not rows:
        return
    out.write("\nhttpload (the load, one thread on CPU %s): %s.\n" % (CLIENT_CPUS, "; ".join(
        "against %s %s µs of its CPU per request, busy %s, the server %s%s%s"
        % (n, fmts(r, "client_cpu_us", "%.2f"), fmts(r, "client_busy", "%.2f"),
           fmts(r, "server_busy", "%.2f"),
           " (and waiting for its CPU %s)" % fmts(r, "server_waited", "%.2f")
           if r.get("server_waited") is not None else "",
           ", each connection's first answer p50 %s ms, p99 %s ms%s"
           % (fmts(r, "first_p50", "%.1f"), fmts(r, "first_p99", "%.1f"), first_spans(r))
           if r.get("first_p50") is not None else "") for n, r in rows)))
    if any(r.get("server_waited", 0) >= 0.05 for _, r in rows):
        out.write("\nThe server waited for its CPU (other work on it: /proc/PID/schedstat) "
                  "for 5 % of the window or more: those runs measure the machine's load "
                  "as much as the server.\n")
    capped = [n for n, r in rows if r.get("client_busy", 0) >= 0.9]
    if capped:
        out.write("\nhttpload was over 90 %% busy against %s: requests/s there may be "
                  "its limit.\n" % ", ".join(capped))


def draw(path, what, fn, *args):
    """FN(PATH, *ARGS) (a plots.draw_*), and the report's Markdown line:
    an image link relative to bench/ (where RESULTS.md is, absolute when
    PATH is elsewhere), or why it was not drawn."""
    try:
        if fn(path, *args) is None:
            return ""
    except ImportError as e:
        log("bench: no figure for %s: %s" % (what, e))
        return ("\n(No figure: %s; python3-matplotlib is a module of Debian's "
                "/usr/bin/python3, which bench/run uses.)\n" % e)
    except Exception as e:  # a figure failing is a line, not the end of the run
        log("bench: no figure for %s: %r" % (what, e))
        return "\n(No figure: %s.)\n" % str(e).splitlines()[0]
    rel = os.path.relpath(path, BENCH)
    link = path if rel.startswith("..") else rel
    return "\n![%s](%s)\n" % (what, link)


def run_once(sc, cls, duration, workdir):
    """One run of scenario SC against peer CLS, started and stopped for it:
    its figures, or {"skipped": why}."""
    peer = cls(workdir, workers=sc.workers, cpus=sc.server_cpus)
    try:
        peer.start(sc)
        return sc.measure(peer, duration, workdir)
    except Exception as e:  # a peer failing is a row, not the end
        return {"skipped": "failed: %s" % str(e).splitlines()[0]}
    finally:
        peer.stop()


def summarize(runs):
    """Runs of one peer -> one row: each numeric figure's median, its min
    and max under "spread" and every run's value, in run order, under
    "values" (a figure that is itself a minimum or a maximum over a run,
    key *_min / *_max, takes the runs' min / max)."""
    good = [r for r in runs if "skipped" not in r]
    if not good:
        return runs[-1]
    row = {"runs": len(good), "spread": {}, "values": {}}
    if len(good) < len(runs):
        row["failed_runs"] = len(runs) - len(good)
    for key in good[0]:
        vals = [r.get(key) for r in good]
        if not all(isinstance(v, (int, float)) for v in vals):
            row[key] = good[-1][key]
            continue
        row["values"][key] = vals
        vals = sorted(vals)
        if key == "errors":  # every run's count
            row[key] = sum(vals)
        elif key.endswith("_min"):
            row[key] = vals[0]
        elif key.endswith("_max"):
            row[key] = vals[-1]
        else:
            mid = len(vals) // 2
            row[key] = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
        row["spread"][key] = (vals[0], vals[-1])
    return row


def turns(counts, repeat):
    """The order of the runs: REPEAT turns, each a list of peer names in
    COUNTS' order; a peer with COUNTS[name] = k < REPEAT runs in k turns
    spread evenly over them (1 of 5: the middle one), so every peer meets
    the same spells of a shared machine."""
    out = [[] for _ in range(repeat)]
    for name, k in counts.items():
        k = max(0, min(k, repeat))
        for j in range(k):
            out[int((j + 0.5) * repeat / k)].append(name)
    return out


def runs_per_peer(sc, name, repeat, others):
    """How many of the REPEAT runs peer NAME takes in SC: all of them for
    the scenario's repeat_peers (every peer when None), else OTHERS (at
    least 1)."""
    if sc.repeat_peers is None or name in sc.repeat_peers:
        return repeat
    return max(1, min(repeat, others if others is not None else sc.others_repeat))


def run_scenario(sc, wanted, repeat, duration, workdir, others=None):
    """SC against each chosen peer, REPEAT runs taken in turns (so a slow
    spell of the shared machine falls on every peer alike; peers outside
    SC.repeat_peers take OTHERS runs, by default SC.others_repeat): peer
    name -> summarize()d row, in PEERS' order."""
    peers, results = [], {}
    for cls in PEERS:
        if wanted and cls.name not in wanted:
            continue
        if sc.peers and cls.name not in sc.peers:
            continue
        if sc.kind not in cls.kinds:
            continue
        why = cls.available() or cls.missing_for(sc)
        if why:
            results[cls.name] = {"skipped": why}
            continue
        if not cls(workdir, workers=sc.workers, cpus=sc.server_cpus).supports(sc):
            continue
        peers.append(cls)
        results[cls.name] = None  # keeps PEERS' order
    counts = {cls.name: runs_per_peer(sc, cls.name, repeat, others) for cls in peers}
    by_name = {cls.name: cls for cls in peers}
    runs = {cls.name: [] for cls in peers}
    for i, turn in enumerate(turns(counts, repeat)):
        for name in turn:
            log("bench: %s / %s (run %d of %d)" % (sc.name, name, len(runs[name]) + 1,
                                                  counts[name]))
            runs[name].append(run_once(sc, by_name[name], duration, workdir))
    for cls in peers:
        results[cls.name] = summarize(runs[cls.name])
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", help="names (default: all): %s"
                    % ", ".join(s.name for s in SCENARIOS))
    ap.add_argument("--duration", type=int, default=8, help="seconds per run (default 8)")
    ap.add_argument("--peers", help="comma-separated peer names (default: all installed)")
    ap.add_argument("--repeat", type=int, help="runs per server, taken in turns (greenicorn, "
                    "nginx, greenicorn, nginx, ...); each figure is their median, with "
                    "min-max beside it (default: 5 for issue #18's scenarios (plaintext-50, "
                    "new-connection, idle-10000, sleep, sleep-cold, sleep-cold-4s, "
                    "pipelined-16, plaintext-2workers) and ws-echo-50, 3 for the other ws-* "
                    "and sio-echo-50, 1 for the others)")
    ap.add_argument("--others-repeat", type=int, metavar="N", help="runs of the peers "
                    "other than greenicorn and nginx in issue #18's scenarios (gunicorn, "
                    "h2o), spread over the same turns (default 1, the middle turn)")
    ap.add_argument("--plots", metavar="DIR", default=PLOTS, help="where the figures go, "
                    "one per scenario and targets-18 (default bench/plots, beside "
                    "RESULTS.md; the report links them relative to bench/)")
    ap.add_argument("--plot-format", choices=("png", "svg"), default="png")
    ap.add_argument("--no-plots", action="store_true", help="draw nothing")
    ap.add_argument("--base", metavar="BUILD", help="also run greenicorn from BUILD "
                    "(a build of the code before a change) as the peer greenicorn-base")
    args = ap.parse_args()
    if args.base:
        GreenicornBase.build = GreenicornEpollBase.build = os.path.abspath(args.base)

    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    unknown = set(args.scenarios) - {s.name for s in SCENARIOS}
    if unknown:
        ap.error("unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    wanted = set(args.peers.split(",")) if args.peers else None
    if not args.base:
        wanted = (wanted or {c.name for c in PEERS}) - {GreenicornBase.name,
                                                       GreenicornEpollBase.name}
    if any(s.kind == "http" for s in chosen) and not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (scripts/install-deps --bench)")

    out = sys.stdout
    out.write("# greenicorn benchmark, %s\n\n" % time.strftime("%Y-%m-%d %H:%M %Z"))
    out.write("Machine: %d CPUs (%s), %s. Server on CPU %s, wrk/wsload on CPU %s (both on "
              "CPUs %s in plaintext-2workers); %d s per run.\n"
              % (CPUS, cpu_model(), os.uname().release, SERVER_CPUS, CLIENT_CPUS, BOTH_CPUS,
                 args.duration))
    if not args.no_plots:
        os.makedirs(args.plots, exist_ok=True)
    if args.base:
        out.write("greenicorn: %s; greenicorn-base: %s.\n" % (BUILD, GreenicornBase.build))
    all_results = {}
    with tempfile.TemporaryDirectory(prefix="greenicorn-bench-") as workdir:
        os.chmod(workdir, 0o755)
        for sc in chosen:
            results = run_scenario(sc, wanted, args.repeat or sc.repeat, args.duration,
                                   workdir, args.others_repeat)
            all_results[sc.name] = results
            print_table(sc, results, out)
            if not args.no_plots:
                path = os.path.join(args.plots, "%s.%s" % (sc.name, args.plot_format))
                out.write(draw(path, sc.title, plots.draw_scenario, sc.title, results,
                               sc.panels))
            out.flush()
    print_targets(chosen, all_results, out,
                  None if args.no_plots else os.path.join(args.plots, "targets-18.%s"
                                                          % args.plot_format))


TARGET_TABLES = [("issue #7", "http", targets), ("issue #18", "http", lead_targets),
                 ("issue #13", "ws", ws_targets), ("issue #16", "tls", tls_targets),
                 ("issue #15", "sio", sio_targets)]


def print_targets(chosen, all_results, out, figure=None):
    """The report's end: each issue's targets whose kind of scenario was
    CHOSEN, met or not; issue #18's also drawn to FIGURE (a path) if given."""
    for issue, kind, check in TARGET_TABLES:
        if kind == "tls" and not any(s.tls for s in chosen):
            continue
        if kind != "tls" and not any(s.kind == kind and not s.tls for s in chosen):
            continue
        out.write("\n### Targets (%s)\n\n| target | | measured |\n|---|---|---|\n" % issue)
        for what, met, detail in check(all_results):
            out.write("| %s | %s | %s |\n" % (what, met, detail))
        if check is lead_targets and figure:
            out.write(draw(figure, "issue #18's targets", plots.draw_targets,
                           lead_checks(all_results)))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
        return m.group(1).strip() if m else "unknown CPU"
    except OSError:
        return "unknown CPU"


if __name__ == "__main__":
    main()
