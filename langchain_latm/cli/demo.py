"""``latm demo``: the whole LATM loop on BIG-Bench Hard, offline by default.

Without options nothing is sent to any model provider: the tools are made by *replaying*
the paper's recorded GPT-4 tool-making sessions (``shared/data/recorded/``) through the real
tool-making graph and sandbox, stored in an embedded Chroma repository, dispatched against
questions of the BBH test split (tasks with and without a tool), re-executed on their
verified use cases, and priced against answering every test question with the strong model.
With ``--user-model`` (and optionally ``--maker-model``/``--base-url``) it runs live and the
tool user answers test questions too.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from pydantic import BaseModel, Field
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from langchain_latm.cost import (
    PriceTable,
    break_even_n,
    cost_report,
    cot_prompt_for,
    estimate_direct_usage,
    estimate_tokens,
)
from langchain_latm.errors import LATMError, ToolMakingError
from langchain_latm.schemas import TaskSpec, Usage, WrappedTool
from langchain_latm.user_prompts import render_tool_user_prompt

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor

__all__ = ["DemoReport", "fail", "register", "run_demo"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

RECORDED_LABEL = (
    "Tool making is REPLAYED from recorded GPT-4 output (the LATM paper's released sessions, "
    "ctlllll/LLM-ToolMaker): no model is called, no network is used. The harness, sandbox, "
    "repository, embeddings and dispatcher are real."
)


# --------------------------------------------------------------------------- shared CLI bits


def fail(message: str, *, as_json: bool = False) -> NoReturn:
    """Print one clear error line (or a JSON error object) and exit with status 1."""
    if as_json:
        typer.echo(json.dumps({"error": message}))
    else:
        line = Text.assemble(("error: ", "bold red"), message.splitlines()[0] if message else "")
        Console(stderr=True, soft_wrap=True).print(line, highlight=False)
    raise typer.Exit(1)


@contextmanager
def cli_errors(*, as_json: bool = False) -> Iterator[None]:
    """Turn library and OS errors into one line on stderr and exit status 1 (no traceback)."""
    try:
        yield
    except typer.Exit:
        raise
    except (LATMError, OSError, ValueError) as exc:
        logger.debug("command failed", exc_info=True)
        fail(f"{type(exc).__name__}: {exc}" if not str(exc).strip() else str(exc), as_json=as_json)


def load_model(name: str, base_url: str | None) -> BaseChatModel:
    """A chat model from a CLI name (``init_chat_model`` name or served model name)."""
    from langchain_latm.models import load_chat_model

    return load_chat_model(name, base_url=base_url)


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# --------------------------------------------------------------------------- report model


class ToolRow(BaseModel):
    """One tool made in the demo."""

    task: str
    tool: str | None = None
    version: int | None = None
    source: str
    verified: bool = False
    verification: str = ""
    attempts: dict[str, int] = Field(default_factory=dict)
    maker_usage: Usage = Field(default_factory=Usage)
    maker_usage_estimated: bool = False
    make_seconds: float = 0.0
    use_cases_passed: int = 0
    use_cases_total: int = 0
    error: str | None = None


class RoutingRow(BaseModel):
    """Routing results for one task's test questions."""

    task: str
    has_tool: bool
    questions: int
    correct: int
    routed_to: dict[str, int] = Field(default_factory=dict)


class LiveRow(BaseModel):
    """Tool-user results for one task (live mode)."""

    task: str
    questions: int
    correct: int
    failed: int
    usage: Usage = Field(default_factory=Usage)


class CostRow(BaseModel):
    """Cost comparison for one task (or the total)."""

    task: str
    n: int
    making_dollars: float
    direct_dollars: float
    latm_dollars: float
    break_even_n: int | None
    c_strong: float
    c_weak: float


