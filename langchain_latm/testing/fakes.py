"""Scripted chat models for offline tests of the tool user, the LATM graph and your own code.

:class:`ScriptedChatModel` is a real LangChain ``BaseChatModel``: it answers from a list of
replies (or a function of the messages), attaches ``usage_metadata`` like a provider would,
records every prompt it was sent, and can simulate latency and provider failures. Nothing
here touches the network.

Example:
    >>> from langchain_latm.testing import ScriptedChatModel
    >>> llm = ScriptedChatModel(responses=["ans = 42"], model_name="fake-small")
    >>> llm.invoke("hi").content
    'ans = 42'
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_latm.cost import estimate_tokens
from langchain_latm.errors import ReplayExhaustedError
from langchain_latm.models import message_text as _message_text

__all__ = ["ScriptedChatModel", "estimate_tokens"]

Reply = str | BaseException
"""One scripted turn: the reply text, or an exception instance to raise (a provider error)."""



class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script, with usage metadata and recorded prompts.

    Args:
        responses: Replies served in order. An item that is an exception instance is raised
            instead of answered (simulates a provider error after the client's retries).
        respond: Alternatively, a function ``messages -> str`` computing each reply (it may
            raise to simulate failures). Exactly one of ``responses``/``respond`` is needed.
        cycle: Start again from the first reply when the script runs out (default: raise
            :class:`~langchain_latm.errors.ReplayExhaustedError`).
        latency_s: Simulated latency per call (``time.sleep`` in sync calls,
            ``asyncio.sleep`` in async ones).
        model_name: Name reported in ``response_metadata`` (used by cost accounting).
        usage: Attach ``usage_metadata`` (token counts estimated from the text).

    Attributes:
        prompts: Every list of messages the model was called with, in call order.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Reply] = Field(default_factory=list)
    respond: Callable[[list[BaseMessage]], str] | None = None
    cycle: bool = False
    latency_s: float = 0.0
    model_name: str = "scripted"
    usage: bool = True

    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _index: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self,
        responses: Sequence[Reply] | Callable[[list[BaseMessage]], str] | None = None,
        **kwargs: Any,
    ) -> None:
        if callable(responses) and not isinstance(responses, BaseException):
            kwargs.setdefault("respond", responses)
        elif responses is not None:
            kwargs.setdefault("responses", list(responses))
        super().__init__(**kwargs)
        if self.respond is None and not self.responses:
            raise ValueError("ScriptedChatModel needs responses=[...] or respond=callable")

    @property
    def _llm_type(self) -> str:
        return "latm-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        """Every list of messages the model was called with, in call order (a copy)."""
        with self._lock:
            return [list(p) for p in self._prompts]

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        with self._lock:
            return len(self._prompts)

    def _next_reply(self, messages: list[BaseMessage]) -> str:
        with self._lock:
            self._prompts.append(list(messages))
            if self.respond is None:
                if self._index >= len(self.responses):
                    if not self.cycle:
                        raise ReplayExhaustedError(
                            f"ScriptedChatModel ran out of replies after {self._index} calls",
                            source="<script>",
                            served=self._index,
                        )
                    self._index = 0
                reply: Reply = self.responses[self._index]
                self._index += 1
            else:
                reply = ""
        if self.respond is not None:
            reply = self.respond(list(messages))
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _result(self, messages: list[BaseMessage], text: str) -> ChatResult:
        kwargs: dict[str, Any] = {"response_metadata": {"model_name": self.model_name}}
        if self.usage:
            input_tokens = sum(estimate_tokens(_message_text(m)) for m in messages)
            output_tokens = estimate_tokens(text)
            kwargs["usage_metadata"] = {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            }
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, **kwargs))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        return self._result(messages, self._next_reply(messages))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        return self._result(messages, self._next_reply(messages))

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools and ignore them: replies stay plain text (no tool calls are made).

        This lets the fake stand in where an agent binds tools, for tests that only need
        text replies.
        """
        return self
