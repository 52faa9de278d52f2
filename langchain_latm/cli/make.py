"""``latm make``: make one verified tool for a task, with a live progress display.

Real model::

    latm make --task word_sorting --model openai:gpt-4o            # key from the environment
    latm make --task word_sorting --model qwen2.5 --base-url http://127.0.0.1:8000/v1

Recorded session (offline, no key)::

    latm make --task dyck_languages --replay ../shared/data/recorded/dyck_languages.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from langchain_latm.errors import LATMError, ToolMakingError
from langchain_latm.schemas import WrappedTool

__all__ = ["register"]

_STAGE_LABEL = {
    "propose": "propose",
    "execute": "execute",
    "verify": "verify",
    "check": "harness",
    "wrap": "wrap",
    "check_wrap": "re-run use cases",
    "select": "select",
}


def _describe_event(event: dict[str, Any]) -> str:
    stage = _STAGE_LABEL.get(str(event.get("stage")), str(event.get("stage")))
    status = str(event.get("status", ""))
    parts = [f"[bold]{stage}[/bold]"]
    if "attempt" in event:
        parts.append(f"attempt {event['attempt']}")
    if event.get("candidate"):
        parts.append(f"candidate {event['candidate']}")
    colour = {"ok": "green", "retry": "yellow", "failed": "red"}.get(status, "cyan")
    parts.append(f"[{colour}]{status}[/{colour}]")
    if "passed" in event:
        parts.append(f"{event['passed']}/{event.get('total')} reproduced")
    message = event.get("message")
    if message and status in {"retry", "failed"}:
        first = str(message).strip().splitlines()[0]
        parts.append(f"- {first[:160]}")
    return " ".join(parts)


def _tail(text: str, limit: int) -> str:
    """The end of a question (where BBH questions differ), shortened to ``limit``."""
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _summary_table(tool: WrappedTool) -> Table:
    table = Table(title=f"tool {tool.name} (task {tool.task})", show_lines=False)
    table.add_column("validation question", overflow="fold")
    table.add_column("gold")
    table.add_column("tool gave")
    table.add_column("ok")
    for case in tool.verification.cases:
        table.add_row(
            _tail(" ".join(case.question.split()), 70),
            case.expected,
            str(case.normalised),
            "yes" if case.ok else "no",
        )
    return table


def register(app: typer.Typer) -> None:
    """Register ``latm make`` on ``app``."""

    @app.command("make")
    def make(
        task: str = typer.Option(..., "--task", help="BBH task name (or a task .json file)."),
        data_dir: str | None = typer.Option(
            None, "--data-dir", help="Data root (default: $LATM_DATA_DIR, ../shared/data)."
        ),
        model: str | None = typer.Option(
            None, "--model", help="Maker model: an init_chat_model name, or the served model "
            "with --base-url (default: $LATM_MAKER_MODEL)."
        ),
        base_url: str | None = typer.Option(
            None, "--base-url", help="OpenAI-compatible server (default: $LATM_BASE_URL)."
        ),
        replay: str | None = typer.Option(
            None, "--replay", help="Replay a recorded session instead of calling a model."
        ),
        repo: str | None = typer.Option(
            None, "--repo", help="Store the tool in this repository (default: $LATM_REPO; "
            "without either, the tool is only printed / written to --out)."
        ),
        out: str | None = typer.Option(None, "--out", help="Write the tool's JSON here."),
        max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Propose/verify "
                                         "attempts each."),
        n_candidates: int = typer.Option(1, "--candidates", min=1, help="Parallel proposals."),
        timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Sandbox seconds per run."),
        as_json: bool = typer.Option(False, "--json", help="Print the tool as JSON on stdout."),
    ) -> None:
        """Make one verified tool for TASK (propose, execute, verify, wrap) and show progress."""
        console = Console(stderr=True)
        try:
            from langchain_latm.maker import ToolMaker
            from langchain_latm.tasks import load_bbh_task

            spec = load_bbh_task(task, data_dir)
            if replay is not None:
                from langchain_latm.testing.replay import ReplayChatModel

                llm: Any = ReplayChatModel.from_transcript(replay)
            else:
                name = model or os.environ.get("LATM_MAKER_MODEL")
                if not name:
                    console.print("[red]error:[/red] no maker model: pass --model, set "
                                  "$LATM_MAKER_MODEL, or use --replay FILE")
                    raise typer.Exit(2)
                from langchain_latm.models import load_chat_model

                llm = load_chat_model(
                    name, base_url=base_url or os.environ.get("LATM_BASE_URL") or None
                )
            maker = ToolMaker(
                llm, max_attempts=max_attempts, n_candidates=n_candidates, timeout=timeout
            )
            tool: WrappedTool | None = None
            with console.status(f"making a tool for {spec.name}...") as status:
                for event in maker.stream(spec):
                    if event.get("stage") == "done":
                        tool = event["tool"]
                        continue
                    line = _describe_event(event)
                    status.update(line)
                    if event.get("status") in {"ok", "retry", "failed"}:
                        console.print(line)
            if tool is None:  # stream() raises instead; kept for type narrowing
                raise ToolMakingError("no tool was produced", stage="wrap", task=spec.name)
        except ToolMakingError as exc:
            console.print(f"[red]tool making failed[/red] at stage {exc.stage!r} after "
                          f"{exc.attempts} attempt(s): {exc.last_error}")
            if as_json:
                typer.echo(json.dumps({"ok": False, "stage": exc.stage, "error": str(exc),
                                       "transcript": exc.transcript}))
            raise typer.Exit(1) from exc
        except LATMError as exc:
            console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from exc

        stored_version: int | None = None
        repo_path = repo or os.environ.get("LATM_REPO")
        if repo_path:
            try:
                from langchain_latm.repository import ToolRepository
            except ImportError:
                console.print("[yellow]no tool repository available; not stored[/yellow]")
            else:
                with ToolRepository(path=repo_path) as repository:
                    stored = repository.add(tool)
                stored_version = stored.version
                console.print(f"stored {stored.name} v{stored.version} in {repo_path}")
        if out is not None:
            Path(out).write_text(tool.model_dump_json(indent=2), encoding="utf-8")
            console.print(f"wrote {out}")
        if as_json:
            payload = json.loads(tool.model_dump_json())
            if stored_version is not None:
                payload["version"] = stored_version
            typer.echo(json.dumps(payload))
        else:
            console.print(_summary_table(tool))
            console.print(
                f"{tool.verification.summary()}; attempts {tool.verification.attempts}; "
                f"usage {tool.usage.input_tokens} in / {tool.usage.output_tokens} out tokens"
                + (" (estimated)" if tool.metadata.get("usage_estimated") else "")
            )
            typer.echo(tool.code)
