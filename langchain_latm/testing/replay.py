"""Replay a recorded tool-making conversation as a chat model.

The paper released real GPT-4 tool-making sessions (``shared/data/recorded/*.json``: a JSON
list of ``{"role", "content"}``). :class:`ReplayChatModel` serves their assistant turns in
order to whatever calls it — typically :class:`~langchain_latm.ToolMaker` — so the whole
protocol (propose, fix, verify, wrap) runs offline and deterministically against real model
output. It records every prompt it was sent, so tests can check the prompts' structure.

Usage metadata is attached to every reply so cost accounting works offline; the token
counts are *estimates* (about 4 characters per token), flagged with
``response_metadata["usage_estimated"] = True``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from langchain_latm.errors import DataNotFoundError, ReplayExhaustedError
from langchain_latm.models import message_text as _text

__all__ = ["ReplayChatModel", "assistant_turns", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text``: ``ceil(len / 4)`` (an estimate, not a tokenizer)."""
    return (len(text) + 3) // 4



def assistant_turns(conversation: Sequence[dict[str, Any]]) -> list[str]:
    """The assistant turns of a recorded conversation, minus recorder duplicates.

    The original recorder appended the accepted proposal a second time, right after it:
    an assistant turn whose previous message is an assistant turn with the same content
    is skipped.

    Args:
        conversation: ``[{"role": "user" | "assistant" | "system", "content": str}, ...]``.

    Returns:
        The assistant turns to serve, in order.
    """
    turns: list[str] = []
    previous: dict[str, Any] | None = None
    for message in conversation:
        role = str(message.get("role", ""))
        content = str(message.get("content", ""))
        if role == "assistant":
            duplicate = (
                previous is not None
                and previous.get("role") == "assistant"
                and str(previous.get("content", "")).strip() == content.strip()
            )
            if not duplicate:
                turns.append(content)
        previous = message
    return turns


class ReplayChatModel(BaseChatModel):
    r"""A chat model that replays recorded assistant turns, in order.

    Args:
        turns: The assistant replies to serve.
        source: Where the turns came from (a path, or ``"<memory>"``).
        model_name: Name reported in ``response_metadata`` and usage records.

    Attributes:
        prompts: The message lists the model was called with, one per call.

    Raises:
        ReplayExhaustedError: (from calls) when asked for more turns than recorded.

    Example:
        >>> llm = ReplayChatModel(turns=["```python\\ndef f():\\n    return 1\\n```"])
        >>> llm.invoke("hi").content.startswith("```python")
        True
    """

    turns: list[str]
    source: str = "<memory>"
    model_name: str = "replay"

    _cursor: int = PrivateAttr(default=0)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_transcript(cls, path: str | Path, *, model_name: str | None = None) -> ReplayChatModel:
        """Load a recorded session (JSON list of ``{"role", "content"}``).

        Also accepts ``{"messages": [...]}``. Assistant turns repeating the assistant turn
        right before them are skipped (see :func:`assistant_turns`).

        Args:
            path: The session file.
            model_name: Name to report (default: ``"replay:<file stem>"``).

        Raises:
            DataNotFoundError: If the file does not exist.
            ValueError: If the file is not a recorded conversation.
        """
        file = Path(path)
        if not file.is_file():
            raise DataNotFoundError(f"recorded session not found: {file}", looked_in=[str(file)])
        data = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            data = data["messages"]
        if not isinstance(data, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in data
        ):
            raise ValueError(f"{file} is not a list of {{'role', 'content'}} messages")
        return cls(
            turns=assistant_turns(data),
            source=str(file),
            model_name=model_name or f"replay:{file.stem}",
        )

    @classmethod
    def from_messages(
        cls, conversation: Sequence[dict[str, Any]], *, model_name: str = "replay"
    ) -> ReplayChatModel:
        """Replay an in-memory conversation (same rules as :meth:`from_transcript`)."""
        return cls(turns=assistant_turns(conversation), model_name=model_name)

    @property
    def _llm_type(self) -> str:
        return "latm-replay"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "source": self.source}

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        """The message lists the model was called with, in call order (a copy)."""
        with self._lock:
            return [list(p) for p in self._prompts]

    @property
    def served(self) -> int:
        """How many turns were served so far."""
        with self._lock:
            return self._cursor

    @property
    def remaining(self) -> int:
        """How many recorded turns are left."""
        with self._lock:
            return len(self.turns) - self._cursor

    def reset(self) -> None:
        """Start again from the first turn and forget the recorded prompts."""
        with self._lock:
            self._cursor = 0
            self._prompts.clear()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self._prompts.append(list(messages))
            if self._cursor >= len(self.turns):
                raise ReplayExhaustedError(
                    f"replay of {self.source} exhausted: all {len(self.turns)} recorded "
                    f"assistant turns were served (call {len(self._prompts)})",
                    source=self.source,
                    served=self._cursor,
                )
            text = self.turns[self._cursor]
            self._cursor += 1
        input_tokens = sum(estimate_tokens(_text(m)) for m in messages)
        output_tokens = estimate_tokens(text)
        message = AIMessage(
            content=text,
            response_metadata={"model_name": self.model_name, "usage_estimated": True},
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
