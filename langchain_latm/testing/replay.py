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
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from langchain_latm.errors import DataNotFoundError, ReplayExhaustedError
from langchain_latm.models import message_text as _text

__all__ = ["ReplayChatModel", "assistant_turns", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text``: ``ceil(len / 4)`` (an estimate, not a tokenizer)."""
    return (len(text) + 3) // 4



def _served_turns(conversation: Sequence[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """``(user message right before it or None, assistant turn)`` for every turn to serve."""
    served: list[tuple[str | None, str]] = []
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
                asked = None
                if previous is not None and previous.get("role") == "user":
                    asked = str(previous.get("content", ""))
                served.append((asked, content))
        previous = message
    return served


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
    return [turn for _asked, turn in _served_turns(conversation)]


_QUESTION_RE = re.compile(r"^Question: (.*?)\nAnswer:", re.DOTALL | re.MULTILINE)


def _questions(text: str) -> list[str]:
    """The ``Question: ... Answer:`` blocks of a prompt, whitespace collapsed."""
    return [" ".join(q.split()) for q in _QUESTION_RE.findall(text)]


def _question_mismatch(asked: str, recorded: str) -> str | None:
    """How the questions of a prompt differ from those the recorded turn answered (or None).

    Only prompts that both list solved questions are compared (propose and verify prompts).
    """
    mine, theirs = _questions(asked), _questions(recorded)
    if not mine or not theirs or mine == theirs:
        return None
    i = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b),
             min(len(mine), len(theirs)))
    got = mine[i][:80] if i < len(mine) else "<none>"
    want = theirs[i][:80] if i < len(theirs) else "<none>"
    return f"question {i + 1} asked is {got!r}, the recording answered {want!r}"


class ReplayChatModel(BaseChatModel):
    r"""A chat model that replays recorded assistant turns, in order.

    Args:
        turns: The assistant replies to serve.
        recorded_prompts: Optionally, the user message each turn answered in the recording.
            A call whose solved ``Question:`` blocks differ from them is still served, but
            when the replay then runs out of turns the error names the first difference
            (the usual cause: a session recorded on another task or split).
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
    recorded_prompts: list[str | None] = Field(default_factory=list)
    source: str = "<memory>"
    model_name: str = "replay"

    _cursor: int = PrivateAttr(default=0)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _mismatch: str | None = PrivateAttr(default=None)

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
        served = _served_turns(data)
        return cls(
            turns=[turn for _asked, turn in served],
            recorded_prompts=[asked for asked, _turn in served],
            source=str(file),
            model_name=model_name or f"replay:{file.stem}",
        )

    @classmethod
    def from_messages(
        cls, conversation: Sequence[dict[str, Any]], *, model_name: str = "replay"
    ) -> ReplayChatModel:
        """Replay an in-memory conversation (same rules as :meth:`from_transcript`)."""
        served = _served_turns(conversation)
        return cls(turns=[turn for _asked, turn in served],
                   recorded_prompts=[asked for asked, _turn in served], model_name=model_name)

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
            self._mismatch = None

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
                hint = (f"; the session was probably recorded on another task or split: on "
                        f"{self._mismatch}" if self._mismatch else "")
                raise ReplayExhaustedError(
                    f"replay of {self.source} exhausted: all {len(self.turns)} recorded "
                    f"assistant turns were served (call {len(self._prompts)}){hint}",
                    source=self.source,
                    served=self._cursor,
                )
            recorded = (self.recorded_prompts[self._cursor]
                        if self._cursor < len(self.recorded_prompts) else None)
            if recorded is not None and messages and self._mismatch is None:
                differs = _question_mismatch(_text(messages[-1]), recorded)
                if differs:
                    self._mismatch = f"call {len(self._prompts)}, {differs}"
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
