"""LangChain exposure: StructuredTool from a WrappedTool, the retriever and the agent middleware."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, ToolException
from langchain_tests.unit_tests import ToolsUnitTests
from pydantic import Field

from langchain_latm.embeddings import HashingEmbeddings
from langchain_latm.repository import ToolRepository
from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import UseCase, WrappedTool
from langchain_latm.tools import (
    LATMToolMiddleware,
    ToolRetriever,
    argument_schema,
    build_call_snippet,
    to_langchain_tool,
)

SORT_CODE = '''def sort_words(words: str, reverse: bool = False) -> str:
    """Sort space-separated words alphabetically.

    Args:
        words: The words, separated by spaces.
        reverse: Sort in descending order.
    """
    return " ".join(sorted(words.split(), reverse=reverse))
'''


def sort_tool() -> WrappedTool:
    return WrappedTool(
        name="sort_words",
        task="word_sorting",
        description="Sort a list of words alphabetically.",
        code=SORT_CODE,
        use_cases=[
            UseCase(question="Sort the following words alphabetically: List: pear apple fig",
                    snippet="ans = sort_words('pear apple fig')", answer="apple fig pear"),
            UseCase(question="Sort the following words alphabetically: List: zebra mango",
                    snippet="ans = sort_words('zebra mango')", answer="mango zebra"),
        ],
    )


@pytest.fixture(scope="module")
def executor() -> Iterator[SandboxExecutor]:
    with SandboxExecutor() as ex:
        yield ex


# ---------------------------------------------------------------- schema from source


def _schema(tool: WrappedTool) -> dict[str, Any]:
    return argument_schema(tool).model_json_schema()


def test_schema_from_annotations_defaults_and_docstring() -> None:
    schema = _schema(sort_tool())
    assert schema["properties"]["words"]["type"] == "string"
    assert schema["properties"]["reverse"]["type"] == "boolean"
    assert schema["properties"]["reverse"]["default"] is False
    assert schema["required"] == ["words"]
    assert "separated by spaces" in schema["properties"]["words"]["description"]


def test_schema_of_composite_and_optional_annotations() -> None:
    code = (
        "from typing import Optional, List\n"
        "def f(a: list[int], b: dict, c: Optional[int], d: 'float', e: List[str] | None = None,"
        " *, f: int = 3):\n    return 1\n"
    )
    tool = WrappedTool(name="f", task="t", description="d", code=code)
    props = _schema(tool)["properties"]
    assert props["a"]["type"] == "array"
    assert props["b"]["type"] == "object"
    assert {x.get("type") for x in props["c"]["anyOf"]} == {"integer", "null"}
    assert props["d"]["type"] == "number"
    assert {x.get("type") for x in props["e"]["anyOf"]} == {"array", "null"}
    assert props["f"]["default"] == 3


def test_unannotated_parameters_are_typed_from_use_case_literals() -> None:
    code = "def solve(items, k, label, mystery):\n    return items[:k]\n"
    tool = WrappedTool(
        name="solve", task="t", description="d", code=code,
        use_cases=[
            UseCase(question="q1", snippet="ans = solve([3, 1], 1, 'x', some_variable)"),
            UseCase(question="q2", snippet="ans = solve(items=[5], k=2.5, label='y', mystery=1)"),
        ],
    )
    props = _schema(tool)["properties"]
    assert props["items"]["type"] == "array"
    assert props["k"]["type"] == "number"  # int and float seen: number
    assert props["label"]["type"] == "string"
    assert props["mystery"]["type"] == "integer"  # one literal, one variable
    bare = WrappedTool(name="solve", task="t", description="d", code=code)
    assert "type" not in _schema(bare)["properties"]["items"]  # no evidence: Any


def test_schema_never_executes_the_tool_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    code = (
        f"open({str(marker)!r}, 'w').write('x')\n"
        "def f(x: int) -> int:\n    return x\n"
    )
    tool = WrappedTool(name="f", task="t", description="d", code=code,
                       use_cases=[UseCase(question="q", snippet="ans = f(__import__('os'))")])
    lc = to_langchain_tool(tool)
    assert lc.args["x"]["type"] == "integer"
    assert not marker.exists()


def test_description_has_docstring_and_use_cases() -> None:
    lc = to_langchain_tool(sort_tool())
    assert lc.name == "sort_words"
    assert "Sort a list of words alphabetically." in lc.description
    assert "separated by spaces" in lc.description
    assert "sort_words('pear apple fig')" in lc.description


# ---------------------------------------------------------------- call snippet


def test_call_snippet_uses_literals_only() -> None:
    evil = "x'); import os; os.system('id'); ('"
    snippet = build_call_snippet("f", {"a": evil, "b": [1, 2.5, None, True], "c": {"k": "v"}})
    tree = ast.parse(snippet)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
    call = tree.body[0].value
    assert isinstance(call, ast.Call)
    assert [ast.literal_eval(kw.value) for kw in call.keywords] == [
        evil, [1, 2.5, None, True], {"k": "v"}]


@pytest.mark.parametrize("bad", [object(), float("nan"), {1: "x"}, {"a": {1, 2}}])
def test_call_snippet_refuses_non_json_values(bad: Any) -> None:
    with pytest.raises(ToolException):
        build_call_snippet("f", {"a": bad})


def test_call_snippet_refuses_bad_names() -> None:
    with pytest.raises(ToolException):
        build_call_snippet("f; import os", {})
    with pytest.raises(ToolException):
        build_call_snippet("f", {"a=1, b": 2})


# ---------------------------------------------------------------- execution in the sandbox


def test_invoke_runs_in_the_sandbox(executor: SandboxExecutor) -> None:
    lc = to_langchain_tool(sort_tool(), executor=executor)
    assert lc.invoke({"words": "pear apple fig"}) == "apple fig pear"
    assert lc.invoke({"words": "b a c", "reverse": True}) == "c b a"


def test_ainvoke_runs_in_the_sandbox(executor: SandboxExecutor) -> None:
    lc = to_langchain_tool(sort_tool(), executor=executor)
    assert asyncio.run(lc.ainvoke({"words": "pear apple"})) == "apple pear"


def test_sandbox_errors_come_back_as_tool_errors(executor: SandboxExecutor) -> None:
    code = "def boom(n: int) -> int:\n    return 1 // n\n"
    lc = to_langchain_tool(WrappedTool(name="boom", task="t", description="d", code=code),
                           executor=executor)
    message = lc.invoke({"type": "tool_call", "id": "1", "name": "boom", "args": {"n": 0}})
    assert isinstance(message, ToolMessage)
    assert "ZeroDivisionError" in str(message.content)
    assert lc.invoke({"n": 2}) == 0


def test_escape_attempt_runs_isolated(executor: SandboxExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    code = (
        "def leak(path: str) -> str:\n"
        "    open(path, 'w').write('x')\n"
        "    return 'wrote'\n"
    )
    lc = to_langchain_tool(WrappedTool(name="leak", task="t", description="d", code=code),
                           executor=executor)
    lc.invoke({"type": "tool_call", "id": "1", "name": "leak", "args": {"path": str(marker)}})
    assert not marker.exists()


def test_tool_without_executor_owns_a_lazy_one() -> None:
    lc = to_langchain_tool(sort_tool())
    handle = lc._latm_executor_handle  # type: ignore[attr-defined]
    assert handle._executor is None  # nothing started before the first call
    try:
        assert lc.invoke({"words": "b a"}) == "a b"
        assert handle._executor is not None
    finally:
        handle.close()
    assert handle._executor is None


# ---------------------------------------------------------------- standard LangChain suite


class TestWrappedToolStandard(ToolsUnitTests):
    """``langchain-tests``' standard unit suite for a wrapped tool."""

    @property
    def tool_constructor(self) -> BaseTool:
        return to_langchain_tool(sort_tool())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"words": "pear apple fig"}


