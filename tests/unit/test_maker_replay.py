"""The paper's recorded GPT-4 sessions replay through ToolMaker into verified tools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from langchain_latm.maker import ToolMaker
from langchain_latm.maker.prompts import format_demonstrations
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.tasks import answers_match, load_bbh_task
from langchain_latm.testing import ReplayChatModel
from langchain_latm.testing.replay import estimate_tokens

SESSIONS = [
    "chinese_remainder_theorem",
    "dyck_languages",
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_five_objects",
    "word_sorting",
]


@pytest.fixture(scope="module")
def executor() -> Iterator[SandboxExecutor]:
    ex = SandboxExecutor()
    yield ex
    close = getattr(ex, "close", None)
    if callable(close):
        close()


@pytest.mark.parametrize("name", SESSIONS)
def test_recorded_session_replays_into_a_verified_tool(
    name: str, recorded_dir: Path, bbh_dir: Path, executor: SandboxExecutor
) -> None:
    task = load_bbh_task(name, bbh_dir)
    llm = ReplayChatModel.from_transcript(recorded_dir / f"{name}.json")
    tool = ToolMaker(llm, executor=executor).make(task)

    # verified by the harness, on exactly this content
    assert tool.verified
    report = tool.verification
    assert report.verified_by == "harness" and report.verified_tool_id == tool.tool_id
    assert [c.ok for c in report.cases] == [True, True, True]
    assert tool.task == name and tool.name.isidentifier()
    assert tool.entrypoint in tool.code and "print(" not in tool.code
    assert [u.question for u in tool.use_cases] == [d.question for d in task.val[:3]]
    assert [u.answer for u in tool.use_cases] == [d.answer for d in task.val[:3]]
    assert llm.remaining == 0  # every recorded turn was used, none was missing

    # independent re-check: each use case, run alone in the sandbox, gives the gold answer
    for use_case, demo in zip(tool.use_cases, task.val[:3], strict=True):
        result = executor.run(tool.code, use_case.snippet, timeout=20)
        assert result.ok, result.error
        assert answers_match(result.answer, demo.answer, question=demo.question, task=name)

    # the prompts have the paper's structure
    prompts = llm.prompts
    first = prompts[0]
    assert len(first) == 1
    propose = str(first[0].content)
    assert propose.startswith(format_demonstrations(task.train[:3]) + "\n\n")
    assert propose.count("Question: ") == 3 and task.train[3].question not in propose
    assert "generic Python function" in propose
    verify_calls = [p for p in prompts if "Write unit tests" in str(p[-1].content)]
    assert len(verify_calls) == 1
    verify = str(verify_calls[0][-1].content)
    assert verify.startswith(format_demonstrations(task.val[:3]) + "\n\n")
    assert verify.count("Question: ") == 3 and "`ret`" in verify and "`ans`" in verify
    assert task.val[3].question not in verify
    wrap = str(prompts[-1][-1].content)
    assert wrap.startswith("Success! The function is correct.")
    assert "Do this for all the questions in the verification step." in wrap
    # each call carries the whole conversation so far
    assert [len(p) for p in prompts] == [1 + 2 * i for i in range(len(prompts))]

    # usage: every call counted, estimated from the replayed text
    assert tool.usage.calls == len(llm.turns)
    assert tool.usage.output_tokens == sum(estimate_tokens(t) for t in llm.turns)
    expected_in = sum(estimate_tokens(str(m.content)) for p in prompts for m in p)
    assert tool.usage.input_tokens == expected_in
    assert tool.metadata["usage_estimated"] is True
    assert tool.maker_model == f"replay:{name}"


def test_dyck_first_two_proposals_fail_and_get_the_error_feedback(
    recorded_dir: Path, bbh_dir: Path, executor: SandboxExecutor
) -> None:
    task = load_bbh_task("dyck_languages", bbh_dir)
    llm = ReplayChatModel.from_transcript(recorded_dir / "dyck_languages.json")
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verification.attempts == {"propose": 3, "verify": 1, "wrap": 1}
    for prompt in llm.prompts[1:3]:
        feedback = str(prompt[-1].content)
        assert feedback.startswith("Failed to execute the function due to the error: KeyError")
        assert feedback.endswith("Please fix it and try again.")
        assert isinstance(prompt[-2], AIMessage)
    assert "closing_map = {'(': ')'" in tool.code


def test_replay_with_fewer_attempts_than_recorded_fails_at_propose(
    recorded_dir: Path, bbh_dir: Path, executor: SandboxExecutor
) -> None:
    from langchain_latm.errors import ToolMakingError

    task = load_bbh_task("dyck_languages", bbh_dir)
    llm = ReplayChatModel.from_transcript(recorded_dir / "dyck_languages.json")
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_propose_attempts=2).make(task)
    assert info.value.stage == "propose" and info.value.attempts == 2
    assert len(info.value.transcript) == 4


def test_session_recorded_on_another_task_fails_with_the_reason(
    recorded_dir: Path, bbh_dir: Path, executor: SandboxExecutor
) -> None:
    # The paper's release ships its five-object session a second time as the seven-object
    # one. Replayed on the seven-object task its unit tests check the wrong answers, and the
    # error must say why instead of only "exhausted".
    from langchain_latm.errors import LATMError

    task = load_bbh_task("tracking_shuffled_objects_seven_objects", bbh_dir)
    llm = ReplayChatModel.from_transcript(
        recorded_dir / "tracking_shuffled_objects_five_objects.json")
    with pytest.raises(LATMError) as info:
        ToolMaker(llm, executor=executor).make(task)
    assert "recorded on another task or split" in str(info.value)
