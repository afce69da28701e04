"""conformance_cases.py - the HTTP/1.1 conformance table (issue #3).

Each Case is raw bytes sent on a new connection (several writes when SEND is
a list, with PAUSE seconds between them), what must come back (one R per
response, interim 1xx included, in order), and whether the server must
close the connection afterwards. test_conformance.py turns every case into
a test method named after it, and runs it against one server per GROUP.

A case whose answer is legitimately one of several (say 200 or 400 for
leading empty lines) lists the others in ALT as (responses, closes) pairs;
the received statuses pick the alternative that is then checked in full.
"""

# ---------------------------------------------------------------------------
# Server settings per group: each group starts one server
# ---------------------------------------------------------------------------

# name: (app, {section: {key: value}}, the Server header every response
# must carry, or None for none)
GROUPS = {
    "default": ("echo", {}, "greenicorn"),
    "hello": ("hello", {}, "greenicorn"),
    "limits": ("echo", {"http": {"limit_request_line": 64,
                                 "limit_request_fields": 8,
                                 "limit_request_field_size": 64,
                                 "limit_request_body": 100}}, "greenicorn"),
    "unlimited": ("echo", {"http": {"limit_request_line": 0,
                                    "limit_request_fields": 0,
                                    "limit_request_field_size": 0,
                                    "limit_request_header_size": 0}}, "greenicorn"),
    "head_size": ("echo", {"http": {"limit_request_header_size": 200}}, "greenicorn"),
    "no_server_header": ("echo", {"http": {"server_header": ""}}, None),
    "custom_server_header": ("echo", {"http": {"server_header": "acme/2.0"}}, "acme/2.0"),
}

# Framings of a response body.
LENGTH = "length"     # Content-Length, no Transfer-Encoding
CHUNKED = "chunked"   # Transfer-Encoding: chunked, no Content-Length
CLOSE = "close"       # neither: the body ends when the connection closes
ABSENT = "absent"     # for R.conn: no Connection header at all


class R:
    """One expected response.

    status     an int, or a tuple of acceptable ints
    framing    LENGTH, CHUNKED, CLOSE or None (not checked)
    method     the request method it answers ("HEAD": no body follows)
    conn       the Connection header, compared case-insensitively; ABSENT
               for none; None: not checked
    fields     {echo field: value}, e.g. {"path": "/p", "body-length": "11"}
    has        echo "header:" lines that must be there ("X-A: 1")
    lacks      header names that must not be among the echo's lines
    echo_body  the request body the echo app must have read
    body       the exact response body (the hello app)
    line       the exact status line (for 100 Continue)
    """

    def __init__(self, status, framing=LENGTH, method="GET", conn=None, fields=None,
                 has=(), lacks=(), echo_body=None, body=None, line=None):
        self.status = status
        self.framing = framing
        self.method = method
        self.conn = conn
        self.fields = fields or {}
        self.has = list(has)
        self.lacks = list(lacks)
        self.echo_body = echo_body
        self.body = body
        self.line = line

    def accepts(self, status):
        return status in self.status if isinstance(self.status, tuple) else status == self.status

    def __repr__(self):
        return "R(%r)" % (self.status,)


class Case:
    """One row of the table.

    send     bytes, or a list of bytes written one by one PAUSE s apart
    expect   [R] in order, interim responses included
    closes   True: the server closes after the last response and answers
             nothing else (a request pipelined behind a rejected one is
             added, FOLLOW); False: the connection stays usable (a GET is
             sent after and must be answered); None: not checked
    alt      other acceptable outcomes: [([R], closes)]
    check    an extra check: f(testcase, responses) raising on failure
    known    why the server is known to fail this case (a bug in a
             dependency we cannot patch): the test is an expected failure,
             so it turns "unexpected success" once the cause is gone
    """

    def __init__(self, name, send, expect, closes=False, group="default", alt=(),
                 pause=0.05, follow=None, check=None, known=None):
        self.name = name
        self.send = send if isinstance(send, list) else [send]
        self.expect = expect
        self.closes = closes
        self.group = group
        self.alt = list(alt)
        self.pause = pause
        self.follow = closes is True if follow is None else follow
        self.check = check
        self.known = known

    def outcomes(self):
        return [(self.expect, self.closes)] + self.alt


# Pipelined behind every rejected request: must never be answered.
FOLLOW = b"GET /must-not-be-served HTTP/1.1\r\nHost: e2e\r\n\r\n"

H = b"Host: x\r\n"


def ok(name, send, *expect, **kw):
    """A case answered normally; one 200 with LENGTH framing unless EXPECT
    says otherwise. The connection stays open unless CLOSES."""
    return Case(name, send, list(expect) or [R(200)], **kw)


def bad(name, send, status=400, **kw):
    """A case rejected with STATUS (an int or a tuple), Connection: close,
    and a closed connection."""
    return Case(name, send, [R(status, conn="close")], closes=True, **kw)


def request_line(n, method=b"GET"):
    """A request line (without CRLF) exactly N bytes long."""
    fixed = len(method) + 2 + len(b"HTTP/1.1")
    return method + b" /" + b"a" * (n - fixed - 1) + b" HTTP/1.1"


def field(n, name=b"X-Long"):
    """A header line whose name + value are N bytes (": " and CRLF
    extra)."""
    return name + b": " + b"v" * (n - len(name)) + b"\r\n"


def fields(n):
    """N - 1 header lines after Host: N header lines in all."""
    return H + b"".join(b"X-%d: a\r\n" % i for i in range(n - 1))


