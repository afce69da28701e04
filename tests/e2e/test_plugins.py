#!/usr/bin/env python3
"""The plugin contract as app authors meet it: apps mounted on URL
prefixes (routing, SCRIPT_NAME/PATH_INFO, per-app args, 404), and plugins
that must be refused at start-up (wrong ABI, missing symbol, missing
file) with a message naming the file and the reason."""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import RawConn, ServerTestCase, app_path, render_config, run_until_exit


def echo_get(srv, target):
    with RawConn(srv.port) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        return c.read_response()


class MountTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="echo", workers=1, settings={
            "app.args": {"label": "root"},
            "app:api": {"module": app_path("echo"), "mount": "/api"},
            "app:api.args": {"label": "api"},
            "app:v2": {"module": app_path("echo"), "mount": "/api/v2/"},
            "app:v2.args": {"label": "v2"},
        })

    def fields(self, target):
        r = echo_get(self.srv, target)
        self.assertEqual(r.status, 200, r)
        return r.echo_fields()

    def test_longest_prefix_wins(self):
        cases = [
            ("/", "root", "", "/"),
            ("/apix", "root", "", "/apix"),
            ("/api", "api", "/api", ""),
            ("/api/", "api", "/api", "/"),
            ("/api/users/7?x=1", "api", "/api", "/users/7"),
            ("/api/v2", "v2", "/api/v2", ""),
            ("/api/v2/things", "v2", "/api/v2", "/things"),
            ("/api/v20", "api", "/api", "/v20"),
            ("/api%2Fv2/x", "v2", "/api/v2", "/x"),  # decoded, as WSGI's
        ]
        for target, label, script, info in cases:
            with self.subTest(target=target):
                f = self.fields(target)
                self.assertEqual(f["label"], label)
                self.assertEqual(f["script-name"], script)
                self.assertEqual(f["path-info"], info)
                self.assertEqual(f["target"], target)

    def test_each_app_has_its_own_args(self):
        self.assertEqual(self.fields("/api/x")["label"], "api")
        self.assertEqual(self.fields("/x")["label"], "root")


class NoRootMountTest(ServerTestCase):

    def test_404_when_no_mount_matches_and_the_connection_stays(self):
        srv = self.start_server(app=None, settings={
            "app:api": {"module": app_path("echo"), "mount": "/api"}})
        with RawConn(srv.port) as c:
            c.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                   b"GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 404, r)
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.echo_fields()["path-info"], "/ok")


if __name__ == "__main__":
    unittest.main()
