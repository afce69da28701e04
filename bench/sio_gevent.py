"""python-socketio on gevent as a bench/ peer for sio-echo-50.

One process (bench.py pins it to the server CPU), the event "echo" acked
with its arguments, as contrib/apps/sio_chat.c does:

    /usr/bin/python3 bench/sio_gevent.py PORT

Debian's python3-socketio and python3-engineio in async_mode "gevent",
served by gevent's pywsgi with gevent-websocket's handler (Debian's
python3-gevent-websocket) for the WebSocket transport; Debian modules, so
/usr/bin/python3.
"""
import sys

from gevent import monkey

monkey.patch_all()

import socketio  # noqa: E402 (after patch_all)
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

sio = socketio.Server(async_mode="gevent", cors_allowed_origins=None)


@sio.on("echo")
def echo(sid, *args):
    return args


if __name__ == "__main__":
    app = socketio.WSGIApp(sio)
    WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler,
               log=None, backlog=8192).serve_forever()
