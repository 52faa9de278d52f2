"""Test figures are written only on request, merged per key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_results import ENV, record


def test_without_the_variable_nothing_is_written(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert record("faults.json", "k", {"a": 1}) is None
    assert list(tmp_path.iterdir()) == []


def test_figures_are_merged_per_key_and_a_broken_file_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "out"))
    path = record("faults.json", "one", {"a": 1})
    assert path == tmp_path / "out" / "faults.json"
    record("faults.json", "two", {"b": 2})
    assert json.loads(path.read_text()) == {"one": {"a": 1}, "two": {"b": 2}}
    path.write_text("{not json")
    record("faults.json", "three", {"c": 3})
    assert json.loads(path.read_text()) == {"three": {"c": 3}}
