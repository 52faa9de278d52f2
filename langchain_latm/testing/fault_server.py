"""An OpenAI-compatible chat-completions server on loopback whose replies are scripted.

:class:`FaultInjectingServer` lets tests drive the *real* provider client
(``ChatOpenAI(base_url=srv.base_url)``, the ``openai`` SDK, ``httpx``) through the faults a
real provider produces: rate limits with ``Retry-After``, 5xx errors, replies slower than the
client's timeout, connection resets, truncated or invalid JSON, empty ``choices``, replies
cut in the middle of a code block, and server-sent-event streams (including one that dies).

Each chat request takes the next entry of ``script`` (a :class:`Reply`, or a plain string
meaning "reply normally with this content"); when the script runs out, ``default`` is used.
``script`` may instead be a callable ``(index, request_json) -> Reply | str`` (for seeded
random fault injection, see :func:`transient_fault_script`). Every request (path, headers,
body, timing, what was answered) is recorded in :attr:`FaultInjectingServer.requests`.

Example:
    >>> from langchain_latm.testing.fault_server import FaultInjectingServer, Reply
    >>> with FaultInjectingServer(script=[Reply.status(429, retry_after=0.2), "hi"]) as srv:
    ...     url = srv.base_url  # http://127.0.0.1:<port>/v1

The server binds 127.0.0.1 only, serves each connection in its own thread, and on
:meth:`~FaultInjectingServer.stop` wakes every sleeping reply and shuts every open
connection down, so it stops within a fraction of a second and leaves no thread behind.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "TRANSIENT_FAULTS",
    "FaultInjectingServer",
    "RecordedRequest",
    "Reply",
    "transient_fault_script",
]

ReplyKind = Literal[
    "ok",
    "status",
    "slow",
    "reset",
    "truncated",
    "invalid_json",
    "empty_choices",
    "cut_code",
    "stream_dies",
]

ContentSource = str | Sequence[str] | Callable[[dict[str, Any]], str]
ScriptEntry = "Reply | str"


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one chat-completions request.

    Build replies with the class methods (:meth:`ok`, :meth:`status`, :meth:`slow`...)
    rather than the constructor.

    Attributes:
        kind: What the server does.
        status_code: HTTP status for ``"status"`` replies.
        content: Assistant content; ``None`` takes it from the server's ``content`` source.
        retry_after: ``Retry-After`` header value in seconds (``"status"`` replies).
        delay_s: Seconds to wait before answering (``"slow"`` replies, or any reply).
        chunks: For ``"stream_dies"``: how many SSE chunks are sent before the reset.
        finish_reason: ``finish_reason`` reported in the choice.
    """

    kind: ReplyKind = "ok"
    status_code: int = 200
    content: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    chunks: int = 2
    finish_reason: str = "stop"

    @classmethod
    def ok(cls, content: str | None = None, *, delay_s: float = 0.0) -> Reply:
        """A normal reply (streamed as SSE chunks when the request asks for a stream)."""
        return cls("ok", content=content, delay_s=delay_s)

    @classmethod
    def status(cls, code: int, *, retry_after: float | None = None) -> Reply:
        """An HTTP error with an OpenAI-style error body (429, 500, 502, 503, 400, 401...)."""
        return cls("status", status_code=code, retry_after=retry_after)

    @classmethod
    def slow(cls, delay_s: float, content: str | None = None) -> Reply:
        """A normal reply sent only after ``delay_s`` seconds (past the client's timeout)."""
        return cls("slow", content=content, delay_s=delay_s)

    @classmethod
    def reset(cls) -> Reply:
        """Read the request, then reset the TCP connection (RST) without answering."""
        return cls("reset")

    @classmethod
    def truncated(cls) -> Reply:
        """Promise a full JSON body (``Content-Length``), send half of it, then close."""
        return cls("truncated")

    @classmethod
    def invalid_json(cls) -> Reply:
        """A complete 200 response whose body is not valid JSON."""
        return cls("invalid_json")

    @classmethod
    def empty_choices(cls) -> Reply:
        """A well-formed completion object with ``"choices": []``."""
        return cls("empty_choices")

    @classmethod
    def cut_code(cls, content: str | None = None) -> Reply:
        """A reply cut in the middle of a code block, with ``finish_reason="length"``."""
        return cls(
            "cut_code",
            content=content
            if content is not None
            else "```python\ndef solve(words):\n    return sorted(wor",
            finish_reason="length",
        )

    @classmethod
    def stream_dies(cls, chunks: int = 2, content: str | None = None) -> Reply:
        """For streaming requests: send ``chunks`` SSE chunks, then reset the connection."""
        return cls("stream_dies", chunks=chunks, content=content)