class DemoReport(BaseModel):
    """Everything ``latm demo`` measured (also its ``--json`` output)."""

    mode: str
    label: str
    repository: str
    tools: list[ToolRow] = Field(default_factory=list)
    routing: list[RoutingRow] = Field(default_factory=list)
    routing_known_accuracy: float | None = None
    routing_unknown_detection: float | None = None
    route_ms_per_question: float | None = None
    """Mean routing time per question (questions are routed in one batch per task)."""
    live: list[LiveRow] = Field(default_factory=list)
    cost: list[CostRow] = Field(default_factory=list)
    strong_model: str = "gpt-4"
    weak_model: str = "gpt-3.5-turbo"
    estimates: list[str] = Field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- steps


def transcript_usage(path: Path) -> Usage:
    """Estimated token usage of replaying a recorded chat session with a real model.

    Each assistant turn is one call whose input is the whole conversation before it (chat
    APIs resend history) and whose output is the turn itself. An assistant turn repeating
    the one right before it (the recorder's duplicate) is skipped.

    Args:
        path: The recorded session (JSON list of ``{"role", "content"}``).

    Returns:
        Usage with estimated token counts (see :func:`~langchain_latm.cost.estimate_tokens`).
    """
    messages = json.loads(path.read_text(encoding="utf-8"))
    history: list[str] = []
    usage = Usage()
    previous_assistant: str | None = None
    last_role = ""
    for message in messages:
        role, content = str(message.get("role")), str(message.get("content", ""))
        if role == "assistant":
            if last_role == "assistant" and content == previous_assistant:
                continue
            usage = usage + Usage(
                input_tokens=sum(estimate_tokens(h) for h in history),
                output_tokens=estimate_tokens(content),
                calls=1,
            )
            previous_assistant = content
        history.append(content)
        last_role = role
    return usage


def run_use_cases(tool: WrappedTool, executor: SandboxExecutor, task: TaskSpec) -> tuple[int, int]:
    """Re-run a tool's use cases in the sandbox; count those reproducing their gold answer."""
    from langchain_latm.tasks import answers_match

    gold_by_question = {d.question.strip(): d.answer for d in task.val + task.train}
    passed = 0
    for case in tool.use_cases:
        gold = case.answer or gold_by_question.get(case.question.strip())
        if gold is None:
            continue
        result = executor.run(tool.code, case.snippet, timeout=10.0)
        if result.ok and answers_match(result.answer, gold, question=case.question,
                                       task=tool.task):
            passed += 1
    return passed, len(tool.use_cases)


def make_tools(
    tasks: Sequence[str],
    *,
    data_dir: str | None,
    executor: SandboxExecutor,
    repository: ToolRepository,
    maker_llm: BaseChatModel | None,
    console: Console | None,
) -> tuple[list[ToolRow], dict[str, WrappedTool], dict[str, TaskSpec]]:
    """Make (replay or live), store and re-check one tool per task."""
    from langchain_latm.maker import ToolMaker
    from langchain_latm.tasks import load_bbh_task, recorded_session_path
    from langchain_latm.testing import ReplayChatModel

    rows: list[ToolRow] = []
    tools: dict[str, WrappedTool] = {}
    specs: dict[str, TaskSpec] = {}
    for name in tasks:
        spec = load_bbh_task(name, data_dir)
        specs[name] = spec
        if maker_llm is None:
            path = recorded_session_path(name, data_dir)
            llm: BaseChatModel = ReplayChatModel.from_transcript(path)
            source = f"replay of recorded GPT-4 session ({path.name})"
        else:
            path = None
            llm = maker_llm
            source = f"live: {getattr(maker_llm, 'model_name', None) or type(maker_llm).__name__}"
        row = ToolRow(task=name, source=source)
        if console is not None:
            console.print(f"  making a tool for [bold]{name}[/] ({source}) ...", highlight=False)
        try:
            tool, seconds = _timed(lambda llm=llm, spec=spec: ToolMaker(  # type: ignore[misc]
                llm, executor=executor).make(spec))
        except ToolMakingError as exc:
            row.error = f"{exc} (stage {exc.stage})"
            rows.append(row)
            continue
        row.make_seconds = seconds
        if path is not None:
            # a replay has no real token counts: they are estimated (~4 chars per token)
            row.maker_usage_estimated = True
            if not tool.usage.total_tokens:
                tool = tool.model_copy(update={"usage": transcript_usage(path)})
        stored = repository.add(tool)
        tools[name] = stored
        row.tool, row.version = stored.name, stored.version
        row.verified = stored.verified
        row.verification = stored.verification.summary()
        row.attempts = dict(stored.verification.attempts)
        row.maker_usage = stored.usage
        row.use_cases_passed, row.use_cases_total = run_use_cases(stored, executor, spec)
        rows.append(row)
    return rows, tools, specs


