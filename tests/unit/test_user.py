"""ToolUser: the weak model writes a call snippet, the sandbox runs it, failures become Answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import Answer, ExecutionResult, UseCase, WrappedTool
from langchain_latm.testing import ScriptedChatModel
from langchain_latm.user import ToolUser, extract_code_block
from langchain_latm.user_prompts import render_tool_user_prompt

SORT_CODE = "def sort_words(words):\n    return sorted(words)\n"
PICK_CODE = (
    "def pick_longest(names):\n"
    "    return max(names, key=len)\n"
)
MC_QUESTION = (
    "Which name is the longest?\nOptions:\n(A) Al\n(B) Bartholomew\n(C) Cy"
)


def fence(code: str) -> str:
    return f"Here you go:\n```python\n{code}\n```\n"


@pytest.fixture(scope="module")
def executor() -> Iterator[SandboxExecutor]:
    ex = SandboxExecutor()
    yield ex
    close = getattr(ex, "close", None)
    if callable(close):
        close()


@pytest.fixture()
def sort_tool() -> WrappedTool:
    return WrappedTool(
        name="sort_words",
        task="word_sorting",
        description="Sort a list of words alphabetically.",
        code=SORT_CODE,
        use_cases=[
            UseCase(
                question="Sort the following words alphabetically: List: pear apple",
                snippet='words = "pear apple".split()\nans = " ".join(sort_words(words))',
                answer="apple pear",
            )
        ],
    )


@pytest.fixture()
def mc_tool() -> WrappedTool:
    return WrappedTool(
        name="pick_longest",
        task="longest_name",
        description="Pick the longest name.",
        code=PICK_CODE,
        use_cases=[],
    )


Q = "Sort the following words alphabetically: List: zebra mango kiwi"


def test_prompt_is_the_papers_wrapper_plus_question(sort_tool: WrappedTool) -> None:
    prompt = render_tool_user_prompt(sort_tool, Q)
    assert prompt.startswith("Here is a function to solve a class of problems:")
    assert "```python\ndef sort_words(words):" in prompt
    assert "Use cases:\nQuestion: Sort the following words alphabetically: List: pear" in prompt
    assert "Solution:\n```python\nwords = " in prompt
    assert prompt.rstrip().endswith(f"Question: {Q}\nSolution:")
    assert "`ans`" in prompt and "sort_words" in prompt.split("Use cases:")[1]


def test_solve_runs_snippet_in_sandbox_and_normalises(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([fence("ans = sort_words(['zebra', 'mango', 'kiwi'])")],
                            model_name="small-model")
    answer = ToolUser(llm, executor=executor).solve(Q, sort_tool)
    assert answer.ok, answer.error
    # the list the snippet produced is normalised to the BBH word-sorting form
    assert answer.raw_answer == ["kiwi", "mango", "zebra"]
    assert answer.answer == "kiwi mango zebra"
    assert answer.tool == "sort_words"
    assert answer.attempts == 1
    assert answer.usage.calls == 1 and answer.usage.input_tokens > 50
    assert answer.usage.model == "small-model"
    sent = llm.prompts[0][0].content
    assert isinstance(sent, str) and Q in sent and "def sort_words" in sent


def test_model_may_redefine_the_function(sort_tool: WrappedTool, executor: SandboxExecutor) -> None:
    snippet = "def sort_words(w):\n    return sorted(w, reverse=True)\nans = sort_words(['a', 'b'])"
    answer = ToolUser(ScriptedChatModel([fence(snippet)]), executor=executor).solve(Q, sort_tool)
    assert answer.ok and answer.answer == "b a"


def test_multiple_choice_text_is_mapped_to_option(
    mc_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([fence("ans = pick_longest(['Al', 'Bartholomew', 'Cy'])")])
    answer = ToolUser(llm, executor=executor).solve(MC_QUESTION, mc_tool)
    assert answer.ok and answer.raw_answer == "Bartholomew" and answer.answer == "(B)"


def test_no_code_block_is_a_failed_answer(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel(["The answer is kiwi mango zebra."])
    answer = ToolUser(llm, executor=executor).solve(Q, sort_tool)
    assert not answer.ok and answer.answer is None
    assert answer.error_type == "NoCodeBlock"
    assert llm.calls == 1


def test_no_code_block_can_be_retried_on_request(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel(["kiwi mango zebra", fence("ans = sort_words(['b', 'a'])")])
    answer = ToolUser(llm, executor=executor, retry_on_no_code=True).solve(Q, sort_tool)
    assert answer.ok and answer.answer == "a b" and answer.attempts == 2
    assert "no ```python code block" in str(llm.prompts[1][-1].content)


def test_failing_snippet_is_retried_with_the_error(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([
        fence("ans = sort_wordz(['b', 'a'])"),
        fence("ans = sort_words(['b', 'a'])"),
    ])
    answer = ToolUser(llm, executor=executor).solve(Q, sort_tool)
    assert answer.ok, answer.error
    assert answer.answer == "a b"
    assert answer.attempts == 2 and answer.usage.calls == 2
    retry_prompt: list[BaseMessage] = llm.prompts[1]
    assert len(retry_prompt) == 3  # original prompt, the failed reply, the feedback
    assert "sort_wordz" in str(retry_prompt[1].content)
    assert "NameError" in str(retry_prompt[2].content)


def test_failing_twice_gives_a_clear_failed_answer(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([fence("ans = 1 / 0"), fence("x = [1][5]\nans = x")])
    answer = ToolUser(llm, executor=executor).solve(Q, sort_tool)
    assert not answer.ok
    assert answer.error_type == "IndexError"
    assert answer.error and "index" in answer.error.lower()
    assert answer.attempts == 2 and llm.calls == 2
    assert answer.snippet is not None and "[1][5]" in answer.snippet


def test_snippet_without_ans_fails(sort_tool: WrappedTool, executor: SandboxExecutor) -> None:
    llm = ScriptedChatModel([fence("result = sort_words(['b'])")])
    answer = ToolUser(llm, executor=executor, max_retries=0).solve(Q, sort_tool)
    assert not answer.ok and answer.error_type == "MissingAnswer"


def test_infinite_loop_times_out(sort_tool: WrappedTool, executor: SandboxExecutor) -> None:
    llm = ScriptedChatModel([fence("while True:\n    pass\nans = 1")])
    answer = ToolUser(llm, executor=executor, max_retries=0, timeout=1.0).solve(Q, sort_tool)
    assert not answer.ok and answer.error_type == "Timeout"


def test_provider_error_becomes_failed_answer_with_role_and_model(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([RuntimeError("upstream exploded")], model_name="weak-1")
    user = ToolUser(llm, executor=executor)
    answer = user.solve(Q, sort_tool)
    assert not answer.ok and answer.error_type == "ModelCallError"
    assert answer.metadata["role"] == "user" and answer.metadata["model"] == "weak-1"
    assert answer.metadata["cause_type"] == "RuntimeError"
    assert answer.error and "upstream exploded" in answer.error and "weak-1" in answer.error
    assert len(user.failures) == 1 and user.failures[0].role == "user"


def test_provider_error_on_retry_keeps_first_usage(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    llm = ScriptedChatModel([fence("ans = nope"), ConnectionError("reset by peer")])
    answer = ToolUser(llm, executor=executor).solve(Q, sort_tool)
    assert answer.error_type == "ModelCallError" and answer.usage.calls == 1


def test_batch_keeps_order_and_every_outcome(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    def respond(messages: list[BaseMessage]) -> str:
        prompt = str(messages[0].content).rsplit("Question:", 1)[1]
        if "boom" in prompt:
            raise TimeoutError("provider timed out")
        if "prose" in prompt:
            return "I think it is sorted."
        if "broken" in prompt:
            return fence("ans = undefined_name")
        words = prompt.split("List:", 1)[1].split("Solution:")[0].split()
        return fence(f"ans = sort_words({words!r})")

    questions = [
        "Sort the following words alphabetically: List: b a",
        "Sort the following words alphabetically: List: prose",
        "Sort the following words alphabetically: List: broken",
        "Sort the following words alphabetically: List: boom",
        "Sort the following words alphabetically: List: d c",
    ]
    user = ToolUser(ScriptedChatModel(respond), executor=executor)
    answers = user.batch(questions, sort_tool, max_concurrency=3)
    assert len(answers) == 5 and all(isinstance(a, Answer) for a in answers)
    assert [a.ok for a in answers] == [True, False, False, False, True]
    assert answers[0].answer == "a b" and answers[4].answer == "c d"
    assert answers[1].error_type == "NoCodeBlock"
    assert answers[2].error_type == "NameError" and answers[2].attempts == 2
    assert answers[3].error_type == "ModelCallError"


def test_batch_with_one_tool_per_question_and_missing_tool(
    sort_tool: WrappedTool, mc_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    def respond(messages: list[BaseMessage]) -> str:
        prompt = str(messages[0].content)
        if "pick_longest" in prompt:
            return fence("ans = pick_longest(['Al', 'Bartholomew', 'Cy'])")
        return fence("ans = sort_words(['b', 'a'])")

    answers = ToolUser(ScriptedChatModel(respond), executor=executor).batch(
        [Q, MC_QUESTION, "no tool for me"], [sort_tool, mc_tool, None]
    )
    assert [a.answer for a in answers] == ["a b", "(B)", None]
    assert answers[2].error_type == "NoTool"


def test_asolve_and_abatch(sort_tool: WrappedTool, executor: SandboxExecutor) -> None:
    llm = ScriptedChatModel([fence("ans = sort_words(['y', 'x'])")], cycle=True, latency_s=0.05)
    user = ToolUser(llm, executor=executor)

    async def run() -> tuple[Answer, list[Answer]]:
        one = await user.asolve(Q, sort_tool)
        many = await user.abatch([Q, Q, Q], sort_tool, max_concurrency=2)
        return one, many

    one, many = asyncio.run(run())
    assert one.ok and one.answer == "x y"
    assert [a.answer for a in many] == ["x y"] * 3


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```python\nans = 1\n```", "ans = 1"),
        ("text\n```\nans = 2\n```", "ans = 2"),
        ("```py\nans = 3\n```", "ans = 3"),
        ("```python\ndef f():\n    return 1\n```\nthen\n```python\nans = f()\n```", "ans = f()"),
        ("```python\nx = 1\n```\n```python\ny = 2\n```", "x = 1"),
        ("```python\nans = 4", "ans = 4"),  # truncated reply without closing fence
        ("```json\n{}\n```", None),
        ("no code at all", None),
    ],
)
def test_extract_code_block(reply: str, expected: str | None) -> None:
    assert extract_code_block(reply) == expected


def test_scripted_chat_model_behaves_like_a_provider() -> None:
    import time

    from langchain_latm.errors import ReplayExhaustedError

    llm = ScriptedChatModel(["one", "two"], model_name="fake-1", latency_s=0.05)
    start = time.perf_counter()
    first = llm.invoke("hello world")
    assert time.perf_counter() - start >= 0.05
    assert first.content == "one"
    assert first.usage_metadata == {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}
    assert first.response_metadata["model_name"] == "fake-1"
    assert asyncio.run(llm.ainvoke("again")).content == "two"
    with pytest.raises(ReplayExhaustedError):
        llm.invoke("three?")
    assert llm.calls == 3 and str(llm.prompts[1][0].content) == "again"
    assert llm.bind_tools([]) is llm
    with pytest.raises(ValueError, match="responses"):
        ScriptedChatModel([])


def test_asolve_uses_only_async_model_and_sandbox_calls(
    sort_tool: WrappedTool, executor: SandboxExecutor
) -> None:
    """The async path awaits ``ainvoke`` and ``arun``: no thread is held per question."""

    class AsyncOnlyModel(ScriptedChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise AssertionError("ToolUser.asolve called the model synchronously")

    class AsyncOnlySandbox:
        runs = 0

        def run(self, *args: Any, **kwargs: Any) -> ExecutionResult:
            raise AssertionError("ToolUser.asolve called the sandbox synchronously")

        async def arun(self, *args: Any, **kwargs: Any) -> ExecutionResult:
            self.runs += 1
            return await executor.arun(*args, **kwargs)

    sandbox = AsyncOnlySandbox()
    llm = AsyncOnlyModel(responses=[fence("ans = sort_words(['b', 'a'])")], cycle=True)
    user = ToolUser(llm, executor=sandbox)  # type: ignore[arg-type]
    # a failing first snippet exercises the retry loop on the async path as well
    llm_retry = AsyncOnlyModel(responses=[fence("ans = sort_wordz(['b'])"),
                                          fence("ans = sort_words(['d', 'c'])")])
    retrying = ToolUser(llm_retry, executor=sandbox, max_retries=1)  # type: ignore[arg-type]

    async def run() -> tuple[Answer, Answer]:
        return await user.asolve(Q, sort_tool), await retrying.asolve(Q, sort_tool)

    first, second = asyncio.run(run())
    assert first.ok and first.answer == "a b"
    assert second.ok and second.answer == "c d" and second.attempts == 2
    assert sandbox.runs == 3 and llm.calls == 1 and llm_retry.calls == 2
