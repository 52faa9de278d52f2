"""Prompts of the tool user (the paper's, kept in one place).

The paper's tool user sees the *wrapped tool* exactly as the maker summarised it — the
function in a ```python block, then ``Use cases:`` as ``Question: ... / Solution: ```python``
blocks — followed by the new question. We add one explicit instruction line so that chat
models that do not simply continue the pattern still write a call snippet assigning ``ans``.
"""

from __future__ import annotations

from langchain_latm.schemas import WrappedTool

__all__ = [
    "DIRECT_ANSWER_PROMPT",
    "NO_CODE_FEEDBACK",
    "RETRY_FEEDBACK",
    "render_tool_user_prompt",
    "render_wrapper",
]

WRAPPER_HEADER = "Here is a function to solve a class of problems:"

INSTRUCTION = (
    "Solve the new question below with this function. Reply with one ```python code block "
    "that parses the question into the function's arguments, calls `{entrypoint}` (it is "
    "already defined: do not rewrite it), converts the return value to the answer (for a "
    "multiple choice question, the option such as (A)) and saves it in a variable named `ans`."
)

RETRY_FEEDBACK = (
    "Running your code failed with the error: {error_type}: {error_message}\n"
    "Please fix it and reply again with one ```python code block that calls `{entrypoint}` "
    "and saves the answer in a variable named `ans`."
)

NO_CODE_FEEDBACK = (
    "Your reply contained no ```python code block. Reply with one ```python code block that "
    "calls `{entrypoint}` and saves the answer in a variable named `ans`."
)

DIRECT_ANSWER_PROMPT = (
    "Answer the following question. Think step by step, then finish with one line of the "
    "form `So the answer is <answer>.` (for a multiple choice question, the option such as "
    "(A)).\n\nQuestion: {question}"
)


def render_wrapper(tool: WrappedTool) -> str:
    """The wrapped tool as the paper's tool user sees it: function, then use cases.

    Args:
        tool: The wrapped tool.

    Returns:
        ``Here is a function ...`` + the code block + ``Use cases:`` with one
        ``Question:/Solution:`` block per use case.
    """
    parts = [f"{WRAPPER_HEADER}\n```python\n{tool.code.strip()}\n```"]
    if tool.description.strip():
        parts.append(f"What it does: {tool.description.strip()}")
    if tool.use_cases:
        cases = []
        for case in tool.use_cases:
            snippet = case.snippet.strip()
            cases.append(f"Question: {case.question.strip()}\nSolution:\n```python\n{snippet}\n```")
        parts.append("Use cases:\n" + "\n\n".join(cases))
    return "\n\n".join(parts)


def render_tool_user_prompt(tool: WrappedTool, question: str) -> str:
    """The tool user's prompt for one new question.

    Args:
        tool: The wrapped tool to use.
        question: The new question.

    Returns:
        The wrapper, the instruction, then ``Question: {question}`` and ``Solution:``.
    """
    instruction = INSTRUCTION.format(entrypoint=tool.entrypoint)
    return f"{render_wrapper(tool)}\n\n{instruction}\n\nQuestion: {question.strip()}\nSolution:\n"
