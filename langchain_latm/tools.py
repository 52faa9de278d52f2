"""Cached LATM tools as LangChain objects: tools, a retriever and agent middleware.

* :func:`to_langchain_tool` turns a :class:`~langchain_latm.schemas.WrappedTool` into a
  ``StructuredTool``. Its argument schema is read from the function's *source* with
  :mod:`ast` (the tool's code is never imported or executed in the host): annotations map
  to JSON-schema types, unannotated parameters are typed from the literal arguments of the
  use-case snippets, else ``Any``. A call runs ``code`` + ``ans = entrypoint(**kwargs)`` in
  the :class:`~langchain_latm.sandbox.SandboxExecutor`; arguments travel as Python literals
  of JSON values only.
* :class:`ToolRetriever` is a LangChain retriever over the repository's tools.
* :class:`LATMToolMiddleware` gives a ``langchain.agents.create_agent`` agent only the cached
  tools that the :class:`~langchain_latm.dispatcher.Dispatcher` picks for the current
  question, on every model call, so tools added to the repository after the agent was built
  are used too (it executes them itself in ``wrap_tool_call``).

Executor lifecycle: pass ``executor=`` to share one sandbox between tools (you own it and
close it). Without one, each LangChain tool lazily starts its *own* executor on its first
call and closes it when the tool object is garbage-collected (or at interpreter exit); the
middleware creates one executor shared by the tools it builds and closes it in
:meth:`LATMToolMiddleware.close`.
"""

from __future__ import annotations

import ast
import asyncio
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Optional

from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, create_model

from langchain_latm.errors import ToolNotFoundError, ToolValidationError
from langchain_latm.schemas import WrappedTool

if TYPE_CHECKING:
    from langchain_latm.dispatcher import Dispatcher
    from langchain_latm.sandbox import SandboxExecutor

__all__ = [
    "LATMToolMiddleware",
    "ToolRetriever",
    "argument_schema",
    "build_call_snippet",
    "to_langchain_tool",
]

# --------------------------------------------------------------------------------------
# Argument schema from the source (ast only)
# --------------------------------------------------------------------------------------

_NAME_TYPES: dict[str, str] = {
    "int": "integer", "float": "number", "complex": "number", "str": "string",
    "bool": "boolean", "list": "array", "List": "array", "tuple": "array", "Tuple": "array",
    "set": "array", "Set": "array", "Sequence": "array", "Iterable": "array",
    "dict": "object", "Dict": "object", "Mapping": "object", "None": "null",
}
_PY_TYPES: dict[str, Any] = {
    "integer": int, "number": float, "string": str, "boolean": bool,
    "array": list[Any], "object": dict[str, Any], "null": type(None),
}


def _annotation_type(node: ast.expr | None) -> tuple[str | None, bool]:
    """JSON type of an annotation and whether it admits None (``None`` type: unknown)."""
    if node is None:
        return None, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "int" forward ref
        try:
            return _annotation_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None, False
    if isinstance(node, ast.Constant) and node.value is None:
        return "null", True
    if isinstance(node, ast.Name):
        return _NAME_TYPES.get(node.id), False
    if isinstance(node, ast.Attribute):  # typing.List, t.Sequence
        return _NAME_TYPES.get(node.attr), False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left, lnull = _annotation_type(node.left)
        right, rnull = _annotation_type(node.right)
        kinds = {k for k in (left, right) if k not in (None, "null")}
        nullable = lnull or rnull or "null" in (left, right)
        if len(kinds) == 1 and None not in (left, right):
            return kinds.pop(), nullable
        return None, nullable
    if isinstance(node, ast.Subscript):
        base = node.value
        base_name = base.id if isinstance(base, ast.Name) else (
            base.attr if isinstance(base, ast.Attribute) else "")
        if base_name == "Optional":
            inner, _ = _annotation_type(node.slice)
            return inner, True
        if base_name == "Union":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            parts = [_annotation_type(e) for e in elts]
            kinds = {k for k, _ in parts if k not in (None, "null")}
            nullable = any(k == "null" for k, _ in parts)
            if len(kinds) == 1 and all(k is not None for k, _ in parts):
                return kinds.pop(), nullable
            return None, nullable
        if base_name == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            values = [e.value for e in elts if isinstance(e, ast.Constant)]
            literal_kinds = {_value_type(v) for v in values}
            single = literal_kinds.pop() if len(literal_kinds) == 1 else None
            return single, False
        return _NAME_TYPES.get(base_name), False
    return None, False


