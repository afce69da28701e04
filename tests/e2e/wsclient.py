"""wsclient.py - a raw WebSocket client for the conformance tests.

It speaks frames byte by byte, so a test can send what no library would
(unmasked frames, reserved bits and opcodes, bad UTF-8, split code points,
control frames in the middle of a message) and see exactly what the
server answers, close codes included.

    ws = WsClient(port)                       # handshake on /
    ws.send_frame(OP_TEXT, b"hi")
    assert ws.recv_message() == (OP_TEXT, b"hi")
    ws.send_close(1000)
    assert ws.expect_close() == 1000          # and the server closed TCP
"""
import base64
import hashlib
import os
import socket
import struct
import time

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IO_TIMEOUT = 15.0


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def handshake_request(path="/", key=None, headers=None, method="GET",
                      version="HTTP/1.1", port=0):
    """The bytes of an opening handshake; HEADERS ({name: value}, None to
    leave a default header out) replace the defaults."""
    fields = {
        "Host": "127.0.0.1:%d" % port,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in (headers or {}).items():
        fields.pop(name, None)
        if value is not None:
            fields[name] = value
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % kv for kv in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(sock, buf=b""):
    """(status, {lower-case name: value}, rest of the bytes) of the HTTP
    head on SOCK."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before the head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return status, {k: ", ".join(v) for k, v in fields.items()}, rest


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """A client frame; LENGTH overrides the length field (a lie)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) \
        if len(payload) < 4096 else _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload, key):
    n = len(payload)
    k = int.from_bytes((key * ((n + 3) // 4))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def close_payload(code=None, reason=b""):
    return b"" if code is None else struct.pack("!H", code) + reason


class WsClient:
    """An open WebSocket to 127.0.0.1:PORT (the handshake checked)."""

    def __init__(self, port, path="/", headers=None, first=b"",
                 timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(handshake_request(path, key, headers, port=port) + first)
        self.status, self.headers, self.buf = read_head(self.sock)
        if self.status != 101:
            raise AssertionError("handshake answered %d %r" % (self.status, self.headers))
        if self.headers.get("sec-websocket-accept") != accept_for(key):
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % self.headers)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def send_close(self, code=None, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def _take(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed by the server (wanted %d bytes, have %d)"
                                      % (n, len(self.buf)))
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """(fin, rsv, opcode, payload) of the server's next frame, which
        must be unmasked."""
        b0, b1 = self._take(2)
        if b1 & 0x80:
            raise AssertionError("the server masked a frame")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, self._take(n)

    def recv_message(self):
        """(opcode, payload) of the next data message (fragments joined);
        control frames before it are returned as they come."""
        fin, rsv, op, data = self.recv_frame()
        if op >= 8 or fin:
            return op, data
        while True:
            fin, rsv, cop, more = self.recv_frame()
            if cop != OP_CONT:
                raise AssertionError("opcode %d inside a message" % cop)
            data += more
            if fin:
                return op, data

    def expect_close(self, answer=True):
        """The code of the server's close frame (None without one), after
        skipping data frames; then the server must close TCP."""
        while True:
            fin, rsv, op, data = self.recv_frame()
            if op == OP_CLOSE:
                break
        code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
        if len(data) > 2:
            data[2:].decode("utf-8")  # the reason must be UTF-8
        if answer:
            try:
                self.send_close(code if code else None)
            except OSError:
                pass
        self.expect_eof()
        return code

    def expect_eof(self, timeout=IO_TIMEOUT):
        """The server closes the TCP connection within TIMEOUT."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            except socket.timeout:
                break
            if not chunk:
                return
        raise AssertionError("the server kept the TCP connection open")
