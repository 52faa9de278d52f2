"""Standalone sandbox worker: forks one fresh, isolated child per call.

This file is executed as a script (``python -I -S _worker.py``) with an empty environment by
:class:`langchain_latm.sandbox.SandboxExecutor`. It imports the standard library only (never
langchain, pydantic or the host's site-packages) and never runs model-written code itself: each
request is run in a forked child that first applies every isolation layer available here
(process group, private temporary directory, resource limits, uid drop, no-new-privileges with
capabilities dropped, Landlock, seccomp) inside the worker's own network namespace.

Protocol (one JSON object per line):

* host -> worker, first line: ``{"config": {...}}``. Ready spares' request pipes are lent to
  the host over a Unix socket; the host writes a call (code, snippet, limits) straight into
  one and tells us ``{"op": "started", "id", "pid", "timeout"}``. With none to hand it asks
  ``{"op": "lend", "id"}`` and waits for the next. ``{"op": "cancel", "id"}`` kills a
  call whose caller went away.
* worker -> host: ``{"kind": "ready", "layers": {...}, ...}`` once, then per call
  ``{"kind": "result", "id", "raw_bytes", "exit_code", "signal", "timed_out", "overflow",
  "survivors", "duration"}`` followed by ``raw_bytes`` bytes: the child's result text, passed
  on unparsed (the host decides the verdict).

Spares are forked by a zygote: a copy of this process made at start, before any call, that
does nothing else (``clone(CLONE_PARENT)``: the spares are still our children). So a spare
holds none of our later state, and our own bookkeeping after each fork does not copy the pages
the spares share with us. Where there is no zygote (not x86_64, or it died) we fork the spares
ourselves, so a call's code and results never become Python objects here either: whatever
this process's memory held (even freed) would be readable by the next calls. The code goes
from the host straight into the child; the result is read into buffers that are zeroed once
forwarded, and a spare we fork zeroes its copies of results still in flight.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # C level: no enum wrappers
import ast
import builtins
import collections
import contextlib
import ctypes
import errno
import fcntl
import gc
import io
import json
import os
import resource
import select
import selectors
import signal
import socket
import stat
import struct
import sys
import time
import traceback
import types

TYPE_CHECKING = False  # typing itself stays out of the worker (less memory to fork)
if TYPE_CHECKING:
    from typing import Any

# Standard-library modules imported once here so children (which may not be able to read the
# interpreter's files after the uid drop) get them for free, copy-on-write.
# Kept lean: a bigger worker makes every fork slower; other modules are imported on demand
# (the interpreter's library stays readable for the child, see ``expose_library``).
PRELOAD = (
    "bisect", "collections", "copy", "datetime", "fractions", "functools", "heapq",
    "itertools", "json", "linecache", "math", "operator", "re", "string", "textwrap",
    "traceback", "types",
)

NOBODY = 65534
# As root, each slot's children run as a uid of their own: uids count threads
# (RLIMIT_NPROC) and own files and processes, so concurrent calls must not share one. A
# worker takes a block of CALL_UIDS_PER_WORKER uids from its pid, above the ranges that
# distributions give to users and systemd to dynamic users.
CALL_UID_BASE = 0x40000000
CALL_UIDS_PER_WORKER = 64
# a spare's first byte on its result pipe: isolated (and warmed up), waiting for its call;
# never the first byte of a report, which starts with the hex nonce
READY = b"R"
_dumps = json.dumps
MAX_MESSAGE = 4000

# --- Landlock -----------------------------------------------------------------------------
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LL_CREATE_RULESET_VERSION = 1
LL_RULE_PATH_BENEATH = 1
LL_FS_EXECUTE = 1 << 0
LL_FS_WRITE_FILE = 1 << 1
LL_FS_READ_FILE = 1 << 2
LL_FS_READ_DIR = 1 << 3
LL_FS_TRUNCATE = 1 << 14
LL_FS_IOCTL_DEV = 1 << 15
LL_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
LL_SCOPE_SIGNAL = 1 << 1
LL_NET_ALL = (1 << 0) | (1 << 1)  # bind_tcp | connect_tcp


def _ll_fs_all(abi: int) -> int:
    mask = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        mask |= 1 << 13  # refer
    if abi >= 3:
        mask |= LL_FS_TRUNCATE
    if abi >= 5:
        mask |= LL_FS_IOCTL_DEV
    return mask


# --- seccomp (x86_64) ---------------------------------------------------------------------
AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
CLONE_THREAD = 0x00010000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
SECCOMP_MODE_FILTER = 2

# Syscalls refused with EPERM: process creation / exec, tracing, signalling other processes,
# sockets, namespaces and mounts, kernel modules, keyrings, bpf, io_uring, identity changes.
X86_64_DENY = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "tkill": 200,
    "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "pidfd_open": 434,
    "pidfd_send_signal": 424, "pidfd_getfd": 438, "socket": 41, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "keyctl": 250,
    "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173, "quotactl": 179,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "lookup_dcookie": 212,
    "personality": 135, "syslog": 103, "vhangup": 153, "setsid": 112, "setpgid": 109,
    "setrlimit": 160, "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114,
    "setresuid": 117, "setresgid": 119, "setgroups": 116, "setfsuid": 122, "setfsgid": 123,
    "capset": 126, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "uselib": 134, "mknod": 133, "mknodat": 259,
    "fanotify_init": 300, "memfd_secret": 447, "migrate_pages": 256, "move_pages": 279,
    "mbind": 237, "set_mempolicy": 238, "nfsservctl": 180, "create_module": 174,
    # file modes, owners, times and extended attributes (Landlock does not cover these, and
    # every call runs as the same uid: a call could otherwise lock or mark another call's
    # directory)
    "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
    "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "utimensat": 280,
    "futimesat": 261, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463,
    "removexattrat": 466,
    # scheduling of any process (same uid: other calls, or the host where it is not root)
    "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
    "sched_setaffinity": 203, "sched_setattr": 314, "ioprio_set": 251,
    # channels between calls that Landlock and the network namespace leave open: System V
    # IPC and POSIX message queues (shared by every call, and they outlive it), naming or
    # reaching a Unix socket by path, and watching another call's (or the host's) files
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65,
    "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245, "bind": 49, "connect": 42, "listen": 50,
    "accept": 43, "accept4": 288, "inotify_init": 253, "inotify_init1": 294,
    "inotify_add_watch": 254, "fanotify_mark": 301,
    # newer mount and file-attribute calls
    "open_tree_attr": 467, "file_setattr": 469,
    # memory files live outside the call's size-limited tmpfs and its address-space limit
    "memfd_create": 319,
}
NR_CLONE, NR_CLONE3, NR_KILL, NR_TGKILL = 56, 435, 62, 234
NR_PRLIMIT64, NR_SOCKETPAIR, NR_IOCTL, NR_PRCTL = 302, 53, 16, 157
PR_SET_MM, PR_SET_CHILD_SUBREAPER, PR_SET_PTRACER = 35, 36, 0x59616D61

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long
_LIBC.prctl.restype = ctypes.c_int
_LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_LIBC.capset.restype = ctypes.c_int
_LIBC.unshare.argtypes = [ctypes.c_int]
_LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_SYSCALL = _LIBC.syscall
_PRCTL = _LIBC.prctl
_CAPSET = _LIBC.capset


class LayerError(Exception):
    """An isolation layer could not be applied."""


def _errno_msg(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what} failed: [errno {err}] {os.strerror(err)}"


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


LD_ABS, JEQ, JGE, JSET, RET, ALU_AND = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54
AF_UNIX, SOCK_STREAM, SOCK_TYPE_MASK = 1, 1, 0xF


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _refuse_args(nr: int, arg: int, values: tuple[int, ...], refuse: int) -> list[bytes]:
    """BPF: syscall ``nr`` returns ``refuse`` when argument ``arg`` is one of ``values``."""
    n = len(values)
    return [_ins(JEQ, 0, n + 3, nr), _ins(LD_ABS, 0, 0, _arg_lo(arg)),
            *(_ins(JEQ, n - i, 0, value) for i, value in enumerate(values)),
            _ins(RET, 0, 0, RET_ALLOW), _ins(RET, 0, 0, refuse)]


def build_seccomp_filter(mypid: int) -> bytes:
    """The BPF program installed in each child (x86_64 only)."""
    eperm = RET_ERRNO | errno.EPERM
    prog = [
        _ins(LD_ABS, 0, 0, 4),
        _ins(JEQ, 1, 0, AUDIT_ARCH_X86_64),
        _ins(RET, 0, 0, RET_KILL_PROCESS),
        _ins(LD_ABS, 0, 0, 0),
        _ins(JGE, 0, 1, 0x40000000),  # x32 ABI
        _ins(RET, 0, 0, RET_ERRNO | errno.ENOSYS),
        # clone: threads only
        _ins(JEQ, 0, 4, NR_CLONE),
        _ins(LD_ABS, 0, 0, _arg_lo(0)),
        _ins(JSET, 0, 1, CLONE_THREAD),
        _ins(RET, 0, 0, RET_ALLOW),
        _ins(RET, 0, 0, eperm),
        # clone3: its flags live behind a pointer; ENOSYS makes libc fall back to clone
        _ins(JEQ, 0, 1, NR_CLONE3),
        _ins(RET, 0, 0, RET_ERRNO | errno.ENOSYS),
        # kill: only ourselves (pid or own process group 0)
        _ins(JEQ, 0, 5, NR_KILL),
        _ins(LD_ABS, 0, 0, _arg_lo(0)),
        _ins(JEQ, 2, 0, mypid),
        _ins(JEQ, 1, 0, 0),
        _ins(RET, 0, 0, eperm),
        _ins(RET, 0, 0, RET_ALLOW),
        # tgkill: only our own thread group
        _ins(JEQ, 0, 4, NR_TGKILL),
        _ins(LD_ABS, 0, 0, _arg_lo(0)),
        _ins(JEQ, 0, 1, mypid),
        _ins(RET, 0, 0, RET_ALLOW),
        _ins(RET, 0, 0, eperm),
        # prlimit64: reading limits only (new_limit == NULL)
        _ins(JEQ, 0, 6, NR_PRLIMIT64),
        _ins(LD_ABS, 0, 0, _arg_lo(2)),
        _ins(JEQ, 0, 3, 0),
        _ins(LD_ABS, 0, 0, _arg_lo(2) + 4),
        _ins(JEQ, 0, 1, 0),
        _ins(RET, 0, 0, RET_ALLOW),
        _ins(RET, 0, 0, eperm),
        # socketpair: AF_UNIX streams only. A connected stream pair reaches nothing else; a
        # datagram socket could be re-targeted (sendto a path) at another call's socket
        _ins(JEQ, 0, 7, NR_SOCKETPAIR),
        _ins(LD_ABS, 0, 0, _arg_lo(0)),
        _ins(JEQ, 0, 4, AF_UNIX),
        _ins(LD_ABS, 0, 0, _arg_lo(1)),
        _ins(ALU_AND, 0, 0, SOCK_TYPE_MASK),  # drop SOCK_CLOEXEC / SOCK_NONBLOCK
        _ins(JEQ, 0, 1, SOCK_STREAM),
        _ins(RET, 0, 0, RET_ALLOW),
        _ins(RET, 0, 0, eperm),
        # ioctl: no terminal injection
        *_refuse_args(NR_IOCTL, 1, (TIOCSTI, TIOCLINUX), eperm),
        # prctl: the parent-death signal (a call must die with the worker), dumpability and
        # tracer/subreaper settings stay as the worker set them
        *_refuse_args(NR_PRCTL, 0, (PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_MM,
                                    PR_SET_CHILD_SUBREAPER, PR_SET_PTRACER), eperm),
    ]
    for nr in X86_64_DENY.values():
        prog.append(_ins(JEQ, 0, 1, nr))
        prog.append(_ins(RET, 0, 0, eperm))
    prog.append(_ins(RET, 0, 0, RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PID_SENTINEL = 0x7EADBEEF
_SECCOMP_TEMPLATE = build_seccomp_filter(_PID_SENTINEL)
_SECCOMP_PID_OFFSETS = [i * 8 + 4 for i in range(len(_SECCOMP_TEMPLATE) // 8)
                        if struct.unpack_from("I", _SECCOMP_TEMPLATE, i * 8 + 4)[0]
                        == _PID_SENTINEL]


# Built once here; each forked child writes its pid into its own copy and installs it.
_MACHINE = os.uname().machine
_SECCOMP_BUF = ctypes.create_string_buffer(_SECCOMP_TEMPLATE, len(_SECCOMP_TEMPLATE))
_SECCOMP_FPROG = _SockFprog(len(_SECCOMP_TEMPLATE) // 8, ctypes.addressof(_SECCOMP_BUF))
_SECCOMP_FPROG_ADDRESS = ctypes.addressof(_SECCOMP_FPROG)


def apply_seccomp() -> None:
    """Install the seccomp filter for this (single-threaded, freshly forked) process."""
    if _MACHINE != "x86_64":
        raise LayerError(f"no seccomp filter for the {_MACHINE} architecture yet")
    pid = os.getpid()
    for off in _SECCOMP_PID_OFFSETS:
        struct.pack_into("I", _SECCOMP_BUF, off, pid)
    if _PRCTL(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _SECCOMP_FPROG_ADDRESS, 0, 0) != 0:
        raise LayerError(_errno_msg("prctl(PR_SET_SECCOMP)"))


def landlock_abi() -> int:
    """Landlock ABI version of this kernel (0 if unavailable)."""
    abi = _SYSCALL(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(LL_CREATE_RULESET_VERSION))
    return int(abi) if abi > 0 else 0


def prepare_landlock(abi: int, read_paths: list[str], rw_paths: list[str],
                     rw_files: list[str]) -> int:
    """Build a Landlock ruleset (before the uid drop, so every path can still be opened).

    Read-only paths that do not exist are skipped; a read-write path that cannot be opened is
    an error (fail closed). Returns the ruleset descriptor for :func:`restrict_landlock`.
    """
    if abi < 1:
        raise LayerError("Landlock is not supported by this kernel")
    fs_all = _ll_fs_all(abi)
    attr = struct.pack("QQQ", fs_all, LL_NET_ALL if abi >= 4 else 0,
                       (LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL) if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    abuf = ctypes.create_string_buffer(attr, 24)
    rfd = _SYSCALL(SYS_LANDLOCK_CREATE_RULESET, abuf, ctypes.c_size_t(size),
                   ctypes.c_uint32(0))
    if rfd < 0:
        raise LayerError(_errno_msg("landlock_create_ruleset"))
    ruleset = int(rfd)
    read_dir = LL_FS_READ_FILE | LL_FS_READ_DIR
    file_rw = LL_FS_READ_FILE | LL_FS_WRITE_FILE | (LL_FS_TRUNCATE if abi >= 3 else 0)
    rules = [(p, read_dir, False) for p in read_paths]
    rules += [(p, fs_all & ~LL_FS_EXECUTE & ~LL_FS_IOCTL_DEV, True) for p in rw_paths]
    rules += [(p, file_rw, False) for p in rw_files]
    try:
        for path, access, required in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError as exc:
                if required:
                    raise LayerError(f"cannot open {path} for a Landlock rule: {exc}") from exc
                continue
            try:
                rule = struct.pack("=Qi", access, fd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                if _SYSCALL(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                            ctypes.c_int(LL_RULE_PATH_BENEATH), rbuf,
                            ctypes.c_uint32(0)) != 0:
                    raise LayerError(_errno_msg(f"landlock_add_rule({path})"))
            finally:
                os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def restrict_landlock(ruleset: int) -> None:
    """Enforce a prepared ruleset on this process (needs no-new-privileges)."""
    try:
        if _SYSCALL(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise LayerError(_errno_msg("landlock_restrict_self"))
    finally:
        os.close(ruleset)


def landlock_extras(abi: int) -> list[str]:
    """Optional Landlock layers this ABI adds."""
    return (["landlock_net"] if abi >= 4 else []) + (["landlock_scope"] if abi >= 6 else [])


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_HEADER = _CapHeader(0x20080522, 0)  # version 3, this process
_NO_CAPS = (_CapData * 2)()


def drop_capabilities() -> None:
    """Set no-new-privileges and clear every capability set."""
    if _PRCTL(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise LayerError(_errno_msg("prctl(PR_SET_NO_NEW_PRIVS)"))
    if _CAPSET(ctypes.byref(_CAP_HEADER), _NO_CAPS) != 0:
        raise LayerError(_errno_msg("capset"))


# --- worker configuration and state -------------------------------------------------------
class Config:
    """Limits and layer choices sent by the host."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.memory_mb = int(raw.get("memory_mb", 512))
        self.cpu_seconds = int(raw.get("cpu_seconds", 10))
        self.file_size_mb = int(raw.get("file_size_mb", 16))
        self.max_open_files = int(raw.get("max_open_files", 64))
        self.max_threads = int(raw.get("max_threads", 64))
        self.max_output_bytes = int(raw.get("max_output_bytes", 65536))
        self.max_answer_bytes = int(raw.get("max_answer_bytes", 1_000_000))
        self.use_network_namespace = bool(raw.get("network_namespace", True))
        self.spares = max(0, int(raw.get("spares", 2)))
        self.tmp_size_mb = max(1, int(raw.get("tmp_size_mb", 256)))
        # each call's directory is its own tmpfs of this size where mounts are possible, so a
        # call filling its disk space leaves the others theirs
        self.call_tmp_mb = max(1, int(raw.get("call_tmp_mb",
                                              max(self.file_size_mb, self.tmp_size_mb // 8))))
        # and holds at most this many files, directories and links (tmpfs counts each hard
        # link as an inode): emptying a slot stays a few milliseconds of the worker's time
        # instead of seconds for millions of empty files or links
        self.call_tmp_inodes = max(16, int(raw.get("call_tmp_inodes", 4096)))
        self.tmp_inodes = max(self.call_tmp_inodes, int(raw.get("tmp_inodes", 65536)))
        # after a result, wait this long for the host's next request before forking a spare
        # while no call runs (a sequential caller sends it within a millisecond or so)
        self.replenish_idle = max(0.0, float(raw.get("replenish_idle", 0.02)))
        # spares isolate themselves under SCHED_IDLE (only where the worker may lift it again)
        self.idle_spares = bool(raw.get("idle_spares", True))
        # spares are forked by a zygote (a copy of the worker made at start), not the worker
        self.zygote = bool(raw.get("zygote", True))
        # a Unix socket inherited from the host: ready spares' request pipes are lent to it
        # (the host then writes a call straight into a child: one process wake-up less)
        self.spare_channel = int(raw.get("spare_channel", -1))
        # True / False, or "auto": warm spares up only while the machine has idle CPU
        warm = raw.get("warm_up", "auto")
        self.warm_up: bool | str = warm if warm == "auto" else bool(warm)


CONFIG = Config({})
LAYERS: dict[str, str] = {}  # layer name -> "ok" / error detail
ACTIVE: set[str] = set()
LL_ABI = 0
READ_PATHS: list[str] = []
DEVNULL_FD = -1
BASE_DIR = ""
IS_ROOT = os.geteuid() == 0
WORKER_PID = os.getpid()
IDLE_SPARES = False  # set in main(): CONFIG.idle_spares and the worker may undo SCHED_IDLE
_PRIORITY_0 = os.sched_param(0)  # the only static priority of SCHED_IDLE and SCHED_OTHER
CHILD_RLIMITS: list[tuple[int, tuple[int, int]]] = []  # set in main(), from CONFIG


def _read_only_paths() -> list[str]:
    paths: list[str] = []
    for p in sys.path:
        if p and os.path.isdir(p):
            paths.append(p)
    for p in ("/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/share/zoneinfo",
              "/usr/lib/locale", "/usr/share/locale"):
        if os.path.isdir(p):
            paths.append(p)
    return paths


def gettempdir() -> str:
    """The directory :mod:`tempfile` would pick with an empty environment.

    ``tempfile`` itself is not imported: it pulls in ``random``, whose at-fork hook (reseeding
    in every child) makes each fork measurably slower.
    """
    for d in ("/tmp", "/var/tmp", "/usr/tmp"):
        probe = os.path.join(d, f".latm-probe-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        os.close(fd)
        os.unlink(probe)
        return d
    return os.getcwd()


def mkdtemp(prefix: str, parent: str) -> str:
    """Create a fresh private (0700) directory ``parent/prefix<random>``."""
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path


MS_BIND, MS_REC, MS_PRIVATE, MS_RDONLY, MS_REMOUNT = 4096, 16384, 1 << 18, 1, 32
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    rc = _LIBC.mount(src.encode() if src else None, target.encode(),
                     fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)
    if rc != 0:
        raise LayerError(_errno_msg(f"mount({target})"))


def _blocking_ancestor(path: str) -> str | None:
    """Topmost ancestor of ``path`` that an unprivileged uid cannot traverse."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    cur = ""
    for part in parts:
        cur = f"{cur}/{part}"
        try:
            mode = os.stat(cur).st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return cur
    return None


MOUNT_NS = False


def _ensure_mount_ns() -> None:
    global MOUNT_NS
    if MOUNT_NS:
        return
    clone_newns = 0x00020000
    if _LIBC.unshare(clone_newns) != 0:
        raise LayerError(_errno_msg("unshare(CLONE_NEWNS)"))
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    MOUNT_NS = True


def private_tmp(lib_dirs: list[str], size_mb: int, inodes: int) -> str:
    """Give the worker (and its children) an empty, size-limited tmpfs as ``/tmp``.

    The host's ``/tmp`` disappears for the sandbox, a call cannot fill the host's disk, and
    the sandbox does not depend on the host's ``/tmp`` permissions. Library directories that
    live under ``/tmp`` are bound back read-only. Needs root or a user namespace.
    """
    tmp = gettempdir()
    inside = [d for d in lib_dirs if d == tmp or d.startswith(tmp.rstrip("/") + "/")]
    _ensure_mount_ns()
    staged = []
    for i, d in enumerate(inside):
        st = mkdtemp(f"latm-stage{i}-", tmp)
        _mount(d, st, None, MS_BIND | MS_REC)
        staged.append((d, st))
    _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV,
           f"mode=1777,size={size_mb}m,nr_inodes={inodes}")
    for d, st in staged:
        os.makedirs(d, 0o755, exist_ok=True)
        _mount(st, d, None, MS_BIND | MS_REC)
        _mount(None, d, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return "ok"


def expose_library(lib_dirs: list[str], staging_root: str) -> str:
    """Let the uid-dropped child read the interpreter's library.

    When the interpreter lives under a private directory (``/root/.pyenv`` for instance), a
    child running as an unprivileged uid cannot import modules the worker has not preloaded.
    As root the worker enters its own mount namespace, covers each private ancestor with an
    empty tmpfs (so the rest of that home directory disappears for the worker and its
    children) and bind-mounts just the library directories back, read-only. Returns a
    description for the report.
    """
    if not IS_ROOT:
        return "not needed (not running as root)"
    blocked: dict[str, list[str]] = {}
    for d in lib_dirs:
        anc = _blocking_ancestor(d)
        if anc is not None:
            blocked.setdefault(anc, []).append(d)
    if not blocked:
        return "not needed (library is world-readable)"
    _ensure_mount_ns()
    shown: list[str] = []
    for anc, dirs in blocked.items():
        # keep only outermost library dirs (lib-dynload lives inside lib/python3.x)
        dirs = sorted(set(dirs))
        outer = [d for d in dirs if not any(d != o and d.startswith(o + "/") for o in dirs)]
        staged = []
        for i, d in enumerate(outer):
            st = os.path.join(staging_root, f"lib{len(shown)}_{i}")
            os.mkdir(st, 0o700)
            _mount(d, st, None, MS_BIND | MS_REC)
            staged.append((d, st))
        _mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k")
        for d, st in staged:
            os.makedirs(d, 0o755, exist_ok=True)
            _mount(st, d, None, MS_BIND | MS_REC)
            _mount(None, d, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            if _LIBC.umount2(st.encode(), MNT_DETACH) != 0:
                raise LayerError(_errno_msg(f"umount({st})"))
            os.rmdir(st)
            shown.append(d)
    return "ok: " + ", ".join(f"{a} hidden" for a in blocked) + "; library re-exposed read-only"


def setup_worker_namespaces() -> None:
    """Move the worker (and so every child) into a fresh network + IPC namespace."""
    clone_newnet, clone_newipc, clone_newuser = 0x40000000, 0x08000000, 0x10000000
    if not CONFIG.use_network_namespace:
        LAYERS["network_namespace"] = "disabled by configuration"
        return
    try:
        before = os.readlink("/proc/self/ns/net")
    except OSError:
        before = ""
    if IS_ROOT:
        rc = _LIBC.unshare(clone_newnet | clone_newipc)
        msg = "" if rc == 0 else _errno_msg("unshare(CLONE_NEWNET|CLONE_NEWIPC)")
    else:
        uid, gid = os.getuid(), os.getgid()
        rc = _LIBC.unshare(clone_newuser | clone_newnet | clone_newipc)
        msg = "" if rc == 0 else _errno_msg("unshare(CLONE_NEWUSER|CLONE_NEWNET)")
        if rc == 0:
            try:
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"{uid} {uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"{gid} {gid} 1")
            except OSError as exc:
                msg = f"user namespace id mapping failed: {exc}"
                rc = -1
    if rc != 0:
        LAYERS["network_namespace"] = msg
        return
    try:
        after = os.readlink("/proc/self/ns/net")
    except OSError:
        after = "?"
    if after == before:
        LAYERS["network_namespace"] = "unshare returned but the namespace did not change"
    else:
        LAYERS["network_namespace"] = "ok"
        ACTIVE.add("network_namespace")


# --- the child ----------------------------------------------------------------------------
class _Capture(io.TextIOBase):
    """A size-capped text sink standing in for ``sys.stdout`` in the child."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s) if s.isascii() else len(s.encode("utf-8", "replace"))
        room = self.limit - self.size
        if n <= room:
            self.parts.append(s)
            self.size += n
        else:
            if room > 0:
                cut = s.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
                self.parts.append(cut)
                self.size += room
            self.dropped += n - max(room, 0)
        return len(s)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n...[output truncated: {self.dropped} more bytes]"
        return out


def _target_names(node: ast.AST, out: list[tuple[int, int, str]]) -> None:
    if isinstance(node, ast.Name):
        out.append((node.lineno, node.col_offset, node.id))
    elif isinstance(node, ast.Tuple | ast.List):
        for elt in node.elts:
            _target_names(elt, out)
    elif isinstance(node, ast.Starred):
        _target_names(node.value, out)


def _walrus_names(node: ast.AST, out: list[tuple[int, int, str]]) -> None:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(cur, ast.NamedExpr):
            _target_names(cur.target, out)
        stack.extend(ast.iter_child_nodes(cur))


def _pattern_names(pat: ast.AST, out: list[tuple[int, int, str]]) -> None:
    for sub in ast.walk(pat):
        name = getattr(sub, "name", None) if isinstance(sub, ast.MatchAs | ast.MatchStar) else (
            getattr(sub, "rest", None) if isinstance(sub, ast.MatchMapping) else None)
        if isinstance(name, str) and isinstance(sub, ast.pattern):
            out.append((sub.lineno, sub.col_offset, name))


def module_level_assignments(body: list[ast.stmt]) -> list[tuple[int, int, str]]:
    """Names bound at module level (recursing into if/for/while/with/try/match), in order."""
    out: list[tuple[int, int, str]] = []
    for st in body:
        if isinstance(st, ast.Assign):
            for t in st.targets:
                _target_names(t, out)
        elif isinstance(st, ast.AugAssign) or (isinstance(st, ast.AnnAssign) and st.value):
            _target_names(st.target, out)
        elif isinstance(st, ast.For | ast.AsyncFor):
            _target_names(st.target, out)
            out.extend(module_level_assignments(st.body + st.orelse))
        elif isinstance(st, ast.While | ast.If):
            out.extend(module_level_assignments(st.body + st.orelse))
        elif isinstance(st, ast.With | ast.AsyncWith):
            for item in st.items:
                if item.optional_vars is not None:
                    _target_names(item.optional_vars, out)
            out.extend(module_level_assignments(st.body))
        elif isinstance(st, ast.Try | ast.TryStar):
            inner = list(st.body)
            for h in st.handlers:
                if h.name:
                    out.append((h.lineno, h.col_offset, h.name))
                inner += h.body
            out.extend(module_level_assignments(inner + st.orelse + st.finalbody))
        elif isinstance(st, ast.Match):
            for case in st.cases:
                _pattern_names(case.pattern, out)
                out.extend(module_level_assignments(case.body))
        elif isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.append((st.lineno, st.col_offset, st.name))
        elif isinstance(st, ast.Import | ast.ImportFrom):
            for alias in st.names:
                name = alias.asname or alias.name.split(".")[0]
                out.append((st.lineno, st.col_offset, name))
        if not isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            _walrus_names(st, out)
    out.sort()
    return out


def answer_candidates(tree: ast.Module) -> list[str]:
    """``ans``-like names assigned at module level, last-assigned first."""
    seen: list[str] = []
    for _line, _col, name in reversed(module_level_assignments(tree.body)):
        if name.startswith("ans") and name not in seen:
            seen.append(name)
    return seen


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "...[truncated]"


def _describe(exc: BaseException) -> str:
    try:
        msg = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not break reporting
        msg = "<unprintable exception>"
    try:
        tb = exc.__traceback__
        # keep only frames of the program itself (files "<tool>" / "<snippet>")
        frames = [f for f in traceback.extract_tb(tb)
                  if f.filename in ("<tool>", "<snippet>")] if tb else []
        if frames:
            lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}'
                     + (f"\n    {f.line}" if f.line else "") for f in frames[-3:]]
            msg += "\nTraceback (most recent call last, last frames):\n" + "\n".join(lines)
    except Exception:  # noqa: BLE001, S110 - traceback is a nicety, never fatal
        pass
    return _short(msg)


class _Source:
    """Holds code/snippet text so linecache-free tracebacks can still show lines."""

    def __init__(self, code: str, snippet: str) -> None:
        import linecache

        for name, text in (("<tool>", code), ("<snippet>", snippet)):
            linecache.cache[name] = (len(text), None, text.splitlines(True), name)


# Process creation is already impossible here (seccomp, Landlock); the audit hook only turns
# what would be a silent libc failure (``os.system`` returning 32512) into a clear, reported
# error. It is a message, not a boundary: the kernel layers are the boundary.
_BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "pty.spawn",
})
_AUDIT_INSTALLED = False


def _blocked_event(event: str, _args: tuple[Any, ...]) -> None:
    if event in _BLOCKED_EVENTS:
        raise PermissionError(f"sandbox: {event} is blocked (no process creation)")


def _install_audit_hook() -> None:
    global _AUDIT_INSTALLED
    if not _AUDIT_INSTALLED:
        sys.addaudithook(_blocked_event)
        _AUDIT_INSTALLED = True


def run_program(code: str, snippet: str, require_answer: bool) -> dict[str, Any]:
    """Run ``code`` then ``snippet`` in one fresh ``__main__`` module; return the verdict."""
    out = _Capture(CONFIG.max_output_bytes)
    sys.stdout = out
    sys.stderr = _Capture(0)
    result: dict[str, Any] = {"error_type": None, "error_message": None}
    try:
        # Compile both parts before running either. The tool code is compiled straight from
        # source (no Python-level AST: that is most of the parse cost); only the snippet,
        # usually one line, is parsed to find its ``ans`` names.
        compiled = []
        snippet_tree: ast.Module | None = None
        for name, text in (("<tool>", code), ("<snippet>", snippet)):
            try:
                if name == "<snippet>":
                    snippet_tree = ast.parse(text, filename=name)
                    compiled.append(compile(snippet_tree, name, "exec"))
                else:
                    compiled.append(compile(text, name, "exec"))
            except SyntaxError as exc:
                where = f"{name} line {exc.lineno}" if exc.lineno else name
                kind = type(exc).__name__
                prefix = "" if kind == "SyntaxError" else f"{kind}: "
                result.update(error_type="SyntaxError",
                              error_message=_short(f"{prefix}{exc.msg} ({where})"))
                return result
            except (ValueError, RecursionError, MemoryError) as exc:
                result.update(error_type="SyntaxError",
                              error_message=_short(f"could not parse {name}: {exc}"))
                return result
        candidates = (answer_candidates(snippet_tree) if snippet_tree else []) or (
            answer_candidates(ast.parse(code, filename="<tool>")))
        _Source(code, snippet)
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = module
        ns = module.__dict__
        _install_audit_hook()
        for program in compiled:
            exec(program, ns)
        if not require_answer:
            return result
        chosen = next((n for n in candidates if n in ns), None)
        if chosen is None:
            result.update(
                error_type="MissingAnswer",
                error_message=("the program assigned no variable whose name starts with 'ans'"
                               if not candidates else
                               f"{candidates[0]!r} was never assigned when the program ended"))
            return result
        value = ns[chosen]
        try:
            encoded = _dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            result.update(error_type="NonJSONAnswer",
                          error_message=_short(
                              f"{chosen} = <{type(value).__name__}> is not a JSON value "
                              f"(use None, bool, int, float, str, list or dict with str "
                              f"keys): {exc}"))
            return result
        if len(encoded) > CONFIG.max_answer_bytes:
            result.update(error_type="OutputLimit",
                          error_message=f"{chosen} is {len(encoded)} bytes of JSON, over the "
                          f"{CONFIG.max_answer_bytes}-byte answer limit")
            return result
        result["answer_name"] = chosen
        result["answer_json"] = encoded
        return result
    except MemoryError:
        result.update(error_type="MemoryError", error_message="the memory limit was exceeded")
        return result
    except BaseException as exc:  # noqa: BLE001 - every failure of the program is reported
        result.update(error_type=type(exc).__name__[:200], error_message=_describe(exc))
        return result
    finally:
        result["stdout"] = out.text()


def child_rlimits() -> list[tuple[int, tuple[int, int]]]:
    """The limits every child sets on itself (computed once, in the worker)."""
    mb = 1024 * 1024
    cpu = max(1, CONFIG.cpu_seconds)
    return [(res, _clamp(res, val)) for res, val in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (CONFIG.memory_mb * mb, CONFIG.memory_mb * mb)),
        (resource.RLIMIT_FSIZE, (CONFIG.file_size_mb * mb, CONFIG.file_size_mb * mb)),
        (resource.RLIMIT_NOFILE, (CONFIG.max_open_files, CONFIG.max_open_files)),
        (resource.RLIMIT_NPROC, (CONFIG.max_threads, CONFIG.max_threads)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_MEMLOCK, (0, 0)),
        (resource.RLIMIT_MSGQUEUE, (0, 0)),
    )]


