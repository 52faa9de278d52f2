"""``latm sandbox-check``: which isolation layers are active here, proven by two runs."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from langchain_latm.errors import SandboxError

# A benign program (must answer correctly) and blocked actions (must all fail).
_BENIGN = (
    "import collections, itertools, json, math, re\n"
    "def tool(words):\n"
    "    return ' '.join(sorted(words))\n",
    "ans = tool(['pear', 'apple', 'fig'])",
    "apple fig pear",
)
_BLOCKED = {
    "read /etc/passwd": "ans = open('/etc/passwd').read()",
    "open a socket": "import socket\nsocket.socket().connect(('1.1.1.1', 53))\nans = 'connected'",
    "start a process": "import os\nans = os.system('true')\nassert ans == 0",
    "read the host environment": "import os\nans = dict(os.environ)\nassert ans",
}


def register(app: typer.Typer) -> None:
    """Register ``sandbox-check`` on ``app``."""

    @app.command("sandbox-check")
    def sandbox_check(
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        allow_weaker: bool = typer.Option(
            False, "--allow-weaker", help="Exit 0 even if some required layer is missing."
        ),
    ) -> None:
        """Show the sandbox's isolation layers; run a benign program and blocked actions."""
        from langchain_latm.sandbox import SandboxExecutor

        console = Console()
        try:
            executor = SandboxExecutor(allow_weaker_isolation=True, timeout=10.0)
            report = executor.isolation_report()
        except SandboxError as exc:
            console.print(f"[red]sandbox unavailable:[/red] {exc}")
            raise typer.Exit(2) from exc
        with executor:
            benign = executor.run(_BENIGN[0], _BENIGN[1])
            benign_ok = benign.ok and benign.answer == _BENIGN[2]
            blocked = {name: executor.run("", code) for name, code in _BLOCKED.items()}
        contained = {name: not res.ok for name, res in blocked.items()}
        healthy = report.fully_isolated and benign_ok and all(contained.values())
        if as_json:
            typer.echo(json.dumps({
                "fully_isolated": report.fully_isolated,
                "missing": report.missing,
                "layers": [layer.model_dump() for layer in report.layers],
                "benign_ok": benign_ok,
                "benign_ms": round(benign.duration_s * 1000, 2),
                "blocked": {n: {"contained": c, "error_type": blocked[n].error_type}
                            for n, c in contained.items()},
            }, indent=2))
        else:
            table = Table(title="latm sandbox: isolation layers")
            table.add_column("layer")
            table.add_column("status")
            table.add_column("what it does")
            table.add_column("detail", overflow="fold")
            for layer in report.layers:
                if layer.active:
                    status = "[green]active[/green]"
                elif layer.required:
                    status = "[red]MISSING[/red]"
                else:
                    status = "[yellow]unavailable[/yellow]"
                table.add_row(layer.name, status, layer.description,
                              "" if layer.detail == "ok" else layer.detail)
            console.print(table)
            mark = "[green]ok[/green]" if benign_ok else "[red]FAILED[/red]"
            console.print(f"benign program: {mark} (answer={benign.answer!r}, "
                          f"{benign.duration_s * 1000:.1f} ms)")
            for name, ok in contained.items():
                verdict = (f"[green]blocked[/green] ({blocked[name].error_type})" if ok
                           else "[red]NOT BLOCKED[/red]")
                console.print(f"blocked action '{name}': {verdict}")
            if report.fully_isolated:
                console.print("[green]all required isolation layers are active[/green]")
            else:
                console.print(f"[red]missing layers:[/red] {', '.join(report.missing)} -- "
                              "SandboxExecutor() refuses to run here unless "
                              "allow_weaker_isolation=True")
        if not healthy and not (allow_weaker and benign_ok and all(contained.values())):
            raise typer.Exit(1)
