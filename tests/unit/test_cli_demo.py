"""``latm demo`` / ``latm solve`` / ``latm cost``: offline, tables, JSON, one-line errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from langchain_latm.cli import cost as cost_cli
from langchain_latm.cli import demo as demo_cli
from langchain_latm.cli import solve as solve_cli
from langchain_latm.tasks import load_bbh_task

RECORDED = ["chinese_remainder_theorem", "dyck_languages", "logical_deduction_five_objects",
            "tracking_shuffled_objects_five_objects", "word_sorting"]


def make_app() -> typer.Typer:
    app = typer.Typer()
    for module in (demo_cli, solve_cli, cost_cli):
        module.register(app)
    return app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path,
             runner: CliRunner) -> tuple[str, Path, float]:
    from pytest_socket import disable_socket, enable_socket

    disable_socket(allow_unix_socket=True)  # module fixtures run outside the autouse fixture
    try:
        repo = tmp_path_factory.mktemp("demo") / "repo"
        start = time.perf_counter()
        result = runner.invoke(make_app(), ["demo", "--data-dir", str(data_dir),
                                            "--repo", str(repo)],
                               env={"COLUMNS": "200", "OPENAI_API_KEY": ""})
        seconds = time.perf_counter() - start
    finally:
        enable_socket()
    assert result.exit_code == 0, result.output
    return result.output, repo, seconds


def test_demo_prints_the_tables_offline_and_fast(demo_run: tuple[str, Path, float]) -> None:
    output, _, seconds = demo_run
    assert "REPLAYED from recorded GPT-4 output" in output
    for title in ("Tools made", "Routing BBH test questions", "Cost over each task's test split"):
        assert title in output
    for task in RECORDED:
        assert task in output
    assert "break-even n" in output and "TOTAL" in output
    assert "ESTIMATE" in output  # estimated direct cost is labelled as such
    assert "Traceback" not in output
    assert seconds < 60


def test_demo_json_reports_verified_tools_routing_and_cost(
    runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    result = runner.invoke(make_app(), ["demo", "--data-dir", str(data_dir), "--json",
                                        "--task", "word_sorting", "--task", "dyck_languages",
                                        "--per-task", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "replay"
    tools = {row["task"]: row for row in report["tools"]}
    assert set(tools) == {"word_sorting", "dyck_languages"}
    for row in tools.values():
        assert row["verified"], row
        assert row["use_cases_passed"] == row["use_cases_total"] >= 3
        assert row["maker_usage"]["calls"] >= 3 and row["maker_usage"]["input_tokens"] > 0
    # Dyck's first proposals fail in the recorded session: more than one propose attempt
    assert tools["dyck_languages"]["attempts"].get("propose", 0) >= 2
    routing = {row["task"]: row for row in report["routing"]}
    assert len(routing) >= 27 and all(row["questions"] == 4 for row in routing.values())
    assert routing["word_sorting"]["has_tool"] and not routing["navigate"]["has_tool"]
    assert report["routing_known_accuracy"] >= 0.75
    assert report["routing_unknown_detection"] >= 0.75
    total = next(row for row in report["cost"] if row["task"] == "TOTAL")
    n_test = sum(len(load_bbh_task(t, data_dir).test) for t in tools)
    assert total["n"] == n_test
    assert total["direct_dollars"] > total["latm_dollars"] > total["making_dollars"] > 0
    assert total["break_even_n"] is not None and total["break_even_n"] < n_test
    assert set(report["estimates"]) >= {"direct", "user"}


def test_demo_bad_data_dir_is_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(make_app(), ["demo", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "nowhere" in lines[0]


def test_solve_routes_without_a_user_model(
    runner: CliRunner, demo_run: tuple[str, Path, float], data_dir: Path
) -> None:
    _, repo, _ = demo_run
    question = load_bbh_task("word_sorting", data_dir).test[7].question
    result = runner.invoke(make_app(), ["solve", question, "--repo", str(repo), "--json"],
                           env={"LATM_USER_MODEL": ""})
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["route"]["task"] == "word_sorting" and out["answer"] is None


def test_solve_empty_question_fails_cleanly(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(make_app(), ["solve", "  ", "--repo", str(tmp_path / "r")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "empty" in result.output


def test_cost_for_the_demo_repository(
    runner: CliRunner, demo_run: tuple[str, Path, float]
) -> None:
    _, repo, _ = demo_run
    result = runner.invoke(make_app(), ["cost", "--repo", str(repo), "--n", "500", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["k"] == 5 and out["n"] == 500
    assert out["latm_total"] == pytest.approx(5 * out["c_make"] + 500 * out["c_weak"])
    assert out["direct_total"] == pytest.approx(500 * out["c_strong"])
    assert out["break_even_n"] is not None
    assert {t["task"] for t in out["tools"]} == set(RECORDED)
    table = runner.invoke(make_app(), ["cost", "--repo", str(repo)],
                          env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "break-even n" in table.output


def test_cost_with_a_measured_run(
    runner: CliRunner, demo_run: tuple[str, Path, float], tmp_path: Path
) -> None:
    _, repo, _ = demo_run
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"answers": [
        {"usage": {"input_tokens": 1000, "output_tokens": 100, "calls": 1}},
        {"usage": {"input_tokens": 3000, "output_tokens": 300, "calls": 1}},
    ]}))
    result = runner.invoke(make_app(), ["cost", "--repo", str(repo), "--run", str(run),
                                        "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # mean 2000 in / 200 out at gpt-3.5-turbo: (2000 * 1.5 + 200 * 2) / 1e6
    assert out["c_weak"] == pytest.approx(0.0034)
    assert "user" not in out["estimated"]


def test_cost_missing_repository(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(make_app(), ["cost", "--repo", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no tool repository" in result.output
    assert "Traceback" not in result.output
