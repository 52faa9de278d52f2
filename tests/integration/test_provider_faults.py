"""The real ChatOpenAI client (via load_chat_model) against injected provider faults.

Transient faults are retried by the client's own ``max_retries`` with backoff that honours
``Retry-After`` (checked from the server's request timestamps); permanent faults surface as
their exception types, and through ``invoke_with_role`` as typed ``ModelCallError``s.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from bench_results import record
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_latm.errors import ModelCallError, ModelUnavailableError
from langchain_latm.models import load_chat_model
from langchain_latm.reliability import (
    MODEL_RETRY_POLICY,
    invoke_with_role,
    is_truncated,
    transient_model_error,
)
from langchain_latm.testing.fault_server import FaultInjectingServer, Reply, transient_fault_script

pytestmark = pytest.mark.integration


def llm_for(srv: FaultInjectingServer, **kw: Any) -> Any:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("max_retries", 2)
    return load_chat_model("fault-test-model", base_url=srv.base_url, max_tokens=64, **kw)


def gaps(srv: FaultInjectingServer) -> list[float]:
    times = [r.received_at for r in srv.chat_requests]
    return [b - a for a, b in itertools.pairwise(times)]


# ---------------------------------------------------------------------------- transient
def test_429_retry_after_is_honoured() -> None:
    with FaultInjectingServer(script=[Reply.status(429, retry_after=1), "after the wait"]) as srv:
        msg = llm_for(srv).invoke("hi")
    assert msg.content == "after the wait"
    assert len(srv.chat_requests) == 2
    # Retry-After: 1 (seconds) -> the client waited about 1 s, not its 0.5 s default backoff
    assert 0.95 <= gaps(srv)[0] < 3.0
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] == 3


def test_5xx_are_retried_with_exponential_backoff() -> None:
    script = [Reply.status(500), Reply.status(502), Reply.status(503), "finally"]
    with FaultInjectingServer(script=script) as srv:
        msg = llm_for(srv, max_retries=3).invoke("hi")
    assert msg.content == "finally"
    g = gaps(srv)
    assert len(g) == 3
    # openai backoff: 0.5 * 2**n seconds, minus up to 25 % jitter
    for n, gap in enumerate(g):
        assert 0.5 * 2**n * 0.75 - 0.02 <= gap <= 0.5 * 2**n + 1.5, g


@pytest.mark.parametrize("fault", [Reply.reset(), Reply.truncated()], ids=["reset", "truncated"])
def test_connection_faults_are_retried(fault: Reply) -> None:
    with FaultInjectingServer(script=[fault, "recovered"]) as srv:
        msg = llm_for(srv).invoke("hi")
    assert msg.content == "recovered"
    assert [r.reply for r in srv.chat_requests] == [fault.kind, "ok"]


def test_slow_reply_times_out_and_is_retried() -> None:
    with FaultInjectingServer(script=[Reply.slow(5.0), "quick"]) as srv:
        started = time.monotonic()
        msg = llm_for(srv, timeout=0.5).invoke("hi")
        elapsed = time.monotonic() - started
    assert msg.content == "quick"
    assert len(srv.chat_requests) == 2
    assert 0.5 <= elapsed < 3.0


def test_timeout_without_retries_surfaces_timeout_type() -> None:
    with FaultInjectingServer(script=[Reply.slow(5.0)] * 2) as srv:
        llm = llm_for(srv, timeout=0.3, max_retries=0)
        with pytest.raises(openai.APITimeoutError) as info:
            llm.invoke("hi")
        assert transient_model_error(info.value)
        with pytest.raises(ModelUnavailableError) as wrapped:
            invoke_with_role(llm, "hi", role="user", attempt=1)
    assert wrapped.value.cause_type is not None and "Timeout" in wrapped.value.cause_type


def test_transient_fault_outlasting_retries_is_model_unavailable() -> None:
    with FaultInjectingServer(script=[Reply.status(503)] * 10) as srv:
        llm = llm_for(srv, max_retries=1)
        with pytest.raises(openai.InternalServerError):
            llm.invoke("hi")
        assert len(srv.chat_requests) == 2  # one try + max_retries
        with pytest.raises(ModelUnavailableError) as info:
            invoke_with_role(llm, "hi", role="maker", attempt=2)
    err = info.value
    assert (err.role, err.model, err.attempt) == ("maker", "fault-test-model", 2)
    assert err.cause_type is not None and "Error" in err.cause_type


# ---------------------------------------------------------------------------- permanent
@pytest.mark.parametrize(
    ("code", "exc_type"),
    [(400, openai.BadRequestError), (401, openai.AuthenticationError),
     (404, openai.NotFoundError)],
)
def test_permanent_status_is_not_retried(code: int, exc_type: type[Exception]) -> None:
    with FaultInjectingServer(script=[Reply.status(code), Reply.status(code)]) as srv:
        llm = llm_for(srv, max_retries=3)
        with pytest.raises(exc_type):
            llm.invoke("hi")
        assert len(srv.chat_requests) == 1
        with pytest.raises(ModelCallError) as info:
            invoke_with_role(llm, "hi", role="dispatcher", attempt=1)
    assert not isinstance(info.value, ModelUnavailableError)
    assert info.value.role == "dispatcher"
    assert isinstance(info.value.__cause__, exc_type)


@pytest.mark.parametrize("fault", [Reply.invalid_json(), Reply.empty_choices()],
                         ids=["invalid_json", "empty_choices"])
def test_broken_200_reply_becomes_typed_error(fault: Reply) -> None:
    with FaultInjectingServer(script=[fault]) as srv:
        llm = llm_for(srv, max_retries=3)
        with pytest.raises(ModelCallError) as info:
            invoke_with_role(llm, "hi", role="user", attempt=7)
        assert len(srv.chat_requests) == 1  # a 200 is not retried by the client
    err = info.value
    assert not isinstance(err, ModelUnavailableError)
    assert (err.role, err.attempt) == ("user", 7)
    assert err.__cause__ is not None


def test_reply_cut_mid_code_block_is_returned_and_flagged() -> None:
    with FaultInjectingServer(script=[Reply.cut_code()]) as srv:
        msg = invoke_with_role(llm_for(srv), "hi", role="user")
    assert is_truncated(msg)
    assert msg.text.startswith("```python") and msg.text.count("```") == 1


# ---------------------------------------------------------------------------- request shape
def test_max_tokens_is_sent_in_the_body() -> None:
    with FaultInjectingServer() as srv:
        llm_for(srv).invoke("hi")
        body = srv.chat_requests[0].body
    assert body is not None
    # llama.cpp's server ignores max_completion_tokens; load_chat_model sends both
    assert body["max_tokens"] == 64
    assert body["max_completion_tokens"] == 64


# ---------------------------------------------------------------------------- streaming
def test_streaming_and_a_stream_that_dies() -> None:
    script = ["streamed reply text", Reply.stream_dies(2, "this stream will die")]
    with FaultInjectingServer(script=script) as srv:
        llm = llm_for(srv, stream_usage=True)
        chunks = list(llm.stream("hi"))
        assert "".join(str(c.content) for c in chunks) == "streamed reply text"
        assert any(c.usage_metadata for c in chunks)
        with pytest.raises(openai.APIConnectionError) as info:
            list(llm.stream("hi"))
    assert transient_model_error(info.value)


# ---------------------------------------------------------------------------- RetryPolicy
class _S(TypedDict):
    out: str


def test_retry_policy_on_a_model_node_with_the_real_client() -> None:
    # client: max_retries=1 -> 2 requests per node attempt; node policy: 3 attempts
    script = [Reply.status(503)] * 3 + ["third node attempt never needed"]
    with FaultInjectingServer(script=script) as srv:
        llm = llm_for(srv, max_retries=1)
        attempts: list[int] = []

        def call(state: _S) -> _S:
            attempts.append(1)
            msg = invoke_with_role(llm, "q", role="maker", attempt=len(attempts))
            return {"out": msg.text}

        builder = StateGraph(_S)
        builder.add_node("call", call,
                         retry_policy=MODEL_RETRY_POLICY._replace(initial_interval=0.05))
        builder.add_edge(START, "call")
        builder.add_edge("call", END)
        result = builder.compile().invoke({"out": ""})
    assert result == {"out": "third node attempt never needed"}
    assert len(attempts) == 2
    assert len(srv.chat_requests) == 4


# ---------------------------------------------------------------------------- batch
@pytest.mark.bench
def test_batch_with_20_percent_transient_faults_all_succeed() -> None:
    n = int(os.environ.get("LATM_FAULT_BATCH", "200"))
    rate, max_retries, workers = 0.2, 5, 8
    with FaultInjectingServer(script=transient_fault_script(rate, seed=1234),
                              content=lambda body: "echo: " + body["messages"][-1]["content"],
                              ) as srv:
        llm = llm_for(srv, max_retries=max_retries)

        def one(i: int) -> tuple[str, float, str | None]:
            started = time.monotonic()
            try:
                text = invoke_with_role(llm, f"question {i}", role="user").text
                return text, time.monotonic() - started, None
            except ModelCallError as exc:
                return "", time.monotonic() - started, str(exc)

        started = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, range(n)))
        wall = time.monotonic() - started
        counts = srv.reply_counts()
        total_requests = len(srv.chat_requests)

    failures = [err for _, _, err in results if err]
    answered = [text for text, _, err in results if not err]
    assert len(results) == n  # nothing dropped
    assert not failures, failures[:3]
    assert answered == [f"echo: question {i}" for i in range(n)]  # each got its own answer
    faults = total_requests - counts.get("ok", 0)
    assert total_requests == n + faults  # every fault cost exactly one retry
    assert 0.1 * n <= faults <= 0.35 * n
    latencies = sorted(d for _, d, _ in results)
    figures = {
        "questions": n,
        "fault_rate": rate,
        "faults_injected": faults,
        "fault_mix": {k: v for k, v in sorted(counts.items()) if k != "ok"},
        "requests": total_requests,
        "retries": total_requests - n,
        "answered": len(answered),
        "failed_with_reason": len(failures),
        "dropped": n - len(results),
        "client_max_retries": max_retries,
        "concurrency": workers,
        "wall_s": round(wall, 2),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (n - 1))], 3),
        "latency_max_s": round(latencies[-1], 3),
    }
    record("faults.json", "model_level", figures)


# ---------------------------------------------------------------------------- library level
def _recorded_turns(path: Path) -> list[str]:
    turns: list[str] = []
    for turn in json.loads(path.read_text()):
        if turn["role"] == "assistant" and (not turns or turns[-1] != turn["content"]):
            turns.append(turn["content"])
    return turns


def _maker_stage(body: dict[str, Any]) -> str:
    """Which maker step a request is, from its last user message (the maker's prompts)."""
    last = next((m.get("content") for m in reversed(body.get("messages") or [])
                 if m.get("role") == "user"), "") or ""
    if "summarize the function" in last:
        return "wrap"
    if "unit tests" in last:
        return "verify"
    return "propose"


def _sorting_tool() -> Any:
    from langchain_latm.schemas import UseCase, WrappedTool

    return WrappedTool(
        name="sort_words_alphabetically",
        task="word_sorting",
        description="Sort a list of words alphabetically.",
        code="def sort_words_alphabetically(word_list):\n    return sorted(word_list)\n",
        use_cases=[UseCase(
            question="Sort the following words alphabetically: List: pear apple",
            snippet="words = ['pear', 'apple']\nret = sort_words_alphabetically(words)\n"
                    "ans = ' '.join(ret)",
            answer="apple pear",
        )],
    )


def _snippet_for(body: dict[str, Any]) -> str:
    """A correct tool-user reply for the word-sorting question at the end of the prompt."""
    prompt = next((m.get("content") for m in reversed(body.get("messages") or [])
                   if m.get("role") == "user"), "") or ""
    words = prompt.rsplit("List:", 1)[1].split("\n", 1)[0].split()
    return (f"```python\nwords = {words!r}\nret = sort_words_alphabetically(words)\n"
            "ans = ' '.join(ret)\n```")


@pytest.mark.slow
def test_tool_maker_survives_transient_faults(data_dir: Path) -> None:
    from langchain_latm.maker import ToolMaker
    from langchain_latm.tasks import load_bbh_task

    turns = _recorded_turns(data_dir / "recorded" / "word_sorting.json")
    replies = dict(zip(["propose", "verify", "wrap"], turns, strict=True))
    faults = iter([Reply.status(429, retry_after=0.1), Reply.reset(), Reply.status(502)])

    def script(index: int, body: dict[str, Any]) -> Reply:
        if index in (0, 2, 4):  # the first try of every step fails transiently
            return next(faults)
        return Reply.ok(replies[_maker_stage(body)])

    with FaultInjectingServer(script=script) as srv:
        llm = load_chat_model("maker-model", base_url=srv.base_url, timeout=10, max_retries=2)
        tool = ToolMaker(llm).make(load_bbh_task("word_sorting", data_dir=data_dir))
        stages = [_maker_stage(r.body or {}) for r in srv.chat_requests]
    assert tool.verified
    assert stages == ["propose", "propose", "verify", "verify", "wrap", "wrap"]


def test_tool_maker_permanent_fault_names_role_model_and_attempt(data_dir: Path) -> None:
    from langchain_latm.maker import ToolMaker
    from langchain_latm.tasks import load_bbh_task

    broken = "```python\ndef sort_words_alphabetically(word_list):\n    return sorted(wordlist)\n" \
             "print(sort_words_alphabetically(['b', 'a']))\n```"
    # proposal 1 fails to run (NameError) -> the maker asks again -> that call gets a 401
    with FaultInjectingServer(script=[broken, Reply.status(401)]) as srv:
        llm = load_chat_model("maker-model", base_url=srv.base_url, timeout=10, max_retries=2)
        with pytest.raises(ModelCallError) as info:
            ToolMaker(llm).make(load_bbh_task("word_sorting", data_dir=data_dir))
        assert len(srv.chat_requests) == 2  # a 401 is not retried
    err = info.value
    assert not isinstance(err, ModelUnavailableError)
    assert (err.role, err.model, err.attempt) == ("maker", "maker-model", 2)
    assert err.cause_type is not None and "Authentication" in err.cause_type


@pytest.mark.slow
def test_tool_maker_node_retry_policy_outlasts_client_retries(data_dir: Path) -> None:
    from langchain_latm.maker import ToolMaker
    from langchain_latm.tasks import load_bbh_task

    turns = _recorded_turns(data_dir / "recorded" / "word_sorting.json")
    replies = dict(zip(["propose", "verify", "wrap"], turns, strict=True))

    def script(index: int, body: dict[str, Any]) -> Reply:
        # an outage of 3 requests: longer than the client's max_retries=1 (2 requests)
        return Reply.status(503) if index < 3 else Reply.ok(replies[_maker_stage(body)])

    with FaultInjectingServer(script=script) as srv:
        llm = load_chat_model("maker-model", base_url=srv.base_url, timeout=10, max_retries=1)
        tool = ToolMaker(llm).make(load_bbh_task("word_sorting", data_dir=data_dir))
    assert tool.verified  # the propose node was retried by MODEL_RETRY_POLICY


@pytest.mark.bench
@pytest.mark.slow
def test_tool_user_batch_with_20_percent_transient_faults(data_dir: Path) -> None:
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.user import ToolUser

    n = int(os.environ.get("LATM_FAULT_BATCH", "200"))
    examples = json.loads((data_dir / "bbh" / "word_sorting.json").read_text())["examples"]
    test_split = examples[10:]
    questions = [test_split[i % len(test_split)]["input"] for i in range(n)]
    targets = [test_split[i % len(test_split)]["target"] for i in range(n)]
    tool = _sorting_tool()
    rate, max_retries = 0.2, 2
    with FaultInjectingServer(script=transient_fault_script(rate, seed=99),
                              content=_snippet_for) as srv, SandboxExecutor() as executor:
        llm = load_chat_model("user-model", base_url=srv.base_url, timeout=5,
                              max_retries=max_retries)
        user = ToolUser(llm, executor=executor)
        started = time.monotonic()
        answers = user.batch(questions, tool, max_concurrency=8)
        wall = time.monotonic() - started
        counts = srv.reply_counts()
        total_requests = len(srv.chat_requests)

    assert len(answers) == n  # nothing silently dropped
    failed = [a for a in answers if not a.ok]
    for a in failed:  # every failure carries a reason
        assert a.error_type and a.error
        assert a.error_type == "ModelCallError", a  # only provider faults may fail here
    correct = sum(1 for a, t in zip(answers, targets, strict=True) if a.ok and a.answer == t)
    assert correct == n - len(failed)  # every answer is the right one: no mix-ups
    # with max_retries=2, a question fails only if 3 tries in a row hit a fault (~0.8 %)
    assert len(failed) <= max(3, int(0.03 * n))
    faults = total_requests - counts.get("ok", 0)
    figures = {
        "questions": n,
        "fault_rate": rate,
        "faults_injected": faults,
        "fault_mix": {k: v for k, v in sorted(counts.items()) if k != "ok"},
        "model_requests": total_requests,
        "client_max_retries": max_retries,
        "answered": n - len(failed),
        "answered_correctly": correct,
        "failed_with_reason": len(failed),
        "failure_reasons": sorted({a.error_type or "" for a in failed}),
        "dropped": n - len(answers),
        "concurrency": 8,
        "wall_s": round(wall, 2),
    }
    record("faults.json", "tool_user_level", figures)
