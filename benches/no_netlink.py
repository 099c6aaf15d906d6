"""Runs a command where the kernel refuses netlink sockets, as some sandboxes do.

    python3 benches/no_netlink.py COMMAND [ARGS...]

Installs a seccomp filter (no new privileges, so any user may) under which
socket(AF_NETLINK, ...) fails with EPERM and every other system call is
allowed, then execs COMMAND, which keeps the filter. grantd's peer lookup
then finds no sock_diag and falls back to /proc/net/tcp. x86_64 and aarch64.
"""

import ctypes
import os
import platform
import sys

ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
AUDIT_ARCH, NR_SOCKET = ARCH[platform.machine()]
AF_NETLINK, EPERM = 16, 1
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


# struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low word,
# little-endian).
PROGRAM = [
    (LD_W_ABS, 0, 0, 4),
    (JEQ_K, 1, 0, AUDIT_ARCH),
    (RET_K, 0, 0, RET_ALLOW),
    (LD_W_ABS, 0, 0, 0),
    (JEQ_K, 0, 3, NR_SOCKET),
    (LD_W_ABS, 0, 0, 16),
    (JEQ_K, 0, 1, AF_NETLINK),
    (RET_K, 0, 0, RET_ERRNO | EPERM),
    (RET_K, 0, 0, RET_ALLOW),
]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    libc = ctypes.CDLL(None, use_errno=True)
    filters = (SockFilter * len(PROGRAM))(*[SockFilter(*i) for i in PROGRAM])
    prog = SockFprog(len(PROGRAM), filters)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit(f"no_netlink: PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        sys.exit(f"no_netlink: PR_SET_SECCOMP: {os.strerror(ctypes.get_errno())}")
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
