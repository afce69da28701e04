#!/usr/bin/env python3
"""Socket.IO 5 end to end: python-socketio's client (Debian's
python3-socketio, so this runs under /usr/bin/python3) against
contrib/apps/sio_chat.so, on WORKERS (4) workers, so that a session's
requests and its upgrade land on any of them: each transport (polling only,
WebSocket only, polling upgraded to WebSocket) with echo acks of JSON and
binary arguments, a server-to-client ack answered by the client (binary
included) and one that times out; namespace "/private" with its auth
accepted and refused, an unknown namespace refused; rooms, where 100
clients in 5 rooms each receive every say to their room exactly once and
nothing else, on one instance and then across two instances sharing one
Redis (the adapter: contrib/green/sio_redis.c) that the test starts.
Node's socket.io-client 4.8, installed from npm into the build tree (or a
temporary folder), runs the same per-transport scenario
(sio_node_client.js), and the rooms scenario (sio_node_rooms.js)."""
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import socketio

from harness import ServerTestCase, app_path, wait_until
from test_redis import RedisServer
from test_redis_sub import numsub

SIO_CHAT = app_path("sio_chat")
WAIT = 60  # seconds for anything to happen: generous on a loaded machine
CHANNEL = "greenicorn:sio_chat"
TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


def in_order(sio):
    """Make SIO decode its messages in the order they arrived. Debian's
    python3-engineio (4.3.4) hands each message to a thread of its own, so
    a binary packet's attachment could be decoded before its header: the
    client raised ValueError on b"x" and the ack was lost (seen in a loaded
    CI run). Each message takes a ticket as it arrives; a binary packet's
    header and attachments are handled in turn, the other packets' handlers
    still run side by side (a handler may block, as _slow does)."""
    eio, handle = sio.eio, sio._handle_eio_message
    trigger, tickets = eio._trigger_event, itertools.count()
    cond, turn = threading.Condition(), [0]

    def ordered(ticket, data):
        with cond:
            cond.wait_for(lambda: turn[0] == ticket)
        try:
            if sio._binary_packet is not None or (
                    isinstance(data, str) and data[:1] in ("5", "6")):
                handle(data)  # in turn: the header, then each attachment
                return
        finally:
            with cond:
                turn[0] += 1
                cond.notify_all()
        handle(data)

    def trigger_in_order(event, *args, **kw):
        if event != "message":
            return trigger(event, *args, **kw)
        return eio.start_background_task(ordered, next(tickets), *args)
    eio._trigger_event = trigger_in_order
    return sio


class Collector:
    """A client whose "said" events are kept, and that answers the
    server's "question" with its arguments reversed."""

    def __init__(self, **kw):
        self.said = []
        self.refused = {}  # namespace: the CONNECT_ERROR's data
        self.lock = threading.Lock()
        self.sio = in_order(socketio.Client(reconnection=False, **kw))
        self.sio.on("said", self._said)
        self.sio.on("question", self._question)
        self.sio.on("question", self._question, namespace="/private")
        self.sio.on("slow", self._slow)
        for ns in ("/", "/private", "/nope"):
            self.sio.on("connect_error", self._refused(ns), namespace=ns)

    def _refused(self, ns):
        def refused(data):
            self.refused[ns] = data
        return refused

    def _slow(self):
        time.sleep(3)  # past the server's ask_timeout (1 s)
        return "late"

    def _said(self, data):
        with self.lock:
            self.said.append(data)

    def _question(self, *args):
        return tuple(reversed(args))

    def connect(self, port, transports, namespaces=None, auth=None, wait=WAIT):
        # A refused namespace costs the client WAIT (it waits for them all).
        self.sio.connect("http://127.0.0.1:%d" % port, transports=transports,
                         namespaces=namespaces or ["/"], auth=auth, wait_timeout=wait)
        return self

    def close(self):
        self.sio.disconnect()


class SocketIOCase(ServerTestCase):

    # The acceptance 1: every scenario on 4 workers, no stickiness.
    WORKERS = 4

    def start_chat(self, redis=None, workers=None):
        workers = workers or self.WORKERS
        args = {"redis": "127.0.0.1:%d" % redis.port if redis else "none",
                "channel": CHANNEL, "ask_timeout": 1000}
        srv = self.start_server(app=SIO_CHAT, workers=workers,
                                settings={"app.args": args})
        srv.wait_workers(workers, timeout=WAIT)
        return srv

    def start_redis(self):
        redis = RedisServer()
        self.addCleanup(redis.close)
        return redis.start()

    def client(self, port, transports=("websocket",), **kw):
        c = Collector()
        self.addCleanup(c.close)
        return c.connect(port, list(transports), **kw)


