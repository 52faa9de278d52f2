"""Every prompt and feedback string the tool maker sends (the only place they live).

The structure is the paper's (Cai et al. 2023, Appendix; ctlllll/LLM-ToolMaker):

1. **propose**: three solved training examples (``Question: ...`` / ``Answer: ...``) and
   the instruction to write a *generic* Python function wrapped in a ```` ```python ````
   block;
2. **execute feedback**: ``Failed to execute the function due to the error: {type}
   {message}. Please fix it and try again.``;
3. **verify**: three solved validation examples and the unit-test instruction (parse the
   question, call the function into ``ret``, convert ``ret`` into ``ans``, assert);
4. **verify feedback**: which question gave what instead of what;
5. **wrap**: summarise the function and one use case (question + call snippet) per
   validation question.

:class:`MakerPrompts` bundles them so a caller can swap the wording
(``build_maker_graph(prompts=MakerPrompts(propose_instruction=...))``) without touching
the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_latm.schemas import Demonstration

__all__ = [
    "DEFAULT_PROMPTS",
    "EXECUTION_FEEDBACK",
    "PROPOSE_INSTRUCTION",
    "VERIFY_INSTRUCTION",
    "WRAP_INSTRUCTION",
    "MakerPrompts",
    "format_demonstrations",
]

PROPOSE_INSTRUCTION = (
    "Please write a generic Python function to solve this type of problems using only "
    "standard python libraries. The output of the function can later be converted to the "
    "answer (option for multiple choice question). All the function should be wrapped by\n"
    "```python\n```"
)

VERIFY_INSTRUCTION = (
    "Write unit tests to verify the correctness of the function on the questions above "
    "using the following format (one test per question, in the order of the questions):\n"
    "```python\n"
    "{parse the question into the arguments of the function}\n"
    "{call the function and save the return value in a variable named `ret`}\n"
    "{for multiple choice question, parse the options}\n"
    "{convert the return value `ret` to the answer (if the question is a multiple choice "
    "question, convert to an option) and save it in a variable named `ans`, otherwise}\n"
    "{assert ans == the provided answer (if the question is a multiple choice question, "
    "assert ans == option)}\n"
    "```\n"
)

WRAP_INSTRUCTION = (
    "Success! The function is correct. We will need to summarize the function and use "
    "cases up for further use. Please extract the information from the history in the "
    "following format:\n\n"
    "Here is a function to solve a class of problems:\n"
    "```python\n"
    "{the function, including necessary imports}\n"
    "```\n\n"
    "Use cases:\n"
    "Question: {question (including options)}\n"
    "Solution:\n"
    "```python\n"
    "{parse the question into the arguments of the function}\n"
    "{call the function and save the return value in a variable named `ret`}\n"
    "{for multiple choice question, parse the options}\n"
    "{convert the return value `ret` to the answer (if the question is a multiple choice "
    "question, convert to an option) and save it in a variable named `ans`, otherwise}\n"
    "```\n"
    "Do this for all the questions in the verification step.\n"
)

EXECUTION_FEEDBACK = (
    "Failed to execute the function due to the error: {type} {message}. "
    "Please fix it and try again."
)
"""The paper's execution-error feedback (DESIGN.md)."""

NO_FUNCTION_MESSAGE = "the code defines no function (write a `def ...` function)"
NO_CODE_MESSAGE = "the reply contains no ```python code block"
EMPTY_REPLY_MESSAGE = "the reply is empty"

VERIFY_FAILURE_HEADER = (
    "Failed to verify the function: the unit tests did not reproduce the provided answers "
    "for {failed} of {total} questions."
)
VERIFY_CASE_WRONG = (
    "- Question {index} ({question}): the test computed ans = {got}, which is {normalised} "
    "instead of the provided answer {expected}."
)
VERIFY_CASE_ERROR = (
    "- Question {index} ({question}): the test failed to execute due to the error: "
    "{type} {message}."
)
VERIFY_CASE_UNCOVERED = (
    "- Question {index} ({question}): no test computes `ans` for this question (write one "
    "test per question, in order)."
)
VERIFY_CASE_NO_CALL = (
    "- Question {index} ({question}): the test does not call the function, so it does not "
    "test it."
)
VERIFY_CASE_CONSTANT = (
    "- Question {index} ({question}): the test assigns a fixed value to `ans` instead of "
    "converting the function's return value `ret`."
)
VERIFY_FAILURE_FOOTER = (
    "The provided answers are correct. Please fix the function (and the tests if they "
    "parse the questions wrongly), then write the full unit tests again."
)
VERIFY_UNUSABLE = (
    "Failed to run the unit tests due to the error: {type} {message}. "
    "Please fix it and write the unit tests again."
)

