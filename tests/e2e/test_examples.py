#!/usr/bin/env python3
"""The example apps of contrib/apps beyond hello and echo: json_api (a
JSON REST API with routing, per-worker state and a strict body parser),
mounted on /api beside hello on /, and hello_cpp (an app written in C++)."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import RawConn, ServerTestCase, app_path, chunked, run_until_exit

MAX_BODY = 64 * 1024
JSON = {"Content-Type": "application/json"}


def call(srv, method, target, body=None, headers=None):
    """One request on a fresh connection: (status, headers dict, body
    bytes). A dict or list BODY is sent as JSON."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(JSON, **(headers or {}))
    conn = srv.http()
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def sanitized():
    """True when the binary under test was built with AddressSanitizer."""
    with open(harness.GREENICORN, "rb") as f:
        return b"__asan_init" in f.read()


@contextlib.contextmanager
def environ(**changes):
    """os.environ with CHANGES for the processes started meanwhile."""
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class JsonApiTest(ServerTestCase):
    """json_api on /api, hello on /. The tests share the one worker's
    store, so each looks only at the items it made."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(app="hello", workers=1, settings={
            "app:api": {"module": app_path("json_api"), "mount": "/api"}})

    def api(self, method, path, body=None, headers=None):
        return call(self.srv, method, "/api" + path, body, headers)

    def assert_json(self, status, headers, body, want_status):
        """The answer is WANT_STATUS with a JSON body: that body, parsed."""
        self.assertEqual(status, want_status, body[:300])
        self.assertEqual(headers.get("Content-Type"), "application/json")
        return json.loads(body)

    def assert_error(self, answer, want_status):
        doc = self.assert_json(*answer, want_status)
        self.assertEqual(list(doc), ["error"], doc)
        self.assertIsInstance(doc["error"], str)
        return doc["error"]

    def create(self, title):
        doc = self.assert_json(*self.api("POST", "/items", {"title": title}), 201)
        self.assertEqual(doc["title"], title)
        return doc

    def titles(self):
        doc = self.assert_json(*self.api("GET", "/items"), 200)
        self.assertIsInstance(doc, list)
        return [item["title"] for item in doc]

    # -- the happy path ----------------------------------------------------

    def test_crud_round_trip(self):
        status, headers, body = self.api("POST", "/items", {"title": "milk"})
        item = self.assert_json(status, headers, body, 201)
        self.assertEqual(set(item), {"id", "title"})
        self.assertEqual(item["title"], "milk")
        self.assertEqual(headers["Location"], "/api/items/%d" % item["id"])

        self.assertEqual(self.assert_json(*call(self.srv, "GET", headers["Location"]), 200),
                         item)
        other = self.create("eggs")
        self.assertGreater(other["id"], item["id"])
        listed = self.assert_json(*self.api("GET", "/items"), 200)
        self.assertIn(item, listed)
        self.assertLess(listed.index(item), listed.index(other))  # oldest first

        status, headers, body = self.api("DELETE", "/items/%d" % item["id"])
        self.assertEqual((status, body), (204, b""))
        self.assert_error(self.api("GET", "/items/%d" % item["id"]), 404)
        self.assert_error(self.api("DELETE", "/items/%d" % item["id"]), 404)
        listed = self.assert_json(*self.api("GET", "/items"), 200)
        self.assertNotIn(item, listed)
        self.assertIn(other, listed)

    def test_ids_are_not_reused(self):
        first = self.create("first")
        self.api("DELETE", "/items/%d" % first["id"])
        self.assertGreater(self.create("second")["id"], first["id"])

    def test_health_names_the_worker(self):
        doc = self.assert_json(*self.api("GET", "/health"), 200)
        self.assertEqual(doc, {"status": "ok", "pid": self.srv.worker_pids()[0]})

    def test_head_answers_the_head_of_get(self):
        status, headers, body = self.api("HEAD", "/items")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["Content-Type"], "application/json")

    def test_accepted_json_forms(self):
        cases = [
            (b' \r\n\t{ "title" : "spaced" } \n', "spaced"),
            (b'{"\\u0074itle":"escaped name"}', "escaped name"),
            (b'{"title":"\\/\\b\\f\\n\\r\\t\\"\\\\"}', '/\b\f\n\r\t"\\'),
            (b'{"title":"\\u00e9\\u20AC\\ud83d\\ude00"}', "\u00e9\u20ac\U0001F600"),
            ('{"title":"é€😀"}'.encode(), "é€😀"),
            (b'{"title":""}', ""),
        ]
        for body, title in cases:
            with self.subTest(body=body):
                status, headers, got = self.api("POST", "/items", body, JSON)
                self.assertEqual(self.assert_json(status, headers, got, 201)["title"], title)
        charset = {"Content-Type": "application/json; charset=utf-8"}
        self.assertEqual(self.api("POST", "/items", b'{"title":"x"}', charset)[0], 201)

    def test_titles_are_escaped(self):
        title = 'say "hi"\\ to\nthe\r\tworld \x01\x1f\x7f é 😀'
        for ensure_ascii in (True, False):  # sent as \u escapes, or raw UTF-8
            with self.subTest(ensure_ascii=ensure_ascii):
                body = json.dumps({"title": title}, ensure_ascii=ensure_ascii).encode()
                status, headers, raw = self.api("POST", "/items", body, JSON)
                self.assertEqual(status, 201, raw)
                item_id = json.loads(raw)["id"]
                want = (b'{"id":%d,"title":"say \\"hi\\"\\\\ to\\nthe\\r'
                        b'\\tworld \\u0001\\u001F\x7f \xc3\xa9 \xf0\x9f\x98\x80"}\n'
                        % item_id)
                self.assertEqual(raw, want)
                status, _, raw = self.api("GET", "/items/%d" % item_id)
                self.assertEqual(raw, want)
                self.assertEqual(json.loads(raw)["title"], title)
        self.assertIn(title, self.titles())

    # -- any valid JSON (issue 11 item 16) ---------------------------------

    def test_any_valid_json_object_with_a_string_title(self):
        deep = b'{"title":"deep","x":' + b"[" * 63 + b"]" * 63 + b"}"  # 64 levels
        cases = [
            (b'{"title":"a","done":false}', "a"),
            (b'{"done":true,"title":"b","due":null}', "b"),
            (b'{"title":"nested","meta":{"tags":["x",{"y":[1,2.5e3,-0.1,true,null]}],'
             b'"empty":{},"list":[]}}', "nested"),
            (b'{"note":"\\u00e9\\ud83d\\ude00\\u0000","title":"\\u0041\\u00DF"}', "A\u00df"),
            (b'{"n":-0,"m":1E+2,"k":-12.5e-3,"big":123456789012345678901234567890,'
             b'"title":"numbers"}', "numbers"),
            (b'{"title":"nul \\u0000 inside"}', "nul \x00 inside"),
            (b'{ "title" : "a" , "x" : [ 1 , { } ] }', "a"),
            (deep, "deep"),
        ]
        for body, title in cases:
            with self.subTest(body=body[:60]):
                status, headers, got = self.api("POST", "/items", body, JSON)
                item = self.assert_json(status, headers, got, 201)
                self.assertEqual(item, {"id": item["id"], "title": title})
                self.assertEqual(json.loads(self.api("GET", "/items/%d" % item["id"])[2]),
                                 item)

    def test_valid_json_of_another_shape_is_400(self):
        cases = [
            (b"[]", "expected a JSON object"),
            (b'"title"', "expected a JSON object"),
            (b"null", "expected a JSON object"),
            (b"17", "expected a JSON object"),
            (b"{}", 'missing "title"'),
            (b'{"other":"x"}', 'missing "title"'),
            (b'{"Title":"x"}', 'missing "title"'),
            (b'{"title":1}', '"title" must be a string'),
            (b'{"title":null}', '"title" must be a string'),
            (b'{"title":false}', '"title" must be a string'),
            (b'{"title":["a"]}', '"title" must be a string'),
            (b'{"title":{}}', '"title" must be a string'),
        ]
        before = self.titles()
        for body, want in cases:
            with self.subTest(body=body):
                error = self.assert_error(self.api("POST", "/items", body, JSON), 400)
                self.assertEqual(error, want)
        self.assertEqual(self.titles(), before)

    def test_invalid_json_is_400_naming_the_byte(self):
        cases = [b'{"title":"a",}', b'{"title":"a"} {}', b"{'title':'a'}",
                 b'{"title":"a","done":False}', b'{"title":"a","n":01}',
                 b'{"title":"a","n":.5}', b'{"title":"a","n":1.}', b'{"title":"a","n":NaN}',
                 b'{"title":"a"/*c*/}', b'{"title":"a","t":tru}',
                 b'\xef\xbb\xbf{"title":"bom"}',
                 # Past the app's nesting limit, 64 (RFC 8259 9 allows one).
                 b'{"title":"deep","x":' + b"[" * 64 + b"]" * 64 + b"}"]
        before = self.titles()
        for body in cases:
            with self.subTest(body=body[:60]):
                error = self.assert_error(self.api("POST", "/items", body, JSON), 400)
                self.assertRegex(error, r"^bad JSON at byte \d+: \S")
        self.assertEqual(self.titles(), before)

    # -- errors ------------------------------------------------------------

    def test_unknown_routes_are_404(self):
        for path in ["", "/", "/items/", "/items/x", "/items/01", "/items/-1",
                     "/items/1/", "/items/1/more", "/items/99999999999999999999",
                     "/Items", "/health/", "/nothing"]:
            with self.subTest(path=path):
                self.assertEqual(self.assert_error(self.api("GET", path), 404),
                                 "no such route")
        self.assertEqual(self.assert_error(self.api("GET", "/items/123456789"), 404),
                         "no such item")

    def test_wrong_method_is_405_with_allow(self):
        cases = [
            ("PUT", "/items", "GET, HEAD, POST"),
            ("DELETE", "/items", "GET, HEAD, POST"),
            ("POST", "/items/1", "GET, HEAD, DELETE"),
            ("PATCH", "/items/1", "GET, HEAD, DELETE"),
            ("POST", "/health", "GET, HEAD"),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                status, headers, body = self.api(method, path)
                self.assert_error((status, headers, body), 405)
                self.assertEqual(headers["Allow"], allow)

    def test_malformed_bodies_are_400(self):
        # Valid JSON of another shape: test_valid_json_of_another_shape_is_400.
        bodies = [
            b"", b"   ", b"{",
            b'{"title":"a"', b'{"title":"a",}', b'{"title":"a"} x', b'{"title":"a"}{}',
            b'{"title" "a"}', b"{title:\"a\"}", b"{'title':'a'}", b'{,"title":"a"}',
            b'{"title":"a","title":"b"}',
            b'{"title":"a\\', b'{"title":"a', b'{"title":"\\x"}', b'{"title":"\\U0041"}',
            b'{"title":"\\u12"}', b'{"title":"\\u12', b'{"title":"\\u00zz"}',
            b'{"title":"\\ud800"}', b'{"title":"\\ud800\\u0041"}', b'{"title":"\\udc00"}',
            b'{"title":"\\ud800\\ud800"}',
            b'{"title":"a\nb"}', b'{"title":"\x00"}', b'{"title":"a"}\x00',
            b'{"title":"\xff"}', b'{"title":"\xc0\xaf"}', b'{"title":"\xe0\x80\xaf"}',
            b'{"title":"\xed\xa0\x80"}', b'{"title":"\xf4\x90\x80\x80"}',
            b'{"title":"\xe2\x82"}', b'{"title":"\xe2\x82', b'{"title":"\x80"}',
        ]
        before = self.titles()
        for body in bodies:
            with self.subTest(body=body):
                error = self.assert_error(self.api("POST", "/items", body, JSON), 400)
                self.assertRegex(error, r"^bad JSON at byte \d+: ")
        self.assertEqual(self.titles(), before)

    def test_error_names_the_byte(self):
        error = self.assert_error(self.api("POST", "/items", b'{"title" 1}', JSON), 400)
        # jansson's message, at the byte it had read up to.
        self.assertEqual(error, "bad JSON at byte 10: ':' expected near '1'")

    def test_a_body_that_is_not_json_is_415(self):
        for headers in [{}, {"Content-Type": "text/plain"},
                        {"Content-Type": "application/jsonx"}]:
            with self.subTest(headers=headers):
                self.assert_error(self.api("POST", "/items", b'{"title":"a"}', headers), 415)

    def test_a_body_over_64k_is_413(self):
        status, headers, body = self.api("POST", "/items", b"x" * (MAX_BODY + 1), JSON)
        self.assertEqual(self.assert_error((status, headers, body), 413), "body over 64 KiB")

    def test_a_chunked_body_over_64k_is_413(self):
        pieces = [b'{"title":"'] + [b"y" * 4096] * 16 + [b'"}']
        with RawConn(self.srv.port) as c:
            c.send(b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + chunked(pieces))
            r = c.read_response()
        self.assertEqual(r.status, 413, r)
        self.assertEqual(json.loads(r.body), {"error": "body over 64 KiB"})

    def test_a_body_of_exactly_64k_is_read(self):
        title = "z" * (MAX_BODY - len('{"title":""}'))
        body = json.dumps({"title": title}, separators=(",", ":")).encode()
        self.assertEqual(len(body), MAX_BODY)
        for framing in ("content-length", "chunked"):
            with self.subTest(framing=framing):
                with RawConn(self.srv.port) as c:
                    head = b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    if framing == "chunked":
                        pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
                        c.send(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(pieces))
                    else:
                        c.send(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    r = c.read_response()
                self.assertEqual(r.status, 201, r)
                self.assertEqual(json.loads(r.body)["title"], title)

    # -- the mount ---------------------------------------------------------

    def test_routes_under_the_mount_and_hello_beside_it(self):
        for target in ["/", "/items", "/health", "/apix/items"]:
            with self.subTest(target=target):
                status, headers, body = call(self.srv, "GET", target)
                self.assertEqual((status, body), (200, b"Hello, World!"))
                self.assertEqual(headers["Content-Type"], "text/plain")
        self.assert_json(*call(self.srv, "GET", "/api/health"), 200)
        self.assert_json(*call(self.srv, "GET", "/api%2Fitems"), 200)  # decoded first

    def test_keep_alive_across_the_two_apps(self):
        conn = self.srv.http()
        self.addCleanup(conn.close)
        for target, want in [("/api/health", b'"status":"ok"'), ("/", b"Hello"),
                             ("/api/items/999999", b'"no such item"'), ("/x", b"Hello")]:
            conn.request("GET", target)
            r = conn.getresponse()
            self.assertIn(want, r.read())
        self.assertEqual(len(self.srv.worker_pids()), 1)


class JsonApiArgsTest(ServerTestCase):

    def test_max_items_answers_507_when_full(self):
        srv = self.start_server(app="json_api", settings={"app.args": {"max_items": 2}})
        ids = [json.loads(call(srv, "POST", "/items", {"title": t})[2])["id"]
               for t in ("a", "b")]
        status, headers, body = call(srv, "POST", "/items", {"title": "c"})
        self.assertEqual(status, 507, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(body), {"error": "the store is full"})
        self.assertEqual(call(srv, "DELETE", "/items/%d" % ids[0])[0], 204)
        self.assertEqual(call(srv, "POST", "/items", {"title": "c"})[0], 201)
        listed = json.loads(call(srv, "GET", "/items")[2])
        self.assertEqual([i["title"] for i in listed], ["b", "c"])

    def test_deep_json_cannot_overflow_a_small_stack(self):
        # jansson recurses once per level: 2,000 levels need ~200 KiB of
        # the coroutine's stack. The app refuses past 64, which fits in the
        # smallest stack_size (16 KiB; the server itself needs more under
        # ASan, whose frames are larger).
        kib = 64 if sanitized() else 16
        srv = self.start_server(app="json_api", workers=1,
                                settings={"workers": {"stack_size": kib}})
        pids = srv.wait_workers(1)
        for depth, want in [(63, 201), (64, 400), (2000, 400), (20000, 400)]:
            with self.subTest(depth=depth):
                body = b'{"title":"t","x":' + b"[" * depth + b"]" * depth + b"}"
                status, _, got = call(srv, "POST", "/items", body, JSON)
                self.assertEqual(status, want, got[:200])
                if want == 400:
                    self.assertEqual(json.loads(got), {
                        "error": "bad JSON at byte %d: nested deeper than 64"
                                 % (len('{"title":"t","x":') + 63)})
        self.assertEqual(srv.worker_pids(), pids)

    def boot_fails(self, args):
        """Start json_api with ARGS: the start-up must fail (status 3);
        its stderr."""
        tmp = tempfile.TemporaryDirectory(prefix="gn-examples-")
        self.addCleanup(tmp.cleanup)
        conf = os.path.join(tmp.name, "g.conf")
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % harness.free_port()},
                "workers": {"workers": 1},
                "app": {"module": app_path("json_api")},
                "app.args": args}))
        rc, _, err = run_until_exit(["-c", conf], timeout=10)
        self.assertEqual(rc, 3, err)
        return err

    def test_an_unknown_argument_fails_init(self):
        err = self.boot_fails({"max_itemz": "3"})
        self.assertIn("json_api: unknown argument 'max_itemz' (max_items)", err)

    def test_a_bad_max_items_fails_init(self):
        for value in ["0", "-1", "ten", "10x", "99999999999"]:
            with self.subTest(value=value):
                err = self.boot_fails({"max_items": value})
                self.assertIn("json_api: max_items '%s' is not a number" % value, err)


def http_dates(t):
    """The time T as the three HTTP-date formats of RFC 9110 5.6.7, written
    without the locale: IMF-fixdate, RFC 850, asctime."""
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    tm = time.gmtime(t)
    day, mon = days[tm.tm_wday], months[tm.tm_mon - 1]
    hms = "%02d:%02d:%02d" % (tm.tm_hour, tm.tm_min, tm.tm_sec)
    return ("%s, %02d %s %d %s GMT" % (day[:3], tm.tm_mday, mon, tm.tm_year, hms),
            "%s, %02d-%s-%02d %s GMT" % (day, tm.tm_mday, mon, tm.tm_year % 100, hms),
            "%s %s %2d %s %d" % (day[:3], mon, tm.tm_mday, hms, tm.tm_year))


class StaticTest(ServerTestCase):
    """contrib/apps/static.c on / with one worker: what issue 11 item 15
    found (conditional requests, ranges, MIME types, special files)."""

    MTIME = 1700000000  # Tue, 14 Nov 2023 22:13:20 GMT

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="gn-static-ex-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        cls.data = bytes(range(256)) * 4
        for name in ["page.html", "logo.svg", "mod.wasm", "pic.webp", "data.bin",
                     "notes.txt", "noext", "font.woff2", "clip.mp4", "README.md",
                     "photo.AVIF"]:
            with open(os.path.join(cls.root, name), "wb") as f:
                f.write(cls.data)
            os.utime(os.path.join(cls.root, name), (cls.MTIME, cls.MTIME))
        cls.srv = cls.start_class_server(app="static", workers=1, settings={
            "app.args": {"root": cls.root}})

    def get(self, target, headers=b"", method=b"GET"):
        with RawConn(self.srv.port, timeout=10) as c:
            c.send(method + b" " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                   headers + b"\r\n")
            return c.read_response(method=method.decode())

    def etag(self):
        r = self.get("/data.bin", method=b"HEAD")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.header("ETag"), r'^"[^"]+"$')
        return r.header("ETag")

    def test_if_none_match_compares_entity_tag_lists(self):
        etag = self.etag()
        inner = etag.strip('"')
        cases = [
            (etag, 304),
            ("W/" + etag, 304),                      # weak comparison
            ('"x", ' + etag, 304),
            ('"x" ,  W/"y",' + etag + ' , "z"', 304),
            (',' + etag + ',', 304),                 # empty list elements
            ("*", 304),
            ('"x", W/"y"', 200),
            ('"' + inner + 'x"', 200),
            ('"x' + inner + '"', 200),
            ('W/"x"' + inner + '"', 200),          # the ETag only as a substring
            ('"x"' + inner + '"', 200),
            (etag + ' "x"', 200),                    # not a list: ignored
        ]
        for value, want in cases:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"If-None-Match: " + value.encode() + b"\r\n")
                self.assertEqual(r.status, want, r)
                if want == 304:
                    self.assertEqual(r.body, b"")
                    self.assertEqual(r.header("ETag"), etag)
                else:
                    self.assertEqual(r.body, self.data)

    def test_if_modified_since_is_a_date(self):
        lm = self.get("/data.bin", method=b"HEAD").header("Last-Modified")
        self.assertEqual(lm, "Tue, 14 Nov 2023 22:13:20 GMT")
        imf, rfc850, asctime = http_dates(self.MTIME)
        self.assertEqual(imf, lm)
        later = http_dates(self.MTIME + 86400 * 400)
        earlier = http_dates(self.MTIME - 1)
        cases = [(imf, 304), (rfc850, 304), (asctime, 304),
                 (later[0], 304), (later[1], 304), (later[2], 304),
                 (earlier[0], 200), (earlier[1], 200), (earlier[2], 200),
                 ("garbage", 200), ("", 200), (imf + "x", 200),
                 (imf.replace("Nov", "Xyz"), 200), (imf.replace("14", "31"), 200),
                 (imf.replace("22:", "24:"), 200), (imf + ", " + imf, 200),
                 ("Tue, 14 Nov 2023 22:13:20 UTC", 200),
                 ("Thu, 01 Jan 1970 00:00:00 GMT", 200)]
        for value, want in cases:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"If-Modified-Since: " + value.encode() + b"\r\n")
                self.assertEqual(r.status, want, r)
                self.assertEqual(r.body, b"" if want == 304 else self.data)

    def test_if_modified_since_is_ignored_beside_if_none_match(self):
        imf = http_dates(self.MTIME)[0]
        r = self.get("/data.bin", b'If-None-Match: "other"\r\nIf-Modified-Since: ' +
                     imf.encode() + b"\r\n")
        self.assertEqual((r.status, r.body), (200, self.data))

    def test_an_invalid_range_is_ignored(self):
        for value in ["bytes=1--2", "bytes=-1-2", "bytes=1-2-3", "bytes=+1-2",
                      "bytes=1-+2", "bytes= 1-2", "bytes=1 -2", "bytes=x-2",
                      "bytes=5-3", "bytes=-", "bytes=", "bytes=0x1-2", "lines=1-2",
                      "bytes"]:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"Range: " + value.encode() + b"\r\n")
                self.assertEqual((r.status, r.header("Content-Range")), (200, None), r)
                self.assertEqual(r.body, self.data)

    def test_valid_and_unsatisfiable_ranges(self):
        size = len(self.data)
        for value, first, last in [("bytes=1-2", 1, 2), ("BYTES=10-", 10, size - 1),
                                   ("bytes=-5", size - 5, size - 1),
                                   ("bytes=0-99999999999999999999999", 0, size - 1),
                                   ("bytes=-99999", 0, size - 1)]:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"Range: " + value.encode() + b"\r\n")
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.header("Content-Range"),
                                 "bytes %d-%d/%d" % (first, last, size))
                self.assertEqual(r.body, self.data[first:last + 1])
        for value in ["bytes=%d-" % size, "bytes=%d-%d" % (size, size + 5), "bytes=-0",
                      "bytes=99999999999999999999999-"]:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"Range: " + value.encode() + b"\r\n")
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.header("Content-Range"), "bytes */%d" % size)

    def test_if_range(self):
        etag = self.etag()
        lm = http_dates(self.MTIME)[0]
        for value, want in [(etag, 206), (lm, 206), ('"other"', 200), ("W/" + etag, 200),
                            (http_dates(self.MTIME + 1)[0], 200), ("junk", 200)]:
            with self.subTest(value=value):
                r = self.get("/data.bin", b"Range: bytes=1-2\r\nIf-Range: " +
                             value.encode() + b"\r\n")
                self.assertEqual(r.status, want, r)
                self.assertEqual(r.body, self.data[1:3] if want == 206 else self.data)

    def test_mime_types_come_from_mime_types(self):
        with open("/etc/mime.types") as f:
            table = f.read()
        for ext, want in [("svg", "image/svg+xml"), ("wasm", "application/wasm"),
                          ("webp", "image/webp"), ("woff2", "font/woff2"),
                          ("mp4", "video/mp4"), ("md", "text/markdown"),
                          ("avif", "image/avif")]:
            self.assertRegex(table, r"(?m)^%s\s.*\b%s\b" % (re.escape(want), ext))
        for name, want in [("logo.svg", "image/svg+xml"), ("mod.wasm", "application/wasm"),
                           ("pic.webp", "image/webp"), ("data.bin", "application/octet-stream"),
                           ("page.html", "text/html; charset=utf-8"),
                           ("notes.txt", "text/plain; charset=utf-8"),
                           ("noext", "application/octet-stream"),
                           ("font.woff2", "font/woff2"), ("clip.mp4", "video/mp4"),
                           ("README.md", "text/markdown; charset=utf-8"),
                           ("photo.AVIF", "image/avif")]:
            with self.subTest(name=name):
                self.assertEqual(self.get("/" + name).header("Content-Type"), want)


class StaticOwnServerTest(ServerTestCase):
    """static.c cases that each need a server of their own."""

    def make_root(self):
        root = tempfile.mkdtemp(prefix="gn-static-ex-")
        self.addCleanup(shutil.rmtree, root, True)
        with open(os.path.join(root, "ok.txt"), "w") as f:
            f.write("ok\n")
        return root

    def test_a_fifo_is_refused_at_once_and_the_worker_goes_on(self):
        root = self.make_root()
        os.mkfifo(os.path.join(root, "pipe"))
        os.mkdir(os.path.join(root, "dir"))
        os.mkfifo(os.path.join(root, "dir", "index.html"))
        srv = self.start_server(app="static", workers=1, settings={
            "app.args": {"root": root, "index": "index.html"}})
        pids = srv.wait_workers(1)
        for target in ["/pipe", "/dir/"]:
            with self.subTest(target=target):
                started = time.monotonic()
                with RawConn(srv.port, timeout=5) as c:
                    c.send(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    r = c.read_response()
                self.assertIn(r.status, (403, 404), r)
                self.assertLess(time.monotonic() - started, 3)
                status, _, body = srv.get("/ok.txt", timeout=5)
                self.assertEqual((status, body), (200, b"ok\n"))
                self.assertEqual(srv.worker_pids(), pids)

    def test_mime_types_from_a_named_file(self):
        root = self.make_root()
        with open(os.path.join(root, "x.greenie"), "w") as f:
            f.write("g\n")
        with open(os.path.join(root, "y.GREENIE2"), "w") as f:
            f.write("g\n")
        types = os.path.join(root, "my.types")
        with open(types, "w") as f:
            f.write("# a comment line\n\napplication/x-first\tgreenie\n"
                    "text/x-second greenie2 other\napplication/x-late greenie\n")
        srv = self.start_server(app="static", workers=1, settings={
            "app.args": {"root": root, "mime_types": types}})
        self.assertEqual(srv.get("/x.greenie")[1]["Content-Type"], "application/x-first")
        self.assertEqual(srv.get("/y.GREENIE2")[1]["Content-Type"],
                         "text/x-second; charset=utf-8")
        self.assertEqual(srv.get("/ok.txt")[1]["Content-Type"], "application/octet-stream")

    def test_an_unreadable_mime_types_file_fails_init(self):
        root = self.make_root()
        conf = os.path.join(root, "g.conf")
        with open(conf, "w") as f:
            f.write(harness.render_config({
                "server": {"bind": "127.0.0.1:%d" % harness.free_port()},
                "workers": {"workers": 1},
                "app": {"module": app_path("static")},
                "app.args": {"root": root, "mime_types": os.path.join(root, "nope")}}))
        rc, _, err = run_until_exit(["-c", conf], timeout=10)
        self.assertEqual(rc, 3, err)
        self.assertIn("static: mime_types %s: No such file or directory"
                      % os.path.join(root, "nope"), err)


SETLOCALE_APP = r"""
#include <errno.h>
#include <locale.h>
#include <time.h>

