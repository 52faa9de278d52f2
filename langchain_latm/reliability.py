"""Surviving provider faults: which errors are transient, and typed errors for the rest.

Two layers of retries, none hand-rolled:

1. The provider client retries each request itself (``max_retries`` of ``ChatOpenAI`` /
   the ``openai`` SDK): 408/409/429/5xx, timeouts and lost connections, with exponential
   backoff (0.5 s doubling, capped at 8 s, with jitter) and honouring ``Retry-After``.
2. LangGraph nodes that call a model can add :data:`MODEL_RETRY_POLICY` (a LangGraph
   ``RetryPolicy``) for outages longer than the client's backoff; it retries only what
   :func:`transient_model_error` calls transient.

Whatever still fails reaches the caller through :func:`invoke_with_role` as a
:class:`~langchain_latm.errors.ModelCallError` naming the role (``"maker"``, ``"user"``,
``"dispatcher"``), the model and the attempt, with the provider's exception as
``__cause__``. Faults that stayed transient become the subclass
:class:`~langchain_latm.errors.ModelUnavailableError` so that the node policy can still
retry them. Errors of this library (:class:`~langchain_latm.errors.LATMError`, such as
``ReplayExhaustedError``) and LangGraph control flow pass through unchanged.

Example:
    >>> from langgraph.graph import StateGraph
    >>> from langchain_latm.reliability import MODEL_RETRY_POLICY, invoke_with_role
    >>> def propose(state):  # doctest: +SKIP
    ...     msg = invoke_with_role(llm, state["messages"], role="maker", attempt=state["n"])
    ...     return {"messages": [msg]}
    >>> builder.add_node("propose", propose, retry_policy=MODEL_RETRY_POLICY)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.errors import GraphBubbleUp
from langgraph.types import RetryPolicy

from langchain_latm.errors import LATMError, ModelCallError, ModelUnavailableError
from langchain_latm.models import model_name

__all__ = [
    "MODEL_RETRY_POLICY",
    "TRANSIENT_STATUS_CODES",
    "ainvoke_with_role",
    "invoke_with_role",
    "is_truncated",
    "to_model_call_error",
    "transient_model_error",
]

TRANSIENT_STATUS_CODES: frozenset[int] = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (the ``openai`` SDK also retries any other 5xx)."""

_TRANSIENT_CLASS_NAMES: frozenset[str] = frozenset(
    {
        # openai / anthropic / other Stainless SDKs (in case a provider raises them raw)
        "RateLimitError",
        "APITimeoutError",
        "APIConnectionError",
        "InternalServerError",
        "ServiceUnavailableError",
        "OverloadedError",
        # httpx / httpcore transport errors
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ConnectError",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
    }
)


def transient_model_error(exc: BaseException) -> bool:
    """Whether retrying the same model call later may succeed.

    True for rate limits, server errors, timeouts and lost connections, whatever the
    provider: LangChain's provider-neutral ``ModelError.is_retryable``, the ``openai`` SDK's
    ``RateLimitError`` / ``APITimeoutError`` / ``APIConnectionError`` /
    ``InternalServerError`` (by class, so other Stainless SDKs match too), an HTTP
    ``status_code`` in :data:`TRANSIENT_STATUS_CODES` or >= 500, builtin ``TimeoutError`` /
    ``ConnectionError``, and :class:`~langchain_latm.errors.ModelUnavailableError`.
    False for everything else: bad requests, authentication, unknown model, invalid
    replies, and every other error of this library.

    Args:
        exc: The exception raised by a model call.

    Returns:
        True if the error is transient.
    """
    if isinstance(exc, ModelUnavailableError):
        return True
    if isinstance(exc, LATMError):
        return False
    retryable = getattr(type(exc), "is_retryable", None)
    if isinstance(retryable, bool) and _is_langchain_model_error(exc):
        return retryable
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and (status in TRANSIENT_STATUS_CODES or status >= 500):
        return True
    return any(cls.__name__ in _TRANSIENT_CLASS_NAMES for cls in type(exc).__mro__)


def _is_langchain_model_error(exc: BaseException) -> bool:
    from langchain_core import exceptions as lc_exceptions

    model_error = getattr(lc_exceptions, "ModelError", None)
    return isinstance(model_error, type) and isinstance(exc, model_error)


MODEL_RETRY_POLICY = RetryPolicy(
    initial_interval=1.0,
    backoff_factor=2.0,
    max_interval=30.0,
    max_attempts=3,
    jitter=True,
    retry_on=transient_model_error,
)
"""LangGraph ``RetryPolicy`` for nodes that call a model: up to 3 attempts of the node,
1 s then 2 s apart (with jitter), only for :func:`transient_model_error` errors. Each
attempt already includes the provider client's own ``max_retries``."""


