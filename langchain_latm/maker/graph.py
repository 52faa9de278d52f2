"""The tool-making graph (LangGraph ``StateGraph``).

One candidate (the paper's protocol)::

    START -> propose -> execute --(fix)--> propose
                        execute --(ok)---> verify -> check --(fix)--> verify
                                                    check --(ok)---> wrap -> check_wrap
                                                              check_wrap --(again)--> wrap
    (each routing function may also go to END: attempts exhausted, or done)

With ``n_candidates > 1`` the graph fans out: ``START -> candidate`` (one parallel
``Send`` per candidate, each running the one-candidate graph above as a subgraph)
``-> select -> END``; the first candidate verified wins, the usage of all is summed.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from langchain_latm.maker.harness import Executor
from langchain_latm.maker.nodes import (
    MakerNodes,
    MakerSettings,
    route_after_check,
    route_after_check_wrap,
    route_after_execute,
    transcript_of,
)
from langchain_latm.maker.prompts import DEFAULT_PROMPTS, MakerPrompts
from langchain_latm.maker.state import (
    CandidateResult,
    FanoutState,
    MakerContext,
    MakerInput,
    MakerState,
)
from langchain_latm.reliability import MODEL_RETRY_POLICY

__all__ = ["build_maker_graph", "recursion_limit"]


def recursion_limit(
    *, max_propose_attempts: int = 3, max_verify_attempts: int = 3, max_wrap_attempts: int = 2
) -> int:
    """A LangGraph ``recursion_limit`` large enough for the retry budget."""
    return 2 * (max_propose_attempts + max_verify_attempts + max_wrap_attempts) + 10


def _candidate_graph(
    nodes: MakerNodes,
) -> StateGraph[MakerState, MakerContext, MakerInput, MakerState]:
    builder: StateGraph[MakerState, MakerContext, MakerInput, MakerState] = StateGraph(
        MakerState, context_schema=MakerContext, input_schema=MakerInput
    )
    builder.add_node("propose", nodes.propose, retry_policy=MODEL_RETRY_POLICY)
    builder.add_node("execute", nodes.execute)
    builder.add_node("verify", nodes.verify, retry_policy=MODEL_RETRY_POLICY)
    builder.add_node("check", nodes.check)
    builder.add_node("wrap", nodes.wrap, retry_policy=MODEL_RETRY_POLICY)
    builder.add_node("check_wrap", nodes.check_wrap)
    builder.add_edge(START, "propose")
    builder.add_edge("propose", "execute")
    builder.add_conditional_edges(
        "execute", route_after_execute, {"propose": "propose", "verify": "verify", "__end__": END}
    )
    builder.add_edge("verify", "check")
    builder.add_conditional_edges(
        "check", route_after_check, {"verify": "verify", "wrap": "wrap", "__end__": END}
    )
    builder.add_edge("wrap", "check_wrap")
    builder.add_conditional_edges(
        "check_wrap", route_after_check_wrap, {"wrap": "wrap", "__end__": END}
    )
    return builder


def build_maker_graph(
    llm: BaseChatModel | None = None,
    *,
    executor: Executor | None = None,
    max_attempts: int | None = None,
    max_propose_attempts: int = 3,
    max_verify_attempts: int = 3,
    max_wrap_attempts: int = 2,
    n_train: int = 3,
    n_val: int = 3,
    n_candidates: int = 1,
    timeout: float = 10.0,
    wrap_fallback: bool = True,
    prompts: MakerPrompts = DEFAULT_PROMPTS,
) -> StateGraph[Any, MakerContext, Any, Any]:
    """Build the (uncompiled) tool-making graph.

    Compile it with the checkpointer/store of your choice
    (``build_maker_graph(llm).compile(checkpointer=SqliteSaver(conn))``) or embed it as a
    subgraph. Input: ``{"task": TaskSpec.model_dump(mode="json")}``. Output state:
    ``tool`` (a ``WrappedTool`` JSON dump) when verified, else ``failure``
    (``{"stage", "message", "attempts"}``); ``messages`` holds the conversation and
    ``usage`` the summed token usage. :func:`~langchain_latm.maker.result_from_state`
    turns it into a ``WrappedTool`` or raises ``ToolMakingError``.

    Args:
        llm: The maker model. ``None``: resolved per run from the context
            (``context=MakerContext(model=..., base_url=...)``) or ``$LATM_MAKER_MODEL`` /
            ``$LATM_BASE_URL`` (used by ``graphs/maker.py`` for LangGraph Server).
        executor: Sandbox for all model-written code (default: a ``SandboxExecutor``
            created on first use).
        max_attempts: Shorthand setting both ``max_propose_attempts`` and
            ``max_verify_attempts``.
        max_propose_attempts: Proposals (first + fixes) before giving up (paper: 3).
        max_verify_attempts: Unit-test replies judged before giving up (paper: 3).
        max_wrap_attempts: Wrap replies before giving up.
        n_train: Training demonstrations in the propose prompt (paper: 3).
        n_val: Validation examples the tool must reproduce (paper: 3).
        n_candidates: Independent proposals made in parallel; the first verified wins.
        timeout: Sandbox timeout per execution, in seconds (overridable per run through
            the context's ``timeout``).
        wrap_fallback: Where the wrap reply is malformed or a wrapped use case fails, use
            the verified test snippet of that example as its use case (no extra call).
        prompts: The prompt set (override to change the wording).

    Returns:
        An uncompiled ``StateGraph``.

    Raises:
        ValueError: For non-positive attempt counts or sizes.
    """
    if max_attempts is not None:
        max_propose_attempts = max_verify_attempts = max_attempts
    for label, value in (
        ("max_propose_attempts", max_propose_attempts),
        ("max_verify_attempts", max_verify_attempts),
        ("max_wrap_attempts", max_wrap_attempts),
        ("n_train", n_train),
        ("n_val", n_val),
        ("n_candidates", n_candidates),
    ):
        if value < 1:
            raise ValueError(f"{label} must be >= 1, got {value}")
    settings = MakerSettings(
        max_propose_attempts=max_propose_attempts,
        max_verify_attempts=max_verify_attempts,
        max_wrap_attempts=max_wrap_attempts,
        n_train=n_train,
        n_val=n_val,
        timeout=timeout,
        wrap_fallback=wrap_fallback,
        prompts=prompts,
    )
    nodes = MakerNodes(llm, executor, settings)
    single = _candidate_graph(nodes)
    if n_candidates == 1:
        return single
    return _fanout_graph(single, n_candidates, settings)


def _fanout_graph(
    single: StateGraph[MakerState, MakerContext, MakerInput, MakerState],
    n_candidates: int,
    settings: MakerSettings,
) -> StateGraph[FanoutState, MakerContext, Any, Any]:
    inner = single.compile()
    limit = recursion_limit(
        max_propose_attempts=settings.max_propose_attempts,
        max_verify_attempts=settings.max_verify_attempts,
        max_wrap_attempts=settings.max_wrap_attempts,
    )

    def fan_out(state: FanoutState) -> list[Send]:
        return [
            Send("candidate", {"task": state["task"], "candidate": i})
            for i in range(n_candidates)
        ]

    def candidate(state: MakerInput, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        sub_config: RunnableConfig = {**get_config(), "recursion_limit": limit}
        result: dict[str, Any] = inner.invoke(state, sub_config, context=runtime.context)
        summary: CandidateResult = {
            "candidate": int(state.get("candidate", 0)),
            "tool": result.get("tool"),
            "failure": result.get("failure"),
            "transcript": transcript_of(result.get("messages") or []),
            "usage": result.get("usage") or {},
            "finished_at": time.time(),
            "attempts": result.get("attempts") or {},
        }
        return {"candidates": [summary], "usage": summary["usage"]}

    def select(state: FanoutState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        results = sorted(state.get("candidates") or [], key=lambda c: c.get("finished_at", 0.0))
        winners = [c for c in results if c.get("tool")]
        total = state.get("usage") or {}
        if winners:
            win = winners[0]
            tool = dict(win["tool"] or {})
            tool["usage"] = total
            metadata = dict(tool.get("metadata") or {})
            metadata["n_candidates"] = n_candidates
            metadata["candidates_verified"] = len(winners)
            tool["metadata"] = metadata
            runtime.stream_writer(
                {"source": "maker", "stage": "select", "status": "ok",
                 "candidate": win.get("candidate", 0), "verified": len(winners)}
            )
            return {
                "tool": tool,
                "failure": None,
                "transcript": win.get("transcript") or [],
                "attempts": win.get("attempts") or {},
            }
        last = results[-1] if results else {}
        failure = dict(last.get("failure") or {"stage": "verify", "message": "no candidate"})
        failure["candidates"] = [
            {"candidate": c.get("candidate"), **(c.get("failure") or {})} for c in results
        ]
        runtime.stream_writer({"source": "maker", "stage": "select", "status": "failed",
                               "candidate": last.get("candidate", 0)})
        return {
            "tool": None,
            "failure": failure,
            "transcript": last.get("transcript") or [],
            "attempts": last.get("attempts") or {},
        }

    builder: StateGraph[FanoutState, MakerContext, Any, Any] = StateGraph(
        FanoutState, context_schema=MakerContext
    )
    builder.add_node("candidate", candidate, input_schema=MakerInput)
    builder.add_node("select", select)
    builder.add_conditional_edges(START, fan_out, ["candidate"])
    builder.add_edge("candidate", "select")
    builder.add_edge("select", END)
    return builder