def _clamp(res: int, want: tuple[int, int]) -> tuple[int, int]:
    """Never ask for more than the current hard limit (raising it needs CAP_SYS_RESOURCE)."""
    _soft, hard = resource.getrlimit(res)
    if hard == resource.RLIM_INFINITY:
        return want
    return (min(want[0], hard), min(want[1], hard))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _writev_all(fd: int, views: list[memoryview]) -> None:
    """Write every view, in order, without joining them into one new buffer."""
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


_CHUNK = 65536
_ZEROS = bytes(_CHUNK)


def _read_chunk(fd: int) -> tuple[bytearray, int]:
    """Read up to 64 KiB into a fresh buffer (no intermediate ``bytes`` copy left behind)."""
    chunk = bytearray(_CHUNK)
    return chunk, os.readv(fd, [chunk])


def _wipe(chunks: list[tuple[bytearray, int]]) -> None:
    """Zero result buffers in place and forget them."""
    for chunk, _used in chunks:
        chunk[:] = _ZEROS
    chunks.clear()


_WARM_CODE = """import re, json, math, itertools, collections, functools
def _tool(text):
    words = re.findall(r"[A-Za-z]+", text)
    return " ".join(sorted(words, key=str.lower)) + str(math.floor(1.5))
"""
_WARM_SNIPPET = 'print("warm")\nans = [_tool("b a"), {"k": [1, 2.5, None, True]}]\n'


