"""Planted failures: the harness, not the maker's asserts, decides; bad output is retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_latm.errors import ReplayExhaustedError, ToolMakingError
from langchain_latm.maker import ToolMaker
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import Demonstration, TaskSpec
from langchain_latm.tasks import load_bbh_task
from langchain_latm.testing.fakes import ScriptedChatModel

GOOD_FN = (
    "def sort_words(question):\n"
    "    words = question.split('List:')[-1].split()\n"
    "    return ' '.join(sorted(words))\n"
)
REVERSED_FN = (
    "def sort_words(question):\n"
    "    words = question.split('List:')[-1].split()\n"
    "    return ' '.join(sorted(words, reverse=True))\n"
)
TRUNCATING_FN = (  # right on short lists, wrong on the 17-word validation example
    "def sort_words(question):\n"
    "    words = question.split('List:')[-1].split()\n"
    "    return ' '.join(sorted(words)[:15])\n"
)
LOOPING_ON_LONG_FN = (  # never returns on long lists
    "def sort_words(question):\n"
    "    words = question.split('List:')[-1].split()\n"
    "    while len(words) > 15:\n"
    "        pass\n"
    "    return ' '.join(sorted(words))\n"
)


def proposal(fn: str = GOOD_FN, usage: str = "print(sort_words('List: b a'))") -> str:
    return f"Here is the function:\n\n```python\n{fn}\n# Example usage:\n{usage}\n```\nDone."


def unit_tests_reply(
    task: TaskSpec,
    *,
    expected: dict[int, str] | None = None,
    skip: tuple[int, ...] = (),
    call: bool = True,
    prefix: str = "",
) -> str:
    parts = []
    for i, demo in enumerate(task.val[:3]):
        if i in skip:
            continue
        want = (expected or {}).get(i, demo.answer)
        compute = f"ret = sort_words(q{i})\nans = ret" if call else f"ans = {demo.answer!r}"
        parts.append(
            f"# Test {i + 1}\nq{i} = {demo.question!r}\n{compute}\nassert ans == {want!r}\n"
        )
    body = "".join(parts)
    return f"Here are the tests:\n```python\n{prefix}{body}print('All tests passed!')\n```"


def wrap_reply(task: TaskSpec, fn: str = GOOD_FN) -> str:
    cases = "".join(
        f"Question: {d.question}\nSolution:\n```python\nq = {d.question!r}\n"
        f"ret = sort_words(q)\nans = ret\n```\n\n"
        for d in task.val[:3]
    )
    head = "Here is a function to solve a class of problems:"
    return f"{head}\n```python\n{fn}```\n\nUse cases:\n{cases}"


def last_human(prompt: list) -> str:  # type: ignore[type-arg]
    return str(prompt[-1].content)


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


def reversed_answer(demo: Demonstration) -> str:
    words = demo.question.split("List:")[-1].split()
    return " ".join(sorted(words, reverse=True))


def test_wrong_expected_values_tailored_to_a_wrong_tool_are_rejected(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    # The tool is wrong and the maker's asserts are tailored to it: they would all pass.
    tailored = {i: reversed_answer(d) for i, d in enumerate(task.val[:3])}
    llm = ScriptedChatModel([proposal(REVERSED_FN), unit_tests_reply(task, expected=tailored)])
    maker = ToolMaker(llm, executor=executor, max_verify_attempts=1)
    with pytest.raises(ToolMakingError) as info:
        maker.make(task)
    err = info.value
    assert err.stage == "verify"
    assert err.report is not None and not err.report.verified
    assert [c.ok for c in err.report.cases] == [False, False, False]
    assert err.report.cases[0].got == tailored[0]
    assert "instead of the provided answer" in (err.last_error or "")
    assert repr(task.val[0].answer) in (err.last_error or "")
    assert err.transcript[0]["role"] == "user" and len(err.transcript) == 4


def test_wrong_tool_fixed_by_a_redefinition_in_the_tests(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    tailored = {i: reversed_answer(d) for i, d in enumerate(task.val[:3])}
    llm = ScriptedChatModel(
        [
            proposal(REVERSED_FN),
            unit_tests_reply(task, expected=tailored),
            unit_tests_reply(task, prefix=GOOD_FN + "\n"),  # fixed function + honest tests
            wrap_reply(task, GOOD_FN),
        ]
    )
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verified
    assert "reverse=True" not in tool.code
    feedback = last_human(llm.prompts[2])
    assert feedback.startswith("Failed to verify the function")
    assert "Question 1" in feedback and "Question 3" in feedback


def test_skipped_example_is_not_verified_and_feedback_names_it(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel(
        [proposal(), unit_tests_reply(task, skip=(2,)), unit_tests_reply(task), wrap_reply(task)]
    )
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verified and tool.verification.attempts["verify"] == 2
    feedback = last_human(llm.prompts[2])
    assert "1 of 3 questions" in feedback
    assert "Question 3" in feedback and "no test computes `ans`" in feedback
    assert "Question 1" not in feedback


def test_tool_right_on_two_of_three_is_rejected(task: TaskSpec, executor: SandboxExecutor) -> None:
    tailored = {1: " ".join(sorted(task.val[1].question.split("List:")[-1].split())[:15])}
    llm = ScriptedChatModel([proposal(TRUNCATING_FN), unit_tests_reply(task, expected=tailored)])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_verify_attempts=1).make(task)
    report = info.value.report
    assert report is not None
    assert [c.ok for c in report.cases] == [True, False, True]
    assert "Question 2" in (info.value.last_error or "")
    assert "Question 1" not in (info.value.last_error or "")


def test_infinite_loop_in_proposal_is_a_timeout_then_fixed(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel(
        [
            proposal(usage="while True:\n    pass"),
            proposal(),
            unit_tests_reply(task),
            wrap_reply(task),
        ]
    )
    tool = ToolMaker(llm, executor=executor, timeout=1.5).make(task)
    assert tool.verified and tool.verification.attempts["propose"] == 2
    feedback = last_human(llm.prompts[1])
    assert feedback.startswith("Failed to execute the function due to the error: Timeout")
    assert feedback.endswith("Please fix it and try again.")


def test_function_that_never_returns_on_a_validation_example(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([proposal(LOOPING_ON_LONG_FN), unit_tests_reply(task)])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_verify_attempts=1, timeout=1.5).make(task)
    report = info.value.report
    assert report is not None and [c.ok for c in report.cases] == [True, False, True]
    assert "Timeout" in (report.cases[1].error or "")
    assert "failed to execute due to the error: Timeout" in (info.value.last_error or "")


@pytest.mark.parametrize(
    ("bad_reply", "error_type"),
    [
        ("```python\ndef sort_words(question:\n    return question\n```", "SyntaxError"),
        ("I would sort the words alphabetically using sorted().", "NoCodeBlock"),
        ("", "EmptyReply"),
        ("```python\nx = 1\nprint(x)\n```", "NoFunction"),
    ],
)
def test_malformed_proposal_gets_the_paper_feedback_and_is_retried(
    task: TaskSpec, executor: SandboxExecutor, bad_reply: str, error_type: str
) -> None:
    llm = ScriptedChatModel([bad_reply, proposal(), unit_tests_reply(task), wrap_reply(task)])
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verified
    feedback = last_human(llm.prompts[1])
    assert feedback.startswith(f"Failed to execute the function due to the error: {error_type} ")
    assert feedback.endswith("Please fix it and try again.")


def test_propose_attempts_run_out(task: TaskSpec, executor: SandboxExecutor) -> None:
    crash = proposal(usage="raise ValueError('boom')")
    llm = ScriptedChatModel([crash, crash, crash])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor).make(task)
    err = info.value
    assert err.stage == "propose" and err.attempts == 3 and err.task == "word_sorting"
    assert (err.last_error or "").startswith("ValueError: boom")
    assert "Failed to execute the function due to the error: ValueError boom" in str(err)
    assert [m["role"] for m in err.transcript] == ["user", "assistant"] * 3
    assert llm.calls == 3


def test_tests_that_do_not_call_the_function_or_print_fake_success(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    fake = (
        "```python\nprint('All tests passed!')\nans1 = 'x'\nans2 = 'y'\nans3 = 'z'\n"
        "print('Success! The function is correct.')\n```"
    )
    llm = ScriptedChatModel([proposal(REVERSED_FN), unit_tests_reply(task, call=False), fake])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_verify_attempts=2).make(task)
    first_feedback = last_human(llm.prompts[2])
    assert "does not call the function" in first_feedback
    report = info.value.report
    assert report is not None and not any(c.ok for c in report.cases)


def test_malformed_wrap_falls_back_to_verified_test_snippets(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([proposal(), unit_tests_reply(task), "Sure, the function is great."])
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verified and llm.calls == 3
    assert tool.metadata["use_case_sources"] == ["tests", "tests", "tests"]
    assert [u.answer for u in tool.use_cases] == [d.answer for d in task.val[:3]]
    assert all("sort_words(" in u.snippet for u in tool.use_cases)


def test_wrap_without_fallback_retries_then_fails_at_wrap(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([proposal(), unit_tests_reply(task), "no idea", "still no code"])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, wrap_fallback=False, max_wrap_attempts=2).make(task)
    assert info.value.stage == "wrap" and info.value.attempts == 2
    assert "could not be used" in last_human(llm.prompts[3])


def test_wrapped_use_case_giving_a_wrong_answer_is_replaced(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    marker = "ans = ret\n```\n\nQuestion"
    wrap = wrap_reply(task).replace(marker, marker.replace("ret", "ret[::-1]"), 1)
    llm = ScriptedChatModel([proposal(), unit_tests_reply(task), wrap])
    tool = ToolMaker(llm, executor=executor).make(task)
    assert tool.verified
    assert tool.metadata["use_case_sources"] == ["tests", "wrap", "wrap"]
    assert "[::-1]" not in tool.use_cases[0].snippet


def test_replay_exhaustion_propagates_unchanged(task: TaskSpec, executor: SandboxExecutor) -> None:
    llm = ScriptedChatModel([proposal()])
    with pytest.raises(ReplayExhaustedError):
        ToolMaker(llm, executor=executor).make(task)


def test_expected_value_in_an_ans_prefixed_variable_does_not_leak(
    task: TaskSpec, executor: SandboxExecutor
) -> None:
    # ``answer_key`` starts with "ans": without pinning, the sandbox would read it as the answer.
    leaky = "".join(
        f"q = {d.question!r}\nret = sort_words(q)\nans = ret\nanswer_key = {d.answer!r}\n"
        f"assert ans == answer_key\n\n"
        for d in task.val[:3]
    )
    llm = ScriptedChatModel([proposal(REVERSED_FN), f"```python\n{leaky}```"])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_verify_attempts=1).make(task)
    report = info.value.report
    assert report is not None and not any(c.ok for c in report.cases)


def test_constant_answers_are_not_accepted(task: TaskSpec, executor: SandboxExecutor) -> None:
    constant = "".join(
        f"ret = sort_words({d.question!r})\nans = {d.answer!r}\nassert ans == {d.answer!r}\n\n"
        for d in task.val[:3]
    )
    llm = ScriptedChatModel([proposal(REVERSED_FN), f"```python\n{constant}```"])
    with pytest.raises(ToolMakingError) as info:
        ToolMaker(llm, executor=executor, max_verify_attempts=1).make(task)
    assert "fixed value to `ans`" in (info.value.last_error or "")