def to_model_call_error(
    exc: BaseException,
    *,
    role: str,
    model: str | None = None,
    attempt: int = 1,
) -> ModelCallError:
    """Turn a provider exception into a typed error naming role, model and attempt.

    Args:
        exc: The exception the model call raised.
        role: ``"maker"``, ``"user"`` or ``"dispatcher"``.
        model: The model's name, if known.
        attempt: Which attempt of the caller failed (1-based).

    Returns:
        A :class:`ModelUnavailableError` for transient faults, a :class:`ModelCallError`
        otherwise. The caller raises it ``from exc``.
    """
    transient = transient_model_error(exc)
    kind = "unavailable" if transient else "failed"
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    message = (
        f"{role} model {model or '<unknown>'} {kind} on attempt {attempt}: "
        f"{type(exc).__name__}" + (f": {detail}" if detail else "")
    )
    cls = ModelUnavailableError if transient else ModelCallError
    return cls(message, role=role, model=model, attempt=attempt, cause=exc)


def _must_pass_through(exc: BaseException) -> bool:
    return isinstance(exc, LATMError | GraphBubbleUp) or not isinstance(exc, Exception)


def invoke_with_role(
    llm: Runnable[LanguageModelInput, BaseMessage],
    messages: LanguageModelInput,
    *,
    role: str,
    attempt: int = 1,
    model: str | None = None,
    config: RunnableConfig | None = None,
    **kwargs: Any,
) -> BaseMessage:
    """Call a chat model; turn any provider failure into a typed :class:`ModelCallError`.

    Transient faults are retried by the provider client itself (its ``max_retries``) before
    they get here; this wrapper adds no retry loop of its own.

    Args:
        llm: Any LangChain chat model (or runnable returning a message).
        messages: The prompt: a string, a list of messages, or a prompt value.
        role: Which role calls: ``"maker"``, ``"user"`` or ``"dispatcher"``.
        attempt: The caller's attempt number (1-based), recorded in the error.
        model: The model's name; read from ``llm`` when omitted.
        config: Runnable config passed to ``invoke``.
        **kwargs: Passed to ``invoke`` (e.g. ``stop``).

    Returns:
        The model's reply message.

    Raises:
        ModelUnavailableError: A transient fault outlasted the client's retries.
        ModelCallError: The call failed permanently (bad request, authentication, invalid
            or empty reply...), or the model returned something that is not a message.
        LATMError: Errors of this library raised by the model (e.g. ``ReplayExhaustedError``)
            propagate unchanged.
    """
    name = model or model_name(llm)
    try:
        result = llm.invoke(messages, config, **kwargs)
    except BaseException as exc:
        if _must_pass_through(exc):
            raise
        raise to_model_call_error(exc, role=role, model=name, attempt=attempt) from exc
    return _check_message(result, role=role, model=name, attempt=attempt)


async def ainvoke_with_role(
    llm: Runnable[LanguageModelInput, BaseMessage],
    messages: LanguageModelInput,
    *,
    role: str,
    attempt: int = 1,
    model: str | None = None,
    config: RunnableConfig | None = None,
    **kwargs: Any,
) -> BaseMessage:
    """Async :func:`invoke_with_role`.

    Args:
        llm: Any LangChain chat model (or runnable returning a message).
        messages: The prompt.
        role: Which role calls.
        attempt: The caller's attempt number (1-based).
        model: The model's name; read from ``llm`` when omitted.
        config: Runnable config passed to ``ainvoke``.
        **kwargs: Passed to ``ainvoke``.

    Returns:
        The model's reply message.

    Raises:
        ModelUnavailableError: A transient fault outlasted the client's retries.
        ModelCallError: The call failed permanently.
    """
    name = model or model_name(llm)
    try:
        result = await llm.ainvoke(messages, config, **kwargs)
    except BaseException as exc:
        if _must_pass_through(exc):
            raise
        raise to_model_call_error(exc, role=role, model=name, attempt=attempt) from exc
    return _check_message(result, role=role, model=name, attempt=attempt)


def _check_message(result: object, *, role: str, model: str | None, attempt: int) -> BaseMessage:
    if not isinstance(result, BaseMessage):
        raise ModelCallError(
            f"{role} model {model or '<unknown>'} returned {type(result).__name__}, "
            f"not a message, on attempt {attempt}",
            role=role,
            model=model,
            attempt=attempt,
        )
    return result


def is_truncated(message: BaseMessage) -> bool:
    """Whether the provider cut the reply at the token limit (``finish_reason="length"``).

    A cut reply is not an error of the call: its content is kept, and the tool user /
    maker report what it lacks (an unterminated code block, a missing ``ans``).

    Args:
        message: A model reply.

    Returns:
        True if the reply's metadata says it stopped at the length limit.
    """
    meta = getattr(message, "response_metadata", None) or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
    return reason in ("length", "max_tokens")