class TestTransports(SocketIOCase):

    def check_session(self, port, transports, want_transport):
        c = self.client(port, transports)
        sio = c.sio
        self.assertTrue(sio.connected)
        # JSON arguments come back as they went, in one ack.
        value = {"a": [1, 2.5, "é", None, True], "n": 2 ** 53 + 1}
        self.assertEqual(sio.call("echo", value, timeout=WAIT), value)
        self.assertEqual(sio.call("echo", ("x", [1], {"k": "v"}), timeout=WAIT),
                         ("x", [1], {"k": "v"}))
        # Binary arguments (attachments), nested too.
        blob = bytes(range(256)) * 4
        self.assertEqual(sio.call("echo", blob, timeout=WAIT), blob)
        self.assertEqual(sio.call("echo", {"b": [b"\x00", "t", b"\xff" * 3]},
                                  timeout=WAIT),
                         {"b": [b"\x00", "t", b"\xff" * 3]})
        # The server asks the client and relays its answer.
        self.assertEqual(sio.call("ask", ("question", 1, "two", b"3"),
                                  timeout=WAIT),
                         (b"3", "two", 1))
        # An answer that comes too late: the server's wait timed out (1 s).
        self.assertEqual(sio.call("ask", "slow", timeout=WAIT),
                         {"error": "timeout"})
        # Rooms: join, say, and said comes back to the member that said it.
        self.assertIs(sio.call("join", "r", timeout=WAIT), True)
        self.assertIs(sio.call("say", {"room": "r", "text": "hi"}, timeout=WAIT),
                      True)
        wait_until(lambda: c.said, WAIT, what="said")
        self.assertEqual(c.said, [{"room": "r", "text": "hi",
                                   "from": sio.get_sid("/")}])
        if want_transport == "websocket":
            wait_until(lambda: sio.transport() == "websocket", WAIT,
                       what="the upgrade")
        self.assertEqual(sio.transport(), want_transport)
        c.close()
        self.assertFalse(sio.connected)

    def test_each_transport(self):
        srv = self.start_chat()
        for name, transports in TRANSPORTS.items():
            with self.subTest(transport=name):
                self.check_session(srv.port, transports,
                                   "polling" if name == "polling" else "websocket")
        self.assertNotIn("Segmentation", srv.log())

    def test_namespaces_and_auth(self):
        srv = self.start_chat()
        for name, transports in TRANSPORTS.items():
            with self.subTest(transport=name):
                c = self.client(srv.port, transports, namespaces=["/", "/private"],
                                auth={"token": "secret"})
                self.assertEqual(c.sio.call("echo", 1, namespace="/private",
                                            timeout=WAIT), 1)
                self.assertEqual(c.sio.call("ask", ("question", b"x", 2),
                                            namespace="/private", timeout=WAIT),
                                 (2, b"x"))
                # Each namespace connection has its own sid.
                self.assertNotEqual(c.sio.get_sid("/"), c.sio.get_sid("/private"))
                c.close()
                # A wrong token: refused with the app's message.
                bad = Collector()
                with self.assertRaises(socketio.exceptions.ConnectionError) as cm:
                    bad.connect(srv.port, transports, namespaces=["/private"],
                                auth={"token": "wrong"}, wait=3)
                self.assertIn("failed to connect", str(cm.exception))
                self.assertEqual(bad.refused, {"/private": {"message": "not authorized"}})
                bad.close()
                # A namespace the app does not have.
                bad = Collector()
                with self.assertRaises(socketio.exceptions.ConnectionError) as cm:
                    bad.connect(srv.port, transports, namespaces=["/nope"], wait=3)
                self.assertEqual(bad.refused, {"/nope": {"message": "Invalid namespace"}})
                bad.close()


