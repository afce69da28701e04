#!/usr/bin/env python3
"""bench/bench.py's repeated runs: taken in turns, summed up as medians,
checked against issue #18's targets, and drawn (bench/plots.py).

    /usr/bin/python3 bench/test_bench.py -v

No server runs here: fake peers record the order they are run in, and the
summary, the table cells, the targets and the figures are checked on
figures made up for it. The figures need python3-matplotlib, a module of
Debian's python (/usr/bin/python3; meson runs it with that one).
"""
import importlib.util
import io
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


class SummarizeTest(unittest.TestCase):
    def test_median_and_spread_of_each_figure(self):
        runs = [{"rps": 30.0, "cpu_us": 9.0, "errors": 0},
                {"rps": 10.0, "cpu_us": 12.0, "errors": 2},
                {"rps": 20.0, "cpu_us": 7.0, "errors": 1}]
        row = bench.summarize(runs)
        self.assertEqual(row["runs"], 3)
        self.assertEqual(row["rps"], 20.0)
        self.assertEqual(row["spread"]["rps"], (10.0, 30.0))
        self.assertEqual(row["cpu_us"], 9.0)
        self.assertEqual(row["spread"]["cpu_us"], (7.0, 12.0))
        self.assertEqual(row["errors"], 3)  # every run's, not a median
        self.assertNotIn("failed_runs", row)

    def test_even_count_takes_the_middle_two(self):
        row = bench.summarize([{"x": 1.0}, {"x": 4.0}, {"x": 2.0}, {"x": 10.0}])
        self.assertEqual(row["x"], 3.0)

    def test_min_and_max_figures_take_the_extremes(self):
        row = bench.summarize([{"last_ms": 5.0, "last_ms_min": 3.0, "last_ms_max": 9.0},
                               {"last_ms": 7.0, "last_ms_min": 2.0, "last_ms_max": 8.0},
                               {"last_ms": 6.0, "last_ms_min": 4.0, "last_ms_max": 12.0}])
        self.assertEqual((row["last_ms"], row["last_ms_min"], row["last_ms_max"]),
                         (6.0, 2.0, 12.0))

    def test_failed_runs_are_left_out_and_counted(self):
        row = bench.summarize([{"skipped": "failed: x"}, {"rps": 5.0}, {"rps": 7.0}])
        self.assertEqual(row["runs"], 2)
        self.assertEqual(row["failed_runs"], 1)
        self.assertEqual(row["rps"], 6.0)
        self.assertEqual(bench.summarize([{"skipped": "failed: a"}, {"skipped": "failed: b"}]),
                         {"skipped": "failed: b"})

    def test_cell_shows_median_and_range_only_over_several_runs(self):
        row = bench.summarize([{"cpu_us": 9.0}, {"cpu_us": 12.0}, {"cpu_us": 7.0}])
        self.assertEqual(bench.fmts(row, "cpu_us", "%.2f"), "9.00 (7.00–12.00)")
        one = bench.summarize([{"cpu_us": 9.0}])
        self.assertEqual(bench.fmts(one, "cpu_us", "%.2f"), "9.00")
        self.assertEqual(bench.fmts({"cpu_us": 9.0}, "cpu_us", "%.2f"), "9.00")


class TurnsTest(unittest.TestCase):
    def test_servers_are_run_in_turns(self):
        order = []

        class Fake(bench.Peer):
            kinds = ("ws",)

            @classmethod
            def available(cls):
                return None

            def start(self, scenario):
                order.append(self.name)

            def stop(self):
                pass

        class A(Fake):
            name = "a"

        class B(Fake):
            name = "b"

        class Missing(Fake):
            name = "missing"

            @classmethod
            def available(cls):
                return "not installed (x)"

        class Sc(bench.Scenario):
            kind = "ws"
            n = 0

            def measure(self, peer, duration, workdir):
                Sc.n += 1
                return {"v": float(Sc.n)}

        saved = bench.PEERS
        bench.PEERS = [A, Missing, B]
        try:
            with tempfile.TemporaryDirectory() as tmp:
                results = bench.run_scenario(Sc(), None, 3, 1, tmp)
        finally:
            bench.PEERS = saved
        self.assertEqual(order, ["a", "b"] * 3)
        self.assertEqual(list(results), ["a", "missing", "b"])
        self.assertEqual(results["missing"], {"skipped": "not installed (x)"})
        self.assertEqual(results["a"]["v"], 3.0)  # runs 1, 3, 5
        self.assertEqual(results["a"]["spread"]["v"], (1.0, 5.0))
        self.assertEqual(results["b"]["v"], 4.0)  # runs 2, 4, 6


def fake_peers(names, order, missing=()):
    """Peer classes named NAMES that start nothing and record in ORDER
    the name of each one started (those in MISSING are not installed)."""
    out = []
    for name in names:
        class Fake(bench.Peer):
            kinds = ("http",)

            @classmethod
            def available(cls):
                return "not installed (x)" if cls.name in missing else None

            def start(self, scenario):
                order.append(self.name)

            def stop(self):
                pass
        Fake.name = name
        out.append(Fake)
    return out


