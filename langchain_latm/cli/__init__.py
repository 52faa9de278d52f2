"""The ``latm`` command line.

Each command group lives in its own module and registers itself on :data:`app`; this
module only assembles them, so adding a command never touches the others.
"""

from __future__ import annotations

import importlib

import typer

from langchain_latm import __version__

__all__ = ["app"]

app = typer.Typer(
    name="latm",
    help="LATM: a strong model makes verified Python tools, a cheap model uses them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"langchain-latm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """LATM: Large Language Models as Tool Makers, for LangChain and LangGraph."""


# Command modules, each exposing ``register(app)``. Kept in one list so the CLI's shape
# is visible in one place.
_COMMAND_MODULES = (
    "sandbox",
    "make",
    "tools",
    "demo",
    "solve",
    "cost",
    "bench",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"langchain_latm.cli.{_name}").register(app)
