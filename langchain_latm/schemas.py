"""Data that crosses a boundary: tasks, tools, verification reports, results.

All models are Pydantic v2 models with a JSON round-trip (``model_dump_json`` /
``model_validate_json``). :class:`WrappedTool` is what the tool maker produces, what the
repository stores and what the tool user consumes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from langchain_latm.sandbox import SandboxExecutor

__all__ = [
    "Answer",
    "CaseResult",
    "Demonstration",
    "ExecutionResult",
    "JSONValue",
    "Route",
    "TaskSpec",
    "Usage",
    "UseCase",
    "VerificationReport",
    "WrappedTool",
]

JSONValue = Any
"""A value that survives ``json.dumps``/``json.loads`` (None, bool, int, float, str, list, dict)."""

Role = Literal["maker", "user", "dispatcher"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Demonstration(BaseModel):
    """One solved example of a task: a question and its gold answer."""

    model_config = ConfigDict(frozen=True)

    question: str
    answer: str

    @field_validator("question")
    @classmethod
    def _question_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a demonstration needs a non-empty question")
        return value


class TaskSpec(BaseModel):
    """A task family with the paper's split of its examples.

    Attributes:
        name: Task name (e.g. ``"word_sorting"``); used to pick the answer normaliser.
        description: Optional human description of the task.
        train: Demonstrations shown to the maker when proposing a tool (paper: 3).
        val: Demonstrations used to verify the tool (paper: 3).
        test: Held-out instances, answered by the tool user.
    """

    name: str
    description: str = ""
    train: list[Demonstration] = Field(default_factory=list)
    val: list[Demonstration] = Field(default_factory=list)
    test: list[Demonstration] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a task needs a non-empty name")
        return value


class UseCase(BaseModel):
    """How to call a tool for one question: the snippet assigns ``ans`` (or ``ans1``...)."""

    model_config = ConfigDict(frozen=True)

    question: str
    snippet: str
    answer: str | None = None


class Usage(BaseModel):
    """Token usage of one or more model calls (from LangChain ``usage_metadata``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    model: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        model = self.model if self.model == other.model or other.model is None else other.model
        if self.model is not None and other.model is not None and self.model != other.model:
            model = f"{self.model}+{other.model}"
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            calls=self.calls + other.calls,
            model=model,
        )

    @classmethod
    def from_message(cls, message: Any, *, model: str | None = None) -> Usage:
        """Read the usage of one AI message (``usage_metadata``), counting one call.

        Args:
            message: A LangChain ``AIMessage`` (anything with ``usage_metadata``).
            model: The model name to record, if known.
        """
        meta = getattr(message, "usage_metadata", None) or {}
        if model is None:
            response_meta = getattr(message, "response_metadata", None) or {}
            name = response_meta.get("model_name") or response_meta.get("model")
            model = str(name) if name else None
        return cls(
            input_tokens=int(meta.get("input_tokens", 0) or 0),
            output_tokens=int(meta.get("output_tokens", 0) or 0),
            calls=1,
            model=model,
        )


class CaseResult(BaseModel):
    """The harness's verdict on one validation example."""

    question: str
    expected: str
    got: JSONValue = None
    normalised: str | None = None
    ok: bool = False
    error: str | None = None
    snippet: str | None = None


class VerificationReport(BaseModel):
    """How a tool was verified: per-example verdicts decided by the harness, not the maker.

    Attributes:
        verified: True only if every validation example was covered and reproduced.
        cases: One verdict per validation example.
        attempts: Propose and verify attempts used.
        verified_by: ``"harness"`` for tools verified by :class:`ToolMaker`, ``"none"`` for
            hand-written tools stored without verification.
        verified_tool_id: The ``tool_id`` of the exact content that was verified.
        message: Human-readable summary of the last failure, if any.
    """

    verified: bool = False
    cases: list[CaseResult] = Field(default_factory=list)
    attempts: dict[str, int] = Field(default_factory=dict)
    verified_by: str = "none"
    verified_tool_id: str | None = None
    verified_at: datetime | None = None
    message: str | None = None

    def summary(self) -> str:
        """One line: how many validation examples passed."""
        passed = sum(1 for c in self.cases if c.ok)
        state = "verified" if self.verified else "NOT verified"
        return f"{state}: {passed}/{len(self.cases)} validation examples reproduced"


def _first_function_name(code: str) -> str | None:
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node.name
    return None


