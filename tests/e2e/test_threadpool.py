#!/usr/bin/env python3
"""The worker's thread pool (gn_run_in_thread, issue #14's acceptance 2)
through tests/plugins/pool_probe.c: 100 concurrent requests that each
block 50 ms on a pool thread finish in rounds of threadpool_size on ONE
worker, a full queue answers 503 at once, a timeout answers 504 and the
late result is dropped, the threads start in the worker on first use
(never in the arbiter, preload_app or not), and a stuck function does
not hold a graceful exit."""
import math
import os
import signal
import threading
import time
import unittest

from harness import ServerTestCase, test_plugin_path, wait_until


def pool_tids(pid):
    """The ids of PID's threads that are the pool's ("gn-pool")."""
    tids = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().startswith("gn-pool"):
                    tids.append(int(tid))
        except FileNotFoundError:
            pass  # it just ended
    return tids


def pool_threads(pid):
    """How many of PID's threads are the pool's."""
    return len(pool_tids(pid))


def concurrently(srv, targets, timeout=30):
    """GET each of TARGETS at once, each on its own connection, connected
    beforehand so that the measure is the server's: the (status, body)
    list in order, and the seconds from the first request sent to the
    last answer."""
    results = [None] * len(targets)
    connected = threading.Barrier(len(targets) + 1, timeout=timeout)
    gate = threading.Event()

    def one(i, target):
        conn = srv.http(timeout)
        try:
            conn.connect()
            connected.wait()
            gate.wait(timeout)
            conn.request("GET", target)
            r = conn.getresponse()
            results[i] = (r.status, r.read())
        except (OSError, threading.BrokenBarrierError) as e:
            results[i] = (None, repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i, t))
               for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    connected.wait()
    started = time.monotonic()
    gate.set()
    for t in threads:
        t.join(timeout + 5)
    return results, time.monotonic() - started


class PoolThroughputTest(ServerTestCase):
    """Acceptance 2: ~50 ms x ceil(100 / threadpool_size), on one worker."""

    def run_burst(self, size):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"green": {"threadpool_size": size,
                                "threadpool_queue": 1000,
                                "patch_all": "on"},
                      "workers": {"worker_connections": 1000}})
        # The threads start on the first call: not part of the measure.
        status, _h, body = srv.get("/block?ms=1")
        self.assertEqual(status, 200, body)
        results, took = concurrently(srv, ["/block?ms=50"] * 100)
        self.assertEqual([r[0] for r in results], [200] * 100, results[:3])
        # Run on pool threads (not the loop's), where the green API is
        # refused: the blocking usleep never ran in a coroutine.
        self.assertEqual(results[0][1], b"ok 50 same_thread 0 green -1\n")
        ideal = 0.05 * math.ceil(100 / size)
        print("threadpool_size %d: 100 x 50 ms in %.3f s (ideal %.2f s, "
              "serial 5 s)" % (size, took, ideal))
        # Never faster than the pool allows (it bounds the parallelism)...
        self.assertGreaterEqual(took, ideal * 0.9)
        # ...and within 3x the ideal on a loaded machine, far from serial.
        self.assertLess(took, 3 * ideal)
        self.assertLess(took, 5.0 / 2)
        return srv

    def test_100_calls_take_rounds_of_10(self):
        srv = self.run_burst(10)
        self.assertEqual(pool_threads(srv.worker_pids()[0]), 10)

    def test_100_calls_take_rounds_of_25(self):
        self.run_burst(25)

    def test_the_worker_answers_while_the_pool_works(self):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"green": {"threadpool_size": 2}})
        busy = threading.Thread(
            target=concurrently, args=(srv, ["/block?ms=1000"] * 2))
        busy.start()
        self.addCleanup(busy.join, 15)
        time.sleep(0.2)
        started = time.monotonic()
        status, _h, body = srv.get("/hello")
        took = time.monotonic() - started
        self.assertEqual((status, body), (200, b"hello\n"))
        self.assertLess(took, 0.5)  # not behind the two 1 s calls