def route_questions(
    repository: ToolRepository,
    *,
    data_dir: str | None,
    tools: dict[str, WrappedTool],
    per_task: int,
) -> tuple[list[RoutingRow], list[float]]:
    """Dispatch the first ``per_task`` test questions of every BBH task; score the routes."""
    from langchain_latm.dispatcher import Dispatcher
    from langchain_latm.tasks import list_bbh_tasks, load_bbh_task

    dispatcher = Dispatcher(repository)
    rows: list[RoutingRow] = []
    latencies: list[float] = []
    for name in list_bbh_tasks(data_dir):
        spec = load_bbh_task(name, data_dir, max_test=per_task)
        has_tool = name in tools
        row = RoutingRow(task=name, has_tool=has_tool, questions=0, correct=0)
        questions = [demo.question for demo in spec.test[:per_task]]
        routes, seconds = _timed(lambda qs=questions: dispatcher.route_many(qs))  # type: ignore[misc]
        latencies.extend([seconds * 1000 / max(1, len(questions))] * len(questions))
        for route in routes:
            routed = route.tool.task if route.tool is not None else "unknown"
            row.questions += 1
            row.routed_to[routed] = row.routed_to.get(routed, 0) + 1
            if (has_tool and routed == name) or (not has_tool and route.tool is None):
                row.correct += 1
        rows.append(row)
    return rows, latencies


def answer_live(
    user_llm: BaseChatModel,
    *,
    tools: dict[str, WrappedTool],
    specs: dict[str, TaskSpec],
    executor: SandboxExecutor,
    limit: int,
) -> list[LiveRow]:
    """Answer up to ``limit`` test questions per tool with the tool user (live model)."""
    from langchain_latm.tasks import answers_match
    from langchain_latm.user import ToolUser

    user = ToolUser(user_llm, executor=executor)
    rows: list[LiveRow] = []
    for name, tool in tools.items():
        tests = specs[name].test[:limit]
        answers = user.batch([d.question for d in tests], tool, max_concurrency=4)
        usage = Usage()
        correct = failed = 0
        for demo, answer in zip(tests, answers, strict=True):
            usage = usage + answer.usage
            if not answer.ok:
                failed += 1
            elif answers_match(answer.answer, demo.answer, question=demo.question, task=name):
                correct += 1
        rows.append(LiveRow(task=name, questions=len(tests), correct=correct, failed=failed,
                            usage=usage))
    return rows


def _mean_usage(usages: Sequence[Usage]) -> Usage:
    if not usages:
        return Usage(calls=1)
    return Usage(
        input_tokens=round(sum(u.input_tokens for u in usages) / len(usages)),
        output_tokens=round(sum(u.output_tokens for u in usages) / len(usages)),
        calls=1,
    )


def estimate_user_usage(tool: WrappedTool, questions: Sequence[str]) -> Usage:
    """Estimated weak-model usage per question: the exact tool-user prompt + a snippet."""
    if not questions:
        return Usage(calls=1)
    prompt = sum(estimate_tokens(render_tool_user_prompt(tool, q)) for q in questions)
    snippets = [estimate_tokens(f"```python\n{c.snippet}\n```") for c in tool.use_cases] or [60]
    return Usage(
        input_tokens=round(prompt / len(questions)),
        output_tokens=round(sum(snippets) / len(snippets)),
        calls=1,
    )