class CountingScenario(bench.Headline):
    """A headline scenario whose n-th run (over all peers) measures n."""
    name = "counting"

    def __init__(self):
        self.n = 0

    def measure(self, peer, duration, workdir):
        self.n += 1
        return {"rps": float(self.n), "cpu_us": 10.0 * self.n, "errors": 0}


class HeadlineTurnsTest(unittest.TestCase):
    """Issue #18's scenarios: 5 runs of greenicorn and nginx in turns, the
    other peers once, in the middle turn."""

    def run_with(self, names, **kw):
        order = []
        saved = bench.PEERS
        bench.PEERS = fake_peers(names, order, kw.pop("missing", ()))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                sc = CountingScenario()
                results = bench.run_scenario(sc, None, kw.pop("repeat", sc.repeat), 1, tmp,
                                             **kw)
        finally:
            bench.PEERS = saved
        return order, results

    def test_greenicorn_and_nginx_alternate_five_times_others_once_in_the_middle(self):
        order, results = self.run_with(["greenicorn", "nginx", "gunicorn+gevent", "h2o"])
        self.assertEqual(order, ["greenicorn", "nginx"] * 2
                         + ["greenicorn", "nginx", "gunicorn+gevent", "h2o"]
                         + ["greenicorn", "nginx"] * 2)
        g, n = results["greenicorn"], results["nginx"]
        self.assertEqual((g["runs"], n["runs"], results["h2o"]["runs"]), (5, 5, 1))
        # greenicorn measured runs 1, 3, 5, 9, 11 (5 to 8 were the middle turn)
        self.assertEqual(g["values"]["rps"], [1.0, 3.0, 5.0, 9.0, 11.0])
        self.assertEqual((g["rps"], g["spread"]["rps"]), (5.0, (1.0, 11.0)))
        self.assertEqual(n["values"]["rps"], [2.0, 4.0, 6.0, 10.0, 12.0])
        self.assertEqual(results["h2o"]["rps"], 8.0)
        self.assertEqual(results["h2o"]["spread"]["rps"], (8.0, 8.0))

    def test_others_repeat_and_repeat_are_taken(self):
        order, results = self.run_with(["greenicorn", "nginx", "h2o"], others=2)
        self.assertEqual(order.count("h2o"), 2)
        self.assertEqual(order[:5], ["greenicorn", "nginx", "greenicorn", "nginx", "h2o"])
        order, results = self.run_with(["greenicorn", "nginx", "h2o"], repeat=2, others=9)
        self.assertEqual(order, ["greenicorn", "nginx", "h2o"] * 2)
        order, _ = self.run_with(["greenicorn", "nginx", "h2o"], repeat=1)
        self.assertEqual(order, ["greenicorn", "nginx", "h2o"])

    def test_a_missing_peer_is_a_row_and_takes_no_turn(self):
        order, results = self.run_with(["greenicorn", "nginx"], missing=("nginx",))
        self.assertEqual(order, ["greenicorn"] * 5)
        self.assertEqual(results["nginx"], {"skipped": "not installed (x)"})

    def test_turns_spread_the_fewer_runs(self):
        self.assertEqual(bench.turns({"a": 5, "b": 1}, 5),
                         [["a"], ["a"], ["a", "b"], ["a"], ["a"]])
        self.assertEqual(bench.turns({"a": 5, "b": 2}, 5),
                         [["a"], ["a", "b"], ["a"], ["a", "b"], ["a"]])
        self.assertEqual(bench.turns({"a": 3, "b": 7, "c": 0}, 3), [["a", "b"]] * 3)
        self.assertEqual(bench.turns({"a": 1}, 1), [["a"]])

    def test_headline_scenarios_and_their_settings(self):
        by_name = {s.name: s for s in bench.SCENARIOS}
        for name in ("plaintext-50", "new-connection", "idle-10000", "sleep", "sleep-cold",
                     "sleep-cold-4s", "pipelined-16", "plaintext-2workers"):
            sc = by_name[name]
            self.assertEqual(sc.repeat, 5, name)
            self.assertIn("greenicorn", sc.repeat_peers, name)
            self.assertEqual(bench.runs_per_peer(sc, "greenicorn", 5, None), 5)
            if name.startswith("sleep"):
                self.assertEqual(bench.runs_per_peer(sc, "gunicorn+gevent", 5, None), 1)
            else:
                self.assertEqual(bench.runs_per_peer(sc, "nginx", 5, None), 5)
                self.assertEqual(bench.runs_per_peer(sc, "h2o", 5, None), 1)
                self.assertEqual(bench.runs_per_peer(sc, "h2o", 5, 3), 3)
        self.assertEqual(by_name["plaintext-1000"].repeat, 1)
        self.assertEqual(bench.runs_per_peer(by_name["ws-echo-50"], "node-ws", 5, 1), 5)
        self.assertEqual((by_name["sleep"].warmup, by_name["sleep"].seconds), (1, None))
        self.assertEqual((by_name["sleep-cold"].warmup, by_name["sleep-cold"].seconds), (0, None))
        self.assertEqual((by_name["sleep-cold-4s"].warmup, by_name["sleep-cold-4s"].seconds),
                         (0, 4))
        self.assertEqual(by_name["sleep-cold"].connections, 5000)
        # The cold rows also run greenicorn readied for the burst, in turns.
        for name in ("sleep-cold", "sleep-cold-4s"):
            for variant in ("greenicorn-prealloc", "greenicorn-thp", "greenicorn-stack64"):
                self.assertIn(variant, by_name[name].peers)
                self.assertEqual(bench.runs_per_peer(by_name[name], variant, 5, None), 5)
        # The ramped cold row spreads the first round over one sleep period;
        # the others send it at once. Every sleep row runs the minimal
        # server, and only they do.
        self.assertEqual(by_name["sleep-cold-ramped"].ramp, 0.1)
        self.assertEqual(by_name["sleep-cold-ramped"].warmup, 0)
        for name in ("sleep", "sleep-cold", "sleep-cold-4s", "sleep-cold-ramped"):
            self.assertIn("minimal", by_name[name].peers, name)
            self.assertEqual(bench.runs_per_peer(by_name[name], "minimal", 5, None), 5)
            if name != "sleep-cold-ramped":
                self.assertEqual(by_name[name].ramp, 0, name)
        with tempfile.TemporaryDirectory() as tmp:
            minimal = bench.Minimal(tmp)
            self.assertTrue(minimal.supports(by_name["sleep-cold-ramped"]))
            self.assertFalse(minimal.supports(by_name["plaintext-50"]))
            self.assertEqual(minimal.command(by_name["sleep"])[1:],
                             ["-p", str(minimal.port)])
        self.assertNotIn("greenicorn-prealloc", by_name["sleep"].peers)
        self.assertNotIn("greenicorn-thp", by_name["sleep"].peers)
        self.assertNotIn("greenicorn-stack64", by_name["sleep"].peers)

    def cold_peer_command(self, cls):
        """CLS's command for sleep-cold and its config file's text; and
        that CLS runs where the cold rows name it, nowhere else."""
        with tempfile.TemporaryDirectory() as tmp:
            peer = cls(tmp)
            peer.port = 8080
            cmd = peer.command(bench.SleepCold())
            with open(cmd[-1]) as f:
                conf = f.read()
            self.assertTrue(peer.supports(bench.SleepCold4s()))
            self.assertFalse(peer.supports(bench.Plaintext50()))
            self.assertFalse(peer.supports(bench.Sleep()))
        self.assertIn("worker_connections = 12000\n", conf)
        return cmd, conf

    def test_prealloc_peer_readies_the_scenarios_connections(self):
        cmd, conf = self.cold_peer_command(bench.GreenicornPrealloc)
        self.assertEqual(cmd[0], os.path.join(bench.BUILD, "greenicorn"))
        self.assertIn("stack_prealloc = 5000\n", conf)

    def test_thp_peer_runs_greenicorn_with_mallocs_huge_pages(self):
        cmd, conf = self.cold_peer_command(bench.GreenicornHugePages)
        self.assertEqual(cmd[:2], ["env", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"])
        self.assertEqual(cmd[2], os.path.join(bench.BUILD, "greenicorn"))
        # The default configuration otherwise: nothing readied at boot.
        self.assertNotIn("stack_prealloc", conf)

    def test_stack64_peer_runs_greenicorn_with_smaller_stacks(self):
        cmd, conf = self.cold_peer_command(bench.GreenicornStack64)
        self.assertEqual(cmd[0], os.path.join(bench.BUILD, "greenicorn"))
        self.assertIn("stack_size = 64\n", conf)
        self.assertNotIn("stack_prealloc", conf)
        self.assertNotIn("GLIBC_TUNABLES", " ".join(cmd))


class WrkCallsTest(unittest.TestCase):
    """What measure() asks wrk for: warm-up or none, the run's length,
    the threads and CPUs (run_wrk replaced, no wrk run)."""

    def calls(self, sc, duration=8):
        got = []

        def fake_wrk(url, connections, seconds, **kw):
            got.append((connections, seconds, kw["threads"], kw["cpus"]))
            return {"requests": 1000, "rps": 100.0, "errors": 0}

        class P:
            port = 1

            def pids(self):
                return []

            def url(self, sc):
                return "http://127.0.0.1:1/"

        saved = bench.run_wrk
        bench.run_wrk = fake_wrk
        try:
            with tempfile.TemporaryDirectory() as tmp:
                sc.measure(P(), duration, tmp)
        finally:
            bench.run_wrk = saved
        return got

    def test_plaintext_warms_up_then_measures(self):
        c = bench.CLIENT_CPUS
        self.assertEqual(self.calls(bench.Plaintext50()), [(50, 1, 1, c), (50, 8, 1, c)])

    def test_two_workers_share_both_cpus_with_two_wrk_threads(self):
        sc = bench.TwoWorkers()
        self.assertEqual((sc.workers, sc.server_cpus), (2, bench.BOTH_CPUS))
        self.assertEqual(self.calls(sc), [(50, 1, 2, bench.BOTH_CPUS),
                                          (50, 8, 2, bench.BOTH_CPUS)])
        with tempfile.TemporaryDirectory() as tmp:
            n = bench.Nginx(tmp, workers=sc.workers)
            n.command(sc)
            with open(os.path.join(n.dir, "nginx.conf")) as f:
                self.assertIn("worker_processes 2;", f.read())

    def test_a_run_without_requests_fails(self):
        saved = bench.run_wrk
        bench.run_wrk = lambda *a, **kw: bench.parse_wrk(
            "  0 requests in 2.03s, 0.00B read\nRequests/sec:      0.00\n")

        class P:
            def pids(self):
                return []

            def url(self, sc):
                return "http://127.0.0.1:1/"

        try:
            with tempfile.TemporaryDirectory() as tmp:
                with self.assertRaisesRegex(RuntimeError, "wrk completed no request in 2 s"):
                    bench.Plaintext50().measure(P(), 2, tmp)
        finally:
            bench.run_wrk = saved
        # ... and so a run left out and counted, not a median of 0 req/s:
        row = bench.summarize([{"skipped": "failed: wrk completed no request in 2 s"},
                               {"rps": 40000.0, "p99": 110.0, "errors": 0}])
        self.assertEqual((row["runs"], row["failed_runs"], row["rps"]), (1, 1, 40000.0))

    def test_wrk_latency_percentiles_are_read(self):
        out = """Running 1s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  173.00us
     75%    1.20ms
     90%    2.50ms
     99%    1.05s
  1000 requests in 1.00s, 10.00KB read
Requests/sec:   1000.00
"""
        r = bench.parse_wrk(out)
        self.assertEqual((r["p50"], r["p75"], r["p90"], r["p99"]), (0.173, 1.2, 2.5, 1050.0))
        self.assertEqual((r["requests"], r["rps"], r["errors"]), (1000, 1000.0, 0))


class HttploadCallsTest(unittest.TestCase):
    """The sleep rows drive httpload, not wrk: warm-up or none, the run's
    length, the path and body it checks; the server's CPU between its
    "measure" and "end" lines (run_httpload replaced, nothing run)."""

    def setUp(self):
        self.realtime = []

    def measure(self, sc, duration=8, requests=1000):
        got = []

        def fake(workdir, port, args, on_phase=None, timeout=300, realtime=False):
            got.append([str(a) for a in args])
            self.realtime.append(realtime)
            on_phase(["open", "5000", "0.2", "0"], None)
            on_phase(["measure"], None)
            on_phase(["end"], None)
            return {"requests": requests, "seconds": 8.0, "rps": requests / 8.0,
                    "p50_ms": 100.5, "p75_ms": 101.0, "p90_ms": 101.5, "p99_ms": 103.0,
                    "errors": 0, "client_cpu_s": 2.0, "client_cpu_us": 12.5,
                    "first_p50_ms": 120.0, "first_p99_ms": 150.0, "first_max_ms": 160.0,
                    "first_sent_ms": 38.5, "first_answered_ms": 47.25}

        class P:
            port = 1

            def pids(self):
                return []

        saved = bench.run_httpload, bench.run_wrk
        bench.run_httpload = fake
        bench.run_wrk = None  # a call fails the test
        try:
            with tempfile.TemporaryDirectory() as tmp:
                r = sc.measure(P(), duration, tmp)
        finally:
            bench.run_httpload, bench.run_wrk = saved
        return got, r

    def test_warm_cold_and_4s(self):
        def opts(args):
            return {args[i]: args[i + 1] for i in range(0, len(args), 2)}

        got, r = self.measure(bench.Sleep())
        self.assertEqual(len(got), 1)
        self.assertEqual(opts(got[0]), {"-c": "5000", "-d": "8", "-w": "1", "--path": "/sleep",
                                        "--expect-body": "Hello, World!"})
        self.assertEqual((r["rps"], r["p50"], r["p99"], r["errors"], r["client_cpu_us"]),
                         (125.0, 100.5, 103.0, 0, 12.5))
        self.assertEqual(r["cpu_us"], 0.0)  # no server pids, no ticks
        self.assertEqual((r["first_p50"], r["first_p99"]), (120.0, 150.0))
        self.assertEqual((r["first_sent"], r["first_answered"]), (38.5, 47.25))
        self.assertEqual(opts(self.measure(bench.SleepCold())[0][0])["-w"], "0")
        got = opts(self.measure(bench.SleepCold4s(), duration=2)[0][0])
        self.assertEqual((got["-d"], got["-w"]), ("4", "0"))
        self.assertNotIn("--ramp", got)
        got = opts(self.measure(bench.SleepColdRamped())[0][0])
        self.assertEqual((got["-d"], got["-w"], got["--ramp"]), ("8", "0", "0.1"))
        self.assertEqual(self.realtime, [True, True, True, True])  # httpload shielded

    def test_a_run_without_requests_fails(self):
        with self.assertRaisesRegex(RuntimeError, "httpload completed no request in 8 s"):
            self.measure(bench.Sleep(), requests=0)

    def test_the_table_says_what_httpload_cost(self):
        r = row([{"rps": 49000.0, "p50": 100.4, "p99": 103.0, "cpu_us": 9.0,
                  "client_cpu_us": 12.0, "client_busy": 0.6, "server_busy": 0.45,
                  "server_waited": 0.01, "first_p50": 131.0, "first_p99": 170.5,
                  "first_sent": 38.0, "first_answered": 52.5}])
        out = io.StringIO()
        bench.print_table(bench.Sleep(), {"greenicorn": r}, out)
        self.assertIn("httpload", out.getvalue())
        self.assertIn("against greenicorn 12.00 µs of its CPU per request, busy 0.60", out.getvalue())
        self.assertIn("(and waiting for its CPU 0.01)", out.getvalue())
        self.assertIn("each connection's first answer p50 131.0 ms, p99 170.5 ms "
                      "(sent over 38.0 ms, answered over 52.5)", out.getvalue())
        self.assertNotIn("over 90 %", out.getvalue())
        self.assertNotIn("other work on it", out.getvalue())


class RealtimeTest(unittest.TestCase):
    """The latency rows (sleep, sleep-cold, sleep-cold-4s) run their servers
    and httpload at SCHED_FIFO 1 where the machine allows it, the rows that
    saturate a core at the normal priority; the table says which."""

    def setUp(self):
        self.saved = bench._realtime_ok

    def tearDown(self):
        bench._realtime_ok = self.saved

    def test_only_the_latency_rows_ask_for_it(self):
        by_name = {sc.name: sc for sc in bench.SCENARIOS}
        asked = sorted(n for n, sc in by_name.items() if sc.realtime)
        self.assertEqual(asked, ["sleep", "sleep-cold", "sleep-cold-4s", "sleep-cold-ramped"])

    def test_prefix_when_allowed_refused_or_not_asked(self):
        bench._realtime_ok = True
        self.assertEqual(bench.realtime_prefix(True), ["chrt", "--fifo", "1"])
        self.assertEqual(bench.realtime_prefix(False), [])
        bench._realtime_ok = False
        self.assertEqual(bench.realtime_prefix(True), [])

    def test_a_server_of_a_latency_row_starts_under_chrt(self):
        started = []

        class Proc:
            pid = 0

        def popen(cmd, **kw):
            kw["stdout"].close()
            started.append(cmd)
            return Proc()

        class Fake(bench.Peer):
            name = "fake"

            def command(self, scenario):
                return ["server", "--flag"]

        saved = bench.subprocess.Popen, bench.wait_port, bench.time.sleep
        bench.subprocess.Popen, bench.wait_port = popen, lambda port: True
        bench.time.sleep = lambda s: None
        bench._realtime_ok = True
        try:
            with tempfile.TemporaryDirectory() as tmp:
                peer = Fake(tmp)
                peer.start(bench.Sleep())
                peer.start(bench.Plaintext50())
        finally:
            bench.subprocess.Popen, bench.wait_port, bench.time.sleep = saved
        self.assertEqual(started[0], ["chrt", "--fifo", "1", "taskset", "-c", "0",
                                      "server", "--flag"])
        self.assertEqual(started[1], ["taskset", "-c", "0", "server", "--flag"])

    def test_the_table_says_whether_it_was_shielded(self):
        r = row([{"rps": 49000.0, "p50": 100.4, "p99": 103.0, "cpu_us": 9.0}])
        for ok, says in ((True, "SCHED_FIFO priority 1"), (False, "was refused")):
            bench._realtime_ok = ok
            out = io.StringIO()
            bench.print_table(bench.Sleep(), {"greenicorn": r}, out)
            self.assertIn(says, out.getvalue())
            out = io.StringIO()
            bench.print_table(bench.Plaintext50(), {"greenicorn": r}, out)
            self.assertNotIn("SCHED_FIFO", out.getvalue())
            self.assertNotIn("refused", out.getvalue())


def row(runs):
    return bench.summarize([dict(r, errors=0) for r in runs])


def lead_results(**over):
    """Made-up medians for every row of issue #18's table, all met."""
    res = {
        "plaintext-50": {"greenicorn": row([{"cpu_us": c} for c in (5.0, 5.5, 6.0, 5.2, 5.4)]),
                         "nginx": row([{"cpu_us": c} for c in (7.0, 7.5, 8.0, 7.2, 7.4)])},
        "new-connection": {"greenicorn": row([{"cpu_us": 15.0}]),
                           "nginx": row([{"cpu_us": 20.0}])},
        "idle-10000": {"greenicorn": row([{"rss_kb_each": 0.45}]),
                       "nginx": row([{"rss_kb_each": 0.55}])},
        "pipelined-16": {"greenicorn": row([{"cpu_us": 0.6}]), "nginx": row([{"cpu_us": 4.6}])},
        "plaintext-2workers": {"greenicorn": row([{"rps": 220000.0}]),
                               "nginx": row([{"rps": 190000.0}])},
    }
    for sc in ("sleep", "sleep-cold", "sleep-cold-4s"):
        res[sc] = {"greenicorn": row([{"rps": 49000.0, "p99": 103.0},
                                      {"rps": 48800.0, "p99": 104.0},
                                      {"rps": 49100.0, "p99": 102.0}])}
    res.update(over)
    return res


class LeadTargetsTest(unittest.TestCase):
    """Issue #18's table: each row checked on medians, shown with ranges."""

    def test_every_row_met(self):
        rows = bench.lead_targets(lead_results())
        self.assertEqual([w for w, _, _ in rows], [
            "plaintext-50: CPU/request <= 0.8x nginx",
            "new-connection: CPU/request <= 0.9x nginx",
            "idle-10000: KB per idle keep-alive connection <= 0.5",
            "idle-10000: KB per idle connection <= 1.0x nginx",
            "sleep: req/s >= 48,500 (97% of 50,000)", "sleep: p99 <= 105 ms",
            "sleep-cold: req/s >= 48,500 (97% of 50,000)", "sleep-cold: p99 <= 105 ms",
            "sleep-cold-4s: req/s >= 48,500 (97% of 50,000)", "sleep-cold-4s: p99 <= 105 ms",
            "pipelined-16: CPU/request <= 0.2x nginx",
            "plaintext-2workers: req/s >= 1.1x nginx"])
        self.assertEqual({m for _, m, _ in rows}, {"met"})
        self.assertEqual(rows[0][2], "0.73x: greenicorn 5.40 µs (5.00–6.00, 5 runs), "
                                     "nginx 7.40 µs (7.00–8.00, 5 runs)")
        self.assertEqual(rows[1][2], "0.75x: greenicorn 15.00 µs (1 run), "
                                     "nginx 20.00 µs (1 run)")
        self.assertEqual(rows[4][2], "49000 req/s (48800–49100, 3 runs)")
        self.assertEqual(rows[5][2], "103.0 ms (102.0–104.0, 3 runs)")

    def test_rows_not_met_and_not_run(self):
        res = lead_results(**{
            "plaintext-50": {"greenicorn": row([{"cpu_us": 6.5}]), "nginx": row([{"cpu_us": 8.0}])},
            "idle-10000": {"greenicorn": row([{"rss_kb_each": 0.52}]),
                           "nginx": row([{"rss_kb_each": 0.55}])},
            "sleep-cold-4s": {"greenicorn": row([{"rps": 39000.0, "p99": 900.0}])},
            "plaintext-2workers": {"greenicorn": row([{"rps": 200000.0}]),
                                   "nginx": row([{"rps": 190000.0}])}})
        del res["pipelined-16"]
        res["new-connection"]["nginx"] = {"skipped": "not installed (nginx)"}
        got = {w: m for w, m, _ in bench.lead_targets(res)}
        self.assertEqual(got["plaintext-50: CPU/request <= 0.8x nginx"], "NOT met")  # 0.81x
        self.assertEqual(got["idle-10000: KB per idle keep-alive connection <= 0.5"], "NOT met")
        self.assertEqual(got["idle-10000: KB per idle connection <= 1.0x nginx"], "met")
        self.assertEqual(got["sleep-cold-4s: req/s >= 48,500 (97% of 50,000)"], "NOT met")
        self.assertEqual(got["sleep-cold-4s: p99 <= 105 ms"], "NOT met")
        self.assertEqual(got["sleep: p99 <= 105 ms"], "met")
        self.assertEqual(got["plaintext-2workers: req/s >= 1.1x nginx"], "NOT met")  # 1.05x
        self.assertEqual(got["pipelined-16: CPU/request <= 0.2x nginx"], "n/a")
        self.assertEqual(got["new-connection: CPU/request <= 0.9x nginx"], "n/a")
        self.assertEqual({m for _, m, _ in bench.lead_targets({})}, {"n/a"})

    def test_report_end_prints_each_issue_once_with_18s_figure(self):
        chosen = [bench.Plaintext50(), bench.WsEcho(), bench.TlsKeepalive(), bench.SioEcho()]
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp:
            fig = os.path.join(tmp, "targets-18.png")
            bench.print_targets(chosen, lead_results(), out, fig)
            self.assertTrue(os.path.getsize(fig) > 0)
        text = out.getvalue()
        for issue in ("#7", "#18", "#13", "#16", "#15"):
            self.assertEqual(text.count("### Targets (issue %s)" % issue), 1, issue)
        self.assertIn("| plaintext-2workers: req/s >= 1.1x nginx | met | 1.16x", text)
        self.assertIn("![issue #18's targets](%s)" % fig, text)
        out = io.StringIO()
        bench.print_targets([bench.WsEcho()], {}, out)
        self.assertNotIn("issue #18", out.getvalue())

    def test_table_shows_latency_ranges(self):
        res = {"greenicorn": row([{"rps": 10.0, "p50": 1.0, "p99": 3.0, "cpu_us": 2.0},
                                  {"rps": 12.0, "p50": 2.0, "p99": 5.0, "cpu_us": 3.0},
                                  {"rps": 11.0, "p50": 1.5, "p99": 4.0, "cpu_us": 4.0}]),
               "h2o": row([{"rps": 9.0, "p50": 1.0, "p99": 2.0, "cpu_us": 3.0}])}
        out = io.StringIO()
        bench.print_table(bench.Plaintext50(), res, out)
        text = out.getvalue()
        self.assertIn("| greenicorn | 11 (10–12) | 1.50 (1.00–2.00) | 4.00 (3.00–5.00) | 0 "
                      "| 3.00 (2.00–4.00) |", text)
        self.assertIn("| h2o | 9 | 1.00 | 2.00 | 0 | 3.00 |", text)
        self.assertIn("median of 3 runs per server", text)
        self.assertIn("Fewer runs: h2o 1", text)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PlotsTest(unittest.TestCase):
    """bench/plots.py draws made-up results to files that are valid PNG
    and SVG (python3-matplotlib, headless)."""

    def results(self):
        g = row([{"rps": r, "cpu_us": c, "p50": 0.2, "p75": 0.3, "p90": 0.4, "p99": p}
                 for r, c, p in ((140000.0, 6.0, 0.5), (150000.0, 5.5, 0.4),
                                 (145000.0, 5.8, 0.6))])
        n = row([{"rps": 130000.0, "cpu_us": 7.0, "p50": 0.25, "p75": 0.3, "p90": 0.5,
                  "p99": 0.7}])
        return {"greenicorn": g, "nginx": n, "lwan": {"skipped": "not packaged in Debian 12"}}

    def check_png(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], PNG_MAGIC)
        self.assertEqual(data[12:16], b"IHDR")
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        self.assertGreater(width, 300)
        self.assertGreater(height, 200)
        self.assertEqual(data[-8:-4], b"IEND")

    def check_svg(self, path):
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        return root

    def test_scenario_figure_png_and_svg(self):
        sc = bench.Plaintext50()
        with tempfile.TemporaryDirectory() as tmp:
            png = os.path.join(tmp, "plaintext-50.png")
            self.assertEqual(bench.plots.draw_scenario(png, sc.title, self.results(),
                                                       sc.panels), png)
            self.check_png(png)
            svg = os.path.join(tmp, "plaintext-50.svg")
            bench.plots.draw_scenario(svg, sc.title, self.results(), sc.panels)
            text = ET.tostring(self.check_svg(svg), encoding="unicode")
            # 3 panels: CPU, req/s, latency; the skipped server is not drawn,
            # only named.
            for label in ("server CPU", "requests/s", "latency", "greenicorn", "nginx",
                          "p99", "not drawn (see the table): lwan"):
                self.assertTrue(label in text, label)
            self.assertEqual(text.count("lwan"), 1)

    def test_greenicorn_variants_have_colours_of_their_own(self):
        names = ["greenicorn", "greenicorn-epoll", "greenicorn-prealloc", "nginx", "h2o"]
        got = bench.plots.colours(names)
        self.assertEqual(len(set(got)), len(names))
        self.assertEqual(got[0], bench.plots.GREENICORN)

    def test_figures_of_other_kinds_and_nothing_to_draw(self):
        with tempfile.TemporaryDirectory() as tmp:
            idle = {"greenicorn": row([{"rss_kb_each": 0.6}, {"rss_kb_each": 0.5}]),
                    "nginx": row([{"rss_kb_each": 0.55}])}
            path = os.path.join(tmp, "idle.png")
            self.assertEqual(bench.plots.draw_scenario(path, "idle", idle,
                                                       bench.Idle.panels), path)
            self.check_png(path)
            nothing = os.path.join(tmp, "nothing.png")
            self.assertIsNone(bench.plots.draw_scenario(
                nothing, "x", {"lwan": {"skipped": "not packaged"}}, bench.Idle.panels))
            self.assertFalse(os.path.exists(nothing))
            path = os.path.join(tmp, "targets.svg")
            self.assertEqual(bench.plots.draw_targets(path, bench.lead_checks(lead_results())),
                             path)
            text = ET.tostring(self.check_svg(path), encoding="unicode")
            self.assertTrue("plaintext-2workers: req/s &gt;= 1.1x nginx" in text)
            self.assertIsNone(bench.plots.draw_targets(os.path.join(tmp, "t.png"),
                                                       bench.lead_checks({})))

    def test_report_links_the_figure_relative_to_bench(self):
        with tempfile.TemporaryDirectory() as tmp:
            saved = bench.BENCH
            bench.BENCH = tmp
            try:
                os.mkdir(os.path.join(tmp, "plots"))
                path = os.path.join(tmp, "plots", "plaintext-50.png")
                line = bench.draw(path, "plaintext", bench.plots.draw_scenario, "t",
                                  self.results(), bench.Plaintext50.panels)
                self.assertEqual(line, "\n![plaintext](plots/plaintext-50.png)\n")
                self.check_png(path)
                self.assertEqual(bench.draw(path, "x", bench.plots.draw_scenario, "t", {},
                                            bench.Plaintext50.panels), "")
            finally:
                bench.BENCH = saved


class TlsTest(unittest.TestCase):
    """The tls-* scenarios' table and targets, on made-up figures."""

    def test_handshake_table_and_targets(self):
        import io
        results = {"greenicorn": {"rps": 500.0, "cpu_us": 300.0, "client_cpu_us": 600.0,
                                  "server_busy": 0.15, "client_busy": 0.30, "errors": 0,
                                  "info": "TLSv1.3 TLS_AES_128_GCM_SHA256 x25519"},
                   "nginx": {"rps": 400.0, "cpu_us": 400.0, "client_cpu_us": 600.0,
                             "server_busy": 0.5, "client_busy": 0.25, "errors": 0}}
        out = io.StringIO()
        bench.print_table(bench.TlsHandshake(), results, out)
        text = out.getvalue()
        self.assertIn("| greenicorn | 500 | 0 | 300.0 | 600.0 | 15 % | 30 % | 1.00 | 1.00 |",
                      text)
        self.assertIn("| nginx | 400 | 0 | 400.0 | 600.0 | 50 % | 25 % | 1.25 | 0.75 |", text)
        self.assertIn("Negotiated: greenicorn: TLSv1.3 TLS_AES_128_GCM_SHA256 x25519.", text)
        self.assertIn("tlsload was as busy as the server against greenicorn:", text)
        keepalive = {"greenicorn": {"cpu_us": 20.0}, "nginx": {"cpu_us": 16.0}}
        got = bench.tls_targets({"tls-handshake": results, "tls-keepalive-50": keepalive})
        self.assertEqual(got, [
            ("tls-keepalive-50: CPU/request <= 1.0x nginx", "NOT met", "1.25x"),
            ("tls-handshake: handshakes/s >= 1.0x nginx", "met", "1.25x"),
            ("tls-handshake: CPU/handshake <= 1.0x nginx (what handshakes/s is capped by "
             "when tlsload is not)", "met", "0.75x")])
        self.assertEqual(bench.tls_targets({})[0][1], "n/a")

    def test_targets_printed_for_the_scenarios_run(self):
        import io
        out = io.StringIO()
        results = {"greenicorn": {"rps": 500.0, "cpu_us": 300.0},
                   "nginx": {"rps": 400.0, "cpu_us": 400.0}}
        bench.print_targets([bench.TlsHandshake()], {"tls-handshake": results}, out)
        text = out.getvalue()
        self.assertIn("### Targets (issue #16)", text)
        self.assertIn("| tls-handshake: handshakes/s >= 1.0x nginx | met | 1.25x |", text)
        self.assertNotIn("issue #7", text)
        self.assertNotIn("issue #13", text)

    def test_tls_scenarios_speak_https_with_the_same_certificate(self):
        with tempfile.TemporaryDirectory() as tmp:
            g = bench.Greenicorn(tmp)
            n = bench.Nginx(tmp)
            sc = bench.TlsKeepalive()
            self.assertTrue(g.url(sc).startswith("https://127.0.0.1:"))
            g_args = g.command(sc)
            with open(g_args[g_args.index("-c") + 1]) as f:
                conf = f.read()
            cert, key = bench.tls_cert(tmp)
            self.assertIn("bind = tls://127.0.0.1:%d" % g.port, conf)
            self.assertIn("certfile = %s" % cert, conf)
            n.command(sc)
            with open(os.path.join(n.dir, "nginx.conf")) as f:
                nconf = f.read()
            self.assertIn("listen 127.0.0.1:%d backlog=8192 ssl;" % n.port, nconf)
            self.assertIn("ssl_certificate %s;" % cert, nconf)
            self.assertIn("ssl_conf_command Ciphersuites %s;" % bench.TLS13_SUITES, nconf)
            self.assertFalse(bench.Plaintext50().tls)
            self.assertTrue(bench.Greenicorn(tmp).url(bench.Plaintext50()).startswith("http://"))


if __name__ == "__main__":
    unittest.main()