class PoolLimitsTest(ServerTestCase):

    def test_a_full_queue_answers_503_at_once(self):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"green": {"threadpool_size": 2, "threadpool_queue": 1}})
        busy = []
        holder = threading.Thread(target=lambda: busy.extend(
            concurrently(srv, ["/block?ms=1500"] * 3)[0]))
        holder.start()
        self.addCleanup(holder.join, 15)
        # Two run and one waits once the worker has read the three.
        time.sleep(0.5)
        started = time.monotonic()
        status, _h, body = srv.get("/block?ms=10")
        took = time.monotonic() - started
        self.assertEqual(status, 503, body)
        self.assertIn(b"Resource temporarily unavailable", body)
        self.assertLess(took, 0.8)  # not after a 1.5 s call
        holder.join(15)
        self.assertEqual([r[0] for r in busy], [200] * 3, busy)
        # Room again.
        self.assertEqual(srv.get("/block?ms=10")[0], 200)

    def test_a_timeout_answers_504_and_drops_the_late_result(self):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1)
        started = time.monotonic()
        status, _h, _b = srv.get("/block?ms=600&timeout=0.1")
        took = time.monotonic() - started
        self.assertEqual(status, 504)
        self.assertLess(took, 0.5)
        # The function ran on; drop() got its result afterwards.
        srv.wait_for_log(r"pool_probe: dropped after 600 ms \(result 600\)",
                         timeout=5)

    def test_a_stuck_function_does_not_hold_the_exit(self):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"workers": {"graceful_timeout": 4}})
        pid = srv.wait_workers(1)[0]
        caller = threading.Thread(target=lambda: concurrently(
            srv, ["/block?ms=30000&timeout=-1"], timeout=10))
        caller.start()
        self.addCleanup(caller.join, 15)
        wait_until(lambda: pool_threads(pid) > 0, 5, what="pool threads")
        time.sleep(0.2)
        started = time.monotonic()
        srv.stop(signal.SIGTERM, timeout=10)
        took = time.monotonic() - started
        log = srv.log()
        self.assertIn("1 thread pool function still running after 250 ms: "
                      "exiting without unloading the apps", log)
        self.assertNotIn("still running when graceful_timeout ended", log)
        self.assertRegex(log, r"worker 1 \(pid %d\) exited" % pid)
        self.assertLess(took, 4 + 2)


class PoolStartTest(ServerTestCase):
    """Threads start in the worker, on its first call: never in the
    arbiter, where (preload_app) init's call runs inline."""

    def check(self, preload):
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"workers": {"preload_app": "on" if preload else "off"},
                      "green": {"threadpool_size": 3}})
        pid = srv.wait_workers(1)[0]
        srv.wait_for_log(r"pool_probe: init ran inline \(rc 0, same thread 1\)")
        self.assertEqual(pool_threads(srv.pid), 0)
        self.assertEqual(pool_threads(pid), 0)
        self.assertEqual(srv.get("/block?ms=1")[0], 200)
        self.assertEqual(pool_threads(pid), 3)
        self.assertEqual(pool_threads(srv.pid), 0)

    def test_threads_start_on_first_use(self):
        self.check(preload=False)

    def test_preload_app_runs_init_inline_in_the_arbiter(self):
        self.check(preload=True)

    def test_a_pinned_worker_leaves_its_pool_every_cpu(self):
        # worker_cpu_affinity = auto keeps the worker's loop on one CPU;
        # its pool's threads, started after, may run on all the CPUs the
        # server was started with, not take turns with the loop.
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("one CPU here")
        srv = self.start_server(
            app=test_plugin_path("pool_probe"), workers=1,
            settings={"workers": {"worker_cpu_affinity": "auto"},
                      "green": {"threadpool_size": 3}})
        pid = srv.wait_workers(1)[0]
        self.assertEqual(srv.get("/block?ms=1")[0], 200)
        pool = pool_tids(pid)
        self.assertEqual(len(pool), 3)
        self.assertEqual(sorted(os.sched_getaffinity(pid)), [cpus[0]])
        for tid in pool:
            self.assertEqual(sorted(os.sched_getaffinity(tid)), cpus)


if __name__ == "__main__":
    unittest.main()