WRAP_FEEDBACK = (
    "The summary could not be used: {problem}. Please write it again exactly in the "
    "requested format: the function in one ```python block, then for every question of the "
    "verification step a `Question:` line and a `Solution:` ```python block that assigns `ans`."
)
WRAP_CASE_PROBLEM = "the use case for question {index} gave {got} instead of {expected}"


def _short(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def format_demonstrations(demos: Sequence[Demonstration]) -> str:
    """Render demonstrations the paper's way: ``Question: ...`` then ``Answer: ...``.

    Args:
        demos: Solved examples.

    Returns:
        The demonstrations separated by blank lines.
    """
    return "\n\n".join(f"Question: {d.question}\nAnswer: {d.answer}" for d in demos)


@dataclass(frozen=True)
class MakerPrompts:
    """The maker's prompt set; override any field to change the wording.

    Attributes:
        propose_instruction: Appended after the training demonstrations.
        verify_instruction: Appended after the validation demonstrations.
        wrap_instruction: Sent once the harness verified the function.
        execution_feedback: Template with ``{type}`` and ``{message}``.
    """

    propose_instruction: str = PROPOSE_INSTRUCTION
    verify_instruction: str = VERIFY_INSTRUCTION
    wrap_instruction: str = WRAP_INSTRUCTION
    execution_feedback: str = EXECUTION_FEEDBACK

    def propose(self, demos: Sequence[Demonstration]) -> str:
        """The propose prompt: training demonstrations + generic-function instruction."""
        return f"{format_demonstrations(demos)}\n\n{self.propose_instruction}"

    def verify(self, demos: Sequence[Demonstration]) -> str:
        """The verify prompt: validation demonstrations + unit-test instruction."""
        return f"{format_demonstrations(demos)}\n\n{self.verify_instruction}"

    def wrap(self) -> str:
        """The wrap prompt."""
        return self.wrap_instruction

    def execution_error(self, error_type: str | None, message: str | None) -> str:
        """Feedback for a proposal that failed to run (the paper's wording)."""
        return self.execution_feedback.format(
            type=error_type or "Error", message=(message or "").strip() or "(no message)"
        )

    def verify_unusable(self, error_type: str, message: str) -> str:
        """Feedback for a test reply the harness could not use at all."""
        return VERIFY_UNUSABLE.format(type=error_type, message=message)

    def verify_failure(self, lines: Sequence[str], failed: int, total: int) -> str:
        """Feedback listing, per failing question, what the test gave instead of what."""
        header = VERIFY_FAILURE_HEADER.format(failed=failed, total=total)
        return "\n".join([header, *lines, VERIFY_FAILURE_FOOTER])

    @staticmethod
    def case_wrong(
        index: int, question: str, got: object, normalised: str, expected: str
    ) -> str:
        """One feedback line: a wrong answer."""
        return VERIFY_CASE_WRONG.format(
            index=index,
            question=_short(question),
            got=_short(repr(got), 200),
            normalised=repr(normalised),
            expected=repr(expected),
        )

    @staticmethod
    def case_error(index: int, question: str, error_type: str, message: str) -> str:
        """One feedback line: the test crashed."""
        return VERIFY_CASE_ERROR.format(
            index=index,
            question=_short(question),
            type=error_type,
            message=_short(message, 300),
        )

    @staticmethod
    def case_uncovered(index: int, question: str) -> str:
        """One feedback line: no test for this question."""
        return VERIFY_CASE_UNCOVERED.format(index=index, question=_short(question))

    @staticmethod
    def case_no_call(index: int, question: str) -> str:
        """One feedback line: the test does not call the function."""
        return VERIFY_CASE_NO_CALL.format(index=index, question=_short(question))

    @staticmethod
    def case_constant(index: int, question: str) -> str:
        """One feedback line: ``ans`` is a literal, not computed."""
        return VERIFY_CASE_CONSTANT.format(index=index, question=_short(question))

    @staticmethod
    def wrap_problem(problem: str) -> str:
        """Feedback for an unusable wrap reply."""
        return WRAP_FEEDBACK.format(problem=problem)

    @staticmethod
    def wrap_case_problem(index: int, got: object, expected: str) -> str:
        """Describe one wrapped use case that did not reproduce its gold answer."""
        return WRAP_CASE_PROBLEM.format(index=index, got=repr(got), expected=repr(expected))


DEFAULT_PROMPTS = MakerPrompts()
"""The paper-structured default prompt set."""