def _value_type(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple | set):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _find_function(code: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise ToolValidationError(f"the tool's code defines no top-level function {name!r}")


def _use_case_arguments(
    tool: WrappedTool, params: list[str], keyword_only: list[str]
) -> dict[str, list[Any]]:
    """Literal arguments passed to the entrypoint in the use-case snippets, per parameter."""
    seen: dict[str, list[Any]] = {p: [] for p in [*params, *keyword_only]}
    for case in tool.use_cases:
        try:
            tree = ast.parse(case.snippet)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == tool.entrypoint):
                continue
            pairs: list[tuple[str, ast.expr]] = list(zip(params, node.args, strict=False))
            pairs += [(kw.arg, kw.value) for kw in node.keywords if kw.arg in seen]
            for pname, expr in pairs:
                try:
                    seen[pname].append(ast.literal_eval(expr))
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue  # not a literal (a variable): no evidence for the type
    return seen


def argument_schema(tool: WrappedTool) -> type[BaseModel]:
    """The pydantic model of the entrypoint's arguments, built from source (no import).

    Args:
        tool: The wrapped tool.

    Returns:
        A pydantic model named ``<name>Input`` with one field per parameter (``*args`` /
        ``**kwargs`` are not exposed). Field types: from annotations, else from the
        use cases' literal arguments, else ``Any``.

    Raises:
        ToolValidationError: The entrypoint is not a top-level function of the code.
    """
    func = _find_function(tool.code, tool.entrypoint)
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr] = dict(
        zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults,
            strict=True)
    )
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None:
            defaults[arg.arg] = default
    params = [*positional, *args.kwonlyargs]
    evidence = _use_case_arguments(
        tool, [a.arg for a in positional], [a.arg for a in args.kwonlyargs]
    )
    fields: dict[str, Any] = {}
    doc = ast.get_docstring(func) or ""
    for arg in params:
        kind, nullable = _annotation_type(arg.annotation)
        if kind is None:
            kinds = {_value_type(v) for v in evidence.get(arg.arg, [])}
            nullable = nullable or "null" in kinds
            kinds.discard("null")
            if kinds == {"integer", "number"}:
                kinds = {"number"}
            kind = kinds.pop() if len(kinds) == 1 and None not in kinds else None
        py_type: Any = _PY_TYPES.get(kind, Any) if kind is not None else Any
        if nullable and py_type is not Any:
            py_type = Optional[py_type]  # noqa: UP045 - runtime type object for pydantic
        description = _param_doc(doc, arg.arg)
        if arg.arg in defaults:
            try:
                default_value = ast.literal_eval(defaults[arg.arg])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                default_value = None
                py_type = py_type if py_type is Any else Optional[py_type]  # noqa: UP045
            field = Field(default=default_value, description=description)
        else:
            field = Field(..., description=description)
        safe = arg.arg if not _clashes(arg.arg) else f"{arg.arg}_"
        if safe != arg.arg:
            field = Field(
                default=field.default, alias=arg.arg, description=description
            )
        fields[safe] = (py_type, field)
    model: type[BaseModel] = create_model(
        f"{tool.name}Input",
        __config__=ConfigDict(populate_by_name=True, extra="forbid"),
        **fields,
    )
    return model


def _clashes(name: str) -> bool:
    return name.startswith("model_") or name.startswith("_") or hasattr(BaseModel, name)


