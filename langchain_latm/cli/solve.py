"""``latm solve "QUESTION"``: route a question to a cached tool and answer it with the tool user."""

from __future__ import annotations

import json
import os
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from langchain_latm.cli.demo import cli_errors, fail, load_model

__all__ = ["register"]


def _route_json(route: Any) -> dict[str, Any]:
    return {
        "tool": route.tool.name if route.tool is not None else None,
        "task": route.tool.task if route.tool is not None else None,
        "unknown": route.tool is None,
        "score": route.score,
        "reason": route.reason,
        "candidates": [{"tool": t.name, "task": t.task, "score": s} for t, s in route.candidates],
    }


def register(app: typer.Typer) -> None:
    """Register ``latm solve`` on ``app``."""

    @app.command("solve")
    def solve(
        question: str = typer.Argument(..., help="The question to answer."),
        repo: str | None = typer.Option(
            None, "--repo", help="Tool repository path (default: $LATM_REPO or ./.latm)."),
        user_model: str | None = typer.Option(
            None, "--user-model", help="Tool-user model (default: $LATM_USER_MODEL). Without "
            "one, only the route is shown."),
        maker_model: str | None = typer.Option(
            None, "--maker-model", help="Maker model, to make a tool when none fits "
            "(needs --task)."),
        task: str | None = typer.Option(
            None, "--task", help="BBH task the question belongs to (its demonstrations are used "
            "to make a tool when none is cached)."),
        data_dir: str | None = typer.Option(None, "--data-dir", help="Data root for --task."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="OpenAI-compatible server (default: $LATM_BASE_URL)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Answer QUESTION with a cached tool (route, write a call snippet, run it sandboxed)."""
        with cli_errors(as_json=as_json):
            if not question.strip():
                fail("the question is empty", as_json=as_json)
            from langchain_latm.dispatcher import Dispatcher
            from langchain_latm.repository import ToolRepository

            path = repo or os.environ.get("LATM_REPO") or "./.latm"
            with ToolRepository(path=path) as repository:
                base = base_url or os.environ.get("LATM_BASE_URL") or None
                user_name = user_model or os.environ.get("LATM_USER_MODEL")
                maker_name = maker_model or os.environ.get("LATM_MAKER_MODEL")
                dispatcher = Dispatcher(repository)
                spec = None
                if task:
                    from langchain_latm.tasks import load_bbh_task

                    spec = load_bbh_task(task, data_dir)
                if not user_name:
                    route = dispatcher.route(question)
                    out: dict[str, Any] = {
                        "question": question, "route": _route_json(route), "answer": None,
                        "note": "no tool-user model (--user-model / $LATM_USER_MODEL): "
                                "route only"}
                    _print(out, as_json)
                    return
                from langchain_latm.latm import LATM

                latm = LATM(
                    load_model(maker_name, base) if maker_name else None,
                    load_model(user_name, base),
                    repository=repository,
                    dispatcher=dispatcher,
                )
                with latm:  # closes the sandbox it started
                    answer = latm.solve(question, task=spec)
                out = {"question": question, "answer": answer.answer, "ok": answer.ok,
                       "outcome": answer.metadata.get("outcome"), "tool": answer.tool,
                       "route_score": answer.metadata.get("route_score"),
                       "route_reason": answer.metadata.get("route_reason"),
                       "snippet": answer.snippet, "error": answer.error,
                       "error_type": answer.error_type,
                       "usage": answer.usage.model_dump()}
                _print(out, as_json)
                if not answer.ok:
                    raise typer.Exit(1)


def _print(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    console = Console()
    table = Table(show_header=False, title="latm solve")
    for key, value in out.items():
        if value is None or key == "question":
            continue
        if isinstance(value, dict):
            value = json.dumps(value, default=str)
        table.add_row(key, str(value))
    console.print(table)
