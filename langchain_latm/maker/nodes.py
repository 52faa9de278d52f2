"""The tool maker's nodes: propose, execute, verify, check, wrap, check_wrap.

Each node is small and returns a partial state update; routing lives in the explicit
``route_after_*`` functions. A node that calls the model appends its prompt *and* the
reply in one update, so a make resumed from a checkpoint never re-sends a finished step.
All model-written code runs in the sandbox (``executor.run``); nothing here executes it.
"""

from __future__ import annotations

import ast
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.runtime import Runtime

from langchain_latm.errors import ModelCallError, ToolMakingError
from langchain_latm.maker.harness import Executor, _align, judge_tests, run_case
from langchain_latm.maker.parsing import (
    ParsedWrap,
    called_names,
    extract_code_blocks,
    function_names,
    parse_wrap,
    split_function_code,
)
from langchain_latm.maker.prompts import (
    DEFAULT_PROMPTS,
    EMPTY_REPLY_MESSAGE,
    NO_CODE_MESSAGE,
    NO_FUNCTION_MESSAGE,
    MakerPrompts,
)
from langchain_latm.maker.state import MakerContext, MakerState
from langchain_latm.models import load_chat_model, message_text, model_name
from langchain_latm.reliability import invoke_with_role
from langchain_latm.schemas import (
    CaseResult,
    Demonstration,
    ExecutionResult,
    TaskSpec,
    Usage,
    UseCase,
    VerificationReport,
    WrappedTool,
)

__all__ = [
    "MakerNodes",
    "MakerSettings",
    "message_text",
    "route_after_check",
    "route_after_check_wrap",
    "route_after_execute",
    "transcript_of",
]

ENV_MAKER_MODEL = "LATM_MAKER_MODEL"
ENV_BASE_URL = "LATM_BASE_URL"


class _ProgramRunner(Protocol):
    def run(
        self,
        code: str,
        snippet: str = "",
        timeout: float | None = None,
        *,
        require_answer: bool = True,
    ) -> ExecutionResult: ...


@dataclass(frozen=True)
class MakerSettings:
    """Options of the tool-making protocol (see :func:`~langchain_latm.maker.build_maker_graph`).

    Attributes:
        max_propose_attempts: Proposals (first + fixes) before giving up (paper: 3).
        max_verify_attempts: Test replies judged before giving up (paper: 3).
        max_wrap_attempts: Wrap replies before giving up.
        n_train: Training demonstrations in the propose prompt (paper: 3).
        n_val: Validation examples the tool must reproduce (paper: 3).
        timeout: Sandbox timeout per execution, in seconds.
        wrap_fallback: Use the verified test snippets as use cases where the wrap reply
            is malformed or a wrapped use case fails (no extra model call).
        prompts: The prompt set.
    """

    max_propose_attempts: int = 3
    max_verify_attempts: int = 3
    max_wrap_attempts: int = 2
    n_train: int = 3
    n_val: int = 3
    timeout: float = 10.0
    wrap_fallback: bool = True
    prompts: MakerPrompts = field(default_factory=lambda: DEFAULT_PROMPTS)



def transcript_of(messages: Sequence[AnyMessage | dict[str, Any]]) -> list[dict[str, str]]:
    """The conversation as ``{"role", "content"}`` dicts (the recorded-session format)."""
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, dict):
            out.append({"role": str(message.get("role")), "content": str(message.get("content"))})
            continue
        role = "assistant" if isinstance(message, AIMessage) else (
            "system" if message.type == "system" else "user"
        )
        out.append({"role": role, "content": message_text(message)})
    return out


def _task_of(state: MakerState) -> TaskSpec:
    task = state.get("task")
    if isinstance(task, TaskSpec):
        return task
    return TaskSpec.model_validate(task)


def _last_ai_text(state: MakerState) -> str:
    for message in reversed(state.get("messages") or []):
        if isinstance(message, AIMessage):
            return message_text(message)
    return ""


def _context_value(runtime: Runtime[MakerContext] | None, name: str) -> Any:
    if runtime is None:
        return None
    context = runtime.context
    if context is None:
        return None
    if isinstance(context, dict):
        return context.get(name)
    return getattr(context, name, None)


def _sanitise_name(name: str) -> str:
    cleaned = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_" for ch in name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = f"tool_{cleaned}"
    if not cleaned.isidentifier():
        cleaned = "tool"
    import keyword

    return f"{cleaned}_tool" if keyword.iskeyword(cleaned) else cleaned


