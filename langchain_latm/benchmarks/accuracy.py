"""Accuracy benchmark: LATM vs chain-of-thought vs direct strong-model answers, the paper's way.

For one task (a BBH file or a generated task) the harness

1. gets a tool: from the repository when a verified one for the task is stored, otherwise
   made by :class:`~langchain_latm.maker.ToolMaker` with the maker model (and stored);
2. answers the test split (the paper's split: examples 10+) with each method —
   ``latm`` (the tool user with the tool), ``cot`` (the user model with the 3-shot CoT
   prompt) and ``direct`` (the strong model with the same prompt);
3. scores every answer with the task's normaliser
   (:func:`langchain_latm.tasks.answers_match`), and appends one JSON line per question to
   a results file, so an interrupted run resumes where it stopped (a rerun skips every
   question already answered by the same method and model);
4. prices usage per role with :mod:`langchain_latm.cost` and compares ``C_direct`` with
   ``C_LATM`` (break-even ``n``).

Concurrency is bounded by an ``asyncio.Semaphore``; a rich progress bar shows running
accuracy and dollars.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_latm.cost import CostReport, PriceTable, cost_report, estimate_direct_usage
from langchain_latm.errors import (
    DataNotFoundError,
    LATMError,
    ModelCallError,
    PriceNotFoundError,
)
from langchain_latm.models import model_name
from langchain_latm.schemas import Demonstration, TaskSpec, Usage, WrappedTool

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from rich.console import Console

    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor

__all__ = [
    "METHODS",
    "AccuracyReport",
    "MethodSummary",
    "Outcome",
    "ResultRecord",
    "ResultStore",
    "ToolInfo",
    "arun_accuracy_benchmark",
    "compare_costs",
    "load_records",
    "mean_usage",
    "question_hash",
    "run_accuracy_benchmark",
    "run_method",
    "score_answer",
    "summarise",
]

logger = logging.getLogger(__name__)

Method = str
METHODS: tuple[str, ...] = ("latm", "cot", "direct")
"""The methods compared: tool user with the tool, user-model CoT, strong-model answers."""

_ROLE_OF_METHOD = {"latm": "user", "cot": "user", "direct": "strong"}


def question_hash(question: str) -> str:
    """Stable short hash of a question's text (part of the resume key)."""
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]


def score_answer(
    prediction: Any, gold: str, *, question: str = "", task: str | None = None
) -> bool:
    """Whether ``prediction`` is a correct answer to a question with gold answer ``gold``.

    Uses the task's normaliser (:func:`langchain_latm.tasks.answers_match`): option
    letters/texts, word lists, numbers and Dyck sequences compare the way the paper does.

    Args:
        prediction: The answer given (``None`` or empty means no answer: wrong).
        gold: The gold answer from the task file.
        question: The question text (needed to map option texts to letters).
        task: Task name, selecting the normaliser.
    """
    if prediction is None or (isinstance(prediction, str) and not prediction.strip()):
        return False
    from langchain_latm.tasks import answers_match

    return bool(answers_match(prediction, gold, question=question, task=task))


class ResultRecord(BaseModel):
    """One answered question, as appended to the results JSONL file.

    Attributes:
        method: ``"latm"``, ``"cot"``, ``"direct"`` (or a custom method name).
        task: Task key (the task name, or ``generated:<name>:...`` for generated tasks).
        index: Position of the question in the test split.
        question_hash: :func:`question_hash` of the question.
        question: The question text.
        gold: The gold answer.
        prediction: The answer given (normalised by the tool user for ``latm``; the raw
            extracted answer for the baselines), ``None`` when none was produced.
        correct: Verdict of :func:`score_answer`.
        status: ``"ok"`` when the method produced a verdict (right or wrong), ``"error"``
            when the model call itself failed (such questions are retried on resume).
        error: Why the method failed, when it did.
        model: Name of the model that answered.
        usage: Token usage of the question's model calls.
        cost_usd: Dollars of ``usage`` (``None`` when the model has no price).
        latency_s: Wall-clock time to answer the question.
        created_at: When the record was written.
    """

    model_config = ConfigDict(extra="allow")

    method: str
    task: str
    index: int
    question_hash: str
    question: str
    gold: str
    prediction: str | None = None
    correct: bool = False
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float = 0.0
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str, int, str, str]:
        """Resume key: ``(method, task, index, question_hash, model)``."""
        return (self.method, self.task, self.index, self.question_hash, self.model or "")