def _should_warm_up(running: int) -> bool:
    """Whether the next spare should pre-run the warm-up program.

    Warming moves ~1-2 ms of page copying off the call's critical path but costs about 1 ms
    of extra CPU per call. With idle cores that is a clear latency win; on a busy machine
    the extra CPU delays everything, so ``"auto"`` warms only while at most one call is
    running (``running``; the sandbox itself is busy otherwise) and the 1-minute load
    average is below the number of CPUs (the machine is).
    """
    if CONFIG.warm_up != "auto":
        return bool(CONFIG.warm_up)
    if running > 1:
        return False
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:
        return True


def _warm_up() -> None:
    """Run a fixed benign program once before the real request arrives.

    Forked pages are shared copy-on-write with the worker; the first run of anything touches
    (and so copies) hundreds of them, which is slow on virtual machines. Doing that with our
    own fixed program while the spare is idle takes the cost off the call's critical path.
    Nothing of it is visible to the real program: that runs in a new ``__main__`` module.
    """
    _dumps(run_program(_WARM_CODE, _WARM_SNIPPET, True))
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def _read_request(fd: int) -> dict[str, Any]:
    """Read the call: one line of JSON.

    The end of the line, not the end of the pipe, ends the request: a process that
    inherited a copy of the pipe's write end (the host forked after the worker lent it this
    pipe) cannot keep the call waiting.
    """
    data = bytearray()
    while b"\n" not in data:
        chunk = os.read(fd, 65536)  # small reads stay on the heap (no 1 MiB mmap)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    if not data.strip():
        os._exit(0)  # the worker went away before handing us a call
    req: dict[str, Any] = json.loads(data.partition(b"\n")[0])
    return req


