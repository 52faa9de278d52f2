"""The maker graph: shape (mermaid snapshot), streaming, resume after a crash, candidates."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from typer.testing import CliRunner

from langchain_latm.errors import ModelCallError
from langchain_latm.maker import MakerContext, ToolMaker, build_maker_graph
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import TaskSpec
from langchain_latm.tasks import load_bbh_task
from langchain_latm.testing import ReplayChatModel
from langchain_latm.testing.fakes import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "maker_graph.mmd"

GOOD_FN = (
    "def sort_words(question):\n"
    "    words = question.split('List:')[-1].split()\n"
    "    return ' '.join(sorted(words))\n"
)
REVERSED_FN = GOOD_FN.replace("sorted(words)", "sorted(words, reverse=True)")


def proposal(fn: str) -> str:
    return f"```python\n{fn}\nprint(sort_words('List: b a'))\n```"


def unit_tests(task: TaskSpec) -> str:
    body = "".join(
        f"q = {d.question!r}\nret = sort_words(q)\nans = ret\nassert ans == {d.answer!r}\n\n"
        for d in task.val[:3]
    )
    return f"```python\n{body}```"


def wrap(task: TaskSpec, fn: str = GOOD_FN) -> str:
    cases = "".join(
        f"Question: {d.question}\nSolution:\n```python\nans = sort_words({d.question!r})\n```\n\n"
        for d in task.val[:3]
    )
    head = "Here is a function to solve a class of problems:"
    return f"{head}\n```python\n{fn}```\n\nUse cases:\n{cases}"


@pytest.fixture(scope="module")
def executor() -> Iterator[SandboxExecutor]:
    ex = SandboxExecutor()
    yield ex
    close = getattr(ex, "close", None)
    if callable(close):
        close()


@pytest.fixture(scope="module")
def task(bbh_dir: Path) -> TaskSpec:
    return load_bbh_task("word_sorting", bbh_dir)


def test_mermaid_snapshot() -> None:
    drawing = build_maker_graph().compile().get_graph().draw_mermaid()
    if os.environ.get("LATM_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text()
    for edge in ("propose --> execute", "execute -.-> propose", "execute -.-> verify",
                 "verify --> check", "check -.-> verify", "check -.-> wrap",
                 "wrap --> check_wrap", "check_wrap -.-> wrap", "check_wrap -.-> __end__"):
        assert edge in drawing


def test_build_maker_graph_is_uncompiled_and_validates_options() -> None:
    from langgraph.graph import StateGraph

    assert isinstance(build_maker_graph(), StateGraph)
    with pytest.raises(ValueError, match="max_verify_attempts"):
        build_maker_graph(max_verify_attempts=0)


def test_stream_updates_and_custom_progress_events(
    task: TaskSpec, executor: SandboxExecutor, recorded_dir: Path
) -> None:
    llm = ReplayChatModel.from_transcript(recorded_dir / "word_sorting.json")
    graph = build_maker_graph(llm, executor=executor).compile()
    nodes: list[str] = []
    events: list[dict[str, Any]] = []
    for mode, chunk in graph.stream(
        {"task": task.model_dump(mode="json")}, stream_mode=["updates", "custom"]
    ):
        if mode == "updates":
            nodes.extend(chunk)
        else:
            events.append(chunk)
    assert nodes == ["propose", "execute", "verify", "check", "wrap", "check_wrap"]
    assert [(e["stage"], e["status"]) for e in events if e["status"] != "start"] == [
        ("execute", "ok"), ("check", "ok"), ("check_wrap", "ok")
    ]
    assert all(e["source"] == "maker" and e["candidate"] == 0 for e in events)


def test_toolmaker_stream_ends_with_the_tool(
    task: TaskSpec, executor: SandboxExecutor, recorded_dir: Path
) -> None:
    llm = ReplayChatModel.from_transcript(recorded_dir / "dyck_languages.json")
    spec = load_bbh_task("dyck_languages", recorded_dir.parent / "bbh")
    events = list(ToolMaker(llm, executor=executor).stream(spec))
    retries = [e for e in events if e.get("status") == "retry"]
    assert [e["stage"] for e in retries] == ["execute", "execute"]
    assert events[-1]["stage"] == "done" and events[-1]["tool"].verified


async def test_amake(task: TaskSpec, executor: SandboxExecutor, recorded_dir: Path) -> None:
    llm = ReplayChatModel.from_transcript(recorded_dir / "word_sorting.json")
    tool = await ToolMaker(llm, executor=executor).amake(task)
    assert tool.verified and tool.name == "sort_words_alphabetically"


def test_resume_after_crash_with_sqlite_does_not_repeat_finished_steps(
    task: TaskSpec, executor: SandboxExecutor, tmp_path: Path
) -> None:
    db = tmp_path / "maker.sqlite"
    first = ScriptedChatModel([proposal(GOOD_FN), RuntimeError("provider crashed")])
    with sqlite3.connect(db, check_same_thread=False) as conn:
        maker = ToolMaker(first, executor=executor, checkpointer=SqliteSaver(conn))
        with pytest.raises(ModelCallError, match="provider crashed"):
            maker.make(task, thread_id="job-1")
    assert first.calls == 2  # propose, then the crashing verify call

    second = ScriptedChatModel([unit_tests(task), wrap(task)])
    with sqlite3.connect(db, check_same_thread=False) as conn:
        maker = ToolMaker(second, executor=executor, checkpointer=SqliteSaver(conn))
        tool = maker.make(task, thread_id="job-1")
    assert tool.verified and "sorted(words)" in tool.code
    assert second.calls == 2  # verify + wrap only: the propose step was not repeated
    resumed_prompt = second.prompts[0]
    assert isinstance(resumed_prompt[1], AIMessage)
    assert "def sort_words" in str(resumed_prompt[1].content)
    assert "Write unit tests" in str(resumed_prompt[-1].content)
    assert tool.verification.attempts == {"propose": 1, "verify": 1, "wrap": 1}
    # usage survives the crash: both finished calls of the first model are counted
    assert tool.usage.calls == 3

    # a finished thread returns its tool without calling the model again
    idle = ScriptedChatModel(["unused"])
    with sqlite3.connect(db, check_same_thread=False) as conn:
        again = ToolMaker(idle, executor=executor, checkpointer=SqliteSaver(conn))
        assert again.make(task, thread_id="job-1").tool_id == tool.tool_id
    assert idle.calls == 0


def test_parallel_candidates_first_verified_wins_and_all_usage_counted(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    lock = threading.Lock()
    state = {"in_flight": 0, "max_in_flight": 0, "proposals": 0}

    def respond(messages: list[BaseMessage]) -> str:
        with lock:
            state["in_flight"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        time.sleep(0.3)
        try:
            last = str(messages[-1].content)
            if "generic Python function" in last:
                with lock:
                    state["proposals"] += 1
                    n = state["proposals"]
                return proposal(REVERSED_FN if n == 1 else GOOD_FN)
            if "Write unit tests" in last:
                return unit_tests(task)
            return wrap(task)
        finally:
            with lock:
                state["in_flight"] -= 1

    llm = ScriptedChatModel(respond, model_name="fake-strong")
    maker = ToolMaker(llm, executor=executor, n_candidates=2, max_verify_attempts=1)
    tool = maker.make(task)
    assert tool.verified and "reverse=True" not in tool.code
    assert state["max_in_flight"] >= 2  # proposals were made concurrently
    assert llm.calls == 5  # 2 proposals, 2 test replies (1 verify attempt each), 1 wrap
    assert tool.usage.calls == llm.calls
    assert tool.metadata["n_candidates"] == 2 and tool.metadata["candidates_verified"] == 1


def test_parallel_candidates_all_failing_raise(task: TaskSpec, executor: SandboxExecutor) -> None:
    from langchain_latm.errors import ToolMakingError

    def respond(messages: list[BaseMessage]) -> str:
        last = str(messages[-1].content)
        return proposal(REVERSED_FN) if "generic Python" in last else unit_tests(task)

    llm = ScriptedChatModel(respond)
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, n_candidates=2, max_verify_attempts=1).make(task)
    assert info.value.stage == "verify" and info.value.transcript


def _load_graph_module() -> Any:
    spec = importlib.util.spec_from_file_location("latm_graphs_maker", ROOT / "graphs" / "maker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deployable_graph_imports_without_keys_and_needs_a_model(
    task: TaskSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LATM_MAKER_MODEL", "LATM_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    module = _load_graph_module()
    with pytest.raises(ModelCallError, match="no maker model"):
        module.graph.invoke({"task": task.model_dump(mode="json")})


def test_deployable_graph_takes_the_model_from_context_or_env(
    task: TaskSpec, recorded_dir: Path, monkeypatch: pytest.MonkeyPatch, executor: SandboxExecutor
) -> None:
    seen: list[tuple[str, str | None]] = []

    def fake_loader(name: str, *, base_url: str | None = None, **_: Any) -> ReplayChatModel:
        seen.append((name, base_url))
        return ReplayChatModel.from_transcript(recorded_dir / "word_sorting.json")

    monkeypatch.setattr("langchain_latm.maker.nodes.load_chat_model", fake_loader)
    monkeypatch.setenv("LATM_BASE_URL", "http://127.0.0.1:9/v1")
    graph = build_maker_graph(executor=executor).compile()
    out = graph.invoke(
        {"task": task.model_dump(mode="json")}, context=MakerContext(model="served-model")
    )
    assert out["tool"]["verification"]["verified"] is True
    assert seen == [("served-model", "http://127.0.0.1:9/v1")]


def test_cli_make_from_a_replay(tmp_path: Path, data_dir: Path, recorded_dir: Path) -> None:
    from langchain_latm.cli.make import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        """Nothing."""

    out = tmp_path / "tool.json"
    result = CliRunner().invoke(
        app,
        ["make", "--task", "word_sorting", "--data-dir", str(data_dir), "--replay",
         str(recorded_dir / "word_sorting.json"), "--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["verification"]["verified"] is True
    assert json.loads(out.read_text())["tool_id"] == payload["tool_id"]

    failed = CliRunner().invoke(
        app, ["make", "--task", "dyck_languages", "--data-dir", str(data_dir), "--replay",
              str(recorded_dir / "dyck_languages.json"), "--max-attempts", "1", "--json"],
    )
    assert failed.exit_code == 1  # Dyck's first proposal fails; one attempt is not enough
    err = json.loads(failed.stdout.strip().splitlines()[-1])
    assert err["ok"] is False and err["stage"] == "propose"


def test_toolmaker_is_safe_to_share_between_threads(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    def respond(messages: list[BaseMessage]) -> str:
        last = str(messages[-1].content)
        if "generic Python function" in last:
            return proposal(GOOD_FN)
        return unit_tests(task) if "Write unit tests" in last else wrap(task)

    maker = ToolMaker(ScriptedChatModel(respond), executor=executor)
    results: list[str] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            results.append(maker.make(task).tool_id)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 3 and len(set(results)) == 1
