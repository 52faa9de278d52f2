"""Dispatcher benchmark (quick mode): routing accuracy on BBH and the latency curve.

Writes bench/results/dispatch_quick.json and prints the tables; ``latm bench dispatch`` runs
the full version into bench/results/dispatch.json. Accuracy floors are asserted with some
slack for the small sample; latency targets are recorded, not asserted (machine load).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from langchain_latm.benchmarks.dispatch import (
    TARGET_ROUTE_P50_MS,
    TARGET_TOP1,
    TARGET_UNKNOWN,
    run_dispatch_benchmark,
)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "results" / "dispatch_quick.json"

pytestmark = [pytest.mark.bench, pytest.mark.slow]


def test_dispatch_benchmark_quick(data_dir: Path, tmp_path: Path) -> None:
    results = run_dispatch_benchmark(data_dir, quick=True, out=OUT, workdir=tmp_path,
                                     console=Console(width=160))
    assert results["mode"] == "quick"
    summary = results["summary"]
    assert summary["top1"] >= 0.95
    assert summary["known_accepted"] >= 0.9
    assert summary["unknown_detected"] >= 0.9
    variants = results["accuracy"]["variants"]
    dense = variants["dense only (repository search)"]
    full = variants["dispatcher (dense+lexical+shape+cohesion)"]
    assert full["balanced"] > dense["balanced"]  # the re-ranker earns its place
    assert len(full["thresholds"]) == results["config"]["splits"]
    confusion = results["accuracy"]["confusion"]
    assert "logical_deduction_five_objects" in confusion
    assert [p["tools"] for p in results["latency"]] == [100, 500]
    for point in results["latency"]:
        assert 0 < point["search_rerank_p50_ms"] <= point["route_p50_ms"]
    assert results["targets"] == {"top1": TARGET_TOP1, "unknown_detected": TARGET_UNKNOWN,
                                  "route_p50_ms_at_10k": TARGET_ROUTE_P50_MS}
    written = json.loads(OUT.read_text())
    assert written["summary"] == json.loads(json.dumps(summary))