class TestRooms(SocketIOCase):
    """100 clients in 5 rooms; each says one thing to its room: every
    member gets every say of its room exactly once, and nothing else."""

    N = 100
    ROOMS = 5

    def run_rooms(self, ports):
        clients = []
        for i in range(self.N):
            transports = list(TRANSPORTS.values())[i % 3]
            c = self.client(ports[i % len(ports)], transports)
            room = "room%d" % (i % self.ROOMS)
            self.assertIs(c.sio.call("join", room, timeout=WAIT), True)
            clients.append((c, room))
        for i, (c, room) in enumerate(clients):
            self.assertIs(c.sio.call("say", {"room": room, "text": "m%d" % i},
                                     timeout=WAIT), True)
        per_room = self.N // self.ROOMS

        def all_in():
            return all(len(c.said) >= per_room for c, _ in clients)

        wait_until(all_in, WAIT, interval=0.1, what="every say delivered")
        time.sleep(0.5)  # room for a duplicate to show up
        for i, (c, room) in enumerate(clients):
            want = sorted(("m%d" % k, clients[k][0].sio.get_sid("/"))
                          for k in range(self.N) if clients[k][1] == room)
            got = sorted((d["text"], d["from"]) for d in c.said)
            self.assertEqual(got, want, "client %d in %s" % (i, room))
            self.assertTrue(all(d["room"] == room for d in c.said))

    def test_one_instance_with_redis(self):
        redis = self.start_redis()
        srv = self.start_chat(redis)
        wait_until(lambda: numsub(redis, CHANNEL) == self.WORKERS, WAIT,
                   what="every worker's subscription")
        self.run_rooms([srv.port])

    def test_two_instances_share_rooms_through_redis(self):
        redis = self.start_redis()
        a = self.start_chat(redis)
        b = self.start_chat(redis)
        wait_until(lambda: numsub(redis, CHANNEL) == 2 * self.WORKERS, WAIT,
                   what="both instances' subscriptions")
        self.run_rooms([a.port, b.port])


class TestBadInput(SocketIOCase):
    """Socket.IO packets that break the protocol, over raw long-polling:
    the session is closed (its sid is unknown from then on), the cause
    logged once, and the worker serves on."""

    CASES = {
        "count above placeholders": '452-["echo",{"_placeholder":true,"num":0}]',
        "count below placeholders": '451-["echo",{"_placeholder":true,"num":0},'
                                    '{"_placeholder":true,"num":1}]',
        "attachment never sent": '451-["echo",{"_placeholder":true,"num":0}]'
                                 '\x1e42["echo"]',
        "binary nobody announced": "bAAE=",
        "malformed": '42["echo"',
        "unknown type": "49[]",
    }

    def test_bad_packets_close_the_session(self):
        srv = self.start_chat()
        base = "http://127.0.0.1:%d/socket.io/?EIO=4&transport=polling" % srv.port

        def get(sid=None):
            url = base + ("&sid=" + sid if sid else "")
            return urllib.request.urlopen(url, timeout=WAIT).read().decode()

        def post(sid, body):
            req = urllib.request.Request(base + "&sid=" + sid, data=body.encode(),
                                         method="POST")
            return urllib.request.urlopen(req, timeout=WAIT).read()

        for name, payload in self.CASES.items():
            with self.subTest(case=name):
                sid = json.loads(get()[1:])["sid"]
                self.assertEqual(post(sid, "40"), b"ok")
                self.assertTrue(get(sid).startswith('40{"sid":'))
                post(sid, payload)
                with self.assertRaises(urllib.error.HTTPError) as cm:
                    get(sid)
                self.assertEqual(cm.exception.code, 400)
                self.assertEqual(json.loads(cm.exception.read()),
                                 {"code": 1, "message": "Session ID unknown"})
                wait_until(lambda: sid in srv.log(), WAIT, what="the log line")
                self.assertEqual(srv.log().count("session %s:" % sid), 1, srv.log())
        # The worker is fine: a client still gets its echo.
        c = self.client(srv.port, ["polling"])
        self.assertEqual(c.sio.call("echo", 1, timeout=WAIT), 1)
        self.assertNotIn("Segmentation", srv.log())


class TestPage(SocketIOCase):
    """GET / and the browser client it loads (client_js; the page in a
    browser: test_sio_chat_browser.py)."""

    def get(self, srv, path):
        with urllib.request.urlopen(srv.url + path, timeout=WAIT) as r:
            return r.headers["Content-Type"], r.read()

    def start_page(self, client_js):
        srv = self.start_server(app=SIO_CHAT, settings={"app.args": {
            "redis": "none", "client_js": client_js}})
        srv.wait_workers(1, timeout=WAIT)
        return srv

    def test_page_serves_the_client_or_says_how_to_get_it(self):
        d = tempfile.mkdtemp(prefix="greenicorn-sio-page-")
        self.addCleanup(shutil.rmtree, d, True)
        js = os.path.join(d, "socket.io.min.js")
        body = "/* a client */ var io = function () {};\n".encode() * 2000
        with open(js, "wb") as f:
            f.write(body)
        srv = self.start_page(js)
        ctype, page = self.get(srv, "/")
        self.assertEqual(ctype, "text/html; charset=utf-8")
        self.assertIn(b'<script src="socket.io.min.js">', page)
        self.assertIn(b"socket.emit('say'", page)
        self.assertEqual(self.get(srv, "/socket.io.min.js"),
                         ("text/javascript; charset=utf-8", body))
        srv.stop()

        srv = self.start_page(os.path.join(d, "absent.js"))
        ctype, page = self.get(srv, "/")
        self.assertIn(b"scripts/sio-client-js BUILD_DIR", page)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.get(srv, "/socket.io.min.js")
        self.assertEqual(cm.exception.code, 404)
        wait_until(lambda: "no browser client at %s" % d in srv.log(), WAIT,
                   what="the warning")
        self.assertNotIn("[ERROR]", srv.log())


