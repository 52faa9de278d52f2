"""The whole LATM system as a LangGraph graph, and the :class:`LATM` facade.

``dispatch`` decides, per question, whether a cached tool fits. A cached tool is used by the
weak model straight away (``use_tool``). On *unknown*, if the caller supplied the task
(a :class:`~langchain_latm.schemas.TaskSpec` with demonstrations, or a BBH task name), the
tool-making graph runs as an embedded subgraph (``make_tool``), the verified tool is stored in
the repository (``store_tool``) and then used. Without demonstrations the graph ends with an
explicit ``unknown`` outcome (``no_tool``) — or, with ``fallback="direct"``, the strong model
answers the question itself (``direct_answer``), which costs what LATM is meant to save.

Models and the repository can be fixed when the graph is built or chosen per run through the
LangGraph context (:class:`~langchain_latm.latm_state.LATMContext`) and the environment, so a
deployable graph (``graphs/latm.py``) imports without any API key.

Every node has a sync and an async implementation: ``invoke``/``stream`` (and
:meth:`LATM.solve`) run the sync one, ``ainvoke``/``astream`` (and :meth:`LATM.asolve`) await
the async one, which uses the dispatcher's ``aroute``, the model's ``ainvoke`` and the
sandbox's ``arun``, so concurrent questions never queue for asyncio's small default thread
pool. Per question the graph does no work proportional to the number of stored tools beyond
the dispatcher's vector search.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime

from langchain_latm.cost import CostReport, CostTracker, PriceTable, cost_report, cot_prompt_for
from langchain_latm.cost import estimate_direct_usage as _estimate_direct_usage
from langchain_latm.errors import (
    ConfigurationError,
    LATMError,
    ModelCallError,
    ModelUnavailableError,
    RepositoryError,
    ToolMakingError,
)
from langchain_latm.latm_state import (
    LATMContext,
    LATMInput,
    LATMOutput,
    LATMState,
    Outcome,
)
from langchain_latm.models import load_chat_model, model_name
from langchain_latm.reliability import MODEL_RETRY_POLICY, ainvoke_with_role, invoke_with_role
from langchain_latm.schemas import Answer, Route, TaskSpec, Usage, WrappedTool
from langchain_latm.user import ToolUser
from langchain_latm.user_prompts import DIRECT_ANSWER_PROMPT

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from langchain_latm.dispatcher import Dispatcher
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor

__all__ = ["LATM", "Fallback", "build_latm_graph"]

logger = logging.getLogger(__name__)

Fallback = Literal["none", "direct"]

ENV_MAKER_MODEL = "LATM_MAKER_MODEL"
ENV_USER_MODEL = "LATM_USER_MODEL"
ENV_BASE_URL = "LATM_BASE_URL"
ENV_REPO = "LATM_REPO"
DEFAULT_REPO_PATH = "./.latm"

_ANSWER_LINE = re.compile(r"answer is[:\s]*(.+?)\.?\s*$", re.IGNORECASE | re.MULTILINE)


class _Resources:
    """Lazily built, shared collaborators of one graph (models, repository, sandbox)."""

    def __init__(
        self,
        *,
        maker_llm: BaseChatModel | None,
        user_llm: BaseChatModel | None,
        repository: ToolRepository | None,
        executor: SandboxExecutor | None,
        dispatcher: Dispatcher | None,
        max_attempts: int,
        user_max_retries: int,
        user_timeout: float,
    ) -> None:
        self.maker_llm = maker_llm
        self.user_llm = user_llm
        self.repository = repository
        self.executor = executor
        self.dispatcher = dispatcher
        self.max_attempts = max_attempts
        self.user_max_retries = user_max_retries
        self.user_timeout = user_timeout
        self._lock = threading.RLock()
        self._models: dict[tuple[str, str | None], BaseChatModel] = {}
        self._repos: dict[str, ToolRepository] = {}
        self._dispatchers: dict[int, Dispatcher] = {}
        self._makers: dict[int, Any] = {}
        self._tasks: dict[str, TaskSpec] = {}
        # per repository: task name -> name of its cached tool (see task_tool)
        self._task_tools: dict[int, tuple[ToolRepository, dict[str, str]]] = {}

    # models ---------------------------------------------------------------
    def llm(self, role: str, context: LATMContext | None) -> BaseChatModel:
        ctx = context or LATMContext()
        name = ctx.maker_model if role == "maker" else ctx.user_model
        given = self.maker_llm if role == "maker" else self.user_llm
        if name is None and given is not None:
            return given
        if name is None:
            name = os.environ.get(ENV_MAKER_MODEL if role == "maker" else ENV_USER_MODEL)
        if not name:
            env = ENV_MAKER_MODEL if role == "maker" else ENV_USER_MODEL
            raise ConfigurationError(
                f"no {role} model configured: pass {role}_llm=, a run context with "
                f"{role}_model=, or set ${env}"
            )
        base_url = ctx.base_url or os.environ.get(ENV_BASE_URL) or None
        key = (name, base_url)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_chat_model(name, base_url=base_url)
            return self._models[key]

    # storage --------------------------------------------------------------
    def repo(self, context: LATMContext | None) -> ToolRepository:
        path = context.repo_path if context is not None else None
        if path is None and self.repository is not None:
            return self.repository
        path = path or os.environ.get(ENV_REPO) or DEFAULT_REPO_PATH
        with self._lock:
            if path not in self._repos:
                from langchain_latm.repository import ToolRepository

                self._repos[path] = ToolRepository(path=path)
            return self._repos[path]

    def router(self, repository: ToolRepository) -> Dispatcher:
        if self.dispatcher is not None and (
            getattr(self.dispatcher, "repository", repository) is repository
        ):
            return self.dispatcher
        with self._lock:
            key = id(repository)
            if key not in self._dispatchers:
                from langchain_latm.dispatcher import Dispatcher

                self._dispatchers[key] = Dispatcher(repository)
            return self._dispatchers[key]

    def user(self, context: LATMContext | None) -> ToolUser:
        """A tool user for the configured user model.

        Cheap to build, so one per question: no per-user state (``ToolUser.failures``)
        accumulates in a long-lived graph.
        """
        return ToolUser(self.llm("user", context), executor=self.sandbox(),
                        max_retries=self.user_max_retries, timeout=self.user_timeout)

    # tasks --------------------------------------------------------------------
    def task(self, task: Any) -> TaskSpec | None:
        """The caller's task as a ``TaskSpec`` (a BBH task name is loaded once, then cached)."""
        if isinstance(task, str) and task:
            with self._lock:
                cached = self._tasks.get(task)
            if cached is None:
                cached = _coerce_task(task)
                assert cached is not None
                with self._lock:
                    self._tasks[task] = cached
            return cached
        return _coerce_task(task)

    def task_tool(self, repo: ToolRepository, task: str) -> WrappedTool | None:
        """The cached tool of ``task`` (latest version of the newest-versioned tool).

        The task -> tool-name map is built by one scan of the repository and kept; later
        questions of a known task read just that tool (``repo.get``: its latest version,
        integrity-checked). A name that vanished or was tampered with triggers a rescan.
        """
        with self._lock:
            entry = self._task_tools.get(id(repo))
            name = entry[1].get(task) if entry is not None and entry[0] is repo else None
        if name is not None:
            try:
                tool = repo.get(name)
            except RepositoryError:  # removed or tampered with since: rescan
                tool = None
            if tool is not None and tool.task == task:
                return tool
        best: dict[str, WrappedTool] = {}
        for tool in repo.list():
            current = best.get(tool.task)
            if current is None or tool.version > current.version:
                best[tool.task] = tool
        with self._lock:
            self._task_tools[id(repo)] = (repo, {t: tool.name for t, tool in best.items()})
        return best.get(task)

    def remember(self, repo: ToolRepository, tool: WrappedTool) -> None:
        """Record a tool just stored through this graph as its task's cached tool."""
        with self._lock:
            entry = self._task_tools.get(id(repo))
            if entry is not None and entry[0] is repo:
                entry[1][tool.task] = tool.name

    def sandbox(self) -> SandboxExecutor:
        with self._lock:
            if self.executor is None:
                from langchain_latm.sandbox import SandboxExecutor

                self.executor = SandboxExecutor()
            return self.executor

    def maker_graph(self, llm: BaseChatModel) -> Any:
        """The compiled tool-making graph for ``llm`` (built once per model)."""
        with self._lock:
            key = id(llm)
            if key not in self._makers:
                from langchain_latm.maker import build_maker_graph

                self._makers[key] = build_maker_graph(
                    llm, executor=self.sandbox(), max_attempts=self.max_attempts
                ).compile()
            return self._makers[key]


