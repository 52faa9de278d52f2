"""The fault-injecting OpenAI-compatible server itself, checked with plain HTTP clients."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.request
from typing import Any

import pytest

from langchain_latm.testing.fault_server import (
    TRANSIENT_FAULTS,
    FaultInjectingServer,
    Reply,
    transient_fault_script,
)

pytestmark = pytest.mark.integration

BODY = {"model": "m", "messages": [{"role": "user", "content": "sort these words please"}]}


def post(srv: FaultInjectingServer, body: Any = BODY, timeout: float = 5.0,
         path: str = "/v1/chat/completions") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json",
                                                        "X-Test": "yes"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_models_endpoint_and_loopback_binding() -> None:
    with FaultInjectingServer(model="tiny") as srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv._httpd is not None and srv._httpd.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"{srv.base_url}/models", timeout=5) as resp:
            listing = json.load(resp)
        assert [m["id"] for m in listing["data"]] == ["tiny"]
        assert srv.requests[0].reply == "models" and srv.requests[0].index == -1
        assert srv.chat_requests == []


def test_normal_replies_from_list_and_callable_with_usage() -> None:
    with FaultInjectingServer(content=["first", "second"]) as srv:
        replies = [json.loads(post(srv)[2]) for _ in range(3)]
    texts = [r["choices"][0]["message"]["content"] for r in replies]
    assert texts == ["first", "second", "first"]
    usage = replies[0]["usage"]
    assert usage["prompt_tokens"] == 4 and usage["completion_tokens"] == 1
    assert usage["total_tokens"] == 5

    def echo(body: dict[str, Any]) -> str:
        return body["messages"][-1]["content"].upper()

    with FaultInjectingServer(script=[Reply.ok(), "scripted"], content=echo) as srv:
        a, b = (json.loads(post(srv)[2])["choices"][0]["message"]["content"] for _ in "ab")
    assert (a, b) == ("SORT THESE WORDS PLEASE", "scripted")


def test_requests_are_recorded_with_headers_body_and_timing() -> None:
    with FaultInjectingServer() as srv:
        before = time.monotonic()
        post(srv)
        rec = srv.chat_requests[0]
    assert rec.index == 0 and rec.path == "/v1/chat/completions" and rec.method == "POST"
    assert rec.body == BODY
    assert rec.headers["x-test"] == "yes"
    assert before <= rec.received_at <= rec.finished_at
    assert rec.status_code == 200 and rec.reply == "ok" and not rec.client_gone


def test_status_faults_with_retry_after_and_error_body() -> None:
    script = [Reply.status(429, retry_after=2), Reply.status(503), Reply.status(502),
              Reply.status(500), Reply.status(429, retry_after=0.25)]
    with FaultInjectingServer(script=script) as srv:
        results = [post(srv) for _ in script]
        after = post(srv)
    assert [r[0] for r in results] == [429, 503, 502, 500, 429]
    assert results[0][1]["retry-after"] == "2"
    assert results[4][1]["retry-after"] == "0.25"
    assert "retry-after" not in results[1][1]
    assert json.loads(results[0][2])["error"]["type"] == "rate_limit_exceeded"
    assert after[0] == 200  # script exhausted -> default normal reply
    assert srv.reply_counts() == {"status:429": 2, "status:503": 1, "status:502": 1,
                                  "status:500": 1, "ok": 1}


def test_connection_reset() -> None:
    with FaultInjectingServer(script=[Reply.reset()]) as srv:
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            post(srv)
        assert post(srv)[0] == 200
        assert srv.chat_requests[0].reply == "reset"


def test_truncated_body() -> None:
    with (
        FaultInjectingServer(script=[Reply.truncated()]) as srv,
        pytest.raises((http.client.IncompleteRead, ConnectionResetError)),
    ):
        post(srv)


def test_invalid_json_and_empty_choices() -> None:
    with FaultInjectingServer(script=[Reply.invalid_json(), Reply.empty_choices()]) as srv:
        status, _, raw = post(srv)
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        status, _, raw = post(srv)
        payload = json.loads(raw)
        assert status == 200 and payload["choices"] == [] and "usage" in payload


def test_cut_code_reply() -> None:
    with FaultInjectingServer(script=[Reply.cut_code()]) as srv:
        choice = json.loads(post(srv)[2])["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith("```python")
    assert choice["message"]["content"].count("```") == 1  # never closed


def _sse(raw: bytes) -> list[str]:
    events = raw.decode().split("\n\n")
    return [line[len("data: "):] for line in events if line.startswith("data: ")]


def test_streaming_reply_and_stream_that_dies() -> None:
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    with FaultInjectingServer(script=["one two three", Reply.stream_dies(2, "a b c d")]) as srv:
        status, headers, raw = post(srv, body)
        assert status == 200 and headers["content-type"] == "text/event-stream"
        events = _sse(raw)
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "one two three"
        assert chunks[-1]["usage"]["completion_tokens"] == 3
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            post(srv, body)


def test_bad_request_body_and_unknown_path() -> None:
    with FaultInjectingServer() as srv:
        assert post(srv, b"not json")[0] == 400
        assert post(srv, path="/v1/embeddings")[0] == 404


def test_slow_reply_is_woken_by_stop_and_no_thread_leaks() -> None:
    baseline = threading.active_count()
    srv = FaultInjectingServer(script=[Reply.slow(30.0)]).start()
    port = srv.port
    errors: list[BaseException] = []

    def client() -> None:
        try:
            post(srv, timeout=60)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)

    t = threading.Thread(target=client)
    t.start()
    deadline = time.monotonic() + 5
    while not srv.chat_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.chat_requests, "the slow request never arrived"
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2.0, "stop() waited for the slow reply"
    t.join(5)
    assert not t.is_alive()
    assert errors, "the client of an aborted slow reply should see an error"
    assert threading.active_count() == baseline
    # the port is free again: nothing listens on it (the aborted connection may still sit
    # in TIME_WAIT, which SO_REUSEADDR allows, as any server restarting on a port would)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_keep_alive_connections_do_not_block_stop() -> None:
    baseline = threading.active_count()
    with FaultInjectingServer() as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(BODY))
        assert conn.getresponse().read()
        # leave the keep-alive connection open while stopping
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    conn.close()
    assert threading.active_count() == baseline


def test_transient_fault_script_rate_is_seeded() -> None:
    script = transient_fault_script(0.2, seed=7)
    kinds = [script(i, {}) for i in range(2000)]
    faults = [k for k in kinds if k.kind != "ok"]
    assert 0.17 < len(faults) / len(kinds) < 0.23
    assert {f.kind for f in faults} <= {f.kind for f in TRANSIENT_FAULTS}
    again = transient_fault_script(0.2, seed=7)
    assert [again(i, {}) for i in range(2000)] == kinds
    with pytest.raises(ValueError):
        transient_fault_script(1.5)


def test_start_twice_is_an_error_and_stop_is_idempotent() -> None:
    srv = FaultInjectingServer().start()
    try:
        with pytest.raises(RuntimeError):
            srv.start()
    finally:
        srv.stop()
    srv.stop()
    assert not srv.running
    with pytest.raises(RuntimeError):
        _ = srv.port