def _param_doc(doc: str, name: str) -> str | None:
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{name}:") or stripped.startswith(f"{name} ("):
            return stripped.split(":", 1)[1].strip() or None
    return None


def _description(tool: WrappedTool) -> str:
    try:
        func = _find_function(tool.code, tool.entrypoint)
        doc = ast.get_docstring(func) or ""
    except (SyntaxError, ToolValidationError):
        doc = ""
    parts = [tool.description.strip()]
    if doc and doc.strip() not in parts[0]:
        parts.append(doc.strip())
    examples = [c for c in tool.use_cases if c.snippet.strip()][:2]
    if examples:
        lines = ["Examples:"]
        for case in examples:
            question = " ".join(case.question.split())
            lines.append(f"- question: {question[:300]}")
            lines.append(f"  call: {case.snippet.strip()[:300]}")
            if case.answer is not None:
                lines.append(f"  answer: {case.answer[:100]}")
        parts.append("\n".join(lines))
    return "\n\n".join(p for p in parts if p)


# --------------------------------------------------------------------------------------
# Calling the tool in the sandbox
# --------------------------------------------------------------------------------------


def _literal(value: Any, path: str = "argument") -> str:
    """A Python literal for a JSON value (anything else is refused)."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolException(f"{path}: non-finite number {value!r} is not allowed")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, dict):
        items = []
        for key, v in value.items():
            if not isinstance(key, str):
                raise ToolException(f"{path}: dictionary keys must be strings, got {key!r}")
            items.append(f"{key!r}: {_literal(v, f'{path}[{key!r}]')}")
        return "{" + ", ".join(items) + "}"
    raise ToolException(f"{path}: {type(value).__name__} values cannot be passed to a tool")


def build_call_snippet(entrypoint: str, kwargs: dict[str, Any]) -> str:
    """``ans = entrypoint(name=<literal>, ...)`` with JSON values as Python literals.

    Args:
        entrypoint: The function to call (a Python identifier).
        kwargs: Argument values (JSON values only).

    Raises:
        ToolException: A value is not JSON-like, or a name is not an identifier.
    """
    if not entrypoint.isidentifier():
        raise ToolException(f"invalid entrypoint {entrypoint!r}")
    parts = []
    for name, value in kwargs.items():
        if not name.isidentifier():
            raise ToolException(f"invalid argument name {name!r}")
        parts.append(f"{name}={_literal(value, name)}")
    return f"ans = {entrypoint}({', '.join(parts)})"


class _ExecutorHandle:
    """A given executor, or one created lazily and owned (closed on collection)."""

    def __init__(self, executor: SandboxExecutor | None) -> None:
        self._executor = executor
        self._owned = executor is None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def get(self) -> SandboxExecutor:
        with self._lock:
            if self._executor is None:
                from langchain_latm.sandbox import SandboxExecutor

                self._executor = SandboxExecutor()
                self._finalizer = weakref.finalize(self, self._executor.close)
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._owned and self._executor is not None:
                self._executor.close()
                self._executor = None
                if self._finalizer is not None:
                    self._finalizer.detach()
                    self._finalizer = None


def _result(tool: WrappedTool, res: Any) -> Any:
    if res.ok:
        return res.answer
    raise ToolException(
        f"tool {tool.name} failed in the sandbox: {res.error_type}: {res.error_message}"
    )


def to_langchain_tool(
    tool: WrappedTool,
    *,
    executor: SandboxExecutor | None = None,
    timeout: float | None = None,
) -> BaseTool:
    """Expose a cached tool as a LangChain ``StructuredTool`` that runs in the sandbox.

    Args:
        tool: The wrapped tool.
        executor: Sandbox to run calls in (shared, owned by the caller). If omitted, the
            LangChain tool lazily creates its own executor on the first call and closes it
            when the tool is garbage-collected.
        timeout: Wall-clock limit per call (default: the executor's).

    Returns:
        A ``StructuredTool`` named after the tool; errors come back as tool messages
        (``handle_tool_error=True``) with the sandbox's verdict.

    Raises:
        ToolValidationError: The entrypoint is not a top-level function of the code.
    """
    schema = argument_schema(tool)
    handle = _ExecutorHandle(executor)
    to_param = {name: (f.alias or name) for name, f in schema.model_fields.items()}

    def _kwargs(values: dict[str, Any]) -> dict[str, Any]:
        return {to_param.get(k, k): v for k, v in values.items()}

    def run(**kwargs: Any) -> Any:
        snippet = build_call_snippet(tool.entrypoint, _kwargs(kwargs))
        return _result(tool, handle.get().run(tool.code, snippet, timeout=timeout))

    async def arun(**kwargs: Any) -> Any:
        snippet = build_call_snippet(tool.entrypoint, _kwargs(kwargs))
        executor_ = handle.get()
        async_run: Callable[..., Awaitable[Any]] | None = getattr(executor_, "arun", None)
        if async_run is not None:
            res = await async_run(tool.code, snippet, timeout=timeout)
        else:
            res = await asyncio.to_thread(executor_.run, tool.code, snippet, timeout=timeout)
        return _result(tool, res)

    lc_tool = StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=tool.name,
        description=_description(tool),
        args_schema=schema,
        infer_schema=False,
        handle_tool_error=True,
        metadata={
            "latm_tool_id": tool.tool_id,
            "latm_name": tool.name,
            "latm_version": tool.version,
            "latm_task": tool.task,
            "latm_verified": tool.verified,
        },
    )
    # The handle lives as long as the tool; an owned executor closes with it.
    object.__setattr__(lc_tool, "_latm_executor_handle", handle)
    return lc_tool


# --------------------------------------------------------------------------------------
# Retriever
# --------------------------------------------------------------------------------------


def tool_document(tool: WrappedTool, score: float) -> Document:
    """The retriever's document for one tool: description + use-case questions."""
    questions = "\n".join(f"- {' '.join(c.question.split())}" for c in tool.use_cases)
    content = tool.description.strip()
    if questions:
        content += f"\n\nUse cases:\n{questions}"
    return Document(
        page_content=content,
        metadata={
            "name": tool.name, "version": tool.version, "task": tool.task,
            "tool_id": tool.tool_id, "score": float(score),
        },
    )


class ToolRetriever(BaseRetriever):
    """A LangChain retriever over the tools of a repository.

    Args:
        repository: The :class:`~langchain_latm.repository.ToolRepository`.
        k: How many tools to return.
        score_threshold: Drop hits whose cosine similarity is below this value.

    Example:
        >>> docs = repo.as_retriever(k=2).invoke("Sort these words: b a")
        >>> docs[0].metadata["name"]
        'sort_words'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    repository: Any
    k: int = 4
    score_threshold: float | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.repository.search(query, k=self.k)
        return [
            tool_document(tool, score)
            for tool, score in hits
            if self.score_threshold is None or score >= self.score_threshold
        ]


# --------------------------------------------------------------------------------------
# Agent middleware
# --------------------------------------------------------------------------------------


def _last_human_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if getattr(message, "type", None) == "human":
            content = message.content
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    b if isinstance(b, str) else str(b.get("text", ""))
                    for b in content if isinstance(b, str | dict)
                )
    return ""


class LATMToolMiddleware(AgentMiddleware[Any, Any, Any]):
    """Agent middleware: per model call, offer the cached tools the dispatcher picks.

    On each model call it routes the latest user message with the dispatcher and adds the
    chosen tool (plus other candidates that also pass the threshold, up to ``k``) to the
    request's tools; the agent's own tools stay. Tool calls to LATM tools are executed
    here (``wrap_tool_call``), so tools stored *after* the agent was built work without
    registering them with ``create_agent``.

    Args:
        repository: The :class:`~langchain_latm.repository.ToolRepository`.
        dispatcher: The dispatcher to route with (default: ``Dispatcher(repository)``).
        k: Most LATM tools offered per model call.
        executor: Sandbox shared by the tools (default: one owned by the middleware,
            started lazily, closed by :meth:`close`).

    Example:
        >>> from langchain.agents import create_agent
        >>> agent = create_agent(model, tools=[], middleware=[LATMToolMiddleware(repo)])
    """

    def __init__(
        self,
        repository: Any,
        *,
        dispatcher: Dispatcher | None = None,
        k: int = 3,
        executor: SandboxExecutor | None = None,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        if dispatcher is None:
            from langchain_latm.dispatcher import Dispatcher

            dispatcher = Dispatcher(repository)
        self.repository = repository
        self.dispatcher = dispatcher
        self.k = k
        self.tools: list[BaseTool] = []  # nothing registered up front: tools are dynamic
        self._handle = _ExecutorHandle(executor)
        self._lc_tools: OrderedDict[str, BaseTool] = OrderedDict()
        self._lock = threading.Lock()
        self.last_selection: list[str] = []

    # ---------------------------------------------------------------- helpers

    def _lc_tool(self, tool: WrappedTool) -> BaseTool:
        with self._lock:
            found = self._lc_tools.get(tool.tool_id)
            if found is not None:
                return found
        built = to_langchain_tool(tool, executor=self._handle.get())
        with self._lock:
            self._lc_tools[tool.tool_id] = built
            while len(self._lc_tools) > 256:
                self._lc_tools.popitem(last=False)
        return built

    def select(self, question: str) -> list[WrappedTool]:
        """The cached tools to offer for a question (empty when the route is unknown)."""
        if not question.strip():
            return []
        route = self.dispatcher.route(question)
        return self._from_route(route)

    async def aselect(self, question: str) -> list[WrappedTool]:
        """Async :meth:`select`."""
        if not question.strip():
            return []
        return self._from_route(await self.dispatcher.aroute(question))

    def _from_route(self, route: Any) -> list[WrappedTool]:
        if route.tool is None:
            return []
        chosen = [route.tool]
        for tool, score in route.candidates:
            if len(chosen) >= self.k:
                break
            if tool.name != route.tool.name and score >= self.dispatcher.threshold:
                chosen.append(tool)
        return chosen

    def _override(self, request: Any, chosen: list[WrappedTool]) -> Any:
        self.last_selection = [t.name for t in chosen]
        if not chosen:
            return request
        existing = {getattr(t, "name", None) for t in request.tools}
        extra = [self._lc_tool(t) for t in chosen if t.name not in existing]
        return request.override(tools=[*request.tools, *extra])

    def _resolve(self, name: str) -> BaseTool | None:
        with self._lock:
            for lc in reversed(self._lc_tools.values()):
                if lc.name == name:
                    return lc
        try:
            tool = self.repository.get(name)
        except ToolNotFoundError:
            return None
        return self._lc_tool(tool)

    # ---------------------------------------------------------------- hooks

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Add the dispatcher's tools for the latest user message, then call the model."""
        chosen = self.select(_last_human_text(request.messages))
        return handler(self._override(request, chosen))

    async def awrap_model_call(
        self, request: Any, handler: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """Async :meth:`wrap_model_call`."""
        chosen = await self.aselect(_last_human_text(request.messages))
        return await handler(self._override(request, chosen))

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Execute calls to LATM tools that ``create_agent`` does not know."""
        if request.tool is None:
            lc = self._resolve(request.tool_call["name"])
            if lc is not None:
                return handler(request.override(tool=lc))
        return handler(request)

    async def awrap_tool_call(
        self, request: Any, handler: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """Async :meth:`wrap_tool_call`."""
        if request.tool is None:
            lc = await asyncio.to_thread(self._resolve, request.tool_call["name"])
            if lc is not None:
                return await handler(request.override(tool=lc))
        return await handler(request)

    def close(self) -> None:
        """Close the executor the middleware created (a given executor is left open)."""
        self._handle.close()

