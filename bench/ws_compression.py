#!/usr/bin/python3
"""Server CPU per echoed message with permessage-deflate on and off.

Starts greenicorn (1 worker, ws_echo.so) twice, websocket_compression off
then on, and echoes 1 KiB JSON-ish text messages (all different) over C
connections with python3-websockets (compression="deflate" when on: the
client compresses what it sends, the server inflates it and compresses
the echo, which is at GN_WS_COMPRESS_MIN). Reports the worker's user +
system CPU (from /proc/PID/stat) divided by the messages echoed, and the
bytes on the wire per message. A report, not a test: no figure is
asserted.

    GREENICORN=build-gcc/greenicorn GN_APPS=build-gcc/contrib/apps \\
        /usr/bin/python3 bench/ws_compression.py [-c 10] [-n 2000] [-s 1024]
"""
import argparse
import asyncio
import json
import os
import random
import sys

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from harness import Server  # noqa: E402


def message(size, seed):
    rnd = random.Random(seed)
    words = ["alpha", "update", "user", "order", "shipped", "pending", "price",
             "session", "click", "view", "cart", "checkout"]
    recs = []
    while len(json.dumps(recs)) < size:
        recs.append({"id": rnd.randrange(10 ** 6), "user": "user%d" % rnd.randrange(10 ** 4),
                     "event": rnd.choice(words), "ts": 1733390000 + rnd.randrange(10 ** 5),
                     "tags": [rnd.choice(words), rnd.choice(words)]})
    return json.dumps(recs)[:size]


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


# Messages each connection cycles through: all different, so that the
# server's compress-once for a fan-out (the same bytes sent again) never
# applies to an echo.
VARIANTS = 32


async def client(port, deflate, msgs, n):
    async with websockets.connect("ws://127.0.0.1:%d/" % port, max_size=None,
                                  compression="deflate" if deflate else None) as ws:
        assert bool(ws.extensions) == deflate, ws.extensions
        for i in range(n):
            msg = msgs[i % len(msgs)]
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 30)
            assert got == msg


async def run(port, deflate, sets, n):
    await asyncio.gather(*(client(port, deflate, msgs, n) for msgs in sets))


def measure(deflate, args):
    settings = {"websocket": {"websocket_compression": "on" if deflate else "off"}}
    sets = [[message(args.size, c * VARIANTS + i) for i in range(VARIANTS)]
            for c in range(args.conns)]
    with Server(app="ws_echo", workers=1, settings=settings) as srv:
        (worker,) = srv.wait_workers(1)
        asyncio.run(run(srv.port, deflate, sets, 50))  # warm-up
        before = cpu_ticks(worker)
        asyncio.run(run(srv.port, deflate, sets, args.n))
        ticks = cpu_ticks(worker) - before
    msgs = args.conns * args.n
    return ticks / os.sysconf("SC_CLK_TCK") / msgs * 1e6, sets[0][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", "--conns", type=int, default=10)
    ap.add_argument("-n", type=int, default=2000, help="messages per connection")
    ap.add_argument("-s", "--size", type=int, default=1024)
    args = ap.parse_args()
    import zlib
    off, msg = measure(False, args)
    on, _ = measure(True, args)
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = len(z.compress(msg.encode()) + z.flush(zlib.Z_SYNC_FLUSH)) - 4
    print("| compression | server CPU per echoed message | payload bytes |")
    print("|---|---|---|")
    print("| off | %.1f us | %d |" % (off, len(msg)))
    print("| on | %.1f us | %d |" % (on, wire))
    print("(%d connections x %d messages of %d bytes, 1 worker)"
          % (args.conns, args.n, args.size))


if __name__ == "__main__":
    main()