def _coerce_task(task: Any) -> TaskSpec | None:
    if task is None or task == "":
        return None
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, Mapping):
        return TaskSpec.model_validate(task)
    if isinstance(task, str):
        from langchain_latm.tasks import load_bbh_task

        return load_bbh_task(task)
    raise ConfigurationError(f"task must be a TaskSpec, its JSON or a task name, got {task!r}")


def _context() -> LATMContext | None:
    """The run context of the graph run in progress (``None`` when none was given)."""
    runtime = get_runtime(LATMContext)
    return runtime.context if runtime is not None else None


_T = TypeVar("_T")


class _Step(Runnable[Any, _T]):
    """A graph node (or conditional edge) with a sync and an async implementation.

    LangGraph runs a plain ``def`` node on asyncio's default thread pool under ``ainvoke``
    (a few threads, each held for a whole model call) and refuses an ``async def`` node
    under ``invoke``; this runs ``func`` for ``invoke``/``stream`` and awaits ``afunc`` for
    ``ainvoke``/``astream``. Unlike ``RunnableLambda`` it adds no tracing layer of its own
    (LangGraph already traces every node) and inspects no signature per call. Both
    functions take ``(state, config)``; LangGraph sets the run's config context, so
    ``get_runtime()`` works inside them.
    """

    def __init__(
        self,
        name: str,
        func: Callable[[Any, RunnableConfig], _T],
        afunc: Callable[[Any, RunnableConfig], Awaitable[_T]] | None = None,
    ) -> None:
        self.name = name
        self._func = func
        self._afunc = afunc

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> _T:
        """Run the sync implementation."""
        return self._func(input, config if config is not None else ensure_config())

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None,
                      **kwargs: Any) -> _T:
        """Await the async implementation (a pure step runs inline, never in a thread)."""
        config = config if config is not None else ensure_config()
        if self._afunc is None:
            return self._func(input, config)
        return await self._afunc(input, config)


