"""langchain-latm: LLMs as Tool Makers (Cai et al. 2023) for LangChain and LangGraph.

A strong model *makes* a reusable, verified Python tool from a few solved examples of a
task; a cheap model *uses* the cached tool on every later instance; a dispatcher decides
per question whether a cached tool fits or a new one must be made.

Public names are imported lazily so that ``import langchain_latm`` stays cheap (the
sandbox worker imports nothing of LangChain).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_latm.dispatcher import Dispatcher
    from langchain_latm.embeddings import default_embeddings
    from langchain_latm.errors import (
        DispatchError,
        LATMError,
        RepositoryError,
        SandboxError,
        ToolMakingError,
    )
    from langchain_latm.latm import LATM, build_latm_graph
    from langchain_latm.maker import ToolMaker, build_maker_graph
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.schemas import (
        Answer,
        Demonstration,
        ExecutionResult,
        Route,
        TaskSpec,
        Usage,
        UseCase,
        VerificationReport,
        WrappedTool,
    )
    from langchain_latm.user import ToolUser

try:
    __version__ = version("langchain-latm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_LAZY: dict[str, str] = {
    "LATM": "langchain_latm.latm",
    "build_latm_graph": "langchain_latm.latm",
    "ToolMaker": "langchain_latm.maker",
    "build_maker_graph": "langchain_latm.maker",
    "ToolRepository": "langchain_latm.repository",
    "Dispatcher": "langchain_latm.dispatcher",
    "ToolUser": "langchain_latm.user",
    "SandboxExecutor": "langchain_latm.sandbox",
    "default_embeddings": "langchain_latm.embeddings",
    "Answer": "langchain_latm.schemas",
    "Demonstration": "langchain_latm.schemas",
    "ExecutionResult": "langchain_latm.schemas",
    "Route": "langchain_latm.schemas",
    "TaskSpec": "langchain_latm.schemas",
    "Usage": "langchain_latm.schemas",
    "UseCase": "langchain_latm.schemas",
    "VerificationReport": "langchain_latm.schemas",
    "WrappedTool": "langchain_latm.schemas",
    "LATMError": "langchain_latm.errors",
    "SandboxError": "langchain_latm.errors",
    "ToolMakingError": "langchain_latm.errors",
    "RepositoryError": "langchain_latm.errors",
    "DispatchError": "langchain_latm.errors",
}

__all__ = [
    "LATM",
    "Answer",
    "Demonstration",
    "DispatchError",
    "Dispatcher",
    "ExecutionResult",
    "LATMError",
    "RepositoryError",
    "Route",
    "SandboxError",
    "SandboxExecutor",
    "TaskSpec",
    "ToolMaker",
    "ToolMakingError",
    "ToolRepository",
    "ToolUser",
    "Usage",
    "UseCase",
    "VerificationReport",
    "WrappedTool",
    "__version__",
    "build_latm_graph",
    "build_maker_graph",
    "default_embeddings",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_latm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