TRANSIENT_FAULTS: tuple[Reply, ...] = (
    Reply.status(429, retry_after=0.05),
    Reply.status(500),
    Reply.status(502),
    Reply.status(503),
    Reply.reset(),
    Reply.truncated(),
)
"""Faults that the OpenAI client retries on its own (``max_retries``): rate limits, 5xx,
connection resets and truncated bodies. Slow replies are transient too, but cost a client
timeout each, so they are not in this default mix."""


def transient_fault_script(
    rate: float = 0.2,
    *,
    seed: int = 0,
    faults: Sequence[Reply] = TRANSIENT_FAULTS,
) -> Callable[[int, dict[str, Any]], Reply]:
    """A seeded script that answers each request with a transient fault with probability ``rate``.

    Args:
        rate: Probability (0-1) that a request gets a fault instead of a normal reply.
        seed: Random seed, so a run is reproducible.
        faults: The faults to draw from (uniformly).

    Returns:
        A callable usable as ``FaultInjectingServer(script=...)``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within [0, 1], got {rate}")
    if not faults:
        raise ValueError("faults must not be empty")
    rng = random.Random(seed)
    lock = threading.Lock()
    choices = list(faults)

    def script(index: int, body: dict[str, Any]) -> Reply:
        del index, body
        with lock:
            if rng.random() < rate:
                return rng.choice(choices)
        return Reply.ok()

    return script


@dataclass
class RecordedRequest:
    """One request the server received.

    Attributes:
        index: 0-based position among chat-completions requests (-1 for other paths).
        method: HTTP method.
        path: Request path.
        headers: Request headers (lower-cased names).
        body: Parsed JSON body (``None`` if absent or not JSON).
        received_at: ``time.monotonic()`` when the request line was read.
        finished_at: ``time.monotonic()`` when the server finished answering.
        reply: The reply kind the server used (``"ok"``, ``"status"``, ``"models"``...).
        status_code: HTTP status the server sent (0 if it sent none).
        client_gone: True if the client hung up before the reply was fully written.
    """

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float
    finished_at: float = 0.0
    reply: str = ""
    status_code: int = 0
    client_gone: bool = False


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[RecordedRequest] = field(default_factory=list)
    chat_count: int = 0
    content_index: int = 0
    connections: set[socket.socket] = field(default_factory=set)


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                )
    return "\n".join(parts)


class FaultInjectingServer:
    """A scriptable OpenAI-compatible chat-completions server on ``127.0.0.1``.

    Args:
        script: Per-request replies, in order: :class:`Reply` objects or strings (a string is
            a normal reply with that content). Or a callable
            ``(index, request_json) -> Reply | str``.
        content: Where normal replies take their content from when the reply does not set
            one: a string, a list of strings (served in order, cycling), or a callable
            ``(request_json) -> str``.
        default: The reply used once a list ``script`` is exhausted.
        model: Model id reported in replies and by ``GET /v1/models``.
        port: Port to bind; 0 (the default) picks a free one.

    Attributes:
        base_url: ``http://127.0.0.1:<port>/v1``, for ``ChatOpenAI(base_url=...)``.
    """

    def __init__(
        self,
        script: Sequence[Reply | str] | Callable[[int, dict[str, Any]], Reply | str] | None = None,
        *,
        content: ContentSource = "OK",
        default: Reply | None = None,
        model: str = "fault-test-model",
        port: int = 0,
    ) -> None:
        self._script = script if callable(script) else list(script or [])
        self._content = content
        self._default = default or Reply.ok()
        self.model = model
        self._state = _State()
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultInjectingServer:
        """Bind a loopback port and start serving in a background thread.

        Returns:
            The server itself.
        """
        if self._httpd is not None:
            raise RuntimeError("FaultInjectingServer is already running")
        self._state.stop.clear()
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer(("127.0.0.1", self._requested_port), handler)
        httpd.daemon_threads = False  # joined in server_close(): no thread outlives stop()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake sleeping replies, shut open connections, join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._state.stop.set()
        httpd.shutdown()
        with self._state.lock:
            open_conns = list(self._state.connections)
        for conn in open_conns:
            with contextlib.suppress(OSError):  # already closed by its handler
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the per-connection threads
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FaultInjectingServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ accessors
    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("FaultInjectingServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """A snapshot of the chat-completions requests received so far."""
        return [r for r in self.requests if r.index >= 0]

    def reply_counts(self) -> dict[str, int]:
        """How many chat requests got each reply kind (``"ok"``, ``"status:429"``...)."""
        counts: dict[str, int] = {}
        for r in self.chat_requests:
            key = f"status:{r.status_code}" if r.reply == "status" else r.reply
            counts[key] = counts.get(key, 0) + 1
        return counts

    # ------------------------------------------------------------------ internals
    def _next_reply(self, body: dict[str, Any]) -> tuple[int, Reply]:
        with self._state.lock:
            index = self._state.chat_count
            self._state.chat_count += 1
        if callable(self._script):
            entry: Reply | str = self._script(index, body)
        elif index < len(self._script):
            entry = self._script[index]
        else:
            entry = self._default
        return index, Reply.ok(entry) if isinstance(entry, str) else entry

    def _content_for(self, reply: Reply, body: dict[str, Any]) -> str:
        if reply.content is not None:
            return reply.content
        source = self._content
        if isinstance(source, str):
            return source
        if callable(source):
            return source(body)
        items = list(source)
        if not items:
            return ""
        with self._state.lock:
            i = self._state.content_index
            self._state.content_index += 1
        return items[i % len(items)]

    def _record(self, rec: RecordedRequest) -> None:
        with self._state.lock:
            self._state.requests.append(rec)

    def _completion(self, content: str, body: dict[str, Any], finish_reason: str) -> dict[str, Any]:
        prompt_tokens = _count_tokens(_prompt_text(body))
        completion_tokens = _count_tokens(content)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _stream_pieces(content: str) -> list[str]:
    words = content.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if content else []


def _make_handler(server: FaultInjectingServer) -> type[BaseHTTPRequestHandler]:
    state = server._state

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FaultInjectingServer/1"

        def setup(self) -> None:
            super().setup()
            with state.lock:
                state.connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass  # the connection was reset on purpose or by the client
            finally:
                with state.lock:
                    state.connections.discard(self.connection)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        # -------------------------------------------------------------- plumbing
        def _read_body(self) -> tuple[bytes, dict[str, Any] | None]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            try:
                parsed = json.loads(raw) if raw else None
            except (ValueError, UnicodeDecodeError):
                parsed = None
            return raw, parsed if isinstance(parsed, dict) else None

        def _send_json(self, rec: RecordedRequest, code: int, payload: Any,
                       headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            rec.status_code = code
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _reset(self) -> None:
            """Abort the connection with a TCP RST."""
            self.close_connection = True
            with contextlib.suppress(OSError):  # nothing buffered can be delivered any more
                self.wfile.flush()
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()

        def _wait(self, seconds: float) -> bool:
            """Sleep, waking early when the server stops. True if the server is stopping."""
            return state.stop.wait(seconds) if seconds > 0 else state.stop.is_set()

        # -------------------------------------------------------------- routes
        def do_GET(self) -> None:
            rec = RecordedRequest(
                index=-1, method="GET", path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=None, received_at=time.monotonic(),
            )
            server._record(rec)
            try:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    rec.reply = "models"
                    self._send_json(rec, 200, {
                        "object": "list",
                        "data": [{"id": server.model, "object": "model", "created": 0,
                                  "owned_by": "langchain-latm-tests"}],
                    })
                else:
                    rec.reply = "not_found"
                    self._send_json(rec, 404, {"error": {"message": "not found",
                                                         "type": "invalid_request_error"}})
            except OSError:
                rec.client_gone = True
                self.close_connection = True
            finally:
                rec.finished_at = time.monotonic()

        def do_POST(self) -> None:
            received = time.monotonic()
            raw, body = self._read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                rec = RecordedRequest(-1, "POST", self.path, headers, body, received)
                server._record(rec)
                rec.reply = "not_found"
                try:
                    self._send_json(rec, 404, {"error": {"message": "not found",
                                                         "type": "invalid_request_error"}})
                except OSError:
                    rec.client_gone = True
                rec.finished_at = time.monotonic()
                return
            request = body or {}
            index, reply = server._next_reply(request)
            rec = RecordedRequest(index, "POST", self.path, headers, body, received,
                                  reply=reply.kind)
            server._record(rec)
            try:
                if body is None:
                    self._send_json(rec, 400, {"error": {
                        "message": f"request body is not a JSON object ({len(raw)} bytes)",
                        "type": "invalid_request_error"}})
                else:
                    self._serve(rec, reply, request)
            except OSError:
                rec.client_gone = True
                self.close_connection = True
            finally:
                rec.finished_at = time.monotonic()

        def _serve(self, rec: RecordedRequest, reply: Reply, body: dict[str, Any]) -> None:
            if reply.delay_s and self._wait(reply.delay_s):
                self._reset()
                return
            kind = reply.kind
            if kind == "status":
                headers: dict[str, str] = {}
                if reply.retry_after is not None:
                    ra = reply.retry_after
                    headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
                err_type = {429: "rate_limit_exceeded", 401: "invalid_api_key",
                            400: "invalid_request_error"}.get(reply.status_code, "server_error")
                self._send_json(rec, reply.status_code, {"error": {
                    "message": f"injected fault: HTTP {reply.status_code}",
                    "type": err_type, "param": None, "code": err_type}}, headers)
                return
            if kind == "reset":
                rec.status_code = 0
                self._reset()
                return
            content = server._content_for(reply, body)
            finish = reply.finish_reason
            if kind == "truncated":
                data = json.dumps(server._completion(content, body, finish)).encode()
                rec.status_code = 200
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self._reset()
                return
            if kind == "invalid_json":
                data = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind'
                rec.status_code = 200
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return
            if kind == "empty_choices":
                payload = server._completion(content, body, finish)
                payload["choices"] = []
                self._send_json(rec, 200, payload)
                return
            if body.get("stream"):
                self._stream(rec, reply, body, content, finish)
                return
            self._send_json(rec, 200, server._completion(content, body, finish))

        # -------------------------------------------------------------- streaming
        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _stream(self, rec: RecordedRequest, reply: Reply, body: dict[str, Any],
                    content: str, finish: str) -> None:
            rec.status_code = 200
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
            created = int(time.time())

            def event(delta: dict[str, Any], finish_reason: str | None,
                      usage: dict[str, int] | None = None,
                      choices: bool = True) -> bytes:
                obj: dict[str, Any] = {
                    "id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": server.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
                    if choices else [],
                }
                if usage is not None:
                    obj["usage"] = usage
                return b"data: " + json.dumps(obj).encode() + b"\n\n"

            events = [event({"role": "assistant", "content": ""}, None)]
            events += [event({"content": piece}, None) for piece in _stream_pieces(content)]
            events.append(event({}, finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                p, c = _count_tokens(_prompt_text(body)), _count_tokens(content)
                events.append(event({}, None, {"prompt_tokens": p, "completion_tokens": c,
                                               "total_tokens": p + c}, choices=False))
            if reply.kind == "stream_dies":
                for data in events[: max(1, reply.chunks)]:
                    self._chunk(data)
                self._reset()
                return
            for data in events:
                self._chunk(data)
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
