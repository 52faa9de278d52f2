"""``ToolMaker``: make one verified tool from a task, synchronously, async or streamed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from langchain_latm.errors import ToolMakingError
from langchain_latm.maker.graph import build_maker_graph, recursion_limit
from langchain_latm.maker.harness import Executor
from langchain_latm.maker.nodes import transcript_of
from langchain_latm.maker.prompts import DEFAULT_PROMPTS, MakerPrompts
from langchain_latm.maker.state import MakerContext
from langchain_latm.schemas import TaskSpec, Usage, VerificationReport, WrappedTool

__all__ = ["ToolMaker", "result_from_state"]

MakerEvent = dict[str, Any]
"""A progress event: ``{"source": "maker", "stage", "status", "candidate", ...}``; the last
event of :meth:`ToolMaker.stream` is ``{"stage": "done", "status": "ok", "tool": WrappedTool}``."""


def result_from_state(state: Mapping[str, Any], task: TaskSpec | str | None = None) -> WrappedTool:
    """Turn the maker graph's final state into the tool, or raise its failure.

    Args:
        state: The output of the compiled maker graph (one or several candidates).
        task: The task (for error messages).

    Returns:
        The verified tool.

    Raises:
        ToolMakingError: With ``stage``, ``transcript``, ``report`` and ``last_error`` when
            no verified tool was made.
    """
    task_name = task.name if isinstance(task, TaskSpec) else task
    if task_name is None:
        raw = state.get("task")
        if isinstance(raw, TaskSpec):
            task_name = raw.name
        elif isinstance(raw, Mapping):
            task_name = str(raw.get("name"))
    tool = state.get("tool")
    if tool:
        made = tool if isinstance(tool, WrappedTool) else WrappedTool.model_validate(tool)
        if made.verified:
            return made
    failure = dict(state.get("failure") or {})
    transcript = state.get("transcript") or transcript_of(state.get("messages") or [])
    report_raw = state.get("report")
    report = VerificationReport.model_validate(report_raw) if report_raw else None
    stage = str(failure.get("stage") or state.get("stage") or "propose")
    if stage not in {"propose", "verify", "wrap"}:
        stage = "propose"
    message = str(failure.get("message") or state.get("last_error") or "no verified tool")
    attempts = int(failure.get("attempts") or 0)
    raise ToolMakingError(
        f"tool making for task {task_name!r} failed at stage {stage!r} after {attempts} "
        f"attempt(s): {message}",
        stage=stage,
        transcript=list(transcript),
        report=report,
        last_error=state.get("last_error") or message,
        task=task_name,
        attempts=attempts,
    )


class ToolMaker:
    """Make a verified, wrapped tool from a task's solved examples (the paper's protocol).

    Safe to use from several threads at once (no signal-based timeouts; every run has its
    own graph thread).

    Args:
        llm: The strong maker model (any ``BaseChatModel``). ``None``: taken per run from
            ``$LATM_MAKER_MODEL`` / ``$LATM_BASE_URL``.
        executor: Sandbox for model-written code (default: a ``SandboxExecutor``).
        max_attempts: Propose and verify attempts each (paper: 3).
        max_propose_attempts: Override the propose budget alone.
        max_verify_attempts: Override the verify budget alone.
        max_wrap_attempts: Wrap replies before giving up.
        n_train: Training demonstrations shown (paper: 3).
        n_val: Validation examples the tool must reproduce (paper: 3).
        n_candidates: Parallel independent proposals; first verified wins.
        timeout: Sandbox timeout per execution, in seconds.
        wrap_fallback: Use verified test snippets where the wrap reply is unusable.
        prompts: The prompt set.
        checkpointer: A LangGraph checkpointer (e.g. ``SqliteSaver``): a make interrupted
            mid-way resumes from its last finished step when called again with the same
            ``thread_id``.

    Example:
        >>> maker = ToolMaker(llm)                                  # doctest: +SKIP
        >>> tool = maker.make(load_bbh_task("word_sorting"))        # doctest: +SKIP
    """

    def __init__(
        self,
        llm: BaseChatModel | None = None,
        *,
        executor: Executor | None = None,
        max_attempts: int = 3,
        max_propose_attempts: int | None = None,
        max_verify_attempts: int | None = None,
        max_wrap_attempts: int = 2,
        n_train: int = 3,
        n_val: int = 3,
        n_candidates: int = 1,
        timeout: float = 10.0,
        wrap_fallback: bool = True,
        prompts: MakerPrompts = DEFAULT_PROMPTS,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        self.llm = llm
        self.n_train = n_train
        self.n_val = n_val
        self.n_candidates = n_candidates
        self.checkpointer = checkpointer
        propose = max_propose_attempts or max_attempts
        verify = max_verify_attempts or max_attempts
        self._limit = recursion_limit(
            max_propose_attempts=propose,
            max_verify_attempts=verify,
            max_wrap_attempts=max_wrap_attempts,
        )
        self.graph: CompiledStateGraph[Any, MakerContext, Any, Any] = build_maker_graph(
            llm,
            executor=executor,
            max_propose_attempts=propose,
            max_verify_attempts=verify,
            max_wrap_attempts=max_wrap_attempts,
            n_train=n_train,
            n_val=n_val,
            n_candidates=n_candidates,
            timeout=timeout,
            wrap_fallback=wrap_fallback,
            prompts=prompts,
        ).compile(checkpointer=checkpointer, name="latm_maker")

    # -- plumbing ----------------------------------------------------------------------

    def _config(self, thread_id: str | None) -> RunnableConfig:
        config: RunnableConfig = {"recursion_limit": self._limit}
        if self.checkpointer is not None:
            config["configurable"] = {"thread_id": thread_id or uuid.uuid4().hex}
        return config

    def _input(self, task: TaskSpec, config: RunnableConfig) -> dict[str, Any] | None:
        """The graph input, or ``None`` to resume an interrupted run of this thread."""
        if self.checkpointer is not None:
            snapshot = self.graph.get_state(config)
            if snapshot.values and snapshot.next:
                return None
        return {"task": task.model_dump(mode="json")}

    async def _ainput(self, task: TaskSpec, config: RunnableConfig) -> dict[str, Any] | None:
        if self.checkpointer is not None:
            snapshot = await self.graph.aget_state(config)
            if snapshot.values and snapshot.next:
                return None
        return {"task": task.model_dump(mode="json")}

    def _finished(self, config: RunnableConfig) -> Mapping[str, Any] | None:
        """Final state of a thread that already finished (tool or failure), if any."""
        if self.checkpointer is None:
            return None
        snapshot = self.graph.get_state(config)
        values = snapshot.values or {}
        if values and not snapshot.next and (values.get("tool") or values.get("failure")):
            return values
        return None

    def _coerce(self, task: TaskSpec | Mapping[str, Any]) -> TaskSpec:
        """Validate the task before any model call: unverifiable tasks cost nothing."""
        spec = task if isinstance(task, TaskSpec) else TaskSpec.model_validate(task)
        if not spec.train[: self.n_train]:
            raise ToolMakingError(
                f"task {spec.name!r} has no training demonstrations to propose a tool from",
                stage="propose", task=spec.name,
            )
        if not spec.val[: self.n_val]:
            raise ToolMakingError(
                f"task {spec.name!r} has no validation examples: a tool cannot be verified "
                "without gold answers",
                stage="verify", task=spec.name,
            )
        shown = (("train", spec.train[: self.n_train]), ("val", spec.val[: self.n_val]))
        for split, demos in shown:
            for i, demo in enumerate(demos):
                if not demo.answer.strip():
                    raise ToolMakingError(
                        f"task {spec.name!r}: {split} example {i} has an empty answer; every "
                        "demonstration the maker sees or is verified against needs a gold answer",
                        stage="propose" if split == "train" else "verify", task=spec.name,
                    )
        return spec

    # -- public API --------------------------------------------------------------------

    def make(
        self, task: TaskSpec | Mapping[str, Any], *, thread_id: str | None = None
    ) -> WrappedTool:
        """Make a verified tool for ``task``.

        Args:
            task: The task (its first ``n_train`` train and ``n_val`` val examples are used).
            thread_id: Checkpoint thread; with a checkpointer, calling again with the same
                id resumes an interrupted make (finished steps are not re-run).

        Returns:
            The wrapped tool, verified by the harness (``tool.verified`` is True).

        Raises:
            ToolMakingError: When attempts run out (carries stage, transcript, report).
            ReplayExhaustedError: From a replay model that ran out of turns (unchanged).
        """
        spec = self._coerce(task)
        config = self._config(thread_id)
        done = self._finished(config)
        if done is not None:
            return result_from_state(done, spec)
        final = self.graph.invoke(self._input(spec, config), config)
        return result_from_state(final, spec)

    async def amake(
        self, task: TaskSpec | Mapping[str, Any], *, thread_id: str | None = None
    ) -> WrappedTool:
        """Async :meth:`make` (model and sandbox calls run in worker threads)."""
        spec = self._coerce(task)
        config = self._config(thread_id)
        final = await self.graph.ainvoke(await self._ainput(spec, config), config)
        return result_from_state(final, spec)

    def stream(
        self, task: TaskSpec | Mapping[str, Any], *, thread_id: str | None = None
    ) -> Iterator[MakerEvent]:
        """Make a tool, yielding progress events as they happen.

        Yields custom events from the nodes (``{"source": "maker", "stage", "status",
        "attempt", "candidate", "message"...}``) and, last, ``{"stage": "done", "status":
        "ok", "tool": WrappedTool}``.

        Raises:
            ToolMakingError: After the last event, when no verified tool was made.
        """
        spec = self._coerce(task)
        config = self._config(thread_id)
        final: dict[str, Any] = {}
        for namespace, mode, chunk in self.graph.stream(
            self._input(spec, config), config, stream_mode=["custom", "values"], subgraphs=True
        ):
            if mode == "custom" and isinstance(chunk, dict):
                yield dict(chunk)
            elif mode == "values" and not namespace and isinstance(chunk, dict):
                final = chunk
        tool = result_from_state(final, spec)
        yield {"source": "maker", "stage": "done", "status": "ok", "tool": tool}

    async def astream(
        self, task: TaskSpec | Mapping[str, Any], *, thread_id: str | None = None
    ) -> AsyncIterator[MakerEvent]:
        """Async :meth:`stream`."""
        spec = self._coerce(task)
        config = self._config(thread_id)
        final: dict[str, Any] = {}
        async for namespace, mode, chunk in self.graph.astream(
            await self._ainput(spec, config), config, stream_mode=["custom", "values"],
            subgraphs=True,
        ):
            if mode == "custom" and isinstance(chunk, dict):
                yield dict(chunk)
            elif mode == "values" and not namespace and isinstance(chunk, dict):
                final = chunk
        tool = result_from_state(final, spec)
        yield {"source": "maker", "stage": "done", "status": "ok", "tool": tool}

    @staticmethod
    def usage_of(tool: WrappedTool) -> Usage:
        """The summed maker usage recorded on a tool (convenience for cost reports)."""
        return tool.usage