def _entrypoint(code: str, snippets: Sequence[str]) -> str:
    names = function_names(code)
    if not names:
        return ""
    counts = {n: 0 for n in names}
    for snippet in snippets:
        for called in called_names(snippet):
            if called in counts:
                counts[called] += 1
    best = max(counts.values())
    if best == 0:
        return names[-1]
    # Among the most-called functions, the one defined last (helpers usually come first).
    return [n for n in names if counts[n] == best][-1]


def _docstring_of(code: str, name: str) -> str:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            doc = ast.get_docstring(node) or ""
            return doc.strip().split("\n\n")[0].replace("\n", " ")
    return ""


def _signature_of(code: str, name: str) -> str:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return name
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return f"{name}({ast.unparse(node.args)})"
    return name


def _describe_tool(task: TaskSpec, code: str, entrypoint: str) -> str:
    parts: list[str] = []
    doc = _docstring_of(code, entrypoint)
    if doc:
        parts.append(doc.rstrip(".") + ".")
    if task.description and task.description.strip() not in doc:
        parts.append(task.description.strip().rstrip(".") + ".")
    if not parts:
        parts.append(f"Solves questions of the {task.name.replace('_', ' ')} task.")
    parts.append(f"Python function {_signature_of(code, entrypoint)} for the {task.name} task.")
    return " ".join(parts)


