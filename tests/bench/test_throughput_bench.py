"""Offline throughput benchmark: questions/s at concurrency 1, 4, 16 vs the ideal bound.

Replayed makers + a scripted tool user with 200 ms simulated latency per call; real
dispatcher (fresh questions, so every one is embedded), tool user, LATM graph and sandbox,
with the default embedding and the hashing embedding. Writes bench/results/throughput.json
and prints the table (with the previous JSON side by side). Measures plumbing, overhead and
CPU, NOT accuracy.

Performance is measured and reported, not asserted: this 2-core CI machine is shared, so
wall-clock efficiencies move with other processes' load. The test checks that the whole
pipeline ran for every question and that every number the report promises is there and
consistent; the measured targets are in the JSON (``targets_by_embedding``) and findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from langchain_latm.benchmarks.throughput import (
    RECORDED_TASKS,
    TARGET_EFFICIENCY_AT_16,
    TARGET_OVERHEAD_P50_MS,
    ThroughputReport,
    print_throughput_table,
    run_throughput_benchmark,
)
from langchain_latm.embeddings import DEFAULT_EMBEDDING

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "bench" / "results" / "throughput.json"  # the last full run, compared
N = 48
LEVELS = (1, 4, 16)
EMBEDDINGS = tuple(dict.fromkeys((DEFAULT_EMBEDDING, "hashing")))

pytestmark = [pytest.mark.bench, pytest.mark.slow]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this small run writes: never over the committed full-run results."""
    return tmp_path_factory.mktemp("throughput") / "throughput.json"


@pytest.fixture(scope="module")
def report(data_dir: Path, out: Path) -> ThroughputReport:
    previous = None
    if COMMITTED.is_file():
        try:
            previous = ThroughputReport.model_validate_json(
                COMMITTED.read_text(encoding="utf-8"))
        except ValueError:  # an older schema: nothing to compare with
            previous = None
    result = run_throughput_benchmark(
        n=N,
        concurrencies=LEVELS,
        latency_s=0.2,
        data_dir=data_dir,
        embeddings=EMBEDDINGS,
        out=out,
    )
    print_throughput_table(result, Console(width=200), baseline=previous)
    return result


def test_offline_throughput_measures_the_real_pipeline(report: ThroughputReport) -> None:
    # Every recorded session replays into a verified tool.
    assert [m.task for m in report.makes] == list(RECORDED_TASKS)
    assert all(m.verified and m.error is None for m in report.makes), report.makes

    expected = [(e, p, c) for e in EMBEDDINGS for p in ("graph", "components") for c in LEVELS]
    assert [(lv.embedding, lv.pipeline, lv.concurrency) for lv in report.levels] == expected
    for level in report.levels:
        assert level.n == N
        # one simulated call per question that reached the tool user at least
        assert level.model_calls >= round(level.answered_ok * N)
        # The pipeline really ran: routed to the right tool, snippet executed in the sandbox.
        assert level.routed_to_own_tool >= 0.9, level
        assert level.answered_ok >= 0.9, level
        assert level.sandbox_ms.p50 > 0 and level.dispatch_ms.p50 > 0
        # Throughput can never beat the ideal bound (the latency is a real sleep) ...
        assert 0 < level.efficiency <= 1.0
        # ... the overhead is what is left after the simulated latency ...
        assert level.overhead_ms.p50 >= 0
        # ... and CPU was accounted, in this process and in the sandbox processes.
        assert level.cpu_main_ms_per_question is not None and level.cpu_main_ms_per_question > 0
        assert level.cpu_sandbox_ms_per_question is not None
        assert level.cpu_sandbox_ms_per_question > 0, "sandbox children's CPU not seen"
        assert level.cpu_ms_per_question == pytest.approx(
            level.cpu_main_ms_per_question + level.cpu_sandbox_ms_per_question)
        assert level.loadavg_1m is not None

    # The dispatcher alone, per embedding.
    assert [d.embedding for d in report.dispatch] == list(EMBEDDINGS)
    for cost in report.dispatch:
        assert cost.questions > 0 and cost.route_p50_ms > 0 and cost.cpu_ms_per_route > 0
        assert cost.routed_to_own_tool >= 0.9
    assert report.sandbox is not None and report.sandbox.cpu_ms_per_call
    assert report.sandbox.cpu_ms_per_call > 0


def test_report_states_the_targets_it_measured(report: ThroughputReport, out: Path) -> None:
    for embedding in EMBEDDINGS:
        targets = report.targets_by_embedding[embedding]
        top = report.level(16, "graph", embedding)
        base = report.level(1, "graph", embedding)
        assert top is not None and base is not None
        # The verdicts are the measured numbers compared with the targets: never hard-coded.
        assert targets["efficiency_measured"] == top.efficiency
        assert targets["overhead_p50_measured_ms"] == base.overhead_ms.p50
        assert targets["efficiency_met"] == (top.efficiency >= TARGET_EFFICIENCY_AT_16)
        assert targets["overhead_met"] == (base.overhead_ms.p50 <= TARGET_OVERHEAD_P50_MS)
    assert report.targets == report.targets_by_embedding[EMBEDDINGS[0]]

    written = json.loads(out.read_text())
    assert written["embeddings"] == list(EMBEDDINGS)
    assert len(written["levels"]) == len(report.levels)
    assert written["sandbox"]["concurrency"] == 16
    assert written["targets"]["efficiency_at_16"] == TARGET_EFFICIENCY_AT_16
    assert written["machine"]["loadavg_1m_start"] is not None
    # the findings explain every embedding's numbers, with CPU per question
    for embedding in EMBEDDINGS:
        assert any(f.startswith(f"[{embedding}/graph]") and "CPU" in f
                   for f in written["findings"]), written["findings"]
