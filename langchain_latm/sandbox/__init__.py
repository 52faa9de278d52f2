"""Safe execution of model-written Python: :class:`SandboxExecutor`.

Every call runs in a fresh child forked from a warm, isolated worker interpreter (process
group, private temporary directory, resource limits, dropped uid, no-new-privileges, Landlock,
seccomp, its own network namespace). See :class:`SandboxExecutor` for the semantics and
:meth:`SandboxExecutor.isolation_report` for what is active on this machine.
"""

from __future__ import annotations

from langchain_latm.sandbox.executor import (
    OPTIONAL_LAYERS,
    REQUIRED_LAYERS,
    IsolationLayer,
    IsolationReport,
    SandboxExecutor,
)

__all__ = [
    "OPTIONAL_LAYERS",
    "REQUIRED_LAYERS",
    "IsolationLayer",
    "IsolationReport",
    "SandboxExecutor",
]
