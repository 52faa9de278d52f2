"""The public API is ``__all__``: pin it so it cannot change by accident."""

from __future__ import annotations

import subprocess
import sys

import langchain_latm

EXPECTED_ALL = [
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


def test_all_is_pinned() -> None:
    assert sorted(langchain_latm.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in langchain_latm.__all__:
        assert getattr(langchain_latm, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        langchain_latm.DoesNotExist  # noqa: B018
    except AttributeError as exc:
        assert "DoesNotExist" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_cheap() -> None:
    """Importing the package must not pull in LangChain, Chroma or onnxruntime."""
    code = (
        "import sys, langchain_latm; "
        "heavy = [m for m in ('langchain_core', 'chromadb', 'onnxruntime', 'langgraph') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