class ResultStore:
    """Append-only JSONL file of :class:`ResultRecord` s, safe to share between threads.

    A line that does not parse (for instance half-written when a run was killed) is
    skipped and counted in :attr:`bad_lines`; the next append starts on a fresh line.

    Args:
        path: The JSONL file (created with its directory on first append).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bad_lines = 0
        self._lock = threading.Lock()

    def records(self) -> list[ResultRecord]:
        """Every valid record in file order."""
        if not self.path.is_file():
            return []
        out: list[ResultRecord] = []
        bad = 0
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    out.append(ResultRecord.model_validate_json(line))
                except ValidationError as exc:
                    bad += 1
                    logger.warning(
                        "%s:%d: skipping unreadable result line (%s)",
                        self.path, number, exc.errors()[0].get("msg", "invalid"),
                    )
        self.bad_lines = bad
        return out

    def latest(self) -> dict[tuple[str, str, int, str, str], ResultRecord]:
        """The last record written for each key."""
        return {record.key: record for record in self.records()}

    def done_keys(self) -> set[tuple[str, str, int, str, str]]:
        """Keys whose latest record is final (``status == "ok"``); errors are retried."""
        return {key for key, record in self.latest().items() if record.status == "ok"}

    def append(self, record: ResultRecord) -> None:
        """Append one record (one line, flushed) to the file."""
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_newline = False
            if self.path.is_file() and self.path.stat().st_size > 0:
                with self.path.open("rb") as fh:
                    fh.seek(-1, 2)
                    needs_newline = fh.read(1) != b"\n"
            with self.path.open("a", encoding="utf-8") as fh:
                if needs_newline:
                    fh.write("\n")
                fh.write(line)
                fh.flush()


class Outcome(BaseModel):
    """What a method's solver returns for one question (before scoring)."""

    prediction: str | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    failed_call: bool = False
    """True when the model call failed (the record gets ``status="error"``, retried later)."""


Solver = Callable[[str], Awaitable[Outcome]]


def mean_usage(usages: Sequence[Usage]) -> Usage:
    """Mean usage of one question over ``usages`` (token counts rounded, ``calls`` averaged).

    Args:
        usages: One usage per question.

    Returns:
        ``Usage`` with rounded mean input/output tokens and the rounded mean call count
        (at least 1 when there was any call).
    """
    if not usages:
        return Usage()
    n = len(usages)
    calls = sum(u.calls for u in usages)
    models = {u.model for u in usages if u.model}
    return Usage(
        input_tokens=round(sum(u.input_tokens for u in usages) / n),
        output_tokens=round(sum(u.output_tokens for u in usages) / n),
        calls=max(1, round(calls / n)) if calls else 0,
        model=models.pop() if len(models) == 1 else None,
    )


class MethodSummary(BaseModel):
    """Accuracy, usage and dollars of one method on one task.

    Attributes:
        method: Method name.
        task: Task key.
        model: Model that answered.
        n: Questions with a final verdict.
        correct: Correct answers among them.
        errors: Questions whose model call failed (not in ``n``).
        accuracy: ``correct / n`` (0 when ``n == 0``).
        usage: Total token usage.
        cost_usd: Total dollars (``None`` when unpriced).
        latency_p50_s: Median time per question.
    """

    method: str
    task: str
    model: str | None = None
    n: int = 0
    correct: int = 0
    errors: int = 0
    accuracy: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_p50_s: float = 0.0