def compare_costs(
    *,
    tools: dict[str, WrappedTool],
    specs: dict[str, TaskSpec],
    live: Sequence[LiveRow],
    data_dir: str | None,
    prices: PriceTable,
    strong_model: str,
    weak_model: str,
) -> tuple[list[CostRow], list[str]]:
    """Per-task and total ``C_direct`` vs ``C_LATM`` over each task's whole test split."""
    live_by_task = {row.task: row for row in live}
    rows: list[CostRow] = []
    estimates = {"direct"}
    all_direct: list[tuple[Usage, int]] = []
    all_weak: list[tuple[Usage, int]] = []
    for name, tool in tools.items():
        questions = [d.question for d in specs[name].test]
        n = len(questions)
        direct = estimate_direct_usage(questions, cot_prompt=cot_prompt_for(name, data_dir))
        measured = live_by_task.get(name)
        if measured is not None and measured.questions:
            weak = Usage(input_tokens=measured.usage.input_tokens // measured.questions,
                         output_tokens=measured.usage.output_tokens // measured.questions,
                         calls=1)
        else:
            weak = estimate_user_usage(tool, questions)
            estimates.add("user")
        report = cost_report(making_usage=[tool.usage], direct_usage_per_question=direct,
                             weak_usage_per_question=weak, n=n, strong_model=strong_model,
                             weak_model=weak_model, prices=prices)
        rows.append(CostRow(task=name, n=n, making_dollars=report.c_make,
                            direct_dollars=report.direct_total, latm_dollars=report.latm_total,
                            break_even_n=report.break_even_n, c_strong=report.c_strong,
                            c_weak=report.c_weak))
        all_direct.append((direct, n))
        all_weak.append((weak, n))
    if rows:
        n_total = sum(r.n for r in rows)
        making = sum(r.making_dollars for r in rows)
        direct_total = sum(r.direct_dollars for r in rows)
        latm_total = sum(r.latm_dollars for r in rows)
        c_strong = direct_total / n_total if n_total else 0.0
        c_weak = (latm_total - making) / n_total if n_total else 0.0
        rows.append(CostRow(
            task="TOTAL", n=n_total, making_dollars=making, direct_dollars=direct_total,
            latm_dollars=latm_total, c_strong=c_strong, c_weak=c_weak,
            break_even_n=break_even_n(k=len(tools), c_make=making / len(tools),
                                      c_strong=c_strong, c_weak=c_weak),
        ))
    if any(t.metadata.get("usage_estimated") for t in tools.values()):
        estimates.add("maker")
    return rows, sorted(estimates)