# ---------------------------------------------------------------- retriever


@pytest.fixture
def repo(tmp_path: Path) -> ToolRepository:
    return ToolRepository(tmp_path / "store", embeddings=HashingEmbeddings(dimension=512))


def test_retriever_returns_tool_documents(repo: ToolRepository) -> None:
    stored = repo.add(sort_tool())
    docs = ToolRetriever(repository=repo, k=2).invoke("Sort the following words: b a")
    assert len(docs) == 1
    meta = docs[0].metadata
    assert meta["name"] == "sort_words" and meta["version"] == stored.version
    assert meta["task"] == "word_sorting" and meta["tool_id"] == stored.tool_id
    assert 0.0 < meta["score"] <= 1.0
    assert "Sort a list of words" in docs[0].page_content
    assert "pear apple fig" in docs[0].page_content
    far = ToolRetriever(repository=repo, score_threshold=0.99).invoke("How tall is a giraffe?")
    assert far == []
    assert asyncio.run(ToolRetriever(repository=repo).ainvoke("sort words b a"))


# ---------------------------------------------------------------- agent middleware


class ScriptedToolCaller(BaseChatModel):
    """Serves scripted AI messages and records the tool names bound on every call."""

    script: list[AIMessage]
    bound: list[list[str]] = Field(default_factory=list)
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-caller"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        self.bound.append([getattr(t, "name", str(t)) for t in tools])
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        message = self.script[self.calls]
        self.calls += 1
        return ChatResult(generations=[ChatGeneration(message=message)])


