"""Shared fixtures: where the shared data lives."""

from __future__ import annotations

import os
from pathlib import Path

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
