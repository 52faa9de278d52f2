"""Testing aids for langchain-latm and for users' own tests.

- :class:`ReplayChatModel` replays a recorded tool-making conversation.
- :class:`ScriptedChatModel` answers from a script of replies, with usage metadata.
- :class:`FaultInjectingServer` is an OpenAI-compatible HTTP server on loopback whose
  replies (normal, 429, 5xx, slow, truncated...) are scripted per request.

Names are imported lazily so that importing one aid does not pull in the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_latm.testing.fakes import ScriptedChatModel
    from langchain_latm.testing.fault_server import FaultInjectingServer
    from langchain_latm.testing.replay import ReplayChatModel

_LAZY: dict[str, str] = {
    "ReplayChatModel": "langchain_latm.testing.replay",
    "ScriptedChatModel": "langchain_latm.testing.fakes",
    "FaultInjectingServer": "langchain_latm.testing.fault_server",
}

__all__ = ["FaultInjectingServer", "ReplayChatModel", "ScriptedChatModel"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_latm.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
