"""Tool making: a strong model proposes, the harness verifies, the model wraps (paper protocol).

- :class:`ToolMaker` — ``make(task) -> WrappedTool`` (also ``amake``, ``stream``).
- :func:`build_maker_graph` — the uncompiled LangGraph ``StateGraph`` behind it.
- :func:`result_from_state` — final graph state -> ``WrappedTool`` or ``ToolMakingError``.
- :class:`MakerState`, :class:`MakerContext`, :class:`MakerPrompts` — state, run context,
  prompt set.
"""

from __future__ import annotations

from langchain_latm.maker.facade import MakerEvent, ToolMaker, result_from_state
from langchain_latm.maker.graph import build_maker_graph
from langchain_latm.maker.prompts import DEFAULT_PROMPTS, MakerPrompts
from langchain_latm.maker.state import (
    CandidateResult,
    FanoutState,
    MakerContext,
    MakerInput,
    MakerState,
)

__all__ = [
    "DEFAULT_PROMPTS",
    "CandidateResult",
    "FanoutState",
    "MakerContext",
    "MakerEvent",
    "MakerInput",
    "MakerPrompts",
    "MakerState",
    "ToolMaker",
    "build_maker_graph",
    "result_from_state",
]
