"""Host side of the sandbox: :class:`SandboxExecutor` talks to a warm, isolated worker.

The worker (``_worker.py``) is a separate interpreter started with ``-I -S`` and an empty
environment. It never runs model-written code itself: every call is forked into a fresh child
that applies the isolation layers before the program's first line runs. This module only
frames requests, waits for answers and decides the verdict from what the worker reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_latm.errors import SandboxError, SandboxUnavailableError
from langchain_latm.schemas import ExecutionResult

__all__ = [
    "OPTIONAL_LAYERS",
    "REQUIRED_LAYERS",
    "IsolationLayer",
    "IsolationReport",
    "SandboxExecutor",
]

WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
# The worker is imported, not run as a script: a script is compiled from source at every
# start and the compiler's freed memory (~4 MB) stays resident, and every fork copies (and
# every child's exit tears down) the page tables of all resident memory. Imported, it loads
# from its cached bytecode. Its directory leaves ``sys.path`` again before ``main`` reads it
# (the children's read-only paths are derived from it).
_WORKER_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); import _worker; del sys.path[0]; "
    "del sys.argv[1:]; _worker.main()"
)
_log = logging.getLogger(__name__)

#: Layers that must all be active unless ``allow_weaker_isolation=True``, with what they do.
REQUIRED_LAYERS: dict[str, str] = {
    "empty_env": "worker and children start with an empty environment (no host secrets)",
    "network_namespace": "worker lives in its own network namespace (no interfaces up)",
    "process_group": "each call runs in its own process group, killed as a whole",
    "private_tmpdir": "each call gets a fresh private working directory, deleted afterwards",
    "rlimits": "CPU time, address space, file size, open files, threads limited",
    "uid_drop": "child runs as an unprivileged uid (one per slot when the host is root)",
    "no_new_privs": "no-new-privileges set and every capability dropped",
    "landlock_fs": "Landlock: read-only interpreter library + system libs, rw only its tmpdir",
    "seccomp": "seccomp: no fork/exec/ptrace/socket/mount/namespace/signals to others",
}
#: Extra layers used when the kernel offers them; their absence is reported, not fatal.
OPTIONAL_LAYERS: dict[str, str] = {
    "landlock_net": "Landlock (ABI >= 4): TCP bind/connect denied",
    "landlock_scope": "Landlock (ABI >= 6): no signals / abstract sockets outside the sandbox",
    "library_access": "interpreter library readable by the dropped uid, home dir hidden",
    "private_tmp": "the sandbox sees an empty, size-limited tmpfs as /tmp, not the host's",
}

_SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}
_MAX_SOURCE_BYTES = 4 * 1024 * 1024
_GRACE_S = 5.0
_MAX_TIMEOUT_S = 24 * 3600.0  # a day: longer ones overflow the platform's wait primitives
# how long the async callers' pump thread waits for the next call before it ends
_PUMP_LINGER_S = 1.0


class IsolationLayer(BaseModel):
    """One isolation layer and whether it is active in this executor's worker.

    Attributes:
        name: Layer identifier (for example ``"seccomp"``).
        active: True if the layer is applied to every call.
        required: True if the executor refuses to run without it by default.
        description: What the layer protects against.
        detail: ``"ok"`` or why the layer is unavailable.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    active: bool
    required: bool
    description: str
    detail: str


class IsolationReport(BaseModel):
    """Which isolation layers the sandbox applies on this machine.

    Attributes:
        layers: Every known layer, required ones first.
        landlock_abi: Landlock ABI version of the kernel (0 if none).
        worker_pid: Process id of the warm worker.
        host_uid: uid the host (and worker) runs as.
        python: Interpreter version the worker runs.
    """

    layers: list[IsolationLayer]
    landlock_abi: int = 0
    worker_pid: int = 0
    host_uid: int = 0
    python: str = ""

    @property
    def missing(self) -> list[str]:
        """Names of required layers that are not active."""
        return [layer.name for layer in self.layers if layer.required and not layer.active]

    @property
    def fully_isolated(self) -> bool:
        """True when every required layer is active."""
        return not self.missing


def _valid_text(value: Any) -> Any:
    """``value`` with lone surrogates in its strings (and keys) as backslash escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_valid_text(item) for item in value]
    if isinstance(value, dict):
        return {_valid_text(key): _valid_text(item) for key, item in value.items()}
    return value


class _ChildResult(BaseModel):
    """What a child reports about its own run (untrusted: validated strictly)."""

    model_config = ConfigDict(extra="forbid")

    error_type: str | None = Field(default=None, max_length=200)
    error_message: str | None = Field(default=None, max_length=20_000)
    answer_name: str | None = Field(default=None, max_length=200)
    answer_json: str | None = None
    stdout: str = ""


class _WorkerReply(BaseModel):
    """One per-call reply from the worker process (trusted framing)."""

    id: str
    raw: str | None = None
    forged: bool = False
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    overflow: bool = False
    survivors: bool = False
    duration: float = 0.0
    spawn_error: str | None = None


class _WorkerStatus(BaseModel):
    """The worker's children: idle pre-forked spares, running calls and the zygote."""

    id: str
    spares: list[int]
    running: list[int]
    zygote: list[int] = []


