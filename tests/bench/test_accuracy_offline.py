"""Offline accuracy harness: replayed makers, scripted user and baselines, real sandbox.

This is a plumbing benchmark. The scripted tool user answers a question with the use-case
snippet written for it when the question *is* a use case (validation questions), and with
another use case's snippet otherwise, so:

- on the validation questions the whole path (tool user -> sandbox -> normalisation ->
  scoring) must reproduce every gold answer (100%);
- on the test split the numbers are NOT accuracies of LATM; they are written (labelled
  offline) to accuracy_<task>.json with the report and plots, in a temporary directory
  (``latm bench accuracy --offline`` writes the committed ones in bench/results).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from langchain_latm.benchmarks.accuracy import (
    ResultStore,
    run_accuracy_benchmark,
)
from langchain_latm.benchmarks.report import write_report
from langchain_latm.benchmarks.throughput import (
    RECORDED_TASKS,
    constant_answer_model,
    snippet_copying_user,
)
from langchain_latm.maker import ToolMaker
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import TaskSpec, WrappedTool
from langchain_latm.tasks import load_bbh_task, recorded_session_path
from langchain_latm.testing import ReplayChatModel

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"

N = 12  # test questions per task (the CRT tool is a brute-force search: ~0.1-2 s per call)

pytestmark = [pytest.mark.bench, pytest.mark.slow]


@pytest.fixture(scope="module")
def executor() -> SandboxExecutor:
    return SandboxExecutor()


@pytest.fixture(scope="module")
def made_tools(data_dir: Path, executor: SandboxExecutor) -> dict[str, WrappedTool]:
    tools = {}
    for name in RECORDED_TASKS:
        task = load_bbh_task(name, data_dir=data_dir)
        replay = ReplayChatModel.from_transcript(recorded_session_path(name, data_dir))
        tools[name] = ToolMaker(replay, executor=executor).make(task)
    return tools


def _offline_kwargs(task: str, data_dir: Path, executor: SandboxExecutor) -> dict[str, object]:
    return {
        "executor": executor,
        "maker_llm": ReplayChatModel.from_transcript(recorded_session_path(task, data_dir)),
        "user_llm": snippet_copying_user(latency_s=0.0),
        "cot_llm": constant_answer_model(),
        "strong_llm": constant_answer_model(model_name="scripted-strong"),
        "strong_price_as": "gpt-4",
        "user_price_as": "gpt-3.5-turbo",
        "data_dir": data_dir,
        "offline": True,
        "progress": False,
    }


@pytest.mark.parametrize("task_name", RECORDED_TASKS)
def test_use_case_questions_reproduce_gold_end_to_end(
    task_name: str, data_dir: Path, tmp_path: Path, executor: SandboxExecutor,
    made_tools: dict[str, WrappedTool],
) -> None:
    task = load_bbh_task(task_name, data_dir=data_dir)
    tool = made_tools[task_name]
    assert tool.verified
    # Ask exactly the validation questions the tool has a use case for: the scripted user
    # then writes that use case's snippet, so every answer must come out right after
    # sandbox + normalisation + scoring.
    use_case_questions = {" ".join(u.question.split()) for u in tool.use_cases}
    covered = [d for d in task.val if " ".join(d.question.split()) in use_case_questions]
    assert covered, "no validation question is a use case of the replayed tool"
    val_only = TaskSpec(name=task.name, train=task.train, val=task.val, test=covered)
    kwargs = _offline_kwargs(task_name, data_dir, executor)
    del kwargs["maker_llm"]
    report = run_accuracy_benchmark(val_only, methods=("latm",), tool=tool,
                                    results_path=tmp_path / "val.jsonl",
                                    **kwargs)  # type: ignore[arg-type]
    latm = report.method("latm")
    assert latm is not None and latm.n == len(covered)
    records = ResultStore(tmp_path / "val.jsonl").records()
    assert all(r.correct for r in records), [(r.prediction, r.gold) for r in records]
    assert latm.accuracy == 1.0


def test_offline_accuracy_run_resumes_and_writes_the_report(
    data_dir: Path, executor: SandboxExecutor, made_tools: dict[str, WrappedTool],
    tmp_path: Path,
) -> None:
    console = Console(width=140)
    out_dir = tmp_path  # a small run: never over the committed results in bench/results
    reports = []
    for task_name in RECORDED_TASKS:
        task = load_bbh_task(task_name, data_dir=data_dir)
        results = out_dir / f"accuracy_{task_name}.jsonl"
        results.unlink(missing_ok=True)
        kwargs = _offline_kwargs(task_name, data_dir, executor)
        report = run_accuracy_benchmark(task, results_path=results, limit=N, concurrency=8,
                                        console=console, **kwargs)  # type: ignore[arg-type]
        # The harness made the tool itself, from the replayed session, and got the same tool.
        assert report.tool is not None and report.tool.source == "made"
        assert report.tool.tool_id == made_tools[task_name].tool_id
        assert [m.method for m in report.methods] == ["latm", "cot", "direct"]
        for summary in report.methods:
            assert summary.n == N and summary.errors == 0
            assert summary.usage.calls >= N
            assert summary.cost_usd is not None and summary.cost_usd > 0
        assert report.cost is not None and report.cost.k == 1
        assert report.cost.c_make > 0 and report.cost.c_weak > 0
        assert report.offline and report.notes and "NOT" in report.notes[0]
        assert len(results.read_text().splitlines()) == 3 * N

        # Resume: a rerun with fresh models asks nothing again and reproduces the summary.
        again = _offline_kwargs(task_name, data_dir, executor)
        del again["maker_llm"]
        rerun = run_accuracy_benchmark(task, results_path=results, limit=N,
                                       tool=made_tools[task_name],
                                       **again)  # type: ignore[arg-type]
        assert [m.model_dump(exclude={"latency_p50_s"}) for m in rerun.methods] == [
            m.model_dump(exclude={"latency_p50_s"}) for m in report.methods
        ]
        assert again["user_llm"].calls == 0  # type: ignore[attr-defined]
        assert again["cot_llm"].calls == 0  # type: ignore[attr-defined]
        assert again["strong_llm"].calls == 0  # type: ignore[attr-defined]
        assert len(results.read_text().splitlines()) == 3 * N

        report.write_json(out_dir / f"accuracy_{task_name}.json")
        reports.append(report)

    throughput_path = RESULTS / "throughput.json"
    throughput = json.loads(throughput_path.read_text()) if throughput_path.is_file() else None
    path = write_report(reports, out_dir, throughput=throughput)
    text = path.read_text()
    assert "Offline plumbing run" in text
    for task_name in RECORDED_TASKS:
        assert f"| {task_name} | {N} |" in text
    assert (out_dir / "accuracy_vs_cost.png").stat().st_size > 5000
    assert (out_dir / "cumulative_cost.png").stat().st_size > 5000


def test_cli_offline_accuracy_and_report(data_dir: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from langchain_latm.cli.bench import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    runner = CliRunner()
    args = ["bench", "accuracy", "--offline", "--task", "word_sorting", "--limit", "4",
            "--data-dir", str(data_dir), "--out-dir", str(tmp_path), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "OFFLINE" in result.output
    saved = json.loads((tmp_path / "accuracy_word_sorting.json").read_text())
    assert saved["offline"] is True and saved["n_test"] == 4
    assert len((tmp_path / "accuracy_word_sorting.jsonl").read_text().splitlines()) == 12
    # Second invocation resumes: no new lines.
    assert runner.invoke(app, args).exit_code == 0
    assert len((tmp_path / "accuracy_word_sorting.jsonl").read_text().splitlines()) == 12
    report = runner.invoke(app, ["bench", "report", "--out-dir", str(tmp_path)])
    assert report.exit_code == 0, report.output
    assert "| word_sorting | 4 |" in (tmp_path / "report.md").read_text()


def test_cli_accuracy_offline_stores_the_tool_in_the_given_repository(
    tmp_path: Path, data_dir: Path
) -> None:
    import typer
    from typer.testing import CliRunner

    from langchain_latm.cli.bench import register
    from langchain_latm.repository import ToolRepository

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    args = ["bench", "accuracy", "--offline", "--task", "word_sorting", "--limit", "2",
            "--methods", "latm", "--repo", str(tmp_path / "repo"), "--data-dir", str(data_dir),
            "--out-dir", str(tmp_path / "out"), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with ToolRepository(tmp_path / "repo") as repo:
        assert [t.task for t in repo.list()] == ["word_sorting"]
