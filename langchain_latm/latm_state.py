"""State, input/output schemas and run context of the end-to-end LATM graph."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Required

from typing_extensions import TypedDict

from langchain_latm.schemas import Answer, Route, TaskSpec, Usage, WrappedTool

__all__ = [
    "LATMContext",
    "LATMInput",
    "LATMOutput",
    "LATMState",
    "Outcome",
    "merge_usage",
]

Outcome = Literal["cached", "made", "unknown", "make_failed", "direct"]
"""How a question was answered: with a ``cached`` tool, with a tool ``made`` for it, not at
all (``unknown``: no tool fits and no demonstrations were given; ``make_failed``: making a
tool failed), or by the strong model ``direct``-ly (``fallback="direct"``)."""


def merge_usage(
    left: Mapping[str, Usage] | None, right: Mapping[str, Usage] | None
) -> dict[str, Usage]:
    """Reducer: add usage per role (``{"maker": Usage, "user": Usage, ...}``)."""
    merged: dict[str, Usage] = dict(left or {})
    for role, usage in (right or {}).items():
        if isinstance(usage, Mapping):  # JSON input from LangGraph Server / Studio
            usage = Usage.model_validate(usage)
        merged[role] = merged[role] + usage if role in merged else usage
    return merged


class LATMInput(TypedDict, total=False):
    """What a caller sends: a question, and optionally the task it belongs to.

    ``task`` may be a :class:`TaskSpec` (or its JSON) with demonstrations — then an unknown
    question makes a new tool — or a BBH task name, loaded with ``load_bbh_task``.
    """

    question: Required[str]
    task: TaskSpec | dict[str, Any] | str | None


class LATMOutput(TypedDict, total=False):
    """What the graph returns."""

    answer: Answer
    outcome: Outcome
    tool_name: str | None
    route_score: float
    route_reason: str
    usage: Annotated[dict[str, Usage], merge_usage]
    events: Annotated[list[str], operator.add]


class LATMState(LATMInput, LATMOutput, total=False):
    """Full state of the LATM graph (input + output + working fields)."""

    task_spec: TaskSpec | None
    route: Route | None
    tool: WrappedTool | None
    make_error: str | None
    make_error_type: str | None


@dataclass
class LATMContext:
    """Per-run settings (LangGraph ``context``): which models and repository to use.

    Anything left ``None`` falls back to what the graph was built with, then to the
    environment: ``LATM_MAKER_MODEL``, ``LATM_USER_MODEL``, ``LATM_BASE_URL``, ``LATM_REPO``.

    Attributes:
        maker_model: ``init_chat_model`` name (or server model name) of the tool maker.
        user_model: Name of the tool user model.
        base_url: OpenAI-compatible server for both models.
        repo_path: Path of the embedded Chroma tool repository.
    """

    maker_model: str | None = None
    user_model: str | None = None
    base_url: str | None = None
    repo_path: str | None = None