class _WorkerDied(Exception):
    """The worker process ended while calls were pending (internal)."""


class _Worker:
    """One running worker process; whoever waits for a reply reads the worker's output.

    There is no reader thread on the path of a call: a waiting caller takes the read lock
    and reads replies itself (for every pending call, not only its own), the others wait
    until their reply has been handed to them or the reader steps down and one of them takes
    over ("leader/followers"). That saves two thread wake-ups per call against a dedicated
    reader thread. Async callers have their replies read by a short-lived pump thread that
    follows the same protocol while any of them is waiting.
    """

    def __init__(self, python: str, config: dict[str, Any], start_timeout: float) -> None:
        # The worker lends us ready spares' request pipes over this socket, so a call is
        # written straight into an isolated child (the worker learns of it in parallel).
        self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._channel.setblocking(False)
        self._lent: deque[tuple[int, int]] = deque()  # (pid, request pipe) of ready spares
        self._lent_lock = threading.Lock()
        config = {"spare_channel": theirs.fileno(), **config}  # -1 in config: no lending
        try:
            self.proc = subprocess.Popen(
                [python, "-I", "-S", "-c", _WORKER_BOOTSTRAP, str(WORKER_SCRIPT.parent)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},
                cwd="/",
                close_fds=True,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            self._channel.close()
            raise
        finally:
            theirs.close()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin = self.proc.stdin
        self._fd = self.proc.stdout.fileno()  # read raw: only whole lines leave ``_buf``
        self._buf = bytearray()
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()  # held by the one caller reading replies
        self._cond = threading.Condition()  # guards _pending, dead, _pumping
        self._pending: dict[str, Future[Any]] = {}
        self._pumping = False
        self.dead = False
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, name="latm-sandbox-stderr", daemon=True
        )
        self._stderr_thread.start()
        self.ready = self._handshake(config, start_timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def _handshake(self, config: dict[str, Any], start_timeout: float) -> dict[str, Any]:
        try:
            self._stdin.write((json.dumps({"config": config}) + "\n").encode())
            self._stdin.flush()
        except OSError as exc:
            self.kill()
            raise SandboxError(f"the sandbox worker did not start: {exc}") from exc
        deadline = time.monotonic() + start_timeout
        line = b""
        with self._read_lock:
            while b"\n" not in self._buf and not self.dead:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._fill(remaining)
            if b"\n" in self._buf:
                line, _, rest = bytes(self._buf).partition(b"\n")
                self._buf = bytearray(rest)
        try:
            msg = json.loads(line) if line else {}
        except ValueError:
            msg = {}
        if not isinstance(msg, dict) or msg.get("kind") != "ready":
            self.kill()
            self._stderr_thread.join(1.0)
            tail = "\n".join(list(self.stderr_tail)[-10:])
            raise SandboxError(
                f"the sandbox worker did not become ready within {start_timeout:.0f}s"
                + (f"; its stderr:\n{tail}" if tail else "")
            )
        return msg

    # -- reading replies (only with _read_lock held) -------------------------------------------
    def _fill(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for output and append it to the line buffer."""
        try:
            if not self._poll.poll(max(0, math.ceil(timeout * 1000))):
                return
            chunk = os.read(self._fd, 1 << 16)
        except (OSError, ValueError):
            chunk = b""
        if chunk:
            self._buf += chunk
        else:
            self._mark_dead()

    def _messages(self) -> list[dict[str, Any]]:
        """Take every complete message out of the buffer.

        A message is one JSON line; a result's line says how many bytes of the child's raw
        report follow it (``raw_bytes``), and those become its ``raw``.
        """
        out: list[dict[str, Any]] = []
        while (end := self._buf.find(b"\n")) >= 0:
            try:
                msg = json.loads(self._buf[:end])
            except ValueError:
                msg = None
            if not isinstance(msg, dict):
                del self._buf[: end + 1]
                continue
            need = msg.get("raw_bytes", 0)
            need = need if isinstance(need, int) and need > 0 else 0
            if len(self._buf) < end + 1 + need:
                break  # the report has not fully arrived yet
            if need:
                msg["raw"] = bytes(self._buf[end + 1: end + 1 + need]).decode(
                    "utf-8", "replace")
            del self._buf[: end + 1 + need]
            out.append(msg)
        return out

    def _pump(self, timeout: float) -> None:
        """Read what the worker sent (waiting up to ``timeout``) and hand out the replies."""
        messages = self._messages()
        if not messages:
            self._fill(timeout)
            messages = self._messages()
        if not messages:
            return
        replies: list[_WorkerReply | _WorkerStatus] = []
        for msg in messages:
            try:
                kind = msg.get("kind")
                if kind == "result":
                    replies.append(_WorkerReply.model_validate(msg))
                elif kind == "status":
                    replies.append(_WorkerStatus.model_validate(msg))
            except (ValueError, ValidationError):
                continue
        with self._cond:
            for reply in replies:
                fut = self._pending.pop(reply.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
            self._cond.notify_all()

    def _mark_dead(self) -> None:
        with self._cond:
            self.dead = True
            pending = list(self._pending.values())
            self._pending.clear()
            for fut in pending:
                if not fut.done():
                    fut.set_exception(_WorkerDied("the sandbox worker exited"))
            self._cond.notify_all()

    def _wait_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Read or wait (leader/followers) until ``done()``; False if ``deadline`` passed."""
        while True:
            remaining = deadline - time.monotonic()
            with self._cond:
                if done():
                    return True
                if remaining <= 0:
                    return False
                if self.dead:
                    return done()
                if self._read_lock.locked():  # someone reads for us: wait for news
                    self._cond.wait(remaining)
                    continue
            if not self._read_lock.acquire(blocking=False):
                continue
            try:
                while not done() and not self.dead:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._pump(remaining)
            finally:
                self._read_lock.release()
                with self._cond:  # step down: a waiting caller takes over reading
                    self._cond.notify_all()

    def wait(self, fut: Future[Any], timeout: float) -> Any:
        """The reply for ``fut``, reading the worker's output while needed.

        Raises:
            TimeoutError: No reply within ``timeout`` seconds.
            _WorkerDied: The worker exited first.
        """
        if not self._wait_until(fut.done, time.monotonic() + timeout):
            raise TimeoutError
        return fut.result(0)

    def _pump_for_async(self) -> None:
        """Read replies while any call is pending, lingering a moment for the next one."""
        while True:
            self._wait_until(lambda: not self._pending, time.monotonic() + 3600.0)
            with self._cond:
                if not self._pending and not self.dead:
                    self._cond.wait(_PUMP_LINGER_S)
                if not self._pending or self.dead:
                    self._pumping = False
                    return

    def ensure_pump(self) -> None:
        """Make sure a thread reads replies for async callers (they cannot block to read)."""
        with self._cond:
            if self._pumping or self.dead:
                return
            self._pumping = True
        threading.Thread(target=self._pump_for_async, name="latm-sandbox-pump",
                         daemon=True).start()

    def submit(self, request: dict[str, Any]) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._cond:
            if self.dead:
                raise _WorkerDied("the sandbox worker is not running")
            self._pending[request["id"]] = fut
            self._cond.notify_all()  # a lingering pump thread reads for it at once
        try:
            self._send(request)
        except _WorkerDied:
            with self._cond:
                self._pending.pop(request["id"], None)
            raise
        return fut

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            with self._write_lock:
                self._stdin.write(data)
                self._stdin.flush()
        except (OSError, ValueError) as exc:
            self._mark_dead()
            raise _WorkerDied(f"could not reach the sandbox worker: {exc}") from exc

    def try_start_call(self, request: dict[str, Any]) -> Future[Any] | None:
        """Write a call straight into a spare the worker lent us; None if none is at hand.

        The call's code goes from here into the isolated child only: the worker, whose
        memory every later child inherits, never holds it. The reply comes from the worker,
        after the child is reaped.
        """
        payload = json.dumps({key: request[key] for key in
                              ("code", "snippet", "require_answer", "timeout")}).encode() + b"\n"
        while (spare := self._take_lent()) is not None:
            pid, fd = spare
            try:
                _write_all(fd, payload)
            except OSError:  # it died while idle: the worker reaps it, we try another
                self._send({"op": "discard", "pid": pid})
                continue
            finally:
                os.close(fd)
            return self.submit({"op": "started", "id": request["id"], "pid": pid,
                                "timeout": request["timeout"]})
        return None

    def start_call(self, request: dict[str, Any], deadline: float) -> Future[Any]:
        """Start a call, asking the worker for a spare and waiting for it if none is at hand.

        Returns the call's future, or the ``lend`` request's own when the worker could not
        provide a child (its reply then says why: a spawn error or a failed setup).

        Raises:
            TimeoutError: No spare before ``deadline``.
            _WorkerDied: The worker exited.
        """
        while True:
            fut = self.try_start_call(request)
            if fut is not None:
                return fut
            lend_id = secrets.token_hex(16)
            lend = self.submit({"op": "lend", "id": lend_id, "timeout": request["timeout"]})

            def answered(lend: Future[Any] = lend) -> bool:
                return lend.done() or self._has_lent()

            try:
                ok = self._wait_until(answered, deadline)
            finally:
                self.forget(lend_id)
            if lend.done():
                return lend
            if self.dead:
                raise _WorkerDied("the sandbox worker exited")
            if not ok:
                raise TimeoutError

    def _has_lent(self) -> bool:
        with self._lent_lock:
            self._collect_lent()
            return bool(self._lent)

    def _take_lent(self) -> tuple[int, int] | None:
        with self._lent_lock:
            self._collect_lent()
            return self._lent.popleft() if self._lent and not self.dead else None

    def _collect_lent(self) -> None:
        """Move what the worker lent us since the last look into ``_lent`` (lock held)."""
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(
                    self._channel, 256, 4, socket.MSG_CMSG_CLOEXEC)
            except OSError:  # nothing more lent (BlockingIOError), or the channel is gone
                break
            if not msg and not fds:
                break
            try:
                pid = int(json.loads(msg)["pid"])
            except (ValueError, KeyError, TypeError):
                pid = -1
            if pid > 0 and len(fds) == 1:
                self._lent.append((pid, fds[0]))
            else:
                for fd in fds:
                    os.close(fd)

    def _close_lent(self) -> None:
        with self._lent_lock:
            while self._lent:
                os.close(self._lent.popleft()[1])
            self._channel.close()

    def forget(self, call_id: str) -> None:
        with self._cond:
            self._pending.pop(call_id, None)

    def cancel(self, call_id: str) -> None:
        """Give up on a started call: the worker kills its child (unknown ids are ignored)."""
        self.forget(call_id)
        with contextlib.suppress(_WorkerDied):  # a dead worker took its children with it
            self._send({"op": "cancel", "id": call_id})

    def kill(self) -> None:
        self.dead = True
        self._close_lent()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _remove_base_dir(self) -> None:
        """Remove the worker's temporary directory if it could not (it was killed)."""
        base = str(getattr(self, "ready", {}).get("base_dir", ""))
        if base and _is_our_base_dir(base) and os.path.isdir(base):
            try:
                shutil.rmtree(base)
            except OSError as exc:
                _log.warning("could not remove sandbox directory %s: %s", base, exc)

    def close(self, wait: float = 2.0) -> None:
        """Ask the worker to stop (it kills its children), then make sure it is gone."""
        self.dead = True
        try:
            with self._write_lock:
                self._stdin.close()
        except OSError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait)
        self.kill()

    def _reap(self) -> None:
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"sandbox worker {self.proc.pid} could not be stopped") from exc
        self._remove_base_dir()
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _is_our_base_dir(path: str) -> bool:
    parent, name = os.path.split(os.path.normpath(path))
    return parent == os.path.normpath(tempfile.gettempdir()) and name.startswith(
        "latm-sandbox-")


