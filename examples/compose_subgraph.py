"""The LATM graph as one node of a bigger LangGraph application (offline).

A small "help desk" graph triages each request: greetings get a canned reply, everything else
goes to the LATM graph — embedded directly as a subgraph node that shares the ``question``,
``task``, ``answer`` and ``outcome`` keys — and a last node formats the reply.

Offline by design: the maker is the paper's recorded GPT-4 word-sorting session replayed by
``ReplayChatModel``; the tool user is a ``ScriptedChatModel`` that writes the call snippet.
Run: ``python examples/compose_subgraph.py [--data-dir ../shared/data]``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_latm import ToolRepository
from langchain_latm.latm import build_latm_graph
from langchain_latm.schemas import Answer
from langchain_latm.tasks import load_bbh_task, recorded_session_path
from langchain_latm.testing import ReplayChatModel, ScriptedChatModel


class HelpDeskState(TypedDict, total=False):
    question: str
    task: Any  # a TaskSpec when the caller can supply demonstrations
    kind: str
    answer: Answer
    outcome: str
    reply: str


def scripted_tool_user() -> ScriptedChatModel:
    """A stand-in weak model: reads the question from the prompt, writes the call snippet."""

    def respond(messages: list[BaseMessage]) -> str:
        prompt = str(messages[0].content)
        entry = re.search(r"calls `(\w+)`", prompt)
        function = entry.group(1) if entry else "solve"
        question = prompt.rsplit("Question:", 1)[1].split("Solution:")[0]
        words = question.split("List:", 1)[1].split() if "List:" in question else []
        return f"```python\nret = {function}({words!r})\nans = ' '.join(ret)\n```"

    return ScriptedChatModel(respond, model_name="scripted-weak-model")


def build_help_desk(latm_node: Any) -> Any:
    def triage(state: HelpDeskState) -> dict[str, Any]:
        greeting = state["question"].strip().lower().startswith(("hi", "hello"))
        return {"kind": "greeting" if greeting else "task"}

    def greet(state: HelpDeskState) -> dict[str, Any]:
        return {"reply": "Hello! Ask me to sort some words.", "outcome": "canned"}

    def format_reply(state: HelpDeskState) -> dict[str, Any]:
        answer = state.get("answer")
        if answer is not None and answer.ok:
            return {"reply": f"{answer.answer}  [via tool {answer.tool}, {state.get('outcome')}]"}
        reason = answer.error_type if answer is not None else "no answer"
        return {"reply": f"Sorry, I cannot answer that yet ({reason})."}

    builder = StateGraph(HelpDeskState)
    builder.add_node("triage", triage)
    builder.add_node("greet", greet)
    builder.add_node("latm", latm_node)  # the compiled LATM graph, embedded as a subgraph
    builder.add_node("format_reply", format_reply)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", lambda s: "greet" if s["kind"] == "greeting"
                                  else "latm", ["greet", "latm"])
    builder.add_edge("latm", "format_reply")
    builder.add_edge("greet", END)
    builder.add_edge("format_reply", END)
    return builder.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    task = load_bbh_task("word_sorting", args.data_dir)
    maker = ReplayChatModel.from_transcript(recorded_session_path("word_sorting", args.data_dir))
    print("maker: recorded GPT-4 output, replayed (no API call)")

    with tempfile.TemporaryDirectory() as tmp:
        repository = ToolRepository(path=f"{tmp}/tools")
        latm = build_latm_graph(
            maker_llm=maker, user_llm=scripted_tool_user(), repository=repository
        ).compile()
        app = build_help_desk(latm)

        requests: list[dict[str, Any]] = [
            {"question": "hello there"},
            # unknown question with demonstrations -> the maker subgraph makes a tool
            {"question": task.test[0].question, "task": task},
            # same kind of question, no task given -> routed to the cached tool
            {"question": task.test[1].question},
            # a question of a task without a tool and without demonstrations -> unknown
            {"question": load_bbh_task("navigate", args.data_dir).test[0].question},
        ]
        for request in requests:
            out = app.invoke(request)
            print(f"[{out.get('outcome')}] {request['question'][:60]!r} -> {out['reply']}")
        print(f"tools in the repository: {[t.name for t in repository.list()]}")
        print(app.get_graph(xray=1).draw_mermaid())


if __name__ == "__main__":
    main()