def _node(
    name: str,
    func: Callable[[LATMState, RunnableConfig], dict[str, Any]],
    afunc: Callable[[LATMState, RunnableConfig], Awaitable[dict[str, Any]]],
) -> _Step[dict[str, Any]]:
    """A node doing I/O: ``func`` under ``invoke``, ``afunc`` under ``ainvoke``."""
    return _Step(name, func, afunc)


def _pure(name: str, func: Callable[[LATMState], _T]) -> _Step[_T]:
    """A node or edge that only computes (no I/O): run inline by ``invoke`` and ``ainvoke``."""
    return _Step(name, lambda state, _config: func(state))


def _route_info(outcome: Outcome, route: Route | None, tool: WrappedTool | None) -> dict[str, Any]:
    info: dict[str, Any] = {"outcome": outcome}
    if route is not None:
        info["route_score"] = route.score
        info["route_reason"] = route.reason
        info["candidates"] = [[t.name, s] for t, s in route.candidates[:3]]
    if tool is not None:
        info["tool"] = tool.name
        info["tool_version"] = tool.version
        info["tool_id"] = tool.tool_id
        info["task"] = tool.task
    return info


def _with_route(answer: Answer, outcome: Outcome, route: Route | None,
                tool: WrappedTool | None) -> Answer:
    metadata = {**answer.metadata, **_route_info(outcome, route, tool)}
    return answer.model_copy(update={"metadata": metadata})


def _maker_input(task: TaskSpec) -> dict[str, Any]:
    """Map LATM state to the tool-making graph's input (``MakerInput``: the task as JSON)."""
    return {"task": task.model_dump(mode="json")}


def _maker_output(result: Mapping[str, Any], task: TaskSpec) -> tuple[WrappedTool | None,
                                                                     ToolMakingError | None,
                                                                     Usage]:
    """Map the tool-making graph's output state to (tool, error, usage)."""
    from langchain_latm.maker import result_from_state

    usage = Usage.model_validate(result.get("usage") or {})
    try:
        tool = result_from_state(result, task)
    except ToolMakingError as exc:
        return None, exc, usage
    if not tool.usage.total_tokens and usage.total_tokens:
        tool = tool.model_copy(update={"usage": usage})
    return tool, None, usage


