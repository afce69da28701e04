"""proc_net.py - the kernel's TCP socket table (/proc/net/tcp and tcp6) as
records, for the tests that look at sockets from outside: which process
listens on a port, which connections a proxy keeps open to greenicorn, how
many bytes wait in a socket's queues.

    for s in proc_net.sockets(ipv6=True):
        if s.state == proc_net.LISTEN and s.local_port == port: ...
    s.inode in proc_net.socket_inodes(pid)    # does process PID hold it?

Each row of the table is one socket: its local and remote address and port,
its state, its send and receive queues and its inode (the number after
"socket:" in /proc/PID/fd, which is how a socket is tied to a process).
The kernel prints an address as the 32-bit words it stores, each word as a
hex number in the host's byte order: 127.0.0.1 is 0100007F on x86.
"""
import collections
import os
import socket
import sys

# The states the tests look for (include/net/tcp_states.h).
ESTABLISHED = 0x01
LISTEN = 0x0A

TcpSocket = collections.namedtuple("TcpSocket", [
    "local_addr",   # "127.0.0.1", "::1", "::ffff:127.0.0.1"
    "local_port",
    "remote_addr",
    "remote_port",
    "state",        # ESTABLISHED, LISTEN, ... (an int)
    "tx_queue",     # bytes in the send queue
    "rx_queue",     # bytes in the receive queue (a listener: its backlog)
    "inode",        # an int; 0 for sockets no file holds (TIME_WAIT)
])


def decode_addr(word_hex, byteorder=sys.byteorder):
    """The address printed as WORD_HEX (8 hex digits for IPv4, 32 for
    IPv6), as inet_ntop writes it. Each 32-bit word was printed from a
    host-order integer: its bytes in memory, the address's bytes in network
    order, are that integer written out in BYTEORDER."""
    raw = b"".join(int(word_hex[i:i + 8], 16).to_bytes(4, byteorder)
                   for i in range(0, len(word_hex), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def decode_endpoint(field, byteorder=sys.byteorder):
    """(address, port) of a field such as 0100007F:1F90 (the port is
    printed in plain hex)."""
    addr, port = field.split(":")
    return decode_addr(addr, byteorder), int(port, 16)


def parse_line(line, byteorder=sys.byteorder):
    """The TcpSocket of one row of /proc/net/tcp or tcp6 (not the header)."""
    fields = line.split()
    local_addr, local_port = decode_endpoint(fields[1], byteorder)
    remote_addr, remote_port = decode_endpoint(fields[2], byteorder)
    tx, rx = (int(x, 16) for x in fields[4].split(":"))
    return TcpSocket(local_addr, local_port, remote_addr, remote_port,
                     int(fields[3], 16), tx, rx, int(fields[9]))


def parse(text, byteorder=sys.byteorder):
    """The TcpSockets of a whole /proc/net/tcp or tcp6, in its order."""
    return [parse_line(line, byteorder) for line in text.splitlines()[1:]]


def sockets(ipv6=False):
    """The TCP sockets of this network namespace: the IPv4 ones, then with
    IPV6 the IPv6 ones (none on a kernel without IPv6, which has no
    /proc/net/tcp6). An IPv6 socket that also takes IPv4 is an IPv6 row."""
    paths = ["/proc/net/tcp"] + (["/proc/net/tcp6"] if ipv6 else [])
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                rows += parse(f.read())
        except FileNotFoundError:
            if path == paths[0]:
                raise
    return rows


def socket_inodes(pid):
    """The inodes of the sockets process PID holds, from the socket:[INODE]
    links of /proc/PID/fd (OSError when PID is gone; a descriptor closed
    while it is read is left out)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes
