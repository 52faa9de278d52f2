"""End-to-end LATM graph and facade: dispatch -> cached tool | make (subgraph) -> store -> use."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langchain_latm.dispatcher import Dispatcher
from langchain_latm.errors import ConfigurationError, SandboxError
from langchain_latm.latm import LATM, build_latm_graph
from langchain_latm.repository import ToolRepository
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import ExecutionResult, Route, TaskSpec, WrappedTool
from langchain_latm.tasks import answers_match, load_bbh_task
from langchain_latm.testing import ReplayChatModel, ScriptedChatModel

SNAPSHOT = Path(__file__).parent / "snapshots" / "latm_graph.mmd"


@pytest.fixture(scope="module")
def executor() -> Iterator[SandboxExecutor]:
    ex = SandboxExecutor()
    yield ex
    close = getattr(ex, "close", None)
    if callable(close):
        close()


@pytest.fixture(scope="module")
def word_sorting(data_dir: Path) -> TaskSpec:
    return load_bbh_task("word_sorting", data_dir)


@pytest.fixture()
def repo(tmp_path: Path) -> ToolRepository:
    return ToolRepository(path=str(tmp_path / "repo"))


def replay_maker(recorded_dir: Path, task: str = "word_sorting") -> ReplayChatModel:
    return ReplayChatModel.from_transcript(recorded_dir / f"{task}.json")


def sorting_user() -> ScriptedChatModel:
    """A weak model that writes a correct call snippet for word-sorting questions."""

    def respond(messages: list[BaseMessage]) -> str:
        prompt = str(messages[0].content)
        entry = re.search(r"calls `(\w+)`", prompt)
        assert entry is not None, "the prompt names the function to call"
        question = prompt.rsplit("Question:", 1)[1].split("Solution:")[0]
        words = question.split("List:", 1)[1].split()
        return f"```python\nans = ' '.join({entry.group(1)}({words!r}))\n```"

    return ScriptedChatModel(respond, model_name="weak-scripted")


def never_called() -> ScriptedChatModel:
    def respond(messages: list[BaseMessage]) -> str:
        raise AssertionError("this model must not be called")

    return ScriptedChatModel(respond, model_name="must-not-call")


def test_unknown_with_task_makes_stores_and_answers(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    maker = replay_maker(recorded_dir)
    user = sorting_user()
    latm = LATM(maker, user, repository=repo, executor=executor)
    demo = word_sorting.test[0]

    answer = latm.solve(demo.question, task=word_sorting)

    assert answer.ok, answer.error
    assert answers_match(answer.answer, demo.answer, question=demo.question, task="word_sorting")
    assert answer.metadata["outcome"] == "made"
    # the maker subgraph consumed the whole recorded session: propose, verify, wrap
    assert maker.remaining == 0 and len(maker.prompts) >= 3
    stored = repo.list()
    assert len(stored) == 1 and stored[0].task == "word_sorting" and stored[0].verified
    assert answer.tool == stored[0].name
    usage = latm.tracker.usage_by_role()
    assert usage["maker"].calls >= 3 and usage["maker"].input_tokens > 0
    assert usage["user"].calls == 1


def test_known_question_uses_cached_tool_without_the_maker(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    LATM(replay_maker(recorded_dir), sorting_user(), repository=repo,
         executor=executor).make(word_sorting)
    maker = never_called()
    latm = LATM(maker, sorting_user(), repository=repo, executor=executor)
    for demo in word_sorting.test[1:4]:
        # without task: the dispatcher routes by meaning
        answer = latm.solve(demo.question)
        assert answer.metadata["outcome"] == "cached", answer.metadata
        assert answer.ok and answers_match(answer.answer, demo.answer, task="word_sorting")
    # with the task named, the cached tool of that task is used as well
    answer = latm.solve(word_sorting.test[5].question, task=word_sorting)
    assert answer.metadata["outcome"] == "cached"
    assert maker.calls == 0
    assert len(repo.list()) == 1


def test_unknown_without_demonstrations_is_an_explicit_outcome(
    repo: ToolRepository, executor: SandboxExecutor, data_dir: Path
) -> None:
    maker, user = never_called(), never_called()
    latm = LATM(maker, user, repository=repo, executor=executor)
    question = load_bbh_task("navigate", data_dir).test[0].question
    answer = latm.solve(question)
    assert not answer.ok and answer.answer is None
    assert answer.error_type == "UnknownTask"
    assert answer.metadata["outcome"] == "unknown"
    assert answer.error and "demonstrations" in answer.error
    assert maker.calls == 0 and user.calls == 0 and repo.list() == []


def test_failed_making_stores_nothing_and_reports(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec
) -> None:
    maker = ScriptedChatModel(["I would rather not write code."], cycle=True)
    latm = LATM(maker, never_called(), repository=repo, executor=executor, max_attempts=2)
    answer = latm.solve(word_sorting.test[0].question, task=word_sorting)
    assert not answer.ok and answer.metadata["outcome"] == "make_failed"
    assert answer.error_type == "ToolMakingError"
    assert answer.error and "propose" in answer.error
    assert repo.list() == []


def test_direct_fallback_uses_the_strong_model(
    repo: ToolRepository, executor: SandboxExecutor
) -> None:
    maker = ScriptedChatModel(["Step 1 ... So the answer is (B)."], model_name="gpt-4")
    graph = build_latm_graph(maker_llm=maker, user_llm=never_called(), repository=repo,
                             executor=executor, fallback="direct").compile()
    question = "Which is bigger?\nOptions:\n(A) 1\n(B) 2"
    out = graph.invoke({"question": question})
    assert out["outcome"] == "direct"
    assert out["answer"].answer == "(B)" and out["answer"].ok
    assert out["usage"]["maker"].calls == 1


def test_user_provider_error_is_a_failed_answer(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    LATM(replay_maker(recorded_dir), None, repository=repo, executor=executor).make(word_sorting)
    user = ScriptedChatModel([RuntimeError("HTTP 500 from provider")], model_name="weak-x")
    latm = LATM(None, user, repository=repo, executor=executor)
    answer = latm.solve(word_sorting.test[0].question)
    assert not answer.ok and answer.error_type == "ModelCallError"
    assert answer.metadata["role"] == "user" and answer.metadata["model"] == "weak-x"
    assert answer.metadata["outcome"] == "cached"


def test_graph_without_models_names_the_missing_setting(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec,
    recorded_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LATM_USER_MODEL", raising=False)
    LATM(replay_maker(recorded_dir), None, repository=repo, executor=executor).make(word_sorting)
    graph = build_latm_graph(repository=repo, executor=executor).compile()
    with pytest.raises(ConfigurationError, match="LATM_USER_MODEL"):
        graph.invoke({"question": word_sorting.test[0].question})


def test_tools_and_cost_report(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    latm = LATM(replay_maker(recorded_dir), sorting_user(), repository=repo, executor=executor)
    for demo in word_sorting.test[:3]:
        assert latm.solve(demo.question, task=word_sorting).ok
    tools = latm.tools()
    assert len(tools) == 1 and tools[0].name == repo.list()[0].name
    report = latm.cost_report(n=1000)
    assert report.k == 1 and report.n == 1000
    assert report.strong_model == "gpt-4" and report.weak_model == "gpt-3.5-turbo"
    assert report.c_make > 0 and report.c_weak > 0 and report.c_strong > report.c_weak
    assert report.latm_total == pytest.approx(report.c_make + 1000 * report.c_weak)
    assert "direct" in report.estimated and "user" not in report.estimated


def test_stream_shows_the_path(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    graph = build_latm_graph(maker_llm=replay_maker(recorded_dir), user_llm=sorting_user(),
                             repository=repo, executor=executor).compile()
    nodes = [next(iter(update)) for update in graph.stream(
        {"question": word_sorting.test[0].question, "task": word_sorting.model_dump()},
        stream_mode="updates")]
    assert nodes == ["dispatch", "make_tool", "store_tool", "use_tool"]


def test_mermaid_snapshot() -> None:
    drawn = build_latm_graph().compile().get_graph().draw_mermaid()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(drawn, encoding="utf-8")
    assert drawn == SNAPSHOT.read_text(encoding="utf-8")
    for node in ("dispatch", "make_tool", "store_tool", "use_tool", "no_tool"):
        assert node in drawn


# --------------------------------------------------------------------------- async path


class AsyncOnlyUser(ScriptedChatModel):
    """A weak model that fails if called synchronously (so the async path is proven)."""

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise AssertionError("the async graph path called the model synchronously")


class AsyncOnlyExecutor:
    def __init__(self, inner: SandboxExecutor) -> None:
        self.inner = inner
        self.calls = 0

    def run(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        raise AssertionError("the async graph path called the sandbox synchronously")

    async def arun(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        self.calls += 1
        return await self.inner.arun(*args, **kwargs)


class AsyncOnlyDispatcher:
    def __init__(self, inner: Dispatcher) -> None:
        self.inner = inner
        self.repository = inner.repository
        self.calls = 0

    def route(self, question: str) -> Route:
        raise AssertionError("the async graph path routed synchronously")

    async def aroute(self, question: str) -> Route:
        self.calls += 1
        return await self.inner.aroute(question)


def _sorting_reply(messages: list[BaseMessage]) -> str:
    prompt = str(messages[0].content)
    entry = re.search(r"calls `(\w+)`", prompt)
    assert entry is not None
    words = prompt.rsplit("Question:", 1)[1].split("Solution:")[0].split("List:", 1)[1].split()
    return f"```python\nans = ' '.join({entry.group(1)}({words!r}))\n```"


def test_asolve_awaits_every_step(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    LATM(replay_maker(recorded_dir), None, repository=repo, executor=executor).make(word_sorting)
    sandbox = AsyncOnlyExecutor(executor)
    router = AsyncOnlyDispatcher(Dispatcher(repo))
    user = AsyncOnlyUser(respond=_sorting_reply, model_name="weak-async")
    latm = LATM(never_called(), user, repository=repo, executor=sandbox,  # type: ignore[arg-type]
                dispatcher=router)  # type: ignore[arg-type]
    demos = word_sorting.test[:4]

    answers = asyncio.run(latm.asolve_many([d.question for d in demos], max_concurrency=4))

    for demo, answer in zip(demos, answers, strict=True):
        assert answer.ok, answer.error
        assert answers_match(answer.answer, demo.answer, task="word_sorting")
        assert answer.metadata["outcome"] == "cached"
        assert answer.metadata["task"] == "word_sorting"
    assert user.calls == 4 and sandbox.calls == 4 and router.calls == 4

    async def stream_nodes() -> list[str]:
        return [next(iter(update)) async for update in latm.graph.astream(
            {"question": word_sorting.test[5].question}, stream_mode="updates")]

    assert asyncio.run(stream_nodes()) == ["dispatch", "use_tool"]
    assert user.calls == 5 and sandbox.calls == 5


def test_asolve_makes_stores_and_answers_an_unknown_task(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    maker = replay_maker(recorded_dir)
    user = AsyncOnlyUser(respond=_sorting_reply, model_name="weak-async")
    latm = LATM(maker, user, repository=repo, executor=executor)
    demo = word_sorting.test[0]
    answer = asyncio.run(latm.asolve(demo.question, task="word_sorting"))
    assert answer.ok, answer.error
    assert answer.metadata["outcome"] == "made"
    assert answers_match(answer.answer, demo.answer, question=demo.question, task="word_sorting")
    assert [t.name for t in repo.list()] == [answer.tool]
    # the next question of the task uses the stored tool: no second making
    again = asyncio.run(latm.asolve(word_sorting.test[1].question, task="word_sorting"))
    assert again.ok and again.metadata["outcome"] == "cached"
    assert maker.remaining == 0 and latm.tracker.usage_by_role()["user"].calls == 2


def test_concurrent_asolve_questions_wait_on_the_model_together(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    """16 questions are in the model call at the same time: no thread pool caps them."""
    LATM(replay_maker(recorded_dir), None, repository=repo, executor=executor).make(word_sorting)
    want = 16
    arrived = 0
    everyone: asyncio.Event | None = None

    class BarrierUser(ScriptedChatModel):
        async def _agenerate(self, messages: list[BaseMessage], *args: Any,
                             **kwargs: Any) -> ChatResult:
            nonlocal arrived, everyone
            if everyone is None:
                everyone = asyncio.Event()
            arrived += 1
            if arrived == want:
                everyone.set()
            # Every question must reach its model call before any may go on.
            await asyncio.wait_for(everyone.wait(), timeout=60)
            return self._result(messages, _sorting_reply(messages))

        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise AssertionError("synchronous model call on the async path")

    latm = LATM(None, BarrierUser(respond=_sorting_reply), repository=repo, executor=executor)
    questions = [word_sorting.test[i % len(word_sorting.test)].question for i in range(want)]
    answers = asyncio.run(latm.asolve_many(questions, max_concurrency=want))
    assert arrived == want
    assert all(a.ok for a in answers), [a.error for a in answers if not a.ok]


def test_no_repository_scan_per_question(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    LATM(replay_maker(recorded_dir), None, repository=repo, executor=executor).make(word_sorting)
    latm = LATM(never_called(), sorting_user(), repository=repo, executor=executor)
    scans = 0
    real_list = repo.list

    def counting_list(*args: Any, **kwargs: Any) -> list[WrappedTool]:
        nonlocal scans
        scans += 1
        return real_list(*args, **kwargs)

    monkeypatch.setattr(repo, "list", counting_list)
    for demo in word_sorting.test[:3]:  # routed by meaning
        answer = latm.solve(demo.question)
        assert answer.ok and answer.metadata["task"] == "word_sorting"
    assert scans == 0
    for demo in word_sorting.test[3:6]:  # task named: one scan builds the task -> tool map
        answer = asyncio.run(latm.asolve(demo.question, task=word_sorting))
        assert answer.ok and answer.metadata["outcome"] == "cached"
        assert "caller named task" in answer.metadata["route_reason"]
    assert scans == 1
    # The session's questions are attributed to their task for the cost estimate.
    assert [t for _, t in latm._questions] == ["word_sorting"] * 6


def test_named_task_lookup_rescans_when_the_tool_is_removed(
    repo: ToolRepository, executor: SandboxExecutor, word_sorting: TaskSpec, recorded_dir: Path
) -> None:
    tool = LATM(replay_maker(recorded_dir), None, repository=repo,
                executor=executor).make(word_sorting)
    refusing_maker = ScriptedChatModel(["I would rather not write code."], cycle=True)
    latm = LATM(refusing_maker, sorting_user(), repository=repo, executor=executor,
                max_attempts=1)
    assert latm.solve(word_sorting.test[0].question, task=word_sorting).ok
    assert refusing_maker.calls == 0
    repo.remove(tool.name)
    answer = latm.solve(word_sorting.test[1].question, task=word_sorting)
    # The remembered tool is gone: the lookup rescans, finds no tool for the task, and the
    # graph goes on to make one (which this maker refuses) instead of using a stale tool.
    assert answer.metadata["outcome"] == "make_failed", answer.metadata
    assert refusing_maker.calls >= 1


def test_close_releases_what_latm_opened_and_keeps_what_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: SandboxExecutor,
    repo: ToolRepository,
) -> None:
    monkeypatch.setenv("LATM_REPO", str(tmp_path / "own"))
    with LATM(sorting_user(), sorting_user()) as own:
        assert own.repository.path == (tmp_path / "own").resolve()
        own_executor = own.executor
        assert own_executor is not None
        assert own_executor.run("", "ans = 1").answer == 1
    assert own.repository.closed
    with pytest.raises(SandboxError, match="closed"):
        own_executor.run("", "ans = 1")
    own.close()  # twice is a no-op

    with LATM(sorting_user(), sorting_user(), repository=repo, executor=executor) as given:
        assert given.executor is executor
    assert not repo.closed
    assert executor.run("", "ans = 2").answer == 2