def head_of(n):
    """A GET whose head (request line to blank line) is exactly N bytes,
    padded with fields of at most 8000 bytes (below the field limit)."""
    head = b"GET / HTTP/1.1\r\n" + H
    for i in range(n):
        name = b"X-Pad%d: " % i
        room = n - len(head) - len(name) - 4
        head += name + b"v" * min(room, 8000) + b"\r\n"
        if room <= 8000:
            return head + b"\r\n"


def get(target=b"/", extra=b"", version=b"HTTP/1.1"):
    host = H if version == b"HTTP/1.1" else b""
    return b"GET " + target + b" " + version + b"\r\n" + host + extra + b"\r\n"


def post(body, target=b"/", extra=b""):
    return (b"POST " + target + b" HTTP/1.1\r\n" + H + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def chunked_post(raw_body, target=b"/", extra=b""):
    return (b"POST " + target + b" HTTP/1.1\r\n" + H + extra
            + b"Transfer-Encoding: chunked\r\n\r\n" + raw_body)


TE_POST = b"POST / HTTP/1.1\r\nHost: x\r\n"
HELLO = b"Hello, World!"
BODY_10K = bytes(range(256)) * 40


def head_length_is_get_plus_one(t, rs):
    """echo's answer to HEAD is one byte longer than to GET ("HEAD")."""
    t.assertEqual(int(rs[1].header("Content-Length")), len(rs[0].body) + 1)


def paths_in_order(*paths):
    def check(t, rs):
        t.assertEqual([r.echo_fields()["path"] for r in rs if r.status >= 200], list(paths))
    return check


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

CASES = [
    # -- well-formed requests -----------------------------------------------
    ok("get_minimal", get(), R(200, conn=ABSENT, fields={
        "method": "GET", "target": "/", "path": "/", "query": "", "version": "HTTP/1.1"})),
    ok("get_path_and_query", get(b"/p/q?a=1&b=2"),
       R(200, fields={"path": "/p/q", "query": "a=1&b=2", "target": "/p/q?a=1&b=2"})),
    ok("get_percent_decoded_path", get(b"/a%20b?x=%20"),
       R(200, fields={"path": "/a b", "query": "x=%20"})),
    ok("get_lowercase_host_header", b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
       R(200, has=["host: x"])),
    ok("get_header_ows_stripped", get(extra=b"X-A:   padded value \t \r\n"),
       R(200, has=["X-A: padded value"])),
    ok("get_header_no_space_after_colon", get(extra=b"X-A:v\r\n"), R(200, has=["X-A: v"])),
    ok("get_tab_inside_value", get(extra=b"X-A: a\tb\r\n"), R(200, has=["X-A: a\tb"])),
    ok("get_obs_text_in_value", get(extra=b"X-A: caf\xe9\r\n"), R(200)),
    ok("get_empty_header_value", get(extra=b"X-Empty:\r\n"), R(200)),
    ok("get_header_order_kept", get(extra=b"X-B: 1\r\nX-A: 2\r\nX-B: 3\r\n"),
       R(200, has=["X-B: 1", "X-A: 2", "X-B: 3"]),
       check=lambda t, rs: t.assertEqual(rs[0].echo_fields()["header"][1:],
                                         ["X-B: 1", "X-A: 2", "X-B: 3"])),
    ok("get_with_content_length_body", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
       R(200, fields={"body-length": "3"}, echo_body=b"abc")),
    ok("post_content_length", post(b"hello world"),
       R(200, fields={"method": "POST", "body-length": "11"}, echo_body=b"hello world")),
    ok("post_content_length_zero", post(b""), R(200, fields={"body-length": "0"})),
    ok("post_content_length_leading_zeros",
       b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello",
       R(200, fields={"body-length": "5"})),
    ok("post_content_length_trailing_ows",
       b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 \r\n\r\nhello",
       R(200, fields={"body-length": "5"})),
    ok("post_head_and_body_in_separate_writes",
       [b"POST /w HTTP/1.1\r\nHost: x\r\nContent-", b"Length: 11\r\n\r\nhello",
        b" wor", b"ld"],
       R(200, fields={"body-length": "11"}, echo_body=b"hello world")),
    ok("request_split_inside_request_line", [b"GE", b"T /sp", b"lit HTTP/1", b".1\r\nHo",
                                             b"st: x\r", b"\n\r", b"\n"],
       R(200, fields={"path": "/split"})),
    ok("options_star", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
       R(200, fields={"method": "OPTIONS", "target": "*", "path": "*"})),
    ok("options_path", b"OPTIONS /o HTTP/1.1\r\nHost: x\r\n\r\n",
       R(200, fields={"method": "OPTIONS", "path": "/o"})),
    ok("absolute_form_target", b"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
       R(200, fields={"path": "/p", "query": "q"})),
    ok("absolute_form_with_port", b"GET http://example.com:8080/a/b HTTP/1.1\r\n"
       b"Host: example.com:8080\r\n\r\n", R(200, fields={"path": "/a/b"})),
    ok("absolute_form_uppercase_scheme", b"GET HTTP://example.com/p HTTP/1.1\r\n"
       b"Host: example.com\r\n\r\n", R(200, fields={"path": "/p"})),
    ok("absolute_form_without_path",
       b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
       R(200, fields={"path": "/", "query": ""})),
    ok("absolute_form_without_path_with_query",
       b"GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
       R(200, fields={"path": "/", "query": "q=1"})),
    ok("delete_method", b"DELETE /d HTTP/1.1\r\nHost: x\r\n\r\n",
       R(200, fields={"method": "DELETE"})),
    ok("put_method_with_body", b"PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
       R(200, fields={"method": "PUT", "body-length": "2"})),
    ok("patch_method", b"PATCH /u HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
       R(200, fields={"method": "PATCH"})),

    # -- HEAD ---------------------------------------------------------------
    ok("head_has_length_no_body", get(b"/h") + b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
       R(200), R(200, method="HEAD"), check=head_length_is_get_plus_one),
    ok("head_of_streamed_response", b"HEAD /?stream=3 HTTP/1.1\r\nHost: x\r\n\r\n",
       R(200, framing=None, method="HEAD")),
    ok("head_then_pipelined_get", b"HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\n" + get(b"/2"),
       R(200, method="HEAD"), R(200, fields={"path": "/2"})),

    # -- response framing ---------------------------------------------------
    ok("streamed_response_is_chunked", post(b"x" * 3000, b"/?stream=3"),
       R(200, framing=CHUNKED, echo_body=b"x" * 3000)),
    ok("streamed_then_pipelined_get", get(b"/?stream=4") + get(b"/after-stream"),
       R(200, framing=CHUNKED), R(200, fields={"path": "/after-stream"})),

    # -- chunked request bodies ---------------------------------------------
    ok("chunked_body", chunked_post(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
       R(200, fields={"body-length": "11"}, echo_body=b"hello world",
         has=["Transfer-Encoding: chunked"])),
    ok("chunked_uppercase_hex_size", chunked_post(b"A\r\n0123456789\r\n0\r\n\r\n"),
       R(200, echo_body=b"0123456789")),
    ok("chunked_lowercase_hex_size", chunked_post(b"a\r\n0123456789\r\n0\r\n\r\n"),
       R(200, echo_body=b"0123456789")),
    ok("chunked_size_leading_zeros", chunked_post(b"0005\r\nhello\r\n000\r\n\r\n"),
       R(200, echo_body=b"hello")),
    ok("chunked_extension_name_value", chunked_post(b"5;name=value\r\nhello\r\n0\r\n\r\n"),
       R(200, echo_body=b"hello")),
    ok("chunked_extension_name_only", chunked_post(b"5;flag\r\nhello\r\n0;last\r\n\r\n"),
       R(200, echo_body=b"hello")),
    ok("chunked_extension_quoted_value",
       chunked_post(b'5;q="a b;c"\r\nhello\r\n0\r\n\r\n'), R(200, echo_body=b"hello")),
    # RFC 9112 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS token / quoted-string ] );
    # llhttp 8.1 refuses most of these, the glue reads the size lines itself.
    ok("chunked_extensions_several", chunked_post(b"5;a=1;b=2\r\nhello\r\n0\r\n\r\n"),
       R(200, echo_body=b"hello")),
    ok("chunked_extensions_token_then_quoted",
       chunked_post(b'5;a=1;b="x"\r\nhello\r\n0;c=3;d\r\n\r\n'), R(200, echo_body=b"hello")),
    ok("chunked_extensions_bws", chunked_post(b"5 ; a = 1 ;\tb\t=\t\"x\" ; c\r\nhello\r\n"
                                              b"0\r\n\r\n"), R(200, echo_body=b"hello")),
    ok("chunked_extension_quoted_pair",
       chunked_post(b'5;a="x\\"y\\\\z";b\r\nhello\r\n0\r\n\r\n'), R(200, echo_body=b"hello")),
    ok("chunked_extension_quoted_obs_text",
       chunked_post(b'5;a="caf\xe9"\r\nhello\r\n0\r\n\r\n'), R(200, echo_body=b"hello")),
    ok("chunked_extensions_split_writes",
       [chunked_post(b"5;a=1;"), b'b="x', b'";c\r', b"\nhello\r\n3;d=4;e=5\r\nabc\r\n0;f=6;g\r\n\r\n"],
       R(200, echo_body=b"helloabc")),
    ok("chunked_extensions_many_chunks_one_write",
       chunked_post(b"1;a=1;b=2\r\na\r\n1;c=3;d=4\r\nb\r\n1;e=5;f=6\r\nc\r\n0;g=7;h=8\r\n\r\n")
       + get(b"/after"), R(200, echo_body=b"abc"), R(200, fields={"path": "/after"})),
    ok("chunked_trailer_not_shown",
       chunked_post(b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"),
       R(200, echo_body=b"hello", lacks=["X-Trailer"])),
    ok("chunked_trailers_several_not_shown",
       chunked_post(b"5\r\nhello\r\n0\r\nX-T1: a\r\nX-T2: b\r\n\r\n",
                    extra=b"Trailer: X-T1, X-T2\r\n"),
       R(200, echo_body=b"hello", lacks=["X-T1", "X-T2"], has=["Trailer: X-T1, X-T2"])),
    ok("chunked_trailer_content_length_ignored",
       chunked_post(b"5\r\nhello\r\n0\r\nContent-Length: 100\r\n\r\n") + get(b"/after"),
       R(200, echo_body=b"hello"), R(200, fields={"path": "/after"})),
    ok("chunked_one_byte_writes",
       [chunked_post(b"")] + [bytes([b]) for b in b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"],
       R(200, echo_body=b"abcde"), pause=0.01),
    ok("chunked_coding_name_case_insensitive",
       b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       R(200, echo_body=b"hello")),
    bad("trailer_with_nul", chunked_post(b"5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n")),
    bad("trailer_space_in_name", chunked_post(b"5\r\nhello\r\n0\r\nX T: a\r\n\r\n")),
    bad("trailer_bare_lf", chunked_post(b"5\r\nhello\r\n0\r\nX-T: a\n\r\n")),
    # Trailers are dropped: replacing obs-fold by SP (RFC 9112 5.2) is the
    # same as accepting it.
    Case("trailer_obs_fold", chunked_post(b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"),
         [R(200, echo_body=b"hello")], alt=[([R(400, conn="close")], True)]),
    ok("chunked_body_then_pipelined_get",
       chunked_post(b"3\r\nabc\r\n0\r\n\r\n") + get(b"/next"),
       R(200, echo_body=b"abc"), R(200, fields={"path": "/next"})),

    # -- 100-continue ---------------------------------------------------------
    ok("expect_100_continue",
       [b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"hello"],
       R(100, framing=None, line=b"HTTP/1.1 100 Continue"), R(200, echo_body=b"hello"),
       pause=0.3),
    ok("expect_100_continue_case_insensitive",
       [b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
        b"hello"],
       R(100, framing=None), R(200, echo_body=b"hello"), pause=0.3),
    ok("expect_100_continue_chunked",
       [b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n"],
       R(100, framing=None), R(200, echo_body=b"hello"), pause=0.3),
    # RFC 9110 10.1.1: an HTTP/1.0 client's 100-continue is ignored.
    ok("expect_100_continue_http10_ignored",
       [b"POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", b"hello"],
       R(200, echo_body=b"hello"), closes=True, pause=0.3),
    Case("expect_100_continue_empty_body",
         b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
         [R(200, fields={"body-length": "0"})],
         alt=[([R(100, framing=None), R(200, fields={"body-length": "0"})], False)]),
    # The body came with the head: 100 Continue may be skipped (RFC 9110 10.1.1).
    Case("expect_100_continue_body_already_sent",
         b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
         [R(100, framing=None), R(200, echo_body=b"hello")],
         alt=[([R(200, echo_body=b"hello")], False)]),

    # -- keep-alive, Connection, pipelining -----------------------------------
    ok("pipelined_three_in_one_write", get(b"/1") + get(b"/2") + get(b"/3"),
       R(200), R(200), R(200), check=paths_in_order("/1", "/2", "/3")),
    ok("pipelined_slow_first_answered_in_order",
       get(b"/1?sleep=0.2") + post(b"abc", b"/2") + get(b"/3"),
       R(200), R(200, echo_body=b"abc"), R(200), check=paths_in_order("/1", "/2", "/3")),
    ok("pipelined_split_mid_head", [get(b"/1") + b"GET /2 HT", b"TP/1.1\r\nHost: x\r\n\r\n"],
       R(200), R(200), check=paths_in_order("/1", "/2")),
    ok("pipelined_ten", b"".join(get(b"/%d" % i) for i in range(10)),
       *[R(200) for _ in range(10)], check=paths_in_order(*["/%d" % i for i in range(10)])),
    ok("pipelined_mixed_framings",
       post(b"abc", b"/cl") + chunked_post(b"2\r\nde\r\n0\r\n\r\n", b"/te") + get(b"/get"),
       R(200, echo_body=b"abc"), R(200, echo_body=b"de"), R(200),
       check=paths_in_order("/cl", "/te", "/get")),
    ok("connection_close_honoured", get(b"/bye", b"Connection: close\r\n") + get(b"/never"),
       R(200, conn="close", fields={"path": "/bye"}), closes=True, follow=False),
    ok("connection_close_case_insensitive", get(b"/bye", b"Connection: Close\r\n"),
       R(200, conn="close"), closes=True),
    ok("connection_close_in_a_list", get(b"/bye", b"Connection: keep-alive, close\r\n"),
       R(200, conn="close"), closes=True),
    ok("pipelined_close_ends_the_pipeline",
       get(b"/1") + get(b"/2", b"Connection: close\r\n") + get(b"/3"),
       R(200, conn=ABSENT), R(200, conn="close"), closes=True, follow=False,
       check=paths_in_order("/1", "/2")),
    ok("pipelined_good_then_bad", get(b"/1") + b"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
       R(200), R(400, conn="close"), closes=True),
    ok("pipelined_streamed_responses", get(b"/1?stream=3") + get(b"/2?stream=2") + get(b"/3"),
       R(200, framing=CHUNKED), R(200, framing=CHUNKED), R(200),
       check=paths_in_order("/1", "/2", "/3")),
    # An Upgrade the server does not take (RFC 9110 7.8 lets it ignore
    # one): either it goes on with HTTP/1.1, or it says close and closes.
    Case("upgrade_not_switched", get(b"/1", b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
         + get(b"/2"), [R(200, fields={"path": "/1"}), R(200, fields={"path": "/2"})],
         alt=[([R(200, conn="close", fields={"path": "/1"})], True)], follow=False),
    Case("upgrade_header_without_connection_upgrade",
         get(b"/1", b"Upgrade: websocket\r\n") + get(b"/2"),
         [R(200, fields={"path": "/1"}), R(200, fields={"path": "/2"})],
         alt=[([R(200, conn="close", fields={"path": "/1"})], True)], follow=False),
    # RFC 9112 2.2: a server SHOULD ignore at least one empty line before a
    # request line; rejecting is allowed, but then it must close.
    Case("leading_empty_lines", b"\r\n\r\n" + get(b"/1") + b"\r\n" + get(b"/2"),
         [R(200), R(200)],
         alt=[([R(400, conn="close")], True)]),
    Case("empty_line_between_pipelined_requests", post(b"abc", b"/1") + b"\r\n" + get(b"/2"),
         [R(200, echo_body=b"abc"), R(200, fields={"path": "/2"})],
         alt=[([R(200, echo_body=b"abc"), R(400, conn="close")], True)]),

    # -- HTTP/1.0 -------------------------------------------------------------
    ok("http10_closes", get(b"/ten", version=b"HTTP/1.0"),
       R(200, fields={"version": "HTTP/1.0"}), closes=True),
    ok("http10_with_host", b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", R(200), closes=True),
    ok("http10_keep_alive", get(b"/ka", b"Connection: keep-alive\r\n", b"HTTP/1.0"),
       R(200, conn="keep-alive", fields={"version": "HTTP/1.0"})),
    ok("http10_keep_alive_pipelined",
       get(b"/1", b"Connection: keep-alive\r\n", b"HTTP/1.0")
       + get(b"/2", b"Connection: keep-alive\r\n", b"HTTP/1.0"),
       R(200, conn="keep-alive"), R(200, conn="keep-alive"), check=paths_in_order("/1", "/2")),
    ok("http10_keep_alive_then_plain_closes",
       get(b"/1", b"Connection: keep-alive\r\n", b"HTTP/1.0") + get(b"/2", version=b"HTTP/1.0"),
       R(200, conn="keep-alive"), R(200), closes=True),
    ok("http10_post_with_body",
       b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", R(200, echo_body=b"hello"),
       closes=True),
    # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: serve
    # it and close, or refuse it.
    Case("http10_chunked_body", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5\r\nhello\r\n0\r\n\r\n", [R(200, echo_body=b"hello")], closes=True,
         alt=[([R(400, conn="close")], True)]),
    ok("http10_streamed_is_close_delimited", get(b"/?stream=3", version=b"HTTP/1.0"),
       R(200, framing=CLOSE), closes=True),
    ok("http10_keep_alive_streamed_is_close_delimited",
       get(b"/?stream=3", b"Connection: keep-alive\r\n", b"HTTP/1.0"),
       R(200, framing=CLOSE), closes=True),

    # -- request line and version ---------------------------------------------
    bad("garbage_request_line", b"GARBAGE\r\n\r\n"),
    bad("method_bad_token_paren", b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("method_bad_token_at", b"GE@ / HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("method_empty", b" / HTTP/1.1\r\nHost: x\r\n\r\n"),
    # RFC 9112 3: a recipient MAY parse on whitespace word boundaries.
    Case("request_line_double_space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
         [R(200, fields={"path": "/"})], alt=[([R(400, conn="close")], True)]),
    # HTTP/0.9 style: no version at all.
    bad("request_line_no_version", b"GET /\r\nHost: x\r\n\r\n", (400, 505)),
    bad("request_line_trailing_space", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n"),
    bad("version_http_1_x", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n"),
    bad("version_http_11_no_dot", b"GET / HTTP/11\r\nHost: x\r\n\r\n"),
    bad("version_lowercase", b"GET / http/1.1\r\nHost: x\r\n\r\n"),
    bad("version_missing_minor", b"GET / HTTP/1\r\nHost: x\r\n\r\n"),
    bad("version_two_digit_major", b"GET / HTTP/01.1\r\nHost: x\r\n\r\n"),
    bad("version_http_2_0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", (505, 400)),
    bad("version_http_1_2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", (505, 400)),
    bad("version_http_3_0", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", (505, 400)),
    bad("star_target_with_get", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("encoded_nul_in_path", get(b"/a%00b")),
    bad("raw_nul_in_target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),

    # -- Host -----------------------------------------------------------------
    bad("missing_host", b"GET / HTTP/1.1\r\n\r\n"),
    bad("missing_host_absolute_form", b"GET http://example.com/ HTTP/1.1\r\n\r\n"),
    bad("two_hosts", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    bad("two_hosts_same_value", b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n"),
    # Host = uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2); an empty
    # port is RFC 3986's *DIGIT, read as no port.
    ok("host_reg_name_with_port", get().replace(H, b"Host: a-b.example_~:8080\r\n")),
    ok("host_sub_delims_and_pct", get().replace(H, b"Host: a!$&'()*+,;=%41b\r\n")),
    ok("host_ipv4_with_port", get().replace(H, b"Host: 127.0.0.1:65535\r\n")),
    ok("host_ipv6_literal", get().replace(H, b"Host: [2001:db8::1]\r\n")),
    ok("host_ipv6_literal_with_port", get().replace(H, b"Host: [::ffff:127.0.0.1]:80\r\n")),
    ok("host_ipvfuture", get().replace(H, b"Host: [v1f.a:b!]:1\r\n")),
    ok("host_empty_port", get().replace(H, b"Host: x:\r\n")),
    ok("host_empty_value", get().replace(H, b"Host:\r\n")),
    ok("host_http10_absent", get(version=b"HTTP/1.0"), R(200), closes=True),
    bad("host_space_inside", get().replace(H, b"Host: a b\r\n")),
    bad("host_tab_inside", get().replace(H, b"Host: a\tb\r\n")),
    bad("host_userinfo", get().replace(H, b"Host: user@x\r\n")),
    bad("host_control_char", get().replace(H, b"Host: a\x01b\r\n")),
    bad("host_obs_text", get().replace(H, b"Host: caf\xe9\r\n")),
    bad("host_slash", get().replace(H, b"Host: x/y\r\n")),
    bad("host_bad_pct", get().replace(H, b"Host: a%4g\r\n")),
    bad("host_port_letters", get().replace(H, b"Host: x:8o\r\n")),
    bad("host_port_out_of_range", get().replace(H, b"Host: x:65536\r\n")),
    bad("host_port_huge", get().replace(H, b"Host: x:99999999999999999999\r\n")),
    bad("host_two_ports", get().replace(H, b"Host: x:1:2\r\n")),
    bad("host_port_negative", get().replace(H, b"Host: x:-1\r\n")),
    bad("host_ipv6_unbracketed", get().replace(H, b"Host: 2001:db8::1\r\n")),
    bad("host_ipv6_bad", get().replace(H, b"Host: [2001:db8:::1]\r\n")),
    bad("host_ipv6_unclosed", get().replace(H, b"Host: [::1\r\n")),
    bad("host_ipv6_zone", get().replace(H, b"Host: [fe80::1%25eth0]\r\n")),
    bad("host_ipv6_junk_after", get().replace(H, b"Host: [::1]x\r\n")),
    bad("host_ipvfuture_no_dot", get().replace(H, b"Host: [v1]\r\n")),
    bad("host_bad_in_http10", get(version=b"HTTP/1.0", extra=b"Host: a b\r\n")),
    bad("host_http10_twice", get(version=b"HTTP/1.0", extra=b"Host: a\r\nHost: a\r\n")),

    # -- header syntax --------------------------------------------------------
    bad("header_name_paren", get(extra=b"(bad): y\r\n")),
    bad("header_name_space_inside", get(extra=b"Bad Header: y\r\n")),
    bad("header_name_slash", get(extra=b"X/Y: y\r\n")),
    bad("header_name_empty", get(extra=b": y\r\n")),
    bad("header_name_obs_text", get(extra=b"X-\xe9: v\r\n")),
    bad("header_without_colon", get(extra=b"nocolon\r\n")),
    bad("space_before_colon", get(extra=b"X-A : y\r\n")),
    bad("tab_before_colon", get(extra=b"X-A\t: y\r\n")),
    bad("nul_in_header_name", get(extra=b"X\x00A: y\r\n")),
    bad("ctl_in_header_name", get(extra=b"X\x01A: y\r\n")),
    bad("nul_in_header_value", get(extra=b"X-A: a\x00b\r\n")),
    bad("ctl_in_header_value", get(extra=b"X-A: a\x01b\r\n")),
    bad("esc_in_header_value", get(extra=b"X-A: a\x1bb\r\n")),
    bad("del_in_header_value", get(extra=b"X-A: a\x7fb\r\n")),
    bad("obs_fold_space", get(extra=b"X-A: a\r\n b\r\n")),
    bad("obs_fold_tab", get(extra=b"X-A: a\r\n\tb\r\n")),
    bad("first_header_line_starts_with_space", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n"),
    bad("bare_cr_in_value", get(extra=b"X-A: a\rb\r\n")),
    bad("bare_cr_line_endings", b"GET / HTTP/1.1\rHost: x\r\r"),
    bad("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: x\n\n"),
    bad("bare_lf_after_request_line", b"GET / HTTP/1.1\nHost: x\r\n\r\n"),
    bad("bare_lf_after_header", b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    bad("bare_lf_ending_head", b"GET / HTTP/1.1\r\nHost: x\r\n\n"),

    # -- Content-Length -------------------------------------------------------
    bad("cl_plus_sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
    bad("cl_minus_sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    bad("cl_space_inside", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 0\r\n\r\n0123456789"),
    bad("cl_hex", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello"),
    bad("cl_letters", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    bad("cl_decimal_point", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5.0\r\n\r\nhello"),
    bad("cl_overflow",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
    bad("cl_overflow_2_pow_64", b"POST / HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 18446744073709551617\r\n\r\nx"),
    bad("cl_empty", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"),
    bad("cl_two_different", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nab"),
    bad("cl_list_different", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab"),
    Case("cl_list_identical", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
         [R(200, echo_body=b"abc")], alt=[([R(400, conn="close")], True)]),
    # Repeated identical values: RFC 9112 6.3 lets a server accept or reject.
    Case("cl_two_identical", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
         b"Content-Length: 3\r\n\r\nabc", [R(200, echo_body=b"abc")],
         alt=[([R(400, conn="close")], True)]),

    # -- Transfer-Encoding and smuggling --------------------------------------
    bad("cl_and_te", TE_POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"),
    bad("te_and_cl", TE_POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
        b"0\r\n\r\n"),
    bad("cl_te_smuggled_request", TE_POST + b"Content-Length: 40\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("te_gzip", TE_POST + b"Transfer-Encoding: gzip\r\n\r\n"),
    bad("te_identity", TE_POST + b"Transfer-Encoding: identity\r\n\r\n"),
    bad("te_unknown_coding", TE_POST + b"Transfer-Encoding: foo\r\n\r\n"),
    bad("te_chunked_then_gzip", TE_POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n"),
    bad("te_xchunked", TE_POST + b"Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("te_chunked_twice_in_list", TE_POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"),
    bad("te_chunked_twice_in_lines", TE_POST + b"Transfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("te_gzip_then_chunked", TE_POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n", 501),
    bad("te_obs_folded", TE_POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"),
    bad("te_space_before_colon", TE_POST + b"Transfer-Encoding : chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"),
    bad("te_vertical_tab", TE_POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"),

    # -- chunk syntax ---------------------------------------------------------
    bad("chunk_size_garbage", chunked_post(b"zz\r\nab\r\n0\r\n\r\n")),
    bad("chunk_size_negative", chunked_post(b"-1\r\na\r\n0\r\n\r\n")),
    bad("chunk_size_0x_prefix", chunked_post(b"0x5\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_empty", chunked_post(b"\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_leading_space", chunked_post(b" 5\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_overflow", chunked_post(b"FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_overflow_2_pow_64", chunked_post(b"10000000000000000\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_data_without_crlf", chunked_post(b"5\r\nhelloXX0\r\n\r\n")),
    bad("chunk_data_longer_than_size", chunked_post(b"3\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_bare_lf", chunked_post(b"5\nhello\r\n0\r\n\r\n")),
    bad("chunk_data_bare_lf", chunked_post(b"5\r\nhello\n0\r\n\r\n")),
    bad("chunk_ext_unterminated_quote", chunked_post(b'5;a="x\r\nhello\r\n0\r\n\r\n')),
    bad("chunk_ext_bare_lf", chunked_post(b"5;a=1\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_bare_cr", chunked_post(b"5;a=1\rhello\r\n0\r\n\r\n")),
    bad("chunk_ext_lf_in_quote", chunked_post(b'5;a="x\ny"\r\nhello\r\n0\r\n\r\n')),
    bad("chunk_ext_control_in_name", chunked_post(b"5;a\x01=1\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_control_in_value", chunked_post(b"5;a=1\x01\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_control_in_quote", chunked_post(b'5;a="\x01"\r\nhello\r\n0\r\n\r\n')),
    bad("chunk_ext_del_in_quote", chunked_post(b'5;a="\x7f"\r\nhello\r\n0\r\n\r\n')),
    bad("chunk_ext_nul", chunked_post(b"5;a\x00\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_empty_name", chunked_post(b"5;=1\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_empty_value", chunked_post(b"5;a=\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_bws_before_crlf", chunked_post(b"5;a=1 \r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_trailing_semicolon", chunked_post(b"5;a=1;\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_junk_after_quote", chunked_post(b'5;a="x"y\r\nhello\r\n0\r\n\r\n')),
    bad("chunk_ext_separator_in_name", chunked_post(b"5;a/b=1\r\nhello\r\n0\r\n\r\n")),
    bad("chunk_size_trailing_space", chunked_post(b"5 \r\nhello\r\n0\r\n\r\n")),
    bad("chunk_ext_too_long", chunked_post(b"5;a=" + b"x" * 9000 + b"\r\nhello\r\n0\r\n\r\n")),

    # -- default limits (4094 / 100 / 8190) -----------------------------------
    ok("line_at_default_limit", request_line(4094) + b"\r\n" + H + b"\r\n"),
    bad("line_over_default_limit", request_line(4095) + b"\r\n" + H + b"\r\n", 414),
    bad("line_far_over_default_limit", request_line(20000) + b"\r\n" + H + b"\r\n", 414),
    ok("fields_at_default_limit", b"GET / HTTP/1.1\r\n" + fields(100) + b"\r\n"),
    bad("fields_over_default_limit", b"GET / HTTP/1.1\r\n" + fields(101) + b"\r\n", 431),
    ok("field_size_at_default_limit", get(extra=field(8188))),
    bad("field_size_over_default_limit", get(extra=field(8191)), 431),
    bad("field_name_over_default_limit", get(extra=b"X" * 8191 + b": v\r\n"), 431),

    # -- the whole head (limit_request_header_size, default 32768) -----------
    ok("head_at_default_limit", head_of(32768)),
    bad("head_over_default_limit", head_of(32769), 431),
    bad("head_over_default_limit_small_fields", b"GET / HTTP/1.1\r\n" + H
        + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 400) for i in range(99)) + b"\r\n", 431),
    ok("head_at_limit", head_of(200), group="head_size"),
    bad("head_over_limit", head_of(201), 431, group="head_size"),
    bad("head_over_limit_by_final_crlf", head_of(202), 431, group="head_size"),
    bad("head_over_limit_in_pieces", [head_of(400)[:150], head_of(400)[150:300],
                                      head_of(400)[300:]], 431, group="head_size"),
    bad("head_line_alone_over_limit", request_line(201) + b"\r\n" + H + b"\r\n", 414,
        group="head_size"),
    Case("pipelined_good_then_head_over_limit", get(b"/ok") + head_of(300),
         [R(200, fields={"path": "/ok"}), R(431, conn="close")], closes=True,
         group="head_size"),

    # -- small limits: line 64, fields 8, field size 64, body 100 -------------
    ok("line_at_limit", request_line(64) + b"\r\n" + H + b"\r\n", group="limits"),
    bad("line_over_limit", request_line(65) + b"\r\n" + H + b"\r\n", 414, group="limits"),
    bad("line_over_limit_in_pieces", [request_line(200)[:40], request_line(200)[40:120],
                                      request_line(200)[120:] + b"\r\n" + H + b"\r\n"],
        414, group="limits"),
    bad("line_over_limit_post", request_line(65, b"POST") + b"\r\n" + H
        + b"Content-Length: 0\r\n\r\n", 414, group="limits"),
    ok("fields_at_limit", b"GET / HTTP/1.1\r\n" + fields(8) + b"\r\n", group="limits"),
    bad("fields_over_limit", b"GET / HTTP/1.1\r\n" + fields(9) + b"\r\n", 431, group="limits"),
    ok("field_size_at_limit", get(extra=field(62)), group="limits"),
    bad("field_size_over_limit", get(extra=field(65)), 431, group="limits"),
    bad("field_name_over_limit", get(extra=b"X" * 65 + b": v\r\n"), 431, group="limits"),
    ok("body_at_limit", post(b"b" * 100), R(200, fields={"body-length": "100"}),
       group="limits"),
    bad("body_over_limit_content_length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", 413, group="limits"),
    bad("body_over_limit_huge_content_length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n", 413,
        group="limits"),
    ok("body_chunked_at_limit", chunked_post(b"32\r\n" + b"c" * 50 + b"\r\n32\r\n" + b"c" * 50
                                             + b"\r\n0\r\n\r\n"),
       R(200, fields={"body-length": "100"}), group="limits"),
    bad("body_chunked_over_limit", chunked_post(b"3c\r\n" + b"c" * 60 + b"\r\n3c\r\n" + b"c" * 60
                                                + b"\r\n0\r\n\r\n"), 413, group="limits"),
    bad("body_chunked_single_chunk_over_limit",
        chunked_post(b"65\r\n" + b"c" * 101 + b"\r\n0\r\n\r\n"), 413, group="limits"),
    Case("pipelined_good_then_body_over_limit",
         post(b"b" * 50, b"/ok") + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
         [R(200, fields={"path": "/ok"}), R(413, conn="close")], closes=True, group="limits"),
    Case("pipelined_good_then_line_over_limit", get(b"/ok") + request_line(65) + b"\r\n" + H
         + b"\r\n", [R(200, fields={"path": "/ok"}), R(414, conn="close")], closes=True,
         group="limits"),
    Case("pipelined_good_then_fields_over_limit",
         get(b"/ok") + b"GET / HTTP/1.1\r\n" + fields(9) + b"\r\n",
         [R(200, fields={"path": "/ok"}), R(431, conn="close")], closes=True, group="limits"),
    # Refused from the head alone: no 100 Continue first.
    bad("body_over_limit_with_expect_100",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
        413, group="limits"),

    # -- 0 = no limit, up to the internal caps (65536 / 32768 / 65536) --------
    ok("line_20000_without_limit", request_line(20000) + b"\r\n" + H + b"\r\n",
       group="unlimited"),
    bad("line_over_internal_cap", request_line(70000) + b"\r\n" + H + b"\r\n", 414,
        group="unlimited"),
    ok("fields_1000_without_limit", b"GET / HTTP/1.1\r\n" + fields(1000) + b"\r\n",
       group="unlimited"),
    bad("fields_over_internal_cap", b"GET / HTTP/1.1\r\n" + H
        + b"".join(b"X:%d\r\n" % i for i in range(32768)) + b"\r\n", 431, group="unlimited"),
    ok("field_20000_without_limit", get(extra=field(20000)), group="unlimited"),
    bad("field_over_internal_cap", get(extra=field(70000)), 431, group="unlimited"),

    # -- the hello app never reads the body: the server skips it --------------
    ok("unread_body_10k_then_get", post(BODY_10K, b"/1") + get(b"/2"),
       R(200, body=HELLO), R(200, body=HELLO), group="hello"),
    ok("unread_body_10k_in_pieces_then_get",
       [post(BODY_10K, b"/1")[:3000], post(BODY_10K, b"/1")[3000:7000],
        post(BODY_10K, b"/1")[7000:] + get(b"/2")],
       R(200, body=HELLO), R(200, body=HELLO), group="hello"),
    ok("unread_chunked_body_then_get",
       chunked_post(b"1000\r\n" + b"z" * 4096 + b"\r\n10;ext=1\r\n" + b"y" * 16
                    + b"\r\n0\r\nX-Trailer: t\r\n\r\n", b"/1") + get(b"/2"),
       R(200, body=HELLO), R(200, body=HELLO), group="hello"),
    ok("hello_get", get(), R(200, body=HELLO, conn=ABSENT), group="hello"),
    ok("hello_head", b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + get(b"/2"),
       R(200, method="HEAD"), R(200, body=HELLO),
       check=lambda t, rs: t.assertEqual(rs[0].header("Content-Length"), "13"),
       group="hello"),
    ok("hello_http10", get(version=b"HTTP/1.0"), R(200, body=HELLO), closes=True,
       group="hello"),
    # Handler never reads: no 100 Continue; the connection may then close
    # or wait for the body (not checked).
    Case("expect_100_not_sent_when_body_unread",
         b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
         [R(200, body=HELLO)], closes=None, group="hello"),
    bad("hello_cl_and_te", TE_POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n", group="hello"),

    # -- server_header --------------------------------------------------------
    ok("no_server_header_on_200", get(), group="no_server_header"),
    bad("no_server_header_on_400", b"GARBAGE\r\n\r\n", group="no_server_header"),
    ok("custom_server_header_on_200", get(), group="custom_server_header"),
    bad("custom_server_header_on_400", b"GARBAGE\r\n\r\n", group="custom_server_header"),
]