NODE_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "sio_node_client.js")
NODE_ROOMS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "sio_node_rooms.js")


def node_modules():
    """A folder holding socket.io-client 4.8 from npm: in the build tree
    when meson runs this (kept between runs), else a temporary one."""
    root = os.environ.get("GN_BUILD_ROOT")
    if root:
        prefix = os.path.join(root, "npm-socketio")
    else:
        prefix = tempfile.mkdtemp(prefix="greenicorn-npm-")
    mods = os.path.join(prefix, "node_modules")
    if not os.path.isdir(os.path.join(mods, "socket.io-client")):
        os.makedirs(prefix, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                        "--prefix", prefix, "socket.io-client@4.8"],
                       check=True, timeout=300, stdout=subprocess.DEVNULL)
    return mods


class TestNodeClient(SocketIOCase):

    def test_each_transport(self):
        self.assertTrue(shutil.which("node") and shutil.which("npm"),
                        "node and npm are needed")
        mods = node_modules()
        srv = self.start_chat()
        for name, transports in TRANSPORTS.items():
            with self.subTest(transport=name):
                run = subprocess.run(["node", NODE_CLIENT, str(srv.port),
                                      ",".join(transports)],
                                     env=dict(os.environ, NODE_PATH=mods),
                                     capture_output=True, text=True, timeout=WAIT)
                self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
                got = json.loads(run.stdout.strip().splitlines()[-1])
                sid = got.pop("sid")
                self.assertEqual(got, {
                    "echo": {"a": [1, 2.5, "é", None, True]},
                    "echo_many": ["x", [1]],
                    "echo_binary": "AAH/",
                    "echo_nested": {"b": ["eHk=", "t"]},
                    "ask": ["Mw==", "two", 1],
                    "join": True,
                    "say": True,
                    "said": [{"room": "r", "text": "hi", "from": sid}],
                    "transport": "polling" if name == "polling" else "websocket",
                    "private_echo": 7,
                    "private_sid_differs": True,
                    "refused /private": "not authorized",
                    "refused /nope": "Invalid namespace",
                })

    def run_node_rooms(self, ports, n=TestRooms.N, rooms=TestRooms.ROOMS):
        """TestRooms' scenario with Node's client (sio_node_rooms.js):
        every member of a room hears every say to it exactly once, from
        the sid that said it, and nothing of the other rooms."""
        run = subprocess.run(["node", NODE_ROOMS, ",".join(map(str, ports)),
                              str(n), str(rooms)],
                             env=dict(os.environ, NODE_PATH=node_modules()),
                             capture_output=True, text=True, timeout=2 * WAIT)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        clients = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertEqual(len(clients), n)
        for i, c in enumerate(clients):
            want = sorted(("m%d" % k, clients[k]["sid"])
                          for k in range(n) if clients[k]["room"] == c["room"])
            got = sorted((d["text"], d["from"]) for d in c["said"])
            self.assertEqual(got, want, "client %d in %s" % (i, c["room"]))
            self.assertTrue(all(d["room"] == c["room"] for d in c["said"]))

    def test_rooms(self):
        redis = self.start_redis()
        srv = self.start_chat(redis)
        wait_until(lambda: numsub(redis, CHANNEL) == self.WORKERS, WAIT,
                   what="every worker's subscription")
        self.run_node_rooms([srv.port])

    def test_rooms_across_two_instances(self):
        redis = self.start_redis()
        a = self.start_chat(redis)
        b = self.start_chat(redis)
        wait_until(lambda: numsub(redis, CHANNEL) == 2 * self.WORKERS, WAIT,
                   what="both instances' subscriptions")
        self.run_node_rooms([a.port, b.port])


if __name__ == "__main__":
    unittest.main()