class WrappedTool(BaseModel):
    """A reusable tool: Python source, how to call it (use cases) and how it was verified.

    Construct by hand from ``name``, ``task``, ``description``, ``code`` and ``use_cases``;
    everything else has a default. ``tool_id`` is a stable content hash over name, code
    and use cases, so any edit to the code changes it.

    Attributes:
        name: A Python identifier naming the tool.
        task: The task family the tool was made for.
        description: What the tool does (used for retrieval and for the tool user's prompt).
        code: Python source defining the function (and its imports).
        entrypoint: Name of the function to call; defaults to the first top-level function.
        use_cases: Worked calls: question, snippet assigning ``ans``, expected answer.
        verification: How the tool was verified (unverified by default).
        version: Version number within the repository (1-based).
        created_at: When the tool was made.
        maker_model: Name of the model that wrote it, if any.
        usage: Token usage of every maker call that went into it.
        metadata: Free-form extra data (JSON values).
    """

    name: str
    task: str
    description: str
    code: str
    entrypoint: str = ""
    use_cases: list[UseCase] = Field(default_factory=list)
    verification: VerificationReport = Field(default_factory=VerificationReport)
    version: int = 1
    created_at: datetime = Field(default_factory=_utcnow)
    maker_model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    metadata: dict[str, JSONValue] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not value.isidentifier() or keyword.iskeyword(value) or not value.isascii():
            raise ValueError(f"tool name must be a Python identifier, got {value!r}")
        return value

    @field_validator("code")
    @classmethod
    def _code_parses(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("tool code is empty")
        try:
            ast.parse(value)
        except SyntaxError as exc:
            raise ValueError(f"tool code does not parse: {exc.msg} (line {exc.lineno})") from exc
        return value

    @field_validator("version")
    @classmethod
    def _version_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("version must be >= 1")
        return value

    @model_validator(mode="after")
    def _default_entrypoint(self) -> WrappedTool:
        if not self.entrypoint:
            found = _first_function_name(self.code)
            if found is None:
                raise ValueError("tool code defines no function and no entrypoint was given")
            self.entrypoint = found
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tool_id(self) -> str:
        """Stable content hash (sha256 hex prefix) over name, code and use cases."""
        payload = json.dumps(
            {
                "name": self.name,
                "code": self.code,
                "use_cases": [
                    [u.question, u.snippet, u.answer] for u in self.use_cases
                ],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @property
    def verified(self) -> bool:
        """True when the harness verified exactly this content."""
        return self.verification.verified and (
            self.verification.verified_tool_id in (None, self.tool_id)
        )

    def as_langchain_tool(self, executor: SandboxExecutor | None = None) -> BaseTool:
        """Expose the tool as a LangChain ``StructuredTool`` that runs in the sandbox.

        Args:
            executor: Sandbox to run calls in; a shared default executor if omitted.

        Returns:
            A ``BaseTool`` whose arguments mirror the function's signature.
        """
        from langchain_latm.tools import to_langchain_tool

        return to_langchain_tool(self, executor=executor)


class ExecutionResult(BaseModel):
    """The host-side verdict on one sandboxed run.

    Attributes:
        ok: True if the code ran and a JSON ``ans`` value was produced.
        answer: JSON value of the last ``ans``-like variable the snippet assigned.
        error_type: Exception class name or one of the sandbox's own verdicts
            (``"Timeout"``, ``"MemoryError"``, ``"MissingAnswer"``, ``"NonJSONAnswer"``,
            ``"OutputLimit"``, ``"SandboxError"``...).
        error_message: Human-readable message for the error.
        stdout: What the code printed (capped).
        duration_s: Wall-clock duration of the call, as seen by the host.
    """

    ok: bool
    answer: JSONValue = None
    error_type: str | None = None
    error_message: str | None = None
    stdout: str = ""
    duration_s: float = 0.0

    @property
    def error(self) -> str | None:
        """``"Type: message"`` for failed runs, ``None`` for successful ones."""
        if self.ok:
            return None
        return f"{self.error_type}: {self.error_message}"


class Answer(BaseModel):
    """What the tool user returns for one question.

    Attributes:
        answer: The normalised answer (e.g. ``"(B)"``), or ``None`` on failure.
        raw_answer: The JSON value the snippet produced, before normalisation.
        snippet: The call snippet the model wrote.
        ok: True if a snippet ran and produced an answer.
        error: Why it failed, when it did.
        error_type: Classified failure (``"NoCodeBlock"``, ``"MissingAnswer"``, ``"Timeout"``...).
        tool: Name of the tool used.
        usage: Token usage of the tool user's model calls.
        attempts: How many snippets were tried.
        metadata: Extra context (JSON values): for failed model calls the ``role``, ``model``
            and ``cause_type``; for answers from :class:`~langchain_latm.LATM` the route
            (``outcome``, ``score``, ``reason``).
    """

    answer: str | None = None
    raw_answer: JSONValue = None
    snippet: str | None = None
    ok: bool = False
    error: str | None = None
    error_type: str | None = None
    tool: str | None = None
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 0
    metadata: dict[str, JSONValue] = Field(default_factory=dict)


class Route(BaseModel):
    """The dispatcher's decision for one question.

    Attributes:
        tool: The cached tool to use, or ``None`` for *unknown* (a new tool must be made).
        score: The dispatcher's score of the best candidate (higher is closer): the
            re-ranked score, not the raw cosine (that is in the candidate's reason).
        candidates: Best candidates with their scores, best first.
        reason: Why this decision was taken (threshold, LLM confirmation...).
    """

    tool: WrappedTool | None = None
    score: float = 0.0
    candidates: list[tuple[WrappedTool, float]] = Field(default_factory=list)
    reason: str = ""

    @property
    def unknown(self) -> bool:
        """True when no cached tool fits the question."""
        return self.tool is None
