"""gevent-websocket as a bench/ peer: echo and broadcast WebSocket app.

bench.py runs it the way the seed deployed it, under Gunicorn with
gevent-websocket's worker and one worker process:

    gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker \\
        -w 1 -b 127.0.0.1:PORT --chdir bench ws_gevent:app

or alone, one process (python3 bench/ws_gevent.py PORT). The protocol is
bench/README.md's: "broadcast:<payload>" sends <payload> to every open
socket, the sender included; any other message is echoed with its type.
Debian's python3-gevent-websocket, on /usr/bin/python3.
"""
import sys

clients = set()
PREFIX = "broadcast:"


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("426 Upgrade Required", [("Content-Type", "text/plain"),
                                                ("Sec-WebSocket-Version", "13")])
        return [b"WebSocket only\n"]
    clients.add(ws)
    try:
        while True:
            msg = ws.receive()
            if msg is None:
                break
            if isinstance(msg, str) and msg.startswith(PREFIX):
                payload = msg[len(PREFIX):]
                for c in list(clients):
                    try:
                        c.send(payload)
                    except Exception:  # a socket closing meanwhile
                        clients.discard(c)
            else:
                ws.send(msg, binary=isinstance(msg, bytes))
    finally:
        clients.discard(ws)
    return []


if __name__ == "__main__":
    from gevent.pywsgi import WSGIServer
    from geventwebsocket.handler import WebSocketHandler

    WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler,
               log=None, backlog=8192).serve_forever()
