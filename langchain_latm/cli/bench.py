"""``latm bench``: accuracy, throughput, sandbox and dispatch benchmarks.

- ``latm bench accuracy --task word_sorting`` — make (or load) the tool, answer the test split
  with the tool user, the CoT baseline and the strong model; resumable JSONL; report + plots.
- ``latm bench accuracy --generated word_sorting --n 1000`` — the same on generated instances.
- ``latm bench throughput`` — offline questions/s and framework overhead vs the ideal bound.
- ``latm bench sandbox`` / ``latm bench dispatch`` — the sandbox and dispatcher benchmarks.
- ``latm bench report`` — rebuild ``report.md`` and the plots from the JSON results.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks: accuracy vs CoT and the strong model, throughput, sandbox, dispatch.",
    no_args_is_help=True,
)

_DEFAULT_OUT = Path("bench/results")


def _console() -> Any:
    from rich.console import Console

    return Console()


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _load_reports(out_dir: Path) -> list[Any]:
    from langchain_latm.benchmarks.accuracy import AccuracyReport

    reports = []
    for path in sorted(out_dir.glob("accuracy_*.json")):
        try:
            reports.append(AccuracyReport.model_validate_json(path.read_text(encoding="utf-8")))
        except ValueError as exc:
            typer.secho(f"skipping {path}: {exc}", fg=typer.colors.YELLOW, err=True)
    return reports


def _write_report(out_dir: Path) -> Path:
    from langchain_latm.benchmarks.report import write_report

    throughput_path = out_dir / "throughput.json"
    throughput = (
        json.loads(throughput_path.read_text(encoding="utf-8"))
        if throughput_path.is_file()
        else None
    )
    return write_report(_load_reports(out_dir), out_dir, throughput=throughput)


def _print_accuracy(reports: list[Any], console: Any) -> None:
    from rich.table import Table

    from langchain_latm.benchmarks.report import cost_per_question

    offline = any(r.offline for r in reports)
    title = "Accuracy (%) — ours vs the paper"
    if offline:
        title += " — OFFLINE plumbing run: NOT a measure of LATM"
    table = Table(title=title)
    for column in ("task", "n", "LATM", "CoT", "direct", "paper LATM", "paper CoT 3.5",
                   "paper CoT GPT-4", "$/q LATM", "$/q direct", "break-even n"):
        table.add_column(column, justify="right")

    def acc(r: Any, method: str) -> str:
        m = r.method(method)
        return "–" if m is None or not m.n else f"{100 * m.accuracy:.1f}"

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    def money(value: float | None) -> str:
        return "n/a" if value is None else f"${value:.5f}"

    for r in reports:
        p = r.paper
        cost = r.cost
        table.add_row(
            r.task_key, str(r.n_test), acc(r, "latm"), acc(r, "cot"), acc(r, "direct"),
            pct(p.get("latm (gpt-4 maker, gpt-3.5-turbo user)")),
            pct(p.get("cot (gpt-3.5-turbo)")), pct(p.get("cot (gpt-4)")),
            money(cost_per_question(r, "latm")),
            money(cost.c_strong if cost else None),
            "–" if cost is None else str(cost.break_even_n or "never"),
        )
    console.print(table)
    for r in reports:
        for note in r.notes:
            console.print(f"[yellow]note[/yellow] {r.task_key}: {note}")


@bench_app.command("accuracy")
def accuracy(
    task: Annotated[
        list[str] | None,
        typer.Option("--task", "-t", help="BBH task (repeatable); default: the paper's 6."),
    ] = None,
    generated: Annotated[
        str | None,
        typer.Option("--generated", help="Run on freshly generated instances of this task."),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Generated test instances.")] = 240,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 0,
    size: Annotated[int | None, typer.Option("--size", help="Generated instance size.")] = None,
    maker_model: Annotated[
        str, typer.Option("--maker-model", help="Strong model: makes the tool.")
    ] = "openai:gpt-4",
    user_model: Annotated[
        str, typer.Option("--user-model", help="Cheap model: tool user and CoT baseline.")
    ] = "openai:gpt-3.5-turbo",
    strong_model: Annotated[
        str | None,
        typer.Option("--strong-model", help="Model for 'direct' answers (default: maker)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible server for the models."),
    ] = None,
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated subset of latm,cot,direct.")
    ] = "latm,cot,direct",
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Results JSONL to append to and resume from "
                     "(default: <out-dir>/accuracy_<task>.jsonl)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Questions in flight.")
    ] = 4,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Answer only the first N test questions.")
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option("--repo", help="Tool repository: load a stored tool, store a new one."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data root (bbh/, bbh-cot/, recorded/).")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Where results and the report go.")
    ] = _DEFAULT_OUT,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="JSON price overrides ($ per 1M tokens).")
    ] = None,
    strong_price_as: Annotated[
        str | None, typer.Option("--strong-price-as", help="Price maker/direct usage as this.")
    ] = None,
    user_price_as: Annotated[
        str | None, typer.Option("--user-price-as", help="Price user/CoT usage as this.")
    ] = None,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Plumbing run without a provider: replayed maker, "
                     "scripted user and baselines (accuracies are then meaningless)."),
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
) -> None:
    """Accuracy of LATM vs CoT vs the strong model, with tokens, dollars and break-even n."""
    from langchain_latm.benchmarks.accuracy import run_accuracy_benchmark
    from langchain_latm.benchmarks.paper import PAPER_TASKS
    from langchain_latm.cost import PriceTable
    from langchain_latm.errors import LATMError

    console = _console()
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        price_table = PriceTable.from_file(prices) if prices else PriceTable()
    except LATMError as exc:
        raise _fail(str(exc)) from exc
    repository = None
    if repo is not None:
        from langchain_latm.repository import ToolRepository

        repository = ToolRepository(path=str(repo))

    if generated:
        from langchain_latm.tasks.generators import generate_task

        specs = [(generate_task(generated, n, seed=seed, size=size), "generated")]
    else:
        from langchain_latm.tasks import load_bbh_task

        if task:
            names = list(task)
        elif offline:
            from langchain_latm.benchmarks.throughput import RECORDED_TASKS

            names = list(RECORDED_TASKS)  # offline needs a recorded maker session
        else:
            names = list(PAPER_TASKS)
        try:
            specs = [(load_bbh_task(name, data_dir=data_dir), "bbh") for name in names]
        except LATMError as exc:
            raise _fail(str(exc)) from exc

    reports = []
    try:
        for spec, dataset in specs:
            key = spec.name
            if dataset == "generated":
                key = f"generated_{spec.name}_seed{seed}" + (f"_size{size}" if size else "")
            kwargs: dict[str, Any] = {}
            if offline:
                from langchain_latm.benchmarks.throughput import (
                    constant_answer_model,
                    snippet_copying_user,
                )
                from langchain_latm.tasks import recorded_session_path
                from langchain_latm.testing import ReplayChatModel

                try:
                    session = recorded_session_path(spec.name, data_dir)
                    maker = ReplayChatModel.from_transcript(session)
                except LATMError as exc:
                    raise _fail(f"--offline needs a recorded session: {exc}") from exc
                kwargs.update(
                    maker_llm=maker,
                    user_llm=snippet_copying_user(latency_s=0.0),
                    strong_llm=constant_answer_model(model_name="scripted-strong"),
                    strong_price_as=strong_price_as or "gpt-4",
                    user_price_as=user_price_as or "gpt-3.5-turbo",
                )
                cot_user = constant_answer_model()
            else:
                from langchain_latm.models import load_chat_model

                kwargs.update(
                    maker_llm=load_chat_model(maker_model, base_url=base_url, temperature=0.3),
                    user_llm=load_chat_model(user_model, base_url=base_url, temperature=0.0),
                    strong_price_as=strong_price_as,
                    user_price_as=user_price_as,
                )
                if strong_model:
                    kwargs["strong_llm"] = load_chat_model(strong_model, base_url=base_url,
                                                           temperature=0.0)
                cot_user = None
            results = resume or out_dir / f"accuracy_{key}.jsonl"
            try:
                report = run_accuracy_benchmark(
                    spec, methods=chosen, results_path=results, task_key=key, dataset=dataset,
                    repository=repository, data_dir=data_dir, limit=limit,
                    concurrency=concurrency, prices=price_table, offline=offline,
                    progress=progress, console=console, cot_llm=cot_user, **kwargs,
                )
            except (LATMError, ValueError) as exc:
                raise _fail(f"{spec.name}: {exc}") from exc
            report.write_json(out_dir / f"accuracy_{key}.json")
            reports.append(report)
    finally:
        if repository is not None:
            repository.close()
    _print_accuracy(reports, console)
    path = _write_report(out_dir)
    console.print(f"report: {path}")


@bench_app.command("throughput")
def throughput(
    n: Annotated[int, typer.Option("--n", min=1, help="Questions per level.")] = 144,
    concurrency: Annotated[
        str, typer.Option("--concurrency", "-c", help="Comma-separated concurrency levels.")
    ] = "1,4,16",
    latency: Annotated[
        float, typer.Option("--latency", help="Simulated model latency (s per call).")
    ] = 0.2,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data root.")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="JSON output.")
    ] = _DEFAULT_OUT / "throughput.json",
    embedding: Annotated[
        str | None,
        typer.Option("--embedding", help="Comma-separated embeddings (minilm,hashing,hybrid)."),
    ] = None,
) -> None:
    """Offline questions/s and framework overhead (dispatch + sandbox + rest) vs the ideal."""
    from langchain_latm.benchmarks.throughput import run_throughput_benchmark

    levels = [int(x) for x in concurrency.split(",") if x.strip()]
    embeddings = [e.strip() for e in embedding.split(",") if e.strip()] if embedding else None
    report = run_throughput_benchmark(
        n=n, concurrencies=levels, latency_s=latency, data_dir=data_dir, out=out,
        console=_console(), embeddings=embeddings,
    )
    typer.echo(f"wrote {out}")
    _write_report(out.parent)
    if not (report.targets.get("efficiency_met") and report.targets.get("overhead_met")):
        typer.secho("target missed: see the findings above", fg=typer.colors.YELLOW)


def _call_with_supported(func: Any, options: dict[str, Any]) -> Any:
    """Call ``func`` with the options its signature accepts (others are dropped)."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return func(**options)
    return func(**{k: v for k, v in options.items() if k in params and v is not None})


