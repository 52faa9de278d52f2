"""Typed exceptions of langchain-latm.

Every error the library raises on purpose derives from :class:`LATMError`, and each
carries the context a user needs to act on it (which tool, which stage, which attempt,
the model output that failed). Catch ``LATMError`` to handle them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_latm.schemas import VerificationReport

__all__ = [
    "ConfigurationError",
    "DataNotFoundError",
    "DispatchError",
    "EmbeddingMismatchError",
    "LATMError",
    "ModelCallError",
    "ModelUnavailableError",
    "PriceNotFoundError",
    "ReplayExhaustedError",
    "RepositoryError",
    "SandboxError",
    "SandboxUnavailableError",
    "TamperedToolError",
    "ToolMakingError",
    "ToolNotFoundError",
    "ToolUseError",
    "ToolValidationError",
]


class LATMError(Exception):
    """Root of every error raised by langchain-latm."""


class SandboxError(LATMError):
    """The sandbox itself failed (not the code it ran): worker died, bad configuration."""


class SandboxUnavailableError(SandboxError):
    """An isolation layer the caller required is not available on this machine.

    Attributes:
        missing: Names of the isolation layers that could not be applied.
    """

    def __init__(self, message: str, *, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing: list[str] = list(missing)


class ToolValidationError(LATMError, ValueError):
    """A tool (or other record) failed validation: bad name, code that does not parse."""


class ToolMakingError(LATMError):
    """Tool making ran out of attempts.

    Attributes:
        stage: Where attempts ran out: ``"propose"``, ``"verify"`` or ``"wrap"``.
        transcript: The conversation with the maker model (``{"role", "content"}`` dicts).
        report: The last verification report, when the failure was a verification failure.
        last_error: The last failure message fed back to the model.
        task: Name of the task the tool was made for.
        attempts: How many attempts were made at ``stage``.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        transcript: Sequence[dict[str, str]] = (),
        report: VerificationReport | None = None,
        last_error: str | None = None,
        task: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.transcript: list[dict[str, str]] = list(transcript)
        self.report = report
        self.last_error = last_error
        self.task = task
        self.attempts = attempts


class ReplayExhaustedError(LATMError):
    """A :class:`~langchain_latm.testing.ReplayChatModel` was asked for more turns than recorded.

    Attributes:
        source: The transcript the model replays (a path or ``"<memory>"``).
        served: How many assistant turns had been served.
    """

    def __init__(self, message: str, *, source: str = "<memory>", served: int = 0) -> None:
        super().__init__(message)
        self.source = source
        self.served = served


class RepositoryError(LATMError):
    """The tool repository could not complete an operation (corrupt or foreign store, ...)."""


class ToolNotFoundError(RepositoryError, KeyError):
    """No stored tool has the requested name (or version)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "tool not found"


class EmbeddingMismatchError(RepositoryError):
    """The store was indexed with another embedding than the one configured now.

    Attributes:
        stored: Identifier of the embedding the store was built with.
        configured: Identifier of the embedding configured now.
    """

    def __init__(self, message: str, *, stored: str, configured: str) -> None:
        super().__init__(message)
        self.stored = stored
        self.configured = configured


class TamperedToolError(RepositoryError):
    """A stored tool's content no longer matches the hash it was verified under.

    Attributes:
        name: The tool's name.
        expected_id: The ``tool_id`` recorded when it was stored.
        actual_id: The ``tool_id`` recomputed from the content found now.
    """

    def __init__(self, message: str, *, name: str, expected_id: str, actual_id: str) -> None:
        super().__init__(message)
        self.name = name
        self.expected_id = expected_id
        self.actual_id = actual_id


class DispatchError(LATMError):
    """The dispatcher could not route a question (empty input, uncalibrated, ...)."""


class ToolUseError(LATMError):
    """Using a tool failed in a way that cannot be reported as a failed ``Answer``."""


class ModelCallError(LATMError):
    """A chat model call failed permanently (after the client's own retries).

    Attributes:
        role: Which role made the call: ``"maker"``, ``"user"`` or ``"dispatcher"``.
        model: The model's name, when known.
        attempt: Which attempt failed (1-based).
        cause_type: Class name of the underlying exception.
    """

    def __init__(
        self,
        message: str,
        *,
        role: str,
        model: str | None = None,
        attempt: int = 1,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.role = role
        self.model = model
        self.attempt = attempt
        self.cause_type = type(cause).__name__ if cause is not None else None


class ModelUnavailableError(ModelCallError):
    """A transient provider fault (rate limit, 5xx, timeout, lost connection) outlasted retries.

    The provider client already retried with backoff; a caller (for example a LangGraph
    node with ``langchain_latm.reliability.MODEL_RETRY_POLICY``) may retry later.
    """


class DataNotFoundError(LATMError, FileNotFoundError):
    """Task data (BBH files, recorded sessions) could not be found.

    Attributes:
        looked_in: Every place that was searched, in order.
    """

    def __init__(self, message: str, *, looked_in: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.looked_in: list[str] = list(looked_in)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "data not found"



class PriceNotFoundError(LATMError, KeyError):
    """A model has no price in the price table, or a price override is malformed.

    Attributes:
        model: The model whose price was asked for, when known.
    """

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "price not found"


class ConfigurationError(LATMError, ValueError):
    """Something needed is not configured (no model named, bad option value).

    The message says which setting is missing and how to provide it.
    """
