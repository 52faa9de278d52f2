"""The tool user: a cheap model answers new questions by calling a cached tool.

The paper's protocol: prompt the weak model with the wrapped tool (function + use cases) and
the new question, take the first ```python block of its reply, run function + snippet in the
sandbox, read the final ``ans*`` variable and normalise it with the task's normaliser. On top
of the paper: a snippet that fails is retried once with the error shown to the model, and
every failure ends as a failed :class:`~langchain_latm.schemas.Answer` (never an exception
that kills a batch). Provider errors that outlast the client's own retries become a failed
``Answer`` with ``error_type="ModelCallError"`` and are logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_latm.errors import LATMError, ModelCallError, SandboxError, ToolUseError
from langchain_latm.models import message_text as _text
from langchain_latm.models import model_name
from langchain_latm.reliability import ainvoke_with_role, invoke_with_role
from langchain_latm.schemas import Answer, ExecutionResult, TaskSpec, Usage, WrappedTool
from langchain_latm.user_prompts import (
    NO_CODE_FEEDBACK,
    RETRY_FEEDBACK,
    render_tool_user_prompt,
)

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from langchain_latm.sandbox import SandboxExecutor

__all__ = ["ToolUser", "extract_code_block"]

logger = logging.getLogger(__name__)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "python3", "py", "py3"}
_ANS_ASSIGN = re.compile(r"^\s*(ans\w*|answer)\s*(?::[^=\n]+)?=(?!=)", re.MULTILINE)


def extract_code_block(text: str) -> str | None:
    """The snippet to run from a model reply.

    Takes the first ```python block (``py``/``python3`` tags too; an unterminated block at the
    end of a truncated reply counts). Among several python blocks the first one that assigns
    an ``ans``-like variable wins, because weak models often repeat the tool in a first block
    before calling it. Without a tagged block, an untagged ``` block is used.

    Args:
        text: The model's reply.

    Returns:
        The code, or ``None`` when the reply has no code block at all.
    """
    tagged: list[str] = []
    untagged: list[str] = []
    for match in _FENCE.finditer(text):
        tag, body = match.group(1).lower(), match.group(2)
        if not body.strip():
            continue
        if tag in _PYTHON_TAGS:
            tagged.append(body)
        elif tag == "":
            untagged.append(body)
    for blocks in (tagged, untagged):
        if blocks:
            for body in blocks:
                if _ANS_ASSIGN.search(body):
                    return body.strip("\n")
            return blocks[0].strip("\n")
    return None



@dataclass
class _Attempt:
    snippet: str | None
    result: ExecutionResult | None
    error_type: str | None
    error: str | None


class ToolUser:
    """A (cheap) chat model that answers questions by writing a call snippet for a tool.

    Args:
        llm: Any LangChain chat model (the paper used ``gpt-3.5-turbo``).
        executor: Sandbox that runs tool code + snippet; a default ``SandboxExecutor``
            is created on first use when omitted.
        max_retries: How many times a failing snippet is retried with the error shown to
            the model (the paper: 0; default 1).
        timeout: Seconds a snippet may run in the sandbox.
        retry_on_no_code: Also retry, with feedback, when the reply has no code block
            (default: a reply without code is a final ``"NoCodeBlock"`` failure).

    Example:
        >>> user = ToolUser(ChatOpenAI(model="gpt-4o-mini"))          # doctest: +SKIP
        >>> answer = user.solve("Sort the following words ...", tool)  # doctest: +SKIP
        >>> answer.answer, answer.ok                                   # doctest: +SKIP
    """

    role = "user"

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        executor: SandboxExecutor | None = None,
        max_retries: int = 1,
        timeout: float = 5.0,
        retry_on_no_code: bool = False,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.llm = llm
        self._executor = executor
        self.max_retries = max_retries
        self.timeout = timeout
        self.retry_on_no_code = retry_on_no_code
        self.model = model_name(llm)
        self.failures: list[ModelCallError] = []
        """Provider errors turned into failed answers (also logged), for inspection."""

    @property
    def executor(self) -> SandboxExecutor:
        """The sandbox in use (created on first use)."""
        if self._executor is None:
            from langchain_latm.sandbox import SandboxExecutor

            self._executor = SandboxExecutor()
        return self._executor

    # ------------------------------------------------------------------ helpers

    def _task_name(self, tool: WrappedTool, task: TaskSpec | str | None) -> str:
        if isinstance(task, TaskSpec):
            return task.name
        return task or tool.task

    def _model_error(self, exc: LATMError, attempt: int, usage: Usage,
                     tool: WrappedTool) -> Answer:
        if isinstance(exc, ModelCallError):
            error = exc
        else:  # e.g. a replayed/scripted model that ran out of turns
            error = ModelCallError(
                f"{self.role} model {self.model!r} failed on attempt {attempt}: "
                f"{type(exc).__name__}: {exc}",
                role=self.role, model=self.model, attempt=attempt, cause=exc,
            )
        self.failures.append(error)
        logger.warning("%s", error, exc_info=exc)
        return Answer(
            ok=False,
            error=str(error),
            error_type="ModelCallError",
            tool=tool.name,
            usage=usage,
            attempts=attempt - 1,
            metadata={"role": error.role, "model": error.model,
                      "cause_type": error.cause_type or type(exc).__name__,
                      "attempt": attempt},
        )

    def _feedback(self, tool: WrappedTool, attempt: _Attempt) -> str:
        if attempt.snippet is None:
            return NO_CODE_FEEDBACK.format(entrypoint=tool.entrypoint)
        result = attempt.result
        error_type = attempt.error_type or (result.error_type if result else "Error")
        message = (result.error_message if result else None) or attempt.error or ""
        return RETRY_FEEDBACK.format(
            error_type=error_type, error_message=message, entrypoint=tool.entrypoint
        )

    def _judge(self, reply: str, result: ExecutionResult | None, snippet: str | None) -> _Attempt:
        if snippet is None:
            return _Attempt(None, None, "NoCodeBlock",
                            "the model's reply contained no ```python code block")
        assert result is not None
        if not result.ok:
            return _Attempt(snippet, result, result.error_type or "ExecutionError", result.error)
        return _Attempt(snippet, result, None, None)

    def _finish(self, question: str, tool: WrappedTool, task_name: str, attempt: _Attempt,
                attempts: int, usage: Usage) -> Answer:
        if attempt.error_type is not None or attempt.result is None:
            return Answer(ok=False, error=attempt.error, error_type=attempt.error_type,
                          snippet=attempt.snippet, tool=tool.name, usage=usage,
                          attempts=attempts,
                          raw_answer=attempt.result.answer if attempt.result else None)
        from langchain_latm.tasks import normalise_answer

        raw = attempt.result.answer
        try:
            normalised = normalise_answer(raw, question=question, task=task_name)
        except (LATMError, ValueError, TypeError) as exc:
            return Answer(ok=False, raw_answer=raw, snippet=attempt.snippet, tool=tool.name,
                          error=f"could not normalise answer {raw!r}: {exc}",
                          error_type="NormalisationError", usage=usage, attempts=attempts)
        return Answer(answer=normalised, raw_answer=raw, snippet=attempt.snippet, ok=True,
                      tool=tool.name, usage=usage, attempts=attempts)

    def _should_retry(self, attempt: _Attempt, tries: int) -> bool:
        if attempt.error_type is None or tries > self.max_retries:
            return False
        return attempt.snippet is not None or self.retry_on_no_code

    # ------------------------------------------------------------------ solve

    @staticmethod
    def _invalid_question(question: object, tool: WrappedTool) -> Answer | None:
        """A failed ``Answer`` for input no model can be asked about, else ``None``.

        Checked before any model call: empty or whitespace-only text, non-``str`` input
        (bytes), and text that is not encodable as UTF-8 (lone surrogates from undecodable
        bytes), which no provider can receive.
        """
        reason: str | None = None
        if not isinstance(question, str):
            reason = f"the question must be text (str), got {type(question).__name__}"
        elif not question.strip():
            reason = "the question is empty"
        else:
            try:
                question.encode("utf-8")
            except UnicodeEncodeError as exc:
                reason = (f"the question is not valid UTF-8 text (undecodable bytes at "
                          f"position {exc.start}); decode it before asking")
        if reason is None:
            return None
        return Answer(ok=False, error=reason, error_type="InvalidQuestion", tool=tool.name)

    def solve(
        self,
        question: str,
        tool: WrappedTool,
        *,
        task: TaskSpec | str | None = None,
        config: RunnableConfig | None = None,
    ) -> Answer:
        """Answer ``question`` with ``tool``.

        Args:
            question: The new question.
            tool: The cached tool to call.
            task: Task (name or spec) whose answer normaliser applies; default ``tool.task``.
            config: LangChain run config for the model calls (callbacks, tags).

        Returns:
            An :class:`Answer`: ``ok`` with the normalised answer, or failed with
            ``error``/``error_type`` (``"NoCodeBlock"``, the sandbox's verdict such as
            ``"Timeout"`` or ``"NameError"``, ``"ModelCallError"``, ``"SandboxError"``).
        """
        invalid = self._invalid_question(question, tool)
        if invalid is not None:
            return invalid
        task_name = self._task_name(tool, task)
        messages: list[BaseMessage] = [HumanMessage(render_tool_user_prompt(tool, question))]
        usage = Usage(model=self.model)
        tries = 0
        while True:
            tries += 1
            try:
                reply = invoke_with_role(self.llm, messages, role=self.role, attempt=tries,
                                         model=self.model, config=config)
            except LATMError as exc:  # provider errors arrive as ModelCallError
                return self._model_error(exc, tries, usage, tool)
            usage = usage + Usage.from_message(reply, model=self.model)
            text = _text(reply)
            snippet = extract_code_block(text)
            result = None
            if snippet is not None:
                try:
                    result = self.executor.run(tool.code, snippet, timeout=self.timeout)
                except SandboxError as exc:
                    return Answer(ok=False, error=f"sandbox failed: {exc}",
                                  error_type="SandboxError", snippet=snippet, tool=tool.name,
                                  usage=usage, attempts=tries)
            attempt = self._judge(text, result, snippet)
            if not self._should_retry(attempt, tries):
                return self._finish(question, tool, task_name, attempt, tries, usage)
            messages = [*messages, AIMessage(text), HumanMessage(self._feedback(tool, attempt))]

    async def asolve(
        self,
        question: str,
        tool: WrappedTool,
        *,
        task: TaskSpec | str | None = None,
        config: RunnableConfig | None = None,
    ) -> Answer:
        """Async :meth:`solve` (``ainvoke`` on the model, ``arun`` on the sandbox)."""
        invalid = self._invalid_question(question, tool)
        if invalid is not None:
            return invalid
        task_name = self._task_name(tool, task)
        messages: list[BaseMessage] = [HumanMessage(render_tool_user_prompt(tool, question))]
        usage = Usage(model=self.model)
        tries = 0
        while True:
            tries += 1
            try:
                reply = await ainvoke_with_role(self.llm, messages, role=self.role,
                                                attempt=tries, model=self.model, config=config)
            except LATMError as exc:  # provider errors arrive as ModelCallError
                return self._model_error(exc, tries, usage, tool)
            usage = usage + Usage.from_message(reply, model=self.model)
            text = _text(reply)
            snippet = extract_code_block(text)
            result = None
            if snippet is not None:
                try:
                    result = await self.executor.arun(tool.code, snippet, timeout=self.timeout)
                except SandboxError as exc:
                    return Answer(ok=False, error=f"sandbox failed: {exc}",
                                  error_type="SandboxError", snippet=snippet, tool=tool.name,
                                  usage=usage, attempts=tries)
            attempt = self._judge(text, result, snippet)
            if not self._should_retry(attempt, tries):
                return self._finish(question, tool, task_name, attempt, tries, usage)
            messages = [*messages, AIMessage(text), HumanMessage(self._feedback(tool, attempt))]

    # ------------------------------------------------------------------ batches

    @staticmethod
    def _pair(questions: Sequence[str],
              tool_or_tools: WrappedTool | Sequence[WrappedTool | None]) -> list[
                  tuple[str, WrappedTool | None]]:
        if isinstance(tool_or_tools, WrappedTool):
            return [(q, tool_or_tools) for q in questions]
        tools = list(tool_or_tools)
        if len(tools) != len(questions):
            raise ToolUseError(
                f"batch got {len(questions)} questions but {len(tools)} tools; pass one tool "
                "for all questions or exactly one per question"
            )
        return list(zip(questions, tools, strict=True))

    def _safe_solve(self, question: str, tool: WrappedTool | None,
                    task: TaskSpec | str | None, config: RunnableConfig | None) -> Answer:
        if tool is None:
            return Answer(ok=False, error="no tool for this question", error_type="NoTool")
        try:
            return self.solve(question, tool, task=task, config=config)
        except Exception as exc:  # a batch never dies of one question; logged, kept
            logger.exception("tool user failed on %r", question[:80])
            return Answer(ok=False, error=f"{type(exc).__name__}: {exc}",
                          error_type=type(exc).__name__, tool=tool.name)

    def batch(
        self,
        questions: Sequence[str],
        tool_or_tools: WrappedTool | Sequence[WrappedTool | None],
        *,
        max_concurrency: int = 8,
        task: TaskSpec | str | None = None,
        config: RunnableConfig | None = None,
    ) -> list[Answer]:
        """Answer many questions concurrently; one :class:`Answer` per question, in order.

        Args:
            questions: The questions.
            tool_or_tools: One tool for every question, or one tool (or ``None``) per question.
            max_concurrency: At most this many questions in flight.
            task: Task whose normaliser applies (default: each tool's task).
            config: LangChain run config for the model calls.

        Returns:
            Answers aligned with ``questions``; failures are failed answers, never dropped.

        Raises:
            ToolUseError: ``tool_or_tools`` is a list of the wrong length.
        """
        pairs = self._pair(questions, tool_or_tools)
        if not pairs:
            return []
        workers = max(1, min(max_concurrency, len(pairs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="latm-user") as pool:
            futures = [pool.submit(self._safe_solve, q, t, task, config) for q, t in pairs]
            return [f.result() for f in futures]

    async def abatch(
        self,
        questions: Sequence[str],
        tool_or_tools: WrappedTool | Sequence[WrappedTool | None],
        *,
        max_concurrency: int = 8,
        task: TaskSpec | str | None = None,
        config: RunnableConfig | None = None,
    ) -> list[Answer]:
        """Async :meth:`batch` with an ``asyncio.Semaphore`` bounding concurrency."""
        pairs = self._pair(questions, tool_or_tools)
        semaphore = asyncio.Semaphore(max(1, max_concurrency))

        async def one(question: str, tool: WrappedTool | None) -> Answer:
            if tool is None:
                return Answer(ok=False, error="no tool for this question", error_type="NoTool")
            async with semaphore:
                try:
                    return await self.asolve(question, tool, task=task, config=config)
                except Exception as exc:  # a batch never dies of one question; logged, kept
                    logger.exception("tool user failed on %r", question[:80])
                    return Answer(ok=False, error=f"{type(exc).__name__}: {exc}",
                                  error_type=type(exc).__name__, tool=tool.name)

        return list(await asyncio.gather(*(one(q, t) for q, t in pairs)))

    def __repr__(self) -> str:
        return f"ToolUser(model={self.model!r}, max_retries={self.max_retries})"
