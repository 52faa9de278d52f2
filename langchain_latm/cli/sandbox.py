"""``latm sandbox-check``: placeholder until the sandbox lands (replaced by the sandbox work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register the sandbox commands on ``app``."""