def build_latm_graph(
    *,
    maker_llm: BaseChatModel | None = None,
    user_llm: BaseChatModel | None = None,
    repository: ToolRepository | None = None,
    executor: SandboxExecutor | None = None,
    dispatcher: Dispatcher | None = None,
    fallback: Fallback = "none",
    max_attempts: int = 3,
    user_max_retries: int = 1,
    user_timeout: float = 5.0,
) -> StateGraph[LATMState, LATMContext, LATMInput, LATMOutput]:
    """Build (uncompiled) the end-to-end LATM graph: dispatch, make + store, use.

    Nodes: ``dispatch`` -> ``use_tool`` (cached tool) | ``make_tool`` (the tool-making graph
    from :func:`~langchain_latm.maker.build_maker_graph`, compiled and run as a subgraph)
    -> ``store_tool`` -> ``use_tool`` | ``no_tool`` (unknown, no demonstrations) |
    ``direct_answer`` (``fallback="direct"``).

    Args:
        maker_llm: Strong model that makes tools. If ``None``, taken per run from the context
            (``maker_model``) or ``$LATM_MAKER_MODEL`` — only needed when a tool is made.
        user_llm: Weak model that uses tools (else context ``user_model`` /
            ``$LATM_USER_MODEL``).
        repository: Tool repository (else context ``repo_path`` / ``$LATM_REPO`` /
            ``./.latm``).
        executor: Sandbox shared by maker and user (default: one ``SandboxExecutor``).
        dispatcher: Router over ``repository`` (default: ``Dispatcher(repository)``).
        fallback: What to do with an unknown question without demonstrations: ``"none"``
            (answer with outcome ``unknown``: supply demonstrations to make a tool) or
            ``"direct"`` (the maker model answers it directly, at strong-model cost).
        max_attempts: Tool-making attempts per stage (paper: 3).
        user_max_retries: Snippet retries of the tool user.
        user_timeout: Sandbox timeout of one tool-use snippet, in seconds.

    Returns:
        A ``StateGraph`` (state :class:`~langchain_latm.latm_state.LATMState`, context
        :class:`~langchain_latm.latm_state.LATMContext`); compile it with your checkpointer.
    """
    if fallback not in ("none", "direct"):
        raise ConfigurationError(f"fallback must be 'none' or 'direct', got {fallback!r}")
    res = _Resources(
        maker_llm=maker_llm,
        user_llm=user_llm,
        repository=repository,
        executor=executor,
        dispatcher=dispatcher,
        max_attempts=max_attempts,
        user_max_retries=user_max_retries,
        user_timeout=user_timeout,
    )

    # Every node (and conditional edge) is a RunnableLambda with a sync function for
    # `invoke`/`stream` and a coroutine for `ainvoke`/`astream`. A plain sync function would
    # make `ainvoke` run the node on asyncio's default thread pool (a few threads, each
    # blocked for a whole model call), and a plain coroutine would make `invoke` raise.

    # dispatch ----------------------------------------------------------------
    def _dispatch_start(state: LATMState, context: LATMContext | None) -> tuple[
            ToolRepository, TaskSpec | None, dict[str, Any] | None]:
        """Validate, resolve the task and, when the caller named one, its cached tool."""
        question = state.get("question") or ""
        if not question.strip():
            raise ConfigurationError("the LATM graph needs a non-empty 'question'")
        repo = res.repo(context)
        task = res.task(state.get("task"))
        if task is not None:
            tool = res.task_tool(repo, task.name)
            if tool is not None:
                route = Route(tool=tool, score=1.0, candidates=[(tool, 1.0)],
                              reason=f"caller named task {task.name!r}; cached tool found")
                return repo, task, _dispatch_update(task, route, "cached")
        return repo, task, None

    def _dispatch_finish(task: TaskSpec | None, route: Route,
                         spent: Usage | None) -> dict[str, Any]:
        if route.tool is not None and task is not None and route.tool.task != task.name:
            route = route.model_copy(update={
                "tool": None,
                "reason": f"caller named task {task.name!r} but the closest tool is for "
                          f"{route.tool.task!r}",
            })
        outcome: Outcome = "cached" if route.tool is not None else "unknown"
        update = _dispatch_update(task, route, outcome)
        if spent is not None:
            update["usage"] = {"dispatcher": spent}
        return update

    def dispatch(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        repo, task, done = _dispatch_start(state, _context())
        if done is not None:
            return done
        router = res.router(repo)
        before = getattr(router, "usage", None)
        route = router.route(state["question"])
        return _dispatch_finish(task, route, _usage_delta(before, getattr(router, "usage", None)))

    async def adispatch(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        context = _context()
        if state.get("task") is None:  # nothing to look up: stay on the event loop
            repo, task, done = _dispatch_start(state, context)
        else:  # loading a task file / reading the store: blocking I/O, off the loop
            repo, task, done = await asyncio.to_thread(_dispatch_start, state, context)
        if done is not None:
            return done
        router = res.router(repo)
        before = getattr(router, "usage", None)
        aroute = getattr(router, "aroute", None)
        if aroute is not None and inspect.iscoroutinefunction(aroute):
            route = await aroute(state["question"])
        else:
            route = await asyncio.to_thread(router.route, state["question"])
        return _dispatch_finish(task, route, _usage_delta(before, getattr(router, "usage", None)))

    def after_dispatch(state: LATMState) -> str:
        if state.get("tool") is not None:
            return "use_tool"
        task = state.get("task_spec")
        if task is not None and task.train and task.val:
            return "make_tool"
        return "direct_answer" if fallback == "direct" else "no_tool"

    # make + store ------------------------------------------------------------
    def _make_config(config: RunnableConfig) -> RunnableConfig:
        from langchain_latm.maker.graph import recursion_limit

        return {
            **config,
            "recursion_limit": max(int(config.get("recursion_limit") or 25),
                                   recursion_limit(max_propose_attempts=res.max_attempts,
                                                   max_verify_attempts=res.max_attempts)),
        }

    def _made(task: TaskSpec, result: Mapping[str, Any] | LATMError) -> dict[str, Any]:
        if isinstance(result, LATMError):
            logger.warning("tool making for %r failed: %s", task.name, result)
            return {"make_error": str(result), "make_error_type": type(result).__name__,
                    "outcome": "make_failed", "events": [f"make_tool: failed ({result})"]}
        tool, error, usage = _maker_output(result, task)
        if tool is None:
            assert error is not None
            return {"make_error": str(error), "make_error_type": "ToolMakingError",
                    "outcome": "make_failed", "usage": {"maker": usage},
                    "events": [f"make_tool: failed ({error})"]}
        return {"tool": tool, "outcome": "made", "usage": {"maker": usage},
                "events": [f"make_tool: made {tool.name} ({tool.verification.summary()})"]}

    def make_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        task = state["task_spec"]
        assert task is not None
        llm = res.llm("maker", _context())
        result: Mapping[str, Any] | LATMError
        try:
            result = res.maker_graph(llm).invoke(_maker_input(task), _make_config(config))
        except ModelUnavailableError:
            raise  # transient: the node's retry policy tries again
        except LATMError as exc:
            result = exc
        return _made(task, result)

    async def amake_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        task = state["task_spec"]
        assert task is not None
        llm = res.llm("maker", _context())
        maker = await asyncio.to_thread(res.maker_graph, llm)  # first use compiles it
        result: Mapping[str, Any] | LATMError
        try:
            result = await maker.ainvoke(_maker_input(task), _make_config(config))
        except ModelUnavailableError:
            raise  # transient: the node's retry policy tries again
        except LATMError as exc:
            result = exc
        return _made(task, result)

    def after_make(state: LATMState) -> str:
        return "store_tool" if state.get("tool") is not None else "make_failed"

    def _store(tool: WrappedTool, context: LATMContext | None) -> dict[str, Any]:
        repo = res.repo(context)
        stored = repo.add(tool)
        if not isinstance(stored, WrappedTool):
            stored = tool
        res.remember(repo, stored)
        return {"tool": stored, "tool_name": stored.name,
                "events": [f"store_tool: stored {stored.name} v{stored.version}"]}

    def store_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        tool = state["tool"]
        assert tool is not None
        return _store(tool, _context())

    async def astore_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        tool = state["tool"]
        assert tool is not None
        return await asyncio.to_thread(_store, tool, _context())  # embedding + Chroma write

    # use ---------------------------------------------------------------------
    def _use_args(state: LATMState) -> tuple[ToolUser, WrappedTool, str | None]:
        tool = state["tool"]
        assert tool is not None
        task = state.get("task_spec")
        return res.user(_context()), tool, task.name if task else None

    def use_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        user, tool, task = _use_args(state)
        answer = user.solve(state["question"], tool, task=task, config=config)
        return _use_update(state, answer)

    async def ause_tool(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        user, tool, task = _use_args(state)
        answer = await user.asolve(state["question"], tool, task=task, config=config)
        return _use_update(state, answer)

    # endings -----------------------------------------------------------------
    def no_tool(state: LATMState) -> dict[str, Any]:
        answer = Answer(
            ok=False,
            error_type="UnknownTask",
            error="no cached tool fits this question and no demonstrations were supplied: "
                  "pass task=TaskSpec(...) (or a BBH task name) to make one",
        )
        return {"answer": _with_route(answer, "unknown", state.get("route"), None),
                "outcome": "unknown", "events": ["no_tool: unknown, need demonstrations"]}

    def make_failed(state: LATMState) -> dict[str, Any]:
        answer = Answer(ok=False, error=state.get("make_error"),
                        error_type=state.get("make_error_type") or "ToolMakingError")
        return {"answer": _with_route(answer, "make_failed", state.get("route"), None),
                "outcome": "make_failed"}

    def _direct_messages(state: LATMState) -> tuple[BaseChatModel, str | None,
                                                        list[HumanMessage]]:
        llm = res.llm("maker", _context())
        prompt = DIRECT_ANSWER_PROMPT.format(question=state["question"])
        return llm, model_name(llm), [HumanMessage(prompt)]

    def _direct_update(state: LATMState, name: str | None,
                       reply: BaseMessage | ModelCallError) -> dict[str, Any]:
        if isinstance(reply, ModelCallError):
            answer = Answer(ok=False, error=str(reply), error_type="ModelCallError",
                            metadata={"role": reply.role, "model": reply.model})
            return {"answer": _with_route(answer, "direct", state.get("route"), None),
                    "outcome": "direct"}
        question = state["question"]
        task = state.get("task_spec")
        usage = Usage.from_message(reply, model=name)
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        found = _ANSWER_LINE.findall(text)
        raw = found[-1].strip() if found else text.strip().splitlines()[-1:] or [""]
        raw_text = raw if isinstance(raw, str) else raw[0]
        from langchain_latm.tasks import normalise_answer

        answer = Answer(
            answer=normalise_answer(raw_text, question=question,
                                    task=task.name if task else None),
            raw_answer=raw_text, ok=bool(raw_text), usage=usage, attempts=1,
            error=None if raw_text else "empty direct answer",
            error_type=None if raw_text else "EmptyAnswer",
        )
        return {"answer": _with_route(answer, "direct", state.get("route"), None),
                "outcome": "direct", "usage": {"maker": usage},
                "events": ["direct_answer: strong model answered without a tool"]}

    def direct_answer(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        llm, name, messages = _direct_messages(state)
        reply: BaseMessage | ModelCallError
        try:
            reply = invoke_with_role(llm, messages, role="maker", model=name, config=config)
        except ModelUnavailableError:
            raise
        except ModelCallError as exc:
            reply = exc
        return _direct_update(state, name, reply)

    async def adirect_answer(state: LATMState, config: RunnableConfig) -> dict[str, Any]:
        llm, name, messages = _direct_messages(state)
        reply: BaseMessage | ModelCallError
        try:
            reply = await ainvoke_with_role(llm, messages, role="maker", model=name,
                                            config=config)
        except ModelUnavailableError:
            raise
        except ModelCallError as exc:
            reply = exc
        return _direct_update(state, name, reply)

    builder: StateGraph[LATMState, LATMContext, LATMInput, LATMOutput] = StateGraph(
        LATMState, context_schema=LATMContext, input_schema=LATMInput, output_schema=LATMOutput
    )
    builder.add_node("dispatch", _node("dispatch", dispatch, adispatch))
    builder.add_node("make_tool", _node("make_tool", make_tool, amake_tool),
                     retry_policy=MODEL_RETRY_POLICY)
    builder.add_node("store_tool", _node("store_tool", store_tool, astore_tool))
    builder.add_node("use_tool", _node("use_tool", use_tool, ause_tool),
                     retry_policy=MODEL_RETRY_POLICY)
    builder.add_node("no_tool", _pure("no_tool", no_tool))
    builder.add_node("make_failed", _pure("make_failed", make_failed))
    targets = ["use_tool", "make_tool", "no_tool"]
    if fallback == "direct":
        builder.add_node("direct_answer", _node("direct_answer", direct_answer, adirect_answer),
                         retry_policy=MODEL_RETRY_POLICY)
        targets = ["use_tool", "make_tool", "direct_answer"]
        builder.add_edge("direct_answer", END)
    builder.add_edge(START, "dispatch")
    builder.add_conditional_edges("dispatch", _pure("after_dispatch", after_dispatch), targets)
    builder.add_conditional_edges("make_tool", _pure("after_make", after_make),
                                  ["store_tool", "make_failed"])
    builder.add_edge("store_tool", "use_tool")
    builder.add_edge("use_tool", END)
    builder.add_edge("no_tool", END)
    builder.add_edge("make_failed", END)
    return builder


def _usage_delta(before: Any, after: Any) -> Usage | None:
    """Usage a dispatcher spent on one route (its confirmation LLM), if any."""
    if not isinstance(before, Usage) or not isinstance(after, Usage) or after.calls <= before.calls:
        return None
    return Usage(input_tokens=after.input_tokens - before.input_tokens,
                 output_tokens=after.output_tokens - before.output_tokens,
                 calls=after.calls - before.calls, model=after.model)


def _dispatch_update(task: TaskSpec | None, route: Route, outcome: Outcome) -> dict[str, Any]:
    tool = route.tool
    return {
        "task_spec": task,
        "route": route,
        "tool": tool,
        "tool_name": tool.name if tool else None,
        "route_score": route.score,
        "route_reason": route.reason,
        "outcome": outcome,
        "events": [f"dispatch: {tool.name if tool else 'unknown'} "
                   f"(score {route.score:.3f}; {route.reason})"],
    }


def _use_update(state: LATMState, answer: Answer) -> dict[str, Any]:
    tool = state["tool"]
    outcome: Outcome = state.get("outcome") or "cached"
    if outcome not in ("cached", "made"):
        outcome = "cached"
    return {
        "answer": _with_route(answer, outcome, state.get("route"), tool),
        "outcome": outcome,
        "usage": {"user": answer.usage},
        "events": [f"use_tool: {tool.name if tool else '?'} -> "
                   f"{answer.answer if answer.ok else answer.error_type}"],
    }


class LATM:
    """LATM in one object: dispatch, make (strong model), store, use (weak model), cost.

    Args:
        maker_llm: Strong model that makes tools (the paper: GPT-4).
        user_llm: Weak model that uses them (the paper: GPT-3.5 Turbo).
        repository: Tool repository (default ``ToolRepository("./.latm")``, or
            ``$LATM_REPO``).
        executor: Sandbox shared by maker and user (default: a new ``SandboxExecutor``).
        dispatcher: Router (default ``Dispatcher(repository)``).
        fallback: ``"none"`` or ``"direct"`` for unknown questions without demonstrations
            (see :func:`build_latm_graph`).
        max_attempts: Tool-making attempts per stage.
        user_max_retries: Snippet retries of the tool user.
        checkpointer: Optional LangGraph checkpointer for the compiled graph.

    Example:
        >>> latm = LATM(maker_llm=gpt4, user_llm=gpt35, repository=ToolRepository("./.latm"))
        ...                                                   # doctest: +SKIP
        >>> latm.solve(question, task=load_bbh_task("word_sorting")).answer  # doctest: +SKIP

    A ``LATM`` is a context manager: :meth:`close` (or leaving the ``with`` block) closes
    the repository and sandbox it opened itself.
    """

    def __init__(
        self,
        maker_llm: BaseChatModel | None = None,
        user_llm: BaseChatModel | None = None,
        *,
        repository: ToolRepository | None = None,
        executor: SandboxExecutor | None = None,
        dispatcher: Dispatcher | None = None,
        fallback: Fallback = "none",
        max_attempts: int = 3,
        user_max_retries: int = 1,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        # what this object opened itself, and so closes in close()
        self._owned: list[ToolRepository | SandboxExecutor] = []
        if repository is None:
            from langchain_latm.repository import ToolRepository

            repository = ToolRepository(path=os.environ.get(ENV_REPO) or DEFAULT_REPO_PATH)
            self._owned.append(repository)
        if executor is None:
            from langchain_latm.sandbox import SandboxExecutor

            executor = SandboxExecutor()  # cheap: its worker starts on the first call
            self._owned.append(executor)
        if dispatcher is None:
            from langchain_latm.dispatcher import Dispatcher

            dispatcher = Dispatcher(repository)
        self.maker_llm = maker_llm
        self.user_llm = user_llm
        self.repository = repository
        self.executor = executor
        self.dispatcher = dispatcher
        self.max_attempts = max_attempts
        self.tracker = CostTracker()
        self._questions: list[tuple[str, str | None]] = []
        self._answered = 0
        self._lock = threading.Lock()
        self.graph: CompiledStateGraph[LATMState, LATMContext, LATMInput, LATMOutput] = (
            build_latm_graph(
                maker_llm=maker_llm,
                user_llm=user_llm,
                repository=repository,
                executor=executor,
                dispatcher=dispatcher,
                fallback=fallback,
                max_attempts=max_attempts,
                user_max_retries=user_max_retries,
            ).compile(checkpointer=checkpointer)
        )

    def close(self) -> None:
        """Close the repository and sandbox this object opened (given ones stay open)."""
        owned, self._owned = self._owned, []
        for resource in reversed(owned):
            resource.close()

    def __enter__(self) -> LATM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record(self, question: str, result: Mapping[str, Any]) -> Answer:
        for role, usage in (result.get("usage") or {}).items():
            if usage.calls or usage.total_tokens:
                self.tracker.record(role, usage)
        answer = result.get("answer")
        if not isinstance(answer, Answer):
            answer = Answer(ok=False, error="the LATM graph produced no answer",
                            error_type="NoAnswer")
        # The task of the tool used (recorded in the route metadata by the graph), for the
        # per-task cost estimates of cost_report(); no repository read per question.
        task = answer.metadata.get("task") if answer.tool is not None else None
        if not isinstance(task, str):
            task = None
        with self._lock:
            self._questions.append((question, task))
            if answer.metadata.get("outcome") in ("cached", "made"):
                self._answered += 1
        return answer

    def _failed(self, exc: LATMError) -> Answer:
        metadata: dict[str, Any] = {"outcome": "error"}
        if isinstance(exc, ModelCallError):
            metadata.update(role=exc.role, model=exc.model)
        logger.warning("LATM.solve failed: %s", exc)
        return Answer(ok=False, error=str(exc), error_type=type(exc).__name__,
                      metadata=metadata)

    def solve(self, question: str, *, task: TaskSpec | str | None = None,
              config: RunnableConfig | None = None) -> Answer:
        """Answer one question: a cached tool if one fits, else make one (if ``task`` given).

        Args:
            question: The question.
            task: The task it belongs to, with demonstrations (``TaskSpec``) or as a BBH task
                name; needed to make a tool when no cached tool fits.
            config: LangGraph run config (thread id for a checkpointer, callbacks...).

        Returns:
            The :class:`Answer`; ``answer.metadata`` holds the route: ``outcome``
            (``cached``/``made``/``unknown``/``make_failed``/``direct``), ``tool``,
            ``route_score``, ``route_reason``. Failures are failed answers, not exceptions
            (provider errors carry ``role`` and ``model``).
        """
        inputs: LATMInput = {"question": question, "task": task}
        try:
            result = self.graph.invoke(inputs, config)
        except LATMError as exc:
            return self._failed(exc)
        return self._record(question, result)

    async def asolve(self, question: str, *, task: TaskSpec | str | None = None,
                     config: RunnableConfig | None = None) -> Answer:
        """Async :meth:`solve`: every node is awaited (``aroute``, ``ainvoke``, ``arun``).

        Thousands of questions can be in flight on one event loop; none holds a thread
        while it waits for the model.
        """
        inputs: LATMInput = {"question": question, "task": task}
        try:
            result = await self.graph.ainvoke(inputs, config)
        except LATMError as exc:
            return self._failed(exc)
        return self._record(question, result)

    def solve_many(self, questions: list[str], *, task: TaskSpec | str | None = None,
                   max_concurrency: int = 8) -> list[Answer]:
        """Answer several questions concurrently (order kept; nothing dropped).

        Questions that need the same new tool may each make it when run concurrently;
        make the tool first (:meth:`make`) or solve one question before the batch.
        """
        if not questions:
            return []
        workers = max(1, min(max_concurrency, len(questions)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="latm") as pool:
            return list(pool.map(lambda q: self.solve(q, task=task), questions))

    async def asolve_many(self, questions: list[str], *, task: TaskSpec | str | None = None,
                          max_concurrency: int = 16) -> list[Answer]:
        """Async :meth:`solve_many`: at most ``max_concurrency`` questions in flight.

        Answers keep the order of ``questions``; failures are failed answers, never dropped.
        """
        semaphore = asyncio.Semaphore(max(1, max_concurrency))

        async def one(question: str) -> Answer:
            async with semaphore:
                return await self.asolve(question, task=task)

        return list(await asyncio.gather(*(one(q) for q in questions)))

    def make(self, task: TaskSpec | str) -> WrappedTool:
        """Make a verified tool for ``task`` with the maker model and store it.

        Args:
            task: A ``TaskSpec`` with train/val demonstrations, or a BBH task name.

        Returns:
            The stored tool (with its repository version).

        Raises:
            ToolMakingError: Attempts ran out (carries the transcript).
            ConfigurationError: No maker model.
        """
        spec = _coerce_task(task)
        assert spec is not None
        if self.maker_llm is None:
            raise ConfigurationError("LATM.make needs a maker_llm")
        from langchain_latm.maker import ToolMaker

        maker = ToolMaker(self.maker_llm, executor=self.executor,
                          max_attempts=self.max_attempts)
        tool = maker.make(spec)
        self.tracker.record("maker", tool.usage)
        stored = self.repository.add(tool)
        return stored if isinstance(stored, WrappedTool) else tool

    def tools(self) -> list[BaseTool]:
        """Every cached tool (latest versions) as a LangChain tool that runs in the sandbox."""
        from langchain_latm.tools import to_langchain_tool

        return [to_langchain_tool(t, executor=self.executor) for t in self.repository.list()]

    def cost_report(
        self,
        *,
        n: int | None = None,
        strong_model: str | None = None,
        weak_model: str | None = None,
        prices: PriceTable | None = None,
    ) -> CostReport:
        """Direct strong-model cost vs LATM cost for ``n`` questions, from this session's usage.

        Making cost is the recorded maker usage of every tool in the repository; the weak
        model's per-question cost is the mean measured tool-user usage of this session; the
        strong model's direct per-question cost is an *estimate* (question length plus a
        typical chain-of-thought answer), marked as such in the report.

        Args:
            n: Questions to compare for (default: questions solved in this session, >= 1).
            strong_model: Price the maker as this model (default: the maker's name if
                priced, else ``gpt-4``).
            weak_model: Price the user as this model (default: the user's name if priced,
                else ``gpt-3.5-turbo``).
            prices: Price table.
        """
        prices = prices or PriceTable()

        def pick(llm: BaseChatModel | None, default: str) -> str:
            name = model_name(llm) if llm is not None else None
            return name if name and prices.find(name) is not None else default

        strong = strong_model or pick(self.maker_llm, "gpt-4")
        weak = weak_model or pick(self.user_llm, "gpt-3.5-turbo")
        making = [t.usage for t in self.repository.list() if t.usage.total_tokens]
        user = self.tracker.usage_by_role().get("user", Usage())
        with self._lock:
            questions = list(self._questions)
            answered = self._answered
        per_q = Usage(
            input_tokens=user.input_tokens // max(1, answered),
            output_tokens=user.output_tokens // max(1, answered),
            calls=1,
        )
        by_task: dict[str | None, list[str]] = {}
        for question, task in questions or [("?", None)]:
            by_task.setdefault(task, []).append(question)
        estimates = [
            (_estimate_direct_usage(qs, cot_prompt=cot_prompt_for(t) if t else None), len(qs))
            for t, qs in by_task.items()
        ]
        total_q = sum(count for _, count in estimates)
        direct = Usage(
            input_tokens=round(sum(u.input_tokens * c for u, c in estimates) / total_q),
            output_tokens=round(sum(u.output_tokens * c for u, c in estimates) / total_q),
            calls=1,
        )
        return cost_report(
            making_usage=making,
            direct_usage_per_question=direct,
            weak_usage_per_question=per_q,
            n=n if n is not None else max(1, len(questions)),
            strong_model=strong,
            weak_model=weak,
            prices=prices,
            estimated=["direct"] + ([] if answered else ["user"]),
        )
