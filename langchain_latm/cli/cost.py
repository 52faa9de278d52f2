"""``latm cost``: what the cached tools cost to make vs answering n questions with the strong model.

Making cost is each stored tool's recorded maker usage (``WrappedTool.usage``). The tool
user's per-question cost is measured from a run (``--run``: answers JSON, e.g. from
``latm solve --json``) or estimated from the tool-user prompt; the strong model's direct
per-question cost is estimated (question + few-shot CoT prompt in, a worked answer out).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from langchain_latm.cli.demo import cli_errors, estimate_user_usage, fail
from langchain_latm.cost import PriceTable, cost_report, cot_prompt_for, estimate_direct_usage
from langchain_latm.errors import LATMError
from langchain_latm.schemas import Usage

__all__ = ["register", "run_usage"]


def run_usage(path: Path) -> tuple[Usage, int]:
    """Mean tool-user usage per answered question in a run file, and how many it averaged.

    The file holds one ``Answer`` JSON object, a list of them, or an object with an
    ``"answers"`` list (objects with a ``usage`` field).
    """
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LATMError(f"cannot read run file {path}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("answers"), list):
        data = data["answers"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise LATMError(f"run file {path}: expected answers JSON (object or list)")
    usages = [Usage.model_validate(a["usage"]) for a in data
              if isinstance(a, dict) and isinstance(a.get("usage"), dict)]
    usages = [u for u in usages if u.total_tokens]
    if not usages:
        raise LATMError(f"run file {path}: no answer with token usage")
    n = len(usages)
    return Usage(input_tokens=sum(u.input_tokens for u in usages) // n,
                 output_tokens=sum(u.output_tokens for u in usages) // n, calls=1), n


def register(app: typer.Typer) -> None:
    """Register ``latm cost`` on ``app``."""

    @app.command("cost")
    def cost(
        repo: str | None = typer.Option(
            None, "--repo", help="Tool repository (default: $LATM_REPO or ./.latm)."),
        n: int = typer.Option(1000, "--n", min=1, help="Questions to compare for."),
        strong_model: str = typer.Option("gpt-4", "--strong-model",
                                         help="Price making and direct answers as this model."),
        weak_model: str = typer.Option("gpt-3.5-turbo", "--weak-model",
                                       help="Price the tool user as this model."),
        run: Path | None = typer.Option(  # noqa: B008
            None, "--run", help="Answers JSON of a run: measured tool-user usage."),
        prices_file: Path | None = typer.Option(  # noqa: B008
            None, "--prices", help="JSON price overrides ($ per 1M tokens)."),
        data_dir: str | None = typer.Option(None, "--data-dir",
                                            help="Data root (for the CoT estimate)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """C_direct = n x c_strong vs C_LATM = k x c_make + n x c_weak, and the break-even n."""
        with cli_errors(as_json=as_json):
            from langchain_latm.repository import ToolRepository

            prices = PriceTable.from_file(prices_file) if prices_file else PriceTable()
            path = repo or os.environ.get("LATM_REPO") or "./.latm"
            if not Path(path).exists():
                fail(f"no tool repository at {path} (pass --repo)", as_json=as_json)
            with ToolRepository(path=path) as repository:
                tools = repository.list()
            if not tools:
                fail(f"the repository at {path} holds no tools", as_json=as_json)
            measured = run_usage(run) if run else None
            estimated = ["direct"] + ([] if measured else ["user"])
            direct_usages = [estimate_direct_usage([c.question for c in t.use_cases] or ["?"],
                                                   cot_prompt=cot_prompt_for(t.task, data_dir))
                             for t in tools]
            direct = Usage(
                input_tokens=sum(u.input_tokens for u in direct_usages) // len(direct_usages),
                output_tokens=sum(u.output_tokens for u in direct_usages) // len(direct_usages),
                calls=1,
            )
            if measured is not None:
                weak = measured[0]
            else:
                weak_usages = [estimate_user_usage(t, [c.question for c in t.use_cases] or ["?"])
                               for t in tools]
                weak = Usage(
                    input_tokens=sum(u.input_tokens for u in weak_usages) // len(weak_usages),
                    output_tokens=sum(u.output_tokens for u in weak_usages) // len(weak_usages),
                    calls=1,
                )
            report = cost_report(
                making_usage=[t.usage for t in tools], direct_usage_per_question=direct,
                weak_usage_per_question=weak, n=n, strong_model=strong_model,
                weak_model=weak_model, prices=prices, estimated=estimated,
            )
            if as_json:
                out = report.model_dump(mode="json")
                out["savings"] = report.savings
                out["tools"] = [{"name": t.name, "task": t.task, "version": t.version,
                                 "maker_usage": t.usage.model_dump(mode="json"),
                                 "making_dollars": prices.get(strong_model).cost(t.usage)}
                                for t in tools]
                typer.echo(json.dumps(out, indent=2))
                return
            console = Console()
            table = Table(title=f"Making cost per tool (priced as {strong_model})")
            for col in ("tool", "task", "maker tokens in/out", "calls", "dollars"):
                table.add_column(col)
            for t in tools:
                table.add_row(f"{t.name} v{t.version}", t.task,
                              f"{t.usage.input_tokens:,} / {t.usage.output_tokens:,}",
                              str(t.usage.calls), f"${prices.get(strong_model).cost(t.usage):.4f}")
            console.print(table)
            summary = Table(title=f"n = {n} questions", show_header=False)
            summary.add_row("k tools, c_make (mean)", f"{report.k}, ${report.c_make:.4f}")
            summary.add_row(f"c_strong per question ({strong_model})", f"${report.c_strong:.5f}"
                            + (" (estimate)" if "direct" in estimated else ""))
            summary.add_row(f"c_weak per question ({weak_model})", f"${report.c_weak:.5f}"
                            + (" (estimate)" if "user" in estimated else
                               f" (measured over {measured[1] if measured else 0} answers)"))
            summary.add_row("C_direct = n x c_strong", f"${report.direct_total:,.4f}")
            summary.add_row("C_LATM = k x c_make + n x c_weak", f"${report.latm_total:,.4f}")
            summary.add_row("saved", f"${report.savings:,.4f}")
            summary.add_row("break-even n", "never" if report.break_even_n is None
                            else str(report.break_even_n))
            summary.add_row("prices as of", ", ".join(f"{m}: {d}" for m, d in
                                                      report.prices_as_of.items()))
            console.print(summary)