# a child's signal dispositions, as the ints the C-level ``_signal`` module takes
_CHILD_SIGNALS = tuple((int(sig), int(handler)) for sig, handler in (
    (signal.SIGINT, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL),
    (signal.SIGHUP, signal.SIG_DFL), (signal.SIGCHLD, signal.SIG_DFL),
    (signal.SIGXFSZ, signal.SIG_IGN), (signal.SIGPIPE, signal.SIG_IGN)))


def _call_uid(slot_number: int) -> int:
    """The uid of a slot's children (slots beyond the block share, round robin)."""
    block = WORKER_PID % ((0x7FFFFFFF - CALL_UID_BASE) // CALL_UIDS_PER_WORKER)
    return CALL_UID_BASE + block * CALL_UIDS_PER_WORKER + slot_number % CALL_UIDS_PER_WORKER


def child_main(request_fd: int, result_fd: int, tmpdir: str, nonce: bytes, status: int,
               ruleset_fd: int = -1, warm_up: bool = True, idle: bool = False,
               uid: int = NOBODY) -> None:
    r"""Everything a forked child does; never returns.

    The child is forked *before* its call arrives (a warm spare): it applies every layer
    (process group, descriptors, private directory, rlimits, uid, capabilities, Landlock,
    seccomp), then blocks reading its request pipe and runs the program it receives. So the
    untrusted program only ever runs with every layer applied, and the fork + setup cost is
    paid while the worker is idle. ``RLIMIT_CPU`` is the configured backstop
    (``cpu_seconds``); the call's wall-clock timeout is enforced by the worker.

    The report is written as ``nonce + b"\n" + json`` and the child exits with ``status``;
    both are chosen by the worker per call, so a program that merely writes into inherited
    descriptors and exits cannot pass for a finished run.

    ``warm_up`` runs a fixed benign program first (see :func:`_warm_up`).

    ``ruleset_fd`` is the Landlock ruleset the worker built once for this child's slot
    (read-only library paths, read-write only beneath the slot directory that holds
    ``tmpdir``); without one the child builds its own ruleset (slower, same rules).

    ``uid`` is the slot's own uid (and gid), taken when the worker runs as root.
    """
    fallback = nonce + (b'\n{"error_type": "MemoryError", '
                        b'"error_message": "the memory limit was exceeded"}')
    stage = "setup"
    try:
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, _PRIORITY_0)
        os.setpgid(0, 0)
        for sig, handler in _CHILD_SIGNALS:
            _signal.signal(sig, handler)  # plain ints: no enum machinery to copy in
        for fd in (0, 1, 2):
            os.dup2(DEVNULL_FD, fd)
        # move our descriptors to 3, 4 (and 5) without clobbering one with another
        keep = [result_fd, request_fd] + ([ruleset_fd] if ruleset_fd >= 0 else [])
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in keep]
        for target, fd in enumerate(high, start=3):
            os.dup2(fd, target)
        os.closerange(3 + len(keep), 1 << 16)
        result_fd, request_fd = 3, 4
        ruleset_fd = 5 if ruleset_fd >= 0 else -1
        if os.environ:  # the worker cleared its own at start: normally nothing to do
            os.environ.clear()
        sys.argv = [""]
        stage = "private_tmpdir"
        os.chdir(tmpdir)
        if "rlimits" in ACTIVE:
            stage = "rlimits"
            for res, val in CHILD_RLIMITS:
                resource.setrlimit(res, val)
        ruleset = -1
        if "landlock_fs" in ACTIVE:
            stage = "landlock_fs"
            ruleset = ruleset_fd if ruleset_fd >= 0 else prepare_landlock(
                LL_ABI, READ_PATHS, [tmpdir], ["/dev/null"])
        elif ruleset_fd >= 0:
            os.close(ruleset_fd)
        if "uid_drop" in ACTIVE and IS_ROOT:
            stage = "uid_drop"
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        # die with the worker (set after the uid change, which clears it)
        stage = "parent_death_signal"
        if _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise LayerError(_errno_msg("prctl(PR_SET_PDEATHSIG)"))
        if os.getppid() != WORKER_PID:
            os._exit(0)
        if "no_new_privs" in ACTIVE:
            stage = "no_new_privs"
            drop_capabilities()
        if ruleset >= 0:
            stage = "landlock_fs"
            restrict_landlock(ruleset)
        if "seccomp" in ACTIVE:
            stage = "seccomp"
            apply_seccomp()
        if warm_up and not select.select([request_fd], [], [], 0)[0]:
            stage = "warm_up"  # only while no call is waiting for us
            _warm_up()
        stage = "ready"
        _write_all(result_fd, READY)  # the worker prefers spares that have said this
        stage = "request"
        req = _read_request(request_fd)
    except BaseException as exc:  # noqa: BLE001 - fail closed, reported to the host
        msg = json.dumps({"error_type": "SandboxError",
                          "error_message": f"isolation layer {stage} failed: {exc}"})
        try:
            _write_all(result_fd, nonce + b"\n" + msg.encode())
        finally:
            os._exit(status)
    try:
        result = run_program(req.get("code", ""), req.get("snippet", ""),
                             bool(req.get("require_answer", True)))
        payload = nonce + b"\n" + _dumps(result).encode()
    except MemoryError:
        payload = fallback
    except BaseException as exc:  # noqa: BLE001 - the runtime was tampered with
        try:
            payload = nonce + b"\n" + json.dumps(
                {"error_type": "SandboxError",
                 "error_message": f"result could not be encoded: {type(exc).__name__}"}).encode()
        except BaseException:  # noqa: BLE001
            payload = nonce + b'\n{"error_type": "SandboxError", "error_message": "no result"}'
    try:
        _write_all(result_fd, payload)
    finally:
        os._exit(status)


