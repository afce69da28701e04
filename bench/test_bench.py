#!/usr/bin/env python3
"""bench/bench.py's repeated runs: taken in turns, summed up as medians.

    python3 bench/test_bench.py -v

No server runs here: fake peers record the order they are run in, and the
summary and the table cells are checked on figures made up for it.
"""
import importlib.util
import os
import tempfile
import unittest

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