#include <greenicorn.h>

/* Switches its worker to the locale of its one argument, as an app calling
 * setlocale(LC_ALL, "") does, and answers 2023-11-14 as strftime's %a and
 * %b write it there. */
static int init(const gn_app_arg_t *args, size_t nargs, void **state)
{
    (void)state;
    return nargs == 1 && setlocale(LC_ALL, args[0].value) != NULL ? 0 : -ENOENT;
}

static int handle(gn_request_t *req, gn_response_t *res, void *state)
{
    struct tm tm = {.tm_year = 123, .tm_mon = 10, .tm_mday = 14, .tm_wday = 2};
    char text[64];
    size_t n = strftime(text, sizeof(text), "%a %b", &tm);

    (void)req;
    (void)state;
    return gn_response_write(res, text, n);
}

GN_EXPORT const gn_app_t greenicorn_app = {
    GN_APP_HEADER, .name = "setlocale", .init = init, .handle = handle,
};
"""


class StaticLocaleTest(ServerTestCase):
    """Item 9 in static.c: another app of the worker calls setlocale, and
    Last-Modified and If-Modified-Since stay in English all the same."""

    MTIME = 1700000000  # Tue, 14 Nov 2023 22:13:20 GMT

    def build(self, work):
        """The de_DE.UTF-8 locale (from Debian's locales sources, for
        LOCPATH) and the app above, made in WORK: the app's path."""
        r = subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8",
                            os.path.join(work, "de_DE.UTF-8")],
                           capture_output=True, text=True, timeout=120)
        # localedef exits 1 on warnings with the locale written anyway.
        self.assertTrue(os.path.exists(os.path.join(work, "de_DE.UTF-8", "LC_TIME")),
                        r.stderr)
        with open(os.path.join(work, "setlocale.c"), "w") as f:
            f.write(SETLOCALE_APP)
        r = subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-Werror",
                            "-I" + os.path.join(harness.REPO, "include"),
                            "-o", "setlocale.so", "setlocale.c"], cwd=work,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return os.path.join(work, "setlocale.so")

    def test_dates_ignore_the_locale_another_app_set(self):
        work = tempfile.mkdtemp(prefix="gn-static-locale-")
        self.addCleanup(shutil.rmtree, work, True)
        app = self.build(work)
        os.mkdir(os.path.join(work, "www"))
        path = os.path.join(work, "www", "f.txt")
        with open(path, "w") as f:
            f.write("f\n")
        os.utime(path, (self.MTIME, self.MTIME))
        with environ(LOCPATH=work):
            srv = self.start_server(app=None, workers=1, settings={
                "app:loc": {"module": app, "mount": "/loc"},
                "app:loc.args": {"locale": "de_DE.UTF-8"},
                "app:files": {"module": app_path("static"), "mount": "/"},
                "app:files.args": {"root": os.path.join(work, "www")}})
        # The locale is in force in the worker...
        self.assertEqual(srv.get("/loc")[2].decode(), "Di Nov")
        # ...and static.c writes and reads its dates in English.
        status, headers, _ = srv.get("/f.txt")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Last-Modified"], "Tue, 14 Nov 2023 22:13:20 GMT")
        for value in http_dates(self.MTIME):
            with self.subTest(value=value):
                status = srv.get("/f.txt", {"If-Modified-Since": value})[0]
                self.assertEqual(status, 304)


