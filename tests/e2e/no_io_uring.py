#!/usr/bin/env python3
"""Run a command with io_uring refused, as a container's seccomp profile
refuses it (Docker's default since 25.0, or sysctl
kernel.io_uring_disabled=2): installs a seccomp filter that answers
io_uring_setup(2) with EPERM and lets every other system call through,
then execs argv[1:] (same pid). Filters survive exec and are inherited by
children, so the arbiter's workers are refused too.

The system call number, 425, is io_uring_setup's on every architecture
that has the unified table (x86-64, arm64, riscv64, ...); the filter does
not look at the architecture, so on one with another number it refuses
nothing and the test that uses it sees a ring (and fails loudly)."""
import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
BPF_LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06      # BPF_RET | BPF_K
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
NR_IO_URING_SETUP = 425


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def refuse_io_uring():
    # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k;}; seccomp_data.nr
    # is at offset 0.
    program = [
        (BPF_LD_W_ABS, 0, 0, 0),
        (BPF_JEQ_K, 0, 1, NR_IO_URING_SETUP),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = SockFprog(len(program), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                           ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: no_io_uring.py COMMAND [ARG...]")
    refuse_io_uring()
    os.execvp(sys.argv[1], sys.argv[1:])