@bench_app.command("sandbox")
def sandbox(
    n: Annotated[int, typer.Option("--n", min=1, help="Calls per measurement.")] = 300,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Threads sharing one executor.")
    ] = 4,
    out: Annotated[
        Path, typer.Option("--out", help="JSON output.")
    ] = _DEFAULT_OUT / "sandbox.json",
) -> None:
    """Sandboxed tool calls vs a fresh subprocess and unsafe exec (latency, throughput)."""
    from langchain_latm.benchmarks.sandbox import run_sandbox_benchmark

    run_sandbox_benchmark(n=n, concurrency=concurrency, out=out, console=_console())
    typer.echo(f"wrote {out}")


@bench_app.command("dispatch")
def dispatch(
    n: Annotated[int | None, typer.Option("--n", help="Questions to route.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small, fast run.")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data root.")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="JSON output.")
    ] = _DEFAULT_OUT / "dispatch.json",
) -> None:
    """Dispatcher routing accuracy and latency benchmark."""
    from langchain_latm.benchmarks.dispatch import run_dispatch_benchmark

    _call_with_supported(
        run_dispatch_benchmark,
        {"data_dir": data_dir, "n": n, "quick": quick, "out": out, "console": _console()},
    )
    typer.echo(f"wrote {out}")


@bench_app.command("report")
def report(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Results directory.")] = _DEFAULT_OUT,
) -> None:
    """Rebuild report.md and the plots from accuracy_*.json and throughput.json."""
    reports = _load_reports(out_dir)
    if reports:
        _print_accuracy(reports, _console())
    typer.echo(f"report: {_write_report(out_dir)}")


def register(app: typer.Typer) -> None:
    """Register the ``bench`` command group on ``app``."""
    app.add_typer(bench_app, name="bench")