class MakerNodes:
    """The nodes of the maker graph, bound to a model, a sandbox and the settings.

    Args:
        llm: The maker model; ``None`` resolves one per run from the context
            (:class:`MakerContext`) or ``$LATM_MAKER_MODEL`` / ``$LATM_BASE_URL``.
        executor: The sandbox; ``None`` creates a :class:`SandboxExecutor` on first use.
        settings: Protocol options.
    """

    def __init__(
        self,
        llm: BaseChatModel | None,
        executor: Executor | None,
        settings: MakerSettings,
    ) -> None:
        self.llm = llm
        self._executor = executor
        self.settings = settings
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str | None], BaseChatModel] = {}

    # -- resources ---------------------------------------------------------------------

    @property
    def prompts(self) -> MakerPrompts:
        """The prompt set in use."""
        return self.settings.prompts

    def executor(self) -> Executor:
        """The sandbox (created on first use when none was given)."""
        with self._lock:
            if self._executor is None:
                from langchain_latm.sandbox import SandboxExecutor

                self._executor = SandboxExecutor()
            return self._executor

    def model(self, runtime: Runtime[MakerContext] | None) -> BaseChatModel:
        """The maker model for this run (bound model, else context / environment)."""
        if self.llm is not None:
            return self.llm
        name = _context_value(runtime, "model") or os.environ.get(ENV_MAKER_MODEL)
        base_url = _context_value(runtime, "base_url") or os.environ.get(ENV_BASE_URL) or None
        if not name:
            raise ModelCallError(
                "no maker model configured: pass llm= to build_maker_graph/ToolMaker, set the "
                f"run context's `model`, or set ${ENV_MAKER_MODEL}",
                role="maker",
            )
        key = (str(name), base_url)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_chat_model(str(name), base_url=base_url)
            return self._models[key]

    def _timeout(self, runtime: Runtime[MakerContext] | None) -> float:
        value = _context_value(runtime, "timeout")
        return float(value) if value else self.settings.timeout

    def _call(
        self,
        runtime: Runtime[MakerContext] | None,
        messages: list[AnyMessage],
        attempt: int = 1,
    ) -> tuple[AIMessage, dict[str, Any]]:
        llm = self.model(runtime)
        # LATMErrors (ReplayExhaustedError...) propagate unchanged; provider failures become
        # ModelCallError(role="maker", model, attempt), transient ones ModelUnavailableError
        # (retried by the node's MODEL_RETRY_POLICY).
        reply = invoke_with_role(llm, messages, role="maker", attempt=attempt,
                                 model=model_name(llm))
        if not isinstance(reply, AIMessage):
            reply = AIMessage(content=message_text(reply))
        usage = Usage.from_message(reply)
        if usage.model is None:
            usage = usage.model_copy(update={"model": model_name(llm)})
        return reply, usage.model_dump(exclude={"total_tokens"})

    @staticmethod
    def _emit(runtime: Runtime[MakerContext] | None, state: MakerState, **event: Any) -> None:
        if runtime is None:
            return
        payload = {"source": "maker", "candidate": state.get("candidate", 0), **event}
        runtime.stream_writer(payload)

    # -- nodes -------------------------------------------------------------------------

    def propose(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """Ask for a generic function (first attempt) or a fix (after feedback)."""
        task = _task_of(state)
        attempts = dict(state.get("attempts") or {})
        attempt = attempts.get("propose", 0) + 1
        new: list[AnyMessage] = []
        if attempt == 1:
            demos = task.train[: self.settings.n_train]
            if not demos:
                raise ToolMakingError(
                    f"task {task.name!r} has no training examples to propose a tool from",
                    stage="propose",
                    task=task.name,
                )
            new.append(HumanMessage(self.prompts.propose(demos)))
        self._emit(runtime, state, stage="propose", status="start", attempt=attempt)
        reply, usage = self._call(runtime, [*(state.get("messages") or []), *new], attempt)
        attempts["propose"] = attempt
        return {"messages": [*new, reply], "usage": usage, "attempts": attempts, "stage": "execute"}

    def execute(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """Run the whole proposed code (with its example usage) in the sandbox."""
        text = _last_ai_text(state)
        attempts = dict(state.get("attempts") or {})
        error: tuple[str, str] | None = None
        code = ""
        definitions = ""
        blocks = extract_code_blocks(text)
        if not text.strip():
            error = ("EmptyReply", EMPTY_REPLY_MESSAGE)
        elif not blocks:
            error = ("NoCodeBlock", NO_CODE_MESSAGE)
        else:
            code = "\n\n".join(blocks)
            try:
                definitions, _usage = split_function_code(code)
            except SyntaxError as exc:
                error = ("SyntaxError", f"{exc.msg} (line {exc.lineno})")
            else:
                if not function_names(definitions):
                    error = ("NoFunction", NO_FUNCTION_MESSAGE)
        if error is None:
            self._emit(runtime, state, stage="execute", status="start")
            runner: Any = self.executor()
            result: ExecutionResult = runner.run(
                code, "", timeout=self._timeout(runtime), require_answer=False
            )
            if not result.ok:
                error = (result.error_type or "Error", result.error_message or "")
        if error is None:
            self._emit(runtime, state, stage="execute", status="ok")
            return {
                "proposal_code": code,
                "function_code": definitions,
                "stage": "verify",
                "feedback": None,
                "last_error": None,
            }
        feedback = self.prompts.execution_error(*error)
        used = attempts.get("propose", 0)
        if used < self.settings.max_propose_attempts:
            self._emit(runtime, state, stage="execute", status="retry", message=feedback)
            return {
                "messages": [HumanMessage(feedback)],
                "proposal_code": code,
                "stage": "propose",
                "feedback": feedback,
                "last_error": f"{error[0]}: {error[1]}",
            }
        self._emit(runtime, state, stage="execute", status="failed", message=feedback)
        return {
            "proposal_code": code,
            "stage": "failed",
            "feedback": feedback,
            "last_error": f"{error[0]}: {error[1]}",
            "failure": {"stage": "propose", "message": feedback, "attempts": used},
        }

    def verify(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """Ask for unit tests on the validation examples (or fixed ones after feedback)."""
        task = _task_of(state)
        attempts = dict(state.get("attempts") or {})
        attempt = attempts.get("verify", 0) + 1
        new: list[AnyMessage] = []
        if attempt == 1:
            demos = task.val[: self.settings.n_val]
            if not demos:
                raise ToolMakingError(
                    f"task {task.name!r} has no validation examples to verify a tool on",
                    stage="verify",
                    task=task.name,
                )
            new.append(HumanMessage(self.prompts.verify(demos)))
        self._emit(runtime, state, stage="verify", status="start", attempt=attempt)
        reply, usage = self._call(runtime, [*(state.get("messages") or []), *new], attempt)
        attempts["verify"] = attempt
        return {"messages": [*new, reply], "usage": usage, "attempts": attempts, "stage": "check"}

    def check(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """The harness: run each test's snippet, compare its ``ans`` with the gold answer."""
        task = _task_of(state)
        attempts = dict(state.get("attempts") or {})
        examples = task.val[: self.settings.n_val]
        self._emit(runtime, state, stage="check", status="start", cases=len(examples))
        outcome = judge_tests(
            self.executor(),
            function_code=state.get("function_code") or "",
            reply=_last_ai_text(state),
            examples=examples,
            task=task.name,
            timeout=self._timeout(runtime),
            prompts=self.prompts,
        )
        report = VerificationReport(
            verified=outcome.verified,
            cases=outcome.cases,
            attempts=attempts,
            verified_by="harness",
            message=outcome.feedback,
        )
        update: dict[str, Any] = {"report": report.model_dump(mode="json")}
        passed = sum(1 for c in outcome.cases if c.ok)
        if outcome.verified:
            self._emit(
                runtime, state, stage="check", status="ok", passed=passed, total=len(examples)
            )
            update.update(
                stage="wrap",
                function_code=outcome.function_code,
                verified_snippets=outcome.snippets,
                feedback=None,
                last_error=None,
            )
            return update
        feedback = outcome.feedback or ""
        used = attempts.get("verify", 0)
        if used < self.settings.max_verify_attempts:
            self._emit(
                runtime, state, stage="check", status="retry", passed=passed,
                total=len(examples), message=feedback,
            )
            update.update(
                messages=[HumanMessage(feedback)], stage="verify", feedback=feedback,
                last_error=feedback,
            )
            return update
        self._emit(runtime, state, stage="check", status="failed", passed=passed,
                   total=len(examples), message=feedback)
        update.update(
            stage="failed",
            feedback=feedback,
            last_error=feedback,
            failure={"stage": "verify", "message": feedback, "attempts": used},
        )
        return update

    def wrap(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """Ask the maker to summarise the function and one use case per validation example."""
        attempts = dict(state.get("attempts") or {})
        attempt = attempts.get("wrap", 0) + 1
        new: list[AnyMessage] = []
        if attempt == 1:
            new.append(HumanMessage(self.prompts.wrap()))
        self._emit(runtime, state, stage="wrap", status="start", attempt=attempt)
        reply, usage = self._call(runtime, [*(state.get("messages") or []), *new], attempt)
        attempts["wrap"] = attempt
        return {
            "messages": [*new, reply],
            "usage": usage,
            "attempts": attempts,
            "stage": "check_wrap",
        }

    def check_wrap(self, state: MakerState, runtime: Runtime[MakerContext]) -> dict[str, Any]:
        """Re-execute the wrapped use cases; they must reproduce the gold answers."""
        task = _task_of(state)
        attempts = dict(state.get("attempts") or {})
        examples = task.val[: self.settings.n_val]
        parsed = parse_wrap(_last_ai_text(state))
        verified_code = state.get("function_code") or ""
        fallback = list(state.get("verified_snippets") or [])
        self._emit(runtime, state, stage="check_wrap", status="start")
        built = self._assemble(
            runtime, task, examples, parsed, verified_code, fallback
        )
        if isinstance(built, tuple):
            code, cases, sources = built
            tool = self._finish(state, task, code, cases, sources, parsed)
            self._emit(runtime, state, stage="check_wrap", status="ok", tool_name=tool.name,
                       sources=sources)
            return {"tool": tool.model_dump(mode="json"), "stage": "done", "feedback": None}
        feedback = self.prompts.wrap_problem(built)
        used = attempts.get("wrap", 0)
        if used < self.settings.max_wrap_attempts:
            self._emit(runtime, state, stage="check_wrap", status="retry", message=feedback)
            return {"messages": [HumanMessage(feedback)], "stage": "wrap", "feedback": feedback,
                    "last_error": built}
        self._emit(runtime, state, stage="check_wrap", status="failed", message=feedback)
        return {
            "stage": "failed",
            "feedback": feedback,
            "last_error": built,
            "failure": {"stage": "wrap", "message": feedback, "attempts": used},
        }

    # -- helpers -----------------------------------------------------------------------

    def _assemble(
        self,
        runtime: Runtime[MakerContext] | None,
        task: TaskSpec,
        examples: Sequence[Demonstration],
        parsed: ParsedWrap,
        verified_code: str,
        fallback: Sequence[str | None],
    ) -> tuple[str, list[CaseResult], list[str]] | str:
        """Pick code + one re-executed, gold-reproducing use case per example, or a problem."""
        executor = self.executor()
        timeout = self._timeout(runtime)
        codes: list[str] = []
        if parsed.function_code.strip():
            codes.append(parsed.function_code)
        if verified_code.strip() and verified_code.strip() not in {c.strip() for c in codes}:
            codes.append(verified_code)
        wrapped = parsed.use_cases
        mapping = _align(
            [f"{u.question}\n{u.snippet}" for u in wrapped], [e.question for e in examples]
        ) if wrapped else [None] * len(examples)
        problem = parsed.error or "no usable function"
        for code in codes:
            tool_names = set(function_names(code))
            if not tool_names:
                continue
            cases: list[CaseResult] = []
            sources: list[str] = []
            for i, example in enumerate(examples):
                j = mapping[i] if i < len(mapping) else None
                case: CaseResult | None = None
                if j is not None:
                    case = run_case(
                        executor, code=code, snippet=wrapped[j].snippet, example=example,
                        task=task.name, timeout=timeout, tool_names=tool_names,
                    )
                    if case.ok:
                        sources.append("wrap")
                if (case is None or not case.ok) and self.settings.wrap_fallback:
                    snippet = fallback[i] if i < len(fallback) else None
                    if snippet:
                        alt = run_case(
                            executor, code=code, snippet=snippet, example=example,
                            task=task.name, timeout=timeout, tool_names=tool_names,
                        )
                        if alt.ok or case is None:
                            case = alt
                            if alt.ok:
                                sources.append("tests")
                if case is None:
                    case = CaseResult(
                        question=example.question, expected=example.answer,
                        error="Uncovered: no use case for this example",
                    )
                cases.append(case)
                if not case.ok:
                    break
            if len(cases) == len(examples) and all(c.ok for c in cases):
                return code, cases, sources
            bad = next((i for i, c in enumerate(cases) if not c.ok), None)
            if bad is not None:
                case = cases[bad]
                got = case.error if case.error else case.got
                problem = self.prompts.wrap_case_problem(bad + 1, got, case.expected)
                if parsed.error:
                    problem = f"{parsed.error}; {problem}"
        return problem

    def _finish(
        self,
        state: MakerState,
        task: TaskSpec,
        code: str,
        cases: list[CaseResult],
        sources: list[str],
        parsed: ParsedWrap,
    ) -> WrappedTool:
        snippets = [c.snippet or "" for c in cases]
        entry = _entrypoint(code, snippets)
        use_cases = [
            UseCase(question=c.question, snippet=c.snippet or "", answer=c.expected)
            for c in cases
        ]
        messages = state.get("messages") or []
        estimated = any(
            bool((m.response_metadata or {}).get("usage_estimated"))
            for m in messages
            if isinstance(m, AIMessage)
        )
        usage = Usage.model_validate(state.get("usage") or {})
        tool = WrappedTool(
            name=_sanitise_name(entry),
            task=task.name,
            description=_describe_tool(task, code, entry),
            code=code,
            entrypoint=entry,
            use_cases=use_cases,
            maker_model=usage.model or (model_name(self.llm) if self.llm is not None else None),
            usage=usage,
            metadata={
                "transcript_length": len(messages),
                "candidate": state.get("candidate", 0),
                "use_case_sources": sources,
                "usage_estimated": estimated,
            },
        )
        report = VerificationReport(
            verified=True,
            cases=cases,
            attempts=dict(state.get("attempts") or {}),
            verified_by="harness",
            verified_tool_id=tool.tool_id,
            verified_at=datetime.now(UTC),
            message=None,
        )
        return tool.model_copy(update={"verification": report})


RouteTarget = Literal["propose", "verify", "wrap", "__end__"]


def route_after_execute(state: MakerState) -> Literal["propose", "verify", "__end__"]:
    """After execution: fix the proposal, go verify, or stop (attempts exhausted)."""
    stage = state.get("stage")
    if stage == "propose":
        return "propose"
    if stage == "verify":
        return "verify"
    return "__end__"


def route_after_check(state: MakerState) -> Literal["verify", "wrap", "__end__"]:
    """After the harness: ask for fixed tests, wrap the verified tool, or stop."""
    stage = state.get("stage")
    if stage == "verify":
        return "verify"
    if stage == "wrap":
        return "wrap"
    return "__end__"


def route_after_check_wrap(state: MakerState) -> Literal["wrap", "__end__"]:
    """After re-executing the wrapped use cases: wrap again, or stop (done or failed)."""
    return "wrap" if state.get("stage") == "wrap" else "__end__"
