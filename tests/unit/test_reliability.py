"""Unit tests of langchain_latm.reliability: fault classification and typed model errors."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest
from langchain_core.exceptions import ModelAuthenticationError, ModelRateLimitError
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langchain_latm.errors import (
    LATMError,
    ModelCallError,
    ModelUnavailableError,
    ReplayExhaustedError,
    ToolMakingError,
)
from langchain_latm.reliability import (
    MODEL_RETRY_POLICY,
    ainvoke_with_role,
    invoke_with_role,
    is_truncated,
    to_model_call_error,
    transient_model_error,
)
from langchain_latm.testing.fakes import ScriptedChatModel

REQ = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def status_error(code: int) -> openai.APIStatusError:
    cls = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
        500: openai.InternalServerError,
        503: openai.InternalServerError,
    }[code]
    return cls(f"HTTP {code}", response=httpx2.Response(code, request=REQ), body=None)


@pytest.mark.parametrize(
    "exc",
    [
        status_error(429),
        status_error(500),
        status_error(503),
        openai.APITimeoutError(request=REQ),
        openai.APIConnectionError(request=REQ),
        ModelRateLimitError("slow down"),
        TimeoutError("timed out"),
        ConnectionResetError("reset"),
        ModelUnavailableError("x", role="user"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors_are_retryable(exc: BaseException) -> None:
    assert transient_model_error(exc) is True


@pytest.mark.parametrize(
    "exc",
    [
        status_error(400),
        status_error(401),
        status_error(404),
        ModelAuthenticationError("bad key"),
        json.JSONDecodeError("Expecting value", "{", 1),
        IndexError("list index out of range"),
        ValueError("nope"),
        ModelCallError("x", role="maker"),
        ReplayExhaustedError("done"),
        ToolMakingError("no", stage="verify"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_permanent_errors_are_not_retryable(exc: BaseException) -> None:
    assert transient_model_error(exc) is False


def test_status_code_duck_typing_for_unknown_providers() -> None:
    class ProviderError(Exception):
        def __init__(self, status_code: int) -> None:
            super().__init__(f"status {status_code}")
            self.status_code = status_code

    assert transient_model_error(ProviderError(502))
    assert transient_model_error(ProviderError(429))
    assert not transient_model_error(ProviderError(403))


def test_invoke_with_role_returns_the_reply_and_usage() -> None:
    llm = ScriptedChatModel(responses=["```python\nans = 1\n```"], model_name="small")
    msg = invoke_with_role(llm, "hi", role="user")
    assert isinstance(msg, AIMessage)
    assert "ans = 1" in msg.text
    assert llm.calls == 1


def test_permanent_error_becomes_model_call_error_with_context() -> None:
    cause = status_error(401)
    llm = ScriptedChatModel(responses=[cause], model_name="gpt-strong")
    with pytest.raises(ModelCallError) as info:
        invoke_with_role(llm, "hi", role="maker", attempt=3)
    err = info.value
    assert not isinstance(err, ModelUnavailableError)
    assert (err.role, err.model, err.attempt) == ("maker", "gpt-strong", 3)
    assert err.cause_type == "AuthenticationError"
    assert err.__cause__ is cause
    assert "maker" in str(err) and "gpt-strong" in str(err) and "attempt 3" in str(err)


def test_transient_error_after_client_retries_becomes_model_unavailable() -> None:
    llm = ScriptedChatModel(responses=[status_error(503)], model_name="small")
    with pytest.raises(ModelUnavailableError) as info:
        invoke_with_role(llm, "hi", role="user", attempt=2)
    assert info.value.role == "user" and info.value.attempt == 2
    assert isinstance(info.value, ModelCallError)
    assert transient_model_error(info.value)


def test_broken_reply_parsing_becomes_model_call_error() -> None:
    # What ChatOpenAI raises for an invalid JSON body / empty choices (seen against the
    # fault server): not transient, but still reported as a typed model failure.
    for cause in (json.JSONDecodeError("Unterminated", "{", 1), IndexError("list index")):
        llm = ScriptedChatModel(responses=[cause], model_name="m")
        with pytest.raises(ModelCallError) as info:
            invoke_with_role(llm, "hi", role="dispatcher")
        assert info.value.cause_type == type(cause).__name__
        assert not isinstance(info.value, ModelUnavailableError)


def test_library_errors_pass_through_unchanged() -> None:
    llm = ScriptedChatModel(responses=["only one"])
    invoke_with_role(llm, "a", role="maker")
    with pytest.raises(ReplayExhaustedError):
        invoke_with_role(llm, "b", role="maker")


def test_keyboard_interrupt_is_not_wrapped() -> None:
    def boom(_: object) -> AIMessage:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        invoke_with_role(RunnableLambda(boom), "x", role="user")


def test_non_message_result_is_a_model_call_error() -> None:
    with pytest.raises(ModelCallError, match="not a message"):
        invoke_with_role(RunnableLambda(lambda _: "plain string"), "x", role="user")  # type: ignore[arg-type]


async def test_async_variant() -> None:
    llm = ScriptedChatModel(responses=["ok", status_error(400)], model_name="m")
    assert (await ainvoke_with_role(llm, "x", role="user")).text == "ok"
    with pytest.raises(ModelCallError) as info:
        await ainvoke_with_role(llm, "x", role="user", attempt=5)
    assert info.value.attempt == 5 and info.value.cause_type == "BadRequestError"


def test_to_model_call_error_message_names_everything() -> None:
    err = to_model_call_error(status_error(429), role="user", model="m1", attempt=4)
    assert isinstance(err, ModelUnavailableError)
    assert str(err).startswith("user model m1 unavailable on attempt 4: RateLimitError")
    assert isinstance(err, LATMError)


def test_is_truncated() -> None:
    cut = AIMessage("```python\ndef f(", response_metadata={"finish_reason": "length"})
    assert is_truncated(cut)
    assert not is_truncated(AIMessage("done", response_metadata={"finish_reason": "stop"}))
    assert not is_truncated(AIMessage("no metadata"))


class _S(TypedDict):
    out: str


def _graph(llm: ScriptedChatModel, policy: RetryPolicy) -> object:
    def call(state: _S) -> _S:
        return {"out": invoke_with_role(llm, "q", role="maker").text}

    builder = StateGraph(_S)
    builder.add_node("call", call, retry_policy=policy)
    builder.add_edge(START, "call")
    builder.add_edge("call", END)
    return builder.compile()


def test_retry_policy_retries_transient_failures_in_a_node() -> None:
    llm = ScriptedChatModel(responses=[status_error(503), status_error(429), "made it"])
    fast = MODEL_RETRY_POLICY._replace(initial_interval=0.01, max_interval=0.02)
    graph = _graph(llm, fast)
    assert graph.invoke({"out": ""}) == {"out": "made it"}  # type: ignore[attr-defined]
    assert llm.calls == 3


def test_retry_policy_gives_up_after_max_attempts() -> None:
    llm = ScriptedChatModel(responses=[status_error(503)] * 5)
    fast = MODEL_RETRY_POLICY._replace(initial_interval=0.01, max_interval=0.02)
    with pytest.raises(ModelUnavailableError):
        _graph(llm, fast).invoke({"out": ""})  # type: ignore[attr-defined]
    assert llm.calls == MODEL_RETRY_POLICY.max_attempts


def test_retry_policy_does_not_retry_permanent_failures() -> None:
    llm = ScriptedChatModel(responses=[status_error(401), "never"])
    fast = MODEL_RETRY_POLICY._replace(initial_interval=0.01)
    with pytest.raises(ModelCallError) as info:
        _graph(llm, fast).invoke({"out": ""})  # type: ignore[attr-defined]
    assert not isinstance(info.value, ModelUnavailableError)
    assert llm.calls == 1