def summarise(records: Iterable[ResultRecord], *, method: str, task: str) -> MethodSummary:
    """Summarise the latest records of one method on one task.

    Args:
        records: Records (any methods/tasks; only matching ones count; for repeated keys
            the last one wins).
        method: Method to summarise.
        task: Task key to summarise.
    """
    latest: dict[tuple[str, str, int, str, str], ResultRecord] = {}
    for record in records:
        if record.method == method and record.task == task:
            latest[record.key] = record
    final = [r for r in latest.values() if r.status == "ok"]
    errors = sum(1 for r in latest.values() if r.status == "error")
    usage = Usage()
    for r in final:
        usage = usage + r.usage
    costs = [r.cost_usd for r in final]
    priced = bool(final) and all(c is not None for c in costs)
    correct = sum(1 for r in final if r.correct)
    models = {r.model for r in final if r.model}
    return MethodSummary(
        method=method,
        task=task,
        model=models.pop() if len(models) == 1 else (", ".join(sorted(models)) or None),
        n=len(final),
        correct=correct,
        errors=errors,
        accuracy=correct / len(final) if final else 0.0,
        usage=usage,
        cost_usd=sum(c for c in costs if c is not None) if priced else None,
        latency_p50_s=statistics.median([r.latency_s for r in final]) if final else 0.0,
    )


class _Pricer:
    """Prices usage as a configured model name, warning once per unpriced model."""

    def __init__(self, prices: PriceTable, price_as: str | None) -> None:
        self.prices = prices
        self.price_as = price_as
        self._warned: set[str] = set()

    def model_for(self, usage: Usage) -> str | None:
        return self.price_as or usage.model

    def __call__(self, usage: Usage) -> float | None:
        model = self.model_for(usage)
        price = self.prices.find(model)
        if price is None:
            key = str(model)
            if key not in self._warned:
                self._warned.add(key)
                logger.warning(
                    "no price for model %r: dollars are not reported (set $LATM_PRICES or "
                    "pass prices=/--prices, or price it as a known model)", model,
                )
            return None
        return price.cost(usage)


class _Progress:
    """Thin wrapper over rich's Progress with running accuracy and dollars per method."""

    def __init__(self, enabled: bool, console: Console | None) -> None:
        self._progress: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("acc {task.fields[acc]}"),
                TextColumn("{task.fields[dollars]}"),
                TimeElapsedColumn(),
                console=console,
            )

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    @staticmethod
    def _fields(correct: int, n: int, dollars: float | None) -> dict[str, str]:
        return {
            "acc": f"{100 * correct / n:5.1f}%" if n else "-",
            "dollars": f"${dollars:.4f}" if dollars is not None else "$n/a",
        }

    def add(
        self, description: str, total: int, *, correct: int, n: int, dollars: float | None
    ) -> Any:
        if self._progress is None:
            return None
        return self._progress.add_task(
            description, total=total, completed=n, **self._fields(correct, n, dollars)
        )

    def update(self, handle: Any, *, correct: int, n: int, dollars: float | None) -> None:
        if self._progress is None or handle is None:
            return
        self._progress.update(handle, advance=1, **self._fields(correct, n, dollars))