def _close_worker(worker: _Worker | None) -> None:
    if worker is not None:
        worker.close()


class SandboxExecutor:
    """Runs model-written Python in a fresh, OS-isolated child process per call.

    A warm worker interpreter (started with ``python -I -S`` and an empty environment, in its
    own network namespace) forks one child per call. Before the program's first line the child
    enters its own process group and a private temporary directory, gets CPU / memory / file /
    thread limits, drops to its slot's own uid (when the host is root), sets no-new-privileges,
    drops every capability, restricts file access with Landlock and installs a seccomp filter
    (no process creation, exec, sockets, ptrace, mounts, IPC, or signals to other processes).
    Results come back as JSON over a private pipe; the verdict is decided here. See
    :meth:`isolation_report` for what is active on this machine.

    ``run`` executes ``code`` then ``snippet`` in one fresh ``__main__`` namespace and returns
    the JSON value of the last variable whose name starts with ``ans`` that the snippet assigns
    at module level (falling back to ``code`` if the snippet assigns none). The name is chosen
    from the source (last assignment in source order); if that name was never bound at run
    time (an untaken branch) the previous ``ans``-like name that is bound is used. JSON
    conversion is :func:`json.dumps`: tuples become lists and non-string dict keys become
    strings; sets, objects, NaN and infinities are ``"NonJSONAnswer"`` errors.

    Verdicts (``ExecutionResult.error_type``): the exception's class name for a raised
    exception (``SystemExit``, ``KeyboardInterrupt`` included), ``"SyntaxError"``,
    ``"Timeout"`` (wall clock or CPU time), ``"MemoryError"``, ``"MissingAnswer"``,
    ``"NonJSONAnswer"``, ``"OutputLimit"`` (the answer, or everything the child reported, was
    too large), ``"Crashed"`` (killed by a signal), ``"NoResult"`` (the process ended without
    reporting, e.g. ``os._exit``) and ``"InvalidResult"`` (the private channel held something
    other than one well-formed report, e.g. the program wrote into it). Printed output is
    captured in-process and capped at ``max_output_bytes``: excess is dropped and a
    ``...[output truncated: N more bytes]`` marker appended; that is not a failure. Output
    written straight to file descriptor 1 (``os.write(1, ...)``) is discarded.

    The executor is thread-safe (one worker serves many concurrent calls), supports asyncio
    through :meth:`arun`, restarts its worker transparently if it dies, and is a context
    manager (:meth:`close`). The worker is started lazily on the first call, or by
    :meth:`start`.

    Args:
        timeout: Default wall-clock limit of one call, in seconds.
        memory_mb: Address-space limit of each child, in MiB.
        cpu_seconds: CPU-time limit of each child (``RLIMIT_CPU``), a backstop behind the
            wall-clock ``timeout`` that the worker enforces by killing the call.
        spares: How many pre-forked, already isolated children the worker keeps waiting, so
            fork and isolation setup happen off the call's critical path.
        max_output_bytes: Printed output kept per call.
        max_answer_bytes: Largest JSON answer accepted.
        file_size_mb: Largest file a child may write into its private directory.
        max_open_files: Open file descriptors per child.
        max_threads: Threads per child (``RLIMIT_NPROC`` for the sandbox uid).
        require_answer: Default for ``run(require_answer=...)``: if False, a program that
            assigns no ``ans`` succeeds with ``answer=None`` (used to check that code runs).
        allow_weaker_isolation: Run even if a required isolation layer is unavailable
            (default False: raise :class:`~langchain_latm.errors.SandboxUnavailableError`).
        python: Interpreter for the worker (default: the current one).
        start_timeout: Seconds to wait for the worker to start.
        network_namespace: Put the worker in its own network namespace (default True).

    Raises:
        ValueError: If a limit is not positive.
    """

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        memory_mb: int = 512,
        cpu_seconds: int = 30,
        max_output_bytes: int = 64_000,
        max_answer_bytes: int = 1_000_000,
        file_size_mb: int = 16,
        max_open_files: int = 64,
        max_threads: int = 64,
        require_answer: bool = True,
        allow_weaker_isolation: bool = False,
        python: str | None = None,
        start_timeout: float = 30.0,
        network_namespace: bool = True,
        spares: int = 2,
    ) -> None:
        for name, value in (("timeout", timeout), ("memory_mb", memory_mb),
                            ("cpu_seconds", cpu_seconds), ("max_output_bytes", max_output_bytes),
                            ("max_answer_bytes", max_answer_bytes),
                            ("file_size_mb", file_size_mb), ("max_open_files", max_open_files),
                            ("max_threads", max_threads), ("start_timeout", start_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if timeout > _MAX_TIMEOUT_S:
            raise ValueError(f"timeout must be at most {_MAX_TIMEOUT_S:g} seconds")
        if max_open_files < 8:
            raise ValueError("max_open_files must be at least 8")
        self.timeout = float(timeout)
        self.require_answer = require_answer
        self.allow_weaker_isolation = allow_weaker_isolation
        self._python = python or sys.executable
        self._start_timeout = start_timeout
        self._config: dict[str, Any] = {
            "memory_mb": int(memory_mb),
            "cpu_seconds": int(cpu_seconds),
            "max_output_bytes": int(max_output_bytes),
            "max_answer_bytes": int(max_answer_bytes),
            "file_size_mb": int(file_size_mb),
            "max_open_files": int(max_open_files),
            "max_threads": int(max_threads),
            "network_namespace": bool(network_namespace),
            "spares": max(0, int(spares)),
        }
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._report: IsolationReport | None = None
        self._closed = False
        self._restarts = 0
        self._finalizer: weakref.finalize[..., Any] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> IsolationReport:
        """Start the worker now (instead of on the first call).

        Returns:
            The isolation report of the started worker.

        Raises:
            SandboxUnavailableError: If a required layer is missing and weaker isolation was
                not allowed.
            SandboxError: If the executor is closed or the worker cannot start.
        """
        self._ensure_worker()
        assert self._report is not None
        return self._report

    def _ensure_worker(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise SandboxError("this SandboxExecutor is closed")
            worker = self._worker
            if worker is not None and not worker.dead:
                return worker
            if worker is not None:
                worker.kill()
                self._restarts += 1
            worker = _Worker(self._python, self._config, self._start_timeout)
            report = self._make_report(worker.ready)
            if not report.fully_isolated and not self.allow_weaker_isolation:
                worker.close()
                details = "; ".join(
                    f"{layer.name}: {layer.detail}" for layer in report.layers
                    if layer.required and not layer.active
                )
                raise SandboxUnavailableError(
                    f"sandbox isolation layers unavailable on this machine: {details}. "
                    "Pass allow_weaker_isolation=True to run with weaker isolation.",
                    missing=report.missing,
                )
            self._worker = worker
            self._report = report
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _close_worker, worker)
            return worker

    @staticmethod
    def _make_report(ready: dict[str, Any]) -> IsolationReport:
        raw = ready.get("layers", {})
        status: dict[str, str] = {str(k): str(v) for k, v in raw.items()} if isinstance(
            raw, dict) else {}
        layers: list[IsolationLayer] = []
        for table, required in ((REQUIRED_LAYERS, True), (OPTIONAL_LAYERS, False)):
            for name, description in table.items():
                detail = status.get(name, "not reported by the worker")
                active = detail == "ok" or (name == "library_access" and detail.startswith(
                    ("ok", "not needed")))
                layers.append(IsolationLayer(name=name, active=active, required=required,
                                             description=description, detail=detail))
        return IsolationReport(
            layers=layers,
            landlock_abi=int(ready.get("landlock_abi", 0) or 0),
            worker_pid=int(ready.get("pid", 0) or 0),
            host_uid=os.getuid(),
            python=str(ready.get("python", "")),
        )

    def isolation_report(self) -> IsolationReport:
        """Report which isolation layers are active (starting the worker if needed).

        With ``allow_weaker_isolation=False`` and a missing layer this raises; build the
        executor with ``allow_weaker_isolation=True`` to inspect a weak machine.

        Returns:
            The :class:`IsolationReport` of the current worker.
        """
        return self.start()

    @property
    def worker_pid(self) -> int | None:
        """Process id of the running worker, or None if none is running."""
        worker = self._worker
        return worker.pid if worker is not None and not worker.dead else None

    def worker_status(self) -> dict[str, list[int]]:
        """Diagnostics: pids of the worker's idle spare children, running calls and zygote.

        Returns:
            ``{"spares": [...], "running": [...], "zygote": [...]}`` (all empty if no worker
            is running). The zygote is the worker's copy that forks the spares (none where
            the worker forks them itself).

        Raises:
            SandboxError: If the worker does not answer.
        """
        worker = self._worker
        if worker is None or worker.dead:
            return {"spares": [], "running": [], "zygote": []}
        try:
            status = worker.wait(worker.submit({"op": "status", "id": secrets.token_hex(8)}),
                                 10.0)
        except (_WorkerDied, TimeoutError) as exc:
            raise SandboxError(f"the sandbox worker did not answer: {exc}") from exc
        assert isinstance(status, _WorkerStatus)
        return {"spares": list(status.spares), "running": list(status.running),
                "zygote": list(status.zygote)}

    @property
    def restarts(self) -> int:
        """How many times the worker was restarted after dying."""
        return self._restarts

    def close(self) -> None:
        """Stop the worker (and any call still running). Idempotent."""
        with self._lock:
            self._closed = True
            worker, self._worker = self._worker, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if worker is not None:
            worker.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __enter__(self) -> SandboxExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- running ------------------------------------------------------------------------------
    def _request(self, code: str, snippet: str, timeout: float | None,
                 require_answer: bool | None) -> tuple[dict[str, Any], float] | ExecutionResult:
        if not isinstance(code, str) or not isinstance(snippet, str):
            raise TypeError("code and snippet must be str")
        limit = self.timeout if timeout is None else float(timeout)
        if not (0 < limit <= _MAX_TIMEOUT_S):
            raise ValueError(f"timeout must be a positive number of seconds up to "
                             f"{_MAX_TIMEOUT_S:g}, got {timeout!r}")
        size = len(code.encode("utf-8", "surrogatepass")) + len(
            snippet.encode("utf-8", "surrogatepass"))
        if size > _MAX_SOURCE_BYTES:
            return ExecutionResult(ok=False, error_type="InputTooLarge",
                                   error_message=f"code + snippet are {size} bytes; the limit "
                                   f"is {_MAX_SOURCE_BYTES}")
        request = {
            "op": "run",
            "id": secrets.token_hex(16),
            "code": code,
            "snippet": snippet,
            "timeout": limit,
            "require_answer": self.require_answer if require_answer is None else require_answer,
        }
        return request, limit

    def run(self, code: str, snippet: str = "", timeout: float | None = None, *,
            require_answer: bool | None = None) -> ExecutionResult:
        """Run ``code`` then ``snippet`` in a fresh isolated child and return the verdict.

        Args:
            code: The tool's source (function definitions, imports...).
            snippet: The call to run after it; its last ``ans...`` assignment is the answer.
            timeout: Wall-clock limit in seconds (default: the executor's ``timeout``).
            require_answer: If False, succeed without an ``ans`` (``answer=None``); default:
                the executor's ``require_answer``.

        Returns:
            The :class:`~langchain_latm.schemas.ExecutionResult`; failures of the program are
            reported in it, never raised.

        Raises:
            SandboxUnavailableError: Required isolation is unavailable (see ``__init__``).
            SandboxError: The sandbox itself failed twice in a row, or the executor is closed.
            TypeError: ``code`` or ``snippet`` is not a string.
            ValueError: ``timeout`` is not a positive number.
        """
        t0 = time.perf_counter()
        prepared = self._request(code, snippet, timeout, require_answer)
        if isinstance(prepared, ExecutionResult):
            return prepared
        request, limit = prepared
        last: Exception | None = None
        for _attempt in range(2):
            worker = self._ensure_worker()
            try:
                fut = worker.start_call(request, time.monotonic() + limit + _GRACE_S)
                reply = worker.wait(fut, limit + _GRACE_S)
            except _WorkerDied as exc:
                last = exc
                continue
            except TimeoutError:
                worker.forget(request["id"])
                self._check_open()
                self._recycle(worker)
                return _timeout_result(limit, time.perf_counter() - t0, host_side=True)
            result = _verdict(reply, limit, time.perf_counter() - t0, self._config)
            if not result.ok:
                self._check_open()  # not a verdict on the program: close() stopped it
            return result
        raise SandboxError(f"the sandbox worker died twice while running a call: {last}")

    async def arun(self, code: str, snippet: str = "", timeout: float | None = None, *,
                   require_answer: bool | None = None) -> ExecutionResult:
        """Async version of :meth:`run` (the event loop is never blocked).

        Args:
            code: The tool's source.
            snippet: The call to run after it.
            timeout: Wall-clock limit in seconds (default: the executor's ``timeout``).
            require_answer: As in :meth:`run`.

        Returns:
            The :class:`~langchain_latm.schemas.ExecutionResult`.

        Raises:
            SandboxUnavailableError: Required isolation is unavailable.
            SandboxError: The sandbox itself failed twice in a row, or the executor is closed.
        """
        t0 = time.perf_counter()
        prepared = self._request(code, snippet, timeout, require_answer)
        if isinstance(prepared, ExecutionResult):
            return prepared
        request, limit = prepared
        last: Exception | None = None
        for _attempt in range(2):
            if self._worker is None or self._worker.dead:
                worker = await asyncio.to_thread(self._ensure_worker)
            else:
                worker = self._ensure_worker()
            try:
                fut = worker.try_start_call(request)
                if fut is None:  # no spare at hand: wait for one without blocking the loop
                    fut = await _start_in_thread(worker, request,
                                                 time.monotonic() + limit + _GRACE_S)
                worker.ensure_pump()
                reply = await asyncio.wait_for(asyncio.wrap_future(fut), limit + _GRACE_S)
            except asyncio.CancelledError:  # the caller went away: so does the call's child
                worker.cancel(request["id"])
                raise
            except _WorkerDied as exc:
                last = exc
                continue
            except TimeoutError:
                worker.forget(request["id"])
                self._check_open()
                self._recycle(worker)
                return _timeout_result(limit, time.perf_counter() - t0, host_side=True)
            result = _verdict(reply, limit, time.perf_counter() - t0, self._config)
            if not result.ok:
                self._check_open()  # not a verdict on the program: close() stopped it
            return result
        raise SandboxError(f"the sandbox worker died twice while running a call: {last}")

    def run_many(self, calls: Iterable[tuple[str, str]], timeout: float | None = None, *,
                 require_answer: bool | None = None) -> list[ExecutionResult]:
        """Run several ``(code, snippet)`` pairs concurrently on the one worker.

        Args:
            calls: The pairs to run.
            timeout: Per-call wall-clock limit.
            require_answer: As in :meth:`run`.

        Returns:
            One result per pair, in order.
        """
        pairs = list(calls)
        results: list[ExecutionResult | None] = [None] * len(pairs)

        def one(i: int) -> None:
            code, snippet = pairs[i]
            results[i] = self.run(code, snippet, timeout, require_answer=require_answer)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(pairs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [r for r in results if r is not None]

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the SandboxExecutor was closed while the call was running")

    def _recycle(self, worker: _Worker) -> None:
        """Kill a worker that stopped answering; the next call starts a new one."""
        with self._lock:
            if self._worker is worker:
                self._worker = None
                self._restarts += 1
        worker.kill()


async def _start_in_thread(worker: _Worker, request: dict[str, Any],
                           deadline: float) -> Future[Any]:
    """``worker.start_call`` in a thread, cancelling the call if the caller goes first.

    A cancelled caller does not stop the thread, which may still start the call: it is then
    cancelled as soon as it has started.
    """
    starting = asyncio.ensure_future(asyncio.to_thread(worker.start_call, request, deadline))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        def cancel_started(task: asyncio.Future[Future[Any]]) -> None:
            if not task.cancelled() and task.exception() is None:
                worker.cancel(request["id"])

        starting.add_done_callback(cancel_started)
        raise


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _timeout_result(limit: float, duration: float, *, host_side: bool = False,
                    cpu: bool = False, stdout: str = "") -> ExecutionResult:
    if cpu:
        msg = "the CPU-time limit was exceeded"
    else:
        msg = f"the program did not finish within {limit:g}s"
        if host_side:
            msg += " (the sandbox worker stopped answering and was restarted)"
    return ExecutionResult(ok=False, error_type="Timeout", error_message=msg, stdout=stdout,
                           duration_s=duration)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999: JSON has no infinities
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _capped_stdout(text: str, limit: int) -> str:
    """The child caps its own output, but the program can reach that cap: re-cap here."""
    if len(text) <= limit:
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= limit + 100:  # room for the child's own truncation note
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}\n...[output truncated: {len(data) - limit} more bytes]"


def _verdict(reply: _WorkerReply, limit: float, duration: float,
             config: dict[str, Any]) -> ExecutionResult:
    """Decide one call's verdict.

    The worker's framing (exit status, signal, timeout, authenticity) is trusted; the child's
    report is untrusted and validated strictly, its limits (output, answer size, JSON
    values) enforced again here: the program runs in the process that wrote the report.
    """
    if reply.spawn_error:
        raise SandboxError(f"the sandbox could not start a child: {reply.spawn_error}")
    if reply.timed_out:
        return _timeout_result(limit, duration)
    if reply.overflow:
        return ExecutionResult(ok=False, error_type="OutputLimit",
                               error_message="the program's report exceeded the size limit",
                               duration_s=duration)
    child: _ChildResult | None = None
    problem = ""
    # lone surrogates (an undecodable file name, say) arrive as JSON escapes; they are not
    # valid text, so they become visible backslash escapes before anything is validated
    raw = reply.raw or ""
    surrogates = "\\ud" in raw or "\\uD" in raw
    if reply.raw:
        try:
            report = json.loads(reply.raw)
            child = _ChildResult.model_validate(_valid_text(report) if surrogates else report)
        except (ValueError, RecursionError, ValidationError) as exc:
            problem = f"{type(exc).__name__}"
    if reply.signal is not None:
        name = _SIGNAL_NAMES.get(reply.signal, str(reply.signal))
        if reply.signal == signal.SIGXCPU:
            return _timeout_result(limit, duration, cpu=True)
        return ExecutionResult(ok=False, error_type="Crashed",
                               error_message=f"the program was killed by signal {name}",
                               duration_s=duration)
    if child is None:
        if problem or reply.forged:
            return ExecutionResult(ok=False, error_type="InvalidResult",
                                   error_message="the sandbox's result channel held something "
                                   f"other than one authentic report ({problem or 'forged'}); "
                                   "did the program write into it?", duration_s=duration)
        return ExecutionResult(ok=False, error_type="NoResult",
                               error_message="the program ended without reporting a result "
                               f"(exit status {reply.exit_code})", duration_s=duration)
    stdout = _capped_stdout(child.stdout, int(config["max_output_bytes"]))
    if child.error_type is not None:
        return ExecutionResult(ok=False, error_type=child.error_type,
                               error_message=child.error_message or "", stdout=stdout,
                               duration_s=duration)
    answer: Any = None
    max_answer = int(config["max_answer_bytes"])
    if child.answer_json is not None and len(child.answer_json) > max_answer:
        return ExecutionResult(ok=False, error_type="OutputLimit",
                               error_message=f"the answer is {len(child.answer_json)} bytes of "
                               f"JSON, over the {max_answer}-byte answer limit", stdout=stdout,
                               duration_s=duration)
    if child.answer_json is not None:
        try:
            answer = json.loads(child.answer_json, parse_constant=_reject_constant,
                                parse_float=_finite_float)
            if surrogates:
                answer = _valid_text(answer)
        except (ValueError, RecursionError) as exc:
            return ExecutionResult(ok=False, error_type="NonJSONAnswer",
                                   error_message=f"the answer could not be decoded: "
                                   f"{type(exc).__name__}", stdout=stdout,
                                   duration_s=duration)
    return ExecutionResult(ok=True, answer=answer, stdout=stdout, duration_s=duration)
