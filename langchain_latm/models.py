"""Building chat models from names, flags and environment variables.

Real runs take any chat model: an ``init_chat_model`` name (``"openai:gpt-4o"``,
``"anthropic:claude-..."``) or any OpenAI-compatible server through ``base_url`` (vLLM,
Ollama, llama.cpp server). Keys come from the environment only, never from code.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

__all__ = ["load_chat_model", "message_text", "model_name"]


def load_chat_model(
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 60.0,
    max_retries: int = 2,
    max_tokens: int | None = None,
    temperature: float | None = None,
    **kwargs: Any,
) -> BaseChatModel:
    """Build a chat model from a name, optionally against an OpenAI-compatible server.

    Args:
        model: An ``init_chat_model`` name such as ``"openai:gpt-4o-mini"``, or the model
            name the OpenAI-compatible server at ``base_url`` serves.
        base_url: URL of an OpenAI-compatible server (``http://127.0.0.1:8000/v1``). When
            given, ``ChatOpenAI`` is used and ``max_tokens`` is also sent in the request
            body, because some servers (llama.cpp) ignore ``max_completion_tokens``.
        api_key_env: Environment variable holding the key for ``base_url`` servers. A
            placeholder key is used when it is unset (local servers need none).
        timeout: Per-request timeout in seconds.
        max_retries: Retries the provider client makes on transient errors (429/5xx,
            timeouts, connection errors), with exponential backoff honouring ``Retry-After``.
        max_tokens: Cap on generated tokens.
        temperature: Sampling temperature, if the model accepts one.
        **kwargs: Passed through to the model class.

    Returns:
        A LangChain chat model.
    """
    if temperature is not None:
        kwargs["temperature"] = temperature
    if base_url is not None:
        from langchain_openai import ChatOpenAI

        extra_body: dict[str, Any] = dict(kwargs.pop("extra_body", None) or {})
        if max_tokens is not None:
            extra_body.setdefault("max_tokens", max_tokens)
        name = model.split(":", 1)[1] if model.startswith("openai:") else model
        return ChatOpenAI(
            model=name,
            base_url=base_url,
            api_key=SecretStr(os.environ.get(api_key_env) or "not-needed"),
            timeout=timeout,
            max_retries=max_retries,
            max_completion_tokens=max_tokens,
            extra_body=extra_body or None,
            **kwargs,
        )
    from langchain.chat_models import init_chat_model

    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    llm: BaseChatModel = init_chat_model(model, timeout=timeout, max_retries=max_retries, **kwargs)
    return llm


def model_name(llm: Any) -> str | None:
    """Best-effort name of a chat model (``model_name``/``model``), for usage records."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(llm, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(llm).__name__ if llm is not None else None


def message_text(message: Any) -> str:
    """The text of a chat message: string content, or the text parts of a content list.

    Args:
        message: A LangChain message (anything with ``content``), or a plain string.
    """
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return str(content)
