"""Shared fixtures: where the shared data lives; repositories a test opens are closed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LATM_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data directory (``../shared/data`` beside the checkout, or ``$LATM_DATA_DIR``)."""
    if not (SHARED_DATA / "bbh").is_dir():
        pytest.fail(f"test data not found at {SHARED_DATA} (set LATM_DATA_DIR)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bbh_dir(data_dir: Path) -> Path:
    return data_dir / "bbh"


@pytest.fixture(scope="session")
def recorded_dir(data_dir: Path) -> Path:
    return data_dir / "recorded"


@pytest.fixture(autouse=True)
def _close_repositories(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every ``ToolRepository`` a test opened (its Chroma client holds ~11 fds).

    Repositories of module- and session-scoped fixtures are opened before this fixture
    and are closed by those fixtures.
    """
    from langchain_latm.repository import ToolRepository

    opened: list[ToolRepository] = []
    original = ToolRepository.__init__

    def init(self: ToolRepository, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(ToolRepository, "__init__", init)
    yield
    for repository in opened:
        repository.close()
