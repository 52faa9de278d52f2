"""Tests against a REAL local model server, run by ``.ci/local_model.sh``.

These tests are not part of the default ``pytest`` run: they need
``LATM_LOCAL_MODEL_URL`` (an OpenAI-compatible ``.../v1`` URL on loopback, set by
``.ci/local_model.sh``). Without it this directory is not collected at all, unless it is
named explicitly (``pytest tests/local_model``), in which case the tests FAIL with a clear
message instead of silently passing or skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _explicitly_requested(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        try:
            path.resolve().relative_to(HERE)
        except ValueError:
            continue
        return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if os.environ.get("LATM_LOCAL_MODEL_URL") or _explicitly_requested(config):
        return None
    return collection_path.resolve() != HERE and HERE in collection_path.resolve().parents


@pytest.fixture(scope="session")
def local_model_url() -> str:
    url = os.environ.get("LATM_LOCAL_MODEL_URL")
    if not url:
        pytest.fail(
            "LATM_LOCAL_MODEL_URL is not set: run these tests through .ci/local_model.sh "
            "(it builds llama-cpp-python, starts the server and sets the URL)"
        )
    return url.rstrip("/")
