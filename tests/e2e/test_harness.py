#!/usr/bin/env python3
"""The harness itself: a skipped test must not pass unnoticed. A module
with skips says how many; under GN_E2E_NO_SKIP=1 or CI=true (scripts/test)
each skip fails the module."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

SKIPPING_MODULE = '''
import unittest
import harness


class Runs(unittest.TestCase):
    def test_passes(self):
        self.assertTrue(True)

    def test_skips_itself(self):
        self.skipTest("a peer is missing")


@unittest.skipIf(True, "a whole class skipped")
class Skipped(unittest.TestCase):
    def test_never_runs(self):
        self.fail("ran")


if __name__ == "__main__":
    unittest.main()
'''


class SkipAccountingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gn-harness-")
        cls.module = os.path.join(cls.tmp, "test_skipping.py")
        with open(cls.module, "w") as f:
            f.write(SKIPPING_MODULE)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.module)
        os.rmdir(cls.tmp)

    def run_module(self, **env):
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("CI", "GN_E2E_NO_SKIP")}
        clean.update(env, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        r = subprocess.run([sys.executable, self.module, "-v"], env=clean,
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stderr

    def test_skips_fail_the_module_under_no_skip(self):
        for env in ({"GN_E2E_NO_SKIP": "1"}, {"CI": "true"}):
            with self.subTest(env=env):
                rc, err = self.run_module(**env)
                self.assertNotEqual(rc, 0, err)
                self.assertIn("harness: 2 skip(s) counted as failures", err)
                self.assertIn("a peer is missing", err)
                self.assertIn("a whole class skipped", err)
                self.assertIn("FAILED (failures=2)", err)

    def test_skips_are_counted_otherwise(self):
        rc, err = self.run_module()
        self.assertEqual(rc, 0, err)
        self.assertIn("harness: 2 test(s) SKIPPED", err)
        self.assertIn("test_skips_itself: a peer is missing", err)
        self.assertIn("test_never_runs: a whole class skipped", err)


if __name__ == "__main__":
    unittest.main()