HELLO_CPP = app_path("hello_cpp")


@unittest.skipUnless(os.path.exists(HELLO_CPP), "no %s: built only with a C++ compiler"
                     % HELLO_CPP)
class HelloCppTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        # ASan intercepts __cxa_throw only when the C++ runtime is there
        # at start-up; the server is C and loads it with the plugin, too
        # late (google/sanitizers#934): preload it.
        preload = {"LD_PRELOAD": "libstdc++.so.6"} if sanitized() else {}
        with environ(**preload):
            cls.srv = cls.start_class_server(app=HELLO_CPP, workers=1)

    def test_answers_hello(self):
        status, headers, body = self.srv.get("/anything")
        self.assertEqual((status, body), (200, b"Hello, World!"))
        self.assertEqual(headers["Content-Type"], "text/plain")

    def test_an_exception_is_a_500_not_a_crash(self):
        pids = self.srv.wait_workers(1)
        status, _, body = self.srv.get("/?throw=1")
        self.assertEqual(status, 500, body)
        self.srv.wait_for_log(r"hello_cpp: asked to throw by 127\.0\.0\.1")
        self.srv.wait_for_log(r'app hello_cpp failed on "GET /\?throw=1"')
        self.assertEqual(self.srv.get("/")[0], 200)
        self.assertEqual(self.srv.worker_pids(), pids)


if __name__ == "__main__":
    unittest.main()
