"""A LangChain agent that uses cached LATM tools, picked per turn by the dispatcher (offline).

``LATMToolMiddleware`` routes each user message with the dispatcher and offers the agent
only the matching cached tool(s); it also executes them (in the sandbox), so a tool stored
*after* the agent was built is used at once. The chat model here is a tiny scripted fake that
emits a tool call and then answers with the tool's result, so the script needs no API key:
swap in any real tool-calling chat model (``init_chat_model("openai:gpt-4o-mini")``...).

Run: ``python examples/agent_with_cached_tools.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from langchain_latm import SandboxExecutor, ToolRepository, UseCase, WrappedTool
from langchain_latm.tools import LATMToolMiddleware


class ScriptedToolCaller(BaseChatModel):
    """A stand-in chat model: calls the first tool it is offered, then reports the result."""

    offered: list[list[str]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-caller"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        self.offered.append([getattr(t, "name", str(t)) for t in tools])
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"The answer is: {last.content}")
        elif self.offered and self.offered[-1]:
            words = str(last.content).split(":")[-1].strip()
            reply = AIMessage(content="", tool_calls=[
                {"name": self.offered[-1][0], "args": {"words": words}, "id": "call-1"}])
        else:
            reply = AIMessage(content="No cached tool fits; a new one must be made.")
        return ChatResult(generations=[ChatGeneration(message=reply)])


SORT_WORDS = WrappedTool(
    name="sort_words",
    task="word_sorting",
    description="Sort a list of words alphabetically.",
    code=(
        "def sort_words(words: str) -> str:\n"
        '    """Sort space-separated words alphabetically."""\n'
        "    return ' '.join(sorted(words.split()))\n"
    ),
    use_cases=[
        UseCase(question="Sort the following words alphabetically: List: pear apple fig",
                snippet="ans = sort_words('pear apple fig')", answer="apple fig pear"),
        UseCase(question="Sort the following words alphabetically: List: zebra mango kiwi",
                snippet="ans = sort_words('zebra mango kiwi')", answer="kiwi mango zebra"),
    ],
)


def main() -> None:
    question = "Sort the following words alphabetically: List: tomato banana cherry"
    with tempfile.TemporaryDirectory() as tmp, SandboxExecutor() as executor:
        repo = ToolRepository(path=f"{tmp}/.latm")
        model = ScriptedToolCaller(offered=[])
        middleware = LATMToolMiddleware(repo, executor=executor)
        agent = create_agent(model, tools=[], middleware=[middleware])

        before = agent.invoke({"messages": [HumanMessage(question)]})
        print(f"before: offered {middleware.last_selection} -> {before['messages'][-1].content}")

        repo.add(SORT_WORDS)  # stored after the agent was built
        after = agent.invoke({"messages": [HumanMessage(question)]})
        calls = [m for m in after["messages"] if isinstance(m, ToolMessage)]
        print(f"after: offered {middleware.last_selection}; tool {calls[0].name} returned "
              f"{calls[0].content!r}")
        print(f"agent: {after['messages'][-1].content}")


if __name__ == "__main__":
    main()