async def run_method(
    method: str,
    task_key: str,
    items: Sequence[tuple[int, Demonstration]],
    solver: Solver,
    store: ResultStore,
    *,
    model: str | None,
    task_name: str | None = None,
    concurrency: int = 4,
    pricer: Callable[[Usage], float | None] | None = None,
    progress: _Progress | None = None,
) -> list[ResultRecord]:
    """Answer ``items`` with ``solver`` (bounded concurrency), scoring and appending each.

    Questions already answered (same method, task, index, question hash and model) are
    skipped; their stored records are returned with the new ones.

    Args:
        method: Method name recorded.
        task_key: Task key recorded.
        items: ``(index, demonstration)`` pairs of the test split.
        solver: ``async question -> Outcome``.
        store: Where records are appended.
        model: Model name recorded (part of the resume key).
        task_name: Task name for the answer normaliser (default: ``task_key``).
        concurrency: Maximum questions in flight.
        pricer: ``usage -> dollars`` (``None`` when unpriced).
        progress: Progress display.

    Returns:
        The latest record of every item, in item order.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    existing = store.latest()
    results: dict[int, ResultRecord] = {}
    todo: list[tuple[int, Demonstration]] = []
    for index, demo in items:
        key = (method, task_key, index, question_hash(demo.question), model or "")
        record = existing.get(key)
        if record is not None and record.status == "ok":
            results[index] = record
        else:
            todo.append((index, demo))

    correct = sum(1 for r in results.values() if r.correct)
    done = len(results)
    dollars: float | None = 0.0
    for r in results.values():
        dollars = None if dollars is None or r.cost_usd is None else dollars + r.cost_usd
    handle = (
        progress.add(f"{task_key} · {method}", len(items), correct=correct, n=done,
                     dollars=dollars)
        if progress is not None
        else None
    )
    semaphore = asyncio.Semaphore(concurrency)
    lock = asyncio.Lock()

    async def one(index: int, demo: Demonstration) -> None:
        nonlocal correct, done, dollars
        async with semaphore:
            started = time.perf_counter()
            outcome = await solver(demo.question)
            elapsed = time.perf_counter() - started
        ok = not outcome.failed_call
        is_correct = ok and score_answer(
            outcome.prediction, demo.answer, question=demo.question, task=task_name or task_key
        )
        cost = pricer(outcome.usage) if pricer is not None else None
        record = ResultRecord(
            method=method,
            task=task_key,
            index=index,
            question_hash=question_hash(demo.question),
            question=demo.question,
            gold=demo.answer,
            prediction=outcome.prediction,
            correct=is_correct,
            status="ok" if ok else "error",
            error=outcome.error,
            model=model,
            usage=outcome.usage,
            cost_usd=cost,
            latency_s=elapsed,
        )
        store.append(record)
        async with lock:
            results[index] = record
            if ok:
                done += 1
                correct += int(is_correct)
                dollars = None if dollars is None or cost is None else dollars + cost
            if progress is not None:
                progress.update(handle, correct=correct, n=done, dollars=dollars)

    await asyncio.gather(*(one(index, demo) for index, demo in todo))
    return [results[index] for index, _ in items if index in results]


# --------------------------------------------------------------------------- solvers


def _latm_solver(
    user_llm: BaseChatModel,
    tool: WrappedTool,
    task_name: str,
    executor: SandboxExecutor | None,
) -> Solver:
    from langchain_latm.user import ToolUser

    user = ToolUser(user_llm, executor=executor)

    async def solve(question: str) -> Outcome:
        try:
            answer = await user.asolve(question, tool, task=task_name)
        except ModelCallError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}", failed_call=True)
        failed_call = answer.error_type in {"ModelCallError", "ModelUnavailableError"}
        return Outcome(
            prediction=answer.answer,
            usage=answer.usage,
            error=answer.error,
            failed_call=failed_call,
        )

    return solve


def _baseline_solver(baseline: Any) -> Solver:
    async def solve(question: str) -> Outcome:
        try:
            result = await baseline.aanswer(question)
        except ModelCallError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}", failed_call=True)
        error = None if result.answer is not None else "no final answer in the reply"
        return Outcome(prediction=result.answer, usage=result.usage, error=error)

    return solve


# --------------------------------------------------------------------------- report


class ToolInfo(BaseModel):
    """The tool the LATM method used."""

    name: str
    tool_id: str
    verified: bool
    source: Literal["made", "repository", "given"]
    maker_model: str | None = None
    making_usage: Usage = Field(default_factory=Usage)
    making_cost_usd: float | None = None
    making_s: float | None = None


class AccuracyReport(BaseModel):
    """Everything one accuracy run measured on one task.

    Attributes:
        task: Task name (normaliser / paper column).
        task_key: Key under which records are stored (differs for generated tasks).
        dataset: ``"bbh"`` or ``"generated"``.
        n_test: Size of the test split used.
        methods: One summary per method run.
        tool: The tool used by ``latm``.
        cost: ``C_direct`` vs ``C_LATM`` and break-even ``n`` (``None`` when unpriced).
        paper: The paper's published accuracies (percent) for this task, when it has them.
        models: Model names per role (``maker``, ``user``, ``strong``) and the names they
            were priced as (``*_priced_as``).
        offline: True for offline plumbing runs (scripted models): accuracies then measure
            the harness, NOT the method.
        notes: Caveats to print with the numbers.
        results_path: The JSONL file holding the per-question records.
    """

    task: str
    task_key: str
    dataset: Literal["bbh", "generated"] = "bbh"
    n_test: int
    methods: list[MethodSummary] = Field(default_factory=list)
    tool: ToolInfo | None = None
    cost: CostReport | None = None
    paper: dict[str, float | None] = Field(default_factory=dict)
    models: dict[str, str | None] = Field(default_factory=dict)
    offline: bool = False
    notes: list[str] = Field(default_factory=list)
    results_path: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def method(self, name: str) -> MethodSummary | None:
        """The summary of method ``name``, if it ran."""
        return next((m for m in self.methods if m.method == name), None)

    def write_json(self, path: str | Path) -> Path:
        """Write the report as JSON (creating the directory) and return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return out