def _script() -> list[AIMessage]:
    return [
        AIMessage(content="", tool_calls=[
            {"name": "sort_words", "args": {"words": "pear apple fig"}, "id": "call-1"}]),
        AIMessage(content="apple fig pear"),
    ]


def test_middleware_uses_a_tool_added_after_the_agent_was_built(
    repo: ToolRepository, executor: SandboxExecutor
) -> None:
    model = ScriptedToolCaller(script=_script(), bound=[])
    middleware = LATMToolMiddleware(repo, executor=executor)
    middleware.dispatcher.threshold = 0.2
    agent = create_agent(model, tools=[], middleware=[middleware])
    repo.add(sort_tool())  # stored only now
    result = agent.invoke({"messages": [HumanMessage(
        "Sort the following words alphabetically: List: pear apple fig")]})
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1
    assert tool_messages[0].content == "apple fig pear"
    assert tool_messages[0].status != "error"
    assert model.bound[0] == ["sort_words"]
    assert result["messages"][-1].content == "apple fig pear"


def test_middleware_offers_nothing_for_unknown_questions(
    repo: ToolRepository, executor: SandboxExecutor
) -> None:
    repo.add(sort_tool())
    model = ScriptedToolCaller(script=[AIMessage(content="I cannot help.")], bound=[])
    middleware = LATMToolMiddleware(repo, executor=executor)
    agent = create_agent(model, tools=[], middleware=[middleware])
    agent.invoke({"messages": [HumanMessage("What is the capital city of Mongolia?")]})
    assert middleware.last_selection == []
    assert model.bound in ([], [[]])


def test_middleware_async_path(repo: ToolRepository, executor: SandboxExecutor) -> None:
    repo.add(sort_tool())
    model = ScriptedToolCaller(script=_script(), bound=[])
    middleware = LATMToolMiddleware(repo, executor=executor)
    middleware.dispatcher.threshold = 0.2
    agent = create_agent(model, tools=[], middleware=[middleware])
    result = asyncio.run(agent.ainvoke({"messages": [HumanMessage(
        "Sort the following words alphabetically: List: pear apple fig")]}))
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tool_messages and tool_messages[0].content == "apple fig pear"
