"""The verdict: does the maker's function reproduce the gold answers? Decided here, not by it.

The maker's unit tests only supply *call snippets*. For every validation example the
harness takes the snippet that tests it, removes the maker's asserts (their expected
values are not trusted), runs function code + snippet in the sandbox, reads the answer
variable the snippet computes and compares it with the example's gold answer through the
task's answer normaliser (:func:`langchain_latm.tasks.answers_match`).

A tool is verified only when *every* validation example is covered by a snippet that calls
the tool and reproduces the gold answer. Missing tests, wrong expected values, tests whose
asserts were never reached, fake "All tests passed!" output: none of them verify a tool.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_latm.maker.parsing import (
    ParsedTests,
    TestSnippet,
    called_names,
    extract_code_blocks,
    function_names,
    pin_answer,
    split_tests,
)
from langchain_latm.maker.prompts import DEFAULT_PROMPTS, MakerPrompts
from langchain_latm.schemas import CaseResult, Demonstration, ExecutionResult

__all__ = [
    "Executor",
    "HarnessOutcome",
    "judge_snippets",
    "judge_tests",
    "merge_definitions",
    "run_case",
]


class Executor(Protocol):
    """What the harness needs from :class:`~langchain_latm.sandbox.SandboxExecutor`."""

    def run(
        self, code: str, snippet: str = "", timeout: float | None = None
    ) -> ExecutionResult:
        """Run ``code`` then ``snippet`` in isolation; read the snippet's answer variable."""
        ...


@dataclass
class HarnessOutcome:
    """The harness's verdict on one test reply.

    Attributes:
        verified: True when every example was covered and reproduced.
        cases: One verdict per validation example, in order.
        feedback: What to tell the maker when not verified (``None`` when verified).
        function_code: The function code that was judged (the maker's redefinition, when
            its tests defined a fixed version of the function).
        snippets: Per example, the snippet (with helpers) that reproduced the gold answer.
        n_tests: How many tests the reply contained.
    """

    verified: bool
    cases: list[CaseResult]
    feedback: str | None
    function_code: str
    snippets: list[str | None] = field(default_factory=list)
    n_tests: int = 0


def merge_definitions(code: str, redefinitions: str) -> str:
    """Replace definitions in ``code`` by same-named ones from ``redefinitions``.

    Imports of both are kept (deduplicated); top-level functions/classes of ``code`` that
    ``redefinitions`` defines again are dropped; the rest of ``code`` is kept verbatim.

    Args:
        code: The current function code.
        redefinitions: Source with the new definitions (and their imports).

    Returns:
        The merged source.
    """
    if not redefinitions.strip():
        return code
    new_tree = ast.parse(redefinitions)
    new_names = {
        n.name
        for n in new_tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    lines = code.splitlines(keepends=True)
    kept: list[str] = []
    imports_seen: set[str] = set()
    for node in ast.parse(code).body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name in new_names
        ):
            continue
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        segment = "".join(lines[start - 1 : node.end_lineno]).rstrip()
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports_seen.add(ast.unparse(node))
        kept.append(segment)
    for node in new_tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if ast.unparse(node) in imports_seen:
                continue
            kept.insert(0, ast.unparse(node))
            imports_seen.add(ast.unparse(node))
        else:
            kept.append(ast.unparse(node))
    return "\n\n".join(kept).strip() + "\n"


_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")


def _literal_tokens(code: str) -> set[str]:
    tokens: set[str] = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return tokens
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
            value = str(node.value)
            if len(value) >= 2:
                tokens.add(value.casefold())
            tokens.update(t.casefold() for t in _TOKEN_RE.findall(value) if len(t) >= 2)
    return tokens


def _overlap(snippet: str, question: str) -> int:
    text = question.casefold()
    return sum(len(t) for t in _literal_tokens(snippet) if t in text)