def _find_stored_tool(repository: ToolRepository, task_name: str) -> WrappedTool | None:
    candidates: list[WrappedTool] = [
        t for t in repository.list() if t.task == task_name and t.verified
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (t.version, t.created_at))


def _acquire_tool(
    task: TaskSpec,
    *,
    tool: WrappedTool | None,
    maker_llm: BaseChatModel | None,
    repository: ToolRepository | None,
    executor: SandboxExecutor | None,
) -> tuple[WrappedTool, Literal["made", "repository", "given"], float | None]:
    if tool is not None:
        return tool, "given", None
    if repository is not None:
        stored = _find_stored_tool(repository, task.name)
        if stored is not None:
            return stored, "repository", None
    if maker_llm is None:
        raise LATMError(
            f"no tool for task {task.name!r}: pass a maker model, a tool, or a repository "
            "holding a verified tool for the task"
        )
    from langchain_latm.maker import ToolMaker

    started = time.perf_counter()
    made = ToolMaker(maker_llm, executor=executor).make(task)
    elapsed = time.perf_counter() - started
    if repository is not None:
        repository.add(made)
    return made, "made", elapsed


async def arun_accuracy_benchmark(
    task: TaskSpec,
    *,
    user_llm: BaseChatModel,
    maker_llm: BaseChatModel | None = None,
    strong_llm: BaseChatModel | None = None,
    cot_llm: BaseChatModel | None = None,
    tool: WrappedTool | None = None,
    repository: ToolRepository | None = None,
    executor: SandboxExecutor | None = None,
    methods: Sequence[str] = METHODS,
    results_path: str | Path = "bench/results/accuracy_results.jsonl",
    task_key: str | None = None,
    dataset: Literal["bbh", "generated"] = "bbh",
    cot_task: str | None = None,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    concurrency: int = 4,
    prices: PriceTable | None = None,
    strong_price_as: str | None = None,
    user_price_as: str | None = None,
    offline: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> AccuracyReport:
    """Run the accuracy benchmark on one task (async).

    Args:
        task: The task with its paper split (``load_bbh_task`` or ``generate_task``).
        user_llm: The cheap model: tool user (``latm``) and CoT baseline (``cot``).
        maker_llm: The strong model that makes the tool (unless one is found or given).
        strong_llm: The strong model for ``direct`` answers (default: ``maker_llm``).
        cot_llm: The model for the ``cot`` baseline (default: ``user_llm``).
        tool: Use this tool instead of making or loading one.
        repository: Load a verified tool for the task from here; store a newly made one.
        executor: Sandbox for tool making and tool use (default: the modules' default).
        methods: Which of ``latm``, ``cot``, ``direct`` to run.
        results_path: JSONL file the per-question records are appended to (resumable).
        task_key: Key for the records (default: the task name).
        dataset: ``"bbh"`` or ``"generated"`` (recorded in the report).
        cot_task: Task whose ``bbh-cot`` prompt the baselines use (default: the task name).
        data_dir: Data root for the few-shot prompts.
        limit: Answer only the first ``limit`` test questions.
        concurrency: Maximum questions in flight per method.
        prices: Price table (default: :class:`~langchain_latm.cost.PriceTable`).
        strong_price_as: Price the maker/direct usage as this model (default: the
            model's own name).
        user_price_as: Price the user's usage as this model (default: its own name).
        offline: Mark the report as an offline plumbing run.
        progress: Show a rich progress bar.
        console: Console for the progress bar.

    Returns:
        The :class:`AccuracyReport` (also derivable later from the JSONL file).

    Raises:
        LATMError: No tool could be obtained, or tool making failed
            (:class:`~langchain_latm.errors.ToolMakingError`).
        ValueError: Unknown method names or a bad ``concurrency``.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    prices = prices or PriceTable()
    key = task_key or task.name
    strong = strong_llm or maker_llm
    store = ResultStore(results_path)
    items = list(enumerate(task.test))
    if limit is not None:
        items = items[: max(0, limit)]
    notes: list[str] = []
    if offline:
        notes.append(
            "OFFLINE plumbing run: replayed maker, scripted user/baseline models. Accuracies "
            "measure the harness (sandbox, scoring, resumption), NOT LATM or the baselines."
        )

    user_model = model_name(user_llm)
    strong_model = model_name(strong) if strong is not None else None
    user_pricer = _Pricer(prices, user_price_as)
    strong_pricer = _Pricer(prices, strong_price_as)

    tool_info: ToolInfo | None = None
    used_tool: WrappedTool | None = None
    if "latm" in methods:
        acquired, source, making_s = await asyncio.to_thread(
            _acquire_tool,
            task,
            tool=tool,
            maker_llm=maker_llm,
            repository=repository,
            executor=executor,
        )
        used_tool = acquired
        tool_info = ToolInfo(
            name=acquired.name,
            tool_id=acquired.tool_id,
            verified=acquired.verified,
            source=source,
            maker_model=acquired.maker_model or model_name(maker_llm),
            making_usage=acquired.usage,
            making_cost_usd=strong_pricer(acquired.usage)
            if acquired.usage.calls or acquired.usage.total_tokens
            else None,
            making_s=making_s,
        )

    prompt = None
    if "cot" in methods or "direct" in methods:
        from langchain_latm.benchmarks.baselines import find_cot_prompt

        wanted = cot_task or task.name
        try:
            prompt = find_cot_prompt(wanted, data_dir)
        except DataNotFoundError as exc:
            notes.append(f"baselines skipped: {exc}")
        else:
            if prompt.task != wanted:
                notes.append(
                    f"baselines use the few-shot prompt of {prompt.task!r} (none for {wanted!r})"
                )

    all_records: list[ResultRecord] = []
    with _Progress(progress, console) as bar:
        for method in methods:
            if method == "latm":
                assert used_tool is not None
                solver = _latm_solver(user_llm, used_tool, task.name, executor)
                model, pricer = user_model, user_pricer
            elif prompt is None:
                continue
            elif method == "cot":
                from langchain_latm.benchmarks.baselines import CoTBaseline

                cot = cot_llm or user_llm
                solver = _baseline_solver(CoTBaseline(cot, task.name, prompt=prompt))
                model, pricer = model_name(cot), user_pricer
            else:
                if strong is None:
                    notes.append("direct skipped: no strong model given")
                    continue
                from langchain_latm.benchmarks.baselines import DirectBaseline

                solver = _baseline_solver(DirectBaseline(strong, task.name, prompt=prompt))
                model, pricer = strong_model, strong_pricer
            records = await run_method(
                method,
                key,
                items,
                solver,
                store,
                model=model,
                task_name=task.name,
                concurrency=concurrency,
                pricer=pricer,
                progress=bar,
            )
            all_records.extend(records)

    if store.bad_lines:
        notes.append(f"{store.bad_lines} unreadable line(s) in {store.path} were skipped")
    summaries = [
        summarise(all_records, method=m, task=key)
        for m in methods
        if any(r.method == m for r in all_records)
    ]
    report = AccuracyReport(
        task=task.name,
        task_key=key,
        dataset=dataset,
        n_test=len(items),
        methods=summaries,
        tool=tool_info,
        paper=_paper_cells(task.name),
        models={
            "maker": tool_info.maker_model if tool_info else model_name(maker_llm),
            "user": user_model,
            "strong": strong_model,
            "maker_priced_as": strong_pricer.model_for(tool_info.making_usage)
            if tool_info
            else strong_price_as,
            "user_priced_as": user_price_as or user_model,
            "strong_priced_as": strong_price_as or strong_model,
        },
        offline=offline,
        notes=notes,
        results_path=str(store.path),
    )
    report.cost = compare_costs(
        report, all_records, prompt_text=prompt.text if prompt else None, prices=prices,
        strong_price_as=strong_price_as or (tool_info.maker_model if tool_info else None)
        or strong_model,
        user_price_as=user_price_as or user_model,
    )
    return report


def _paper_cells(task: str) -> dict[str, float | None]:
    from langchain_latm.benchmarks.paper import PAPER_TASKS, paper_accuracy

    if task not in PAPER_TASKS:
        return {}
    return {
        "latm (gpt-4 maker, gpt-3.5-turbo user)": paper_accuracy(task, "latm", "gpt-3.5-turbo"),
        "cot (gpt-3.5-turbo)": paper_accuracy(task, "cot", "gpt-3.5-turbo"),
        "cot (gpt-4)": paper_accuracy(task, "cot", "gpt-4"),
        "latm (gpt-4 maker, gpt-4 user)": paper_accuracy(task, "latm", "gpt-4"),
    }


def compare_costs(
    report: AccuracyReport,
    records: Sequence[ResultRecord],
    *,
    prompt_text: str | None,
    prices: PriceTable,
    strong_price_as: str | None,
    user_price_as: str | None,
) -> CostReport | None:
    """``C_direct`` vs ``C_LATM`` from measured usage (direct usage estimated if not run)."""
    if report.tool is None or not strong_price_as or not user_price_as:
        return None
    latm = [r.usage for r in records if r.method == "latm" and r.status == "ok"]
    if not latm:
        return None
    estimated: list[str] = []
    direct = [r.usage for r in records if r.method == "direct" and r.status == "ok"]
    if direct:
        direct_per_question = mean_usage(direct)
    else:
        questions = [r.question for r in records if r.method == "latm"]
        direct_per_question = estimate_direct_usage(questions, cot_prompt=prompt_text)
        estimated.append("direct")
    if report.offline:
        estimated = ["direct", "maker", "user"]
    if not (report.tool.making_usage.calls or report.tool.making_usage.total_tokens):
        report.notes.append(
            f"tool {report.tool.name!r} has no recorded making usage (hand-written or made "
            "without usage metadata): C_LATM counts no making cost"
        )
    try:
        return cost_report(
            making_usage=[report.tool.making_usage],
            direct_usage_per_question=direct_per_question,
            weak_usage_per_question=mean_usage(latm),
            n=report.n_test,
            strong_model=strong_price_as,
            weak_model=user_price_as,
            prices=prices,
            estimated=estimated,
        )
    except PriceNotFoundError as exc:
        report.notes.append(f"cost comparison skipped: {exc}")
        return None


def run_accuracy_benchmark(task: TaskSpec, **kwargs: Any) -> AccuracyReport:
    """Synchronous :func:`arun_accuracy_benchmark` (same arguments).

    Args:
        task: The task with its paper split.
        **kwargs: See :func:`arun_accuracy_benchmark`.

    Returns:
        The :class:`AccuracyReport`.
    """
    return asyncio.run(arun_accuracy_benchmark(task, **kwargs))


def load_records(path: str | Path) -> list[ResultRecord]:
    """All records of a results JSONL file (convenience for notebooks)."""
    return ResultStore(path).records()


def records_to_json(records: Iterable[ResultRecord]) -> str:
    """Records as a JSON array (convenience for exports)."""
    return json.dumps([json.loads(r.model_dump_json()) for r in records], indent=2)