# --- the zygote ---------------------------------------------------------------------------
CLONE_PARENT, CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID = 0x00008000, 0x01000000, 0x00200000
SIGCHLD_NR, NR_GETTID = 17, 186
_PYAPI = ctypes.PyDLL(None, use_errno=True)  # calls keep the GIL held, as os.fork does
_PYAPI.syscall.restype = ctypes.c_long
_PYAPI.syscall.argtypes = [ctypes.c_long] * 6
_PYAPI.pthread_self.restype = ctypes.c_void_p
_PYAPI.pthread_self.argtypes = []
_TCB_SCAN = 1024  # bytes of glibc's thread descriptor searched for its thread id field


def _tid_offsets() -> set[int]:
    """Offsets in this thread's descriptor (``pthread_self()``) that hold its thread id."""
    tid = int(_LIBC.syscall(NR_GETTID))
    base = _PYAPI.pthread_self()
    raw = ctypes.string_at(base, _TCB_SCAN)
    return {off for off in range(0, _TCB_SCAN - 3, 4)
            if struct.unpack_from("=i", raw, off)[0] == tid}


# where glibc keeps the main thread's id: found in the worker now and confirmed in the zygote
# (a different id at the same offset), so the clone can update it as glibc's fork() does
WORKER_TID_OFFSETS = _tid_offsets() if _MACHINE == "x86_64" else set()


def _fork_for_worker(tid_address: int) -> int:
    """``fork()``, except that the child's parent is our parent (the worker): CLONE_PARENT.

    The worker then reaps, signals and waits for the child as if it had forked it itself,
    and the child's parent-death signal follows the worker. Python's own before/after-fork
    steps run around the raw ``clone`` exactly as ``os.fork`` runs them, and the kernel
    writes the child's thread id into glibc's thread descriptor (``tid_address``) as in
    glibc's ``fork``, so pthread calls on the main thread reach the child itself.

    Raises:
        OSError: If ``clone`` failed.
    """
    _PYAPI.PyOS_BeforeFork()
    flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD_NR
    pid = _PYAPI.syscall(NR_CLONE, flags, 0, 0, tid_address, 0)
    if pid == 0:
        _PYAPI.PyOS_AfterFork_Child()
        return 0
    _PYAPI.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone(CLONE_PARENT) failed")
    return int(pid)


# a raw clone needs x86_64's syscall numbers and glibc's thread id field (both behind
# WORKER_TID_OFFSETS) and Python's own fork hooks (exported by the interpreter); elsewhere
# the worker forks its spares itself
ZYGOTE_POSSIBLE = bool(WORKER_TID_OFFSETS) and all(
    hasattr(_PYAPI, name) for name in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent",
                                       "PyOS_AfterFork_Child"))
_SPAWN = struct.Struct("=iiBB4096s32s")  # status, uid, warm, idle, tmpdir, nonce


def zygote_main(sock: socket.socket) -> None:
    """Fork spares for the worker until it goes away; never returns.

    The zygote is a copy of the worker taken once, at start, before any call. Spares forked
    from it share (copy-on-write) only its pages, which it barely touches; the worker's own
    pages then stay private to the worker, so its bookkeeping after every fork no longer
    copies hundreds of pages. And a spare never holds a copy of the worker's later state
    (other calls' results in flight).
    """
    try:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != WORKER_PID:
            os._exit(0)
        for fd in (0, 1, 2):  # the host's pipes stay the worker's alone
            os.dup2(DEVNULL_FD, fd)
        keep = sorted({sock.fileno(), DEVNULL_FD})
        os.closerange(3, keep[0])
        for low, high in zip(keep, [*keep[1:], 1 << 16], strict=True):
            os.closerange(low + 1, high)
        offsets = WORKER_TID_OFFSETS & _tid_offsets()
        if len(offsets) != 1:  # not the layout we know: the worker forks the spares itself
            os._exit(0)
        tid_address = _PYAPI.pthread_self() + offsets.pop()
        while True:
            msg, fds, _flags, _addr = socket.recv_fds(sock, _SPAWN.size, 3)
            if len(msg) != _SPAWN.size or len(fds) < 2:
                os._exit(0)
            status, uid, warm, idle, raw_dir, raw_nonce = _SPAWN.unpack(msg)
            req_r, res_w = fds[0], fds[1]
            ruleset = fds[2] if len(fds) > 2 else -1
            pid = _fork_for_worker(tid_address)
            if pid == 0:
                try:
                    sock.close()
                    child_main(req_r, res_w, raw_dir.rstrip(b"\0").decode(),
                               raw_nonce.rstrip(b"\0"), status, ruleset, bool(warm),
                               bool(idle), uid)
                finally:
                    os._exit(71)
            for fd in fds:
                os.close(fd)
            sock.send(struct.pack("=i", pid))
    except BaseException:  # noqa: BLE001 - the worker sees the socket close and forks itself
        os._exit(0)