def _align(snippets: Sequence[str], questions: Sequence[str]) -> list[int | None]:
    """Map examples to snippets, in order; with extra snippets, by literal overlap."""
    n, m = len(questions), len(snippets)
    if m <= n:
        return [i if i < m else None for i in range(n)]
    # Monotonic alignment maximising the literal overlap (extra tests are skipped).
    score = [[_overlap(snippets[j], questions[i]) for j in range(m)] for i in range(n)]
    neg = float("-inf")
    best = [[neg] * (m + 1) for _ in range(n + 1)]
    choice: list[list[bool]] = [[False] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        best[0][j] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            skip = best[i][j - 1]
            take = best[i - 1][j - 1] + score[i - 1][j - 1]
            if take >= skip:
                best[i][j], choice[i][j] = take, True
            else:
                best[i][j] = skip
    mapping: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if choice[i][j]:
            mapping[i - 1] = j - 1
            i, j = i - 1, j - 1
        else:
            j -= 1
    return mapping


def _answers_match(got: Any, gold: str, question: str, task: str | None) -> tuple[bool, str]:
    from langchain_latm.tasks import answers_match, normalise_answer

    try:
        normalised = normalise_answer(got, question=question, task=task)
    except (TypeError, ValueError) as exc:  # a normaliser refusing an odd value
        return False, f"<not normalisable: {exc}>"
    return answers_match(got, gold, question=question, task=task), normalised


def run_case(
    executor: Executor,
    *,
    code: str,
    snippet: str,
    example: Demonstration,
    task: str | None,
    timeout: float | None,
    tool_names: set[str],
    context: str = "",
) -> CaseResult:
    """Run one snippet against the function code and judge its answer against gold.

    Args:
        executor: The sandbox.
        code: Function code (and helpers) to run first.
        snippet: The call snippet; must call one of ``tool_names`` and assign ``ans``.
        example: The validation example (question + gold answer).
        task: Task name for the answer normaliser.
        timeout: Per-run timeout in seconds.
        tool_names: Names whose call makes a snippet a test of the tool.
        context: Earlier statements to prepend if the snippet alone hits a ``NameError``.

    Returns:
        The verdict; ``ok`` only when the gold answer was reproduced.
    """
    snippet, problem = pin_answer(snippet)
    case = CaseResult(question=example.question, expected=example.answer, snippet=snippet)
    if not (called_names(snippet) & tool_names):
        case.error = "NoCall: the snippet does not call the function"
        return case
    if problem == "ConstantAnswer":
        case.error = "ConstantAnswer: the snippet assigns a literal to `ans`"
        return case
    result = executor.run(code, snippet, timeout=timeout)
    if not result.ok and result.error_type == "NameError" and context.strip():
        combined = f"{context.rstrip()}\n{snippet}"
        retry = executor.run(code, combined, timeout=timeout)
        if retry.ok or retry.error_type != "NameError":
            result, case.snippet = retry, combined
    if not result.ok:
        case.error = f"{result.error_type}: {result.error_message}"
        return case
    case.got = result.answer
    ok, normalised = _answers_match(result.answer, example.answer, example.question, task)
    case.normalised = normalised
    case.ok = ok
    return case


def _feedback_line(index: int, case: CaseResult, prompts: MakerPrompts) -> str:
    if case.error is not None:
        kind, _, message = case.error.partition(": ")
        if kind == "Uncovered":
            return prompts.case_uncovered(index, case.question)
        if kind == "NoCall":
            return prompts.case_no_call(index, case.question)
        if kind == "ConstantAnswer":
            return prompts.case_constant(index, case.question)
        return prompts.case_error(index, case.question, kind, message)
    return prompts.case_wrong(index, case.question, case.got, case.normalised or "", case.expected)


def judge_snippets(
    executor: Executor,
    *,
    code: str,
    snippets: Sequence[TestSnippet | None],
    examples: Sequence[Demonstration],
    task: str | None,
    timeout: float | None,
    tool_names: set[str],
) -> list[CaseResult]:
    """Judge one snippet per example (``None`` = uncovered); see :func:`run_case`.

    Returns:
        One :class:`CaseResult` per example, in order.
    """
    cases: list[CaseResult] = []
    for example, snippet in zip(examples, snippets, strict=True):
        if snippet is None:
            cases.append(
                CaseResult(
                    question=example.question,
                    expected=example.answer,
                    error="Uncovered: no test computes an answer for this example",
                )
            )
            continue
        cases.append(
            run_case(
                executor,
                code=code,
                snippet=snippet.code,
                example=example,
                task=task,
                timeout=timeout,
                tool_names=tool_names,
                context=snippet.context,
            )
        )
    return cases


def judge_tests(
    executor: Executor,
    *,
    function_code: str,
    reply: str,
    examples: Sequence[Demonstration],
    task: str | None,
    timeout: float | None,
    prompts: MakerPrompts = DEFAULT_PROMPTS,
) -> HarnessOutcome:
    """Judge a unit-test reply: extract one snippet per example, run, compare with gold.

    Args:
        executor: The sandbox.
        function_code: The function the tests are about.
        reply: The maker's reply with its unit tests (prose and code blocks).
        examples: The validation examples the tests must cover, in order.
        task: Task name for the answer normaliser.
        timeout: Per-run timeout in seconds.
        prompts: Where the feedback wording comes from.

    Returns:
        The outcome: per-example verdicts, feedback for the maker, the judged code.
    """
    tool_names = set(function_names(function_code))
    parsed: ParsedTests = split_tests(extract_code_blocks(reply), tool_names)
    if parsed.error is not None and not parsed.snippets:
        kind, message = parsed.error
        cases = [
            CaseResult(question=e.question, expected=e.answer, error=f"{kind}: {message}")
            for e in examples
        ]
        return HarnessOutcome(
            verified=False,
            cases=cases,
            feedback=prompts.verify_unusable(kind, message),
            function_code=function_code,
            snippets=[None] * len(examples),
        )
    code = function_code
    if parsed.redefinitions:
        try:
            code = merge_definitions(function_code, parsed.redefinitions)
        except SyntaxError:
            code = function_code
    helper_names = set(function_names(parsed.helpers))
    reaching = set(tool_names)
    if parsed.helpers.strip():
        # A helper of the tests that calls the tool counts as calling it.
        for node in ast.parse(parsed.helpers).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                called_names(ast.unparse(node)) & tool_names
            ):
                reaching.add(node.name)
    run_code = code if not parsed.prelude.strip() else f"{code.rstrip()}\n\n{parsed.prelude}\n"
    mapping = _align([s.code for s in parsed.snippets], [e.question for e in examples])
    chosen = [parsed.snippets[j] if j is not None else None for j in mapping]
    cases = judge_snippets(
        executor,
        code=run_code,
        snippets=chosen,
        examples=examples,
        task=task,
        timeout=timeout,
        tool_names=reaching | (helper_names & reaching),
    )
    verified = bool(cases) and all(c.ok for c in cases)
    feedback = None
    if not verified:
        lines = [_feedback_line(i + 1, c, prompts) for i, c in enumerate(cases) if not c.ok]
        feedback = prompts.verify_failure(lines, failed=len(lines), total=len(cases))
    snippets: list[str | None] = []
    for case in cases:
        if case.ok and case.snippet is not None:
            prefix = parsed.prelude.strip()
            snippets.append(f"{prefix}\n{case.snippet}" if prefix else case.snippet)
        else:
            snippets.append(None)
    return HarnessOutcome(
        verified=verified,
        cases=cases,
        feedback=feedback,
        function_code=code,
        snippets=snippets,
        n_tests=len(parsed.snippets),
    )
