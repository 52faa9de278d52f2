"""State and run context of the tool-making graph.

State values are plain JSON data (dicts, lists, strings, numbers) plus LangChain messages,
so a checkpoint serialises without custom types and a LangGraph Server client can send the
input as JSON: ``{"task": TaskSpec.model_dump(mode="json")}``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from langchain_latm.schemas import Usage

__all__ = [
    "CandidateResult",
    "FanoutState",
    "MakerContext",
    "MakerInput",
    "MakerState",
    "Stage",
    "add_usage",
]

Stage = Literal["propose", "execute", "verify", "check", "wrap", "check_wrap", "done", "failed"]
"""Where a make currently is: the next node to run, ``"done"`` or ``"failed"``."""


def add_usage(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer summing two usage records (``Usage`` dumps).

    Args:
        left: The accumulated usage (or ``None``).
        right: The usage to add (or ``None``).

    Returns:
        The sum, as a ``Usage`` dump.
    """
    total = Usage.model_validate(left or {}) + Usage.model_validate(right or {})
    return total.model_dump(exclude={"total_tokens"})


class MakerInput(TypedDict):
    """Input of the maker graph: the task (a ``TaskSpec`` JSON dump) and a candidate index."""

    task: dict[str, Any]
    candidate: NotRequired[int]


class MakerState(TypedDict, total=False):
    """State of one tool-making conversation (one candidate).

    Attributes:
        task: The task (``TaskSpec`` JSON dump).
        candidate: Index of this candidate (0 when only one is made).
        messages: The conversation with the maker model (prompts, replies, feedback).
        usage: Summed token usage of every maker call (reducer: addition).
        stage: The next step (see :data:`Stage`).
        attempts: Attempts used per stage: ``{"propose": n, "verify": n, "wrap": n}``.
        proposal_code: The last proposal's code as executed (with example usage).
        function_code: The accepted function code (definitions only).
        report: The last harness verdict (``VerificationReport`` dump).
        verified_snippets: Per validation example, the test snippet that reproduced it.
        feedback: The last feedback sent to the model.
        last_error: The last failure message (error type and message).
        tool: The finished tool (``WrappedTool`` dump), when done.
        failure: Why making stopped (``{"stage", "message", "attempts"}``), when failed.
    """

    task: dict[str, Any]
    candidate: int
    messages: Annotated[list[AnyMessage], add_messages]
    usage: Annotated[dict[str, Any], add_usage]
    stage: Stage
    attempts: dict[str, int]
    proposal_code: str
    function_code: str
    report: dict[str, Any]
    verified_snippets: list[str | None]
    feedback: str | None
    last_error: str | None
    tool: dict[str, Any] | None
    failure: dict[str, Any] | None


class CandidateResult(TypedDict, total=False):
    """Summary of one candidate of a parallel make (``n_candidates > 1``)."""

    candidate: int
    tool: dict[str, Any] | None
    failure: dict[str, Any] | None
    transcript: list[dict[str, str]]
    usage: dict[str, Any]
    finished_at: float
    attempts: dict[str, int]


class FanoutState(TypedDict, total=False):
    """State of a parallel make: several candidates, first verified wins.

    Attributes:
        task: The task (``TaskSpec`` JSON dump).
        candidates: One summary per finished candidate (reducer: append).
        usage: Usage of all candidates (reducer: addition).
        tool: The winning tool, if any candidate was verified.
        failure: Why no candidate was verified.
        transcript: The winning (or last failing) candidate's conversation.
        attempts: The winning candidate's attempts.
    """

    task: dict[str, Any]
    candidates: Annotated[list[CandidateResult], operator.add]
    usage: Annotated[dict[str, Any], add_usage]
    tool: dict[str, Any] | None
    failure: dict[str, Any] | None
    transcript: list[dict[str, str]]
    attempts: dict[str, int]


@dataclass(frozen=True)
class MakerContext:
    """Per-run settings (LangGraph ``context_schema``) for graphs built without a model.

    Attributes:
        model: Maker model name (``init_chat_model`` name, or the served model's name
            with ``base_url``). Falls back to ``$LATM_MAKER_MODEL``.
        base_url: OpenAI-compatible server URL. Falls back to ``$LATM_BASE_URL``.
        timeout: Per-execution sandbox timeout in seconds (``None``: the graph's default).
    """

    model: str | None = None
    base_url: str | None = None
    timeout: float | None = None