class Zygote:
    """The worker's handle on its zygote (see :func:`zygote_main`)."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            self.sock.close()
            zygote_main(theirs)
        theirs.close()
        # a stuck zygote: fork ourselves, well before the host gives up on us
        self.sock.settimeout(2.0)

    def spawn(self, req_r: int, res_w: int, ruleset: int, tmpdir: str, nonce: bytes,
              status: int, warm: bool, idle: bool, uid: int) -> int:
        """Have the zygote fork a spare; its pid (a child of ours).

        Raises:
            OSError: If the zygote is gone or its answer is not a pid.
        """
        path = tmpdir.encode()
        if len(path) >= 4096 or len(nonce) > 32:  # struct would cut them short
            raise OSError(errno.ENAMETOOLONG, f"{tmpdir!r} is too long for the zygote")
        fds = [req_r, res_w] + ([ruleset] if ruleset >= 0 else [])
        socket.send_fds(self.sock, [_SPAWN.pack(status, uid, warm, idle, path, nonce)], fds)
        answer = self.sock.recv(4)
        if len(answer) != 4:
            raise OSError(errno.EPIPE, "the zygote exited")
        pid: int = struct.unpack("=i", answer)[0]
        if pid <= 0:
            raise OSError(errno.ECHILD, f"the zygote answered {pid}")
        return pid

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


# --- worker loop --------------------------------------------------------------------------
class Slot:
    """A directory plus the Landlock ruleset that grants read-write access beneath it only.

    The ruleset is built once, when the slot is created, instead of in every child (which
    saves opening every library path and one ``landlock_add_rule`` per path per call). A slot
    serves one child at a time: it goes back to the pool only after that child is dead, its
    process group killed and everything inside the slot directory removed, so the next child
    always starts from an empty, fresh private directory.
    """

    def __init__(self, path: str, ruleset: int, uid: int) -> None:
        self.path, self.ruleset, self.uid = path, ruleset, uid


class Spare:
    """A forked, isolated child waiting for its call."""

    def __init__(self, pid: int, pidfd: int, req_w: int, res_r: int, slot: Slot,
                 tmpdir: str, nonce: bytes, status: int) -> None:
        self.pid, self.pidfd, self.req_w, self.res_r = pid, pidfd, req_w, res_r
        self.slot, self.tmpdir, self.nonce, self.status = slot, tmpdir, nonce, status
        self.watched = False  # res_r registered, waiting for READY
        self.ready = False
        self.early = b""  # what it wrote instead of READY (a setup failure report)
        self.failed = False  # it wrote something else than READY, or died


def _normal_priority(spare: Spare) -> None:
    """Lift the SCHED_IDLE a spare isolated itself under (if spares do that here)."""
    if IDLE_SPARES:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(spare.pid, os.SCHED_OTHER, _PRIORITY_0)


class Call:
    """One running child."""

    def __init__(self, cid: str, pid: int, rfd: int, pidfd: int, slot: Slot, tmpdir: str,
                 deadline: float, nonce: bytes, status: int) -> None:
        self.cid, self.pid, self.rfd, self.pidfd = cid, pid, rfd, pidfd
        self.nonce, self.status, self.slot = nonce, status, slot
        self.tmpdir, self.deadline = tmpdir, deadline
        self.chunks: list[tuple[bytearray, int]] = []  # the result as read: (buffer, used)
        self.size = 0
        self.started = time.monotonic()
        self.overflow = False
        self.eof = False


def _rmtree(path: str) -> None:
    """Remove a file or a directory tree of any depth (the standard library's would not do).

    Walks down one subdirectory at a time with ``chdir`` and relative names, so neither the
    recursion limit, ``PATH_MAX`` nor the descriptor limit matter, unlinking files and
    removing each directory once it is empty. Permissions are only ever loosened inside the
    tree (never on its parent); symlinks are unlinked, never followed. ``shutil`` is not
    used: it loads the compression libraries into the worker, and every fork copies them.

    Raises:
        OSError: If something cannot be removed (the caller retires the directory).
    """
    root = os.path.abspath(path)
    if os.path.islink(root) or not os.path.isdir(root):
        os.unlink(root)
        return
    home = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    names: list[str] = []
    try:
        os.chmod(root, stat.S_IRWXU)
        os.chdir(root)
        while True:
            sub = None
            with os.scandir(".") as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        sub = entry.name
                        break
                    os.unlink(entry.name)
            if sub is not None:
                os.chmod(sub, stat.S_IRWXU)
                os.chdir(sub)
                names.append(sub)
                continue
            if not names:
                break
            os.chdir("..")
            os.rmdir(names.pop())
        os.chdir("..")
        os.rmdir(root)
    finally:
        os.fchdir(home)
        os.close(home)


class Worker:
    """The select loop: reads requests, forks children, reaps them, answers the host."""

    def __init__(self, zygote: Zygote | None = None) -> None:
        self.sel = selectors.DefaultSelector()
        self.calls: dict[int, Call] = {}  # by pidfd
        self.by_rfd: dict[int, Call] = {}
        self.inbuf = bytearray()
        self.counter = 0
        self.closing = False
        self.spares: list[Spare] = []
        self.lent: dict[int, Spare] = {}  # by pid: ready spares whose request pipe the host has
        self.lend_waiting: collections.deque[str] = collections.deque()  # "lend" request ids
        self.by_spare_rfd: dict[int, Spare] = {}
        self.channel: socket.socket | None = None
        if CONFIG.spare_channel >= 0:
            self.channel = socket.socket(fileno=CONFIG.spare_channel)
        self.free_slots: list[Slot] = []
        self.slot_count = 0
        # spares to keep: the configured number, raised (up to 4x) while concurrent calls
        # find the pool empty, so bursts of parallel calls stop forking on their critical path
        self.want_spares = CONFIG.spares
        self.zygote = zygote
        # when the pool may be refilled while no call runs (pushed back by every result)
        self.replenish_at = 0.0

    def take_slot(self) -> Slot:
        """A clean slot from the pool, or a new one (with its Landlock ruleset)."""
        if self.free_slots:
            return self.free_slots.pop()
        self.slot_count += 1
        path = os.path.join(BASE_DIR, f"s{self.slot_count}")
        # as root the children (the slot's uid) may only traverse the slot to reach their own
        # directory; as an ordinary user they share our uid and the slot is emptied anyway
        os.mkdir(path, 0o711 if IS_ROOT else 0o700)
        if LAYERS.get("private_tmp") == "ok":  # we may mount: a slot is its own tmpfs
            try:
                _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
                       f"mode={'711' if IS_ROOT else '700'},size={CONFIG.call_tmp_mb}m,"
                       f"nr_inodes={CONFIG.call_tmp_inodes}")
            except LayerError as exc:  # the shared /tmp's size limit still applies
                sys.stderr.write(f"latm-sandbox: no tmpfs of its own for {path}: {exc}\n")
        ruleset = -1
        if "landlock_fs" in ACTIVE:
            ruleset = prepare_landlock(LL_ABI, READ_PATHS, [path], ["/dev/null"])
        return Slot(path, ruleset, _call_uid(self.slot_count))

    def release_slot(self, slot: Slot) -> None:
        """Empty a slot whose child is gone and return it to the pool (or retire it)."""
        clean = True
        try:
            os.chmod(slot.path, 0o711 if IS_ROOT else 0o700)  # a child may have changed it
            for name in os.listdir(slot.path):
                _rmtree(os.path.join(slot.path, name))
            clean = not os.listdir(slot.path)
        except OSError as exc:
            sys.stderr.write(f"latm-sandbox: could not empty {slot.path}: {exc}\n")
            clean = False
        if clean and not self.closing:
            self.free_slots.append(slot)
            return
        if slot.ruleset >= 0:  # never reuse a slot that could not be emptied
            os.close(slot.ruleset)

    def send(self, obj: dict[str, Any]) -> None:
        _write_all(1, (json.dumps(obj) + "\n").encode())

    def make_spare(self, *, awaited: bool = False) -> Spare:
        """Fork a child that isolates itself and then waits for its call.

        A spare made ahead of time isolates itself at idle priority; one a call is already
        ``awaited`` for (a ``lend`` request) at normal priority, or a busy machine would
        starve the setup the call waits on.
        """
        self.counter += 1
        slot = self.take_slot()
        tmpdir = os.path.join(slot.path, f"c{self.counter}")
        os.mkdir(tmpdir, 0o700)
        if IS_ROOT and "uid_drop" in ACTIVE:
            os.chown(tmpdir, slot.uid, slot.uid)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        nonce = os.urandom(16).hex().encode()
        status = 100 + os.urandom(1)[0] % 100
        warm = _should_warm_up(len(self.calls))
        idle = IDLE_SPARES and not awaited
        if self.zygote is not None:
            try:
                pid = self.zygote.spawn(req_r, res_w, slot.ruleset, tmpdir, nonce, status,
                                        warm, idle, slot.uid)
            except OSError as exc:
                sys.stderr.write(f"latm-sandbox: zygote failed, forking directly: {exc}\n")
                self.zygote.close()
                self.zygote = None
                self.kill_strays()
                # a spare it may have forked before dying holds these pipes: new ones, so it
                # reads end-of-file and exits instead of sharing our spare's call
                for fd in (res_r, res_w, req_r, req_w):
                    os.close(fd)
                res_r, res_w = os.pipe2(os.O_CLOEXEC)
                req_r, req_w = os.pipe2(os.O_CLOEXEC)
        if self.zygote is None:
            pid = os.fork()
        if pid == 0:  # child
            try:
                for running in self.calls.values():  # our copy of results still in flight
                    _wipe(running.chunks)
                os.close(res_r)
                os.close(req_w)
                child_main(req_r, res_w, tmpdir, nonce, status, slot.ruleset, warm, idle,
                           slot.uid)
            finally:
                os._exit(71)
        os.close(res_w)
        os.close(req_r)
        with contextlib.suppress(OSError):  # the child may already have done it
            os.setpgid(pid, pid)
        spare = Spare(pid, os.pidfd_open(pid), req_w, res_r, slot, tmpdir, nonce, status)
        if self.channel is not None:
            self.sel.register(res_r, selectors.EVENT_READ, "spare")
            self.by_spare_rfd[res_r] = spare
            spare.watched = True
        return spare

    def kill_strays(self) -> None:
        """Kill and reap children we never heard of.

        That is a spare the zygote forked just before it died, whose pid it could not tell
        us (it would stay a zombie otherwise).
        """
        known = ({sp.pid for sp in self.spares} | set(self.lent)
                 | {call.pid for call in self.calls.values()})
        try:
            with open(f"/proc/self/task/{os.getpid()}/children") as fh:
                children = [int(pid) for pid in fh.read().split()]
        except OSError:
            return
        for pid in children:
            if pid not in known:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def unwatch(self, spare: Spare) -> None:
        if spare.watched:
            self.sel.unregister(spare.res_r)
            del self.by_spare_rfd[spare.res_r]
            spare.watched = False

    def spare_event(self, spare: Spare) -> None:
        """Handle a spare's first byte.

        READY: lend its request pipe to the host. Anything else (a setup failure report, or
        nothing because it died): keep it here, so its call reports why.
        """
        self.unwatch(spare)
        try:
            first = os.read(spare.res_r, 1)
        except OSError:
            first = b""
        if first != READY:
            spare.early, spare.failed = first, True
            if self.lend_waiting and spare in self.spares:  # a waiting call learns why
                self.call_failed_spare(self.lend_waiting.popleft(), spare, 5.0)
            return
        spare.ready = True
        if self.channel is None or self.closing or spare not in self.spares:
            return
        _normal_priority(spare)  # isolated: the call it will run gets normal priority
        try:
            socket.send_fds(self.channel, [_dumps({"pid": spare.pid}).encode()],
                            [spare.req_w])
        except OSError:
            return  # the host stopped taking spares: the worker hands this one out itself
        os.close(spare.req_w)
        spare.req_w = -1
        self.spares.remove(spare)
        self.lent[spare.pid] = spare
        if self.lend_waiting:  # wake the host's callers waiting for a spare
            self.send({"kind": "lent", "id": self.lend_waiting.popleft()})

    def pool_size(self) -> int:
        return len(self.spares) + len(self.lent)

    def discard_spare(self, spare: Spare) -> None:
        self.unwatch(spare)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(spare.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(spare.pid, signal.SIGKILL)
        os.waitpid(spare.pid, 0)
        for fd in (spare.req_w, spare.res_r, spare.pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.release_slot(spare.slot)

    def request_lend(self, req: dict[str, Any]) -> None:
        """The host has no spare at hand: lend it the next one that is ready, forking if needed.

        A spare that could not isolate itself is never lent; the request gets it instead, and
        its "call" reports why (the host shows that as the call's result).
        """
        cid = str(req.get("id", ""))
        failed = next((sp for sp in self.spares if sp.failed), None)
        if failed is not None:
            self.call_failed_spare(cid, failed, float(req.get("timeout", 5.0)))
            return
        self.lend_waiting.append(cid)
        if self.want_spares < 4 * max(1, CONFIG.spares):
            self.want_spares += 1
        for spare in self.spares:  # a call waits on them now: no more idle priority
            _normal_priority(spare)
        while len(self.spares) < len(self.lend_waiting):
            self.spares.append(self.make_spare(awaited=True))

    def call_failed_spare(self, cid: str, spare: Spare, timeout: float) -> None:
        """Give a spare that failed its setup to a call: its report says why."""
        self.spares.remove(spare)
        os.close(spare.req_w)
        spare.req_w = -1
        self.register_call(cid, spare, time.monotonic(), timeout)

    def start_lent(self, req: dict[str, Any]) -> None:
        """The host wrote a call straight into a lent spare: watch it like any call."""
        cid = str(req.get("id", ""))
        spare = self.lent.pop(int(req.get("pid", -1)), None)
        if spare is None:
            raise OSError("the host used a spare the worker did not lend it")
        self.register_call(cid, spare, time.monotonic(), float(req.get("timeout", 5.0)))

    def register_call(self, cid: str, spare: Spare, started: float, timeout: float) -> None:
        call = Call(cid, spare.pid, spare.res_r, spare.pidfd, spare.slot, spare.tmpdir,
                    started + timeout, spare.nonce, spare.status)
        call.started = started
        if spare.early:
            early = bytearray(_CHUNK)
            early[:len(spare.early)] = spare.early
            call.chunks.append((early, len(spare.early)))
            call.size = len(spare.early)
        os.set_blocking(spare.res_r, False)
        self.calls[spare.pidfd] = call
        self.by_rfd[spare.res_r] = call
        self.sel.register(spare.res_r, selectors.EVENT_READ, "pipe")
        self.sel.register(spare.pidfd, selectors.EVENT_READ, "pid")

    def read_pipe(self, call: Call) -> None:
        limit = CONFIG.max_answer_bytes + 4 * CONFIG.max_output_bytes + 65536
        while not call.eof:
            try:
                chunk, used = _read_chunk(call.rfd)
            except BlockingIOError:
                return
            if not used:
                call.eof = True
                self.sel.unregister(call.rfd)
                return
            call.chunks.append((chunk, used))
            call.size += used
            if call.overflow or call.size > limit:
                _wipe(call.chunks)
                if not call.overflow:
                    call.overflow = True
                    self.kill(call)

    def kill(self, call: Call) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(call.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(call.pid, signal.SIGKILL)

    def finish(self, call: Call, timed_out: bool = False) -> None:
        if timed_out:
            self.kill(call)
            _pid, status, usage = os.wait4(call.pid, 0)
        else:
            # a readable pidfd means the child exited; check anyway (descriptor numbers are
            # reused, so a stale event must never make us block on a running child)
            _pid, status, usage = os.wait4(call.pid, os.WNOHANG)
            if _pid == 0:
                return
        duration = time.monotonic() - call.started
        if not call.eof:
            # the child is gone, so all it wrote is in the pipe: drain it without blocking
            # (a copy of the write end held elsewhere must never make the worker wait)
            os.set_blocking(call.rfd, False)
            while True:
                try:
                    chunk, used = _read_chunk(call.rfd)
                except BlockingIOError:
                    break
                if not used:
                    break
                call.chunks.append((chunk, used))
                if call.overflow:
                    _wipe(call.chunks)
        views = [memoryview(chunk)[:used] for chunk, used in call.chunks]
        if views and views[0][:1] == READY:
            views[0] = views[0][1:]
        survivors = False
        try:
            os.killpg(call.pid, 0)
            survivors = True
            os.killpg(call.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        head = call.nonce + b"\n"
        got = sum(len(v) for v in views)
        prefix = b"".join(bytes(v[:len(head)]) for v in views[:len(head)])[:len(head)]
        authentic = exit_code == call.status and prefix == head
        if authentic:  # forward the report after the nonce line, as is
            skip = len(head)
            while views and skip:
                cut = min(skip, len(views[0]))
                views[0] = views[0][cut:]
                skip -= cut
                if not views[0]:
                    views.pop(0)
        else:
            views = []
        header = _dumps({
            "kind": "result", "id": call.cid, "raw_bytes": sum(len(v) for v in views),
            "forged": got > 0 and not authentic and not call.overflow,
            "exit_code": exit_code,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": timed_out, "overflow": call.overflow, "survivors": survivors,
            "duration": duration, "cpu": usage.ru_utime + usage.ru_stime,
        }).encode() + b"\n"
        try:
            _writev_all(1, [memoryview(header), *views])
        finally:
            views.clear()
            _wipe(call.chunks)
        self.replenish_at = time.monotonic() + CONFIG.replenish_idle
        # off the call's critical path: the host has its answer, and the child and its
        # process group are already gone; the slot is reused only once it is empty again
        if not call.eof:
            self.sel.unregister(call.rfd)
        self.sel.unregister(call.pidfd)
        os.close(call.rfd)
        os.close(call.pidfd)
        del self.calls[call.pidfd]
        del self.by_rfd[call.rfd]
        self.release_slot(call.slot)

    def handle_line(self, line: bytes) -> None:
        try:
            req = json.loads(line)
        except ValueError as exc:
            self.send({"kind": "error", "message": f"bad request: {exc}"})
            return
        op = req.get("op")
        if op == "discard":  # the host could not write into a lent spare (it died)
            spare = self.lent.pop(int(req.get("pid", -1)), None)
            if spare is not None:
                self.discard_spare(spare)
        elif op in ("lend", "started"):
            try:
                if op == "lend":
                    self.request_lend(req)
                else:
                    self.start_lent(req)
            except OSError as exc:
                cid = str(req.get("id", ""))
                with contextlib.suppress(ValueError):
                    self.lend_waiting.remove(cid)
                self.send({"kind": "result", "id": cid, "raw_bytes": 0,
                           "exit_code": None, "signal": None, "timed_out": False,
                           "overflow": False, "survivors": False, "duration": 0.0,
                           "spawn_error": f"{type(exc).__name__}: {exc}"})
        elif op == "cancel":  # the host's caller went away: stop its call now
            cid = str(req.get("id", ""))
            for call in [c for c in self.calls.values() if c.cid == cid]:
                self.finish(call, timed_out=True)
        elif op == "status":
            self.send({"kind": "status", "id": str(req.get("id", "")),
                       "spares": [sp.pid for sp in self.spares] + list(self.lent),
                       "running": [c.pid for c in self.calls.values()],
                       "zygote": [self.zygote.pid] if self.zygote is not None else []})

    def drain_lines(self) -> None:
        while b"\n" in self.inbuf:
            line, _, rest = self.inbuf.partition(b"\n")
            self.inbuf = bytearray(rest)
            if line.strip():
                self.handle_line(bytes(line))

    def loop(self) -> None:
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        self.drain_lines()
        while not self.closing or self.calls:
            # replenish spares while nothing is waiting to be read, and preferably while a
            # call runs: the worker only waits for its child then, whereas a fork started
            # just after a result would delay the host's next request by the fork's cost
            now = time.monotonic()
            if (not self.closing and self.pool_size() < self.want_spares
                    and (not self.pool_size() or self.calls or now >= self.replenish_at)
                    and not self.sel.select(0)):
                self.spares.append(self.make_spare())
                continue
            expired = [c for c in self.calls.values() if c.deadline <= now]
            for call in expired:
                self.finish(call, timed_out=True)
            wait = min((c.deadline for c in self.calls.values()), default=now + 3600) - now
            if self.pool_size() < self.want_spares and not self.closing:
                wait = min(wait, self.replenish_at - now)
            for key, _ev in self.sel.select(max(0.0, wait)):
                if key.data == "stdin":
                    chunk = os.read(0, 1 << 20)
                    if not chunk:
                        self.closing = True
                        self.sel.unregister(0)
                        if self.zygote is not None:
                            self.zygote.close()
                            self.zygote = None
                        for call in list(self.calls.values()):
                            self.kill(call)
                        while self.spares:
                            self.discard_spare(self.spares.pop())
                        while self.lent:
                            self.discard_spare(self.lent.popitem()[1])
                        continue
                    self.inbuf += chunk
                    self.drain_lines()
                elif key.data == "spare":
                    waiting = self.by_spare_rfd.get(key.fd)
                    if waiting is not None:
                        self.spare_event(waiting)
                elif key.data == "pipe":
                    piped = self.by_rfd.get(key.fd)
                    if piped is not None:
                        self.read_pipe(piped)
                elif key.data == "pid":
                    ended = self.calls.get(key.fd)
                    if ended is not None:
                        self.finish(ended)


def probe() -> dict[str, str]:
    """Fork a child that applies each layer in turn and reports what worked."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        report: dict[str, str] = {}
        try:
            os.close(rfd)
            try:
                os.setpgid(0, 0)
                report["process_group"] = "ok"
            except OSError as exc:
                report["process_group"] = str(exc)
            tmp = os.path.join(BASE_DIR, "probe")
            try:
                os.chdir(tmp)
                report["private_tmpdir"] = "ok"
            except OSError as exc:
                report["private_tmpdir"] = str(exc)
            try:
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
                mb = CONFIG.memory_mb * 1024 * 1024
                if hard != resource.RLIM_INFINITY and hard < mb:
                    raise ValueError(f"address-space hard limit {hard} is below {mb}")
                resource.setrlimit(resource.RLIMIT_AS, (mb, mb))
                resource.setrlimit(resource.RLIMIT_NPROC, _clamp(
                    resource.RLIMIT_NPROC, (CONFIG.max_threads, CONFIG.max_threads)))
                report["rlimits"] = "ok"
            except (OSError, ValueError) as exc:
                report["rlimits"] = str(exc)
            ruleset = -1
            try:
                ruleset = prepare_landlock(LL_ABI, READ_PATHS, [tmp], ["/dev/null"])
            except LayerError as exc:
                report["landlock_fs"] = str(exc)
            if IS_ROOT:
                try:
                    os.setgroups([])
                    os.setresgid(NOBODY, NOBODY, NOBODY)
                    os.setresuid(NOBODY, NOBODY, NOBODY)
                    report["uid_drop"] = "ok"
                except OSError as exc:
                    report["uid_drop"] = f"could not drop root to uid {NOBODY}: {exc}"
            else:
                report["uid_drop"] = "ok"  # already unprivileged
            try:
                drop_capabilities()
                report["no_new_privs"] = "ok"
            except LayerError as exc:
                report["no_new_privs"] = str(exc)
            if ruleset >= 0:
                try:
                    restrict_landlock(ruleset)
                    for extra in landlock_extras(LL_ABI):
                        report[extra] = "ok"
                    report["landlock_fs"] = "ok"
                    # the private directory must stay usable after the uid drop
                    with open("probe-write", "w") as fh:
                        fh.write("x")
                    os.unlink("probe-write")
                except (LayerError, OSError) as exc:
                    report["landlock_fs"] = f"{type(exc).__name__}: {exc}"
            try:
                apply_seccomp()
                report["seccomp"] = "ok"
            except LayerError as exc:
                report["seccomp"] = str(exc)
            # self-checks: the layers must actually bite
            if report.get("landlock_fs") == "ok":
                try:
                    with open("/etc/hostname", "rb"):
                        report["landlock_fs"] = "applied but /etc is still readable"
                except OSError:
                    pass
            if report.get("seccomp") == "ok":
                try:
                    import socket

                    socket.socket().close()
                    report["seccomp"] = "applied but socket() still works"
                except OSError:
                    pass
            _write_all(wfd, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    data = bytearray()
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    try:
        result: dict[str, str] = json.loads(data) if data else {}
    except ValueError:
        result = {}
    for name in ("process_group", "private_tmpdir", "rlimits", "uid_drop", "no_new_privs",
                 "landlock_fs", "seccomp"):
        result.setdefault(name, "the probe child died before testing this layer")
    return result


def main() -> None:
    """Entry point: configure, probe the layers, then serve requests until stdin closes."""
    global CONFIG, LL_ABI, READ_PATHS, DEVNULL_FD, BASE_DIR, IDLE_SPARES, CHILD_RLIMITS
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    # read the config line straight from fd 0 (no buffered reader: requests that follow it in
    # the same chunk must stay for the loop)
    pending = bytearray()
    while b"\n" not in pending:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    CONFIG = Config(json.loads(line).get("config", {}) if line.strip() else {})
    # lifting another process's SCHED_IDLE needs CAP_SYS_NICE
    IDLE_SPARES = CONFIG.idle_spares and IS_ROOT
    CHILD_RLIMITS = child_rlimits()
    DEVNULL_FD = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    # The host starts us with an empty environment; the interpreter itself may add LC_CTYPE
    # (PEP 538 locale coercion). Anything else means the host leaked variables: refuse.
    leaked = sorted(k for k in os.environ if k != "LC_CTYPE")
    os.environ.clear()
    LAYERS["empty_env"] = "ok" if not leaked else f"environment was not empty: {leaked}"
    if not leaked:
        ACTIVE.add("empty_env")
    setup_worker_namespaces()
    lib_dirs = [p for p in sys.path if p and os.path.isdir(p)]
    if IS_ROOT or "network_namespace" in ACTIVE:  # root, or inside our own user namespace
        try:
            LAYERS["private_tmp"] = private_tmp(lib_dirs, CONFIG.tmp_size_mb, CONFIG.tmp_inodes)
        except (LayerError, OSError) as exc:
            LAYERS["private_tmp"] = f"using the host's temporary directory: {exc}"
    else:
        LAYERS["private_tmp"] = "needs root or a user namespace"
    BASE_DIR = mkdtemp("latm-sandbox-", gettempdir())
    os.chmod(BASE_DIR, 0o711)
    try:
        LAYERS["library_access"] = expose_library(lib_dirs, BASE_DIR)
    except (LayerError, OSError) as exc:
        LAYERS["library_access"] = f"modules beyond the preloaded ones may not import: {exc}"
    os.mkdir(os.path.join(BASE_DIR, "probe"), 0o700)
    if IS_ROOT:
        os.chown(os.path.join(BASE_DIR, "probe"), NOBODY, NOBODY)
    LL_ABI = landlock_abi()
    READ_PATHS = _read_only_paths()
    gc.collect()
    gc.freeze()
    try:
        for name, status in probe().items():
            LAYERS[name] = status
            if status == "ok":
                ACTIVE.add(name)
        os.rmdir(os.path.join(BASE_DIR, "probe"))
        # the zygote is copied from us before we hold anything but our configuration
        worker = Worker(Zygote() if CONFIG.zygote and ZYGOTE_POSSIBLE else None)
        worker.inbuf += rest
        worker.send({"kind": "ready", "layers": LAYERS, "landlock_abi": LL_ABI,
                       "pid": os.getpid(), "uid": os.getuid(),
                       "python": sys.version.split()[0], "read_paths": READ_PATHS,
                       "base_dir": BASE_DIR})
        worker.loop()
    finally:
        # in our own /tmp it vanishes with our mount namespace (slots are mounts there)
        if LAYERS.get("private_tmp") != "ok":
            try:
                _rmtree(BASE_DIR)
            except OSError as exc:
                sys.stderr.write(f"latm-sandbox: could not remove {BASE_DIR}: {exc}\n")


if __name__ == "__main__":
    main()
