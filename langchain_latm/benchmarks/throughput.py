"""Offline throughput and framework-overhead benchmark (runs in CI, no provider needed).

Setup: the paper's recorded tool-making sessions are replayed through
:class:`~langchain_latm.maker.ToolMaker` into verified tools, stored in a fresh
:class:`~langchain_latm.repository.ToolRepository` (one per embedding measured); a
:class:`ScriptedChatModel` plays the tool user with a simulated latency per call (default
200 ms, an ``asyncio.sleep``: it costs no CPU). Each question goes through the real
pipeline: dispatcher (embedding + vector search + re-rank) → tool user → sandbox (warm
worker, fresh child per call) → normalisation.

The scripted user copies one of the routed tool's use-case snippets (it sees the tool in
its prompt), so every snippet runs in the sandbox but usually answers *another* question:
this measures plumbing and overhead, **not accuracy**.

Measured per embedding (``minilm``, ``hashing``, ``hybrid``), pipeline (``graph``: the whole
LATM graph through ``LATM.asolve``; ``components``: ``Dispatcher.aroute`` +
``ToolUser.asolve``) and concurrency level (1, 4, 16):

* questions/s against the ideal bound ``concurrency / latency`` (zero overhead);
* overhead per question = wall time − simulated model latency, split into dispatch, sandbox
  and the rest (graph bookkeeping, prompting, parsing, normalisation, event-loop waits);
* CPU time per question: this process (all threads) plus every descendant process (the
  sandbox worker and the per-call children it reaps), from ``getrusage`` and
  ``/proc/<pid>/stat``. CPU does not depend on how busy the shared machine is the way wall
  time does, and ``cpu_count / cpu per question`` bounds the throughput any concurrency can
  reach on this machine;
* the 1-minute load average around every level.

Plus the dispatcher alone per embedding (serial route: wall and CPU per question) and the
sandbox alone (serial vs 16 calls in flight, CPU per call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import platform
import re
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from langchain_latm.schemas import ExecutionResult, WrappedTool

if TYPE_CHECKING:
    from rich.console import Console

    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.testing import ScriptedChatModel

# Questions per level: 9 per caller at concurrency 16, so callers drift apart as real traffic
# does instead of arriving in four synchronised waves (64 did that, and its first and last
# waves dominated); 2 pipelines x (16 warm-up + 3 levels x 144) + 24 fit the 960 distinct
# test questions of the question tasks, so no question is asked twice of one repository.
DEFAULT_N = 144

__all__ = [
    "DEFAULT_N",
    "EMBEDDINGS",
    "PIPELINES",
    "QUESTION_TASKS",
    "RECORDED_TASKS",
    "CpuSnapshot",
    "DispatchCost",
    "LatencyStats",
    "LevelResult",
    "MakeResult",
    "SandboxConcurrency",
    "ThroughputReport",
    "arun_throughput_benchmark",
    "constant_answer_model",
    "cpu_snapshot",
    "main",
    "make_recorded_tools",
    "print_throughput_table",
    "run_throughput_benchmark",
    "snippet_copying_user",
]

RECORDED_TASKS: tuple[str, ...] = (
    "chinese_remainder_theorem",
    "dyck_languages",
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_five_objects",
    "word_sorting",
)
"""Tasks with a recorded tool-making session in ``shared/data/recorded``."""

QUESTION_TASKS: tuple[str, ...] = (
    "dyck_languages",
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_five_objects",
    "word_sorting",
)
"""Tasks whose test questions drive the throughput levels. The recorded Chinese-remainder
tool is a brute-force search (about 0.2 s of CPU per call, measured in ``tool_compute_ms``):
that is tool workload, not framework overhead, and 16 such calls at once saturate a 2-core
machine whatever the framework does, so its questions are left out by default (its tool is
still made and stored, so the dispatcher chooses among all five)."""

PIPELINES: tuple[str, ...] = ("graph", "components")
"""Pipelines measured: the whole LATM graph, and dispatcher + tool user called directly."""

EMBEDDINGS: tuple[str, ...] = ("minilm", "hashing", "hybrid")
"""Offline embeddings the dispatcher can be measured with (``--embedding``)."""

TARGET_EFFICIENCY_AT_16 = 0.8
TARGET_OVERHEAD_P50_MS = 10.0


class LatencyStats(BaseModel):
    """Distribution of a per-question duration, in milliseconds."""

    p50: float = 0.0
    p90: float = 0.0
    mean: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, values_s: Sequence[float]) -> LatencyStats:
        """Stats of durations given in seconds."""
        if not values_s:
            return cls()
        ms = sorted(v * 1000 for v in values_s)
        p90 = ms[min(len(ms) - 1, max(0, round(0.9 * len(ms)) - 1))]
        return cls(
            p50=statistics.median(ms), p90=p90, mean=statistics.fmean(ms), max=ms[-1]
        )


class LevelResult(BaseModel):
    """Throughput, overhead and CPU at one concurrency level.

    Attributes:
        pipeline: ``"graph"`` (the whole :class:`~langchain_latm.latm.LATM` graph through
            ``LATM.asolve``: dispatch node, tool-use node, state handling) or
            ``"components"`` (``Dispatcher.aroute`` and
            :class:`~langchain_latm.user.ToolUser` ``asolve`` called directly).
        embedding: The dispatcher's embedding (``minilm``, ``hashing``, ``hybrid``).
        concurrency: Questions in flight.
        n: Questions answered.
        wall_s: Wall-clock time for all ``n``.
        throughput_qps: ``n / wall_s``.
        ideal_qps: ``concurrency / latency`` (pure model latency, zero overhead).
        efficiency: ``throughput_qps / ideal_qps``.
        overhead_ms: Per-question wall time minus simulated model latency.
        dispatch_ms: Time in the dispatcher (embedding + search + re-rank, as awaited).
        sandbox_ms: Time in sandbox calls, as seen by the caller.
        other_ms: The rest of the overhead: the graph's own bookkeeping, prompt rendering,
            parsing, normalisation and event-loop waits behind other questions' CPU work.
        cpu_ms_per_question: CPU (user + system) per question of this process and all its
            descendants (sandbox worker and its per-call children); ``None`` where the OS
            does not expose it.
        cpu_main_ms_per_question: The part spent in this process (all its threads).
        cpu_sandbox_ms_per_question: The part spent in descendant processes.
        cpu_utilisation: CPU used / (wall x CPU count) during the level.
        loadavg_1m: 1-minute load average at the end of the level (other processes too).
        model_calls: Model calls made (retries included).
        routed_to_own_tool: Fraction of questions routed to their own task's tool.
        answered_ok: Fraction of questions whose snippet ran and produced an answer.
        correct_fraction: Fraction matching gold — NOT an accuracy: the scripted user copies
            a use-case snippet, usually of another question.
    """

    pipeline: str = "graph"
    embedding: str = "minilm"
    concurrency: int
    n: int
    wall_s: float
    throughput_qps: float
    ideal_qps: float
    efficiency: float
    overhead_ms: LatencyStats
    dispatch_ms: LatencyStats
    sandbox_ms: LatencyStats
    other_ms: LatencyStats
    cpu_ms_per_question: float | None = None
    cpu_main_ms_per_question: float | None = None
    cpu_sandbox_ms_per_question: float | None = None
    cpu_utilisation: float | None = None
    loadavg_1m: float | None = None
    model_calls: int
    routed_to_own_tool: float
    answered_ok: float
    correct_fraction: float


class MakeResult(BaseModel):
    """One replayed tool-making session."""

    task: str
    tool: str | None = None
    verified: bool = False
    seconds: float = 0.0
    error: str | None = None


class DispatchCost(BaseModel):
    """The dispatcher alone with one embedding: fresh questions routed one at a time.

    Attributes:
        embedding: Embedding name.
        embedding_id: The repository's recorded embedding id.
        threshold: The dispatcher's threshold for it.
        questions: Questions routed.
        route_p50_ms: Wall time of ``Dispatcher.route`` (p50).
        cpu_ms_per_route: Process CPU per route (all threads: ONNX runs its own).
        routed_to_own_tool: Fraction routed to their own task's tool (5 stored tools, 4
            question tasks: a plumbing check, not a routing-accuracy benchmark — see
            ``bench/results/dispatch.json``).
    """

    embedding: str
    embedding_id: str
    threshold: float
    questions: int
    route_p50_ms: float
    cpu_ms_per_route: float
    routed_to_own_tool: float


class SandboxConcurrency(BaseModel):
    """The sandbox alone: one tool call at a time vs ``concurrency`` at once."""

    calls: int
    concurrency: int
    serial_p50_ms: float
    concurrent_p50_ms: float
    concurrent_p90_ms: float
    concurrent_calls_per_s: float
    required_calls_per_s: float
    """Calls/s the pipeline needs at this concurrency: ``concurrency / latency``."""
    cpu_count: int
    cpu_ms_per_call: float | None = None
    """CPU per call, all processes (caller, worker, per-call child)."""


class ThroughputReport(BaseModel):
    """Everything the throughput benchmark measured (written to ``throughput.json``)."""

    n: int
    latency_s: float
    tasks: list[str]
    embeddings: list[str] = Field(default_factory=lambda: ["minilm"])
    levels: list[LevelResult] = Field(default_factory=list)
    makes: list[MakeResult] = Field(default_factory=list)
    dispatch: list[DispatchCost] = Field(default_factory=list)
    sandbox: SandboxConcurrency | None = None
    tool_compute_ms: dict[str, float] = Field(default_factory=dict)
    """Serial sandbox time (p50 ms) of each tool's use-case snippets: sandbox + tool work."""
    question_tasks: list[str] = Field(default_factory=list)
    targets: dict[str, Any] = Field(default_factory=dict)
    """Targets on the graph pipeline with the first embedding measured."""
    targets_by_embedding: dict[str, dict[str, Any]] = Field(default_factory=dict)
    findings: list[str] = Field(default_factory=list)
    machine: dict[str, Any] = Field(default_factory=dict)
    note: str = (
        "Offline: replayed makers, scripted tool user copying use-case snippets. Measures "
        "plumbing and overhead, NOT accuracy."
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def level(self, concurrency: int, pipeline: str = "graph",
              embedding: str | None = None) -> LevelResult | None:
        """The result of ``pipeline`` at ``concurrency`` (first embedding unless given)."""
        emb = embedding if embedding is not None else (
            self.embeddings[0] if self.embeddings else None)
        return next(
            (
                lv
                for lv in self.levels
                if lv.concurrency == concurrency and lv.pipeline == pipeline
                and (emb is None or lv.embedding == emb)
            ),
            None,
        )

    def write_json(self, path: str | Path) -> Path:
        """Write the report as JSON (creating the directory) and return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return out


# --------------------------------------------------------------------------- CPU


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds (user + system) at one instant.

    Attributes:
        main_s: This process, all threads.
        descendants_s: Every live descendant process (with the children each has reaped)
            plus the children this process has reaped; ``None`` without ``/proc``.
        at: ``time.perf_counter()`` when taken.
    """

    main_s: float
    descendants_s: float | None
    at: float

    @property
    def total_s(self) -> float | None:
        """Both parts (``None`` if descendants are unknown)."""
        return None if self.descendants_s is None else self.main_s + self.descendants_s


def _descendants_cpu_s() -> float | None:
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    tick = float(os.sysconf("SC_CLK_TCK"))
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        # after "pid (comm) ": state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        try:
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            cpu[pid] = sum(int(f) for f in fields[11:15]) / tick
        except (IndexError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total = 0.0
    stack = list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + reaped.ru_utime + reaped.ru_stime


def cpu_snapshot() -> CpuSnapshot:
    """CPU used so far by this process and by all its descendants (sandbox processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSnapshot(own.ru_utime + own.ru_stime, _descendants_cpu_s(), time.perf_counter())


# --------------------------------------------------------------------------- fakes


_USE_CASE = re.compile(r"Question:(.*?)\nSolution:\s*```python\n(.*?)```", re.DOTALL)


def _asked_question(prompt: str) -> str:
    """The new question of a tool-user prompt (its last ``Question: ... Solution:``)."""
    if "Question:" not in prompt:
        return ""
    tail = prompt.rsplit("Question:", 1)[1]
    return " ".join(tail.rsplit("Solution:", 1)[0].split())


def snippet_copying_user(
    tools: Sequence[WrappedTool] = (),
    *,
    latency_s: float = 0.2,
    model_name: str = "scripted-user",
) -> ScriptedChatModel:
    """A scripted tool-user model that answers with a use-case snippet of the prompted tool.

    It finds which tool the prompt shows (by its ``def <entrypoint>(`` among ``tools``, or,
    without ``tools``, the ``Question:/Solution:`` blocks of the prompt's use cases) and
    replies with a use-case snippet in a ```python block: the one whose question is the
    asked question when there is one (so use-case questions are answered correctly, an
    end-to-end check of sandbox, normalisation and scoring), otherwise the next one in turn.
    Such a snippet runs in the sandbox but is written for another question: use this model
    to measure plumbing and overhead, never accuracy.

    Args:
        tools: The tools that may appear in prompts (optional).
        latency_s: Simulated latency per call.
        model_name: Name reported in usage metadata.

    Returns:
        A :class:`~langchain_latm.testing.ScriptedChatModel`.
    """
    from langchain_latm.testing import ScriptedChatModel

    counters: dict[str, int] = {}
    lock = threading.Lock()

    def pick(key: str, snippets: Sequence[str]) -> str:
        with lock:
            i = counters.get(key, 0)
            counters[key] = i + 1
        return snippets[i % len(snippets)]

    def respond(messages: list[BaseMessage]) -> str:
        text = "\n".join(str(m.content) for m in messages)
        asked = _asked_question(text)
        for tool in tools:
            if f"def {tool.entrypoint}(" in text and tool.use_cases:
                for case in tool.use_cases:
                    if " ".join(case.question.split()) == asked:
                        return f"```python\n{case.snippet}\n```"
                snippet = pick(tool.name, [u.snippet for u in tool.use_cases])
                return f"```python\n{snippet}\n```"
        pairs = _USE_CASE.findall(text)
        for question, snippet in pairs:
            if " ".join(question.split()) == asked:
                return f"```python\n{snippet.strip()}\n```"
        if pairs:
            snippets = [snippet.strip() for _, snippet in pairs]
            return f"```python\n{pick(snippets[0], snippets)}\n```"
        return "I do not know which tool to use."

    return ScriptedChatModel(respond, latency_s=latency_s, model_name=model_name)


def constant_answer_model(
    reply: str = "So the answer is (A).", *, latency_s: float = 0.0,
    model_name: str = "scripted-baseline",
) -> ScriptedChatModel:
    """A scripted baseline model that always gives the same reply (offline plumbing runs).

    Args:
        reply: The reply to every prompt.
        latency_s: Simulated latency per call.
        model_name: Name reported in usage metadata.
    """
    from langchain_latm.testing import ScriptedChatModel

    return ScriptedChatModel([reply], cycle=True, latency_s=latency_s, model_name=model_name)


# --------------------------------------------------------------------------- timing


@dataclass
class _Timings:
    sandbox_s: float = 0.0
    sandbox_calls: int = 0
    dispatch_s: float = 0.0


_CURRENT: contextvars.ContextVar[_Timings | None] = contextvars.ContextVar(
    "latm_bench_timings", default=None
)


def _timed_executor(executor: SandboxExecutor) -> SandboxExecutor:
    """Wrap ``executor`` so each question's sandbox time is recorded (per asyncio task)."""
    original_arun = executor.arun
    original_run = executor.run

    def record(started: float) -> None:
        timings = _CURRENT.get()
        if timings is not None:
            timings.sandbox_s += time.perf_counter() - started
            timings.sandbox_calls += 1

    async def arun(code: str, snippet: str = "", timeout: float | None = None, *,
                   require_answer: bool | None = None) -> ExecutionResult:
        started = time.perf_counter()
        try:
            return await original_arun(code, snippet, timeout, require_answer=require_answer)
        finally:
            record(started)

    def run(code: str, snippet: str = "", timeout: float | None = None, *,
            require_answer: bool | None = None) -> ExecutionResult:
        started = time.perf_counter()
        try:
            return original_run(code, snippet, timeout, require_answer=require_answer)
        finally:
            record(started)

    executor.arun = arun  # type: ignore[method-assign]
    executor.run = run  # type: ignore[method-assign]
    return executor


def _timed_dispatcher(dispatcher: Any) -> Any:
    """Wrap ``dispatcher.route``/``aroute`` so each question's routing time is recorded."""
    original_route = dispatcher.route
    original_aroute = getattr(dispatcher, "aroute", None)

    def route(question: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_route(question, *args, **kwargs)
        finally:
            timings = _CURRENT.get()
            if timings is not None:
                timings.dispatch_s += time.perf_counter() - started

    dispatcher.route = route
    if original_aroute is not None:

        async def aroute(question: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original_aroute(question, *args, **kwargs)
            finally:
                timings = _CURRENT.get()
                if timings is not None:
                    timings.dispatch_s += time.perf_counter() - started

        dispatcher.aroute = aroute
    return dispatcher


# --------------------------------------------------------------------------- setup


def make_recorded_tools(
    tasks: Sequence[str] = RECORDED_TASKS,
    *,
    executor: SandboxExecutor | None = None,
    data_dir: str | Path | None = None,
) -> tuple[list[WrappedTool], list[MakeResult]]:
    """Replay the recorded sessions through :class:`~langchain_latm.maker.ToolMaker`.

    Args:
        tasks: Tasks with recorded sessions.
        executor: Sandbox for verification.
        data_dir: Data root.

    Returns:
        The verified tools and one :class:`MakeResult` per task (failures included).
    """
    from langchain_latm.errors import LATMError
    from langchain_latm.maker import ToolMaker
    from langchain_latm.tasks import load_bbh_task, recorded_session_path
    from langchain_latm.testing import ReplayChatModel

    tools: list[WrappedTool] = []
    results: list[MakeResult] = []
    for name in tasks:
        task = load_bbh_task(name, data_dir=data_dir)
        replay = ReplayChatModel.from_transcript(recorded_session_path(name, data_dir))
        started = time.perf_counter()
        try:
            tool = ToolMaker(replay, executor=executor).make(task)
        except LATMError as exc:
            results.append(MakeResult(task=name, seconds=time.perf_counter() - started,
                                      error=f"{type(exc).__name__}: {exc}"))
            continue
        results.append(MakeResult(task=name, tool=tool.name, verified=tool.verified,
                                  seconds=time.perf_counter() - started))
        tools.append(tool)
    return tools, results


def _questions(
    tasks: Sequence[str], n: int, data_dir: str | Path | None
) -> list[tuple[str, str, str]]:
    """``n`` ``(task, question, gold)`` triples interleaving the tasks' test splits."""
    from langchain_latm.tasks import load_bbh_task

    splits = [(t, load_bbh_task(t, data_dir=data_dir).test) for t in tasks]
    out: list[tuple[str, str, str]] = []
    i = 0
    while len(out) < n:
        for task, test in splits:
            if len(out) >= n:
                break
            demo = test[i % len(test)]
            out.append((task, demo.question, demo.answer))
        i += 1
    return out

@dataclass
class _QuestionResult:
    total_s: float
    model_calls: int
    dispatch_s: float
    sandbox_s: float
    routed_ok: bool
    answered: bool
    correct: bool


Solve = Callable[[str], Awaitable[Any]]
"""``async question -> Answer`` (the pipeline under test)."""


async def _run_level(
    questions: Sequence[tuple[str, str, str]],
    *,
    concurrency: int,
    solve: Solve,
    tool_tasks: dict[str, str],
) -> tuple[float, list[_QuestionResult]]:
    from langchain_latm.benchmarks.accuracy import score_answer

    semaphore = asyncio.Semaphore(concurrency)

    async def one(task: str, question: str, gold: str) -> _QuestionResult:
        async with semaphore:
            timings = _Timings()
            _CURRENT.set(timings)
            started = time.perf_counter()
            answer = await solve(question)
            total = time.perf_counter() - started
        return _QuestionResult(
            total_s=total,
            model_calls=answer.usage.calls,
            dispatch_s=timings.dispatch_s,
            sandbox_s=timings.sandbox_s,
            routed_ok=tool_tasks.get(answer.tool or "") == task,
            answered=bool(answer.ok),
            correct=score_answer(answer.answer, gold, question=question, task=task),
        )

    started = time.perf_counter()
    results = await asyncio.gather(*(one(t, q, g) for t, q, g in questions))
    return time.perf_counter() - started, list(results)


def _cpu_fields(before: CpuSnapshot, after: CpuSnapshot, n: int) -> dict[str, float | None]:
    wall = max(after.at - before.at, 1e-9)
    main = after.main_s - before.main_s
    fields: dict[str, float | None] = {
        "cpu_main_ms_per_question": 1000 * main / n if n else None,
        "cpu_sandbox_ms_per_question": None,
        "cpu_ms_per_question": None,
        "cpu_utilisation": None,
    }
    if before.descendants_s is not None and after.descendants_s is not None and n:
        sandbox = after.descendants_s - before.descendants_s
        fields["cpu_sandbox_ms_per_question"] = 1000 * sandbox / n
        fields["cpu_ms_per_question"] = 1000 * (main + sandbox) / n
        fields["cpu_utilisation"] = (main + sandbox) / (wall * (os.cpu_count() or 1))
    return fields


def _level_result(
    pipeline: str,
    embedding: str,
    concurrency: int,
    wall_s: float,
    results: Sequence[_QuestionResult],
    latency_s: float,
    cpu: dict[str, float | None],
) -> LevelResult:
    n = len(results)
    overhead = [r.total_s - r.model_calls * latency_s for r in results]
    other = [o - r.dispatch_s - r.sandbox_s for o, r in zip(overhead, results, strict=True)]
    throughput = n / wall_s if wall_s > 0 else 0.0
    ideal = concurrency / latency_s if latency_s > 0 else float("inf")
    return LevelResult(
        pipeline=pipeline,
        embedding=embedding,
        concurrency=concurrency,
        n=n,
        wall_s=wall_s,
        throughput_qps=throughput,
        ideal_qps=ideal,
        efficiency=throughput / ideal if ideal and ideal != float("inf") else 0.0,
        overhead_ms=LatencyStats.of(overhead),
        dispatch_ms=LatencyStats.of([r.dispatch_s for r in results]),
        sandbox_ms=LatencyStats.of([r.sandbox_s for r in results]),
        other_ms=LatencyStats.of(other),
        loadavg_1m=_loadavg(),
        model_calls=sum(r.model_calls for r in results),
        routed_to_own_tool=sum(r.routed_ok for r in results) / n if n else 0.0,
        answered_ok=sum(r.answered for r in results) / n if n else 0.0,
        correct_fraction=sum(r.correct for r in results) / n if n else 0.0,
        **cpu,
    )


async def _sandbox_concurrency(
    executor: SandboxExecutor, tool: WrappedTool, *, concurrency: int, latency_s: float,
    rounds: int = 4,
) -> SandboxConcurrency:
    snippet = tool.use_cases[0].snippet if tool.use_cases else ""
    serial: list[float] = []
    before = cpu_snapshot()
    for _ in range(max(8, concurrency)):
        started = time.perf_counter()
        await executor.arun(tool.code, snippet, timeout=10.0)
        serial.append(time.perf_counter() - started)
    after = cpu_snapshot()

    async def timed() -> float:
        started = time.perf_counter()
        await executor.arun(tool.code, snippet, timeout=10.0)
        return time.perf_counter() - started

    concurrent: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        concurrent += await asyncio.gather(*(timed() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    stats = LatencyStats.of(concurrent)
    cpu_total = (
        after.total_s - before.total_s
        if after.total_s is not None and before.total_s is not None else None
    )
    return SandboxConcurrency(
        calls=len(concurrent),
        concurrency=concurrency,
        serial_p50_ms=LatencyStats.of(serial).p50,
        concurrent_p50_ms=stats.p50,
        concurrent_p90_ms=stats.p90,
        concurrent_calls_per_s=len(concurrent) / wall if wall > 0 else 0.0,
        required_calls_per_s=concurrency / latency_s if latency_s > 0 else 0.0,
        cpu_count=os.cpu_count() or 1,
        cpu_ms_per_call=1000 * cpu_total / len(serial) if cpu_total is not None else None,
    )


def _loadavg() -> float | None:
    """The 1-minute load average (``None`` where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


async def _tool_compute_ms(executor: SandboxExecutor, tool: WrappedTool) -> float:
    """Serial p50 (ms) of running each use-case snippet of ``tool`` in the sandbox."""
    durations: list[float] = []
    for case in tool.use_cases or []:
        started = time.perf_counter()
        await executor.arun(tool.code, case.snippet, timeout=10.0)
        durations.append(time.perf_counter() - started)
    return LatencyStats.of(durations).p50


def _dispatch_cost(
    embedding: str, dispatcher: Any, questions: Sequence[tuple[str, str, str]],
    tool_tasks: dict[str, str],
) -> DispatchCost:
    """Route fresh questions one at a time: wall p50 and process CPU per route."""
    durations: list[float] = []
    own = 0
    cpu_started = time.process_time()
    for task, question, _ in questions:
        started = time.perf_counter()
        route = dispatcher.route(question)
        durations.append(time.perf_counter() - started)
        own += route.tool is not None and tool_tasks.get(route.tool.name) == task
    cpu = time.process_time() - cpu_started
    n = max(1, len(questions))
    return DispatchCost(
        embedding=embedding,
        embedding_id=str(getattr(dispatcher.repository, "embedding_id", "")),
        threshold=float(dispatcher.threshold),
        questions=len(questions),
        route_p50_ms=LatencyStats.of(durations).p50,
        cpu_ms_per_route=1000 * cpu / n,
        routed_to_own_tool=own / n,
    )


def _targets(report: ThroughputReport, embedding: str) -> dict[str, Any]:
    levels = [lv for lv in report.levels if lv.pipeline == "graph" and lv.embedding == embedding]
    if not levels:
        levels = [lv for lv in report.levels if lv.embedding == embedding]
    if not levels:
        return {}
    top = max(levels, key=lambda lv: lv.concurrency)
    base = min(levels, key=lambda lv: lv.concurrency)
    return {
        "pipeline": top.pipeline,
        "embedding": embedding,
        "efficiency_at_16": TARGET_EFFICIENCY_AT_16,
        "overhead_p50_ms": TARGET_OVERHEAD_P50_MS,
        "concurrency_top": top.concurrency,
        "efficiency_measured": top.efficiency,
        "overhead_p50_measured_ms": base.overhead_ms.p50,
        "overhead_p50_at_top_ms": top.overhead_ms.p50,
        "cpu_ms_per_question": base.cpu_ms_per_question,
        "efficiency_met": top.efficiency >= TARGET_EFFICIENCY_AT_16,
        "overhead_met": base.overhead_ms.p50 <= TARGET_OVERHEAD_P50_MS,
    }


def _findings(report: ThroughputReport, embedding: str) -> list[str]:
    """Explain the numbers of one embedding: which target holds, and where the time goes."""
    out: list[str] = []
    cpus = report.machine.get("cpu_count") or 1
    for pipeline in ("graph", "components"):
        levels = [lv for lv in report.levels
                  if lv.pipeline == pipeline and lv.embedding == embedding]
        if not levels:
            continue
        top = max(levels, key=lambda lv: lv.concurrency)
        base = min(levels, key=lambda lv: lv.concurrency)
        ideal_wall = top.n * report.latency_s / top.concurrency
        line = (
            f"[{embedding}/{pipeline}] concurrency {top.concurrency}: "
            f"{top.throughput_qps:.1f} q/s of an ideal {top.ideal_qps:.1f} "
            f"({100 * top.efficiency:.1f}%; wall {top.wall_s:.2f} s vs {ideal_wall:.2f} s). "
            f"Overhead p50 {base.overhead_ms.p50:.1f} ms at concurrency {base.concurrency} "
            f"(dispatch {base.dispatch_ms.p50:.1f}, sandbox {base.sandbox_ms.p50:.1f}, rest "
            f"{base.other_ms.p50:.1f}), {top.overhead_ms.p50:.1f} ms at {top.concurrency}."
        )
        if base.cpu_ms_per_question:
            bound = 1000 * cpus / base.cpu_ms_per_question
            line += (
                f" CPU {base.cpu_ms_per_question:.1f} ms per question "
                f"({base.cpu_main_ms_per_question or 0:.1f} in-process, "
                f"{base.cpu_sandbox_ms_per_question or 0:.1f} sandbox processes): at most "
                f"{bound:.0f} q/s on {cpus} idle CPU(s) at any concurrency"
                + (f" (< the {top.ideal_qps:.0f} q/s ideal)." if bound < top.ideal_qps else ".")
            )
        out.append(line)
    graph = report.level(1, "graph", embedding)
    comp = report.level(1, "components", embedding)
    if graph is not None and comp is not None:
        extra = graph.other_ms.p50 - comp.other_ms.p50
        out.append(
            f"[{embedding}] The LATM graph itself costs {extra:.1f} ms p50 per question over "
            "calling dispatcher + tool user directly "
            f"(rest {graph.other_ms.p50:.1f} vs {comp.other_ms.p50:.1f} ms at concurrency 1)."
        )
    return out


def _machine_findings(report: ThroughputReport) -> list[str]:
    out: list[str] = []
    for cost in report.dispatch:
        out.append(
            f"Dispatcher alone with {cost.embedding} ({cost.embedding_id}): route p50 "
            f"{cost.route_p50_ms:.1f} ms, {cost.cpu_ms_per_route:.1f} ms CPU per fresh "
            f"question, {100 * cost.routed_to_own_tool:.0f}% routed to their own tool."
        )
    if report.sandbox is not None:
        s = report.sandbox
        cpu = f", {s.cpu_ms_per_call:.1f} ms CPU per call" if s.cpu_ms_per_call else ""
        out.append(
            f"Sandbox alone on {s.cpu_count} CPU(s): {s.serial_p50_ms:.1f} ms p50 per call "
            f"serially{cpu}; {s.concurrent_p50_ms:.1f} ms p50 with {s.concurrency} at once, "
            f"capacity {s.concurrent_calls_per_s:.0f} calls/s vs "
            f"{s.required_calls_per_s:.0f} needed at this concurrency."
        )
    if report.tool_compute_ms:
        costs = ", ".join(f"{k} {v:.1f}" for k, v in sorted(report.tool_compute_ms.items()))
        out.append(f"Sandbox time per call incl. tool work (serial p50 ms): {costs}.")
    cpus = report.machine.get("cpu_count") or 1
    loads = [lv.loadavg_1m for lv in report.levels if lv.loadavg_1m is not None]
    loads += [v for k, v in report.machine.items()
              if k.startswith("loadavg") and isinstance(v, float)]
    if loads and max(loads) > 0.5 * cpus:
        out.append(
            f"Shared machine: 1-minute load average {min(loads):.1f}-{max(loads):.1f} on "
            f"{cpus} CPU(s) during the run (other processes competed for the CPUs): wall "
            "times and efficiencies are pessimistic; the CPU ms per question are the "
            "load-independent measure."
        )
    return out


async def arun_throughput_benchmark(
    *,
    n: int = DEFAULT_N,
    concurrencies: Sequence[int] = (1, 4, 16),
    latency_s: float = 0.2,
    tasks: Sequence[str] = RECORDED_TASKS,
    question_tasks: Sequence[str] | None = QUESTION_TASKS,
    data_dir: str | Path | None = None,
    executor: SandboxExecutor | None = None,
    pipelines: Sequence[str] = PIPELINES,
    embeddings: Sequence[str] | None = None,
    sandbox_check: bool = True,
    dispatch_questions: int = 24,
) -> ThroughputReport:
    """Run the offline throughput benchmark (async). See :func:`run_throughput_benchmark`."""
    from langchain_latm.dispatcher import Dispatcher
    from langchain_latm.embeddings import DEFAULT_EMBEDDING, make_embeddings
    from langchain_latm.latm import LATM
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.tasks import load_bbh_task
    from langchain_latm.user import ToolUser

    if n < 1 or not concurrencies or min(concurrencies) < 1 or latency_s <= 0:
        raise ValueError("need n >= 1, concurrencies >= 1 and latency_s > 0")
    unknown = [p for p in pipelines if p not in PIPELINES]
    if unknown or not pipelines:
        raise ValueError(f"pipelines must be among {list(PIPELINES)}, got {list(pipelines)}")
    names = list(embeddings) if embeddings else [DEFAULT_EMBEDDING]
    bad = [e for e in names if e not in EMBEDDINGS]
    if bad:
        raise ValueError(f"embeddings must be among {list(EMBEDDINGS)}, got {bad}")
    executor = _timed_executor(executor or SandboxExecutor())
    report = ThroughputReport(
        n=n,
        latency_s=latency_s,
        tasks=list(tasks),
        embeddings=names,
        machine={
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_1m_start": _loadavg(),
        },
    )
    tools, report.makes = await asyncio.to_thread(
        make_recorded_tools, tasks, executor=executor, data_dir=data_dir
    )
    if not tools:
        report.findings.append("no tool could be made from the recorded sessions")
        return report
    tool_tasks = {t.name: t.task for t in tools}
    asked = [t.task for t in tools if question_tasks is None or t.task in question_tasks]
    if not asked:
        raise ValueError(f"no tool made for any of the question tasks {question_tasks}")
    report.question_tasks = asked
    # Fresh questions: the repository caches the embeddings of questions it has seen and
    # real traffic is new questions, so no question is asked twice of one repository. Each
    # embedding gets its own repository (and caches), so every embedding sees the same
    # question sequence.
    warmup = max(concurrencies)
    needed = len(pipelines) * (warmup + n * len(concurrencies)) + dispatch_questions
    pool = _questions(asked, needed, data_dir)
    available = sum(len(load_bbh_task(t, data_dir=data_dir).test) for t in asked)
    if needed > available:
        report.findings.append(
            f"only {available} distinct test questions for {needed} asks per embedding: some "
            "repeat (the repository's query-embedding cache then makes dispatch look cheaper)"
        )
    llm = snippet_copying_user(tools, latency_s=latency_s)

    with tempfile.TemporaryDirectory(prefix="latm-bench-") as tmp:
        for embedding in names:
            repo = ToolRepository(path=Path(tmp) / embedding,
                                  embeddings=make_embeddings(embedding))
            await asyncio.to_thread(repo.add_many, tools)
            dispatcher = _timed_dispatcher(Dispatcher(repo))
            cursor = 0

            def take(count: int) -> list[tuple[str, str, str]]:
                nonlocal cursor
                chunk = pool[cursor: cursor + count]
                cursor += count
                return chunk

            solvers: dict[str, Solve] = {}
            if "graph" in pipelines:
                latm = LATM(user_llm=llm, repository=repo, executor=executor,
                            dispatcher=dispatcher)
                solvers["graph"] = latm.asolve
            if "components" in pipelines:
                user = ToolUser(llm, executor=executor)

                async def components(question: str, dispatcher: Any = dispatcher,
                                     user: ToolUser = user) -> Any:
                    route = await dispatcher.aroute(question)
                    if route.tool is None:
                        from langchain_latm.schemas import Answer

                        return Answer(ok=False, error="no tool", error_type="NoTool")
                    return await user.asolve(question, route.tool, task=route.tool.task)

                solvers["components"] = components

            for pipeline, solve in solvers.items():
                # Warm-up (not measured): sandbox worker, embedding session, caches.
                await _run_level(take(warmup), concurrency=warmup, solve=solve,
                                 tool_tasks=tool_tasks)
                for level in concurrencies:
                    chunk = take(n)
                    before = cpu_snapshot()
                    wall, results = await _run_level(
                        chunk, concurrency=level, solve=solve, tool_tasks=tool_tasks
                    )
                    cpu = _cpu_fields(before, cpu_snapshot(), len(results))
                    report.levels.append(
                        _level_result(pipeline, embedding, level, wall, results, latency_s, cpu)
                    )
            report.dispatch.append(await asyncio.to_thread(
                _dispatch_cost, embedding, dispatcher, take(dispatch_questions), tool_tasks
            ))
        if sandbox_check:
            light = next((t for t in tools if t.task in asked), tools[0])
            report.sandbox = await _sandbox_concurrency(
                executor, light, concurrency=max(concurrencies), latency_s=latency_s
            )
            for tool in tools:
                report.tool_compute_ms[tool.task] = await _tool_compute_ms(executor, tool)

    report.machine["loadavg_1m_end"] = _loadavg()
    report.targets_by_embedding = {e: _targets(report, e) for e in names}
    report.targets = report.targets_by_embedding[names[0]]
    findings: list[str] = []
    for embedding in names:
        findings += _findings(report, embedding)
    report.findings = findings + _machine_findings(report) + report.findings
    return report


def run_throughput_benchmark(
    *,
    n: int = DEFAULT_N,
    concurrencies: Sequence[int] = (1, 4, 16),
    latency_s: float = 0.2,
    tasks: Sequence[str] = RECORDED_TASKS,
    question_tasks: Sequence[str] | None = QUESTION_TASKS,
    data_dir: str | Path | None = None,
    executor: SandboxExecutor | None = None,
    pipelines: Sequence[str] = PIPELINES,
    embeddings: Sequence[str] | None = None,
    out: str | Path | None = "bench/results/throughput.json",
    sandbox_check: bool = True,
    console: Console | None = None,
) -> ThroughputReport:
    """Measure questions/s, framework overhead and CPU offline; write JSON, print a table.

    Args:
        n: Questions per concurrency level (interleaved across the recorded tasks).
        concurrencies: Levels to measure.
        latency_s: Simulated latency of each tool-user model call.
        tasks: Recorded sessions to replay into tools (all are stored in the repository).
        question_tasks: Tasks whose test questions are asked (``None``: all made tools';
            default leaves out the CPU-heavy Chinese-remainder tool, see
            :data:`QUESTION_TASKS`).
        data_dir: Data root (``bbh/``, ``recorded/``).
        executor: Sandbox to use (default: a new ``SandboxExecutor``).
        pipelines: ``"graph"`` (the LATM graph; the targets are checked on it) and/or
            ``"components"`` (dispatcher + tool user directly).
        embeddings: Dispatcher embeddings to measure, each with its own repository
            (names from :data:`EMBEDDINGS`; default: the project's default embedding). The
            headline ``targets`` are those of the first.
        out: JSON file to write (``None``: do not write).
        sandbox_check: Also measure the sandbox alone at the highest concurrency.
        console: Print the table here (``None``: do not print).

    Returns:
        The :class:`ThroughputReport`.
    """
    report = asyncio.run(
        arun_throughput_benchmark(
            n=n, concurrencies=concurrencies, latency_s=latency_s, tasks=tasks,
            question_tasks=question_tasks, data_dir=data_dir, executor=executor,
            pipelines=pipelines, embeddings=embeddings, sandbox_check=sandbox_check,
        )
    )
    if out is not None:
        report.write_json(out)
    if console is not None:
        print_throughput_table(report, console)
    return report


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_throughput_table(report: ThroughputReport, console: Console,
                           baseline: ThroughputReport | None = None) -> None:
    """Print the throughput table (measured vs ideal), optional baseline rows, findings.

    Args:
        report: The measurements.
        console: Where to print.
        baseline: An earlier report (e.g. the previous ``throughput.json``) shown side by
            side as ``before`` rows.
    """
    from rich.table import Table

    table = Table(
        title=f"Offline throughput: n={report.n}, simulated model latency "
        f"{1000 * report.latency_s:.0f} ms/call (plumbing, NOT accuracy)"
    )
    for column in ("run", "embedding", "pipeline", "conc.", "q/s", "ideal", "efficiency",
                   "overhead p50 ms", "dispatch p50", "sandbox p50", "rest p50",
                   "CPU ms/q", "load 1m", "answered"):
        table.add_column(column, justify="right")
    rows: list[tuple[str, LevelResult]] = []
    if baseline is not None:
        rows += [("before", lv) for lv in baseline.levels]
    rows += [("now", lv) for lv in report.levels]
    for run, lv in rows:
        table.add_row(
            run, lv.embedding, lv.pipeline, str(lv.concurrency), f"{lv.throughput_qps:.2f}",
            f"{lv.ideal_qps:.0f}", f"{100 * lv.efficiency:.1f}%", f"{lv.overhead_ms.p50:.1f}",
            f"{lv.dispatch_ms.p50:.1f}", f"{lv.sandbox_ms.p50:.1f}", f"{lv.other_ms.p50:.1f}",
            _fmt(lv.cpu_ms_per_question), _fmt(lv.loadavg_1m), f"{100 * lv.answered_ok:.0f}%",
        )
    console.print(table)
    from rich.markup import escape

    for finding in report.findings:
        console.print(f"• {escape(finding)}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m langchain_latm.benchmarks.throughput``: run, write JSON, print the table.

    Returns:
        0 when both targets are met with the first embedding, 1 otherwise.
    """
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="questions per level")
    parser.add_argument("-c", "--concurrency", default="1,4,16",
                        help="comma-separated concurrency levels")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="simulated model latency, seconds per call")
    parser.add_argument("--embedding", default=None,
                        help=f"comma-separated dispatcher embeddings among {list(EMBEDDINGS)} "
                        "(default: the project default)")
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="bench/results/throughput.json")
    parser.add_argument("--baseline", default=None,
                        help="an earlier throughput.json to print side by side")
    args = parser.parse_args(argv)
    baseline = None
    if args.baseline and Path(args.baseline).is_file():
        baseline = ThroughputReport.model_validate_json(
            Path(args.baseline).read_text(encoding="utf-8"))
    report = run_throughput_benchmark(
        n=args.n,
        concurrencies=[int(x) for x in args.concurrency.split(",") if x.strip()],
        latency_s=args.latency,
        data_dir=args.data_dir,
        pipelines=[p for p in args.pipelines.split(",") if p],
        embeddings=[e for e in args.embedding.split(",") if e] if args.embedding else None,
        out=args.out,
    )
    print_throughput_table(report, Console(width=200), baseline=baseline)
    met = report.targets.get("efficiency_met") and report.targets.get("overhead_met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