def run_demo(
    *,
    data_dir: str | None = None,
    repo_path: str | None = None,
    tasks: Sequence[str] | None = None,
    per_task: int = 5,
    maker_llm: BaseChatModel | None = None,
    user_llm: BaseChatModel | None = None,
    limit: int = 20,
    strong_model: str = "gpt-4",
    weak_model: str = "gpt-3.5-turbo",
    prices: PriceTable | None = None,
    console: Console | None = None,
) -> DemoReport:
    """Run the demo and return its :class:`DemoReport` (the CLI prints it).

    Args:
        data_dir: Data root holding ``bbh/``, ``bbh-cot/`` and ``recorded/``.
        repo_path: Tool repository path (default: a temporary directory, removed after).
        tasks: Tasks to make tools for (default: every recorded session).
        per_task: Test questions per BBH task to dispatch.
        maker_llm: Live maker model (default: replay the recorded sessions).
        user_llm: Live tool-user model (default: none; no test question is answered).
        limit: Test questions per tool answered by a live tool user.
        strong_model: Model pricing the maker and the direct answers.
        weak_model: Model pricing the tool user.
        prices: Price table.
        console: Where progress lines go (``None``: silent).
    """
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.tasks import list_recorded_sessions

    start = time.perf_counter()
    prices = prices or PriceTable()
    prices.get(strong_model)
    prices.get(weak_model)
    names = list(tasks) if tasks else list_recorded_sessions(data_dir)
    if not names:
        raise LATMError("no recorded tool-making sessions found: pass --data-dir")
    mode = "replay" if maker_llm is None else "live maker"
    if user_llm is not None:
        mode += " + live user"
    tmp = None if repo_path else tempfile.TemporaryDirectory(prefix="latm-demo-")
    try:
        path = repo_path or str(Path(tmp.name) / "repo")  # type: ignore[union-attr]
        repository = ToolRepository(path=path)
        executor = SandboxExecutor()
        try:
            if console is not None:
                console.print(Panel(RECORDED_LABEL if maker_llm is None else
                                    "Live run: models are called through their providers.",
                                    title="latm demo", border_style="cyan"))
            tool_rows, tools, specs = make_tools(names, data_dir=data_dir, executor=executor,
                                                 repository=repository, maker_llm=maker_llm,
                                                 console=console)
            if console is not None:
                console.print("  dispatching BBH test questions ...")
            routing, latencies = route_questions(repository, data_dir=data_dir, tools=tools,
                                                 per_task=per_task)
            live: list[LiveRow] = []
            if user_llm is not None:
                if console is not None:
                    console.print("  answering test questions with the tool user ...")
                live = answer_live(user_llm, tools=tools, specs=specs, executor=executor,
                                   limit=limit)
            cost, estimates = compare_costs(tools=tools, specs=specs, live=live,
                                            data_dir=data_dir, prices=prices,
                                            strong_model=strong_model, weak_model=weak_model)
        finally:
            executor.close()
            repository.close()
        if any(r.maker_usage_estimated for r in tool_rows):
            estimates = sorted({*estimates, "maker"})
        known = [r for r in routing if r.has_tool]
        unknown = [r for r in routing if not r.has_tool]

        def ratio(rows: Sequence[RoutingRow]) -> float | None:
            total = sum(r.questions for r in rows)
            return sum(r.correct for r in rows) / total if total else None

        return DemoReport(
            mode=mode,
            label=RECORDED_LABEL if maker_llm is None else "live",
            repository=path if repo_path else f"{path} (temporary)",
            tools=tool_rows,
            routing=routing,
            routing_known_accuracy=ratio(known),
            routing_unknown_detection=ratio(unknown),
            route_ms_per_question=sum(latencies) / len(latencies) if latencies else None,
            live=live,
            cost=cost,
            strong_model=strong_model,
            weak_model=weak_model,
            estimates=estimates,
            seconds=time.perf_counter() - start,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()


# --------------------------------------------------------------------------- rendering


def _dollars(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def render_report(report: DemoReport, console: Console) -> None:
    """Print the demo's tables."""
    made = Table(title="Tools made" + (" (recorded GPT-4 output, replayed)"
                                       if report.mode.startswith("replay") else ""))
    for col in ("task", "tool", "verified", "attempts (p/v/w)", "use cases re-run", "maker tokens",
                "seconds"):
        made.add_column(col, justify="right" if col in ("maker tokens", "seconds") else "left")
    for row in report.tools:
        if row.error:
            made.add_row(row.task, "-", "[red]failed[/]", "-", "-", "-", "-")
            continue
        attempts = " ".join(f"{k[0]}{v}" for k, v in row.attempts.items()) or "-"
        tokens = f"{row.maker_usage.input_tokens:,} in / {row.maker_usage.output_tokens:,} out"
        if row.maker_usage_estimated:
            tokens += " (est.)"
        made.add_row(row.task, f"{row.tool} v{row.version}",
                     "[green]yes[/]" if row.verified else "[red]no[/]", attempts,
                     f"{row.use_cases_passed}/{row.use_cases_total} reproduce gold",
                     tokens, f"{row.make_seconds:.1f}")
    console.print(made)

    routing = Table(title="Routing BBH test questions (offline embeddings, no LLM)")
    for col in ("task", "tool cached?", "questions", "correct", "routed to"):
        routing.add_column(col)
    for r in report.routing:
        routed = ", ".join(f"{k} x{v}" for k, v in sorted(r.routed_to.items(),
                                                          key=lambda kv: -kv[1]))
        routing.add_row(r.task, "yes" if r.has_tool else "no -> expect unknown",
                        str(r.questions), f"{r.correct}/{r.questions}", routed)
    console.print(routing)
    console.print(
        f"Routing: known tasks routed to their tool [bold]{_pct(report.routing_known_accuracy)}"
        f"[/], unknown tasks detected [bold]{_pct(report.routing_unknown_detection)}[/], "
        f"mean route time {report.route_ms_per_question or 0:.1f} ms/question (batched)",
        highlight=False)

    if report.live:
        live = Table(title="Tool user on test questions (live)")
        for col in ("task", "questions", "correct", "failed", "user tokens"):
            live.add_column(col)
        for lr in report.live:
            live.add_row(lr.task, str(lr.questions), f"{lr.correct}/{lr.questions}",
                         str(lr.failed), f"{lr.usage.total_tokens:,}")
        console.print(live)

    cost = Table(title=f"Cost over each task's test split: strong = {report.strong_model}, "
                       f"weak = {report.weak_model}")
    for col in ("task", "n", "making (once)", "direct n x strong", "LATM", "saved",
                "break-even n"):
        cost.add_column(col, justify="left" if col == "task" else "right")
    for c in report.cost:
        style = "bold" if c.task == "TOTAL" else ""
        cost.add_row(c.task, str(c.n), _dollars(c.making_dollars), _dollars(c.direct_dollars),
                     _dollars(c.latm_dollars), _dollars(c.direct_dollars - c.latm_dollars),
                     "never" if c.break_even_n is None else str(c.break_even_n), style=style)
    console.print(cost)
    notes = {
        "direct": "direct cost is an ESTIMATE (the task's 3-shot CoT prompt + question in, "
                  "the prompt's mean worked-answer length out; ~4 chars/token)",
        "user": "tool-user cost is an ESTIMATE (the exact tool-user prompt in, a use-case "
                "sized snippet out); run with --user-model to measure it",
        "maker": "maker tokens of the replayed sessions are ESTIMATED (~4 chars/token over "
                 "the prompts sent, history included, and the recorded replies)",
    }
    for key in report.estimates:
        if key in notes:
            console.print(f"[dim]* {notes[key]}[/]", highlight=False)
    console.print(f"[dim]finished in {report.seconds:.1f} s; repository: {report.repository}[/]",
                  highlight=False)


# --------------------------------------------------------------------------- command


def register(app: typer.Typer) -> None:
    """Register ``latm demo`` on ``app``."""

    @app.command("demo")
    def demo(
        data_dir: str | None = typer.Option(
            None, "--data-dir", help="Data root with bbh/, bbh-cot/, recorded/ "
            "(default: $LATM_DATA_DIR, then ../shared/data)."),
        repo: str | None = typer.Option(
            None, "--repo", help="Keep the tool repository here (default: a temp dir)."),
        task: list[str] = typer.Option(  # noqa: B008
            [], "--task", help="Only these recorded tasks (repeatable)."),
        per_task: int = typer.Option(5, "--per-task", min=1,
                                     help="Test questions per BBH task to dispatch."),
        maker_model: str | None = typer.Option(
            None, "--maker-model", help="Make tools live with this model instead of replaying."),
        user_model: str | None = typer.Option(
            None, "--user-model", help="Answer test questions live with this tool-user model."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="OpenAI-compatible server for the live models."),
        limit: int = typer.Option(20, "--limit", min=1,
                                  help="Live mode: test questions per tool."),
        strong_model: str = typer.Option("gpt-4", "--strong-model",
                                         help="Price the maker / direct answers as this."),
        weak_model: str = typer.Option("gpt-3.5-turbo", "--weak-model",
                                       help="Price the tool user as this."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Make tools from the paper's recorded GPT-4 sessions, dispatch, verify, price. Offline."""
        console = Console(stderr=True) if as_json else Console()
        with cli_errors(as_json=as_json):
            if base_url and not (maker_model or user_model):
                fail("--base-url needs --user-model and/or --maker-model (the served model "
                     "names)", as_json=as_json)
            maker_llm = load_model(maker_model, base_url) if maker_model else None
            user_llm = load_model(user_model, base_url) if user_model else None
            report = run_demo(
                data_dir=data_dir, repo_path=repo, tasks=task or None, per_task=per_task,
                maker_llm=maker_llm, user_llm=user_llm, limit=limit,
                strong_model=strong_model, weak_model=weak_model,
                console=None if as_json else console,
            )
            if as_json:
                typer.echo(report.model_dump_json(indent=2))
            else:
                render_report(report, console)
